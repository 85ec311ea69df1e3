//! The training dynamics compared by Zhu et al. (ICML 2019, Table 1) and the multiplicative-noise
//! SGD of Wu et al. (ICML 2020), each as θ ← θ − η g̃ with g̃ = ∇L(θ) + ε.
//!
//! Every dynamic's noise ε is matched in magnitude to SGD's: its covariance has trace Tr(Σ)/b
//! (Zhu et al. Eq. 14) unless stated otherwise, so the dynamics differ only in the *shape* of the
//! noise. [`DescentOptions::noise_trace`] instead fixes that trace, E‖ε‖², to one number at every
//! step for every Gaussian dynamic (Zhu et al. Sec. 5.1, the 2-D toy: E‖ε‖² = 0.01). Each noise generator below states its exact covariance; the tests sample it and
//! check the trace (and, where cheap, the whole matrix) against dense linear algebra.
//!
//! Randomness: step t draws from ChaCha8 keyed by the run's seed on stream t, so any step can be
//! replayed on its own and a resumed run repeats an uninterrupted one bit for bit.

use std::fmt;
use std::str::FromStr;

use curvscope_hessian::{dot, extreme_eigenpairs, Eigenpairs, LanczosOptions, LinearOperator};
use curvscope_model::{HessianOperator, Objective, Precision};
use rand::seq::index;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Bernoulli, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::covariance::{
    centred_gaussian_weights, minibatch_factor, noise_statistics, CovarianceOperator, CHUNK,
};
use crate::monte_carlo::probe_rng;
use crate::seeds::{purpose_seed, Purpose};

/// A training dynamic: how the stochastic gradient g̃ = ∇L + ε of each step is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dynamic {
    /// Gradient descent, ε = 0.
    Gd,
    /// SGD: mean gradient of b samples drawn with replacement.
    Sgd,
    /// SGD on b distinct samples.
    SgdNoReplacement,
    /// Isotropic Gaussian noise of constant variance.
    GldConst,
    /// Isotropic Gaussian noise whose variance follows Tr(Σ_t).
    GldDynamic,
    /// Gaussian noise with the diagonal of Σ_t.
    GldDiag,
    /// Gaussian noise in the top-k eigenspace of Σ_t.
    GldLeading,
    /// Gaussian noise shaped like the top-k part of the Hessian.
    GldHessian,
    /// Gaussian noise along the Hessian's top eigenvector only.
    GldEigvec1,
    /// M-SGD with Gaussian weights: covariance exactly Σ/b.
    MsgdGaussian,
    /// M-SGD with Bernoulli weights: a random-size minibatch.
    MsgdBernoulli,
    /// M-SGD with the uncentred (Fisher) covariance F/b.
    MsgdFisher,
    /// M-SGD with the Fisher estimated on b random samples (or B distinct ones).
    MsgdFisherB,
    /// M-SGD with Gaussian weights centred over B distinct random samples: covariance Σ/b.
    MsgdCovB,
    /// GD on L + (1/N) Σ_i σ_i ℓ_i with fresh Rademacher σ each step (Wu et al. 2020's
    /// Rademacher regularizer without its supremum and absolute value): noise F/N.
    GdRademacher,
}

impl Dynamic {
    /// Every dynamic, in the order of `--help`.
    pub const ALL: [Dynamic; 15] = [
        Dynamic::Gd,
        Dynamic::Sgd,
        Dynamic::SgdNoReplacement,
        Dynamic::GldConst,
        Dynamic::GldDynamic,
        Dynamic::GldDiag,
        Dynamic::GldLeading,
        Dynamic::GldHessian,
        Dynamic::GldEigvec1,
        Dynamic::MsgdGaussian,
        Dynamic::MsgdBernoulli,
        Dynamic::MsgdFisher,
        Dynamic::MsgdFisherB,
        Dynamic::MsgdCovB,
        Dynamic::GdRademacher,
    ];

