//! Identifying one compiler binary from its predefined macros and `-dumpmachine`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::command::{self, CommandFailure};
use crate::family::Family;
use crate::version::Version;

/// What a compiler says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// GCC or Clang.
    pub family: Family,
    /// The full version from the predefined macros (`__GNUC__.__GNUC_MINOR__.__GNUC_PATCHLEVEL__`
    /// or the `__clang_*__` triple): the same as GCC 7+'s `-dumpfullversion`.
    pub version: Version,
    /// The target triple from `-dumpmachine`, e.g. `x86_64-linux-gnu`.
    pub target: String,
}

/// Why a program could not be identified as a C compiler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program is not on `PATH` (or the given path does not exist).
    #[error("{program:?} was not found on PATH ({path})")]
    NotFound {
        /// The program that was looked up.
        program: String,
        /// The search path that was used.
        path: String,
    },
    /// A symlink with a compiler's name points at nothing.
    #[error("{} is a dangling symlink to {}", path.display(), target.display())]
    DanglingSymlink {
        /// The symlink.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// Printing the predefined macros failed.
    #[error("could not read the predefined macros: {0}")]
    Macros(CommandFailure),
    /// The program ran but printed no `#define` lines, or none of GCC's or Clang's.
    #[error(
        "not a GCC or Clang C compiler: `{command}` printed no __GNUC__/__clang__ macro (output began: {output:?})"
    )]
    NotACompiler {
        /// The command that ran.
        command: String,
        /// The start of what it printed.
        output: String,
    },
    /// A version macro was missing or not a number.
    #[error("`{command}` printed an unreadable version: {macro_name} = {value:?}")]
    BadVersion {
        /// The command that ran.
        command: String,
        /// The macro that was read.
        macro_name: String,
        /// Its value (empty when missing).
        value: String,
    },
    /// `-dumpmachine` failed.
    #[error("could not read the target triple: {0}")]
    Target(CommandFailure),
    /// `-dumpmachine` printed something that is not a target triple.
    #[error("`{command}` printed {output:?}, which is not a target triple like x86_64-linux-gnu")]
    BadTarget {
        /// The command that ran.
        command: String,
        /// What it printed.
        output: String,
    },
}

pub(crate) fn macro_args() -> Vec<OsString> {
    ["-dM", "-E", "-x", "c", "/dev/null"]
        .iter()
        .map(OsString::from)
        .collect()
}

/// Parse `-dM -E` output: `#define NAME VALUE` per line.
pub(crate) fn parse_macros(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("#define "))
        .map(|rest| match rest.split_once(' ') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (rest.to_string(), String::new()),
        })
        .collect()
}

/// Run `-dM -E` and return the macros, or the failure.
pub(crate) fn read_macros(
    program: &Path,
    timeout: Duration,
    interrupt: Option<&AtomicBool>,
) -> Result<(String, BTreeMap<String, String>, String), CommandFailure> {
    let args = macro_args();
    let shown = command::display_command(program, &args);
    match command::run_interruptible(program, &args, None, timeout, interrupt) {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            Ok((shown, parse_macros(&text), text))
        }
        Ok(out) => Err(out.failure(shown)),
        Err(e) => Err(e.failure(shown)),
    }
}

fn version_from(
    command: &str,
    macros: &BTreeMap<String, String>,
    names: [&str; 3],
) -> Result<Version, Error> {
    let mut parts = [0u32; 3];
    for (part, name) in parts.iter_mut().zip(names) {
        let value = macros.get(name).map(String::as_str).unwrap_or("");
        *part = value.trim().parse().map_err(|_| Error::BadVersion {
            command: command.to_string(),
            macro_name: name.to_string(),
            value: value.to_string(),
        })?;
    }
    Ok(Version::new(parts[0], parts[1], parts[2]))
}

/// Family and version from predefined macros.
pub(crate) fn family_and_version(
    command: &str,
    macros: &BTreeMap<String, String>,
    raw: &str,
) -> Result<(Family, Version), Error> {
    if macros.contains_key("__clang__") {
        let v = version_from(
            command,
            macros,
            ["__clang_major__", "__clang_minor__", "__clang_patchlevel__"],
        )?;
        Ok((Family::Clang, v))
    } else if macros.contains_key("__GNUC__") {
        // __GNUC_PATCHLEVEL__ exists since GCC 3.0; before that it reads as 0.
        let mut with_patch = macros.clone();
        with_patch
            .entry("__GNUC_PATCHLEVEL__".to_string())
            .or_insert_with(|| "0".to_string());
        let v = version_from(
            command,
            &with_patch,
            ["__GNUC__", "__GNUC_MINOR__", "__GNUC_PATCHLEVEL__"],
        )?;
        Ok((Family::Gcc, v))
    } else {
        let mut output: String = raw.chars().take(120).collect();
        if output.len() < raw.len() {
            output.push('…');
        }
        Err(Error::NotACompiler {
            command: command.to_string(),
            output,
        })
    }
}

fn looks_like_triple(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        })
}

