//! `curvscope export`.

use std::process::ExitCode;

/// Arguments of `curvscope export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {}

pub fn run(_args: ExportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
