//! The Xen HOWTO ("Quick HOWTO for building Xen 3.2 on Debian/Ubuntu", 2008), run for real.
//!
//! Modern mode (default): a Xen 4.x tarball built with `make dist-xen` (the hypervisor,
//! `dist/install/boot/xen-*.gz`), plus a dom0 kernel config (CONFIG_XEN, CONFIG_XEN_DOM0, the
//! backend drivers) merged over a base, resolved and verified in an out-of-tree build directory.
//!
//! HOWTO mode: Xen 3.2.0, the xenified kernel cloned with Mercurial beside the Xen tree as
//! `linux-2.6.18-xen.hg`, `make prep-kernels`, the user's .config installed into
//! `build-linux-2.6.18-xen_x86_32/` after checking the kernel tree is clean for O=, `make dist`
//! (never `make world`, which cleans everything first).
//!
//! ```text
//! cargo run --example xen -- --plan
//! cargo run --example xen -- --xen file:///path/xen_4.17.5.orig.tar.gz --xen-sha256 … \
//!     --allow-unpinned                      # the dom0 kernel from Debian's linux-source-6.1
//! cargo run --example xen -- --mode howto --config /boot/config-2.6.18-my --xen-sha256 …
//! cargo run --example xen -- … --cc-wrapper icecc --icecc-scheduler 10.0.0.2   # via iceccd
//! ```
//!
//! Every run leaves `summary.txt`, `build.json`, `reproduce.sh` and `logs/` in `--out`
//! (default `./kforge-xen-out`).

#[path = "flow/mod.rs"]
mod flow;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    flow::exit_code(flow::xen::run(flow::xen::Args::parse()))
}
