//! curvscope-metrics: the quantities of Zhu et al., "The Anisotropic Noise in Stochastic
//! Gradient Descent" (ICML 2019), on any [`Objective`](curvscope_model::Objective) L(θ) = (1/N) Σ_i ℓ_i(θ).
//!
//! Σ = (1/N) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ is the noise covariance of one-sample SGD (g_i = ∇ℓ_i,
//! ḡ = ∇L); a batch of b divides it by b, reported apart by [`minibatch_factor`]. Curvature
//! (eigenpairs and trace of H) comes from curvscope-hessian ([`HessianSpectrum::compute`]); every
//! formula here takes those numbers as inputs, so each is checked against closed forms on its own.
//!
//! - Σ: [`noise_statistics`] (Tr Σ, uᵀΣu), [`CovarianceOperator`], [`abs_cosines`],
//!   [`minibatch_factor`], [`centred_gaussian_weights`].
//! - Per-tensor Tr(H) and Tr(Σ): [`layer_traces`], [`covariance_diagonal`].
//! - Escaping indicator Tr(HΣ): [`trace_h_sigma_exact`], [`trace_h_sigma_stochastic`]; of a
//!   dynamic's own noise covariance C, Tr(HC): [`NoiseCovariance::escaping_indicator`].
//! - Proposition 1: [`isotropic_trace_h_sigma`], [`anisotropy_ratio`],
//!   [`projection_coefficient`], [`ill_conditioning_exponent`], [`first_ill_conditioned_k`],
//!   [`proposition1_bound`], [`negative_curvature`], [`proposition1`]; in words, [`reading`].
//! - Randomness: one seed per purpose from an analysis's seed, [`purpose_seed`].
//! - Expected sharpness: [`expected_sharpness`]; Keskar et al.'s [`epsilon_sharpness`];
//!   adaptive sharpness (Andriushchenko et al. 2023), [`adaptive_sharpness_average`] and
//!   [`adaptive_sharpness_worst`] (ℓ2 or ℓ∞), by the projected ascent [`worst_case_sharpness`].
//! - Training dynamics (Zhu et al. Table 1, M-SGD of Wu et al. 2020): [`Dynamic`], run by
//!   [`Descent`].
//! - Loss-landscape slices (Li et al. 2018): [`filter_normalized_directions`],
//!   [`hessian_directions`], [`grid_points`], [`evaluate_slice`], beside the [`QuadraticModel`].
//! - The whole Hessian spectrum (Fig. 5): [`HessianSpectrum::compute_with_dense_spectrum`] →
//!   [`whole_spectrum`].
//! - Reproductions: the 2-D escape experiment ([`descend`], [`reached_flat_minimum`]), the
//!   one-hidden-layer net ([`proposition2_check`]), Wu et al.'s noisy GD ([`MSGD_DYNAMICS`]).
//! - Everything at once: [`analyze_checkpoint`] → [`Report`]; its memory, sized before any
//!   work: [`MemoryPlan`] (and training's: [`TrainingPlan`]).
//!
//! Citations. "Zhu et al. 2019" is the ICML 2019 paper (PMLR 97:7654–7663), whose text is
//! arXiv:1803.00195 v5 (10 Jun 2019). Checked against the copies consulted: the abstract (an
//! indicator of escaping efficiency from the alignment of noise covariance and curvature; two
//! conditions under which anisotropic noise beats isotropic noise), Fig. 1's caption (Table 1
//! lists the compared dynamics) and the authors' code, github.com/uuujf/SGDNoise, whose READMEs
//! give Fig. 2 (the 2-D toy), Fig. 3 (FashionMNIST), Fig. 4 (the one-hidden-layer net), Figs. 1
//! and 6 (SVHN, CIFAR-10) and the names GLD const, dynamic, diag, leading, Hessian and 1st
//! eigvec(H). The paper's body was not checked: the equation, section and proposition numbers
//! cited here (Eq. 1, 2, 14, 17; Secs. 3, 3.1, 4, 5.1, 5.2; Propositions 1–3), Fig. 5 and Table
//! 1's noise formulas are unverified labels; each formula is also named by what it computes.
//!
//! ```
//! use curvscope_metrics::*;
//! use curvscope_model::Objective;
//!
//! /// ℓ_i(θ) = ½ a_i θ², so g_i = a_i θ and H = mean(a).
//! struct Scaled(Vec<f64>);
//! impl Objective for Scaled {
//!     fn dim(&self) -> usize { 1 }
//!     fn n_samples(&self) -> usize { self.0.len() }
//!     fn per_sample_losses(&self, t: &[f64]) -> Vec<f64> {
//!         self.0.iter().map(|a| 0.5 * a * t[0] * t[0]).collect()
//!     }
//!     fn weighted_grad(&self, t: &[f64], w: &[f64]) -> Vec<f64> {
//!         vec![self.0.iter().zip(w).map(|(a, w)| w * a * t[0]).sum()]
//!     }
//!     fn hvp(&self, _: &[f64], v: &[f64]) -> Vec<f64> {
//!         vec![self.0.iter().sum::<f64>() / self.0.len() as f64 * v[0]]
//!     }
//!     fn per_sample_grads_range(&self, t: &[f64], start: usize, len: usize) -> Vec<f64> {
//!         self.0[start..start + len].iter().map(|a| a * t[0]).collect()
//!     }
//! }
//!
//! let obj = Scaled(vec![1.0, 3.0]); // at θ = 1: g = (1, 3), ḡ = 2, Σ = 1, H = 2
//! let stats = noise_statistics(&obj, &[1.0], &[vec![1.0]], 1);
//! assert_eq!((stats.trace.value, stats.quadratic_forms[0]), (1.0, 1.0));
//! assert_eq!(covariance_diagonal(&obj, &[1.0]), vec![1.0]);
//! // GLD const's noise level √(Tr(Σ)/(b·D)) with b = 1
//! assert_eq!(isotropic_std(&obj, &[1.0], 1, 1), 1.0);
//! assert_eq!(trace_h_sigma_exact(&obj, &[1.0], 1).value, 2.0);
//! let probed = trace_h_sigma_stochastic(&obj, &[1.0], 4000, 1, KnownTerms::default());
//! assert!((probed.value - 2.0).abs() < 4.0 * probed.stderr);
//! let sharp = expected_sharpness(&obj, &[0.0], &SharpnessOptions { sigma: 0.1, samples: 4000, seed: 1 });
//! // E\[L(ν)\] − L(0) = σ²·H/2 = 0.01
//! assert!((sharp.signed.value - 0.01).abs() < 4.0 * sharp.signed.stderr);
//! // At θ = 1 (L = 1, L' = 2, L'' = 2): E\[L(1+δ)\] − L(1) for δ ~ N(0, ρ²θ²) is ρ²·H·θ²/2 = ρ²
//! let avg = adaptive_sharpness_average(&obj, &[1.0], &AdaptiveAverageOptions { rho: 0.1, samples: 4000, seed: 1 });
//! assert!((avg.value.value - 0.01).abs() < 4.0 * avg.value.stderr);
//! // the worst |δ| ≤ ρ|θ| is δ = ρ: L(1+ρ) − L(1) = 2ρ + ρ², in either norm in 1-D
//! let ascent = AscentOptions::default();
//! let worst = adaptive_sharpness_worst(&obj, &[1.0], PerturbationNorm::L2, &AdaptiveWorstOptions { rho: 0.1, ascent });
//! assert!((worst.sharpness - 0.21).abs() < 1e-12);
//! // Keskar: |δ| ≤ ε(|θ| + 1) = 2ε, so (4ε + 4ε²)/(1 + L(1)) × 100
//! let keskar = epsilon_sharpness(&obj, &[1.0], &EpsilonSharpnessOptions::default());
//! assert!((keskar.normalised - (4e-3 + 4e-6) / 2.0 * 100.0).abs() < 1e-10);
//! ```

