//! Sharpness measures beyond expected sharpness: Keskar et al.'s ε-sharpness and the average-
//! and worst-case adaptive sharpness of Andriushchenko et al. (2023), on the full-batch loss.
//!
//! All worst cases are maximisations of L(θ + c ⊙ γ) over a ball ‖γ‖_p ≤ r with a fixed
//! per-coordinate scale c, solved by the one projected ascent of [`worst_case_sharpness`] in
//! the scaled coordinates γ. Any ascent only finds a lower bound on the true maximum, so every
//! worst-case value here is a lower bound (exact on the quadratics of the tests).

use crate::monte_carlo::probe_rng;
use crate::sharpness::{gaussian_loss_changes, mean_without_gradient_term};
use curvscope_hessian::{norm as l2_norm, Estimate};
use curvscope_model::Objective;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// The norm of the ball ‖δ ⊘ c‖_p ≤ r the perturbation δ ranges over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerturbationNorm {
    /// p = 2: normalised gradient steps, then rescaling onto the ball.
    L2,
    /// p = ∞ (a box): sign steps, then clipping to the box.
    Linf,
}

/// Settings of the projected ascent behind every worst-case measure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AscentOptions {
    /// Number of ascent steps (one gradient and one loss evaluation each).
    pub iterations: usize,
    /// Step length in units of the radius r, in the scaled coordinates γ = δ ⊘ c: an ℓ∞ step
    /// moves every γ_i by `step`·r, an ℓ2 step moves γ by `step`·r along the gradient.
    pub step: f64,
    /// Seed of the random start (stream 0): γ uniform in the box for ℓ∞, uniform on the sphere
    /// ‖γ‖₂ = r of the coordinates with c_i > 0 for ℓ2 (a start at δ = 0 would stay there at a
    /// minimum, where ∇L = 0).
    pub seed: u64,
}

impl Default for AscentOptions {
    /// 20 steps of ½·r, Andriushchenko et al.'s iteration count (their Auto-PGD starts from
    /// step 2r and halves it; a fixed ½r reaches the box's corners from anywhere in 4 steps).
    fn default() -> Self {
        Self {
            iterations: 20,
            step: 0.5,
            seed: 0,
        }
    }
}

/// The result of one worst-case search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorstCaseSharpness {
    /// The radius r.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub radius: f64,
    /// The norm of the ball.
    pub norm: PerturbationNorm,
    /// L(θ).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub base_loss: f64,
    /// max L(θ+δ) − L(θ) over δ = 0, the start and every iterate: a lower bound on the maximum
    /// over the ball, ≥ 0 (δ = 0 lies in it); NaN when the loss is no number at one of them
    /// (an overflow: the maximum is then not known).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub sharpness: f64,
    /// The δ = c ⊙ γ that attains `sharpness` (D numbers: not serialised, empty when read back).
    #[serde(skip)]
    #[serde(with = "curvscope_hessian::non_finite::vec")]
    pub perturbation: Vec<f64>,
    /// Gradient evaluations spent (= iterations).
    pub gradients: usize,
}

