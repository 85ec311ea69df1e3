//! `curvscope export`: an analysis as a self-contained folder: its CSVs, SVG/PNG figures (the
//! panels of the paper's Figs. 3 and 5) and a Jupyter notebook that redraws them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, ensure, Context, Result};

use curvscope_model::files::{remove_if_present, write_atomic};

use crate::checkpoints::{checkpoint_dirs, checkpoint_name};
use crate::figures::charts;
use crate::flags;
use crate::frame::Frame;
use crate::ledger::Ledger;
use crate::notebook;
use crate::plots::{render, Chart};
use crate::record::{
    analyzed_input, DENSITY_CSV, EIGENVALUES_CSV, FAILURES_CSV, LAYERS_CSV, MANIFEST_JSON,
    METRICS_CSV, PROP1_CSV, README_MD, REPORTS_DIR, SPECTRUM_CSV,
};
use crate::run_folder::{RUN_CSV, RUN_JSON};

/// Files of an analysis folder copied as they are (those present).
const COPIED: &[&str] = &[
    METRICS_CSV,
    EIGENVALUES_CSV,
    SPECTRUM_CSV,
    PROP1_CSV,
    DENSITY_CSV,
    LAYERS_CSV,
    FAILURES_CSV,
    MANIFEST_JSON,
    README_MD,
];

/// Arguments of `curvscope export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The output folder of `curvscope analyze` (holding metrics.csv), or a run folder whose
    /// analysis/ subfolder holds it.
    #[arg(value_name = "ANALYSIS_DIR")]
    pub input: PathBuf,
    /// Destination folder (created; files of an earlier export there are replaced, and those
    /// this export does not write again are removed: the folder's .curvscope-export lists
    /// them; no other file is touched) (default: `notebooks-export/<run folder name>`). It may
    /// be the analysis folder itself: files that already are the ones to copy are left as they
    /// are, and only the figures and the notebook are added.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Training log with columns step, train_loss, train_accuracy, test_loss, test_accuracy,
    /// noise_trace, noise_unconverged, wall_time_s (run.csv's), plotted as loss and accuracy curves [default: run.csv in the run folder
    /// (the folder analyzed, else the analysis folder's parent), if there is one].
    #[arg(long, value_name = "CSV")]
    pub run_csv: Option<PathBuf>,
    /// Do not list the files written.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Where the analysis is, and the run's training log if one is found.
pub struct Located {
    pub analysis: PathBuf,
    pub run_csv: Option<PathBuf>,
    /// The run's name: its folder's.
    pub name: String,
    /// The folder that was analyzed, as analysis.json records it (absolute; where it is now if
    /// it was moved with the analysis inside: [`analyzed_input`]).
    pub input: Option<PathBuf>,
}

impl Located {
    /// The analyzed folder's checkpoints with a row in neither metrics.csv nor failures.csv:
    /// an analysis killed midway, or rerun with other options and stopped, reads as whole
    /// otherwise. Empty when the analyzed folder is not known or not there.
    pub fn unanalyzed(&self) -> Vec<String> {
        let Some(dirs) = self.input.as_deref().and_then(|i| checkpoint_dirs(i).ok()) else {
            return Vec::new();
        };
        let listed = |file: &str| -> Vec<String> {
            Frame::read(&self.analysis.join(file))
                .ok()
                .and_then(|f| {
                    f.text("checkpoint")
                        .ok()
                        .map(|names| names.iter().map(|n| n.to_string()).collect())
                })
                .unwrap_or_default()
        };
        let known = [listed(METRICS_CSV), listed(FAILURES_CSV)].concat();
        dirs.iter()
            .map(|dir| checkpoint_name(dir))
            .filter(|name| !known.contains(name))
            .collect()
    }

    /// A warning naming [`Located::unanalyzed`] checkpoints, if any.
    pub fn incomplete_warning(&self) -> Option<String> {
        let input = self.input.as_ref()?;
        let missing = self.unanalyzed();
        (!missing.is_empty()).then(|| {
            format!(
                "{}: {} checkpoint(s) of {} have no record ({}): a partial analysis (killed, \
                 limited by --max-checkpoints or --shard, or checkpoints added since); \
                 `curvscope analyze {}` with the same options and no limit completes it",
                self.analysis.display(),
                missing.len(),
                input.display(),
                missing.join(", "),
                input.display()
            )
        })
    }
}

