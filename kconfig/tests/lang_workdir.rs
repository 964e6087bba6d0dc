//! `$(shell,…)` runs in the working directory of the kernel's `conf` (the build directory; `xen/`
//! for Xen, whose `srctree` is `.`): `LoadOptions::probe_workdir` gives kforge the same one, and
//! a command with a relative path gives the same `.config` as conf run in that directory.

mod common;

use std::process::Command;

use common::oracle::{self, Tree};
use kforge_kconfig::lang::{Kconfig, LoadOptions, Target};

#[test]
fn probes_run_in_the_given_working_directory() {
    let tree = Tree::new(&[(
        "Kconfig",
        "config FROM_WORKDIR\n\tstring \"read from the working directory\"\n\tdefault \"$(shell,cat ./marker.txt)\"\n",
    )]);
    let workdir = tempfile::tempdir().expect("tempdir");
    std::fs::write(workdir.path().join("marker.txt"), "build directory\n").expect("marker");

    // conf, run in the working directory.
    let out = workdir.path().join("conf.config");
    let o = Command::new(oracle::conf_binary())
        .current_dir(workdir.path())
        .env_clear()
        .envs(oracle::base_env(tree.path()))
        .env("KCONFIG_CONFIG", &out)
        .arg("--alldefconfig")
        .arg("Kconfig")
        .output()
        .expect("run conf");
    assert!(
        o.status.success(),
        "conf failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let conf = std::fs::read_to_string(&out).expect("conf's .config");
    assert!(
        conf.contains("CONFIG_FROM_WORKDIR=\"build directory\""),
        "{conf}"
    );

    let mut opts = LoadOptions::new(tree.path());
    opts.env = Some(common::env_map(&tree, &[]));
    opts.probe_workdir = Some(workdir.path().to_path_buf());
    let ours = Kconfig::load(&opts)
        .unwrap_or_else(|e| panic!("load: {}", common::chain(&e)))
        .new_config(&Target::AllDef)
        .expect("alldefconfig")
        .to_config_string();
    common::compare::assert_same("probe in the working directory", &conf, &ours);
}
