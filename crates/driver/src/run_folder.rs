//! A run folder: run.json (the configuration a resume must match), one checkpoint folder per
//! snapshot (`step-NNNNNN/`) and run.csv (the losses at each snapshot), written so that a killed
//! run can be resumed from its last complete snapshot.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use curvscope_metrics::Dynamic;
use curvscope_model::files::write_atomic;
use curvscope_model::{
    load_checkpoint, save_checkpoint, ArchSpec, CheckpointMeta, DatasetInfo, Dtype, Init,
    Objective, Precision,
};
use serde::{Deserialize, Serialize};

/// The run's configuration file.
pub const RUN_JSON: &str = "run.json";
/// The per-snapshot losses.
pub const RUN_CSV: &str = "run.csv";
pub const RUN_CSV_HEADER: &str =
    "step,train_loss,train_accuracy,test_loss,test_accuracy,wall_time_s";

/// Everything that determines a run, saved as run.json; a resumed run must match it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub arch: ArchSpec,
    pub data: String,
    pub data_seed: u64,
    pub dataset: DatasetInfo,
    pub eval_data: Option<String>,
    pub eval_dataset: Option<DatasetInfo>,
    pub dynamic: Dynamic,
    pub lr: f64,
    pub batch: usize,
    pub steps: u64,
    pub snapshot_every: u64,
    pub refresh_every: u64,
    pub noise_std: Option<f64>,
    pub rank: usize,
    /// θ₀'s random initialisation, or `None` with `init_from`.
    pub init: Option<Init>,
    pub init_from: Option<PathBuf>,
    pub seed: u64,
    pub precision: Precision,
}

impl RunConfig {
    /// The first field (other than `steps`, which a resume may raise) where `self` differs.
    pub fn first_difference(&self, other: &RunConfig) -> Option<(String, String, String)> {
        let (a, b) = (
            serde_json::to_value(self).ok()?,
            serde_json::to_value(other).ok()?,
        );
        let (a, b) = (a.as_object()?, b.as_object()?);
        a.iter()
            .filter(|(key, _)| key.as_str() != "steps")
            .find(|(key, value)| b.get(key.as_str()) != Some(value))
            .map(|(key, value)| {
                (
                    key.clone(),
                    value.to_string(),
                    b.get(key.as_str())
                        .map_or("nothing".into(), |v| v.to_string()),
                )
            })
    }
}

pub fn snapshot_dir(out: &Path, step: u64) -> PathBuf {
    out.join(format!("step-{step:06}"))
}

/// The training state the loop writes into: checkpoints and run.csv.
pub struct Run<'a> {
    pub config: &'a RunConfig,
    pub out: &'a Path,
    pub objective: &'a dyn Objective,
    pub eval: Option<Box<dyn Objective>>,
    /// run.csv's data rows, kept so each rewrite is the whole file.
    pub rows: Vec<String>,
    /// Training seconds before this invocation started.
    pub wall_offset: f64,
    pub started: Instant,
    /// gld-const's ρ as used, recorded in each checkpoint.
    pub noise_std: Option<f64>,
}

impl Run<'_> {
    /// Saves θ at `step` and then appends its row to run.csv, so a row always has its checkpoint.
    /// Returns the training loss.
    pub fn snapshot(&mut self, step: u64, theta: &[f64]) -> Result<f64> {
        let c = self.config;
        let mut meta = CheckpointMeta {
            step: Some(step),
            dynamic: Some(c.dynamic.name().into()),
            lr: Some(c.lr),
            batch_size: Some(c.batch),
            seed: Some(c.seed),
            dataset: Some(c.dataset.clone()),
            ..CheckpointMeta::new(c.arch.clone())
        };
        // The dataset spec, so `curvscope analyze` evaluates on the training data by default.
        meta.extra.insert("data".into(), c.data.clone().into());
        if let Some(rho) = self.noise_std {
            meta.extra.insert("noise_std".into(), rho.into());
        }
        let dtype = match c.precision {
            Precision::F32 => Dtype::F32,
            Precision::F64 => Dtype::F64,
        };
        let dir = snapshot_dir(self.out, step);
        save_checkpoint(&dir, &meta, theta, dtype)
            .with_context(|| format!("saving {}", dir.display()))?;
        let loss = self.objective.loss(theta);
        let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let (test_loss, test_accuracy) = match &self.eval {
            Some(eval) => (Some(eval.loss(theta)), eval.accuracy(theta)),
            None => (None, None),
        };
        let wall = self.wall_offset + self.started.elapsed().as_secs_f64();
        self.rows.push(format!(
            "{step},{loss},{},{},{},{wall:.3}",
            cell(self.objective.accuracy(theta)),
            cell(test_loss),
            cell(test_accuracy)
        ));
        self.write_csv()?;
        Ok(loss)
    }

    fn write_csv(&self) -> Result<()> {
        let text: String = std::iter::once(RUN_CSV_HEADER)
            .chain(self.rows.iter().map(String::as_str))
            .map(|l| format!("{l}\n"))
            .collect();
        Ok(write_atomic(&self.out.join(RUN_CSV), text.as_bytes())?)
    }
}

/// The last snapshot of `out` that loads completely, with its θ; folders beyond it (a save cut
/// short) are removed so that nothing downstream mistakes them for snapshots.
pub fn last_complete_snapshot(out: &Path) -> Result<(u64, Vec<f64>)> {
    let mut steps: Vec<u64> = std::fs::read_dir(out)?
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("step-")?
                .parse()
                .ok()
        })
        .collect();
    steps.sort_unstable_by(|a, b| b.cmp(a));
    for (i, &step) in steps.iter().enumerate() {
        match load_checkpoint(&snapshot_dir(out, step)) {
            Ok(ckpt) if ckpt.meta.step == Some(step) => {
                for &partial in &steps[..i] {
                    let dir = snapshot_dir(out, partial);
                    eprintln!("removing incomplete snapshot {}", dir.display());
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("removing {}", dir.display()))?;
                }
                return Ok((step, ckpt.theta));
            }
            _ => continue,
        }
    }
    bail!(
        "{} holds no complete snapshot to resume from",
        out.display()
    )
}

/// run.csv's rows up to and including `step` (later ones belong to no snapshot any more).
pub fn csv_rows_through(out: &Path, step: u64) -> Result<Vec<String>> {
    let path = out.join(RUN_CSV);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(text
        .lines()
        .skip(1)
        .filter(|row| row_step(row).is_some_and(|s| s <= step))
        .map(String::from)
        .collect())
}

/// The step of a run.csv row.
pub fn row_step(row: &str) -> Option<u64> {
    row.split(',').next()?.parse().ok()
}
