//! `curvscope train` end to end, on a small MLP on the bundled digits (D = 610, N = 1797).

use std::path::{Path, PathBuf};
use std::process::Output;

use curvscope_model::{load_checkpoint, Dtype};

const MLP: &str = r#"{"name":"mlp","input":64,"hidden":[8],"classes":10,"activation":"tanh"}"#;
const HEADER: &str = "step,train_loss,train_accuracy,test_loss,test_accuracy,noise_trace,\
     noise_unconverged,wall_time_s";

/// `curvscope train` on the MLP and digits, 40 steps of lr 0.1 with batch 10 and snapshots
/// every 10 unless `extra` sets those flags itself.
fn train(out: &Path, extra: &[&str]) -> Output {
    let defaults = [
        ("--arch", MLP),
        ("--data", "digits"),
        ("--lr", "0.1"),
        ("--batch", "10"),
        ("--steps", "40"),
        ("--snapshot-every", "10"),
    ];
    let mut args = vec!["train", "--quiet", "--out", out.to_str().unwrap()];
    for (flag, value) in defaults
        .into_iter()
        .filter(|(flag, _)| !extra.contains(flag))
    {
        args.extend([flag, value]);
    }
    args.extend_from_slice(extra);
    std::process::Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(&args)
        .output()
        .expect("the binary runs")
}

