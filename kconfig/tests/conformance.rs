//! Opt-in conformance run of the Kconfig evaluator against the kernel's own tools on a real tree
//! (run by `scripts/e2e`, which sets KFORGE_LINUX_SRC to Debian's extracted Linux 6.1):
//!
//! ```sh
//! KFORGE_LINUX_SRC=/path/to/linux-6.1 cargo test --release -p kforge-kconfig --test conformance \
//!     -- --ignored --nocapture
//! ```
//!
//! For each architecture (x86_64, i386, arm64, arm, riscv, powerpc, s390, mips, loongarch, sparc;
//! `KFORGE_CONFORMANCE_ARCHES=x86_64,arm64` narrows it) the expected outputs come from `make
//! O=… ARCH=… <target>` in a scratch build directory: defconfig, allnoconfig, allyesconfig,
//! allmodconfig, alldefconfig, savedefconfig of the defconfig, and `randconfig` outputs
//! (`KCONFIG_SEED` 1..=N, N = `KFORGE_CONFORMANCE_SEEDS`, default 15) fed back through
//! `olddefconfig`; for mips also the merge targets `64r6_defconfig`, `micro32r2el_defconfig` and
//! `ocelot_defconfig`; for x86_64 also Debian's amd64 configs (`/usr/src/linux-config-6.1/*.xz`, from
//! the package linux-config-6.1) and the running kernel's configuration, each through
//! `olddefconfig`. kforge's output must equal make's byte for byte. The run prints a table of
//! cases and mismatches and fails with the first difference when any case differs.
//!
//! The tree named by KFORGE_LINUX_SRC is never modified (every make uses O=).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use common::{ARCHES, linux_src, make};
use kforge_kconfig::lang::{Kconfig, LoadOptions, Target, Toolchain};

/// One conformance case: what make produced and what kforge produced.
struct Outcome {
    arch: String,
    case: String,
    /// `None` when equal; else the difference (or kforge's error).
    mismatch: Option<String>,
}

/// The input a case starts from.
enum Input {
    /// A new configuration from a target.
    New(Target),
    /// `olddefconfig` of a `.config`.
    Old(PathBuf),
    /// `savedefconfig` of a `.config`.
    Save(PathBuf),
}

struct Case {
    name: String,
    input: Input,
    expected: String,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Debian's amd64 configurations, decompressed into `dir`.
fn debian_configs(dir: &Path) -> Vec<(String, PathBuf)> {
    let base = Path::new("/usr/src/linux-config-6.1");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(base)
        .unwrap_or_else(|e| {
            panic!(
                "cannot list {} ({e}): install Debian's linux-config-6.1 (scripts/install-deps e2e)",
                base.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("config.amd64_") && n.ends_with(".xz"))
        })
        .collect();
    entries.sort();
    assert!(
        !entries.is_empty(),
        "{} holds no config.amd64_*.xz",
        base.display()
    );
    entries
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .trim_end_matches(".xz")
                .to_string();
            let o = Command::new("xz")
                .arg("-dc")
                .arg(&p)
                .output()
                .unwrap_or_else(|e| panic!("cannot run xz ({e}): apt-get install xz-utils"));
            assert!(o.status.success(), "xz -dc {} failed", p.display());
            let dest = dir.join(&name);
            std::fs::write(&dest, &o.stdout).expect("write decompressed config");
            (format!("debian {name}"), dest)
        })
        .collect()
}

/// The running kernel's configuration (/proc/config.gz, else /boot/config-$(uname -r)).
fn running_config(dir: &Path) -> Option<(String, PathBuf)> {
    let dest = dir.join("running.config");
    if let Ok(f) = std::fs::File::open("/proc/config.gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(f)
            .read_to_string(&mut text)
            .expect("decompress /proc/config.gz");
        std::fs::write(&dest, text).expect("write running config");
        return Some(("running /proc/config.gz".into(), dest));
    }
    let release = Command::new("uname").arg("-r").output().ok()?;
    let release = String::from_utf8_lossy(&release.stdout).trim().to_string();
    let boot = PathBuf::from(format!("/boot/config-{release}"));
    std::fs::copy(&boot, &dest).ok()?;
    Some((format!("running {}", boot.display()), dest))
}

