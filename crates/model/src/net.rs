//! The networks as pure functions of one flat parameter tensor θ.
//!
//! Why functional, not `burn::nn` modules: θ is the object curvscope studies, so each forward
//! pass slices its weights out of a single leaf tensor. θ ↔ model conversion is then free, and
//! the exact Hessian-vector product is reverse-over-reverse on one leaf. It also keeps every op
//! on burn 0.21's twice-differentiable path: `nn::Linear` and `max_pool2d` panic under nested
//! autodiff, so linear layers are `matmul + bias` and 2×2 max-pooling is a gather.

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

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
        affine(x, w, b)
    }

    /// The fully connected head on the flattened maps. PyTorch flattens channels-first, so the
    /// first layer's weight columns are permuted into the channels-last order of `maps`.
    fn cnn_head(&mut self, maps: FeatureMaps<B>, hidden: &[usize], classes: usize) -> Tensor<B, 2> {
        let (side, channels) = (maps.side, maps.channels);
        let width = hidden.first().copied().unwrap_or(classes);
        let w = self
            .next([width, channels, side, side])
            .permute([0, 2, 3, 1])
            .reshape([width, side * side * channels]);
        let b = self.next([width]);
        let x = affine(maps.values, w, b);
        match hidden {
            [] => x,
            [first, rest @ ..] => self.mlp(relu(x), *first, rest, classes, Activation::Relu),
        }
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

    /// Valid k×k convolution with bias as im2col + one matmul: every output position's
    /// receptive field is `select`ed from the input row by a fixed index (the same for every
    /// sample), so the forward is a gather and a GEMM and the backward a GEMM and a
    /// scatter-add — fast kernels that are themselves differentiable, where burn's `conv2d`
    /// backward transposes whole batches (docs/PERFORMANCE.md). Output: channels-last maps.
    fn conv(&mut self, x: FeatureMaps<B>, outputs: usize, kernel: usize) -> FeatureMaps<B> {
        let inputs = x.channels;
        let w = self.next([outputs, inputs, kernel, kernel]);
        let b = self.next([outputs]);
        let n = x.values.dims()[0];
        let side = x.side + 1 - kernel;
        let cols = kernel * kernel * inputs;
        let index = patch_indices(&x, kernel);
        let index = Tensor::<B, 1, Int>::from_data(
            TensorData::new(index, [side * side * cols]),
            &x.values.device(),
        );
        let patches = x.values.select(1, index).reshape([n * side * side, cols]);
        // PyTorch's [out, in, kh, kw] as the [(kh, kw, in), out] matrix the patches multiply.
        let w = w.permute([2, 3, 1, 0]).reshape([cols, outputs]);
        let y = patches.matmul(w) + b.unsqueeze_dim(0);
        FeatureMaps {
            values: y.reshape([n, side * side * outputs]),
            side,
            channels: outputs,
            channels_last: true,
        }
    }
}

/// A batch of square feature maps, one sample per row of `values` (`[n, side²·channels]`),
/// channels-last (NHWC) inside the net and channels-first (NCHW, PyTorch's) for the input.
struct FeatureMaps<B: Backend> {
    values: Tensor<B, 2>,
    side: usize,
    channels: usize,
    channels_last: bool,
}

impl<B: Backend> FeatureMaps<B> {
    /// Offset of (row, col, channel) within a sample's row.
    fn offset(&self, row: usize, col: usize, channel: usize) -> usize {
        if self.channels_last {
            (row * self.side + col) * self.channels + channel
        } else {
            (channel * self.side + row) * self.side + col
        }
    }
}

