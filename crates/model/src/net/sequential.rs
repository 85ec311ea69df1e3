//! The forward pass of a [`Sequential`] net, in ops that burn 0.21 differentiates exactly to
//! second order: convolution is im2col + a matrix product ([`conv`]), max-pooling a gather at
//! maxima located on the host, average pooling two matrix products, batch norm an affine map
//! with constant statistics, sigmoid through tanh. (burn's own pooling ops and `nn::Linear`
//! panic under nested autodiff.)

use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::{int_tensor, Params};
use crate::sequential::{Op, Resolved, Sequential, Shape, Size2};

mod conv;

/// Activations between layers: NCHW maps, channels-last pixels or `[N, F]` features.
enum Values<B: Backend> {
    Maps(Tensor<B, 4>),
    /// Maps `[n, h, w, C]` as the pixel matrix `[n·h·w, C]`, what convolutions read and write.
    /// Element-wise layers and batch norm keep this layout, so convolution → ReLU → convolution
    /// never transposes; other layers take NCHW maps.
    Pixels(Tensor<B, 2>, [usize; 4]),
    Flat(Tensor<B, 2>),
}

impl<B: Backend> Values<B> {
    fn maps(self) -> Tensor<B, 4> {
        match self {
            Values::Maps(x) => x,
            Values::Pixels(x, [n, h, w, c]) => x.reshape([n, h, w, c]).permute([0, 3, 1, 2]),
            Values::Flat(_) => unreachable!("shapes are checked by Sequential::resolve"),
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

    /// Features `[N, F]`, maps flattened channels-first as PyTorch does.
    fn flat(self) -> Tensor<B, 2> {
        match self {
            Values::Flat(x) => x,
            maps => maps.maps().flatten(1, 3),
        }
    }

    /// An element-wise map, applied to the values as a matrix.
    fn elementwise(self, f: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>) -> Self {
        match self {
            Values::Flat(x) => Values::Flat(f(x)),
            Values::Pixels(x, dims) => Values::Pixels(f(x), dims),
            Values::Maps(x) => {
                let dims = x.dims();
                Values::Maps(f(x.flatten(1, 3)).reshape(dims))
            }
        }
    }
}

/// Class scores `[N, classes]` of `net` for inputs `x` (`[N, F]`, images flattened
/// channels-first), parameters read from `p` in `state_dict` order.
pub(super) fn logits<B: Backend>(
    net: &Sequential,
    mut p: Params<B>,
    x: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let layers = net
        .resolve()
        .expect("a validated spec (ArchSpec::validate)");
    let n = x.dims()[0];
    let mut values = match layers[0].input {
        Shape::Maps { c, h, w } => Values::Maps(x.reshape([n, c, h, w])),
        Shape::Flat(_) => Values::Flat(x),
    };
    for layer in &layers {
        values = forward(net, layer, &mut p, values);
    }
    values.flat()
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
            bias,
        } => {
            let Shape::Maps { c, .. } = layer.input else {
                unreachable!("checked by resolve")
            };
            let [kh, kw] = kernel.hw();
            let w = p.next([out, c, kh, kw]);
            let b = bias.then(|| p.next([out]));
            let window = Window::new(kernel, Some(stride), padding, layer.output);
            let (pixels, dims) = x.pixels();
            let y = conv::conv2d(pixels, dims, w, b, &window);
            let [n, _, _, _] = dims;
            let [oh, ow] = window.output;
            Values::Pixels(y, [n, oh, ow, out])
        }
        Op::Linear { out, bias } => {
            let Shape::Flat(inputs) = layer.input else {
                unreachable!("checked by resolve")
            };
            let w = p.next([out, inputs]);
            let y = x.flat().matmul(w.transpose());
            Values::Flat(match bias {
                true => y + p.next::<1>([out]).unsqueeze_dim(0),
                false => y,
            })
        }
        Op::Maxpool2d {
            kernel,
            stride,
            padding,
        } => Values::Maps(max_pool(
            x.maps(),
            Window::new(kernel, stride, padding, layer.output),
        )),
        Op::Avgpool2d {
            kernel,
            stride,
            padding,
        } => {
            let window = Window::new(kernel, stride, padding, layer.output);
            let x = x.maps();
            let [_, _, h, w] = x.dims();
            Values::Maps(separable(x, window.averaging(0, h), window.averaging(1, w)))
        }
        Op::AdaptiveAvgpool2d { output } => {
            let x = x.maps();
            let [_, _, h, w] = x.dims();
            let [oh, ow] = output.hw();
            Values::Maps(separable(
                x,
                adaptive_averaging(h, oh),
                adaptive_averaging(w, ow),
            ))
        }
        Op::Flatten => Values::Flat(x.flat()),
        Op::Relu => x.elementwise(relu),
        Op::LeakyRelu { negative_slope } => {
            x.elementwise(|x| relu(x.clone()) - relu(x.neg()).mul_scalar(negative_slope))
        }
        Op::Tanh => x.elementwise(Tensor::tanh),
        // σ(x) = (1 + tanh(x/2))/2: exact to any order through tanh, and no overflow of e^{−x}.
        Op::Sigmoid => x.elementwise(|x| (x.mul_scalar(0.5).tanh() + 1.0).mul_scalar(0.5)),
        Op::Dropout { .. } => x,
        Op::Batchnorm1d { eps } | Op::Batchnorm2d { eps } => batch_norm(net, layer, p, x, eps),
        Op::Group { .. } => unreachable!("groups are flattened by resolve"),
    }
}

