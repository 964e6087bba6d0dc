//! Kernel `.config` files, fragments, merge and verification, and the Kconfig language.
//!
//! This crate is the configuration step of a kernel build:
//!
//! * [`Config`] holds a `.config` losslessly (comments, blank lines, odd spacing, a missing final
//!   newline): `parse` then `to_string` gives back the same bytes. It reads and edits values like
//!   the kernel's `scripts/config` ([`Config::enable`], [`Config::set_str`], …), with a
//!   configurable [`Prefix`] (`CONFIG_`, the kernel's `CONFIG_` environment variable, Buildroot's
//!   `BR2_`). [`Config::running`] reads the running kernel's configuration.
//! * [`Fragment`] values remember their file and line; [`merge`] applies fragments in order
//!   (later wins) and reports every override, as `merge_config.sh -m` does.
//! * [`verify`] is the check that matters after `make olddefconfig`: every requested value that
//!   did not land, what it became, why that usually happens, and which fragment line asked for it;
//!   [`verify_with_base`] adds the values that changed although nobody asked.
//! * [`BuildDir::install_config`] writes `O/.config` atomically and keeps the previous one as
//!   `.config.old`. (Whether a source tree accepts an `O=` build is the top Makefile's test and
//!   lives with the build step, `kforge-kbuild`'s `SourceTree`; [`srcarch`] gives it the
//!   `SRCARCH` for an `ARCH`.)
//! * [`Kconfig`] evaluates the Kconfig language itself, without make or a host compiler build:
//!   [`Kconfig::load`] reads a tree's `Kconfig` files with the environment the kernel's Makefile
//!   would export ([`LoadOptions`], [`MakeEnv`]), and [`Kconfig::olddefconfig`] /
//!   [`Kconfig::new_config`] ([`Target`]: `allnoconfig`, `allyesconfig`, `allmodconfig`,
//!   `alldefconfig`, `defconfig`, `NAME_defconfig`) compute a configuration with `conf`'s
//!   semantics. [`Resolved`] writes it byte for byte as `conf` does (`.config` and
//!   `make savedefconfig`'s minimal file) and reports `conf`'s warnings as typed
//!   [`Diagnostic`]s with file:line.
//!
//! The crate never prints; it emits `tracing` events and returns typed results that implement
//! `Display` (for people) and `serde::Serialize` (for scripts).
//!
//! ```
//! use kforge_kconfig::{Config, Fragment, LossReason, Mode, merge, verify_with_base};
//!
//! // The running kernel's config had modules off; a fragment asks for KVM as modules.
//! let base = Config::parse("# CONFIG_MODULES is not set\nCONFIG_VIRTUALIZATION=y\n")?;
//! let kvm = Fragment::parse("CONFIG_KVM=m\nCONFIG_KVM_INTEL=m\n", "kvm.config")?;
//! let merged = merge(&base, &[kvm]);
//!
//! // ... install merged.config into O/, run `make O=... olddefconfig`, read O/.config back:
//! let fin = Config::parse("# CONFIG_MODULES is not set\nCONFIG_VIRTUALIZATION=y\n")?;
//! let report = verify_with_base(&merged.requested, &base, &fin);
//! assert_eq!(report.lost.len(), 2);
//! assert_eq!(report.lost[0].reason, LossReason::ModulesDisabled);
//! println!("{report}");
//! assert!(report.enforce(Mode::Strict).is_err());
//! # Ok::<(), kforge_kconfig::ParseError>(())
//! ```
//!
//! Evaluating a Kconfig tree (here a small one; for a kernel, `LoadOptions::new(src)` with
//! `arch` set computes the Makefile's environment and runs its `$(shell,…)` probes):
//!
//! ```
//! use kforge_kconfig::{AllConfig, DiagnosticKind, Kconfig, LoadOptions, NewConfigOptions, Target};
//!
//! let src = tempfile::tempdir()?;
//! std::fs::write(
//!     src.path().join("Kconfig"),
//!     "mainmenu \"Demo\"\n\
//!      config MODULES\n\tbool \"Modules\"\n\tmodules\n\
//!      config NET\n\ttristate \"Networking\"\n\
//!      config WIFI\n\tbool \"Wi-Fi\"\n\tselect NET\n",
//! )?;
//! let mut opts = LoadOptions::new(src.path());
//! opts.env = Some(Default::default()); // no Makefile here: an empty environment
//! let kconfig = Kconfig::load(&opts)?;
//!
//! let all = kconfig.new_config(&Target::AllMod)?;
//! assert_eq!(
//!     all.config_str(),
//!     "#\n# Automatically generated file; DO NOT EDIT.\n# Demo\n#\n\
//!      CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_WIFI=y\n"
//! );
//!
//! // olddefconfig of an old .config: WIFI selects NET, so NET=m becomes y.
//! let old = src.path().join("old.config");
//! std::fs::write(&old, "CONFIG_MODULES=y\nCONFIG_NET=m\nCONFIG_WIFI=y\nCONFIG_GONE=y\n")?;
//! let resolved = kconfig.olddefconfig(&old)?;
//! assert_eq!(resolved.value("NET").map(|v| v.value), Some("y".to_string()));
//! let unknown = &resolved.diagnostics()[0];
//! assert!(matches!(&unknown.kind, DiagnosticKind::UnknownSymbol { name } if name == "GONE"));
//! assert_eq!(unknown.line, 4);
//! assert_eq!(resolved.to_savedefconfig_string(), "CONFIG_MODULES=y\nCONFIG_WIFI=y\n");
//!
//! // make KCONFIG_ALLCONFIG=keep.config allnoconfig: the file's values stay.
//! let keep = src.path().join("keep.config");
//! std::fs::write(&keep, "CONFIG_WIFI=y\n")?;
//! let with_keep = NewConfigOptions::default().allconfig(AllConfig::File(keep));
//! let small = kconfig.new_config_with(&Target::AllNo, &with_keep)?;
//! assert_eq!(small.value("NET").map(|v| v.value), Some("y".to_string()));
//!
//! // A tree with a recursive dependency is refused, with the kernel's explanation.
//! std::fs::write(
//!     src.path().join("Kconfig"),
//!     "config A\n\tbool \"a\"\n\tdepends on B\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
//! )?;
//! let err = Kconfig::load(&opts).unwrap_err();
//! assert!(matches!(err, kforge_kconfig::LoadError::RecursiveDependency(_)));
//! assert!(err.to_string().contains(":error: recursive dependency detected!\n"));
//! assert!(err.to_string().contains("Kconfig:1:\tsymbol A depends on B\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod arch;
mod atomic;
mod build_dir;
mod config;
mod diff;
mod fragment;
mod kconfig_index;
pub mod lang;
mod merge;
mod running;
mod value;
mod verify;
mod verify_why;

pub use arch::{host_srcarch, srcarch};
pub use atomic::write_atomic;
pub use build_dir::{BuildDir, InstallError, Installed};
pub use config::{Config, EditError, ParseError, ReadError, SetValError, WriteError};
pub use diff::{Changed, ConfigDiff, diff};
pub use fragment::{Assignment, Fragment, Source};
pub use kconfig_index::{IndexError, KconfigIndex, SymbolDefinition};
pub use lang::{
    AllConfig, Diagnostic, DiagnosticKind, EnvError, Kconfig, LoadError, LoadOptions, MakeEnv,
    NewConfigOptions, RecursiveDependencyError, ResolveError, Resolved, SymbolValue, Target,
    TargetParseError, Toolchain,
};
pub use merge::{MergeOptions, MergeReport, Merged, Override, Requested, merge, merge_with};
pub use running::{Attempt, RunningConfig, RunningError, RunningLocator, RunningSource};
pub use value::{Prefix, Value, ValueError};
pub use verify::{
    ChangeKind, DependencyValue, LossReason, Lost, Mode, UnrequestedChange, Verification,
    VerifyError, verify, verify_with_base,
};
