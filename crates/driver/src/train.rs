//! `curvscope train`: θ ← θ − η g̃ with g̃ drawn by one of the dynamics in
//! `curvscope_metrics::Descent`, snapshotting checkpoints and losses into a run folder that a
//! killed or interrupted run can `--resume` bit for bit.
//!
//! Under `mpirun -n P` (feature `mpi`) the ranks share the training samples
//! ([`curvscope_model::Distributed`]): every rank draws the same noise and minibatch indices
//! from the same seed and takes the same steps on the all-reduced gradient; rank 0 alone reads
//! and writes the run folder (a resume's step and θ are sent from it) and shows progress.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;
use curvscope_metrics::{
    format_bytes, isotropic_std, Descent, DescentOptions, Dynamic, TrainingPlan,
};
use curvscope_model::distributed::minibatch_grad;
use curvscope_model::files::{is_leftover_file, remove_if_present, write_atomic};
use curvscope_model::{
    load_checkpoint, ArchSpec, Dataset, DatasetInfo, Init, Objective, Precision,
};

use crate::data::{load_dataset_as_recorded, DATA_HELP};
use crate::flags;
use crate::job::Job;
use crate::network::{self, parse_arch, precision_parser, Device};
use crate::progress;
use crate::run_folder::{
    read_rows, recorded_wall_time, snapshot_dir, stored_data_spec, verified_snapshots, Run,
    RunConfig, RUN_JSON,
};

