//! The one-hidden-layer (fixed ±1 output, clipped squared loss) measurements of Zhu et al.'s
//! Fig. 4 against autodiff: the Gauss–Newton traces against N + 1 exact HVPs and the dense
//! Hessian, and the Prop. 2 check's parts against the quantities they claim to be.

use curvscope_hessian::dense_matrix;
use curvscope_metrics::{
    clipped_square_traces, isotropic_trace_h_sigma, noise_statistics, proposition2_check,
    trace_h_sigma_exact,
};
use curvscope_model::{
    two_d_halfspace, ArchSpec, BurnObjective, Cpu, Dataset, HessianOperator, Init, Objective,
    Precision, Targets,
};

/// Width 6 (D = 18) on 60 half-space points after 40 GD steps from a wide θ₀, so that some
/// predictions sit inside the clip and some outside.
fn trained_net() -> (Box<dyn Objective>, Vec<f64>) {
    let points = two_d_halfspace(60, 1);
    let data = Dataset::new(
        "halfspace",
        points.x().to_vec(),
        vec![2],
        Targets::Regression(points.targets_f64().unwrap()),
        Some(1),
    )
    .unwrap();
    let arch = ArchSpec::FixedOutput {
        input: 2,
        hidden: 6,
    };
    let net = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)
        .unwrap()
        .boxed();
    let mut theta = arch.init(Init::Normal { std: 0.5 }, 3);
    for _ in 0..40 {
        let g = net.grad(&theta);
        theta.iter_mut().zip(&g).for_each(|(t, g)| *t -= 0.05 * g);
    }
    (net, theta)
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-10 * b.abs().max(1e-12),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn gauss_newton_traces_equal_the_autodiff_ones() {
    let (net, theta) = trained_net();
    let t = clipped_square_traces(&*net, &theta);
    let h = dense_matrix(&HessianOperator::new(&*net, &theta));
    assert_close(t.trace_h, h.trace(), "Tr(H)");
    assert_close(
        t.trace_sigma,
        noise_statistics(&*net, &theta, &[], 16).trace.value,
        "Tr(Σ)",
    );
    assert_close(
        t.trace_h_sigma,
        trace_h_sigma_exact(&*net, &theta, 16).value,
        "Tr(HΣ)",
    );
    assert_close(t.loss, net.loss(&theta), "L");
}

#[test]
fn proposition2_check_measures_the_autodiff_hessian_and_sigma() {
    let (net, theta) = trained_net();
    let c = proposition2_check(&*net, &theta);
    let n = net.n_samples();
    assert!(
        0 < c.active_samples && c.active_samples < n,
        "the test point should have samples on both sides of the clip: {} of {n}",
        c.active_samples
    );
    // The Hessian of this net is exactly its Gauss–Newton form (rounding only).
    assert!(c.gauss_newton_error < 1e-12, "{}", c.gauss_newton_error);
    assert_close(
        c.trace_h_sigma,
        trace_h_sigma_exact(&*net, &theta, 16).value,
        "Tr(HΣ)",
    );
    let p = &c.proposition1;
    let bar = isotropic_trace_h_sigma(p.trace_h, c.trace_sigma, net.dim());
    assert_close(p.ratio.unwrap(), c.trace_h_sigma / bar, "ratio");
    assert!(0.0 < c.sigma_h_cosine && c.sigma_h_cosine <= 1.0);
    // Cauchy–Schwarz on H's eigenvalues: D·Σλ² ≥ (Σλ)².
    assert!(c.proportional_ratio.unwrap() >= 1.0);
    // The full spectrum sees λ_min, and H = (1/N)AᵀA is positive semidefinite.
    assert_eq!(p.negative_curvature, Some(false));
    assert_close(p.lambda1, dense_top_eigenvalue(&*net, &theta), "λ₁");
}

/// λ₁ of the dense autodiff Hessian, by nalgebra directly.
fn dense_top_eigenvalue(net: &dyn Objective, theta: &[f64]) -> f64 {
    let h = dense_matrix(&HessianOperator::new(net, theta));
    let h = (&h + h.transpose()) * 0.5;
    h.symmetric_eigenvalues().max()
}