// Every public item is documented: CI's clippy (`-D warnings`) keeps it so.
#![warn(missing_docs)]

mod binomial;
mod covariance;
mod dynamics;
mod escape;
mod escaping;
mod landscape;
mod layers;
mod memory;
mod monte_carlo;
mod noisy_gd;
mod one_hidden;
mod proposition;
mod report;
mod seeds;
mod sharpness;
mod sharpness_measures;
mod verdict;
mod whole_spectrum;

pub use binomial::{wilson_interval, SuccessRate};
pub use covariance::{
    abs_cosines, centred_gaussian_weights, covariance_diagonal, minibatch_factor, noise_statistics,
    CovarianceOperator, MinibatchFactor, NoiseStatistics,
};
/// Every number of a [`Report`] is an [`Estimate`]; the type lives in curvscope-hessian, whose
/// trace estimators produce it.
pub use curvscope_hessian::{Estimate, Estimator};
pub use dynamics::{
    diagonal_noise, fixed_trace_variances, isotropic_noise, isotropic_std, low_rank_noise,
    minibatch_indices, minibatch_weights, msgd_bernoulli_weights, msgd_cov_b_weights,
    msgd_fisher_b_weights, msgd_fisher_subset_weights, msgd_fisher_weights, msgd_gaussian_weights,
    rademacher_weights, Descent, DescentOptions, Dynamic, MinibatchGrad, NoiseCovariance,
};
pub use escape::{
    descend, gradient_noise_trace, reached_flat_minimum, toy2d_options, TOY2D_DYNAMICS, TOY2D_LR,
    TOY2D_NOISE_TRACE, TOY2D_RANK, TOY2D_REPETITIONS, TOY2D_START, TOY2D_STEPS,
};
pub use escaping::{trace_h_sigma_exact, trace_h_sigma_stochastic, KnownTerms};
pub use landscape::{
    displaced, evaluate_slice, filter_normalize, filter_normalized_directions, grid_points,
    hessian_directions, linspace, HessianDirections, NonPositiveCurvature, QuadraticModel,
    SlicePoint,
};
pub use layers::{layer_traces, LayerTrace};
pub use memory::{
    format_bytes, hessian_directions_memory, KrylovBasis, MemoryError, MemoryPlan, MemoryStage,
    TrainingPlan, OVERHEAD_VECTORS,
};
pub use noisy_gd::{
    msgd_options, MSGD_BATCH, MSGD_DYNAMICS, MSGD_EVAL_EVERY, MSGD_LR, MSGD_NOISE_SAMPLES,
    MSGD_STEPS, MSGD_TEST_N, MSGD_TRAIN_N,
};
pub use one_hidden::{
    clipped_square_gauss_newton, clipped_square_traces, frobenius_cosine, one_hidden_init_std,
    power_law_exponent, proposition2_check, ClippedSquareTraces, Proposition2Check,
    ONE_HIDDEN_BATCH, ONE_HIDDEN_LR, ONE_HIDDEN_MEASURE_EVERY, ONE_HIDDEN_N, ONE_HIDDEN_STEPS,
    ONE_HIDDEN_WIDTHS,
};
pub use proposition::{
    anisotropy_ratio, bound_exceeds_ratio, condition_ks, derived_stderr, first_ill_conditioned_k,
    ill_conditioning_exponent, isotropic_trace_h_sigma, negative_curvature, projection_coefficient,
    proposition1, proposition1_bound, relative_stderr, top_eigenvalue_multiplicity, Derived,
    IllConditioning, LambdaMin, Proposition1, BOUND_RTOL, ZERO_RTOL,
};
pub use report::{
    analyze_checkpoint, report_from_spectrum, CurvatureOptions, HessianSpectrum, Report,
    ReportOptions, TraceHSigmaMethod, HESSIAN_COLUMNS_PER_PASS,
};
pub use seeds::{purpose_seed, repetition_seed, Purpose};
pub use sharpness::{expected_sharpness, ExpectedSharpness, SharpnessOptions};
pub use sharpness_measures::{
    adaptive_sharpness_average, adaptive_sharpness_worst, epsilon_sharpness, worst_case_sharpness,
    AdaptiveAverageOptions, AdaptiveAverageSharpness, AdaptiveWorstOptions, AscentOptions,
    EpsilonSharpness, EpsilonSharpnessOptions, PerturbationNorm, WorstCaseSharpness,
};
pub use verdict::{reading, Reading, Verdict, VIOLATION_STDERRS};
pub use whole_spectrum::{whole_spectrum, WholeSpectrum};
