//! Anisotropic versus isotropic noise: the isotropic equivalent Tr(HΣ̄), the ratio
//! Tr(HΣ)/Tr(HΣ̄), the projection coefficient â and the two conditions and bound of Zhu et al.
//! 2019, Proposition 1. All take already-computed numbers (eigenvalues, traces), so any
//! eigensolver or trace estimator can feed them.

use serde::{Deserialize, Serialize};

/// Tr(HΣ̄) = Tr(H)·Tr(Σ)/D: the escaping indicator of isotropic noise Σ̄ = (Tr(Σ)/D)·I with the
/// same total variance as Σ (Zhu et al. 2019, Sec. 3 and Proposition 1).
///
/// ```
/// assert!((curvscope_metrics::isotropic_trace_h_sigma(220.0, 4.4, 2) - 484.0).abs() < 1e-12);
/// ```
pub fn isotropic_trace_h_sigma(trace_h: f64, trace_sigma: f64, dim: usize) -> f64 {
    trace_h * trace_sigma / dim as f64
}

/// Eigenvalues within this fraction of the spectrum's scale (max |λ| computed) of zero are
/// zero: the default Lanczos tolerance bounds each computed eigenvalue's error by 1e-6·|λ|max,
/// and f32 Hessian-vector products round at ~1e-7 relative, so −1e-17 (or −1e-8·λ₁) is
/// rounding, not curvature.
pub const ZERO_RTOL: f64 = 1e-6;

/// Tr(HΣ)/Tr(HΣ̄): how much faster than isotropic noise of equal magnitude the actual noise
/// escapes a minimum (> 1: anisotropy helps; left-hand side of the conclusion of Zhu et al.
/// 2019, Proposition 1).
/// `None` unless Tr(HΣ̄) > 0: with Tr(H) ≤ 0 or Tr(Σ) = 0 there is no isotropic noise to
/// compare with. `None` too when either is not finite (an f32 overflow upstream): a NaN ratio
/// would fail every comparison the verdict makes and so read as "the bound holds".
///
/// ```
/// use curvscope_metrics::anisotropy_ratio;
/// assert_eq!(anisotropy_ratio(808.0, 484.0), Some(808.0 / 484.0));
/// assert_eq!(anisotropy_ratio(808.0, 0.0), None);
/// assert_eq!(anisotropy_ratio(f64::NAN, 484.0), None);
/// ```
pub fn anisotropy_ratio(trace_h_sigma: f64, isotropic_trace_h_sigma: f64) -> Option<f64> {
    (trace_h_sigma.is_finite()
        && isotropic_trace_h_sigma.is_finite()
        && isotropic_trace_h_sigma > 0.0)
        .then(|| trace_h_sigma / isotropic_trace_h_sigma)
}

/// Relative standard error of a product or quotient of independent estimates, each given as
/// (value, standard error), by the delta method: √Σ (se_i/value_i)². Proposition 1's derived
/// numbers are such monomials: Tr(HΣ)/Tr(HΣ̄) ∝ Tr(HΣ)/Tr(H), the bound ∝ 1/Tr(H) and
/// â ∝ Tr(H), with λ₁, u₁ᵀΣu₁, Tr(Σ) and D exact; Tr(H) and Tr(HΣ) draw from separate seeds.
/// Infinite when a value is 0 with a non-zero error.
///
/// ```
/// // A ratio 3 ± 0.03 over 2 ± 0.04: 1% and 2% relative errors give √5 %.
/// let r = curvscope_metrics::relative_stderr(&[(3.0, 0.03), (2.0, 0.04)]);
/// assert!((r - 0.0005f64.sqrt()).abs() < 1e-15);
/// assert_eq!(curvscope_metrics::relative_stderr(&[(3.0, 0.0)]), 0.0);
/// ```
pub fn relative_stderr(estimates: &[(f64, f64)]) -> f64 {
    estimates
        .iter()
        .map(|&(value, stderr)| {
            if stderr == 0.0 {
                0.0
            } else {
                (stderr / value).powi(2)
            }
        })
        .sum::<f64>()
        .sqrt()
}

