//! Running an external command (hg, patch) with its output captured and the interrupt flag honoured.

use std::io::{self, Read};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why a command could not be run to completion.
#[derive(Debug)]
pub(crate) enum RunError {
    /// It could not be started (not installed, not executable).
    Spawn(io::Error),
    /// Waiting for it failed.
    Wait(io::Error),
    /// The interrupt flag was raised; the command was killed.
    Interrupted,
}

/// Run `command` with stdin closed, capturing stdout and stderr.
pub(crate) fn run(
    command: &mut Command,
    should_interrupt: &AtomicBool,
) -> Result<Output, RunError> {
    tracing::debug!(command = ?command, "running");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Spawn)?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out_thread = read_all(stdout.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err_thread = read_all(stderr.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = loop {
        if should_interrupt.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Interrupted);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(RunError::Wait(e)),
        }
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// `program arg…` for messages.
pub(crate) fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
