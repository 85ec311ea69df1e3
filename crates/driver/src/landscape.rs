//! `curvscope landscape`: the loss and accuracy on a line or a plane through a checkpoint
//! (curvscope-metrics' slices), written as landscape.csv, landscape.json and figures.
//!
//! Resumable like `analyze`: landscape.json (written before the first grid point) records the
//! options and the checkpoints' fingerprints, and every chunk of points is appended to
//! landscape.csv in grid order and synced, so a killed run keeps a prefix of the grid and a
//! rerun with the same options continues after it. Every point is computed on its own from
//! seeded directions, so the resumed grid equals an uninterrupted one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, ensure, Context, Result};
use curvscope_hessian::{krylov_size, norm, LanczosOptions};
use curvscope_metrics::{
    evaluate_slice, filter_normalized_directions, grid_points, hessian_directions,
    hessian_directions_memory, linspace, purpose_seed, Purpose, QuadraticModel, SlicePoint,
};
use curvscope_model::files::write_atomic;
use curvscope_model::{load_checkpoint, Checkpoint, Objective};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checkpoints::{checkpoint_name, content_sha256, refuse_run_folder};
use crate::data::{data_mismatch, DataArgs, DataCache, DataChoice};
use crate::flags;
use crate::landscape_folder::{
    column_docs, read_figure, resumed_rows, CsvAppender, FigureText, LANDSCAPE_CSV,
    LANDSCAPE_FIGURE, LANDSCAPE_JSON,
};
use crate::network::{check_representable, objective};
use crate::progress;
use crate::record::{options_hash, DataUsed};

/// `--tol`'s default, `analyze`'s.
const DEFAULT_TOL: f64 = 1e-6;

/// Arguments of `curvscope landscape`.
#[derive(clap::Args, Debug)]
pub struct LandscapeArgs {
    /// Checkpoint folder θ the slice passes through (its origin).
    #[arg(value_name = "CHECKPOINT", value_parser = flags::utf8_path())]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Directions of the slice. random: Gaussian directions, filter-normalised (Li et al.
    /// 2018: each filter, a slice along a weight tensor's first axis, rescaled to the norm of
    /// θ's filter), biases and other 1-D tensors held fixed (Li et al.'s ignore='biasbn');
    /// coordinates in those units. hessian: the top eigenvector u₁ (and u₂ on a plane) of H at θ
    /// by Lanczos, scaled to u_i/√λ_i and signed so that gᵀu_i ≥ 0, so coordinate c raises the
    /// quadratic model by c²/2.
    #[arg(long, value_enum, default_value_t = DirectionKind::Random)]
    pub directions: DirectionKind,
    /// The straight line from CHECKPOINT (t = 0) to CHECKPOINT2 (t = 1) instead of
    /// --directions; with --grid 2d the second direction is a filter-normalised random one. A
    /// batch-norm net is evaluated with CHECKPOINT's running statistics, and the data are
    /// normalised by CHECKPOINT's "normalize", all along (a warning says when CHECKPOINT2's
    /// differ).
    #[arg(long, value_name = "CHECKPOINT2", conflicts_with = "directions", value_parser = flags::utf8_path())]
    pub to: Option<PathBuf>,
    /// A line (1d) or a plane (2d) through θ.
    #[arg(long, value_enum, default_value_t = GridKind::OneD)]
    pub grid: GridKind,
    /// Grid points along each axis (2 to 10,000) [default: 51 on a line (41 with --to, so
    /// that t = 0 and t = 1 are grid points at the default span), 21 per axis on a plane].
    #[arg(long, value_name = "N", value_parser = flags::grid_points)]
    pub points: Option<usize>,
    /// Half-width S of the grid, at most 1e6: coordinates from −S to S (with --to, t from −S
    /// to 1 + S along the line) [default: 1 for random (Li et al.'s range), 2 for hessian, 0.5
    /// for --to].
    #[arg(long, value_name = "S", value_parser = flags::span)]
    pub span: Option<f64>,
    /// Seed of the random directions and of the Lanczos start (the same start `analyze --seed`
    /// uses for the top eigenpairs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Lanczos tolerance for --directions hessian: ‖Hu − λu‖ ≤ tol·|λ|max [default: 1e-6].
    /// Refused with the other directions, which run no Lanczos.
    #[arg(long, value_parser = flags::tolerance)]
    pub tol: Option<f64>,
    #[command(flatten)]
    pub krylov: flags::KrylovArgs,
    /// Memory budget of --directions hessian's Lanczos (e.g. 8GB, 512MiB): its basis and
    /// eigenvectors are sized before any work, and refused with what they need and what to
    /// lower where they cannot fit. Not counted: the data set and the network's activations
    /// [default: 3/4 of the memory available at start].
    #[arg(long, value_name = "SIZE", value_parser = flags::memory_size, allow_hyphen_values = true)]
    pub max_memory: Option<u64>,
    /// Output folder [default: CHECKPOINT/landscape-<random|hessian|line>-<1d|2d>]. A rerun
    /// with the same options continues a grid left unfinished there.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads, 1 to 1,024 [default: all cores]. Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = flags::threads)]
    pub threads: Option<usize>,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Stop after the first N grid points (to test resuming).
    #[arg(long, hide = true)]
    pub max_points: Option<usize>,
}

