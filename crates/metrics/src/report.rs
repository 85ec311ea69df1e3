//! Every quantity of the paper at one checkpoint, in one serializable [`Report`].

use crate::covariance::{
    abs_cosines, minibatch_factor, noise_statistics, CovarianceOperator, MinibatchFactor,
};
use crate::escaping::{trace_h_sigma_exact, trace_h_sigma_stochastic, KnownTerms};
use crate::layers::{layer_traces, LayerTrace};
use crate::proposition::{
    anisotropy_ratio, isotropic_trace_h_sigma, proposition1, LambdaMin, Proposition1,
};
use crate::seeds::{purpose_seed, Purpose};
use crate::sharpness::{expected_sharpness, ExpectedSharpness, SharpnessOptions};
use crate::sharpness_measures::{
    adaptive_sharpness_average, adaptive_sharpness_worst, epsilon_sharpness,
    AdaptiveAverageOptions, AdaptiveAverageSharpness, AdaptiveWorstOptions, EpsilonSharpness,
    EpsilonSharpnessOptions, PerturbationNorm, WorstCaseSharpness,
};
use crate::whole_spectrum::{whole_spectrum, WholeSpectrum};
use curvscope_hessian::{
    deflated_hutchinson, dense_eigenvalues, extreme_eigenpairs, slq, DenseSpectrum,
    DenseSpectrumError, Density, Eigenpairs, Estimate, LanczosOptions, Probes, Slq, SlqOptions,
    Which,
};
use curvscope_model::{HessianOperator, Objective};
use serde::{Deserialize, Serialize};

/// How the Hessian's spectrum is computed (Lanczos for the extremes, deflated Hutchinson for
/// the trace, optionally stochastic Lanczos quadrature for the density).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvatureOptions {
    /// Top-k Hessian eigenpairs (k ≥ 1; k + 1 eigenvalues bound Proposition 1's d_k).
    pub top_k: usize,
    /// Lanczos convergence: every Ritz pair has ‖Hu − λu‖ ≤ tol·|λ|max.
    pub tol: f64,
    /// Largest Krylov subspace Lanczos may build (`None`: min(D, 2k + 100)).
    pub max_krylov: Option<usize>,
    /// Thick restarts Lanczos may make at `max_krylov` unconverged
    /// ([`LanczosOptions::restarts`]; `None`: none, which options hashed before it keep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<usize>,
    /// Also find the most negative eigenvalue (Proposition 1's bound needs H ⪰ 0).
    pub lambda_min: bool,
    /// Probes for Tr(H) after deflating the top-k eigenvectors (Hutch++-style).
    pub trace_probes: Probes,
    /// Spectral density by SLQ; `None` skips it.
    pub density: Option<SlqOptions>,
    /// Master seed of every random start and probe: each purpose draws from its own
    /// [`purpose_seed`] of it (Lanczos for the top and for λ_min, Hutchinson, Σ's Lanczos).
    pub seed: u64,
}

impl Default for CurvatureOptions {
    /// Top 20, tol 1e-6, λ_min, Tr(H) to 1% relative standard error (≤ 100 probes with the
    /// pilot's), no density.
    fn default() -> Self {
        Self {
            top_k: 20,
            tol: 1e-6,
            max_krylov: None,
            restarts: None,
            lambda_min: true,
            trace_probes: Probes::Until {
                rel_stderr: 0.01,
                block: 10,
                max: 100,
            },
            density: None,
            seed: 0,
        }
    }
}

/// What is known about H = ∇²L(θ): its extreme eigenpairs and trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianSpectrum {
    /// Top eigenpairs, λ₁ ≥ λ₂ ≥ … (at least one).
    pub top: Eigenpairs,
    /// Tr(H): exact where the objective has an exact diagonal or the whole spectrum was
    /// computed ([`HessianSpectrum::compute_with_dense_spectrum`]), else deflated Hutchinson.
    pub trace: Estimate,
    /// diag(H), where the objective computes it exactly ([`Objective::hessian_diagonal`]) or
    /// the whole matrix was assembled (its diagonal, from exact HVPs): per-tensor traces.
    #[serde(default)]
    pub diagonal: Option<Vec<f64>>,
    /// Smallest eigenvalue and whether it converged, if computed; flags negative curvature
    /// in Proposition 1.
    pub lambda_min: Option<LambdaMin>,
    /// Spectral density, if asked for.
    pub density: Option<Slq>,
    /// Every eigenvalue, if computed ([`curvscope_hessian::dense_eigenvalues`]: too costly for
    /// [`HessianSpectrum::compute`] to do unasked, and the caller shows its progress).
    #[serde(default)]
    pub dense: Option<DenseSpectrum>,
}

