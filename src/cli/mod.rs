//! Shared plumbing of the `kforge` command line. Each subcommand group lives in its own module.

pub mod config;
pub mod fetch;
pub mod kernel;
pub mod toolchain;
pub mod tree;

/// How a subcommand should report its result.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON on stdout instead of human-readable text.
    pub json: bool,
    /// Print only errors.
    pub quiet: bool,
}

impl Output {
    /// Print `value` as pretty JSON on stdout. A reader that closed the pipe early (`| head`)
    /// ends the output quietly instead of failing.
    pub fn print_json<T: serde::Serialize>(&self, value: &T) -> anyhow::Result<()> {
        use std::io::Write;
        let text = serde_json::to_string_pretty(value)?;
        let mut stdout = std::io::stdout().lock();
        match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Route the library's `tracing` events to stderr. `RUST_LOG` overrides `-v`/`-q`.
pub fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => {
            "info,kforge=debug,kforge_fetch=debug,kforge_kconfig=debug,kforge_kbuild=debug,kforge_toolchain=debug"
        }
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

/// Print an error and its chain of causes on stderr.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
