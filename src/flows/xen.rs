//! The Xen HOWTO ("Quick HOWTO for building Xen 3.2 on Debian/Ubuntu", January 2008) as a flow.
//!
//! ```text
//! wget …/xen-3.2.0.tar.gz; tar xzf xen-3.2.0.tar.gz         -> fetch + verify + extract
//! hg clone …/linux-2.6.18-xen.hg   (beside xen-3.2.0/!)    -> Mercurial clone beside the tree
//! cd xen-3.2.0; make prep-kernels                          -> make prep-kernels
//! cp /boot/config-2.6.18-my build-linux-2.6.18-xen_x86_32/.config
//!                                                          -> check the kernel tree is clean for
//!                                                             O=, install the .config there
//! make dist          (never `make world`: it cleans first) -> make dist
//! ```
//!
//! Modern mode (the default) builds a Xen 4.x hypervisor with `make dist-xen` and resolves a dom0
//! kernel config (CONFIG_XEN, CONFIG_XEN_DOM0, the backend drivers) in an out-of-tree build
//! directory, verified like the KVM flow's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kforge_fetch::{Source, hg};
use kforge_kbuild::Make;
use kforge_kbuild::SourceTree;
use kforge_kconfig::{BuildDir, Config, Mode as VerifyMode};

use super::{Common, Finished, Mode, files_under};
use crate::error::{Context as _, Error};
use crate::kernel::{BaseConfig, FragmentSpec, KernelPlan};
use crate::observe::Observer;
use crate::record::{Artifact, ConfigRecord, SourceRecord};
use crate::reproduce::{ArchiveFetch, archive_stem, fetch_commands, quote, quote_path, shell_line};
use crate::steps::{PlannedStep, Run};

type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(Error::refused(format!($($arg)*)))
    };
}

/// The HOWTO's Xen.
pub const HOWTO_XEN_URL: &str = "http://bits.xensource.com/oss-xen/release/3.2.0/xen-3.2.0.tar.gz";
/// The HOWTO's xenified kernel repository.
pub const HOWTO_KERNEL_HG: &str = "http://xenbits.xensource.com/linux-2.6.18-xen.hg";
/// A current Xen release.
pub const MODERN_XEN_URL: &str =
    "https://downloads.xenproject.org/release/xen/4.17.5/xen-4.17.5.tar.gz";
/// Debian's packaged Linux 6.1 sources, for the dom0 config.
pub const MODERN_KERNEL_URL: &str = "file:///usr/src/linux-source-6.1.tar.xz";

/// A dom0 kernel: Xen PV guest support, dom0, and the backends a dom0 serves guests with.
pub const DOM0_FRAGMENT: &str = "\
# A Xen dom0 kernel. MODULES=y so the =m backends can land whatever the base config says.
CONFIG_MODULES=y
CONFIG_HYPERVISOR_GUEST=y
CONFIG_PARAVIRT=y
CONFIG_XEN=y
CONFIG_XEN_PV=y
CONFIG_XEN_DOM0=y
CONFIG_XEN_BACKEND=y
CONFIG_XEN_BLKDEV_BACKEND=m
CONFIG_XEN_NETDEV_BACKEND=m
CONFIG_XEN_PCIDEV_BACKEND=m
CONFIG_XEN_GNTDEV=m
CONFIG_XEN_DEV_EVTCHN=m
";

