//! `curvscope analyze`: curvscope-metrics' [`curvscope_metrics::Report`] for every checkpoint of a run.
//!
//! The output folder holds one JSON record per checkpoint (`reports/<checkpoint>.json`: the
//! report, the options, the data and a fingerprint of the checkpoint's files) and CSV views
//! rebuilt whole from those records after each checkpoint (columns: [`crate::tables`], also
//! described in the folder's README.md and analysis.json). Every file is replaced atomically,
//! so a killed run loses at most the checkpoint in progress; a rerun reuses each record whose
//! options hash and checkpoint fingerprint still match (in reports/, or set aside in
//! `reports/earlier/<options hash>/` by a run with other options), and recomputes the rest.
//!
//! Under `mpirun -n P` (feature `mpi`) the P ranks share every checkpoint's samples
//! ([`curvscope_model::Distributed`]); rank 0 alone decides reuse, writes and shows progress.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use curvscope_hessian::{
    norm, DenseSpectrumError, Estimator, ProbeKind, Probes, SlqOptions, UNTIL_MIN_PROBES,
};
use curvscope_metrics::{
    format_bytes, purpose_seed, report_from_spectrum, AdaptiveAverageOptions, AdaptiveWorstOptions,
    AscentOptions, CurvatureOptions, EpsilonSharpnessOptions, HessianSpectrum, MemoryPlan, Purpose,
    ReportOptions, SharpnessOptions, TraceHSigmaMethod,
};
use curvscope_model::files::{is_leftover_file, remove_if_present, write_atomic};
use curvscope_model::{load_checkpoint, Checkpoint, Dataset};
use indicatif::{MultiProgress, ProgressBar};

use crate::checkpoints::{checkpoint_dirs, checkpoint_name, content_sha256, dtype_name};
use crate::data::{data_mismatch, DataArgs, DataCache, DataChoice};
use crate::flags;
use crate::job::Job;
use crate::progress;
use crate::record::{
    analyzed_input, is_options_hash, AnalysisOptions, CheckpointRecord, DataUsed, Failure,
    FAILURES_CSV, MANIFEST_JSON, README_MD, REPORTS_DIR,
};
use crate::summary::{table, Row};
use crate::tables;

