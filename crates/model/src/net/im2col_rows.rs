//! The rows of a convolution's im2col matrix: whole channels-last pixels gathered with one
//! `select`, in the layout whose backward (a scatter-add of rows) the backend runs well.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::cubecl_quirks::runs_cubecl;
use crate::transfer::resident_index;

/// How [`gather_pixels`] lays out its `select`; both give the same values and derivatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gather {
    /// One `select` along the rows of the whole `[n·P, C]` pixel matrix (padding reads one zero
    /// row after all samples): burn-flex adds its backward row by row, C values at a time.
    Batch,
    /// One `select` along axis 1 of `[n, P, C]` (each sample with its own zero pixel), with
    /// one sample's index.
    ///
    /// Why: burn-cubecl's `select` backward (`select_assign_kernel`, burn 0.21) runs one
    /// thread per position off the selected axis and loops over the whole index in it. Over
    /// the rows of `[n·P, C]` that is C threads each looping n·F times. Mesa's llvmpipe
    /// (lavapipe) stops a shader's loops after 65,535 iterations in all
    /// (`LP_MAX_TGSI_LOOP_ITERATIONS`, gallivm) and silently skips the rest: 40 padded 14×14
    /// maps (40·196·9 = 70,560 rows) lost the last 5,025 rows' share of their input gradient
    /// (docs/PERFORMANCE.md), and a real GPU would run the scatter on C threads. Here n·C
    /// threads each loop over F, one sample's im2col rows.
    PerSample,
}

impl Gather {
    /// [`Gather::PerSample`] on burn-cubecl backends (wgpu, CUDA, ROCm), else
    /// [`Gather::Batch`], whose 2-D `select` burn-flex runs with row copies (its N-D
    /// `select_add` takes an element-by-element path).
    fn for_backend<B: Backend>(device: &B::Device) -> Self {
        match runs_cubecl::<B>(device) {
            true => Gather::PerSample,
            false => Gather::Batch,
        }
    }
}

/// The im2col rows of `n` samples, `[n·F, C]`: for each sample (sample-major) and each of one
/// sample's `fields` (a pixel of the sample, or `None` for padding, which reads zeros), that
/// pixel's C channels, from the samples' stacked pixel matrices `pixels` (`[n·P, C]`), in the
/// backend's layout ([`Gather::for_backend`]).
pub(crate) fn gather_pixels<B: Backend>(
    pixels: Tensor<B, 2>,
    n: usize,
    fields: &[Option<usize>],
) -> Tensor<B, 2> {
    let layout = Gather::for_backend::<B>(&pixels.device());
    gather_pixels_as(pixels, n, fields, layout)
}

/// [`gather_pixels`] in the given `layout`.
fn gather_pixels_as<B: Backend>(
    pixels: Tensor<B, 2>,
    n: usize,
    fields: &[Option<usize>],
    layout: Gather,
) -> Tensor<B, 2> {
    let [rows, c] = pixels.dims();
    let per_sample = rows / n;
    let (device, dtype) = (pixels.device(), pixels.dtype());
    let padded = fields.contains(&None);
    // One sample's pixel at each field, its zero pixel (index `per_sample`) for padding.
    let one: Vec<i64> = fields
        .iter()
        .map(|p| p.unwrap_or(per_sample) as i64)
        .collect();
    match layout {
        Gather::Batch => {
            let pixels = match padded {
                true => Tensor::cat(vec![pixels, Tensor::zeros([1, c], (&device, dtype))], 0),
                false => pixels,
            };
            let key = [n as i64, per_sample as i64]
                .into_iter()
                .chain(one)
                .collect();
            pixels.select(0, resident_index("im2col rows", key, &device, batch_index))
        }
        Gather::PerSample => {
            let maps = pixels.reshape([n, per_sample, c]);
            let maps = match padded {
                true => Tensor::cat(vec![maps, Tensor::zeros([n, 1, c], (&device, dtype))], 1),
                false => maps,
            };
            let index = resident_index("im2col fields", one, &device, <[i64]>::to_vec);
            maps.select(1, index).reshape([n * fields.len(), c])
        }
    }
}

