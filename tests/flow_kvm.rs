//! The KVM flow end to end, on miniatures: a Linux-like kernel tarball and a kvm-snapshot-like
//! userland tarball served by a real HTTP server on loopback with their sha256 pinned, real
//! make, real compilers. The flow code is the library's (`kforge::flows`), as the examples run it.

mod common;

use common::flow;

use std::path::{Path, PathBuf};

use clap::Parser;
use common::{Server, argv, build_json, sha256_hex, tarball, trees};

struct Fixture {
    _tmp: tempfile::TempDir,
    server: Server,
    root: PathBuf,
    kernel_url: String,
    kernel_sha: String,
    userland_url: String,
    userland_sha: String,
    base_config: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_kernel(|_| {})
    }

    /// `edit` may change the kernel tree before it is packed.
    fn with_kernel(edit: impl FnOnce(&Path)) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let kernel = root.join("trees/linux");
        trees::write_kernel_tree(&kernel);
        edit(&kernel);
        let userland = root.join("trees/kvm");
        trees::write_userland_tree(&userland);
        let server = Server::start();
        let kernel_tgz = tarball(&kernel, "linux-mini-6.1");
        let userland_tgz = tarball(&userland, "kvm-snapshot-mini");
        let kernel_sha = sha256_hex(&kernel_tgz);
        let userland_sha = sha256_hex(&userland_tgz);
        let kernel_url = server.serve("linux-mini-6.1.tar.gz", kernel_tgz);
        let userland_url = server.serve("kvm-snapshot-mini.tar.gz", userland_tgz);
        let base_config = root.join("config-running");
        std::fs::write(&base_config, trees::BASE_CONFIG_MODULES_OFF).unwrap();
        Fixture {
            _tmp: tmp,
            server,
            root,
            kernel_url,
            kernel_sha,
            userland_url,
            userland_sha,
            base_config,
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The flow with the kernel pinned, the running-like base config, a private cache.
    fn args(&self, out: &Path, extra: &[&str]) -> flow::kvm::Args {
        let cache = self.root.join("cache");
        let mut args = vec![
            "--kernel",
            &self.kernel_url,
            "--kernel-sha256",
            &self.kernel_sha,
            "--config",
            self.base_config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(extra);
        flow::kvm::Args::try_parse_from(argv("kvm", &args)).unwrap()
    }

    fn userland<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "--userland",
            &self.userland_url,
            "--userland-sha256",
            &self.userland_sha,
        ];
        v.extend_from_slice(extra);
        v
    }
}

fn step<'a>(json: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
}

