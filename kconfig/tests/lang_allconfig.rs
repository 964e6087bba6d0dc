//! `KCONFIG_ALLCONFIG`: the values an `allnoconfig`, `allyesconfig`, `allmodconfig` or
//! `alldefconfig` keeps (a file named by the variable, or with `1`/empty the target's
//! `all*.config` then `all.config` from the build directory or the source tree). Each case runs
//! the kernel's own `conf` with the variable set and kforge with the same file, and compares the
//! `.config` byte for byte and the warnings about the file word for word.

mod common;

use common::oracle::{self, ConfRun, Op, Tree};
use common::{load, tree};
use kforge_kconfig::lang::{AllConfig, DiagnosticKind, NewConfigOptions, ResolveError, Target};

const TREE: &str = "\
config MODULES
\tbool \"modules\"
\tmodules
\tdefault y

config A
\tbool \"a\"

config B
\ttristate \"b\"
\tdepends on A

config C
\ttristate \"c\"
\tdefault m

config D
\tbool \"d\"
\tdepends on !A

config N
\tint \"n\"
\trange 0 100
\tdefault 5

config S
\tstring \"s\"
\tdefault \"x\"

config H
\thex \"h\"
\tdefault 0x10

choice
\tprompt \"pick\"
\tdefault P1

config P1
\tbool \"p1\"

config P2
\tbool \"p2\"

endchoice

choice
\ttristate \"tristate pick\"

config T1
\ttristate \"t1\"

config T2
\ttristate \"t2\"

endchoice

config SEL
\tbool \"sel\"
\tselect HIDDEN

config HIDDEN
\tbool
\tdepends on A

config NOPROMPT
\tbool
\tdefault y

menu \"more\"
\tdepends on C

config E
\ttristate \"e\"
\tdefault y

endmenu
";

/// Values of every kind, a choice member, a hidden symbol and a symbol whose dependency the
/// file turns off.
const FRAGMENT: &str = "\
CONFIG_A=n
CONFIG_D=y
CONFIG_N=42
CONFIG_S=\"from the fragment\"
CONFIG_P2=y
# CONFIG_C is not set
CONFIG_T2=m
CONFIG_SEL=y
CONFIG_NOPROMPT=n
CONFIG_E=y
";

/// What conf warns about: a reassignment, an invalid value, an unknown symbol, garbage, a
/// value outside its range, two members of a choice.
const NOISY: &str = "\
CONFIG_A=y
CONFIG_B=y
CONFIG_B=m
CONFIG_N=abc
CONFIG_UNKNOWN=y
garbage
CONFIG_H=0x20
CONFIG_N=500
CONFIG_P1=y
CONFIG_P2=y
CONFIG_T1=m
CONFIG_T2=y
";

const OPS: [Op; 4] = [Op::AllNo, Op::AllYes, Op::AllMod, Op::AllDef];

fn target(op: &Op) -> Target {
    match op {
        Op::AllNo => Target::AllNo,
        Op::AllYes => Target::AllYes,
        Op::AllMod => Target::AllMod,
        Op::AllDef => Target::AllDef,
        other => panic!("{other:?} takes no allconfig"),
    }
}

/// conf with `KCONFIG_ALLCONFIG=env_value` (and `conf_files` in its build directory) and
/// kforge with `ours` must write the same `.config` and the same warnings about `file_name`.
#[track_caller]
fn same_as_conf(
    t: &Tree,
    op: &Op,
    env_value: &str,
    conf_files: &[(&str, &str)],
    ours: AllConfig,
    file_name: &str,
) -> ConfRun {
    let run = oracle::run_with_files(
        t.path(),
        "Kconfig",
        op,
        None,
        &[("KCONFIG_ALLCONFIG", env_value)],
        conf_files,
    );
    let expected = run.config().to_string();
    // Every file used here changes the result: the comparison below tests the values read.
    let plain = oracle::run(t.path(), "Kconfig", op, None, &[]);
    assert_ne!(
        plain.config(),
        expected,
        "{op:?}: the allconfig file changed nothing for conf, the test is wrong"
    );
    let k = load(t, "Kconfig", &[]).expect("kforge loads the tree");
    let r = k
        .new_config_with(&target(op), &NewConfigOptions::default().allconfig(ours))
        .unwrap_or_else(|e| panic!("{op:?}: kforge failed: {}", common::chain(&e)));
    common::compare::assert_same(
        &format!("{op:?} KCONFIG_ALLCONFIG={env_value}"),
        &expected,
        r.config_str(),
    );
    let prefix = format!("{file_name}:");
    let conf_warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .collect();
    // conf 6.1 names unknown symbols only under KCONFIG_WARN_UNKNOWN_SYMBOLS and drops an
    // out-of-range value silently; kforge reports both.
    let ours: Vec<String> = r
        .diagnostics()
        .iter()
        .filter(|d| d.file == file_name)
        .filter(|d| {
            !matches!(
                d.kind,
                DiagnosticKind::UnknownSymbol { .. } | DiagnosticKind::OutOfRange { .. }
            )
        })
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        ours, conf_warnings,
        "{op:?}: kforge's warnings about {file_name} (left) differ from conf's (right)"
    );
    run
}

fn fragment_tree(fragment: &str) -> Tree {
    tree(&[("Kconfig", TREE), ("configs/frag.config", fragment)])
}

#[test]
fn file_by_absolute_path_for_every_target() {
    for fragment in [FRAGMENT, NOISY] {
        let t = fragment_tree(fragment);
        let path = t.path().join("configs/frag.config");
        let name = path.display().to_string();
        for op in &OPS {
            same_as_conf(&t, op, &name, &[], AllConfig::File(path.clone()), &name);
        }
    }
}

