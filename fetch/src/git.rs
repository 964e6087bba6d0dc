//! git sources through libgit2: a cached bare mirror per URL, then a checkout of a commit, tag or
//! branch, optionally verified against a pinned commit id.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use git2::{FetchOptions, Oid, RemoteCallbacks, Repository, build::CheckoutBuilder};

use crate::cache::{Cache, url_key};
pub use crate::git_http::HttpError;
use crate::progress::{self, Phase, ProgressFn};

/// Why a git fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// libgit2 reported an error.
    #[error("git {action} {url}")]
    Git {
        /// What was being done.
        action: &'static str,
        /// The repository URL or path.
        url: String,
        /// The underlying error.
        #[source]
        source: git2::Error,
    },
    /// Talking to an `http://` or `https://` remote failed: TLS, proxy, connection or an HTTP
    /// error status (the cause chain says which).
    #[error("git fetch {url}")]
    Http {
        /// The repository URL.
        url: String,
        /// What failed.
        #[source]
        source: HttpError,
    },
    /// The revision is not a branch, tag or commit of the repository.
    #[error("git {url}: revision {rev:?} is not a branch, tag or commit of the repository")]
    RevisionNotFound {
        /// The repository.
        url: String,
        /// The revision asked for.
        rev: String,
    },
    /// The pinned commit is not a full 40-digit hexadecimal id.
    #[error("git {url}: pinned commit {pin:?} is not a full 40-digit commit id")]
    InvalidPin {
        /// The repository.
        url: String,
        /// The pin.
        pin: String,
    },
    /// The revision resolved to another commit than the pinned one.
    #[error(
        "git {url}: {rev:?} resolves to commit {actual}, but {expected} is pinned; the branch or tag moved (or the pin is wrong)"
    )]
    PinMismatch {
        /// The repository.
        url: String,
        /// The revision asked for.
        rev: String,
        /// The pinned commit.
        expected: String,
        /// The commit found.
        actual: String,
    },
    /// Offline mode and the revision is not in the mirror.
    #[error(
        "offline mode: git {url} revision {rev:?} is not in the cached mirror {mirror}; fetch once online"
    )]
    Offline {
        /// The repository.
        url: String,
        /// The revision.
        rev: String,
        /// The mirror looked in.
        mirror: PathBuf,
    },
    /// The cache could not be locked or prepared.
    #[error("locking or preparing the git cache {path} failed")]
    Cache {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The interrupt flag was raised.
    #[error("git fetch interrupted")]
    Interrupted,
}

