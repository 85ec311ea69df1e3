//! `curvscope landscape` end to end on a fixed-output net (D = 18: a 6×2 weight and a bias)
//! fitted to 200 half-space points: the CSV's losses are the objective's at the displaced
//! points, a killed grid resumes to the uninterrupted one, the line between two checkpoints
//! passes through both, and the Hessian directions are the dense eigenvectors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use curvscope_hessian::full_spectrum;
use curvscope_metrics::{displaced, filter_normalized_directions, purpose_seed, Purpose};
use curvscope_model::{
    load_checkpoint, save_checkpoint, two_d_halfspace, ArchSpec, BurnObjective, CheckpointMeta,
    Cpu, Dataset, Dtype, HessianOperator, Normalize, Objective, Precision, Targets,
};

const ARCH: ArchSpec = ArchSpec::FixedOutput {
    input: 2,
    hidden: 6,
};

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

fn curvscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Output {
    let out = curvscope(args);
    assert!(
        out.status.success(),
        "curvscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A checkpoint of the fixed-output net at a smooth, fixed θ (its `shift` varies it).
fn checkpoint(root: &Path, name: &str, shift: f64) -> (PathBuf, Vec<f64>) {
    let theta: Vec<f64> = (0..ARCH.dim())
        .map(|i| (i as f64 * 0.7 + shift).sin())
        .collect();
    let dir = root.join(name);
    let meta = CheckpointMeta {
        seed: Some(3),
        ..CheckpointMeta::new(ARCH)
    };
    save_checkpoint(&dir, &meta, &theta, Dtype::F64).unwrap();
    (dir, theta)
}

/// The half-space data as the driver builds it for `halfspace:200` (seed 3, the checkpoint's).
fn objective() -> Box<dyn Objective> {
    let data = two_d_halfspace(200, 3);
    let targets = Targets::Regression(data.targets_f64().unwrap());
    let data = Dataset::new(
        data.info().name.clone(),
        data.x().to_vec(),
        data.sample_shape().to_vec(),
        targets,
        data.info().seed,
    )
    .unwrap();
    BurnObjective::<Cpu>::new(ARCH, &data, &Default::default(), Precision::F64)
        .unwrap()
        .boxed()
}

/// landscape.csv as (header, rows of numbers; an empty cell is NaN).
fn read_csv(dir: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut reader = csv::Reader::from_path(dir.join("landscape.csv")).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .map(|s| {
                    if s.is_empty() {
                        f64::NAN
                    } else {
                        s.parse().unwrap()
                    }
                })
                .collect()
        })
        .collect();
    (header, rows)
}

fn assert_close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
}

