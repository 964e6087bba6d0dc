//! Boot what was built: a kernel (and an initramfs) under QEMU, its serial console captured to
//! a log, the result its `/init` prints read back.
//!
//! - [`initramfs`]: a newc initramfs (busybox, modules, a probe, an `/init`).
//! - [`console`]: the `/init` protocol (`KFORGE-BOOT <key> <value>` lines) and the console
//!   log parser, which also finds the kernel's banner and panic line.
//! - [`boot`]: QEMU under kforge's process supervisor (own process group, deadline, interrupt
//!   flag, SIGTERM then SIGKILL; nothing outlives the call). The guest ends the machine with
//!   `reboot -f` (QEMU runs with `-no-reboot`, so a reboot ends QEMU), and the kernel runs with
//!   `panic=-1`, so a panic ends it at once too.
//! - [`flow`]: the flow's side shared by the proofs: a minimal kernel in its own build
//!   directory, verified, and the `boot` step that keeps the `boot` object of `build.json`.
//! - [`kvm`]: the KVM proof (load `irqbypass`, `kvm`, `kvm-intel`, `kvm-amd`, look for
//!   `/dev/kvm`, run the guest probe) and its record.
//! - [`xen`]: the Xen proof (the hypervisor `xen/xen` boots a minimal dom0, which reports the
//!   hypervisor, its version and whether it is the control domain) and its record.
//!
//! Acceleration is [`Accel::Tcg`] (QEMU's emulator: works everywhere), [`Accel::Kvm`]
//! (`-accel kvm -cpu host`), or [`Accel::Auto`]: KVM when a short probe shows this host's
//! `/dev/kvm` runs QEMU's firmware, else TCG, with the reason in [`Booted::accel_note`].
//!
//! ```no_run
//! use kforge::boot::{Accel, BootOptions, boot, console::init_script, initramfs::Initramfs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut image = Initramfs::new();
//! image.busybox(Initramfs::BUSYBOX)?;
//! image.text("/init", &init_script("say answer 42"), 0o755)?;
//! image.write("out/initramfs.cpio")?;
//! let mut options = BootOptions::new("build/arch/x86/boot/bzImage", "out/console.log");
//! options.initrd = Some("out/initramfs.cpio".into());
//! options.accel = Accel::Auto;
//! let booted = boot(&options)?;
//! assert_eq!(booted.report.get("answer"), Some("42"));
//! # Ok(()) }
//! ```

pub mod console;
pub mod flow;
pub mod initramfs;
pub mod kvm;
pub mod xen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use console::GuestReport;

/// The Debian package that provides `qemu-system-x86_64`.
pub const QEMU_PACKAGE: &str = "qemu-system-x86";

/// The QEMU program booted by default.
pub const QEMU: &str = "qemu-system-x86_64";

/// How long [`Accel::Auto`] watches QEMU's firmware run under KVM before it trusts KVM.
pub const KVM_PROBE_TIME: Duration = Duration::from_secs(2);

/// Which acceleration QEMU should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// QEMU's emulator (TCG): slower, works on every host.
    Tcg,
    /// KVM with the host's CPU model (`-accel kvm -cpu host`); fails when KVM cannot run it.
    Kvm,
    /// KVM when a short probe shows it works here, else TCG (the reason is reported).
    #[default]
    Auto,
}

/// The acceleration a boot used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelUsed {
    /// QEMU's emulator.
    Tcg,
    /// KVM.
    Kvm,
}

impl std::fmt::Display for AccelUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccelUsed::Tcg => "tcg",
            AccelUsed::Kvm => "kvm",
        })
    }
}

