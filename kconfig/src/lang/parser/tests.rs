use super::*;
use crate::lang::ast::{Menu, Property, Symbol};

fn env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("SRCARCH".to_owned(), "x86".to_owned()),
        ("CC".to_owned(), "gcc".to_owned()),
    ])
}

fn parse1(text: &str) -> Parsed {
    match parse_str("Kconfig", text, &env()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn err(text: &str) -> String {
    parse_str("Kconfig", text, &env()).unwrap_err().to_string()
}

fn sym<'m>(m: &'m Model, name: &str) -> &'m Symbol {
    m.symbol(m.lookup(name).unwrap_or_else(|| panic!("no symbol {name}")))
}

fn props<'m>(m: &'m Model, name: &str) -> Vec<&'m Property> {
    m.props_of(m.lookup(name).unwrap()).collect()
}

fn dep(m: &Model, e: &Option<Expr>) -> String {
    e.as_ref().map_or("<none>".to_owned(), |e| m.expr_string(e))
}

fn tree(m: &Model, id: MenuId, depth: usize, out: &mut String) {
    let node: &Menu = m.menu(id);
    let label = match node.kind {
        MenuKind::Root => "root".to_owned(),
        MenuKind::Config(s) | MenuKind::MenuConfig(s) => m.symbol(s).name.clone(),
        MenuKind::Choice(_) => "choice".to_owned(),
        MenuKind::Menu => "menu".to_owned(),
        MenuKind::Comment => "comment".to_owned(),
        MenuKind::If => "if".to_owned(),
    };
    out.push_str(&format!("{}{}\n", "  ".repeat(depth), label));
    for &c in &node.children {
        tree(m, c, depth + 1, out);
    }
}

#[test]
fn entries_properties_and_locations() {
    let p = parse1(
        "mainmenu \"Linux/$(SRCARCH) Kernel\"\n\
         \n\
         config A\n\
         \tbool \"A prompt\" if B\n\
         \tdefault y if C\n\
         \tdefault m\n\
         \tselect D if E\n\
         \timply F\n\
         \tdepends on G && !H\n\
         \tdepends on I\n\
         \n\
         config N\n\
         \tint\n\
         \trange 1 \"10\" if A\n\
         \tdefault 0x10\n\
         config S\n\
         \tdef_tristate A = \"x\" || (B != C && !D)\n\
         config M\n\
         \tbool\n\
         \tmodules\n",
    );
    let m = &p.model;
    assert_eq!(m.mainmenu.as_deref(), Some("Linux/x86 Kernel"));
    let a = sym(m, "A");
    assert_eq!(a.ty, SymbolType::Bool);
    assert_eq!(m.loc_string(m.menu(a.definitions[0]).loc), "Kconfig:3");
    let ps = props(m, "A");
    assert_eq!(ps.len(), 5);
    assert!(matches!(&ps[0].kind, PropKind::Prompt(t) if t == "A prompt"));
    assert_eq!(m.loc_string(ps[2].loc), "Kconfig:6");
    assert_eq!(dep(m, &ps[0].cond), "B");
    // Finalized: the entry's dependencies are and-ed into every property.
    assert_eq!(dep(m, &ps[0].visible), "G && !H && I && B");
    assert_eq!(dep(m, &ps[1].visible), "G && !H && I && C");
    assert_eq!(dep(m, &a.dir_dep), "G && !H && I");
    assert_eq!(dep(m, &sym(m, "D").rev_dep), "A && G && !H && I && E");
    assert_eq!(dep(m, &sym(m, "F").implied), "A && G && !H && I");
    let n = props(m, "N");
    let PropKind::Range(lo, hi) = n[0].kind else {
        panic!()
    };
    assert!(!m.symbol(lo).flags.constant && m.symbol(hi).flags.constant);
    assert_eq!(sym(m, "S").ty, SymbolType::Tristate);
    let PropKind::Default(e) = &props(m, "S")[0].kind else {
        panic!()
    };
    assert_eq!(m.expr_string(e), "A=\"x\" || B!=C && !D");
    assert_eq!(m.modules_sym, m.lookup("M"));
    // `m` in a condition is `m && MODULES`; not in a default value.
    let p = parse1("config M\n bool\n modules\nconfig X\n tristate\n default m if m\n");
    let x = props(&p.model, "X");
    assert_eq!(dep(&p.model, &x[0].visible), "m && M");
    assert!(matches!(&x[0].kind, PropKind::Default(Expr::Symbol(s)) if *s == p.model.module()));
}

