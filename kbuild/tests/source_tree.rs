//! Out-of-tree cleanliness on trees shaped like Linux 6.1 and 2.6.18.

use std::fs;
use std::path::Path;

use kforge_kbuild::{CleanAction, CleanRule, RuleSource, SourceTree};

/// The test of Linux 6.1's top Makefile (`outputmakefile`), abridged around it.
const MAKEFILE_6_1: &str = r#"# SPDX-License-Identifier: GPL-2.0
VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 192
EXTRAVERSION =
NAME = Curry Ramen

outputmakefile:
	@if [ -f $(srctree)/.config -o \
		 -d $(srctree)/include/config -o \
		 -d $(srctree)/arch/$(SRCARCH)/include/generated ]; then \
		echo >&2 "***"; \
		echo >&2 "*** The source tree is not clean, please run 'make$(if $(findstring command line, $(origin ARCH)), ARCH=$(ARCH)) mrproper'"; \
		echo >&2 "*** in $(abs_srctree)";\
		echo >&2 "***"; \
		false; \
	fi
"#;

/// The test of Linux 2.6.18's top Makefile (`prepare3`), abridged around it.
const MAKEFILE_2_6_18: &str = r#"VERSION = 2
PATCHLEVEL = 6
SUBLEVEL = 18
EXTRAVERSION =
NAME=Avast! A bilge rat!

prepare3: include/config/kernel.release
ifneq ($(KBUILD_SRC),)
	@echo '  Using $(srctree) as source for kernel'
	$(Q)if [ -f $(srctree)/.config -o -d $(srctree)/include/config ]; then \
		echo "  $(srctree) is not clean, please run 'make mrproper'";\
		echo "  in the '$(srctree)' directory.";\
		/bin/false; \
	fi;
	$(Q)if [ ! -d include2 ]; then mkdir -p include2; fi;
	$(Q)ln -fsn $(srctree)/include/asm-$(ARCH) include2/asm
endif
"#;

fn tree(makefile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("Makefile"), makefile).unwrap();
    fs::create_dir_all(dir.path().join("arch/x86/include/asm")).unwrap();
    fs::create_dir_all(dir.path().join("arch/arm64/include/asm")).unwrap();
    fs::create_dir_all(dir.path().join("include/linux")).unwrap();
    dir
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn linux_6_1_rule_and_message() {
    let src = tree(MAKEFILE_6_1);
    let t = SourceTree::open(src.path()).unwrap();
    assert_eq!(t.version().to_string(), "6.1.192");
    assert_eq!(
        t.clean_rule(),
        (CleanRule::WithArchGenerated, RuleSource::Makefile)
    );
    assert!(t.check_clean(Some("x86_64"), "x86").is_clean());

    // arch/x86/include/generated alone makes it unclean for x86 but not for arm64.
    fs::create_dir_all(src.path().join("arch/x86/include/generated/asm")).unwrap();
    let check = t.check_clean(Some("x86_64"), "x86");
    assert!(!check.is_clean());
    assert_eq!(check.srcarch, "x86");
    let root = t.root().display().to_string();
    assert_eq!(
        check.offending,
        vec![t.root().join("arch/x86/include/generated")]
    );
    assert_eq!(
        check.message.as_deref(),
        Some(format!("***\n*** The source tree is not clean, please run 'make ARCH=x86_64 mrproper'\n*** in {root}\n***").as_str())
    );
    assert!(t.check_clean(Some("arm64"), "arm64").is_clean());

    fs::write(src.path().join(".config"), "CONFIG_A=y\n").unwrap();
    fs::create_dir_all(src.path().join("include/config")).unwrap();
    let check = t.check_clean(None, "x86");
    assert_eq!(check.offending.len(), 3, "{check}");
    assert_eq!(
        check.message.as_deref(),
        Some(format!("***\n*** The source tree is not clean, please run 'make mrproper'\n*** in {root}\n***").as_str())
    );
    let shown = check.to_string();
    assert!(
        shown.contains("is not clean for out-of-tree builds"),
        "{shown}"
    );
    assert!(shown.contains("kforge tree clean"), "{shown}");
}

