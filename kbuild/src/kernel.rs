//! [`KernelTree`]: the Linux build steps over [`Make`] — config targets, non-interactive config
//! resolution chosen by the kernel's era, preparing for external modules, `M=` builds,
//! `kernelrelease`, and a reproducible mode.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use crate::cache::CacheTool;
use crate::make::{self, Make, absolute};
use crate::outcome::Outcome;
use crate::output::{Line, LineCallback};

/// Errors of the [`KernelTree`] steps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The top Makefile could not be read.
    #[error("cannot read {path} (KernelTree::new takes the top directory of a Linux source tree)")]
    ReadMakefile {
        /// The Makefile.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The top Makefile does not say which kernel this is.
    #[error(
        "{path}: no `{field} = <number>` line in the first lines; is this the top directory of a Linux source tree?"
    )]
    NoVersion {
        /// The Makefile.
        path: PathBuf,
        /// The missing field (`VERSION` or `PATCHLEVEL`).
        field: &'static str,
    },
    /// A make step failed.
    #[error(transparent)]
    Make(#[from] make::Error),
    /// `make kernelrelease` / `kernelversion` printed nothing usable.
    #[error(
        "`make {target}` printed no version on stdout (is the tree configured? run a config target first)"
    )]
    NoRelease {
        /// `kernelrelease` or `kernelversion`.
        target: &'static str,
    },
}

impl Error {
    /// Whether a make step stopped because the interrupt flag was raised.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Make(e) if e.is_interrupted())
    }
}

/// The version in a tree's top Makefile (`VERSION`, `PATCHLEVEL`, `SUBLEVEL`, `EXTRAVERSION`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct KernelVersion {
    /// `VERSION` (e.g. 6).
    pub version: u32,
    /// `PATCHLEVEL` (e.g. 1).
    pub patchlevel: u32,
    /// `SUBLEVEL` (0 when empty).
    pub sublevel: u32,
    /// `EXTRAVERSION` (e.g. `-rc1`, `.3`, or empty).
    pub extraversion: String,
}

impl KernelVersion {
    /// Read the version from `<src>/Makefile`.
    pub fn from_tree(src: &Path) -> Result<KernelVersion, Error> {
        let path = src.join("Makefile");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadMakefile {
            path: path.clone(),
            source,
        })?;
        KernelVersion::parse_makefile(&text).map_err(|e| Error::NoVersion {
            path,
            field: e.field,
        })
    }

    /// The version a release archive or directory is named after: `linux-2.6.23`,
    /// `linux-2.6.23.tar.gz`, `linux-source-6.1`, `linux-3.6.11-rc1`. `None` when the name holds
    /// no `N.N` after a `-` (a plan then cannot tell the era before the tree is there).
    ///
    /// ```
    /// use kforge_kbuild::{KernelVersion, ResolveStrategy};
    /// let v = KernelVersion::from_release_name("linux-2.6.23.tar.gz").unwrap();
    /// assert_eq!((v.version, v.patchlevel, v.sublevel), (2, 6, 23));
    /// assert_eq!(v.resolve_strategy(), ResolveStrategy::OldconfigWithDefaults);
    /// assert_eq!(KernelVersion::from_release_name("linux-source-6.1").unwrap().patchlevel, 1);
    /// assert!(KernelVersion::from_release_name("linux-mainline").is_none());
    /// ```
    pub fn from_release_name(name: &str) -> Option<KernelVersion> {
        name.split('-').find_map(|part| {
            let mut numbers = part.split('.').map_while(|n| n.parse::<u32>().ok());
            let version = numbers.next()?;
            let patchlevel = numbers.next()?;
            Some(KernelVersion {
                version,
                patchlevel,
                sublevel: numbers.next().unwrap_or(0),
                extraversion: String::new(),
            })
        })
    }

    /// Parse the head of a top Makefile; on failure, the missing field.
    pub fn parse_makefile(text: &str) -> Result<KernelVersion, MissingVersionField> {
        let value = |key: &str| -> Option<String> {
            text.lines().take(64).find_map(|line| {
                let rest = line.strip_prefix(key)?.trim_start();
                let rest = rest.strip_prefix('=')?;
                Some(rest.trim().to_owned())
            })
        };
        let number = |key: &'static str| -> Result<u32, MissingVersionField> {
            value(key)
                .and_then(|v| v.parse().ok())
                .ok_or(MissingVersionField { field: key })
        };
        Ok(KernelVersion {
            version: number("VERSION")?,
            patchlevel: number("PATCHLEVEL")?,
            sublevel: value("SUBLEVEL").and_then(|v| v.parse().ok()).unwrap_or(0),
            extraversion: value("EXTRAVERSION").unwrap_or_default(),
        })
    }

    /// True if this is at least `version.patchlevel.sublevel`.
    pub fn at_least(&self, version: u32, patchlevel: u32, sublevel: u32) -> bool {
        (self.version, self.patchlevel, self.sublevel) >= (version, patchlevel, sublevel)
    }

    /// How this kernel resolves a `.config` without asking questions.
    pub fn resolve_strategy(&self) -> ResolveStrategy {
        if self.at_least(3, 7, 0) {
            ResolveStrategy::Olddefconfig
        } else if self.at_least(2, 6, 36) {
            ResolveStrategy::Oldnoconfig
        } else {
            ResolveStrategy::OldconfigWithDefaults
        }
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.version, self.patchlevel, self.sublevel, self.extraversion
        )
    }
}

