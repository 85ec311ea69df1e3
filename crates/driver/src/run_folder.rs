//! A run folder: run.json (the configuration a resume must match), one checkpoint folder per
//! snapshot (`step-NNNNNN/`) and run.csv (the losses at each snapshot), written so that a killed
//! run can be resumed from its last complete snapshot. In a job of several ranks only rank 0
//! reads and writes the folder; every rank computes the rows' numbers (they are collective).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use curvscope_hessian::non_finite;
use curvscope_metrics::{purpose_seed, Descent, DescentOptions, Purpose};
use curvscope_model::checkpoint::{META_FILE, MODEL_FILE};
use curvscope_model::files::{is_atomic_write_leftover, move_aside, write_atomic};
use curvscope_model::{
    load_checkpoint, save_checkpoint, ArchSpec, CheckpointMeta, DatasetInfo, Dtype, Init,
    Objective, Precision,
};
use serde::{Deserialize, Serialize};

use crate::flags;
use crate::job::Job;

/// The run's configuration file.
pub const RUN_JSON: &str = "run.json";
/// The per-snapshot losses. `noise_trace`: E‖ε‖² of the Gaussian noise the steps before the
/// row drew ([`Descent::noise_trace`]; empty for GD, SGD and M-SGD). `noise_unconverged`:
/// noise-structure estimates since the previous row whose Lanczos run did not converge (GLD
/// leading, Hessian and 1st eigvec; empty for the other dynamics). wall_time_s stays last: a
/// resumed run reads it from the last cell.
pub const RUN_CSV: &str = "run.csv";
/// checkpoint.json's fields for run.csv's `noise_trace` and `noise_unconverged` of its step.
const NOISE_TRACE: &str = "noise_trace";
const NOISE_UNCONVERGED: &str = "noise_unconverged";
pub const RUN_CSV_HEADER: &str = "step,train_loss,train_accuracy,test_loss,test_accuracy,\
     noise_trace,noise_unconverged,wall_time_s";
/// run.csv's header before `noise_trace`: its rows are read with that cell empty.
const RUN_CSV_HEADER_BEFORE_NOISE_TRACE: &str =
    "step,train_loss,train_accuracy,test_loss,test_accuracy,noise_unconverged,wall_time_s";

/// checkpoint.json's `noise_trace`: a NaN or ±∞ as its text ("NaN", "inf"), which a JSON number
/// cannot hold (serde_json writes null, and the row rebuilt from it lost the value).
fn noise_trace_json(trace: f64) -> serde_json::Value {
    non_finite::serialize(&trace, serde_json::value::Serializer).expect("a number or text")
}

/// A `noise_trace` read back ([`noise_trace_json`]). null, which runs before it wrote for NaN and
/// ±∞ alike, reads as NaN: an ∞ of theirs is lost.
fn noise_trace_from_json(value: &serde_json::Value) -> Option<f64> {
    non_finite::deserialize(value).ok()
}

/// Everything that determines a run, saved as run.json; a resumed run must match it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub arch: ArchSpec,
    pub data: String,
    pub data_seed: u64,
    pub dataset: DatasetInfo,
    pub eval_data: Option<String>,
    pub eval_dataset: Option<DatasetInfo>,
    /// The dynamic and every setting of its noise, the seed included (θ₀'s `init_seed` derives
    /// from it), as run.json's top-level fields: one list, so a new noise option is recorded
    /// and checked on resume without being listed here again. The fields added later
    /// (`noise_every`, `leading_unscaled`, `noise_samples`, `noise_trace`) default when an older
    /// run.json lacks them.
    #[serde(flatten)]
    pub descent: DescentOptions,
    pub lr: f64,
    pub steps: u64,
    pub snapshot_every: u64,
    /// θ₀'s random initialisation, or `None` with `init_from`.
    pub init: Option<Init>,
    /// The seed θ₀ is drawn from with `init`: the seed's own [`Purpose::InitialTheta`] seed.
    /// A run.json written before 2026-12-03 has none: its θ₀ was drawn from the seed itself,
    /// on the stream step 0's noise reads, and it resumes so ([`RunConfig::theta0_seed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_seed: Option<u64>,
    pub init_from: Option<PathBuf>,
    pub precision: Precision,
}