    /// The kebab-case name used on the command line and in files.
    ///
    /// ```
    /// use curvscope_metrics::Dynamic;
    /// assert_eq!(Dynamic::GldEigvec1.name(), "gld-eigvec1");
    /// assert_eq!("msgd-fisher-b".parse::<Dynamic>(), Ok(Dynamic::MsgdFisherB));
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Dynamic::Gd => "gd",
            Dynamic::Sgd => "sgd",
            Dynamic::SgdNoReplacement => "sgd-no-replacement",
            Dynamic::GldConst => "gld-const",
            Dynamic::GldDynamic => "gld-dynamic",
            Dynamic::GldDiag => "gld-diag",
            Dynamic::GldLeading => "gld-leading",
            Dynamic::GldHessian => "gld-hessian",
            Dynamic::GldEigvec1 => "gld-eigvec1",
            Dynamic::MsgdGaussian => "msgd-gaussian",
            Dynamic::MsgdBernoulli => "msgd-bernoulli",
            Dynamic::MsgdFisher => "msgd-fisher",
            Dynamic::MsgdFisherB => "msgd-fisher-b",
            Dynamic::MsgdCovB => "msgd-cov-b",
            Dynamic::GdRademacher => "gd-rademacher",
        }
    }

    /// One line on what the noise is, for `--help`.
    pub fn description(self) -> &'static str {
        match self {
            Dynamic::Gd => "full-batch gradient descent, no noise",
            Dynamic::Sgd => "SGD: mean gradient of b samples drawn with replacement (noise Σ/b)",
            Dynamic::SgdNoReplacement => "SGD on b distinct samples (noise (N−b)/(N−1)·Σ/b)",
            Dynamic::GldConst => {
                "GD + N(0, ρ²I), ρ from --noise-std or ρ² = Tr(Σ₀)/(b·D) at the start"
            }
            Dynamic::GldDynamic => {
                "GD + N(0, σ_t²I), σ_t² = Tr(Σ_t)/(b·D) re-estimated every R steps"
            }
            Dynamic::GldDiag => "GD + N(0, diag(Σ_t)/b)",
            Dynamic::GldLeading => {
                "GD + Gaussian noise in the top-k eigenspace of Σ_t, trace Tr(Σ_t)/b"
            }
            Dynamic::GldHessian => {
                "GD + Gaussian noise ∝ top-k part of H (its positive eigenvalues), trace \
                 Tr(Σ_t)/b; none where every top-k λ ≤ 0"
            }
            Dynamic::GldEigvec1 => {
                "GD + Gaussian noise along H's top eigenvector u₁, trace Tr(Σ_t)/b; none where \
                 λ₁ ≤ 0"
            }
            Dynamic::MsgdGaussian => {
                "multiplicative SGD, Gaussian weights, one backward (noise Σ/b)"
            }
            Dynamic::MsgdBernoulli => {
                "multiplicative SGD, W_i = Bernoulli(b/N)/b (noise (1−b/N)·F/b)"
            }
            Dynamic::MsgdFisher => {
                "multiplicative SGD, uncentred Gaussian weights (noise F/b, F = E[g gᵀ])"
            }
            Dynamic::MsgdFisherB => {
                "multiplicative SGD, Fisher from b random samples or --noise-samples B (noise F/b)"
            }
            Dynamic::MsgdCovB => {
                "multiplicative SGD, Gaussian weights centred over B = --noise-samples (default b) \
                 random samples (noise Σ/b)"
            }
            Dynamic::GdRademacher => {
                "GD on L + (1/N)Σσ_iℓ_i, fresh Rademacher σ each step (noise F/N; not scaled by b)"
            }
        }
    }

    /// Whether the dynamic is GD plus Gaussian noise ε (the GLD family of Zhu et al. Table 1),
    /// its trace matched to Tr(Σ)/b unless set otherwise.
    pub fn adds_gaussian_noise(self) -> bool {
        self == Dynamic::GldConst || self.refreshes()
    }

    /// Whether the noise depends on structures of Σ or H that are re-estimated every R steps.
    pub fn refreshes(self) -> bool {
        matches!(
            self,
            Dynamic::GldDynamic
                | Dynamic::GldDiag
                | Dynamic::GldLeading
                | Dynamic::GldHessian
                | Dynamic::GldEigvec1
        )
    }
}

impl fmt::Display for Dynamic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dynamic {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Dynamic::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Dynamic::ALL.iter().map(|d| d.name()).collect();
                format!("unknown dynamic '{s}' (one of {})", names.join(", "))
            })
    }
}

/// Indices of an SGD minibatch of `b` samples out of `n`, with or without replacement (SGD of
/// Zhu et al. 2019, Table 1).
///
/// The minibatch mean gradient minus ∇L has covariance Σ/b with replacement and
/// (N − b)/(N − 1)·Σ/b without (the finite-population correction); Zhu et al. 2019, Sec. 3.
///
/// # Panics
/// Without replacement, if `b > n`.
pub fn minibatch_indices(
    n: usize,
    b: usize,
    replacement: bool,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    if replacement {
        (0..b).map(|_| rng.random_range(0..n)).collect()
    } else {
        index::sample(rng, n, b).into_vec()
    }
}

/// The per-sample weights w with Σ_i w_i ℓ_i = the minibatch mean loss of `indices` (repeats
/// counted), for objectives that only offer [`Objective::weighted_grad`].
///
/// ```
/// assert_eq!(curvscope_metrics::minibatch_weights(3, &[2, 0, 2, 2]), vec![0.25, 0.0, 0.75]);
/// ```
pub fn minibatch_weights(n: usize, indices: &[usize]) -> Vec<f64> {
    let mut w = vec![0.0; n];
    indices
        .iter()
        .for_each(|&i| w[i] += 1.0 / indices.len() as f64);
    w
}

/// ε ~ N(0, std²·I) in R^dim: the noise of GLD const and GLD dynamic (Zhu et al. 2019, Table 1),
/// whose covariance std²·I has trace std²·D (= Tr(Σ)/b when std² = Tr(Σ)/(b·D)).
///
/// ```
/// use rand::SeedableRng;
/// let eps = curvscope_metrics::isotropic_noise(0.5, 3, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert_eq!(eps.len(), 3);
/// ```
pub fn isotropic_noise(std: f64, dim: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..dim)
        .map(|_| std * rng.sample::<f64, _>(StandardNormal))
        .collect()
}

/// ε ~ N(0, diag(variances)): the noise of GLD diag (Zhu et al. 2019, Table 1) with
/// variances = diag(Σ)/b, covariance trace Tr(Σ)/b.
///
/// ```
/// use rand::SeedableRng;
/// let eps = curvscope_metrics::diagonal_noise(&[1.0, 0.0], &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert_eq!(eps[1], 0.0);
/// ```
pub fn diagonal_noise(variances: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    variances
        .iter()
        .map(|v| v.sqrt() * rng.sample::<f64, _>(StandardNormal))
        .collect()
}

/// ε = Σ_i √(c·λ_i⁺)·z_i·u_i, z ~ N(0, I_k), with c = `trace` / Σ_i λ_i⁺: Gaussian noise of
/// covariance c·Σ_i λ_i⁺ u_i u_iᵀ, the top-k part of a matrix rescaled to trace `trace`
/// (λ⁺ = max(λ, 0): a covariance cannot follow negative curvature). With `trace` = Tr(Σ)/b
/// this is the noise of GLD leading (eigenpairs of Σ), GLD Hessian (of H) and, for k = 1,
/// GLD 1st eigvec(H), where ε = √(Tr(Σ)/b)·z·u₁ (Zhu et al. 2019, Table 1). No noise if
/// every λ ≤ 0.
///
/// ```
/// use curvscope_hessian::Eigenpairs;
/// use rand::SeedableRng;
/// let pairs = Eigenpairs { eigenvalues: vec![2.0], eigenvectors: vec![vec![0.6, 0.8]], ..Default::default() };
/// let eps = curvscope_metrics::low_rank_noise(&pairs, 4.0, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert!((eps[0] * 0.8 - eps[1] * 0.6).abs() < 1e-15); // parallel to u₁
/// ```
pub fn low_rank_noise(pairs: &Eigenpairs, trace: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let dim = pairs.eigenvectors.first().map_or(0, Vec::len);
    let mut eps = vec![0.0; dim];
    for (weight, u) in low_rank_weights(pairs, trace)
        .iter()
        .zip(&pairs.eigenvectors)
    {
        let coef = weight.sqrt() * rng.sample::<f64, _>(StandardNormal);
        eps.iter_mut().zip(u).for_each(|(e, ui)| *e += coef * ui);
    }
    eps
}

