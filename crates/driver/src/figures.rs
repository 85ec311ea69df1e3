//! The figures of an analysis folder, as [`Chart`]s that `export` renders to files and
//! `report` inlines: the panels of the paper's Figs. 3 and 5, each estimated value with its
//! standard error, plus per-layer traces and landscape slices where their CSVs exist.

use std::path::Path;

use anyhow::{Context, Result};
use curvscope_metrics::{derived_stderr, isotropic_trace_h_sigma, Derived};

use crate::frame::Frame;
use crate::plots::{trajectory_color, Chart, Series, PALETTE};
use crate::record::{DENSITY_CSV, LAYERS_CSV, METRICS_CSV};

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

/// A series of `y` against `x` with the interval y ± stderr at each point (rows with a missing
/// x, y or stderr left out).
fn with_stderr(
    label: &str,
    x: &[Option<f64>],
    y: &[Option<f64>],
    stderr: &[Option<f64>],
    color: usize,
) -> Series {
    let rows: Vec<(f64, f64, f64)> = x
        .iter()
        .zip(y)
        .zip(stderr)
        .filter_map(|((x, y), s)| Some(((*x)?, (*y)?, (*s)?)))
        .collect();
    Series {
        label: Some(label.into()),
        points: rows.iter().map(|&(x, y, _)| (x, y)).collect(),
        intervals: rows.iter().map(|&(_, y, s)| (y - s, y + s)).collect(),
        color: PALETTE[color],
    }
}

/// A column with its standard errors, (value, stderr) per row, `None` where either is missing.
type Estimated = Vec<Option<(f64, f64)>>;

