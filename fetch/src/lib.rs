//! kforge-fetch: a [`Source`] becomes a verified local tree.
//!
//! A source is an archive URL (`http`, `https`, `file`) pinned by SHA-256, a git repository
//! (through libgit2), a Mercurial repository (through the `hg` command) or a local directory.
//! A [`Fetcher`] fetches it into a destination directory that must not exist yet:
//!
//! - archives go through a **content-addressed cache** (`archives/sha256/<hex>`); nothing is
//!   published under a final name (cache entry or destination) before its hash matched, and a
//!   mismatch reports both hashes and keeps nothing. An unpinned fetch must be allowed
//!   explicitly ([`FetcherBuilder::allow_unpinned`]) and reports the hash to pin;
//! - downloads are **one streaming pass**: bytes are hashed, written to the cache's partial
//!   file and unpacked while they arrive (xz blocks decoded on all cores); the tree is renamed
//!   onto the destination only after the hash matched;
//! - transient failures (connect errors, timeouts, 5xx, bodies cut short) are retried with
//!   backoff and **resumed** with `Range`/`If-Range`; mirrors are tried before the origin; an
//!   offline mode uses the cache only; concurrent fetchers of one artifact (threads or
//!   processes) serialize on a file lock and leave one correct entry;
//! - **extraction is defensive** ([`extract()`]): compression detected by magic bytes (gzip, xz,
//!   bzip2, zstd, none), `pax_global_header` treated as metadata, `strip_components`, exec bits
//!   and mtimes kept; absolute paths, `..`, escaping symlinks and hard links are refused with
//!   an error naming the entry; device nodes and FIFOs are not created, setuid/setgid dropped;
//!   memory stays bounded (files over 16 MiB and GNU sparse files are streamed to disk, holes
//!   kept; a sparse file over [`extract::SPARSE_FILE_MAX`] is refused);
//! - git sources use a cached bare mirror and can pin the commit; Mercurial sources check that
//!   `hg` is installed and recent enough ([`hg::check_installed`]);
//! - [`PatchSet`] applies patch files or a quilt `series` with `patch -pN` before publishing.
//!
//! Long operations take an interrupt flag (`&AtomicBool`) and report through a progress
//! callback; every step emits `tracing` spans. The library never prints.
//!
//! # https: one TLS stack, one set of settings for every source kind
//!
//! Archives, mirrors, git remotes (`https://`, `http://`: libgit2 is built without TLS, and its
//! http transport is replaced by the fetcher's own HTTP client) and Mercurial repositories all
//! follow the same settings:
//!
//! | setting | effect |
//! |---|---|
//! | [`FetcherBuilder::ca_cert`] | also trust the CA certificates of a PEM file |
//! | [`FetcherBuilder::pinned_cert`] | accept only servers presenting one of these certificates |
//! | `SSL_CERT_FILE`, `SSL_CERT_DIR` | replace the system's root certificates (as OpenSSL, curl, git) |
//! | `HTTPS_PROXY` / `https_proxy` | proxy for `https://` URLs (CONNECT tunnel) |
//! | `http_proxy` (`HTTP_PROXY` outside CGI), `ALL_PROXY` / `all_proxy` | proxy for `http://` URLs, for both |
//! | `NO_PROXY` / `no_proxy` | comma-separated hosts, `.domains` and networks reached directly (`*` for all) |
//!
//! Set the variables before building the fetcher. `GIT_SSL_CAINFO`, `CURL_CA_BUNDLE` and git's
//! `http.*` settings are not read. Mercurial receives the settings as `--config` values
//! (`web.cacerts`, which would otherwise come from Debian's `/etc/mercurial/hgrc.d/cacerts.rc`,
//! or `hostsecurity.HOST:fingerprints`) and its `http_proxy` variable, set or removed by the same
//! proxy rules. A certificate failure is not retried; the error names the URL and its cause
//! chain ends with the reason (`UnknownIssuer`, or "not a pinned certificate" with the presented
//! certificate's sha256).
//!
//! # Example
//!
//! ```
//! use std::sync::atomic::AtomicBool;
//! use kforge_fetch::{Fetcher, Sha256Digest, Source};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! // A small .tar.gz, as a release would publish it.
//! let archive_path = tmp.path().join("hello-1.0.tar.gz");
//! let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
//!     std::fs::File::create(&archive_path)?,
//!     flate2::Compression::fast(),
//! ));
//! let mut header = tar::Header::new_gnu();
//! header.set_size(6);
//! header.set_mode(0o755);
//! tar.append_data(&mut header, "hello-1.0/configure", &b"#!/bin/sh\n"[..6])?;
//! tar.into_inner()?.finish()?;
//! let sha256 = Sha256Digest::of_reader(std::fs::File::open(&archive_path)?)?;
//!
//! let fetcher = Fetcher::builder().cache_dir(tmp.path().join("cache")).build()?;
//! let source = Source::archive(format!("file://{}", archive_path.display()), sha256)
//!     .with_strip_components(1);
//! let dest = tmp.path().join("hello");
//! let fetched = fetcher.fetch(&source, &dest, &AtomicBool::new(false))?;
//! assert_eq!(fetched.sha256, Some(sha256));
//! assert!(dest.join("configure").is_file());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cache;
mod command;
pub mod compression;
mod copy;
mod digest;
pub mod download;
pub mod extract;
mod fetcher;
pub mod git;
mod git_http;
pub mod hg;
pub mod patch;
mod pipeline;
mod progress;
mod proxy;
mod reader_thread;
mod source;
mod staging;
pub mod tls;
mod write_pool;
mod xz;

pub use cache::{Cache, CacheLock};
pub use compression::Compression;
pub use digest::{ParseDigestError, Sha256Digest, Sha256Hasher};
pub use download::RetryPolicy;
pub use extract::{ExtractOptions, ExtractReport, extract};
pub use fetcher::{Downloaded, Error, Fetched, Fetcher, FetcherBuilder};
pub use patch::{PatchFile, PatchSet};
pub use progress::{Phase, Progress, ProgressFn};
pub use source::Source;
pub use staging::StagingError;