/// The variances c·λ_i⁺ along the eigenvectors of [`low_rank_noise`]'s covariance, c = `trace`
/// / Σ_i λ_i⁺; none when every λ ≤ 0.
fn low_rank_weights(pairs: &Eigenpairs, trace: f64) -> Vec<f64> {
    let positive = pairs.eigenvalues.iter().map(|l| l.max(0.0));
    let total: f64 = positive.clone().sum();
    match total > 0.0 {
        true => positive.map(|l| trace * l / total).collect(),
        false => Vec::new(),
    }
}

/// M-SGD Gaussian weights (Wu et al. 2020, Algorithm 1): W = 1/N + (I − 11ᵀ/N)ε/√(bN),
/// ε ~ N(0, I_N) ([`centred_gaussian_weights`]). Then Σ_i W_i g_i − ∇L = Σ_i ε_i(g_i − ḡ)/√(bN)
/// has covariance exactly Σ/b, SGD's, at the cost of one weighted backward pass.
///
/// ```
/// use rand::SeedableRng;
/// let w = curvscope_metrics::msgd_gaussian_weights(4, 2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// // The noise is centred: the weights sum to 1, so Σ_i W_i g_i = ∇L + Σ_i ε_i(g_i − ḡ)/√(bN).
/// assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// ```
pub fn msgd_gaussian_weights(n: usize, b: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let scale = 1.0 / ((b * n) as f64).sqrt();
    centred_gaussian_weights(n, scale, rng)
        .iter()
        .map(|w| 1.0 / n as f64 + w)
        .collect()
}

/// M-SGD Bernoulli weights (Wu et al. 2020): W_i = ξ_i/b, ξ_i ~ Bernoulli(b/N) independent,
/// i.e. each sample joins the batch with probability b/N and the sum is divided by the
/// expected size b. E\[W_i\] = 1/N, so Σ_i W_i g_i is unbiased; its noise has covariance
/// Σ_i Var(W_i) g_i g_iᵀ = (1 − b/N)·F/b with the *uncentred* F = (1/N) Σ_i g_i g_iᵀ = Σ + ḡḡᵀ.
///
/// ```
/// use rand::SeedableRng;
/// let w = curvscope_metrics::msgd_bernoulli_weights(10, 5, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert!(w.iter().all(|&w| w == 0.0 || w == 0.2)); // out of the batch, or in it: 1/b
/// ```
///
/// # Panics
/// If b > N.
pub fn msgd_bernoulli_weights(n: usize, b: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let coin = Bernoulli::new(b as f64 / n as f64).expect("batch size at most N");
    (0..n)
        .map(|_| {
            if coin.sample(rng) {
                1.0 / b as f64
            } else {
                0.0
            }
        })
        .collect()
}

/// M-SGD Fisher weights (Wu et al. 2020): W = 1/N + ε/√(bN), ε ~ N(0, I_N), uncentred, so the
/// noise Σ_i ε_i g_i/√(bN) has covariance F/b, F = (1/N) Σ_i g_i g_iᵀ = Σ + ḡḡᵀ.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// // With N = 2 and b = 2, W_0 − 1/N has variance 1/(bN) = 0.25; 4,000 draws see it within
/// // four standard errors (each √(2·0.25²/4000) = 0.0056).
/// let draws = 4000;
/// let second_moment = (0..draws)
///     .map(|_| (curvscope_metrics::msgd_fisher_weights(2, 2, &mut rng)[0] - 0.5).powi(2))
///     .sum::<f64>() / draws as f64;
/// assert!((second_moment - 0.25).abs() < 4.0 * 0.0056, "{second_moment}");
/// ```
pub fn msgd_fisher_weights(n: usize, b: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let scale = 1.0 / ((b * n) as f64).sqrt();
    isotropic_noise(scale, n, rng)
        .iter()
        .map(|e| 1.0 / n as f64 + e)
        .collect()
}

/// M-SGD Fisher-B weights (Wu et al. 2020): the Fisher estimated on b samples s_1..s_b drawn
/// with replacement, W = 1/N + (1/b) Σ_j z_j e_{s_j}, z ~ N(0, I_b). Given the samples the noise
/// (1/b) Σ_j z_j g_{s_j} has covariance (1/b²) Σ_j g_{s_j} g_{s_j}ᵀ, whose mean over the draw is
/// F/b exactly, as for [`msgd_fisher_weights`].
///
/// ```
/// use rand::SeedableRng;
/// let w = curvscope_metrics::msgd_fisher_b_weights(10, 3, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert!(w.iter().filter(|&&w| w != 0.1).count() <= 3); // noise on b samples at most
/// ```
pub fn msgd_fisher_b_weights(n: usize, b: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let samples = minibatch_indices(n, b, true, rng);
    gaussian_noise_on(n, &samples, |z| z / b as f64, rng)
}

