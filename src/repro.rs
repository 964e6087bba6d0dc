//! Reproducible builds: the settings that make the same inputs give the same bytes in any
//! directory, what a kernel config needs beyond them, and finding out why two artifacts differ.
//!
//! - [`SourceDate`]: the date a build is stamped with, taken from the sources (an archive's
//!   recorded modification times, or the commit date of a git or Mercurial checkout), never
//!   from the clock.
//! - [`ReproSettings`]: `KBUILD_BUILD_TIMESTAMP`/`USER`/`HOST`, `SOURCE_DATE_EPOCH` and the
//!   prefix maps, as recorded in `build.json`; [`ReproSettings::identity`] is kbuild's
//!   [`Reproducible`].
//! - [`config_findings`]: what the kernel's `Documentation/kbuild/reproducible-builds.rst`
//!   names for the config at hand (module signing keys, `RANDSTRUCT` seeds, embedded headers
//!   and initramfs timestamps, debug info paths).
//! - [`compare`]: two artifacts compared by sha256 and, when they differ, the cause named the
//!   way diffoscope would point at it ([`Cause`]), with the first differing ELF section.
//!
//! ```
//! use kforge::repro::{Cause, Hints, compare};
//!
//! let dir = tempfile::tempdir()?;
//! let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
//! std::fs::write(&a, b"built in /tmp/a/build\0")?;
//! std::fs::write(&b, b"built in /tmp/bb/build\0")?;
//! let hints = Hints {
//!     paths: [vec!["/tmp/a".into()], vec!["/tmp/bb".into()]],
//!     ..Hints::default()
//! };
//! let comparison = compare(&a, &b, &hints)?;
//! assert!(!comparison.identical);
//! assert!(matches!(comparison.causes[0], Cause::BuildPath { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use kforge_kbuild::Reproducible;
use serde::{Deserialize, Serialize};

/// The user name reproducible builds are stamped with (`KBUILD_BUILD_USER`).
pub const BUILD_USER: &str = "kforge";
/// The host name reproducible builds are stamped with (`KBUILD_BUILD_HOST`).
pub const BUILD_HOST: &str = "kforge";

/// The magic string the kernel's `sign-file` appends after a module signature.
pub const MODULE_SIG_MAGIC: &[u8] = b"~Module signature appended~\n";

/// When the sources were last changed, and how that was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDate {
    /// Seconds since the epoch (`SOURCE_DATE_EPOCH`).
    pub epoch: i64,
    /// How it was found (`commit date of …`, `newest modification time recorded in …`).
    pub from: String,
}

impl SourceDate {
    /// The date of the tree at `dir`: the commit date of its checked-out commit for a git
    /// (`.git`) or Mercurial (`.hg`) checkout, else the newest modification time among the
    /// files at its top (an extracted archive keeps the times the archive recorded, so the
    /// same archive gives the same date wherever and whenever it is extracted). `None` when
    /// nothing could be read.
    pub fn of_tree(dir: impl AsRef<Path>) -> Option<SourceDate> {
        let dir = dir.as_ref();
        if dir.join(".git").exists()
            && let Some(epoch) = command_epoch(dir, "git", &["log", "-1", "--format=%ct"])
        {
            return Some(SourceDate {
                epoch,
                from: format!("commit date of the git checkout {}", dir.display()),
            });
        }
        if dir.join(".hg").is_dir()
            && let Some(epoch) =
                command_epoch(dir, "hg", &["log", "-r", ".", "-T", "{date|hgdate}"])
        {
            return Some(SourceDate {
                epoch,
                from: format!("commit date of the Mercurial checkout {}", dir.display()),
            });
        }
        let newest = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file().then_some(())?;
                let mtime = meta.modified().ok()?;
                let secs = mtime.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
                i64::try_from(secs).ok()
            })
            .max()?;
        Some(SourceDate {
            epoch: newest,
            from: format!(
                "newest modification time among the files at the top of {} (as its archive recorded it)",
                dir.display()
            ),
        })
    }
}

