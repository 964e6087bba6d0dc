//! Every source kind over real TLS servers on loopback, with a throwaway CA: archives (verified,
//! resumed with Range, mirror fallback, untrusted certificates refused), git's smart HTTP
//! (`git http-backend` behind a rustls front) and `hg serve --certificate`; CA and pinned
//! certificate options. The environment variables are covered by `https_env.rs`.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{assert_sample_tree, entries, gzip, sample_tar, sha};
use kforge_fetch::{Error, Fetcher, Phase, RetryPolicy, Source, download, git, tls as fetch_tls};
use tls::{GitUpstream, HgServe, HttpsServer, Pki, Route, chain, hg_upstream};

fn no() -> AtomicBool {
    AtomicBool::new(false)
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

#[test]
fn archive_over_https_is_verified_extracted_and_cached() {
    let pki = Pki::new("archive");
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let server = HttpsServer::start(&pki, vec![("/proj-1.0.tar.gz", Route::Ranged(archive))]);
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .ca_cert(&pki.ca_pem)
        .build()
        .unwrap();
    let url = server.url("/proj-1.0.tar.gz");
    let source = Source::archive(&url, digest).with_strip_components(1);
    let fetched = f.fetch(&source, &tmp.path().join("proj"), &no()).unwrap();
    assert_sample_tree(&tmp.path().join("proj"));
    assert_eq!(fetched.from_url.as_deref(), Some(url.as_str()));
    assert!(f.cache().contains(&digest));
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 1);
}

