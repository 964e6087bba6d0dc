//! Safe extraction of tar archives.
//!
//! Every entry is checked before anything is written: absolute paths, `..` components, symlinks
//! whose target resolves outside the destination, hard links to anything but a regular file
//! already extracted, and writes through a symlink are refused with an error naming the entry.
//! Device nodes and FIFOs are skipped, setuid/setgid/sticky bits dropped, `pax_global_header`
//! is treated as the metadata it is. Exec bits and modification times are kept. The tree is
//! written into a temporary directory beside the destination and renamed onto it when complete.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use crate::compression::{self, Compression};
use crate::staging::{StagingDir, StagingError};
use crate::write_pool::{self, WriteJob, WritePool};

/// Why an extraction failed. Nothing is left under the destination name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entry has an absolute path.
    #[error("archive entry {entry:?} has an absolute path; refusing to extract it")]
    AbsolutePath {
        /// The entry as named in the archive.
        entry: String,
    },
    /// An entry's path contains `..`.
    #[error("archive entry {entry:?} contains a `..` component; refusing to extract it")]
    ParentComponent {
        /// The entry as named in the archive.
        entry: String,
    },
    /// A symlink whose target resolves outside the destination.
    #[error(
        "archive entry {entry:?} is a symlink to {target:?}, which resolves outside the destination; refusing to extract it"
    )]
    SymlinkEscapes {
        /// The entry.
        entry: String,
        /// Its target.
        target: String,
    },
    /// A hard link to something outside the archive's own regular files.
    #[error(
        "archive entry {entry:?} is a hard link to {target:?}, which is not a regular file extracted earlier from this archive; refusing to extract it"
    )]
    HardLinkOutside {
        /// The entry.
        entry: String,
        /// Its target.
        target: String,
    },
    /// A parent directory of the entry is a symlink or a file.
    #[error(
        "archive entry {entry:?} would be written through {through:?}, which is not a directory extracted from this archive (a symlink or a file); refusing to extract it"
    )]
    WritesThroughNonDirectory {
        /// The entry.
        entry: String,
        /// The offending parent.
        through: String,
    },
    /// An entry would replace a directory with a file or link.
    #[error(
        "archive entry {entry:?} would replace a directory extracted earlier with a non-directory"
    )]
    ReplacesDirectory {
        /// The entry.
        entry: String,
    },
    /// A GNU sparse file larger than the extractor accepts (its holes would be read as zeros).
    #[error(
        "archive entry {entry:?} is a sparse file of {size} bytes, more than the {limit} bytes accepted for a sparse file; refusing to extract it"
    )]
    SparseTooLarge {
        /// The entry.
        entry: String,
        /// The size it claims.
        size: u64,
        /// The largest sparse file accepted.
        limit: u64,
    },
    /// An entry type the extractor does not understand.
    #[error("archive entry {entry:?} has unsupported type {kind:?}")]
    UnsupportedEntry {
        /// The entry.
        entry: String,
        /// The type byte, as a character.
        kind: char,
    },
    /// The archive could not be read (corrupt compression, truncated tar, I/O error of the reader).
    #[error("reading the archive failed{}", entry.as_ref().map(|e| format!(" at entry {e:?}")).unwrap_or_default())]
    Read {
        /// The entry being read, if any.
        entry: Option<String>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing the tree failed.
    #[error("{path}")]
    Write {
        /// The path written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The destination could not be prepared or published.
    #[error(transparent)]
    Staging(#[from] StagingError),
    /// The interrupt flag was raised.
    #[error("extraction interrupted")]
    Interrupted,
}

impl Error {
    /// Whether the archive itself is at fault (a bad entry, damaged compression), rather than
    /// this machine (a full disk, a staging problem) or the caller (an interrupt).
    pub fn archive_at_fault(&self) -> bool {
        !matches!(
            self,
            Error::Write { .. } | Error::Staging(_) | Error::Interrupted
        )
    }
}

/// Files up to this size are read into memory and written on the writer threads; larger ones and
/// sparse files are streamed to disk on the extracting thread, so memory stays bounded whatever
/// size an entry claims (a few MiB of xz can hold gigabytes of zeros).
const BUFFERED_FILE_MAX: u64 = 16 << 20;

/// The largest GNU sparse file extracted: a header of a few bytes can describe a hole of any
/// size, which the tar reader yields as zeros. Source archives carry no sparse files at all.
pub const SPARSE_FILE_MAX: u64 = 1 << 30;

/// Options of an extraction.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Leading path components dropped from every entry; entries with no more components are
    /// skipped (as `tar --strip-components`).
    pub strip_components: usize,
}

/// What an extraction did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExtractReport {
    /// The compression detected from the magic bytes.
    pub compression: Option<Compression>,
    /// Regular files written.
    pub files: u64,
    /// Directories created.
    pub directories: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hard links created.
    pub hard_links: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries not created: device nodes, FIFOs (named, with the reason).
    pub skipped: Vec<String>,
    /// Entries whose setuid, setgid or sticky bits were dropped.
    pub dropped_special_bits: Vec<String>,
}