impl RunConfig {
    /// `init_seed` for a run whose θ₀ is drawn (`init`), unless `shares_step_zero_stream`
    /// (a resumed run.json without one).
    pub fn drawn_init_seed(
        init: Option<Init>,
        seed: u64,
        shares_step_zero_stream: bool,
    ) -> Option<u64> {
        (init.is_some() && !shares_step_zero_stream)
            .then(|| purpose_seed(seed, Purpose::InitialTheta))
    }

    /// The seed of θ₀'s draw: `init_seed`, or the run's seed where run.json predates it.
    pub fn theta0_seed(&self) -> u64 {
        self.init_seed.unwrap_or(self.descent.seed)
    }

    /// What each of the run's checkpoints records of it (before the per-snapshot extras).
    fn snapshot_meta(&self, step: u64) -> CheckpointMeta {
        CheckpointMeta {
            step: Some(step),
            dynamic: Some(self.descent.dynamic.name().into()),
            lr: Some(self.lr),
            batch_size: Some(self.descent.batch),
            seed: Some(self.descent.seed),
            dataset: Some(self.dataset.clone()),
            ..CheckpointMeta::new(self.arch.clone())
        }
    }

    /// Where a checkpoint's record differs from what this run writes into its snapshots:
    /// the field, as recorded and as this run has it. A snapshot copied in from another run
    /// (another seed, rate, dynamic, network or data) is no point to resume this one from.
    fn foreign_field(&self, meta: &CheckpointMeta) -> Option<(&'static str, String, String)> {
        let ours = self.snapshot_meta(meta.step.unwrap_or_default());
        let (was, now) = (
            serde_json::to_value(meta).ok()?,
            serde_json::to_value(&ours).ok()?,
        );
        let show = |v: Option<&serde_json::Value>| v.map_or("nothing".into(), |v| v.to_string());
        let differs = |field| (was.get(field) != now.get(field)).then_some(field);
        let same_data =
            matches!((&meta.dataset, &ours.dataset), (Some(a), Some(b)) if a.same_data(b));
        ["arch", "dynamic", "lr", "batch_size", "seed"]
            .into_iter()
            .find_map(differs)
            .or((!same_data).then_some("dataset"))
            .map(|field| (field, show(was.get(field)), show(now.get(field))))
    }

    /// Every field (other than `steps`, which a resume may raise) where `self` differs, as
    /// (field, was, now): `seed` before the others, since `init_seed` is drawn from it (a
    /// changed --seed is named as such), then in alphabetical order.
    pub fn differences(&self, other: &RunConfig) -> Vec<(String, String, String)> {
        let (Ok(a), Ok(b)) = (serde_json::to_value(self), serde_json::to_value(other)) else {
            return Vec::new();
        };
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        let seed = a.get_key_value("seed");
        seed.into_iter()
            .chain(a.iter().filter(|(key, _)| key.as_str() != "seed"))
            .filter(|(key, _)| key.as_str() != "steps")
            .filter(|(key, value)| b.get(key.as_str()) != Some(value))
            .map(|(key, value)| {
                (
                    key.clone(),
                    value.to_string(),
                    b.get(key.as_str())
                        .map_or("nothing".into(), |v| v.to_string()),
                )
            })
            .collect()
    }
}

pub fn snapshot_dir(out: &Path, step: u64) -> PathBuf {
    out.join(format!("step-{step:06}"))
}

/// run.csv's noise cells of a row.
#[derive(Default)]
struct NoiseCells {
    trace: Option<f64>,
    unconverged: Option<u64>,
}

