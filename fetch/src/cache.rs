//! The on-disk cache: archives keyed by SHA-256, partial downloads, repository mirrors, locks.
//!
//! Layout under the cache root:
//!
//! ```text
//! archives/sha256/<64 hex>   verified archive files (published by rename only after the hash matched)
//! partial/<key>.part         an interrupted download, resumed with HTTP Range
//! partial/<key>.validator    the ETag or Last-Modified the partial bytes came with (for If-Range)
//! git/<key>.git              bare mirrors of git repositories
//! hg/<key>                   Mercurial mirrors (clones without a working copy)
//! locks/<key>.lock           advisory file locks, one per artifact
//! ```

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::Sha256Digest;

/// A cache directory shared by fetchers (threads or processes).
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// An exclusive lock on one artifact of the cache, released on drop.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
    path: PathBuf,
}

impl CacheLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Cache {
    /// A cache rooted at `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// The default cache directory: `$KFORGE_CACHE_DIR`, else `$XDG_CACHE_HOME/kforge`, else
    /// `$HOME/.cache/kforge`, else `.kforge-cache` in the current directory.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("KFORGE_CACHE_DIR").filter(|v| !v.is_empty()) {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(dir).join("kforge");
        }
        if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(home).join(".cache").join("kforge");
        }
        PathBuf::from(".kforge-cache")
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the archive with this digest lives (whether or not it is there).
    pub fn archive_path(&self, sha256: &Sha256Digest) -> PathBuf {
        self.root
            .join("archives")
            .join("sha256")
            .join(sha256.to_hex())
    }

    /// Whether the archive with this digest is cached.
    pub fn contains(&self, sha256: &Sha256Digest) -> bool {
        self.archive_path(sha256).is_file()
    }

    pub(crate) fn partial_path(&self, key: &str) -> PathBuf {
        self.root.join("partial").join(format!("{key}.part"))
    }

    pub(crate) fn validator_path(&self, key: &str) -> PathBuf {
        self.root.join("partial").join(format!("{key}.validator"))
    }

    pub(crate) fn git_mirror_path(&self, url: &str) -> PathBuf {
        self.root.join("git").join(format!("{}.git", url_key(url)))
    }

    pub(crate) fn hg_mirror_path(&self, url: &str) -> PathBuf {
        self.root.join("hg").join(url_key(url))
    }

    /// Take the exclusive lock for `key`, waiting for another holder (thread or process).
    pub fn lock(&self, key: &str) -> io::Result<CacheLock> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{key}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok(CacheLock { _file: file, path })
    }

    /// Take the lock for `key` if nobody holds it.
    pub fn try_lock(&self, key: &str) -> io::Result<Option<CacheLock>> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{key}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(CacheLock { _file: file, path })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// A stable file-name-safe key for a URL: the first 32 hex digits of its SHA-256 plus a readable tail.
pub(crate) fn url_key(url: &str) -> String {
    let digest = Sha256Digest::of_bytes(url.as_bytes()).to_hex();
    let tail: String = url
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(40)
        .collect();
    if tail.is_empty() {
        digest[..32].to_owned()
    } else {
        format!("{}-{tail}", &digest[..32])
    }
}