#[test]
fn kvm_flow_builds_modules_and_userland_and_records_everything() {
    let fx = Fixture::new();
    let out = fx.out("out");
    let userland = fx.userland(&["--cc-req", "gcc >=4"]);
    let summary = flow::kvm::run(fx.args(&out, &userland)).expect("the flow passes");

    // The three modules, built in the O= directory.
    let kvm_dir = out.join("linux-build/arch/x86/kvm");
    for ko in ["kvm.ko", "kvm-intel.ko", "kvm-amd.ko"] {
        assert!(
            kvm_dir.join(ko).is_file(),
            "{ko} missing in {}",
            kvm_dir.display()
        );
    }
    // The source tree stayed clean: no .config, no objects.
    let src = out.join("src/linux-mini-6.1");
    assert!(src.join("Makefile").is_file());
    let stray: Vec<_> = common::list_files(&src)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s == ".config" || s.ends_with(".o") || s.ends_with(".ko") || s.starts_with("include/")
        })
        .collect();
    assert!(
        stray.is_empty(),
        "the source tree was written to: {stray:?}"
    );
    // The userland was configured against the prepared build dir and installed.
    let installed = out.join("install/bin/qemu-kvm");
    let run = std::process::Command::new(&installed).output().unwrap();
    assert!(String::from_utf8_lossy(&run.stdout).contains("qemu-kvm built by"));
    let config_mak = std::fs::read_to_string(out.join("src/kvm-snapshot-mini/config.mak")).unwrap();
    assert!(
        config_mak.contains(&format!("KERNELDIR={}", out.join("linux-build").display())),
        "{config_mak}"
    );

    // build.json: sources pinned, compiler, verification, steps, artifacts with hashes.
    let json = build_json(&out);
    assert_eq!(json["result"], "pass");
    assert_eq!(json["flow"], "kvm");
    assert_eq!(json["sources"][0]["sha256"], fx.kernel_sha.as_str());
    assert_eq!(json["sources"][0]["pinned"], true);
    assert_eq!(json["sources"][1]["sha256"], fx.userland_sha.as_str());
    let cc = &json["compiler"];
    assert!(
        cc["family"].as_str().unwrap().eq_ignore_ascii_case("gcc"),
        "{cc}"
    );
    assert!(
        config_mak.contains(&format!("QEMU_CC={}", cc["command"].as_str().unwrap())),
        "configure got another compiler than the one recorded: {config_mak}"
    );
    assert_eq!(
        json["config"]["verification"]["lost"],
        serde_json::json!([])
    );
    assert_eq!(json["config"]["verification"]["requested"], 5);
    for name in [
        "select-compiler",
        "fetch-kernel",
        "config",
        "olddefconfig",
        "verify-config",
        "modules-prepare",
        "kvm-modules",
        "fetch-userland",
        "configure-userland",
        "make-userland",
    ] {
        let s = step(&json, name).unwrap_or_else(|| panic!("no step {name}"));
        assert_eq!(s["status"], "ok", "step {name}: {s}");
    }
    // The compiler was chosen before anything else ran.
    assert_eq!(json["steps"][0]["name"], "select-compiler");
    let log = step(&json, "kvm-modules").unwrap()["log"].as_str().unwrap();
    assert!(std::fs::read_to_string(log).unwrap().contains("CC [M]"));
    let artifacts = json["artifacts"].as_array().unwrap();
    let ko = artifacts
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("/kvm.ko"))
        .expect("kvm.ko recorded");
    let bytes = std::fs::read(kvm_dir.join("kvm.ko")).unwrap();
    assert_eq!(ko["sha256"], sha256_hex(&bytes).as_str());
    assert!(artifacts.iter().any(|a| {
        a["path"]
            .as_str()
            .unwrap()
            .ends_with("install/bin/qemu-kvm")
    }));

    // The summary names what a user needs, including why modpost warned.
    assert!(summary.contains("PASS"), "{summary}");
    assert!(summary.contains(&fx.kernel_sha), "{summary}");
    assert!(summary.contains("Module.symvers is missing"), "{summary}");
    assert!(summary.contains("CONFIG_MODULES=y"), "{summary}");
    assert!(out.join("summary.txt").is_file());

    // The reproducer is real: run it in a fresh directory against the same server; it rebuilds
    // the same modules.
    let reproducer = out.join("reproduce.sh");
    let text = std::fs::read_to_string(&reproducer).unwrap();
    assert!(text.contains("'M=arch/x86/kvm' modules"), "{text}");
    // reproduce.sh runs make in the directory and with the environment kforge used.
    assert!(text.contains("&& env LC_ALL=C "), "{text}");
    assert!(text.contains(&format!("{}  linux-mini-6.1.tar.gz", fx.kernel_sha)));
    std::fs::remove_dir_all(out.join("linux-build")).unwrap();
    let cwd = fx.out("repro-cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let status = std::process::Command::new("sh")
        .arg(&reproducer)
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "reproduce.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    for ko in artifacts
        .iter()
        .filter(|a| a["path"].as_str().unwrap().ends_with(".ko"))
    {
        let path = ko["path"].as_str().unwrap();
        assert_eq!(
            sha256_hex(&std::fs::read(path).unwrap()),
            ko["sha256"].as_str().unwrap(),
            "reproduce.sh built another {path}"
        );
    }
}

