//! ε-sharpness and adaptive sharpness on L(θ) = ½(θ − m)ᵀA(θ − m) + c, where each has a closed
//! form: with D = diag(|θ|), a perturbation δ = Dγ at the minimum raises L by ½γᵀ(DAD)γ.

use crate::objectives::{assert_rel, gaussian_matrix, ShiftedQuadratic};
use curvscope_metrics::{
    adaptive_sharpness_average, adaptive_sharpness_worst, epsilon_sharpness,
    AdaptiveAverageOptions, AdaptiveWorstOptions, AscentOptions, EpsilonSharpnessOptions,
    Estimator, PerturbationNorm,
};
use curvscope_model::Objective;
use nalgebra::{DMatrix, DVector, SymmetricEigen};

const D: usize = 6;
/// The minimum m; no coordinate is 0, so every coordinate is perturbed.
const MINIMUM: [f64; D] = [0.8, -1.5, 0.4, 2.0, -0.6, 1.1];

/// A random symmetric positive definite A (seeded), minimum `MINIMUM`, L(m) = 0.5.
fn dense_quadratic() -> ShiftedQuadratic {
    let g = gaussian_matrix(D, D, 31);
    ShiftedQuadratic {
        a: &g * g.transpose() / D as f64 + DMatrix::identity(D, D) * 0.1,
        minimum: DVector::from_column_slice(&MINIMUM),
        c: 0.5,
    }
}

/// A diagonal A = diag(0.5, 1, …, 3), minimum `MINIMUM`, L(m) = 0.5.
fn diagonal_quadratic() -> ShiftedQuadratic {
    let diagonal = DVector::from_fn(D, |i, _| 0.5 * (i + 1) as f64);
    ShiftedQuadratic {
        a: DMatrix::from_diagonal(&diagonal),
        minimum: DVector::from_column_slice(&MINIMUM),
        c: 0.5,
    }
}

/// ½ρ² Σ_i A_ii θ_i².
fn half_rho2_weighted_diagonal(a: &DMatrix<f64>, theta: &[f64], rho: f64) -> f64 {
    0.5 * rho * rho * (0..D).map(|i| a[(i, i)] * theta[i] * theta[i]).sum::<f64>()
}

#[test]
fn average_adaptive_sharpness_is_half_rho_squared_weighted_diagonal() {
    let q = dense_quadratic();
    // away from the minimum, where the gradient term ∇Lᵀδ (mean zero, subtracted from each
    // sample) would add most of the noise
    let theta = [0.3, -1.0, 0.9, 1.7, -0.2, 1.4];
    let options = AdaptiveAverageOptions {
        rho: 0.3,
        samples: 4000,
        seed: 3,
    };
    let s = adaptive_sharpness_average(&q, &theta, &options);
    let truth = half_rho2_weighted_diagonal(&q.a, &theta, options.rho);
    assert_eq!(
        (s.value.estimator, s.value.probes, s.value.seed),
        (Estimator::Stochastic, 4000, Some(3))
    );
    assert_rel(s.base_loss, q.loss(&theta), 1e-15);
    assert!(
        (s.value.value - truth).abs() < 4.0 * s.value.stderr,
        "{:?} vs {truth}",
        s.value
    );
    assert!(
        s.value.stderr < 0.1 * truth,
        "the test must resolve the value: {:?}",
        s.value
    );
    // δ = Cz with C = diag(ρ|θ|): what is left, ½zᵀCACz, has sd √(Tr((CAC)²)/2); with the
    // gradient term it would be √(‖C∇L‖² + Tr((CAC)²)/2), 1.8× as large here. 20% is > 4 sd of
    // a sample sd.
    let c = DMatrix::from_diagonal(&DVector::from_iterator(
        theta.len(),
        theta.iter().map(|t| options.rho * t.abs()),
    ));
    let cac = &c * &q.a * &c;
    let quadratic_sd = ((&cac * &cac).trace() / 2.0).sqrt();
    let gradient = DVector::from_vec(q.grad(&theta));
    let raw_sd = ((&c * gradient).norm_squared() + quadratic_sd.powi(2)).sqrt();
    assert_rel(s.value.stderr * 4000f64.sqrt(), quadratic_sd, 0.2);
    assert!(
        raw_sd > 1.5 * quadratic_sd,
        "{raw_sd} vs {quadratic_sd}: the test must tell the two apart"
    );
}

