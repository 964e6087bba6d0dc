//! Recursive dependencies: where the kernel's `conf` finds a symbol that depends on itself
//! (through `depends on`, `select`, `imply`, choices, default values and property conditions),
//! it prints each cycle and stops without writing a configuration; kforge refuses the same tree
//! with an error whose text is conf's, line for line. Trees that only look circular load and
//! resolve as conf resolves them.

mod common;

use common::{check_all, env_map, oracle, tree};
use kforge_kconfig::lang::{Kconfig, LoadError, LoadOptions};

/// conf refuses the tree with a recursive dependency: kforge must refuse it with
/// [`LoadError::RecursiveDependency`] whose text is what conf printed.
#[track_caller]
fn check_cycle(files: &[(&str, &str)]) {
    let t = tree(files);
    for op in [oracle::Op::AllDef, oracle::Op::AllYes] {
        let run = oracle::run(t.path(), "Kconfig", &op, None, &[]);
        assert!(
            !run.success,
            "conf accepted the tree, the test is wrong:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("recursive dependency detected!"),
            "conf refused the tree for another reason, the test is wrong:\n{}",
            run.stderr
        );
        assert!(
            !run.out.path().join(".config").exists(),
            "conf wrote a .config"
        );
        let mut opts = LoadOptions::new(t.path());
        opts.env = Some(env_map(&t, &[]));
        match Kconfig::load(&opts) {
            Ok(_) => panic!("kforge loaded a tree conf refuses with:\n{}", run.stderr),
            Err(LoadError::RecursiveDependency(e)) => {
                // conf ends every report with an empty line.
                let ours = format!("{e}\n\n");
                common::compare::assert_same("recursive dependency", &run.stderr, &ours);
                assert_eq!(e.cycles.len(), run.stderr.matches("error:").count());
            }
            Err(e) => panic!(
                "kforge refused the tree for another reason: {}\nconf said:\n{}",
                common::chain(&e),
                run.stderr
            ),
        }
    }
}

#[test]
fn depends_on_each_other() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdepends on B\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
    )]);
}

#[test]
fn depends_on_itself() {
    check_cycle(&[("Kconfig", "config A\n\tbool \"a\"\n\tdepends on A\n")]);
}

#[test]
fn select_of_a_symbol_it_depends_on() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdepends on B\n\tselect B\n\nconfig B\n\tbool \"b\"\n",
    )]);
}

#[test]
fn select_chain_through_three_symbols() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdepends on D || C\n\tselect B\n\n\
         config B\n\tbool \"b\"\n\tselect C\n\n\
         config C\n\tbool \"c\"\n\n\
         config D\n\ttristate \"d\"\n",
    )]);
}

#[test]
fn symbols_selecting_each_other() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tselect B\n\nconfig B\n\tbool \"b\"\n\tselect A\n",
    )]);
}

#[test]
fn imply_of_a_symbol_it_depends_on() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\ttristate \"a\"\n\tdepends on B\n\timply B\n\nconfig B\n\ttristate \"b\"\n",
    )]);
}

#[test]
fn default_value_names_a_dependent() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdefault B\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
    )]);
}

#[test]
fn default_condition_names_a_dependent() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdefault y if B\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
    )]);
}

#[test]
fn prompt_condition_names_a_dependent() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\" if B\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
    )]);
}

#[test]
fn range_condition_names_a_dependent() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tint \"a\"\n\trange 1 10 if B\n\tdefault 3\n\n\
         config B\n\tbool \"b\"\n\tdepends on A = 3\n",
    )]);
}

#[test]
fn dependency_of_an_enclosing_menu_and_if() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\n\
         menu \"m\"\n\tdepends on C\n\n\
         if A\nconfig B\n\tbool \"b\"\nendif\n\nendmenu\n\n\
         config C\n\tbool \"c\"\n\tdefault B\n",
    )]);
}

#[test]
fn choice_depends_on_a_symbol_that_depends_on_a_member() {
    check_cycle(&[(
        "Kconfig",
        "choice\n\tprompt \"pick\"\n\tdepends on X\n\n\
         config P\n\tbool \"p\"\n\nconfig Q\n\tbool \"q\"\n\nendchoice\n\n\
         config X\n\tbool \"x\"\n\tdepends on !Q\n",
    )]);
}

#[test]
fn named_tristate_choice_member_selects_what_the_choice_needs() {
    check_cycle(&[(
        "Kconfig",
        "config MODULES\n\tbool \"modules\"\n\tmodules\n\tdefault y\n\n\
         choice NAMED\n\ttristate \"pick\"\n\tdepends on X\n\n\
         config P\n\ttristate \"p\"\n\tselect X\n\n\
         config Q\n\tbool \"q\"\n\nendchoice\n\n\
         config X\n\ttristate \"x\"\n",
    )]);
}

#[test]
fn choice_default_condition_names_a_member_dependent() {
    check_cycle(&[(
        "Kconfig",
        "choice\n\tprompt \"pick\"\n\tdefault Q if X\n\n\
         config P\n\tbool \"p\"\n\nconfig Q\n\tbool \"q\"\n\nendchoice\n\n\
         config X\n\tbool \"x\"\n\tdepends on P\n",
    )]);
}

