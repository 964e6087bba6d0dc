//! The `kforge` command line: one subcommand group per crate, thin over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Build steps for kernels and hypervisors built from source.
#[derive(Debug, Parser)]
#[command(name = "kforge", version, about)]
struct Args {
    /// More output (-v: debug events, -vv: trace events).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Machine-readable output (JSON on stdout) where the command has a result to report.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find, identify and select C compilers.
    #[command(subcommand)]
    Toolchain(cli::toolchain::Cmd),
    /// Read, merge, verify and edit kernel .config files.
    #[command(subcommand)]
    Config(cli::config::Cmd),
    /// Check and fix a kernel source tree for out-of-tree (O=) builds.
    #[command(subcommand)]
    Tree(cli::tree::Cmd),
    /// Fetch a source (archive URL, git, Mercurial) into a verified directory.
    Fetch(cli::fetch::Args),
    /// Kernel helpers: release string, prepare for external modules.
    #[command(subcommand)]
    Kernel(cli::kernel::Cmd),
    /// Read and compare the build.json records runs leave.
    #[command(subcommand)]
    Record(cli::record::Cmd),
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_tracing(args.verbose, args.quiet);
    let out = cli::Output {
        json: args.json,
        quiet: args.quiet,
    };
    // Ctrl-C stops every subcommand cleanly (exit status 130).
    cli::interrupt_flag();
    let result = match args.command {
        Command::Toolchain(cmd) => cli::toolchain::run(cmd, &out),
        Command::Config(cmd) => cli::config::run(cmd, &out),
        Command::Tree(cmd) => cli::tree::run(cmd, &out),
        Command::Fetch(cmd) => cli::fetch::run(cmd, &out),
        Command::Kernel(cmd) => cli::kernel::run(cmd, &out),
        Command::Record(cmd) => cli::record::run(cmd, &out),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if out.json {
                cli::print_json_error(&err);
            }
            cli::print_error(&err);
            if cli::interrupted() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
