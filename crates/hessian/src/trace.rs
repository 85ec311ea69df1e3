//! Stochastic trace estimates: Hutchinson, Hutch++ and deflation by a known basis.

use nalgebra::DMatrix;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::estimate::{mean_and_stderr, Estimate, Estimator};
use crate::krylov::{orthogonalize, rademacher_vector, seeded_rng};
use crate::linalg::dot;
use crate::{CountingOperator, LinearOperator};

/// The fewest probes of [`Probes::Until`]'s pilot and of its estimate: the sample standard
/// error of fewer is too noisy to plan or state (two probes of a tiny operator can agree
/// exactly and state an error of 0).
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
    /// standard error on the way: the estimate is unbiased, and so is its stated variance (its
    /// coverage is a t distribution's, with few probes of a skewed quadratic form).
    Fixed(usize),
    /// A two-stage rule (Stein 1945) for a standard error of `rel_stderr`·|estimate|: a pilot
    /// of `block` probes (at least [`UNTIL_MIN_PROBES`]) estimates their spread and so how
    /// many probes the target needs; that many fresh ones (at least [`UNTIL_MIN_PROBES`], at
    /// most `max` less the pilot) make the estimate, the pilot's left out.
    ///
    /// Why not draw until the target is met: that is optional stopping. Probe values of a
    /// quadratic form are skewed, their sample mean and variance correlated, so a run stops
    /// when both happen to be low: on A = I + c·uuᵀ (D = 200; a few dominant eigenvalues, as a
    /// trained net's Hessian has) it was 2.3% low, 26 standard errors of its mean over 4,000
    /// seeds, with 80% coverage of ±2 stated errors. The fresh probes' count depends on the
    /// pilot alone, so their mean is unbiased and their standard error that of a fixed count
    /// (`tests/trace.rs`). The price is the pilot's probes, and a stated error that meets the
    /// target only about as often as the pilot's spread was not an underestimate.
    ///
    /// The target is relative, so a trace near 0 (an indefinite Hessian's, say) never meets it
    /// and the run draws all `max` probes: `max` is the budget, not a formality. Where `max`
    /// leaves no room for two stages (less than [`UNTIL_MIN_PROBES`] after the pilot), it is
    /// [`Probes::Fixed`]`(max)`.
    Until {
        /// The relative standard error to reach.
        rel_stderr: f64,
        /// The pilot's probes (at least [`UNTIL_MIN_PROBES`]), and how many are applied at
        /// once.
        block: usize,
        /// The most probes drawn, whether the rule is met or not.
        max: usize,
    },
}

impl Probes {
    /// The pilot of [`Probes::Until`], where its `max` leaves room for a second stage of at
    /// least [`UNTIL_MIN_PROBES`] after it.
    fn pilot(&self) -> Option<usize> {
        match *self {
            Probes::Fixed(_) => None,
            Probes::Until { block, max, .. } => {
                let pilot = block.max(UNTIL_MIN_PROBES).min(max);
                (max - pilot >= UNTIL_MIN_PROBES).then_some(pilot)
            }
        }
    }

    /// The most probes an estimate can hold under this rule: `Fixed`'s count, or `Until`'s
    /// `max` less its pilot. An `Until` estimate of that many used the whole budget (its
    /// target may have needed more).
    ///
    /// ```
    /// use curvscope_hessian::Probes;
    ///
    /// assert_eq!(Probes::Fixed(30).most(), 30);
    /// assert_eq!(Probes::Until { rel_stderr: 0.01, block: 10, max: 100 }.most(), 90);
    /// assert_eq!(Probes::Until { rel_stderr: 0.01, block: 10, max: 15 }.most(), 15);
    /// ```
    pub fn most(&self) -> usize {
        match *self {
            Probes::Fixed(n) => n,
            Probes::Until { max, .. } => max - self.pilot().unwrap_or(0),
        }
    }
}

/// A trace estimate: an exactly computed part plus a stochastic Hutchinson part, and what it
/// cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEstimate {
    /// Tr(A); its standard error is that of the stochastic part (sample std of the probe
    /// values / √probes), `probes` the Rademacher probes drawn for it.
    pub trace: Estimate,
    /// Tr(QᵀAQ) over the deflation basis Q (0 for plain Hutchinson); all of Tr(A) where it was
    /// computed exactly.
    pub exact_part: f64,
    /// Number of columns of Q.
    pub deflation_rank: usize,
    /// Operator applications in total (sketch + exact part + probes).
    pub n_applications: usize,
}