#[test]
fn verify_stops_the_build_when_modules_are_off_and_the_fragment_lacks_modules() {
    let fx = Fixture::new();
    let out = fx.out("out");
    // The HOWTO's three values only, on a base with CONFIG_MODULES off (as this machine's
    // running kernel has).
    let fragment = fx.out("kvm-only.config");
    std::fs::write(
        &fragment,
        "CONFIG_KVM=m\nCONFIG_KVM_INTEL=m\nCONFIG_KVM_AMD=m\n",
    )
    .unwrap();
    let err = flow::kvm::run(fx.args(&out, &["--fragment", fragment.to_str().unwrap()]))
        .expect_err("verification must fail");
    let message = format!("{err:#}");
    assert!(message.contains("did not land"), "{message}");
    let json = build_json(&out);
    assert_eq!(json["result"], "fail");
    assert_eq!(step(&json, "verify-config").unwrap()["status"], "failed");
    assert!(
        step(&json, "modules-prepare").is_none(),
        "the build went on"
    );
    let lost = json["config"]["verification"]["lost"].as_array().unwrap();
    assert_eq!(lost.len(), 3, "{lost:?}");
    assert!(
        lost.iter().all(|l| l["reason"] == "modules_disabled"),
        "{lost:?}"
    );
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("CONFIG_MODULES=y"), "{summary}");
    assert!(!out.join("linux-build/arch/x86/kvm/kvm.ko").exists());
    // The evaluated cause and the proposed fix, checked, recorded and written for a rerun.
    let fix = std::fs::read_to_string(out.join("fix.config")).unwrap();
    assert!(fix.lines().any(|l| l == "CONFIG_MODULES=y"), "{fix}");
    let verification = &json["config"]["verification"];
    assert_eq!(verification["fix"]["complete"], true, "{verification}");
    assert_eq!(lost[0]["root_causes"][0]["symbol"], "MODULES", "{lost:?}");
    assert_eq!(lost[0]["fix"][0], "CONFIG_MODULES=y", "{lost:?}");
    assert!(summary.contains("cause: MODULES [=n]"), "{summary}");
    assert!(
        summary.contains(&format!("--fragment {}", out.join("fix.config").display())),
        "{summary}"
    );
    // Rerun with the fragment and the proposed fix: the values land.
    let out2 = fx.out("out2");
    flow::kvm::run(fx.args(
        &out2,
        &[
            "--fragment",
            fragment.to_str().unwrap(),
            "--fragment",
            out.join("fix.config").to_str().unwrap(),
        ],
    ))
    .expect("the rerun with the fix passes");
}

#[test]
fn the_howto_compiler_requirement_fails_before_anything_is_fetched() {
    let fx = Fixture::new();
    let out = fx.out("out");
    let args = fx.userland(&[]); // the default --cc-req is the HOWTO's "gcc >=3.2, <4"
    let err = flow::kvm::run(fx.args(&out, &args)).expect_err("no GCC 3 here");
    let message = format!("{err:#}");
    assert!(message.contains("gcc >=3.2, <4"), "{message}");
    assert!(message.contains("found on PATH"), "{message}");
    assert!(message.contains("gcc-3."), "no package advice: {message}");
    assert_eq!(
        fx.server.hits("linux-mini-6.1.tar.gz"),
        0,
        "fetched before failing"
    );
    assert!(!out.join("src").exists());
    let json = build_json(&out);
    assert_eq!(json["steps"].as_array().unwrap().len(), 1);
    assert_eq!(json["steps"][0]["status"], "failed");
}

#[test]
fn an_unclean_source_tree_is_refused_and_fix_tree_keeps_the_stray_config() {
    let stray = "CONFIG_64BIT=y\n# a user's config left in the tree\n";
    let fx = Fixture::with_kernel(|tree| std::fs::write(tree.join(".config"), stray).unwrap());
    let out = fx.out("out");
    let err = flow::kvm::run(fx.args(&out, &["--no-modules"])).expect_err("unclean tree");
    assert!(format!("{err:#}").contains("not clean"), "{err:#}");
    assert!(!out.join("linux-build/.config").exists(), "make ran anyway");
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("--fix-tree"), "{summary}");

    // --fix-tree: the stray .config is moved, not deleted, and the flow passes (reusing the
    // tree extracted by the first run).
    flow::kvm::run(fx.args(&out, &["--fix-tree"])).expect("passes with --fix-tree");
    assert!(!out.join("src/linux-mini-6.1/.config").exists());
    let kept: Vec<_> = std::fs::read_dir(out.join("linux-build"))
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t == stray))
        .collect();
    assert_eq!(kept.len(), 1, "the stray .config was not kept");
    let json = build_json(&out);
    assert_eq!(step(&json, "fetch-kernel").unwrap()["status"], "reused");
    assert!(out.join("linux-build/arch/x86/kvm/kvm.ko").is_file());
}

#[test]
fn plan_prints_steps_without_running_anything() {
    let fx = Fixture::new();
    let out = fx.out("out");
    let userland = fx.userland(&[]);
    let mut args = userland.clone();
    args.push("--plan");
    flow::kvm::run(fx.args(&out, &args)).expect("plan");
    assert!(!out.exists(), "--plan created {}", out.display());
    assert_eq!(fx.server.hits("linux-mini-6.1.tar.gz"), 0);
}

