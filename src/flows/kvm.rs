//! The KVM HOWTO ("Quick HOWTO for building Qumranet's KVM", January 2008) as a flow.
//!
//! ```text
//! tar xzf linux-2.6.23.tar.gz                              -> fetch + verify + extract
//! cp /boot/config-2.6.23 .config                           -> running config + KVM fragment,
//! make oldconfig prepare scripts                              olddefconfig + verify in O=,
//!                                                             modules_prepare
//! (KVM's kernel modules)                                   -> make O=… M=arch/x86/kvm modules
//! aptitude install gcc-3.4                                 -> select the compiler by requirement
//! ./configure --qemu-cc=gcc-3.4 --kerneldir=… --prefix=…   -> ./configure
//! make all install                                         -> make all install
//! ```
//!
//! Modern mode (the default) builds today's in-tree KVM modules (`kvm.ko`, `kvm-intel.ko`,
//! `kvm-amd.ko`) from a Linux tarball, by default Debian's `linux-source-6.1`. HOWTO mode keeps
//! the 2008 sources, URLs and versions.

use std::path::PathBuf;
use std::sync::Arc;

use kforge_kbuild::{Configure, Make};
use kforge_kconfig::{BuildDir, Config, Mode as VerifyMode};
use kforge_toolchain::{Discovery, Requirement, Selection};

use super::{Common, Finished, Mode, files_under};
use crate::error::{Context as _, Error};
use crate::kernel::{BaseConfig, FragmentSpec, KernelPlan, modpost_symvers_warning};
use crate::observe::Observer;
use crate::record::{Artifact, CompilerRecord};
use crate::reproduce::{ArchiveFetch, archive_stem, fetch_commands, quote_path, shell_line};
use crate::steps::{PlannedStep, Run};

type Result<T, E = Error> = std::result::Result<T, E>;

/// The HOWTO's kernel.
pub const HOWTO_KERNEL_URL: &str =
    "https://www.kernel.org/pub/linux/kernel/v2.6/linux-2.6.23.tar.gz";
/// The HOWTO's KVM snapshot.
pub const HOWTO_USERLAND_URL: &str =
    "https://downloads.sourceforge.net/project/kvm/kvm/snapshots/kvm-snapshot-20080117.tar.gz";
/// Debian's packaged Linux 6.1 sources (`apt-get install linux-source-6.1`).
pub const MODERN_KERNEL_URL: &str = "file:///usr/src/linux-source-6.1.tar.xz";
/// The HOWTO's compiler requirement for QEMU's code generator.
pub const HOWTO_CC_REQUIREMENT: &str = "gcc >=3.2, <4";

/// The KVM fragment. The HOWTO builds KVM as modules; `CONFIG_MODULES=y` is there because a
/// running kernel built without module support (as many VM and container kernels are) turns
/// every `=m` into nothing.
pub const KVM_FRAGMENT: &str = "\
# KVM as modules, as the HOWTO builds them.
# MODULES=y: without it Kconfig cannot build anything as a module and every =m below is lost.
CONFIG_MODULES=y
CONFIG_VIRTUALIZATION=y
CONFIG_KVM=m
CONFIG_KVM_INTEL=m
CONFIG_KVM_AMD=m
";

