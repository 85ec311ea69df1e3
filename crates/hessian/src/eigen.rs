//! Extreme eigenpairs by Lanczos with full reorthogonalization and a convergence test.

use nalgebra::{Dyn, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::krylov::{gaussian_vector, seeded_rng, Krylov, BREAKDOWN};
use crate::linalg::norm;
use crate::{CountingOperator, LinearOperator};

/// Which end of the spectrum [`extreme_eigenpairs`] looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Which {
    /// The k algebraically largest eigenvalues, largest first.
    Largest,
    /// The k algebraically smallest (most negative) eigenvalues, most negative first.
    Smallest,
    /// The k largest and the k smallest, all sorted largest first.
    Both,
}

/// Settings of [`extreme_eigenpairs`].
///
/// ```
/// use curvscope_hessian::{LanczosOptions, Which};
///
/// let opts = LanczosOptions { k: 5, which: Which::Both, ..LanczosOptions::default() };
/// assert_eq!(opts.tol, 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanczosOptions {
    /// Number of eigenpairs wanted (per end for [`Which::Both`]); capped at D (with
    /// [`Which::Both`] and 2k > D, all D eigenpairs are returned).
    pub k: usize,
    /// Which end of the spectrum.
    pub which: Which,
    /// Relative convergence tolerance: a pair is accepted when its residual
    /// ‖A·u − λ·u‖ ≤ tol·max|θ| (θ the current Ritz values, an estimate of ‖A‖₂).
    ///
    /// The error of an eigenvalue is then at most about tol·‖A‖₂, relative to the largest
    /// |λ|, not to its own: an eigenvalue κ times smaller than ‖A‖₂ (with [`Which::Smallest`]
    /// on a positive definite A of condition number κ) may be off by tol·κ of itself and still
    /// converge (κ = 1e8, tol 1e-6, restarted: λ_min = 4.03 for 1). Where small eigenvalues
    /// must be accurate relative to themselves, lower `tol` accordingly, or shift the operator.
    pub tol: f64,
    /// Largest Krylov subspace (= stored D-vectors; = applications unless `restarts`) before
    /// giving up or restarting; `None` means min(D, 2·wanted + 100). Raised to the pairs
    /// wanted (k, 2k for [`Which::Both`], at most D) when below them: fewer could not hold the
    /// answer; with `restarts`, to one past them (at most D), the room a restart needs for a
    /// new vector.
    pub max_krylov: Option<usize>,
    /// Seed of the ChaCha8 generator for the start (and any restart) vector.
    pub seed: u64,
    /// Steps between convergence tests (each costs an eigendecomposition of T_m).
    pub check_every: usize,
    /// Thick restarts allowed once the subspace has `max_krylov` vectors unconverged (see
    /// [`extreme_eigenpairs`]); 0 ends the run there, as before this option.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: usize,
}

/// Whether a count is 0 (a default left out of serialised options).
fn is_zero(count: &usize) -> bool {
    *count == 0
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
            restarts: 0,
        }
    }
}

/// Ritz pairs found by [`extreme_eigenpairs`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Eigenpairs {
    /// Ritz values in the order given by [`Which`].
    pub eigenvalues: Vec<f64>,
    /// Unit Ritz vectors, one per eigenvalue.
    pub eigenvectors: Vec<Vec<f64>>,
    /// Lanczos residual estimates β_m·|s_{m,i}|, equal to ‖A·u_i − λ_i·u_i‖ up to rounding
    /// because the basis is kept orthonormal (check with [`true_residuals`]).
    pub residuals: Vec<f64>,
    /// Operator applications spent (= `krylov_size` unless it restarted thickly).
    pub n_applications: usize,
    /// Dimension m of the final Krylov subspace.
    pub krylov_size: usize,
    /// Whether every returned pair passed the tolerance and, after any breakdown, the rest of
    /// the space was searched (see [`extreme_eigenpairs`]); false: `max_krylov` was hit first,
    /// after its `restarts` if any.
    pub converged: bool,
    /// The seed used.
    pub seed: u64,
}

impl Eigenpairs {
    /// How many leading pairs, in the order returned, are eigenpairs to `tol`
    /// ([`converged_prefix`]).
    ///
    /// ```
    /// use curvscope_hessian::Eigenpairs;
    /// let pairs = Eigenpairs {
    ///     eigenvalues: vec![10.0, 5.0, 0.1],
    ///     residuals: vec![1e-9, 1e-7, 0.5],
    ///     ..Default::default()
    /// };
    /// assert_eq!(pairs.converged_prefix(1e-6), 2);
    /// assert_eq!(Eigenpairs { converged: true, ..pairs }.converged_prefix(1e-6), 3);
    /// ```
    pub fn converged_prefix(&self, tol: f64) -> usize {
        converged_prefix(&self.eigenvalues, &self.residuals, self.converged, tol)
    }
}

