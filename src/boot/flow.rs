//! The flow's side of a boot, shared by the KVM and the Xen proofs: a minimal kernel in its own
//! build directory (`tinyconfig` + [`BOOT_FRAGMENT`] + the proof's fragments, verified like a
//! flow's main config) and the `boot` step that runs QEMU and writes the `boot` object of
//! `build.json`.
//!
//! [`BootKernel`] gives the steps `boot-config`, `boot-olddefconfig`, `boot-verify-config` and
//! `boot-kernel`; [`boot_step`] the step `boot`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::console::GuestReport;
use super::{Accel, AccelUsed, BootArgs, BootOptions, BootRecord};
use crate::error::Error;
use crate::kernel::{BaseConfig, FragmentSpec, KernelPlan};
use crate::record::{Artifact, ConfigRecord};
use crate::reproduce::shell_line;
use crate::steps::{PlannedStep, Run};

type Result<T, E = Error> = std::result::Result<T, E>;

/// What a minimal x86_64 kernel needs on top of `tinyconfig` to boot under QEMU from a busybox
/// initramfs and talk on the serial console (each proof adds its own fragment).
pub const BOOT_FRAGMENT: &str = "\
# A tinyconfig kernel that boots under QEMU from a busybox initramfs, with a serial console.
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
";

/// A minimal kernel for a boot: its own build directory, `tinyconfig` + [`BOOT_FRAGMENT`] + the
/// proof's fragments, the make targets it needs.
#[derive(Debug, Clone)]
pub struct BootKernel {
    /// The kernel plan (source, build directory, fragments).
    pub kernel: KernelPlan,
    /// What the kernel is, for the plan ("the KVM fragments", "dom0 options").
    pub about: String,
    /// The make targets (`bzImage`, and `modules` when the proof loads modules).
    pub targets: Vec<&'static str>,
}

impl BootKernel {
    /// A boot kernel from the source `src` for `arch`, its build directory `out/boot-build`,
    /// `fragments` after [`BOOT_FRAGMENT`].
    pub fn new(
        src: impl AsRef<Path>,
        arch: &str,
        fragments: Vec<FragmentSpec>,
        verify_mode: kforge_kconfig::Mode,
        out: impl AsRef<Path>,
    ) -> BootKernel {
        let out = out.as_ref();
        let mut all = vec![FragmentSpec::Builtin("boot.config", BOOT_FRAGMENT)];
        all.extend(fragments);
        BootKernel {
            kernel: KernelPlan {
                src: src.as_ref().to_path_buf(),
                build: out.join("boot-build"),
                arch: arch.to_string(),
                base: BaseConfig::Tinyconfig,
                fragments: all,
                verify_mode,
                fix_tree: false,
                config_dir: out.join("boot-config"),
            },
            about: "boot options".into(),
            targets: vec!["bzImage"],
        }
    }

    /// The kernel image the build leaves.
    pub fn bzimage(&self) -> PathBuf {
        self.kernel.build.join("arch/x86/boot/bzImage")
    }

    /// The planned steps `boot-config` … `boot-kernel`.
    pub fn planned_steps(&self, run: &Run) -> Vec<PlannedStep> {
        let k = &self.kernel;
        let targets = self.targets.join(" ");
        vec![
            PlannedStep::new(
                "boot-config",
                &format!(
                    "Boot kernel: tinyconfig + boot options + {}, in its own build directory",
                    self.about
                ),
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
                &format!("Build the boot kernel ({targets})"),
                vec![k.command(run, &self.targets, &[])],
            ),
        ]
    }

    /// Run `boot-config` … `boot-kernel`, recording the image and each of `artifacts` (paths in
    /// the build directory) that was built. Returns the boot kernel's config record (the flow's
    /// own stays in `build.json`'s `config`).
    pub fn build(&self, run: &mut Run, artifacts: &[&str]) -> Result<Option<ConfigRecord>> {
        let k = &self.kernel;
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
            let targets = self.targets.join(" ");
            run.command_started(&targets);
            let mut make = k.tree(run).make(self.targets.iter().copied());
            make.log_file(run.logs().join("boot-kernel.log"));
            let outcome = make.run()?;
            run.record_outcome(&outcome);
            for path in std::iter::once(self.bzimage())
                .chain(artifacts.iter().map(|p| k.build.join(p)))
                .filter(|p| p.is_file())
            {
                run.record
                    .artifacts
                    .push(Artifact::of(&path).map_err(|e| Error::io("hash", &path, e))?);
            }
            Ok(())
        })?;
        Ok(boot_config)
    }
}

impl BootArgs {
    /// QEMU options for booting `kernel` in `run`: the console in `logs/boot-console.log`, the
    /// acceleration, time limit and QEMU of these arguments, Ctrl-C stopping QEMU.
    pub fn options(&self, kernel: impl AsRef<Path>, run: &Run) -> BootOptions {
        let mut options = BootOptions::new(kernel, run.logs().join("boot-console.log"));
        options.qemu = self.qemu.clone();
        options.accel = self.accel;
        options.timeout = Duration::from_secs(self.boot_timeout);
        options.interrupt = Some(Arc::clone(run.interrupt()));
        options
    }

    /// The planned `boot` step's command: the QEMU line (TCG's unless KVM is forced; auto says
    /// that it may take KVM).
    pub fn planned_line(&self, options: &BootOptions) -> String {
        let accel = match self.accel {
            Accel::Kvm => AccelUsed::Kvm,
            _ => AccelUsed::Tcg,
        };
        format!(
            "{}{}",
            shell_line(options.command_line(accel)),
            if self.accel == Accel::Auto {
                "   # auto: -accel kvm -cpu host when KVM works here"
            } else {
                ""
            }
        )
    }
}

/// The step `boot`: boot with `options`, read the console into a [`BootRecord`] with `read`
/// (the boot kernel's `config` added), keep it as `build.json`'s `boot`, then let `judge` say
/// whether what the guest reported is the proof wanted. The record's `error` is the step's.
pub fn boot_step(
    run: &mut Run,
    options: &BootOptions,
    config: Option<ConfigRecord>,
    read: impl Fn(&GuestReport) -> BootRecord,
    judge: impl FnOnce(&mut Run, &BootRecord) -> Result<()>,
) -> Result<()> {
    let result = run.step("boot", |run| {
        let booted = super::boot(options);
        let mut record = match &booted {
            Ok(b) => read(&b.report),
            // What the console shows of a boot that failed (a panic, no result, Ctrl-C).
            Err(_) => {
                let console = std::fs::read(&options.console_log).unwrap_or_default();
                read(&GuestReport::parse(&String::from_utf8_lossy(&console)))
            }
        };
        record.config = config;
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
        run.record.boot = Some(record.clone());
        booted?;
        judge(run, &record)
    });
    if let Some(boot) = run.record.boot.as_mut() {
        boot.error = result.as_ref().err().map(|e| e.to_string());
    }
    result
}
