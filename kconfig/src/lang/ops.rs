//! The configuration targets of the kernel's `conf`: `olddefconfig`, `allnoconfig`,
//! `allyesconfig`, `allmodconfig`, `alldefconfig`, `defconfig` and `savedefconfig`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use super::Loaded;
use super::ResolveError;
use super::ast::{SymbolType, Tristate};
use super::confdata::Diagnostic;
use super::eval::{DEF_USER, Eval, NEED_SET_CHOICE_VALUES, State, VALID, WRITE};
use super::merge_target;

/// A new configuration to compute (the kernel's `make <target>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// `allnoconfig`: every question answered `n` (symbols with `allnoconfig_y` get `y`).
    AllNo,
    /// `allyesconfig`
    AllYes,
    /// `allmodconfig`
    AllMod,
    /// `alldefconfig`: every symbol at its default.
    AllDef,
    /// `defconfig`: the architecture's default defconfig (the Makefile's `KBUILD_DEFCONFIG`).
    Defconfig,
    /// `NAME_defconfig`: `arch/$(SRCARCH)/configs/NAME_defconfig`.
    NamedDefconfig(String),
    /// `conf --defconfig=FILE`: defaults from a given file.
    DefconfigFile(PathBuf),
}

/// How [`Kconfig::new_config_with`](super::Kconfig::new_config_with) computes a new
/// configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewConfigOptions {
    /// Values to keep in an `allnoconfig`, `allyesconfig`, `allmodconfig` or `alldefconfig`
    /// (the kernel's `KCONFIG_ALLCONFIG`); `None` starts from nothing.
    pub allconfig: Option<AllConfig>,
}

impl NewConfigOptions {
    /// Sets [`NewConfigOptions::allconfig`].
    pub fn allconfig(mut self, allconfig: AllConfig) -> NewConfigOptions {
        self.allconfig = Some(allconfig);
        self
    }
}

/// Where the values of `KCONFIG_ALLCONFIG` come from. `conf` reads the file as it reads a
/// `.config` (same warnings), keeps its values as the user's, and answers only the other
/// questions with `n`, `y`, `m` or the default; symbols whose dependencies are not met still
/// end up at their computed value, as in `make`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllConfig {
    /// `KCONFIG_ALLCONFIG=FILE`: this file. A relative path is opened from the current
    /// directory, else from the source tree, as `conf` does.
    File(PathBuf),
    /// `KCONFIG_ALLCONFIG=1` (or set but empty): `allno.config`, `allyes.config`,
    /// `allmod.config` or `alldef.config` for the target, else `all.config`; each is looked
    /// up in `build_dir` (the directory `conf` runs in: make's `O=` directory, or the source
    /// tree without `O=`), then in the source tree.
    Search {
        /// The build directory.
        build_dir: PathBuf,
    },
}

impl AllConfig {
    /// The meaning `conf` gives to the value of `KCONFIG_ALLCONFIG`: `1` or empty searches
    /// `build_dir` and the source tree, anything else is a file.
    pub fn from_env_value(value: &str, build_dir: impl AsRef<std::path::Path>) -> AllConfig {
        match value {
            "" | "1" => AllConfig::Search {
                build_dir: build_dir.as_ref().to_path_buf(),
            },
            file => AllConfig::File(PathBuf::from(file)),
        }
    }
}

/// A target name that is neither a known target, a `*_defconfig` name nor a file path.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown configuration target `{0}`: use allnoconfig, allyesconfig, allmodconfig, alldefconfig, defconfig, a NAME_defconfig or a path to a defconfig file"
)]
pub struct TargetParseError(pub String);

