//! kforge-kconfig (in progress).
#![deny(missing_docs)]