/// Build KVM the way the 2008 HOWTO did, on today's sources by default.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "kvm", version)]
pub struct Args {
    /// Which sources and steps: today's, or the HOWTO's own.
    #[arg(long, value_enum, default_value = "modern")]
    pub mode: Mode,
    /// Kernel tarball URL (http, https or file). Default: modern Debian's linux-source-6.1,
    /// howto linux-2.6.23 from kernel.org.
    #[arg(long, value_name = "URL")]
    pub kernel: Option<String>,
    /// sha256 of the kernel tarball.
    #[arg(long, value_name = "HEX")]
    pub kernel_sha256: Option<String>,
    /// Base config: `running` (/proc/config.gz or /boot/config-$(uname -r)), `defconfig`, or
    /// a .config file.
    #[arg(long, value_name = "running|defconfig|FILE", default_value = "running")]
    pub config: String,
    /// Config fragment merged over the base, in order (repeatable). Default: the built-in KVM
    /// fragment (CONFIG_MODULES=y, CONFIG_VIRTUALIZATION=y, CONFIG_KVM=m, _INTEL=m, _AMD=m).
    #[arg(long, value_name = "FILE")]
    pub fragment: Vec<PathBuf>,
    /// Report lost config values as warnings instead of failing.
    #[arg(long)]
    pub warn_only: bool,
    /// Move a stray .config out of the kernel source tree (into the build directory) instead
    /// of failing the O= cleanliness check.
    #[arg(long)]
    pub fix_tree: bool,
    /// ARCH for the kernel (always passed explicitly: a bare x86 tinyconfig is 32-bit).
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Module directory built with M= (relative to the kernel tree). Default: modern
    /// arch/x86/kvm; howto none (the snapshot builds its own modules).
    #[arg(long, value_name = "DIR")]
    pub modules: Option<String>,
    /// Skip the M= module build.
    #[arg(long)]
    pub no_modules: bool,
    /// Userland tarball (a kvm snapshot or QEMU): configure, make, install it. Default: none
    /// in modern mode, kvm-snapshot-20080117 in howto mode.
    #[arg(long, value_name = "URL")]
    pub userland: Option<String>,
    /// sha256 of the userland tarball.
    #[arg(long, value_name = "HEX")]
    pub userland_sha256: Option<String>,
    /// Compiler requirement for the userland (the HOWTO's QEMU needs GCC 3.2-3.4).
    #[arg(long, value_name = "REQ", default_value = HOWTO_CC_REQUIREMENT)]
    pub cc_req: String,
    /// The configure flag naming the compiler (howto: --qemu-cc, modern: --cc).
    #[arg(long, value_name = "FLAG")]
    pub cc_flag: Option<String>,
    /// Install prefix of the userland (howto: /opt/kvm-snapshot-20080117; modern:
    /// `<out>/install`).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// Extra ./configure argument (repeatable), e.g. --target-list=x86_64-softmmu.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub configure_arg: Vec<String>,
    /// Patch applied to the userland with `patch -p1` before it is configured (repeatable),
    /// e.g. Debian's QEMU patches for its dfsg tarball.
    #[arg(long, value_name = "FILE")]
    pub userland_patch: Vec<PathBuf>,
    /// The configure flag naming the prepared kernel; empty to leave it out (today's QEMU
    /// has no --kerneldir).
    #[arg(long, value_name = "FLAG", default_value = "--kerneldir")]
    pub kerneldir_flag: String,
    /// Userland make targets (default: all install).
    #[arg(long, value_name = "TARGET")]
    pub userland_target: Vec<String>,
    /// Boot options (`--boot`: prove the build by booting it).
    #[command(flatten)]
    pub boot: crate::boot::kvm::KvmBootArgs,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

struct Settings {
    kernel_url: String,
    userland_url: Option<String>,
    modules: Option<String>,
    cc_flag: String,
    prefix: PathBuf,
    userland_targets: Vec<String>,
    kernel: KernelPlan,
    userland_dir: Option<PathBuf>,
    kerneldir_flag: String,
    out: PathBuf,
    boot: Option<crate::boot::kvm::KvmBoot>,
}

fn settings(args: &Args) -> Result<Settings> {
    let howto = args.mode == Mode::Howto;
    let out = args
        .common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("kforge-kvm-out"));
    let out = std::path::absolute(&out).unwrap_or(out);
    let kernel_url = args.kernel.clone().unwrap_or_else(|| {
        if howto {
            HOWTO_KERNEL_URL
        } else {
            MODERN_KERNEL_URL
        }
        .to_string()
    });
    let userland_url = args
        .userland
        .clone()
        .or_else(|| howto.then(|| HOWTO_USERLAND_URL.to_string()));
    let modules = if args.no_modules {
        None
    } else {
        args.modules
            .clone()
            .or_else(|| (!howto).then(|| "arch/x86/kvm".to_string()))
    };
    let fragments = if args.fragment.is_empty() {
        vec![FragmentSpec::Builtin("kvm.config", KVM_FRAGMENT)]
    } else {
        args.fragment
            .iter()
            .cloned()
            .map(FragmentSpec::File)
            .collect()
    };
    let userland_dir = userland_url
        .as_deref()
        .map(|u| out.join("src").join(archive_stem(u)));
    let prefix = args.prefix.clone().unwrap_or_else(|| match &userland_url {
        Some(u) if howto => PathBuf::from("/opt").join(archive_stem(u)),
        _ => out.join("install"),
    });
    let kernel = KernelPlan {
        src: out.join("src").join(archive_stem(&kernel_url)),
        build: out.join("linux-build"),
        arch: args.arch.clone(),
        base: BaseConfig::from_arg(&args.config),
        fragments,
        verify_mode: if args.warn_only {
            VerifyMode::Warn
        } else {
            VerifyMode::Strict
        },
        fix_tree: args.fix_tree,
        config_dir: out.join("config"),
    };
    if args.boot.common.boot && howto {
        return Err(Error::refused(
            "--boot needs --mode modern: the HOWTO's Linux 2.6.23 does not build with today's \
             compilers, so there is no kernel to boot",
        ));
    }
    let boot = args
        .boot
        .common
        .boot
        .then(|| crate::boot::kvm::KvmBoot::new(&kernel, &args.boot, &out));
    Ok(Settings {
        boot,
        kernel_url,
        userland_url,
        modules,
        cc_flag: args
            .cc_flag
            .clone()
            .unwrap_or_else(|| if howto { "--qemu-cc" } else { "--cc" }.into()),
        prefix,
        userland_targets: if args.userland_target.is_empty() {
            vec!["all".into(), "install".into()]
        } else {
            args.userland_target.clone()
        },
        kernel,
        userland_dir,
        kerneldir_flag: args.kerneldir_flag.clone(),
        out,
    })
}

