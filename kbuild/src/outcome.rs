//! What a finished invocation reports: [`Outcome`] on success, [`Failure`] inside the error
//! otherwise. Both serialize (for a script or a build's `build.json`).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal number.
    Signaled(i32),
    /// The status could not be collected (another part of the program reaped the child).
    Unknown,
}

impl Status {
    pub(crate) fn from_std(status: std::process::ExitStatus) -> Status {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(signal)) => Status::Signaled(signal),
            (None, None) => Status::Unknown,
        }
    }

    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exit status {code}"),
            Status::Signaled(signal) => write!(f, "signal {signal}"),
            Status::Unknown => f.write_str("unknown status"),
        }
    }
}

/// One change a run made to the environment it inherited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvChange {
    /// The variable.
    pub key: String,
    /// Its value, or `None` when the variable was removed.
    pub value: Option<String>,
}

impl EnvChange {
    pub(crate) fn list(env: &[(OsString, Option<OsString>)]) -> Vec<EnvChange> {
        env.iter()
            .map(|(k, v)| EnvChange {
                key: k.to_string_lossy().into_owned(),
                value: v.as_ref().map(|v| v.to_string_lossy().into_owned()),
            })
            .collect()
    }
}

/// What ran, as the supervisor started it: enough to run it again by hand.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub command: Vec<String>,
    pub targets: Vec<String>,
    pub env: Vec<EnvChange>,
    pub dir: PathBuf,
    pub default_answers: bool,
}

/// A successful invocation of make or `./configure`.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The command line that ran (program first), lossily converted to UTF-8.
    pub command: Vec<String>,
    /// The environment changes it ran with, in order (reproducible mode's `KBUILD_BUILD_*`,
    /// a compiler wrapper's settings, `LC_ALL=C`): the inherited environment plus these is
    /// what the process saw.
    pub env: Vec<EnvChange>,
    /// The working directory it ran in.
    pub dir: PathBuf,
    /// Whether its standard input was a stream of newlines (every prompt answered by its
    /// default, as `yes "" | make` does: [`crate::Make::answer_prompts_with_defaults`]).
    pub default_answers: bool,
    /// The make targets asked for (empty for `./configure`).
    pub targets: Vec<String>,
    /// How it ended (always `Exited(0)` in an `Ok`).
    pub status: Status,
    /// Wall-clock time from spawn to the end of its output.
    pub duration: Duration,
    /// The log file holding the full output, if one was asked for.
    pub log_file: Option<PathBuf>,
    /// Output lines seen (both streams).
    pub lines: u64,
    /// Warning lines seen (see [`crate::LineKind::Warning`]).
    pub warnings: u64,
    /// Error lines seen (see [`crate::LineKind::Error`]); can be non-zero on success when a
    /// failing command was ignored by the Makefile (`-cmd`) or by `-k`.
    pub errors: u64,
    /// Standard output lines, when capture was asked for; otherwise empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stdout: Vec<String>,
    /// The compiler cache's or distributed compiler's counters over this run, when asked for
    /// ([`crate::Make::cache_stats`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::cache::CacheReport>,
    /// Why the counters could not be read, when they were asked for and could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_error: Option<String>,
}

/// Why and how an invocation failed: everything needed to understand it without opening the log.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The command line that ran (program first).
    pub command: Vec<String>,
    /// The environment changes it ran with, in order.
    pub env: Vec<EnvChange>,
    /// The working directory it ran in.
    pub dir: PathBuf,
    /// Whether its standard input was a stream of newlines (every prompt answered by its
    /// default, as `yes "" | make` does: [`crate::Make::answer_prompts_with_defaults`]).
    pub default_answers: bool,
    /// The make targets asked for (empty for `./configure`).
    pub targets: Vec<String>,
    /// How the process ended.
    pub status: Status,
    /// Wall-clock time until it ended.
    pub duration: Duration,
    /// The first real cause, found in the output as a person reading the log would (see
    /// [`crate::cause`]): what kind, where, which tool, which target, the failing recipe's own
    /// lines and, for a tool of another era, what to install or pass. `None` when the output
    /// states no recognisable cause.
    pub cause: Option<crate::cause::Cause>,
    /// The first compiler (or configure) error lines with a few lines of context around each;
    /// separate blocks are divided by a `...` line.
    pub compiler_errors: Vec<String>,
    /// make's own `***` lines, innermost first as make prints them
    /// (`make[2]: *** [scripts/Makefile.build:250: a.o] Error 1`, …, `make: *** [...] Error 2`).
    pub make_errors: Vec<String>,
    /// The last lines of output (shown when there is no compiler error to show).
    pub last_lines: Vec<String>,
    /// The log file holding the full output, if one was asked for.
    pub log_file: Option<PathBuf>,
    /// Warning lines seen.
    pub warnings: u64,
    /// Error lines seen.
    pub errors: u64,
}

