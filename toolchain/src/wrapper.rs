//! Compiler wrappers: caches (`ccache`, `sccache`) and distributed compilation (`distcc`,
//! icecream's `icecc`) put in front of a selected compiler.
//!
//! A [`Wrapper`] is found on `PATH` with its version ([`Wrapper::find`]), configured (distcc's
//! host list, icecream's scheduler, a private cache directory, a client log) and then applied to
//! a [`Toolchain`]: both `CC` and `HOSTCC` become `"<wrapper> <compiler>"` (as TuxMake does),
//! e.g. `CC=ccache gcc-11 HOSTCC=ccache gcc`. What the wrapper needs from the environment comes
//! back as `(name, value)` pairs ([`Wrapper::env`]) for the caller to pass to make's
//! environment; nothing here changes the process environment.
//!
//! | wrapper | Debian package | environment it gets |
//! |---|---|---|
//! | ccache | `ccache` | `CCACHE_DIR` when a cache directory is set |
//! | sccache | `sccache` | `SCCACHE_IDLE_TIMEOUT=0` (the server must not exit during a long link; it then runs until `sccache --stop-server`), `SCCACHE_DIR`, `SCCACHE_SERVER_PORT` when set |
//! | distcc | `distcc` | `DISTCC_HOSTS` (required), `DISTCC_LOG` when a client log is set |
//! | icecc | `icecc` | `ICECC_SCHEDULER` (what `iceccd` 1.4 reads to find the scheduler), `ICECC_LOGFILE` + `ICECC_DEBUG=info` when a client log is set |
//!
//! ```
//! use kforge_toolchain::{Toolchain, Wrapper, WrapperKind};
//!
//! let distcc = Wrapper::assume(WrapperKind::Distcc, "distcc")
//!     .with_distcc_hosts("localhost/2 10.0.0.5:3632/8,lzo 10.0.0.6/4")?;
//! let tc = Toolchain { cc: Some("gcc-12".into()), ..Toolchain::default() };
//! let wrapped = distcc.wrap(&tc);
//! assert_eq!(wrapped.cc_command(), "distcc gcc-12");
//! assert_eq!(wrapped.hostcc_command(), "distcc gcc");
//! assert_eq!(distcc.suggested_jobs(), Some(14));
//! assert!(distcc.env().contains(&("DISTCC_HOSTS".into(), "localhost/2 10.0.0.5:3632/8,lzo 10.0.0.6/4".into())));
//! # Ok::<(), kforge_toolchain::wrapper::Error>(())
//! ```

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::command::{self, CommandFailure};
use crate::toolchain::Toolchain;

/// Which wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WrapperKind {
    /// ccache: a local (or remote-storage) compiler cache.
    Ccache,
    /// sccache: Mozilla's compiler cache, a client talking to a local server.
    Sccache,
    /// distcc: compile jobs sent to `distccd` hosts.
    Distcc,
    /// icecream: compile jobs placed by an `icecc-scheduler` on `iceccd` hosts.
    Icecc,
}

impl WrapperKind {
    /// Every kind, in the order of the CLI's `--cc-wrapper` values.
    pub const ALL: [WrapperKind; 4] = [
        WrapperKind::Ccache,
        WrapperKind::Sccache,
        WrapperKind::Distcc,
        WrapperKind::Icecc,
    ];

    /// The client program (`ccache`, `sccache`, `distcc`, `icecc`).
    pub fn program(self) -> &'static str {
        match self {
            WrapperKind::Ccache => "ccache",
            WrapperKind::Sccache => "sccache",
            WrapperKind::Distcc => "distcc",
            WrapperKind::Icecc => "icecc",
        }
    }

    /// The Debian/Ubuntu package that provides it.
    pub fn package(self) -> &'static str {
        match self {
            WrapperKind::Ccache => "ccache",
            WrapperKind::Sccache => "sccache",
            WrapperKind::Distcc => "distcc",
            WrapperKind::Icecc => "icecc",
        }
    }

    /// True for the distributed kinds (distcc, icecream).
    pub fn is_distributed(self) -> bool {
        matches!(self, WrapperKind::Distcc | WrapperKind::Icecc)
    }
}

impl fmt::Display for WrapperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program())
    }
}

impl std::str::FromStr for WrapperKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<WrapperKind, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ccache" => Ok(WrapperKind::Ccache),
            "sccache" => Ok(WrapperKind::Sccache),
            "distcc" => Ok(WrapperKind::Distcc),
            "icecc" | "icecream" => Ok(WrapperKind::Icecc),
            _ => Err(Error::UnknownKind {
                name: s.to_string(),
            }),
        }
    }
}