fn configure_line(s: &Settings, cc: &str, extra: &[String]) -> Vec<String> {
    let mut line = vec![
        "./configure".to_string(),
        format!("{}={cc}", s.cc_flag.trim_end_matches('=')),
    ];
    if !s.kerneldir_flag.is_empty() {
        line.push(format!(
            "{}={}",
            s.kerneldir_flag.trim_end_matches('='),
            s.kernel.build.display()
        ));
    }
    line.push(format!("--prefix={}", s.prefix.display()));
    line.extend(extra.iter().cloned());
    line
}

fn plan(args: &Args, s: &Settings, run_for_commands: &Run) -> Vec<PlannedStep> {
    let k = &s.kernel;
    let mut steps = Vec::new();
    if s.userland_url.is_some() {
        steps.push(PlannedStep::new(
            "select-compiler",
            &format!("Select the userland compiler by \"{}\"", args.cc_req),
            vec![format!(
                "# the newest C compiler on PATH satisfying \"{}\" (checked first, so a miss fails early)",
                args.cc_req
            )],
        ));
    }
    steps.extend(k.planned_steps(
        run_for_commands,
        &s.kernel_url,
        args.kernel_sha256.as_deref(),
        "kernel",
    ));
    steps.push(PlannedStep::new(
        "modules-prepare",
        "Prepare the tree for external modules (the HOWTO's `make prepare scripts`)",
        vec![k.command(run_for_commands, &["modules_prepare"], &[])],
    ));
    if let Some(dir) = &s.modules {
        steps.push(PlannedStep::new(
            "kvm-modules",
            &format!("Build the KVM modules (M={dir})"),
            vec![k.command(run_for_commands, &["modules"], &[("M", dir)])],
        ));
    }
    if let Some(dir) = &s.modules
        && run_for_commands.options().repro_check
    {
        steps.push(PlannedStep::new(
            "repro-check",
            "Rebuild the KVM modules in a second build directory (a longer path, later, another \
             user name) and compare them by sha256",
            vec![
                format!(
                    "cp {}/.config {}/.config",
                    quote_path(&k.build),
                    quote_path(crate::steps::repro_check_dir(&k.build))
                ),
                format!(
                    "# olddefconfig, modules_prepare and M={dir} modules there with USER=LOGNAME={}, then sha256sum both",
                    crate::steps::CHECK_USER
                ),
            ],
        ));
    }
    if let (Some(url), Some(dir)) = (&s.userland_url, &s.userland_dir) {
        steps.push(PlannedStep::new(
            "fetch-userland",
            "Fetch, verify and extract the userland",
            {
                fetch_commands(&ArchiveFetch {
                    url,
                    mirrors: &run_for_commands.options().mirrors,
                    sha256: args.userland_sha256.as_deref(),
                    strip_components: 1,
                    dest: dir,
                    patches: &args.userland_patch,
                })
            },
        ));
        steps.push(PlannedStep::new(
            "configure-userland",
            if s.kerneldir_flag.is_empty() {
                "./configure with the selected compiler and --prefix"
            } else {
                "./configure with the selected compiler, --kerneldir and --prefix"
            },
            vec![format!(
                "(cd {} && {})",
                quote_path(dir),
                shell_line(configure_line(
                    s,
                    "<selected compiler>",
                    &args.configure_arg
                ))
            )],
        ));
        steps.push(PlannedStep::new(
            "make-userland",
            &format!("make {}", s.userland_targets.join(" ")),
            vec![shell_line(
                userland_make_planned(run_for_commands, dir, &s.userland_targets).command_line(),
            )],
        ));
    }
    if let Some(boot) = &s.boot {
        steps.extend(boot.planned_steps(run_for_commands));
    }
    steps
}