/// A top Makefile without a numeric `VERSION` or `PATCHLEVEL` among its first lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no numeric {field} in the top Makefile's first 64 lines")]
pub struct MissingVersionField {
    /// `VERSION` or `PATCHLEVEL`.
    pub field: &'static str,
}

/// How a `.config` is brought up to date without prompting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveStrategy {
    /// `make olddefconfig` (Linux 3.7 and later): new symbols take their defaults.
    Olddefconfig,
    /// `make oldnoconfig` (Linux 2.6.36 to 3.6). Despite its name it gives new symbols their
    /// defaults (3.7 renamed it to `olddefconfig` for that reason).
    Oldnoconfig,
    /// `make oldconfig` with every prompt answered by a newline (`yes "" | make oldconfig`),
    /// for kernels before 2.6.36.
    OldconfigWithDefaults,
}

impl ResolveStrategy {
    /// The make target.
    pub fn target(self) -> &'static str {
        match self {
            ResolveStrategy::Olddefconfig => "olddefconfig",
            ResolveStrategy::Oldnoconfig => "oldnoconfig",
            ResolveStrategy::OldconfigWithDefaults => "oldconfig",
        }
    }
}

impl fmt::Display for ResolveStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveStrategy::OldconfigWithDefaults => {
                f.write_str("oldconfig (every prompt answered with its default)")
            }
            other => f.write_str(other.target()),
        }
    }
}

/// The result of [`KernelTree::olddefconfig`].
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResolution {
    /// The kernel version that decided the strategy.
    pub kernel: KernelVersion,
    /// What was used.
    pub strategy: ResolveStrategy,
    /// The make run.
    pub outcome: Outcome,
}

/// The result of [`KernelTree::prepare_for_external_modules`].
#[derive(Debug, Clone, Serialize)]
pub struct ModulesPrepared {
    /// The targets used (`modules_prepare`, or `prepare scripts` on trees without it).
    pub targets: Vec<String>,
    /// The make run.
    pub outcome: Outcome,
}

