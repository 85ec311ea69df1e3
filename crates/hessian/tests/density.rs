//! Stochastic Lanczos quadrature against exact spectral moments.

mod common;

use common::{power_trace, with_spectrum, OnDevice};
use curvscope_hessian::{slq, DenseOperator, ProbeKind, SlqOptions};
use curvscope_model::Precision;
use nalgebra::{DMatrix, DVector};

fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(x, y)| 0.5 * (x[1] - x[0]) * (y[0] + y[1]))
        .sum()
}

/// Hessian-like: a few outliers, a bulk near zero with negative values.
fn spectrum() -> Vec<f64> {
    let mut l: Vec<f64> = (0..395)
        .map(|i| -0.5 + 1.5 * (i as f64 / 394.0).powi(2))
        .collect();
    l.extend([40.0, 25.0, 12.0, 6.0, 3.0]);
    l
}

/// The density integrates to 1 on its own grid (already before normalization, since the
/// grid spans the nodes ± 6σ finely), and its mean and variance are the quadrature's first
/// moment and second central moment plus σ² (Gaussian broadening adds exactly σ²).
#[test]
fn density_integrates_to_one_with_right_moments() {
    let op = with_spectrum(&spectrum(), 21);
    let q = slq(
        &op,
        &SlqOptions {
            n_probes: 5,
            steps: 40,
            seed: 1,
            ..SlqOptions::default()
        },
    );
    for p in &q.probes {
        assert!((p.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(p.nodes.len(), 40);
    }
    assert_eq!(q.n_applications, 200);
    let sigma = 0.3;
    let d = q.density(sigma, 4000);
    // The values are normalized by their own trapezoid sum, so only the mass before that
    // (the Gaussians' own, cut at the grid's ends) says whether the grid holds the density.
    assert!((d.raw_mass - 1.0).abs() < 1e-6, "{}", d.raw_mass);
    let xs = |p: i32| -> Vec<f64> {
        d.grid
            .iter()
            .zip(&d.values)
            .map(|(x, v)| x.powi(p) * v)
            .collect()
    };
    let (m1, m2) = (q.moment(1).value, q.moment(2).value);
    let mean = trapezoid(&d.grid, &xs(1));
    let second = trapezoid(&d.grid, &xs(2));
    assert!((mean - m1).abs() < 1e-8);
    assert!((second - (m2 + sigma * sigma)).abs() < 1e-8);
    assert!(d.grid[0] < -0.5 - 5.0 * sigma && *d.grid.last().unwrap() > 40.0 + 5.0 * sigma);
}

/// PyHessian's broadening at a spectral width of 10⁴ (a sharp net's top eigenvalue) is a
/// Gaussian narrower than the 4,000-point grid's spacing: widened to the spacing, the density
/// still has unit mass before normalization and the quadrature's mean and second moment + σ².
#[test]
fn broadened_density_resolves_a_wide_spectrum() {
    let mut l: Vec<f64> = (0..60).map(|i| i as f64 / 59.0).collect();
    l.extend([1e4, 5e3, 1e3]);
    let op = with_spectrum(&l, 3);
    let q = slq(
        &op,
        &SlqOptions {
            n_probes: 5,
            steps: 63,
            seed: 1,
            ..SlqOptions::default()
        },
    );
    let d = q.broadened_density();
    let spacing = d.grid[1] - d.grid[0];
    assert!(
        d.sigma >= spacing * (1.0 - 1e-12),
        "σ {} < spacing {spacing}",
        d.sigma
    );
    assert!((d.raw_mass - 1.0).abs() < 1e-6, "raw mass {}", d.raw_mass);
    let moment = |p: i32| {
        let y: Vec<f64> = d
            .grid
            .iter()
            .zip(&d.values)
            .map(|(x, v)| x.powi(p) * v)
            .collect();
        trapezoid(&d.grid, &y)
    };
    let (m1, m2) = (q.moment(1).value, q.moment(2).value);
    assert!(
        (moment(1) - m1).abs() < 1e-6 * m1.abs(),
        "{} vs {m1}",
        moment(1)
    );
    let want = m2 + d.sigma * d.sigma;
    assert!(
        (moment(2) - want).abs() < 1e-6 * want,
        "{} vs {want}",
        moment(2)
    );
}

/// Σ_j w_j θ_j^p matches Tr(A^p)/D within 4 stated standard errors for p = 1, 2, 3, with
/// Gaussian and Rademacher probes, over 20 seeds each. The outlier 40 dominates A² and A³,
/// so a probe's value is ≈ 40^p·v₁², v₁² ~ χ²₁/D: strongly skewed. With 10 probes the
/// z-score is then far from Student-t (we saw |z| = 4.08 once in 120 checks, 5 above 3);
/// 40 probes bring it close to normal, where all 120 checks within 4 is the expected
/// outcome (P(|z| > 4) ≈ 1e-4 each).
#[test]
fn moments_match_power_traces() {
    let lambdas = spectrum();
    let dim = lambdas.len() as f64;
    let op = with_spectrum(&lambdas, 22);
    let mut worst: f64 = 0.0;
    for probe in [ProbeKind::Gaussian, ProbeKind::Rademacher] {
        for seed in 0..20 {
            let q = slq(
                &op,
                &SlqOptions {
                    n_probes: 40,
                    steps: 20,
                    probe,
                    seed,
                },
            );
            for p in 1..=3 {
                let m = q.moment(p);
                let truth = power_trace(&lambdas, p as i32) / dim;
                let z = (m.value - truth).abs() / m.stderr;
                worst = worst.max(z);
                assert!(z <= 4.0, "{probe:?} seed {seed} p {p}: z = {z}");
            }
        }
    }
    println!("worst |z| = {worst:.2}");
}

/// With m = D steps each probe's quadrature is exact: nodes are the eigenvalues (those the
/// probe touches) and Σ w θ^p = vᵀA^p v for all p; the seed reproduces the result.
#[test]
fn full_krylov_nodes_are_eigenvalues_and_seed_reproduces() {
    let lambdas = [4.0, -2.0, 1.0, 0.5, 3.0, -1.0, 2.5, 0.0];
    let op = with_spectrum(&lambdas, 23);
    let opts = SlqOptions {
        n_probes: 3,
        steps: 50,
        seed: 9,
        ..SlqOptions::default()
    };
    let q = slq(&op, &opts);
    for p in &q.probes {
        let mut nodes = p.nodes.clone();
        nodes.sort_by(f64::total_cmp);
        let mut want = lambdas.to_vec();
        want.sort_by(f64::total_cmp);
        assert_eq!(nodes.len(), 8);
        for (a, b) in nodes.iter().zip(&want) {
            assert!((a - b).abs() < 1e-10);
        }
    }
    let again = slq(&op, &opts);
    for (a, b) in q.probes.iter().zip(&again.probes) {
        assert_eq!(a.nodes, b.nodes);
        assert_eq!(a.weights, b.weights);
    }
    // The weights are (u_jᵀv)² for the unit probe v: on diag(λ) a Rademacher probe has
    // v_i² = 1/D whatever its signs, so every eigenvalue's weight is exactly 1/8.
    let diagonal = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_column_slice(
        &lambdas,
    )));
    let rademacher = SlqOptions {
        probe: ProbeKind::Rademacher,
        ..opts
    };
    for p in &slq(&diagonal, &rademacher).probes {
        assert_eq!(p.weights.len(), 8);
        for (node, weight) in p.nodes.iter().zip(&p.weights) {
            assert!(
                (weight - 0.125).abs() < 1e-12,
                "λ = {node}: weight {weight}"
            );
        }
    }
}