/// `--batch`'s default.
const DEFAULT_BATCH: usize = 20;

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
    /// Architecture: lenet, toy2d, vgg11 (VGG-11 without batch norm for 3×32×32, D = 9,225,610),
    /// JSON such as `'{"name":"mlp","input":64,"hidden":[8],"classes":10,"activation":"tanh"}'`,
    /// or a .json file holding one (e.g. a "sequential" spec; README "Bring your own model").
    /// Optional with --init-from, whose architecture it must match.
    #[arg(long)]
    arch: Option<String>,
    #[arg(long, help = DATA_HELP)]
    data: String,
    /// Seed of the dataset's random parts (fashion-corrupted's random labels, halfspace's and
    /// toy2d's points), kept apart from --seed so runs with different seeds share one dataset.
    /// They draw on a random stream of their own, so an equal --seed shares no numbers with them.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// The dynamic θ ← θ − η(∇L + ε) and its noise ε: the Gaussian gld-* ones matched to SGD's
    /// trace Tr(Σ)/b, the others of the covariance each line gives
    /// (Zhu et al. 2019, Table 1; M-SGD of Wu et al. 2020).
    #[arg(long, value_parser = dynamic_parser())]
    dynamic: Dynamic,
    /// Learning rate η.
    #[arg(long, value_parser = flags::positive)]
    lr: f64,
    /// Batch size b: the minibatch of the SGD dynamics and the noise scale of all others but
    /// gd-rademacher (whose noise F/N the data fix).
    #[arg(long, default_value_t = DEFAULT_BATCH, value_parser = flags::count)]
    batch: usize,
    /// Number of steps of the whole run (may be raised, not lowered, on --resume).
    #[arg(long)]
    steps: u64,
    /// Save a checkpoint step-NNNNNN/ and a run.csv row every this many steps (and at step 0
    /// and the last step).
    #[arg(long, default_value_t = 100, value_parser = flags::every)]
    snapshot_every: u64,
    /// Start from this checkpoint folder instead of a random θ₀.
    #[arg(long, value_parser = flags::utf8_path())]
    init_from: Option<PathBuf>,
    /// Random initialisation of θ₀ (ignored with --init-from).
    #[arg(long, value_enum, default_value_t = InitKind::Pytorch)]
    init: InitKind,
    /// Standard deviation of --init normal (refused with any other --init).
    #[arg(long, default_value_t = DEFAULT_INIT_STD, value_parser = flags::positive)]
    init_std: f64,
    /// Seed of θ₀ and of every step's noise: step t draws ChaCha8(seed) on stream t, θ₀
    /// (unless --init-from) on a seed derived from this one on a stream no step reads
    /// (run.json's init_seed), so θ₀ and the noise are independent.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Precision of the model's arithmetic; checkpoints are stored in it (θ is kept exactly
    /// representable, so a resumed run continues bit for bit).
    #[arg(long, default_value_t = Precision::F32, value_parser = precision_parser())]
    precision: Precision,
    /// Where the network is evaluated: cpu (burn-flex) or gpu (burn-wgpu on Vulkan; needs a
    /// build with `--features wgpu`, and computes in f32 only: pass --precision f32). Not part
    /// of the run's identity: a run may resume on either. On the GPU, CURVSCOPE_GPU_BLOCK=N
    /// caps a block at N samples, for a GPU short of memory.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Re-estimate Σ_t / H structures (gld-dynamic, -diag, -leading, -hessian, -eigvec1)
    /// every R steps; --snapshot-every must be a multiple of R so resumed runs refresh alike.
    /// The authors' code re-estimates gld-dynamic, -diag and -eigvec1 at every step: pass 1
    /// to match it; the default 10 does a tenth of the estimates. Refused with the other
    /// dynamics, which estimate nothing.
    #[arg(long, default_value_t = DEFAULT_REFRESH_EVERY, value_parser = flags::every)]
    refresh_every: u64,
    /// gld-const's ρ, in gradient units like every noise here: θ ← θ − η(∇L + ε) with
    /// ε ~ N(0, ρ²I), so θ moves by η·ρ per coordinate, as in the authors' code (a ρ quoted for
    /// the parameters is divided by η first). Default: ρ² = Tr(Σ)/(b·D) at θ₀.
    #[arg(long, value_parser = flags::non_negative)]
    noise_std: Option<f64>,
    /// k of gld-leading and gld-hessian: eigenpairs of Σ or H shaping the noise (refused with
    /// the other dynamics).
    #[arg(long, default_value_t = DEFAULT_RANK, value_parser = flags::count)]
    rank: usize,
    /// The gld dynamics add their noise only at steps divisible by K, plain GD steps between
    /// (the authors' GLD leading: 10, with --leading-unscaled); structures are still
    /// re-estimated every --refresh-every steps, which must be a multiple of K.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = flags::every)]
    noise_every: u64,
    /// gld-leading's noise is the top-k part of Σ_t/b as it is (its trace the top k's share of
    /// Tr(Σ_t)/b), not rescaled to Tr(Σ_t)/b: the authors' code, not the paper's equal-trace
    /// comparison.
    #[arg(long)]
    leading_unscaled: bool,
    /// msgd-fisher-b and msgd-cov-b put their noise weights on B distinct samples drawn afresh
    /// each step, as Wu et al.'s code (`--noisesize`, 100 for Fisher-B) [default: fisher-b
    /// weights b samples drawn with replacement; cov-b takes B = b].
    #[arg(long, value_name = "B", value_parser = flags::count)]
    noise_samples: Option<usize>,
    /// Memory budget (e.g. 8GB, 512MiB) of θ, the noise's structures (gld-leading keeps all N
    /// per-sample gradients, N·D·8 bytes) and the per-sample gradients the Gaussian dynamics
    /// stream to estimate Tr(Σ_t), sized before any work: the stream is lowered to fit (on the
    /// CPU the run is the same bit for bit), and what cannot fit is refused with what it
    /// needs. Not counted: the data and the network's activations [default: 3/4 of the memory
    /// available at start].
    #[arg(long, value_name = "SIZE", value_parser = flags::memory_size, allow_hyphen_values = true)]
    max_memory: Option<u64>,
    /// Held-out data for the test_loss/test_accuracy columns of run.csv (same syntax as --data).
    #[arg(long)]
    eval_data: Option<String>,
    /// Continue the run in --out from its last complete snapshot (the configuration must match;
    /// --steps may be raised, never lowered). A snapshot folder that does not load is renamed
    /// step-NNNNNN.bad-K (never deleted) with the reason printed; run.csv is checked row by
    /// row and rebuilt for the snapshots that load. Under `mpirun` rank 0 alone reads the
    /// folder and sends the step and θ to the other ranks; a run may resume under another
    /// number of ranks.
    #[arg(long)]
    resume: bool,
    /// Worker threads, 1 to 1,024 [default: all cores]. Results do not depend on it. Under
    /// `mpirun -n P` (a build with the `mpi` feature: the P ranks share the samples) the
    /// threads of each rank: P × N at most the cores.
    #[arg(long, value_name = "N", value_parser = flags::threads)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Run folder: run.json, run.csv and one checkpoint folder per snapshot.
    #[arg(long)]
    out: PathBuf,
    /// Stop as if interrupted after this many steps of this invocation (for tests).
    #[arg(long, hide = true)]
    stop_after_steps: Option<u64>,
}