/// Fixed build identity for reproducible builds (the kernel's `KBUILD_BUILD_*` variables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reproducible {
    /// `KBUILD_BUILD_TIMESTAMP` (shown by `uname -v`).
    pub timestamp: String,
    /// `KBUILD_BUILD_USER`.
    pub user: String,
    /// `KBUILD_BUILD_HOST`.
    pub host: String,
    /// `KBUILD_BUILD_VERSION` (the `#N` of `uname -v`, otherwise counted per build directory).
    pub build_version: String,
    /// `SOURCE_DATE_EPOCH` (seconds since the epoch) for code outside the kernel's own rules
    /// that reads it (`__DATE__`/`__TIME__` in GCC, tools that stamp archives); `None` leaves
    /// the inherited environment alone.
    pub source_date_epoch: Option<i64>,
}

impl Default for Reproducible {
    fn default() -> Reproducible {
        Reproducible {
            timestamp: "Thu Jan  1 00:00:00 UTC 1970".into(),
            user: "kforge".into(),
            host: "kforge".into(),
            build_version: "1".into(),
            source_date_epoch: None,
        }
    }
}

/// A Linux source tree and how to build it: source `src`, optional out-of-tree build directory
/// `out` (`O=`), `ARCH`, extra make variables, and run settings shared by every step.
///
/// Every step is a [`Make`] (see [`KernelTree::make`]) so they all get the same supervision:
/// closed stdin, log files, timeout, interrupt, process-group kill.
///
/// ```no_run
/// # fn main() -> Result<(), kforge_kbuild::kernel::Error> {
/// use kforge_kbuild::KernelTree;
/// let mut tree = KernelTree::new("/usr/src/linux-source-6.1");
/// tree.build_dir("/tmp/kbuild").arch("x86_64").log_dir("/tmp/kbuild/logs");
/// tree.config_target("defconfig")?;
/// let resolved = tree.olddefconfig()?;
/// println!("resolved with {}", resolved.strategy);
/// tree.prepare_for_external_modules()?;
/// println!("release {}", tree.kernelrelease()?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KernelTree {
    src: PathBuf,
    out: Option<PathBuf>,
    arch: Option<String>,
    cross_compile: Option<String>,
    vars: Vec<(String, String)>,
    env: Vec<(String, String)>,
    jobs: Option<usize>,
    log_dir: Option<PathBuf>,
    timeout: Option<Duration>,
    interrupt: Option<Arc<AtomicBool>>,
    on_line: Option<CallbackHolder>,
    reproducible: Option<Reproducible>,
    verbose: bool,
    program: Option<String>,
    cache_stats: Option<CacheTool>,
}

#[derive(Clone)]
struct CallbackHolder(LineCallback);

impl fmt::Debug for CallbackHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<line callback>")
    }
}

impl KernelTree {
    /// The source tree at `src` (the directory with the top Makefile).
    pub fn new(src: impl Into<PathBuf>) -> KernelTree {
        KernelTree {
            src: src.into(),
            out: None,
            arch: None,
            cross_compile: None,
            vars: Vec::new(),
            env: Vec::new(),
            jobs: None,
            log_dir: None,
            timeout: None,
            interrupt: None,
            on_line: None,
            reproducible: None,
            verbose: false,
            program: None,
            cache_stats: None,
        }
    }

    /// Build out of tree in `out` (`O=`), leaving the source tree untouched.
    pub fn build_dir(&mut self, out: impl Into<PathBuf>) -> &mut KernelTree {
        self.out = Some(out.into());
        self
    }

    /// `ARCH=`.
    pub fn arch(&mut self, arch: impl Into<String>) -> &mut KernelTree {
        self.arch = Some(arch.into());
        self
    }

    /// `CROSS_COMPILE=`.
    pub fn cross_compile(&mut self, prefix: impl Into<String>) -> &mut KernelTree {
        self.cross_compile = Some(prefix.into());
        self
    }