/// One of Proposition 1's numbers derived from the estimated traces: each is a monomial in
/// Tr(H) and Tr(HΣ), with λ₁, u₁ᵀΣu₁, Tr(Σ) and D exact. (Tr(HΣ̄) = Tr(H)·Tr(Σ)/D is linear in
/// Tr(H): its standard error is [`isotropic_trace_h_sigma`] of Tr(H)'s.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Derived {
    /// â ∝ Tr(H).
    ProjectionCoefficient,
    /// Tr(HΣ)/Tr(HΣ̄) ∝ Tr(HΣ)/Tr(H).
    Ratio,
    /// â·λ₁²·D/Tr(H)² ∝ 1/Tr(H).
    Bound,
}

/// The standard error of the `derived` number whose value is `value`, from Tr(H) and Tr(HΣ),
/// each (value, standard error), by the delta method ([`relative_stderr`]); 0 where both
/// traces are exact. Not a formula of Zhu et al. 2019: the error of the numbers of its
/// Proposition 1 when the traces are estimated.
///
/// ```
/// use curvscope_metrics::{derived_stderr, Derived};
/// // A ratio of 50 from Tr(HΣ) = 10 ± 0.3 (3%) and Tr(H) = 4 ± 0.16 (4%): 5% of 50.
/// let se = derived_stderr(Derived::Ratio, 50.0, (4.0, 0.16), (10.0, 0.3));
/// assert!((se - 2.5).abs() < 1e-12);
/// // The bound depends on Tr(H) alone.
/// assert_eq!(derived_stderr(Derived::Bound, 2.0, (4.0, 0.0), (10.0, 0.3)), 0.0);
/// ```
pub fn derived_stderr(
    derived: Derived,
    value: f64,
    trace_h: (f64, f64),
    trace_h_sigma: (f64, f64),
) -> f64 {
    let relative = match derived {
        Derived::ProjectionCoefficient | Derived::Bound => relative_stderr(&[trace_h]),
        Derived::Ratio => relative_stderr(&[trace_h_sigma, trace_h]),
    };
    value.abs() * relative
}

/// â = u₁ᵀΣu₁ · Tr(H) / (λ₁ · Tr(Σ)), the projection coefficient of Zhu et al. 2019,
/// Proposition 1: condition 2 (alignment) is u₁ᵀΣu₁ ≥ a·λ₁·Tr(Σ)/Tr(H), i.e. â ≥ a.
/// (u₁, λ₁): top Hessian eigenpair.
/// `None` unless Tr(H), λ₁ and Tr(Σ) are all positive and all four are finite (the
/// proposition's setting: otherwise the ratio has no meaning, and a NaN or a sign flip would be
/// reported as a number — a NaN â, from an f32 overflow in u₁ᵀΣu₁, would pass every check the
/// verdict makes).
///
/// ```
/// use curvscope_metrics::projection_coefficient;
/// assert!((projection_coefficient(4.0, 220.0, 200.0, 4.4).unwrap() - 1.0).abs() < 1e-15);
/// assert_eq!(projection_coefficient(0.0, 220.0, 200.0, 0.0), None); // Tr(Σ) = 0
/// assert_eq!(projection_coefficient(4.0, -1.0, 200.0, 4.4), None); // Tr(H) ≤ 0
/// assert_eq!(projection_coefficient(f64::NAN, 220.0, 200.0, 4.4), None);
/// ```
pub fn projection_coefficient(
    u1_sigma_u1: f64,
    trace_h: f64,
    lambda1: f64,
    trace_sigma: f64,
) -> Option<f64> {
    let finite = [u1_sigma_u1, trace_h, lambda1, trace_sigma]
        .iter()
        .all(|x| x.is_finite());
    (finite && trace_h > 0.0 && lambda1 > 0.0 && trace_sigma > 0.0)
        .then(|| u1_sigma_u1 * trace_h / (lambda1 * trace_sigma))
}

/// How many of the top eigenvalues (descending, λ₁ first) equal λ₁ within [`ZERO_RTOL`]·|λ₁|,
/// the eigensolver's accuracy; 0 when there are none. Above 1, u₁ is one vector of a
/// repeated eigenvalue's eigenspace, and u₁ᵀΣu₁, â and the bound depend on which one the
/// solver returned (λ's, Tr(HΣ) and the ratio do not).
///
/// ```
/// use curvscope_metrics::top_eigenvalue_multiplicity;
/// assert_eq!(top_eigenvalue_multiplicity(&[2.0, 2.0 - 1e-9, 2.0 - 1e-9, 1.0]), 3);
/// assert_eq!(top_eigenvalue_multiplicity(&[2.0, 1.0]), 1);
/// assert_eq!(top_eigenvalue_multiplicity(&[]), 0);
/// ```
pub fn top_eigenvalue_multiplicity(eigenvalues: &[f64]) -> usize {
    let Some(&lambda1) = eigenvalues.first() else {
        return 0;
    };
    eigenvalues
        .iter()
        .take_while(|&&l| (lambda1 - l).abs() <= ZERO_RTOL * lambda1.abs())
        .count()
}

