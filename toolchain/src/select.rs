//! Choosing a compiler that satisfies a [`Requirement`], or explaining why none does.

use std::fmt;

use crate::compiler::Compiler;
use crate::discover::Discovered;
use crate::family::Family;
use crate::packages::PackageAdvice;
use crate::requirement::Requirement;
use crate::version::Version;

/// Which of several matching compilers to choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preference {
    /// The highest version (ties: earliest on `PATH`).
    #[default]
    Newest,
    /// The lowest version (ties: earliest on `PATH`).
    Oldest,
    /// The first on `PATH`, whatever its version.
    PathOrder,
}

/// A selection: a requirement, a preference, and whether a miss should ask apt which package
/// would help.
///
/// ```no_run
/// use kforge_toolchain::{Discovery, Preference, Selection};
///
/// let found = Discovery::new().run()?;
/// let qemu_cc = Selection::new("gcc >=3.2, <4".parse()?)
///     .prefer(Preference::Newest)
///     .select(&found)?;
/// println!("./configure {}", qemu_cc.configure_arg("--qemu-cc"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Selection {
    requirement: Requirement,
    preference: Preference,
    package_advice: bool,
}

/// A compiler that was found, as listed in a [`NoMatch`] error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FoundCompiler {
    /// Its command.
    pub command: String,
    /// All its names.
    pub names: Vec<String>,
    /// Its family.
    pub family: Family,
    /// Its version.
    pub version: Version,
    /// Its target triple.
    pub target: String,
}

/// Nothing on the search path satisfies the requirement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoMatch {
    /// The requirement.
    pub requirement: Requirement,
    /// The search path that was scanned.
    pub search_path: String,
    /// Every compiler that was found.
    pub found: Vec<FoundCompiler>,
    /// Programs with compiler names that did not work: `(path, what went wrong)`.
    pub broken: Vec<(String, String)>,
    /// Which package would provide a match (`None` when the selection was told not to ask).
    pub advice: Option<PackageAdvice>,
}

/// Why [`Selection::select`] chose nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No compiler satisfies the requirement.
    #[error("{0}")]
    NoMatch(Box<NoMatch>),
}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no C compiler satisfies \"{}\"", self.requirement)?;
        if self.found.is_empty() {
            write!(f, "; none found on PATH ({})", self.search_path)?;
        } else {
            write!(f, "; found on PATH:")?;
            for c in &self.found {
                write!(
                    f,
                    "\n  {}: {} {} ({})",
                    c.command, c.family, c.version, c.target
                )?;
                if c.names.len() > 1 {
                    write!(f, ", also {}", c.names[1..].join(", "))?;
                }
            }
        }
        for (path, error) in &self.broken {
            write!(f, "\n  {path}: unusable: {error}")?;
        }
        if let Some(advice) = &self.advice {
            write!(f, "\n{advice}")?;
        }
        Ok(())
    }
}

impl Selection {
    /// Select for `requirement`, newest first, asking apt on a miss.
    pub fn new(requirement: Requirement) -> Selection {
        Selection {
            requirement,
            preference: Preference::Newest,
            package_advice: true,
        }
    }

    /// Choose by `preference` among matches.
    pub fn prefer(mut self, preference: Preference) -> Selection {
        self.preference = preference;
        self
    }

    /// Whether a miss runs `apt-cache policy` to say which package would help (default: yes).
    pub fn package_advice(mut self, ask_apt: bool) -> Selection {
        self.package_advice = ask_apt;
        self
    }

    /// Every compiler of `found` that satisfies the requirement, best first.
    pub fn matching<'a>(&self, found: &'a Discovered) -> Vec<&'a Compiler> {
        let mut matches: Vec<(usize, &Compiler)> = found
            .compilers
            .iter()
            .enumerate()
            .filter(|(_, c)| self.requirement.matches(c.family, &c.version))
            .collect();
        match self.preference {
            Preference::Newest => {
                matches.sort_by(|a, b| b.1.version.cmp(&a.1.version).then(a.0.cmp(&b.0)))
            }
            Preference::Oldest => {
                matches.sort_by(|a, b| a.1.version.cmp(&b.1.version).then(a.0.cmp(&b.0)))
            }
            Preference::PathOrder => matches.sort_by_key(|(_, c)| c.path_order),
        }
        matches.into_iter().map(|(_, c)| c).collect()
    }

    /// The best compiler of `found` for the requirement, or an error that lists what was found.
    pub fn select<'a>(&self, found: &'a Discovered) -> Result<&'a Compiler, Error> {
        if let Some(best) = self.matching(found).first() {
            tracing::debug!(requirement = %self.requirement, chosen = %best.describe(), "selected");
            return Ok(best);
        }
        let advice = self
            .package_advice
            .then(|| PackageAdvice::for_requirement(&self.requirement));
        Err(Error::NoMatch(Box::new(NoMatch {
            requirement: self.requirement.clone(),
            search_path: found.search_path.clone(),
            found: found
                .compilers
                .iter()
                .map(|c| FoundCompiler {
                    command: c.command.clone(),
                    names: c.names.clone(),
                    family: c.family,
                    version: c.version,
                    target: c.target.clone(),
                })
                .collect(),
            broken: found
                .broken
                .iter()
                .map(|b| (b.path.display().to_string(), b.error.to_string()))
                .collect(),
            advice,
        })))
    }
}

impl Discovered {
    /// The newest compiler that satisfies `requirement`; see [`Selection`] for other preferences.
    pub fn select(&self, requirement: &Requirement) -> Result<&Compiler, Error> {
        Selection::new(requirement.clone()).select(self)
    }
}
