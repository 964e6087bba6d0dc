//! [`BuildDir`]: an out-of-tree (`O=`) build directory and its `.config`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, ReadError};

/// An out-of-tree build directory (the kernel's `O=`).
#[derive(Debug, Clone)]
pub struct BuildDir {
    path: PathBuf,
}

/// What [`BuildDir::install_config`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// The `.config` written.
    pub path: PathBuf,
    /// Where the previous `.config` was kept, if there was one and it differed.
    pub previous: Option<PathBuf>,
    /// The file already had exactly these bytes; nothing was written (its mtime is untouched,
    /// so make does not rebuild).
    pub unchanged: bool,
}

/// Installing a `.config` failed; the build directory's previous `.config` is intact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The build directory could not be created.
    #[error("cannot create build directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The previous `.config` could not be kept as `.config.old`.
    #[error("cannot keep the previous {path} as .config.old")]
    KeepOld {
        /// The previous `.config`.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Writing the new `.config` failed.
    #[error("cannot write {path}")]
    Write {
        /// The `.config`.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl BuildDir {
    /// A build directory (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> BuildDir {
        BuildDir { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `O/.config`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join(".config")
    }

    /// Read `O/.config`.
    pub fn read_config(&self) -> Result<Config, ReadError> {
        Config::read(self.config_path())
    }

    /// Write `O/.config` atomically; a different previous `.config` is kept as `.config.old`
    /// (as the kernel's `conf` does). At every moment `O/.config` is either the old or the new
    /// file, never missing or partial.
    pub fn install_config(&self, config: &Config) -> Result<Installed, InstallError> {
        let target = self.config_path();
        let bytes = config.to_string().into_bytes();
        fs::create_dir_all(&self.path).map_err(|source| InstallError::CreateDir {
            path: self.path.clone(),
            source,
        })?;
        let mut previous = None;
        match fs::read(&target) {
            Ok(old) if old == bytes => {
                tracing::debug!(path = %target.display(), "unchanged");
                return Ok(Installed {
                    path: target,
                    previous: None,
                    unchanged: true,
                });
            }
            Ok(_) => {
                let old_path = self.path.join(".config.old");
                keep_old(&target, &old_path).map_err(|source| InstallError::KeepOld {
                    path: target.clone(),
                    source,
                })?;
                previous = Some(old_path);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(InstallError::KeepOld {
                    path: target,
                    source,
                });
            }
        }
        crate::atomic::write_atomic(&target, &bytes).map_err(|source| InstallError::Write {
            path: target.clone(),
            source,
        })?;
        tracing::info!(path = %target.display(), kept = ?previous, "installed .config");
        Ok(Installed {
            path: target,
            previous,
            unchanged: false,
        })
    }
}

/// Make `old_path` a copy of `current` without ever removing `current`: hard link (or copy) to a
/// temp name, then rename over `.config.old`.
fn keep_old(current: &Path, old_path: &Path) -> io::Result<()> {
    let dir = old_path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".config.old.tmp{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(current, &tmp).is_err() {
        let bytes = fs::read(current)?;
        crate::atomic::write_atomic(&tmp, &bytes)?;
    }
    fs::rename(&tmp, old_path)
}
