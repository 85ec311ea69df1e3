//! analyze_checkpoint end to end on least squares with a dense eigensolver, and Proposition 1
//! bookkeeping.

use crate::objectives::{assert_rel, dense_covariance, dense_top, LeastSquares, ShiftedQuadratic};
use curvscope_hessian::{dense_eigenvalues, Estimator, Probes};
use curvscope_metrics::{
    analyze_checkpoint, condition_ks, derived_stderr, proposition1, report_from_spectrum,
    CurvatureOptions, Derived, Estimate, HessianSpectrum, LambdaMin, Proposition1, Report,
    ReportOptions, SharpnessOptions, TraceHSigmaMethod,
};
use curvscope_model::HessianOperator;
use nalgebra::{DMatrix, DVector};
use serde_json::Value;

#[test]
fn report_agrees_with_dense_truth_and_round_trips() {
    let (n, d, k) = (60, 8, 4);
    let ls = LeastSquares::random(n, d, 17);
    let theta = vec![0.5; d];
    // Loss is quadratic: E[L(θ+ν)] − L(θ) = σ²·Tr(H)/2 exactly, so σ = 1 makes that term
    // dominate the Monte-Carlo noise of the gradient term ∇Lᵀν.
    let sharpness = SharpnessOptions {
        sigma: 1.0,
        samples: 4000,
        seed: 3,
    };
    let h = ls.hessian();
    let sigma = dense_covariance(&ls.gradient_matrix(&theta));
    let hessian = HessianSpectrum {
        top: dense_top(&h, d),
        trace: Estimate::exact(h.trace(), d),
        diagonal: None,
        lambda_min: None,
        density: None,
        dense: Some(
            dense_eigenvalues(&HessianOperator::new(&ls, &theta), 4, u64::MAX, &|_| {}).unwrap(),
        ),
    };
    let options = ReportOptions {
        chunk: 16,
        sigma_top_k: k,
        sharpness: Some(sharpness),
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
    let whole = report.whole_spectrum.as_ref().unwrap();
    for (got, want) in whole.eigenvalues.iter().zip(&dense_top(&h, d).eigenvalues) {
        assert_rel(*got, *want, 1e-10);
    }
    assert_eq!(whole.eigenvalues.len(), d);
    assert!(whole.lanczos_max_rel_diff < 1e-12);
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
    check_against_dense_algebra(p, &h, &sigma);
    assert_eq!(p.ratio, report.anisotropy_ratio);
    assert_eq!(report.sigma_converged, Some(true));
    assert_eq!(report.minibatch.unwrap().with_replacement, 0.1);
    let signed = &report.expected_sharpness.as_ref().unwrap().signed;
    let want = h.trace() / 2.0;
    println!(
        "sharpness {} ± {} vs σ²Tr(H)/2 = {want}",
        signed.value, signed.stderr
    );
    assert!((signed.value - want).abs() <= 4.0 * signed.stderr);
    assert!(signed.stderr <= 0.05 * want, "too noisy to pin the value");

    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
}

/// Condition 1 from unconverged Ritz values read a spectrum as steeper than it is: D = 400,
/// twelve eigenvalues in [0.8, 1] over a bulk ≤ 0.02, so λ_(k+1) < λ₁/√D = 0.05 first at
/// k = 12. Lanczos cut at 6 vectors for the top 5 gives λ's far below their eigenvalues; only
/// the converged ones may test the condition (it said "holds, first at k = 4"). Converged, the
/// first k is 12 exactly.
#[test]
fn condition_1_uses_converged_eigenvalues_only() {
    let d = 400;
    let eigenvalues: Vec<f64> = (0..d)
        .map(|i| match i {
            0..12 => 1.0 - 0.2 * i as f64 / 11.0,
            _ => 0.02 * (d - i) as f64 / (d - 12) as f64,
        })
        .collect();
    let quadratic = ShiftedQuadratic {
        a: DMatrix::from_diagonal(&DVector::from_vec(eigenvalues)),
        minimum: DVector::zeros(d),
        c: 0.0,
    };
    let theta = vec![0.1; d];
    let report = |top_k, max_krylov| {
        let options = ReportOptions {
            sigma_top_k: 0,
            sharpness: None,
            curvature: CurvatureOptions {
                top_k,
                max_krylov,
                lambda_min: false,
                ..CurvatureOptions::default()
            },
            ..ReportOptions::default()
        };
        analyze_checkpoint(&quadratic, &theta, &options)
    };
    let cut = report(5, Some(6));
    assert!(!cut.hessian_converged);
    let p = &cut.proposition1;
    assert!(p.ill_conditioning_unconverged > 0, "{p:?}");
    assert!(p.first_ill_conditioned_k.is_none_or(|k| k >= 12), "{p:?}");
    let whole = report(15, None);
    assert!(whole.hessian_converged);
    let p = &whole.proposition1;
    assert_eq!(
        (p.first_ill_conditioned_k, p.ill_conditioning_unconverged),
        (Some(12), 0)
    );
    // k = 12 ≤ √400 = 20: ≪ D as the proposition asks.
    assert!(p.ill_conditioned_at_small_k());
}

/// JSON has no NaN or ±∞: a quantity that overflows is written "NaN", "inf" or "-inf" and
/// read back, as is a null (what records written before that held). In a report with every
/// estimate switched on, each float of the JSON replaced in turn by each of these still parses,
/// so one overflow never makes a record unreadable (analyze could not reuse it, nor report
/// draw it), and the value comes back (null as undefined where the quantity is optional).
#[test]
fn every_float_of_a_report_reads_back_non_finite() {
    let data = crate::distributed::data();
    let objective = crate::distributed::objective(&data);
    let theta = crate::distributed::theta(objective.dim());
    let options = crate::distributed::options(TraceHSigmaMethod::Exact);
    let json = serde_json::to_value(analyze_checkpoint(&*objective, &theta, &options)).unwrap();
    let mut floats = Vec::new();
    float_paths(&json, String::new(), &mut floats);
    assert!(floats.len() > 100, "only {} floats", floats.len());
    for path in &floats {
        for (text, want) in [
            (Value::from("NaN"), f64::NAN),
            (Value::from("-inf"), f64::NEG_INFINITY),
            (Value::Null, f64::NAN),
        ] {
            let mut damaged = json.clone();
            *damaged.pointer_mut(path).unwrap() = text.clone();
            let report: Report =
                serde_json::from_value(damaged).unwrap_or_else(|e| panic!("{path} = {text}: {e}"));
            let written = serde_json::to_value(&report).unwrap();
            let back = written.pointer(path).unwrap();
            let expected = if want.is_nan() { "NaN" } else { "-inf" };
            // An optional quantity reads null as undefined (None), not NaN.
            assert!(
                back == expected || (text.is_null() && back.is_null()),
                "{path} = {text}: {back}"
            );
        }
    }
}

/// The JSON pointers of the numbers of `value` written as floats (not integers).
fn float_paths(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::Number(n) if n.is_f64() => out.push(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| float_paths(v, format!("{path}/{i}"), out)),
        Value::Object(fields) => fields
            .iter()
            .for_each(|(k, v)| float_paths(v, format!("{path}/{k}"), out)),
        _ => {}
    }
}

