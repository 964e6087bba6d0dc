//! Prompt visibility and dependencies (`depends on`, `prompt … if`, `visible if`, `if` blocks,
//! menus, `menuconfig`, comments), checked against the kernel's own `conf`.

mod common;

use common::{check, check_all, oracle::Op, tree};

#[test]
fn depends_on_and_prompt_conditions() {
    let t = tree(&[(
        "Kconfig",
        r#"
mainmenu "Visibility"

config A
	bool "A"
	default y

config B
	bool "B depends on A"
	depends on A
	default y

config C
	bool "C, prompt only if !A" if !A
	default y

config D
	tristate "D"
	depends on A && !C
	default m

config E
	bool
	default y if B
	default n

config F
	string "F"
	depends on !A
	default "hidden"

config G
	int "G"
	depends on A || C
	default 7
"#,
    )]);
    check_all(&t, &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("# CONFIG_A is not set\nCONFIG_C=y\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_A=y\nCONFIG_F=\"user\"\nCONFIG_G=3\n"),
        &[],
    );
}

#[test]
fn menus_if_blocks_and_visible_if() {
    let t = tree(&[(
        "Kconfig",
        r#"
config MODULES
	bool "modules"
	default y
	modules

config ARCH_X
	def_bool y

menu "Outer"

config OUTER_A
	bool "outer a"
	default y

menu "Inner, visible if OUTER_A"
	visible if OUTER_A

config INNER
	bool "inner"
	default y

config INNER_NOPROMPT
	bool
	default y

endmenu

if ARCH_X

config IN_IF
	tristate "inside if ARCH_X"
	default m

comment "a comment inside if"

if !ARCH_X
config NEVER
	bool "never visible"
	default y
endif

endif # ARCH_X

menu "Depends on OUTER_A"
	depends on OUTER_A

config MENU_DEP
	bool "menu dep"
	default y

comment "comment with its own dep"
	depends on MENU_DEP

endmenu

endmenu

menuconfig BIG
	bool "a menuconfig"
	default y

if BIG

config UNDER_BIG
	bool "under big"
	default y

config UNDER_BIG_2
	tristate "under big 2"

endif

config AFTER
	bool "after"
	depends on BIG
	default y

config AFTER_NODEP
	bool "after, no dep"
"#,
    )]);
    check_all(&t, &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("# CONFIG_OUTER_A is not set\n# CONFIG_BIG is not set\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("# CONFIG_MODULES is not set\nCONFIG_IN_IF=m\n"),
        &[],
    );
}

#[test]
fn symbols_defined_twice_and_dependencies_of_each_definition() {
    let t = tree(&[
        (
            "Kconfig",
            r#"
config X
	bool "X first definition"
	depends on Y

config Y
	bool "Y"
	default y

source "Kconfig.more"
"#,
        ),
        (
            "Kconfig.more",
            r#"
config X
	bool "X second definition"
	default y
	depends on !Y

config Z
	tristate
	default X
"#,
        ),
    ]);
    check_all(&t, &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("# CONFIG_Y is not set\nCONFIG_X=y\n"),
        &[],
    );
}
