//! Opt-in checks of the Kconfig evaluator against a real Linux 6.1 tree (run by `scripts/e2e`,
//! which sets KFORGE_LINUX_SRC to Debian's extracted Linux 6.1):
//!
//! ```sh
//! KFORGE_LINUX_SRC=/path/to/linux-6.1 cargo test --release -p kforge-kconfig \
//!     --test real_tree_checks -- --ignored --nocapture
//! ```
//!
//! - every architecture of the conformance run loads (loading runs the recursive-dependency
//!   check; `conf` accepts every one of these trees, so kforge must find no cycle), and the
//!   public check finds none either (its time, with building the index, is printed);
//! - `make KCONFIG_ALLCONFIG=FILE all{no,yes,mod,def}config`, and `KCONFIG_ALLCONFIG=1
//!   allnoconfig` with `all.config` in the build directory, on x86_64 equal kforge's results
//!   byte for byte.
//!
//! The tree named by KFORGE_LINUX_SRC is never modified (every make uses O=).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{ARCHES, linux_src, make};
use kforge_kconfig::lang::{AllConfig, Kconfig, LoadOptions, NewConfigOptions, Target, Toolchain};

fn load(src: &std::path::Path, arch: &str) -> Kconfig {
    let mut opts = LoadOptions::new(src);
    opts.arch = Some(arch.to_string());
    // make runs with no CROSS_COMPILE or LLVM in its environment.
    opts.toolchain = Some(Toolchain::default());
    opts.probe_cache = Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("real-tree-probes"));
    Kconfig::load(&opts).unwrap_or_else(|e| {
        panic!(
            "{arch}: kforge cannot load the Linux tree (conf accepts it): {}",
            common::chain(&e)
        )
    })
}

#[test]
#[ignore = "needs a Linux 6.1 tree in KFORGE_LINUX_SRC; run scripts/e2e"]
fn linux_6_1_has_no_recursive_dependency_on_any_architecture() {
    let src = linux_src();
    for arch in ARCHES {
        let t = Instant::now();
        let k = load(&src, arch);
        let load = t.elapsed();
        let t = Instant::now();
        kforge_kconfig::lang::depcheck::check(k.model())
            .unwrap_or_else(|e| panic!("{arch}: a cycle conf does not see:\n{e}"));
        eprintln!(
            "{arch}: {} symbols, loaded in {:.0} ms, depcheck::check (index + walk) {:.1} ms",
            k.model().symbols.len(),
            load.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// A fragment of the kind a user keeps for a small VM kernel: values of symbols whose
/// dependencies allnoconfig would leave off, a module, a number and a string.
const FRAGMENT: &str = "\
CONFIG_MODULES=y
CONFIG_PRINTK=y
CONFIG_TTY=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_BLOCK=y
CONFIG_BLK_DEV=y
CONFIG_PCI=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=m
CONFIG_EXT4_FS=y
CONFIG_LOG_BUF_SHIFT=16
CONFIG_LOCALVERSION=\"-frag\"
# CONFIG_64BIT is not set
CONFIG_NO_SUCH_SYMBOL=y
";

#[test]
#[ignore = "needs a Linux 6.1 tree in KFORGE_LINUX_SRC; run scripts/e2e"]
fn allconfig_x86_64_matches_make() {
    let src = linux_src();
    let work = tempfile::Builder::new()
        .prefix("kconfig-allconfig-")
        .tempdir()
        .expect("tempdir");
    let frag = work.path().join("frag.config");
    std::fs::write(&frag, FRAGMENT).expect("write fragment");
    let k = load(&src, "x86_64");

    // KCONFIG_ALLCONFIG=FILE, for every all*config target.
    let var = format!("KCONFIG_ALLCONFIG={}", frag.display());
    for (name, target) in [
        ("allnoconfig", Target::AllNo),
        ("allyesconfig", Target::AllYes),
        ("allmodconfig", Target::AllMod),
        ("alldefconfig", Target::AllDef),
    ] {
        let out = work.path().join(name);
        std::fs::create_dir_all(&out).expect("mkdir");
        make(&src, &out, "x86_64", &[&var, name]);
        let expected = std::fs::read_to_string(out.join(".config")).expect("make wrote .config");
        let ours = k
            .new_config_with(
                &target,
                &NewConfigOptions::default().allconfig(AllConfig::File(frag.clone())),
            )
            .unwrap_or_else(|e| panic!("{name}: kforge failed: {}", common::chain(&e)));
        common::compare::assert_same(
            &format!("{name} KCONFIG_ALLCONFIG=FILE"),
            &expected,
            ours.config_str(),
        );
        assert!(
            expected.contains("CONFIG_LOCALVERSION=\"-frag\""),
            "{name}: the fragment was not applied"
        );
    }

    // KCONFIG_ALLCONFIG=1 with all.config in the build directory (conf runs there).
    let out = work.path().join("search");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("all.config"), FRAGMENT).expect("write all.config");
    make(
        &src,
        &out,
        "x86_64",
        &["KCONFIG_ALLCONFIG=1", "allnoconfig"],
    );
    let expected = std::fs::read_to_string(out.join(".config")).expect("make wrote .config");
    let ours = k
        .new_config_with(
            &Target::AllNo,
            &NewConfigOptions::default().allconfig(AllConfig::from_env_value("1", &out)),
        )
        .unwrap_or_else(|e| panic!("kforge failed: {}", common::chain(&e)));
    common::compare::assert_same(
        "allnoconfig KCONFIG_ALLCONFIG=1",
        &expected,
        ours.config_str(),
    );
}
