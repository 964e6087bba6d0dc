//! The `kforge config …` and `kforge tree …` commands, run as a user runs them (and the library
//! steps under `kforge tree clean` followed by a config install).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn kforge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(args)
        .current_dir(dir)
        .env_remove("CONFIG_")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("base.config"),
        "#\n# base\n#\nCONFIG_MODULES=y\nCONFIG_KVM=y\n# CONFIG_DEBUG_INFO is not set\nCONFIG_NR_CPUS=64",
    )
    .unwrap();
    fs::write(
        dir.path().join("kvm.config"),
        "# KVM as modules\nCONFIG_KVM=m\nCONFIG_KVM_INTEL=m\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("debug.config"),
        "CONFIG_DEBUG_INFO=y\nCONFIG_KVM=m\n",
    )
    .unwrap();
    dir
}

#[test]
fn merge_writes_merged_config_and_reports_overrides() {
    let dir = setup();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "merge",
            "base.config",
            "kvm.config",
            "debug.config",
            "-o",
            "out.config",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(dir.path().join("out.config")).unwrap(),
        "#\n# base\n#\nCONFIG_MODULES=y\nCONFIG_KVM=m\nCONFIG_DEBUG_INFO=y\nCONFIG_NR_CPUS=64\nCONFIG_KVM_INTEL=m\n"
    );
    let text = stdout(&o);
    assert!(
        text.contains("Value of CONFIG_KVM is redefined by fragment kvm.config:2:"),
        "{text}"
    );
    assert!(
        text.contains("previous: CONFIG_KVM=y   (base.config:5)"),
        "{text}"
    );
    assert!(
        text.contains("Value of CONFIG_DEBUG_INFO is redefined by fragment debug.config:1:"),
        "{text}"
    );

    let o = kforge(
        dir.path(),
        &[
            "--json",
            "config",
            "merge",
            "base.config",
            "kvm.config",
            "debug.config",
            "-o",
            "out2.config",
            "-r",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["overrides"].as_array().unwrap().len(), 2);
    assert_eq!(v["overrides"][0]["symbol"], "KVM");
    assert_eq!(v["overrides"][0]["old"]["type"], "yes");
    assert_eq!(v["overrides"][0]["source"]["line"], 2);
    assert_eq!(v["redundant"][0]["symbol"], "KVM");
    assert_eq!(v["requested"], 3);
}

#[test]
fn merge_strict_refuses_redefinitions() {
    let dir = setup();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "merge",
            "base.config",
            "kvm.config",
            "-o",
            "out.config",
            "--strict",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert!(!dir.path().join("out.config").exists());
}

#[test]
fn merge_error_names_file_and_line() {
    let dir = setup();
    fs::write(
        dir.path().join("bad.config"),
        "CONFIG_A=y\nCONFIG_B=yes please\n",
    )
    .unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "merge",
            "base.config",
            "bad.config",
            "-o",
            "out.config",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("bad.config:2: invalid value for CONFIG_B"),
        "{err}"
    );
    assert!(err.contains("`CONFIG_B=yes please`"), "{err}");
}

