//! The record of a run, written as `build.json` (like TuxMake's `metadata.json`): typed,
//! versioned, readable back, and written after every step so a killed run still leaves an
//! accurate record.
//!
//! Durations are whole milliseconds everywhere (`duration_ms`).
//!
//! ```
//! use kforge::record::{BuildRecord, RunResult};
//!
//! let dir = tempfile::tempdir()?;
//! let mut record = BuildRecord::new("custom", "modern", dir.path());
//! record.result = RunResult::Pass;
//! let path = dir.path().join("build.json");
//! record.write(&path)?;
//! let back = BuildRecord::read(&path)?;
//! assert_eq!(back.result, RunResult::Pass);
//! assert!(kforge::record::diff(&record, &back).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The format version of `build.json`. A reader refuses other versions.
pub const SCHEMA_VERSION: u32 = 2;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Still running (what a record written during the step says).
    Running,
    /// It ran and succeeded.
    Ok,
    /// Its result from an earlier run was reused.
    Reused,
    /// It failed.
    Failed,
    /// The interrupt flag stopped it.
    Interrupted,
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepStatus::Running => "running",
            StepStatus::Ok => "ok",
            StepStatus::Reused => "reused",
            StepStatus::Failed => "failed",
            StepStatus::Interrupted => "interrupted",
        })
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// Not finished (yet, or the process was killed).
    Running,
    /// Every step succeeded.
    Pass,
    /// A step failed.
    Fail,
    /// The interrupt flag stopped it.
    Interrupted,
}

impl fmt::Display for RunResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunResult::Running => "running",
            RunResult::Pass => "pass",
            RunResult::Fail => "fail",
            RunResult::Interrupted => "interrupted",
        })
    }
}

/// A step that ran (or is running, or failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Short name (`fetch-kernel`, `olddefconfig`, …).
    pub name: String,
    /// What it does, in the words of the HOWTO.
    pub title: String,
    /// How it ended.
    pub status: StepStatus,
    /// Wall-clock time.
    pub duration_ms: u64,
    /// The shell commands it amounts to (also in reproduce.sh).
    pub commands: Vec<String>,
    /// Its full log, for make and configure steps.
    pub log: Option<PathBuf>,
    /// What a user should know about it.
    pub notes: Vec<String>,
    /// For a failed make or configure step: the first real cause found in its output (kind,
    /// `file:line`, tool, failed target, excerpt, era hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Box<kforge_kbuild::Cause>>,
}

/// A source that was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// What it is (`kernel`, `userland`, `xen`, `xenified kernel`).
    pub role: String,
    /// Where from.
    pub url: String,
    /// sha256 of the archive.
    pub sha256: Option<String>,
    /// Whether the hash was pinned by the caller.
    pub pinned: bool,
    /// The changeset or commit, for repositories.
    pub revision: Option<String>,
    /// Where it was extracted or checked out.
    pub dest: PathBuf,
    /// Whether the archive came from the cache, or an earlier run's tree was reused.
    pub reused: bool,
}

/// The compiler chosen by requirement for a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompilerRecord {
    /// The requirement it was chosen by.
    pub requirement: String,
    /// The command (`gcc-12`).
    pub command: String,
    /// `gcc-12 (GCC 12.2.0, x86_64-linux-gnu)`.
    pub description: String,
    /// Family (`gcc`, `clang`).
    pub family: String,
    /// Version.
    pub version: String,
    /// Target triple.
    pub target: String,
}

/// A compiler wrapper's counters over one make step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The step.
    pub step: String,
    /// Hits, misses, remote and local jobs during it.
    pub report: kforge_kbuild::CacheReport,
}

/// A file the build produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its sha256.
    pub sha256: String,
}

impl Artifact {
    /// Hash the file at `path`.
    pub fn of(path: impl AsRef<Path>) -> std::io::Result<Artifact> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)?;
        let bytes = file.metadata()?.len();
        let sha256 = kforge_fetch::Sha256Digest::of_reader(file)?.to_hex();
        Ok(Artifact {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }
}

/// The machine a run ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Running kernel release (`None` when `/proc` could not tell).
    pub kernel: Option<String>,
    /// CPU architecture.
    pub arch: String,
    /// Available parallelism.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu: Option<String>,
}

impl Host {
    /// This machine.
    pub fn detect() -> Host {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string());
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        Host {
            kernel,
            arch: std::env::consts::ARCH.to_string(),
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
        }
    }
}