fn train_ok(out: &Path, extra: &[&str]) {
    let result = train(out, extra);
    assert!(
        result.status.success(),
        "curvscope train {extra:?} failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A JSON file the run wrote (run.json, a checkpoint.json), parsed.
fn read_json(file: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// Every file of every snapshot folder, by relative path, with its bytes.
fn checkpoint_files(run: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for file in names {
            files.push((
                file.strip_prefix(run).unwrap().to_path_buf(),
                std::fs::read(&file).unwrap(),
            ));
        }
    }
    files
}

/// run.csv as rows of cells.
fn csv(run: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(run.join("run.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER));
    lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

/// run.csv without the wall-time column, the one thing that differs between equal runs.
fn csv_without_time(run: &Path) -> Vec<Vec<String>> {
    csv(run)
        .into_iter()
        .map(|mut row| {
            row.pop();
            row
        })
        .collect()
}

#[test]
fn a_run_folder_holds_config_csv_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, evaluated) = (dir.path().join("plain"), dir.path().join("evaluated"));
    train_ok(&plain, &["--dynamic", "sgd"]);
    train_ok(
        &evaluated,
        &[
            "--dynamic",
            "sgd",
            "--precision",
            "f64",
            "--eval-data",
            "digits",
        ],
    );

    let rows = csv(&plain);
    let steps: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(steps, ["0", "10", "20", "30", "40"]);
    for row in &rows {
        assert_eq!(row.len(), 8);
        let loss: f64 = row[1].parse().unwrap();
        let accuracy: f64 = row[2].parse().unwrap();
        assert!(loss > 0.0 && (0.0..=1.0).contains(&accuracy));
        assert_eq!(
            (&row[3][..], &row[4][..], &row[5][..], &row[6][..]),
            ("", "", "", ""),
            "no --eval-data, no test cells; SGD draws no Gaussian noise and runs no Lanczos"
        );
        assert!(row[7].parse::<f64>().unwrap() >= 0.0);
    }
    assert!(
        rows[4][1].parse::<f64>().unwrap() < rows[0][1].parse::<f64>().unwrap(),
        "SGD lowers the loss"
    );

    // With held-out data equal to the training set, the test cells repeat the training ones.
    for row in csv(&evaluated) {
        assert_eq!((&row[3], &row[4]), (&row[1], &row[2]));
    }

    let config = read_json(&plain.join("run.json"));
    assert_eq!(
        (
            config["dynamic"].as_str(),
            config["lr"].as_f64(),
            config["batch"].as_u64()
        ),
        (Some("sgd"), Some(0.1), Some(10))
    );
    assert_eq!(config["dataset"]["n"], 1797);
    assert_eq!(
        config["dataset"]["labels_sha256"].as_str().map(str::len),
        Some(64)
    );

    for (run, dtype) in [(&plain, Dtype::F32), (&evaluated, Dtype::F64)] {
        for step in [0u64, 10, 20, 30, 40] {
            let ckpt = load_checkpoint(&run.join(format!("step-{step:06}"))).unwrap();
            assert_eq!(ckpt.dtype, dtype);
            let meta = ckpt.meta;
            assert_eq!(
                (
                    meta.step,
                    meta.dynamic.as_deref(),
                    meta.lr,
                    meta.batch_size,
                    meta.seed
                ),
                (Some(step), Some("sgd"), Some(0.1), Some(10), Some(0))
            );
            assert_eq!(
                meta.dataset.unwrap().labels_sha256,
                config["dataset"]["labels_sha256"]
                    .as_str()
                    .map(String::from)
            );
        }
    }
}

#[test]
fn the_same_seed_gives_byte_identical_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let runs = ["a", "b", "c"].map(|name| dir.path().join(name));
    for (run, seed) in runs.iter().zip(["3", "3", "4"]) {
        train_ok(run, &["--dynamic", "msgd-gaussian", "--seed", seed]);
    }
    let (a, b, c) = (
        checkpoint_files(&runs[0]),
        checkpoint_files(&runs[1]),
        checkpoint_files(&runs[2]),
    );
    assert_eq!(a.len(), 10, "5 snapshots of 2 files");
    assert!(a == b, "same seed, different checkpoints");
    assert!(a != c, "another seed should change the run");
    assert_eq!(csv_without_time(&runs[0]), csv_without_time(&runs[1]));
}

/// A run stopped after 25 steps (snapshots 0, 10, 20), with a half-written snapshot 30 and a
/// stray run.csv row, resumes to exactly the uninterrupted run, the bad folder set aside.
#[test]
fn an_interrupted_run_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 4] = [
        &["--dynamic", "sgd-no-replacement"],
        &[
            "--dynamic",
            "gld-eigvec1",
            "--refresh-every",
            "5",
            "--precision",
            "f64",
        ],
        &["--dynamic", "gld-const", "--lr", "0.05"],
        &[
            "--dynamic",
            "gld-leading",
            "--rank",
            "3",
            "--refresh-every",
            "10",
        ],
    ];
    for (i, flags) in cases.iter().enumerate() {
        let whole = dir.path().join(format!("whole-{i}"));
        let resumed = dir.path().join(format!("resumed-{i}"));
        train_ok(&whole, flags);
        // The Lanczos runs of GLD 1st eigvec and leading all converge here (0 per interval).
        let lanczos = flags.contains(&"gld-eigvec1") || flags.contains(&"gld-leading");
        for row in csv(&whole) {
            assert_eq!(row[6], if lanczos { "0" } else { "" }, "{flags:?}");
        }
        let with = |more: &[&'static str]| flags.iter().chain(more).copied().collect::<Vec<_>>();
        train_ok(&resumed, &with(&["--stop-after-steps", "25"]));
        assert_eq!(
            csv(&resumed).len(),
            3,
            "{flags:?}: snapshots 0, 10, 20 before the stop"
        );
        assert!(!resumed.join("step-000030").exists());

        // What a kill during the save of step 30 could leave behind.
        std::fs::create_dir(resumed.join("step-000030")).unwrap();
        std::fs::write(
            resumed.join("step-000030/model.safetensors"),
            b"half a file",
        )
        .unwrap();
        let mut text = std::fs::read_to_string(resumed.join("run.csv")).unwrap();
        text.push_str("30,1,1,,,,,9\n");
        std::fs::write(resumed.join("run.csv"), text).unwrap();

        train_ok(&resumed, &with(&["--resume"]));
        // The half-written folder is set aside, not deleted.
        let aside = resumed.join("step-000030.bad-1");
        assert_eq!(
            std::fs::read(aside.join("model.safetensors")).unwrap(),
            b"half a file"
        );
        std::fs::remove_dir_all(aside).unwrap();
        assert!(
            checkpoint_files(&whole) == checkpoint_files(&resumed),
            "{flags:?}: resumed checkpoints differ"
        );
        assert_eq!(
            csv_without_time(&whole),
            csv_without_time(&resumed),
            "{flags:?}"
        );
    }
}

/// run.csv's `noise_trace` is the E‖ε‖² each interval drew: GLD dynamic's Tr(Σ)/b at the θ of
/// its last re-estimate, R = 10 steps before the row (analyze's exact Tr(Σ) of that
/// checkpoint), GLD const's ρ²·D; empty at step 0 and for the dynamics without Gaussian noise.
#[test]
fn run_csv_logs_the_noise_trace_each_interval_drew() {
    let dir = tempfile::tempdir().unwrap();
    let small = [
        "--data",
        "digits:300",
        "--precision",
        "f64",
        "--steps",
        "30",
    ];
    let dynamic = dir.path().join("gld-dynamic");
    train_ok(
        &dynamic,
        &[&small[..], &["--dynamic", "gld-dynamic"]].concat(),
    );
    let analyzed = std::process::Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(["analyze", "--quiet", "--no-sharpness", "--no-lambda-min"])
        .args(["--trace-probes", "10", "--trace-h-sigma-probes", "10"])
        .arg(&dynamic)
        .output()
        .unwrap();
    assert!(analyzed.status.success(), "{}", stderr(&analyzed));
    let metrics = std::fs::read_to_string(dynamic.join("analysis/metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name| header.iter().position(|h| *h == name).unwrap();
    let (step, trace_sigma) = (column("step"), column("trace_sigma"));
    let sigma_over_b: Vec<(String, f64)> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|row| {
            (
                row[step].to_string(),
                row[trace_sigma].parse::<f64>().unwrap() / 10.0,
            )
        })
        .collect();
    let rows = csv(&dynamic);
    assert_eq!(rows[0][5], "", "no noise drawn before step 0");
    assert_eq!(rows.len(), sigma_over_b.len());
    for (row, (earlier_step, expected)) in rows[1..].iter().zip(&sigma_over_b) {
        let logged: f64 = row[5].parse().unwrap();
        assert!(
            (logged - expected).abs() <= 1e-12 * expected,
            "step {}: noise_trace {logged}, Tr(Σ)/b at step {earlier_step} {expected}",
            row[0]
        );
    }

    let constant = dir.path().join("gld-const");
    let rho = ["--dynamic", "gld-const", "--noise-std", "0.01"];
    train_ok(&constant, &[&small[..], &rho].concat());
    let d = 610.0; // 64·8 + 8 + 8·10 + 10
    for row in &csv(&constant)[1..] {
        let logged: f64 = row[5].parse().unwrap();
        assert!((logged - 1e-4 * d).abs() <= 1e-12, "{row:?}");
    }
    let sgd = dir.path().join("sgd");
    train_ok(&sgd, &[&small[..], &["--dynamic", "sgd"]].concat());
    assert!(csv(&sgd).iter().all(|row| row[5].is_empty()));
}

/// A run whose run.csv was written before the `noise_trace` column resumes with its rows
/// kept, wall times included, that cell empty in them and filled in the rows after.
#[test]
fn a_run_csv_from_before_the_noise_trace_column_resumes_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let flags = ["--dynamic", "gld-dynamic", "--data", "digits:200"];
    train_ok(&run, &[&flags[..], &["--steps", "20"]].concat());
    let old: Vec<Vec<String>> = csv(&run)
        .into_iter()
        .map(|mut row| {
            row.remove(5);
            row
        })
        .collect();
    let old_header = HEADER.replace("noise_trace,", "");
    let text: String = std::iter::once(old_header)
        .chain(old.iter().map(|row| row.join(",")))
        .map(|line| line + "\n")
        .collect();
    std::fs::write(run.join("run.csv"), text).unwrap();

    let resumed = train(&run, &[&flags[..], &["--steps", "40", "--resume"]].concat());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        !stderr(&resumed).contains("rebuilt"),
        "{}",
        stderr(&resumed)
    );
    let rows = csv(&run);
    assert_eq!(rows.len(), 5, "{rows:?}");
    for (row, old) in rows.iter().zip(&old) {
        assert_eq!(row[5], "");
        assert_eq!([&row[..5], &row[6..]].concat(), *old);
    }
    assert!(rows[3..]
        .iter()
        .all(|row| row[5].parse::<f64>().unwrap() > 0.0));
}

