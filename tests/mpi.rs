//! `mpirun -n P curvscope analyze` (feature `mpi`): every CSV the analysis writes equals the
//! one-process analysis to 1e-12 relative for P = 2 and 3 (a ReLU MLP on N = 200 random
//! points: 100 + 100, then 67 + 67 + 66), and a rank that fails stops the job with its rank named. Needs Open MPI's
//! `mpirun` on PATH (.ci/run installs it).
#![cfg(feature = "mpi")]

#[allow(dead_code)] // only write_npz is needed here
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use curvscope_model::{save_checkpoint, ArchSpec, CheckpointMeta, Dtype};
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

/// `mpirun -n ranks curvscope <args>` (as root too, and with more ranks than cores).
fn mpirun(ranks: usize, args: &[String]) -> Output {
    Command::new("mpirun")
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-n",
            &ranks.to_string(),
        ])
        .arg(env!("CARGO_BIN_EXE_curvscope"))
        .args(args)
        .output()
        .expect("mpirun runs (Open MPI installed?)")
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
    let out = Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(analyze(&run, &single))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for ranks in [2, 3] {
        let dir = root.path().join(format!("ranks{ranks}"));
        let out = mpirun(ranks, &analyze(&run, &dir));
        assert!(
            out.status.success(),
            "mpirun -n {ranks}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let compared = assert_same_tables(&dir, &single, 1e-12);
        assert!(compared > 200, "only {compared} numbers compared");
    }
}

#[test]
fn a_failing_rank_stops_the_job_and_is_named() {
    let root = tempfile::tempdir().unwrap();
    let run = make_run(root.path());
    let good = analyze(&run, &root.path().join("out"));
    // Rank 1 gets data that does not exist (Open MPI's MPMD syntax: one command per rank).
    let mut bad = good.clone();
    let data = bad.iter().position(|a| a == "--data").unwrap() + 1;
    bad[data] = root
        .path()
        .join("missing.npz")
        .to_str()
        .unwrap()
        .to_string();
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-n", "1"])
        .arg(env!("CARGO_BIN_EXE_curvscope"))
        .args(&good)
        .args([":", "-n", "1"])
        .arg(env!("CARGO_BIN_EXE_curvscope"))
        .args(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job must fail: {stderr}");
    assert!(
        stderr.contains("error: rank 1 of 2:") && stderr.contains("missing.npz"),
        "{stderr}"
    );
}