impl HessianSpectrum {
    /// Lanczos, Tr(H) and SLQ on the exact-HVP operator of `objective` at θ. Tr(H) is the sum
    /// of the exact diagonal where the objective has one (piecewise-linear networks: C
    /// per-sample-gradient passes), else deflated Hutchinson.
    pub fn compute<O: Objective + ?Sized>(
        objective: &O,
        theta: &[f64],
        options: &CurvatureOptions,
    ) -> Self {
        Self::around(objective, theta, options, None)
    }

    /// [`HessianSpectrum::compute`] plus every eigenvalue of H at θ ([`dense_eigenvalues`] on
    /// the exact-HVP operator, [`HESSIAN_COLUMNS_PER_PASS`] columns at a time);
    /// `progress(columns_done)` follows the D HVPs. Refuses before any HVP when the D×D
    /// matrix would exceed `budget_bytes`.
    ///
    /// Tr(H) then is exact for any network: without an exact diagonal (tanh, sigmoid) it is
    /// the sum of the assembled diagonal, and no Hutchinson probe is spent on it.
    pub fn compute_with_dense_spectrum<O: Objective + ?Sized>(
        objective: &O,
        theta: &[f64],
        options: &CurvatureOptions,
        budget_bytes: u64,
        progress: &dyn Fn(usize),
    ) -> Result<Self, DenseSpectrumError> {
        let h = HessianOperator::new(objective, theta);
        let dense = dense_eigenvalues(&h, HESSIAN_COLUMNS_PER_PASS, budget_bytes, progress)?;
        Ok(Self::around(objective, theta, options, Some(dense)))
    }

    /// The Lanczos ends, Tr(H) (the exact diagonal's sum, else `dense`'s trace, else
    /// Hutchinson) and SLQ, beside `dense` if it was computed.
    fn around<O: Objective + ?Sized>(
        objective: &O,
        theta: &[f64],
        options: &CurvatureOptions,
        dense: Option<DenseSpectrum>,
    ) -> Self {
        let h = HessianOperator::new(objective, theta);
        let seed = |purpose| purpose_seed(options.seed, purpose);
        let lanczos = |k, which, purpose| LanczosOptions {
            k,
            which,
            tol: options.tol,
            max_krylov: options.max_krylov,
            restarts: options.restarts.unwrap_or(0),
            seed: seed(purpose),
            ..LanczosOptions::default()
        };
        let top = extreme_eigenpairs(
            &h,
            &lanczos(options.top_k, Which::Largest, Purpose::HessianTop),
        );
        let lambda_min = options.lambda_min.then(|| {
            let smallest =
                extreme_eigenpairs(&h, &lanczos(1, Which::Smallest, Purpose::HessianSmallest));
            LambdaMin {
                value: smallest.eigenvalues[0],
                converged: smallest.converged,
            }
        });
        let exact_diagonal = objective.hessian_diagonal(theta);
        let trace = match (&exact_diagonal, &dense) {
            (Some(diagonal), _) => Estimate::exact(diagonal.iter().sum(), objective.n_samples()),
            (None, Some(dense)) => Estimate::exact(dense.trace(), theta.len()),
            (None, None) => {
                deflated_hutchinson(
                    &h,
                    &top.eigenvectors,
                    options.trace_probes,
                    seed(Purpose::TraceH),
                )
                .trace
            }
        };
        let density = options
            .density
            .as_ref()
            .map(|slq_options| slq(&h, slq_options));
        let diagonal = exact_diagonal.or_else(|| dense.as_ref().map(|d| d.diagonal.clone()));
        Self {
            top,
            trace,
            diagonal,
            lambda_min,
            density,
            dense,
        }
    }
}

/// Hessian columns (HVPs with unit vectors) per batched pass of the dense spectrum: enough to
/// keep the cores busy, few enough that progress is reported every few seconds.
pub const HESSIAN_COLUMNS_PER_PASS: usize = 16;

