//! The networks as pure functions of the flat parameter vector θ.
//!
//! Why functional, not `burn::nn` modules: θ is the object curvscope studies, so each forward
//! pass takes its weights as θ's parameter tensors, flat and in `state_dict` order ([`Theta`]).
//! θ ↔ model conversion is then free, and the exact Hessian-vector product is
//! reverse-over-reverse on those leaves. It also keeps every op
//! on burn 0.21's twice-differentiable path: `nn::Linear` and `max_pool2d` panic under nested
//! autodiff, so linear layers are `matmul + bias` and 2×2 max-pooling is a gather.

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::arch::{Activation, ArchSpec};

mod sequential;

/// Clipping of the fixed-output net's prediction to [δ, 1 − δ] (Prop. 2 of Zhu et al.).
pub const FIXED_OUTPUT_DELTA: f64 = 1e-3;

/// A batch on the backend: inputs as the first layer reads them ([`prepare_input`]: images
/// flattened `[N, F]`, or a CNN's first im2col matrix `[N·positions, k²·C]`) and targets —
/// one-hot `[N, C]` for classifiers, values `[N, 1]` for the fixed-output net, unused `[N, 0]`
/// for the toy.
#[derive(Clone, Debug)]
pub struct Batch<B: Backend> {
    pub x: Tensor<B, 2>,
    pub target: Tensor<B, 2>,
}

impl<B: Backend> Batch<B> {
    /// Number of samples (the inputs may have several rows per sample).
    pub fn n_samples(&self) -> usize {
        self.target.dims()[0]
    }
}

/// θ as the networks read it: one flat tensor per parameter tensor, in `state_dict` order
/// ([`ArchSpec::params`]). Separate tensors (each its own autodiff leaf), not slices of one:
/// the backward of a slice allocates, zeroes and adds a gradient as long as all of θ, once per
/// parameter tensor — 18 × 9.2M values per VGG-11 gradient (docs/PERFORMANCE.md).
pub type Theta<B> = Vec<Tensor<B, 1>>;

/// Walks θ in `state_dict` order, handing out each parameter reshaped.
struct Params<B: Backend> {
    parts: std::vec::IntoIter<Tensor<B, 1>>,
}

impl<B: Backend> Params<B> {
    fn new(theta: Theta<B>) -> Self {
        Params {
            parts: theta.into_iter(),
        }
    }

    fn next<const D: usize>(&mut self, shape: [usize; D]) -> Tensor<B, D> {
        let part = self.parts.next().expect("θ holds every parameter tensor");
        debug_assert_eq!(part.dims()[0], shape.iter().product::<usize>());
        part.reshape(shape)
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

    /// Valid k×k convolution with bias, ReLU and 2×2 max-pooling (stride 2, floor mode) as one
    /// GEMM of the layer's im2col `patches` (`[n·positions, k²·C]`, from [`prepare_input`] or
    /// [`im2col`]) and one gather: the forward is a GEMM and a gather, the backward GEMMs and a
    /// scatter-add, fast kernels that are themselves differentiable, where burn's `conv2d`
    /// backward transposes whole batches (docs/PERFORMANCE.md). Only the outputs the pooling
    /// keeps are computed, window member first ([`ConvPool::patch_pixels`]), so pooling is an
    /// element-wise maximum of four quarters. Output: channels-last maps.
    fn conv_relu_pool(
        &mut self,
        patches: Tensor<B, 2>,
        layer: ConvPool,
        outputs: usize,
    ) -> FeatureMaps<B> {
        let k = layer.kernel;
        let w = self.next([outputs, layer.channels, k, k]);
        let b = self.next([outputs]);
        let n = patches.dims()[0] / layer.positions();
        // PyTorch's [out, in, kh, kw] as the [(kh, kw, in), out] matrix the patches multiply.
        let w = w.permute([2, 3, 1, 0]).reshape([layer.cols(), outputs]);
        let y = (patches.matmul(w) + b.unsqueeze_dim(0)).reshape([n, layer.positions() * outputs]);
        FeatureMaps {
            // relu ∘ pool = pool ∘ relu (max commutes with a monotone map), on 4× fewer values.
            values: relu(max_of_quarters(y)),
            side: layer.pooled(),
            channels: outputs,
        }
    }
}

/// A batch of square channels-last (NHWC) feature maps, one sample per row of `values`
/// (`[n, side²·channels]`).
struct FeatureMaps<B: Backend> {
    values: Tensor<B, 2>,
    side: usize,
    channels: usize,
}

/// A convolution + pooling layer's geometry: its input's side and channels, the kernel size.
#[derive(Clone, Copy)]
struct ConvPool {
    side: usize,
    channels: usize,
    kernel: usize,
}

impl ConvPool {
    /// Side of the pooled output (floor mode drops an odd last row and column).
    fn pooled(&self) -> usize {
        (self.side + 1 - self.kernel) / 2
    }

