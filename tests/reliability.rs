//! Regression tests of issue #12 on the binary's side: nothing the user has is lost or
//! overwritten, no flag value panics or passes silently, no undefined number is written.
//! A small MLP on the bundled digits (D = 610, N = 1797) keeps every run under a second.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const MLP: &str = r#"{"name":"mlp","input":64,"hidden":[8],"classes":10,"activation":"tanh"}"#;
/// Cheap analysis settings: top 2 eigenpairs, 4 probes for Tr(H) and Tr(HΣ), 10 sharpness
/// samples.
const CHEAP: &[&str] = &[
    "-k",
    "2",
    "--samples",
    "10",
    "--trace-probes",
    "4",
    "--trace-h-sigma-probes",
    "4",
];

/// `analyze INPUT` with the cheap settings on `data` (none: the checkpoints' own), then `extra`.
fn analyze<'a>(input: &'a Path, data: Option<&'a str>, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["analyze", path(input)];
    if let Some(data) = data {
        args.extend(["--data", data]);
    }
    args.extend_from_slice(CHEAP);
    args.extend_from_slice(extra);
    args
}

fn curvscope(args: &[&str]) -> Output {
    curvscope_in(Path::new("."), args)
}

fn curvscope_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Succeeded without a panic; returns stderr.
fn ok(output: Output) -> String {
    let err = stderr(&output);
    assert!(output.status.success(), "failed: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Failed with exit code 1 or 2 (clap's), no panic, and a message holding every `needle`.
fn refused(output: Output, needles: &[&str]) -> String {
    let err = stderr(&output);
    assert!(
        matches!(output.status.code(), Some(1 | 2)),
        "exit {:?}: {err}",
        output.status.code()
    );
    assert!(!err.contains("panicked"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "no '{needle}' in: {err}");
    }
    err
}

/// `curvscope train` of the MLP with sgd, 50 steps, snapshots every 10, with `extra` (whose
/// flags replace those defaults).
fn train(out: &Path, extra: &[&str]) -> Output {
    let defaults = [
        ("--arch", MLP),
        ("--data", "digits"),
        ("--dynamic", "sgd"),
        ("--lr", "0.1"),
        ("--batch", "10"),
        ("--steps", "50"),
        ("--snapshot-every", "10"),
    ];
    let mut args = vec!["train", "--quiet", "--out", path(out)];
    for (flag, value) in defaults.iter().filter(|(f, _)| !extra.contains(f)) {
        args.extend([*flag, *value]);
    }
    args.extend_from_slice(extra);
    curvscope(&args)
}

/// The cells of column `name` of a CSV file.
fn column(file: &Path, name: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_path(file).unwrap();
    let i = reader.headers().unwrap().iter().position(|h| h == name);
    let i = i.unwrap_or_else(|| panic!("{}: no column {name}", file.display()));
    reader
        .records()
        .map(|r| r.unwrap()[i].to_string())
        .collect()
}

/// A run of 10 steps in `dir`/run, analyzed on 50 digits into run/analysis.
fn analyzed_run(dir: &Path) -> std::path::PathBuf {
    let run = dir.join("run");
    ok(train(&run, &["--steps", "10"]));
    ok(curvscope(&analyze(&run, Some("digits:50"), &["--quiet"])));
    run
}

/// Overwrites the first value of the first tensor of a checkpoint with NaN (an F32 file).
fn poison(checkpoint: &Path) {
    let file = checkpoint.join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..12 + header].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&file, bytes).unwrap();
}

#[test]
fn export_into_its_own_folder_keeps_the_csvs_and_adds_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "20"]));
    let analysis = run.join("analysis");
    ok(curvscope(&analyze(&run, Some("digits"), &["--quiet"])));
    let before = common::files(&analysis);
    ok(curvscope(&[
        "export",
        path(&analysis),
        "--to",
        path(&analysis),
        "--quiet",
    ]));
    ok(curvscope_in(
        &analysis,
        &["export", ".", "--to", ".", "--quiet"],
    ));
    // And through a different spelling of the same folder.
    let dotted = run.join("analysis/../analysis");
    ok(curvscope(&[
        "export",
        path(&dotted),
        "--to",
        path(&analysis),
        "--quiet",
    ]));
    let after = common::files(&analysis);
    for (name, bytes) in &before {
        let now = after.iter().find(|(n, _)| n == name).map(|(_, b)| b);
        assert_eq!(now, Some(bytes), "{} changed", name.display());
    }
    assert!(analysis.join("figures/eigenvalues.svg").exists());
    assert!(analysis.join("analysis.ipynb").exists());
    // The run's own run.csv, found as the training log, is not written over either.
    let run_csv = std::fs::read(run.join("run.csv")).unwrap();
    ok(curvscope(&[
        "export",
        path(&run),
        "--to",
        path(&run),
        "--quiet",
    ]));
    assert_eq!(std::fs::read(run.join("run.csv")).unwrap(), run_csv);
    // A training log lacking a column the curves need is refused, naming the file.
    let log = tmp.path().join("weird.csv");
    std::fs::write(&log, "step,train_loss\n0,1.0\n").unwrap();
    let to = tmp.path().join("weird");
    refused(
        curvscope(&[
            "export",
            path(&run),
            "--to",
            path(&to),
            "--run-csv",
            path(&log),
            "--quiet",
        ]),
        &["weird.csv: no column '"],
    );
    assert!(!to.exists(), "a refused export wrote {}", to.display());
}

/// A folder exported into twice holds the second export only: a ReLU net's layers.csv (exact
/// per-layer traces) and its figures do not stay beside a tanh net's export, which has none,
/// and the figures are drawn from the analysis, not from the destination's copies; files the
/// exports did not write stay.
#[test]
fn exporting_into_a_used_folder_leaves_nothing_of_the_earlier_export() {
    let tmp = tempfile::tempdir().unwrap();
    let relu = MLP.replace("tanh", "relu");
    let (first, second) = (tmp.path().join("relu"), tmp.path().join("tanh"));
    ok(train(&first, &["--steps", "10", "--arch", &relu]));
    ok(train(&second, &["--steps", "10"]));
    let to = tmp.path().join("export");
    for run in [&first, &second] {
        ok(curvscope(&analyze(run, Some("digits"), &["--quiet"])));
    }
    // The folder holds a user's own files too: an export never touches those.
    std::fs::create_dir_all(to.join("figures")).unwrap();
    std::fs::write(to.join("figures/diagram.svg"), "<svg/>").unwrap();
    std::fs::write(to.join("notes.md"), "mine").unwrap();
    ok(curvscope(&[
        "export",
        path(&first),
        "--to",
        path(&to),
        "--quiet",
    ]));
    assert!(to.join("layers.csv").exists() && to.join("figures/layers_trace_h.svg").exists());
    ok(curvscope(&[
        "export",
        path(&second),
        "--to",
        path(&to),
        "--quiet",
    ]));
    assert!(!second.join("analysis/layers.csv").exists());
    assert!(!to.join("layers.csv").exists());
    let figures = std::fs::read_dir(to.join("figures")).unwrap();
    let names: Vec<String> = figures
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with("layers")), "{names:?}");
    assert!(names.contains(&"eigenvalues.svg".to_string()), "{names:?}");
    assert!(names.contains(&"diagram.svg".to_string()), "{names:?}");
    assert_eq!(std::fs::read(to.join("notes.md")).unwrap(), b"mine");
    let metrics = |dir: &Path| std::fs::read(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics(&to), metrics(&second.join("analysis")));
}

/// A file of an earlier export changed since (the notebook run or annotated, a figure touched
/// up) is kept as `<name>.edited-K` before the next export writes its own; unchanged ones are
/// replaced, and nothing is set aside.
#[test]
fn an_export_keeps_what_was_edited_since_the_last_one() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let to = tmp.path().join("export");
    let export = || {
        ok(curvscope(&[
            "export",
            path(&run),
            "--to",
            path(&to),
            "--quiet",
        ]))
    };
    export();
    let (notebook, figure) = (
        to.join("analysis.ipynb"),
        to.join("figures/eigenvalues.svg"),
    );
    let fresh = std::fs::read(&notebook).unwrap();
    std::fs::write(&notebook, "my notes").unwrap();
    std::fs::write(&figure, "<svg>mine</svg>").unwrap();
    let err = export();
    let asides = [
        (to.join("analysis.edited-1.ipynb"), "my notes"),
        (
            to.join("figures/eigenvalues.edited-1.svg"),
            "<svg>mine</svg>",
        ),
    ];
    for (aside, mine) in &asides {
        assert_eq!(std::fs::read_to_string(aside).unwrap(), *mine);
        assert!(err.contains(path(aside)), "{err}");
    }
    assert_eq!(std::fs::read(&notebook).unwrap(), fresh);
    assert_ne!(std::fs::read_to_string(&figure).unwrap(), "<svg>mine</svg>");
    let err = export();
    assert!(!err.contains("edited"), "{err}");
    assert!(!to.join("analysis.edited-2.ipynb").exists());
    // A list naming a file outside the folder (hand-edited, garbled) moves nothing there.
    let outside = tmp.path().join("notes.txt");
    std::fs::write(&outside, "mine").unwrap();
    let list = to.join(".curvscope-export");
    let mut text = std::fs::read_to_string(&list).unwrap();
    text.push_str("../notes.txt\t0000\n");
    std::fs::write(&list, text).unwrap();
    export();
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "mine");
}

