//! The environment the kernel's top Makefile exports to `conf`, computed without running make.
//!
//! Kconfig files read environment variables through the macro language (`$(CC)`,
//! `$(KERNELVERSION)`, `$(ARCH)`, …) and run `$(shell,…)` probes with them. `make ARCH=…
//! olddefconfig` exports them from the top Makefile; [`MakeEnv::for_tree`] computes the same
//! values for a source tree and this host: `ARCH`, `SRCARCH`, `srctree`, the tool names with
//! `CROSS_COMPILE` or `LLVM` applied, `HOSTCC`, `KERNELVERSION` from the Makefile's version
//! variables and `CC_VERSION_TEXT` from the first line of `$(CC) --version`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the Makefile environment could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The top Makefile could not be read.
    #[error("cannot read {path} (is this a kernel source tree?)")]
    ReadMakefile {
        /// The Makefile.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The top Makefile has no `VERSION =` line.
    #[error("{path} has no `VERSION =` line; is this a kernel source tree?")]
    NoVersion {
        /// The Makefile.
        path: PathBuf,
    },
}

/// What make would export to `conf` for one tree, architecture and toolchain choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeEnv {
    vars: BTreeMap<String, String>,
}

/// The toolchain choice make reads from its command line or environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Toolchain {
    /// `CROSS_COMPILE` (prefix of gcc, ld, … such as `aarch64-linux-gnu-`); empty for the host.
    pub cross_compile: String,
    /// `LLVM` (`1`, a `/path/` prefix or a `-15` suffix) to use clang and the LLVM tools.
    pub llvm: String,
}

impl Toolchain {
    /// `CROSS_COMPILE` and `LLVM` from this process's environment, as make reads them.
    pub fn from_process_env() -> Toolchain {
        Toolchain {
            cross_compile: std::env::var("CROSS_COMPILE").unwrap_or_default(),
            llvm: std::env::var("LLVM").unwrap_or_default(),
        }
    }
}

impl MakeEnv {
    /// The variables `make ARCH=<arch> olddefconfig` exports for the tree at `srctree`.
    ///
    /// `arch` is the kernel's `ARCH` (`x86_64`, `i386`, `arm64`, …); `SRCARCH` is derived from it
    /// like the top Makefile does. `CC_VERSION_TEXT` runs `$(CC) --version` once (empty when the
    /// compiler is missing, as in make).
    pub fn for_tree(
        srctree: impl AsRef<Path>,
        arch: &str,
        toolchain: &Toolchain,
    ) -> Result<MakeEnv, EnvError> {
        MakeEnv::for_tree_cached(srctree, arch, toolchain, None::<&Path>)
    }