#[test]
fn an_existing_run_is_never_overwritten_and_resume_checks_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_ok(&run, &["--dynamic", "gd"]);
    let before = checkpoint_files(&run);

    let again = train(&run, &["--dynamic", "gd"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists") && stderr(&again).contains("--resume"),
        "{}",
        stderr(&again)
    );

    let changed = train(&run, &["--dynamic", "gd", "--batch", "11", "--resume"]);
    assert!(!changed.status.success());
    assert!(stderr(&changed).contains("`batch`"), "{}", stderr(&changed));
    // Another --seed is named as such, not as the init_seed drawn from it.
    let reseeded = train(&run, &["--dynamic", "gd", "--seed", "5", "--resume"]);
    assert!(!reseeded.status.success());
    assert!(
        stderr(&reseeded).contains("`seed`"),
        "{}",
        stderr(&reseeded)
    );
    assert!(
        before == checkpoint_files(&run),
        "a refused command must leave the run as it was"
    );

    // Raising --steps extends a finished run, keeping a field the user added to run.json.
    let run_json = run.join("run.json");
    let mut config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&run_json).unwrap()).unwrap();
    config.insert("note".into(), "lr sweep, first try".into());
    // A run.json written before --noise-every, --leading-unscaled and --noise-samples (and
    // before the noise settings were recorded whole, with `noise_trace`) resumes as their
    // defaults.
    let null = Some(serde_json::Value::Null);
    assert_eq!(config.remove("noise_every"), Some(1.into()));
    assert_eq!(config.remove("leading_unscaled"), Some(false.into()));
    assert_eq!(config.remove("noise_samples"), null);
    assert_eq!(config.remove("noise_trace"), null);
    std::fs::write(&run_json, serde_json::to_vec(&config).unwrap()).unwrap();
    train_ok(&run, &["--dynamic", "gd", "--steps", "50", "--resume"]);
    assert_eq!(csv(&run).last().unwrap()[0], "50");
    let resumed = read_json(&run_json);
    assert_eq!(resumed["note"], "lr sweep, first try");
    assert_eq!(resumed["steps"], 50);
}

