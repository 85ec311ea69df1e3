//! The whole spectrum of a large operator (D ≈ 12,000): D products assembled into an f64
//! matrix and decomposed by faer.
//!
//! faer's self-adjoint eigensolver is blocked and multithreaded; nalgebra's `SymmetricEigen` is
//! unblocked and single-threaded, ~8× slower at D = 2,000 and out of reach at D = 11,330 (and
//! its eigenvectors lose accuracy on nearly decoupled 2×2 blocks: [`crate::symmetric_eigen`],
//! faer's solver in nalgebra's types, serves the small problems that need eigenvectors).

use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use crate::LinearOperator;

/// Bytes [`dense_eigenvalues`] needs at dimension `dim`: the D×D f64 matrix and the
/// eigensolver's copy of it (its tridiagonal reduction works on one). Saturates at `u64::MAX`
/// (D ≥ 2³⁰ would wrap to a small number and pass any budget).
///
/// ```
/// assert_eq!(curvscope_hessian::dense_spectrum_bytes(1000), 16_000_000);
/// assert_eq!(curvscope_hessian::dense_spectrum_bytes(1 << 30), u64::MAX);
/// ```
pub fn dense_spectrum_bytes(dim: usize) -> u64 {
    (dim as u64)
        .checked_mul(dim as u64)
        .and_then(|entries| entries.checked_mul(2 * 8))
        .unwrap_or(u64::MAX)
}

/// Why [`dense_eigenvalues`] gave no spectrum.
#[derive(Clone, Debug, PartialEq)]
pub enum DenseSpectrumError {
    /// The matrix would not fit the memory budget (refused before any product).
    TooLarge {
        /// The dimension D.
        dim: usize,
        /// [`dense_spectrum_bytes`] of D.
        needed_bytes: u64,
        /// The budget it exceeds.
        budget_bytes: u64,
    },
    /// A product had a NaN or infinite entry (a NaN loss, an overflowing network).
    NotFinite {
        /// The first column j (A·e_j) that had one.
        column: usize,
    },
}

impl DenseSpectrumError {
    /// `Err(TooLarge)` when the dense spectrum of dimension `dim` needs more than
    /// `budget_bytes`: the check [`dense_eigenvalues`] makes first, for callers that want to
    /// refuse before other work.
    ///
    /// ```
    /// use curvscope_hessian::DenseSpectrumError;
    /// assert!(DenseSpectrumError::check_memory(1000, 16_000_000).is_ok());
    /// let err = DenseSpectrumError::check_memory(11_330, 1_000_000_000).unwrap_err();
    /// assert!(err.to_string().contains("D = 11330 needs 2.05 GB"));
    /// ```
    pub fn check_memory(dim: usize, budget_bytes: u64) -> Result<(), Self> {
        let needed_bytes = dense_spectrum_bytes(dim);
        if needed_bytes > budget_bytes {
            return Err(Self::TooLarge {
                dim,
                needed_bytes,
                budget_bytes,
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for DenseSpectrumError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge {
                dim,
                needed_bytes,
                budget_bytes,
            } => write!(
                f,
                "the full spectrum of D = {dim} needs {} GB (the D×D f64 Hessian and the \
                 eigensolver's copy), over the memory budget of {} GB",
                gb(*needed_bytes),
                gb(*budget_bytes)
            ),
            Self::NotFinite { column } => write!(
                f,
                "column {column} of the matrix (a product with e_{column}) has a NaN or infinite \
                 entry"
            ),
        }
    }
}

impl std::error::Error for DenseSpectrumError {}

/// `bytes` in GB (10⁹ bytes) to three significant digits: "2.05", "0.00000518".
fn gb(bytes: u64) -> String {
    let gb = bytes as f64 / 1e9;
    let digits = if gb > 0.0 {
        (2 - gb.log10().floor() as i64).max(0) as usize
    } else {
        0
    };
    format!("{gb:.digits$}")
}

/// Every eigenvalue of a symmetric operator, from [`dense_eigenvalues`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseSpectrum {
    /// All D eigenvalues, largest first.
    pub eigenvalues: Vec<f64>,
    /// [`crate::asymmetry`] of the assembled matrix before it was symmetrized, over the entries
    /// computed on both sides of the diagonal (all of them for [`DenseSpectrum::of_matrix`];
    /// pairs within one block of [`crate::LinearOperator::block_starts`] for
    /// [`dense_eigenvalues`]).
    pub asymmetry: f64,
    /// The assembled diagonal, each entry eᵢᵀAeᵢ as the operator gave it (for a Hessian, exact
    /// HVPs: diag(H) exactly, for any network).
    pub diagonal: Vec<f64>,
}

impl DenseSpectrum {
    /// The spectrum of an assembled matrix that should be symmetric: its [`crate::asymmetry`],
    /// then faer's self-adjoint eigenvalues of (A + Aᵀ)/2 (symmetrized in place; values only,
    /// no D×D eigenvector matrix).
    ///
    /// # Panics
    /// If `a` is not square or has a NaN or infinite entry.
    ///
    /// ```
    /// use curvscope_hessian::DenseSpectrum;
    /// let s = DenseSpectrum::of_matrix(faer::mat![[2.0, 1.0], [1.5, 2.0]]);
    /// assert!((s.eigenvalues[0] - 3.25).abs() < 1e-12 && (s.asymmetry - 0.25).abs() < 1e-15);
    /// assert_eq!(s.trace(), 4.0);
    /// ```
    pub fn of_matrix(a: Mat<f64>) -> Self {
        assert_eq!(a.nrows(), a.ncols(), "a square matrix");
        Self::of_columns(a, |_| 0)
    }