#[test]
fn random_plane_is_the_objective_at_the_displaced_points_and_resumes_after_a_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, theta) = checkpoint(tmp.path(), "ckpt", 0.0);
    let (whole, resumed) = (tmp.path().join("whole"), tmp.path().join("resumed"));
    let common = [
        "--data",
        "halfspace:200",
        "--grid",
        "2d",
        "--points",
        "5",
        "-q",
    ];
    ok(&[
        &["landscape", path(&ckpt), "--out", path(&whole)],
        &common[..],
    ]
    .concat());

    let (header, rows) = read_csv(&whole);
    assert_eq!(header, ["a", "b", "loss", "accuracy", "quadratic_model"]);
    assert_eq!(rows.len(), 25);
    let obj = objective();
    let seed = purpose_seed(0, Purpose::LandscapeDirections);
    let directions = filter_normalized_directions(&obj.parameter_tensors(), &theta, 2, seed);
    for row in &rows {
        let point = displaced(&theta, &directions, &row[..2]);
        assert_close(row[2], obj.loss(&point));
        assert!(row[3].is_nan(), "a regression has no accuracy");
    }
    // The first axis varies slowest; the centre is θ, where the model is exact.
    assert_eq!((rows[1][0], rows[1][1]), (-1.0, -0.5));
    assert_eq!(rows[12][2], rows[12][4]);
    assert_close(rows[12][2], obj.loss(&theta));
    let svg = std::fs::read_to_string(whole.join("landscape.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("quadratic model"));
    assert!(
        std::fs::metadata(whole.join("landscape.png"))
            .unwrap()
            .len()
            > 1000
    );

    let stopped = ok(&[
        &["landscape", path(&ckpt), "--out", path(&resumed)],
        &common[..],
        &["--max-points", "7"],
    ]
    .concat());
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("stopped after"));
    assert!(read_csv(&resumed).1.len() >= 7 && !resumed.join("landscape.svg").exists());
    // The rest comes in chunks of 4 points (one thread), each appended to the file, never a
    // new file in its place: the file open here sees them all.
    let mut before = std::fs::File::open(resumed.join("landscape.csv")).unwrap();
    let common_loud: Vec<&str> = common.iter().copied().filter(|a| *a != "-q").collect();
    let again = ok(&[
        &["landscape", path(&ckpt), "--out", path(&resumed)],
        &common_loud[..],
        &["--threads", "1"],
    ]
    .concat());
    let mut appended = Vec::new();
    std::io::Read::read_to_end(&mut before, &mut appended).unwrap();
    assert_eq!(
        appended,
        std::fs::read(resumed.join("landscape.csv")).unwrap()
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("of 25 grid points already computed"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(whole.join("landscape.csv")).unwrap(),
        std::fs::read(resumed.join("landscape.csv")).unwrap()
    );
    // Other options in the same folder: the slice there is moved to earlier/<its options
    // hash>/ before the new landscape.json is written, so a run stopped right after writing it
    // (here with no point computed, as a kill would) leaves no row of the old slice to resume.
    let old_csv = std::fs::read(whole.join("landscape.csv")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(whole.join("landscape.json")).unwrap()).unwrap();
    let earlier = whole
        .join("earlier")
        .join(manifest["options_hash"].as_str().unwrap());
    let other = [
        "landscape",
        path(&ckpt),
        "--out",
        path(&whole),
        "--data",
        "halfspace:200",
        "--points",
        "3",
    ];
    let stopped = ok(&[&other[..], &["--max-points", "0"]].concat());
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("it is moved to"));
    assert!(!whole.join("landscape.csv").exists());
    assert_eq!(
        std::fs::read(earlier.join("landscape.csv")).unwrap(),
        old_csv
    );
    assert!(earlier.join("landscape.json").exists() && earlier.join("landscape.svg").exists());
    let finished = ok(&other);
    assert!(!String::from_utf8_lossy(&finished.stderr).contains("already computed"));
    assert_eq!(read_csv(&whole).1.len(), 3);
    // The first options again, stopped before any point: the other slice goes to its own
    // earlier/ folder, and the first's unfinished one (a landscape.json alone) beside the
    // finished one already set aside, which keeps its CSV and figure, not mixed with it.
    let first = [
        &["landscape", path(&ckpt), "--out", path(&whole)],
        &common[..],
    ]
    .concat();
    ok(&[&first[..], &["--max-points", "0"]].concat());
    ok(&[&other[..], &["--max-points", "0"]].concat());
    assert_eq!(
        std::fs::read(earlier.join("landscape.csv")).unwrap(),
        old_csv
    );
    assert!(earlier.join("landscape.svg").exists());
    let second =
        earlier.with_file_name(format!("{}-2", manifest["options_hash"].as_str().unwrap()));
    assert!(second.join("landscape.json").exists() && !second.join("landscape.csv").exists());
}