/// `--directions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DirectionKind {
    Random,
    Hessian,
}

/// `--grid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum GridKind {
    #[value(name = "1d")]
    #[serde(rename = "1d")]
    OneD,
    #[value(name = "2d")]
    #[serde(rename = "2d")]
    TwoD,
}

impl GridKind {
    fn dims(self) -> usize {
        match self {
            GridKind::OneD => 1,
            GridKind::TwoD => 2,
        }
    }
}

/// What a slice's first direction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SliceKind {
    Random,
    Hessian,
    /// Towards the `--to` checkpoint.
    Line,
}

impl SliceKind {
    /// Its name in landscape.json and in the default output folder.
    fn name(self) -> &'static str {
        match self {
            SliceKind::Random => "random",
            SliceKind::Hessian => "hessian",
            SliceKind::Line => "line",
        }
    }

    /// `--span`'s default.
    fn default_span(self) -> f64 {
        match self {
            SliceKind::Random => 1.0,
            SliceKind::Hessian => 2.0,
            SliceKind::Line => 0.5,
        }
    }
}

/// Everything that determines the numbers; its hash decides whether a stored grid is continued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SliceOptions {
    directions: SliceKind,
    /// The second checkpoint of a line, with the SHA-256 of its files.
    to: Option<(PathBuf, String)>,
    grid: GridKind,
    points: usize,
    span: f64,
    seed: u64,
    /// Lanczos tolerance (hessian only).
    tol: Option<f64>,
    /// Lanczos' largest subspace and thick restarts (hessian only; left out of the hash when
    /// unset, so slices made before these flags continue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_krylov: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restarts: Option<usize>,
    data: DataChoice,
    precision: curvscope_model::Precision,
    device: crate::network::Device,
}

impl SliceOptions {
    fn hash(&self) -> String {
        options_hash(self)
    }

    /// The Lanczos run of a Hessian slice, for its top 1 or 2 eigenpairs; `None` for the other
    /// slices, whose `tol` is `None`.
    fn lanczos(&self) -> Option<LanczosOptions> {
        Some(LanczosOptions {
            k: self.grid.dims(),
            tol: self.tol?,
            max_krylov: self.max_krylov,
            restarts: self.restarts.unwrap_or(0),
            seed: purpose_seed(self.seed, Purpose::HessianTop),
            ..LanczosOptions::default()
        })
    }
}

/// The directions of the slice, the meaning of its coordinates, and what produced them.
struct Directions {
    vectors: Vec<Vec<f64>>,
    axes: Vec<Vec<f64>>,
    /// Axis titles for the figure.
    labels: Vec<String>,
    /// The marked points: θ, and the second checkpoint of a line.
    marks: Vec<Vec<f64>>,
    /// Provenance for landscape.json (eigenvalues, seeds, ‖d‖).
    record: serde_json::Value,
}