/// Identify the compiler at `program` (an absolute path).
pub(crate) fn identify(
    program: &Path,
    timeout: Duration,
    interrupt: Option<&AtomicBool>,
) -> Result<Identity, Error> {
    // The two runs are independent: run them at the same time (clang's -dumpmachine alone costs
    // as much as its preprocessor run).
    let args = vec![OsString::from("-dumpmachine")];
    let shown = command::display_command(program, &args);
    let (macros, target) = std::thread::scope(|scope| {
        let target =
            scope.spawn(|| command::run_interruptible(program, &args, None, timeout, interrupt));
        let macros = read_macros(program, timeout, interrupt);
        let target = target.join().unwrap_or_else(|_| {
            Err(command::RunError::Io(std::io::Error::other(
                "thread panicked",
            )))
        });
        (macros, target)
    });
    let (command, macros, raw) = macros.map_err(Error::Macros)?;
    let (family, version) = family_and_version(&command, &macros, &raw)?;
    let out = target.map_err(|e| Error::Target(e.failure(shown.clone())))?;
    if !out.status.success() {
        return Err(Error::Target(out.failure(shown)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let target = checked_target(&shown, &text)?;
    Ok(Identity {
        family,
        version,
        target,
    })
}

fn checked_target(command: &str, output: &str) -> Result<String, Error> {
    let target = output.trim();
    if !looks_like_triple(target) {
        return Err(Error::BadTarget {
            command: command.to_string(),
            output: target.to_string(),
        });
    }
    Ok(target.to_string())
}

impl Identity {
    /// Identify a compiler from what it printed, as [`Compiler`](crate::Compiler) does after
    /// running it: `macros` is the output of `PROGRAM -dM -E -x c /dev/null`, `target` the
    /// output of `PROGRAM -dumpmachine`; `program` names the commands in errors.
    ///
    /// ```
    /// use kforge_toolchain::{Family, Identity, Version};
    ///
    /// let macros = "#define __GNUC__ 4\n#define __GNUC_MINOR__ 2\n#define __GNUC_PATCHLEVEL__ 1\n\
    ///               #define __clang__ 1\n#define __clang_major__ 14\n\
    ///               #define __clang_minor__ 0\n#define __clang_patchlevel__ 6\n";
    /// let id = Identity::from_outputs("/usr/bin/clang-14", macros, "x86_64-pc-linux-gnu\n")?;
    /// assert_eq!((id.family, id.version), (Family::Clang, Version::new(14, 0, 6)));
    /// assert_eq!(id.target, "x86_64-pc-linux-gnu");
    /// # Ok::<(), kforge_toolchain::identify::Error>(())
    /// ```
    pub fn from_outputs(
        program: impl AsRef<Path>,
        macros: &str,
        target: &str,
    ) -> Result<Identity, Error> {
        let program = program.as_ref();
        let command = command::display_command(program, &macro_args());
        let (family, version) = family_and_version(&command, &parse_macros(macros), macros)?;
        let shown = command::display_command(program, &[OsString::from("-dumpmachine")]);
        let target = checked_target(&shown, target)?;
        Ok(Identity {
            family,
            version,
            target,
        })
    }
}

/// Find `program` like a shell does: a name without `/` is looked up in `path` (a `PATH`-style
/// list); a name with `/` is used as is (relative to the current directory).
pub(crate) fn resolve_program(
    program: &str,
    path: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, Error> {
    let not_found = || Error::NotFound {
        program: program.to_string(),
        path: path
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "PATH is not set".to_string()),
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        let p = if p.is_absolute() {
            p
        } else {
            std::env::current_dir().map_err(|_| not_found())?.join(p)
        };
        return if crate::discover::is_executable(&p) {
            Ok(p)
        } else {
            Err(not_found())
        };
    }
    let path = path.ok_or_else(not_found)?;
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| crate::discover::is_executable(candidate))
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcc_macros_give_the_full_version() {
        let raw = "#define __GNUC__ 3\n#define __GNUC_MINOR__ 4\n#define __GNUC_PATCHLEVEL__ 6\n#define __STDC__ 1\n#define __i386 1\n#define __EMPTY\n";
        let m = parse_macros(raw);
        assert_eq!(m.get("__EMPTY").map(String::as_str), Some(""));
        assert_eq!(
            family_and_version("gcc-3.4", &m, raw).unwrap(),
            (Family::Gcc, Version::new(3, 4, 6))
        );
    }

    #[test]
    fn clang_wins_over_its_gnuc_compatibility_macros() {
        let raw = "#define __GNUC__ 4\n#define __GNUC_MINOR__ 2\n#define __GNUC_PATCHLEVEL__ 1\n#define __clang__ 1\n#define __clang_major__ 14\n#define __clang_minor__ 0\n#define __clang_patchlevel__ 6\n";
        let m = parse_macros(raw);
        assert_eq!(
            family_and_version("clang", &m, raw).unwrap(),
            (Family::Clang, Version::new(14, 0, 6))
        );
    }

    #[test]
    fn garbage_and_broken_versions_are_errors() {
        let raw = "hello world\n";
        let err = family_and_version("x", &parse_macros(raw), raw).unwrap_err();
        assert!(matches!(err, Error::NotACompiler { ref output, .. } if output == "hello world\n"));
        let raw = "#define __GNUC__ twelve\n#define __GNUC_MINOR__ 2\n";
        let err = family_and_version("x", &parse_macros(raw), raw).unwrap_err();
        assert!(
            matches!(err, Error::BadVersion { ref macro_name, ref value, .. } if macro_name == "__GNUC__" && value == "twelve")
        );
        assert!(looks_like_triple("x86_64-linux-gnu"));
        assert!(looks_like_triple("arm-none-eabi"));
        assert!(!looks_like_triple("gcc: fatal error"));
        assert!(!looks_like_triple(""));
    }
}
