//! Fetch + verify + extract a real kernel tarball served on loopback, side by side with what a
//! user would otherwise run:
//!
//! - (a) the HOWTO way: `curl -o` then `sha256sum` then `tar xJf`;
//! - (b) a streaming shell pipeline: `curl | tee >(sha256sum) | tar xJ`;
//! - kforge cold (empty cache: one streaming pass) and warm (archive in the cache).
//!
//! `cargo bench -p kforge-fetch` (or `scripts/bench fetch`) runs it on
//! `$KFORGE_LINUX_TARBALL` (default `/usr/src/linux-source-6.1.tar.xz`, from
//! `scripts/install-deps bench`); `KFORGE_BENCH_RUNS` sets the rounds (default 3). Without
//! `--bench` (as `cargo test --all-targets` runs it) it does a one-second smoke run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use kforge_fetch::{Fetcher, Sha256Digest, Source};

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if bench {
        full();
    } else {
        smoke();
    }
}

/// Serve `body` at `/NAME` on loopback; returns the base URL.
fn serve(name: &str, body: Vec<u8>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind loopback");
    let port = server.server_addr().to_ip().expect("ip").port();
    let path = format!("/{name}");
    let body = std::sync::Arc::new(body);
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let body = body.clone();
            let ok = request.url() == path;
            std::thread::spawn(move || {
                let response = if ok {
                    let len = body.len();
                    tiny_http::Response::new(
                        200.into(),
                        vec![],
                        std::io::Cursor::new(SharedBytes(body)),
                        Some(len),
                        None,
                    )
                } else {
                    tiny_http::Response::new(
                        404.into(),
                        vec![],
                        std::io::Cursor::new(SharedBytes(Default::default())),
                        Some(0),
                        None,
                    )
                };
                let _ = request.respond(response.with_chunked_threshold(usize::MAX));
            });
        }
    });
    format!("http://127.0.0.1:{port}/{name}")
}

