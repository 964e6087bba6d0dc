//! Discovery, identification, selection and probes against the real compilers installed by
//! `scripts/install-deps test` (gcc-11, gcc-12, clang, gcc-multilib).

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kforge_toolchain::probe::{AsmError, FlagError};
use kforge_toolchain::select::Error as SelectError;
use kforge_toolchain::{
    Compiler, Discovered, Discovery, Family, Preference, Requirement, Selection, Toolchain,
};

/// The real program `name` on the test's PATH, or a panic that says how to install it.
fn real_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH is set");
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: run scripts/install-deps test (apt-get install gcc-11 gcc-12 clang gcc-multilib)"
            )
        })
}

/// What the tool itself says, e.g. `gcc-11 -dumpfullversion`.
fn tool_says(program: &Path, arg: &str) -> String {
    let out = Command::new(program).arg(arg).output().expect("run tool");
    assert!(out.status.success(), "{} {arg} failed", program.display());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn link(dir: &Path, name: &str, target: &Path) {
    symlink(target, dir.join(name)).unwrap();
}

fn script(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn search_path(dirs: &[&Path]) -> std::ffi::OsString {
    std::env::join_paths(dirs).unwrap()
}

/// A temp PATH with gcc-11, gcc-12 (also as `gcc` and `cc`), clang and, in a second directory,
/// the triple-named gcc-12.
struct Fixture {
    _dirs: Vec<tempfile::TempDir>,
    path: std::ffi::OsString,
    gcc11: PathBuf,
    gcc12: PathBuf,
    clang: PathBuf,
}

fn fixture() -> Fixture {
    let gcc11 = real_tool("gcc-11");
    let gcc12 = real_tool("gcc-12");
    let clang = real_tool("clang");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    link(a.path(), "gcc-11", &gcc11);
    link(a.path(), "gcc-12", &gcc12);
    // A chain of links, like Debian's gcc -> gcc-12 -> x86_64-linux-gnu-gcc-12.
    link(a.path(), "gcc", &a.path().join("gcc-12"));
    link(a.path(), "cc", &a.path().join("gcc"));
    link(a.path(), "clang", &clang);
    // Not compilers, although their names look close.
    link(a.path(), "gcc-ar-12", &real_tool("gcc-ar-12"));
    script(a.path(), "c99-gcc", "exit 1");
    std::fs::write(a.path().join("README"), "not a program").unwrap();
    link(b.path(), "x86_64-linux-gnu-gcc-12", &gcc12);
    let path = search_path(&[a.path(), b.path()]);
    Fixture {
        _dirs: vec![a, b],
        path,
        gcc11,
        gcc12,
        clang,
    }
}

fn discover(path: &std::ffi::OsStr) -> Discovered {
    Discovery::new().path(path).run().expect("discovery runs")
}

#[test]
fn identifies_gcc_11_gcc_12_and_clang_as_the_tools_themselves_say() {
    let fx = fixture();
    let found = discover(&fx.path);
    assert!(found.broken.is_empty(), "{:#?}", found.broken);
    assert_eq!(found.compilers.len(), 3, "{:#?}", found.compilers);

    let gcc11 = found.by_name("gcc-11").expect("gcc-11 found");
    assert_eq!(gcc11.family, Family::Gcc);
    assert_eq!(
        gcc11.version.to_string(),
        tool_says(&fx.gcc11, "-dumpfullversion")
    );
    assert_eq!(gcc11.target, tool_says(&fx.gcc11, "-dumpmachine"));

    let gcc12 = found.by_name("gcc-12").expect("gcc-12 found");
    assert_eq!(gcc12.family, Family::Gcc);
    assert_eq!(
        gcc12.version.to_string(),
        tool_says(&fx.gcc12, "-dumpfullversion")
    );
    assert_eq!(gcc12.target, tool_says(&fx.gcc12, "-dumpmachine"));

    let clang = found.by_name("clang").expect("clang found");
    assert_eq!(clang.family, Family::Clang);
    // clang's -dumpversion prints the full version (GCC's prints only the major since GCC 7).
    assert_eq!(
        clang.version.to_string(),
        tool_says(&fx.clang, "-dumpversion")
    );
    assert_eq!(clang.target, tool_says(&fx.clang, "-dumpmachine"));
    // LLVM=1 also needs ld.lld beside clang (package lld); without it, CC=clang.
    let lld = clang.path.parent().unwrap().join("ld.lld").is_file();
    let expected = if lld { ("LLVM", "1") } else { ("CC", "clang") };
    assert_eq!(
        clang.make_vars(),
        [(expected.0.to_string(), expected.1.to_string())]
    );

    // Sorted by family, newest first.
    let order: Vec<&str> = found.compilers.iter().map(|c| c.command.as_str()).collect();
    assert_eq!(order, ["gcc-12", "gcc-11", "clang"]);
}

#[test]
fn symlinks_to_one_binary_are_one_compiler_with_all_names() {
    let fx = fixture();
    let found = discover(&fx.path);
    let gcc12 = found.by_name("gcc").expect("gcc found");
    assert_eq!(
        gcc12.names,
        ["gcc-12", "gcc", "x86_64-linux-gnu-gcc-12", "cc"],
        "best name first"
    );
    assert_eq!(gcc12.command, "gcc-12");
    assert_eq!(gcc12.paths.len(), 4);
    assert_eq!(
        gcc12.canonical_path,
        std::fs::canonicalize(&fx.gcc12).unwrap()
    );
    assert!(std::ptr::eq(gcc12, found.by_name("cc").unwrap()));
    assert_eq!(gcc12.cross_prefix.as_deref(), Some("x86_64-linux-gnu-"));
    assert_eq!(
        gcc12.make_vars(),
        [("CC".to_string(), "gcc-12".to_string())]
    );
    assert_eq!(gcc12.configure_arg("--qemu-cc"), "--qemu-cc=gcc-12");
}

#[test]
fn a_triple_named_gcc_gives_its_cross_prefix() {
    let dir = tempfile::tempdir().unwrap();
    link(dir.path(), "x86_64-linux-gnu-gcc-12", &real_tool("gcc-12"));
    let found = discover(dir.path().as_os_str());
    assert_eq!(found.compilers.len(), 1);
    let c = &found.compilers[0];
    assert_eq!(c.cross_prefix.as_deref(), Some("x86_64-linux-gnu-"));
    assert_eq!(c.command, "x86_64-linux-gnu-gcc-12");
    assert_eq!(c.native, cfg!(target_arch = "x86_64"));
}

#[test]
fn broken_programs_are_reported_and_skipped() {
    let fx = fixture();
    let bad = tempfile::tempdir().unwrap();
    script(bad.path(), "gcc-99", "echo 'this is not a compiler'");
    script(
        bad.path(),
        "gcc-98",
        "echo 'gcc-98: fatal error: no such thing' >&2; exit 1",
    );
    script(
        bad.path(),
        "gcc-97",
        "case \"$*\" in *-dM*) printf '#define __GNUC__ 97\\n#define __GNUC_MINOR__ 0\\n#define __GNUC_PATCHLEVEL__ 0\\n';; *) echo 'no triple here';; esac",
    );
    symlink("/nonexistent/clang-96", bad.path().join("clang-96")).unwrap();
    let dirs = std::env::split_paths(&fx.path).collect::<Vec<_>>();
    let path = search_path(&[bad.path(), &dirs[0], &dirs[1]]);
    let found = discover(&path);

    assert_eq!(
        found.compilers.len(),
        3,
        "the real compilers are still found"
    );
    let broken = |name: &str| {
        found
            .broken
            .iter()
            .find(|b| b.names.iter().any(|n| n == name))
            .unwrap_or_else(|| panic!("{name} not reported: {:#?}", found.broken))
    };
    let e = broken("gcc-99").error.to_string();
    assert!(
        e.contains("not a GCC or Clang C compiler") && e.contains("this is not a compiler"),
        "{e}"
    );
    let e = broken("gcc-98").error.to_string();
    assert!(
        e.contains("exit status: 1") && e.contains("no such thing") && e.contains("-dM -E"),
        "{e}"
    );
    let e = broken("gcc-97").error.to_string();
    assert!(
        e.contains("not a target triple") && e.contains("-dumpmachine"),
        "{e}"
    );
    let e = broken("clang-96").error.to_string();
    assert!(
        e.contains("dangling symlink to /nonexistent/clang-96"),
        "{e}"
    );
    assert_eq!(found.broken.len(), 4);

    // The no-match error lists the broken ones too.
    let err = Selection::new("gcc-3.4".parse().unwrap())
        .package_advice(false)
        .select(&found)
        .unwrap_err();
    assert!(err.to_string().contains("gcc-99: unusable"), "{err}");
}

#[test]
fn a_hanging_compiler_is_killed_at_the_deadline_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    // The child `sleep` holds the output pipe: the whole process group must be killed.
    script(dir.path(), "gcc-95", "sleep 60");
    let found = Discovery::new()
        .path(dir.path())
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap();
    assert!(found.compilers.is_empty());
    let e = found.broken[0].error.to_string();
    assert!(e.contains("deadline"), "{e}");
}

#[test]
fn raising_the_interrupt_flag_stops_discovery_and_kills_the_compilers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "gcc-93", "sleep 60");
    script(dir.path(), "clang-93", "sleep 60");
    let interrupt = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            interrupt.store(true, Ordering::Relaxed);
        });
        Discovery::new()
            .path(dir.path())
            .timeout(Duration::from_secs(120))
            .run_interruptible(&interrupt)
    });
    assert!(
        matches!(result, Err(kforge_toolchain::discover::Error::Interrupted)),
        "{result:?}"
    );
}