#[test]
fn condition_on_m_reaches_the_modules_symbol() {
    // `m` in a condition is `m && MODULES` for conf: A depends on MODULES, which depends on A.
    check_cycle(&[(
        "Kconfig",
        "config MODULES\n\tbool \"modules\"\n\tmodules\n\tdepends on A\n\n\
         config A\n\ttristate \"a\"\n\tdefault y\n\tdepends on m || B\n\n\
         config B\n\tbool \"b\"\n",
    )]);
}

#[test]
fn optional_choice_member_default_names_the_choice_dependency() {
    check_cycle(&[(
        "Kconfig",
        "choice\n\tprompt \"pick\"\n\toptional\n\tdepends on X\n\n\
         config P\n\tbool \"p\"\n\nconfig Q\n\tbool \"q\"\n\nendchoice\n\n\
         config X\n\tbool \"x\"\n\tdefault P\n",
    )]);
}

#[test]
fn visible_if_of_the_enclosing_menu_names_the_symbol() {
    // conf adds a menu's `visible if` to the prompts inside it.
    check_cycle(&[(
        "Kconfig",
        "menu \"m\"\n\tvisible if B\n\nconfig B\n\tbool \"b\"\n\tdefault y\n\nendmenu\n",
    )]);
}

#[test]
fn cycle_across_sourced_files_and_definitions() {
    check_cycle(&[
        (
            "Kconfig",
            "config A\n\tbool \"a\"\n\nsource \"sub/Kconfig\"\n\n\
             config A\n\tdepends on B\n",
        ),
        ("sub/Kconfig", "config B\n\tbool \"b\"\n\tdepends on A\n"),
    ]);
}

#[test]
fn several_cycles_all_reported() {
    check_cycle(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdepends on B\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n\n\
         config FOO\n\tbool \"foo\"\n\tselect BAR\n\n\
         config BAR\n\tbool \"bar\"\n\tdepends on FOO\n\n\
         config X1\n\tbool \"x1\"\n\tdefault X2\n\n\
         config X2\n\tbool \"x2\"\n\tdefault y if X1\n\n\
         config OK\n\tbool \"ok\"\n\tdepends on A\n",
    )]);
}

/// Trees that look circular but are not: conf accepts them, and so must kforge, with the same
/// configurations.
#[test]
fn lookalikes_load_and_resolve_as_conf_does() {
    // A selects B whose dependency is another symbol.
    let t = tree(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tselect B\n\n\
         config B\n\tbool \"b\"\n\tdepends on C\n\n\
         config C\n\tbool \"c\"\n\tdefault y\n",
    )]);
    check_all(&t, &[]);
    // A symbol selected by two others that depend on each other's absence.
    let t = tree(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tselect S\n\n\
         config B\n\tbool \"b\"\n\tdepends on !A\n\tselect S\n\n\
         config S\n\tbool\n",
    )]);
    check_all(&t, &[]);
    // A choice member selecting a symbol outside the choice, which depends on another
    // member's sibling symbol outside the choice.
    let t = tree(&[(
        "Kconfig",
        "choice\n\tprompt \"pick\"\n\nconfig P\n\tbool \"p\"\n\tselect X\n\n\
         config Q\n\tbool \"q\"\n\nendchoice\n\n\
         config X\n\tbool \"x\"\n\tdepends on Y\n\n\
         config Y\n\tbool \"y\"\n\tdefault y\n",
    )]);
    check_all(&t, &[]);
    // A menu shown only when a symbol outside it is set, which depends on a symbol inside
    // it without a prompt (`visible if` conditions prompts only).
    let t = tree(&[(
        "Kconfig",
        "menu \"m\"\n\tvisible if B\n\nconfig C\n\tbool\n\tdefault y\n\nendmenu\n\n\
         config B\n\tbool \"b\"\n\tdepends on C\n",
    )]);
    check_all(&t, &[]);
    // A default naming a symbol that depends on a third one.
    let t = tree(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdefault B\n\n\
         config B\n\tbool \"b\"\n\tdepends on C\n\tdefault y\n\n\
         config C\n\tbool \"c\"\n\tdefault y\n",
    )]);
    check_all(&t, &[]);
}

/// A refused tree is never stored in the parsed-tree cache: loading it again with the cache is
/// refused again, with the same text.
#[test]
fn refused_again_with_the_parsed_tree_cache() {
    let t = tree(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\tdepends on B\n\tselect B\n\nconfig B\n\tbool \"b\"\n",
    )]);
    let cache = tempfile::tempdir().expect("tempdir");
    let mut opts = LoadOptions::new(t.path());
    opts.env = Some(env_map(&t, &[]));
    opts.probe_cache = Some(cache.path().to_path_buf());
    let run = oracle::run(t.path(), "Kconfig", &oracle::Op::AllDef, None, &[]);
    assert!(!run.success, "conf accepted the tree, the test is wrong");
    for attempt in 1..=2 {
        match Kconfig::load(&opts) {
            Err(LoadError::RecursiveDependency(e)) => {
                assert_eq!(format!("{e}\n\n"), run.stderr, "attempt {attempt}")
            }
            other => panic!("attempt {attempt}: expected a recursive dependency, got {other:?}"),
        }
    }
}
