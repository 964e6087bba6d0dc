//! `kforge kernel …`: the kernel's release string, preparing a build directory for external
//! modules, and running any make targets under supervision (thin over `kforge-kbuild`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, bail};
use kforge_kbuild::{
    CacheReport, ConfigResolution, KernelTree, KernelVersion, ModulesPrepared, Outcome,
    ResolveStrategy,
};
use kforge_toolchain::{Toolchain, Wrapper, WrapperKind};

use super::Output;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Print the release string of a configured tree (`make -s kernelrelease`, last line).
    Release(ReleaseArgs),
    /// Install a .config (optional), resolve it without prompting (olddefconfig, oldnoconfig or
    /// oldconfig with default answers, by kernel era) and prepare the build directory for
    /// external modules (modules_prepare, or `prepare scripts` on old trees).
    Prepare(PrepareArgs),
    /// Run make targets in the tree under supervision (stdin closed, log file, whole process
    /// group stopped on Ctrl-C or timeout, failures explained).
    Build(BuildArgs),
}

/// Options shared by every subcommand: where the tree is and how make runs.
#[derive(Debug, clap::Args)]
pub struct TreeArgs {
    /// The Linux source tree (the directory with the top Makefile).
    src: PathBuf,
    /// Out-of-tree build directory (O=); the source tree is left untouched.
    #[arg(long, short = 'O', value_name = "O")]
    build_dir: Option<PathBuf>,
    /// ARCH= (e.g. x86_64, arm64).
    #[arg(long)]
    arch: Option<String>,
    /// CROSS_COMPILE= prefix (e.g. aarch64-linux-gnu-).
    #[arg(long, value_name = "PREFIX")]
    cross_compile: Option<String>,
    /// Extra make variable (repeatable), e.g. --var CC=gcc-12 --var LLVM=1.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Parallel jobs (default: the available parallelism).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Directory for one log file per step (default: <build dir>/kforge-logs when there is a
    /// build directory).
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Stop a step (and every process it started) after this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Build without the reproducible settings. By default KBUILD_BUILD_TIMESTAMP and
    /// SOURCE_DATE_EPOCH come from the source tree's date (its commit date, or the newest
    /// time its top files carry from the archive), KBUILD_BUILD_USER/HOST are `kforge`, and
    /// -ffile-prefix-map for the source and build directories goes into KCFLAGS and KAFLAGS:
    /// the same inputs give the same bytes in any directory, and a compiler cache
    /// serves a build in another directory.
    #[arg(long)]
    no_reproducible: bool,
}

/// A compiler cache or distributed compiler in front of CC and HOSTCC.
#[derive(Debug, clap::Args)]
pub struct WrapperArgs {
    /// Run CC and HOSTCC through this wrapper: ccache, sccache, distcc or icecc
    /// (CC="ccache gcc"); its hits, misses and remote jobs are reported. distcc needs
    /// --distcc-hosts; icecc uses the local iceccd. The reproducible settings (on unless
    /// --no-reproducible) let a build in another directory hit the cache.
    #[arg(long, value_name = "WRAPPER")]
    cc_wrapper: Option<WrapperKind>,
    /// distcc hosts, DISTCC_HOSTS syntax: 'HOST[:PORT][/SLOTS] …' (e.g. '10.0.0.5/8
    /// 10.0.0.6:3632/4'); -j defaults to the total of the slots.
    #[arg(long, value_name = "HOSTS", requires = "cc_wrapper")]
    distcc_hosts: Option<String>,
    /// icecream scheduler, HOST[:PORT], given to iceccd as ICECC_SCHEDULER.
    #[arg(long, value_name = "ADDR", requires = "cc_wrapper")]
    icecc_scheduler: Option<String>,
    /// A private cache directory for ccache or sccache (CCACHE_DIR / SCCACHE_DIR).
    #[arg(long, value_name = "DIR", requires = "cc_wrapper")]
    cc_cache_dir: Option<PathBuf>,
}

