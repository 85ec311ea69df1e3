//! One independent random stream per purpose, all derived from an analysis's single seed.
//!
//! Every estimator seeds ChaCha8 with the seed it is given and reads stream 0 (Lanczos starts,
//! Hutchinson and SLQ probes) or streams 0, 1, … one per probe (sharpness, stochastic Tr(HΣ)).
//! Handed the same seed they would all draw the same bits: the deflated-Hutchinson basis (the
//! top eigenvectors, from the Lanczos start) would be built from the numbers of its own first
//! probe. So each purpose gets its own seed, and runs stay bit-reproducible from one `--seed`.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a random draw of an analysis is for; its number is the ChaCha8 stream of the master
/// seed that the purpose's own seed is read from (fixed: changing one would change results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// The Lanczos start for H's top eigenpairs.
    HessianTop = 1,
    /// The Lanczos start for λ_min.
    HessianSmallest = 2,
    /// The Hutchinson probes of Tr(H).
    TraceH = 3,
    /// The stochastic Lanczos quadrature probes of the spectral density.
    Density = 4,
    /// The Lanczos start for Σ's top eigenpairs.
    SigmaTop = 5,
    /// The weight vectors of stochastic Tr(HΣ).
    TraceHSigma = 6,
    /// The perturbations of expected sharpness.
    Sharpness = 7,
    /// The random start of ε-sharpness's ascent.
    EpsilonSharpness = 8,
    /// The perturbations of average adaptive sharpness.
    AdaptiveSharpnessAverage = 9,
    /// The random start of worst-case ℓ2 adaptive sharpness's ascent.
    AdaptiveSharpnessL2 = 10,
    /// The random start of worst-case ℓ∞ adaptive sharpness's ascent.
    AdaptiveSharpnessLinf = 11,
    /// The random directions of a loss-landscape slice.
    LandscapeDirections = 12,
    /// The Lanczos starts of a noisy dynamic's noise shape (GLD leading, Hessian, 1st eigvec),
    /// one per refresh: without its own seed, step 0's start would be the numbers its noise
    /// draws (the step's stream 0), and the sign Lanczos gives each eigenvector would follow
    /// the noise's coefficients along it — noise with a non-zero mean.
    NoiseShape = 13,
    /// θ₀'s random initialisation in `train` (since 2026-12-03). Step t's noise reads stream t
    /// of the run's seed itself, so θ₀ drawn from that seed (stream 0) made step 0's Gaussian
    /// noise a rescaled copy of θ₀ (`--init normal`); a small number would hand θ₀'s key to
    /// that step's first draw instead (as `NoiseShape`'s is step 13's), so its stream is one no
    /// step reaches, beside the data's (`u64::MAX`).
    InitialTheta = u64::MAX - 1,
}

/// The seed of `purpose` under the master `seed`: the first 64 bits of ChaCha8(`seed`) on
/// stream `purpose`. Distinct purposes read distinct streams, so their seeds (and with them
/// every ChaCha8 key the estimators build) are independent.
///
/// ```
/// use curvscope_metrics::{purpose_seed, Purpose};
/// let top = purpose_seed(0, Purpose::HessianTop);
/// assert_eq!(top, purpose_seed(0, Purpose::HessianTop)); // reproducible
/// assert_ne!(top, purpose_seed(0, Purpose::TraceH));
/// assert_ne!(top, purpose_seed(1, Purpose::HessianTop));
/// ```
pub fn purpose_seed(seed: u64, purpose: Purpose) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose as u64);
    rng.next_u64()
}

/// The seed of repetition `repetition` of an experiment under the master `seed`: the first 64
/// bits of ChaCha8(`seed`) on stream 2³² + `repetition` (above every [`Purpose`]'s stream), so
/// repetitions draw independent noise and any one can be rerun alone.
///
/// ```
/// use curvscope_metrics::repetition_seed;
/// assert_ne!(repetition_seed(0, 0), repetition_seed(0, 1));
/// assert_eq!(repetition_seed(3, 7), repetition_seed(3, 7));
/// ```
pub fn repetition_seed(seed: u64, repetition: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((1 << 32) + repetition);
    rng.next_u64()
}
