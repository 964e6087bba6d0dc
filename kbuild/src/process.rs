//! Running one child process under supervision: its own process group, stdin closed (or fed
//! default answers), output read line by line on two threads, and a group kill on timeout,
//! interrupt, drop, or for whatever the child left behind.
//!
//! Invariants:
//! - The child leads a new process group (`setpgid(0, 0)` at spawn), so `killpg` reaches make
//!   and every compiler and shell under it, and the terminal's Ctrl-C does not (the caller owns
//!   cancellation through the interrupt flag).
//! - The child is never reaped before the group has been signalled: a waiter thread observes its
//!   exit with `waitid(WNOWAIT)`, leaving a zombie that keeps the process-group id reserved, so
//!   `killpg` can never hit an unrelated group that reused the id.
//! - When the child exits, the rest of its group (background jobs a recipe left) gets SIGTERM,
//!   then SIGKILL if they still hold the output pipes after the grace period.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use crate::outcome::Status;
use crate::output::{self, Collected, LineCallback, LogFile, ReaderContext, SharedLog, Stream};

/// The capacity asked for the output pipes.
const PIPE_SIZE: i32 = 1 << 20;

/// How often the interrupt flag is polled while the child runs.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What the child's standard input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Input {
    /// `/dev/null`: any read sees end-of-file at once.
    #[default]
    Closed,
    /// An endless stream of newlines (`yes ""`): every prompt takes its default answer.
    DefaultAnswers,
}

/// Everything needed to spawn and supervise one process.
pub(crate) struct Spec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(OsString, Option<OsString>)>,
    pub input: Input,
    pub log_file: Option<PathBuf>,
    pub log_header: String,
    pub timeout: Option<Duration>,
    pub interrupt: Option<Arc<AtomicBool>>,
    pub on_line: Option<LineCallback>,
    pub capture_stdout: bool,
    pub kill_grace: Duration,
    pub span: tracing::Span,
}

/// Errors before the child runs.
#[derive(Debug)]
pub(crate) enum SpawnError {
    Log(PathBuf, io::Error),
    Spawn(io::Error),
}

/// How supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Exited,
    TimedOut(Duration),
    Interrupted,
}

/// A finished process with everything its output told.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: Status,
    pub ending: Ending,
    pub duration: Duration,
    pub collected: Collected,
    pub log_file: Option<PathBuf>,
    pub log_error: Option<io::Error>,
}

/// A running, supervised process. Dropping it kills its process group.
pub(crate) struct Running {
    child: Option<Child>,
    pgid: Pid,
    exited: Receiver<()>,
    collectors: Vec<(Stream, Arc<Mutex<Collected>>)>,
    readers_done: Receiver<()>,
    log: Option<SharedLog>,
    log_file: Option<PathBuf>,
    started: Instant,
    timeout: Option<Duration>,
    interrupt: Option<Arc<AtomicBool>>,
    kill_grace: Duration,
    span: tracing::Span,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("pgid", &self.pgid)
            .field("log_file", &self.log_file)
            .finish_non_exhaustive()
    }
}

