//! Test objectives with closed-form derivatives, and dense references.

use curvscope_hessian::Eigenpairs;
use curvscope_model::Objective;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// An r×c matrix of N(0, 1) entries from `seed`.
pub fn gaussian_matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.sample(StandardNormal))
}

/// |a − b| ≤ tol·|b|.
pub fn assert_rel(a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol * b.abs(),
        "{a} vs {b}: relative error {:e} > {tol:e}",
        ((a - b) / b).abs()
    );
}

/// ℓ_i = ½(x_iᵀθ − y_i)²: g_i = r_i x_i, H = XᵀX/N.
pub struct LeastSquares {
    pub x: DMatrix<f64>,
    pub y: DVector<f64>,
}

impl LeastSquares {
    pub fn random(n: usize, d: usize, seed: u64) -> Self {
        Self {
            x: gaussian_matrix(n, d, seed),
            y: gaussian_matrix(n, 1, seed + 1).column(0).into(),
        }
    }

    fn residuals(&self, theta: &[f64]) -> DVector<f64> {
        &self.x * DVector::from_column_slice(theta) - &self.y
    }

    /// Per-sample gradients as the rows of an N×D matrix.
    pub fn gradient_matrix(&self, theta: &[f64]) -> DMatrix<f64> {
        let r = self.residuals(theta);
        DMatrix::from_fn(self.x.nrows(), self.x.ncols(), |i, j| r[i] * self.x[(i, j)])
    }

    pub fn hessian(&self) -> DMatrix<f64> {
        self.x.transpose() * &self.x / self.x.nrows() as f64
    }
}

impl Objective for LeastSquares {
    fn dim(&self) -> usize {
        self.x.ncols()
    }
    fn n_samples(&self) -> usize {
        self.x.nrows()
    }
    fn per_sample_losses(&self, theta: &[f64]) -> Vec<f64> {
        self.residuals(theta).iter().map(|r| 0.5 * r * r).collect()
    }
    fn weighted_grad(&self, theta: &[f64], w: &[f64]) -> Vec<f64> {
        let wr = self
            .residuals(theta)
            .component_mul(&DVector::from_column_slice(w));
        (self.x.transpose() * wr).as_slice().to_vec()
    }
    fn hvp(&self, _theta: &[f64], v: &[f64]) -> Vec<f64> {
        (self.hessian() * DVector::from_column_slice(v))
            .as_slice()
            .to_vec()
    }
    fn per_sample_grads_range(&self, theta: &[f64], start: usize, len: usize) -> Vec<f64> {
        let g = self.gradient_matrix(theta);
        g.rows(start, len).transpose().as_slice().to_vec()
    }
}

/// Σ = (1/N) G_cᵀG_c from an N×D matrix of per-sample gradients.
pub fn dense_covariance(g: &DMatrix<f64>) -> DMatrix<f64> {
    let mean = g.row_mean();
    let centred = DMatrix::from_fn(g.nrows(), g.ncols(), |i, j| g[(i, j)] - mean[j]);
    centred.transpose() * &centred / g.nrows() as f64
}

/// Top-k eigenpairs of a symmetric matrix, descending.
pub fn dense_top(m: &DMatrix<f64>, k: usize) -> Eigenpairs {
    let eig = SymmetricEigen::new(m.clone());
    let mut order: Vec<usize> = (0..m.nrows()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    order.truncate(k);
    Eigenpairs {
        eigenvalues: order.iter().map(|&i| eig.eigenvalues[i]).collect(),
        eigenvectors: order
            .iter()
            .map(|&i| eig.eigenvectors.column(i).as_slice().to_vec())
            .collect(),
        residuals: vec![0.0; k],
        converged: true,
        ..Eigenpairs::default()
    }
}

/// L(θ) = ½(θ − m)ᵀA(θ − m) + c as one sample: ∇L = A(θ − m), H = A, minimum c at θ = m.
pub struct ShiftedQuadratic {
    pub a: DMatrix<f64>,
    pub minimum: DVector<f64>,
    pub c: f64,
}

impl Objective for ShiftedQuadratic {
    fn dim(&self) -> usize {
        self.a.nrows()
    }
    fn n_samples(&self) -> usize {
        1
    }
    fn per_sample_losses(&self, theta: &[f64]) -> Vec<f64> {
        let r = DVector::from_column_slice(theta) - &self.minimum;
        vec![0.5 * r.dot(&(&self.a * &r)) + self.c]
    }
    fn weighted_grad(&self, theta: &[f64], w: &[f64]) -> Vec<f64> {
        self.per_sample_grads_range(theta, 0, 1)
            .iter()
            .map(|g| w[0] * g)
            .collect()
    }
    fn hvp(&self, _theta: &[f64], v: &[f64]) -> Vec<f64> {
        (&self.a * DVector::from_column_slice(v))
            .as_slice()
            .to_vec()
    }
    fn per_sample_grads_range(&self, theta: &[f64], _start: usize, _len: usize) -> Vec<f64> {
        (&self.a * (DVector::from_column_slice(theta) - &self.minimum))
            .as_slice()
            .to_vec()
    }
}
