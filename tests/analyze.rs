//! `curvscope analyze`, `export` and `info` end to end, on a fixed-output net (D = 18) fitted
//! to 200 half-space points, with checkpoints written by curvscope-model.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use curvscope_hessian::{dense_matrix, full_spectrum};
use curvscope_model::{
    save_checkpoint, two_d_halfspace_on, ArchSpec, BurnObjective, CheckpointMeta, Cpu, DataStream,
    Dataset, DatasetInfo, Dtype, HessianOperator, Objective, Precision, Targets,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DATA: &str = "halfspace:200";
const ARCH: ArchSpec = ArchSpec::FixedOutput {
    input: 2,
    hidden: 6,
};
/// Cheap settings: top 4 eigenpairs, 50 sharpness perturbations.
const FAST: &[&str] = &["--data", DATA, "-k", "4", "--samples", "50", "--quiet"];

/// The columns metrics.csv documents, in order.
const METRICS_COLUMNS: &[&str] = &[
    "checkpoint",
    "step",
    "n_samples",
    "n_params",
    "dtype",
    "precision",
    "loss",
    "accuracy",
    "grad_norm",
    "theta_norm",
    "lambda_1",
    "lambda_min",
    "lambda_min_converged",
    "trace_h",
    "trace_h_stderr",
    "trace_h_estimator",
    "trace_sigma",
    "u1_sigma_u1",
    "a_hat",
    "a_hat_stderr",
    "trace_h_sigma",
    "trace_h_sigma_stderr",
    "trace_h_sigma_estimator",
    "isotropic_trace_h_sigma",
    "isotropic_trace_h_sigma_stderr",
    "ratio",
    "ratio_stderr",
    "prop1_bound",
    "prop1_bound_stderr",
    "prop1_bound_holds",
    "prop1_first_k",
    "prop1_k_max",
    "negative_curvature",
    "expected_sharpness",
    "expected_sharpness_stderr",
    "expected_sharpness_abs",
    "expected_sharpness_abs_stderr",
    "sharpness_sigma",
    "epsilon_sharpness",
    "adaptive_sharpness_avg",
    "adaptive_sharpness_avg_stderr",
    "adaptive_sharpness_l2",
    "adaptive_sharpness_linf",
    "batch_size",
    "minibatch_factor",
    "minibatch_factor_without_replacement",
    "hessian_converged",
    "sigma_converged",
    "hvps",
    "n_negative_eigenvalues",
    "n_zero_eigenvalues",
    "spectrum_asymmetry",
    "spectrum_lanczos_rel_diff",
    "seed",
    "data",
    "data_seed",
    "options_hash",
    "wall_time_s",
];

fn curvscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// θ of checkpoint `i`: a fixed random point, different per checkpoint.
fn theta(i: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(100 + i);
    (0..ARCH.dim())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect()
}

/// A run folder with `n` checkpoints `step_00000`, `step_00010`, …
fn make_run(root: &Path, n: u64) -> PathBuf {
    let run = root.join("run");
    for i in 0..n {
        let meta = CheckpointMeta {
            step: Some(10 * i),
            batch_size: Some(20),
            seed: Some(3),
            ..CheckpointMeta::new(ARCH)
        };
        save_checkpoint(
            &run.join(format!("step_{:05}", 10 * i)),
            &meta,
            &theta(i),
            Dtype::F64,
        )
        .unwrap();
    }
    run
}

/// The half-space data as the driver builds it for `halfspace:200` (seed 3, the run's).
fn halfspace() -> Dataset {
    halfspace_on(DataStream::Own)
}

/// [`halfspace`] with its points drawn on `stream`.
fn halfspace_on(stream: DataStream) -> Dataset {
    let data = two_d_halfspace_on(200, 3, stream);
    let targets = Targets::Regression(data.targets_f64().unwrap());
    Dataset::new(
        data.info().name.clone(),
        data.x().to_vec(),
        data.sample_shape().to_vec(),
        targets,
        data.info().seed,
    )
    .unwrap()
}

struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path) -> Csv {
        let mut reader =
            csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let header = reader.headers().unwrap().iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        Csv { header, rows }
    }
    fn column(&self, name: &str) -> Vec<&str> {
        let i = self
            .header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        self.rows.iter().map(|r| r[i].as_str()).collect()
    }
    fn numbers(&self, name: &str) -> Vec<f64> {
        self.column(name)
            .iter()
            .map(|s| s.parse().unwrap_or_else(|_| panic!("{name}: '{s}'")))
            .collect()
    }
    /// Rows without the wall-time column, which is the only one allowed to differ between runs.
    fn without_time(&self) -> Vec<Vec<String>> {
        let t = self.header.iter().position(|h| h == "wall_time_s").unwrap();
        self.rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != t)
                    .map(|(_, c)| c.clone())
                    .collect()
            })
            .collect()
    }
}

/// Every file of an analysis folder is a known one and parses: no temporary files left behind.
fn assert_clean(out: &Path) {
    let known: BTreeSet<&str> = [
        "metrics.csv",
        "eigenvalues.csv",
        "spectrum.csv",
        "prop1.csv",
        "density.csv",
        "layers.csv",
        "failures.csv",
        "analysis.json",
        "README.md",
    ]
    .into();
    for entry in std::fs::read_dir(out).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap();
        if name == "reports" {
            // Records, and those set aside by a rerun with other options: earlier/<hash>/.
            let earlier = std::fs::read_dir(p.join("earlier"))
                .into_iter()
                .flatten()
                .flat_map(|hash| std::fs::read_dir(hash.unwrap().path()).unwrap());
            let records = std::fs::read_dir(&p).unwrap().chain(earlier);
            for report in records
                .map(|r| r.unwrap().path())
                .filter(|r| !r.ends_with("earlier"))
            {
                assert_eq!(
                    report.extension().and_then(|e| e.to_str()),
                    Some("json"),
                    "{}",
                    report.display()
                );
                serde_json::from_slice::<serde_json::Value>(&std::fs::read(&report).unwrap())
                    .unwrap();
            }
            continue;
        }
        assert!(known.contains(name), "unexpected file {}", p.display());
        match p.extension().and_then(|e| e.to_str()) {
            Some("csv") => {
                let csv = Csv::read(&p);
                assert!(
                    csv.rows.iter().all(|r| r.len() == csv.header.len()),
                    "{}",
                    p.display()
                );
            }
            Some("json") => drop(
                serde_json::from_slice::<serde_json::Value>(&std::fs::read(&p).unwrap()).unwrap(),
            ),
            _ => {}
        }
    }
}

fn analyze(run: &Path, out: &Path, extra: &[&str]) -> Output {
    let args: Vec<&str> = ["analyze", path(run), "--out", path(out)]
        .iter()
        .chain(FAST)
        .chain(extra)
        .copied()
        .collect();
    curvscope(&args)
}