/// `demo` refuses an --export-to holding a report.html of one's own before it trains anything.
#[test]
fn demo_refuses_a_foreign_report_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, export_to) = (tmp.path().join("runs"), tmp.path().join("export"));
    std::fs::create_dir(&export_to).unwrap();
    std::fs::write(export_to.join("report.html"), "<p>mine</p>").unwrap();
    refused(
        curvscope(&["demo", "--out", path(&out), "--export-to", path(&export_to)]),
        &[path(&export_to), "report.html", "curvscope did not write"],
    );
    assert!(!out.exists(), "nothing trained");
    assert_eq!(
        std::fs::read_to_string(export_to.join("report.html")).unwrap(),
        "<p>mine</p>"
    );
}

/// The README's first command prints the summary table of the README's worked example, every
/// line to the digit (the README promises these digits on any machine: f64 training below the
/// edge of stability), and a rerun, which resumes and reuses everything, keeps a report.html
/// edited since as report.edited-1.html before writing its own.
#[test]
fn the_demo_prints_the_readme_summary_and_keeps_an_edited_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, export_to) = (tmp.path().join("runs"), tmp.path().join("export"));
    let demo = || {
        let output = curvscope(&["demo", "--out", path(&out), "--export-to", path(&export_to)]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        ok(output);
        stdout
    };
    let stdout = demo();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("Summary ("))
        .take_while(|line| !line.is_empty())
        .collect();
    assert_eq!(
        summary.len(),
        8,
        "a header, 5 rows and the edge line: {stdout}"
    );
    for line in summary {
        assert!(
            readme.contains(line),
            "README.md lacks the demo's line {line:?}"
        );
    }

    let page = export_to.join("report.html");
    let mut edited = std::fs::read_to_string(&page).unwrap();
    edited.push_str("<p>my notes</p>\n");
    std::fs::write(&page, &edited).unwrap();
    demo();
    let aside = export_to.join("report.edited-1.html");
    assert_eq!(std::fs::read_to_string(&aside).unwrap(), edited);
    assert!(!std::fs::read_to_string(&page).unwrap().contains("my notes"));
}

/// An export never writes into another analysis' folder or another run's, not even one an
/// earlier export marked as its own (exporting an analysis into its own folder does).
#[test]
fn exporting_into_another_analysis_or_run_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (
        analyzed_run(&tmp.path().join("a")),
        analyzed_run(&tmp.path().join("b")),
    );
    let analysis = first.join("analysis");
    ok(curvscope(&[
        "export",
        path(&analysis),
        "--to",
        path(&analysis),
        "--quiet",
    ]));
    let before = common::files(&first);
    for to in [&analysis, &first] {
        refused(
            curvscope(&["export", path(&second), "--to", path(to), "--quiet"]),
            &[path(to), "is another", "name another folder"],
        );
    }
    assert_eq!(common::files(&first), before);
}

/// A folder is an export's to write only when an export marked it or it is the analysis
/// itself: a folder that merely holds the `--run-csv` (one's notes beside one's log) keeps its
/// README.md, and the analyzed run's own folder never has its training log replaced by
/// another. Exporting into the run folder leaves copies of the CSVs beside run.json; the run's
/// analysis is still its analysis/, not those copies.
#[test]
fn an_export_never_takes_the_users_notes_or_the_runs_log() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let notes = tmp.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("README.md"), "my own README").unwrap();
    let log = notes.join("log.csv");
    std::fs::copy(run.join("run.csv"), &log).unwrap();
    let before = common::files(&notes);
    let into_notes = ["--to", path(&notes), "--run-csv", path(&log), "--quiet"];
    refused(
        curvscope(&[&["export", path(&run)][..], &into_notes].concat()),
        &["holds README.md, which no export of curvscope wrote"],
    );
    assert_eq!(common::files(&notes), before);
    let other_log = ["--to", path(&run), "--run-csv", path(&log), "--quiet"];
    let run_log = std::fs::read(run.join("run.csv")).unwrap();
    refused(
        curvscope(&[&["export", path(&run)][..], &other_log].concat()),
        &["is a run folder, whose training log run.csv"],
    );
    assert_eq!(std::fs::read(run.join("run.csv")).unwrap(), run_log);
    // A stale copy beside run.json (an export into the run folder, before a rerun of its
    // analysis) is not what the run folder's export reads.
    std::fs::write(run.join("metrics.csv"), "checkpoint,step\nstale,0\n").unwrap();
    let to = tmp.path().join("export");
    ok(curvscope(&[
        "export",
        path(&run),
        "--to",
        path(&to),
        "--quiet",
    ]));
    assert_eq!(
        std::fs::read(to.join("metrics.csv")).unwrap(),
        std::fs::read(run.join("analysis/metrics.csv")).unwrap()
    );
}

/// analysis.json records the analyzed folder as an absolute path: `export` run from another
/// folder, one holding a run of its own under the same relative name, takes the analyzed
/// run's training log, not that one.
#[test]
fn export_finds_the_analyzed_run_from_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (here, elsewhere) = (tmp.path().join("here"), tmp.path().join("elsewhere"));
    ok(train(&here.join("run"), &["--steps", "10"]));
    ok(train(&elsewhere.join("run"), &["--steps", "20"]));
    ok(curvscope_in(
        &here,
        &analyze(Path::new("run"), Some("digits:50"), &["--quiet"]),
    ));
    let to = tmp.path().join("export");
    let analysis = here.join("run/analysis");
    ok(curvscope_in(
        &elsewhere,
        &["export", path(&analysis), "--to", path(&to), "--quiet"],
    ));
    let log = |dir: &Path| std::fs::read(dir.join("run.csv")).unwrap();
    assert_eq!(log(&to), log(&here.join("run")));
}

/// A checkpoint of the analyzed run without a record (an analysis killed before it, or a
/// snapshot added since) is named by `report` and `export`, in the page too: a partial
/// analysis must not read as a whole one.
#[test]
fn a_partial_analysis_is_reported_as_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let later = run.join("step-000020");
    std::fs::create_dir(&later).unwrap();
    for file in ["checkpoint.json", "model.safetensors"] {
        std::fs::copy(run.join("step-000010").join(file), later.join(file)).unwrap();
    }
    let page = tmp.path().join("report.html");
    let err = ok(curvscope(&[
        "report",
        path(&run),
        "--to",
        path(&page),
        "--quiet",
    ]));
    assert!(
        err.contains("1 checkpoint(s) of") && err.contains("(step-000020)"),
        "{err}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Incomplete:") && html.contains("step-000020"));
    let to = tmp.path().join("export");
    let err = ok(curvscope(&[
        "export",
        path(&run),
        "--to",
        path(&to),
        "--quiet",
    ]));
    assert!(err.contains("(step-000020)"), "{err}");
}

/// Pointing at the wrong kind of folder gets a message that says what to name instead.
#[test]
fn a_run_folder_or_a_missing_path_is_named_for_what_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    refused(
        curvscope(&["info", path(&run)]),
        &["is a run folder, not a checkpoint", "step-000010"],
    );
    let missing = tmp.path().join("nowhere");
    for command in ["report", "export"] {
        refused(
            curvscope(&[command, path(&missing)]),
            &[path(&missing), "no such file or folder"],
        );
    }
}

