//! `curvscope demo`.

use std::process::ExitCode;

/// Arguments of `curvscope demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