    /// Convolution outputs the pooling keeps: four per window.
    fn positions(&self) -> usize {
        4 * self.pooled() * self.pooled()
    }

    /// Length of one receptive field, k²·C.
    fn cols(&self) -> usize {
        self.kernel * self.kernel * self.channels
    }

    /// The input pixel (row, col) at each (output, kh, kw) of one sample's im2col matrix, in
    /// its row-major order. Outputs come window member first: the windows' top-left members
    /// (windows row-major), then their top-right, bottom-left and bottom-right members — four
    /// equal quarters.
    fn patch_pixels(self) -> impl Iterator<Item = (usize, usize)> {
        grid(2).flat_map(move |(di, dj)| {
            grid(self.pooled()).flat_map(move |(i, j)| {
                grid(self.kernel).map(move |(ki, kj)| (2 * i + di + ki, 2 * j + dj + kj))
            })
        })
    }
}

/// The cells of an n×n grid, row-major.
fn grid(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).flat_map(move |i| (0..n).map(move |j| (i, j)))
}

/// The im2col matrix `[n·positions, k²·C]` of channels-last maps: one `select` of whole pixels
/// (C contiguous values each) along the rows of the `[n·side², C]` pixel matrix, whose backward
/// is a row-wise scatter-add.
fn im2col<B: Backend>(maps: FeatureMaps<B>, layer: ConvPool) -> Tensor<B, 2> {
    let n = maps.values.dims()[0];
    let pixels = maps.side * maps.side;
    let one: Vec<Option<usize>> = layer
        .patch_pixels()
        .map(|(row, col)| Some(row * maps.side + col))
        .collect();
    let index = int_tensor(pixel_index(n, pixels, &one), &maps.values.device());
    maps.values
        .reshape([n * pixels, maps.channels])
        .select(0, index)
        .reshape([n * layer.positions(), layer.cols()])
}

/// The rows of `n` samples' im2col matrices in a pixel matrix of `n·pixels` rows (sample-major),
/// from one sample's `fields` (each a pixel of the sample, or `None` for padding, which reads
/// the zero row that follows all samples' pixels).
fn pixel_index(n: usize, pixels: usize, fields: &[Option<usize>]) -> Vec<i64> {
    let padding = (n * pixels) as i64;
    let mut index = Vec::with_capacity(n * fields.len());
    for sample in 0..n {
        let first = sample * pixels;
        index.extend(
            fields
                .iter()
                .map(|p| p.map_or(padding, |p| (first + p) as i64)),
        );
    }
    index
}

/// The first convolution + pooling layer of a CNN (LeNet included).
fn first_conv(arch: &ArchSpec) -> Option<ConvPool> {
    match arch.as_cnn() {
        ArchSpec::Cnn {
            side,
            channels,
            kernel,
            ..
        } => Some(ConvPool {
            side,
            channels: channels[0],
            kernel,
        }),
        _ => None,
    }
}