/// The kernel configuration of a run: where the base came from, the fragments, the merge
/// report and the verification.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// Where the base came from (`running kernel 6.1.0 (/proc/config.gz)`, a path, …).
    pub base: String,
    /// The base as saved for the run.
    pub base_file: Option<PathBuf>,
    /// The fragments, in order.
    pub fragments: Vec<PathBuf>,
    /// The merged config as saved for the run.
    pub merged_file: Option<PathBuf>,
    /// The `.config` in the build directory.
    pub build_config: PathBuf,
    /// sha256 of the final `.config` in the build directory (after dependency resolution).
    pub sha256: Option<String>,
    /// The merge report (`kforge_kconfig::MergeReport`, as JSON).
    pub merge: Option<serde_json::Value>,
    /// The verification (`kforge_kconfig::Verification`, as JSON).
    pub verification: Option<serde_json::Value>,
}

/// Everything `build.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// Format version of this file ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The flow (`kvm`, `xen`, or a caller's own).
    pub flow: String,
    /// Its mode (`modern`, `howto`).
    pub mode: String,
    /// kforge's version.
    pub kforge: String,
    /// The command line.
    pub command: Vec<String>,
    /// Seconds since the epoch at the start.
    pub started_unix: u64,
    /// Total wall-clock time so far.
    pub duration_ms: u64,
    /// How it ended.
    pub result: RunResult,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The machine.
    pub host: Host,
    /// The output directory.
    pub out: PathBuf,
    /// Sources with their hashes.
    pub sources: Vec<SourceRecord>,
    /// The compiler chosen by requirement, if a step needed one.
    pub compiler: Option<CompilerRecord>,
    /// What `gcc` (the default `CC` of the kernel and Xen Makefiles) is on this machine.
    pub default_cc: Option<String>,
    /// The compiler cache or distributed compiler in front of CC and HOSTCC.
    pub wrapper: Option<kforge_toolchain::Wrapper>,
    /// Whether make steps ran in reproducible mode (fixed `KBUILD_BUILD_*`, prefix maps).
    pub reproducible: bool,
    /// The wrapper's counters, per make step.
    pub cache: Vec<CacheRecord>,
    /// Reproducible builds: the fixed settings, what the config needs, the check's result.
    #[serde(default)]
    pub repro: crate::repro::ReproRecord,
    /// The kernel configuration.
    pub config: Option<ConfigRecord>,
    /// Steps in order.
    pub steps: Vec<StepRecord>,
    /// Files produced.
    pub artifacts: Vec<Artifact>,
    /// What the user should know.
    pub notes: Vec<String>,
    /// What booting the build proved (flows run with `--boot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<crate::boot::BootRecord>,
}