pub fn run(args: LandscapeArgs) -> Result<ExitCode> {
    crate::flags::thread_pool(args.threads)?;
    let dir = &args.checkpoint;
    refuse_run_folder(dir, |last| {
        format!("`curvscope landscape {}`", last.display())
    })?;
    let checkpoint = load_checkpoint(dir)
        .with_context(|| format!("cannot load checkpoint {}", dir.display()))?;
    let fingerprint = content_sha256(dir).context("checkpoint files changed while being read")?;
    let to = match &args.to {
        Some(path) => Some(second_checkpoint(path, &checkpoint)?),
        None => None,
    };
    // Flags the slice would ignore, refused before the data is read.
    let kind = match (&to, args.directions) {
        (Some(_), _) => SliceKind::Line,
        (None, DirectionKind::Random) => SliceKind::Random,
        (None, DirectionKind::Hessian) => SliceKind::Hessian,
    };
    let lanczos_flag = [
        (args.tol.is_some(), "--tol sets the Lanczos tolerance"),
        (
            args.krylov.max_krylov.is_some(),
            "--max-krylov bounds the Lanczos",
        ),
        (args.krylov.restarts > 0, "--restarts restarts the Lanczos"),
        (args.max_memory.is_some(), "--max-memory sizes the Lanczos"),
    ]
    .into_iter()
    .find(|(given, _)| *given);
    if let Some((_, what)) = lanczos_flag {
        ensure!(
            kind == SliceKind::Hessian,
            "{what} of --directions hessian; a {} slice runs no Lanczos",
            kind.name()
        );
    }
    let dims = args.grid.dims();
    if kind == SliceKind::Hessian {
        flags::check_max_krylov(
            args.krylov.max_krylov,
            dims,
            checkpoint.theta.len(),
            "1 on a line, 2 on a plane",
        )?;
    }
    let choice = DataChoice::resolve(
        dir,
        &checkpoint.meta,
        args.data.data.as_deref(),
        args.data.data_seed,
    )?;
    let mut cache = DataCache::default();
    let data = cache.get(&choice)?;
    if args.data.data.is_none() {
        if let Some(warning) = data_mismatch(&checkpoint.meta, data) {
            eprintln!("warning: {warning}");
        }
    }
    check_representable(
        &checkpoint.meta.arch,
        &checkpoint.theta,
        args.data.precision,
    )?;
    let objective = objective(
        &checkpoint.meta.arch,
        data,
        args.data.precision,
        args.data.device,
    )
    .with_context(|| format!("building the network on '{}'", choice.spec))?;
    let options = SliceOptions {
        directions: kind,
        to: to
            .as_ref()
            .map(|(path, sha, _)| (path.clone(), sha.clone())),
        grid: args.grid,
        points: args.points.unwrap_or(match (dims, kind) {
            // t = 0 and 1, the two checkpoints, on the grid: steps of 0.05 from −0.5.
            (1, SliceKind::Line) => 41,
            (1, _) => 51,
            _ => 21,
        }),
        span: args.span.unwrap_or(kind.default_span()),
        seed: args.seed,
        tol: (kind == SliceKind::Hessian).then_some(args.tol.unwrap_or(DEFAULT_TOL)),
        max_krylov: args.krylov.max_krylov,
        restarts: (args.krylov.restarts > 0).then_some(args.krylov.restarts),
        data: choice.clone(),
        precision: args.data.precision,
        device: args.data.device,
    };
    if let Some(lanczos) = options.lanczos() {
        let budget = args.max_memory.unwrap_or_else(flags::default_memory_budget);
        let basis = args.data.device.krylov_basis();
        hessian_directions_memory(checkpoint.theta.len(), &lanczos, basis, budget)?;
    }
    let out = args.out.clone().unwrap_or_else(|| {
        dir.join(format!(
            "landscape-{}-{}",
            kind.name(),
            if dims == 1 { "1d" } else { "2d" }
        ))
    });
    // As analyze and info refuse it: a slice around a NaN has no number to show.
    let loss = objective.loss(&checkpoint.theta);
    ensure!(
        loss.is_finite(),
        "{}: the loss at θ is {loss} on '{}'",
        dir.display(),
        choice.spec
    );
    refuse_foreign_slice(&out)?;
    let lock = flags::lock_output(&out, "--out", false)?;
    // A slice's folder already: the temporary files a killed run left there are ours to remove
    // (not in a folder of the user's that --out names for the first time).
    if holds_slice(&out) {
        lock.remove_leftovers(&[&out])?;
    }

    let theta = &checkpoint.theta;
    let quiet = args.quiet;
    let status = |what: &str| {
        if !quiet {
            eprintln!("{what}");
        }
    };
    status(&format!("directions ({}, {dims}-D)…", kind.name()));
    let directions = directions(&*objective, theta, &options, to.as_ref().map(|t| &t.2))?;
    status("quadratic model (gradient and Hessian-vector products)…");
    let model = QuadraticModel::new(&*objective, theta, &directions.vectors);
    let hash = options.hash();
    let manifest = json!({
        "curvscope_version": env!("CARGO_PKG_VERSION"),
        "checkpoint": dir,
        "checkpoint_sha256": fingerprint,
        "options": options,
        "options_hash": hash,
        "data": DataUsed::new(&choice, data),
        "axes": directions.axes,
        "directions": directions.record,
        "quadratic_model": model,
        "columns": column_docs(dims),
        "figure": FigureText {
            title: format!("{} — {}", checkpoint_name(dir), title(kind, dims)),
            axis_labels: directions.labels,
            marks: directions.marks,
        },
    });
    let grid = grid_points(&directions.axes);
    let mut rows = resumed_rows(&out, &hash, &fingerprint, data.info(), &grid, &model, dims)?;
    if !rows.is_empty() && !quiet {
        eprintln!(
            "continuing {}: {} of {} grid points already computed",
            out.display(),
            rows.len(),
            grid.len()
        );
    }
    write_atomic(
        &out.join(LANDSCAPE_JSON),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;

    let stop = args.max_points.unwrap_or(grid.len()).min(grid.len());
    let bar = progress::bar(quiet, grid.len() as u64, "grid points");
    bar.set_position(rows.len() as u64);
    bar.reset_eta();
    // Chunks of a few points per core: each ends with its rows appended to landscape.csv.
    let chunk = 4 * rayon::current_num_threads();
    let mut appender = CsvAppender::new(&out, dims);
    while rows.len() < stop {
        let next = &grid[rows.len()..stop.min(rows.len() + chunk)];
        let points = evaluate_slice(&*objective, theta, &directions.vectors, next);
        appender.append(next, &points, &model)?;
        rows.extend(points);
        bar.set_position(rows.len() as u64);
    }
    bar.finish_and_clear();
    if rows.len() < grid.len() {
        eprintln!(
            "stopped after {} of {} grid points (--max-points)",
            rows.len(),
            grid.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let overflowed = rows.iter().filter(|p| !p.loss.is_finite()).count();
    if overflowed > 0 {
        eprintln!(
            "warning: the loss is not finite at {overflowed} of {} grid points (an overflow far \
             from θ: a smaller --span shows the slice); landscape.csv holds them as they came, \
             the figure leaves them out",
            grid.len()
        );
    }
    let figure = read_figure(&out)?;
    let [svg, png] = figure.write(&out, LANDSCAPE_FIGURE)?;
    if !quiet {
        print!("{}", summary(&grid, &rows, &model));
        println!(
            "files: {}, {}, {}, {}",
            out.join(LANDSCAPE_CSV).display(),
            out.join(LANDSCAPE_JSON).display(),
            svg.display(),
            png.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The second checkpoint of a line: (path, fingerprint, θ₂), checked to be the same network.
fn second_checkpoint(path: &Path, first: &Checkpoint) -> Result<(PathBuf, String, Vec<f64>)> {
    refuse_run_folder(path, |last| format!("--to {}", last.display())).context("--to")?;
    let second = load_checkpoint(path)
        .with_context(|| format!("--to: cannot load checkpoint {}", path.display()))?;
    let (to, from) = second.meta.arch.contrast(&first.meta.arch);
    ensure!(
        second.meta.arch.same_spec(&first.meta.arch),
        "--to {}: its architecture {to} differs from CHECKPOINT's {from}",
        path.display()
    );
    // Only the constants left: batch norm's running statistics, updated by training.
    if second.meta.arch != first.meta.arch {
        eprintln!(
            "warning: --to {}: its batch-norm running statistics differ from CHECKPOINT's; the \
             line is evaluated with CHECKPOINT's (constants in eval mode), so the loss at its \
             end is not the --to checkpoint's own",
            path.display()
        );
    }
    // The data are normalised once, by CHECKPOINT's statistics, for the whole slice.
    if second.meta.normalize != first.meta.normalize {
        eprintln!(
            "warning: --to {}: its input normalisation (checkpoint.json's \"normalize\") differs \
             from CHECKPOINT's; the line is evaluated on the data normalised as CHECKPOINT's, so \
             the loss at its end is not the --to checkpoint's own",
            path.display()
        );
    }
    let sha = content_sha256(path).context("--to: checkpoint files changed while being read")?;
    Ok((path.to_path_buf(), sha, second.theta))
}

/// The directions of `options` at θ, their grid axes and provenance.
fn directions(
    objective: &dyn Objective,
    theta: &[f64],
    options: &SliceOptions,
    to: Option<&Vec<f64>>,
) -> Result<Directions> {
    let dims = options.grid.dims();
    let (points, span) = (options.points, options.span);
    let random_seed = purpose_seed(options.seed, Purpose::LandscapeDirections);
    let random = |count: usize| -> Result<Vec<Vec<f64>>> {
        let tensors = objective.parameter_tensors();
        let found = filter_normalized_directions(&tensors, theta, count, random_seed);
        if found.iter().any(|d| norm(d) == 0.0) {
            // Each filter of a direction is scaled to θ's: zero where θ's weights are all zero.
            let weights = tensors
                .iter()
                .any(|(_, shape)| shape.len() >= 2 && shape.iter().product::<usize>() > 0);
            let (why, other_checkpoint) = match weights {
                false => ("it has no weight tensor of two or more dimensions", ""),
                true => (
                    "its weight tensors of two or more dimensions are all zero at θ (an \
                     untrained, zero-initialised net?), and each filter of a direction is scaled \
                     to the norm of θ's",
                    ", or slice a checkpoint whose weights are not all zero",
                ),
            };
            // --to takes no --directions: its plane's second direction can only be random.
            let remedy = match to {
                Some(_) => "with --to, slice the line (--grid 1d)".to_string(),
                None => format!("use --directions hessian{other_checkpoint}"),
            };
            bail!(
                "filter-normalised random directions are zero for this network: {why} (1-D \
                 tensors are held fixed, as Li et al. do); {remedy}"
            );
        }
        Ok(found)
    };
    let symmetric = || linspace(-span, span, points);
    Ok(match options.directions {
        SliceKind::Random => {
            let vectors = random(dims)?;
            Directions {
                record: json!({"kind": "random", "seed": random_seed,
                    "norms": vectors.iter().map(|d| norm(d)).collect::<Vec<_>>(),
                    "theta_norm": norm(theta)}),
                axes: vec![symmetric(); dims],
                labels: (1..=dims)
                    .map(|i| format!("filter-normalised random direction d{}", SUBSCRIPTS[i - 1]))
                    .collect(),
                marks: vec![vec![0.0; dims]],
                vectors,
            }
        }
        SliceKind::Hessian => {
            let lanczos = options.lanczos().expect("a hessian slice runs Lanczos");
            let subspace = krylov_size(&lanczos, theta.len());
            let hint = format!(
                "in {subspace} vectors: raise --max-krylov, or --restarts to go on in the same memory"
            );
            let top =
                hessian_directions(objective, theta, &lanczos).map_err(|e| match e.converged {
                    true => anyhow!(e),
                    false => anyhow!("{e} {hint}"),
                })?;
            if !top.eigenpairs.converged {
                eprintln!(
                    "warning: the top-{dims} Lanczos run did not converge to --tol {} (residuals \
                     {:?}) {hint}",
                    lanczos.tol, top.eigenpairs.residuals
                );
            }
            Directions {
                record: json!({"kind": "hessian", "eigenvalues": top.eigenpairs.eigenvalues,
                    "residuals": top.eigenpairs.residuals, "converged": top.eigenpairs.converged,
                    "lanczos_seed": lanczos.seed, "hvps": top.eigenpairs.n_applications}),
                axes: vec![symmetric(); dims],
                labels: top
                    .eigenpairs
                    .eigenvalues
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let n = SUBSCRIPTS[i];
                        format!("u{n} (λ{n} = {}), units of 1/√λ{n}", short(*l))
                    })
                    .collect(),
                marks: vec![vec![0.0; dims]],
                vectors: top.directions,
            }
        }
        SliceKind::Line => {
            let theta2 = to.context("a line needs its second checkpoint")?;
            ensure!(
                theta2.len() == theta.len(),
                "--to: θ₂ has {} parameters, θ has {}",
                theta2.len(),
                theta.len()
            );
            let line: Vec<f64> = theta2.iter().zip(theta).map(|(b, a)| b - a).collect();
            ensure!(
                line.iter().any(|d| *d != 0.0),
                "--to: the second checkpoint holds the same θ as the first, so there is no line \
                 between them"
            );
            let mut vectors = vec![line];
            let mut axes = vec![linspace(-span, 1.0 + span, points)];
            let mut labels = vec!["t: (1 − t)·θ + t·θ₂, θ₂ from --to".to_string()];
            if dims == 2 {
                vectors.extend(random(1)?);
                axes.push(symmetric());
                labels.push("filter-normalised random direction d".into());
            }
            let origin = vec![0.0; dims];
            let mut end = origin.clone();
            end[0] = 1.0;
            Directions {
                record: json!({"kind": "line", "distance": norm(&vectors[0]),
                    "random_seed": (dims == 2).then_some(random_seed)}),
                axes,
                labels,
                marks: vec![origin, end],
                vectors,
            }
        }
    })
}

/// The subscripts of the first and second direction.
const SUBSCRIPTS: [&str; 2] = ["₁", "₂"];

/// Three decimals, trailing zeros dropped.
fn short(x: f64) -> String {
    format!("{:.3}", x)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

/// The figure's title after the checkpoint's name.
fn title(kind: SliceKind, dims: usize) -> String {
    let what = match (kind, dims) {
        (SliceKind::Random, 1) => "a filter-normalised random direction",
        (SliceKind::Random, _) => "filter-normalised random directions",
        (SliceKind::Hessian, 1) => "the top Hessian eigenvector",
        (SliceKind::Hessian, _) => "the top two Hessian eigenvectors",
        (SliceKind::Line, 1) => "the line to the second checkpoint",
        (SliceKind::Line, _) => "the line to the second checkpoint and a random direction",
    };
    format!("{}-D slice along {what}", dims)
}

/// L(θ) and the lowest loss on the grid, with where it lies.
fn summary(grid: &[Vec<f64>], rows: &[SlicePoint], model: &QuadraticModel) -> String {
    let (best, lowest) = rows
        .iter()
        .enumerate()
        .filter(|(_, p)| p.loss.is_finite())
        .min_by(|a, b| a.1.loss.total_cmp(&b.1.loss))
        .map_or((None, f64::NAN), |(i, p)| (Some(&grid[i]), p.loss));
    format!(
        "L(θ) = {:.6}; lowest loss on the grid {lowest:.6} at {:?}\n",
        model.loss,
        best.map(|c| c.to_vec()).unwrap_or_default()
    )
}

/// Whether `out` holds a landscape.json of curvscope's (one with an options hash).
fn holds_slice(out: &Path) -> bool {
    std::fs::read(out.join(LANDSCAPE_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["options_hash"].is_string())
}

/// Refuses an --out whose landscape files are not a slice of curvscope's: a landscape.csv or
/// figure with no landscape.json beside it, or a landscape.json without an options hash, would
/// be overwritten as if they were an earlier slice.
fn refuse_foreign_slice(out: &Path) -> Result<()> {
    let ours = holds_slice(out);
    let figures = ["svg", "png"].map(|ext| format!("{LANDSCAPE_FIGURE}.{ext}"));
    let files = [LANDSCAPE_CSV, LANDSCAPE_JSON, &figures[0], &figures[1]];
    if let Some(file) = files
        .iter()
        .find(|f| out.join(f).exists())
        .filter(|_| !ours)
    {
        bail!(
            "--out {}: its {file} is not part of a slice curvscope wrote (no landscape.json \
             with an options hash); name another folder",
            out.display()
        );
    }
    Ok(())
}