/// A run of a dynamic that re-estimates its noise every 10 steps, ended at step 35 and then
/// extended to 50, equals a 50-step run: it resumes at step 30, where the noise was last
/// re-estimated, not at 35 (which re-estimated it there and went on on other numbers). Its old
/// end, step 35, keeps its snapshot and its row (it was left without a row).
#[test]
fn an_extended_run_of_a_refreshing_dynamic_equals_the_longer_run() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, extended) = (dir.path().join("whole"), dir.path().join("extended"));
    let flags = ["--dynamic", "gld-diag", "--data", "digits:200"];
    let with = |steps: &'static str, more: &[&'static str]| {
        flags
            .iter()
            .chain(&["--steps", steps])
            .chain(more)
            .copied()
            .collect::<Vec<_>>()
    };
    train_ok(&whole, &with("50", &[]));
    train_ok(&extended, &with("35", &[]));
    // Resumed as it is, the finished run is left as it is (off the refresh grid or not).
    let end = |run: &Path| std::fs::read(run.join("step-000035/model.safetensors")).unwrap();
    let before = (end(&extended), csv(&extended));
    train_ok(&extended, &with("35", &["--resume"]));
    assert!(
        (end(&extended), csv(&extended)) == before,
        "a finished run changed"
    );
    let resumed = train(&extended, &with("50", &["--resume"]));
    assert!(
        stderr(&resumed).contains("resuming at step 30"),
        "{}",
        stderr(&resumed)
    );
    let at =
        |run: &Path, step: &str| std::fs::read(run.join(step).join("model.safetensors")).unwrap();
    for step in ["step-000040", "step-000050"] {
        assert!(at(&whole, step) == at(&extended, step), "{step} differs");
    }
    assert!(
        at(&extended, "step-000035") == before.0,
        "step 35 rewritten"
    );
    let mut rows = csv_without_time(&extended);
    let old_end = rows
        .iter()
        .position(|r| r[0] == "35")
        .expect("step 35's row");
    assert_eq!(
        rows[old_end],
        before.1[before.1.len() - 1][..rows[old_end].len()]
    );
    rows.remove(old_end);
    assert_eq!(csv_without_time(&whole), rows);
}

/// A run killed in its first milliseconds leaves only an atomic write's temporary file: the
/// rerun starts (it was refused as "not empty", and --resume found no run.json).
#[test]
fn a_folder_of_leftover_temporary_files_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join(".tmpA1b2C3"), b"half").unwrap();
    train_ok(&run, &["--dynamic", "sgd", "--steps", "10"]);
    assert!(!run.join(".tmpA1b2C3").exists() && run.join("run.json").exists());
    // A user's file that merely starts with ".tmp" is no leftover: the folder is not empty.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join(".tmp_notes.txt"), b"notes").unwrap();
    let refused = train(&mine, &["--dynamic", "sgd", "--steps", "10"]);
    assert!(
        stderr(&refused).contains("is not empty: it holds no run to resume (no run.json)"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read(mine.join(".tmp_notes.txt")).unwrap(),
        b"notes"
    );
}

