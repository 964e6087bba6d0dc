//! Turning SIGINT, SIGTERM and SIGHUP into an interrupt flag, for programs that want Ctrl-C to
//! stop a build cleanly.
//!
//! make runs in its own process group, so the terminal's Ctrl-C does not reach it: the program
//! that owns the terminal raises the interrupt flag instead, and the supervisor stops the whole
//! group. [`flag_on_signals`] does that without a signal handler: it blocks the signals in the
//! calling thread (and so in every thread started afterwards) and waits for them on a thread of
//! its own. Children get a clean signal mask (the standard library resets it at spawn).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, Signal};

/// Block SIGINT, SIGTERM and SIGHUP and return a flag raised when the first one arrives; a
/// second one terminates the program with that signal's default action.
///
/// Call it at the start of `main`, before other threads exist: threads started earlier keep
/// the signals unblocked and would take them with the default action.
pub fn flag_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals.thread_block().map_err(std::io::Error::from)?;
    let raised = Arc::clone(&flag);
    std::thread::Builder::new()
        .name("kbuild-signals".into())
        .spawn(move || {
            while let Ok(signal) = signals.wait() {
                if !raised.swap(true, Ordering::SeqCst) {
                    tracing::warn!(%signal, "stopping cleanly: the running operation is interrupted and nothing half-done is published (send the signal again to exit at once)");
                    continue;
                }
                // Second signal: take the default action (termination) now.
                let _ = signals.thread_unblock();
                let _ = nix::sys::signal::raise(signal);
            }
        })?;
    Ok(flag)
}