/// A path that is not UTF-8, where curvscope records it as text (a checkpoint's, an analyzed
/// run's, --init-from, demo's and reproduce's folders), is refused at parse time with its
/// argument named and nothing made, as is one whose absolute form is not; a real path behind a
/// link (--init-from) or below the working folder (a relative --data .npz) that is not, before
/// anything is written; so is a run holding a checkpoint folder of such a name. (They once
/// panicked, some after minutes of work.)
#[cfg(unix)]
#[test]
fn paths_that_are_not_utf8_are_refused_before_any_work() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    let odd = tmp.path().join(OsStr::from_bytes(b"r\xffn"));
    std::fs::rename(&run, &odd).unwrap();
    let (odd_checkpoint, elsewhere) = (odd.join("step-000010"), tmp.path().join("new"));
    let (odd_demo, odd_toy2d) = (odd.join("demo"), odd.join("toy2d"));
    let listing = |dir: &Path| -> Vec<_> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let (before, run_before) = (listing(tmp.path()), listing(&odd));
    let commands: [(&[&OsStr], &str); 8] = [
        (&["info".as_ref(), odd_checkpoint.as_ref()], "'<CKPT>'"),
        (&["analyze".as_ref(), odd.as_ref()], "'<RUN_OR_CHECKPOINT>'"),
        (
            &["landscape".as_ref(), odd_checkpoint.as_ref()],
            "'<CHECKPOINT>'",
        ),
        (
            &[
                "landscape".as_ref(),
                elsewhere.as_ref(),
                "--to".as_ref(),
                odd_checkpoint.as_ref(),
            ],
            "'--to <CHECKPOINT2>'",
        ),
        (
            &[
                "train".as_ref(),
                "--init-from".as_ref(),
                odd_checkpoint.as_ref(),
                "--out".as_ref(),
                elsewhere.as_ref(),
            ],
            "'--init-from <INIT_FROM>'",
        ),
        (
            &["demo".as_ref(), "--out".as_ref(), odd_demo.as_ref()],
            "'--out <OUT>'",
        ),
        (
            &["demo".as_ref(), "--export-to".as_ref(), odd.as_ref()],
            "'--export-to <EXPORT_TO>'",
        ),
        (
            &[
                "reproduce".as_ref(),
                "toy2d".as_ref(),
                "--out".as_ref(),
                odd_toy2d.as_ref(),
            ],
            "'--out <OUT>'",
        ),
    ];
    for (args, argument) in commands {
        let output = Command::new(env!("CARGO_BIN_EXE_curvscope"))
            .current_dir(tmp.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        refused(output, &[argument, "not valid UTF-8"]);
        assert_eq!(listing(tmp.path()), before, "{args:?}");
        assert_eq!(listing(&odd), run_before, "{args:?}");
    }

    // Named as UTF-8, but recorded as the absolute path under a working folder, or as the real
    // path behind a link, that are not.
    let inside = Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .current_dir(&odd)
        .args(["analyze", "."])
        .output()
        .unwrap();
    assert_eq!(inside.status.code(), Some(2));
    refused(
        inside,
        &[
            "'<RUN_OR_CHECKPOINT>'",
            "its absolute path",
            "not valid UTF-8",
        ],
    );
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&odd, &link).unwrap();
    let linked = link.join("step-000010");
    refused(
        train(&elsewhere, &["--init-from", path(&linked)]),
        &["--init-from", "its real path", "not valid UTF-8"],
    );
    std::fs::remove_file(&link).unwrap();
    let npz = odd.join("d.npz");
    common::write_npz(&npz, &[0.5; 4 * 64], &[4, 64], &[0, 1, 2, 3]);
    let trained = Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .current_dir(&odd)
        .args([
            "train",
            "--arch",
            MLP,
            "--data",
            "d.npz",
            "--dynamic",
            "gd",
            "--lr",
            "0.1",
        ])
        .args(["--steps", "1", "--batch", "2", "--out", path(&elsewhere)])
        .output()
        .unwrap();
    refused(trained, &["--data d.npz: its real path", "not valid UTF-8"]);
    std::fs::remove_file(&npz).unwrap();
    assert_eq!(listing(tmp.path()), before);
    assert_eq!(listing(&odd), run_before);

    std::fs::rename(&odd, &run).unwrap();
    std::fs::rename(
        run.join("step-000010"),
        run.join(OsStr::from_bytes(b"step-\xff10")),
    )
    .unwrap();
    refused(
        curvscope(&analyze(&run, None, &[])),
        &["step-\u{fffd}10: a checkpoint folder whose name is not valid UTF-8"],
    );
    assert!(!run.join("analysis").exists());
}

/// --max-checkpoints counts the checkpoints computed: one that fails is not counted and is tried
/// again by the next run, which goes on past it; a note says how many were left, even with
/// --quiet. (Counted, a failure held every repeat at the same checkpoint.)
#[test]
fn a_failing_checkpoint_does_not_hold_max_checkpoints_back() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "30"]));
    poison(&run.join("step-000000"));
    let out = tmp.path().join("analysis");
    let limited = ["--out", path(&out), "--max-checkpoints", "1", "--quiet"];
    for (analyzed, left) in [
        (["step-000010"].as_slice(), "2 checkpoint(s) left"),
        (&["step-000010", "step-000020"], "1 checkpoint(s) left"),
    ] {
        let err = refused(
            curvscope(&analyze(&run, None, &limited)),
            &["checkpoint step-000000 failed", left],
        );
        assert!(err.contains("1 of 4 checkpoints failed"), "{err}");
        assert_eq!(column(&out.join("metrics.csv"), "checkpoint"), analyzed);
    }
}

#[test]
fn resume_sets_bad_snapshots_aside_and_names_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &[]));
    // A user's notes in a snapshot, a snapshot holding a NaN, one missing a file.
    std::fs::write(run.join("step-000050/NOTES.txt"), "mine").unwrap();
    poison(&run.join("step-000050"));
    std::fs::remove_file(run.join("step-000040/checkpoint.json")).unwrap();
    let err = ok(train(&run, &["--resume"]));
    assert!(
        err.contains("step-000050")
            && err.contains("fc1")
            && err.contains("NaN")
            && err.contains("step-000050.bad-1"),
        "{err}"
    );
    assert!(
        err.contains("step-000040/checkpoint.json") && err.contains("no such file"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("step-000050.bad-1/NOTES.txt")).unwrap(),
        "mine"
    );
    assert!(run.join("step-000040.bad-1/model.safetensors").exists());
    // The run resumed from step 30 and is whole again.
    assert!(run.join("step-000040/checkpoint.json").exists());
    assert!(run.join("step-000050/checkpoint.json").exists());
    let text = std::fs::read_to_string(run.join("run.csv")).unwrap();
    let steps: Vec<&str> = text.lines().skip(1).map(|l| &l[..2]).collect();
    assert_eq!(steps, ["0,", "10", "20", "30", "40", "50"]);
    // analyze leaves the set-aside folders alone.
    let analyzed = ok(curvscope(&analyze(&run, Some("digits"), &["--quiet"])));
    assert!(!analyzed.contains("bad-1"), "{analyzed}");
    let metrics = std::fs::read_to_string(run.join("analysis/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 7, "{metrics}");
}

#[test]
fn resume_parses_run_csv_strictly_and_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    ok(train(&whole, &[]));
    let expected = cells(&whole);
    let damages: [(Damage, &str); 5] = [
        // Cut in the middle of row 20, then a garbage row glued to the cut one and one alone.
        (
            |csv| {
                let cut = csv.len() - csv.lines().last().unwrap().len() * 3 / 2;
                format!("{}1,2\n1,2\n", &csv[..cut])
            },
            "fields, expected 8",
        ),
        (|_| String::new(), "not the header"),
        (|csv| csv.lines().next().unwrap().to_string() + "\n", ""),
        (
            |csv| csv.replace("\n20,", "\nx20,"),
            "'x20' is not a whole number",
        ),
        (
            |csv| csv.replacen(",,,", ",abc,,", 1),
            "'abc' is not a number",
        ),
    ];
    for (i, (damage, why)) in damages.iter().enumerate() {
        let run = tmp.path().join(format!("run-{i}"));
        // Interrupted after snapshot 30 of 50.
        ok(train(&run, &["--stop-after-steps", "30"]));
        let csv = std::fs::read_to_string(run.join("run.csv")).unwrap();
        std::fs::write(run.join("run.csv"), damage(&csv)).unwrap();
        let err = ok(train(&run, &["--resume"]));
        assert!(
            err.contains(why) && err.contains("recomputing the row"),
            "{i}: {err}"
        );
        assert_eq!(cells(&run), expected, "{i}");
    }
}

/// A snapshot copied in from another run (another seed; then another network, which could
/// not even be loaded) is no point to resume from: it is set aside naming the field that
/// differs, and the run resumes from its own last snapshot to the uninterrupted run's rows.
#[test]
fn resume_sets_another_runs_snapshot_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    ok(train(&whole, &[]));
    let wide = r#"{"name":"mlp","input":64,"hidden":[9],"classes":10,"activation":"tanh"}"#;
    for (i, (other_flags, field)) in [
        (&["--seed", "7"][..], "its seed is 7, this run's 0"),
        (&["--arch", wide][..], "its arch is"),
    ]
    .into_iter()
    .enumerate()
    {
        let other = tmp.path().join(format!("other-{i}"));
        ok(train(&other, other_flags));
        let run = tmp.path().join(format!("run-{i}"));
        ok(train(&run, &["--stop-after-steps", "30"]));
        let copied = run.join("step-000040");
        std::fs::create_dir(&copied).unwrap();
        for file in ["checkpoint.json", "model.safetensors"] {
            std::fs::copy(other.join("step-000040").join(file), copied.join(file)).unwrap();
        }
        let err = ok(train(&run, &["--resume"]));
        assert!(
            err.contains("step-000040/checkpoint.json is another run's") && err.contains(field),
            "{err}"
        );
        assert!(run.join("step-000040.bad-1/model.safetensors").exists());
        assert_eq!(cells(&run), cells(&whole));
    }
}

/// A setting of a computation not asked for is refused before any work, not ignored: a
/// typo'd `--density-probes 50` without `--density` would otherwise run without the density.
#[test]
fn settings_of_computations_not_asked_for_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    let out = tmp.path().join("analysis");
    for (extra, message) in [
        (
            &["--density-probes", "50"][..],
            "--density-probes and --density-steps: set for --density, which this analysis does not",
        ),
        (
            &["--ascent-iterations", "5"],
            "--ascent-iterations and --ascent-step: set for --epsilon-sharpness",
        ),
        (
            &["--full-spectrum-memory", "2"],
            "--full-spectrum-memory: set for --full-spectrum",
        ),
        (
            &["--no-sharpness", "--sigma", "0.5"],
            "--sigma: set for expected sharpness (off with --no-sharpness)",
        ),
        (
            &[
                "--no-sharpness",
                "--adaptive-sharpness-avg",
                "0.05",
                "--sigma",
                "0.5",
            ],
            "--sigma: set for expected sharpness (off with --no-sharpness)",
        ),
        // CHEAP's --samples 10.
        (
            &["--no-sharpness"],
            "--samples: set for expected sharpness (off with --no-sharpness) or \
             --adaptive-sharpness-avg",
        ),
    ] {
        let flags = [&["--out", path(&out)][..], extra].concat();
        refused(
            curvscope(&analyze(&run, Some("digits"), &flags)),
            &[message],
        );
        assert!(!out.exists(), "{extra:?}");
    }
}

