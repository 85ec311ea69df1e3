//! Extreme eigenpairs by Lanczos with full reorthogonalization and a convergence test.

use nalgebra::{Dyn, SymmetricEigen};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::krylov::{gaussian_vector, Krylov};
use crate::linalg::norm;
use crate::{CountingOperator, LinearOperator};

/// Which end of the spectrum [`top_eigenpairs`] looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Which {
    /// The k algebraically largest eigenvalues, largest first.
    Largest,
    /// The k algebraically smallest (most negative) eigenvalues, most negative first.
    Smallest,
    /// The k largest and the k smallest, all sorted largest first.
    Both,
}

/// Settings of [`top_eigenpairs`].
///
/// ```
/// use curvscope_hessian::{LanczosOptions, Which};
///
/// let opts = LanczosOptions { k: 5, which: Which::Both, ..LanczosOptions::default() };
/// assert_eq!(opts.tol, 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanczosOptions {
    /// Number of eigenpairs wanted (per end for [`Which::Both`]); capped at D.
    pub k: usize,
    /// Which end of the spectrum.
    pub which: Which,
    /// Relative convergence tolerance: a pair is accepted when its residual
    /// ‖A·u − λ·u‖ ≤ tol·max|θ| (θ the current Ritz values, an estimate of ‖A‖₂).
    pub tol: f64,
    /// Largest Krylov subspace (= applications, = stored D-vectors) before giving up;
    /// `None` means min(D, 2·wanted + 100).
    pub max_krylov: Option<usize>,
    /// Seed of the ChaCha8 generator for the start (and any restart) vector.
    pub seed: u64,
    /// Steps between convergence tests (each costs an eigendecomposition of T_m).
    pub check_every: usize,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        Self {
            k: 10,
            which: Which::Largest,
            tol: 1e-6,
            max_krylov: None,
            seed: 0,
            check_every: 5,
        }
    }
}

/// Ritz pairs found by [`top_eigenpairs`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Eigenpairs {
    /// Ritz values in the order given by [`Which`].
    pub eigenvalues: Vec<f64>,
    /// Unit Ritz vectors, one per eigenvalue.
    pub eigenvectors: Vec<Vec<f64>>,
    /// Lanczos residual estimates β_m·|s_{m,i}|, equal to ‖A·u_i − λ_i·u_i‖ up to rounding
    /// because the basis is kept orthonormal (check with [`true_residuals`]).
    pub residuals: Vec<f64>,
    /// Operator applications spent (= `krylov_size`).
    pub n_applications: usize,
    /// Dimension m of the final Krylov subspace.
    pub krylov_size: usize,
    /// Whether every returned pair passed the tolerance (false: `max_krylov` was hit).
    pub converged: bool,
    /// The seed used.
    pub seed: u64,
}

/// Extreme eigenpairs of a symmetric operator by Lanczos.
///
/// What the [`lanczos`] crate lacks is done here: a seeded Gaussian start, full
/// reorthogonalization (two classical Gram–Schmidt passes per step, so no spurious copies),
/// a convergence test on the residual estimate β_m·|s_{m,i}| (s_i the eigenvectors of the
/// tridiagonal T_m) checked every `check_every` steps, and restarts on breakdown: when
/// β ≈ 0 the Krylov space is invariant and the run continues from a fresh random vector
/// orthogonal to it (this is how zero eigenvalues of rank-deficient operators are found).
/// The subspace grows until the wanted pairs converge or `max_krylov` is reached.
///
/// Like any single-vector Lanczos, an eigenvalue whose eigenspace the start vector misses
/// (probability zero, unless it is an exact multiple eigenvalue, of which one copy is seen
/// per invariant block) can go unnoticed: convergence means accurate pairs, not a proof that
/// none is missing. Memory: `krylov_size` vectors of length D.
///
/// ```
/// use curvscope_hessian::{top_eigenpairs, DenseOperator, LanczosOptions, Which};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(50, |i, _| i as f64 - 10.0)));
/// let opts = LanczosOptions { k: 2, which: Which::Both, ..LanczosOptions::default() };
/// let r = top_eigenpairs(&a, &opts);
/// assert!(r.converged);
/// let want = [39.0, 38.0, -9.0, -10.0];
/// for (got, want) in r.eigenvalues.iter().zip(want) {
///     assert!((got - want).abs() < 1e-8);
/// }
/// ```
pub fn top_eigenpairs<O: LinearOperator + ?Sized>(op: &O, opts: &LanczosOptions) -> Eigenpairs {
    let d = op.dim();
    assert!(opts.k >= 1 && d >= 1, "need k ≥ 1 and D ≥ 1");
    let wanted = match opts.which {
        Which::Both => (2 * opts.k).min(d),
        _ => opts.k.min(d),
    };
    let max_m = opts.max_krylov.unwrap_or(2 * wanted + 100).clamp(wanted, d);
    let check_every = opts.check_every.max(1);
    let counted = CountingOperator::new(op);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut krylov = Krylov::new(gaussian_vector(&mut rng, d));
    loop {
        krylov.step(&counted);
        let m = krylov.len();
        let at_end = m == max_m;
        let due = at_end || krylov.broken_down() || m.is_multiple_of(check_every);
        if due && m >= wanted {
            let selection = select(&krylov, opts, wanted);
            if selection.converged || at_end {
                return finish(&krylov, selection, opts.seed, counted.applications());
            }
        }
        if krylov.broken_down() {
            assert!(
                krylov.restart(&mut rng),
                "Krylov space exhausted below wanted size"
            );
        }
    }
}

