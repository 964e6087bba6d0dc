//! The KVM proof: a minimal kernel built from the same source and KVM fragment, booted under
//! QEMU, loads its own `irqbypass.ko`, `kvm.ko`, `kvm-intel.ko` and `kvm-amd.ko`, finds
//! `/dev/kvm` and runs a guest through it with the guest probe (`kforge-guest-probe`).
//!
//! [`guest_script`] is the guest's side (an `/init` body), [`record_from`] reads its report
//! into a [`BootRecord`], [`KvmBoot`] is the flow's side: the boot build directory and the
//! steps `boot-config`, `boot-olddefconfig`, `boot-verify-config`, `boot-kernel`,
//! `boot-initramfs` and `boot`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::console::{GuestReport, init_script};
use super::initramfs::Initramfs;
use super::{Accel, BootOptions, BootRecord};
use crate::error::Error;
use crate::kernel::{BaseConfig, FragmentSpec, KernelPlan};
use crate::record::Artifact;
use crate::reproduce::{quote_path, shell_line};
use crate::steps::{PlannedStep, Run};

type Result<T, E = Error> = std::result::Result<T, E>;

/// What a minimal x86_64 kernel needs on top of `tinyconfig` to boot under QEMU from an
/// initramfs, talk on the serial console and load modules (the user's KVM fragment follows).
pub const BOOT_FRAGMENT: &str = "\
# A tinyconfig kernel that boots under QEMU from a busybox initramfs, with a serial console
# and loadable modules, so the KVM modules built from the same fragment can be tried.
CONFIG_PRINTK=y
CONFIG_TTY=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_DEVTMPFS=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_MODULES=y
CONFIG_MODULE_UNLOAD=y
CONFIG_VIRTUALIZATION=y
CONFIG_HIGH_RES_TIMERS=y
";

/// The modules tried, in load order (`kvm.ko` needs `irqbypass.ko`), with their path in the
/// build directory.
pub const MODULES: &[(&str, &str)] = &[
    ("irqbypass", "virt/lib/irqbypass.ko"),
    ("kvm", "arch/x86/kvm/kvm.ko"),
    ("kvm-intel", "arch/x86/kvm/kvm-intel.ko"),
    ("kvm-amd", "arch/x86/kvm/kvm-amd.ko"),
];

/// How long the guest probe may run inside the booted kernel before it is killed.
pub const PROBE_SECONDS: u32 = 30;

/// Where the guest probe sits in the initramfs.
pub const GUEST_PROBE: &str = "/bin/kforge-guest-probe";

/// How far the KVM proof got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// The kernel booted and ran `/init`, but `kvm.ko` did not load.
    KernelBooted,
    /// `kvm.ko` loaded, but no `/dev/kvm` appeared.
    ModulesLoaded,
    /// The modules loaded, but the VM's CPU shows no hardware virtualization (no `vmx`/`svm`),
    /// so neither vendor module could drive it.
    NoHardwareVirtualization,
    /// `/dev/kvm` appeared, but no guest ran through it.
    DevKvm,
    /// A guest ran through the new `/dev/kvm` to its `hlt`.
    GuestRan,
}

impl Proof {
    /// One sentence for the summary.
    pub fn sentence(self, record: &BootRecord) -> String {
        let release = record
            .kernel_release
            .as_deref()
            .unwrap_or("the built kernel");
        match self {
            Proof::KernelBooted => format!("Linux {release} booted, but kvm.ko did not load"),
            Proof::ModulesLoaded => {
                format!("Linux {release} booted and loaded kvm.ko, but /dev/kvm did not appear")
            }
            Proof::NoHardwareVirtualization => format!(
                "Linux {release} booted and loaded kvm.ko, but the VM's CPU shows no hardware \
                 virtualization (vmx/svm), so there is no /dev/kvm"
            ),
            Proof::DevKvm => format!(
                "Linux {release} booted, loaded {} and created /dev/kvm, but no guest ran",
                record.modules_loaded.join(", ")
            ),
            Proof::GuestRan => format!(
                "Linux {release} booted, loaded {} and ran a guest through its /dev/kvm, which said {:?}",
                record.modules_loaded.join(", "),
                record.guest_output.as_deref().unwrap_or("")
            ),
        }
    }
}