/// The first number a command prints in `dir` (a commit date), if it runs.
fn command_epoch(dir: &Path, program: &str, args: &[&str]) -> Option<i64> {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `date`'s format in the C locale and UTC (`Thu Jan  1 00:00:00 UTC 1970`), the form
/// `KBUILD_BUILD_TIMESTAMP` takes by default and `date -d` reads back.
pub fn timestamp_text(epoch: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] UTC [year]"
    );
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "Thu Jan  1 00:00:00 UTC 1970".into())
}

/// The reproducible-build settings of a run, as recorded in `build.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReproSettings {
    /// `KBUILD_BUILD_TIMESTAMP`.
    pub timestamp: String,
    /// `SOURCE_DATE_EPOCH` (the same instant in seconds).
    pub source_date_epoch: i64,
    /// Where the date came from.
    pub timestamp_from: String,
    /// `KBUILD_BUILD_USER`.
    pub user: String,
    /// `KBUILD_BUILD_HOST`.
    pub host: String,
    /// What the settings fix, one line each (for the summary).
    pub fixes: Vec<String>,
}

impl ReproSettings {
    /// The settings for sources dated `date` (the epoch when `None`).
    pub fn new(date: Option<&SourceDate>) -> ReproSettings {
        let (epoch, from) = match date {
            Some(d) => (d.epoch, d.from.clone()),
            None => (0, "no source date could be read: the epoch".to_string()),
        };
        ReproSettings {
            timestamp: timestamp_text(epoch),
            source_date_epoch: epoch,
            timestamp_from: from,
            user: BUILD_USER.into(),
            host: BUILD_HOST.into(),
            fixes: vec![
                "KBUILD_BUILD_TIMESTAMP and SOURCE_DATE_EPOCH from the sources' date, not the \
                 clock (uname -v, /proc/version, embedded headers and initramfs times)"
                    .into(),
                format!(
                    "KBUILD_BUILD_USER={BUILD_USER}, KBUILD_BUILD_HOST={BUILD_HOST}, \
                     KBUILD_BUILD_VERSION=1 (the builder's name, host and build count)"
                ),
                "-ffile-prefix-map for the source and build directories in KCFLAGS and KAFLAGS \
                 (debug info, __FILE__ and assembler files would name the build path)"
                    .into(),
            ],
        }
    }

    /// kbuild's [`Reproducible`] for these settings.
    pub fn identity(&self) -> Reproducible {
        Reproducible {
            timestamp: self.timestamp.clone(),
            user: self.user.clone(),
            host: self.host.clone(),
            build_version: "1".into(),
            source_date_epoch: Some(self.source_date_epoch),
        }
    }
}

/// What a kernel config needs for reproducibility beyond the fixed settings, from the
/// kernel's `Documentation/kbuild/reproducible-builds.rst`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFinding {
    /// The symbol (`CONFIG_MODULE_SIG_ALL`).
    pub symbol: String,
    /// Whether the run's settings take care of it.
    pub handled: bool,
    /// What it does to reproducibility and what was (or is to be) done.
    pub note: String,
}

