//! Shared parts of the Kconfig language tests: the kernel's own `conf` as the oracle, and the
//! comparison of kforge's output with it.
#![allow(dead_code)]

pub mod oracle;
