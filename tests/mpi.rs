//! `mpirun -n P curvscope analyze|train` (feature `mpi`): every CSV the analysis writes, and
//! every run.csv column and checkpoint θ of `train` under each dynamic, equals the one-process
//! run to 1e-12 relative for P = 2 and 3 (a ReLU MLP on N = 200 random points: 100 + 100, then
//! 67 + 67 + 66); an interrupted job resumes under another P as one process would; a rank that
//! fails stops the job with its rank named. Needs Open MPI's `mpirun` on PATH (.ci/run
//! installs it).
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use curvscope_metrics::Dynamic;
use curvscope_model::{load_checkpoint, save_checkpoint, ArchSpec, CheckpointMeta, Dtype};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 200;

/// A ReLU MLP 4 → 5 → 3 (D = 43): its Hessian has full rank at a random θ, so no eigenvalue
/// or Proposition 1 number is a rounding-level zero whose sign is arbitrary.
fn arch() -> ArchSpec {
    serde_json::from_str(r#"{"name":"mlp","input":4,"hidden":[5],"classes":3,"activation":"relu"}"#)
        .unwrap()
}

/// Every estimate on, small: exact Tr(HΣ), Σ's eigenpairs, the density, the full spectrum,
/// all the sharpness measures (the data: `--data` before these).
const OPTIONS: &[&str] = &[
    "-k",
    "4",
    "--sigma-top-k",
    "3",
    "--samples",
    "20",
    "--density",
    "--density-probes",
    "3",
    "--epsilon-sharpness",
    "0.05",
    "--adaptive-sharpness-avg",
    "0.05",
    "--adaptive-sharpness-l2",
    "0.05",
    "--adaptive-sharpness-linf",
    "0.05",
    "--ascent-iterations",
    "3",
    "--full-spectrum",
    "--chunk",
    "16",
    "--threads",
    "1",
    "--quiet",
];

/// N random points in R⁴ with random labels of 3 classes, as `root/data.npz`, and a run of
/// two checkpoints at fixed random points.
fn make_run(root: &Path) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x: Vec<f32> = (0..N * 4).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<i64> = (0..N).map(|_| rng.random_range(0..3)).collect();
    common::write_npz(&root.join("data.npz"), &x, &[N as u64, 4], &y);
    let run = root.join("run");
    for i in 0..2u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(100 + i);
        let theta: Vec<f64> = (0..arch().dim())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let meta = CheckpointMeta {
            step: Some(10 * i),
            batch_size: Some(20),
            seed: Some(3),
            ..CheckpointMeta::new(arch())
        };
        save_checkpoint(&run.join(format!("step_{i}")), &meta, &theta, Dtype::F64).unwrap();
    }
    run
}

/// `analyze` of `run` into `out` on the data beside the run, with [`OPTIONS`].
fn analyze(run: &Path, out: &Path) -> Vec<String> {
    let data = run.with_file_name("data.npz");
    let mut args: Vec<String> = [
        "analyze",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(OPTIONS.iter().map(|s| s.to_string()));
    args
}

/// `mpirun` with a session folder of its own: Open MPI keeps its jobs' under TMPDIR, and a
/// job ending beside another (the tests run in parallel) could remove the shared one while the
/// other was making its own in it (once in CI: "unable to create the desired directory").
fn launched(mut mpirun: Command) -> Output {
    let session = tempfile::tempdir().unwrap();
    mpirun
        .env("TMPDIR", session.path())
        .output()
        .expect("mpirun runs (Open MPI installed?)")
}

/// `mpirun -n ranks curvscope <args>` (as root too, and with more ranks than cores).
fn mpirun(ranks: usize, args: &[String]) -> Output {
    let mut mpirun = Command::new("mpirun");
    mpirun
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-n",
            &ranks.to_string(),
        ])
        .arg(env!("CARGO_BIN_EXE_curvscope"))
        .args(args);
    launched(mpirun)
}

/// `curvscope <args>` in one process.
fn one_process(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(args)
        .output()
        .unwrap()
}

/// `out` succeeded; else its stderr, under `what`.
fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CSV files of an analysis folder, by name.
fn csvs(dir: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_path(dir.join(&name))
                .unwrap();
            let rows = reader
                .records()
                .map(|r| r.unwrap().iter().map(String::from).collect())
                .collect();
            (name, rows)
        })
        .collect()
}

