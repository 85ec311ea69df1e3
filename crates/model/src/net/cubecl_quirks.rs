//! What burn-cubecl backends (wgpu, CUDA, ROCm) need done differently, and why.
//!
//! burn-cubecl 0.21 runs `select`'s backward and `sum_dim` with one thread per output (or per
//! position off the indexed axis) looping over the whole axis. Mesa's llvmpipe (lavapipe, the
//! software Vulkan the GPU tests run on) stops a shader's loops after 65,535 iterations in all
//! (`LP_MAX_TGSI_LOOP_ITERATIONS`, gallivm) and silently skips the rest, so such an op over a
//! longer axis is wrong there, and on a real GPU it is a serial loop. docs/PERFORMANCE.md has
//! the reproducers.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Whether `B` runs burn-cubecl's kernels (its name nests `cubecl<…>` under any autodiff or
/// fusion layers).
pub(crate) fn runs_cubecl<B: Backend>(device: &B::Device) -> bool {
    B::name(device).contains("cubecl")
}

/// The vector `v` (`[C]`) for every row of a `[n·P, C]` matrix (n samples of P rows each), to
/// add to or multiply with it. On the CPU the broadcast `[1, C]`, whose gradient autodiff
/// reduces with one `sum_dim` over all n·P rows. On burn-cubecl `v` expanded to `[n, P, C]`
/// and viewed as `[n·P, C]`, whose gradient autodiff reduces with two `sum_dim`s, over n and
/// over P: one over ≳65,500 rows was wrong on lavapipe. Exact to any order either way.
pub(crate) fn broadcast_rows<B: Backend>(v: Tensor<B, 1>, [n, p]: [usize; 2]) -> Tensor<B, 2> {
    let c = v.dims()[0];
    match runs_cubecl::<B>(&v.device()) {
        true => v.reshape([1, 1, c]).expand([n, p, c]).reshape([n * p, c]),
        false => v.unsqueeze_dim(0),
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::{Tensor, TensorData};

    use super::broadcast_rows;

    /// `x + v` over 10 samples of 7,000 rows (70,000 rows: past lavapipe's loop limit) has
    /// the host's values, and v's gradient of Σ w ⊙ (x + v) is w's column sums, exactly
    /// (small integers).
    fn rows_sum_exactly<B: AutodiffBackend>(device: &B::Device) {
        let [n, p, c] = [10, 7_000, 2];
        let w: Vec<f32> = (0..n * p * c).map(|i| (i % 7) as f32 - 2.0).collect();
        let mut sums = vec![0.0; c];
        for (i, w) in w.iter().enumerate() {
            sums[i % c] += w;
        }
        let v = Tensor::<B, 1>::from_data(TensorData::new(vec![1.5f32, -2.0], [c]), device)
            .require_grad();
        let x = Tensor::<B, 2>::zeros([n * p, c], device);
        let y = x + broadcast_rows(v.clone(), [n, p]);
        let w = Tensor::<B, 2>::from_data(TensorData::new(w, [n * p, c]), device);
        let grads = (y.clone() * w).sum().backward();
        let host = |t: TensorData| t.convert::<f32>().into_vec::<f32>().expect("floats");
        let y = host(y.into_data());
        assert!(y.chunks(c).all(|row| row == [1.5, -2.0]), "x + v");
        let grad = host(v.grad(&grads).expect("v is on the tape").into_data());
        assert_eq!(grad, sums);
    }

    #[test]
    fn broadcast_rows_sum_exactly() {
        rows_sum_exactly::<Autodiff<crate::Cpu>>(&Default::default());
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn broadcast_rows_sum_exactly_on_gpu() {
        rows_sum_exactly::<Autodiff<crate::Gpu>>(&Default::default());
    }
}
