//! The networks as pure functions of one flat parameter tensor θ.
//!
//! Why functional, not `burn::nn` modules: θ is the object curvscope studies, so each forward
//! pass slices its weights out of a single leaf tensor. θ ↔ model conversion is then free, and
//! the exact Hessian-vector product is reverse-over-reverse on one leaf. It also keeps every op
//! on burn 0.21's twice-differentiable path: `nn::Linear` and `max_pool2d` panic under nested
//! autodiff, so linear layers are `matmul + bias` and 2×2 max-pooling is a gather.

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv2d, max_pool2d_with_indices};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

use crate::arch::{Activation, ArchSpec};

/// Clipping of the fixed-output net's prediction to [δ, 1 − δ] (Prop. 2 of Zhu et al.).
pub const FIXED_OUTPUT_DELTA: f64 = 1e-3;

/// A batch on the backend: inputs `[N, F]` (images flattened) and targets — one-hot `[N, C]`
/// for classifiers, values `[N, 1]` for the fixed-output net, unused `[N, 0]` for the toy.
#[derive(Clone, Debug)]
pub struct Batch<B: Backend> {
    pub x: Tensor<B, 2>,
    pub target: Tensor<B, 2>,
}

/// Walks θ in `state_dict` order, handing out each parameter reshaped.
struct Params<B: Backend> {
    theta: Tensor<B, 1>,
    offset: usize,
}

impl<B: Backend> Params<B> {
    fn next<const D: usize>(&mut self, shape: [usize; D]) -> Tensor<B, D> {
        let len: usize = shape.iter().product();
        let t = self
            .theta
            .clone()
            .slice(self.offset..self.offset + len)
            .reshape(shape);
        self.offset += len;
        t
    }

    /// `x · Wᵀ + b` with W in PyTorch layout `[out, in]`.
    fn linear(&mut self, x: Tensor<B, 2>, inputs: usize, outputs: usize) -> Tensor<B, 2> {
        let w = self.next([outputs, inputs]);
        let b = self.next([outputs]);
        x.matmul(w.transpose()) + b.unsqueeze_dim(0)
    }

    /// Hidden layers with `activation`, then a linear output layer.
    fn mlp(
        &mut self,
        x: Tensor<B, 2>,
        input: usize,
        hidden: &[usize],
        outputs: usize,
        activation: Activation,
    ) -> Tensor<B, 2> {
        let (x, width) = hidden.iter().fold((x, input), |(x, width), &h| {
            (activate(self.linear(x, width, h), activation), h)
        });
        self.linear(x, width, outputs)
    }

    /// Valid k×k convolution with bias, weights `[out, in, k, k]`.
    fn conv(
        &mut self,
        x: Tensor<B, 4>,
        inputs: usize,
        outputs: usize,
        kernel: usize,
    ) -> Tensor<B, 4> {
        let w = self.next([outputs, inputs, kernel, kernel]);
        let b = self.next([outputs]);
        conv2d(x, w, Some(b), ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
    }
}

/// 2×2 max-pooling with stride 2 as a gather at the window maxima. burn's fused
/// `max_pool2d_with_indices` only locates them, on a detached copy, so its backward (not twice
/// differentiable) never runs; the gather's backward is a scatter, and the scatter's a gather.
/// About twice as fast as reshape + two `max_dim`s (docs/PERFORMANCE.md).
fn max_pool_2x2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let (_, at) =
        max_pool2d_with_indices(x.clone().detach(), [2, 2], [2, 2], [0, 0], [1, 1], false);
    let (ho, wo) = (h / 2, w / 2);
    x.reshape([n, c, h * w])
        .gather(2, at.reshape([n, c, ho * wo]))
        .reshape([n, c, ho, wo])
}

fn activate<B: Backend>(x: Tensor<B, 2>, activation: Activation) -> Tensor<B, 2> {
    match activation {
        Activation::Relu => relu(x),
        Activation::Tanh => x.tanh(),
    }
}

