//! `kforge config …` (in progress).

use std::process::ExitCode;

use super::Output;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {}

/// Run a subcommand.
pub fn run(cmd: Cmd, _out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {}
}