/// [`analyze`] without --quiet, which would hide the summary table.
fn analyze_with_summary(run: &Path, out: &Path, extra: &[&str]) -> Output {
    let args: Vec<&str> = ["analyze", path(run), "--out", path(out)]
        .into_iter()
        .chain(FAST.iter().copied().filter(|a| *a != "--quiet"))
        .chain(extra.iter().copied())
        .collect();
    curvscope(&args)
}

fn success(output: Output) -> Output {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn metrics_csv_has_the_documented_columns_and_true_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 3);
    let out = tmp.path().join("analysis");
    success(analyze(&run, &out, &[]));
    assert_clean(&out);

    let metrics = Csv::read(&out.join("metrics.csv"));
    assert_eq!(metrics.header, METRICS_COLUMNS);
    assert_eq!(
        metrics.column("checkpoint"),
        ["step_00000", "step_00010", "step_00020"]
    );
    assert_eq!(metrics.column("step"), ["0", "10", "20"]);
    assert_eq!(metrics.column("n_params"), ["18"; 3]);
    assert_eq!(
        metrics.column("accuracy"),
        ["", "", ""],
        "regression has no accuracy"
    );
    assert_eq!(metrics.column("trace_h_sigma_estimator"), ["exact"; 3]);
    assert_eq!(
        metrics.column("trace_h_estimator"),
        ["exact"; 3],
        "a ReLU net: Tr(H) from its exact diagonal"
    );
    assert_eq!(
        metrics.column("batch_size"),
        ["20"; 3],
        "taken from the checkpoint"
    );
    assert_eq!(metrics.numbers("minibatch_factor"), [0.05; 3]);

    // Against ground truth: the loss of the library's objective and the dense Hessian's spectrum.
    let data = halfspace();
    let objective = BurnObjective::<Cpu>::new(ARCH, &data, &Default::default(), Precision::F64)
        .unwrap()
        .boxed();
    let (loss, lambda1, lambda_min, trace_h, trace_h_se) = (
        metrics.numbers("loss"),
        metrics.numbers("lambda_1"),
        metrics.numbers("lambda_min"),
        metrics.numbers("trace_h"),
        metrics.numbers("trace_h_stderr"),
    );
    let eigen = Csv::read(&out.join("eigenvalues.csv"));
    assert_eq!(
        eigen.header,
        ["checkpoint", "step", "rank", "eigenvalue", "residual"]
    );
    assert_eq!(eigen.rows.len(), 3 * 4);
    let eigenvalues = eigen.numbers("eigenvalue");
    for i in 0..3 {
        let theta = theta(i as u64);
        assert_eq!(loss[i], objective.loss(&theta));
        let truth = full_spectrum(&HessianOperator::new(&*objective, &theta)).eigenvalues;
        let scale = truth[0].abs().max(truth[17].abs());
        assert!(
            (lambda1[i] - truth[0]).abs() <= 1e-6 * scale,
            "{} vs {}",
            lambda1[i],
            truth[0]
        );
        assert!((lambda_min[i] - truth[17]).abs() <= 1e-6 * scale);
        for (r, t) in eigenvalues[4 * i..4 * i + 4].iter().zip(&truth) {
            assert!((r - t).abs() <= 1e-6 * scale, "{r} vs {t}");
        }
        let exact_trace: f64 = truth.iter().sum();
        assert!((trace_h[i] - exact_trace).abs() <= 4.0 * trace_h_se[i] + 1e-9 * scale);
        check_noise_columns(&metrics, i, &*objective, &theta);
    }
    assert_eq!(metrics.column("hessian_converged"), ["true"; 3]);
    assert_eq!(metrics.column("lambda_min_converged"), ["true"; 3]);
    assert_eq!(
        metrics.column("sigma_converged"),
        ["", "", ""],
        "no --sigma-top-k"
    );
    assert_eq!(metrics.column("prop1_k_max"), ["3"; 3], "k = 4 tests k ≤ 3");

    let prop1 = Csv::read(&out.join("prop1.csv"));
    assert_eq!(
        prop1.header,
        ["checkpoint", "step", "k", "lambda_k1", "d_k", "holds"]
    );
    assert!(!out.join("density.csv").exists(), "density only when asked");

    // layers.csv: hidden.weight and hidden.bias per checkpoint, summing to the totals.
    let layers = Csv::read(&out.join("layers.csv"));
    assert_eq!(
        layers.header,
        [
            "checkpoint",
            "step",
            "tensor",
            "n_params",
            "trace_h",
            "mean_diag_h",
            "trace_sigma"
        ]
    );
    assert_eq!(
        layers.column("tensor"),
        ["hidden.weight", "hidden.bias"].repeat(3)
    );
    let (layer_h, layer_sigma) = (layers.numbers("trace_h"), layers.numbers("trace_sigma"));
    let trace_sigma = metrics.numbers("trace_sigma");
    for i in 0..3 {
        let (h, sigma) = (
            layer_h[2 * i] + layer_h[2 * i + 1],
            layer_sigma[2 * i] + layer_sigma[2 * i + 1],
        );
        assert!(
            (h - trace_h[i]).abs() <= 1e-12 * trace_h[i].abs(),
            "{h} vs {}",
            trace_h[i]
        );
        assert!(
            (sigma - trace_sigma[i]).abs() <= 1e-10 * trace_sigma[i],
            "{sigma} vs {}",
            trace_sigma[i]
        );
    }
    assert_eq!(Csv::read(&out.join("failures.csv")).rows.len(), 0);

    // Each report holds the Report and the options, agreeing with the CSV.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("reports/step_00010.json")).unwrap())
            .unwrap();
    assert_eq!(report["report"]["loss"].as_f64(), Some(loss[1]));
    assert_eq!(report["options"]["report"]["curvature"]["top_k"], 4);
    assert_eq!(
        report["options_hash"].as_str(),
        Some(metrics.column("options_hash")[1])
    );
}

