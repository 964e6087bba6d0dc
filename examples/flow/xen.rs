//! The Xen HOWTO as a flow.