/// Class scores `[N, C]` of a classifier (lenet, mlp).
pub fn logits<B: Backend>(arch: &ArchSpec, theta: Tensor<B, 1>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let mut p = Params { theta, offset: 0 };
    let n = x.dims()[0];
    match arch {
        ArchSpec::Lenet | ArchSpec::Cnn { .. } => {
            let ArchSpec::Cnn {
                side,
                channels,
                kernel,
                hidden,
                classes,
            } = arch.as_cnn()
            else {
                unreachable!()
            };
            let mut x = x.reshape([n, channels[0], side, side]);
            for c in channels.windows(2) {
                // relu ∘ pool = pool ∘ relu (max commutes with a monotone map), on 4× fewer values.
                x = relu(max_pool_2x2(p.conv(x, c[0], c[1], kernel)));
            }
            let flat = arch.flat_features();
            p.mlp(
                x.reshape([n, flat]),
                flat,
                &hidden,
                classes,
                Activation::Relu,
            )
        }
        ArchSpec::Mlp {
            input,
            hidden,
            classes,
            activation,
        } => p.mlp(x, *input, hidden, *classes, *activation),
        ArchSpec::FixedOutput { .. } | ArchSpec::Toy2d => {
            panic!("{arch:?} is not a classifier")
        }
    }
}

/// Per-sample losses ℓ_i(θ), shape `[N]`.
pub fn per_sample_losses<B: Backend>(
    arch: &ArchSpec,
    theta: Tensor<B, 1>,
    batch: &Batch<B>,
) -> Tensor<B, 1> {
    let n = batch.x.dims()[0];
    match arch {
        ArchSpec::Lenet | ArchSpec::Cnn { .. } | ArchSpec::Mlp { .. } => {
            // Softmax cross-entropy, natural log.
            let logp = log_softmax(logits(arch, theta, batch.x.clone()), 1);
            (logp * batch.target.clone()).sum_dim(1).reshape([n]).neg()
        }
        ArchSpec::FixedOutput { input, hidden } => {
            // Output layer fixed at +1 for the first half of the units, −1 for the rest.
            let mut p = Params { theta, offset: 0 };
            let h = relu(p.linear(batch.x.clone(), *input, *hidden));
            let signs: Vec<f64> = (0..*hidden)
                .map(|j| if j < hidden / 2 { 1.0 } else { -1.0 })
                .collect();
            let a = Tensor::<B, 2>::from_data(
                TensorData::new(signs, [*hidden, 1]),
                (&batch.x.device(), batch.x.dtype()),
            );
            let out = h
                .matmul(a)
                .clamp(FIXED_OUTPUT_DELTA, 1.0 - FIXED_OUTPUT_DELTA);
            (out - batch.target.clone()).powi_scalar(2).reshape([n])
        }
        ArchSpec::Toy2d => toy2d_losses(theta, batch.x.clone()),
    }
}

/// The 2-D loss of Zhu et al. (Sec. 5.1), per sample:
/// min{ 10(c·a − s·b)² + 100(c·a + s·b)², (w₁−x₁+1)² + (w₂−x₂+1)² },
/// c = s = cos(π/4), a = w₁−x₁−1, b = w₂−x₂−1: a sharp minimum near (1,1), a flat one near (−1,−1).
fn toy2d_losses<B: Backend>(w: Tensor<B, 1>, x: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = x.dims()[0];
    let d = w.reshape([1, 2]) - x; // w − x, [N, 2]
    let cs = std::f64::consts::FRAC_1_SQRT_2;
    let a = d.clone().slice([0..n, 0..1]) - 1.0;
    let b = d.clone().slice([0..n, 1..2]) - 1.0;
    let sharp = (a.clone() - b.clone())
        .mul_scalar(cs)
        .powi_scalar(2)
        .mul_scalar(10.0)
        + (a + b).mul_scalar(cs).powi_scalar(2).mul_scalar(100.0);
    let flat = (d + 1.0).powi_scalar(2).sum_dim(1);
    // min(sharp, flat) with a constant mask, so both branches stay exactly differentiable.
    let take_sharp = sharp.clone().lower_equal(flat.clone());
    flat.mask_where(take_sharp, sharp).reshape([n])
}