const MIRROR_REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// Update the mirror of `url` and check `rev` out into the empty directory `into`.
/// Returns the full commit id.
#[allow(clippy::too_many_arguments)]
pub(crate) fn checkout(
    cache: &Cache,
    url: &str,
    rev: &str,
    pin: Option<&str>,
    offline: bool,
    into: &Path,
    client: &reqwest::blocking::Client,
    progress: Option<&ProgressFn>,
    should_interrupt: &AtomicBool,
) -> Result<String, Error> {
    let _span = tracing::info_span!("git", url, rev).entered();
    let git_err = |action: &'static str| {
        move |source| Error::Git {
            action,
            url: url.to_owned(),
            source,
        }
    };
    let pin_oid = match pin {
        Some(p) if p.len() == 40 => Some(Oid::from_str(p).map_err(|_| Error::InvalidPin {
            url: url.to_owned(),
            pin: p.to_owned(),
        })?),
        Some(p) => {
            return Err(Error::InvalidPin {
                url: url.to_owned(),
                pin: p.to_owned(),
            });
        }
        None => None,
    };
    let mirror_path = cache.git_mirror_path(url);
    let _lock = cache
        .lock(&format!("git-{}", url_key(url)))
        .map_err(|source| Error::Cache {
            path: cache.root().join("locks"),
            source,
        })?;
    let mirror = match Repository::open_bare(&mirror_path) {
        Ok(repo) => repo,
        Err(_) => {
            if offline {
                return Err(Error::Offline {
                    url: url.to_owned(),
                    rev: rev.to_owned(),
                    mirror: mirror_path,
                });
            }
            if let Some(parent) = mirror_path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Cache {
                    path: parent.to_owned(),
                    source,
                })?;
            }
            let repo = Repository::init_bare(&mirror_path).map_err(git_err("init mirror"))?;
            repo.remote("origin", url).map_err(git_err("add remote"))?;
            repo
        }
    };
    // A commit id or a tag already present needs no network; branches move, so fetch them
    // (unless the pinned commit is what the branch already points to).
    let need_fetch = match (resolve(&mirror, rev), pin_oid) {
        (Some(found), Some(pin)) => found != pin,
        (Some(_), None) => is_branch(&mirror, rev),
        (None, _) => true,
    };
    if need_fetch && !offline {
        fetch_mirror(&mirror, url, client, progress, should_interrupt)?;
    }
    let commit_id = match resolve(&mirror, rev) {
        Some(id) => id,
        None if offline => {
            return Err(Error::Offline {
                url: url.to_owned(),
                rev: rev.to_owned(),
                mirror: mirror_path,
            });
        }
        None => {
            return Err(Error::RevisionNotFound {
                url: url.to_owned(),
                rev: rev.to_owned(),
            });
        }
    };
    if let Some(expected) = pin_oid
        && expected != commit_id
    {
        return Err(Error::PinMismatch {
            url: url.to_owned(),
            rev: rev.to_owned(),
            expected: expected.to_string(),
            actual: commit_id.to_string(),
        });
    }
    if should_interrupt.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    // The checkout: a repository of its own (no alternates into the cache), objects copied
    // from the mirror, origin pointing at the real URL.
    progress::report(progress, url, Phase::Checkout, 0, None);
    let repo = Repository::init(into).map_err(git_err("init checkout"))?;
    {
        let mirror_url = mirror_path.to_string_lossy().into_owned();
        let mut local = repo
            .remote_anonymous(&mirror_url)
            .map_err(git_err("read mirror"))?;
        local
            .fetch(
                &[
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                None,
                None,
            )
            .map_err(git_err("copy objects from mirror"))?;
        if repo.find_commit(commit_id).is_err() {
            // A commit not reachable from any ref of the mirror: fetch it by id.
            local
                .fetch(&[&commit_id.to_string()], None, None)
                .map_err(git_err("copy commit from mirror"))?;
        }
    }
    repo.remote("origin", url).map_err(git_err("add remote"))?;
    let commit = repo
        .find_commit(commit_id)
        .map_err(git_err("find commit"))?;
    repo.checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().force()))
        .map_err(git_err("checkout"))?;
    if is_branch(&mirror, rev) {
        repo.branch(rev, &commit, true)
            .map_err(git_err("create branch"))?;
        repo.set_head(&format!("refs/heads/{rev}"))
            .map_err(git_err("set HEAD"))?;
    } else {
        repo.set_head_detached(commit_id)
            .map_err(git_err("set HEAD"))?;
    }
    tracing::info!(url, rev, commit = %commit_id, "checked out");
    Ok(commit_id.to_string())
}

fn fetch_mirror(
    mirror: &Repository,
    url: &str,
    client: &reqwest::blocking::Client,
    progress: Option<&ProgressFn>,
    should_interrupt: &AtomicBool,
) -> Result<(), Error> {
    let _span = tracing::info_span!("git_fetch", url).entered();
    let mut remote = mirror
        .find_remote("origin")
        .or_else(|_| mirror.remote("origin", url))
        .map_err(|source| Error::Git {
            action: "find remote",
            url: url.to_owned(),
            source,
        })?;
    let mut callbacks = RemoteCallbacks::new();
    callbacks.transfer_progress(|stats| {
        progress::report(
            progress,
            url,
            Phase::Clone,
            stats.received_objects() as u64,
            Some(stats.total_objects() as u64),
        );
        !should_interrupt.load(Ordering::Relaxed)
    });
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks);
    // http(s) remotes go through the fetcher's HTTP client (see git_http).
    let (result, failure) = crate::git_http::with_client(client, should_interrupt, || {
        remote.fetch(&MIRROR_REFSPECS, Some(&mut options), None)
    })
    .map_err(|source| Error::Git {
        action: "register the http transport",
        url: url.to_owned(),
        source,
    })?;
    if should_interrupt.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    if result.is_err()
        && let Some(source) = failure
    {
        return Err(Error::Http {
            url: url.to_owned(),
            source,
        });
    }
    result.map_err(|source| Error::Git {
        action: "fetch",
        url: url.to_owned(),
        source,
    })
}

fn is_branch(repo: &Repository, rev: &str) -> bool {
    repo.find_reference(&format!("refs/heads/{rev}")).is_ok()
}

/// A tag, a branch, a full or abbreviated commit id, or any revspec git understands.
fn resolve(repo: &Repository, rev: &str) -> Option<Oid> {
    for name in [format!("refs/tags/{rev}"), format!("refs/heads/{rev}")] {
        if let Ok(reference) = repo.find_reference(&name)
            && let Ok(commit) = reference.peel_to_commit()
        {
            return Some(commit.id());
        }
    }
    let object = repo.revparse_single(rev).ok()?;
    object.peel_to_commit().ok().map(|c| c.id())
}