#[test]
fn a_name_shadowed_by_an_earlier_directory_is_not_used_as_the_command() {
    let fx = fixture();
    let (early, late) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    link(early.path(), "gcc", &fx.gcc11);
    link(late.path(), "gcc", &fx.clang);
    link(late.path(), "gcc-12", &fx.gcc12);
    let found = discover(&search_path(&[early.path(), late.path()]));
    assert_eq!(found.compilers.len(), 3, "{:#?}", found.compilers);
    // `gcc` runs gcc-11 here, like a shell would.
    assert_eq!(
        found.by_name("gcc").unwrap().version.to_string(),
        tool_says(&fx.gcc11, "-dumpfullversion")
    );
    // clang is reachable only through a shadowed name: its command is its full path.
    let clang = found
        .compilers
        .iter()
        .find(|c| c.family == Family::Clang)
        .unwrap();
    assert!(clang.names.is_empty());
    assert_eq!(clang.command, late.path().join("gcc").display().to_string());
    assert_eq!(
        clang.make_vars(),
        [("CC".to_string(), clang.command.clone())]
    );
}

#[test]
fn a_gcc_3_4_without_dumpfullversion_is_identified_and_selected_for_qemu() {
    // Debian etch's gcc-3.4 as the KVM HOWTO installed it: it knows -dM -E and -dumpmachine,
    // but not -dumpfullversion (GCC 7+), and its --version text is the distribution's.
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "gcc-3.4",
        "case \"$*\" in\n         *-dM*) printf '#define __GNUC__ 3\\n#define __GNUC_MINOR__ 4\\n#define __GNUC_PATCHLEVEL__ 6\\n#define __i386__ 1\\n';;\n         -dumpmachine) echo i486-linux-gnu;;\n         --version) echo 'gcc-3.4 (GCC) 3.4.6 (Debian 3.4.6-5)';;\n         *) echo \"gcc-3.4: unrecognized option '$1'\" >&2; exit 1;;\n         esac",
    );
    let fx = fixture();
    let dirs: Vec<PathBuf> = std::env::split_paths(&fx.path).collect();
    let found = discover(&search_path(&[dir.path(), &dirs[0]]));
    let qemu_cc = found.select(&"gcc >=3.2, <4".parse().unwrap()).unwrap();
    assert_eq!(qemu_cc.command, "gcc-3.4");
    assert_eq!(qemu_cc.version.to_string(), "3.4.6");
    assert_eq!(qemu_cc.target, "i486-linux-gnu");
    assert_eq!(qemu_cc.configure_arg("--qemu-cc"), "--qemu-cc=gcc-3.4");
    assert_eq!(
        Toolchain::for_compiler(qemu_cc).configure_args("--qemu-cc="),
        ["--qemu-cc=gcc-3.4"]
    );
}