/// Errors of finding and configuring a [`Wrapper`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not a wrapper this crate knows.
    #[error("unknown compiler wrapper {name:?}: expected ccache, sccache, distcc or icecc")]
    UnknownKind {
        /// The name given.
        name: String,
    },
    /// The wrapper's program is not on the search path.
    #[error("{program} was not found on PATH ({path}); install it with: apt-get install {package}")]
    NotFound {
        /// The program looked for.
        program: String,
        /// The search path.
        path: String,
        /// The Debian/Ubuntu package that provides it.
        package: String,
    },
    /// The program ran but did not print a version.
    #[error("cannot read the version of {program}: {failure}")]
    Version {
        /// The program.
        program: String,
        /// What happened.
        failure: CommandFailure,
    },
    /// A distcc host list entry that does not parse.
    #[error(
        "bad distcc host {entry:?} in {hosts:?}: {reason} (expected HOST[:PORT][/SLOTS][,OPTIONS], e.g. 10.0.0.5:3632/8,lzo)"
    )]
    DistccHost {
        /// The whole list.
        hosts: String,
        /// The entry.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// distcc without any host.
    #[error(
        "distcc needs a host list: pass --distcc-hosts 'HOST[:PORT]/SLOTS …' (DISTCC_HOSTS syntax), e.g. 'localhost/2 10.0.0.5/8'"
    )]
    NoDistccHosts,
    /// A setting given to a wrapper kind that has no use for it.
    #[error("{setting} applies to {applies_to} only, not to {kind}")]
    NotApplicable {
        /// The setting (`distcc hosts`, `icecream scheduler`).
        setting: &'static str,
        /// The kind it applies to.
        applies_to: WrapperKind,
        /// The kind it was given to.
        kind: WrapperKind,
    },
}

/// One entry of a distcc host list (`DISTCC_HOSTS`): `HOST[:PORT][/SLOTS][,OPTIONS]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DistccHost {
    /// The entry as written.
    pub spec: String,
    /// Host name or address (`localhost` means "compile here", without a daemon).
    pub host: String,
    /// TCP port (distccd's default is 3632).
    pub port: Option<u16>,
    /// Concurrent jobs it takes (distcc's default: 2 for a remote host, 2 for localhost).
    pub slots: u32,
    /// Options after the first comma (`lzo`, `cpp`, `auth`).
    pub options: Vec<String>,
}

impl DistccHost {
    /// Whether this entry compiles on the local machine (no daemon involved).
    pub fn is_local(&self) -> bool {
        self.host == "localhost"
    }
}

/// The slots distcc gives a host with no `/N` (distcc's man page: 4 for remote hosts in 3.x;
/// 2 for `localhost`).
const DEFAULT_REMOTE_SLOTS: u32 = 4;
const DEFAULT_LOCAL_SLOTS: u32 = 2;

/// Parse a `DISTCC_HOSTS` list (whitespace-separated entries).
pub fn parse_distcc_hosts(hosts: &str) -> Result<Vec<DistccHost>, Error> {
    let bad = |entry: &str, reason: String| Error::DistccHost {
        hosts: hosts.to_string(),
        entry: entry.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for entry in hosts.split_whitespace() {
        if entry.starts_with("--") || entry.starts_with('@') || entry.contains("/tcp") {
            return Err(bad(
                entry,
                "only plain TCP hosts are supported (no --randomize, ssh @host or zeroconf)".into(),
            ));
        }
        let (main, options) = match entry.split_once(',') {
            Some((m, o)) => (m, o.split(',').map(str::to_string).collect()),
            None => (entry, Vec::new()),
        };
        let (hostport, slots) = match main.split_once('/') {
            Some((hp, n)) => {
                let n: u32 = n
                    .parse()
                    .map_err(|_| bad(entry, format!("slots {n:?} are not a number")))?;
                if n == 0 {
                    return Err(bad(entry, "a host needs at least one slot".into()));
                }
                (hp, Some(n))
            }
            None => (main, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                let port: u16 = p
                    .parse()
                    .map_err(|_| bad(entry, format!("port {p:?} is not a number")))?;
                (h.trim_matches(['[', ']']).to_string(), Some(port))
            }
            _ => (hostport.to_string(), None),
        };
        if host.is_empty() {
            return Err(bad(entry, "no host name".into()));
        }
        let slots = slots.unwrap_or(if host == "localhost" {
            DEFAULT_LOCAL_SLOTS
        } else {
            DEFAULT_REMOTE_SLOTS
        });
        out.push(DistccHost {
            spec: entry.to_string(),
            host,
            port,
            slots,
            options,
        });
    }
    if out.is_empty() {
        return Err(Error::NoDistccHosts);
    }
    Ok(out)
}

/// A compiler wrapper found on this machine (or assumed), with its settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wrapper {
    /// Which wrapper.
    pub kind: WrapperKind,
    /// How the build invokes it (`ccache`, or an absolute path).
    pub command: String,
    /// Where it was found (`None` for [`Wrapper::assume`]).
    pub path: Option<PathBuf>,
    /// Its version (`4.7.5`, `0.4.0-pre.6`, `3.4`, `1.4.0`), `None` for [`Wrapper::assume`].
    pub version: Option<String>,
    /// distcc's hosts.
    pub distcc_hosts: Vec<DistccHost>,
    /// icecream's scheduler (`host[:port]`).
    pub icecc_scheduler: Option<String>,
    /// A private cache directory (ccache, sccache).
    pub cache_dir: Option<PathBuf>,
    /// sccache's server port.
    pub sccache_port: Option<u16>,
    /// A client log (distcc, icecc) from which the remote and local jobs are counted.
    pub client_log: Option<PathBuf>,
}

