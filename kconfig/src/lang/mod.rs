//! The Kconfig language: parsing, the macro language, finalizing and evaluation.
//!
//! [`Kconfig::load`] reads a kernel tree's `Kconfig` files with the environment the kernel's
//! Makefile would give (see [`MakeEnv`]); [`Kconfig::olddefconfig`] and [`Kconfig::new_config`]
//! then compute a configuration the way the kernel's own `conf` does, and [`Resolved`] writes it
//! byte for byte as `conf` would (`.config`, or the minimal file of `make savedefconfig`).

pub mod ast;
mod confdata;
pub mod depcheck;
mod env;
mod eval;
pub mod explain;
pub mod finalize;
pub mod fix;
pub(crate) mod lexer;
mod merge_target;
mod model_cache;
mod ops;
pub mod parser;
mod prealloc;
pub(crate) mod preprocess;
pub mod probe;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use ast::{Model, SymbolId, SymbolType, Tristate};
pub use confdata::{Diagnostic, DiagnosticKind};
pub use depcheck::{Cycle, CycleLink, CycleStep, RecursiveDependencyError};
pub use env::{EnvError, MakeEnv, Toolchain, kbuild_defconfig};
pub use ops::{AllConfig, NewConfigOptions, Resolved, SymbolValue, Target, TargetParseError};
pub use preprocess::{MacroMessage, MacroMessageKind};

/// How to load a Kconfig tree.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The kernel source tree (`srctree`).
    pub srctree: PathBuf,
    /// The kernel's `ARCH` (`x86_64`, `i386`, `arm64`, …); `None` means what make assumes
    /// without `ARCH=`: the host's `SUBARCH` (`x86` on an x86-64 host).
    pub arch: Option<String>,
    /// The top Kconfig file, relative to `srctree` (`Kconfig`).
    pub kconfig: PathBuf,
    /// The complete environment for the macro language and the `$(shell,…)` probes (include
    /// `PATH`). `None` means this process's environment with what the kernel's Makefile exports
    /// ([`MakeEnv::for_tree`]) and then [`LoadOptions::env_overrides`] on top, as make does.
    pub env: Option<BTreeMap<String, String>>,
    /// Variables set on top of the computed environment (like `make VAR=value`).
    pub env_overrides: BTreeMap<String, String>,
    /// `CROSS_COMPILE`/`LLVM` for the computed environment; `None` reads them from this
    /// process's environment, as make does.
    pub toolchain: Option<Toolchain>,
    /// Directory for the cache of `$(shell,…)` probe results and of the parsed tree (used
    /// only while every file, environment variable and probe it was read with is unchanged);
    /// `None` disables both.
    pub probe_cache: Option<PathBuf>,
    /// Set to `true` to stop loading early (checked between files and probes).
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Keep the parsed and finalized tree beside the probe cache and reuse it while every
    /// file, glob, environment variable and probe program it was read with is unchanged
    /// (default `true`; needs [`LoadOptions::probe_cache`]).
    pub cache_parsed_tree: bool,
    /// The working directory of `$(shell,…)` commands (the kernel runs them in the build
    /// directory, Xen in `xen/`, which matters for relative paths such as `srctree=.`);
    /// `None` is a private temporary directory.
    pub probe_workdir: Option<PathBuf>,
}

impl LoadOptions {
    /// Options for the tree at `srctree` with every default.
    pub fn new(srctree: impl AsRef<Path>) -> LoadOptions {
        LoadOptions {
            srctree: srctree.as_ref().to_path_buf(),
            arch: None,
            kconfig: PathBuf::from("Kconfig"),
            env: None,
            env_overrides: BTreeMap::new(),
            toolchain: None,
            probe_cache: None,
            interrupt: None,
            cache_parsed_tree: true,
            probe_workdir: None,
        }
    }

    /// Sets `ARCH`.
    pub fn arch(mut self, arch: impl Into<String>) -> LoadOptions {
        self.arch = Some(arch.into());
        self
    }

