//! Compiler-cache and distributed-compilation counters around a build: hits, misses, and jobs
//! that ran on other hosts, read before and after a make run ([`crate::Make::cache_stats`]).
//!
//! What each tool honestly offers:
//!
//! | tool | read with | hits / misses | remote / local jobs |
//! |---|---|---|---|
//! | ccache (4.x) | `ccache --print-stats` (tab-separated counters) | `direct_cache_hit + preprocessed_cache_hit` / `cache_miss` | — |
//! | sccache | `sccache --show-stats --stats-format=json` | `cache_hits` / `cache_misses` (all languages) | `dist_compiles` / — |
//! | distcc | the client log (`DISTCC_LOG`) | — | `compile X on HOST completed ok` lines, `localhost` counted as local |
//! | icecc | the client log (`ICECC_LOGFILE`, `ICECC_DEBUG=info`) | — | per client process: file sent to a compile server and not failed over / every other job |
//!
//! distcc and icecream keep no client-side counters of their own, so their figures come from
//! the client log the wrapper writes; the daemons' own records (`distccd --log-file`, its
//! `--stats` HTTP page, `iceccd -l`) live on the build hosts.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// Which tool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheTool {
    /// ccache.
    Ccache,
    /// sccache.
    Sccache,
    /// distcc.
    Distcc,
    /// icecream.
    Icecc,
}

impl CacheTool {
    /// The program (`ccache`, `sccache`, `distcc`, `icecc`).
    pub fn program(self) -> &'static str {
        match self {
            CacheTool::Ccache => "ccache",
            CacheTool::Sccache => "sccache",
            CacheTool::Distcc => "distcc",
            CacheTool::Icecc => "icecc",
        }
    }

    /// The environment variable naming the client log the counters come from (distcc, icecc).
    pub fn client_log_var(self) -> Option<&'static str> {
        match self {
            CacheTool::Distcc => Some("DISTCC_LOG"),
            CacheTool::Icecc => Some("ICECC_LOGFILE"),
            _ => None,
        }
    }
}

impl fmt::Display for CacheTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program())
    }
}

/// A name that is not one of the compiler wrappers kforge reads counters of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compiler wrapper {name:?}: expected ccache, sccache, distcc or icecc")]
pub struct UnknownTool {
    /// The name given.
    pub name: String,
}

impl std::str::FromStr for CacheTool {
    type Err = UnknownTool;
    fn from_str(s: &str) -> Result<CacheTool, UnknownTool> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ccache" => Ok(CacheTool::Ccache),
            "sccache" => Ok(CacheTool::Sccache),
            "distcc" => Ok(CacheTool::Distcc),
            "icecc" | "icecream" => Ok(CacheTool::Icecc),
            _ => Err(UnknownTool {
                name: s.to_string(),
            }),
        }
    }
}

/// Errors of reading counters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stats command could not be started.
    #[error("cannot run `{command}` (Debian: apt-get install {package})")]
    Spawn {
        /// The command.
        command: String,
        /// The Debian package.
        package: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The stats command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command.
        command: String,
        /// Its exit status.
        status: String,
        /// Its stderr, trimmed.
        stderr: String,
    },
    /// The output did not have the expected shape.
    #[error("cannot read the counters printed by `{command}`: {reason}")]
    Parse {
        /// The command.
        command: String,
        /// What was missing.
        reason: String,
    },
    /// distcc or icecc without a client log to count from.
    #[error(
        "{tool} keeps no counters of its own: set {var} (kforge-toolchain: Wrapper::with_client_log) so its jobs can be counted"
    )]
    NoClientLog {
        /// The tool.
        tool: CacheTool,
        /// The variable to set.
        var: &'static str,
    },
    /// The client log exists but cannot be read.
    #[error("cannot read the {tool} client log {path}")]
    ReadLog {
        /// The tool.
        tool: CacheTool,
        /// The log.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Counters at one moment. A field is `None` when the tool does not count it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Compilations answered from the cache.
    pub hits: Option<u64>,
    /// Compilations the cache had to run.
    pub misses: Option<u64>,
    /// Compile jobs that ran on another host.
    pub remote_jobs: Option<u64>,
    /// Compile jobs the distributed tool ran on this machine.
    pub local_jobs: Option<u64>,
}