/// Hutchinson's estimator: mean of zᵀAz over Rademacher probes z (unbiased; variance
/// 2(‖A‖_F² − Σ A_ii²)/n). Where D is within the probes, Tr(A) is computed exactly from D
/// applications instead ([`deflated_hutchinson`] with no basis).
///
/// # Panics
/// If the budget is below 2 probes.
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
/// variance. Where D is no more than the probes the remainder would take (`Fixed`'s count, or
/// the count `Until`'s pilot plans), the remainder is computed exactly instead, over the unit
/// vectors projected off Q: D applications, [`Estimator::Exact`]. A NaN or ∞ from the operator
/// (or in the basis) ends the probing at once, with the estimate NaN or ∞.
///
/// # Panics
/// If `basis` is not orthonormal (QᵀQ = I to 1e-6: another basis would add a wrong exact part
/// to an estimate that states no error for it), or the budget is below 2 probes.
///
/// ```
/// use curvscope_hessian::{deflated_hutchinson, DenseOperator, Estimator, Probes};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(50, |i, _| {
///     if i == 0 { 100.0 } else { 1.0 + i as f64 / 50.0 }
/// })));
/// let e1: Vec<f64> = (0..50).map(|i| f64::from(u8::from(i == 0))).collect();
/// let t = deflated_hutchinson(&a, &[e1.clone()], Probes::Fixed(10), 1);
/// assert_eq!(t.exact_part, 100.0);
/// let truth = 100.0 + (1..50).map(|i| 1.0 + i as f64 / 50.0).sum::<f64>();
/// assert!((t.trace.value - truth).abs() <= 4.0 * t.trace.stderr);
/// // A budget of D = 50 probes: the remainder is computed exactly, from 50 products.
/// let exact = deflated_hutchinson(&a, &[e1], Probes::Fixed(50), 1);
/// assert_eq!(exact.trace.estimator, Estimator::Exact);
/// assert!((exact.trace.value - truth).abs() < 1e-12);
/// ```
pub fn deflated_hutchinson<O: LinearOperator + ?Sized>(
    op: &O,
    basis: &[Vec<f64>],
    probes: Probes,
    seed: u64,
) -> TraceEstimate {
    let mut rng = seeded_rng(seed);
    deflated_with(&CountingOperator::new(op), basis, probes, &mut rng, seed)
}