impl WrapperArgs {
    /// Find the wrapper, put it in front of the tree's compilers, pass its environment, and
    /// ask for its counters. `None` without --cc-wrapper.
    fn apply(
        &self,
        tree_args: &TreeArgs,
        tree: &mut KernelTree,
    ) -> anyhow::Result<Option<Wrapper>> {
        let Some(kind) = self.cc_wrapper else {
            return Ok(None);
        };
        let mut wrapper = Wrapper::find(kind)?;
        if let Some(hosts) = &self.distcc_hosts {
            wrapper = wrapper.with_distcc_hosts(hosts)?;
        }
        if let Some(scheduler) = &self.icecc_scheduler {
            wrapper = wrapper.with_icecc_scheduler(scheduler)?;
        }
        if let Some(dir) = &self.cc_cache_dir {
            wrapper = wrapper.with_cache_dir(std::path::absolute(dir)?);
        }
        wrapper.check()?;
        if kind == WrapperKind::Ccache
            && !tree_args.no_reproducible
            && let Some(base) = tree_args.common_dir()
        {
            // Paths under the common parent of the source and build directories are hashed
            // relative to the working directory, so the same layout elsewhere hits.
            for (key, value) in kforge::steps::ccache_reproducible_env(&base) {
                tree.env(key, value);
            }
        }
        if kind.is_distributed()
            && let Some(logs) = tree_args.log_dir()
        {
            wrapper = wrapper.with_client_log(logs.join(format!("{kind}-client.log")));
        }
        // The compilers the Makefile would use with the given variables, then wrapped.
        let mut vars = tree_args.vars.clone();
        if let Some(prefix) = &tree_args.cross_compile {
            vars.push(("CROSS_COMPILE".into(), prefix.clone()));
        }
        let base = Toolchain::from_vars(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into())
        })?;
        tree.vars(wrapper.make_vars(&base));
        for (k, v) in wrapper.env() {
            tree.env(k, v);
        }
        if tree_args.jobs.is_none()
            && let Some(jobs) = wrapper.suggested_jobs()
        {
            tree.jobs(jobs);
        }
        tree.cache_stats(kforge::steps::cache_tool(kind));
        Ok(Some(wrapper))
    }
}

fn say_cache(outcome: &Outcome, out: &Output) {
    if out.quiet || out.json {
        return;
    }
    if let Some(report) = &outcome.cache {
        println!("  {report}");
    }
    if let Some(err) = &outcome.cache_error {
        println!("  compiler wrapper counters unavailable: {err}");
    }
}

/// `kforge kernel release`.
#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    tree: TreeArgs,
}

/// `kforge kernel prepare`.
#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    #[command(flatten)]
    tree: TreeArgs,
    /// A .config to install into the build directory first (atomically; the previous one is
    /// kept as .config.old).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Resolve with this target instead of the one the kernel's version implies.
    #[arg(long, value_enum, value_name = "HOW")]
    resolve_with: Option<ResolveWith>,
    #[command(flatten)]
    wrapper: WrapperArgs,
}

/// An explicit config resolution.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ResolveWith {
    /// `make olddefconfig` (Linux 3.7+).
    Olddefconfig,
    /// `make oldnoconfig` (Linux 2.6.36–3.6).
    Oldnoconfig,
    /// `make oldconfig` with every prompt answered by its default (`yes "" | make oldconfig`).
    OldconfigDefaults,
}

impl From<ResolveWith> for ResolveStrategy {
    fn from(how: ResolveWith) -> ResolveStrategy {
        match how {
            ResolveWith::Olddefconfig => ResolveStrategy::Olddefconfig,
            ResolveWith::Oldnoconfig => ResolveStrategy::Oldnoconfig,
            ResolveWith::OldconfigDefaults => ResolveStrategy::OldconfigWithDefaults,
        }
    }
}

/// `kforge kernel build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    tree: TreeArgs,
    /// Allow destructive targets (mrproper, distclean, Xen's world, kdelete, kclean, `clean`
    /// in a source tree without O=).
    #[arg(long)]
    allow_destructive: bool,
    /// Show full command lines (V=1).
    #[arg(long)]
    make_verbose: bool,
    #[command(flatten)]
    wrapper: WrapperArgs,
    /// Targets (default: make's default target).
    targets: Vec<String>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

impl TreeArgs {
    /// The deepest directory holding both the source and the build directory, unless it is
    /// `/` (too broad to rewrite every path under it).
    fn common_dir(&self) -> Option<PathBuf> {
        let src = std::path::absolute(&self.src).ok()?;
        let build = std::path::absolute(self.build_dir.as_ref()?).ok()?;
        let common: PathBuf = src
            .components()
            .zip(build.components())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect();
        (common.components().count() > 1).then_some(common)
    }

    fn log_dir(&self) -> Option<PathBuf> {
        self.log_dir
            .clone()
            .or_else(|| self.build_dir.as_ref().map(|o| o.join("kforge-logs")))
    }

    fn tree(&self, interrupt: Option<Arc<AtomicBool>>) -> KernelTree {
        let mut tree = KernelTree::new(&self.src);
        if let Some(out) = &self.build_dir {
            tree.build_dir(out);
        }
        if let Some(arch) = &self.arch {
            tree.arch(arch);
        }
        if let Some(prefix) = &self.cross_compile {
            tree.cross_compile(prefix);
        }
        tree.vars(self.vars.iter().cloned());
        if let Some(jobs) = self.jobs {
            tree.jobs(jobs);
        }
        if let Some(dir) = self.log_dir() {
            tree.log_dir(dir);
        }
        if let Some(secs) = self.timeout {
            tree.timeout(Duration::from_secs(secs));
        }
        if let Some(flag) = interrupt {
            tree.interrupt(flag);
        }
        if !self.no_reproducible {
            let date = kforge::repro::SourceDate::of_tree(&self.src);
            tree.reproducible(kforge::repro::ReproSettings::new(date.as_ref()).identity());
        }
        tree
    }
}