/// The findings for a resolved `.config` (its text). `module_sig_key` is the key the user
/// gave for module signing, if any.
pub fn config_findings(config: &str, module_sig_key: Option<&Path>) -> Vec<ConfigFinding> {
    let value = |symbol: &str| -> Option<&str> {
        config.lines().find_map(|l| {
            l.strip_prefix(symbol)
                .and_then(|rest| rest.strip_prefix('='))
                .map(|v| v.trim_matches('"'))
        })
    };
    let on = |symbol: &str| matches!(value(symbol), Some("y" | "m"));
    let mut findings = Vec::new();
    if on("CONFIG_MODULE_SIG_ALL") {
        let key = value("CONFIG_MODULE_SIG_KEY").unwrap_or("certs/signing_key.pem");
        let generated = key == "certs/signing_key.pem";
        findings.push(ConfigFinding {
            symbol: "CONFIG_MODULE_SIG_ALL".into(),
            handled: !generated || module_sig_key.is_some(),
            note: match (generated, module_sig_key) {
                (_, Some(k)) => format!(
                    "modules are signed with the given key {} (the same key gives the same \
                     signed modules)",
                    k.display()
                ),
                (true, None) => "modules are signed with a key generated per build directory \
                     (certs/signing_key.pem), so signed modules differ between builds; pass \
                     --module-sig-key FILE (a PEM with the private key and certificate) for \
                     identical signed modules; kforge never generates a key for you"
                    .into(),
                (false, None) => format!("modules are signed with the config's key {key}"),
            },
        });
    }
    for symbol in [
        "CONFIG_RANDSTRUCT_FULL",
        "CONFIG_RANDSTRUCT_PERFORMANCE",
        "CONFIG_GCC_PLUGIN_RANDSTRUCT",
    ] {
        if on(symbol) {
            findings.push(ConfigFinding {
                symbol: symbol.into(),
                handled: false,
                note: "structure layouts are randomised with a seed generated per build \
                       directory (scripts/basic/randstruct.seed): pre-generate the seed \
                       (scripts/gen-randstruct-seed.sh) and copy it into each build directory \
                       for identical objects"
                    .into(),
            });
        }
    }
    if on("CONFIG_IKHEADERS") {
        findings.push(ConfigFinding {
            symbol: "CONFIG_IKHEADERS".into(),
            handled: true,
            note: "the embedded kernel headers archive takes its file times from \
                   KBUILD_BUILD_TIMESTAMP"
                .into(),
        });
    }
    if value("CONFIG_INITRAMFS_SOURCE").is_some_and(|v| !v.is_empty()) {
        findings.push(ConfigFinding {
            symbol: "CONFIG_INITRAMFS_SOURCE".into(),
            handled: true,
            note: "the embedded initramfs takes its file times from KBUILD_BUILD_TIMESTAMP".into(),
        });
    }
    if on("CONFIG_DEBUG_INFO") {
        findings.push(ConfigFinding {
            symbol: "CONFIG_DEBUG_INFO".into(),
            handled: true,
            note: "debug info names source files and the build directory: the prefix maps \
                   make them relative"
                .into(),
        });
    }
    if on("CONFIG_LOCALVERSION_AUTO") {
        findings.push(ConfigFinding {
            symbol: "CONFIG_LOCALVERSION_AUTO".into(),
            handled: true,
            note: "the release string takes the commit id and a -dirty mark of a git source \
                   tree; archives have none"
                .into(),
        });
    }
    findings
}

/// What is known about the two builds being compared, to name causes.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// Each build's own directories (build directory, source tree): a path found in its
    /// own artifact is a build path.
    pub paths: [Vec<String>; 2],
    /// The user names each build ran under.
    pub users: [Option<String>; 2],
    /// Config symbols that make builds random (`CONFIG_RANDSTRUCT_FULL`, …).
    pub random_seeds: Vec<String>,
}

