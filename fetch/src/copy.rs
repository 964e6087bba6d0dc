//! Copying a local directory (a `Source::Path`): files, directories and symlinks, with modes
//! and modification times; special files are skipped.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Copy the contents of `from` into the existing directory `to`.
pub(crate) fn copy_tree(from: &Path, to: &Path, should_interrupt: &AtomicBool) -> io::Result<()> {
    let meta = fs::metadata(from)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    copy_dir(from, to, should_interrupt)?;
    fs::set_permissions(to, meta.permissions())?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path, should_interrupt: &AtomicBool) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        if should_interrupt.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let entry = entry?;
        let kind = entry.file_type()?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if kind.is_dir() {
            fs::create_dir(&dst)?;
            copy_dir(&src, &dst, should_interrupt)?;
            let meta = fs::metadata(&src)?;
            let dir = fs::File::open(&dst)?;
            dir.set_modified(meta.modified()?)?;
            fs::set_permissions(&dst, meta.permissions())?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
            let modified = fs::metadata(&src)?.modified()?;
            // The owner may set times through a read-only descriptor.
            fs::File::open(&dst)?.set_modified(modified)?;
        } else {
            tracing::warn!(path = %src.display(), "skipping special file");
        }
    }
    Ok(())
}
