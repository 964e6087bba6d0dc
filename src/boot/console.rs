//! What the guest said: the serial console log read back.
//!
//! The guest's `/init` prints its results as marker lines, `KFORGE-BOOT <key> <value>`, between
//! `KFORGE-BOOT begin` and `KFORGE-BOOT end` ([`init_script`] writes such an `/init`). The kernel's
//! own lines around them tell whether it started (`Linux version …`) and whether it panicked
//! (`Kernel panic - not syncing: …`, the line that becomes the error). Under Xen the console
//! also carries the hypervisor's lines (`(XEN) …`); a Xen panic is the block
//! `Panic on CPU N:` + its message between two rows of `*`, read as one line.

use std::fmt::Write as _;

/// The prefix of every result line the guest prints.
pub const MARKER: &str = "KFORGE-BOOT";

/// What a console log says about a boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestReport {
    /// The kernel printed its banner (`Linux version …`).
    pub kernel_started: bool,
    /// The guest's `/init` ran (it printed `KFORGE-BOOT begin`).
    pub init_started: bool,
    /// The guest printed `KFORGE-BOOT end`: every result is in.
    pub finished: bool,
    /// The kernel's panic line (`Kernel panic - not syncing: …`), or Xen's (`(XEN) Panic on CPU
    /// 0: …`, its message joined to it), when one panicked.
    pub panic: Option<String>,
    /// `(key, value)` of every result line, in order.
    pub values: Vec<(String, String)>,
    /// The last non-empty line of the console (for errors that need context).
    pub last_line: Option<String>,
}

impl GuestReport {
    /// Read a console log (lines may end with `\r\n`, as a serial console writes them).
    pub fn parse(text: &str) -> GuestReport {
        let mut report = GuestReport::default();
        // Xen's `Panic on CPU N:` line, waiting for the message on the next line.
        let mut xen_panic: Option<String> = None;
        for raw in text.lines() {
            let line = raw.trim_end_matches('\r').trim_end();
            if let Some(head) = xen_panic.take() {
                let message = xen_message(line).unwrap_or(line).trim();
                report.panic = Some(format!("(XEN) {head} {message}").trim_end().to_string());
            }
            if line.is_empty() {
                continue;
            }
            report.last_line = Some(line.to_string());
            if report.panic.is_none()
                && let Some(message) = xen_message(line)
                && message.starts_with("Panic on CPU")
            {
                xen_panic = Some(message.to_string());
            }
            if line.contains("Linux version ") {
                report.kernel_started = true;
            }
            if report.panic.is_none()
                && let Some(at) = line.find("Kernel panic - not syncing")
            {
                report.panic = Some(line[at..].to_string());
            }
            // A kernel message may have been written just before the marker on the same line.
            let Some(at) = line.find(MARKER) else {
                continue;
            };
            let rest = line[at + MARKER.len()..].trim_start();
            let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
            match key {
                "" => {}
                "begin" => report.init_started = true,
                "end" => report.finished = true,
                key => report.values.push((key.to_string(), value.to_string())),
            }
        }
        if let Some(head) = xen_panic {
            report.panic = Some(format!("(XEN) {head}"));
        }
        report
    }

    /// The last value printed for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value printed for `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The message of a Xen console line: after `(XEN) ` and an optional `[time stamp] `.
fn xen_message(line: &str) -> Option<&str> {
    let rest = &line[line.find("(XEN) ")? + "(XEN) ".len()..];
    Some(
        match rest.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((_, message)) => message,
            None => rest,
        },
    )
}

/// An `/init` for a busybox initramfs: mounts `/proc`, `/sys` and `/dev`, keeps kernel messages
/// off the console (they stay readable with `dmesg`), prints `KFORGE-BOOT begin`, runs `body`
/// (a shell fragment that reports with `say KEY VALUE` and `say_lines KEY < FILE`), prints
/// `KFORGE-BOOT end` and ends the machine with `reboot -f` (QEMU runs with `-no-reboot`, so
/// that ends QEMU).
pub fn init_script(body: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "#!/bin/sh
# Written by kforge's boot step.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
dmesg -n 1
say() {{ echo \"{MARKER} $*\"; }}
say_lines() {{ while IFS= read -r line; do say \"$1\" \"$line\"; done; }}
say begin
say uname \"$(uname -r)\"
{body}
say end
sync
reboot -f
"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_between_kernel_lines_are_read_and_crlf_is_dropped() {
        let log = "Linux version 6.1.0 (gcc)\r\n[    0.5] Run /init as init process\r\n\
                   KFORGE-BOOT begin\r\nKFORGE-BOOT dev_kvm yes\r\n\
                   [    0.9] kvm: loaded KFORGE-BOOT module_loaded kvm\r\nKFORGE-BOOT end\r\n";
        let r = GuestReport::parse(log);
        assert!(r.kernel_started && r.init_started && r.finished);
        assert_eq!(r.get("dev_kvm"), Some("yes"));
        assert_eq!(r.get("module_loaded"), Some("kvm"));
        assert_eq!(r.panic, None);
        assert_eq!(r.last_line.as_deref(), Some("KFORGE-BOOT end"));
    }

    #[test]
    fn a_xen_panic_block_is_one_line() {
        let log = "(XEN) *** LOADING DOMAIN 0 ***\r\n(XEN) \r\n(XEN) ****************************************\r\n\
                   (XEN) Panic on CPU 0:\r\n(XEN) Could not set up DOM0 guest OS (rc = -12)\r\n\
                   (XEN) ****************************************\r\n(XEN) \r\n(XEN) Reboot in five seconds...\r\n";
        let r = GuestReport::parse(log);
        assert_eq!(
            r.panic.as_deref(),
            Some("(XEN) Panic on CPU 0: Could not set up DOM0 guest OS (rc = -12)")
        );
        // With console time stamps, and cut right after the head.
        let r = GuestReport::parse("(XEN) [    1.5] Panic on CPU 1:\n(XEN) [    1.5] oops\n");
        assert_eq!(r.panic.as_deref(), Some("(XEN) Panic on CPU 1: oops"));
        let r = GuestReport::parse("(XEN) Panic on CPU 0:\n");
        assert_eq!(r.panic.as_deref(), Some("(XEN) Panic on CPU 0:"));
    }

    #[test]
    fn the_panic_line_is_kept_from_its_start() {
        let log = "Linux version 6.1.0\n[    0.71] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n";
        let r = GuestReport::parse(log);
        assert_eq!(
            r.panic.as_deref(),
            Some("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)")
        );
        assert!(!r.init_started);
    }
}