/// A landscape.csv damaged by hand or by a disk (a header or cell that is not this slice's, a
/// row cut short, a row off the grid, rows past its end) keeps the rows before the damage and
/// is rewritten with them at once, the damaged file kept under earlier/damaged*/ rather than
/// overwritten; the note names the first thing that ends the kept rows. A row cut short at the
/// file's end is a kill's, and only cut off.
#[test]
fn a_damaged_row_keeps_the_rows_before_it_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, _) = checkpoint(tmp.path(), "ckpt", 0.0);
    let out = tmp.path().join("slice");
    let args = [
        "landscape",
        path(&ckpt),
        "--out",
        path(&out),
        "--data",
        "halfspace:200",
        "--grid",
        "2d",
        "--points",
        "4",
        "-q",
    ];
    ok(&args);
    let whole = std::fs::read_to_string(out.join("landscape.csv")).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    assert_eq!(lines.len(), 17);
    let with = |changes: &[(usize, &str)]| {
        let mut damaged = lines.clone();
        for (i, row) in changes {
            damaged[*i] = row;
        }
        damaged.join("\n") + "\n"
    };
    // A rerun ends with the uninterrupted file, and says nothing about damage.
    let resumes_whole = || {
        let rerun = ok(&args);
        assert!(!String::from_utf8_lossy(&rerun.stderr).contains("note"));
        assert_eq!(
            std::fs::read_to_string(out.join("landscape.csv")).unwrap(),
            whole
        );
    };
    let off_grid = lines[9].replacen('-', "-9", 1);
    let cases = [
        (with(&[(6, "x,y,z,w,v")]), 5, "line 7: 'x' is not a number"),
        (with(&[(10, lines[10].split_at(7).0)]), 9, "line: 11"),
        (
            with(&[(9, &off_grid)]),
            8,
            "line 10: not the grid's point 9",
        ),
        // The row off the grid comes first: it is what the note names.
        (
            with(&[(4, &off_grid), (12, "x,y,z,w,v")]),
            3,
            "line 5: not the grid's point 4",
        ),
        (
            with(&[(0, "a,b,loss,accuracy,quadratic")]),
            0,
            "line 1: the header is 'a,b,loss,accuracy,quadratic'",
        ),
        (
            whole.clone() + lines[16] + "\n",
            16,
            "from line 18: past the grid's 16 points",
        ),
    ];
    for (i, (damaged, kept, why)) in cases.into_iter().enumerate() {
        std::fs::write(out.join("landscape.csv"), &damaged).unwrap();
        // Stopped before any new point: the file already holds the kept rows alone, so the
        // next run neither copies it again nor names it damaged.
        let stopped = ok(&[&args[..], &["--max-points", "0"]].concat());
        let stderr = String::from_utf8_lossy(&stopped.stderr);
        assert!(
            stderr.contains(why) && stderr.contains(&format!("the {kept} rows before it are kept")),
            "{stderr}"
        );
        let folder = match i {
            0 => "damaged".to_string(),
            _ => format!("damaged-{}", i + 1),
        };
        let kept_copy = out.join("earlier").join(folder).join("landscape.csv");
        assert_eq!(std::fs::read_to_string(&kept_copy).unwrap(), damaged);
        assert_eq!(
            std::fs::read(kept_copy.with_file_name("landscape.json")).unwrap(),
            std::fs::read(out.join("landscape.json")).unwrap()
        );
        assert_eq!(read_csv(&out).1.len(), kept);
        resumes_whole();
    }
    assert!(!out.join("earlier").join("damaged-7").exists());
    // Part of a row after the last line break is what a kill leaves while rows are appended:
    // it is cut off without a note or a copy, and the rows after the whole ones come next.
    for cut in [whole.len() - 1, whole.len() - lines[16].len() + 3] {
        std::fs::write(out.join("landscape.csv"), &whole[..cut]).unwrap();
        resumes_whole();
    }
    assert!(!out.join("earlier").join("damaged-7").exists());
}

/// The temporary files of an atomic write a killed run left in a slice's folder are removed by
/// the next run there; a folder --out names for the first time keeps a user's file so named.
#[test]
fn a_killed_runs_temporary_files_are_removed_from_its_slice_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, _) = checkpoint(tmp.path(), "ckpt", 0.0);
    let (slice, mine) = (tmp.path().join("slice"), tmp.path().join("mine"));
    let run = |out: &Path| {
        let args = ["--data", "halfspace:200", "--points", "3", "-q"];
        ok(&[&["landscape", path(&ckpt), "--out", path(out)][..], &args].concat());
    };
    run(&slice);
    for dir in [&slice, &mine] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(".tmpAb12Zx"), "cut short").unwrap();
        std::fs::write(dir.join(".tmp_notes.txt"), "the user's").unwrap();
        run(dir);
        assert!(dir.join(".tmp_notes.txt").exists());
    }
    assert!(!slice.join(".tmpAb12Zx").exists());
    assert!(mine.join(".tmpAb12Zx").exists());
}

