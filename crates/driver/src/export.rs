//! `curvscope export`: an analysis as a self-contained folder: its CSVs, SVG/PNG figures (the
//! panels of the paper's Figs. 3 and 5) and a Jupyter notebook that redraws them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use curvscope_model::files::write_atomic;

use crate::checkpoints::checkpoint_name;
use crate::flags;
use crate::frame::Frame;
use crate::notebook;
use crate::plots::{render, trajectory_color, Chart, Series, PALETTE};
use crate::record::{
    DENSITY_CSV, EIGENVALUES_CSV, FAILURES_CSV, LAYERS_CSV, MANIFEST_JSON, METRICS_CSV, PROP1_CSV,
    README_MD, SPECTRUM_CSV,
};
use crate::run_folder::RUN_CSV;

/// Files of an analysis folder copied as they are (those present).
const COPIED: &[&str] = &[
    METRICS_CSV,
    EIGENVALUES_CSV,
    SPECTRUM_CSV,
    PROP1_CSV,
    DENSITY_CSV,
    LAYERS_CSV,
    FAILURES_CSV,
    MANIFEST_JSON,
    README_MD,
];

/// Arguments of `curvscope export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The output folder of `curvscope analyze` (holding metrics.csv), or a run folder whose
    /// analysis/ subfolder holds it.
    #[arg(value_name = "ANALYSIS_DIR")]
    pub input: PathBuf,
    /// Destination folder (created; existing files in it are replaced)
    /// [default: notebooks-export/<run folder name>]. It may be the analysis folder itself:
    /// files that already are the ones to copy are left as they are, and only the figures
    /// and the notebook are added.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Training log with columns step, train_loss, train_accuracy, test_loss, test_accuracy,
    /// wall_time_s, plotted as loss and accuracy curves [default: run.csv in the run folder
    /// (the folder analyzed, else the analysis folder's parent), if there is one].
    #[arg(long, value_name = "CSV")]
    pub run_csv: Option<PathBuf>,
    /// Do not list the files written.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Where the analysis is, and the run's training log if one is found.
struct Located {
    analysis: PathBuf,
    run_csv: Option<PathBuf>,
    name: String,
}

