//! `curvscope demo`: the paper's experiment (Zhu et al. 2019, Sec. 5.2) in miniature.
//!
//! LeNet on the 1,200 FashionMNIST samples with 200 random labels: full-batch GD towards a sharp
//! region, then SGD from GD's last point; analyze both runs, export plots and a notebook, and
//! write one HTML report of both.
//! It is nothing but the CLI commands it prints, so every step can be rerun by hand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{ensure, Result};

use crate::frame::Frame;
use crate::record::METRICS_CSV;
use crate::run_folder::RUN_JSON;
use crate::summary::{table, Row};

/// Arguments of `curvscope demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the two runs and their analyses (reused and resumed if it exists).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Folder for the exported CSVs, plots and notebook, and report.html.
    #[arg(long, default_value = "notebooks-export/demo")]
    export_to: PathBuf,
    /// The paper's schedule (GD 3,000 steps, SGD 3,000 steps, top-20 spectrum, exact Tr(HΣ),
    /// M = 1,000): hours on 2 cores. Without it, a schedule of a few minutes.
    #[arg(long)]
    full: bool,
    /// Seed of the training runs and of every estimator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Step counts and estimator sizes of one schedule.
struct Schedule {
    gd_lr: &'static str,
    gd_steps: u64,
    sgd_steps: u64,
    snapshot_every: u64,
    analyze: &'static [&'static str],
}

/// A few minutes on 2 cores: GD with a larger step to move in 60 steps; each analysis is ~35
/// Hessian-vector products in f32 (LeNet's Tr(H) is exact: 10 per-sample-gradient passes).
const QUICK: Schedule = Schedule {
    gd_lr: "0.3",
    gd_steps: 60,
    sgd_steps: 60,
    snapshot_every: 60,
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

const FULL: Schedule = Schedule {
    gd_lr: "0.1",
    gd_steps: 3000,
    sgd_steps: 3000,
    snapshot_every: 500,
    analyze: &["-k", "20", "--density"],
};

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let schedule = if args.full { FULL } else { QUICK };
    let seed = args.seed.to_string();
    let (gd, sgd) = (args.out.join("gd"), args.out.join("sgd"));
    let resume = |run: &Path| {
        if run.join(RUN_JSON).exists() {
            vec!["--resume"]
        } else {
            vec![]
        }
    };
    let common = [
        "--data",
        "fashion-corrupted",
        "--eval-data",
        "fashion-test:1000",
        "--seed",
        &seed,
    ];
    let gd_steps = schedule.gd_steps.to_string();
    let every = schedule.snapshot_every.to_string();
    let mut train_gd = vec![
        "train",
        "--arch",
        "lenet",
        "--dynamic",
        "gd",
        "--lr",
        schedule.gd_lr,
        "--steps",
        &gd_steps,
    ];
    train_gd.extend(["--snapshot-every", &every, "--out", path(&gd)]);
    train_gd.extend(common);
    train_gd.extend(resume(&gd));
    step(&train_gd)?;

    let gd_end = gd.join(format!("step-{:06}", schedule.gd_steps));
    let sgd_steps = schedule.sgd_steps.to_string();
    let mut train_sgd = vec![
        "train",
        "--init-from",
        path(&gd_end),
        "--dynamic",
        "sgd",
        "--lr",
        "0.07",
        "--batch",
        "20",
    ];
    train_sgd.extend([
        "--steps",
        &sgd_steps,
        "--snapshot-every",
        &every,
        "--out",
        path(&sgd),
    ]);
    train_sgd.extend(common);
    train_sgd.extend(resume(&sgd));
    step(&train_sgd)?;

    let mut analyses = Vec::new();
    for (name, run) in [("gd", &gd), ("sgd", &sgd)] {
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
        analyses.push((name, analysis, export_to));
    }

    let report = args.export_to.join("report.html");
    let mut report_step = vec!["report"];
    report_step.extend(analyses.iter().map(|(_, analysis, _)| path(analysis)));
    report_step.extend(["--to", path(&report)]);
    step(&report_step)?;

    println!(
        "\nSummary (Tr(HΣ̄) = Tr(H)·Tr(Σ)/D; ratio = Tr(HΣ)/Tr(HΣ̄); â = projection coefficient):"
    );
    let mut rows = Vec::new();
    for (name, analysis, _) in &analyses {
        rows.extend(Row::from_metrics(
            name,
            &Frame::read(&analysis.join(METRICS_CSV))?,
        )?);
    }
    print!("{}", table("run", &rows));
    println!("\nFiles:");
    println!(
        "  runs (checkpoints, run.csv, run.json): {}, {}",
        gd.display(),
        sgd.display()
    );
    for (_, analysis, export_to) in &analyses {
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

fn path(p: &Path) -> &str {
    p.to_str().expect("demo paths are UTF-8")
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

/// Prints and runs one CLI command; a failure stops the demo.
fn step(args: &[&str]) -> Result<()> {
    println!("\n$ curvscope {}", args.join(" "));
    let argv = std::iter::once("curvscope").chain(args.iter().copied());
    let code = match <Step as clap::Parser>::try_parse_from(argv)? {
        Step::Train(args) => crate::train::run(*args),
        Step::Analyze(args) => crate::analyze::run(*args),
        Step::Export(args) => crate::export::run(args),
        Step::Report(args) => crate::report::run(args),
    }?;
    ensure!(
        code == ExitCode::SUCCESS,
        "`curvscope {}` failed",
        args.join(" ")
    );
    Ok(())
}
