//! The escaping indicator Tr(HΣ) (Zhu et al. 2019, Section 3: to second order the expected loss
//! increase per step of noise with covariance Σ near a minimum is ½·Tr(HΣ)).

use crate::covariance::{centred_gaussian_weights, stream_deviations};
use crate::monte_carlo::monte_carlo;
use curvscope_hessian::{dot, Estimate};
use curvscope_model::Objective;

/// Tr(HΣ) = (1/N) Σ_i (g_i − ḡ)ᵀ H (g_i − ḡ), the escaping indicator (Zhu et al. 2019,
/// Sec. 3), exactly: N + 1 Hessian-vector products on the per-sample gradients, streamed
/// `chunk` at a time, each chunk's forms batched through
/// [`Objective::hessian_quadratic_forms`] (on all rayon threads for the burn networks).
///
/// With deviations d_i = g_i − K from K = ∇L(θ) and m = ḡ − K (see `stream_deviations`),
/// Tr(HΣ) = (1/N) Σ_i d_iᵀHd_i − mᵀHm: the one extra HVP buys a single pass over the data.
/// `probes` of the result counts the N per-sample HVPs.
///
/// Example: see the crate-level documentation.
pub fn trace_h_sigma_exact<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    chunk: usize,
) -> Estimate {
    let d = objective.dim();
    let n = objective.n_samples();
    let mut sum = [0.0];
    let (_, m) = stream_deviations(objective, theta, chunk, None, &[], &mut |rows, _| {
        let rows: Vec<Vec<f64>> = rows.chunks(d).map(<[f64]>::to_vec).collect();
        // One by one in sample order, not a chunk's subtotal first: in one process the sum is
        // then the same whatever the chunk (`analyze --max-memory` may lower it under one
        // options hash). Across MPI processes the all-reduce's order is MPI's.
        for form in objective.hessian_quadratic_forms(theta, &rows) {
            sum[0] += form;
        }
    });
    objective.sum_over_processes(&mut sum);
    let correction = dot(&m, &objective.hvp(theta, &m));
    Estimate::exact(sum[0] / n as f64 - correction, n)
}

/// Terms λ_j·u_jᵀΣu_j of Tr(HΣ) = Σ_j λ_j·u_jᵀΣu_j (the sum over all of H's eigenpairs) that
/// are known exactly: Lanczos's top eigenpairs of H and the streamed u_jᵀΣu_j
/// ([`crate::noise_statistics`]'s `quadratic_forms`). [`trace_h_sigma_stochastic`] adds them
/// exactly and probes only the rest.
#[derive(Clone, Copy, Debug, Default)]
pub struct KnownTerms<'a> {
    /// λ_j.
    pub eigenvalues: &'a [f64],
    /// u_j, of length D each.
    pub eigenvectors: &'a [Vec<f64>],
    /// u_jᵀΣu_j, exactly.
    pub u_sigma_u: &'a [f64],
}

impl KnownTerms<'_> {
    /// Σ_j λ_j·u_jᵀΣu_j.
    fn sum(&self) -> f64 {
        self.eigenvalues
            .iter()
            .zip(self.u_sigma_u)
            .map(|(l, q)| l * q)
            .sum()
    }

    /// Σ_j λ_j·(u_jᵀv)²: the known terms' share of one probe vᵀHv.
    fn probed(&self, v: &[f64]) -> f64 {
        self.eigenvalues
            .iter()
            .zip(self.eigenvectors)
            .map(|(l, u)| l * dot(u, v).powi(2))
            .sum()
    }
}

/// Tr(HΣ), the escaping indicator (Zhu et al. 2019, Sec. 3), without per-sample gradients, by
/// the multiplicative-noise identity (Wu et al. 2020): the mean of vᵀHv over `probes` (≥ 2)
/// draws of v = Σ_i w_i g_i = `weighted_grad(θ, w)`, with
/// w = (ε − mean(ε)·1)/√N, ε ~ N(0, I_N) ([`crate::centred_gaussian_weights`]) seeded per
/// probe from (`seed`, probe index), `known` terms taken out of each probe and added exactly.
/// Costs one weighted backward pass and one HVP per probe, run in parallel; bit-reproducible
/// for a seed.
///
/// Why E\[vᵀHv\] = Tr(HΣ): Σ_i w_i = 0, so v = Σ_i w_i (g_i − ḡ) = G_cᵀw with G_c the centred
/// gradients (rows g_i − ḡ, so 1ᵀG_c = 0). With P = I − 11ᵀ/N (symmetric, idempotent),
/// w = Pε/√N gives E\[wwᵀ\] = P E\[εεᵀ\] P / N = P/N, hence
/// E\[vvᵀ\] = G_cᵀ P G_c / N = (G_cᵀG_c − G_cᵀ1 1ᵀG_c/N)/N = G_cᵀG_c/N = Σ, and
/// E\[vᵀHv\] = Tr(H E\[vvᵀ\]) = Tr(HΣ). (v is Gaussian, so Var(vᵀHv) = 2·Tr((HΣ)²) when H is
/// symmetric.)
///
/// Why the known terms: each probe is vᵀHv − Σ_j λ_j(u_jᵀv)², and Σ_j λ_j·u_jᵀΣu_j is added
/// to the mean. E\[(u_jᵀv)²\] = u_jᵀΣu_j exactly, so this is a control variate: unbiased for
/// any λ_j and u_j, however rough. With H's top eigenpairs a probe is vᵀH_rv,
/// H_r = H − Σ_j λ_j u_j u_jᵀ, of variance 2·Tr((H_rΣ)²). That matters where the noise lines up
/// with the curvature (the paper's case): there vᵀHv is close to λ₁u₁ᵀΣu₁·χ²₁, so a few tens
/// of plain probes are skewed, and their sample standard error is too small in just those runs
/// whose mean is low (on a rank-one HΣ, 5% of 20-probe runs lie more than 3 stated errors below
/// the truth, not 0.13%). [`KnownTerms::default`] (none) gives the plain estimator.
///
/// Example: see the crate-level documentation.
pub fn trace_h_sigma_stochastic<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    probes: usize,
    seed: u64,
    known: KnownTerms,
) -> Estimate {
    let n = objective.n_samples();
    assert!(
        known.eigenvectors.len() == known.eigenvalues.len()
            && known.u_sigma_u.len() == known.eigenvalues.len(),
        "one eigenvector and one u_jᵀΣu_j per known eigenvalue"
    );
    let samples = monte_carlo(probes, seed, objective.collective().is_none(), |rng| {
        let w = centred_gaussian_weights(n, (n as f64).sqrt().recip(), rng);
        let v = objective.weighted_grad(theta, &w);
        dot(&v, &objective.hvp(theta, &v)) - known.probed(&v)
    });
    let mut estimate = Estimate::from_samples(&samples, seed);
    estimate.value += known.sum();
    estimate
}