    /// [`MakeEnv::for_tree`], with `CC_VERSION_TEXT` kept in `cache_dir` (the probe cache)
    /// keyed by the identity (path, size, modification time) of the programs `$(CC)` names,
    /// so that a run with an unchanged compiler forks nothing.
    pub fn for_tree_cached(
        srctree: impl AsRef<Path>,
        arch: &str,
        toolchain: &Toolchain,
        cache_dir: Option<impl AsRef<Path>>,
    ) -> Result<MakeEnv, EnvError> {
        let cache_dir = cache_dir.as_ref().map(AsRef::as_ref);
        let srctree = srctree.as_ref();
        let makefile = srctree.join("Makefile");
        let text = std::fs::read_to_string(&makefile).map_err(|source| EnvError::ReadMakefile {
            path: makefile.clone(),
            source,
        })?;
        let version =
            makefile_var(&text, "VERSION").ok_or(EnvError::NoVersion { path: makefile })?;
        let patchlevel = makefile_var(&text, "PATCHLEVEL").unwrap_or_default();
        let sublevel = makefile_var(&text, "SUBLEVEL").unwrap_or_default();
        let extraversion = makefile_var(&text, "EXTRAVERSION").unwrap_or_default();
        let mut kernelversion = version.clone();
        if !patchlevel.is_empty() {
            kernelversion.push('.');
            kernelversion.push_str(&patchlevel);
            if !sublevel.is_empty() {
                kernelversion.push('.');
                kernelversion.push_str(&sublevel);
            }
        }
        kernelversion.push_str(&extraversion);

        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_owned(), v);
        };
        set("ARCH", arch.to_owned());
        set("SRCARCH", crate::srcarch(arch));
        set("srctree", srctree.display().to_string());
        set("objtree", ".".to_owned());
        set("VERSION", version);
        set("PATCHLEVEL", patchlevel);
        set("SUBLEVEL", sublevel);
        set("KERNELVERSION", kernelversion);
        set("CONFIG_SHELL", "sh".to_owned());
        set("CROSS_COMPILE", toolchain.cross_compile.clone());
        let cc;
        if toolchain.llvm.is_empty() {
            let p = &toolchain.cross_compile;
            cc = format!("{p}gcc");
            set("HOSTCC", "gcc".to_owned());
            set("HOSTCXX", "g++".to_owned());
            set("CC", cc.clone());
            for tool in ["ld", "ar", "nm", "objcopy", "objdump", "readelf", "strip"] {
                set(&tool.to_uppercase(), format!("{p}{tool}"));
            }
        } else {
            let (pre, suf) = if toolchain.llvm.ends_with('/') {
                (toolchain.llvm.clone(), String::new())
            } else if toolchain.llvm.starts_with('-') {
                (String::new(), toolchain.llvm.clone())
            } else {
                (String::new(), String::new())
            };
            cc = format!("{pre}clang{suf}");
            set("LLVM", toolchain.llvm.clone());
            set("HOSTCC", cc.clone());
            set("HOSTCXX", format!("{pre}clang++{suf}"));
            set("CC", cc.clone());
            set("LD", format!("{pre}ld.lld{suf}"));
            for (var, tool) in [
                ("AR", "llvm-ar"),
                ("NM", "llvm-nm"),
                ("OBJCOPY", "llvm-objcopy"),
                ("OBJDUMP", "llvm-objdump"),
                ("READELF", "llvm-readelf"),
                ("STRIP", "llvm-strip"),
            ] {
                set(var, format!("{pre}{tool}{suf}"));
            }
        }
        set("CPP", format!("{cc} -E"));
        set("HOSTRUSTC", "rustc".to_owned());
        set("RUSTC", "rustc".to_owned());
        set("RUSTDOC", "rustdoc".to_owned());
        set("RUSTFMT", "rustfmt".to_owned());
        set("BINDGEN", "bindgen".to_owned());
        set("CARGO", "cargo".to_owned());
        set("PAHOLE", "pahole".to_owned());
        set("HOSTPKG_CONFIG", "pkg-config".to_owned());
        set("PERL", "perl".to_owned());
        set("PYTHON3", "python3".to_owned());
        set("CC_VERSION_TEXT", cc_version_text_cached(&cc, cache_dir));
        Ok(MakeEnv { vars })
    }

    /// An environment from explicit variables only.
    pub fn from_vars(vars: BTreeMap<String, String>) -> MakeEnv {
        MakeEnv { vars }
    }

    /// Sets (or overrides) one variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable, sorted by name.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }
}

/// The file of `cache_dir` that keeps `CC_VERSION_TEXT` by compiler identity.
const CC_VERSION_CACHE: &str = "kconfig-cc-version-v1.json";

/// [`cc_version_text`], from `cache_dir` when the programs `cc` names are unchanged.
fn cc_version_text_cached(cc: &str, cache_dir: Option<&Path>) -> String {
    let Some(dir) = cache_dir else {
        return cc_version_text(cc);
    };
    // Looked up as the command is run: on this process's PATH.
    let env: BTreeMap<String, String> = std::env::var("PATH")
        .map(|p| BTreeMap::from([("PATH".to_owned(), p)]))
        .unwrap_or_default();
    let ids = super::probe::IdentityLookup::new(&env, None).command_identities(cc);
    if ids.is_empty() || ids.iter().any(|id| id.path.is_none()) {
        // A compiler that is not there: nothing to key on (and nothing slow to run).
        return cc_version_text(cc);
    }
    let key = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(cc.as_bytes());
        h.update(serde_json::to_vec(&ids).unwrap_or_default());
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let path = dir.join(CC_VERSION_CACHE);
    let mut known: BTreeMap<String, String> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(text) = known.get(&key) {
        return text.clone();
    }
    let text = cc_version_text(cc);
    if known.len() >= 64 {
        known.clear();
    }
    known.insert(key, text.clone());
    // Best effort: a cache that cannot be written is only slower next time.
    let written = serde_json::to_vec(&known)
        .map_err(std::io::Error::other)
        .and_then(|json| {
            std::fs::create_dir_all(dir)?;
            crate::write_atomic(&path, &json)
        });
    if let Err(e) = written {
        tracing::debug!(path = %path.display(), error = %e, "cannot write the compiler version cache");
    }
    text
}

/// `$(subst #,,$(shell LC_ALL=C $(CC) --version 2>/dev/null | head -n 1))`.
fn cc_version_text(cc: &str) -> String {
    let mut words = cc.split_whitespace();
    let Some(prog) = words.next() else {
        return String::new();
    };
    let mut command = Command::new(prog);
    command.args(words).arg("--version").env("LC_ALL", "C");
    let out = kforge_process::run(
        &mut command,
        &kforge_process::Options::new().timeout(std::time::Duration::from_secs(60)),
    );
    match out {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or("");
            // make's $(shell) turns newlines into spaces and strips the trailing one.
            first.replace('#', "").trim_end().to_owned()
        }
        Err(_) => String::new(),
    }
}

