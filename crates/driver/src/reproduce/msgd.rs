//! `curvscope reproduce msgd`: Wu et al. (ICML 2020) Fig. 1(a) — LeNet on 1,000 FashionMNIST
//! images trained by GD, SGD, the M-SGD family and GD-Rademacher from one θ₀; test accuracy
//! against iteration, final accuracies with Wilson intervals beside the paper's claim.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use curvscope_metrics::{
    msgd_options, wilson_interval, Descent, Dynamic, SuccessRate, MSGD_BATCH, MSGD_DYNAMICS,
    MSGD_EVAL_EVERY, MSGD_LR, MSGD_NOISE_SAMPLES, MSGD_STEPS, MSGD_TEST_N, MSGD_TRAIN_N,
};
use curvscope_model::{ArchSpec, Dataset, Init, Precision};

use super::{color, finish, output_folders, thousands, write, ReproduceArgs};
use crate::data::load_dataset;
use crate::network::{objective, Device};
use crate::plots::{render, Chart, Series};
use crate::progress;

/// `--quick`: 20 steps on 200 training and 200 test images, measured every 10 steps.
const QUICK_TRAIN_N: usize = 200;
const QUICK_TEST_N: usize = 200;
const QUICK_STEPS: u64 = 20;
const QUICK_EVAL_EVERY: u64 = 10;
/// f32, as the paper's PyTorch runs; every step rounds θ to it.
const PRECISION: Precision = Precision::F32;
const HEADER: &str = "step,train_loss,train_accuracy,test_accuracy";

/// The scale of a run.
struct Scale {
    train_n: usize,
    test_n: usize,
    steps: u64,
    every: u64,
}

/// One evaluation along a run.
struct Point {
    step: u64,
    train_loss: f64,
    train_accuracy: f64,
    test_accuracy: f64,
}

/// A CSV row under [`HEADER`].
impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.step, self.train_loss, self.train_accuracy, self.test_accuracy
        )
    }
}

