//! Reproducible builds through the KVM flow, on the Linux-like miniature whose module build
//! compiles like kbuild with debug info (`-g $(KCFLAGS)` from the build directory, so the
//! build path lands in every object unless it is mapped): real make, real gcc, real ld, the
//! kernel tarball served over loopback HTTP. Two output directories of different path length
//! give identical modules with the default settings, and different ones without them, where
//! the cause found is the build path.

mod common;

use common::flow;

use std::path::{Path, PathBuf};

use clap::Parser;
use common::{Server, argv, build_json, sha256_hex, tarball, trees};
use kforge::repro::{Cause, Hints};

/// The date every file of the miniature's archive carries.
const SOURCE_EPOCH: i64 = 1_700_000_000;

struct Fixture {
    _tmp: tempfile::TempDir,
    _server: Server,
    root: PathBuf,
    kernel_url: String,
    kernel_sha: String,
    base_config: PathBuf,
}

/// Every file under `dir` dated `epoch`, as a release archive records them.
fn set_mtimes(dir: &Path, epoch: i64) {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch as u64);
    for file in common::list_files(dir) {
        std::fs::File::options()
            .write(true)
            .open(dir.join(file))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let kernel = root.join("trees/linux");
        trees::write_kernel_tree(&kernel);
        // Compile modules the way kbuild does with CONFIG_DEBUG_INFO: from the build
        // directory, with -g and the user's KCFLAGS.
        let makefile = kernel.join("Makefile");
        let text = std::fs::read_to_string(&makefile).unwrap();
        let patched = text.replace(
            "$(CC) -include $(objtree)/include/generated/autoconf.h",
            "cd $(objtree) && $(CC) -g $(KCFLAGS) -include $(objtree)/include/generated/autoconf.h",
        );
        assert_ne!(text, patched, "the miniature's module compile line moved");
        std::fs::write(&makefile, patched).unwrap();
        set_mtimes(&kernel, SOURCE_EPOCH);
        let server = Server::start();
        let tgz = tarball(&kernel, "linux-mini-6.1");
        let kernel_sha = sha256_hex(&tgz);
        let kernel_url = server.serve("linux-mini-6.1.tar.gz", tgz);
        let base_config = root.join("config-running");
        std::fs::write(&base_config, trees::BASE_CONFIG_MODULES_OFF).unwrap();
        Fixture {
            _tmp: tmp,
            _server: server,
            root,
            kernel_url,
            kernel_sha,
            base_config,
        }
    }

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
            "--cache",
            cache.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(extra);
        flow::kvm::Args::try_parse_from(argv("kvm", &args)).unwrap()
    }
}

const MODULES: [&str; 3] = ["kvm.ko", "kvm-intel.ko", "kvm-amd.ko"];

fn module(out: &Path, name: &str) -> PathBuf {
    out.join("linux-build/arch/x86/kvm").join(name)
}

fn hashes(out: &Path) -> Vec<String> {
    MODULES
        .iter()
        .map(|m| sha256_hex(&std::fs::read(module(out, m)).unwrap()))
        .collect()
}

#[test]
fn modules_are_identical_across_output_directories_by_default() {
    let fx = Fixture::new();
    let (a, b) = (fx.root.join("a"), fx.root.join("a-much-longer-name"));
    for out in [&a, &b] {
        flow::kvm::run(fx.args(out, &[])).expect("the flow passes");
    }
    assert_eq!(hashes(&a), hashes(&b));
    let ra = kforge::record::BuildRecord::read(a.join("build.json")).unwrap();
    let rb = kforge::record::BuildRecord::read(b.join("build.json")).unwrap();
    let d = kforge::record::diff(&ra, &rb);
    assert!(d.is_empty(), "{d}");

    // The settings, dated from the archive, in the record, the summary and reproduce.sh.
    let settings = ra.repro.settings.as_ref().expect("reproducible by default");
    assert_eq!(settings.source_date_epoch, SOURCE_EPOCH);
    assert_eq!(settings.timestamp, "Tue Nov 14 22:13:20 UTC 2023");
    let summary = std::fs::read_to_string(a.join("summary.txt")).unwrap();
    assert!(
        summary.contains("KBUILD_BUILD_TIMESTAMP=\"Tue Nov 14 22:13:20 UTC 2023\""),
        "{summary}"
    );
    let script = std::fs::read_to_string(a.join("reproduce.sh")).unwrap();
    for needle in [
        "KBUILD_BUILD_TIMESTAMP='Tue Nov 14 22:13:20 UTC 2023'",
        "SOURCE_DATE_EPOCH=1700000000",
        "KBUILD_BUILD_USER=kforge",
    ] {
        assert!(script.contains(needle), "{needle} missing in:\n{script}");
    }
    assert!(
        script.contains(&format!(
            "-ffile-prefix-map={}=.",
            a.join("linux-build").display()
        )),
        "{script}"
    );
}