#[test]
fn menus_ifs_and_visibility() {
    let p = parse1(
        "menu \"Top\"\n\
         \tvisible if V\n\
         \tdepends on D\n\
         if I\n\
         config A\n\
         \tbool \"a\"\n\
         endif\n\
         comment \"note\"\n\
         \tdepends on A\n\
         endmenu\n",
    );
    let m = &p.model;
    let a = props(m, "A");
    assert_eq!(dep(m, &a[0].cond), "<none>");
    assert_eq!(dep(m, &a[0].visible), "D && I && V");
    assert_eq!(dep(m, &sym(m, "A").dir_dep), "D && I");
    let mut t = String::new();
    tree(m, m.root(), 0, &mut t);
    // The `if` is flattened after A looked for dependent entries among its siblings inside
    // the `if`: the comment after `endif` stays beside A.
    assert_eq!(t, "root\n  menu\n    if\n    A\n    comment\n");
}

#[test]
fn automatic_submenus_under_configs() {
    let p = parse1(
        "menuconfig NET\n\tbool \"net\"\n\
         if NET\n\
         config TCP\n\tbool \"tcp\"\n\
         config TCP_EXTRA\n\tbool \"extra\"\n\tdepends on TCP\n\
         endif\n\
         config OTHER\n\tbool \"other\"\n\
         config NOT_NET\n\tbool \"not net\"\n\tdepends on !OTHER\n",
    );
    let mut t = String::new();
    tree(&p.model, p.model.root(), 0, &mut t);
    assert_eq!(
        t,
        "root\n  NET\n    if\n    TCP\n      TCP_EXTRA\n  OTHER\n    NOT_NET\n"
    );
}

#[test]
fn choices() {
    let p = parse1(
        "config MODULES\n\tbool \"modules\"\n\tmodules\n\
         choice\n\
         \tprompt \"pick\"\n\
         \ttristate\n\
         \tdefault B\n\
         \tdepends on X\n\
         config A\n\ttristate \"a\"\n\
         config A_SUB\n\tbool \"sub\"\n\tdepends on A\n\
         config B\n\tbool \"b\"\n\
         if Y\n\
         config C\n\tprompt \"c\"\n\
         endif\n\
         endchoice\n\
         choice NAMED\n\toptional\n\tbool \"named\"\nconfig D\n\tbool \"d\"\nendchoice\n",
    );
    let m = &p.model;
    let a = sym(m, "A");
    let cs = a.choice.unwrap();
    let c = m.symbol(cs);
    assert!(c.flags.choice && !c.flags.optional);
    assert_eq!(c.ty, SymbolType::Tristate);
    let names: Vec<_> = c
        .choice_members
        .iter()
        .map(|&s| m.symbol(s).name.as_str())
        .collect();
    assert_eq!(
        names,
        ["A", "B", "C"],
        "A_SUB sits under A, not in the choice"
    );
    assert_eq!(
        sym(m, "C").ty,
        SymbolType::Unknown,
        "only direct children are typed"
    );
    assert_eq!(c.dir_dep, None);
    // Non-optional choice: rev_dep = visible && m.
    assert_eq!(dep(m, &c.rev_dep), "X && m");
    // A bool member of a tristate choice needs the choice to be y.
    let b = props(m, "B");
    assert_eq!(dep(m, &b[0].visible), "<choice>=y && <choice>");
    let d = sym(m, "D");
    let named = m.symbol(d.choice.unwrap());
    assert_eq!(named.name, "NAMED");
    assert!(named.flags.optional);
    assert_eq!(named.rev_dep, None);
}

