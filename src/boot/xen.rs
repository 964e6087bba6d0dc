//! The Xen proof: the hypervisor the flow built (`xen/xen`, the multiboot ELF `make dist-xen`
//! leaves) boots under QEMU with a minimal dom0 kernel built from the user's Linux source, and
//! dom0 reports what it runs on: `/sys/hypervisor/type`, Xen's version
//! (`/sys/hypervisor/version/{major,minor,extra}`) and `/proc/xen/capabilities` (`control_d`:
//! the control domain).
//!
//! QEMU loads Xen as a multiboot kernel; the dom0 kernel (with its command line) and the
//! initramfs are its multiboot modules, given as one `-initrd` list ([`multiboot_modules`]).
//! The guest's `/init` reboots when it is done; Xen then resets the machine, and QEMU, run
//! with `-no-reboot`, exits. A Xen panic (`Panic on CPU N:`) resets it too, after five
//! seconds, and its message is the error.
//!
//! [`guest_script`] is dom0's side, [`record_from`] reads its report into a [`BootRecord`],
//! [`XenBoot`] is the flow's side: the dom0 kernel (a [`BootKernel`]), then `boot-initramfs`
//! and `boot`.

use std::path::{Path, PathBuf};

use super::console::{GuestReport, init_script};
use super::flow::{BootKernel, boot_step};
use super::initramfs::Initramfs;
use super::{BootArgs, BootOptions, BootRecord};
use crate::error::Error;
use crate::kernel::FragmentSpec;
use crate::reproduce::quote_path;
use crate::steps::{PlannedStep, Run};

type Result<T, E = Error> = std::result::Result<T, E>;

/// What a dom0 kernel needs on top of `tinyconfig` and [`BOOT_FRAGMENT`](super::flow::BOOT_FRAGMENT) to run on Xen as its
/// control domain and report it: PV guest support, dom0, the Xen console (`hvc0`),
/// `/sys/hypervisor` and xenfs (`/proc/xen`).
pub const DOM0_BOOT_FRAGMENT: &str = "\
# A minimal dom0: a Xen PV guest that may be the control domain, on the Xen console (hvc0),
# with /sys/hypervisor and /proc/xen (xenfs) for the report.
CONFIG_HYPERVISOR_GUEST=y
CONFIG_PARAVIRT=y
CONFIG_XEN=y
CONFIG_XEN_PV=y
CONFIG_PCI=y
CONFIG_ACPI=y
CONFIG_XEN_DOM0=y
CONFIG_HVC_XEN=y
CONFIG_XEN_SYS_HYPERVISOR=y
CONFIG_XENFS=y
CONFIG_XEN_COMPAT_XENFS=y
";

/// Memory given to dom0 (`dom0_mem=`), MiB.
pub const DOM0_MEMORY_MIB: u32 = 256;

/// Memory of the emulated machine, MiB: dom0's and Xen's own.
pub const MACHINE_MEMORY_MIB: u32 = 512;

/// Xen's command line: its console on the first serial port, dom0's memory.
pub fn xen_command_line() -> String {
    format!("console=com1 dom0_mem={DOM0_MEMORY_MIB}M")
}

/// dom0's command line: the Xen console, early messages through Xen, and a panic that resets
/// the machine at once (which ends QEMU).
pub const DOM0_COMMAND_LINE: &str = "console=hvc0 earlyprintk=xen panic=-1";

/// The `/init` body of the proof: what dom0 sees of the hypervisor.
pub fn guest_script() -> String {
    "mount -t xenfs xenfs /proc/xen 2>/dev/null
h=/sys/hypervisor
if [ -r $h/type ]; then say hypervisor \"$(cat $h/type)\"; else say hypervisor none; fi
if [ -r $h/version/major ]; then
  say xen_version \"$(cat $h/version/major).$(cat $h/version/minor)$(cat $h/version/extra)\"
fi
if [ -r /proc/xen/capabilities ]; then
  say xen_capabilities \"$(cat /proc/xen/capabilities)\"
else
  say xen_capabilities none
fi"
    .to_string()
}

/// The record of what dom0 reported.
pub fn record_from(report: &GuestReport) -> BootRecord {
    BootRecord {
        kernel_booted: report.init_started,
        kernel_release: report.get("uname").map(str::to_string),
        hypervisor: report
            .get("hypervisor")
            .filter(|h| *h != "none")
            .map(str::to_string),
        xen_version: report.get("xen_version").map(str::to_string),
        dom0: report
            .get("xen_capabilities")
            .map(|c| c.split(',').any(|cap| cap.trim() == "control_d")),
        ..BootRecord::default()
    }
}

/// Why the record is not the proof (dom0 on Xen as the control domain), or `None` when it is.
pub fn shortfall(record: &BootRecord) -> Option<String> {
    let release = record
        .kernel_release
        .as_deref()
        .unwrap_or("the dom0 kernel");
    if !record.kernel_booted {
        return Some("dom0's /init did not run (see logs/boot-console.log)".into());
    }
    match (&record.hypervisor, record.dom0) {
        (Some(h), Some(true)) if h == "xen" => None,
        (None, _) => Some(format!(
            "Linux {release} booted but sees no hypervisor (/sys/hypervisor/type is missing)"
        )),
        (Some(h), _) if h != "xen" => Some(format!(
            "Linux {release} booted but /sys/hypervisor/type says {h:?}, not xen"
        )),
        (Some(_), Some(false)) => Some(format!(
            "Linux {release} runs on Xen but not as the control domain (/proc/xen/capabilities \
             has no control_d)"
        )),
        (Some(_), _) => Some(format!(
            "Linux {release} runs on Xen, but /proc/xen/capabilities could not be read (is \
             CONFIG_XENFS set?)"
        )),
    }
}