impl FromStr for Target {
    type Err = TargetParseError;
    fn from_str(s: &str) -> Result<Target, TargetParseError> {
        Ok(match s {
            "allnoconfig" => Target::AllNo,
            "allyesconfig" => Target::AllYes,
            "allmodconfig" => Target::AllMod,
            "alldefconfig" => Target::AllDef,
            "defconfig" => Target::Defconfig,
            "" => return Err(TargetParseError(s.to_owned())),
            _ if s.ends_with("_defconfig") && !s.contains('/') => {
                Target::NamedDefconfig(s.to_owned())
            }
            _ if s.contains('/') || s.contains('.') || std::path::Path::new(s).exists() => {
                Target::DefconfigFile(PathBuf::from(s))
            }
            _ => return Err(TargetParseError(s.to_owned())),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::AllNo => f.write_str("allnoconfig"),
            Target::AllYes => f.write_str("allyesconfig"),
            Target::AllMod => f.write_str("allmodconfig"),
            Target::AllDef => f.write_str("alldefconfig"),
            Target::Defconfig => f.write_str("defconfig"),
            Target::NamedDefconfig(n) => f.write_str(n),
            Target::DefconfigFile(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The value of one symbol in a resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SymbolValue {
    /// `y`/`m`/`n` for bool and tristate symbols, else the string or number (unquoted).
    pub value: String,
    /// The symbol's type.
    #[serde(serialize_with = "ser_type")]
    pub ty: SymbolType,
    /// Whether the symbol appears in the written `.config`.
    pub written: bool,
    /// Whether the symbol has a visible prompt.
    pub visible: bool,
}

fn ser_type<S: serde::Serializer>(t: &SymbolType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// A computed configuration.
#[derive(Debug, Clone)]
pub struct Resolved {
    loaded: Arc<Loaded>,
    /// The state as `conf` has it before writing (what `savedefconfig` starts from).
    before_write: State,
    /// The state after writing `.config` (final values).
    after_write: State,
    config: String,
    diagnostics: Vec<Diagnostic>,
}

impl Resolved {
    fn finish(loaded: &Arc<Loaded>, mut state: State, mut diagnostics: Vec<Diagnostic>) -> Self {
        let before_write = state.clone();
        let mut ev = Eval {
            m: &loaded.model,
            ix: &loaded.index,
            s: &mut state,
        };
        let config = ev.write_config();
        diagnostics.extend(ev.unmet_diagnostics());
        Resolved {
            loaded: loaded.clone(),
            before_write,
            after_write: state,
            config,
            diagnostics,
        }
    }

    /// The `.config` text, identical to what `conf` writes.
    pub fn to_config_string(&self) -> String {
        self.config.clone()
    }

    /// The `.config` text, borrowed.
    pub fn config_str(&self) -> &str {
        &self.config
    }

    /// The minimal configuration `make savedefconfig` writes for this configuration.
    pub fn to_savedefconfig_string(&self) -> String {
        let mut state = self.before_write.clone();
        let mut ev = Eval {
            m: &self.loaded.model,
            ix: &self.loaded.index,
            s: &mut state,
        };
        ev.write_defconfig()
    }

    /// Warnings about the input (what `conf` prints, with file:line).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The value of the symbol `name` (without `CONFIG_`), if the tree defines it.
    pub fn value(&self, name: &str) -> Option<SymbolValue> {
        let m = &self.loaded.model;
        let id = m.lookup(name)?;
        let sym = m.symbol(id);
        if sym.ty == SymbolType::Unknown {
            return None;
        }
        let st = &self.after_write.syms[id.0 as usize];
        let value = match sym.ty {
            SymbolType::Bool | SymbolType::Tristate => st.tri.as_str().to_owned(),
            _ => st.val.to_string(),
        };
        Some(SymbolValue {
            value,
            ty: sym.ty,
            written: st.flags & WRITE != 0 && !sym.flags.choice,
            visible: st.visible != Tristate::No,
        })
    }
}

/// Runs `f` on a thread with a large stack: evaluation recurses along dependency chains. If no
/// thread can be started, runs it on the caller's thread.
pub(crate) fn with_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let slot = std::sync::Mutex::new(Some(f));
    let take = || slot.lock().ok().and_then(|mut g| g.take());
    let spawned = std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("kconfig-eval".into())
            .stack_size(256 << 20)
            .spawn_scoped(scope, || take().map(|f| f()));
        match handle {
            Ok(h) => match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => None,
        }
    });
    match spawned {
        Some(v) => v,
        None => match take() {
            Some(f) => f(),
            None => unreachable_state(),
        },
    }
}

#[cold]
fn unreachable_state() -> ! {
    // The closure runs exactly once, on the thread or here.
    panic!("evaluation closure already taken")
}

pub(crate) fn olddefconfig(loaded: &Arc<Loaded>, text: &[u8], name: &str) -> Resolved {
    with_big_stack(|| {
        let mut state = State::new(&loaded.model);
        let mut diags = Vec::new();
        {
            let mut ev = Eval {
                m: &loaded.model,
                ix: &loaded.index,
                s: &mut state,
            };
            ev.read_config(text, name, &mut diags);
        }
        Resolved::finish(loaded, state, diags)
    })
}

/// How `conf_set_all_new_symbols` answers the questions.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Default,
    Yes,
    Mod,
    No,
}

impl Eval<'_> {
    /// `conf_set_all_new_symbols` (without randomization).
    fn set_all_new_symbols(&mut self, mode: Mode) {
        let ix = self.ix;
        for &s in &ix.table_order {
            if self.has_flag(s, DEF_USER) || self.has_flag(s, VALID) {
                continue;
            }
            if matches!(self.get_type(s), SymbolType::Bool | SymbolType::Tristate) {
                let t = match mode {
                    Mode::Yes => Tristate::Yes,
                    Mode::Mod => Tristate::Mod,
                    Mode::No if self.m.symbol(s).flags.allnoconfig_y => Tristate::Yes,
                    Mode::No => Tristate::No,
                    Mode::Default => continue,
                };
                let st = &mut self.s.syms[s.0 as usize];
                st.user_tri = t;
                st.flags |= DEF_USER;
            }
        }
        self.clear_all_valid();
        for &s in &ix.table_order {
            if (self.is_choice(s) && !self.has_value(s)) || self.is_choice_value(s) {
                self.s.syms[s.0 as usize].flags |= NEED_SET_CHOICE_VALUES;
            }
        }
        for &s in &ix.table_order {
            if self.has_value(s) || !self.is_choice(s) {
                continue;
            }
            self.calc_value(s);
            self.set_all_choice_values(s);
        }
    }
}

pub(crate) fn defconfig_file(loaded: &Loaded, target: &Target) -> Option<PathBuf> {
    let configs = PathBuf::from("arch").join(&loaded.srcarch).join("configs");
    match target {
        Target::Defconfig => {
            Some(configs.join(super::kbuild_defconfig(&loaded.srctree, &loaded.arch)))
        }
        Target::NamedDefconfig(n) => Some(configs.join(n)),
        Target::DefconfigFile(p) => Some(p.clone()),
        _ => None,
    }
}

/// Where `conf`'s `zconf_fopen` looks for `name`: as given (relative to the current
/// directory, or to `dir`), then relative to the source tree.
fn conf_candidates(
    loaded: &Loaded,
    dir: Option<&std::path::Path>,
    name: &std::path::Path,
) -> Vec<PathBuf> {
    let first = match dir {
        Some(d) => d.join(name),
        None => name.to_path_buf(),
    };
    let mut candidates = vec![first];
    if !name.is_absolute() {
        candidates.push(loaded.srctree.join(name));
    }
    candidates
}

/// The first of `candidates` that exists; `Ok(None)` when none does.
fn read_first(candidates: &[PathBuf]) -> Result<Option<Vec<u8>>, ResolveError> {
    for full in candidates {
        match std::fs::read(full) {
            Ok(text) => return Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ResolveError::Read {
                    path: full.clone(),
                    source,
                });
            }
        }
    }
    Ok(None)
}