/// Fig. 1(a): runs, CSVs, figures, table. Resumable: each dynamic's run is saved to
/// `runs/<dynamic>-….csv` (`runs/<dynamic>-B100-….csv` for Fisher-B and Cov-B) when it ends, and a
/// rerun with the same scale and seed reads it back instead of training again.
pub fn run(args: &ReproduceArgs) -> Result<ExitCode> {
    let started = Instant::now();
    if let Some(other) = args.only.iter().find(|d| !MSGD_DYNAMICS.contains(d)) {
        bail!(
            "--only {other}: msgd's dynamics are {}",
            names(&MSGD_DYNAMICS)
        );
    }
    let scale = if args.quick {
        Scale {
            train_n: QUICK_TRAIN_N,
            test_n: QUICK_TEST_N,
            steps: QUICK_STEPS,
            every: QUICK_EVAL_EVERY,
        }
    } else {
        Scale {
            train_n: MSGD_TRAIN_N,
            test_n: args.test_images.unwrap_or(MSGD_TEST_N),
            steps: args.steps.unwrap_or(MSGD_STEPS),
            every: MSGD_EVAL_EVERY,
        }
    };
    let dynamics: Vec<Dynamic> = MSGD_DYNAMICS
        .into_iter()
        .filter(|d| args.only.is_empty() || args.only.contains(d))
        .collect();
    let train = load_dataset(&format!("fashion:{}", scale.train_n), 0)?;
    let test = load_dataset(&format!("fashion-test:{}", scale.test_n), 0).with_context(|| {
        match args.test_images {
            Some(n) if !args.quick => format!("--test-images {n}"),
            _ => "the test images".into(),
        }
    })?;
    // Made once the data is known to be there: a refused --test-images leaves no folder.
    let (out, figures) = output_folders(args)?;
    let runs_dir = out.join("runs");
    crate::flags::output_dir(&runs_dir, "--out")?;
    let bar = progress::bar(args.quiet, scale.steps * dynamics.len() as u64, "steps");
    let mut runs = Vec::new();
    for dynamic in dynamics {
        bar.set_message(dynamic.name());
        let file = runs_dir.join(run_file_name(dynamic, &scale, args.seed));
        let points = match read_run(&file, scale.steps)? {
            Some(points) => points,
            None => {
                let points = train_one(dynamic, &train, &test, &scale, args.seed, &bar)?;
                write_run(&file, &points)?;
                points
            }
        };
        bar.set_position(bar.position().max(scale.steps * (runs.len() as u64 + 1)));
        runs.push((dynamic, points));
    }
    bar.finish_and_clear();
    if !args.only.is_empty() {
        println!(
            "msgd: {} trained in {}; run without --only for the table",
            names(&args.only),
            runs_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let finals: Vec<(Dynamic, SuccessRate, f64)> = runs
        .iter()
        .map(|(d, points)| {
            let last = points.last().expect("a run holds step 0");
            let correct = (last.test_accuracy * scale.test_n as f64).round() as u64;
            (
                *d,
                wilson_interval(correct, scale.test_n as u64),
                last.train_accuracy,
            )
        })
        .collect();
    write_csvs(&out, &runs, &finals)?;
    let charts = draw(&figures, &runs, &scale)?;
    finish(
        &out,
        "msgd: Wu et al. 2020, Fig. 1(a)",
        table(&finals, &scale),
        &charts,
        started,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The file in runs/ of `dynamic`'s finished run at `scale` and `seed`: B is in the name, so
/// runs of Fisher-B before it was drawn as the authors' code draws it (b samples with
/// replacement) are not read back as if they were.
fn run_file_name(dynamic: Dynamic, scale: &Scale, seed: u64) -> String {
    let subset = msgd_options(dynamic, seed)
        .noise_samples
        .map_or(String::new(), |b| format!("-B{b}"));
    format!(
        "{dynamic}{subset}-steps{}-train{}-test{}-seed{seed}.csv",
        scale.steps, scale.train_n, scale.test_n
    )
}

/// Whether `entry` of runs/ is a file named as [`run_file_name`] names them, at any scale and
/// seed, with or without `-B<B>` (the names of before B was in them): one that an msgd of
/// before the folder marker left ([`super::claim`]).
pub(super) fn is_run_file(entry: &std::fs::DirEntry) -> bool {
    let name = entry.file_name();
    let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".csv")) else {
        return false;
    };
    // What follows `key` and the number after it in `text`, if `text` starts so.
    fn past<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        let after = text.strip_prefix(key)?;
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        (digits > 0).then(|| &after[digits..])
    }
    // `-steps<n>-train<n>-test<n>-seed<n>`, the end of every name.
    let scale = |rest: &str| {
        let end = ["-steps", "-train", "-test", "-seed"]
            .iter()
            .try_fold(rest, |rest, key| past(rest, key));
        end == Some("")
    };
    let named = MSGD_DYNAMICS.iter().any(|d| {
        stem.strip_prefix(d.name())
            .is_some_and(|rest| scale(rest) || past(rest, "-B").is_some_and(scale))
    });
    named && entry.path().is_file()
}

/// The dynamics' command-line names, comma-separated.
fn names(dynamics: &[Dynamic]) -> String {
    let names: Vec<&str> = dynamics.iter().map(|d| d.name()).collect();
    names.join(",")
}

/// One run of `dynamic` from the seed's PyTorch-default θ₀ (the same for every dynamic),
/// evaluated every `scale.every` steps.
fn train_one(
    dynamic: Dynamic,
    train: &Dataset,
    test: &Dataset,
    scale: &Scale,
    seed: u64,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<Point>> {
    let arch = ArchSpec::Lenet;
    let train_net = objective(&arch, train, PRECISION, Device::Cpu)?;
    let test_net = objective(&arch, test, PRECISION, Device::Cpu)?;
    let mut theta = arch.init(Init::PyTorch, seed);
    PRECISION.round(&mut theta);
    // SGD evaluates its b samples alone: a model on the subset instead of N weights.
    let minibatch = |t: &[f64], indices: &[usize]| {
        objective(&arch, &train.subset(indices), PRECISION, Device::Cpu)
            .expect("a subset fits the model the whole set fits")
            .grad(t)
    };
    let evaluate = |theta: &[f64], step: u64| {
        let (train_loss, train_accuracy) = train_net.loss_and_accuracy(theta);
        Point {
            step,
            train_loss,
            train_accuracy: train_accuracy.expect("LeNet classifies"),
            test_accuracy: test_net.accuracy(theta).expect("LeNet classifies"),
        }
    };
    let mut descent = Descent::new(msgd_options(dynamic, seed));
    let mut points = vec![evaluate(&theta, 0)];
    for step in 0..scale.steps {
        if !descent.step(
            train_net.as_ref(),
            &mut theta,
            MSGD_LR,
            PRECISION,
            step,
            &minibatch,
        ) {
            bail!("{dynamic}: θ diverged at step {}", step + 1);
        }
        if (step + 1).is_multiple_of(scale.every) || step + 1 == scale.steps {
            points.push(evaluate(&theta, step + 1));
        }
        bar.inc(1);
    }
    Ok(points)
}

/// A finished run saved by [`write_run`], or `None` when there is none of `steps` steps yet.
fn read_run(file: &PathBuf, steps: u64) -> Result<Option<Vec<Point>>> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Ok(None);
    };
    let parse = || -> Result<Vec<Point>> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            bail!("the header is not '{HEADER}'");
        }
        lines
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                if f.len() != 4 {
                    bail!("'{line}' has {} fields, not 4", f.len());
                }
                Ok(Point {
                    step: f[0].parse()?,
                    train_loss: f[1].parse()?,
                    train_accuracy: f[2].parse()?,
                    test_accuracy: f[3].parse()?,
                })
            })
            .collect()
    };
    let points = parse().with_context(|| format!("{}: a saved run", file.display()))?;
    Ok((points.last().map(|p| p.step) == Some(steps)).then_some(points))
}

