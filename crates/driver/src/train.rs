//! `curvscope train`: θ ← θ − η g̃ with g̃ drawn by one of the dynamics in
//! `curvscope_metrics::Descent`, snapshotting checkpoints and losses into a run folder that a
//! killed or interrupted run can `--resume` bit for bit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;
use curvscope_metrics::{isotropic_std, Descent, DescentOptions, Dynamic};
use curvscope_model::{
    load_checkpoint, save_checkpoint, ArchSpec, CheckpointMeta, Dataset, DatasetInfo, Dtype, Init,
    Objective,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::common::{self, Device, DATA_HELP};
use curvscope_model::Precision;

/// The run's configuration file.
const RUN_FILE: &str = "run.json";
/// The per-snapshot losses.
const CSV_FILE: &str = "run.csv";
const CSV_HEADER: &str = "step,train_loss,train_accuracy,test_loss,test_accuracy,wall_time_s";

/// How to draw θ₀ when not starting from a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum InitKind {
    /// PyTorch's default: U(−1/√fan_in, 1/√fan_in) for weights and biases.
    Pytorch,
    /// N(0, std²) for every parameter (std from --init-std; the paper's 0.02).
    Normal,
}

/// The dynamics with a one-line description each, as `--dynamic`'s possible values.
fn dynamic_parser() -> impl TypedValueParser<Value = Dynamic> {
    let values = Dynamic::ALL.map(|d| PossibleValue::new(d.name()).help(d.description()));
    PossibleValuesParser::new(values).map(|name| name.parse::<Dynamic>().expect("a listed name"))
}

/// Arguments of `curvscope train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Architecture: lenet, toy2d, or JSON such as
    /// '{"name":"mlp","input":64,"hidden":[8],"classes":10,"activation":"tanh"}'.
    /// Optional with --init-from, whose architecture it must match.
    #[arg(long)]
    arch: Option<String>,
    #[arg(long, help = DATA_HELP)]
    data: String,
    /// Seed of the dataset's random parts (fashion-corrupted's random labels), kept apart from
    /// --seed so runs with different seeds share one dataset.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// The dynamic θ ← θ − η(∇L + ε): its noise ε, matched to SGD's trace Tr(Σ)/b
    /// (Zhu et al. 2019, Table 1; M-SGD of Wu et al. 2020).
    #[arg(long, value_parser = dynamic_parser())]
    dynamic: Dynamic,
    /// Learning rate η.
    #[arg(long)]
    lr: f64,
    /// Batch size b: the minibatch of the SGD dynamics and the noise scale of all others.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Number of steps of the whole run (may be raised on --resume to extend a run).
    #[arg(long)]
    steps: u64,
    /// Save a checkpoint step-NNNNNN/ and a run.csv row every this many steps (and at step 0
    /// and the last step).
    #[arg(long, default_value_t = 100)]
    snapshot_every: u64,
    /// Start from this checkpoint folder instead of a random θ₀.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Random initialisation of θ₀ (ignored with --init-from).
    #[arg(long, value_enum, default_value_t = InitKind::Pytorch)]
    init: InitKind,
    /// Standard deviation of --init normal.
    #[arg(long, default_value_t = 0.02)]
    init_std: f64,
    /// Seed of θ₀ and of every step's noise (ChaCha8, stream = step number).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Precision of the model's arithmetic; checkpoints are stored in it (θ is kept exactly
    /// representable, so a resumed run continues bit for bit).
    #[arg(long, default_value_t = Precision::F32, value_parser = crate::common::precision_parser())]
    precision: Precision,
    /// Where the network is evaluated: cpu (burn-flex) or gpu (burn-wgpu on Vulkan; needs a
    /// build with `--features wgpu`). Not part of the run's identity: a run may resume on
    /// either.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Re-estimate Σ_t / H structures (gld-dynamic, -diag, -leading, -hessian, -eigvec1)
    /// every R steps; --snapshot-every must be a multiple of R so resumed runs refresh alike.
    #[arg(long, default_value_t = 10)]
    refresh_every: u64,
    /// gld-const's ρ (default: ρ² = Tr(Σ)/(b·D) at θ₀).
    #[arg(long)]
    noise_std: Option<f64>,
    /// k of gld-leading and gld-hessian: eigenpairs of Σ or H shaping the noise.
    #[arg(long, default_value_t = 20)]
    rank: usize,
    /// Held-out data for the test_loss/test_accuracy columns of run.csv (same syntax as --data).
    #[arg(long)]
    eval_data: Option<String>,
    /// Continue the run in --out from its last complete snapshot (the configuration must match).
    #[arg(long)]
    resume: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Run folder: run.json, run.csv and one checkpoint folder per snapshot.
    #[arg(long)]
    out: PathBuf,
    /// Stop as if interrupted after this many steps of this invocation (for tests).
    #[arg(long, hide = true)]
    stop_after_steps: Option<u64>,
}

