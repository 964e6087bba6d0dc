//! `kforge tree …`: check a kernel source tree for out-of-tree (O=) builds, and fix it without
//! losing the .config.

use std::path::PathBuf;
use std::process::ExitCode;

use kforge_kbuild::SourceTree;

use super::Output;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Apply the test of the tree's own top Makefile (per kernel version) and print what
    /// `make O=…` would complain about; exit status 1 when the tree is not clean.
    Check(CheckArgs),
    /// Make the tree clean for `make O=BUILD_DIR`: move a stray .config into the build directory
    /// (or aside with a timestamp), remove generated directories. Never `make mrproper`.
    Clean(CleanArgs),
}

/// `kforge tree check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The kernel source tree.
    src: PathBuf,
    /// ARCH as given to make (x86_64, i386, arm64, …); default: the host's.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
}

/// `kforge tree clean`.
#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// The kernel source tree.
    src: PathBuf,
    /// The out-of-tree build directory (make's O=).
    #[arg(long, value_name = "O")]
    build_dir: PathBuf,
    /// Print the plan without doing anything.
    #[arg(long)]
    dry_run: bool,
}

/// Run a subcommand.
pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Check(args) => {
            let tree = SourceTree::open(&args.src)?;
            let srcarch = args
                .arch
                .as_deref()
                .map(kforge_kconfig::srcarch)
                .unwrap_or_else(kforge_kconfig::host_srcarch);
            let check = tree.check_clean(args.arch.as_deref(), &srcarch);
            if out.json {
                out.print_json(&check)?;
            } else if !out.quiet || !check.is_clean() {
                super::config::emit(&check)?;
            }
            Ok(if check.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Clean(args) => {
            let tree = SourceTree::open(&args.src)?;
            let plan = if args.dry_run {
                tree.plan_clean_for_out_of_tree(&args.build_dir)?
            } else {
                tree.make_clean_for_out_of_tree(&args.build_dir)?
            };
            if out.json {
                out.print_json(&plan)?;
            } else if !out.quiet {
                super::config::emit(&plan)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