/// d_k = −log(λ_{k+1}/λ₁)/log D, the exponent of condition 1 (ill-conditioning) of Zhu et al.
/// 2019, Proposition 1, λ_{k+1} = λ₁·D^(−d_k); the condition holds for this k when d_k > ½.
/// λ_{k+1} ≤ 0 but not below −[`ZERO_RTOL`]·λ₁ (zero to rounding: H positive semidefinite of
/// rank ≤ k) meets it for every d: d_k = ∞. A positive λ_{k+1}, however small, keeps its finite
/// d_k (above ½ for any D < 10¹² once λ_{k+1} ≤ ZERO_RTOL·λ₁, so the verdict is the same).
/// `None` when λ₁ ≤ 0 or λ_{k+1} < 0 beyond rounding (H indefinite, outside the proposition,
/// which assumes H ⪰ 0), or either is not finite, or D = 1 (no λ₂, and log D = 0).
///
/// ```
/// use curvscope_metrics::ill_conditioning_exponent;
/// assert!((ill_conditioning_exponent(100.0, 1.0, 100).unwrap() - 1.0).abs() < 1e-15);
/// assert_eq!(ill_conditioning_exponent(100.0, 0.0, 100), Some(f64::INFINITY));
/// // 10⁻⁷·λ₁, within the eigensolver's tolerance of 0, yet positive: finite, far above ½.
/// assert!((ill_conditioning_exponent(100.0, 1e-5, 100).unwrap() - 3.5).abs() < 1e-12);
/// assert_eq!(ill_conditioning_exponent(100.0, -1e-15, 100), Some(f64::INFINITY));
/// assert_eq!(ill_conditioning_exponent(100.0, -1.0, 100), None);
/// assert_eq!(ill_conditioning_exponent(100.0, 1.0, 1), None);
/// ```
pub fn ill_conditioning_exponent(lambda1: f64, lambda_k1: f64, dim: usize) -> Option<f64> {
    let finite = lambda1.is_finite() && lambda_k1.is_finite();
    if !finite || dim < 2 || lambda1 <= 0.0 || lambda_k1 < -ZERO_RTOL * lambda1 {
        None
    } else if lambda_k1 <= 0.0 {
        Some(f64::INFINITY)
    } else {
        Some(-(lambda_k1 / lambda1).ln() / (dim as f64).ln())
    }
}

/// Relative error allowed between Proposition 1's bound and the ratio. They are equal when H
/// has rank one (λ₁u₁ᵀΣu₁ = Tr(HΣ)), yet computed along other paths (λ₁ and u₁ by Lanczos,
/// Tr(HΣ) from per-sample gradients): on a one-hidden net of rank-one H the bound came out
/// 1e-15 above the ratio in f64, and was read as "bound violated". In f32 (the GPU's only
/// precision) such a gap is ~1e-7; [`ZERO_RTOL`], the eigensolver's default tolerance, covers
/// both.
pub const BOUND_RTOL: f64 = ZERO_RTOL;

/// Whether Proposition 1's bound exceeds the measured ratio by more than rounding
/// ([`BOUND_RTOL`]).
///
/// ```
/// use curvscope_metrics::bound_exceeds_ratio;
/// assert!(!bound_exceeds_ratio(96.00000000000001, 96.0)); // equal, to rounding
/// assert!(!bound_exceeds_ratio(96.00001, 96.0)); // equal, to f32's rounding
/// assert!(bound_exceeds_ratio(97.0, 96.0));
/// ```
pub fn bound_exceeds_ratio(bound: f64, ratio: f64) -> bool {
    bound - ratio > BOUND_RTOL * bound.abs().max(ratio.abs())
}

/// â·λ₁²·D/Tr(H)², the lower bound on Tr(HΣ)/Tr(HΣ̄) of Zhu et al. 2019, Proposition 1
/// (≈ a·D^(2d−1) under the two conditions). It is guaranteed only for positive semidefinite H,
/// and defined where â is.
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

