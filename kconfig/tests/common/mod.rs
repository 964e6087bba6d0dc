//! Shared parts of the Kconfig language tests: the kernel's own `conf` as the oracle, and the
//! comparison of kforge's output with it.
#![allow(dead_code)]

pub mod compare;
pub mod oracle;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use kforge_kconfig::lang::{DiagnosticKind, Kconfig, LoadOptions, Target};
use oracle::{ConfRun, Op, Tree};

/// The environment kforge is given for a small tree: exactly what `conf` is run with.
pub fn env_map(tree: &Tree, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = oracle::base_env(tree.path()).into_iter().collect();
    env.insert("KCONFIG_CONFIG".into(), ".config".into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// Load `tree` with kforge, with the same environment `conf` gets.
pub fn load(tree: &Tree, top: &str, env: &[(&str, &str)]) -> Result<Kconfig, String> {
    let mut opts = LoadOptions::new(tree.path());
    opts.kconfig = top.into();
    opts.env = Some(env_map(tree, env));
    Kconfig::load(&opts).map_err(|e| chain(&e))
}

/// An error and its sources on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

/// kforge's output for `op` (the `.config` text, or the defconfig for savedefconfig).
pub fn kforge_output(
    kconfig: &Kconfig,
    op: &Op,
    input: Option<&str>,
    scratch: &std::path::Path,
) -> Result<String, String> {
    kforge_run(kconfig, op, input, scratch).map(|(text, _)| text)
}

/// [`kforge_output`] and the diagnostics about the input `.config`, formatted as conf prints them.
pub fn kforge_run(
    kconfig: &Kconfig,
    op: &Op,
    input: Option<&str>,
    scratch: &std::path::Path,
) -> Result<(String, Vec<String>), String> {
    // conf 6.1 prints no warning for a value outside its range (it takes the default) and
    // names unknown symbols only under KCONFIG_WARN_UNKNOWN_SYMBOLS: kforge reports both, and
    // the rest must be conf's warnings word for word.
    let warnings = |r: &kforge_kconfig::lang::Resolved| -> Vec<String> {
        r.diagnostics()
            .iter()
            .filter(|d| {
                !matches!(
                    d.kind,
                    DiagnosticKind::OutOfRange { .. } | DiagnosticKind::UnknownSymbol { .. }
                )
            })
            .map(|d| d.to_string())
            .collect()
    };
    // conf reads KCONFIG_CONFIG=.config: the same name in diagnostics.
    let old = || match input {
        Some(text) => Ok(kconfig.olddefconfig_bytes(text.as_bytes(), ".config")),
        // No .config at all (and no KCONFIG_DEFCONFIG_LIST): conf starts from the defaults, as
        // from an empty file.
        None => Ok(kconfig.olddefconfig_bytes(b"", ".config")),
    };
    let result = match op {
        Op::OldDefconfig => old(),
        Op::AllNo => kconfig.new_config(&Target::AllNo),
        Op::AllYes => kconfig.new_config(&Target::AllYes),
        Op::AllMod => kconfig.new_config(&Target::AllMod),
        Op::AllDef => kconfig.new_config(&Target::AllDef),
        Op::Defconfig(text) => {
            let p = scratch.join("defconfig.in");
            std::fs::write(&p, text).expect("write defconfig");
            kconfig.new_config(&Target::DefconfigFile(p))
        }
        Op::SaveDefconfig => {
            return old()
                .map(|r| (r.to_savedefconfig_string(), warnings(&r)))
                .map_err(|e| chain(&e));
        }
        Op::Rand(_) => panic!("kforge does not implement randconfig"),
    };
    result
        .map(|r| (r.to_config_string(), warnings(&r)))
        .map_err(|e| chain(&e))
}

/// Run `conf` and kforge on `tree` with `op` and panic unless kforge's output is conf's, byte for
/// byte. Returns conf's run for further checks (its stderr warnings).
#[track_caller]
pub fn check(tree: &Tree, op: &Op, input: Option<&str>, env: &[(&str, &str)]) -> ConfRun {
    check_top(tree, "Kconfig", op, input, env)
}

/// [`check`] with another top Kconfig file.
#[track_caller]
pub fn check_top(
    tree: &Tree,
    top: &str,
    op: &Op,
    input: Option<&str>,
    env: &[(&str, &str)],
) -> ConfRun {
    let run = oracle::run(tree.path(), top, op, input, env);
    let expected = match op {
        Op::SaveDefconfig => run.defconfig(),
        _ => run.config(),
    }
    .to_string();
    let kconfig = load(tree, top, env).unwrap_or_else(|e| {
        panic!(
            "{op:?}: conf succeeded but kforge cannot load the tree: {e}\nconf stderr:\n{}",
            run.stderr
        )
    });
    let scratch = tempfile::tempdir().expect("tempdir");
    let (actual, warnings) = kforge_run(&kconfig, op, input, scratch.path())
        .unwrap_or_else(|e| panic!("{op:?}: kforge failed: {e}\nconf's output:\n{expected}"));
    compare::assert_same(&format!("{op:?}"), &expected, &actual);
    // conf's warnings about the .config it read (`.config:3:warning: …`) are kforge's
    // diagnostics, in the same words.
    let conf_warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with(".config:"))
        .collect();
    let ours: Vec<&str> = warnings
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with(".config:"))
        .collect();
    assert_eq!(
        ours, conf_warnings,
        "{op:?}: kforge's diagnostics (left) differ from conf's warnings (right)"
    );
    run
}

