//! `kforge fetch …` (in progress).

use std::process::ExitCode;

use super::Output;

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args, _out: &Output) -> anyhow::Result<ExitCode> {
    anyhow::bail!("kforge fetch is not implemented yet")
}
