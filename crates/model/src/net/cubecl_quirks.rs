//! What burn-cubecl backends (wgpu, CUDA, ROCm) need done differently, and why.
//!
//! burn-cubecl 0.21 runs `select`'s backward and `sum_dim` with one thread per output (or per
//! position off the indexed axis) looping over the whole axis. Mesa's llvmpipe (lavapipe, the
//! software Vulkan the GPU tests run on) stops a shader's loops after 65,535 iterations in all
//! (`LP_MAX_TGSI_LOOP_ITERATIONS`, gallivm) and silently skips the rest, so such an op over a
//! longer axis is wrong there, and on a real GPU it is a serial loop. docs/PERFORMANCE.md has
//! the reproducers. Its matrix products split only the output among cubes, so a product with
//! a small output and a long inner dimension — a weight's gradient over every row of a batch —
//! runs on a few cubes, each through all the rows in series.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Whether `B` runs burn-cubecl's kernels (its name nests `cubecl<…>` under any autodiff or
/// fusion layers).
pub(crate) fn runs_cubecl<B: Backend>(device: &B::Device) -> bool {
    B::name(device).contains("cubecl")
}

/// The vector `v` for every row of a `[n·P, C]` matrix (n samples of P rows each), to add to or
/// multiply with it: `v` is `[1, C]`, the same for all rows, or `[n, C]`, one per sample (a
/// parameter's per-sample copies, [`super::per_sample_losses_of_copies`]). On the CPU a shared
/// `v` stays the broadcast `[1, C]`, whose gradient autodiff reduces with one `sum_dim` over
/// all n·P rows. Otherwise `v` is expanded to `[n, P, C]` and viewed as `[n·P, C]`, whose
/// gradient autodiff reduces with `sum_dim`s over P and over n (or not, per sample): on
/// burn-cubecl one over ≳65,500 rows was wrong on lavapipe. Exact to any order either way.
pub(crate) fn broadcast_rows<B: Backend>(v: Tensor<B, 2>, [n, p]: [usize; 2]) -> Tensor<B, 2> {
    let [copies, c] = v.dims();
    match copies == n || runs_cubecl::<B>(&v.device()) {
        true => v
            .reshape([copies, 1, c])
            .expand([n, p, c])
            .reshape([n * p, c]),
        false => v,
    }
}

/// Rows per group of the split products on burn-cubecl by default: the inner loop of each
/// cube of a weight's gradient. A choice, not a measurement: long enough that a group's rows
/// fill a cube's tiles many times over, short enough that LeNet's first layer (691,200
/// rows at N = 1,200) splits into 160 groups, about one per streaming multiprocessor of a large
/// GPU, and (where the row count has a divisor near it) far below lavapipe's 65,535 loop
/// iterations. [`set_gpu_rows_per_group`] changes it, for the `gpu` bench to time others.
pub const DEFAULT_GPU_ROWS_PER_GROUP: usize = 4096;

/// The rows per group in use ([`DEFAULT_GPU_ROWS_PER_GROUP`] unless set).
static ROWS_PER_GROUP: AtomicUsize = AtomicUsize::new(DEFAULT_GPU_ROWS_PER_GROUP);

/// Sets the rows per group of the split weight-gradient products on GPU backends
/// (burn-cubecl) for every forward pass from now on, in every thread; the CPU takes each
/// product whole whatever it is. The results agree to the rounding of the sums' order. The
/// groups are capped (at most 16,384 a product, within 64 MiB of partial gradients), and a
/// value of at least a product's row count takes it whole.
///
/// Why it is settable: on an NVIDIA H200 (2026-12-04) one product of LeNet's gradient took
/// 2.6 ms of 10.8 ms, by its place in the pass the first layer's weight gradient (160 groups of
/// 4,320 rows, one cube per group running through its rows in series); whether shorter groups (more cubes, shorter loops, more partial sums)
/// are faster is for a card to say, and the `gpu` bench times it
/// (`CURVSCOPE_GPU_ROWS_PER_GROUP`).
///
/// ```
/// use curvscope_model::net::{
///     gpu_rows_per_group, set_gpu_rows_per_group, DEFAULT_GPU_ROWS_PER_GROUP,
/// };
/// set_gpu_rows_per_group(512);
/// assert_eq!(gpu_rows_per_group(), 512);
/// set_gpu_rows_per_group(DEFAULT_GPU_ROWS_PER_GROUP);
/// ```
///
/// # Panics
/// If `rows` is 0.
pub fn set_gpu_rows_per_group(rows: usize) {
    assert!(rows > 0, "a group of rows holds at least one row");
    ROWS_PER_GROUP.store(rows, Ordering::Relaxed);
}

