//! [`Make`]: one supervised `make` invocation, configured like `std::process::Command`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::cache::{CacheProbe, CacheReport, CacheStats, CacheTool};
use crate::outcome::{EnvChange, Failure, Invocation, Outcome, Verdict, judge};
use crate::output::{Line, LineCallback};
use crate::process::{self, Input, Running, SpawnError, Spec};

/// Default time between SIGTERM and SIGKILL when a process group is stopped.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// Errors of [`Make::run`] and [`Make::spawn`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A destructive target was asked for without [`Make::allow_destructive`].
    #[error(
        "refusing to run the destructive target `{target}` in {dir}: {reason}. If that is really wanted, opt in with Make::allow_destructive(true) (kforge kernel build: --allow-destructive)"
    )]
    Destructive {
        /// The target.
        target: String,
        /// The directory make would run in.
        dir: PathBuf,
        /// What it would destroy.
        reason: &'static str,
    },
    /// A variable name make would not take as `NAME=value`.
    #[error(
        "invalid make variable name {name:?}: names are letters, digits and underscores (e.g. CROSS_COMPILE)"
    )]
    InvalidVariable {
        /// The name given.
        name: String,
    },
    /// The directory passed to [`Make::new`] does not exist.
    #[error(
        "make directory {dir} does not exist or is not a directory (Make::new takes the directory holding the Makefile)"
    )]
    NoDirectory {
        /// The directory.
        dir: PathBuf,
    },
    /// The `O=` build directory could not be created.
    #[error("cannot create the build directory {path}")]
    BuildDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The log file could not be created or written.
    #[error("cannot write the log file {path}")]
    LogFile {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// make could not be started.
    #[error("cannot run {program:?} (is GNU make installed? Debian: apt-get install make)")]
    Spawn {
        /// The program.
        program: OsString,
        /// The cause.
        source: std::io::Error,
    },
    /// make ran and failed.
    #[error("make failed: {0}")]
    Failed(Box<Failure>),
    /// The timeout expired; the whole process group was killed.
    #[error(
        "make timed out after {:.1}s; its whole process group was stopped. {failure}",
        after.as_secs_f64()
    )]
    TimedOut {
        /// The timeout.
        after: Duration,
        /// What was seen until then.
        failure: Box<Failure>,
    },
    /// The interrupt flag was raised; the whole process group was killed.
    #[error("make was interrupted; its whole process group was stopped. {0}")]
    Interrupted(Box<Failure>),
}

impl Error {
    /// The failure report, for errors that happened after make started.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Error::Failed(f) | Error::Interrupted(f) | Error::TimedOut { failure: f, .. } => {
                Some(f)
            }
            _ => None,
        }
    }

    /// Whether the run stopped because the interrupt flag was raised.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted(_))
    }
}

/// One `make` invocation, configured like `std::process::Command` or `cc::Build`, run under
/// supervision.
///
/// - `make -C <dir>` with `-j` defaulting to the available parallelism;
/// - variables are passed as `NAME=value` arguments (so they override the Makefile), in the
///   order given, the last value of a name winning;
/// - stdin is `/dev/null`, so a Kconfig prompt sees end-of-file instead of hanging the build
///   ([`Make::answer_prompts_with_defaults`] feeds newlines instead, like `yes "" | make`);
/// - `LC_ALL=C` is set so compiler messages can be classified (override with [`Make::env`]);
/// - make runs in its own process group; a timeout, the interrupt flag or dropping a
///   [`RunningMake`] stops the whole group (SIGTERM, then SIGKILL after the grace period);
/// - destructive targets are refused unless [`Make::allow_destructive`] is set.
///
/// ```no_run
/// # fn main() -> Result<(), kforge_kbuild::make::Error> {
/// use kforge_kbuild::Make;
/// let outcome = Make::new("/usr/src/linux")
///     .build_dir("/tmp/build")
///     .arch("x86_64")
///     .vars([("CC".to_string(), "gcc-12".to_string())])
///     .target("defconfig")
///     .log_file("/tmp/build/defconfig.log")
///     .run()?;
/// println!("{} warnings in {:?}", outcome.warnings, outcome.duration);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Make {
    program: OsString,
    dir: PathBuf,
    build_dir: Option<PathBuf>,
    jobs: Option<usize>,
    vars: Vec<(String, String)>,
    env: Vec<(OsString, Option<OsString>)>,
    targets: Vec<String>,
    args: Vec<OsString>,
    verbose: bool,
    silent: bool,
    keep_going: bool,
    print_directory: bool,
    log_file: Option<PathBuf>,
    timeout: Option<Duration>,
    interrupt: Option<Arc<AtomicBool>>,
    on_line: Option<LineCallback>,
    capture_stdout: bool,
    input: Input,
    allow_destructive: bool,
    kill_grace: Duration,
    cache_stats: Option<CacheTool>,
}