/// The boot options every flow's `--boot` shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BootArgs {
    /// After the build, prove it by booting under QEMU. KVM flow: a minimal kernel from the
    /// same source and fragments loads its KVM modules and runs a guest through its /dev/kvm.
    /// Xen flow: the built hypervisor (xen/xen) boots a minimal dom0 kernel, which checks that
    /// it runs on Xen as the control domain.
    #[arg(long)]
    pub boot: bool,
    /// QEMU acceleration: tcg, kvm, or auto (KVM when a short probe shows it works here).
    #[arg(long, value_enum, default_value = "auto", requires = "boot")]
    pub accel: Accel,
    /// Seconds the guest has to print its result before QEMU is stopped.
    #[arg(long, value_name = "SECS", default_value = "300", requires = "boot")]
    pub boot_timeout: u64,
    /// The QEMU program.
    #[arg(long, value_name = "PROGRAM", default_value = QEMU, requires = "boot")]
    pub qemu: PathBuf,
    /// A static busybox for the initramfs (Debian's busybox-static).
    #[arg(long, value_name = "FILE", default_value = initramfs::Initramfs::BUSYBOX, requires = "boot")]
    pub busybox: PathBuf,
}

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// The QEMU program ([`QEMU`] by default, looked up on `PATH`).
    pub qemu: PathBuf,
    /// The kernel (`-kernel`): a bzImage, or a multiboot image such as `xen/xen`.
    pub kernel: PathBuf,
    /// The initramfs (`-initrd`), if any. For multiboot module lists use [`BootOptions::initrd_arg`].
    pub initrd: Option<PathBuf>,
    /// The `-initrd` argument as given (a multiboot module list `FILE ARGS,FILE`), instead of
    /// [`BootOptions::initrd`].
    pub initrd_arg: Option<String>,
    /// The kernel command line (`-append`). `console=ttyS0 panic=-1` by default.
    pub append: String,
    /// Guest memory in MiB (256 by default).
    pub memory_mib: u32,
    /// Acceleration.
    pub accel: Accel,
    /// The deadline for the guest's result, from QEMU's start.
    pub timeout: Duration,
    /// Where the serial console goes (written as the guest runs).
    pub console_log: PathBuf,
    /// Under TCG, tie guest time to executed instructions (`-icount shift=N,sleep=off`, 2^N ns
    /// per instruction, idle time skipped) instead of the host's clock. A guest that runs a
    /// nested VM (the KVM proof) needs it on a busy host: there, timer interrupts that follow
    /// the host's clock can arrive faster than TCG emulates the nested guest's entry, and the
    /// nested guest never runs (measured at load ~19: without it the guest probe hung in 2 of 3
    /// boots; with `shift=3` a boot and three probe runs took 21.9 s, with `shift=0` 90 s, every
    /// run ended). Ignored under KVM.
    pub tcg_icount_shift: Option<u8>,
    /// More QEMU arguments.
    pub extra_args: Vec<String>,
    /// Stop QEMU when this flag is raised (Ctrl-C).
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl BootOptions {
    /// Boot `kernel` with the defaults, the console going to `console_log`.
    pub fn new(kernel: impl AsRef<Path>, console_log: impl AsRef<Path>) -> BootOptions {
        BootOptions {
            qemu: PathBuf::from(QEMU),
            kernel: kernel.as_ref().to_path_buf(),
            initrd: None,
            initrd_arg: None,
            append: "console=ttyS0 panic=-1".into(),
            memory_mib: 256,
            accel: Accel::Auto,
            timeout: Duration::from_secs(120),
            tcg_icount_shift: None,
            console_log: console_log.as_ref().to_path_buf(),
            extra_args: Vec::new(),
            interrupt: None,
        }
    }

    /// The QEMU command line for `accel` (what [`boot`] runs and `reproduce.sh` repeats).
    pub fn command_line(&self, accel: AccelUsed) -> Vec<String> {
        let mut line = vec![self.qemu.to_string_lossy().into_owned()];
        let mut push = |words: &[&str]| line.extend(words.iter().map(|w| w.to_string()));
        match (accel, self.tcg_icount_shift) {
            (AccelUsed::Tcg, None) => push(&["-accel", "tcg"]),
            (AccelUsed::Tcg, Some(shift)) => push(&[
                "-accel",
                "tcg",
                "-icount",
                &format!("shift={shift},sleep=off"),
            ]),
            (AccelUsed::Kvm, _) => push(&["-accel", "kvm", "-cpu", "host"]),
        }
        let memory = self.memory_mib.to_string();
        let serial = format!("file:{}", self.console_log.display());
        push(&[
            "-m",
            &memory,
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-serial",
            &serial,
            "-net",
            "none",
        ]);
        push(&["-kernel", &self.kernel.to_string_lossy()]);
        if let Some(arg) = &self.initrd_arg {
            push(&["-initrd", arg]);
        } else if let Some(initrd) = &self.initrd {
            push(&["-initrd", &initrd.to_string_lossy()]);
        }
        push(&["-append", &self.append]);
        line.extend(self.extra_args.iter().cloned());
        line
    }
}

