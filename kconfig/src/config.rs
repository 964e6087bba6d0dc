//! [`Config`]: a lossless, editable `.config` file.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::value::{Prefix, Value, is_symbol_name};

/// How a line ended in the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Lf,
    CrLf,
    /// The last line of a file without a trailing newline.
    None,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Lf => "\n",
            Ending::CrLf => "\r\n",
            Ending::None => "",
        }
    }
}

/// One physical line: its exact text, its ending, and the symbol it assigns, if any.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    ending: Ending,
    entry: Option<(Arc<str>, Value)>,
}

/// Symbol name -> line index, with a fast non-cryptographic hash (FNV-1a over 8-byte words);
/// symbol names are short and come from files the user chose.
type SymbolMap = HashMap<Arc<str>, usize, BuildHasherDefault<SymbolHasher>>;

#[derive(Default)]
struct SymbolHasher(u64);

impl Hasher for SymbolHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(word))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(23);
        }
        for &b in chunks.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        // Mix the high bits down: hashbrown uses the top 7 bits as tags.
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32)
    }
}

/// A `.config` file (or fragment): ordered symbol assignments plus every comment and blank line,
/// so that [`Config::parse`] then [`Config::to_string`](ToString::to_string) gives back the same
/// bytes.
///
/// Symbol names are given without the prefix (`"KVM"`); a name that carries the prefix
/// (`"CONFIG_KVM"`) is accepted too. When a symbol is assigned twice, the later line wins, as in
/// the kernel's `conf_read`.
#[derive(Debug, Clone)]
pub struct Config {
    prefix: Prefix,
    origin: Option<PathBuf>,
    lines: Vec<Line>,
    /// Symbol -> index of its last assignment in `lines`.
    index: SymbolMap,
}

/// A line that is not valid `.config` syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}:{line}: {problem}: `{text}`\n  expected {expected}")]
pub struct ParseError {
    /// The file (or `<input>` when parsed from memory).
    pub location: String,
    /// 1-based line number.
    pub line: usize,
    /// The offending line, as written.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
    /// What a valid line looks like.
    pub expected: String,
}

/// Reading a `.config` file from disk failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not valid UTF-8.
    #[error("{path}:{line}: the line is not valid UTF-8 text; a .config file is plain text")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// A line is not valid `.config` syntax.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Writing a `.config` file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

/// An edit that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The symbol name has characters other than letters, digits and `_`.
    #[error("`{0}` is not a valid symbol name (letters, digits and `_` only)")]
    InvalidName(String),
}

impl Config {
    /// An empty configuration with the kernel prefix.
    pub fn new() -> Config {
        Config::with_prefix(Prefix::kernel())
    }

    /// An empty configuration with the given prefix.
    pub fn with_prefix(prefix: Prefix) -> Config {
        Config {
            prefix,
            origin: None,
            lines: Vec::new(),
            index: SymbolMap::default(),
        }
    }