/// The values of `KCONFIG_ALLCONFIG` for an all*config `target`, with the file name `conf`
/// gives in its warnings.
fn read_allconfig(
    loaded: &Loaded,
    target: &Target,
    allconfig: &AllConfig,
) -> Result<(Vec<u8>, String), ResolveError> {
    let specific = match target {
        Target::AllNo => "allno.config",
        Target::AllYes => "allyes.config",
        Target::AllMod => "allmod.config",
        Target::AllDef => "alldef.config",
        _ => {
            return Err(ResolveError::AllConfigTarget {
                target: target.to_string(),
            });
        }
    };
    match allconfig {
        AllConfig::File(path) => {
            let candidates = conf_candidates(loaded, None, path);
            match read_first(&candidates)? {
                Some(text) => Ok((text, path.display().to_string())),
                None => Err(ResolveError::AllConfigNotFound {
                    file: path.clone(),
                    tried: candidates,
                }),
            }
        }
        AllConfig::Search { build_dir } => {
            for name in [specific, "all.config"] {
                let candidates = conf_candidates(loaded, Some(build_dir), name.as_ref());
                if let Some(text) = read_first(&candidates)? {
                    return Ok((text, name.to_owned()));
                }
            }
            Err(ResolveError::NoAllConfig {
                name: specific.to_owned(),
                build_dir: build_dir.clone(),
                srctree: loaded.srctree.clone(),
            })
        }
    }
}

