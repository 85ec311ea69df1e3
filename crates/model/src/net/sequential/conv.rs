//! `torch.nn.Conv2d` (dilation 1, one group) as im2col + one GEMM on channels-last pixels.
//!
//! Why not burn's `conv2d`: on burn-flex its input gradient (a transposed convolution) took
//! 1.1–1.6 s per layer of VGG-11 × 50 where the forward took milliseconds
//! (docs/PERFORMANCE.md). Here the forward is a row `select` and a matrix product, the
//! backward two matrix products and a row-wise scatter-add, and the double backward more of
//! the same: fast kernels, each differentiable, so the HVP stays exact.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::super::{gather_pixels, rows_affine};
use super::Window;

impl Window {
    /// For each output position (row-major) and kernel offset (row-major), the input pixel
    /// (row-major in an `h × w` map) it reads, or `None` where it reads padding: one sample's
    /// im2col rows, pixel by pixel.
    fn receptive_fields(&self, h: usize, w: usize) -> Vec<Option<usize>> {
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        let at = |axis: usize, out: usize, k: usize, len: usize| {
            (out * self.stride[axis] + k)
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
/// `[n·h·w, C]`, with weights `weight` (the `[kh·kw·C, out]` matrix, rows in (kh, kw, C)
/// order, stacked as `Params` hands it out: `[copies, kh·kw·C, out]`) and bias `b` over
/// `window`: the output's pixel matrix `[n·oh·ow, out]`. One `select` of whole pixels (padding
/// reads zeros; [`gather_pixels`]) builds the im2col matrix `[n·oh·ow, kh·kw·C]`, and one
/// matrix product applies the weights ([`rows_affine`]).
pub(super) fn conv2d<B: Backend>(
    pixels: Tensor<B, 2>,
    [n, h, w, _]: [usize; 4],
    weight: Tensor<B, 3>,
    b: Option<Tensor<B, 2>>,
    window: &Window,
) -> Tensor<B, 2> {
    let [oh, ow] = window.output;
    let fields = window.receptive_fields(h, w);
    let patches = gather_pixels(pixels, n, &fields).reshape([n * oh * ow, weight.dims()[1]]);
    rows_affine(patches, weight, b, [n, oh * ow])
}
