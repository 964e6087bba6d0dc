//! Benchmark: kforge-kbuild's supervised `Make` against raw `make`, side by side in one run.
//!
//! 1. Log streaming: Makefiles that print a lot (a `V=1`-style build echoing long command
//!    lines, and a worst case where awk prints as fast as it can) through `Make` with a log
//!    file and a line callback, against `make > /dev/null` and `make > file`.
//! 2. A no-op rebuild of a prepared Linux 6.1 tree (`O=` dir after defconfig +
//!    `modules_prepare`) through `Make` against raw `make`. The tree comes from
//!    `KFORGE_LINUX_SRC` (or the e2e cache); the build directory is kept under the target dir.
//! 3. Cause detection: what `find_cause` costs per line, beside `classify` (`cause`).
//!
//! `cargo bench -p kforge-kbuild` runs it all; without `--bench` (as `cargo test
//! --all-targets` runs it) it does a smoke run of a second at most.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kforge_kbuild::{KernelTree, Make};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // Optional filters: `cargo bench -p kforge-kbuild -- flood` runs only matching parts
    // (`v1`, `flood`, `noop`, `cause`).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    machine();
    let scratch = tempfile::tempdir().expect("temp dir");
    if !full {
        let dir = synthetic(scratch.path(), "smoke", 2_000, 0);
        let raw = time_raw(&dir, None);
        let ours = time_make(&dir, &scratch.path().join("smoke.log"));
        println!(
            "smoke run (pass --bench for the real one): raw make {:.3}s, Make {:.3}s",
            raw.as_secs_f64(),
            ours.as_secs_f64()
        );
        return;
    }
    if wanted("cause") {
        cause_detection();
    }
    let reps = 5;
    println!("\n== log streaming ({reps} runs each, alternating; median)");
    for (name, key, lines, targets) in [
        ("V=1-style build", "v1", 0, 4_000),
        ("awk flood", "flood", 400_000, 0),
    ] {
        if !wanted(key) {
            continue;
        }
        let dir = synthetic(scratch.path(), name, lines, targets);
        let log = scratch.path().join("make.log");
        let raw_file = scratch.path().join("raw.log");
        let (mut null, mut file, mut ours) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            null.push(time_raw(&dir, None));
            file.push(time_raw(&dir, Some(&raw_file)));
            ours.push(time_make(&dir, &log));
        }
        let bytes = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let lines = std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        let (null, file, ours) = (median(null), median(file), median(ours));
        println!(
            "{name}: {lines} lines, {:.1} MB\n  make > /dev/null      {:>8.3}s\n  make > file           {:>8.3}s\n  Make (log+callback)   {:>8.3}s   ratio vs > file {:.3}, vs > /dev/null {:.3}",
            bytes as f64 / 1e6,
            null.as_secs_f64(),
            file.as_secs_f64(),
            ours.as_secs_f64(),
            ours.as_secs_f64() / file.as_secs_f64(),
            ours.as_secs_f64() / null.as_secs_f64(),
        );
    }

    if !wanted("noop") {
        return;
    }
    println!("\n== no-op rebuild of a prepared Linux tree");
    let Some(src) = linux_src() else {
        println!(
            "skipped: no Linux tree (set KFORGE_LINUX_SRC, or run scripts/e2e once to extract linux-source-6.1)"
        );
        return;
    };
    let out = bench_build_dir();
    prepare_tree(&src, &out);
    let reps = 11;
    let jobs = kforge_kbuild::default_jobs();
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let started = Instant::now();
        let status = Command::new("make")
            .arg("-C")
            .arg(&src)
            .arg(format!("-j{jobs}"))
            .arg(format!("O={}", out.display()))
            .args(["ARCH=x86_64", "modules_prepare"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("make");
        assert!(status.success());
        raw.push(started.elapsed());
        let started = Instant::now();
        Make::new(&src)
            .jobs(jobs)
            .build_dir(&out)
            .arch("x86_64")
            .target("modules_prepare")
            .log_file(out.join("kforge-logs/bench-noop.log"))
            .run()
            .expect("Make");
        ours.push(started.elapsed());
    }
    let (raw, ours) = (median(raw), median(ours));
    println!(
        "make modules_prepare (no-op, O={}, -j{jobs}, {reps} runs each, median)\n  raw make   {:>8.3}s\n  Make       {:>8.3}s   ratio {:.3} (goal <= 1.03)",
        out.display(),
        raw.as_secs_f64(),
        ours.as_secs_f64(),
        ours.as_secs_f64() / raw.as_secs_f64()
    );
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

/// 3. What finding the first cause adds per line: `find_cause` (classify + the detector) over
///    400k lines of `V=1` command lines and over a kbuild-like mix (progress, warnings, notes, make's chatter),
///    against `classify` (which every line already goes through) on the same lines.
fn cause_detection() {
    let cmd = "gcc -Wp,-MMD,kernel/.fork.o.d -nostdinc -I./arch/x86/include -include ./include/linux/kconfig.h -D__KERNEL__ -Wall -Wundef -Werror=strict-prototypes -fno-common -std=gnu11 -O2";
    let v1: Vec<String> = (0..400_000)
        .map(|i| format!("{cmd} -c -o obj{i}.o obj{i}.c"))
        .collect();
    let mix: Vec<String> = (0..400_000)
        .map(|i| match i % 8 {
            0 => format!(
                "drivers/net/e{i}.c:{}:5: warning: unused variable 'x' [-Wunused-variable]",
                i % 900
            ),
            1 => "    12 |         int x;".to_string(),
            2 => "       |             ^".to_string(),
            3 => format!(
                "make[{}]: Entering directory '/usr/src/linux/drivers/{i}'",
                i % 4
            ),
            4 => format!("drivers/net/e{i}.c: In function 'probe':"),
            _ => format!("  CC [M]  drivers/net/ethernet/intel/e{i}.o"),
        })
        .collect();
    println!("\n== cause detection (per line, median of 5)");
    for (name, lines) in [("V=1 command lines", &v1), ("kbuild-like mix", &mix)] {
        let median = |f: &dyn Fn() -> usize| {
            let mut times: Vec<Duration> = (0..5)
                .map(|_| {
                    let started = Instant::now();
                    std::hint::black_box(f());
                    started.elapsed()
                })
                .collect();
            times.sort();
            times[2]
        };
        let classify = median(&|| {
            lines
                .iter()
                .filter(|l| kforge_kbuild::classify(l) != kforge_kbuild::LineKind::Other)
                .count()
        });
        let detect = median(&|| usize::from(kforge_kbuild::find_cause(lines.iter()).is_some()));
        let per = |d: Duration| d.as_secs_f64() * 1e9 / lines.len() as f64;
        println!(
            "  {name:<20} classify {:6.1} ns/line   classify + cause detector {:6.1} ns/line",
            per(classify),
            per(detect)
        );
    }
}

/// A Makefile printing `lines` lines with awk, or `targets` targets whose recipes are long,
/// kernel-like command lines echoed by make (what `V=1` output looks like).
fn synthetic(root: &Path, name: &str, lines: usize, targets: usize) -> PathBuf {
    let dir = root.join(name.replace([' ', '=', '/'], "_"));
    std::fs::create_dir_all(&dir).expect("dir");
    let cmd = "gcc -Wp,-MMD,kernel/.fork.o.d -nostdinc -I./arch/x86/include -I./arch/x86/include/generated -I./include -include ./include/linux/compiler-version.h -include ./include/linux/kconfig.h -D__KERNEL__ -fmacro-prefix-map=./= -Wall -Wundef -Werror=strict-prototypes -fno-strict-aliasing -fno-common -fshort-wchar -fno-PIE -std=gnu11 -mno-sse -mno-mmx -O2";
    let mut mk = String::new();
    if targets > 0 {
        mk.push_str("all:");
        for i in 0..targets {
            mk.push_str(&format!(" t{i}"));
        }
        mk.push_str("\nt%:\n\t: ");
        mk.push_str(cmd);
        mk.push_str(" -c -o $@.o $@.c\n");
    } else {
        mk.push_str(&format!(
            "all:\n\t@awk 'BEGIN {{ for (i = 0; i < {lines}; i++) print \"{cmd} -c -o obj\" i \".o obj\" i \".c\" }}'\n"
        ));
    }
    std::fs::write(dir.join("Makefile"), mk).expect("Makefile");
    dir
}

fn time_raw(dir: &Path, log: Option<&Path>) -> Duration {
    let stdout = match log {
        Some(path) => Stdio::from(File::create(path).expect("log")),
        None => Stdio::null(),
    };
    let started = Instant::now();
    let status = Command::new("make")
        .arg("-C")
        .arg(dir)
        .args(["-j1", "--no-print-directory"])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .status()
        .expect("make");
    assert!(status.success());
    started.elapsed()
}

fn time_make(dir: &Path, log: &Path) -> Duration {
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    let started = Instant::now();
    Make::new(dir)
        .jobs(1)
        .log_file(log)
        .on_line(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .run()
        .expect("Make");
    let elapsed = started.elapsed();
    assert!(seen.load(Ordering::Relaxed) > 0);
    elapsed
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn linux_src() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("KFORGE_LINUX_SRC").map(PathBuf::from),
        std::env::var_os("KFORGE_E2E_CACHE").map(|c| PathBuf::from(c).join("linux-source-6.1")),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/kforge-e2e/linux-source-6.1")),
        Some(PathBuf::from("/work/e2e-cache/linux-source-6.1")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("Makefile").is_file())
}

/// A build directory kept between runs, under the cargo target dir.
fn bench_build_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
                .unwrap_or_else(std::env::temp_dir)
        });
    std::path::absolute(target.join("kbuild-bench/linux-6.1-defconfig")).expect("absolute")
}

fn prepare_tree(src: &Path, out: &Path) {
    if out.join("scripts/mod/modpost").is_file() && out.join(".config").is_file() {
        println!("using the prepared build directory {}", out.display());
        return;
    }
    println!(
        "preparing {} (defconfig + modules_prepare, once)",
        out.display()
    );
    let mut tree = KernelTree::new(src);
    tree.build_dir(out).arch("x86_64");
    tree.config_target("defconfig").expect("defconfig");
    tree.prepare_for_external_modules()
        .expect("modules_prepare");
}