/// Spawn `spec` in its own process group with its output wired to reader threads.
pub(crate) fn spawn(spec: Spec) -> Result<Running, SpawnError> {
    use std::os::unix::process::CommandExt;

    let log = match &spec.log_file {
        Some(path) => {
            let mut log = LogFile::create(path).map_err(|e| SpawnError::Log(path.clone(), e))?;
            log.write_line(spec.log_header.as_bytes());
            Some(Arc::new(Mutex::new(log)))
        }
        None => None,
    };

    let mut command = Command::new(&spec.program);
    command.args(&spec.args);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    for (key, value) in &spec.env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
        .stdin(match spec.input {
            Input::Closed => Stdio::null(),
            Input::DefaultAnswers => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);

    let entered = spec.span.enter();
    let mut child = command.spawn().map_err(SpawnError::Spawn)?;
    let raw_pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let pgid = Pid::from_raw(raw_pid);
    tracing::debug!(pid = raw_pid, "spawned");

    if let Some(stdin) = child.stdin.take() {
        // Detached: it ends with EPIPE once every holder of the pipe is gone.
        let spawned = std::thread::Builder::new()
            .name("kbuild-answers".into())
            .spawn(move || feed_default_answers(stdin));
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "cannot start the default-answer feeder; stdin stays open");
        }
    }

    let ctx = Arc::new(ReaderContext {
        log: log.clone(),
        on_line: spec.on_line.clone(),
        capture_stdout: spec.capture_stdout,
        span: spec.span.clone(),
        dispatch: tracing::dispatcher::get_default(|d| d.clone()),
    });
    let (done_tx, readers_done) = mpsc::channel();
    let mut collectors = Vec::with_capacity(2);
    // A larger pipe lets a chatty make (V=1) run ahead of the reader instead of blocking
    // every 64 KiB. Best effort: the size is capped by /proc/sys/fs/pipe-max-size.
    for fd in [
        child.stdout.as_ref().map(std::os::fd::AsFd::as_fd),
        child.stderr.as_ref().map(std::os::fd::AsFd::as_fd),
    ]
    .into_iter()
    .flatten()
    {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    }
    let pipes: [(Option<Box<dyn io::Read + Send>>, Stream); 2] = [
        (
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
            Stream::Stdout,
        ),
        (
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
            Stream::Stderr,
        ),
    ];
    for (pipe, stream) in pipes {
        let Some(pipe) = pipe else { continue };
        let ctx = Arc::clone(&ctx);
        let done_tx = done_tx.clone();
        let sink = Arc::new(Mutex::new(Collected::default()));
        collectors.push((stream, Arc::clone(&sink)));
        // Detached: the collection comes back over the channel, so a pipe held open by a
        // process that escaped the group cannot block the caller.
        let spawned = std::thread::Builder::new()
            .name(format!("kbuild-{stream:?}").to_lowercase())
            .spawn(move || {
                output::read_lines(pipe, stream, &ctx, &sink);
                let _ = done_tx.send(());
            });
        match spawned {
            Ok(_) => {}
            Err(err) => {
                kill_group(pgid, Signal::SIGKILL);
                let _ = child.wait();
                return Err(SpawnError::Spawn(err));
            }
        }
    }

    let (exit_tx, exited) = mpsc::channel();
    let waiter = std::thread::Builder::new()
        .name("kbuild-waiter".into())
        .spawn(move || {
            // Observe the exit without reaping (WNOWAIT): the zombie keeps the group id.
            while let Err(Errno::EINTR) =
                waitid(Id::Pid(pgid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
            {}
            let _ = exit_tx.send(());
        });
    if let Err(err) = waiter {
        kill_group(pgid, Signal::SIGKILL);
        let _ = child.wait();
        return Err(SpawnError::Spawn(err));
    }
    drop(entered);

    Ok(Running {
        child: Some(child),
        pgid,
        exited,
        collectors,
        readers_done,
        log,
        log_file: spec.log_file,
        started: Instant::now(),
        timeout: spec.timeout,
        interrupt: spec.interrupt,
        kill_grace: spec.kill_grace,
        span: spec.span,
    })
}

/// Write newlines until the pipe breaks. SIGPIPE is blocked on this thread so a broken pipe
/// is an `EPIPE` error here even in programs that restored the default SIGPIPE action.
fn feed_default_answers(mut stdin: ChildStdin) {
    let mut pipe_signal = nix::sys::signal::SigSet::empty();
    pipe_signal.add(Signal::SIGPIPE);
    let _ = pipe_signal.thread_block();
    let answers = [b'\n'; 4096];
    loop {
        match stdin.write(&answers) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn kill_group(pgid: Pid, signal: Signal) {
    match killpg(pgid, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => tracing::warn!(pgid = pgid.as_raw(), %signal, error = %err, "killpg failed"),
    }
}

impl Running {
    /// The process-group id (the child's pid).
    pub fn pid(&self) -> u32 {
        self.pgid.as_raw().unsigned_abs()
    }

    /// Wait for the end, honouring the timeout and the interrupt flag.
    pub fn wait(mut self) -> Finished {
        let span = self.span.clone();
        let _entered = span.enter();
        let deadline = self.timeout.map(|t| self.started + t);
        let ending = loop {
            let mut tick = POLL_INTERVAL;
            if let Some(deadline) = deadline {
                tick = tick.min(deadline.saturating_duration_since(Instant::now()));
            }
            match self.exited.recv_timeout(tick) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break Ending::Exited,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self
                .interrupt
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
            {
                tracing::warn!("interrupted: stopping the whole process group");
                self.terminate();
                break Ending::Interrupted;
            }
            if let (Some(deadline), Some(timeout)) = (deadline, self.timeout)
                && Instant::now() >= deadline
            {
                tracing::warn!(
                    timeout_secs = timeout.as_secs_f64(),
                    "timed out: stopping the whole process group"
                );
                self.terminate();
                break Ending::TimedOut(timeout);
            }
        };
        if ending == Ending::Exited {
            // Whatever the child left running in its group is an orphan now.
            kill_group(self.pgid, Signal::SIGTERM);
        }
        let collected = self.join_readers();
        let duration = self.started.elapsed();
        let status = match self.child.take().map(|mut c| c.wait()) {
            Some(Ok(status)) => Status::from_std(status),
            Some(Err(err)) => {
                tracing::warn!(error = %err, "cannot collect the exit status");
                Status::Unknown
            }
            None => Status::Unknown,
        };
        let log_error = self.log.take().and_then(|log| {
            let mut log = match log.lock() {
                Ok(log) => log,
                Err(poisoned) => poisoned.into_inner(),
            };
            log.write_line(format!("# {status} after {:.1}s", duration.as_secs_f64()).as_bytes());
            log.finish().err()
        });
        tracing::debug!(%status, secs = duration.as_secs_f64(), "finished");
        Finished {
            status,
            ending,
            duration,
            collected,
            log_file: self.log_file.clone(),
            log_error,
        }
    }

    /// SIGTERM the group, give it the grace period, then SIGKILL whatever is left. The child
    /// is not reaped here.
    fn terminate(&mut self) {
        kill_group(self.pgid, Signal::SIGTERM);
        match self.exited.recv_timeout(self.kill_grace) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                // make is a zombie (id still reserved): finish off the rest of its group.
                kill_group(self.pgid, Signal::SIGKILL);
            }
            Err(RecvTimeoutError::Timeout) => {
                kill_group(self.pgid, Signal::SIGKILL);
                let _ = self.exited.recv();
            }
        }
    }

    /// Wait for both readers; if a straggler holds a pipe past the grace period, SIGKILL the
    /// group (the child is still an unreaped zombie, so the id is safe to signal). A pipe still
    /// held after that belongs to a process that left the group (`setsid`): its reader is
    /// abandoned rather than waited for.
    fn join_readers(&mut self) -> Collected {
        let mut deadline = Instant::now() + self.kill_grace;
        let mut killed = false;
        let mut done = 0;
        while done < self.collectors.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.readers_done.recv_timeout(left) {
                Ok(()) => done += 1,
                Err(RecvTimeoutError::Timeout) if !killed => {
                    tracing::warn!("processes left behind still hold the output: killing them");
                    kill_group(self.pgid, Signal::SIGKILL);
                    killed = true;
                    deadline = Instant::now() + self.kill_grace;
                }
                Err(RecvTimeoutError::Timeout) => {
                    tracing::warn!(
                        "a process outside make's process group still holds its output; not waiting for it"
                    );
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    tracing::warn!(
                        "an output reader ended abnormally (did the line callback panic?)"
                    );
                    break;
                }
            }
        }
        self.collectors
            .sort_by_key(|(stream, _)| *stream == Stream::Stderr);
        self.collectors
            .drain(..)
            .map(|(_, sink)| match sink.lock() {
                Ok(mut c) => std::mem::take(&mut *c),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            })
            .fold(Collected::default(), Collected::merge)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let span = self.span.clone();
            let _entered = span.enter();
            tracing::debug!(
                pgid = self.pgid.as_raw(),
                "handle dropped while running: killing the process group"
            );
            self.terminate();
            let _ = child.wait();
        }
    }
}