/// The second build directory of the reproducibility check: beside the first, a longer path.
/// Rebuild the modules in [`repro_check_dir`](crate::steps::repro_check_dir) from the same `.config` and compare them.
fn repro_check(s: &Settings, run: &mut Run, dir: &str) -> Result<()> {
    let first = &s.kernel.build;
    let second = crate::steps::repro_check_dir(&s.kernel.build);
    let names: Vec<PathBuf> = s
        .kernel
        .built_modules(dir)
        .iter()
        .filter_map(|ko| ko.strip_prefix(first).ok().map(PathBuf::from))
        .collect();
    let config = Config::read(first.join(".config"))?;
    let check_plan = KernelPlan {
        build: second.clone(),
        ..s.kernel.clone()
    };
    let src = s.kernel.src.clone();
    let check = run.repro_check(first, &second, &names, &[src], |run, env| {
        BuildDir::new(&second).install_config(&config)?;
        let mut tree = check_plan.tree(run);
        tree.log_dir(run.logs().join("repro-check"));
        for (k, v) in env {
            tree.env(k, v);
        }
        run.command_started("olddefconfig (check)");
        tree.olddefconfig()?;
        run.command_started("modules_prepare (check)");
        tree.prepare_for_external_modules()?;
        run.command_started(&format!("M={dir} modules (check)"));
        let outcome = tree.external_module(std::path::Path::new(dir))?;
        run.set_commands(vec![
            format!(
                "cp {} {}",
                quote_path(first.join(".config")),
                quote_path(second.join(".config"))
            ),
            crate::reproduce::outcome_line(&outcome),
        ]);
        Ok(())
    })?;
    if check.identical {
        return Ok(());
    }
    let causes: Vec<String> = check
        .artifacts
        .iter()
        .flat_map(|a| a.comparison.causes.iter().map(|c| c.to_string()))
        .collect();
    Err(Error::refused(format!(
        "the modules built in {} and {} differ ({}); build.json's repro.check has the hashes \
         and causes",
        first.display(),
        second.display(),
        causes.first().map_or("no cause found", String::as_str)
    )))
}

