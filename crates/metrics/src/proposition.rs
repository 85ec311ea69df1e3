//! Anisotropic versus isotropic noise: the isotropic equivalent Tr(HΣ̄), the ratio
//! Tr(HΣ)/Tr(HΣ̄), the projection coefficient â and the two conditions and bound of Zhu et al.
//! 2019, Proposition 1. All take already-computed numbers (eigenvalues, traces), so any
//! eigensolver or trace estimator can feed them.

use serde::{Deserialize, Serialize};

/// Tr(HΣ̄) = Tr(H)·Tr(Σ)/D: the escaping indicator of isotropic noise Σ̄ = (Tr(Σ)/D)·I with the
/// same total variance as Σ (Zhu et al. 2019, the comparison of Section 3 / Proposition 1).
///
/// ```
/// assert!((curvscope_metrics::isotropic_trace_h_sigma(220.0, 4.4, 2) - 484.0).abs() < 1e-12);
/// ```
pub fn isotropic_trace_h_sigma(trace_h: f64, trace_sigma: f64, dim: usize) -> f64 {
    trace_h * trace_sigma / dim as f64
}

/// Tr(HΣ)/Tr(HΣ̄): how much faster than isotropic noise of equal magnitude the actual noise
/// escapes a minimum (> 1: anisotropy helps; left-hand side of Proposition 1's conclusion).
///
/// ```
/// assert_eq!(curvscope_metrics::anisotropy_ratio(808.0, 484.0), 808.0 / 484.0);
/// ```
pub fn anisotropy_ratio(trace_h_sigma: f64, isotropic_trace_h_sigma: f64) -> f64 {
    trace_h_sigma / isotropic_trace_h_sigma
}

/// â = u₁ᵀΣu₁ · Tr(H) / (λ₁ · Tr(Σ)), the projection coefficient of Proposition 1: condition 2
/// (alignment) is u₁ᵀΣu₁ ≥ a·λ₁·Tr(Σ)/Tr(H), i.e. â ≥ a. (u₁, λ₁): top Hessian eigenpair.
///
/// ```
/// assert!((curvscope_metrics::projection_coefficient(4.0, 220.0, 200.0, 4.4) - 1.0).abs() < 1e-15);
/// ```
pub fn projection_coefficient(
    u1_sigma_u1: f64,
    trace_h: f64,
    lambda1: f64,
    trace_sigma: f64,
) -> f64 {
    u1_sigma_u1 * trace_h / (lambda1 * trace_sigma)
}

/// d_k = −log(λ_{k+1}/λ₁)/log D, the exponent of condition 1 (ill-conditioning) of
/// Proposition 1, λ_{k+1} = λ₁·D^(−d_k); the condition holds for this k when d_k > ½.
/// `None` when λ_{k+1} ≤ 0 or λ₁ ≤ 0 (no real exponent: the condition is then trivially met
/// for positive λ₁, but the proposition assumes a positive semidefinite H).
///
/// ```
/// use curvscope_metrics::ill_conditioning_exponent;
/// assert!((ill_conditioning_exponent(100.0, 1.0, 100).unwrap() - 1.0).abs() < 1e-15);
/// assert_eq!(ill_conditioning_exponent(100.0, -1.0, 100), None);
/// ```
pub fn ill_conditioning_exponent(lambda1: f64, lambda_k1: f64, dim: usize) -> Option<f64> {
    (lambda1 > 0.0 && lambda_k1 > 0.0).then(|| -(lambda_k1 / lambda1).ln() / (dim as f64).ln())
}

/// â·λ₁²·D/Tr(H)², Proposition 1's lower bound on Tr(HΣ)/Tr(HΣ̄) (≈ a·D^(2d−1) under the two
/// conditions). It is guaranteed only for positive semidefinite H.
///
/// ```
/// let b = curvscope_metrics::proposition1_bound(1.0, 200.0, 220.0, 2);
/// assert!((b - 80_000.0 / 48_400.0).abs() < 1e-15);
/// ```
pub fn proposition1_bound(
    projection_coefficient: f64,
    lambda1: f64,
    trace_h: f64,
    dim: usize,
) -> f64 {
    projection_coefficient * lambda1 * lambda1 * dim as f64 / (trace_h * trace_h)
}