/// The training state the loop writes into: checkpoints and run.csv.
pub struct Run<'a> {
    pub config: &'a RunConfig,
    pub out: &'a Path,
    /// The ranks: rank 0 alone writes.
    pub job: &'a Job,
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
    /// Saves θ at `step` and then appends its row to run.csv, so a row always has its checkpoint;
    /// the noise cells are `descent`'s ([`Descent::noise_trace`],
    /// [`Descent::take_unconverged_estimates`]). Returns the training loss. Every rank calls
    /// it; rank 0 writes.
    pub fn snapshot(&mut self, step: u64, theta: &[f64], descent: &mut Descent) -> Result<f64> {
        let noise = NoiseCells {
            trace: descent.noise_trace(),
            unconverged: descent.take_unconverged_estimates(),
        };
        let c = self.config;
        let mut meta = c.snapshot_meta(step);
        // The dataset spec, so `curvscope analyze` evaluates on the training data by default.
        meta.extra
            .insert("data".into(), stored_data_spec(&c.data)?.into());
        if let Some(rho) = self.noise_std {
            meta.extra.insert("noise_std".into(), rho.into());
        }
        // Kept with θ, so a row rebuilt from this snapshot after a kill has them too.
        if let Some(trace) = noise.trace {
            meta.extra
                .insert(NOISE_TRACE.into(), noise_trace_json(trace));
        }
        if let Some(n) = noise.unconverged {
            meta.extra.insert(NOISE_UNCONVERGED.into(), n.into());
        }
        let dtype = match c.precision {
            Precision::F32 => Dtype::F32,
            Precision::F64 => Dtype::F64,
        };
        if self.job.leads() {
            save_snapshot(&snapshot_dir(self.out, step), &meta, theta, dtype)?;
        }
        let wall = self.wall_offset + self.started.elapsed().as_secs_f64();
        let (loss, row) = self.row(step, theta, &noise, Some(wall));
        self.rows.push(row);
        self.write_csv()?;
        Ok(loss)
    }

    /// The training loss at θ and run.csv's row for it (the noise cells and `wall` empty when
    /// unknown).
    fn row(
        &self,
        step: u64,
        theta: &[f64],
        noise: &NoiseCells,
        wall: Option<f64>,
    ) -> (f64, String) {
        let (loss, accuracy) = self.objective.loss_and_accuracy(theta);
        let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let (test_loss, test_accuracy) = match &self.eval {
            Some(eval) => {
                let (loss, accuracy) = eval.loss_and_accuracy(theta);
                (Some(loss), accuracy)
            }
            None => (None, None),
        };
        let row = format!(
            "{step},{loss},{},{},{},{},{},{}",
            cell(accuracy),
            cell(test_loss),
            cell(test_accuracy),
            cell(noise.trace),
            noise.unconverged.map_or(String::new(), |n| n.to_string()),
            wall.map_or(String::new(), |w| format!("{w:.3}"))
        );
        (loss, row)
    }

    /// run.csv rebuilt for a resume from step `start`: one row per verified snapshot in
    /// `steps`, the valid row read back where there is one, else recomputed from the checkpoint
    /// (wall time left empty; the noise cells as the checkpoint kept them), and the valid rows
    /// before `start` whose snapshot is gone (pruned by hand: the log of the path that led here
    /// stays). Rows from `start` on without a snapshot are dropped, as that part is trained
    /// again (from step 0 without a snapshot, step 0's row is logged again). Says on stderr
    /// what it changed. In a job of several ranks, rank 0's `read` (the others pass none)
    /// decides which rows are recomputed, and it sends each checkpoint's θ to the others, which
    /// take part in the rows' collective numbers.
    pub fn rebuild_csv(
        &mut self,
        start: u64,
        steps: &[u64],
        read: Vec<(u64, String)>,
    ) -> Result<()> {
        let kept = |step: u64| step < start || steps.contains(&step);
        for (step, row) in read.iter().filter(|(s, _)| !kept(*s)) {
            eprintln!(
                "{}: dropping the row of step {step} ({row}): no complete snapshot {}",
                self.out.join(RUN_CSV).display(),
                snapshot_dir(self.out, *step).display()
            );
        }
        let unread = steps
            .iter()
            .filter(|step| !read.iter().any(|(s, _)| s == *step))
            .map(|&step| step as f64)
            .collect();
        let mut recomputed = Vec::new();
        for step in self.job.leaders_numbers(unread) {
            let (step, dir) = (step as u64, snapshot_dir(self.out, step as u64));
            let (theta, noise) = match self.job.leads() {
                true => {
                    let checkpoint = load_checkpoint(&dir)?;
                    let field = |name| checkpoint.meta.extra.get(name);
                    let noise = NoiseCells {
                        trace: field(NOISE_TRACE).and_then(noise_trace_from_json),
                        unconverged: field(NOISE_UNCONVERGED).and_then(|n| n.as_u64()),
                    };
                    (checkpoint.theta, noise)
                }
                false => (Vec::new(), NoiseCells::default()),
            };
            let theta = self.job.leaders_numbers(theta);
            if self.job.leads() {
                eprintln!(
                    "{}: recomputing the row of step {step} from {} (wall time unknown)",
                    self.out.join(RUN_CSV).display(),
                    dir.display()
                );
            }
            recomputed.push((step, self.row(step, &theta, &noise, None).1));
        }
        let mut rows: Vec<(u64, String)> = read.into_iter().filter(|(s, _)| kept(*s)).collect();
        rows.extend(recomputed);
        rows.sort_by_key(|(step, _)| *step);
        rows.dedup_by_key(|(step, _)| *step);
        self.rows = rows.into_iter().map(|(_, row)| row).collect();
        self.write_csv()
    }

    /// Rewrites run.csv whole (rank 0; the others return).
    fn write_csv(&self) -> Result<()> {
        if !self.job.leads() {
            return Ok(());
        }
        let text: String = std::iter::once(RUN_CSV_HEADER)
            .chain(self.rows.iter().map(String::as_str))
            .map(|l| format!("{l}\n"))
            .collect();
        Ok(write_atomic(&self.out.join(RUN_CSV), text.as_bytes())?)
    }
}