/// Arguments of `curvscope analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// A run folder (every subfolder holding a checkpoint is analyzed, in step order: by name,
    /// numbers compared as numbers) or a single checkpoint folder (model.safetensors +
    /// checkpoint.json).
    #[arg(value_name = "RUN_OR_CHECKPOINT", value_parser = flags::utf8_path())]
    pub input: PathBuf,
    /// Output folder [default: RUN_OR_CHECKPOINT/analysis]. Rerunning with the same folder
    /// resumes: checkpoints already analyzed with the same options are not recomputed. A rerun
    /// with other options sets the records it replaces aside (`reports/earlier/<options hash>/`),
    /// and a rerun with those options takes them back.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Number k of top Hessian eigenpairs (Lanczos); k + 1 eigenvalues bound Proposition 1's d_k.
    #[arg(short = 'k', long, default_value_t = 20, value_parser = flags::count)]
    pub top_k: usize,
    /// Lanczos tolerance: each Ritz pair has ‖Hu − λu‖ ≤ tol·|λ|max.
    #[arg(long, default_value = "1e-6", value_parser = flags::tolerance)]
    pub tol: f64,
    #[command(flatten)]
    pub krylov: flags::KrylovArgs,
    /// Compute at least K + 1 top eigenpairs (raising -k), so that condition 1 of
    /// Proposition 1 (d_k > ½) is tested for every k ≤ K: the paper reads it near k = 140.
    /// Lanczos then builds a basis of up to min(D, 2K + 102) vectors (its memory,
    /// (2K + 102)·D·8 bytes, unless --max-krylov bounds it) and takes several times K
    /// Hessian-vector products: 552 against 65 at the default -k 20 for K = 150 on LeNet
    /// (with --restarts 10).
    #[arg(long, value_name = "K", value_parser = flags::count)]
    pub prop1_k_max: Option<usize>,
    /// Skip the smallest Hessian eigenvalue (it flags negative curvature, outside Proposition 1;
    /// with --full-spectrum the whole spectrum flags it without).
    #[arg(long)]
    pub no_lambda_min: bool,
    /// Rademacher probes for Tr(H) after deflating the top-k eigenvectors, for nets whose Tr(H)
    /// is not exact (tanh mlp, toy2d; with --full-spectrum every Tr(H) is exact and this
    /// estimate is replaced). Where D is at most the probes (P, or those the default's pilot
    /// plans), Tr(H) is computed exactly instead, from D more Hessian-vector products [default:
    /// a pilot of 10 probes plans how many fresh ones reach a 1% relative standard error, at
    /// most 90; only those make the estimate, so that it is unbiased].
    #[arg(long, value_name = "P", value_parser = flags::count2)]
    pub trace_probes: Option<usize>,
    /// Estimate Tr(HΣ) stochastically with this many probes (≥ 2) instead of exactly (exact
    /// costs N per-sample gradients and N Hessian-vector products). The top-k eigenpairs'
    /// terms λ_j·u_jᵀΣu_j are added exactly and only the rest is probed: far smaller errors
    /// where the noise lines up with the curvature (measured on LeNet with 120 samples after 10
    /// GD steps: ±13 instead of ±323 at 100 probes), still unbiased. With few probes the stated
    /// standard error is itself rough: use tens of probes at least. Formerly
    /// `--tr-h-sigma-probes`, still accepted.
    #[arg(long, value_name = "P", alias = "tr-h-sigma-probes", value_parser = flags::count2)]
    pub trace_h_sigma_probes: Option<usize>,
    /// Top eigenpairs of Σ to compute and compare with H's (JSON reports only); holds all N
    /// centred gradients in memory (N·D·8 bytes). 0 skips it. Σ has rank at most N − 1:
    /// eigenpairs beyond its rank have eigenvalue 0 and an arbitrary vector of its null
    /// space, whose cosines with H's eigenvectors mean nothing.
    #[arg(long, default_value_t = 0, value_parser = flags::count_or_zero)]
    pub sigma_top_k: usize,
    /// Standard deviation σ of the expected-sharpness perturbations ν ~ N(0, σ²I).
    #[arg(long, default_value_t = SIGMA, value_parser = flags::positive)]
    pub sigma: f64,
    /// Number M of expected-sharpness (and --adaptive-sharpness-avg) perturbations (≥ 2). Each
    /// sample is L(θ+ν) − L(θ) − ∇L(θ)ᵀν: the last term has mean 0, so the estimate is the same
    /// quantity with less noise away from a minimum (one extra gradient per measure).
    #[arg(long, value_name = "M", default_value_t = SAMPLES, value_parser = flags::count2)]
    pub samples: usize,
    /// Skip expected sharpness.
    #[arg(long)]
    pub no_sharpness: bool,
    /// Also compute Keskar et al.'s ε-sharpness with this ε: the largest loss rise over the box
    /// |δ_i| ≤ ε(|θ_i| + 1), ×100/(1 + L), by projected ascent (a lower bound; Keskar et al.
    /// use 1e-3 and 5e-4). Costs --ascent-iterations gradients.
    #[arg(long, value_name = "EPS", value_parser = flags::positive)]
    pub epsilon_sharpness: Option<f64>,
    /// Also compute average adaptive sharpness E[L(θ+δ)] − L(θ), δ ~ N(0, ρ²diag(θ²))
    /// (Andriushchenko et al. 2023) with this ρ, from --samples perturbations.
    #[arg(long, value_name = "RHO", value_parser = flags::positive)]
    pub adaptive_sharpness_avg: Option<f64>,
    /// Also compute worst-case ℓ2 adaptive sharpness, max over ‖δ ⊘ |θ|‖₂ ≤ ρ, with this ρ, by
    /// projected ascent (a lower bound). Costs --ascent-iterations gradients.
    #[arg(long, value_name = "RHO", value_parser = flags::positive)]
    pub adaptive_sharpness_l2: Option<f64>,
    /// Also compute worst-case ℓ∞ adaptive sharpness, max over |δ_i| ≤ ρ|θ_i|, with this ρ, by
    /// projected sign ascent (a lower bound). Costs --ascent-iterations gradients.
    #[arg(long, value_name = "RHO", value_parser = flags::positive)]
    pub adaptive_sharpness_linf: Option<f64>,
    /// Ascent steps of each worst-case sharpness (--epsilon-sharpness, --adaptive-sharpness-l2,
    /// --adaptive-sharpness-linf).
    #[arg(long, value_name = "T", default_value_t = ASCENT_ITERATIONS, value_parser = flags::count)]
    pub ascent_iterations: usize,
    /// Ascent step length, as a fraction of the radius (ε or ρ) in the scaled coordinates.
    #[arg(long, value_name = "S", default_value_t = ASCENT_STEP, value_parser = flags::positive)]
    pub ascent_step: f64,
    /// Also estimate the Hessian's spectral density by stochastic Lanczos quadrature
    /// (density.csv): each probe's Ritz nodes and weights broadened by a Gaussian of variance
    /// σ² = 1e-5·max(1, span of all nodes), on 4,000 points from the smallest node − 6σ to the
    /// largest + 6σ, normalised to integrate to 1 (PyHessian's kernel).
    #[arg(long)]
    pub density: bool,
    /// SLQ probes for --density.
    #[arg(long, default_value_t = DENSITY_PROBES, value_parser = flags::count)]
    pub density_probes: usize,
    /// Lanczos steps per SLQ probe for --density.
    #[arg(long, default_value_t = DENSITY_STEPS, value_parser = flags::count)]
    pub density_steps: usize,
    /// Also compute every Hessian eigenvalue (spectrum.csv; counts of negative and zero
    /// eigenvalues in metrics.csv): D HVPs assemble H's lower triangle in f64 (each column from
    /// its parameter tensor on, the layers before it held fixed), then a dense
    /// eigendecomposition (faer), checked against the top-k of Lanczos. Tr(H) then is exact
    /// for any network (the sum of the assembled diagonal, where tanh or sigmoid nets otherwise
    /// get Hutchinson's estimate), Proposition 1's condition 1 is checked over all D
    /// eigenvalues, and the smallest decides whether H has negative curvature. Costs D HVPs
    /// (most of them through the last layers only), O(D³) time and 2·D²·8 bytes (2.05 GB for
    /// LeNet, D = 11,330: 8.4 minutes on 2 cores).
    #[arg(long)]
    pub full_spectrum: bool,
    /// Memory budget of --full-spectrum, in GB (10⁹ bytes): a larger D is refused up front,
    /// with the memory it needs.
    /// [default: 8, or the memory budget of everything else (--max-memory) where that is less]
    #[arg(long, value_name = "GB", value_parser = flags::positive)]
    pub full_spectrum_memory: Option<f64>,
    /// Memory budget of everything else (e.g. 8GB, 512MiB): each checkpoint's Lanczos bases
    /// and eigenvectors, per-sample gradient chunks and Σ's N centred gradients (--sigma-top-k)
    /// are sized before any work; --chunk is lowered to fit, and a stage that cannot fit is
    /// refused with what it needs and what to lower. Not counted: the data set and the
    /// network's activations [default: 3/4 of the memory available at start].
    #[arg(long, value_name = "SIZE", value_parser = flags::memory_size, allow_hyphen_values = true)]
    pub max_memory: Option<u64>,
    /// Batch size b for the minibatch-factor columns (Σ_batch = Σ/b) [default: the
    /// checkpoint's batch size, if recorded]. At most N.
    #[arg(long, value_name = "B", value_parser = flags::count)]
    pub batch: Option<usize>,
    /// Per-sample gradients held in memory at once (chunk·D·8 bytes; lowered to fit
    /// --max-memory). In one process the results do not depend on it: every sum over the
    /// samples adds them one at a time, in order.
    #[arg(long, default_value_t = 64, value_parser = flags::count)]
    pub chunk: usize,
    /// Master seed of every random start and probe: the Lanczos starts (H top, λ_min, Σ),
    /// Hutchinson, SLQ, Tr(HΣ) and sharpness each draw from their own seed derived from it
    /// (`curvscope_metrics::purpose_seed`), so no two share random numbers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads, 1 to 1,024 [default: all cores]. Results do not depend on it, but for
    /// the last bits of --full-spectrum's eigenvalues (faer's parallel eigensolver).
    #[arg(long, value_name = "N", value_parser = flags::threads)]
    pub threads: Option<usize>,
    /// No progress bar and no summary table (errors are still reported).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print each checkpoint's record as one JSON line on stdout (the summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Analyze only this job's share of the checkpoints: every N-th, starting at the I-th
    /// (0 ≤ I < N, in step order; I = $SLURM_ARRAY_TASK_ID of an array 0..N-1). Shards share
    /// --out: each writes only its checkpoints' reports/*.json and no CSV; afterwards
    /// `--merge` (or a plain analyze, which also computes whatever is missing) writes the CSVs.
    #[arg(long, value_name = "I/N", conflicts_with = "merge")]
    pub shard: Option<Shard>,
    /// Only rebuild the CSVs of --out from the stored reports/*.json (after --shard jobs);
    /// computes nothing, and lists every checkpoint without a current record in failures.csv
    /// (if none has one, nothing is written: the shards' flags were not passed, or no shard
    /// has finished).
    #[arg(long)]
    pub merge: bool,
    /// Compute at most N checkpoints that have no current record (in step order, after
    /// --shard's selection), then stop: those already analyzed are reused and one that fails is
    /// tried again by the next run (which exits with status 1 while any fails), neither counted,
    /// so repeating the same command goes on with the next N. The CSVs list every checkpoint
    /// with a record; a note on stderr (even with --quiet) says how many were left.
    #[arg(long, value_name = "N", value_parser = flags::count, conflicts_with = "merge")]
    pub max_checkpoints: Option<usize>,
}

/// `--shard I/N`: every N-th checkpoint starting at the I-th (0-based).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// This shard's checkpoints among `dirs` (all of them, in step order).
    fn select(self, dirs: Vec<PathBuf>) -> Vec<PathBuf> {
        dirs.into_iter()
            .skip(self.index)
            .step_by(self.count)
            .collect()
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Self { index, count }),
            _ => Err(format!(
                "'{s}' is not I/N with 0 ≤ I < N (e.g. 0/4 … 3/4 for four jobs)"
            )),
        }
    }
}