/// A boot that printed its result.
#[derive(Debug, Clone)]
pub struct Booted {
    /// The acceleration used.
    pub accel: AccelUsed,
    /// Why it is not the one asked for (auto fell back to TCG, and why).
    pub accel_note: Option<String>,
    /// From QEMU's start to its exit.
    pub duration: Duration,
    /// The QEMU command line, as run.
    pub command: Vec<String>,
    /// The serial console log.
    pub console_log: PathBuf,
    /// What the console says.
    pub report: GuestReport,
}

/// Why a boot gave no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// QEMU is not installed.
    #[error(
        "{} not found: install the Debian package {QEMU_PACKAGE} (apt-get install {QEMU_PACKAGE}, \
         or scripts/install-deps main)",
        program.display()
    )]
    QemuMissing {
        /// The program looked for.
        program: PathBuf,
    },
    /// A file the boot needs is not there.
    #[error("{what} {} does not exist", path.display())]
    Missing {
        /// `kernel` or `initramfs`.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// KVM acceleration was asked for and does not work here.
    #[error("KVM acceleration does not work on this host: {reason} (use --accel tcg, or auto)")]
    KvmUnusable {
        /// What the probe saw.
        reason: String,
    },
    /// The kernel (or Xen) panicked; the panic line is the message.
    #[error("{line} (console: {})", console.display())]
    KernelPanic {
        /// `Kernel panic - not syncing: …`.
        line: String,
        /// The console log.
        console: PathBuf,
    },
    /// The guest printed no complete result before the deadline; QEMU was stopped.
    #[error(
        "the guest printed no result within {} s; QEMU was stopped (last console line: {}; console: {})",
        after.as_secs(),
        last_line.as_deref().unwrap_or("none"),
        console.display()
    )]
    NoResult {
        /// The deadline.
        after: Duration,
        /// The console's last line.
        last_line: Option<String>,
        /// The console log.
        console: PathBuf,
    },
    /// QEMU ended before the guest printed its result.
    #[error(
        "QEMU ended ({status}) before the guest printed its result: {stderr} (last console line: {}; console: {})",
        last_line.as_deref().unwrap_or("none"),
        console.display()
    )]
    QemuEnded {
        /// Its exit status.
        status: String,
        /// What it said on stderr (last lines).
        stderr: String,
        /// The console's last line.
        last_line: Option<String>,
        /// The console log.
        console: PathBuf,
    },
    /// The interrupt flag was raised; QEMU was stopped.
    #[error("the boot was interrupted; QEMU was stopped")]
    Interrupted,
    /// A file could not be written or read.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was tried.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for QEMU failed.
    #[error("supervising QEMU failed")]
    Supervise(#[source] kforge_process::Error),
}

impl Error {
    /// Whether the boot stopped because the interrupt flag was raised.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted)
    }
}

/// Choose the acceleration for `options` (running the KVM probe for [`Accel::Auto`] and
/// [`Accel::Kvm`]): the choice and, when auto fell back, why.
pub fn choose_accel(options: &BootOptions) -> Result<(AccelUsed, Option<String>), Error> {
    match options.accel {
        Accel::Tcg => Ok((AccelUsed::Tcg, None)),
        Accel::Kvm => match probe_kvm(options)? {
            None => Ok((AccelUsed::Kvm, None)),
            Some(reason) => Err(Error::KvmUnusable { reason }),
        },
        Accel::Auto => match probe_kvm(options)? {
            None => Ok((AccelUsed::Kvm, None)),
            Some(reason) => Ok((
                AccelUsed::Tcg,
                Some(format!(
                    "KVM acceleration is not usable ({reason}): using TCG"
                )),
            )),
        },
    }
}

