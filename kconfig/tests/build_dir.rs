//! `BuildDir::install_config`: atomic, keeps `.config.old`.

use kforge_kconfig::{BuildDir, Config};

#[test]
fn installs_and_keeps_previous_as_old() {
    let dir = tempfile::tempdir().unwrap();
    let build = BuildDir::new(dir.path().join("o"));
    let first = Config::parse("CONFIG_A=y\n").unwrap();
    let installed = build.install_config(&first).unwrap();
    assert_eq!(installed.previous, None);
    assert!(!installed.unchanged);
    assert_eq!(
        std::fs::read_to_string(build.config_path()).unwrap(),
        "CONFIG_A=y\n"
    );

    let again = build.install_config(&first).unwrap();
    assert!(again.unchanged);
    assert!(!dir.path().join("o/.config.old").exists());

    let second = Config::parse("CONFIG_A=m\n").unwrap();
    let installed = build.install_config(&second).unwrap();
    assert_eq!(installed.previous, Some(dir.path().join("o/.config.old")));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("o/.config.old")).unwrap(),
        "CONFIG_A=y\n"
    );
    assert_eq!(build.read_config().unwrap().to_string(), "CONFIG_A=m\n");
    // Nothing but the two files is left behind.
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("o"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec![".config", ".config.old"]);
}

#[test]
fn a_failed_install_leaves_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    // The build directory path is a file: nothing can be created there.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let err = BuildDir::new(&blocker)
        .install_config(&Config::new())
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot create build directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "x");
}