/// Hutch++ (Meyer, Musco, Musco, Woodruff 2021): Q = orth(A·S) for a Rademacher sketch S
/// with `sketch` columns, then [`deflated_hutchinson`] with Q. Costs 2·sketch + n_probes
/// applications; the paper's split of a budget m is sketch = n_probes = m/3. For spectra
/// that decay fast the error falls like 1/m instead of Hutchinson's 1/√m. Where D is within the
/// probes, the remainder is computed exactly ([`deflated_hutchinson`]).
///
/// # Panics
/// If `sketch` is 0 (use [`hutchinson`]) or the budget is below 2 probes.
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
    let mut rng = seeded_rng(seed);
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
    let budget = match probes {
        Probes::Fixed(n) => n,
        Probes::Until { max, .. } => max,
    };
    assert!(budget >= 2, "need at least 2 probes for a standard error");
    // A NaN or ∞ in the basis (an overflowed Lanczos run or sketch) makes the exact part NaN,
    // which ends the run below, as a NaN product does: an estimate that says so, not a panic.
    if basis.iter().flatten().all(|v| v.is_finite()) {
        assert_orthonormal(basis, d);
    }
    let quadratic_forms = |vs: &[Vec<f64>]| -> f64 {
        vs.chunks(FIXED_BLOCK)
            .map(|block| {
                let products = op.apply_many(block);
                products
                    .iter()
                    .zip(block)
                    .map(|(av, v)| dot(av, v))
                    .sum::<f64>()
            })
            .sum()
    };
    let exact_part = quadratic_forms(basis);
    let exact = |value: f64, deflation_rank: usize| TraceEstimate {
        trace: Estimate::exact(value, d),
        exact_part: value,
        deflation_rank,
        n_applications: op.applications(),
    };
    // A basis of all R^D leaves no remainder: Tr(QᵀAQ) is Tr(A).
    if basis.len() == d {
        return exact(exact_part, d);
    }
    // Tr((I−QQᵀ)A(I−QQᵀ)) over the projected unit vectors: D applications, where that is no
    // more than the probes it replaces.
    let remainder = || -> f64 {
        (0..d)
            .collect::<Vec<usize>>()
            .chunks(FIXED_BLOCK)
            .map(|columns| {
                let projected: Vec<Vec<f64>> = columns
                    .iter()
                    .map(|&j| {
                        let mut e = vec![0.0; d];
                        e[j] = 1.0;
                        orthogonalize(basis, &mut e);
                        e
                    })
                    .collect();
                quadratic_forms(&projected)
            })
            .sum()
    };
    // A NaN or ∞ from the operator ends the run: no further probe can make the trace finite
    // (the basis' exact part included: its NaN would also make the pilot's plan meaningless).
    let mut draw = |n: usize, block: usize| -> Vec<f64> {
        let mut samples: Vec<f64> = Vec::with_capacity(n);
        while samples.len() < n && (exact_part + samples.iter().sum::<f64>()).is_finite() {
            let zs: Vec<Vec<f64>> = (0..block.min(n - samples.len()))
                .map(|_| {
                    let mut z = rademacher_vector(rng, d);
                    orthogonalize(basis, &mut z);
                    z
                })
                .collect();
            let azs = op.apply_many(&zs);
            samples.extend(azs.iter().zip(&zs).map(|(az, z)| dot(az, z)));
        }
        samples
    };
    let finite = exact_part.is_finite();
    let samples = match probes {
        Probes::Fixed(n) if finite && d <= n => {
            return exact(exact_part + remainder(), basis.len())
        }
        Probes::Fixed(n) => draw(n, FIXED_BLOCK),
        Probes::Until {
            rel_stderr, max, ..
        } => match probes.pilot() {
            None if finite && d <= max => return exact(exact_part + remainder(), basis.len()),
            None => draw(max, FIXED_BLOCK),
            Some(pilot_size) => {
                let pilot = draw(pilot_size, pilot_size);
                let (mean, se) = mean_and_stderr(&pilot);
                if !(exact_part + mean).is_finite() {
                    pilot
                } else {
                    // σ²/(target·|Tr|)² probes, σ² the pilot's variance; `as` saturates, so
                    // an infinite need (a trace of 0) takes the whole budget left.
                    let needed = match se {
                        0.0 => 0.0,
                        se => {
                            pilot.len() as f64
                                * (se / (rel_stderr * (exact_part + mean).abs())).powi(2)
                        }
                    };
                    let fresh = (needed.ceil() as usize).clamp(UNTIL_MIN_PROBES, probes.most());
                    if d <= fresh {
                        return exact(exact_part + remainder(), basis.len());
                    }
                    draw(fresh, pilot_size)
                }
            }
        },
    };
    let (mean, se) = mean_and_stderr(&samples);
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

/// Probes of [`Probes::Fixed`] applied at once: a bound on the memory of the probes and their
/// products, not a statistical choice.
const FIXED_BLOCK: usize = 32;

/// Panics unless every basis vector has length D and QᵀQ = I to 1e-8: deflating by another
/// basis would add a wrong exact part to an estimate stating no error for it (a basis off by
/// 5e-7 put 1 in 10⁶ into an "exact" trace).
fn assert_orthonormal(basis: &[Vec<f64>], d: usize) {
    for (i, u) in basis.iter().enumerate() {
        assert_eq!(
            u.len(),
            d,
            "basis vector {i} has length {}, not D = {d}",
            u.len()
        );
        for (j, v) in basis[..=i].iter().enumerate() {
            let want = f64::from(u8::from(i == j));
            let got = dot(u, v);
            assert!(
                (got - want).abs() <= 1e-8,
                "the deflation basis is not orthonormal: q{i}·q{j} = {got}"
            );
        }
    }
}
