//! The one summary table of headline numbers, printed by `analyze` (one line per checkpoint)
//! and by `demo` (one line per checkpoint of each run).

use anyhow::Result;

use crate::frame::Frame;
use crate::record::CheckpointRecord;

/// A checkpoint's headline numbers; `None` prints as "-".
#[derive(Default)]
pub struct Row {
    /// Checkpoint or run name.
    pub label: String,
    pub step: Option<f64>,
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
    pub lambda_1: Option<f64>,
    /// Whether Lanczos converged on the top-k (`Some(false)` marks λ₁ with `*`).
    pub converged: Option<bool>,
    pub trace_h: Option<f64>,
    /// Standard error of a stochastic Tr(H) (`None` or 0 when exact).
    pub trace_h_stderr: Option<f64>,
    pub trace_sigma: Option<f64>,
    pub trace_h_sigma: Option<f64>,
    pub ratio: Option<f64>,
    pub a_hat: Option<f64>,
    pub sharpness: Option<f64>,
    /// What happened to the checkpoint in this run (`analyze` only).
    pub status: Option<String>,
}

impl Row {
    /// The numbers of an analyzed checkpoint.
    pub fn from_record(r: &CheckpointRecord, status: Option<String>) -> Self {
        let p = &r.report;
        Self {
            label: r.checkpoint.clone(),
            step: r.meta.step.map(|s| s as f64),
            loss: Some(p.loss),
            accuracy: r.accuracy,
            lambda_1: Some(p.proposition1.lambda1),
            converged: Some(p.hessian_converged),
            trace_h: Some(p.trace_h.value),
            trace_h_stderr: Some(p.trace_h.stderr),
            trace_sigma: Some(p.trace_sigma.value),
            trace_h_sigma: Some(p.trace_h_sigma.value),
            ratio: p.anisotropy_ratio,
            a_hat: p.proposition1.projection_coefficient,
            sharpness: p.expected_sharpness.as_ref().map(|s| s.signed.value),
            status,
        }
    }

    /// The rows of a metrics.csv, each labelled `label`.
    pub fn from_metrics(label: &str, metrics: &Frame) -> Result<Vec<Self>> {
        let column = |name| metrics.numbers(name);
        let (step, loss, accuracy, lambda_1) = (
            column("step")?,
            column("loss")?,
            column("accuracy")?,
            column("lambda_1")?,
        );
        let (trace_h, trace_h_stderr, trace_sigma, trace_h_sigma) = (
            column("trace_h")?,
            column("trace_h_stderr")?,
            column("trace_sigma")?,
            column("trace_h_sigma")?,
        );
        let converged = metrics.text("hessian_converged")?;
        let (ratio, a_hat, sharpness) = (
            column("ratio")?,
            column("a_hat")?,
            column("expected_sharpness")?,
        );
        Ok((0..step.len())
            .map(|i| Self {
                label: label.to_string(),
                step: step[i],
                loss: loss[i],
                accuracy: accuracy[i],
                lambda_1: lambda_1[i],
                converged: Some(converged[i] == "true"),
                trace_h: trace_h[i],
                trace_h_stderr: trace_h_stderr[i],
                trace_sigma: trace_sigma[i],
                trace_h_sigma: trace_h_sigma[i],
                ratio: ratio[i],
                a_hat: a_hat[i],
                sharpness: sharpness[i],
                status: None,
            })
            .collect())
    }
}

/// `x` right-aligned in `width` with `digits` decimals, in scientific notation when that
/// would hide it (|x| ≥ 10⁴ or below 10⁻³); "-" when absent or undefined (NaN, ±inf).
fn cell(x: Option<f64>, width: usize, digits: usize) -> String {
    match x.filter(|x| x.is_finite()) {
        Some(x) if x.abs() >= 1e4 || (x != 0.0 && x.abs() < 1e-3) => format!("{x:>width$.2e}"),
        Some(x) => format!("{x:>width$.digits$}"),
        None => format!("{:>width$}", "-"),
    }
}

/// `±stderr` of a stochastic estimate, in `width` characters (blank when exact or absent).
fn plus_minus(stderr: Option<f64>, width: usize) -> String {
    match stderr.filter(|&e| e > 0.0) {
        Some(e) if !(1e-3..1e4).contains(&e) => format!("±{:<w$.1e}", e, w = width - 1),
        Some(e) => format!("±{:<w$.2}", e, w = width - 1),
        None => " ".repeat(width),
    }
}

/// The table: a header naming the label column `label`, then one line per row; Tr(H)'s
/// standard error follows it when some row has one, and a status column is added when some
/// row has one. A λ₁ whose Lanczos run did not converge is marked `*`, explained under the
/// table.
pub fn table(label: &str, rows: &[Row]) -> String {
    let w = rows
        .iter()
        .map(|r| r.label.chars().count())
        .chain([label.chars().count(), 4])
        .max()
        .unwrap_or(4);
    let with_status = rows.iter().any(|r| r.status.is_some());
    // Width of Tr(H)'s "±stderr" column: none when every Tr(H) is exact.
    let pm = match rows
        .iter()
        .any(|r| r.trace_h_stderr.is_some_and(|e| e > 0.0))
    {
        true => 9,
        false => 0,
    };
    let mut text = format!(
        "{label:<w$} {:>5} {:>7} {:>6} {:>9}  {:>9}{:pm$} {:>8} {:>9} {:>7} {:>6} {:>10}{}\n",
        "step",
        "loss",
        "acc",
        "λ₁",
        "Tr(H)",
        "",
        "Tr(Σ)",
        "Tr(HΣ)",
        "ratio",
        "â",
        "sharpness",
        if with_status { "  status" } else { "" }
    );
    for r in rows {
        text.push_str(&format!(
            "{:<w$} {} {} {} {}{} {}{} {} {} {} {} {}{}\n",
            r.label,
            cell(r.step, 5, 0),
            cell(r.loss, 7, 4),
            cell(r.accuracy, 6, 3),
            cell(r.lambda_1, 9, 3),
            if r.converged == Some(false) { "*" } else { " " },
            cell(r.trace_h, 9, 2),
            if pm > 0 {
                plus_minus(r.trace_h_stderr, pm)
            } else {
                String::new()
            },
            cell(r.trace_sigma, 8, 3),
            cell(r.trace_h_sigma, 9, 3),
            cell(r.ratio, 7, 2),
            cell(r.a_hat, 6, 2),
            cell(r.sharpness, 10, 5),
            r.status
                .as_ref()
                .map_or(String::new(), |s| format!("  {s}")),
        ));
    }
    if rows.iter().any(|r| r.converged == Some(false)) {
        text.push_str(
            "* Lanczos did not converge on the top-k (λ₁ is a lower bound): raise --max-krylov, \
             or --restarts to go on in the same memory\n",
        );
    }
    text
}