/// M-SGD Fisher-B weights as the authors' code draws them (Wu et al. 2020, `gdStoF.py`): B
/// distinct samples S drawn afresh, W_i = 1/N + z_i/√(bB) on S and 1/N elsewhere, z ~ N(0, I_B)
/// (the authors' mask 1 + s·z with s = N/√(bB)). Given S the noise Σ_{i∈S} z_i g_i/√(bB) has
/// covariance (1/(bB)) Σ_{i∈S} g_i g_iᵀ, whose mean over S (each sample in it with probability
/// B/N) is F/b exactly, as for [`msgd_fisher_weights`].
///
/// # Panics
/// If B > N.
///
/// ```
/// use rand::SeedableRng;
/// let w = curvscope_metrics::msgd_fisher_subset_weights(10, 2, 3, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert_eq!(w.iter().filter(|&&w| w != 0.1).count(), 3); // noise on 3 samples
/// ```
pub fn msgd_fisher_subset_weights(
    n: usize,
    b: usize,
    subset: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let samples = minibatch_indices(n, subset, false, rng);
    let scale = 1.0 / ((b * subset) as f64).sqrt();
    gaussian_noise_on(n, &samples, |z| scale * z, rng)
}

/// The Fisher-B weights of both draws: 1/N, plus `scaled(z)`, z ~ N(0, 1), once per entry of
/// `samples` (a sample drawn twice gets two draws).
fn gaussian_noise_on(
    n: usize,
    samples: &[usize],
    scaled: impl Fn(f64) -> f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut w = vec![1.0 / n as f64; n];
    for &i in samples {
        w[i] += scaled(rng.sample::<f64, _>(StandardNormal));
    }
    w
}

/// M-SGD Cov-B weights (Wu et al. 2020, MSGD-[Cov-B], the authors' `gdStoCov.py`): B distinct
/// samples S drawn afresh, W_i = 1/N + c(z_i − z̄_S) on S and 1/N elsewhere, z ~ N(0, I_B),
/// c² = (N − 1)/(b(B − 1)N). Given S the noise c Σ_{i∈S} z_i (g_i − ḡ_S) has covariance
/// c² Σ_{i∈S} (g_i − ḡ_S)(g_i − ḡ_S)ᵀ; over S, drawn without replacement, that sum's mean is
/// (B − 1)·N/(N − 1)·Σ (the finite-population sample covariance is unbiased), so the noise's
/// covariance is Σ/b exactly, SGD's. At B = N this is [`msgd_gaussian_weights`]' law.
///
/// # Panics
/// If B < 2 (one sample has no spread to centre) or B > N.
///
/// ```
/// use rand::SeedableRng;
/// let w = curvscope_metrics::msgd_cov_b_weights(10, 2, 4, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15); // centred: the weights still sum to 1
/// ```
pub fn msgd_cov_b_weights(n: usize, b: usize, subset: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    assert!(subset >= 2, "Cov-B centres over B ≥ 2 samples");
    let scale = ((n - 1) as f64 / ((b * (subset - 1) * n) as f64)).sqrt();
    let samples = minibatch_indices(n, subset, false, rng);
    let mut w = vec![1.0 / n as f64; n];
    for (i, z) in samples
        .into_iter()
        .zip(centred_gaussian_weights(subset, scale, rng))
    {
        w[i] += z;
    }
    w
}

/// GD-Rademacher weights: W_i = (1 + σ_i)/N with σ_i = ±1 equally likely, independent, so
/// Σ_i W_i ℓ_i = L + (1/N) Σ_i σ_i ℓ_i, the random term of Wu et al. (2020)'s Rademacher
/// regularizer E_σ sup |(1/N) Σ_i σ_i ℓ_i| with the supremum and absolute value dropped.
/// E\[σ_i\] = 0 and E\[σ_iσ_j\] = δ_ij, so the gradient noise (1/N) Σ_i σ_i g_i has mean zero and
/// covariance (1/N²) Σ_i g_i g_iᵀ = F/N, F = (1/N) Σ_i g_i g_iᵀ: the Fisher of M-SGD Fisher at
/// b = N. Its size is fixed by the data (b plays no part): at b < N it is b/N times M-SGD
/// Fisher's F/b.
///
/// ```
/// use rand::SeedableRng;
/// let w = curvscope_metrics::rademacher_weights(4, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
/// assert!(w.iter().all(|&w| w == 0.0 || w == 0.5));
/// ```
pub fn rademacher_weights(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..n)
        .map(|_| if rng.random::<bool>() { 2.0 } else { 0.0 } / n as f64)
        .collect()
}

/// The variances `diagonal` rescaled to sum to `trace`: GLD diag's noise (Zhu et al. 2019,
/// Table 1) N(0, c·diag(Σ)) with c = `trace`/Tr(Σ), so E‖ε‖² = `trace` whatever Tr(Σ) is
/// ([`DescentOptions::noise_trace`]).
/// All zero (no noise) when the diagonal sums to 0: there is no shape to rescale.
///
/// ```
/// assert_eq!(curvscope_metrics::fixed_trace_variances(&[3.0, 1.0], 0.01), vec![0.0075, 0.0025]);
/// ```
pub fn fixed_trace_variances(diagonal: &[f64], trace: f64) -> Vec<f64> {
    let total: f64 = diagonal.iter().sum();
    if total <= 0.0 {
        return vec![0.0; diagonal.len()];
    }
    diagonal.iter().map(|v| v * trace / total).collect()
}

/// √(Tr(Σ)/(b·D)) at θ: the isotropic noise level with the trace of SGD's (Zhu et al. 2019,
/// Table 1, GLD const and dynamic).
/// The per-sample gradients stream `chunk` at a time ([`crate::TrainingPlan`]); the result
/// does not depend on it.
///
/// Example: see the crate-level documentation.
pub fn isotropic_std<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    batch: usize,
    chunk: usize,
) -> f64 {
    (minibatch_trace_sigma(objective, theta, batch, chunk) / objective.dim() as f64).sqrt()
}

/// Tr(Σ)/b at θ: the total variance of SGD's noise with batches of b (Zhu et al. Eq. 14), the
/// trace every Gaussian dynamic is matched to.
fn minibatch_trace_sigma<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    batch: usize,
    chunk: usize,
) -> f64 {
    let trace = noise_statistics(objective, theta, &[], chunk).trace.value;
    minibatch_factor(batch, objective.n_samples()).with_replacement_of(trace)
}