#[test]
fn https_download_cut_short_resumes_with_range() {
    let pki = Pki::new("resume");
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let server = HttpsServer::start(
        &pki,
        vec![(
            "/proj-1.0.tar.gz",
            Route::CutFirst {
                times: 1,
                cut: 100_000,
                body: archive.clone(),
            },
        )],
    );
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .ca_cert(&pki.ca_pem)
        .retry(quick_retry())
        .build()
        .unwrap();
    let source = Source::archive(server.url("/proj-1.0.tar.gz"), digest).with_strip_components(1);
    f.fetch(&source, &tmp.path().join("proj"), &no()).unwrap();
    assert_sample_tree(&tmp.path().join("proj"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    let from: u64 = requests[1]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("second request resumes: {requests:?}"));
    assert!(from > 0 && from <= 100_000, "resumed from {from}");
}

#[test]
fn mirror_with_an_untrusted_certificate_falls_back_to_the_origin() {
    let trusted = Pki::new("origin");
    let stranger = Pki::new("mirror");
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let mirror = HttpsServer::start(
        &stranger,
        vec![("/dl/proj-1.0.tar.gz", Route::Ranged(archive.clone()))],
    );
    let origin = HttpsServer::start(&trusted, vec![("/proj-1.0.tar.gz", Route::Ranged(archive))]);
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .ca_cert(&trusted.ca_pem)
        .mirror(mirror.url("/dl/"))
        .retry(quick_retry())
        .build()
        .unwrap();
    let url = origin.url("/proj-1.0.tar.gz");
    let fetched = f
        .fetch(
            &Source::archive(&url, digest).with_strip_components(1),
            &tmp.path().join("proj"),
            &no(),
        )
        .unwrap();
    assert_eq!(fetched.from_url.as_deref(), Some(url.as_str()));
    assert_sample_tree(&tmp.path().join("proj"));
    assert_eq!(
        mirror.handshakes.load(Ordering::SeqCst),
        0,
        "the mirror's certificate was refused"
    );
    assert!(mirror.requests().is_empty());
}

#[test]
fn untrusted_certificate_is_refused_clearly_and_nothing_is_kept() {
    let pki = Pki::new("untrusted");
    let other = Pki::new("other");
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let server = HttpsServer::start(&pki, vec![("/proj-1.0.tar.gz", Route::Ranged(archive))]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let f = Fetcher::builder()
        .cache_dir(&cache)
        .ca_cert(&other.ca_pem)
        .retry(RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(2),
        })
        .build()
        .unwrap();
    let url = server.url("/proj-1.0.tar.gz");
    let started = Instant::now();
    let err = f
        .fetch(
            &Source::archive(&url, digest),
            &tmp.path().join("out/proj"),
            &no(),
        )
        .unwrap_err();
    let text = chain(&err);
    assert!(
        matches!(&err, Error::Download(download::Error::Tls { url: u, .. }) if *u == url),
        "{text}"
    );
    assert!(text.contains(&url), "names the URL: {text}");
    assert!(text.contains("UnknownIssuer"), "says why: {text}");
    assert!(text.contains("--ca-cert"), "says how to fix: {text}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a certificate failure is not retried (backoff is 2 s)"
    );
    assert!(!tmp.path().join("out/proj").exists());
    assert!(
        entries(&tmp.path().join("out")).is_empty(),
        "no staging left"
    );
    assert!(!f.cache().contains(&digest));
    let mut kept = Vec::new();
    for dir in ["archives", "partial"] {
        if let Ok(rd) = std::fs::read_dir(cache.join(dir)) {
            kept.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    assert!(kept.is_empty(), "nothing kept in the cache: {kept:?}");
}

#[test]
fn pinned_certificate_replaces_the_ca() {
    let pki = Pki::new("pinned");
    let other = Pki::new("not-pinned");
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let server = HttpsServer::start(&pki, vec![("/proj-1.0.tar.gz", Route::Ranged(archive))]);
    let url = server.url("/proj-1.0.tar.gz");
    let tmp = tempfile::tempdir().unwrap();

    let pinned = Fetcher::builder()
        .cache_dir(tmp.path().join("c1"))
        .pinned_cert(&pki.cert_pem)
        .build()
        .unwrap();
    pinned
        .fetch(&Source::archive(&url, digest), &tmp.path().join("a"), &no())
        .unwrap();

    // Pinning another certificate refuses the server even when its CA is trusted.
    let wrong = Fetcher::builder()
        .cache_dir(tmp.path().join("c2"))
        .ca_cert(&pki.ca_pem)
        .pinned_cert(&other.cert_pem)
        .build()
        .unwrap();
    let err = wrong
        .fetch(&Source::archive(&url, digest), &tmp.path().join("b"), &no())
        .unwrap_err();
    let text = chain(&err);
    let presented = kforge_fetch::Sha256Digest::of_bytes(&pki.cert_der);
    assert!(
        text.contains("not a pinned certificate") && text.contains(&presented.to_string()),
        "{text}"
    );
}

#[test]
fn certificate_file_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.pem");
    let err = Fetcher::builder().ca_cert(&missing).build().unwrap_err();
    assert!(
        matches!(&err, Error::Certificates(fetch_tls::Error::File { path, .. }) if *path == missing),
        "{err}"
    );
    let not_pem = tmp.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let err = Fetcher::builder()
        .pinned_cert(&not_pem)
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(not_pem.to_str().unwrap()) && text.contains("no certificate"),
        "{text}"
    );
}

/// A git server over HTTPS with `xen.git`, and a fetcher trusting its CA.
struct GitSite {
    pki: Pki,
    root: tempfile::TempDir,
    upstream: GitUpstream,
    server: HttpsServer,
}

fn git_site(name: &str) -> GitSite {
    let pki = Pki::new(name);
    let root = tempfile::tempdir().unwrap();
    let upstream = GitUpstream::create(root.path(), "xen");
    let server = HttpsServer::start(&pki, vec![("/git/", Route::Git(root.path().to_owned()))]);
    GitSite {
        pki,
        root,
        upstream,
        server,
    }
}

#[test]
fn git_clone_and_fetch_over_https() {
    let site = git_site("git");
    let first = site.upstream.commit("VERSION = 1\n");
    let url = site.server.url("/git/xen.git");
    let tmp = tempfile::tempdir().unwrap();
    let objects = Arc::new(AtomicU64::new(0));
    let seen = objects.clone();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .ca_cert(&site.pki.ca_pem)
        .progress(move |p| {
            if p.phase == Phase::Clone {
                seen.fetch_max(p.done, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    let fetched = f
        .fetch(&Source::git(&url, "main"), &tmp.path().join("one"), &no())
        .unwrap();
    assert_eq!(fetched.revision.as_deref(), Some(first.as_str()));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("one/Makefile")).unwrap(),
        "VERSION = 1\n"
    );
    assert!(
        objects.load(Ordering::SeqCst) >= 3,
        "clone progress reported"
    );
    let checkout = git2::Repository::open(tmp.path().join("one")).unwrap();
    assert_eq!(
        checkout.find_remote("origin").unwrap().url().ok(),
        Some(url.as_str())
    );

    // New upstream commits arrive in the cached mirror by an incremental fetch.
    let second = site.upstream.commit("VERSION = 2\n");
    let before = site.server.requests().len();
    let source = Source::git(&url, "main").with_commit(&second);
    let fetched = f.fetch(&source, &tmp.path().join("two"), &no()).unwrap();
    assert_eq!(fetched.revision.as_deref(), Some(second.as_str()));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("two/Makefile")).unwrap(),
        "VERSION = 2\n"
    );
    let requests = site.server.requests();
    assert!(
        requests[before..]
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/git-upload-pack")),
        "{requests:?}"
    );
    let mirror = git2::Repository::open_bare(
        std::fs::read_dir(tmp.path().join("cache/git"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(
        mirror
            .find_commit(git2::Oid::from_str(&first).unwrap())
            .is_ok()
    );
    assert!(
        mirror
            .find_commit(git2::Oid::from_str(&second).unwrap())
            .is_ok()
    );

    // A pin that does not match is refused.
    let wrong = Source::git(&url, "main").with_commit(&first);
    let err = f
        .fetch(&wrong, &tmp.path().join("three"), &no())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Git(git::Error::PinMismatch { .. })),
        "{}",
        chain(&err)
    );
    assert!(!tmp.path().join("three").exists());
    drop(site.root);
}

#[test]
fn git_missing_repository_is_one_clear_error() {
    let site = git_site("git-404");
    site.upstream.commit("VERSION = 1\n");
    let url = site.server.url("/git/nonexistent.git");
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .ca_cert(&site.pki.ca_pem)
        .build()
        .unwrap();
    let err = f
        .fetch(&Source::git(&url, "main"), &tmp.path().join("x"), &no())
        .unwrap_err();
    let text = chain(&err);
    assert!(
        matches!(
            &err,
            Error::Git(git::Error::Http {
                source: git::HttpError::Status { status: 404, .. },
                ..
            })
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("{url}/info/refs")) && text.contains("404"),
        "{text}"
    );
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn git_untrusted_certificate_is_one_clear_error() {
    let site = git_site("git-untrusted");
    site.upstream.commit("VERSION = 1\n");
    let url = site.server.url("/git/xen.git");
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .build()
        .unwrap();
    let err = f
        .fetch(&Source::git(&url, "main"), &tmp.path().join("x"), &no())
        .unwrap_err();
    let text = chain(&err);
    assert!(
        matches!(
            &err,
            Error::Git(git::Error::Http {
                source: git::HttpError::Tls { .. },
                ..
            })
        ),
        "{text}"
    );
    assert!(
        text.contains(&url) && text.contains("UnknownIssuer") && text.contains("--ca-cert"),
        "{text}"
    );
    assert!(!tmp.path().join("x").exists());
    assert!(site.server.requests().is_empty());

    // The pinned server certificate is enough on its own.
    let pinned = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .pinned_cert(&site.pki.cert_pem)
        .build()
        .unwrap();
    pinned
        .fetch(&Source::git(&url, "main"), &tmp.path().join("y"), &no())
        .unwrap();
}

#[test]
fn git_interrupt_stops_a_silent_server() {
    // A TLS server that completes the handshake and then never answers.
    let pki = Pki::new("silent");
    let root = tempfile::tempdir().unwrap();
    let server = HttpsServer::start(&pki, vec![("/", Route::Silent)]);
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .ca_cert(&pki.ca_pem)
        .read_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let interrupt = Arc::new(AtomicBool::new(false));
    let raise = interrupt.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        raise.store(true, Ordering::SeqCst);
    });
    let started = Instant::now();
    let err = f
        .fetch(
            &Source::git(server.url("/git/xen.git"), "main"),
            &tmp.path().join("x"),
            &interrupt,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Git(git::Error::Interrupted)),
        "{}",
        chain(&err)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "stopped by the flag, not by the 120 s read timeout"
    );
    assert!(!tmp.path().join("x").exists());
    drop(root);
}