fn locate(args: &ExportArgs) -> Result<Located> {
    let (analysis, run_dir) = if args.input.join(METRICS_CSV).exists() {
        (args.input.clone(), None)
    } else if args.input.join("analysis").join(METRICS_CSV).exists() {
        (args.input.join("analysis"), Some(args.input.clone()))
    } else {
        bail!(
            "{}: no metrics.csv here or in analysis/ (run `curvscope analyze` first)",
            args.input.display()
        );
    };
    // The folder that was analyzed, as analysis.json records it, then the analysis' parent.
    let recorded = std::fs::read(analysis.join(MANIFEST_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["input"].as_str().map(PathBuf::from));
    let candidates: Vec<PathBuf> = run_dir
        .into_iter()
        .chain(recorded)
        .chain(
            analysis
                .canonicalize()
                .ok()
                .and_then(|a| a.parent().map(Path::to_path_buf)),
        )
        .collect();
    let run_csv = args.run_csv.clone().or_else(|| {
        candidates
            .iter()
            .map(|d| d.join(RUN_CSV))
            .find(|p| p.exists())
    });
    if let Some(path) = &args.run_csv {
        if !path.exists() {
            bail!("{}: no such file", path.display());
        }
    }
    let name = candidates
        .first()
        .map_or_else(|| checkpoint_name(&analysis), |d| checkpoint_name(d));
    Ok(Located {
        analysis,
        run_csv,
        name,
    })
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let located = locate(&args)?;
    let to = args
        .to
        .clone()
        .unwrap_or_else(|| Path::new("notebooks-export").join(&located.name));
    flags::output_dir(&to, "--to")?;
    let figures = to.join("figures");
    std::fs::create_dir_all(&figures).with_context(|| format!("creating {}", figures.display()))?;
    let mut written = Vec::new();
    for file in COPIED {
        let from = located.analysis.join(file);
        if from.exists() {
            copy(&from, &to.join(file))?;
            written.push(to.join(file));
        }
    }
    if let Some(run_csv) = &located.run_csv {
        copy(run_csv, &to.join(RUN_CSV))?;
        written.push(to.join(RUN_CSV));
    }
    let run = located.run_csv.as_deref().map(Frame::read).transpose()?;
    for chart in charts(&to, run.as_ref())? {
        if let Some(paths) = render(&chart, &figures)? {
            written.extend(paths);
        }
    }
    let notebook_path = to.join("analysis.ipynb");
    let has = |file: &str| to.join(file).exists();
    let notebook = notebook::build(&located.name, has(DENSITY_CSV), run.is_some());
    std::fs::write(
        &notebook_path,
        serde_json::to_string_pretty(&notebook)? + "\n",
    )
    .with_context(|| format!("writing {}", notebook_path.display()))?;
    written.push(notebook_path);
    if !args.quiet {
        for path in &written {
            println!("{}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies `from` to `to` atomically; nothing to do when `to` already is `from` (exporting
/// into the analysis folder itself), which a plain copy would truncate.
fn copy(from: &Path, to: &Path) -> Result<()> {
    if same_file(from, to) {
        return Ok(());
    }
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    Ok(write_atomic(to, &bytes)?)
}

/// Whether both paths name one existing file (through links, `.` or `..`).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (a.dev(), a.ino()) == (b.dev(), b.ino());
        }
    }
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Indices of the rows of each value of `key`, in order of first appearance.
fn groups(keys: &[&str]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match out.iter_mut().find(|(name, _)| name == k) {
            Some((_, rows)) => rows.push(i),
            None => out.push((k.to_string(), vec![i])),
        }
    }
    out
}

/// `(x, y)` pairs of two columns, rows with a missing value left out.
fn pairs(x: &[Option<f64>], y: &[Option<f64>]) -> Vec<(f64, f64)> {
    x.iter()
        .zip(y)
        .filter_map(|(x, y)| Some(((*x)?, (*y)?)))
        .collect()
}

/// The figures of the paper's Figs. 3 and 5 from the exported CSVs (in `dir`) and `run.csv`.
fn charts(dir: &Path, run: Option<&Frame>) -> Result<Vec<Chart>> {
    let metrics = Frame::read(&dir.join(METRICS_CSV))?;
    let steps = metrics.numbers("step")?;
    let (x, x_label) = if steps.iter().all(Option::is_some) {
        (steps, "step")
    } else {
        (
            (0..steps.len()).map(|i| Some(i as f64)).collect(),
            "checkpoint #",
        )
    };
    let line = |label: &str, column: &str, color: usize| -> Result<Series> {
        Ok(Series {
            label: Some(label.into()),
            points: pairs(&x, &metrics.numbers(column)?),
            color: PALETTE[color],
        })
    };
    let chart = |name: &str, title: &str, y_label: &str, log_y: bool, series: Vec<Series>| Chart {
        name: name.into(),
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        log_y,
        series,
    };
    let mut charts = vec![
        long_chart(
            dir,
            "eigenvalues",
            "Top Hessian eigenvalues",
            ("rank i", "λᵢ"),
            ("rank", "eigenvalue"),
            0.0,
        )?,
        chart(
            "a_hat",
            "Projection coefficient â along the trajectory",
            "â",
            false,
            vec![line("â", "a_hat", 0)?],
        ),
        chart(
            "escaping",
            "Escaping indicator: anisotropic vs isotropic noise",
            "Tr(HΣ)",
            true,
            vec![
                line("Tr(HΣ)", "trace_h_sigma", 0)?,
                line(
                    "isotropic Tr(HΣ̄) = Tr(H)·Tr(Σ)/D",
                    "isotropic_trace_h_sigma",
                    1,
                )?,
            ],
        ),
        chart(
            "ratio",
            "Tr(HΣ)/Tr(HΣ̄) and Proposition 1's bound",
            "ratio",
            true,
            vec![
                line("Tr(HΣ)/Tr(HΣ̄)", "ratio", 0)?,
                line("bound â·λ₁²·D/Tr(H)²", "prop1_bound", 1)?,
            ],
        ),
        chart(
            "sharpness",
            "Expected sharpness",
            "E[L(θ+ν)] − L(θ)",
            false,
            vec![
                line("signed", "expected_sharpness", 0)?,
                line("absolute", "expected_sharpness_abs", 1)?,
            ],
        ),
    ];
    match run {
        Some(run) => {
            let step = run.numbers("step")?;
            let curve = |label: &str, column: &str, color: usize| -> Result<Series> {
                Ok(Series {
                    label: Some(label.into()),
                    points: pairs(&step, &run.numbers(column)?),
                    color: PALETTE[color],
                })
            };
            let mut from_run =
                |name: &str, title: &str, y: &str, columns: [&str; 2]| -> Result<()> {
                    let series = vec![
                        curve("train", columns[0], 0)?,
                        curve("test", columns[1], 1)?,
                    ];
                    charts.push(Chart {
                        name: name.into(),
                        title: title.into(),
                        x_label: "step".into(),
                        y_label: y.into(),
                        log_y: false,
                        series,
                    });
                    Ok(())
                };
            from_run(
                "accuracy",
                "Accuracy during training",
                "accuracy",
                ["train_accuracy", "test_accuracy"],
            )?;
            from_run(
                "loss",
                "Loss during training",
                "loss",
                ["train_loss", "test_loss"],
            )?;
        }
        None => {
            charts.push(chart(
                "accuracy",
                "Accuracy on the analysis data",
                "accuracy",
                false,
                vec![line("accuracy", "accuracy", 0)?],
            ));
            charts.push(chart(
                "loss",
                "Loss on the analysis data",
                "loss",
                false,
                vec![line("loss", "loss", 0)?],
            ));
        }
    }
    if dir.join(DENSITY_CSV).exists() {
        charts.push(long_chart(
            dir,
            "density",
            "Hessian spectral density (SLQ)",
            ("λ", "density"),
            ("lambda", "density"),
            DENSITY_FLOOR,
        )?);
    }
    Ok(charts)
}

/// Densities are drawn at least this high: the Gaussian broadening's far tails (down to 1e-300)
/// would otherwise squash the spectrum into the top of a log axis.
const DENSITY_FLOOR: f64 = 1e-8;

/// A log-scale chart of a long CSV (`<name>.csv`), y raised to at least `floor`, one line per
/// checkpoint coloured along the trajectory; the legend names all checkpoints if there are
/// few, else the first and last.
fn long_chart(
    dir: &Path,
    name: &str,
    title: &str,
    labels: (&str, &str),
    columns: (&str, &str),
    floor: f64,
) -> Result<Chart> {
    let frame = Frame::read(&dir.join(format!("{name}.csv")))?;
    let (x, y) = (frame.numbers(columns.0)?, frame.numbers(columns.1)?);
    let (checkpoints, steps) = (frame.text("checkpoint")?, frame.text("step")?);
    let groups = groups(&checkpoints);
    let n = groups.len();
    let series = groups
        .iter()
        .enumerate()
        .map(|(i, (checkpoint, rows))| {
            let step = steps[rows[0]];
            let label = if step.is_empty() {
                checkpoint.clone()
            } else {
                format!("step {step}")
            };
            Series {
                label: (n <= 8 || i == 0 || i + 1 == n).then_some(label),
                points: rows
                    .iter()
                    .filter_map(|&r| Some((x[r]?, y[r]?.max(floor))))
                    .collect(),
                color: trajectory_color(i, n),
            }
        })
        .collect();
    Ok(Chart {
        name: name.into(),
        title: title.into(),
        x_label: labels.0.into(),
        y_label: labels.1.into(),
        log_y: true,
        series,
    })
}
