//! The CSV files of an analysis: each column's name, meaning and value in one place, so the
//! header, the documentation (analysis.json, README.md) and the rows cannot drift apart.

use std::path::Path;

use anyhow::Result;
use curvscope_metrics::{derived_stderr, isotropic_trace_h_sigma, Derived, Estimator};
use curvscope_model::files::{remove_if_present, write_atomic};

use crate::record::{
    CheckpointRecord, Failure, DENSITY_CSV, EIGENVALUES_CSV, FAILURES_CSV, LAYERS_CSV, METRICS_CSV,
    PROP1_CSV, SPECTRUM_CSV,
};

/// One CSV cell.
pub enum Cell {
    Text(String),
    Num(f64),
    Int(u64),
    Bool(bool),
    Empty,
}

impl Cell {
    /// The cell's text; an undefined number (NaN, ±inf) is an empty cell, never "NaN" or "inf"
    /// (`analyze` says on stderr which ones and why: [`undefined_columns`]).
    pub fn render(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(x) if !x.is_finite() => String::new(),
            Cell::Num(x) => float(*x),
            Cell::Int(n) => n.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Empty => String::new(),
        }
    }
}

impl From<Estimator> for Cell {
    /// `exact` or `stochastic`.
    fn from(e: Estimator) -> Self {
        Cell::Text(
            match e {
                Estimator::Exact => "exact",
                Estimator::Stochastic => "stochastic",
            }
            .into(),
        )
    }
}

impl From<Option<f64>> for Cell {
    fn from(x: Option<f64>) -> Self {
        x.map_or(Cell::Empty, Cell::Num)
    }
}

impl From<Option<bool>> for Cell {
    fn from(x: Option<bool>) -> Self {
        x.map_or(Cell::Empty, Cell::Bool)
    }
}

