//! `curvscope reproduce <target>`: a paper figure in one command — runs, CSVs, figures and a
//! table of what we measured beside what the paper reports. The experiments' settings and
//! formulas live in curvscope-metrics; each target here only runs, records and draws them.

mod fashion;
mod msgd;
mod one_hidden;
mod toy2d;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use curvscope_model::files::{is_atomic_write_leftover, write_atomic};

use crate::flags;
use crate::ledger::Ledger;
use crate::plots::{Chart, PALETTE};
use crate::report::{figures_page, keep_edited_page};

/// The figure to reproduce.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Target {
    /// Zhu et al. Fig. 2: escaping the sharp minimum of the 2-D toy loss.
    Toy2d,
    /// Zhu et al. Fig. 4 (Props. 2 and 3): Tr(HΣ) against Tr(HΣ̄) on one-hidden-layer nets of
    /// growing width.
    OneHidden,
    /// Wu et al. 2020 Fig. 1(a): test accuracy of GD, SGD, the M-SGD family and GD-Rademacher
    /// on 1,000 FashionMNIST images.
    Msgd,
    /// Zhu et al. Fig. 3 and 5: LeNet escaping GD's sharp minimum on 1,000 clean + 200
    /// random-label FashionMNIST images, by SGD and the GLD family.
    Fashion,
}

impl Target {
    /// The name on the command line, also the default output folder's.
    fn name(self) -> &'static str {
        match self {
            Target::Toy2d => "toy2d",
            Target::OneHidden => "one-hidden",
            Target::Msgd => "msgd",
            Target::Fashion => "fashion",
        }
    }
}

/// Arguments of `curvscope reproduce`.
#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// Which paper figure.
    #[arg(value_enum)]
    target: Target,
    /// The same code path at a tiny scale, in under a minute: toy2d 10 repetitions per dynamic
    /// instead of 100; one-hidden widths 32 and 64 for 500 steps; msgd 20 steps on 200
    /// training and 200 test images; fashion 10 GD steps and 10 steps per dynamic on 50 clean
    /// + 10 random-label images, 50 test images, M = 10, -k 3 at every snapshot and 5 at θ*_GD.
    #[arg(long)]
    quick: bool,
    /// fashion: the documented reduced scale (docs/REPRODUCTION.md) instead of the paper's:
    /// GD's 3,000 steps, 100 per dynamic, snapshots every 20, 1,000 test images, M = 100,
    /// -k 10 at every snapshot and 40 at θ*_GD. Without it (and without --quick) fashion runs
    /// the paper's scale: GD 3,000, 3,000 per dynamic, 10,000 test images, M = 1,000, -k 20
    /// and 400 at θ*_GD — many hours on 2 cores.
    #[arg(long, conflicts_with = "quick")]
    reduced: bool,
    /// Output folder for CSVs and figures (default: `notebooks-export/<target>`). msgd keeps each
    /// dynamic's finished run in its runs/ and a rerun at the same scale and seed reads it back,
    /// so an interrupted msgd resumes with the dynamic it was training; fashion keeps its
    /// run folders (with their analyses) in runs/ and resumes them as train and analyze do, and
    /// refuses a folder of its runs at another --seed or scale. A folder holding files that no
    /// `reproduce` of this target wrote is refused (they would be overwritten); the target's
    /// folder is marked by a file `.curvscope-reproduce`. A CSV or
    /// report.html of an earlier run changed since it was written is kept as
    /// `<stem>.edited-K.<extension>`, never overwritten.
    #[arg(long, value_parser = flags::utf8_path())]
    out: Option<PathBuf>,
    /// Master seed: the noise of every run (toy2d: repetition r draws from
    /// `repetition_seed(seed, r)`), θ₀ of one-hidden, msgd and fashion, and one-hidden's data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// msgd: iterations per dynamic [default: 400, a reduced scale; ignored with --quick].
    #[arg(long, value_parser = flags::every)]
    steps: Option<u64>,
    /// msgd: test images the accuracy is measured on, the first N of the 10,000
    /// [default: 2000; ignored with --quick].
    #[arg(long, value_name = "N", value_parser = flags::count)]
    test_images: Option<usize>,
    /// msgd: train only these dynamics (comma-separated, e.g. `msgd-fisher,gd-rademacher`),
    /// keep their runs in runs/ and stop without the table. Several processes or nodes can so
    /// share the eight dynamics of one --out; a final run without --only reads every finished
    /// run back and writes the CSVs, figures and table.
    #[arg(long, value_delimiter = ',', value_name = "DYNAMIC")]
    only: Vec<curvscope_metrics::Dynamic>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs the target; see the module documentation.
pub fn run(args: ReproduceArgs) -> Result<ExitCode> {
    let msgd_only = [
        ("--only", !args.only.is_empty()),
        ("--steps", args.steps.is_some()),
        ("--test-images", args.test_images.is_some()),
    ];
    let given = msgd_only.iter().find(|(_, given)| *given);
    if let Some((flag, _)) = given.filter(|_| !matches!(args.target, Target::Msgd)) {
        anyhow::bail!(
            "{flag} is msgd's; {} has no such choice",
            args.target.name()
        );
    }
    if args.reduced && !matches!(args.target, Target::Fashion) {
        anyhow::bail!(
            "--reduced is fashion's; {} has no reduced scale (--quick is the tiny one)",
            args.target.name()
        );
    }
    match args.target {
        Target::Toy2d => toy2d::run(&args),
        Target::OneHidden => one_hidden::run(&args),
        Target::Msgd => msgd::run(&args),
        Target::Fashion => fashion::run(&args),
    }
}

