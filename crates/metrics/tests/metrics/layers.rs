//! Exact diag(H) of piecewise-linear networks against the dense Hessian, the report's use of it
//! (Tr(H) exact where it qualifies, stochastic elsewhere), and the per-tensor traces.

use crate::objectives::{assert_rel, dense_covariance};
use curvscope_hessian::{dense_matrix, hutchinson, Probes};
use curvscope_metrics::{
    covariance_diagonal, report_from_spectrum, CurvatureOptions, Estimator, HessianSpectrum,
    ReportOptions,
};
use curvscope_model::{
    default_data_dir, digits, fashion_train, two_d_halfspace, Activation, ArchSpec, BurnObjective,
    Cpu, Dataset, HessianOperator, Init, Objective, Precision, Targets,
};
use nalgebra::DMatrix;
use std::collections::BTreeSet;

/// The first 100 digits (8×8), an objective of `arch` on them in f64, and a seeded θ.
fn on_digits(arch: ArchSpec, seed: u64) -> (BurnObjective<Cpu>, Vec<f64>) {
    let data = digits(&default_data_dir()).unwrap().slice(0..100);
    let theta = arch.init(Init::PyTorch, seed);
    let obj = BurnObjective::new(arch, &data, &Default::default(), Precision::F64).unwrap();
    (obj, theta)
}

/// Two conv + ReLU + 2×2 max-pool layers (8 → 3 → 1 pixels), then fc 6→10→10 (D = 302).
fn two_layer_cnn() -> ArchSpec {
    ArchSpec::Cnn {
        side: 8,
        channels: vec![1, 4, 6],
        kernel: 2,
        hidden: vec![10],
        classes: 10,
    }
}

fn mlp(activation: Activation) -> ArchSpec {
    ArchSpec::Mlp {
        input: 64,
        hidden: vec![8, 6],
        classes: 10,
        activation,
    }
}

/// The fixed-output net (10 hidden units) regressing the half-space labels of 60 points.
fn fixed_output() -> (BurnObjective<Cpu>, Vec<f64>, Dataset) {
    let points = two_d_halfspace(60, 4);
    let y = points.labels().unwrap().iter().map(|&l| l as f64).collect();
    let data = Dataset::new(
        "halfspace",
        points.x().to_vec(),
        vec![2],
        Targets::Regression(y),
        Some(4),
    )
    .unwrap();
    let arch = ArchSpec::FixedOutput {
        input: 2,
        hidden: 10,
    };
    let theta = arch.init(Init::PyTorch, 2);
    let obj = BurnObjective::new(arch, &data, &Default::default(), Precision::F64).unwrap();
    (obj, theta, data)
}

/// The Hessian assembled from D exact HVPs.
fn dense_hessian(obj: &dyn Objective, theta: &[f64]) -> DMatrix<f64> {
    dense_matrix(&HessianOperator::new(obj, theta))
}

/// diag(H) equals the dense Hessian's diagonal to 1e-10 of its largest entry, and Tr(H) to
/// 1e-10 relative; the report's spectrum records that trace as exact.
fn assert_exact_diagonal(obj: &dyn Objective, theta: &[f64]) {
    let h = dense_hessian(obj, theta);
    let diagonal = obj
        .hessian_diagonal(theta)
        .expect("a piecewise-linear net has an exact diagonal");
    let scale = h.diagonal().amax();
    let worst = diagonal
        .iter()
        .zip(h.diagonal().iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "D = {}: max |diag − dense| = {worst:e} of {scale:e}",
        obj.dim()
    );
    for (j, (got, want)) in diagonal.iter().zip(h.diagonal().iter()).enumerate() {
        assert!(
            (got - want).abs() <= 1e-10 * scale,
            "H_{j}{j}: {got} vs dense {want} (largest diagonal entry {scale})"
        );
    }
    assert_rel(diagonal.iter().sum(), h.trace(), 1e-10);
    let spectrum = HessianSpectrum::compute(obj, theta, &curvature(1));
    assert_eq!(spectrum.trace.estimator, Estimator::Exact);
    assert_rel(spectrum.trace.value, h.trace(), 1e-10);
}

