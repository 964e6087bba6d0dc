//! Running an external command (hg, patch) with its output captured and the interrupt flag honoured.

use std::io::{self, Read};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

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

/// How long a signalled group gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Run `command` with stdin closed, capturing stdout and stderr.
///
/// The child leads a process group of its own, so whatever it starts (an `ssh` under `hg`) is
/// reached too: on interrupt the group gets SIGTERM, then SIGKILL after a grace period; when
/// the child exits, what it left in its group is stopped the same way, so no process outlives
/// the call and no grandchild keeps the output pipes open. The child is reaped only after the
/// group was signalled (its exit is observed with `waitid(WNOWAIT)`), so the group id cannot
/// have been reused by then.
pub(crate) fn run(
    command: &mut Command,
    should_interrupt: &AtomicBool,
) -> Result<Output, RunError> {
    use std::os::unix::process::CommandExt;
    tracing::debug!(command = %describe(command), "running");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(RunError::Spawn)?;
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
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
    let mut interrupted = false;
    loop {
        if should_interrupt.load(Ordering::Relaxed) {
            interrupted = true;
            stop_group(pgid);
            break;
        }
        match waitid(
            Id::Pid(pgid),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG,
        ) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(_) => break,
            Err(e) => {
                stop_group(pgid);
                let _ = child.wait();
                return Err(RunError::Wait(e.into()));
            }
        }
    }
    // The child has exited (a zombie keeps the group id): stop what it left behind, which
    // may still hold the pipes.
    stop_group(pgid);
    let status = child.wait().map_err(RunError::Wait)?;
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    if interrupted {
        return Err(RunError::Interrupted);
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Stop every live member of the group: SIGTERM, then SIGKILL after the grace period.
fn stop_group(pgid: Pid) {
    if group_empty(pgid) {
        return;
    }
    let _ = killpg(pgid, Signal::SIGTERM);
    let deadline = std::time::Instant::now() + KILL_GRACE;
    while std::time::Instant::now() < deadline {
        if group_empty(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
}

/// Whether no live process is left in the group (the exited leader's zombie does not count,
/// and keeps `killpg` from failing, so the members are looked up in /proc).
fn group_empty(pgid: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.as_raw().to_string() && fields[0] != "Z" && pid > 0
        {
            return false;
        }
    }
    true
}

/// `program arg…` for messages, each word quoted for a POSIX shell.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|w| {
            let w = w.to_string_lossy();
            shlex::try_quote(&w).map_or_else(|_| format!("{w:?}"), |q| q.into_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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
    fn a_grandchild_left_behind_is_stopped_and_does_not_hold_the_call() {
        // Like an `ssh` that `hg` started and did not wait for: it keeps stdout open.
        let start = Instant::now();
        let out = run(
            Command::new("sh").args(["-c", "sleep 300 & echo $!"]),
            &AtomicBool::new(false),
        )
        .expect("runs");
        assert!(out.status.success());
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the call waited for the grandchild"
        );
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(gone(pid), "the grandchild {pid} outlived the call");
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

    #[test]
    fn messages_quote_each_word() {
        let mut c = Command::new("hg");
        c.args(["clone", "a b", "x;y", "*"]);
        assert_eq!(describe(&c), "hg clone 'a b' 'x;y' '*'");
    }
}