/// The inputs `x` (`[N, F]`, images flattened channels-first as in PyTorch) as the network's
/// first layer reads them: for CNNs, the first layer's im2col matrix `[N·positions, k²·C]`;
/// otherwise `x` itself. The data are fixed, so [`crate::BurnObjective`] gathers this once
/// rather than in every pass.
pub fn prepare_input<B: Backend>(arch: &ArchSpec, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let Some(layer) = first_conv(arch) else {
        return x;
    };
    let (side, channels) = (layer.side, layer.channels);
    let index: Vec<i64> = layer
        .patch_pixels()
        .flat_map(|(row, col)| (0..channels).map(move |c| ((c * side + row) * side + col) as i64))
        .collect();
    let n = x.dims()[0];
    let index = int_tensor(index, &x.device());
    x.select(1, index)
        .reshape([n * layer.positions(), layer.cols()])
}

/// Rows and columns of [`prepare_input`]'s output per sample: one row of k²·C per first-layer
/// convolution output for CNNs, else one row of all features. A block of samples is then a range
/// of rows, a view of the prepared inputs that is never reshaped (burn-flex copies on reshaping a
/// view that does not start at its buffer's start).
pub fn prepared_input_shape(arch: &ArchSpec) -> [usize; 2] {
    first_conv(arch).map_or([1, arch.input_len()], |layer| {
        [layer.positions(), layer.cols()]
    })
}

