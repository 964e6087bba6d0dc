//! Compiler requirements such as `gcc >=3.2, <4`, `gcc-11`, `clang >=14` or `any >=10`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::family::Family;
use crate::version::{PartialVersion, Version};

/// Which families a [`Requirement`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FamilyFilter {
    /// Only this family.
    Only(Family),
    /// GCC or Clang.
    Any,
}

impl FamilyFilter {
    /// Whether `family` is accepted.
    pub fn accepts(self, family: Family) -> bool {
        match self {
            FamilyFilter::Only(f) => f == family,
            FamilyFilter::Any => true,
        }
    }
}

/// A comparison operator of a [`Comparator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=` (or no operator): every release that starts with the written components.
    Eq,
    /// `>`
    Greater,
    /// `>=`
    GreaterEq,
    /// `<`
    Less,
    /// `<=`
    LessEq,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Greater => ">",
            Op::GreaterEq => ">=",
            Op::Less => "<",
            Op::LessEq => "<=",
        }
    }
}

/// One version constraint, e.g. `>=3.2`. Only the written components are compared, so `<4`
/// excludes every 4.x and `=3.4` accepts every 3.4.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Comparator {
    /// The operator.
    pub op: Op,
    /// The version it compares against.
    pub version: PartialVersion,
}

impl Comparator {
    /// Whether `version` satisfies this constraint.
    pub fn matches(&self, version: &Version) -> bool {
        let ord = self.version.compare(version);
        match self.op {
            Op::Eq => ord == Ordering::Equal,
            Op::Greater => ord == Ordering::Greater,
            Op::GreaterEq => ord != Ordering::Less,
            Op::Less => ord == Ordering::Less,
            Op::LessEq => ord != Ordering::Greater,
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.op.symbol(), self.version)
    }
}

/// What a build needs from its C compiler: a family and version constraints.
///
/// Grammar: `FAMILY[-VERSION] [OP VERSION[, OP VERSION]…]` where `FAMILY` is `gcc`, `clang` or
/// `any`, `OP` is one of `>= > <= < =` (none means `=`), and `FAMILY-VERSION` (`gcc-11`,
/// `gcc-3.4`, `clang-14`) is short for `FAMILY =VERSION`. A requirement that starts with an
/// operator accepts any family.
///
/// ```
/// use kforge_toolchain::{Family, Requirement, Version};
///
/// let qemu_0_9: Requirement = "gcc >=3.2, <4".parse()?;
/// assert!(qemu_0_9.matches(Family::Gcc, &Version::new(3, 4, 6)));
/// assert!(!qemu_0_9.matches(Family::Gcc, &Version::new(4, 2, 1)));
/// assert!(!qemu_0_9.matches(Family::Clang, &Version::new(3, 4, 0)));
///
/// let gcc11: Requirement = "gcc-11".parse()?;
/// assert!(gcc11.matches(Family::Gcc, &Version::new(11, 3, 0)));
/// # Ok::<(), kforge_toolchain::requirement::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// The accepted families.
    pub family: FamilyFilter,
    /// Every constraint must hold.
    pub comparators: Vec<Comparator>,
    text: String,
}

impl Requirement {
    /// A requirement that accepts every compiler of `family`.
    pub fn family(family: FamilyFilter) -> Self {
        let text = match family {
            FamilyFilter::Only(f) => f.driver_name().to_string(),
            FamilyFilter::Any => "any".to_string(),
        };
        Requirement {
            family,
            comparators: Vec::new(),
            text,
        }
    }

    /// Whether a compiler of `family` at `version` satisfies the requirement.
    pub fn matches(&self, family: Family, version: &Version) -> bool {
        self.family.accepts(family) && self.comparators.iter().all(|c| c.matches(version))
    }

    /// The requirement as it was written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Requirement {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// Why a requirement could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but white space.
    #[error(
        "empty compiler requirement: write e.g. \"gcc >=3.2, <4\", \"gcc-11\", \"clang >=14\" or \"any >=10\""
    )]
    Empty,
    /// The first word is not a known family.
    #[error(
        "unknown compiler family {family:?} in requirement {text:?}: expected gcc, clang or any (e.g. \"gcc-11\" or \"clang >=14\")"
    )]
    UnknownFamily {
        /// The word that was read as a family.
        family: String,
        /// The whole requirement.
        text: String,
    },
    /// A constraint could not be read.
    #[error(
        "invalid constraint {constraint:?} in requirement {text:?}: expected OP VERSION with OP one of >= > <= < = (e.g. \">=3.2\")"
    )]
    BadConstraint {
        /// The constraint as written.
        constraint: String,
        /// The whole requirement.
        text: String,
    },
    /// `any-12` names no family.
    #[error("\"any\" cannot carry a version suffix in {text:?}: write \"any ={version}\" instead")]
    AnyWithSuffix {
        /// The suffix.
        version: String,
        /// The whole requirement.
        text: String,
    },
}

