//! The forward pass of a [`Sequential`] net, in ops that burn 0.21 differentiates exactly to
//! second order: convolution is im2col + a matrix product ([`conv`]), max-pooling a gather at
//! maxima located on the device, average pooling two matrix products, batch norm an affine map
//! with constant statistics, layer and group norm each sample's own statistics, sigmoid
//! through tanh, GELU through erf, piecewise activations by masks, a residual block its two
//! branches summed, a product its branches multiplied, splits and shuffles of the channels by
//! slices and reshapes, layers of features on each position's channels as rows of the pixel
//! matrix. (burn's own pooling ops and `nn::Linear` panic under nested autodiff.)

use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};

use super::{broadcast_rows, linear_rows, Params};
use crate::sequential::{
    GeluApproximation, Op, PadMode, Resolved, Sequential, Shape, Size2, Standardize,
};
use crate::transfer::{float_to_device, resident_index};

mod conv;

/// Activations between layers: NCHW maps, channels-last pixels or `[N, F]` features.
#[derive(Clone)]
enum Values<B: Backend> {
    Maps(Tensor<B, 4>),
    /// Maps `[n, h, w, C]` as the pixel matrix `[n·h·w, C]`, what convolutions read and write.
    /// Element-wise layers, batch norm and max-pooling keep this layout, so convolution → ReLU
    /// → pool → convolution never transposes; other layers take NCHW maps.
    Pixels(Tensor<B, 2>, [usize; 4]),
    /// Each position's channels as features, inside [`Op::ChannelsLast`]: the pixel matrix
    /// `[n·h·w, C]` of maps `[n, h, w, C]`, read by layers of features. Tokens `[n, T, E]` are
    /// these rows `[n·T, E]` of maps `[n, 1, T, E]`.
    Positions(Tensor<B, 2>, [usize; 4]),
    Flat(Tensor<B, 2>),
}

impl<B: Backend> Values<B> {
    fn maps(self) -> Tensor<B, 4> {
        match self {
            Values::Maps(x) => x,
            Values::Pixels(x, [n, h, w, c]) => x.reshape([n, h, w, c]).permute([0, 3, 1, 2]),
            Values::Flat(_) | Values::Positions(..) => {
                unreachable!("shapes are checked by Sequential::resolve")
            }
        }
    }

    /// The device and precision the values are on, for constants to join them.
    fn placement(&self) -> (B::Device, DType) {
        match self {
            Values::Maps(x) => (x.device(), x.dtype()),
            Values::Pixels(x, _) | Values::Positions(x, _) | Values::Flat(x) => {
                (x.device(), x.dtype())
            }
        }
    }

    /// Tokens as their rows `[n·T, E]` and `[n, 1, T, E]`.
    fn tokens(self) -> (Tensor<B, 2>, [usize; 4]) {
        match self {
            Values::Positions(x, dims) => (x, dims),
            _ => unreachable!("tokens are positions (checked by Sequential::resolve)"),
        }
    }

    /// The pixel matrix `[n·h·w, C]` and `[n, h, w, C]`.
    fn pixels(self) -> (Tensor<B, 2>, [usize; 4]) {
        match self {
            Values::Pixels(x, dims) => (x, dims),
            x => {
                let maps = x.maps();
                let [n, c, h, w] = maps.dims();
                let pixels = maps.permute([0, 2, 3, 1]).reshape([n * h * w, c]);
                (pixels, [n, h, w, c])
            }
        }
    }

    /// Features `[N, F]`, maps flattened channels-first as PyTorch does, tokens token by token.
    fn flat(self) -> Tensor<B, 2> {
        match self {
            Values::Flat(x) => x,
            Values::Positions(x, [n, ..]) => {
                let [rows, e] = x.dims();
                x.reshape([n, rows / n * e])
            }
            maps => maps.maps().flatten(1, 3),
        }
    }

    /// An element-wise map, applied to the values as a matrix.
    fn elementwise(self, f: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>) -> Self {
        match self {
            Values::Flat(x) => Values::Flat(f(x)),
            Values::Pixels(x, dims) => Values::Pixels(f(x), dims),
            Values::Positions(x, dims) => Values::Positions(f(x), dims),
            Values::Maps(x) => {
                let dims = x.dims();
                Values::Maps(f(x.flatten(1, 3)).reshape(dims))
            }
        }
    }
}

/// How [`Values`] lie in the matrix a [`super::Resume`] keeps between layers.
#[derive(Clone, Copy)]
pub(super) enum Layout {
    /// The network's inputs `[N, F]`, images flattened channels-first.
    Input,
    Maps([usize; 4]),
    Pixels([usize; 4]),
    Positions([usize; 4]),
    Flat,
}

impl<B: Backend> Values<B> {
    /// The values as a matrix with one block of rows per sample.
    fn into_matrix(self) -> (Tensor<B, 2>, Layout) {
        match self {
            Values::Maps(x) => {
                let dims = x.dims();
                (x.flatten(1, 3), Layout::Maps(dims))
            }
            Values::Pixels(x, dims) => (x, Layout::Pixels(dims)),
            Values::Flat(x) => (x, Layout::Flat),
            // Tokens; channels_last's positions never end a stage, which is a whole layer.
            Values::Positions(x, dims) => (x, Layout::Positions(dims)),
        }
    }

    /// The inverse of [`Values::into_matrix`]; inputs take the first layer's `input` shape.
    fn from_matrix(x: Tensor<B, 2>, layout: Layout, input: Shape) -> Self {
        match (layout, input) {
            (Layout::Input, Shape::Maps { c, h, w }) => {
                let n = x.dims()[0];
                Values::Maps(x.reshape([n, c, h, w]))
            }
            (Layout::Input | Layout::Flat, _) => Values::Flat(x),
            (Layout::Maps(dims), _) => Values::Maps(x.reshape(dims)),
            (Layout::Pixels(dims), _) => Values::Pixels(x, dims),
            (Layout::Positions(dims), _) => Values::Positions(x, dims),
        }
    }
}

/// Values per sample of the largest tensor a layer of `net` forms ([`super::largest_tensor_per_sample`]):
/// its input and output (a concatenation's too, and a channels_last block's layers' over all
/// positions); for a window (convolution, max-pooling, a 1-D convolution) the gathered
/// `[outputs, window · channels]` patches or candidates, and the input with a zero pixel for the padding
/// (`gather_pixels` on a GPU); for average pooling ([`separable`]) the maps averaged along one
/// axis only.
pub(super) fn largest_tensor_per_sample(net: &Sequential) -> usize {
    let values = |shape: &Shape| shape.len();
    let layers = net.leaves();
    let within = |layer: &Resolved| match (&layer.op, layer.input, layer.output) {
        (
            Op::Conv2d { kernel, .. } | Op::Maxpool2d { kernel, .. },
            Shape::Maps { c, h, w },
            Shape::Maps { h: oh, w: ow, .. },
        ) => {
            // Saturating, as `Shape::len`: a spec's huge maps (a pad2d's) reach the memory
            // check instead of wrapping.
            let taps = kernel.hw().iter().fold(c, |p, k| p.saturating_mul(*k));
            (oh.saturating_mul(ow).saturating_mul(taps))
                .max(h.saturating_mul(w).saturating_add(1).saturating_mul(c))
        }
        (
            Op::Avgpool2d { .. } | Op::AdaptiveAvgpool2d { .. } | Op::BlurPool2d { .. },
            Shape::Maps { c, h, w },
            Shape::Maps { h: oh, w: ow, .. },
        ) => c.saturating_mul(h.saturating_mul(ow).max(oh.saturating_mul(w))),
        // A 1-D convolution's patches, `[outputs, kernel]`, and its input with the zero pixel.
        (Op::Conv1d { kernel, .. }, Shape::Flat(features), Shape::Flat(out)) => {
            out.saturating_mul(*kernel).max(features.saturating_add(1))
        }
        // Queries, keys and values; each head's scores and their softmax.
        (Op::Attention { heads, .. }, Shape::Tokens { t, e }, _) => (3 * t * e).max(heads * t * t),
        _ => 0,
    };
    let leaves = layers.iter().map(|layer| {
        values(&layer.input)
            .max(values(&layer.output))
            .max(within(layer))
    });
    let blocks = blocks(&resolved(net));
    let joined = blocks
        .iter()
        .filter(|block| matches!(block.op, Op::Concat { .. }))
        .map(|block| values(&block.output));
    // A channels_last block's layers see one position's features; they run on all h·w.
    let positions = blocks
        .iter()
        .filter_map(|block| match (&block.op, block.input) {
            (Op::ChannelsLast { .. }, Shape::Maps { h, w, .. }) => block
                .leaves()
                .iter()
                .map(|leaf| values(&leaf.input).max(values(&leaf.output)) * h * w)
                .max(),
            _ => None,
        });
    leaves.chain(joined).chain(positions).max().unwrap_or(0)
}