/// How Tr(HΣ) is computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceHSigmaMethod {
    /// N per-sample gradients and N HVPs: [`trace_h_sigma_exact`].
    Exact,
    /// Weighted-gradient probes: [`trace_h_sigma_stochastic`].
    Stochastic {
        /// Number of probes (≥ 2).
        probes: usize,
        /// Seed.
        seed: u64,
        /// Whether the top eigenpairs' terms λ_j·u_jᵀΣu_j are added exactly and probed only
        /// for the rest ([`KnownTerms`]). False in records made before 2026-12-03, which probed
        /// all of Tr(HΣ); absent from the JSON when false, so those keep their hash.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        known_top_terms: bool,
    },
}

/// What [`analyze_checkpoint`] computes, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    /// Per-sample gradients held at once while streaming (chunk·D·8 bytes).
    pub chunk: usize,
    /// Exact or stochastic Tr(HΣ).
    pub trace_h_sigma: TraceHSigmaMethod,
    /// Top eigenpairs of Σ to compute (and compare with H's). Non-zero holds all N centred
    /// gradients in memory (N·D·8 bytes, see [`CovarianceOperator`]); 0 skips it.
    pub sigma_top_k: usize,
    /// Expected sharpness settings; `None` skips it.
    pub sharpness: Option<SharpnessOptions>,
    /// Keskar et al.'s ε-sharpness settings; `None` (the default) skips it. Absent from the
    /// JSON when `None`, as are the three below, so older options keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_sharpness: Option<EpsilonSharpnessOptions>,
    /// Average-case adaptive sharpness settings; `None` (the default) skips it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_sharpness_average: Option<AdaptiveAverageOptions>,
    /// Worst-case ℓ2 adaptive sharpness settings; `None` (the default) skips it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_sharpness_l2: Option<AdaptiveWorstOptions>,
    /// Worst-case ℓ∞ adaptive sharpness settings; `None` (the default) skips it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_sharpness_linf: Option<AdaptiveWorstOptions>,
    /// The training batch size b, to report Σ's minibatch factor; `None` skips it.
    pub batch_size: Option<usize>,
    /// How H's spectrum is computed (its tolerance and seed also serve Σ's eigenpairs).
    pub curvature: CurvatureOptions,
}

impl Default for ReportOptions {
    /// Exact everything, 64-gradient chunks, 10 Σ eigenpairs, the paper's sharpness settings.
    fn default() -> Self {
        Self {
            chunk: 64,
            trace_h_sigma: TraceHSigmaMethod::Exact,
            sigma_top_k: 10,
            sharpness: Some(SharpnessOptions::default()),
            epsilon_sharpness: None,
            adaptive_sharpness_average: None,
            adaptive_sharpness_l2: None,
            adaptive_sharpness_linf: None,
            batch_size: None,
            curvature: CurvatureOptions::default(),
        }
    }
}

