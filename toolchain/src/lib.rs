//! kforge-toolchain (in progress).
#![deny(missing_docs)]
