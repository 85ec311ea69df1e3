//! `curvscope demo`: the paper's experiment (Zhu et al. 2019, Sec. 5.2) in miniature.
//!
//! LeNet on the 1,200 FashionMNIST samples with 200 random labels: full-batch GD towards a sharp
//! region, then SGD (b = 20) from GD's last point; analyze both runs and export plots and a
//! notebook, and write one HTML report of both. A miniature of `reproduce fashion`'s first two
//! arms.
//!
//! Its printed digits are meant to be the same on every machine, which the paper's step sizes
//! (GD 0.1 as in the authors' code, then 0.07) do not allow: GD sharpens until λ₁ passes 2/lr
//! (the edge of stability; 63 > 2/0.1 by step 50 here, 48 > 2/0.05 by step 100, 114 > 2/0.02
//! by step 300), and past it rounding differences grow into different trajectories. So the
//! default schedule trains at lr 0.02, stops GD at step 250 where λ₁ = 50 < 2/0.02, and trains
//! in f64: even below the edge, f32 and f64 runs differ by 1·10⁻⁴ in the loss by then (the
//! escape from the initial plateau amplifies rounding ~10³-fold), harmless at f64's 10⁻¹⁶. The
//! summary checks lr·λ₁ < 2 at every snapshot. `--full` keeps the paper's settings. The demo is
//! nothing but the CLI commands it prints, so every step can be rerun by hand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{ensure, Result};

use crate::flags;
use crate::frame::Frame;
use crate::record::METRICS_CSV;
use crate::run_folder::RUN_JSON;
use crate::summary::{table, Row};

/// Arguments of `curvscope demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the two runs and their analyses (reused and resumed if it exists).
    #[arg(long, default_value = "runs/demo", value_parser = flags::utf8_path())]
    out: PathBuf,
    /// Folder for the exported CSVs, plots and notebook, and report.html.
    #[arg(long, default_value = "notebooks-export/demo", value_parser = flags::utf8_path())]
    export_to: PathBuf,
    /// The paper's schedule (GD at lr 0.1 and SGD at lr 0.07, 3,000 steps each, f32, top-20
    /// spectrum, exact Tr(HΣ), M = 1,000): hours on 2 cores. Without it, a few minutes.
    #[arg(long)]
    full: bool,
    /// Seed of the training runs and of every estimator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Step counts and estimator sizes of one schedule.
struct Schedule {
    /// Step sizes of GD, then of SGD from GD's end.
    lr: [f64; 2],
    /// Precision of training.
    precision: &'static str,
    gd_steps: u64,
    sgd_steps: u64,
    snapshot_every: u64,
    analyze: &'static [&'static str],
}

/// A few minutes on 2 cores; each analysis is ~35 Hessian-vector products in f32 (LeNet's Tr(H)
/// is exact: 10 per-sample-gradient passes). GD stops just before its λ₁ reaches 2/lr.
const QUICK: Schedule = Schedule {
    lr: [0.02, 0.02],
    precision: "f64",
    gd_steps: 250,
    sgd_steps: 50,
    snapshot_every: 125,
    analyze: &[
        "--precision",
        "f32",
        "-k",
        "3",
        "--tol",
        "1e-3",
        "--no-lambda-min",
        "--trace-h-sigma-probes",
        "10",
        "--samples",
        "50",
    ],
};

/// The paper's Sec. 5.2 (GD's lr from the authors' code).
const FULL: Schedule = Schedule {
    lr: [0.1, 0.07],
    precision: "f32",
    gd_steps: 3000,
    sgd_steps: 3000,
    snapshot_every: 500,
    analyze: &["-k", "20", "--density"],
};