/// The paper's quantities at one θ (Zhu et al. 2019; Σ is always the one-sample covariance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// D, the number of parameters.
    pub dim: usize,
    /// N, the number of training samples.
    pub n_samples: usize,
    /// L(θ).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub loss: f64,
    /// ‖∇L(θ)‖.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub grad_norm: f64,
    /// Top Hessian eigenvalues λ₁ ≥ λ₂ ≥ … (Lanczos).
    #[serde(with = "curvscope_hessian::non_finite::vec")]
    pub hessian_eigenvalues: Vec<f64>,
    /// ‖Hu_i − λ_i u_i‖ of each pair (Lanczos' estimate).
    #[serde(with = "curvscope_hessian::non_finite::vec")]
    pub hessian_residuals: Vec<f64>,
    /// Whether every wanted Ritz pair met the tolerance.
    pub hessian_converged: bool,
    /// Hessian-vector products Lanczos used for the top eigenpairs.
    pub hessian_applications: usize,
    /// Smallest Hessian eigenvalue and whether Lanczos converged on it, if computed.
    pub lambda_min: Option<LambdaMin>,
    /// Tr(H): exact (the sum of diag(H)) for piecewise-linear networks or from the whole
    /// spectrum where it was computed, else deflated Hutchinson ([`HessianSpectrum::trace`]).
    pub trace_h: Estimate,
    /// Tr(H) and Tr(Σ) per named tensor of θ, where diag(H) is exact (empty elsewhere).
    #[serde(default)]
    pub layers: Vec<LayerTrace>,
    /// Tr(Σ) = (1/N) Σ_i ‖g_i − ḡ‖², exact.
    pub trace_sigma: Estimate,
    /// u_iᵀΣu_i for each supplied Hessian eigenvector (condition 2 of Proposition 1 uses u₁).
    #[serde(with = "curvscope_hessian::non_finite::vec")]
    pub u_sigma_u: Vec<f64>,
    /// The escaping indicator Tr(HΣ) (Section 3).
    pub trace_h_sigma: Estimate,
    /// Tr(HΣ̄) = Tr(H)·Tr(Σ)/D, isotropic noise of equal magnitude.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub isotropic_trace_h_sigma: f64,
    /// Tr(HΣ)/Tr(HΣ̄); `None` when Tr(HΣ̄) ≤ 0 (Tr(H) ≤ 0 or Tr(Σ) = 0).
    #[serde(with = "curvscope_hessian::non_finite::option")]
    pub anisotropy_ratio: Option<f64>,
    /// Proposition 1: conditions, â, bound â·λ₁²·D/Tr(H)² against the ratio; condition 1 over
    /// every eigenvalue where the whole spectrum was computed, else over the top k.
    pub proposition1: Proposition1,
    /// Top eigenvalues of Σ (empty when `sigma_top_k` is 0).
    #[serde(with = "curvscope_hessian::non_finite::vec")]
    pub sigma_eigenvalues: Vec<f64>,
    /// Whether every Σ Ritz pair met the tolerance (`None` when `sigma_top_k` is 0).
    pub sigma_converged: Option<bool>,
    /// `[i][j]` = |cos(u_i, v_j)|, u_i Hessian and v_j Σ eigenvectors (empty when skipped).
    #[serde(with = "curvscope_hessian::non_finite::vecs")]
    pub eigenvector_cosines: Vec<Vec<f64>>,
    /// Expected sharpness, signed and absolute (Figs. 3 and 6).
    pub expected_sharpness: Option<ExpectedSharpness>,
    /// Keskar et al.'s ε-sharpness (a lower bound), if asked for.
    #[serde(default)]
    pub epsilon_sharpness: Option<EpsilonSharpness>,
    /// Average-case adaptive sharpness (Andriushchenko et al. 2023), if asked for.
    #[serde(default)]
    pub adaptive_sharpness_average: Option<AdaptiveAverageSharpness>,
    /// Worst-case ℓ2 adaptive sharpness (a lower bound), if asked for.
    #[serde(default)]
    pub adaptive_sharpness_l2: Option<WorstCaseSharpness>,
    /// Worst-case ℓ∞ adaptive sharpness (a lower bound), if asked for.
    #[serde(default)]
    pub adaptive_sharpness_linf: Option<WorstCaseSharpness>,
    /// Factor by which a batch of b scales Σ (never folded into the numbers above).
    pub minibatch: Option<MinibatchFactor>,
    /// Hessian spectral density by SLQ, on a grid (if asked for).
    pub density: Option<Density>,
    /// Every Hessian eigenvalue, when [`HessianSpectrum::dense`] holds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole_spectrum: Option<WholeSpectrum>,
}

