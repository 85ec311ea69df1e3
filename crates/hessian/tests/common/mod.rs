//! Ground-truth operators: A = Q diag(λ) Qᵀ with a seeded Haar-random orthogonal Q; the small
//! CNN whose Hessian is checked densely.
#![allow(dead_code)] // each test binary uses a subset

use curvscope_hessian::{BasisStore, DenseOperator, LinearOperator};
use curvscope_model::{ArchSpec, Cpu, DeviceBasis, Precision};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Q from the QR factorization of a Gaussian matrix, columns sign-fixed by diag(R) (Haar).
pub fn random_orthogonal(d: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = DMatrix::<f64>::from_fn(d, d, |_, _| rand::Rng::sample(&mut rng, StandardNormal));
    let qr = g.qr();
    let mut q = qr.q();
    let r = qr.r();
    for j in 0..d {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

/// The symmetric operator Q diag(λ) Qᵀ (symmetrized to remove rounding asymmetry).
pub fn with_spectrum(lambdas: &[f64], seed: u64) -> DenseOperator {
    let q = random_orthogonal(lambdas.len(), seed);
    let scaled = &q * DMatrix::from_diagonal(&DVector::from_column_slice(lambdas));
    let a = &scaled * q.transpose();
    DenseOperator::new((&a + a.transpose()) * 0.5)
}

/// Eigenvalues of a dense symmetric matrix by nalgebra, largest first.
pub fn reference_eigenvalues(a: &DMatrix<f64>) -> Vec<f64> {
    let mut ev: Vec<f64> = a.clone().symmetric_eigenvalues().iter().copied().collect();
    ev.sort_by(|x, y| y.total_cmp(x));
    ev
}

/// Tr(A^p) from the eigenvalues.
pub fn power_trace(lambdas: &[f64], p: i32) -> f64 {
    lambdas.iter().map(|l| l.powi(p)).sum()
}

/// A small CNN for 8×8 digits: conv 1→4 (3×3), pool, fc 36→20→10 (D = 990).
pub fn small_cnn() -> ArchSpec {
    ArchSpec::Cnn {
        side: 8,
        channels: vec![1, 4],
        kernel: 3,
        hidden: vec![20],
        classes: 10,
    }
}

/// diag(1, 2, …, D) whose products are NaN from the `after`-th on: an overflow partway
/// through a run, as an f32 network's Hessian-vector product can give.
pub struct Overflowing {
    pub dim: usize,
    pub after: usize,
    pub products: std::sync::atomic::AtomicUsize,
}

impl Overflowing {
    pub fn new(dim: usize, after: usize) -> Self {
        Self {
            dim,
            after,
            products: 0.into(),
        }
    }
}

impl curvscope_hessian::LinearOperator for Overflowing {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let done = self
            .products
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match done >= self.after {
            true => vec![f64::NAN; x.len()],
            false => x
                .iter()
                .enumerate()
                .map(|(i, v)| (i + 1) as f64 * v)
                .collect(),
        }
    }
}

/// An operator whose Krylov basis is kept in a [`DeviceBasis`] on burn's CPU backend, in
/// `precision`, in tensors of at most 3 vectors (so the sweeps cross chunks): the code path a
/// model's Hessian on a GPU takes, on the CPU.
pub struct OnDevice<'a, O>(pub &'a O, pub Precision);

impl<O: LinearOperator> LinearOperator for OnDevice<'_, O> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.0.apply(x)
    }
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        let row_bytes = self.dim().next_multiple_of(4096) * 8;
        let store = DeviceBasis::<Cpu>::new(self.dim(), &Default::default(), self.1, 3 * row_bytes);
        Some(Box::new(store))
    }
}
