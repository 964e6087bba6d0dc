//! Opt-in tests against a real Linux tree (run by scripts/e2e, which sets KFORGE_LINUX_SRC):
//!
//! ```sh
//! KFORGE_LINUX_SRC=/path/to/linux-6.1 cargo test -p kforge-kconfig --test real_kernel -- --ignored
//! ```
//!
//! The tree named by KFORGE_LINUX_SRC is never modified: builds use O= directories in a temp
//! dir. (The stray-.config test of the source tree's O= check is kbuild's: kbuild/tests/real_kernel.rs.)

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::linux_src;
use kforge_kconfig::{
    BuildDir, Config, Fragment, KconfigIndex, LossReason, Mode, merge, verify_with_base,
};

fn make(src: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .arg("-C")
        .arg(src)
        .args(args)
        .env_remove("MAKEFLAGS")
        .env_remove("ARCH")
        .output()
        .unwrap_or_else(|e| panic!("cannot run make ({e}); install it: scripts/install-deps test"))
}

fn log(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_pristine(src: &Path) {
    assert!(
        !src.join(".config").exists(),
        "{} has a .config",
        src.display()
    );
    assert!(
        !src.join("include/config").exists(),
        "{} has include/config",
        src.display()
    );
}

/// The real case: a base with `# CONFIG_MODULES is not set` (this machine's /proc/config.gz)
/// plus a KVM-as-modules fragment, through the kernel's own olddefconfig. verify must say that
/// MODULES is the cause; with MODULES=y requested too, everything lands.
#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn kvm_modules_on_a_modules_off_base_are_reported() {
    let src = linux_src();
    assert_pristine(&src);
    let (mut base, origin) = match Config::running() {
        Ok(running) => (running.config, running.path.display().to_string()),
        Err(e) => {
            eprintln!("no running kernel configuration ({e}); using the 6.1 defconfig fixture");
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/linux-6.1-x86_64-defconfig.config");
            (Config::read(&path).unwrap(), path.display().to_string())
        }
    };
    base.disable("MODULES").unwrap();
    base.set_origin("base.config");
    eprintln!("base: {origin} with MODULES off");
    let kvm = Fragment::parse(
        "CONFIG_VIRTUALIZATION=y\nCONFIG_KVM=m\nCONFIG_KVM_INTEL=m\nCONFIG_KVM_AMD=m\n",
        "kvm.config",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let index = KconfigIndex::build(&src, Some("x86")).unwrap();

    let olddefconfig = |fragments: &[Fragment], dir: &str| {
        let merged = merge(&base, fragments);
        let build = BuildDir::new(tmp.path().join(dir));
        build.install_config(&merged.config).unwrap();
        let o = make(
            &src,
            &[
                &format!("O={}", build.path().display()),
                "ARCH=x86_64",
                "olddefconfig",
            ],
        );
        assert!(o.status.success(), "{}", log(&o));
        let fin = build.read_config().unwrap();
        let mut report = verify_with_base(&merged.requested, &base, &fin);
        report.explain_with(&index, &fin);
        report
    };

    let report = olddefconfig(std::slice::from_ref(&kvm), "o1");
    println!("{report}");
    let lost: Vec<_> = report
        .lost
        .iter()
        .map(|l| (l.symbol.as_str(), l.reason.clone()))
        .collect();
    assert_eq!(
        lost,
        vec![
            ("KVM", LossReason::ModulesDisabled),
            ("KVM_INTEL", LossReason::ModulesDisabled),
            ("KVM_AMD", LossReason::ModulesDisabled),
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains("CONFIG_MODULES is not enabled in the final .config"),
        "{text}"
    );
    assert!(text.contains("(asked at kvm.config:2)"), "{text}");
    assert!(text.contains("defined at arch/x86/kvm/Kconfig"), "{text}");
    assert!(report.clone().enforce(Mode::Strict).is_err());

    let modules = Fragment::parse("CONFIG_MODULES=y\n", "modules.config").unwrap();
    let report = olddefconfig(&[modules, kvm], "o2");
    println!("{report}");
    assert!(report.all_landed(), "{report}");
    assert!(report.enforce(Mode::Strict).is_ok());
    assert_pristine(&src);
}