/// Shortest decimal that reads back to the same f64 (so a resumed analysis reproduces its CSVs
/// bit for bit), in scientific notation when plain notation would be long.
pub fn float(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || (1e-4..1e16).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// d_k's cell: `inf` where λ_{k+1} = 0 (condition 1 holds for every d: a value, not the
/// undefined number an empty cell means), empty where d_k is undefined (λ_{k+1} < 0).
fn exponent_cell(d: Option<f64>) -> Cell {
    match d {
        Some(d) if d == f64::INFINITY => Cell::Text("inf".into()),
        d => d.into(),
    }
}

type Extract = fn(&CheckpointRecord) -> Cell;

/// The standard error of the `derived` number `value` of `r` (empty where the number is).
fn derived(r: &CheckpointRecord, derived: Derived, value: Option<f64>) -> Cell {
    let (h, hs) = (&r.report.trace_h, &r.report.trace_h_sigma);
    value
        .map(|v| derived_stderr(derived, v, (h.value, h.stderr), (hs.value, hs.stderr)))
        .into()
}

/// metrics.csv: (column, meaning, value), one row per analyzed checkpoint.
pub const METRICS: &[(&str, &str, Extract)] = &[
    ("checkpoint", "checkpoint folder name", |r| Cell::Text(r.checkpoint.clone())),
    ("step", "training step recorded in checkpoint.json (empty if none)", |r| r.meta.step.map_or(Cell::Empty, Cell::Int)),
    ("n_samples", "N, samples of the analysis dataset", |r| Cell::Int(r.report.n_samples as u64)),
    ("n_params", "D, number of parameters", |r| Cell::Int(r.report.dim as u64)),
    ("dtype", "storage precision of the checkpoint's tensors", |r| Cell::Text(r.dtype.clone())),
    ("precision", "precision the network was evaluated in (--precision; a GPU computes in f32)", |r| Cell::Text(r.options.precision.to_string())),
    ("loss", "L(θ), mean loss over the N samples", |r| Cell::Num(r.report.loss)),
    ("accuracy", "fraction of the N samples classified correctly (empty for non-classifiers)", |r| r.accuracy.into()),
    ("grad_norm", "‖∇L(θ)‖", |r| Cell::Num(r.report.grad_norm)),
    ("theta_norm", "‖θ‖", |r| Cell::Num(r.theta_norm)),
    ("lambda_1", "λ₁, the largest Hessian eigenvalue (Lanczos)", |r| Cell::Num(r.report.proposition1.lambda1)),
    ("lambda_min", "smallest Hessian eigenvalue (empty with --no-lambda-min)", |r| r.report.lambda_min.map(|l| l.value).into()),
    ("lambda_min_converged", "λ_min's Ritz pair met --tol; if not, a value ≥ 0 is only an upper bound on λ_min (empty with --no-lambda-min)", |r| {
        r.report.lambda_min.map(|l| l.converged).into()
    }),
    ("trace_h", "Tr(H): exact (Σ diag(H), piecewise-linear nets; with --full-spectrum, any net) or deflated Hutchinson", |r| Cell::Num(r.report.trace_h.value)),
    ("trace_h_stderr", "standard error of trace_h (0 when exact)", |r| Cell::Num(r.report.trace_h.stderr)),
    ("trace_h_estimator", "exact (C per-sample-gradient passes, nets of affine layers, ReLU and max-pooling; or the diagonal of --full-spectrum's D HVPs) or stochastic (probes)", |r| {
        r.report.trace_h.estimator.into()
    }),
    ("trace_sigma", "Tr(Σ) of the one-sample gradient noise covariance Σ (exact)", |r| Cell::Num(r.report.trace_sigma.value)),
    ("u1_sigma_u1", "u₁ᵀΣu₁, the noise variance along the top Hessian eigenvector", |r| r.report.u_sigma_u.first().copied().into()),
    ("a_hat", "â = u₁ᵀΣu₁·Tr(H)/(λ₁·Tr(Σ)), Proposition 1's projection coefficient (empty when Tr(H), λ₁ or Tr(Σ) is not positive)", |r| {
        r.report.proposition1.projection_coefficient.into()
    }),
    ("a_hat_stderr", "standard error of a_hat from trace_h's, by the delta method (0 when Tr(H) is exact)", |r| {
        derived(r, Derived::ProjectionCoefficient, r.report.proposition1.projection_coefficient)
    }),
    ("trace_h_sigma", "Tr(HΣ), the escaping indicator", |r| Cell::Num(r.report.trace_h_sigma.value)),
    ("trace_h_sigma_stderr", "standard error of trace_h_sigma (0 when exact)", |r| Cell::Num(r.report.trace_h_sigma.stderr)),
    ("trace_h_sigma_estimator", "exact (N per-sample gradients and HVPs) or stochastic (probes)", |r| {
        r.report.trace_h_sigma.estimator.into()
    }),
    ("isotropic_trace_h_sigma", "Tr(HΣ̄) = Tr(H)·Tr(Σ)/D, isotropic noise of the same magnitude", |r| Cell::Num(r.report.isotropic_trace_h_sigma)),
    ("isotropic_trace_h_sigma_stderr", "standard error of isotropic_trace_h_sigma: trace_h_stderr·Tr(Σ)/D", |r| {
        Cell::Num(isotropic_trace_h_sigma(r.report.trace_h.stderr, r.report.trace_sigma.value, r.report.dim))
    }),
    ("ratio", "Tr(HΣ)/Tr(HΣ̄) (empty when Tr(HΣ̄) ≤ 0: Tr(H) ≤ 0 or Tr(Σ) = 0)", |r| r.report.anisotropy_ratio.into()),
    ("ratio_stderr", "standard error of ratio from trace_h_sigma's and trace_h's, by the delta method", |r| {
        derived(r, Derived::Ratio, r.report.anisotropy_ratio)
    }),
    ("prop1_bound", "â·λ₁²·D/Tr(H)², Proposition 1's lower bound on ratio (empty where â is)", |r| r.report.proposition1.bound.into()),
    ("prop1_bound_stderr", "standard error of prop1_bound from trace_h's, by the delta method", |r| {
        derived(r, Derived::Bound, r.report.proposition1.bound)
    }),
    ("prop1_bound_holds", "prop1_bound ≤ ratio, to 1e-6 relative (empty when either is empty)", |r| r.report.proposition1.bound_holds.into()),
    ("prop1_first_k", "smallest k with d_k > ½ (condition 1) among the eigenvalues computed (all D with --full-spectrum); empty: not reached within k = prop1_k_max", |r| {
        r.report.proposition1.first_ill_conditioned_k.map_or(Cell::Empty, |k| Cell::Int(k as u64))
    }),
    ("prop1_k_max", "largest k condition 1 was tested at: top-k eigenvalues − 1 (raise with --prop1-k-max), D − 1 with --full-spectrum", |r| {
        Cell::Int(r.report.proposition1.ill_conditioning_k_max as u64)
    }),
    ("negative_curvature", "a computed eigenvalue is below −1e-6·|λ|max (H indefinite: outside Proposition 1); false needs a converged λ_min or --full-spectrum; empty: unknown", |r| {
        r.report.proposition1.negative_curvature.into()
    }),
    ("expected_sharpness", "E[L(θ+ν)] − L(θ), ν ~ N(0, σ²I) (empty with --no-sharpness)", |r| {
        r.report.expected_sharpness.as_ref().map(|s| s.signed.value).into()
    }),
    ("expected_sharpness_stderr", "standard error of expected_sharpness", |r| r.report.expected_sharpness.as_ref().map(|s| s.signed.stderr).into()),
    ("expected_sharpness_abs", "E|L(θ+ν) − L(θ)|, the variant of the paper's code", |r| {
        r.report.expected_sharpness.as_ref().map(|s| s.absolute.value).into()
    }),
    ("expected_sharpness_abs_stderr", "standard error of expected_sharpness_abs", |r| {
        r.report.expected_sharpness.as_ref().map(|s| s.absolute.stderr).into()
    }),
    ("sharpness_sigma", "σ of the sharpness perturbations", |r| r.report.expected_sharpness.as_ref().map(|s| s.sigma).into()),
    ("epsilon_sharpness", "Keskar et al.'s ε-sharpness (max over |δ_i| ≤ ε(|θ_i| + 1) of L(θ+δ) − L(θ))·100/(1 + L(θ)), by projected ascent: a lower bound (empty without --epsilon-sharpness)", |r| {
        r.report.epsilon_sharpness.as_ref().map(|s| s.normalised).into()
    }),
    ("adaptive_sharpness_avg", "E[L(θ+δ)] − L(θ), δ ~ N(0, ρ²diag(θ²)), Andriushchenko et al. 2023 (empty without --adaptive-sharpness-avg)", |r| {
        r.report.adaptive_sharpness_average.as_ref().map(|s| s.value.value).into()
    }),
    ("adaptive_sharpness_avg_stderr", "standard error of adaptive_sharpness_avg", |r| {
        r.report.adaptive_sharpness_average.as_ref().map(|s| s.value.stderr).into()
    }),
    ("adaptive_sharpness_l2", "max over ‖δ ⊘ |θ|‖₂ ≤ ρ of L(θ+δ) − L(θ), by projected ascent: a lower bound (empty without --adaptive-sharpness-l2)", |r| {
        r.report.adaptive_sharpness_l2.as_ref().map(|s| s.sharpness).into()
    }),
    ("adaptive_sharpness_linf", "max over |δ_i| ≤ ρ|θ_i| of L(θ+δ) − L(θ), by projected sign ascent: a lower bound (empty without --adaptive-sharpness-linf)", |r| {
        r.report.adaptive_sharpness_linf.as_ref().map(|s| s.sharpness).into()
    }),
    ("batch_size", "b: --batch, else the checkpoint's batch size (empty if neither)", |r| {
        r.report.minibatch.as_ref().map_or(Cell::Empty, |m| Cell::Int(m.batch_size as u64))
    }),
    ("minibatch_factor", "1/b: Σ of a batch of b drawn with replacement is Σ/b (not folded into the columns above)", |r| {
        r.report.minibatch.as_ref().map(|m| m.with_replacement).into()
    }),
    ("minibatch_factor_without_replacement", "(N − b)/(b·(N − 1)), the factor for b distinct samples", |r| {
        r.report.minibatch.as_ref().map(|m| m.without_replacement).into()
    }),
    ("hessian_converged", "every top-k Ritz pair met --tol (and, after a Lanczos breakdown, the rest of the space was searched)", |r| {
        Cell::Bool(r.report.hessian_converged)
    }),
    ("sigma_converged", "every top Σ Ritz pair met --tol (empty without --sigma-top-k)", |r| r.report.sigma_converged.into()),
    ("hvps", "Hessian-vector products Lanczos used for the top-k eigenpairs", |r| Cell::Int(r.report.hessian_applications as u64)),
    ("n_negative_eigenvalues", "eigenvalues of the full spectrum below −1e-6·max|λ| (empty without --full-spectrum)", |r| {
        r.report.whole_spectrum.as_ref().map_or(Cell::Empty, |w| Cell::Int(w.negative as u64))
    }),
    ("n_zero_eigenvalues", "eigenvalues of the full spectrum with |λ| ≤ 1e-6·max|λ| (empty without --full-spectrum)", |r| {
        r.report.whole_spectrum.as_ref().map_or(Cell::Empty, |w| Cell::Int(w.near_zero as u64))
    }),
    ("spectrum_asymmetry", "max|H − Hᵀ|/max|H| of the assembled Hessian before symmetrizing, over entries computed on both sides of the diagonal: pairs within one parameter tensor (empty without --full-spectrum)", |r| {
        r.report.whole_spectrum.as_ref().map(|w| w.asymmetry).into()
    }),
    ("spectrum_lanczos_rel_diff", "max over the top k of |λ_i(full) − λ_i(Lanczos)|/max|λ| (empty without --full-spectrum)", |r| {
        r.report.whole_spectrum.as_ref().map(|w| w.lanczos_max_rel_diff).into()
    }),
    ("seed", "master seed (--seed): each estimator draws from its own sub-seed of it (curvscope_metrics::purpose_seed)", |r| {
        Cell::Int(r.options.report.curvature.seed)
    }),
    ("data", "dataset spec the checkpoint was evaluated on", |r| Cell::Text(r.data.spec.clone())),
    ("data_seed", "seed of the dataset's random parts", |r| Cell::Int(r.data.seed)),
    ("options_hash", "fingerprint of the analysis options (see analysis.json); rows are reused only when it matches", |r| {
        Cell::Text(r.options_hash.clone())
    }),
    ("wall_time_s", "seconds spent computing this row", |r| Cell::Num(r.wall_time_s)),
];

/// The metrics.csv columns of `record` whose number is undefined (NaN or infinite), left empty.
pub fn undefined_columns(record: &CheckpointRecord) -> Vec<&'static str> {
    METRICS
        .iter()
        .filter(|(_, _, f)| matches!(f(record), Cell::Num(x) if !x.is_finite()))
        .map(|(name, _, _)| *name)
        .collect()
}

