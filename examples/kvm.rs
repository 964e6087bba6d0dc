//! The KVM HOWTO ("Quick HOWTO for building Qumranet's KVM", 2008), run for real.
//!
//! Modern mode (default): Linux from a tarball (Debian's linux-source-6.1 unless --kernel is
//! given), the running kernel's config plus a KVM fragment, resolved and verified in an
//! out-of-tree build directory, `modules_prepare`, then `make M=arch/x86/kvm modules` →
//! `kvm.ko`, `kvm-intel.ko`, `kvm-amd.ko`; with --userland, a kvm/QEMU tarball configured with
//! a compiler chosen by requirement and built with `make all install`.
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
//! (default `./kforge-kvm-out`).

#[path = "flow/mod.rs"]
mod flow;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    flow::exit_code(flow::kvm::run(flow::kvm::Args::parse()))
}