/// GD on a quadratic diverges along u₁ once lr·λ₁ > 2; past this edge of stability rounding
/// differences grow until trajectories part.
const EDGE_OF_STABILITY: f64 = 2.0;

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let schedule = if args.full { FULL } else { QUICK };
    // The report is written last: a page there that curvscope did not write is refused
    // before any work, not after it.
    let report = args.export_to.join("report.html");
    if let Ok(page) = std::fs::read(&report) {
        ensure!(
            crate::report::written_by_curvscope(&String::from_utf8_lossy(&page)),
            "--export-to {}: holds report.html, which curvscope did not write and the demo \
             would replace; name another folder",
            args.export_to.display()
        );
    }
    let seed = args.seed.to_string();
    let common = [
        "--data",
        "fashion-corrupted",
        "--eval-data",
        "fashion-test:1000",
        "--seed",
        &seed,
        "--precision",
        schedule.precision,
    ];
    let every = schedule.snapshot_every.to_string();
    let train = |run: &Path, start: [&str; 2], dynamic: &str, lr: f64, steps: u64| {
        let (lr, steps) = (lr.to_string(), steps.to_string());
        let mut command = vec!["train", start[0], start[1], "--dynamic", dynamic];
        command.extend(["--lr", &lr, "--steps", &steps, "--out", path(run)]);
        command.extend(["--snapshot-every", &every]);
        command.extend(common);
        if run.join(RUN_JSON).exists() {
            command.push("--resume");
        }
        step(&command)
    };
    let (gd, sgd) = (args.out.join("gd"), args.out.join("sgd"));
    train(
        &gd,
        ["--arch", "lenet"],
        "gd",
        schedule.lr[0],
        schedule.gd_steps,
    )?;
    let gd_end = gd.join(format!("step-{:06}", schedule.gd_steps));
    let from_gd = ["--init-from", path(&gd_end)];
    train(&sgd, from_gd, "sgd", schedule.lr[1], schedule.sgd_steps)?;

    let mut analyses = Vec::new();
    for (name, run, lr) in [("gd", &gd, schedule.lr[0]), ("sgd", &sgd, schedule.lr[1])] {
        let analysis = run.join("analysis");
        let mut analyze = vec![
            "analyze",
            path(run),
            "--out",
            path(&analysis),
            "--seed",
            &seed,
        ];
        analyze.extend(schedule.analyze);
        step(&analyze)?;
        let export_to = args.export_to.join(name);
        step(&["export", path(&analysis), "--to", path(&export_to)])?;
        analyses.push((name, run, lr, analysis, export_to));
    }

    crate::report::keep_edited_page(&report)?;
    let mut report_step = vec!["report"];
    report_step.extend(analyses.iter().map(|(_, _, _, analysis, _)| path(analysis)));
    report_step.extend(["--to", path(&report)]);
    step(&report_step)?;

    println!(
        "\nSummary (Tr(HΣ̄) = Tr(H)·Tr(Σ)/D; ratio = Tr(HΣ)/Tr(HΣ̄); â = projection coefficient):"
    );
    let mut rows = Vec::new();
    let mut sharpest: f64 = 0.0;
    for (name, _, lr, analysis, _) in &analyses {
        let run_rows = Row::from_metrics(name, &Frame::read(&analysis.join(METRICS_CSV))?)?;
        let lambda_1 = run_rows.iter().filter_map(|row| row.lambda_1);
        sharpest = lambda_1.fold(sharpest, |max, l| max.max(lr * l));
        rows.extend(run_rows);
    }
    print!("{}", table("run", &rows));
    if sharpest < EDGE_OF_STABILITY {
        println!(
            "lr·λ₁ ≤ {sharpest:.2} < 2 at every snapshot: below the edge of stability, so these \
             digits do not depend on the machine's rounding."
        );
    } else {
        println!(
            "lr·λ₁ reaches {sharpest:.2} > 2: past the edge of stability the later digits \
             depend on the machine's rounding."
        );
    }
    println!("\nFiles:");
    for (_, run, _, analysis, export_to) in &analyses {
        println!("  run (checkpoints, run.csv, run.json): {}", run.display());
        println!(
            "  analysis (metrics.csv, eigenvalues.csv, prop1.csv, reports/): {}",
            analysis.display()
        );
        println!(
            "  plots (figures/*.svg, *.png) and notebook (analysis.ipynb): {}",
            export_to.display()
        );
    }
    println!(
        "  report (metrics, Proposition 1 in words, figures; one HTML file): {}",
        report.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `p`, a path below a folder given through [`flags::utf8_path`], as a command-line argument.
pub(crate) fn path(p: &Path) -> &str {
    p.to_str()
        .expect("demo and reproduce folders are UTF-8 (flags::utf8_path), and so is all below")
}

/// The commands the demo chains, parsed from the very command lines it prints, exactly as
/// `curvscope` parses them (so each step can be rerun by hand), without reaching back up into
/// the binary's root.
#[derive(clap::Parser)]
#[command(name = "curvscope")]
enum Step {
    #[command(allow_negative_numbers = true)]
    Train(Box<crate::train::TrainArgs>),
    #[command(allow_negative_numbers = true)]
    Analyze(Box<crate::analyze::AnalyzeArgs>),
    #[command(allow_negative_numbers = true)]
    Export(crate::export::ExportArgs),
    #[command(allow_negative_numbers = true)]
    Report(crate::report::ReportArgs),
}

/// `arg` as one word of a POSIX shell command line: as it is when no shell treats any of its
/// characters specially, else in single quotes (a `'` inside as `'\''`), so that a printed
/// command with a folder such as `my runs` reruns as printed. Not the `shlex` crate (in the
/// lock file through other crates): its `try_quote` also quotes `,`, `=` and `%`, which a
/// shell leaves literal in an argument, so `--data a,b` would print with needless quotes.
fn shell_word(arg: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_./:,=+@%".contains(&b);
    if !arg.is_empty() && arg.bytes().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `curvscope` and `args` as a command line a POSIX shell splits back into `args`.
fn command_line(args: &[&str]) -> String {
    let words: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
    format!("curvscope {}", words.join(" "))
}

/// Prints and runs one CLI command; a failure stops the demo.
pub(crate) fn step(args: &[&str]) -> Result<()> {
    println!("\n$ {}", command_line(args));
    let argv = std::iter::once("curvscope").chain(args.iter().copied());
    let code = match <Step as clap::Parser>::try_parse_from(argv)? {
        Step::Train(args) => crate::train::run(*args),
        Step::Analyze(args) => crate::analyze::run(*args),
        Step::Export(args) => crate::export::run(args),
        Step::Report(args) => crate::report::run(args),
    }?;
    ensure!(code == ExitCode::SUCCESS, "`{}` failed", command_line(args));
    Ok(())
}
