//! The cache of the parsed tree (kept beside the probe cache): a load with a cache directory
//! gives the kernel's own `conf` output after every kind of change to what the tree was read
//! with (a sourced file, an environment variable set, changed or unset, a program a
//! `$(shell,…)` runs), and an unchanged tree is not read again (its probe does not run even
//! when the probe cache is gone). `osource` and globs, which Linux 6.1's conf lacks, are
//! checked against kforge's own uncached parse (an optional file appearing or going away, a
//! glob matching one more file).

mod common;

use std::path::Path;

use common::oracle::{self, Op, Tree};
use kforge_kconfig::lang::{Kconfig, LoadOptions, Target};

const TOP: &str = r#"mainmenu "cache test"

config FROM_ENV
	string "from the environment"
	default "$(FLAVOUR)"

config PROBE
	string "from a probe"
	default "$(shell,sh $(srctree)/probe.sh)"

source "sub/Kconfig"
"#;

/// `osource` and `source` globs (kernels before 5.x and Xen's kconfig; Linux 6.1's conf has
/// neither, so the uncached parse is the reference here).
const OLD_TOP: &str = r#"config BASE
	bool "base"
	default y

osource "opt/Kconfig"
source "glob/*/Kconfig"
"#;

const PROBE: &str = "#!/bin/sh\necho run >> \"$srctree/runs.log\"\necho probed\n";

/// kforge's alldefconfig with the cache in `cache`, and conf's, for the same environment.
fn both(tree: &Tree, cache: &Path, env: &[(&str, &str)]) -> (String, String) {
    let mut opts = LoadOptions::new(tree.path());
    opts.env = Some(common::env_map(tree, env));
    opts.probe_cache = Some(cache.to_path_buf());
    let k = Kconfig::load(&opts).unwrap_or_else(|e| panic!("load: {}", common::chain(&e)));
    let ours = k
        .new_config(&Target::AllDef)
        .expect("alldefconfig")
        .to_config_string();
    let conf = oracle::run(tree.path(), "Kconfig", &Op::AllDef, None, env)
        .config()
        .to_owned();
    (ours, conf)
}

fn runs(tree: &Tree) -> usize {
    std::fs::read_to_string(tree.path().join("runs.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn check(tree: &Tree, cache: &Path, env: &[(&str, &str)], what: &str) {
    let (ours, conf) = both(tree, cache, env);
    common::compare::assert_same(what, &conf, &ours);
}

#[test]
fn cached_tree_follows_every_input() {
    let tree = Tree::new(&[
        ("Kconfig", TOP),
        ("probe.sh", PROBE),
        ("sub/Kconfig", "config SUB\n\tbool \"sub\"\n\tdefault y\n"),
    ]);
    let cache = tempfile::tempdir().expect("tempdir");
    let cache = cache.path();

    let before = runs(&tree);
    check(&tree, cache, &[], "first load");
    // conf ran the probe once too.
    assert_eq!(
        runs(&tree),
        before + 2,
        "kforge and conf each run the probe"
    );
    assert!(
        std::fs::read_dir(cache)
            .expect("cache dir")
            .filter_map(|e| e.ok())
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with("kconfig-model-")),
        "no model cache entry was written"
    );

    // Unchanged tree, probe cache gone: the tree is not read again, so the probe does not run.
    for e in std::fs::read_dir(cache).expect("cache dir").flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with("kconfig-probes")
        {
            std::fs::remove_file(e.path()).expect("remove probe cache");
        }
    }
    let before = runs(&tree);
    let (again, conf) = both(&tree, cache, &[]);
    common::compare::assert_same("unchanged tree from the cache", &conf, &again);
    assert_eq!(
        runs(&tree),
        before + 1,
        "only conf ran the probe: kforge took the parsed tree from the cache"
    );

    tree.write("sub/Kconfig", "config SUB\n\tbool \"sub\"\n\tdefault n\n");
    check(&tree, cache, &[], "a sourced file changed");

    check(&tree, cache, &[("FLAVOUR", "one")], "a variable was set");
    check(&tree, cache, &[("FLAVOUR", "two")], "a variable changed");
    check(&tree, cache, &[], "a variable was unset");

    tree.write(
        "probe.sh",
        "#!/bin/sh\necho run >> \"$srctree/runs.log\"\necho probed again, differently\n",
    );
    check(&tree, cache, &[], "a program a probe runs changed");
}

/// alldefconfig of `tree` loaded with the cache in `cache`, and without any cache.
fn cached_and_fresh(tree: &Tree, cache: &Path) -> (String, String) {
    let load = |cache: Option<&Path>| {
        let mut opts = LoadOptions::new(tree.path());
        opts.env = Some(common::env_map(tree, &[]));
        opts.probe_cache = cache.map(Path::to_path_buf);
        Kconfig::load(&opts)
            .unwrap_or_else(|e| panic!("load: {}", common::chain(&e)))
            .new_config(&Target::AllDef)
            .expect("alldefconfig")
            .to_config_string()
    };
    (load(Some(cache)), load(None))
}

#[test]
fn cached_tree_follows_optional_files_and_globs() {
    let tree = Tree::new(&[
        ("Kconfig", OLD_TOP),
        (
            "glob/a/Kconfig",
            "config GLOB_A\n\tbool \"a\"\n\tdefault y\n",
        ),
    ]);
    let cache = tempfile::tempdir().expect("tempdir");
    let cache = cache.path();
    let (cached, fresh) = cached_and_fresh(&tree, cache);
    common::compare::assert_same("first load", &fresh, &cached);
    assert!(!cached.contains("CONFIG_OPT"));

    tree.write("opt/Kconfig", "config OPT\n\tbool \"opt\"\n\tdefault y\n");
    let (cached, fresh) = cached_and_fresh(&tree, cache);
    common::compare::assert_same("an optional file appeared", &fresh, &cached);
    assert!(cached.contains("CONFIG_OPT=y"), "{cached}");

    tree.write(
        "glob/b/Kconfig",
        "config GLOB_B\n\tbool \"b\"\n\tdefault y\n",
    );
    let (cached, fresh) = cached_and_fresh(&tree, cache);
    common::compare::assert_same("a glob matches one more file", &fresh, &cached);
    assert!(cached.contains("CONFIG_GLOB_B=y"), "{cached}");

    std::fs::remove_file(tree.path().join("opt/Kconfig")).expect("remove");
    let (cached, fresh) = cached_and_fresh(&tree, cache);
    common::compare::assert_same("an optional file went away", &fresh, &cached);
    assert!(!cached.contains("CONFIG_OPT"));
}