/// Why two artifacts differ, named the way diffoscope would point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cause {
    /// The build path is in the artifact (debug info, `__FILE__`, assembler file names).
    BuildPath {
        /// The path as found in the first artifact (or the second's when the first has none).
        path: String,
        /// Occurrences of the first build's paths in the first artifact.
        occurrences_a: usize,
        /// Occurrences of the second build's paths in the second artifact.
        occurrences_b: usize,
    },
    /// A date or time differs (`__DATE__`/`__TIME__`, a build timestamp).
    Timestamp {
        /// The text in the first artifact.
        a: String,
        /// The text in the second.
        b: String,
    },
    /// The builder's user name is in the artifact.
    BuildUser {
        /// The user name found.
        user: String,
    },
    /// A module signature is appended (`~Module signature appended~`).
    ModuleSignature {
        /// Whether the first artifact is signed.
        a_signed: bool,
        /// Whether the second is.
        b_signed: bool,
        /// Whether the two are identical once their signatures are removed.
        identical_unsigned: bool,
    },
    /// The GNU build id differs (it is a hash of the rest: a consequence of another cause).
    BuildId,
    /// A config symbol that seeds builds randomly is on.
    RandomSeed {
        /// The symbol.
        symbol: String,
    },
    /// A difference none of the above explains.
    Unexplained {
        /// Offset of the first differing byte.
        offset: u64,
        /// Printable text around it in the first artifact.
        a: String,
        /// And in the second.
        b: String,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::BuildPath {
                path,
                occurrences_a,
                occurrences_b,
            } => write!(
                f,
                "build path: {path} is embedded ({occurrences_a} and {occurrences_b} occurrences \
                 of each build's own directories)"
            ),
            Cause::Timestamp { a, b } => write!(f, "timestamp: {a:?} vs {b:?}"),
            Cause::BuildUser { user } => write!(f, "build user: {user:?} is embedded"),
            Cause::ModuleSignature {
                a_signed,
                b_signed,
                identical_unsigned,
            } => write!(
                f,
                "module signature appended ({} / {}): {}",
                if *a_signed { "signed" } else { "unsigned" },
                if *b_signed { "signed" } else { "unsigned" },
                if *identical_unsigned {
                    "identical without the signatures (different signing keys)"
                } else {
                    "different even without the signatures"
                }
            ),
            Cause::BuildId => f.write_str("build id (.note.gnu.build-id) differs as a consequence"),
            Cause::RandomSeed { symbol } => {
                write!(
                    f,
                    "random seed: {symbol} is on (a seed per build directory)"
                )
            }
            Cause::Unexplained { offset, a, b } => {
                write!(f, "unexplained difference at byte {offset}: {a:?} vs {b:?}")
            }
        }
    }
}

/// Two artifacts compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Whether their bytes are the same.
    pub identical: bool,
    /// sha256 of the first.
    pub sha256_a: String,
    /// sha256 of the second.
    pub sha256_b: String,
    /// Sizes in bytes.
    pub bytes: [u64; 2],
    /// The first ELF section (in file order) whose contents differ, when both are ELF files.
    pub first_differing_section: Option<String>,
    /// The compression both are wrapped in (`gzip`): sections and causes are of what it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed: Option<String>,
    /// Why they differ (empty when identical).
    pub causes: Vec<Cause>,
}

/// Compare the artifacts at `a` and `b`.
pub fn compare(
    a: impl AsRef<Path>,
    b: impl AsRef<Path>,
    hints: &Hints,
) -> std::io::Result<Comparison> {
    let data_a = std::fs::read(a.as_ref())?;
    let data_b = std::fs::read(b.as_ref())?;
    Ok(compare_bytes(&data_a, &data_b, hints))
}