/// Detect the compression of `reader`, then extract the tar archive into `dest`, which must not
/// exist: entries go to a temporary directory beside it, renamed onto `dest` when complete.
pub fn extract(
    reader: impl Read + Send,
    dest: &Path,
    options: &ExtractOptions,
    should_interrupt: &AtomicBool,
) -> Result<ExtractReport, Error> {
    let staging = StagingDir::beside(dest)?;
    let report = unpack_into(
        BufReader::with_capacity(256 * 1024, reader),
        staging.path(),
        options,
        false,
        should_interrupt,
    )?;
    staging.publish()?;
    Ok(report)
}

/// Extract a (possibly compressed) tar archive into the empty directory `root`. `hash_verified`:
/// the caller verifies a SHA-256 of the input before publishing `root` (see
/// [`compression::decoder_with`]).
pub(crate) fn unpack_into(
    reader: impl BufRead + Send,
    root: &Path,
    options: &ExtractOptions,
    hash_verified: bool,
    should_interrupt: &AtomicBool,
) -> Result<ExtractReport, Error> {
    let _span = tracing::debug_span!("extract", root = %root.display()).entered();
    let (compression, decoded) =
        compression::decoder_with(reader, hash_verified).map_err(|source| Error::Read {
            entry: None,
            source,
        })?;
    tracing::debug!(?compression, "detected compression");
    let mut unpacker = Unpacker::new(root, options.strip_components, should_interrupt);
    unpacker.report.compression = Some(compression);
    let mut archive = tar::Archive::new(decoded);
    let entries = archive.entries().map_err(|source| Error::Read {
        entry: None,
        source,
    })?;
    let shared = write_pool::Shared::default();
    // Files of one directory come together in a tarball, and writers in one directory contend
    // for its lock: a writer per two cores.
    let writers = (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).clamp(1, 4);
    std::thread::scope(|scope| -> Result<(), Error> {
        let mut pool = WritePool::start(scope, &shared, writers);
        let mut last_entry: Option<String> = None;
        for entry in entries {
            if should_interrupt.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let mut entry = entry.map_err(|source| Error::Read {
                entry: last_entry.clone(),
                source,
            })?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            unpacker.entry(&mut entry, &name, &pool)?;
            last_entry = Some(name);
        }
        pool.flush()?;
        pool.close();
        Ok(())
    })?;
    unpacker.finish()?;
    tracing::debug!(
        files = unpacker.report.files,
        bytes = unpacker.report.bytes,
        "extracted"
    );
    Ok(unpacker.report)
}

struct Unpacker<'r> {
    root: &'r Path,
    strip: usize,
    /// The caller's interrupt flag, also checked while a large file is streamed.
    should_interrupt: &'r AtomicBool,
    /// Directories known to be real directories we created (relative paths; "" is the root).
    dirs: HashSet<PathBuf>,
    /// Regular files we wrote (hard-link targets must be among them).
    files: HashSet<PathBuf>,
    /// Symlinks we created, with the entry name.
    symlinks: HashMap<PathBuf, String>,
    /// Directory entries: mode and mtime applied at the end.
    dir_meta: Vec<(PathBuf, u32, u64)>,
    report: ExtractReport,
}