#[test]
fn line_between_checkpoints_passes_through_both() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, theta1) = checkpoint(tmp.path(), "first", 0.0);
    let (second, theta2) = checkpoint(tmp.path(), "second", 1.0);
    let out = tmp.path().join("line");
    ok(&[
        "landscape",
        path(&first),
        "--to",
        path(&second),
        "--data",
        "halfspace:200",
        "--out",
        path(&out),
        "-q",
    ]);
    let (header, rows) = read_csv(&out);
    assert_eq!(header, ["a", "loss", "accuracy", "quadratic_model"]);
    // The default grid holds both checkpoints: 41 points, steps of 0.05 from −0.5 to 1.5.
    let t: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(
        (t.len(), t[0], t[10], t[30], t[40]),
        (41, -0.5, 0.0, 1.0, 1.5)
    );
    let obj = objective();
    assert_close(rows[10][1], obj.loss(&theta1));
    assert_close(rows[30][1], obj.loss(&theta2));

    let refused = curvscope(&[
        "landscape",
        path(&first),
        "--to",
        path(&second),
        "--directions",
        "hessian",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--directions"));
}

/// Along u₁/√λ₁ the quadratic model's curvature is 1, and λ₁ is the dense Hessian's largest
/// eigenvalue.
#[test]
fn hessian_line_uses_the_top_eigenvector_in_units_of_one_over_sqrt_lambda() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, theta) = checkpoint(tmp.path(), "ckpt", 0.3);
    let out = tmp.path().join("hessian");
    ok(&[
        "landscape",
        path(&ckpt),
        "--directions",
        "hessian",
        "--data",
        "halfspace:200",
        "--points",
        "9",
        "--tol",
        "1e-10",
        "--out",
        path(&out),
        "-q",
    ]);
    let obj = objective();
    let top = full_spectrum(&HessianOperator::new(&*obj, &theta)).eigenvalues[0];
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("landscape.json")).unwrap()).unwrap();
    let lambda1 = json["directions"]["eigenvalues"][0].as_f64().unwrap();
    assert!((lambda1 - top).abs() <= 1e-8 * top, "{lambda1} vs {top}");
    let curvature = json["quadratic_model"]["curvatures"][0][0]
        .as_f64()
        .unwrap();
    assert!((curvature - 1.0).abs() < 1e-8, "{curvature}");
    let (_, rows) = read_csv(&out);
    // q(c) − q(−c) is the linear part alone: the quadratic term is c²/2 on both sides.
    let (lo, mid, hi) = (&rows[0], &rows[4], &rows[8]);
    assert_eq!(mid[0], 0.0);
    assert_close((hi[3] + lo[3]) / 2.0 - mid[3], hi[0] * hi[0] / 2.0);
}

