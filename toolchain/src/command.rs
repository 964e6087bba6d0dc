//! Running a compiler: captured output, a deadline, and a record of what was run.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// A compiler command that ran and did not do what was asked: the command line, how it ended and
/// what it wrote on stderr. Every probe error carries one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandFailure {
    /// The command line, shell-quoted where needed, e.g. `gcc-12 -dM -E -x c /dev/null`.
    pub command: String,
    /// The exit status (`exit status: 1`, `signal: 9 (SIGKILL)`), or what prevented the run.
    pub status: String,
    /// The exit code, when the program exited normally.
    pub code: Option<i32>,
    /// What the program wrote on stderr (trimmed, at most 4 KiB).
    pub stderr: String,
}

impl std::fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed ({})", self.command, self.status)?;
        if !self.stderr.is_empty() {
            write!(f, ": {}", self.stderr)?;
        }
        Ok(())
    }
}

/// The captured result of a finished command.
pub(crate) struct Captured {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

/// How a run went wrong before producing an exit status.
pub(crate) enum RunError {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// The program ran past its deadline and was killed.
    TimedOut(Duration),
    /// The caller's interrupt flag was raised; the program was killed.
    Interrupted,
    /// Reading its output or waiting for it failed.
    Io(std::io::Error),
}

/// Render a command line for messages, each word quoted for a POSIX shell.
pub(crate) fn display_command(program: &Path, args: &[OsString]) -> String {
    let mut command = Command::new(program);
    command.args(args);
    kforge_process::describe(&command)
}

fn trim_stderr(stderr: &[u8]) -> String {
    const LIMIT: usize = 4096;
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.len() <= LIMIT {
        return text.to_string();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

impl Captured {
    /// A failure record for this finished command.
    pub(crate) fn failure(&self, command: String) -> CommandFailure {
        CommandFailure {
            command,
            status: self.status.to_string(),
            code: self.status.code(),
            stderr: trim_stderr(&self.stderr),
        }
    }
}

impl RunError {
    /// A failure record for a run that ended without an exit status.
    pub(crate) fn failure(&self, command: String) -> CommandFailure {
        let status = match self {
            RunError::Spawn(e) => format!("could not start: {e}"),
            RunError::TimedOut(d) => format!("killed after the {} s deadline", d.as_secs_f64()),
            RunError::Interrupted => "interrupted by the caller".to_string(),
            RunError::Io(e) => format!("I/O error while running: {e}"),
        };
        CommandFailure {
            command,
            status,
            code: None,
            stderr: String::new(),
        }
    }
}

/// Run `program args…`, feed `stdin` (or nothing), capture stdout and stderr, and kill the
/// program (its whole process group, so a wrapper script's children go too) if it runs past
/// `timeout`. The environment is inherited, except `LC_ALL=C` so that diagnostics are not
/// translated.
pub(crate) fn run(
    program: &Path,
    args: &[OsString],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Captured, RunError> {
    run_interruptible(program, args, stdin, timeout, None)
}

/// [`run`], also stopping the program when `interrupt` is raised (checked every 20 ms). The
/// supervision is kforge-process's: the program leads its own process group (a wrapper
/// script's children go with it), a deadline or the interrupt stops the group with SIGTERM
/// then SIGKILL, and nothing it started outlives the call.
pub(crate) fn run_interruptible(
    program: &Path,
    args: &[OsString],
    stdin: Option<&[u8]>,
    timeout: Duration,
    interrupt: Option<&AtomicBool>,
) -> Result<Captured, RunError> {
    let mut command = Command::new(program);
    command.args(args).env("LC_ALL", "C");
    let mut options = kforge_process::Options::new()
        .timeout(timeout)
        .interrupt_opt(interrupt)
        // A compiler that ignores SIGTERM is not worth waiting for.
        .grace(Duration::from_millis(500));
    if let Some(bytes) = stdin {
        options = options.stdin(bytes);
    }
    match kforge_process::run(&mut command, &options) {
        Ok(c) => Ok(Captured {
            status: c.status,
            stdout: c.stdout,
            stderr: c.stderr,
        }),
        Err(kforge_process::Error::Spawn { source, .. }) => Err(RunError::Spawn(source)),
        Err(kforge_process::Error::TimedOut { after, .. }) => Err(RunError::TimedOut(after)),
        Err(kforge_process::Error::Wait { source, .. }) => Err(RunError::Io(source)),
        Err(err) if err.is_interrupted() => Err(RunError::Interrupted),
        Err(err) => Err(RunError::Io(std::io::Error::other(err))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    /// A "compiler" that starts a child of its own and hangs, as a wrapper script stuck on a
    /// network compile would.
    fn hanging_compiler(dir: &Path) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let cc = dir.join("cc");
        std::fs::write(
            &cc,
            format!(
                "#!/bin/sh\nsleep 300 &\necho $! > {}\nwait\n",
                dir.join("child.pid").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).unwrap();
        cc
    }

    fn gone(pid: i32) -> bool {
        kforge_process::wait_for_exit(pid, Duration::from_secs(5))
    }

    fn child_pid(dir: &Path) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(text) = std::fs::read_to_string(dir.join("child.pid"))
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "the compiler never started its child"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn an_interrupted_probe_leaves_no_process_behind() {
        let dir = tempfile::tempdir().unwrap();
        let cc = hanging_compiler(dir.path());
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let raise = std::sync::Arc::clone(&flag);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            raise.store(true, Ordering::SeqCst);
        });
        let start = Instant::now();
        let err = run_interruptible(
            &cc,
            &["-dM".into(), "-E".into()],
            None,
            Duration::from_secs(60),
            Some(&flag),
        )
        .err()
        .expect("interrupted");
        assert!(matches!(err, RunError::Interrupted));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(gone(child_pid(dir.path())), "the probe's child outlived it");
    }

    #[test]
    fn a_probe_past_its_deadline_leaves_no_process_behind() {
        let dir = tempfile::tempdir().unwrap();
        let cc = hanging_compiler(dir.path());
        let err = run(&cc, &[], None, Duration::from_millis(300))
            .err()
            .expect("timed out");
        assert!(matches!(err, RunError::TimedOut(_)));
        assert!(gone(child_pid(dir.path())), "the probe's child outlived it");
    }
}