/// `minibatch(θ, indices)`: the mean gradient of the samples `indices` at θ, repeats counted.
pub type MinibatchGrad<'a> = dyn Fn(&[f64], &[usize]) -> Vec<f64> + 'a;

/// Settings of [`Descent`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DescentOptions {
    /// The dynamic.
    pub dynamic: Dynamic,
    /// Batch size b, the scale of every noise (b ≤ N).
    pub batch: usize,
    /// Steps between re-estimates of Σ_t and H structures (R ≥ 1).
    pub refresh_every: u64,
    /// GLD const's ρ; `None` estimates √(Tr(Σ)/(b·D)) (√(t/D) with `noise_trace` t) at the
    /// first step taken.
    pub noise_std: Option<f64>,
    /// k for GLD leading and GLD Hessian.
    pub rank: usize,
    /// Seed of the per-step streams and the eigensolvers' start vectors.
    pub seed: u64,
    /// E‖ε‖² of every Gaussian dynamic (GLD const unless `noise_std` is given, dynamic, diag,
    /// leading, Hessian, 1st eigvec) at every step, in place of Tr(Σ_t)/b: the isotropic noise
    /// is N(0, (t/D)·I), GLD diag's N(0, diag(Σ_t)·t/Tr(Σ_t)) ([`fixed_trace_variances`]) and the
    /// low-rank ones are rescaled to trace t ([`low_rank_noise`]); only the shape follows Σ_t or
    /// H_t. The SGD and M-SGD dynamics ignore it. `None` (the default) matches Tr(Σ_t)/b.
    #[serde(default)]
    pub noise_trace: Option<f64>,
    /// The Gaussian dynamics add their noise at the steps divisible by this (K ≥ 1) and take
    /// plain GD steps between; the structures are still re-estimated every `refresh_every`
    /// steps. 1 (the default): every step. The authors' GLD leading (uuujf/SGDNoise
    /// `FashionMNIST/gld_lead.py`) uses 10.
    #[serde(default = "DescentOptions::default_noise_every")]
    pub noise_every: u64,
    /// GLD leading's noise is the top-k part of Σ_t/b as it is — trace the top k eigenvalues'
    /// share of Tr(Σ_t)/b — instead of rescaled to Tr(Σ_t)/b, as in the authors' code
    /// (`gld_lead.py`). `false` (the default): rescaled, the paper's comparison at equal trace.
    /// A `noise_trace` that is set wins over it.
    #[serde(default)]
    pub leading_unscaled: bool,
    /// B, the distinct samples M-SGD Fisher-B and Cov-B put their noise weights on, drawn
    /// afresh each step (the authors' `--noisesize`, 100 in `gdStoF.py`). `None` (the default):
    /// Fisher-B weights b samples drawn with replacement ([`msgd_fisher_b_weights`]) and Cov-B
    /// takes B = b. The other dynamics ignore it.
    #[serde(default)]
    pub noise_samples: Option<usize>,
}

impl DescentOptions {
    /// `dynamic` with batch `batch`: refresh every 10 steps, k = 20 (Zhu et al.), seed 0.
    pub fn new(dynamic: Dynamic, batch: usize) -> Self {
        Self {
            dynamic,
            batch,
            refresh_every: 10,
            noise_std: None,
            rank: 20,
            seed: 0,
            noise_trace: None,
            noise_every: Self::default_noise_every(),
            leading_unscaled: false,
            noise_samples: None,
        }
    }

    /// [`DescentOptions::noise_every`]'s default, every step; also what a record written
    /// before the field existed means.
    pub fn default_noise_every() -> u64 {
        1
    }

    /// B of M-SGD Cov-B: `noise_samples`, else b.
    pub fn cov_b_samples(&self) -> usize {
        self.noise_samples.unwrap_or(self.batch)
    }

    /// Whether the noise estimates stream the N per-sample gradients (Σ_t's trace, diagonal
    /// or centred rows): every Gaussian dynamic but those whose trace is given and whose shape
    /// needs no Σ_t — GLD const with `noise_std`, and GLD const, dynamic, Hessian and 1st
    /// eigvec with `noise_trace`.
    pub fn streams_per_sample_gradients(&self) -> bool {
        match self.dynamic {
            Dynamic::GldConst => self.noise_std.is_none() && self.noise_trace.is_none(),
            Dynamic::GldDiag | Dynamic::GldLeading => true,
            Dynamic::GldDynamic | Dynamic::GldHessian | Dynamic::GldEigvec1 => {
                self.noise_trace.is_none()
            }
            _ => false,
        }
    }
}

/// The covariance C of a Gaussian dynamic's gradient noise ε at one step: what the GLD family
/// (Zhu et al. Table 1) estimates every R steps and draws from. A linear operator like H and Σ,
/// so [`NoiseCovariance::escaping_indicator`] can weigh it against any Hessian.
///
/// ```
/// use curvscope_hessian::{DenseOperator, Eigenpairs, LinearOperator};
/// use curvscope_metrics::NoiseCovariance;
/// use nalgebra::DMatrix;
///
/// let h = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[200.0, 0.0, 0.0, 20.0]));
/// let isotropic = NoiseCovariance::Isotropic { std: 2.0, dim: 2 };
/// assert_eq!(isotropic.apply(&[1.0, 1.0]), vec![4.0, 4.0]);
/// assert_eq!(isotropic.trace(), 8.0);
/// assert_eq!(isotropic.escaping_indicator(&h), 4.0 * 220.0);
/// // The same trace along H's top eigenvector: λ₁·Tr(C), the most a trace of 8 can give.
/// let pairs = Eigenpairs { eigenvalues: vec![1.0], eigenvectors: vec![vec![1.0, 0.0]], ..Default::default() };
/// let aligned = NoiseCovariance::LowRank { pairs, trace: 8.0 };
/// assert_eq!(aligned.escaping_indicator(&h), 200.0 * 8.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum NoiseCovariance {
    /// std²·I in R^dim ([`isotropic_noise`]): GLD const and GLD dynamic.
    Isotropic {
        /// The standard deviation of each coordinate.
        std: f64,
        /// D.
        dim: usize,
    },
    /// diag(variances) ([`diagonal_noise`]): GLD diag.
    Diagonal(Vec<f64>),
    /// c·Σ_i λ_i⁺ u_i u_iᵀ with c = `trace`/Σ_i λ_i⁺ ([`low_rank_noise`]; 0 when every λ ≤ 0):
    /// GLD leading, GLD Hessian and GLD 1st eigvec.
    LowRank {
        /// The top-k eigenpairs of Σ_t or H_t.
        pairs: Eigenpairs,
        /// Tr(C) when some λ_i > 0.
        trace: f64,
    },
}