/// Every case of one architecture, with make's output as the expectation.
fn make_cases(src: &Path, arch: &str, work: &Path, seeds: u32) -> Vec<Case> {
    let out = work.join("o");
    let inputs = work.join("inputs");
    std::fs::create_dir_all(&inputs).expect("mkdir");
    let config = out.join(".config");
    let mut cases = Vec::new();

    make(src, &out, arch, &["defconfig"]);
    let defconfig = read(&config);
    let defconfig_path = inputs.join("defconfig.config");
    std::fs::write(&defconfig_path, &defconfig).expect("write");
    cases.push(Case {
        name: "defconfig".into(),
        input: Input::New(Target::Defconfig),
        expected: defconfig,
    });
    make(src, &out, arch, &["savedefconfig"]);
    cases.push(Case {
        name: "savedefconfig of defconfig".into(),
        input: Input::Save(defconfig_path),
        expected: read(&out.join("defconfig")),
    });
    for (target, t) in [
        ("allnoconfig", Target::AllNo),
        ("allyesconfig", Target::AllYes),
        ("allmodconfig", Target::AllMod),
        ("alldefconfig", Target::AllDef),
    ] {
        make(src, &out, arch, &[target]);
        cases.push(Case {
            name: target.into(),
            input: Input::New(t),
            expected: read(&config),
        });
    }
    for seed in 1..=seeds {
        make(
            src,
            &out,
            arch,
            &["randconfig", &format!("KCONFIG_SEED={seed}")],
        );
        let rand = inputs.join(format!("rand-{seed}.config"));
        std::fs::copy(&config, &rand).expect("copy randconfig");
        make(src, &out, arch, &["olddefconfig"]);
        cases.push(Case {
            name: format!("olddefconfig of randconfig seed {seed}"),
            input: Input::Old(rand),
            expected: read(&config),
        });
    }
    if arch == "mips" {
        // Merge targets of arch/mips/Makefile besides the default one: another ISA and
        // endianness, and a legacy alias that names its boards (`BOARDS=ocelot`).
        for target in [
            "64r6_defconfig",
            "micro32r2el_defconfig",
            "ocelot_defconfig",
        ] {
            make(src, &out, arch, &[target]);
            cases.push(Case {
                name: target.into(),
                input: Input::New(Target::NamedDefconfig(target.into())),
                expected: read(&config),
            });
        }
    }
    if arch == "x86_64" {
        let mut extra = debian_configs(&inputs);
        extra.extend(running_config(&inputs));
        for (label, path) in extra {
            std::fs::copy(&path, &config).expect("install config");
            make(src, &out, arch, &["olddefconfig"]);
            cases.push(Case {
                name: format!("olddefconfig of {label}"),
                input: Input::Old(path),
                expected: read(&config),
            });
        }
    }
    cases
}