/// The blocks (residual, concatenation, product, channels_last) among `layers`, and within their
/// branches.
fn blocks(layers: &[Resolved]) -> Vec<Resolved> {
    layers
        .iter()
        .filter_map(|layer| Some((layer, layer.branches()?)))
        .flat_map(|(block, branches)| {
            let inner = branches.iter().flat_map(|branch| blocks(branch));
            std::iter::once(block.clone())
                .chain(inner)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The number of parameter tensors each layer reads (the stages of [`super::Resume`]).
pub(super) fn stage_tensors(net: &Sequential) -> Vec<usize> {
    resolved(net)
        .iter()
        .map(|layer| layer.params().len())
        .collect()
}

/// Runs `layers` of `net` on `x` (laid out as `layout`), parameters read from `p` in
/// `state_dict` order; after the last layer, the class scores `[N, classes]`.
pub(super) fn run<B: Backend>(
    net: &Sequential,
    p: &mut Params<B>,
    layers: std::ops::Range<usize>,
    x: Tensor<B, 2>,
    layout: Layout,
) -> (Tensor<B, 2>, Layout) {
    let resolved = resolved(net);
    let last = layers.end == resolved.len();
    let mut values = Values::from_matrix(x, layout, resolved[0].input);
    for layer in &resolved[layers] {
        values = forward(net, layer, p, values);
    }
    match last {
        true => (values.flat(), Layout::Flat),
        false => values.into_matrix(),
    }
}

fn resolved(net: &Sequential) -> Vec<Resolved> {
    net.resolve()
        .expect("a validated spec (ArchSpec::validate)")
}

/// One layer.
fn forward<B: Backend>(
    net: &Sequential,
    layer: &Resolved,
    p: &mut Params<B>,
    x: Values<B>,
) -> Values<B> {
    match layer.op {
        Op::Conv2d {
            out,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            standardize,
        } => {
            let Shape::Maps { c, .. } = layer.input else {
                unreachable!("checked by resolve")
            };
            let [kh, kw] = kernel.hw();
            let w = p.conv_weight(kh * kw * c / groups, out);
            let b = bias.then(|| p.vector(out));
            let w = match standardize {
                Some(how) => standardized_filters(w, how, how.gain.then(|| p.vector(out))),
                None => w,
            };
            let window = Window::new(kernel, Some(stride), padding, layer.output);
            let (pixels, dims) = x.pixels();
            let y = conv::conv2d(pixels, dims, w, b, &window, dilation.hw(), groups);
            let [n, _, _, _] = dims;
            let [oh, ow] = window.output;
            Values::Pixels(y, [n, oh, ow, out])
        }
        Op::Conv1d {
            kernel,
            padding,
            bias,
        } => {
            // The features as maps [1, 1, F] under a [1, kernel] window.
            let Shape::Flat(out) = layer.output else {
                unreachable!("checked by resolve")
            };
            let w = p.conv_weight(kernel, 1);
            let b = bias.then(|| p.vector(1));
            let x = x.flat();
            let [n, features] = x.dims();
            let window = Window {
                kernel: [1, kernel],
                stride: [1, 1],
                padding: [0, padding],
                output: [1, out],
            };
            let pixels = x.reshape([n * features, 1]);
            let y = conv::conv2d(pixels, [n, 1, features, 1], w, b, &window, [1, 1], 1);
            Values::Flat(y.reshape([n, out]))
        }
        Op::Linear { out, bias } => {
            // Features, or each token's (resolve refuses maps).
            let w = p.matrix(out, layer.input.channels());
            let b = bias.then(|| p.vector(out));
            match x {
                // Each position's channels or token: a sample's h·w rows read its copy of W.
                Values::Positions(x, [n, h, width, _]) => {
                    Values::Positions(linear_rows(x, w, b, [n, h * width]), [n, h, width, out])
                }
                x => Values::Flat(super::affine(x.flat(), w, b)),
            }
        }
        Op::Maxpool2d {
            kernel,
            stride,
            padding,
            ..
        } => {
            let window = Window::new(kernel, stride, padding, layer.output);
            let [oh, ow] = window.output;
            let (pixels, dims @ [n, _, _, c]) = x.pixels();
            Values::Pixels(max_pool(pixels, dims, window), [n, oh, ow, c])
        }
        Op::Avgpool2d {
            kernel,
            stride,
            padding,
            count_include_pad,
            ..
        } => {
            let window = Window::new(kernel, stride, padding, layer.output);
            if window.is_identity() {
                return x;
            }
            let x = x.maps();
            let [_, _, h, w] = x.dims();
            let along = |axis, len| window.averaging(axis, len, count_include_pad);
            Values::Maps(separable(x, along(0, h), along(1, w)))
        }
        Op::AdaptiveAvgpool2d { output } => {
            if layer.input == layer.output {
                // Each output's window is its own pixel (as for `Window::is_identity`).
                return x;
            }
            let x = x.maps();
            let [_, _, h, w] = x.dims();
            let [oh, ow] = output.hw();
            Values::Maps(separable(
                x,
                adaptive_averaging(h, oh),
                adaptive_averaging(w, ow),
            ))
        }
        Op::BlurPool2d {
            kernel,
            stride,
            padding,
            pad_mode,
        } => {
            let (Shape::Maps { h, w, .. }, Shape::Maps { h: oh, w: ow, .. }) =
                (layer.input, layer.output)
            else {
                unreachable!("blur pooling takes maps (checked by resolve)")
            };
            let window = [kernel, stride, padding];
            let along = |len, outputs| blurring(len, outputs, window, pad_mode);
            let (rows, cols) = (along(h, oh), along(w, ow));
            Values::Maps(separable(x.maps(), rows, cols))
        }
        Op::SpaceToDepth { block } => space_to_depth(x, block),
        Op::SumRuns { runs } => sum_runs(x, runs),
        Op::RadixSoftmax { radix, cardinality } => radix_softmax(x, radix, cardinality),
        Op::Flatten => Values::Flat(x.flat()),
        Op::Unflatten { shape: [c, h, w] } => {
            let x = x.flat();
            let n = x.dims()[0];
            Values::Maps(x.reshape([n, c, h, w]))
        }
        Op::PadChannels { before, after } => pad_channels(x, before, after),
        Op::Pad2d {
            left,
            right,
            top,
            bottom,
        } => pad2d(x, [top, bottom], [left, right]),
        Op::Narrow { start, length, dim } => narrow(x, start, length, dim),
        Op::ChannelShuffle { groups } => channel_shuffle(x, groups),
        Op::Relu => x.elementwise(relu),
        Op::LeakyRelu { negative_slope } => {
            x.elementwise(|x| relu(x.clone()) - relu(x.neg()).mul_scalar(negative_slope))
        }
        Op::Tanh => x.elementwise(Tensor::tanh),
        Op::Sigmoid => x.elementwise(sigmoid),
        Op::Gelu { approximate } => x.elementwise(|x| gelu(x, approximate)),
        Op::Silu => x.elementwise(silu),
        Op::Elu { alpha } => x.elementwise(|x| elu(x, alpha)),
        Op::Softplus { beta, threshold } => x.elementwise(|x| softplus(x, beta, threshold)),
        Op::Mish => x.elementwise(mish),
        Op::Hardtanh { min_val, max_val } => x.elementwise(|x| hardtanh(x, min_val, max_val)),
        Op::Relu6 => x.elementwise(|x| hardtanh(x, 0.0, 6.0)),
        Op::Hardsigmoid => x.elementwise(hardsigmoid),
        Op::Hardswish => x.elementwise(hardswish),
        Op::Prelu { num_parameters, .. } => prelu(x, p.vector(num_parameters)),
        Op::Scale { .. } => {
            let gamma = p.vector(layer.op.per_channel_values(layer.input));
            per_channel(x, gamma, |x, gamma| x * gamma)
        }
        Op::Shift { .. } => {
            let beta = p.vector(layer.op.per_channel_values(layer.input));
            per_channel(x, beta, |x, beta| x + beta)
        }
        Op::Identity | Op::Dropout { .. } => x,
        // Times c, not divided by 1/c: burn's `div_scalar` differentiates with its scalar
        // rounded to f32 ([`softplus`]).
        Op::Multiply { by } => x.elementwise(|x| x.mul_scalar(by)),
        Op::Batchnorm1d { eps, affine, bias } | Op::Batchnorm2d { eps, affine, bias } => {
            batch_norm(net, layer, p, x, eps, [affine, bias])
        }
        Op::Layernorm {
            ref shape,
            eps,
            affine,
            bias,
        } => layer_norm(shape, p, x, Some(eps), true, [affine, bias]),
        Op::Rmsnorm {
            ref shape,
            eps,
            affine,
        } => layer_norm(shape, p, x, eps, false, [affine, false]),
        Op::Groupnorm {
            groups,
            eps,
            affine,
            bias,
        } => group_norm(layer.input, groups, p, x, eps, [affine, bias]),
        Op::GlobalResponseNorm { eps } => {
            let channels = layer.input.channels();
            let (gamma, beta) = (p.vector(channels), p.vector(channels));
            let grn = |x, n| global_response_norm(x, n, gamma, beta, eps);
            match x {
                Values::Positions(x, dims @ [n, ..]) => Values::Positions(grn(x, n), dims),
                Values::Flat(x) => {
                    let n = x.dims()[0];
                    Values::Flat(grn(x, n))
                }
                maps => {
                    let (x, dims) = maps.pixels();
                    Values::Pixels(grn(x, dims[0]), dims)
                }
            }
        }
        Op::Residual { .. } | Op::Concat { .. } | Op::Product { .. } => {
            // Each branch reads its tensors in turn, as `state_dict` lists them (a residual
            // block's main branch first).
            let outputs: Vec<Values<B>> = layer
                .branches()
                .expect("a block")
                .iter()
                .map(|branch| {
                    let x = x.clone();
                    branch.iter().fold(x, |x, layer| forward(net, layer, p, x))
                })
                .collect();
            match layer.op {
                Op::Concat { .. } => concat(outputs),
                Op::Product { .. } => outputs.into_iter().reduce(product).expect("two branches"),
                _ => outputs.into_iter().reduce(sum).expect("two branches"),
            }
        }
        Op::ChannelsLast { .. } => {
            let (pixels, dims) = x.pixels();
            let [layers] = &layer.branches().expect("a block")[..] else {
                unreachable!("channels_last has one path")
            };
            let positions = Values::Positions(pixels, dims);
            match layers
                .iter()
                .fold(positions, |x, layer| forward(net, layer, p, x))
            {
                Values::Positions(y, dims) => Values::Pixels(y, dims),
                _ => unreachable!("position-wise layers keep positions (checked by resolve)"),
            }
        }
        Op::Tokens => {
            let (pixels, [n, h, w, c]) = x.pixels();
            Values::Positions(pixels, [n, 1, h * w, c])
        }
        Op::ClassToken { tokens: k, .. } => {
            let (x, [n, _, t, e]) = x.tokens();
            let token = p.vector(k * e);
            let copies = token.dims()[0];
            let token = token.reshape([copies, k, e]).expand([n, k, e]);
            let x = Tensor::cat(vec![token, x.reshape([n, t, e])], 1);
            Values::Positions(x.reshape([n * (t + k), e]), [n, 1, t + k, e])
        }
        Op::PositionEmbedding { .. } => {
            let (x, dims @ [n, _, t, e]) = x.tokens();
            let embedding = broadcast_rows(p.vector(t * e), [n, 1]);
            let y = x.reshape([n, t * e]) + embedding;
            Values::Positions(y.reshape([n * t, e]), dims)
        }
        Op::Attention {
            heads,
            bias,
            out_bias,
            ..
        } => attention(p, x, heads, [bias, out_bias.unwrap_or(bias)]),
        Op::TokenMean => {
            let (x, [n, _, t, e]) = x.tokens();
            Values::Flat(x.reshape([n, t, e]).mean_dim(1).reshape([n, e]))
        }
        Op::Transpose => {
            let (x, [n, _, t, e]) = x.tokens();
            let y = x.reshape([n, t, e]).swap_dims(1, 2).reshape([n * e, t]);
            Values::Positions(y, [n, 1, e, t])
        }
        Op::SelectToken { index } => {
            let (x, [n, _, t, e]) = x.tokens();
            Values::Flat(x.reshape([n, t, e]).narrow(1, index, 1).reshape([n, e]))
        }
        Op::Group { .. } => unreachable!("groups are flattened by resolve"),
    }
}

/// Multi-head self-attention of tokens, as `nn.MultiheadAttention` computes it in eval mode:
/// q, k, v = x·W_inᵀ + b_in split in three, each head's softmax(q·kᵀ/√d)·v (d = E/heads), the
/// heads side by side times `out_proj`. Products and a softmax (see [`softmax`]), exact to any
/// order.
fn attention<B: Backend>(
    p: &mut Params<B>,
    x: Values<B>,
    heads: usize,
    [bias, out_bias]: [bool; 2],
) -> Values<B> {
    let (x, dims @ [n, _, t, e]) = x.tokens();
    let d = e / heads;
    let w_in = p.matrix(3 * e, e);
    let b_in = bias.then(|| p.vector(3 * e));
    let qkv = linear_rows(x, w_in, b_in, [n, t]);
    // Rows `[n·T, E]` of one of q, k, v as `[n, heads, T, d]`.
    let head = |part: usize| {
        qkv.clone()
            .narrow(1, part * e, e)
            .reshape([n, t, heads, d])
            .swap_dims(1, 2)
    };
    let (q, k, v) = (head(0), head(1), head(2));
    let scores = q
        .matmul(k.swap_dims(2, 3))
        .mul_scalar(1.0 / (d as f64).sqrt());
    let heads_out = softmax(scores)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([n * t, e]);
    let w_out = p.matrix(e, e);
    let b_out = out_bias.then(|| p.vector(e));
    Values::Positions(linear_rows(heads_out, w_out, b_out, [n, t]), dims)
}

/// softmax along the last axis, e^{s − m}/Σ e^{s − m} with m each row's maximum detached: the
/// softmax of s whatever m is, so m's derivative, which detaching drops, is 0 anyway.
fn softmax<B: Backend>(s: Tensor<B, 4>) -> Tensor<B, 4> {
    let shifted = s.clone() - s.detach().max_dim(3);
    let e = shifted.exp();
    e.clone() / e.sum_dim(3)
}

/// `x` with `before` and `after` zeros around it along `axis`, on its device and in its
/// precision: a concatenation, linear, so exact to any order.
fn zeros_around<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    axis: usize,
    [before, after]: [usize; 2],
) -> Tensor<B, D> {
    if before == 0 && after == 0 {
        return x;
    }
    let (dims, device, dtype) = (x.dims(), x.device(), x.dtype());
    let zeros = |count| {
        let mut shape = dims;
        shape[axis] = count;
        Tensor::<B, D>::zeros(shape, (&device, dtype))
    };
    let parts: Vec<_> = [
        (before > 0).then(|| zeros(before)),
        Some(x),
        (after > 0).then(|| zeros(after)),
    ]
    .into_iter()
    .flatten()
    .collect();
    Tensor::cat(parts, axis)
}

/// `x` with `before` and `after` channels of zeros around its own, as channels-last pixels
/// (the layout a next convolution reads).
fn pad_channels<B: Backend>(x: Values<B>, before: usize, after: usize) -> Values<B> {
    let (x, [n, h, w, c]) = x.pixels();
    let x = zeros_around(x, 1, [before, after]);
    Values::Pixels(x, [n, h, w, c + before + after])
}

/// Zero rows `[top, bottom]` and columns `[left, right]` around maps, in the layout they are
/// in: NCHW maps stay maps (an average pooling reads them so), pixels stay pixels (a
/// convolution reads them so).
fn pad2d<B: Backend>(x: Values<B>, rows: [usize; 2], columns: [usize; 2]) -> Values<B> {
    if let Values::Maps(x) = x {
        return Values::Maps(zeros_around(zeros_around(x, 2, rows), 3, columns));
    }
    let (x, [n, h, w, c]) = x.pixels();
    let x = zeros_around(zeros_around(x.reshape([n, h, w, c]), 1, rows), 2, columns);
    let [_, ph, pw, _] = x.dims();
    Values::Pixels(x.reshape([n * ph * pw, c]), [n, ph, pw, c])
}

/// Channels `start..start + length` of maps (features of flat values; tokens or, `dim` 2,
/// features of tokens), in the layout they are in: a slice, whose backward pads with zeros,
/// both linear, so exact to any order.
fn narrow<B: Backend>(x: Values<B>, start: usize, length: usize, dim: usize) -> Values<B> {
    match x {
        Values::Flat(x) => Values::Flat(x.narrow(1, start, length)),
        Values::Maps(x) => Values::Maps(x.narrow(1, start, length)),
        Values::Pixels(x, [n, h, w, _]) => {
            Values::Pixels(x.narrow(1, start, length), [n, h, w, length])
        }
        // Tokens (channels_last refuses a narrow of a position's channels): their features, or
        // a run of them.
        Values::Positions(x, [n, _, t, _]) if dim == 2 => {
            Values::Positions(x.narrow(1, start, length), [n, 1, t, length])
        }
        Values::Positions(x, [n, _, t, e]) => {
            let x = x.reshape([n, t, e]).narrow(1, start, length);
            Values::Positions(x.reshape([n * length, e]), [n, 1, length, e])
        }
    }
}

/// The channels of maps in `groups` runs, interleaved: each pixel's row `[g, C/g]` transposed,
/// as channels-last pixels (the layout a next convolution reads). A permutation by reshapes,
/// linear, so exact to any order.
fn channel_shuffle<B: Backend>(x: Values<B>, groups: usize) -> Values<B> {
    let (x, dims @ [.., c]) = x.pixels();
    let rows = x.dims()[0];
    let shuffled = x.reshape([rows, groups, c / groups]).swap_dims(1, 2);
    Values::Pixels(shuffled.reshape([rows, c]), dims)
}

/// Each `block` × `block` square of pixels as one pixel ([`Op::SpaceToDepth`]), as channels-last
/// pixels: a pixel row of the output is the square's rows (i, j) in order, each its C channels.
/// A permutation by reshapes, linear, so exact to any order.
fn space_to_depth<B: Backend>(x: Values<B>, block: usize) -> Values<B> {
    let (x, [n, h, w, c]) = x.pixels();
    let [oh, ow] = [h / block, w / block];
    let squares = x
        .reshape([n * oh, block, ow, block * c])
        .swap_dims(1, 2)
        .reshape([n * oh * ow, block * block * c]);
    Values::Pixels(squares, [n, oh, ow, block * block * c])
}

/// `runs` equal runs of channels added ([`Op::SumRuns`]): each pixel's (sample's) row
/// `[r, C]` summed over r. A reshape and a sum, linear, so exact to any order.
fn sum_runs<B: Backend>(x: Values<B>, runs: usize) -> Values<B> {
    let summed = |rows: Tensor<B, 2>| {
        let [n, c] = rows.dims();
        rows.reshape([n, runs, c / runs])
            .sum_dim(1)
            .reshape([n, c / runs])
    };
    match x {
        Values::Flat(x) => Values::Flat(summed(x)),
        maps => {
            let (x, [n, h, w, c]) = maps.pixels();
            Values::Pixels(summed(x), [n, h, w, c / runs])
        }
    }
}

/// The softmax across `radix` paths of each of `cardinality` groups ([`Op::RadixSoftmax`]): a
/// sample's values channel-major as `[cardinality, radix, R]`, the radix axis moved last for
/// [`softmax`], then written radix-major, `[radix, cardinality, R]`, in the input's shape.
/// Permutations and a softmax, exact to any order.
fn radix_softmax<B: Backend>(x: Values<B>, radix: usize, cardinality: usize) -> Values<B> {
    let maps = match &x {
        Values::Flat(_) => None,
        Values::Maps(x) => Some(x.dims()),
        Values::Pixels(_, [n, h, w, c]) => Some([*n, *c, *h, *w]),
        Values::Positions(..) => {
            unreachable!("resolve refuses tokens and channels_last holds none")
        }
    };
    let x = x.flat();
    let [n, len] = x.dims();
    let scores = x
        .reshape([n, cardinality, radix, len / (cardinality * radix)])
        .swap_dims(2, 3);
    let weights = softmax(scores).permute([0, 3, 1, 2]).reshape([n, len]);
    match maps {
        None => Values::Flat(weights),
        Some(dims) => Values::Maps(weights.reshape(dims)),
    }
}

/// Values joined along their channels: features side by side, or maps as channels-last pixels
/// (the layout a next convolution reads). `torch.cat`'s backward is a slice, both linear, so
/// exact to any order.
fn concat<B: Backend>(parts: Vec<Values<B>>) -> Values<B> {
    if let Some(Values::Flat(_)) = parts.first() {
        return Values::Flat(Tensor::cat(
            parts.into_iter().map(Values::flat).collect(),
            1,
        ));
    }
    let (pixels, dims): (Vec<_>, Vec<_>) = parts.into_iter().map(Values::pixels).unzip();
    let [n, h, w, _] = dims[0];
    let c = dims.iter().map(|[.., c]| c).sum();
    Values::Pixels(Tensor::cat(pixels, 1), [n, h, w, c])
}

/// The sum of two values of one shape: in channels-last pixels where the first is (the layout
/// a convolution, batch norm and ReLU keep, which a next convolution reads), else as maps or
/// features.
fn sum<B: Backend>(a: Values<B>, b: Values<B>) -> Values<B> {
    match (a, b) {
        (Values::Flat(a), b) => Values::Flat(a + b.flat()),
        (Values::Pixels(a, dims), b) => Values::Pixels(a + b.pixels().0, dims),
        (Values::Positions(a, dims), b) => Values::Positions(a + b.tokens().0, dims),
        (a, b) => Values::Maps(a.maps() + b.maps()),
    }
}

/// The element-wise product of two values (of one shape: features, tokens), of maps a `[C, 1,
/// 1]` factor repeated over the other's positions ([`broadcast_rows`]) and a `[1, H, W]` one
/// over its channels (expanded), in channels-last pixels (the layout of a squeeze-and-excitation
/// block's depthwise convolution and 1×1 convolutions, which a next convolution reads). Each
/// factor's derivative is the other, a repetition's the sum of its copies: exact to any order.
fn product<B: Backend>(a: Values<B>, b: Values<B>) -> Values<B> {
    match a {
        Values::Flat(a) => return Values::Flat(a * b.flat()),
        Values::Positions(a, dims) => return Values::Positions(a * b.tokens().0, dims),
        _ => {}
    }
    let (a, b) = (a.pixels(), b.pixels());
    let positions = |[_, h, w, _]: [usize; 4]| h * w;
    let [n, h, w, _] = match positions(a.1) >= positions(b.1) {
        true => a.1,
        false => b.1,
    };
    let c = a.1[3].max(b.1[3]);
    let spread = |(x, dims @ [.., channels]): (Tensor<B, 2>, [usize; 4])| {
        let x = match positions(dims) == h * w {
            true => x,
            false => broadcast_rows(x, [n, h * w]),
        };
        match channels == c {
            true => x,
            false => x.expand([n * h * w, c]),
        }
    };
    Values::Pixels(spread(a) * spread(b), [n, h, w, c])
}

/// σ(x) = (1 + tanh(x/2))/2: exact to any order through tanh, and no overflow of e^{−x}.
fn sigmoid<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    (x.mul_scalar(0.5).tanh() + 1.0).mul_scalar(0.5)
}

/// x·σ(x).
fn silu<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    x.clone() * sigmoid(x)
}