#[test]
fn verify_reports_lost_values_and_strict_fails() {
    let dir = setup();
    // What olddefconfig leaves when modules are off.
    fs::write(
        dir.path().join("final.config"),
        "# CONFIG_MODULES is not set\nCONFIG_KVM=y\nCONFIG_NR_CPUS=64\n",
    )
    .unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "verify",
            "--final",
            "final.config",
            "kvm.config",
            "--base",
            "base.config",
            "--warn-only",
        ],
    );
    assert!(o.status.success(), "warn mode exits 0: {}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("2 of 2 requested values did not land in final.config:"),
        "{text}"
    );
    assert!(
        text.contains("CONFIG_KVM        requested =m  but landed =y  (asked at kvm.config:2)"),
        "{text}"
    );
    assert!(
        text.contains(
            "CONFIG_KVM_INTEL  requested =m  but absent from final .config  (asked at kvm.config:3)"
        ),
        "{text}"
    );
    assert!(
        text.contains("CONFIG_MODULES is not enabled in the final .config"),
        "{text}"
    );
    assert!(text.contains("CONFIG_MODULES: =y -> is not set"), "{text}");

    let o = kforge(
        dir.path(),
        &["config", "verify", "--final", "final.config", "kvm.config"],
    );
    assert_eq!(o.status.code(), Some(1), "verification fails by default");

    let o = kforge(
        dir.path(),
        &[
            "--json",
            "config",
            "verify",
            "--final",
            "final.config",
            "kvm.config",
        ],
    );
    let v = json(&o);
    assert_eq!(v["lost"][1]["symbol"], "KVM_INTEL");
    assert_eq!(v["lost"][1]["reason"], "modules_disabled");
    assert_eq!(v["lost"][1]["landed"], serde_json::Value::Null);
    assert_eq!(v["lost"][1]["source"]["line"], 3);

    fs::write(dir.path().join("good.config"), "CONFIG_NR_CPUS=64\n").unwrap();
    let o = kforge(
        dir.path(),
        &["config", "verify", "--final", "final.config", "good.config"],
    );
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("the requested value landed in final.config"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn verify_with_kernel_src_names_definitions() {
    let dir = setup();
    let src = dir.path().join("linux");
    fs::create_dir_all(src.join("arch/x86/kvm")).unwrap();
    fs::write(
        src.join("Makefile"),
        "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n",
    )
    .unwrap();
    fs::write(
        src.join("arch/x86/kvm/Kconfig"),
        "config KVM\n\ttristate \"KVM\"\n\tdepends on HAVE_KVM\nconfig KVM_INTEL\n\ttristate \"Intel\"\n\tdepends on KVM\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("final.config"),
        "CONFIG_MODULES=y\n# CONFIG_KVM is not set\n",
    )
    .unwrap();
    fs::create_dir_all(src.join("arch/arm64")).unwrap();
    fs::write(
        src.join("arch/arm64/Kconfig"),
        "config ARM64_ONLY\n\tbool\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("req.config"),
        "CONFIG_KVM_INTEL=y\nCONFIG_NOT_A_SYMBOL=y\nCONFIG_ARM64_ONLY=y\n",
    )
    .unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "verify",
            "--final",
            "final.config",
            "req.config",
            "--kernel-src",
            "linux",
            "--arch",
            "x86_64",
        ],
    );
    let text = stdout(&o);
    assert!(text.contains("defined at arch/x86/kvm/Kconfig:4"), "{text}");
    assert!(
        text.contains("in the final .config: CONFIG_KVM is not set"),
        "{text}"
    );
    assert!(
        text.contains("no Kconfig file of this kernel defines it"),
        "{text}"
    );
    assert!(
        text.contains("only other architectures define it"),
        "{text}"
    );
    assert!(text.contains("defined at arch/arm64/Kconfig:1"), "{text}");
}

#[test]
fn diff_get_set() {
    let dir = setup();
    fs::write(
        dir.path().join("b.config"),
        "CONFIG_MODULES=y\nCONFIG_KVM=m\nCONFIG_NEW=\"x\"\n",
    )
    .unwrap();
    let o = kforge(dir.path(), &["config", "diff", "base.config", "b.config"]);
    assert_eq!(
        stdout(&o),
        "-DEBUG_INFO n\n-NR_CPUS 64\n KVM y -> m\n+NEW \"x\"\n"
    );
    let v = json(&kforge(
        dir.path(),
        &["--json", "config", "diff", "base.config", "b.config"],
    ));
    assert_eq!(v["changed"][0]["symbol"], "KVM");

    let o = kforge(
        dir.path(),
        &[
            "config",
            "get",
            "base.config",
            "KVM",
            "CONFIG_NR_CPUS",
            "DEBUG_INFO",
            "NOPE",
        ],
    );
    assert_eq!(stdout(&o), "y\n64\nn\nundef\n");

    let o = kforge(
        dir.path(),
        &[
            "config",
            "set",
            "base.config",
            "KVM=m",
            "PHYSICAL_START=0x1000000",
            "--set-str",
            "LOCALVERSION=-xen",
            "--undefine",
            "NR_CPUS",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(dir.path().join("base.config")).unwrap(),
        "#\n# base\n#\nCONFIG_MODULES=y\nCONFIG_KVM=m\n# CONFIG_DEBUG_INFO is not set\nCONFIG_PHYSICAL_START=0x1000000\nCONFIG_LOCALVERSION=\"-xen\"\n"
    );
    let o = kforge(dir.path(), &["config", "set", "base.config", "KVM=maybe"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`maybe` is not a .config value"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn buildroot_prefix() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a"),
        "BR2_x86_64=y\n# BR2_TOOLCHAIN_EXTERNAL is not set\n",
    )
    .unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "get",
            "a",
            "x86_64",
            "TOOLCHAIN_EXTERNAL",
            "--prefix",
            "BR2_",
        ],
    );
    assert_eq!(stdout(&o), "y\nn\n");
    let o = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(["config", "get", "a", "x86_64"])
        .current_dir(dir.path())
        .env("CONFIG_", "BR2_")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "y\n", "{}", stderr(&o));
}