/// The defaults of the flags that set up a computation another flag turns on or off.
const SIGMA: f64 = 0.01;
const SAMPLES: usize = 1000;
const ASCENT_ITERATIONS: usize = 20;
const ASCENT_STEP: f64 = 0.5;
const DENSITY_PROBES: usize = 10;
const DENSITY_STEPS: usize = 100;
const FULL_SPECTRUM_GB: f64 = 8.0;

/// Refuses a flag set away from its default for a computation not asked for: it would change
/// nothing, and a run without the density (say) would pass for one with it.
fn refuse_unused_settings(a: &AnalyzeArgs) -> Result<()> {
    let worst_case = a.epsilon_sharpness.is_some()
        || a.adaptive_sharpness_l2.is_some()
        || a.adaptive_sharpness_linf.is_some();
    for (set, flags, asked, needs) in [
        (
            a.sigma != SIGMA,
            "--sigma",
            !a.no_sharpness,
            "expected sharpness (off with --no-sharpness)",
        ),
        (
            a.samples != SAMPLES,
            "--samples",
            !a.no_sharpness || a.adaptive_sharpness_avg.is_some(),
            "expected sharpness (off with --no-sharpness) or --adaptive-sharpness-avg",
        ),
        (
            a.density_probes != DENSITY_PROBES || a.density_steps != DENSITY_STEPS,
            "--density-probes and --density-steps",
            a.density,
            "--density",
        ),
        (
            a.ascent_iterations != ASCENT_ITERATIONS || a.ascent_step != ASCENT_STEP,
            "--ascent-iterations and --ascent-step",
            worst_case,
            "--epsilon-sharpness, --adaptive-sharpness-l2 or --adaptive-sharpness-linf",
        ),
        (
            a.full_spectrum_memory.is_some(),
            "--full-spectrum-memory",
            a.full_spectrum,
            "--full-spectrum",
        ),
    ] {
        ensure!(
            !set || asked,
            "{flags}: set for {needs}, which this analysis does not compute"
        );
    }
    Ok(())
}

/// The options of `args` that determine the numbers.
fn analysis_options(a: &AnalyzeArgs) -> Result<AnalysisOptions> {
    refuse_unused_settings(a)?;
    let top_k = a.prop1_k_max.map_or(a.top_k, |k| a.top_k.max(k + 1));
    let curvature = CurvatureOptions {
        top_k,
        tol: a.tol,
        max_krylov: a.krylov.max_krylov,
        restarts: (a.krylov.restarts > 0).then_some(a.krylov.restarts),
        lambda_min: !a.no_lambda_min,
        trace_probes: a
            .trace_probes
            .map_or(CurvatureOptions::default().trace_probes, Probes::Fixed),
        density: a.density.then_some(SlqOptions {
            n_probes: a.density_probes,
            steps: a.density_steps,
            probe: ProbeKind::Gaussian,
            seed: purpose_seed(a.seed, Purpose::Density),
        }),
        seed: a.seed,
    };
    let ascent = |purpose| AscentOptions {
        iterations: a.ascent_iterations,
        step: a.ascent_step,
        seed: purpose_seed(a.seed, purpose),
    };
    let worst_case = |rho: Option<f64>, purpose| {
        rho.map(|rho| AdaptiveWorstOptions {
            rho,
            ascent: ascent(purpose),
        })
    };
    let report = ReportOptions {
        chunk: a.chunk,
        trace_h_sigma: a
            .trace_h_sigma_probes
            .map_or(TraceHSigmaMethod::Exact, |probes| {
                TraceHSigmaMethod::Stochastic {
                    probes,
                    seed: purpose_seed(a.seed, Purpose::TraceHSigma),
                    known_top_terms: true,
                }
            }),
        sigma_top_k: a.sigma_top_k,
        sharpness: (!a.no_sharpness).then_some(SharpnessOptions {
            sigma: a.sigma,
            samples: a.samples,
            seed: purpose_seed(a.seed, Purpose::Sharpness),
        }),
        epsilon_sharpness: a.epsilon_sharpness.map(|epsilon| EpsilonSharpnessOptions {
            epsilon,
            ascent: ascent(Purpose::EpsilonSharpness),
        }),
        adaptive_sharpness_average: a.adaptive_sharpness_avg.map(|rho| AdaptiveAverageOptions {
            rho,
            samples: a.samples,
            seed: purpose_seed(a.seed, Purpose::AdaptiveSharpnessAverage),
        }),
        adaptive_sharpness_l2: worst_case(a.adaptive_sharpness_l2, Purpose::AdaptiveSharpnessL2),
        adaptive_sharpness_linf: worst_case(
            a.adaptive_sharpness_linf,
            Purpose::AdaptiveSharpnessLinf,
        ),
        batch_size: None,
        curvature,
    };
    Ok(AnalysisOptions {
        data: a.data.data.clone(),
        data_seed: a.data.data_seed,
        batch: a.batch,
        full_spectrum: a.full_spectrum,
        precision: a.data.precision,
        device: a.data.device,
        report,
    })
}

/// The checkpoints the progress bar counts: all of them, but of those without a record of
/// these options (current or set aside; its checkpoint bytes and data are compared later) at
/// most --max-checkpoints, so that its ETA is this job's.
fn planned(args: &AnalyzeArgs, dirs: &[PathBuf], reports: &Path, hash: &str) -> u64 {
    let has_record = |dir: &PathBuf| {
        let earlier = earlier_record(reports, hash, &checkpoint_name(dir));
        [record_path(reports, dir), earlier]
            .iter()
            .any(|record| recorded_options_hash(record).as_deref() == Some(hash))
    };
    let unrecorded = dirs.iter().filter(|dir| !has_record(dir)).count();
    let computed = args
        .max_checkpoints
        .map_or(unrecorded, |n| unrecorded.min(n));
    (dirs.len() - unrecorded + computed) as u64
}

/// Where the record of the checkpoint in `dir` is kept in `reports`.
fn record_path(reports: &Path, dir: &Path) -> PathBuf {
    reports.join(format!("{}.json", checkpoint_name(dir)))
}

/// What happened to each checkpoint in this run.
#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Computed,
    Reused,
    Failed,
    /// Not reached: --max-checkpoints had been computed.
    Left,
}

pub fn run(mut args: AnalyzeArgs) -> Result<ExitCode> {
    let job = Job::current()?;
    if !job.leads() {
        args.quiet = true;
        args.json = false;
    }
    let result = run_job(args, job);
    job.or_abort(result)
}

