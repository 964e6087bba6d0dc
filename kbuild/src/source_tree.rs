//! [`SourceTree`]: a kernel source tree, its version, and whether an out-of-tree (`O=`) build
//! will accept it.
//!
//! When building with `O=`, the kernel's top Makefile refuses a source tree that was configured
//! or built in place. The exact condition depends on the version:
//!
//! * Linux 5.3 and later (`outputmakefile` in 6.x, `prepare3` in 5.3):
//!   `[ -f $(srctree)/.config -o -d $(srctree)/include/config -o -d $(srctree)/arch/$(SRCARCH)/include/generated ]`
//!   and, from 5.4, the message `*** The source tree is not clean, please run 'make mrproper'`.
//! * Linux 2.6 to 5.2 (`prepare3`): `[ -f $(srctree)/.config -o -d $(srctree)/include/config ]`,
//!   message `$(srctree) is not clean, please run 'make mrproper'`.
//!
//! The rule is read from the tree's own Makefile when it spells one of these tests out, and
//! inferred from the tree's [`KernelVersion`] otherwise.
//!
//! The test is the top Makefile's (`prepare3`/`outputmakefile`), so it belongs to the build
//! step. The `ARCH` to `SRCARCH` mapping is not repeated here: the caller passes the `SRCARCH`
//! (for instance from the Kconfig step, which needs the same mapping for its environment).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::kernel::KernelVersion;

/// Which test the tree's Makefile applies before an `O=` build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanRule {
    /// 5.3+: `.config`, `include/config/`, `arch/$(SRCARCH)/include/generated/`.
    WithArchGenerated,
    /// 2.6 to 5.2: `.config`, `include/config/`.
    ConfigOnly,
}

/// How the rule was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// The tree's top Makefile spells the test out.
    Makefile,
    /// Inferred from the version (the Makefile's test was not recognised).
    Version,
}

/// The result of [`SourceTree::check_clean`].
#[derive(Debug, Clone, Serialize)]
pub struct CleanCheck {
    /// The tree.
    pub tree: PathBuf,
    /// Its version.
    pub version: KernelVersion,
    /// The rule applied.
    pub rule: CleanRule,
    /// How the rule was determined.
    pub rule_source: RuleSource,
    /// The `SRCARCH` checked (for [`CleanRule::WithArchGenerated`]).
    pub srcarch: String,
    /// Every path the kernel's test looks at.
    pub checked: Vec<PathBuf>,
    /// The paths that make the tree unclean (absolute).
    pub offending: Vec<PathBuf>,
    /// What `make O=…` will print, in the kernel's own wording; `None` when clean.
    pub message: Option<String>,
}

impl CleanCheck {
    /// Whether an `O=` build will accept the tree.
    pub fn is_clean(&self) -> bool {
        self.offending.is_empty()
    }
}

impl fmt::Display for CleanCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = match self.rule {
            CleanRule::WithArchGenerated => format!(
                ".config, include/config/, arch/{}/include/generated/",
                self.srcarch
            ),
            CleanRule::ConfigOnly => ".config, include/config/".to_string(),
        };
        let how = match self.rule_source {
            RuleSource::Makefile => "the rule of its Makefile",
            RuleSource::Version => "the rule of its version",
        };
        if self.is_clean() {
            return writeln!(
                f,
                "{} (Linux {}) is clean for out-of-tree builds ({how}: {rule})",
                self.tree.display(),
                self.version
            );
        }
        writeln!(
            f,
            "{} (Linux {}) is not clean for out-of-tree builds ({how}: {rule}); found:",
            self.tree.display(),
            self.version
        )?;
        for path in &self.offending {
            writeln!(f, "  {}", path.display())?;
        }
        if let Some(message) = &self.message {
            writeln!(f, "make O=… will stop with:")?;
            for line in message.lines() {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(
            f,
            "fix without losing the .config: kforge tree clean {} --build-dir <O>",
            self.tree.display()
        )
    }
}

/// Opening a source tree failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The top Makefile could not be read.
    #[error("cannot read the top Makefile {path}; is this directory a kernel source tree?")]
    NoMakefile {
        /// The Makefile path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The Makefile has no `VERSION`/`PATCHLEVEL`.
    #[error(
        "{path} has no `VERSION = ` and `PATCHLEVEL = ` lines; is it a Linux top-level Makefile?"
    )]
    NoVersion {
        /// The Makefile path.
        path: PathBuf,
    },
}

