//! `kforge record …`: read the `build.json` a flow left, and compare two runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use kforge::record::{BuildRecord, diff};

use super::Output;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Compare two runs: whether their artifacts are identical (sha256, by path relative to
    /// each output directory) and which inputs differ: sources (URL, sha256, revision),
    /// compiler, compiler wrapper, the final .config's hash, the reproducible settings
    /// (KBUILD_BUILD_TIMESTAMP, SOURCE_DATE_EPOCH, user, host, or off); and the result. Exit
    /// status 1 when they differ.
    Diff(DiffArgs),
}

/// `kforge record diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first run's build.json.
    a: PathBuf,
    /// The second run's build.json.
    b: PathBuf,
}

/// Run a `kforge record` subcommand.
pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Diff(args) => {
            let a = BuildRecord::read(&args.a).context("reading the first record")?;
            let b = BuildRecord::read(&args.b).context("reading the second record")?;
            let d = diff(&a, &b);
            if out.json {
                out.print_json(&d)?;
            } else if !out.quiet {
                print!("{d}");
            }
            Ok(if d.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