/// Refuses a noise flag the dynamic would ignore: a run.json recording `--noise-std 1e-3` for
/// gld-dynamic would say its noise was what it was not.
/// `--init-std`'s default.
const DEFAULT_INIT_STD: f64 = 0.02;
/// `--refresh-every`'s default.
const DEFAULT_REFRESH_EVERY: u64 = 10;
/// `--rank`'s default, Zhu et al.'s k.
const DEFAULT_RANK: usize = 20;

fn check_noise_flags(args: &TrainArgs) -> Result<()> {
    let dynamic = args.dynamic;
    // A flag that changes nothing would still be recorded in run.json (and then bind a resume):
    // refused where it is set away from its default.
    ensure!(
        args.init_std == DEFAULT_INIT_STD
            || (args.init == InitKind::Normal && args.init_from.is_none()),
        "--init-std sets --init normal's standard deviation; θ₀ here comes from {}",
        match &args.init_from {
            Some(path) => format!("--init-from {}", path.display()),
            None => "--init pytorch: pass --init normal".into(),
        }
    );
    ensure!(
        args.rank == DEFAULT_RANK || matches!(dynamic, Dynamic::GldLeading | Dynamic::GldHessian),
        "--rank applies to gld-leading and gld-hessian, not {dynamic}"
    );
    ensure!(
        args.refresh_every == DEFAULT_REFRESH_EVERY || dynamic.refreshes(),
        "--refresh-every applies to the dynamics that re-estimate their noise (gld-dynamic, \
         gld-diag, gld-leading, gld-hessian, gld-eigvec1), not {dynamic}"
    );
    ensure!(
        args.noise_std.is_none() || dynamic == Dynamic::GldConst,
        "--noise-std sets gld-const's noise; {dynamic} does not use it"
    );
    ensure!(
        args.noise_every == 1 || dynamic.adds_gaussian_noise(),
        "--noise-every applies to the gld dynamics; {dynamic} does not add Gaussian noise"
    );
    ensure!(
        !dynamic.refreshes() || args.refresh_every.is_multiple_of(args.noise_every),
        "--refresh-every {} must be a multiple of --noise-every {}, so that every re-estimate \
         of the noise shapes noise (the authors' gld-leading: both 10)",
        args.refresh_every,
        args.noise_every
    );
    ensure!(
        !args.leading_unscaled || dynamic == Dynamic::GldLeading,
        "--leading-unscaled applies to gld-leading, not {dynamic}"
    );
    ensure!(
        args.noise_samples.is_none() || matches!(dynamic, Dynamic::MsgdFisherB | Dynamic::MsgdCovB),
        "--noise-samples applies to msgd-fisher-b and msgd-cov-b, not {dynamic}"
    );
    Ok(())
}

/// The architecture from --arch and/or the --init-from checkpoint, and that checkpoint's θ and
/// record of its training data.
fn architecture(args: &TrainArgs) -> Result<(ArchSpec, Option<Vec<f64>>, Option<DatasetInfo>)> {
    let arch = args.arch.as_deref().map(parse_arch).transpose()?;
    let Some(path) = &args.init_from else {
        return arch
            .map(|a| (a, None, None))
            .context("--arch is required without --init-from");
    };
    let ckpt = load_checkpoint(path).with_context(|| format!("--init-from {}", path.display()))?;
    // Its snapshots would drop the field and train on raw inputs: refused rather than silent.
    ensure!(
        ckpt.meta.normalize.is_none(),
        "--init-from {}: checkpoint.json has a `normalize` field, which `train` does not apply; \
         remove it to train on the raw inputs",
        path.display()
    );
    if let Some(arch) = arch.filter(|a| !a.same_spec(&ckpt.meta.arch)) {
        let (given, found) = arch.contrast(&ckpt.meta.arch);
        bail!(
            "--arch {given} differs from the architecture of {}: {found}",
            path.display()
        );
    }
    Ok((ckpt.meta.arch, Some(ckpt.theta), ckpt.meta.dataset))
}

pub fn run(mut args: TrainArgs) -> Result<ExitCode> {
    let job = Job::current()?;
    if !job.leads() {
        args.quiet = true;
    }
    let result = train(args, job);
    job.or_abort(result)
}