/// The `/init` body of the proof: load each module (its result, insmod's words and the kernel's
/// messages), look for `vmx`/`svm` and `/dev/kvm`, run the probe if it is there.
pub fn guest_script(modules: &[&str]) -> String {
    let mut s = String::new();
    for m in modules {
        let _ = writeln!(
            s,
            "if [ -f /lib/modules/{m}.ko ]; then
  dmesg -c >/dev/null 2>&1
  if insmod /lib/modules/{m}.ko 2>/tmp/insmod.err; then say module_loaded {m}; else say module_failed {m}; fi
  while IFS= read -r l; do say module_insmod \"{m} $l\"; done </tmp/insmod.err
  dmesg -c 2>/dev/null | while IFS= read -r l; do say module_kmsg \"{m} $l\"; done
else
  say module_missing {m}
fi"
        );
    }
    let _ = write!(
        s,
        "if grep -qw -e vmx -e svm /proc/cpuinfo; then say hw_virt yes; else say hw_virt no; fi
if [ -c /dev/kvm ]; then say dev_kvm yes; else say dev_kvm no; fi
if [ -x {GUEST_PROBE} ]; then
  timeout -s KILL {PROBE_SECONDS} {GUEST_PROBE} >/tmp/probe.out 2>/tmp/probe.err
  status=$?
  if [ $status -eq 137 ]; then echo \"no result within {PROBE_SECONDS} s (killed)\" >>/tmp/probe.err; fi
  say probe_exit $status
  say_lines guest_output </tmp/probe.out
  say_lines guest_log </tmp/probe.err
else
  say probe_exit none
fi"
    );
    s
}

/// A kernel message without its `[    1.234567] ` time stamp.
fn without_timestamp(line: &str) -> &str {
    match line.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((stamp, rest)) if stamp.trim().parse::<f64>().is_ok() => rest.trim_start(),
        _ => line,
    }
}