/// --init-from is the folder it names, not its text: the same relative path resumed from
/// another working folder names another start and is refused; the same folder named another
/// way (absolute) resumes.
#[test]
fn init_from_is_the_folder_not_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    let (here, there) = (tmp.path().join("here"), tmp.path().join("there"));
    for (dir, seed) in [(&here, "1"), (&there, "2")] {
        ok(train(
            &dir.join("start"),
            &["--steps", "10", "--seed", seed],
        ));
    }
    let run = tmp.path().join("run");
    let from = |dir: &Path, start: &str, extra: &[&str]| {
        let args = [
            &[
                "train",
                "--quiet",
                "--out",
                path(&run),
                "--init-from",
                start,
            ][..],
            &[
                "--data",
                "digits",
                "--dynamic",
                "sgd",
                "--lr",
                "0.1",
                "--batch",
                "10",
            ],
            &["--steps", "30", "--snapshot-every", "10"],
            extra,
        ]
        .concat();
        curvscope_in(dir, &args)
    };
    ok(from(
        &here,
        "start/step-000010",
        &["--stop-after-steps", "10"],
    ));
    refused(
        from(&there, "start/step-000010", &["--resume"]),
        &["differs from", "in `init_from`"],
    );
    let absolute = here.join("start/step-000010");
    ok(from(&there, path(&absolute), &["--resume"]));
    assert!(run.join("step-000030").exists());
}

/// Snapshots pruned by hand before the resume point (step 0 and 10 of a run stopped at 30)
/// cost nothing of the log: their rows stay as they were, wall times included, and the run
/// ends with the uninterrupted run's rows.
#[test]
fn resume_keeps_the_rows_of_pruned_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    ok(train(&whole, &[]));
    let run = tmp.path().join("run");
    ok(train(&run, &["--stop-after-steps", "30"]));
    let early: Vec<String> = std::fs::read_to_string(run.join("run.csv"))
        .unwrap()
        .lines()
        .take(3)
        .map(String::from)
        .collect();
    for step in ["step-000000", "step-000010"] {
        std::fs::remove_dir_all(run.join(step)).unwrap();
    }
    let err = ok(train(&run, &["--resume"]));
    assert!(!err.contains("dropping the row"), "{err}");
    let text = std::fs::read_to_string(run.join("run.csv")).unwrap();
    assert_eq!(text.lines().take(3).collect::<Vec<_>>(), early);
    assert_eq!(cells(&run), cells(&whole));
}

/// A row rebuilt from its snapshot keeps `noise_trace` and `noise_unconverged`: the snapshot
/// holds them beside θ.
#[test]
fn rebuilt_rows_keep_the_noise_estimates_count() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let leading = ["--dynamic", "gld-leading", "--refresh-every", "10"];
    ok(train(&run, &leading));
    let expected = cells(&run);
    // The header, then step 0 (no noise drawn yet) and the rows after it.
    assert!(
        expected[1..].iter().all(|row| row[6] == "0"),
        "{expected:?}"
    );
    assert!(
        expected[2..]
            .iter()
            .all(|row| row[5].parse::<f64>().unwrap() > 0.0),
        "{expected:?}"
    );
    let header = std::fs::read_to_string(run.join("run.csv")).unwrap();
    std::fs::write(run.join("run.csv"), header.lines().next().unwrap()).unwrap();
    let err = ok(train(&run, &[&leading[..], &["--resume"]].concat()));
    assert!(err.contains("recomputing the row of step 50"), "{err}");
    assert_eq!(cells(&run), expected);
}

/// A way to damage a JSON file's value.
type JsonDamage = fn(&mut serde_json::Value);

/// A way to damage run.csv's text.
type Damage = fn(&str) -> String;

/// run.csv's cells but the wall time, which a rebuilt row leaves empty.
fn cells(run: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(run.join("run.csv")).unwrap();
    text.lines()
        .map(|l| {
            let mut row: Vec<String> = l.split(',').map(String::from).collect();
            assert_eq!(row.len(), 8, "{l}");
            row.pop();
            row
        })
        .collect()
}

#[test]
fn resume_never_shortens_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &[]));
    let before = common::files(&run);
    refused(
        train(&run, &["--steps", "30", "--resume"]),
        &["--steps 30", "run.json", "50 steps"],
    );
    assert!(
        before == common::files(&run),
        "a refused resume changed the run"
    );
    let err = ok(train(&run, &["--steps", "60", "--resume"]));
    assert!(err.contains("from 50 to 60 steps"), "{err}");
}

/// An extending resume that fails on run.csv leaves run.json as it was: the run can still be
/// resumed at its own length once run.csv is mended.
#[test]
fn a_failed_extending_resume_leaves_run_json_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "20"]));
    let (log, aside) = (run.join("run.csv"), tmp.path().join("run.csv"));
    std::fs::rename(&log, &aside).unwrap();
    std::fs::create_dir(&log).unwrap();
    let json = std::fs::read(run.join("run.json")).unwrap();
    refused(train(&run, &["--steps", "30", "--resume"]), &[path(&log)]);
    assert_eq!(std::fs::read(run.join("run.json")).unwrap(), json);
    std::fs::remove_dir(&log).unwrap();
    std::fs::rename(&aside, &log).unwrap();
    ok(train(&run, &["--steps", "20", "--resume"]));
}

#[test]
fn every_numeric_flag_is_checked_at_parse_time() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let trains: &[(&str, &[&str])] = &[
        ("--lr", &["0", "-1", "nan", "inf"]),
        ("--batch", &["0", "-1"]),
        ("--snapshot-every", &["0"]),
        ("--refresh-every", &["0"]),
        ("--init-std", &["nan", "-1", "0"]),
        ("--noise-std", &["-1", "nan"]),
        ("--rank", &["0"]),
        ("--max-memory", &["0", "-5GB", "lots"]),
    ];
    for (flag, values) in trains {
        for value in *values {
            let mut args: Vec<&str> = vec![flag, value];
            if *flag == "--init-std" {
                args.extend(["--init", "normal"]);
            }
            refused(train(&out, &args), &[&format!("'{value}' for '{flag} ")]);
        }
    }
    assert!(!out.exists(), "a refused command created its --out");
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    let analyses: &[(&str, &[&str])] = &[
        ("--top-k", &["0", "-1"]),
        ("--tol", &["0", "-1", "nan", "1", "1e300"]),
        ("--max-krylov", &["0", "1"]),
        ("--trace-probes", &["0", "1"]),
        ("--trace-h-sigma-probes", &["1"]),
        ("--sigma", &["nan", "inf", "-1", "0"]),
        ("--samples", &["1"]),
        ("--density-probes", &["0"]),
        ("--density-steps", &["0"]),
        ("--batch", &["0", "-2"]),
        ("--chunk", &["0"]),
        ("--threads", &["0"]),
        ("--max-memory", &["-5GB"]),
    ];
    let analysis = tmp.path().join("analysis");
    for (flag, values) in analyses {
        for value in *values {
            let args = ["analyze", path(&run), "--out", path(&analysis), flag, value];
            refused(curvscope(&args), &[&format!("'{value}' for '{flag} ")]);
        }
    }
    // Fewer Lanczos steps than k + 1 cannot give the top k eigenvalues of D = 610.
    let few = ["analyze", path(&run), "--out", path(&analysis), "-k", "3"];
    let few = [&few[..], &["--max-krylov", "3"]].concat();
    let k_plus_1 = [
        "--max-krylov 3 is too small for the top 3 eigenvalues",
        "k + 1 = 4",
    ];
    refused(curvscope(&few), &k_plus_1);
    // Nor of the k that --prop1-k-max raises.
    let raised = [&few[..], &["--prop1-k-max", "5"]].concat();
    refused(curvscope(&raised), &["top 6 eigenvalues", "k + 1 = 7"]);
    assert!(!analysis.exists(), "a refused command created its --out");
    // On D = 18 a Krylov space of 18 is all of R^18: exact, whatever -k (20 by default).
    let small = tmp.path().join("small");
    let fixed = r#"{"name":"fixed-output","input":2,"hidden":6}"#;
    ok(train(
        &small,
        &["--arch", fixed, "--data", "halfspace:40", "--steps", "10"],
    ));
    let whole = ["analyze", path(&small), "--max-krylov", "18", "--quiet"];
    ok(curvscope(&whole));
    let converged = column(&small.join("analysis/metrics.csv"), "hessian_converged");
    assert_eq!(converged, ["true", "true"]);
}