/// The operations every rule is checked with when no `.config` is given.
pub const NEW_OPS: [Op; 5] = [
    Op::OldDefconfig,
    Op::AllNo,
    Op::AllYes,
    Op::AllMod,
    Op::AllDef,
];

/// Check `tree` with every new-config operation, then savedefconfig and olddefconfig of each
/// result (a fixed point), then olddefconfig and savedefconfig of a few of conf's randconfig
/// outputs, against conf.
#[track_caller]
pub fn check_all(tree: &Tree, env: &[(&str, &str)]) {
    for op in NEW_OPS {
        let run = check(tree, &op, None, env);
        let produced = run.config().to_string();
        check(tree, &Op::SaveDefconfig, Some(&produced), env);
        check(tree, &Op::OldDefconfig, Some(&produced), env);
    }
    for seed in 1..=4 {
        let rand = oracle::run(tree.path(), "Kconfig", &Op::Rand(seed), None, env);
        let produced = rand.config().to_string();
        check(tree, &Op::OldDefconfig, Some(&produced), env);
        check(tree, &Op::SaveDefconfig, Some(&produced), env);
    }
}

/// A tree from (path, text) pairs.
pub fn tree(files: &[(&str, &str)]) -> Tree {
    Tree::new(files)
}

/// `make -s -C DIR args…` with the environment of a user who set no build variables; panics
/// with make's output on failure.
pub fn make_in(dir: &Path, args: &[String]) {
    let o = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        )
        .env("HOME", std::env::var("HOME").unwrap_or_else(|_| "/".into()))
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run make ({e}); install it: scripts/install-deps e2e"));
    assert!(
        o.status.success(),
        "make -C {} {} failed ({}):\n{}{}",
        dir.display(),
        args.join(" "),
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `make -s -C SRC O=OUT ARCH=ARCH args…` (as [`make_in`]).
pub fn make(src: &Path, out: &Path, arch: &str, args: &[&str]) {
    let mut all = vec![format!("O={}", out.display()), format!("ARCH={arch}")];
    all.extend(args.iter().map(|a| a.to_string()));
    make_in(src, &all);
}

/// The architectures of the opt-in runs against a real Linux 6.1 tree (all configure with the
/// host gcc).
pub const ARCHES: &[&str] = &[
    "x86_64",
    "i386",
    "arm64",
    "arm",
    "riscv",
    "powerpc",
    "s390",
    "mips",
    "loongarch",
    "sparc",
];

/// The real Linux tree of the opt-in tests (`KFORGE_LINUX_SRC`, set by `scripts/e2e`); panics
/// with how to get one when it is not set.
pub fn linux_src() -> std::path::PathBuf {
    let Some(src) = std::env::var_os("KFORGE_LINUX_SRC") else {
        panic!(
            "KFORGE_LINUX_SRC is not set: run scripts/e2e, or point it at an extracted Linux 6.1 \
             tree (/usr/src/linux-source-6.1.tar.xz from `apt-get install linux-source-6.1`)"
        );
    };
    let src = std::path::PathBuf::from(src);
    assert!(
        src.join("Makefile").is_file(),
        "KFORGE_LINUX_SRC={} has no Makefile",
        src.display()
    );
    src
}