pub(crate) fn new_config(
    loaded: &Arc<Loaded>,
    target: &Target,
    opts: &NewConfigOptions,
) -> Result<Resolved, ResolveError> {
    let mode = match target {
        Target::AllNo => Mode::No,
        Target::AllYes => Mode::Yes,
        Target::AllMod => Mode::Mod,
        Target::AllDef => Mode::Default,
        _ => Mode::Default,
    };
    // conf reads KCONFIG_ALLCONFIG with conf_read_simple: user values only, nothing computed.
    let allconfig = match &opts.allconfig {
        Some(a) => Some(read_allconfig(loaded, target, a)?),
        None => None,
    };
    let mut input = None;
    if let Some(name) = defconfig_file(loaded, target) {
        // conf opens the name as given (a file of the user), then relative to the source tree;
        // make names an arch defconfig by its path in the source tree.
        let candidates = match target {
            Target::DefconfigFile(_) => conf_candidates(loaded, None, &name),
            _ => vec![loaded.srctree.join(&name)],
        };
        let Some(text) = read_first(&candidates)? else {
            if let Some(resolved) = merge_target_config(loaded, target)? {
                return Ok(resolved);
            }
            return Err(ResolveError::NoDefconfig {
                path: candidates.last().cloned().unwrap_or(name),
                srcarch: loaded.srcarch.clone(),
            });
        };
        input = Some((text, name.display().to_string()));
    }
    Ok(with_big_stack(|| {
        let mut state = State::new(&loaded.model);
        let mut diags = Vec::new();
        {
            let mut ev = Eval {
                m: &loaded.model,
                ix: &loaded.index,
                s: &mut state,
            };
            if let Some((text, name)) = &input {
                ev.read_config(text, name, &mut diags);
            }
            if let Some((text, name)) = &allconfig {
                ev.read_user_values(text, name, &mut diags);
            }
            ev.set_all_new_symbols(mode);
        }
        Resolved::finish(loaded, state, diags)
    }))
}

/// A defconfig target that is a merge rule of the architecture Makefile (MIPS'
/// `32r2el_defconfig`), resolved as make does: merge, `olddefconfig` of the merge as the
/// reference for the board fragments' requirements, merge of the boards that fit,
/// `olddefconfig`. `None` when the target is no such rule.
fn merge_target_config(
    loaded: &Arc<Loaded>,
    target: &Target,
) -> Result<Option<Resolved>, ResolveError> {
    let name = match target {
        Target::Defconfig => super::kbuild_defconfig(&loaded.srctree, &loaded.arch),
        Target::NamedDefconfig(n) => n.clone(),
        _ => return Ok(None),
    };
    let Some(recipe) = merge_target::find(&loaded.srctree, &loaded.srcarch, &name, &loaded.env)
    else {
        return Ok(None);
    };
    tracing::debug!(target = %name, ?recipe, "defconfig target is a merge rule");
    let read = |rel: &std::path::Path| {
        let full = loaded.srctree.join(rel);
        std::fs::read(&full)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|source| ResolveError::Read { path: full, source })
    };
    let prefix = crate::Prefix::kernel();
    let mut merged = read(&recipe.base)?;
    for fragment in &recipe.fragments {
        merged = merge_target::merge_text(&merged, &read(fragment)?, &prefix);
    }
    if !recipe.boards.is_empty() {
        let reference = olddefconfig(loaded, merged.as_bytes(), ".config");
        for board in &recipe.boards {
            // generic-board-config.sh warns about a missing board file and goes on; a file that
            // is there and cannot be read is an error.
            let text = match read(board) {
                Ok(text) => text,
                Err(ResolveError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    tracing::warn!(board = %board.display(), "board config not found");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if merge_target::requirements_hold(&text, reference.config_str()) {
                merged = merge_target::merge_text(&merged, &text, &prefix);
            }
        }
    }
    Ok(Some(olddefconfig(loaded, merged.as_bytes(), ".config")))
}
