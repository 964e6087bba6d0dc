//! Downloads over a real HTTP server on loopback: caching, redirects, retries, resume,
//! hash mismatch, timeouts, offline mode, mirrors, unpinned fetches, progress, interruption.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kforge_fetch::{Fetcher, Phase, RetryPolicy, Source, download};

fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

fn fetcher(cache: &std::path::Path) -> Fetcher {
    Fetcher::builder()
        .cache_dir(cache)
        .retry(quick_retry(4))
        .build()
        .unwrap()
}

fn no() -> AtomicBool {
    AtomicBool::new(false)
}

#[test]
fn plain_download_is_verified_extracted_and_cached() {
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let server = HttpServer::start(vec![("/proj-1.0.tar.gz", Route::Ranged(archive.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let f = fetcher(&cache);
    let source = Source::archive(server.url("/proj-1.0.tar.gz"), digest).with_strip_components(1);
    let dest = tmp.path().join("out/proj");
    let fetched = f.fetch(&source, &dest, &no()).unwrap();
    assert_sample_tree(&dest);
    assert_eq!(fetched.sha256, Some(digest));
    assert!(!fetched.from_cache);
    assert_eq!(
        fetched.from_url.as_deref(),
        Some(server.url("/proj-1.0.tar.gz").as_str())
    );
    assert_eq!(
        std::fs::read(f.cache().archive_path(&digest)).unwrap(),
        archive
    );
    assert_eq!(
        entries(&tmp.path().join("out")),
        vec!["proj"],
        "no temporary directory left"
    );
    assert_eq!(
        entries(&cache.join("partial")),
        Vec::<String>::new(),
        "no partial file left"
    );
    let report = fetched.extract.unwrap();
    assert_eq!(report.compression, Some(kforge_fetch::Compression::Gzip));
    assert_eq!(
        (report.files, report.symlinks, report.hard_links),
        (4, 1, 1)
    );

    // The second fetch comes from the cache: no request reaches the server.
    drop(server);
    let again = f.fetch(&source, &tmp.path().join("again"), &no()).unwrap();
    assert!(again.from_cache);
    assert_sample_tree(&tmp.path().join("again"));

    // An existing destination is refused and left alone.
    let err = f.fetch(&source, &dest, &no()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_sample_tree(&dest);
}

#[test]
fn every_compression_is_detected_by_magic_not_name() {
    let tar = sample_tar();
    let formats: Vec<(&str, Vec<u8>)> = vec![
        ("/a.tar.gz", gzip(&tar)),
        ("/a.tar.xz", xz(&tar)),
        ("/a.tar.bz2", bzip2(&tar)),
        ("/a.tar.zst", zstd(&tar)),
        ("/a.tar", tar.clone()),
        // A misleading name: detection goes by content.
        ("/misnamed.tar.gz", xz(&tar)),
    ];
    let server = HttpServer::start(
        formats
            .iter()
            .map(|(p, d)| (*p, Route::Ranged(d.clone())))
            .collect(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(&tmp.path().join("cache"));
    for (i, (path, data)) in formats.iter().enumerate() {
        let dest = tmp.path().join(format!("t{i}"));
        let source = Source::archive(server.url(path), sha(data)).with_strip_components(1);
        f.fetch(&source, &dest, &no())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_sample_tree(&dest);
    }
}

#[test]
fn redirects_are_followed() {
    let archive = xz(&sample_tar());
    let server = HttpServer::start(vec![
        (
            "/old/proj.tar.xz",
            Route::Redirect("/new/proj.tar.xz".into()),
        ),
        ("/new/proj.tar.xz", Route::Ranged(archive.clone())),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let source =
        Source::archive(server.url("/old/proj.tar.xz"), sha(&archive)).with_strip_components(1);
    fetcher(&tmp.path().join("c"))
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap();
    assert_sample_tree(&tmp.path().join("d"));
    assert_eq!(server.requests_to("/new/proj.tar.xz").len(), 1);
}

#[test]
fn service_unavailable_is_retried_until_success() {
    let archive = gzip(&sample_tar());
    let server = HttpServer::start(vec![(
        "/p.tar.gz",
        Route::FailFirst {
            times: 2,
            status: 503,
            body: archive.clone(),
        },
    )]);
    let tmp = tempfile::tempdir().unwrap();
    let source = Source::archive(server.url("/p.tar.gz"), sha(&archive)).with_strip_components(1);
    fetcher(&tmp.path().join("c"))
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap();
    assert_sample_tree(&tmp.path().join("d"));
    assert_eq!(server.requests_to("/p.tar.gz").len(), 3);
}

#[test]
fn persistent_server_errors_give_up_with_the_status() {
    let server = HttpServer::start(vec![("/p.tar.gz", Route::Status(502))]);
    let tmp = tempfile::tempdir().unwrap();
    let source = Source::archive(server.url("/p.tar.gz"), sha(b"x"));
    let err = fetcher(&tmp.path().join("c"))
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap_err();
    assert!(
        matches!(
            err,
            kforge_fetch::Error::Download(download::Error::HttpStatus {
                status: 502,
                attempts: 4,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(server.requests_to("/p.tar.gz").len(), 4);
    // 404 is not transient: one request only.
    let server = HttpServer::start(vec![]);
    let source = Source::archive(server.url("/missing.tar.gz"), sha(b"x"));
    let err = fetcher(&tmp.path().join("c"))
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(server.requests_to("/missing.tar.gz").len(), 1);
    assert!(!tmp.path().join("d").exists());
}

#[test]
fn a_body_cut_mid_way_is_resumed_with_range() {
    let archive = gzip(&sample_tar());
    assert!(archive.len() > 200_000);
    let cut = 100_000;
    let server = CuttingServer::start(archive.clone(), vec![Conn::CutAfter(cut), Conn::Full], true);
    let tmp = tempfile::tempdir().unwrap();
    let source = Source::archive(server.url.clone(), sha(&archive)).with_strip_components(1);
    fetcher(&tmp.path().join("c"))
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap();
    assert_sample_tree(&tmp.path().join("d"));
    let ranges = server.ranges_seen.lock().unwrap().clone();
    assert_eq!(ranges, vec![None, Some(format!("bytes={cut}-"))]);
}

#[test]
fn a_body_cut_mid_way_restarts_cleanly_without_range_support() {
    let archive = gzip(&sample_tar());
    let server = CuttingServer::start(
        archive.clone(),
        vec![Conn::CutAfter(70_000), Conn::CutAfter(150_000), Conn::Full],
        false,
    );
    let tmp = tempfile::tempdir().unwrap();
    let source = Source::archive(server.url.clone(), sha(&archive)).with_strip_components(1);
    let fetched = fetcher(&tmp.path().join("c"))
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap();
    assert_sample_tree(&tmp.path().join("d"));
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    assert_eq!(fetched.sha256, Some(sha(&archive)));
}

#[test]
fn an_interrupted_download_resumes_in_a_later_fetch() {
    let archive = gzip(&sample_tar());
    let server = HttpServer::start(vec![(
        "/p.tar.gz",
        Route::SlowBody {
            chunk: 16 * 1024,
            pause: Duration::from_millis(5),
            body: archive.clone(),
        },
    )]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let f = Fetcher::builder()
        .cache_dir(&cache)
        .retry(quick_retry(2))
        .progress(move |p| {
            if p.phase == Phase::Download && p.done >= 100_000 {
                flag.store(true, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    let source = Source::archive(server.url("/p.tar.gz"), sha(&archive)).with_strip_components(1);
    let dest = tmp.path().join("d");
    let err = f.fetch(&source, &dest, &interrupt).unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(!dest.exists(), "nothing published after an interruption");
    assert_eq!(entries(tmp.path()), vec!["c"], "no temporary tree left");
    let partial = std::fs::read_dir(cache.join("partial"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "part"))
        .expect("partial file kept");
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(
        kept >= 100_000 && kept < archive.len() as u64,
        "kept {kept}"
    );

    let f = fetcher(&cache);
    f.fetch(&source, &dest, &no()).unwrap();
    assert_sample_tree(&dest);
    let last = server.requests_to("/p.tar.gz").pop().unwrap();
    assert_eq!(last.range, Some(format!("bytes={kept}-")));
    assert_eq!(last.if_range.as_deref(), Some(ETAG));
}

#[test]
fn wrong_content_is_a_hash_mismatch_that_keeps_nothing() {
    let archive = gzip(&sample_tar());
    let expected = sha(b"something else");
    let server = HttpServer::start(vec![("/p.tar.gz", Route::Ranged(archive.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let source = Source::archive(server.url("/p.tar.gz"), expected).with_strip_components(1);
    let err = fetcher(&cache)
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&expected.to_hex()), "{text}");
    assert!(text.contains(&sha(&archive).to_hex()), "{text}");
    assert!(text.contains("mismatch"), "{text}");
    assert_eq!(
        entries(tmp.path()),
        vec!["c"],
        "no tree, no temporary directory"
    );
    assert_eq!(entries(&cache.join("partial")), Vec::<String>::new());
    assert!(!cache.join("archives").exists() || entries(&cache.join("archives/sha256")).is_empty());
}

#[test]
fn a_stalled_server_times_out() {
    let archive = gzip(&sample_tar());
    let server = HttpServer::start(vec![(
        "/p.tar.gz",
        Route::SlowHead {
            delay: Duration::from_secs(5),
            body: archive.clone(),
        },
    )]);
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .retry(quick_retry(2))
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = f
        .fetch(
            &Source::archive(server.url("/p.tar.gz"), sha(&archive)),
            &tmp.path().join("d"),
            &no(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            kforge_fetch::Error::Download(download::Error::Request { attempts: 2, .. })
        ),
        "{err:?}"
    );
    // The cause is the error's source, not repeated in its message.
    let cause = std::error::Error::source(&err)
        .expect("the request error has its cause as source")
        .to_string();
    assert!(!err.to_string().contains(&cause), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up before the server answered"
    );
    assert!(!tmp.path().join("d").exists());
}

#[test]
fn offline_mode_uses_only_the_cache_and_names_what_is_missing() {
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    let server = HttpServer::start(vec![("/p.tar.gz", Route::Ranged(archive.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let offline = Fetcher::builder()
        .cache_dir(&cache)
        .offline(true)
        .build()
        .unwrap();
    let source = Source::archive(server.url("/p.tar.gz"), digest).with_strip_components(1);
    let err = offline
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("offline") && text.contains("/p.tar.gz") && text.contains(&digest.to_hex()),
        "{text}"
    );
    assert!(
        server.requests_to("/p.tar.gz").is_empty(),
        "offline mode made a request"
    );

    fetcher(&cache)
        .fetch(&source, &tmp.path().join("online"), &no())
        .unwrap();
    let fetched = offline
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap();
    assert!(fetched.from_cache);
    assert_sample_tree(&tmp.path().join("d"));
    assert_eq!(server.requests_to("/p.tar.gz").len(), 1);
}

#[test]
fn mirrors_are_tried_before_the_origin() {
    let archive = gzip(&sample_tar());
    let server = HttpServer::start(vec![
        // First mirror lacks the file, second serves wrong bytes, third has it.
        ("/wrong/p.tar.gz", Route::Ranged(b"garbage".to_vec())),
        ("/good/p.tar.gz", Route::Ranged(archive.clone())),
        ("/origin/p.tar.gz", Route::Ranged(archive.clone())),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .retry(quick_retry(2))
        .mirror(server.url("/missing"))
        .mirror(server.url("/wrong/"))
        .mirror(server.url("/good"))
        .build()
        .unwrap();
    let source =
        Source::archive(server.url("/origin/p.tar.gz"), sha(&archive)).with_strip_components(1);
    let fetched = f.fetch(&source, &tmp.path().join("d"), &no()).unwrap();
    assert_sample_tree(&tmp.path().join("d"));
    assert_eq!(fetched.from_url, Some(server.url("/good/p.tar.gz")));
    assert_eq!(server.requests_to("/missing/p.tar.gz").len(), 1);
    assert_eq!(server.requests_to("/wrong/p.tar.gz").len(), 1);
    assert!(server.requests_to("/origin/p.tar.gz").is_empty());

    // When every source fails, each is named with its error.
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c2"))
        .retry(quick_retry(1))
        .mirror(server.url("/missing"))
        .build()
        .unwrap();
    let source = Source::archive(server.url("/wrong/p.tar.gz"), sha(&archive));
    let err = f.fetch(&source, &tmp.path().join("e"), &no()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/missing/p.tar.gz: ") && text.contains("404"),
        "{text}"
    );
    assert!(text.contains("/wrong/p.tar.gz: sha256 mismatch"), "{text}");
}

#[test]
fn unpinned_fetches_must_be_asked_for_and_report_the_hash() {
    let archive = gzip(&sample_tar());
    let server = HttpServer::start(vec![("/p.tar.gz", Route::Ranged(archive.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let source = Source::unpinned_archive(server.url("/p.tar.gz")).with_strip_components(1);
    let err = fetcher(&tmp.path().join("c"))
        .fetch(&source, &tmp.path().join("d"), &no())
        .unwrap_err();
    assert!(err.to_string().contains("no pinned sha256"), "{err}");
    assert!(server.requests_to("/p.tar.gz").is_empty());

    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .allow_unpinned(true)
        .build()
        .unwrap();
    let fetched = f.fetch(&source, &tmp.path().join("d"), &no()).unwrap();
    assert_eq!(fetched.sha256, Some(sha(&archive)));
    assert!(f.cache().contains(&sha(&archive)));
    assert_sample_tree(&tmp.path().join("d"));
}

#[test]
fn user_agent_progress_and_download_only() {
    let archive = gzip(&sample_tar());
    let server = HttpServer::start(vec![("/p.tar.gz", Route::Ranged(archive.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let last = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(Mutex::new(Vec::new()));
    let (l, t) = (last.clone(), totals.clone());
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .user_agent("kforge-test/1")
        .progress(move |p| {
            assert!(p.source.ends_with("/p.tar.gz"));
            l.store(p.done, Ordering::SeqCst);
            t.lock().unwrap().push(p.total);
        })
        .build()
        .unwrap();
    let got = f
        .download(&server.url("/p.tar.gz"), Some(sha(&archive)), &no())
        .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), archive);
    assert_eq!(last.load(Ordering::SeqCst), archive.len() as u64);
    assert!(
        totals
            .lock()
            .unwrap()
            .iter()
            .all(|t| *t == Some(archive.len() as u64))
    );
    let seen = server.requests_to("/p.tar.gz");
    assert_eq!(seen[0].user_agent.as_deref(), Some("kforge-test/1"));
    let again = f
        .download(&server.url("/p.tar.gz"), Some(sha(&archive)), &no())
        .unwrap();
    assert!(again.from_cache);
    assert_eq!(server.requests_to("/p.tar.gz").len(), 1);
}

#[test]
fn file_urls_and_local_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = zstd(&sample_tar());
    let path = tmp.path().join("p.tar.zst");
    std::fs::write(&path, &archive).unwrap();
    let f = fetcher(&tmp.path().join("c"));
    let source = Source::archive(format!("file://{}", path.display()), sha(&archive))
        .with_strip_components(1);
    f.fetch(&source, &tmp.path().join("d"), &no()).unwrap();
    assert_sample_tree(&tmp.path().join("d"));
    // A local directory is copied with modes, mtimes, symlinks.
    f.fetch(
        &Source::path(tmp.path().join("d")),
        &tmp.path().join("copy"),
        &no(),
    )
    .unwrap();
    use std::os::unix::fs::MetadataExt;
    let copied = std::fs::metadata(tmp.path().join("copy/configure")).unwrap();
    assert_eq!(copied.mtime(), 1_000_000_000);
    assert_eq!(copied.mode() & 0o111, 0o111);
    assert_eq!(
        std::fs::read_link(tmp.path().join("copy/src/link.c")).unwrap(),
        std::path::PathBuf::from("main.c")
    );
}

/// A loopback server that accepts connections, reads the request, sends `reply` (possibly
/// nothing) and then stays silent, holding the connection open until the test ends.
fn stalled_server(reply: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(reply);
            held.push(stream);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_interrupt_stops_a_download_from_a_silent_server_at_once() {
    for (what, reply) in [
        ("accepts and never answers", &b""[..]),
        (
            "sends the headers, then stalls",
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial"[..],
        ),
    ] {
        let base = stalled_server(reply);
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("c");
        let dest = tmp.path().join("d");
        let f = Fetcher::builder()
            .cache_dir(&cache)
            .retry(quick_retry(1))
            // Without the interrupt, the fetch would wait this long for the server.
            .read_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let raised = Arc::new(Mutex::new(None));
        let (flag2, raised2) = (flag.clone(), raised.clone());
        let raiser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            *raised2.lock().unwrap() = Some(std::time::Instant::now());
            flag2.store(true, Ordering::Relaxed);
        });
        let source = Source::archive(format!("{base}/linux-6.1.tar.gz"), sha(b"x"));
        let err = f.fetch(&source, &dest, &flag).unwrap_err();
        let returned = std::time::Instant::now();
        raiser.join().unwrap();
        let raised = raised.lock().unwrap().expect("the flag was raised");
        assert!(err.is_interrupted(), "{what}: {err:?}");
        assert!(
            returned.duration_since(raised) < Duration::from_secs(2),
            "{what}: the fetch returned {:?} after the interrupt",
            returned.duration_since(raised)
        );
        assert!(!dest.exists(), "{what}: something was published");
        let cached = cache.join("archives/sha256").join(sha(b"x").to_hex());
        assert!(!cached.exists(), "{what}: an archive was cached");
    }
}
