//! `kforge fetch` end to end: archives over a loopback HTTP server, git and hg repositories.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use sha2::Digest;

fn kforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(args)
        .env("KFORGE_CACHE_DIR", "/nonexistent-kforge-cache-use-the-flag")
        .env("HGPLAIN", "1")
        .output()
        .expect("run kforge")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn archive() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body, mode) in [
        ("linux-6.1/Makefile", "VERSION = 6\n", 0o644),
        ("linux-6.1/scripts/config", "#!/bin/sh\n", 0o755),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Serve `body` at every path under `/ok/`, 404 elsewhere, for `requests` requests.
fn serve(body: Vec<u8>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let response = if request.url().starts_with("/ok/") {
                tiny_http::Response::from_data(body.clone()).with_status_code(200)
            } else {
                tiny_http::Response::from_data(b"no".to_vec()).with_status_code(404)
            };
            let _ = request.respond(response.with_chunked_threshold(usize::MAX));
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn archive_fetch_verifies_extracts_and_reports() {
    let data = archive();
    let base = serve(data.clone());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("linux");
    let cache = tmp.path().join("cache");
    let url = format!("{base}/ok/linux-6.1.tar.gz");
    let out = kforge(&[
        "fetch",
        "archive",
        &url,
        "--sha256",
        &hex(&data),
        "--strip",
        "1",
        "--dest",
        dest.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(dest.join("Makefile")).unwrap(),
        "VERSION = 6\n"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&hex(&data)) && stdout.contains("downloaded from"),
        "{stdout}"
    );
    // Not a terminal: plain progress lines on stderr.
    assert!(
        text(&out.stderr).contains(&format!("download {url}")),
        "{}",
        text(&out.stderr)
    );

    // Offline, from the cache, as JSON.
    let again = tmp.path().join("again");
    let out = kforge(&[
        "--json",
        "fetch",
        "archive",
        &url,
        "--sha256",
        &hex(&data),
        "--strip",
        "1",
        "--offline",
        "--dest",
        again.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["from_cache"], true);
    assert_eq!(json["sha256"], hex(&data));
    assert_eq!(json["extract"]["files"], 2);
}

#[test]
fn mirrors_and_unpinned_fetches() {
    let data = archive();
    let base = serve(data.clone());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dest = tmp.path().join("d");
    // The origin 404s; the mirror has it.
    let out = kforge(&[
        "fetch",
        "archive",
        &format!("{base}/missing/linux-6.1.tar.gz"),
        "--sha256",
        &hex(&data),
        "--mirror",
        &format!("{base}/ok/mirror"),
        "--dest",
        dest.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("/ok/mirror/linux-6.1.tar.gz"),
        "{}",
        text(&out.stdout)
    );

    let url = format!("{base}/ok/x.tar.gz");
    let out = kforge(&[
        "fetch",
        "archive",
        &url,
        "--dest",
        tmp.path().join("u").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no pinned sha256"),
        "{}",
        text(&out.stderr)
    );
    let out = kforge(&[
        "fetch",
        "archive",
        &url,
        "--allow-unpinned",
        "--dest",
        tmp.path().join("u").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("pin it with --sha256 {}", hex(&data))),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn failures_exit_1_with_the_error() {
    let data = archive();
    let base = serve(data.clone());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("d");
    let wrong = "0".repeat(64);
    let out = kforge(&[
        "fetch",
        "archive",
        &format!("{base}/ok/a.tar.gz"),
        "--sha256",
        &wrong,
        "--dest",
        dest.to_str().unwrap(),
        "--cache-dir",
        tmp.path().join("c").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&wrong) && stderr.contains(&hex(&data)),
        "{stderr}"
    );
    assert!(!dest.exists());

    let out = kforge(&[
        "fetch",
        "archive",
        &format!("{base}/ok/a.tar.gz"),
        "--sha256",
        &hex(&data),
        "--offline",
        "--dest",
        dest.to_str().unwrap(),
        "--cache-dir",
        tmp.path().join("empty").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("offline mode"),
        "{}",
        text(&out.stderr)
    );

    let out = kforge(&[
        "fetch",
        "archive",
        "http://x/a.tar",
        "--sha256",
        "xyz",
        "--dest",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid sha256"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn each_source_kind_takes_only_its_own_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("d");
    let dest = dest.to_str().unwrap();
    for (args, flag) in [
        (
            vec![
                "fetch",
                "git",
                "file:///nowhere",
                "--rev",
                "main",
                "--mirror",
                "http://m",
            ],
            "--mirror",
        ),
        (
            vec![
                "fetch",
                "hg",
                "file:///nowhere",
                "--rev",
                "tip",
                "--sha256",
                "00",
            ],
            "--sha256",
        ),
        (
            vec![
                "fetch",
                "git",
                "file:///nowhere",
                "--rev",
                "main",
                "--strip",
                "1",
            ],
            "--strip",
        ),
        (
            vec![
                "fetch",
                "archive",
                "http://x/a.tar",
                "--allow-unpinned",
                "--rev",
                "main",
            ],
            "--rev",
        ),
        (
            vec![
                "fetch",
                "hg",
                "file:///nowhere",
                "--rev",
                "tip",
                "--commit",
                "ab",
            ],
            "--commit",
        ),
    ] {
        let mut args = args;
        args.extend(["--dest", dest]);
        let out = kforge(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("unexpected argument") && stderr.contains(flag),
            "{args:?}: {stderr}"
        );
    }
    // The archive URL is no longer taken directly by `fetch`.
    let out = kforge(&[
        "fetch",
        "http://x/a.tar",
        "--allow-unpinned",
        "--dest",
        dest,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!Path::new(dest).exists());
}

fn git_repo(dir: &Path) -> String {
    let repo = git2::Repository::init(dir).unwrap();
    std::fs::write(dir.join("README"), "xen\n").unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("README")).unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
    let id = repo
        .commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
        .unwrap();
    repo.tag_lightweight("RELEASE-3.2.0", &repo.find_object(id, None).unwrap(), false)
        .unwrap();
    id.to_string()
}

#[test]
fn git_and_hg_subcommands() {
    let tmp = tempfile::tempdir().unwrap();
    let up = tmp.path().join("xen.git");
    let id = git_repo(&up);
    let cache = tmp.path().join("cache");
    let dest = tmp.path().join("xen");
    let out = kforge(&[
        "fetch",
        "git",
        up.to_str().unwrap(),
        "--rev",
        "RELEASE-3.2.0",
        "--commit",
        &id,
        "--dest",
        dest.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&id));
    assert!(dest.join("README").is_file());

    let out = kforge(&[
        "fetch",
        "git",
        up.to_str().unwrap(),
        "--rev",
        "RELEASE-3.2.0",
        "--commit",
        &"1".repeat(40),
        "--dest",
        tmp.path().join("bad").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pinned"),
        "{}",
        text(&out.stderr)
    );

    let hg_up = tmp.path().join("linux-2.6.18-xen.hg.upstream");
    std::fs::create_dir(&hg_up).unwrap();
    let hg = |args: &[&str]| {
        let out = Command::new("hg")
            .args(args)
            .current_dir(&hg_up)
            .env("HGPLAIN", "1")
            .env("HGUSER", "t <t@example.invalid>")
            .output()
            .expect("Mercurial is needed: apt-get install mercurial");
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    hg(&["init"]);
    std::fs::write(hg_up.join("Makefile"), "SUBLEVEL = 18\n").unwrap();
    hg(&["add", "Makefile"]);
    hg(&["commit", "-m", "init"]);
    let hg_dest = tmp.path().join("linux-2.6.18-xen.hg");
    let out = kforge(&[
        "fetch",
        "hg",
        hg_up.to_str().unwrap(),
        "--rev",
        "tip",
        "--dest",
        hg_dest.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(hg_dest.join(".hg").is_dir() && hg_dest.join("Makefile").is_file());
}

#[test]
fn patches_and_series_apply_before_publishing() {
    let data = archive();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("linux-6.1.tar.gz");
    std::fs::write(&path, &data).unwrap();
    let url = format!("file://{}", path.display());
    let patches = tmp.path().join("patches");
    std::fs::create_dir(&patches).unwrap();
    std::fs::write(
        patches.join("version.patch"),
        "--- a/Makefile\n+++ b/Makefile\n@@ -1 +1 @@\n-VERSION = 6\n+VERSION = 7\n",
    )
    .unwrap();
    std::fs::write(patches.join("series"), "version.patch\n").unwrap();
    let dest = tmp.path().join("linux");
    let cache = tmp.path().join("cache");
    let out = kforge(&[
        "fetch",
        "archive",
        &url,
        "--sha256",
        &hex(&data),
        "--strip",
        "1",
        "--series",
        patches.join("series").to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(dest.join("Makefile")).unwrap(),
        "VERSION = 7\n"
    );
    assert!(
        text(&out.stdout).contains("applied"),
        "{}",
        text(&out.stdout)
    );

    // The same patch again, on top of a patched tree, does not apply: exit 1, nothing published.
    std::fs::write(
        patches.join("again.patch"),
        "--- a/Makefile\n+++ b/Makefile\n@@ -1 +1 @@\n-VERSION = 5\n+VERSION = 7\n",
    )
    .unwrap();
    let dest2 = tmp.path().join("linux2");
    let out = kforge(&[
        "fetch",
        "archive",
        &url,
        "--sha256",
        &hex(&data),
        "--strip",
        "1",
        "--patch",
        patches.join("again.patch").to_str().unwrap(),
        "--dest",
        dest2.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("again.patch") && stderr.contains("FAILED"),
        "{stderr}"
    );
    assert!(!dest2.exists());
}

/// A server that sends the headers of a 4 MiB gzip body, then trickles it out (1 KiB every
/// 20 ms) until the client goes away; returns the URL and a channel that fires once some of the
/// body has been sent.
fn serve_slowly() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (started, started_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = std::io::Read::read(&mut stream, &mut request);
        let header =
            "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\nContent-Type: application/gzip\r\n\r\n";
        if stream.write_all(header.as_bytes()).is_err() {
            return;
        }
        // A real gzip stream's first bytes, then filler: the fetch is stopped long before the end.
        let body = archive();
        let _ = stream.write_all(&body[..10]);
        for i in 0..3000 {
            if stream.write_all(&[0u8; 1024]).is_err() {
                return;
            }
            if i == 10 {
                let _ = started.send(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    (
        format!("http://127.0.0.1:{port}/slow/linux-6.1.tar.gz"),
        started_rx,
    )
}

#[test]
fn a_signal_stops_the_fetch_and_publishes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, started) = serve_slowly();
    let dest = tmp.path().join("linux");
    let cache = tmp.path().join("cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(["fetch", "archive", &url, "--allow-unpinned", "--dest"])
        .arg(&dest)
        .arg("--cache-dir")
        .arg(&cache)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    started
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("kforge fetch never started downloading");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kforge fetch did not stop after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    // Stopped through the interrupt flag (exit 130 with the error), not killed by the signal.
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        !dest.exists(),
        "nothing may be published after an interrupt"
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "cache")
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[path = "../fetch/tests/common/tls.rs"]
mod tls;

/// `kforge` with the certificate and proxy variables of this machine removed.
fn kforge_clean_env(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kforge"));
    command
        .args(args)
        .env("KFORGE_CACHE_DIR", "/nonexistent-kforge-cache-use-the-flag")
        .env("HGPLAIN", "1");
    for name in [
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env_remove(name);
    }
    command.output().expect("run kforge")
}

#[test]
fn https_sources_with_a_private_ca() {
    let pki = tls::Pki::new("cli");
    let tmp = tempfile::tempdir().unwrap();
    let body = archive();
    let git_root = tmp.path().join("git");
    let upstream = tls::GitUpstream::create(&git_root, "qemu");
    let commit = upstream.commit("VERSION = 8\n");
    let server = tls::HttpsServer::start(
        &pki,
        vec![
            ("/linux-6.1.tar.gz", tls::Route::Ranged(body.clone())),
            ("/git/", tls::Route::Git(git_root)),
        ],
    );
    let url = server.url("/linux-6.1.tar.gz");
    let cache = tmp.path().join("cache");
    let ca = pki.ca_pem.to_str().unwrap();
    let sha = hex(&body);

    let refused = kforge_clean_env(&[
        "fetch",
        "archive",
        &url,
        "--sha256",
        &sha,
        "--dest",
        tmp.path().join("refused").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains(&url) && stderr.contains("UnknownIssuer") && stderr.contains("--ca-cert"),
        "{stderr}"
    );

    let out = kforge_clean_env(&[
        "fetch",
        "archive",
        &url,
        "--sha256",
        &sha,
        "--strip",
        "1",
        "--dest",
        tmp.path().join("linux").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--ca-cert",
        ca,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tmp.path().join("linux/Makefile").is_file());

    let out = kforge_clean_env(&[
        "fetch",
        "git",
        &server.url("/git/qemu.git"),
        "--rev",
        "main",
        "--commit",
        &commit,
        "--dest",
        tmp.path().join("qemu").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--ca-cert",
        ca,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tmp.path().join("qemu/Makefile").is_file());
}