/// Whether H has negative curvature (Zhu et al. 2019, Proposition 1 assumes H ⪰ 0), as far as
/// the computed eigenvalues tell: `Some(true)` when one of them (or λ_min) is below
/// −[`ZERO_RTOL`]·|λ|max — a Ritz value is a Rayleigh quotient, so a negative one proves it,
/// converged or not; `Some(false)` when a converged λ_min is not;
/// `None` (unknown) otherwise: an unconverged λ_min is only an upper bound on the true one, so
/// a nonnegative value is no evidence of "no negative curvature", and neither is its absence.
///
/// ```
/// use curvscope_metrics::{negative_curvature, LambdaMin};
/// let lambda_min = |value, converged| Some(LambdaMin { value, converged });
/// assert_eq!(negative_curvature(&[10.0], lambda_min(-1.0, false)), Some(true));
/// assert_eq!(negative_curvature(&[10.0], lambda_min(-1e-17, true)), Some(false)); // rounding
/// assert_eq!(negative_curvature(&[10.0], lambda_min(0.5, false)), None);
/// assert_eq!(negative_curvature(&[10.0], None), None);
/// ```
pub fn negative_curvature(eigenvalues: &[f64], lambda_min: Option<LambdaMin>) -> Option<bool> {
    let values = || {
        eigenvalues
            .iter()
            .chain(lambda_min.as_ref().map(|l| &l.value))
    };
    let scale = values().fold(0.0f64, |m, l| m.max(l.abs()));
    let threshold = -ZERO_RTOL * scale;
    if values().any(|&l| l < threshold) {
        Some(true)
    } else {
        lambda_min.and_then(|l| l.converged.then_some(false))
    }
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

/// The smallest k with d_k > ½ (condition 1 of Proposition 1) among k = 1 … (number of
/// eigenvalues − 1); `None`: not reached within the eigenvalues computed.
///
/// ```
/// // D = 100: λ_{k+1} < λ₁/10 is needed; λ₄ = 5 is the first below 10.
/// let k = curvscope_metrics::first_ill_conditioned_k(&[100.0, 50.0, 20.0, 5.0], 100);
/// assert_eq!(k, Some(3));
/// assert_eq!(curvscope_metrics::first_ill_conditioned_k(&[100.0, 50.0], 100), None);
/// ```
pub fn first_ill_conditioned_k(eigenvalues: &[f64], dim: usize) -> Option<usize> {
    let lambda1 = *eigenvalues.first()?;
    (1..eigenvalues.len())
        .find(|&k| ill_conditioning_exponent(lambda1, eigenvalues[k], dim).is_some_and(|d| d > 0.5))
}

/// λ_min as Lanczos returned it: a Ritz value (never below the true λ_min) and whether it met
/// the tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LambdaMin {
    /// The smallest Ritz value.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub value: f64,
    /// Whether its residual met the Lanczos tolerance.
    pub converged: bool,
}

