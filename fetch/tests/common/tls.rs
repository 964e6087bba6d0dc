//! TLS test helpers, all on loopback and started and stopped by the test: a throwaway CA and
//! server certificate (rcgen), an HTTPS server (rustls) serving static routes and git's
//! smart HTTP through `git http-backend`, `hg serve --certificate`, and a CONNECT proxy that
//! records the tunnels it carries.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A throwaway CA and a server certificate it signed for `127.0.0.1` and `localhost`, written
/// as PEM files.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA certificate (what a client trusts).
    pub ca_pem: PathBuf,
    /// The server certificate alone (what a client pins).
    pub cert_pem: PathBuf,
    /// The server key then certificate (what `hg serve --certificate` wants).
    pub key_and_cert_pem: PathBuf,
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("kforge test CA {name}"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer).unwrap();

        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, ca_cert.pem()).unwrap();
        let cert_pem = dir.path().join("server.pem");
        std::fs::write(&cert_pem, cert.pem()).unwrap();
        let key_and_cert_pem = dir.path().join("server-key-and-cert.pem");
        std::fs::write(
            &key_and_cert_pem,
            format!("{}{}", key.serialize_pem(), cert.pem()),
        )
        .unwrap();
        Pki {
            dir,
            ca_pem,
            cert_pem,
            key_and_cert_pem,
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![self.cert_der.clone()], key)
        .unwrap();
        Arc::new(config)
    }
}

/// How a path answers.
#[derive(Clone)]
pub enum Route {
    /// 200 with the body, `Range` honoured (206) against a fixed ETag.
    Ranged(Vec<u8>),
    /// The first `times` requests get the full length announced and only `cut` bytes before
    /// the connection drops; later ones behave like `Ranged`.
    CutFirst {
        times: usize,
        cut: usize,
        body: Vec<u8>,
    },
    /// git's smart HTTP for the repositories under this directory (`git http-backend`).
    Git(PathBuf),
    /// Read the request, then say nothing for a minute.
    Silent,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
}

/// An HTTPS server on 127.0.0.1. Routes match on the longest path prefix.
pub struct HttpsServer {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// TLS handshakes that completed.
    pub handshakes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub const ETAG: &str = "\"kforge-tls-etag\"";

impl HttpsServer {
    pub fn start(pki: &Pki, routes: Vec<(&str, Route)>) -> HttpsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = pki.server_config();
        let routes: Arc<Vec<(String, Route)>> =
            Arc::new(routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (seen2, handshakes2, stop2) = (seen.clone(), handshakes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let (config, routes, seen, handshakes, counters) = (
                    config.clone(),
                    routes.clone(),
                    seen2.clone(),
                    handshakes2.clone(),
                    counters.clone(),
                );
                std::thread::spawn(move || {
                    serve_connection(tcp, config, &routes, &seen, &handshakes, &counters)
                });
            }
        });
        HttpsServer {
            port,
            seen,
            handshakes,
            stop,
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

fn serve_connection(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    routes: &[(String, Route)],
    seen: &Mutex<Vec<Seen>>,
    handshakes: &AtomicUsize,
    counters: &Mutex<HashMap<String, usize>>,
) {
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // The handshake; a client that refuses the certificate ends here.
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    handshakes.fetch_add(1, Ordering::SeqCst);
    let Some(head) = read_head(&mut tls) else {
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if request.parse(&head).is_err() {
        return;
    }
    let method = request.method.unwrap_or_default().to_owned();
    let target = request.path.unwrap_or_default().to_owned();
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let range = header("Range");
    let if_range = header("If-Range");
    let content_type = header("Content-Type");
    let length: usize = header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if tls.read_exact(&mut body).is_err() {
        return;
    }
    let (path, query) = target
        .split_once('?')
        .map(|(p, q)| (p.to_owned(), q.to_owned()))
        .unwrap_or((target.clone(), String::new()));
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: target.clone(),
        range: range.clone(),
    });
    let count = {
        let mut c = counters.lock().unwrap();
        let n = c.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let route = routes
        .iter()
        .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len());
    match route {
        None => respond(&mut tls, "404 Not Found", &[], b"not found\n"),
        Some((_, Route::Ranged(data))) => {
            ranged(&mut tls, data, range.as_deref(), if_range.as_deref(), None)
        }
        Some((_, Route::CutFirst { times, cut, body })) => {
            let cut = (count <= *times).then_some(*cut);
            ranged(&mut tls, body, range.as_deref(), if_range.as_deref(), cut)
        }
        Some((_, Route::Silent)) => {
            std::thread::sleep(Duration::from_secs(60));
            close(&mut tls);
        }
        Some((prefix, Route::Git(root))) => {
            let path_info = &path[prefix.len().saturating_sub(1)..];
            git_cgi(
                &mut tls,
                root,
                &method,
                path_info,
                &query,
                content_type.as_deref(),
                &body,
            )
        }
    }
}

fn read_head(tls: &mut Tls) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    Some(head)
}

fn close(tls: &mut Tls) {
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let _ = tls.sock.shutdown(Shutdown::Both);
}

fn respond(tls: &mut Tls, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(body);
    close(tls);
}