/// `known_top_terms` reaches the estimator: with all D eigenpairs of H known, the stochastic
/// Tr(HΣ) is all known terms (exact, no error); without them its probes carry an error.
#[test]
fn stochastic_trace_h_sigma_adds_the_top_terms_only_when_asked() {
    let (n, d) = (60, 8);
    let ls = LeastSquares::random(n, d, 17);
    let theta = vec![0.5; d];
    let h = ls.hessian();
    let truth = (&h * dense_covariance(&ls.gradient_matrix(&theta))).trace();
    let hessian = HessianSpectrum {
        top: dense_top(&h, d),
        trace: Estimate::exact(h.trace(), d),
        diagonal: None,
        lambda_min: None,
        density: None,
        dense: None,
    };
    let [known, plain] = [true, false].map(|known_top_terms| {
        let options = ReportOptions {
            trace_h_sigma: TraceHSigmaMethod::Stochastic {
                probes: 10,
                seed: 4,
                known_top_terms,
            },
            sharpness: None,
            ..ReportOptions::default()
        };
        report_from_spectrum(&ls, &theta, &hessian, &options).trace_h_sigma
    });
    assert_rel(known.value, truth, 1e-10);
    assert!(known.stderr < 1e-10 * truth, "{known:?}");
    assert!(plain.stderr > 1e-3 * truth, "{plain:?}");
}

/// Proposition 1's numbers against dense algebra on H and Σ: â, the ratio and the bound
/// â·λ₁²·D/Tr(H)² (a bound without its factor D = 8 would be 8× off), and for positive
/// semidefinite H and Σ, Tr(HΣ) ≥ λ₁u₁ᵀΣu₁, which is exactly bound ≤ ratio.
fn check_against_dense_algebra(p: &Proposition1, h: &DMatrix<f64>, sigma: &DMatrix<f64>) {
    let d = h.nrows() as f64;
    let eig = h.clone().symmetric_eigen();
    let top = eig.eigenvalues.imax();
    let (lambda1, u1) = (eig.eigenvalues[top], eig.eigenvectors.column(top));
    let u1_sigma_u1 = (u1.transpose() * sigma * u1)[0];
    let a_hat = u1_sigma_u1 * h.trace() / (lambda1 * sigma.trace());
    let ratio = (h * sigma).trace() / (h.trace() * sigma.trace() / d);
    let bound = a_hat * lambda1 * lambda1 * d / h.trace().powi(2);
    assert_rel(p.projection_coefficient.unwrap(), a_hat, 1e-10);
    assert_rel(p.ratio.unwrap(), ratio, 1e-10);
    assert_rel(p.bound.unwrap(), bound, 1e-10);
    // The same inequality from the dense numbers, and the report agreeing with it.
    assert!(bound <= ratio && lambda1 * u1_sigma_u1 <= (h * sigma).trace());
    assert_eq!(p.bound_holds, Some(true));
}

