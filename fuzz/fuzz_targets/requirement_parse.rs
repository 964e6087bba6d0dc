//! Compiler requirements (`gcc >=3.2, <4`, `gcc-11`, `any >=10`): parsing never panics, a
//! parsed requirement prints as written (trimmed) and parses again to the same constraints,
//! and matching any version never panics.
#![no_main]

use kforge_toolchain::{Family, Requirement, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(requirement) = text.parse::<Requirement>() else {
        return;
    };
    assert_eq!(requirement.to_string(), text.trim());
    let again: Requirement = requirement
        .to_string()
        .parse()
        .expect("a printed requirement parses again");
    assert_eq!(again, requirement);
    for family in [Family::Gcc, Family::Clang] {
        for version in [
            Version::new(0, 0, 0),
            Version::new(3, 4, 6),
            Version::new(12, 2, 0),
            Version::new(u32::MAX, u32::MAX, u32::MAX),
        ] {
            let _ = requirement.matches(family, &version);
        }
    }
});