/// The wanted Ritz pairs of the current T_m (indices into its eigendecomposition).
struct Selection {
    eig: SymmetricEigen<f64, Dyn>,
    chosen: Vec<usize>,
    residuals: Vec<f64>,
    converged: bool,
}

/// Selects and tests the wanted Ritz pairs of the current T_m.
fn select(krylov: &Krylov, opts: &LanczosOptions, wanted: usize) -> Selection {
    let eig = krylov.ritz();
    let m = krylov.len();
    let mut desc: Vec<usize> = (0..m).collect();
    desc.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let chosen: Vec<usize> = match opts.which {
        Which::Largest => desc[..wanted].to_vec(),
        Which::Smallest => desc.iter().rev().take(wanted).copied().collect(),
        Which::Both if wanted >= m => desc,
        Which::Both => {
            let half = wanted / 2;
            desc[..half]
                .iter()
                .chain(&desc[m - half..])
                .copied()
                .collect()
        }
    };
    let scale = eig.eigenvalues.amax();
    let beta = krylov.last_beta();
    let residuals: Vec<f64> = chosen
        .iter()
        .map(|&i| beta * eig.eigenvectors[(m - 1, i)].abs())
        .collect();
    Selection {
        converged: residuals.iter().all(|&r| r <= opts.tol * scale),
        eig,
        chosen,
        residuals,
    }
}

/// Forms the Ritz vectors V_m·s_i of a final selection.
fn finish(krylov: &Krylov, sel: Selection, seed: u64, n_applications: usize) -> Eigenpairs {
    let eigenvectors = sel
        .chosen
        .iter()
        .map(|&i| {
            let mut u = krylov.combine(sel.eig.eigenvectors.column(i).as_slice());
            let n = norm(&u);
            u.iter_mut().for_each(|x| *x /= n);
            u
        })
        .collect();
    Eigenpairs {
        eigenvalues: sel.chosen.iter().map(|&i| sel.eig.eigenvalues[i]).collect(),
        eigenvectors,
        residuals: sel.residuals,
        n_applications,
        krylov_size: krylov.len(),
        converged: sel.converged,
        seed,
    }
}

/// True residual norms ‖A·u_i − λ_i·u_i‖ of returned pairs (one application each), to
/// audit the Lanczos estimates in [`Eigenpairs::residuals`].
///
/// ```
/// use curvscope_hessian::{top_eigenpairs, true_residuals, DenseOperator, LanczosOptions};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(30, |i, _| (i * i) as f64)));
/// let r = top_eigenpairs(&a, &LanczosOptions { k: 3, ..LanczosOptions::default() });
/// for res in true_residuals(&a, &r) {
///     assert!(res <= 1e-6 * 841.0);
/// }
/// ```
pub fn true_residuals<O: LinearOperator + ?Sized>(op: &O, pairs: &Eigenpairs) -> Vec<f64> {
    op.apply_many(&pairs.eigenvectors)
        .iter()
        .zip(&pairs.eigenvectors)
        .zip(&pairs.eigenvalues)
        .map(|((au, u), &lambda)| {
            au.iter()
                .zip(u)
                .map(|(a, x)| (a - lambda * x).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}