fn run_job(args: AnalyzeArgs, job: &Job) -> Result<ExitCode> {
    crate::flags::thread_pool(args.threads)?;
    let options = analysis_options(&args)?;
    let hash = options.hash();
    job.agree_on_settings(
        "the analysis options",
        &serde_json::json!({
            "options": AnalysisOptions {
                data: None,
                ..options.clone()
            },
            "max_checkpoints": args.max_checkpoints,
            "merge": args.merge,
            "shard": args.shard.map(|s| [s.index, s.count]),
        }),
    )?;
    let mut dirs = checkpoint_dirs(&args.input)?;
    if dirs.is_empty() {
        bail!("{}: no checkpoints (expected a checkpoint folder with checkpoint.json, or a run folder of them)", args.input.display());
    }
    // Each record holds its checkpoint's path as text (RUN_OR_CHECKPOINT is checked by clap).
    if let Some(odd) = dirs.iter().find(|dir| dir.to_str().is_none()) {
        let subject = format!("{}: a checkpoint folder whose name", odd.display());
        bail!(flags::not_utf8(subject, "rename it"));
    }
    if let Some(shard) = args.shard {
        dirs = shard.select(dirs);
    }
    // Refused before --out is touched, on the D each checkpoint.json names (weights unread);
    // each checkpoint's analysis checks it again on its loaded θ.
    if options.report.curvature.max_krylov.is_some() {
        for dir in &dirs {
            if let Some(dim) = recorded_dim(dir) {
                check_max_krylov(&options.report.curvature, dim)
                    .with_context(|| checkpoint_name(dir))?;
            }
        }
    }
    let names: Vec<String> = dirs.iter().map(|d| checkpoint_name(d)).collect();
    job.agree(
        &format!("the checkpoints of {}", args.input.display()),
        &names.join("/"),
    )?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.input.join("analysis"));
    let reports = out.join(REPORTS_DIR);
    if args.merge && job.leads() {
        let any_record = std::fs::read_dir(&reports).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json")))
        });
        ensure!(
            any_record,
            "--merge: {} holds no shard records: run the `--shard I/N` jobs into it first",
            reports.display()
        );
    }
    // Earlier results are replaced by new results only, never by a failure: the folder is
    // written (manifest, CSVs) once a checkpoint has a record, or when it held none before.
    // Rank 0 alone reads and writes --out: the others need not see it.
    let mut folder =
        OutputFolder::check(&out, &args.input, &dirs, job.leads(), args.shard.is_some())?;
    if job.leads() {
        note_other_options(&args, &out, &hash, &dirs);
    }
    let bars = MultiProgress::new();
    let planned = planned(&args, &dirs, &reports, &hash);
    let bar = bars.add(progress::bar(args.quiet, planned, "checkpoints"));
    let setup = Setup {
        options: &options,
        hash: &hash,
        budget: MemoryBudget::new(&args, job),
        job,
    };
    let mut records: Vec<Option<CheckpointRecord>> = vec![None; dirs.len()];
    let mut outcomes = Vec::with_capacity(dirs.len());
    let mut failures = Vec::new();
    let mut data = DataCache::default();
    let mut computed = 0;
    for (i, dir) in dirs.iter().enumerate() {
        let name = checkpoint_name(dir);
        let report_path = record_path(&reports, dir);
        let earlier = earlier_record(&reports, &hash, &name);
        // Read at most once, and only to compare with a record of these options or to be
        // analyzed: a checkpoint that --max-checkpoints leaves is never read.
        let hashed = OnceCell::new();
        let fingerprint = || hashed.get_or_init(|| content_sha256(dir)).clone();
        // The record and whether it was set aside by an analysis with other options.
        let stored = match job.leads() {
            true => CheckpointRecord::stored(&report_path, &hash, fingerprint)
                .map(|record| (record, false))
                .or_else(|why| {
                    CheckpointRecord::stored(&earlier, &hash, fingerprint)
                        .map(|record| (record, true))
                        .map_err(|_| why)
                })
                .and_then(|(record, set_aside)| {
                    made_on_current_data(record, dir, &options, &mut data, args.merge)
                        .map(|record| (record, set_aside))
                }),
            false => Err(String::new()),
        };
        if job.leaders(stored.is_ok()) {
            if let Ok((record, set_aside)) = stored {
                print_json(args.json, &record)?;
                if set_aside {
                    folder.open()?;
                    set_aside_other_options(&reports, &hash, &name)?;
                    std::fs::rename(&earlier, &report_path).with_context(|| {
                        format!(
                            "moving {} back to {}",
                            earlier.display(),
                            report_path.display()
                        )
                    })?;
                }
                folder.write_manifest(&args, &options, &hash)?;
                records[i] = Some(record);
            }
            outcomes.push(Outcome::Reused);
            bar.inc(1);
            bar.reset_eta();
            continue;
        }
        if args.merge {
            failures.push(Failure {
                checkpoint: name.clone(),
                path: dir.clone(),
                error: format!(
                    "--merge: {} (its shard failed or has not finished; a plain analyze computes \
                     it)",
                    stored.err().unwrap_or_default()
                ),
            });
            outcomes.push(Outcome::Failed);
            bar.inc(1);
            continue;
        }
        if args.max_checkpoints == Some(computed) {
            outcomes.push(Outcome::Left);
            continue;
        }
        let fingerprint = fingerprint();
        let progress = CheckpointProgress {
            name: &name,
            bars: &bars,
            bar: &bar,
            quiet: args.quiet,
        };
        let prepared = job
            .agree(
                &format!("{name}'s files"),
                fingerprint.as_deref().unwrap_or("unreadable"),
            )
            .and_then(|()| prepare(dir, &setup, &mut data, &progress));
        // A failure after the first collective cannot be skipped on one rank alone; one of
        // the numbers all ranks share can.
        let analyzed = job
            .unanimous(prepared)
            .and_then(|prepared| {
                job.or_abort(analyze_prepared(
                    dir,
                    prepared,
                    fingerprint,
                    &setup,
                    &progress,
                ))
            })
            .and_then(meaningful);
        match analyzed {
            Ok(_) if !job.leads() => {
                computed += 1;
                outcomes.push(Outcome::Computed);
            }
            Ok(record) => {
                computed += 1;
                for warning in warnings(&record) {
                    bar.suspend(|| eprintln!("warning: {name}: {warning}"));
                }
                folder.open()?;
                set_aside_other_options(&reports, &hash, &name)?;
                write_atomic(&report_path, &serde_json::to_vec_pretty(&record)?)?;
                folder.write_manifest(&args, &options, &hash)?;
                // One set aside with these options (of other checkpoint bytes) is superseded.
                remove_if_present(&earlier)
                    .with_context(|| format!("removing the superseded {}", earlier.display()))?;
                print_json(args.json, &record)?;
                records[i] = Some(record);
                outcomes.push(Outcome::Computed);
            }
            Err(err) => {
                let failure = Failure {
                    checkpoint: name.clone(),
                    path: dir.clone(),
                    error: format!("{err:#}"),
                };
                if job.leads() {
                    bar.suspend(|| eprintln!("error: checkpoint {name} failed: {}", failure.error));
                }
                // An earlier record of it stays: it is listed in no CSV of this run, and a rerun
                // reuses it only with its own options and checkpoint bytes.
                failures.push(failure);
                outcomes.push(Outcome::Failed);
            }
        }
        if folder.written {
            write_tables(&args, job, &out, &records, &failures)?;
        }
        bar.inc(1);
    }
    if !folder.had_results && job.leads() {
        folder.write_manifest(&args, &options, &hash)?;
    }
    if folder.written {
        write_tables(&args, job, &out, &records, &failures)?;
    }
    bar.finish_and_clear();
    let left = outcomes.iter().filter(|&&o| o == Outcome::Left).count();
    if left > 0 && job.leads() {
        // Even with --quiet: a job script repeating the command reads when to stop.
        eprintln!(
            "note: {left} checkpoint(s) left by --max-checkpoints: repeat the command to go on"
        );
    }
    if !args.quiet {
        if let Some(traffic) = job.traffic() {
            eprintln!("note: MPI: {traffic}");
        }
        let table = summary(&dirs, &records, &outcomes, &out, folder.written);
        if args.json {
            eprint!("{table}");
        } else {
            print!("{table}");
        }
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else if !job.leads() {
        Ok(ExitCode::FAILURE)
    } else if args.shard.is_some() {
        eprintln!(
            "error: {} of {} checkpoints of this shard failed (above; --merge lists every \
             checkpoint without a record)",
            failures.len(),
            dirs.len()
        );
        Ok(ExitCode::FAILURE)
    } else if folder.written {
        eprintln!(
            "error: {} of {} checkpoints failed (see {})",
            failures.len(),
            dirs.len(),
            out.join(FAILURES_CSV).display()
        );
        Ok(ExitCode::FAILURE)
    } else {
        eprintln!(
            "error: all {} checkpoints failed; {} is left as it was (its earlier results kept)",
            dirs.len(),
            out.display()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// The output folder of an analysis, and whether this run has written it yet.
struct OutputFolder {
    path: PathBuf,
    /// It held an earlier analysis (its analysis.json), which only new results may replace.
    had_results: bool,
    /// This run wrote its manifest: its CSVs are this run's from then on.
    written: bool,
    /// This run made (and locked) the folder and its reports/ ([`Self::open`]).
    opened: bool,
    /// The leading rank's lock on the folder ([`flags::lock_output`], shared among --shard
    /// jobs), taken once the folder exists; `None` before.
    lock: Option<flags::OutputLock>,
    /// This run is one --shard job of several writing the folder at once.
    shard: bool,
}

impl OutputFolder {
    /// Refuses (on the leading rank, which alone writes it) a path that is a file, a
    /// non-empty folder that is no analysis folder, an analysis of another input, or a folder
    /// another curvscope is writing now. No analysis folder: no analysis.json, and more than a
    /// reports/ folder (shards' records gathered for --merge) and the temporary files of
    /// atomic writes (a run killed while writing its analysis.json leaves one); its files (a
    /// README.md, a metrics.csv of one's own) would be overwritten. Another input: records are
    /// named by checkpoint, so a second run's step-000010 would replace the first's, and a
    /// single checkpoint would shrink a run's CSVs to its one row. Where analysis.json cannot
    /// say which input the folder holds (there is none, as in a folder of records alone; it is
    /// unreadable; or it names a folder that is gone: a run moved, or deleted), the records
    /// decide: one of `dirs`' names made of other checkpoint bytes elsewhere is refused
    /// ([`record_of_other_bytes`]), one of the same bytes (the run moved) is no conflict.
    fn check(
        path: &Path,
        input: &Path,
        dirs: &[PathBuf],
        leads: bool,
        shard: bool,
    ) -> Result<Self> {
        if leads {
            flags::refuse_non_folder(path, "--out")?;
        }
        let had_results = path.join(MANIFEST_JSON).is_file();
        let foreign = std::fs::read_dir(path).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let reports = entry.file_name() == REPORTS_DIR && entry.path().is_dir();
                !reports && !is_leftover_file(&entry)
            })
        });
        if leads && !had_results && foreign {
            bail!(
                "--out {}: exists, is not empty and is not an analysis folder (no {MANIFEST_JSON}); \
                 name a new folder or an earlier analysis",
                path.display()
            );
        }
        // The folder analysis.json names, and whether it is `input`: `None` where it cannot
        // be resolved (no readable analysis.json, or a folder that is gone).
        let recorded = analyzed_input(path).and_then(|other| {
            let same = other.canonicalize().ok()? == input.canonicalize().ok()?;
            Some((other, same))
        });
        match recorded {
            Some((other, false)) if leads => bail!(
                "--out {}: holds the analysis of {}; analyzing {} there would replace its \
                 records (they are named by checkpoint): name another folder",
                path.display(),
                other.display(),
                input.display()
            ),
            None if leads => {
                if let Some((name, other)) = record_of_other_bytes(&path.join(REPORTS_DIR), dirs) {
                    bail!(
                        "--out {}: its analysis.json does not say that it holds the analysis \
                         of {}, and its record of {name} is of other checkpoint bytes (made \
                         from {}); analyzing {} there would replace it: name another folder",
                        path.display(),
                        input.display(),
                        other.display(),
                        input.display()
                    );
                }
            }
            _ => {}
        }
        let lock = match leads && path.is_dir() {
            true => Some(flags::lock_output(path, "--out", shard)?),
            false => None,
        };
        Ok(Self {
            path: path.to_path_buf(),
            had_results,
            written: false,
            opened: false,
            lock,
            shard,
        })
    }

    /// Makes the folder and its reports/ (and locks the folder) if this run has not yet:
    /// before a record is written or moved.
    fn open(&mut self) -> Result<()> {
        if self.opened {
            return Ok(());
        }
        if self.lock.is_none() {
            self.lock = Some(flags::lock_output(&self.path, "--out", self.shard)?);
        }
        let reports = self.path.join(REPORTS_DIR);
        std::fs::create_dir_all(&reports)
            .with_context(|| format!("creating {}", reports.display()))?;
        if let Some(lock) = &self.lock {
            lock.remove_leftovers(&[&self.path, &reports])?;
        }
        self.opened = true;
        Ok(())
    }

    /// The folder's manifest and README, once per run, once its first record is in place: a
    /// run with other options that fails before that (setting the earlier records aside, say)
    /// leaves the manifest that describes the records and CSVs still there.
    fn write_manifest(
        &mut self,
        args: &AnalyzeArgs,
        options: &AnalysisOptions,
        hash: &str,
    ) -> Result<()> {
        if !self.written {
            self.open()?;
            write_manifest(args, &self.path, options, hash)?;
            self.written = true;
        }
        Ok(())
    }
}