#[test]
fn hg_over_https_uses_the_ca_and_pin_options() {
    let pki = Pki::new("hg");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("linux-2.6.18-xen.hg");
    let tip = hg_upstream(&repo);
    let serve = HgServe::start(&pki, &repo);
    let url = serve.url();

    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c1"))
        .ca_cert(&pki.ca_pem)
        .build()
        .unwrap();
    let fetched = f
        .fetch(&Source::hg(&url, "tip"), &tmp.path().join("a"), &no())
        .unwrap();
    assert_eq!(fetched.revision.as_deref(), Some(tip.as_str()));
    assert!(tmp.path().join("a/.hg").is_dir());

    let pinned = Fetcher::builder()
        .cache_dir(tmp.path().join("c2"))
        .pinned_cert(&pki.cert_pem)
        .build()
        .unwrap();
    pinned
        .fetch(&Source::hg(&url, "tip"), &tmp.path().join("b"), &no())
        .unwrap();

    let untrusted = Fetcher::builder()
        .cache_dir(tmp.path().join("c3"))
        .ca_cert(&Pki::new("hg-other").ca_pem)
        .build()
        .unwrap();
    let err = untrusted
        .fetch(&Source::hg(&url, "tip"), &tmp.path().join("c"), &no())
        .unwrap_err();
    let text = chain(&err);
    assert!(
        text.contains(&url) && text.contains("CERTIFICATE_VERIFY_FAILED"),
        "{text}"
    );
    assert!(!tmp.path().join("c").exists());
}

#[test]
fn git_plain_http_goes_through_the_same_client() {
    // A port nobody listens on: the failure comes from the fetcher's HTTP client, not from
    // libgit2's own http transport.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/git/xen.git");
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .build()
        .unwrap();
    let err = f
        .fetch(&Source::git(&url, "main"), &tmp.path().join("x"), &no())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Git(git::Error::Http {
                source: git::HttpError::Request { .. },
                ..
            })
        ),
        "{}",
        chain(&err)
    );
}