/// Row `i`'s Σ and Proposition 1 columns against a dense truth: Σ from the per-sample gradients
/// centred on their mean (two passes, unlike the library's shifted single pass), H assembled
/// from D HVPs and eigendecomposed. â, ratio and bound use the row's own (stochastic) Tr(H),
/// which the caller checks against the dense trace; everything else is dense. A bound without
/// its factor D = 18, or an uncentred Σ, would miss by far more than the tolerance.
fn check_noise_columns(metrics: &Csv, i: usize, objective: &dyn Objective, theta: &[f64]) {
    let h = dense_matrix(&HessianOperator::new(objective, theta));
    let spectrum = full_spectrum(&HessianOperator::new(objective, theta));
    let (lambda1, u1) = (spectrum.eigenvalues[0], spectrum.eigenvectors.column(0));
    let (n, d) = (objective.n_samples(), objective.dim());
    let grads = objective.per_sample_grads(theta);
    let mean: Vec<f64> = (0..d)
        .map(|j| grads.iter().skip(j).step_by(d).sum::<f64>() / n as f64)
        .collect();
    let (mut trace_sigma, mut u1_sigma_u1, mut trace_h_sigma) = (0.0, 0.0, 0.0);
    for g in grads.chunks_exact(d) {
        let c: Vec<f64> = g.iter().zip(&mean).map(|(g, m)| g - m).collect();
        let hc: Vec<f64> = (0..d)
            .map(|r| (0..d).map(|k| h[(r, k)] * c[k]).sum())
            .collect();
        trace_sigma += c.iter().map(|x| x * x).sum::<f64>() / n as f64;
        u1_sigma_u1 += c
            .iter()
            .zip(u1.iter())
            .map(|(x, u)| x * u)
            .sum::<f64>()
            .powi(2)
            / n as f64;
        trace_h_sigma += c.iter().zip(hc.iter()).map(|(x, y)| x * y).sum::<f64>() / n as f64;
    }
    let trace_h = metrics.numbers("trace_h")[i];
    let a_hat = u1_sigma_u1 * trace_h / (lambda1 * trace_sigma);
    let ratio = trace_h_sigma / (trace_h * trace_sigma / d as f64);
    let bound = a_hat * lambda1 * lambda1 * d as f64 / (trace_h * trace_h);
    for (column, want) in [
        ("trace_sigma", trace_sigma),
        ("u1_sigma_u1", u1_sigma_u1),
        ("trace_h_sigma", trace_h_sigma),
        ("a_hat", a_hat),
        ("ratio", ratio),
        ("prop1_bound", bound),
    ] {
        let got = metrics.numbers(column)[i];
        println!("row {i} {column}: {got} vs dense {want}");
        assert!(
            (got - want).abs() <= 1e-11 * want.abs(),
            "row {i} {column}: {got} vs dense {want}"
        );
    }
    // This ReLU net's Tr(H) and Tr(HΣ) are exact: so are the derived numbers, whose standard
    // errors are 0 (with stochastic traces they are checked against dense truth in the metrics
    // crate: derived_numbers_lie_within_their_standard_errors_of_the_truth).
    for column in ["a_hat", "isotropic_trace_h_sigma", "ratio", "prop1_bound"] {
        assert_eq!(
            metrics.numbers(&format!("{column}_stderr"))[i],
            0.0,
            "{column}"
        );
    }
    // Row 0's H has rank one: bound = ratio = 18 but for rounding, which is no shortfall.
    assert_eq!(
        metrics.column("prop1_bound_holds")[i],
        (bound <= ratio * (1.0 + curvscope_metrics::BOUND_RTOL)).to_string()
    );
}

/// --prop1-k-max K computes K + 1 eigenpairs (over -k 4), so condition 1 is tested up to k = K
/// and its first k found against the dense spectrum.
#[test]
fn prop1_k_max_tests_condition_1_up_to_k() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 2);
    let out = tmp.path().join("analysis");
    success(analyze(&run, &out, &["--prop1-k-max", "12"]));
    let metrics = Csv::read(&out.join("metrics.csv"));
    assert_eq!(metrics.column("prop1_k_max"), ["12"; 2]);
    assert_eq!(Csv::read(&out.join("eigenvalues.csv")).rows.len(), 2 * 13);
    let ks = Csv::read(&out.join("prop1.csv"));
    assert_eq!(ks.column("k"), ["1", "5", "10", "1", "5", "10"]);
    let objective =
        BurnObjective::<Cpu>::new(ARCH, &halfspace(), &Default::default(), Precision::F64)
            .unwrap()
            .boxed();
    for (i, first) in metrics.column("prop1_first_k").iter().enumerate() {
        let truth = full_spectrum(&HessianOperator::new(&*objective, &theta(i as u64))).eigenvalues;
        let want = curvscope_metrics::first_ill_conditioned_k(&truth[..13], 18);
        assert_eq!(
            *first,
            want.map_or(String::new(), |k| k.to_string()),
            "row {i}"
        );
    }
}

