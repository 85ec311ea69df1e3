//! `curvscope info`.

use std::process::ExitCode;

/// Arguments of `curvscope info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {}

pub fn run(_args: InfoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
