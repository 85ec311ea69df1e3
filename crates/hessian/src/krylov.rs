//! The Lanczos recurrence with full reorthogonalization, shared by the eigensolver and by
//! stochastic Lanczos quadrature, plus the small vector kernels they use.
//!
//! Every reduction here has a fixed order ([`dot`]'s, over a block of rows or a whole vector,
//! and the blocks' sums added in block order; rayon only splits independent outputs), so a seed
//! gives bit-identical results on any thread count.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::linalg::{dot, norm, symmetric_eigen};
use crate::LinearOperator;

/// β below this fraction of the largest ‖A·v_j‖ seen is a breakdown: the Krylov subspace is
/// invariant (to rounding, which after full reorthogonalization is ~1e-15 relative).
/// [`Krylov::breaking_down_below`] lowers it for an eigensolver asked for a tighter tolerance.
pub(crate) const BREAKDOWN: f64 = 1e-12;
/// Rows per block of the basis sweeps: a block of w (32 KiB) stays in cache while every basis
/// vector's rows pass by, and each block's inner products are summed over blocks in block
/// order, so the result is the same on any thread count. Shorter blocks were slower (1,024 rows:
/// 1.3×), being short runs in every basis vector, which the hardware prefetchers stream badly;
/// so were longer ones (16,384 rows: 1.2×). Measured once, on one thread at D = 10⁶ and m = 140,
/// on a version of this code that still swept the basis three times per step.
const BLOCK: usize = 4096;
/// Daniel–Gragg–Kaufman–Stewart (1976): a Gram–Schmidt pass that kept more than this fraction
/// of ‖w‖ lost nothing to cancellation, and a second pass would change w by rounding only.
const DGKS: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// The random stream of this crate's draws under `seed`: ChaCha8 seeded by it, on a stream of
/// its own rather than the stream 0 `ChaCha8Rng::seed_from_u64` starts on, so that a test
/// matrix or data drawn from the same seed shares no numbers with the start vectors and probes
/// (a rotation Q drawn from seed s, and Lanczos seeded s started at Q's first column: blocks
/// closed on the matrix's own eigenvectors and returned wrong eigenvalues flagged converged).
pub(crate) fn seeded_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from_le_bytes(*b"hessian\0"));
    rng
}

pub(crate) fn gaussian_vector(rng: &mut impl Rng, d: usize) -> Vec<f64> {
    (0..d).map(|_| rng.sample(StandardNormal)).collect()
}

pub(crate) fn rademacher_vector(rng: &mut impl Rng, d: usize) -> Vec<f64> {
    (0..d)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// The basis vectors' inner products with block `k` of w (its rows `k·BLOCK..`).
fn block_products(basis: &[Vec<f64>], k: usize, rows: &[f64]) -> Vec<f64> {
    let start = k * BLOCK;
    basis
        .iter()
        .map(|v| dot(&v[start..start + rows.len()], rows))
        .collect()
}

/// rows ← rows + Σ_i c_i v_i on block `k`, each row summed in basis order.
fn add_to_block(basis: &[Vec<f64>], c: &[f64], k: usize, rows: &mut [f64]) {
    let start = k * BLOCK;
    for (v, &ci) in basis.iter().zip(c) {
        for (o, vr) in rows.iter_mut().zip(&v[start..]) {
            *o += ci * vr;
        }
    }
}

/// Σ over blocks, in block order, of each block's inner products.
fn sum_blocks(blocks: Vec<Vec<f64>>, m: usize) -> Vec<f64> {
    blocks.into_iter().fold(vec![0.0; m], |mut sum, block| {
        sum.iter_mut().zip(block).for_each(|(s, b)| *s += b);
        sum
    })
}

/// y ← y + a·x.
fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.par_chunks_mut(BLOCK)
        .zip(x.par_chunks(BLOCK))
        .for_each(|(ys, xs)| ys.iter_mut().zip(xs).for_each(|(y, x)| *y += a * x));
}

/// out ← out + Σ_i c_i v_i, blocks of rows in parallel.
pub(crate) fn add_combination(basis: &[Vec<f64>], c: &[f64], out: &mut [f64]) {
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(k, rows)| add_to_block(basis, c, k, rows));
}

