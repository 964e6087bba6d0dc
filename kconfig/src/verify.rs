//! [`verify`]: did every requested value survive dependency resolution (`make olddefconfig`)?
//!
//! `merge_config.sh` prints "Value requested for X not in final .config" and carries on; TuxMake
//! added such a check and reverted it; Yocto and KernelCI users lost days to options that were
//! silently dropped. Here the check is a typed result: each lost value with what it became, why
//! that usually happens, and the fragment line that asked for it; plus the reverse list, the
//! values that changed although nobody asked.

use std::fmt;

use serde::Serialize;

use crate::config::Config;
use crate::fragment::Source;
use crate::kconfig_index::{KconfigIndex, SymbolDefinition};
use crate::lang::explain::{Cause, Explanation};
use crate::lang::fix::Proposal;
use crate::merge::Requested;
use crate::value::Value;

/// What to do when a requested value did not land.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Any lost value is an error.
    Strict,
    /// Lost values are reported as `tracing` warnings; the result is still `Ok`.
    Warn,
}

/// Why a requested value did not land, as far as the two files tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    /// `=m` requested, but the final file has `MODULES` off: nothing can be a module (Kconfig
    /// turns the request into `=y` or drops the symbol).
    ModulesDisabled,
    /// The symbol is absent from the final file: a dependency is not met (the symbol is
    /// invisible), or the symbol does not exist in this kernel version.
    Absent,
    /// Absent, and the kernel's Kconfig files do not define the symbol at all.
    UnknownSymbol,
    /// Absent, and only other architectures' Kconfig files define the symbol.
    OtherArchitecture,
    /// Present but `is not set`: a dependency is not met or a `choice` picked another option.
    NotSet,
    /// `=m` requested but `=y`: another option `select`s it, or it is a `bool`.
    BuiltinInsteadOfModule,
    /// `=y` requested but `=m`: a dependency is itself `=m`, which caps it at `m`.
    ModuleInsteadOfBuiltin,
    /// Off requested, but the symbol is still on: another option `select`s it, or it is not
    /// user-visible and defaults on.
    StillEnabled,
    /// A string or number landed with another value (out of `range`, or overridden by a
    /// `default` because the prompt is invisible).
    DifferentValue,
}

impl LossReason {
    fn classify(requested: &Value, landed: Option<&Value>, modules_off: bool) -> LossReason {
        match (requested, landed) {
            (Value::Module, _) if modules_off => LossReason::ModulesDisabled,
            (_, None) => LossReason::Absent,
            (Value::No, Some(_)) => LossReason::StillEnabled,
            (_, Some(Value::No)) => LossReason::NotSet,
            (Value::Module, Some(Value::Yes)) => LossReason::BuiltinInsteadOfModule,
            (Value::Yes, Some(Value::Module)) => LossReason::ModuleInsteadOfBuiltin,
            _ => LossReason::DifferentValue,
        }
    }

    /// One sentence a user can act on.
    pub fn explanation(&self, prefix: &str) -> String {
        match self {
            LossReason::ModulesDisabled => format!(
                "{prefix}MODULES is not enabled in the final .config, so nothing can be a module \
                 (Kconfig builds a tristate in (=y) or leaves it out); request {prefix}MODULES=y as well"
            ),
            LossReason::Absent => {
                "symbol absent from final .config (a dependency is not met, or the symbol \
                 does not exist in this kernel)"
                    .to_string()
            }
            LossReason::UnknownSymbol => {
                "symbol absent from final .config: no Kconfig file of this kernel defines it \
                 (renamed or removed in this version?)"
                    .to_string()
            }
            LossReason::OtherArchitecture => {
                "symbol absent from final .config: only other architectures define it".to_string()
            }
            LossReason::NotSet => {
                "a dependency is not met (or a choice selected another option)".to_string()
            }
            LossReason::BuiltinInsteadOfModule => {
                "another option selects it as built-in, or it is a bool that cannot be a module"
                    .to_string()
            }
            LossReason::ModuleInsteadOfBuiltin => {
                "a dependency is =m, which limits it to =m".to_string()
            }
            LossReason::StillEnabled => {
                "another option selects it, or it has no prompt and defaults on".to_string()
            }
            LossReason::DifferentValue => {
                "the value was out of range, or the prompt is hidden and the default applies"
                    .to_string()
            }
        }
    }
}

