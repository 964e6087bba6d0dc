//! [`diff`]: symbols added, removed and changed between two configurations, like the kernel's
//! `scripts/diffconfig`.

use std::fmt;

use serde::Serialize;

use crate::config::Config;
use crate::value::Value;

/// A symbol whose value differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// Symbol name without the prefix.
    pub symbol: String,
    /// Value in the first configuration.
    pub old: Value,
    /// Value in the second configuration.
    pub new: Value,
}

/// The difference between two configurations, each list sorted by symbol name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConfigDiff {
    /// In the first only.
    pub removed: Vec<(String, Value)>,
    /// In the second only.
    pub added: Vec<(String, Value)>,
    /// In both, with different values.
    pub changed: Vec<Changed>,
}

impl ConfigDiff {
    /// Whether the two configurations assign the same values.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.changed.is_empty()
    }
}

/// Compare two configurations. `is not set` counts as a value (`n`), as in `scripts/diffconfig`.
///
/// ```
/// use kforge_kconfig::{Config, diff};
/// let a = Config::parse("CONFIG_A=y\nCONFIG_B=m\n")?;
/// let b = Config::parse("CONFIG_B=y\nCONFIG_C=\"x\"\n")?;
/// assert_eq!(diff(&a, &b).to_string(), "-A y\n B m -> y\n+C \"x\"\n");
/// # Ok::<(), kforge_kconfig::ParseError>(())
/// ```
pub fn diff(a: &Config, b: &Config) -> ConfigDiff {
    let mut out = ConfigDiff::default();
    for (name, old) in a.symbols() {
        match b.get(name) {
            None => out.removed.push((name.to_string(), old.clone())),
            Some(new) if new != old => out.changed.push(Changed {
                symbol: name.to_string(),
                old: old.clone(),
                new: new.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, new) in b.symbols() {
        if !a.contains(name) {
            out.added.push((name.to_string(), new.clone()));
        }
    }
    out.removed.sort_by(|x, y| x.0.cmp(&y.0));
    out.added.sort_by(|x, y| x.0.cmp(&y.0));
    out.changed.sort_by(|x, y| x.symbol.cmp(&y.symbol));
    out
}

impl fmt::Display for ConfigDiff {
    /// `scripts/diffconfig` format: removed (`-SYM old`), then changed (` SYM old -> new`), then
    /// added (`+SYM new`), each group in symbol order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, v) in &self.removed {
            writeln!(f, "-{name} {}", v.to_config_text())?;
        }
        for c in &self.changed {
            writeln!(
                f,
                " {} {} -> {}",
                c.symbol,
                c.old.to_config_text(),
                c.new.to_config_text()
            )?;
        }
        for (name, v) in &self.added {
            writeln!(f, "+{name} {}", v.to_config_text())?;
        }
        Ok(())
    }
}