#[test]
fn linux_2_6_18_rule_ignores_arch_generated() {
    let src = tree(MAKEFILE_2_6_18);
    let t = SourceTree::open(src.path()).unwrap();
    assert_eq!(t.version().to_string(), "2.6.18");
    assert_eq!(
        t.clean_rule(),
        (CleanRule::ConfigOnly, RuleSource::Makefile)
    );
    fs::create_dir_all(src.path().join("arch/x86/include/generated")).unwrap();
    assert!(t.check_clean(Some("x86_64"), "x86").is_clean());
    fs::create_dir_all(src.path().join("include/config")).unwrap();
    let check = t.check_clean(Some("i386"), "x86");
    assert_eq!(check.offending, vec![t.root().join("include/config")]);
    let root = t.root().display().to_string();
    assert_eq!(
        check.message.as_deref(),
        Some(
            format!(
                "  {root} is not clean, please run 'make mrproper'\n  in the '{root}' directory."
            )
            .as_str()
        )
    );
    // `[ -f .config ]`: a directory named .config does not count, a symlink to a file does.
    fs::remove_dir_all(src.path().join("include/config")).unwrap();
    fs::create_dir(src.path().join(".config")).unwrap();
    assert!(t.check_clean(None, "x86").is_clean());
    fs::remove_dir(src.path().join(".config")).unwrap();
    fs::write(src.path().join("saved"), "CONFIG_A=y\n").unwrap();
    std::os::unix::fs::symlink("saved", src.path().join(".config")).unwrap();
    assert!(!t.check_clean(None, "x86").is_clean());
}

#[test]
fn rule_falls_back_to_version_when_makefile_is_unfamiliar() {
    let src = tree("VERSION = 5\nPATCHLEVEL = 10\nSUBLEVEL = 0\nEXTRAVERSION =\n");
    let t = SourceTree::open(src.path()).unwrap();
    assert_eq!(
        t.clean_rule(),
        (CleanRule::WithArchGenerated, RuleSource::Version)
    );
    let src = tree("VERSION = 4\nPATCHLEVEL = 19\nSUBLEVEL = 1\nEXTRAVERSION =\n");
    let t = SourceTree::open(src.path()).unwrap();
    assert_eq!(t.clean_rule(), (CleanRule::ConfigOnly, RuleSource::Version));
}

#[test]
fn open_errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let err = SourceTree::open(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("is this directory a kernel source tree?"),
        "{err}"
    );
    fs::write(dir.path().join("Makefile"), "all:\n\ttrue\n").unwrap();
    let err = SourceTree::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("VERSION"), "{err}");
}

