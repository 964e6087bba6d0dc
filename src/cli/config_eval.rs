//! `kforge config resolve|new|savedefconfig`: the kernel's configuration targets evaluated by
//! the library's Kconfig evaluator, without make and without building `conf`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use kforge::kconfig::lang::MacroMessageKind;
use kforge::kconfig::lang::probe::ProbeSource;
use kforge::kconfig::lang::{AllConfig, Kconfig, LoadOptions, NewConfigOptions, Resolved, Target};

use super::Output;

/// Where the kernel tree is and which architecture to evaluate it for.
#[derive(Debug, clap::Args)]
pub struct KernelArgs {
    /// Kernel source tree (the directory holding the top Makefile and Kconfig).
    #[arg(long, value_name = "SRC")]
    kernel_src: PathBuf,
    /// Architecture, as the kernel's ARCH: x86_64, i386, arm64, arm, riscv, powerpc, s390, mips,
    /// loongarch, sparc, … [default: the host's, as make without ARCH=]
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// Cache of `$(shell,…)` probe results, keyed by the command and the identity of the
    /// programs it runs [default: $KFORGE_CACHE_DIR, $XDG_CACHE_HOME/kforge or ~/.cache/kforge,
    /// then kconfig-probes]
    #[arg(long = "probe-cache-dir", alias = "probe-cache", value_name = "DIR")]
    probe_cache: Option<PathBuf>,
    /// Run every probe, read and write no probe cache.
    #[arg(long, conflicts_with = "probe_cache")]
    no_probe_cache: bool,
}

/// `kforge config resolve`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    kernel: KernelArgs,
    /// The .config to resolve.
    input: PathBuf,
    /// Where to write the resolved .config (atomically).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

/// `kforge config new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    #[command(flatten)]
    kernel: KernelArgs,
    /// allnoconfig, allyesconfig, allmodconfig, alldefconfig, defconfig (the architecture's
    /// default), a NAME_defconfig from arch/$SRCARCH/configs, or a defconfig file.
    target: String,
    /// Where to write the new .config (atomically).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Values to keep, as make's KCONFIG_ALLCONFIG (allnoconfig, allyesconfig, allmodconfig and
    /// alldefconfig only): a .config fragment, read from the current directory or else from
    /// the kernel tree; `1` looks for all{no,yes,mod,def}.config, then all.config, in the
    /// current directory and then in the kernel tree.
    #[arg(long, value_name = "FILE")]
    allconfig: Option<String>,
}