/// Eval-mode batch norm: γ·(x − μ)/√(σ² + ε) + β per channel, with the running mean μ and
/// variance σ² constants from the checkpoint.
fn batch_norm<B: Backend>(
    net: &Sequential,
    layer: &Resolved,
    p: &mut Params<B>,
    x: Values<B>,
    eps: f64,
) -> Values<B> {
    let channels = match layer.input {
        Shape::Maps { c, .. } => c,
        Shape::Flat(f) => f,
    };
    let gamma = p.next([channels]);
    let beta = p.next([channels]);
    let mean = net.buffer(&format!("{}.running_mean", layer.name), channels);
    let inv_std: Vec<f64> = net
        .buffer(&format!("{}.running_var", layer.name), channels)
        .iter()
        .map(|var| 1.0 / (var + eps).sqrt())
        .collect();
    let (device, dtype) = (gamma.device(), gamma.dtype());
    let constant = |values: Vec<f64>| {
        Tensor::<B, 1>::from_data(TensorData::new(values, [channels]), (&device, dtype))
    };
    let (mean, scale) = (constant(mean), gamma * constant(inv_std));
    let row = |t: Tensor<B, 1>| t.reshape([1, channels]);
    let affine = |x: Tensor<B, 2>| (x - row(mean.clone())) * row(scale.clone()) + row(beta.clone());
    match x {
        Values::Flat(x) => Values::Flat(affine(x)),
        Values::Pixels(x, dims) => Values::Pixels(affine(x), dims),
        Values::Maps(x) => {
            let column = |t: Tensor<B, 1>| t.reshape([1, channels, 1, 1]);
            Values::Maps((x - column(mean)) * column(scale) + column(beta))
        }
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

    /// The input indices along `axis` (of length `len`) of output `i`'s window, the padding
    /// cut off.
    fn span(&self, axis: usize, i: usize, len: usize) -> std::ops::Range<usize> {
        let start = (i * self.stride[axis]) as isize - self.padding[axis] as isize;
        let end = (start + self.kernel[axis] as isize).min(len as isize);
        start.max(0) as usize..end as usize
    }

    /// The `[len, outputs]` matrix averaging each window along `axis`, dividing by the whole
    /// kernel, padding included (PyTorch's `count_include_pad=True`).
    fn averaging(&self, axis: usize, len: usize) -> Averaging {
        let weight = 1.0 / self.kernel[axis] as f64;
        Averaging::new(len, self.output[axis], |i| {
            (self.span(axis, i, len), weight)
        })
    }
}

/// Adaptive average pooling along one axis: output i averages inputs ⌊i·n/m⌋ .. ⌈(i+1)·n/m⌉.
fn adaptive_averaging(len: usize, outputs: usize) -> Averaging {
    Averaging::new(len, outputs, |i| {
        let span = i * len / outputs..((i + 1) * len).div_ceil(outputs);
        let weight = 1.0 / span.len() as f64;
        (span, weight)
    })
}

/// A `[len, outputs]` matrix whose column i holds `weight` over output i's span.
struct Averaging {
    matrix: Vec<f64>,
    shape: [usize; 2],
}

impl Averaging {
    fn new(
        len: usize,
        outputs: usize,
        window: impl Fn(usize) -> (std::ops::Range<usize>, f64),
    ) -> Self {
        let mut matrix = vec![0.0; len * outputs];
        for i in 0..outputs {
            let (span, weight) = window(i);
            for k in span {
                matrix[k * outputs + i] = weight;
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
    let matrix = |a: Averaging| {
        Tensor::<B, 2>::from_data(TensorData::new(a.matrix, a.shape), (&x.device(), x.dtype()))
    };
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

/// Max-pooling as a gather at each window's maximum, located on the host (the first maximum
/// in row-major window order, as PyTorch takes it); padding never wins, as in PyTorch's −∞.
/// Only the gather is on the tape: its backward is a scatter and the scatter's a gather.
fn max_pool<B: Backend>(x: Tensor<B, 4>, window: Window) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let [oh, ow] = window.output;
    let values = x
        .clone()
        .detach()
        .into_data()
        .convert::<f64>()
        .into_vec::<f64>()
        .expect("float maps");
    let mut at = Vec::with_capacity(n * c * oh * ow);
    for map in values.chunks_exact(h * w) {
        for i in 0..oh {
            for j in 0..ow {
                let mut best = (f64::NEG_INFINITY, usize::MAX);
                for r in window.span(0, i, h) {
                    for s in window.span(1, j, w) {
                        let v = map[r * w + s];
                        if v > best.0 || best.1 == usize::MAX {
                            best = (v, r * w + s);
                        }
                    }
                }
                at.push(best.1 as i64);
            }
        }
    }
    let at = int_tensor(at, &x.device()).reshape([n * c, oh * ow]);
    x.reshape([n * c, h * w])
        .gather(1, at)
        .reshape([n, c, oh, ow])
}