    /// The `ARCH` make would use: the given one, or the host's `SUBARCH`.
    pub fn effective_arch(&self) -> String {
        self.arch.clone().unwrap_or_else(crate::host_srcarch)
    }

    /// The environment the macro language sees: [`LoadOptions::env`] if given, else what make
    /// would export for this tree and host with the overrides applied.
    pub fn environment(&self) -> Result<BTreeMap<String, String>, EnvError> {
        if let Some(env) = &self.env {
            return Ok(env.clone());
        }
        let toolchain = self
            .toolchain
            .clone()
            .unwrap_or_else(Toolchain::from_process_env);
        let make = MakeEnv::for_tree_cached(
            &self.srctree,
            &self.effective_arch(),
            &toolchain,
            self.probe_cache.as_deref(),
        )?;
        // make's children see make's own environment plus its exports; the kconfig Makefile
        // unexports `CONFIG_`.
        let mut env: BTreeMap<String, String> =
            std::env::vars().filter(|(k, _)| k != "CONFIG_").collect();
        env.extend(make.vars().iter().map(|(k, v)| (k.clone(), v.clone())));
        env.extend(
            self.env_overrides
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        Ok(env)
    }
}

/// Why [`Kconfig::load`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The Makefile environment could not be computed.
    #[error("cannot compute the kernel Makefile's environment")]
    Env(#[from] EnvError),
    /// A Kconfig file could not be parsed (the message names file:line and what was expected).
    #[error("cannot read the Kconfig tree")]
    Parse {
        /// What went wrong, where.
        #[source]
        source: parser::ParseError,
    },
    /// The tree has recursive dependencies: the kernel's `conf` refuses it and prints the
    /// same text as this error's message (every cycle, with file:line).
    #[error(transparent)]
    RecursiveDependency(#[from] RecursiveDependencyError),
    /// The interrupt flag was set.
    #[error("interrupted")]
    Interrupted,
}

impl LoadError {
    fn from_parse(e: parser::ParseError) -> LoadError {
        match e {
            parser::ParseError::Interrupted => LoadError::Interrupted,
            parser::ParseError::RecursiveDependency(e) => LoadError::RecursiveDependency(e),
            e => LoadError::Parse { source: e },
        }
    }

    /// Whether loading stopped because the interrupt flag was set.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, LoadError::Interrupted)
    }
}

/// Why resolving a configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The input configuration could not be read.
    #[error("cannot read the configuration {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The defconfig asked for does not exist.
    #[error(
        "no default configuration {path} (make would say: Can't find default configuration); list arch/{srcarch}/configs/ for the names this architecture has"
    )]
    NoDefconfig {
        /// The path looked for.
        path: PathBuf,
        /// The `SRCARCH` searched.
        srcarch: String,
    },
    /// [`AllConfig::Search`] found none of the files (make would say: KCONFIG_ALLCONFIG set,
    /// but no file found).
    #[error(
        "KCONFIG_ALLCONFIG set, but no \"{name}\" or \"all.config\" file found in {} or {}: create one of them, or name the file to use",
        build_dir.display(),
        srctree.display()
    )]
    NoAllConfig {
        /// The file for the target (`allno.config`, …).
        name: String,
        /// The build directory searched first.
        build_dir: PathBuf,
        /// The source tree searched next.
        srctree: PathBuf,
    },
    /// The allconfig file named (KCONFIG_ALLCONFIG=FILE) is in none of the places conf looks.
    #[error(
        "KCONFIG_ALLCONFIG file {} not found (looked for {}): create it, or name an existing file",
        file.display(),
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    AllConfigNotFound {
        /// The file as named.
        file: PathBuf,
        /// Where it was looked for, in conf's order.
        tried: Vec<PathBuf>,
    },
    /// An allconfig file was given for a target other than `allnoconfig`, `allyesconfig`,
    /// `allmodconfig` and `alldefconfig`.
    #[error(
        "an allconfig file (KCONFIG_ALLCONFIG) applies to allnoconfig, allyesconfig, allmodconfig and alldefconfig, not to {target}"
    )]
    AllConfigTarget {
        /// The target asked for.
        target: String,
    },
}