/// Each sharpness measure fills its column only when its flag asks, with the library's value
/// under the analysis's purpose seed (the CSV's shortest decimals read back bit for bit).
#[test]
fn sharpness_measures_fill_their_columns_only_when_asked() {
    use curvscope_metrics::{
        adaptive_sharpness_average, adaptive_sharpness_worst, epsilon_sharpness, purpose_seed,
        AdaptiveAverageOptions, AdaptiveWorstOptions, AscentOptions, EpsilonSharpnessOptions,
        PerturbationNorm, Purpose,
    };
    const COLUMNS: [&str; 5] = [
        "epsilon_sharpness",
        "adaptive_sharpness_avg",
        "adaptive_sharpness_avg_stderr",
        "adaptive_sharpness_l2",
        "adaptive_sharpness_linf",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 1);
    let off = tmp.path().join("off");
    // Without FAST's --samples, which --no-sharpness alone would refuse (nothing samples).
    let (run_path, off_path) = (path(&run), path(&off));
    let quick = ["-k", "4", "--quiet", "--no-sharpness"];
    let args = [
        &["analyze", run_path, "--out", off_path, "--data", DATA][..],
        &quick,
    ]
    .concat();
    success(curvscope(&args));
    let metrics = Csv::read(&off.join("metrics.csv"));
    for column in COLUMNS {
        assert_eq!(metrics.column(column), [""], "{column}");
    }

    let on = tmp.path().join("on");
    let flags = [
        "--no-sharpness",
        "--epsilon-sharpness",
        "1e-3",
        "--adaptive-sharpness-avg",
        "0.05",
        "--adaptive-sharpness-l2",
        "0.05",
        "--adaptive-sharpness-linf",
        "0.02",
        "--ascent-iterations",
        "5",
    ];
    success(analyze(&run, &on, &flags));
    assert_clean(&on);
    let metrics = Csv::read(&on.join("metrics.csv"));
    let objective =
        BurnObjective::<Cpu>::new(ARCH, &halfspace(), &Default::default(), Precision::F64)
            .unwrap()
            .boxed();
    let theta = theta(0);
    let ascent = |purpose| AscentOptions {
        iterations: 5,
        step: 0.5,
        seed: purpose_seed(0, purpose),
    };
    let epsilon = EpsilonSharpnessOptions {
        epsilon: 1e-3,
        ascent: ascent(Purpose::EpsilonSharpness),
    };
    let average = adaptive_sharpness_average(
        &*objective,
        &theta,
        &AdaptiveAverageOptions {
            rho: 0.05,
            samples: 50,
            seed: purpose_seed(0, Purpose::AdaptiveSharpnessAverage),
        },
    );
    let worst = |rho, norm, purpose| {
        let options = AdaptiveWorstOptions {
            rho,
            ascent: ascent(purpose),
        };
        adaptive_sharpness_worst(&*objective, &theta, norm, &options).sharpness
    };
    let want = [
        epsilon_sharpness(&*objective, &theta, &epsilon).normalised,
        average.value.value,
        average.value.stderr,
        worst(0.05, PerturbationNorm::L2, Purpose::AdaptiveSharpnessL2),
        worst(0.02, PerturbationNorm::Linf, Purpose::AdaptiveSharpnessLinf),
    ];
    for (column, want) in COLUMNS.iter().zip(want) {
        let got = metrics.numbers(column);
        assert!(got[0].is_finite(), "{column}: {got:?}");
        assert_eq!(got, [want], "{column}");
    }
    let refused = curvscope(&["analyze", path(&run), "--epsilon-sharpness", "-1"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--epsilon-sharpness"));
}

/// A Lanczos run cut short by --max-krylov is flagged: hessian_converged false in metrics.csv,
/// and λ₁ starred in the summary table with the reason under it.
#[test]
fn unconverged_lanczos_is_flagged_in_the_csv_and_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 3);
    let out = tmp.path().join("analysis");
    let output = success(analyze_with_summary(&run, &out, &["--max-krylov", "5"]));
    let converged = Csv::read(&out.join("metrics.csv"))
        .column("hessian_converged")
        .join(",");
    assert!(converged.contains("false"), "{converged}");
    let summary = String::from_utf8_lossy(&output.stderr) + String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains("* Lanczos did not converge on the top-k"),
        "{summary}"
    );
    // Thickly restarted, the same 5 vectors converge to the unrestricted run's eigenvalues;
    // `--restarts 0` is the default, options hash included.
    let [restarted, free, zero] = ["restarted", "free", "zero"].map(|d| tmp.path().join(d));
    success(analyze(
        &run,
        &restarted,
        &["--max-krylov", "5", "--restarts", "200"],
    ));
    success(analyze(&run, &free, &[]));
    success(analyze(&run, &zero, &["--restarts", "0"]));
    let [restarted, free, zero] =
        [restarted, free, zero].map(|d| Csv::read(&d.join("metrics.csv")));
    assert!(
        restarted
            .column("hessian_converged")
            .iter()
            .all(|c| *c == "true"),
        "{:?}",
        restarted.column("hessian_converged")
    );
    // Each converged Ritz value is within its residual, --tol (1e-6) times λ₁, of an
    // eigenvalue. λ_min, under a cluster of zeros and values of 1e-5 (D = 18, which the
    // unrestricted run spans), converges in the first checkpoint only, and says so.
    let lambda_1 = free.numbers("lambda_1");
    let min_converged = restarted.column("lambda_min_converged");
    assert_eq!(min_converged, ["true", "false", "false"]);
    for column in ["lambda_1", "lambda_min"] {
        let pairs = restarted
            .numbers(column)
            .into_iter()
            .zip(free.numbers(column));
        for (i, ((got, want), scale)) in pairs.zip(&lambda_1).enumerate() {
            if column == "lambda_1" || min_converged[i] == "true" {
                assert!(
                    (got - want).abs() <= 2e-6 * scale,
                    "{column}: {got} vs {want}"
                );
            }
        }
    }
    assert_eq!(zero.column("options_hash"), free.column("options_hash"));
    assert_ne!(
        restarted.column("options_hash"),
        free.column("options_hash")
    );
}

#[test]
fn a_resumed_analysis_skips_finished_checkpoints_and_matches_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 3);
    let (full, resumed) = (tmp.path().join("full"), tmp.path().join("resumed"));
    success(analyze(&run, &full, &[]));
    let reference = Csv::read(&full.join("metrics.csv"));

    // Two checkpoints a run: the first two, then the third (the two reused, not counted).
    let limit = ["--max-checkpoints", "2"];
    let first = success(analyze_with_summary(&run, &resumed, &limit));
    let summary = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        summary.matches("left (--max-checkpoints)").count(),
        1,
        "{summary}"
    );
    let partial = Csv::read(&resumed.join("metrics.csv"));
    assert_eq!(
        partial.column("checkpoint"),
        reference.column("checkpoint")[..2]
    );
    let second = success(analyze_with_summary(&run, &resumed, &limit));
    let summary = String::from_utf8_lossy(&second.stdout);
    let said = |what: &str| summary.matches(what).count();
    assert_eq!(
        [said("reused"), said("computed"), said("left")],
        [2, 1, 0],
        "{summary}"
    );
    let after = Csv::read(&resumed.join("metrics.csv"));
    assert_eq!(
        after.without_time(),
        reference.without_time(),
        "same numbers, no duplicate rows"
    );
    // The first two rows were reused, not recomputed: their wall times are the stored ones.
    assert_eq!(
        after.column("wall_time_s")[..2],
        partial.column("wall_time_s")[..]
    );
    for file in ["eigenvalues.csv", "prop1.csv"] {
        assert_eq!(
            std::fs::read(full.join(file)).unwrap(),
            std::fs::read(resumed.join(file)).unwrap(),
            "{file}"
        );
    }
    // A limit on a finished analysis computes nothing and keeps every row.
    let finished = std::fs::read(resumed.join("metrics.csv")).unwrap();
    let again = success(analyze_with_summary(
        &run,
        &resumed,
        &["--max-checkpoints", "1"],
    ));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .matches("reused")
            .count(),
        3
    );
    assert_eq!(
        std::fs::read(resumed.join("metrics.csv")).unwrap(),
        finished
    );

    // Killed while writing the last checkpoint's report: it is recomputed, the others are not,
    // and the temporary file the kill left is removed.
    std::fs::remove_file(resumed.join("reports/step_00020.json")).unwrap();
    let leftover = resumed.join("reports/.tmpAb12Zx");
    std::fs::write(&leftover, "{").unwrap();
    let output = success(analyze_with_summary(&run, &resumed, &[]));
    assert!(!leftover.exists());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("reused").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("computed").count(), 1, "{stdout}");
    assert_eq!(
        Csv::read(&resumed.join("metrics.csv")).without_time(),
        reference.without_time()
    );
    assert_clean(&resumed);
}

