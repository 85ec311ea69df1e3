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
    pub trace_h: Option<f64>,
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
            trace_h: Some(p.trace_h.value),
            trace_sigma: Some(p.trace_sigma.value),
            trace_h_sigma: Some(p.trace_h_sigma.value),
            ratio: Some(p.anisotropy_ratio),
            a_hat: Some(p.proposition1.projection_coefficient),
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
        let (trace_h, trace_sigma, trace_h_sigma) = (
            column("trace_h")?,
            column("trace_sigma")?,
            column("trace_h_sigma")?,
        );
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
                trace_h: trace_h[i],
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
/// would hide it (|x| ≥ 10⁴ or below 10⁻³).
fn cell(x: Option<f64>, width: usize, digits: usize) -> String {
    match x {
        Some(x) if x.abs() >= 1e4 || (x != 0.0 && x.abs() < 1e-3) => format!("{x:>width$.2e}"),
        Some(x) => format!("{x:>width$.digits$}"),
        None => format!("{:>width$}", "-"),
    }
}

/// The table: a header naming the label column `label`, then one line per row; a status
/// column is added when some row has one.
pub fn table(label: &str, rows: &[Row]) -> String {
    let w = rows
        .iter()
        .map(|r| r.label.chars().count())
        .chain([label.chars().count(), 4])
        .max()
        .unwrap_or(4);
    let with_status = rows.iter().any(|r| r.status.is_some());
    let mut text = format!(
        "{label:<w$} {:>5} {:>7} {:>6} {:>9} {:>9} {:>8} {:>9} {:>7} {:>6} {:>10}{}\n",
        "step",
        "loss",
        "acc",
        "λ₁",
        "Tr(H)",
        "Tr(Σ)",
        "Tr(HΣ)",
        "ratio",
        "â",
        "sharpness",
        if with_status { "  status" } else { "" }
    );
    for r in rows {
        text.push_str(&format!(
            "{:<w$} {} {} {} {} {} {} {} {} {} {}{}\n",
            r.label,
            cell(r.step, 5, 0),
            cell(r.loss, 7, 4),
            cell(r.accuracy, 6, 3),
            cell(r.lambda_1, 9, 3),
            cell(r.trace_h, 9, 2),
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
    text
}
