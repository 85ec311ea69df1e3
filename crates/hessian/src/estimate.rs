//! A number together with how it was obtained: every trace, moment and Monte-Carlo mean in
//! curvscope is an [`Estimate`], so each reported value says how far to trust it.

use serde::{Deserialize, Serialize};

/// How a reported number was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// Exact up to floating point: a finite sum over every sample (stderr is 0).
    Exact,
    /// A Monte-Carlo mean over random probes (stderr is the standard error of that mean).
    Stochastic,
}

/// A value with its standard error and provenance.
///
/// ```
/// use curvscope_hessian::{Estimate, Estimator};
/// let e = Estimate::from_samples(&[1.0, 2.0, 3.0, 4.0], 7);
/// assert_eq!(e.value, 2.5);
/// assert_eq!(e.estimator, Estimator::Stochastic);
/// assert_eq!((e.probes, e.seed), (4, Some(7)));
/// // sample sd = sqrt(5/3), stderr = sd / sqrt(4)
/// assert!((e.stderr - (5.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate (NaN or ±∞ where it overflowed: kept as such in JSON, see
    /// [`crate::non_finite`]).
    #[serde(with = "crate::non_finite")]
    pub value: f64,
    /// Standard error of `value`; 0 for [`Estimator::Exact`].
    #[serde(with = "crate::non_finite")]
    pub stderr: f64,
    /// Exact sum or Monte-Carlo mean.
    pub estimator: Estimator,
    /// Stochastic: random probes averaged. Exact: samples (per-sample gradients, or HVPs) summed.
    pub probes: usize,
    /// Seed of the probes' randomness; `None` for exact values.
    pub seed: Option<u64>,
}

impl Estimate {
    /// An exact value obtained from `probes` samples.
    ///
    /// ```
    /// let e = curvscope_hessian::Estimate::exact(3.0, 10);
    /// assert_eq!((e.stderr, e.seed), (0.0, None));
    /// ```
    pub fn exact(value: f64, probes: usize) -> Self {
        Self {
            value,
            stderr: 0.0,
            estimator: Estimator::Exact,
            probes,
            seed: None,
        }
    }

    /// Mean and standard error (sample standard deviation / √M) of M ≥ 2 i.i.d. samples
    /// drawn from `seed`, summed in index order so the result is bit-reproducible.
    ///
    /// ```
    /// use curvscope_hessian::Estimate;
    /// let e = Estimate::from_samples(&[1.0, 2.0, 3.0, 4.0], 7);
    /// // mean 2.5; sample variance (2.25 + 0.25 + 0.25 + 2.25)/3 = 5/3, over √4
    /// assert_eq!((e.value, e.probes, e.seed), (2.5, 4, Some(7)));
    /// assert!((e.stderr - (5.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
    /// ```
    ///
    /// # Panics
    /// If fewer than 2 samples are given (no standard error exists).
    pub fn from_samples(samples: &[f64], seed: u64) -> Self {
        let m = samples.len();
        assert!(m >= 2, "a standard error needs at least 2 probes, got {m}");
        let (value, stderr) = mean_and_stderr(samples);
        Self {
            value,
            stderr,
            estimator: Estimator::Stochastic,
            probes: m,
            seed: Some(seed),
        }
    }
}

/// Sample mean and its standard error (sample standard deviation with n − 1, over √n), summed
/// in index order so the result is bit-reproducible; the error is infinite for one sample.
pub(crate) fn mean_and_stderr(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, f64::INFINITY);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}