    /// A make variable for every step (e.g. `CC=gcc-12`, `LLVM=1`).
    pub fn var(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut KernelTree {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// Several make variables, e.g. a toolchain's `(name, value)` pairs.
    pub fn vars<I, K, V>(&mut self, vars: I) -> &mut KernelTree
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in vars {
            self.var(k, v);
        }
        self
    }

    /// An environment variable for every step.
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut KernelTree {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Parallel jobs (default: the available parallelism).
    pub fn jobs(&mut self, jobs: usize) -> &mut KernelTree {
        self.jobs = Some(jobs);
        self
    }

    /// Keep one log file per step in this directory, named after the targets
    /// (`defconfig.log`, `modules_prepare.log`, …).
    pub fn log_dir(&mut self, dir: impl Into<PathBuf>) -> &mut KernelTree {
        self.log_dir = Some(dir.into());
        self
    }

    /// A timeout for each step.
    pub fn timeout(&mut self, timeout: Duration) -> &mut KernelTree {
        self.timeout = Some(timeout);
        self
    }

    /// The interrupt flag for every step.
    pub fn interrupt(&mut self, flag: Arc<AtomicBool>) -> &mut KernelTree {
        self.interrupt = Some(flag);
        self
    }

    /// A line callback for every step.
    pub fn on_line<F>(&mut self, f: F) -> &mut KernelTree
    where
        F: Fn(&Line<'_>) + Send + Sync + 'static,
    {
        self.on_line = Some(CallbackHolder(Arc::new(f)));
        self
    }

    /// Full command lines (`V=1`) for every step.
    pub fn verbose(&mut self, verbose: bool) -> &mut KernelTree {
        self.verbose = verbose;
        self
    }

    /// The make program (default `make`).
    pub fn make_program(&mut self, program: impl Into<String>) -> &mut KernelTree {
        self.program = Some(program.into());
        self
    }

    /// Reproducible mode: fixed `KBUILD_BUILD_TIMESTAMP`, `_USER`, `_HOST`, `_VERSION` (and
    /// `SOURCE_DATE_EPOCH` when given), and `-ffile-prefix-map` for the source and build
    /// directories added to `KCFLAGS` and `KAFLAGS` (so neither path lands in objects, debug
    /// info or `__FILE__`), making two builds of the same inputs in different directories
    /// identical. GCC 8+ and Clang 10+ pass the maps on to the assembler as
    /// `--debug-prefix-map`, so `.S` files are covered too.
    ///
    /// `HOSTCFLAGS` is left alone: the host programs are not part of the output, and
    /// `tools/`' own Makefiles use it as a whole flag set (libbpf takes it as `EXTRA_CFLAGS`,
    /// which replaces its `-g -O2`). For a compiler cache, ccache's `hash_dir = false`
    /// (`CCACHE_NOHASHDIR`) is what lets those `-g` host builds hit in a new directory.
    ///
    /// It is also what lets a compiler cache serve a second build directory: with debug info
    /// (`-g`, `CONFIG_DEBUG_INFO`) and without the maps, GCC writes the build directory into
    /// every object (`DW_AT_comp_dir`), so ccache must hash the working directory and every
    /// object of a new `O=` misses; with them, ccache (4.x) applies the same maps to the
    /// directory it hashes and the objects hit. The fixed `KBUILD_BUILD_*` values keep
    /// `include/generated/compile.h` identical, so what includes it (`init/version.c`) hits
    /// too. No ccache setting (`base_dir`, `hash_dir`) is needed. Without debug info, kbuild's
    /// relative `O=` command lines already keep the directory out of most objects.
    pub fn reproducible(&mut self, identity: Reproducible) -> &mut KernelTree {
        self.reproducible = Some(identity);
        self
    }

    /// Report `tool`'s counters (hits, misses, remote jobs) over every step in its
    /// [`Outcome::cache`]; see [`Make::cache_stats`]. The wrapper itself comes in through the
    /// `CC`/`HOSTCC` variables and the environment (kforge-toolchain's `Wrapper`).
    pub fn cache_stats(&mut self, tool: CacheTool) -> &mut KernelTree {
        self.cache_stats = Some(tool);
        self
    }

    /// The source tree.
    pub fn src(&self) -> &Path {
        &self.src
    }

    /// The build directory, if out of tree.
    pub fn out(&self) -> Option<&Path> {
        self.out.as_deref()
    }

    /// Where `.config` lives: the build directory, or the source tree.
    pub fn config_path(&self) -> PathBuf {
        self.out.as_deref().unwrap_or(&self.src).join(".config")
    }

    /// The version in the top Makefile.
    pub fn version(&self) -> Result<KernelVersion, Error> {
        KernelVersion::from_tree(&self.src)
    }

    /// A [`Make`] for `targets` with every tree setting applied, for anything the helpers do
    /// not cover (the caller may change it further).
    pub fn make<I, T>(&self, targets: I) -> Make
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut make = Make::new(&self.src);
        make.targets(targets);
        if let Some(program) = &self.program {
            make.program(program);
        }
        if let Some(out) = &self.out {
            make.build_dir(out);
        }
        if let Some(arch) = &self.arch {
            make.arch(arch);
        }
        if let Some(prefix) = &self.cross_compile {
            make.cross_compile(prefix);
        }
        if let Some(jobs) = self.jobs {
            make.jobs(jobs);
        }
        make.verbose(self.verbose);
        if let Some(tool) = self.cache_stats {
            make.cache_stats(tool);
        }
        let mut vars = self.vars.clone();
        if let Some(identity) = &self.reproducible {
            for (key, value) in [
                ("KBUILD_BUILD_TIMESTAMP", &identity.timestamp),
                ("KBUILD_BUILD_USER", &identity.user),
                ("KBUILD_BUILD_HOST", &identity.host),
                ("KBUILD_BUILD_VERSION", &identity.build_version),
            ] {
                make.env(key, value);
            }
            if let Some(epoch) = identity.source_date_epoch {
                make.env("SOURCE_DATE_EPOCH", epoch.to_string());
            }
            let maps = self.prefix_maps();
            for flags in ["KCFLAGS", "KAFLAGS"] {
                let existing = vars
                    .iter()
                    .rev()
                    .find(|(k, _)| k == flags)
                    .map(|(_, v)| v.clone());
                let value = match existing {
                    Some(v) if !v.is_empty() => format!("{v} {maps}"),
                    _ => maps.clone(),
                };
                vars.push((flags.to_owned(), value));
            }
        }
        make.vars(vars);
        for (key, value) in &self.env {
            make.env(key, value);
        }
        if let Some(dir) = &self.log_dir {
            let name = log_name(&make.get_targets().join("+"));
            make.log_file(dir.join(format!("{name}.log")));
        }
        if let Some(timeout) = self.timeout {
            make.timeout(timeout);
        }
        if let Some(flag) = &self.interrupt {
            make.interrupt(Arc::clone(flag));
        }
        if let Some(CallbackHolder(cb)) = &self.on_line {
            let cb = Arc::clone(cb);
            make.on_line(move |line| cb(line));
        }
        make
    }

    /// `-ffile-prefix-map` flags for the source and build directories.
    fn prefix_maps(&self) -> String {
        // GCC tries the last map first: per directory, `<dir>/=` (paths inside it become
        // relative, as the kernel's own -fmacro-prefix-map does) then `<dir>=.` (the directory
        // itself, e.g. DW_AT_comp_dir); the build directory last, as it may sit inside `src`.
        let mut dirs = vec![absolute(&self.src)];
        if let Some(out) = &self.out {
            dirs.push(absolute(out));
        }
        let mut maps = Vec::new();
        for dir in dirs {
            let dir = dir.display().to_string();
            let dir = dir.trim_end_matches('/');
            maps.push(format!("-ffile-prefix-map={dir}=."));
            maps.push(format!("-ffile-prefix-map={dir}/="));
        }
        maps.join(" ")
    }

    /// Run a config target such as `defconfig`, `tinyconfig`, `allnoconfig` or
    /// `x86_64_defconfig`.
    pub fn config_target(&self, target: &str) -> Result<Outcome, Error> {
        Ok(self.make([target]).run()?)
    }

    /// Resolve the `.config` without prompting, the way this kernel's era allows (see
    /// [`ResolveStrategy`]): `olddefconfig` on 3.7+, `oldnoconfig` on 2.6.36–3.6, else
    /// `oldconfig` with every prompt answered by its default.
    pub fn olddefconfig(&self) -> Result<ConfigResolution, Error> {
        let kernel = self.version()?;
        self.resolve_config_with(kernel.resolve_strategy())
    }

    /// Resolve the `.config` with an explicit strategy (e.g. a vendor tree whose Makefile
    /// version does not tell its Kconfig era).
    pub fn resolve_config_with(
        &self,
        strategy: ResolveStrategy,
    ) -> Result<ConfigResolution, Error> {
        let kernel = self.version()?;
        tracing::info!(%kernel, %strategy, "resolving the config");
        let mut make = self.make([strategy.target()]);
        if strategy == ResolveStrategy::OldconfigWithDefaults {
            make.answer_prompts_with_defaults(true);
        }
        let outcome = make.run()?;
        Ok(ConfigResolution {
            kernel,
            strategy,
            outcome,
        })
    }

    /// Prepare the tree for building external modules: `modules_prepare` where the top
    /// Makefile has it, else `prepare scripts` (as the 2.6-era HOWTOs did).
    pub fn prepare_for_external_modules(&self) -> Result<ModulesPrepared, Error> {
        let path = self.src.join("Makefile");
        let makefile = std::fs::read_to_string(&path)
            .map_err(|source| Error::ReadMakefile { path, source })?;
        let has_modules_prepare = makefile
            .lines()
            .any(|l| defines_target(l, "modules_prepare"));
        let targets: Vec<String> = if has_modules_prepare {
            vec!["modules_prepare".into()]
        } else {
            vec!["prepare".into(), "scripts".into()]
        };
        let outcome = self.make(targets.clone()).run()?;
        Ok(ModulesPrepared { targets, outcome })
    }

    /// Build `targets` (e.g. `["vmlinux"]`, `["bzImage", "modules"]`; empty: the default).
    pub fn build<I, T>(&self, targets: I) -> Result<Outcome, Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Ok(self.make(targets).run()?)
    }

    /// Build the external module in `dir` (`M=<dir> modules`) against this tree.
    ///
    /// A relative `dir` that names a directory of the source tree (`arch/x86/kvm`) stays
    /// relative: kbuild then resolves it against the source tree and writes the objects into the
    /// build directory, never into the source tree. Any other `dir` is made absolute. With a log
    /// directory, each module directory gets its own log (`modules-M-arch_x86_kvm.log`).
    pub fn external_module(&self, dir: &Path) -> Result<Outcome, Error> {
        let mut make = self.make(["modules"]);
        let m = if dir.is_relative() && self.src.join(dir).is_dir() {
            dir.to_path_buf()
        } else {
            absolute(dir)
        };
        make.var("M", m.to_string_lossy());
        if let Some(logs) = &self.log_dir {
            let name = log_name(&format!("modules-M-{}", dir.to_string_lossy()));
            make.log_file(logs.join(format!("{name}.log")));
        }
        Ok(make.run()?)
    }

    /// `make -s kernelrelease`: the release string (e.g. `6.1.192`). Kconfig may print
    /// messages first; the last line is the answer.
    pub fn kernelrelease(&self) -> Result<String, Error> {
        self.print_target("kernelrelease")
    }

    /// `make -s kernelversion`: the version from the Makefile (e.g. `6.1.192`).
    pub fn kernelversion(&self) -> Result<String, Error> {
        self.print_target("kernelversion")
    }

    fn print_target(&self, target: &'static str) -> Result<String, Error> {
        let mut make = self.make([target]);
        make.silent(true).jobs(1).capture_stdout(true);
        let outcome = make.run()?;
        last_answer_line(&outcome.stdout)
            .map(str::to_owned)
            .ok_or(Error::NoRelease { target })
    }
}

/// A log file name (without `.log`) for a step: unusual characters become `_`.
fn log_name(step: &str) -> String {
    let name: String = step
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "default".into()
    } else {
        name
    }
}