/// The output folder's manifest and README (the leading rank's job).
fn write_manifest(
    args: &AnalyzeArgs,
    out: &Path,
    options: &AnalysisOptions,
    hash: &str,
) -> Result<()> {
    let manifest = serde_json::json!({
        "curvscope_version": env!("CARGO_PKG_VERSION"),
        // Absolute: `report` and `export` read the run's run.csv from it, from any folder; and
        // where the analysis itself was, so that a run moved with its analysis inside is found
        // (`analyzed_input`).
        "input": std::path::absolute(&args.input).unwrap_or_else(|_| args.input.clone()),
        "analysis": std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf()),
        "options": options,
        "options_hash": hash,
        "files": tables::column_docs(),
    });
    write_atomic(
        &out.join(MANIFEST_JSON),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(write_atomic(
        &out.join(README_MD),
        tables::readme().as_bytes(),
    )?)
}

/// The first of `dirs` whose record in `reports` was made of other checkpoint bytes than
/// the checkpoint holds now, in another folder, as its name and the folder the record names:
/// the record an analysis of `dirs` would replace. None is: an unreadable record or checkpoint
/// (a damaged record is recomputed; an unreadable checkpoint fails, leaving its record), one of
/// the same folder (the checkpoint rewritten since, as a plain rerun replaces it). Reads the
/// checkpoints with a record, as the analysis reads them again: only where analysis.json cannot
/// say whose analysis the folder holds.
fn record_of_other_bytes(reports: &Path, dirs: &[PathBuf]) -> Option<(String, PathBuf)> {
    dirs.iter().find_map(|dir| {
        let name = checkpoint_name(dir);
        let bytes = std::fs::read(reports.join(format!("{name}.json"))).ok()?;
        let record = CheckpointRecord::parse(&bytes).ok()?;
        // The checkpoint is read only where the record is of another folder.
        let same_folder = record.path.canonicalize().ok() == dir.canonicalize().ok();
        let other_bytes = || content_sha256(dir).is_some_and(|now| now != record.checkpoint_sha256);
        (!same_folder && other_bytes()).then_some((name, record.path))
    })
}