#[test]
fn hard_links_are_one_compiler_too() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "gcc-92",
        "case \"$*\" in *-dM*) printf '#define __GNUC__ 92\\n#define __GNUC_MINOR__ 0\\n#define __GNUC_PATCHLEVEL__ 1\\n';; -dumpmachine) echo x86_64-linux-gnu;; esac",
    );
    std::fs::hard_link(
        dir.path().join("gcc-92"),
        dir.path().join("x86_64-linux-gnu-gcc-92"),
    )
    .unwrap();
    let found = discover(dir.path().as_os_str());
    assert_eq!(found.compilers.len(), 1, "{:#?}", found.compilers);
    assert_eq!(
        found.compilers[0].names,
        ["gcc-92", "x86_64-linux-gnu-gcc-92"]
    );
    assert_eq!(found.compilers[0].version.to_string(), "92.0.1");
}

#[test]
fn a_wrapper_that_dispatches_on_its_name_is_one_compiler_per_name() {
    // Like /usr/lib/ccache/gcc-11 -> /usr/bin/ccache: the wrapper runs the compiler its name says.
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "wrapper",
        "v=${0##*-}; case \"$*\" in *-dM*) printf '#define __GNUC__ %s\\n#define __GNUC_MINOR__ 0\\n#define __GNUC_PATCHLEVEL__ 0\\n' $v;; -dumpmachine) echo x86_64-linux-gnu;; esac",
    );
    link(dir.path(), "gcc-90", &dir.path().join("wrapper"));
    link(dir.path(), "gcc-91", &dir.path().join("wrapper"));
    for _ in 0..2 {
        // The second round comes from the cache, which must keep the two apart as well.
        let found = discover(dir.path().as_os_str());
        let versions: Vec<String> = found
            .compilers
            .iter()
            .map(|c| format!("{} {}", c.command, c.version))
            .collect();
        assert_eq!(versions, ["gcc-91 91.0.0", "gcc-90 90.0.0"]);
    }
}