/// One requested value that did not land.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lost {
    /// Symbol name without the prefix.
    pub symbol: String,
    /// What the fragment asked for.
    pub requested: Value,
    /// What the final `.config` has (`None`: the symbol is absent).
    pub landed: Option<Value>,
    /// The fragment line that asked for it (the last one, when several did).
    pub source: Source,
    /// The likely reason.
    pub reason: LossReason,
    /// Where the kernel defines the symbol and its `depends on` lines, when a Kconfig index was
    /// given ([`Verification::explain_with`]).
    pub definition: Option<SymbolDefinition>,
    /// Every symbol named in those `depends on` lines, with its value in the final `.config`
    /// (`None`: absent), so the unmet one stands out.
    pub dependencies: Vec<DependencyValue>,
    /// The evaluated explanation of the symbol in the final configuration (with the Kconfig
    /// evaluator: [`Verification::explain_with_kconfig`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Box<Explanation>>,
    /// What stands in the way, down to settable symbols and facts (architecture, compiler).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub root_causes: Vec<Cause>,
    /// The proposed extra lines that make this value land (verified by resolving again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fix: Vec<String>,
    /// Why no extra line makes it land, when none does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cannot_land: Option<String>,
}

/// A symbol named in a lost symbol's `depends on`, with its value in the final `.config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyValue {
    /// Symbol name without the prefix.
    pub symbol: String,
    /// Its value in the final `.config` (`None`: absent).
    pub value: Option<Value>,
}

/// How an unrequested symbol differs between the base and the final `.config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Set in the base, absent from the final file (the symbol is gone or invisible).
    Dropped,
    /// Set in the base, `is not set` in the final file.
    TurnedOff,
    /// Both set, with different values.
    Changed,
    /// Off or absent in the base, set in the final file (a new default or a `select`).
    Added,
}

/// A value that changed between the base and the final `.config` although no fragment asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnrequestedChange {
    /// Symbol name without the prefix.
    pub symbol: String,
    /// The value in the base (`None`: absent).
    pub base: Option<Value>,
    /// The value in the final file (`None`: absent).
    pub landed: Option<Value>,
    /// The kind of change.
    pub kind: ChangeKind,
    /// Whether the kernel's Kconfig files define the symbol (`None`: not checked; see
    /// [`Verification::explain_with`]).
    pub defined_in_kernel: Option<bool>,
    /// What gave the new value (`selected by X`, `default … at file:line`), with the Kconfig
    /// evaluator ([`Verification::explain_with_kconfig`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// The result of [`verify`]: every requested value that did not land, and (with a base) every
/// value that changed although nobody asked.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The prefix used in the report (`CONFIG_`).
    pub prefix: String,
    /// The final `.config` that was checked.
    pub final_config: String,
    /// The base the reverse list is relative to.
    pub base: Option<String>,
    /// Number of requested symbols.
    pub requested: usize,
    /// Number of requested values that landed.
    pub landed: usize,
    /// Requested values that did not land, in request order.
    pub lost: Vec<Lost>,
    /// Values that changed relative to the base although no fragment asked, by symbol name.
    pub unrequested: Vec<UnrequestedChange>,
    /// The extra lines that make the lost values land, checked by resolving again (with the
    /// Kconfig evaluator: [`Verification::explain_with_kconfig`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Proposal>,
}

/// Strict verification found lost values; the error displays the full report.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub Box<Verification>);

/// Compare what was requested with what landed in `final_config`.
///
/// ```
/// use kforge_kconfig::{Config, Fragment, LossReason, Requested, verify};
/// let kvm = Fragment::parse("CONFIG_KVM=m\nCONFIG_VIRTUALIZATION=y\n", "kvm.config")?;
/// let requested = Requested::from_fragments([&kvm]);
/// // What `make olddefconfig` left when the base had `# CONFIG_MODULES is not set`:
/// let fin = Config::parse("# CONFIG_MODULES is not set\nCONFIG_VIRTUALIZATION=y\n")?;
/// let report = verify(&requested, &fin);
/// assert_eq!(report.lost.len(), 1);
/// assert_eq!(report.lost[0].reason, LossReason::ModulesDisabled);
/// assert!(report.to_string().contains("kvm.config:1"));
/// # Ok::<(), kforge_kconfig::ParseError>(())
/// ```
pub fn verify(requested: &Requested, final_config: &Config) -> Verification {
    check(requested, final_config, None)
}

/// [`verify`], plus the reverse list: values that differ between `base` and `final_config`
/// although no fragment requested them.
pub fn verify_with_base(
    requested: &Requested,
    base: &Config,
    final_config: &Config,
) -> Verification {
    check(requested, final_config, Some(base))
}

