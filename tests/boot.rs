//! The boot step with real parts: the initramfs read back by GNU cpio, a real QEMU booting a
//! multiboot kernel of a few instructions (tests/fixtures/boot/multiboot.S, built with gcc
//! -m32) that prints a result, a panic line or nothing, and console logs recorded from real
//! boots of a Linux 6.1 kernel built by the KVM flow and of Xen 4.17.5 with a Linux 6.1 dom0.
//!
//! Needs qemu-system-x86, cpio and gcc-multilib (scripts/install-deps test).

mod common;

use common::require_tool as require;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kforge::boot::console::GuestReport;
use kforge::boot::initramfs::Initramfs;
use kforge::boot::kvm::{Proof, record_from};
use kforge::boot::{Accel, AccelUsed, BootOptions, Error, boot};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/boot")
        .join(name)
}

/// The test kernel, printing `message` and then ending as `end` says (`END_RESET`: QEMU
/// exits, `END_HANG`: spins forever).
fn test_kernel(dir: &Path, message: &str, end: &str) -> PathBuf {
    let out = dir.join(format!("kernel-{end}.elf"));
    let c_string = format!("\"{}\"", message.replace('\n', "\\r\\n"));
    let status = Command::new("gcc")
        .args([
            "-m32",
            "-nostdlib",
            "-static",
            "-Wl,-Ttext=0x100000",
            "-Wl,--build-id=none",
        ])
        .arg(format!("-D{end}"))
        .arg(format!("-DMESSAGE={c_string}"))
        .arg("-o")
        .arg(&out)
        .arg(fixture("multiboot.S"))
        .status()
        .expect("gcc runs");
    assert!(
        status.success(),
        "gcc -m32 failed: apt-get install gcc-multilib (or scripts/install-deps test)"
    );
    out
}

fn options(kernel: &Path, dir: &Path) -> BootOptions {
    require("qemu-system-x86_64", "qemu-system-x86");
    let mut options = BootOptions::new(kernel, dir.join("logs/console.log"));
    options.accel = Accel::Tcg;
    options.memory_mib = 64;
    options.timeout = Duration::from_secs(60);
    options
}