/// A resume reads only the snapshots a run writes: a copy under another spelling of its step
/// (`step-10`) is no second row, and a `.partial` that links elsewhere is refused, not emptied.
#[test]
fn resume_reads_only_what_a_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = ["--dynamic", "sgd", "--steps", "20"];
    train_ok(&run, &args);
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir(to).unwrap();
        for file in ["model.safetensors", "checkpoint.json"] {
            std::fs::copy(from.join(file), to.join(file)).unwrap();
        }
    };
    copy(&run.join("step-000010"), &run.join("step-10"));
    let extended = ["--dynamic", "sgd", "--steps", "30", "--resume"];
    train_ok(&run, &extended);
    let csv = std::fs::read_to_string(run.join("run.csv")).unwrap();
    let steps: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| &l[..l.find(',').unwrap()])
        .collect();
    assert_eq!(steps, ["0", "10", "20", "30"]);

    let elsewhere = dir.path().join("elsewhere");
    copy(&run.join("step-000030"), &elsewhere);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&elsewhere, run.join("step-000040.partial")).unwrap();
        let refused = train(&run, &["--dynamic", "sgd", "--steps", "40", "--resume"]);
        assert!(
            stderr(&refused).contains("is not a folder curvscope made"),
            "{}",
            stderr(&refused)
        );
        assert!(elsewhere.join("model.safetensors").exists());
        assert!(elsewhere.join("checkpoint.json").exists());
    }
}

#[test]
fn init_from_starts_at_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    train_ok(&first, &["--dynamic", "sgd", "--precision", "f64"]);
    let source = first.join("step-000040");
    let start = load_checkpoint(&source).unwrap().theta;

    // No --arch: it comes from the checkpoint.
    let source_flag = ["--init-from", source.to_str().unwrap()];
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args([
            "train",
            "--data",
            "digits",
            "--dynamic",
            "gd",
            "--lr",
            "0.1",
            "--steps",
            "10",
            "--snapshot-every",
            "10",
        ])
        .args([
            "--precision",
            "f64",
            "--quiet",
            "--out",
            second.to_str().unwrap(),
        ])
        .args(source_flag)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        load_checkpoint(&second.join("step-000000")).unwrap().theta,
        start
    );
    assert_eq!(
        csv(&second)[0][1],
        csv(&first)[4][1],
        "same θ, same training loss"
    );
    assert_ne!(
        load_checkpoint(&second.join("step-000010")).unwrap().theta,
        start
    );

    let mismatch = r#"{"name":"mlp","input":64,"hidden":[9],"classes":10,"activation":"tanh"}"#;
    let output = train(
        &dir.path().join("third"),
        &[
            "--arch",
            mismatch,
            "--dynamic",
            "gd",
            "--init-from",
            source.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--arch mlp 64→9→10 (tanh) differs from the architecture of")
            && stderr(&output).contains("step-000040: mlp 64→8→10 (tanh)"),
        "{}",
        stderr(&output)
    );
}

/// A step size that blows θ up stops the run at that step, naming it and the lr (compactly).
#[test]
fn divergence_stops_the_run_naming_the_step_and_the_lr() {
    let dir = tempfile::tempdir().unwrap();
    let output = train(
        &dir.path().join("run"),
        &["--dynamic", "gd", "--lr", "1e300"],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("θ diverged at step 1 (lr 1e300 too large?)"),
        "{}",
        stderr(&output)
    );
    // Where the dynamic adds noise, the noise may be the cause.
    let noisy = [
        "--dynamic",
        "gld-const",
        "--noise-std",
        "1e200",
        "--lr",
        "0.1",
    ];
    let output = train(&dir.path().join("noisy"), &noisy);
    assert!(
        stderr(&output).contains("θ diverged at step 1 (lr 0.1 or the noise too large?)"),
        "{}",
        stderr(&output)
    );
}

/// A θ₀ whose loss is not finite is refused before --out is made, naming the initialisation:
/// it once wrote step-000000 with a NaN loss and then blamed the learning rate.
#[test]
fn a_start_whose_loss_is_not_finite_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let relu = r#"{"name":"mlp","input":64,"hidden":[8],"classes":10,"activation":"relu"}"#;
    let huge = [
        "--arch",
        relu,
        "--dynamic",
        "gd",
        "--init",
        "normal",
        "--init-std",
        "1e30",
    ];
    let output = train(&out, &huge);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("the training loss at θ₀ is NaN before any step")
            && err.contains("--init-std 1e30: a smaller --init-std?")
            && !err.contains("diverged"),
        "{err}"
    );
    assert!(!out.exists(), "--out was made");
}