/// Condition 1 of Proposition 1 at one k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IllConditioning {
    /// k, the number of dominant eigenvalues.
    pub k: usize,
    /// λ_{k+1}.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub lambda_k1: f64,
    /// d_k, see [`ill_conditioning_exponent`]: ∞ (JSON: "inf") when λ_{k+1} is 0 to rounding,
    /// `None` (JSON null) when λ₁ ≤ 0 or λ_{k+1} is below 0 beyond rounding.
    #[serde(with = "curvscope_hessian::non_finite::option")]
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
    #[serde(with = "curvscope_hessian::non_finite")]
    pub lambda1: f64,
    /// Tr(H).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub trace_h: f64,
    /// Condition 1 at k ∈ [`condition_ks`] up to (number of eigenvalues − 1).
    pub ill_conditioning: Vec<IllConditioning>,
    /// The smallest k with d_k > ½ among those computed ([`first_ill_conditioned_k`]);
    /// `None`: not reached within k = `ill_conditioning_k_max`.
    pub first_ill_conditioned_k: Option<usize>,
    /// The largest k condition 1 could be tested at (number of eigenvalues − 1).
    pub ill_conditioning_k_max: usize,
    /// Top eigenvalues left out of condition 1 because their Lanczos pairs did not converge
    /// ([`Self::over_converged`]); 0 where all did.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ill_conditioning_unconverged: usize,
    /// Condition 1 at the k ≤ `ill_conditioning_k_max` with the largest d_k (the last k with
    /// λ_{k+1} ≥ 0, d_k growing as λ_{k+1} falls), which the table of `ill_conditioning`
    /// need not hold; `None` when no d_k is defined (absent from records before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest_ill_conditioning: Option<IllConditioning>,
    /// Condition 2: â, see [`projection_coefficient`]; `None` when undefined.
    #[serde(with = "curvscope_hessian::non_finite::option")]
    pub projection_coefficient: Option<f64>,
    /// â·λ₁²·D/Tr(H)², see [`proposition1_bound`]; `None` when â is undefined.
    #[serde(with = "curvscope_hessian::non_finite::option")]
    pub bound: Option<f64>,
    /// The measured Tr(HΣ)/Tr(HΣ̄); `None` when Tr(HΣ̄) ≤ 0 ([`anisotropy_ratio`]).
    #[serde(with = "curvscope_hessian::non_finite::option")]
    pub ratio: Option<f64>,
    /// Tr(HΣ̄), the ratio's denominator ([`isotropic_trace_h_sigma`]); `None` only in records
    /// written before it was kept.
    #[serde(default)]
    #[serde(with = "curvscope_hessian::non_finite::option")]
    pub isotropic_trace_h_sigma: Option<f64>,
    /// bound ≤ ratio, to [`BOUND_RTOL`] relative; `None` when either is undefined.
    pub bound_holds: Option<bool>,
    /// H is indefinite (outside the proposition's assumptions: the bound need not hold), see
    /// [`negative_curvature`]; `None`: unknown.
    pub negative_curvature: Option<bool>,
}

/// Evaluates Proposition 1 from top Hessian eigenvalues (descending, λ₁ first), the smallest
/// eigenvalue if known (a top-k solver cannot see negative curvature by itself), Tr(H), Tr(Σ),
/// u₁ᵀΣu₁ and the measured Tr(HΣ).
///
/// ```
/// use curvscope_metrics::{proposition1, LambdaMin};
/// // The paper's 2-D toy: H eigenvalues 200, 20; Tr(Σ) = 4.4, u₁ᵀΣu₁ = 4, Tr(HΣ) = 808.
/// let lambda_min = LambdaMin { value: 20.0, converged: true };
/// let p = proposition1(&[200.0, 20.0], Some(lambda_min), 220.0, 4.4, 4.0, 808.0, 2);
/// assert!((p.projection_coefficient.unwrap() - 1.0).abs() < 1e-15);
/// assert_eq!((p.bound_holds, p.negative_curvature), (Some(true), Some(false)));
/// assert_eq!(p.ill_conditioning[0].k, 1);
/// ```
///
/// # Panics
/// If `eigenvalues` is empty.
pub fn proposition1(
    eigenvalues: &[f64],
    lambda_min: Option<LambdaMin>,
    trace_h: f64,
    trace_sigma: f64,
    u1_sigma_u1: f64,
    trace_h_sigma: f64,
    dim: usize,
) -> Proposition1 {
    let lambda1 = *eigenvalues.first().expect("at least one eigenvalue");
    let a_hat = projection_coefficient(u1_sigma_u1, trace_h, lambda1, trace_sigma);
    let bound = a_hat.map(|a| proposition1_bound(a, lambda1, trace_h, dim));
    let isotropic = isotropic_trace_h_sigma(trace_h, trace_sigma, dim);
    let ratio = anisotropy_ratio(trace_h_sigma, isotropic);
    Proposition1 {
        dim,
        lambda1,
        trace_h,
        ill_conditioning: Vec::new(),
        first_ill_conditioned_k: None,
        ill_conditioning_k_max: 0,
        ill_conditioning_unconverged: 0,
        largest_ill_conditioning: None,
        projection_coefficient: a_hat,
        bound,
        ratio,
        isotropic_trace_h_sigma: Some(isotropic),
        bound_holds: bound.zip(ratio).map(|(b, r)| !bound_exceeds_ratio(b, r)),
        negative_curvature: negative_curvature(eigenvalues, lambda_min),
    }
    .with_condition1_over(eigenvalues)
}

