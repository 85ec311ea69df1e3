//! `curvscope reproduce fashion`: Zhu et al. (ICML 2019) Fig. 3 and Fig. 5 — LeNet on
//! fashion-corrupted (1,000 clean + 200 random labels): GD at lr 0.1 (the authors' code) to
//! θ*_GD, then SGD and the six GLD dynamics from θ*_GD at lr 0.07 with noise matched to SGD's
//! (Eq. 14; the authors' code leaves GLD const and GLD leading unmatched: docs/REPRODUCTION.md,
//! "Against the authors' code"). Nothing but `train`, `analyze` and `report` chained as `demo`
//! chains them (each printed command can be rerun by hand, and each resumes), then the figures
//! and tables read back from the CSVs those commands wrote.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{color, finish, output_folders, thousands, write, ReproduceArgs};
use crate::demo::{path, step};
use crate::frame::Frame;
use crate::plots::{render, Chart, Series};
use crate::record::METRICS_CSV;
use crate::run_folder::RUN_JSON;
use crate::train::OtherRun;

/// GD's step size to θ*_GD: the authors' code (the paper's text does not give it).
const GD_LR: &str = "0.1";
/// The step size of every dynamic from θ*_GD (Sec. 5.2).
const ESCAPE_LR: &str = "0.07";
/// Fig. 3's dynamics and the paper's verdict on each: escapes θ*_GD or stays trapped.
const DYNAMICS: [(&str, bool); 7] = [
    ("sgd", true),
    ("gld-const", false),
    ("gld-dynamic", false),
    ("gld-diag", false),
    ("gld-leading", true),
    ("gld-hessian", true),
    ("gld-eigvec1", true),
];

/// Step counts and estimator sizes of one scale.
struct Scale {
    /// `--data` of every run.
    data: &'static str,
    /// Its clean and random-label images, for the titles.
    clean: usize,
    random: usize,
    gd_steps: u64,
    steps: u64,
    /// A multiple of train's --refresh-every 10, as the GLD dynamics require.
    snapshot_every: u64,
    test_images: usize,
    /// `analyze` flags for every analysis: tolerances and probes.
    analyze: &'static [&'static str],
    /// Expected sharpness's σ and M, for every snapshot of every run (not the spectrum at
    /// θ*_GD, which is analyzed without it).
    sharpness: &'static [&'static str],
    /// Top eigenvalues (`-k`) at every snapshot.
    top_k: &'static str,
    /// Top eigenvalues computed at θ*_GD for Fig. 5.
    spectrum_k: &'static str,
}

/// The paper's Sec. 5.2: many hours on 2 cores.
const FULL: Scale = Scale {
    data: "fashion-corrupted",
    clean: 1000,
    random: 200,
    gd_steps: 3000,
    steps: 3000,
    snapshot_every: 250,
    test_images: 10_000,
    analyze: &[],
    sharpness: &["--sigma", "0.01", "--samples", "1000"],
    top_k: "20",
    spectrum_k: "400",
};

/// `--reduced`: the paper's θ*_GD (GD is cheap: minutes), then 30× fewer steps per dynamic
/// (GLD Hessian's Lanczos refreshes are the cost), 10× fewer sharpness samples and test images.
/// GD stopped at 300 steps was no minimum (train accuracy 0.66), so it must run in full.
const REDUCED: Scale = Scale {
    data: "fashion-corrupted",
    clean: 1000,
    random: 200,
    gd_steps: 3000,
    steps: 100,
    snapshot_every: 20,
    test_images: 1000,
    analyze: &[
        "--tol",
        "1e-3",
        "--no-lambda-min",
        "--trace-h-sigma-probes",
        "20",
    ],
    sharpness: &["--sigma", "0.01", "--samples", "100"],
    top_k: "10",
    spectrum_k: "40",
};