impl ResolveError {
    /// Always `false`: resolving is not interruptible (it takes milliseconds).
    pub fn is_interrupted(&self) -> bool {
        false
    }
}

/// A loaded Kconfig tree, ready to resolve configurations.
#[derive(Debug, Clone)]
pub struct Kconfig {
    inner: Arc<Loaded>,
}

#[derive(Debug)]
pub(crate) struct Loaded {
    pub model: Model,
    pub index: eval::Index,
    pub srctree: PathBuf,
    pub arch: String,
    pub srcarch: String,
    pub env: BTreeMap<String, String>,
    pub probes: Vec<probe::ProbeRecord>,
    pub warnings: Vec<parser::ParseWarning>,
    pub messages: Vec<preprocess::MacroMessage>,
    pub env_read: Vec<(String, String)>,
}

impl Kconfig {
    /// Reads the tree's Kconfig files (expanding macros, running `$(shell,…)` probes) and
    /// finalizes the model.
    pub fn load(opts: &LoadOptions) -> Result<Kconfig, LoadError> {
        let env = opts.environment()?;
        let arch = env
            .get("ARCH")
            .cloned()
            .unwrap_or_else(|| opts.effective_arch());
        let srcarch = env
            .get("SRCARCH")
            .cloned()
            .unwrap_or_else(|| crate::srcarch(&arch));
        let mut parsed = parse_tree(opts, &env)?;
        let index = parsed
            .index
            .take()
            .unwrap_or_else(|| eval::Index::build(&parsed.model));
        let mut k = Kconfig::with_index(
            parsed.model,
            index,
            opts.srctree.clone(),
            arch,
            srcarch,
            env,
        );
        if let Some(inner) = Arc::get_mut(&mut k.inner) {
            inner.probes = parsed.probes;
            inner.warnings = parsed.warnings;
            inner.messages = parsed.messages;
            inner.env_read = parsed.env_read;
        }
        Ok(k)
    }

    /// A Kconfig from a model that was already parsed and finalized. `srctree` is where
    /// named defconfigs are looked up (`arch/$(SRCARCH)/configs/`). The model is taken as
    /// it is: [`parser::parse`] refuses recursive dependencies, a model built otherwise can be
    /// checked with [`depcheck::check`] (the evaluator terminates on a cycle, but the kernel
    /// gives no configuration to compare with).
    pub fn from_model(model: Model, srctree: impl AsRef<Path>, arch: &str) -> Kconfig {
        Kconfig::from_parts(
            model,
            srctree.as_ref().to_path_buf(),
            arch.to_owned(),
            crate::srcarch(arch),
            BTreeMap::new(),
        )
    }

    fn from_parts(
        model: Model,
        srctree: PathBuf,
        arch: String,
        srcarch: String,
        env: BTreeMap<String, String>,
    ) -> Kconfig {
        let index = eval::Index::build(&model);
        Kconfig::with_index(model, index, srctree, arch, srcarch, env)
    }

    fn with_index(
        model: Model,
        index: eval::Index,
        srctree: PathBuf,
        arch: String,
        srcarch: String,
        env: BTreeMap<String, String>,
    ) -> Kconfig {
        Kconfig {
            inner: Arc::new(Loaded {
                model,
                index,
                srctree,
                arch,
                srcarch,
                env,
                probes: Vec::new(),
                warnings: Vec::new(),
                messages: Vec::new(),
                env_read: Vec::new(),
            }),
        }
    }

    /// The model (symbols, menus, properties with file:line).
    pub fn model(&self) -> &Model {
        &self.inner.model
    }