/// One classical Gram–Schmidt pass: w ← w − Σ_i (v_iᵀw) v_i; returns the coefficients. Its
/// cost is two sweeps of the basis (m·D values, from memory): the inner products, block by
/// block and summed in block order, then the subtraction.
fn project_out(basis: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    let blocks = w
        .par_chunks(BLOCK)
        .enumerate()
        .map(|(k, rows)| block_products(basis, k, rows))
        .collect();
    let h = sum_blocks(blocks, basis.len());
    let minus_h: Vec<f64> = h.iter().map(|x| -x).collect();
    add_combination(basis, &minus_h, w);
    h
}

/// Removes the span of an orthonormal `basis` from `w` by classical Gram–Schmidt
/// ([`orthogonalize_by`]).
pub(crate) fn orthogonalize(basis: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    orthogonalize_by(w, |w| project_out(basis, w))
}

/// Removes a basis' span from `w` by passes of `project_out` (one classical Gram–Schmidt pass,
/// returning its coefficients), with the second pass that "twice is enough" (Kahan–Parlett;
/// Giraud et al. 2005) asks for where the first one cancelled (‖w‖ fell below [`DGKS`] of what
/// it was); returns the coefficients of the passes taken, summed.
fn orthogonalize_by(w: &mut [f64], project_out: impl Fn(&mut [f64]) -> Vec<f64>) -> Vec<f64> {
    let before = norm(w);
    let mut h = project_out(w);
    if norm(w) < DGKS * before {
        let second = project_out(w);
        h.iter_mut().zip(second).for_each(|(a, b)| *a += b);
    }
    h
}

/// An orthonormal basis V = [v₁ … v_m] of D-vectors, grown one vector at a time, with the sweeps
/// that Lanczos with full reorthogonalization makes over it. Lanczos keeps its basis in one of
/// these: its own host store by default, or the one an operator offers
/// ([`LinearOperator::basis_store`]) where its products are computed on a device
/// (curvscope-model's `DeviceBasis`).
pub trait BasisStore: Send {
    /// The number of vectors m.
    fn len(&self) -> usize;
    /// Whether no vector was pushed yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends `v` (a unit vector orthogonal to the others).
    fn push(&mut self, v: Vec<f64>);
    /// The last vector pushed, as given.
    fn last(&self) -> Option<&[f64]>;
    /// One classical Gram–Schmidt pass: h = Vᵀw, then w ← w − V·h; returns h.
    fn project_out(&self, w: &mut [f64]) -> Vec<f64>;
    /// V·s for each coordinate vector s (m entries each): Ritz vectors.
    fn combine(&self, coordinates: &[&[f64]]) -> Vec<Vec<f64>>;
    /// V ← [V·s₁ … V·s_l] for l ≤ m coordinate vectors s (m entries each, orthonormal, so the
    /// result is too): a thick restart of Lanczos keeps its Ritz vectors so. [`BasisStore::last`]
    /// is then V·s_l.
    fn rotate(&mut self, coordinates: &[&[f64]]);
}

/// A Krylov basis in host memory, in f64: the [`BasisStore`] of every operator that offers
/// none of its own ([`LinearOperator::basis_store`]).
#[derive(Default)]
struct HostBasis(Vec<Vec<f64>>);

impl BasisStore for HostBasis {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn push(&mut self, v: Vec<f64>) {
        self.0.push(v);
    }

    fn last(&self) -> Option<&[f64]> {
        self.0.last().map(Vec::as_slice)
    }

    fn project_out(&self, w: &mut [f64]) -> Vec<f64> {
        project_out(&self.0, w)
    }