/// [`compare`] on bytes in memory.
pub fn compare_bytes(a: &[u8], b: &[u8], hints: &Hints) -> Comparison {
    let sha = |d: &[u8]| {
        kforge_fetch::Sha256Digest::of_reader(d)
            .map(|h| h.to_hex())
            .unwrap_or_default()
    };
    let identical = a == b;
    let mut comparison = Comparison {
        identical,
        sha256_a: sha(a),
        sha256_b: sha(b),
        bytes: [a.len() as u64, b.len() as u64],
        first_differing_section: None,
        compressed: None,
        causes: Vec::new(),
    };
    if identical {
        return comparison;
    }
    // Look inside gzip (a compressed hypervisor or kernel image), as diffoscope does.
    if let (Some(inner_a), Some(inner_b)) = (gunzip(a), gunzip(b)) {
        let inner = compare_bytes(&inner_a, &inner_b, hints);
        comparison.compressed = Some("gzip".into());
        comparison.first_differing_section = inner.first_differing_section;
        comparison.causes = if inner.identical {
            vec![Cause::Unexplained {
                offset: 0,
                a: "the gzip headers differ (name or time), the contents are identical".into(),
                b: String::new(),
            }]
        } else {
            inner.causes
        };
        return comparison;
    }
    let (unsigned_a, signed_a) = strip_module_signature(a);
    let (unsigned_b, signed_b) = strip_module_signature(b);
    if signed_a || signed_b {
        comparison.causes.push(Cause::ModuleSignature {
            a_signed: signed_a,
            b_signed: signed_b,
            identical_unsigned: unsigned_a == unsigned_b,
        });
        if unsigned_a == unsigned_b {
            return comparison;
        }
    }
    let (a, b) = (unsigned_a, unsigned_b);
    let differing = differing_sections(a, b);
    comparison.first_differing_section = differing.first().cloned();
    // Paths: each build's own directories in its own artifact.
    let count = |data: &[u8], paths: &[String]| -> (usize, Option<String>) {
        let mut total = 0;
        let mut first = None;
        for p in paths.iter().filter(|p| p.len() > 1) {
            let n = occurrences(data, p.as_bytes());
            if n > 0 && first.is_none() {
                first = Some(p.clone());
            }
            total += n;
        }
        (total, first)
    };
    let (na, pa) = count(a, &hints.paths[0]);
    let (nb, pb) = count(b, &hints.paths[1]);
    if na + nb > 0 {
        comparison.causes.push(Cause::BuildPath {
            path: pa.or(pb).unwrap_or_default(),
            occurrences_a: na,
            occurrences_b: nb,
        });
    }
    if hints.users[0] != hints.users[1] {
        for user in hints.users.iter().flatten() {
            if user.len() >= 3
                && occurrences(a, user.as_bytes()) + occurrences(b, user.as_bytes()) > 0
            {
                comparison
                    .causes
                    .push(Cause::BuildUser { user: user.clone() });
            }
        }
    }
    if let Some(offset) = a.iter().zip(b.iter()).position(|(x, y)| x != y) {
        let (ta, tb) = (text_around(a, offset), text_around(b, offset));
        if looks_like_time(&ta) && looks_like_time(&tb) {
            comparison.causes.push(Cause::Timestamp { a: ta, b: tb });
        } else if comparison.causes.is_empty() {
            for symbol in &hints.random_seeds {
                comparison.causes.push(Cause::RandomSeed {
                    symbol: symbol.clone(),
                });
            }
            if comparison.causes.is_empty() {
                comparison.causes.push(Cause::Unexplained {
                    offset: offset as u64,
                    a: ta,
                    b: tb,
                });
            }
        }
    } else if comparison.causes.is_empty() {
        comparison.causes.push(Cause::Unexplained {
            offset: a.len().min(b.len()) as u64,
            a: format!("{} bytes", a.len()),
            b: format!("{} bytes", b.len()),
        });
    }
    if differing.iter().any(|s| s == ".note.gnu.build-id") {
        comparison.causes.push(Cause::BuildId);
    }
    comparison
}

/// The contents of a gzip stream (at most 1 GiB), or `None` when `data` is not one.
fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read as _;
    if !data.starts_with(&[0x1f, 0x8b]) {
        return None;
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(1 << 30)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// The bytes without an appended module signature, and whether there was one. The layout is
/// the kernel's (`scripts/sign-file.c`): module, signature, `struct module_signature` (12
/// bytes, the signature length big-endian in its last 4), then the magic string.
pub fn strip_module_signature(data: &[u8]) -> (&[u8], bool) {
    let Some(rest) = data.strip_suffix(MODULE_SIG_MAGIC) else {
        return (data, false);
    };
    let Some(info_start) = rest.len().checked_sub(12) else {
        return (data, false);
    };
    let info = &rest[info_start..];
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    match info_start.checked_sub(sig_len) {
        Some(end) => (&data[..end], true),
        None => (data, false),
    }
}

/// Names of the ELF sections whose contents differ, in the first file's order (sections
/// only one file has come last). Empty when either is not an object file.
pub fn differing_sections(a: &[u8], b: &[u8]) -> Vec<String> {
    use object::{Object as _, ObjectSection as _};
    let (Ok(fa), Ok(fb)) = (object::File::parse(a), object::File::parse(b)) else {
        return Vec::new();
    };
    let mut sections: Vec<(u64, String, &[u8])> = fa
        .sections()
        .filter_map(|s| {
            let name = s.name().ok()?.to_string();
            let offset = s.file_range().map_or(u64::MAX, |(o, _)| o);
            Some((offset, name, s.data().unwrap_or_default()))
        })
        .collect();
    sections.sort_by_key(|(o, _, _)| *o);
    let mut out = Vec::new();
    for (_, name, data) in &sections {
        let other = fb
            .section_by_name(name)
            .map(|s| s.data().unwrap_or_default());
        if other != Some(*data) {
            out.push(name.clone());
        }
    }
    for s in fb.sections() {
        if let Ok(name) = s.name()
            && fa.section_by_name(name).is_none()
        {
            out.push(name.to_string());
        }
    }
    out
}

fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || haystack.len() < needle.len() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// The printable run of bytes around `offset` (at most 48 each side).
fn text_around(data: &[u8], offset: usize) -> String {
    let printable = |c: &u8| (0x20..0x7f).contains(c);
    let mut start = offset;
    while start > 0 && offset - start < 48 && printable(&data[start - 1]) {
        start -= 1;
    }
    let mut end = offset;
    while end < data.len() && end - offset < 48 && printable(&data[end]) {
        end += 1;
    }
    String::from_utf8_lossy(&data[start..end]).into_owned()
}

/// A `hh:mm:ss` time or a `Mmm dd yyyy` date in the text (`__TIME__`, `__DATE__`, `date`).
fn looks_like_time(text: &str) -> bool {
    let b = text.as_bytes();
    let clock = b.windows(8).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
            && w[5] == b':'
            && w[6].is_ascii_digit()
            && w[7].is_ascii_digit()
    });
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = months.iter().any(|m| {
        text.match_indices(m).any(|(i, _)| {
            let rest = &text[i + 3..];
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ' ')
                .collect();
            digits.split_whitespace().count() >= 2
        })
    });
    clock || date
}

