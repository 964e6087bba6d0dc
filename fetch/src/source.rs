//! What can be fetched: an archive URL, a git or Mercurial repository, a local directory.

use std::path::PathBuf;

use crate::Sha256Digest;

/// A source of a tree, as a build recipe names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A tar archive (gzip, xz, bzip2, zstd or uncompressed) at an `http`, `https` or `file` URL.
    Archive {
        /// Where to download it from (mirrors configured on the [`Fetcher`](crate::Fetcher) come first).
        url: String,
        /// The expected SHA-256 of the archive file. `None` is an unpinned fetch, which the
        /// fetcher refuses unless it was built with
        /// [`allow_unpinned`](crate::FetcherBuilder::allow_unpinned).
        sha256: Option<Sha256Digest>,
        /// Leading path components dropped from every entry (as `tar --strip-components`).
        strip_components: usize,
    },
    /// A git repository, cloned into a cached mirror and checked out.
    Git {
        /// Repository URL or local path.
        url: String,
        /// A branch, tag or commit id.
        rev: String,
        /// The full commit id `rev` must resolve to, if pinned.
        commit: Option<String>,
    },
    /// A Mercurial repository, driven through the `hg` command.
    Hg {
        /// Repository URL or local path.
        url: String,
        /// A branch, tag, bookmark or changeset id.
        rev: String,
    },
    /// A local directory, copied (symlinks, modes and mtimes kept).
    Path {
        /// The directory to copy.
        path: PathBuf,
    },
}

impl Source {
    /// A pinned archive.
    pub fn archive(url: impl Into<String>, sha256: Sha256Digest) -> Source {
        Source::Archive {
            url: url.into(),
            sha256: Some(sha256),
            strip_components: 0,
        }
    }

    /// An archive without a pinned hash (the fetch reports the hash to pin).
    pub fn unpinned_archive(url: impl Into<String>) -> Source {
        Source::Archive {
            url: url.into(),
            sha256: None,
            strip_components: 0,
        }
    }

    /// A git repository at a branch, tag or commit.
    pub fn git(url: impl Into<String>, rev: impl Into<String>) -> Source {
        Source::Git {
            url: url.into(),
            rev: rev.into(),
            commit: None,
        }
    }

    /// A Mercurial repository at a branch, tag, bookmark or changeset.
    pub fn hg(url: impl Into<String>, rev: impl Into<String>) -> Source {
        Source::Hg {
            url: url.into(),
            rev: rev.into(),
        }
    }

    /// A local directory.
    pub fn path(path: impl Into<PathBuf>) -> Source {
        Source::Path { path: path.into() }
    }

    /// Set the number of leading path components to strip (archives only; no effect otherwise).
    pub fn with_strip_components(mut self, n: usize) -> Source {
        if let Source::Archive {
            strip_components, ..
        } = &mut self
        {
            *strip_components = n;
        }
        self
    }

    /// Pin the commit a git `rev` must resolve to (git only; no effect otherwise).
    pub fn with_commit(mut self, id: impl Into<String>) -> Source {
        if let Source::Git { commit, .. } = &mut self {
            *commit = Some(id.into());
        }
        self
    }

    /// A short human description: the URL or path.
    pub fn location(&self) -> String {
        match self {
            Source::Archive { url, .. } | Source::Git { url, .. } | Source::Hg { url, .. } => {
                url.clone()
            }
            Source::Path { path } => path.display().to_string(),
        }
    }
}