/// An operator that overflows (NaN from its 4th product on) ends the run at the probe that met
/// it, with NaN moments: no hang in the tridiagonal eigensolver, no finite number, and no
/// second probe paid for.
#[test]
fn a_nan_from_the_operator_gives_nan_moments() {
    let op = common::Overflowing::new(50, 3);
    let opts = SlqOptions {
        n_probes: 2,
        steps: 10,
        seed: 1,
        ..SlqOptions::default()
    };
    let q = slq(&op, &opts);
    assert_eq!((q.probes.len(), q.n_applications), (1, 4));
    assert!(q.moment(1).value.is_nan());
}

/// SLQ with its Krylov bases in a device store in f64 gives each probe's nodes and weights as
/// the host's do, to rounding: the same Lanczos, only the sweeps are elsewhere.
#[test]
fn a_basis_on_the_device_gives_the_same_quadrature() {
    let op = with_spectrum(&spectrum(), 22);
    let opts = SlqOptions {
        n_probes: 3,
        steps: 20,
        ..SlqOptions::default()
    };
    let host = slq(&op, &opts);
    let device = slq(&OnDevice(&op, Precision::F64), &opts);
    assert_eq!(device.n_applications, host.n_applications);
    for (a, b) in device.probes.iter().zip(&host.probes) {
        for (x, y) in a
            .nodes
            .iter()
            .zip(&b.nodes)
            .chain(a.weights.iter().zip(&b.weights))
        {
            assert!((x - y).abs() < 1e-10, "{x} vs {y}");
        }
    }
}

/// A grid coarser than σ would hold what is left of Gaussians falling between its points, and
/// normalizing that gives a curve of another mean: refused, naming the points it needs.
#[test]
#[should_panic(expected = "wider than σ")]
fn a_grid_coarser_than_sigma_is_refused() {
    let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(30, |i, _| {
        i as f64
    })));
    let q = slq(
        &a,
        &SlqOptions {
            n_probes: 2,
            steps: 30,
            ..SlqOptions::default()
        },
    );
    q.density(1e-4, 100);
}