    /// [`DenseSpectrum::of_matrix`] of a matrix whose column j is known only from row
    /// `first_row(j)` ≤ j down (the rest is ignored): the lower triangle and, where a column
    /// reaches above the diagonal, entries computed twice, which alone measure the asymmetry
    /// and are averaged.
    fn of_columns(mut a: Mat<f64>, first_row: impl Fn(usize) -> usize) -> Self {
        let d = a.nrows();
        let (mut scale, mut skew) = (0.0f64, 0.0f64);
        for j in 0..d {
            for i in first_row(j)..d {
                scale = scale.max(a[(i, j)].abs());
            }
            for i in j + 1..d {
                if first_row(i) <= j {
                    skew = skew.max((a[(i, j)] - a[(j, i)]).abs());
                    a[(i, j)] = 0.5 * (a[(i, j)] + a[(j, i)]);
                }
            }
        }
        let asymmetry = if scale == 0.0 { 0.0 } else { skew / scale };
        let diagonal = (0..d).map(|j| a[(j, j)]).collect();
        let mut eigenvalues = a
            .self_adjoint_eigenvalues(Side::Lower)
            .expect("the symmetric eigenvalue iteration converges on finite matrices");
        eigenvalues.reverse();
        Self {
            eigenvalues,
            asymmetry,
            diagonal,
        }
    }

    /// The trace: the sum of [`DenseSpectrum::diagonal`] (Tr(H) exactly, for any network).
    pub fn trace(&self) -> f64 {
        self.diagonal.iter().sum()
    }

    /// max |λ|, the scale the counts below are relative to (λ₁ at a minimum).
    pub fn scale(&self) -> f64 {
        self.eigenvalues.iter().fold(0.0, |m, l| m.max(l.abs()))
    }

    /// Eigenvalues below −`rtol`·max |λ|: negative curvature beyond rounding.
    ///
    /// ```
    /// use curvscope_hessian::DenseSpectrum;
    /// let s = DenseSpectrum { eigenvalues: vec![10.0, 1e-9, -1e-9, -0.5], asymmetry: 0.0,
    ///     diagonal: vec![9.5, 0.0, 0.0, 0.0] };
    /// assert_eq!(s.count_negative(1e-6), 1);
    /// assert_eq!(s.count_near_zero(1e-6), 2);
    /// ```
    pub fn count_negative(&self, rtol: f64) -> usize {
        let floor = -rtol * self.scale();
        self.eigenvalues.iter().filter(|&&l| l < floor).count()
    }