/// The figures of the paper's Figs. 3 and 5 from the CSVs of an analysis (in `dir`) and the
/// run's training log `run`, then per-layer traces if `dir` holds layers.csv.
pub fn charts(dir: &Path, run: Option<&Frame>) -> Result<Vec<Chart>> {
    let metrics = Frame::read(&dir.join(METRICS_CSV))?;
    // Frame's errors name the file.
    let column = |name: &str| metrics.numbers(name);
    let steps = column("step")?;
    let (x, x_label) = if steps.iter().all(Option::is_some) {
        (steps, "step")
    } else {
        (
            (0..steps.len()).map(|i| Some(i as f64)).collect(),
            "checkpoint #",
        )
    };
    let line = |label: &str, name: &str, color: usize| -> Result<Series> {
        Ok(Series::exact(
            Some(label.into()),
            pairs(&x, &column(name)?),
            PALETTE[color],
        ))
    };
    let estimated = |label: &str, name: &str, color: usize| -> Result<Series> {
        let stderr = column(&format!("{name}_stderr"))?;
        Ok(with_stderr(label, &x, &column(name)?, &stderr, color))
    };
    let chart = |name: &str, title: &str, y_label: &str, log_y: bool, series: Vec<Series>| Chart {
        name: name.into(),
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        log_y,
        integer_x: true,
        series,
    };
    // Tr(HΣ̄) = Tr(H)·Tr(Σ)/D is linear in Tr(H) and Tr(Σ) is exact, so its standard error is
    // Tr(H)'s pushed through the same formula.
    let (trace_sigma, dim) = (column("trace_sigma")?, column("n_params")?);
    let isotropic_stderr: Vec<Option<f64>> = column("trace_h_stderr")?
        .iter()
        .zip(&trace_sigma)
        .zip(&dim)
        .map(|((s, t), d)| Some(isotropic_trace_h_sigma((*s)?, (*t)?, (*d)? as usize)))
        .collect();
    // â, the bound and the ratio are monomials in the estimated Tr(H) and Tr(HΣ): their
    // standard errors by the delta method (curvscope_metrics::derived_stderr), from the traces'
    // columns (a metrics.csv of before 2026-12-04 has no columns of their own).
    let estimated_pair = |name: &str| -> Result<Estimated> {
        let (v, s) = (column(name)?, column(&format!("{name}_stderr"))?);
        Ok(v.iter()
            .zip(&s)
            .map(|(v, s)| Some(((*v)?, (*s)?)))
            .collect())
    };
    let (trace_h, trace_h_sigma) = (estimated_pair("trace_h")?, estimated_pair("trace_h_sigma")?);
    let derived = |label: &str, name: &str, which: Derived, color: usize| -> Result<Series> {
        let value = column(name)?;
        let stderr: Vec<Option<f64>> = (0..value.len())
            .map(|row| {
                Some(derived_stderr(
                    which,
                    value[row]?,
                    trace_h[row]?,
                    trace_h_sigma[row]?,
                ))
            })
            .collect();
        Ok(with_stderr(label, &x, &value, &stderr, color))
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
            "trace_h",
            "Hessian trace (± standard error when estimated)",
            "Tr(H)",
            false,
            vec![estimated("Tr(H)", "trace_h", 0)?],
        ),
        chart(
            "a_hat",
            "Projection coefficient â along the trajectory",
            "â",
            false,
            vec![derived("â", "a_hat", Derived::ProjectionCoefficient, 0)?],
        ),
        chart(
            "escaping",
            "Escaping indicator: anisotropic vs isotropic noise",
            "Tr(HΣ)",
            true,
            vec![
                estimated("Tr(HΣ)", "trace_h_sigma", 0)?,
                with_stderr(
                    "isotropic Tr(HΣ̄) = Tr(H)·Tr(Σ)/D",
                    &x,
                    &column("isotropic_trace_h_sigma")?,
                    &isotropic_stderr,
                    1,
                ),
            ],
        ),
        chart(
            "ratio",
            "Tr(HΣ)/Tr(HΣ̄) and Proposition 1's bound",
            "ratio",
            true,
            vec![
                derived("Tr(HΣ)/Tr(HΣ̄)", "ratio", Derived::Ratio, 0)?,
                derived("bound â·λ₁²·D/Tr(H)²", "prop1_bound", Derived::Bound, 1)?,
            ],
        ),
        chart(
            "sharpness",
            "Expected sharpness (± standard error)",
            "E[L(θ+ν)] − L(θ)",
            false,
            vec![
                estimated("signed", "expected_sharpness", 0)?,
                estimated("absolute", "expected_sharpness_abs", 1)?,
            ],
        ),
        chart(
            "adaptive_sharpness",
            "Adaptive sharpness (Andriushchenko et al. 2023; worst cases are lower bounds)",
            "L(θ+δ) − L(θ)",
            false,
            vec![
                estimated("average", "adaptive_sharpness_avg", 0)?,
                line("worst, ℓ2", "adaptive_sharpness_l2", 1)?,
                line("worst, ℓ∞", "adaptive_sharpness_linf", 2)?,
            ],
        ),
        chart(
            "epsilon_sharpness",
            "ε-sharpness (Keskar et al. 2017; a lower bound)",
            "ε-sharpness",
            false,
            vec![line("ε-sharpness", "epsilon_sharpness", 0)?],
        ),
    ];
    match run {
        Some(run) => {
            let step = run.numbers("step")?;
            let curve = |label: &str, column: &str, color: usize| -> Result<Series> {
                Ok(Series::exact(
                    Some(label.into()),
                    pairs(&step, &run.numbers(column)?),
                    PALETTE[color],
                ))
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
                        integer_x: true,
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
    if dir.join(LAYERS_CSV).exists() {
        charts.extend(layer_charts(dir, x_label)?);
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
    let path = dir.join(format!("{name}.csv"));
    let frame = Frame::read(&path)?;
    // Frame's errors name the file.
    let (x, y, checkpoints, steps) = (
        frame.numbers(columns.0)?,
        frame.numbers(columns.1)?,
        frame.text("checkpoint")?,
        frame.text("step")?,
    );
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
            Series::exact(
                (n <= 8 || i == 0 || i + 1 == n).then_some(label),
                rows.iter()
                    .filter_map(|&r| Some((x[r]?, y[r]?.max(floor))))
                    .collect(),
                trajectory_color(i, n),
            )
        })
        .collect();
    Ok(Chart {
        name: name.into(),
        title: title.into(),
        x_label: labels.0.into(),
        y_label: labels.1.into(),
        log_y: true,
        integer_x: columns.0 == "rank",
        series,
    })
}

/// Tr(H) and Tr(Σ) of each tensor of θ along the trajectory (layers.csv), one line per tensor;
/// a log axis unless some value is not positive.
fn layer_charts(dir: &Path, x_label: &str) -> Result<Vec<Chart>> {
    let path = dir.join(LAYERS_CSV);
    let frame = Frame::read(&path)?;
    let context = || path.display().to_string();
    let tensors = frame.text("tensor").with_context(context)?;
    let checkpoints = frame.text("checkpoint").with_context(context)?;
    let steps = frame.numbers("step").with_context(context)?;
    // The x of each row: its step, else the index of its checkpoint, as in metrics.csv.
    let order = groups(&checkpoints);
    let x: Vec<f64> = (0..frame.rows.len())
        .map(|r| {
            steps[r].unwrap_or_else(|| {
                order
                    .iter()
                    .position(|(_, rows)| rows.contains(&r))
                    .expect("every row is in its checkpoint's group") as f64
            })
        })
        .collect();
    let by_tensor = groups(&tensors);
    let mut charts = Vec::new();
    for (column, name, title, y_label) in [
        (
            "trace_h",
            "layers_trace_h",
            "Tr(H) per tensor of θ",
            "Tr(H) restricted to the tensor",
        ),
        (
            "trace_sigma",
            "layers_trace_sigma",
            "Tr(Σ) per tensor of θ",
            "Tr(Σ) restricted to the tensor",
        ),
    ] {
        let y = frame.numbers(column).with_context(context)?;
        let series: Vec<Series> = by_tensor
            .iter()
            .enumerate()
            .map(|(i, (tensor, rows))| {
                Series::exact(
                    Some(tensor.clone()),
                    rows.iter().filter_map(|&r| Some((x[r], y[r]?))).collect(),
                    trajectory_color(i, by_tensor.len()),
                )
            })
            .collect();
        let positive = y.iter().flatten().all(|&v| v > 0.0);
        charts.push(Chart {
            name: name.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: positive,
            integer_x: true,
            series,
        });
    }
    Ok(charts)
}
