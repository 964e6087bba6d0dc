//! [`Configure`]: an autotools-style `./configure` with arbitrary arguments (QEMU's and KVM's
//! `--kerneldir=…`, `--qemu-cc=…`, `--prefix=…`), under the same supervision as [`crate::Make`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::make::{DEFAULT_KILL_GRACE, absolute};
use crate::outcome::{EnvChange, Failure, Invocation, Outcome, Verdict, join_command, judge};
use crate::output::{Line, LineCallback};
use crate::process::{self, Input, SpawnError, Spec};

/// Errors of [`Configure::run`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no configure script.
    #[error(
        "no configure script at {path}; Configure::new takes the source directory holding it (for autotools projects without one, run `autoreconf -i` there first)"
    )]
    ScriptMissing {
        /// The expected script.
        path: PathBuf,
    },
    /// The script exists but cannot be executed.
    #[error(
        "{path} is not executable (mode {mode:o}); make it so with `chmod +x {}` (archives unpacked without their modes lose it)",
        path.display()
    )]
    NotExecutable {
        /// The script.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory to run in could not be created.
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
    /// The script could not be started (e.g. a bad `#!` interpreter line).
    #[error("cannot run {path} (check its #! line names an installed interpreter)")]
    Spawn {
        /// The script.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// configure ran and failed.
    #[error("configure failed: {0}")]
    Failed(Box<Failure>),
    /// The timeout expired; the whole process group was killed.
    #[error(
        "configure timed out after {:.1}s; its whole process group was stopped. {failure}",
        after.as_secs_f64()
    )]
    TimedOut {
        /// The timeout.
        after: Duration,
        /// What was seen until then.
        failure: Box<Failure>,
    },
    /// The interrupt flag was raised; the whole process group was killed.
    #[error("configure was interrupted; its whole process group was stopped. {0}")]
    Interrupted(Box<Failure>),
}

impl Error {
    /// The failure report, for errors that happened after the script started.
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

/// An autotools-style `./configure` run.
///
/// The script is `<dir>/configure` (see [`Configure::script`]); it runs in `dir`, or in
/// [`Configure::build_dir`] for out-of-tree configurations (`mkdir build; cd build;
/// ../configure`). stdin is `/dev/null`; output is streamed like [`crate::Make`]'s.
///
/// ```no_run
/// # fn main() -> Result<(), kforge_kbuild::configure::Error> {
/// use kforge_kbuild::Configure;
/// Configure::new("/src/kvm-userspace")
///     .arg("--kerneldir=/usr/src/linux")
///     .arg("--prefix=/usr/local")
///     .log_file("/tmp/configure.log")
///     .run()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Configure {
    dir: PathBuf,
    script: PathBuf,
    build_dir: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    log_file: Option<PathBuf>,
    timeout: Option<Duration>,
    interrupt: Option<Arc<AtomicBool>>,
    on_line: Option<LineCallback>,
    kill_grace: Duration,
}

impl std::fmt::Debug for Configure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configure")
            .field("dir", &self.dir)
            .field("script", &self.script)
            .field("build_dir", &self.build_dir)
            .field("args", &self.args)
            .field("env", &self.env)
            .field("log_file", &self.log_file)
            .finish_non_exhaustive()
    }
}

impl Configure {
    /// `./configure` in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Configure {
        Configure {
            dir: dir.into(),
            script: PathBuf::from("configure"),
            build_dir: None,
            args: Vec::new(),
            env: Vec::new(),
            log_file: None,
            timeout: None,
            interrupt: None,
            on_line: None,
            kill_grace: DEFAULT_KILL_GRACE,
        }
    }

    /// The script, relative to the source directory (default `configure`).
    pub fn script(&mut self, script: impl Into<PathBuf>) -> &mut Configure {
        self.script = script.into();
        self
    }

    /// Run the script from this directory instead (out-of-tree configuration; created if
    /// missing).
    pub fn build_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Configure {
        self.build_dir = Some(dir.into());
        self
    }

    /// An argument (e.g. `--prefix=/usr/local`).
    pub fn arg(&mut self, arg: impl Into<OsString>) -> &mut Configure {
        self.args.push(arg.into());
        self
    }

    /// Several arguments, e.g. a toolchain's configure arguments.
    pub fn args<I, A>(&mut self, args: I) -> &mut Configure
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable (e.g. `CC=gcc-12`).
    pub fn env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Configure {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    /// Several environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Configure
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Write the full output to this file.
    pub fn log_file(&mut self, path: impl Into<PathBuf>) -> &mut Configure {
        self.log_file = Some(path.into());
        self
    }

    /// Stop the whole process group if the script runs longer than this.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Configure {
        self.timeout = Some(timeout);
        self
    }

    /// Stop the whole process group when this flag becomes true.
    pub fn interrupt(&mut self, flag: Arc<AtomicBool>) -> &mut Configure {
        self.interrupt = Some(flag);
        self
    }

    /// Call `f` for every output line.
    pub fn on_line<F>(&mut self, f: F) -> &mut Configure
    where
        F: Fn(&Line<'_>) + Send + Sync + 'static,
    {
        self.on_line = Some(Arc::new(f));
        self
    }

    /// Time between SIGTERM and SIGKILL when the process group is stopped.
    pub fn kill_grace(&mut self, grace: Duration) -> &mut Configure {
        self.kill_grace = grace;
        self
    }

    /// The script's absolute path.
    pub fn script_path(&self) -> PathBuf {
        absolute(&self.dir.join(&self.script))
    }

    fn check_script(&self) -> Result<PathBuf, Error> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.script_path();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            _ => return Err(Error::ScriptMissing { path }),
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o111 == 0 {
            return Err(Error::NotExecutable { path, mode });
        }
        Ok(path)
    }

    /// Run the script to the end.
    pub fn run(&self) -> Result<Outcome, Error> {
        let script = self.check_script()?;
        let cwd = absolute(self.build_dir.as_deref().unwrap_or(&self.dir));
        std::fs::create_dir_all(&cwd).map_err(|source| Error::BuildDir {
            path: cwd.clone(),
            source,
        })?;
        let mut command: Vec<String> = vec![script.to_string_lossy().into_owned()];
        command.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        let span = tracing::info_span!("configure", dir = %cwd.display());
        tracing::info!(parent: &span, command = %join_command(&command), "running");
        let spec = Spec {
            program: script.clone().into_os_string(),
            args: self.args.clone(),
            cwd: Some(cwd.clone()),
            env: self.env.clone(),
            input: Input::Closed,
            log_file: self.log_file.clone(),
            log_header: format!("$ cd {} && {}", cwd.display(), join_command(&command)),
            timeout: self.timeout,
            interrupt: self.interrupt.clone(),
            on_line: self.on_line.clone(),
            capture_stdout: false,
            kill_grace: self.kill_grace,
            span,
        };
        let running = process::spawn(spec).map_err(|err| match err {
            SpawnError::Log(path, source) => Error::LogFile { path, source },
            SpawnError::Spawn(source) => Error::Spawn {
                path: script.clone(),
                source,
            },
        })?;
        let invocation = Invocation {
            command,
            targets: Vec::new(),
            env: EnvChange::list(&self.env),
            dir: cwd.clone(),
            default_answers: false,
        };
        match judge(running.wait(), invocation) {
            Verdict::Success(outcome) => Ok(outcome),
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

impl Configure {
    /// The directory the script runs in.
    pub fn run_dir(&self) -> &Path {
        self.build_dir.as_deref().unwrap_or(&self.dir)
    }
}