/// Worst-case sharpness max_{‖δ ⊘ c‖_p ≤ r} L(θ+δ) − L(θ) for a per-coordinate `scale` c ≥ 0
/// (a coordinate with c_i = 0 stays fixed), by projected ascent on γ = δ ⊘ c (the ball is then
/// ‖γ‖_p ≤ r and ∇_γ = c ⊙ ∇L):
/// ℓ∞: γ ← clip(γ + s·r·sign(c ⊙ ∇L), −r, r); ℓ2: γ ← P(γ + s·r·(c ⊙ ∇L)/‖c ⊙ ∇L‖₂) with P the
/// rescaling onto ‖γ‖₂ ≤ r. Andriushchenko et al. (2023, code `weight_ascent_step_momentum`) take
/// the same ℓ∞ step; their ℓ2 step moves δ along c ⊙ ∇L/‖∇L‖ and projects δ Euclidean-ly onto
/// the ellipsoid, so their iterates differ from these while the maximum sought is the same.
/// Returns the best iterate, a lower bound on the true maximum. Panics unless `radius` ≥ 0
/// and `scale` has θ's length.
///
/// Example: see the crate-level documentation ([`adaptive_sharpness_worst`] and
/// [`epsilon_sharpness`] call it with their scales).
pub fn worst_case_sharpness<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    scale: &[f64],
    radius: f64,
    norm: PerturbationNorm,
    options: &AscentOptions,
) -> WorstCaseSharpness {
    assert!(radius >= 0.0, "radius {radius} < 0");
    assert_eq!(scale.len(), theta.len(), "one scale per coordinate");
    let base_loss = objective.loss(theta);
    let perturb =
        |gamma: &[f64]| -> Vec<f64> { gamma.iter().zip(scale).map(|(g, c)| g * c).collect() };
    let at = |delta: &[f64]| -> Vec<f64> { theta.iter().zip(delta).map(|(t, d)| t + d).collect() };
    let mut rng = probe_rng(options.seed, 0);
    let mut gamma: Vec<f64> = match norm {
        PerturbationNorm::Linf => (0..theta.len())
            .map(|_| radius * rng.random_range(-1.0..=1.0))
            .collect(),
        PerturbationNorm::L2 => {
            // Only on coordinates that can move (c_i ≠ 0): a γ_i where c_i = 0 changes no δ_i
            // yet takes its share of the radius, at the start and after every projection.
            // Every z_i is drawn, so a seed gives the same start wherever c has no zero.
            let z: Vec<f64> = scale
                .iter()
                .map(|c| {
                    let z = rng.sample::<f64, _>(StandardNormal);
                    if *c == 0.0 {
                        0.0
                    } else {
                        z
                    }
                })
                .collect();
            let n = l2_norm(&z);
            if n > 0.0 {
                z.iter().map(|z| radius * z / n).collect()
            } else {
                z
            }
        }
    };
    // δ = 0 is in the ball, so the maximum is at least 0 (at a concave θ every iterate may lower
    // the loss); a NaN anywhere stays, as the maximum over a ball holding it is not known.
    let (mut best, mut best_delta) = (0.0, vec![0.0; theta.len()]);
    let mut consider = |delta: Vec<f64>| {
        let change = objective.loss(&at(&delta)) - base_loss;
        if change.is_nan() || change > best {
            best = change;
            best_delta = delta;
        }
    };
    consider(perturb(&gamma));
    let step = options.step * radius;
    for _ in 0..options.iterations {
        let delta = perturb(&gamma);
        let grad = objective.grad(&at(&delta));
        let ascent: Vec<f64> = grad.iter().zip(scale).map(|(g, c)| g * c).collect();
        match norm {
            PerturbationNorm::Linf => {
                for (g, a) in gamma.iter_mut().zip(&ascent) {
                    let s = if *a == 0.0 { 0.0 } else { a.signum() };
                    *g = (*g + step * s).clamp(-radius, radius);
                }
            }
            PerturbationNorm::L2 => {
                let n = l2_norm(&ascent);
                if n > 0.0 {
                    for (g, a) in gamma.iter_mut().zip(&ascent) {
                        *g += step * a / n;
                    }
                }
                let length = l2_norm(&gamma);
                if length > radius {
                    gamma.iter_mut().for_each(|g| *g *= radius / length);
                }
            }
        }
        consider(perturb(&gamma));
    }
    WorstCaseSharpness {
        radius,
        norm,
        base_loss,
        sharpness: best,
        perturbation: best_delta,
        gradients: options.iterations,
    }
}

/// Settings of [`epsilon_sharpness`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsilonSharpnessOptions {
    /// ε, the box's relative half-width (Keskar et al. use 1e-3 and 5e-4).
    pub epsilon: f64,
    /// The projected (sign-step) ascent over the box.
    pub ascent: AscentOptions,
}

impl Default for EpsilonSharpnessOptions {
    /// ε = 1e-3 (Keskar et al.'s first setting) and [`AscentOptions::default`].
    fn default() -> Self {
        Self {
            epsilon: 1e-3,
            ascent: AscentOptions::default(),
        }
    }
}

/// Keskar et al.'s ε-sharpness and the search behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsilonSharpness {
    /// ε.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub epsilon: f64,
    /// (max L(θ+δ) − L(θ)) / (1 + L(θ)) × 100, Keskar et al.'s Metric 2.1 (a lower bound).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub normalised: f64,
    /// The unnormalised search: `sharpness` = max L(θ+δ) − L(θ) over the box, radius ε.
    pub worst_case: WorstCaseSharpness,
}

