//! Benchmark: compiler caches and distributed compilation through kforge-kbuild, against the
//! plain build a user would otherwise run, side by side in one run.
//!
//! 1. `ccache`: a tinyconfig Linux 6.1 kernel (`ARCH=x86_64`, reproducible mode) built with
//!    plain `gcc`, then through `ccache gcc` cold (empty private cache) and warm (a second `O=`
//!    directory, same cache), with the hit counts `Make::cache_stats` reports. The tree comes
//!    from `KFORGE_LINUX_SRC` (or the e2e cache).
//! 2. `distcc`: a small C project (60 files) built with plain `gcc -j2` against `distcc gcc
//!    -j2` sending every compile to a `distccd` on 127.0.0.1. On one machine this measures
//!    distcc's overhead (local preprocessing, the TCP round trip, the daemon's fork), not a
//!    speed-up.
//!
//! `cargo bench -p kforge-kbuild --bench cache` runs it all (filters: `ccache`, `distcc`);
//! without `--bench` (as `cargo test --all-targets` runs it) it does a smoke run of a second at
//! most.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kforge_kbuild::{CacheReport, CacheTool, KernelTree, Make, Reproducible};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    machine();
    let scratch = tempfile::tempdir().expect("temp dir");
    if !full {
        smoke(scratch.path());
        return;
    }
    if wanted("ccache") {
        ccache_kernel(scratch.path());
    }
    if wanted("distcc") {
        distcc_project(scratch.path());
    }
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!(
        "machine: {} CPUs available, {cpu}",
        kforge_kbuild::default_jobs()
    );
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A flat C project: `files` sources with some work for the optimiser, one Makefile.
fn project(root: &Path, files: usize) -> PathBuf {
    let dir = root.join(format!("project-{files}"));
    std::fs::create_dir_all(&dir).expect("project dir");
    let mut makefile = String::from("CC = gcc\nOBJS :=");
    for i in 0..files {
        makefile.push_str(&format!(" f{i}.o"));
        let mut body =
            String::from("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n");
        for j in 0..12 {
            body.push_str(&format!(
                "int f{i}_{j}(const char *s, int n) {{ int h = {j}; for (int k = 0; k < n; k++) h = h * 31 + s[k % (int)strlen(s)]; \
                 char buf[64]; snprintf(buf, sizeof buf, \"%d-%s\", h, s); return (int)strlen(buf) + atoi(buf); }}\n"
            ));
        }
        std::fs::write(dir.join(format!("f{i}.c")), body).expect("source");
    }
    makefile
        .push_str("\nall: $(OBJS)\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\nclean:\n\trm -f $(OBJS)\n");
    std::fs::write(dir.join("Makefile"), makefile).expect("Makefile");
    dir
}

fn smoke(scratch: &Path) {
    if !have("ccache") {
        println!("smoke run skipped: ccache is not installed (scripts/install-deps bench)");
        return;
    }
    let dir = project(scratch, 3);
    let cache = scratch.join("ccache");
    let mut times = Vec::new();
    for _ in 0..2 {
        clean(&dir);
        let mut make = Make::new(&dir);
        make.var("CC", "ccache gcc")
            .env("CCACHE_DIR", &cache)
            .cache_stats(CacheTool::Ccache)
            .target("all");
        let start = Instant::now();
        let outcome = make.run().expect("smoke build");
        times.push((
            start.elapsed(),
            outcome.cache.map(|c| c.to_string()).unwrap_or_default(),
        ));
    }
    println!(
        "smoke run (pass --bench for the real one): cold {:.3}s ({}), warm {:.3}s ({})",
        times[0].0.as_secs_f64(),
        times[0].1,
        times[1].0.as_secs_f64(),
        times[1].1
    );
}

