//! The compiler settings of a kernel build: `CC`, `HOSTCC`, `CROSS_COMPILE`, `LLVM`.

use std::ffi::OsString;

use crate::compiler::Compiler;
use crate::family::Family;
use crate::identify;

/// The compiler settings of a kernel build, as the kernel's top-level Makefile reads them.
///
/// # Precedence
///
/// Linux's Makefile (6.1, and every release since `LLVM=` appeared in 5.7) resolves the compilers
/// this way, and [`Toolchain::cc_command`] / [`Toolchain::hostcc_command`] do the same:
///
/// | variable | value used |
/// |---|---|
/// | `CC` | `CC` if given; else with `LLVM` set: `$(LLVM)clang` when `LLVM` ends in `/`, `clang$(LLVM)` when it starts with `-`, `clang` otherwise; else `$(CROSS_COMPILE)gcc` |
/// | `HOSTCC` | `HOSTCC` if given; else the same `clang` as above when `LLVM` is set; else `gcc` |
/// | `CROSS_COMPILE` | prefixes `gcc` and the binutils; with `LLVM`, it only sets clang's `--target` |
///
/// An empty value counts as unset (the Makefile tests `ifneq ($(LLVM),)`).
///
/// The Makefile *assigns* `CC` and `HOSTCC`, so make ignores them when they only come from the
/// environment (`CC=clang make` builds with gcc); `CROSS_COMPILE` and `LLVM` work from the
/// environment because the Makefile never assigns them. That is why [`Toolchain::make_vars`] returns
/// every setting as a make command-line variable, where all four take effect.
///
/// ```
/// use kforge_toolchain::Toolchain;
///
/// let tc = Toolchain::from_vars(|var| match var {
///     "LLVM" => Some("-15".into()),
///     "CROSS_COMPILE" => Some("aarch64-linux-gnu-".into()),
///     _ => None,
/// })?;
/// assert_eq!(tc.cc_command(), "clang-15");
/// assert_eq!(tc.hostcc_command(), "clang-15");
/// assert_eq!(
///     tc.make_vars(),
///     [("CROSS_COMPILE".to_string(), "aarch64-linux-gnu-".to_string()),
///      ("LLVM".to_string(), "-15".to_string())]
/// );
/// # Ok::<(), kforge_toolchain::toolchain::EnvError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Toolchain {
    /// `CC`: the target compiler, when set explicitly.
    pub cc: Option<String>,
    /// `HOSTCC`: the compiler for build-time host programs, when set explicitly.
    pub hostcc: Option<String>,
    /// `CROSS_COMPILE`: the prefix of the target's `gcc` and binutils (`aarch64-linux-gnu-`).
    pub cross_compile: Option<String>,
    /// `LLVM`: `1`, a version suffix (`-15`) or a directory prefix ending in `/`.
    pub llvm: Option<String>,
}

/// Why the environment could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A variable holds bytes that are not UTF-8.
    #[error("environment variable {var} is not valid UTF-8: {value:?}")]
    NotUnicode {
        /// The variable.
        var: String,
        /// Its value, lossily decoded.
        value: String,
    },
}

impl Toolchain {
    /// Read `CC`, `HOSTCC`, `CROSS_COMPILE` and `LLVM` from the process environment.
    pub fn from_env() -> Result<Toolchain, EnvError> {
        Toolchain::from_vars(|var| std::env::var_os(var))
    }