#[test]
fn an_out_that_is_a_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    refused(train(&file, &[]), &["--out", path(&file), "not a folder"]);
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    let to_file = analyze(&run, Some("digits"), &["--out", path(&file)]);
    refused(curvscope(&to_file), &["--out", path(&file), "not a folder"]);
    ok(curvscope(&analyze(&run, Some("digits"), &["--quiet"])));
    let export = ["export", path(&run), "--to", path(&file)];
    refused(curvscope(&export), &["--to", path(&file), "not a folder"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn unconverged_lanczos_and_an_imprecise_trace_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    // Default Tr(H) probes (1% target, at most 100) and too small a Krylov space.
    let args = [
        "analyze",
        path(&run),
        "--data",
        "digits",
        "-k",
        "2",
        "--max-krylov",
        "3",
        "--samples",
        "5",
        "--trace-h-sigma-probes",
        "4",
    ];
    let output = curvscope(&args);
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = ok(output);
    // The status says so, and each λ₁ is marked with a * explained under the table.
    assert_eq!(
        table.matches("computed, NOT CONVERGED").count(),
        2,
        "{table}"
    );
    assert_eq!(table.matches("* ").count(), 2 + 1, "{table}");
    assert!(
        table.contains("* Lanczos did not converge on the top-k"),
        "{table}"
    );
    assert!(
        err.contains("step-000010: the top-2 eigenpairs did not converge"),
        "{err}"
    );
    assert!(
        err.contains("missed its 1% target within 90 probes"),
        "{err}"
    );
    // So are the 4 probes of Tr(HΣ) and the 5 samples of the sharpness asked for: their
    // standard errors are rough.
    for asked in ["4 probes (--trace-h-sigma-probes)", "5 probes (--samples)"] {
        assert!(
            err.contains(&format!(
                "is from {asked}: below 10 its standard error is rough"
            )),
            "{err}"
        );
    }
    // Tr(H) is shown with its standard error.
    let row = table
        .lines()
        .find(|l| l.starts_with("step-000010"))
        .unwrap();
    let metrics = run.join("analysis/metrics.csv");
    let number = |name| column(&metrics, name)[1].parse::<f64>().unwrap();
    let (value, stderr) = (number("trace_h"), number("trace_h_stderr"));
    assert!(
        row.contains(&format!("{value:.2}±{stderr:.2}")),
        "{row} vs {value} ± {stderr}"
    );
}

#[test]
fn undefined_numbers_are_empty_cells_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let fixed = r#"{"name":"fixed-output","input":2,"hidden":6}"#;
    ok(train(
        &run,
        &["--arch", fixed, "--data", "halfspace:40", "--steps", "10"],
    ));
    // One sample: Tr(Σ) = 0, so â, the ratio and the bound are undefined.
    let out = tmp.path().join("one");
    let one = analyze(&run, Some("halfspace:1"), &["--out", path(&out)]);
    let err = ok(curvscope(&one));
    assert!(
        err.contains("a_hat, ratio, prop1_bound undefined") && err.contains("Tr(Σ) = 0"),
        "{err}"
    );
    // The recorded batch of 10 is no batch of 1 sample.
    assert!(
        err.contains("batch_size 10 is not a batch of the 1 samples"),
        "{err}"
    );
    for file in ["metrics.csv", "eigenvalues.csv", "prop1.csv"] {
        // the cells, not the header (metrics.csv has a column adaptive_sharpness_linf)
        let text = std::fs::read_to_string(out.join(file))
            .unwrap()
            .to_lowercase();
        let cells: Vec<&str> = text.lines().skip(1).collect();
        assert!(!cells.is_empty(), "{file}: no rows");
        assert!(
            cells
                .iter()
                .all(|l| !l.contains("nan") && !l.contains("inf")),
            "{file}: {text}"
        );
    }
    for name in ["a_hat", "ratio", "prop1_bound", "minibatch_factor"] {
        assert_eq!(column(&out.join("metrics.csv"), name), ["", ""], "{name}");
    }
    // Perturbations so large that the MLP's loss overflows: expected sharpness' spread is no
    // number, and the warning says so (it is no ratio of Proposition 1's).
    let mlp = tmp.path().join("mlp");
    ok(train(&mlp, &["--steps", "10"]));
    let huge = tmp.path().join("huge");
    let sigma = ["--out", path(&huge), "--sigma", "1e300"];
    let err = ok(curvscope(&analyze(&mlp, Some("digits:50"), &sigma)));
    assert!(
        err.contains("expected_sharpness_stderr")
            && err.contains("not finite (NaN or ±∞; left empty in metrics.csv): e.g. an overflow")
            && !err.contains("undefined (left empty"),
        "{err}"
    );
    let stderr = column(&huge.join("metrics.csv"), "expected_sharpness_stderr");
    assert_eq!(stderr, ["", ""]);
    // The record keeps the ∞ (JSON has no number for it; it was written as null and could not
    // be read back): a rerun reuses it, computing nothing, and `report` draws it.
    let record = std::fs::read_to_string(huge.join("reports/step-000000.json")).unwrap();
    assert!(record.contains(r#""stderr": "inf""#), "{record}");
    let rerun = ok(curvscope(&analyze(&mlp, Some("digits:50"), &sigma)));
    assert!(
        !rerun.contains("not finite"),
        "reused, so nothing to warn of: {rerun}"
    );
    let page = tmp.path().join("huge.html");
    ok(curvscope(&[
        "report",
        path(&huge),
        "--to",
        path(&page),
        "--quiet",
    ]));
    // --batch larger than N is refused, naming both.
    let big = [&one[..], &["--batch", "2"]].concat();
    refused(curvscope(&big), &["--batch 2 exceeds the 1 samples"]);
    // A recorded batch size of 0 is treated as absent.
    let meta = run.join("step-000010/checkpoint.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(
        &meta,
        text.replace("\"batch_size\": 10", "\"batch_size\": 0"),
    )
    .unwrap();
    let zero = analyze(&run, Some("halfspace:40"), &[]);
    let err = ok(curvscope(&zero));
    assert!(
        err.contains("step-000010: checkpoint.json's batch_size 0"),
        "{err}"
    );
    let factors = column(&run.join("analysis/metrics.csv"), "minibatch_factor");
    assert_eq!(factors, ["0.1", ""]);
}

/// A rerun with other options says what it sets aside, and costs nothing: the earlier
/// records move to reports/earlier/<options hash>/, and a rerun with the earlier options takes
/// them back as they were, computing nothing. An optional table of the earlier options
/// (density.csv) goes with them, and comes back with them.
#[test]
fn rerunning_with_other_options_sets_the_earlier_records_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    let density = [
        "--density",
        "--density-probes",
        "2",
        "--density-steps",
        "10",
    ];
    let analyze = |seed: &str| {
        let extra: &[&str] = if seed == "0" { &density } else { &[] };
        let flags = [&["--quiet", "--seed", seed][..], extra].concat();
        curvscope(&analyze(&run, Some("digits"), &flags))
    };
    let density_csv = run.join("analysis/density.csv");
    let reports = run.join("analysis/reports");
    let records = |dir: &Path| -> Vec<Vec<u8>> {
        ["step-000000.json", "step-000010.json"]
            .map(|name| std::fs::read(dir.join(name)).unwrap())
            .to_vec()
    };
    let first = ok(analyze("0"));
    assert!(!first.contains("other options"), "{first}");
    let seed0 = records(&reports);
    let density0 = std::fs::read(&density_csv).unwrap();
    let hash = |_: ()| column(&run.join("analysis/metrics.csv"), "options_hash")[0].clone();
    let old = hash(());
    let err = ok(analyze("1"));
    let new = hash(());
    assert_ne!(old, new);
    assert!(
        err.contains("2 of the 2 checkpoints were analyzed into")
            && err.contains(&format!("options hash {old}"))
            && err.contains(&format!(
                "moves to reports/earlier/{old}/ once this analysis writes"
            )),
        "{err}"
    );
    assert_eq!(records(&reports.join("earlier").join(&old)), seed0);
    assert!(
        !density_csv.exists(),
        "seed 0's density.csv passed for seed 1's"
    );
    let seed1 = records(&reports);
    // Back to the first options: their records return byte for byte (their wall times too:
    // nothing was computed), and the second ones are set aside in turn.
    ok(analyze("0"));
    assert_eq!(hash(()), old);
    assert_eq!(records(&reports), seed0);
    assert_eq!(std::fs::read(&density_csv).unwrap(), density0);
    assert_eq!(records(&reports.join("earlier").join(&new)), seed1);
    assert!(!reports
        .join("earlier")
        .join(&old)
        .join("step-000000.json")
        .exists());
}

/// A rerun that fails on every checkpoint (a mistyped --data, a --batch over N) leaves the
/// earlier analysis as it was: its manifest, CSVs and records; a folder of other files is
/// refused before anything is written into it.
#[test]
fn a_failed_rerun_keeps_the_earlier_results_and_other_folders_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    ok(curvscope(&analyze(&run, Some("digits"), &["--quiet"])));
    let analysis = run.join("analysis");
    let files = |_: ()| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let reports = std::fs::read_dir(analysis.join("reports")).unwrap();
        let mut paths: Vec<_> = reports.map(|e| e.unwrap().path()).collect();
        paths.extend(["analysis.json", "metrics.csv", "eigenvalues.csv"].map(|f| analysis.join(f)));
        paths.sort();
        paths
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(p).unwrap()))
            .collect()
    };
    let before = files(());
    assert_eq!(before.len(), 2 + 3);
    for (data, extra) in [("digit", "--quiet"), ("digits", "--batch=1798")] {
        let args = analyze(&run, Some(data), &[extra, "--seed", "3"]);
        refused(
            curvscope(&args),
            &["left as it was (its earlier results kept)"],
        );
        assert!(
            files(()) == before,
            "--data {data} {extra} changed the analysis"
        );
    }
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("README.md"), "notes").unwrap();
    let into_mine = analyze(&run, Some("digits"), &["--out", path(&mine)]);
    refused(curvscope(&into_mine), &["is not an analysis folder"]);
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
    assert_eq!(std::fs::read(mine.join("README.md")).unwrap(), b"notes");
    // What a kill while analysis.json was being written leaves (reports/ and the atomic
    // write's temporary file) is the rerun's own folder, not a foreign one.
    let killed = tmp.path().join("killed");
    std::fs::create_dir_all(killed.join("reports")).unwrap();
    std::fs::write(killed.join(".tmpAb12Cd"), "{\"curvscope_vers").unwrap();
    ok(curvscope(&analyze(
        &run,
        Some("digits"),
        &["--out", path(&killed)],
    )));
    assert!(killed.join("analysis.json").is_file());
}