/// What a build did to the counters: `after - before`, with both readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheReport {
    /// The tool.
    pub tool: CacheTool,
    /// Hits during the build.
    pub hits: Option<u64>,
    /// Misses during the build.
    pub misses: Option<u64>,
    /// `hits / (hits + misses)`, when both are known and not both zero.
    pub hit_rate: Option<f64>,
    /// Jobs that ran on other hosts during the build.
    pub remote_jobs: Option<u64>,
    /// Jobs the distributed tool ran locally during the build.
    pub local_jobs: Option<u64>,
    /// The reading before the build.
    pub before: CacheStats,
    /// The reading after the build.
    pub after: CacheStats,
    /// Where the figures come from (the command, or the client log).
    pub source: String,
}

impl CacheReport {
    /// The difference between two readings of `tool`.
    pub fn between(
        tool: CacheTool,
        before: CacheStats,
        after: CacheStats,
        source: String,
    ) -> CacheReport {
        let delta = |b: Option<u64>, a: Option<u64>| match (b, a) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b)),
            (None, Some(a)) => Some(a),
            _ => None,
        };
        let hits = delta(before.hits, after.hits);
        let misses = delta(before.misses, after.misses);
        let hit_rate = match (hits, misses) {
            (Some(h), Some(m)) if h + m > 0 => Some(h as f64 / (h + m) as f64),
            _ => None,
        };
        CacheReport {
            tool,
            hits,
            misses,
            hit_rate,
            remote_jobs: delta(before.remote_jobs, after.remote_jobs),
            local_jobs: delta(before.local_jobs, after.local_jobs),
            before,
            after,
            source,
        }
    }
}

impl fmt::Display for CacheReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.tool)?;
        let mut parts = Vec::new();
        if let (Some(h), Some(m)) = (self.hits, self.misses) {
            let rate = self
                .hit_rate
                .map(|r| format!(" ({:.1}% hit rate)", r * 100.0))
                .unwrap_or_default();
            parts.push(format!("{h} hits, {m} misses{rate}"));
        }
        if let Some(r) = self.remote_jobs {
            parts.push(format!("{r} remote jobs"));
        }
        if let Some(l) = self.local_jobs {
            parts.push(format!("{l} local jobs"));
        }
        if parts.is_empty() {
            parts.push("no counters".into());
        }
        write!(f, " {}", parts.join(", "))
    }
}

/// Reads a tool's counters with a given environment (the one the build runs with, so the same
/// `CCACHE_DIR`, `SCCACHE_SERVER_PORT` or client log is read).
#[derive(Debug, Clone)]
pub struct CacheProbe {
    tool: CacheTool,
    program: OsString,
    env: Vec<(OsString, Option<OsString>)>,
}

impl CacheProbe {
    /// A probe for `tool`, running the tool's own program from `PATH`.
    pub fn new(tool: CacheTool) -> CacheProbe {
        CacheProbe {
            tool,
            program: tool.program().into(),
            env: Vec::new(),
        }
    }

    /// Run this program instead (an absolute path, say).
    pub fn program(&mut self, program: impl Into<OsString>) -> &mut CacheProbe {
        self.program = program.into();
        self
    }

    /// An environment variable (or its removal, with `None`) for the stats command and the
    /// client-log lookup.
    pub fn env(&mut self, key: impl Into<OsString>, value: Option<OsString>) -> &mut CacheProbe {
        self.env.push((key.into(), value));
        self
    }

    /// The tool.
    pub fn tool(&self) -> CacheTool {
        self.tool
    }

    fn var(&self, name: &str) -> Option<OsString> {
        match self.env.iter().rev().find(|(k, _)| k == name) {
            Some((_, v)) => v.clone(),
            None => std::env::var_os(name),
        }
    }

    /// Where the figures come from.
    pub fn source(&self) -> String {
        match self.tool {
            CacheTool::Ccache => format!("{} --print-stats", self.program.to_string_lossy()),
            CacheTool::Sccache => format!(
                "{} --show-stats --stats-format=json",
                self.program.to_string_lossy()
            ),
            CacheTool::Distcc | CacheTool::Icecc => {
                let var = self.tool.client_log_var().unwrap_or_default();
                match self.var(var) {
                    Some(path) => format!("{var}={}", path.to_string_lossy()),
                    None => format!("{var} (unset)"),
                }
            }
        }
    }

