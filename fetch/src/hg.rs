//! Mercurial sources through the `hg` command (there is no maintained Rust client): a cached
//! clone without working copy per URL, then a checkout of a revision.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use crate::cache::{Cache, url_key};
use crate::command::{self, RunError};
use crate::proxy::{HgNetwork, ProxyEnv};

/// The oldest Mercurial accepted (`hg clone -u`, `-T` templates and `HGPLAIN` all work from 4.0).
pub const MINIMUM_VERSION: (u32, u32) = (4, 0);

const INSTALL_HINT: &str = "install Mercurial: `apt-get install mercurial` (Debian, Ubuntu), `dnf install mercurial` (Fedora) or `pip install mercurial`";

/// Why a Mercurial fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `hg` is not on `PATH`.
    #[error("the `hg` command was not found; {hint}", hint = INSTALL_HINT)]
    NotInstalled {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `hg` is older than [`MINIMUM_VERSION`].
    #[error("Mercurial {found} is too old (need {}.{} or newer); {hint}", MINIMUM_VERSION.0, MINIMUM_VERSION.1, hint = INSTALL_HINT)]
    Outdated {
        /// The version found.
        found: String,
    },
    /// `hg --version` printed something unexpected.
    #[error("could not read the Mercurial version from `hg --version`: {output:?}")]
    UnknownVersion {
        /// What it printed.
        output: String,
    },
    /// An `hg` command failed.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Offline mode and the repository or revision is not cached.
    #[error(
        "offline mode: hg {url} revision {rev:?} is not in the cached clone {mirror}; fetch once online"
    )]
    Offline {
        /// The repository.
        url: String,
        /// The revision.
        rev: String,
        /// The cached clone looked in.
        mirror: PathBuf,
    },
    /// The cache could not be locked or prepared.
    #[error("hg cache {path}")]
    Cache {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The interrupt flag was raised.
    #[error("hg interrupted")]
    Interrupted,
}

