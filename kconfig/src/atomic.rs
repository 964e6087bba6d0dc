//! Atomic file replacement: write a temp file beside the target, sync, rename.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` so that readers see either the old or the new content, never a mix:
/// a temporary file beside it, synced, then renamed over it (keeping the permissions of the
/// file it replaces).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp"))
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = fs::metadata(path) {
        // Keep the permissions of the file being replaced.
        let _ = fs::set_permissions(tmp.path(), meta.permissions());
    }
    // The data is on disk before the rename, so a crash leaves the old or the new file, never
    // an empty one. (The directory is not synced: losing the rename in a crash only means the
    // old file is still there.)
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
