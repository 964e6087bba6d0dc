//! Downloading one URL: `http`, `https` (reqwest with rustls) and `file`, with retries and
//! backoff for transient failures, `Range`/`If-Range` resume, timeouts and interruption.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::{self, HeaderMap};

use crate::Sha256Digest;
use crate::progress::{self, Phase, ProgressFn};
use crate::reader_thread::{self, Recv};

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The URL scheme is not `http`, `https` or `file`.
    #[error(
        "unsupported URL scheme {scheme:?} in {url} (use http://, https:// or file://; for git and Mercurial use a git or hg source)"
    )]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP status {status} (after {attempts} attempt(s))")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The request failed (connection refused, DNS, TLS, timeout before the response).
    #[error("{url}: request failed after {attempts} attempt(s)")]
    Request {
        /// The URL.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed: the server's certificate is not trusted or not pinned, or it
    /// does not speak TLS. Not retried; the reason (e.g. `UnknownIssuer`) ends the cause chain.
    #[error(
        "{url}: TLS handshake failed; if the server's certificate comes from a private CA, trust it with `--ca-cert FILE` (FetcherBuilder::ca_cert) or SSL_CERT_FILE"
    )]
    Tls {
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The body stopped before its end and could not be resumed.
    #[error("{url}: download stopped at byte {received}{} after {attempts} attempt(s): {reason}", expected.map(|e| format!(" of {e}")).unwrap_or_default())]
    Incomplete {
        /// The URL.
        url: String,
        /// Bytes received.
        received: u64,
        /// Bytes expected, if the server said.
        expected: Option<u64>,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The resource changed between two attempts (its ETag or Last-Modified differs).
    #[error(
        "{url}: the file changed on the server during the download ({before} -> {after}); start again"
    )]
    ContentChanged {
        /// The URL.
        url: String,
        /// Validator of the first response.
        before: String,
        /// Validator of the later response.
        after: String,
    },
    /// The bytes do not have the pinned SHA-256.
    #[error(
        "sha256 mismatch for {url}\n  expected: {expected}\n  actual:   {actual}\nnothing was kept; if the new content is trusted, pin the actual hash"
    )]
    HashMismatch {
        /// The URL.
        url: String,
        /// The pinned digest.
        expected: Sha256Digest,
        /// The digest of what was received.
        actual: Sha256Digest,
    },
    /// Offline mode and the artifact is not cached.
    #[error(
        "offline mode: {url} (sha256 {sha256}) is not in the cache (looked for {path}); fetch it once online or copy the file there"
    )]
    NotInCache {
        /// The URL.
        url: String,
        /// The pinned digest.
        sha256: Sha256Digest,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Offline mode cannot fetch an unpinned archive.
    #[error(
        "offline mode: {url} has no pinned sha256, so the cache cannot be searched for it; pin it with its sha256"
    )]
    OfflineUnpinned {
        /// The URL.
        url: String,
    },
    /// An unpinned fetch was not explicitly allowed.
    #[error(
        "{url} has no pinned sha256; pass the expected sha256, or allow an unpinned fetch explicitly (it reports the hash to pin)"
    )]
    Unpinned {
        /// The URL.
        url: String,
    },
    /// Every mirror and the origin failed.
    #[error("every source failed:{}", attempts.iter().map(|(u, e)| format!("\n  {u}: {}", with_causes(e))).collect::<String>())]
    AllSourcesFailed {
        /// Each URL tried with its error.
        attempts: Vec<(String, Error)>,
    },
    /// Reading a local file (a `file://` URL, the cache) failed.
    #[error("reading {path} failed")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing the received bytes failed (cache file or the consumer of a streaming fetch).
    #[error("{url}: storing the received bytes failed")]
    Sink {
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The HTTP client could not be built.
    #[error("building the HTTP client failed")]
    Client(#[source] reqwest::Error),
    /// The helper thread of a download could not be started.
    #[error("starting the download thread failed")]
    Thread(#[source] io::Error),
    /// The interrupt flag was raised.
    #[error("download interrupted")]
    Interrupted,
}

/// `error` followed by each error of its cause chain, for the one-line entries of
/// [`Error::AllSourcesFailed`] (which has no single source to chain).
fn with_causes(error: &Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Error {
    /// Whether trying another mirror or the origin could help.
    pub(crate) fn is_per_source(&self) -> bool {
        // Local failures (cache disk full, interrupted) would fail with any source.
        !matches!(
            self,
            Error::Interrupted
                | Error::Sink { .. }
                | Error::Client(_)
                | Error::Thread(_)
                | Error::Unpinned { .. }
        )
    }
}

/// How transient failures (connect errors, timeouts, 5xx, 408, 429, bodies cut short) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per URL, the first included (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
    /// Upper bound of a wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What the server told about the resource.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResponseInfo {
    /// Full size of the resource, when known.
    pub total: Option<u64>,
    /// Strong ETag or Last-Modified, usable in `If-Range`.
    pub validator: Option<String>,
}

/// Receives the bytes of a download, in order, each byte once.
pub(crate) trait BodySink {
    /// Called when a response starts (and again after each resumed attempt).
    fn response(&mut self, info: &ResponseInfo) -> io::Result<()>;
    /// The next bytes.
    fn data(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// The HTTP side of a fetcher.
#[derive(Debug, Clone)]
pub(crate) struct Downloader {
    client: reqwest::blocking::Client,
    pub(crate) retry: RetryPolicy,
}

enum Attempt {
    Done,
    Transient(Failure),
    Fatal(Error),
}

/// What the helper thread of one attempt sends: the response head, then the body.
enum Message {
    Head(Result<Head, reqwest::Error>),
    Data(Vec<u8>),
    End,
    Failed(io::Error),
}

/// The parts of a response the caller looks at.
struct Head {
    status: u16,
    headers: HeaderMap,
    content_length: Option<u64>,
}

/// Why an attempt ended when its helper thread stopped without saying why.
const STOPPED: &str = "the download thread stopped unexpectedly";

enum Failure {
    Status(u16),
    Request(reqwest::Error),
    Body(String),
}

impl Downloader {
    pub(crate) fn new(
        user_agent: &str,
        connect_timeout: Duration,
        read_timeout: Duration,
        retry: RetryPolicy,
        trust: &crate::tls::Trust,
    ) -> Result<Downloader, Error> {
        let builder = reqwest::blocking::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(connect_timeout)
            // In the blocking client this bounds each step: the response head and every read.
            .timeout(read_timeout);
        let client = trust.configure(builder).build().map_err(Error::Client)?;
        Ok(Downloader { client, retry })
    }

    /// The HTTP client (also the transport of git's http and https remotes).
    pub(crate) fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// Deliver the bytes of `url` from `offset` on to `sink`, resuming after transient failures.
    pub(crate) fn stream(
        &self,
        url: &str,
        offset: u64,
        validator: Option<String>,
        sink: &mut dyn BodySink,
        progress: Option<&ProgressFn>,
        should_interrupt: &AtomicBool,
    ) -> Result<ResponseInfo, Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        match parsed.scheme() {
            "http" | "https" => {
                self.stream_http(url, offset, validator, sink, progress, should_interrupt)
            }
            "file" => {
                let path = parsed.to_file_path().map_err(|()| Error::InvalidUrl {
                    url: url.to_owned(),
                    reason: "not a local absolute path".to_owned(),
                })?;
                stream_file(url, &path, offset, sink, progress, should_interrupt)
            }
            scheme => Err(Error::UnsupportedScheme {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            }),
        }
    }

    fn stream_http(
        &self,
        url: &str,
        offset: u64,
        mut validator: Option<String>,
        sink: &mut dyn BodySink,
        progress: Option<&ProgressFn>,
        should_interrupt: &AtomicBool,
    ) -> Result<ResponseInfo, Error> {
        let _span = tracing::debug_span!("download", url).entered();
        let mut pos = offset;
        let mut info = ResponseInfo::default();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if should_interrupt.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let outcome = self.attempt(
                url,
                &mut pos,
                &mut validator,
                &mut info,
                sink,
                progress,
                should_interrupt,
            );
            let failure = match outcome {
                Attempt::Done => return Ok(info),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Transient(f) => f,
            };
            if attempt >= self.retry.attempts.max(1) {
                return Err(match failure {
                    Failure::Status(status) => Error::HttpStatus {
                        url: url.to_owned(),
                        status,
                        attempts: attempt,
                    },
                    Failure::Request(source) => Error::Request {
                        url: url.to_owned(),
                        attempts: attempt,
                        source,
                    },
                    Failure::Body(reason) => Error::Incomplete {
                        url: url.to_owned(),
                        received: pos,
                        expected: info.total,
                        attempts: attempt,
                        reason,
                    },
                });
            }
            let wait = self.retry.backoff(attempt);
            match &failure {
                Failure::Status(s) => tracing::warn!(
                    url,
                    status = s,
                    attempt,
                    ?wait,
                    "transient HTTP status, retrying"
                ),
                Failure::Request(e) => {
                    tracing::warn!(url, error = %e, attempt, ?wait, "request failed, retrying")
                }
                Failure::Body(e) => {
                    tracing::warn!(url, error = %e, received = pos, attempt, ?wait, "download cut short, resuming")
                }
            }
            sleep_interruptibly(wait, should_interrupt)?;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &self,
        url: &str,
        pos: &mut u64,
        validator: &mut Option<String>,
        info: &mut ResponseInfo,
        sink: &mut dyn BodySink,
        progress: Option<&ProgressFn>,
        should_interrupt: &AtomicBool,
    ) -> Attempt {
        let mut request = self.client.get(url);
        if *pos > 0 {
            request = request.header(header::RANGE, format!("bytes={}-", *pos));
            if let Some(v) = validator.as_deref() {
                request = request.header(header::IF_RANGE, v);
            }
        }
        // The exchange runs on a helper thread so that the interrupt flag is seen within
        // reader_thread::POLL even while the server is silent.
        let channel = reader_thread::spawn("kforge-download", move |tx| {
            let response = match request.send() {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Message::Head(Err(e)));
                    return;
                }
            };
            let head = Head {
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                content_length: response.content_length(),
            };
            if tx.send(Message::Head(Ok(head))).is_err() {
                return;
            }
            reader_thread::pump(
                response,
                &tx,
                256 * 1024,
                Message::Data,
                Message::End,
                Message::Failed,
            );
        });
        let channel = match channel {
            Ok(c) => c,
            Err(source) => return Attempt::Fatal(Error::Thread(source)),
        };
        let response = match channel.recv(should_interrupt) {
            Recv::Item(Message::Head(Ok(head))) => head,
            Recv::Item(Message::Head(Err(e))) if e.is_builder() || e.is_redirect() => {
                return Attempt::Fatal(Error::Request {
                    url: url.to_owned(),
                    attempts: 1,
                    source: e,
                });
            }
            // A certificate is not going to change between attempts.
            Recv::Item(Message::Head(Err(e))) if crate::tls::is_tls_failure(&e) => {
                return Attempt::Fatal(Error::Tls {
                    url: url.to_owned(),
                    source: e,
                });
            }
            Recv::Item(Message::Head(Err(e))) => return Attempt::Transient(Failure::Request(e)),
            Recv::Interrupted => return Attempt::Fatal(Error::Interrupted),
            Recv::Item(_) | Recv::Closed => {
                return Attempt::Transient(Failure::Body(STOPPED.into()));
            }
        };
        let status = response.status;
        let new_validator = validator_of(&response.headers);
        // Bytes of this body to drop because we already have them.
        let mut skip = 0u64;
        match status {
            200 => {
                if *pos > 0 {
                    if let (Some(old), Some(new)) = (validator.as_deref(), new_validator.as_deref())
                        && old != new
                    {
                        return Attempt::Fatal(Error::ContentChanged {
                            url: url.to_owned(),
                            before: old.to_owned(),
                            after: new.to_owned(),
                        });
                    }
                    tracing::debug!(
                        url,
                        from = *pos,
                        "server ignored Range: re-reading from the start"
                    );
                    skip = *pos;
                }
                info.total = response.content_length;
            }
            206 => {
                let range = response
                    .headers
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range);
                match range {
                    Some((start, total)) if start <= *pos => {
                        skip = *pos - start;
                        info.total = total;
                    }
                    _ => {
                        return Attempt::Transient(Failure::Body(format!(
                            "206 response with unusable Content-Range for a request from byte {}",
                            *pos
                        )));
                    }
                }
            }
            416 if *pos > 0 => {
                // Range not satisfiable: complete if the resource is exactly as long as what we have.
                let total = response
                    .headers
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if total == Some(*pos) {
                    info.total = total;
                    return Attempt::Done;
                }
                return Attempt::Fatal(Error::Incomplete {
                    url: url.to_owned(),
                    received: *pos,
                    expected: total,
                    attempts: 1,
                    reason: "the server refuses to resume (416) and the partial file does not match its size".to_owned(),
                });
            }
            408 | 429 | 500..=599 => return Attempt::Transient(Failure::Status(status)),
            _ => {
                return Attempt::Fatal(Error::HttpStatus {
                    url: url.to_owned(),
                    status,
                    attempts: 1,
                });
            }
        }
        if validator.is_none() {
            *validator = new_validator.clone();
        }
        info.validator = validator.clone();
        if let Err(source) = sink.response(info) {
            return Attempt::Fatal(Error::Sink {
                url: url.to_owned(),
                source,
            });
        }
        loop {
            let data = match channel.recv(should_interrupt) {
                Recv::Item(Message::Data(data)) => data,
                Recv::Item(Message::End) => break,
                Recv::Item(Message::Failed(e)) => {
                    return Attempt::Transient(Failure::Body(e.to_string()));
                }
                Recv::Interrupted => return Attempt::Fatal(Error::Interrupted),
                Recv::Item(Message::Head(_)) | Recv::Closed => {
                    return Attempt::Transient(Failure::Body(STOPPED.into()));
                }
            };
            let mut chunk = &data[..];
            if skip > 0 {
                let drop = skip.min(chunk.len() as u64) as usize;
                chunk = &chunk[drop..];
                skip -= drop as u64;
            }
            if chunk.is_empty() {
                continue;
            }
            if let Err(source) = sink.data(chunk) {
                return Attempt::Fatal(Error::Sink {
                    url: url.to_owned(),
                    source,
                });
            }
            *pos += chunk.len() as u64;
            progress::report(progress, url, Phase::Download, *pos, info.total);
        }
        match info.total {
            Some(total) if *pos < total => Attempt::Transient(Failure::Body(format!(
                "connection closed after {} of {total} bytes",
                *pos
            ))),
            _ if skip > 0 => Attempt::Transient(Failure::Body(
                "body shorter than the bytes already received".to_owned(),
            )),
            _ => Attempt::Done,
        }
    }
}

