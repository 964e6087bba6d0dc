//! Test helpers: a real HTTP server on loopback (tiny_http), a raw TCP server that cuts bodies,
//! and archive builders (benign and hostile).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kforge_fetch::Sha256Digest;

/// How a route answers.
#[derive(Clone)]
pub enum Route {
    /// 200 with the body; honours `Range` (206) and `If-Range` against a fixed ETag.
    Ranged(Vec<u8>),
    /// 200 with the whole body whatever the request says.
    NoRange(Vec<u8>),
    /// `status` for the first `times` requests, then like `Ranged`.
    FailFirst {
        times: usize,
        status: u16,
        body: Vec<u8>,
    },
    /// 302 to another path.
    Redirect(String),
    /// Wait before answering like `Ranged`.
    SlowHead { delay: Duration, body: Vec<u8> },
    /// Send the body in chunks with a pause after each (Range honoured).
    SlowBody {
        chunk: usize,
        pause: Duration,
        body: Vec<u8>,
    },
    /// Always this status.
    Status(u16),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub user_agent: Option<String>,
}

pub struct HttpServer {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub const ETAG: &str = "\"kforge-test-etag\"";

impl HttpServer {
    pub fn start(routes: Vec<(&str, Route)>) -> HttpServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let routes: Arc<HashMap<String, Route>> =
            Arc::new(routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect());
        let counters: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (s, seen2) = (server.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let routes = routes.clone();
                let counters = counters.clone();
                let seen = seen2.clone();
                std::thread::spawn(move || handle(request, &routes, &counters, &seen));
            }
        });
        HttpServer {
            base: format!("http://127.0.0.1:{port}"),
            seen,
            server,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

/// A reader that pauses after each chunk (a slow server).
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    pause: Duration,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.data.len() {
            return Ok(0);
        }
        if self.pos > 0 {
            std::thread::sleep(self.pause);
        }
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn ranged_response(
    request: &tiny_http::Request,
    body: &[u8],
) -> (u16, Vec<tiny_http::Header>, usize, Vec<u8>) {
    let get = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
    };
    let mut start = 0usize;
    let if_range_ok = get("If-Range").is_none_or(|v| v == ETAG);
    if let Some(range) = get("Range")
        && if_range_ok
        && let Some(from) = range
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
        && let Ok(from) = from.parse::<usize>()
        && from <= body.len()
    {
        start = from;
    }
    let mut headers = vec![header("ETag", ETAG), header("Accept-Ranges", "bytes")];
    if start > 0 {
        headers.push(header(
            "Content-Range",
            &format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
        ));
        (206, headers, start, body[start..].to_vec())
    } else {
        (200, headers, 0, body.to_vec())
    }
}

fn handle(
    request: tiny_http::Request,
    routes: &HashMap<String, Route>,
    counters: &Mutex<HashMap<String, usize>>,
    seen: &Mutex<Vec<Seen>>,
) {
    let path = request.url().to_owned();
    let get = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
    };
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: get("Range"),
        if_range: get("If-Range"),
        user_agent: get("User-Agent"),
    });
    let count = {
        let mut c = counters.lock().unwrap();
        let n = c.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let send = |request: tiny_http::Request,
                status: u16,
                headers: Vec<tiny_http::Header>,
                body: Vec<u8>| {
        let len = body.len();
        let response = tiny_http::Response::new(
            status.into(),
            headers,
            std::io::Cursor::new(body),
            Some(len),
            None,
        )
        .with_chunked_threshold(usize::MAX);
        let _ = request.respond(response);
    };
    match routes.get(&path) {
        None => send(request, 404, vec![], b"not found".to_vec()),
        Some(Route::Status(s)) => send(request, *s, vec![], b"status".to_vec()),
        Some(Route::Redirect(to)) => send(request, 302, vec![header("Location", to)], vec![]),
        Some(Route::NoRange(body)) => send(request, 200, vec![], body.clone()),
        Some(Route::Ranged(body)) => {
            let (status, headers, _, part) = ranged_response(&request, body);
            send(request, status, headers, part)
        }
        Some(Route::FailFirst {
            times,
            status,
            body,
        }) => {
            if count <= *times {
                send(request, *status, vec![], b"try later".to_vec())
            } else {
                let (st, headers, _, part) = ranged_response(&request, body);
                send(request, st, headers, part)
            }
        }
        Some(Route::SlowHead { delay, body }) => {
            std::thread::sleep(*delay);
            let (status, headers, _, part) = ranged_response(&request, body);
            send(request, status, headers, part)
        }
        Some(Route::SlowBody { chunk, pause, body }) => {
            let (status, headers, _, part) = ranged_response(&request, body);
            let len = part.len();
            let response = tiny_http::Response::new(
                status.into(),
                headers,
                Trickle {
                    data: part,
                    pos: 0,
                    chunk: *chunk,
                    pause: *pause,
                },
                Some(len),
                None,
            )
            .with_chunked_threshold(usize::MAX);
            let _ = request.respond(response);
        }
    }
}