fn userland_make(dir: &std::path::Path, targets: &[String]) -> Make {
    let mut make = Make::new(dir);
    make.targets(targets.iter().cloned());
    make
}

/// The userland make as the run will supervise it (for the plan's command line).
fn userland_make_planned(run: &Run, dir: &std::path::Path, targets: &[String]) -> Make {
    let mut make = userland_make(dir, targets);
    if let Some(jobs) = run.options().jobs {
        make.jobs(jobs);
    }
    make
}

/// Run the KVM flow, reporting to `observer`, watching `interrupt` (Ctrl-C). `build.json`,
/// `reproduce.sh` and `summary.txt` are in the output directory whether it passed or failed.
pub fn run(
    args: &Args,
    observer: Arc<dyn Observer>,
    interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<Finished> {
    let s = settings(args)?;
    let flow = super::Flow {
        name: "kvm",
        mode: args.mode,
        out: &s.out,
        common: &args.common,
    };
    flow.run(
        observer,
        interrupt,
        |run| plan(args, &s, run),
        |run| body(args, &s, run),
    )
}

fn body(args: &Args, s: &Settings, run: &mut Run) -> Result<()> {
    // 0. The compiler first: the HOWTO's GCC 3.x is missing on any current distribution, and
    // that must not be found out after the kernel steps.
    let cc = if s.userland_url.is_some() {
        let requirement: Requirement = args
            .cc_req
            .parse()
            .with_context(|| format!("--cc-req {:?}", args.cc_req))?;
        Some(run.step("select-compiler", |run| {
            let found = Discovery::new().run()?;
            let chosen = match Selection::new(requirement.clone()).select(&found) {
                Ok(chosen) => chosen.clone(),
                Err(err) => {
                    run.hint = Some(
                        "install a matching compiler (the line above), or pass --cc-req with a \
                         requirement this machine meets, e.g. --cc-req 'gcc >=11'"
                            .into(),
                    );
                    return Err(err.into());
                }
            };
            run.step_note(chosen.describe());
            run.record.compiler = Some(CompilerRecord {
                requirement: requirement.to_string(),
                command: chosen.command.clone(),
                description: chosen.describe(),
                family: chosen.family.to_string(),
                version: chosen.version.to_string(),
                target: chosen.target.clone(),
            });
            run.set_commands(vec![format!(
                "{} --version   # chosen for \"{requirement}\"",
                chosen.command
            )]);
            Ok(chosen)
        })?)
    } else {
        None
    };

    // 1. tar xzf linux-….tar.gz
    let kernel_sha = args.kernel_sha256.clone();
    run.step("fetch-kernel", |run| {
        run.fetch_archive(
            "kernel",
            &s.kernel_url,
            kernel_sha.as_deref(),
            &s.kernel.src,
            &[],
        )
    })?;

    // 2. cp /boot/config-… .config (into O=, never the source tree) + the KVM fragment.
    let configured = run.step("config", |run| s.kernel.configure(run))?;
    if s.kernel
        .fragments
        .iter()
        .any(|f| matches!(f, FragmentSpec::Builtin(..)))
    {
        run.note(
            "the built-in KVM fragment adds CONFIG_MODULES=y to the HOWTO's CONFIG_KVM=m, \
             CONFIG_KVM_INTEL=m, CONFIG_KVM_AMD=m: a base config with modules off (such as this \
             machine's running kernel) would otherwise lose every =m value, and the verification \
             step would stop the build",
        );
    }

    // 3. make oldconfig — without a prompt — then check what landed.
    run.step("olddefconfig", |run| s.kernel.olddefconfig(run))?;
    run.step("verify-config", |run| s.kernel.verify(run, &configured))?;

    // 4. make prepare scripts (modules_prepare today).
    run.step("modules-prepare", |run| s.kernel.modules_prepare(run))?;

    // 5. The KVM modules.
    if let Some(dir) = &s.modules {
        run.step("kvm-modules", |run| {
            let outcome = s.kernel.modules(run, dir)?;
            let kos = s.kernel.built_modules(dir);
            if kos.is_empty() {
                return Err(Error::refused(format!(
                    "make M={dir} modules succeeded but left no .ko in {} (is the module =m in the final .config?)",
                    s.kernel.build.join(dir).display()
                )));
            }
            for ko in &kos {
                run.record
                    .artifacts
                    .push(Artifact::of(ko).map_err(|e| Error::io("hash", ko, e))?);
            }
            run.step_note(format!(
                "{} module(s): {}",
                kos.len(),
                kos.iter()
                    .filter_map(|k| k.file_name())
                    .map(|n| n.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            if modpost_symvers_warning(outcome.log_file.as_deref()) {
                run.note(
                    "modpost warned \"Module.symvers is missing\" and listed symbols as undefined: \
                     expected after modules_prepare, which does not build vmlinux (whose export list \
                     Module.symvers is); the modules are complete, and load into a kernel built from \
                     the same config",
                );
            }
            Ok(())
        })?;
    }

    // Same inputs, same bytes? The final kernel step again, elsewhere, compared.
    if let Some(dir) = &s.modules
        && run.options().repro_check
    {
        run.step("repro-check", |run| repro_check(s, run, dir))?;
    }

    // 6. ./configure --qemu-cc=gcc-3.4 --kerneldir=… --prefix=…; make all install
    if let (Some(url), Some(dir), Some(cc)) = (&s.userland_url, &s.userland_dir, &cc) {
        let sha = args.userland_sha256.clone();
        run.step("fetch-userland", |run| {
            run.fetch_archive("userland", url, sha.as_deref(), dir, &args.userland_patch)
        })?;
        run.step("configure-userland", |run| {
            run.command_started("configure");
            let line = configure_line(s, &cc.command, &args.configure_arg);
            let mut configure = Configure::new(dir);
            configure
                .args(line[1..].iter())
                .log_file(run.logs().join("userland-configure.log"))
                .interrupt(Arc::clone(run.interrupt()))
                .on_line(run.line_callback());
            let outcome = configure.run()?;
            run.record_outcome(&outcome);
            Ok(())
        })?;
        run.step("make-userland", |run| {
            let mut make = userland_make(dir, &s.userland_targets);
            make.log_file(run.logs().join("userland-make.log"));
            run.supervise_make(&mut make, &format!("make {}", s.userland_targets.join(" ")));
            // The userland is built with the compiler chosen above, not through the wrapper.
            let outcome = make.run()?;
            run.record_outcome(&outcome);
            // What was built (targets that name files) and installed.
            for target in &s.userland_targets {
                for candidate in [dir.join(target), dir.join("build").join(target)] {
                    if candidate.is_file() {
                        run.record.artifacts.push(
                            Artifact::of(&candidate)
                                .map_err(|e| Error::io("hash", &candidate, e))?,
                        );
                    }
                }
            }
            if s.userland_targets.iter().any(|t| t == "install") {
                let installed = files_under(&s.prefix);
                run.step_note(format!(
                    "{} file(s) installed under {}",
                    installed.len(),
                    s.prefix.display()
                ));
                for file in installed.iter().take(40) {
                    run.record
                        .artifacts
                        .push(Artifact::of(file).map_err(|e| Error::io("hash", file, e))?);
                }
            }
            Ok(())
        })?;
    }

    // 7. And this should work :-) — boot a kernel built from the same source and fragments,
    // load its KVM modules and run a guest through its /dev/kvm.
    if let Some(boot) = &s.boot {
        boot.run(run)?;
    }
    Ok(())
}