/// Cleaning a tree for out-of-tree builds failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CleanError {
    /// The build directory is the source tree itself.
    #[error("the build directory {0} is the source tree itself; choose a separate O= directory")]
    BuildDirIsTree(PathBuf),
    /// A file operation failed; the plan stopped at this step (earlier steps are done).
    #[error("{action} failed")]
    Io {
        /// The step that failed.
        action: String,
        /// The cause.
        source: io::Error,
    },
}

/// One step of a [`CleanPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CleanAction {
    /// Create the build directory.
    CreateBuildDir {
        /// The directory.
        path: PathBuf,
    },
    /// Move the tree's `.config` into the build directory, which has none.
    MoveConfigToBuildDir {
        /// The tree's `.config`.
        from: PathBuf,
        /// The build directory's `.config`.
        to: PathBuf,
    },
    /// The build directory has its own `.config`: keep the tree's beside it under a
    /// timestamped name.
    MoveConfigAside {
        /// The tree's `.config`.
        from: PathBuf,
        /// The new name in the build directory.
        to: PathBuf,
    },
    /// Remove a directory that `make` generated (`include/config/`,
    /// `arch/*/include/generated/`); it never holds user data.
    RemoveGeneratedDir {
        /// The directory.
        path: PathBuf,
    },
}

impl fmt::Display for CleanAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanAction::CreateBuildDir { path } => {
                write!(f, "create build directory {}", path.display())
            }
            CleanAction::MoveConfigToBuildDir { from, to } => {
                write!(f, "move {} to {}", from.display(), to.display())
            }
            CleanAction::MoveConfigAside { from, to } => write!(
                f,
                "move {} aside to {} (the build directory already has a .config)",
                from.display(),
                to.display()
            ),
            CleanAction::RemoveGeneratedDir { path } => {
                write!(f, "remove generated directory {}", path.display())
            }
        }
    }
}

/// What [`SourceTree::make_clean_for_out_of_tree`] does (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct CleanPlan {
    /// The source tree.
    pub tree: PathBuf,
    /// The build directory.
    pub build_dir: PathBuf,
    /// The steps, in order.
    pub actions: Vec<CleanAction>,
    /// Whether the steps were carried out.
    pub applied: bool,
}

impl CleanPlan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Carry the steps out, in order. Moves never overwrite an existing file.
    pub fn apply(&mut self) -> Result<(), CleanError> {
        for action in &self.actions {
            let _span = tracing::info_span!("clean", %action).entered();
            let io = |source| CleanError::Io {
                action: action.to_string(),
                source,
            };
            match action {
                CleanAction::CreateBuildDir { path } => fs::create_dir_all(path).map_err(io)?,
                CleanAction::MoveConfigToBuildDir { from, to }
                | CleanAction::MoveConfigAside { from, to } => {
                    if fs::symlink_metadata(to).is_ok() {
                        return Err(io(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!(
                                "{} appeared since the plan was made; nothing was overwritten",
                                to.display()
                            ),
                        )));
                    }
                    move_file(from, to).map_err(io)?;
                }
                CleanAction::RemoveGeneratedDir { path } => {
                    let meta = fs::symlink_metadata(path).map_err(io)?;
                    if meta.file_type().is_symlink() {
                        fs::remove_file(path).map_err(io)?;
                    } else {
                        fs::remove_dir_all(path).map_err(io)?;
                    }
                }
            }
            tracing::info!("done");
        }
        self.applied = true;
        Ok(())
    }
}

impl fmt::Display for CleanPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.actions.is_empty() {
            return writeln!(
                f,
                "{} is already clean for out-of-tree builds",
                self.tree.display()
            );
        }
        let verb = if self.applied {
            "done"
        } else {
            "plan (dry run)"
        };
        writeln!(
            f,
            "{verb}: make {} clean for O={}",
            self.tree.display(),
            self.build_dir.display()
        )?;
        for (i, action) in self.actions.iter().enumerate() {
            writeln!(f, "  {}. {action}", i + 1)?;
        }
        Ok(())
    }
}

/// A kernel source tree.
#[derive(Debug, Clone)]
pub struct SourceTree {
    root: PathBuf,
    version: KernelVersion,
    makefile: String,
}