/// x·(1 + erf(x/√2))/2, or its tanh approximation, composed of ops burn differentiates exactly:
/// burn's own `gelu` computes the erf form but its backward differentiates the tanh form (first
/// derivatives off by ~1e-4).
fn gelu<B: Backend>(x: Tensor<B, 2>, approximate: GeluApproximation) -> Tensor<B, 2> {
    let phi = match approximate {
        GeluApproximation::None => erf(x.clone().mul_scalar(std::f64::consts::FRAC_1_SQRT_2)),
        GeluApproximation::Tanh => {
            let cubic = x.clone() + x.clone().powi_scalar(3).mul_scalar(0.044715);
            let scale = (2.0 / std::f64::consts::PI).sqrt();
            cubic.mul_scalar(scale).tanh()
        }
    };
    (x.clone() + x * phi).mul_scalar(0.5)
}

/// erf(x), differentiated exactly to second order.
///
/// Why not burn's `erf` alone: its backward divides by √π with `div_scalar`, whose own backward
/// rounds the scalar to f32 (burn-autodiff 0.21), so second derivatives came out 5.4e-8 too
/// small, and a GELU net's H·v 1.2e-10 off PyTorch's. Here erf(x̄) + (x − x̄)·D(x), with
/// x̄ = x detached and D(x) = (2/√π)·e^{−x²} in ops whose derivatives are exact: x − x̄ is 0
/// with derivative 1, so the value is erf(x) and the derivative D(x). Under nested autodiff
/// (H·v) detaching leaves x̄ on the inner tape, where x − x̄ is 0 with derivative 0: the
/// derivative's own derivative is D'(x), and the inner tape differentiates erf(x̄) once, exactly.
fn erf<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let fixed = x.clone().detach();
    let slope = x
        .clone()
        .powi_scalar(2)
        .neg()
        .exp()
        .mul_scalar(2.0 / std::f64::consts::PI.sqrt());
    fixed.clone().erf() + (x - fixed) * slope
}

