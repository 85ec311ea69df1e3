//! `torch.nn.Conv2d` as im2col + one GEMM on channels-last pixels (a batched GEMM over the
//! channel groups of a grouped convolution).
//!
//! Why not burn's `conv2d`: on burn-flex its input gradient (a transposed convolution) took
//! 1.1–1.6 s per layer of VGG-11 × 50 where the forward took milliseconds
//! (docs/PERFORMANCE.md). Here the forward is a row `select` and a matrix product, the
//! backward two matrix products and a row-wise scatter-add, and the double backward more of
//! the same: fast kernels, each differentiable, so the HVP stays exact.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::super::{gather_pixels, grouped_rows_affine, rows_affine};
use super::Window;

impl Window {
    /// For each output position (row-major) and kernel offset (row-major), the input pixel
    /// (row-major in an `h × w` map) it reads, the kernel's taps `dilation` apart, or `None`
    /// where it reads padding: one sample's im2col rows, pixel by pixel.
    fn receptive_fields(&self, h: usize, w: usize, dilation: [usize; 2]) -> Vec<Option<usize>> {
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        let at = |axis: usize, out: usize, k: usize, len: usize| {
            (out * self.stride[axis] + k * dilation[axis])
                .checked_sub(self.padding[axis])
                .filter(|&i| i < len)
        };
        let mut fields = Vec::with_capacity(oh * ow * kh * kw);
        for i in 0..oh {
            for j in 0..ow {
                for ki in 0..kh {
                    for kj in 0..kw {
                        let pixel = at(0, i, ki, h).zip(at(1, j, kj, w));
                        fields.push(pixel.map(|(r, c)| r * w + c));
                    }
                }
            }
        }
        fields
    }
}