#[test]
fn sources_must_be_pinned_or_explicitly_unpinned_and_a_wrong_hash_keeps_nothing() {
    let fx = Fixture::new();
    let cache = fx.out("cache");
    let parse = |out: &Path, extra: &[&str]| {
        let mut v = vec![
            "--kernel",
            &fx.kernel_url,
            "--config",
            fx.base_config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--no-modules",
            "-q",
        ];
        v.extend_from_slice(extra);
        flow::kvm::Args::try_parse_from(argv("kvm", &v)).unwrap()
    };
    let out = fx.out("unpinned");
    let err = flow::kvm::run(parse(&out, &[])).expect_err("unpinned refused");
    assert!(format!("{err:#}").contains("--allow-unpinned"), "{err:#}");

    let summary = flow::kvm::run(parse(&out, &["--allow-unpinned"])).expect("unpinned allowed");
    assert!(
        summary.contains(&fx.kernel_sha),
        "the hash to pin is reported: {summary}"
    );
    assert!(summary.contains("UNPINNED"), "{summary}");
    assert_eq!(build_json(&out)["sources"][0]["pinned"], false);

    let wrong = "0".repeat(64);
    let out = fx.out("wrong");
    let err = flow::kvm::run(parse(&out, &["--kernel-sha256", &wrong])).expect_err("mismatch");
    let message = format!("{err:#}");
    assert!(message.contains(&fx.kernel_sha), "{message}");
    assert!(
        !out.join("src/linux-mini-6.1").exists(),
        "an unverified tree was kept"
    );
}