impl std::fmt::Debug for Make {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Make")
            .field("command_line", &self.command_line())
            .field("env", &self.env)
            .field("log_file", &self.log_file)
            .field("timeout", &self.timeout)
            .field("allow_destructive", &self.allow_destructive)
            .finish_non_exhaustive()
    }
}

impl Make {
    /// make in `dir` (`make -C dir`).
    pub fn new(dir: impl Into<PathBuf>) -> Make {
        Make {
            program: OsString::from("make"),
            dir: dir.into(),
            build_dir: None,
            jobs: None,
            vars: Vec::new(),
            env: vec![("LC_ALL".into(), Some("C".into()))],
            targets: Vec::new(),
            args: Vec::new(),
            verbose: false,
            silent: false,
            keep_going: false,
            print_directory: false,
            log_file: None,
            timeout: None,
            interrupt: None,
            on_line: None,
            capture_stdout: false,
            input: Input::Closed,
            allow_destructive: false,
            kill_grace: DEFAULT_KILL_GRACE,
            cache_stats: None,
        }
    }

    /// The make program (default `make`; e.g. `gmake`).
    pub fn program(&mut self, program: impl Into<OsString>) -> &mut Make {
        self.program = program.into();
        self
    }

    /// Build out of tree: `O=<dir>` (made absolute, created if missing).
    pub fn build_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Make {
        self.build_dir = Some(dir.into());
        self
    }

    /// Parallel jobs, `-j<n>` (default: the available parallelism; 0 is taken as 1).
    pub fn jobs(&mut self, jobs: usize) -> &mut Make {
        self.jobs = Some(jobs.max(1));
        self
    }

    /// `ARCH=<arch>`.
    pub fn arch(&mut self, arch: impl Into<String>) -> &mut Make {
        self.var("ARCH", arch)
    }

    /// `CROSS_COMPILE=<prefix>` (e.g. `aarch64-linux-gnu-`).
    pub fn cross_compile(&mut self, prefix: impl Into<String>) -> &mut Make {
        self.var("CROSS_COMPILE", prefix)
    }

    /// A make variable, passed as `NAME=value` on the command line.
    pub fn var(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Make {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// Several make variables, e.g. the `(name, value)` pairs a toolchain crate emits.
    pub fn vars<I, K, V>(&mut self, vars: I) -> &mut Make
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        for (name, value) in vars {
            self.var(name, value);
        }
        self
    }

    /// An environment variable for make and everything it runs.
    pub fn env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Make {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    /// Remove an environment variable for make.
    pub fn env_remove(&mut self, key: impl Into<OsString>) -> &mut Make {
        self.env.push((key.into(), None));
        self
    }

    /// A target to build.
    pub fn target(&mut self, target: impl Into<String>) -> &mut Make {
        self.targets.push(target.into());
        self
    }

    /// Several targets, in order.
    pub fn targets<I, T>(&mut self, targets: I) -> &mut Make
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.targets.extend(targets.into_iter().map(Into::into));
        self
    }

    /// An extra make option (e.g. `--output-sync=target`), placed before the variables.
    pub fn arg(&mut self, arg: impl Into<OsString>) -> &mut Make {
        self.args.push(arg.into());
        self
    }

    /// Show full command lines (`V=1`).
    pub fn verbose(&mut self, verbose: bool) -> &mut Make {
        self.verbose = verbose;
        self
    }

    /// Silent (`-s`): make echoes no recipe lines; for targets whose output is the answer.
    pub fn silent(&mut self, silent: bool) -> &mut Make {
        self.silent = silent;
        self
    }

    /// Keep going after errors (`-k`).
    pub fn keep_going(&mut self, keep_going: bool) -> &mut Make {
        self.keep_going = keep_going;
        self
    }

    /// Let make print `Entering directory` lines (off by default: `--no-print-directory`,
    /// as the kernel's own Makefile sets).
    pub fn print_directory(&mut self, print: bool) -> &mut Make {
        self.print_directory = print;
        self
    }

    /// Write the full output (raw bytes, both streams, line by line) to this file; its parent
    /// directories are created. The file starts with the command line and ends with the status.
    pub fn log_file(&mut self, path: impl Into<PathBuf>) -> &mut Make {
        self.log_file = Some(path.into());
        self
    }

    /// Stop the whole process group if make runs longer than this.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Make {
        self.timeout = Some(timeout);
        self
    }