/// The convolution of channels-last maps `[n, h, w, C]`, given as their pixel matrix
/// `[n·h·w, C]`, with weights `weight` (the `[kh·kw·C/groups, out]` matrix, rows in
/// (kh, kw, C/groups) order, stacked as `Params` hands it out: `[copies, kh·kw·C/groups, out]`)
/// and bias `b` over `window`, the kernel's taps `dilation` apart: the output's pixel matrix
/// `[n·oh·ow, out]`. One `select` of whole pixels (padding reads zeros; [`gather_pixels`])
/// builds the im2col matrix `[n·oh·ow, kh·kw·C]`, and one matrix product applies the weights
/// ([`rows_affine`]); with `groups` > 1, output group g reads only input group g's channels
/// ([`grouped_rows_affine`]).
pub(super) fn conv2d<B: Backend>(
    pixels: Tensor<B, 2>,
    [n, h, w, c]: [usize; 4],
    weight: Tensor<B, 3>,
    b: Option<Tensor<B, 2>>,
    window: &Window,
    dilation: [usize; 2],
    groups: usize,
) -> Tensor<B, 2> {
    let [oh, ow] = window.output;
    let taps = window.kernel[0] * window.kernel[1];
    let fields = window.receptive_fields(h, w, dilation);
    let patches = gather_pixels(pixels, n, &fields).reshape([n * oh * ow, taps * c]);
    match groups {
        1 => rows_affine(patches, weight, b, [n, oh * ow]),
        _ => grouped_rows_affine(patches, weight, b, [n, oh * ow], [taps, groups]),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::backend::Backend;
    use burn::tensor::{Tensor, TensorData};

    use super::{conv2d, Window};

    /// A convolution's geometry: `[C, out, groups]` and `[kernel, stride, padding, dilation]`.
    type Case = ([usize; 3], [[usize; 2]; 4]);

    /// PyTorch's definition, term by term: output channel o of group g = o / (out/groups) at
    /// (i, j) is b_o + Σ W[o, ci, ki, kj]·x[g·C/groups + ci, i·s + ki·d − p, j·s + kj·d − p]
    /// over the taps inside the map. `x` `[n, C, h, w]`, `weight` `[n or 1, out, C/groups, kh,
    /// kw]` (sample s reads copy s, or the only one), `bias` `[n or 1, out]`; `[n, out, oh, ow]`.
    fn by_definition(
        case: &Case,
        [n, h, w]: [usize; 3],
        [oh, ow]: [usize; 2],
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
    ) -> Vec<f64> {
        let ([c, out, groups], [[kh, kw], stride, padding, dilation]) = *case;
        let (group_c, group_out) = (c / groups, out / groups);
        let copies = bias.len() / out;
        let tap = |axis: usize, o: usize, k: usize, len: usize| {
            (o * stride[axis] + k * dilation[axis])
                .checked_sub(padding[axis])
                .filter(|&i| i < len)
        };
        let mut y = vec![0.0; n * out * oh * ow];
        for s in 0..n {
            let copy = if copies == 1 { 0 } else { s };
            for o in 0..out {
                let g = o / group_out;
                for (i, j) in (0..oh).flat_map(|i| (0..ow).map(move |j| (i, j))) {
                    let mut sum = f64::from(bias[copy * out + o]);
                    for (ci, ki, kj) in (0..group_c).flat_map(|ci| {
                        (0..kh).flat_map(move |ki| (0..kw).map(move |kj| (ci, ki, kj)))
                    }) {
                        if let (Some(r), Some(q)) = (tap(0, i, ki, h), tap(1, j, kj, w)) {
                            let wi = (((copy * out + o) * group_c + ci) * kh + ki) * kw + kj;
                            let xi = ((s * c + g * group_c + ci) * h + r) * w + q;
                            sum += f64::from(weight[wi]) * f64::from(x[xi]);
                        }
                    }
                    y[((s * out + o) * oh + i) * ow + j] = sum;
                }
            }
        }
        y
    }

    /// `values` as a tensor of `shape`.
    fn tensor<B: Backend, const D: usize>(
        values: Vec<f32>,
        shape: [usize; D],
        device: &B::Device,
    ) -> Tensor<B, D> {
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// [`conv2d`] equals the definition for grouped, dilated, strided and padded convolutions
    /// with shared weights and with per-sample copies, to f32's rounding: the weights reordered
    /// as θ's leaves hold them (`[kh, kw, C/groups, out]`), the input as channels-last pixels,
    /// `n` samples of 7 × 6 maps.
    fn convolutions_match_their_definition<B: Backend>(device: &B::Device, n: usize) {
        // Two groups, taps apart by axis; dilated depthwise (one group per channel, two
        // filters each); strided depthwise; dilated, one group.
        let cases: [Case; 4] = [
            ([4, 6, 2], [[2, 3], [1, 2], [1, 2], [2, 1]]),
            ([3, 6, 3], [[3, 3], [1, 1], [2, 2], [2, 2]]),
            ([3, 3, 3], [[3, 3], [2, 2], [1, 1], [1, 1]]),
            ([2, 3, 1], [[2, 2], [1, 1], [0, 0], [3, 2]]),
        ];
        let [h, w] = [7, 6];
        let value = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 8.0;
        for case in &cases {
            let ([c, out, groups], [[kh, kw], stride, padding, dilation]) = *case;
            let output = |axis: usize, len: usize, k: usize| {
                (len + 2 * padding[axis] - dilation[axis] * (k - 1) - 1) / stride[axis] + 1
            };
            let [oh, ow] = [output(0, h, kh), output(1, w, kw)];
            let window = Window {
                kernel: [kh, kw],
                stride,
                padding,
                output: [oh, ow],
            };
            let x: Vec<f32> = (0..n * c * h * w).map(value).collect();
            // Channels-last pixels `[n·h·w, C]`.
            let mut pixels = vec![0.0; x.len()];
            for (i, v) in x.iter().enumerate() {
                let (s, ch, p) = (i / (c * h * w), i / (h * w) % c, i % (h * w));
                pixels[(s * h * w + p) * c + ch] = *v;
            }
            let taps_c = kh * kw * c / groups;
            for copies in [1, n] {
                let weight: Vec<f32> = (0..copies * out * taps_c).map(|i| value(i + 5)).collect();
                let bias: Vec<f32> = (0..copies * out).map(|i| value(3 * i + 1)).collect();
                // `[out, C/groups, kh, kw]` → `[kh·kw·C/groups, out]` per copy.
                let mut leaves = vec![0.0; weight.len()];
                for (i, v) in weight.iter().enumerate() {
                    let (copy, o, rest) = (i / (out * taps_c), i / taps_c % out, i % taps_c);
                    let (ci, tap) = (rest / (kh * kw), rest % (kh * kw));
                    leaves[(copy * taps_c + tap * (c / groups) + ci) * out + o] = *v;
                }
                let y = conv2d(
                    tensor::<B, 2>(pixels.clone(), [n * h * w, c], device),
                    [n, h, w, c],
                    tensor(leaves, [copies, taps_c, out], device),
                    Some(tensor(bias.clone(), [copies, out], device)),
                    &window,
                    dilation,
                    groups,
                );
                let got = y
                    .into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()
                    .expect("floats");
                let want = by_definition(case, [n, h, w], [oh, ow], &x, &weight, &bias);
                for (row, values) in got.chunks(out).enumerate() {
                    let (s, p) = (row / (oh * ow), row % (oh * ow));
                    for (o, got) in values.iter().enumerate() {
                        let want = want[(s * out + o) * oh * ow + p];
                        assert!(
                            (f64::from(*got) - want).abs() < 1e-5 * (1.0 + want.abs()),
                            "C {c}, out {out}, groups {groups}, {copies} copies, row {row}, \
                             channel {o}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn convolutions_match_their_definition_on_the_cpu() {
        convolutions_match_their_definition::<crate::Cpu>(&Default::default(), 3);
    }

    /// On a GPU, with 200 samples: a shared weight's rows (up to 8,400) go in blocks
    /// (`grouped_rows_affine` takes `rows_affine`'s row groups), three for the default 4,096
    /// rows per group.
    #[cfg(feature = "wgpu")]
    #[test]
    fn convolutions_match_their_definition_on_gpu() {
        convolutions_match_their_definition::<crate::Gpu>(&Default::default(), 200);
    }
}