fn stream_file(
    url: &str,
    path: &std::path::Path,
    offset: u64,
    sink: &mut dyn BodySink,
    progress: Option<&ProgressFn>,
    should_interrupt: &AtomicBool,
) -> Result<ResponseInfo, Error> {
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let total = file.metadata().map_err(io_err)?.len();
    file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
    let info = ResponseInfo {
        total: Some(total),
        validator: None,
    };
    let sink_err = |source| Error::Sink {
        url: url.to_owned(),
        source,
    };
    sink.response(&info).map_err(sink_err)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut pos = offset;
    loop {
        if should_interrupt.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        sink.data(&buf[..n]).map_err(sink_err)?;
        pos += n as u64;
        progress::report(progress, url, Phase::Download, pos, Some(total));
    }
    Ok(info)
}

fn sleep_interruptibly(wait: Duration, should_interrupt: &AtomicBool) -> Result<(), Error> {
    let step = Duration::from_millis(20);
    let mut left = wait;
    while !left.is_zero() {
        if should_interrupt.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let d = left.min(step);
        std::thread::sleep(d);
        left -= d;
    }
    Ok(())
}

/// A strong ETag, else Last-Modified: what `If-Range` accepts.
fn validator_of(headers: &HeaderMap) -> Option<String> {
    if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok())
        && !etag.starts_with("W/")
    {
        return Some(etag.to_owned());
    }
    headers
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

/// The file name at the end of a URL's path (for mirrors: `MIRROR/NAME`).
pub(crate) fn file_name_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let name = parsed.path_segments()?.rev().find(|s| !s.is_empty())?;
    Some(name.to_owned())
}

/// `base` joined with `name`, with exactly one slash between.
pub(crate) fn mirror_url(base: &str, name: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, None)));
        assert_eq!(parse_content_range("items 0-9/10"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(350));
    }

    #[test]
    fn mirror_names() {
        assert_eq!(
            file_name_of("https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.tar.xz?x=1")
                .as_deref(),
            Some("linux-6.1.tar.xz")
        );
        assert_eq!(mirror_url("http://m/dl/", "a.tar"), "http://m/dl/a.tar");
    }
}