/// Training is sized to --max-memory before anything is written (D = 610, 4,880-byte
/// vectors): a budget below θ & co. refuses any dynamic, and one below N = 1,797 centred
/// gradients refuses GLD leading; GLD dynamic streams its per-sample gradients in fewer rows
/// to fit, on the same numbers as the unplanned run.
#[test]
fn training_is_sized_to_the_memory_budget_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |out: &Path, extra: &[&str]| {
        let result = train(out, extra);
        assert!(!result.status.success(), "{extra:?} was not refused");
        assert!(!out.exists(), "{extra:?}: --out was made");
        stderr(&result)
    };
    let err = refused(
        &dir.path().join("gd"),
        &["--dynamic", "gd", "--max-memory", "19kB"],
    );
    assert!(
        err.contains("training (θ, ∇L, the noise and θ₀: 4 vectors) needs 19.5 kB (D = 610), budget 19.0 kB: train a smaller network, or raise --max-memory"),
        "{err}"
    );
    let err = refused(
        &dir.path().join("leading"),
        &["--dynamic", "gld-leading", "--max-memory", "5MB"],
    );
    assert!(err.contains("all N = 1797 centred gradients"), "{err}");
    let (planned, free) = (dir.path().join("planned"), dir.path().join("free"));
    // 60 kB holds 12 vectors: θ & co. (4), the sums (4) and one row's 4 copies, not 256 rows.
    train_ok(
        &planned,
        &["--dynamic", "gld-dynamic", "--max-memory", "60kB"],
    );
    train_ok(&free, &["--dynamic", "gld-dynamic"]);
    assert!(checkpoint_files(&planned) == checkpoint_files(&free));
}

/// A noise flag the dynamic would ignore is refused (run.json would record a noise the run
/// never had); the authors' GLD leading (noise every 10th step, unscaled) is recorded in
/// run.json, and a resume with other values is refused.
#[test]
fn noise_flags_apply_to_their_dynamics_and_are_part_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, message) in [
        (
            &["--dynamic", "gld-dynamic", "--noise-std", "1e-3"][..],
            "--noise-std sets gld-const's noise; gld-dynamic does not use it",
        ),
        (
            &["--dynamic", "sgd", "--noise-every", "10"],
            "--noise-every applies to the gld dynamics; sgd does not add Gaussian noise",
        ),
        (
            &["--dynamic", "gld-diag", "--leading-unscaled"],
            "--leading-unscaled applies to gld-leading, not gld-diag",
        ),
        (
            &["--dynamic", "gld-diag", "--noise-every", "3"],
            "--refresh-every 10 must be a multiple of --noise-every 3",
        ),
        (
            &["--dynamic", "msgd-fisher", "--noise-samples", "100"],
            "--noise-samples applies to msgd-fisher-b and msgd-cov-b, not msgd-fisher",
        ),
        (
            &["--dynamic", "msgd-fisher-b", "--noise-samples", "1798"],
            "--noise-samples 1798 exceeds the 1797 training samples",
        ),
        (
            &["--dynamic", "msgd-cov-b", "--batch", "1"],
            "msgd-cov-b centres its noise over B ≥ 2 samples",
        ),
        (
            &["--dynamic", "msgd-cov-b", "--noise-samples", "1"],
            "msgd-cov-b centres its noise over B ≥ 2 samples",
        ),
        (
            &["--dynamic", "sgd", "--rank", "3"],
            "--rank applies to gld-leading and gld-hessian, not sgd",
        ),
        (
            &["--dynamic", "gld-const", "--refresh-every", "5"],
            "--refresh-every applies to the dynamics that re-estimate their noise",
        ),
        (
            &["--dynamic", "sgd", "--init-std", "0.5"],
            "--init-std sets --init normal's standard deviation; θ₀ here comes from --init pytorch",
        ),
    ] {
        let out = dir.path().join("refused");
        let result = train(&out, extra);
        assert!(!result.status.success() && !out.exists(), "{extra:?}");
        assert!(stderr(&result).contains(message), "{}", stderr(&result));
    }
    let run = dir.path().join("authors");
    let authors = [
        "--dynamic",
        "gld-leading",
        "--rank",
        "3",
        "--data",
        "digits:200",
        "--noise-every",
        "10",
        "--leading-unscaled",
    ];
    train_ok(&run, &authors);
    let config = read_json(&run.join("run.json"));
    assert_eq!(
        (&config["noise_every"], &config["leading_unscaled"]),
        (&10.into(), &true.into())
    );
    let other = train(
        &run,
        &[&authors[..6], &["--resume", "--steps", "50"]].concat(),
    );
    // Every field that differs is named, not the first alone.
    assert!(
        stderr(&other).contains("differs from")
            && stderr(&other).contains(
                "in `leading_unscaled`: it was true, now false; in `noise_every`: it was 10,"
            ),
        "{}",
        stderr(&other)
    );
    // The authors' MSGD-[Cov-B] on B = 100 samples: recorded, and a resume on another B refused.
    let cov_b = dir.path().join("cov-b");
    let flags = ["--dynamic", "msgd-cov-b", "--noise-samples", "100"];
    train_ok(&cov_b, &flags);
    let config = read_json(&cov_b.join("run.json"));
    assert_eq!(config["noise_samples"], 100);
    let other = train(
        &cov_b,
        &[&flags[..3], &["50", "--resume", "--steps", "50"]].concat(),
    );
    assert!(
        stderr(&other).contains("`noise_samples`"),
        "{}",
        stderr(&other)
    );
    // A run.json from before --noise-std was refused for other dynamics records it unused:
    // such a run still resumes, and the field it never used is dropped.
    let old = dir.path().join("old");
    train_ok(&old, &["--dynamic", "gld-dynamic", "--steps", "20"]);
    let run_json = old.join("run.json");
    let mut config = read_json(&run_json);
    config["noise_std"] = 0.001.into();
    std::fs::write(&run_json, serde_json::to_vec(&config).unwrap()).unwrap();
    train_ok(&old, &["--dynamic", "gld-dynamic", "--resume"]);
    let config = read_json(&run_json);
    assert_eq!(
        (&config["noise_std"], &config["steps"]),
        (&serde_json::Value::Null, &40.into())
    );
}