impl<'r> Unpacker<'r> {
    fn new(root: &'r Path, strip: usize, should_interrupt: &'r AtomicBool) -> Self {
        let mut dirs = HashSet::new();
        dirs.insert(PathBuf::new());
        Unpacker {
            root,
            strip,
            should_interrupt,
            dirs,
            files: HashSet::new(),
            symlinks: HashMap::new(),
            dir_meta: Vec::new(),
            report: ExtractReport::default(),
        }
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        pool: &WritePool<'_>,
    ) -> Result<(), Error> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw_path = entry.path().map_err(|source| Error::Read {
            entry: Some(name.to_owned()),
            source,
        })?;
        let Some(rel) = sanitize(&raw_path, name, self.strip)? else {
            return Ok(());
        };
        let mode = entry.header().mode().unwrap_or(0o644);
        let mtime = entry.header().mtime().unwrap_or(0);
        let perm = mode & 0o777;
        if mode & 0o7000 != 0 && !kind.is_dir() {
            self.report.dropped_special_bits.push(name.to_owned());
        }
        match kind {
            EntryType::Directory => self.directory(&rel, name, perm, mtime),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(entry, &rel, name, perm, mtime, pool)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|source| Error::Read {
                        entry: Some(name.to_owned()),
                        source,
                    })?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.symlink(&rel, name, &target)
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|source| Error::Read {
                        entry: Some(name.to_owned()),
                        source,
                    })?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                // The target may still be queued for writing.
                pool.flush()?;
                self.hard_link(&rel, name, &target)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let what = match kind {
                    EntryType::Char => "character device",
                    EntryType::Block => "block device",
                    _ => "FIFO",
                };
                tracing::warn!(
                    entry = name,
                    "skipping {what} (a source archive has no business carrying one)"
                );
                self.report.skipped.push(format!("{name} ({what})"));
                Ok(())
            }
            other => Err(Error::UnsupportedEntry {
                entry: name.to_owned(),
                kind: other.as_byte() as char,
            }),
        }
    }

    fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    fn write_err(&self, rel: &Path) -> impl FnOnce(io::Error) -> Error + use<'_> {
        let path = self.abs(rel);
        move |source| Error::Write { path, source }
    }

    /// Make sure every ancestor of `rel` is a real directory we know, creating missing ones.
    fn ensure_parent(&mut self, rel: &Path, name: &str) -> Result<(), Error> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if self.dirs.contains(parent) {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut cur = Some(parent);
        while let Some(p) = cur {
            if self.dirs.contains(p) {
                break;
            }
            missing.push(p.to_owned());
            cur = p.parent();
        }
        for dir in missing.into_iter().rev() {
            if self.files.contains(&dir) || self.symlinks.contains_key(&dir) {
                return Err(Error::WritesThroughNonDirectory {
                    entry: name.to_owned(),
                    through: dir.display().to_string(),
                });
            }
            let abs = self.abs(&dir);
            match fs::create_dir(&abs) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta = fs::symlink_metadata(&abs).map_err(self.write_err(&dir))?;
                    if !meta.is_dir() {
                        return Err(Error::WritesThroughNonDirectory {
                            entry: name.to_owned(),
                            through: dir.display().to_string(),
                        });
                    }
                }
                Err(e) => {
                    return Err(Error::Write {
                        path: abs,
                        source: e,
                    });
                }
            }
            self.report.directories += 1;
            self.dirs.insert(dir);
        }
        Ok(())
    }

    /// Remove an earlier non-directory entry at `rel` (a later entry of the same name wins, as in tar).
    fn replace_existing(&mut self, rel: &Path, name: &str) -> Result<(), Error> {
        if self.dirs.contains(rel) {
            return Err(Error::ReplacesDirectory {
                entry: name.to_owned(),
            });
        }
        let was_file = self.files.remove(rel);
        let was_link = self.symlinks.remove(rel).is_some();
        if was_file || was_link {
            fs::remove_file(self.abs(rel)).map_err(self.write_err(rel))?;
        }
        Ok(())
    }

    fn directory(&mut self, rel: &Path, name: &str, perm: u32, mtime: u64) -> Result<(), Error> {
        if !self.dirs.contains(rel) {
            if self.files.contains(rel) || self.symlinks.contains_key(rel) {
                return Err(Error::WritesThroughNonDirectory {
                    entry: name.to_owned(),
                    through: rel.display().to_string(),
                });
            }
            self.ensure_parent(rel, name)?;
            let abs = self.abs(rel);
            fs::create_dir(&abs).map_err(|source| Error::Write { path: abs, source })?;
            self.report.directories += 1;
            self.dirs.insert(rel.to_owned());
        }
        self.dir_meta.push((rel.to_owned(), perm, mtime));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn regular<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        name: &str,
        perm: u32,
        mtime: u64,
        pool: &WritePool<'_>,
    ) -> Result<(), Error> {
        self.ensure_parent(rel, name)?;
        if self.files.contains(rel) {
            // A later entry of the same name replaces the earlier one, which may be queued.
            pool.flush()?;
        }
        self.replace_existing(rel, name)?;
        // The size of the file (for a sparse file: with its holes), not of its archive data.
        let size = entry.size();
        let sparse = entry.header().entry_type().is_gnu_sparse();
        if sparse && size > SPARSE_FILE_MAX {
            return Err(Error::SparseTooLarge {
                entry: name.to_owned(),
                size,
                limit: SPARSE_FILE_MAX,
            });
        }
        if sparse || size > BUFFERED_FILE_MAX {
            let read_err = |source| Error::Read {
                entry: Some(name.to_owned()),
                source,
            };
            let written = write_pool::write_streamed(
                &self.abs(rel),
                perm,
                mtime,
                entry,
                &read_err,
                self.should_interrupt,
            )?;
            self.report.files += 1;
            self.report.bytes += written;
            self.files.insert(rel.to_owned());
            return Ok(());
        }
        let mut data = Vec::with_capacity(size.min(64 << 20) as usize);
        entry.read_to_end(&mut data).map_err(|source| Error::Read {
            entry: Some(name.to_owned()),
            source,
        })?;
        self.report.files += 1;
        self.report.bytes += data.len() as u64;
        self.files.insert(rel.to_owned());
        pool.submit(WriteJob {
            path: self.abs(rel),
            data,
            perm,
            mtime,
        })
    }

    fn symlink(&mut self, rel: &Path, name: &str, target: &Path) -> Result<(), Error> {
        let escapes = || Error::SymlinkEscapes {
            entry: name.to_owned(),
            target: target.display().to_string(),
        };
        if target.as_os_str().is_empty() {
            return Err(escapes());
        }
        let start = rel.parent().map(components_of).unwrap_or_default();
        if resolve_inside(self.root, start, target, 0).is_none() {
            return Err(escapes());
        }
        self.ensure_parent(rel, name)?;
        self.replace_existing(rel, name)?;
        let abs = self.abs(rel);
        std::os::unix::fs::symlink(target, &abs)
            .map_err(|source| Error::Write { path: abs, source })?;
        self.symlinks.insert(rel.to_owned(), name.to_owned());
        self.report.symlinks += 1;
        Ok(())
    }

    fn hard_link(&mut self, rel: &Path, name: &str, target: &Path) -> Result<(), Error> {
        let outside = || Error::HardLinkOutside {
            entry: name.to_owned(),
            target: target.display().to_string(),
        };
        let target_name = target.to_string_lossy().into_owned();
        let target_rel = match sanitize(target, &target_name, self.strip) {
            Ok(Some(t)) => t,
            Ok(None) | Err(_) => return Err(outside()),
        };
        if !self.files.contains(&target_rel) {
            return Err(outside());
        }
        self.ensure_parent(rel, name)?;
        if rel == target_rel {
            return Ok(());
        }
        self.replace_existing(rel, name)?;
        let abs = self.abs(rel);
        fs::hard_link(self.abs(&target_rel), &abs)
            .map_err(|source| Error::Write { path: abs, source })?;
        self.files.insert(rel.to_owned());
        self.report.hard_links += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        // A symlink that was harmless when created can escape through a symlink created later
        // (`a -> d/l/..` before `d/l -> ..`): check them all again on the finished tree.
        for (rel, name) in &self.symlinks {
            let abs = self.abs(rel);
            let target = fs::read_link(&abs).map_err(|source| Error::Write {
                path: abs.clone(),
                source,
            })?;
            let start = rel.parent().map(components_of).unwrap_or_default();
            if resolve_inside(self.root, start, &target, 0).is_none() {
                return Err(Error::SymlinkEscapes {
                    entry: name.clone(),
                    target: target.display().to_string(),
                });
            }
        }
        for (rel, perm, mtime) in self.dir_meta.iter().rev() {
            let abs = self.abs(rel);
            let err = |source| Error::Write {
                path: abs.clone(),
                source,
            };
            let dir = File::open(&abs).map_err(err)?;
            dir.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(*mtime))
                .map_err(err)?;
            if *perm != 0o755 {
                // Keep the owner able to enter and modify the tree.
                dir.set_permissions(fs::Permissions::from_mode(perm | 0o700))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

/// Check an entry path and apply `strip`; `None` if nothing remains after stripping.
fn sanitize(path: &Path, name: &str, strip: usize) -> Result<Option<PathBuf>, Error> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::ParentComponent {
                    entry: name.to_owned(),
                });
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::AbsolutePath {
                    entry: name.to_owned(),
                });
            }
        }
    }
    if parts.len() <= strip {
        return Ok(None);
    }
    Ok(Some(parts[strip..].iter().collect()))
}

