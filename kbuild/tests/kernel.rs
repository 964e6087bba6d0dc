//! `KernelTree` against fake kernel trees (a top Makefile with VERSION/PATCHLEVEL and the
//! targets the helpers use), with real make.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::makefile;
use kforge_kbuild::{KernelTree, Reproducible, ResolveStrategy};

/// A fake tree of the given version whose config targets say what ran; `oldconfig` asks two
/// questions and fails on a closed stdin, like a real prompt would be stuck.
fn fake_tree(dir: &Path, version: u32, patchlevel: u32, sublevel: u32) {
    makefile(
        dir,
        &format!(
            "VERSION = {version}
PATCHLEVEL = {patchlevel}
SUBLEVEL = {sublevel}
EXTRAVERSION =
NAME = Fake

olddefconfig oldnoconfig:
    @echo 'ran $@ in $(O)'
oldconfig:
    @printf 'New option A (A) [N/y] (NEW) '; read a || exit 9; printf 'New option B (B) [Y/n] (NEW) '; read b || exit 9; echo \"ran oldconfig answers [$$a][$$b]\"
modules_prepare:
    @echo 'ran modules_prepare'
kernelrelease:
    @echo '#'; echo '# configuration written to .config'; echo '#'; echo '{version}.{patchlevel}.{sublevel}-fake'
kernelversion:
    @echo '{version}.{patchlevel}.{sublevel}'
modules:
    @echo 'modules M=$(M)'
show:
    @echo \"kcflags=$(KCFLAGS)\"; echo \"user=$$KBUILD_BUILD_USER host=$$KBUILD_BUILD_HOST ts=$$KBUILD_BUILD_TIMESTAMP v=$$KBUILD_BUILD_VERSION\"; echo \"kaflags=$(KAFLAGS)|hostcflags=$(HOSTCFLAGS)|sde=$$SOURCE_DATE_EPOCH\""
        ),
    );
}

#[test]
fn config_resolution_follows_the_kernel_era() {
    let cases = [
        (
            (6, 1, 192),
            ResolveStrategy::Olddefconfig,
            "ran olddefconfig in ",
        ),
        (
            (3, 7, 0),
            ResolveStrategy::Olddefconfig,
            "ran olddefconfig in ",
        ),
        (
            (3, 6, 11),
            ResolveStrategy::Oldnoconfig,
            "ran oldnoconfig in ",
        ),
        (
            (2, 6, 36),
            ResolveStrategy::Oldnoconfig,
            "ran oldnoconfig in ",
        ),
        (
            (2, 6, 35),
            ResolveStrategy::OldconfigWithDefaults,
            "New option A (A) [N/y] (NEW) New option B (B) [Y/n] (NEW) ran oldconfig answers [][]",
        ),
        (
            (2, 6, 18),
            ResolveStrategy::OldconfigWithDefaults,
            "New option A (A) [N/y] (NEW) New option B (B) [Y/n] (NEW) ran oldconfig answers [][]",
        ),
    ];
    for ((v, p, s), strategy, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        fake_tree(dir.path(), v, p, s);
        let out = dir.path().join("build");
        let mut tree = KernelTree::new(dir.path());
        tree.build_dir(&out).log_dir(dir.path().join("logs"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        tree.on_line(move |l| sink.lock().unwrap().push(l.text.to_owned()));
        let resolved = tree.olddefconfig().unwrap();
        assert_eq!(resolved.strategy, strategy, "{v}.{p}.{s}");
        assert_eq!(resolved.kernel.to_string(), format!("{v}.{p}.{s}"));
        let lines = lines.lock().unwrap();
        assert!(
            lines[0].starts_with(expected),
            "{v}.{p}.{s}: {lines:?} does not start with {expected:?}"
        );
        if strategy != ResolveStrategy::OldconfigWithDefaults {
            assert_eq!(lines[0], format!("{expected}{}", out.display()));
        }
        let log = dir.path().join(format!("logs/{}.log", strategy.target()));
        assert!(log.is_file(), "{}", log.display());
        assert_eq!(resolved.outcome.log_file.as_deref(), Some(log.as_path()));
        let json = serde_json::to_value(&resolved).unwrap();
        assert_eq!(json["strategy"], serde_json::to_value(strategy).unwrap());
    }
}

#[test]
fn not_a_kernel_tree_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    makefile(dir.path(), "all:\n    @true");
    let err = KernelTree::new(dir.path()).olddefconfig().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Makefile: no `VERSION = <number>` line"),
        "{text}"
    );
    let err = KernelTree::new(dir.path().join("nope"))
        .olddefconfig()
        .unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
}

#[test]
fn prepare_uses_modules_prepare_or_the_old_targets() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 6, 1, 0);
    let prepared = KernelTree::new(dir.path())
        .build_dir(dir.path().join("o"))
        .prepare_for_external_modules()
        .unwrap();
    assert_eq!(prepared.targets, ["modules_prepare"]);
    assert_eq!(prepared.outcome.lines, 1);

    let old = tempfile::tempdir().unwrap();
    makefile(
        old.path(),
        "VERSION = 2
PATCHLEVEL = 6
SUBLEVEL = 22
prepare scripts:
    @echo $@ >> ran",
    );
    let prepared = KernelTree::new(old.path())
        .prepare_for_external_modules()
        .unwrap();
    assert_eq!(prepared.targets, ["prepare", "scripts"]);
    // Both goals ran; with -j make may run them in either order.
    let ran = std::fs::read_to_string(old.path().join("ran")).unwrap();
    let mut ran: Vec<&str> = ran.lines().collect();
    ran.sort_unstable();
    assert_eq!(ran, ["prepare", "scripts"]);
}

