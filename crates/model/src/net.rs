//! The networks as pure functions of the flat parameter vector θ.
//!
//! Why functional, not `burn::nn` modules: θ is the object curvscope studies, so each forward
//! pass takes its weights as θ's parameter tensors, flat and in `state_dict` order ([`Theta`];
//! convolution weights permuted into the order their GEMM reads). θ ↔ model conversion is then
//! a split (and that permutation), and the exact Hessian-vector product is
//! reverse-over-reverse on those leaves. It also keeps every op
//! on burn 0.21's twice-differentiable path: `nn::Linear` and `max_pool2d` panic under nested
//! autodiff, so linear layers are `matmul + bias` and max-pooling is a gather.

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::arch::{Activation, ArchSpec};
use crate::transfer::{float_to_device, int_to_device};

mod cubecl_quirks;
mod im2col_rows;
mod sequential;

pub(crate) use cubecl_quirks::runs_cubecl;
use cubecl_quirks::{broadcast_rows, grouped_rows_affine, linear_rows, rows_affine};
pub use cubecl_quirks::{gpu_rows_per_group, set_gpu_rows_per_group, DEFAULT_GPU_ROWS_PER_GROUP};
use im2col_rows::gather_pixels;

/// Clipping of the fixed-output net's prediction to [δ, 1 − δ] (Prop. 2 of Zhu et al.).
pub const FIXED_OUTPUT_DELTA: f64 = 1e-3;

/// A batch on the backend: inputs as the first layer reads them ([`prepare_input`]: images
/// flattened `[N, F]`, or a CNN's first im2col matrix `[N·positions, k²·C]`) and targets —
/// one-hot `[N, C]` for classifiers, values `[N, 1]` for the fixed-output net, unused `[N, 0]`
/// for the toy.
#[derive(Clone, Debug)]
pub struct Batch<B: Backend> {
    /// The inputs, as the first layer reads them.
    pub x: Tensor<B, 2>,
    /// The targets, one row a sample.
    pub target: Tensor<B, 2>,
}

impl<B: Backend> Batch<B> {
    /// Number of samples (the inputs may have several rows per sample).
    pub fn n_samples(&self) -> usize {
        self.target.dims()[0]
    }
}

/// θ as the networks read it: one flat tensor per parameter tensor, in `state_dict` order
/// ([`ArchSpec::params`]), each in PyTorch's layout except convolution weights (θ's 4-D
/// tensors), which are `[kh, kw, in, out]`, not `[out, in, kh, kw]` (`Params::conv_weight`;
/// [`crate::BurnObjective`] builds every `Theta`, reordering them on the host before the
/// upload). Separate tensors (each its own autodiff leaf), not slices of one: the backward of
/// a slice allocates, zeroes and adds a gradient as long as all of θ, once per parameter
/// tensor — 18 × 9.2M values per VGG-11 gradient (docs/PERFORMANCE.md).
pub type Theta<B> = Vec<Tensor<B, 1>>;

/// Walks θ in `state_dict` order, handing out each parameter reshaped, as a stack of `copies`
/// (a leading axis): one copy that every sample reads, or one per sample of the batch, sample
/// i reading copy i — whose gradients are then the per-sample gradients
/// ([`per_sample_losses_of_copies`]).
struct Params<B: Backend> {
    parts: std::vec::IntoIter<Tensor<B, 1>>,
    copies: usize,
}

impl<B: Backend> Params<B> {
    fn new(theta: Theta<B>, copies: usize) -> Self {
        Params {
            parts: theta.into_iter(),
            copies,
        }
    }

    /// The next parameter tensor as `[copies, shape…]`.
    fn next<const D: usize>(&mut self, shape: [usize; D]) -> Tensor<B, D> {
        let part = self.parts.next().expect("θ holds every parameter tensor");
        debug_assert_eq!(shape[0], self.copies, "the leading axis holds the copies");
        debug_assert_eq!(part.dims()[0], shape.iter().product::<usize>());
        part.reshape(shape)
    }

