//! Shared parts of the flow tests: a real HTTP server on loopback, tarballs made with `tar` and
//! `flate2`, and faithful miniatures of the trees the HOWTOs build (a Linux-like tree whose
//! Makefile honours `O=` and refuses an unclean source tree, a kvm-snapshot-like userland with
//! a `./configure`, a Xen-3.2-like tree and a xenified kernel in a real Mercurial repository).
#![allow(dead_code)]

pub mod flow;
pub mod trees;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// A loopback HTTP server serving files from memory; counts requests per path.
pub struct Server {
    server: Arc<tiny_http::Server>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Start serving.
    pub fn start() -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let thread = {
            let (server, files, hits) = (server.clone(), files.clone(), hits.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let path = request.url().to_string();
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let body = files.lock().unwrap().get(&path).cloned();
                    let _ = match body {
                        Some(bytes) => request.respond(
                            tiny_http::Response::from_data(bytes)
                                .with_chunked_threshold(usize::MAX),
                        ),
                        None => request.respond(tiny_http::Response::empty(404)),
                    };
                }
            })
        };
        Server {
            server,
            files,
            hits,
            thread: Some(thread),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Serve `bytes` at `/name`; returns the URL.
    pub fn serve(&self, name: &str, bytes: Vec<u8>) -> String {
        self.files.lock().unwrap().insert(format!("/{name}"), bytes);
        format!("{}/{name}", self.base)
    }

    /// How many requests `/name` received.
    pub fn hits(&self, name: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .get(&format!("/{name}"))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// sha256 of `bytes` in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Write `files` (relative path, contents, executable) under `root`.
pub fn write_tree(root: &Path, files: &[(&str, &str, bool)]) {
    use std::os::unix::fs::PermissionsExt;
    for (path, text, exec) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        if *exec {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

/// A `.tar.gz` of `dir` with every entry under `top/`, as a release tarball.
pub fn tarball(dir: &Path, top: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    builder.follow_symlinks(false);
    builder.append_dir_all(top, dir).unwrap();
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

/// Arguments for a flow, as the command line would give them.
pub fn argv(flow: &str, args: &[&str]) -> Vec<String> {
    std::iter::once(flow)
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

/// `build.json` of an output directory.
pub fn build_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("build.json")).expect("build.json written");
    serde_json::from_str(&text).expect("build.json is JSON")
}

/// Every file under `dir`, relative, sorted.
pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Fail with an install hint when a tool the test needs is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is required by this test: install it with `apt-get install {package}` (scripts/install-deps test)"
    );
}