/// The `data` spec stored in each checkpoint: an .npz path made absolute, since a relative
/// one is read relative to the checkpoint folder; refused where that path is not UTF-8 (a
/// working folder of such a name), which the checkpoint could only record as another name.
pub fn stored_data_spec(spec: &str) -> Result<String> {
    let path = Path::new(spec);
    if !(spec.ends_with(".npz") && path.is_relative()) {
        return Ok(spec.to_string());
    }
    let Ok(real) = path.canonicalize() else {
        return Ok(spec.to_string());
    };
    let real = real.to_str().with_context(|| {
        let subject = format!("--data {spec}: its real path {}", real.display());
        flags::not_utf8(subject, "rename it")
    })?;
    Ok(real.to_string())
}

/// Suffix of the folder a snapshot is written into before it is renamed into place, so a kill
/// mid-save never leaves a `step-NNNNNN` folder that looks like a snapshot.
const STAGING: &str = "partial";
/// Suffix (then `-1`, `-2`, …) of a snapshot folder set aside because it does not load.
const SET_ASIDE: &str = "bad";

/// Writes the checkpoint into `<dir>.partial` and renames it to `dir`.
fn save_snapshot(dir: &Path, meta: &CheckpointMeta, theta: &[f64], dtype: Dtype) -> Result<()> {
    let staging = dir.with_extension(STAGING);
    clear_staging(&staging)?;
    save_checkpoint(&staging, meta, theta, dtype)
        .with_context(|| format!("saving {}", staging.display()))?;
    std::fs::rename(&staging, dir)
        .with_context(|| format!("renaming {} to {}", staging.display(), dir.display()))
}

/// Removes a staging folder left by a killed save: only the files a save writes (the
/// checkpoint files and write_atomic's `.tmp*` files); anything else stops the run.
fn clear_staging(staging: &Path) -> Result<()> {
    let Ok(kind) = std::fs::symlink_metadata(staging) else {
        return Ok(());
    };
    // Never through a link: the files it points at are not a save cut short.
    ensure!(
        kind.is_dir(),
        "{} is not a folder curvscope made (a link or a file): move it away",
        staging.display()
    );
    let reading = || format!("reading {}", staging.display());
    for entry in std::fs::read_dir(staging).with_context(reading)? {
        let path = entry.with_context(reading)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if [MODEL_FILE, META_FILE].contains(&name) || is_atomic_write_leftover(name) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    std::fs::remove_dir(staging).with_context(|| {
        format!(
            "{} holds files curvscope did not write: move them away",
            staging.display()
        )
    })
}

/// Whether `name` is a folder a run leaves beside its snapshots (a save cut short, or a
/// snapshot set aside by a resume): not a checkpoint to analyze.
pub fn is_leftover(name: &str) -> bool {
    let Some((step, suffix)) = name.strip_prefix("step-").and_then(|r| r.split_once('.')) else {
        return false;
    };
    step.parse::<u64>().is_ok()
        && (suffix == STAGING
            || suffix
                .strip_prefix(SET_ASIDE)
                .and_then(|n| n.strip_prefix('-'))
                .is_some_and(|n| n.parse::<u64>().is_ok()))
}

/// The steps of `out`'s snapshots that load completely, record their own step and are this
/// run's (`config`: its network, dynamic, rate, batch, seed and data), in order. Any other
/// `step-NNNNNN/` folder is renamed to `step-NNNNNN.bad-K`, never deleted, and the reason it
/// does not belong is printed.
pub fn verified_snapshots(out: &Path, config: &RunConfig) -> Result<Vec<u64>> {
    let mut steps: Vec<u64> = std::fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            // Only the name a snapshot is written under: a copy named `step-10` is no
            // second snapshot of step 10.
            (snapshot_dir(Path::new(""), step) == Path::new(&name)).then_some(step)
        })
        .collect();
    steps.sort_unstable();
    let mut good = Vec::new();
    for step in steps {
        let dir = snapshot_dir(out, step);
        let problem = match load_checkpoint(&dir) {
            Ok(ckpt) if ckpt.meta.step != Some(step) => format!(
                "{} records step {:?}, not {step}",
                dir.join(META_FILE).display(),
                ckpt.meta.step
            ),
            Ok(ckpt) => match config.foreign_field(&ckpt.meta) {
                None => {
                    good.push(step);
                    continue;
                }
                Some((field, was, now)) => format!(
                    "{} is another run's: its {field} is {was}, this run's {now}",
                    dir.join(META_FILE).display()
                ),
            },
            Err(e) => format!("{:#}", anyhow::Error::new(e)),
        };
        let aside = move_aside(&dir, SET_ASIDE)?;
        eprintln!(
            "warning: {} is not a complete snapshot ({problem}); moved to {}",
            dir.display(),
            aside.display()
        );
    }
    Ok(good)
}