    /// Eigenvalues with |λ| ≤ `rtol`·max |λ|: flat directions, zero up to rounding.
    pub fn count_near_zero(&self, rtol: f64) -> usize {
        let band = rtol * self.scale();
        self.eigenvalues
            .iter()
            .filter(|&&l| l.abs() <= band)
            .count()
    }
}

/// Every eigenvalue of the symmetric operator `op`: its lower triangle, column j from row s
/// down as column j − s of the trailing block A[s.., s..], s the last of
/// [`LinearOperator::block_starts`] ≤ j ([`LinearOperator::apply_trailing`], `columns_per_pass`
/// at a time: for a Hessian, HVPs with the layers before s held fixed), stored in f64; entries
/// computed on both sides of the diagonal (pairs within one block) are averaged and measure
/// the asymmetry; then faer's self-adjoint eigenvalues (values only: no D×D eigenvector
/// matrix). `progress(columns_done)` is called after each column.
///
/// Refuses up front, before any product, when [`dense_spectrum_bytes`] exceeds `budget_bytes`;
/// fails on a non-finite product.
/// Costs D products, 2·D²·8 bytes and O(D³) time. faer spreads the decomposition over rayon's
/// threads and its blocking follows their count: the eigenvalues repeat bit for bit at a fixed
/// `--threads`, and agree to rounding across counts.
///
/// # Panics
/// If the operator's [`LinearOperator::block_starts`] do not begin at 0.
///
/// ```
/// use curvscope_hessian::{dense_eigenvalues, DenseOperator};
/// use nalgebra::DMatrix;
///
/// let a = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]));
/// let s = dense_eigenvalues(&a, 2, u64::MAX, &|_| {})?;
/// assert!((s.eigenvalues[0] - 3.0).abs() < 1e-12 && (s.eigenvalues[1] - 1.0).abs() < 1e-12);
/// assert!(dense_eigenvalues(&a, 2, 10, &|_| {}).is_err());
/// # Ok::<(), curvscope_hessian::DenseSpectrumError>(())
/// ```
pub fn dense_eigenvalues<O: LinearOperator + ?Sized>(
    op: &O,
    columns_per_pass: usize,
    budget_bytes: u64,
    progress: &dyn Fn(usize),
) -> Result<DenseSpectrum, DenseSpectrumError> {
    let d = op.dim();
    DenseSpectrumError::check_memory(d, budget_bytes)?;
    let mut a = Mat::<f64>::zeros(d, d);
    let mut starts = op.block_starts();
    starts.retain(|&s| s < d);
    assert_eq!(starts.first(), Some(&0), "blocks start at 0, ascending");
    let ends = starts.iter().skip(1).copied().chain([d]);
    for (start, end) in starts.iter().copied().zip(ends) {
        for first in (start..end).step_by(columns_per_pass.max(1)) {
            let columns = first..end.min(first + columns_per_pass.max(1));
            let units: Vec<Vec<f64>> = columns
                .clone()
                .map(|j| {
                    let mut e = vec![0.0; d - start];
                    e[j - start] = 1.0;
                    e
                })
                .collect();
            for (j, column) in columns.zip(op.apply_trailing(start, &units)) {
                if !column.iter().all(|x| x.is_finite()) {
                    return Err(DenseSpectrumError::NotFinite { column: j });
                }
                a.col_as_slice_mut(j)[start..].copy_from_slice(&column);
                progress(j + 1);
            }
        }
    }
    let block_start = |j: usize| starts[starts.partition_point(|&s| s <= j) - 1];
    Ok(DenseSpectrum::of_columns(a, block_start))
}