    /// Parse `.config` text with the `CONFIG_` prefix.
    ///
    /// ```
    /// let text = "# comment\nCONFIG_KVM=m\n# CONFIG_MODULES is not set\nCONFIG_X=\"a b\"";
    /// let config = kforge_kconfig::Config::parse(text)?;
    /// assert_eq!(config.get("KVM"), Some(&kforge_kconfig::Value::Module));
    /// assert_eq!(config.to_string(), text);
    /// # Ok::<(), kforge_kconfig::ParseError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Config, ParseError> {
        Config::parse_with(text, Prefix::kernel(), None)
    }

    /// Parse `.config` text with a given prefix; `origin` names the file in errors and in the
    /// provenance of fragment values.
    pub fn parse_with(
        text: &str,
        prefix: Prefix,
        origin: Option<&Path>,
    ) -> Result<Config, ParseError> {
        let mut config = Config::with_prefix(prefix);
        config.origin = origin.map(Path::to_path_buf);
        // Kernel .config lines average about 35 bytes.
        config.lines.reserve(text.len() / 32 + 1);
        config.index.reserve(text.len() / 40 + 1);
        let location = config.location();
        let mut rest = text;
        let mut number = 0;
        while !rest.is_empty() {
            number += 1;
            let (raw, ending, next) = match rest.find('\n') {
                Some(i) => {
                    let line = &rest[..i];
                    match line.strip_suffix('\r') {
                        Some(l) => (l, Ending::CrLf, &rest[i + 1..]),
                        None => (line, Ending::Lf, &rest[i + 1..]),
                    }
                }
                None => (rest, Ending::None, ""),
            };
            rest = next;
            let parsed =
                parse_line(raw, config.prefix.as_str()).map_err(|(problem, expected)| {
                    ParseError {
                        location: location.clone(),
                        line: number,
                        text: raw.to_string(),
                        problem,
                        expected,
                    }
                })?;
            let entry = match parsed {
                Parsed::Entry(name, value) => Some((Arc::<str>::from(name), value)),
                Parsed::Comment => None,
                Parsed::NearMissNotSet => {
                    tracing::warn!(
                        at = %format!("{location}:{number}"),
                        line = raw,
                        "looks like `# {}NAME is not set` but the kernel reads it as a comment \
                         (write exactly one space after `#` and before `is not set`)",
                        config.prefix
                    );
                    None
                }
            };
            if let Some((name, _)) = &entry {
                config.index.insert(name.clone(), config.lines.len());
            }
            config.lines.push(Line {
                text: raw.to_string(),
                ending,
                entry,
            });
        }
        Ok(config)
    }

    /// Read and parse a file with the `CONFIG_` prefix.
    pub fn read(path: impl AsRef<Path>) -> Result<Config, ReadError> {
        Config::read_with_prefix(path, Prefix::kernel())
    }

    /// Read and parse a file with a given prefix.
    pub fn read_with_prefix(path: impl AsRef<Path>, prefix: Prefix) -> Result<Config, ReadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_bytes(bytes, prefix, path)
    }

    /// Parse bytes read from `path` (which is only used in messages and provenance).
    pub(crate) fn from_bytes(
        bytes: Vec<u8>,
        prefix: Prefix,
        path: &Path,
    ) -> Result<Config, ReadError> {
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..valid]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            ReadError::NotUtf8 {
                path: path.to_path_buf(),
                line,
            }
        })?;
        Ok(Config::parse_with(&text, prefix, Some(path))?)
    }

    /// Write the configuration to `path` atomically (temp file in the same directory, then
    /// rename).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), WriteError> {
        let path = path.as_ref();
        crate::atomic::write_atomic(path, self.to_string().as_bytes()).map_err(|source| {
            WriteError {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// The symbol prefix.
    pub fn prefix(&self) -> &Prefix {
        &self.prefix
    }

    /// The file this configuration was read from, if any.
    pub fn origin(&self) -> Option<&Path> {
        self.origin.as_deref()
    }

    /// Set the file name used in messages and provenance.
    pub fn set_origin(&mut self, origin: impl Into<PathBuf>) {
        self.origin = Some(origin.into());
    }

    pub(crate) fn location(&self) -> String {
        match &self.origin {
            Some(p) => p.display().to_string(),
            None => "<input>".into(),
        }
    }

    fn key<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(self.prefix.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(name)
    }

    /// The value of a symbol, `None` when the file does not mention it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = *self.index.get(self.key(name))?;
        self.lines[i].entry.as_ref().map(|(_, v)| v)
    }

    /// The 1-based line number of a symbol's (last) assignment.
    pub fn line_of(&self, name: &str) -> Option<usize> {
        self.index.get(self.key(name)).map(|i| i + 1)
    }

    /// Whether the file mentions the symbol (including `is not set`).
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(self.key(name))
    }

    /// Number of distinct symbols.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no symbol is assigned.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of physical lines.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Every symbol with its effective value, in file order (a symbol assigned twice appears
    /// once, at its last assignment).
    pub fn symbols(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.assignments().map(|(name, value, _)| (name, value))
    }

    /// Like [`Config::symbols`], with the 1-based line number of each assignment.
    pub fn assignments(&self) -> impl Iterator<Item = (&str, &Value, usize)> {
        self.lines.iter().enumerate().filter_map(|(i, line)| {
            let (name, value) = line.entry.as_ref()?;
            (self.index.get(name) == Some(&i)).then_some((&**name, value, i + 1))
        })
    }

    /// Every assignment line, including symbols assigned more than once, in file order, with
    /// 1-based line numbers.
    pub(crate) fn all_assignments(&self) -> impl Iterator<Item = (&str, &Value, usize)> {
        self.lines.iter().enumerate().filter_map(|(i, line)| {
            let (name, value) = line.entry.as_ref()?;
            Some((&**name, value, i + 1))
        })
    }

    /// The canonical line for an assignment, as Kconfig writes it.
    pub fn format_assignment(&self, name: &str, value: &Value) -> String {
        match value {
            Value::No => format!("# {}{} is not set", self.prefix, name),
            v => format!("{}{}={}", self.prefix, name, v.to_config_text()),
        }
    }

    /// Set a symbol to a value (scripts/config `--set-val`). An existing assignment is rewritten
    /// in place; a new symbol is appended at the end.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), EditError> {
        let name = self.key(name).to_string();
        if !is_symbol_name(&name) {
            return Err(EditError::InvalidName(name));
        }
        let text = self.format_assignment(&name, &value);
        match self.index.get(name.as_str()) {
            Some(&i) => {
                let line = &mut self.lines[i];
                line.text = text;
                if let Some(entry) = &mut line.entry {
                    entry.1 = value;
                }
            }
            None => {
                if let Some(last) = self.lines.last_mut()
                    && last.ending == Ending::None
                {
                    last.ending = Ending::Lf;
                }
                let name: Arc<str> = Arc::from(name);
                self.index.insert(name.clone(), self.lines.len());
                self.lines.push(Line {
                    text,
                    ending: Ending::Lf,
                    entry: Some((name, value)),
                });
            }
        }
        Ok(())
    }

    /// `=y` (scripts/config `--enable`).
    pub fn enable(&mut self, name: &str) -> Result<(), EditError> {
        self.set(name, Value::Yes)
    }

    /// `# … is not set` (scripts/config `--disable`).
    pub fn disable(&mut self, name: &str) -> Result<(), EditError> {
        self.set(name, Value::No)
    }

    /// `=m` (scripts/config `--module`).
    pub fn module(&mut self, name: &str) -> Result<(), EditError> {
        self.set(name, Value::Module)
    }

    /// `="text"` (scripts/config `--set-str`).
    pub fn set_str(&mut self, name: &str, text: &str) -> Result<(), EditError> {
        self.set(name, Value::Str(text.to_string()))
    }

    /// Set from value text such as `y`, `0x10`, `32` or `"text"` (scripts/config `--set-val`).
    pub fn set_val(&mut self, name: &str, text: &str) -> Result<(), SetValError> {
        let value = Value::parse(text.trim()).map_err(|problem| SetValError::Value {
            text: text.to_string(),
            problem,
        })?;
        self.set(name, value).map_err(SetValError::Edit)
    }

    /// Remove every assignment of the symbol (scripts/config `--undefine`). Returns whether
    /// anything was removed.
    pub fn undefine(&mut self, name: &str) -> bool {
        let name = self.key(name).to_string();
        if !self.index.contains_key(name.as_str()) {
            return false;
        }
        self.lines
            .retain(|l| l.entry.as_ref().map(|(n, _)| **n != *name).unwrap_or(true));
        self.reindex();
        true
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, line) in self.lines.iter().enumerate() {
            if let Some((name, _)) = &line.entry {
                self.index.insert(name.clone(), i);
            }
        }
    }
}

