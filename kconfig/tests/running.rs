//! `Config::running()` with injected paths.

use std::io::Write;

use kforge_kconfig::{RunningError, RunningLocator, RunningSource, Value};

const TEXT: &str =
    "#\n# Linux/x86 6.18 Kernel Configuration\n#\n# CONFIG_MODULES is not set\nCONFIG_KVM=y\n";

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

#[test]
fn prefers_proc_config_gz() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.gz"), gzip(TEXT)).unwrap();
    std::fs::write(dir.path().join("osrelease"), "6.18.44-test\n").unwrap();
    std::fs::write(dir.path().join("config-6.18.44-test"), "CONFIG_KVM=m\n").unwrap();
    let running = RunningLocator::new()
        .proc_config(dir.path().join("config.gz"))
        .boot_dir(dir.path())
        .osrelease(dir.path().join("osrelease"))
        .locate()
        .unwrap();
    assert_eq!(running.source, RunningSource::ProcConfigGz);
    assert_eq!(running.path, dir.path().join("config.gz"));
    assert_eq!(running.release.as_deref(), Some("6.18.44-test"));
    assert_eq!(running.config.to_string(), TEXT);
    assert_eq!(running.config.get("MODULES"), Some(&Value::No));
}

#[test]
fn falls_back_to_boot_config_of_the_release() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("osrelease"), "6.1.0-18-amd64\n").unwrap();
    std::fs::write(dir.path().join("config-6.1.0-18-amd64"), TEXT).unwrap();
    let running = RunningLocator::new()
        .proc_config(dir.path().join("missing.gz"))
        .boot_dir(dir.path())
        .osrelease(dir.path().join("osrelease"))
        .locate()
        .unwrap();
    assert_eq!(running.source, RunningSource::BootConfig);
    assert_eq!(running.path, dir.path().join("config-6.1.0-18-amd64"));
    assert_eq!(running.config.get("KVM"), Some(&Value::Yes));
}

#[test]
fn error_lists_every_place_tried() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.gz"), "not gzip").unwrap();
    let err = RunningLocator::new()
        .proc_config(dir.path().join("config.gz"))
        .boot_dir(dir.path())
        .release("9.9.9")
        .locate()
        .unwrap_err();
    let RunningError::NotFound { tried } = &err else {
        panic!("{err}")
    };
    assert_eq!(tried.len(), 2);
    assert!(tried[0].problem.contains("gzip"), "{}", tried[0]);
    assert_eq!(tried[1].path, dir.path().join("config-9.9.9"));
    assert_eq!(tried[1].problem, "does not exist");
    let text = err.to_string();
    assert!(text.contains("config-9.9.9: does not exist"), "{text}");
}

#[test]
fn invalid_content_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.gz"),
        gzip("CONFIG_A=y\nCONFIG_B=maybe\n"),
    )
    .unwrap();
    let err = RunningLocator::new()
        .proc_config(dir.path().join("config.gz"))
        .release("x")
        .locate()
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("config.gz is not a valid kernel configuration"),
        "{err}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("config.gz:2: invalid value for CONFIG_B"),
        "{cause}"
    );
}
