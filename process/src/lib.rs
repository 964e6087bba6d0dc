//! One process supervisor for kforge's crates (the bottom crate the four may all depend on,
//! like ripgrep's `grep-cli` or gitoxide's `gix-command`).
//!
//! Every child kforge starts (make, configure, a compiler probe, `hg`, `patch`, `quilt`) gets
//! the same guarantees:
//!
//! - it leads a process group of its own, so whatever it starts (compilers under make, an `ssh`
//!   under `hg`) is reached by a signal to the group, and the terminal's Ctrl-C is the caller's
//!   business (through an interrupt flag), not the child's;
//! - its exit is observed with `waitid(WNOWAIT)`, so it stays a zombie, and its group id stays
//!   reserved, until the group has been dealt with: `killpg` can never hit an unrelated group
//!   that reused the id;
//! - a timeout or the interrupt flag stops the group with SIGTERM, then SIGKILL after a grace
//!   period; when the child exits normally, whatever it left in its group is stopped the same
//!   way (a background job, an `ssh` that would hold the output pipes open);
//! - the child is reaped before the call returns: nothing outlives the call.
//!
//! [`run`] runs a command to the end with its output captured. [`Group`] is the building
//! block under it, for supervisors that stream a child's output themselves (kbuild's make
//! runner); [`stop_group`] and [`group_has_live_members`] are the primitives under that.
//!
//! ```
//! use std::process::Command;
//! use std::sync::atomic::AtomicBool;
//! use kforge_process::{Options, run};
//!
//! let interrupt = AtomicBool::new(false);
//! let out = run(
//!     Command::new("sh").args(["-c", "echo hi"]),
//!     &Options::new().interrupt(&interrupt),
//! )?;
//! assert_eq!(out.stdout, b"hi\n");
//! # Ok::<(), kforge_process::Error>(())
//! ```
#![deny(missing_docs)]

mod group;
pub use group::Group;

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The default time a signalled group gets between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// How often the interrupt flag and the deadline are checked.
const TICK: Duration = Duration::from_millis(20);

/// How a supervised run is bounded.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    timeout: Option<Duration>,
    interrupt: Option<&'a AtomicBool>,
    grace: Duration,
    stdin: Option<&'a [u8]>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            timeout: None,
            interrupt: None,
            grace: DEFAULT_GRACE,
            stdin: None,
        }
    }
}

impl<'a> Options<'a> {
    /// No timeout, no interrupt flag, stdin closed, the default grace period.
    pub fn new() -> Options<'a> {
        Options::default()
    }

    /// Stop the group when the run takes longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Stop the group when `flag` is raised (checked every 20 ms).
    pub fn interrupt(mut self, flag: &'a AtomicBool) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// [`Options::interrupt`] when there is a flag.
    pub fn interrupt_opt(mut self, flag: Option<&'a AtomicBool>) -> Self {
        self.interrupt = flag;
        self
    }

    /// The time between SIGTERM and SIGKILL.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Feed `bytes` on stdin (otherwise stdin is `/dev/null`).
    pub fn stdin(mut self, bytes: &'a [u8]) -> Self {
        self.stdin = Some(bytes);
        self
    }
}

/// What a finished command left.
#[derive(Debug, Clone)]
pub struct Captured {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

/// Why a supervised run produced no exit status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be started (not installed, not executable).
    #[error("cannot start `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its deadline; its group was stopped.
    #[error("`{command}` was stopped after the {} s deadline", after.as_secs_f64())]
    TimedOut {
        /// The command line.
        command: String,
        /// The deadline.
        after: Duration,
    },
    /// The interrupt flag was raised; its group was stopped.
    #[error("`{command}` was interrupted")]
    Interrupted {
        /// The command line.
        command: String,
    },
    /// Waiting for it failed.
    #[error("waiting for `{command}` failed")]
    Wait {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the run stopped because the interrupt flag was raised.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted { .. })
    }
}

/// Quote `word` for a POSIX shell (`shlex`), for messages and scripts.
pub fn quote(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| format!("{word:?}"), |q| q.into_owned())
}

/// A command line for messages: `program arg…`, each word quoted.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|w| quote(&w.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `command` to the end with stdout and stderr captured, under the guarantees of the crate
/// documentation. stdin is `/dev/null` unless [`Options::stdin`] gives bytes.
pub fn run(command: &mut Command, options: &Options<'_>) -> Result<Captured, Error> {
    let text = describe(command);
    tracing::debug!(command = %text, "running");
    command
        .stdin(if options.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut group = Group::spawn(command, options.grace).map_err(|source| Error::Spawn {
        command: text.clone(),
        source,
    })?;
    let started = Instant::now();
    let child = group.child_mut();
    let writer = {
        let pipe = child.stdin.take();
        let input = options.stdin.map(<[u8]>::to_vec);
        std::thread::spawn(move || {
            if let (Some(mut pipe), Some(input)) = (pipe, input) {
                // A program that exits early closes the pipe; its status tells the story.
                let _ = pipe.write_all(&input);
            }
        })
    };
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    // The waiter thread reports the exit at once; the tick bounds how late an interrupt or a
    // deadline is noticed.
    let stopped = loop {
        let mut tick = TICK;
        if let Some(timeout) = options.timeout {
            tick = tick.min(timeout.saturating_sub(started.elapsed()));
        }
        if group.wait_exited(tick) {
            break None;
        }
        if options.interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
            break Some(Error::Interrupted {
                command: text.clone(),
            });
        }
        if let Some(timeout) = options.timeout
            && started.elapsed() >= timeout
        {
            break Some(Error::TimedOut {
                command: text.clone(),
                after: timeout,
            });
        }
    };
    if stopped.is_some() {
        group.terminate();
    }
    // Whatever is still in the group is stopped while the leader's zombie keeps the group id
    // reserved; then the leader is reaped.
    let status = group.reap();
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if let Some(err) = stopped {
        return Err(err);
    }
    let status = status.map_err(|source| Error::Wait {
        command: text,
        source,
    })?;
    Ok(Captured {
        status,
        stdout,
        stderr,
    })
}