/// What the raw server does on the n-th connection.
#[derive(Debug, Clone, Copy)]
pub enum Conn {
    /// Send headers announcing the full length, then `n` bytes of the body, then close.
    CutAfter(usize),
    /// Answer fully, honouring `Range` if `ranges` is true.
    Full,
}

/// A raw HTTP/1.1 server on loopback: each connection follows the next step of a script (the
/// last step repeats). Records the `Range` header of every request.
pub struct CuttingServer {
    pub url: String,
    pub ranges_seen: Arc<Mutex<Vec<Option<String>>>>,
    pub connections: Arc<AtomicUsize>,
}

impl CuttingServer {
    pub fn start(body: Vec<u8>, script: Vec<Conn>, honour_ranges: bool) -> CuttingServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ranges_seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let connections = Arc::new(AtomicUsize::new(0));
        let (seen, conns) = (ranges_seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let n = conns.fetch_add(1, Ordering::SeqCst);
                let step = script[n.min(script.len() - 1)];
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let range = text
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    .map(|l| l[6..].trim().to_owned());
                seen.lock().unwrap().push(range.clone());
                let start = range
                    .as_deref()
                    .filter(|_| honour_ranges)
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|r| r.parse::<usize>().ok())
                    .unwrap_or(0);
                let total = body.len();
                let head = if start > 0 {
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{total}\r\nETag: \"raw\"\r\nConnection: close\r\n\r\n",
                        total - start,
                        total - 1
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n{}Connection: close\r\n\r\n",
                        if honour_ranges {
                            "ETag: \"raw\"\r\nAccept-Ranges: bytes\r\n"
                        } else {
                            ""
                        }
                    )
                };
                let _ = stream.write_all(head.as_bytes());
                let rest = &body[start..];
                let send = match step {
                    Conn::CutAfter(n) => &rest[..n.min(rest.len())],
                    Conn::Full => rest,
                };
                let _ = stream.write_all(send);
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        CuttingServer {
            url: format!("http://127.0.0.1:{port}/linux.tar.gz"),
            ranges_seen,
            connections,
        }
    }
}

/// Deterministic, poorly compressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A small source tree as a tar: `proj-1.0/` with an executable script, a C file, a big
/// file, a nested dir, a relative symlink, a hard link, a long name, fixed mtimes.
pub fn sample_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], mode: u32, mtime: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    add(
        "proj-1.0/configure",
        b"#!/bin/sh\necho configured\n",
        0o755,
        1_000_000_000,
    );
    add(
        "proj-1.0/src/main.c",
        b"int main(void) { return 0; }\n",
        0o644,
        1_100_000_000,
    );
    add(
        "proj-1.0/data/blob.bin",
        &noise(300_000, 1),
        0o644,
        1_200_000_000,
    );
    let long = format!(
        "proj-1.0/{}/{}.h",
        "very-long-directory-name".repeat(4),
        "x".repeat(60)
    );
    add(&long, b"/* long */\n", 0o644, 1_200_000_000);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "proj-1.0/src/link.c", "main.c")
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_mode(0o644);
    b.append_link(&mut h, "proj-1.0/src/hard.c", "proj-1.0/src/main.c")
        .unwrap();
    b.into_inner().unwrap()
}

pub fn long_name() -> String {
    format!(
        "{}/{}.h",
        "very-long-directory-name".repeat(4),
        "x".repeat(60)
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

pub fn sha(data: &[u8]) -> Sha256Digest {
    Sha256Digest::of_bytes(data)
}

/// Check the tree extracted from `sample_tar` with one component stripped.
pub fn assert_sample_tree(root: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let configure = root.join("configure");
    assert_eq!(
        std::fs::read_to_string(&configure).unwrap(),
        "#!/bin/sh\necho configured\n"
    );
    let meta = std::fs::metadata(&configure).unwrap();
    assert_eq!(meta.permissions().mode() & 0o111, 0o111, "exec bits kept");
    assert_eq!(meta.mtime(), 1_000_000_000, "mtime kept");
    assert_eq!(
        std::fs::read(root.join("data/blob.bin")).unwrap(),
        noise(300_000, 1)
    );
    assert_eq!(
        std::fs::read_link(root.join("src/link.c")).unwrap(),
        PathBuf::from("main.c")
    );
    let main = std::fs::metadata(root.join("src/main.c")).unwrap();
    let hard = std::fs::metadata(root.join("src/hard.c")).unwrap();
    assert_eq!(main.ino(), hard.ino(), "hard link shares the inode");
    assert!(root.join(long_name()).is_file(), "long name extracted");
}

/// Names of entries in `dir` (to check no temporary directory was left behind).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
