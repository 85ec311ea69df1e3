//! Binomial success rates with their 95% Wilson score interval: how sure a rate measured on a
//! few repetitions (escapes out of 100 runs) is.

use serde::{Deserialize, Serialize};

/// The normal quantile z of a two-sided 95% interval, Φ⁻¹(0.975).
const Z95: f64 = 1.959_963_984_540_054;

/// A success rate k/n with its 95% Wilson score interval [low, high].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuccessRate {
    /// k.
    pub successes: u64,
    /// n.
    pub trials: u64,
    /// k/n.
    pub rate: f64,
    /// The interval's lower end.
    pub low: f64,
    /// The interval's upper end.
    pub high: f64,
}

/// k successes out of n trials with the Wilson score interval (Wilson 1927),
/// (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), z = Φ⁻¹(0.975), inside [0, 1].
/// Chosen over the Wald interval because it stays inside [0, 1] and keeps its coverage at
/// rates of 0 or 1, which escape experiments produce.
///
/// ```
/// let r = curvscope_metrics::wilson_interval(5, 10);
/// assert!((r.low - 0.2366).abs() < 1e-4 && (r.high - 0.7634).abs() < 1e-4);
/// ```
///
/// # Panics
/// If n = 0 or k > n.
pub fn wilson_interval(successes: u64, trials: u64) -> SuccessRate {
    assert!(
        trials > 0 && successes <= trials,
        "need 0 ≤ k ≤ n, n > 0 (k = {successes}, n = {trials})"
    );
    let (k, n) = (successes as f64, trials as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    SuccessRate {
        successes,
        trials,
        rate: p,
        // Exactly 0 at k = 0 and 1 at k = n (where rounding would leave 1 − 1e-16).
        low: if successes == 0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        high: if successes == trials {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook values of the 95% Wilson interval (e.g. Newcombe 1998, Table I, method 3, and
    /// any statistics package's `binom.confint(method = "wilson")`).
    #[test]
    fn matches_known_wilson_intervals() {
        let cases = [
            (0, 10, 0.0, 0.2775),
            (5, 10, 0.2366, 0.7634),
            (10, 10, 0.7225, 1.0),
            (81, 100, 0.7222, 0.8749),
            (1, 100, 0.0018, 0.0545),
        ];
        for (k, n, low, high) in cases {
            let r = wilson_interval(k, n);
            assert!(
                (r.low - low).abs() < 1e-4 && (r.high - high).abs() < 1e-4,
                "{k}/{n}: [{}, {}] vs [{low}, {high}]",
                r.low,
                r.high
            );
            assert_eq!(r.rate, k as f64 / n as f64);
            assert!(r.low <= r.rate && r.rate <= r.high);
        }
    }

    #[test]
    #[should_panic(expected = "need 0 ≤ k ≤ n")]
    fn refuses_more_successes_than_trials() {
        wilson_interval(3, 2);
    }
}