/// x where x > 0, α·(e^{min(x, 0)} − 1) elsewhere. The branch is chosen by a mask rather than
/// summed from ReLUs so that the derivative at x = 0 is PyTorch's, α (a bias-free convolution
/// over blank borders gives exact zeros); the clamp keeps the branch not taken finite (1 − t
/// would reach 0 for a large x), as its zero gradient would otherwise meet an infinite factor.
/// At x = 0, where ELU has no second derivative, this one is α (the left one); PyTorch's double
/// backward gives 0.
///
/// e^x − 1 as 2t/(1 − t), t = tanh(x/2): PyTorch takes `expm1`, which burn lacks, and e^x − 1
/// loses the digits of a small x (in f32, ELU(−1e−4) was 2.2e−4 off, now 6e−8).
fn elu<B: Backend>(x: Tensor<B, 2>, alpha: f64) -> Tensor<B, 2> {
    let t = x.clone().clamp_max(0.0).mul_scalar(0.5).tanh();
    let negative = t.clone().mul_scalar(2.0 * alpha) / (t.neg() + 1.0);
    let positive = x.clone().greater_elem(0.0);
    negative.mask_where(positive, x)
}

/// log(1 + e^{βx})/β, and x where βx > threshold, as `nn.Softplus` computes it: the clamp keeps
/// e^{βx} finite in the branch not taken (see [`elu`]). At βx = threshold both derivatives are
/// the soft branch's; PyTorch's first derivative is too, its double backward's is 0.
fn softplus<B: Backend>(x: Tensor<B, 2>, beta: f64, threshold: f64) -> Tensor<B, 2> {
    let z = x.clone().mul_scalar(beta);
    let linear = z.clone().greater_elem(threshold);
    // Times 1/β, not divided by β: burn's `div_scalar` differentiates with β rounded to f32.
    let soft = z
        .clamp_max(threshold)
        .exp()
        .log1p()
        .mul_scalar(beta.recip());
    soft.mask_where(linear, x)
}