impl SourceTree {
    /// Open a tree: read its top Makefile and version.
    pub fn open(root: impl AsRef<Path>) -> Result<SourceTree, OpenError> {
        let root = root.as_ref();
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let path = root.join("Makefile");
        let makefile = fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|source| OpenError::NoMakefile {
                path: path.clone(),
                source,
            })?;
        let version =
            KernelVersion::parse_makefile(&makefile).map_err(|_| OpenError::NoVersion { path })?;
        Ok(SourceTree {
            root,
            version,
            makefile,
        })
    }

    /// The tree's root directory (absolute when it could be resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The version from the top Makefile.
    pub fn version(&self) -> &KernelVersion {
        &self.version
    }

    /// The rule this tree's Makefile applies, and how it was determined.
    pub fn clean_rule(&self) -> (CleanRule, RuleSource) {
        let mk = &self.makefile;
        if mk.contains("$(srctree)/arch/$(SRCARCH)/include/generated") {
            (CleanRule::WithArchGenerated, RuleSource::Makefile)
        } else if mk.contains("-d $(srctree)/include/config") {
            (CleanRule::ConfigOnly, RuleSource::Makefile)
        } else if self.version.at_least(5, 3, 0) {
            (CleanRule::WithArchGenerated, RuleSource::Version)
        } else {
            (CleanRule::ConfigOnly, RuleSource::Version)
        }
    }

    /// Check the tree the way its top Makefile does before an `O=` build. `arch` is the `ARCH`
    /// given to make (`None`: not given, make uses the host's); `srcarch` is the kernel's
    /// `SRCARCH` for it (`x86` for `x86_64` or `i386`, `arm64` for `aarch64`; with
    /// `kforge-kconfig`: `srcarch(arch)`, or `host_srcarch()` when `arch` is `None`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kforge_kbuild::{CleanRule, SourceTree};
    ///
    /// let src = tempfile::tempdir()?;
    /// std::fs::write(src.path().join("Makefile"), "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n")?;
    /// let tree = SourceTree::open(src.path())?;
    /// assert!(tree.check_clean(Some("x86_64"), "x86").is_clean());
    ///
    /// std::fs::create_dir_all(src.path().join("arch/x86/include/generated"))?;
    /// let check = tree.check_clean(Some("x86_64"), "x86");
    /// assert_eq!(check.rule, CleanRule::WithArchGenerated);
    /// assert!(!check.is_clean());
    /// assert!(check.message.unwrap().contains("The source tree is not clean"));
    /// # Ok(()) }
    /// ```
    pub fn check_clean(&self, arch: Option<&str>, srcarch: &str) -> CleanCheck {
        let (rule, rule_source) = self.clean_rule();
        let srcarch = srcarch.to_string();
        let mut checked = vec![
            (self.root.join(".config"), false),
            (self.root.join("include/config"), true),
        ];
        if rule == CleanRule::WithArchGenerated {
            checked.push((
                self.root
                    .join("arch")
                    .join(&srcarch)
                    .join("include/generated"),
                true,
            ));
        }
        // `[ -f ]` and `[ -d ]` follow symbolic links, as metadata() does.
        let offending: Vec<PathBuf> = checked
            .iter()
            .filter(|(p, dir)| {
                fs::metadata(p)
                    .map(|m| if *dir { m.is_dir() } else { m.is_file() })
                    .unwrap_or(false)
            })
            .map(|(p, _)| p.clone())
            .collect();
        let message = (!offending.is_empty()).then(|| self.kernel_message(arch));
        tracing::debug!(tree = %self.root.display(), offending = offending.len(), "checked tree");
        CleanCheck {
            tree: self.root.clone(),
            version: self.version.clone(),
            rule,
            rule_source,
            srcarch,
            checked: checked.into_iter().map(|(p, _)| p).collect(),
            offending,
            message,
        }
    }

    /// The complaint the tree's Makefile prints, with its variables filled in.
    fn kernel_message(&self, arch: Option<&str>) -> String {
        let src = self.root.display();
        let arch_hint = match arch {
            Some(a) if self.makefile.contains("$(origin ARCH)), ARCH=$(ARCH))") => {
                format!(" ARCH={a}")
            }
            _ => String::new(),
        };
        if self.makefile.contains("The source tree is not clean")
            || (!self.makefile.contains("is not clean, please run")
                && self.version.at_least(5, 4, 0))
        {
            format!(
                "***\n*** The source tree is not clean, please run 'make{arch_hint} mrproper'\n*** in {src}\n***"
            )
        } else {
            format!(
                "  {src} is not clean, please run 'make{arch_hint} mrproper'\n  in the '{src}' directory."
            )
        }
    }

    /// The steps that make the tree acceptable for `make O=build_dir` without losing anything:
    /// the tree's `.config` moves into the build directory (or beside the build directory's own
    /// `.config` under a timestamped name); generated directories are removed. Nothing is done:
    /// this is the dry run.
    pub fn plan_clean_for_out_of_tree(
        &self,
        build_dir: impl AsRef<Path>,
    ) -> Result<CleanPlan, CleanError> {
        let build_dir = build_dir.as_ref();
        let build_abs = absolute(build_dir);
        if fs::canonicalize(&build_abs)
            .map(|b| b == self.root)
            .unwrap_or(build_abs == self.root)
        {
            return Err(CleanError::BuildDirIsTree(build_abs));
        }
        let mut actions = Vec::new();
        let tree_config = self.root.join(".config");
        if fs::symlink_metadata(&tree_config).is_ok() {
            if !build_abs.is_dir() {
                actions.push(CleanAction::CreateBuildDir {
                    path: build_abs.clone(),
                });
            }
            let target = build_abs.join(".config");
            if fs::symlink_metadata(&target).is_err() {
                actions.push(CleanAction::MoveConfigToBuildDir {
                    from: tree_config,
                    to: target,
                });
            } else {
                actions.push(CleanAction::MoveConfigAside {
                    from: tree_config,
                    to: aside_name(&build_abs),
                });
            }
        }
        let include_config = self.root.join("include/config");
        if fs::symlink_metadata(&include_config).is_ok() {
            actions.push(CleanAction::RemoveGeneratedDir {
                path: include_config,
            });
        }
        if let Ok(arches) = fs::read_dir(self.root.join("arch")) {
            let mut generated: Vec<PathBuf> = arches
                .filter_map(Result::ok)
                .map(|e| e.path().join("include/generated"))
                .filter(|p| fs::symlink_metadata(p).is_ok())
                .collect();
            generated.sort();
            actions.extend(
                generated
                    .into_iter()
                    .map(|path| CleanAction::RemoveGeneratedDir { path }),
            );
        }
        Ok(CleanPlan {
            tree: self.root.clone(),
            build_dir: build_abs,
            actions,
            applied: false,
        })
    }

    /// Make the tree acceptable for `make O=build_dir`, losing nothing (never `make mrproper`,
    /// which deletes the `.config`). Returns the steps carried out.
    pub fn make_clean_for_out_of_tree(
        &self,
        build_dir: impl AsRef<Path>,
    ) -> Result<CleanPlan, CleanError> {
        let mut plan = self.plan_clean_for_out_of_tree(build_dir)?;
        plan.apply()?;
        Ok(plan)
    }
}

