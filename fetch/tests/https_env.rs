//! The environment every source kind honours, as curl and git do: `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` replace the system's roots, `HTTPS_PROXY`/`https_proxy` send https through a CONNECT proxy, `NO_PROXY`
//! bypasses it. Archives, git and Mercurial each fetch from a real TLS server on loopback;
//! a CONNECT proxy counts the tunnels.
//!
//! The environment is process-wide, so this binary holds a single test that sets it step by
//! step, with no fetch in flight while it changes.
#![allow(unsafe_code)]

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use common::{gzip, sample_tar, sha};
use kforge_fetch::{Fetcher, Source};
use tls::{ConnectProxy, GitUpstream, HgServe, HttpsServer, Pki, Route, chain, hg_upstream};

/// Variables of this machine or CI that would change what is tested.
const CLEARED: [&str; 14] = [
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "CURL_CA_BUNDLE",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
    "HGRCPATH",
];

fn set(name: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: the only test of this binary; no fetch runs while the environment changes, and
    // the server threads started so far read no environment.
    unsafe { std::env::set_var(name, value) }
}

fn clear(name: &str) {
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var(name) }
}

/// The three kinds of source this test fetches, all over https.
struct Sites {
    archive: Source,
    git: Source,
    hg: Source,
}

/// Fetch the three kinds with a fresh cache and no certificate option; returns the first
/// error with its chain, naming the kind.
fn fetch_all(sites: &Sites, dir: &Path) -> Result<(), String> {
    fetch_kinds(sites, dir, &["archive", "git", "hg"])
}

fn fetch_kinds(sites: &Sites, dir: &Path, kinds: &[&str]) -> Result<(), String> {
    let f = Fetcher::builder()
        .cache_dir(dir.join("cache"))
        .build()
        .map_err(|e| chain(&e))?;
    for kind in kinds {
        let source = match *kind {
            "archive" => &sites.archive,
            "git" => &sites.git,
            _ => &sites.hg,
        };
        f.fetch(source, &dir.join(kind), &AtomicBool::new(false))
            .map_err(|e| format!("{kind}: {}", chain(&e)))?;
    }
    Ok(())
}

#[test]
fn environment_selects_roots_and_proxy_for_every_source_kind() {
    for name in CLEARED {
        clear(name);
    }
    // Only the system's hgrc: Debian's sets web.cacerts, which is what must not win.
    let pki = Pki::new("env");
    let tmp = tempfile::tempdir().unwrap();

    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let git_root = tmp.path().join("git");
    let upstream = GitUpstream::create(&git_root, "xen");
    upstream.commit("VERSION = 1\n");
    let hg_repo = tmp.path().join("linux-2.6.18-xen.hg");
    hg_upstream(&hg_repo);
    let https = HttpsServer::start(
        &pki,
        vec![
            ("/proj-1.0.tar.gz", Route::Ranged(archive)),
            ("/git/", Route::Git(git_root.clone())),
        ],
    );
    let hg = HgServe::start(&pki, &hg_repo);
    let proxy = ConnectProxy::start();
    let sites = Sites {
        archive: Source::archive(https.url("/proj-1.0.tar.gz"), digest),
        git: Source::git(https.url("/git/xen.git"), "main"),
        hg: Source::hg(hg.url(), "tip"),
    };
    let https_target = format!("127.0.0.1:{}", https.port);
    let hg_target = format!("localhost:{}", hg.port);

    // The system's roots do not know the test CA: every kind refuses the servers.
    for kind in ["archive", "git", "hg"] {
        let err =
            fetch_kinds(&sites, &tmp.path().join(format!("system-{kind}")), &[kind]).unwrap_err();
        assert!(
            err.contains("UnknownIssuer") || err.contains("CERTIFICATE_VERIFY_FAILED"),
            "{err}"
        );
    }

    // SSL_CERT_FILE replaces the system's roots, for every kind.
    set("SSL_CERT_FILE", &pki.ca_pem);
    fetch_all(&sites, &tmp.path().join("cert-file")).unwrap();
    assert_eq!(proxy.tunnel_count(), 0);

    // SSL_CERT_DIR does too (the proxy steps below run with it).
    let cert_dir = tmp.path().join("certs");
    std::fs::create_dir(&cert_dir).unwrap();
    std::fs::copy(&pki.ca_pem, cert_dir.join("kforge-test-ca.pem")).unwrap();
    clear("SSL_CERT_FILE");
    set("SSL_CERT_DIR", &cert_dir);
    fetch_kinds(&sites, &tmp.path().join("cert-dir"), &["archive", "hg"]).unwrap();

    // HTTPS_PROXY: every kind goes through the proxy.
    set("HTTPS_PROXY", proxy.url());
    fetch_all(&sites, &tmp.path().join("proxy-upper")).unwrap();
    let tunnels = proxy.tunnels.lock().unwrap().clone();
    assert!(
        tunnels.iter().filter(|t| **t == https_target).count() >= 2,
        "archive and git tunnelled: {tunnels:?}"
    );
    assert!(tunnels.contains(&hg_target), "hg tunnelled: {tunnels:?}");
    let archive_tunnels = tunnels.len();

    // The lower-case spelling works as well (the HTTP client and hg read it the same way).
    clear("HTTPS_PROXY");
    set("https_proxy", proxy.url());
    fetch_kinds(&sites, &tmp.path().join("proxy-lower"), &["archive", "hg"]).unwrap();
    let tunnels = proxy.tunnels.lock().unwrap().clone();
    assert!(
        tunnels[archive_tunnels..].contains(&https_target)
            && tunnels[archive_tunnels..].contains(&hg_target),
        "{tunnels:?}"
    );

    // NO_PROXY: nothing goes through it.
    set("NO_PROXY", "127.0.0.1,localhost");
    let before = proxy.tunnel_count();
    fetch_all(&sites, &tmp.path().join("no-proxy")).unwrap();
    assert_eq!(
        proxy.tunnel_count(),
        before,
        "{:?}",
        proxy.tunnels.lock().unwrap()
    );
}
