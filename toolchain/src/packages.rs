//! Which Debian/Ubuntu package would provide a compiler that satisfies a requirement, and whether
//! this machine's distribution carries it.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::command;
use crate::family::Family;
use crate::requirement::Requirement;
use crate::version::Version;

/// GCC release series, each packaged by Debian and Ubuntu as `gcc-<series>`.
const GCC_SERIES: &[(u32, Option<u32>)] = &[
    (2, Some(95)),
    (3, Some(0)),
    (3, Some(1)),
    (3, Some(2)),
    (3, Some(3)),
    (3, Some(4)),
    (4, Some(0)),
    (4, Some(1)),
    (4, Some(2)),
    (4, Some(3)),
    (4, Some(4)),
    (4, Some(5)),
    (4, Some(6)),
    (4, Some(7)),
    (4, Some(8)),
    (4, Some(9)),
    (5, None),
    (6, None),
    (7, None),
    (8, None),
    (9, None),
    (10, None),
    (11, None),
    (12, None),
    (13, None),
    (14, None),
    (15, None),
];

/// Clang release series, packaged as `clang-<series>`.
const CLANG_SERIES: &[(u32, Option<u32>)] = &[
    (3, Some(0)),
    (3, Some(1)),
    (3, Some(2)),
    (3, Some(3)),
    (3, Some(4)),
    (3, Some(5)),
    (3, Some(6)),
    (3, Some(7)),
    (3, Some(8)),
    (3, Some(9)),
    (4, None),
    (5, None),
    (6, None),
    (7, None),
    (8, None),
    (9, None),
    (10, None),
    (11, None),
    (12, None),
    (13, None),
    (14, None),
    (15, None),
    (16, None),
    (17, None),
    (18, None),
    (19, None),
    (20, None),
    (21, None),
];

/// A package the distribution carries, with the version apt would install.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CarriedPackage {
    /// Package name, e.g. `gcc-11`.
    pub name: String,
    /// apt's candidate version, e.g. `11.3.0-12`.
    pub version: String,
}

/// Advice on which Debian/Ubuntu package would satisfy a requirement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackageAdvice {
    /// Every `gcc-<series>` / `clang-<series>` package whose release series can satisfy the
    /// requirement, oldest first.
    pub candidates: Vec<String>,
    /// The candidates this machine's apt can install (`apt-cache policy` shows a candidate
    /// version), oldest first; `None` when apt could not be asked.
    pub carried: Option<Vec<CarriedPackage>>,
    /// Why apt could not be asked, when it could not.
    pub apt_error: Option<String>,
}

fn series_matches(req: &Requirement, family: Family, major: u32, minor: Option<u32>) -> bool {
    let minors: Vec<u32> = match minor {
        Some(m) => vec![m],
        None => (0..=6).collect(),
    };
    minors
        .iter()
        .any(|&m| (0..=12).any(|p| req.matches(family, &Version::new(major, m, p))))
}

impl PackageAdvice {
    /// The package names whose release series can satisfy `req`, oldest first (GCC before Clang
    /// for `any`). Pure: does not ask apt.
    pub fn candidates(req: &Requirement) -> Vec<String> {
        let mut out = Vec::new();
        for (family, series) in [(Family::Gcc, GCC_SERIES), (Family::Clang, CLANG_SERIES)] {
            for &(major, minor) in series {
                if series_matches(req, family, major, minor) {
                    out.push(match minor {
                        Some(m) => format!("{}-{major}.{m}", family.driver_name()),
                        None => format!("{}-{major}", family.driver_name()),
                    });
                }
            }
        }
        out
    }

    /// The candidates for `req`, checked against this machine's apt (`apt-cache policy`).
    pub fn for_requirement(req: &Requirement) -> PackageAdvice {
        PackageAdvice::check(PackageAdvice::candidates(req), Path::new("apt-cache"))
    }

    /// Check `candidates` with the given `apt-cache` program.
    pub fn check(candidates: Vec<String>, apt_cache: &Path) -> PackageAdvice {
        if candidates.is_empty() {
            return PackageAdvice {
                candidates,
                carried: Some(Vec::new()),
                apt_error: None,
            };
        }
        let mut args = vec![OsString::from("policy")];
        args.extend(candidates.iter().map(OsString::from));
        let shown = command::display_command(apt_cache, &args);
        let program = match crate::identify::resolve_program(
            &apt_cache.to_string_lossy(),
            std::env::var_os("PATH").as_deref(),
        ) {
            Ok(p) => p,
            Err(_) => {
                return PackageAdvice {
                    candidates,
                    carried: None,
                    apt_error: Some(format!(
                        "{} not found: not a Debian/Ubuntu system?",
                        apt_cache.display()
                    )),
                };
            }
        };
        match command::run(&program, &args, None, Duration::from_secs(30)) {
            Ok(out) if out.status.success() => {
                let carried = parse_policy(&String::from_utf8_lossy(&out.stdout))
                    .into_iter()
                    .filter(|p| candidates.contains(&p.name))
                    .collect::<Vec<_>>();
                let mut ordered = Vec::new();
                for c in &candidates {
                    if let Some(p) = carried.iter().find(|p| &p.name == c) {
                        ordered.push(p.clone());
                    }
                }
                PackageAdvice {
                    candidates,
                    carried: Some(ordered),
                    apt_error: None,
                }
            }
            Ok(out) => PackageAdvice {
                candidates,
                carried: None,
                apt_error: Some(out.failure(shown).to_string()),
            },
            Err(e) => PackageAdvice {
                candidates,
                carried: None,
                apt_error: Some(e.failure(shown).to_string()),
            },
        }
    }

