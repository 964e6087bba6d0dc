//! A temporary directory beside a destination, renamed onto it only when complete.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory that is removed on drop unless [`StagingDir::publish`] renamed it.
#[derive(Debug)]
pub(crate) struct StagingDir {
    path: PathBuf,
    dest: PathBuf,
    published: bool,
}

/// Why a staging directory could not be created or published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StagingError {
    /// The destination already exists; nothing was touched.
    #[error(
        "destination {path} already exists; remove it or choose another directory (nothing is overwritten)"
    )]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("{path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl StagingDir {
    /// Create `.NAME.kforge-PID-N` in the parent of `dest` (creating the parent if needed).
    pub(crate) fn beside(dest: &Path) -> Result<StagingDir, StagingError> {
        if fs::symlink_metadata(dest).is_ok() {
            return Err(StagingError::DestinationExists {
                path: dest.to_owned(),
            });
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|source| StagingError::Io {
            path: parent.clone(),
            source,
        })?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tree".to_owned());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(".{name}.kforge-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(StagingDir {
                        path,
                        dest: dest.to_owned(),
                        published: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(StagingError::Io { path, source }),
            }
        }
    }

    /// The temporary directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Rename the temporary directory onto the destination, which must not exist.
    pub(crate) fn publish(mut self) -> Result<PathBuf, StagingError> {
        if fs::symlink_metadata(&self.dest).is_ok() {
            return Err(StagingError::DestinationExists {
                path: self.dest.clone(),
            });
        }
        fs::rename(&self.path, &self.dest).map_err(|source| StagingError::Io {
            path: self.dest.clone(),
            source,
        })?;
        self.published = true;
        Ok(self.dest.clone())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.published {
            // remove_dir_all does not follow symlinks.
            if let Err(e) = fs::remove_dir_all(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove temporary directory");
            }
        }
    }
}

impl StagingDir {
    /// Empty the temporary directory again (for a fresh attempt).
    pub(crate) fn reset(&self) -> Result<(), StagingError> {
        let io = |source| StagingError::Io {
            path: self.path.clone(),
            source,
        };
        fs::remove_dir_all(&self.path).map_err(io)?;
        fs::create_dir(&self.path).map_err(io)
    }
}