/// x·tanh(softplus(x)) = x·w/(w + 2), w = eˣ(eˣ + 2): tanh(log(1 + eˣ)) in closed form, without
/// cancellation where eˣ is small. Past x = 20 the factor is 1 in f64 (and its derivative below
/// 1e-16), so the clamp keeps w finite and changes no digit.
fn mish<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let e = x.clone().clamp_max(20.0).exp();
    let w = e.clone() * (e + 2.0);
    x * w.clone() / (w + 2.0)
}

/// x clamped to [lo, hi], with PyTorch's derivative 0 at both ends (where a mask takes the
/// constant, not x).
fn hardtanh<B: Backend>(x: Tensor<B, 2>, lo: f64, hi: f64) -> Tensor<B, 2> {
    let (below, above) = (
        x.clone().lower_equal_elem(lo),
        x.clone().greater_equal_elem(hi),
    );
    x.mask_fill(below, lo).mask_fill(above, hi)
}

/// x/6 + 1/2 clamped to [0, 1], with PyTorch's derivative 0 at x = ±3. Between, ours is 1/6;
/// PyTorch 2.15's in float64 is 1/6 rounded to f32 (3e-8 off), and it has no double backward.
fn hardsigmoid<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let (below, above) = (
        x.clone().lower_equal_elem(-3.0),
        x.clone().greater_equal_elem(3.0),
    );
    (x.mul_scalar(1.0 / 6.0) + 0.5)
        .mask_fill(below, 0.0)
        .mask_fill(above, 1.0)
}

/// x·(x + 3)/6 between −3 and 3, 0 from −3 down, x from 3 up: at x = ±3 both derivatives are
/// the outer piece's, as PyTorch's are (0 and 1; second derivatives 0).
fn hardswish<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let (below, above) = (
        x.clone().lower_equal_elem(-3.0),
        x.clone().greater_equal_elem(3.0),
    );
    let middle = (x.clone() * (x.clone() + 3.0)).mul_scalar(1.0 / 6.0);
    middle.mask_fill(below, 0.0).mask_where(above, x)
}

/// x where x > 0, a·x elsewhere (PyTorch's derivative at 0 is a too), the slopes `a`
/// `[copies, K]`: K = 1 shared, or one per channel (the feature of flat values).
fn prelu<B: Backend>(x: Values<B>, a: Tensor<B, 2>) -> Values<B> {
    per_channel(x, a, |x, a| {
        let positive = x.clone().greater_elem(0.0);
        (x.clone() * a).mask_where(positive, x)
    })
}

/// `f(x, v)` on the values as a matrix of rows of channels (features) and the per-channel `v`
/// (`[copies, K]`, K = 1 or the channels) repeated over each sample's rows: a PReLU's slopes, a
/// scale's γ. Maps are taken as channels-last pixels, the layout a next convolution reads.
fn per_channel<B: Backend>(
    x: Values<B>,
    v: Tensor<B, 2>,
    f: impl Fn(Tensor<B, 2>, Tensor<B, 2>) -> Tensor<B, 2>,
) -> Values<B> {
    match x {
        Values::Flat(x) => {
            let n = x.dims()[0];
            Values::Flat(f(x, broadcast_rows(v, [n, 1])))
        }
        Values::Pixels(x, dims @ [n, h, w, _]) => {
            Values::Pixels(f(x, broadcast_rows(v, [n, h * w])), dims)
        }
        Values::Positions(x, dims @ [n, h, w, _]) => {
            Values::Positions(f(x, broadcast_rows(v, [n, h * w])), dims)
        }
        maps => {
            let (x, dims) = maps.pixels();
            per_channel(Values::Pixels(x, dims), v, f)
        }
    }
}

/// Eval-mode batch norm: γ·(x − μ)/√(σ² + ε) + β per channel, with the running mean μ and
/// variance σ² constants from the checkpoint (`[affine, bias]`: with γ, with β).
fn batch_norm<B: Backend>(
    net: &Sequential,
    layer: &Resolved,
    p: &mut Params<B>,
    x: Values<B>,
    eps: f64,
    [affine, bias]: [bool; 2],
) -> Values<B> {
    let channels = layer.input.channels();
    let gamma = affine.then(|| p.vector(channels));
    let beta = (affine && bias).then(|| p.vector(channels));
    let mean = net.buffer(&format!("{}.running_mean", layer.name), channels);
    let inv_std: Vec<f64> = net
        .buffer(&format!("{}.running_var", layer.name), channels)
        .iter()
        .map(|var| 1.0 / (var + eps).sqrt())
        .collect();
    let (device, dtype) = x.placement();
    let constant =
        |values: Vec<f64>| float_to_device::<B, _, 2>(values, [1, channels], &device, dtype);
    // γ and β are `[copies, C]` (one row, or one per sample): so is the scale.
    let (mean, inv_std) = (constant(mean), constant(inv_std));
    let scale = match gamma {
        Some(gamma) => gamma * inv_std,
        None => inv_std,
    };
    // Over `x`'s rows: n samples of `per_sample` rows each.
    let normalize = |x: Tensor<B, 2>, per_sample: usize| {
        let n = x.dims()[0] / per_sample;
        let rows = |t: Tensor<B, 2>| broadcast_rows(t, [n, per_sample]);
        let y = (x - mean.clone()) * rows(scale.clone());
        match &beta {
            Some(beta) => y + rows(beta.clone()),
            None => y,
        }
    };
    match x {
        Values::Flat(x) => Values::Flat(normalize(x, 1)),
        Values::Pixels(x, dims @ [_, h, w, _]) => Values::Pixels(normalize(x, h * w), dims),
        Values::Maps(x) => {
            let column = |t: Tensor<B, 2>| {
                let copies = t.dims()[0];
                t.reshape([copies, channels, 1, 1])
            };
            let y = (x - column(mean)) * column(scale);
            Values::Maps(match beta {
                Some(beta) => y + column(beta),
                None => y,
            })
        }
        Values::Positions(..) => unreachable!("not position-wise (checked by resolve)"),
    }
}

/// Each row of `x` to mean 0 and variance 1: (x − μ)/√(σ² + ε) with the row's biased variance
/// σ², as PyTorch's layer and group norm compute it; each op differentiates exactly to any order
/// (the power's exponents −0.5, −1.5, −2.5 are exact in f32). The reductions run along rows,
/// the contiguous axis, which burn-cubecl's reduce kernels share among a cube's threads: a row
/// of 72,200 values is right on lavapipe, whose loops stop at 65,535 iterations
/// (`layer_norm_over_long_rows_on_gpu_matches_cpu`).
fn normalize_rows<B: Backend>(x: Tensor<B, 2>, eps: f64) -> Tensor<B, 2> {
    root_mean_square_normalize(x.clone() - x.mean_dim(1), eps)
}

/// A convolution's `[copies, taps, out]` weights with each filter (a column) standardized as
/// [`Standardize`] says, then times `scale` and its `gain` (`[copies, out]`) if any, as timm's
/// `F.batch_norm` of the filters with weight `gain · scale`. The filters are transposed into
/// rows, the contiguous axis [`normalize_rows`] reduces along.
fn standardized_filters<B: Backend>(
    w: Tensor<B, 3>,
    how: Standardize,
    gain: Option<Tensor<B, 2>>,
) -> Tensor<B, 3> {
    let [copies, taps, out] = w.dims();
    let filters = normalize_rows(w.swap_dims(1, 2).reshape([copies * out, taps]), how.eps);
    let filters = match gain {
        Some(gain) => filters * (gain * how.scale).reshape([copies * out, 1]),
        None if how.scale == 1.0 => filters,
        None => filters * how.scale,
    };
    filters.reshape([copies, out, taps]).swap_dims(1, 2)
}

/// Each row x divided by its root mean square, x/√(mean(x²) + ε).
fn root_mean_square_normalize<B: Backend>(x: Tensor<B, 2>, eps: f64) -> Tensor<B, 2> {
    let mean_square = (x.clone() * x.clone()).mean_dim(1);
    x * (mean_square + eps).powf_scalar(-0.5)
}