    /// All from one sweep of the basis (each block of rows is formed for every s while the
    /// block's basis rows are in cache), in no more memory than the vectors returned.
    fn combine(&self, coordinates: &[&[f64]]) -> Vec<Vec<f64>> {
        let d = self.0[0].len();
        let mut outputs = vec![vec![0.0; d]; coordinates.len()];
        // Block k of every output, gathered so that rayon can fill the blocks in parallel.
        let mut blocks: Vec<Vec<&mut [f64]>> = (0..d.div_ceil(BLOCK)).map(|_| Vec::new()).collect();
        for output in &mut outputs {
            for (k, rows) in output.chunks_mut(BLOCK).enumerate() {
                blocks[k].push(rows);
            }
        }
        blocks.into_par_iter().enumerate().for_each(|(k, rows)| {
            for (s, rows) in coordinates.iter().zip(rows) {
                add_to_block(&self.0, s, k, rows);
            }
        });
        outputs
    }

    /// In place, block of rows by block: each block of the kept vectors is formed from the
    /// block's m basis rows (summed in basis order), then written over the first l vectors'.
    fn rotate(&mut self, coordinates: &[&[f64]]) {
        let (m, l) = (self.0.len(), coordinates.len());
        assert!(
            (1..=m).contains(&l) && coordinates.iter().all(|s| s.len() == m),
            "between 1 and m coordinate vectors of m entries each"
        );
        let d = self.0[0].len();
        let mut blocks: Vec<Vec<&mut [f64]>> = (0..d.div_ceil(BLOCK)).map(|_| Vec::new()).collect();
        for v in &mut self.0 {
            for (k, rows) in v.chunks_mut(BLOCK).enumerate() {
                blocks[k].push(rows);
            }
        }
        blocks.into_par_iter().for_each(|mut rows| {
            let formed: Vec<Vec<f64>> = coordinates
                .iter()
                .map(|s| {
                    let mut out = vec![0.0; rows[0].len()];
                    for (v, &c) in rows.iter().zip(*s) {
                        out.iter_mut().zip(v.iter()).for_each(|(o, x)| *o += c * x);
                    }
                    out
                })
                .collect();
            for (rows, formed) in rows.iter_mut().zip(formed) {
                rows.copy_from_slice(&formed);
            }
        });
        self.0.truncate(l);
    }
}

/// A Lanczos run: orthonormal basis V_m and T_m = V_mᵀ A V_m, tridiagonal (with an arrow
/// after a thick restart: [`Krylov::thick_restart`]).
pub(crate) struct Krylov {
    /// V_m: on the host, or where the operator keeps it ([`LinearOperator::basis_store`]).
    basis: Box<dyn BasisStore>,
    dim: usize,
    pub alpha: Vec<f64>,
    /// `beta[j]` = ‖w_j‖, the coupling of v_j to v_{j+1}; the last entry is the residual
    /// norm β_m, 0 where a breakdown was restarted (T splits into blocks there) and between
    /// the vectors a thick restart kept.
    pub beta: Vec<f64>,
    /// After a thick restart ([`Krylov::thick_restart`]), the couplings of basis vector
    /// `arrow.len()`, the first one after the kept Ritz vectors, to each of them: T's arrow.
    arrow: Vec<f64>,
    /// The next basis vector (unit), `None` after a breakdown.
    pending: Option<Vec<f64>>,
    /// Index of the first vector of the current block (the last start or restart).
    block_start: usize,
    anorm: f64,
    /// β ≤ this·‖A‖ is a breakdown ([`BREAKDOWN`] unless lowered).
    breakdown: f64,
    /// The operator gave a NaN or ∞ ([`Krylov::non_finite`]).
    non_finite: bool,
}

impl Krylov {
    /// Starts from the direction of `start` (any nonzero vector), with the basis kept where
    /// `op` offers ([`LinearOperator::basis_store`]), else on the host.
    pub fn new<O: LinearOperator + ?Sized>(op: &O, mut start: Vec<f64>) -> Self {
        let n = norm(&start);
        assert!(n > 0.0, "Lanczos start vector must be nonzero");
        start.iter_mut().for_each(|x| *x /= n);
        Self {
            basis: op
                .basis_store()
                .unwrap_or_else(|| Box::new(HostBasis::default())),
            dim: start.len(),
            alpha: Vec::new(),
            beta: Vec::new(),
            arrow: Vec::new(),
            pending: Some(start),
            block_start: 0,
            anorm: 0.0,
            breakdown: BREAKDOWN,
            non_finite: false,
        }
    }