#[test]
fn changed_options_or_a_rewritten_checkpoint_are_recomputed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 2);
    let out = tmp.path().join("analysis");
    success(analyze(&run, &out, &[]));
    let first = Csv::read(&out.join("metrics.csv"));

    success(analyze(&run, &out, &["--seed", "7"]));
    let reseeded = Csv::read(&out.join("metrics.csv"));
    assert_eq!(reseeded.rows.len(), 2);
    for (a, b) in first
        .column("options_hash")
        .iter()
        .zip(reseeded.column("options_hash"))
    {
        assert_ne!(*a, b);
    }
    assert_eq!(reseeded.column("seed"), ["7", "7"]);
    assert_ne!(
        first.column("expected_sharpness"),
        reseeded.column("expected_sharpness"),
        "other perturbations"
    );
    assert_eq!(first.column("loss"), reseeded.column("loss"));

    // Back to the first options: their records, set aside meanwhile, return as they were
    // (their wall times too: nothing is computed again).
    let stdout = String::from_utf8(analyze_with_summary(&run, &out, &[]).stdout).unwrap();
    assert_eq!(stdout.matches("reused").count(), 2, "{stdout}");
    let again = Csv::read(&out.join("metrics.csv"));
    assert_eq!(again.rows, first.rows);
    // Deterministic when computed again (in another folder).
    let elsewhere = tmp.path().join("elsewhere");
    success(analyze(&run, &elsewhere, &[]));
    assert_eq!(
        Csv::read(&elsewhere.join("metrics.csv")).without_time(),
        first.without_time()
    );

    // A checkpoint overwritten with other weights is recomputed although the options match.
    let meta = CheckpointMeta {
        step: Some(10),
        batch_size: Some(20),
        seed: Some(3),
        ..CheckpointMeta::new(ARCH)
    };
    save_checkpoint(&run.join("step_00010"), &meta, &theta(9), Dtype::F64).unwrap();
    success(analyze(&run, &out, &[]));
    let rewritten = Csv::read(&out.join("metrics.csv"));
    assert_eq!(rewritten.rows[0], again.rows[0]);
    assert_ne!(rewritten.column("loss")[1], again.column("loss")[1]);
    // Its record set aside under --seed 7 is of the old weights: computed again, not taken
    // back, and the stale one is gone.
    let seed7 = reseeded.column("options_hash")[0].to_string();
    let stdout = analyze_with_summary(&run, &out, &["--seed", "7"]).stdout;
    let stdout = String::from_utf8(stdout).unwrap();
    assert_eq!(stdout.matches("reused").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("computed").count(), 1, "{stdout}");
    let stale = out
        .join("reports/earlier")
        .join(&seed7)
        .join("step_00010.json");
    assert!(!stale.exists());
    assert_clean(&out);
}

/// A rerun with other options that cannot set the earlier records aside fails before its
/// manifest: analysis.json still describes the records and CSVs in the folder.
#[test]
fn a_failed_rerun_with_other_options_keeps_the_manifest_of_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 2);
    let out = tmp.path().join("analysis");
    success(analyze(&run, &out, &[]));
    let (manifest, metrics) = (out.join("analysis.json"), out.join("metrics.csv"));
    let before = (
        std::fs::read(&manifest).unwrap(),
        std::fs::read(&metrics).unwrap(),
    );
    // A file where the folder of set-aside records would go.
    let blocker = out.join("reports/earlier");
    std::fs::write(&blocker, "").unwrap();
    let output = analyze(&run, &out, &["--seed", "7"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("earlier"), "{err}");
    assert_eq!(
        (
            std::fs::read(&manifest).unwrap(),
            std::fs::read(&metrics).unwrap()
        ),
        before
    );
    std::fs::remove_file(&blocker).unwrap();
    success(analyze(&run, &out, &["--seed", "7"]));
    let options = std::fs::read_to_string(&manifest).unwrap();
    let reseeded = Csv::read(&metrics);
    assert!(reseeded.column("seed").iter().all(|s| *s == "7"));
    assert_ne!(options.as_bytes(), &before.0[..]);
}

#[test]
fn corrupt_checkpoints_are_reported_with_their_reason_and_the_rest_analyzed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 5);
    let model = |step: &str| run.join(step).join("model.safetensors");
    // Truncated weights file.
    let bytes = std::fs::read(model("step_00010")).unwrap();
    std::fs::write(model("step_00010"), &bytes[..bytes.len() / 2]).unwrap();
    // A NaN in the last stored f64.
    let mut bytes = std::fs::read(model("step_00020")).unwrap();
    let n = bytes.len();
    bytes[n - 8..].copy_from_slice(&f64::NAN.to_le_bytes());
    std::fs::write(model("step_00020"), bytes).unwrap();
    // A classifier, which the half-space regression data does not fit.
    let mlp = ArchSpec::Mlp {
        input: 2,
        hidden: vec![],
        classes: 2,
        activation: curvscope_model::Activation::Relu,
    };
    save_checkpoint(
        &run.join("step_00030"),
        &CheckpointMeta::new(mlp.clone()),
        &vec![0.1; mlp.dim()],
        Dtype::F32,
    )
    .unwrap();

    let out = tmp.path().join("analysis");
    let output = analyze(&run, &out, &[]);
    assert!(
        !output.status.success(),
        "failures give a non-zero exit code"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failures = Csv::read(&out.join("failures.csv"));
    assert_eq!(failures.header, ["checkpoint", "path", "error"]);
    assert_eq!(
        failures.column("checkpoint"),
        ["step_00010", "step_00020", "step_00030"]
    );
    let errors = failures.column("error");
    assert!(
        errors[0].contains("step_00010/model.safetensors")
            && errors[0].contains("tensor `")
            && errors[0].contains("truncated"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("step_00020/model.safetensors")
            && errors[1].contains("tensor `hidden.")
            && errors[1].contains("NaN"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("does not fit") && errors[2].contains("class labels"),
        "{}",
        errors[2]
    );
    for (name, error) in failures.column("checkpoint").iter().zip(&errors) {
        assert!(
            stderr.contains(&format!("checkpoint {name} failed: {error}")),
            "{stderr}"
        );
    }
    let metrics = Csv::read(&out.join("metrics.csv"));
    assert_eq!(metrics.column("checkpoint"), ["step_00000", "step_00040"]);
    assert_clean(&out);
}

#[test]
fn export_renders_figures_and_a_valid_notebook() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 3);
    std::fs::write(
        run.join("run.csv"),
        "step,train_loss,train_accuracy,test_loss,test_accuracy,wall_time_s\n0,0.7,0.5,0.71,0.48,0.1\n10,0.4,0.8,0.45,0.77,0.2\n20,0.2,0.9,0.3,0.85,0.3\n",
    )
    .unwrap();
    // The default output folder, run/analysis, which export finds from the run folder.
    let args: Vec<&str> = ["analyze", path(&run), "--density", "--density-probes", "3"]
        .iter()
        .chain(FAST)
        .copied()
        .collect();
    success(curvscope(&args));
    let to = tmp.path().join("export");
    let output = success(curvscope(&["export", path(&run), "--to", path(&to)]));
    let listed = String::from_utf8_lossy(&output.stdout);

    for file in [
        "metrics.csv",
        "eigenvalues.csv",
        "prop1.csv",
        "density.csv",
        "layers.csv",
        "run.csv",
        "README.md",
        "analysis.json",
    ] {
        assert!(to.join(file).is_file(), "{file} copied");
    }
    for figure in [
        "eigenvalues",
        "a_hat",
        "escaping",
        "ratio",
        "sharpness",
        "accuracy",
        "loss",
        "density",
    ] {
        let svg = std::fs::read_to_string(to.join(format!("figures/{figure}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{figure}.svg has lines"
        );
        let png = std::fs::read(to.join(format!("figures/{figure}.png"))).unwrap();
        let png = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{figure}.png: {e}"))
            .to_rgb8();
        assert_eq!(png.dimensions(), (900, 560), "{figure}.png");
        assert!(
            png.pixels().any(|p| p.0 != [255; 3]),
            "{figure}.png is drawn"
        );
        assert!(listed.contains(&format!("{figure}.png")));
    }
    let nb_path = to.join("analysis.ipynb");
    let notebook: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&nb_path).unwrap()).unwrap();
    assert_eq!(notebook["nbformat"], 4);
    assert!(notebook["nbformat_minor"].as_u64().unwrap() >= 4);
    assert_eq!(notebook["metadata"]["kernelspec"]["language"], "python");
    let cells = notebook["cells"].as_array().unwrap();
    assert!(cells.len() >= 5);
    let mut ids = BTreeSet::new();
    for cell in cells {
        assert!(
            ids.insert(cell["id"].as_str().unwrap().to_string()),
            "unique ids"
        );
        assert!(cell["source"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.is_string()));
        match cell["cell_type"].as_str().unwrap() {
            "code" => assert!(
                cell["outputs"].as_array().unwrap().is_empty() && cell["execution_count"].is_null()
            ),
            "markdown" => assert!(cell.get("outputs").is_none()),
            other => panic!("cell type {other}"),
        }
    }
    let code: String = cells
        .iter()
        .flat_map(|c| c["source"].as_array().unwrap())
        .map(|l| l.as_str().unwrap())
        .collect();
    for csv in ["metrics.csv", "eigenvalues.csv", "run.csv", "density.csv"] {
        assert!(
            code.contains(&format!("pd.read_csv(\"{csv}\")")),
            "notebook loads {csv}"
        );
    }
    // Full schema validation where nbformat is installed.
    let validate = Command::new("python3")
        .args([
            "-c",
            "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))",
            path(&nb_path),
        ])
        .output();
    if let Ok(v) = validate {
        let stderr = String::from_utf8_lossy(&v.stderr);
        assert!(
            v.status.success() || stderr.contains("No module named 'nbformat'"),
            "nbformat: {stderr}"
        );
    }
}