#[test]
fn help_text_keeps_keywords() {
    let p = parse1(
        "config A\n\
         \tbool \"a\"\n\
         \thelp\n\
         \t  Say Y if you have one of these machines.\n\
         \t  depends on nothing\n\
         \n\
         \t    select whatever\n\
         \n\
         config B\n\
         \tbool\n\
         \t---help---\n\
         \t  old style\n\
         \tdefault y\n",
    );
    let m = &p.model;
    let a = m.menu(sym(m, "A").definitions[0]);
    assert_eq!(
        a.help.as_deref(),
        Some("Say Y if you have one of these machines.\ndepends on nothing\n\n  select whatever\n")
    );
    assert_eq!(props(m, "A").len(), 1);
    assert_eq!(m.lookup("you"), None);
    let b = m.menu(sym(m, "B").definitions[0]);
    assert_eq!(b.help.as_deref(), Some("old style\n"));
    assert_eq!(
        props(m, "B").len(),
        1,
        "default after help still belongs to B"
    );
}

#[test]
fn macros_and_assignments() {
    let p = parse1(
        "X := $(SRCARCH)\n\
         R = $(X)-$(1)\n\
         config A\n\
         \tdef_bool $(R,y)\n\
         \tprompt \"$(filename):$(lineno)\"\n\
         config $(X)_SYM\n\
         \tbool\n\
         $(info,hi $(CC))\n\
         $(warning-if,y,careful)\n",
    );
    let m = &p.model;
    assert!(m.lookup("x86_SYM").is_some());
    let PropKind::Default(Expr::Symbol(s)) = &props(m, "A")[0].kind else {
        panic!()
    };
    assert_eq!(m.symbol(*s).name, "x86-y");
    assert!(matches!(&props(m, "A")[1].kind, PropKind::Prompt(t) if t == "Kconfig:5"));
    assert_eq!(p.messages.len(), 2);
    assert_eq!(p.messages[0].text, "hi gcc");
    assert_eq!(p.messages[1].line, 9);
    assert_eq!(
        p.env_read,
        [
            ("SRCARCH".to_owned(), "x86".to_owned()),
            ("CC".to_owned(), "gcc".to_owned())
        ]
    );
    assert!(err("A := $(shell,echo hi)\n").contains("not allowed"));
    assert_eq!(err("$(error-if,y,no compiler)\n"), "Kconfig:1: no compiler");
}

#[test]
fn sources_globs_and_legacy_env() {
    let files = [
        (
            "Kconfig",
            "source \"arch/$SRCARCH/Kconfig\"\nrsource \"sub/*.kc\"\nosource \"none/*\"\nosource \"missing\"\n",
        ),
        (
            "arch/x86/Kconfig",
            "config X86\n\tdef_bool y\n\toption env=\"SRCARCH\"\n",
        ),
        ("sub/b.kc", "config B\n\tbool\n"),
        ("sub/a.kc", "config A\n\tbool\n"),
    ];
    let p = parse_files(&files, &env()).unwrap();
    let names: Vec<_> = p.model.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["Kconfig", "arch/x86/Kconfig", "sub/a.kc", "sub/b.kc"]
    );
    assert_eq!(
        p.model.loc_string(p.model.files[2].included_from.unwrap()),
        "Kconfig:2"
    );
    assert!(
        props(&p.model, "X86")
            .iter()
            .any(|p| matches!(&p.kind, PropKind::Env(v) if v == "SRCARCH"))
    );
    let e = parse_files(&[("Kconfig", "source \"nope\"\n")], &env()).unwrap_err();
    assert_eq!(e.to_string(), "Kconfig:1: can't open file \"nope\"");
    let e = parse_files(&[("Kconfig", "source \"Kconfig\"\n")], &env()).unwrap_err();
    assert!(e.to_string().contains("recursive inclusion"), "{e}");
}

#[test]
fn errors_name_file_line_and_what_was_expected() {
    assert_eq!(
        err("config A\n\tbool\n\tdefault\n"),
        "Kconfig:3: expected a symbol or a quoted value, found end of line"
    );
    assert_eq!(
        err("menu \"m\"\nconfig A\n\tbool\n"),
        "Kconfig:1: missing end statement for this entry: 'menu' without 'endmenu' in this file"
    );
    assert!(err("if A\nendmenu\n").starts_with("Kconfig:2: unexpected 'endmenu' within if block"));
    assert_eq!(err("bogus\n"), "Kconfig:1: unknown statement \"bogus\"");
    assert_eq!(
        err("config\n"),
        "Kconfig:1: expected a symbol name after config, found end of line"
    );
    assert!(err("config A\n\tselect \"B\"\n").starts_with("Kconfig:2: expected a symbol name"));
    let deep = format!("config A\n\tdepends on {}A\n", "(".repeat(100_000));
    assert!(err(&deep).contains("nested too deeply"));
}

