//! `choice` blocks: defaults, conditions, optional and tristate choices, user selections,
//! dependencies of choices and members; checked against the kernel's own `conf`.

mod common;

use common::{check, check_all, oracle::Op, tree};

const MODULES: &str = r#"
config MODULES
	bool "modules"
	default y
	modules
"#;

#[test]
fn bool_choice_with_conditional_default() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
config PICK_B
	bool "prefer B"

choice
	prompt "Pick one"
	default CH_B if PICK_B
	default CH_C

config CH_A
	bool "A"

config CH_B
	bool "B"

config CH_C
	bool "C"
	depends on !PICK_B || CH_B

endchoice

config AFTER_CHOICE
	bool "after"
	default CH_A
"#
        ),
    )]);
    check_all(&t, &[]);
    check(&t, &Op::OldDefconfig, Some("CONFIG_PICK_B=y\n"), &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_CH_A=y\n# CONFIG_CH_C is not set\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_CH_A=y\nCONFIG_CH_C=y\n"),
        &[],
    );
}

#[test]
fn optional_and_named_choices() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
choice OPT
	prompt "Optional"
	optional

config OPT_A
	bool "a"

config OPT_B
	bool "b"

endchoice

choice
	prompt "Depends on OPT_B"
	depends on OPT_B

config D_A
	bool "d a"

config D_B
	bool "d b"

endchoice

choice
	bool "No explicit default, second member visible only"

config V_A
	bool "v a"
	depends on OPT_A

config V_B
	bool "v b"

endchoice
"#
        ),
    )]);
    check_all(&t, &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_OPT_B=y\nCONFIG_D_B=y\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_OPT_A=y\nCONFIG_V_A=y\n"),
        &[],
    );
}

#[test]
fn tristate_choice() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
choice
	tristate "Tristate choice"
	default T_B

config T_A
	tristate "t a"

config T_B
	tristate "t b"

config T_C
	bool "t c, bool in a tristate choice"

endchoice
"#
        ),
    )]);
    check_all(&t, &[]);
    check(
        &t,
        &Op::OldDefconfig,
        Some("CONFIG_T_A=m\nCONFIG_T_B=m\n"),
        &[],
    );
    check(
        &t,
        &Op::OldDefconfig,
        Some("# CONFIG_MODULES is not set\nCONFIG_T_A=m\n"),
        &[],
    );
    check(&t, &Op::OldDefconfig, Some("CONFIG_T_C=y\n"), &[]);
}

#[test]
fn choice_members_with_children_and_selects() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
config HELPER
	bool

choice
	prompt "Members with children"

config M_A
	bool "m a"
	select HELPER

config M_A_CHILD
	bool "child of m a"
	depends on M_A
	default y

config M_B
	bool "m b"

endchoice
"#
        ),
    )]);
    check_all(&t, &[]);
    check(&t, &Op::OldDefconfig, Some("CONFIG_M_B=y\n"), &[]);
}

/// A choice whose default and member prompt refer to other members: the value depends on the
/// order in which conf computes the symbols.
#[test]
fn choice_default_depending_on_members() {
    let t = tree(&[(
        "Kconfig",
        "choice\n\tprompt \"c\"\n\tdefault S3 if S3 = m\nconfig S2\n\tbool \"S2\"\nconfig S3\n\
         \tbool \"S3\" if S2 != n\nconfig S4\n\tbool \"S4\"\nendchoice\n",
    )]);
    check_all(&t, &[]);
    check(&t, &Op::OldDefconfig, Some("CONFIG_S2=y\n"), &[]);
    check(&t, &Op::OldDefconfig, Some("CONFIG_S3=y\n"), &[]);
}

/// `BOOL != m` in a choice member's dependency: conf simplifies it to `y` before it decides
/// whether the member depends on the symbol before it, so S2 stays a member of the choice.
#[test]
fn bool_compared_with_m_inside_a_choice() {
    let t = tree(&[(
        "Kconfig",
        r#"
config MODULES
	bool "modules"
	modules

choice
	prompt "members"
	default S2

config S1
	bool "S1"

config S2
	bool "S2"
	depends on S1 != m

config S3
	bool "S3"

endchoice
"#,
    )]);
    check_all(&t, &[]);
}