/// Finds the analysis of `input` (an analysis folder, or a run folder holding analysis/) and
/// the run's training log: `run_csv` if given, else run.csv of the run folder.
pub fn locate(input: &Path, run_csv: Option<&Path>) -> Result<Located> {
    ensure!(
        input.exists(),
        "{}: no such file or folder",
        input.display()
    );
    // A run folder's analysis is its analysis/, even when an export into the run folder left
    // copies of the CSVs beside run.json (copies of an analysis that may have been rerun since).
    let nested = input.join("analysis").join(METRICS_CSV).exists();
    let (analysis, run_dir) =
        if input.join(METRICS_CSV).exists() && !(nested && input.join(RUN_JSON).exists()) {
            (input.to_path_buf(), None)
        } else if nested {
            (input.join("analysis"), Some(input.to_path_buf()))
        } else {
            bail!(
                "{}: no metrics.csv here or in analysis/ (run `curvscope analyze` first)",
                input.display()
            );
        };
    // The folder that was analyzed, as analysis.json records it, then the analysis' parent.
    let recorded = analyzed_input(&analysis);
    let candidates: Vec<PathBuf> = run_dir
        .into_iter()
        .chain(recorded.clone())
        .chain(
            analysis
                .canonicalize()
                .ok()
                .and_then(|a| a.parent().map(Path::to_path_buf)),
        )
        .collect();
    let run_csv = run_csv.map(Path::to_path_buf).or_else(|| {
        candidates
            .iter()
            .map(|d| d.join(RUN_CSV))
            .find(|p| p.exists())
    });
    if let Some(path) = &run_csv {
        if !path.exists() {
            bail!("{}: no such file", path.display());
        }
    }
    let name = candidates
        .first()
        .map_or_else(|| checkpoint_name(&analysis), |d| checkpoint_name(d));
    Ok(Located {
        analysis,
        run_csv,
        name,
        input: recorded,
    })
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let located = locate(&args.input, args.run_csv.as_deref())?;
    if let Some(warning) = located.incomplete_warning() {
        eprintln!("warning: {warning}");
    }
    let to = args
        .to
        .clone()
        .unwrap_or_else(|| Path::new("notebooks-export").join(&located.name));
    // Read and charted before anything is written: a training log without a step column is
    // refused with the destination untouched.
    let run = located.run_csv.as_deref().map(Frame::read).transpose()?;
    // Drawn from the analysis itself, never from the destination's copies.
    let charts = charts(&located.analysis, run.as_ref())?;
    // Held to the end: a second export into the folder (or an analysis or training run writing
    // it) is refused, not mixed with this one (a folder made here and refused below is removed
    // again).
    let lock = flags::lock_output(&to, "--to", false)?;
    refuse_files_of_others(&located, &to, &charts)?;
    keep_edited_exports(&located, &to)?;
    // Marked as an export's before any file is written, so that one cut short is still ours.
    let list = Ledger::new(&to, EXPORTED).path();
    if list.exists() {
        // An export's folder: what a killed one left there is ours to remove (not through a
        // figures/ that links elsewhere).
        let figures = to.join(FIGURES);
        match figures.is_symlink() {
            true => lock.remove_leftovers(&[&to])?,
            false => lock.remove_leftovers(&[&to, &figures])?,
        }
    } else {
        write_atomic(&list, b"")?;
    }
    let mut written = Vec::new();
    for file in COPIED {
        let from = located.analysis.join(file);
        if from.exists() {
            copy(&from, &to.join(file))?;
            written.push(to.join(file));
        }
    }
    if let Some(run_csv) = &located.run_csv {
        copy(run_csv, &to.join(RUN_CSV))?;
        written.push(to.join(RUN_CSV));
    }
    let figures = to.join(FIGURES);
    std::fs::create_dir_all(&figures).with_context(|| format!("creating {}", figures.display()))?;
    for chart in &charts {
        if let Some(paths) = render(chart, &figures)? {
            written.extend(paths);
        }
    }
    let notebook_path = to.join(NOTEBOOK);
    let has = |file: &str| to.join(file).exists();
    let notebook = notebook::build(&located.name, has(DENSITY_CSV), run.is_some());
    // Atomic: a crash mid-write keeps the earlier notebook whole.
    write_atomic(
        &notebook_path,
        (serde_json::to_string_pretty(&notebook)? + "\n").as_bytes(),
    )
    .with_context(|| format!("writing {}", notebook_path.display()))?;
    written.push(notebook_path);
    forget_earlier_export(&to, &written, same_file(&located.analysis, &to))?;
    if !args.quiet {
        for path in &written {
            println!("{}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The notebook an export writes.
const NOTEBOOK: &str = "analysis.ipynb";

/// The folder of an export's figures.
const FIGURES: &str = "figures";

/// Refuses a destination holding a file an export would write (metrics.csv, run.csv, the
/// notebook, …) that no export wrote: one's own notes there would be overwritten. An earlier
/// export's folder ([`EXPORTED`], or a notebook of an export before that list existed) and the
/// analysis folder itself are curvscope's to write; a file that is already the one an export
/// would copy there (the run's own run.csv, exporting into the run folder) is left as it is.
///
/// Another analysis' folder or another run's is refused even when an earlier export marked it:
/// its CSVs and training log are the records `report` reads there. The analyzed run's own
/// folder is not refused, but its training log is never replaced by another (`--run-csv`).
fn refuse_files_of_others(located: &Located, to: &Path, charts: &[Chart]) -> Result<()> {
    let notebook = std::fs::read_to_string(to.join(NOTEBOOK)).unwrap_or_default();
    let own_analysis = same_file(&located.analysis, to);
    let run_folder = [
        located.analysis.parent(),
        located.run_csv.as_deref().and_then(Path::parent),
    ]
    .into_iter()
    .flatten()
    .any(|run| same_file(run, to));
    // An export copies analysis.json, never reports/: that marks an analysis folder.
    for (file, what, own) in [
        (REPORTS_DIR, "analysis", own_analysis),
        (RUN_JSON, "run", run_folder),
    ] {
        if to.join(file).exists() && !own {
            bail!(
                "--to {}: is another {what}'s folder (it holds {file}), whose files an export \
                 would overwrite; name another folder",
                to.display()
            );
        }
    }
    let log = to.join(RUN_CSV);
    let replaces_the_log = located
        .run_csv
        .as_deref()
        .is_some_and(|run_csv| !same_file(run_csv, &log));
    if to.join(RUN_JSON).exists() && log.exists() && replaces_the_log {
        bail!(
            "--to {}: is a run folder, whose training log run.csv an export of another log \
             (--run-csv) would replace; name another folder",
            to.display()
        );
    }
    let ours = to.join(EXPORTED).is_file()
        || notebook.contains("exported by `curvscope export`")
        || own_analysis;
    // figures/ too: one's own figures there are kept, unless one shares a name with ours.
    let figures = charts
        .iter()
        .flat_map(|chart| ["svg", "png"].map(|ext| format!("{FIGURES}/{}.{ext}", chart.name)));
    let mut names = COPIED
        .iter()
        .chain(&[RUN_CSV, NOTEBOOK])
        .map(|name| name.to_string())
        .chain(figures);
    let overwritten = |name: &String| {
        to.join(name).exists()
            && !copied_from(located, name).is_some_and(|from| same_file(&from, &to.join(name)))
    };
    if let Some(name) = names.find(|name| !ours && overwritten(name)) {
        bail!(
            "--to {}: holds {name}, which no export of curvscope wrote; name another folder",
            to.display()
        );
    }
    Ok(())
}

/// The files an export wrote, relative to its folder, one per line with the SHA-256 of what
/// was written after a tab: the next export into the folder removes those it does not write
/// again, and nothing else of the folder, and sets aside those edited since
/// ([`keep_edited_exports`]).
const EXPORTED: &str = ".curvscope-export";

/// The file an export copies to `name` (a CSV of the analysis, or the training log), if it
/// copies one; the notebook and figures are drawn, not copied.
fn copied_from(located: &Located, name: &str) -> Option<PathBuf> {
    match name {
        RUN_CSV => located.run_csv.clone(),
        copied if COPIED.contains(&copied) => Some(located.analysis.join(copied)),
        _ => None,
    }
}

/// Sets aside (as `<stem>.edited-K.<extension>`) each file of the earlier export in `to` that
/// was changed since it was written — a notebook run or annotated, a CSV or figure touched up —
/// which this export would replace or remove. A CSV that is the analysis' own (exporting into the
/// analysis folder) or the run's own run.csv (exporting into the run folder) changes with the
/// analysis or the training and is no export's to keep.
fn keep_edited_exports(located: &Located, to: &Path) -> Result<()> {
    let ledger = Ledger::new(to, EXPORTED);
    for (name, written) in ledger.entries() {
        let own =
            copied_from(located, &name).is_some_and(|source| same_file(&source, &to.join(&name)));
        if !own {
            ledger.keep_if_edited(&name, written.as_deref())?;
        }
    }
    Ok(())
}

/// Removes the files the folder's earlier export wrote ([`EXPORTED`]) that this one, which
/// wrote `written`, did not: a stale layers.csv or figure of another run would pass for this
/// analysis'. Exporting into the analysis folder itself, its CSVs are its own and stay. Then
/// records `written` for the next export.
fn forget_earlier_export(to: &Path, written: &[PathBuf], into_itself: bool) -> Result<()> {
    let ledger = Ledger::new(to, EXPORTED);
    for (name, _) in ledger.entries() {
        let name = name.as_str();
        let path = to.join(name);
        let analysis_file = into_itself && COPIED.contains(&name);
        if !written.contains(&path) && !analysis_file {
            remove_stale(&path)?;
        }
    }
    ledger.record(written)
}

/// Removes `path`, a file an earlier export wrote, if it is there.
fn remove_stale(path: &Path) -> Result<()> {
    remove_if_present(path).with_context(|| format!("removing the stale {}", path.display()))
}

/// Copies `from` to `to` atomically; nothing to do when `to` already is `from` (exporting
/// into the analysis folder itself), which a plain copy would truncate.
fn copy(from: &Path, to: &Path) -> Result<()> {
    if same_file(from, to) {
        return Ok(());
    }
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    Ok(write_atomic(to, &bytes)?)
}

/// Whether both paths name one existing file (through links, `.` or `..`).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (a.dev(), a.ino()) == (b.dev(), b.ino());
        }
    }
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