#[test]
fn a_relative_npz_in_checkpoint_json_is_found_from_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("project/data");
    std::fs::create_dir_all(&data).unwrap();
    let x: Vec<f32> = (0..20 * 64).map(|i| (i % 17) as f32 / 17.0).collect();
    let y: Vec<i64> = (0..20).map(|i| i % 10).collect();
    common::write_npz(&data.join("mine.npz"), &x, &[20, 64], &y);
    // Trained from project/ with a relative --data.
    let project = tmp.path().join("project");
    let run = project.join("run");
    /// GD on the MLP for `steps` steps on `data`, into `out`.
    fn gd<'a>(data: &'a str, steps: &'a str, out: &'a str) -> Vec<&'a str> {
        let flags = ["--dynamic", "gd", "--lr", "0.1", "--batch", "20"];
        let rest = ["--steps", steps, "--snapshot-every", "10", "--out", out];
        let head = ["train", "--quiet", "--arch", MLP, "--data", data];
        [&head[..], &flags, &rest].concat()
    }
    ok(curvscope_in(&project, &gd("data/mine.npz", "10", "run")));
    // A checkpoint written by hand, its data relative to its own folder.
    let meta = run.join("step-000010/checkpoint.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    json["data"] = "../../data/mine.npz".into();
    std::fs::write(&meta, serde_json::to_vec(&json).unwrap()).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    ok(curvscope_in(&elsewhere, &analyze(&run, None, &["--quiet"])));
    let specs = column(&run.join("analysis/metrics.csv"), "data");
    let canonical = data.join("mine.npz").canonicalize().unwrap();
    assert_eq!(specs, [path(&canonical); 2]);
    // Resumed from another folder, the same file named otherwise: the same samples (their
    // hashes agree), so the run continues; a path's spelling is no configuration.
    let resumed = gd(path(&canonical), "20", path(&run));
    ok(curvscope_in(
        &elsewhere,
        &[&resumed[..], &["--resume"]].concat(),
    ));
    assert!(run.join("step-000020").is_dir());
}

/// An .npz rewritten under its name with other inputs (the same labels) is other data:
/// `analyze` computes its records again and warns, `landscape` starts its slice afresh, and
/// `train --resume` refuses to continue.
#[test]
fn data_rewritten_under_its_name_is_not_taken_for_the_old() {
    let tmp = tempfile::tempdir().unwrap();
    let mine = tmp.path().join("mine.npz");
    let mut x: Vec<f32> = (0..20 * 64).map(|i| (i % 17) as f32 / 17.0).collect();
    let y: Vec<i64> = (0..20).map(|i| i % 10).collect();
    common::write_npz(&mine, &x, &[20, 64], &y);
    let run = tmp.path().join("run");
    let on_mine = ["--data", path(&mine), "--steps", "10", "--batch", "20"];
    ok(train(&run, &on_mine));
    ok(curvscope(&analyze(&run, None, &["--quiet"])));
    let losses = column(&run.join("analysis/metrics.csv"), "loss");
    // A slice stopped after 2 of its 5 points, to be continued.
    let checkpoint = run.join("step-000010");
    let slice = |extra: &[&str]| {
        let args = ["landscape", path(&checkpoint), "--points", "5", "--quiet"];
        curvscope(&[&args[..], extra].concat())
    };
    ok(slice(&["--max-points", "2"]));
    x[0] += 1.0;
    common::write_npz(&mine, &x, &[20, 64], &y);
    let err = ok(slice(&[]));
    assert!(err.contains("or other data"), "{err}");
    let continued = std::fs::read(checkpoint.join("landscape-random-1d/landscape.csv")).unwrap();
    std::fs::remove_dir_all(checkpoint.join("landscape-random-1d")).unwrap();
    ok(slice(&[]));
    let fresh = std::fs::read(checkpoint.join("landscape-random-1d/landscape.csv")).unwrap();
    assert!(continued == fresh, "old rows kept beside new ones");
    let err = ok(curvscope(&analyze(&run, None, &["--quiet"])));
    assert!(err.contains("the inputs of 'mine' differ"), "{err}");
    assert_ne!(column(&run.join("analysis/metrics.csv"), "loss"), losses);
    let extended = [
        &on_mine[..2],
        &["--steps", "20", "--batch", "20", "--resume"],
    ]
    .concat();
    refused(
        train(&run, &extended),
        &["run.json in `dataset`", "inputs_sha256"],
    );
}

#[test]
fn a_device_error_is_not_called_a_misfit() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    let args = analyze(&run, Some("digits"), &["--device", "gpu", "--quiet"]);
    let output = curvscope(&args);
    // Without GPU support (or without a GPU) both checkpoints fail, saying why.
    if !output.status.success() {
        let err = refused(output, &["--device gpu"]);
        assert!(!err.contains("does not fit"), "{err}");
    }
}

#[test]
fn a_run_killed_before_its_first_snapshot_resumes_from_step_0() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, run) = (tmp.path().join("whole"), tmp.path().join("run"));
    ok(train(&whole, &["--steps", "20"]));
    ok(train(&run, &["--steps", "20"]));
    // What a kill right after run.json was written leaves.
    for entry in std::fs::read_dir(&run).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap() != "run.json" {
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
    let err = ok(train(&run, &["--steps", "20", "--resume"]));
    assert!(
        err.contains("no complete snapshot yet; starting at step 0"),
        "{err}"
    );
    assert_eq!(cells(&run), cells(&whole));
    let snapshot = |r: &Path| common::files(&r.join("step-000020"));
    assert!(snapshot(&run) == snapshot(&whole));
}

#[test]
fn a_bad_first_snapshot_does_not_stop_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, run) = (tmp.path().join("whole"), tmp.path().join("run"));
    // gld-const's noise level is computed at θ₀.
    let flags = ["--steps", "30", "--dynamic", "gld-const", "--lr", "0.05"];
    ok(train(&whole, &flags));
    ok(train(
        &run,
        &[&flags[..], &["--stop-after-steps", "20"]].concat(),
    ));
    poison(&run.join("step-000000"));
    let err = ok(train(&run, &[&flags[..], &["--resume"]].concat()));
    assert!(
        err.contains("step-000000.bad-1") && err.contains("NaN"),
        "{err}"
    );
    // θ₀ is drawn again, so steps 10 to 30 are those of the uninterrupted run; step 0's row,
    // logged before its snapshot went bad, stays.
    assert_eq!(cells(&run), cells(&whole));
    let snapshot = |r: &Path| common::files(&r.join("step-000030"));
    assert!(snapshot(&run) == snapshot(&whole));
}

/// Every snapshot bad: the resume starts again at step 0, whose row is logged again, once.
#[test]
fn a_run_with_no_good_snapshot_resumes_from_step_0_with_one_row_per_step() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, run) = (tmp.path().join("whole"), tmp.path().join("run"));
    ok(train(&whole, &["--steps", "20"]));
    ok(train(&run, &["--steps", "20"]));
    for step in ["000000", "000010", "000020"] {
        poison(&run.join(format!("step-{step}")));
    }
    let err = ok(train(&run, &["--steps", "20", "--resume"]));
    assert!(
        err.contains("step-000020.bad-1") && err.contains("starting at step 0"),
        "{err}"
    );
    assert_eq!(cells(&run), cells(&whole));
}

/// msgd's own flags (or fashion's --reduced) given to another target, a dynamic msgd does
/// not train, or more test images than there are, are refused before the output folder is
/// made: nothing is silently ignored.
#[test]
fn reproduce_refuses_what_its_target_does_not_take_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cases: [(&[&str], &str); 5] = [
        (
            &["one-hidden", "--steps", "3"],
            "--steps is msgd's; one-hidden",
        ),
        (&["toy2d", "--reduced"], "--reduced is fashion's; toy2d"),
        (
            &["toy2d", "--test-images", "5"],
            "--test-images is msgd's; toy2d",
        ),
        (
            &["msgd", "--only", "gld-hessian"],
            "--only gld-hessian: msgd's dynamics are",
        ),
        (
            &["msgd", "--test-images", "20000"],
            "--test-images 20000: <built-in data>/fashion-mnist/t10k-images-idx3-ubyte.gz: 20000 examples requested, only 10000 available",
        ),
    ];
    for (args, message) in cases {
        let args = [&["reproduce", "--out", path(&out)], args].concat();
        refused(curvscope(&args), &[message]);
        assert!(!out.exists(), "{args:?} made its --out");
    }
}