    /// Declares breakdowns only below `threshold`·‖A‖: a breakdown sets β, and so the
    /// residual estimate of every Ritz pair of the closed block, to 0, which must not pass
    /// a convergence test tighter than the β it dropped.
    pub fn breaking_down_below(mut self, threshold: f64) -> Self {
        self.breakdown = threshold;
        self
    }

    pub fn len(&self) -> usize {
        self.basis.len()
    }

    /// Whether the last step found an invariant subspace (β_m ≈ 0), or met a non-finite value
    /// ([`Krylov::non_finite`]): either way there is no next vector.
    pub fn broken_down(&self) -> bool {
        self.pending.is_none()
    }

    /// Whether the operator gave a NaN or ∞ (α_m and β_m are then NaN): the run must end, as
    /// every Ritz value from here on is NaN.
    pub fn non_finite(&self) -> bool {
        self.non_finite
    }

    /// One Lanczos step: v_m = pending; w = A v_m − β_{m−1} v_{m−1} − α v_m, the three-term
    /// recurrence (α = v_mᵀ w after the first subtraction); then w orthogonalized against all of
    /// V, α_m = α plus w's coefficient on v_m there, β_m = ‖w‖. The recurrence removes w's two
    /// large components in three passes over D (not over the basis), so what full
    /// reorthogonalization then removes is rounding, and one Gram–Schmidt pass does it
    /// ([`orthogonalize`] adds a second where it does not): two sweeps of the basis per step,
    /// where two passes on A v_m took four (and read w once per basis vector, before 2026-12-01).
    /// Must not be called after a breakdown without [`Krylov::restart`].
    pub fn step<O: LinearOperator + ?Sized>(&mut self, op: &O) {
        let v = self.pending.take().expect("Lanczos step after breakdown");
        let mut w = op.apply(&v);
        self.anorm = self.anorm.max(norm(&w));
        // β_{m−1} is 0 at the start and after a restart: the blocks of T are decoupled there.
        if let (Some(previous), Some(&beta)) = (self.basis.last(), self.beta.last()) {
            axpy(-beta, previous, &mut w);
        }
        let alpha = dot(&v, &w);
        axpy(-alpha, &v, &mut w);
        self.basis.push(v);
        let h = orthogonalize_by(&mut w, |w| self.basis.project_out(w));
        let (alpha, beta) = (alpha + h[h.len() - 1], norm(&w));
        self.non_finite = !(alpha.is_finite() && beta.is_finite());
        if self.non_finite {
            // A NaN or ∞ from the operator: no breakdown (NaN > threshold is false, and a
            // restart would only meet it again), but the end of what Lanczos can learn.
            self.alpha.push(f64::NAN);
            self.beta.push(f64::NAN);
            return;
        }
        self.alpha.push(alpha);
        if beta > self.breakdown * self.anorm {
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
        if self.len() >= self.dim {
            return false;
        }
        let mut w = gaussian_vector(rng, self.dim);
        let before = norm(&w);
        orthogonalize_by(&mut w, |w| self.basis.project_out(w));
        let n = norm(&w);
        if n <= 1e-8 * before {
            return false;
        }
        w.iter_mut().for_each(|x| *x /= n);
        self.pending = Some(w);
        self.block_start = self.len();
        true
    }

    /// Thick restart (Wu & Simon 2000; Stewart's Krylov–Schur, for symmetric A): V_m ← V_m·S
    /// for the `kept` columns of T_m's eigenvectors S (from [`Krylov::ritz`]), T ← diag(θ_kept)
    /// with the arrow b_i = β_m·s_{m,i} to the pending v_{m+1}, which stays the next vector.
    /// A·V_m·S = V_m·S·Θ + v_{m+1}·bᵀ holds exactly, so the recurrence goes on from v_{m+1} (full
    /// reorthogonalization removes A·v_{m+1}'s components b_i along the kept vectors, the arrow:
    /// no three-term subtraction in that step) and the residual estimates stay β·|last row of
    /// T's eigenvectors|. The memory stays that of m vectors. Only for a run that never broke
    /// down (one block of T).
    pub fn thick_restart(&mut self, ritz: &SymmetricEigen<f64, nalgebra::Dyn>, kept: &[usize]) {
        assert!(
            self.block_start == 0 && self.pending.is_some() && kept.len() < self.len(),
            "a thick restart keeps fewer vectors than a one-block run has"
        );
        let (m, beta) = (self.len(), self.last_beta());
        let columns = ritz.eigenvectors.as_slice();
        let coordinates: Vec<&[f64]> = kept.iter().map(|&i| &columns[i * m..(i + 1) * m]).collect();
        self.basis.rotate(&coordinates);
        self.alpha = kept.iter().map(|&i| ritz.eigenvalues[i]).collect();
        // β = 0 between the kept vectors: T's kept block is diagonal, and the next step
        // subtracts no previous vector.
        self.beta = vec![0.0; kept.len()];
        self.arrow = coordinates.iter().map(|s| beta * s[m - 1]).collect();
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

    /// Eigendecomposition of the trailing principal submatrix T[start.., start..] (a thick
    /// restart's arrow is in the first block, `start` = 0).
    fn ritz_from(&self, start: usize) -> SymmetricEigen<f64, nalgebra::Dyn> {
        let (alpha, beta) = (&self.alpha[start..], &self.beta[start..]);
        let arrow: &[f64] = if start == 0 { &self.arrow } else { &[] };
        let (m, tip) = (alpha.len(), arrow.len());
        let t = DMatrix::from_fn(m, m, |i, j| {
            let band = if i == j {
                alpha[i]
            } else if i == j + 1 {
                beta[j]
            } else if j == i + 1 {
                beta[i]
            } else {
                0.0
            };
            // β = 0 where the arrow meets the band (between the last kept vector and the tip).
            match (i == tip && j < tip, j == tip && i < tip) {
                (true, _) => band + arrow[j],
                (_, true) => band + arrow[i],
                _ => band,
            }
        });
        symmetric_eigen(&t)
    }

    /// The residual norm β_m that multiplies the last row of T's eigenvectors.
    pub fn last_beta(&self) -> f64 {
        self.beta.last().copied().unwrap_or(0.0)
    }

    /// V_m · s for each coordinate vector s: Ritz vectors.
    pub fn combine(&self, coordinates: &[&[f64]]) -> Vec<Vec<f64>> {
        self.basis.combine(coordinates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` orthonormal cosines on `d` points (distinct frequencies over a full period).
    fn cosines(count: usize, d: usize) -> Vec<Vec<f64>> {
        let scale = (2.0 / d as f64).sqrt();
        (1..=count)
            .map(|f| {
                let step = std::f64::consts::TAU * f as f64 / d as f64;
                (0..d).map(|i| scale * (step * i as f64).cos()).collect()
            })
            .collect()
    }

    /// w within 1e-10 of span(V): one pass cancels all but that and leaves rounding along V of
    /// about 1e-7 of what remains (1.4e-7 with the second pass turned off); the second pass,
    /// which the cancellation calls for, removes it.
    #[test]
    fn a_cancelling_pass_is_repeated() {
        let d = 2 * BLOCK + 3;
        let basis = cosines(3, d);
        let c = [3.0, -2.0, 0.5];
        let step = std::f64::consts::TAU * 5.0 / d as f64;
        let mut w: Vec<f64> = (0..d).map(|i| 1e-10 * (step * i as f64).sin()).collect();
        add_combination(&basis, &c, &mut w);
        let h = orthogonalize(&basis, &mut w);
        for (got, want) in h.iter().zip(c) {
            assert!((got - want).abs() < 1e-13, "coefficient {got} vs {want}");
        }
        let remaining = norm(&w);
        assert!((remaining / (1e-10 * (d as f64 / 2.0).sqrt()) - 1.0).abs() < 1e-6);
        for v in &basis {
            let along = dot(v, &w).abs() / remaining;
            assert!(
                along < 1e-12,
                "{along} of w along the basis after orthogonalize"
            );
        }
    }
}
