//! [`merge`]: fragments applied in order onto a base `.config`, later wins, every override
//! reported (what `scripts/kconfig/merge_config.sh -m` does).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Config;
use crate::fragment::{Assignment, Fragment, Source};
use crate::value::Value;

/// The final requested value of every symbol some fragment mentions (later fragments win), with
/// where it was requested. This is what [`verify`](crate::verify()) checks against the final
/// `.config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Requested {
    /// In order of first request.
    assignments: Vec<Assignment>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Requested {
    /// Nothing requested yet.
    pub fn new() -> Requested {
        Requested::default()
    }

    /// What the fragments ask for, in order, later wins.
    pub fn from_fragments<'a>(fragments: impl IntoIterator<Item = &'a Fragment>) -> Requested {
        let mut requested = Requested::new();
        for fragment in fragments {
            for assignment in fragment.assignments() {
                requested.insert(assignment);
            }
        }
        requested
    }

    /// Record a request; a later request for the same symbol replaces the earlier one.
    pub fn insert(&mut self, assignment: Assignment) {
        match self.index.get(&assignment.symbol) {
            Some(&i) => self.assignments[i] = assignment,
            None => {
                self.index
                    .insert(assignment.symbol.clone(), self.assignments.len());
                self.assignments.push(assignment);
            }
        }
    }

    /// The request for a symbol.
    pub fn get(&self, symbol: &str) -> Option<&Assignment> {
        self.index.get(symbol).map(|&i| &self.assignments[i])
    }

    /// Every request, in order of first mention.
    pub fn iter(&self) -> impl Iterator<Item = &Assignment> {
        self.assignments.iter()
    }

    /// Number of requested symbols.
    pub fn len(&self) -> usize {
        self.assignments.len()
    }

    /// Whether nothing was requested.
    pub fn is_empty(&self) -> bool {
        self.assignments.is_empty()
    }
}

/// A value that a fragment redefined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    /// Symbol name without the prefix.
    pub symbol: String,
    /// The value before.
    pub old: Value,
    /// Where the value before came from (the base file or an earlier fragment).
    pub old_source: Source,
    /// The value after.
    pub new: Value,
    /// The fragment line that redefined it.
    pub source: Source,
    /// Set when `builtin_over_module` kept `=y` instead of taking the fragment's `=m`.
    pub kept_builtin: bool,
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kept_builtin {
            write!(
                f,
                "{}: kept {} from {}; {} asks for {} (builtin over module)",
                self.symbol, self.old, self.old_source, self.source, self.new
            )
        } else {
            write!(
                f,
                "{}: {} ({}) redefined as {} by {}",
                self.symbol, self.old, self.old_source, self.new, self.source
            )
        }
    }
}

/// Options of a merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Never demote `=y` to `=m` (merge_config.sh `-y`).
    pub builtin_over_module: bool,
}

/// The result of [`merge`].
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged configuration: the base's layout with redefined values rewritten in place and
    /// new symbols appended in fragment order.
    pub config: Config,
    /// Every value a later file redefined, in the order it happened.
    pub overrides: Vec<Override>,
    /// Assignments that repeated the value already in effect (merge_config.sh `-r`).
    pub redundant: Vec<Assignment>,
    /// What the fragments asked for, for [`verify`](crate::verify()).
    pub requested: Requested,
}

/// Serializable summary of a merge (`kforge config merge --json`).
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport<'a> {
    /// The base file.
    pub base: Option<PathBuf>,
    /// The fragments in order.
    pub fragments: Vec<PathBuf>,
    /// Overrides.
    pub overrides: &'a [Override],
    /// Redundant assignments.
    pub redundant: &'a [Assignment],
    /// Number of symbols requested.
    pub requested: usize,
    /// Number of symbols in the merged configuration.
    pub symbols: usize,
}

impl Merged {
    /// A serializable summary.
    pub fn report<'a>(&'a self, base: &Config, fragments: &[Fragment]) -> MergeReport<'a> {
        MergeReport {
            base: base.origin().map(|p| p.to_path_buf()),
            fragments: fragments.iter().map(|f| f.path().to_path_buf()).collect(),
            overrides: &self.overrides,
            redundant: &self.redundant,
            requested: self.requested.len(),
            symbols: self.config.len(),
        }
    }
}

