//! The 2-D toy of Zhu et al. (2019) at w = (1, 1), against population values derived in closed
//! form from H and Cov(x).

use crate::objectives::{assert_rel, dense_top};
use curvscope_metrics::{
    anisotropy_ratio, isotropic_trace_h_sigma, noise_statistics, projection_coefficient,
    proposition1, trace_h_sigma_exact, trace_h_sigma_stochastic, KnownTerms, LambdaMin,
};
use curvscope_model::Objective;
use nalgebra::{Matrix2, Vector2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::FRAC_PI_4;

/// Per-sample loss min{10(c·a − s·b)² + 100(c·a + s·b)², (w₁−x₁+1)² + (w₂−x₂+1)²},
/// a = w₁−x₁−1, b = w₂−x₂−1, c = s = cos(π/4).
struct Toy {
    x: Vec<Vector2<f64>>,
}

/// (loss, gradient, Hessian, first branch active) of one sample.
fn sample_parts(w: &[f64], x: &Vector2<f64>) -> (f64, Vector2<f64>, Matrix2<f64>, bool) {
    let (c, s) = (FRAC_PI_4.cos(), FRAC_PI_4.sin());
    let (a, b) = (w[0] - x[0] - 1.0, w[1] - x[1] - 1.0);
    let (p, q) = (c * a - s * b, c * a + s * b);
    let sharp = 10.0 * p * p + 100.0 * q * q;
    let (a2, b2) = (w[0] - x[0] + 1.0, w[1] - x[1] + 1.0);
    let flat = a2 * a2 + b2 * b2;
    if sharp <= flat {
        // ∂p/∂(a, b) = (c, −s), ∂q/∂(a, b) = (c, s).
        let (dp, dq) = (Vector2::new(c, -s), Vector2::new(c, s));
        (
            sharp,
            20.0 * p * dp + 200.0 * q * dq,
            20.0 * dp * dp.transpose() + 200.0 * dq * dq.transpose(),
            true,
        )
    } else {
        (
            flat,
            2.0 * Vector2::new(a2, b2),
            2.0 * Matrix2::identity(),
            false,
        )
    }
}

impl Objective for Toy {
    fn dim(&self) -> usize {
        2
    }
    fn n_samples(&self) -> usize {
        self.x.len()
    }
    fn per_sample_losses(&self, w: &[f64]) -> Vec<f64> {
        self.x.iter().map(|x| sample_parts(w, x).0).collect()
    }
    fn weighted_grad(&self, w: &[f64], weights: &[f64]) -> Vec<f64> {
        let g: Vector2<f64> = self
            .x
            .iter()
            .zip(weights)
            .map(|(x, c)| *c * sample_parts(w, x).1)
            .sum();
        vec![g[0], g[1]]
    }
    fn hvp(&self, w: &[f64], v: &[f64]) -> Vec<f64> {
        self.hvps(w, &[v.to_vec()]).remove(0)
    }
    /// H is an O(N) sum: build it once per batch.
    fn hvps(&self, w: &[f64], vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let h: Matrix2<f64> = self
            .x
            .iter()
            .map(|x| sample_parts(w, x).2)
            .sum::<Matrix2<f64>>()
            / self.x.len() as f64;
        vs.iter()
            .map(|v| (h * Vector2::new(v[0], v[1])).as_slice().to_vec())
            .collect()
    }
    fn per_sample_grads_range(&self, w: &[f64], start: usize, len: usize) -> Vec<f64> {
        self.x[start..start + len]
            .iter()
            .flat_map(|x| sample_parts(w, x).1.iter().copied().collect::<Vec<_>>())
            .collect()
    }
}

/// K, the rotation by π/4; data rows are x = 10⁻²·(z ⊙ (√10, 1))·K.
fn rotation() -> Matrix2<f64> {
    let (c, s) = (FRAC_PI_4.cos(), FRAC_PI_4.sin());
    Matrix2::new(c, -s, s, c)
}

/// Cov(x) = Kᵀ·diag(10, 1)·K·10⁻⁴ for the row vector x = (z ⊙ (√10, 1))·K·10⁻².
fn population_cov() -> Matrix2<f64> {
    let k = rotation();
    k.transpose() * Matrix2::new(10.0, 0.0, 0.0, 1.0) * k * 1e-4
}

fn toy(n: usize, seed: u64) -> Toy {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = rotation();
    let x = (0..n)
        .map(|_| {
            let z: (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
            (nalgebra::RowVector2::new(10f64.sqrt() * z.0, z.1) * k * 1e-2).transpose()
        })
        .collect();
    Toy { x }
}

const W: [f64; 2] = [1.0, 1.0];
const H: [f64; 4] = [110.0, 90.0, 90.0, 110.0];

#[test]
fn first_branch_is_active_and_its_hessian_is_110_90() {
    let t = toy(2000, 1);
    assert!(t.x.iter().all(|x| sample_parts(&W, x).3));
    let columns =
        Matrix2::from_column_slice(&[t.hvp(&W, &[1.0, 0.0]), t.hvp(&W, &[0.0, 1.0])].concat());
    assert!(
        (columns - Matrix2::from_row_slice(&H)).norm() < 1e-12,
        "{columns}"
    );
    // The analytic gradient and HVP agree with central differences of the loss and gradient
    // (exact for a quadratic up to rounding).
    let eps = 1e-5;
    let g = t.grad(&W);
    let h = Matrix2::from_row_slice(&H);
    for j in 0..2 {
        let (mut up, mut down) = (W, W);
        up[j] += eps;
        down[j] -= eps;
        assert!(((t.loss(&up) - t.loss(&down)) / (2.0 * eps) - g[j]).abs() < 1e-6);
        let fd: Vec<f64> = t
            .grad(&up)
            .iter()
            .zip(t.grad(&down))
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect();
        assert!(
            (fd[0] - h[(0, j)]).abs() < 1e-4 && (fd[1] - h[(1, j)]).abs() < 1e-4,
            "{fd:?}"
        );
    }
}

/// Population values: g = −H·x, so Σ = H·Cov(x)·H.
#[test]
fn population_values_in_closed_form() {
    let h = Matrix2::from_row_slice(&H);
    let sigma = h * population_cov() * h;
    let top = dense_top(&nalgebra::DMatrix::from_row_slice(2, 2, &H), 1);
    let (lambda1, u1) = (
        top.eigenvalues[0],
        Vector2::new(top.eigenvectors[0][0], top.eigenvectors[0][1]),
    );
    // H = 200·u₁u₁ᵀ + 20·u₂u₂ᵀ, u₁ = (1, 1)/√2; K puts variance 10·10⁻⁴ on u₂ = (1, −1)/√2
    // and 10⁻⁴ on u₁, so Tr(HΣ) = 200³·10⁻⁴ + 20³·10·10⁻⁴ = 808, Tr(Σ) = 200²·10⁻⁴ + 20²·10⁻³
    // = 4.4, Tr(HΣ̄) = 220·4.4/2 = 484, u₁ᵀΣu₁ = 200²·10⁻⁴ = 4, â = 4·220/(200·4.4) = 1.
    assert_rel(lambda1, 200.0, 1e-14);
    let trace_h_sigma = (h * sigma).trace();
    let iso = isotropic_trace_h_sigma(h.trace(), sigma.trace(), 2);
    let a_hat = projection_coefficient(
        (u1.transpose() * sigma * u1)[0],
        h.trace(),
        lambda1,
        sigma.trace(),
    )
    .unwrap();
    assert_rel(trace_h_sigma, 808.0, 1e-12);
    assert_rel(sigma.trace(), 4.4, 1e-12);
    assert_rel(iso, 484.0, 1e-12);
    assert_rel(
        anisotropy_ratio(trace_h_sigma, iso).unwrap(),
        1.669_421_487_603_305_8,
        1e-12,
    ); // 808/484
    assert_rel(a_hat, 1.0, 1e-12);
}

#[test]
fn sample_estimates_converge_to_population_values() {
    let n = 100_000;
    let t = toy(n, 2019);
    let h = Matrix2::from_row_slice(&H);
    // Exact identity on the sample: Σ̂ = H·Ĉ·H with Ĉ the (1/N) sample covariance of x.
    let mean: Vector2<f64> = t.x.iter().sum::<Vector2<f64>>() / n as f64;
    let c_hat =
        t.x.iter()
            .map(|x| (x - mean) * (x - mean).transpose())
            .sum::<Matrix2<f64>>()
            / n as f64;
    let sigma_hat = h * c_hat * h;
    let u1 = vec![0.5f64.sqrt(), 0.5f64.sqrt()];
    let stats = noise_statistics(&t, &W, std::slice::from_ref(&u1), 4096);
    let exact = trace_h_sigma_exact(&t, &W, 4096);
    assert_rel(stats.trace.value, sigma_hat.trace(), 1e-10);
    assert_rel(exact.value, (h * sigma_hat).trace(), 1e-10);
    // k = D = 2: the top-2 is the whole spectrum, so λ_min = 20 is known and converged.
    let p = proposition1(
        &[200.0, 20.0],
        Some(LambdaMin {
            value: 20.0,
            converged: true,
        }),
        220.0,
        stats.trace.value,
        stats.quadratic_forms[0],
        exact.value,
        2,
    );

    // Statistical tolerance. In H's eigenbasis x has independent N(0, c_j) coordinates, and every
    // quantity depends on Ĉ only through its diagonal there (traces, u₁ᵀĈu₁), each entry with
    // relative sd sqrt(2/N). Traces are positive combinations of them (relative sd ≤ sqrt(2/N));
    // the ratio and â are quotients of two such (relative sd ≤ 2·sqrt(2/N)). Allow 4 sd.
    let rel = (2.0 / n as f64).sqrt();
    assert_rel(exact.value, 808.0, 4.0 * rel);
    assert_rel(
        isotropic_trace_h_sigma(220.0, stats.trace.value, 2),
        484.0,
        4.0 * rel,
    );
    assert_rel(p.ratio.unwrap(), 808.0 / 484.0, 8.0 * rel);
    assert_rel(p.projection_coefficient.unwrap(), 1.0, 8.0 * rel);
    assert_eq!(
        (p.bound_holds, p.negative_curvature),
        (Some(true), Some(false))
    );
    // Condition 1 at k = 1: λ₂/λ₁ = 1/10 = D^(−d) with D = 2, so d = log₂ 10 > ½.
    assert_rel(p.ill_conditioning[0].d.unwrap(), 10f64.log2(), 1e-14);
    assert!(p.ill_conditioning[0].holds);

    let probed = trace_h_sigma_stochastic(&t, &W, 400, 7, KnownTerms::default());
    assert!(
        (probed.value - exact.value).abs() < 4.0 * probed.stderr,
        "{probed:?} vs {}",
        exact.value
    );
}