/// `--max-krylov` and `--restarts` bound the Lanczos of a Hessian plane: in 3 vectors of
/// D = 18 it stops unconverged (refused, saying so); restarted thickly it finds the default
/// run's λ₁, λ₂ (to 1e-9) and plane (losses and quadratic model to 1e-6); a slice without them
/// records neither, so its options hash is that of slices made before the flags; a random
/// slice refuses them, and a plane refuses M = 2 (k + 1 = 3 steps needed); `--max-memory`
/// refuses the default basis where it does not fit and the bounded one runs in it.
#[test]
fn hessian_plane_within_max_krylov_restarts_to_the_same_directions() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, _) = checkpoint(tmp.path(), "ckpt", 0.3);
    // A 3×3 plane of `directions` into `name` with `extra` flags: whether it ran, its
    // landscape.json if written, and what it said.
    let slice = |name: &str, directions: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let args = [
            &[
                "landscape",
                path(&ckpt),
                "--directions",
                directions,
                "--grid",
                "2d",
            ][..],
            &["--data", "halfspace:200", "--points", "3"],
            &["--out", path(&out), "-q"],
            extra,
        ]
        .concat();
        let run = curvscope(&args);
        let json = std::fs::read(out.join("landscape.json"))
            .ok()
            .map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap());
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        (run.status.success(), json, stderr)
    };
    let plane = |name: &str, extra: &[&str]| {
        slice(name, "hessian", &[&["--tol", "1e-10"][..], extra].concat())
    };
    let (_, default, _) = plane("default", &[]);
    let default = default.expect("the default plane runs");
    let options = default["options"].as_object().unwrap();
    assert!(!options.contains_key("max_krylov") && !options.contains_key("restarts"));
    assert_eq!(default["directions"]["converged"], true);
    // Unconverged in 3 vectors: it runs, with a warning naming the remedy, and the slice is not
    // called converged (where λ₂'s Ritz value is within its residual of 0, the plane is refused
    // instead, with the same remedy).
    let (ran, cut, stderr) = plane("cut", &["--max-krylov", "3"]);
    assert!(ran, "{stderr}");
    assert!(
        stderr.contains("in 3 vectors: raise --max-krylov, or --restarts"),
        "{stderr}"
    );
    assert_eq!(cut.unwrap()["directions"]["converged"], false);
    // Its 3 basis vectors, 2 eigenvectors, 2 directions and 4 more of 18 f64s fit in 2 KB.
    let held = [
        "--max-krylov",
        "3",
        "--restarts",
        "500",
        "--max-memory",
        "2KB",
    ];
    let (_, restarted, stderr) = plane("restarted", &held);
    let restarted = restarted.unwrap_or_else(|| panic!("{stderr}"));
    let directions = &restarted["directions"];
    assert_eq!(directions["converged"], true);
    assert!(directions["hvps"].as_u64().unwrap() > 3);
    assert_eq!(restarted["options"]["max_krylov"], 3);
    assert_eq!(restarted["options"]["restarts"], 500);
    assert_ne!(restarted["options_hash"], default["options_hash"]);
    let values = |json: &serde_json::Value| -> Vec<f64> {
        (json["directions"]["eigenvalues"].as_array().unwrap().iter())
            .map(|l| l.as_f64().unwrap())
            .collect()
    };
    for (a, b) in values(&restarted).iter().zip(&values(&default)) {
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{a} vs {b}");
    }
    // The same plane (u and −u are told apart by gᵀu): the losses and the quadratic model
    // (columns a, b, loss, accuracy, quadratic_model) agree at every point.
    let (_, rows_default) = read_csv(&tmp.path().join("default"));
    let (_, rows_restarted) = read_csv(&tmp.path().join("restarted"));
    assert_eq!(rows_restarted.len(), 9);
    for (a, b) in rows_restarted.iter().zip(&rows_default) {
        for column in [2, 4] {
            let (a, b) = (a[column], b[column]);
            assert!(
                (a - b).abs() <= 1e-6 * b.abs(),
                "column {column}: {a} vs {b}"
            );
        }
    }
    // A random slice runs no Lanczos; a plane needs k + 1 = 3 steps; the default basis (all
    // 18 vectors) does not fit in 2 KB.
    for (directions, extra, refusal) in [
        (
            "random",
            &["--restarts", "2"][..],
            "--restarts restarts the Lanczos",
        ),
        (
            "random",
            &["--max-memory", "2KB"],
            "--max-memory sizes the Lanczos",
        ),
        (
            "hessian",
            &["--max-krylov", "2"],
            "--max-krylov 2 is too small",
        ),
        (
            "hessian",
            &["--max-memory", "2KB"],
            "Lanczos for the top 2 Hessian directions (18 basis vectors + 2 eigenvectors + 2 \
             directions) needs 3.7 kB (D = 18), budget 2.0 kB: lower --max-krylov",
        ),
    ] {
        let (ran, _, stderr) = slice("refused", directions, extra);
        assert!(!ran && stderr.contains(refusal), "{stderr}");
        assert!(!tmp.path().join("refused").exists());
    }
    // Before the data is read: the checkpoint's own data (Fashion-MNIST) does not fit this net.
    let refused = curvscope(&["landscape", path(&ckpt), "--restarts", "2", "-q"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--restarts restarts the Lanczos"),
        "{stderr}"
    );
}

