//! The one-sample SGD noise covariance Σ = (1/N) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ (Zhu et al. 2019,
//! Section 3), its exact statistics from per-sample gradients g_i = ∇ℓ_i(θ), how a batch of b
//! samples scales it ([`minibatch_factor`]), and the random sample weights whose weighted
//! gradient has covariance Σ ([`centred_gaussian_weights`]).

use curvscope_hessian::{dot, norm, Estimate, LinearOperator};
use curvscope_model::{Collective, Objective};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Samples per chunk when a caller does not choose (bounds memory at chunk·D·8 bytes).
pub(crate) const CHUNK: usize = 256;

/// Streams the per-sample gradients as deviations d_i = g_i − K from the shift K = ∇L(θ), one
/// chunk of at most `chunk` rows (row-major `[len, D]`) at a time, and returns (K, m = ḡ − K).
/// In the same pass over each chunk it adds each d_i² to `diagonal` entry by entry (diag(Σ)'s
/// sum) when given, and hands `sink` the rows with, per row, ‖d_i‖² and d_iᵀu for each of
/// `directions` (row-major `[len, 1 + directions]`).
///
/// Why a shift: for any K, Σ = (1/N) Σ_i d_i d_iᵀ − m mᵀ, so every statistic of Σ takes one pass
/// over the data; with K = ∇L(θ) (one weighted backward pass) m ≈ 0 and the subtraction loses
/// nothing to cancellation even where ‖ḡ‖ dwarfs the noise.
///
/// In a data-parallel run each process streams its own samples; m is summed over all of them,
/// so the centring is global.
pub(crate) fn stream_deviations<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    chunk: usize,
    mut diagonal: Option<&mut [f64]>,
    directions: &[Vec<f64>],
    sink: &mut dyn FnMut(&[f64], &[f64]),
) -> (Vec<f64>, Vec<f64>) {
    let d = objective.dim();
    let shift = objective.grad(theta);
    let mut sum = vec![0.0; d];
    objective.for_each_grad_chunk(theta, chunk, &mut |_, mut rows| {
        let products = deviate_in_place(
            &mut rows,
            &shift,
            &mut sum,
            diagonal.as_deref_mut(),
            directions,
        );
        sink(&rows, &products);
    });
    objective.sum_over_processes(&mut sum);
    let n = objective.n_samples() as f64;
    let m = sum.iter().map(|s| s / n).collect();
    (shift, m)
}

/// Columns a thread takes at a time in [`deviate_in_place`]: 32 kB of a row, so that a row's
/// piece is still in cache for its squares and products, and the directions' pieces (32 kB
/// each) for the chunk's next row.
const COLUMNS_PER_TASK: usize = 4096;