#[test]
fn proposition1_flags_indefinite_hessians_and_undefined_exponents() {
    let eigenvalues = [100.0, 10.0, 1.0, 0.0, -1.0, -2.0, -3.0];
    let p = proposition1(&eigenvalues, None, 105.0, 1.0, 0.5, 10.0, 100);
    assert_eq!(
        p.negative_curvature,
        Some(true),
        "a negative Ritz value proves it"
    );
    assert_eq!(
        p.ill_conditioning.iter().map(|c| c.k).collect::<Vec<_>>(),
        condition_ks(6)
    );
    let first = &p.ill_conditioning[0]; // λ₂/λ₁ = 10⁻¹ = D^(−½): d₁ = ½, not > ½
    assert!((first.d.unwrap() - 0.5).abs() < 1e-15 && !first.holds);
    let fifth = &p.ill_conditioning[1]; // λ₆ = −2
    assert_eq!((fifth.d, fifth.holds), (None, false));

    let unconverged = Some(LambdaMin {
        value: -0.1,
        converged: false,
    });
    let psd = proposition1(&[100.0, 0.5], unconverged, 101.0, 1.0, 0.5, 10.0, 100);
    assert_eq!(
        psd.negative_curvature,
        Some(true),
        "λ_min < 0 must be flagged even when the top-k are positive"
    );
    assert!(psd.ill_conditioning[0].holds);
}

/// The edge cases of Proposition 1: a zero λ_{k+1}, rounding below zero, an unconverged
/// λ_min, and traces that leave â, the ratio and the bound undefined (never NaN).
#[test]
fn proposition1_edge_cases() {
    let lambda_min = |value, converged| Some(LambdaMin { value, converged });
    // H ⪰ 0 of rank 1: λ₂ = 0 meets condition 1 for every d (d₁ = ∞).
    let rank1 = [100.0, 0.0, 0.0];
    let p = proposition1(&rank1, lambda_min(0.0, true), 100.0, 1.0, 0.5, 10.0, 10_000);
    assert_eq!(p.ill_conditioning[0].d, Some(f64::INFINITY));
    assert!(p.ill_conditioning[0].holds);
    assert_eq!(
        (p.first_ill_conditioned_k, p.ill_conditioning_k_max),
        (Some(1), 2)
    );
    assert_eq!(p.negative_curvature, Some(false));
    // λ₂ = λ₁/2 in D = 10⁴: d₁ = log 2/log 10⁴ ≈ 0.075 fails; λ₃ = 0 holds at k = 2.
    let rank2 = proposition1(&[100.0, 50.0, 0.0], None, 150.0, 1.0, 0.5, 10.0, 10_000);
    assert!(!rank2.ill_conditioning[0].holds);
    assert_eq!(rank2.first_ill_conditioned_k, Some(2));
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains(r#""d":"inf""#), "{json}");
    assert_eq!(serde_json::from_str::<Proposition1>(&json).unwrap(), p);

    // −1e-17 is rounding; −1e-3·λ₁ is curvature; an unconverged positive λ_min is unknown.
    let rounding = proposition1(
        &[100.0, -1e-17],
        lambda_min(-1e-17, true),
        150.0,
        1.0,
        0.5,
        10.0,
        100,
    );
    assert_eq!(rounding.negative_curvature, Some(false));
    assert_eq!(rounding.ill_conditioning[0].d, Some(f64::INFINITY));
    let real = proposition1(
        &[100.0, 1.0],
        lambda_min(-0.1, true),
        150.0,
        1.0,
        0.5,
        10.0,
        100,
    );
    assert_eq!(real.negative_curvature, Some(true));
    let unknown = proposition1(
        &[100.0, 1.0],
        lambda_min(0.5, false),
        150.0,
        1.0,
        0.5,
        10.0,
        100,
    );
    assert_eq!(unknown.negative_curvature, None);
    let not_computed = proposition1(&[100.0, 1.0], None, 150.0, 1.0, 0.5, 10.0, 100);
    assert_eq!(not_computed.negative_curvature, None);

    // Condition 1 not reached within the eigenvalues computed (D = 100 needs λ_{k+1} < λ₁/10).
    assert_eq!(unknown.first_ill_conditioned_k, Some(1));
    let flat = proposition1(&[100.0, 90.0, 80.0], None, 150.0, 1.0, 0.5, 10.0, 100);
    assert_eq!(
        (flat.first_ill_conditioned_k, flat.ill_conditioning_k_max),
        (None, 2)
    );

    // Tr(Σ) = 0 or Tr(H) ≤ 0: â, ratio, bound and their comparison are undefined.
    for (trace_h, trace_sigma) in [(150.0, 0.0), (0.0, 1.0), (-5.0, 1.0)] {
        let p = proposition1(&[100.0, 1.0], None, trace_h, trace_sigma, 0.0, 0.0, 100);
        assert_eq!(
            (p.projection_coefficient, p.ratio, p.bound, p.bound_holds),
            (None, None, None, None),
            "Tr(H) = {trace_h}, Tr(Σ) = {trace_sigma}"
        );
    }
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
            // Fewer than D = 12: the remainder is probed (with 12 it is computed exactly).
            trace_probes: Probes::Fixed(8),
            ..CurvatureOptions::default()
        },
        ..ReportOptions::default()
    };
    let report = analyze_checkpoint(&ls, &theta, &options);
    assert!(report.hessian_converged);
    for (got, want) in report.hessian_eigenvalues.iter().zip(&truth.eigenvalues) {
        assert_rel(*got, *want, 1e-8);
    }
    let lambda_min = report.lambda_min.unwrap();
    assert!(lambda_min.converged);
    assert_rel(lambda_min.value, truth.eigenvalues[d - 1], 1e-8);
    let trace = &report.trace_h;
    assert_eq!(trace.estimator, Estimator::Stochastic);
    assert!(
        (trace.value - h.trace()).abs() <= 4.0 * trace.stderr,
        "{trace:?} vs {}",
        h.trace()
    );
}