    /// Read the counters now.
    pub fn read(&self) -> Result<CacheStats, Error> {
        match self.tool {
            CacheTool::Ccache => parse_ccache(&self.run(&["--print-stats"])?, &self.source()),
            CacheTool::Sccache => parse_sccache(
                &self.run(&["--show-stats", "--stats-format=json"])?,
                &self.source(),
            ),
            CacheTool::Distcc | CacheTool::Icecc => {
                let var = self.tool.client_log_var().unwrap_or_default();
                let path = self.var(var).map(PathBuf::from).ok_or(Error::NoClientLog {
                    tool: self.tool,
                    var,
                })?;
                let text = read_log(self.tool, &path)?;
                Ok(match self.tool {
                    CacheTool::Distcc => count_distcc(&text),
                    _ => count_icecc(&text),
                })
            }
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, Error> {
        let command = format!("{} {}", self.program.to_string_lossy(), args.join(" "));
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C");
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let output = cmd.output().map_err(|source| Error::Spawn {
            command: command.clone(),
            package: self.tool.program(),
            source,
        })?;
        if !output.status.success() {
            return Err(Error::Failed {
                command,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn read_log(tool: CacheTool, path: &Path) -> Result<String, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        // No job has run yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(Error::ReadLog {
            tool,
            path: path.to_owned(),
            source,
        }),
    }
}

/// `ccache --print-stats`: one `name<TAB>value` per line (ccache 4.x).
pub fn parse_ccache(text: &str, command: &str) -> Result<CacheStats, Error> {
    let counter = |name: &str| -> Option<u64> {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k.trim() == name).then(|| v.trim().parse().ok()).flatten()
        })
    };
    let direct = counter("direct_cache_hit");
    let preprocessed = counter("preprocessed_cache_hit");
    let miss = counter("cache_miss");
    match (direct, preprocessed, miss) {
        (Some(d), Some(p), Some(m)) => Ok(CacheStats {
            hits: Some(d + p),
            misses: Some(m),
            remote_jobs: None,
            local_jobs: None,
        }),
        _ => Err(Error::Parse {
            command: command.to_string(),
            reason: "no direct_cache_hit / preprocessed_cache_hit / cache_miss counters (ccache 4.x prints them; older versions have no --print-stats)".into(),
        }),
    }
}

/// `sccache --show-stats --stats-format=json`.
pub fn parse_sccache(text: &str, command: &str) -> Result<CacheStats, Error> {
    let parse_error = |reason: String| Error::Parse {
        command: command.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| parse_error(format!("not JSON: {e}")))?;
    let stats = value
        .get("stats")
        .ok_or_else(|| parse_error("no \"stats\" object".into()))?;
    let sum_counts = |name: &str| -> Option<u64> {
        let counts = stats.get(name)?.get("counts")?.as_object()?;
        Some(counts.values().filter_map(serde_json::Value::as_u64).sum())
    };
    let hits = sum_counts("cache_hits").ok_or_else(|| parse_error("no cache_hits".into()))?;
    let misses = sum_counts("cache_misses").ok_or_else(|| parse_error("no cache_misses".into()))?;
    let dist = stats
        .get("dist_compiles")
        .and_then(|d| d.as_object())
        .map(|d| d.values().filter_map(serde_json::Value::as_u64).sum());
    Ok(CacheStats {
        hits: Some(hits),
        misses: Some(misses),
        remote_jobs: dist,
        local_jobs: None,
    })
}

/// distcc's client log: `distcc[PID] compile FILE on HOST completed ok` per finished job
/// (`localhost` when it ran here, `HOST[:PORT]/SLOTS` otherwise).
pub fn count_distcc(text: &str) -> CacheStats {
    let (mut remote, mut local) = (0, 0);
    for line in text.lines() {
        let Some(rest) = line.split_once("] compile ").map(|(_, r)| r) else {
            continue;
        };
        let Some(rest) = rest.strip_suffix(" completed ok") else {
            continue;
        };
        let Some((_, host)) = rest.rsplit_once(" on ") else {
            continue;
        };
        if host == "localhost" {
            local += 1;
        } else {
            remote += 1;
        }
    }
    CacheStats {
        hits: None,
        misses: None,
        remote_jobs: Some(remote),
        local_jobs: Some(local),
    }
}