/// A run made before 2026-12-03, whose random labels were drawn on θ₀'s stream (run.json and
/// its snapshots record their hash), resumes on those labels, saying so, instead of being
/// refused for data that today's stream would draw otherwise; `--init-from` its checkpoint
/// trains on them too.
#[test]
fn a_run_on_labels_of_the_earlier_stream_resumes_on_them() {
    use curvscope_model::{default_data_dir, fashion_corrupted_on, DataStream};
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let flags = [
        "--arch",
        r#"{"name":"mlp","input":784,"hidden":[4],"classes":10,"activation":"tanh"}"#,
        "--data",
        "fashion-corrupted:40:20",
        "--dynamic",
        "sgd",
    ];
    train_ok(&run, &[&flags[..], &["--stop-after-steps", "20"]].concat());
    let earlier = fashion_corrupted_on(&default_data_dir(), 40, 20, 0, DataStream::Shared)
        .unwrap()
        .info()
        .clone();
    assert_ne!(
        read_json(&run.join("run.json"))["dataset"],
        serde_json::to_value(&earlier).unwrap()
    );
    // What the earlier curvscope wrote: the same files, the labels of the earlier stream.
    for file in [
        "run.json",
        "step-000000/checkpoint.json",
        "step-000010/checkpoint.json",
        "step-000020/checkpoint.json",
    ] {
        let file = run.join(file);
        let mut json = read_json(&file);
        json["dataset"] = serde_json::to_value(&earlier).unwrap();
        std::fs::write(&file, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    }
    let resumed = train(&run, &[&flags[..], &["--resume"]].concat());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("rebuilt as curvscope drew it before 2026-12-03"),
        "{}",
        stderr(&resumed)
    );
    let last = read_json(&run.join("step-000040/checkpoint.json"));
    assert_eq!(last["dataset"], serde_json::to_value(&earlier).unwrap());

    // A run started from one of its checkpoints goes on with those labels too.
    let from = dir.path().join("from");
    let start = run.join("step-000040");
    let continued = train(
        &from,
        &[&flags[..], &["--init-from", start.to_str().unwrap()]].concat(),
    );
    assert!(continued.status.success(), "{}", stderr(&continued));
    assert!(stderr(&continued).contains("before 2026-12-03"));
    let first = read_json(&from.join("step-000000/checkpoint.json"));
    assert_eq!(first["dataset"], serde_json::to_value(&earlier).unwrap());
}

