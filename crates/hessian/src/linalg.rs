//! The two vector primitives every crate of curvscope reduces to, in one place so that every
//! inner product is summed in the same order and results are bit-reproducible; and the small
//! symmetric eigendecomposition, for which nalgebra's falls short.

use faer::Par;
use nalgebra::{DMatrix, DVector, Dyn, SymmetricEigen};

/// Independent partial sums in [`dot`], which the compiler keeps in vector registers (four SSE2
/// registers of two f64 on baseline x86-64), so a long dot product runs at memory speed instead
/// of waiting on one chain of additions: 2.6× faster on 10⁶ entries than summing left to right
/// (measured once, on one thread).
const LANES: usize = 8;

/// xᵀy in a fixed order: entry i is added to partial sum i mod 8 (the tail after the last full
/// group of 8 to sum 0), and the 8 partial sums are added pairwise, ((s₀+s₁)+(s₂+s₃)) +
/// ((s₄+s₅)+(s₆+s₇)). The same inputs give the same bits on any machine and thread count.
///
/// ```
/// assert_eq!(curvscope_hessian::dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
///
/// # Panics
/// If the lengths differ (a silent zip would truncate to the shorter).
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "dot of vectors of different lengths");
    let (xs, ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (x_tail, y_tail) = (xs.remainder(), ys.remainder());
    let mut s = [0.0; LANES];
    for (a, b) in xs.zip(ys) {
        for lane in 0..LANES {
            s[lane] += a[lane] * b[lane];
        }
    }
    for (a, b) in x_tail.iter().zip(y_tail) {
        s[0] += a * b;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// ‖x‖₂: √(xᵀx) with [`dot`]'s bits where xᵀx is a normal number, else (entries beyond
/// 1e±154, whose squares underflow to 0 or overflow to ∞) from x / max|xᵢ|, so a Lanczos run on
/// an operator scaled by 1e-170 does not read every step as a breakdown.
///
/// ```
/// assert_eq!(curvscope_hessian::norm(&[3.0, 4.0]), 5.0);
/// for scale in [1e-200, 1e200] {
///     let n = curvscope_hessian::norm(&[3.0 * scale, 4.0 * scale]);
///     assert!((n / (5.0 * scale) - 1.0).abs() < 1e-15);
/// }
/// ```
pub fn norm(x: &[f64]) -> f64 {
    let squares = dot(x, x);
    if squares.is_normal() || squares == 0.0 && x.iter().all(|&v| v == 0.0) || squares.is_nan() {
        return squares.sqrt();
    }
    let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !scale.is_finite() {
        return scale;
    }
    let scaled: Vec<f64> = x.iter().map(|v| v / scale).collect();
    scale * dot(&scaled, &scaled).sqrt()
}

/// The eigendecomposition of a small symmetric matrix (eigenvalues ascending, unit eigenvectors
/// as columns), by faer's self-adjoint solver on one thread, so its bits do not depend on the
/// thread count. It is returned as nalgebra's `SymmetricEigen`, the type the Krylov code works in.
///
/// Why not nalgebra's own `SymmetricEigen`: nalgebra 0.33 deflates a converged 2×2 block by
/// building its eigenvector from (λ − d₂, b), which cancels when the off-diagonal b is tiny. On
/// [[−0.9092, 3.5·10⁻¹⁶], [3.5·10⁻¹⁶, 0.2780]] it returns eigenvectors rotated by 8°
/// (‖Au − λu‖ = 0.17) where faer returns the identity; its eigenvalues are right. A Lanczos
/// tridiagonal T_m holds such blocks exactly when Ritz values converge, so Ritz vectors, the
/// residual estimates β_m·|s_m| and SLQ's weights took the error: residual estimates of 0 for
/// Ritz vectors 5·10⁴ times the tolerance off (a 3,000-operator fuzz). See
/// `crates/hessian/tests/eigen.rs` (`converged_means_converged_on_random_spectra`).
///
/// ```
/// use nalgebra::DMatrix;
/// let eig = curvscope_hessian::symmetric_eigen(&DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]));
/// assert!((eig.eigenvalues[0] - 1.0).abs() < 1e-15 && (eig.eigenvalues[1] - 3.0).abs() < 1e-15);
/// ```
///
/// A matrix with a NaN or infinite entry (an operator that returned one), or one on which the
/// iteration failed, gets NaN eigenpairs, which every caller passes on as "no number".
///
/// # Panics
/// If `m` is not square.
pub fn symmetric_eigen(m: &DMatrix<f64>) -> SymmetricEigen<f64, Dyn> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
    assert_eq!(m.nrows(), m.ncols(), "a square matrix");
    let n = m.nrows();
    let a = faer::Mat::from_fn(n, n, |i, j| m[(i, j)]);
    let (mut u, mut s) = (
        faer::Mat::<f64>::zeros(n, n),
        faer::diag::Diag::<f64>::zeros(n),
    );
    let scratch =
        self_adjoint_evd_scratch::<f64>(n, ComputeEigenvectors::Yes, Par::Seq, Default::default());
    let solved = m.iter().all(|x| x.is_finite())
        && self_adjoint_evd(
            a.as_ref(),
            s.as_mut(),
            Some(u.as_mut()),
            Par::Seq,
            MemStack::new(&mut MemBuffer::new(scratch)),
            Default::default(),
        )
        .is_ok();
    if !solved {
        return SymmetricEigen {
            eigenvalues: DVector::from_element(n, f64::NAN),
            eigenvectors: DMatrix::from_element(n, n, f64::NAN),
        };
    }
    SymmetricEigen {
        eigenvalues: DVector::from_fn(n, |i, _| s[i]),
        eigenvectors: DMatrix::from_fn(n, n, |i, j| u[(i, j)]),
    }
}
