//! Bad Kconfig input: where `conf` refuses a tree, kforge refuses it too, and its error names the
//! same file:line as conf's first message.

mod common;

use common::{load, oracle, tree};

/// Every `file:line` conf printed on stderr (`Kconfig:4: syntax error`, `included from:
/// Kconfig.inc:1`); conf often reports a syntax error on the line after the culprit and the
/// culprit on the next message, so kforge has to name one of them.
fn locations(stderr: &str) -> Vec<String> {
    stderr
        .split_whitespace()
        .filter_map(|word| {
            let word = word.trim_end_matches(':');
            let (file, line) = word.rsplit_once(':')?;
            let file = file.trim_end_matches(':');
            (!file.is_empty()
                && !file.starts_with('<')
                && !line.is_empty()
                && line.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("{file}:{line}"))
        })
        .collect()
}

#[track_caller]
fn check_refused(files: &[(&str, &str)]) {
    let t = tree(files);
    let run = oracle::run(t.path(), "Kconfig", &oracle::Op::AllDef, None, &[]);
    assert!(
        !run.success,
        "conf accepted the tree, the test is wrong:\n{}",
        run.stderr
    );
    let locations = locations(&run.stderr);
    assert!(
        !locations.is_empty(),
        "conf printed no file:line:\n{}",
        run.stderr
    );
    match load(&t, "Kconfig", &[]) {
        Ok(_) => panic!("kforge accepted a tree conf refuses with:\n{}", run.stderr),
        Err(e) => assert!(
            locations.iter().any(|l| e.contains(l.as_str())),
            "kforge's error names none of {locations:?} (conf said:\n{})\nkforge said: {e}",
            run.stderr
        ),
    }
}

#[test]
fn unknown_statement() {
    check_refused(&[("Kconfig", "config A\n\tbool \"a\"\n\tfrobnicate yes\n")]);
}

#[test]
fn missing_endmenu() {
    check_refused(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\nmenu \"open\"\nconfig B\n\tbool \"b\"\n",
    )]);
}

#[test]
fn endif_without_if() {
    check_refused(&[("Kconfig", "config A\n\tbool \"a\"\nendif\n")]);
}

#[test]
fn endchoice_closing_a_menu() {
    check_refused(&[("Kconfig", "menu \"m\"\nconfig A\n\tbool \"a\"\nendchoice\n")]);
}

#[test]
fn source_of_a_missing_file() {
    check_refused(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\nsource \"nope/Kconfig\"\n",
    )]);
}

#[test]
fn error_in_a_sourced_file() {
    check_refused(&[
        (
            "Kconfig",
            "config A\n\tbool \"a\"\nsource \"sub/Kconfig\"\n",
        ),
        ("sub/Kconfig", "config B\n\tbool \"b\"\n\tdepends on (A\n"),
    ]);
}

#[test]
fn recursive_source() {
    check_refused(&[
        (
            "Kconfig",
            "config A\n\tbool \"a\"\nsource \"Kconfig.inc\"\n",
        ),
        ("Kconfig.inc", "source \"Kconfig\"\n"),
    ]);
}

#[test]
fn error_if_macro() {
    check_refused(&[(
        "Kconfig",
        "config A\n\tbool \"a\"\n$(error-if,y,this tree is refused)\n",
    )]);
}

#[test]
fn recursive_variable() {
    check_refused(&[(
        "Kconfig",
        "X = $(X)x\nconfig A\n\tstring \"a\"\n\tdefault \"$(X)\"\n",
    )]);
}

#[test]
fn bad_expression() {
    check_refused(&[("Kconfig", "config A\n\tbool \"a\"\n\tdepends on B &&\n")]);
}