/// Whether a Makefile line is a rule for `target` (`a b target: deps`, not a recipe line,
/// not a `:=` assignment).
fn defines_target(line: &str, target: &str) -> bool {
    if line.starts_with('\t') || line.trim_start().starts_with('#') {
        return false;
    }
    let Some((targets, rest)) = line.split_once(':') else {
        return false;
    };
    !rest.starts_with('=') && targets.split_whitespace().any(|t| t == target)
}

/// The last non-empty stdout line that is not make's directory chatter.
fn last_answer_line(lines: &[String]) -> Option<&str> {
    lines.iter().rev().map(|l| l.trim()).find(|l| {
        !l.is_empty()
            && !(l.starts_with("make")
                && (l.contains(": Entering directory") || l.contains(": Leaving directory")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_makefile_versions() {
        let v = KernelVersion::parse_makefile(
            "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\nNAME = Curry\n",
        )
        .unwrap();
        assert_eq!(v.to_string(), "6.1.192");
        let v = KernelVersion::parse_makefile(
            "VERSION = 2\nPATCHLEVEL = 6\nSUBLEVEL = 18\nEXTRAVERSION = .8-xen\n",
        )
        .unwrap();
        assert_eq!(v.to_string(), "2.6.18.8-xen");
        assert_eq!(
            KernelVersion::parse_makefile("all:\n\techo hi\n"),
            Err(MissingVersionField { field: "VERSION" })
        );
    }

    #[test]
    fn strategy_follows_the_era() {
        let v = |a, b, c| KernelVersion {
            version: a,
            patchlevel: b,
            sublevel: c,
            extraversion: String::new(),
        };
        assert_eq!(v(6, 1, 0).resolve_strategy(), ResolveStrategy::Olddefconfig);
        assert_eq!(v(3, 7, 0).resolve_strategy(), ResolveStrategy::Olddefconfig);
        assert_eq!(v(3, 6, 11).resolve_strategy(), ResolveStrategy::Oldnoconfig);
        assert_eq!(v(2, 6, 36).resolve_strategy(), ResolveStrategy::Oldnoconfig);
        assert_eq!(
            v(2, 6, 35).resolve_strategy(),
            ResolveStrategy::OldconfigWithDefaults
        );
        assert_eq!(
            v(2, 4, 37).resolve_strategy(),
            ResolveStrategy::OldconfigWithDefaults
        );
    }

    #[test]
    fn finds_rules_for_a_target() {
        assert!(defines_target(
            "modules_prepare: prepare",
            "modules_prepare"
        ));
        assert!(defines_target(
            "modules_prepare prepare scripts:",
            "modules_prepare"
        ));
        assert!(!defines_target(
            "PHONY += modules_prepare",
            "modules_prepare"
        ));
        assert!(!defines_target("\tmodules_prepare: x", "modules_prepare"));
        assert!(!defines_target("modules_prepare := 1", "modules_prepare"));
        assert!(!defines_target(
            "modules: modules_prepare",
            "modules_prepare"
        ));
    }

    #[test]
    fn last_answer_skips_chatter() {
        let lines: Vec<String> = [
            "#",
            "# configuration written to .config",
            "6.1.192",
            "make[1]: Leaving directory '/tmp/o'",
            "",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(last_answer_line(&lines), Some("6.1.192"));
        assert_eq!(last_answer_line(&[]), None);
    }
}