#[test]
fn select_by_requirement() {
    let fx = fixture();
    let found = discover(&fx.path);
    let pick = |req: &str| found.select(&req.parse().unwrap()).unwrap().command.clone();
    assert_eq!(pick("gcc-11"), "gcc-11");
    assert_eq!(pick("gcc-12"), "gcc-12");
    assert_eq!(pick("gcc >=11"), "gcc-12", "newest first");
    assert_eq!(pick("clang >=14"), "clang");
    let newest_any =
        if found.by_name("clang").unwrap().version > found.by_name("gcc").unwrap().version {
            "clang"
        } else {
            "gcc-12"
        };
    assert_eq!(pick("any >=10"), newest_any);
    let oldest = Selection::new("gcc >=11".parse().unwrap())
        .prefer(Preference::Oldest)
        .select(&found)
        .unwrap();
    assert_eq!(oldest.command, "gcc-11");

    // PATH order: an older compiler in an earlier directory wins.
    let (early, late) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    link(early.path(), "gcc-11", &fx.gcc11);
    link(late.path(), "gcc-12", &fx.gcc12);
    let found = discover(&search_path(&[early.path(), late.path()]));
    let gcc = |p: Preference| {
        Selection::new("gcc".parse().unwrap())
            .prefer(p)
            .select(&found)
            .unwrap()
            .command
            .clone()
    };
    assert_eq!(gcc(Preference::PathOrder), "gcc-11");
    assert_eq!(gcc(Preference::Newest), "gcc-12");
    let found = discover(&search_path(&[late.path(), early.path()]));
    let first = Selection::new("gcc".parse().unwrap())
        .prefer(Preference::PathOrder)
        .select(&found)
        .unwrap();
    assert_eq!(first.command, "gcc-12");
}

