//! Running an external command (hg, patch) with its output captured and the interrupt flag honoured.

use std::io;
use std::process::{Command, Output};
use std::sync::atomic::AtomicBool;

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

/// Run `command` with stdin closed, capturing stdout and stderr, under kforge-process's
/// supervision: its own process group, stopped (SIGTERM, then SIGKILL) on interrupt, and
/// whatever it leaves behind (an `ssh` under `hg`) stopped when it exits, so no process
/// outlives the call and no grandchild keeps the output pipes open.
pub(crate) fn run(
    command: &mut Command,
    should_interrupt: &AtomicBool,
) -> Result<Output, RunError> {
    let options = kforge_process::Options::new().interrupt(should_interrupt);
    match kforge_process::run(command, &options) {
        Ok(c) => Ok(Output {
            status: c.status,
            stdout: c.stdout,
            stderr: c.stderr,
        }),
        Err(kforge_process::Error::Spawn { source, .. }) => Err(RunError::Spawn(source)),
        Err(kforge_process::Error::Wait { source, .. }) => Err(RunError::Wait(source)),
        Err(err) if err.is_interrupted() => Err(RunError::Interrupted),
        Err(err) => Err(RunError::Wait(io::Error::other(err))),
    }
}

/// `program arg…` for messages, each word quoted for a POSIX shell.
pub(crate) fn describe(command: &Command) -> String {
    kforge_process::describe(command)
}
