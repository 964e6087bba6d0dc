//! `kforge config resolve|new|savedefconfig`, run as a user runs them on a small kernel-like
//! tree (a top Makefile with the version, Kconfig files using `$(ARCH)`, `$(KERNELVERSION)` and a
//! compiler probe, arch defconfigs), each output compared byte for byte with the kernel's own
//! `conf` (built from Linux 6.1) run with the environment make would export.

#[path = "../kconfig/tests/common/oracle.rs"]
mod oracle;

use std::path::Path;
use std::process::{Command, Output};

use kforge::kconfig::lang::{LoadOptions, Toolchain};
use oracle::{Op, Tree};

const KCONFIG: &str = r#"
mainmenu "Linux/$(ARCH) $(KERNELVERSION) Kernel Configuration"

success = $(shell,{ $(1); } >/dev/null 2>&1 && echo y || echo n)

config CC_IS_GCC
	def_bool $(success,$(CC) --version | head -n1 | grep -q gcc)

config CC_HAS_WALL
	def_bool $(success,$(CC) -Werror -Wall -E -x c /dev/null -o /dev/null)

config MODULES
	bool "Enable loadable module support"
	modules
	default y

source "arch/$(SRCARCH)/Kconfig"

menu "Drivers"

config NET
	bool "Networking"
	default y

config E1000
	tristate "Intel PRO/1000"
	depends on NET

config LOG_BUF_SHIFT
	int "Kernel log buffer size"
	range 12 25
	default 17

config LOCALVERSION
	string "Local version"

endmenu
"#;

const ARCH_KCONFIG: &str = r#"
config X86_64
	def_bool y

config NR_CPUS
	int "Maximum number of CPUs"
	range 2 512
	default 64
"#;

fn kernel_tree() -> Tree {
    Tree::new(&[
        (
            "Makefile",
            "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 99\nEXTRAVERSION =\nNAME = Test\n",
        ),
        ("Kconfig", KCONFIG),
        ("arch/x86/Kconfig", ARCH_KCONFIG),
        (
            "arch/x86/configs/x86_64_defconfig",
            "CONFIG_E1000=m\nCONFIG_NR_CPUS=8\n",
        ),
        (
            "arch/x86/configs/tiny_defconfig",
            "# CONFIG_MODULES is not set\n# CONFIG_NET is not set\n",
        ),
    ])
}

/// What make would export for this tree on x86_64, as kforge computes it (and passes to conf).
fn make_env(tree: &Tree) -> Vec<(String, String)> {
    let mut opts = LoadOptions::new(tree.path());
    opts.arch = Some("x86_64".into());
    opts.toolchain = Some(Toolchain::default());
    opts.environment()
        .expect("the environment of the test tree")
        .into_iter()
        .collect()
}

fn conf(tree: &Tree, op: &Op, input: Option<&str>) -> oracle::ConfRun {
    let env = make_env(tree);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = oracle::run(tree.path(), "Kconfig", op, input, &env);
    assert!(run.success, "conf failed:\n{}", run.stderr);
    run
}

fn kforge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(args)
        .current_dir(dir)
        .env_remove("CONFIG_")
        .env_remove("RUST_LOG")
        .env_remove("CROSS_COMPILE")
        .env_remove("LLVM")
        .env_remove("ARCH")
        .output()
        .expect("run kforge")
}

fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "kforge failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout is not JSON:\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

#[track_caller]
fn assert_same(what: &str, expected: &str, actual: &str) {
    assert!(
        expected == actual,
        "{what}: kforge differs from conf\n--- conf:\n{expected}\n--- kforge:\n{actual}"
    );
}

struct Setup {
    tree: Tree,
    work: tempfile::TempDir,
    src: String,
    cache: String,
}

impl Setup {
    /// `kforge [--json] config SUB --kernel-src TREE --arch x86_64 ARGS…` in the work directory.
    fn config(&self, json: bool, sub: &str, args: &[&str]) -> Output {
        let mut all: Vec<&str> = Vec::new();
        if json {
            all.push("--json");
        }
        all.extend(["config", sub, "--kernel-src", &self.src, "--arch", "x86_64"]);
        all.extend(args);
        kforge(self.work.path(), &all)
    }
}

fn setup() -> Setup {
    let tree = kernel_tree();
    let work = tempfile::tempdir().expect("tempdir");
    let src = tree.path().display().to_string();
    let cache = work.path().join("probes").display().to_string();
    Setup {
        tree,
        work,
        src,
        cache,
    }
}