#[test]
fn userland_patches_are_applied_before_configure() {
    let fx = Fixture::new();
    let out = fx.out("out");
    let patch = fx.out("qemu-name.patch");
    std::fs::write(
        &patch,
        "--- a/qemu.c\n+++ b/qemu.c\n@@ -2,4 +2,4 @@\n #ifndef CONFIG_KVM_MODULE\n #error \"the kernel tree was not configured with KVM as a module\"\n #endif\n-int main(void) { printf(\"qemu-kvm built by %s\\n\", __VERSION__); return 0; }\n+int main(void) { printf(\"patched qemu-kvm built by %s\\n\", __VERSION__); return 0; }\n",
    )
    .unwrap();
    let userland = fx.userland(&[
        "--cc-req",
        "gcc >=4",
        "--no-modules",
        "--userland-patch",
        patch.to_str().unwrap(),
    ]);
    flow::kvm::run(fx.args(&out, &userland)).expect("the flow passes");
    let run = std::process::Command::new(out.join("install/bin/qemu-kvm"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&run.stdout).starts_with("patched qemu-kvm"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let reproducer = std::fs::read_to_string(out.join("reproduce.sh")).unwrap();
    assert!(reproducer.contains("patch -p1 -d"), "{reproducer}");
    assert!(!reproducer.contains("M=arch/x86/kvm"), "{reproducer}");
}

#[test]
fn archive_names_and_shell_quoting() {
    assert_eq!(
        flow::archive_stem("file:///usr/src/linux-source-6.1.tar.xz"),
        "linux-source-6.1"
    );
    assert_eq!(
        flow::archive_stem("http://h/pool/q/qemu_7.2+dfsg.orig.tar.xz"),
        "qemu-7.2+dfsg"
    );
    assert_eq!(flow::archive_stem("http://h/xen-3.2.0.tar.gz"), "xen-3.2.0");
    use kforge::reproduce::quote;
    assert_eq!(quote("/tmp/b"), "/tmp/b");
    assert_eq!(quote("gcc >=3.2, <4"), "'gcc >=3.2, <4'");
    assert_eq!(quote(""), "''");
    for word in ["it's", "a;b", "a&b", "a|b", "*.ko", "$HOME", "O=/tmp/b c"] {
        let quoted = quote(word);
        let back = std::process::Command::new("sh")
            .args(["-c", &format!("printf %s {quoted}")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&back.stdout), word, "{quoted}");
    }
}

#[test]
fn howto_mode_passes_qemu_cc_and_builds_no_in_tree_modules() {
    let fx = Fixture::new();
    let out = fx.out("out");
    let prefix = fx.out("opt/kvm-snapshot-mini");
    let userland = fx.userland(&[
        "--mode",
        "howto",
        "--cc-req",
        "gcc >=4",
        "--prefix",
        prefix.to_str().unwrap(),
    ]);
    flow::kvm::run(fx.args(&out, &userland)).expect("the HOWTO flow passes");
    let config_mak = std::fs::read_to_string(out.join("src/kvm-snapshot-mini/config.mak")).unwrap();
    let json = build_json(&out);
    let cc = json["compiler"]["command"].as_str().unwrap();
    assert!(
        config_mak.contains(&format!("QEMU_CC={cc}")),
        "{config_mak}"
    );
    let reproducer = std::fs::read_to_string(out.join("reproduce.sh")).unwrap();
    assert!(
        reproducer.contains(&format!("--qemu-cc={cc}")),
        "{reproducer}"
    );
    assert!(prefix.join("bin/qemu-kvm").is_file());
    // The snapshot builds its own modules in the HOWTO; no M= build here.
    assert!(step(&json, "kvm-modules").is_none());
    assert_eq!(json["mode"], "howto");
}

/// The README's main job on the real Linux 6.1 tarball: real kvm.ko, kvm-intel.ko, kvm-amd.ko.
#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn real_linux_6_1_builds_the_kvm_modules() {
    let tarball = std::env::var("KFORGE_LINUX_TARBALL").unwrap_or_else(|_| {
        panic!("KFORGE_LINUX_TARBALL is unset: run scripts/e2e (it points it at Debian's linux-source-6.1 tarball)")
    });
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let url = format!("file://{tarball}");
    let args = argv(
        "kvm",
        &[
            "--kernel",
            &url,
            "--allow-unpinned",
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            tmp.path().join("cache").to_str().unwrap(),
        ],
    );
    let summary = flow::kvm::run(flow::kvm::Args::try_parse_from(args).unwrap()).expect("passes");
    for ko in ["kvm.ko", "kvm-intel.ko", "kvm-amd.ko"] {
        assert!(
            out.join("linux-build/arch/x86/kvm").join(ko).is_file(),
            "{ko}"
        );
    }
    assert!(summary.contains("Module.symvers is missing"), "{summary}");
    println!("{summary}");
}

#[test]
fn an_unpinned_local_tarball_is_reused_only_while_its_hash_is_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("linux");
    trees::write_kernel_tree(&tree);
    let tarball_path = tmp.path().join("linux-mini-6.1.tar.gz");
    std::fs::write(&tarball_path, tarball(&tree, "linux-mini-6.1")).unwrap();
    let base = tmp.path().join("config");
    std::fs::write(&base, trees::BASE_CONFIG_MODULES_OFF).unwrap();
    let out = tmp.path().join("out");
    let url = format!("file://{}", tarball_path.display());
    let cache = tmp.path().join("cache");
    let args = || {
        flow::kvm::Args::try_parse_from(argv(
            "kvm",
            &[
                "--kernel",
                &url,
                "--allow-unpinned",
                "--config",
                base.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--cache-dir",
                cache.to_str().unwrap(),
                "--no-modules",
                "-q",
            ],
        ))
        .unwrap()
    };
    flow::kvm::run(args()).expect("first run");
    flow::kvm::run(args()).expect("second run reuses the tree");
    assert_eq!(
        step(&build_json(&out), "fetch-kernel").unwrap()["status"],
        "reused"
    );
    // The package was upgraded: another tarball at the same path.
    std::fs::write(tree.join("NEWS"), "6.1.1\n").unwrap();
    std::fs::write(&tarball_path, tarball(&tree, "linux-mini-6.1")).unwrap();
    let err = flow::kvm::run(args()).expect_err("stale tree refused");
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
}

#[test]
fn a_failed_run_is_recorded_with_its_error() {
    let fx = Fixture::new();
    let out = fx.out("out");
    // A failure inside the flow is in build.json, read back as a typed record.
    let err = flow::kvm::run(fx.args(&out, &fx.userland(&[]))).expect_err("no GCC 3");
    assert!(!err.0.is_interrupted());
    let record = kforge::record::BuildRecord::read(out.join("build.json")).unwrap();
    assert_eq!(record.result, kforge::record::RunResult::Fail);
    assert!(
        record.error.as_deref().unwrap().contains("gcc >=3.2, <4"),
        "{record:?}"
    );
    // A bad requirement is found inside the run, and recorded.
    let bad = fx.userland(&["--cc-req", "gcc >="]);
    let err = flow::kvm::run(fx.args(&fx.out("bad2"), &bad)).expect_err("bad requirement");
    assert!(format!("{err:#}").contains("--cc-req"), "{err:#}");
    assert_eq!(build_json(&fx.out("bad2"))["result"], "fail");
}

