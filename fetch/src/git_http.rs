//! git's smart HTTP protocol over the fetcher's HTTP client, registered with libgit2 for
//! `http://` and `https://` remotes.
//!
//! libgit2 is built without a TLS stack; this subtransport gives git remotes the very client
//! that downloads archives: the same TLS (rustls), trust settings (`SSL_CERT_FILE`,
//! `SSL_CERT_DIR`, extra CAs, pinned certificates), proxies (`HTTPS_PROXY`, `NO_PROXY`, …) and
//! timeouts. Responses stream through a small bounded channel filled by a reader thread
//! ([`crate::reader_thread`]), so a pack is never held in memory whole and the interrupt flag is
//! seen within [`POLL`] even while the server is silent.
//!
//! libgit2 creates transports through a global registry, so the client of the fetch in
//! progress reaches the transport through a thread-local set around `Remote::fetch` (libgit2
//! runs the transport on the calling thread).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use reqwest::header;

use crate::reader_thread::{self, Channel, POLL, Recv};

/// The user agent git servers see (some only speak the smart protocol to `git/…`).
const USER_AGENT: &str = concat!("git/2.0 (kforge-fetch/", env!("CARGO_PKG_VERSION"), ")");

/// Why talking to a git server over HTTP(S) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The TLS handshake failed: the certificate is not trusted or not pinned, or the server
    /// does not speak TLS. The reason (e.g. `UnknownIssuer`) is at the end of the chain.
    #[error(
        "{url}: TLS handshake failed; if the server's certificate comes from a private CA, trust it with `--ca-cert FILE` (FetcherBuilder::ca_cert) or SSL_CERT_FILE"
    )]
    Tls {
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The request failed (connection refused, DNS, proxy, timeout).
    #[error("{url}: request failed")]
    Request {
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP status {status}{}", status_hint(*status))]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The server answered, but not with git's smart HTTP protocol (a web page, or a "dumb"
    /// HTTP repository).
    #[error(
        "{url}: not a git smart-HTTP answer (Content-Type {content_type:?}); check the repository URL (dumb-HTTP repositories are not supported)"
    )]
    NotSmart {
        /// The URL requested.
        url: String,
        /// The Content-Type received.
        content_type: String,
    },
    /// Reading the response failed part-way.
    #[error("{url}: reading the response failed")]
    Body {
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// libgit2 asked to push.
    #[error("{url}: pushing is not supported")]
    Push {
        /// The repository URL.
        url: String,
    },
}

fn status_hint(status: u16) -> &'static str {
    match status {
        404 => " (no repository at this URL?)",
        401 | 403 => " (the repository needs credentials: https://USER:TOKEN@HOST/…)",
        _ => "",
    }
}

impl HttpError {
    fn from_request(url: &str, source: reqwest::Error) -> HttpError {
        let url = url.to_owned();
        if crate::tls::is_tls_failure(&source) {
            HttpError::Tls { url, source }
        } else {
            HttpError::Request { url, source }
        }
    }
}

/// What the transport of the current fetch uses.
#[derive(Clone)]
struct Context {
    client: reqwest::blocking::Client,
    cancel: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<HttpError>>>,
}

impl Context {
    /// Keep the first failure: libgit2 only keeps a message.
    fn record(&self, error: HttpError) -> String {
        let message = error.to_string();
        if let Ok(mut slot) = self.failure.lock()
            && slot.is_none()
        {
            *slot = Some(error);
        }
        message
    }
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Register the transport for `http` and `https` (once per process).
fn register() -> Result<(), git2::Error> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for scheme in ["http", "https"] {
                // SAFETY: libgit2 requires registration to be serialized with the creation of
                // transports. The OnceLock runs this once; every fetch of this crate waits
                // for it before creating a remote.
                #[allow(unsafe_code)]
                let registered = unsafe { git2::transport::register(scheme, factory) };
                registered.map_err(|e| e.message().to_owned())?;
            }
            Ok(())
        })
        .clone()
        .map_err(|message| git2::Error::from_str(&message))
}

fn factory(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    let context = CONTEXT.with(|c| c.borrow().clone()).ok_or_else(|| {
        git2::Error::from_str("http(s) git remotes are fetched through kforge_fetch::Fetcher")
    })?;
    Transport::smart(
        remote,
        true,
        Subtransport {
            context,
            base: Arc::default(),
        },
    )
}

/// Clears the thread-local context and stops the interrupt watcher, even on panic.
struct Installed<'a> {
    done: &'a AtomicBool,
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        CONTEXT.with(|c| c.borrow_mut().take());
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Run `f` (a libgit2 fetch) with http(s) remotes going through `client`. Returns what `f`
/// returned and the transport's first failure, which carries the full cause.
pub(crate) fn with_client<T>(
    client: &reqwest::blocking::Client,
    should_interrupt: &AtomicBool,
    f: impl FnOnce() -> T,
) -> Result<(T, Option<HttpError>), git2::Error> {
    register()?;
    let context = Context {
        client: client.clone(),
        cancel: Arc::new(AtomicBool::new(false)),
        failure: Arc::default(),
    };
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let cancel = context.cancel.clone();
        let done = &done;
        scope.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if should_interrupt.load(Ordering::Relaxed) {
                    cancel.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(POLL / 2);
            }
        });
        CONTEXT.with(|c| *c.borrow_mut() = Some(context.clone()));
        let _installed = Installed { done };
        f()
    });
    let failure = context.failure.lock().ok().and_then(|mut f| f.take());
    Ok((result, failure))
}

