//! Merge benchmark: the kernel's own `scripts/kconfig/merge_config.sh -m` against `kforge config
//! merge` (whole process against whole process) and the library in process, merging 5 fragments
//! of 200 lines into the Linux 6.1 x86_64 defconfig `.config`; plus parse+write of a 10,000-line
//! `.config`.
//!
//! `cargo bench -p kforge-kconfig --bench merge` (or `scripts/bench kconfig`) runs everything. It
//! needs a Linux tree for merge_config.sh: KFORGE_LINUX_SRC, else
//! /work/e2e-cache/linux-source-6.1. The `kforge` binary is taken from KFORGE_BIN, else built
//! with `cargo build --release -p kforge` into the same target directory.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a short smoke run of the
//! in-process measurements only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{kforge_binary, median, ms, print_machine, ratio};

use kforge_kconfig::{Config, Fragment, Value, merge};

const FRAGMENTS: usize = 5;
const FRAGMENT_LINES: usize = 200;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base_path = manifest.join("tests/fixtures/linux-6.1-x86_64-defconfig.config");
    let base_text = std::fs::read_to_string(&base_path).expect("fixture");
    let base = Config::parse(&base_text).expect("fixture parses");
    let work = tempfile::tempdir().expect("tempdir");
    let fragment_paths = write_fragments(&base, work.path());
    let base_copy = work.path().join("base.config");
    std::fs::write(&base_copy, &base_text).expect("write base");

    print_machine();
    println!(
        "input: {} ({} lines) + {FRAGMENTS} fragments x {FRAGMENT_LINES} lines",
        base_path.file_name().unwrap_or_default().to_string_lossy(),
        base.line_count()
    );
    println!();

    // Library, in process: read + parse everything, merge, render.
    let library_runs = if full { 200 } else { 5 };
    let library = median(library_runs, || {
        let base = Config::read(&base_copy).expect("base");
        let fragments: Vec<Fragment> = fragment_paths
            .iter()
            .map(|p| Fragment::read(p).expect("fragment"))
            .collect();
        let merged = merge(&base, &fragments);
        std::hint::black_box(merged.config.to_string());
    });
    println!(
        "kforge library, in process (read, merge, render): {}",
        ms(library)
    );

    // Parse + write of a 10,000-line .config.
    let big = ten_thousand_lines(&base);
    let parse_write_runs = if full { 100 } else { 3 };
    let parse_write = median(parse_write_runs, || {
        let c = Config::parse(&big).expect("big parses");
        let out = c.to_string();
        assert_eq!(out.len(), big.len());
        std::hint::black_box(out);
    });
    println!(
        "parse + write of a {}-line .config: {}",
        big.lines().count(),
        ms(parse_write)
    );

    if !full {
        println!("\n(smoke run; `cargo bench -p kforge-kconfig --bench merge` for the comparison)");
        return;
    }

    // The kernel's merge_config.sh -m, whole process.
    let src = std::env::var_os("KFORGE_LINUX_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/e2e-cache/linux-source-6.1"));
    let script = src.join("scripts/kconfig/merge_config.sh");
    assert!(
        script.is_file(),
        "{} not found: set KFORGE_LINUX_SRC to an extracted Linux tree (scripts/e2e prepares one)",
        script.display()
    );
    let kernel_out = work.path().join("kernel-out");
    std::fs::create_dir(&kernel_out).expect("mkdir");
    let kernel_runs = 3;
    let kernel = median(kernel_runs, || {
        let o = Command::new("sh")
            .arg(&script)
            .arg("-m")
            .arg("-O")
            .arg(&kernel_out)
            .arg(&base_copy)
            .args(&fragment_paths)
            .current_dir(work.path())
            .env_remove("CONFIG_")
            .env_remove("KCONFIG_CONFIG")
            .output()
            .expect("run merge_config.sh");
        assert!(
            o.status.success(),
            "merge_config.sh failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    });
    println!(
        "kernel scripts/kconfig/merge_config.sh -m (whole process, median of {kernel_runs}): {}",
        ms(kernel)
    );

    // kforge config merge, whole process.
    let cli = match kforge_binary() {
        Ok(bin) => {
            let out = work.path().join("kforge-out.config");
            let runs = 30;
            let t = median(runs, || {
                let o = Command::new(&bin)
                    .args(["-q", "config", "merge"])
                    .arg(&base_copy)
                    .args(&fragment_paths)
                    .arg("-o")
                    .arg(&out)
                    .output()
                    .expect("run kforge");
                assert!(
                    o.status.success(),
                    "kforge failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            });
            println!(
                "kforge config merge (whole process, {}, median of {runs}): {}",
                bin.display(),
                ms(t)
            );
            // Same result as the kernel's script, symbol for symbol.
            let ours = Config::read(&out).expect("kforge output");
            let theirs = Config::read(kernel_out.join(".config")).expect("kernel output");
            assert!(ours == theirs, "kforge and merge_config.sh disagree");
            println!(
                "outputs agree symbol for symbol: yes ({} symbols)",
                ours.len()
            );
            Some(t)
        }
        Err(e) => {
            println!("kforge config merge (whole process): not measured: {e}");
            None
        }
    };

    println!();
    if let Some(cli) = cli {
        println!(
            "ratio, whole process: merge_config.sh / kforge config merge = {:.0}x (goal >= 300x)",
            ratio(kernel, cli)
        );
    }
    println!(
        "ratio, library: merge_config.sh / kforge library in process = {:.0}x",
        ratio(kernel, library)
    );
}

/// Five fragments of 200 assignments over overlapping windows of the base's symbols, so later
/// fragments redefine earlier ones; a few symbols are new.
fn write_fragments(base: &Config, dir: &Path) -> Vec<PathBuf> {
    let symbols: Vec<(String, Value)> = base
        .symbols()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    (0..FRAGMENTS)
        .map(|i| {
            let mut text = String::new();
            for k in 0..FRAGMENT_LINES {
                let idx = (i * 150 + k) * 3 % symbols.len();
                let (name, value) = &symbols[idx];
                let new = match value {
                    Value::Yes => Value::No,
                    Value::No if k % 2 == 0 => Value::Module,
                    Value::No => Value::Yes,
                    Value::Module => Value::Yes,
                    Value::Int(n) => Value::Int(n + i as i64 + 1),
                    Value::Hex(h) => Value::Hex(h + 0x1000),
                    Value::Str(s) => Value::Str(format!("{s}-frag{i}")),
                };
                let line = match new {
                    Value::No => format!("# CONFIG_{name} is not set\n"),
                    v => format!("CONFIG_{name}={}\n", v.to_config_text()),
                };
                if k % 40 == 39 {
                    text.push_str(&format!("CONFIG_KFORGE_BENCH_NEW_{i}_{k}=y\n"));
                } else {
                    text.push_str(&line);
                }
            }
            let path = dir.join(format!("frag{i}.config"));
            std::fs::write(&path, text).expect("write fragment");
            path
        })
        .collect()
}

/// A 10,000-line `.config`: the defconfig's lines repeated with renamed symbols.
fn ten_thousand_lines(base: &Config) -> String {
    let text = base.to_string();
    let mut out = String::new();
    let mut lines = 0;
    for round in 0.. {
        for line in text.lines() {
            if lines == 10_000 {
                return out;
            }
            out.push_str(&line.replacen("CONFIG_", &format!("CONFIG_R{round}_"), 1));
            out.push('\n');
            lines += 1;
        }
    }
    out
}
