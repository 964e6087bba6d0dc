//! Explanations of why a value did not land and the proposed fixes, on small Kconfig trees:
//! the explanation names the right symbols with the right values, and every proposed fix,
//! applied and resolved by the kernel's own `conf`, makes the requested values land.

mod common;

use common::{load, oracle, tree};
use kforge_kconfig::lang::Kconfig;
use kforge_kconfig::lang::explain::{CauseKind, Explainer, Explanation, Source};
use kforge_kconfig::lang::fix::{Proposal, Request, propose};

const MODULES: &str = r#"
config MODULES
	bool "modules"
	modules
"#;

/// The value of `name` in a `.config` text (`n` when absent or not set).
fn conf_value(config: &str, name: &str) -> String {
    let prefix = format!("CONFIG_{name}=");
    config
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "n".into())
}

fn requests(list: &[(&str, &str)]) -> Vec<Request> {
    list.iter().map(|(n, v)| Request::new(*n, *v)).collect()
}

/// Proposes a fix for `requested` on `base`, checks that kforge's own resolution with it lands
/// what it claims, and that conf, run on base + requested + fix, lands every value kforge says
/// lands.
#[track_caller]
fn fix_and_check(
    t: &oracle::Tree,
    k: &Kconfig,
    base: &str,
    requested: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Proposal {
    let req = requests(requested);
    let p = propose(k, base.as_bytes(), &req);
    let mut text = base.to_owned();
    for r in &req {
        text.push_str(&r.line());
        text.push('\n');
    }
    text.push_str(&p.fragment());
    let run = oracle::run(
        t.path(),
        "Kconfig",
        &oracle::Op::OldDefconfig,
        Some(&text),
        env,
    );
    let config = run.config();
    assert_eq!(
        config, p.resolved_config,
        "kforge's resolution of the fix differs from conf's"
    );
    for o in &p.outcomes {
        let got = conf_value(config, &o.request.name);
        if o.lands {
            assert_eq!(
                got,
                o.request.value.trim_matches('"'),
                "conf did not land {} with the fix:\n{}",
                o.request.line(),
                p.fragment()
            );
        } else {
            assert_ne!(got, o.request.value.trim_matches('"'));
        }
    }
    p
}

fn explain(k: &Kconfig, config: &str, name: &str) -> Explanation {
    let r = k.olddefconfig_bytes(config.as_bytes(), ".config");
    Explainer::new(k, &r, Some(config.as_bytes())).explain(name)
}

fn lines(p: &Proposal) -> Vec<String> {
    p.lines.iter().map(|l| l.request.line()).collect()
}

const DEEP: &str = r#"
config TOP
	bool "top"

config MID
	bool "mid"
	depends on TOP

config LEAF
	bool "leaf"
	depends on MID && !BLOCKER
HELP_LEAF
config BLOCKER
	bool "blocker"
	default y
"#;

#[test]
fn unmet_depends_several_levels_deep() {
    let t = tree(&[("Kconfig", &DEEP.replace("HELP_LEAF\n", ""))]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let e = explain(&k, "CONFIG_LEAF=y\n", "LEAF");
    assert_eq!(e.value, "n");
    assert_eq!(e.visible, "n");
    assert_eq!(
        e.depends_on.as_ref().unwrap().text,
        "MID [=n] && !BLOCKER [=y]"
    );
    assert_eq!(e.definitions[0].location, "Kconfig:9");
    let r = k.olddefconfig_bytes(b"CONFIG_LEAF=y\n", ".config");
    let causes = Explainer::new(&k, &r, None).root_causes("LEAF", "y");
    let names: Vec<_> = causes.iter().map(|c| c.symbol.as_str()).collect();
    assert!(
        names.contains(&"TOP") && names.contains(&"MID") && names.contains(&"BLOCKER"),
        "{causes:?}"
    );
    assert!(causes.iter().all(|c| c.kind == CauseKind::User));
    let p = fix_and_check(&t, &k, "", &[("LEAF", "y")], &[]);
    assert!(p.complete);
    let mut l = lines(&p);
    l.sort();
    assert_eq!(
        l,
        [
            "# CONFIG_BLOCKER is not set",
            "CONFIG_MID=y",
            "CONFIG_TOP=y"
        ]
    );
}

#[test]
fn help_text_never_changes_the_explanation() {
    let help = "\thelp\n\t  if FOO depends on BAR select BAZ\n\t  choice imply TOP\n\t  depends on BLOCKER\n\n";
    // The help is placed after the last property so that line numbers stay comparable.
    let plain = DEEP.replace("HELP_LEAF\n", "");
    let with_help = DEEP.replace("HELP_LEAF\n", help);
    let t1 = tree(&[("Kconfig", &plain)]);
    let t2 = tree(&[("Kconfig", &with_help)]);
    let k1 = load(&t1, "Kconfig", &[]).unwrap();
    let k2 = load(&t2, "Kconfig", &[]).unwrap();
    let e1 = explain(&k1, "CONFIG_LEAF=y\n", "LEAF");
    let e2 = explain(&k2, "CONFIG_LEAF=y\n", "LEAF");
    assert_eq!(e1.depends_on, e2.depends_on);
    assert_eq!(e1.value, e2.value);
    assert_eq!(
        e1.definitions[0].prompt_condition,
        e2.definitions[0].prompt_condition
    );
    let p1 = propose(&k1, b"", &requests(&[("LEAF", "y")]));
    let p2 = propose(&k2, b"", &requests(&[("LEAF", "y")]));
    assert_eq!(lines(&p1), lines(&p2));
}

#[test]
fn if_block_and_menu() {
    let t = tree(&[(
        "Kconfig",
        r#"
config GATE
	bool "gate"

menu "Drivers"
	depends on GATE || OTHER

if FEATURE
config DRIVER
	bool "driver"
endif

endmenu

config FEATURE
	bool "feature"

config OTHER
	bool
"#,
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let e = explain(&k, "", "DRIVER");
    let enc: Vec<String> = e.definitions[0]
        .enclosing
        .iter()
        .map(|x| format!("{} {}", x.kind, x.depends_on))
        .collect();
    assert!(
        enc.contains(&"menu \"Drivers\" GATE [=n] || OTHER [=n]".to_owned()),
        "{enc:?}"
    );
    let all = e.definitions[0].all_depends_on.as_ref().unwrap();
    assert_eq!(all.text, "(GATE [=n] || OTHER [=n]) && FEATURE [=n]");
    let p = fix_and_check(&t, &k, "", &[("DRIVER", "y")], &[]);
    assert!(p.complete);
    let mut l = lines(&p);
    l.sort();
    // OTHER has no prompt and nothing sets it: the settable GATE is the way.
    assert_eq!(l, ["CONFIG_FEATURE=y", "CONFIG_GATE=y"]);
}

#[test]
fn choice_whose_dependency_is_off() {
    let t = tree(&[(
        "Kconfig",
        r#"
config SCHED
	bool "scheduler options"

choice
	prompt "Scheduler"
	depends on SCHED
	default FAST

config FAST
	bool "fast"

config FAIR
	bool "fair"

endchoice
"#,
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let e = explain(&k, "CONFIG_SCHED=y\n", "FAST");
    let c = e.choice.as_ref().unwrap();
    assert_eq!(c.selected.as_deref(), Some("FAST"));
    assert!(c.why.starts_with("default at Kconfig:"), "{}", c.why);
    assert!(matches!(e.source, Source::Choice { .. }));
    let p = fix_and_check(&t, &k, "", &[("FAIR", "y")], &[]);
    assert!(p.complete);
    assert_eq!(lines(&p), ["CONFIG_SCHED=y"]);
    // Turning the default member off means taking another one.
    let p = fix_and_check(&t, &k, "CONFIG_SCHED=y\n", &[("FAST", "n")], &[]);
    assert!(p.complete, "{p}");
    assert_eq!(lines(&p), ["CONFIG_FAIR=y"]);
}

#[test]
fn select_keeps_a_value_on() {
    let t = tree(&[(
        "Kconfig",
        r#"
config USER
	bool "user"
	default y
	select LIB

config LIB
	bool "lib"
"#,
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let e = explain(&k, "# CONFIG_LIB is not set\n", "LIB");
    assert_eq!(e.value, "y");
    assert_eq!(e.selected_by[0].symbol, "USER");
    assert_eq!(e.selected_by[0].value, "y");
    assert_eq!(e.selected_by[0].location, "Kconfig:5");
    assert_eq!(
        e.source,
        Source::Selected {
            by: vec!["USER".into()]
        }
    );
    let p = fix_and_check(&t, &k, "", &[("LIB", "n")], &[]);
    assert!(p.complete);
    assert_eq!(lines(&p), ["# CONFIG_USER is not set"]);
    // Both requested: the select from a requested symbol makes it impossible.
    let p = fix_and_check(&t, &k, "", &[("USER", "y"), ("LIB", "n")], &[]);
    assert!(!p.complete);
    let o = p.outcomes.iter().find(|o| o.request.name == "LIB").unwrap();
    assert!(o.impossible());
    assert_eq!(o.blocked_by[0].kind, CauseKind::Conflict);
    assert_eq!(o.blocked_by[0].symbol, "USER");
}

#[test]
fn imply_and_hidden_dependency() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
config BUS
	bool "bus"

config SENSOR
	tristate "sensor"
	depends on BUS

config BOARD
	bool "board"
	default y
	imply SENSOR
"#
        ),
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let e = explain(&k, "CONFIG_MODULES=y\nCONFIG_BUS=y\n", "SENSOR");
    assert_eq!(e.value, "y");
    assert_eq!(e.implied_by[0].symbol, "BOARD");
    assert_eq!(
        e.source,
        Source::Implied {
            by: vec!["BOARD".into()]
        }
    );
    let p = fix_and_check(&t, &k, "CONFIG_MODULES=y\n", &[("SENSOR", "m")], &[]);
    assert!(p.complete, "{p}\n{:?}", p.outcomes);
    assert_eq!(lines(&p), ["CONFIG_BUS=y"]);
}

#[test]
fn architecture_only_symbol_is_impossible() {
    let t = tree(&[
        ("Kconfig", "source \"arch/$(SRCARCH)/Kconfig\"\n"),
        (
            "arch/x86/Kconfig",
            r#"
config 64BIT
	bool "64-bit kernel" if "$(ARCH)" = "x86"
	default "$(ARCH)" != "i386"

config X86_32
	def_bool y
	depends on !64BIT

config HIGHMEM
	bool "high memory"
	depends on X86_32
"#,
        ),
    ]);
    let env = [("ARCH", "x86_64"), ("SRCARCH", "x86")];
    let k = load(&t, "Kconfig", &env).unwrap();
    let p = fix_and_check(&t, &k, "", &[("HIGHMEM", "y")], &env);
    assert!(!p.complete);
    let o = &p.outcomes[0];
    assert!(o.impossible(), "{o:?}");
    assert!(
        o.blocked_by
            .iter()
            .any(|c| c.kind == CauseKind::Architecture && c.symbol == "64BIT"),
        "{:?}",
        o.blocked_by
    );
    // The same tree on i386: it lands with one line? No line: HIGHMEM only needs itself.
    let env32 = [("ARCH", "i386"), ("SRCARCH", "x86")];
    let k32 = load(&t, "Kconfig", &env32).unwrap();
    let p = fix_and_check(&t, &k32, "", &[("HIGHMEM", "y")], &env32);
    assert!(p.complete && p.lines.is_empty());
}

#[test]
fn range_switched_by_another_symbol() {
    let t = tree(&[(
        "Kconfig",
        r#"
config BIG
	bool "big machine"

config NR_CPUS
	int "number of CPUs"
	range 1 8 if !BIG
	range 1 512 if BIG
	default 4
"#,
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let e = explain(&k, "CONFIG_NR_CPUS=64\n", "NR_CPUS");
    assert_eq!(e.value, "4");
    assert_eq!(e.range.as_ref().unwrap().high, "8");
    let p = fix_and_check(&t, &k, "", &[("NR_CPUS", "64")], &[]);
    assert!(p.complete, "{p}");
    assert_eq!(lines(&p), ["CONFIG_BIG=y"]);
    let p = fix_and_check(&t, &k, "", &[("NR_CPUS", "1000")], &[]);
    assert!(!p.complete);
    assert_eq!(p.outcomes[0].blocked_by[0].kind, CauseKind::Type);
}

#[test]
fn compiler_probe_is_impossible() {
    let t = tree(&[(
        "Kconfig",
        r#"
config FANCY_INSN_OK
	def_bool $(shell,echo n)

config FANCY
	bool "use the fancy instruction"
	depends on FANCY_INSN_OK
"#,
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let p = fix_and_check(&t, &k, "", &[("FANCY", "y")], &[]);
    assert!(!p.complete);
    let o = &p.outcomes[0];
    assert!(o.impossible());
    assert_eq!(
        o.blocked_by[0].kind,
        CauseKind::Compiler,
        "{:?}",
        o.blocked_by
    );
    assert_eq!(o.blocked_by[0].symbol, "FANCY_INSN_OK");
}

#[test]
fn module_request_with_modules_off() {
    let t = tree(&[(
        "Kconfig",
        &format!(
            r#"{MODULES}
config DRV
	tristate "driver"

config FLAG
	bool "a bool"
"#
        ),
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let p = fix_and_check(&t, &k, "", &[("DRV", "m")], &[]);
    assert!(p.complete);
    assert_eq!(lines(&p), ["CONFIG_MODULES=y"]);
    // A bool cannot be m.
    let p = fix_and_check(&t, &k, "CONFIG_MODULES=y\n", &[("FLAG", "m")], &[]);
    assert!(!p.complete);
    assert_eq!(p.outcomes[0].blocked_by[0].kind, CauseKind::Type);
}

#[test]
fn undefined_symbol() {
    let t = tree(&[("Kconfig", "config A\n\tbool \"a\"\n")]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let p = fix_and_check(&t, &k, "", &[("NOPE", "y")], &[]);
    assert!(!p.complete);
    assert_eq!(p.outcomes[0].blocked_by[0].kind, CauseKind::Undefined);
    assert!(!explain(&k, "", "NOPE").defined);
}

#[test]
fn range_bound_from_a_symbol_default() {
    let t = tree(&[(
        "Kconfig",
        r#"
config OFFSTACK
	bool "masks off stack"

config NR_END
	int
	default 8192 if OFFSTACK
	default 512

config NR
	int "maximum"
	range 2 NR_END
	default 64
"#,
    )]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let p = fix_and_check(&t, &k, "", &[("NR", "4000")], &[]);
    assert!(p.complete, "{p}");
    assert_eq!(lines(&p), ["CONFIG_OFFSTACK=y"]);
}

#[test]
fn verify_carries_explanation_cause_and_fix() {
    use kforge_kconfig::{Config, Fragment, Requested, verify_with_base};
    let t = tree(&[("Kconfig", &DEEP.replace("HELP_LEAF\n", ""))]);
    let k = load(&t, "Kconfig", &[]).unwrap();
    let base = "";
    let frag = Fragment::parse("CONFIG_LEAF=y\n", "leaf.config").unwrap();
    let requested = Requested::from_fragments([&frag]);
    let merged = format!("{base}CONFIG_LEAF=y\n");
    let fin = k.olddefconfig_bytes(merged.as_bytes(), ".config");
    let final_config = Config::parse(fin.config_str()).unwrap();
    let base_config = Config::parse(base).unwrap();
    let mut v = verify_with_base(&requested, &base_config, &final_config);
    v.explain_with_kconfig(&k, &requested, base.as_bytes());
    let lost = &v.lost[0];
    assert_eq!(lost.explanation.as_ref().unwrap().value, "n");
    assert!(!lost.root_causes.is_empty());
    let mut fix = lost.fix.clone();
    fix.sort();
    assert_eq!(
        fix,
        [
            "# CONFIG_BLOCKER is not set",
            "CONFIG_MID=y",
            "CONFIG_TOP=y"
        ]
    );
    let text = v.to_string();
    assert!(
        text.contains("depends on MID [=n] && !BLOCKER [=y]"),
        "{text}"
    );
    assert!(text.contains("cause: "), "{text}");
    assert!(text.contains("fix: add "), "{text}");
    // Unrequested changes name what gave the new value.
    let frag = Fragment::parse("CONFIG_TOP=y\nCONFIG_MID=y\n", "f.config").unwrap();
    let requested = Requested::from_fragments([&frag]);
    let fin = k.olddefconfig_bytes(b"CONFIG_TOP=y\nCONFIG_MID=y\n", ".config");
    let empty = Config::parse("").unwrap();
    let mut v = verify_with_base(
        &requested,
        &empty,
        &Config::parse(fin.config_str()).unwrap(),
    );
    v.explain_with_kconfig(&k, &requested, b"");
    let blocker = v
        .unrequested
        .iter()
        .find(|c| c.symbol == "BLOCKER")
        .unwrap();
    assert!(
        blocker
            .cause
            .as_deref()
            .unwrap()
            .starts_with("default y at Kconfig:"),
        "{:?}",
        blocker.cause
    );
}