impl NoiseCovariance {
    /// C = Σ_m w_m x_m x_mᵀ as its weighted rank-one terms (w_m, x_m): unit vectors for the
    /// isotropic and diagonal shapes, the eigenvectors for the low-rank one.
    fn rank_one_terms(&self) -> Vec<(f64, Vec<f64>)> {
        let unit = |j: usize, dim: usize| {
            let mut e = vec![0.0; dim];
            e[j] = 1.0;
            e
        };
        match self {
            NoiseCovariance::Isotropic { std, dim } => {
                (0..*dim).map(|j| (std * std, unit(j, *dim))).collect()
            }
            NoiseCovariance::Diagonal(variances) => variances
                .iter()
                .enumerate()
                .map(|(j, &v)| (v, unit(j, variances.len())))
                .collect(),
            NoiseCovariance::LowRank { pairs, trace } => low_rank_weights(pairs, *trace)
                .into_iter()
                .zip(&pairs.eigenvectors)
                .map(|(w, u)| (w, u.clone()))
                .collect(),
        }
    }

    /// Tr(C) = E‖ε‖², without forming the rank-one terms (D unit vectors of length D for the
    /// isotropic and diagonal shapes, copies of the k eigenvectors for the low-rank one).
    pub fn trace(&self) -> f64 {
        match self {
            NoiseCovariance::Isotropic { std, dim } => std * std * *dim as f64,
            NoiseCovariance::Diagonal(variances) => variances.iter().sum(),
            NoiseCovariance::LowRank { pairs, trace } => low_rank_weights(pairs, *trace)
                .iter()
                .zip(&pairs.eigenvectors)
                .map(|(w, u)| w * dot(u, u))
                .sum(),
        }
    }

    /// The escaping indicator of this noise, Tr(HC) = Σ_m w_m·x_mᵀHx_m, exactly (Zhu et al.
    /// 2019, Sec. 3.1: to second order a step θ ← θ − η(∇L + ε) with noise of covariance C
    /// raises the loss near a minimum by ½·η²·Tr(HC); with SGD's Σ it is
    /// [`crate::trace_h_sigma_exact`]). Noise of one
    /// trace escapes sharp minima faster the more of it lies along H's top directions: at equal
    /// Tr(C), Tr(HC) runs from λ_min·Tr(C) to λ₁·Tr(C).
    ///
    /// Costs one product with `hessian` per rank-one term: k for the low-rank shapes, D for
    /// the isotropic and diagonal ones (meant for small D, the 2-D toy; on a large net take
    /// Tr(H)·std² from a trace estimator instead).
    pub fn escaping_indicator(&self, hessian: &dyn LinearOperator) -> f64 {
        let (weights, vectors): (Vec<f64>, Vec<Vec<f64>>) = self
            .rank_one_terms()
            .into_iter()
            .filter(|(w, _)| *w != 0.0)
            .unzip();
        let products = hessian.apply_many(&vectors);
        weights
            .iter()
            .zip(vectors.iter().zip(&products))
            .map(|(w, (x, hx))| w * dot(x, hx))
            .sum()
    }
}

impl LinearOperator for NoiseCovariance {
    fn dim(&self) -> usize {
        match self {
            NoiseCovariance::Isotropic { dim, .. } => *dim,
            NoiseCovariance::Diagonal(variances) => variances.len(),
            NoiseCovariance::LowRank { pairs, .. } => {
                pairs.eigenvectors.first().map_or(0, Vec::len)
            }
        }
    }

    /// C·x; only the low-rank shape goes through its rank-one terms (D unit vectors would be
    /// D² numbers for the others).
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        match self {
            NoiseCovariance::Isotropic { std, .. } => {
                return x.iter().map(|x| std * std * x).collect()
            }
            NoiseCovariance::Diagonal(variances) => {
                return variances.iter().zip(x).map(|(v, x)| v * x).collect()
            }
            NoiseCovariance::LowRank { .. } => {}
        }
        let mut y = vec![0.0; x.len()];
        for (w, u) in self.rank_one_terms() {
            let coef = w * dot(&u, x);
            y.iter_mut().zip(&u).for_each(|(y, u)| *y += coef * u);
        }
        y
    }
}