#[test]
fn without_the_settings_the_build_path_is_the_cause() {
    let fx = Fixture::new();
    let (a, b) = (fx.root.join("p"), fx.root.join("plain-longer"));
    for out in [&a, &b] {
        flow::kvm::run(fx.args(out, &["--no-reproducible"])).expect("the flow passes");
    }
    let (ha, hb) = (hashes(&a), hashes(&b));
    for i in 0..MODULES.len() {
        assert_ne!(
            ha[i], hb[i],
            "{} is identical without the settings",
            MODULES[i]
        );
    }
    let hints = Hints {
        paths: [
            vec![a.join("linux-build").display().to_string()],
            vec![b.join("linux-build").display().to_string()],
        ],
        ..Hints::default()
    };
    let c = kforge::repro::compare(module(&a, "kvm.ko"), module(&b, "kvm.ko"), &hints).unwrap();
    assert!(!c.identical);
    assert!(
        matches!(&c.causes[0], Cause::BuildPath { occurrences_a, occurrences_b, .. }
            if *occurrences_a > 0 && *occurrences_b > 0),
        "{:?}",
        c.causes
    );
    let section = c.first_differing_section.expect("both are ELF files");
    assert!(section.starts_with(".debug"), "{section}");
    let record = kforge::record::BuildRecord::read(a.join("build.json")).unwrap();
    assert!(record.repro.settings.is_none());
    assert!(!record.reproducible);

    // `kforge record diff`: same inputs, different bytes.
    let kforge = env!("CARGO_BIN_EXE_kforge");
    let diff = std::process::Command::new(kforge)
        .args(["record", "diff"])
        .args([a.join("build.json"), b.join("build.json")])
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1));
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.contains("artifacts: 3 of 3 differ"), "{text}");
    assert!(text.contains("no recorded input differs"), "{text}");
    assert!(text.contains("not reproducible"), "{text}");

    // Against a reproducible run: the settings are the input that differs.
    let r = fx.root.join("r");
    flow::kvm::run(fx.args(&r, &[])).expect("the flow passes");
    let reproducible = kforge::record::BuildRecord::read(r.join("build.json")).unwrap();
    let d = kforge::record::diff(&record, &reproducible);
    let inputs: Vec<_> = d.inputs().collect();
    assert!(
        matches!(
            inputs.as_slice(),
            [kforge::record::Difference::Reproducibility {
                a: None,
                b: Some(_)
            }]
        ),
        "{d}"
    );
    assert!(d.to_string().contains("off (--no-reproducible)"), "{d}");
}

#[test]
fn repro_check_passes_with_the_settings_and_names_the_cause_without() {
    let fx = Fixture::new();
    let out = fx.root.join("checked");
    let summary = flow::kvm::run(fx.args(&out, &["--repro-check"])).expect("the flow passes");
    assert!(
        summary.contains("reproducibility check: IDENTICAL (3 of 3"),
        "{summary}"
    );
    let json = build_json(&out);
    let check = &json["repro"]["check"];
    assert_eq!(check["identical"], true);
    assert_eq!(check["builds"].as_array().unwrap().len(), 2);
    assert_eq!(check["builds"][1]["user"], "kforge-check");
    assert!(
        out.join("linux-build-repro-check/arch/x86/kvm/kvm.ko")
            .is_file()
    );

    let plain = fx.root.join("unchecked");
    let err = flow::kvm::run(fx.args(&plain, &["--no-reproducible", "--repro-check"]))
        .expect_err("the check fails without the settings");
    assert!(err.to_string().contains("build path"), "{err}");
    let json = build_json(&plain);
    let check = &json["repro"]["check"];
    assert_eq!(check["identical"], false, "{check:#}");
    for artifact in check["artifacts"].as_array().unwrap() {
        let c = &artifact["comparison"];
        assert_eq!(c["identical"], false);
        assert_eq!(c["causes"][0]["kind"], "build_path", "{c:#}");
        assert!(
            c["first_differing_section"]
                .as_str()
                .is_some_and(|s| s.starts_with(".debug")),
            "{c:#}"
        );
    }
    assert_eq!(json["result"], "fail");
}