/// Where the record of checkpoint `name` made with the options hashed to `hash` is kept while
/// records of other options stand in reports/: `reports/earlier/<hash>/<name>.json`.
fn earlier_record(reports: &Path, hash: &str, name: &str) -> PathBuf {
    reports
        .join(EARLIER_DIR)
        .join(hash)
        .join(format!("{name}.json"))
}

/// Folder of reports/ holding the records a rerun with other options replaced.
const EARLIER_DIR: &str = "earlier";

/// Moves `reports/<name>.json` to [`earlier_record`] when it was made with other options than
/// `hash`: an analysis with other options (a quick look after a long --full-spectrum) takes its
/// place in the CSVs without costing it, and a rerun with its options takes it back.
fn set_aside_other_options(reports: &Path, hash: &str, name: &str) -> Result<()> {
    let current = reports.join(format!("{name}.json"));
    let Some(other) = recorded_options_hash(&current).filter(|other| other != hash) else {
        return Ok(());
    };
    let earlier = earlier_record(reports, &other, name);
    let folder = earlier.parent().expect("a file in a folder");
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    std::fs::rename(&current, &earlier)
        .with_context(|| format!("moving {} to {}", current.display(), earlier.display()))
}

/// A note for each set of checkpoints analyzed into `out` with other options.
fn note_other_options(args: &AnalyzeArgs, out: &Path, hash: &str, dirs: &[PathBuf]) {
    for (old, count) in other_options(&out.join(REPORTS_DIR), dirs, hash) {
        let fate = if args.merge {
            "--merge leaves them out: pass the options they were analyzed with".to_string()
        } else {
            format!(
                "each moves to {}/{EARLIER_DIR}/{old}/ once this analysis writes its \
                 checkpoint's record, and an analysis with those options takes it back",
                REPORTS_DIR
            )
        };
        eprintln!(
            "note: {count} of the {} checkpoints were analyzed into {} with other options \
             (options hash {old}); {fate}",
            dirs.len(),
            out.display()
        );
    }
}

/// Rewrites the CSVs of `out` from the records so far, unless this is one shard of several
/// (the CSVs are all shards' together: `--merge` writes them) or a rank other than the leader.
fn write_tables(
    args: &AnalyzeArgs,
    job: &Job,
    out: &Path,
    records: &[Option<CheckpointRecord>],
    failures: &[Failure],
) -> Result<()> {
    if args.shard.is_some() || !job.leads() {
        return Ok(());
    }
    tables::write_all(out, &records.iter().flatten().collect::<Vec<_>>(), failures)
}

/// How many of the stored records of `dirs` in `reports` were made with options other than
/// `hash`, by their options hash: a rerun replaces them.
fn other_options(reports: &Path, dirs: &[PathBuf], hash: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for dir in dirs {
        let path = record_path(reports, dir);
        if let Some(old) = recorded_options_hash(&path).filter(|old| old != hash) {
            *counts.entry(old).or_insert(0) += 1;
        }
    }
    counts
}

/// The options hash of the record at `path`, if it is a readable record with a well-formed one
/// ([`AnalysisOptions::hash`]: 16 hex digits; it names a folder of reports/earlier/).
fn recorded_options_hash(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let hash = record["options_hash"].as_str()?;
    is_options_hash(hash).then(|| hash.to_string())
}

/// Where one checkpoint's analysis shows its progress: the stage in the checkpoints bar's
/// message, and a bar of its own over the D Hessian columns of --full-spectrum.
struct CheckpointProgress<'a> {
    name: &'a str,
    bars: &'a MultiProgress,
    bar: &'a ProgressBar,
    quiet: bool,
}

impl CheckpointProgress<'_> {
    fn stage(&self, what: &str) {
        self.bar.set_message(format!("{}: {what}", self.name));
    }
    /// A bar over `total` Hessian columns, below the checkpoints bar.
    fn columns(&self, total: usize) -> ProgressBar {
        self.bars
            // A column costs the layers from its parameter tensor on, so the first (the first
            // layer's) cost most and the ETA falls as the bar moves on.
            .add(progress::bar(
                self.quiet,
                total as u64,
                "Hessian columns (the first are the dearest)",
            ))
    }
}

/// [`flags::check_max_krylov`] for the top k, once D is known, per checkpoint.
fn check_max_krylov(curvature: &CurvatureOptions, dim: usize) -> Result<()> {
    flags::check_max_krylov(
        curvature.max_krylov,
        curvature.top_k,
        dim,
        "-k, raised to --prop1-k-max + 1 if that is larger",
    )
}

/// D of the architecture checkpoint.json in `dir` names, if it can be read (else its analysis
/// says why).
fn recorded_dim(dir: &Path) -> Option<usize> {
    let bytes = std::fs::read(dir.join(curvscope_model::checkpoint::META_FILE)).ok()?;
    let meta: curvscope_model::CheckpointMeta = serde_json::from_slice(&bytes).ok()?;
    Some(meta.arch.dim())
}

/// The memory budgets of `analyze`, in bytes.
struct MemoryBudget {
    /// --full-spectrum-memory: the dense Hessian and its eigensolver's copy.
    full_spectrum: u64,
    /// --max-memory: everything else [`MemoryPlan`] counts.
    analysis: u64,
}

impl MemoryBudget {
    /// The flags' budgets; by default, everything else may use 3/4 of the memory available and
    /// the full spectrum 8 GB, or that 3/4 where it is less: a fixed 8 GB let a D whose dense
    /// Hessian the machine could not hold through the check, to fail after its D HVPs.
    fn new(args: &AnalyzeArgs, job: &Job) -> Self {
        // Each rank reads its own node's memory; they must plan alike.
        let analysis = job.smallest(args.max_memory.unwrap_or_else(flags::default_memory_budget));
        let full_spectrum = match args.full_spectrum_memory {
            Some(gb) => (gb * 1e9) as u64,
            None => ((FULL_SPECTRUM_GB * 1e9) as u64).min(analysis),
        };
        MemoryBudget {
            full_spectrum,
            analysis,
        }
    }
}

/// What the analyses of all checkpoints share: the options and their hash, the memory
/// budgets, and the job's ranks.
struct Setup<'a> {
    options: &'a AnalysisOptions,
    hash: &'a str,
    budget: MemoryBudget,
    job: &'a Job,
}

/// `record` if it was made on the data its checkpoint would be evaluated on now, else why
/// not: a record of an .npz since rewritten under its name must not stand for the new one.
/// Data that cannot be loaded is no match (the checkpoint's own analysis then says why), but in
/// a `merge`, which only gathers what the shards made, a warning.
fn made_on_current_data(
    record: CheckpointRecord,
    dir: &Path,
    options: &AnalysisOptions,
    cache: &mut DataCache,
    merge: bool,
) -> Result<CheckpointRecord, String> {
    let data = DataChoice::resolve(
        dir,
        &record.meta,
        options.data.as_deref(),
        options.data_seed,
    )
    .and_then(|choice| cache.get(&choice).map(|data| data.info().clone()));
    match data {
        Ok(now) if record.data.info.same_data(&now) => Ok(record),
        Ok(now) => Err(format!(
            "its record was made on other data than '{}' holds now ({} samples, inputs sha256 \
             {})",
            now.name,
            now.n,
            now.inputs_sha256
                .as_deref()
                .map_or("—", |h| h.get(..12).unwrap_or(h))
        )),
        // A merge node need not read the data: the shard that made the record did.
        Err(e) if merge => {
            eprintln!(
                "warning: {}: its record is merged unchecked: its data cannot be loaded here \
                 ({e:#})",
                record.checkpoint
            );
            Ok(record)
        }
        Err(e) => Err(format!("its data cannot be loaded: {e:#}")),
    }
}