/// QEMU's `-initrd` for a multiboot kernel: the dom0 kernel with its command line, then the
/// initramfs, comma-separated (a comma in a path is doubled, as QEMU reads the list). QEMU ends
/// a module's file name at the first space, so a path with a space is refused.
pub fn multiboot_modules(
    dom0: impl AsRef<Path>,
    dom0_command_line: &str,
    initramfs: impl AsRef<Path>,
) -> Result<String> {
    let word = |path: &Path| -> Result<String> {
        let text = path.to_str().ok_or_else(|| {
            Error::refused(format!(
                "{} is not UTF-8: QEMU's multiboot module list cannot name it",
                path.display()
            ))
        })?;
        if text.contains(char::is_whitespace) {
            return Err(Error::refused(format!(
                "{text:?} has a space: QEMU ends a multiboot module's file name at the first \
                 space, so Xen's dom0 cannot be loaded from there; use an output directory \
                 without spaces (--out)"
            )));
        }
        Ok(text.replace(',', ",,"))
    };
    Ok(format!(
        "{} {},{}",
        word(dom0.as_ref())?,
        dom0_command_line.replace(',', ",,"),
        word(initramfs.as_ref())?
    ))
}

/// The initramfs's file name in the boot directory.
const INITRAMFS: &str = "initramfs.cpio";

/// The flow's side of the proof: the dom0 kernel, the hypervisor and the image.
#[derive(Debug, Clone)]
pub struct XenBoot {
    /// The dom0 kernel: `tinyconfig` + [`BOOT_FRAGMENT`](super::flow::BOOT_FRAGMENT) + [`DOM0_BOOT_FRAGMENT`], in its own
    /// build directory (the flow's dom0 fragments are not merged: their backends need a full
    /// kernel).
    pub kernel: BootKernel,
    /// The hypervisor to boot (`xen/xen` in the Xen tree).
    pub xen: PathBuf,
    /// The options.
    pub args: BootArgs,
    /// Where the initramfs goes.
    pub dir: PathBuf,
    /// QEMU's `-initrd`: the dom0 kernel with its command line, then the initramfs.
    modules: String,
}

impl XenBoot {
    /// The proof for a Xen tree `xen_dir` with a dom0 from the Linux source `src` (ARCH
    /// `arch`), writing under `out`. Refused at once when QEMU could not load the modules from
    /// there (see [`multiboot_modules`]), before anything is built.
    pub fn new(
        xen_dir: impl AsRef<Path>,
        src: impl AsRef<Path>,
        arch: &str,
        verify_mode: kforge_kconfig::Mode,
        args: &BootArgs,
        out: impl AsRef<Path>,
    ) -> Result<XenBoot> {
        let out = out.as_ref();
        let fragments = vec![FragmentSpec::Builtin(
            "boot-dom0.config",
            DOM0_BOOT_FRAGMENT,
        )];
        let mut kernel = BootKernel::new(src, arch, fragments, verify_mode, out);
        kernel.about = "dom0 options".into();
        let dir = out.join("boot");
        let modules = multiboot_modules(kernel.bzimage(), DOM0_COMMAND_LINE, dir.join(INITRAMFS))?;
        Ok(XenBoot {
            kernel,
            xen: xen_dir.as_ref().join("xen/xen"),
            args: args.clone(),
            dir,
            modules,
        })
    }

    fn initramfs(&self) -> PathBuf {
        self.dir.join(INITRAMFS)
    }

    /// The QEMU options: Xen as the kernel, dom0 and the initramfs as its modules.
    pub fn boot_options(&self, run: &Run) -> BootOptions {
        let mut options = self.args.options(&self.xen, run);
        options.initrd_arg = Some(self.modules.clone());
        options.append = xen_command_line();
        options.memory_mib = MACHINE_MEMORY_MIB;
        options
    }

    /// The planned steps (after the flow's step that leaves `xen/xen`).
    pub fn planned_steps(&self, run: &Run) -> Vec<PlannedStep> {
        let mut steps = self.kernel.planned_steps(run);
        steps.push(PlannedStep::new(
            "boot-initramfs",
            "Make dom0's initramfs: busybox, /init",
            vec![format!(
                "# kforge writes {} (newc): {}, /init",
                quote_path(self.initramfs()),
                self.args.busybox.display(),
            )],
        ));
        let line = self.args.planned_line(&self.boot_options(run));
        steps.push(PlannedStep::new(
            "boot",
            "Boot Xen under QEMU with the dom0 kernel; dom0 reports the hypervisor, its version \
             and whether it is the control domain",
            vec![line],
        ));
        steps
    }

    /// Run the steps.
    pub fn run(&self, run: &mut Run) -> Result<()> {
        let boot_config = self.kernel.build(run, &[])?;
        run.step("boot-initramfs", |run| {
            let mut image = Initramfs::new();
            image.busybox(&self.args.busybox)?;
            image.text("/init", &init_script(&guest_script()), 0o755)?;
            image.write(self.initramfs())?;
            run.step_note(format!("{}: busybox, /init", self.initramfs().display()));
            Ok(())
        })?;
        let options = self.boot_options(run);
        boot_step(run, &options, boot_config, record_from, |run, record| {
            if let Some(why) = shortfall(record) {
                return Err(Error::refused(format!("the boot stopped short: {why}")));
            }
            run.step_note(record.headline());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_list_doubles_commas_and_refuses_spaces() {
        assert_eq!(
            multiboot_modules("/o/bzImage", "console=hvc0", "/o/a,b.cpio").unwrap(),
            "/o/bzImage console=hvc0,/o/a,,b.cpio"
        );
        let err = multiboot_modules("/my out/bzImage", "x", "/o/i.cpio").unwrap_err();
        assert!(err.to_string().contains("has a space"), "{err}");
    }
}