    /// Stop the whole process group when this flag becomes true (polled every 50 ms).
    pub fn interrupt(&mut self, flag: Arc<AtomicBool>) -> &mut Make {
        self.interrupt = Some(flag);
        self
    }

    /// Call `f` for every output line, from the reader threads (stdout and stderr may call it
    /// concurrently). Keep it quick: make blocks when its pipe is full.
    pub fn on_line<F>(&mut self, f: F) -> &mut Make
    where
        F: Fn(&Line<'_>) + Send + Sync + 'static,
    {
        self.on_line = Some(Arc::new(f));
        self
    }

    /// Keep standard output lines in [`Outcome::stdout`].
    pub fn capture_stdout(&mut self, capture: bool) -> &mut Make {
        self.capture_stdout = capture;
        self
    }

    /// Feed an endless stream of newlines to make's stdin (`yes "" | make …`), so every
    /// prompt takes its default. Anything reading stdin to its end never finishes, so use this
    /// only for prompting targets such as `oldconfig`.
    pub fn answer_prompts_with_defaults(&mut self, answer: bool) -> &mut Make {
        self.input = if answer {
            Input::DefaultAnswers
        } else {
            Input::Closed
        };
        self
    }

    /// Allow destructive targets (`mrproper`, `distclean`, Xen's `world`, `kdelete`, `kclean`,
    /// `*-delete`, and `clean` in a kernel source tree without `O=`).
    pub fn allow_destructive(&mut self, allow: bool) -> &mut Make {
        self.allow_destructive = allow;
        self
    }

    /// Time between SIGTERM and SIGKILL when the process group is stopped (default 3 s).
    pub fn kill_grace(&mut self, grace: Duration) -> &mut Make {
        self.kill_grace = grace;
        self
    }

    /// Read `tool`'s counters before and after the run, with make's environment (so the same
    /// `CCACHE_DIR`, `SCCACHE_SERVER_PORT` or client log is read), and report the difference
    /// in [`Outcome::cache`]. Counters that cannot be read never fail the build: the reason is
    /// in [`Outcome::cache_error`].
    pub fn cache_stats(&mut self, tool: CacheTool) -> &mut Make {
        self.cache_stats = Some(tool);
        self
    }

    fn cache_probe(&self) -> Option<CacheProbe> {
        let tool = self.cache_stats?;
        let mut probe = CacheProbe::new(tool);
        for (k, v) in &self.env {
            probe.env(k.clone(), v.clone());
        }
        Some(probe)
    }

    /// The directory make runs in (`-C`).
    pub fn get_dir(&self) -> &Path {
        &self.dir
    }

    /// The `O=` directory, if any.
    pub fn get_build_dir(&self) -> Option<&Path> {
        self.build_dir.as_deref()
    }

    /// The log file, if one was set.
    pub fn get_log_file(&self) -> Option<&Path> {
        self.log_file.as_deref()
    }

    /// The targets.
    pub fn get_targets(&self) -> &[String] {
        &self.targets
    }

    /// The variables as they will be passed (later values of a name replace earlier ones).
    pub fn get_vars(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::with_capacity(self.vars.len());
        for (name, value) in &self.vars {
            out.retain(|(n, _)| n != name);
            out.push((name.clone(), value.clone()));
        }
        out
    }

    /// The full command line (program first), as it will run.
    pub fn command_line(&self) -> Vec<OsString> {
        let mut cmd = vec![self.program.clone(), "-C".into(), self.dir.clone().into()];
        let jobs = self.jobs.unwrap_or_else(default_jobs);
        cmd.push(format!("-j{jobs}").into());
        if self.keep_going {
            cmd.push("-k".into());
        }
        if self.silent {
            cmd.push("-s".into());
        }
        if !self.print_directory {
            cmd.push("--no-print-directory".into());
        }
        cmd.extend(self.args.iter().cloned());
        if let Some(out) = &self.build_dir {
            let mut arg = OsString::from("O=");
            arg.push(absolute(out));
            cmd.push(arg);
        }
        if self.verbose {
            cmd.push("V=1".into());
        }
        for (name, value) in self.get_vars() {
            cmd.push(format!("{name}={value}").into());
        }
        cmd.extend(self.targets.iter().map(OsString::from));
        cmd
    }

    fn check(&self) -> Result<(), Error> {
        if !self.dir.is_dir() {
            return Err(Error::NoDirectory {
                dir: self.dir.clone(),
            });
        }
        for (name, _) in &self.vars {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(Error::InvalidVariable { name: name.clone() });
            }
        }
        if !self.allow_destructive {
            for target in &self.targets {
                if let Some(reason) =
                    crate::destructive::reason(target, &self.dir, self.build_dir.is_some())
                {
                    return Err(Error::Destructive {
                        target: target.clone(),
                        dir: self.dir.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// Start make and return a handle; dropping the handle before [`RunningMake::wait`]
    /// stops the whole process group.
    pub fn spawn(&self) -> Result<RunningMake, Error> {
        self.check()?;
        if let Some(out) = &self.build_dir {
            let out = absolute(out);
            std::fs::create_dir_all(&out)
                .map_err(|source| Error::BuildDir { path: out, source })?;
        }
        let cache = self.cache_probe().map(|probe| {
            let before = probe.read();
            (probe, before)
        });
        let command = self.command_line();
        let command_text: Vec<String> = command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let span = tracing::info_span!("make", targets = %self.targets.join(" "));
        tracing::info!(parent: &span, command = %crate::outcome::join_command(&command_text), "running");
        let spec = Spec {
            program: command[0].clone(),
            args: command[1..].to_vec(),
            cwd: None,
            env: self.env.clone(),
            input: self.input,
            log_file: self.log_file.clone(),
            log_header: format!("$ {}", crate::outcome::join_command(&command_text)),
            timeout: self.timeout,
            interrupt: self.interrupt.clone(),
            on_line: self.on_line.clone(),
            capture_stdout: self.capture_stdout,
            kill_grace: self.kill_grace,
            span,
        };
        let running = process::spawn(spec).map_err(|err| match err {
            SpawnError::Log(path, source) => Error::LogFile { path, source },
            SpawnError::Spawn(source) => Error::Spawn {
                program: self.program.clone(),
                source,
            },
        })?;
        Ok(RunningMake {
            running,
            invocation: Invocation {
                command: command_text,
                targets: self.targets.clone(),
                env: EnvChange::list(&self.env),
                // make runs with -C; its own working directory is this process's.
                dir: std::env::current_dir().unwrap_or_else(|_| self.dir.clone()),
                default_answers: matches!(self.input, Input::DefaultAnswers),
            },
            cache,
        })
    }

    /// Run make to the end (or the timeout, or the interrupt).
    pub fn run(&self) -> Result<Outcome, Error> {
        self.spawn()?.wait()
    }
}

/// A running make. Dropping it before [`RunningMake::wait`] stops the whole process group
/// (SIGTERM, then SIGKILL after the grace period) and reaps make.
#[derive(Debug)]
pub struct RunningMake {
    running: Running,
    invocation: Invocation,
    cache: Option<(CacheProbe, Result<CacheStats, crate::cache::Error>)>,
}

impl RunningMake {
    /// make's process id, which is also its process-group id.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Wait for the end, honouring the timeout and the interrupt flag.
    pub fn wait(self) -> Result<Outcome, Error> {
        let finished = self.running.wait();
        match judge(finished, self.invocation) {
            Verdict::Success(mut outcome) => {
                if let Some((probe, before)) = self.cache {
                    match before.and_then(|b| Ok((b, probe.read()?))) {
                        Ok((before, after)) => {
                            let report =
                                CacheReport::between(probe.tool(), before, after, probe.source());
                            tracing::info!(%report, "compiler wrapper counters");
                            outcome.cache = Some(report);
                        }
                        Err(err) => {
                            // The message and its cause, since only text is kept.
                            let mut text = err.to_string();
                            let mut cause = std::error::Error::source(&err);
                            while let Some(c) = cause {
                                text.push_str(": ");
                                text.push_str(&c.to_string());
                                cause = c.source();
                            }
                            tracing::warn!(error = %text, "cannot read the compiler wrapper's counters");
                            outcome.cache_error = Some(text);
                        }
                    }
                }
                Ok(outcome)
            }
            Verdict::LogError(outcome, source) => Err(Error::LogFile {
                path: outcome.log_file.unwrap_or_default(),
                source,
            }),
            Verdict::Failed(failure) => Err(Error::Failed(failure)),
            Verdict::TimedOut(after, failure) => Err(Error::TimedOut { after, failure }),
            Verdict::Interrupted(failure) => Err(Error::Interrupted(failure)),
        }
    }
}

/// The available parallelism, or 1.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `path` made absolute against the current directory (make runs with `-C`, so a relative
/// `O=` would be taken relative to the source tree).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