#[test]
fn running_reads_injected_proc_config() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"# CONFIG_MODULES is not set\nCONFIG_KVM=y\n")
        .unwrap();
    fs::write(dir.path().join("config.gz"), enc.finish().unwrap()).unwrap();
    let o = kforge(
        dir.path(),
        &[
            "config",
            "running",
            "--proc-config",
            "config.gz",
            "--release",
            "6.18.0",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "# CONFIG_MODULES is not set\nCONFIG_KVM=y\n");
    assert!(stderr(&o).contains("read from config.gz"), "{}", stderr(&o));

    let o = kforge(
        dir.path(),
        &[
            "config",
            "running",
            "--proc-config",
            "none.gz",
            "--boot-dir",
            ".",
            "--release",
            "6.18.0",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("none.gz: does not exist"), "{err}");
    assert!(err.contains("config-6.18.0: does not exist"), "{err}");
}

const MAKEFILE_6_1: &str = "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\n\
outputmakefile:\n\t@if [ -f $(srctree)/.config -o \\\n\t\t -d $(srctree)/include/config -o \\\n\t\t -d $(srctree)/arch/$(SRCARCH)/include/generated ]; then \\\n\
\t\techo >&2 \"*** The source tree is not clean, please run 'make$(if $(findstring command line, $(origin ARCH)), ARCH=$(ARCH)) mrproper'\"; \\\n\t\tfalse; \\\n\tfi\n";

#[test]
fn tree_check_and_clean() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("linux");
    fs::create_dir_all(src.join("arch/x86/include/generated/asm")).unwrap();
    fs::write(src.join("Makefile"), MAKEFILE_6_1).unwrap();
    fs::write(src.join(".config"), "CONFIG_MINE=y\n").unwrap();

    let o = kforge(dir.path(), &["tree", "check", "linux", "--arch", "x86_64"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("(Linux 6.1.192) is not clean"), "{text}");
    assert!(
        text.contains("*** The source tree is not clean, please run 'make ARCH=x86_64 mrproper'"),
        "{text}"
    );
    let v = json(&kforge(
        dir.path(),
        &["--json", "tree", "check", "linux", "--arch", "x86_64"],
    ));
    assert_eq!(v["offending"].as_array().unwrap().len(), 2);
    assert_eq!(v["rule"], "with_arch_generated");

    let o = kforge(
        dir.path(),
        &[
            "tree",
            "clean",
            "linux",
            "--build-dir",
            "build",
            "--dry-run",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("plan (dry run)"), "{}", stdout(&o));
    assert!(src.join(".config").exists());

    let o = kforge(
        dir.path(),
        &["tree", "clean", "linux", "--build-dir", "build"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(dir.path().join("build/.config")).unwrap(),
        "CONFIG_MINE=y\n"
    );
    let o = kforge(dir.path(), &["tree", "check", "linux", "--arch", "x86_64"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

/// The library path: kbuild cleans the tree (the stray `.config` moves into O=), then kconfig
/// installs a new `.config` over it and keeps the moved one as `.config.old`.
#[test]
fn moved_config_installs_over_with_old_kept() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("Makefile"), MAKEFILE_6_1).unwrap();
    fs::write(src.path().join(".config"), "CONFIG_A=y\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    kforge::kbuild::SourceTree::open(src.path())
        .unwrap()
        .make_clean_for_out_of_tree(out.path())
        .unwrap();
    let build = kforge::kconfig::BuildDir::new(out.path());
    let mut config = build.read_config().unwrap();
    config.module("A").unwrap();
    build.install_config(&config).unwrap();
    assert_eq!(
        fs::read_to_string(out.path().join(".config.old")).unwrap(),
        "CONFIG_A=y\n"
    );
    assert_eq!(
        fs::read_to_string(out.path().join(".config")).unwrap(),
        "CONFIG_A=m\n"
    );
}