/// d_i = g_i − K for each row of `rows` (row-major `[len, D]`) in place, adding d_i to `sum`
/// and, with `diagonal`, d_i² to it, entry by entry; returns per row ‖d_i‖² and d_iᵀu for each
/// of `directions` (`[len, 1 + directions]`).
///
/// Why by blocks of columns: at a D of millions this pass is the host's share of Σ's
/// statistics, bound by memory. As whole-row loops it ran on one core (96 ms a row at VGG-11's
/// D on 2 cores, 2026-12-05), and each row's products read every direction again (21 D-vectors
/// a row with `analyze`'s 20 eigenvectors). Each thread owns a block of columns and walks the
/// chunk's rows in order, so a direction's piece is read once a chunk, and each entry's sums run
/// in row order; the products are summed over the blocks in block order. The same bits on any
/// number of threads and any chunk size.
fn deviate_in_place(
    rows: &mut [f64],
    shift: &[f64],
    sum: &mut [f64],
    diagonal: Option<&mut [f64]>,
    directions: &[Vec<f64>],
) -> Vec<f64> {
    let d = shift.len();
    let per_row = 1 + directions.len();
    let len = rows.len().checked_div(d).unwrap_or(0);
    let mut products = vec![0.0; len * per_row];
    if d == 0 {
        return products;
    }
    let blocks = d.div_ceil(COLUMNS_PER_TASK);
    // pieces[b][i]: row i's columns in block b.
    let mut pieces: Vec<Vec<&mut [f64]>> = (0..blocks).map(|_| Vec::new()).collect();
    for row in rows.chunks_exact_mut(d) {
        for (block, piece) in pieces.iter_mut().zip(row.chunks_mut(COLUMNS_PER_TASK)) {
            block.push(piece);
        }
    }
    let diagonal: Vec<Option<&mut [f64]>> = match diagonal {
        Some(diagonal) => {
            assert_eq!(diagonal.len(), d, "one square sum per coordinate");
            diagonal.chunks_mut(COLUMNS_PER_TASK).map(Some).collect()
        }
        None => (0..blocks).map(|_| None).collect(),
    };
    let partials: Vec<Vec<f64>> = pieces
        .into_par_iter()
        .zip(sum.par_chunks_mut(COLUMNS_PER_TASK))
        .zip(shift.par_chunks(COLUMNS_PER_TASK))
        .zip(diagonal)
        .enumerate()
        .map(|(b, (((pieces, sum), shift), mut diagonal))| {
            let columns = b * COLUMNS_PER_TASK..b * COLUMNS_PER_TASK + shift.len();
            let mut partial = Vec::with_capacity(pieces.len() * per_row);
            for piece in pieces {
                for ((r, k), s) in piece.iter_mut().zip(shift).zip(sum.iter_mut()) {
                    *r -= k;
                    *s += *r;
                }
                if let Some(diagonal) = diagonal.as_deref_mut() {
                    diagonal
                        .iter_mut()
                        .zip(&*piece)
                        .for_each(|(q, r)| *q += r * r);
                }
                partial.push(dot(piece, piece));
                partial.extend(directions.iter().map(|u| dot(piece, &u[columns.clone()])));
            }
            partial
        })
        .collect();
    for partial in partials {
        products.iter_mut().zip(partial).for_each(|(p, q)| *p += q);
    }
    products
}

/// Exact statistics of the noise covariance Σ at one θ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseStatistics {
    /// ‖ḡ‖ = ‖∇L(θ)‖, the mean of the per-sample gradients.
    pub mean_grad_norm: f64,
    /// Tr(Σ) = (1/N) Σ_i ‖g_i − ḡ‖², the total one-sample noise variance.
    pub trace: Estimate,
    /// uᵀΣu = (1/N) Σ_i (uᵀ(g_i − ḡ))² for each requested direction u, in order (for a unit
    /// Hessian eigenvector u₁ this is the noise variance along the sharpest direction, the
    /// numerator of the projection coefficient of Proposition 1).
    pub quadratic_forms: Vec<f64>,
    /// diag(Σ)_j = (1/N) Σ_i (g_ij − ḡ_j)², the per-parameter noise variances (their sum is
    /// Tr(Σ); summed over a tensor they give its share, see [`crate::layer_traces`]).
    pub diagonal: Vec<f64>,
}

/// Tr(Σ), diag(Σ) and uᵀΣu for each of `directions`, exactly, in one pass over the per-sample
/// gradients holding at most `chunk` of them (chunk·D·8 bytes) at a time. Σ is SGD's
/// one-sample noise covariance (Zhu et al. 2019, Sec. 3; a batch of b: Σ/b).
///
/// Example: see the crate-level documentation.
pub fn noise_statistics<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    directions: &[Vec<f64>],
    chunk: usize,
) -> NoiseStatistics {
    let d = objective.dim();
    let n = objective.n_samples();
    let mut squares = 0.0;
    let mut projections = vec![0.0; directions.len()];
    let mut diagonal_squares = vec![0.0; d];
    let (shift, m) = stream_deviations(
        objective,
        theta,
        chunk,
        Some(&mut diagonal_squares),
        directions,
        &mut |_, products| {
            for row in products.chunks_exact(1 + directions.len()) {
                squares += row[0];
                projections
                    .iter_mut()
                    .zip(&row[1..])
                    .for_each(|(p, q)| *p += q * q);
            }
        },
    );
    // One all-reduce for every partial sum of a data-parallel run (a no-op in one process).
    let mut partial = [vec![squares], projections, diagonal_squares].concat();
    objective.sum_over_processes(&mut partial);
    let (squares, rest) = (partial[0], &partial[1..]);
    let (projections, diagonal_squares) = rest.split_at(directions.len());
    let n_f = n as f64;
    let mean: Vec<f64> = shift.iter().zip(&m).map(|(k, mi)| k + mi).collect();
    NoiseStatistics {
        mean_grad_norm: norm(&mean),
        trace: Estimate::exact(shifted_variance(squares, n_f, dot(&m, &m)), n),
        quadratic_forms: directions
            .iter()
            .zip(projections)
            .map(|(u, p)| shifted_variance(*p, n_f, dot(u, &m).powi(2)))
            .collect(),
        diagonal: diagonal_squares
            .iter()
            .zip(&m)
            .map(|(s, mi)| shifted_variance(*s, n_f, mi * mi))
            .collect(),
    }
}