/// â, Tr(HΣ)/Tr(HΣ̄) and the bound from a stochastic Tr(H) and Tr(HΣ): over 20 seeds, the values
/// from the dense Tr(H) and Tr(HΣ) lie within 4 of their delta-method standard errors
/// (`derived_stderr`), which are not 0.
#[test]
fn derived_numbers_lie_within_their_standard_errors_of_the_truth() {
    // D = 40, more than the 30 probes: Tr(H) is estimated (within them it would be computed
    // exactly, its standard error 0).
    let (n, d) = (80, 40);
    let ls = LeastSquares::random(n, d, 5);
    let theta = vec![0.3; d];
    let h = ls.hessian();
    let sigma = dense_covariance(&ls.gradient_matrix(&theta));
    let (trace_h, trace_h_sigma) = (h.trace(), (&h * &sigma).trace());
    let mut largest = 0.0f64;
    for seed in 0..20 {
        let options = ReportOptions {
            sharpness: None,
            trace_h_sigma: TraceHSigmaMethod::Stochastic {
                probes: 30,
                seed: 100 + seed,
                known_top_terms: false,
            },
            curvature: CurvatureOptions {
                top_k: 2,
                tol: 1e-10,
                seed,
                trace_probes: Probes::Fixed(30),
                ..CurvatureOptions::default()
            },
            ..ReportOptions::default()
        };
        let r = analyze_checkpoint(&ls, &theta, &options);
        let p = &r.proposition1;
        let (lambda1, u1_sigma_u1, trace_sigma) = (p.lambda1, r.u_sigma_u[0], r.trace_sigma.value);
        let a_hat = u1_sigma_u1 * trace_h / (lambda1 * trace_sigma);
        let truths = [
            (
                Derived::ProjectionCoefficient,
                p.projection_coefficient,
                a_hat,
            ),
            (
                Derived::Ratio,
                r.anisotropy_ratio,
                trace_h_sigma / (trace_h * trace_sigma / d as f64),
            ),
            (
                Derived::Bound,
                p.bound,
                a_hat * lambda1 * lambda1 * d as f64 / (trace_h * trace_h),
            ),
        ];
        let traces = (
            (r.trace_h.value, r.trace_h.stderr),
            (r.trace_h_sigma.value, r.trace_h_sigma.stderr),
        );
        for (derived, got, truth) in truths {
            let got = got.unwrap();
            let se = derived_stderr(derived, got, traces.0, traces.1);
            assert!(se > 0.0, "{derived:?}");
            let z = (got - truth) / se;
            assert!(
                z.abs() <= 4.0,
                "seed {seed} {derived:?}: {got} ± {se} vs {truth}"
            );
            largest = largest.max(z.abs());
        }
    }
    println!("largest |error|/stderr over 60 derived numbers: {largest:.2}");
}