#[test]
fn info_describes_a_checkpoint_and_names_what_is_wrong_with_a_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    let mut meta = CheckpointMeta {
        step: Some(5),
        seed: Some(3),
        ..CheckpointMeta::new(ARCH)
    };
    meta.extra.insert("data".into(), DATA.into());
    save_checkpoint(&dir, &meta, &theta(0), Dtype::F32).unwrap();

    let output = success(curvscope(&["info", path(&dir), "--json"]));
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["n_params"], 18);
    assert_eq!(info["dtype"], "f32");
    assert_eq!(info["tensors"][0]["name"], "hidden.weight");
    assert_eq!(
        info["evaluation"]["data"], DATA,
        "the data recorded in the checkpoint"
    );
    let stored: Vec<f64> = theta(0).iter().map(|&x| x as f32 as f64).collect();
    let objective =
        BurnObjective::<Cpu>::new(ARCH, &halfspace(), &Default::default(), Precision::F64)
            .unwrap()
            .boxed();
    assert_eq!(
        info["evaluation"]["loss"].as_f64(),
        Some(objective.loss(&stored))
    );
    let norm = stored.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert_eq!(info["theta_norm"].as_f64(), Some(norm));

    let text = success(curvscope(&["info", path(&dir)]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("parameters  18") && text.contains("hidden.bias") && text.contains("loss"),
        "{text}"
    );

    let model = dir.join("model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..10]).unwrap();
    let output = curvscope(&["info", path(&dir)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("model.safetensors") && stderr.contains("not a valid safetensors file"),
        "{stderr}"
    );
}

#[test]
fn help_explains_every_flag() {
    for command in ["analyze", "export", "info", "report"] {
        let output = success(curvscope(&[command, "-h"]));
        let help = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = help.lines().collect();
        let flags: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim_start().starts_with('-'))
            .collect();
        assert!(flags.len() >= 3, "{help}");
        for i in flags {
            // "  -k, --top-k <TOP_K>  Number k of …", or the description on the next, deeper line.
            let same_line = lines[i]
                .trim_start()
                .split("  ")
                .skip(1)
                .any(|s| !s.trim().is_empty());
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
            let next_line = !next.is_empty() && !next.starts_with('-');
            assert!(
                same_line || next_line,
                "`curvscope {command}`: undocumented flag: {}",
                lines[i]
            );
        }
    }
    let help = success(curvscope(&["analyze", "--help"]));
    assert!(String::from_utf8_lossy(&help.stdout).contains("fashion-corrupted[:CLEAN:RANDOM]"));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-checkpoints <N>"));
}

/// The researcher's whole workflow through the binary: train → analyze (data spec taken from
/// the checkpoints) → export.
#[test]
fn train_then_analyze_then_export() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    success(curvscope(&common::small_run_args(&run)));
    let out = tmp.path().join("analysis");
    // No --data: analyze reads the spec the training run stored in each checkpoint.
    success(curvscope(&[
        "analyze",
        path(&run),
        "--out",
        path(&out),
        "-k",
        "3",
        "--samples",
        "20",
        "--quiet",
    ]));
    assert_clean(&out);
    let metrics = Csv::read(&out.join("metrics.csv"));
    assert_eq!(metrics.column("step"), ["0", "10", "20"]);
    assert!(metrics.column("data").iter().all(|d| *d == DATA));
    let export = tmp.path().join("export");
    success(curvscope(&["export", path(&out), "--to", path(&export)]));
    assert!(export.join("analysis.ipynb").exists());
    assert!(export.join("metrics.csv").exists());
}

