//! The Jupyter notebook of an export (nbformat 4.5): loads the CSVs beside it with pandas and
//! redraws the exported figures with matplotlib, ready to be edited.

use serde_json::{json, Value};

/// A cell of `kind` ("markdown" or "code") with a stable id.
fn cell(index: usize, kind: &str, source: &str) -> Value {
    // nbformat stores source as lines, each but the last ending in "\n".
    let lines: Vec<String> = source
        .trim()
        .split_inclusive('\n')
        .map(String::from)
        .collect();
    let mut cell = json!({ "cell_type": kind, "id": format!("cell-{index}"), "metadata": {}, "source": lines });
    if kind == "code" {
        cell["execution_count"] = Value::Null;
        cell["outputs"] = json!([]);
    }
    cell
}

const SETUP: &str = r#"
import matplotlib.pyplot as plt
import pandas as pd

metrics = pd.read_csv("metrics.csv")
eigenvalues = pd.read_csv("eigenvalues.csv")
prop1 = pd.read_csv("prop1.csv")
# The x axis: the training step if every checkpoint records one, else the checkpoint's index.
x, x_label = (metrics["step"], "step") if metrics["step"].notna().all() else (metrics.index, "checkpoint #")
metrics
"#;

const EIGENVALUES: &str = r#"
fig, ax = plt.subplots(figsize=(8, 5))
groups = list(eigenvalues.groupby("checkpoint", sort=False))
colors = plt.cm.viridis([i / max(len(groups) - 1, 1) for i in range(len(groups))])
for (name, g), color in zip(groups, colors):
    g = g[g["eigenvalue"] > 0]
    label = f"step {int(g['step'].iloc[0])}" if g["step"].notna().all() and len(g) else name
    ax.plot(g["rank"], g["eigenvalue"], "o-", ms=3, color=color, label=label)
ax.set(yscale="log", xlabel="rank i", ylabel="λᵢ", title="Top Hessian eigenvalues")
ax.legend(fontsize="small")
"#;

const TRAJECTORY: &str = r#"
fig, axes = plt.subplots(2, 2, figsize=(12, 8))
ax = axes[0, 0]
ax.plot(x, metrics["a_hat"], "o-")
ax.set(xlabel=x_label, ylabel="â", title="Projection coefficient â")
ax = axes[0, 1]
ax.plot(x, metrics["trace_h_sigma"], "o-", label="Tr(HΣ)")
ax.plot(x, metrics["isotropic_trace_h_sigma"], "o-", label="isotropic Tr(HΣ̄) = Tr(H)·Tr(Σ)/D")
ax.set(yscale="log", xlabel=x_label, title="Escaping indicator")
ax.legend()
ax = axes[1, 0]
ax.plot(x, metrics["ratio"], "o-", label="Tr(HΣ)/Tr(HΣ̄)")
ax.plot(x, metrics["prop1_bound"], "o-", label="bound â·λ₁²·D/Tr(H)²")
ax.set(yscale="log", xlabel=x_label, title="Proposition 1")
ax.legend()
ax = axes[1, 1]
if metrics["expected_sharpness"].notna().any():
    ax.errorbar(x, metrics["expected_sharpness"], yerr=metrics["expected_sharpness_stderr"], fmt="o-", label="signed")
    ax.errorbar(x, metrics["expected_sharpness_abs"], yerr=metrics["expected_sharpness_abs_stderr"], fmt="o-", label="absolute")
    ax.legend()
ax.set(xlabel=x_label, ylabel="E[L(θ+ν)] − L(θ)", title="Expected sharpness")
fig.tight_layout()
"#;

const RUN: &str = r#"
run = pd.read_csv("run.csv")
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, what in zip(axes, ["accuracy", "loss"]):
    for split in ["train", "test"]:
        column = f"{split}_{what}"
        if column in run and run[column].notna().any():
            ax.plot(run["step"], run[column], label=split)
    ax.set(xlabel="step", ylabel=what, title=f"{what.capitalize()} during training")
    ax.legend()
fig.tight_layout()
"#;

const ANALYSIS_ACCURACY: &str = r#"
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, what in zip(axes, ["accuracy", "loss"]):
    ax.plot(x, metrics[what], "o-")
    ax.set(xlabel=x_label, ylabel=what, title=f"{what.capitalize()} on the analysis data")
fig.tight_layout()
"#;

const DENSITY: &str = r#"
density = pd.read_csv("density.csv")
fig, ax = plt.subplots(figsize=(8, 5))
groups = list(density.groupby("checkpoint", sort=False))
colors = plt.cm.viridis([i / max(len(groups) - 1, 1) for i in range(len(groups))])
for (name, g), color in zip(groups, colors):
    ax.plot(g["lambda"], g["density"].clip(lower=1e-8), color=color, label=name)
ax.set(yscale="log", xlabel="λ", ylabel="density", title="Hessian spectral density (SLQ)")
ax.legend(fontsize="small")
"#;

/// The notebook of the export `name`; `density` and `run` say whether density.csv and run.csv
/// are there.
pub fn build(name: &str, density: bool, run: bool) -> Value {
    let intro = format!(
        "# curvscope analysis: {name}\n\nThe curvature and gradient-noise metrics of each checkpoint \
         (Zhu et al., *The Anisotropic Noise in SGD*, ICML 2019), exported by `curvscope export`. \
         Column meanings are in README.md; the figures are also in figures/ as SVG and PNG."
    );
    let mut sources = vec![
        ("markdown", intro.as_str()),
        ("code", SETUP),
        ("code", EIGENVALUES),
        ("code", TRAJECTORY),
    ];
    sources.push(("code", if run { RUN } else { ANALYSIS_ACCURACY }));
    if density {
        sources.push(("code", DENSITY));
    }
    let cells: Vec<Value> = sources
        .iter()
        .enumerate()
        .map(|(i, (kind, source))| cell(i, kind, source))
        .collect();
    json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": { "display_name": "Python 3", "language": "python", "name": "python3" },
            "language_info": { "name": "python" }
        },
        "cells": cells,
    })
}
