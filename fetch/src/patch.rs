//! Patches applied to a fetched tree before it is published: a list of files or a quilt
//! `series` file (as Debian's `debian/patches/series`), in order, with `patch -pN`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use crate::command::{self, RunError};
use crate::progress::{self, Phase, ProgressFn};

/// Why patching failed. The tree is not published, so no half-patched tree is left under the
/// destination name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `patch` command is missing.
    #[error("the `patch` command was not found; install it: `apt-get install patch`")]
    NotInstalled {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A series file could not be read.
    #[error("{path}")]
    Series {
        /// The series file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A series line has an option that is not understood.
    #[error("{path}:{line}: unsupported option {option:?} (only -pN is understood)")]
    SeriesOption {
        /// The series file.
        path: PathBuf,
        /// Line number (1-based).
        line: usize,
        /// The option.
        option: String,
    },
    /// A patch does not apply.
    #[error("patch {patch} (-p{strip}) does not apply:\n{output}{}", if rejected.is_empty() { String::new() } else { format!("\nrejected hunk(s):\n{rejected}") })]
    DoesNotApply {
        /// The patch file.
        patch: PathBuf,
        /// The `-p` level.
        strip: u32,
        /// What `patch` printed (names the failed hunks).
        output: String,
        /// The rejected hunks.
        rejected: String,
    },
    /// The interrupt flag was raised.
    #[error("patching interrupted")]
    Interrupted,
}

/// One patch file and its `-p` level.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PatchFile {
    /// The patch file.
    pub path: PathBuf,
    /// Leading components stripped from the file names in the patch (`patch -pN`).
    pub strip: u32,
}

/// Patches applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PatchSet {
    patches: Vec<PatchFile>,
}

impl PatchSet {
    /// No patches.
    pub fn new() -> PatchSet {
        PatchSet::default()
    }

    /// Append one patch.
    pub fn patch(mut self, path: impl Into<PathBuf>, strip: u32) -> PatchSet {
        self.patches.push(PatchFile {
            path: path.into(),
            strip,
        });
        self
    }

    /// Read a quilt `series` file: one patch per line, relative to the series file's directory,
    /// optionally followed by `-pN` (default `default_strip`, quilt's is 1); `#` starts a comment.
    pub fn from_series(series: &Path, default_strip: u32) -> Result<PatchSet, Error> {
        let text = std::fs::read_to_string(series).map_err(|source| Error::Series {
            path: series.to_owned(),
            source,
        })?;
        PatchSet::parse_series(&text, series, default_strip)
    }

    /// Parse the text of a quilt `series` file read from `series` (the patches are named
    /// relative to its directory; it also names the file in errors), as [`PatchSet::from_series`].
    ///
    /// ```
    /// use std::path::Path;
    /// let set = kforge_fetch::PatchSet::parse_series(
    ///     "# fixes\nfix-build.patch\nold.diff -p0\n",
    ///     Path::new("debian/patches/series"),
    ///     1,
    /// )?;
    /// assert_eq!(set.patches()[1].path, Path::new("debian/patches/old.diff"));
    /// assert_eq!(set.patches()[1].strip, 0);
    /// # Ok::<(), kforge_fetch::patch::Error>(())
    /// ```
    pub fn parse_series(text: &str, series: &Path, default_strip: u32) -> Result<PatchSet, Error> {
        let dir = series.parent().unwrap_or(Path::new("."));
        let mut set = PatchSet::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split_once('#').map_or(line, |(before, _)| before);
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else {
                continue;
            };
            let mut strip = default_strip;
            for option in words {
                match option.strip_prefix("-p").and_then(|n| n.parse().ok()) {
                    Some(n) => strip = n,
                    None => {
                        return Err(Error::SeriesOption {
                            path: series.to_owned(),
                            line: index + 1,
                            option: option.to_owned(),
                        });
                    }
                }
            }
            set.patches.push(PatchFile {
                path: dir.join(name),
                strip,
            });
        }
        Ok(set)
    }

    /// The patches, in order.
    pub fn patches(&self) -> &[PatchFile] {
        &self.patches
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    /// Apply every patch to `tree`, in order; stops at the first that does not apply.
    /// Returns the names of the patches applied.
    pub fn apply(
        &self,
        tree: &Path,
        progress: Option<&ProgressFn>,
        should_interrupt: &AtomicBool,
    ) -> Result<Vec<String>, Error> {
        let mut applied = Vec::new();
        for (index, patch) in self.patches.iter().enumerate() {
            let _span = tracing::info_span!("patch", patch = %patch.path.display()).entered();
            progress::report(
                progress,
                &patch.path.to_string_lossy(),
                Phase::Patch,
                index as u64,
                Some(self.patches.len() as u64),
            );
            apply_one(tree, patch, should_interrupt)?;
            applied.push(patch.path.display().to_string());
        }
        Ok(applied)
    }
}

fn apply_one(tree: &Path, patch: &PatchFile, should_interrupt: &AtomicBool) -> Result<(), Error> {
    let absolute = std::path::absolute(&patch.path).unwrap_or_else(|_| patch.path.clone());
    let rejects = tempfile_path();
    let mut command = Command::new("patch");
    command
        .arg(format!("-p{}", patch.strip))
        .args(["--batch", "--forward", "--no-backup-if-mismatch"])
        .arg(format!("--reject-file={}", rejects.display()))
        .arg("-d")
        .arg(tree)
        .arg("-i")
        .arg(&absolute)
        .env("LC_ALL", "C");
    let result = command::run(&mut command, should_interrupt);
    let rejected = std::fs::read_to_string(&rejects).unwrap_or_default();
    let _ = std::fs::remove_file(&rejects);
    let output = match result {
        Ok(output) => output,
        Err(RunError::Spawn(source)) => return Err(Error::NotInstalled { source }),
        Err(RunError::Wait(source)) => {
            return Err(Error::DoesNotApply {
                patch: patch.path.clone(),
                strip: patch.strip,
                output: source.to_string(),
                rejected,
            });
        }
        Err(RunError::Interrupted) => return Err(Error::Interrupted),
    };
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(Error::DoesNotApply {
        patch: patch.path.clone(),
        strip: patch.strip,
        output: text.trim_end().to_owned(),
        rejected,
    })
}

fn tempfile_path() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "kforge-patch-{}-{}.rej",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}
