//! `Configure` with a tiny real `./configure` script (it probes the C compiler for real).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kforge_kbuild::Configure;
use kforge_kbuild::configure::Error;

const SCRIPT: &str = r#"#!/bin/sh
# A tiny autotools-style configure: options, a compiler probe, config.mak in the cwd.
prefix=/usr/local
kerneldir=
cc=${CC:-cc}
for opt in "$@"; do
  case "$opt" in
    --prefix=*) prefix=${opt#*=} ;;
    --kerneldir=*) kerneldir=${opt#*=} ;;
    --qemu-cc=*) cc=${opt#*=} ;;
    *) echo "ERROR: unknown option $opt" >&2; echo "Try '$0 --help' for more information" >&2; exit 1 ;;
  esac
done
printf 'checking whether %s works... ' "$cc"
echo 'int main(void) { return 0; }' > conftest.c
if "$cc" $CFLAGS -o conftest conftest.c 2>conftest.err; then echo yes; else echo no; cat conftest.err >&2; echo "ERROR: $cc cannot build executables" >&2; exit 1; fi
rm -f conftest conftest.c conftest.err
printf 'prefix=%s\nkerneldir=%s\ncc=%s\nsrcdir=%s\n' "$prefix" "$kerneldir" "$cc" "$(dirname "$0")" > config.mak
echo "configure done"
"#;

fn project(dir: &Path) {
    let script = dir.join("configure");
    std::fs::write(&script, SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn configure_runs_with_args_env_and_log() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let log = dir.path().join("configure.log");
    let outcome = Configure::new(dir.path())
        .arg("--prefix=/opt/kvm")
        .args(["--kerneldir=/usr/src/linux", "--qemu-cc=gcc-12"])
        .env("CC", "gcc-11")
        .log_file(&log)
        .run()
        .unwrap();
    let mak = std::fs::read_to_string(dir.path().join("config.mak")).unwrap();
    assert!(mak.contains("prefix=/opt/kvm\n"), "{mak}");
    assert!(mak.contains("kerneldir=/usr/src/linux\n"), "{mak}");
    assert!(mak.contains("cc=gcc-12\n"), "{mak}");
    assert_eq!(outcome.lines, 2);
    assert!(outcome.targets.is_empty());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("checking whether gcc-12 works... yes"),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("$ cd {} && ", dir.path().display())),
        "{text}"
    );

    // The environment reaches the script.
    Configure::new(dir.path())
        .env("CC", "gcc-11")
        .run()
        .unwrap();
    let mak = std::fs::read_to_string(dir.path().join("config.mak")).unwrap();
    assert!(mak.contains("cc=gcc-11\n"), "{mak}");
}

#[test]
fn configure_out_of_tree() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let build = dir.path().join("build");
    Configure::new(dir.path()).build_dir(&build).run().unwrap();
    let mak = std::fs::read_to_string(build.join("config.mak")).unwrap();
    assert!(
        mak.contains(&format!("srcdir={}\n", dir.path().display())),
        "{mak}"
    );
    assert!(!dir.path().join("config.mak").exists());
}

#[test]
fn configure_failure_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let log = dir.path().join("c.log");
    let err = Configure::new(dir.path())
        .arg("--enable-nonsense")
        .log_file(&log)
        .run()
        .unwrap_err();
    let Error::Failed(failure) = &err else {
        panic!("{err}")
    };
    let script = dir.path().join("configure");
    assert_eq!(
        failure.compiler_errors,
        [
            "ERROR: unknown option --enable-nonsense".to_string(),
            format!("Try '{} --help' for more information", script.display()),
        ]
    );
    let text = err.to_string();
    assert!(text.contains("configure failed:"), "{text}");
    assert!(text.contains("exit status 1"), "{text}");
    assert!(
        text.contains(&format!("full log: {}", log.display())),
        "{text}"
    );

    // A compiler that cannot build: the real compiler's error is in the excerpt.
    let err = Configure::new(dir.path())
        .env("CFLAGS", "-include /nonexistent/header.h")
        .run()
        .unwrap_err();
    let excerpt = err.failure().unwrap().compiler_errors.join("\n");
    assert!(
        excerpt.contains("fatal error: /nonexistent/header.h: No such file or directory"),
        "{excerpt}"
    );
    assert!(
        excerpt.contains("ERROR: cc cannot build executables"),
        "{excerpt}"
    );
}

#[test]
fn missing_or_non_executable_script_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let err = Configure::new(dir.path()).run().unwrap_err();
    assert!(matches!(err, Error::ScriptMissing { .. }), "{err}");
    assert!(err.to_string().contains("no configure script at"), "{err}");

    project(dir.path());
    let script = dir.path().join("configure");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Configure::new(dir.path()).run().unwrap_err();
    assert!(
        matches!(err, Error::NotExecutable { mode: 0o644, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("chmod +x {}", script.display())),
        "{err}"
    );
}