fn ranged(
    tls: &mut Tls,
    body: &[u8],
    range: Option<&str>,
    if_range: Option<&str>,
    cut: Option<usize>,
) {
    let mut start = 0usize;
    if if_range.is_none_or(|v| v == ETAG)
        && let Some(from) = range
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|r| r.parse::<usize>().ok())
        && from <= body.len()
    {
        start = from;
    }
    let mut headers = vec![
        ("ETag", ETAG.to_owned()),
        ("Accept-Ranges", "bytes".to_owned()),
    ];
    let status = if start > 0 {
        headers.push((
            "Content-Range",
            format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
        ));
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let part = &body[start..];
    match cut {
        None => respond(tls, status, &headers, part),
        Some(cut) => {
            // Announce everything, send a little, drop the connection without close_notify.
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                part.len()
            );
            for (name, value) in &headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = tls.write_all(head.as_bytes());
            let _ = tls.write_all(&part[..cut.min(part.len())]);
            let _ = tls.flush();
            let _ = tls.sock.shutdown(Shutdown::Both);
        }
    }
}

/// Run `git http-backend` as a CGI program and relay its answer (delimited by closing the
/// connection, as a CGI gateway may).
fn git_cgi(
    tls: &mut Tls,
    root: &Path,
    method: &str,
    path_info: &str,
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) {
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type.unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`git http-backend` is needed: apt-get install git (scripts/install-deps test)");
    let mut stdin = child.stdin.take().unwrap();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut status = "200 OK".to_owned();
    let mut headers = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_owned();
        } else {
            headers.push_str(line);
            headers.push_str("\r\n");
        }
    }
    let head = format!("HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n");
    let _ = tls.write_all(head.as_bytes());
    let _ = std::io::copy(&mut out, tls);
    let _ = writer.join();
    let _ = child.wait();
    close(tls);
}

/// `hg serve` over TLS for one repository, on 127.0.0.1 (reach it as `localhost`: Mercurial
/// checks only DNS names).
pub struct HgServe {
    child: Child,
    pub port: u16,
}

impl HgServe {
    pub fn start(pki: &Pki, repo: &Path) -> HgServe {
        let mut child = Command::new("hg")
            .args(["serve", "-a", "127.0.0.1", "-p", "0", "--certificate"])
            .arg(&pki.key_and_cert_pem)
            .arg("-R")
            .arg(repo)
            .env("HGPLAIN", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Mercurial is needed: apt-get install mercurial (scripts/install-deps test)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // "listening at http://localhost:PORT/ (bound to 127.0.0.1:PORT)"
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().trim_end_matches(')').parse().ok())
            .unwrap_or_else(|| panic!("unexpected `hg serve` output: {line:?}"));
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        HgServe { child, port }
    }

    /// `https://localhost:PORT/`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/", self.port)
    }
}

impl Drop for HgServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP CONNECT proxy on 127.0.0.1 that only tunnels to loopback and records each
/// tunnel's target.
pub struct ConnectProxy {
    pub port: u16,
    pub tunnels: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tunnels: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (tunnels2, stop2) = (tunnels.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let tunnels = tunnels2.clone();
                std::thread::spawn(move || tunnel(client, &tunnels));
            }
        });
        ConnectProxy {
            port,
            tunnels,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn tunnel_count(&self) -> usize {
        self.tunnels.lock().unwrap().len()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tunnel(mut client: TcpStream, tunnels: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or(target);
    if !matches!(host, "127.0.0.1" | "localhost") {
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let Ok(server) = TcpStream::connect(target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    tunnels.lock().unwrap().push(target.to_owned());
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(Shutdown::Write);
    });
    let (mut s, mut c) = (server, client);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// The error and all its sources, one per line.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str("\n  caused by: ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A git repository `NAME.git` under `root` (served as `/git/NAME.git`) with a branch `main`.
pub struct GitUpstream {
    pub repo: git2::Repository,
}

impl GitUpstream {
    pub fn create(root: &Path, name: &str) -> GitUpstream {
        let repo = git2::Repository::init_opts(
            root.join(format!("{name}.git")),
            git2::RepositoryInitOptions::new().initial_head("main"),
        )
        .unwrap();
        GitUpstream { repo }
    }

    /// Commit `Makefile` with `text` on main; returns the commit id.
    pub fn commit(&self, text: &str) -> String {
        let workdir = self.repo.workdir().unwrap();
        std::fs::write(workdir.join("Makefile"), text).unwrap();
        let mut index = self.repo.index().unwrap();
        index.add_path(Path::new("Makefile")).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("Kernel Hacker", "k@example.invalid").unwrap();
        let parents: Vec<git2::Commit> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, text, &tree, &parents)
            .unwrap()
            .to_string()
    }
}

/// Run `hg` in `dir`.
pub fn hg_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("hg")
        .args(args)
        .current_dir(dir)
        .env("HGPLAIN", "1")
        .env("HGUSER", "Kernel Hacker <k@example.invalid>")
        .output()
        .expect("Mercurial is needed: apt-get install mercurial (scripts/install-deps test)");
    assert!(
        out.status.success(),
        "hg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A Mercurial repository in `dir` with one changeset; returns its id.
pub fn hg_upstream(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    hg_in(dir, &["init"]);
    std::fs::write(dir.join("Makefile"), "SUBLEVEL = 18\n").unwrap();
    hg_in(dir, &["add", "Makefile"]);
    hg_in(dir, &["commit", "-m", "first"]);
    hg_in(dir, &["log", "-r", "tip", "-T", "{node}"])
}
