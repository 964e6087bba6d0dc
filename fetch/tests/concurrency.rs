//! Two processes fetching the same URL into one cache at once: both succeed, one entry.

mod common;

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::*;
use kforge_fetch::{Fetcher, Sha256Digest, Source};

const CHILD_ENV: &str = "KFORGE_FETCH_TEST_CHILD";

/// The child side: the test binary runs itself (this same test) with the fetch to do in an
/// environment variable.
fn child_fetch(spec: &str) {
    let mut parts = spec.split('\n');
    let (url, sha, cache, dest) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let sha: Sha256Digest = sha.parse().unwrap();
    let f = Fetcher::builder().cache_dir(cache).build().unwrap();
    let fetched = f
        .fetch(
            &Source::archive(url, sha).with_strip_components(1),
            dest.as_ref(),
            &AtomicBool::new(false),
        )
        .unwrap();
    println!("from_cache={}", fetched.from_cache);
}

#[test]
fn two_processes_share_one_cache() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child_fetch(&spec);
        return;
    }
    let archive = gzip(&sample_tar());
    let digest = sha(&archive);
    // Slow enough that the two downloads overlap.
    let server = HttpServer::start(vec![(
        "/p.tar.gz",
        Route::SlowBody {
            chunk: 8 * 1024,
            pause: Duration::from_millis(10),
            body: archive.clone(),
        },
    )]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| {
            let spec = format!(
                "{}\n{}\n{}\n{}",
                server.url("/p.tar.gz"),
                digest,
                cache.display(),
                tmp.path().join(name).display()
            );
            Command::new(&exe)
                .args([
                    "--exact",
                    "two_processes_share_one_cache",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, spec)
                .output_async()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut from_cache = Vec::new();
    for out in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        from_cache.push(stdout.contains("from_cache=true"));
    }
    assert_sample_tree(&tmp.path().join("a"));
    assert_sample_tree(&tmp.path().join("b"));
    // One downloaded, the other waited for the lock and used the verified entry.
    from_cache.sort();
    assert_eq!(from_cache, vec![false, true]);
    assert_eq!(server.requests_to("/p.tar.gz").len(), 1);
    assert_eq!(
        entries(&cache.join("archives/sha256")),
        vec![digest.to_hex()]
    );
    assert_eq!(
        std::fs::read(cache.join("archives/sha256").join(digest.to_hex())).unwrap(),
        archive
    );
    assert!(entries(&cache.join("partial")).is_empty());
}

trait SpawnPiped {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
