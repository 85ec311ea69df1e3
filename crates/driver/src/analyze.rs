//! `curvscope analyze`.

use std::process::ExitCode;

/// Arguments of `curvscope analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {}

pub fn run(_args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