fn kforge_output(kconfig: &Kconfig, input: &Input) -> Result<String, String> {
    match input {
        Input::New(target) => kconfig
            .new_config(target)
            .map(|r| r.to_config_string())
            .map_err(|e| error_chain(&e)),
        Input::Old(path) => kconfig
            .olddefconfig(path)
            .map(|r| r.to_config_string())
            .map_err(|e| error_chain(&e)),
        Input::Save(path) => kconfig
            .olddefconfig(path)
            .map(|r| r.to_savedefconfig_string())
            .map_err(|e| error_chain(&e)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

fn run_arch(src: &Path, arch: &str, seeds: u32) -> Vec<Outcome> {
    let work = tempfile::Builder::new()
        .prefix(&format!("kconfig-conformance-{arch}-"))
        .tempdir()
        .expect("tempdir");
    let t = Instant::now();
    let cases = make_cases(src, arch, work.path(), seeds);
    let make_time = t.elapsed();
    let t = Instant::now();
    let mut opts = LoadOptions::new(src);
    opts.arch = Some(arch.to_string());
    // make runs with no CROSS_COMPILE or LLVM in its environment.
    opts.toolchain = Some(Toolchain::default());
    let loaded = Kconfig::load(&opts);
    let load_time = t.elapsed();
    let t = Instant::now();
    let outcomes: Vec<Outcome> = cases
        .iter()
        .map(|case| {
            let mismatch = match &loaded {
                Err(e) => Some(format!(
                    "kforge could not load the tree: {}",
                    error_chain(e)
                )),
                Ok(k) => match kforge_output(k, &case.input) {
                    Err(e) => Some(format!("kforge failed: {e}")),
                    Ok(text) => common::compare::difference(&case.expected, &text),
                },
            };
            Outcome {
                arch: arch.to_string(),
                case: case.name.clone(),
                mismatch,
            }
        })
        .collect();
    eprintln!(
        "{arch}: {} cases; make {:.1} s, kforge load {:.0} ms, kforge operations {:.0} ms",
        outcomes.len(),
        make_time.as_secs_f64(),
        load_time.as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 1e3
    );
    outcomes
}

fn env_list(name: &str, default: &[&str]) -> Vec<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
        _ => default.iter().map(|s| s.to_string()).collect(),
    }
}

fn report(outcomes: &[Outcome]) {
    let mut per_arch: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in outcomes {
        let e = per_arch.entry(&o.arch).or_default();
        e.0 += 1;
        e.1 += usize::from(o.mismatch.is_some());
    }
    println!("\n{:<12} {:>6} {:>11}", "arch", "cases", "mismatches");
    for (arch, (cases, bad)) in &per_arch {
        println!("{arch:<12} {cases:>6} {bad:>11}");
    }
    let total = outcomes.len();
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| o.mismatch.is_some()).collect();
    println!("{:<12} {total:>6} {:>11}", "total", bad.len());
    if !bad.is_empty() {
        println!("\nmismatched cases:");
        for o in &bad {
            let first = o
                .mismatch
                .as_deref()
                .and_then(|m| m.lines().next())
                .unwrap_or_default();
            println!("  {} {}: {first}", o.arch, o.case);
        }
    }
}

#[test]
#[ignore = "needs a Linux 6.1 tree in KFORGE_LINUX_SRC and ~10 minutes; run scripts/e2e"]
fn conformance_linux_6_1_ten_architectures() {
    let src = linux_src();
    let arches = env_list("KFORGE_CONFORMANCE_ARCHES", ARCHES);
    let seeds: u32 = std::env::var("KFORGE_CONFORMANCE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    // Two architectures at a time: each make run is single-threaded.
    let queue = Mutex::new(arches.clone());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(arch) = queue.lock().expect("queue").pop() else {
                        break;
                    };
                    let r = run_arch(&src, &arch, seeds);
                    results.lock().expect("results").extend(r);
                }
            });
        }
    });
    let mut outcomes = results.into_inner().expect("results");
    let order = |a: &str| arches.iter().position(|x| x == a).unwrap_or(usize::MAX);
    outcomes.sort_by_key(|o| order(&o.arch));
    report(&outcomes);
    if let Some(first) = outcomes.iter().find(|o| o.mismatch.is_some()) {
        let bad = outcomes.iter().filter(|o| o.mismatch.is_some()).count();
        panic!(
            "{bad} of {} cases differ from make; first: {} {}\n{}",
            outcomes.len(),
            first.arch,
            first.case,
            first.mismatch.as_deref().unwrap_or_default()
        );
    }
}

/// The Xen tarball (`KFORGE_XEN_TARBALL`, set by scripts/e2e from `apt-get source xen`).
fn xen_tarball() -> PathBuf {
    let Some(t) = std::env::var_os("KFORGE_XEN_TARBALL") else {
        panic!(
            "KFORGE_XEN_TARBALL is not set: run scripts/e2e (it downloads Xen 4.17 with \
             `scripts/e2e-flows --download-only xen`), or point it at xen_4.17*.orig.tar.xz"
        );
    };
    PathBuf::from(t)
}

