//! `kforge toolchain list|select` run as a user would, against the real compilers installed by
//! `scripts/install-deps test` (gcc-11, gcc-12, clang) on a temporary search path.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn real_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH is set");
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run scripts/install-deps test (apt-get install gcc-11 gcc-12 clang)")
        })
}

fn full_version(tool: &str) -> String {
    let arg = if tool == "clang" {
        "-dumpversion"
    } else {
        "-dumpfullversion"
    };
    let out = Command::new(real_tool(tool)).arg(arg).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// gcc-11, gcc-12 (also as gcc), clang, and a broken gcc-99.
fn search_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["gcc-11", "gcc-12", "clang"] {
        symlink(real_tool(name), dir.path().join(name)).unwrap();
    }
    symlink(dir.path().join("gcc-12"), dir.path().join("gcc")).unwrap();
    let broken = dir.path().join("gcc-99");
    std::fs::write(&broken, "#!/bin/sh\necho garbage\nexit 1\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn kforge(args: &[&str], path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(args)
        .arg("--path")
        .arg(path)
        .output()
        .expect("run kforge")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn list_shows_every_compiler_with_its_names_and_the_broken_one() {
    let dir = search_dir();
    let out = kforge(&["toolchain", "list"], dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let gcc12 = stdout
        .lines()
        .find(|l| l.starts_with("gcc-12 "))
        .expect(&stdout);
    assert!(
        gcc12.contains(&full_version("gcc-12")) && gcc12.contains("gcc-12, gcc"),
        "{gcc12}"
    );
    assert!(stdout.contains(&full_version("gcc-11")), "{stdout}");
    assert!(stdout.contains(&full_version("clang")), "{stdout}");
    assert!(
        stdout.contains("unusable:") && stdout.contains("gcc-99"),
        "{stdout}"
    );
}

#[test]
fn list_json_is_the_discovery_result() {
    let dir = search_dir();
    let out = kforge(&["--json", "toolchain", "list"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let compilers = json["compilers"].as_array().unwrap();
    assert_eq!(compilers.len(), 3, "{json:#}");
    let gcc11 = compilers.iter().find(|c| c["command"] == "gcc-11").unwrap();
    assert_eq!(gcc11["family"], "gcc");
    assert_eq!(gcc11["version"], full_version("gcc-11"));
    assert_eq!(json["broken"].as_array().unwrap().len(), 1);
}

#[test]
fn select_prints_the_compiler_and_its_make_variables() {
    let dir = search_dir();
    let out = kforge(
        &[
            "toolchain",
            "select",
            "gcc-11",
            "--configure-flag=--qemu-cc",
        ],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("gcc-11 (GCC ") && lines[0].contains(&full_version("gcc-11")),
        "{stdout}"
    );
    assert_eq!(lines[1..], ["CC=gcc-11", "--qemu-cc=gcc-11"]);

    let out = kforge(&["--json", "toolchain", "select", "gcc >=11"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["compiler"]["command"], "gcc-12", "newest match");
    assert_eq!(json["make_vars"][0], serde_json::json!(["CC", "gcc-12"]));
}

#[test]
fn select_without_a_match_lists_what_was_found_and_exits_1() {
    let dir = search_dir();
    let out = kforge(&["toolchain", "select", "gcc >=3.2, <4"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for tool in ["gcc-11", "gcc-12", "clang"] {
        assert!(
            stderr.contains(tool) && stderr.contains(&full_version(tool)),
            "{stderr}"
        );
    }
    assert!(stderr.contains("apt-get install gcc-3.4"), "{stderr}");
    assert!(stderr.contains("gcc-99: unusable"), "{stderr}");

    let out = kforge(&["--json", "toolchain", "select", "clang >=99"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["no_match"]["found"].as_array().unwrap().len(), 3);
    assert_eq!(json["no_match"]["requirement"], "clang >=99");
}

#[test]
fn a_malformed_requirement_is_explained() {
    let dir = search_dir();
    let out = kforge(&["toolchain", "select", "icc >=10"], dir.path());
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown compiler family \"icc\""),
        "{stderr}"
    );
}

#[test]
fn env_resolves_llvm_and_cc_like_the_kernel_makefile() {
    let dir = search_dir();
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kforge"));
        cmd.args(["--json", "toolchain", "env"])
            .env("PATH", dir.path())
            .env_remove("CC")
            .env_remove("HOSTCC")
            .env_remove("CROSS_COMPILE")
            .env_remove("LLVM");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), json)
    };
    let (code, json) = run(&[("LLVM", "1"), ("HOSTCC", "gcc-11")]);
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["cc"], "clang");
    assert_eq!(json["cc_identified"]["Ok"]["family"], "clang");
    assert_eq!(
        json["hostcc_identified"]["Ok"]["version"],
        full_version("gcc-11")
    );
    assert_eq!(
        json["make_vars"],
        serde_json::json!([["LLVM", "1"], ["HOSTCC", "gcc-11"]])
    );
    // CROSS_COMPILE prefixes gcc; no such cross compiler on this PATH: reported, status 1.
    let (code, json) = run(&[("CROSS_COMPILE", "riscv64-linux-gnu-")]);
    assert_eq!(code, Some(1));
    assert_eq!(json["cc"], "riscv64-linux-gnu-gcc");
    assert!(
        json["cc_identified"]["Err"]
            .as_str()
            .unwrap()
            .contains("not found on PATH")
    );
    assert_eq!(json["hostcc_identified"]["Ok"]["command"], "gcc");
}

#[test]
fn wrappers_are_listed_with_versions_or_the_package_to_install() {
    // The real wrappers (scripts/install-deps test) linked into a private search path, minus
    // icecc.
    let dir = tempfile::tempdir().unwrap();
    for name in ["ccache", "sccache", "distcc"] {
        symlink(real_tool(name), dir.path().join(name)).unwrap();
    }
    let out = kforge(&["toolchain", "wrappers"], dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let line = |kind: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{kind} ")))
            .unwrap_or_else(|| panic!("no {kind} line in {stdout}"))
            .to_string()
    };
    let ccache_version = text(
        &Command::new(real_tool("ccache"))
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    );
    let ccache_version = ccache_version
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap();
    assert!(line("ccache").contains(ccache_version), "{stdout}");
    assert!(line("distcc").contains("distcc 3."), "{stdout}");
    assert!(line("sccache").contains("sccache 0."), "{stdout}");
    assert!(
        line("icecc").contains("missing") && line("icecc").contains("apt-get install icecc"),
        "{stdout}"
    );

    let out = kforge(&["--json", "toolchain", "wrappers"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["kind"], "ccache");
    assert_eq!(json[0]["found"]["version"], ccache_version);
    assert!(json[3]["found"].is_null());
}