struct SharedBytes(std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn smoke() {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    tar.append_data(&mut header, "smoke/hello", &b"hello"[..])
        .expect("tar");
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&tar.into_inner().expect("tar")).expect("xz");
    let archive = xz.finish().expect("xz");
    let sha = Sha256Digest::of_bytes(&archive);
    let url = serve("smoke.tar.xz", archive);
    let tmp = tempfile::tempdir().expect("tempdir");
    let fetcher = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .build()
        .expect("fetcher");
    let started = Instant::now();
    fetcher
        .fetch(
            &Source::archive(url, sha).with_strip_components(1),
            &tmp.path().join("t"),
            &AtomicBool::new(false),
        )
        .expect("smoke fetch");
    assert!(tmp.path().join("t/hello").is_file());
    println!(
        "fetch benchmark smoke run: {:?} (run `cargo bench -p kforge-fetch` for the real one)",
        started.elapsed()
    );
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{nproc} CPUs, {cpu}; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn sh(script: &str, dir: &Path) {
    let status = Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .status()
        .expect("bash (and curl, sha256sum, tar, xz) are needed: scripts/install-deps test");
    assert!(status.success(), "failed: {script}");
}

/// Flush dirty pages and wait past the kernel's dirty-expire interval (30 s by default):
/// ext4 skips recently deleted inodes when allocating, which slows a fresh extraction a lot.
fn settle() {
    let _ = Command::new("sync").status();
    let expire = std::fs::read_to_string("/proc/sys/vm/dirty_expire_centisecs")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(3000);
    std::thread::sleep(Duration::from_millis(expire * 10 + 5000));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn full() {
    let tarball = std::env::var_os("KFORGE_LINUX_TARBALL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/src/linux-source-6.1.tar.xz"));
    let archive = std::fs::read(&tarball).unwrap_or_else(|e| {
        panic!("{}: {e}; install it with scripts/install-deps bench (Debian package linux-source-6.1) or set KFORGE_LINUX_TARBALL", tarball.display())
    });
    let runs: usize = std::env::var("KFORGE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let sha = Sha256Digest::of_bytes(&archive);
    let name = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("linux.tar.xz")
        .to_owned();
    println!(
        "fetch benchmark: {} ({} bytes, sha256 {sha})",
        tarball.display(),
        archive.len()
    );
    println!("machine: {}", machine());
    let url = serve(&name, archive);
    // Scratch space beside the target directory (same disk as a real build tree).
    let scratch_root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    std::fs::create_dir_all(&scratch_root).expect("scratch");
    let scratch = tempfile::tempdir_in(&scratch_root).expect("scratch dir");
    let dir = scratch.path();
    let warm_cache = dir.join("warm-cache");
    let fetcher = |cache: &Path| {
        Fetcher::builder()
            .cache_dir(cache)
            .build()
            .expect("fetcher")
    };
    // Fill the warm cache once.
    fetcher(&warm_cache)
        .download(&url, Some(sha), &AtomicBool::new(false))
        .expect("warm-up download");

    let (mut a, mut b, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    settle();
    for round in 0..runs {
        let round_dir = dir.join(format!("round-{round}"));
        std::fs::create_dir_all(&round_dir).expect("mkdir");
        // Rotate the order so that no variant always runs first.
        for step in 0..4 {
            // Start each variant with no dirty pages of the previous one still being written.
            let _ = Command::new("sync").status();
            match (round + step) % 4 {
                0 => {
                    // (a) curl -o, sha256sum, tar xJf
                    let tree = round_dir.join("a");
                    std::fs::create_dir_all(&tree).expect("mkdir");
                    let t = Instant::now();
                    sh(
                        &format!(
                            "curl -sS -o ../a.tar.xz '{url}' && sha256sum ../a.tar.xz | grep -q {sha} && tar xJf ../a.tar.xz"
                        ),
                        &tree,
                    );
                    a.push(t.elapsed());
                }
                1 => {
                    // (b) curl | tee >(sha256sum) | tar xJ
                    let tree = round_dir.join("b");
                    std::fs::create_dir_all(&tree).expect("mkdir");
                    let t = Instant::now();
                    sh(
                        &format!(
                            "set -o pipefail; curl -sS '{url}' | tee >(sha256sum > ../b.sum) | tar xJ && wait && grep -q {sha} ../b.sum"
                        ),
                        &tree,
                    );
                    b.push(t.elapsed());
                }
                2 => {
                    // kforge, empty cache: one streaming pass.
                    let t = Instant::now();
                    fetcher(&round_dir.join("cold-cache"))
                        .fetch(
                            &Source::archive(url.clone(), sha),
                            &round_dir.join("cold"),
                            &AtomicBool::new(false),
                        )
                        .expect("kforge cold fetch");
                    cold.push(t.elapsed());
                }
                _ => {
                    // kforge, archive in the cache.
                    let t = Instant::now();
                    fetcher(&warm_cache)
                        .fetch(
                            &Source::archive(url.clone(), sha),
                            &round_dir.join("warm"),
                            &AtomicBool::new(false),
                        )
                        .expect("kforge warm fetch");
                    warm.push(t.elapsed());
                }
            }
        }
        println!(
            "round {}: (a) {:.2}s  (b) {:.2}s  kforge cold {:.2}s  kforge warm {:.2}s",
            round + 1,
            a[round].as_secs_f64(),
            b[round].as_secs_f64(),
            cold[round].as_secs_f64(),
            warm[round].as_secs_f64()
        );
        // Delete outside the timed part, then let ext4 forget the deleted inodes (creating
        // files right after deleting many is much slower) before the next round.
        std::fs::remove_dir_all(&round_dir).expect("remove round trees");
        if round + 1 < runs {
            settle();
        }
    }
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let (best_a, best_b, best_cold, best_warm) = (best(&a), best(&b), best(&cold), best(&warm));
    println!(
        "best of {runs} rounds (least disturbed by other load): (a) {:.2}s  (b) {:.2}s  kforge cold {:.2}s = {:.2}x (a), {:.2}x (b)  kforge warm {:.2}s = {:.2}x (a), {:.2}x (b)",
        best_a.as_secs_f64(),
        best_b.as_secs_f64(),
        best_cold.as_secs_f64(),
        best_cold.as_secs_f64() / best_a.as_secs_f64(),
        best_cold.as_secs_f64() / best_b.as_secs_f64(),
        best_warm.as_secs_f64(),
        best_warm.as_secs_f64() / best_a.as_secs_f64(),
        best_warm.as_secs_f64() / best_b.as_secs_f64(),
    );
    let (a, b, cold, warm) = (median(a), median(b), median(cold), median(warm));
    println!("median of {runs} rounds:");
    println!(
        "  (a) curl -o && sha256sum && tar xJf   {:>6.2}s",
        a.as_secs_f64()
    );
    println!(
        "  (b) curl | tee >(sha256sum) | tar xJ  {:>6.2}s",
        b.as_secs_f64()
    );
    println!(
        "  kforge fetch, cold cache              {:>6.2}s  = {:.2}x (a) (goal <= 0.60x), {:.2}x (b) (goal <= 0.75x)",
        cold.as_secs_f64(),
        cold.as_secs_f64() / a.as_secs_f64(),
        cold.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "  kforge fetch, warm cache              {:>6.2}s  = {:.2}x (a), {:.2}x (b)",
        warm.as_secs_f64(),
        warm.as_secs_f64() / a.as_secs_f64(),
        warm.as_secs_f64() / b.as_secs_f64()
    );
}