/// A long-format CSV: several rows per checkpoint.
pub struct LongTable {
    pub file: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
    pub rows: fn(&CheckpointRecord) -> Vec<Vec<Cell>>,
    /// Written only when some record has rows (an optional part of the analysis).
    pub optional: bool,
}

/// A row of a long table: checkpoint and step, then `rest`.
fn row<const N: usize>(r: &CheckpointRecord, rest: [Cell; N]) -> Vec<Cell> {
    [
        Cell::Text(r.checkpoint.clone()),
        r.meta.step.map_or(Cell::Empty, Cell::Int),
    ]
    .into_iter()
    .chain(rest)
    .collect()
}

/// eigenvalues.csv, spectrum.csv, prop1.csv, density.csv and layers.csv.
pub const LONG_TABLES: &[LongTable] = &[
    LongTable {
        file: EIGENVALUES_CSV,
        optional: false,
        columns: &[
            ("checkpoint", "checkpoint folder name"),
            ("step", "training step"),
            ("rank", "i = 1, 2, … (λ₁ ≥ λ₂ ≥ …)"),
            ("eigenvalue", "λ_i, top Hessian eigenvalue"),
            ("residual", "‖Hu_i − λ_i u_i‖ (Lanczos' estimate)"),
        ],
        rows: |r| {
            let pairs = r
                .report
                .hessian_eigenvalues
                .iter()
                .zip(&r.report.hessian_residuals)
                .enumerate();
            pairs
                .map(|(i, (&l, &res))| {
                    row(r, [Cell::Int(i as u64 + 1), Cell::Num(l), Cell::Num(res)])
                })
                .collect()
        },
    },
    LongTable {
        file: SPECTRUM_CSV,
        optional: true,
        columns: &[
            ("checkpoint", "checkpoint folder name"),
            ("step", "training step"),
            ("rank", "i = 1, …, D (λ₁ ≥ λ₂ ≥ …)"),
            (
                "eigenvalue",
                "λ_i, every Hessian eigenvalue (dense f64 eigendecomposition, --full-spectrum)",
            ),
        ],
        rows: |r| {
            let Some(w) = &r.report.whole_spectrum else {
                return Vec::new();
            };
            w.eigenvalues
                .iter()
                .enumerate()
                .map(|(i, &l)| row(r, [Cell::Int(i as u64 + 1), Cell::Num(l)]))
                .collect()
        },
    },
    LongTable {
        file: PROP1_CSV,
        optional: false,
        columns: &[
            ("checkpoint", "checkpoint folder name"),
            ("step", "training step"),
            ("k", "number of dominant eigenvalues"),
            ("lambda_k1", "λ_{k+1}"),
            (
                "d_k",
                "−log(λ_{k+1}/λ₁)/log D (inf when λ_{k+1} ≤ 0 but within rounding of 0, \
                 ≥ −1e-6·λ₁; empty when λ_{k+1} is below that or λ₁ ≤ 0)",
            ),
            ("holds", "condition 1 of Proposition 1 at this k: d_k > ½"),
        ],
        rows: |r| {
            let conditions = &r.report.proposition1.ill_conditioning;
            conditions
                .iter()
                .map(|c| {
                    row(
                        r,
                        [
                            Cell::Int(c.k as u64),
                            Cell::Num(c.lambda_k1),
                            exponent_cell(c.d),
                            Cell::Bool(c.holds),
                        ],
                    )
                })
                .collect()
        },
    },
    LongTable {
        file: DENSITY_CSV,
        optional: true,
        columns: &[
            ("checkpoint", "checkpoint folder name"),
            ("step", "training step"),
            ("lambda", "eigenvalue grid point"),
            (
                "density",
                "smoothed Hessian spectral density (SLQ, integrates to 1)",
            ),
        ],
        rows: |r| {
            let Some(d) = &r.report.density else {
                return Vec::new();
            };
            d.grid
                .iter()
                .zip(&d.values)
                .map(|(&x, &y)| row(r, [Cell::Num(x), Cell::Num(y)]))
                .collect()
        },
    },
    LongTable {
        file: LAYERS_CSV,
        optional: true,
        columns: &[
            ("checkpoint", "checkpoint folder name"),
            ("step", "training step"),
            (
                "tensor",
                "state_dict name of a tensor T of θ (a layer's weight or bias)",
            ),
            ("n_params", "D_T, its number of parameters"),
            (
                "trace_h",
                "Σ_{j∈T} H_jj, Tr(H) restricted to T (exact diag(H))",
            ),
            ("mean_diag_h", "trace_h / n_params"),
            (
                "trace_sigma",
                "Σ_{j∈T} Σ_jj = (1/N) Σ_i ‖g_i,T − ḡ_T‖², Tr(Σ) restricted to T",
            ),
        ],
        rows: |r| {
            r.report
                .layers
                .iter()
                .map(|l| {
                    row(
                        r,
                        [
                            Cell::Text(l.tensor.clone()),
                            Cell::Int(l.n_params as u64),
                            Cell::Num(l.trace_h),
                            Cell::Num(l.mean_diag_h),
                            Cell::Num(l.trace_sigma),
                        ],
                    )
                })
                .collect()
        },
    },
];

