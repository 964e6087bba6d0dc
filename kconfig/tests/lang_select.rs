//! `select` (reverse dependencies, selecting past unmet dependencies) and `imply`, checked
//! against the kernel's own `conf`.

mod common;

use common::{check, check_all, oracle::Op, tree};

const MODULES: &str = r#"
config MODULES
	bool "modules"
	default y
	modules
"#;

#[test]
fn select_forces_past_unmet_dependencies() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
config DEP
	bool "dep"

config TARGET
	bool "target, depends on DEP"
	depends on DEP

config SELECTOR
	bool "selector"
	default y
	select TARGET

config TRI_TARGET
	tristate "tristate target"

config TRI_SELECTOR
	tristate "tristate selector"
	default m
	select TRI_TARGET

config COND_SELECTOR
	bool "conditional selector"
	select HIDDEN if DEP

config HIDDEN
	bool
"#
        ),
    )]);
    check_all(&t, &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_DEP=y\nCONFIG_COND_SELECTOR=y\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_TRI_SELECTOR=y\n# CONFIG_TRI_TARGET is not set\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("# CONFIG_SELECTOR is not set\nCONFIG_TARGET=y\n"),
        &[],
    );
}

#[test]
fn imply_sets_a_default_the_user_can_override() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
config IMPLIED
	tristate "implied"

config IMPLIED_DEP
	tristate "implied, with a dependency"
	depends on GATE

config GATE
	bool "gate"

config IMPLIER
	tristate "implier"
	default m
	imply IMPLIED
	imply IMPLIED_DEP

config IMPLIER_Y
	bool "implier y"
	imply IMPLIED if GATE
"#
        ),
    )]);
    check_all(&t, &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("# CONFIG_IMPLIED is not set\nCONFIG_IMPLIER=y\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_GATE=y\nCONFIG_IMPLIER_Y=y\n"),
        &[],
    );
}

#[test]
fn select_chains_and_selects_of_choice_values() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
config LEVEL1
	bool "level 1"
	select LEVEL2

config LEVEL2
	bool
	select LEVEL3

config LEVEL3
	tristate
	depends on NEVER_SET

config NEVER_SET
	bool

config STR
	string "a string with a select-made default"
	default "on" if LEVEL3
	default "off"
"#
        ),
    )]);
    check_all(&t, &[]);
    check(&t, &Op::OldDefconfig, Some("CONFIG_LEVEL1=y\n"), &[]);
}
