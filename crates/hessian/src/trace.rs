//! Stochastic trace estimates: Hutchinson, Hutch++ and deflation by a known basis.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::estimate::{mean_and_stderr, Estimate, Estimator};
use crate::krylov::{orthogonalize, rademacher_vector};
use crate::linalg::dot;
use crate::{CountingOperator, LinearOperator};

/// Probes [`Probes::Until`] draws before its stopping rule is first tried: the sample
/// standard error of fewer is too noisy to stop on.
pub const UNTIL_MIN_PROBES: usize = 10;

/// How many random probes to draw.
///
/// ```
/// use curvscope_hessian::Probes;
///
/// let fixed = Probes::Fixed(100);
/// let adaptive = Probes::Until { rel_stderr: 0.01, block: 10, max: 1000 };
/// # let _ = (fixed, adaptive);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Probes {
    /// Exactly this many (at least 2, so that a standard error exists), whatever the
    /// standard error on the way.
    Fixed(usize),
    /// Blocks of `block` probes (applied in parallel) until the standard error is at most
    /// `rel_stderr`·|estimate|, or `max` probes.
    ///
    /// This is optional stopping: the run ends when the sample variance happens to be low, so
    /// the stated standard error is biased low (and the estimate slightly, when probe values
    /// are skewed). Blocks of ≥ 10 keep it small: over 400 seeds at a 2% target with blocks of
    /// 10 (`tests/trace.rs`), the spread of the estimates was 1.06× the stated error and
    /// their mean 0.08 stated errors off; so whatever the block, the rule is first tried after
    /// [`UNTIL_MIN_PROBES`] probes (two probes of a tiny operator can agree exactly and state
    /// an error of 0). Use [`Probes::Fixed`] where the error bar must be exact.
    ///
    /// The rule is relative, so a trace near 0 (an indefinite Hessian's, say) never meets it
    /// and the run draws all `max` probes: `max` is the budget, not a formality.
    Until {
        /// The relative standard error to reach.
        rel_stderr: f64,
        /// Probes drawn between tests of the rule.
        block: usize,
        /// The most probes drawn, whether the rule is met or not.
        max: usize,
    },
}

/// A trace estimate: an exactly computed part plus a stochastic Hutchinson part, and what it
/// cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEstimate {
    /// Tr(A); its standard error is that of the stochastic part (sample std of the probe
    /// values / √probes), `probes` the Rademacher probes drawn for it.
    pub trace: Estimate,
    /// Tr(QᵀAQ) over the deflation basis Q (0 for plain Hutchinson).
    pub exact_part: f64,
    /// Number of columns of Q.
    pub deflation_rank: usize,
    /// Operator applications in total (sketch + exact part + probes).
    pub n_applications: usize,
}

/// Hutchinson's estimator: mean of zᵀAz over Rademacher probes z (unbiased; variance
/// 2(‖A‖_F² − Σ A_ii²)/n).
///
/// ```
/// use curvscope_hessian::{hutchinson, DenseOperator, Probes};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_element(10, 2.0)));
/// let t = hutchinson(&a, Probes::Fixed(4), 7);
/// assert_eq!(t.trace.value, 20.0); // zᵀz = D for Rademacher z: exact on diagonal matrices
/// assert_eq!(t.trace.stderr, 0.0);
/// ```
pub fn hutchinson<O: LinearOperator + ?Sized>(op: &O, probes: Probes, seed: u64) -> TraceEstimate {
    deflated_hutchinson(op, &[], probes, seed)
}

/// Tr(A) = Tr(QᵀAQ) + Tr((I−QQᵀ)A(I−QQᵀ)) for a given orthonormal basis Q (e.g. top
/// eigenvectors from [`extreme_eigenpairs`](crate::extreme_eigenpairs)): the first term exactly
/// (one application per column), the second by Hutchinson with probes (I−QQᵀ)z. When Q
/// spans the dominant eigenvectors the remainder has a small Frobenius norm, hence a small
/// variance. `basis` must be orthonormal; one of D columns spans R^D, and the exact part is
/// then all of Tr(A) ([`Estimator::Exact`], no probes drawn). A NaN or ∞ from the operator
/// ends the probing at once, with the estimate NaN or ∞.
///
/// ```
/// use curvscope_hessian::{deflated_hutchinson, DenseOperator, Probes};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_vec(vec![100.0, 1.0, 1.0])));
/// let t = deflated_hutchinson(&a, &[vec![1.0, 0.0, 0.0]], Probes::Fixed(10), 1);
/// assert_eq!(t.exact_part, 100.0);
/// assert!((t.trace.value - 102.0).abs() <= 4.0 * t.trace.stderr + 1e-12);
/// ```
pub fn deflated_hutchinson<O: LinearOperator + ?Sized>(
    op: &O,
    basis: &[Vec<f64>],
    probes: Probes,
    seed: u64,
) -> TraceEstimate {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    deflated_with(&CountingOperator::new(op), basis, probes, &mut rng, seed)
}