#[test]
fn transitional_and_old_options() {
    let p = parse1(
        "config OLD\n\tbool\n\ttransitional\n\
         config D\n\tstring\n\toption defconfig_list\n\
         config Y\n\tboolean \"y\"\n\toption allnoconfig_y\n\tenable Z\n\tdepends Q\n\trequires R\n",
    );
    let m = &p.model;
    assert!(sym(m, "OLD").flags.transitional);
    assert_eq!(m.defconfig_list, m.lookup("D"));
    assert!(sym(m, "D").flags.auto, "never written to .config");
    assert!(sym(m, "Y").flags.allnoconfig_y);
    assert_eq!(dep(m, &sym(m, "Z").rev_dep), "Y && Q && R");
}

#[test]
fn no_panic_on_garbage() {
    let inputs = [
        "",
        "\n\n",
        "config",
        "choice\n",
        "endchoice",
        "if\n",
        "menu",
        "config A\n help",
        "config A\n help\n",
        "config A\n\tdepends on (A",
        "config A\n\trange",
        "A :=",
        "A +=\n",
        "$(",
        "\"",
        "config A\n option",
        "config A\n option env",
        "choice\nconfig A\nendif\n",
        "mainmenu",
        "source",
        "config A\n bool \"x\" if",
        "config A\nmodules\nconfig B\nmodules\n",
        "config A\n\tdefault y if (A || ) \n",
    ];
    for i in inputs {
        let _ = parse_str("K", i, &env());
    }
}

/// The whole Linux 6.1 tree for every architecture the conformance run covers: parse time
/// cold (empty probe cache) and warm (best of 5), probes run, and for x86_64 the symbols the
/// kernel's own conf wrote (`/tmp/kconf-oracle/.config`, if present) must all be defined.
/// Opt-in: needs the extracted tree and runs the tree's probes with the host gcc.
#[test]
#[ignore]
fn linux_6_1_tree() {
    use crate::lang::probe::ProbeSource;
    let src = Path::new("/root/.cache/kforge-e2e/linux-source-6.1");
    let cache = tempfile::tempdir().unwrap();
    for (arch, srcarch) in [
        ("x86_64", "x86"),
        ("i386", "x86"),
        ("arm64", "arm64"),
        ("arm", "arm"),
        ("riscv", "riscv"),
        ("powerpc", "powerpc"),
        ("s390", "s390"),
        ("mips", "mips"),
        ("loongarch", "loongarch"),
        ("sparc", "sparc"),
    ] {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("ARCH", arch),
            ("SRCARCH", srcarch),
            ("KERNELVERSION", "6.1.192"),
            ("CC", "gcc"),
            ("LD", "ld"),
            ("srctree", src.to_str().unwrap()),
            ("CC_VERSION_TEXT", "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"),
            ("PATH", "/usr/bin:/bin"),
        ] {
            env.insert(k.to_owned(), v.to_owned());
        }
        let input = ParseInput {
            srctree: src,
            top: "Kconfig",
            env: &env,
            shell: ShellPolicy::Run(ProbeOptions::with_cache(cache.path())),
            interrupt: None,
        };
        let ran = |p: &Parsed| {
            p.probes
                .iter()
                .filter(|r| matches!(r.source, ProbeSource::Ran | ProbeSource::Prefetched))
                .count()
        };
        let t = std::time::Instant::now();
        let cold = parse(&input).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let cold_time = t.elapsed();
        // Process CPU time (user + system, in clock ticks of 10 ms) of the warm runs: the
        // wall time suffers when the machine is busy.
        let cpu_ticks = || -> u64 {
            let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let rest = s.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        let mut best = std::time::Duration::MAX;
        let mut warm_ran = 0;
        let c0 = cpu_ticks();
        for _ in 0..10 {
            let t = std::time::Instant::now();
            let p = parse(&input).unwrap();
            best = best.min(t.elapsed());
            warm_ran += ran(&p);
        }
        let cpu_ms = (cpu_ticks() - c0) * 10 / 10;
        let m = &cold.model;
        let entries = m.menus.iter().filter(|x| x.sym().is_some()).count();
        eprintln!(
            "{arch}: {} files, {} config/choice entries, {} symbols, {} probes ({} run cold, {} run warm), cold {:?}, warm best {:?} (CPU {} ms per run incl. drop), {} warnings",
            m.files.len(),
            entries,
            m.named_symbols().count(),
            cold.probes.len(),
            ran(&cold),
            warm_ran,
            cold_time,
            best,
            cpu_ms,
            cold.warnings.len()
        );
        assert_eq!(warm_ran, 0, "a warm run forks nothing");
        for w in cold.warnings.iter().take(5) {
            eprintln!("  {w}");
        }
        if arch == "x86_64" {
            let cfg = std::fs::read_to_string("/tmp/kconf-oracle/.config").unwrap_or_default();
            for line in cfg.lines() {
                let name = line
                    .strip_prefix("CONFIG_")
                    .and_then(|l| l.split('=').next())
                    .or_else(|| {
                        line.strip_prefix("# CONFIG_")
                            .and_then(|l| l.strip_suffix(" is not set"))
                    });
                if let Some(n) = name {
                    assert!(
                        m.lookup(n).is_some_and(|s| m.symbol(s).flags.defined),
                        "{n}"
                    );
                }
            }
        }
    }
}

