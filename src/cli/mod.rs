//! Shared plumbing of the `kforge` command line. Each subcommand group lives in its own module.

pub mod config;
pub mod config_eval;
pub mod config_why;
pub mod fetch;
pub mod kernel;
pub mod record;
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

/// Ctrl-C (and SIGTERM, SIGHUP) raises the returned interrupt flag, so a long operation (a make
/// process group, a download, a probe, an extraction) stops cleanly and leaves nothing
/// half-published; a second signal exits at once with status 130. The handlers are installed
/// with `signal-hook` (async-signal-safe, any thread, any time); later calls return the same
/// flag.
pub fn interrupt_flag() -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    static FLAG: std::sync::OnceLock<Option<Arc<AtomicBool>>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for signal in &[SIGINT, SIGTERM, SIGHUP] {
            // Registered first, so it sees the flag before this signal raises it: the second
            // signal exits.
            let installed =
                signal_hook::flag::register_conditional_shutdown(*signal, 130, Arc::clone(&flag))
                    .and_then(|_| signal_hook::flag::register(*signal, Arc::clone(&flag)));
            if let Err(err) = installed {
                tracing::warn!(error = %err, "Ctrl-C will not stop the operation cleanly");
                return None;
            }
        }
        Some(flag)
    })
    .clone()
}

/// Whether Ctrl-C (or SIGTERM, SIGHUP) was received.
pub fn interrupted() -> bool {
    interrupt_flag().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
}

/// Whether stderr takes colour escape codes: a terminal, and `NO_COLOR` unset or empty.
pub fn colour_on_stderr() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
        .with_ansi(colour_on_stderr())
        .with_target(false)
        .without_time()
        .init();
}

/// With `--json`, a failure is a JSON object on stdout too: `{"error": "...", "causes":
/// [...], "interrupted": bool}`.
pub fn print_json_error(err: &anyhow::Error) {
    let value = serde_json::json!({
        "error": err.to_string(),
        "causes": err.chain().skip(1).map(|c| c.to_string()).collect::<Vec<_>>(),
        "interrupted": interrupted(),
    });
    println!("{value}");
}

/// Print an error and its chain of causes on stderr.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
