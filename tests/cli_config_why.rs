//! `kforge config why|fix` and `kforge config verify --kernel-src`, run as a user runs them on a
//! small kernel-like tree; every proposed fix is applied and resolved by the kernel's own `conf`
//! (built from Linux 6.1), which must land the requested values.

#[path = "../kconfig/tests/common/oracle.rs"]
mod oracle;

use std::path::Path;
use std::process::{Command, Output};

use kforge::kconfig::lang::{LoadOptions, Toolchain};
use oracle::{Op, Tree};

const KCONFIG: &str = r#"
mainmenu "Linux/$(ARCH) Kernel Configuration"

success = $(shell,{ $(1); } >/dev/null 2>&1 && echo y || echo n)

config CC_HAS_NO_SUCH_FLAG
	def_bool $(success,false)

config MODULES
	bool "Enable loadable module support"
	modules

source "arch/$(SRCARCH)/Kconfig"

config NET
	bool "Networking"

config VIRTUALIZATION
	bool "Virtualization"

if VIRTUALIZATION
config KVM
	tristate "KVM"
	depends on NET
	select CRC
endif

config CRC
	tristate "CRC"

config FANCY
	bool "Use the fancy flag"
	depends on CC_HAS_NO_SUCH_FLAG
"#;

const ARCH_KCONFIG: &str = r#"
config X86_64
	def_bool y
"#;

fn kernel_tree() -> Tree {
    Tree::new(&[
        (
            "Makefile",
            "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 99\nEXTRAVERSION =\nNAME = Test\n",
        ),
        ("Kconfig", KCONFIG),
        ("arch/x86/Kconfig", ARCH_KCONFIG),
    ])
}

fn conf_olddefconfig(tree: &Tree, input: &str) -> String {
    let mut opts = LoadOptions::new(tree.path());
    opts.arch = Some("x86_64".into());
    opts.toolchain = Some(Toolchain::default());
    let env: Vec<(String, String)> = opts
        .environment()
        .expect("environment")
        .into_iter()
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = oracle::run(tree.path(), "Kconfig", &Op::OldDefconfig, Some(input), &env);
    run.config().to_owned()
}

fn kforge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(args)
        .current_dir(dir)
        .env("KFORGE_CACHE_DIR", dir.join("cache"))
        .env_remove("CONFIG_")
        .env_remove("RUST_LOG")
        .env_remove("CROSS_COMPILE")
        .env_remove("LLVM")
        .env_remove("ARCH")
        .output()
        .expect("run kforge")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn why_explains_with_values_and_root_causes() {
    let t = kernel_tree();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join(".config");
    std::fs::write(&cfg, "CONFIG_VIRTUALIZATION=y\nCONFIG_KVM=y\n").unwrap();
    let src = t.path().to_str().unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "why",
            "--kernel-src",
            src,
            "--arch",
            "x86_64",
            "--config",
            cfg_s,
            "KVM",
            "CONFIG_FANCY",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("KVM (tristate) = n"), "{text}");
    assert!(text.contains("depends on NET [=n]"), "{text}");
    assert!(text.contains("VIRTUALIZATION [=y] && NET [=n]"), "{text}");
    assert!(text.contains("NET [=n] needs =y (can be set)"), "{text}");
    assert!(
        text.contains("CC_HAS_NO_SUCH_FLAG [=n] needs =y (fixed by the compiler (probe))"),
        "{text}"
    );
    let o = kforge(
        dir.path(),
        &[
            "--json",
            "config",
            "why",
            "--kernel-src",
            src,
            "--arch",
            "x86_64",
            "--config",
            cfg_s,
            "CRC",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let e = &v["symbols"][0]["explanation"];
    assert_eq!(e["name"], "CRC");
    assert_eq!(e["selected_by"][0]["symbol"], "KVM");
    assert_eq!(e["selected_by"][0]["location"], "Kconfig:25");
}

#[test]
fn fix_writes_lines_that_conf_lands() {
    let t = kernel_tree();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.config");
    std::fs::write(&base, "").unwrap();
    let frag = dir.path().join("kvm.config");
    std::fs::write(&frag, "CONFIG_KVM=m\n").unwrap();
    let fix = dir.path().join("fix.config");
    let src = t.path().to_str().unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "fix",
            "--kernel-src",
            src,
            "--arch",
            "x86_64",
            "--config",
            base.to_str().unwrap(),
            frag.to_str().unwrap(),
            "-o",
            fix.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success(),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = std::fs::read_to_string(&fix).unwrap();
    let mut set: Vec<&str> = lines.lines().filter(|l| !l.starts_with("# for")).collect();
    set.sort();
    assert_eq!(
        set,
        [
            "CONFIG_MODULES=y",
            "CONFIG_NET=y",
            "CONFIG_VIRTUALIZATION=y"
        ]
    );
    let config = conf_olddefconfig(&t, &format!("CONFIG_KVM=m\n{lines}"));
    assert!(config.contains("\nCONFIG_KVM=m\n"), "{config}");

    // A compiler fact: exit status 1 and the reason, still a (empty) fix file.
    std::fs::write(&frag, "CONFIG_FANCY=y\n").unwrap();
    let o = kforge(
        dir.path(),
        &[
            "--json",
            "config",
            "fix",
            "--kernel-src",
            src,
            "--arch",
            "x86_64",
            "--config",
            base.to_str().unwrap(),
            frag.to_str().unwrap(),
            "-o",
            fix.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let out = &v["proposal"]["outcomes"][0];
    assert_eq!(out["lands"], false);
    assert_eq!(out["blocked_by"][0]["kind"], "compiler");
}

#[test]
fn verify_with_kernel_src_gives_cause_and_fix() {
    let t = kernel_tree();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.config");
    std::fs::write(&base, "").unwrap();
    let frag = dir.path().join("kvm.config");
    std::fs::write(&frag, "CONFIG_KVM=y\n").unwrap();
    let fin = dir.path().join("final.config");
    std::fs::write(&fin, conf_olddefconfig(&t, "CONFIG_KVM=y\n")).unwrap();
    let src = t.path().to_str().unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "verify",
            "--kernel-src",
            src,
            "--arch",
            "x86_64",
            "--base",
            base.to_str().unwrap(),
            "--final",
            fin.to_str().unwrap(),
            frag.to_str().unwrap(),
        ],
    );
    let text = stdout(&o);
    assert!(
        text.contains("cause: VIRTUALIZATION [=n] needs =y (can be set)")
            || text.contains("cause: NET [=n] needs =y (can be set)"),
        "{text}"
    );
    assert!(
        text.contains("fix: add CONFIG_VIRTUALIZATION=y, CONFIG_NET=y")
            || text.contains("fix: add CONFIG_NET=y, CONFIG_VIRTUALIZATION=y"),
        "{text}"
    );
    assert!(
        text.contains("proposed fix (1 of 1 requested values land with it"),
        "{text}"
    );
}