/// failures.csv columns.
pub const FAILURES: &[(&str, &str)] = &[
    ("checkpoint", "checkpoint folder name"),
    ("path", "checkpoint folder"),
    (
        "error",
        "why it could not be analyzed (the whole error chain)",
    ),
];

fn csv_bytes<'a>(
    header: impl IntoIterator<Item = &'a str>,
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row)?;
    }
    Ok(writer.into_inner().map_err(|e| e.into_error())?)
}

/// Rewrites every CSV whole from `records` (in checkpoint order) and `failures`, each
/// atomically. The optional tables (density.csv, layers.csv, …) are written only when some
/// record has rows for them, and removed otherwise: one left by an analysis with other options
/// would pass for this one's (its rows live on in the records set aside, which rebuild it).
pub fn write_all(dir: &Path, records: &[&CheckpointRecord], failures: &[Failure]) -> Result<()> {
    let metrics = records
        .iter()
        .map(|r| METRICS.iter().map(|(_, _, f)| f(r).render()).collect());
    write_atomic(
        &dir.join(METRICS_CSV),
        &csv_bytes(METRICS.iter().map(|c| c.0), metrics)?,
    )?;
    for table in LONG_TABLES {
        let rows: Vec<Vec<String>> = records
            .iter()
            .flat_map(|r| (table.rows)(r))
            .map(|row| row.iter().map(Cell::render).collect())
            .collect();
        if table.optional && rows.is_empty() {
            remove_if_present(&dir.join(table.file))?;
            continue;
        }
        write_atomic(
            &dir.join(table.file),
            &csv_bytes(table.columns.iter().map(|c| c.0), rows)?,
        )?;
    }
    let failed = failures.iter().map(|f| {
        vec![
            f.checkpoint.clone(),
            f.path.display().to_string(),
            f.error.clone(),
        ]
    });
    Ok(write_atomic(
        &dir.join(FAILURES_CSV),
        &csv_bytes(FAILURES.iter().map(|c| c.0), failed)?,
    )?)
}