fn components_of(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_owned()),
            _ => None,
        })
        .collect()
}

/// Resolve `target` as the kernel would from the directory `start` (components below `root`),
/// following symlinks that exist in the tree. `None` if the resolution leaves `root`.
fn resolve_inside(
    root: &Path,
    mut stack: Vec<OsString>,
    target: &Path,
    depth: u32,
) -> Option<Vec<OsString>> {
    if depth > 40 {
        return None;
    }
    for component in target.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => return None,
            Component::CurDir => {}
            Component::ParentDir => {
                stack.pop()?;
            }
            Component::Normal(part) => {
                stack.push(part.to_owned());
                let here: PathBuf = stack.iter().collect();
                let abs = root.join(&here);
                if let Ok(meta) = fs::symlink_metadata(&abs)
                    && meta.file_type().is_symlink()
                {
                    let link = fs::read_link(&abs).ok()?;
                    stack.pop();
                    stack = resolve_inside(root, stack, &link, depth + 1)?;
                }
            }
        }
    }
    Some(stack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_and_refuses() {
        assert_eq!(
            sanitize(Path::new("./linux-6.1/Makefile"), "x", 1).unwrap(),
            Some(PathBuf::from("Makefile"))
        );
        assert_eq!(sanitize(Path::new("linux-6.1/"), "x", 1).unwrap(), None);
        assert!(matches!(
            sanitize(Path::new("/etc/passwd"), "x", 0),
            Err(Error::AbsolutePath { .. })
        ));
        assert!(matches!(
            sanitize(Path::new("a/../../b"), "x", 0),
            Err(Error::ParentComponent { .. })
        ));
    }

    #[test]
    fn resolution_follows_links_in_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("d")).unwrap();
        assert!(resolve_inside(root, vec!["d".into()], Path::new("../x"), 0).is_some());
        assert!(resolve_inside(root, vec!["d".into()], Path::new("../../x"), 0).is_none());
        std::os::unix::fs::symlink("..", root.join("d/up")).unwrap();
        // d/up/.. is root/.. : outside, although lexically it is `d`.
        assert!(resolve_inside(root, vec![], Path::new("d/up/.."), 0).is_none());
        assert!(resolve_inside(root, vec![], Path::new("d/up/d"), 0).is_some());
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(resolve_inside(root, vec![], Path::new("loop"), 0).is_none());
    }
    /// A reader that raises `flag` once `after` bytes have been read from it.
    struct RaiseAfter<'a> {
        inner: std::io::Cursor<Vec<u8>>,
        after: u64,
        flag: &'a AtomicBool,
    }

    impl Read for RaiseAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.inner.position() >= self.after {
                self.flag.store(true, Ordering::Relaxed);
            }
            self.inner.read(buf)
        }
    }

    /// Ctrl-C while one large file is streamed stops the extraction inside that file, not at
    /// the next entry.
    #[test]
    fn an_interrupt_stops_a_large_file_midway() {
        let size = 4 * BUFFERED_FILE_MAX;
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "big", std::io::repeat(1).take(size))
            .unwrap();
        let flag = AtomicBool::new(false);
        let reader = std::io::BufReader::new(RaiseAfter {
            inner: std::io::Cursor::new(tar.into_inner().unwrap()),
            after: BUFFERED_FILE_MAX,
            flag: &flag,
        });
        let dir = tempfile::tempdir().unwrap();
        let err = unpack_into(reader, dir.path(), &ExtractOptions::default(), true, &flag)
            .expect_err("the extraction must stop");
        assert!(matches!(err, Error::Interrupted), "{err}");
        let written = fs::metadata(dir.path().join("big")).map_or(0, |m| m.len());
        assert!(
            written < size,
            "the file was written to its end ({written} bytes) before the interrupt was seen"
        );
    }
}