#[test]
fn worst_case_l2_adaptive_sharpness_at_a_minimum_is_the_top_eigenvalue_of_dad() {
    let q = dense_quadratic();
    let rho = 0.05;
    let d = DMatrix::from_diagonal(&q.minimum.map(f64::abs));
    let eigenvalues = SymmetricEigen::new(&d * &q.a * &d).eigenvalues;
    let truth = 0.5 * rho * rho * eigenvalues.max();
    let options = AdaptiveWorstOptions {
        rho,
        ascent: AscentOptions {
            iterations: 300,
            step: 0.5,
            seed: 4,
        },
    };
    let s = adaptive_sharpness_worst(&q, &MINIMUM, PerturbationNorm::L2, &options);
    assert_eq!(
        (s.radius, s.norm, s.gradients),
        (rho, PerturbationNorm::L2, 300)
    );
    // the ascent's value is a loss at a point of the ball: never above the maximum ...
    assert!(
        s.sharpness <= truth * (1.0 + 1e-12),
        "{} > {truth}",
        s.sharpness
    );
    // ... and it reaches it
    assert_rel(s.sharpness, truth, 1e-8);
    let scaled: Vec<f64> = s
        .perturbation
        .iter()
        .zip(&MINIMUM)
        .map(|(p, t)| p / t.abs())
        .collect();
    assert!(curvscope_hessian::norm(&scaled) <= rho * (1.0 + 1e-12));
    let at: Vec<f64> = MINIMUM
        .iter()
        .zip(&s.perturbation)
        .map(|(t, p)| t + p)
        .collect();
    assert_rel(q.loss(&at) - q.c, s.sharpness, 1e-9);
}

/// Coordinates with θ_i = 0 cannot move (c = |θ|): the ℓ2 start puts the whole radius on the
/// others. At a minimum of ½‖θ − m‖² the start's rise is ½ρ² Σ θ_i²γ_i², so with 2 live
/// coordinates of 40 a start spread over all 40 would reach about 1/20 of the radius there.
#[test]
fn the_l2_start_spends_the_radius_on_coordinates_that_can_move() {
    let mut minimum = DVector::zeros(40);
    (minimum[3], minimum[17]) = (1.0, -2.0);
    let q = ShiftedQuadratic {
        a: DMatrix::identity(40, 40),
        minimum,
        c: 0.5,
    };
    let theta = q.minimum.as_slice().to_vec();
    let rho = 0.1;
    for seed in 0..5 {
        let options = AdaptiveWorstOptions {
            rho,
            ascent: AscentOptions {
                iterations: 0,
                step: 0.5,
                seed,
            },
        };
        let s = adaptive_sharpness_worst(&q, &theta, PerturbationNorm::L2, &options);
        let scaled = [
            s.perturbation[3] / theta[3].abs(),
            s.perturbation[17] / theta[17].abs(),
        ];
        assert_rel(curvscope_hessian::norm(&scaled), rho, 1e-12);
        let rise = 0.5 * (s.perturbation[3].powi(2) + s.perturbation[17].powi(2));
        assert_rel(s.sharpness, rise, 1e-12);
        // The maximum ½ρ²·max θ_i² = 0.02 bounds it; 20 steps come within 1e-4 of it.
        assert!(s.sharpness <= 0.02 * (1.0 + 1e-12));
        let options = AdaptiveWorstOptions {
            ascent: AscentOptions {
                iterations: 20,
                ..options.ascent
            },
            ..options
        };
        let s = adaptive_sharpness_worst(&q, &theta, PerturbationNorm::L2, &options);
        assert_rel(s.sharpness, 0.02, 1e-4);
    }
    // θ = 0 moves nowhere: no rise, not a NaN.
    let zero = vec![0.0; 40];
    let options = AdaptiveWorstOptions {
        rho,
        ascent: AscentOptions::default(),
    };
    let s = adaptive_sharpness_worst(&q, &zero, PerturbationNorm::L2, &options);
    assert_eq!(s.sharpness, 0.0);
}

#[test]
fn worst_case_linf_adaptive_sharpness_on_a_diagonal_quadratic_is_half_rho_squared_weighted_diagonal(
) {
    let q = diagonal_quadratic();
    let rho = 0.05;
    let options = AdaptiveWorstOptions {
        rho,
        ascent: AscentOptions::default(),
    };
    let s = adaptive_sharpness_worst(&q, &MINIMUM, PerturbationNorm::Linf, &options);
    // the maximum of Σ ½A_ii δ_i² over |δ_i| ≤ ρ|θ_i| is at a corner
    assert_rel(
        s.sharpness,
        half_rho2_weighted_diagonal(&q.a, &MINIMUM, rho),
        1e-10,
    );
    for (p, t) in s.perturbation.iter().zip(&MINIMUM) {
        assert_rel(p.abs(), rho * t.abs(), 1e-12);
    }
}