/// run.csv's valid rows as (step, row), in file order. Each row is checked strictly: the
/// header, as many fields as it has, an integer step seen once, numbers or empty cells; the
/// rest is dropped (and said on stderr), so a cut or garbled line never shifts values between
/// columns.
pub fn read_rows(out: &Path) -> Result<Vec<(u64, String)>> {
    let path = out.join(RUN_CSV);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{}: missing; rebuilt from the snapshots", path.display());
            return Ok(Vec::new());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut lines = text.lines();
    let before_noise_trace = match lines.next() {
        Some(RUN_CSV_HEADER) => false,
        Some(RUN_CSV_HEADER_BEFORE_NOISE_TRACE) => true,
        _ => {
            eprintln!(
                "{}: the first line is not the header {RUN_CSV_HEADER}; every row is rebuilt from the snapshots",
                path.display()
            );
            return Ok(Vec::new());
        }
    };
    let mut rows: Vec<(u64, String)> = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = match before_noise_trace {
            true => with_empty_noise_trace(line),
            false => line.to_string(),
        };
        match parse_row(&line) {
            Ok(step) if rows.iter().any(|(s, _)| *s == step) => eprintln!(
                "{}: dropping line {} ({line}): step {step} appears twice",
                path.display(),
                i + 2
            ),
            Ok(step) => rows.push((step, line)),
            Err(why) => eprintln!(
                "{}: dropping line {} ({line}): {why}",
                path.display(),
                i + 2
            ),
        }
    }
    Ok(rows)
}

/// A row of run.csv's header before `noise_trace` with that cell, empty, as the sixth.
fn with_empty_noise_trace(row: &str) -> String {
    let mut fields: Vec<&str> = row.splitn(6, ',').collect();
    if fields.len() == 6 {
        fields.insert(5, "");
    }
    fields.join(",")
}

/// The step of a well-formed run.csv row, else what is wrong with it.
fn parse_row(row: &str) -> Result<u64, String> {
    let fields: Vec<&str> = row.split(',').collect();
    let expected = RUN_CSV_HEADER.split(',').count();
    if fields.len() != expected {
        return Err(format!("{} fields, expected {expected}", fields.len()));
    }
    let step = fields[0]
        .parse()
        .map_err(|_| format!("step '{}' is not a whole number", fields[0]))?;
    match fields[1..]
        .iter()
        .find(|f| !f.is_empty() && f.parse::<f64>().is_err())
    {
        Some(bad) => Err(format!("'{bad}' is not a number")),
        None => Ok(step),
    }
}

/// Training seconds recorded before a resume: the last wall time in `rows`.
pub fn recorded_wall_time(rows: &[String]) -> f64 {
    rows.iter()
        .rev()
        .find_map(|r| r.rsplit(',').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every noise trace comes back from checkpoint.json as it was written, NaN and ±∞ too.
    #[test]
    fn noise_traces_survive_checkpoint_json() {
        for trace in [2.5e-3, 0.0, f64::INFINITY, f64::NEG_INFINITY] {
            let text = noise_trace_json(trace).to_string();
            let back = noise_trace_from_json(&serde_json::from_str(&text).unwrap());
            assert_eq!(back, Some(trace), "{text}");
        }
        let nan = noise_trace_json(f64::NAN);
        assert_eq!(nan, "NaN");
        assert!(noise_trace_from_json(&nan).unwrap().is_nan());
        assert!(noise_trace_from_json(&serde_json::Value::Null)
            .unwrap()
            .is_nan());
    }
}