fn int_tensor<B: Backend>(values: Vec<i64>, device: &B::Device) -> Tensor<B, 1, Int> {
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// Element-wise maximum of the four quarters of each row, as a gather at the maxima. The
/// maxima are located on the host from the values, so only the gather is on the tape: its
/// backward is a scatter and the scatter's a gather, exact to any order.
fn max_of_quarters<B: Backend>(y: Tensor<B, 2>) -> Tensor<B, 2> {
    let [n, len] = y.dims();
    let data = y.clone().detach().into_data();
    let at = match data.as_slice::<f32>() {
        Ok(values) => quarter_maxima(values, len / 4),
        Err(_) => quarter_maxima(data.as_slice::<f64>().expect("f32 or f64 maps"), len / 4),
    };
    let at = int_tensor(at, &y.device()).reshape([n, len / 4]);
    y.gather(1, at)
}

/// Per row of `values` (four quarters of `quarter` values each), the offset of the maximum of
/// each quarter-wise quadruple: the first of equal maxima, which in [`ConvPool::patch_pixels`]'
/// order is PyTorch's first maximum in row-major window order. Over contiguous slices, so it
/// vectorises.
fn quarter_maxima<T: PartialOrd + Copy>(values: &[T], quarter: usize) -> Vec<i64> {
    let mut at = vec![0; values.len() / 4];
    for (row, at) in values
        .chunks_exact(4 * quarter)
        .zip(at.chunks_exact_mut(quarter))
    {
        let (top, bottom) = row.split_at(2 * quarter);
        let ((q0, q1), (q2, q3)) = (top.split_at(quarter), bottom.split_at(quarter));
        let quads = q0.iter().zip(q1).zip(q2).zip(q3);
        for (k, (at, (((&v0, &v1), &v2), &v3))) in at.iter_mut().zip(quads).enumerate() {
            let (mut best, mut q) = (v0, 0);
            if v1 > best {
                (best, q) = (v1, 1);
            }
            if v2 > best {
                (best, q) = (v2, 2);
            }
            if v3 > best {
                q = 3;
            }
            *at = (k + q * quarter) as i64;
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

/// Class scores `[N, C]` of a classifier (lenet, mlp) on prepared inputs ([`prepare_input`]).
pub fn logits<B: Backend>(arch: &ArchSpec, theta: Theta<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let mut p = Params::new(theta);
    match arch {
        ArchSpec::Lenet | ArchSpec::Cnn { .. } => {
            let ArchSpec::Cnn {
                channels,
                kernel,
                hidden,
                classes,
                ..
            } = arch.as_cnn()
            else {
                unreachable!()
            };
            let first = first_conv(arch).expect("a CNN");
            let mut maps = p.conv_relu_pool(x, first, channels[1]);
            for &c in &channels[2..] {
                let layer = ConvPool {
                    side: maps.side,
                    channels: maps.channels,
                    kernel,
                };
                maps = p.conv_relu_pool(im2col(maps, layer), layer, c);
            }
            p.cnn_head(maps, &hidden, classes)
        }
        ArchSpec::Mlp {
            input,
            hidden,
            classes,
            activation,
        } => p.mlp(x, *input, hidden, *classes, *activation),
        ArchSpec::Sequential(net) => sequential::logits(net, p, x),
        ArchSpec::FixedOutput { .. } | ArchSpec::Toy2d => {
            panic!("{arch:?} is not a classifier")
        }
    }
}

/// The network's outputs f(x; θ) on prepared inputs ([`prepare_input`]), the quantity each
/// per-sample loss is a function of: class scores `[N, C]` for the classifiers (as [`logits`]),
/// the fixed-output net's unclipped prediction `[N, 1]`.
///
/// # Panics
/// For toy2d, whose loss is a function of θ directly.
pub fn outputs<B: Backend>(arch: &ArchSpec, theta: Theta<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    match arch {
        ArchSpec::FixedOutput { input, hidden } => {
            // Output layer fixed at +1 for the first half of the units, −1 for the rest.
            let mut p = Params::new(theta);
            let h = relu(p.linear(x.clone(), *input, *hidden));
            let signs: Vec<f64> = (0..*hidden)
                .map(|j| if j < hidden / 2 { 1.0 } else { -1.0 })
                .collect();
            let a = Tensor::<B, 2>::from_data(
                TensorData::new(signs, [*hidden, 1]),
                (&x.device(), x.dtype()),
            );
            h.matmul(a)
        }
        _ => logits(arch, theta, x),
    }
}

/// The fixed-output net's prediction clipped to [δ, 1 − δ], δ = [`FIXED_OUTPUT_DELTA`]. Values
/// inside, bounds included, pass unchanged, and so does their gradient (burn's clamp masks only
/// values strictly outside).
pub fn clip_prediction<B: Backend>(f: Tensor<B, 2>) -> Tensor<B, 2> {
    f.clamp(FIXED_OUTPUT_DELTA, 1.0 - FIXED_OUTPUT_DELTA)
}

/// Per-sample losses ℓ_i(θ), shape `[N]`.
pub fn per_sample_losses<B: Backend>(
    arch: &ArchSpec,
    theta: Theta<B>,
    batch: &Batch<B>,
) -> Tensor<B, 1> {
    let n = batch.n_samples();
    match arch {
        ArchSpec::Lenet | ArchSpec::Cnn { .. } | ArchSpec::Mlp { .. } | ArchSpec::Sequential(_) => {
            // Softmax cross-entropy, natural log.
            let logp = log_softmax(logits(arch, theta, batch.x.clone()), 1);
            (logp * batch.target.clone()).sum_dim(1).reshape([n]).neg()
        }
        ArchSpec::FixedOutput { .. } => {
            let out = clip_prediction(outputs(arch, theta, batch.x.clone()));
            (out - batch.target.clone()).powi_scalar(2).reshape([n])
        }
        ArchSpec::Toy2d => toy2d_losses(Params::new(theta).next([2]), batch.x.clone()),
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
    use super::quarter_maxima;

    #[test]
    fn quarter_maxima_take_the_first_maximum() {
        // Two rows of four quarters of two values: ties go to the earlier quarter.
        #[rustfmt::skip]
        let values = [
            1.0, 0.0,   1.0, 5.0,   1.0, 5.0,   0.0, 2.0,
            -3.0, 7.0,  -2.0, 7.0,  -1.0, 6.0,  -1.0, 8.0,
        ];
        assert_eq!(quarter_maxima(&values, 2), vec![0, 3, 4, 7]);
    }
}