/// The environment `conf` read, from the `ifneq "$(VAR)" "value"` lines of
/// `include/config/auto.conf.cmd`.
fn env_from_auto_conf_cmd(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("ifneq \"$(")?;
            let (name, rest) = rest.split_once(")\" \"")?;
            let value = rest.strip_suffix('"')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

fn make_xen(xen: &Path, args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    common::make_in(xen, &args);
}

/// Xen 4.17's own Kconfig (`xen/Kconfig`, with Xen's copy of the kconfig tools, `option
/// defconfig_list` and its `$(shell,…)` version probes): `make -C xen defconfig`,
/// `alldefconfig`, `savedefconfig` and `olddefconfig` of randconfig outputs against kforge,
/// with the environment conf read (from `include/config/auto.conf.cmd`).
#[test]
#[ignore = "needs Xen 4.17's source tarball in KFORGE_XEN_TARBALL; run scripts/e2e"]
fn conformance_xen_4_17() {
    let tarball = xen_tarball();
    let work = tempfile::Builder::new()
        .prefix("kconfig-conformance-xen-")
        .tempdir()
        .expect("tempdir");
    let o = Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(work.path())
        .arg("--strip-components=1")
        .output()
        .expect("run tar");
    assert!(o.status.success(), "tar -xf {} failed", tarball.display());
    let xen = work.path().join("xen");
    let inputs = work.path().join("inputs");
    std::fs::create_dir_all(&inputs).expect("mkdir");
    let config = xen.join(".config");
    let seeds: u32 = std::env::var("KFORGE_CONFORMANCE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);

    let mut cases = Vec::new();
    make_xen(&xen, &["defconfig"]);
    let defconfig = read(&config);
    let defconfig_path = inputs.join("defconfig.config");
    std::fs::write(&defconfig_path, &defconfig).expect("write");
    let env = env_from_auto_conf_cmd(&read(&xen.join("include/config/auto.conf.cmd")));
    assert!(
        env.contains_key("SRCARCH"),
        "auto.conf.cmd lists no SRCARCH: {env:?}"
    );
    cases.push(Case {
        name: "defconfig".into(),
        input: Input::New(Target::DefconfigFile(
            xen.join("arch/x86/configs/x86_64_defconfig"),
        )),
        expected: defconfig,
    });
    make_xen(&xen, &["savedefconfig"]);
    cases.push(Case {
        name: "savedefconfig of defconfig".into(),
        input: Input::Save(defconfig_path),
        expected: read(&xen.join("defconfig")),
    });
    for seed in 1..=seeds {
        make_xen(&xen, &["randconfig", &format!("KCONFIG_SEED={seed}")]);
        let rand = inputs.join(format!("rand-{seed}.config"));
        std::fs::copy(&config, &rand).expect("copy randconfig");
        make_xen(&xen, &["olddefconfig"]);
        cases.push(Case {
            name: format!("olddefconfig of randconfig seed {seed}"),
            input: Input::Old(rand),
            expected: read(&config),
        });
    }

    let mut full_env = env.clone();
    full_env.insert(
        "PATH".into(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    );
    full_env.insert("LC_ALL".into(), "C".into());
    // conf ran in xen/ with srctree=.; kforge runs probes elsewhere, so the same directory is
    // named absolutely ($(srctree)/scripts/gcc-version.sh).
    full_env.insert("srctree".into(), xen.display().to_string());
    let mut opts = LoadOptions::new(&xen);
    opts.arch = Some(env.get("SRCARCH").cloned().unwrap_or_default());
    opts.env = Some(full_env);
    let loaded = Kconfig::load(&opts);
    let outcomes: Vec<Outcome> = cases
        .iter()
        .map(|case| Outcome {
            arch: "xen x86".into(),
            case: case.name.clone(),
            mismatch: match &loaded {
                Err(e) => Some(format!(
                    "kforge could not load xen/Kconfig: {}",
                    error_chain(e)
                )),
                Ok(k) => match kforge_output(k, &case.input) {
                    Err(e) => Some(format!("kforge failed: {e}")),
                    Ok(text) => common::compare::difference(&case.expected, &text),
                },
            },
        })
        .collect();
    report(&outcomes);
    if let Some(first) = outcomes.iter().find(|o| o.mismatch.is_some()) {
        let bad = outcomes.iter().filter(|o| o.mismatch.is_some()).count();
        panic!(
            "{bad} of {} Xen cases differ from make; first: {}\n{}",
            outcomes.len(),
            first.case,
            first.mismatch.as_deref().unwrap_or_default()
        );
    }
}
