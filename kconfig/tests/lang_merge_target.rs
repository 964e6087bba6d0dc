//! Defconfig targets that are make rules: MIPS' generic defconfigs (`32r2el_defconfig`,
//! `64r6_defconfig`, the legacy `ocelot_defconfig`) merge fragments onto `generic_defconfig`,
//! resolve, merge the board fragments whose `# require` lines hold, and resolve again. A small
//! tree gets Linux 6.1's own rules (the generic-defconfig part of `arch/mips/Makefile`,
//! `scripts/kconfig/merge_config.sh`, `arch/mips/tools/generic-board-config.sh`, all taken from
//! the Linux 6.1 tarball with `conf`) under a minimal top Makefile; real `make` runs them with
//! the kernel's `conf`, and kforge's `NamedDefconfig` must give the same `.config`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::oracle::{self, Tree};
use common::{load, make_in, tree};
use kforge_kconfig::lang::Target;

const KCONFIG: &str = "\
config MODULES
\tbool \"modules\"
\tmodules

config 32BIT
\tbool \"32-bit\"

config 64BIT
\tbool \"64-bit\"
\tdepends on !32BIT

choice
\tprompt \"Endianness\"
\tdefault CPU_BIG_ENDIAN

config CPU_BIG_ENDIAN
\tbool \"big endian\"

config CPU_LITTLE_ENDIAN
\tbool \"little endian\"

endchoice

config CPU_MIPS32_R2
\tbool \"MIPS32 r2\"
\tdepends on 32BIT

config CPU_MIPS64_R6
\tbool \"MIPS64 r6\"
\tdepends on 64BIT

config BOARD_OCELOT
\tbool \"ocelot\"
\tdepends on CPU_LITTLE_ENDIAN

config BOARD_BIG
\tbool \"a 64-bit board\"

config BOARD_OTHER
\tbool \"another 32-bit board\"

config SERIAL
\ttristate \"serial\"

config NR
\tint \"nr\"
\tdefault 4

config CMDLINE
\tstring \"command line\"
";

/// The generic-defconfig rules of Linux 6.1's `arch/mips/Makefile`, from `generic_config_dir`
/// to the legacy aliases' rule.
fn generic_rules() -> String {
    let text = std::fs::read_to_string(oracle::linux_file("arch/mips/Makefile"))
        .expect("read arch/mips/Makefile");
    let start = text
        .find("generic_config_dir = ")
        .expect("arch/mips/Makefile defines generic_config_dir");
    let rule = "$(legacy_defconfigs):\n";
    let at = text[start..]
        .find(rule)
        .expect("arch/mips/Makefile has the legacy defconfig rule")
        + start
        + rule.len();
    let end = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
    let rules = text[start..end].to_string();
    assert!(rules.contains("define gen_generic_defconfigs"), "{rules}");
    rules
}