/// Build Xen the way the 2008 HOWTO did, or a current Xen with a dom0 kernel config.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "xen", version)]
pub struct Args {
    /// Which sources and steps.
    #[arg(long, value_enum, default_value = "modern")]
    pub mode: Mode,
    /// Xen tarball URL (http, https or file). Default: howto xen-3.2.0, modern xen-4.17.5.
    #[arg(long, value_name = "URL")]
    pub xen: Option<String>,
    /// sha256 of the Xen tarball.
    #[arg(long, value_name = "HEX")]
    pub xen_sha256: Option<String>,
    /// Make target for the hypervisor tree (howto: dist; modern: dist-xen). `world` is
    /// refused: it cleans everything, including the kernel build directory, first.
    #[arg(long, value_name = "TARGET")]
    pub xen_target: Option<String>,
    /// (howto) The xenified kernel's Mercurial repository, cloned beside the Xen tree.
    #[arg(long, value_name = "URL", default_value = HOWTO_KERNEL_HG)]
    pub kernel_hg: String,
    /// (howto) The revision to check out.
    #[arg(long, value_name = "REV", default_value = "tip")]
    pub kernel_hg_rev: String,
    /// (howto) Use this existing checkout instead of cloning: it must be a Mercurial checkout
    /// (with .hg) named linux-2.6.18-xen.hg beside the Xen tree, as select-repository wants.
    #[arg(long, value_name = "DIR")]
    pub kernel_checkout: Option<PathBuf>,
    /// XEN_TARGET_ARCH, passed to every make in the Xen tree: what Xen builds for, the
    /// kernel's ARCH Xen's Makefiles derive from it (x86_32 -> i386, x86_64 -> x86_64) and the
    /// suffix of the `build-linux-*_<arch>` directory. Default: this host's, as Xen's own
    /// Config.mk decides (`uname -m`: x86_64 on x86_64). x86_32 on an x86_64 host needs
    /// gcc-multilib (checked before any download).
    #[arg(long, value_name = "x86_32|x86_64")]
    pub xen_arch: Option<String>,
    /// The kernel config: `running`, a .config file, or (modern) `defconfig`. Howto: copied
    /// as is into build-linux-…; modern: the base of the dom0 config.
    #[arg(long, value_name = "running|defconfig|FILE", default_value = "running")]
    pub config: String,
    /// (modern) Kernel tarball for the dom0 config (default: Debian's linux-source-6.1).
    #[arg(long, value_name = "URL")]
    pub kernel: Option<String>,
    /// (modern) sha256 of the kernel tarball.
    #[arg(long, value_name = "HEX")]
    pub kernel_sha256: Option<String>,
    /// (modern) Fragment merged over the base (repeatable; default: the built-in dom0 one).
    #[arg(long, value_name = "FILE")]
    pub fragment: Vec<PathBuf>,
    /// (modern) ARCH of the dom0 kernel. Default: the one that matches --xen-arch
    /// (x86_64 -> x86_64, x86_32 -> i386, arm64 -> arm64, arm32 -> arm).
    #[arg(long)]
    pub arch: Option<String>,
    /// (modern) Only the hypervisor: no dom0 kernel config.
    #[arg(long)]
    pub no_dom0: bool,
    /// Report lost config values as warnings instead of failing.
    #[arg(long)]
    pub warn_only: bool,
    /// Move a stray .config out of the kernel source tree instead of failing.
    #[arg(long)]
    pub fix_tree: bool,
    /// Boot options (`--boot`: prove the build by booting Xen with a minimal dom0; modern
    /// mode).
    #[command(flatten)]
    pub boot: crate::boot::BootArgs,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

struct Settings {
    howto: bool,
    out: PathBuf,
    xen_url: String,
    xen_dir: PathBuf,
    xen_target: String,
    /// XEN_TARGET_ARCH for every make in the Xen tree.
    xen_arch: String,
    /// (howto) Where the xenified kernel checkout goes: beside the Xen tree.
    checkout: PathBuf,
    /// (modern) The dom0 kernel.
    dom0: Option<(String, KernelPlan)>,
    /// (modern, `--boot`) Xen booted with a minimal dom0.
    boot: Option<crate::boot::xen::XenBoot>,
}

/// The name select-repository looks for (Xen 3.2: `linux-2.6.18-xen.hg`).
fn checkout_name(repo_url: &str) -> String {
    let name = repo_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    if name.ends_with(".hg") {
        name.to_string()
    } else {
        "linux-2.6.18-xen.hg".to_string()
    }
}

/// XEN_TARGET_ARCH of this host, as Xen's Config.mk derives it from `uname -m`
/// (`XEN_COMPILE_ARCH`), for the architecture kforge itself was built for.
pub fn host_xen_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "x86_32",
        "aarch64" => "arm64",
        "arm" => "arm32",
        other => other,
    }
}