/// Everything that determines a run, saved as run.json; a resumed run must match it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RunConfig {
    arch: ArchSpec,
    data: String,
    data_seed: u64,
    dataset: DatasetInfo,
    eval_data: Option<String>,
    eval_dataset: Option<DatasetInfo>,
    dynamic: Dynamic,
    lr: f64,
    batch: usize,
    steps: u64,
    snapshot_every: u64,
    refresh_every: u64,
    noise_std: Option<f64>,
    rank: usize,
    /// θ₀'s random initialisation, or `None` with `init_from`.
    init: Option<Init>,
    init_from: Option<PathBuf>,
    seed: u64,
    precision: Precision,
}

impl RunConfig {
    /// The first field (other than `steps`, which a resume may raise) where `self` differs.
    fn first_difference(&self, other: &RunConfig) -> Option<(String, String, String)> {
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

fn snapshot_dir(out: &Path, step: u64) -> PathBuf {
    out.join(format!("step-{step:06}"))
}

/// The training state the loop writes into: checkpoints and run.csv.
struct Run<'a> {
    config: &'a RunConfig,
    out: &'a Path,
    objective: &'a dyn Objective,
    eval: Option<Box<dyn Objective>>,
    /// run.csv's data rows, kept so each rewrite is the whole file.
    rows: Vec<String>,
    /// Training seconds before this invocation started.
    wall_offset: f64,
    started: Instant,
    /// gld-const's ρ as used, recorded in each checkpoint.
    noise_std: Option<f64>,
}

impl Run<'_> {
    /// Saves θ at `step` and then appends its row to run.csv, so a row always has its checkpoint.
    /// Returns the training loss.
    fn snapshot(&mut self, step: u64, theta: &[f64]) -> Result<f64> {
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
        let text: String = std::iter::once(CSV_HEADER)
            .chain(self.rows.iter().map(String::as_str))
            .map(|l| format!("{l}\n"))
            .collect();
        common::write_atomic(&self.out.join(CSV_FILE), text.as_bytes())
    }
}

