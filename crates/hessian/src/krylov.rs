//! The Lanczos recurrence with full reorthogonalization, shared by the eigensolver and by
//! stochastic Lanczos quadrature, plus the small vector kernels they use.
//!
//! Every reduction here has a fixed order (sequential inside a dot product; rayon only
//! splits independent outputs), so a seed gives bit-identical results on any thread count.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::linalg::{dot, norm};
use crate::LinearOperator;

/// β below this fraction of the largest ‖A·v_j‖ seen is a breakdown: the Krylov subspace is
/// invariant (to rounding, which after two Gram–Schmidt passes is ~1e-15 relative).
const BREAKDOWN: f64 = 1e-12;
/// Rows per rayon task in the basis updates.
const CHUNK: usize = 4096;

pub(crate) fn gaussian_vector(rng: &mut impl Rng, d: usize) -> Vec<f64> {
    (0..d).map(|_| rng.sample(StandardNormal)).collect()
}

pub(crate) fn rademacher_vector(rng: &mut impl Rng, d: usize) -> Vec<f64> {
    (0..d)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// One classical Gram–Schmidt pass: w ← w − Σ_i (v_iᵀw) v_i; returns the coefficients.
fn project_out(basis: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    let h: Vec<f64> = basis.par_iter().map(|v| dot(v, w)).collect();
    let minus_h: Vec<f64> = h.iter().map(|x| -x).collect();
    add_combination(basis, &minus_h, w);
    h
}

/// out ← out + Σ_i c_i v_i, rows in parallel, each row summed in basis order.
pub(crate) fn add_combination(basis: &[Vec<f64>], c: &[f64], out: &mut [f64]) {
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(k, rows)| {
        let start = k * CHUNK;
        for (v, &ci) in basis.iter().zip(c) {
            for (o, vr) in rows.iter_mut().zip(&v[start..]) {
                *o += ci * vr;
            }
        }
    });
}

/// Removes the span of an orthonormal `basis` from `w` with two Gram–Schmidt passes
/// ("twice is enough": Kahan–Parlett, Giraud et al. 2005); returns the summed coefficients.
pub(crate) fn orthogonalize(basis: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    let first = project_out(basis, w);
    let second = project_out(basis, w);
    first.iter().zip(&second).map(|(a, b)| a + b).collect()
}

/// A Lanczos run: orthonormal basis V_m and the tridiagonal T_m = V_mᵀ A V_m.
pub(crate) struct Krylov {
    pub basis: Vec<Vec<f64>>,
    pub alpha: Vec<f64>,
    /// `beta[j]` = ‖w_j‖, the coupling of v_j to v_{j+1}; the last entry is the residual
    /// norm β_m, 0 where a breakdown was restarted (T splits into blocks there).
    pub beta: Vec<f64>,
    /// The next basis vector (unit), `None` after a breakdown.
    pending: Option<Vec<f64>>,
    /// Index of the first vector of the current block (the last start or restart).
    block_start: usize,
    anorm: f64,
}

impl Krylov {
    /// Starts from the direction of `start` (any nonzero vector).
    pub fn new(mut start: Vec<f64>) -> Self {
        let n = norm(&start);
        assert!(n > 0.0, "Lanczos start vector must be nonzero");
        start.iter_mut().for_each(|x| *x /= n);
        Self {
            basis: Vec::new(),
            alpha: Vec::new(),
            beta: Vec::new(),
            pending: Some(start),
            block_start: 0,
            anorm: 0.0,
        }
    }

    pub fn len(&self) -> usize {
        self.basis.len()
    }

    /// Whether the last step found an invariant subspace (β_m ≈ 0).
    pub fn broken_down(&self) -> bool {
        self.pending.is_none()
    }

    /// One Lanczos step: v_m = pending, w = A v_m orthogonalized against all of V (twice),
    /// α_m = v_mᵀ A v_m (accumulated from both passes), β_m = ‖w‖.
    /// Must not be called after a breakdown without [`Krylov::restart`].
    pub fn step<O: LinearOperator + ?Sized>(&mut self, op: &O) {
        let v = self.pending.take().expect("Lanczos step after breakdown");
        let mut w = op.apply(&v);
        self.anorm = self.anorm.max(norm(&w));
        self.basis.push(v);
        let h = orthogonalize(&self.basis, &mut w);
        self.alpha.push(h[h.len() - 1]);
        let beta = norm(&w);
        if beta > BREAKDOWN * self.anorm {
            w.iter_mut().for_each(|x| *x /= beta);
            self.pending = Some(w);
            self.beta.push(beta);
        } else {
            self.beta.push(0.0);
        }
    }

    /// After a breakdown, continues with a fresh random direction orthogonal to V (so the
    /// next block of T is decoupled). Returns false when V already spans R^D.
    pub fn restart(&mut self, rng: &mut impl Rng) -> bool {
        let d = self.basis.first().map_or(0, Vec::len);
        if self.len() >= d {
            return false;
        }
        let mut w = gaussian_vector(rng, d);
        let before = norm(&w);
        orthogonalize(&self.basis, &mut w);
        let n = norm(&w);
        if n <= 1e-8 * before {
            return false;
        }
        w.iter_mut().for_each(|x| *x /= n);
        self.pending = Some(w);
        self.block_start = self.len();
        true
    }

    /// Eigendecomposition of T_m (Ritz values and the coordinates of Ritz vectors in V_m).
    pub fn ritz(&self) -> SymmetricEigen<f64, nalgebra::Dyn> {
        self.ritz_from(0)
    }

    /// Eigendecomposition of the current block of T_m alone (rows and columns from the last
    /// start or restart on), which is decoupled from the blocks before it (β = 0 between).
    pub fn block_ritz(&self) -> SymmetricEigen<f64, nalgebra::Dyn> {
        self.ritz_from(self.block_start)
    }

    /// Eigendecomposition of the trailing principal submatrix T[start.., start..].
    fn ritz_from(&self, start: usize) -> SymmetricEigen<f64, nalgebra::Dyn> {
        let (alpha, beta) = (&self.alpha[start..], &self.beta[start..]);
        let m = alpha.len();
        let t = DMatrix::from_fn(m, m, |i, j| {
            if i == j {
                alpha[i]
            } else if i == j + 1 {
                beta[j]
            } else if j == i + 1 {
                beta[i]
            } else {
                0.0
            }
        });
        t.symmetric_eigen()
    }

    /// The residual norm β_m that multiplies the last row of T's eigenvectors.
    pub fn last_beta(&self) -> f64 {
        self.beta.last().copied().unwrap_or(0.0)
    }

    /// V_m · s: a Ritz vector from its coordinates.
    pub fn combine(&self, s: &[f64]) -> Vec<f64> {
        let mut u = vec![0.0; self.basis[0].len()];
        add_combination(&self.basis, s, &mut u);
        u
    }
}