/// `kforge config savedefconfig`.
#[derive(Debug, clap::Args)]
pub struct SaveDefconfigArgs {
    #[command(flatten)]
    kernel: KernelArgs,
    /// The .config to minimise.
    input: PathBuf,
    /// Where to write the minimal defconfig (atomically).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

/// `kforge config resolve`: `make olddefconfig` without make.
pub fn resolve_cmd(args: ResolveArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let run = Run::load(&args.kernel)?;
    let resolved = run
        .kconfig
        .olddefconfig(&args.input)
        .with_context(|| format!("resolving {}", args.input.display()))?;
    let text = resolved.to_config_string();
    let code = run.finish(
        "olddefconfig",
        Some(&args.input),
        &resolved,
        &text,
        &args.output,
        out,
    );
    exit_without_freeing(run, resolved);
    code
}

/// `kforge config new`: `make <target>` without make.
pub fn new_cmd(args: NewArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let target: Target = args.target.parse().with_context(|| {
        format!(
            "unknown target {:?}: use allnoconfig, allyesconfig, allmodconfig, alldefconfig, \
             defconfig, a NAME_defconfig or the path of a defconfig file",
            args.target
        )
    })?;
    let mut opts = NewConfigOptions::default();
    if let Some(value) = &args.allconfig {
        let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        opts = opts.allconfig(AllConfig::from_env_value(value, here));
    }
    let run = Run::load(&args.kernel)?;
    let resolved = run
        .kconfig
        .new_config_with(&target, &opts)
        .with_context(|| format!("making {target}"))?;
    let text = resolved.to_config_string();
    let input = match &opts.allconfig {
        Some(AllConfig::File(path)) => Some(path.as_path()),
        _ => None,
    };
    let code = run.finish(
        &target.to_string(),
        input,
        &resolved,
        &text,
        &args.output,
        out,
    );
    exit_without_freeing(run, resolved);
    code
}

/// `kforge config savedefconfig`: `make savedefconfig` without make.
pub fn savedefconfig_cmd(args: SaveDefconfigArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let run = Run::load(&args.kernel)?;
    let resolved = run
        .kconfig
        .olddefconfig(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let text = resolved.to_savedefconfig_string();
    let code = run.finish(
        "savedefconfig",
        Some(&args.input),
        &resolved,
        &text,
        &args.output,
        out,
    );
    exit_without_freeing(run, resolved);
    code
}

/// The command is about to return to `main` and exit: the loaded tree (about a million small
/// allocations for a kernel tree) is left for the operating system to reclaim instead of being
/// freed piece by piece, which took about a tenth of a warm run.
fn exit_without_freeing(run: Run, resolved: Resolved) {
    std::mem::forget(resolved);
    std::mem::forget(run);
}

/// A loaded tree and how long loading took.
pub(super) struct Run {
    pub(super) kconfig: Kconfig,
    load_ms: f64,
    started: Instant,
}

impl Run {
    pub(super) fn load(args: &KernelArgs) -> anyhow::Result<Run> {
        let started = Instant::now();
        let mut opts = LoadOptions::new(&args.kernel_src);
        opts.arch = args.arch.clone();
        opts.probe_cache = if args.no_probe_cache {
            None
        } else {
            Some(
                args.probe_cache
                    .clone()
                    .unwrap_or_else(|| kforge::fetch::Cache::default_root().join("kconfig-probes")),
            )
        };
        opts.interrupt = super::interrupt_flag();
        let kconfig = Kconfig::load(&opts).with_context(|| {
            format!("loading the Kconfig files of {}", args.kernel_src.display())
        })?;
        Ok(Run {
            kconfig,
            load_ms: started.elapsed().as_secs_f64() * 1e3,
            started,
        })
    }

    /// Write `text` to `output` atomically and report.
    fn finish(
        &self,
        operation: &str,
        input: Option<&Path>,
        resolved: &Resolved,
        text: &str,
        output: &Path,
        out: &Output,
    ) -> anyhow::Result<ExitCode> {
        // Temp file beside the output, synced, then renamed: never a half-written file.
        kforge::kconfig::write_atomic(output, text.as_bytes())
            .with_context(|| format!("writing {}", output.display()))?;
        let k = &self.kconfig;
        let probes = k.probes();
        let cached = probes
            .iter()
            .filter(|p| p.source == ProbeSource::Cache)
            .count();
        let total_ms = self.started.elapsed().as_secs_f64() * 1e3;
        if out.json {
            out.print_json(&serde_json::json!({
                "operation": operation,
                "kernel_src": k.srctree(),
                "arch": k.arch(),
                "srcarch": k.srcarch(),
                "input": input,
                "output": output,
                "diagnostics": resolved.diagnostics(),
                "parse_warnings": k.warnings(),
                "macro_messages": k.macro_messages().iter().map(|m| serde_json::json!({
                    "kind": match m.kind {
                        MacroMessageKind::Info => "info",
                        _ => "warning",
                    },
                    "file": m.file,
                    "line": m.line,
                    "text": m.text,
                })).collect::<Vec<_>>(),
                "probes": probes,
                "probes_from_cache": cached,
                "load_ms": self.load_ms,
                "total_ms": total_ms,
            }))?;
            return Ok(ExitCode::SUCCESS);
        }
        // As conf prints them: parse warnings and macro warnings, then the .config's warnings.
        let mut err = String::new();
        for w in k.warnings() {
            writeln!(err, "{w}")?;
        }
        for m in k.macro_messages() {
            match m.kind {
                MacroMessageKind::Info => writeln!(err, "{}", m.text)?,
                _ => writeln!(err, "{}:{}: {}", m.file, m.line, m.text)?,
            }
        }
        for d in resolved.diagnostics() {
            writeln!(err, "{d}")?;
        }
        if !out.quiet {
            eprint!("{err}");
            eprintln!(
                "{operation}: wrote {} (ARCH={}, {} probes, {cached} from the cache, {:.0} ms)",
                output.display(),
                k.arch(),
                probes.len(),
                total_ms
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