/// The kernel's ARCH for a XEN_TARGET_ARCH (what Xen's `select-linux-arch` gives a 2.6 tree
/// without `arch/x86`, and today's names for Arm).
pub fn kernel_arch(xen_arch: &str) -> &str {
    match xen_arch {
        "x86_32" => "i386",
        "arm32" => "arm",
        other => other,
    }
}

/// Refuse a XEN_TARGET_ARCH this host cannot build, before anything is downloaded: x86_32 on
/// an x86_64 host needs `cc` (Xen's `gcc`, looked up in `search_path`, `PATH` when `None`) to
/// compile **and link** a 32-bit program (`-m32`, Debian's gcc-multilib); other foreign
/// architectures need a cross toolchain the flow does not set up.
pub fn check_xen_arch(
    xen_arch: &str,
    howto: bool,
    cc: &str,
    search_path: Option<&std::ffi::OsStr>,
) -> Result<()> {
    let host = host_xen_arch();
    if !howto && xen_arch == "x86_32" {
        bail!(
            "--xen-arch x86_32: Xen 4.3 and later build only a 64-bit x86 hypervisor; pass \
             --xen-arch x86_64 (the HOWTO's Xen 3.2, --mode howto, still builds x86_32)"
        );
    }
    if xen_arch == host {
        return Ok(());
    }
    if host == "x86_64" && xen_arch == "x86_32" {
        let search_path = search_path
            .map(std::ffi::OsStr::to_os_string)
            .or_else(|| std::env::var_os("PATH"));
        let compiler = kforge_toolchain::Compiler::identify_in(cc, search_path.as_deref())
            .with_context(|| {
                format!("--xen-arch x86_32: finding {cc}, the compiler Xen's Makefiles run")
            })?;
        if let Err(err) = compiler.links_program(&["-m32"]) {
            bail!(
                "--xen-arch x86_32 builds 32-bit code (Xen and the kernel add -m32), but {} \
                 cannot build a 32-bit program on this x86_64 host ({err}). Install the 32-bit \
                 C library and libgcc: apt-get install gcc-multilib; or pass --xen-arch x86_64, \
                 Xen's own default here",
                compiler.path.display()
            );
        }
        return Ok(());
    }
    bail!(
        "--xen-arch {xen_arch} cannot be built on this {host} host: it needs a cross toolchain \
         this flow does not set up. Pass --xen-arch {host}{}",
        if host == "x86_64" {
            " (or x86_32, with gcc-multilib, in --mode howto)"
        } else {
            ""
        }
    );
}