/// How many leading Ritz pairs, in the order returned, met `tol` (residual ≤ tol·max|λ| of
/// those returned): all where the run `converged`. Past them a Ritz value is only a bound on
/// its eigenvalue (the largest ones from below), so a test on it can read the spectrum as
/// falling faster than it does. None where every residual met `tol` yet the run did not
/// converge: then the search for eigenvalues beyond the ones found failed, one may be missing
/// between them, and the indices (λ_(k+1)) are not known.
///
/// ```
/// use curvscope_hessian::converged_prefix;
/// assert_eq!(converged_prefix(&[10.0, 5.0, 0.1], &[1e-9, 1e-7, 0.5], false, 1e-6), 2);
/// // Every pair accurate, but not shown to be the top three: none is counted.
/// assert_eq!(converged_prefix(&[10.0, 5.0, 0.1], &[1e-9, 1e-7, 1e-8], false, 1e-6), 0);
/// ```
pub fn converged_prefix(
    eigenvalues: &[f64],
    residuals: &[f64],
    converged: bool,
    tol: f64,
) -> usize {
    if converged {
        return eigenvalues.len();
    }
    let scale = eigenvalues.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    let met = residuals.iter().take_while(|&&r| r <= tol * scale).count();
    if met == residuals.len() {
        0
    } else {
        met
    }
}