/// Global response norm ([`Op::GlobalResponseNorm`]) of the rows `[n·P, C]` of n samples of P
/// positions each, with γ and β `[copies, C]`. A channel that is 0 at every position has norm
/// 0 and no gradient through its norm (PyTorch's too), not the NaN of √'s derivative at 0;
/// there the norm has no second derivative, and ours is finite where PyTorch's is NaN.
fn global_response_norm<B: Backend>(
    x: Tensor<B, 2>,
    n: usize,
    gamma: Tensor<B, 2>,
    beta: Tensor<B, 2>,
    eps: f64,
) -> Tensor<B, 2> {
    let [rows, c] = x.dims();
    let positions = rows / n;
    let samples = x.clone().reshape([n, positions, c]);
    let squares = (samples.clone() * samples.clone()).sum_dim(1);
    let zero = squares.clone().equal_elem(0.0);
    let norms = squares
        .mask_fill(zero.clone(), 1.0)
        .sqrt()
        .mask_fill(zero, 0.0);
    let relative = norms.clone() / (norms.mean_dim(2) + eps);
    let response = (samples * relative).reshape([rows, c]);
    x + broadcast_rows(beta, [n, positions]) + broadcast_rows(gamma, [n, positions]) * response
}

/// Layer norm: each sample's trailing axes `shape` standardized (`centred`; else divided by
/// their root mean square, RMS norm), then γ·x̂ + β elementwise over them (`[affine, bias]`). ε
/// `None` is the machine epsilon of the values' precision, as PyTorch's RMS norm takes it. The
/// maps are in PyTorch's `[N, C, H, W]` order, in which `shape`'s values of a sample are
/// contiguous: rows of `[N·R, L]`, R = the values per sample / L.
fn layer_norm<B: Backend>(
    shape: &[usize],
    p: &mut Params<B>,
    x: Values<B>,
    eps: Option<f64>,
    centred: bool,
    [affine, bias]: [bool; 2],
) -> Values<B> {
    let len: usize = shape.iter().product();
    // The rows to standardize, the samples they come from, and the layout to put them back in.
    type Back<B> = Box<dyn FnOnce(Tensor<B, 2>) -> Values<B>>;
    let (x, n, back): (_, _, Back<B>) = match x {
        Values::Flat(x) => {
            let n = x.dims()[0];
            (x, n, Box::new(Values::Flat))
        }
        // A position's channels, or tokens normalized over `[E]` or `[T, E]`.
        Values::Positions(x, dims) => {
            let [rows, c] = x.dims();
            let back = move |y: Tensor<B, 2>| Values::Positions(y.reshape([rows, c]), dims);
            (x.reshape([rows * c / len, len]), dims[0], Box::new(back))
        }
        maps => {
            let maps = maps.maps();
            let dims = maps.dims();
            let rows = maps.reshape([dims.iter().product::<usize>() / len, len]);
            (
                rows,
                dims[0],
                Box::new(move |y| Values::Maps(y.reshape(dims))),
            )
        }
    };
    let per_sample = x.dims()[0] / n;
    let eps = eps.unwrap_or_else(|| machine_epsilon(x.dtype()));
    let mut y = match centred {
        true => normalize_rows(x, eps),
        false => root_mean_square_normalize(x, eps),
    };
    if affine {
        // γ and β are `[copies, L]` (one row, or one per sample), as for batch norm.
        let row = |t: Tensor<B, 2>| broadcast_rows(t, [n, per_sample]);
        y = y * row(p.vector(len));
        if bias {
            y = y + row(p.vector(len));
        }
    }
    back(y)
}

/// The spacing of floating-point numbers at 1 in `dtype`: `torch.finfo(dtype).eps`.
fn machine_epsilon(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::EPSILON,
        DType::F32 => f32::EPSILON.into(),
        other => unreachable!("networks compute in f32 or f64, not {other:?}"),
    }
}

/// Group norm: each sample's channels in `groups` runs of C/groups, each standardized over its
/// channels and positions, then γ·x̂ + β per channel (`[affine, bias]`: with γ, with β).
fn group_norm<B: Backend>(
    input: Shape,
    groups: usize,
    p: &mut Params<B>,
    x: Values<B>,
    eps: f64,
    [affine, bias]: [bool; 2],
) -> Values<B> {
    let channels = input.channels();
    let per_group = input.len() / groups;
    let (x, dims) = match x {
        Values::Flat(x) => {
            let [n, c] = x.dims();
            (x, [n, c, 1, 1])
        }
        maps => {
            let maps = maps.maps();
            let dims = maps.dims();
            (maps.flatten(1, 3), dims)
        }
    };
    let [n, ..] = dims;
    let y = normalize_rows(x.reshape([n * groups, per_group]), eps).reshape(dims);
    let y = match affine {
        false => y,
        true => {
            // `[copies, C]` → `[copies, C, 1, 1]`, against `[N, C, H, W]`.
            let column = |t: Tensor<B, 2>| {
                let copies = t.dims()[0];
                t.reshape([copies, channels, 1, 1])
            };
            let y = y * column(p.vector(channels));
            match bias {
                true => y + column(p.vector(channels)),
                false => y,
            }
        }
    };
    match input {
        Shape::Maps { .. } => Values::Maps(y),
        _ => Values::Flat(y.reshape([n, channels])),
    }
}

/// A pooling or convolution window's geometry (a pooling stride defaults to the kernel, as in
/// `torch.nn`) and the output size it gives.
struct Window {
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    output: [usize; 2],
}

impl Window {
    fn new(kernel: Size2, stride: Option<Size2>, padding: Size2, output: Shape) -> Self {
        let Shape::Maps { h, w, .. } = output else {
            unreachable!("pooling outputs maps")
        };
        Window {
            kernel: kernel.hw(),
            stride: stride.unwrap_or(kernel).hw(),
            padding: padding.hw(),
            output: [h, w],
        }
    }

    /// Whether every output is the one input pixel under it (kernel 1, stride 1, no padding):
    /// an average pooling that is the identity, as VGG's for CIFAR-10 (`AvgPool2d(1, 1)`), then
    /// passes its input on, with no averaging matrices to upload and no products on the tape.
    fn is_identity(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Where output `i`'s window starts along `axis`, negative in the padding.
    fn start(&self, axis: usize, i: usize) -> isize {
        (i * self.stride[axis]) as isize - self.padding[axis] as isize
    }

    /// The input indices along `axis` (of length `len`) of output `i`'s window, the padding
    /// cut off.
    fn span(&self, axis: usize, i: usize, len: usize) -> std::ops::Range<usize> {
        let start = self.start(axis, i);
        let end = (start + self.kernel[axis] as isize).min(len as isize);
        start.max(0) as usize..end as usize
    }

    /// For each output (row-major), the positions `r·w + s` in an h×w map of its window's
    /// slots, row-major, a slot in the padding taking the window's first valid position: the
    /// candidates [`max_pool`] compares. Shapes only, so it is the same for every sample.
    fn candidates(&self, h: usize, w: usize) -> Vec<i64> {
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        // Index `k` along `axis` of output `i`'s window, if it is inside the `valid` span.
        let slot = |axis, i, k: usize, valid: &std::ops::Range<usize>| {
            usize::try_from(self.start(axis, i) + k as isize)
                .ok()
                .filter(|p| valid.contains(p))
        };
        let mut at = Vec::with_capacity(oh * ow * kh * kw);
        for i in 0..oh {
            for j in 0..ow {
                let (rows, cols) = (self.span(0, i, h), self.span(1, j, w));
                let first = rows.start * w + cols.start;
                for ki in 0..kh {
                    for kj in 0..kw {
                        at.push(match (slot(0, i, ki, &rows), slot(1, j, kj, &cols)) {
                            (Some(r), Some(s)) => r * w + s,
                            _ => first,
                        } as i64);
                    }
                }
            }
        }
        at
    }

    /// The `[len, outputs]` matrix averaging each window along `axis`: dividing by what the
    /// window covers of the padded input, padding included (`count_padding`, PyTorch's
    /// `count_include_pad=True`: the whole kernel but for a last window cut short by
    /// `ceil_mode`), or of the input alone. PyTorch's divisor is their product over the axes.
    fn averaging(&self, axis: usize, len: usize, count_padding: bool) -> Averaging {
        Averaging::new(len, self.output[axis], |i| {
            let span = self.span(axis, i, len);
            let covered = match count_padding {
                true => {
                    let start = self.start(axis, i);
                    let end = (start + self.kernel[axis] as isize)
                        .min((len + self.padding[axis]) as isize);
                    (end - start) as usize
                }
                false => span.len(),
            };
            let weight = 1.0 / covered as f64;
            span.map(move |k| (k, weight))
        })
    }
}

/// Adaptive average pooling along one axis: output i averages inputs ⌊i·n/m⌋ .. ⌈(i+1)·n/m⌉.
fn adaptive_averaging(len: usize, outputs: usize) -> Averaging {
    Averaging::new(len, outputs, |i| {
        let span = i * len / outputs..((i + 1) * len).div_ceil(outputs);
        let weight = 1.0 / span.len() as f64;
        span.map(move |k| (k, weight))
    })
}

/// A blur pooling ([`Op::BlurPool2d`]) along one axis of `len` inputs: output i weighs padded
/// input i·stride + j by the binomial b_j = C(k − 1, j)/2^(k−1), a padded input outside the
/// input's span being the input `mode` puts there, or none (zeros).
fn blurring(
    len: usize,
    outputs: usize,
    [kernel, stride, padding]: [usize; 3],
    mode: PadMode,
) -> Averaging {
    // C(k − 1, j) = C(k − 1, j − 1)·(k − j)/j, exact in f64 (integers), then over 2^(k−1).
    let mut binomial = vec![1.0; kernel];
    for j in 1..kernel {
        binomial[j] = binomial[j - 1] * (kernel - j) as f64 / j as f64;
    }
    let total = 2f64.powi(kernel as i32 - 1);
    binomial.iter_mut().for_each(|b| *b /= total);
    let (len, last) = (len as isize, len as isize - 1);
    let input = move |padded: usize| {
        let at = padded as isize - padding as isize;
        let within = match mode {
            _ if (0..len).contains(&at) => at,
            PadMode::Constant => return None,
            PadMode::Reflect => last - (last - at.abs()).abs(),
            PadMode::Replicate => at.clamp(0, last),
            PadMode::Circular => at.rem_euclid(len),
        };
        Some(within as usize)
    };
    Averaging::new(len as usize, outputs, |i| {
        let binomial = binomial.clone();
        (0..kernel).filter_map(move |j| Some((input(i * stride + j)?, binomial[j])))
    })
}

/// A `[len, outputs]` matrix whose column i holds the weights of output i's inputs.
struct Averaging {
    matrix: Vec<f64>,
    shape: [usize; 2],
}

impl Averaging {
    /// From each output's `(input, weight)` pairs; an input named twice (a reflection's) adds
    /// its weights.
    fn new<Taps: IntoIterator<Item = (usize, f64)>>(
        len: usize,
        outputs: usize,
        taps: impl Fn(usize) -> Taps,
    ) -> Self {
        let mut matrix = vec![0.0; len * outputs];
        for i in 0..outputs {
            for (k, weight) in taps(i) {
                matrix[k * outputs + i] += weight;
            }
        }
        Averaging {
            matrix,
            shape: [len, outputs],
        }
    }
}

/// Averages over 2-D windows that are products of row and column windows, as two matrix
/// products (the pooling is linear, so this is exact to any order): columns, then rows.
fn separable<B: Backend>(x: Tensor<B, 4>, rows: Averaging, cols: Averaging) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let [oh, ow] = [rows.shape[1], cols.shape[1]];
    let matrix =
        |a: Averaging| float_to_device::<B, _, 2>(a.matrix, a.shape, &x.device(), x.dtype());
    let (rows, cols) = (matrix(rows), matrix(cols));
    x.reshape([n * c * h, w])
        .matmul(cols)
        .reshape([n, c, h, ow])
        .swap_dims(2, 3)
        .reshape([n * c * ow, h])
        .matmul(rows)
        .reshape([n, c, ow, oh])
        .swap_dims(2, 3)
}

