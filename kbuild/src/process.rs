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
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kforge_process::Group;

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
    group: Group,
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
            .field("pgid", &self.group.id())
            .field("log_file", &self.log_file)
            .finish_non_exhaustive()
    }
}

/// Spawn `spec` in its own process group with its output wired to reader threads.
pub(crate) fn spawn(spec: Spec) -> Result<Running, SpawnError> {
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
        .stderr(Stdio::piped());

    let entered = spec.span.enter();
    // Dropped on any early return below: that stops the group and reaps the child.
    let mut group = Group::spawn(&mut command, spec.kill_grace).map_err(SpawnError::Spawn)?;
    tracing::debug!(pid = group.id(), "spawned");
    let child = group.child_mut();

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
        if let Err(err) = spawned {
            return Err(SpawnError::Spawn(err));
        }
    }
    drop(entered);

    Ok(Running {
        group,
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
    pipe_signal.add(nix::sys::signal::Signal::SIGPIPE);
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

impl Running {
    /// The process-group id (the child's pid).
    pub fn pid(&self) -> u32 {
        self.group.id()
    }

    /// Wait for the end, honouring the timeout and the interrupt flag.
    pub fn wait(mut self) -> Finished {
        let span = self.span.clone();
        let _entered = span.enter();
        // Dropping the group before `reap` (a panic in between) still stops and reaps it.
        let group = self.group;
        let deadline = self.timeout.map(|t| self.started + t);
        let ending = loop {
            let mut tick = POLL_INTERVAL;
            if let Some(deadline) = deadline {
                tick = tick.min(deadline.saturating_duration_since(Instant::now()));
            }
            if group.wait_exited(tick) {
                break Ending::Exited;
            }
            if self
                .interrupt
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
            {
                tracing::warn!("interrupted: stopping the whole process group");
                group.terminate();
                break Ending::Interrupted;
            }
            if let (Some(deadline), Some(timeout)) = (deadline, self.timeout)
                && Instant::now() >= deadline
            {
                tracing::warn!(
                    timeout_secs = timeout.as_secs_f64(),
                    "timed out: stopping the whole process group"
                );
                group.terminate();
                break Ending::TimedOut(timeout);
            }
        };
        if ending == Ending::Exited {
            // Whatever the child left running in its group is an orphan now: SIGTERM at once,
            // so the readers below see the pipes close.
            group.term();
        }
        let collected = join_readers(
            &mut self.collectors,
            &self.readers_done,
            self.kill_grace,
            &group,
        );
        let duration = self.started.elapsed();
        let status = match group.reap() {
            Ok(status) => Status::from_std(status),
            Err(err) => {
                tracing::warn!(error = %err, "cannot collect the exit status");
                Status::Unknown
            }
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
}

/// Wait for both readers; if a straggler holds a pipe past the grace period, SIGKILL the
/// group (the child is still an unreaped zombie, so the id is safe to signal). A pipe still
/// held after that belongs to a process that left the group (`setsid`): its reader is
/// abandoned rather than waited for.
fn join_readers(
    collectors: &mut Vec<(Stream, Arc<Mutex<Collected>>)>,
    readers_done: &Receiver<()>,
    kill_grace: Duration,
    group: &Group,
) -> Collected {
    let mut deadline = Instant::now() + kill_grace;
    let mut killed = false;
    let mut done = 0;
    while done < collectors.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match readers_done.recv_timeout(left) {
            Ok(()) => done += 1,
            Err(RecvTimeoutError::Timeout) if !killed => {
                tracing::warn!("processes left behind still hold the output: killing them");
                group.kill();
                killed = true;
                deadline = Instant::now() + kill_grace;
            }
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    "a process outside make's process group still holds its output; not waiting for it"
                );
                break;
            }
            Err(RecvTimeoutError::Disconnected) => {
                tracing::warn!("an output reader ended abnormally (did the line callback panic?)");
                break;
            }
        }
    }
    collectors.sort_by_key(|(stream, _)| *stream == Stream::Stderr);
    collectors
        .drain(..)
        .map(|(_, sink)| match sink.lock() {
            Ok(mut c) => std::mem::take(&mut *c),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        })
        .fold(Collected::default(), Collected::merge)
}