    /// Read the four variables through `lookup` (for tests, or a recorded build environment).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Toolchain, EnvError> {
        let get = |var: &str| -> Result<Option<String>, EnvError> {
            match lookup(var) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v.into_string().map(Some).map_err(|v| EnvError::NotUnicode {
                    var: var.to_string(),
                    value: v.to_string_lossy().into_owned(),
                }),
            }
        };
        Ok(Toolchain {
            cc: get("CC")?,
            hostcc: get("HOSTCC")?,
            cross_compile: get("CROSS_COMPILE")?,
            llvm: get("LLVM")?,
        })
    }

    /// The settings that build with `compiler`:
    /// - GCC: `CC=<command>`; a cross compiler with a triple-named alias also gets
    ///   `CROSS_COMPILE=<triple>-` (so `ld`, `objcopy`… match), and `CC` is left out when it
    ///   would be exactly `<triple>-gcc`.
    /// - Clang: `LLVM=1` when invoked as `clang`, `LLVM=-N` as `clang-N`, `LLVM=/dir/` when its
    ///   command is an absolute path to a file named `clang`. `LLVM=` also makes the kernel link
    ///   with `ld.lld` (and use the `llvm-*` binutils), so it is chosen only when the matching
    ///   `ld.lld[-N]` sits beside the compiler (Debian: package `lld-N`); otherwise the result is
    ///   `CC=<command>` with GNU binutils. See also [`Toolchain::without_llvm`].
    pub fn for_compiler(compiler: &Compiler) -> Toolchain {
        let mut tc = Toolchain::default();
        match compiler.family {
            Family::Gcc => match (&compiler.cross_prefix, compiler.native) {
                (Some(prefix), false) => {
                    tc.cross_compile = Some(prefix.clone());
                    if compiler.command != format!("{prefix}gcc") {
                        tc.cc = Some(compiler.command.clone());
                    }
                }
                _ => tc.cc = Some(compiler.command.clone()),
            },
            Family::Clang => {
                let command = compiler.command.as_str();
                let lld_beside = |name: &str| {
                    compiler
                        .path
                        .parent()
                        .is_some_and(|dir| dir.join(name).is_file())
                };
                if command == "clang" && lld_beside("ld.lld") {
                    tc.llvm = Some("1".to_string());
                } else if let Some(suffix) = command.strip_prefix("clang")
                    && suffix.starts_with('-')
                    && !suffix.contains('/')
                    && lld_beside(&format!("ld.lld{suffix}"))
                {
                    tc.llvm = Some(suffix.to_string());
                } else if let Some(dir) = command.strip_suffix("/clang")
                    && command.starts_with('/')
                    && lld_beside("ld.lld")
                {
                    tc.llvm = Some(format!("{dir}/"));
                } else {
                    tc.cc = Some(command.to_string());
                }
                if !compiler.native {
                    tc.cross_compile = compiler.cross_prefix.clone();
                }
            }
        }
        tc
    }

    /// Use clang as `CC` only (with GNU binutils), instead of `LLVM=` (which also needs `ld.lld`
    /// and the `llvm-*` tools, and which kernels before 5.7 do not know).
    pub fn without_llvm(mut self) -> Toolchain {
        if self.llvm.is_some() {
            let cc = self.cc_command();
            self.llvm = None;
            self.cc = Some(cc);
        }
        self
    }

    /// Use `compiler` for host programs (`HOSTCC`).
    pub fn with_hostcc(mut self, compiler: &Compiler) -> Toolchain {
        self.hostcc = Some(compiler.command.clone());
        self
    }

    fn llvm_clang(&self) -> Option<String> {
        self.llvm.as_deref().map(|llvm| {
            if llvm.ends_with('/') {
                format!("{llvm}clang")
            } else if llvm.starts_with('-') {
                format!("clang{llvm}")
            } else {
                "clang".to_string()
            }
        })
    }

    /// The target compiler the kernel's Makefile would run with these settings.
    pub fn cc_command(&self) -> String {
        if let Some(cc) = &self.cc {
            return cc.clone();
        }
        if let Some(clang) = self.llvm_clang() {
            return clang;
        }
        format!("{}gcc", self.cross_compile.as_deref().unwrap_or(""))
    }

    /// The host compiler the kernel's Makefile would run with these settings.
    pub fn hostcc_command(&self) -> String {
        if let Some(hostcc) = &self.hostcc {
            return hostcc.clone();
        }
        self.llvm_clang().unwrap_or_else(|| "gcc".to_string())
    }

    /// The settings as make command-line variables, in the order `CROSS_COMPILE`, `LLVM`, `CC`,
    /// `HOSTCC`; unset ones are left out.
    pub fn make_vars(&self) -> Vec<(String, String)> {
        [
            ("CROSS_COMPILE", &self.cross_compile),
            ("LLVM", &self.llvm),
            ("CC", &self.cc),
            ("HOSTCC", &self.hostcc),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
        .collect()
    }

    /// Configure-style arguments naming the target compiler with a caller-chosen flag:
    /// `configure_args("--qemu-cc")` is `["--qemu-cc=gcc-3.4"]`.
    pub fn configure_args(&self, cc_flag: &str) -> Vec<String> {
        vec![format!(
            "{}={}",
            cc_flag.trim_end_matches('='),
            self.cc_command()
        )]
    }

    /// Identify the target compiler ([`Toolchain::cc_command`]) on the process's `PATH`.
    pub fn identify_cc(&self) -> Result<Compiler, identify::Error> {
        Compiler::identify(&self.cc_command())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tc(vars: &[(&str, &str)]) -> Toolchain {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Toolchain::from_vars(|k| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| OsString::from(v))
        })
        .unwrap()
    }

    #[test]
    fn defaults_are_the_kernels() {
        let t = tc(&[]);
        assert_eq!(t.cc_command(), "gcc");
        assert_eq!(t.hostcc_command(), "gcc");
        assert!(t.make_vars().is_empty());
    }

    #[test]
    fn cross_compile_prefixes_gcc_but_not_hostcc() {
        let t = tc(&[("CROSS_COMPILE", "aarch64-linux-gnu-")]);
        assert_eq!(t.cc_command(), "aarch64-linux-gnu-gcc");
        assert_eq!(t.hostcc_command(), "gcc");
    }

    #[test]
    fn llvm_forms_follow_the_makefile() {
        assert_eq!(tc(&[("LLVM", "1")]).cc_command(), "clang");
        assert_eq!(tc(&[("LLVM", "-15")]).cc_command(), "clang-15");
        assert_eq!(
            tc(&[("LLVM", "/usr/lib/llvm-15/bin/")]).hostcc_command(),
            "/usr/lib/llvm-15/bin/clang"
        );
        // LLVM wins over CROSS_COMPILE for CC; an explicit CC wins over both.
        let t = tc(&[("LLVM", "1"), ("CROSS_COMPILE", "arm-linux-gnueabi-")]);
        assert_eq!(t.cc_command(), "clang");
        let t = tc(&[("LLVM", "1"), ("CC", "gcc-11"), ("HOSTCC", "gcc-12")]);
        assert_eq!(t.cc_command(), "gcc-11");
        assert_eq!(t.hostcc_command(), "gcc-12");
        assert_eq!(
            t.make_vars(),
            [
                ("LLVM".to_string(), "1".to_string()),
                ("CC".to_string(), "gcc-11".to_string()),
                ("HOSTCC".to_string(), "gcc-12".to_string())
            ]
        );
        // Empty counts as unset.
        assert_eq!(tc(&[("LLVM", ""), ("CC", "")]).cc_command(), "gcc");
        assert_eq!(
            tc(&[("LLVM", "-15")]).without_llvm().make_vars(),
            [("CC".to_string(), "clang-15".to_string())]
        );
        assert_eq!(
            tc(&[("CC", "gcc-3.4")]).configure_args("--qemu-cc="),
            ["--qemu-cc=gcc-3.4"]
        );
    }

    fn fake_compiler(
        family: Family,
        dir: &std::path::Path,
        command: &str,
        target: &str,
    ) -> Compiler {
        let path = dir.join(command.rsplit('/').next().unwrap());
        std::fs::write(&path, "").unwrap();
        Compiler::from_parts(
            crate::Identity {
                family,
                version: crate::Version::new(15, 0, 7),
                target: target.to_string(),
            },
            command.to_string(),
            path.clone(),
            path.clone(),
            vec![command.to_string()],
            vec![path],
            crate::discover::classify_name(command.rsplit('/').next().unwrap())
                .and_then(|c| c.cross_prefix),
            crate::DEFAULT_TIMEOUT,
        )
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn clang_gets_llvm_only_when_lld_is_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let native = format!("{}-linux-gnu", std::env::consts::ARCH);
        let clang15 = fake_compiler(Family::Clang, dir.path(), "clang-15", &native);
        let clang = fake_compiler(Family::Clang, dir.path(), "clang", &native);
        assert_eq!(clang15.make_vars(), vars(&[("CC", "clang-15")]));
        assert_eq!(clang.make_vars(), vars(&[("CC", "clang")]));
        std::fs::write(dir.path().join("ld.lld-15"), "").unwrap();
        assert_eq!(clang15.make_vars(), vars(&[("LLVM", "-15")]));
        assert_eq!(clang.make_vars(), vars(&[("CC", "clang")]));
        std::fs::write(dir.path().join("ld.lld"), "").unwrap();
        assert_eq!(clang.make_vars(), vars(&[("LLVM", "1")]));
        let by_path = format!("{}/clang", dir.path().display());
        let clang_abs = fake_compiler(Family::Clang, dir.path(), &by_path, &native);
        assert_eq!(
            clang_abs.make_vars(),
            vars(&[("LLVM", &format!("{}/", dir.path().display()))])
        );
        assert_eq!(
            Toolchain::for_compiler(&clang15).without_llvm().make_vars(),
            vars(&[("CC", "clang-15")])
        );
    }

    #[test]
    fn a_cross_gcc_sets_cross_compile() {
        let dir = tempfile::tempdir().unwrap();
        // A target that is never the host of these tests' machines.
        let target = if std::env::consts::ARCH == "riscv64" {
            "s390x-linux-gnu"
        } else {
            "riscv64-linux-gnu"
        };
        let versioned = fake_compiler(Family::Gcc, dir.path(), &format!("{target}-gcc-12"), target);
        assert!(!versioned.native);
        assert_eq!(
            versioned.make_vars(),
            vars(&[
                ("CROSS_COMPILE", &format!("{target}-")),
                ("CC", &format!("{target}-gcc-12"))
            ])
        );
        let plain = fake_compiler(Family::Gcc, dir.path(), &format!("{target}-gcc"), target);
        assert_eq!(
            plain.make_vars(),
            vars(&[("CROSS_COMPILE", &format!("{target}-"))])
        );
        let native = format!("{}-linux-gnu", std::env::consts::ARCH);
        let triple_native = fake_compiler(
            Family::Gcc,
            dir.path(),
            &format!("{native}-gcc-12"),
            &native,
        );
        assert_eq!(
            triple_native.make_vars(),
            vars(&[("CC", &format!("{native}-gcc-12"))])
        );
    }

    #[test]
    fn non_unicode_values_are_reported() {
        use std::os::unix::ffi::OsStringExt;
        let err = Toolchain::from_vars(|k| (k == "CC").then(|| OsString::from_vec(vec![0xff])))
            .unwrap_err();
        assert!(matches!(err, EnvError::NotUnicode { ref var, .. } if var == "CC"));
    }
}