fn train(args: TrainArgs, job: &Job) -> Result<ExitCode> {
    flags::thread_pool(args.threads)?;
    if args.dynamic.refreshes() {
        ensure!(
            args.snapshot_every.is_multiple_of(args.refresh_every),
            "--snapshot-every {} must be a multiple of --refresh-every {} for {}, so a resumed run re-estimates its noise at the same steps",
            args.snapshot_every,
            args.refresh_every,
            args.dynamic
        );
    }
    check_noise_flags(&args)?;
    let (arch, theta_init, start_data) = architecture(&args)?;
    // A resumed run goes on with the data its run.json records, and a run from --init-from with
    // its start's, drawn as curvscope drew them then (`load_dataset_as_recorded`).
    let recorded_run = args.resume.then(|| recorded_run(&args.out)).flatten();
    let (recorded, recorded_eval) = match args.resume {
        true => recorded_datasets(recorded_run.as_ref()),
        false => (start_data, None),
    };
    // A run.json from before θ₀ had a seed of its own resumes with the θ₀ it drew then (a
    // null is no seed either: it reads back as none, which the check on resume then expects).
    let shares_step_zero_stream = job.leaders(
        recorded_run.is_some_and(|run| run.get("init_seed").is_none_or(serde_json::Value::is_null)),
    );
    let data = load_dataset_as_recorded(&args.data, args.data_seed, recorded.as_ref())?;
    let options = DescentOptions {
        dynamic: args.dynamic,
        batch: args.batch,
        refresh_every: args.refresh_every,
        noise_std: args.noise_std,
        rank: args.rank,
        seed: args.seed,
        noise_trace: None,
        noise_every: args.noise_every,
        leading_unscaled: args.leading_unscaled,
        noise_samples: args.noise_samples,
    };
    ensure!(!data.is_empty(), "--data {}: it has no samples", args.data);
    ensure!(
        args.batch <= data.len(),
        "--batch {} exceeds the {} training samples: pass a --batch of at most {} (its default \
         is {DEFAULT_BATCH}; it is the minibatch of the SGD dynamics and the noise scale of the \
         others, and analyze's minibatch factor reads it, even where GD uses neither)",
        args.batch,
        data.len(),
        data.len()
    );
    if let Some(subset) = args.noise_samples {
        ensure!(
            subset <= data.len(),
            "--noise-samples {subset} exceeds the {} training samples",
            data.len()
        );
    }
    ensure!(
        args.dynamic != Dynamic::MsgdCovB || options.cov_b_samples() >= 2,
        "msgd-cov-b centres its noise over B ≥ 2 samples (--noise-samples, or --batch without it)"
    );
    // Sized for all N samples, as analyze's: a rank holding a share needs less.
    let budget = job.smallest(args.max_memory.unwrap_or_else(flags::default_memory_budget));
    let basis = job.krylov_basis(args.device);
    let plan = TrainingPlan::new(&options, arch.dim(), data.len(), basis, budget)?;
    if plan.chunk < plan.requested_chunk && options.streams_per_sample_gradients() && job.leads() {
        eprintln!(
            "note: streaming {} per-sample gradients at a time (not {}) to stay within the {} \
             memory budget",
            plan.chunk,
            plan.requested_chunk,
            format_bytes(budget)
        );
    }
    let eval_data = args
        .eval_data
        .as_deref()
        .map(|spec| load_dataset_as_recorded(spec, args.data_seed, recorded_eval.as_ref()))
        .transpose()?;
    let init = match (&args.init_from, args.init) {
        (Some(_), _) => None,
        (None, InitKind::Pytorch) => Some(Init::PyTorch),
        (None, InitKind::Normal) => Some(Init::Normal { std: args.init_std }),
    };
    // Each snapshot records it: refused here, before run.json is written, if it cannot be.
    stored_data_spec(&args.data)?;
    let config = RunConfig {
        arch: arch.clone(),
        data: args.data.clone(),
        data_seed: args.data_seed,
        dataset: data.info().clone(),
        eval_data: args.eval_data.clone(),
        eval_dataset: eval_data.as_ref().map(|d| d.info().clone()),
        descent: options,
        lr: args.lr,
        steps: args.steps,
        snapshot_every: args.snapshot_every,
        init,
        init_seed: RunConfig::drawn_init_seed(init, args.seed, shares_step_zero_stream),
        // Absolute: the same relative path from another folder is another start.
        init_from: args
            .init_from
            .as_deref()
            .map(|path| {
                let real = path
                    .canonicalize()
                    .with_context(|| format!("--init-from {}", path.display()))?;
                let (given, shown) = (path.display(), real.display());
                ensure!(
                    real.to_str().is_some(),
                    flags::not_utf8(
                        format!("--init-from {given}: its real path {shown}"),
                        "rename it"
                    )
                );
                Ok(real)
            })
            .transpose()?,
        precision: args.precision,
    };
    job.agree_on_settings(
        "the training configuration",
        &serde_json::json!({
            "config": RunConfig {
                data: String::new(),
                eval_data: None,
                init_from: None,
                ..config.clone()
            },
            "resume": args.resume,
            "stop_after_steps": args.stop_after_steps,
            "device": args.device,
        }),
    )?;
    let out = args.out.as_path();
    let run_file = out.join(RUN_JSON);
    let objective = job.objective(&arch, &data, args.precision, args.device)?;
    let dim = objective.dim();
    let shaped_by_rank = matches!(args.dynamic, Dynamic::GldLeading | Dynamic::GldHessian);
    if job.leads() && shaped_by_rank && args.rank > dim {
        eprintln!(
            "warning: --rank {} exceeds the network's D = {dim} parameters: {} shapes its noise \
             by all {dim} eigenpairs (run.json keeps --rank as given)",
            args.rank, args.dynamic
        );
    }
    let eval = eval_data
        .as_ref()
        .map(|d| job.objective(&arch, d, args.precision, args.device))
        .transpose()?;

    // θ₀ is drawn again as it was, so a resume needs no step-000000 folder.
    let theta0 = initial_theta(&config, theta_init);
    if !args.resume {
        check_start(objective.as_ref(), &theta0, &args)?;
    }
    // Rank 0 alone reads and writes --out: the other ranks need not see it.
    // Two trainings into one --out (a resume started twice) would interleave their snapshots;
    // a resume of a folder that is not there makes none.
    let _lock = match job.leads() && (!args.resume || out.is_dir()) {
        true => Some(flags::lock_output(out, "--out", false)?),
        false => None,
    };
    let start = match (job.leads(), args.resume) {
        (false, _) => None,
        (true, true) => Some(resume_point(&args, &config, &theta0)?),
        (true, false) => Some(fresh_start(out, &theta0)?),
    };
    let Start {
        step: start,
        mut theta,
        snapshots,
    } = Start::leaders(job, start);

    let mut options = config.descent.clone();
    if args.dynamic == Dynamic::GldConst && options.noise_std.is_none() {
        options.noise_std = Some(isotropic_std(
            objective.as_ref(),
            &theta0,
            args.batch,
            plan.chunk,
        ));
    }
    let noise_std = options.noise_std;
    let mut descent = Descent::new(options).with_chunk(plan.chunk);
    let mut run = Run {
        config: &config,
        out,
        job,
        objective: objective.as_ref(),
        eval,
        rows: Vec::new(),
        wall_offset: 0.0,
        started: Instant::now(),
        noise_std,
    };
    if args.resume {
        let read = match job.leads() {
            true => read_rows(out)?,
            false => Vec::new(),
        };
        run.rebuild_csv(start, &snapshots, read)?;
        // Training time continues from the last recorded wall time.
        run.wall_offset = recorded_wall_time(&run.rows);
    }
    // After run.csv: a resume that cannot rebuild it leaves run.json (an extended --steps) as
    // it was, so the same command can be run again once run.csv is mended.
    if job.leads() {
        write_atomic(
            &run_file,
            &run_json(&config, args.resume.then_some(&run_file))?,
        )?;
    }
    let mut loss = match snapshots.is_empty() {
        true => run.snapshot(0, &theta, &mut descent)?,
        false => objective.loss(&theta),
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

/// run.json's bytes for `config`; on a resume (`resumed`: the run.json `resume_point` has
/// checked) with the fields it holds beyond a configuration, a user's notes say, kept as they
/// were rather than dropped by the rewrite.
fn run_json(config: &RunConfig, resumed: Option<&Path>) -> Result<Vec<u8>> {
    let Some(file) = resumed else {
        return Ok(serde_json::to_vec_pretty(config)?);
    };
    let saved: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(
        &std::fs::read(file).with_context(|| format!("reading {}", file.display()))?,
    )
    .with_context(|| format!("parsing {}", file.display()))?;
    let serde_json::Value::Object(mut fields) = serde_json::to_value(config)? else {
        unreachable!("a RunConfig is a JSON object")
    };
    let known = fields.len();
    for (key, value) in saved {
        fields.entry(key).or_insert(value);
    }
    // Without extra fields, the configuration's own order (a map would sort the keys).
    Ok(match fields.len() == known {
        true => serde_json::to_vec_pretty(config)?,
        false => serde_json::to_vec_pretty(&fields)?,
    })
}

/// Where training starts: a step and its θ, and the verified snapshots already there.
struct Start {
    step: u64,
    theta: Vec<f64>,
    snapshots: Vec<u64>,
}

impl Start {
    /// Step 0 at θ₀, with no snapshot yet.
    fn at_zero(theta0: &[f64]) -> Self {
        Start {
            step: 0,
            theta: theta0.to_vec(),
            snapshots: Vec::new(),
        }
    }

    /// Rank 0's start (`Some` there, `None` on the other ranks) on every rank.
    fn leaders(job: &Job, start: Option<Start>) -> Start {
        let start = start.unwrap_or(Start::at_zero(&[]));
        let steps = std::iter::once(start.step).chain(start.snapshots);
        let steps = job.leaders_numbers(steps.map(|s| s as f64).collect());
        Start {
            step: steps[0] as u64,
            theta: job.leaders_numbers(start.theta),
            snapshots: steps[1..].iter().map(|&s| s as u64).collect(),
        }
    }
}

/// A new run: --out created, or empty.
///
/// A folder holding only the temporary files of atomic writes (a run killed in its first
/// milliseconds, before run.json) is empty: they are removed, and the run starts.
fn fresh_start(out: &std::path::Path, theta0: &[f64]) -> Result<Start> {
    flags::output_dir(out, "--out")?;
    let entries: Vec<_> = std::fs::read_dir(out)
        .with_context(|| format!("--out {}: cannot read", out.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("--out {}: cannot read", out.display()))?;
    if !entries.iter().all(is_leftover_file) {
        let remedy = match out.join(RUN_JSON).exists() {
            true => "pass --resume to continue that run, or choose another --out",
            false => "it holds no run to resume (no run.json): choose another --out",
        };
        bail!(
            "{} already exists and is not empty: {remedy}",
            out.display()
        );
    }
    for entry in &entries {
        remove_if_present(&entry.path())
            .with_context(|| format!("removing the leftover {}", entry.path().display()))?;
    }
    Ok(Start::at_zero(theta0))
}

/// run.json in `out` as JSON, where it can be read (`resume_point` says why not).
fn recorded_run(out: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(out.join(RUN_JSON)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `run`'s records of the training and evaluation data.
fn recorded_datasets(
    run: Option<&serde_json::Value>,
) -> (Option<DatasetInfo>, Option<DatasetInfo>) {
    let info = |field: &str| {
        let value = run?.get(field)?;
        serde::Deserialize::deserialize(value).ok()
    };
    (info("dataset"), info("eval_dataset"))
}

/// Where `--resume` continues: the last verified snapshot's step and θ, and every verified
/// snapshot's step (none, from step 0 at θ₀, when the run was killed before its first).
fn resume_point(args: &TrainArgs, config: &RunConfig, theta0: &[f64]) -> Result<Start> {
    let (out, run_file) = (args.out.as_path(), args.out.join(RUN_JSON));
    let mut saved: RunConfig = serde_json::from_slice(
        &std::fs::read(&run_file)
            .with_context(|| format!("--resume: reading {}", run_file.display()))?,
    )
    .with_context(|| format!("parsing {}", run_file.display()))?;
    // Before --noise-std, --rank and --refresh-every were refused for the dynamics that
    // ignore them, runs recorded them unused.
    let dynamic = saved.descent.dynamic;
    if dynamic != Dynamic::GldConst {
        saved.descent.noise_std = None;
    }
    if !matches!(dynamic, Dynamic::GldLeading | Dynamic::GldHessian) {
        saved.descent.rank = config.descent.rank;
    }
    if !dynamic.refreshes() {
        saved.descent.refresh_every = config.descent.refresh_every;
    }
    // Before --init-from was recorded as an absolute path, a relative one was recorded as
    // given: it is the same start if it names the same folder from here.
    if let (Some(was), Some(now)) = (&saved.init_from, &config.init_from) {
        if was.is_relative() && was.canonicalize().ok().as_ref() == Some(now) {
            saved.init_from = Some(now.clone());
        }
    }
    // The data are compared by `same_data`: a run.json written before the inputs' hash was
    // kept has none, and is checked on the rest, as it was then. Where both hashed the inputs,
    // the spec's text may differ too: `./x.npz` and `/home/me/x.npz` name the same samples.
    let hashed = |was: &DatasetInfo, now: &DatasetInfo| {
        was.inputs_sha256.is_some() && now.inputs_sha256.is_some()
    };
    if saved.dataset.same_data(&config.dataset) {
        if hashed(&saved.dataset, &config.dataset) {
            saved.data = config.data.clone();
        }
        saved.dataset = config.dataset.clone();
    }
    if let (Some(was), Some(now)) = (&saved.eval_dataset, &config.eval_dataset) {
        if was.same_data(now) {
            if hashed(was, now) {
                saved.eval_data = config.eval_data.clone();
            }
            saved.eval_dataset = Some(now.clone());
        }
    }
    let differences = saved.differences(config);
    if !differences.is_empty() {
        let fields: Vec<String> = differences
            .iter()
            .map(|(field, was, now)| format!("`{field}`: it was {was}, now {now}"))
            .collect();
        return Err(OtherRun(format!(
            "the configuration differs from {} in {}",
            run_file.display(),
            fields.join("; in ")
        ))
        .into());
    }
    check_steps(&saved, config, &run_file)?;
    let snapshots = verified_snapshots(out, config)?;
    // A dynamic that re-estimates its noise every R steps resumes where it last did (step 0
    // at worst): from a run's last step off that grid (an extended run's old end) it would
    // re-estimate at another step than an uninterrupted run, and continue on other numbers.
    // A finished run (its last snapshot is --steps) has nothing to train: it stays as it is.
    let finished = snapshots.last() == Some(&config.steps);
    let on_grid = |step: u64| {
        finished || !args.dynamic.refreshes() || step.is_multiple_of(args.refresh_every)
    };
    let Some(step) = snapshots.iter().rev().copied().find(|&s| on_grid(s)) else {
        eprintln!(
            "--resume: {} holds no complete snapshot yet; starting at step 0",
            out.display()
        );
        return Ok(Start::at_zero(theta0));
    };
    // The snapshots after it can only be an earlier --steps' end (every other snapshot is on
    // the refresh grid): they and their rows stay, since training passes their θ again.
    if let Some(&end) = snapshots.last().filter(|&&end| end != step) {
        eprintln!(
            "--resume: resuming at step {step}, where {} last re-estimated its noise \
             (--refresh-every {}); the steps after it are trained again, as in an \
             uninterrupted run (step {end}, the run's earlier end, keeps its snapshot)",
            args.dynamic, args.refresh_every
        );
    }
    let dir = snapshot_dir(out, step);
    let theta = load_checkpoint(&dir)
        .with_context(|| format!("--resume: loading {}", dir.display()))?
        .theta;
    Ok(Start {
        step,
        theta,
        snapshots,
    })
}

/// Refuses, before --out is made, a θ₀ whose training loss is not finite (an --init-std of
/// 1e30, a spec whose layers overflow, an --init-from checkpoint on data it overflows on): no
/// step can follow, and the divergence at step 1 would be blamed on the learning rate.
fn check_start(objective: &dyn Objective, theta0: &[f64], args: &TrainArgs) -> Result<()> {
    let loss = objective.loss(theta0);
    if loss.is_finite() {
        return Ok(());
    }
    let start = match (&args.init_from, args.init) {
        (Some(dir), _) => format!("the --init-from checkpoint {}", dir.display()),
        (None, InitKind::Pytorch) => "θ₀ drawn by --init pytorch".to_string(),
        (None, InitKind::Normal) => format!(
            "θ₀ drawn by --init normal --init-std {:?}: a smaller --init-std?",
            args.init_std
        ),
    };
    bail!("the training loss at θ₀ is {loss} before any step ({start}): nothing was trained or written")
}

/// θ₀: the --init-from checkpoint's θ, else a draw of the configured initialisation, in the
/// run's precision.
fn initial_theta(config: &RunConfig, from: Option<Vec<f64>>) -> Vec<f64> {
    let mut theta = from.unwrap_or_else(|| {
        let init = config.init.expect("set without --init-from");
        config.arch.init(init, config.theta0_seed())
    });
    config.precision.round(&mut theta);
    theta
}

/// A resume refused because the run folder holds a run of other settings (what differs, in
/// words; shown after `--resume: `): a type of its own, so that `reproduce`, which resumes its
/// own runs, can say it without the flag its user never typed.
#[derive(Debug)]
pub struct OtherRun(pub String);

impl std::fmt::Display for OtherRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--resume: {}", self.0)
    }
}

impl std::error::Error for OtherRun {}

/// A resume may extend a run (a larger --steps) but never shorten it: its later snapshots
/// and rows would stay behind, beyond the run's own length.
fn check_steps(saved: &RunConfig, config: &RunConfig, run_file: &std::path::Path) -> Result<()> {
    if config.steps < saved.steps {
        return Err(OtherRun(format!(
            "--steps {}: the run in {} has {} steps; a resume can extend a run (a larger \
             --steps), not shorten it (start a new run for a shorter one)",
            config.steps,
            run_file.display(),
            saved.steps
        ))
        .into());
    }
    if config.steps > saved.steps {
        eprintln!(
            "extending the run from {} to {} steps ({} updated)",
            saved.steps,
            config.steps,
            run_file.display()
        );
    }
    Ok(())
}

/// Set by Ctrl-C during training, which then stops cleanly after its step. The handler is
/// installed once per process (`demo` trains twice) and outlives the training: outside it
/// (`demo` and `reproduce fashion` analyze in the same process) Ctrl-C ends the process at
/// once, with 130 as without a handler, instead of being swallowed. Analyses write each record
/// atomically and resume.
fn interrupt_flag() -> Result<&'static AtomicBool> {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| match TRAINING.load(Ordering::SeqCst) {
                true => FLAG.store(true, Ordering::SeqCst),
                false => std::process::exit(130),
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the Ctrl-C handler: {e}"))?;
    Ok(&FLAG)
}

/// Whether a training loop is running (see [`interrupt_flag`]).
static TRAINING: AtomicBool = AtomicBool::new(false);

/// Marks the training loop running until dropped.
struct Training;

impl Training {
    fn start() -> Training {
        TRAINING.store(true, Ordering::SeqCst);
        Training
    }
}

impl Drop for Training {
    fn drop(&mut self) {
        TRAINING.store(false, Ordering::SeqCst);
    }
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
    let _training = Training::start();
    let interrupted = interrupt_flag()?;
    let job = run.job;
    let (arch, precision) = (&run.config.arch, args.precision);
    // SGD evaluates its b samples alone: a model on the subset instead of N weights (in a job
    // of several ranks, each rank the selected samples of its share).
    let subset = |indices: &[usize]| {
        network::objective(arch, &data.subset(indices), precision, args.device)
            .expect("a subset fits the model the whole set fits")
    };
    let minibatch = |theta: &[f64], indices: &[usize]| match job.collective() {
        None => subset(indices).grad(theta),
        Some(ranks) => {
            let held_sum =
                |held: &[usize]| subset(held).weighted_grad(theta, &vec![1.0; held.len()]);
            minibatch_grad(&*ranks, data.len(), theta.len(), indices, &held_sum)
        }
    };
    let bar = progress::bar(args.quiet, args.steps, "steps");
    bar.set_position(start);
    bar.set_message(format!("loss {loss:.4}"));
    let mut last_snapshot = start;
    for step in start..args.steps {
        let stop_requested = args.stop_after_steps.is_some_and(|n| step - start >= n);
        // Ranks stop together, at rank 0's Ctrl-C: one stopping alone would leave the others
        // waiting in its collectives.
        if job.leaders(interrupted.load(Ordering::SeqCst) || stop_requested) {
            bar.abandon();
            if job.leads() {
                eprintln!("stopped after step {step}; the last snapshot is step {last_snapshot}: continue with --resume");
            }
            return Ok(if stop_requested {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(130)
            });
        }
        ensure!(
            descent.step(run.objective, theta, args.lr, precision, step, &minibatch),
            // `{:?}`: 1e300, not three hundred digits.
            "θ diverged at step {} (lr {:?}{} too large?)",
            step + 1,
            args.lr,
            match args.dynamic.adds_gaussian_noise() {
                true => " or the noise",
                false => "",
            }
        );
        let done = step + 1;
        if done.is_multiple_of(args.snapshot_every) || done == args.steps {
            *loss = run.snapshot(done, theta, descent)?;
            last_snapshot = done;
            bar.set_message(format!("loss {loss:.4} at step {done}"));
        }
        bar.inc(1);
    }
    bar.finish();
    if let Some(traffic) = job.traffic().filter(|_| !args.quiet) {
        eprintln!("note: MPI: {traffic}");
    }
    Ok(ExitCode::SUCCESS)
}