/// A dynamic in motion: θ ← θ − η·g̃ with g̃ = ∇L(θ) + ε drawn for each step, keeping the
/// estimated noise structures between refreshes (at steps divisible by R, and at the first step
/// taken). (The enum [`Dynamic`] names the rule; a `Descent` runs it.)
///
/// ```
/// use curvscope_metrics::{Descent, DescentOptions, Dynamic};
/// use curvscope_model::Objective;
///
/// /// ℓ_i(θ) = ½(θ − a_i)²: g_i = θ − a_i, Σ = variance of a.
/// struct Points(Vec<f64>);
/// impl Objective for Points {
///     fn dim(&self) -> usize { 1 }
///     fn n_samples(&self) -> usize { self.0.len() }
///     fn per_sample_losses(&self, t: &[f64]) -> Vec<f64> { self.0.iter().map(|a| 0.5 * (t[0] - a).powi(2)).collect() }
///     fn weighted_grad(&self, t: &[f64], w: &[f64]) -> Vec<f64> { vec![self.0.iter().zip(w).map(|(a, w)| w * (t[0] - a)).sum()] }
///     fn hvp(&self, _: &[f64], v: &[f64]) -> Vec<f64> { v.to_vec() }
///     fn per_sample_grads_range(&self, t: &[f64], s: usize, l: usize) -> Vec<f64> { self.0[s..s + l].iter().map(|a| t[0] - a).collect() }
/// }
///
/// let points = Points(vec![-1.0, 1.0]);
/// let minibatch = |theta: &[f64], idx: &[usize]| {
///     points.weighted_grad(theta, &curvscope_metrics::minibatch_weights(2, idx))
/// };
/// let mut sgd = Descent::new(DescentOptions::new(Dynamic::Sgd, 1));
/// let g = sgd.gradient(&points, &[0.0], 0, &minibatch);
/// assert!(g[0] == 1.0 || g[0] == -1.0); // one sample's gradient
/// let mut gd = Descent::new(DescentOptions::new(Dynamic::Gd, 1));
/// assert_eq!(gd.gradient(&points, &[0.0], 0, &minibatch), vec![0.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Descent {
    options: DescentOptions,
    structure: Option<NoiseCovariance>,
    /// Noise-structure estimates whose Lanczos run did not converge, since the last
    /// [`Descent::take_unconverged_estimates`].
    unconverged: u64,
    /// Per-sample gradients the noise estimates stream at once.
    chunk: usize,
}

impl Descent {
    /// A dynamic with no structure estimated yet.
    ///
    /// # Panics
    /// If `batch`, `refresh_every`, `rank`, `noise_every` or `noise_samples` is 0, or M-SGD
    /// Cov-B's B (`noise_samples`, else b) is below 2.
    pub fn new(options: DescentOptions) -> Self {
        assert!(
            options.batch > 0
                && options.refresh_every > 0
                && options.rank > 0
                && options.noise_every > 0
                && options.noise_samples != Some(0),
            "b, R, k, K and B must be positive"
        );
        assert!(
            options.dynamic != Dynamic::MsgdCovB || options.cov_b_samples() >= 2,
            "Cov-B centres over B ≥ 2 samples"
        );
        Self {
            options,
            structure: None,
            unconverged: 0,
            chunk: CHUNK,
        }
    }

    /// Streams the per-sample gradients of the noise estimates `chunk` at a time (at least 1;
    /// 256 by default), e.g. [`crate::TrainingPlan::chunk`] on a large network. The rows are
    /// summed one by one in order whatever the chunk, so on the CPU (where a sample's gradient
    /// does not depend on the others in its block) the run is the same bit for bit.
    pub fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// The settings.
    pub fn options(&self) -> &DescentOptions {
        &self.options
    }

    /// How many noise-structure estimates since the last call had a Lanczos run that did not
    /// converge (its Ritz pairs still drove the noise: they are the best available), and
    /// resets the count; `None` for the dynamics without one (all but GLD leading, GLD Hessian
    /// and GLD 1st eigvec). A trainer calls it at each snapshot to record the interval's count.
    pub fn take_unconverged_estimates(&mut self) -> Option<u64> {
        let uses_lanczos = matches!(
            self.options.dynamic,
            Dynamic::GldLeading | Dynamic::GldHessian | Dynamic::GldEigvec1
        );
        let count = std::mem::take(&mut self.unconverged);
        uses_lanczos.then_some(count)
    }

    /// E‖ε‖² = Tr(C_t) of the Gaussian noise drawn at the last noisy step, from the structure
    /// last estimated (0 for GLD Hessian and 1st eigvec where every eigenvalue used was ≤ 0);
    /// `None` before the first step and for the dynamics without one (GD, SGD, M-SGD). A
    /// trainer logs it at each snapshot: the noise level the run actually used.
    pub fn noise_trace(&self) -> Option<f64> {
        self.structure.as_ref().map(NoiseCovariance::trace)
    }

    /// The stochastic gradient g̃ of step `step` at θ. `minibatch(θ, indices)` is the mean
    /// gradient of the samples `indices` (repeats counted), used by the SGD dynamics only: a
    /// model can evaluate it on those b samples alone, far cheaper than weighting all N.
    pub fn gradient<O: Objective + ?Sized>(
        &mut self,
        objective: &O,
        theta: &[f64],
        step: u64,
        minibatch: &MinibatchGrad<'_>,
    ) -> Vec<f64> {
        let (n, b) = (objective.n_samples(), self.options.batch);
        let mut rng = probe_rng(self.options.seed, step as usize);
        let weights = |w: Vec<f64>| objective.weighted_grad(theta, &w);
        match self.options.dynamic {
            Dynamic::Gd => objective.grad(theta),
            Dynamic::Sgd => minibatch(theta, &minibatch_indices(n, b, true, &mut rng)),
            Dynamic::SgdNoReplacement => {
                minibatch(theta, &minibatch_indices(n, b, false, &mut rng))
            }
            Dynamic::MsgdGaussian => weights(msgd_gaussian_weights(n, b, &mut rng)),
            Dynamic::MsgdBernoulli => weights(msgd_bernoulli_weights(n, b, &mut rng)),
            Dynamic::MsgdFisher => weights(msgd_fisher_weights(n, b, &mut rng)),
            Dynamic::MsgdFisherB => weights(match self.options.noise_samples {
                None => msgd_fisher_b_weights(n, b, &mut rng),
                Some(subset) => msgd_fisher_subset_weights(n, b, subset, &mut rng),
            }),
            Dynamic::MsgdCovB => weights(msgd_cov_b_weights(
                n,
                b,
                self.options.cov_b_samples(),
                &mut rng,
            )),
            Dynamic::GdRademacher => weights(rademacher_weights(n, &mut rng)),
            _ => {
                let due = self.options.dynamic.refreshes()
                    && step.is_multiple_of(self.options.refresh_every);
                if due || self.structure.is_none() {
                    // The old structure (GLD leading's k eigenvectors) goes before the new one
                    // is estimated, not beside it.
                    self.structure = None;
                    let structure = self.estimate(objective, theta, step);
                    if let NoiseCovariance::LowRank { pairs, .. } = &structure {
                        self.unconverged += u64::from(!pairs.converged);
                    }
                    self.structure = Some(structure);
                }
                let mut g = objective.grad(theta);
                if !step.is_multiple_of(self.options.noise_every) {
                    return g;
                }
                let eps = match self.structure.as_ref().expect("estimated above") {
                    NoiseCovariance::Isotropic { std, dim } => {
                        isotropic_noise(*std, *dim, &mut rng)
                    }
                    NoiseCovariance::Diagonal(variances) => diagonal_noise(variances, &mut rng),
                    NoiseCovariance::LowRank { pairs, trace } => {
                        low_rank_noise(pairs, *trace, &mut rng)
                    }
                };
                g.iter_mut().zip(eps).for_each(|(g, e)| *g += e);
                g
            }
        }
    }