/// diag(Σ) at θ, exactly, from one streamed pass over the per-sample gradients (the
/// [`NoiseStatistics::diagonal`] of [`noise_statistics`]): the shape of GLD diag's noise
/// (Zhu et al. 2019, Table 1).
///
/// Example: see the crate-level documentation.
pub fn covariance_diagonal<O: Objective + ?Sized>(objective: &O, theta: &[f64]) -> Vec<f64> {
    noise_statistics(objective, theta, &[], CHUNK).diagonal
}

/// s/N − m²: a variance from one pass of shifted deviations (Σ = (1/N) Σ_i d_i d_iᵀ − m mᵀ, see
/// `stream_deviations`), clamped at 0. Where the true variance is 0 (identical gradients, a
/// direction the noise never moves) rounding can leave −1e-18, and the noise scales taken
/// from it (square roots) would be NaN. A NaN (from a NaN gradient) stays NaN: `f64::max`
/// would turn it into a variance of 0, no noise, where the truth is no number.
pub(crate) fn shifted_variance(sum_of_squares: f64, n: f64, mean_squared: f64) -> f64 {
    let variance = sum_of_squares / n - mean_squared;
    if variance < 0.0 {
        0.0
    } else {
        variance
    }
}

/// Σ as a [`LinearOperator`], for the eigenpairs of the noise (Lanczos) and its alignment with
/// the Hessian's.
///
/// It holds the centred per-sample gradients G_c (rows g_i − ḡ) in memory: N·D·8 bytes
/// (N = 1200, D = 11 330 → 109 MB). Recomputing them per product would cost N backward passes
/// for every Σ·x, and an eigensolver needs tens of products, so memory wins at these sizes.
/// Σ·x = (1/N) G_cᵀ(G_c x) costs 4·N·D flops, parallel inside (rayon), bit-reproducible.
///
/// In a data-parallel run ([`Objective::collective`]) each process holds only its own rows
/// (centred on the global mean) and Σ·x is the sum over processes of their G_cᵀ(G_c x): one
/// D-vector all-reduce per product, and no gradient ever leaves its process.
///
/// ```
/// use curvscope_hessian::LinearOperator;
/// use curvscope_metrics::CovarianceOperator;
/// // Two samples in R²: gradients (1, 0) and (3, 2); ḡ = (2, 1), G_c rows ±(1, 1).
/// let sigma = CovarianceOperator::from_gradients(&[1.0, 0.0, 3.0, 2.0], 2);
/// assert_eq!(sigma.apply(&[1.0, 0.0]), vec![1.0, 1.0]); // Σ = [[1, 1], [1, 1]]
/// ```
#[derive(Clone, Debug)]
pub struct CovarianceOperator {
    n: usize,
    dim: usize,
    centred: Vec<f64>,
    collective: Option<Arc<dyn Collective>>,
}

impl CovarianceOperator {
    /// Collects all N per-sample gradients at θ (in chunks of `chunk`; in a data-parallel run
    /// this process's share) and centres them on their mean.
    pub fn from_objective<O: Objective + ?Sized>(
        objective: &O,
        theta: &[f64],
        chunk: usize,
    ) -> Self {
        // Reserved once for this process's rows, so they never reallocate (N·D·8 bytes, not
        // twice that).
        let mut centred = Vec::with_capacity(objective.local_n_samples() * objective.dim());
        // Deviations from ∇L(θ), then from their mean m: the mean subtraction stays benign.
        let (_, m) = stream_deviations(objective, theta, chunk, None, &[], &mut |chunk_rows, _| {
            centred.extend_from_slice(chunk_rows)
        });
        centred
            .par_chunks_exact_mut(objective.dim())
            .for_each(|row| row.iter_mut().zip(&m).for_each(|(g, mi)| *g -= mi));
        Self {
            n: objective.n_samples(),
            dim: objective.dim(),
            centred,
            collective: objective.collective(),
        }
    }

