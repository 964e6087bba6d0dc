//! kforge: reusable build steps for people who build kernels and hypervisors from source.
//!
//! This root crate re-exports the four independent crates of the workspace and holds what
//! composes them, so that a tool can depend on `kforge` alone:
//!
//! | module | role |
//! |---|---|
//! | [`fetch`] (`kforge-fetch`) | a source (archive URL, git, Mercurial, path) becomes a verified local tree |
//! | [`kconfig`] (`kforge-kconfig`) | `.config` values, fragments, merge and verification, the Kconfig language |
//! | [`kbuild`] (`kforge-kbuild`) | `make` and `./configure` invocation that never hangs and explains failures; source-tree cleanliness for `O=` |
//! | [`toolchain`] (`kforge-toolchain`) | find, identify and select C compilers; make variables and probes |
//! | [`steps`] | the step runner: a plan of named steps, each timed, recorded and reported |
//! | [`record`] | the typed, versioned record behind `build.json`, read back and compared |
//! | [`reproduce`] | `reproduce.sh` from what actually ran |
//! | [`repro`] | reproducible builds: fixed settings, config findings, why two artifacts differ |
//! | [`observe`] | the [`Observer`](observe::Observer) a caller implements to show progress |
//! | [`kernel`] | kernel steps: config base + fragments in `O=`, olddefconfig, verification, modules |
//! | [`flows`] | the KVM and Xen HOWTOs as flows |
//! | [`boot`] | boot what was built under QEMU (initramfs, serial console, the guest's result); the KVM proof |
//!
//! The four crates meet only in plain types (`Path`, `(String, String)` make variables,
//! argument vectors); only this crate depends on them all.
//!
//! A flow of your own, from the library alone:
//!
//! ```no_run
//! use std::sync::Arc;
//! use kforge::steps::{PlannedStep, Run, RunOptions};
//!
//! # fn main() -> Result<(), kforge::Error> {
//! let observer = Arc::new(kforge::observe::Collector::new());
//! let mut run = Run::new("custom", "modern", "out", RunOptions::default(), observer)?;
//! run.set_plan(vec![PlannedStep::new("fetch", "Fetch the sources", vec![])]);
//! let result = run
//!     .step("fetch", |run| {
//!         run.fetch_archive("src", "https://example.org/p-1.0.tar.gz", Some("…"), "out/src/p", &[])
//!     })
//!     .map(|_| ());
//! let record = run.finish(result)?; // out/build.json, out/reproduce.sh, out/summary.txt
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use kforge_fetch as fetch;
pub use kforge_kbuild as kbuild;
pub use kforge_kconfig as kconfig;
pub use kforge_toolchain as toolchain;

pub mod boot;
mod error;
pub mod flows;
pub mod kernel;
pub mod observe;
pub mod record;
pub mod repro;
pub mod reproduce;
pub mod steps;

pub use error::{Context, Error};
pub use kforge_kconfig::write_atomic;

/// The README's Rust snippets, compiled as doc-tests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeSnippets;