/// The evaluations of one run as CSV (atomically: an interrupted run leaves no partial file).
fn write_run(file: &Path, points: &[Point]) -> Result<()> {
    let mut text = format!("{HEADER}\n");
    for p in points {
        writeln!(text, "{p}")?;
    }
    Ok(curvscope_model::files::write_atomic(file, text.as_bytes())?)
}

/// accuracy.csv (every evaluation of every dynamic) and final_accuracy.csv (Wilson intervals).
fn write_csvs(
    out: &Path,
    runs: &[(Dynamic, Vec<Point>)],
    finals: &[(Dynamic, SuccessRate, f64)],
) -> Result<()> {
    let mut text = format!("dynamic,{HEADER}\n");
    for (d, points) in runs {
        for p in points {
            writeln!(text, "{d},{p}")?;
        }
    }
    write(out, "accuracy.csv", &text)?;
    let mut text = String::from(
        "dynamic,test_correct,test_images,test_accuracy,wilson95_low,wilson95_high,train_accuracy\n",
    );
    for (d, r, train) in finals {
        writeln!(
            text,
            "{d},{},{},{},{},{},{train}",
            r.successes, r.trials, r.rate, r.low, r.high
        )?;
    }
    write(out, "final_accuracy.csv", &text)
}

/// Test accuracy and training loss against iteration, one colour per dynamic.
fn draw(dir: &Path, runs: &[(Dynamic, Vec<Point>)], scale: &Scale) -> Result<Vec<Chart>> {
    let series = |pick: fn(&Point) -> f64| -> Vec<Series> {
        runs.iter()
            .enumerate()
            .map(|(i, (d, points))| {
                Series::exact(
                    Some(d.to_string()),
                    points.iter().map(|p| (p.step as f64, pick(p))).collect(),
                    color(i),
                )
            })
            .collect()
    };
    let charts = [
        Chart {
            name: "test_accuracy".into(),
            title: test_accuracy_title(scale),
            x_label: "iteration".into(),
            y_label: "test accuracy".into(),
            log_y: false,
            integer_x: true,
            series: series(|p| p.test_accuracy),
        },
        Chart {
            name: "train_loss".into(),
            title: format!("Training loss ({} images)", thousands(scale.train_n)),
            x_label: "iteration".into(),
            y_label: "train loss".into(),
            log_y: true,
            integer_x: true,
            series: series(|p| p.train_loss),
        },
    ];
    for chart in &charts {
        render(chart, dir)?;
    }
    Ok(charts.into())
}

/// The title of the test-accuracy figure: the run's own training and test images.
fn test_accuracy_title(scale: &Scale) -> String {
    format!(
        "Test accuracy (LeNet on {} FashionMNIST images, tested on {})",
        thousands(scale.train_n),
        thousands(scale.test_n)
    )
}

/// What Wu et al. report in Fig. 1(a) (a description: the paper shows curves); GD-Rademacher
/// is new here (the authors' code has no such dynamic), so it has no claim.
fn paper_claim(dynamic: Dynamic) -> &'static str {
    match dynamic {
        Dynamic::Gd => "generalizes worst",
        Dynamic::GdRademacher => "- (not in the authors' code; the issue's claim: like SGD)",
        _ => "generalizes like SGD, better than GD",
    }
}

/// The closing table (printed and put in report.html): final test accuracy [Wilson 95%] and train accuracy beside the claim.
fn table(finals: &[(Dynamic, SuccessRate, f64)], scale: &Scale) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "msgd (Wu et al. 2020 Fig. 1(a)): LeNet, {} FashionMNIST training images, lr {MSGD_LR}, \
         b = {MSGD_BATCH}, Fisher-B and Cov-B on B = {MSGD_NOISE_SAMPLES} samples, {} steps \
         from one PyTorch-default θ₀; test accuracy on the first {} test images",
        scale.train_n, scale.steps, scale.test_n
    );
    let _ = writeln!(
        text,
        "{:<15} {:>9} {:>17} {:>9}   paper (Fig. 1(a))",
        "dynamic", "test acc", "Wilson 95%", "train acc"
    );
    for (d, r, train) in finals {
        let _ = writeln!(
            text,
            "{:<15} {:>9.4} {:>17} {:>9.4}   {}",
            d.name(),
            r.rate,
            format!("[{:.4}, {:.4}]", r.low, r.high),
            train,
            paper_claim(*d)
        );
    }
    text
}