/// A Xen 4.17-like tree whose build stamps the builder's name into the hypervisor the way
/// Xen's `compile.h` does (`XEN_WHOAMI`, by default `$USER`).
fn xen_fixture(root: &Path) -> (Server, String, String) {
    let xen = root.join("trees/xen");
    trees::write_xen4_tree(&xen);
    let makefile = xen.join("Makefile");
    let text = std::fs::read_to_string(&makefile).unwrap();
    let patched = text.replace(
        "$(CC) -c -o xen/xen.o xen/xen.c",
        "$(CC) -DWHOAMI=\"\\\"$${XEN_WHOAMI:-$$USER}\\\"\" -c -o xen/xen.o xen/xen.c",
    );
    assert_ne!(text, patched, "the miniature's compile line moved");
    std::fs::write(&makefile, patched).unwrap();
    std::fs::write(
        xen.join("xen/xen.c"),
        "const char xen_compile_by[] = WHOAMI;\nint xen_start(void) { return 4; }\n",
    )
    .unwrap();
    set_mtimes(&xen, SOURCE_EPOCH);
    let server = Server::start();
    let tgz = tarball(&xen, "xen-4.17.0");
    let sha = sha256_hex(&tgz);
    let url = server.serve("xen-4.17.0.tar.gz", tgz);
    (server, url, sha)
}

#[test]
fn xen_repro_check_passes_with_the_settings_and_finds_the_user_without() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_server, url, sha) = xen_fixture(root);
    let run = |out: &Path, extra: &[&str]| {
        let out = out.to_str().unwrap().to_string();
        let cache = root.join("cache").to_str().unwrap().to_string();
        let mut args = vec![
            "--xen",
            &url,
            "--xen-sha256",
            &sha,
            "--no-dom0",
            "--repro-check",
            "--out",
            &out,
            "--cache",
            &cache,
            "-q",
        ];
        args.extend_from_slice(extra);
        flow::xen::run(flow::xen::Args::try_parse_from(argv("xen", &args)).unwrap())
    };
    let out = root.join("x");
    let summary = run(&out, &[]).expect("reproducible by default");
    assert!(
        summary.contains("reproducibility check: IDENTICAL (1 of 1"),
        "{summary}"
    );
    let json = build_json(&out);
    assert_eq!(json["repro"]["check"]["identical"], true);

    let plain = root.join("xp");
    let err = run(&plain, &["--no-reproducible"]).expect_err("the user name differs");
    assert!(err.to_string().contains("build user"), "{err}");
    let json = build_json(&plain);
    let c = &json["repro"]["check"]["artifacts"][0]["comparison"];
    assert_eq!(c["identical"], false);
    assert!(
        c["causes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|cause| cause["kind"] == "build_user" && cause["user"] == "kforge-check"),
        "{c:#}"
    );
}

#[test]
fn a_module_signing_key_is_taken_from_the_user_never_made() {
    let fx = Fixture::new();
    let missing = fx.root.join("no-such-key.pem");
    let out = fx.root.join("k");
    let err = flow::kvm::run(fx.args(&out, &["--module-sig-key", missing.to_str().unwrap()]))
        .expect_err("a missing key is an error");
    let text = err.to_string();
    assert!(
        text.contains("no-such-key.pem") && text.contains("--module-sig-key"),
        "{text}"
    );
    assert!(!missing.exists(), "no key was generated");

    let key = fx.root.join("signing key.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let out = fx.root.join("signed");
    flow::kvm::run(fx.args(&out, &["--module-sig-key", key.to_str().unwrap()]))
        .expect("the flow passes");
    let config = std::fs::read_to_string(out.join("linux-build/.config")).unwrap();
    assert!(
        config
            .lines()
            .any(|l| l == format!("CONFIG_MODULE_SIG_KEY=\"{}\"", key.display())),
        "{config}"
    );
}