/// --full-spectrum: spectrum.csv holds all D eigenvalues of each checkpoint, equal to
/// nalgebra's eigendecomposition of the dense Hessian, and metrics.csv counts them. Without a
/// λ_min run the whole spectrum still decides the sign of H.
#[test]
fn full_spectrum_writes_every_eigenvalue_and_its_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 2);
    let out = tmp.path().join("analysis");
    success(analyze(&run, &out, &["--full-spectrum", "--no-lambda-min"]));
    let spectrum = Csv::read(&out.join("spectrum.csv"));
    let metrics = Csv::read(&out.join("metrics.csv"));
    let d = ARCH.dim();
    assert_eq!(spectrum.rows.len(), 2 * d);
    let objective =
        BurnObjective::<Cpu>::new(ARCH, &halfspace(), &Default::default(), Precision::F64)
            .unwrap()
            .boxed();
    let eigenvalues = spectrum.numbers("eigenvalue");
    let ranks = spectrum.numbers("rank");
    let rel_diff = metrics.numbers("spectrum_lanczos_rel_diff");
    let (negative, zero) = (
        metrics.numbers("n_negative_eigenvalues"),
        metrics.numbers("n_zero_eigenvalues"),
    );
    for i in 0..2 {
        let truth = full_spectrum(&HessianOperator::new(&*objective, &theta(i as u64)));
        let scale = truth.eigenvalues.iter().fold(0.0f64, |m, l| m.max(l.abs()));
        let rows = i * d..(i + 1) * d;
        let want_ranks: Vec<f64> = (1..=d).map(|r| r as f64).collect();
        assert_eq!(ranks[rows.clone()], want_ranks[..]);
        for (got, want) in eigenvalues[rows].iter().zip(&truth.eigenvalues) {
            assert!((got - want).abs() <= 1e-12 * scale, "{got} vs {want}");
        }
        let count = |keep: &dyn Fn(f64) -> bool| {
            truth.eigenvalues.iter().filter(|&&l| keep(l)).count() as f64
        };
        assert_eq!(negative[i], count(&|l| l < -1e-6 * scale));
        assert_eq!(zero[i], count(&|l| l.abs() <= 1e-6 * scale));
        let indefinite = (negative[i] > 0.0).to_string();
        assert_eq!(metrics.column("negative_curvature")[i], indefinite);
        assert!(rel_diff[i] <= 1e-8, "top-4 vs Lanczos: {}", rel_diff[i]);
    }
    // A record of before 2026-12-04 left the flag unknown: reused, it reads as a new one.
    for entry in std::fs::read_dir(out.join("reports")).unwrap() {
        let file = entry.unwrap().path();
        if file.extension() != Some("json".as_ref()) {
            continue;
        }
        let mut record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        record["report"]["proposition1"]["negative_curvature"] = serde_json::Value::Null;
        std::fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
    }
    let stdout = analyze_with_summary(&run, &out, &["--full-spectrum", "--no-lambda-min"]).stdout;
    assert_eq!(
        String::from_utf8(stdout).unwrap().matches("reused").count(),
        2
    );
    let reused = Csv::read(&out.join("metrics.csv"));
    assert_eq!(
        reused.column("negative_curvature"),
        metrics.column("negative_curvature")
    );
    assert_clean(&out);
}

/// --full-spectrum over its memory budget (given, or --max-memory's where that is less than 8 GB):
/// refused with D and the gigabytes, nothing computed.
#[test]
fn full_spectrum_over_budget_is_refused_with_the_memory_it_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 1);
    let out = tmp.path().join("analysis");
    let output = analyze(
        &run,
        &out,
        &["--full-spectrum", "--full-spectrum-memory", "0.000001"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "the full spectrum of D = 18 needs 0.00000518 GB (the D×D f64 Hessian and the \
             eigensolver's copy), over the memory budget of 0.00000100 GB"
        ),
        "{stderr}"
    );
    assert!(!out.join("reports/step_00000.json").exists());
    assert!(!out.join("spectrum.csv").exists());
    // Without --full-spectrum-memory, a --max-memory below 8 GB bounds it too (by default,
    // 3/4 of the memory available does).
    let output = analyze(&run, &out, &["--full-spectrum", "--max-memory", "4000B"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs 0.00000518 GB")
            && stderr.contains("over the memory budget of 0.00000400 GB"),
        "{stderr}"
    );
    assert!(!out.join("reports/step_00000.json").exists());
}

/// --max-memory: an analysis whose Lanczos basis or Σ's centred gradients do not fit is
/// refused before any work, naming the stage, its size and what to lower; a budget that only
/// the per-sample chunk exceeds lowers the chunk (the same numbers up to rounding); an ample
/// budget changes nothing. Here D = 18 (144-byte vectors), N = 200, k = 4.
#[test]
fn max_memory_refuses_what_cannot_fit_and_shrinks_the_chunk_to_what_can() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 1);
    let refused = |budget: &str, extra: &[&str], message: &str| {
        let out = tmp.path().join(format!("refused-{budget}"));
        let args: Vec<&str> = ["--max-memory", budget]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let output = analyze(&run, &out, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(message),
            "{stderr}"
        );
        assert!(!out.join("reports/step_00000.json").exists());
    };
    // Basis min(D, 2k + 100) = 18, 4 eigenvectors, 4 more vectors: 26 × 144 B = 3.7 kB.
    refused(
        "3kB",
        &[],
        "Lanczos for the top 4 eigenpairs of H (18 basis vectors + 4 eigenvectors) needs 3.7 kB \
         (D = 18), budget 3.0 kB: lower -k or --max-krylov, or raise --max-memory",
    );
    // All N = 200 centred gradients, a chunk of 64, Σ's basis of 18 and 2 eigenvectors, H's 4
    // and 4 more: 292 × 144 B = 42.0 kB.
    refused(
        "40kB",
        &["--sigma-top-k", "2"],
        "Σ's eigenpairs (--sigma-top-k 2): all N = 200 centred gradients + a chunk of 64 + 18 \
         basis vectors + 2 eigenvectors + H's 4 needs 42.0 kB (D = 18), budget 40.0 kB: lower \
         --sigma-top-k (0 skips it) or analyze fewer samples, or raise --max-memory",
    );

    let plain = tmp.path().join("plain");
    success(analyze(&run, &plain, &[]));
    let plain = Csv::read(&plain.join("metrics.csv"));
    let ample = tmp.path().join("ample");
    let output = success(analyze(&run, &ample, &["--max-memory", "8GB"]));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("note:"));
    assert_eq!(
        Csv::read(&ample.join("metrics.csv")).without_time(),
        plain.without_time()
    );
    // 10 kB: room for 69 vectors, 61 beside H's 4 and 4 more, 15 per chunk copy.
    let small = tmp.path().join("small");
    let output = success(analyze(&run, &small, &["--max-memory", "10kB"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("streaming 15 per-sample gradients at a time (not 64)"),
        "{stderr}"
    );
    let small = Csv::read(&small.join("metrics.csv"));
    for (column, (a, b)) in plain
        .header
        .iter()
        .zip(plain.rows[0].iter().zip(&small.rows[0]))
        .filter(|(c, _)| c.as_str() != "wall_time_s")
    {
        match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(a), Ok(b)) => assert!(
                (a - b).abs() <= 1e-12 * a.abs().max(1.0),
                "{column}: {a} vs {b}"
            ),
            _ => assert_eq!(a, b, "{column}"),
        }
    }
}