    /// The next parameter tensor, a vector: `[copies, len]`.
    fn vector(&mut self, len: usize) -> Tensor<B, 2> {
        self.next([self.copies, len])
    }

    /// The next parameter tensor, a matrix: `[copies, rows, cols]`.
    fn matrix(&mut self, rows: usize, cols: usize) -> Tensor<B, 3> {
        self.next([self.copies, rows, cols])
    }

    /// A convolution weight as the `[kh·kw·in, out]` matrix its im2col patches multiply
    /// (`[copies, kh·kw·in, out]`): a reshape, for θ's leaves hold convolution weights in that
    /// `[kh, kw, in, out]` order ([`crate::BurnObjective`] reorders PyTorch's
    /// `[out, in, kh, kw]` on the host before uploading θ, and the gradient back once the
    /// sample blocks' gradients are summed).
    fn conv_weight(&mut self, rows: usize, outputs: usize) -> Tensor<B, 3> {
        self.matrix(rows, outputs)
    }

    /// `x · Wᵀ + b` with W in PyTorch layout `[out, in]`.
    fn linear(&mut self, x: Tensor<B, 2>, inputs: usize, outputs: usize) -> Tensor<B, 2> {
        let w = self.matrix(outputs, inputs);
        let b = self.vector(outputs);
        affine(x, w, Some(b))
    }