/// Run a subcommand.
pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Release(args) => release(args, out),
        Cmd::Prepare(args) => prepare(args, out),
        Cmd::Build(args) => build(args, out),
    }
}

#[derive(serde::Serialize)]
struct ReleaseReport {
    release: String,
    version: KernelVersion,
}

fn release(args: ReleaseArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let tree = args.tree.tree(super::interrupt_flag());
    let version = tree.version()?;
    let release = tree
        .kernelrelease()
        .with_context(|| format!("cannot get the release of {}", args.tree.src.display()))?;
    if out.json {
        out.print_json(&ReleaseReport { release, version })?;
    } else {
        println!("{release}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct PrepareReport {
    config_installed: Option<PathBuf>,
    wrapper: Option<Wrapper>,
    resolution: ConfigResolution,
    prepared: ModulesPrepared,
    /// The wrapper's counters over `modules_prepare`.
    cache: Option<CacheReport>,
    release: String,
}

fn prepare(args: PrepareArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let Some(build_dir) = &args.tree.build_dir else {
        bail!(
            "kforge kernel prepare needs --build-dir O: the source tree is never configured in place"
        );
    };
    let mut tree = args.tree.tree(super::interrupt_flag());
    let wrapper = args.wrapper.apply(&args.tree, &mut tree)?;
    if let Some(w) = &wrapper
        && !out.quiet
        && !out.json
    {
        println!("compiler wrapper: {}", w.describe());
    }
    let config_installed = match &args.config {
        Some(config) => {
            // kforge-kconfig's install: checked line by line, written atomically and synced,
            // a different previous .config kept as .config.old.
            let parsed = kforge_kconfig::Config::read(config)?;
            let dir = tree.config_path();
            let dir = dir.parent().unwrap_or(std::path::Path::new("."));
            let installed = kforge_kconfig::BuildDir::new(dir).install_config(&parsed)?;
            if !out.quiet && !out.json {
                println!(
                    "installed {} as {}",
                    config.display(),
                    installed.path.display()
                );
            }
            Some(installed.path)
        }
        None => {
            if !tree.config_path().is_file() {
                bail!(
                    "{} has no .config: pass --config FILE, or create one first (e.g. `kforge kernel build {} --build-dir {} defconfig`)",
                    build_dir.display(),
                    args.tree.src.display(),
                    build_dir.display()
                );
            }
            None
        }
    };
    let resolution = match args.resolve_with {
        Some(how) => tree.resolve_config_with(how.into())?,
        None => tree.olddefconfig()?,
    };
    if !out.quiet && !out.json {
        println!(
            "resolved the config with {} (Linux {}) in {:.1}s",
            resolution.strategy,
            resolution.kernel,
            resolution.outcome.duration.as_secs_f64()
        );
    }
    let prepared = tree.prepare_for_external_modules()?;
    if !out.quiet && !out.json {
        println!(
            "prepared for external modules with `make {}` in {:.1}s ({} warnings)",
            prepared.targets.join(" "),
            prepared.outcome.duration.as_secs_f64(),
            prepared.outcome.warnings
        );
        say_cache(&prepared.outcome, out);
    }
    let release = tree.kernelrelease()?;
    if out.json {
        let cache = prepared.outcome.cache.clone();
        out.print_json(&PrepareReport {
            config_installed,
            wrapper,
            resolution,
            prepared,
            cache,
            release,
        })?;
    } else if !out.quiet {
        println!("kernel release {release}");
        if let Some(log) = prepared
            .outcome
            .log_file
            .as_deref()
            .and_then(|l| l.parent())
        {
            println!("logs in {}", log.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn build(args: BuildArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let mut tree = args.tree.tree(super::interrupt_flag());
    let wrapper = args.wrapper.apply(&args.tree, &mut tree)?;
    if let Some(w) = &wrapper
        && !out.quiet
        && !out.json
    {
        println!("compiler wrapper: {}", w.describe());
    }
    tree.verbose(args.make_verbose);
    let mut make = tree.make(args.targets.iter().cloned());
    make.allow_destructive(args.allow_destructive);
    let outcome: Outcome = make.run()?;
    if out.json {
        out.print_json(&outcome)?;
    } else if !out.quiet {
        let targets = if outcome.targets.is_empty() {
            "default target".to_owned()
        } else {
            outcome.targets.join(" ")
        };
        println!(
            "built {targets} in {:.1}s ({} warnings){}",
            outcome.duration.as_secs_f64(),
            outcome.warnings,
            outcome
                .log_file
                .as_ref()
                .map(|l| format!(", log: {}", l.display()))
                .unwrap_or_default()
        );
        say_cache(&outcome, out);
    }
    Ok(ExitCode::SUCCESS)
}
