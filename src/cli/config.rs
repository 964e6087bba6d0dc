//! `kforge config …`: merge fragments, verify what landed, diff, get/set values, read the running
//! kernel's configuration.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use kforge_kconfig::{
    Config, Fragment, KconfigIndex, MergeOptions, Mode, Prefix, Requested, RunningLocator, Value,
    merge_with, srcarch, verify, verify_with_base,
};

use super::Output;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Merge fragments onto a base .config in order (later wins) and report every redefined
    /// value, like `scripts/kconfig/merge_config.sh -m`.
    Merge(MergeArgs),
    /// After `make olddefconfig`, list every value the fragments requested that did not land in
    /// the final .config, with what it became and the fragment line that asked; exit status 1
    /// when any did not (unless --warn-only).
    Verify(VerifyArgs),
    /// Symbols removed, changed and added between two configurations (scripts/diffconfig).
    Diff(DiffArgs),
    /// Print symbol values of a .config (y, m, n, "text", a number, or `undef`).
    Get(GetArgs),
    /// Edit a .config in place (atomically): SYMBOL=VALUE assignments, --set-str, --undefine.
    Set(SetArgs),
    /// Print the running kernel's configuration (/proc/config.gz or /boot/config-$(uname -r))
    /// and say which file was used.
    Running(RunningArgs),
    /// Resolve a .config against a kernel tree's Kconfig files like `make olddefconfig`, without
    /// make: new symbols get their defaults, invalid values are dropped with a warning.
    Resolve(super::config_eval::ResolveArgs),
    /// A new .config like `make allnoconfig|allyesconfig|allmodconfig|alldefconfig|defconfig|
    /// NAME_defconfig`, without make.
    New(super::config_eval::NewArgs),
    /// The minimal defconfig of a .config, like `make savedefconfig`, without make.
    Savedefconfig(super::config_eval::SaveDefconfigArgs),
    /// Why symbols have their values: definitions, dependencies with values, what selects or
    /// implies them, the default or user value that gave the value, and the root causes.
    Why(super::config_why::WhyArgs),
    /// The extra fragment lines that make every value of the fragments land on a base .config,
    /// checked by resolving again, or why a value cannot land; exit status 1 when one cannot.
    Fix(super::config_why::FixArgs),
}

/// The symbol prefix.
#[derive(Debug, clap::Args)]
pub struct PrefixArg {
    /// Symbol prefix (default: $CONFIG_ if set, as the kernel's tools read it, else CONFIG_;
    /// BR2_ for Buildroot).
    #[arg(long, value_name = "PREFIX", global = true)]
    prefix: Option<String>,
}

impl PrefixArg {
    fn get(&self) -> Prefix {
        match &self.prefix {
            Some(p) => Prefix::new(p.clone()),
            None => Prefix::from_env(),
        }
    }
}

/// `kforge config merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The base .config.
    base: PathBuf,
    /// Fragments, applied in order.
    #[arg(required = true)]
    fragments: Vec<PathBuf>,
    /// Where to write the merged configuration (atomically).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Never demote =y to =m (merge_config.sh -y).
    #[arg(short = 'y', long)]
    builtin_over_module: bool,
    /// Fail, writing nothing, when a fragment redefines a value (merge_config.sh -s).
    #[arg(long)]
    strict: bool,
    /// Also list assignments that repeat the value already in effect (merge_config.sh -r).
    #[arg(short = 'r', long)]
    redundant: bool,
    #[command(flatten)]
    prefix: PrefixArg,
}

