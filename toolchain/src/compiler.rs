//! One identified C compiler and what a build needs from it.

use std::path::PathBuf;
use std::time::Duration;

use crate::family::Family;
use crate::identify::{self, Identity};
use crate::toolchain::Toolchain;
use crate::version::Version;

/// The deadline for one compiler run unless the caller sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An identified C compiler, as found on `PATH` by [`crate::Discovery`] or named by the caller
/// ([`Compiler::identify`]).
///
/// Symlinks and hard links to the same binary are one compiler: `names` lists every name on
/// `PATH` that runs it (`gcc-12`, `gcc`, `cc`, `x86_64-linux-gnu-gcc-12`, …), best first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Compiler {
    /// GCC or Clang.
    pub family: Family,
    /// The full version, from the predefined macros.
    pub version: Version,
    /// The target triple from `-dumpmachine`.
    pub target: String,
    /// Whether the compiler builds for the machine it runs on (same CPU architecture).
    pub native: bool,
    /// The `CROSS_COMPILE` prefix its triple-named alias gives (`x86_64-linux-gnu-`), if it has one.
    pub cross_prefix: Option<String>,
    /// How a build should invoke it: its best name on `PATH` (`gcc-12`), or its absolute path
    /// when no name of it resolves to it through `PATH`.
    pub command: String,
    /// The absolute path that was run to identify it (`command` looked up on `PATH`).
    pub path: PathBuf,
    /// The binary all its names lead to (symlinks resolved).
    pub canonical_path: PathBuf,
    /// Every name on `PATH` that runs this compiler, best first (versioned family name, plain
    /// family name, triple-prefixed names, `cc`).
    pub names: Vec<String>,
    /// Every `PATH` entry that leads to it, in `PATH` order, including entries shadowed by an
    /// earlier directory.
    pub paths: Vec<PathBuf>,
    #[serde(skip)]
    pub(crate) timeout: Duration,
    /// Position of its first name in the scan, in `PATH` order.
    #[serde(skip)]
    pub(crate) path_order: usize,
}

impl Compiler {
    /// Identify one program, looked up on the current `PATH` when it has no `/` (`"gcc-11"`,
    /// `"/opt/gcc-3.4/bin/gcc"`). See [`Compiler::identify_in`] for an explicit search path.
    /// Uses the same process-wide identity cache as [`crate::Discovery`].
    pub fn identify(program: &str) -> Result<Compiler, identify::Error> {
        Compiler::identify_in(program, std::env::var_os("PATH").as_deref())
    }

    /// Identify one program, looked up in `search_path` (a `PATH`-style list) when it has no `/`.
    pub fn identify_in(
        program: &str,
        search_path: Option<&std::ffi::OsStr>,
    ) -> Result<Compiler, identify::Error> {
        let path = identify::resolve_program(program, search_path)?;
        let identity = crate::discover::identify_cached(&path, DEFAULT_TIMEOUT)?;
        let canonical_path = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cross_prefix = crate::discover::classify_name(&name).and_then(|c| c.cross_prefix);
        Ok(Compiler::from_parts(
            identity,
            program.to_string(),
            path.clone(),
            canonical_path,
            vec![name],
            vec![path],
            cross_prefix,
            DEFAULT_TIMEOUT,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        identity: Identity,
        command: String,
        path: PathBuf,
        canonical_path: PathBuf,
        names: Vec<String>,
        paths: Vec<PathBuf>,
        cross_prefix: Option<String>,
        timeout: Duration,
    ) -> Compiler {
        let native = is_native_target(&identity.target);
        Compiler {
            family: identity.family,
            version: identity.version,
            target: identity.target,
            native,
            cross_prefix,
            command,
            path,
            canonical_path,
            names,
            paths,
            timeout,
            path_order: 0,
        }
    }

    /// The deadline for each probe run of this compiler (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Compiler {
        self.timeout = timeout;
        self
    }

    /// A one-line description: `gcc-12 (GCC 12.2.0, x86_64-linux-gnu)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} {}, {})",
            self.command, self.family, self.version, self.target
        )
    }

    /// The kernel make variables that build with this compiler; see [`Toolchain::for_compiler`].
    ///
    /// GCC gives `CC=gcc-11` (plus `CROSS_COMPILE=prefix` for a cross compiler); Clang gives
    /// `LLVM=1` for `clang`, `LLVM=-15` for `clang-15`, or `LLVM=/dir/` for a `clang` outside `PATH`.
    pub fn make_vars(&self) -> Vec<(String, String)> {
        Toolchain::for_compiler(self).make_vars()
    }

    /// A configure-style argument that names this compiler for a caller-chosen flag:
    /// `configure_arg("--qemu-cc")` is `--qemu-cc=gcc-3.4`. A trailing `=` on the flag is optional.
    pub fn configure_arg(&self, flag: &str) -> String {
        format!("{}={}", flag.trim_end_matches('='), self.command)
    }
}

/// The CPU architecture of a target triple, normalised the way Rust names the host's.
fn triple_arch(triple: &str) -> &str {
    let arch = triple.split('-').next().unwrap_or("");
    match arch {
        "i386" | "i486" | "i586" | "i686" => "x86",
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        a if a.starts_with("armv") || a == "armhf" || a == "armel" => "arm",
        "ppc64" | "powerpc64le" | "ppc64le" => "powerpc64",
        "ppc" => "powerpc",
        a => a,
    }
}

pub(crate) fn is_native_target(target: &str) -> bool {
    triple_arch(target) == std::env::consts::ARCH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triple_architectures_normalise() {
        assert_eq!(triple_arch("x86_64-linux-gnu"), "x86_64");
        assert_eq!(triple_arch("x86_64-pc-linux-gnu"), "x86_64");
        assert_eq!(triple_arch("i686-linux-gnu"), "x86");
        assert_eq!(triple_arch("armv7l-unknown-linux-gnueabihf"), "arm");
        assert_eq!(triple_arch("aarch64-linux-gnu"), "aarch64");
        assert_eq!(
            is_native_target("aarch64-linux-gnu"),
            std::env::consts::ARCH == "aarch64"
        );
    }
}
