//! The real Linux 6.1 build system agrees with this crate: with the make variables of a selected
//! compiler, `make defconfig` records the same compiler version (`CONFIG_GCC_VERSION` /
//! `CONFIG_CLANG_VERSION`) and the same `cc-option` answers (`CONFIG_CC_HAS_*` symbols that are
//! a bare `$(cc-option,…)`) as `Compiler::supports_flag`.
//!
//! Opt-in (slow): `scripts/e2e` sets `KFORGE_LINUX_SRC` to an extracted Linux 6.1 tree.
//! The tree is only read: every build goes to an `O=` directory in a temp dir.

use std::path::PathBuf;
use std::process::Command;

use kforge_toolchain::{Discovery, Family, Requirement, Toolchain};

/// Kconfig symbols of Linux 6.1 defined as `def_bool $(cc-option,FLAG)` and nothing else.
const CC_OPTION_SYMBOLS: &[(&str, &str)] = &[
    (
        "CC_HAS_AUTO_VAR_INIT_PATTERN",
        "-ftrivial-auto-var-init=pattern",
    ),
    ("CC_HAS_SLS", "-mharden-sls=all"),
    ("CC_HAS_RETURN_THUNK", "-mfunction-return=thunk-extern"),
];

fn linux_src() -> PathBuf {
    let src = std::env::var_os("KFORGE_LINUX_SRC")
        .expect("KFORGE_LINUX_SRC is not set: run scripts/e2e (it extracts Linux 6.1 and sets it)");
    let src = PathBuf::from(src);
    assert!(
        src.join("Makefile").is_file(),
        "{} holds no kernel Makefile: run scripts/e2e",
        src.display()
    );
    src
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn kernel_defconfig_agrees_on_version_and_cc_option() {
    let src = linux_src();
    let found = Discovery::new().run().expect("discover");
    for requirement in ["gcc-11", "gcc-12", "clang >=14"] {
        let req: Requirement = requirement.parse().unwrap();
        let compiler = found.select(&req).unwrap_or_else(|e| {
            panic!("{e}\nrun scripts/install-deps test (apt-get install gcc-11 gcc-12 clang)")
        });
        // LLVM=1 also needs lld; CC=clang with GNU binutils is enough for configuration.
        let vars = Toolchain::for_compiler(compiler).without_llvm().make_vars();
        let out_dir = tempfile::tempdir().unwrap();
        let mut make = Command::new("make");
        make.arg("-C")
            .arg(&src)
            .arg(format!("O={}", out_dir.path().display()))
            .arg("-s");
        for (k, v) in &vars {
            make.arg(format!("{k}={v}"));
        }
        make.arg("defconfig");
        let out = make.output().expect("run make");
        assert!(
            out.status.success(),
            "{make:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = std::fs::read_to_string(out_dir.path().join(".config")).unwrap();
        let v = compiler.version;
        let number = v.major * 10000 + v.minor * 100 + v.patch;
        let symbol = match compiler.family {
            Family::Gcc => "CONFIG_GCC_VERSION",
            Family::Clang => "CONFIG_CLANG_VERSION",
        };
        assert!(
            config.contains(&format!("\n{symbol}={number}\n")),
            "{requirement}: the kernel did not record {symbol}={number} for {}",
            compiler.describe()
        );
        for (kconfig, flag) in CC_OPTION_SYMBOLS {
            let kernel_says = config.contains(&format!("\nCONFIG_{kconfig}=y\n"));
            let we_say = compiler.supports_flag(flag).unwrap();
            assert_eq!(
                we_say,
                kernel_says,
                "{}: supports_flag({flag}) = {we_say} but the kernel's cc-option says {kernel_says}",
                compiler.describe()
            );
            eprintln!("{} {flag}: {we_say} (kernel agrees)", compiler.describe());
        }
    }
}