/// The rows of `n` samples' fields in a pixel matrix of `n·pixels` rows (sample-major)
/// followed by one zero row, which padding reads; `key` is `[n, pixels]` followed by one
/// sample's pixel at each field (`pixels` for padding).
fn batch_index(key: &[i64]) -> Vec<i64> {
    let (n, pixels, one) = (key[0], key[1], &key[2..]);
    let padding = n * pixels;
    let mut index = Vec::with_capacity(n as usize * one.len());
    for first in (0..n).map(|sample| sample * pixels) {
        index.extend(one.iter().map(|&p| match p == pixels {
            true => padding,
            false => first + p,
        }));
    }
    index
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::{Tensor, TensorData};

    use super::{gather_pixels_as, Gather};

    /// Pixel `p`'s value in channel `ch`, distinct everywhere.
    fn value(p: usize, ch: usize) -> f32 {
        (p * 7 + ch) as f32 * 0.5 - 3.0
    }

    /// im2col rows and the input gradient of Σ r ⊙ rows, on the host: the gather and the
    /// scatter-add (ones for padding are dropped).
    fn reference(
        n: usize,
        pixels: usize,
        c: usize,
        fields: &[Option<usize>],
        r: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let (mut rows, mut grad) = (Vec::new(), vec![0.0; n * pixels * c]);
        for sample in 0..n {
            for (f, field) in fields.iter().enumerate() {
                for ch in 0..c {
                    let row = (sample * fields.len() + f) * c + ch;
                    match field {
                        Some(p) => {
                            rows.push(value(sample * pixels + p, ch));
                            grad[(sample * pixels + p) * c + ch] += r[row];
                        }
                        None => rows.push(0.0),
                    }
                }
            }
        }
        (rows, grad)
    }

    /// Both layouts give the host's rows and input gradient exactly, `n` samples of 3×3-kernel
    /// padded fields over a `side`×`side` map with `c` channels: pixels read by up to nine rows,
    /// padding by many.
    fn gathers_match_the_host<B: AutodiffBackend>(
        n: usize,
        side: usize,
        c: usize,
        layouts: &[Gather],
        device: &B::Device,
    ) {
        let pixels = side * side;
        // A 3×3 window at padding 1, output per input pixel, row-major.
        let at = |o: usize, k: usize| (o + k).checked_sub(1).filter(|&i| i < side);
        let fields: Vec<Option<usize>> = (0..pixels)
            .flat_map(|o| (0..9).map(move |k| (o / side, o % side, k / 3, k % 3)))
            .map(|(i, j, ki, kj)| at(i, ki).zip(at(j, kj)).map(|(r, s)| r * side + s))
            .collect();
        let len = n * fields.len() * c;
        let r: Vec<f32> = (0..len).map(|i| ((i * 31 % 17) as f32) - 8.0).collect();
        let want = reference(n, pixels, c, &fields, &r);
        for &layout in layouts {
            let x: Vec<f32> = (0..n * pixels)
                .flat_map(|p| (0..c).map(move |ch| value(p, ch)))
                .collect();
            let x = Tensor::<B, 2>::from_data(TensorData::new(x, [n * pixels, c]), device)
                .require_grad();
            let rows = gather_pixels_as(x.clone(), n, &fields, layout);
            let weights = Tensor::<B, 2>::from_data(
                TensorData::new(r.clone(), [n * fields.len(), c]),
                device,
            );
            let grads = (rows.clone() * weights).sum().backward();
            let host = |t: TensorData| t.convert::<f32>().into_vec::<f32>().expect("floats");
            let got = (
                host(rows.into_data()),
                host(x.grad(&grads).expect("x is on the tape").into_data()),
            );
            assert!(got.0 == want.0, "{layout:?}: rows differ from the host's");
            assert!(
                got.1 == want.1,
                "{layout:?}: input gradient differs from the host's"
            );
        }
    }

    #[test]
    fn both_gathers_match_the_host() {
        let layouts = [Gather::Batch, Gather::PerSample];
        gathers_match_the_host::<Autodiff<crate::Cpu>>(3, 5, 2, &layouts, &Default::default());
    }

    #[test]
    fn the_cpu_gathers_the_whole_batch() {
        assert_eq!(
            Gather::for_backend::<Autodiff<crate::Cpu>>(&Default::default()),
            Gather::Batch
        );
    }

    /// 10 padded 28×28 maps, 70,560 im2col rows: past lavapipe's 65,535 loop iterations, which
    /// [`Gather::Batch`] would exceed in one thread (docs/PERFORMANCE.md).
    #[cfg(feature = "wgpu")]
    #[test]
    fn the_gpu_gathers_per_sample_past_the_loop_limit() {
        type Gpu = Autodiff<crate::Gpu>;
        let device = Default::default();
        let layout = Gather::for_backend::<Gpu>(&device);
        assert_eq!(layout, Gather::PerSample);
        gathers_match_the_host::<Gpu>(10, 28, 1, &[layout], &device);
    }
}