#[test]
fn no_match_names_what_was_found_and_the_package_to_install() {
    let fx = fixture();
    let found = discover(&fx.path);
    let req: Requirement = "gcc >=3.2, <4".parse().unwrap();
    let SelectError::NoMatch(miss) = found.select(&req).unwrap_err() else {
        panic!("not a no-match error")
    };
    let text = miss.to_string();
    for c in &found.compilers {
        assert!(text.contains(&c.command), "{text}");
        assert!(text.contains(&c.version.to_string()), "{text}");
    }
    assert!(
        text.contains("no C compiler satisfies \"gcc >=3.2, <4\""),
        "{text}"
    );
    assert!(text.contains("apt-get install gcc-3.4"), "{text}");
    let advice = miss.advice.as_ref().unwrap();
    assert_eq!(advice.candidates, ["gcc-3.2", "gcc-3.3", "gcc-3.4"]);
    // Debian and Ubuntu dropped GCC 3 long ago: apt must say there is no candidate.
    assert_eq!(
        advice.carried.as_deref(),
        Some(&[][..]),
        "{:?}",
        advice.apt_error
    );
    assert!(text.contains("does not carry any of them"), "{text}");

    // A requirement this distribution can satisfy names a carried package.
    let req: Requirement = "gcc >=13, <99".parse().unwrap();
    let SelectError::NoMatch(miss) = found.select(&req).unwrap_err() else {
        panic!("not a no-match error")
    };
    let advice = miss.advice.as_ref().unwrap();
    for p in advice.carried.as_ref().unwrap() {
        assert!(advice.candidates.contains(&p.name));
        let out = Command::new("apt-cache")
            .args(["policy", &p.name])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("Candidate: {}", p.version))
        );
    }
    // JSON form for scripts.
    let json = serde_json::to_value(&*miss).unwrap();
    assert_eq!(json["requirement"], "gcc >=13, <99");
    assert_eq!(json["found"].as_array().unwrap().len(), 3);
}

#[test]
fn cc_option_probe_on_real_compilers() {
    let gcc12 = Compiler::identify(real_tool("gcc-12").to_str().unwrap()).unwrap();
    assert!(
        gcc12.supports_flag("-m32").unwrap(),
        "gcc-12 -m32 (gcc-multilib)"
    );
    assert!(gcc12.supports_flag("-O2").unwrap());
    assert!(!gcc12.supports_flag("-fthis-flag-does-not-exist").unwrap());
    assert!(!gcc12.supports_flag("-mthis-cpu-does-not-exist").unwrap());
    // GCC ignores unknown -Wno-x silently; the probe checks -Wx like cc-disable-warning.
    assert!(
        !gcc12
            .supports_flag("-Wno-this-warning-does-not-exist")
            .unwrap()
    );
    assert!(gcc12.supports_flag("-Wno-unused-variable").unwrap());

    let clang = Compiler::identify(real_tool("clang").to_str().unwrap()).unwrap();
    // Clang only warns about these; -Werror turns the warning into a "no", as in the kernel.
    assert!(
        !clang
            .supports_flag("-Wthis-warning-does-not-exist")
            .unwrap()
    );
    assert!(!clang.supports_flag("-fthis-flag-does-not-exist").unwrap());
    assert!(clang.supports_flag("-m32").unwrap());
}