/// For each output position (row-major) and each (kh, kw, in) of the kernel, the input offset
/// it reads: the im2col matrix of one sample, as a `select` index.
fn patch_indices<B: Backend>(x: &FeatureMaps<B>, kernel: usize) -> Vec<i64> {
    let side = x.side + 1 - kernel;
    let mut index = Vec::with_capacity(side * side * kernel * kernel * x.channels);
    for (i, j) in (0..side).flat_map(|i| (0..side).map(move |j| (i, j))) {
        for (ki, kj) in (0..kernel).flat_map(|ki| (0..kernel).map(move |kj| (ki, kj))) {
            index.extend((0..x.channels).map(|c| x.offset(i + ki, j + kj, c) as i64));
        }
    }
    index
}

/// 2×2 max-pooling with stride 2 (floor mode) of channels-last maps, as a gather at the
/// window maxima. The maxima are located on the host from the values (first maximum in
/// row-major window order on ties, as PyTorch), so only the gather is on the tape: its backward
/// is a scatter and the scatter's a gather, exact to any order.
fn max_pool_2x2<B: Backend>(x: FeatureMaps<B>) -> FeatureMaps<B> {
    assert!(x.channels_last, "pooling follows a convolution");
    let n = x.values.dims()[0];
    let (side, channels) = (x.side, x.channels);
    let data = x.values.clone().detach().into_data();
    let at = match data.as_slice::<f32>() {
        Ok(values) => window_maxima(values, side, channels),
        Err(_) => window_maxima(
            data.as_slice::<f64>().expect("f32 or f64 maps"),
            side,
            channels,
        ),
    };
    let out_side = side / 2;
    let at = Tensor::<B, 2, Int>::from_data(
        TensorData::new(at, [n, out_side * out_side * channels]),
        &x.values.device(),
    );
    FeatureMaps {
        values: x.values.gather(1, at),
        side: out_side,
        channels,
        channels_last: true,
    }
}

/// Per sample, the offset of each 2×2 window's maximum within the sample's row of `values`
/// (channels-last maps `side` wide), output positions row-major, channels innermost.
fn window_maxima<T: PartialOrd + Copy>(values: &[T], side: usize, channels: usize) -> Vec<i64> {
    let out_side = side / 2;
    let row = side * channels;
    let mut at = Vec::with_capacity(values.len() / 4);
    for sample in values.chunks_exact(side * row) {
        for i in 0..out_side {
            for j in 0..out_side {
                let top_left = 2 * i * row + 2 * j * channels;
                for c in top_left..top_left + channels {
                    let mut best = c;
                    for k in [c + channels, c + row, c + row + channels] {
                        if sample[k] > sample[best] {
                            best = k;
                        }
                    }
                    at.push(best as i64);
                }
            }
        }
    }
    at
}

/// `x · Wᵀ + b` with W in PyTorch layout `[out, in]`.
fn affine<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>, b: Tensor<B, 1>) -> Tensor<B, 2> {
    x.matmul(w.transpose()) + b.unsqueeze_dim(0)
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
            let mut maps = FeatureMaps {
                values: x,
                side,
                channels: channels[0],
                channels_last: false,
            };
            for &c in &channels[1..] {
                // relu ∘ pool = pool ∘ relu (max commutes with a monotone map), on 4× fewer values.
                maps = max_pool_2x2(p.conv(maps, c, kernel));
                maps.values = relu(maps.values);
            }
            p.cnn_head(maps, &hidden, classes)
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

#[cfg(test)]
mod tests {
    use super::window_maxima;

    #[test]
    fn window_maxima_take_the_first_maximum_and_drop_the_odd_edge() {
        // One 3×3 map, two channels (channels-last): channel 0 ties everywhere, channel 1
        // peaks at (1, 0). The third row and column fall outside the only 2×2 window.
        #[rustfmt::skip]
        let values = [
            1.0, 0.0,   1.0, 0.0,   9.0, 9.0,
            1.0, 5.0,   1.0, 2.0,   9.0, 9.0,
            9.0, 9.0,   9.0, 9.0,   9.0, 9.0,
        ];
        assert_eq!(window_maxima(&values, 3, 2), vec![0, 7]);
    }
}