impl Proposition1 {
    /// Condition 1 evaluated over `eigenvalues` (descending, λ₁ first): the top k of
    /// [`proposition1`], or every eigenvalue where the whole spectrum is known. Only condition
    /// 1 is: â, the bound and the negative-curvature flag stay those of the top eigenpair
    /// (λ₁ and u₁ from one solver) and λ_min ([`Self::over_whole_spectrum`] decides the flag
    /// too).
    ///
    /// ```
    /// use curvscope_metrics::proposition1;
    /// // Top 2 of D = 100 cannot show λ_{k+1} < λ₁/10; all four eigenvalues can (k = 3).
    /// let p = proposition1(&[100.0, 50.0], None, 175.0, 1.0, 0.5, 10.0, 100);
    /// assert_eq!((p.first_ill_conditioned_k, p.ill_conditioning_k_max), (None, 1));
    /// let whole = p.clone().with_condition1_over(&[100.0, 50.0, 20.0, 5.0]);
    /// assert_eq!((whole.first_ill_conditioned_k, whole.ill_conditioning_k_max), (Some(3), 3));
    /// assert_eq!((whole.bound, whole.lambda1), (p.bound, p.lambda1));
    /// ```
    pub fn with_condition1_over(mut self, eigenvalues: &[f64]) -> Self {
        let dim = self.dim;
        let at = |k: usize| {
            let d = ill_conditioning_exponent(eigenvalues[0], eigenvalues[k], dim);
            IllConditioning {
                k,
                lambda_k1: eigenvalues[k],
                d,
                holds: d.is_some_and(|d| d > 0.5),
            }
        };
        self.ill_conditioning = condition_ks(eigenvalues.len().saturating_sub(1))
            .into_iter()
            .map(at)
            .collect();
        self.largest_ill_conditioning = (1..eigenvalues.len())
            .map(at)
            .filter(|c| c.d.is_some())
            .max_by(|a, b| a.d.unwrap().total_cmp(&b.d.unwrap()));
        self.first_ill_conditioned_k = first_ill_conditioned_k(eigenvalues, dim);
        self.ill_conditioning_k_max = eigenvalues.len().saturating_sub(1);
        self.ill_conditioning_unconverged = 0;
        self
    }

    /// Condition 1 over the first `converged` of `eigenvalues` only
    /// ([`curvscope_hessian::Eigenpairs::converged_prefix`]): an unconverged Ritz value lies
    /// below its eigenvalue, so a λ_(k+1) among them is too small and d_k too large — the
    /// direction that reads condition 1 as holding (top 5 of a D = 283 net at --max-krylov 6:
    /// λ₄ estimated 0.042 for 0.81, first k = 3 where the whole spectrum gives 66).
    ///
    /// ```
    /// use curvscope_metrics::proposition1;
    /// let p = proposition1(&[100.0, 50.0, 1.0], None, 175.0, 1.0, 0.5, 10.0, 100);
    /// assert_eq!(p.first_ill_conditioned_k, Some(2));
    /// let p = p.over_converged(&[100.0, 50.0, 1.0], 2);
    /// assert_eq!((p.first_ill_conditioned_k, p.ill_conditioning_unconverged), (None, 1));
    /// ```
    pub fn over_converged(self, eigenvalues: &[f64], converged: usize) -> Self {
        let converged = converged.min(eigenvalues.len());
        Proposition1 {
            ill_conditioning_unconverged: eigenvalues.len() - converged,
            ..self.with_condition1_over(&eigenvalues[..converged])
        }
    }

    /// Condition 1 and the sign of H over what is known of the spectrum: every eigenvalue where
    /// the `whole` spectrum is (descending; [`Self::over_whole_spectrum`]), else the leading
    /// `top` Ritz values that converged ([`curvscope_hessian::converged_prefix`] of their
    /// `residuals`, the run's `converged` and `tol`; [`Self::over_converged`]). A report is read
    /// so when it is made and again when a stored one is reused, so the two cannot drift apart.
    ///
    /// ```
    /// use curvscope_metrics::proposition1;
    /// let p = proposition1(&[100.0, 50.0, 1.0], None, 175.0, 1.0, 0.5, 10.0, 100);
    /// let top = p.clone().over_known_spectrum(None, &[100.0, 50.0, 1.0], &[0.0, 0.0, 5.0], false, 1e-6);
    /// assert_eq!(top.ill_conditioning_unconverged, 1);
    /// let whole = p.over_known_spectrum(Some(&[100.0, 50.0, -1.0]), &[100.0], &[0.0], false, 1e-6);
    /// assert_eq!(whole.negative_curvature, Some(true));
    /// ```
    pub fn over_known_spectrum(
        self,
        whole: Option<&[f64]>,
        top: &[f64],
        residuals: &[f64],
        converged: bool,
        tol: f64,
    ) -> Self {
        match whole {
            Some(whole) => self.over_whole_spectrum(whole),
            None => {
                let converged = curvscope_hessian::converged_prefix(top, residuals, converged, tol);
                self.over_converged(top, converged)
            }
        }
    }