/// `--quick`: 60 images, a few steps, tiny estimators; seconds.
const QUICK: Scale = Scale {
    data: "fashion-corrupted:50:10",
    clean: 50,
    random: 10,
    gd_steps: 10,
    steps: 10,
    snapshot_every: 10,
    test_images: 50,
    analyze: &[
        "--tol",
        "1e-3",
        "--no-lambda-min",
        "--trace-h-sigma-probes",
        "5",
    ],
    sharpness: &["--sigma", "0.01", "--samples", "10"],
    top_k: "3",
    spectrum_k: "5",
};

/// `curvscope report` of the seven runs' analyses (Proposition 1 per snapshot, every metric);
/// report.html is the reproduction's own page, as for the other targets.
const ANALYSES_HTML: &str = "analyses.html";

/// Fig. 3 and 5: runs, analyses, analyses.html, CSVs, figures, table, report.html.
pub fn run(args: &ReproduceArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (out, figures) = output_folders(args)?;
    let scale = match (args.quick, args.reduced) {
        (true, _) => QUICK,
        (false, true) => REDUCED,
        (false, false) => FULL,
    };
    let runs = out.join("runs");
    let seed = args.seed.to_string();
    let eval = format!("fashion-test:{}", scale.test_images);
    let (gd_steps, steps, every) = (
        scale.gd_steps.to_string(),
        scale.steps.to_string(),
        scale.snapshot_every.to_string(),
    );
    let train = |dynamic: &str, start: [&str; 2], lr: &str, steps: &str| -> Result<PathBuf> {
        let run = runs.join(dynamic);
        let mut command = vec!["train", start[0], start[1], "--dynamic", dynamic];
        command.extend(["--lr", lr, "--steps", steps, "--out", path(&run)]);
        command.extend(["--snapshot-every", &every, "--data", scale.data]);
        command.extend(["--eval-data", &eval, "--seed", &seed]);
        if args.quiet {
            command.push("--quiet");
        }
        let resumed = run.join(RUN_JSON).exists();
        if resumed {
            command.push("--resume");
        }
        match step(&command) {
            Err(e) if resumed => match another_configuration(&e) {
                Some(why) => Err(anyhow::anyhow!(
                    "--out {}: {} holds a run of another configuration (another --seed, or \
                     another of --quick, --reduced and the paper's scale), which this one \
                     cannot continue ({why}); choose another --out",
                    out.display(),
                    run.display(),
                )),
                None => Err(e),
            },
            result => result.map(|()| run),
        }
    };
    let analyze = |target: &Path, analysis: &Path, k: &str, extra: &[&str]| -> Result<()> {
        let mut command = vec!["analyze", path(target), "--out", path(analysis)];
        command.extend(["--seed", &seed, "-k", k]);
        command.extend(scale.analyze);
        command.extend(extra);
        if args.quiet {
            command.push("--quiet");
        }
        step(&command)
    };

    let gd = train("gd", ["--arch", "lenet"], GD_LR, &gd_steps)?;
    let theta_gd = gd.join(format!("step-{:06}", scale.gd_steps));
    let mut trained = Vec::new();
    for (dynamic, _) in DYNAMICS {
        trained.push(train(
            dynamic,
            ["--init-from", path(&theta_gd)],
            ESCAPE_LR,
            &steps,
        )?);
    }
    let spectrum = out.join("spectrum-at-theta-gd");
    analyze(&theta_gd, &spectrum, scale.spectrum_k, &["--no-sharpness"])?;
    let mut analyses = Vec::new();
    for run in &trained {
        let analysis = run.join("analysis");
        analyze(run, &analysis, scale.top_k, scale.sharpness)?;
        analyses.push(analysis);
    }
    let report = out.join(ANALYSES_HTML);
    let mut command = vec!["report"];
    command.extend(analyses.iter().map(|a| path(a)));
    command.extend(["--to", path(&report), "--quiet"]);
    step(&command)?;

    let curves = DYNAMICS
        .iter()
        .zip(&trained)
        .map(|((dynamic, _), run)| Curve::read(dynamic, run))
        .collect::<Result<Vec<_>>>()?;
    let eigenvalues = Frame::read(&spectrum.join("eigenvalues.csv"))?
        .numbers("eigenvalue")?
        .into_iter()
        .map(|v| v.context("eigenvalues.csv: an empty eigenvalue"))
        .collect::<Result<Vec<f64>>>()?;
    let sgd = Frame::read(&trained[0].join("analysis").join(METRICS_CSV))?;
    write_csvs(&out, &curves, &eigenvalues)?;
    let charts = draw(&figures, &curves, &eigenvalues, &sgd, &scale)?;
    let title = "fashion: Zhu et al. 2019, Fig. 3 and 5";
    finish(
        &out,
        title,
        table(&curves, &eigenvalues, &scale),
        &charts,
        started,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `entry` of runs/ is one of fashion's run folders (GD's or a dynamic's, holding
/// train's run.json): one that a fashion of before the folder marker left ([`super::claim`]),
/// which train resumes only if it is a run of the same settings.
pub(super) fn is_run_folder(entry: &std::fs::DirEntry) -> bool {
    let name = entry.file_name();
    let ours = name == "gd" || DYNAMICS.iter().any(|(dynamic, _)| name == *dynamic);
    ours && entry.path().join(RUN_JSON).is_file()
}

/// Train's refusal of a run of other settings, if `error` (of a `train --resume` that
/// reproduce added to continue its own run) is one, without the `--resume` the user never
/// typed: the folder holds a run of another --seed or scale, to be said in reproduce's words.
fn another_configuration(error: &anyhow::Error) -> Option<String> {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<OtherRun>())
        .map(|other| other.0.clone())
}

/// Fig. 3's curves of one dynamic: accuracies from run.csv, expected sharpness from the
/// analysis (both at the snapshots).
struct Curve {
    dynamic: &'static str,
    steps: Vec<f64>,
    train_accuracy: Vec<f64>,
    test_accuracy: Vec<f64>,
    sharpness: Vec<f64>,
    sharpness_stderr: Vec<f64>,
    /// The authors' measure, E|L(θ+ν) − L(θ)| (uuujf/SGDNoise `flatness.py`).
    sharpness_abs: Vec<f64>,
    sharpness_abs_stderr: Vec<f64>,
}

impl Curve {
    fn read(dynamic: &'static str, run: &Path) -> Result<Self> {
        let numbers = |frame: &Frame, name: &str, file: &Path| -> Result<Vec<f64>> {
            frame
                .numbers(name)?
                .into_iter()
                .map(|v| v.with_context(|| format!("{}: an empty {name}", file.display())))
                .collect()
        };
        let run_csv = run.join("run.csv");
        let metrics_csv = run.join("analysis").join(METRICS_CSV);
        let (trained, analysed) = (Frame::read(&run_csv)?, Frame::read(&metrics_csv)?);
        let curve = Self {
            dynamic,
            steps: numbers(&trained, "step", &run_csv)?,
            train_accuracy: numbers(&trained, "train_accuracy", &run_csv)?,
            test_accuracy: numbers(&trained, "test_accuracy", &run_csv)?,
            sharpness: numbers(&analysed, "expected_sharpness", &metrics_csv)?,
            sharpness_stderr: numbers(&analysed, "expected_sharpness_stderr", &metrics_csv)?,
            sharpness_abs: numbers(&analysed, "expected_sharpness_abs", &metrics_csv)?,
            sharpness_abs_stderr: numbers(
                &analysed,
                "expected_sharpness_abs_stderr",
                &metrics_csv,
            )?,
        };
        anyhow::ensure!(
            curve.steps == numbers(&analysed, "step", &metrics_csv)?,
            "{} and {} list different snapshots",
            run_csv.display(),
            metrics_csv.display()
        );
        Ok(curve)
    }

    fn last(values: &[f64]) -> f64 {
        *values.last().expect("a run holds step 0")
    }
}

/// fig3.csv (every snapshot of every dynamic; the signed expected sharpness of Zhu et al.'s
/// text, then the authors' code's E|ΔL|) and fig5_spectrum.csv (eigenvalues at θ*_GD).
fn write_csvs(out: &Path, curves: &[Curve], eigenvalues: &[f64]) -> Result<()> {
    let mut text = String::from(
        "dynamic,step,train_accuracy,test_accuracy,expected_sharpness,expected_sharpness_stderr,\
         expected_sharpness_abs,expected_sharpness_abs_stderr\n",
    );
    for c in curves {
        for i in 0..c.steps.len() {
            writeln!(
                text,
                "{},{},{},{},{},{},{},{}",
                c.dynamic,
                c.steps[i],
                c.train_accuracy[i],
                c.test_accuracy[i],
                c.sharpness[i],
                c.sharpness_stderr[i],
                c.sharpness_abs[i],
                c.sharpness_abs_stderr[i]
            )?;
        }
    }
    write(out, "fig3.csv", &text)?;
    let mut text = String::from("rank,eigenvalue,fraction_of_lambda1\n");
    for (i, l) in eigenvalues.iter().enumerate() {
        writeln!(text, "{},{l},{}", i + 1, l / eigenvalues[0])?;
    }
    write(out, "fig5_spectrum.csv", &text)
}

/// Fig. 3 (accuracies and sharpness per dynamic) and Fig. 5 (spectrum at θ*_GD; â and
/// Tr(HΣ) against Tr(HΣ̄) along SGD).
fn draw(
    dir: &Path,
    curves: &[Curve],
    eigenvalues: &[f64],
    sgd: &Frame,
    scale: &Scale,
) -> Result<Vec<Chart>> {
    let per_dynamic = |pick: fn(&Curve) -> &[f64], stderr: bool| -> Vec<Series> {
        curves
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut s = Series::exact(
                    Some(c.dynamic.to_string()),
                    c.steps
                        .iter()
                        .copied()
                        .zip(pick(c).iter().copied())
                        .collect(),
                    color(i),
                );
                if stderr {
                    s.intervals = c
                        .sharpness
                        .iter()
                        .zip(&c.sharpness_stderr)
                        .map(|(v, e)| (v - e, v + e))
                        .collect();
                }
                s
            })
            .collect()
    };
    let along_sgd = |name: &str| -> Result<Vec<(f64, f64)>> {
        let steps = sgd.numbers("step")?;
        Ok(steps
            .into_iter()
            .zip(sgd.numbers(name)?)
            .filter_map(|(s, v)| Some((s?, v?)))
            .collect())
    };
    let chart = |name: &str, title: &str, y: &str, log_y, series| Chart {
        name: name.into(),
        title: title.into(),
        x_label: "iteration from θ*_GD".into(),
        y_label: y.into(),
        log_y,
        integer_x: true,
        series,
    };
    let charts = [
        chart(
            "train_accuracy",
            &train_accuracy_title(scale),
            "train accuracy",
            false,
            per_dynamic(|c| &c.train_accuracy, false),
        ),
        chart(
            "test_accuracy",
            &format!(
                "Test accuracy ({} FashionMNIST test images)",
                thousands(scale.test_images)
            ),
            "test accuracy",
            false,
            per_dynamic(|c| &c.test_accuracy, false),
        ),
        chart(
            "expected_sharpness",
            "Expected sharpness E[L(θ+ν)] − L(θ), ν ~ N(0, σ²I) (± 1 s.e.)",
            "expected sharpness",
            false,
            per_dynamic(|c| &c.sharpness, true),
        ),
        Chart {
            x_label: "rank".into(),
            ..chart(
                "spectrum_at_theta_gd",
                "Top Hessian eigenvalues at θ*_GD",
                "eigenvalue",
                true,
                vec![Series::exact(
                    None,
                    (1..)
                        .map(f64::from)
                        .zip(eigenvalues.iter().copied())
                        .collect(),
                    color(0),
                )],
            )
        },
        chart(
            "a_hat_along_sgd",
            "â (projection coefficient) along SGD",
            "â",
            false,
            vec![Series::exact(None, along_sgd("a_hat")?, color(0))],
        ),
        chart(
            "trace_h_sigma_along_sgd",
            "Tr(HΣ) against Tr(HΣ̄) along SGD",
            "trace",
            true,
            vec![
                Series::exact(Some("Tr(HΣ)".into()), along_sgd("trace_h_sigma")?, color(0)),
                Series::exact(
                    Some("Tr(HΣ̄)".into()),
                    along_sgd("isotropic_trace_h_sigma")?,
                    color(1),
                ),
            ],
        ),
    ];
    for chart in &charts {
        render(chart, dir)?;
    }
    Ok(charts.into())
}

