//! `kforge toolchain …`: list the C compilers on PATH, select one by requirement.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;
use kforge_toolchain::select::Error as SelectError;
use kforge_toolchain::{
    Discovered, Discovery, Preference, Requirement, Selection, Toolchain, Wrapper, WrapperKind,
};

use super::Output;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// List every C compiler on PATH (cc, gcc, gcc-N, clang, clang-N, <triple>-gcc[-N]) with its
    /// family, version, target and all its names; unusable ones are reported too.
    List(ListArgs),
    /// Choose the compiler that satisfies a requirement and print its make variables; exits with
    /// status 1, listing what was found and the package to install, when none does.
    Select(SelectArgs),
    /// Show which compilers a kernel build would use given CC, HOSTCC, CROSS_COMPILE and LLVM
    /// from the environment (the kernel Makefile's precedence), and identify them.
    Env,
    /// List the compiler wrappers (ccache, sccache, distcc, icecc) on PATH with their versions,
    /// and the package that provides each missing one (`--cc-wrapper` of `kforge kernel`).
    Wrappers(ListArgs),
}

/// Where to look.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Search this colon-separated list of directories instead of $PATH.
    #[arg(long, value_name = "DIRS")]
    path: Option<OsString>,
}

/// `kforge toolchain list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    search: SearchArgs,
}

/// `kforge toolchain select`.
#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// The requirement: 'gcc >=3.2, <4', 'gcc-11', 'clang >=14', 'any >=10'.
    requirement: String,
    /// Among matches, prefer the oldest version instead of the newest.
    #[arg(long, conflicts_with = "first")]
    oldest: bool,
    /// Among matches, prefer the first on PATH.
    #[arg(long)]
    first: bool,
    /// Also print a configure argument for this flag, e.g. --configure-flag=--qemu-cc.
    #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
    configure_flag: Option<String>,
    /// Use clang as CC only (GNU binutils) instead of LLVM=1 / LLVM=-N.
    #[arg(long)]
    no_llvm: bool,
    #[command(flatten)]
    search: SearchArgs,
}

fn discover(search: &SearchArgs) -> anyhow::Result<Discovered> {
    let mut discovery = Discovery::new();
    if let Some(path) = &search.path {
        discovery = discovery.path(path);
    }
    discovery.run().context("discovering C compilers")
}

/// Run a subcommand.
pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::List(args) => list(&args, out),
        Cmd::Select(args) => select(&args, out),
        Cmd::Env => env(out),
        Cmd::Wrappers(args) => wrappers(&args, out),
    }
}

#[derive(serde::Serialize)]
struct EnvReport {
    settings: Toolchain,
    cc: String,
    hostcc: String,
    cc_identified: Result<kforge_toolchain::Compiler, String>,
    hostcc_identified: Result<kforge_toolchain::Compiler, String>,
    make_vars: Vec<(String, String)>,
}

fn env(out: &Output) -> anyhow::Result<ExitCode> {
    let settings = Toolchain::from_env()?;
    let identify =
        |command: &str| kforge_toolchain::Compiler::identify(command).map_err(|e| e.to_string());
    let report = EnvReport {
        cc: settings.cc_command(),
        hostcc: settings.hostcc_command(),
        cc_identified: identify(&settings.cc_command()),
        hostcc_identified: identify(&settings.hostcc_command()),
        make_vars: settings.make_vars(),
        settings,
    };
    if out.json {
        out.print_json(&report)?;
    } else {
        for (role, command, identified) in [
            ("CC", &report.cc, &report.cc_identified),
            ("HOSTCC", &report.hostcc, &report.hostcc_identified),
        ] {
            match identified {
                Ok(c) => println!(
                    "{role:<6} {command}: {} {} ({})",
                    c.family, c.version, c.target
                ),
                Err(e) => println!("{role:<6} {command}: {e}"),
            }
        }
        if report.make_vars.is_empty() {
            println!("make variables: none (CC, HOSTCC, CROSS_COMPILE and LLVM are unset)");
        } else {
            let vars: Vec<String> = report
                .make_vars
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!("make variables: {}", vars.join(" "));
        }
    }
    let ok = report.cc_identified.is_ok() && report.hostcc_identified.is_ok();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn list(args: &ListArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let found = discover(&args.search)?;
    if out.json {
        out.print_json(&found)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = found
        .compilers
        .iter()
        .map(|c| {
            [
                c.command.clone(),
                c.family.to_string(),
                c.version.to_string(),
                c.target.clone(),
                c.names.join(", "),
            ]
        })
        .collect();
    let header = ["COMMAND", "FAMILY", "VERSION", "TARGET", "NAMES"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    if found.compilers.is_empty() {
        println!("(no C compiler found on {})", found.search_path);
    }
    for b in &found.broken {
        println!("unusable: {}: {}", b.path.display(), b.error);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct WrapperRow {
    kind: WrapperKind,
    found: Option<Wrapper>,
    error: Option<String>,
}

fn wrappers(args: &ListArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let path = args
        .search
        .path
        .clone()
        .or_else(|| std::env::var_os("PATH"));
    let rows: Vec<WrapperRow> = WrapperKind::ALL
        .iter()
        .map(|&kind| match Wrapper::find_in(kind, path.as_deref()) {
            Ok(w) => WrapperRow {
                kind,
                found: Some(w),
                error: None,
            },
            Err(e) => WrapperRow {
                kind,
                found: None,
                error: Some(e.to_string()),
            },
        })
        .collect();
    if out.json {
        out.print_json(&rows)?;
    } else {
        for row in &rows {
            match (&row.found, &row.error) {
                (Some(w), _) => println!("{:<8} {}", row.kind, w.describe()),
                (None, Some(e)) => println!("{:<8} missing: {e}", row.kind),
                (None, None) => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct Chosen<'a> {
    compiler: &'a kforge_toolchain::Compiler,
    make_vars: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    configure_arg: Option<String>,
}

fn select(args: &SelectArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let requirement: Requirement = args.requirement.parse()?;
    let found = discover(&args.search)?;
    let preference = if args.oldest {
        Preference::Oldest
    } else if args.first {
        Preference::PathOrder
    } else {
        Preference::Newest
    };
    match Selection::new(requirement)
        .prefer(preference)
        .select(&found)
    {
        Ok(compiler) => {
            let mut toolchain = Toolchain::for_compiler(compiler);
            if args.no_llvm {
                toolchain = toolchain.without_llvm();
            }
            let chosen = Chosen {
                compiler,
                make_vars: toolchain.make_vars(),
                configure_arg: args
                    .configure_flag
                    .as_deref()
                    .map(|f| toolchain.configure_args(f).join(" ")),
            };
            if out.json {
                out.print_json(&chosen)?;
            } else {
                println!("{} at {}", compiler.describe(), compiler.path.display());
                for (name, value) in &chosen.make_vars {
                    println!("{name}={value}");
                }
                if let Some(arg) = &chosen.configure_arg {
                    println!("{arg}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(SelectError::NoMatch(miss)) => {
            if out.json {
                out.print_json(&serde_json::json!({
                    "error": miss.to_string(),
                    "no_match": &*miss,
                }))?;
            }
            eprintln!("error: {miss}");
            Ok(ExitCode::from(1))
        }
        Err(other) => Err(other.into()),
    }
}
