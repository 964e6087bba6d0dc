//! kforge-kbuild (in progress).
#![deny(missing_docs)]