/// icecream's client log at `ICECC_DEBUG=info`, one `ICECC[PID]` process per job: a job
/// whose file was sent to a compile server (`</send compile_file`) without failing over
/// (`got exception`, after which the client builds locally) is remote; every other job
/// (placed on this host by the scheduler, `<building_local>`, a fallback) is local.
pub fn count_icecc(text: &str) -> CacheStats {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Job {
        sent: bool,
        failed: bool,
    }
    let mut jobs: BTreeMap<&str, Job> = BTreeMap::new();
    for line in text.lines() {
        let Some(pid) = line
            .strip_prefix("ICECC[")
            .and_then(|rest| rest.split_once(']'))
            .map(|(pid, _)| pid)
        else {
            continue;
        };
        let job = jobs.entry(pid).or_default();
        job.sent |= line.contains("</send compile_file");
        job.failed |= line.contains("got exception");
    }
    let remote = jobs.values().filter(|j| j.sent && !j.failed).count() as u64;
    CacheStats {
        hits: None,
        misses: None,
        remote_jobs: Some(remote),
        local_jobs: Some(jobs.len() as u64 - remote),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccache_counters_parse() {
        let text = "cache_miss\t3\ncache_size_kibibyte\t12\ndirect_cache_hit\t5\npreprocessed_cache_hit\t2\n";
        let s = parse_ccache(text, "ccache --print-stats").unwrap();
        assert_eq!((s.hits, s.misses), (Some(7), Some(3)));
        let err = parse_ccache("Summary:\n  Hits: 3\n", "ccache --print-stats").unwrap_err();
        assert!(err.to_string().contains("ccache 4.x"), "{err}");
    }

    #[test]
    fn sccache_json_parses() {
        let text = r#"{"stats":{"cache_hits":{"counts":{"C/C++":4,"Rust":1}},"cache_misses":{"counts":{"C/C++":2}},"dist_compiles":{}},"cache_size":474}"#;
        let s = parse_sccache(text, "sccache").unwrap();
        assert_eq!(
            (s.hits, s.misses, s.remote_jobs),
            (Some(5), Some(2), Some(0))
        );
        assert!(parse_sccache("Compile requests 2", "sccache").is_err());
    }

    #[test]
    fn distcc_log_counts_remote_and_local() {
        let log = "distcc[1] compile from f1.c to f1.o\n\
                   distcc[1] cpp f1.c on localhost completed ok\n\
                   distcc[1] compile f1.c on 127.0.0.1:3632/2 completed ok\n\
                   distcc[2] compile f3.c on localhost completed ok\n\
                   distcc[3] compile f4.c on box/4 completed ok\n";
        let s = count_distcc(log);
        assert_eq!((s.remote_jobs, s.local_jobs), (Some(2), Some(1)));
    }

    #[test]
    fn icecc_log_counts_fallbacks_as_local() {
        let log = "ICECC[1] 2026-11-26 09:50:18: native /e/native/8b.tar.gz\n\
                   ICECC[1] 2026-11-26 09:50:18: </send compile_file: 0ms>\n\
                   ICECC[1] 2026-11-26 09:50:18: got exception Error 12\n\
                   ICECC[1] 2026-11-26 09:50:18: <building_local>\n\
                   ICECC[2] 2026-11-26 09:50:18: native /e/native/8b.tar.gz\n\
                   ICECC[2] 2026-11-26 09:50:18: </send compile_file: 1ms>\n\
                   ICECC[3] 2026-11-26 09:50:18: native /e/native/8b.tar.gz\n\
                   ICECC[4] 2026-11-26 09:50:18: neither -c nor -S argument, building locally\n";
        let s = count_icecc(log);
        assert_eq!((s.remote_jobs, s.local_jobs), (Some(1), Some(3)));
    }

    #[test]
    fn reports_are_deltas() {
        let before = CacheStats {
            hits: Some(10),
            misses: Some(5),
            ..CacheStats::default()
        };
        let after = CacheStats {
            hits: Some(19),
            misses: Some(6),
            ..CacheStats::default()
        };
        let r = CacheReport::between(CacheTool::Ccache, before, after, "x".into());
        assert_eq!((r.hits, r.misses), (Some(9), Some(1)));
        assert_eq!(r.hit_rate, Some(0.9));
        assert_eq!(r.to_string(), "ccache: 9 hits, 1 misses (90.0% hit rate)");
    }

    #[test]
    fn distcc_without_a_log_says_what_to_set() {
        let mut probe = CacheProbe::new(CacheTool::Distcc);
        probe.env("DISTCC_LOG", None);
        let err = probe.read().unwrap_err();
        assert!(err.to_string().contains("set DISTCC_LOG"), "{err}");
    }
}