impl FromStr for Requirement {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        let starts_with_constraint = text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '<' | '>' | '='));
        let (head, rest) = if starts_with_constraint {
            ("any", text)
        } else {
            let end = text
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '=' | ','))
                .unwrap_or(text.len());
            (&text[..end], &text[end..])
        };
        let head_lower = head.to_ascii_lowercase();
        let (family_word, suffix) = match head_lower.split_once('-') {
            Some((f, v)) => (f, Some(v)),
            None => (head_lower.as_str(), None),
        };
        let family = match family_word {
            "gcc" => FamilyFilter::Only(Family::Gcc),
            "clang" => FamilyFilter::Only(Family::Clang),
            "any" => FamilyFilter::Any,
            _ => {
                return Err(ParseError::UnknownFamily {
                    family: head.to_string(),
                    text: text.to_string(),
                });
            }
        };
        let bad = |constraint: &str| ParseError::BadConstraint {
            constraint: constraint.to_string(),
            text: text.to_string(),
        };
        let mut comparators = Vec::new();
        if let Some(suffix) = suffix {
            if family == FamilyFilter::Any {
                return Err(ParseError::AnyWithSuffix {
                    version: suffix.to_string(),
                    text: text.to_string(),
                });
            }
            let version = suffix.parse().map_err(|_| bad(head))?;
            comparators.push(Comparator {
                op: Op::Eq,
                version,
            });
        }
        let rest = rest.trim();
        if !rest.is_empty() {
            for part in rest.split(',') {
                let part = part.trim();
                let (op, version_text) = [
                    (">=", Op::GreaterEq),
                    ("<=", Op::LessEq),
                    ("==", Op::Eq),
                    (">", Op::Greater),
                    ("<", Op::Less),
                    ("=", Op::Eq),
                ]
                .iter()
                .find_map(|(sym, op)| part.strip_prefix(sym).map(|v| (*op, v)))
                .unwrap_or((Op::Eq, part));
                let version = version_text.trim().parse().map_err(|_| bad(part))?;
                comparators.push(Comparator { op, version });
            }
        }
        Ok(Requirement {
            family,
            comparators,
            text: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Requirement {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn qemu_range_accepts_only_gcc_3_2_to_3_4() {
        let r = req("gcc >=3.2, <4");
        assert_eq!(r.family, FamilyFilter::Only(Family::Gcc));
        assert_eq!(r.comparators.len(), 2);
        for ok in ["3.2.0", "3.2.3", "3.3.6", "3.4.6"] {
            assert!(r.matches(Family::Gcc, &v(ok)), "{ok}");
        }
        for no in ["3.1.1", "2.95.3", "4.0.0", "4.2.1", "12.2.0"] {
            assert!(!r.matches(Family::Gcc, &v(no)), "{no}");
        }
        assert!(!r.matches(Family::Clang, &v("3.4.0")));
        assert_eq!(r.to_string(), "gcc >=3.2, <4");
    }

    #[test]
    fn suffix_form_pins_the_release_series() {
        let r = req("gcc-11");
        assert!(r.matches(Family::Gcc, &v("11.3.0")));
        assert!(r.matches(Family::Gcc, &v("11.0.1")));
        assert!(!r.matches(Family::Gcc, &v("12.2.0")));
        assert!(!r.matches(Family::Gcc, &v("1.1.0")));
        let r = req("gcc-3.4");
        assert!(r.matches(Family::Gcc, &v("3.4.6")));
        assert!(!r.matches(Family::Gcc, &v("3.3.6")));
        let r = req("clang-14 >=14.0.5");
        assert!(r.matches(Family::Clang, &v("14.0.6")));
        assert!(!r.matches(Family::Clang, &v("14.0.4")));
        assert!(!r.matches(Family::Gcc, &v("14.0.6")));
    }

    #[test]
    fn any_family_and_spacing_variants() {
        let r = req("any >=10");
        assert!(r.matches(Family::Gcc, &v("12.2.0")));
        assert!(r.matches(Family::Clang, &v("14.0.6")));
        assert!(!r.matches(Family::Gcc, &v("9.4.0")));
        assert_eq!(
            req(">=10"),
            Requirement {
                text: ">=10".into(),
                ..r.clone()
            }
        );
        let compact = req("clang>=14,<15");
        assert!(compact.matches(Family::Clang, &v("14.0.6")));
        assert!(!compact.matches(Family::Clang, &v("15.0.0")));
        assert!(req("GCC = 12").matches(Family::Gcc, &v("12.2.0")));
        assert!(req("gcc").matches(Family::Gcc, &v("2.95.3")));
        assert!(req("gcc >4.2").matches(Family::Gcc, &v("4.3.0")));
        assert!(!req("gcc >4.2").matches(Family::Gcc, &v("4.2.9")));
        assert!(req("gcc <=4.2").matches(Family::Gcc, &v("4.2.9")));
    }

    #[test]
    fn malformed_requirements_say_what_is_wrong() {
        assert_eq!("  ".parse::<Requirement>(), Err(ParseError::Empty));
        let err = "icc >=10".parse::<Requirement>().unwrap_err();
        assert!(matches!(err, ParseError::UnknownFamily { ref family, .. } if family == "icc"));
        assert!(err.to_string().contains("expected gcc, clang or any"));
        let err = "gcc >=3.x".parse::<Requirement>().unwrap_err();
        assert!(
            matches!(err, ParseError::BadConstraint { ref constraint, .. } if constraint == ">=3.x")
        );
        assert!(matches!(
            "gcc-eleven".parse::<Requirement>(),
            Err(ParseError::BadConstraint { .. })
        ));
        assert!(matches!(
            "any-12".parse::<Requirement>(),
            Err(ParseError::AnyWithSuffix { .. })
        ));
        assert!(matches!(
            "gcc >=3.2,".parse::<Requirement>(),
            Err(ParseError::BadConstraint { .. })
        ));
    }
}
