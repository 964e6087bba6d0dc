//! The flows' terminal: step headers, download bars, one live status line under make, the
//! summary; `-q` shows errors only, `-v`/`-vv` add the libraries' tracing events. It is the
//! examples' [`Observer`]; the flows themselves never print.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kforge::fetch::{Phase, Progress};
use kforge::flows::Finished;
use kforge::observe::Observer;
use kforge::record::{BuildRecord, StepRecord, StepStatus};
use kforge::steps::PlannedStep;

/// What the user sees.
pub struct Terminal {
    multi: MultiProgress,
    quiet: bool,
    status: Mutex<Option<ProgressBar>>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Terminal {
    /// A terminal for `verbose`/`quiet`, with the libraries' tracing events routed above the
    /// bars.
    pub fn new(verbose: u8, quiet: bool) -> Arc<Terminal> {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let multi = MultiProgress::with_draw_target(target);
        let default = match (quiet, verbose) {
            (true, _) => "error,kforge_kbuild::output=off",
            // Make's lines go to the log files and the status line, not to the terminal.
            (false, 0) => "warn,kforge_kbuild::output=off",
            (false, 1) => "info,kforge_kbuild::output=warn",
            (false, 2) => "debug",
            (false, _) => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(SuspendingWriter(multi.clone()))
            .with_target(false)
            .with_ansi(colour)
            .without_time()
            .try_init();
        Arc::new(Terminal {
            multi,
            quiet,
            status: Mutex::new(None),
            bars: Mutex::new(HashMap::new()),
        })
    }

    fn say(&self, text: &str) {
        if !self.quiet {
            self.multi.suspend(|| println!("{text}"));
        }
    }

    fn error(&self, text: &str) {
        self.multi.suspend(|| eprintln!("{text}"));
    }
}

impl Observer for Terminal {
    fn step_started(&self, index: usize, total: usize, step: &PlannedStep) {
        self.say(&format!("[{index}/{total}] {}", step.title));
    }

    fn step_note(&self, _step: &str, note: &str) {
        self.say(&format!("      {note}"));
    }

    fn step_finished(&self, step: &StepRecord) {
        if matches!(step.status, StepStatus::Ok | StepStatus::Reused) {
            self.say(&format!(
                "      done in {:.1} s",
                step.duration_ms as f64 / 1000.0
            ));
        }
    }

    fn command_started(&self, label: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.status.lock()
            && let Some(old) = slot.replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn line(&self, line: &kforge::kbuild::Line<'_>) {
        if let Ok(slot) = self.status.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.set_message(line.text.trim().to_string());
        }
    }

    fn command_finished(&self) {
        if let Ok(mut slot) = self.status.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn progress(&self, label: &str, p: &Progress<'_>) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(label.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {prefix} {msg:8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        if let Some(total) = p.total {
            bar.set_length(total);
        }
        bar.set_position(p.done);
        bar.set_message(match p.phase {
            Phase::Download => "fetch",
            Phase::Extract => "extract",
            Phase::WaitLock => "waitlock",
            Phase::Clone => "clone",
            Phase::Checkout => "checkout",
            Phase::Patch => "patch",
        });
    }

    fn progress_finished(&self, label: &str) {
        if let Ok(mut bars) = self.bars.lock()
            && let Some(bar) = bars.remove(label)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn report(&self, text: &str) {
        self.error(text);
    }

    fn finished(&self, record: &BuildRecord, summary: &str) {
        SUMMARIZED.store(true, std::sync::atomic::Ordering::SeqCst);
        if record.result == kforge::record::RunResult::Pass {
            self.say(summary);
        } else {
            self.error(summary);
        }
    }
}

/// Writes tracing output above the progress bars.
#[derive(Clone)]
struct SuspendingWriter(MultiProgress);

struct SuspendedLine {
    multi: MultiProgress,
    buf: Vec<u8>,
}

impl std::io::Write for SuspendedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SuspendedLine {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.multi.suspend(|| {
            let _ = std::io::stderr().write_all(&buf);
        });
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SuspendingWriter {
    type Writer = SuspendedLine;
    fn make_writer(&'a self) -> SuspendedLine {
        SuspendedLine {
            multi: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP raise the returned flag, which every long step
/// watches; a second signal ends the program at once.
pub fn interrupt_flag() -> Option<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // The second signal exits (the flag is already raised then).
        let registered =
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)));
        if let Err(err) = registered {
            eprintln!("warning: Ctrl-C will not stop the flow cleanly: {err}");
            return None;
        }
    }
    Some(flag)
}

/// The exit status of a flow: 0, 130 after Ctrl-C, 1 otherwise. Errors the summary already
/// showed are not printed again.
pub fn exit_code(result: Result<Finished, kforge::Error>) -> ExitCode {
    match result {
        Ok(Finished::Planned(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            if err.is_interrupted() {
                eprintln!("interrupted");
                return ExitCode::from(130);
            }
            // The summary (on stderr) already holds the error of a run that started; an
            // error before the first step (bad options) is printed here.
            if !already_summarized(&err) {
                eprintln!("error: {err}");
                let mut source = std::error::Error::source(&err);
                while let Some(cause) = source {
                    eprintln!("  caused by: {cause}");
                    source = cause.source();
                }
            }
            ExitCode::FAILURE
        }
    }
}

fn already_summarized(_err: &kforge::Error) -> bool {
    SUMMARIZED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Set once the flow handed its summary to the terminal.
pub static SUMMARIZED: AtomicBool = AtomicBool::new(false);