/// `set_val` got text that is not a value, or a bad name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetValError {
    /// The value text is not a `.config` value.
    #[error("`{text}` is not a .config value: {problem}; expected y, m, n, \"text\", 32 or 0x20")]
    Value {
        /// The text given.
        text: String,
        /// What is wrong with it.
        problem: crate::ValueError,
    },
    /// The name is invalid.
    #[error(transparent)]
    Edit(EditError),
}

impl std::str::FromStr for Config {
    type Err = ParseError;

    /// [`Config::parse`].
    fn from_str(text: &str) -> Result<Config, ParseError> {
        Config::parse(text)
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl fmt::Display for Config {
    /// The exact text: the original bytes for untouched lines, the canonical form for edited
    /// ones.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            f.write_str(&line.text)?;
            f.write_str(line.ending.as_str())?;
        }
        Ok(())
    }
}

impl PartialEq for Config {
    /// Two configurations are equal when they assign the same values to the same symbols
    /// (layout and comments aside).
    fn eq(&self, other: &Config) -> bool {
        self.len() == other.len() && self.symbols().all(|(n, v)| other.get(n) == Some(v))
    }
}

const EXPECTED_LINE: &str = "`PREFIXNAME=value` (y, m, n, \"text\", a number), `# PREFIXNAME is not set`, a `#` comment or a blank line";