/// One build of a reproducibility check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckBuild {
    /// Its build directory.
    pub dir: PathBuf,
    /// The user name in its environment (`USER`, `LOGNAME`).
    pub user: Option<String>,
    /// When it started (seconds since the epoch).
    pub started_unix: u64,
    /// How long it took.
    pub duration_ms: u64,
}

/// One artifact of a reproducibility check, built twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedArtifact {
    /// Its path relative to each build directory.
    pub name: PathBuf,
    /// The comparison (hashes, first differing section, causes).
    pub comparison: Comparison,
}

/// The result of a reproducibility check: the final step built twice, compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReproCheck {
    /// Whether every artifact is byte-identical.
    pub identical: bool,
    /// The two builds.
    pub builds: Vec<CheckBuild>,
    /// Each artifact, compared.
    pub artifacts: Vec<CheckedArtifact>,
    /// Wall-clock time of the whole check.
    pub duration_ms: u64,
}

impl fmt::Display for ReproCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let same = self
            .artifacts
            .iter()
            .filter(|a| a.comparison.identical)
            .count();
        writeln!(
            f,
            "reproducibility check: {} ({same} of {} artifact(s) identical, {:.1} s)",
            if self.identical {
                "IDENTICAL"
            } else {
                "DIFFERENT"
            },
            self.artifacts.len(),
            self.duration_ms as f64 / 1000.0
        )?;
        for b in &self.builds {
            writeln!(
                f,
                "  built in {} (user {})",
                b.dir.display(),
                b.user.as_deref().unwrap_or("as inherited")
            )?;
        }
        for a in &self.artifacts {
            let c = &a.comparison;
            if c.identical {
                writeln!(
                    f,
                    "  {}: identical, sha256 {}",
                    a.name.display(),
                    c.sha256_a
                )?;
            } else {
                writeln!(
                    f,
                    "  {}: differs ({} vs {}){}",
                    a.name.display(),
                    c.sha256_a,
                    c.sha256_b,
                    c.first_differing_section
                        .as_ref()
                        .map(|s| format!(", first in section {s}"))
                        .unwrap_or_default()
                )?;
                for cause in &c.causes {
                    writeln!(f, "      {cause}")?;
                }
            }
        }
        Ok(())
    }
}

/// Compare the artifacts named `names` (paths relative to each directory) under two build
/// directories.
pub fn compare_dirs(
    dirs: [&Path; 2],
    names: &[PathBuf],
    hints: &Hints,
) -> std::io::Result<Vec<CheckedArtifact>> {
    names
        .iter()
        .map(|name| {
            Ok(CheckedArtifact {
                name: name.clone(),
                comparison: compare(dirs[0].join(name), dirs[1].join(name), hints)?,
            })
        })
        .collect()
}

