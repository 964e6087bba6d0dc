//! Progress reports handed to a caller-supplied callback.

use std::sync::Arc;

/// Which step of a fetch is reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Bytes arriving from the network or a `file://` URL (and, in a streaming fetch, being
    /// unpacked as they arrive).
    Download,
    /// Unpacking an archive that was already in the cache.
    Extract,
    /// Waiting for another process that holds the cache lock for this artifact.
    WaitLock,
    /// Cloning or updating a repository mirror.
    Clone,
    /// Checking out a revision.
    Checkout,
    /// Applying patches.
    Patch,
}

/// One progress report: `done` of `total` units (bytes for downloads and extraction, objects
/// for clones, patches for patching) for the source named `source`.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The URL or path being fetched.
    pub source: &'a str,
    /// The step reporting.
    pub phase: Phase,
    /// Units done.
    pub done: u64,
    /// Units in total, when known.
    pub total: Option<u64>,
}

/// A progress callback. It is called from the thread doing the work (possibly several), so it
/// must be cheap and thread-safe.
pub type ProgressFn = Arc<dyn Fn(&Progress<'_>) + Send + Sync>;

pub(crate) fn report(
    progress: Option<&ProgressFn>,
    source: &str,
    phase: Phase,
    done: u64,
    total: Option<u64>,
) {
    if let Some(f) = progress {
        f(&Progress {
            source,
            phase,
            done,
            total,
        });
    }
}
