//! quilt `series` files: parsing never panics; every patch is named below the series file's
//! directory unless the line names an absolute path, and there is one patch per line that
//! names one.
#![no_main]

use std::path::Path;

use kforge_fetch::PatchSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let series = Path::new("src/debian/patches/series");
    let Ok(set) = PatchSet::parse_series(text, series, 1) else {
        return;
    };
    let named = text
        .lines()
        .filter(|l| {
            l.split_once('#')
                .map_or(*l, |(before, _)| before)
                .split_whitespace()
                .next()
                .is_some()
        })
        .count();
    assert_eq!(set.patches().len(), named);
    for patch in set.patches() {
        assert!(
            patch.path.starts_with("src/debian/patches") || patch.path.is_absolute(),
            "{patch:?}"
        );
    }
});