/// The `repro` part of `build.json`: the settings used (absent when the run opted out), what
/// the config needs, and the check's result when one ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReproRecord {
    /// The fixed settings, when the run was reproducible.
    pub settings: Option<ReproSettings>,
    /// The config's findings.
    pub config: Vec<ConfigFinding>,
    /// The check (`--repro-check`).
    pub check: Option<ReproCheck>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_like_date() {
        assert_eq!(timestamp_text(0), "Thu Jan  1 00:00:00 UTC 1970");
        assert_eq!(
            timestamp_text(1_700_000_000),
            "Tue Nov 14 22:13:20 UTC 2023"
        );
    }

    #[test]
    fn a_signature_is_stripped_by_its_recorded_length() {
        let module = b"\x7fELF module bytes".to_vec();
        let mut signed = module.clone();
        signed.extend_from_slice(b"SIGNATURE");
        signed.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        signed.extend_from_slice(&9u32.to_be_bytes());
        signed.extend_from_slice(MODULE_SIG_MAGIC);
        assert_eq!(strip_module_signature(&signed), (&module[..], true));
        assert_eq!(strip_module_signature(&module), (&module[..], false));
        let mut other = module.clone();
        other.extend_from_slice(b"OTHERSIG!");
        other.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        other.extend_from_slice(&9u32.to_be_bytes());
        other.extend_from_slice(MODULE_SIG_MAGIC);
        let c = compare_bytes(&signed, &other, &Hints::default());
        assert_eq!(
            c.causes,
            vec![Cause::ModuleSignature {
                a_signed: true,
                b_signed: true,
                identical_unsigned: true
            }]
        );
        let c = compare_bytes(&signed, &module, &Hints::default());
        assert!(matches!(
            c.causes[0],
            Cause::ModuleSignature {
                a_signed: true,
                b_signed: false,
                identical_unsigned: true
            }
        ));
    }

    #[test]
    fn times_and_unknowns_are_told_apart() {
        let c = compare_bytes(
            b"built Dec  3 2026 10:11:12 ok",
            b"built Dec  3 2026 10:11:59 ok",
            &Hints::default(),
        );
        assert!(matches!(c.causes[0], Cause::Timestamp { .. }), "{c:?}");
        let c = compare_bytes(b"abcXdef", b"abcYdef", &Hints::default());
        assert!(
            matches!(c.causes[0], Cause::Unexplained { offset: 3, .. }),
            "{c:?}"
        );
        let hints = Hints {
            random_seeds: vec!["CONFIG_RANDSTRUCT_FULL".into()],
            ..Hints::default()
        };
        let c = compare_bytes(b"abcXdef", b"abcYdef", &hints);
        assert!(matches!(c.causes[0], Cause::RandomSeed { .. }), "{c:?}");
        assert!(compare_bytes(b"same", b"same", &hints).identical);
    }

    #[test]
    fn config_findings_follow_the_kernel_documentation() {
        let config = "CONFIG_MODULE_SIG_ALL=y\nCONFIG_MODULE_SIG_KEY=\"certs/signing_key.pem\"\n\
                      CONFIG_RANDSTRUCT_FULL=y\nCONFIG_IKHEADERS=m\n# CONFIG_DEBUG_INFO is not set\n";
        let f = config_findings(config, None);
        let symbols: Vec<(&str, bool)> = f.iter().map(|f| (f.symbol.as_str(), f.handled)).collect();
        assert_eq!(
            symbols,
            [
                ("CONFIG_MODULE_SIG_ALL", false),
                ("CONFIG_RANDSTRUCT_FULL", false),
                ("CONFIG_IKHEADERS", true)
            ]
        );
        let f = config_findings(config, Some(Path::new("/keys/k.pem")));
        assert!(f[0].handled && f[0].note.contains("/keys/k.pem"));
        assert!(config_findings("CONFIG_MODULES=y\n", None).is_empty());
    }
}
