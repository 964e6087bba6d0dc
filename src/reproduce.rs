//! `reproduce.sh`: the same build as plain shell commands, from what actually ran.
//!
//! Commands come from the libraries' own reports: a make or configure step's line is built
//! from its [`Outcome`](kforge_kbuild::Outcome) (working directory, environment changes such as
//! reproducible mode's `KBUILD_BUILD_*`, argument vector); a fetch's lines honour the mirrors
//! and the strip count it used. Every word is quoted with `shlex`.
//!
//! ```
//! use kforge::reproduce::{quote, shell_line};
//!
//! assert_eq!(shell_line(["make", "-C", "/tmp/b", "a b"]), "make -C /tmp/b 'a b'");
//! assert_eq!(quote("x;y"), "'x;y'");
//! ```

use std::fmt::Write as _;
use std::path::Path;

use crate::record::BuildRecord;

/// Quote `word` for a POSIX shell (unchanged when it needs no quoting).
pub fn quote(word: &str) -> String {
    match shlex::try_quote(word) {
        Ok(quoted) => quoted.into_owned(),
        // Only a NUL byte fails; no argument or path can hold one, so show it escaped.
        Err(_) => shlex::try_quote(&word.replace('\0', "\\0"))
            .map(|q| q.into_owned())
            .unwrap_or_default(),
    }
}

/// [`quote`] for a path.
pub fn quote_path(path: impl AsRef<Path>) -> String {
    quote(&path.as_ref().to_string_lossy())
}

/// A command line for display and for `reproduce.sh`: each word quoted, joined by spaces.
pub fn shell_line<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    words
        .into_iter()
        .map(|w| quote(&w.as_ref().to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shell line of a finished make or configure run: `(cd DIR && env K=V … COMMAND)`, so
/// it runs in the same directory with the same environment changes.
pub fn outcome_line(outcome: &kforge_kbuild::Outcome) -> String {
    answered(
        outcome.default_answers,
        command_line(&outcome.dir, &outcome.env, &outcome.command),
    )
}

/// [`outcome_line`] for a failed run.
pub fn failure_line(failure: &kforge_kbuild::Failure) -> String {
    answered(
        failure.default_answers,
        command_line(&failure.dir, &failure.env, &failure.command),
    )
}

/// `line` with newlines on its standard input when the run had them (`yes "" | …`), so the
/// reproducer answers the prompts as the run did instead of waiting at the terminal.
fn answered(default_answers: bool, line: String) -> String {
    if default_answers {
        format!("yes \"\" | {line}")
    } else {
        line
    }
}

fn command_line(dir: &Path, env: &[kforge_kbuild::EnvChange], command: &[String]) -> String {
    // A subshell, so the directory change does not reach the script's later lines.
    let mut line = format!("(cd {} && ", quote_path(dir));
    // The last change of a variable wins, as it did for the process.
    let mut last: Vec<&kforge_kbuild::EnvChange> = Vec::new();
    for change in env {
        last.retain(|c| c.key != change.key);
        last.push(change);
    }
    if !last.is_empty() {
        line.push_str("env");
        for change in last {
            match &change.value {
                Some(value) => {
                    let _ = write!(line, " {}", assignment(&change.key, value));
                }
                None => {
                    let _ = write!(line, " -u {}", quote(&change.key));
                }
            }
        }
        line.push(' ');
    }
    line.push_str(&shell_line(command));
    line.push(')');
    line
}

/// `KEY=value` as one shell word, quoting only the value when the key is a plain name.
fn assignment(key: &str, value: &str) -> String {
    let plain = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        format!("{key}={}", quote(value))
    } else {
        quote(&format!("{key}={value}"))
    }
}

/// What a fetch of an archive amounts to.
#[derive(Debug, Clone)]
pub struct ArchiveFetch<'a> {
    /// The origin URL.
    pub url: &'a str,
    /// Mirrors tried first, in order (each `MIRROR/<file name>`).
    pub mirrors: &'a [String],
    /// The sha256 the archive had (pinned or computed).
    pub sha256: Option<&'a str>,
    /// Leading path components dropped on extraction.
    pub strip_components: usize,
    /// Where it was extracted.
    pub dest: &'a Path,
    /// Patches applied after extraction (`patch -p1`), in order.
    pub patches: &'a [std::path::PathBuf],
}

/// The shell commands that fetch (mirrors first), verify, extract and patch an archive.
pub fn fetch_commands(fetch: &ArchiveFetch<'_>) -> Vec<String> {
    let name = fetch
        .url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("archive");
    let get_one = |url: &str| match url.strip_prefix("file://") {
        Some(path) => format!("cp {} {}", quote(path), quote(name)),
        None => format!("curl -fL -o {} {}", quote(name), quote(url)),
    };
    let mut sources: Vec<String> = fetch
        .mirrors
        .iter()
        .map(|m| format!("{}/{name}", m.trim_end_matches('/')))
        .collect();
    sources.push(fetch.url.to_string());
    let get = sources
        .iter()
        .map(|u| get_one(u))
        .collect::<Vec<_>>()
        .join(" || ");
    let mut commands = vec![get];
    if let Some(hex) = fetch.sha256 {
        commands.push(format!(
            "echo {} | sha256sum -c -",
            quote(&format!("{hex}  {name}"))
        ));
    }
    let dest = quote_path(fetch.dest);
    commands.push(if fetch.strip_components > 0 {
        format!(
            "mkdir -p {dest} && tar -xf {} -C {dest} --strip-components={}",
            quote(name),
            fetch.strip_components
        )
    } else {
        format!("mkdir -p {dest} && tar -xf {} -C {dest}", quote(name))
    });
    for patch in fetch.patches {
        commands.push(format!("patch -p1 -d {dest} < {}", quote_path(patch)));
    }
    commands
}