/// Processes whose command line mentions `needle` (the test's own console path).
fn processes_naming(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

#[test]
fn the_initramfs_lists_back_with_cpio() {
    require("cpio", "cpio");
    let dir = tempfile::tempdir().unwrap();
    let mut image = Initramfs::new();
    image.busybox(Initramfs::BUSYBOX).expect(
        "a static busybox at /bin/busybox: apt-get install busybox-static (or scripts/install-deps test)",
    );
    image.text("/init", "#!/bin/sh\necho hi\n", 0o755).unwrap();
    image
        .bytes("/lib/modules/kvm.ko", vec![0x7f, b'E', b'L', b'F'], 0o644)
        .unwrap();
    let path = dir.path().join("out/initramfs.cpio");
    image.write(&path).unwrap();
    let cpio = |args: &[&str]| {
        let out = Command::new("cpio")
            .args(args)
            .args(["--quiet", "-F"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let names = cpio(&["-t"]);
    let expected: Vec<String> = image
        .paths()
        .map(|p| p.trim_start_matches('/').to_string())
        .collect();
    assert_eq!(names.lines().collect::<Vec<_>>(), expected, "{names}");
    let long = cpio(&["-t", "-v"]);
    let line = |name: &str| {
        long.lines()
            .find(|l| l.ends_with(&format!(" {name}")) || l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("{name} not listed:\n{long}"))
            .to_string()
    };
    assert!(line("init").starts_with("-rwxr-xr-x"), "{}", line("init"));
    assert!(line("bin/sh").starts_with('l') && line("bin/sh").ends_with("bin/sh -> busybox"));
    assert!(line("dev/console").starts_with("crw-------"));
    assert!(line("lib/modules").starts_with('d'));
    // The busybox inside is the host's, byte for byte.
    let extract = tempfile::tempdir().unwrap();
    let out = Command::new("cpio")
        .args(["-i", "-d", "--quiet", "-F"])
        .arg(&path)
        .arg("bin/busybox")
        .current_dir(extract.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read(extract.path().join("bin/busybox")).unwrap(),
        std::fs::read(Initramfs::BUSYBOX).unwrap()
    );
}

#[test]
fn a_guest_result_is_read_from_the_serial_console_and_qemu_ends() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = test_kernel(
        dir.path(),
        "booting\nKFORGE-BOOT begin\nKFORGE-BOOT answer 42\nKFORGE-BOOT end\n",
        "END_RESET",
    );
    let options = options(&kernel, dir.path());
    let booted = boot(&options).expect("boots");
    assert_eq!(booted.accel, AccelUsed::Tcg);
    assert!(booted.report.init_started && booted.report.finished);
    assert_eq!(booted.report.get("answer"), Some("42"));
    assert_eq!(booted.command[0], "qemu-system-x86_64");
    assert!(booted.command.windows(2).any(|w| w == ["-accel", "tcg"]));
    let console = std::fs::read_to_string(&booted.console_log).unwrap();
    assert!(console.starts_with("booting\r\n"), "{console:?}");
}

#[test]
fn a_kernel_panic_is_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = test_kernel(
        dir.path(),
        "Linux version 6.1.0\n[    0.82] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n",
        "END_RESET",
    );
    let err = boot(&options(&kernel, dir.path())).unwrap_err();
    match &err {
        Error::KernelPanic { line, .. } => assert_eq!(
            line,
            "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"
        ),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("Kernel panic - not syncing"));
}

#[test]
fn a_xen_panic_is_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = test_kernel(
        dir.path(),
        "(XEN) Xen version 4.17.5\n(XEN) ****************************************\n\
         (XEN) Panic on CPU 0:\n(XEN) dom0 kernel not specified. Check bootloader configuration\n\
         (XEN) ****************************************\n(XEN) Reboot in five seconds...\n",
        "END_RESET",
    );
    let err = boot(&options(&kernel, dir.path())).unwrap_err();
    match &err {
        Error::KernelPanic { line, .. } => assert_eq!(
            line,
            "(XEN) Panic on CPU 0: dom0 kernel not specified. Check bootloader configuration"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_guest_that_never_answers_is_stopped_at_the_deadline_and_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = test_kernel(dir.path(), "waiting for nothing\n", "END_HANG");
    let mut options = options(&kernel, dir.path());
    options.timeout = Duration::from_secs(3);
    let console = options.console_log.to_string_lossy().into_owned();
    let start = Instant::now();
    let err = boot(&options).unwrap_err();
    match &err {
        Error::NoResult {
            after, last_line, ..
        } => {
            assert_eq!(*after, Duration::from_secs(3));
            assert_eq!(last_line.as_deref(), Some("waiting for nothing"));
        }
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(processes_naming(&console), Vec::<i32>::new());
}

#[test]
fn an_interrupt_stops_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = test_kernel(dir.path(), "waiting\n", "END_HANG");
    let mut options = options(&kernel, dir.path());
    let flag = Arc::new(AtomicBool::new(false));
    options.interrupt = Some(Arc::clone(&flag));
    let console = options.console_log.to_string_lossy().into_owned();
    let raise = Arc::clone(&flag);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        raise.store(true, Ordering::SeqCst);
    });
    let start = Instant::now();
    let err = boot(&options).unwrap_err();
    assert!(err.is_interrupted(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(processes_naming(&console), Vec::<i32>::new());
}

#[test]
fn a_missing_qemu_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("bzImage");
    std::fs::write(&kernel, b"not booted").unwrap();
    let mut options = BootOptions::new(&kernel, dir.path().join("console.log"));
    options.accel = Accel::Tcg;
    options.qemu = "/nonexistent/qemu-system-x86_64".into();
    let err = boot(&options).unwrap_err();
    assert!(matches!(err, Error::QemuMissing { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("install the Debian package qemu-system-x86"),
        "{err}"
    );
    // Auto acceleration probes with the same program (or finds no /dev/kvm and takes TCG):
    // the same error either way, never a fallback that hides it.
    options.accel = Accel::Auto;
    assert!(matches!(
        boot(&options).unwrap_err(),
        Error::QemuMissing { .. }
    ));
}

#[test]
fn a_real_panic_console_gives_its_panic_line() {
    let log = std::fs::read_to_string(fixture("linux-6.1-tinyconfig-no-init.log")).unwrap();
    let report = GuestReport::parse(&log);
    assert!(report.kernel_started && !report.init_started && !report.finished);
    assert_eq!(
        report.panic.as_deref(),
        Some(
            "Kernel panic - not syncing: No working init found.  Try passing init= option to \
             kernel. See Linux Documentation/admin-guide/init.rst for guidance."
        )
    );
    let record = record_from(&report);
    assert_eq!(record.proven, None);
    assert!(!record.kernel_booted);
}

#[test]
fn a_real_kvm_proof_console_gives_the_record() {
    // Recorded from a Linux 6.1 tinyconfig + boot + KVM fragment kernel booted under TCG
    // (QEMU 7.2's default CPU has SVM, no VMX).
    let log = std::fs::read_to_string(fixture("linux-6.1-kvm-proof-tcg.log")).unwrap();
    let report = GuestReport::parse(&log);
    assert!(report.kernel_started && report.init_started && report.finished);
    assert_eq!(report.panic, None);
    let record = record_from(&report);
    assert_eq!(record.proven, Some(Proof::GuestRan));
    assert!(record.kernel_booted);
    assert_eq!(record.kernel_release.as_deref(), Some("6.1.192"));
    assert_eq!(record.modules_loaded, ["irqbypass", "kvm", "kvm-amd"]);
    assert_eq!(
        record.modules_failed.get("kvm-intel").map(String::as_str),
        Some("kvm: no hardware support for 'kvm_intel'")
    );
    assert_eq!(record.modules_failed.len(), 1);
    assert_eq!(record.hardware_virtualization, Some(true));
    assert_eq!(record.dev_kvm, Some(true));
    assert_eq!(record.guest_ran, Some(true));
    assert_eq!(record.guest_output.as_deref(), Some("4"));
    assert_eq!(
        record.guest_log.last().map(String::as_str),
        Some("kforge-guest-probe: guest halted after 3 exits")
    );
    assert!(Proof::GuestRan.sentence(&record).contains(
        "loaded irqbypass, kvm, kvm-amd and ran a guest through its /dev/kvm, which said \"4\""
    ));
    // The same log cut before the probe's result: /dev/kvm, but no guest.
    let cut = &log[..log.find("KFORGE-BOOT probe_exit").unwrap()];
    let record = record_from(&GuestReport::parse(cut));
    assert_eq!(record.proven, Some(Proof::DevKvm));
    assert_eq!(record.guest_ran, None);
}

#[test]
fn a_real_xen_dom0_console_gives_the_xen_record() {
    // Recorded from scripts/e2e-flows xen --boot: Xen 4.17.5's xen/xen booted under TCG with a
    // Linux 6.1 tinyconfig + boot + dom0 options kernel as dom0.
    let log = std::fs::read_to_string(fixture("xen-4.17.5-dom0-linux-6.1-tcg.log")).unwrap();
    assert!(
        log.contains("(XEN) Xen version 4.17.5"),
        "not a Xen console"
    );
    let report = GuestReport::parse(&log);
    assert!(report.kernel_started && report.init_started && report.finished);
    assert_eq!(report.panic, None);
    let record = kforge::boot::xen::record_from(&report);
    assert!(record.kernel_booted);
    assert_eq!(record.hypervisor.as_deref(), Some("xen"));
    assert_eq!(record.xen_version.as_deref(), Some("4.17.5"));
    assert_eq!(record.dom0, Some(true));
    assert_eq!(kforge::boot::xen::shortfall(&record), None);
    let headline = record.headline();
    assert!(
        headline.starts_with("PROVEN: Linux 6.1.")
            && headline.ends_with("runs as the control domain (dom0) on Xen 4.17.5"),
        "{headline}"
    );
    // The same log cut before dom0's capabilities: Xen, but not proven to be dom0.
    let cut = &log[..log.find("KFORGE-BOOT xen_capabilities").unwrap()];
    let record = kforge::boot::xen::record_from(&GuestReport::parse(cut));
    assert_eq!(record.dom0, None);
    assert!(
        kforge::boot::xen::shortfall(&record)
            .unwrap()
            .contains("/proc/xen/capabilities could not be read")
    );
    assert!(record.headline().starts_with("NOT PROVEN"));
}

#[test]
fn a_real_xen_panic_console_gives_xen_s_panic_line() {
    // Recorded from the same Xen with dom0_mem=8M: Xen refuses to build dom0 and panics.
    let log = std::fs::read_to_string(fixture("xen-4.17.5-dom0-mem-too-small-panic.log")).unwrap();
    let report = GuestReport::parse(&log);
    assert_eq!(
        report.panic.as_deref(),
        Some("(XEN) Panic on CPU 0: Domain 0 allocation is too small for kernel image")
    );
    assert!(!report.kernel_started && !report.init_started);
    let record = kforge::boot::xen::record_from(&report);
    assert!(!record.kernel_booted);
    assert_eq!(record.hypervisor, None);
}

/// The `boot` object of build.json from both real consoles: each proof's own fields are there,
/// the other proof's are left out, and the object reads back the same.
#[test]
fn the_boot_object_has_each_proofs_own_fields() {
    let keys = |record: &kforge::boot::BootRecord| -> Vec<String> {
        let value = serde_json::to_value(record).unwrap();
        let back: kforge::boot::BootRecord = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(&back, record, "the boot object does not read back");
        value.as_object().unwrap().keys().cloned().collect()
    };
    let kvm = record_from(&GuestReport::parse(
        &std::fs::read_to_string(fixture("linux-6.1-kvm-proof-tcg.log")).unwrap(),
    ));
    let kvm_keys = keys(&kvm);
    for present in [
        "accel",
        "duration_ms",
        "kernel_booted",
        "modules_loaded",
        "modules_failed",
        "dev_kvm",
        "guest_ran",
        "guest_output",
    ] {
        assert!(
            kvm_keys.iter().any(|k| k == present),
            "KVM boot lacks {present}: {kvm_keys:?}"
        );
    }
    for absent in ["hypervisor", "xen_version", "dom0"] {
        assert!(
            !kvm_keys.iter().any(|k| k == absent),
            "KVM boot has {absent}"
        );
    }
    let xen = kforge::boot::xen::record_from(&GuestReport::parse(
        &std::fs::read_to_string(fixture("xen-4.17.5-dom0-linux-6.1-tcg.log")).unwrap(),
    ));
    let xen_keys = keys(&xen);
    for present in [
        "accel",
        "duration_ms",
        "kernel_booted",
        "hypervisor",
        "xen_version",
        "dom0",
    ] {
        assert!(
            xen_keys.iter().any(|k| k == present),
            "Xen boot lacks {present}: {xen_keys:?}"
        );
    }
    for absent in [
        "dev_kvm",
        "guest_ran",
        "guest_output",
        "guest_log",
        "hardware_virtualization",
    ] {
        assert!(
            !xen_keys.iter().any(|k| k == absent),
            "Xen boot has {absent}"
        );
    }
}