/// Two checkpoints of one batch-norm net whose running statistics differ (PyTorch's training
/// updates them): the line runs, on CHECKPOINT's statistics, and says so; two nets of other
/// layers are refused, each named by its JSON where the summaries agree.
#[test]
fn a_line_between_batch_norm_checkpoints_keeps_the_first_ones_statistics() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = |out: usize| -> ArchSpec {
        let json = format!(
            r#"{{"name":"sequential","input":[64],"layers":[{{"type":"linear","out":{out}}},
            {{"type":"batchnorm1d"}},{{"type":"relu"}},{{"type":"linear","out":10}}]}}"#
        );
        serde_json::from_str(&json).unwrap()
    };
    let save = |name: &str, arch: ArchSpec, shift: f64| {
        let theta: Vec<f64> = (0..arch.dim())
            .map(|i| (i as f64 * 0.3 + shift).sin() / 8.0)
            .collect();
        let dir = tmp.path().join(name);
        save_checkpoint(&dir, &CheckpointMeta::new(arch), &theta, Dtype::F64).unwrap();
        dir
    };
    let first = save("first", spec(4), 0.0);
    let mut trained = spec(4);
    if let ArchSpec::Sequential(net) = &mut trained {
        net.buffer_values
            .insert("1.running_mean".into(), vec![0.5; 4]);
    }
    let second = save("second", trained, 1.0);
    let line = [
        "landscape",
        path(&first),
        "--to",
        path(&second),
        "--data",
        "digits:20",
    ];
    let output = ok(&[&line[..], &["--points", "3", "-q"]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("batch-norm running statistics differ"),
        "{stderr}"
    );
    // So is a second checkpoint trained on inputs normalised otherwise (once silent).
    let normalised = tmp.path().join("normalised");
    let mut meta = CheckpointMeta::new(spec(4));
    meta.normalize = Some(Normalize {
        mean: vec![0.5],
        std: vec![2.0],
    });
    let theta = load_checkpoint(&second).unwrap().theta;
    save_checkpoint(&normalised, &meta, &theta, Dtype::F64).unwrap();
    let to_normalised = ["landscape", path(&first), "--to", path(&normalised)];
    let output = ok(&[&to_normalised[..], &line[4..], &["--points", "3", "-q"]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("its input normalisation (checkpoint.json's \"normalize\") differs"),
        "{stderr}"
    );
    let other = save("other", spec(5), 1.0);
    let refused = curvscope(&["landscape", path(&first), "--to", path(&other), "-q"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains(r#""out":5"#) && stderr.contains(r#""out":4"#),
        "{stderr}"
    );
}

/// What cannot be sliced is refused with the reason and the way out.
#[test]
fn bad_inputs_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let toy = tmp.path().join("toy");
    let meta = CheckpointMeta::new(ArchSpec::Toy2d);
    save_checkpoint(&toy, &meta, &[0.5, -0.5], Dtype::F64).unwrap();
    let refused = curvscope(&["landscape", path(&toy), "--data", "toy2d", "-q"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("no weight tensor of two or more dimensions")
            && stderr.contains("use --directions hessian")
            && !stderr.contains("checkpoint whose weights"),
        "{stderr}"
    );
    // Refused after --out was made (the directions come once it is locked): nothing is left.
    assert!(!toy.join("landscape-random-1d").exists());
    // With --to, which takes no --directions, the way out is the line.
    let other = tmp.path().join("toy-other");
    save_checkpoint(&other, &meta, &[0.4, -0.6], Dtype::F64).unwrap();
    let refused = curvscope(&[
        "landscape",
        path(&toy),
        "--data",
        "toy2d",
        "--to",
        path(&other),
        "--grid",
        "2d",
        "-q",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("with --to, slice the line (--grid 1d)"),
        "{stderr}"
    );

    // A weight matrix that is all zero (an untrained net) is named as such, not as missing.
    let elsewhere = tempfile::tempdir().unwrap();
    let zero = elsewhere.path().join("zero");
    save_checkpoint(&zero, &CheckpointMeta::new(ARCH), &[0.0; 18], Dtype::F64).unwrap();
    let refused = curvscope(&["landscape", path(&zero), "--data", "halfspace:20", "-q"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("weight tensors of two or more dimensions are all zero at θ")
            && stderr.contains("use --directions hessian, or slice a checkpoint whose weights")
            && !stderr.contains("no weight tensor"),
        "{stderr}"
    );

    let (ckpt, _) = checkpoint(tmp.path(), "ckpt", 0.0);
    let line = tmp.path().join("line");
    let refused = curvscope(&[
        "landscape",
        path(&ckpt),
        "--to",
        path(&ckpt),
        "--data",
        "halfspace:20",
        "--out",
        path(&line),
        "-q",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("same θ") && !line.exists(),
        "{stderr}"
    );
    let refused = curvscope(&["landscape", path(&ckpt), "--to", path(&toy), "-q"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("--to") && stderr.contains("toy"),
        "{stderr}"
    );
    let refused = curvscope(&["landscape", path(&ckpt), "--points", "1"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--points"));
    // --tol sets the Lanczos of --directions hessian; a random slice would silently ignore it.
    let out = tmp.path().join("random");
    let random = [
        "--data",
        "halfspace:20",
        "--tol",
        "1e-9",
        "--out",
        path(&out),
        "-q",
    ];
    let refused = curvscope(&[&["landscape", path(&ckpt)][..], &random].concat());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("--tol sets the Lanczos tolerance of --directions hessian")
            && !out.exists(),
        "{stderr}"
    );
    // A folder of checkpoints (a run) where one is wanted is named as such, with one to pass.
    let run = tmp.path();
    for args in [vec![path(run)], vec![path(&ckpt), "--to", path(run)]] {
        let refused = curvscope(&[&["landscape"][..], &args, &["-q"]].concat());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success()
                && stderr.contains("is a run folder, not a checkpoint")
                && stderr.contains(path(&toy)),
            "{stderr}"
        );
    }
}