/// Whether QEMU's firmware runs under `-accel kvm -cpu host` here: `None` when it does, else
/// why not. Watches QEMU for [`KVM_PROBE_TIME`], then stops it.
pub fn probe_kvm(options: &BootOptions) -> Result<Option<String>, Error> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Ok(Some(format!("cannot open /dev/kvm: {e}")));
    }
    // The firmware's debug console, kept beside the boot's console log.
    let firmware_log = options.console_log.with_extension("kvm-probe.log");
    if let Some(parent) = firmware_log.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            action: "create the directory",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let _ = std::fs::remove_file(&firmware_log);
    let mut command = Command::new(&options.qemu);
    command.args([
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-m",
        "64",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-global",
        "isa-debugcon.iobase=0x402",
        "-debugcon",
    ]);
    command.arg(format!("file:{}", firmware_log.display()));
    let supervised = kforge_process::Options::new()
        .timeout(KVM_PROBE_TIME)
        .grace(Duration::from_secs(2))
        .interrupt_opt(options.interrupt.as_deref());
    let ran = kforge_process::run(&mut command, &supervised);
    let firmware = std::fs::read_to_string(&firmware_log).unwrap_or_default();
    match ran {
        // Still running at the deadline: fine if the firmware got to print.
        Err(kforge_process::Error::TimedOut { .. }) if firmware.contains("SeaBIOS") => Ok(None),
        Err(kforge_process::Error::TimedOut { .. }) => Ok(Some(format!(
            "QEMU's firmware printed nothing in {} s under KVM",
            KVM_PROBE_TIME.as_secs()
        ))),
        Err(e) => Err(process_error(e, &options.qemu)),
        Ok(captured) => {
            let stderr = String::from_utf8_lossy(&captured.stderr);
            let said = stderr
                .lines()
                .find(|l| l.contains("error") || l.contains("failed"))
                .or_else(|| stderr.lines().last())
                .unwrap_or("no message")
                .trim()
                .to_string();
            Ok(Some(format!(
                "`-accel kvm -cpu host` ended QEMU at once ({}): {said}",
                captured.status
            )))
        }
    }
}

fn process_error(err: kforge_process::Error, qemu: &Path) -> Error {
    match err {
        kforge_process::Error::Spawn { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Error::QemuMissing {
                program: qemu.to_path_buf(),
            }
        }
        kforge_process::Error::Interrupted { .. } => Error::Interrupted,
        other => Error::Supervise(other),
    }
}

