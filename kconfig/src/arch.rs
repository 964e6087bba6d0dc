//! [`srcarch`]: the kernel's `SRCARCH` (the directory under `arch/`) for an `ARCH` value, as the
//! top Makefile maps it. The Kconfig environment needs it (`SRCARCH`, `arch/$(SRCARCH)/Kconfig`,
//! the arch's `configs/`); the build step's source-tree check takes it from here through its caller.

/// The kernel's `SRCARCH` for an `ARCH` value: `x86_64` and `i386` build from `arch/x86`,
/// `sparc64` from `arch/sparc`, `parisc64` from `arch/parisc`, `sh64` from `arch/sh` (the top
/// Makefile's mapping). Machine names as `uname -m` prints them are first normalised the way
/// `scripts/subarch.include` does (`aarch64` → `arm64`, `ppc64le` → `powerpc`, `riscv64` →
/// `riscv`, `armv7l` → `arm`, `s390x` → `s390`, `mips64` → `mips`, `loongarch64` → `loongarch`).
///
/// ```
/// assert_eq!(kforge_kconfig::srcarch("x86_64"), "x86");
/// assert_eq!(kforge_kconfig::srcarch("aarch64"), "arm64");
/// assert_eq!(kforge_kconfig::srcarch("arm64"), "arm64");
/// ```
pub fn srcarch(arch: &str) -> String {
    let a = arch;
    let is_ix86 = a.len() == 4 && a.starts_with('i') && a.ends_with("86");
    let normalised = if is_ix86 || a == "x86_64" || a == "x86" {
        "x86"
    } else if a == "sun4u" || a == "sparc64" || a == "sparc32" {
        "sparc"
    } else if a.starts_with("aarch64") {
        "arm64"
    } else if a.starts_with("arm") && a != "arm64" || a == "sa110" {
        "arm"
    } else if a == "s390x" {
        "s390"
    } else if a.starts_with("ppc") || a.starts_with("powerpc") {
        "powerpc"
    } else if a.starts_with("mips") {
        "mips"
    } else if a == "sh64" || (a.starts_with("sh") && a[2..].starts_with(['2', '3', '4'])) {
        "sh"
    } else if a.starts_with("riscv") {
        "riscv"
    } else if a.starts_with("loongarch") {
        "loongarch"
    } else if a == "parisc64" {
        "parisc"
    } else {
        a
    };
    normalised.to_string()
}

/// The architecture the kernel assumes when `ARCH` is not given (its `SUBARCH`, from the host).
pub fn host_srcarch() -> String {
    srcarch(std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srcarch_mapping() {
        for (a, s) in [
            ("x86_64", "x86"),
            ("i386", "x86"),
            ("i686", "x86"),
            ("sparc64", "sparc"),
            ("parisc64", "parisc"),
            ("sh64", "sh"),
            ("arm64", "arm64"),
            ("armv7l", "arm"),
            ("ppc64le", "powerpc"),
            ("riscv64", "riscv"),
            ("um", "um"),
            ("loongarch64", "loongarch"),
        ] {
            assert_eq!(srcarch(a), s, "{a}");
        }
    }
}
