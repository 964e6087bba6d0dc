//! Compiler versions: `major.minor.patch`, ordered numerically.

use std::fmt;
use std::str::FromStr;

/// A compiler release as the compiler itself reports it (`__GNUC__.__GNUC_MINOR__.__GNUC_PATCHLEVEL__`
/// or `__clang_major__.__clang_minor__.__clang_patchlevel__`).
///
/// Versions order numerically: `3.4.6 < 4.2.1 < 11.3.0 < 12.2.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major release (`12` in `12.2.0`).
    pub major: u32,
    /// Minor release (`2` in `12.2.0`).
    pub minor: u32,
    /// Patch level (`0` in `12.2.0`).
    pub patch: u32,
}

impl Version {
    /// A version from its three components.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A version with one, two or three components, as written in a requirement (`4`, `3.2`, `3.4.6`).
///
/// Comparisons against a [`Version`] only look at the components that were written:
/// `3.4` equals every `3.4.x`, and `4` equals every `4.x.y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialVersion {
    /// Major release.
    pub major: u32,
    /// Minor release, if written.
    pub minor: Option<u32>,
    /// Patch level, if written (only together with `minor`).
    pub patch: Option<u32>,
}

impl PartialVersion {
    /// Compare `version` with this partial version, looking only at the written components.
    pub fn compare(&self, version: &Version) -> std::cmp::Ordering {
        version
            .major
            .cmp(&self.major)
            .then_with(|| match self.minor {
                Some(minor) => version.minor.cmp(&minor),
                None => std::cmp::Ordering::Equal,
            })
            .then_with(|| match self.patch {
                Some(patch) => version.patch.cmp(&patch),
                None => std::cmp::Ordering::Equal,
            })
    }
}

impl fmt::Display for PartialVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major)?;
        if let Some(minor) = self.minor {
            write!(f, ".{minor}")?;
        }
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

/// Why a version string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid version {text:?}: expected MAJOR[.MINOR[.PATCH]] with decimal numbers, e.g. 3.4 or 12.2.0"
)]
pub struct ParseVersionError {
    /// The text that was given.
    pub text: String,
}

impl FromStr for PartialVersion {
    type Err = ParseVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseVersionError {
            text: text.to_string(),
        };
        let mut parts = text.split('.');
        let mut next = |required: bool| -> Result<Option<u32>, ParseVersionError> {
            match parts.next() {
                None if !required => Ok(None),
                None => Err(err()),
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map(Some).map_err(|_| err())
                }
                Some(_) => Err(err()),
            }
        };
        let major = next(true)?.ok_or_else(err)?;
        let minor = next(false)?;
        let patch = if minor.is_some() { next(false)? } else { None };
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(PartialVersion {
            major,
            minor,
            patch,
        })
    }
}

impl FromStr for Version {
    type Err = ParseVersionError;

    /// Missing components read as zero: `12` is `12.0.0`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let partial: PartialVersion = text.parse()?;
        Ok(Version::new(
            partial.major,
            partial.minor.unwrap_or(0),
            partial.patch.unwrap_or(0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn versions_order_numerically_not_lexically() {
        let mut versions: Vec<Version> = ["12.2.0", "3.4.6", "11.3.0", "4.2.1", "4.10.0", "2.95.3"]
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        versions.sort();
        let shown: Vec<String> = versions.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["2.95.3", "3.4.6", "4.2.1", "4.10.0", "11.3.0", "12.2.0"]
        );
    }

    #[test]
    fn partial_versions_compare_only_written_components() {
        let v: Version = "3.4.6".parse().unwrap();
        let p = |s: &str| s.parse::<PartialVersion>().unwrap();
        assert_eq!(p("3").compare(&v), Ordering::Equal);
        assert_eq!(p("3.4").compare(&v), Ordering::Equal);
        assert_eq!(p("3.4.6").compare(&v), Ordering::Equal);
        assert_eq!(p("3.2").compare(&v), Ordering::Greater);
        assert_eq!(p("4").compare(&v), Ordering::Less);
        assert_eq!(p("3.4.7").compare(&v), Ordering::Less);
    }

    #[test]
    fn bad_versions_are_rejected_with_the_text() {
        for bad in ["", "a", "3.", ".3", "3.4.5.6", "3.x", "-1", "3 .4"] {
            let err = bad.parse::<PartialVersion>().unwrap_err();
            assert_eq!(err.text, bad);
        }
        assert_eq!("12".parse::<Version>().unwrap(), Version::new(12, 0, 0));
    }
}