/// Max-pooling of channels-last maps `[n, h, w, C]`, given and returned as pixel matrices
/// (`[n·h·w, C]` in, `[n·oh·ow, C]` out), so a convolution → ReLU → pool → convolution chain never
/// transposes. A gather at each window's maximum, located on the device: `argmax` over the
/// window candidates ([`Window::candidates`]) of the detached values takes the first of equal
/// maxima in row-major window order, as PyTorch does (burn-flex and CubeCL both return the
/// lowest index). Padding never wins, as in PyTorch's −∞: a padded slot repeats the window's
/// first valid position, which it can only tie. Only the gather is on the tape: its backward
/// is a scatter and the scatter's a gather.
fn max_pool<B: Backend>(
    pixels: Tensor<B, 2>,
    [n, h, w, c]: [usize; 4],
    window: Window,
) -> Tensor<B, 2> {
    let [oh, ow] = window.output;
    let size = window.kernel[0] * window.kernel[1];
    let device = pixels.device();
    // One table: the candidates, then where each output's run of them starts.
    let slots = oh * ow * size;
    let mut table = window.candidates(h, w);
    table.extend((0..slots).step_by(size).map(|first| first as i64));
    let table = resident_index::<B>("max-pool candidates", table, &device, <[i64]>::to_vec);
    let (candidates, first_slots) = (
        table.clone().narrow(0, 0, slots),
        table.narrow(0, slots, oh * ow),
    );
    let maps = pixels.reshape([n, h * w, c]);
    // For each (sample, output, channel), the slot of its window's first maximum …
    let best = maps
        .clone()
        .detach()
        .select(1, candidates.clone())
        .reshape([n, oh * ow, size, c])
        .argmax(2);
    // … and that slot's pixel: candidates[output·size + slot].
    let at = candidates
        .select(
            0,
            (best + first_slots.reshape([1, oh * ow, 1, 1])).flatten(0, 3),
        )
        .reshape([n, oh * ow, c]);
    maps.gather(1, at).reshape([n * oh * ow, c])
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::Tensor;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::{blurring, max_pool, Window};
    use crate::net::tests::picks;
    use crate::sequential::PadMode;

    /// Blur pooling along an axis of 3 inputs, 3 taps [1, 2, 1]/4 at stride 1 with one padded
    /// input on each side: each output's weights on inputs 0, 1, 2, where `F.pad`'s modes put
    /// the input before the first (after the last) by hand.
    #[test]
    fn blurring_weighs_the_inputs_each_padding_mode_reads() {
        let cases = [
            (
                PadMode::Reflect,
                [[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.0, 0.5, 0.5]],
            ),
            (
                PadMode::Constant,
                [[0.5, 0.25, 0.0], [0.25, 0.5, 0.25], [0.0, 0.25, 0.5]],
            ),
            (
                PadMode::Replicate,
                [[0.75, 0.25, 0.0], [0.25, 0.5, 0.25], [0.0, 0.25, 0.75]],
            ),
            (
                PadMode::Circular,
                [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]],
            ),
        ];
        for (mode, outputs) in cases {
            let blur = blurring(3, 3, [3, 1, 1], mode);
            assert_eq!(blur.shape, [3, 3]);
            for (i, weights) in outputs.iter().enumerate() {
                let column: Vec<f64> = (0..3).map(|k| blur.matrix[k * 3 + i]).collect();
                assert_eq!(column, weights, "{mode:?}, output {i}");
            }
        }
        // 5 taps [1, 4, 6, 4, 1]/16 at stride 2 with two reflected inputs each side of 4.
        let blur = blurring(4, 2, [5, 2, 2], PadMode::Reflect);
        let column = |i: usize| {
            (0..4)
                .map(|k| blur.matrix[k * 2 + i] * 16.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (column(0), column(1)),
            (vec![6.0, 8.0, 2.0, 0.0], vec![1.0, 4.0, 7.0, 4.0])
        );
    }

    /// PyTorch's rule on the host: per output, the first maximum of its window's valid inputs in
    /// row-major order; the pooled values and how often each input is picked.
    fn reference(maps: &[f32], [h, w]: [usize; 2], window: &Window) -> (Vec<f32>, Vec<f32>) {
        let [oh, ow] = window.output;
        let (mut maxima, mut picks) = (Vec::new(), vec![0.0; maps.len()]);
        for (m, map) in maps.chunks_exact(h * w).enumerate() {
            for i in 0..oh {
                for j in 0..ow {
                    let mut best: Option<(f32, usize)> = None;
                    for r in window.span(0, i, h) {
                        for s in window.span(1, j, w) {
                            if best.is_none_or(|(v, _)| map[r * w + s] > v) {
                                best = Some((map[r * w + s], r * w + s));
                            }
                        }
                    }
                    let (value, at) = best.expect("a window has a valid input");
                    maxima.push(value);
                    picks[m * h * w + at] += 1.0;
                }
            }
        }
        (maxima, picks)
    }

    /// Maps of small integers, ties everywhere and negative values beside the padding, pooled
    /// over windows that tile, overlap and overhang: values and picks as PyTorch's rule.
    pub(super) fn pooling_takes_the_first_maximum<B: AutodiffBackend>(device: &B::Device) {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let [n, c, h, w] = [2, 3, 7, 6];
        let maps: Vec<f32> = (0..n * c * h * w)
            .map(|_| rng.random_range(-2..=1) as f32)
            .collect();
        for (kernel, stride, padding) in [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 1), (3, 3, 0)] {
            let window = Window {
                kernel: [kernel, kernel],
                stride: [stride, stride],
                padding: [padding, padding],
                output: [h, w].map(|len| (len + 2 * padding - kernel) / stride + 1),
            };
            let want = reference(&maps, [h, w], &window);
            // NCHW in and out, as the reference; channels-last pixels inside.
            let pool = |x: Tensor<B, 4>| {
                let pixels = x.permute([0, 2, 3, 1]).reshape([n * h * w, c]);
                let [oh, ow] = window.output;
                max_pool(pixels, [n, h, w, c], window)
                    .reshape([n, oh, ow, c])
                    .permute([0, 3, 1, 2])
            };
            let got = picks::<B, 4>(pool, maps.clone(), [n, c, h, w], device);
            assert_eq!(
                got, want,
                "kernel {kernel}, stride {stride}, padding {padding}"
            );
        }
    }

    /// Zeros land on the sides asked for: maps `[n, c, h, w]` = `[2, 2, 2, 3]` padded by one row
    /// above, two below and two columns on the left, against the padded maps built by hand.
    #[test]
    fn pad2d_puts_its_zeros_on_the_sides_asked_for() {
        let [n, c, h, w] = [2, 2, 2, 3];
        let maps: Vec<f32> = (1..=n * c * h * w).map(|v| v as f32).collect();
        let x = Tensor::<crate::Cpu, 4>::from_data(
            burn::tensor::TensorData::new(maps.clone(), [n, c, h, w]),
            &Default::default(),
        );
        let pixels = x.permute([0, 2, 3, 1]).reshape([n * h * w, c]);
        let (ph, pw) = (h + 3, w + 2);
        let got = match super::pad2d(super::Values::Pixels(pixels, [n, h, w, c]), [1, 2], [2, 0]) {
            super::Values::Pixels(x, dims) => {
                assert_eq!(dims, [n, ph, pw, c]);
                let x = x.reshape([n, ph, pw, c]).permute([0, 3, 1, 2]);
                x.into_data().to_vec::<f32>().expect("f32 maps")
            }
            _ => unreachable!("pixels in, pixels out"),
        };
        let mut want = vec![0.0; n * c * ph * pw];
        for map in 0..n * c {
            for i in 0..h {
                for j in 0..w {
                    want[(map * ph + i + 1) * pw + j + 2] = maps[(map * h + i) * w + j];
                }
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn max_pooling_takes_the_first_maximum() {
        pooling_takes_the_first_maximum::<Autodiff<crate::Cpu>>(&Default::default());
    }

    /// The activations' values and first derivatives where PyTorch 2.15 (float64) gives them,
    /// among them its one-sided choices at ELU's x = 0 (α), at softplus's threshold (the soft
    /// branch), at the hard functions' corners (the outer piece) and PReLU's 0 (the slope):
    /// a bias-free convolution over blank borders gives exact zeros.
    #[test]
    fn activations_match_pytorch_at_their_branch_points() {
        use super::GeluApproximation;
        use super::{elu, gelu, hardsigmoid, hardswish, hardtanh, mish, silu, softplus};
        type Ad = Autodiff<crate::Cpu>;
        type Map = dyn Fn(Tensor<Ad, 2>) -> Tensor<Ad, 2>;
        /// Name, function, x, PyTorch's values and first derivatives at x.
        type Case<'a> = (&'a str, &'a Map, [f64; 4], [f64; 4], [f64; 4]);
        let x = [0.0, -1.0, 2.0, 3.0];
        fn f64s(values: Vec<f64>, shape: [usize; 2]) -> Tensor<Ad, 2> {
            let data = burn::tensor::TensorData::new(values, shape);
            Tensor::from_data(data, (&Default::default(), burn::tensor::DType::F64))
        }
        let prelu = |x| match super::prelu(super::Values::Flat(x), f64s(vec![0.25], [1, 1])) {
            super::Values::Flat(y) => y,
            _ => unreachable!("flat in, flat out"),
        };
        #[rustfmt::skip]
        let cases: [Case; 11] = [
            ("elu(0.7)", &|x| elu(x, 0.7), x,
             [0.0, -0.44248439117999033, 2.0, 3.0], [0.7, 0.2575156088200096, 1.0, 1.0]),
            ("softplus(2, 4)", &|x| softplus(x, 2.0, 4.0), x,
             [0.34657359027997264, 0.06346400552148625, 2.0090749639589047, 3.0],
             [0.5, 0.11920292202211755, 0.9820137900379085, 1.0]),
            ("gelu", &|x| gelu(x, GeluApproximation::None), x,
             [0.0, -0.15865525393145702, 1.9544997361036416, 2.99595030590511],
             [0.5, -0.08331547058768635, 1.085231801078197, 1.011945647204184]),
            ("gelu tanh", &|x| gelu(x, GeluApproximation::Tanh), x,
             [0.0, -0.15880800939172324, 1.954597694087775, 2.996362607918227],
             [0.5, -0.08296408384578252, 1.0860992566236183, 1.0115841666309695]),
            ("silu", &silu, x,
             [0.0, -0.2689414213699951, 1.7615941559557646, 2.8577223804672998],
             [0.5, 0.07232948812851325, 1.0907842487848955, 1.0881041060151693]),
            ("mish", &mish, [-30.0, -1.0, 0.0, 25.0],
             [-2.807286890651921e-12, -0.30340146137410895, 0.0, 25.0],
             [-2.713710660963392e-12, 0.059216755877395, 0.6, 1.0]),
            ("hardtanh(-0.2, 0.3)", &|x| hardtanh(x, -0.2, 0.3), [-0.2, 0.3, 0.1, -1.0],
             [-0.2, 0.3, 0.1, -0.2], [0.0, 0.0, 1.0, 0.0]),
            ("relu6", &|x| hardtanh(x, 0.0, 6.0), [0.0, 6.0, 3.0, 7.0],
             [0.0, 6.0, 3.0, 6.0], [0.0, 0.0, 1.0, 0.0]),
            // PyTorch's derivative between is 1/6 rounded to f32: 0.1666666716337204.
            ("hardsigmoid", &hardsigmoid, [-3.0, 3.0, 0.0, 4.0],
             [0.0, 1.0, 0.5, 1.0], [0.0, 0.0, 1.0 / 6.0, 0.0]),
            ("hardswish", &hardswish, [-3.0, 3.0, -4.0, 1.0],
             [0.0, 3.0, 0.0, 0.6666666666666666], [0.0, 1.0, 0.0, 0.8333333333333333]),
            ("prelu(0.25)", &prelu, [0.0, -2.0, 3.0, -0.5],
             [0.0, -0.5, 3.0, -0.125], [0.25, 0.25, 1.0, 0.25]),
        ];
        for (name, f, x, values, derivatives) in cases {
            let x = f64s(x.to_vec(), [1, 4]).require_grad();
            let y = f(x.clone());
            let grads = y.clone().sum().backward();
            let got = |t: Tensor<crate::Cpu, 2>| t.into_data().to_vec::<f64>().unwrap();
            // Relative: mish(−30) is −2.8e-12.
            let close = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(a, b)| a == b || (a - b).abs() <= 2e-15 * b.abs())
            };
            let (y, g) = (got(y.inner()), got(x.grad(&grads).unwrap()));
            assert!(
                close(&y, &values),
                "{name}: values {y:?}, PyTorch's {values:?}"
            );
            assert!(
                close(&g, &derivatives),
                "{name}: derivatives {g:?}, PyTorch's {derivatives:?}"
            );
        }
    }

    /// erf's value (burn's, and C's to 2e-16), first and second derivative under nested
    /// autodiff (as in H·v) against the closed forms D(x) = (2/√π)·e^{−x²} and D'(x) = −2x·D(x).
    #[test]
    fn erf_is_differentiated_exactly_to_second_order() {
        type Inner = Autodiff<crate::Cpu>;
        type Outer = Autodiff<Inner>;
        let xs: [f64; 6] = [-1.3, -0.2, 0.0, 0.4, 1.1, 3.0];
        // Python's math.erf (C's erf) at xs.
        let python_erf = [
            -0.9340079449406524,
            -0.22270258921047847,
            0.0,
            0.42839235504666845,
            0.8802050695740817,
            0.9999779095030014,
        ];
        let data = burn::tensor::TensorData::new(xs.to_vec(), [1, xs.len()]);
        let device = Default::default();
        let inner =
            Tensor::<Inner, 2>::from_data(data, (&device, burn::tensor::DType::F64)).require_grad();
        let outer = Tensor::<Outer, 2>::from_inner(inner.clone()).require_grad();
        let y = super::erf(outer.clone());
        let first = outer.grad(&y.clone().sum().backward()).unwrap();
        let second = inner.grad(&first.clone().sum().backward()).unwrap();
        let host = |t: Tensor<crate::Cpu, 2>| t.into_data().to_vec::<f64>().unwrap();
        let (y, first, second) = (host(y.inner().inner()), host(first.inner()), host(second));
        for (i, x) in xs.iter().enumerate() {
            let d = 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp();
            let close = |a: f64, b: f64| (a - b).abs() <= 2e-16 * b.abs().max(1e-300);
            assert_eq!(y[i], erf_reference(*x), "erf({x}): burn's value, unchanged");
            assert!((y[i] - python_erf[i]).abs() <= 2e-16, "erf({x}) = {}", y[i]);
            assert!(close(first[i], d), "erf'({x}) = {}, not {d}", first[i]);
            assert!(close(second[i], -2.0 * x * d), "erf''({x}) = {}", second[i]);
        }
    }

    /// erf of one value through burn's own op, as the forward computes it.
    fn erf_reference(x: f64) -> f64 {
        let data = burn::tensor::TensorData::new(vec![x], [1]);
        let t = Tensor::<crate::Cpu, 1>::from_data(
            data,
            (&Default::default(), burn::tensor::DType::F64),
        );
        t.erf().into_data().to_vec::<f64>().unwrap()[0]
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn max_pooling_takes_the_first_maximum_on_gpu() {
        pooling_takes_the_first_maximum::<Autodiff<crate::Gpu>>(&Default::default());
    }
}