impl Failure {
    /// The command line as one shell-like string.
    pub fn command_line(&self) -> String {
        join_command(&self.command)
    }
}

/// Join a command line for display, each word quoted for a POSIX shell (`shlex`).
pub(crate) fn join_command(command: &[String]) -> String {
    command
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| format!("{w:?}"), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            write!(f, "`{}`", self.command_line())?;
            if !self.targets.is_empty() {
                write!(f, " (targets: {})", self.targets.join(" "))?;
            }
            write!(
                f,
                " failed with {} after {:.1}s",
                self.status,
                self.duration.as_secs_f64()
            )
        };
        match &self.cause {
            // The cause first, as a person reading the log would put it.
            Some(cause) => {
                f.write_str(&cause.headline())?;
                for line in &cause.excerpt {
                    write!(f, "\n  {line}")?;
                }
                if let Some(hint) = &cause.hint {
                    write!(f, "\nhint: {hint}")?;
                }
            }
            None => {
                header(f)?;
                if !self.compiler_errors.is_empty() {
                    write!(f, "\nfirst errors ({} error lines in all):", self.errors)?;
                    for line in &self.compiler_errors {
                        write!(f, "\n  {line}")?;
                    }
                } else if !self.last_lines.is_empty() {
                    f.write_str("\nlast output lines:")?;
                    for line in &self.last_lines {
                        write!(f, "\n  {line}")?;
                    }
                }
            }
        }
        if !self.make_errors.is_empty() {
            f.write_str("\nmake reported:")?;
            for line in &self.make_errors {
                write!(f, "\n  {line}")?;
            }
        }
        if self.cause.is_some() {
            f.write_str("\ncommand: ")?;
            header(f)?;
        }
        match &self.log_file {
            Some(path) => write!(f, "\nfull log: {}", path.display()),
            None => f.write_str("\nno log file was kept (set a log file to keep the full output)"),
        }
    }
}

/// How a supervised run ended, in terms the operation errors use.
pub(crate) enum Verdict {
    Success(Outcome),
    Failed(Box<Failure>),
    TimedOut(Duration, Box<Failure>),
    Interrupted(Box<Failure>),
    /// The run succeeded but its log could not be written.
    LogError(Outcome, std::io::Error),
}

/// Turn a finished process into an outcome or a failure report.
pub(crate) fn judge(finished: crate::process::Finished, invocation: Invocation) -> Verdict {
    let Invocation {
        command,
        targets,
        env,
        dir,
        default_answers,
    } = invocation;
    use crate::process::Ending;
    let c = finished.collected;
    if finished.ending == Ending::Exited && finished.status.success() {
        let outcome = Outcome {
            command,
            env,
            dir,
            default_answers,
            targets,
            status: finished.status,
            duration: finished.duration,
            log_file: finished.log_file,
            lines: c.lines,
            warnings: c.warnings,
            errors: c.errors,
            stdout: c.captured,
            cache: None,
            cache_error: None,
        };
        return match finished.log_error {
            Some(err) => Verdict::LogError(outcome, err),
            None => Verdict::Success(outcome),
        };
    }
    let failure = Box::new(Failure {
        command,
        env,
        dir,
        default_answers,
        targets,
        status: finished.status,
        duration: finished.duration,
        cause: crate::cause::first_cause(c.detectors),
        compiler_errors: c.excerpt,
        make_errors: c.make_errors,
        last_lines: c
            .tail
            .iter()
            .map(|l| crate::output::report_line(l))
            .collect(),
        log_file: finished.log_file,
        warnings: c.warnings,
        errors: c.errors,
    });
    match finished.ending {
        Ending::Exited => Verdict::Failed(failure),
        Ending::TimedOut(after) => Verdict::TimedOut(after, failure),
        Ending::Interrupted => Verdict::Interrupted(failure),
    }
}