fn linux_src() -> Option<PathBuf> {
    [
        std::env::var_os("KFORGE_LINUX_SRC").map(PathBuf::from),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/kforge-e2e/linux-source-6.1")),
        Some(PathBuf::from("/work/e2e-cache/linux-source-6.1")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.join("Makefile").is_file())
}

/// tinyconfig + the default target in `out`; returns the build's time and counters.
fn tinyconfig(src: &Path, out: &Path, wrapper: Option<&Path>) -> (Duration, Option<CacheReport>) {
    let mut tree = KernelTree::new(src);
    tree.build_dir(out)
        .arch("x86_64")
        .reproducible(Reproducible::default())
        .log_dir(out.join("logs"));
    match wrapper {
        Some(cache) => {
            tree.var("CC", "ccache gcc")
                .var("HOSTCC", "ccache gcc")
                .env("CCACHE_DIR", cache.display().to_string())
                .cache_stats(CacheTool::Ccache);
        }
        None => {
            tree.var("CC", "gcc").var("HOSTCC", "gcc");
        }
    }
    tree.config_target("tinyconfig")
        .unwrap_or_else(|e| panic!("tinyconfig: {e}"));
    let start = Instant::now();
    let outcome = tree
        .build(Vec::<String>::new())
        .unwrap_or_else(|e| panic!("tinyconfig build: {e}"));
    (start.elapsed(), outcome.cache)
}

fn ccache_kernel(scratch: &Path) {
    println!(
        "\n== ccache: tinyconfig Linux x86_64, reproducible mode, -j{}",
        kforge_kbuild::default_jobs()
    );
    let Some(src) = linux_src() else {
        println!(
            "skipped: no Linux tree (set KFORGE_LINUX_SRC, or run scripts/e2e once to extract linux-source-6.1)"
        );
        return;
    };
    if !have("ccache") {
        println!("skipped: ccache is not installed (scripts/install-deps bench)");
        return;
    }
    let cache = scratch.join("ccache");
    let (plain, _) = tinyconfig(&src, &scratch.join("k-plain"), None);
    let (cold, cold_stats) = tinyconfig(&src, &scratch.join("k-cold"), Some(&cache));
    let (warm, warm_stats) = tinyconfig(&src, &scratch.join("k-warm"), Some(&cache));
    let show = |s: &Option<CacheReport>| s.as_ref().map(|c| c.to_string()).unwrap_or_default();
    println!(
        "  make (plain gcc)            {:>8.1}s\n  ccache gcc, cold cache      {:>8.1}s   ratio {:.2}  {}\n  ccache gcc, warm, new O=    {:>8.1}s   ratio {:.2}  {}",
        plain.as_secs_f64(),
        cold.as_secs_f64(),
        cold.as_secs_f64() / plain.as_secs_f64(),
        show(&cold_stats),
        warm.as_secs_f64(),
        warm.as_secs_f64() / plain.as_secs_f64(),
        show(&warm_stats),
    );
}

/// distccd on loopback; stopped (its whole process group) on drop.
struct Distccd(Child);

impl Drop for Distccd {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

fn distcc_project(scratch: &Path) {
    let files = 60;
    println!("\n== distcc: {files} C files, -j2, plain gcc vs distcc to a distccd on 127.0.0.1");
    if !have("distcc") || !have("distccd") {
        println!("skipped: distcc is not installed (scripts/install-deps bench)");
        return;
    }
    use std::os::unix::process::CommandExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let daemon = Command::new("distccd")
        .args([
            "--daemon",
            "--no-detach",
            "--listen",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--allow",
            "127.0.0.1",
            "--jobs",
            "2",
        ])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start distccd");
    let _daemon = Distccd(daemon);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "distccd did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = project(scratch, files);
    let log = scratch.join("distcc-client.log");
    let reps = 3;
    let (mut plain, mut distcc) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..reps {
        clean(&dir);
        let mut make = Make::new(&dir);
        make.jobs(2).var("CC", "gcc").target("all");
        let start = Instant::now();
        make.run().expect("plain build");
        plain.push(start.elapsed());

        clean(&dir);
        let mut make = Make::new(&dir);
        make.jobs(2)
            .var("CC", "distcc gcc")
            .env("DISTCC_HOSTS", format!("127.0.0.1:{port}/2"))
            .env("DISTCC_FALLBACK", "0")
            .env("DISTCC_LOG", &log)
            .cache_stats(CacheTool::Distcc)
            .target("all");
        let start = Instant::now();
        let outcome = make.run().expect("distcc build");
        distcc.push(start.elapsed());
        last = outcome.cache;
    }
    let (plain, distcc) = (median(plain), median(distcc));
    println!(
        "  make -j2 (plain gcc)        {:>8.3}s\n  make -j2 (distcc, loopback) {:>8.3}s   ratio {:.2}  {}",
        plain.as_secs_f64(),
        distcc.as_secs_f64(),
        distcc.as_secs_f64() / plain.as_secs_f64(),
        last.map(|c| c.to_string()).unwrap_or_default()
    );
}

/// `make clean` on its own (with `-j`, `clean all` in one run would race).
fn clean(dir: &Path) {
    Make::new(dir).target("clean").run().expect("make clean");
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}