/// The rows per group of the split products on GPU backends ([`set_gpu_rows_per_group`]).
pub fn gpu_rows_per_group() -> usize {
    ROWS_PER_GROUP.load(Ordering::Relaxed)
}

/// Most values of the `[S, K, C]` partial weight gradients of [`rows_affine`]'s S groups
/// (64 MiB in f32): autodiff holds them before summing over S.
const PARTIAL_VALUES: usize = 1 << 24;

/// `x · w + b` for the rows `x` (`[n·P, K]`) of n samples (P rows each), `w` `[1, K, C]`, `b`
/// `[1, C]` added to every row ([`broadcast_rows`]): a convolution's GEMM or a linear layer.
/// With per-sample copies of the weights (`w` `[n, K, C]`, `b` `[n, C]`), sample i's rows times
/// its own `w`: one batched product `[n, P, K] · [n, K, C]`.
///
/// With shared weights, one matrix product on the CPU. On burn-cubecl the rows go in S groups
/// of consecutive rows ([`row_groups`]) as the batched product `[S, n·P/S, K] · [1, K, C]`, so
/// autodiff forms w's gradient as S partial products xₛᵀ·gₛ summed over S (split-K), each in
/// its own cubes: as one `[K, n·P] · [n·P, C]` product it would run on the few cubes of a
/// K × C output (one for LeNet's first layer, 25 × 6), each through all n·P rows in series.
/// The products of the HVP's second backward inherit the split. Exact to any order either
/// way; only the order of the sums changes.
pub(crate) fn rows_affine<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 3>,
    b: Option<Tensor<B, 2>>,
    [n, p]: [usize; 2],
) -> Tensor<B, 2> {
    let [rows, k] = x.dims();
    let [copies, _, c] = w.dims();
    let y = match (copies == n, runs_cubecl::<B>(&x.device())) {
        (true, _) => x.reshape([n, p, k]).matmul(w).reshape([rows, c]),
        (false, true) => {
            let groups = row_groups(rows, k * c, gpu_rows_per_group());
            grouped_product(x, w.reshape([k, c]), groups)
        }
        (false, false) => x.matmul(w.reshape([k, c])),
    };
    plus_bias(y, b, [n, p])
}

/// `x · Wᵀ + b` for the rows `x` (`[n·P, K]`) of n samples, `w` a linear layer's weights in
/// PyTorch's layout (`[copies, C, K]`): [`rows_affine`] of the transposed weights. With shared
/// weights on the CPU, one product `[1, n·P, K] · [1, K, C]` that reads the transposed weights
/// through their strides; [`rows_affine`]'s `[K, C]` matrix of them would be a copy (burn-flex
/// copies to reshape a transposed view) in every forward pass and again in its backward. A
/// ConvNeXt block's MLP at `[768, 1, 1]` × 64 (4.7 million weights, 64 rows) took 0.092 s for
/// its gradient against 0.118 s (2026-12-05, three alternating pairs). Convolutions keep
/// [`rows_affine`]'s 2-D product: their weights are laid out for it (`leaf_order`), and the
/// batched form was slower for `resnet50`'s.
pub(crate) fn linear_rows<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 3>,
    b: Option<Tensor<B, 2>>,
    [n, p]: [usize; 2],
) -> Tensor<B, 2> {
    let w = w.swap_dims(1, 2);
    let [rows, k] = x.dims();
    let [copies, _, c] = w.dims();
    match copies == n || runs_cubecl::<B>(&x.device()) {
        true => rows_affine(x, w, b, [n, p]),
        false => plus_bias(
            x.reshape([1, rows, k]).matmul(w).reshape([rows, c]),
            b,
            [n, p],
        ),
    }
}