fn mips_tree() -> Tree {
    let conf = oracle::conf_binary().display().to_string();
    let top = format!(
        "srctree := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))\n\
         objtree := $(CURDIR)\n\
         ARCH := mips\n\
         SRCARCH := mips\n\
         CONFIG_SHELL := sh\n\
         KCONFIG_CONFIG ?= .config\n\
         export srctree KCONFIG_CONFIG ARCH SRCARCH\n\
         include $(srctree)/arch/mips/Makefile\n\
         .PHONY: olddefconfig\n\
         olddefconfig:\n\
         \t{conf} --olddefconfig Kconfig\n"
    );
    let t = tree(&[
        ("Makefile", &top),
        ("Kconfig", KCONFIG),
        ("arch/mips/Makefile", &generic_rules()),
        (
            "arch/mips/configs/generic_defconfig",
            "CONFIG_MODULES=y\nCONFIG_SERIAL=m\nCONFIG_NR=8\n",
        ),
        (
            "arch/mips/configs/generic/32r2.config",
            "CONFIG_32BIT=y\nCONFIG_CPU_MIPS32_R2=y\n",
        ),
        (
            "arch/mips/configs/generic/64r6.config",
            "CONFIG_64BIT=y\nCONFIG_CPU_MIPS64_R6=y\n",
        ),
        (
            "arch/mips/configs/generic/el.config",
            "CONFIG_CPU_LITTLE_ENDIAN=y\n",
        ),
        (
            "arch/mips/configs/generic/eb.config",
            "CONFIG_CPU_BIG_ENDIAN=y\n",
        ),
        (
            "arch/mips/configs/generic/board-ocelot.config",
            "# require CONFIG_CPU_LITTLE_ENDIAN=y\n# require CONFIG_32BIT=y\n\n\
             CONFIG_BOARD_OCELOT=y\nCONFIG_SERIAL=y\nCONFIG_CMDLINE=\"console=ttyS0\"\n",
        ),
        (
            "arch/mips/configs/generic/board-other.config",
            "# require CONFIG_32BIT=y\nCONFIG_BOARD_OTHER=y\n",
        ),
        (
            "arch/mips/configs/generic/board-big.config",
            "# require CONFIG_64BIT=y\nCONFIG_BOARD_BIG=y\nCONFIG_NR=16\n",
        ),
    ]);
    for (rel, mode) in [
        ("scripts/kconfig/merge_config.sh", 0o755),
        ("arch/mips/tools/generic-board-config.sh", 0o755),
    ] {
        let text = std::fs::read_to_string(oracle::linux_file(rel)).expect("read a Linux script");
        t.write(rel, &text);
        std::fs::set_permissions(t.path().join(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }
    t
}

/// `make -f SRC/Makefile TARGET` in a fresh build directory: the `.config` it wrote.
fn make_target(t: &Tree, target: &str) -> String {
    let out = tempfile::tempdir().expect("tempdir");
    let makefile = t.path().join("Makefile").display().to_string();
    make_in(out.path(), &["-f".into(), makefile, target.into()]);
    read(&out.path().join(".config"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn mips_generic_defconfigs_are_make_s() {
    let t = mips_tree();
    let k = load(&t, "Kconfig", &[("ARCH", "mips"), ("SRCARCH", "mips")])
        .unwrap_or_else(|e| panic!("kforge cannot load the tree: {e}"));
    let mut outputs = Vec::new();
    for target in ["32r2el_defconfig", "64r6_defconfig", "ocelot_defconfig"] {
        let expected = make_target(&t, target);
        let ours = k
            .new_config(&Target::NamedDefconfig(target.into()))
            .unwrap_or_else(|e| panic!("{target}: kforge failed: {}", common::chain(&e)));
        common::compare::assert_same(target, &expected, ours.config_str());
        outputs.push(expected);
    }
    // The cases exercise what they are meant to: the boards whose requirements hold are
    // merged, the others are not.
    assert!(
        outputs[0].contains("CONFIG_BOARD_OCELOT=y"),
        "{}",
        outputs[0]
    );
    assert!(!outputs[0].contains("CONFIG_BOARD_BIG=y"), "{}", outputs[0]);
    assert!(outputs[1].contains("CONFIG_BOARD_BIG=y"), "{}", outputs[1]);
    assert!(outputs[1].contains("CONFIG_NR=16"), "{}", outputs[1]);
    assert!(!outputs[2].contains("CONFIG_BOARD_BIG=y"), "{}", outputs[2]);
    // A legacy alias merges only its own board (`BOARDS=ocelot`), not every board that fits.
    assert!(
        outputs[0].contains("CONFIG_BOARD_OTHER=y"),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[2].contains("CONFIG_BOARD_OCELOT=y"),
        "{}",
        outputs[2]
    );
    assert!(
        !outputs[2].contains("CONFIG_BOARD_OTHER=y"),
        "{}",
        outputs[2]
    );
}