/// `kforge config verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The .config after dependency resolution (`make olddefconfig`).
    #[arg(long = "final", value_name = "CONFIG")]
    final_config: PathBuf,
    /// The fragments whose values were requested, in the order they were merged.
    #[arg(required = true)]
    fragments: Vec<PathBuf>,
    /// Report values that did not land, but exit with status 0 (the default fails).
    #[arg(long)]
    warn_only: bool,
    /// Also list values that changed relative to this base .config although no fragment asked.
    #[arg(long, value_name = "CONFIG")]
    base: Option<PathBuf>,
    /// Kernel source tree: say where each lost symbol is defined and what it depends on with
    /// the values of every operand, the root causes, and the extra lines that make it land
    /// (checked by resolving again); say what gave each unrequested change; tell symbols this
    /// kernel does not have.
    #[arg(long, value_name = "SRC")]
    kernel_src: Option<PathBuf>,
    /// Architecture for --kernel-src (default: the host's).
    #[arg(long, value_name = "ARCH", requires = "kernel_src")]
    arch: Option<String>,
    /// List every unrequested change instead of the first ones of each kind, and the full
    /// chain of causes and the explanation of each lost value.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    prefix: PrefixArg,
}

/// `kforge config diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first configuration.
    a: PathBuf,
    /// The second configuration.
    b: PathBuf,
    #[command(flatten)]
    prefix: PrefixArg,
}

/// `kforge config get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The .config.
    file: PathBuf,
    /// Symbols, with or without the prefix.
    #[arg(required = true)]
    symbols: Vec<String>,
    #[command(flatten)]
    prefix: PrefixArg,
}

/// `kforge config set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The .config to edit.
    file: PathBuf,
    /// Assignments: KVM=m, MODULES=y, DEBUG_INFO=n, NR_CPUS=64, PHYSICAL_START=0x1000000,
    /// 'LOCALVERSION="-xen"'.
    #[arg(value_name = "SYMBOL=VALUE")]
    assignments: Vec<String>,
    /// Set a string without shell quoting: --set-str LOCALVERSION=-xen.
    #[arg(long, value_name = "SYMBOL=TEXT")]
    set_str: Vec<String>,
    /// Remove every line of a symbol.
    #[arg(long, value_name = "SYMBOL")]
    undefine: Vec<String>,
    /// Write here instead of editing the file in place.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    #[command(flatten)]
    prefix: PrefixArg,
}

/// `kforge config running`.
#[derive(Debug, clap::Args)]
pub struct RunningArgs {
    /// Write the configuration here instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Look for the gzip configuration here instead of /proc/config.gz.
    #[arg(long, value_name = "FILE", hide = true)]
    proc_config: Option<PathBuf>,
    /// Look for config-<release> here instead of /boot.
    #[arg(long, value_name = "DIR", hide = true)]
    boot_dir: Option<PathBuf>,
    /// Use this release instead of /proc/sys/kernel/osrelease.
    #[arg(long, value_name = "RELEASE")]
    release: Option<String>,
    #[command(flatten)]
    prefix: PrefixArg,
}

/// Write to stdout; a closed pipe (`kforge config running | head`) ends the output quietly
/// instead of panicking.
pub(super) fn emit(text: impl std::fmt::Display) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Run a subcommand.
pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Merge(args) => merge_cmd(args, out),
        Cmd::Verify(args) => verify_cmd(args, out),
        Cmd::Diff(args) => diff_cmd(args, out),
        Cmd::Get(args) => get_cmd(args, out),
        Cmd::Set(args) => set_cmd(args, out),
        Cmd::Running(args) => running_cmd(args, out),
        Cmd::Resolve(args) => super::config_eval::resolve_cmd(args, out),
        Cmd::New(args) => super::config_eval::new_cmd(args, out),
        Cmd::Savedefconfig(args) => super::config_eval::savedefconfig_cmd(args, out),
        Cmd::Why(args) => super::config_why::why_cmd(args, out),
        Cmd::Fix(args) => super::config_why::fix_cmd(args, out),
    }
}

fn read_fragments(paths: &[PathBuf], prefix: &Prefix) -> anyhow::Result<Vec<Fragment>> {
    paths
        .iter()
        .map(|p| Fragment::read_with_prefix(p, prefix.clone()).context("reading fragment"))
        .collect()
}