    /// The environment the macro language saw.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.inner.env
    }

    /// Every `$(shell,…)` probe the macro language ran (or took from the cache), in order.
    pub fn probes(&self) -> &[probe::ProbeRecord] {
        &self.inner.probes
    }

    /// Warnings printed while parsing (the kernel's tools print the same).
    pub fn warnings(&self) -> &[parser::ParseWarning] {
        &self.inner.warnings
    }

    /// `$(info,…)` and `$(warning-if,…)` output of the macro language.
    pub fn macro_messages(&self) -> &[preprocess::MacroMessage] {
        &self.inner.messages
    }

    /// The environment variables the Kconfig files read, with their values, in order (what
    /// the kernel records in `include/config/auto.conf.cmd`).
    pub fn env_read(&self) -> &[(String, String)] {
        &self.inner.env_read
    }

    /// `ARCH`.
    pub fn arch(&self) -> &str {
        &self.inner.arch
    }

    /// `SRCARCH`.
    pub fn srcarch(&self) -> &str {
        &self.inner.srcarch
    }

    /// The source tree.
    pub fn srctree(&self) -> &Path {
        &self.inner.srctree
    }

    /// `make olddefconfig` of the configuration at `config_path`: its values where the symbols
    /// are visible, defaults elsewhere.
    pub fn olddefconfig(&self, config_path: impl AsRef<Path>) -> Result<Resolved, ResolveError> {
        let path = config_path.as_ref();
        let text = std::fs::read(path).map_err(|source| ResolveError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(self.olddefconfig_bytes(&text, &path.display().to_string()))
    }

    /// [`Kconfig::olddefconfig`] of configuration text in memory; `name` is the file name used in
    /// diagnostics.
    pub fn olddefconfig_bytes(&self, text: &[u8], name: &str) -> Resolved {
        ops::olddefconfig(&self.inner, text, name)
    }

    /// A new configuration like `make allnoconfig`, `allyesconfig`, `allmodconfig`,
    /// `alldefconfig`, `defconfig` or `make NAME_defconfig`.
    pub fn new_config(&self, target: &Target) -> Result<Resolved, ResolveError> {
        ops::new_config(&self.inner, target, &NewConfigOptions::default())
    }

    /// [`Kconfig::new_config`] with options: `KCONFIG_ALLCONFIG` values kept by an
    /// `allnoconfig`, `allyesconfig`, `allmodconfig` or `alldefconfig`, as in `make
    /// KCONFIG_ALLCONFIG=FILE allnoconfig`. The file's warnings are in
    /// [`Resolved::diagnostics`].
    pub fn new_config_with(
        &self,
        target: &Target,
        opts: &NewConfigOptions,
    ) -> Result<Resolved, ResolveError> {
        ops::new_config(&self.inner, target, opts)
    }

    /// The file `make defconfig` (or `make NAME_defconfig`) reads for a defconfig target, as
    /// conf names it in its messages (relative to the source tree when it is in it).
    pub fn defconfig_file(&self, target: &Target) -> Option<PathBuf> {
        ops::defconfig_file(&self.inner, target)
    }
}

/// Parses and finalizes the tree.
fn parse_tree(
    opts: &LoadOptions,
    env: &BTreeMap<String, String>,
) -> Result<parser::Parsed, LoadError> {
    let top = opts.kconfig.to_string_lossy();
    let probe = probe::ProbeOptions {
        cache_dir: opts.probe_cache.clone(),
        parsed_tree_cache: opts.cache_parsed_tree,
        workdir: opts.probe_workdir.clone(),
        ..Default::default()
    };
    let input = parser::ParseInput {
        srctree: &opts.srctree,
        top: &top,
        env,
        shell: parser::ShellPolicy::Run(probe),
        interrupt: opts.interrupt.as_deref(),
    };
    parser::parse(&input).map_err(LoadError::from_parse)
}
