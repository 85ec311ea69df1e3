//! How often ±1, 2, 3 stated standard errors cover the truth, for the stochastic Tr(HΣ) and the
//! expected sharpness, on a quadratic where both are known exactly: the measurement behind
//! README's coverage figures (committed with its output in `bench/results/2026-12-07-coverage/`).
//!
//! ```sh
//! cargo run --release -p curvscope-metrics --example coverage -- 1000 1 > exponent-1.md
//! ```
//! The arguments: the number of seeds (default 1,000) and the spectrum's exponent α (default 1).
//! Prints a Markdown table; asserts nothing (the tests pin the estimators; this measures how far
//! their stated errors can be trusted).
//!
//! The objective: D = 30, N = 200 samples, ℓ_i(θ) = ½ Σ_j λ_j (θ_j − c_ij)² at θ = 0, with a
//! power-law spectrum λ_j = j^(−α), so H = diag(λ) and g_i = diag(λ)(θ − c_i). Two noises:
//! - **aligned**: c_ij ~ N(0, 1), so Σ ≈ H² lies along the top curvature (the paper's case):
//!   a probe vᵀHv is then close to λ₁³·χ²₁, right-skewed, and so are a few tens of them;
//! - **isotropic**: c_ij ~ N(0, 1/λ_j²), so Σ ≈ I, beside it for contrast.
//!
//! The truth: Tr(HΣ) exactly ([`trace_h_sigma_exact`], N per-sample HVPs); the expected
//! sharpness σ²·Tr(H)/2 (the loss is quadratic, and the estimator subtracts ∇Lᵀν). Each
//! estimator runs once per seed s = 0, 1, …; its rows for different probe counts share seeds
//! (a seed's first probes are the same), so rows are not independent of each other.

use std::error::Error;

use curvscope_metrics::{
    expected_sharpness, noise_statistics, trace_h_sigma_exact, trace_h_sigma_stochastic, Estimate,
    KnownTerms, SharpnessOptions,
};
use curvscope_model::Objective;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

const DIM: usize = 30;
const SAMPLES: usize = 200;

/// ℓ_i(θ) = ½ Σ_j λ_j (θ_j − c_ij)²: H = diag(λ) exactly, Σ the covariance of diag(λ)c_i.
struct DiagonalQuadratic {
    lambda: Vec<f64>,
    /// c_i, row-major N×D.
    centres: Vec<f64>,
}