/// Top 1, no λ_min, a few trace probes: the cheapest spectrum.
fn curvature(top_k: usize) -> CurvatureOptions {
    CurvatureOptions {
        top_k,
        lambda_min: false,
        trace_probes: Probes::Fixed(4),
        ..CurvatureOptions::default()
    }
}

#[test]
fn cnn_with_max_pooling_diagonal_is_the_dense_hessians() {
    let (obj, theta) = on_digits(two_layer_cnn(), 1);
    assert_eq!(obj.dim(), 302);
    assert_exact_diagonal(obj.as_dyn(), &theta);
}

/// LeNet itself (D = 11,330) on 20 FashionMNIST images: its Gauss–Newton diagonal is H_jj, the
/// j-th entry of the exact H·e_j, on every bias and every 9th weight (9 is prime to every axis'
/// length, so each index of each axis of each weight tensor comes up), and its sum Tr(H) lies
/// within 4 standard errors of Hutchinson's independent estimate: Tr(H), and â which divides by
/// it, are exact on the paper's network too. A sample, because all 11,330 HVPs took 87 s on
/// CI's 2 cores, its longest test; the nets above, of the same layer kinds, check every entry
/// and Tr(H) against the dense Hessian.
#[test]
fn lenet_diagonal_is_the_hessians() {
    let data = fashion_train(&default_data_dir(), 20).unwrap();
    let theta = ArchSpec::Lenet.init(Init::PyTorch, 3);
    let obj =
        BurnObjective::<Cpu>::new(ArchSpec::Lenet, &data, &Default::default(), Precision::F64)
            .unwrap()
            .boxed();
    let d = obj.dim();
    assert_eq!(d, 11_330);
    let diagonal = obj
        .hessian_diagonal(&theta)
        .expect("LeNet is piecewise linear");
    let mut checked: BTreeSet<usize> = (0..d).step_by(9).collect();
    let mut start = 0;
    for (_, shape) in obj.parameter_tensors() {
        let len: usize = shape.iter().product();
        if shape.len() == 1 {
            checked.extend(start..start + len);
        }
        start += len;
    }
    assert_eq!(start, d);
    let checked: Vec<usize> = checked.into_iter().collect();
    let mut exact = Vec::with_capacity(checked.len());
    for block in checked.chunks(64) {
        let units: Vec<Vec<f64>> = block
            .iter()
            .map(|&j| (0..d).map(|i| f64::from(u8::from(i == j))).collect())
            .collect();
        let columns = obj.hvps(&theta, &units);
        exact.extend(block.iter().zip(columns).map(|(&j, column)| column[j]));
    }
    let scale = exact.iter().fold(0.0f64, |m, h| m.max(h.abs()));
    for (&j, want) in checked.iter().zip(&exact) {
        let got = diagonal[j];
        assert!(
            (got - want).abs() <= 1e-10 * scale,
            "H_{j}{j}: {got} vs exact {want} (largest checked entry {scale})"
        );
    }
    let trace: f64 = diagonal.iter().sum();
    let probed = hutchinson(&HessianOperator::new(&*obj, &theta), Probes::Fixed(200), 1).trace;
    println!(
        "{} of {d} diagonal entries checked; Tr(H) = {trace:.6}, Hutchinson {:.6} ± {:.6}",
        checked.len(),
        probed.value,
        probed.stderr
    );
    assert!((trace - probed.value).abs() <= 4.0 * probed.stderr);
    let spectrum = HessianSpectrum::compute(&*obj, &theta, &curvature(1));
    assert_eq!(spectrum.trace.estimator, Estimator::Exact);
    assert_rel(spectrum.trace.value, trace, 1e-12);
}