#[test]
fn kernelrelease_takes_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 6, 1, 192);
    let mut tree = KernelTree::new(dir.path());
    tree.build_dir(dir.path().join("o"));
    assert_eq!(tree.kernelrelease().unwrap(), "6.1.192-fake");
    assert_eq!(tree.kernelversion().unwrap(), "6.1.192");
}

#[test]
fn external_module_passes_m() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 6, 1, 0);
    let module = dir.path().join("mymod");
    std::fs::create_dir(&module).unwrap();
    let mut tree = KernelTree::new(dir.path());
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&seen);
    tree.on_line(move |l| *sink.lock().unwrap() = l.text.to_owned());
    tree.external_module(&module).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        format!("modules M={}", module.display())
    );
}

#[test]
fn in_tree_module_dir_stays_relative_and_gets_its_own_log() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 6, 1, 0);
    std::fs::create_dir_all(dir.path().join("arch/x86/kvm")).unwrap();
    let logs = dir.path().join("logs");
    let mut tree = KernelTree::new(dir.path());
    tree.build_dir(dir.path().join("o")).log_dir(&logs);
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&seen);
    tree.on_line(move |l| *sink.lock().unwrap() = l.text.to_owned());
    // Relative and inside the source tree: kbuild resolves it there and builds into O=.
    tree.external_module(Path::new("arch/x86/kvm")).unwrap();
    assert_eq!(*seen.lock().unwrap(), "modules M=arch/x86/kvm");
    let log = std::fs::read_to_string(logs.join("modules-M-arch_x86_kvm.log")).unwrap();
    assert!(log.contains("modules M=arch/x86/kvm"), "{log}");
    // A second module directory does not overwrite the first one's log.
    std::fs::create_dir_all(dir.path().join("drivers/vhost")).unwrap();
    tree.external_module(Path::new("drivers/vhost")).unwrap();
    assert!(logs.join("modules-M-arch_x86_kvm.log").is_file());
    assert!(logs.join("modules-M-drivers_vhost.log").is_file());
}

#[test]
fn reproducible_mode_fixes_identity_and_maps_paths() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 6, 1, 0);
    let out = dir.path().join("o");
    let mut tree = KernelTree::new(dir.path());
    tree.build_dir(&out)
        .var("KCFLAGS", "-O2")
        .reproducible(Reproducible::default());
    let mut make = tree.make(["show"]);
    let outcome = make.capture_stdout(true).run().unwrap();
    let src = dir.path().display();
    let out = out.display();
    assert_eq!(
        outcome.stdout[0],
        format!(
            "kcflags=-O2 -ffile-prefix-map={src}=. -ffile-prefix-map={src}/= -ffile-prefix-map={out}=. -ffile-prefix-map={out}/="
        )
    );
    assert_eq!(
        outcome.stdout[1],
        "user=kforge host=kforge ts=Thu Jan  1 00:00:00 UTC 1970 v=1"
    );
    let maps = format!(
        "-ffile-prefix-map={src}=. -ffile-prefix-map={src}/= -ffile-prefix-map={out}=. -ffile-prefix-map={out}/="
    );
    // Not HOSTCFLAGS (tools/' Makefiles use it as a whole flag set); no epoch asked for.
    assert_eq!(
        outcome.stdout[2],
        format!("kaflags={maps}|hostcflags=|sde=")
    );
}

#[test]
fn reproducible_mode_sets_source_date_epoch() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 4, 14, 0);
    let mut tree = KernelTree::new(dir.path());
    tree.reproducible(Reproducible {
        source_date_epoch: Some(1_700_000_000),
        ..Reproducible::default()
    });
    let outcome = tree.make(["show"]).capture_stdout(true).run().unwrap();
    assert!(
        outcome.stdout[2].ends_with("|hostcflags=|sde=1700000000"),
        "{:?}",
        outcome.stdout
    );
    assert!(
        outcome
            .env
            .iter()
            .any(|e| e.key == "SOURCE_DATE_EPOCH" && e.value.as_deref() == Some("1700000000")),
        "the outcome carries the environment change: {:?}",
        outcome.env
    );
}

#[test]
fn a_failing_step_keeps_the_make_failure() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 6, 1, 0);
    let err = KernelTree::new(dir.path())
        .config_target("no_such_config")
        .unwrap_err();
    let kforge_kbuild::kernel::Error::Make(make_err) = &err else {
        panic!("{err}");
    };
    assert!(
        make_err.failure().unwrap().make_errors[0].contains("No rule to make target"),
        "{err}"
    );
}

#[test]
fn an_explicit_strategy_overrides_the_era() {
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path(), 6, 1, 0);
    let out = dir.path().join("o");
    let mut tree = KernelTree::new(dir.path());
    tree.build_dir(&out);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    tree.on_line(move |l| sink.lock().unwrap().push(l.text.to_owned()));
    let resolved = tree
        .resolve_config_with(ResolveStrategy::OldconfigWithDefaults)
        .unwrap();
    assert_eq!(resolved.strategy, ResolveStrategy::OldconfigWithDefaults);
    assert!(lines.lock().unwrap()[0].ends_with("ran oldconfig answers [][]"));
}