impl Wrapper {
    /// Find `kind` on the process's `PATH` and read its version.
    pub fn find(kind: WrapperKind) -> Result<Wrapper, Error> {
        Wrapper::find_in(kind, std::env::var_os("PATH").as_deref())
    }

    /// Find `kind` in `search_path` (a `PATH`-style list) and read its version.
    pub fn find_in(kind: WrapperKind, search_path: Option<&OsStr>) -> Result<Wrapper, Error> {
        let program = kind.program();
        let path = crate::identify::resolve_program(program, search_path).map_err(|_| {
            Error::NotFound {
                program: program.to_string(),
                path: search_path
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "PATH is not set".into()),
                package: kind.package().to_string(),
            }
        })?;
        let version = read_version(&path)?;
        tracing::debug!(%kind, path = %path.display(), %version, "found compiler wrapper");
        let command = if search_path == std::env::var_os("PATH").as_deref() {
            program.to_string()
        } else {
            path.display().to_string()
        };
        Ok(Wrapper {
            path: Some(path),
            version: Some(version),
            ..Wrapper::assume(kind, command)
        })
    }

    /// A wrapper invoked as `command`, without looking for it (for plans and tests).
    pub fn assume(kind: WrapperKind, command: impl Into<String>) -> Wrapper {
        Wrapper {
            kind,
            command: command.into(),
            path: None,
            version: None,
            distcc_hosts: Vec::new(),
            icecc_scheduler: None,
            cache_dir: None,
            sccache_port: None,
            client_log: None,
        }
    }

    /// distcc's host list, `DISTCC_HOSTS` syntax: `HOST[:PORT][/SLOTS][,OPTIONS] …`.
    pub fn with_distcc_hosts(mut self, hosts: &str) -> Result<Wrapper, Error> {
        if self.kind != WrapperKind::Distcc {
            return Err(Error::NotApplicable {
                setting: "a distcc host list",
                applies_to: WrapperKind::Distcc,
                kind: self.kind,
            });
        }
        self.distcc_hosts = parse_distcc_hosts(hosts)?;
        Ok(self)
    }

    /// icecream's scheduler, `host[:port]` (the scheduler's default port is 8765). It is given
    /// to the local `iceccd` as `ICECC_SCHEDULER` (or `iceccd -s`, see [`Wrapper::iceccd_args`]);
    /// the `icecc` client itself only talks to its local daemon.
    pub fn with_icecc_scheduler(mut self, scheduler: impl Into<String>) -> Result<Wrapper, Error> {
        if self.kind != WrapperKind::Icecc {
            return Err(Error::NotApplicable {
                setting: "an icecream scheduler",
                applies_to: WrapperKind::Icecc,
                kind: self.kind,
            });
        }
        self.icecc_scheduler = Some(scheduler.into());
        Ok(self)
    }

    /// A private cache directory (`CCACHE_DIR` / `SCCACHE_DIR`); ignored by distcc and icecc.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Wrapper {
        self.cache_dir = Some(dir.into());
        self
    }

    /// sccache's server port (`SCCACHE_SERVER_PORT`; its default is 4226).
    pub fn with_sccache_port(mut self, port: u16) -> Wrapper {
        self.sccache_port = Some(port);
        self
    }

    /// A client log (`DISTCC_LOG`, or `ICECC_LOGFILE` with `ICECC_DEBUG=info`): the jobs that
    /// went to other hosts are counted from it.
    pub fn with_client_log(mut self, path: impl Into<PathBuf>) -> Wrapper {
        self.client_log = Some(path.into());
        self
    }

    /// `toolchain` with `CC` and `HOSTCC` run through this wrapper: `CC="ccache gcc-11"`,
    /// `HOSTCC="ccache gcc"`. `CROSS_COMPILE` and `LLVM` stay as they are (they still choose
    /// the binutils); the compilers are written out explicitly.
    pub fn wrap(&self, toolchain: &Toolchain) -> Toolchain {
        let mut wrapped = toolchain.clone();
        let cc = toolchain.cc_command();
        let hostcc = toolchain.hostcc_command();
        wrapped.cc = Some(self.prefixed(&cc));
        wrapped.hostcc = Some(self.prefixed(&hostcc));
        wrapped
    }

    fn prefixed(&self, compiler: &str) -> String {
        // Already wrapped (by this or another wrapper): leave it.
        let first = compiler.split_whitespace().next().unwrap_or("");
        let name = first.rsplit('/').next().unwrap_or(first);
        if WrapperKind::ALL.iter().any(|k| k.program() == name) {
            compiler.to_string()
        } else {
            format!("{} {compiler}", self.command)
        }
    }

    /// The make variables of `toolchain` wrapped ([`Wrapper::wrap`]).
    pub fn make_vars(&self, toolchain: &Toolchain) -> Vec<(String, String)> {
        self.wrap(toolchain).make_vars()
    }

    /// The environment the wrapper needs, as `(name, value)` pairs for make's environment.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let path = |p: &Path| p.display().to_string();
        match self.kind {
            WrapperKind::Ccache => {
                if let Some(dir) = &self.cache_dir {
                    env.push(("CCACHE_DIR".into(), path(dir)));
                }
            }
            WrapperKind::Sccache => {
                env.push(("SCCACHE_IDLE_TIMEOUT".into(), "0".into()));
                if let Some(dir) = &self.cache_dir {
                    env.push(("SCCACHE_DIR".into(), path(dir)));
                }
                if let Some(port) = self.sccache_port {
                    env.push(("SCCACHE_SERVER_PORT".into(), port.to_string()));
                }
            }
            WrapperKind::Distcc => {
                if !self.distcc_hosts.is_empty() {
                    let hosts: Vec<&str> =
                        self.distcc_hosts.iter().map(|h| h.spec.as_str()).collect();
                    env.push(("DISTCC_HOSTS".into(), hosts.join(" ")));
                }
                if let Some(log) = &self.client_log {
                    env.push(("DISTCC_LOG".into(), path(log)));
                }
            }
            WrapperKind::Icecc => {
                if let Some(scheduler) = &self.icecc_scheduler {
                    env.push(("ICECC_SCHEDULER".into(), scheduler.clone()));
                }
                if let Some(log) = &self.client_log {
                    env.push(("ICECC_LOGFILE".into(), path(log)));
                    env.push(("ICECC_DEBUG".into(), "info".into()));
                }
            }
        }
        env
    }

    /// The `-j` that keeps every slot busy: for distcc the total of the hosts' slots; `None`
    /// for the others (icecream's scheduler places jobs itself; caches do not change `-j`).
    pub fn suggested_jobs(&self) -> Option<usize> {
        match self.kind {
            WrapperKind::Distcc if !self.distcc_hosts.is_empty() => Some(
                self.distcc_hosts
                    .iter()
                    .map(|h| h.slots as usize)
                    .sum::<usize>(),
            ),
            _ => None,
        }
    }

    /// Check the settings a build needs: distcc must have hosts.
    pub fn check(&self) -> Result<(), Error> {
        if self.kind == WrapperKind::Distcc && self.distcc_hosts.is_empty() {
            return Err(Error::NoDistccHosts);
        }
        Ok(())
    }

    /// Arguments for starting a local `iceccd` against the configured scheduler
    /// (`-s host[:port]`); empty without a scheduler (the daemon then broadcasts for one).
    pub fn iceccd_args(&self) -> Vec<String> {
        match &self.icecc_scheduler {
            Some(s) => vec!["-s".into(), s.clone()],
            None => Vec::new(),
        }
    }

    /// A one-line description: `ccache 4.7.5 (/usr/bin/ccache)`.
    pub fn describe(&self) -> String {
        let mut s = self.kind.to_string();
        if let Some(v) = &self.version {
            s.push(' ');
            s.push_str(v);
        }
        if let Some(p) = &self.path {
            s.push_str(&format!(" ({})", p.display()));
        }
        match self.kind {
            WrapperKind::Distcc if !self.distcc_hosts.is_empty() => {
                let hosts: Vec<&str> = self.distcc_hosts.iter().map(|h| h.spec.as_str()).collect();
                s.push_str(&format!(", hosts {}", hosts.join(" ")));
            }
            WrapperKind::Icecc => {
                if let Some(sched) = &self.icecc_scheduler {
                    s.push_str(&format!(", scheduler {sched}"));
                }
            }
            _ => {}
        }
        s
    }
}