/// A checkpoint loaded with its data and memory plan, before any collective call: what
/// [`prepare`] checks every rank alike.
struct Prepared<'a> {
    checkpoint: Checkpoint,
    choice: DataChoice,
    data: &'a Dataset,
    plan: MemoryPlan,
    /// b of the minibatch columns ([`batch_size`]).
    batch: Option<usize>,
    start: Instant,
}

/// Loads one checkpoint and its data and plans its memory; refuses a D whose dense Hessian
/// (with --full-spectrum) or whose analysis does not fit the budget before any other work.
/// Calls no collective: every rank has read the same bytes, so a checkpoint that does not load
/// fails on each alike, and the job records that and goes on ([`Job::unanimous`]).
fn prepare<'a>(
    dir: &Path,
    setup: &Setup,
    cache: &'a mut DataCache,
    progress: &CheckpointProgress,
) -> Result<Prepared<'a>> {
    let &Setup {
        options,
        ref budget,
        job,
        ..
    } = setup;
    let start = Instant::now();
    let name = progress.name;
    progress.stage("loading");
    let checkpoint = load_checkpoint(dir)?;
    if options.full_spectrum {
        DenseSpectrumError::check_memory(checkpoint.theta.len(), budget.full_spectrum)
            .context("--full-spectrum (raise --full-spectrum-memory if the machine has it)")?;
    }
    let choice = DataChoice::resolve(
        dir,
        &checkpoint.meta,
        options.data.as_deref(),
        options.data_seed,
    )?;
    let data = cache.get(&choice)?;
    // What building the objective would refuse, refused here on every rank alike.
    curvscope_model::check_fits(&checkpoint.meta.arch, data)
        .with_context(|| format!("{name}: building the network on '{}'", choice.spec))?;
    job.can_share(data.len())?;
    let batch = batch_size(options.batch, checkpoint.meta.batch_size, data.len())?;
    // The recorded batch size was not a batch of this data (rank 0 says so, once).
    if let (None, Some(b), true) = (batch, checkpoint.meta.batch_size, job.leads()) {
        eprintln!(
            "warning: {name}: checkpoint.json's batch_size {b} is not a batch of the {} samples \
             analyzed; the minibatch columns are left empty (pass --batch to set one)",
            data.len()
        );
    }
    let dim = checkpoint.theta.len();
    check_max_krylov(&options.report.curvature, dim)?;
    // Sized for all N samples: a rank holding a share needs less.
    let plan = MemoryPlan::new(
        dim,
        data.len(),
        &options.report,
        job.krylov_basis(options.device),
        budget.analysis,
    )?;
    if plan.chunk < plan.requested_chunk && job.leads() {
        eprintln!(
            "note: {name}: streaming {} per-sample gradients at a time (not {}) to stay within \
             the {} memory budget",
            plan.chunk,
            plan.requested_chunk,
            format_bytes(budget.analysis)
        );
    }
    if options.data.is_none() && job.leads() {
        if let Some(warning) = data_mismatch(&checkpoint.meta, data) {
            eprintln!("warning: {name}: {warning}");
        }
    }
    crate::network::check_representable(
        &checkpoint.meta.arch,
        &checkpoint.theta,
        options.precision,
    )?;
    Ok(Prepared {
        checkpoint,
        choice,
        data,
        plan,
        batch,
        start,
    })
}

/// Builds a prepared checkpoint's objective (on this rank's share of the samples in a job of
/// several) and computes its report.
fn analyze_prepared(
    dir: &Path,
    prepared: Prepared,
    fingerprint: Option<String>,
    setup: &Setup,
    progress: &CheckpointProgress,
) -> Result<CheckpointRecord> {
    let &Setup {
        options,
        hash,
        ref budget,
        job,
    } = setup;
    let Prepared {
        checkpoint,
        choice,
        data,
        plan,
        batch,
        start,
    } = prepared;
    let name = progress.name;
    let theta = &checkpoint.theta;
    let objective = job
        .objective(
            &checkpoint.meta.arch,
            data,
            options.precision,
            options.device,
        )
        .with_context(|| format!("{name}: building the network on '{}'", choice.spec))?;
    let mut report_options = options.report.clone();
    report_options.batch_size = batch;
    report_options.chunk = plan.chunk;
    let k = report_options.curvature.top_k;
    let density = if options.report.curvature.density.is_some() {
        ", SLQ density"
    } else {
        ""
    };
    let hessian = if options.full_spectrum {
        progress.stage(&format!(
            "full spectrum (Hessian columns, then the eigendecomposition), top {k} by \
             Lanczos{density}"
        ));
        let columns = progress.columns(theta.len());
        let hessian = HessianSpectrum::compute_with_dense_spectrum(
            &*objective,
            theta,
            &report_options.curvature,
            budget.full_spectrum,
            &|j| columns.set_position(j as u64),
        )?;
        columns.finish_and_clear();
        hessian
    } else {
        progress.stage(&format!(
            "Hessian spectrum (top {k} by Lanczos, Tr(H){density})"
        ));
        HessianSpectrum::compute(&*objective, theta, &report_options.curvature)
    };
    progress.stage("Σ statistics, Tr(HΣ), expected sharpness");
    let report = report_from_spectrum(&*objective, theta, &hessian, &report_options);
    Ok(CheckpointRecord {
        checkpoint: name.to_string(),
        path: dir.to_path_buf(),
        checkpoint_sha256: fingerprint.context("checkpoint files changed while being read")?,
        dtype: dtype_name(checkpoint.dtype).to_string(),
        theta_norm: norm(theta),
        data: DataUsed::new(&choice, data),
        accuracy: objective.accuracy(theta),
        meta: checkpoint.meta,
        options: options.clone(),
        options_hash: hash.to_string(),
        wall_time_s: start.elapsed().as_secs_f64(),
        report,
    })
}

/// `record`, unless its loss or gradient is not finite: a finite loss can still have a NaN
/// gradient (a NaN behind a ReLU or a max-pool), and then every curvature number is
/// meaningless. The same on every rank (they hold the same numbers), so a job goes past it.
fn meaningful(record: CheckpointRecord) -> Result<CheckpointRecord> {
    let report = &record.report;
    ensure!(
        report.loss.is_finite() && report.grad_norm.is_finite(),
        "the loss at θ is {} and its gradient's norm {} on '{}'",
        report.loss,
        report.grad_norm,
        record.data.spec
    );
    Ok(record)
}

/// The batch size b of the minibatch columns: `--batch` (at most the N samples), else the
/// checkpoint's own when it is a batch of this data (1 ≤ b ≤ N; otherwise the columns are
/// left empty, which the caller warns of once), else none.
fn batch_size(given: Option<usize>, recorded: Option<usize>, n: usize) -> Result<Option<usize>> {
    if let Some(b) = given {
        ensure!(b <= n, "--batch {b} exceeds the {n} samples of the data");
        return Ok(Some(b));
    }
    Ok(recorded.filter(|b| (1..=n).contains(b)))
}