    /// From N per-sample gradients, row-major `[N, D]`; centres them on their exact mean.
    ///
    /// # Panics
    /// If `n == 0` or `gradients.len()` is not a multiple of `n`.
    pub fn from_gradients(gradients: &[f64], n: usize) -> Self {
        Self::centre(gradients.to_vec(), n)
    }

    /// Centres `gradients` (row-major `[N, D]`) in place: N·D·8 bytes, not twice that.
    fn centre(mut gradients: Vec<f64>, n: usize) -> Self {
        assert!(
            n > 0 && gradients.len().is_multiple_of(n),
            "gradients must be [N, D] row-major"
        );
        let dim = gradients.len() / n;
        let mut mean = vec![0.0; dim];
        for row in gradients.chunks_exact(dim) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, g)| *m += g / n as f64);
        }
        for row in gradients.chunks_exact_mut(dim) {
            row.iter_mut().zip(&mean).for_each(|(g, m)| *g -= m);
        }
        Self {
            n,
            dim,
            centred: gradients,
            collective: None,
        }
    }

    /// Number of samples N.
    pub fn n_samples(&self) -> usize {
        self.n
    }

    /// The centred gradients G_c, row-major `[N, D]` (this process's rows in a data-parallel
    /// run).
    pub fn centred_gradients(&self) -> &[f64] {
        &self.centred
    }

    /// Tr(Σ) = (1/N) Σ_i ‖g_i − ḡ‖² = ‖G_c‖_F²/N, from the gradients held.
    ///
    /// ```
    /// let sigma = curvscope_metrics::CovarianceOperator::from_gradients(&[1.0, 0.0, 3.0, 2.0], 2);
    /// assert_eq!(sigma.trace(), 2.0);
    /// ```
    pub fn trace(&self) -> f64 {
        let mut squares = [self.centred.iter().map(|g| g * g).sum::<f64>()];
        self.sum_over_processes(&mut squares);
        squares[0] / self.n as f64
    }

    /// Completes a sum over the rows held with the other processes' (a no-op in one process).
    fn sum_over_processes(&self, partial: &mut [f64]) {
        if let Some(collective) = &self.collective {
            collective.sum(partial);
        }
    }
}

impl LinearOperator for CovarianceOperator {
    fn dim(&self) -> usize {
        self.dim
    }

    fn apply(&self, x: &[f64]) -> Vec<f64> {
        const BLOCK: usize = 512;
        let d = self.dim;
        let y: Vec<f64> = self.centred.par_chunks(d).map(|g| dot(g, x)).collect();
        let mut out = vec![0.0; d];
        // Each thread owns a block of output columns and sums the rows in order: no races and the
        // same bits on any number of threads.
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, block)| {
                let cols = b * BLOCK..b * BLOCK + block.len();
                for (row, yi) in self.centred.chunks_exact(d).zip(&y) {
                    block
                        .iter_mut()
                        .zip(&row[cols.clone()])
                        .for_each(|(o, g)| *o += yi * g);
                }
            });
        self.sum_over_processes(&mut out);
        out.iter_mut().for_each(|o| *o /= self.n as f64);
        out
    }

    fn parallel_apply(&self) -> bool {
        false
    }
}

/// |cos∠(a_i, b_j)| for every pair: entry `[i][j]` compares `a[i]` with `b[j]`. Eigenvectors
/// have no sign, hence the absolute value (e.g. a = top Hessian eigenvectors, b = top Σ ones).
///
/// ```
/// let c = curvscope_metrics::abs_cosines(&[vec![1.0, 0.0]], &[vec![-2.0, 0.0], vec![1.0, 1.0]]);
/// assert_eq!(c[0][0], 1.0);
/// assert!((c[0][1] - 0.5f64.sqrt()).abs() < 1e-15);
/// ```
pub fn abs_cosines(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter()
        .map(|u| {
            b.iter()
                .map(|v| dot(u, v).abs() / (norm(u) * norm(v)))
                .collect()
        })
        .collect()
}

