//! kforge-fetch (in progress).
#![deny(missing_docs)]