#[test]
fn resolve_is_olddefconfig_with_conf_s_warnings() {
    let s = setup();
    let input = "CONFIG_E1000=y\nCONFIG_LOG_BUF_SHIFT=40\nCONFIG_NO_SUCH_SYMBOL=y\n\
                 CONFIG_NR_CPUS=lots\nCONFIG_LOCALVERSION=\"-test\"\n";
    std::fs::write(s.work.path().join("in.config"), input).expect("write input");
    let expected = conf(&s.tree, &Op::OldDefconfig, Some(input));

    let o = s.config(
        false,
        "resolve",
        &[
            "--probe-cache-dir",
            &s.cache,
            "in.config",
            "-o",
            "out.config",
        ],
    );
    ok(&o);
    assert_same(
        "resolve",
        expected.config(),
        &read(&s.work.path().join("out.config")),
    );
    // conf names the .config it read (.config); kforge names the file it was given.
    let stderr = String::from_utf8_lossy(&o.stderr);
    for line in expected
        .stderr
        .lines()
        .filter(|l| l.starts_with(".config:"))
    {
        let ours = line.replacen(".config:", "in.config:", 1);
        assert!(
            stderr.contains(&ours),
            "kforge did not warn {ours:?} as conf does; kforge said:\n{stderr}"
        );
    }

    // --json: the same warnings as typed diagnostics with file and line, and the probes.
    let o = s.config(
        true,
        "resolve",
        &[
            "--probe-cache-dir",
            &s.cache,
            "in.config",
            "-o",
            "out2.config",
        ],
    );
    let j = json(ok(&o));
    let diagnostics = j["diagnostics"].as_array().expect("diagnostics");
    let conf_warnings: Vec<&str> = expected
        .stderr
        .lines()
        .filter(|l| l.starts_with(".config:"))
        .collect();
    // Every warning conf printed is a typed diagnostic with the same line (kforge may say more,
    // e.g. symbols this tree does not know, which conf only prints on request).
    assert!(
        !conf_warnings.is_empty(),
        "the input has values conf warns about"
    );
    for w in &conf_warnings {
        let line: u64 = w
            .split(':')
            .nth(1)
            .and_then(|l| l.parse().ok())
            .expect("line");
        assert!(
            diagnostics.iter().any(|d| d["line"] == line
                && d["file"].as_str().is_some_and(|f| f.ends_with("in.config"))),
            "conf warned {w:?}; kforge's diagnostics: {diagnostics:#?}"
        );
    }
    let probes = j["probes"].as_array().expect("probes");
    assert_eq!(probes.len(), 2, "the two $(shell,…) calls: {probes:#?}");
    assert_eq!(
        j["probes_from_cache"], 2,
        "the second run takes both probes from the cache"
    );
    assert_same(
        "resolve --json",
        expected.config(),
        &read(&s.work.path().join("out2.config")),
    );
}

#[test]
fn new_makes_every_target_like_conf() {
    let s = setup();
    let cases: Vec<(&str, Op)> = vec![
        ("allnoconfig", Op::AllNo),
        ("allyesconfig", Op::AllYes),
        ("allmodconfig", Op::AllMod),
        ("alldefconfig", Op::AllDef),
        (
            "defconfig",
            Op::Defconfig(read(
                &s.tree.path().join("arch/x86/configs/x86_64_defconfig"),
            )),
        ),
        (
            "tiny_defconfig",
            Op::Defconfig(read(&s.tree.path().join("arch/x86/configs/tiny_defconfig"))),
        ),
    ];
    for (target, op) in cases {
        let expected = conf(&s.tree, &op, None);
        let out = format!("{target}.config");
        ok(&s.config(
            false,
            "new",
            &["--probe-cache-dir", &s.cache, target, "-o", &out],
        ));
        assert_same(target, expected.config(), &read(&s.work.path().join(&out)));
    }

    // A defconfig file given by path.
    let file = "CONFIG_LOG_BUF_SHIFT=20\n# CONFIG_MODULES is not set\nCONFIG_E1000=y\n";
    std::fs::write(s.work.path().join("my.defconfig"), file).expect("write");
    let expected = conf(&s.tree, &Op::Defconfig(file.into()), None);
    ok(&s.config(
        false,
        "new",
        &["--no-probe-cache", "./my.defconfig", "-o", "file.config"],
    ));
    assert_same(
        "defconfig file",
        expected.config(),
        &read(&s.work.path().join("file.config")),
    );
}

