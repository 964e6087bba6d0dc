//! Benchmark: `discover()` on a PATH of about 2,000 entries (temp directories full of
//! non-compiler files, some with near-miss names, plus the real compiler directories), side by
//! side with running `gcc --version` once: the least a user would run to learn one compiler's
//! version. Cold (uncached) and cached discoveries are both measured.
//!
//! `cargo bench -p kforge-toolchain --bench discover` runs it; without `--bench` (as under
//! `cargo test --all-targets`) it does one quick smoke run.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kforge_toolchain::Discovery;

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{cpus} CPUs (nproc), {model}")
}

/// Temp directories holding `total` plain files; a few carry compiler-like names that must be
/// rejected (`gcc-ar-N`, `clang-cpp-N`, `c99-gcc`) or are executable non-compilers.
fn fill_dirs(dirs: usize, total: usize) -> Vec<tempfile::TempDir> {
    let per_dir = total / dirs;
    (0..dirs)
        .map(|d| {
            let dir = tempfile::tempdir().expect("temp dir");
            for i in 0..per_dir {
                let name = match i % 50 {
                    0 => format!("gcc-ar-{d}"),
                    1 => format!("clang-cpp-{d}"),
                    2 => "c99-gcc".to_string(),
                    _ => format!("tool-{d}-{i}"),
                };
                let path = dir.path().join(name);
                std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write file");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }
            dir
        })
        .collect()
}

fn compiler_dirs() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for name in ["gcc", "gcc-11", "gcc-12", "clang"] {
        if let Some(dir) = std::env::split_paths(&path).find(|d| d.join(name).is_file())
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
    }
    if dirs.is_empty() {
        panic!(
            "no compiler on PATH: run scripts/install-deps test (apt-get install gcc-11 gcc-12 clang)"
        );
    }
    dirs
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let real_dirs = compiler_dirs();
    let real_entries: usize = real_dirs
        .iter()
        .map(|d| std::fs::read_dir(d).map_or(0, |r| r.count()))
        .sum();
    // Fill up to about 2,000 entries in all (at least 200 in the temp directories).
    let (dir_count, files, runs) = if full {
        (20, 2000usize.saturating_sub(real_entries).max(200), 15)
    } else {
        (2, 20, 1)
    };
    let fillers = fill_dirs(dir_count, files);
    let mut dirs: Vec<PathBuf> = fillers.iter().map(|d| d.path().to_path_buf()).collect();
    dirs.extend(real_dirs);
    let search_path = std::env::join_paths(&dirs).expect("join PATH");

    let discovery = Discovery::new().path(&search_path);
    let probe = discovery.clone().cache(false).run().expect("discover");
    assert!(!probe.compilers.is_empty(), "no compiler found");
    if !full {
        println!(
            "discover smoke run: {} compilers, {} entries, {}",
            probe.compilers.len(),
            probe.entries_scanned,
            ms(probe.elapsed)
        );
        return;
    }

    println!("machine: {}", machine());
    println!(
        "PATH: {} directories, {} entries; found {} compilers ({}), {} unusable",
        dirs.len(),
        probe.entries_scanned,
        probe.compilers.len(),
        probe
            .compilers
            .iter()
            .map(|c| format!("{} {}", c.command, c.version))
            .collect::<Vec<_>>()
            .join(", "),
        probe.broken.len()
    );
    let (gcc_med, gcc_min) = time(runs, || {
        Command::new("gcc")
            .arg("--version")
            .output()
            .expect("run gcc --version")
    });
    let programs: Vec<PathBuf> = probe.compilers.iter().map(|c| c.path.clone()).collect();
    let (each_med, each_min) = time(runs, || {
        for p in &programs {
            Command::new(p)
                .arg("--version")
                .output()
                .expect("run --version");
        }
    });
    let (cold_med, cold_min) = time(runs, || {
        discovery.clone().cache(false).run().expect("discover")
    });
    let (one_med, one_min) = time(runs, || {
        discovery
            .clone()
            .cache(false)
            .threads(1)
            .run()
            .expect("discover")
    });
    discovery.run().expect("warm the cache");
    let (warm_med, warm_min) = time(runs, || discovery.run().expect("discover"));
    let ratio = |d: Duration| d.as_secs_f64() / gcc_med.as_secs_f64();
    println!("{runs} runs each; median (min)");
    println!(
        "  gcc --version (once)                 {:>10} ({})   1.00x",
        ms(gcc_med),
        ms(gcc_min)
    );
    println!(
        "  --version of each found compiler     {:>10} ({})   {:.2}x",
        ms(each_med),
        ms(each_min),
        ratio(each_med)
    );
    println!(
        "  discover(), uncached, thread pool    {:>10} ({})   {:.2}x",
        ms(cold_med),
        ms(cold_min),
        ratio(cold_med)
    );
    println!(
        "  discover(), uncached, one thread     {:>10} ({})   {:.2}x",
        ms(one_med),
        ms(one_min),
        ratio(one_med)
    );
    println!(
        "  discover(), cached                   {:>10} ({})   {:.2}x",
        ms(warm_med),
        ms(warm_min),
        ratio(warm_med)
    );
    println!(
        "  cached vs uncached: {:.3}x; thread pool vs one thread: {:.2}x",
        warm_med.as_secs_f64() / cold_med.as_secs_f64(),
        cold_med.as_secs_f64() / one_med.as_secs_f64()
    );
}
