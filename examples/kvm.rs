//! The KVM HOWTO ("Quick HOWTO for building Qumranet's KVM", 2008), run for real.
//!
//! ```text
//! tar xzf linux-2.6.23.tar.gz                              -> fetch + verify + extract
//! cp /boot/config-2.6.23 .config                           -> running config + KVM fragment,
//! make oldconfig prepare scripts                              olddefconfig + verify in O=,
//!                                                             modules_prepare
//! (KVM's kernel modules)                                   -> make O=… M=arch/x86/kvm modules
//! aptitude install gcc-3.4                                 -> select the compiler by requirement
//! ./configure --qemu-cc=gcc-3.4 --kerneldir=… --prefix=…   -> ./configure
//! make all install                                         -> make all install
//! ```
//!
//! The steps are `kforge::flows::kvm` (library code, so a tool of your own runs the same
//! flow); this example adds the command line and the terminal.
//!
//! ```text
//! cargo run --release --example kvm -- --allow-unpinned            # the README's main job
//! cargo run --example kvm -- --plan                                # the steps and commands
//! cargo run --example kvm -- --mode howto --plan                   # the 2008 recipe
//! cargo run --example kvm -- --userland qemu.tar.xz --userland-sha256 … --cc-req 'gcc >=11' \
//!     --configure-arg=--target-list=x86_64-softmmu
//! cargo run --example kvm -- --allow-unpinned --cc-wrapper ccache   # hits/misses per step
//! cargo run --example kvm -- --allow-unpinned --cc-wrapper distcc --distcc-hosts 'box1/8 box2/8'
//! ```
//!
//! Every run leaves `summary.txt`, `build.json`, `reproduce.sh` and `logs/` in `--out`
//! (default `./kforge-kvm-out`); Ctrl-C stops it cleanly and exits 130.

mod terminal;

use std::process::ExitCode;

use clap::Parser;
use kforge::flows::kvm;

fn main() -> ExitCode {
    let args = kvm::Args::parse();
    let interrupt = terminal::interrupt_flag();
    let terminal = terminal::Terminal::new(args.common.verbose, args.common.quiet);
    terminal::exit_code(kvm::run(&args, terminal, interrupt))
}