/// A checkpoint whose record names the half-space points as curvscope drew them before
/// 2026-12-03 (on θ₀'s stream), by their hash or by having none (recorded before 2026-12-01),
/// is analyzed on those points, saying so; one that records today's points, or nothing, on
/// today's.
#[test]
fn a_checkpoint_trained_on_data_drawn_on_the_earlier_stream_is_analyzed_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    let loss_of = |stream| {
        let objective = BurnObjective::<Cpu>::new(
            ARCH,
            &halfspace_on(stream),
            &Default::default(),
            Precision::F64,
        )
        .unwrap()
        .boxed();
        objective.loss(&theta(0))
    };
    let (earlier, today) = (loss_of(DataStream::Shared), loss_of(DataStream::Own));
    assert_ne!(earlier, today);
    let info = |stream| halfspace_on(stream).info().clone();
    // Before 2026-12-01 the inputs were not hashed, and these points have no labels to hash.
    let unhashed = DatasetInfo {
        inputs_sha256: None,
        ..info(DataStream::Shared)
    };
    for (name, recorded, loss) in [
        ("earlier", Some(info(DataStream::Shared)), earlier),
        ("earlier-unhashed", Some(unhashed), earlier),
        ("today", Some(info(DataStream::Own)), today),
        ("unrecorded", None, today),
    ] {
        let meta = CheckpointMeta {
            seed: Some(3),
            dataset: recorded,
            ..CheckpointMeta::new(ARCH)
        };
        let checkpoint = tmp.path().join(name).join("step_00000");
        save_checkpoint(&checkpoint, &meta, &theta(0), Dtype::F64).unwrap();
        let out = tmp.path().join(format!("{name}-analysis"));
        let output = success(analyze(&checkpoint, &out, &[]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.contains("rebuilt as curvscope drew it before 2026-12-03"),
            name.starts_with("earlier"),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("warning"), "{name}: {stderr}");
        let metrics = Csv::read(&out.join("metrics.csv"));
        assert_eq!(metrics.numbers("loss"), [loss], "{name}");
    }
}

/// Two --shard jobs into one folder, then --merge: the CSVs of one plain run (wall time aside);
/// a later plain analyze reuses every shard's record.
#[test]
fn shards_then_merge_equal_one_plain_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 5);
    let (plain, sharded) = (tmp.path().join("plain"), tmp.path().join("sharded"));
    // Merging where no shard ran (a mistyped --out) says so, and makes nothing.
    let nothing = analyze(&run, &sharded, &["--merge"]);
    let err = String::from_utf8_lossy(&nothing.stderr);
    assert!(err.contains("holds no shard records"), "{err}");
    assert!(!sharded.exists());
    success(analyze(&run, &plain, &[]));
    success(analyze(&run, &sharded, &["--shard", "1/2"]));
    assert!(
        !sharded.join("metrics.csv").exists(),
        "a shard writes no CSV"
    );
    let reports = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir.join("reports"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    assert_eq!(
        reports(&sharded),
        ["step_00010.json", "step_00030.json"]
            .map(String::from)
            .into()
    );
    // Merging before every shard finished lists the missing checkpoints and fails.
    let early = analyze(&run, &sharded, &["--merge"]);
    assert!(!early.status.success());
    let failures = Csv::read(&sharded.join("failures.csv"));
    assert_eq!(
        failures.column("checkpoint"),
        ["step_00000", "step_00020", "step_00040"]
    );
    success(analyze(&run, &sharded, &["--shard", "0/2"]));
    success(analyze(&run, &sharded, &["--merge"]));
    assert_eq!(
        Csv::read(&sharded.join("metrics.csv")).without_time(),
        Csv::read(&plain.join("metrics.csv")).without_time()
    );
    for file in ["eigenvalues.csv", "prop1.csv", "failures.csv"] {
        assert_eq!(
            std::fs::read(sharded.join(file)).unwrap(),
            std::fs::read(plain.join(file)).unwrap(),
            "{file}"
        );
    }
    let again = success(analyze_with_summary(&run, &sharded, &[]));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(stdout.matches("reused").count(), 5, "{stdout}");
    assert_clean(&sharded);
}

#[test]
fn a_shard_must_be_i_of_n() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 1);
    for bad in ["2/2", "1", "a/3", "0/0"] {
        let output = analyze(&run, &tmp.path().join("out"), &["--shard", bad]);
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("is not I/N with 0 ≤ I < N"),
            "{bad}: {stderr}"
        );
    }
}

/// A record written before condition 1 skipped unconverged Ritz values is re-read as a new
/// one: reused (same options and checkpoint), its condition 1 is tested on the eigenvalues
/// that converged only. Here a record is made to look unconverged past λ₁ and to claim
/// "first at k = 1", as the old rule could; then given a residual too many, which refuses it.
#[test]
fn a_reused_record_tests_condition_1_on_converged_eigenvalues_only() {
    let tmp = tempfile::tempdir().unwrap();
    let run = make_run(tmp.path(), 1);
    let out = tmp.path().join("analysis");
    assert!(analyze(&run, &out, &[]).status.success());
    let record = out.join("reports/step_00000.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let report = &mut json["report"];
    report["hessian_converged"] = false.into();
    let k = report["hessian_residuals"].as_array().unwrap().len();
    let residuals: Vec<f64> = (0..k).map(|i| if i == 0 { 0.0 } else { 1e3 }).collect();
    report["hessian_residuals"] = residuals.into();
    let p = &mut report["proposition1"];
    p["first_ill_conditioned_k"] = 1.into();
    p.as_object_mut()
        .unwrap()
        .remove("ill_conditioning_unconverged");
    std::fs::write(&record, serde_json::to_vec(&json).unwrap()).unwrap();

    let again = analyze_with_summary(&run, &out, &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("reused"));
    let metrics = Csv::read(&out.join("metrics.csv"));
    assert_eq!(metrics.column("prop1_first_k"), [""]);
    assert_eq!(metrics.column("prop1_k_max"), ["0"]);

    // A residual more than there are eigenvalues (all of them met) would have counted an
    // eigenvalue that is not there as converged: such a record is computed again, not reused.
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let report = &mut json["report"];
    report["hessian_residuals"] = vec![0.0; k + 1].into();
    std::fs::write(&record, serde_json::to_vec(&json).unwrap()).unwrap();
    let again = analyze_with_summary(&run, &out, &[]);
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stdout).contains("reused"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(
        json["report"]["hessian_residuals"]
            .as_array()
            .unwrap()
            .len(),
        k
    );
    assert_eq!(json["report"]["hessian_converged"], true);
}