/// The ks at which condition 1 is reported: 1, 5, 10, 20, 50, 100, 200, 500, … up to `max`.
///
/// ```
/// assert_eq!(curvscope_metrics::condition_ks(60), vec![1, 5, 10, 20, 50]);
/// ```
pub fn condition_ks(max: usize) -> Vec<usize> {
    let grid =
        std::iter::once(1).chain((0..).flat_map(|p| [5, 10, 20].map(|m| m * 10usize.pow(p))));
    grid.take_while(|&k| k <= max).collect()
}

/// Condition 1 of Proposition 1 at one k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IllConditioning {
    /// k, the number of dominant eigenvalues.
    pub k: usize,
    /// λ_{k+1}.
    pub lambda_k1: f64,
    /// d_k = −log(λ_{k+1}/λ₁)/log D; `None` (JSON null) when λ_{k+1} ≤ 0 or λ₁ ≤ 0.
    pub d: Option<f64>,
    /// d_k > ½ (false when `d` is `None`).
    pub holds: bool,
}

/// Proposition 1 checked on measured numbers: both conditions, the bound, and the measured ratio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposition1 {
    /// D.
    pub dim: usize,
    /// λ₁, the top Hessian eigenvalue.
    pub lambda1: f64,
    /// Tr(H).
    pub trace_h: f64,
    /// Condition 1 at k ∈ [`condition_ks`] up to (number of eigenvalues − 1).
    pub ill_conditioning: Vec<IllConditioning>,
    /// Condition 2: â, see [`projection_coefficient`].
    pub projection_coefficient: f64,
    /// â·λ₁²·D/Tr(H)², see [`proposition1_bound`].
    pub bound: f64,
    /// The measured Tr(HΣ)/Tr(HΣ̄).
    pub ratio: f64,
    /// bound ≤ ratio.
    pub bound_holds: bool,
    /// Some computed eigenvalue (or the supplied λ_min) is negative: H is indefinite, outside the
    /// proposition's assumptions, and the bound need not hold.
    pub negative_curvature: bool,
}

/// Evaluates Proposition 1 from top Hessian eigenvalues (descending, λ₁ first), the smallest
/// eigenvalue if known (a top-k solver cannot see negative curvature by itself), Tr(H), Tr(Σ),
/// u₁ᵀΣu₁ and the measured Tr(HΣ).
///
/// ```
/// // The paper's 2-D toy: H eigenvalues 200, 20; Tr(Σ) = 4.4, u₁ᵀΣu₁ = 4, Tr(HΣ) = 808.
/// let p = curvscope_metrics::proposition1(&[200.0, 20.0], None, 220.0, 4.4, 4.0, 808.0, 2);
/// assert!((p.projection_coefficient - 1.0).abs() < 1e-15);
/// assert!(p.bound_holds && !p.negative_curvature);
/// assert_eq!(p.ill_conditioning[0].k, 1);
/// ```
///
/// # Panics
/// If `eigenvalues` is empty.
pub fn proposition1(
    eigenvalues: &[f64],
    lambda_min: Option<f64>,
    trace_h: f64,
    trace_sigma: f64,
    u1_sigma_u1: f64,
    trace_h_sigma: f64,
    dim: usize,
) -> Proposition1 {
    let lambda1 = *eigenvalues.first().expect("at least one eigenvalue");
    let a_hat = projection_coefficient(u1_sigma_u1, trace_h, lambda1, trace_sigma);
    let bound = proposition1_bound(a_hat, lambda1, trace_h, dim);
    let ratio = anisotropy_ratio(
        trace_h_sigma,
        isotropic_trace_h_sigma(trace_h, trace_sigma, dim),
    );
    let ill_conditioning = condition_ks(eigenvalues.len().saturating_sub(1))
        .into_iter()
        .map(|k| {
            let d = ill_conditioning_exponent(lambda1, eigenvalues[k], dim);
            IllConditioning {
                k,
                lambda_k1: eigenvalues[k],
                d,
                holds: d.is_some_and(|d| d > 0.5),
            }
        })
        .collect();
    Proposition1 {
        dim,
        lambda1,
        trace_h,
        ill_conditioning,
        projection_coefficient: a_hat,
        bound,
        ratio,
        bound_holds: bound <= ratio,
        negative_curvature: eigenvalues.iter().chain(&lambda_min).any(|&l| l < 0.0),
    }
}