/// Move `from` to `to` without overwriting: `rename` when both are on one file system,
/// otherwise copy into a temporary file beside `to` (with `from`'s permissions), sync it, give
/// it the final name only if that is still free, and remove the original only after that.
fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let dir = match to.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let mut tmp = tempfile::Builder::new()
                .prefix(".kforge-move.tmp")
                .tempfile_in(dir)?;
            io::copy(&mut fs::File::open(from)?, tmp.as_file_mut())?;
            tmp.as_file()
                .set_permissions(fs::metadata(from)?.permissions())?;
            tmp.as_file().sync_all()?;
            tmp.persist_noclobber(to).map_err(|e| e.error)?;
            fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `config.from-srctree.<UTC timestamp>` in `dir`, with a counter if that exists.
fn aside_name(dir: &Path) -> PathBuf {
    let stamp = utc_timestamp();
    let mut candidate = dir.join(format!("config.from-srctree.{stamp}"));
    let mut n = 1;
    while fs::symlink_metadata(&candidate).is_ok() {
        candidate = dir.join(format!("config.from-srctree.{stamp}.{n}"));
        n += 1;
    }
    candidate
}

/// `YYYYmmddTHHMMSSZ` for now.
fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        let t = utc_timestamp();
        assert_eq!(t.len(), 16, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
