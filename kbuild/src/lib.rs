//! kforge-kbuild: run `make` and `./configure` so that a build never hangs on a prompt, never
//! leaves orphan compilers behind, and explains its failures.
//!
//! This is the step of a kernel or hypervisor build that actually compiles. It takes plain
//! inputs — a directory, `(name, value)` make variables (for instance from a toolchain crate),
//! environment, targets — and returns an [`Outcome`] (status, duration, log path, warning and
//! error counts) or an error whose [`Failure`] report leads with the first real cause, then the
//! targets, the exit status, the first compiler errors, make's `*** [...] Error N` chain and the log path.
//!
//! - [`Make`] is a `Command`-style builder for one make invocation (`-C`, `O=`, `-j`, `ARCH`,
//!   `CROSS_COMPILE`, variables, environment, targets, `V=1`, `-k`, log file, timeout,
//!   interrupt flag, line callback). stdin is closed by default; destructive targets
//!   (`mrproper`, `distclean`, Xen's `world`, …) need [`Make::allow_destructive`].
//! - [`KernelTree`] holds the Linux steps: config targets, [`KernelTree::olddefconfig`] (the
//!   non-interactive resolution that fits the kernel's era, see [`ResolveStrategy`]),
//!   [`KernelTree::prepare_for_external_modules`], `M=` builds, `kernelrelease`, and a
//!   [reproducible](KernelTree::reproducible) mode.
//! - [`Make::cache_stats`] reads a compiler cache's or distributed compiler's counters
//!   (ccache, sccache, distcc, icecream) before and after the run and reports the difference
//!   as hits, misses and remote jobs in [`Outcome::cache`] (see [`cache`]).
//! - [`Failure::cause`] is the first real cause of a failed run ([`cause`]): kind, `file:line`,
//!   tool, failed target, the failing recipe's own lines (even under `-j`) and, for a tool of
//!   another era, what to install or pass; the failure's text leads with it.
//! - [`SourceTree::check_clean`] applies the exact test of a Linux tree's top Makefile before
//!   an `O=` build (by the tree's [`KernelVersion`] when the Makefile does not spell it out) and
//!   predicts make's complaint; [`SourceTree::make_clean_for_out_of_tree`] fixes the tree
//!   without losing the `.config` (never `make mrproper`).
//! - [`Configure`] runs an autotools-style `./configure` under the same supervision.
//! - [`interrupt::flag_on_signals`] turns Ctrl-C into the interrupt flag for command-line
//!   programs (make's own group does not receive the terminal's signals).
//!
//! Every process runs in its own process group. A timeout, the interrupt flag, or dropping a
//! [`RunningMake`] stops the whole group (SIGTERM, then SIGKILL after a grace period), and
//! whatever a finished make left running in its group is stopped too. Output is read line by
//! line on two threads and goes to `tracing` (compiler errors at ERROR, warnings at WARN, the
//! rest at DEBUG, under a `make` or `configure` span), to the log file (buffered, raw bytes) and
//! to the caller's callback. This crate never prints.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kforge_kbuild::Make;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("Makefile"), "all:\n\t@echo building for $(ARCH)\n")?;
//! let outcome = Make::new(dir.path())
//!     .arch("arm64")
//!     .target("all")
//!     .capture_stdout(true)
//!     .log_file(dir.path().join("build.log"))
//!     .run()?;
//! assert_eq!(outcome.stdout, ["building for arm64"]);
//!
//! // A failure explains itself.
//! std::fs::write(dir.path().join("Makefile"), "all:\n\t@echo 'a.c:1:1: error: boom' >&2; exit 3\n")?;
//! let err = Make::new(dir.path()).target("all").run().unwrap_err();
//! let failure = err.failure().expect("make ran");
//! assert_eq!(failure.compiler_errors, ["a.c:1:1: error: boom"]);
//! assert!(failure.make_errors[0].contains("Error 3"));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod cache;
pub mod cause;
pub mod configure;
mod destructive;
pub mod interrupt;
pub mod kernel;
pub mod make;
mod outcome;
mod output;
mod process;
mod source_tree;

pub use cache::{CacheProbe, CacheReport, CacheStats, CacheTool, UnknownTool};
pub use cause::{Cause, CauseKind, Language, Location, find_cause};
pub use configure::Configure;
pub use kernel::{
    ConfigResolution, KernelTree, KernelVersion, MissingVersionField, ModulesPrepared,
    Reproducible, ResolveStrategy,
};
pub use make::{Make, RunningMake, default_jobs};
pub use outcome::{EnvChange, Failure, Outcome, Status};
pub use output::{Line, LineKind, Stream, classify};
pub use source_tree::{
    CleanAction, CleanCheck, CleanError, CleanPlan, CleanRule, OpenError, RuleSource, SourceTree,
};
