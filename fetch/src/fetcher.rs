//! The [`Fetcher`]: turns a [`Source`] into a verified directory, through the cache.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cache::{Cache, url_key};
use crate::download::{self, Downloader, ResponseInfo, RetryPolicy, file_name_of, mirror_url};
use crate::extract::{self, ExtractOptions, ExtractReport};
use crate::patch::{self, PatchSet};
use crate::pipeline::{self, TeeSink};
use crate::progress::{self, Phase, ProgressFn};
use crate::staging::{StagingDir, StagingError};
use crate::tls::{self, Trust};
use crate::{Sha256Digest, Source, copy, git, hg, proxy};

/// Why a fetch failed. Nothing is left under the destination name, nothing unverified under a
/// cache name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Downloading or verifying failed.
    #[error(transparent)]
    Download(#[from] download::Error),
    /// Unpacking failed.
    #[error(transparent)]
    Extract(#[from] extract::Error),
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] git::Error),
    /// A Mercurial operation failed.
    #[error(transparent)]
    Hg(#[from] hg::Error),
    /// A CA or pinned certificate file could not be used.
    #[error(transparent)]
    Certificates(#[from] tls::Error),
    /// A patch did not apply.
    #[error(transparent)]
    Patch(#[from] patch::Error),
    /// The destination exists or could not be prepared.
    #[error(transparent)]
    Staging(#[from] StagingError),
    /// Copying a local directory failed.
    #[error("copying {from} failed")]
    Copy {
        /// The directory copied.
        from: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A cache file operation failed.
    #[error("cache {path}")]
    Cache {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Whether the fetch stopped because the caller's interrupt flag was raised.
    pub fn is_interrupted(&self) -> bool {
        match self {
            Error::Download(download::Error::Interrupted)
            | Error::Extract(extract::Error::Interrupted)
            | Error::Git(git::Error::Interrupted)
            | Error::Hg(hg::Error::Interrupted)
            | Error::Patch(patch::Error::Interrupted) => true,
            Error::Copy { source, .. } => source.kind() == io::ErrorKind::Interrupted,
            _ => false,
        }
    }
}

/// The result of a fetch, for reports and `build.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fetched {
    /// What was fetched.
    pub source: Source,
    /// The directory now holding the tree.
    pub dest: PathBuf,
    /// SHA-256 of the archive (archives only): pin this value if the fetch was unpinned.
    pub sha256: Option<Sha256Digest>,
    /// Whether the archive came from the cache without a download.
    pub from_cache: bool,
    /// The URL that served the bytes (a mirror or the origin), if any were downloaded.
    pub from_url: Option<String>,
    /// The verified archive in the cache (archives only).
    pub cache_path: Option<PathBuf>,
    /// The commit (git) or changeset (Mercurial) checked out.
    pub revision: Option<String>,
    /// What the extraction did (archives only).
    pub extract: Option<ExtractReport>,
    /// Patches applied, in order.
    pub patches: Vec<String>,
}

/// A downloaded, verified file in the cache (see [`Fetcher::download`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Downloaded {
    /// The URL asked for.
    pub url: String,
    /// The verified file in the cache.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: Sha256Digest,
    /// Whether it was already cached.
    pub from_cache: bool,
    /// The URL that served the bytes, if any were downloaded.
    pub from_url: Option<String>,
}

/// Builds a [`Fetcher`].
#[derive(Clone)]
pub struct FetcherBuilder {
    cache_dir: Option<PathBuf>,
    mirrors: Vec<String>,
    offline: bool,
    allow_unpinned: bool,
    retry: RetryPolicy,
    connect_timeout: Duration,
    read_timeout: Duration,
    user_agent: String,
    progress: Option<ProgressFn>,
    ca_certs: Vec<PathBuf>,
    pinned_certs: Vec<PathBuf>,
}

impl std::fmt::Debug for FetcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetcherBuilder")
            .field("cache_dir", &self.cache_dir)
            .field("mirrors", &self.mirrors)
            .field("offline", &self.offline)
            .field("allow_unpinned", &self.allow_unpinned)
            .field("retry", &self.retry)
            .field("ca_certs", &self.ca_certs)
            .field("pinned_certs", &self.pinned_certs)
            .finish_non_exhaustive()
    }
}

impl Default for FetcherBuilder {
    fn default() -> Self {
        FetcherBuilder {
            cache_dir: None,
            mirrors: Vec::new(),
            offline: false,
            allow_unpinned: false,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            user_agent: format!("kforge-fetch/{}", env!("CARGO_PKG_VERSION")),
            progress: None,
            ca_certs: Vec::new(),
            pinned_certs: Vec::new(),
        }
    }
}

impl FetcherBuilder {
    /// The cache directory (default: [`Cache::default_root`]).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Add a mirror, tried (in the order added) before the origin: the archive's file name is
    /// appended to `base_url` (as Buildroot's `PRIMARY_SITE`).
    pub fn mirror(mut self, base_url: impl Into<String>) -> Self {
        self.mirrors.push(base_url.into());
        self
    }

    /// Use only the cache; a missing artifact is an error that names it.
    pub fn offline(mut self, yes: bool) -> Self {
        self.offline = yes;
        self
    }

    /// Allow archives without a pinned SHA-256 (the result reports the hash to pin).
    pub fn allow_unpinned(mut self, yes: bool) -> Self {
        self.allow_unpinned = yes;
        self
    }

    /// How transient HTTP failures are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Timeout of establishing a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout of waiting for a response and of each read of the body (a stalled server).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The HTTP `User-Agent` (default `kforge-fetch/VERSION`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// A progress callback (bytes done/total per source and phase).
    pub fn progress(mut self, f: impl Fn(&progress::Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(std::sync::Arc::new(f));
        self
    }

    /// Trust the CA certificates of this PEM file for every https source (archives, mirrors,
    /// git, Mercurial), in addition to the system's roots (which `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` replace, as for curl and git). Repeatable.
    pub fn ca_cert(mut self, pem_file: impl AsRef<Path>) -> Self {
        self.ca_certs.push(pem_file.as_ref().to_owned());
        self
    }

    /// Accept only https servers that present one of the certificates of this PEM file
    /// (repeatable). A pin replaces CA verification, like Mercurial's
    /// `hostsecurity.HOST:fingerprints`: a self-signed server certificate works; the server
    /// must still prove it holds the certificate's key.
    pub fn pinned_cert(mut self, pem_file: impl AsRef<Path>) -> Self {
        self.pinned_certs.push(pem_file.as_ref().to_owned());
        self
    }

    /// Build the fetcher. Fails if a certificate file cannot be read or holds no certificate.
    pub fn build(self) -> Result<Fetcher, Error> {
        let trust = Trust::load(&self.ca_certs, &self.pinned_certs)?;
        let downloader = Downloader::new(
            &self.user_agent,
            self.connect_timeout,
            self.read_timeout,
            self.retry,
            &trust,
        )?;
        Ok(Fetcher {
            cache: Cache::new(self.cache_dir.unwrap_or_else(Cache::default_root)),
            mirrors: self.mirrors,
            offline: self.offline,
            allow_unpinned: self.allow_unpinned,
            downloader,
            progress: self.progress,
            trust: std::sync::Arc::new(trust),
        })
    }
}

/// Fetches sources into verified directories through a content-addressed cache.
#[derive(Clone)]
pub struct Fetcher {
    cache: Cache,
    mirrors: Vec<String>,
    offline: bool,
    allow_unpinned: bool,
    downloader: Downloader,
    progress: Option<ProgressFn>,
    trust: std::sync::Arc<Trust>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache", &self.cache)
            .field("mirrors", &self.mirrors)
            .field("offline", &self.offline)
            .field("allow_unpinned", &self.allow_unpinned)
            .finish_non_exhaustive()
    }
}

/// What one transfer attempt of an archive produced.
struct Transfer {
    sha256: Sha256Digest,
    cache_path: PathBuf,
    extract: Option<ExtractReport>,
}

impl Fetcher {
    /// A builder with defaults: the default cache, no mirrors, online, pinned only, 5 attempts.
    pub fn builder() -> FetcherBuilder {
        FetcherBuilder::default()
    }

    /// The cache this fetcher uses.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Fetch `source` into `dest`, which must not exist.
    pub fn fetch(
        &self,
        source: &Source,
        dest: &Path,
        should_interrupt: &AtomicBool,
    ) -> Result<Fetched, Error> {
        self.fetch_patched(source, dest, &PatchSet::default(), should_interrupt)
    }

    /// Fetch `source` into `dest` (which must not exist) and apply `patches` before the tree is
    /// published under `dest`.
    pub fn fetch_patched(
        &self,
        source: &Source,
        dest: &Path,
        patches: &PatchSet,
        should_interrupt: &AtomicBool,
    ) -> Result<Fetched, Error> {
        let _span =
            tracing::info_span!("fetch", source = %source.location(), dest = %dest.display())
                .entered();
        let staging = StagingDir::beside(dest)?;
        let mut fetched = Fetched {
            source: source.clone(),
            dest: dest.to_owned(),
            sha256: None,
            from_cache: false,
            from_url: None,
            cache_path: None,
            revision: None,
            extract: None,
            patches: Vec::new(),
        };
        match source {
            Source::Archive {
                url,
                sha256,
                strip_components,
            } => {
                let options = ExtractOptions {
                    strip_components: *strip_components,
                };
                self.archive_into(
                    url,
                    *sha256,
                    &options,
                    &staging,
                    &mut fetched,
                    should_interrupt,
                )?;
            }
            Source::Git { url, rev, commit } => {
                let id = git::checkout(
                    &self.cache,
                    url,
                    rev,
                    commit.as_deref(),
                    self.offline,
                    staging.path(),
                    self.downloader.client(),
                    self.progress.as_ref(),
                    should_interrupt,
                )?;
                fetched.revision = Some(id);
            }
            Source::Hg { url, rev } => {
                let mut network = proxy::for_hg(url);
                network
                    .config
                    .extend(self.trust.hg_config(url, &self.cache.root().join("tls"))?);
                let id = hg::checkout(
                    &self.cache,
                    url,
                    rev,
                    self.offline,
                    staging.path(),
                    &network,
                    should_interrupt,
                )?;
                fetched.revision = Some(id);
            }
            Source::Path { path } => {
                copy::copy_tree(path, staging.path(), should_interrupt).map_err(|source| {
                    Error::Copy {
                        from: path.clone(),
                        source,
                    }
                })?;
            }
        }
        fetched.patches =
            patches.apply(staging.path(), self.progress.as_ref(), should_interrupt)?;
        staging.publish()?;
        tracing::info!(dest = %dest.display(), "fetched");
        Ok(fetched)
    }

    /// Download `url` into the cache (verified against `sha256` when given; an unpinned
    /// download must be allowed on the builder) without extracting it.
    pub fn download(
        &self,
        url: &str,
        sha256: Option<Sha256Digest>,
        should_interrupt: &AtomicBool,
    ) -> Result<Downloaded, Error> {
        let _span = tracing::info_span!("download", url).entered();
        if let Some(digest) = sha256
            && self.cache.contains(&digest)
        {
            return Ok(Downloaded {
                url: url.to_owned(),
                path: self.cache.archive_path(&digest),
                sha256: digest,
                from_cache: true,
                from_url: None,
            });
        }
        self.check_may_download(url, sha256)?;
        let key = artifact_key(url, sha256);
        let _lock = self.lock(url, &key)?;
        if let Some(digest) = sha256
            && self.cache.contains(&digest)
        {
            return Ok(Downloaded {
                url: url.to_owned(),
                path: self.cache.archive_path(&digest),
                sha256: digest,
                from_cache: true,
                from_url: None,
            });
        }
        let (transfer, from) = self.try_sources(url, sha256, &key, None, should_interrupt)?;
        Ok(Downloaded {
            url: url.to_owned(),
            path: transfer.cache_path,
            sha256: transfer.sha256,
            from_cache: false,
            from_url: Some(from),
        })
    }

    fn check_may_download(
        &self,
        url: &str,
        sha256: Option<Sha256Digest>,
    ) -> Result<(), download::Error> {
        match (sha256, self.offline) {
            (Some(digest), true) => Err(download::Error::NotInCache {
                url: url.to_owned(),
                sha256: digest,
                path: self.cache.archive_path(&digest),
            }),
            (None, true) => Err(download::Error::OfflineUnpinned {
                url: url.to_owned(),
            }),
            (None, false) if !self.allow_unpinned => Err(download::Error::Unpinned {
                url: url.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    fn lock(&self, url: &str, key: &str) -> Result<crate::cache::CacheLock, Error> {
        let lock_err = |source| Error::Cache {
            path: self.cache.root().join("locks"),
            source,
        };
        if let Some(lock) = self.cache.try_lock(key).map_err(lock_err)? {
            return Ok(lock);
        }
        tracing::info!(
            url,
            "another process is fetching this artifact; waiting for it"
        );
        progress::report(self.progress.as_ref(), url, Phase::WaitLock, 0, None);
        self.cache.lock(key).map_err(lock_err)
    }

    fn archive_into(
        &self,
        url: &str,
        sha256: Option<Sha256Digest>,
        options: &ExtractOptions,
        staging: &StagingDir,
        fetched: &mut Fetched,
        should_interrupt: &AtomicBool,
    ) -> Result<(), Error> {
        if let Some(digest) = sha256
            && self.cache.contains(&digest)
        {
            return self.extract_cached(url, digest, options, staging, fetched, should_interrupt);
        }
        self.check_may_download(url, sha256)?;
        let key = artifact_key(url, sha256);
        let _lock = self.lock(url, &key)?;
        if let Some(digest) = sha256
            && self.cache.contains(&digest)
        {
            return self.extract_cached(url, digest, options, staging, fetched, should_interrupt);
        }
        let (transfer, from) = self.try_sources(
            url,
            sha256,
            &key,
            Some((staging, options)),
            should_interrupt,
        )?;
        fetched.sha256 = Some(transfer.sha256);
        fetched.cache_path = Some(transfer.cache_path);
        fetched.extract = transfer.extract;
        fetched.from_url = Some(from);
        if sha256.is_none() {
            tracing::warn!(url, sha256 = %transfer.sha256, "unpinned download: pin this sha256");
        }
        Ok(())
    }

    /// Mirrors first, then the origin; the first verified transfer wins.
    fn try_sources(
        &self,
        url: &str,
        sha256: Option<Sha256Digest>,
        key: &str,
        extract_into: Option<(&StagingDir, &ExtractOptions)>,
        should_interrupt: &AtomicBool,
    ) -> Result<(Transfer, String), Error> {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(name) = file_name_of(url) {
            candidates.extend(self.mirrors.iter().map(|m| mirror_url(m, &name)));
        }
        candidates.push(url.to_owned());
        let mut failures: Vec<(String, download::Error)> = Vec::new();
        for candidate in candidates {
            if let Some((staging, _)) = extract_into {
                staging.reset()?;
            }
            match self.transfer_with_restart(
                &candidate,
                sha256,
                key,
                extract_into,
                should_interrupt,
            ) {
                Ok(t) => return Ok((t, candidate)),
                Err(Error::Download(e)) if e.is_per_source() => {
                    tracing::warn!(url = %candidate, error = %e, "source failed");
                    failures.push((candidate, e));
                }
                Err(e) => return Err(e),
            }
        }
        if failures.len() == 1 {
            let (_, e) = failures.remove(0);
            return Err(Error::Download(e));
        }
        Err(Error::Download(download::Error::AllSourcesFailed {
            attempts: failures,
        }))
    }

    /// One candidate URL; if resuming a partial file leads to a changed or wrong file, start
    /// once more from byte 0.
    fn transfer_with_restart(
        &self,
        candidate: &str,
        sha256: Option<Sha256Digest>,
        key: &str,
        extract_into: Option<(&StagingDir, &ExtractOptions)>,
        should_interrupt: &AtomicBool,
    ) -> Result<Transfer, Error> {
        let part = self.cache.partial_path(key);
        let validator_path = self.cache.validator_path(key);
        let mut allow_resume = true;
        loop {
            let result = self.transfer(
                candidate,
                sha256,
                &part,
                &validator_path,
                allow_resume,
                extract_into,
                should_interrupt,
            );
            match result {
                Err((
                    Error::Download(
                        download::Error::ContentChanged { .. }
                        | download::Error::HashMismatch { .. },
                    ),
                    true,
                )) if allow_resume => {
                    tracing::warn!(
                        url = candidate,
                        "resumed download did not verify; starting again from the first byte"
                    );
                    allow_resume = false;
                    if let Some((staging, _)) = extract_into {
                        staging.reset()?;
                    }
                }
                Err((e, _)) => {
                    // Keep a partial file only if it holds bytes to resume from.
                    if fs::metadata(&part).is_ok_and(|m| m.len() == 0) {
                        let _ = fs::remove_file(&part);
                        let _ = fs::remove_file(&validator_path);
                    }
                    return Err(e);
                }
                Ok(t) => return Ok(t),
            }
        }
    }

    /// Download `candidate` (resuming a partial file when allowed), hashing and optionally
    /// extracting in one pass. The error carries whether the attempt resumed.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &self,
        candidate: &str,
        sha256: Option<Sha256Digest>,
        part_path: &Path,
        validator_path: &Path,
        allow_resume: bool,
        extract_into: Option<(&StagingDir, &ExtractOptions)>,
        should_interrupt: &AtomicBool,
    ) -> Result<Transfer, (Error, bool)> {
        let cache_err = |path: &Path| {
            let path = path.to_owned();
            move |source| (Error::Cache { path, source }, false)
        };
        let part_dir = part_path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(part_dir).map_err(cache_err(part_dir))?;
        // Resume only a partial file that came from this very URL.
        let mut offset = 0u64;
        let mut validator = None;
        if allow_resume
            && let Ok(meta) = fs::metadata(part_path)
            && let Ok(recorded) = fs::read_to_string(validator_path)
        {
            let mut lines = recorded.lines();
            if lines.next() == Some(candidate) {
                offset = meta.len();
                validator = lines.next().filter(|v| !v.is_empty()).map(str::to_owned);
            }
        }
        let resumed = offset > 0;
        if resumed {
            tracing::info!(
                url = candidate,
                from = offset,
                "resuming a partial download"
            );
        }
        let part = OpenOptions::new()
            .create(true)
            .append(true)
            .open(part_path)
            .map_err(cache_err(part_path))?;
        if !resumed {
            part.set_len(0).map_err(cache_err(part_path))?;
        }
        let sink = TeeSink::new(
            Some(part),
            Some((validator_path.to_owned(), candidate.to_owned())),
        );
        let downloader = &self.downloader;
        let progress = self.progress.as_ref();
        let produce = |sink: &mut TeeSink| -> Result<ResponseInfo, download::Error> {
            if offset > 0 {
                replay_partial(part_path, offset, sink)?;
            }
            downloader.stream(
                candidate,
                offset,
                validator,
                sink,
                progress,
                should_interrupt,
            )
        };
        let outcome = pipeline::run(
            sink,
            produce,
            extract_into.map(|(s, o)| (s.path(), o)),
            sha256.is_some(),
            should_interrupt,
        );
        let (sink, extracted) = match (outcome.produced, outcome.extracted) {
            (Ok((_, sink)), extracted) => (sink, extracted),
            // The extractor stopped first: its error is the cause.
            (Err(download::Error::Sink { .. }), Some(Err(e))) => {
                return Err((Error::Extract(e), resumed));
            }
            (Err(download::Error::Sink { url, source }), _) if url.is_empty() => {
                return Err((
                    Error::Download(download::Error::Sink {
                        url: candidate.to_owned(),
                        source,
                    }),
                    resumed,
                ));
            }
            (Err(e), _) => return Err((Error::Download(e), resumed)),
        };
        let actual = sink.hasher.finish();
        drop(sink.part);
        if let Some(expected) = sha256
            && expected != actual
        {
            let _ = fs::remove_file(part_path);
            let _ = fs::remove_file(validator_path);
            return Err((
                Error::Download(download::Error::HashMismatch {
                    url: candidate.to_owned(),
                    expected,
                    actual,
                }),
                resumed,
            ));
        }
        // Unpinned bytes that do not even extract (a damaged xz block, a hostile entry) are not
        // kept: nothing vouches for them. A local failure (disk full, Ctrl-C) keeps them: they
        // are published below and the error returned after.
        let damaged =
            sha256.is_none() && matches!(&extracted, Some(Err(e)) if e.archive_at_fault());
        if damaged && let Some(Err(e)) = extracted {
            let _ = fs::remove_file(part_path);
            let _ = fs::remove_file(validator_path);
            return Err((Error::Extract(e), resumed));
        }
        // Verified: publish under the content address.
        let cache_path = self.cache.archive_path(&actual);
        let cache_dir = cache_path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(cache_dir).map_err(cache_err(cache_dir))?;
        fs::rename(part_path, &cache_path).map_err(cache_err(&cache_path))?;
        let _ = fs::remove_file(validator_path);
        tracing::info!(url = candidate, sha256 = %actual, "verified and cached");
        let extract = match extracted {
            None => None,
            Some(Ok(report)) => Some(report),
            Some(Err(e)) => return Err((Error::Extract(e), resumed)),
        };
        Ok(Transfer {
            sha256: actual,
            cache_path,
            extract,
        })
    }

    fn extract_cached(
        &self,
        url: &str,
        digest: Sha256Digest,
        options: &ExtractOptions,
        staging: &StagingDir,
        fetched: &mut Fetched,
        should_interrupt: &AtomicBool,
    ) -> Result<(), Error> {
        let path = self.cache.archive_path(&digest);
        tracing::info!(url, cache = %path.display(), "using the cached archive");
        let progress = self.progress.as_ref();
        let produce = |sink: &mut TeeSink| -> Result<ResponseInfo, download::Error> {
            let io_err = |source| download::Error::Io {
                path: path.clone(),
                source,
            };
            let mut file = File::open(&path).map_err(io_err)?;
            let total = file.metadata().map_err(io_err)?.len();
            let mut buf = vec![0u8; 256 * 1024];
            let mut done = 0u64;
            loop {
                if should_interrupt.load(Ordering::Relaxed) {
                    return Err(download::Error::Interrupted);
                }
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(e)),
                };
                sink.forward(&buf[..n])
                    .map_err(|source| download::Error::Sink {
                        url: url.to_owned(),
                        source,
                    })?;
                done += n as u64;
                progress::report(progress, url, Phase::Extract, done, Some(total));
            }
            Ok(ResponseInfo {
                total: Some(total),
                validator: None,
            })
        };
        let outcome = pipeline::run(
            TeeSink::new(None, None),
            produce,
            Some((staging.path(), options)),
            true,
            should_interrupt,
        );
        let (sink, extracted) = match (outcome.produced, outcome.extracted) {
            (Ok((_, sink)), extracted) => (sink, extracted),
            (Err(download::Error::Sink { .. }), Some(Err(e))) => return Err(Error::Extract(e)),
            (Err(e), _) => return Err(Error::Download(e)),
        };
        let actual = sink.hasher.finish();
        if actual != digest {
            // A corrupted cache entry: drop it so the next fetch downloads it again.
            let _ = fs::remove_file(&path);
            return Err(Error::Download(download::Error::HashMismatch {
                url: format!(
                    "{url} (cached copy {}; removed, fetch again)",
                    path.display()
                ),
                expected: digest,
                actual,
            }));
        }
        let report = match extracted {
            Some(Ok(report)) => report,
            Some(Err(e)) => return Err(Error::Extract(e)),
            None => ExtractReport::default(),
        };
        fetched.sha256 = Some(digest);
        fetched.from_cache = true;
        fetched.cache_path = Some(path);
        fetched.extract = Some(report);
        Ok(())
    }
}

fn artifact_key(url: &str, sha256: Option<Sha256Digest>) -> String {
    match sha256 {
        Some(d) => format!("sha256-{d}"),
        None => format!("url-{}", url_key(url)),
    }
}

/// Hash and forward the bytes a partial file already holds.
fn replay_partial(path: &Path, len: u64, sink: &mut TeeSink) -> Result<(), download::Error> {
    let io_err = |source| download::Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?.take(len);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        sink.forward(&buf[..n])
            .map_err(|source| download::Error::Sink {
                url: String::new(),
                source,
            })?;
    }
    Ok(())
}
