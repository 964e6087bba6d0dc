//! `source` with paths from the environment, nested and inside menus, checked against the
//! kernel's own `conf` (Linux 6.1 only has `source` without globs). The older forms (`rsource`,
//! `osource`, `orsource`, globs) are checked by equivalence: kforge on a tree that uses them
//! must give what conf gives on the same tree written with plain `source` lines.

mod common;

use common::{
    NEW_OPS, check_all, check_top, compare, kforge_output, load, oracle, oracle::Op, tree,
};

#[test]
fn source_paths_from_the_environment_and_nesting() {
    let t = tree(&[
        (
            "Kconfig",
            r#"
mainmenu "Sources"

source "drivers/a/Kconfig"
source "$(SUBDIR)/Kconfig"

menu "Sourced inside a menu"
source "inmenu/Kconfig"
endmenu

config AFTER_SOURCES
	bool "after sources"
	default DRV_A
"#,
        ),
        (
            "drivers/a/Kconfig",
            "config DRV_A\n\ttristate \"a\"\n\tdefault y\nsource \"drivers/a/Kconfig.more\"\n",
        ),
        (
            "drivers/a/Kconfig.more",
            "config MORE\n\tint \"more\"\n\tdefault 3\n\tdepends on DRV_A\n",
        ),
        (
            "env-dir/Kconfig",
            "config FROM_ENV_DIR\n\tbool \"env dir\"\n\tdefault y\n",
        ),
        (
            "inmenu/Kconfig",
            "config IN_MENU\n\tbool \"in menu\"\n\tdefault y\nsource \"inmenu/Kconfig.deeper\"\n",
        ),
        (
            "inmenu/Kconfig.deeper",
            "if IN_MENU\nconfig DEEPER\n\tbool \"deeper\"\nendif\n",
        ),
    ]);
    check_all(&t, &[("SUBDIR", "env-dir")]);
}

/// kforge's output on `with_old_forms` must be conf's on `plain` for every new-config target.
#[track_caller]
fn check_equivalent(with_old_forms: &[(&str, &str)], plain: &[(&str, &str)]) {
    let old = tree(with_old_forms);
    let plain = tree(plain);
    let kconfig = load(&old, "Kconfig", &[]).unwrap_or_else(|e| panic!("kforge: {e}"));
    let scratch = tempfile::tempdir().expect("tempdir");
    for op in NEW_OPS {
        let run = oracle::run(plain.path(), "Kconfig", &op, None, &[]);
        let actual = kforge_output(&kconfig, &op, None, scratch.path())
            .unwrap_or_else(|e| panic!("{op:?}: kforge failed: {e}"));
        compare::assert_same(&format!("{op:?}"), run.config(), &actual);
    }
}

const DRIVERS: [(&str, &str); 4] = [
    (
        "drivers/b/Kconfig",
        "config DRV_B\n\tbool \"b\"\n\tdefault y\n",
    ),
    (
        "drivers/a/Kconfig",
        "config DRV_A\n\ttristate \"a\"\n\tdefault DRV_B\n",
    ),
    (
        "drivers/c/Kconfig",
        "config DRV_C\n\tbool \"c\"\n\tdepends on DRV_A\n",
    ),
    (
        "drivers/c/notkconfig",
        "config NOT_SOURCED\n\tbool \"no\"\n",
    ),
];

#[test]
fn globs_expand_in_sorted_order() {
    let mut old = vec![("Kconfig", "source \"drivers/*/Kconfig\"\n")];
    old.extend(DRIVERS);
    let mut plain = vec![(
        "Kconfig",
        "source \"drivers/a/Kconfig\"\nsource \"drivers/b/Kconfig\"\nsource \"drivers/c/Kconfig\"\n",
    )];
    plain.extend(DRIVERS);
    check_equivalent(&old, &plain);
}

#[test]
fn rsource_is_relative_to_the_current_file() {
    let files = [
        (
            "sub/Kconfig",
            "config SUB\n\tbool \"sub\"\n\tdefault y\nrsource \"deeper/Kconfig\"\n",
        ),
        (
            "sub/deeper/Kconfig",
            "config DEEPER\n\tbool \"deeper\"\n\tdefault SUB\n",
        ),
    ];
    let mut old = vec![("Kconfig", "rsource \"sub/Kconfig\"\n")];
    old.extend(files);
    let plain = [
        ("Kconfig", "source \"sub/Kconfig\"\n"),
        (
            "sub/Kconfig",
            "config SUB\n\tbool \"sub\"\n\tdefault y\nsource \"sub/deeper/Kconfig\"\n",
        ),
        (
            "sub/deeper/Kconfig",
            "config DEEPER\n\tbool \"deeper\"\n\tdefault SUB\n",
        ),
    ];
    check_equivalent(&old, &plain);
}

#[test]
fn optional_sources_skip_what_is_missing() {
    let files = [
        ("opt/Kconfig.one", "config OPT_ONE\n\tbool \"opt one\"\n"),
        (
            "opt/Kconfig.two",
            "config OPT_TWO\n\tbool \"opt two\"\n\tdefault y\n",
        ),
        (
            "local/Kconfig",
            "orsource \"missing.*\"\norsource \"../opt/Kconfig.one\"\n",
        ),
    ];
    let mut old = vec![(
        "Kconfig",
        "config FIRST\n\tbool \"first\"\nosource \"missing/Kconfig\"\nosource \"opt/Kconfig.*\"\nsource \"local/Kconfig\"\n",
    )];
    old.extend(files);
    let mut plain = vec![
        (
            "Kconfig",
            "config FIRST\n\tbool \"first\"\nsource \"opt/Kconfig.one\"\nsource \"opt/Kconfig.two\"\nsource \"local/Kconfig\"\n",
        ),
        ("local/Kconfig", "source \"opt/Kconfig.one\"\n"),
    ];
    plain.extend(&files[..2]);
    check_equivalent(&old, &plain);
}

#[test]
fn another_top_file() {
    let t = tree(&[
        (
            "arch/x/Kconfig",
            "mainmenu \"Top in arch\"\nsource \"common/Kconfig\"\n",
        ),
        (
            "common/Kconfig",
            "config COMMON\n\tbool \"common\"\n\tdefault y\n",
        ),
    ]);
    check_top(&t, "arch/x/Kconfig", &Op::AllDef, None, &[]);
    check_top(&t, "arch/x/Kconfig", &Op::AllNo, None, &[]);
}