impl DiagonalQuadratic {
    /// λ_j = j^(−`exponent`) and c_ij ~ N(0, `spread(λ_j)`²), drawn from seed 0.
    fn power_law(exponent: f64, spread: impl Fn(f64) -> f64) -> Self {
        let lambda: Vec<f64> = (1..=DIM).map(|j| (j as f64).powf(-exponent)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let centres = (0..SAMPLES * DIM)
            .map(|k| spread(lambda[k % DIM]) * rng.sample::<f64, _>(StandardNormal))
            .collect();
        Self { lambda, centres }
    }

    fn centre(&self, i: usize) -> &[f64] {
        &self.centres[i * DIM..(i + 1) * DIM]
    }

    /// g_i = diag(λ)(θ − c_i).
    fn sample_grad(&self, theta: &[f64], i: usize) -> Vec<f64> {
        let c = self.centre(i);
        (0..DIM)
            .map(|j| self.lambda[j] * (theta[j] - c[j]))
            .collect()
    }
}

impl Objective for DiagonalQuadratic {
    fn dim(&self) -> usize {
        DIM
    }
    fn n_samples(&self) -> usize {
        SAMPLES
    }
    fn per_sample_losses(&self, theta: &[f64]) -> Vec<f64> {
        (0..SAMPLES)
            .map(|i| {
                let c = self.centre(i);
                (0..DIM)
                    .map(|j| 0.5 * self.lambda[j] * (theta[j] - c[j]).powi(2))
                    .sum()
            })
            .collect()
    }
    fn weighted_grad(&self, theta: &[f64], w: &[f64]) -> Vec<f64> {
        let mut sum = vec![0.0; DIM];
        for (i, wi) in w.iter().enumerate() {
            for (s, g) in sum.iter_mut().zip(self.sample_grad(theta, i)) {
                *s += wi * g;
            }
        }
        sum
    }
    fn hvp(&self, _theta: &[f64], v: &[f64]) -> Vec<f64> {
        self.lambda.iter().zip(v).map(|(l, v)| l * v).collect()
    }
    fn per_sample_grads_range(&self, theta: &[f64], start: usize, len: usize) -> Vec<f64> {
        (start..start + len)
            .flat_map(|i| self.sample_grad(theta, i))
            .collect()
    }
}

/// z = (estimate − truth)/stated error over the seeds, summarised as one table row.
fn row(label: &str, truth: f64, estimates: &[Estimate]) -> String {
    let z: Vec<f64> = estimates
        .iter()
        .map(|e| (e.value - truth) / e.stderr)
        .collect();
    let runs = z.len() as f64;
    let within = |k: f64| z.iter().filter(|z| z.abs() <= k).count() as f64 / runs;
    let mean = z.iter().sum::<f64>() / runs;
    let sd = (z.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / (runs - 1.0)).sqrt();
    let below = z.iter().filter(|z| **z < -2.0).count();
    let above = z.iter().filter(|z| **z > 2.0).count();
    format!(
        "| {label} | {} | {mean:+.2} | {sd:.2} | {:.3} / {:.3} / {:.3} | {below} / {above} |",
        z.len(),
        within(1.0),
        within(2.0),
        within(3.0),
    )
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().map_or(Ok(1000), |s| s.parse())?;
    let exponent: f64 = args.next().map_or(Ok(1.0), |s| s.parse())?;
    // A spread needs two runs; λ_j = j^(−α) must stay a positive finite number for j ≤ D.
    if seeds < 2 || !(0.0..=100.0).contains(&exponent) {
        return Err(format!(
            "usage: coverage [SEEDS ≥ 2] [EXPONENT in 0..=100]; got {seeds} seeds, exponent {exponent}"
        )
        .into());
    }
    let theta = vec![0.0; DIM];
    println!("D = {DIM}, N = {SAMPLES}, λ_j = j^(−{exponent}), θ = 0, {seeds} seeds per row\n");
    println!(
        "| estimator | runs | mean z | sd z | within 1 / 2 / 3 errors | below / above 2 errors |"
    );
    println!("|---|---:|---:|---:|---|---|");
    for (noise, spread) in [
        ("aligned, Σ ≈ H²", (|_| 1.0) as fn(f64) -> f64),
        ("isotropic, Σ ≈ I", |l| 1.0 / l),
    ] {
        let objective = DiagonalQuadratic::power_law(exponent, spread);
        let truth = trace_h_sigma_exact(&objective, &theta, SAMPLES).value;
        // The top eigenpair (e₁, λ₁) and u₁ᵀΣu₁, known exactly, as analyze's top-k gives them
        // (`noise_statistics`): the control variate of `KnownTerms`.
        let mut e1 = vec![0.0; DIM];
        e1[0] = 1.0;
        let sigma11 = noise_statistics(&objective, &theta, std::slice::from_ref(&e1), SAMPLES)
            .quadratic_forms[0];
        let known_top = KnownTerms {
            eigenvalues: &objective.lambda[..1],
            eigenvectors: std::slice::from_ref(&e1),
            u_sigma_u: std::slice::from_ref(&sigma11),
        };
        for (known_label, known) in [("", KnownTerms::default()), (", top 1 known", known_top)] {
            for probes in [5, 10, 20, 50, 100] {
                let estimates: Vec<Estimate> = (0..seeds)
                    .map(|s| trace_h_sigma_stochastic(&objective, &theta, probes, s, known))
                    .collect();
                let label = format!("Tr(HΣ), {noise}{known_label}, {probes} probes");
                println!("{}", row(&label, truth, &estimates));
            }
        }
    }
    // The sharpness's noise does not depend on Σ: one objective serves.
    let objective = DiagonalQuadratic::power_law(exponent, |_| 1.0);
    let sigma = SharpnessOptions::default().sigma;
    let truth = sigma * sigma * objective.lambda.iter().sum::<f64>() / 2.0;
    for samples in [5, 10, 20, 30, 100] {
        let estimates: Vec<Estimate> = (0..seeds)
            .map(|seed| {
                let options = SharpnessOptions {
                    sigma,
                    samples,
                    seed,
                };
                expected_sharpness(&objective, &theta, &options).signed
            })
            .collect();
        let label = format!("expected sharpness, σ = {sigma}, M = {samples}");
        println!("{}", row(&label, truth, &estimates));
    }
    Ok(())
}