fn settings(args: &Args) -> Result<Settings> {
    let howto = args.mode == Mode::Howto;
    let xen_arch = args
        .xen_arch
        .clone()
        .unwrap_or_else(|| host_xen_arch().to_string());
    if howto && args.boot.boot {
        bail!(
            "--boot needs --mode modern: the HOWTO's dom0 is a xenified Linux 2.6.18, which does \
             not build with today's compilers, so there is no dom0 to boot Xen 3.2 with"
        );
    }
    if args.boot.boot && args.no_dom0 {
        bail!(
            "--boot builds a minimal dom0 kernel from the dom0 kernel source (--kernel): drop \
             --no-dom0"
        );
    }
    check_xen_arch(&xen_arch, howto, "gcc", None)?;
    if howto && args.common.repro_check {
        bail!(
            "--repro-check rebuilds Xen in a second tree, which the HOWTO's `make world` cannot \
             use (it builds the Mercurial kernel checkout beside the first tree): use it in modern \
             mode"
        );
    }
    let out = args
        .common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("kforge-xen-out"));
    let out = std::path::absolute(&out).unwrap_or(out);
    let xen_url = args
        .xen
        .clone()
        .unwrap_or_else(|| if howto { HOWTO_XEN_URL } else { MODERN_XEN_URL }.to_string());
    let xen_target = args
        .xen_target
        .clone()
        .unwrap_or_else(|| if howto { "dist" } else { "dist-xen" }.into());
    if matches!(
        xen_target.as_str(),
        "world" | "kdelete" | "kclean" | "clean" | "distclean"
    ) {
        bail!(
            "refusing `make {xen_target}` in the Xen tree: it deletes the kernel build directory \
             (and the .config installed there) before building. The HOWTO: \"Using the world \
             target will clean everything first. Don't use it here.\" Use dist (howto) or dist-xen"
        );
    }
    let xen_dir = out.join("src").join(archive_stem(&xen_url));
    let checkout = match &args.kernel_checkout {
        Some(dir) => std::path::absolute(dir).unwrap_or(dir.clone()),
        None => out.join("src").join(checkout_name(&args.kernel_hg)),
    };
    let dom0 = if howto || args.no_dom0 {
        None
    } else {
        let url = args
            .kernel
            .clone()
            .unwrap_or_else(|| MODERN_KERNEL_URL.to_string());
        let fragments = if args.fragment.is_empty() {
            vec![FragmentSpec::Builtin("dom0.config", DOM0_FRAGMENT)]
        } else {
            args.fragment
                .iter()
                .cloned()
                .map(FragmentSpec::File)
                .collect()
        };
        let plan = KernelPlan {
            src: out.join("src").join(archive_stem(&url)),
            build: out.join("linux-dom0-build"),
            arch: args
                .arch
                .clone()
                .unwrap_or_else(|| kernel_arch(&xen_arch).to_string()),
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
        Some((url, plan))
    };
    let boot = match &dom0 {
        Some((_, k)) if args.boot.boot => {
            if k.arch != "x86_64" {
                bail!(
                    "--boot boots an x86_64 Xen and dom0 under qemu-system-x86_64; the dom0 \
                     ARCH is {} (see --arch, --xen-arch)",
                    k.arch
                );
            }
            Some(crate::boot::xen::XenBoot::new(
                &xen_dir,
                &k.src,
                &k.arch,
                k.verify_mode,
                &args.boot,
                &out,
            )?)
        }
        _ => None,
    };
    Ok(Settings {
        boot,
        howto,
        out,
        xen_url,
        xen_dir,
        xen_target,
        xen_arch,
        checkout,
        dom0,
    })
}

/// A make in the Xen tree, supervised by the run and through its compiler wrapper.
fn xen_make(run: &Run, s: &Settings, target: &str) -> Make {
    xen_make_in(run, s, &s.xen_dir, target)
}

/// [`xen_make`] in another extracted copy of the tree (the reproducibility check's), with the
/// same XEN_TARGET_ARCH.
fn xen_make_in(run: &Run, s: &Settings, dir: &Path, target: &str) -> Make {
    let mut make = Make::new(dir);
    make.var("XEN_TARGET_ARCH", &s.xen_arch)
        .target(target)
        .log_file(run.logs().join(format!("xen-{target}.log")));
    run.supervise_make(&mut make, &format!("make {target}"));
    run.wrap_make(&mut make);
    run.reproducible_make(&mut make);
    make
}

/// The same make for the plan (nothing is told to the observer).
fn xen_make_planned(run: &Run, s: &Settings, target: &str) -> Make {
    let mut make = Make::new(&s.xen_dir);
    make.var("XEN_TARGET_ARCH", &s.xen_arch).target(target);
    if let Some(jobs) = run.options().jobs {
        make.jobs(jobs);
    }
    run.wrap_make(&mut make);
    make
}