/// Output into a closed pipe (`curvscope … | head`) ends the process as it ends any Unix
/// filter, by SIGPIPE, never with a panic.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_process_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(["analyze", "--help"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        output.status.success() || output.status.signal() == Some(13),
        "{:?}: {err}",
        output.status
    );
}

/// A landscape --out holding a landscape.csv curvscope did not write is refused, the file
/// untouched; a --span whose grid would overflow (1e308: NaN losses written over a finished
/// slice) is refused at parse time.
#[test]
fn landscape_keeps_files_it_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    let checkpoint = run.join("step-000010");
    let out = tmp.path().join("slices");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("landscape.csv"), "mine").unwrap();
    let args = |extra: &[&'static str]| {
        let base = [
            "landscape",
            path(&checkpoint),
            "--data",
            "digits:20",
            "--quiet",
        ];
        [&base[..], &["--out", path(&out)], extra].concat()
    };
    refused(
        curvscope(&args(&["--points", "3"])),
        &["is not part of a slice curvscope wrote"],
    );
    assert_eq!(std::fs::read(out.join("landscape.csv")).unwrap(), b"mine");
    refused(
        curvscope(&args(&["--span", "1e308"])),
        &["'1e308' for '--span "],
    );
}

/// `report --to` replaces only a report curvscope wrote and no one edited since, and `export` writes into a folder
/// only where no file of its names is someone else's: one's own notes are never overwritten.
#[test]
fn report_and_export_overwrite_only_their_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let notes = tmp.path().join("notes.html");
    std::fs::write(&notes, "<html>mine</html>").unwrap();
    let report = ["report", path(&run), "--to", path(&notes), "--quiet"];
    refused(curvscope(&report), &["is not a report curvscope wrote"]);
    assert_eq!(std::fs::read(&notes).unwrap(), b"<html>mine</html>");
    let fresh = tmp.path().join("fresh.html");
    let report = ["report", path(&run), "--to", path(&fresh), "--quiet"];
    ok(curvscope(&report));
    ok(curvscope(&report)); // its own report, replaced
                            // Edited by hand since: kept, whatever words it still holds.
    let page = std::fs::read_to_string(&fresh).unwrap();
    let edited = page.replacen("<h1>", "<h1>My notes: ", 1);
    std::fs::write(&fresh, &edited).unwrap();
    refused(curvscope(&report), &["edited since"]);
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), edited);
    let paper = tmp.path().join("paper");
    std::fs::create_dir(&paper).unwrap();
    std::fs::write(paper.join("run.csv"), "mine").unwrap();
    let export = ["export", path(&run), "--to", path(&paper), "--quiet"];
    refused(
        curvscope(&export),
        &["holds run.csv, which no export of curvscope wrote"],
    );
    assert_eq!(std::fs::read(paper.join("run.csv")).unwrap(), b"mine");
    // One's own figures/ (a trace_h.svg an export would also write) is someone else's too.
    let own_figures = tmp.path().join("talk");
    std::fs::create_dir_all(own_figures.join("figures")).unwrap();
    std::fs::write(own_figures.join("figures/trace_h.svg"), "mine").unwrap();
    let export = ["export", path(&run), "--to", path(&own_figures), "--quiet"];
    refused(
        curvscope(&export),
        &["holds figures/trace_h.svg, which no export of curvscope wrote"],
    );
    let kept = own_figures.join("figures/trace_h.svg");
    assert_eq!(std::fs::read(kept).unwrap(), b"mine");
    // A --to that exists but cannot be read (a folder here; a file of another user's, too)
    // cannot be known to be ours.
    let unreadable = tmp.path().join("folder.html");
    std::fs::create_dir(&unreadable).unwrap();
    let report = ["report", path(&run), "--to", path(&unreadable), "--quiet"];
    refused(curvscope(&report), &["exists and cannot be read"]);
    assert!(unreadable.is_dir());
}

/// A checkpoint saved in f64 with a weight beyond f32's range, evaluated in f32: `info` and
/// `analyze` refuse it naming the tensor (behind the tanh here the loss came out finite; with
/// other weights it printed `loss null` and exited 0).
#[test]
fn info_refuses_a_loss_that_is_no_number_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10", "--precision", "f64"]));
    let file = run.join("step-000010/model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..16 + header].copy_from_slice(&1e39f64.to_le_bytes());
    std::fs::write(&file, bytes).unwrap();
    let checkpoint = run.join("step-000010");
    let info = [
        "info",
        path(&checkpoint),
        "--data",
        "digits:20",
        "--precision",
        "f32",
    ];
    let message = ["tensor `fc1.bias` holds 1e39 at flat index 0, beyond f32's range"];
    refused(curvscope(&info), &message);
    let out = tmp.path().join("analysis");
    let analyze = analyze(&checkpoint, Some("digits:20"), &["--precision", "f32"]);
    let analyze = [&analyze[..], &["--out", path(&out)]].concat();
    refused(curvscope(&analyze), &message);
}

/// A landscape slice still being computed is named in the report and left out of it; the
/// rest of the report is written.
#[test]
fn a_report_leaves_out_an_unfinished_slice_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let checkpoint = run.join("step-000010");
    let slice = [
        "landscape",
        path(&checkpoint),
        "--data",
        "digits:50",
        "--points",
        "5",
        "--quiet",
    ];
    ok(curvscope(&slice));
    let csv = checkpoint.join("landscape-random-1d/landscape.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(&csv, cut[..cut.len() - 1].join("\n") + "\n").unwrap();
    let to = tmp.path().join("report.html");
    let report = || {
        ok(curvscope(&[
            "report",
            path(&run),
            "--to",
            path(&to),
            "--quiet",
        ]));
        std::fs::read_to_string(&to).unwrap()
    };
    assert!(
        report().contains("landscape-random-1d left out"),
        "no note of the slice"
    );
    // A damaged landscape.json is left out too: each of these panicked the plotting code,
    // and the overflowing axis kept it busy for minutes.
    std::fs::write(&csv, text).unwrap();
    let json = checkpoint.join("landscape-random-1d/landscape.json");
    let whole: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let damages: [(JsonDamage, &str); 4] = [
        (
            |j| j["figure"]["axis_labels"] = serde_json::json!([]),
            "0 axis labels",
        ),
        (
            |j| j["figure"]["marks"] = serde_json::json!([[]]),
            "a mark without",
        ),
        (
            |j| j["axes"] = serde_json::json!([[]]),
            "an axis of 0 points",
        ),
        (
            |j| j["axes"] = serde_json::json!([[-1e308, 0, 1e308, 1e308, 1e308]]),
            "not increasing and within",
        ),
    ];
    for (damage, why) in damages {
        let mut damaged = whole.clone();
        damage(&mut damaged);
        std::fs::write(&json, serde_json::to_vec(&damaged).unwrap()).unwrap();
        let html = report();
        assert!(
            html.contains("landscape-random-1d left out") && html.contains(why),
            "{why}"
        );
    }
}

/// A report names the checkpoints that failed, with their errors, on the page and on stderr,
/// and says when no checkpoint has a record: it left them out silently (an empty page, exit 0).
#[test]
fn a_report_names_the_failed_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train(&run, &["--steps", "10"]));
    poison(&run.join("step-000000"));
    let failed_row = r#"<tr><td class="text">step-000000</td><td class="text">"#;
    for (out, failed) in [("one", 1), ("all", 2)] {
        if failed == 2 {
            poison(&run.join("step-000010"));
        }
        let analysis = tmp.path().join(out);
        let _ = curvscope(&analyze(&run, None, &["--out", path(&analysis), "--quiet"]));
        let page = tmp.path().join(format!("{out}.html"));
        let err = ok(curvscope(&["report", path(&analysis), "--to", path(&page)]));
        assert!(
            err.contains(&format!(
                "{failed} checkpoint(s) failed and are not in the report"
            )),
            "{err}"
        );
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("<h3>Failed checkpoints</h3>") && html.contains(failed_row));
        let empty = "no checkpoint has a record";
        assert_eq!(err.contains(empty), failed == 2, "{err}");
        assert_eq!(html.contains(empty), failed == 2);
    }
}

/// A second export into a folder that another curvscope is writing (here the test holds its
/// lock, as `lock_output` takes it) is refused before it writes anything: two at once mixed
/// their files and tore PNGs. The next export removes what a killed one left.
#[test]
fn an_export_into_a_folder_being_written_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let to = tmp.path().join("export");
    std::fs::create_dir(&to).unwrap();
    let held = std::fs::File::open(&to).unwrap();
    held.lock().unwrap();
    let export = ["export", path(&run), "--to", path(&to), "--quiet"];
    refused(
        curvscope(&export),
        &["--to", "another curvscope is writing this folder now"],
    );
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 0);
    drop(held);
    ok(curvscope(&export));
    // What a killed export left (write_atomic's temporary file) goes with the next.
    let leftover = to.join("figures/.tmpAb12Zx");
    std::fs::write(&leftover, "").unwrap();
    ok(curvscope(&export));
    assert!(!leftover.exists());

    // Not in a folder that is no export's: refused, with such a file of the user's kept.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("metrics.csv"), "mine").unwrap();
    std::fs::write(foreign.join(".tmpAb12Zx"), "mine too").unwrap();
    refused(
        curvscope(&["export", path(&run), "--to", path(&foreign)]),
        &["holds metrics.csv, which no export of curvscope wrote"],
    );
    assert!(foreign.join(".tmpAb12Zx").exists());
}