/// Extreme eigenpairs of a symmetric operator by Lanczos.
///
/// What the [`lanczos`] crate lacks is done here: a seeded Gaussian start, full
/// reorthogonalization (after the three-term recurrence, classical Gram–Schmidt against the
/// whole basis, repeated where it cancels, so no spurious copies), a convergence test on the
/// residual estimate β_m·|s_{m,i}| (s_i the eigenvectors of the tridiagonal T_m) checked every
/// `check_every` steps, and restarts on breakdown.
///
/// **Breakdowns and repeated eigenvalues.** A single start vector sees one copy of each
/// distinct eigenvalue: when β ≈ 0 the Krylov space is an invariant block holding one
/// eigenvector per eigenvalue it touched, and further copies (an exactly repeated
/// eigenvalue, or the zero eigenvalues of a rank-deficient operator) live in its orthogonal
/// complement. So after a breakdown the run continues from a fresh random vector orthogonal
/// to everything found, and it only reports `converged` once the complement is known to hold
/// nothing beyond the k-th selected value at each wanted end: some closed block (which,
/// from a random start, reached every distinct eigenvalue of the complement it was started
/// in) has its extreme eigenvalue inside that value, or the open block's extreme Ritz pair
/// has converged there, or V spans R^D. diag(5,5,5,1,1,1,0,…) with k = 3 thus takes the
/// block {5,1,0} three times; the 3rd value is then 5, which no block's top exceeds, so it
/// returns \[5, 5, 5\] (a 4th copy of 5 would not change that answer).
///
/// Without a breakdown, convergence means what it means for every single-vector Lanczos:
/// the wanted Ritz pairs are accurate and the open block's extreme one has converged, not a
/// proof that none is missing. An eigenvalue repeated exactly, or a cluster narrower than
/// about the tolerance, inside a space that never becomes invariant may show fewer copies than
/// it has, at any D: on 30 random rotations of eigenvalues {5, 5, 5} and 57 others in [0, 4]
/// (D = 60, k = 3) every converged run returned 5 twice (29 runs) or once, then a value
/// of the rest (3.99 in the first); a cluster
/// {5 + 2e-9, 5 + 1e-9, 5, 5 − 1e-7} among 96 others (D = 100, k = 4) gave 3.96 as its 4th.
/// Only a block method, or the dense spectrum (`full_spectrum`), sees every copy. A cluster
/// that tight at the top of a trained network's Hessian is not what curvscope has met, but
/// the zeros of a rank-deficient operator (Σ, a Gauss–Newton matrix, dead units) are exact
/// multiples: ask [`Which::Smallest`] for k > 1 of those and some can be missing behind a
/// `converged` result. curvscope asks for one (λ_min). The subspace grows until the wanted
/// pairs converge or `max_krylov` is reached.
///
/// **Thick restarts** (`restarts` > 0; Wu & Simon 2000, the symmetric case of Stewart's
/// Krylov–Schur): a run that reaches `max_krylov` unconverged keeps its wanted Ritz vectors and
/// the next ones nearest the wanted end, wanted + (max_krylov − wanted)/2 in all, in place of
/// the basis, and goes on from the residual direction: the kept pairs go on converging while
/// the memory stays `max_krylov` vectors, at about (max_krylov − wanted)/2 more applications
/// per restart, up to `restarts` times. Only a run that never broke down restarts so (a
/// breakdown's invariant blocks already end the search as above). A basis held below an
/// operator's rank + 1 never becomes invariant, so a restarted run there gives up the
/// breakdown's search and its `converged` means what it means without a breakdown: k > 1
/// exact zeros of a low-rank operator asked of [`Which::Smallest`] can show as one zero and
/// the next eigenvalues (D = 100, eigenvalues 1..8 and 92 zeros, k = 3: restarted within 7
/// vectors, \[0, 1, 2\] converged; unrestarted, a breakdown at the 9th vector and \[0, 0, 0\]
/// in 11). And
/// each restart's rotation rounds: after hundreds of them the true residuals level off near
/// 5e-14·‖A‖ while the estimates go on falling (about 8e-15 without restarts), so a `tol`
/// below about 1e-13 is not what a restarted run's `converged` guarantees.
///
/// Memory: `krylov_size` vectors of length D, on the host in f64, or where the operator keeps
/// its basis ([`LinearOperator::basis_store`]: a model's Hessian on a GPU, in f32 on the device,
/// where the results are accurate to f32 rather than to f64). An operator that gives a NaN or ∞
/// (an overflow) ends the run at that product: every eigenvalue, vector and residual returned
/// is NaN and `converged` false.
///
/// # Panics
/// If `k` is 0 or the operator has no dimension (D = 0).
///
/// ```
/// use curvscope_hessian::{extreme_eigenpairs, DenseOperator, LanczosOptions, Which};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(50, |i, _| i as f64 - 10.0)));
/// let opts = LanczosOptions { k: 2, which: Which::Both, ..LanczosOptions::default() };
/// let r = extreme_eigenpairs(&a, &opts);
/// assert!(r.converged);
/// let want = [39.0, 38.0, -9.0, -10.0];
/// for (got, want) in r.eigenvalues.iter().zip(want) {
///     assert!((got - want).abs() < 1e-8);
/// }
///
/// // A triple top eigenvalue: three invariant blocks, then one that finds nothing above 5.
/// let repeated = DVector::from_fn(40, |i, _| [5.0, 5.0, 5.0, 1.0, 1.0, 1.0].get(i).copied().unwrap_or(0.0));
/// let r = extreme_eigenpairs(&DenseOperator::new(DMatrix::from_diagonal(&repeated)),
///                            &LanczosOptions { k: 3, ..LanczosOptions::default() });
/// assert!(r.converged);
/// assert!(r.eigenvalues.iter().all(|l| (l - 5.0).abs() < 1e-12));
///
/// // The top 3 of diag(0, 1, …, 199) in a basis of at most 12 vectors, thickly restarted.
/// let wide = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(200, |i, _| i as f64)));
/// let opts = LanczosOptions { k: 3, max_krylov: Some(12), ..LanczosOptions::default() };
/// assert!(!extreme_eigenpairs(&wide, &opts).converged);
/// let r = extreme_eigenpairs(&wide, &LanczosOptions { restarts: 100, ..opts });
/// assert!(r.converged && r.krylov_size <= 12 && r.n_applications > 12);
/// for (got, want) in r.eigenvalues.iter().zip([199.0, 198.0, 197.0]) {
///     assert!((got - want).abs() < 1e-6 * 199.0);
/// }
/// ```
pub fn extreme_eigenpairs<O: LinearOperator + ?Sized>(op: &O, opts: &LanczosOptions) -> Eigenpairs {
    let d = op.dim();
    assert!(opts.k >= 1 && d >= 1, "need k ≥ 1 and D ≥ 1");
    let wanted = wanted(opts, d);
    let max_m = krylov_size(opts, d);
    let check_every = opts.check_every.max(1);
    let counted = CountingOperator::new(op);
    let mut rng = seeded_rng(opts.seed);
    let mut krylov = Krylov::new(&counted, gaussian_vector(&mut rng, d))
        .breaking_down_below(BREAKDOWN.min(opts.tol));
    // (smallest, largest) eigenvalue of every invariant block closed by a breakdown.
    let mut closed: Vec<(f64, f64)> = Vec::new();
    let mut restarts = 0;
    loop {
        krylov.step(&counted);
        let m = krylov.len();
        if krylov.non_finite() {
            return not_finite(wanted, d, m, counted.applications(), opts.seed);
        }
        if krylov.broken_down() {
            closed.push(extremes(krylov.block_ritz().eigenvalues.as_slice()));
        }
        let at_end = m == max_m;
        let due = at_end || krylov.broken_down() || m.is_multiple_of(check_every);
        if due && m >= wanted {
            let mut selection = select(&krylov, opts, wanted);
            selection.converged &= m == d || searched(&krylov, &closed, &selection, opts.tol);
            let keep = wanted + (max_m - wanted) / 2;
            let restart = at_end
                && !selection.converged
                && restarts < opts.restarts
                && closed.is_empty()
                && !krylov.broken_down()
                && keep < m;
            if restart {
                let kept = nearest_end(&descending(&selection.eig), opts.which, keep);
                krylov.thick_restart(&selection.eig, &kept);
                restarts += 1;
                continue;
            }
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

/// Indices of the Ritz values of `ritz` from the largest down.
fn descending(ritz: &SymmetricEigen<f64, Dyn>) -> Vec<usize> {
    let values = &ritz.eigenvalues;
    let mut desc: Vec<usize> = (0..values.len()).collect();
    desc.sort_by(|&i, &j| values[j].total_cmp(&values[i]));
    desc
}

/// The `count` of `desc` ([`descending`]) nearest the wanted end, in [`Which`]'s order: the
/// largest first, the smallest first, or the largest half then the smallest (all of them once
/// that is every value). The selection, and what a thick restart keeps.
fn nearest_end(desc: &[usize], which: Which, count: usize) -> Vec<usize> {
    let m = desc.len();
    match which {
        Which::Largest => desc[..count].to_vec(),
        Which::Smallest => desc.iter().rev().take(count).copied().collect(),
        Which::Both if count >= m => desc.to_vec(),
        Which::Both => {
            let (top, bottom) = (count.div_ceil(2), count / 2);
            desc[..top]
                .iter()
                .chain(&desc[m - bottom..])
                .copied()
                .collect()
        }
    }
}

/// How many Ritz pairs `opts` asks for on dimension `d`.
fn wanted(opts: &LanczosOptions, d: usize) -> usize {
    match opts.which {
        Which::Both => (2 * opts.k).min(d),
        _ => opts.k.min(d),
    }
}

/// The largest Krylov subspace [`extreme_eigenpairs`] builds for `opts` on dimension `d`
/// (`max_krylov`, else 2·wanted + 100, within wanted..=d, or wanted + 1..=d with `restarts`):
/// its basis holds this many D-vectors, and the eigenvectors are formed while it is alive.
///
/// ```
/// use curvscope_hessian::{krylov_size, LanczosOptions};
/// let opts = LanczosOptions { k: 20, ..LanczosOptions::default() };
/// assert_eq!(krylov_size(&opts, 1_000_000), 140);
/// assert_eq!(krylov_size(&opts, 50), 50);
/// let small = LanczosOptions { max_krylov: Some(5), ..opts };
/// assert_eq!(krylov_size(&small, 1_000_000), 20);
/// assert_eq!(krylov_size(&LanczosOptions { restarts: 10, ..small }, 1_000_000), 21);
/// ```
pub fn krylov_size(opts: &LanczosOptions, d: usize) -> usize {
    let wanted = wanted(opts, d);
    // A restart keeps wanted + (max_krylov − wanted)/2 vectors: at max_krylov = wanted, all of
    // them, and it could not go on.
    let least = (wanted + usize::from(opts.restarts > 0)).min(d);
    opts.max_krylov.unwrap_or(2 * wanted + 100).clamp(least, d)
}

/// The wanted Ritz pairs of the current T_m (indices into its eigendecomposition).
struct Selection {
    eig: SymmetricEigen<f64, Dyn>,
    chosen: Vec<usize>,
    residuals: Vec<f64>,
    /// The k-th selected value from the top, when the largest are wanted: an eigenvalue
    /// found later above it would change the answer.
    top: Option<f64>,
    /// The k-th selected value from the bottom, when the smallest are wanted.
    bottom: Option<f64>,
    /// max |θ| over all Ritz values, the scale of the tolerance.
    scale: f64,
    converged: bool,
}

/// Selects and tests the wanted Ritz pairs of the current T_m.
fn select(krylov: &Krylov, opts: &LanczosOptions, wanted: usize) -> Selection {
    let eig = krylov.ritz();
    let m = krylov.len();
    let desc = descending(&eig);
    let value = |rank: usize| eig.eigenvalues[desc[rank]];
    let per_end = wanted.div_ceil(2);
    let (top, bottom) = match opts.which {
        Which::Largest => (Some(value(wanted - 1)), None),
        Which::Smallest => (None, Some(value(m - wanted))),
        Which::Both => (Some(value(per_end - 1)), Some(value(m - per_end))),
    };
    let chosen = nearest_end(&desc, opts.which, wanted);
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
        top,
        bottom,
        scale,
    }
}

/// Whether the part of R^D outside V_m can hold no eigenvalue beyond the selection's k-th
/// value at a wanted end, by more than the tolerance tol·max|θ| that also bounds every returned
/// eigenvalue's error (see [`extreme_eigenpairs`]): a closed invariant block whose extreme
/// eigenvalue lies inside it bounds every complement after it, and the open block's extreme
/// Ritz pair, once converged, stands for its own (Lanczos' usual assumption).
fn searched(krylov: &Krylov, closed: &[(f64, f64)], sel: &Selection, tol: f64) -> bool {
    let open = (!krylov.broken_down()).then(|| krylov.block_ritz());
    let slack = tol * sel.scale;
    let open_converged = |top: bool| {
        open.as_ref().is_some_and(|eig| {
            let values = eig.eigenvalues.as_slice();
            let (lo, hi) = extremes(values);
            let i = values.iter().position(|&v| v == if top { hi } else { lo });
            let last = eig.eigenvectors.nrows() - 1;
            i.is_some_and(|i| krylov.last_beta() * eig.eigenvectors[(last, i)].abs() <= slack)
        })
    };
    let top_done = sel
        .top
        .is_none_or(|t| closed.iter().any(|&(_, hi)| hi <= t + slack) || open_converged(true));
    let bottom_done = sel
        .bottom
        .is_none_or(|b| closed.iter().any(|&(lo, _)| lo >= b - slack) || open_converged(false));
    top_done && bottom_done
}

/// (smallest, largest) of a nonempty list of eigenvalues.
fn extremes(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// What Lanczos returns once the operator gave a NaN or ∞: `wanted` NaN pairs, not converged,
/// after the `applications` spent (without it each restart would meet the NaN again, to
/// `max_krylov`).
fn not_finite(wanted: usize, d: usize, m: usize, applications: usize, seed: u64) -> Eigenpairs {
    Eigenpairs {
        eigenvalues: vec![f64::NAN; wanted],
        eigenvectors: vec![vec![f64::NAN; d]; wanted],
        residuals: vec![f64::NAN; wanted],
        n_applications: applications,
        krylov_size: m,
        converged: false,
        seed,
    }
}

/// Forms the Ritz vectors V_m·s_i of a final selection.
fn finish(krylov: &Krylov, sel: Selection, seed: u64, n_applications: usize) -> Eigenpairs {
    // T's eigenvectors are the columns of a column-major matrix.
    let m = sel.eig.eigenvectors.nrows();
    let columns = sel.eig.eigenvectors.as_slice();
    let coordinates: Vec<&[f64]> = sel
        .chosen
        .iter()
        .map(|&i| &columns[i * m..(i + 1) * m])
        .collect();
    let mut eigenvectors = krylov.combine(&coordinates);
    for u in &mut eigenvectors {
        let n = norm(u);
        u.iter_mut().for_each(|x| *x /= n);
    }
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
/// use curvscope_hessian::{extreme_eigenpairs, true_residuals, DenseOperator, LanczosOptions};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(30, |i, _| (i * i) as f64)));
/// let r = extreme_eigenpairs(&a, &LanczosOptions { k: 3, ..LanczosOptions::default() });
/// for res in true_residuals(&a, &r) {
///     assert!(res <= 1e-6 * 841.0);
/// }
/// ```
pub fn true_residuals<O: LinearOperator + ?Sized>(op: &O, pairs: &Eigenpairs) -> Vec<f64> {
    op.apply_many(&pairs.eigenvectors)
        .iter()
        .zip(&pairs.eigenvectors)
        .zip(&pairs.eigenvalues)
        // `norm`, not a plain sum of squares: it neither overflows nor underflows at the
        // scales (1e±200) where the operator itself is still finite.
        .map(|((au, u), &lambda)| {
            let r: Vec<f64> = au.iter().zip(u).map(|(a, x)| a - lambda * x).collect();
            norm(&r)
        })
        .collect()
}