/// The title of the train-accuracy figure: the run's own images.
fn train_accuracy_title(scale: &Scale) -> String {
    format!(
        "Train accuracy ({} clean + {} random labels)",
        thousands(scale.clean),
        thousands(scale.random)
    )
}

/// The closing table (printed and put in report.html): final accuracies and sharpness per
/// dynamic beside the paper's verdict, then Fig. 5's λ₁ and the rank where λ falls to 1 % of it.
fn table(curves: &[Curve], eigenvalues: &[f64], scale: &Scale) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "fashion (Zhu et al. 2019 Fig. 3, 5): LeNet on {}, GD lr {GD_LR} for {} steps to \
         θ*_GD, then {} steps at lr {ESCAPE_LR}; test accuracy on {} test images",
        scale.data, scale.gd_steps, scale.steps, scale.test_images
    );
    let _ = writeln!(
        text,
        "expected sharpness over the same draws ν ~ N(0, σ²I) (analyze {}): E[ΔL] = \
         E[L(θ+ν)] − L(θ), signed (Zhu et al.'s text, our figure), and E|ΔL| = \
         E|L(θ+ν) − L(θ)| (the authors' code, their figure)",
        scale.sharpness.join(" ")
    );
    let first = &curves[0];
    let _ = writeln!(
        text,
        "at θ*_GD: train acc {:.4}, test acc {:.4}, E[ΔL] {:.4}, E|ΔL| {:.4}",
        first.train_accuracy[0], first.test_accuracy[0], first.sharpness[0], first.sharpness_abs[0]
    );
    let _ = writeln!(
        text,
        "{:<12} {:>9} {:>9} {:>18} {:>18}   paper (Fig. 3)",
        "dynamic", "train acc", "test acc", "E[ΔL] ± s.e.", "E|ΔL| ± s.e."
    );
    let with_stderr = |values: &[f64], stderr: &[f64]| {
        format!("{:.4} ± {:.4}", Curve::last(values), Curve::last(stderr))
    };
    for (c, (_, escapes)) in curves.iter().zip(DYNAMICS) {
        let _ = writeln!(
            text,
            "{:<12} {:>9.4} {:>9.4} {:>18} {:>18}   {}",
            c.dynamic,
            Curve::last(&c.train_accuracy),
            Curve::last(&c.test_accuracy),
            with_stderr(&c.sharpness, &c.sharpness_stderr),
            with_stderr(&c.sharpness_abs, &c.sharpness_abs_stderr),
            if escapes {
                "escapes: sharpness falls, test accuracy rises"
            } else {
                "stays trapped"
            }
        );
    }
    let one_percent = eigenvalues.iter().position(|l| *l < 0.01 * eigenvalues[0]);
    let _ = writeln!(
        text,
        "Fig. 5: λ₁ = {:.4} at θ*_GD; λ_k < 1 % of λ₁ first at k = {} of the {} computed \
         (paper: λ₁₄₀ ≈ 1 % of λ₁)",
        eigenvalues[0],
        one_percent.map_or("none".into(), |i| (i + 1).to_string()),
        eigenvalues.len()
    );
    text
}