/// Apply `fragments` in order onto `base`; later wins.
///
/// ```
/// use kforge_kconfig::{Config, Fragment, Value, merge};
/// let base = Config::parse("CONFIG_KVM=y\n# CONFIG_MODULES is not set\n")?;
/// let kvm = Fragment::parse("CONFIG_MODULES=y\nCONFIG_KVM=m\n", "kvm.config")?;
/// let merged = merge(&base, &[kvm]);
/// assert_eq!(merged.config.get("KVM"), Some(&Value::Module));
/// assert_eq!(merged.overrides.len(), 2);
/// assert_eq!(merged.overrides[1].source.to_string(), "kvm.config:2");
/// # Ok::<(), kforge_kconfig::ParseError>(())
/// ```
pub fn merge(base: &Config, fragments: &[Fragment]) -> Merged {
    merge_with(base, fragments, &MergeOptions::default())
}

/// [`merge`] with options.
pub fn merge_with(base: &Config, fragments: &[Fragment], options: &MergeOptions) -> Merged {
    let _span = tracing::debug_span!("merge", fragments = fragments.len()).entered();
    let base_file = PathBuf::from(base.location());
    let mut config = base.clone();
    // Where the value in effect came from, for symbols a fragment set; the base otherwise.
    let mut sources: HashMap<String, Source> = HashMap::new();
    let mut overrides = Vec::new();
    let mut redundant = Vec::new();
    let mut requested = Requested::new();
    for fragment in fragments {
        tracing::debug!(fragment = %fragment.path().display(), "merging");
        for assignment in fragment.assignments() {
            let previous = config.get(&assignment.symbol).cloned();
            if let Some(old) = previous {
                let old_source = match sources.get(&assignment.symbol) {
                    Some(source) => source.clone(),
                    None => Source {
                        file: base_file.clone(),
                        line: base.line_of(&assignment.symbol).unwrap_or(0),
                    },
                };
                if old == assignment.value {
                    redundant.push(assignment.clone());
                } else if options.builtin_over_module
                    && old == Value::Yes
                    && assignment.value == Value::Module
                {
                    tracing::info!(symbol = %assignment.symbol, "keeping =y over =m");
                    overrides.push(Override {
                        symbol: assignment.symbol.clone(),
                        old,
                        old_source,
                        new: assignment.value.clone(),
                        source: assignment.source.clone(),
                        kept_builtin: true,
                    });
                    continue;
                } else {
                    tracing::info!(
                        symbol = %assignment.symbol,
                        old = %old,
                        new = %assignment.value,
                        fragment = %assignment.source,
                        "value redefined by fragment"
                    );
                    overrides.push(Override {
                        symbol: assignment.symbol.clone(),
                        old,
                        old_source,
                        new: assignment.value.clone(),
                        source: assignment.source.clone(),
                        kept_builtin: false,
                    });
                }
            }
            // Names in a parsed fragment are always valid, so this cannot fail.
            if config
                .set(&assignment.symbol, assignment.value.clone())
                .is_ok()
            {
                sources.insert(assignment.symbol.clone(), assignment.source.clone());
            }
            requested.insert(assignment);
        }
    }
    Merged {
        config,
        overrides,
        redundant,
        requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_wins_and_overrides_name_both_sides() {
        let base = Config::parse_with(
            "CONFIG_A=y\nCONFIG_B=y\n",
            crate::Prefix::kernel(),
            Some(std::path::Path::new("base")),
        )
        .unwrap();
        let f1 = Fragment::parse("CONFIG_A=m\nCONFIG_C=y\n", "f1").unwrap();
        let f2 = Fragment::parse("CONFIG_A=n\nCONFIG_C=y\nCONFIG_B=y\n", "f2").unwrap();
        let m = merge(&base, &[f1, f2]);
        assert_eq!(
            m.config.to_string(),
            "# CONFIG_A is not set\nCONFIG_B=y\nCONFIG_C=y\n"
        );
        assert_eq!(m.overrides.len(), 2);
        assert_eq!(m.overrides[0].old_source.to_string(), "base:1");
        assert_eq!(m.overrides[0].source.to_string(), "f1:1");
        assert_eq!(m.overrides[1].old_source.to_string(), "f1:1");
        assert_eq!(m.overrides[1].new, Value::No);
        assert_eq!(m.redundant.len(), 2);
        assert_eq!(m.requested.get("A").unwrap().source.to_string(), "f2:1");
        assert_eq!(m.requested.len(), 3);
    }

    #[test]
    fn builtin_over_module_keeps_y() {
        let base = Config::parse("CONFIG_A=y\n").unwrap();
        let f = Fragment::parse("CONFIG_A=m\n", "f").unwrap();
        let m = merge_with(
            &base,
            &[f],
            &MergeOptions {
                builtin_over_module: true,
            },
        );
        assert_eq!(m.config.get("A"), Some(&Value::Yes));
        assert!(m.overrides[0].kept_builtin);
    }
}
