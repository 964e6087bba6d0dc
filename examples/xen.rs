//! The Xen HOWTO ("Quick HOWTO for building Xen 3.2 on Debian/Ubuntu", 2008), run for real.
//!
//! ```text
//! wget …/xen-3.2.0.tar.gz; tar xzf xen-3.2.0.tar.gz         -> fetch + verify + extract
//! hg clone …/linux-2.6.18-xen.hg   (beside xen-3.2.0/!)    -> Mercurial clone beside the tree
//! cd xen-3.2.0; make prep-kernels                          -> make prep-kernels
//! cp /boot/config-2.6.18-my build-linux-2.6.18-xen_x86_32/.config
//!                                                          -> check the kernel tree is clean for
//!                                                             O=, install the .config there
//! make dist          (never `make world`: it cleans first) -> make dist
//! ```
//!
//! Modern mode (default): a Xen 4.x tarball built with `make dist-xen`, plus a dom0 kernel
//! config merged over a base, resolved and verified in an out-of-tree build directory. The
//! steps are `kforge::flows::xen`; this example adds the command line and the terminal.
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
//! (default `./kforge-xen-out`); Ctrl-C stops it cleanly and exits 130.

mod terminal;

use std::process::ExitCode;

use clap::Parser;
use kforge::flows::xen;

fn main() -> ExitCode {
    let args = xen::Args::parse();
    let interrupt = terminal::interrupt_flag();
    let terminal = terminal::Terminal::new(args.common.verbose, args.common.quiet);
    terminal::exit_code(xen::run(&args, terminal, interrupt))
}