struct Subtransport {
    context: Context,
    /// The repository URL after redirects of the ref advertisement.
    base: Arc<Mutex<Option<String>>>,
}

impl SmartSubtransport for Subtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let url = url.trim_end_matches('/');
        let request = match action {
            Service::UploadPackLs => Request {
                post: false,
                url: format!("{url}/info/refs?service=git-upload-pack"),
                content_type: "application/x-git-upload-pack-advertisement",
            },
            Service::UploadPack => {
                let base = self
                    .base
                    .lock()
                    .ok()
                    .and_then(|b| b.clone())
                    .unwrap_or_else(|| url.to_owned());
                Request {
                    post: true,
                    url: format!("{base}/git-upload-pack"),
                    content_type: "application/x-git-upload-pack-result",
                }
            }
            Service::ReceivePackLs | Service::ReceivePack => {
                let message = self.context.record(HttpError::Push {
                    url: url.to_owned(),
                });
                return Err(git2::Error::from_str(&message));
            }
        };
        Ok(Box::new(Stream {
            context: self.context.clone(),
            base: self.base.clone(),
            request: Some(request),
            body: Vec::new(),
            chunks: None,
            chunk: Vec::new(),
            pos: 0,
            finished: false,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

struct Request {
    post: bool,
    url: String,
    /// The Content-Type a smart server answers with.
    content_type: &'static str,
}

enum Chunk {
    Data(Vec<u8>),
    End,
    Failed(HttpError),
}

/// One request: libgit2 writes the body (for a POST), then reads the response.
struct Stream {
    context: Context,
    base: Arc<Mutex<Option<String>>>,
    request: Option<Request>,
    body: Vec<u8>,
    chunks: Option<Channel<Chunk>>,
    chunk: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl Stream {
    /// Send the request on a reader thread that feeds the response into a bounded channel.
    fn start(&mut self, request: Request) -> io::Result<Channel<Chunk>> {
        let client = self.context.client.clone();
        let body = std::mem::take(&mut self.body);
        let base = self.base.clone();
        reader_thread::spawn("kforge-git-http", move |tx| {
            let _span = tracing::debug_span!("git_http", url = %request.url).entered();
            let builder = if request.post {
                client
                    .post(&request.url)
                    .header(
                        header::CONTENT_TYPE,
                        "application/x-git-upload-pack-request",
                    )
                    .body(body)
            } else {
                client.get(&request.url)
            };
            let response = builder
                .header(header::ACCEPT, request.content_type)
                .header(header::USER_AGENT, USER_AGENT)
                .send();
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Chunk::Failed(HttpError::from_request(&request.url, e)));
                    return;
                }
            };
            let status = response.status();
            if !status.is_success() {
                let _ = tx.send(Chunk::Failed(HttpError::Status {
                    url: request.url,
                    status: status.as_u16(),
                }));
                return;
            }
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if !content_type.starts_with(request.content_type) {
                let _ = tx.send(Chunk::Failed(HttpError::NotSmart {
                    url: request.url,
                    content_type,
                }));
                return;
            }
            if !request.post {
                // Redirected: later requests go where the advertisement came from.
                let final_url = response.url().as_str();
                if final_url != request.url
                    && let Some(repo) = final_url.split("/info/refs").next()
                    && let Ok(mut slot) = base.lock()
                {
                    tracing::debug!(to = repo, "git repository redirected");
                    *slot = Some(repo.to_owned());
                }
            }
            let url = request.url;
            reader_thread::pump(
                response,
                &tx,
                64 * 1024,
                Chunk::Data,
                Chunk::End,
                |source| Chunk::Failed(HttpError::Body { url, source }),
            );
        })
    }
}

impl Read for Stream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.chunk.len() {
                let n = out.len().min(self.chunk.len() - self.pos);
                out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.context.cancel.load(Ordering::Relaxed) {
                return Err(io::Error::other("interrupted"));
            }
            if let Some(request) = self.request.take() {
                self.chunks = Some(self.start(request)?);
            }
            let Some(chunks) = &self.chunks else {
                return Ok(0);
            };
            match chunks.recv(&self.context.cancel) {
                Recv::Item(Chunk::Data(data)) => {
                    self.chunk = data;
                    self.pos = 0;
                }
                Recv::Item(Chunk::End) => self.finished = true,
                Recv::Item(Chunk::Failed(error)) => {
                    self.finished = true;
                    return Err(io::Error::other(self.context.record(error)));
                }
                Recv::Interrupted => return Err(io::Error::other("interrupted")),
                Recv::Closed => {
                    self.finished = true;
                    return Err(io::Error::other("the HTTP reader thread stopped"));
                }
            }
        }
    }
}

impl Write for Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.request.is_none() {
            return Err(io::Error::other("the request was already sent"));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
