//! kforge: reusable build steps for people who build kernels and hypervisors from source.
//!
//! This root crate re-exports the four independent crates of the workspace so that a tool can
//! depend on `kforge` alone:
//!
//! | module | crate | role |
//! |---|---|---|
//! | [`fetch`] | `kforge-fetch` | a source (archive URL, git, Mercurial, path) becomes a verified local tree |
//! | [`kconfig`] | `kforge-kconfig` | `.config` values, fragments, merge and verification, source-tree cleanliness |
//! | [`kbuild`] | `kforge-kbuild` | `make` and `./configure` invocation that never hangs and explains failures |
//! | [`toolchain`] | `kforge-toolchain` | find, identify and select C compilers; make variables and probes |
//!
//! The crates meet only in plain types (`Path`, `(String, String)` make variables, argument
//! vectors); the examples in `examples/` compose them into the Xen and KVM flows.
#![deny(missing_docs)]

pub use kforge_fetch as fetch;
pub use kforge_kbuild as kbuild;
pub use kforge_kconfig as kconfig;
pub use kforge_toolchain as toolchain;
