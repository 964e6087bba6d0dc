//! `kforge-guest-probe`: create a virtual machine through `/dev/kvm`, run a few bytes of
//! real-mode code in it and print what the guest wrote.
//!
//! The guest computes 2 + 2, writes the digit and a newline to the serial port `0x3f8` with
//! `out`, and halts. The probe prints the guest's bytes on stdout (`4`), a line per step on
//! stderr, and exits 0 only when the guest reached its `hlt`:
//!
//! ```text
//! $ kforge-guest-probe            # or kforge-guest-probe /dev/kvm
//! kforge-guest-probe: /dev/kvm: KVM API version 12
//! kforge-guest-probe: VM created, 1 vCPU, 4 KiB of guest memory at 0x1000
//! kforge-guest-probe: guest halted after 3 exits
//! 4
//! ```
//!
//! It is built statically (`RUSTFLAGS='-C target-feature=+crt-static' cargo build -p
//! kforge-guest-probe --release --target x86_64-unknown-linux-gnu`), so it runs from an
//! initramfs that holds nothing but busybox. Exit status: 0 the guest ran to `hlt`, 1 a KVM
//! call failed (no `/dev/kvm`, no hardware virtualization), 2 the guest stopped another way.
// Guest memory is host memory handed to the kernel by address: that is unsafe by nature.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io::Write;
use std::process::ExitCode;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuExit};

/// Where the code sits in guest-physical memory (and where the vCPU starts).
const GUEST_ADDR: u64 = 0x1000;
/// One page of guest memory.
const GUEST_SIZE: usize = 0x1000;
/// The serial port the guest writes to.
const SERIAL_PORT: u16 = 0x3f8;

/// 16-bit real-mode code: 2 + 2, the digit and a newline out to port 0x3f8, hlt.
const CODE: &[u8] = &[
    0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, 0x02, // mov al, 2
    0x04, 0x02, // add al, 2
    0x04, b'0', // add al, '0'
    0xee, // out dx, al
    0xb0, b'\n', // mov al, '\n'
    0xee,  // out dx, al
    0xf4,  // hlt
];

/// A page-aligned, zeroed block of host memory that backs the guest's memory.
struct GuestMemory {
    ptr: *mut u8,
    layout: Layout,
}

impl GuestMemory {
    fn new(size: usize) -> Result<GuestMemory, String> {
        let layout =
            Layout::from_size_align(size, 0x1000).map_err(|e| format!("guest memory: {e}"))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err("cannot allocate guest memory".into());
        }
        Ok(GuestMemory { ptr, layout })
    }

    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.layout.size());
        // SAFETY: `ptr` is valid for `layout.size()` bytes and owned by `self`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr, n) };
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

fn say(line: impl std::fmt::Display) {
    eprintln!("kforge-guest-probe: {line}");
}

fn run(device: &str) -> Result<(Vec<u8>, u32), (u8, String)> {
    let fail = |what: &str, e: kvm_ioctls::Error| (1, format!("{what}: {e}"));
    let path = std::ffi::CString::new(device).map_err(|e| (1, format!("{device:?}: {e}")))?;
    let kvm = Kvm::new_with_path(&path).map_err(|e| (1, format!("cannot open {device}: {e}")))?;
    say(format!(
        "{device}: KVM API version {}",
        kvm.get_api_version()
    ));
    // Allocated before the VM, so that it is dropped after it (locals drop in reverse order):
    // the VM's memory slot points into it until the VM is closed.
    let mut memory = GuestMemory::new(GUEST_SIZE).map_err(|e| (1, e))?;
    memory.write(CODE);
    let vm = kvm.create_vm().map_err(|e| fail("cannot create a VM", e))?;
    let region = kvm_userspace_memory_region {
        slot: 0,
        guest_phys_addr: GUEST_ADDR,
        memory_size: GUEST_SIZE as u64,
        userspace_addr: memory.ptr as u64,
        flags: 0,
    };
    // SAFETY: the region is backed by `memory`, which outlives the VM (declared before it, so
    // dropped after it).
    unsafe { vm.set_user_memory_region(region) }
        .map_err(|e| fail("cannot give the VM its memory", e))?;
    let mut vcpu = vm
        .create_vcpu(0)
        .map_err(|e| fail("cannot create a vCPU", e))?;
    let mut sregs = vcpu
        .get_sregs()
        .map_err(|e| fail("cannot read the vCPU's segment registers", e))?;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.set_sregs(&sregs)
        .map_err(|e| fail("cannot set the vCPU's segment registers", e))?;
    let mut regs = vcpu
        .get_regs()
        .map_err(|e| fail("cannot read the vCPU's registers", e))?;
    regs.rip = GUEST_ADDR;
    regs.rflags = 2;
    vcpu.set_regs(&regs)
        .map_err(|e| fail("cannot set the vCPU's registers", e))?;
    say(format!(
        "VM created, 1 vCPU, {} KiB of guest memory at {GUEST_ADDR:#x}",
        GUEST_SIZE / 1024
    ));
    let mut output = Vec::new();
    let mut exits = 0u32;
    loop {
        exits += 1;
        match vcpu.run().map_err(|e| fail("the vCPU did not run", e))? {
            VcpuExit::IoOut(SERIAL_PORT, data) => output.extend_from_slice(data),
            VcpuExit::IoOut(port, data) => {
                return Err((2, format!("the guest wrote {data:?} to port {port:#x}")));
            }
            VcpuExit::Hlt => return Ok((output, exits)),
            other => return Err((2, format!("the guest stopped: {other:?}"))),
        }
        if exits > 100 {
            return Err((2, "the guest did not halt after 100 exits".into()));
        }
    }
}

fn main() -> ExitCode {
    let device = std::env::args().nth(1).unwrap_or_else(|| "/dev/kvm".into());
    match run(&device) {
        Ok((output, exits)) => {
            say(format!("guest halted after {exits} exits"));
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(&output);
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            say(message);
            ExitCode::from(code)
        }
    }
}
