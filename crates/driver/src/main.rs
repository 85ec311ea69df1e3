//! `curvscope`: train with the noise dynamics of Zhu et al. (ICML 2019), analyze checkpoints
//! offline, export CSV and plots. A thin layer: the science lives in the library crates.

mod allocator;
mod analyze;
mod checkpoints;
mod data;
mod demo;
mod export;
mod figures;
mod flags;
mod frame;
mod info;
mod job;
mod landscape;
mod landscape_folder;
mod landscape_plots;
mod ledger;
mod network;
mod notebook;
mod plots;
mod progress;
mod record;
mod report;
mod reproduce;
mod run_folder;
mod summary;
mod tables;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "curvscope",
    version,
    about = "Curvature of loss landscapes and the anisotropy of SGD noise"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand takes `-1` as a flag's value, so that `--lr -1` is refused by the flag's
/// own check, with the flag named, instead of as an unknown argument.
#[derive(Subcommand)]
enum Command {
    /// Train with one of the paper's dynamics and snapshot checkpoints along the way.
    #[command(allow_negative_numbers = true)]
    Train(Box<train::TrainArgs>),
    /// Compute the curvature/noise report of every checkpoint of a run (resumable).
    #[command(allow_negative_numbers = true)]
    Analyze(Box<analyze::AnalyzeArgs>),
    /// Copy an analysis' CSVs, render its plots and write a Jupyter notebook.
    #[command(allow_negative_numbers = true)]
    Export(export::ExportArgs),
    /// Describe a checkpoint: architecture, parameters, loss and accuracy on a dataset.
    #[command(allow_negative_numbers = true)]
    Info(info::InfoArgs),
    /// The loss and accuracy on a line or plane through a checkpoint (Li et al. 2018 slices).
    #[command(allow_negative_numbers = true)]
    Landscape(Box<landscape::LandscapeArgs>),
    /// The paper's experiment in miniature on the bundled data: train, analyze, export, and an
    /// HTML report.
    #[command(allow_negative_numbers = true)]
    Demo(demo::DemoArgs),
    /// Write an analysis (or several) as one self-contained HTML report: metrics with standard
    /// errors, Proposition 1 in words, figures, provenance.
    #[command(allow_negative_numbers = true)]
    Report(report::ReportArgs),
    /// Reproduce a paper figure end to end: runs, CSVs, figures, a table beside the paper.
    #[command(allow_negative_numbers = true)]
    Reproduce(reproduce::ReproduceArgs),
}

fn main() -> ExitCode {
    allocator::purge_lazily();
    die_quietly_on_closed_pipe();
    #[cfg(feature = "wgpu")]
    network::exit_on_gpu_out_of_memory();
    let code = report(dispatch(Cli::parse()));
    job::finish();
    code
}

/// A closed pipe ends the process quietly, as it ends any Unix filter (`curvscope … | head`):
/// Rust ignores SIGPIPE, and its print macros then panic on the failed write. Work cut short
/// so is left as a kill leaves it: every file written atomically, runs and grids resumable.
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Analyze(args) => analyze::run(*args),
        Command::Export(args) => export::run(args),
        Command::Info(args) => info::run(args),
        Command::Landscape(args) => landscape::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Report(args) => report::run(args),
        Command::Reproduce(args) => reproduce::run(args),
    }
}

fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::allocator::PURGE_DECOMMITS;

    /// `mi_option_purge_delay`, next to it in mimalloc 3's `mi_option_t`.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

    /// mimalloc's defaults sit at the places `allocator` names: purges decommit (1), delayed by
    /// 1,000 ms (mimalloc 2 delays them by 10). Nothing here calls `purge_lazily`; where the
    /// environment sets either option there is nothing to read the defaults from.
    #[test]
    fn the_allocator_option_places_are_mimalloc_3s() {
        let set = ["MIMALLOC_PURGE_DECOMMITS", "MIMALLOC_PURGE_DELAY"];
        if set.iter().any(|name| std::env::var_os(name).is_some()) {
            eprintln!("skipped: {set:?} set in the environment");
            return;
        }
        // SAFETY: reads only.
        let (decommits, delay) = unsafe {
            (
                libmimalloc_sys::mi_option_get(PURGE_DECOMMITS),
                libmimalloc_sys::mi_option_get(PURGE_DELAY),
            )
        };
        assert_eq!((decommits, delay), (1, 1000));
    }
}