/// The text of `reproduce.sh` for `record`: the wrapper's environment, then every step's
/// commands in order (planned commands for steps that have not run yet).
pub fn script(record: &BuildRecord, pending: &[crate::steps::PlannedStep]) -> String {
    let mut text = String::from("#!/bin/sh\n");
    let _ = writeln!(
        text,
        "# Reproduce the {} flow ({} mode) with plain commands, as kforge ran it.\n\
         # Recorded by: {}\n\
         # Result: {}\nset -eu\n",
        record.flow,
        record.mode,
        shell_line(&record.command),
        record.result
    );
    if let Some(w) = &record.wrapper {
        let _ = writeln!(text, "# compiler wrapper: {}", w.describe());
        for (k, v) in w.env() {
            let _ = writeln!(text, "export {}", assignment(&k, &v));
        }
        text.push('\n');
    }
    for step in &record.steps {
        let _ = writeln!(
            text,
            "# {} ({}, {:.1} s)",
            step.title,
            step.status,
            step.duration_ms as f64 / 1000.0
        );
        for command in &step.commands {
            let _ = writeln!(text, "{command}");
        }
        text.push('\n');
    }
    for step in pending {
        let _ = writeln!(text, "# {} (not run yet)", step.title);
        for command in &step.commands {
            let _ = writeln!(text, "{command}");
        }
        text.push('\n');
    }
    text
}

/// The name of an archive's tree: `linux-source-6.1.tar.xz` → `linux-source-6.1`, Debian's
/// `qemu_7.2+dfsg.orig.tar.xz` → `qemu-7.2+dfsg`.
pub fn archive_stem(url: &str) -> String {
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("source");
    let mut stem = name.to_string();
    for ext in [".gz", ".xz", ".bz2", ".zst", ".tgz", ".tbz2", ".txz"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s.to_string();
            break;
        }
    }
    if let Some(s) = stem.strip_suffix(".tar") {
        stem = s.to_string();
    }
    if let Some(s) = stem.strip_suffix(".orig") {
        stem = s.replacen('_', "-", 1);
    }
    if stem.is_empty() {
        "source".into()
    } else {
        stem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A make run whose prompts were answered with newlines is repeated with them, whether it
    /// succeeded or failed (an old kernel's `oldconfig` failing must not wait at a terminal).
    #[test]
    fn answered_runs_are_repeated_with_yes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Makefile"),
            "ok:\n\t@read answer\nfail:\n\t@read answer; false\nplain:\n\t@true\n",
        )
        .unwrap();
        let mut make = kforge_kbuild::Make::new(dir.path());
        make.answer_prompts_with_defaults(true).target("ok");
        let line = outcome_line(&make.run().unwrap());
        assert!(line.starts_with("yes \"\" | (cd "), "{line}");
        let mut make = kforge_kbuild::Make::new(dir.path());
        make.answer_prompts_with_defaults(true).target("fail");
        let err = make.run().expect_err("the recipe fails");
        let line = failure_line(err.failure().expect("a failure"));
        assert!(line.starts_with("yes \"\" | (cd "), "{line}");
        let mut make = kforge_kbuild::Make::new(dir.path());
        make.target("plain");
        let line = outcome_line(&make.run().unwrap());
        assert!(line.starts_with("(cd "), "{line}");
    }

    #[test]
    fn shell_metacharacters_are_quoted() {
        for word in ["a;b", "a&b", "a|b", "*", "$HOME", "it's", "", "a b"] {
            let line = quote(word);
            assert_ne!(line, word, "{word:?} left unquoted");
            assert_eq!(shlex::split(&line), Some(vec![word.to_string()]));
        }
        assert_eq!(quote("/tmp/b-1.0_x"), "/tmp/b-1.0_x");
    }

    #[test]
    fn env_changes_and_dir_reach_the_line() {
        let line = command_line(
            Path::new("/w d"),
            &[
                kforge_kbuild::EnvChange {
                    key: "LC_ALL".into(),
                    value: Some("C".into()),
                },
                kforge_kbuild::EnvChange {
                    key: "KBUILD_BUILD_USER".into(),
                    value: Some("a b".into()),
                },
                kforge_kbuild::EnvChange {
                    key: "X".into(),
                    value: None,
                },
            ],
            &["make".into(), "-C".into(), "/src".into()],
        );
        assert_eq!(
            line,
            "(cd '/w d' && env LC_ALL=C KBUILD_BUILD_USER='a b' -u X make -C /src)"
        );
    }

    #[test]
    fn fetch_lines_try_mirrors_first_and_strip_what_was_stripped() {
        let mirrors = vec!["http://m/".to_string()];
        let c = fetch_commands(&ArchiveFetch {
            url: "https://o/linux.tar.xz",
            mirrors: &mirrors,
            sha256: Some("ab"),
            strip_components: 2,
            dest: Path::new("/d"),
            patches: &[],
        });
        assert_eq!(
            c[0],
            "curl -fL -o linux.tar.xz http://m/linux.tar.xz || curl -fL -o linux.tar.xz https://o/linux.tar.xz"
        );
        assert_eq!(c[1], "echo 'ab  linux.tar.xz' | sha256sum -c -");
        assert!(c[2].ends_with("--strip-components=2"), "{}", c[2]);
    }

    #[test]
    fn archive_names() {
        assert_eq!(
            archive_stem("file:///usr/src/linux-source-6.1.tar.xz"),
            "linux-source-6.1"
        );
        assert_eq!(
            archive_stem("http://h/pool/q/qemu_7.2+dfsg.orig.tar.xz"),
            "qemu-7.2+dfsg"
        );
        assert_eq!(archive_stem("http://h/xen-3.2.0.tar.gz"), "xen-3.2.0");
    }
}
