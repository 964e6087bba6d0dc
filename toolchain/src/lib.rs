//! Find, identify and select the C compilers on a machine, and say how a build should use them.
//!
//! Old source trees want old compilers: QEMU 0.9 (and so KVM's userland in 2008) needs GCC 3.2–3.4,
//! a 2.6.18 kernel predates every GCC a current distribution ships, and a modern kernel wants a
//! recent GCC or Clang. This crate answers "which compilers do I have, which one fits, and how do I
//! tell make or configure to use it":
//!
//! - [`Discovery`] scans a search path for `cc`, `gcc`, `gcc-N[.M]`, `clang`, `clang-N`,
//!   `<triple>-gcc[-N]`; groups symlinks and hard links of one binary into one [`Compiler`] with all
//!   its names; identifies each binary once, concurrently, from its predefined macros (which work
//!   from GCC 3.x to today, unlike `-dumpfullversion` or `--version` text) and `-dumpmachine`;
//!   and reports broken binaries in [`Discovered::broken`] instead of failing.
//! - [`Requirement`] (`gcc >=3.2, <4`, `gcc-11`, `clang >=14`, `any >=10`) and
//!   [`Discovered::select`] pick the newest match, or explain the miss: what was found and which
//!   Debian/Ubuntu package would provide a match ([`select::Error`]).
//! - [`Toolchain`] turns a compiler, or the `CC`/`HOSTCC`/`CROSS_COMPILE`/`LLVM` environment, into
//!   kernel make variables and configure arguments.
//! - [`Wrapper`] puts a compiler cache or distributed compilation (`ccache`, `sccache`,
//!   `distcc`, icecream's `icecc`) in front of both `CC` and `HOSTCC`, with the environment
//!   it needs and, for distcc, the `-j` its host slots allow.
//! - Probes on a [`Compiler`]: [`Compiler::supports_flag`] (the kernel's `cc-option`),
//!   [`Compiler::compile_to_asm`], [`Compiler::predefined_macros`].
//!
//! The crate never prints: results are values, failures are one error enum per operation carrying
//! the command that ran, its exit status and its stderr, and progress goes to `tracing`.
//!
//! ```
//! use kforge_toolchain::{Discovery, Requirement};
//!
//! let found = Discovery::new().run()?;
//! let any: Requirement = "any".parse()?;
//! match found.select(&any) {
//!     Ok(cc) => {
//!         assert!(cc.names.contains(&cc.command) || cc.command.starts_with('/'));
//!         println!("{} → make {:?}", cc.describe(), cc.make_vars());
//!     }
//!     // No compiler at all: the error lists what was found and what to install.
//!     Err(e) => println!("{e}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod command;
mod compiler;
pub mod discover;
mod family;
pub mod identify;
pub mod packages;
pub mod probe;
pub mod requirement;
pub mod select;
pub mod toolchain;
mod version;
pub mod wrapper;

pub use command::CommandFailure;
pub use compiler::{Compiler, DEFAULT_TIMEOUT};
pub use discover::{BrokenCompiler, Discovered, Discovery, discover};
pub use family::Family;
pub use identify::Identity;
pub use packages::PackageAdvice;
pub use requirement::{FamilyFilter, Requirement};
pub use select::{Preference, Selection};
pub use toolchain::Toolchain;
pub use version::{ParseVersionError, PartialVersion, Version};
pub use wrapper::{DistccHost, Wrapper, WrapperKind};