    /// The fully connected head on the flattened maps. PyTorch flattens channels-first, so the
    /// first layer's weight columns are permuted into the channels-last order of `maps`.
    fn cnn_head(&mut self, maps: FeatureMaps<B>, hidden: &[usize], classes: usize) -> Tensor<B, 2> {
        let (side, channels) = (maps.side, maps.channels);
        let (width, copies) = (hidden.first().copied().unwrap_or(classes), self.copies);
        let w = self
            .next([copies, width, channels, side * side])
            .swap_dims(2, 3)
            .reshape([copies, width, side * side * channels]);
        let b = self.vector(width);
        let x = affine(maps.values, w, Some(b));
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
        let w = self.conv_weight(layer.cols(), outputs);
        let b = self.vector(outputs);
        let n = patches.dims()[0] / layer.positions();
        let y = rows_affine(patches, w, Some(b), [n, layer.positions()]);
        let y = y.reshape([n, layer.positions() * outputs]);
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
/// (C contiguous values each) from the `[n·side², C]` pixel matrix ([`gather_pixels`]), whose
/// backward is a row-wise scatter-add.
fn im2col<B: Backend>(maps: FeatureMaps<B>, layer: ConvPool) -> Tensor<B, 2> {
    let n = maps.values.dims()[0];
    let pixels = maps.side * maps.side;
    let one: Vec<Option<usize>> = layer
        .patch_pixels()
        .map(|(row, col)| Some(row * maps.side + col))
        .collect();
    let values = maps.values.reshape([n * pixels, maps.channels]);
    gather_pixels(values, n, &one).reshape([n * layer.positions(), layer.cols()])
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
    let index = int_to_device(index, &x.device());
    x.select(1, index)
        .reshape([n * layer.positions(), layer.cols()])
}

/// Rows and columns of [`prepare_input`]'s output per sample: one row of k²·C per first-layer
/// convolution output for CNNs, else one row of all features. A block of samples is then a range
/// of rows, a view of the prepared inputs that full-batch passes never reshape (burn-flex copies
/// on reshaping a view that does not start at its buffer's start; per-sample gradients' batched
/// products do, once per block).
pub fn prepared_input_shape(arch: &ArchSpec) -> [usize; 2] {
    first_conv(arch).map_or([1, arch.input_len()], |layer| {
        [layer.positions(), layer.cols()]
    })
}

/// Element-wise maximum of the four quarters of each row. The winning quarter is found on the
/// device by strict comparisons of the detached quarters in order, so equal maxima keep the
/// first: in [`ConvPool::patch_pixels`]' order, PyTorch's first maximum in row-major window
/// order. On the tape the result is only a selection between quarters by constant masks
/// (`mask_where`), linear in y and so exact to any order. Element-wise ops rather than an
/// `argmax` over the middle axis of `[n, 4, len/4]`, which made LeNet's gradient ~1.5× slower
/// on burn-flex than the former host search.
fn max_of_quarters<B: Backend>(y: Tensor<B, 2>) -> Tensor<B, 2> {
    let quarter = y.dims()[1] / 4;
    let quarters: Vec<Tensor<B, 2>> = (0..4)
        .map(|j| y.clone().narrow(1, j * quarter, quarter))
        .collect();
    let mut best = quarters[0].clone().detach();
    let mut wins = Vec::with_capacity(3);
    for q in &quarters[1..] {
        let q = q.clone().detach();
        let win = q.clone().greater(best.clone());
        best = best.mask_where(win.clone(), q);
        wins.push(win);
    }
    // A later quarter that won was beaten by none after it: apply the wins in order.
    let mut pooled = quarters[0].clone();
    for (q, win) in quarters[1..].iter().zip(wins) {
        pooled = pooled.mask_where(win, q.clone());
    }
    pooled
}

/// `x · Wᵀ + b` (a linear layer, with or without bias) with W in PyTorch layout `[out, in]`,
/// W and b stacked as [`Params`] hands them out (`[copies, out, in]`, `[copies, out]`).
fn affine<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 3>, b: Option<Tensor<B, 2>>) -> Tensor<B, 2> {
    let n = x.dims()[0];
    linear_rows(x, w, b, [n, 1])
}

fn activate<B: Backend>(x: Tensor<B, 2>, activation: Activation) -> Tensor<B, 2> {
    match activation {
        Activation::Relu => relu(x),
        Activation::Tanh => x.tanh(),
    }
}

/// Class scores `[N, C]` of a classifier (lenet, cnn, mlp, sequential) on prepared inputs
/// ([`prepare_input`]).
pub fn logits<B: Backend>(arch: &ArchSpec, theta: Theta<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    class_scores(arch, &mut Params::new(theta, 1), x)
}

/// [`logits`] with the parameters read from `p`.
fn class_scores<B: Backend>(arch: &ArchSpec, p: &mut Params<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let stages = stage_tensors(arch).len();
    run_stages(arch, p, Resume::start(x), stages).values
}

/// A classifier's forward pass stopped between two stages, to be resumed: the activations
/// entering stage `stage` as a matrix with one block of rows per sample (its layout is what that
/// stage reads), and how many of θ's parameter tensors the stages before it read. The stages
/// are a CNN's convolution blocks and its head, an MLP's or a sequential net's layers
/// ([`stage_tensors`]).
#[derive(Clone)]
pub(crate) struct Resume<B: Backend> {
    stage: usize,
    tensors: usize,
    values: Tensor<B, 2>,
    layout: sequential::Layout,
}

impl<B: Backend> Resume<B> {
    /// Before the first stage, on prepared inputs.
    fn start(x: Tensor<B, 2>) -> Self {
        Resume {
            stage: 0,
            tensors: 0,
            values: x,
            layout: sequential::Layout::Input,
        }
    }

    /// Parameter tensors read before this point: the resumed pass reads θ's tensors from here.
    pub(crate) fn tensors(&self) -> usize {
        self.tensors
    }

