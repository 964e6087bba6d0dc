//! Running a compiler: captured output, a deadline, and a record of what was run.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Render a command line for messages, each word quoted for a POSIX shell (`shlex`).
pub(crate) fn display_command(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| {
            let s = a.to_string_lossy();
            shlex::try_quote(&s).map_or_else(|_| format!("{s:?}"), |q| q.into_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// [`run`], also killing the program when `interrupt` is raised (checked every 20 ms).
pub(crate) fn run_interruptible(
    program: &Path,
    args: &[OsString],
    stdin: Option<&[u8]>,
    timeout: Duration,
    interrupt: Option<&AtomicBool>,
) -> Result<Captured, RunError> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .process_group(0)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Spawn)?;
    let started = Instant::now();
    let stdin_pipe = child.stdin.take();
    let input = stdin.map(<[u8]>::to_vec);
    let writer = std::thread::spawn(move || {
        if let (Some(mut pipe), Some(input)) = (stdin_pipe, input) {
            // A compiler that exits early closes the pipe; its status tells the story.
            let _ = pipe.write_all(&input);
        }
    });
    // Each reader reports when its pipe reaches end of file: the program has exited (or closed
    // its output), so no polling is needed while it runs.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, std::io::Result<Vec<u8>>)>();
    let read_all = |index: usize, pipe: Option<Box<dyn Read + Send>>| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let result = match pipe {
                Some(mut pipe) => pipe.read_to_end(&mut buf).map(|_| buf),
                None => Ok(buf),
            };
            let _ = tx.send((index, result));
        })
    };
    read_all(
        0,
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    read_all(
        1,
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    drop(tx);
    let mut outputs: [Option<Vec<u8>>; 2] = [None, None];
    let mut received = 0;
    while received < 2 {
        if interrupt.is_some_and(|i| i.load(Ordering::Relaxed)) {
            kill_group(&mut child);
            return Err(RunError::Interrupted);
        }
        let left = timeout.saturating_sub(started.elapsed());
        let slice = match interrupt {
            Some(_) => left.min(Duration::from_millis(20)),
            None => left,
        };
        match rx.recv_timeout(slice) {
            Ok((index, Ok(bytes))) => {
                outputs[index] = Some(bytes);
                received += 1;
            }
            Ok((_, Err(e))) => {
                kill_group(&mut child);
                return Err(RunError::Io(e));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if started.elapsed() < timeout => {}
            Err(_) => {
                // The reader threads end when the group's pipes close; they are not waited for.
                kill_group(&mut child);
                return Err(RunError::TimedOut(timeout));
            }
        }
    }
    let mut pause = Duration::from_micros(100);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                kill_group(&mut child);
                return Err(RunError::TimedOut(timeout));
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(4));
            }
            Err(e) => {
                kill_group(&mut child);
                return Err(RunError::Io(e));
            }
        }
    };
    let _ = writer.join();
    let [stdout, stderr] = outputs;
    Ok(Captured {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
    })
}

fn kill_group(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