#[test]
fn kvm_flow_through_ccache_records_the_counters() {
    common::require_tool("ccache", "ccache");
    let fx = Fixture::new();
    let out = fx.out("out-ccache");
    let ccache_dir = fx.root.join("ccache");
    let summary = flow::kvm::run(fx.args(
        &out,
        &[
            "--cc-wrapper",
            "ccache",
            "--cc-cache-dir",
            ccache_dir.to_str().unwrap(),
        ],
    ))
    .expect("the flow passes");
    let json = build_json(&out);
    assert_eq!(json["wrapper"]["kind"], "ccache");
    assert!(json["wrapper"]["version"].as_str().is_some());
    let modules = json["cache"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["step"] == "kvm-modules")
        .unwrap_or_else(|| panic!("no counters for kvm-modules: {json}"));
    // kvm.o, kvm-intel.o, kvm-amd.o: compiled once, into a fresh cache.
    assert_eq!(modules["report"]["misses"], 3, "{modules}");
    assert_eq!(modules["report"]["hits"], 0, "{modules}");
    let cmd = step(&json, "kvm-modules").unwrap()["commands"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cmd.contains("'CC=ccache gcc'"), "{cmd}");
    assert!(cmd.contains("'HOSTCC=ccache gcc'"), "{cmd}");
    assert!(summary.contains("compiler wrapper: ccache "), "{summary}");
    assert!(summary.contains("ccache: 0 hits, 3 misses"), "{summary}");
    assert!(ccache_dir.is_dir(), "the private cache was used");
    let reproducer = std::fs::read_to_string(out.join("reproduce.sh")).unwrap();
    assert!(reproducer.contains("export CCACHE_DIR="), "{reproducer}");
}

#[test]
fn kvm_flow_with_distcc_plans_and_refuses_a_missing_host_list() {
    let fx = Fixture::new();
    let out = fx.out("out-plan");
    let mut args = fx.args(
        &out,
        &[
            "--plan",
            "--cc-wrapper",
            "distcc",
            "--distcc-hosts",
            "10.0.0.5:3632/6 localhost/2",
        ],
    );
    args.common.quiet = true;
    flow::kvm::run(args).expect("a plan runs nothing");
    // Without hosts, the flow stops before anything runs.
    let err =
        flow::kvm::run(fx.args(&fx.out("out-nohosts"), &["--cc-wrapper", "distcc"])).unwrap_err();
    assert!(
        format!("{err:#}").contains("distcc needs a host list"),
        "{err:#}"
    );
    assert!(!fx.out("out-nohosts").join("linux-build").exists());
}

#[test]
fn with_ccache_a_second_output_directory_hits_the_cache() {
    common::require_tool("ccache", "ccache");
    let fx = Fixture::new();
    let cache = fx.root.join("ccache");
    let wrapper = [
        "--cc-wrapper",
        "ccache",
        "--cc-cache-dir",
        cache.to_str().unwrap(),
    ];
    let counters = |out: &Path| {
        let json = build_json(out);
        assert_eq!(json["reproducible"], true, "{json}");
        json["cache"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["step"] == "kvm-modules")
            .unwrap_or_else(|| panic!("no counters for kvm-modules: {json}"))["report"]
            .clone()
    };
    flow::kvm::run(fx.args(&fx.out("first"), &wrapper)).expect("first run");
    let first = counters(&fx.out("first"));
    assert_eq!(first["misses"], 3, "{first}");
    // Another output directory: other source and build paths, the same objects.
    flow::kvm::run(fx.args(&fx.out("second"), &wrapper)).expect("second run");
    let second = counters(&fx.out("second"));
    assert_eq!(second["hits"], 3, "{second}");
    assert_eq!(second["misses"], 0, "{second}");
    // Reproducible mode keeps the paths out of the modules themselves.
    let ko =
        |out: &str| std::fs::read(fx.out(out).join("linux-build/arch/x86/kvm/kvm.ko")).unwrap();
    assert_eq!(sha256_hex(&ko("first")), sha256_hex(&ko("second")));
}