/// metrics.csv columns that are relative rounding errors themselves (≈ 1e-16).
const RELATIVE_ERRORS: &[&str] = &["spectrum_asymmetry", "spectrum_lanczos_rel_diff"];

/// Every cell of every CSV equal, numbers to `rtol` relative to the larger of the two, or of
/// the column's largest magnitude (a column such as the density grid is one scale: its points
/// near 0 carry the grid's absolute rounding), or of 1 for the columns that are themselves
/// relative rounding errors; `wall_time_s` is skipped. Returns the number of numbers compared.
fn assert_same_tables(got: &Path, want: &Path, rtol: f64) -> usize {
    let (got, want) = (csvs(got), csvs(want));
    assert_eq!(
        got.iter().map(|t| &t.0).collect::<Vec<_>>(),
        want.iter().map(|t| &t.0).collect::<Vec<_>>(),
        "the same CSV files"
    );
    let mut compared = 0;
    let mut failures = Vec::new();
    for ((name, got), (_, want)) in got.iter().zip(&want) {
        assert_eq!(got.len(), want.len(), "{name}: rows");
        assert_eq!(got[0], want[0], "{name}: header");
        for (col, header) in want[0].iter().enumerate() {
            if header == "wall_time_s" {
                continue;
            }
            let scale = want[1..]
                .iter()
                .filter_map(|r| r[col].parse::<f64>().ok())
                .fold(0.0, |m: f64, x| m.max(x.abs()));
            for (row, (g, w)) in got[1..].iter().zip(&want[1..]).enumerate() {
                let scale = if RELATIVE_ERRORS.contains(&header.as_str()) {
                    1.0
                } else {
                    scale
                };
                let (g, w) = (&g[col], &w[col]);
                match (g.parse::<f64>(), w.parse::<f64>()) {
                    (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() => {
                        if (a - b).abs() > rtol * a.abs().max(b.abs()).max(scale) {
                            failures.push(format!("{name} row {row} {header}: {a} vs {b}"));
                        }
                        compared += 1;
                    }
                    _ if g != w => failures.push(format!("{name} row {row} {header}: {g} vs {w}")),
                    _ => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "differences from one process:\n{}",
        failures.join("\n")
    );
    compared
}

#[test]
fn every_column_under_mpirun_equals_one_process() {
    let root = tempfile::tempdir().unwrap();
    let run = make_run(root.path());
    let single = root.path().join("single");
    assert_ok(&one_process(&analyze(&run, &single)), "one process");
    for ranks in [2, 3] {
        let dir = root.path().join(format!("ranks{ranks}"));
        assert_ok(
            &mpirun(ranks, &analyze(&run, &dir)),
            &format!("mpirun -n {ranks}"),
        );
        let compared = assert_same_tables(&dir, &single, 1e-12);
        assert!(compared > 200, "only {compared} numbers compared");
    }
}

/// A job of two ranks, rank 0 running `curvscope <first>` and rank 1 `curvscope <second>`
/// (Open MPI's MPMD syntax: one command per rank).
fn mpirun_two(first: &[String], second: &[String]) -> Output {
    let mut mpirun = Command::new("mpirun");
    mpirun
        // A job that hangs (what these tests guard against) fails instead.
        .args(["--timeout", "300"])
        .args(["--allow-run-as-root", "--oversubscribe", "-n", "1"])
        .arg(env!("CARGO_BIN_EXE_curvscope"))
        .args(first)
        .args([":", "-n", "1"])
        .arg(env!("CARGO_BIN_EXE_curvscope"))
        .args(second);
    launched(mpirun)
}

/// `args` with the value of `flag` replaced by `value`.
fn with(args: &[String], flag: &str, value: &Path) -> Vec<String> {
    let mut args = args.to_vec();
    let at = args.iter().position(|a| a == flag).unwrap() + 1;
    args[at] = value.to_str().unwrap().to_string();
    args
}

/// A job of two ranks running `args`, rank 1 with `--data` a file that does not exist, must
/// fail, naming rank 1 and the file.
fn assert_failing_rank_is_named(root: &Path, args: &[String]) {
    let bad = with(args, "--data", &root.join("missing.npz"));
    let out = mpirun_two(args, &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job must fail: {stderr}");
    assert!(
        stderr.contains("error: rank 1 of 2:") && stderr.contains("missing.npz"),
        "{stderr}"
    );
}

#[test]
fn a_failing_rank_stops_the_job_and_is_named() {
    let root = tempfile::tempdir().unwrap();
    let run = make_run(root.path());
    assert_failing_rank_is_named(root.path(), &analyze(&run, &root.path().join("out")));
}

/// Ranks that read other files (a snapshot written during the analysis, a stale cache on one
/// node) or run other options stop the job, every rank with the same error: other checkpoints,
/// other data, another --samples or --max-checkpoints; other bytes of one checkpoint fail that
/// checkpoint, listed. Before, they waited forever, or summed one θ's numbers with another's
/// (other options: a double free, or records of mixed seeds).
#[test]
fn ranks_that_see_other_files_stop_the_job() {
    let root = tempfile::tempdir().unwrap();
    let run = make_run(root.path());
    let args = analyze(&run, &root.path().join("out"));
    let copy = |to: &str| {
        let to = root.path().join(to);
        for step in ["step_0", "step_1"] {
            std::fs::create_dir_all(to.join(step)).unwrap();
            for file in ["model.safetensors", "checkpoint.json"] {
                std::fs::copy(run.join(step).join(file), to.join(step).join(file)).unwrap();
            }
        }
        to
    };
    let more = copy("more");
    std::fs::rename(more.join("step_1"), more.join("step_2")).unwrap();
    let rewritten = copy("rewritten");
    let theta = load_checkpoint(&run.join("step_0")).unwrap();
    let mut other = theta.theta.clone();
    other[0] += 1.0;
    save_checkpoint(&rewritten.join("step_1"), &theta.meta, &other, Dtype::F64).unwrap();
    // make_run's points and labels, one point moved, under the same file name elsewhere.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut x: Vec<f32> = (0..N * 4).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<i64> = (0..N).map(|_| rng.random_range(0..3)).collect();
    x[0] += 0.5;
    std::fs::create_dir(root.path().join("other")).unwrap();
    let data = root.path().join("other/data.npz");
    common::write_npz(&data, &x, &[N as u64, 4], &y);
    for (second, what) in [
        (with(&args, "analyze", &more), "see the checkpoints of"),
        (with(&args, "analyze", &rewritten), "see step_1's files"),
        (with(&args, "--data", &data), "see the data 'data'"),
        (
            with(&args, "--samples", Path::new("21")),
            "see the analysis options",
        ),
    ] {
        let _ = std::fs::remove_dir_all(root.path().join("out"));
        let out = mpirun_two(&args, &second);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "the job must fail: {stderr}");
        assert!(
            stderr.contains(&format!("rank(s) 1 of 2 {what}")),
            "{stderr}"
        );
        // Other bytes of one checkpoint fail that checkpoint on every rank alike: it is
        // listed, and the job goes on to the next (step_0 here, analyzed first).
        if what == "see step_1's files" {
            let failures = std::fs::read_to_string(root.path().join("out/failures.csv")).unwrap();
            assert!(failures.contains("step_1"), "{failures}");
            assert!(root.path().join("out/reports/step_0.json").exists());
        }
    }
    // Another --max-checkpoints makes other numbers of collective calls: refused, not a hang.
    let mut fewer = args.clone();
    fewer.extend(["--max-checkpoints".to_string(), "1".to_string()]);
    let out = mpirun_two(&args, &fewer);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("see the analysis options"),
        "{stderr}"
    );
}

/// A checkpoint that does not load (cut short) fails on every rank alike: the job lists it in
/// failures.csv and analyzes the others, as one process does, and exits 1. It used to abort
/// the whole job, and every rerun stopped at it again.
#[test]
fn a_damaged_checkpoint_is_listed_and_the_job_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let run = make_run(root.path());
    let model = run.join("step_0/model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 100]).unwrap();
    let (single, job) = (root.path().join("single"), root.path().join("job"));
    for (out, dir) in [
        (one_process(&analyze(&run, &single)), &single),
        (mpirun(2, &analyze(&run, &job)), &job),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.matches("checkpoint step_0 failed").count(),
            1,
            "said once: {stderr}"
        );
        assert!(dir.join("reports/step_1.json").exists(), "{stderr}");
        let failures = std::fs::read_to_string(dir.join("failures.csv")).unwrap();
        assert!(failures.contains("step_0"), "{failures}");
    }
    assert!(assert_same_tables(&job, &single, 1e-12) > 100);

    // Data that does not fit the net (5 features for its 4 inputs) fails each checkpoint on
    // every rank alike, before the network is built: listed, as one process lists them.
    let x = vec![0.5f32; N * 5];
    let misfit = root.path().join("misfit.npz");
    common::write_npz(&misfit, &x, &[N as u64, 5], &vec![0; N]);
    let args = with(
        &analyze(&run, &root.path().join("misfit")),
        "--data",
        &misfit,
    );
    let out = mpirun(2, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("MPI_ABORT"), "{stderr}");
    let failures = std::fs::read_to_string(root.path().join("misfit/failures.csv")).unwrap();
    assert!(failures.contains("does not fit"), "{failures}");
}

/// Ranks on nodes with other free memory plan one chunk size, the smallest budget's: two
/// chunk sizes made two numbers of collective calls, and the job waited forever.
#[test]
fn ranks_with_other_memory_budgets_plan_alike() {
    let root = tempfile::tempdir().unwrap();
    let run = make_run(root.path());
    let cheap = |out: &str| {
        let data = run.with_file_name("data.npz");
        [
            "analyze",
            run.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            root.path().join(out).to_str().unwrap(),
            "-k",
            "4",
            "--samples",
            "20",
            "--chunk",
            "16",
            "--quiet",
        ]
        .map(String::from)
        .to_vec()
    };
    let budget = ["--max-memory".to_string(), "20kB".to_string()];
    let single = [cheap("single"), budget.to_vec()].concat();
    let out = one_process(&single);
    assert_ok(&out, "one process");
    assert!(String::from_utf8_lossy(&out.stderr).contains("streaming 12 per-sample gradients"));
    let two = mpirun_two(&[cheap("two"), budget.to_vec()].concat(), &cheap("two"));
    assert_ok(&two, "mpirun, rank 0 with the smaller budget");
    assert_same_tables(&root.path().join("two"), &root.path().join("single"), 1e-12);
}

/// An analysis interrupted under `mpirun -n 2` after its first checkpoint resumes under
/// `mpirun -n 3`: rank 0 finds the first record current and tells the others (it is kept
/// byte for byte, not recomputed), the second is computed, and every CSV equals one process'.
#[test]
fn an_interrupted_analysis_resumes_under_mpirun() {
    let root = tempfile::tempdir().unwrap();
    let run = make_run(root.path());
    let single = root.path().join("single");
    assert_ok(&one_process(&analyze(&run, &single)), "one process");
    let dir = root.path().join("resumed");
    let mut first = analyze(&run, &dir);
    first.extend(["--max-checkpoints".to_string(), "1".to_string()]);
    assert_ok(&mpirun(2, &first), "mpirun -n 2, first checkpoint");
    let record = dir.join("reports/step_0.json");
    let before = std::fs::read(&record).unwrap();
    assert!(!dir.join("reports/step_1.json").exists());
    assert_ok(&mpirun(3, &analyze(&run, &dir)), "mpirun -n 3, resumed");
    assert_eq!(std::fs::read(&record).unwrap(), before, "step_0 reused");
    assert!(assert_same_tables(&dir, &single, 1e-12) > 200);
}

/// ReLU MLP 4 → 5 → 3 as `--arch`.
const ARCH: &str = r#"{"name":"mlp","input":4,"hidden":[5],"classes":3,"activation":"relu"}"#;

/// `train` with `dynamic` on the data of [`make_run`] (also its --eval-data) into `out`: 6
/// steps in f64 with snapshots and noise refreshes every 3, k = 3, one thread (per rank).
fn train(root: &Path, dynamic: Dynamic, out: &Path) -> Vec<String> {
    let data = root.join("data.npz");
    [
        "train",
        "--arch",
        ARCH,
        "--data",
        data.to_str().unwrap(),
        "--eval-data",
        data.to_str().unwrap(),
        "--dynamic",
        dynamic.name(),
        "--lr",
        "0.5",
        "--batch",
        "10",
        "--steps",
        "6",
        "--snapshot-every",
        "3",
        "--precision",
        "f64",
        "--seed",
        "5",
        "--threads",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .into_iter()
    // Each noise flag only for the dynamics that use it (the others refuse it).
    .chain(
        dynamic
            .refreshes()
            .then_some(["--refresh-every", "3"])
            .into_iter()
            .flatten(),
    )
    .chain(
        matches!(dynamic, Dynamic::GldLeading | Dynamic::GldHessian)
            .then_some(["--rank", "3"])
            .into_iter()
            .flatten(),
    )
    .map(String::from)
    .collect()
}

/// The files of a run folder, and their θ and gld-const's ρ (checkpoint.json's noise_std)
/// equal to one process' (`want`) to `rtol` relative to max|θ|; run.csv to `rtol` by
/// [`assert_same_tables`].
fn assert_same_run(got: &Path, want: &Path, rtol: f64) {
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(got), names(want), "{}: files", got.display());
    assert!(assert_same_tables(got, want, rtol) >= 3 * 4);
    for name in names(want).iter().filter(|n| n.starts_with("step-")) {
        let (a, b) = (
            load_checkpoint(&got.join(name)).unwrap(),
            load_checkpoint(&want.join(name)).unwrap(),
        );
        let scale = b.theta.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
        let worst = a
            .theta
            .iter()
            .zip(&b.theta)
            .fold(0.0, |m: f64, (x, y)| m.max((x - y).abs()));
        assert!(
            worst <= rtol * scale,
            "{}/{name}: θ differs by {worst:e} (max|θ| {scale})",
            got.display()
        );
        let rho = |c: &curvscope_model::Checkpoint| c.meta.extra.get("noise_std").cloned();
        match (rho(&a), rho(&b)) {
            (Some(x), Some(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= rtol * y.abs(), "{name}: ρ {x} vs {y}");
            }
            (x, y) => assert_eq!(x, y, "{name}: noise_std"),
        }
    }
}

/// Every dynamic `train --help` offers, under `mpirun -n 2` and `-n 3`, writes the run folder
/// one process writes: the same files, every run.csv column (train and test loss and
/// accuracy) and every checkpoint's θ to 1e-12 relative.
#[test]
fn train_under_mpirun_equals_one_process_for_every_dynamic() {
    let root = tempfile::tempdir().unwrap();
    make_run(root.path());
    for dynamic in Dynamic::ALL {
        let single = root.path().join(format!("{dynamic}-single"));
        assert_ok(
            &one_process(&train(root.path(), dynamic, &single)),
            dynamic.name(),
        );
        for ranks in [2, 3] {
            let dir = root.path().join(format!("{dynamic}-ranks{ranks}"));
            let out = mpirun(ranks, &train(root.path(), dynamic, &dir));
            assert_ok(&out, &format!("{dynamic}, mpirun -n {ranks}"));
            assert_same_run(&dir, &single, 1e-12);
        }
    }
}

/// A training job stopped under `mpirun -n 2` after 4 of 6 steps (its last snapshot at step
/// 3), with run.csv's last row lost, resumes under `mpirun -n 3`: rank 0 reads the folder and
/// sends the step and θ, every rank recomputes the lost row, and the run equals an
/// uninterrupted one-process run (gld-diag re-estimates its noise at the resumed step, as
/// the uninterrupted run does).
#[test]
fn an_interrupted_training_resumes_under_mpirun() {
    let root = tempfile::tempdir().unwrap();
    make_run(root.path());
    let single = root.path().join("single");
    let dynamic = Dynamic::GldDiag;
    assert_ok(
        &one_process(&train(root.path(), dynamic, &single)),
        "one process",
    );
    let dir = root.path().join("resumed");
    let mut stopped = train(root.path(), dynamic, &dir);
    stopped.extend(["--stop-after-steps".to_string(), "4".to_string()]);
    assert_ok(&mpirun(2, &stopped), "mpirun -n 2, stopped");
    assert!(dir.join("step-000003").exists() && !dir.join("step-000006").exists());
    let csv = dir.join("run.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    assert!(text.lines().nth(2).unwrap().starts_with("3,"), "{text}");
    std::fs::write(&csv, kept.join("\n") + "\n").unwrap();
    let mut resumed = train(root.path(), dynamic, &dir);
    resumed.push("--resume".to_string());
    let out = mpirun(3, &resumed);
    assert_ok(&out, "mpirun -n 3, resumed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("recomputing the row of step 3"), "{stderr}");
    assert_same_run(&dir, &single, 1e-12);
}

/// `train` too: a rank that fails stops the job with its rank named.
#[test]
fn a_failing_rank_stops_training_and_is_named() {
    let root = tempfile::tempdir().unwrap();
    make_run(root.path());
    let args = train(root.path(), Dynamic::Sgd, &root.path().join("out"));
    assert_failing_rank_is_named(root.path(), &args);
    // A rank of another --lr would step θ otherwise than rank 0 records.
    let out = mpirun_two(&args, &with(&args, "--lr", Path::new("0.25")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job must fail: {stderr}");
    assert!(
        stderr.contains("rank(s) 1 of 2 see the training configuration"),
        "{stderr}"
    );
}
