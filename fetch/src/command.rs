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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    fn gone(pid: i32) -> bool {
        // Dead, or a zombie waiting for its new parent to reap it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return true,
                Ok(stat)
                    if stat
                        .rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z')) =>
                {
                    return true;
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        false
    }

    #[test]
    fn an_interrupt_stops_the_child_and_its_children() {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let raise = std::sync::Arc::clone(&flag);
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            raise.store(true, Ordering::SeqCst);
        });
        let start = Instant::now();
        let err = run(Command::new("sh").args(["-c", &script]), &flag).unwrap_err();
        assert!(matches!(err, RunError::Interrupted), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(pid), "the child's child {pid} outlived the interrupt");
    }
}
