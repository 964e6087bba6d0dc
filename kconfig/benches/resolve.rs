//! Kconfig evaluation benchmark on Linux 6.1 x86_64, side by side in one run:
//!
//! * `make O=… ARCH=x86_64 olddefconfig` on the defconfig `.config`, with `conf` already built
//!   (what a user runs today), against `kforge config resolve` (whole process) warm (the probe
//!   and parsed-tree caches of an earlier run: no `$(shell,…)` forks, no Kconfig file parsed)
//!   and cold (`--no-probe-cache`: every file parsed, every probe run);
//! * the library in process: `Kconfig::load` of the whole x86 tree (files, entries, milliseconds)
//!   with the probes cached, parsing every file and from the parsed-tree cache, and
//!   `olddefconfig` on the loaded tree.
//!
//! Every kforge output is checked to be make's byte for byte before any time is reported.
//!
//! `cargo bench -p kforge-kconfig --bench resolve` (or `scripts/bench kconfig`). It needs a Linux
//! 6.1 tree: KFORGE_LINUX_SRC, else ~/.cache/kforge-e2e/linux-source-6.1 (scripts/e2e extracts
//! it). The `kforge` binary is KFORGE_BIN, else built with `cargo build --release -p kforge`.
//! `KFORGE_BENCH_RUNS` sets the number of timed runs (default 7). Without `--bench` (as `cargo
//! test --all-targets` runs it) it only says what it would do.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{kforge_binary, median, ms, print_machine, ratio};
use kforge_kconfig::lang::ast::MenuKind;
use kforge_kconfig::lang::{Kconfig, LoadOptions, Toolchain};

fn linux_src() -> PathBuf {
    if let Some(src) = std::env::var_os("KFORGE_LINUX_SRC") {
        return PathBuf::from(src);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/kforge-e2e/linux-source-6.1")
}

/// A command with the environment of a user who set no build variables.
fn clean(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("ARCH")
        .env_remove("CROSS_COMPILE")
        .env_remove("LLVM")
        .env_remove("CC")
        .env_remove("MAKEFLAGS")
        .env_remove("KCONFIG_CONFIG")
        .env_remove("CONFIG_")
}

fn run_ok(cmd: &mut Command, what: &str) {
    let o = clean(cmd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if !full {
        println!(
            "resolve: `cargo bench -p kforge-kconfig --bench resolve` compares kforge config \
             resolve with make olddefconfig on Linux 6.1 x86_64 (needs KFORGE_LINUX_SRC)"
        );
        return;
    }
    let runs: usize = std::env::var("KFORGE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let src = linux_src();
    assert!(
        src.join("Makefile").is_file(),
        "{} is not a Linux tree: set KFORGE_LINUX_SRC (scripts/e2e extracts Debian's 6.1)",
        src.display()
    );
    print_machine();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("o");
    let make = |target: &str| {
        run_ok(
            Command::new("make")
                .arg("-s")
                .arg("-C")
                .arg(&src)
                .arg(format!("O={}", out.display()))
                .arg("ARCH=x86_64")
                .arg(target),
            &format!("make {target}"),
        );
    };
    // Builds conf in O= and writes the defconfig .config: the input of every run.
    make("defconfig");
    let input = work.path().join("defconfig.config");
    std::fs::copy(out.join(".config"), &input).expect("copy .config");
    make("olddefconfig");
    let expected = std::fs::read_to_string(out.join(".config")).expect("make's .config");

    let bin = match kforge_binary() {
        Ok(bin) => bin,
        Err(e) => panic!("no kforge binary: {e}"),
    };
    let cache = work.path().join("probes");
    let result = work.path().join("kforge.config");
    let resolve = |extra: &[&str]| {
        run_ok(
            Command::new(&bin)
                .args([
                    "-q",
                    "config",
                    "resolve",
                    "--arch",
                    "x86_64",
                    "--kernel-src",
                ])
                .arg(&src)
                .args(extra)
                .arg(&input)
                .arg("-o")
                .arg(&result),
            "kforge config resolve",
        );
        let ours = std::fs::read_to_string(&result).expect("kforge's .config");
        assert!(
            ours == expected,
            "kforge config resolve differs from make olddefconfig: not timing a wrong answer"
        );
    };
    let cache_arg = cache.display().to_string();
    // One run of each per round, interleaved, so that a change in the machine's load hits all
    // three alike; the first round fills the caches and is not counted.
    resolve(&["--probe-cache", &cache_arg]);
    let time = |f: &mut dyn FnMut()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed()
    };
    let (mut makes, mut warms, mut colds) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        makes.push(time(&mut || {
            std::fs::copy(&input, out.join(".config")).expect("reset .config");
            make("olddefconfig");
        }));
        warms.push(time(&mut || resolve(&["--probe-cache", &cache_arg])));
        colds.push(time(&mut || resolve(&["--no-probe-cache"])));
    }
    let mid = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (make_time, warm, cold) = (mid(&mut makes), mid(&mut warms), mid(&mut colds));
    println!(
        "make olddefconfig, conf built (median of {runs}): {}",
        ms(make_time)
    );
    println!(
        "kforge config resolve, warm: probe and parsed-tree caches (median of {runs}): {}",
        ms(warm)
    );
    println!(
        "kforge config resolve, no probe cache (median of {runs}): {}",
        ms(cold)
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("outputs identical to make's .config: yes");

    // The library in process: load of the whole tree (probes cached) and olddefconfig.
    let mut opts = LoadOptions::new(&src);
    opts.arch = Some("x86_64".into());
    opts.toolchain = Some(Toolchain::default());
    opts.probe_cache = Some(cache.clone());
    let kconfig = Kconfig::load(&opts).expect("load");
    let model = kconfig.model();
    let entries = model
        .menus
        .iter()
        .filter(|m| matches!(m.kind, MenuKind::Config(_) | MenuKind::MenuConfig(_)))
        .count();
    let load_time = median(runs, || {
        let k = Kconfig::load(&opts).expect("load");
        std::hint::black_box(k.model().menus.len());
    });
    println!(
        "library: Kconfig::load of the x86 tree from the parsed-tree cache, median of {runs}: {}",
        ms(load_time)
    );
    let mut parse_opts = opts.clone();
    parse_opts.cache_parsed_tree = false;
    let parse_time = median(runs, || {
        let k = Kconfig::load(&parse_opts).expect("load");
        std::hint::black_box(k.model().menus.len());
    });
    println!(
        "library: Kconfig::load parsing the x86 tree ({} files, {entries} config/menuconfig \
         entries, probes cached, no parsed-tree cache), median of {runs}: {}",
        model.files.len(),
        ms(parse_time)
    );
    let eval_time = median(runs, || {
        let r = kconfig.olddefconfig(&input).expect("olddefconfig");
        std::hint::black_box(r.to_config_string());
    });
    println!(
        "library: olddefconfig + write of the loaded tree, median of {runs}: {}",
        ms(eval_time)
    );
    let r = kconfig.olddefconfig(&input).expect("olddefconfig");
    assert!(r.to_config_string() == expected, "library output differs");

    println!();
    println!(
        "ratio, make olddefconfig / kforge config resolve warm = {:.1}x (goal >= 20x)",
        ratio(make_time, warm)
    );
    println!(
        "ratio, make olddefconfig / kforge config resolve cold = {:.1}x (goal >= 2x)",
        ratio(make_time, cold)
    );
    println!(
        "ratio, make olddefconfig / library load + olddefconfig = {:.1}x",
        ratio(make_time, load_time + eval_time)
    );
}