/// How a batch of b samples scales the one-sample covariance Σ (Σ itself is never rescaled;
/// Zhu et al. 2019, Section 3: the minibatch gradient's noise has covariance Σ/b).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinibatchFactor {
    /// b.
    pub batch_size: usize,
    /// 1/b: batches drawn with replacement (the paper's model of SGD noise, Σ_sgd = Σ/b).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub with_replacement: f64,
    /// (N − b)/(b·(N − 1)): batches of b distinct samples (0 for full batch, NaN for b > N).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub without_replacement: f64,
}

/// The factor multiplying Σ for a minibatch of `batch_size` out of `n_samples`: 1/b in SGD's
/// noise model (Zhu et al. 2019, Sec. 3), (N − b)/(b·(N − 1)) without replacement.
///
/// ```
/// let f = curvscope_metrics::minibatch_factor(10, 1000);
/// assert_eq!(f.with_replacement, 0.1);
/// assert_eq!(f.without_replacement, 990.0 / 9990.0);
/// // The whole set, even of one sample, has no noise without replacement; no batch of b
/// // distinct samples exists beyond N (Σ may be estimated on fewer samples than a batch).
/// assert_eq!(curvscope_metrics::minibatch_factor(1, 1).without_replacement, 0.0);
/// assert!(curvscope_metrics::minibatch_factor(5, 3).without_replacement.is_nan());
/// ```
///
/// # Panics
/// If `batch_size` is 0.
pub fn minibatch_factor(batch_size: usize, n_samples: usize) -> MinibatchFactor {
    assert!(batch_size > 0, "a minibatch holds at least one sample");
    let (b, n) = (batch_size as f64, n_samples as f64);
    let without_replacement = match batch_size.cmp(&n_samples) {
        std::cmp::Ordering::Less => (n - b) / (b * (n - 1.0)),
        std::cmp::Ordering::Equal => 0.0,
        std::cmp::Ordering::Greater => f64::NAN,
    };
    MinibatchFactor {
        batch_size,
        with_replacement: 1.0 / b,
        without_replacement,
    }
}

impl MinibatchFactor {
    /// A quantity of Σ (its trace, diagonal, variance along a direction) for a batch of b drawn
    /// with replacement: divided by b.
    ///
    /// ```
    /// assert_eq!(curvscope_metrics::minibatch_factor(4, 100).with_replacement_of(2.0), 0.5);
    /// ```
    pub fn with_replacement_of(&self, one_sample: f64) -> f64 {
        one_sample / self.batch_size as f64
    }
}

/// w = (ε − ε̄·1)·`scale`, ε ~ N(0, I_N): Gaussian sample weights that sum to 0, with
/// E\[wwᵀ\] = scale²·(I − 11ᵀ/N). Their weighted gradient Σ_i w_i g_i = Σ_i w_i (g_i − ḡ) is
/// Gaussian with covariance scale²·N·Σ, so scale = 1/√N gives the noise Σ itself (the
/// multiplicative-noise identity of Wu et al. 2020, used by [`crate::trace_h_sigma_stochastic`])
/// and scale = 1/√(bN) SGD's Σ/b (M-SGD Gaussian, [`crate::msgd_gaussian_weights`]).
///
/// ```
/// use rand::SeedableRng;
/// let w = curvscope_metrics::centred_gaussian_weights(5, 0.5, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert!(w.iter().sum::<f64>().abs() < 1e-15);
/// ```
pub fn centred_gaussian_weights(n: usize, scale: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let eps: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    let mean = eps.iter().sum::<f64>() / n as f64;
    eps.iter().map(|e| (e - mean) * scale).collect()
}

#[cfg(test)]
mod tests {
    use super::shifted_variance;

    /// Rounding below zero is clamped; a NaN (a NaN gradient) is not turned into "no noise".
    #[test]
    fn shifted_variance_clamps_rounding_and_keeps_nan() {
        assert_eq!(shifted_variance(3.0, 3.0, 1.0 + 1e-16), 0.0);
        assert_eq!(shifted_variance(8.0, 2.0, 1.0), 3.0);
        assert!(shifted_variance(f64::NAN, 2.0, 1.0).is_nan());
        assert!(shifted_variance(1.0, 2.0, f64::NAN).is_nan());
    }
}