/// Stop every live member of the process group `pgid`: SIGTERM, then SIGKILL if some are
/// still alive after `grace`. Returns at once when nobody in the group is alive.
///
/// Call it only while the group id is reserved (the leader not yet reaped, or still running):
/// otherwise the id may name an unrelated group.
pub fn stop_group(pgid: u32, grace: Duration) {
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    let pgid = Pid::from_raw(raw);
    if !group_has_live_members(pgid.as_raw()) {
        return;
    }
    signal_group(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !group_has_live_members(pgid.as_raw()) {
            return;
        }
        std::thread::sleep(TICK);
    }
    signal_group(pgid, Signal::SIGKILL);
}

pub(crate) fn signal_group(pgid: Pid, signal: Signal) {
    match killpg(pgid, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => tracing::warn!(pgid = pgid.as_raw(), %signal, error = %err, "killpg failed"),
    }
}

/// Whether a process that has not exited is in the group `pgid` (zombies do not count: an
/// exited leader keeps `killpg` from failing, so the members are looked up in `/proc`).
///
/// Every process's group is asked with `getpgid`, a system call that costs a fraction of
/// reading its `/proc/PID/stat`; only a member found that way has its state read. (A Kconfig
/// load runs ~90 short commands, each followed by this check, on machines with hundreds of
/// processes.)
pub fn group_has_live_members(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        // Without /proc, assume someone is there: the caller signals, which is harmless.
        return true;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            return false;
        };
        match nix::unistd::getpgid(Some(Pid::from_raw(pid))) {
            Ok(group) if group.as_raw() == pgid => {
                stat(pid).is_some_and(|(state, pgrp)| pgrp == pgid && !matches!(state, 'Z' | 'X'))
            }
            // Gone since the directory was read, or in another group.
            Ok(_) | Err(Errno::ESRCH) => false,
            // Not allowed to ask: read its stat as before.
            Err(_) => {
                stat(pid).is_some_and(|(state, pgrp)| pgrp == pgid && !matches!(state, 'Z' | 'X'))
            }
        }
    })
}

/// Whether the process `pid` has exited: it is gone, or a zombie waiting to be reaped.
pub fn has_exited(pid: i32) -> bool {
    stat(pid).is_none_or(|(state, _)| matches!(state, 'Z' | 'X'))
}

/// Wait up to `timeout` for [`has_exited`]; whether it did.
pub fn wait_for_exit(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if has_exited(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(TICK);
    }
}

/// A process's state letter and process group, from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone(pid: i32) -> bool {
        wait_for_exit(pid, Duration::from_secs(5))
    }

    #[test]
    fn a_grandchild_left_behind_is_stopped_and_does_not_hold_the_call() {
        // Like an `ssh` that `hg` started and did not wait for: it keeps stdout open.
        let start = Instant::now();
        let out = run(
            Command::new("sh").args(["-c", "sleep 300 & echo $!"]),
            &Options::new(),
        )
        .expect("runs");
        assert!(out.status.success());
        assert!(start.elapsed() < Duration::from_secs(10));
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(gone(pid), "the grandchild {pid} outlived the call");
    }

    #[test]
    fn an_interrupt_stops_the_group_within_the_tick() {
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
        let err = run(
            Command::new("sh").args(["-c", &script]),
            &Options::new().interrupt(&flag),
        )
        .unwrap_err();
        assert!(err.is_interrupted(), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(pid), "the child's child {pid} outlived the interrupt");
    }

    #[test]
    fn a_program_ignoring_sigterm_is_killed_after_the_grace_period() {
        let start = Instant::now();
        let err = run(
            Command::new("sh").args(["-c", "trap '' TERM; sleep 300 & trap '' TERM; wait"]),
            &Options::new()
                .timeout(Duration::from_millis(200))
                .grace(Duration::from_millis(300)),
        )
        .unwrap_err();
        assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn stdin_is_fed_and_output_captured() {
        let out = run(&mut Command::new("cat"), &Options::new().stdin(b"int x;\n")).unwrap();
        assert_eq!(out.stdout, b"int x;\n");
        let missing = run(&mut Command::new("/nonexistent/cc"), &Options::new()).unwrap_err();
        assert!(matches!(missing, Error::Spawn { .. }));
        assert_eq!(missing.to_string(), "cannot start `/nonexistent/cc`");
    }

    #[test]
    fn command_lines_quote_each_word() {
        let mut c = Command::new("hg");
        c.args(["clone", "a b", "x;y", "*", "&", "|"]);
        assert_eq!(describe(&c), "hg clone 'a b' 'x;y' '*' '&' '|'");
    }
}