fn expected(prefix: &str) -> String {
    EXPECTED_LINE.replace("PREFIX", prefix)
}

/// What one line holds.
enum Parsed {
    /// A blank line or a comment.
    Comment,
    /// A comment that looks like `# CONFIG_X is not set` but is not spelled the way the kernel
    /// reads it (`#CONFIG_X is not set`, two spaces, …): the kernel treats it as a comment.
    NearMissNotSet,
    /// An assignment.
    Entry(String, Value),
}

/// Classify one line the way the kernel's `conf_read` reads it (scripts/kconfig/confdata.c):
/// `# CONFIG_X is not set` exactly, assignments starting in column 1 with no space around `=`.
/// Lines the kernel would ignore with a warning are errors here, so that a requested value
/// cannot vanish silently. `Err((problem, expected))` otherwise.
fn parse_line(raw: &str, prefix: &str) -> Result<Parsed, (String, String)> {
    let start = raw.trim_start();
    if start.is_empty() {
        return Ok(Parsed::Comment);
    }
    if let Some(body) = start.strip_prefix('#') {
        if let Some(after) = raw.strip_prefix("# ").and_then(|r| r.strip_prefix(prefix))
            && let Some((name, tail)) = after.split_once(' ')
            && tail.starts_with("is not set")
            && is_symbol_name(name)
        {
            return Ok(Parsed::Entry(name.to_string(), Value::No));
        }
        let body = body.trim_start();
        if body.starts_with(prefix) && body.contains("is not set") {
            return Ok(Parsed::NearMissNotSet);
        }
        return Ok(Parsed::Comment);
    }
    if start.len() != raw.len() && start.starts_with(prefix) {
        return Err((
            "the assignment does not start in the first column; the kernel ignores it (\"unexpected data\")".into(),
            format!("`{prefix}NAME=value` at the start of the line"),
        ));
    }
    let Some(after) = raw.strip_prefix(prefix) else {
        return Err((
            format!("the line does not start with `{prefix}` or `#`"),
            expected(prefix),
        ));
    };
    let Some((name, value_raw)) = after.split_once('=') else {
        return Err(("the assignment has no `=`".into(), expected(prefix)));
    };
    if name.ends_with(char::is_whitespace) {
        return Err((
            format!(
                "space before `=`; the kernel would look for a symbol named `{name}` and ignore the line"
            ),
            format!("`{prefix}{}=value` without spaces", name.trim_end()),
        ));
    }
    if !is_symbol_name(name) {
        return Err((
            format!("`{prefix}{name}` is not a valid symbol name"),
            format!("{prefix} followed by letters, digits and `_`"),
        ));
    }
    if value_raw.starts_with(char::is_whitespace) {
        return Err((
            format!("space after `=`; the kernel would read the value `{value_raw}` and reject it"),
            format!("`{prefix}{name}={}` without spaces", value_raw.trim()),
        ));
    }
    let value_text = value_raw.trim_end();
    let value = Value::parse(value_text).map_err(|problem| {
        (
            format!("invalid value for {prefix}{name}: {problem}"),
            VALUE_EXPECTED.to_string(),
        )
    })?;
    if value_text.len() != value_raw.len() && matches!(value, Value::Int(_) | Value::Hex(_)) {
        return Err((
            format!(
                "trailing whitespace after the number for {prefix}{name}; the kernel rejects it"
            ),
            format!("`{prefix}{name}={value_text}`"),
        ));
    }
    Ok(Parsed::Entry(name.to_string(), value))
}