/// Why a `build.json` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a build record.
    #[error("{} is not a kforge build record", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why the JSON did not fit.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by another format version.
    #[error(
        "{} has schema_version {found}; this kforge reads version {SCHEMA_VERSION} (use the kforge that wrote it)",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version it has.
        found: u64,
    },
}

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl BuildRecord {
    /// An empty, running record of `flow` in `mode`, writing into `out`.
    pub fn new(flow: &str, mode: &str, out: impl AsRef<Path>) -> BuildRecord {
        BuildRecord {
            schema_version: SCHEMA_VERSION,
            flow: flow.into(),
            mode: mode.into(),
            kforge: env!("CARGO_PKG_VERSION").into(),
            command: std::env::args().collect(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            duration_ms: 0,
            result: RunResult::Running,
            error: None,
            host: Host::detect(),
            out: out.as_ref().to_path_buf(),
            sources: Vec::new(),
            compiler: None,
            default_cc: None,
            wrapper: None,
            reproducible: false,
            cache: Vec::new(),
            repro: crate::repro::ReproRecord::default(),
            config: None,
            steps: Vec::new(),
            artifacts: Vec::new(),
            notes: Vec::new(),
            boot: None,
        }
    }

    /// Read a `build.json`.
    pub fn read(path: impl AsRef<Path>) -> Result<BuildRecord, ReadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ReadError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        let found = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if found != u64::from(SCHEMA_VERSION) {
            return Err(ReadError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(value).map_err(|source| ReadError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Write the record to `path` atomically (a reader sees the previous record or this one).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), WriteError> {
        let path = path.as_ref();
        let json = serde_json::to_string_pretty(self).map_err(|e| WriteError {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        crate::write_atomic(path, json.as_bytes()).map_err(|source| WriteError {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The human-readable summary (what `summary.txt` holds).
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            record: self,
            hint: None,
            verification: None,
        }
    }
}

/// A millisecond count as seconds with one decimal.
fn secs(ms: u64) -> String {
    format!("{:.1}", Duration::from_millis(ms).as_secs_f64())
}

/// The summary of a run, for a terminal or `summary.txt`.
pub struct Summary<'a> {
    record: &'a BuildRecord,
    hint: Option<&'a str>,
    verification: Option<&'a str>,
}

impl<'a> Summary<'a> {
    /// A fix or explanation shown after the error.
    pub fn hint(mut self, hint: Option<&'a str>) -> Self {
        self.hint = hint;
        self
    }

    /// The short verification report.
    pub fn verification(mut self, text: Option<&'a str>) -> Self {
        self.verification = text;
        self
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.record;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n== {} flow ({} mode): {} in {} s ==",
            r.flow,
            r.mode,
            r.result.to_string().to_uppercase(),
            secs(r.duration_ms)
        );
        if let Some(err) = &r.error {
            let _ = writeln!(s, "error: {err}");
            if let Some(hint) = self.hint {
                let _ = writeln!(s, "{hint}");
            }
        }
        let _ = writeln!(s, "sources:");
        if r.sources.is_empty() {
            let _ = writeln!(s, "  (none fetched)");
        }
        for src in &r.sources {
            let _ = writeln!(s, "  {:<16} {}", src.role, src.url);
            match (&src.sha256, src.pinned) {
                (Some(h), true) => {
                    let _ = writeln!(s, "  {:<16} sha256 {h} (pinned, verified)", "");
                }
                (Some(h), false) => {
                    let _ = writeln!(s, "  {:<16} sha256 {h} (UNPINNED: pin it next time)", "");
                }
                _ => {}
            }
            if let Some(rev) = &src.revision {
                let _ = writeln!(s, "  {:<16} changeset {rev}", "");
            }
            let _ = writeln!(
                s,
                "  {:<16} -> {}{}",
                "",
                src.dest.display(),
                if src.reused { " (reused)" } else { "" }
            );
        }
        match &r.compiler {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "compiler: {} chosen for \"{}\"",
                    c.description, c.requirement
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "compiler: the Makefiles' default CC=gcc: {}",
                    r.default_cc.as_deref().unwrap_or("(gcc not identified)")
                );
            }
        }
        if let Some(w) = &r.wrapper {
            let _ = writeln!(
                s,
                "compiler wrapper: {}{}",
                w.describe(),
                if r.reproducible {
                    " (reproducible mode: path-independent objects)"
                } else {
                    ""
                }
            );
            for c in &r.cache {
                let _ = writeln!(s, "  {:<22} {}", c.step, c.report);
            }
        }
        match &r.repro.settings {
            Some(settings) => {
                let _ = writeln!(
                    s,
                    "reproducible: KBUILD_BUILD_TIMESTAMP={:?} (SOURCE_DATE_EPOCH={}, {}), \
                     KBUILD_BUILD_USER={} KBUILD_BUILD_HOST={}",
                    settings.timestamp,
                    settings.source_date_epoch,
                    settings.timestamp_from,
                    settings.user,
                    settings.host
                );
                for fix in &settings.fixes {
                    let _ = writeln!(s, "  fixed: {fix}");
                }
            }
            None if !r.steps.is_empty() => {
                let _ = writeln!(
                    s,
                    "reproducible: no (--no-reproducible): the build path, the clock and the \
                     builder's name end up in the artifacts"
                );
            }
            None => {}
        }
        for finding in &r.repro.config {
            let _ = writeln!(
                s,
                "  {} {}: {}",
                if finding.handled {
                    "config"
                } else {
                    "NOT FIXED"
                },
                finding.symbol,
                finding.note
            );
        }
        if let Some(check) = &r.repro.check {
            for line in check.to_string().lines() {
                let _ = writeln!(s, "{line}");
            }
        }
        if let Some(text) = self.verification {
            let _ = writeln!(s, "config verification:");
            for line in text.lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        let _ = writeln!(s, "steps:");
        for (i, step) in r.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "  {:>2}. {:<22} {:>7} s  {:<7}{}",
                i + 1,
                step.name,
                secs(step.duration_ms),
                step.status.to_string(),
                step.log
                    .as_ref()
                    .map(|l| format!("  log {}", l.display()))
                    .unwrap_or_default()
            );
            for note in &step.notes {
                let _ = writeln!(s, "      {note}");
            }
        }
        if !r.artifacts.is_empty() {
            let _ = writeln!(s, "artifacts:");
            for a in &r.artifacts {
                let _ = writeln!(s, "  {}", a.path.display());
                let _ = writeln!(s, "      {} bytes, sha256 {}", a.bytes, a.sha256);
            }
        }
        if let Some(boot) = &r.boot {
            let _ = writeln!(s, "boot: {}", boot.headline());
        }
        if !r.notes.is_empty() {
            let _ = writeln!(s, "notes:");
            for note in &r.notes {
                let _ = writeln!(s, "  - {note}");
            }
        }
        let _ = writeln!(
            s,
            "recorded: {}/build.json, {}/reproduce.sh, logs in {}",
            r.out.display(),
            r.out.display(),
            r.out.join("logs").display()
        );
        f.write_str(&s)
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing two runs.

/// One difference between two records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Difference {
    /// A source (by role) differs in URL, hash or revision, or is in one run only.
    Source {
        /// The role.
        role: String,
        /// `url sha256 revision` in the first run, if there.
        a: Option<String>,
        /// The same in the second run.
        b: Option<String>,
    },
    /// The chosen compiler differs.
    Compiler {
        /// The first run's.
        a: Option<String>,
        /// The second run's.
        b: Option<String>,
    },
    /// The compiler wrapper differs.
    Wrapper {
        /// The first run's.
        a: Option<String>,
        /// The second run's.
        b: Option<String>,
    },
    /// The final `.config` differs (by hash).
    Config {
        /// The first run's hash.
        a: Option<String>,
        /// The second run's.
        b: Option<String>,
    },
    /// The reproducible settings differ (`KBUILD_BUILD_*`, `SOURCE_DATE_EPOCH`), or one run
    /// opted out of them.
    Reproducibility {
        /// The first run's settings (`None`: not reproducible).
        a: Option<String>,
        /// The second run's.
        b: Option<String>,
    },
    /// An artifact (by path relative to the output directory) differs or is in one run only.
    Artifact {
        /// Its path relative to the output directory.
        path: PathBuf,
        /// Its sha256 in the first run.
        a: Option<String>,
        /// In the second run.
        b: Option<String>,
    },
    /// The result differs.
    Result {
        /// The first run's.
        a: RunResult,
        /// The second run's.
        b: RunResult,
    },
}

/// What differs between two runs: sources, compiler, wrapper, config hash, reproducible
/// settings, artifacts, result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDiff {
    /// The differences, in the order above.
    pub differences: Vec<Difference>,
    /// How many artifacts the two runs have between them (by relative path).
    #[serde(default)]
    pub artifacts: usize,
}

impl RecordDiff {
    /// Whether the two runs agree on everything compared.
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }

    /// Whether both runs produced the same artifacts with the same bytes (by sha256).
    pub fn artifacts_identical(&self) -> bool {
        self.artifacts > 0
            && !self
                .differences
                .iter()
                .any(|d| matches!(d, Difference::Artifact { .. }))
    }

    /// The differences in what went into the builds (everything but artifacts and result).
    pub fn inputs(&self) -> impl Iterator<Item = &Difference> {
        self.differences
            .iter()
            .filter(|d| !matches!(d, Difference::Artifact { .. } | Difference::Result { .. }))
    }
}