/// [`rows_affine`] for a convolution of `groups` channel groups: the im2col rows `x`
/// (`[n·P, taps·C]`, columns in (kernel offset, channel) order) split by channel group, and
/// group g's columns times its own weights, `w`'s columns g·(out/groups)… (`w`
/// `[copies, taps·C/groups, out]`, rows in (kernel offset, channel of the group) order, as
/// PyTorch's `[out, C/groups, kh, kw]` weight reordered): one product batched over blocks
/// of rows and the groups, `[S, groups, n·P/S, taps·C/groups] · [copies, groups, …, out/groups]`.
/// The blocks are the samples with per-sample copies of the weights (S = n), else
/// [`rows_affine`]'s row groups on burn-cubecl (the same split-K of the weight gradient), else
/// one (S = 1).
pub(crate) fn grouped_rows_affine<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 3>,
    b: Option<Tensor<B, 2>>,
    [n, p]: [usize; 2],
    [taps, groups]: [usize; 2],
) -> Tensor<B, 2> {
    let [rows, k] = x.dims();
    let [copies, group_k, out] = w.dims();
    let blocks = match (copies == n, runs_cubecl::<B>(&x.device())) {
        (true, _) => n,
        (false, true) => row_groups(rows, group_k * out, gpu_rows_per_group()),
        (false, false) => 1,
    };
    let (block, group_c, group_out) = (rows / blocks, k / taps / groups, out / groups);
    let x = x
        .reshape([blocks, block, taps, groups, group_c])
        .permute([0, 3, 1, 2, 4])
        .reshape([blocks, groups, block, group_k]);
    let w = w
        .reshape([copies, group_k, groups, group_out])
        .permute([0, 2, 1, 3]);
    let y = x.matmul(w).permute([0, 2, 1, 3]).reshape([rows, out]);
    plus_bias(y, b, [n, p])
}

/// `y` plus the bias `b` (`[copies, C]`) on every row of its n samples' P rows each.
fn plus_bias<B: Backend>(
    y: Tensor<B, 2>,
    b: Option<Tensor<B, 2>>,
    [n, p]: [usize; 2],
) -> Tensor<B, 2> {
    match b {
        Some(b) => y + broadcast_rows(b, [n, p]),
        None => y,
    }
}

/// `x · w` as one batched product of `groups` consecutive equal row groups of `x` with `w`
/// (`[groups, rows/groups, K] · [1, K, C]`).
fn grouped_product<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>, groups: usize) -> Tensor<B, 2> {
    let [rows, k] = x.dims();
    let c = w.dims()[1];
    x.reshape([groups, rows / groups, k])
        .matmul(w.unsqueeze_dim(0))
        .reshape([rows, c])
}

/// Most groups of [`rows_affine`]'s split product: autodiff sums the partial weight gradients
/// over the groups with one `sum_dim`, which burn-cubecl runs as a loop over them in each
/// thread, and lavapipe stops a loop after 65,535 iterations (this module's doc).
const MOST_GROUPS: usize = 1 << 14;