#[test]
fn new_keeps_an_allconfig_like_conf() {
    let s = setup();
    // A fragment in the work directory, given by a relative path (conf: KCONFIG_ALLCONFIG=FILE).
    let fragment = "CONFIG_E1000=y\nCONFIG_NR_CPUS=16\n# CONFIG_MODULES is not set\n";
    std::fs::write(s.work.path().join("keep.config"), fragment).expect("write");
    let path = s.work.path().join("keep.config").display().to_string();
    let env = make_env(&s.tree);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("KCONFIG_ALLCONFIG", &path));
    for (target, op) in [("allnoconfig", Op::AllNo), ("allyesconfig", Op::AllYes)] {
        let expected = oracle::run(s.tree.path(), "Kconfig", &op, None, &env);
        let plain = conf(&s.tree, &op, None);
        assert_ne!(
            expected.config(),
            plain.config(),
            "the fragment changes nothing"
        );
        let out = format!("{target}.config");
        ok(&s.config(
            false,
            "new",
            &[
                "--no-probe-cache",
                target,
                "--allconfig",
                "keep.config",
                "-o",
                &out,
            ],
        ));
        assert_same(target, expected.config(), &read(&s.work.path().join(&out)));
    }

    // `1`: allmod.config, else all.config, from the current directory.
    std::fs::write(s.work.path().join("all.config"), fragment).expect("write");
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|&(k, v)| {
            if k == "KCONFIG_ALLCONFIG" {
                (k, "1")
            } else {
                (k, v)
            }
        })
        .collect();
    let expected = oracle::run_with_files(
        s.tree.path(),
        "Kconfig",
        &Op::AllMod,
        None,
        &env,
        &[("all.config", fragment)],
    );
    ok(&s.config(
        false,
        "new",
        &[
            "--no-probe-cache",
            "allmodconfig",
            "--allconfig",
            "1",
            "-o",
            "mod.config",
        ],
    ));
    assert_same(
        "allmodconfig --allconfig 1",
        expected.config(),
        &read(&s.work.path().join("mod.config")),
    );

    // A defconfig takes no allconfig; a missing file is named.
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let o = s.config(
        false,
        "new",
        &["defconfig", "--allconfig", "keep.config", "-o", "x.config"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("allnoconfig"), "{}", stderr(&o));
    let o = s.config(
        false,
        "new",
        &[
            "allnoconfig",
            "--allconfig",
            "nope.config",
            "-o",
            "x.config",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope.config"), "{}", stderr(&o));
    assert!(!s.work.path().join("x.config").exists());
}

#[test]
fn savedefconfig_is_conf_s_minimal_config() {
    let s = setup();
    let input =
        "CONFIG_E1000=m\nCONFIG_NR_CPUS=64\nCONFIG_LOG_BUF_SHIFT=18\n# CONFIG_NET is not set\n";
    std::fs::write(s.work.path().join("full.config"), input).expect("write");
    let expected = conf(&s.tree, &Op::SaveDefconfig, Some(input));
    ok(&s.config(
        false,
        "savedefconfig",
        &[
            "--probe-cache-dir",
            &s.cache,
            "full.config",
            "-o",
            "defconfig",
        ],
    ));
    assert_same(
        "savedefconfig",
        expected.defconfig(),
        &read(&s.work.path().join("defconfig")),
    );
}

#[test]
fn errors_say_what_and_where_and_write_nothing() {
    let s = setup();
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // A missing input names the file.
    let o = s.config(false, "resolve", &["missing.config", "-o", "out.config"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.config"), "{}", stderr(&o));
    assert!(!s.work.path().join("out.config").exists());

    // An unknown target lists the known ones.
    let o = s.config(false, "new", &["allsomeconfig", "-o", "out.config"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("allsomeconfig") && stderr(&o).contains("allnoconfig"),
        "{}",
        stderr(&o)
    );
    assert!(!s.work.path().join("out.config").exists());

    // A Kconfig syntax error names file:line, as conf does.
    s.tree.write(
        "arch/x86/Kconfig",
        "config X86_64\n\tdef_bool y\n\tfrobnicate\n",
    );
    let o = s.config(false, "new", &["allnoconfig", "-o", "out.config"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("arch/x86/Kconfig:3"), "{}", stderr(&o));
    assert!(!s.work.path().join("out.config").exists());

    // A recursive dependency: conf's explanation, line for line, and nothing written.
    s.tree.write(
        "arch/x86/Kconfig",
        "config X86_64\n\tdef_bool y\n\tdepends on LOOP\n\nconfig LOOP\n\tbool \"loop\"\n\tdefault X86_64\n",
    );
    let env = make_env(&s.tree);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = oracle::run(s.tree.path(), "Kconfig", &Op::AllNo, None, &env);
    assert!(!run.success, "conf accepted the loop");
    let o = s.config(false, "new", &["allnoconfig", "-o", "out.config"]);
    assert!(!o.status.success());
    for line in run.stderr.lines().filter(|l| !l.is_empty()) {
        assert!(
            stderr(&o).contains(line),
            "kforge's error lacks conf's line {line:?}:\n{}",
            stderr(&o)
        );
    }
    assert!(!s.work.path().join("out.config").exists());
}