fn check(requested: &Requested, final_config: &Config, base: Option<&Config>) -> Verification {
    let _span = tracing::debug_span!("verify", requested = requested.len()).entered();
    // Only a file that mentions MODULES (every kernel .config does) says modules are off.
    let modules_off = final_config
        .get("MODULES")
        .is_some_and(|v| *v != Value::Yes);
    let mut lost = Vec::new();
    for request in requested.iter() {
        let landed = final_config.get(&request.symbol);
        if request.value.is_met_by(landed) {
            continue;
        }
        lost.push(Lost {
            symbol: request.symbol.clone(),
            requested: request.value.clone(),
            landed: landed.cloned(),
            source: request.source.clone(),
            reason: LossReason::classify(&request.value, landed, modules_off),
            definition: None,
            dependencies: Vec::new(),
            explanation: None,
            root_causes: Vec::new(),
            fix: Vec::new(),
            cannot_land: None,
        });
    }
    let mut unrequested = Vec::new();
    if let Some(base) = base {
        let mut names: Vec<&str> = base
            .symbols()
            .map(|(n, _)| n)
            .chain(final_config.symbols().map(|(n, _)| n))
            .filter(|n| requested.get(n).is_none())
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let before = base.get(name).filter(|v| !v.is_off());
            let after = final_config.get(name).filter(|v| !v.is_off());
            let kind = match (before, after) {
                (None, None) => continue,
                (Some(b), Some(a)) if b == a || b.is_met_by(Some(a)) => continue,
                (Some(_), Some(_)) => ChangeKind::Changed,
                (Some(_), None) if final_config.contains(name) => ChangeKind::TurnedOff,
                (Some(_), None) => ChangeKind::Dropped,
                (None, Some(_)) => ChangeKind::Added,
            };
            unrequested.push(UnrequestedChange {
                symbol: name.to_string(),
                base: base.get(name).cloned(),
                landed: final_config.get(name).cloned(),
                kind,
                defined_in_kernel: None,
                cause: None,
            });
        }
    }
    let verification = Verification {
        prefix: final_config.prefix().as_str().to_string(),
        final_config: final_config.location(),
        base: base.map(Config::location),
        requested: requested.len(),
        landed: requested.len() - lost.len(),
        lost,
        unrequested,
        fix: None,
    };
    tracing::debug!(
        lost = verification.lost.len(),
        unrequested = verification.unrequested.len(),
        "verified"
    );
    verification
}

impl Verification {
    /// Whether every requested value landed.
    pub fn all_landed(&self) -> bool {
        self.lost.is_empty()
    }

    /// Apply a mode: in [`Mode::Strict`] any lost value is an error carrying the report; in
    /// [`Mode::Warn`] each lost value becomes a `tracing` warning and the report is returned.
    pub fn enforce(self, mode: Mode) -> Result<Verification, VerifyError> {
        if mode == Mode::Strict {
            if self.lost.is_empty() {
                return Ok(self);
            }
            return Err(VerifyError(Box::new(self)));
        }
        for lost in &self.lost {
            tracing::warn!(
                symbol = %format!("{}{}", self.prefix, lost.symbol),
                requested = %lost.requested,
                landed = %DisplayLanded(lost.landed.as_ref()),
                at = %lost.source,
                "value requested in a fragment is not in the final .config"
            );
        }
        Ok(self)
    }