fn merge_cmd(args: MergeArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let prefix = args.prefix.get();
    let base = Config::read_with_prefix(&args.base, prefix.clone()).context("reading base")?;
    let fragments = read_fragments(&args.fragments, &prefix)?;
    let options = MergeOptions {
        builtin_over_module: args.builtin_over_module,
    };
    let merged = merge_with(&base, &fragments, &options);
    let redefined = merged.overrides.iter().any(|o| !o.kept_builtin);
    let write = !(args.strict && redefined);
    if write {
        merged
            .config
            .write(&args.output)
            .context("writing the merged configuration")?;
    }
    if out.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            report: kforge_kconfig::MergeReport<'a>,
            output: Option<&'a PathBuf>,
        }
        out.print_json(&Json {
            report: merged.report(&base, &fragments),
            output: write.then_some(&args.output),
        })?;
    } else if !out.quiet {
        let mut text = String::new();
        let p = prefix.as_str();
        for o in &merged.overrides {
            let old = merged.config.format_assignment(&o.symbol, &o.old);
            let new = merged.config.format_assignment(&o.symbol, &o.new);
            if o.kept_builtin {
                writeln!(
                    text,
                    "{p}{} stays =y: {} asks for =m (-y given)",
                    o.symbol, o.source
                )?;
            } else {
                writeln!(
                    text,
                    "Value of {p}{} is redefined by fragment {}:",
                    o.symbol, o.source
                )?;
                writeln!(text, "  previous: {old}   ({})", o.old_source)?;
                writeln!(text, "  new:      {new}")?;
            }
        }
        if args.redundant {
            for a in &merged.redundant {
                writeln!(
                    text,
                    "Value of {p}{} is redundant by fragment {}",
                    a.symbol, a.source
                )?;
            }
        }
        if write {
            writeln!(
                text,
                "merged {} fragment(s) onto {}: {} redefined, {} requested; written to {} (run make olddefconfig, then kforge config verify)",
                fragments.len(),
                args.base.display(),
                merged.overrides.len(),
                merged.requested.len(),
                args.output.display()
            )?;
        }
        emit(text)?;
    }
    if !write {
        eprintln!(
            "error: --strict: a fragment redefined {} value(s); nothing was written",
            merged.overrides.iter().filter(|o| !o.kept_builtin).count()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn verify_cmd(args: VerifyArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let prefix = args.prefix.get();
    let final_config = Config::read_with_prefix(&args.final_config, prefix.clone())
        .context("reading the final .config")?;
    let fragments = read_fragments(&args.fragments, &prefix)?;
    let requested = Requested::from_fragments(&fragments);
    let mut report = match &args.base {
        Some(base) => {
            let base = Config::read_with_prefix(base, prefix.clone())
                .context("reading the base .config")?;
            verify_with_base(&requested, &base, &final_config)
        }
        None => verify(&requested, &final_config),
    };
    if let Some(src) = &args.kernel_src {
        let tree = kforge_kbuild::SourceTree::open(src)?;
        let arch = args.arch.as_deref().map(srcarch);
        let index = KconfigIndex::build(
            tree.root(),
            Some(arch.as_deref().unwrap_or(&kforge_kconfig::host_srcarch())),
        )?;
        report.explain_with(&index, &final_config);
        // The evaluated explanation, root causes and fix (the kernel's own CONFIG_ prefix).
        if prefix.as_str() == "CONFIG_" {
            match super::config_why::load_tree(src, args.arch.as_deref()) {
                Ok(kconfig) => {
                    let base_path = args.base.as_ref().unwrap_or(&args.final_config);
                    let base_text = std::fs::read(base_path)
                        .with_context(|| format!("reading {}", base_path.display()))?;
                    report.explain_with_kconfig(&kconfig, &requested, &base_text);
                }
                // The index's report stands; say why there is no evaluated one.
                Err(e) => tracing::warn!("no evaluated causes or fix: {e:#}"),
            }
        }
    }
    let lost = !report.lost.is_empty();
    if out.json {
        out.print_json(&report)?;
    } else if !out.quiet || lost {
        if args.all {
            emit(format!("{report:#}"))?;
        } else {
            emit(&report)?;
        }
    }
    // The report is already on stdout: in warn mode there is nothing more to say.
    if !args.warn_only && report.enforce(Mode::Strict).is_err() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn diff_cmd(args: DiffArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let prefix = args.prefix.get();
    let a = Config::read_with_prefix(&args.a, prefix.clone())?;
    let b = Config::read_with_prefix(&args.b, prefix)?;
    let d = kforge_kconfig::diff(&a, &b);
    if out.json {
        out.print_json(&d)?;
    } else {
        emit(&d)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn get_cmd(args: GetArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let config = Config::read_with_prefix(&args.file, args.prefix.get())?;
    if out.json {
        let map: serde_json::Map<String, serde_json::Value> = args
            .symbols
            .iter()
            .map(|s| {
                let name = s
                    .strip_prefix(config.prefix().as_str())
                    .unwrap_or(s)
                    .to_string();
                let v = serde_json::to_value(config.get(s)).unwrap_or(serde_json::Value::Null);
                (name, v)
            })
            .collect();
        out.print_json(&map)?;
    } else {
        for s in &args.symbols {
            match config.get(s) {
                Some(v) => emit(format!("{}\n", v.to_config_text()))?,
                None => emit("undef\n")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn set_cmd(args: SetArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let mut config = Config::read_with_prefix(&args.file, args.prefix.get())?;
    if args.assignments.is_empty() && args.set_str.is_empty() && args.undefine.is_empty() {
        bail!(
            "nothing to set: give SYMBOL=VALUE assignments, --set-str SYMBOL=TEXT or --undefine SYMBOL"
        );
    }
    for a in &args.assignments {
        let Some((name, value)) = a.split_once('=') else {
            bail!("`{a}` is not an assignment; write SYMBOL=VALUE, e.g. KVM=m");
        };
        config
            .set_val(name.trim(), value)
            .with_context(|| format!("setting `{a}`"))?;
    }
    for a in &args.set_str {
        let Some((name, text)) = a.split_once('=') else {
            bail!("`{a}` is not an assignment; write SYMBOL=TEXT, e.g. LOCALVERSION=-xen");
        };
        config
            .set(name.trim(), Value::Str(text.to_string()))
            .with_context(|| format!("setting `{a}`"))?;
    }
    for name in &args.undefine {
        if !config.undefine(name) && !out.quiet {
            eprintln!("note: {name} was not defined");
        }
    }
    let target = args.output.as_ref().unwrap_or(&args.file);
    config.write(target)?;
    if !out.quiet && !out.json {
        emit(format!("wrote {}\n", target.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn running_cmd(args: RunningArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let mut locator = RunningLocator::new().prefix(args.prefix.get());
    if let Some(p) = args.proc_config {
        locator = locator.proc_config(p);
    }
    if let Some(p) = args.boot_dir {
        locator = locator.boot_dir(p);
    }
    if let Some(r) = args.release {
        locator = locator.release(r);
    }
    let running = locator.locate()?;
    if let Some(path) = &args.output {
        running.config.write(path)?;
    }
    if out.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            path: &'a PathBuf,
            source: kforge_kconfig::RunningSource,
            release: Option<&'a str>,
            symbols: usize,
            output: Option<&'a PathBuf>,
        }
        out.print_json(&Json {
            path: &running.path,
            source: running.source,
            release: running.release.as_deref(),
            symbols: running.config.len(),
            output: args.output.as_ref(),
        })?;
    } else {
        if args.output.is_none() {
            emit(&running.config)?;
        }
        if !out.quiet {
            eprintln!(
                "running kernel {} configuration read from {}{}",
                running.release.as_deref().unwrap_or("(release unknown)"),
                running.path.display(),
                args.output
                    .as_ref()
                    .map(|p| format!(", written to {}", p.display()))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