    /// The same point with its activations moved by `f` (onto another backend, a tape).
    pub(crate) fn map<C: Backend>(self, f: impl FnOnce(Tensor<B, 2>) -> Tensor<C, 2>) -> Resume<C> {
        Resume {
            stage: self.stage,
            tensors: self.tensors,
            values: f(self.values),
            layout: self.layout,
        }
    }
}

/// The number of parameter tensors each stage of a classifier reads, in order; one stage for
/// the regression and toy nets, which are never resumed.
fn stage_tensors(arch: &ArchSpec) -> Vec<usize> {
    match arch.as_cnn() {
        ArchSpec::Cnn {
            channels, hidden, ..
        } => {
            let head = 2 * (hidden.len() + 1);
            let mut stages = vec![2; channels.len() - 1];
            stages.push(head);
            stages
        }
        ArchSpec::Mlp { hidden, .. } => vec![2; hidden.len() + 1],
        ArchSpec::Sequential(net) => sequential::stage_tensors(&net),
        other => vec![other.params().len()],
    }
}

/// The stages of the first `fixed` parameter tensors run once on constants (`theta`, on the
/// samples `x`, prepared): where a pass that varies only the later tensors can resume, so that
/// it neither recomputes nor differentiates the layers before. `None` where no stage would be
/// skipped.
pub(crate) fn resume_point<B: Backend>(
    arch: &ArchSpec,
    theta: Theta<B>,
    x: Tensor<B, 2>,
    fixed: usize,
) -> Option<Resume<B>> {
    arch.classes()?;
    let mut read = 0;
    let skipped = stage_tensors(arch)
        .into_iter()
        .take_while(|&t| {
            read += t;
            read <= fixed
        })
        .count();
    (skipped > 0).then(|| run_stages(arch, &mut Params::new(theta, 1), Resume::start(x), skipped))
}

/// Per-sample losses of a classifier resumed at `from`, reading θ's parameter tensors from
/// [`Resume::tensors`] on (`theta_rest`): the same values as [`per_sample_losses`].
pub(crate) fn resumed_losses<B: Backend>(
    arch: &ArchSpec,
    theta_rest: Theta<B>,
    from: Resume<B>,
    target: &Tensor<B, 2>,
) -> Tensor<B, 1> {
    let stages = stage_tensors(arch).len();
    let logits = run_stages(arch, &mut Params::new(theta_rest, 1), from, stages).values;
    cross_entropy(logits, target)
}

/// Runs a classifier's stages `from.stage..to`, parameters read from `p`.
fn run_stages<B: Backend>(
    arch: &ArchSpec,
    p: &mut Params<B>,
    from: Resume<B>,
    to: usize,
) -> Resume<B> {
    let tensors = from.tensors + stage_tensors(arch)[from.stage..to].iter().sum::<usize>();
    let (values, layout) = match arch {
        ArchSpec::Lenet | ArchSpec::Cnn { .. } => {
            let blocks = conv_blocks(arch);
            let values = (from.stage..to).fold(from.values, |x, stage| match blocks.get(stage) {
                Some(&(layer, outputs)) => {
                    let maps = p.conv_relu_pool(x, layer, outputs);
                    match blocks.get(stage + 1) {
                        Some(&(next, _)) => im2col(maps, next),
                        None => maps.values,
                    }
                }
                None => {
                    let ArchSpec::Cnn {
                        hidden, classes, ..
                    } = arch.as_cnn()
                    else {
                        unreachable!()
                    };
                    let (last, channels) = *blocks.last().expect("a CNN has a convolution");
                    let maps = FeatureMaps {
                        values: x,
                        side: last.pooled(),
                        channels,
                    };
                    p.cnn_head(maps, &hidden, classes)
                }
            });
            (values, from.layout)
        }
        ArchSpec::Mlp {
            input,
            hidden,
            classes,
            activation,
        } => {
            let widths: Vec<usize> = [*input]
                .iter()
                .chain(hidden)
                .chain([classes])
                .copied()
                .collect();
            let values = (from.stage..to).fold(from.values, |x, layer| {
                let y = p.linear(x, widths[layer], widths[layer + 1]);
                match layer < hidden.len() {
                    true => activate(y, *activation),
                    false => y,
                }
            });
            (values, from.layout)
        }
        ArchSpec::Sequential(net) => {
            sequential::run(net, p, from.stage..to, from.values, from.layout)
        }
        ArchSpec::FixedOutput { .. } | ArchSpec::Toy2d => {
            panic!("{arch:?} is not a classifier")
        }
    };
    Resume {
        stage: to,
        tensors,
        values,
        layout,
    }
}

/// Values per sample of the largest tensor a pass over a block of samples forms: an input, an
/// im2col matrix, a convolution's output, pooling's candidates, a layer's activations (their
/// gradients have the same shapes). A block of n samples forms no such tensor over n times
/// this, so [`crate::BurnObjective`] sizes a GPU's blocks by it, under the device's largest
/// buffer (per-sample copies of θ are bounded apart).
pub(crate) fn largest_tensor_per_sample(arch: &ArchSpec) -> usize {
    let widths = |layers: &[usize]| layers.iter().copied().max().unwrap_or(0);
    match arch.as_cnn() {
        ArchSpec::Cnn {
            hidden, classes, ..
        } => {
            // The im2col rows or outputs, or the input with a zero pixel (`gather_pixels`).
            let convs = conv_blocks(arch).into_iter().map(|(layer, outputs)| {
                let input = (layer.side * layer.side + 1) * layer.channels;
                (layer.positions() * layer.cols().max(outputs)).max(input)
            });
            let head = widths(&hidden).max(classes);
            convs.fold(arch.input_len().max(head), usize::max)
        }
        ArchSpec::Mlp {
            input,
            hidden,
            classes,
            ..
        } => widths(&hidden).max(input).max(classes),
        ArchSpec::FixedOutput { input, hidden } => input.max(hidden),
        ArchSpec::Sequential(net) => sequential::largest_tensor_per_sample(&net),
        other => other.input_len().max(1),
    }
}

/// A CNN's convolution + pooling blocks (LeNet's included), with their output channels.
fn conv_blocks(arch: &ArchSpec) -> Vec<(ConvPool, usize)> {
    let ArchSpec::Cnn {
        channels, kernel, ..
    } = arch.as_cnn()
    else {
        return Vec::new();
    };
    let first = first_conv(arch).expect("a CNN");
    channels[1..]
        .iter()
        .scan(first, |layer, &outputs| {
            let this = *layer;
            *layer = ConvPool {
                side: this.pooled(),
                channels: outputs,
                kernel,
            };
            Some((this, outputs))
        })
        .collect()
}

/// Softmax cross-entropy (natural log) of each row of `logits` against its one-hot target.
fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, target: &Tensor<B, 2>) -> Tensor<B, 1> {
    let n = logits.dims()[0];
    let logp = log_softmax(logits, 1);
    (logp * target.clone()).sum_dim(1).reshape([n]).neg()
}