    /// Whether condition 1 holds at a k ≪ D, as the proposition asks: at the first
    /// ill-conditioned k, k ≤ √D. Its conclusion ~ a·D^(2d−1) rests on Tr(H) ≤ k·λ₁ +
    /// (D − k)·λ_(k+1) < λ₁·(k + D^(1−d)) being of the order of λ₁·D^(1−d), and D^(1−d) < √D
    /// for d > ½; a larger k (the rank of a rank-deficient H, say) meets d_k > ½ without the
    /// growth with D that it stands for.
    ///
    /// ```
    /// use curvscope_metrics::proposition1;
    /// // D = 15, H of rank 10: λ₁₁ = 0 meets d_k > ½ at k = 10 > √15.
    /// let mut eigenvalues = vec![1.0; 10];
    /// eigenvalues.push(0.0);
    /// let p = proposition1(&eigenvalues, None, 10.0, 1.0, 0.5, 10.0, 15);
    /// assert_eq!(p.first_ill_conditioned_k, Some(10));
    /// assert!(!p.ill_conditioned_at_small_k());
    /// ```
    pub fn ill_conditioned_at_small_k(&self) -> bool {
        self.first_ill_conditioned_k
            .is_some_and(|k| k * k <= self.dim)
    }

    /// Where every eigenvalue of H is known (descending): condition 1 over all of them
    /// ([`Self::with_condition1_over`]) and the negative-curvature flag decided by them — the
    /// smallest is λ_min itself, so the flag is known even without a λ_min run. A flag already
    /// true stays true: a negative Ritz value is a Rayleigh quotient, which proves one.
    ///
    /// ```
    /// use curvscope_metrics::proposition1;
    /// // Top 2 and no λ_min: the sign of H is unknown; the whole spectrum shows −1.
    /// let p = proposition1(&[100.0, 50.0], None, 149.0, 1.0, 0.5, 10.0, 3);
    /// assert_eq!(p.negative_curvature, None);
    /// let whole = p.over_whole_spectrum(&[100.0, 50.0, -1.0]);
    /// assert_eq!(whole.negative_curvature, Some(true));
    /// ```
    pub fn over_whole_spectrum(self, eigenvalues: &[f64]) -> Self {
        let smallest = LambdaMin {
            value: *eigenvalues.last().expect("a spectrum has an eigenvalue"),
            converged: true,
        };
        let negative = match self.negative_curvature {
            Some(true) => Some(true),
            _ => negative_curvature(eigenvalues, Some(smallest)),
        };
        Proposition1 {
            negative_curvature: negative,
            ..self.with_condition1_over(eigenvalues)
        }
    }
}

/// For `skip_serializing_if`.
fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    /// The delta method against the spread of the quotient of two sampled Gaussian estimates.
    #[test]
    fn relative_stderr_is_the_spread_of_a_sampled_quotient() {
        let (a, b) = ((808.0, 8.0), (220.0, 4.4)); // 1% and 2%
        let predicted = relative_stderr(&[a, b]) * a.0 / b.0;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (x, y) = (
            Normal::new(a.0, a.1).unwrap(),
            Normal::new(b.0, b.1).unwrap(),
        );
        let n = 200_000;
        let q: Vec<f64> = (0..n)
            .map(|_| x.sample(&mut rng) / y.sample(&mut rng))
            .collect();
        let mean = q.iter().sum::<f64>() / n as f64;
        let sd = (q.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        // First order in 2% errors: the neglected terms are ~ (2%)² of the spread, and the
        // sampled sd itself varies by 1/√(2n) ≈ 0.16%.
        assert!(
            (sd / predicted - 1.0).abs() < 0.01,
            "sampled {sd}, delta method {predicted}"
        );
    }
}
