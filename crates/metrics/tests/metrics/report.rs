//! analyze_checkpoint end to end on least squares with a dense eigensolver, and Proposition 1
//! bookkeeping.

use crate::objectives::{assert_rel, dense_covariance, dense_top, LeastSquares};
use curvscope_metrics::{
    analyze_checkpoint, condition_ks, proposition1, report_from_spectrum, CurvatureOptions,
    Estimate, HessianSpectrum, Report, ReportOptions, SharpnessOptions,
};

#[test]
fn report_agrees_with_dense_truth_and_round_trips() {
    let (n, d, k) = (60, 8, 4);
    let ls = LeastSquares::random(n, d, 17);
    let theta = vec![0.5; d];
    let h = ls.hessian();
    let sigma = dense_covariance(&ls.gradient_matrix(&theta));
    let hessian = HessianSpectrum {
        top: dense_top(&h, d),
        trace: Estimate::exact(h.trace(), d),
        diagonal: None,
        lambda_min: None,
        density: None,
    };
    let options = ReportOptions {
        chunk: 16,
        sigma_top_k: k,
        sharpness: Some(SharpnessOptions {
            sigma: 0.01,
            samples: 200,
            seed: 3,
        }),
        batch_size: Some(10),
        ..ReportOptions::default()
    };
    let report = report_from_spectrum(&ls, &theta, &hessian, &options);

    assert_rel(report.trace_sigma.value, sigma.trace(), 1e-10);
    assert_rel(report.trace_h_sigma.value, (&h * &sigma).trace(), 1e-10);
    assert_rel(
        report.isotropic_trace_h_sigma,
        h.trace() * sigma.trace() / d as f64,
        1e-10,
    );
    let sigma_top = dense_top(&sigma, k);
    for (got, want) in report.sigma_eigenvalues.iter().zip(&sigma_top.eigenvalues) {
        assert_rel(*got, *want, 1e-10);
    }
    assert_eq!(
        (
            report.eigenvector_cosines.len(),
            report.eigenvector_cosines[0].len()
        ),
        (d, k)
    );
    // Each Σ eigenvector is a unit vector in H's orthonormal eigenbasis: squared cosines sum to 1.
    for j in 0..k {
        let total: f64 = report
            .eigenvector_cosines
            .iter()
            .map(|row| row[j] * row[j])
            .sum();
        assert_rel(total, 1.0, 1e-10);
    }
    let p = &report.proposition1;
    assert_eq!(
        p.ill_conditioning.iter().map(|c| c.k).collect::<Vec<_>>(),
        vec![1, 5]
    );
    // For positive semidefinite H and Σ, Tr(HΣ) ≥ λ₁u₁ᵀΣu₁, which is exactly bound ≤ ratio.
    assert!(p.bound_holds && !p.negative_curvature && p.bound > 0.0);
    assert_eq!(p.ratio, report.anisotropy_ratio);
    assert_eq!(report.minibatch.unwrap().with_replacement, 0.1);
    assert!(report.expected_sharpness.is_some());

    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
}

#[test]
fn proposition1_flags_indefinite_hessians_and_undefined_exponents() {
    let eigenvalues = [100.0, 10.0, 1.0, 0.0, -1.0, -2.0, -3.0];
    let p = proposition1(&eigenvalues, None, 105.0, 1.0, 0.5, 10.0, 100);
    assert!(p.negative_curvature);
    assert_eq!(
        p.ill_conditioning.iter().map(|c| c.k).collect::<Vec<_>>(),
        condition_ks(6)
    );
    let first = &p.ill_conditioning[0]; // λ₂/λ₁ = 10⁻¹ = D^(−½): d₁ = ½, not > ½
    assert!((first.d.unwrap() - 0.5).abs() < 1e-15 && !first.holds);
    let fifth = &p.ill_conditioning[1]; // λ₆ = −2
    assert_eq!((fifth.d, fifth.holds), (None, false));

    let psd = proposition1(&[100.0, 0.5], Some(-0.1), 101.0, 1.0, 0.5, 10.0, 100);
    assert!(
        psd.negative_curvature,
        "λ_min < 0 must be flagged even when the top-k are positive"
    );
    assert!(psd.ill_conditioning[0].holds);
}

/// The whole pipeline, Lanczos and Hutchinson included, against dense truth.
#[test]
fn analyze_checkpoint_computes_the_spectrum_itself() {
    let (n, d) = (80, 12);
    let ls = LeastSquares::random(n, d, 5);
    let theta = vec![0.3; d];
    let h = ls.hessian();
    let truth = dense_top(&h, d);
    let options = ReportOptions {
        sigma_top_k: 2,
        sharpness: None,
        curvature: CurvatureOptions {
            top_k: 3,
            tol: 1e-10,
            seed: 9,
            ..CurvatureOptions::default()
        },
        ..ReportOptions::default()
    };
    let report = analyze_checkpoint(&ls, &theta, &options);
    assert!(report.hessian_converged);
    for (got, want) in report.hessian_eigenvalues.iter().zip(&truth.eigenvalues) {
        assert_rel(*got, *want, 1e-8);
    }
    assert_rel(report.lambda_min.unwrap(), truth.eigenvalues[d - 1], 1e-8);
    let trace = &report.trace_h;
    assert!(
        (trace.value - h.trace()).abs() <= 4.0 * trace.stderr,
        "{trace:?} vs {}",
        h.trace()
    );
}
