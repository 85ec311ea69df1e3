//! Small problems exactly: an explicit matrix as an operator, and an operator as a matrix.

use nalgebra::DMatrix;

use crate::linalg::symmetric_eigen;
use crate::LinearOperator;

/// An explicit matrix as a [`LinearOperator`] (tests, ground truth, small models).
///
/// ```
/// use curvscope_hessian::{DenseOperator, LinearOperator};
/// use nalgebra::DMatrix;
///
/// let a = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 5.0]));
/// assert_eq!(a.dim(), 2);
/// assert_eq!(a.apply(&[1.0, 1.0]), vec![3.0, 7.0]);
/// ```
#[derive(Clone, Debug)]
pub struct DenseOperator {
    matrix: DMatrix<f64>,
}

impl DenseOperator {
    /// Wraps a square matrix (symmetry is the caller's promise, as for any operator).
    ///
    /// # Panics
    /// If the matrix is not square.
    pub fn new(matrix: DMatrix<f64>) -> Self {
        assert!(matrix.is_square(), "operator matrix must be square");
        Self { matrix }
    }
    /// The wrapped matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.matrix
    }
}

impl LinearOperator for DenseOperator {
    fn dim(&self) -> usize {
        self.matrix.nrows()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let x = nalgebra::DVectorView::from_slice(x, x.len());
        (&self.matrix * x).data.into()
    }
}

/// Columns [`dense_matrix`] computes per pass: enough to keep every core busy.
const COLUMNS_PER_PASS: usize = 64;

/// Assembles the D×D matrix of `op` from its D products with unit vectors (a block of columns
/// per pass, in parallel when the operator allows). Not symmetrized: see [`asymmetry`].
///
/// ```
/// use curvscope_hessian::{dense_matrix, DenseOperator};
/// use nalgebra::DMatrix;
///
/// let m = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 5.0]);
/// assert_eq!(dense_matrix(&DenseOperator::new(m.clone())), m);
/// ```
pub fn dense_matrix<O: LinearOperator + ?Sized>(op: &O) -> DMatrix<f64> {
    let d = op.dim();
    let mut m = DMatrix::zeros(d, d);
    for_each_column_block(op, COLUMNS_PER_PASS, |j, column| {
        m.column_mut(j).copy_from_slice(column)
    });
    m
}

/// `sink(j, A·e_j)` for every column j in order, the products taken `per_pass` at a time by
/// [`LinearOperator::apply_many`] (in parallel where the operator allows), so that only one
/// block of columns is held besides the caller's matrix.
fn for_each_column_block<O: LinearOperator + ?Sized>(
    op: &O,
    per_pass: usize,
    mut sink: impl FnMut(usize, &[f64]),
) {
    let (d, per_pass) = (op.dim(), per_pass.max(1));
    for start in (0..d).step_by(per_pass) {
        let units: Vec<Vec<f64>> = (start..d.min(start + per_pass))
            .map(|j| {
                let mut e = vec![0.0; d];
                e[j] = 1.0;
                e
            })
            .collect();
        for (offset, column) in op.apply_many(&units).iter().enumerate() {
            sink(start + offset, column);
        }
    }
}

/// max |A − Aᵀ| / max |A| (0 for the zero matrix): how far an assembled operator is from
/// the symmetric matrix it claims to be (autodiff HVPs are symmetric only to rounding).
///
/// ```
/// use curvscope_hessian::asymmetry;
/// use nalgebra::DMatrix;
///
/// let m = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.5, 5.0]);
/// assert!((asymmetry(&m) - 0.1).abs() < 1e-15);
/// // A NaN entry (an overflowed product) is no symmetry.
/// let broken = DMatrix::from_row_slice(2, 2, &[1.0, f64::NAN, 2.0, 5.0]);
/// assert!(asymmetry(&broken).is_nan());
/// ```
pub fn asymmetry(m: &DMatrix<f64>) -> f64 {
    asymmetry_by(m.nrows(), |i, j| m[(i, j)])
}

/// [`asymmetry`] of the n×n matrix with entries `at(i, j)`, whatever stores them.
fn asymmetry_by(n: usize, at: impl Fn(usize, usize) -> f64) -> f64 {
    let (mut scale, mut skew) = (0.0f64, 0.0f64);
    for j in 0..n {
        for i in 0..n {
            // `f64::max` drops a NaN: a matrix holding one must not read as symmetric.
            if at(i, j).is_nan() {
                return f64::NAN;
            }
            scale = scale.max(at(i, j).abs());
            if i > j {
                skew = skew.max((at(i, j) - at(j, i)).abs());
            }
        }
    }
    if scale == 0.0 {
        0.0
    } else {
        skew / scale
    }
}

/// The whole spectrum of a (small) operator.
#[derive(Clone, Debug)]
pub struct FullSpectrum {
    /// All D eigenvalues, largest first.
    pub eigenvalues: Vec<f64>,
    /// Unit eigenvectors as columns, in the order of `eigenvalues`.
    pub eigenvectors: DMatrix<f64>,
    /// [`asymmetry`] of the assembled matrix before it was symmetrized.
    pub asymmetry: f64,
}

/// Exact eigendecomposition: [`dense_matrix`], symmetrized as (A + Aᵀ)/2, then
/// [`crate::symmetric_eigen`] (faer's solver: nalgebra's loses eigenvector accuracy on nearly
/// decoupled 2×2 blocks). Costs D applications, O(D²) memory and O(D³) time.
///
/// ```
/// use curvscope_hessian::{full_spectrum, DenseOperator};
/// use nalgebra::DMatrix;
///
/// let a = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]));
/// let s = full_spectrum(&a);
/// assert!((s.eigenvalues[0] - 3.0).abs() < 1e-12 && (s.eigenvalues[1] - 1.0).abs() < 1e-12);
/// assert_eq!(s.asymmetry, 0.0);
/// ```
pub fn full_spectrum<O: LinearOperator + ?Sized>(op: &O) -> FullSpectrum {
    let a = dense_matrix(op);
    let asym = asymmetry(&a);
    let eig = symmetric_eigen(&((&a + a.transpose()) * 0.5));
    let mut order: Vec<usize> = (0..a.nrows()).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    FullSpectrum {
        eigenvalues: order.iter().map(|&i| eig.eigenvalues[i]).collect(),
        eigenvectors: eig.eigenvectors.select_columns(&order),
        asymmetry: asym,
    }
}