    /// Refine the report with the kernel's Kconfig files: an absent symbol that no Kconfig
    /// defines becomes [`LossReason::UnknownSymbol`]; every lost symbol that is defined gets its
    /// definition, its `depends on` lines, and the final value of each symbol they name.
    pub fn explain_with(&mut self, index: &KconfigIndex, final_config: &Config) {
        for change in &mut self.unrequested {
            change.defined_in_kernel = Some(index.get(&change.symbol).is_some());
        }
        for lost in &mut self.lost {
            lost.definition = index.get(&lost.symbol).cloned();
            lost.dependencies.clear();
            if lost.definition.is_none()
                && let Some(def) = index.other_arch(&lost.symbol)
            {
                lost.definition = Some(def.clone());
                if lost.reason == LossReason::Absent {
                    lost.reason = LossReason::OtherArchitecture;
                }
                continue;
            }
            match &lost.definition {
                None if lost.reason == LossReason::Absent => {
                    lost.reason = LossReason::UnknownSymbol
                }
                None => {}
                Some(def) => {
                    for expr in &def.depends_on {
                        for name in expression_symbols(expr) {
                            if !lost.dependencies.iter().any(|d| d.symbol == name) {
                                lost.dependencies.push(DependencyValue {
                                    symbol: name.to_string(),
                                    value: final_config.get(name).cloned(),
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    /// The unrequested changes of one kind.
    pub fn unrequested_of(&self, kind: ChangeKind) -> impl Iterator<Item = &UnrequestedChange> {
        self.unrequested.iter().filter(move |c| c.kind == kind)
    }
}

/// The symbol names in a Kconfig expression such as `KVM && (X86_64 || COMPILE_TEST) && m`.
fn expression_symbols(expr: &str) -> impl Iterator<Item = &str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty() && !matches!(*t, "y" | "m" | "n" | "if" | "on"))
        .filter(|t| !t.bytes().all(|b| b.is_ascii_digit()))
}

struct DisplayLanded<'a>(Option<&'a Value>);

impl fmt::Display for DisplayLanded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("absent"),
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// How many unrequested changes of each kind the normal (`{}`) report lists; `{:#}` lists all.
const UNREQUESTED_SHOWN: usize = 15;

impl fmt::Display for Verification {
    /// A report for people. `{}` abbreviates long lists of unrequested changes; `{:#}` lists
    /// everything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.prefix;
        if self.lost.is_empty() {
            match self.requested {
                0 => writeln!(
                    f,
                    "no value was requested; nothing to check in {}",
                    self.final_config
                )?,
                1 => writeln!(f, "the requested value landed in {}", self.final_config)?,
                n => writeln!(
                    f,
                    "all {n} requested values landed in {}",
                    self.final_config
                )?,
            }
        } else {
            writeln!(
                f,
                "{} of {} did not land in {}:",
                self.lost.len(),
                plural(self.requested, "requested value", "requested values"),
                self.final_config
            )?;
            let width = self
                .lost
                .iter()
                .map(|l| p.len() + l.symbol.len())
                .max()
                .unwrap_or(0);
            for lost in &self.lost {
                let name = format!("{p}{}", lost.symbol);
                writeln!(f)?;
                writeln!(
                    f,
                    "  {name:<width$}  requested {}  but {}  (asked at {})",
                    lost.requested,
                    match &lost.landed {
                        Some(v) => format!("landed {v}"),
                        None => "absent from final .config".to_string(),
                    },
                    lost.source,
                )?;
                if lost.explanation.is_none() {
                    writeln!(f, "  {:<width$}  why: {}", "", lost.reason.explanation(p))?;
                } else {
                    self.write_evaluated(f, lost, width)?;
                }
                if let Some(def) = lost
                    .definition
                    .as_ref()
                    // The evaluated explanation (of a symbol defined here) replaces these lines.
                    .filter(|_| !lost.explanation.as_ref().is_some_and(|e| e.defined))
                {
                    writeln!(
                        f,
                        "  {:<width$}  defined at {}:{}",
                        "",
                        def.file.display(),
                        def.line
                    )?;
                    for dep in &def.depends_on {
                        match dep.strip_prefix("if ") {
                            Some(cond) => writeln!(f, "  {:<width$}    inside `if {cond}`", "")?,
                            None => writeln!(f, "  {:<width$}    depends on {dep}", "")?,
                        }
                    }
                    if !lost.dependencies.is_empty() {
                        let values: Vec<String> = lost
                            .dependencies
                            .iter()
                            .map(|d| match &d.value {
                                Some(Value::No) => format!("{p}{} is not set", d.symbol),
                                Some(v) => format!("{p}{}{v}", d.symbol),
                                None => format!("{p}{} absent", d.symbol),
                            })
                            .collect();
                        writeln!(
                            f,
                            "  {:<width$}    in the final .config: {}",
                            "",
                            values.join(", ")
                        )?;
                    }
                }
            }
            let modules_lost = self
                .lost
                .iter()
                .filter(|l| l.reason == LossReason::ModulesDisabled)
                .count();
            if modules_lost > 0 {
                writeln!(f)?;
                writeln!(
                    f,
                    "note: {} asked for =m while {p}MODULES is off in the final .config; \
                     add {p}MODULES=y to a fragment",
                    plural(modules_lost, "value", "values")
                )?;
            }
            if self.landed > 0 {
                writeln!(f)?;
                writeln!(
                    f,
                    "{} landed as requested.",
                    plural(
                        self.landed,
                        "other requested value",
                        "other requested values"
                    )
                )?;
            }
        }
        if let Some(fix) = &self.fix
            && !fix.lines.is_empty()
        {
            writeln!(f)?;
            writeln!(
                f,
                "proposed fix ({} of {} requested values land with it, checked by resolving again):",
                fix.outcomes.iter().filter(|o| o.lands).count(),
                fix.outcomes.len()
            )?;
            for l in &fix.lines {
                writeln!(f, "  {}", l.request.line())?;
            }
            if !fix.changes.is_empty() {
                writeln!(
                    f,
                    "  (these lines also change {})",
                    plural(fix.changes.len(), "other value", "other values")
                )?;
            }
        }
        if let Some(base) = &self.base {
            writeln!(f)?;
            if self.unrequested.is_empty() {
                writeln!(
                    f,
                    "no value changed relative to {base} except the requested ones"
                )?;
                return Ok(());
            }
            writeln!(
                f,
                "{} changed relative to {base} although no fragment asked:",
                plural(self.unrequested.len(), "value", "values")
            )?;
            for (kind, title) in [
                (
                    ChangeKind::Dropped,
                    "dropped (set in the base, absent from the final .config)",
                ),
                (ChangeKind::TurnedOff, "turned off"),
                (ChangeKind::Changed, "changed"),
                (
                    ChangeKind::Added,
                    "added (new defaults or selected by another option)",
                ),
            ] {
                let mut items: Vec<_> = self.unrequested_of(kind).collect();
                // Symbols this kernel defines first: their change has a cause worth reading.
                items.sort_by_key(|c| c.defined_in_kernel == Some(false));
                if items.is_empty() {
                    continue;
                }
                let undefined = items
                    .iter()
                    .filter(|c| c.defined_in_kernel == Some(false))
                    .count();
                if undefined > 0 {
                    writeln!(
                        f,
                        "  {title}: {} ({undefined} of them not defined by this kernel's Kconfig)",
                        items.len()
                    )?;
                } else {
                    writeln!(f, "  {title}: {}", items.len())?;
                }
                let shown = if f.alternate() {
                    items.len()
                } else {
                    UNREQUESTED_SHOWN
                };
                for change in items.iter().take(shown) {
                    writeln!(
                        f,
                        "    {p}{}: {} -> {}{}{}",
                        change.symbol,
                        DisplayLanded(change.base.as_ref()),
                        DisplayLanded(change.landed.as_ref()),
                        if change.defined_in_kernel == Some(false) {
                            "  (not in this kernel)"
                        } else {
                            ""
                        },
                        match &change.cause {
                            Some(c) => format!("  ({c})"),
                            None => String::new(),
                        }
                    )?;
                }
                if items.len() > shown {
                    writeln!(f, "    … and {} more", items.len() - shown)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fragment;

    fn requested(text: &str) -> Requested {
        Requested::from_fragments([&Fragment::parse(text, "frag.config").unwrap()])
    }

    #[test]
    fn classifies_every_loss() {
        let req = requested(
            "CONFIG_MODULES=y\nCONFIG_A=y\nCONFIG_B=m\nCONFIG_C=y\nCONFIG_D=n\nCONFIG_E=\"x\"\nCONFIG_F=y\nCONFIG_G=n\nCONFIG_H=1000\n",
        );
        let fin = Config::parse(
            "CONFIG_MODULES=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=m\nCONFIG_E=\"y\"\nCONFIG_F=m\nCONFIG_H=0x1000\n",
        )
        .unwrap();
        let v = verify(&req, &fin);
        let reasons: Vec<_> = v
            .lost
            .iter()
            .map(|l| (l.symbol.as_str(), l.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("A", LossReason::Absent),
                ("B", LossReason::BuiltinInsteadOfModule),
                ("C", LossReason::NotSet),
                ("D", LossReason::StillEnabled),
                ("E", LossReason::DifferentValue),
                ("F", LossReason::ModuleInsteadOfBuiltin),
            ]
        );
        assert_eq!(v.landed, 3);
        assert_eq!(v.lost[0].source.to_string(), "frag.config:2");
        let text = v.to_string();
        assert!(
            text.starts_with("6 of 9 requested values did not land in <input>:"),
            "{text}"
        );
        assert!(
            text.contains("CONFIG_B  requested =m  but landed =y  (asked at frag.config:3)"),
            "{text}"
        );
        assert!(
            text.contains("symbol absent from final .config (a dependency is not met"),
            "{text}"
        );
        assert!(matches!(
            v.clone().enforce(Mode::Strict),
            Err(VerifyError(_))
        ));
        assert!(v.enforce(Mode::Warn).is_ok());
    }

    #[test]
    fn modules_off_is_called_out() {
        let req = requested("CONFIG_KVM=m\nCONFIG_KVM_INTEL=m\n");
        let fin = Config::parse("# CONFIG_MODULES is not set\nCONFIG_KVM=y\n").unwrap();
        let v = verify(&req, &fin);
        assert_eq!(v.lost.len(), 2);
        // Kconfig builds a tristate in when modules are off: the cause is MODULES, not a select.
        assert_eq!(v.lost[0].reason, LossReason::ModulesDisabled);
        assert_eq!(v.lost[0].landed, Some(Value::Yes));
        assert_eq!(v.lost[1].reason, LossReason::ModulesDisabled);
        assert_eq!(v.lost[1].landed, None);
        let text = v.to_string();
        assert!(
            text.contains("CONFIG_MODULES is not enabled in the final .config"),
            "{text}"
        );
        assert!(text.contains("note: 2 values asked for =m"), "{text}");
        // A file without MODULES at all (Buildroot) says nothing about modules.
        let fin = Config::parse("CONFIG_KVM=y\n").unwrap();
        assert_eq!(
            verify(&req, &fin).lost[0].reason,
            LossReason::BuiltinInsteadOfModule
        );
    }

    #[test]
    fn kconfig_index_names_definition_and_dependency_values() {
        let req = requested("CONFIG_KVM_INTEL=y\nCONFIG_GONE=y\n");
        let fin = Config::parse("CONFIG_MODULES=y\n# CONFIG_KVM is not set\n").unwrap();
        let mut index = KconfigIndex::default();
        index.add_file(
            std::path::Path::new("arch/x86/kvm/Kconfig"),
            "if VIRTUALIZATION\nconfig KVM_INTEL\n\ttristate \"KVM for Intel\"\n\tdepends on KVM && IA32_FEAT_CTL\nendif\n",
        );
        let mut v = verify(&req, &fin);
        v.explain_with(&index, &fin);
        assert_eq!(v.lost[0].reason, LossReason::Absent);
        assert_eq!(
            v.lost[0]
                .dependencies
                .iter()
                .map(|d| (d.symbol.as_str(), d.value.clone()))
                .collect::<Vec<_>>(),
            vec![
                ("VIRTUALIZATION", None),
                ("KVM", Some(Value::No)),
                ("IA32_FEAT_CTL", None)
            ]
        );
        assert_eq!(v.lost[1].reason, LossReason::UnknownSymbol);
        let text = v.to_string();
        assert!(text.contains("defined at arch/x86/kvm/Kconfig:2"), "{text}");
        assert!(text.contains("inside `if VIRTUALIZATION`"), "{text}");
        assert!(text.contains("depends on KVM && IA32_FEAT_CTL"), "{text}");
        assert!(
            text.contains(
                "in the final .config: CONFIG_VIRTUALIZATION absent, CONFIG_KVM is not set, CONFIG_IA32_FEAT_CTL absent"
            ),
            "{text}"
        );
        assert!(
            text.contains("no Kconfig file of this kernel defines it"),
            "{text}"
        );
    }

    #[test]
    fn reverse_list_relative_to_base() {
        let req = requested("CONFIG_A=y\n");
        let base = Config::parse(
            "CONFIG_A=n\nCONFIG_GONE=y\nCONFIG_OFF=y\nCONFIG_CH=0x1\n# CONFIG_SAME is not set\n",
        )
        .unwrap();
        let fin =
            Config::parse("CONFIG_A=y\n# CONFIG_OFF is not set\nCONFIG_CH=0x2\nCONFIG_NEW=m\n")
                .unwrap();
        let v = verify_with_base(&req, &base, &fin);
        assert!(v.all_landed());
        let kinds: Vec<_> = v
            .unrequested
            .iter()
            .map(|c| (c.symbol.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("CH", ChangeKind::Changed),
                ("GONE", ChangeKind::Dropped),
                ("NEW", ChangeKind::Added),
                ("OFF", ChangeKind::TurnedOff),
            ]
        );
        let text = v.to_string();
        assert!(
            text.contains("the requested value landed in <input>"),
            "{text}"
        );
        assert!(
            text.contains("4 values changed relative to <input>"),
            "{text}"
        );
        assert!(text.contains("CONFIG_GONE: =y -> absent"), "{text}");
    }
}