/// The last snapshot of `out` that loads completely, with its θ; folders beyond it (a save cut
/// short) are removed so that nothing downstream mistakes them for snapshots.
fn last_complete_snapshot(out: &Path) -> Result<(u64, Vec<f64>)> {
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
fn csv_rows_through(out: &Path, step: u64) -> Result<Vec<String>> {
    let path = out.join(CSV_FILE);
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
fn row_step(row: &str) -> Option<u64> {
    row.split(',').next()?.parse().ok()
}

/// The architecture from --arch and/or the --init-from checkpoint, and θ₀ unless resuming.
fn architecture(args: &TrainArgs) -> Result<(ArchSpec, Option<Vec<f64>>)> {
    let arch = args.arch.as_deref().map(common::parse_arch).transpose()?;
    let Some(path) = &args.init_from else {
        return arch
            .map(|a| (a, None))
            .context("--arch is required without --init-from");
    };
    let ckpt = load_checkpoint(path).with_context(|| format!("--init-from {}", path.display()))?;
    if let Some(arch) = arch.filter(|a| *a != ckpt.meta.arch) {
        bail!(
            "--arch {arch:?} differs from the architecture of {}: {:?}",
            path.display(),
            ckpt.meta.arch
        );
    }
    Ok((ckpt.meta.arch, Some(ckpt.theta)))
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    ensure!(
        args.lr.is_finite() && args.lr > 0.0,
        "--lr must be positive"
    );
    ensure!(
        args.batch > 0 && args.snapshot_every > 0 && args.refresh_every > 0 && args.rank > 0,
        "--batch, --snapshot-every, --refresh-every and --rank must be positive"
    );
    if args.dynamic.refreshes() {
        ensure!(
            args.snapshot_every.is_multiple_of(args.refresh_every),
            "--snapshot-every {} must be a multiple of --refresh-every {} for {}, so a resumed run re-estimates its noise at the same steps",
            args.snapshot_every,
            args.refresh_every,
            args.dynamic
        );
    }
    let (arch, theta_init) = architecture(&args)?;
    let data = common::load_dataset(&args.data, args.data_seed)?;
    ensure!(
        args.batch <= data.len(),
        "--batch {} exceeds the {} training samples",
        args.batch,
        data.len()
    );
    let eval_data = args
        .eval_data
        .as_deref()
        .map(|spec| common::load_dataset(spec, args.data_seed))
        .transpose()?;
    let config = RunConfig {
        arch: arch.clone(),
        data: args.data.clone(),
        data_seed: args.data_seed,
        dataset: data.info().clone(),
        eval_data: args.eval_data.clone(),
        eval_dataset: eval_data.as_ref().map(|d| d.info().clone()),
        dynamic: args.dynamic,
        lr: args.lr,
        batch: args.batch,
        steps: args.steps,
        snapshot_every: args.snapshot_every,
        refresh_every: args.refresh_every,
        noise_std: args.noise_std,
        rank: args.rank,
        init: match (&args.init_from, args.init) {
            (Some(_), _) => None,
            (None, InitKind::Pytorch) => Some(Init::PyTorch),
            (None, InitKind::Normal) => Some(Init::Normal { std: args.init_std }),
        },
        init_from: args.init_from.clone(),
        seed: args.seed,
        precision: args.precision,
    };
    let out = args.out.as_path();
    let run_file = out.join(RUN_FILE);
    let objective = common::objective(&arch, &data, args.precision, args.device)?;
    let eval = eval_data
        .as_ref()
        .map(|d| common::objective(&arch, d, args.precision, args.device))
        .transpose()?;

    let (start, mut theta, theta0, rows) = if args.resume {
        let saved: RunConfig = serde_json::from_slice(
            &std::fs::read(&run_file)
                .with_context(|| format!("--resume: reading {}", run_file.display()))?,
        )
        .with_context(|| format!("parsing {}", run_file.display()))?;
        if let Some((field, was, now)) = saved.first_difference(&config) {
            bail!(
                "--resume: the configuration differs from {} in `{field}`: it was {was}, now {now}",
                run_file.display()
            );
        }
        let (step, theta) = last_complete_snapshot(out)?;
        let rows = csv_rows_through(out, step)?;
        let theta0 = load_checkpoint(&snapshot_dir(out, 0))?.theta;
        if args.dynamic.refreshes() && !step.is_multiple_of(args.refresh_every) {
            eprintln!("warning: resuming at step {step}, not a multiple of --refresh-every; the noise is re-estimated here, unlike in an uninterrupted run");
        }
        (step, theta, theta0, rows)
    } else {
        if out.exists() && std::fs::read_dir(out)?.next().is_some() {
            bail!("{} already exists and is not empty: pass --resume to continue that run, or choose another --out", out.display());
        }
        let mut theta = theta_init
            .unwrap_or_else(|| arch.init(config.init.expect("set without --init-from"), args.seed));
        args.precision.round(&mut theta);
        (0, theta.clone(), theta, Vec::new())
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    common::write_atomic(&run_file, &serde_json::to_vec_pretty(&config)?)?;

    let noise_std = match (args.dynamic, args.noise_std) {
        (Dynamic::GldConst, None) => Some(isotropic_std(objective.as_ref(), &theta0, args.batch)),
        (Dynamic::GldConst, given) => given,
        _ => None,
    };
    let mut descent = Descent::new(DescentOptions {
        dynamic: args.dynamic,
        batch: args.batch,
        refresh_every: args.refresh_every,
        noise_std,
        rank: args.rank,
        seed: args.seed,
    });
    // Training time continues from the last row; its last cell is wall_time_s.
    let wall_offset = rows
        .last()
        .and_then(|r| r.rsplit(',').next()?.parse().ok())
        .unwrap_or(0.0);
    let has_row = rows.last().and_then(|r| row_step(r)) == Some(start);
    let mut run = Run {
        config: &config,
        out,
        objective: objective.as_ref(),
        eval,
        rows,
        wall_offset,
        started: Instant::now(),
        noise_std,
    };
    // Step 0's snapshot, or a resumed snapshot's row lost to a kill between checkpoint and CSV.
    let mut loss = if has_row {
        objective.loss(&theta)
    } else {
        run.snapshot(start, &theta)?
    };
    train_loop(
        &args,
        &mut run,
        &mut descent,
        &data,
        start,
        &mut theta,
        &mut loss,
    )
}

/// Set by Ctrl-C. The handler is installed once per process (`demo` trains twice).
fn interrupt_flag() -> Result<&'static AtomicBool> {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| FLAG.store(true, Ordering::SeqCst)).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the Ctrl-C handler: {e}"))?;
    Ok(&FLAG)
}

/// The steps from `start` to --steps; stops early, cleanly, on Ctrl-C.
fn train_loop(
    args: &TrainArgs,
    run: &mut Run,
    descent: &mut Descent,
    data: &Dataset,
    start: u64,
    theta: &mut [f64],
    loss: &mut f64,
) -> Result<ExitCode> {
    let interrupted = interrupt_flag()?;
    let (arch, precision) = (&run.config.arch, args.precision);
    // SGD evaluates its b samples alone: a model on the subset instead of N weights.
    let minibatch = |theta: &[f64], indices: &[usize]| {
        common::objective(arch, &data.subset(indices), precision, args.device)
            .expect("a subset fits the model the whole set fits")
            .grad(theta)
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.steps)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} steps, ETA {eta} {msg}",
        )
        .expect("valid template"),
    );
    bar.set_position(start);
    bar.set_message(format!("loss {loss:.4}"));
    let mut last_snapshot = start;
    for step in start..args.steps {
        let stop_requested = args.stop_after_steps.is_some_and(|n| step - start >= n);
        if interrupted.load(Ordering::SeqCst) || stop_requested {
            bar.abandon();
            eprintln!("stopped after step {step}; the last snapshot is step {last_snapshot}: continue with --resume");
            return Ok(if stop_requested {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(130)
            });
        }
        ensure!(
            descent.step(run.objective, theta, args.lr, precision, step, &minibatch),
            "θ diverged at step {} (lr {} too large?)",
            step + 1,
            args.lr
        );
        let done = step + 1;
        if done.is_multiple_of(args.snapshot_every) || done == args.steps {
            *loss = run.snapshot(done, theta)?;
            last_snapshot = done;
            bar.set_message(format!("loss {loss:.4} at step {done}"));
        }
        bar.inc(1);
    }
    bar.finish();
    Ok(ExitCode::SUCCESS)
}
