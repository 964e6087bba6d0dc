//! Typed `.config` values and the symbol prefix (`CONFIG_`, `BR2_`, …).

use std::fmt;

use serde::Serialize;

/// The value of one symbol in a `.config` file or a fragment.
///
/// `CONFIG_X=n` and `# CONFIG_X is not set` both parse to [`Value::No`]; a symbol that does not
/// appear at all is represented by `None` where an `Option<Value>` is returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Value {
    /// `=y`: built in (or a `bool` that is on).
    Yes,
    /// `=m`: built as a module.
    Module,
    /// `# CONFIG_X is not set` (or `=n` in a fragment).
    No,
    /// `="text"`, unescaped (`\"` became `"`, `\\` became `\`).
    Str(String),
    /// A decimal number such as `=32` or `=-1`.
    Int(i64),
    /// A hexadecimal number such as `=0x1000000`.
    Hex(u64),
}

impl Value {
    /// Parse the text after `=` (already trimmed of surrounding whitespace).
    ///
    /// Fails with what is wrong with the text when it is not a value.
    pub fn parse(text: &str) -> Result<Value, ValueError> {
        match text {
            "y" => return Ok(Value::Yes),
            "m" => return Ok(Value::Module),
            "n" => return Ok(Value::No),
            "" => return Err(ValueError::Empty),
            _ => {}
        }
        if let Some(rest) = text.strip_prefix('"') {
            return unescape_string(rest).map(Value::Str);
        }
        if let Some(digits) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return u64::from_str_radix(digits, 16)
                    .map(Value::Hex)
                    .map_err(|_| ValueError::HexOutOfRange);
            }
            return Err(ValueError::BadHex);
        }
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| ValueError::DecimalOutOfRange);
        }
        Err(ValueError::NotAValue)
    }

    /// Whether the symbol is off (`n`): only [`Value::No`].
    pub fn is_off(&self) -> bool {
        matches!(self, Value::No)
    }

    /// The value as the text after `=` in a `.config` line (`y`, `m`, `n`, `"a \"b\""`, `32`,
    /// `0x10`).
    pub fn to_config_text(&self) -> String {
        match self {
            Value::Yes => "y".into(),
            Value::Module => "m".into(),
            Value::No => "n".into(),
            Value::Str(s) => {
                let mut out = String::with_capacity(s.len() + 2);
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
                out
            }
            Value::Int(i) => i.to_string(),
            Value::Hex(h) => format!("0x{h:x}"),
        }
    }

    /// Whether `landed` (the value in a final `.config`) satisfies this requested value.
    ///
    /// Equal values match; a requested `n` is met by an absent symbol; a decimal-looking request
    /// for a hex symbol matches what Kconfig stores (`1000` becomes `0x1000`).
    pub fn is_met_by(&self, landed: Option<&Value>) -> bool {
        match (self, landed) {
            (Value::No, None) => true,
            (_, None) => false,
            (Value::Int(i), Some(Value::Hex(h))) => {
                *i >= 0 && u64::from_str_radix(&i.to_string(), 16).ok() == Some(*h)
            }
            (a, Some(b)) => a == b,
        }
    }
}

impl fmt::Display for Value {
    /// `=y`, `=m`, `is not set`, `="text"`, `=32`, `=0x10`: how the value reads in a report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::No => f.write_str("is not set"),
            other => write!(f, "={}", other.to_config_text()),
        }
    }
}

/// Why the text after `=` is not a `.config` value ([`Value::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Nothing follows `=`.
    #[error("the value after `=` is empty")]
    Empty,
    /// `0x` without hexadecimal digits after it, or with other characters.
    #[error("`0x` is not followed by hexadecimal digits only")]
    BadHex,
    /// A hexadecimal number above `u64::MAX`.
    #[error("the hexadecimal number does not fit in 64 bits")]
    HexOutOfRange,
    /// A decimal number outside `i64`.
    #[error("the decimal number does not fit in 64 bits")]
    DecimalOutOfRange,
    /// A quoted string ending with a backslash.
    #[error("the string ends with a lone backslash")]
    LoneBackslash,
    /// Text after the closing quote of a string.
    #[error("unexpected text `{0}` after the closing quote")]
    TextAfterQuote(String),
    /// A string without its closing quote.
    #[error("the string has no closing quote")]
    Unterminated,
    /// None of y, m, n, a quoted string or a number.
    #[error("the value is not y, m, n, a quoted string or a number")]
    NotAValue,
}