#[test]
fn simplified_conditions_decide_the_menu_structure() {
    // The kernel simplifies `!(!S1 && S1 && S1)` to y and `S1 = m` (bool) to n before deciding
    // whether an entry depends on the config before it: S2 and S3 stay choice members.
    let p = parse1(
        "choice\n\tprompt \"c\"\n\
         config S1\n\tbool \"s1\"\n\
         config S2\n\tbool \"s2\" if !(!(S1) && S1 && S1)\n\
         config S3\n\tbool \"s3\"\n\tdepends on S1 = m || S0\n\
         config S4\n\tbool \"s4\"\n\tdepends on S3\n\
         endchoice\n",
    );
    let m = &p.model;
    let c = m.symbol(sym(m, "S1").choice.unwrap());
    let names: Vec<_> = c
        .choice_members
        .iter()
        .map(|&s| m.symbol(s).name.as_str())
        .collect();
    assert_eq!(
        names,
        ["S1", "S2", "S3"],
        "S4 depends on S3 and sits under it"
    );
    // Stored in the simplified form, as the kernel evaluates it.
    assert_eq!(dep(m, &props(m, "S2")[0].visible), "<choice>");
    assert_eq!(dep(m, &sym(m, "S3").dir_dep), "<choice> && (n || S0)");
}

proptest::proptest! {
    /// Any soup of Kconfig words, operators, strings, macros and indentation parses or fails
    /// with an error, never panics.
    #[test]
    fn never_panics_on_token_soup(parts in proptest::collection::vec(0usize..40, 0..120)) {
        const WORDS: [&str; 40] = [
            "config A", "menuconfig B", "choice", "endchoice", "menu \"m\"", "endmenu", "if A",
            "endif", "comment \"c\"", "bool", "tristate \"t\"", "int", "hex", "string",
            "default y", "default A if B", "def_bool m", "select C", "imply D", "depends on",
            "range 1 2", "help", "  text", "\t", "\n", "(", ")", "&&", "||", "!", "=", "!=",
            "$(info,x)", "X := $(Y)", "$(F,a", "optional", "modules", "option env=\"E\"",
            "visible if", "\"str",
        ];
        let text: String = parts.iter().map(|&i| format!("{} ", WORDS[i])).collect();
        let _ = parse_str("K", &text, &env());
        let lines: String = parts.iter().map(|&i| format!("{}\n", WORDS[i])).collect();
        let _ = parse_str("K", &lines, &env());
    }
}