#[test]
fn f32_diagonal_agrees_with_f64() {
    let (f64_obj, theta) = on_digits(two_layer_cnn(), 1);
    let data = digits(&default_data_dir()).unwrap().slice(0..100);
    let f32_obj =
        BurnObjective::<Cpu>::new(two_layer_cnn(), &data, &Default::default(), Precision::F32)
            .unwrap();
    let (exact, single) = (
        f64_obj.as_dyn().hessian_diagonal(&theta).unwrap(),
        f32_obj.as_dyn().hessian_diagonal(&theta).unwrap(),
    );
    let scale = exact.iter().copied().fold(0.0, f64::max);
    for (a, b) in single.iter().zip(&exact) {
        // f32 gradients carry ~1e-7 relative rounding through four layers; squares double it.
        assert!((a - b).abs() <= 1e-5 * scale, "f32 {a} vs f64 {b}");
    }
}

#[test]
fn relu_mlp_diagonal_is_the_dense_hessians() {
    let (obj, theta) = on_digits(mlp(Activation::Relu), 2);
    assert_exact_diagonal(obj.as_dyn(), &theta);
}

#[test]
fn fixed_output_diagonal_is_the_dense_hessians_on_both_sides_of_the_clip() {
    let (obj, theta, data) = fixed_output();
    // The prediction Σ_j a_j relu(w_j·x + b_j), a = (+1 ×5, −1 ×5): some samples must fall inside
    // [δ, 1 − δ] (curvature 2) and some be clipped (flat: curvature 0) for the test to mean much.
    let prediction = |x: &[f32]| -> f64 {
        (0..10)
            .map(|j| {
                let z = theta[2 * j] * x[0] as f64 + theta[2 * j + 1] * x[1] as f64 + theta[20 + j];
                z.max(0.0) * if j < 5 { 1.0 } else { -1.0 }
            })
            .sum()
    };
    let delta = curvscope_model::net::FIXED_OUTPUT_DELTA;
    let inside = (0..data.len())
        .filter(|&i| (delta..=1.0 - delta).contains(&prediction(data.sample(i))))
        .count();
    assert!(
        0 < inside && inside < data.len(),
        "{inside} of {} inside",
        data.len()
    );
    assert_exact_diagonal(obj.as_dyn(), &theta);
}

#[test]
fn tanh_mlp_and_toy2d_are_refused_and_fall_back_to_hutchinson() {
    let (tanh_net, theta) = on_digits(mlp(Activation::Tanh), 2);
    let tanh = tanh_net.as_dyn();
    let toy = BurnObjective::<Cpu>::new(
        ArchSpec::Toy2d,
        &curvscope_model::toy2d(20, 0),
        &Default::default(),
        Precision::F64,
    )
    .unwrap()
    .boxed();
    // The refusal matters: with tanh″ ≠ 0 the Gauss–Newton diagonal is not the Hessian's.
    let h = dense_hessian(tanh, &theta);
    let gauss_newton: f64 = tanh_net.gauss_newton_diagonal(&theta).iter().sum();
    assert!(
        (gauss_newton - h.trace()).abs() > 1e-3 * h.trace().abs(),
        "GGN trace {gauss_newton} vs Tr(H) {}",
        h.trace()
    );
    // With the whole spectrum, Tr(H) is exact for tanh too (the assembled diagonal), and
    // Proposition 1's condition 1 is scanned over all D eigenvalues, not the top k.
    let whole = HessianSpectrum::compute_with_dense_spectrum(
        tanh,
        &theta,
        &curvature(1),
        u64::MAX,
        &|_| {},
    )
    .unwrap();
    assert_eq!(whole.trace.estimator, Estimator::Exact);
    assert!(
        (whole.trace.value - h.trace()).abs() <= 1e-12 * h.amax(),
        "{} vs {}",
        whole.trace.value,
        h.trace()
    );
    let options = ReportOptions {
        chunk: 16,
        sigma_top_k: 0,
        sharpness: None,
        ..ReportOptions::default()
    };
    let report = report_from_spectrum(tanh, &theta, &whole, &options);
    assert_eq!(report.trace_h, whole.trace);
    // The assembled diagonal is diag(H) for tanh too, and splits Tr(H) by tensor (layers.csv).
    let diagonal = whole.diagonal.as_ref().expect("the assembled diagonal");
    for (got, want) in diagonal.iter().zip(h.diagonal().iter()) {
        assert!((got - want).abs() <= 1e-12 * h.amax(), "{got} vs {want}");
    }
    assert_eq!(
        report.layers.len(),
        6,
        "three linear layers' weights and biases"
    );
    let by_tensor: f64 = report.layers.iter().map(|l| l.trace_h).sum();
    assert!((by_tensor - h.trace()).abs() <= 1e-12 * h.amax());
    assert_eq!(report.proposition1.ill_conditioning_k_max, tanh.dim() - 1);
    assert_eq!(
        report.hessian_eigenvalues.len(),
        1,
        "the top k stay Lanczos'"
    );
    // λ₁ of â and the bound is the one paired with u₁ (Lanczos'), not the dense one.
    assert_eq!(report.proposition1.lambda1, report.hessian_eigenvalues[0]);
    let objectives: [(&dyn Objective, Vec<f64>); 2] = [(tanh, theta), (&*toy, vec![0.3, -0.2])];
    // tanh's remainder past u₁ (D = 644) is probed (4 probes); toy2d's D = 2 is within them,
    // and its remainder computed exactly.
    for (obj, theta) in objectives {
        assert!(obj.hessian_diagonal(&theta).is_none());
        let spectrum = HessianSpectrum::compute(obj, &theta, &curvature(1));
        if obj.dim() <= 4 {
            assert_eq!(spectrum.trace.estimator, Estimator::Exact);
            assert_rel(
                spectrum.trace.value,
                dense_hessian(obj, &theta).trace(),
                1e-12,
            );
        } else {
            assert_eq!(spectrum.trace.estimator, Estimator::Stochastic);
        }
        assert!(spectrum.diagonal.is_none());
    }
}