/// The value of a simple `NAME = value` assignment among the first lines of a Makefile.
fn makefile_var(text: &str, name: &str) -> Option<String> {
    for line in text.lines().take(200) {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim_end_matches([':', '?', ' ', '\t']);
        if k == name {
            return Some(v.trim().to_owned());
        }
    }
    None
}

/// The kernel Makefile's `KBUILD_DEFCONFIG` for an architecture: the file `make defconfig` uses
/// under `arch/$(SRCARCH)/configs/`. Reads `arch/$(SRCARCH)/Makefile` and resolves the
/// conditionals the kernel's architectures use (on `ARCH`, the host machine, 32/64-bit).
pub fn kbuild_defconfig(srctree: impl AsRef<Path>, arch: &str) -> String {
    let srcarch = crate::srcarch(arch);
    let path = srctree
        .as_ref()
        .join("arch")
        .join(&srcarch)
        .join("Makefile");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let host = host_machine();
    match srcarch.as_str() {
        "x86" if arch == "x86" => {
            return if host == "x86_64" {
                "x86_64_defconfig".into()
            } else {
                "i386_defconfig".into()
            };
        }
        "x86" => return format!("{arch}_defconfig"),
        "sparc" => {
            return if arch == "sparc64" {
                "sparc64_defconfig".into()
            } else {
                "sparc32_defconfig".into()
            };
        }
        "parisc" if text.contains("generic-64bit_defconfig") => {
            return if arch == "parisc64" {
                "generic-64bit_defconfig".into()
            } else {
                "generic-32bit_defconfig".into()
            };
        }
        "powerpc" if text.contains("$(uname)") => {
            return if host.starts_with("ppc") {
                format!("{host}_defconfig")
            } else {
                "ppc64_defconfig".into()
            };
        }
        _ => {}
    }
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("KBUILD_DEFCONFIG") {
            let rest = rest.trim_start();
            let value = rest
                .strip_prefix(":=")
                .or_else(|| rest.strip_prefix("?="))
                .or_else(|| rest.strip_prefix('='));
            if let Some(v) = value {
                let v = v.trim();
                if !v.is_empty() && !v.contains("$(") {
                    return v.to_owned();
                }
            }
        }
    }
    "defconfig".into()
}

/// `uname -m` of this host.
fn host_machine() -> String {
    match std::env::consts::ARCH {
        "x86" => "i686".into(),
        "powerpc64" => "ppc64le".into(),
        "powerpc" => "ppc".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makefile_vars_and_kernelversion() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Makefile"),
            "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL =\nEXTRAVERSION = -rc1\nNAME = x\n",
        )
        .unwrap();
        let env = MakeEnv::for_tree(dir.path(), "x86_64", &Toolchain::default()).unwrap();
        assert_eq!(env.get("KERNELVERSION"), Some("6.1-rc1"));
        assert_eq!(env.get("SRCARCH"), Some("x86"));
        assert_eq!(env.get("CC"), Some("gcc"));
        let llvm = Toolchain {
            llvm: "-15".into(),
            ..Toolchain::default()
        };
        let env = MakeEnv::for_tree(dir.path(), "arm64", &llvm).unwrap();
        assert_eq!(env.get("CC"), Some("clang-15"));
        assert_eq!(env.get("LD"), Some("ld.lld-15"));
    }

    /// The cached `CC_VERSION_TEXT` is the compiler's, is reused while the compiler is
    /// unchanged, and is taken again when the compiler changes.
    #[test]
    fn cc_version_text_is_cached_by_compiler_identity() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let cc = dir.path().join("fake-cc");
        let runs = dir.path().join("runs");
        let write_cc = |version: &str| {
            std::fs::write(
                &cc,
                format!(
                    "#!/bin/sh\necho run >> '{}'\necho '{version} #1'\necho second line\n",
                    runs.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        let runs_so_far = || {
            std::fs::read_to_string(&runs)
                .unwrap_or_default()
                .lines()
                .count()
        };
        write_cc("cc (kforge test) 1.0");
        let cc_str = cc.to_str().unwrap();
        assert_eq!(
            cc_version_text_cached(cc_str, Some(&cache)),
            "cc (kforge test) 1.0 1"
        );
        assert_eq!(
            cc_version_text_cached(cc_str, Some(&cache)),
            "cc (kforge test) 1.0 1"
        );
        assert_eq!(runs_so_far(), 1, "the second call must come from the cache");
        // A changed compiler (other size) is run again.
        write_cc("cc (kforge test) 2.0.1");
        assert_eq!(
            cc_version_text_cached(cc_str, Some(&cache)),
            "cc (kforge test) 2.0.1 1"
        );
        assert_eq!(runs_so_far(), 2);
        // Without a cache directory it always runs.
        assert_eq!(
            cc_version_text_cached(cc_str, None),
            "cc (kforge test) 2.0.1 1"
        );
        assert_eq!(runs_so_far(), 3);
    }
}