/// The output folder (--out, else `notebooks-export/<target>`) and its figures/ folder, created.
fn output_folders(args: &ReproduceArgs) -> Result<(PathBuf, PathBuf)> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("notebooks-export").join(args.target.name()));
    flags::output_dir(&out, "--out")?;
    claim(&out, args.target)?;
    let figures = out.join("figures");
    flags::output_dir(&figures, "--out")?;
    Ok((out, figures))
}

/// The file that marks a folder as the output of `reproduce` (its content: the target's name).
const MARKER: &str = ".curvscope-reproduce";

/// Marks `out` as `target`'s output, or refuses it, before any work: a folder of one's own
/// files (the default `notebooks-export/<target>` is easy to hit), or another target's output,
/// would have its report.html and CSVs overwritten without a word. A folder from before the
/// marker counts as the target's when its report.html is the target's page, or when it holds
/// only what an unfinished run of the target left ([`foreign_entry`]).
fn claim(out: &Path, target: Target) -> Result<()> {
    let read = || format!("--out {}: cannot read", out.display());
    let entries: Vec<_> = std::fs::read_dir(out)
        .with_context(read)?
        .collect::<std::io::Result<_>>()
        .with_context(read)?;
    // Read after the listing: processes sharing the folder (`msgd --only`) may be writing the
    // marker, and one listed (or its temporary file) is then read here.
    let marker = out.join(MARKER);
    if let Ok(owner) = std::fs::read_to_string(&marker) {
        ensure!(
            owner.trim() == target.name(),
            "--out {}: holds the output of `curvscope reproduce {}`; name another folder for {}",
            out.display(),
            owner.trim(),
            target.name()
        );
        return Ok(());
    }
    let title = format!("<title>{}: ", target.name());
    let earlier_report = std::fs::read_to_string(out.join("report.html"))
        .is_ok_and(|html| crate::report::written_by_curvscope(&html) && html.contains(&title));
    if !earlier_report {
        if let Some(foreign) = foreign_entry(&entries, target)? {
            anyhow::bail!(
                "--out {}: holds files that no `curvscope reproduce {}` wrote ({} among \
                 them), which it would overwrite; name a new or empty folder",
                out.display(),
                target.name(),
                foreign.display()
            );
        }
    }
    Ok(write_atomic(&marker, target.name().as_bytes())?)
}

/// The first of `entries` (a folder without the marker, nor the target's report.html) that
/// an unfinished run of `target` from before the marker cannot have left, if any: that leaves
/// a `runs/` of its own (`msgd --only`'s run files, fashion's run folders) and an empty
/// `figures/`. A chart in `figures/` is not taken as the target's even under one of its
/// names: a user's `figures/success_rate.svg` looks the same, and would be overwritten.
fn foreign_entry(entries: &[std::fs::DirEntry], target: Target) -> Result<Option<PathBuf>> {
    let leftover =
        |e: &std::fs::DirEntry| is_atomic_write_leftover(&e.file_name().to_string_lossy());
    for entry in entries.iter().filter(|e| !leftover(e)) {
        let path = entry.path();
        let own: fn(&std::fs::DirEntry) -> bool = match entry.file_name().to_str() {
            Some("figures") if path.is_dir() => |_| false,
            Some("runs") if path.is_dir() => match target {
                Target::Msgd => msgd::is_run_file,
                Target::Fashion => fashion::is_run_folder,
                Target::Toy2d | Target::OneHidden => |_| false,
            },
            _ => return Ok(Some(path)),
        };
        let read = || format!("--out: cannot read {}", path.display());
        for inner in std::fs::read_dir(&path).with_context(read)? {
            let inner = inner.with_context(read)?;
            if !leftover(&inner) && !own(&inner) {
                return Ok(Some(inner.path()));
            }
        }
    }
    Ok(None)
}

/// The files a target wrote into its folder (CSVs and report.html), with their hashes
/// ([`Ledger`]).
const WRITTEN: &str = ".curvscope-reproduce-files";

/// `text` as the file `name` in `out` (the error names the file). A file of a rerun's earlier
/// run that someone changed since (a CSV annotated) is kept as `<stem>.edited-K.<extension>`.
fn write(out: &Path, name: &str, text: &str) -> Result<()> {
    Ledger::new(out, WRITTEN).write(name, text.as_bytes())
}

/// The end of every target: its closing table, with the wall time since `started`, printed and
/// put with every figure, inline, in `out`/report.html (one file that opens from disk, as
/// `curvscope report` writes for an analysis).
fn finish(
    out: &Path,
    title: &str,
    table: String,
    charts: &[Chart],
    started: Instant,
) -> Result<()> {
    let table = format!(
        "{table}wall time {:.1} s; CSVs, figures/ and report.html in {}\n",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    print!("{table}");
    keep_edited_page(&out.join("report.html"))?;
    write(out, "report.html", &figures_page(title, &table, charts)?)
}

/// `n` with a comma between each group of three digits, as the papers write their scales
/// (`1,000`, `10,000`).
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut text = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// The colour of the i-th series of a chart: matplotlib's ten, then again (no figure here has
/// more than eight series).
fn color(i: usize) -> plotters::style::RGBColor {
    PALETTE[i % PALETTE.len()]
}