/// Boot under QEMU until the guest prints `KFORGE-BOOT end` and ends the machine, the kernel
/// panics, QEMU ends, the deadline passes or the interrupt flag is raised. QEMU is stopped
/// (SIGTERM, then SIGKILL) and reaped before this returns, whatever happened.
pub fn boot(options: &BootOptions) -> Result<Booted, Error> {
    for (what, path) in [
        ("kernel", Some(&options.kernel)),
        ("initramfs", options.initrd.as_ref()),
    ] {
        if let Some(path) = path.filter(|p| !p.exists()) {
            return Err(Error::Missing {
                what,
                path: path.clone(),
            });
        }
    }
    let (accel, accel_note) = choose_accel(options)?;
    if let Some(parent) = options.console_log.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            action: "create the directory",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    // QEMU appends to an existing file: start from an empty log.
    std::fs::write(&options.console_log, b"").map_err(|source| Error::Io {
        action: "write",
        path: options.console_log.clone(),
        source,
    })?;
    let line = options.command_line(accel);
    let mut command = Command::new(&line[0]);
    command.args(&line[1..]);
    tracing::info!(command = %kforge_process::describe(&command), %accel, "booting");
    let supervised = kforge_process::Options::new()
        .timeout(options.timeout)
        .grace(Duration::from_secs(3))
        .interrupt_opt(options.interrupt.as_deref());
    let started = Instant::now();
    let ran = kforge_process::run(&mut command, &supervised);
    let duration = started.elapsed();
    let console = std::fs::read(&options.console_log).map_err(|source| Error::Io {
        action: "read",
        path: options.console_log.clone(),
        source,
    })?;
    let report = GuestReport::parse(&String::from_utf8_lossy(&console));
    let console_log = options.console_log.clone();
    if let Some(line) = report.panic.clone() {
        return Err(Error::KernelPanic {
            line,
            console: console_log,
        });
    }
    match ran {
        Ok(_) if report.finished => Ok(Booted {
            accel,
            accel_note,
            duration,
            command: line,
            console_log,
            report,
        }),
        Ok(captured) => {
            let stderr = String::from_utf8_lossy(&captured.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            Err(Error::QemuEnded {
                status: captured.status.to_string(),
                stderr: if tail.is_empty() {
                    "no message".into()
                } else {
                    tail.into_iter().rev().collect::<Vec<_>>().join("; ")
                },
                last_line: report.last_line,
                console: console_log,
            })
        }
        Err(kforge_process::Error::TimedOut { after, .. }) => Err(Error::NoResult {
            after,
            last_line: report.last_line,
            console: console_log,
        }),
        Err(e) => Err(process_error(e, &options.qemu)),
    }
}

/// The `boot` object of `build.json`: what the boot proved. Fields that belong to the other
/// proof (the KVM guest's for a Xen boot, the hypervisor's for a KVM boot) are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BootRecord {
    /// `tcg` or `kvm`.
    pub accel: Option<AccelUsed>,
    /// Why the acceleration is not the one asked for.
    pub accel_note: Option<String>,
    /// From QEMU's start to its exit.
    pub duration_ms: u64,
    /// The furthest point the boot reached.
    pub proven: Option<kvm::Proof>,
    /// The kernel started and ran `/init`.
    pub kernel_booted: bool,
    /// The kernel release the guest reported (`uname -r`).
    pub kernel_release: Option<String>,
    /// Modules that loaded, in order.
    pub modules_loaded: Vec<String>,
    /// Modules that did not load: name → the kernel's message (or insmod's).
    pub modules_failed: std::collections::BTreeMap<String, String>,
    /// KVM: whether the VM's CPU shows hardware virtualization (`vmx` or `svm` in `/proc/cpuinfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_virtualization: Option<bool>,
    /// KVM: whether `/dev/kvm` appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_kvm: Option<bool>,
    /// KVM: whether the guest probe ran a VM to its `hlt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_ran: Option<bool>,
    /// What the probe's guest wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_output: Option<String>,
    /// The probe's own lines (or its error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guest_log: Vec<String>,
    /// The hypervisor dom0 runs on (`/sys/hypervisor/type`), for Xen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor: Option<String>,
    /// Xen's version as dom0 sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xen_version: Option<String>,
    /// Whether the domain is Xen's control domain (`/proc/xen/capabilities` = `control_d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dom0: Option<bool>,
    /// The boot kernel's configuration (base, fragments, verification).
    pub config: Option<crate::record::ConfigRecord>,
    /// The QEMU command line.
    pub qemu_command: Vec<String>,
    /// The serial console log.
    pub console_log: Option<PathBuf>,
    /// The error, when the boot failed.
    pub error: Option<String>,
}

impl BootRecord {
    /// One line saying what the boot proved (or where it stopped).
    pub fn headline(&self) -> String {
        let how = match (self.accel, self.duration_ms) {
            (Some(accel), ms) if ms > 0 => format!(" ({accel}, {:.1} s)", ms as f64 / 1000.0),
            _ => String::new(),
        };
        if self.hypervisor.is_some() || self.dom0.is_some() {
            return match xen::shortfall(self) {
                Some(why) => format!("NOT PROVEN: {why}{how}"),
                None => format!(
                    "PROVEN: Linux {} runs as the control domain (dom0) on Xen {}{how}",
                    self.kernel_release
                        .as_deref()
                        .unwrap_or("(release unknown)"),
                    self.xen_version.as_deref().unwrap_or("(version unknown)"),
                ),
            };
        }
        match (self.proven, &self.error) {
            (Some(kvm::Proof::GuestRan), _) => {
                format!("PROVEN: {}{how}", kvm::Proof::GuestRan.sentence(self))
            }
            (Some(proof), _) => format!("NOT PROVEN: {}{how}", proof.sentence(self)),
            (None, Some(err)) => format!("NOT PROVEN: {err}"),
            (None, None) => "NOT PROVEN: the guest's /init did not run".into(),
        }
    }
}
