//! Opt-in tests against a real Linux 6.1 tree (`scripts/e2e` sets `KFORGE_LINUX_SRC`). They
//! never write into the source tree: every build uses `O=` in a temporary directory, and each
//! test checks the tree stayed clean.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kforge_kbuild::{KernelTree, Make, Reproducible, ResolveStrategy, SourceTree};

fn linux_src() -> PathBuf {
    let src = std::env::var_os("KFORGE_LINUX_SRC").unwrap_or_else(|| {
        panic!("KFORGE_LINUX_SRC is not set: run scripts/e2e (it extracts Debian's linux-source-6.1 and sets it)")
    });
    let src = PathBuf::from(src);
    assert!(
        src.join("Makefile").is_file(),
        "KFORGE_LINUX_SRC={} has no top Makefile",
        src.display()
    );
    src
}

/// The source tree must stay clean for O= builds.
fn assert_source_tree_untouched(src: &Path) {
    for stray in [
        ".config",
        "include/config",
        "arch/x86/include/generated",
        "vmlinux",
    ] {
        assert!(
            !src.join(stray).exists(),
            "the test left {} in the source tree",
            src.join(stray).display()
        );
    }
}

fn tree(src: &Path, out: &Path) -> KernelTree {
    let mut tree = KernelTree::new(src);
    tree.build_dir(out)
        .arch("x86_64")
        .log_dir(out.join("kforge-logs"))
        .timeout(Duration::from_secs(3600));
    tree
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn defconfig_kernelrelease_and_modules_prepare() {
    let src = linux_src();
    let out = tempfile::tempdir().unwrap();
    let tree = tree(&src, out.path());
    let version = tree.version().unwrap();
    assert_eq!((version.version, version.patchlevel), (6, 1));

    let defconfig = tree.config_target("defconfig").unwrap();
    eprintln!("defconfig: {:.1}s", defconfig.duration.as_secs_f64());
    assert!(out.path().join(".config").is_file());

    let resolved = tree.olddefconfig().unwrap();
    assert_eq!(resolved.strategy, ResolveStrategy::Olddefconfig);

    let release = tree.kernelrelease().unwrap();
    assert_eq!(release, version.to_string());
    assert_eq!(tree.kernelversion().unwrap(), version.to_string());

    let prepared = tree.prepare_for_external_modules().unwrap();
    eprintln!(
        "modules_prepare: {:.1}s, {} lines",
        prepared.outcome.duration.as_secs_f64(),
        prepared.outcome.lines
    );
    assert_eq!(prepared.targets, ["modules_prepare"]);
    assert!(out.path().join("scripts/mod/modpost").is_file());
    assert!(out.path().join("include/generated/utsrelease.h").is_file());
    assert!(out.path().join("kforge-logs/modules_prepare.log").is_file());

    // An external module builds against the prepared tree.
    let module = tempfile::tempdir().unwrap();
    std::fs::write(
        module.path().join("hello.c"),
        "#include <linux/module.h>\nstatic int __init hello_init(void) { return 0; }\nmodule_init(hello_init);\nMODULE_LICENSE(\"GPL\");\n",
    )
    .unwrap();
    std::fs::write(module.path().join("Kbuild"), "obj-m := hello.o\n").unwrap();
    tree.external_module(module.path()).unwrap();
    assert!(module.path().join("hello.o").is_file());
    assert_source_tree_untouched(&src);
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn tinyconfig_build_x86_64() {
    let src = linux_src();
    let out = tempfile::tempdir().unwrap();
    let tree = tree(&src, out.path());
    tree.config_target("tinyconfig").unwrap();
    let built = tree.build(["vmlinux"]).unwrap();
    eprintln!(
        "tinyconfig vmlinux: {:.1}s, {} lines, {} warnings",
        built.duration.as_secs_f64(),
        built.lines,
        built.warnings
    );
    assert!(out.path().join("vmlinux").metadata().unwrap().len() > 100_000);
    assert_source_tree_untouched(&src);
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn reproducible_builds_in_two_directories_are_identical() {
    let src = linux_src();
    let mut objects = Vec::new();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for out in &dirs {
        let mut tree = tree(&src, out.path());
        tree.reproducible(Reproducible::default());
        tree.config_target("tinyconfig").unwrap();
        let built = tree.build(["vmlinux"]).unwrap();
        eprintln!(
            "reproducible tinyconfig vmlinux in {}: {:.1}s",
            out.path().display(),
            built.duration.as_secs_f64()
        );
        objects.push(std::fs::read(out.path().join("vmlinux")).unwrap());
    }
    assert!(
        objects[0] == objects[1],
        "vmlinux differs between the two build directories"
    );
    // Every object file too, and neither build path is inside them. Sub-builds that set their
    // own flags (16-bit real-mode code, the boot setup) never see KCFLAGS, which is where the
    // kernel documents the prefix maps go (Documentation/kbuild/reproducible-builds.rst): their
    // objects keep the build path in debug info, but only their binary blobs reach vmlinux,
    // which is compared whole above.
    let own_flags = [Path::new("arch/x86/realmode"), Path::new("arch/x86/boot")];
    let mut compared = 0;
    let mut differing = Vec::new();
    for rel in object_files(dirs[0].path()) {
        let a = std::fs::read(dirs[0].path().join(&rel)).unwrap();
        let b = std::fs::read(dirs[1].path().join(&rel)).unwrap();
        if own_flags.iter().any(|d| rel.starts_with(d)) {
            if a != b {
                eprintln!(
                    "differs (own flags, not covered by KCFLAGS): {}",
                    rel.display()
                );
            }
            continue;
        }
        if a != b {
            differing.push(rel.display().to_string());
        }
        for dir in &dirs {
            let needle = dir.path().to_string_lossy().into_owned();
            assert!(
                !a.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds the build path {needle}",
                rel.display()
            );
        }
        compared += 1;
    }
    assert!(differing.is_empty(), "objects differ: {differing:?}");
    assert!(compared > 100, "only {compared} objects compared");
    assert_source_tree_untouched(&src);
}

fn object_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "o")
                && !path.starts_with(root.join("scripts"))
                && !path.starts_with(root.join("tools"))
            {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn real_oldconfig_prompts_never_hang() {
    let src = linux_src();
    let out = tempfile::tempdir().unwrap();
    let tree = tree(&src, out.path());
    tree.config_target("tinyconfig").unwrap();
    // Drop a few symbols so that oldconfig has NEW questions to ask.
    let config = out.path().join(".config");
    let text = std::fs::read_to_string(&config).unwrap();
    let trimmed: String = text
        .lines()
        .filter(|l| {
            !l.contains("CONFIG_PRINTK")
                && !l.contains("CONFIG_BUG")
                && !l.contains("CONFIG_MULTIUSER")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, &trimmed).unwrap();

    // stdin closed: kconfig's prompt sees end-of-file; the run ends (whatever it decides)
    // well before the timeout instead of waiting for a terminal.
    let mut make = tree.make(["oldconfig"]);
    make.timeout(Duration::from_secs(300));
    let closed = make.run();
    if let Err(err) = &closed {
        assert!(
            !matches!(err, kforge_kbuild::make::Error::TimedOut { .. }),
            "oldconfig hung on a closed stdin: {err}"
        );
    }

    // Default answers: every question takes its default, as `yes "" | make oldconfig`.
    std::fs::write(&config, &trimmed).unwrap();
    let mut make = tree.make(["oldconfig"]);
    make.timeout(Duration::from_secs(300))
        .answer_prompts_with_defaults(true)
        .capture_stdout(true);
    let answered = make.run().unwrap();
    assert!(
        answered.stdout.iter().any(|l| l.contains("(NEW)")),
        "oldconfig asked nothing: {:?}",
        answered.stdout
    );
    let resolved = std::fs::read_to_string(&config).unwrap();
    assert!(resolved.contains("CONFIG_PRINTK") && resolved.contains("CONFIG_MULTIUSER"));
    assert_source_tree_untouched(&src);
}

/// A stray .config makes `make O=… defconfig` fail exactly as check_clean predicted; after
/// make_clean_for_out_of_tree it succeeds, and the user's config reached the build dir byte
/// for byte.
#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn stray_config_fails_as_predicted_and_clean_fixes_it() {
    let src = linux_src();
    assert_source_tree_untouched(&src);
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("linux");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a {} failed", src.display());

    // A user's own configuration, left in the tree by an in-tree `make menuconfig`.
    let user_config =
        b"CONFIG_LOCALVERSION=\"-mine\"\n# CONFIG_MODULES is not set\nCONFIG_64BIT=y\n";
    std::fs::write(copy.join(".config"), user_config).unwrap();
    std::fs::create_dir_all(copy.join("arch/x86/include/generated/asm")).unwrap();

    let tree = SourceTree::open(&copy).unwrap();
    let check = tree.check_clean(Some("x86_64"), "x86");
    assert!(!check.is_clean());
    assert_eq!(check.offending.len(), 2, "{check}");
    let predicted = check.message.clone().unwrap();

    let build = tmp.path().join("build");
    std::fs::create_dir(&build).unwrap();
    let defconfig = |log: &str| {
        let mut make = Make::new(&copy);
        make.build_dir(&build)
            .arch("x86_64")
            .target("defconfig")
            .env_remove("MAKEFLAGS")
            .log_file(tmp.path().join(log));
        make
    };
    let failed = defconfig("unclean.log").run();
    let said = std::fs::read_to_string(tmp.path().join("unclean.log")).unwrap();
    assert!(failed.is_err(), "make accepted an unclean tree:\n{said}");
    assert!(
        said.contains(&predicted),
        "predicted:\n{predicted}\nmake said:\n{said}"
    );

    let plan = tree.make_clean_for_out_of_tree(&build).unwrap();
    assert!(plan.applied, "{plan}");
    assert!(tree.check_clean(Some("x86_64"), "x86").is_clean());
    assert_eq!(std::fs::read(build.join(".config")).unwrap(), user_config);

    if let Err(e) = defconfig("clean.log").run() {
        panic!("make O=… defconfig failed on the cleaned tree: {e}");
    }
    // defconfig replaced the configuration and kept the user's as .config.old, byte for byte.
    assert_eq!(
        std::fs::read(build.join(".config.old")).unwrap(),
        user_config
    );
    let resolved = std::fs::read_to_string(build.join(".config")).unwrap();
    assert!(
        resolved.lines().any(|l| l == "CONFIG_MODULES=y"),
        "defconfig did not enable MODULES:\n{resolved}"
    );
    assert_source_tree_untouched(&src);
}