/// Undo Kconfig string escaping. `rest` is the text after the opening quote.
fn unescape_string(rest: &str) -> Result<String, ValueError> {
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => out.push(escaped),
                None => return Err(ValueError::LoneBackslash),
            },
            '"' => {
                let tail = chars.as_str();
                if tail.trim().is_empty() {
                    return Ok(out);
                }
                return Err(ValueError::TextAfterQuote(tail.trim().to_string()));
            }
            other => out.push(other),
        }
    }
    Err(ValueError::Unterminated)
}

/// The symbol prefix of a configuration dialect: `CONFIG_` for Linux (and Xen, U-Boot, …),
/// `BR2_` for Buildroot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Prefix(String);

impl Prefix {
    /// The kernel's default prefix, `CONFIG_`.
    pub fn kernel() -> Prefix {
        Prefix("CONFIG_".into())
    }

    /// Buildroot's prefix, `BR2_`.
    pub fn buildroot() -> Prefix {
        Prefix("BR2_".into())
    }

    /// A custom prefix, such as `CT_` for crosstool-NG.
    pub fn new(prefix: impl Into<String>) -> Prefix {
        Prefix(prefix.into())
    }

    /// The prefix the kernel's own tools would use: the `CONFIG_` environment variable when it is
    /// set (as `scripts/kconfig` and `merge_config.sh` read it), `CONFIG_` otherwise.
    pub fn from_env() -> Prefix {
        Prefix::from_env_value(
            std::env::var_os("CONFIG_").map(|v| v.to_string_lossy().into_owned()),
        )
    }

    /// [`Prefix::from_env`] with the variable's value passed in (for callers that manage their own
    /// environment). `None` means unset; an empty value is kept, as the kernel keeps it.
    pub fn from_env_value(value: Option<String>) -> Prefix {
        match value {
            Some(v) => Prefix(v),
            None => Prefix::kernel(),
        }
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Prefix {
    fn default() -> Prefix {
        Prefix::kernel()
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` is a valid symbol name (after the prefix): ASCII letters, digits, underscores.
pub(crate) fn is_symbol_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(Value::parse("y"), Ok(Value::Yes));
        assert_eq!(Value::parse("m"), Ok(Value::Module));
        assert_eq!(Value::parse("n"), Ok(Value::No));
        assert_eq!(
            Value::parse("\"a \\\"b\\\" \\\\c\""),
            Ok(Value::Str("a \"b\" \\c".into()))
        );
        assert_eq!(Value::parse("-12"), Ok(Value::Int(-12)));
        assert_eq!(Value::parse("0x1F"), Ok(Value::Hex(0x1f)));
        assert_eq!(Value::parse("yes"), Err(ValueError::NotAValue));
        assert_eq!(Value::parse("\"open"), Err(ValueError::Unterminated));
        assert_eq!(Value::parse("\"a\\"), Err(ValueError::LoneBackslash));
        assert_eq!(
            Value::parse("\"a\" b"),
            Err(ValueError::TextAfterQuote("b".into()))
        );
        assert_eq!(Value::parse("0x"), Err(ValueError::BadHex));
        assert_eq!(Value::parse("0xfg"), Err(ValueError::BadHex));
        assert_eq!(
            Value::parse("0x10000000000000000"),
            Err(ValueError::HexOutOfRange)
        );
        assert_eq!(
            Value::parse("99999999999999999999"),
            Err(ValueError::DecimalOutOfRange)
        );
        assert_eq!(Value::parse(""), Err(ValueError::Empty));
    }

    #[test]
    fn config_text_round_trips() {
        for v in [
            Value::Yes,
            Value::Module,
            Value::No,
            Value::Str("q\"\\x".into()),
            Value::Int(-5),
            Value::Hex(0xabc),
        ] {
            assert_eq!(Value::parse(&v.to_config_text()), Ok(v));
        }
    }

    #[test]
    fn decimal_request_is_met_by_kconfig_hex() {
        assert!(Value::Int(1000).is_met_by(Some(&Value::Hex(0x1000))));
        assert!(!Value::Int(1000).is_met_by(Some(&Value::Hex(1000))));
        assert!(Value::No.is_met_by(None));
        assert!(!Value::Yes.is_met_by(None));
    }

    #[test]
    fn prefix_from_env_value() {
        assert_eq!(Prefix::from_env_value(None).as_str(), "CONFIG_");
        assert_eq!(Prefix::from_env_value(Some("BR2_".into())).as_str(), "BR2_");
    }
}
