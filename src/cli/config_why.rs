//! `kforge config why|fix`: why a symbol has its value (definitions, dependencies with values,
//! reverse dependencies, the default or user value that gave it, root causes), and the extra
//! fragment lines that make requested values land, checked by resolving again.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kforge::kconfig::lang::explain::{Cause, Explainer};
use kforge::kconfig::lang::fix::{Request, propose};
use kforge::kconfig::lang::{Kconfig, LoadOptions};
use kforge::kconfig::{Fragment, Value};

use super::Output;
use super::config_eval::{KernelArgs, Run};

/// `kforge config why`.
#[derive(Debug, clap::Args)]
pub struct WhyArgs {
    #[command(flatten)]
    kernel: KernelArgs,
    /// The .config to explain (resolved like `make olddefconfig` first).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The value the root causes are computed for [default: y when the symbol is off,
    /// otherwise none].
    #[arg(long, value_name = "VALUE")]
    want: Option<String>,
    /// Symbols to explain (with or without CONFIG_).
    #[arg(required = true, value_name = "SYMBOL")]
    symbols: Vec<String>,
}

/// `kforge config fix`.
#[derive(Debug, clap::Args)]
pub struct FixArgs {
    #[command(flatten)]
    kernel: KernelArgs,
    /// The base .config the fragments are merged onto.
    #[arg(long, value_name = "BASE")]
    config: PathBuf,
    /// Fragments whose values must land, applied in order (later wins).
    #[arg(required = true, value_name = "FRAGMENT")]
    fragments: Vec<PathBuf>,
    /// Where to write the proposed extra lines (a fragment to pass after the others).
    #[arg(short, long, value_name = "FIX")]
    output: PathBuf,
}

fn strip(name: &str) -> &str {
    name.strip_prefix("CONFIG_").unwrap_or(name)
}

fn cause_line(c: &Cause) -> String {
    let mut s = format!("{c}");
    if let Some(loc) = &c.location {
        let _ = write!(s, " [{loc}]");
    }
    s
}

/// `kforge config why`.
pub fn why_cmd(args: WhyArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let run = Run::load(&args.kernel)?;
    let k = &run.kconfig;
    let text = std::fs::read(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let resolved = k.olddefconfig_bytes(&text, &args.config.display().to_string());
    let mut ex = Explainer::new(k, &resolved, Some(&text));
    let mut items = Vec::new();
    let mut report = String::new();
    for sym in &args.symbols {
        let name = strip(sym);
        let e = ex.explain(name);
        let want = args
            .want
            .clone()
            .or_else(|| (e.value == "n").then(|| "y".to_owned()));
        let causes = match &want {
            Some(w) => ex.root_causes(name, w),
            None => Vec::new(),
        };
        report.push_str(&e.to_text());
        if let Some(w) = &want {
            if causes.is_empty() {
                let _ = writeln!(report, "  {name}={w}: nothing stands in the way");
            } else {
                let _ = writeln!(report, "  Root causes for {name}={w}:");
                for c in &causes {
                    let _ = writeln!(report, "  - {}", cause_line(c));
                    for v in &c.via {
                        let _ = writeln!(report, "      via {v}");
                    }
                }
            }
        }
        report.push('\n');
        items.push(serde_json::json!({
            "explanation": e,
            "want": want,
            "root_causes": causes,
        }));
    }
    if out.json {
        out.print_json(&serde_json::json!({
            "kernel_src": k.srctree(),
            "arch": k.arch(),
            "config": args.config,
            "symbols": items,
        }))?;
    } else if !out.quiet {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `kforge config fix`: exit status 0 when every requested value lands with the proposed
/// lines, 1 when some cannot (the reasons are printed).
pub fn fix_cmd(args: FixArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let base = std::fs::read(&args.config)
        .with_context(|| format!("reading the base {}", args.config.display()))?;
    let mut requested: Vec<Request> = Vec::new();
    for path in &args.fragments {
        let f = Fragment::read(path).context("reading fragment")?;
        for a in f.assignments() {
            let value = match &a.value {
                Value::No => "n".to_owned(),
                v => v.to_config_text(),
            };
            requested.retain(|r| r.name != a.symbol);
            requested.push(Request::new(a.symbol.clone(), value));
        }
    }
    let run = Run::load(&args.kernel)?;
    let p = propose(&run.kconfig, &base, &requested);
    kforge::kconfig::write_atomic(&args.output, p.fragment().as_bytes())
        .with_context(|| format!("writing {}", args.output.display()))?;
    if out.json {
        out.print_json(&serde_json::json!({
            "kernel_src": run.kconfig.srctree(),
            "arch": run.kconfig.arch(),
            "base": args.config,
            "fragments": args.fragments,
            "output": args.output,
            "proposal": p,
        }))?;
    } else if !out.quiet {
        print!("{p}");
        for o in p.not_landing() {
            for c in &o.blocked_by {
                for v in &c.via {
                    println!("    via {v}");
                }
            }
        }
        eprintln!(
            "fix: wrote {} ({} lines; {} of {} requested values land with it)",
            args.output.display(),
            p.lines.len(),
            p.outcomes.iter().filter(|o| o.lands).count(),
            p.outcomes.len()
        );
    }
    Ok(if p.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Loads the Kconfig files of `src` for `arch` (the host's when `None`) with the default probe
/// cache, as `kforge config resolve` does.
pub(super) fn load_tree(src: &Path, arch: Option<&str>) -> anyhow::Result<Kconfig> {
    let mut opts = LoadOptions::new(src);
    opts.arch = arch.map(str::to_owned);
    opts.probe_cache = Some(kforge::fetch::Cache::default_root().join("kconfig-probes"));
    opts.interrupt = super::interrupt_flag();
    Kconfig::load(&opts).with_context(|| format!("loading the Kconfig files of {}", src.display()))
}