/// Every quantity of the paper at θ: [`HessianSpectrum::compute`], then [`report_from_spectrum`].
///
/// On a quadratic whose H and Σ are known in closed form, ℓ_i(θ) = ½ Σ_j a_j (θ_j − x_ij)²:
/// H = diag(a), g_i = a ⊙ (θ − x_i), and with mean(x) = θ = 0, Σ = (1/N) Σ_i g_i g_iᵀ.
///
/// ```
/// use curvscope_metrics::{analyze_checkpoint, CurvatureOptions, ReportOptions};
/// use curvscope_model::Objective;
///
/// struct Quadratic { a: [f64; 2], x: Vec<[f64; 2]> }
/// impl Quadratic {
///     fn g(&self, t: &[f64], x: &[f64; 2]) -> [f64; 2] {
///         [self.a[0] * (t[0] - x[0]), self.a[1] * (t[1] - x[1])]
///     }
/// }
/// impl Objective for Quadratic {
///     fn dim(&self) -> usize { 2 }
///     fn n_samples(&self) -> usize { self.x.len() }
///     fn per_sample_losses(&self, t: &[f64]) -> Vec<f64> {
///         let l = |x: &[f64; 2]| (0..2).map(|j| 0.5 * self.a[j] * (t[j] - x[j]).powi(2)).sum();
///         self.x.iter().map(l).collect()
///     }
///     fn weighted_grad(&self, t: &[f64], w: &[f64]) -> Vec<f64> {
///         let mut sum = vec![0.0; 2];
///         for (x, w) in self.x.iter().zip(w) {
///             sum.iter_mut().zip(self.g(t, x)).for_each(|(s, g)| *s += w * g);
///         }
///         sum
///     }
///     fn hvp(&self, _: &[f64], v: &[f64]) -> Vec<f64> { vec![self.a[0] * v[0], self.a[1] * v[1]] }
///     fn per_sample_grads_range(&self, t: &[f64], start: usize, len: usize) -> Vec<f64> {
///         self.x[start..start + len].iter().flat_map(|x| self.g(t, x)).collect()
///     }
/// }
///
/// // H = diag(4, 1); g_i = (∓4, 0), (0, ∓2), so Σ = diag(8, 2).
/// let quadratic = Quadratic { a: [4.0, 1.0], x: vec![[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]] };
/// let options = ReportOptions {
///     sigma_top_k: 0,
///     sharpness: None,
///     curvature: CurvatureOptions { top_k: 1, ..CurvatureOptions::default() },
///     ..ReportOptions::default()
/// };
/// let report = analyze_checkpoint(&quadratic, &[0.0, 0.0], &options);
/// let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
/// assert!(close(report.hessian_eigenvalues[0], 4.0));
/// assert!(close(report.trace_h.value, 5.0)); // λ₁ deflated, the rest probed: 4 + 1
/// assert!(close(report.trace_sigma.value, 10.0));
/// assert!(close(report.u_sigma_u[0], 8.0)); // u₁ = e₁
/// assert!(close(report.trace_h_sigma.value, 34.0)); // 4·8 + 1·2
/// assert!(close(report.isotropic_trace_h_sigma, 25.0)); // Tr(H)·Tr(Σ)/D = 5·10/2
/// assert!(close(report.anisotropy_ratio.unwrap(), 1.36));
/// let proposition = &report.proposition1;
/// assert!(close(proposition.projection_coefficient.unwrap(), 1.0)); // 8·5/(4·10)
/// assert!(close(proposition.bound.unwrap(), 1.28)); // â·λ₁²·D/Tr(H)² = 16·2/25
/// ```
pub fn analyze_checkpoint<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    options: &ReportOptions,
) -> Report {
    let hessian = HessianSpectrum::compute(objective, theta, &options.curvature);
    report_from_spectrum(objective, theta, &hessian, options)
}