/// Run `<program> --version` and take the first version-looking word of its first line.
fn read_version(path: &Path) -> Result<String, Error> {
    let args = [OsString::from("--version")];
    let shown = command::display_command(path, &args);
    let program = path.display().to_string();
    let captured =
        command::run(path, &args, None, Duration::from_secs(10)).map_err(|e| Error::Version {
            program: program.clone(),
            failure: e.failure(shown.clone()),
        })?;
    let text = String::from_utf8_lossy(&captured.stdout);
    let version = text.lines().next().and_then(version_word);
    match version {
        Some(v) if captured.status.success() => Ok(v),
        _ => Err(Error::Version {
            program,
            failure: captured.failure(shown),
        }),
    }
}

/// `ccache version 4.7.5` → `4.7.5`, `sccache 0.4.0-pre.6` → `0.4.0-pre.6`, `ICECC 1.4.0` →
/// `1.4.0`, `distcc 3.4 x86_64-pc-linux-gnu` → `3.4`.
fn version_word(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_name_their_package() {
        assert_eq!("icecream".parse::<WrapperKind>(), Ok(WrapperKind::Icecc));
        assert_eq!("CCACHE".parse::<WrapperKind>(), Ok(WrapperKind::Ccache));
        let err = "buildcache".parse::<WrapperKind>().unwrap_err();
        assert!(
            err.to_string()
                .contains("expected ccache, sccache, distcc or icecc")
        );
        for kind in WrapperKind::ALL {
            assert_eq!(kind.to_string().parse::<WrapperKind>(), Ok(kind));
        }
    }

    #[test]
    fn versions_are_read_from_each_banner() {
        assert_eq!(
            version_word("ccache version 4.7.5").as_deref(),
            Some("4.7.5")
        );
        assert_eq!(
            version_word("sccache 0.4.0-pre.6").as_deref(),
            Some("0.4.0-pre.6")
        );
        assert_eq!(
            version_word("distcc 3.4 x86_64-pc-linux-gnu").as_deref(),
            Some("3.4")
        );
        assert_eq!(version_word("ICECC 1.4.0").as_deref(), Some("1.4.0"));
        assert_eq!(version_word("no version here"), None);
    }

    #[test]
    fn distcc_hosts_parse_with_slots_ports_and_options() {
        let hosts = parse_distcc_hosts("localhost/2  127.0.0.1:3633/3,lzo box").unwrap();
        assert_eq!(hosts.len(), 3);
        assert!(hosts[0].is_local());
        assert_eq!(hosts[0].slots, 2);
        assert_eq!(hosts[1].host, "127.0.0.1");
        assert_eq!(hosts[1].port, Some(3633));
        assert_eq!(hosts[1].slots, 3);
        assert_eq!(hosts[1].options, ["lzo"]);
        assert_eq!(hosts[2].slots, DEFAULT_REMOTE_SLOTS);
        let err = parse_distcc_hosts("box/x").unwrap_err();
        assert!(
            err.to_string().contains("slots \"x\" are not a number"),
            "{err}"
        );
        let err = parse_distcc_hosts("box:port/2").unwrap_err();
        assert!(err.to_string().contains("port \"port\""), "{err}");
        assert_eq!(parse_distcc_hosts("  "), Err(Error::NoDistccHosts));
        assert!(parse_distcc_hosts("@ssh-box/4").is_err());
        assert!(parse_distcc_hosts("box/0").is_err());
    }

    #[test]
    fn wrapping_covers_cc_and_hostcc() {
        let ccache = Wrapper::assume(WrapperKind::Ccache, "ccache").with_cache_dir("/c");
        let tc = Toolchain {
            cc: Some("gcc-11".into()),
            ..Toolchain::default()
        };
        assert_eq!(
            ccache.make_vars(&tc),
            [
                ("CC".to_string(), "ccache gcc-11".to_string()),
                ("HOSTCC".to_string(), "ccache gcc".to_string())
            ]
        );
        // Wrapping twice does not stack wrappers.
        assert_eq!(ccache.wrap(&ccache.wrap(&tc)), ccache.wrap(&tc));
        // LLVM keeps choosing the binutils; the compilers are spelled out.
        let llvm = Toolchain {
            llvm: Some("-15".into()),
            ..Toolchain::default()
        };
        let w = ccache.wrap(&llvm);
        assert_eq!(w.cc_command(), "ccache clang-15");
        assert_eq!(w.hostcc_command(), "ccache clang-15");
        assert_eq!(w.llvm.as_deref(), Some("-15"));
        // Cross: CROSS_COMPILE stays, CC becomes the wrapped cross gcc.
        let cross = Toolchain {
            cross_compile: Some("aarch64-linux-gnu-".into()),
            ..Toolchain::default()
        };
        assert_eq!(
            ccache.wrap(&cross).cc_command(),
            "ccache aarch64-linux-gnu-gcc"
        );
        assert_eq!(ccache.env(), [("CCACHE_DIR".to_string(), "/c".to_string())]);
        assert_eq!(ccache.suggested_jobs(), None);
    }

    #[test]
    fn each_kind_gets_its_environment() {
        let sccache = Wrapper::assume(WrapperKind::Sccache, "sccache").with_sccache_port(4300);
        assert_eq!(
            sccache.env(),
            [
                ("SCCACHE_IDLE_TIMEOUT".to_string(), "0".to_string()),
                ("SCCACHE_SERVER_PORT".to_string(), "4300".to_string())
            ]
        );
        let distcc = Wrapper::assume(WrapperKind::Distcc, "distcc");
        assert_eq!(distcc.check(), Err(Error::NoDistccHosts));
        let distcc = distcc
            .with_distcc_hosts("127.0.0.1:4000/2 10.1.1.1/6")
            .unwrap()
            .with_client_log("/l/distcc.log");
        assert_eq!(distcc.suggested_jobs(), Some(8));
        assert!(distcc.check().is_ok());
        assert_eq!(
            distcc.env(),
            [
                (
                    "DISTCC_HOSTS".to_string(),
                    "127.0.0.1:4000/2 10.1.1.1/6".to_string()
                ),
                ("DISTCC_LOG".to_string(), "/l/distcc.log".to_string())
            ]
        );
        let icecc = Wrapper::assume(WrapperKind::Icecc, "icecc")
            .with_icecc_scheduler("127.0.0.1:8765")
            .unwrap();
        assert_eq!(
            icecc.env(),
            [("ICECC_SCHEDULER".to_string(), "127.0.0.1:8765".to_string())]
        );
        assert_eq!(icecc.iceccd_args(), ["-s", "127.0.0.1:8765"]);
        assert!(matches!(
            Wrapper::assume(WrapperKind::Ccache, "ccache").with_distcc_hosts("a/1"),
            Err(Error::NotApplicable { .. })
        ));
        assert!(
            Wrapper::assume(WrapperKind::Distcc, "distcc")
                .with_icecc_scheduler("x")
                .is_err()
        );
    }

    #[test]
    fn a_missing_wrapper_names_its_package() {
        let dir = tempfile::tempdir().unwrap();
        let err = Wrapper::find_in(WrapperKind::Icecc, Some(dir.path().as_os_str())).unwrap_err();
        assert!(matches!(err, Error::NotFound { ref package, .. } if package == "icecc"));
        assert!(err.to_string().contains("apt-get install icecc"), "{err}");
    }

    #[test]
    fn a_wrapper_without_a_version_is_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("ccache");
        std::fs::write(&fake, "#!/bin/sh\necho 'no banner'\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Wrapper::find_in(WrapperKind::Ccache, Some(dir.path().as_os_str())).unwrap_err();
        assert!(matches!(err, Error::Version { .. }), "{err}");
        std::fs::write(&fake, "#!/bin/sh\necho 'ccache version 9.1.2'\n").unwrap();
        let found = Wrapper::find_in(WrapperKind::Ccache, Some(dir.path().as_os_str())).unwrap();
        assert_eq!(found.version.as_deref(), Some("9.1.2"));
        assert_eq!(found.command, fake.display().to_string());
    }
}
