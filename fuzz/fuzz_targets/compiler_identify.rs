//! Compiler identification from what a compiler printed: `-dM -E output NUL -dumpmachine
//! output`. Never panics; an identified compiler's version is the one its version macros say.
#![no_main]

use kforge_toolchain::{Family, Identity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&b| b == 0);
    let macros = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let target = String::from_utf8_lossy(parts.next().unwrap_or(b"x86_64-linux-gnu\n"));
    let Ok(id) = Identity::from_outputs("/usr/bin/cc", &macros, &target) else {
        return;
    };
    assert_eq!(id.target, target.trim());
    let major = match id.family {
        Family::Clang => "__clang_major__",
        Family::Gcc => "__GNUC__",
    };
    let written = macros
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| *name == major)
        .last()
        .and_then(|(_, value)| value.trim().parse::<u32>().ok());
    assert_eq!(written, Some(id.version.major));
});