fn plan(args: &Args, s: &Settings, run: &Run) -> Vec<PlannedStep> {
    let mut steps = Vec::new();
    if s.howto {
        steps.push(PlannedStep::new(
            "check-hg",
            "Check Mercurial (the HOWTO's Debian hg was too old to clone)",
            vec!["hg --version".into()],
        ));
    }
    steps.push(PlannedStep::new(
        "fetch-xen",
        "Fetch, verify and extract Xen",
        fetch_commands(&ArchiveFetch {
            url: &s.xen_url,
            mirrors: &run.options().mirrors,
            sha256: args.xen_sha256.as_deref(),
            strip_components: 1,
            dest: &s.xen_dir,
            patches: &[],
        }),
    ));
    if s.howto {
        let build = format!("build-linux-*_{}", s.xen_arch);
        steps.push(PlannedStep::new(
            "clone-kernel",
            "Clone the xenified kernel beside the Xen tree (not inside: select-repository skips it)",
            match &args.kernel_checkout {
                Some(dir) => vec![format!(
                    "test -d {}/.hg   # an existing checkout beside the Xen tree",
                    quote_path(dir)
                )],
                None => vec![format!(
                    "hg clone -u {} {} {}",
                    quote(&args.kernel_hg_rev),
                    quote(&args.kernel_hg),
                    quote_path(&s.checkout)
                )],
            },
        ));
        steps.push(PlannedStep::new(
            "prep-kernels",
            "Check the kernel tree is clean for O=, make prep-kernels (creates the kernel build directory)",
            vec![shell_line(
                xen_make_planned(run, s, "prep-kernels").command_line(),
            )],
        ));
        steps.push(PlannedStep::new(
            "install-config",
            &format!("Install the .config into {build}/ (never into the kernel tree)"),
            vec![format!(
                "{} > {}/{build}/.config",
                match args.config.as_str() {
                    "running" => "{ zcat /proc/config.gz || cat /boot/config-$(uname -r); }".into(),
                    file => format!("cat {}", quote(file)),
                },
                quote_path(&s.xen_dir)
            )],
        ));
    }
    steps.push(PlannedStep::new(
        "xen-build",
        &format!("make {}", s.xen_target),
        vec![shell_line(
            xen_make_planned(run, s, &s.xen_target).command_line(),
        )],
    ));
    if run.options().repro_check {
        let second = crate::steps::repro_check_dir(&s.xen_dir);
        steps.push(PlannedStep::new(
            "repro-check",
            &format!(
                "Build `make {}` again in a second Xen tree (a longer path, later, another user \
                 name) and compare dist/install/boot by sha256",
                s.xen_target
            ),
            vec![
                format!(
                    "# extract the Xen archive again into {}",
                    quote_path(&second)
                ),
                format!(
                    "(cd {} && env USER={user} LOGNAME={user} make {})",
                    quote_path(&second),
                    quote(&s.xen_target),
                    user = crate::steps::CHECK_USER,
                ),
            ],
        ));
    }
    if let Some((url, k)) = &s.dom0 {
        steps.extend(k.planned_steps(run, url, args.kernel_sha256.as_deref(), "dom0 kernel"));
    }
    if let Some(boot) = &s.boot {
        steps.push(PlannedStep::new(
            "boot-xen",
            "The hypervisor to boot: xen/xen (make build-xen when the target did not leave it)",
            vec![format!(
                "test -f {} || {}",
                quote_path(&boot.xen),
                shell_line(xen_make_planned(run, s, "build-xen").command_line())
            )],
        ));
        steps.extend(boot.planned_steps(run));
    }
    steps
}

