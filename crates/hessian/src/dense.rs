//! Small problems exactly: an explicit matrix as an operator, and an operator as a matrix.

use nalgebra::DMatrix;
use rayon::prelude::*;

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

/// Assembles the D×D matrix of `op` from its D products with unit vectors (columns in
/// parallel when the operator allows). Not symmetrized: see [`asymmetry`].
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
    let column = |j: usize| {
        let mut e = vec![0.0; d];
        e[j] = 1.0;
        op.apply(&e)
    };
    let columns: Vec<Vec<f64>> = if op.parallel_apply() {
        (0..d).into_par_iter().map(column).collect()
    } else {
        (0..d).map(column).collect()
    };
    DMatrix::from_iterator(d, d, columns.into_iter().flatten())
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
/// ```
pub fn asymmetry(m: &DMatrix<f64>) -> f64 {
    let scale = m.amax();
    if scale == 0.0 {
        return 0.0;
    }
    (m - m.transpose()).amax() / scale
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

/// Exact eigendecomposition: [`dense_matrix`], symmetrized as (A + Aᵀ)/2, then nalgebra's
/// `SymmetricEigen`. Costs D applications, O(D²) memory and O(D³) time.
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
    let eig = ((&a + a.transpose()) * 0.5).symmetric_eigen();
    let mut order: Vec<usize> = (0..a.nrows()).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    FullSpectrum {
        eigenvalues: order.iter().map(|&i| eig.eigenvalues[i]).collect(),
        eigenvectors: eig.eigenvectors.select_columns(&order),
        asymmetry: asym,
    }
}