/// θ₀ draws on a seed of its own (run.json's `init_seed`): step 0's noise reads stream 0 of
/// `--seed`, and before 2026-12-03 θ₀ did too, so with `--init normal` gld-const's first ε was
/// θ₀ rescaled (correlation 1). Here ε₀ = (θ₁ of gd − θ₁ of gld-const)/η from one θ₀, and its
/// correlation with θ₀ is that of independent draws (|r| < 4/√D).
#[test]
fn theta0_is_independent_of_step_zero_noise() {
    use curvscope_metrics::{purpose_seed, Purpose};
    use curvscope_model::Init;
    let dir = tempfile::tempdir().unwrap();
    let flags = |dynamic| {
        let one_step = ["--steps", "1", "--snapshot-every", "1"];
        let common = ["--init", "normal", "--precision", "f64"];
        [&["--dynamic", dynamic][..], &common[..], &one_step[..]].concat()
    };
    let theta = |run: &Path, step: &str| load_checkpoint(&run.join(step)).unwrap();
    let (gd, gld) = (dir.path().join("gd"), dir.path().join("gld"));
    train_ok(&gd, &flags("gd"));
    train_ok(
        &gld,
        &[&flags("gld-const")[..], &["--noise-std", "1"]].concat(),
    );
    let theta0 = theta(&gd, "step-000000");
    assert_eq!(theta0.theta, theta(&gld, "step-000000").theta);
    let init = Init::Normal { std: 0.02 };
    let own_seed = purpose_seed(0, Purpose::InitialTheta);
    assert_eq!(theta0.theta, theta0.meta.arch.init(init, own_seed));
    assert_ne!(theta0.theta, theta0.meta.arch.init(init, 0));
    let run_json = read_json(&gld.join("run.json"));
    assert_eq!(run_json["init_seed"], own_seed);

    let (one_gd, one_gld) = (theta(&gd, "step-000001"), theta(&gld, "step-000001"));
    let eps: Vec<f64> = (one_gd.theta.iter().zip(&one_gld.theta))
        .map(|(a, b)| (a - b) / 0.1)
        .collect();
    let d = eps.len() as f64;
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    // ε₀ ~ N(0, I) for --noise-std 1: its squared norm is D within a few √(2D).
    assert!(
        (norm(&eps).powi(2) - d).abs() < 5.0 * (2.0 * d).sqrt(),
        "‖ε₀‖² = {}",
        norm(&eps).powi(2)
    );
    let dot: f64 = eps.iter().zip(&theta0.theta).map(|(e, t)| e * t).sum();
    let correlation = dot / (norm(&eps) * norm(&theta0.theta));
    assert!(
        correlation.abs() < 4.0 / d.sqrt(),
        "corr(ε₀, θ₀) = {correlation}"
    );
}

/// A run.json written before θ₀ had its own seed (no `init_seed`) resumes from the θ₀ it drew
/// then, from `--seed` itself, and stays without one; gld-const's ρ, set at θ₀, is that θ₀'s
/// on a resume from a later snapshot too.
#[test]
fn a_run_from_before_init_seed_resumes_on_its_theta0() {
    use curvscope_model::Init;
    let dir = tempfile::tempdir().unwrap();
    let (run, fresh) = (dir.path().join("run"), dir.path().join("fresh"));
    let flags = [
        "--dynamic",
        "gld-const",
        "--init",
        "normal",
        "--precision",
        "f64",
        "--seed",
        "5",
    ];
    train_ok(&fresh, &flags);
    train_ok(&run, &[&flags[..], &["--stop-after-steps", "5"]].concat());
    // What the earlier curvscope left: run.json without init_seed, killed before a snapshot.
    let file = run.join("run.json");
    let mut json = read_json(&file);
    assert!(json.as_object_mut().unwrap().remove("init_seed").is_some());
    std::fs::write(&file, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    std::fs::remove_dir_all(run.join("step-000000")).unwrap();
    std::fs::remove_file(run.join("run.csv")).unwrap();

    train_ok(
        &run,
        &[&flags[..], &["--resume", "--stop-after-steps", "15"]].concat(),
    );
    train_ok(&run, &[&flags[..], &["--resume"]].concat());
    let theta0 = load_checkpoint(&run.join("step-000000")).unwrap();
    let earlier = theta0.meta.arch.init(Init::Normal { std: 0.02 }, 5);
    assert_eq!(theta0.theta, earlier);
    assert!(read_json(&file).get("init_seed").is_none());
    let rho = |run: &Path, step: &str| {
        read_json(&run.join(step).join("checkpoint.json"))["noise_std"].clone()
    };
    assert!(rho(&run, "step-000000").is_f64());
    assert_eq!(rho(&run, "step-000040"), rho(&run, "step-000000"));
    assert_ne!(rho(&run, "step-000040"), rho(&fresh, "step-000040"));
}