/// The second Xen tree of the reproducibility check: beside the first, a longer path.
/// Extract the Xen archive again beside the first tree, build the same target there and
/// compare what it installed under `dist/install/boot`.
fn repro_check(args: &Args, s: &Settings, run: &mut Run) -> Result<()> {
    let first = &s.xen_dir;
    let second = crate::steps::repro_check_dir(first);
    let boot = Path::new("dist/install/boot");
    let names: Vec<PathBuf> = files_under(first.join(boot))
        .iter()
        .filter_map(|f| f.strip_prefix(first).ok().map(PathBuf::from))
        .collect();
    let sha = args.xen_sha256.clone();
    let check = run.repro_check(first, &second, &names, &[], |run, env| {
        // The check's own directory, emptied by repro_check: extract into it afresh.
        std::fs::remove_dir(&second).map_err(|e| Error::io("remove", &second, e))?;
        run.fetch_archive("xen-repro-check", &s.xen_url, sha.as_deref(), &second, &[])?;
        let mut make = xen_make_in(run, s, &second, &s.xen_target);
        make.log_file(
            run.logs()
                .join(format!("xen-{}-repro-check.log", s.xen_target)),
        );
        for (k, v) in env {
            make.env(k, v);
        }
        let outcome = make.run()?;
        run.set_commands(vec![crate::reproduce::outcome_line(&outcome)]);
        Ok(())
    })?;
    if check.identical {
        return Ok(());
    }
    let cause = check
        .artifacts
        .iter()
        .flat_map(|a| a.comparison.causes.iter().map(|c| c.to_string()))
        .next()
        .unwrap_or_else(|| "no cause found".into());
    bail!(
        "the Xen builds in {} and {} differ ({cause}); build.json's repro.check has the hashes \
         and causes",
        first.display(),
        second.display()
    )
}