/// The record of what the guest reported.
pub fn record_from(report: &GuestReport) -> BootRecord {
    let mut record = BootRecord {
        kernel_booted: report.init_started,
        kernel_release: report.get("uname").map(str::to_string),
        modules_loaded: report.all("module_loaded").map(str::to_string).collect(),
        ..BootRecord::default()
    };
    let mut kmsg: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut insmod: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (key, map) in [("module_kmsg", &mut kmsg), ("module_insmod", &mut insmod)] {
        for value in report.all(key) {
            let (m, line) = value.split_once(' ').unwrap_or((value, ""));
            let lines = map.entry(m).or_default();
            let line = without_timestamp(line);
            // The kernel prints some refusals twice ("no hardware support"): once is enough.
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    for m in report.all("module_failed") {
        let lines = kmsg
            .get(m)
            .filter(|l| !l.is_empty())
            .or_else(|| insmod.get(m))
            .map(|l| l.join("; "))
            .unwrap_or_else(|| "no message".into());
        record.modules_failed.insert(m.to_string(), lines);
    }
    for m in report.all("module_missing") {
        record
            .modules_failed
            .insert(m.to_string(), "not in the initramfs (not built)".into());
    }
    record.hardware_virtualization = report.get("hw_virt").map(|v| v == "yes");
    record.dev_kvm = report.get("dev_kvm").map(|v| v == "yes");
    match report.get("probe_exit") {
        None | Some("none") => {}
        Some(code) => {
            record.guest_ran = Some(code == "0");
            let output: Vec<&str> = report.all("guest_output").collect();
            record.guest_output = Some(output.join("\n"));
            record.guest_log = report.all("guest_log").map(str::to_string).collect();
        }
    }
    record.proven = proof_of(&record);
    record
}

fn proof_of(r: &BootRecord) -> Option<Proof> {
    if !r.kernel_booted {
        return None;
    }
    Some(if r.guest_ran == Some(true) {
        Proof::GuestRan
    } else if r.dev_kvm == Some(true) {
        Proof::DevKvm
    } else if !r.modules_loaded.iter().any(|m| m == "kvm") {
        Proof::KernelBooted
    } else if r.hardware_virtualization == Some(false) {
        Proof::NoHardwareVirtualization
    } else {
        Proof::ModulesLoaded
    })
}

/// The boot options of a flow (`--boot` and friends).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BootArgs {
    /// After the build, prove it: build a minimal kernel from the same source and fragments,
    /// boot it under QEMU, load its KVM modules and run a guest through its /dev/kvm.
    #[arg(long)]
    pub boot: bool,
    /// The guest probe, a static binary (`scripts/main` builds it: RUSTFLAGS='-C
    /// target-feature=+crt-static' cargo build -p kforge-guest-probe --release --target
    /// x86_64-unknown-linux-gnu). Without it the boot proves the modules and /dev/kvm only.
    #[arg(long, value_name = "FILE", requires = "boot")]
    pub guest_probe: Option<PathBuf>,
    /// QEMU acceleration: tcg, kvm, or auto (KVM when a short probe shows it works here).
    #[arg(long, value_enum, default_value = "auto", requires = "boot")]
    pub accel: Accel,
    /// Seconds the guest has to print its result before QEMU is stopped.
    #[arg(long, value_name = "SECS", default_value = "300", requires = "boot")]
    pub boot_timeout: u64,
    /// The QEMU program.
    #[arg(long, value_name = "PROGRAM", default_value = super::QEMU, requires = "boot")]
    pub qemu: PathBuf,
    /// A static busybox for the initramfs (Debian's busybox-static).
    #[arg(long, value_name = "FILE", default_value = Initramfs::BUSYBOX, requires = "boot")]
    pub busybox: PathBuf,
}

/// The flow's side of the proof: where the boot kernel is built and what goes into the image.
#[derive(Debug, Clone)]
pub struct KvmBoot {
    /// The boot kernel: same source, `tinyconfig` + [`BOOT_FRAGMENT`] + the KVM fragments, in
    /// its own build directory.
    pub kernel: KernelPlan,
    /// The options.
    pub args: BootArgs,
    /// Where the initramfs and the guest's files go.
    pub dir: PathBuf,
}

impl KvmBoot {
    /// The proof for a flow whose kernel is `main`, writing under `out`.
    pub fn new(main: &KernelPlan, args: &BootArgs, out: impl AsRef<Path>) -> KvmBoot {
        let out = out.as_ref();
        let mut fragments = vec![FragmentSpec::Builtin("boot.config", BOOT_FRAGMENT)];
        fragments.extend(main.fragments.iter().cloned());
        KvmBoot {
            kernel: KernelPlan {
                src: main.src.clone(),
                build: out.join("boot-build"),
                arch: main.arch.clone(),
                base: BaseConfig::Tinyconfig,
                fragments,
                verify_mode: main.verify_mode,
                fix_tree: false,
                config_dir: out.join("boot-config"),
            },
            args: args.clone(),
            dir: out.join("boot"),
        }
    }

    fn initramfs(&self) -> PathBuf {
        self.dir.join("initramfs.cpio")
    }

    fn bzimage(&self) -> PathBuf {
        self.kernel.build.join("arch/x86/boot/bzImage")
    }

    fn boot_options(&self, run: &Run) -> BootOptions {
        let mut options = BootOptions::new(self.bzimage(), run.logs().join("boot-console.log"));
        options.qemu = self.args.qemu.clone();
        options.initrd = Some(self.initramfs());
        options.accel = self.args.accel;
        options.timeout = Duration::from_secs(self.args.boot_timeout);
        // The proof runs a nested VM: under TCG, guest time must follow instructions.
        options.tcg_icount_shift = Some(3);
        options.interrupt = Some(Arc::clone(run.interrupt()));
        options
    }

    /// The planned steps.
    pub fn planned_steps(&self, run: &Run) -> Vec<PlannedStep> {
        let k = &self.kernel;
        let mut olddefconfig = k.tree(run);
        olddefconfig.log_dir(run.logs().join("boot"));
        let options = self.boot_options(run);
        let accel = match self.args.accel {
            Accel::Kvm => super::AccelUsed::Kvm,
            _ => super::AccelUsed::Tcg,
        };
        vec![
            PlannedStep::new(
                "boot-config",
                "Boot kernel: tinyconfig + boot options + the KVM fragments, in its own build directory",
                k.config_commands(run),
            ),
            PlannedStep::new(
                "boot-olddefconfig",
                "Resolve the boot kernel's config",
                vec![k.command(run, &["olddefconfig"], &[])],
            ),
            PlannedStep::new(
                "boot-verify-config",
                "Verify every requested boot kernel value landed",
                vec![format!(
                    "# grep the final {}/.config for each requested value",
                    k.build.display()
                )],
            ),
            PlannedStep::new(
                "boot-kernel",
                "Build the boot kernel and its modules (bzImage modules)",
                vec![k.command(run, &["bzImage", "modules"], &[])],
            ),
            PlannedStep::new(
                "boot-initramfs",
                "Make the initramfs: busybox, the KVM modules, the guest probe, /init",
                vec![format!(
                    "# kforge writes {} (newc): {}, {}, {}, /init",
                    quote_path(self.initramfs()),
                    self.args.busybox.display(),
                    MODULES
                        .iter()
                        .map(|(_, p)| *p)
                        .collect::<Vec<_>>()
                        .join(" "),
                    self.args
                        .guest_probe
                        .as_ref()
                        .map_or("no guest probe".into(), |p| p.display().to_string())
                )],
            ),
            PlannedStep::new(
                "boot",
                "Boot it under QEMU: load irqbypass, kvm, kvm-intel, kvm-amd; run a guest through /dev/kvm",
                vec![format!(
                    "{}{}",
                    shell_line(options.command_line(accel)),
                    if self.args.accel == Accel::Auto {
                        "   # auto: -accel kvm -cpu host when KVM works here"
                    } else {
                        ""
                    }
                )],
            ),
        ]
    }

    /// Run the steps (after the flow's own).
    pub fn run(&self, run: &mut Run) -> Result<()> {
        let k = &self.kernel;
        // The boot kernel's config record goes into `boot_config`; the flow's own stays.
        let main_config = run.record.config.take();
        let configured = run.step("boot-config", |run| k.configure(run));
        let boot_config = std::mem::replace(&mut run.record.config, main_config);
        let configured = configured?;
        run.step("boot-olddefconfig", |run| {
            run.command_started("olddefconfig");
            let mut tree = k.tree(run);
            tree.log_dir(run.logs().join("boot"));
            let resolved = tree.olddefconfig()?;
            run.record_outcome(&resolved.outcome);
            Ok(())
        })?;
        let main_config = std::mem::replace(&mut run.record.config, boot_config);
        let main_text = run.verification_text().map(str::to_string);
        let verified = run.step("boot-verify-config", |run| k.verify(run, &configured));
        let boot_config = std::mem::replace(&mut run.record.config, main_config);
        // The summary keeps the flow's own verification, the boot kernel's after it.
        if let Some(boot_text) = run.verification_text().map(str::to_string) {
            let text = match main_text {
                Some(main) => format!("{main}\nboot kernel: {boot_text}"),
                None => format!("boot kernel: {boot_text}"),
            };
            run.set_verification_text(text);
        }
        verified?;
        run.step("boot-kernel", |run| {
            run.command_started("bzImage modules");
            let mut make = k.tree(run).make(["bzImage", "modules"]);
            make.log_file(run.logs().join("boot-kernel.log"));
            let outcome = make.run()?;
            run.record_outcome(&outcome);
            for path in std::iter::once(self.bzimage())
                .chain(MODULES.iter().map(|(_, p)| k.build.join(p)))
                .filter(|p| p.is_file())
            {
                run.record
                    .artifacts
                    .push(Artifact::of(&path).map_err(|e| Error::io("hash", &path, e))?);
            }
            Ok(())
        })?;
        let mut record = BootRecord::default();
        run.step("boot-initramfs", |run| {
            let mut image = Initramfs::new();
            image.busybox(&self.args.busybox)?;
            let mut present = Vec::new();
            for (name, path) in MODULES {
                let ko = k.build.join(path);
                if ko.is_file() {
                    image.file(&format!("/lib/modules/{name}.ko"), &ko, 0o644)?;
                    present.push(*name);
                }
            }
            if let Some(probe) = &self.args.guest_probe {
                image.file(GUEST_PROBE, probe, 0o755)?;
            }
            let names: Vec<&str> = MODULES.iter().map(|(n, _)| *n).collect();
            image.text("/init", &init_script(&guest_script(&names)), 0o755)?;
            image.write(self.initramfs())?;
            run.step_note(format!(
                "{}: busybox, {} module(s) ({}), {}",
                self.initramfs().display(),
                present.len(),
                present.join(", "),
                if self.args.guest_probe.is_some() {
                    "the guest probe"
                } else {
                    "no guest probe (--guest-probe not given)"
                }
            ));
            Ok(())
        })?;
        let result = run.step("boot", |run| {
            let options = self.boot_options(run);
            let booted = super::boot(&options);
            let console = std::fs::read(&options.console_log).unwrap_or_default();
            let report = GuestReport::parse(&String::from_utf8_lossy(&console));
            record = record_from(&report);
            record.config = boot_config.clone();
            record.console_log = Some(options.console_log.clone());
            match &booted {
                Ok(b) => {
                    record.accel = Some(b.accel);
                    record.accel_note = b.accel_note.clone();
                    record.duration_ms = u64::try_from(b.duration.as_millis()).unwrap_or(u64::MAX);
                    record.qemu_command = b.command.clone();
                    run.set_commands(vec![shell_line(b.command.iter())]);
                    if let Some(note) = &b.accel_note {
                        run.step_note(note.clone());
                    }
                    run.step_note(format!(
                        "booted with {} in {:.1} s",
                        b.accel,
                        b.duration.as_secs_f64()
                    ));
                }
                Err(e) => record.error = Some(e.to_string()),
            }
            for (m, message) in &record.modules_failed {
                run.step_note(format!("{m}: {message}"));
            }
            let proven = record.proven;
            run.record.boot = Some(record.clone());
            booted?;
            let proven = proven.ok_or_else(|| {
                Error::refused("the guest's /init did not run (see logs/boot-console.log)")
            })?;
            run.step_note(proven.sentence(&record));
            let wanted = if self.args.guest_probe.is_some() {
                Proof::GuestRan
            } else {
                Proof::DevKvm
            };
            if proven < wanted {
                let mut message = format!("the boot stopped short: {}", proven.sentence(&record));
                if !record.guest_log.is_empty() {
                    let _ = write!(message, " (guest probe: {})", record.guest_log.join("; "));
                }
                return Err(Error::refused(message));
            }
            Ok(())
        });
        if let Some(boot) = run.record.boot.as_mut() {
            boot.error = result.as_ref().err().map(|e| e.to_string());
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_messages_lose_their_timestamp() {
        assert_eq!(
            without_timestamp("[    1.234567] kvm: no hardware support for 'kvm_intel'"),
            "kvm: no hardware support for 'kvm_intel'"
        );
        assert_eq!(without_timestamp("[not a stamp] x"), "[not a stamp] x");
    }
}