/// Computes a [`Report`] at θ from a known Hessian spectrum; Σ's eigenpairs come from Lanczos
/// with the tolerance of `options.curvature` and the [`Purpose::SigmaTop`] seed of its seed.
///
/// Cost: one pass of N per-sample gradients for Σ's statistics, one more with N HVPs for exact
/// Tr(HΣ) (stochastic: a weighted gradient and an HVP per probe), one more when `sigma_top_k`
/// is non-zero, one more for diag(Σ) when `hessian.diagonal` is known, plus a gradient and M
/// loss evaluations for sharpness (and for average adaptive sharpness), and T gradients and
/// T + 2 losses for each
/// worst-case sharpness asked for (T ascent iterations).
///
/// # Panics
/// If `hessian.top` is empty.
pub fn report_from_spectrum<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    hessian: &HessianSpectrum,
    options: &ReportOptions,
) -> Report {
    let dim = objective.dim();
    let noise = noise_statistics(objective, theta, &hessian.top.eigenvectors, options.chunk);
    let trace_h_sigma = match options.trace_h_sigma {
        TraceHSigmaMethod::Exact => trace_h_sigma_exact(objective, theta, options.chunk),
        TraceHSigmaMethod::Stochastic {
            probes,
            seed,
            known_top_terms,
        } => {
            let known = if known_top_terms {
                KnownTerms {
                    eigenvalues: &hessian.top.eigenvalues,
                    eigenvectors: &hessian.top.eigenvectors,
                    u_sigma_u: &noise.quadratic_forms,
                }
            } else {
                KnownTerms::default()
            };
            trace_h_sigma_stochastic(objective, theta, probes, seed, known)
        }
    };
    let isotropic = isotropic_trace_h_sigma(hessian.trace.value, noise.trace.value, dim);
    let sigma_top = if options.sigma_top_k > 0 {
        let sigma = CovarianceOperator::from_objective(objective, theta, options.chunk);
        let lanczos = LanczosOptions {
            k: options.sigma_top_k,
            tol: options.curvature.tol,
            seed: purpose_seed(options.curvature.seed, Purpose::SigmaTop),
            ..LanczosOptions::default()
        };
        Some(extreme_eigenpairs(&sigma, &lanczos))
    } else {
        None
    };
    let u1_sigma_u1 = *noise
        .quadratic_forms
        .first()
        .expect("one quadratic form per top eigenvector, and at least one");
    let proposition1 = proposition1(
        &hessian.top.eigenvalues,
        hessian.lambda_min,
        hessian.trace.value,
        noise.trace.value,
        u1_sigma_u1,
        trace_h_sigma.value,
        dim,
    );
    // Condition 1 and the sign of H over every eigenvalue where the whole spectrum is known,
    // else over the top eigenvalues that converged.
    let proposition1 = proposition1.over_known_spectrum(
        hessian.dense.as_ref().map(|dense| &dense.eigenvalues[..]),
        &hessian.top.eigenvalues,
        &hessian.top.residuals,
        hessian.top.converged,
        options.curvature.tol,
    );
    Report {
        dim,
        n_samples: objective.n_samples(),
        loss: objective.loss(theta),
        grad_norm: noise.mean_grad_norm,
        hessian_eigenvalues: hessian.top.eigenvalues.clone(),
        hessian_residuals: hessian.top.residuals.clone(),
        hessian_converged: hessian.top.converged,
        hessian_applications: hessian.top.n_applications,
        lambda_min: hessian.lambda_min,
        trace_h: hessian.trace.clone(),
        layers: hessian
            .diagonal
            .as_ref()
            .map(|diagonal| layer_traces(&objective.parameter_tensors(), diagonal, &noise.diagonal))
            .unwrap_or_default(),
        proposition1,
        trace_sigma: noise.trace,
        u_sigma_u: noise.quadratic_forms,
        anisotropy_ratio: anisotropy_ratio(trace_h_sigma.value, isotropic),
        trace_h_sigma,
        isotropic_trace_h_sigma: isotropic,
        eigenvector_cosines: sigma_top.as_ref().map_or_else(Vec::new, |s| {
            abs_cosines(&hessian.top.eigenvectors, &s.eigenvectors)
        }),
        sigma_converged: sigma_top.as_ref().map(|s| s.converged),
        sigma_eigenvalues: sigma_top.map_or_else(Vec::new, |s| s.eigenvalues),
        expected_sharpness: options
            .sharpness
            .as_ref()
            .map(|s| expected_sharpness(objective, theta, s)),
        epsilon_sharpness: options
            .epsilon_sharpness
            .as_ref()
            .map(|o| epsilon_sharpness(objective, theta, o)),
        adaptive_sharpness_average: options
            .adaptive_sharpness_average
            .as_ref()
            .map(|o| adaptive_sharpness_average(objective, theta, o)),
        adaptive_sharpness_l2: options
            .adaptive_sharpness_l2
            .as_ref()
            .map(|o| adaptive_sharpness_worst(objective, theta, PerturbationNorm::L2, o)),
        adaptive_sharpness_linf: options
            .adaptive_sharpness_linf
            .as_ref()
            .map(|o| adaptive_sharpness_worst(objective, theta, PerturbationNorm::Linf, o)),
        minibatch: options
            .batch_size
            .map(|b| minibatch_factor(b, objective.n_samples())),
        density: hessian.density.as_ref().map(Slq::broadened_density),
        whole_spectrum: hessian
            .dense
            .as_ref()
            .map(|dense| whole_spectrum(dense, &hessian.top.eigenvalues)),
    }
}
