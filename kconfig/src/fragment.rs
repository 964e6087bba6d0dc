//! [`Fragment`]: a partial configuration whose every value remembers its file and line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, ParseError, ReadError};
use crate::value::{Prefix, Value};

/// Where a value came from: a file and a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Source {
    /// The fragment (or base `.config`) file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One `SYMBOL=value` line of a fragment, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// Symbol name without the prefix.
    pub symbol: String,
    /// The value (`=n` and `is not set` are both [`Value::No`]).
    pub value: Value,
    /// Where it was written.
    pub source: Source,
}

/// A configuration fragment (`kvm.config`, `xen.config`, …): the same syntax as a `.config`, read
/// so that every value keeps its file and line.
#[derive(Debug, Clone)]
pub struct Fragment {
    config: Config,
    path: PathBuf,
}

impl Fragment {
    /// Read a fragment with the `CONFIG_` prefix.
    pub fn read(path: impl AsRef<Path>) -> Result<Fragment, ReadError> {
        Fragment::read_with_prefix(path, Prefix::kernel())
    }

    /// Read a fragment with a given prefix.
    pub fn read_with_prefix(path: impl AsRef<Path>, prefix: Prefix) -> Result<Fragment, ReadError> {
        let path = path.as_ref();
        let config = Config::read_with_prefix(path, prefix)?;
        Ok(Fragment {
            config,
            path: path.to_path_buf(),
        })
    }

    /// Parse fragment text held in memory; `name` is used as its file name in provenance.
    ///
    /// ```
    /// let f = kforge_kconfig::Fragment::parse("# KVM\nCONFIG_KVM=m\nCONFIG_KVM_INTEL=n\n", "kvm.config")?;
    /// let a: Vec<_> = f.assignments().collect();
    /// assert_eq!(a[1].symbol, "KVM_INTEL");
    /// assert_eq!(a[1].value, kforge_kconfig::Value::No);
    /// assert_eq!(a[1].source.to_string(), "kvm.config:3");
    /// # Ok::<(), kforge_kconfig::ParseError>(())
    /// ```
    pub fn parse(text: &str, name: impl Into<PathBuf>) -> Result<Fragment, ParseError> {
        Fragment::parse_with_prefix(text, name, Prefix::kernel())
    }

    /// [`Fragment::parse`] with a given prefix.
    pub fn parse_with_prefix(
        text: &str,
        name: impl Into<PathBuf>,
        prefix: Prefix,
    ) -> Result<Fragment, ParseError> {
        let path = name.into();
        let config = Config::parse_with(text, prefix, Some(&path))?;
        Ok(Fragment { config, path })
    }

    /// Use a parsed [`Config`] as a fragment; its origin (or `<fragment>`) names it.
    pub fn from_config(config: Config) -> Fragment {
        let path = config
            .origin()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("<fragment>"));
        Fragment { config, path }
    }

    /// The fragment's file name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fragment as a lossless [`Config`].
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every assignment in file order, including a symbol assigned twice (the later line wins
    /// when merging).
    pub fn assignments(&self) -> impl Iterator<Item = Assignment> + '_ {
        self.config
            .all_assignments()
            .map(move |(symbol, value, line)| Assignment {
                symbol: symbol.to_string(),
                value: value.clone(),
                source: Source {
                    file: self.path.clone(),
                    line,
                },
            })
    }
}