/// What a reader of `record`'s numbers must know: Lanczos not converged, Tr(H) short of its
/// standard-error target, fewer than 10 probes asked for, a repeated λ₁ (u₁ not unique),
/// numbers left undefined (empty in metrics.csv) and why.
fn warnings(record: &CheckpointRecord) -> Vec<String> {
    let report = &record.report;
    let mut found = Vec::new();
    if !report.hessian_converged {
        found.push(format!(
            "the top-{} eigenpairs did not converge to --tol (hessian_converged = false; \
             residuals in eigenvalues.csv): raise --max-krylov, or --restarts to go on in the \
             same memory",
            record.options.report.curvature.top_k
        ));
    }
    if let Some(whole) = &report.whole_spectrum {
        let tol = record.options.report.curvature.tol;
        // A converged Lanczos pair is within about tol·max|λ| of an eigenvalue; further off,
        // Lanczos missed copies of a repeated eigenvalue (it can without a breakdown).
        if whole.lanczos_max_rel_diff > 10.0 * tol {
            found.push(format!(
                "the top-{} eigenvalues by Lanczos differ from the full spectrum's by up to \
                 {:.2e}·max|λ| (spectrum_lanczos_rel_diff; tol {tol:e}): a repeated top \
                 eigenvalue had copies Lanczos did not find; the full spectrum \
                 (spectrum.csv) has them all",
                record.options.report.curvature.top_k, whole.lanczos_max_rel_diff
            ));
        }
    }
    let t = &report.trace_h;
    // The pilot's plan is itself an estimate, so a stated error a little over the target is
    // the rule working; warned where the budget ran out or the miss is large.
    let rule = record.options.report.curvature.trace_probes;
    if let Probes::Until { rel_stderr, .. } = rule {
        let over = t.stderr / (rel_stderr * t.value.abs());
        if t.estimator == Estimator::Stochastic
            && over > 1.0
            && (t.probes >= rule.most() || over > 1.5)
        {
            found.push(format!(
                "Tr(H) = {:.4e} ± {:.2e} ({:.1}% relative standard error) missed its {}% target \
                 within {} probes: pass more --trace-probes",
                t.value,
                t.stderr,
                100.0 * t.stderr / t.value.abs(),
                100.0 * rel_stderr,
                t.probes
            ));
        }
    }
    // Probes of a quadratic form are skewed: with few, a run that comes out low also states
    // too small an error (bench/results/2026-12-06-calibration/ on small nets,
    // bench/results/2026-12-07-coverage/ on quadratics). Fewer than the stopping
    // rule's own least are asked for.
    let sharpness = report.expected_sharpness.as_ref().map(|s| &s.signed);
    for (name, estimate, flag) in [
        ("Tr(H)", Some(t), "--trace-probes"),
        (
            "Tr(HΣ)",
            Some(&report.trace_h_sigma),
            "--trace-h-sigma-probes",
        ),
        ("The expected sharpness", sharpness, "--samples"),
    ] {
        let Some(estimate) = estimate else { continue };
        if estimate.estimator == Estimator::Stochastic && estimate.probes < UNTIL_MIN_PROBES {
            found.push(format!(
                "{name} = {:.4e} ± {:.2e} is from {} probes ({flag}): below \
                 {UNTIL_MIN_PROBES} its standard error is rough, too small in just the runs that \
                 come out low (on small nets and power-law quadratics ±2 errors covered the \
                 truth in 69–87% of seeds at 3–5 probes, 87–90% at 10 for the expected \
                 sharpness, and 89–94% at 20)",
                estimate.value, estimate.stderr, estimate.probes
            ));
        }
    }
    let repeated = curvscope_metrics::top_eigenvalue_multiplicity(&report.hessian_eigenvalues);
    if repeated > 1 && report.proposition1.projection_coefficient.is_some() {
        found.push(format!(
            "λ₁ = {:.6e} is repeated ({repeated} of the top eigenvalues agree within {:e} of \
             it): u₁ is one vector of its eigenspace, so u₁ᵀΣu₁, â and the bound depend on \
             which one Lanczos returned (the eigenvalues, Tr(HΣ) and the ratio do not)",
            report.hessian_eigenvalues[0],
            curvscope_metrics::ZERO_RTOL
        ));
    }
    let undefined = proposition1_undefined(report);
    if !undefined.is_empty() {
        found.push(format!(
            "{} undefined (left empty in metrics.csv): {}",
            undefined.join(", "),
            why_undefined(report)
        ));
    }
    let overflowed = tables::undefined_columns(record);
    if !overflowed.is_empty() {
        found.push(format!(
            "{} not finite (NaN or ±∞; left empty in metrics.csv): e.g. an overflow of the \
             loss at θ moved by a large --sigma or sharpness radius",
            overflowed.join(", ")
        ));
    }
    found
}

/// The metrics.csv columns of the Proposition 1 quantities `report` leaves undefined (`None`).
fn proposition1_undefined(report: &curvscope_metrics::Report) -> Vec<&'static str> {
    let p = &report.proposition1;
    [
        ("a_hat", p.projection_coefficient.is_none()),
        ("ratio", report.anisotropy_ratio.is_none()),
        ("prop1_bound", p.bound.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, undefined)| undefined.then_some(name))
    .collect()
}

/// The likely cause of an undefined quantity in `report`.
fn why_undefined(report: &curvscope_metrics::Report) -> String {
    if report.trace_sigma.value == 0.0 {
        format!(
            "Tr(Σ) = 0 (every one of the N = {} per-sample gradients equals their mean: no \
             gradient noise to compare with)",
            report.n_samples
        )
    } else if report.trace_h.value <= 0.0 || report.proposition1.lambda1 <= 0.0 {
        "Tr(H) or λ₁ is not positive".into()
    } else {
        "a ratio of these quantities is not a finite number".into()
    }
}

fn print_json(enabled: bool, record: &CheckpointRecord) -> Result<()> {
    if enabled {
        println!("{}", serde_json::to_string(record)?);
    }
    Ok(())
}

/// The table printed at the end: the headline numbers of each checkpoint and what happened to it.
fn summary(
    dirs: &[PathBuf],
    records: &[Option<CheckpointRecord>],
    outcomes: &[Outcome],
    out: &Path,
    written: bool,
) -> String {
    let rows: Vec<Row> = dirs
        .iter()
        .zip(records)
        .zip(outcomes)
        .map(|((dir, record), outcome)| {
            let done = match outcome {
                Outcome::Computed => "computed",
                Outcome::Reused => "reused",
                Outcome::Failed => "FAILED",
                Outcome::Left => "left (--max-checkpoints)",
            };
            let unconverged = record.as_ref().is_some_and(|r| !r.report.hessian_converged);
            let status = Some(match unconverged {
                true => format!("{done}, NOT CONVERGED"),
                false => done.to_string(),
            });
            match record {
                Some(r) => Row::from_record(r, status),
                None => Row {
                    label: checkpoint_name(dir),
                    status,
                    ..Row::default()
                },
            }
        })
        .collect();
    let whereabouts = if written {
        "results in"
    } else {
        "nothing written to"
    };
    format!(
        "{}{whereabouts} {}\n",
        table("checkpoint", &rows),
        out.display()
    )
}
