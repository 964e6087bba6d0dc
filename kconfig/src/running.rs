//! The running kernel's configuration: `/proc/config.gz` or `/boot/config-$(uname -r)`.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{Config, ReadError};
use crate::value::Prefix;

/// Which file the running configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunningSource {
    /// `/proc/config.gz` (the kernel was built with `CONFIG_IKCONFIG_PROC=y`).
    ProcConfigGz,
    /// `/boot/config-<release>`, installed with the kernel by the distribution.
    BootConfig,
}

/// The running kernel's configuration and where it was read.
#[derive(Debug, Clone)]
pub struct RunningConfig {
    /// The configuration.
    pub config: Config,
    /// The file used.
    pub path: PathBuf,
    /// What kind of file that is.
    pub source: RunningSource,
    /// The kernel release (`uname -r`), when it was known.
    pub release: Option<String>,
}

/// One place that was looked at and why it was not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The file.
    pub path: PathBuf,
    /// Why it was not used.
    pub problem: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

/// Finding the running configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunningError {
    /// No candidate file was usable.
    #[error(
        "cannot find the running kernel's configuration; tried:\n{}\n  \
         (load the `configs` module for /proc/config.gz, or install the distribution's kernel image \
         package, which ships /boot/config-<release>)",
        .tried.iter().map(|a| format!("  - {a}")).collect::<Vec<_>>().join("\n")
    )]
    NotFound {
        /// Every place that was tried, in order.
        tried: Vec<Attempt>,
    },
    /// A candidate file was found but is not a valid configuration.
    #[error("{path} is not a valid kernel configuration")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<ReadError>,
    },
}

/// Where to look for the running configuration. The defaults are the real system paths; tests and
/// containers inject others.
#[derive(Debug, Clone)]
pub struct RunningLocator {
    proc_config: PathBuf,
    boot_dir: PathBuf,
    osrelease: PathBuf,
    release: Option<String>,
    prefix: Prefix,
}

impl Default for RunningLocator {
    fn default() -> RunningLocator {
        RunningLocator {
            proc_config: PathBuf::from("/proc/config.gz"),
            boot_dir: PathBuf::from("/boot"),
            osrelease: PathBuf::from("/proc/sys/kernel/osrelease"),
            release: None,
            prefix: Prefix::kernel(),
        }
    }
}

impl RunningLocator {
    /// The real system paths.
    pub fn new() -> RunningLocator {
        RunningLocator::default()
    }

    /// Path of the gzip-compressed configuration (default `/proc/config.gz`).
    pub fn proc_config(mut self, path: impl Into<PathBuf>) -> RunningLocator {
        self.proc_config = path.into();
        self
    }

    /// Directory holding `config-<release>` (default `/boot`).
    pub fn boot_dir(mut self, path: impl Into<PathBuf>) -> RunningLocator {
        self.boot_dir = path.into();
        self
    }

    /// File holding the kernel release (default `/proc/sys/kernel/osrelease`).
    pub fn osrelease(mut self, path: impl Into<PathBuf>) -> RunningLocator {
        self.osrelease = path.into();
        self
    }

    /// Use this release instead of reading it.
    pub fn release(mut self, release: impl Into<String>) -> RunningLocator {
        self.release = Some(release.into());
        self
    }

    /// The symbol prefix (default `CONFIG_`).
    pub fn prefix(mut self, prefix: Prefix) -> RunningLocator {
        self.prefix = prefix;
        self
    }

    /// Find and read the configuration: `/proc/config.gz` first, then `/boot/config-<release>`.
    pub fn locate(&self) -> Result<RunningConfig, RunningError> {
        let mut tried = Vec::new();
        let release = self
            .release
            .clone()
            .or_else(|| self.read_release(&mut tried));
        match std::fs::File::open(&self.proc_config) {
            Ok(file) => {
                let mut bytes = Vec::new();
                match flate2::read::MultiGzDecoder::new(file).read_to_end(&mut bytes) {
                    Ok(_) => {
                        let config =
                            Config::from_bytes(bytes, self.prefix.clone(), &self.proc_config)
                                .map_err(|source| RunningError::Invalid {
                                    path: self.proc_config.clone(),
                                    source: Box::new(source),
                                })?;
                        tracing::info!(path = %self.proc_config.display(), "running kernel configuration");
                        return Ok(RunningConfig {
                            config,
                            path: self.proc_config.clone(),
                            source: RunningSource::ProcConfigGz,
                            release,
                        });
                    }
                    Err(e) => tried.push(Attempt {
                        path: self.proc_config.clone(),
                        problem: format!("not valid gzip data: {e}"),
                    }),
                }
            }
            Err(e) => tried.push(Attempt {
                path: self.proc_config.clone(),
                problem: describe_io(&e),
            }),
        }
        match &release {
            Some(release) => {
                let path = self.boot_dir.join(format!("config-{release}"));
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let config = Config::from_bytes(bytes, self.prefix.clone(), &path)
                            .map_err(|source| RunningError::Invalid {
                                path: path.clone(),
                                source: Box::new(source),
                            })?;
                        tracing::info!(path = %path.display(), "running kernel configuration");
                        return Ok(RunningConfig {
                            config,
                            path,
                            source: RunningSource::BootConfig,
                            release: Some(release.clone()),
                        });
                    }
                    Err(e) => tried.push(Attempt {
                        problem: describe_io(&e),
                        path,
                    }),
                }
            }
            None => tried.push(Attempt {
                path: self.boot_dir.join("config-<release>"),
                problem: "the kernel release is unknown".into(),
            }),
        }
        Err(RunningError::NotFound { tried })
    }

    fn read_release(&self, tried: &mut Vec<Attempt>) -> Option<String> {
        match std::fs::read_to_string(&self.osrelease) {
            Ok(text) if !text.trim().is_empty() => return Some(text.trim().to_string()),
            Ok(_) => tried.push(Attempt {
                path: self.osrelease.clone(),
                problem: "empty".into(),
            }),
            Err(e) => tried.push(Attempt {
                path: self.osrelease.clone(),
                problem: describe_io(&e),
            }),
        }
        let mut uname = std::process::Command::new("uname");
        uname.arg("-r");
        let run = kforge_process::Options::new().timeout(std::time::Duration::from_secs(30));
        match kforge_process::run(&mut uname, &run) {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
                (!text.is_empty()).then_some(text)
            }
            Ok(out) => {
                tried.push(Attempt {
                    path: PathBuf::from("uname -r"),
                    problem: format!("exited with {}", out.status),
                });
                None
            }
            Err(e) => {
                let problem = match &e {
                    kforge_process::Error::Spawn { source, .. } => describe_io(source),
                    other => other.to_string(),
                };
                tried.push(Attempt {
                    path: PathBuf::from("uname -r"),
                    problem,
                });
                None
            }
        }
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl Config {
    /// The running kernel's configuration from `/proc/config.gz` or `/boot/config-$(uname -r)`.
    /// The result says which file was used; the error lists what was tried. Use
    /// [`RunningLocator`] to look elsewhere.
    pub fn running() -> Result<RunningConfig, RunningError> {
        RunningLocator::new().locate()
    }
}