#[test]
fn epsilon_sharpness_on_a_diagonal_quadratic_at_its_minimum() {
    let q = diagonal_quadratic();
    let options = EpsilonSharpnessOptions {
        epsilon: 0.01,
        ascent: AscentOptions::default(),
    };
    let s = epsilon_sharpness(&q, &MINIMUM, &options);
    // max over |δ_i| ≤ ε(|θ_i| + 1) of ½ Σ A_ii δ_i², at the box's corners
    let raw: f64 = 0.5
        * (0..D)
            .map(|i| q.a[(i, i)] * (options.epsilon * (MINIMUM[i].abs() + 1.0)).powi(2))
            .sum::<f64>();
    assert_rel(s.worst_case.sharpness, raw, 1e-9);
    assert_rel(s.worst_case.base_loss, q.c, 1e-15);
    // Keskar et al.'s Metric 2.1: (max − L)/(1 + L) × 100
    assert_rel(s.normalised, raw / (1.0 + q.c) * 100.0, 1e-9);
    assert_eq!(s.epsilon, 0.01);
}

#[test]
fn worst_case_search_is_seeded_and_reproducible() {
    let q = dense_quadratic();
    let options = AdaptiveWorstOptions {
        rho: 0.05,
        ascent: AscentOptions::default(),
    };
    let first = adaptive_sharpness_worst(&q, &MINIMUM, PerturbationNorm::Linf, &options);
    assert_eq!(
        first,
        adaptive_sharpness_worst(&q, &MINIMUM, PerturbationNorm::Linf, &options)
    );
    // the ℓ2 ball ‖γ‖₂ ≤ ρ lies inside the box ‖γ‖∞ ≤ ρ, which lies inside ‖γ‖₂ ≤ ρ√D
    let d = DMatrix::from_diagonal(&q.minimum.map(f64::abs));
    let top = SymmetricEigen::new(&d * &q.a * &d).eigenvalues.max();
    let rho2 = options.rho * options.rho;
    assert!(
        first.sharpness >= 0.5 * rho2 * top * (1.0 - 1e-9),
        "{first:?}"
    );
    assert!(first.sharpness <= 0.5 * rho2 * D as f64 * top, "{first:?}");
}

#[test]
fn report_carries_each_measure_only_when_asked() {
    use crate::objectives::{dense_top, LeastSquares};
    use curvscope_metrics::{report_from_spectrum, Estimate, HessianSpectrum, ReportOptions};
    let ls = LeastSquares::random(40, 5, 8);
    let theta = [0.4, -0.3, 0.2, 0.7, -0.5];
    let h = ls.hessian();
    let hessian = HessianSpectrum {
        top: dense_top(&h, 2),
        trace: Estimate::exact(h.trace(), 5),
        diagonal: None,
        lambda_min: None,
        density: None,
        dense: None,
    };
    let plain = ReportOptions {
        sigma_top_k: 0,
        sharpness: None,
        ..ReportOptions::default()
    };
    let off = report_from_spectrum(&ls, &theta, &hessian, &plain);
    assert_eq!(off.epsilon_sharpness, None);
    assert_eq!(off.adaptive_sharpness_average, None);
    assert_eq!(off.adaptive_sharpness_l2, None);
    assert_eq!(off.adaptive_sharpness_linf, None);

    let epsilon = EpsilonSharpnessOptions::default();
    let average = AdaptiveAverageOptions {
        rho: 0.1,
        samples: 20,
        seed: 2,
    };
    let worst = AdaptiveWorstOptions {
        rho: 0.1,
        ascent: AscentOptions::default(),
    };
    let on = report_from_spectrum(
        &ls,
        &theta,
        &hessian,
        &ReportOptions {
            epsilon_sharpness: Some(epsilon.clone()),
            adaptive_sharpness_average: Some(average.clone()),
            adaptive_sharpness_l2: Some(worst.clone()),
            adaptive_sharpness_linf: Some(worst.clone()),
            ..plain
        },
    );
    assert_eq!(
        on.epsilon_sharpness,
        Some(epsilon_sharpness(&ls, &theta, &epsilon))
    );
    assert_eq!(
        on.adaptive_sharpness_average,
        Some(adaptive_sharpness_average(&ls, &theta, &average))
    );
    assert_eq!(
        on.adaptive_sharpness_l2,
        Some(adaptive_sharpness_worst(
            &ls,
            &theta,
            PerturbationNorm::L2,
            &worst
        ))
    );
    assert_eq!(
        on.adaptive_sharpness_linf,
        Some(adaptive_sharpness_worst(
            &ls,
            &theta,
            PerturbationNorm::Linf,
            &worst
        ))
    );
}
