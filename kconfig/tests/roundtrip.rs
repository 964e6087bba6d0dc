//! Round trips on real kernel configurations: committed Linux 6.1 fixtures and the running
//! kernel's own configuration.

use std::path::Path;

use kforge_kconfig::{Config, RunningError, RunningSource, Value};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn assert_round_trip(path: &Path) -> Config {
    let bytes = std::fs::read(path).unwrap();
    let config = Config::read(path).unwrap();
    assert_eq!(
        config.to_string().as_bytes(),
        &bytes[..],
        "{} changed",
        path.display()
    );
    config
}

#[test]
fn linux_6_1_x86_64_defconfig_round_trips() {
    let config = assert_round_trip(&fixture("linux-6.1-x86_64-defconfig.config"));
    assert_eq!(config.line_count(), 5138);
    assert_eq!(config.get("X86_64"), Some(&Value::Yes));
    assert_eq!(config.get("MODULES"), Some(&Value::Yes));
    assert_eq!(config.get("NR_CPUS"), Some(&Value::Int(64)));
    assert_eq!(config.get("PHYSICAL_START"), Some(&Value::Hex(0x1000000)));
    assert_eq!(
        config.get("CC_VERSION_TEXT"),
        Some(&Value::Str("gcc (Debian 12.2.0-14+deb12u1) 12.2.0".into()))
    );
    assert_eq!(config.get("KVM"), Some(&Value::No));
}

#[test]
fn linux_6_1_x86_64_tinyconfig_round_trips() {
    let config = assert_round_trip(&fixture("linux-6.1-x86_64-tinyconfig.config"));
    assert_eq!(config.get("MODULES"), Some(&Value::No));
    assert_eq!(config.get("EMBEDDED"), Some(&Value::Yes));
}

#[test]
fn edits_on_a_real_config_touch_only_their_lines() {
    let path = fixture("linux-6.1-x86_64-defconfig.config");
    let original = std::fs::read_to_string(&path).unwrap();
    let mut config = Config::read(&path).unwrap();
    config.module("KVM").unwrap();
    let edited = config.to_string();
    let changed: Vec<_> = original
        .lines()
        .zip(edited.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed, vec![("# CONFIG_KVM is not set", "CONFIG_KVM=m")]);
    assert_eq!(original.lines().count(), edited.lines().count());
}

/// The running kernel's configuration round-trips too. On a machine with neither
/// `/proc/config.gz` nor `/boot/config-$(uname -r)` the error must list both places.
#[test]
fn running_kernel_config_round_trips() {
    match Config::running() {
        Ok(running) => {
            let raw = std::fs::read(&running.path).unwrap();
            let text = match running.source {
                RunningSource::ProcConfigGz => {
                    use std::io::Read;
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&raw[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                }
                RunningSource::BootConfig => raw,
            };
            assert_eq!(running.config.to_string().as_bytes(), &text[..]);
            assert!(
                running.config.len() > 100,
                "{} symbols only",
                running.config.len()
            );
        }
        Err(RunningError::NotFound { tried }) => {
            let text: Vec<_> = tried.iter().map(|a| a.path.display().to_string()).collect();
            assert!(text.iter().any(|p| p == "/proc/config.gz"), "{text:?}");
            assert!(
                text.iter().any(|p| p.starts_with("/boot/config-")),
                "{text:?}"
            );
        }
        Err(e) => panic!("{e}"),
    }
}
