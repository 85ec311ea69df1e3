//! Expected sharpness E_{ν~N(0,σ²I)}[L(θ+ν)] − L(θ) (Neyshabur et al. 2017; Zhu et al. 2019,
//! Figs. 3 and 6), by seeded Monte Carlo.

use crate::monte_carlo::monte_carlo;
use curvscope_hessian::{dot, Estimate};
use curvscope_model::Objective;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Monte-Carlo settings for [`expected_sharpness`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharpnessOptions {
    /// Standard deviation σ of each coordinate of the perturbation ν.
    pub sigma: f64,
    /// Number of perturbations M (≥ 2).
    pub samples: usize,
    /// Seed; perturbation i is drawn from stream i of this seed.
    pub seed: u64,
}

impl Default for SharpnessOptions {
    /// The paper's setting: σ = 0.01, M = 1000.
    fn default() -> Self {
        Self {
            sigma: 0.01,
            samples: 1000,
            seed: 0,
        }
    }
}

/// Both sharpness variants, from the same M perturbations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectedSharpness {
    /// σ.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub sigma: f64,
    /// L(θ).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub base_loss: f64,
    /// E\[L(θ+ν)\] − L(θ), the definition (Neyshabur et al. 2017). For a quadratic it equals
    /// σ²·Tr(H)/2. Estimated as the mean of L(θ+ν) − L(θ) − ∇L(θ)ᵀν: the subtracted term has
    /// mean 0 exactly, so the estimate is unbiased, without the gradient's share of the noise.
    pub signed: Estimate,
    /// E|L(θ+ν) − L(θ)|, what the paper's released code computes: the mean of the raw changes.
    /// Its expectation is ≥ |`signed`'s| and, unlike it, counts loss decreases as sharpness too;
    /// the two estimates need not be so ordered (`signed`'s samples subtract ∇Lᵀν).
    pub absolute: Estimate,
    /// Whether `signed`'s samples subtracted ∇L(θ)ᵀν, as every record since 2026-12-03 does;
    /// false in the records made before (averages of L(θ+ν) − L(θ) alone: the same quantity
    /// with a larger error), which an analysis under the same options still reuses.
    #[serde(default)]
    pub gradient_term_subtracted: bool,
}

/// Expected sharpness at θ (Zhu et al. 2019, Figs. 3 and 6; Neyshabur et al. 2017's
/// definition): M perturbations ν ~ N(0, σ²I), evaluated in parallel (rayon). Each
/// ν is drawn from the (seed, index) stream and the sums run in index order, so the result is
/// bit-identical for a given seed whatever the thread count.
///
/// Example: see the crate-level documentation.
pub fn expected_sharpness<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    options: &SharpnessOptions,
) -> ExpectedSharpness {
    let base_loss = objective.loss(theta);
    let changes = gaussian_loss_changes(
        objective,
        theta,
        base_loss,
        |_| options.sigma,
        options.samples,
        options.seed,
    );
    let absolute: Vec<f64> = changes.iter().map(|c| c.change.abs()).collect();
    ExpectedSharpness {
        sigma: options.sigma,
        base_loss,
        signed: mean_without_gradient_term(&changes, options.seed),
        absolute: Estimate::from_samples(&absolute, options.seed),
        gradient_term_subtracted: true,
    }
}

/// L(θ+ν) − L(θ) for one perturbation ν, and the gradient term ∇L(θ)ᵀν in it.
pub(crate) struct LossChange {
    pub change: f64,
    pub linear: f64,
}

/// E\[L(θ+ν)\] − L(θ) as the mean of L(θ+ν) − L(θ) − ∇L(θ)ᵀν: ν has mean 0, so the subtracted
/// term's mean is exactly 0 (a control variate) and the estimate is unbiased; its variance
/// loses the term's σ²‖∇L‖², most of the Monte-Carlo noise away from a minimum (the demo's SGD
/// after 50 steps, before θ₀'s own seed: ‖∇L‖ = 2.6, σ = 0.01, M = 50, standard error 4.2e-3 →
/// 1.3e-3).
pub(crate) fn mean_without_gradient_term(changes: &[LossChange], seed: u64) -> Estimate {
    let centred: Vec<f64> = changes.iter().map(|c| c.change - c.linear).collect();
    Estimate::from_samples(&centred, seed)
}

/// L(θ+ν_m) − `base_loss` and ∇L(θ)ᵀν_m for m in 0..`samples`, ν_m with independent
/// coordinates ν_i ~ N(0, `std(i)`²), ν_m drawn from stream m of `seed` (in parallel in one
/// process, returned in order); one gradient at θ besides the `samples` losses.
/// Shared by [`expected_sharpness`] (std = σ) and average adaptive sharpness (std = ρ|θ_i|).
pub(crate) fn gaussian_loss_changes<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    base_loss: f64,
    std: impl Fn(usize) -> f64 + Sync,
    samples: usize,
    seed: u64,
) -> Vec<LossChange> {
    let gradient = objective.grad(theta);
    monte_carlo(samples, seed, objective.collective().is_none(), |rng| {
        let nu: Vec<f64> = (0..theta.len())
            .map(|i| std(i) * rng.sample::<f64, _>(StandardNormal))
            .collect();
        let perturbed: Vec<f64> = theta.iter().zip(&nu).map(|(t, n)| t + n).collect();
        LossChange {
            change: objective.loss(&perturbed) - base_loss,
            linear: dot(&gradient, &nu),
        }
    })
}