/// The network's outputs f(x; θ) on prepared inputs ([`prepare_input`]), the quantity each
/// per-sample loss is a function of: class scores `[N, C]` for the classifiers (as [`logits`]),
/// the fixed-output net's unclipped prediction `[N, 1]`.
///
/// # Panics
/// For toy2d, whose loss is a function of θ directly.
pub fn outputs<B: Backend>(arch: &ArchSpec, theta: Theta<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    outputs_of(arch, &mut Params::new(theta, 1), x)
}

/// [`outputs`] of a batch of N networks, one sample each: sample i through copy i of θ (each of
/// `copies`' tensors `[N, len]`, flat; see [`per_sample_losses_of_copies`]).
pub fn outputs_of_copies<B: Backend>(
    arch: &ArchSpec,
    copies: Theta<B>,
    batch: &Batch<B>,
) -> Tensor<B, 2> {
    outputs_of(
        arch,
        &mut Params::new(copies, batch.n_samples()),
        batch.x.clone(),
    )
}

/// [`outputs`] with the parameters read from `p`.
fn outputs_of<B: Backend>(arch: &ArchSpec, p: &mut Params<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    match arch {
        ArchSpec::FixedOutput { input, hidden } => {
            // Output layer fixed at +1 for the first half of the units, −1 for the rest.
            let h = relu(p.linear(x.clone(), *input, *hidden));
            let signs: Vec<f64> = (0..*hidden)
                .map(|j| if j < hidden / 2 { 1.0 } else { -1.0 })
                .collect();
            let a = float_to_device(signs, [*hidden, 1], &x.device(), x.dtype());
            h.matmul(a)
        }
        _ => class_scores(arch, p, x),
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
    losses(arch, Params::new(theta, 1), batch)
}

/// ℓ_i(θ_i), shape `[N]`, where each of `copies`' tensors stacks one copy θ_i of θ's tensor
/// per sample (`[N, len]`, flat): the losses of a batch of N independent networks, one sample
/// each. Made leaves, the copies' gradients of Σ_i ℓ_i(θ_i) at θ_i = θ are the N per-sample
/// gradients ∇ℓ_i(θ), from one forward and one backward pass of the whole batch (PyTorch's
/// `vmap(grad)`), not N of one sample each: one set of kernels, for a GPU, where one sample's
/// are too small to fill it. A layer then multiplies each sample by its own weights, a batched
/// product (`rows_affine`).
pub fn per_sample_losses_of_copies<B: Backend>(
    arch: &ArchSpec,
    copies: Theta<B>,
    batch: &Batch<B>,
) -> Tensor<B, 1> {
    losses(arch, Params::new(copies, batch.n_samples()), batch)
}

/// [`per_sample_losses`] and, for the classifiers, each sample's predicted class (its largest
/// logit, `[N, 1]`), from one forward pass: evaluating a net's loss and accuracy at a point
/// (a landscape's grid, a training log) need not run it twice.
pub fn losses_and_predictions<B: Backend>(
    arch: &ArchSpec,
    theta: Theta<B>,
    batch: &Batch<B>,
) -> (Tensor<B, 1>, Option<Tensor<B, 2, Int>>) {
    let mut p = Params::new(theta, 1);
    if arch.classes().is_some() {
        let logits = class_scores(arch, &mut p, batch.x.clone());
        let predicted = logits.clone().argmax(1);
        (cross_entropy(logits, &batch.target), Some(predicted))
    } else {
        (losses(arch, p, batch), None)
    }
}

fn losses<B: Backend>(arch: &ArchSpec, mut p: Params<B>, batch: &Batch<B>) -> Tensor<B, 1> {
    let n = batch.n_samples();
    match arch {
        ArchSpec::Lenet | ArchSpec::Cnn { .. } | ArchSpec::Mlp { .. } | ArchSpec::Sequential(_) => {
            cross_entropy(class_scores(arch, &mut p, batch.x.clone()), &batch.target)
        }
        ArchSpec::FixedOutput { .. } => {
            let out = clip_prediction(outputs_of(arch, &mut p, batch.x.clone()));
            (out - batch.target.clone()).powi_scalar(2).reshape([n])
        }
        ArchSpec::Toy2d => toy2d_losses(p.vector(2), batch.x.clone()),
    }
}

/// The 2-D loss of Zhu et al. (Sec. 5.1), per sample:
/// min{ 10(c·a − s·b)² + 100(c·a + s·b)², (w₁−x₁+1)² + (w₂−x₂+1)² },
/// c = s = cos(π/4), a = w₁−x₁−1, b = w₂−x₂−1: a sharp minimum near (1,1), a flat one near (−1,−1).
fn toy2d_losses<B: Backend>(w: Tensor<B, 2>, x: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = x.dims()[0];
    let d = w - x; // w − x, [N, 2] (w is [1, 2] or one row per sample)
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
pub(crate) mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::{Tensor, TensorData};

    use super::max_of_quarters;

    /// How often `pool` picks each input: the gradient of Σ pool(x) in x, from values `x` of
    /// `shape`, with the pooled values.
    pub(crate) fn picks<B: AutodiffBackend, const D: usize>(
        pool: impl FnOnce(Tensor<B, D>) -> Tensor<B, D>,
        x: Vec<f32>,
        shape: [usize; D],
        device: &B::Device,
    ) -> (Vec<f32>, Vec<f32>) {
        let x = Tensor::<B, D>::from_data(TensorData::new(x, shape), device).require_grad();
        let pooled = pool(x.clone());
        let grads = pooled.clone().sum().backward();
        let host = |t: TensorData| t.convert::<f32>().into_vec::<f32>().expect("floats");
        let picks = x.grad(&grads).expect("x is on the tape").into_data();
        (host(pooled.into_data()), host(picks))
    }

    /// Two rows of four quarters of two values: ties go to the earlier quarter.
    pub(crate) fn quarters_take_the_first_maximum<B: AutodiffBackend>(device: &B::Device) {
        #[rustfmt::skip]
        let values = vec![
            1.0, 0.0,   1.0, 5.0,   1.0, 5.0,   0.0, 2.0,
            -3.0, 7.0,  -2.0, 7.0,  -1.0, 6.0,  -1.0, 8.0,
        ];
        let (maxima, picks) = picks::<B, 2>(max_of_quarters, values, [2, 8], device);
        assert_eq!(maxima, [1.0, 5.0, -1.0, 8.0]);
        #[rustfmt::skip]
        assert_eq!(picks, [
            1.0, 0.0,   0.0, 1.0,   0.0, 0.0,   0.0, 0.0,
            0.0, 0.0,   0.0, 0.0,   1.0, 0.0,   0.0, 1.0,
        ]);
    }

    #[test]
    fn quarter_maxima_take_the_first_maximum() {
        quarters_take_the_first_maximum::<Autodiff<crate::Cpu>>(&Default::default());
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn quarter_maxima_take_the_first_maximum_on_gpu() {
        quarters_take_the_first_maximum::<Autodiff<crate::Gpu>>(&Default::default());
    }

    /// The largest tensor per sample, worked out by hand from each net's layers.
    #[test]
    fn largest_tensors_per_sample() {
        use super::largest_tensor_per_sample;
        use crate::ArchSpec;
        // LeNet: conv2's im2col, 64 rows (its 8×8 outputs, all kept by the 2×2 pooling) × 250
        // (5·5·10), over the first layer's 576 rows × 25.
        assert_eq!(largest_tensor_per_sample(&ArchSpec::Lenet), 64 * 250);
        // VGG-11 on 32×32 images: conv2 (16×16 outputs × 3·3·64) and conv4 (8×8 × 3·3·256).
        let vgg11 = ArchSpec::named("vgg11").expect("a preset");
        assert_eq!(largest_tensor_per_sample(&vgg11), 256 * 576);
        let mlp: ArchSpec = serde_json::from_str(
            r#"{"name":"mlp","input":20,"hidden":[50,7],"classes":3,"activation":"relu"}"#,
        )
        .unwrap();
        assert_eq!(largest_tensor_per_sample(&mlp), 50);
        // A 3×3 max-pooling at stride 1 gathers 9 candidates of 4 channels for each of its
        // 6×6 outputs: more than the 4×8×8 maps it reads.
        let pooled: ArchSpec = serde_json::from_str(
            r#"{"name":"sequential","input":[4,8,8],"layers":[
                {"type":"maxpool2d","kernel":3,"stride":1},{"type":"flatten"},
                {"type":"linear","out":2}]}"#,
        )
        .unwrap();
        assert_eq!(largest_tensor_per_sample(&pooled), 6 * 6 * 9 * 4);
        // Adaptive pooling of a 7×1 map to 1×7 averages the columns first: 7×7 values.
        let widened: ArchSpec = serde_json::from_str(
            r#"{"name":"sequential","input":[1,7,1],"layers":[
                {"type":"adaptive_avgpool2d","output":[1,7]},{"type":"flatten"},
                {"type":"linear","out":2}]}"#,
        )
        .unwrap();
        assert_eq!(largest_tensor_per_sample(&widened), 7 * 7);
    }
}
