//! Every quantity of the paper at one checkpoint, in one serializable [`Report`].

use crate::covariance::{abs_cosines, noise_statistics, CovarianceOperator};
use crate::escaping::{trace_h_sigma_exact, trace_h_sigma_stochastic};
use crate::estimate::Estimate;
use crate::proposition::{
    anisotropy_ratio, isotropic_trace_h_sigma, minibatch_factor, proposition1, MinibatchFactor,
    Proposition1,
};
use crate::sharpness::{expected_sharpness, ExpectedSharpness, SharpnessOptions};
use curvscope_hessian::LinearOperator;
use curvscope_model::Objective;
use serde::{Deserialize, Serialize};

/// Top eigenpairs of a symmetric operator, eigenvalues descending, `vectors[i]` unit-norm.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Eigenpairs {
    /// λ₁ ≥ λ₂ ≥ ….
    pub values: Vec<f64>,
    /// u₁, u₂, … (each of length D).
    pub vectors: Vec<Vec<f64>>,
}

/// What the caller already knows about H = ∇²L(θ) (e.g. from Lanczos and Hutchinson).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianSpectrum {
    /// Top eigenpairs (at least one).
    pub top: Eigenpairs,
    /// Tr(H).
    pub trace: Estimate,
    /// Smallest eigenvalue, if computed; flags negative curvature in Proposition 1.
    pub lambda_min: Option<f64>,
}

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
    /// The training batch size b, to report Σ's minibatch factor; `None` skips it.
    pub batch_size: Option<usize>,
}

impl Default for ReportOptions {
    /// Exact everything, 64-gradient chunks, 10 Σ eigenpairs, the paper's sharpness settings.
    fn default() -> Self {
        Self {
            chunk: 64,
            trace_h_sigma: TraceHSigmaMethod::Exact,
            sigma_top_k: 10,
            sharpness: Some(SharpnessOptions::default()),
            batch_size: None,
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
    pub loss: f64,
    /// ‖∇L(θ)‖.
    pub grad_norm: f64,
    /// Top Hessian eigenvalues λ₁ ≥ λ₂ ≥ … (as supplied).
    pub hessian_eigenvalues: Vec<f64>,
    /// Smallest Hessian eigenvalue, if supplied.
    pub lambda_min: Option<f64>,
    /// Tr(H) (as supplied).
    pub trace_h: Estimate,
    /// Tr(Σ) = (1/N) Σ_i ‖g_i − ḡ‖², exact.
    pub trace_sigma: Estimate,
    /// u_iᵀΣu_i for each supplied Hessian eigenvector (condition 2 of Proposition 1 uses u₁).
    pub u_sigma_u: Vec<f64>,
    /// The escaping indicator Tr(HΣ) (Section 3).
    pub trace_h_sigma: Estimate,
    /// Tr(HΣ̄) = Tr(H)·Tr(Σ)/D, isotropic noise of equal magnitude.
    pub trace_h_sigma_iso: f64,
    /// Tr(HΣ)/Tr(HΣ̄).
    pub anisotropy_ratio: f64,
    /// Proposition 1: conditions, â, bound â·λ₁²·D/Tr(H)² against the ratio.
    pub proposition1: Proposition1,
    /// Top eigenvalues of Σ (empty when `sigma_top_k` is 0).
    pub sigma_eigenvalues: Vec<f64>,
    /// `[i][j]` = |cos(u_i, v_j)|, u_i Hessian and v_j Σ eigenvectors (empty when skipped).
    pub eigenvector_cosines: Vec<Vec<f64>>,
    /// Expected sharpness, signed and absolute (Figs. 3 and 6).
    pub expected_sharpness: Option<ExpectedSharpness>,
    /// Factor by which a batch of b scales Σ (never folded into the numbers above).
    pub minibatch: Option<MinibatchFactor>,
}

/// Computes a [`Report`] at θ from a known Hessian spectrum; `eigensolver(op, k)` returns the
/// top-k eigenpairs of a symmetric operator (Lanczos in practice) and is used for Σ.
///
/// Cost: one pass of N per-sample gradients for Σ's statistics, one more with N HVPs for exact
/// Tr(HΣ) (stochastic: a weighted gradient and an HVP per probe), one more when `sigma_top_k`
/// > 0, plus M loss evaluations for sharpness.
///
/// Without Hessian eigenvectors, u₁ᵀΣu₁ and so â and the bound are NaN.
///
/// # Panics
/// If `hessian.top.values` is empty.
pub fn analyze_checkpoint<O, E>(
    objective: &O,
    theta: &[f64],
    hessian: &HessianSpectrum,
    eigensolver: E,
    options: &ReportOptions,
) -> Report
where
    O: Objective + ?Sized,
    E: Fn(&dyn LinearOperator, usize) -> Eigenpairs,
{
    let dim = objective.dim();
    let noise = noise_statistics(objective, theta, &hessian.top.vectors, options.chunk);
    let trace_h_sigma = match options.trace_h_sigma {
        TraceHSigmaMethod::Exact => trace_h_sigma_exact(objective, theta, options.chunk),
        TraceHSigmaMethod::Stochastic { probes, seed } => {
            trace_h_sigma_stochastic(objective, theta, probes, seed)
        }
    };
    let trace_h_sigma_iso = isotropic_trace_h_sigma(hessian.trace.value, noise.trace.value, dim);
    let sigma_top = if options.sigma_top_k > 0 {
        eigensolver(
            &CovarianceOperator::from_objective(objective, theta, options.chunk),
            options.sigma_top_k,
        )
    } else {
        Eigenpairs::default()
    };
    Report {
        dim,
        n_samples: objective.n_samples(),
        loss: objective.loss(theta),
        grad_norm: noise.mean_grad_norm,
        hessian_eigenvalues: hessian.top.values.clone(),
        lambda_min: hessian.lambda_min,
        trace_h: hessian.trace.clone(),
        proposition1: proposition1(
            &hessian.top.values,
            hessian.lambda_min,
            hessian.trace.value,
            noise.trace.value,
            noise.quadratic_forms.first().copied().unwrap_or(f64::NAN),
            trace_h_sigma.value,
            dim,
        ),
        trace_sigma: noise.trace,
        u_sigma_u: noise.quadratic_forms,
        anisotropy_ratio: anisotropy_ratio(trace_h_sigma.value, trace_h_sigma_iso),
        trace_h_sigma,
        trace_h_sigma_iso,
        eigenvector_cosines: if sigma_top.vectors.is_empty() {
            Vec::new()
        } else {
            abs_cosines(&hessian.top.vectors, &sigma_top.vectors)
        },
        sigma_eigenvalues: sigma_top.values,
        expected_sharpness: options
            .sharpness
            .as_ref()
            .map(|s| expected_sharpness(objective, theta, s)),
        minibatch: options
            .batch_size
            .map(|b| minibatch_factor(b, objective.n_samples())),
    }
}
