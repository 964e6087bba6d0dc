//! The KVM proof: a minimal kernel built from the same source and KVM fragment, booted under
//! QEMU, loads its own `irqbypass.ko`, `kvm.ko`, `kvm-intel.ko` and `kvm-amd.ko`, finds
//! `/dev/kvm` and runs a guest through it with the guest probe (`kforge-guest-probe`).
//!
//! [`guest_script`] is the guest's side (an `/init` body), [`record_from`] reads its report
//! into a [`BootRecord`], [`KvmBoot`] is the flow's side: the boot kernel (a
//! [`BootKernel`]: steps `boot-config`, `boot-olddefconfig`, `boot-verify-config`,
//! `boot-kernel`), then `boot-initramfs` and `boot`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::console::{GuestReport, init_script};
use super::flow::{BootKernel, boot_step};
use super::initramfs::Initramfs;
use super::{BootArgs, BootOptions, BootRecord};
use crate::error::Error;
use crate::kernel::{FragmentSpec, KernelPlan};
use crate::reproduce::quote_path;
use crate::steps::{PlannedStep, Run};

type Result<T, E = Error> = std::result::Result<T, E>;

/// What the KVM proof's kernel needs on top of `tinyconfig` and [`BOOT_FRAGMENT`](super::flow::BOOT_FRAGMENT): loadable
/// modules, so the KVM modules built from the user's fragment can be tried.
pub const KVM_BOOT_FRAGMENT: &str = "\
# Loadable modules, so the KVM modules built from the same fragment can be tried.
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

/// The KVM flow's boot options: the common ones and the guest probe.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KvmBootArgs {
    /// The options every flow's `--boot` shares.
    #[command(flatten)]
    pub common: BootArgs,
    /// The guest probe, a static binary (`scripts/main` builds it: RUSTFLAGS='-C
    /// target-feature=+crt-static' cargo build -p kforge-guest-probe --release --target
    /// x86_64-unknown-linux-gnu). Without it the boot proves the modules and /dev/kvm only.
    #[arg(long, value_name = "FILE", requires = "boot")]
    pub guest_probe: Option<PathBuf>,
}

/// The flow's side of the proof: the boot kernel and what goes into the image.
#[derive(Debug, Clone)]
pub struct KvmBoot {
    /// The boot kernel: same source, `tinyconfig` + [`BOOT_FRAGMENT`](super::flow::BOOT_FRAGMENT) + [`KVM_BOOT_FRAGMENT`] +
    /// the KVM fragments, in its own build directory, with its modules.
    pub kernel: BootKernel,
    /// The options.
    pub args: KvmBootArgs,
    /// Where the initramfs and the guest's files go.
    pub dir: PathBuf,
}

impl KvmBoot {
    /// The proof for a flow whose kernel is `main`, writing under `out`.
    pub fn new(main: &KernelPlan, args: &KvmBootArgs, out: impl AsRef<Path>) -> KvmBoot {
        let out = out.as_ref();
        let mut fragments = vec![FragmentSpec::Builtin("boot-kvm.config", KVM_BOOT_FRAGMENT)];
        fragments.extend(main.fragments.iter().cloned());
        let mut kernel = BootKernel::new(&main.src, &main.arch, fragments, main.verify_mode, out);
        kernel.about = "the KVM fragments".into();
        kernel.targets = vec!["bzImage", "modules"];
        KvmBoot {
            kernel,
            args: args.clone(),
            dir: out.join("boot"),
        }
    }

    fn initramfs(&self) -> PathBuf {
        self.dir.join("initramfs.cpio")
    }

    fn boot_options(&self, run: &Run) -> BootOptions {
        let mut options = self.args.common.options(self.kernel.bzimage(), run);
        options.initrd = Some(self.initramfs());
        // The proof runs a nested VM: under TCG, guest time must follow instructions.
        options.tcg_icount_shift = Some(3);
        options
    }

    /// The planned steps.
    pub fn planned_steps(&self, run: &Run) -> Vec<PlannedStep> {
        let mut steps = self.kernel.planned_steps(run);
        steps.push(PlannedStep::new(
            "boot-initramfs",
            "Make the initramfs: busybox, the KVM modules, the guest probe, /init",
            vec![format!(
                "# kforge writes {} (newc): {}, {}, {}, /init",
                quote_path(self.initramfs()),
                self.args.common.busybox.display(),
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
        ));
        steps.push(PlannedStep::new(
            "boot",
            "Boot it under QEMU: load irqbypass, kvm, kvm-intel, kvm-amd; run a guest through /dev/kvm",
            vec![self.args.common.planned_line(&self.boot_options(run))],
        ));
        steps
    }

    /// Run the steps (after the flow's own).
    pub fn run(&self, run: &mut Run) -> Result<()> {
        let module_paths: Vec<&str> = MODULES.iter().map(|(_, p)| *p).collect();
        let boot_config = self.kernel.build(run, &module_paths)?;
        let build = &self.kernel.kernel.build;
        run.step("boot-initramfs", |run| {
            let mut image = Initramfs::new();
            image.busybox(&self.args.common.busybox)?;
            let mut present = Vec::new();
            for (name, path) in MODULES {
                let ko = build.join(path);
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
        let options = self.boot_options(run);
        boot_step(run, &options, boot_config, record_from, |run, record| {
            for (m, message) in &record.modules_failed {
                run.step_note(format!("{m}: {message}"));
            }
            let proven = record.proven.ok_or_else(|| {
                Error::refused("the guest's /init did not run (see logs/boot-console.log)")
            })?;
            run.step_note(proven.sentence(record));
            let wanted = if self.args.guest_probe.is_some() {
                Proof::GuestRan
            } else {
                Proof::DevKvm
            };
            if proven < wanted {
                let mut message = format!("the boot stopped short: {}", proven.sentence(record));
                if !record.guest_log.is_empty() {
                    let _ = write!(message, " (guest probe: {})", record.guest_log.join("; "));
                }
                return Err(Error::refused(message));
            }
            Ok(())
        })
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