/// ε-sharpness of Keskar et al., "On Large-Batch Training for Deep Learning: Generalization Gap
/// and Sharp Minima" (ICLR 2017), Metric 2.1 with A = I (the full space):
/// φ(ε) = (max_{δ ∈ C_ε} L(θ+δ) − L(θ)) / (1 + L(θ)) × 100,
/// C_ε = {δ : |δ_i| ≤ ε(|θ_i| + 1)}.
/// Keskar et al. approximate the max with a few (10) iterations of L-BFGS-B; here it is the projected
/// sign-step ascent of [`worst_case_sharpness`] (scale c_i = |θ_i| + 1, radius ε, ℓ∞), whose
/// best iterate is a lower bound on the max, so the value is a lower bound on φ(ε).
///
/// Example: see the crate-level documentation.
pub fn epsilon_sharpness<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    options: &EpsilonSharpnessOptions,
) -> EpsilonSharpness {
    let scale: Vec<f64> = theta.iter().map(|t| t.abs() + 1.0).collect();
    let worst_case = worst_case_sharpness(
        objective,
        theta,
        &scale,
        options.epsilon,
        PerturbationNorm::Linf,
        &options.ascent,
    );
    EpsilonSharpness {
        epsilon: options.epsilon,
        normalised: worst_case.sharpness / (1.0 + worst_case.base_loss) * 100.0,
        worst_case,
    }
}

/// Settings of [`adaptive_sharpness_worst`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveWorstOptions {
    /// ρ, the radius of ‖δ ⊘ |θ|‖_p ≤ ρ.
    pub rho: f64,
    /// The projected ascent.
    pub ascent: AscentOptions,
}

/// Worst-case adaptive sharpness of Andriushchenko et al., "A Modern Look at the Relationship
/// between Sharpness and Generalization" (ICML 2023), with c = |θ| (their adaptive scaling:
/// elementwise |θ| with no added constant, as in their code, `sharpness.py`) on the full batch
/// (their m-sharpness with m = N; they average over batches of m):
/// S_max^ρ(θ) = max_{‖δ ⊘ |θ|‖_p ≤ ρ} L(θ+δ) − L(θ), p ∈ {2, ∞}.
/// Coordinates with θ_i = 0 are not perturbed. Computed by [`worst_case_sharpness`]: a lower
/// bound on the max. They use Auto-PGD (`eval_APGD_sharpness`: momentum 0.75, step 2ρ halved
/// when progress stalls; 20 iterations in their README's example) from a random start (ℓ∞:
/// uniform in the box, as here; ℓ2: ρ|θ| ⊙ z, z ~ N(0, I), where this starts on the sphere of
/// the coordinates with θ_i ≠ 0).
///
/// Example: see the crate-level documentation.
pub fn adaptive_sharpness_worst<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    norm: PerturbationNorm,
    options: &AdaptiveWorstOptions,
) -> WorstCaseSharpness {
    let scale: Vec<f64> = theta.iter().map(|t| t.abs()).collect();
    worst_case_sharpness(objective, theta, &scale, options.rho, norm, &options.ascent)
}

/// Settings of [`adaptive_sharpness_average`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveAverageOptions {
    /// ρ: δ_i ~ N(0, ρ²θ_i²).
    pub rho: f64,
    /// Number of perturbations M (≥ 2).
    pub samples: usize,
    /// Seed; perturbation m is drawn from stream m of this seed.
    pub seed: u64,
}

/// Average-case adaptive sharpness and L(θ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveAverageSharpness {
    /// ρ.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub rho: f64,
    /// L(θ).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub base_loss: f64,
    /// E\[L(θ+δ)\] − L(θ), Monte Carlo with its standard error (the mean of
    /// L(θ+δ) − L(θ) − ∇L(θ)ᵀδ, as for expected sharpness).
    pub value: Estimate,
    /// As [`ExpectedSharpness::gradient_term_subtracted`](crate::ExpectedSharpness).
    #[serde(default)]
    pub gradient_term_subtracted: bool,
}

/// Average-case adaptive sharpness of Andriushchenko et al. (ICML 2023) with c = |θ| on the
/// full batch: S_avg^ρ(θ) = E_{δ ~ N(0, ρ² diag(θ²))}[L(θ+δ)] − L(θ) (their code,
/// `eval_average_sharpness`, draws δ = ρ|θ| ⊙ z, z ~ N(0, I), as here). For a quadratic with Hessian A it is ½ρ² Σ_i A_ii θ_i².
/// M seeded perturbations, evaluated in parallel, bit-identical for a seed whatever the
/// thread count (the machinery of [`expected_sharpness`](crate::expected_sharpness)).
///
/// Example: see the crate-level documentation.
pub fn adaptive_sharpness_average<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    options: &AdaptiveAverageOptions,
) -> AdaptiveAverageSharpness {
    let base_loss = objective.loss(theta);
    let changes = gaussian_loss_changes(
        objective,
        theta,
        base_loss,
        |i| options.rho * theta[i].abs(),
        options.samples,
        options.seed,
    );
    AdaptiveAverageSharpness {
        rho: options.rho,
        base_loss,
        value: mean_without_gradient_term(&changes, options.seed),
        gradient_term_subtracted: true,
    }
}