#[test]
fn the_plan_shows_the_resolve_command_of_the_kernels_era() {
    let fx = Fixture::new();
    let zeros = "0".repeat(64);
    let plan = |name: &str| {
        let out = fx.out(&format!("plan-{name}"));
        let url = format!("{}/{name}", fx.kernel_url.rsplit_once('/').unwrap().0);
        let args = argv(
            "kvm",
            &[
                "--kernel",
                &url,
                "--kernel-sha256",
                &zeros,
                "--config",
                fx.base_config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--plan",
                "-q",
            ],
        );
        let text = flow::kvm::run(flow::kvm::Args::try_parse_from(args).unwrap()).expect("plan");
        assert!(!out.exists());
        let at = text.find("[olddefconfig]").expect(&text);
        let command = text[at..]
            .lines()
            .find(|l| l.trim_start().starts_with("$ "))
            .expect(&text)
            .trim_start()
            .to_string();
        let title = text[..at].lines().last().unwrap().to_string();
        (title, command)
    };
    // The HOWTO's 2.6.23 predates olddefconfig (3.7) and oldnoconfig (2.6.36): the plan shows
    // what really runs, the prompts answered by their defaults.
    let (title, command) = plan("linux-2.6.23.tar.gz");
    assert!(command.starts_with("$ yes \"\" | make "), "{command}");
    assert!(command.ends_with(" oldconfig"), "{command}");
    assert!(
        title.contains("Linux 2.6.23 predates olddefconfig"),
        "{title}"
    );
    let (_, command) = plan("linux-3.2.tar.xz");
    assert!(
        command.starts_with("$ make ") && command.ends_with(" oldnoconfig"),
        "{command}"
    );
    let (_, command) = plan("linux-mini-6.1.tar.gz");
    assert!(
        command.starts_with("$ make ") && command.ends_with(" olddefconfig"),
        "{command}"
    );
    assert_eq!(fx.server.hits("linux-mini-6.1.tar.gz"), 0);
}

#[test]
fn a_kernel_older_than_oldnoconfig_resolves_with_default_answers_and_reproduces_so() {
    // A 2.6.23 tree (the HOWTO's kernel): the flow runs `oldconfig` with every prompt answered
    // by its default, and both the plan and reproduce.sh say `yes "" | … oldconfig`.
    let fx = Fixture::new();
    let kernel = fx.out("trees/linux-2.6.23");
    trees::write_kernel_tree(&kernel);
    let makefile = std::fs::read_to_string(kernel.join("Makefile")).unwrap();
    let makefile = makefile
        .replacen("VERSION = 6", "VERSION = 2", 1)
        .replacen("PATCHLEVEL = 1", "PATCHLEVEL = 6", 1)
        .replacen("SUBLEVEL = 0", "SUBLEVEL = 23", 1);
    std::fs::write(kernel.join("Makefile"), makefile).unwrap();
    let tgz = tarball(&kernel, "linux-2.6.23");
    let sha = sha256_hex(&tgz);
    let url = fx.server.serve("linux-2.6.23.tar.gz", tgz);
    let out = fx.out("out-2.6.23");
    let cache = fx.out("cache");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "--kernel",
            &url,
            "--kernel-sha256",
            &sha,
            "--config",
            fx.base_config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
            "--no-modules",
            "-q",
        ];
        v.extend_from_slice(extra);
        flow::kvm::Args::try_parse_from(argv("kvm", &v)).unwrap()
    };
    let plan = flow::kvm::run(args(&["--plan"])).expect("plan");
    assert!(plan.contains("$ yes \"\" | make "), "{plan}");
    flow::kvm::run(args(&[])).expect("the flow passes");
    let json = build_json(&out);
    let commands = step(&json, "olddefconfig").unwrap()["commands"].to_string();
    assert!(commands.contains("yes \\\"\\\" | (cd "), "{commands}");
    assert!(commands.contains(" oldconfig)"), "{commands}");
    let reproducer = std::fs::read_to_string(out.join("reproduce.sh")).unwrap();
    let line = reproducer
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(" oldconfig"))
        .expect(&reproducer);
    assert!(line.starts_with("yes \"\" | (cd "), "{line}");
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(
        summary.contains("every prompt answered with its default"),
        "{summary}"
    );
}