#[test]
fn a_compiler_that_cannot_compile_is_an_error_not_a_no() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "gcc-94",
        "case \"$*\" in *-dM*) printf '#define __GNUC__ 94\\n#define __GNUC_MINOR__ 1\\n#define __GNUC_PATCHLEVEL__ 2\\n';; -dumpmachine) echo x86_64-linux-gnu;; *) echo 'cc1: internal compiler error' >&2; exit 4;; esac",
    );
    let found = discover(dir.path().as_os_str());
    let c = &found.compilers[0];
    assert_eq!(c.version.to_string(), "94.1.2");
    match c.supports_flag("-m32") {
        Err(FlagError::CompilerBroken { flag, failure }) => {
            assert_eq!(flag, "-m32");
            assert_eq!(failure.code, Some(4));
            assert!(failure.stderr.contains("internal compiler error"));
            assert!(
                failure.command.contains("-c -x c /dev/null"),
                "{}",
                failure.command
            );
        }
        other => panic!("expected CompilerBroken, got {other:?}"),
    }
}

#[test]
fn compile_to_asm_and_predefined_macros() {
    let gcc11 = Compiler::identify(real_tool("gcc-11").to_str().unwrap()).unwrap();
    let asm = gcc11
        .compile_to_asm("int add1(int x) { return x + 1; }\n", &["-O", "-m32"])
        .unwrap();
    assert!(asm.contains("add1:"), "{asm}");
    assert!(
        asm.contains("4(%esp)"),
        "32-bit argument on the stack: {asm}"
    );
    match gcc11.compile_to_asm("int broken( {\n", &["-O"]) {
        Err(AsmError::Compile(failure)) => {
            assert!(failure.stderr.contains("error"), "{failure}");
            assert_eq!(failure.code, Some(1));
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
    let macros = gcc11.predefined_macros().unwrap();
    let major = tool_says(&real_tool("gcc-11"), "-dumpversion");
    assert_eq!(macros.get("__GNUC__"), Some(&major));
    assert!(macros.contains_key("__x86_64__") || !cfg!(target_arch = "x86_64"));
}

#[test]
fn identities_are_cached_per_binary() {
    let fx = fixture();
    let first = discover(&fx.path);
    let second = discover(&fx.path);
    assert_eq!(second.cached, 3, "every binary identified from the cache");
    assert_eq!(first.compilers, second.compilers);
    let uncached = Discovery::new().path(&fx.path).cache(false).run().unwrap();
    assert_eq!(uncached.cached, 0);
    assert_eq!(uncached.compilers, first.compilers);
}

#[test]
fn toolchain_from_the_environment_identifies_its_cc() {
    let gcc11 = real_tool("gcc-11");
    let tc = Toolchain::from_vars(|v| (v == "CC").then(|| gcc11.clone().into_os_string())).unwrap();
    let cc = tc.identify_cc().unwrap();
    assert_eq!(
        cc.version.to_string(),
        tool_says(&gcc11, "-dumpfullversion")
    );
    assert_eq!(
        tc.make_vars(),
        [("CC".to_string(), gcc11.display().to_string())]
    );
}

#[test]
fn links_program_tells_whether_32_bit_programs_link() {
    // gcc-multilib is in scripts/install-deps test: gcc -m32 links here.
    let gcc = Compiler::identify("gcc").expect("gcc (apt-get install gcc)");
    gcc.links_program(&[]).expect("a native program links");
    gcc.links_program(&["-m32"])
        .expect("gcc -m32 links (apt-get install gcc-multilib)");
    // A flag the linker rejects is a Build error carrying the compiler's own message.
    let err = gcc
        .links_program(&["-Wl,--kforge-no-such-linker-option"])
        .expect_err("the linker rejects it");
    match err {
        kforge_toolchain::probe::LinkError::Build(failure) => {
            assert!(
                failure.to_string().contains("kforge-no-such-linker-option"),
                "{failure}"
            )
        }
        other => panic!("{other:?}"),
    }
}