/// An export cut short (here at a figures/ it cannot make) leaves a folder that a rerun still
/// takes as its own: it was refused as holding "a metrics.csv that no export wrote".
#[test]
fn an_export_cut_short_is_finished_by_a_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let to = tmp.path().join("export");
    // figures/ a link to a folder that is not there: no file of ours is there yet, and the
    // figures cannot be written through it.
    std::fs::create_dir(&to).unwrap();
    let blocked = to.join("figures");
    std::os::unix::fs::symlink(tmp.path().join("missing"), &blocked).unwrap();
    let export = ["export", path(&run), "--to", path(&to), "--quiet"];
    assert!(!curvscope(&export).status.success());
    assert!(to.join("metrics.csv").exists(), "cut short after the CSVs");
    std::fs::remove_file(&blocked).unwrap();
    ok(curvscope(&export));
    assert!(to.join("figures/eigenvalues.svg").is_file() && to.join("analysis.ipynb").exists());
}

/// A build without MPI started as one of several `mpirun` processes refuses to run: each copy
/// would do the whole job and write the same files.
#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_to_be_one_of_several_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let train_as_rank = |alone: &str| {
        Command::new(env!("CARGO_BIN_EXE_curvscope"))
            .args(["train", "--quiet", "--out", path(&run)])
            .args(["--arch", MLP, "--data", "digits:50", "--dynamic", "gd"])
            .args(["--lr", "0.1", "--steps", "1"])
            .env("OMPI_COMM_WORLD_SIZE", "2")
            .env("CURVSCOPE_ONE_PROCESS", alone)
            .output()
            .unwrap()
    };
    refused(
        train_as_rank("0"),
        &["built without MPI", "one of 2 processes"],
    );
    assert!(!run.exists());
    // Unless each process is meant to work alone (a shard each).
    let alone = train_as_rank("1");
    assert!(alone.status.success(), "{}", stderr(&alone));
}

/// Records are named by checkpoint, so a second run analyzed into the first's analysis folder
/// would replace its step-000010 (and a single checkpoint would shrink its CSVs to one row):
/// both are refused before anything is written, naming the run the folder holds.
#[test]
fn an_analysis_of_one_run_is_not_replaced_by_another_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let analysis = run.join("analysis");
    let before = common::files(&analysis);
    let other = tmp.path().join("other");
    ok(train(&other, &["--steps", "10", "--lr", "0.05"]));
    let other_run = analyze(&other, Some("digits:50"), &["--out", path(&analysis)]);
    let err = refused(
        curvscope(&other_run),
        &["holds the analysis of", "name another folder"],
    );
    assert!(err.contains(path(&run.canonicalize().unwrap())), "{err}");
    let checkpoint = run.join("step-000010");
    let one = analyze(&checkpoint, Some("digits:50"), &["--out", path(&analysis)]);
    refused(curvscope(&one), &["holds the analysis of"]);
    assert_eq!(common::files(&analysis), before, "the analysis changed");
    // The run itself, named another way, is still its own analysis.
    let again = curvscope_in(
        &run,
        &analyze(Path::new("."), Some("digits:50"), &["--quiet"]),
    );
    ok(again);

    // Where analysis.json cannot say whose analysis the folder holds, the records do: another
    // run's checkpoints (other bytes) are refused where analysis.json is damaged. They once
    // replaced every record, with no copy kept.
    let other_bytes = ["is of other checkpoint bytes", "name another folder"];
    let manifest = analysis.join("analysis.json");
    let intact = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, "garbage").unwrap();
    let damaged = common::files(&analysis);
    refused(curvscope(&other_run), &other_bytes);
    assert_eq!(common::files(&analysis), damaged, "the analysis changed");
    // So is a folder of records alone (a run killed before its first analysis.json).
    let records = tmp.path().join("records");
    std::fs::create_dir_all(records.join("reports")).unwrap();
    for entry in std::fs::read_dir(analysis.join("reports")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            records.join("reports").join(entry.file_name()),
        )
        .unwrap();
    }
    let into_records = analyze(&other, Some("digits:50"), &["--out", path(&records)]);
    refused(curvscope(&into_records), &other_bytes);
    // The run's own records are its own, even of a checkpoint rewritten since (recomputed).
    let rewritten = run.join("step-000010").join("checkpoint.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rewritten).unwrap()).unwrap();
    meta["note"] = "rewritten".into();
    std::fs::write(&rewritten, serde_json::to_vec(&meta).unwrap()).unwrap();
    let record = analysis.join("reports").join("step-000010.json");
    let before_rewrite = std::fs::read(&record).unwrap();
    ok(curvscope(&analyze(&run, Some("digits:50"), &["--quiet"])));
    assert_ne!(
        std::fs::read(&record).unwrap(),
        before_rewrite,
        "not recomputed"
    );
    // Moved with its analysis inside, the run is found where it is now.
    std::fs::write(&manifest, intact).unwrap();
    let moved = tmp.path().join("moved");
    std::fs::rename(&run, &moved).unwrap();
    let analysis = moved.join("analysis");
    let before = common::files(&analysis);
    let other_run = analyze(&other, Some("digits:50"), &["--out", path(&analysis)]);
    let err = refused(
        curvscope(&other_run),
        &["holds the analysis of", "name another folder"],
    );
    assert!(err.contains(path(&moved.canonicalize().unwrap())), "{err}");
    assert_eq!(common::files(&analysis), before, "the analysis changed");
    // The moved run itself is no conflict: its records are of its checkpoints' bytes.
    ok(curvscope(&analyze(&moved, Some("digits:50"), &["--quiet"])));
}

/// While one curvscope writes a folder, a second one into it stops before writing: an analysis
/// (its lock exclusive) against a held lock, a --shard job beside another shard (shared locks
/// coexist) but not beside a plain analysis, and train and landscape the same way.
#[test]
fn a_folder_being_written_is_not_written_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let run = analyzed_run(tmp.path());
    let analysis = run.join("analysis");
    let before = common::files(&analysis);
    let held = std::fs::File::open(&analysis).unwrap();
    held.lock().unwrap();
    let busy = ["another curvscope is writing this folder now"];
    refused(curvscope(&analyze(&run, Some("digits:50"), &[])), &busy);
    let shard = analyze(&run, Some("digits:50"), &["--shard", "0/2"]);
    refused(curvscope(&shard), &busy);
    assert_eq!(common::files(&analysis), before, "the analysis changed");
    held.unlock().unwrap();
    held.lock_shared().unwrap();
    ok(curvscope(&shard));
    refused(curvscope(&analyze(&run, Some("digits:50"), &[])), &busy);
    held.unlock().unwrap();

    let run_lock = std::fs::File::open(&run).unwrap();
    run_lock.lock().unwrap();
    refused(train(&run, &["--steps", "10", "--resume"]), &busy);
    let slice = tmp.path().join("slice");
    std::fs::create_dir(&slice).unwrap();
    let slice_lock = std::fs::File::open(&slice).unwrap();
    slice_lock.lock().unwrap();
    let checkpoint = run.join("step-000010");
    let landscape = [
        "landscape",
        path(&checkpoint),
        "--data",
        "digits:50",
        "--points",
        "3",
        "--quiet",
        "--out",
        path(&slice),
    ];
    refused(curvscope(&landscape), &busy);
    assert_eq!(std::fs::read_dir(&slice).unwrap().count(), 0);
}

/// Far from θ a deep ReLU net's f32 logits overflow: the slice is written all the same, with a
/// warning that counts the points (it once exited 0 in silence, its figure a single point).
#[test]
fn a_slice_that_overflows_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("deep");
    let deep =
        r#"{"name":"mlp","input":64,"hidden":[8,8,8,8,8,8,8,8],"classes":10,"activation":"relu"}"#;
    let extra = ["--arch", deep, "--data", "digits:100", "--steps", "5"];
    ok(train(
        &run,
        &[&extra[..], &["--snapshot-every", "5"]].concat(),
    ));
    let slice = tmp.path().join("slice");
    let checkpoint = run.join("step-000005");
    let err = ok(curvscope(&[
        "landscape",
        path(&checkpoint),
        "--span",
        "1e6",
        "--points",
        "5",
        "--precision",
        "f32",
        "--quiet",
        "--out",
        path(&slice),
    ]));
    assert!(
        err.contains("the loss is not finite at 4 of 5 grid points"),
        "{err}"
    );
    let losses = column(&slice.join("landscape.csv"), "loss");
    assert_eq!(
        losses.iter().filter(|l| *l == "NaN").count(),
        4,
        "{losses:?}"
    );
    // No accuracy where the logits overflowed: an argmax of NaN is no prediction.
    let accuracies = column(&slice.join("landscape.csv"), "accuracy");
    for (loss, accuracy) in losses.iter().zip(&accuracies) {
        assert_eq!(
            loss == "NaN",
            accuracy == "NaN",
            "{losses:?} {accuracies:?}"
        );
    }
}