/// The installed Mercurial version, checked against [`MINIMUM_VERSION`].
pub fn check_installed() -> Result<String, Error> {
    let never = AtomicBool::new(false);
    let output = match command::run(hg().arg("--version"), &never) {
        Ok(o) => o,
        Err(RunError::Spawn(source)) | Err(RunError::Wait(source)) => {
            return Err(Error::NotInstalled { source });
        }
        Err(RunError::Interrupted) => return Err(Error::Interrupted),
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let version = parse_version(&text).ok_or_else(|| Error::UnknownVersion {
        output: text.clone(),
    })?;
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if found < MINIMUM_VERSION {
        return Err(Error::Outdated { found: version });
    }
    Ok(version)
}

/// "Mercurial Distributed SCM (version 6.3.2)" -> "6.3.2".
fn parse_version(text: &str) -> Option<String> {
    let start = text.find("(version ")? + "(version ".len();
    let end = text[start..].find(')')? + start;
    Some(text[start..end].trim().to_owned())
}

fn hg() -> Command {
    let mut command = Command::new("hg");
    // Plain, stable output whatever the user's configuration says.
    command.env("HGPLAIN", "1");
    command
}

/// `hg` for a command that talks to `url`: the fetcher's proxy and trust settings applied.
fn hg_remote(network: &HgNetwork) -> Command {
    let mut command = hg();
    for value in &network.config {
        command.arg("--config").arg(value);
    }
    match &network.proxy_env {
        ProxyEnv::Keep => {}
        ProxyEnv::Remove => {
            command.env_remove("http_proxy");
        }
        ProxyEnv::Set(proxy) => {
            command.env("http_proxy", proxy);
        }
    }
    command
}

fn run_hg(command: &mut Command, should_interrupt: &AtomicBool) -> Result<String, Error> {
    let line = command::describe(command);
    match command::run(command, should_interrupt) {
        Ok(output) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Ok(output) => Err(Error::Command {
            command: line,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_owned(),
        }),
        Err(RunError::Spawn(source)) => Err(Error::NotInstalled { source }),
        Err(RunError::Wait(source)) => Err(Error::Command {
            command: line,
            status: "unknown".to_owned(),
            stderr: source.to_string(),
        }),
        Err(RunError::Interrupted) => Err(Error::Interrupted),
    }
}

/// Update the cached clone of `url` and check `rev` out into the empty directory `into`.
/// Returns the full changeset id.
pub(crate) fn checkout(
    cache: &Cache,
    url: &str,
    rev: &str,
    offline: bool,
    into: &Path,
    network: &HgNetwork,
    should_interrupt: &AtomicBool,
) -> Result<String, Error> {
    let _span = tracing::info_span!("hg", url, rev).entered();
    check_installed()?;
    let mirror = cache.hg_mirror_path(url);
    let _lock = cache
        .lock(&format!("hg-{}", url_key(url)))
        .map_err(|source| Error::Cache {
            path: cache.root().join("locks"),
            source,
        })?;
    let has_rev = |mirror: &Path| {
        run_hg(
            hg().arg("-R")
                .arg(mirror)
                .args(["log", "-r", rev, "-T", "{node}"]),
            should_interrupt,
        )
        .is_ok()
    };
    if mirror.join(".hg").is_dir() {
        // Full changeset ids do not move; anything else (branch, bookmark, tag) may.
        let fixed =
            rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) && has_rev(&mirror);
        if !fixed && !offline {
            run_hg(
                hg_remote(network)
                    .arg("-R")
                    .arg(&mirror)
                    .args(["pull", "--quiet", url]),
                should_interrupt,
            )?;
        }
    } else {
        if offline {
            return Err(Error::Offline {
                url: url.to_owned(),
                rev: rev.to_owned(),
                mirror,
            });
        }
        let parent = mirror.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|source| Error::Cache {
            path: parent.to_owned(),
            source,
        })?;
        let partial = parent.join(format!(".partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        run_hg(
            hg_remote(network)
                .args(["clone", "--quiet", "--noupdate", url])
                .arg(&partial),
            should_interrupt,
        )
        .inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&partial);
        })?;
        std::fs::rename(&partial, &mirror).map_err(|source| Error::Cache {
            path: mirror.clone(),
            source,
        })?;
    }
    if offline && !has_rev(&mirror) {
        return Err(Error::Offline {
            url: url.to_owned(),
            rev: rev.to_owned(),
            mirror,
        });
    }
    // `hg clone` wants to create its destination: clone into a child, then move .hg and the
    // working files up into `into`.
    let work = into.join(".kforge-hg-clone");
    run_hg(
        hg().args(["clone", "--quiet", "--updaterev", rev])
            .arg(&mirror)
            .arg(&work),
        should_interrupt,
    )?;
    let move_err = |path: PathBuf| move |source| Error::Cache { path, source };
    for entry in std::fs::read_dir(&work).map_err(move_err(work.clone()))? {
        let entry = entry.map_err(move_err(work.clone()))?;
        std::fs::rename(entry.path(), into.join(entry.file_name()))
            .map_err(move_err(entry.path()))?;
    }
    std::fs::remove_dir(&work).map_err(move_err(work.clone()))?;
    // Point `default` at the real repository, not the cache.
    let hgrc = into.join(".hg").join("hgrc");
    std::fs::write(&hgrc, format!("[paths]\ndefault = {url}\n")).map_err(move_err(hgrc.clone()))?;
    let node = run_hg(
        hg().arg("-R")
            .arg(into)
            .args(["log", "-r", ".", "-T", "{node}"]),
        should_interrupt,
    )?;
    tracing::info!(url, rev, node = node.trim(), "checked out");
    Ok(node.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text_is_parsed() {
        assert_eq!(
            parse_version(
                "Mercurial Distributed SCM (version 6.3.2)\n(see https://mercurial-scm.org)"
            )
            .as_deref(),
            Some("6.3.2")
        );
        assert_eq!(parse_version("hg: command not found"), None);
    }
}