/// Run the Xen flow, reporting to `observer`, watching `interrupt` (Ctrl-C). `build.json`,
/// `reproduce.sh` and `summary.txt` are in the output directory whether it passed or failed.
pub fn run(
    args: &Args,
    observer: Arc<dyn Observer>,
    interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<Finished> {
    let s = settings(args)?;
    let flow = super::Flow {
        name: "xen",
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

/// The layout select-repository accepts: a Mercurial checkout (with `.hg`) named `name`,
/// directly beside the Xen tree (Xen 3.2 searches `LINUX_SRC_PATH=.:..` and ignores `.`).
pub fn check_checkout_layout(
    xen_dir: impl AsRef<Path>,
    checkout: impl AsRef<Path>,
    name: &str,
) -> Result<()> {
    let (xen_dir, checkout) = (xen_dir.as_ref(), checkout.as_ref());
    let xen_dir = std::path::absolute(xen_dir).map_err(|e| Error::io("resolve", xen_dir, e))?;
    let checkout = std::path::absolute(checkout).map_err(|e| Error::io("resolve", checkout, e))?;
    if checkout.starts_with(&xen_dir) {
        bail!(
            "the kernel checkout {} is inside the Xen tree {}: buildconfigs/select-repository \
             ignores `.` and would skip it (and clone again). Put it beside the tree: {}",
            checkout.display(),
            xen_dir.display(),
            xen_dir.with_file_name(name).display()
        );
    }
    if checkout.parent() != xen_dir.parent() {
        bail!(
            "the kernel checkout {} is not beside the Xen tree {}: select-repository only looks \
             in the tree's parent directory ({}); the HOWTO: \"xen-3.2.0/ and \
             linux-2.6.18-xen.hg/ must be at the same level\"",
            checkout.display(),
            xen_dir.display(),
            xen_dir
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    if checkout.file_name().is_none_or(|n| n != name) {
        bail!(
            "the kernel checkout {} must be named {name} for select-repository to find it",
            checkout.display()
        );
    }
    if !checkout.join(".hg").is_dir() {
        bail!(
            "{} has no .hg directory: select-repository only accepts a Mercurial checkout \
             (a copy or an export is skipped); clone it with `hg clone`",
            checkout.display()
        );
    }
    Ok(())
}

fn body(args: &Args, s: &Settings, run: &mut Run) -> Result<()> {
    if s.howto {
        run.step("check-hg", |run| {
            let version = hg::check_installed()?;
            run.step_note(format!("Mercurial {version}"));
            Ok(())
        })?;
    }
    let sha = args.xen_sha256.clone();
    run.step("fetch-xen", |run| {
        run.fetch_archive("xen", &s.xen_url, sha.as_deref(), &s.xen_dir, &[])
    })?;
    if s.howto {
        howto_kernel(args, s, run)?;
    }
    run.step("xen-build", |run| {
        let outcome = xen_make(run, s, &s.xen_target).run()?;
        run.record_outcome(&outcome);
        let boot = s.xen_dir.join("dist/install/boot");
        let files = files_under(&boot);
        if files.is_empty() {
            bail!(
                "make {} succeeded but {} holds no file",
                s.xen_target,
                boot.display()
            );
        }
        for file in &files {
            run.record
                .artifacts
                .push(Artifact::of(file).map_err(|e| Error::io("hash", file, e))?);
        }
        let names: Vec<String> = files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        run.step_note(format!("{}: {}", boot.display(), names.join(", ")));
        Ok(())
    })?;
    if run.options().repro_check {
        run.step("repro-check", |run| repro_check(args, s, run))?;
    }
    if let Some((url, k)) = &s.dom0 {
        let sha = args.kernel_sha256.clone();
        run.step("fetch-kernel", |run| {
            run.fetch_archive("kernel", url, sha.as_deref(), &k.src, &[])
        })?;
        let configured = run.step("config", |run| k.configure(run))?;
        run.step("olddefconfig", |run| k.olddefconfig(run))?;
        run.step("verify-config", |run| k.verify(run, &configured))?;
        let config = k.build.join(".config");
        run.record
            .artifacts
            .push(Artifact::of(&config).map_err(|e| Error::io("hash", &config, e))?);
        run.note(format!(
            "the dom0 kernel config is resolved and verified in {}; build it with \
             `make -C {} O={} ARCH={} bzImage modules`",
            k.build.display(),
            k.src.display(),
            k.build.display(),
            k.arch
        ));
    }
    // And this should work :-) — boot Xen with a minimal dom0 that reports what it runs on.
    if let Some(boot) = &s.boot {
        run.step("boot-xen", |run| {
            if boot.xen.is_file() {
                run.set_commands(vec![format!("test -f {}", quote_path(&boot.xen))]);
                run.step_note(format!(
                    "{} (left by make {})",
                    boot.xen.display(),
                    s.xen_target
                ));
            } else {
                let outcome = xen_make(run, s, "build-xen").run()?;
                run.record_outcome(&outcome);
                if !boot.xen.is_file() {
                    bail!(
                        "make build-xen succeeded but left no {} (see logs/xen-build-xen.log)",
                        boot.xen.display()
                    );
                }
            }
            run.record
                .artifacts
                .push(Artifact::of(&boot.xen).map_err(|e| Error::io("hash", &boot.xen, e))?);
            Ok(())
        })?;
        boot.run(run)?;
    }
    Ok(())
}

fn howto_kernel(args: &Args, s: &Settings, run: &mut Run) -> Result<()> {
    let name = checkout_name(&args.kernel_hg);
    run.step("clone-kernel", |run| {
        if args.kernel_checkout.is_some() {
            check_checkout_layout(&s.xen_dir, &s.checkout, &name)?;
            run.step_note(format!("using the checkout {}", s.checkout.display()));
            run.record.sources.push(SourceRecord {
                role: "xenified kernel".into(),
                url: s.checkout.display().to_string(),
                sha256: None,
                pinned: false,
                revision: None,
                dest: s.checkout.clone(),
                reused: true,
            });
            return Ok(());
        }
        if s.checkout.exists() {
            check_checkout_layout(&s.xen_dir, &s.checkout, &name)?;
            run.mark_reused();
            run.step_note(format!(
                "reusing the checkout {} (pass --kernel-checkout to name it explicitly)",
                s.checkout.display()
            ));
        } else {
            let fetcher = run.fetcher("kernel")?;
            let source = Source::hg(&args.kernel_hg, &args.kernel_hg_rev);
            let fetched = fetcher.fetch(&source, &s.checkout, run.interrupt());
            run.observer().progress_finished("kernel");
            let fetched = fetched.with_context(|| format!("hg clone {}", args.kernel_hg))?;
            run.step_note(format!(
                "changeset {} in {}",
                fetched.revision.as_deref().unwrap_or("(unknown)"),
                s.checkout.display()
            ));
            run.record.sources.push(SourceRecord {
                role: "xenified kernel".into(),
                url: args.kernel_hg.clone(),
                sha256: None,
                pinned: false,
                revision: fetched.revision,
                dest: s.checkout.clone(),
                reused: fetched.from_cache,
            });
            check_checkout_layout(&s.xen_dir, &s.checkout, &name)?;
        }
        Ok(())
    })?;
    run.step("prep-kernels", |run| {
        // The kernel refuses O= when its source tree holds a .config or include/config: check
        // before make does, and say how to fix it without losing the file.
        let tree = SourceTree::open(&s.checkout)
            .with_context(|| format!("{} is not a kernel tree", s.checkout.display()))?;
        let check = tree.check_clean(None, &kforge_kconfig::host_srcarch());
        if !check.is_clean() {
            if args.fix_tree {
                let v = tree.version();
                let build = s.xen_dir.join(format!(
                    "build-linux-{}.{}.{}{}_{}",
                    v.version, v.patchlevel, v.sublevel, v.extraversion, s.xen_arch
                ));
                let plan = tree.make_clean_for_out_of_tree(&build)?;
                run.step_note(format!("kernel tree cleaned for O= without loss:\n{plan}"));
            } else {
                run.hint = Some(
                    "rerun with --fix-tree to move the kernel tree's .config into the build \
                     directory (nothing is deleted), or move it yourself; never `make mrproper`"
                        .into(),
                );
                bail!("{check}");
            }
        }
        let outcome = xen_make(run, s, "prep-kernels").run()?;
        run.record_outcome(&outcome);
        Ok(())
    })?;
    run.step("install-config", |run| {
        // The build directory prep-kernels made.
        let suffix = format!("_{}", s.xen_arch);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&s.xen_dir)
            .map_err(|e| Error::io("list", &s.xen_dir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with("build-linux-") && n.ends_with(&suffix)
                    })
            })
            .collect();
        found.sort();
        let build = match found.as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "make prep-kernels made no build-linux-*{suffix}/ in {} (is XEN_TARGET_ARCH {}? \
                 see --xen-arch and logs/xen-prep-kernels.log)",
                s.xen_dir.display(),
                s.xen_arch
            ),
            many => bail!(
                "several kernel build directories in {}: {:?}; remove the stale ones",
                s.xen_dir.display(),
                many
            ),
        };
        let (config, desc) = match BaseConfig::from_arg(&args.config) {
            BaseConfig::File(path) => (
                Config::read(&path).with_context(|| format!("reading {}", path.display()))?,
                path.display().to_string(),
            ),
            BaseConfig::Running => {
                let running = Config::running()?;
                let desc = running.path.display().to_string();
                (running.config, desc)
            }
            BaseConfig::Defconfig | BaseConfig::Tinyconfig => bail!(
                "--config defconfig and tinyconfig are for the modern mode; the HOWTO copies a .config file \
                 (e.g. --config /boot/config-2.6.18-my)"
            ),
        };
        let installed = BuildDir::new(&build).install_config(&config)?;
        run.step_note(format!("{desc} -> {}", installed.path.display()));
        run.set_commands(vec![format!(
            "cp {} {}",
            quote(&desc),
            quote_path(&installed.path)
        )]);
        run.record.config = Some(ConfigRecord {
            base: desc,
            build_config: installed.path.clone(),
            sha256: Artifact::of(&installed.path).ok().map(|a| a.sha256),
            ..ConfigRecord::default()
        });
        Ok(())
    })?;
    Ok(())
}