const VALUE_EXPECTED: &str = "y, m, n, a \"quoted string\" (with \\\" and \\\\ escapes), a decimal number or a 0x hex number";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_odd_layout() {
        for text in [
            "",
            "\n",
            "CONFIG_A=y",
            "CONFIG_A=y\n\n\n",
            "CONFIG_A=y  \r\n# CONFIG_B is not set\r\n#comment\r\n  # indented\r\n",
            "CONFIG_S=\"a\"\t\n#CONFIG_C is not set\n# CONFIG_D  is not set\n",
            "#\n# Automatically generated\n#\nCONFIG_S=\"x \\\"q\\\" \\\\\"\n\t\nCONFIG_H=0x10",
            "CONFIG_A=y\nCONFIG_A=m\n",
        ] {
            let c = Config::parse(text).unwrap();
            assert_eq!(c.to_string(), text);
        }
    }

    #[test]
    fn later_assignment_wins() {
        let c = Config::parse("CONFIG_A=y\nCONFIG_A=m\n").unwrap();
        assert_eq!(c.get("A"), Some(&Value::Module));
        assert_eq!(c.get("CONFIG_A"), Some(&Value::Module));
        assert_eq!(c.line_of("A"), Some(2));
        assert_eq!(c.symbols().count(), 1);
    }

    #[test]
    fn n_equals_not_set() {
        let a = Config::parse("CONFIG_X=n\n").unwrap();
        let b = Config::parse("# CONFIG_X is not set\n").unwrap();
        assert_eq!(a.get("X"), b.get("X"));
        assert_eq!(a, b);
    }

    #[test]
    fn errors_name_file_line_and_text() {
        let err = Config::parse_with(
            "CONFIG_A=y\nCONFIG_B=yes\n",
            Prefix::kernel(),
            Some(Path::new("frag.config")),
        )
        .unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.text, "CONFIG_B=yes");
        let msg = err.to_string();
        assert!(
            msg.starts_with("frag.config:2: invalid value for CONFIG_B"),
            "{msg}"
        );
        assert!(msg.contains("expected y, m, n"), "{msg}");

        let err = Config::parse("KVM=y\n").unwrap_err();
        assert!(err.to_string().contains("does not start with `CONFIG_`"));
        let err = Config::parse("CONFIG_A\n").unwrap_err();
        assert!(err.to_string().contains("no `=`"));
        let err = Config::parse("CONFIG_A-B=y\n").unwrap_err();
        assert!(err.to_string().contains("not a valid symbol name"));
    }

    #[test]
    fn lines_the_kernel_ignores_are_errors() {
        for (text, needle) in [
            ("CONFIG_A =y", "space before `=`"),
            ("CONFIG_A= y", "space after `=`"),
            ("  CONFIG_A=y", "does not start in the first column"),
            ("CONFIG_N=64 ", "trailing whitespace after the number"),
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        // Near misses of `is not set` are comments, as the kernel reads them.
        let c = Config::parse("#CONFIG_A is not set\n# CONFIG_B  is not set\n").unwrap();
        assert!(c.is_empty());
        assert_eq!(
            Config::parse("CONFIG_A=y \t").unwrap().get("A"),
            Some(&Value::Yes)
        );
    }

    #[test]
    fn buildroot_prefix() {
        let c = Config::parse_with(
            "BR2_x86_64=y\n# BR2_ARM is not set\n",
            Prefix::buildroot(),
            None,
        )
        .unwrap();
        assert_eq!(c.get("x86_64"), Some(&Value::Yes));
        assert_eq!(c.get("BR2_ARM"), Some(&Value::No));
        assert!(Config::parse("BR2_X=y").is_err());
    }

    #[test]
    fn edits_in_place_and_append() {
        let mut c = Config::parse("# head\nCONFIG_A=y\n# CONFIG_B is not set").unwrap();
        c.module("A").unwrap();
        c.enable("CONFIG_B").unwrap();
        c.set_str("S", "a\"b").unwrap();
        c.set_val("H", "0x20").unwrap();
        c.disable("D").unwrap();
        assert_eq!(
            c.to_string(),
            "# head\nCONFIG_A=m\nCONFIG_B=y\nCONFIG_S=\"a\\\"b\"\nCONFIG_H=0x20\n# CONFIG_D is not set\n"
        );
        assert!(c.undefine("A"));
        assert!(!c.undefine("A"));
        assert_eq!(c.get("A"), None);
        assert_eq!(c.get("H"), Some(&Value::Hex(0x20)));
        assert!(c.set_val("X", "maybe").is_err());
        assert!(c.enable("BAD-NAME").is_err());
    }
}