    /// `apt-get install <newest carried candidate>`, if there is one.
    pub fn install_line(&self) -> Option<String> {
        self.carried
            .as_ref()
            .and_then(|c| c.last())
            .map(|p| format!("apt-get install {}", p.name))
    }
}

/// Parse `apt-cache policy` output into the packages that have an installable candidate.
pub(crate) fn parse_policy(text: &str) -> Vec<CarriedPackage> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') {
            current = line.strip_suffix(':').map(str::to_string);
        } else if let (Some(name), Some(version)) =
            (&current, line.trim().strip_prefix("Candidate:"))
        {
            let version = version.trim();
            if version != "(none)" && !version.is_empty() {
                out.push(CarriedPackage {
                    name: name.clone(),
                    version: version.to_string(),
                });
            }
        }
    }
    out
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl fmt::Display for PackageAdvice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let newest = self.candidates.last();
        match (&self.carried, newest) {
            (_, None) => write!(
                f,
                "no GCC or Clang release series known to Debian/Ubuntu packaging satisfies it"
            ),
            (Some(carried), Some(_)) if !carried.is_empty() => {
                let list: Vec<String> = carried
                    .iter()
                    .map(|p| format!("{} ({})", p.name, p.version))
                    .collect();
                write!(
                    f,
                    "install one: {} (this distribution carries {})",
                    self.install_line().unwrap_or_default(),
                    list.join(", ")
                )
            }
            (Some(_), Some(newest)) => write!(
                f,
                "Debian/Ubuntu packaged it as {} (e.g. apt-get install {newest}), but this \
                 distribution does not carry {} (apt-cache policy shows no candidate): use an older \
                 release in a chroot or container, or build the compiler from source",
                or_list(&self.candidates),
                if self.candidates.len() == 1 {
                    "it"
                } else {
                    "any of them"
                }
            ),
            (None, Some(newest)) => write!(
                f,
                "on Debian/Ubuntu the package is {} (e.g. apt-get install {newest}); availability \
                 not checked: {}",
                or_list(&self.candidates),
                self.apt_error.as_deref().unwrap_or("apt-cache unavailable")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(req: &str) -> Vec<String> {
        PackageAdvice::candidates(&req.parse().unwrap())
    }

    #[test]
    fn candidates_follow_the_release_series() {
        assert_eq!(cands("gcc >=3.2, <4"), ["gcc-3.2", "gcc-3.3", "gcc-3.4"]);
        assert_eq!(cands("gcc-11"), ["gcc-11"]);
        assert_eq!(cands("gcc-3.4"), ["gcc-3.4"]);
        assert_eq!(cands("gcc =3.4.6"), ["gcc-3.4"]);
        assert_eq!(cands("clang >=19"), ["clang-19", "clang-20", "clang-21"]);
        let any = cands("any >=14, <15");
        assert_eq!(any, ["gcc-14", "clang-14"]);
        assert!(cands("gcc >=99").is_empty());
    }

    #[test]
    fn policy_output_is_parsed_by_exact_name() {
        let text = "wxperl-gtk-3-2-2-uni-gcc-3-4:\n  Installed: (none)\n  Candidate: (none)\n\
                    gcc-11:\n  Installed: 11.3.0-12\n  Candidate: 11.3.0-12\n  Version table:\n \
                    *** 11.3.0-12 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n\
                    clang-16:\n  Installed: (none)\n  Candidate: 1:16.0.6-15~deb12u1\n";
        assert_eq!(
            parse_policy(text),
            [
                CarriedPackage {
                    name: "gcc-11".into(),
                    version: "11.3.0-12".into()
                },
                CarriedPackage {
                    name: "clang-16".into(),
                    version: "1:16.0.6-15~deb12u1".into()
                }
            ]
        );
    }

    #[test]
    fn advice_text_says_when_the_distribution_lacks_the_package() {
        let advice = PackageAdvice {
            candidates: vec!["gcc-3.2".into(), "gcc-3.3".into(), "gcc-3.4".into()],
            carried: Some(vec![]),
            apt_error: None,
        };
        let text = advice.to_string();
        assert!(text.contains("gcc-3.2, gcc-3.3 or gcc-3.4"), "{text}");
        assert!(text.contains("apt-get install gcc-3.4"), "{text}");
        assert!(text.contains("does not carry any of them"), "{text}");
        assert_eq!(advice.install_line(), None);
    }
}
