//! A number together with how it was obtained, and the seeded Monte-Carlo loop behind the
//! stochastic ones.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
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

/// A value with its provenance, so every number in a [`crate::Report`] says how far to trust it.
///
/// ```
/// use curvscope_metrics::{Estimate, Estimator};
/// let e = Estimate::from_samples(&[1.0, 2.0, 3.0, 4.0], 7);
/// assert_eq!(e.value, 2.5);
/// assert_eq!(e.estimator, Estimator::Stochastic);
/// assert_eq!((e.probes, e.seed), (4, Some(7)));
/// // sample sd = sqrt(5/3), stderr = sd / sqrt(4)
/// assert!((e.stderr - (5.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Standard error of `value`; 0 for [`Estimator::Exact`].
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
    /// let e = curvscope_metrics::Estimate::exact(3.0, 10);
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

    /// Mean and standard error (sample standard deviation / √M) of M ≥ 2 i.i.d. samples,
    /// summed in index order so the result is bit-reproducible.
    ///
    /// # Panics
    /// If fewer than 2 samples are given (no standard error exists).
    pub fn from_samples(samples: &[f64], seed: u64) -> Self {
        let m = samples.len();
        assert!(m >= 2, "a standard error needs at least 2 probes, got {m}");
        let mean = samples.iter().sum::<f64>() / m as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
        Self {
            value: mean,
            stderr: (var / m as f64).sqrt(),
            estimator: Estimator::Stochastic,
            probes: m,
            seed: Some(seed),
        }
    }
}

/// The random stream of probe `index`: ChaCha8 keyed by `seed` on stream `index`, so a probe
/// draws the same numbers whatever the thread count, scheduling or total number of probes.
pub(crate) fn probe_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// `f(probe_rng(seed, i))` for i in 0..m, evaluated in parallel and returned in index order.
pub(crate) fn monte_carlo<T, F>(m: usize, seed: u64, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(&mut ChaCha8Rng) -> T + Sync,
{
    (0..m)
        .into_par_iter()
        .map(|i| f(&mut probe_rng(seed, i)))
        .collect()
}