    /// Step `step` of the dynamic: θ ← θ − η·g̃ (Zhu et al. Eq. 1) with g̃ from
    /// [`Descent::gradient`], then θ rounded to `precision`, so that θ is exactly what the model
    /// computes with and a checkpoint stores (an f32 run never carries f64 digits). Returns
    /// false, leaving θ as it was, when the step would make θ non-finite (diverged).
    pub fn step<O: Objective + ?Sized>(
        &mut self,
        objective: &O,
        theta: &mut [f64],
        lr: f64,
        precision: Precision,
        step: u64,
        minibatch: &MinibatchGrad<'_>,
    ) -> bool {
        let g = self.gradient(objective, theta, step, minibatch);
        let mut next: Vec<f64> = theta.iter().zip(&g).map(|(t, g)| t - lr * g).collect();
        precision.round(&mut next);
        let finite = next.iter().all(|t| t.is_finite());
        if finite {
            theta.copy_from_slice(&next);
        }
        finite
    }

    /// The covariance of the gradient noise a Gaussian dynamic (GLD const, dynamic, diag,
    /// leading, Hessian, 1st eigvec) would estimate at θ in step `step` and draw from at the
    /// steps that add noise: the run's own C_t when its structure is refreshed every step
    /// (R = 1, the toy's), what a refresh at θ would give otherwise. `None` for the dynamics
    /// whose noise is not one Gaussian shape (GD has none; SGD and M-SGD weight samples).
    /// Weigh it against H with [`NoiseCovariance::escaping_indicator`].
    pub fn noise_covariance<O: Objective + ?Sized>(
        &self,
        objective: &O,
        theta: &[f64],
        step: u64,
    ) -> Option<NoiseCovariance> {
        self.options
            .dynamic
            .adds_gaussian_noise()
            .then(|| self.estimate(objective, theta, step))
    }

    /// The noise structure of a Gaussian dynamic at θ: GLD const's given ρ, else every trace
    /// scaled to Tr(Σ)/b (GLD leading's to its top k's share with
    /// [`DescentOptions::leading_unscaled`]), or to [`DescentOptions::noise_trace`] when it is
    /// set.
    fn estimate<O: Objective + ?Sized>(
        &self,
        objective: &O,
        theta: &[f64],
        step: u64,
    ) -> NoiseCovariance {
        let dim = objective.dim();
        let batch = minibatch_factor(self.options.batch, objective.n_samples());
        let fixed = self.options.noise_trace;
        let matched = || {
            fixed.unwrap_or_else(|| {
                minibatch_trace_sigma(objective, theta, self.options.batch, self.chunk)
            })
        };
        let lanczos = |op: &dyn LinearOperator, k: usize| {
            let opts = LanczosOptions {
                k,
                seed: purpose_seed(self.options.seed, Purpose::NoiseShape).wrapping_add(step),
                ..LanczosOptions::default()
            };
            extreme_eigenpairs(op, &opts)
        };
        match (self.options.dynamic, self.options.noise_std) {
            (Dynamic::GldConst, Some(std)) => NoiseCovariance::Isotropic { std, dim },
            (Dynamic::GldConst | Dynamic::GldDynamic, _) => NoiseCovariance::Isotropic {
                std: (matched() / dim as f64).sqrt(),
                dim,
            },
            (Dynamic::GldDiag, _) => {
                let diagonal = noise_statistics(objective, theta, &[], self.chunk).diagonal;
                NoiseCovariance::Diagonal(match fixed {
                    Some(trace) => fixed_trace_variances(&diagonal, trace),
                    None => diagonal
                        .iter()
                        .map(|&v| batch.with_replacement_of(v))
                        .collect(),
                })
            }
            (Dynamic::GldLeading, _) => {
                let sigma = CovarianceOperator::from_objective(objective, theta, self.chunk);
                let pairs = lanczos(&sigma, self.options.rank);
                let trace = match self.options.leading_unscaled {
                    // What the top k carry: low_rank_noise then draws each λ_i/b unchanged.
                    true => pairs.eigenvalues.iter().map(|l| l.max(0.0)).sum(),
                    false => sigma.trace(),
                };
                NoiseCovariance::LowRank {
                    pairs,
                    trace: fixed.unwrap_or_else(|| batch.with_replacement_of(trace)),
                }
            }
            (Dynamic::GldHessian | Dynamic::GldEigvec1, _) => {
                let k = if self.options.dynamic == Dynamic::GldEigvec1 {
                    1
                } else {
                    self.options.rank
                };
                let pairs = lanczos(&HessianOperator::new(objective, theta), k);
                NoiseCovariance::LowRank {
                    pairs,
                    trace: matched(),
                }
            }
            (other, _) => unreachable!("{other} has no noise structure"),
        }
    }
}