/// Hutch++ (Meyer, Musco, Musco, Woodruff 2021): Q = orth(A·S) for a Rademacher sketch S
/// with `sketch` columns, then [`deflated_hutchinson`] with Q. Costs 2·sketch + n_probes
/// applications; the paper's split of a budget m is sketch = n_probes = m/3. For spectra
/// that decay fast the error falls like 1/m instead of Hutchinson's 1/√m. A sketch of D or
/// more columns spans R^D: the trace is then exact, from 2·D applications and no probes.
///
/// ```
/// use curvscope_hessian::{hutch_plus_plus, DenseOperator, Probes};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(40, |i, _| 0.5f64.powi(i as i32))));
/// let t = hutch_plus_plus(&a, 10, Probes::Fixed(10), 3);
/// assert_eq!(t.n_applications, 30);
/// assert!((t.trace.value - 2.0).abs() < 1e-2);
/// ```
pub fn hutch_plus_plus<O: LinearOperator + ?Sized>(
    op: &O,
    sketch: usize,
    probes: Probes,
    seed: u64,
) -> TraceEstimate {
    assert!(
        sketch >= 1,
        "Hutch++ needs a sketch; use `hutchinson` without one"
    );
    let d = op.dim();
    let counted = CountingOperator::new(op);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s: Vec<Vec<f64>> = (0..sketch.min(d))
        .map(|_| rademacher_vector(&mut rng, d))
        .collect();
    let y = counted.apply_many(&s);
    let q = DMatrix::from_iterator(d, y.len(), y.into_iter().flatten())
        .qr()
        .q();
    let basis: Vec<Vec<f64>> = q
        .column_iter()
        .map(|c| c.iter().copied().collect())
        .collect();
    deflated_with(&counted, &basis, probes, &mut rng, seed)
}

/// The shared estimator; `op` already counts applications (the sketch's included).
fn deflated_with<O: LinearOperator>(
    op: &CountingOperator<O>,
    basis: &[Vec<f64>],
    probes: Probes,
    rng: &mut ChaCha8Rng,
    seed: u64,
) -> TraceEstimate {
    let d = op.dim();
    let exact_part: f64 = op
        .apply_many(basis)
        .iter()
        .zip(basis)
        .map(|(aq, q)| dot(aq, q))
        .sum();
    // (block, max, the relative standard error to stop at; None: draw all `max`).
    let (block, max, stop_at) = match probes {
        Probes::Fixed(n) => (32, n, None),
        Probes::Until {
            rel_stderr,
            block,
            max,
        } => (block.max(2), max, Some(rel_stderr)),
    };
    assert!(max >= 2, "need at least 2 probes for a standard error");
    // A basis of all R^D leaves no remainder: Tr(QᵀAQ) is Tr(A), and no probe is drawn.
    if basis.len() == d {
        return TraceEstimate {
            trace: Estimate::exact(exact_part, d),
            exact_part,
            deflation_rank: d,
            n_applications: op.applications(),
        };
    }
    let mut samples: Vec<f64> = Vec::with_capacity(max);
    let (mut mean, mut se) = (0.0f64, f64::INFINITY);
    // A NaN or ∞ from the operator ends the run: no further probe can make the trace finite
    // (the basis' exact part included: its NaN would also keep the stopping rule from firing).
    while samples.len() < max && (exact_part + mean).is_finite() {
        let zs: Vec<Vec<f64>> = (0..block.min(max - samples.len()))
            .map(|_| {
                let mut z = rademacher_vector(rng, d);
                orthogonalize(basis, &mut z);
                z
            })
            .collect();
        let azs = op.apply_many(&zs);
        samples.extend(azs.iter().zip(&zs).map(|(az, z)| dot(az, z)));
        (mean, se) = mean_and_stderr(&samples);
        let stop = stop_at.is_some_and(|rel| {
            samples.len() >= UNTIL_MIN_PROBES && se <= rel * (exact_part + mean).abs()
        });
        if stop {
            break;
        }
    }
    TraceEstimate {
        trace: Estimate {
            value: exact_part + mean,
            stderr: se,
            estimator: Estimator::Stochastic,
            probes: samples.len(),
            seed: Some(seed),
        },
        exact_part,
        deflation_rank: basis.len(),
        n_applications: op.applications(),
    }
}