#[test]
fn layer_traces_are_the_dense_diagonal_blocks_and_sum_to_the_totals() {
    let (obj, theta) = on_digits(two_layer_cnn(), 3);
    let obj = obj.as_dyn();
    let h = dense_hessian(obj, &theta);
    let g = obj.per_sample_grads(&theta);
    let sigma = dense_covariance(&DMatrix::from_row_slice(obj.n_samples(), obj.dim(), &g));
    let spectrum = HessianSpectrum::compute(obj, &theta, &curvature(2));
    let options = ReportOptions {
        chunk: 16,
        sigma_top_k: 0,
        sharpness: None,
        ..ReportOptions::default()
    };
    let report = report_from_spectrum(obj, &theta, &spectrum, &options);

    let names: Vec<&str> = report.layers.iter().map(|l| l.tensor.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias"
        ]
    );
    let mut offset = 0;
    for layer in &report.layers {
        let block = offset..offset + layer.n_params;
        offset += layer.n_params;
        let dense_h: f64 = block.clone().map(|j| h[(j, j)]).sum();
        let dense_sigma: f64 = block.map(|j| sigma[(j, j)]).sum();
        assert_rel(layer.trace_h, dense_h, 1e-10);
        assert_rel(layer.mean_diag_h, dense_h / layer.n_params as f64, 1e-10);
        assert_rel(layer.trace_sigma, dense_sigma, 1e-10);
    }
    assert_eq!(offset, obj.dim());
    let total = |f: fn(&curvscope_metrics::LayerTrace) -> f64| report.layers.iter().map(f).sum();
    assert_rel(total(|l| l.trace_h), report.trace_h.value, 1e-12);
    assert_rel(total(|l| l.trace_sigma), report.trace_sigma.value, 1e-10);
    assert_eq!(report.trace_h.estimator, Estimator::Exact);

    // diag(Σ) itself, entry by entry.
    let diagonal = covariance_diagonal(obj, &theta);
    let scale = sigma.diagonal().amax();
    for (got, want) in diagonal.iter().zip(sigma.diagonal().iter()) {
        assert!((got - want).abs() <= 1e-10 * scale, "{got} vs {want}");
    }
}
