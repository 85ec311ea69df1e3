//! `curvscope train`.

use std::process::ExitCode;

/// Arguments of `curvscope train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {}

pub fn run(_args: TrainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