#[test]
fn clean_moves_config_into_empty_build_dir_and_removes_generated() {
    let src = tree(MAKEFILE_6_1);
    let user_config = "# mine\nCONFIG_KVM=m\n";
    fs::write(src.path().join(".config"), user_config).unwrap();
    fs::create_dir_all(src.path().join("include/config/foo")).unwrap();
    fs::write(src.path().join("include/config/auto.conf"), "x").unwrap();
    fs::create_dir_all(src.path().join("arch/x86/include/generated/asm")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let build = out.path().join("build");
    let t = SourceTree::open(src.path()).unwrap();

    // Dry run: a plan, nothing touched.
    let plan = t.plan_clean_for_out_of_tree(&build).unwrap();
    assert!(!plan.applied);
    assert_eq!(
        plan.actions,
        vec![
            CleanAction::CreateBuildDir {
                path: build.clone()
            },
            CleanAction::MoveConfigToBuildDir {
                from: t.root().join(".config"),
                to: build.join(".config")
            },
            CleanAction::RemoveGeneratedDir {
                path: t.root().join("include/config")
            },
            CleanAction::RemoveGeneratedDir {
                path: t.root().join("arch/x86/include/generated")
            },
        ]
    );
    assert!(src.path().join(".config").exists());
    assert!(!build.exists());
    let shown = plan.to_string();
    assert!(shown.starts_with("plan (dry run)"), "{shown}");

    let done = t.make_clean_for_out_of_tree(&build).unwrap();
    assert!(done.applied);
    assert!(t.check_clean(Some("x86_64"), "x86").is_clean());
    assert_eq!(
        fs::read_to_string(build.join(".config")).unwrap(),
        user_config
    );
    assert!(src.path().join("arch/x86/include/asm").is_dir());
    assert!(src.path().join("include/linux").is_dir());
    assert!(t.plan_clean_for_out_of_tree(&build).unwrap().is_empty());
}

#[test]
fn clean_keeps_both_configs_when_build_dir_has_one() {
    let src = tree(MAKEFILE_2_6_18);
    fs::write(src.path().join(".config"), "CONFIG_STRAY=y\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join(".config"), "CONFIG_BUILD=y\n").unwrap();
    let t = SourceTree::open(src.path()).unwrap();
    let plan = t.make_clean_for_out_of_tree(out.path()).unwrap();
    assert!(
        matches!(plan.actions[0], CleanAction::MoveConfigAside { .. }),
        "{plan}"
    );
    assert_eq!(
        fs::read_to_string(out.path().join(".config")).unwrap(),
        "CONFIG_BUILD=y\n"
    );
    let files = names(out.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let aside = files
        .iter()
        .find(|n| n.starts_with("config.from-srctree."))
        .unwrap();
    assert_eq!(
        fs::read_to_string(out.path().join(aside)).unwrap(),
        "CONFIG_STRAY=y\n"
    );
    assert!(t.check_clean(None, "x86").is_clean());
}

#[test]
fn clean_refuses_the_tree_as_build_dir() {
    let src = tree(MAKEFILE_6_1);
    fs::write(src.path().join(".config"), "CONFIG_A=y\n").unwrap();
    let t = SourceTree::open(src.path()).unwrap();
    let err = t.make_clean_for_out_of_tree(src.path()).unwrap_err();
    assert!(
        err.to_string().contains("is the source tree itself"),
        "{err}"
    );
    assert!(src.path().join(".config").exists());
}

/// Linux 5.3 checked arch/$(SRCARCH)/include/generated already, with the older wording in
/// `prepare3` and the ARCH= hint.
#[test]
fn linux_5_3_prepare3_wording_with_arch_hint() {
    let src = tree(
        "VERSION = 5\nPATCHLEVEL = 3\nSUBLEVEL = 0\nEXTRAVERSION =\n\
prepare3: include/config/kernel.release\n\
ifneq ($(KBUILD_SRC),)\n\
\t$(Q)if [ -f $(srctree)/.config -o \\\n\
\t\t -d $(srctree)/include/config -o \\\n\
\t\t -d $(srctree)/arch/$(SRCARCH)/include/generated ]; then \\\n\
\t\techo >&2 \"  $(srctree) is not clean, please run 'make$(if $(findstring command line, $(origin ARCH)), ARCH=$(ARCH)) mrproper'\"; \\\n\
\t\techo >&2 \"  in the '$(srctree)' directory.\";\\\n\
\t\t/bin/false; \\\n\
\tfi;\n\
endif\n",
    );
    fs::create_dir_all(src.path().join("arch/arm64/include/generated")).unwrap();
    let t = SourceTree::open(src.path()).unwrap();
    assert_eq!(
        t.clean_rule(),
        (CleanRule::WithArchGenerated, RuleSource::Makefile)
    );
    let check = t.check_clean(Some("aarch64"), "arm64");
    let root = t.root().display().to_string();
    assert_eq!(check.srcarch, "arm64");
    assert_eq!(
        check.message.as_deref(),
        Some(
            format!(
                "  {root} is not clean, please run 'make ARCH=aarch64 mrproper'\n  in the '{root}' directory."
            )
            .as_str()
        )
    );
}