/// The number S of equal groups of consecutive rows [`rows_affine`] splits `rows` rows into:
/// the largest divisor of `rows` that is at most `rows` / `per_group` (rounded up), at most
/// [`PARTIAL_VALUES`] / `partial` (`partial` = K·C values per group) and at most
/// [`MOST_GROUPS`]; at least 1.
fn row_groups(rows: usize, partial: usize, per_group: usize) -> usize {
    let most = rows
        .div_ceil(per_group)
        .min(PARTIAL_VALUES / partial.max(1))
        .clamp(1, MOST_GROUPS);
    (1..=most)
        .rev()
        .find(|&g| rows.is_multiple_of(g))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::backend::{AutodiffBackend, Backend};
    use burn::tensor::{Tensor, TensorData};

    use super::{broadcast_rows, grouped_product, row_groups};

    /// `x + v` over 10 samples of 7,000 rows (70,000 rows: past lavapipe's loop limit) has
    /// the host's values, and v's gradient of Σ w ⊙ (x + v) is w's column sums, exactly
    /// (small integers): over all rows for one shared `v` (`[1, C]`), over each sample's rows
    /// for per-sample copies (`[10, C]`).
    fn rows_sum_exactly<B: AutodiffBackend>(device: &B::Device) {
        let [n, p, c] = [10, 7_000, 2];
        let w: Vec<f32> = (0..n * p * c).map(|i| (i % 7) as f32 - 2.0).collect();
        for copies in [1, n] {
            // Copy j of v is (1.5 + j, −2 − j); row r reads copy r / p, or the only one.
            let copy_of_row = |row: usize| if copies == 1 { 0 } else { row / p };
            let v: Vec<f32> = (0..copies)
                .flat_map(|j| [1.5 + j as f32, -2.0 - j as f32])
                .collect();
            let mut sums = vec![0.0; copies * c];
            for (i, w) in w.iter().enumerate() {
                sums[copy_of_row(i / c) * c + i % c] += w;
            }
            let v = Tensor::<B, 2>::from_data(TensorData::new(v.clone(), [copies, c]), device)
                .require_grad();
            let x = Tensor::<B, 2>::zeros([n * p, c], device);
            let y = x + broadcast_rows(v.clone(), [n, p]);
            let weights = Tensor::<B, 2>::from_data(TensorData::new(w.clone(), [n * p, c]), device);
            let grads = (y.clone() * weights).sum().backward();
            let host = |t: TensorData| t.convert::<f32>().into_vec::<f32>().expect("floats");
            let values = host(v.clone().inner().into_data());
            let y = host(y.into_data());
            for (row, got) in y.chunks(c).enumerate() {
                let j = copy_of_row(row);
                assert_eq!(
                    got,
                    &values[j * c..(j + 1) * c],
                    "{copies} copies: x + v, row {row}"
                );
            }
            let grad = host(v.grad(&grads).expect("v is on the tape").into_data());
            assert_eq!(grad, sums, "{copies} copies");
        }
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

    /// Equal groups of about the rows asked for, within the partials' budget.
    #[test]
    fn row_groups_divide_the_rows() {
        // LeNet's first layer at N = 1,200: 169 wanted; 691,200 = 2¹⁰·3³·5², so 160.
        assert_eq!(row_groups(1_200 * 576, 25 * 6, 4096), 160);
        // VGG-11's first convolution at N = 1,000: 250 groups of 4,096 rows.
        assert_eq!(row_groups(1_000 * 1_024, 27 * 64, 4096), 250);
        // A 4,608 × 512 weight: the budget allows 7 partials; 16,000 rows want 4.
        assert_eq!(row_groups(16_000, 4_608 * 512, 4096), 4);
        assert_eq!(row_groups(1_000 * 64, 4_608 * 512, 4096), 5);
        // A prime number of samples still splits: 605,400 = 1,009·2³·3·5², 148 wanted.
        assert_eq!(row_groups(1_009 * 600, 150, 4096), 120);
        // Few rows, a prime row count, no rows, a zero-width layer.
        assert_eq!(row_groups(1_200, 256 * 120, 4096), 1);
        assert_eq!(row_groups(65_537, 150, 4096), 1);
        assert_eq!(row_groups(0, 150, 4096), 1);
        assert_eq!(row_groups(1_200 * 576, 0, 4096), 160);
        // Shorter groups: LeNet's first layer in 1,350 groups of 512, VGG-11's in 2,000.
        assert_eq!(row_groups(1_200 * 576, 25 * 6, 512), 1_350);
        assert_eq!(row_groups(1_000 * 1_024, 27 * 64, 512), 2_000);
        // Groups of one row stop at the largest divisor within 2¹⁴ groups (15,360 of 45 rows),
        // far below lavapipe's 65,535 loop iterations.
        assert_eq!(row_groups(1_200 * 576, 25 * 6, 1), 15_360);
    }

    type Outer<B> = Autodiff<Autodiff<B>>;

    /// Σ c ⊙ (x·w)², its gradient in (x, w) and its Hessian times (vx, vw), with the product
    /// taken by `product`; small integers, so every value is exact in f32.
    fn loss_to_second_order<B: Backend>(
        product: impl Fn(Tensor<Outer<B>, 2>, Tensor<Outer<B>, 2>) -> Tensor<Outer<B>, 2>,
        device: &B::Device,
    ) -> Vec<Vec<f32>> {
        let [rows, k, c] = [12, 5, 3];
        let ints = |len: usize, modulus: usize, shift: f32| -> Vec<f32> {
            (0..len).map(|i| (i * 7 % modulus) as f32 - shift).collect()
        };
        let tensor = |values: Vec<f32>, shape: [usize; 2]| {
            Tensor::<B, 2>::from_data(TensorData::new(values, shape), device)
        };
        let x = Tensor::<Autodiff<B>, 2>::from_inner(tensor(ints(rows * k, 5, 2.0), [rows, k]))
            .require_grad();
        let w = Tensor::<Autodiff<B>, 2>::from_inner(tensor(ints(k * c, 3, 1.0), [k, c]))
            .require_grad();
        let weights = Tensor::from_inner(Tensor::from_inner(tensor(
            ints(rows * c, 4, 1.0),
            [rows, c],
        )));
        let (xo, wo) = (
            Tensor::<Outer<B>, 2>::from_inner(x.clone()).require_grad(),
            Tensor::<Outer<B>, 2>::from_inner(w.clone()).require_grad(),
        );
        let y = product(xo.clone(), wo.clone());
        let loss = (weights * y.clone() * y).sum();
        let grads = loss.clone().backward();
        let (gx, gw) = (xo.grad(&grads).expect("x"), wo.grad(&grads).expect("w"));
        let (vx, vw) = (ints(rows * k, 3, 1.0), ints(k * c, 5, 2.0));
        let dot = (gx.clone() * Tensor::from_inner(tensor(vx, [rows, k]))).sum()
            + (gw.clone() * Tensor::from_inner(tensor(vw, [k, c]))).sum();
        let inner = dot.backward();
        let (hx, hw) = (x.grad(&inner).expect("x"), w.grad(&inner).expect("w"));
        let host = |t: TensorData| t.convert::<f32>().into_vec::<f32>().expect("floats");
        vec![
            host(loss.inner().inner().into_data()),
            host(gx.inner().into_data()),
            host(gw.inner().into_data()),
            host(hx.into_data()),
            host(hw.into_data()),
        ]
    }

    /// The grouped product has the plain product's value, gradient and Hessian-vector product
    /// in both factors, exactly.
    fn grouped_product_is_the_product<B: Backend>(device: &B::Device) {
        let plain = loss_to_second_order::<B>(|x, w| x.matmul(w), device);
        for groups in [1, 3, 4, 12] {
            let grouped = loss_to_second_order::<B>(|x, w| grouped_product(x, w, groups), device);
            assert_eq!(grouped, plain, "{groups} groups");
        }
        assert!(
            plain[3].iter().any(|&h| h != 0.0),
            "a Hessian-vector product"
        );
    }

    #[test]
    fn grouped_product_is_the_product_to_second_order() {
        grouped_product_is_the_product::<crate::Cpu>(&Default::default());
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn grouped_product_is_the_product_to_second_order_on_gpu() {
        grouped_product_is_the_product::<crate::Gpu>(&Default::default());
    }
}