#[test]
fn noisy_file_gives_conf_warnings() {
    let t = fragment_tree(NOISY);
    let path = t.path().join("configs/frag.config");
    let name = path.display().to_string();
    let run = same_as_conf(&t, &Op::AllNo, &name, &[], AllConfig::File(path), &name);
    // The comparison above is only worth something if conf did warn.
    assert!(
        run.stderr.matches(":warning:").count() >= 3,
        "conf printed fewer warnings than the file holds:\n{}",
        run.stderr
    );
}

#[test]
fn relative_file_is_found_in_the_source_tree() {
    let t = fragment_tree(FRAGMENT);
    for op in &OPS {
        same_as_conf(
            &t,
            op,
            "configs/frag.config",
            &[],
            AllConfig::File("configs/frag.config".into()),
            "configs/frag.config",
        );
    }
}

#[test]
fn search_takes_the_target_file_before_all_config() {
    // allno.config in the source tree wins over all.config there; the other targets take
    // all.config.
    let t = tree(&[
        ("Kconfig", TREE),
        ("allno.config", FRAGMENT),
        ("all.config", NOISY),
    ]);
    let build = tempfile::tempdir().expect("tempdir");
    for value in ["1", ""] {
        for op in &OPS {
            let name = if *op == Op::AllNo {
                "allno.config"
            } else {
                "all.config"
            };
            same_as_conf(
                &t,
                op,
                value,
                &[],
                AllConfig::from_env_value(value, build.path()),
                name,
            );
        }
    }
}

#[test]
fn search_looks_in_the_build_directory_first() {
    let t = tree(&[("Kconfig", TREE), ("allmod.config", NOISY)]);
    let build = tempfile::tempdir().expect("tempdir");
    std::fs::write(build.path().join("allmod.config"), FRAGMENT).expect("write");
    same_as_conf(
        &t,
        &Op::AllMod,
        "1",
        &[("allmod.config", FRAGMENT)],
        AllConfig::Search {
            build_dir: build.path().to_path_buf(),
        },
        "allmod.config",
    );
}

#[test]
fn missing_file_is_refused_like_conf() {
    let t = tree(&[("Kconfig", TREE)]);
    let k = load(&t, "Kconfig", &[]).expect("kforge loads the tree");
    let missing = t.path().join("no-such.config");
    let run = oracle::run(
        t.path(),
        "Kconfig",
        &Op::AllNo,
        None,
        &[("KCONFIG_ALLCONFIG", &missing.display().to_string())],
    );
    assert!(!run.success && run.config.is_none(), "{}", run.stderr);
    assert!(
        run.stderr.contains("Can't read seed configuration"),
        "{}",
        run.stderr
    );
    let err = k
        .new_config_with(
            &Target::AllNo,
            &NewConfigOptions::default().allconfig(AllConfig::File(missing.clone())),
        )
        .expect_err("a missing allconfig file is refused");
    let message = err.to_string();
    assert!(
        message.contains("KCONFIG_ALLCONFIG") && message.contains("no-such.config"),
        "{message}"
    );
    match err {
        ResolveError::AllConfigNotFound { file, tried } => {
            assert_eq!(file, missing);
            assert!(tried.contains(&missing), "{tried:?}");
        }
        other => panic!("expected a not-found error, got {other:?}"),
    }

    // `1` with neither allno.config nor all.config anywhere.
    let run = oracle::run(
        t.path(),
        "Kconfig",
        &Op::AllNo,
        None,
        &[("KCONFIG_ALLCONFIG", "1")],
    );
    assert!(!run.success && run.config.is_none(), "{}", run.stderr);
    let build = tempfile::tempdir().expect("tempdir");
    let e = k
        .new_config_with(
            &Target::AllNo,
            &NewConfigOptions::default().allconfig(AllConfig::from_env_value("1", build.path())),
        )
        .expect_err("no allconfig file exists");
    assert!(matches!(e, ResolveError::NoAllConfig { .. }), "{e:?}");
    // conf's message, and where kforge looked.
    let conf_line = run.stderr.trim().trim_start_matches("*** ");
    assert!(e.to_string().starts_with(conf_line), "{e} vs {conf_line}");
    assert!(e.to_string().contains(&build.path().display().to_string()));
}

#[test]
fn other_targets_refuse_an_allconfig() {
    let t = tree(&[("Kconfig", TREE), ("def.config", FRAGMENT)]);
    let k = load(&t, "Kconfig", &[]).expect("kforge loads the tree");
    let e = k
        .new_config_with(
            &Target::DefconfigFile(t.path().join("def.config")),
            &NewConfigOptions::default().allconfig(AllConfig::File(t.path().join("def.config"))),
        )
        .expect_err("defconfig takes no allconfig");
    assert!(matches!(e, ResolveError::AllConfigTarget { .. }), "{e:?}");
}

/// Without the variable the result is the plain target's (the option changes nothing else).
#[test]
fn no_allconfig_is_the_plain_target() {
    let t = tree(&[("Kconfig", TREE)]);
    let k = load(&t, "Kconfig", &[]).expect("kforge loads the tree");
    for op in &OPS {
        let plain = k.new_config(&target(op)).expect("new config");
        let with = k
            .new_config_with(&target(op), &NewConfigOptions::default())
            .expect("new config");
        assert_eq!(plain.config_str(), with.config_str());
        let run = oracle::run(t.path(), "Kconfig", op, None, &[]);
        common::compare::assert_same(&format!("{op:?}"), run.config(), with.config_str());
    }
}