/// A run's reproducible settings on one line (`None` when it opted out); the date only with
/// `date` (it follows from the sources, so it is left out when they differ anyway).
fn repro_key(r: &BuildRecord, date: bool) -> Option<String> {
    r.repro.settings.as_ref().map(|s| {
        let user_host = format!("KBUILD_BUILD_USER={} KBUILD_BUILD_HOST={}", s.user, s.host);
        if date {
            format!(
                "KBUILD_BUILD_TIMESTAMP={:?} SOURCE_DATE_EPOCH={} {user_host}",
                s.timestamp, s.source_date_epoch
            )
        } else {
            user_host
        }
    })
}

fn source_key(s: &SourceRecord) -> String {
    format!(
        "{} sha256:{} rev:{}",
        s.url,
        s.sha256.as_deref().unwrap_or("-"),
        s.revision.as_deref().unwrap_or("-")
    )
}

/// Compare two runs. Artifacts are matched by their path relative to each run's output
/// directory, so two runs into different directories compare.
pub fn diff(a: &BuildRecord, b: &BuildRecord) -> RecordDiff {
    let mut differences = Vec::new();
    let mut roles: Vec<&str> = a.sources.iter().map(|s| s.role.as_str()).collect();
    for s in &b.sources {
        if !roles.contains(&s.role.as_str()) {
            roles.push(&s.role);
        }
    }
    for role in roles {
        let sa = a.sources.iter().find(|s| s.role == role).map(source_key);
        let sb = b.sources.iter().find(|s| s.role == role).map(source_key);
        if sa != sb {
            differences.push(Difference::Source {
                role: role.into(),
                a: sa,
                b: sb,
            });
        }
    }
    let ca = a.compiler.as_ref().map(|c| c.description.clone());
    let cb = b.compiler.as_ref().map(|c| c.description.clone());
    let (ca, cb) = match (ca, cb) {
        (None, None) => (a.default_cc.clone(), b.default_cc.clone()),
        other => other,
    };
    if ca != cb {
        differences.push(Difference::Compiler { a: ca, b: cb });
    }
    let wa = a.wrapper.as_ref().map(|w| w.describe());
    let wb = b.wrapper.as_ref().map(|w| w.describe());
    if wa != wb {
        differences.push(Difference::Wrapper { a: wa, b: wb });
    }
    let ha = a.config.as_ref().and_then(|c| c.sha256.clone());
    let hb = b.config.as_ref().and_then(|c| c.sha256.clone());
    if ha != hb {
        differences.push(Difference::Config { a: ha, b: hb });
    }
    let same_sources = !differences
        .iter()
        .any(|d| matches!(d, Difference::Source { .. }));
    let (ra, rb) = (repro_key(a, same_sources), repro_key(b, same_sources));
    if ra != rb {
        differences.push(Difference::Reproducibility { a: ra, b: rb });
    }
    let relative = |r: &BuildRecord, p: &Path| -> PathBuf {
        p.strip_prefix(&r.out).unwrap_or(p).to_path_buf()
    };
    let mut paths: Vec<PathBuf> = a.artifacts.iter().map(|x| relative(a, &x.path)).collect();
    for x in &b.artifacts {
        let p = relative(b, &x.path);
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    let artifacts = paths.len();
    for path in paths {
        let ha = a
            .artifacts
            .iter()
            .find(|x| relative(a, &x.path) == path)
            .map(|x| x.sha256.clone());
        let hb = b
            .artifacts
            .iter()
            .find(|x| relative(b, &x.path) == path)
            .map(|x| x.sha256.clone());
        if ha != hb {
            differences.push(Difference::Artifact { path, a: ha, b: hb });
        }
    }
    if a.result != b.result {
        differences.push(Difference::Result {
            a: a.result,
            b: b.result,
        });
    }
    RecordDiff {
        differences,
        artifacts,
    }
}

impl fmt::Display for RecordDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.differences.is_empty() {
            return writeln!(
                f,
                "artifacts: identical ({} by sha256)\nsame sources, compiler, wrapper, config and \
                 reproducible settings, same result",
                self.artifacts
            );
        }
        let differing = self
            .differences
            .iter()
            .filter(|d| matches!(d, Difference::Artifact { .. }))
            .count();
        if self.artifacts_identical() {
            writeln!(f, "artifacts: identical ({} by sha256)", self.artifacts)?;
        } else if self.artifacts == 0 {
            writeln!(f, "artifacts: none recorded")?;
        } else {
            writeln!(
                f,
                "artifacts: {differing} of {} differ (by sha256)",
                self.artifacts
            )?;
        }
        if self.inputs().next().is_none() {
            writeln!(f, "inputs: no recorded input differs")?;
            if differing > 0 {
                writeln!(
                    f,
                    "  same sources, compiler, config and settings, different bytes: the build is \
                     not reproducible; run the flow with --repro-check to find the cause"
                )?;
            }
        } else {
            writeln!(f, "inputs that differ:")?;
        }
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        for d in &self.differences {
            match d {
                Difference::Source { role, a, b } => {
                    writeln!(f, "source {role}:\n  - {}\n  + {}", side(a), side(b))?
                }
                Difference::Compiler { a, b } => {
                    writeln!(f, "compiler:\n  - {}\n  + {}", side(a), side(b))?
                }
                Difference::Wrapper { a, b } => {
                    writeln!(f, "compiler wrapper:\n  - {}\n  + {}", side(a), side(b))?
                }
                Difference::Config { a, b } => {
                    writeln!(f, "final .config sha256:\n  - {}\n  + {}", side(a), side(b))?
                }
                Difference::Reproducibility { a, b } => {
                    let side = |v: &Option<String>| {
                        v.clone()
                            .unwrap_or_else(|| "off (--no-reproducible)".into())
                    };
                    writeln!(
                        f,
                        "reproducible settings:\n  - {}\n  + {}",
                        side(a),
                        side(b)
                    )?
                }
                Difference::Artifact { path, a, b } => writeln!(
                    f,
                    "artifact {}:\n  - {}\n  + {}",
                    path.display(),
                    side(a),
                    side(b)
                )?,
                Difference::Result { a, b } => writeln!(f, "result:\n  - {a}\n  + {b}")?,
            }
        }
        Ok(())
    }
}