/// Every file's columns and their meaning, for analysis.json.
pub fn column_docs() -> serde_json::Value {
    let files = documented_files().into_iter().map(|(file, columns, _)| {
        let columns: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .map(|&(name, meaning)| (name.to_string(), meaning.into()))
            .collect();
        (file.to_string(), columns.into())
    });
    serde_json::Value::Object(files.collect())
}

/// A CSV an analysis may write: its name, its columns in order with their meaning, and whether
/// only some options write it.
type DocumentedFile = (&'static str, Vec<(&'static str, &'static str)>, bool);

/// Every CSV an analysis may write, in the order README.md lists them.
fn documented_files() -> Vec<DocumentedFile> {
    let metrics = METRICS.iter().map(|c| (c.0, c.1)).collect();
    std::iter::once((METRICS_CSV, metrics, false))
        .chain(
            LONG_TABLES
                .iter()
                .map(|t| (t.file, t.columns.to_vec(), t.optional)),
        )
        .chain([(FAILURES_CSV, FAILURES.to_vec(), false)])
        .collect()
}

/// README.md for the output folder: what each file holds, column by column, in the files'
/// own column order.
pub fn readme() -> String {
    let mut text = String::from(
        "# curvscope analysis\n\nWritten by `curvscope analyze`; options in `analysis.json`, one full JSON \
         record per checkpoint in `reports/`. Σ is the one-sample gradient noise covariance.\n",
    );
    for (file, columns, optional) in documented_files() {
        let when = if optional {
            " (written only when some checkpoint has rows for it)"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n## {file}{when}\n\n| column | meaning |\n|---|---|\n"
        ));
        for (name, meaning) in &columns {
            text.push_str(&format!("| {name} | {meaning} |\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_infinite_exponent_is_written_inf_and_an_undefined_one_empty() {
        let text = |d| exponent_cell(d).render();
        assert_eq!(text(Some(f64::INFINITY)), "inf");
        assert_eq!(text(Some(0.75)), "0.75");
        assert_eq!(text(None), "");
        assert_eq!(
            "inf".parse::<f64>(),
            Ok(f64::INFINITY),
            "read back as a number"
        );
    }
}
