//! Configuration fragments: `base .config NUL fragment NUL fragment …`. Parsing never panics;
//! what parses merges in order, the merged `.config` writes out and parses back to the same
//! values, and every requested value is found in the merge result by `verify`.
#![no_main]

use kforge_kconfig::{Config, Fragment, Prefix, merge, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0).take(4);
    let Some(base) = parts.next() else { return };
    let Ok(base) = std::str::from_utf8(base) else {
        return;
    };
    let Ok(base) = Config::parse(base) else {
        return;
    };
    let mut fragments = Vec::new();
    for (i, part) in parts.enumerate() {
        let Ok(text) = std::str::from_utf8(part) else {
            return;
        };
        let name = format!("f{i}.config");
        // The same text with another prefix must not panic either.
        let _ = Fragment::parse_with_prefix(text, &name, Prefix::new("BR2_"));
        match Fragment::parse(text, &name) {
            Ok(fragment) => {
                let lines = text.split_inclusive('\n').count().max(1);
                for a in fragment.assignments() {
                    assert!(a.source.line >= 1 && a.source.line <= lines, "{a:?}");
                }
                fragments.push(fragment);
            }
            Err(_) => return,
        }
    }
    let merged = merge(&base, &fragments);
    let text = merged.config.to_string();
    let reparsed = Config::parse(&text).expect("a merged .config must parse again");
    for a in merged.requested.iter() {
        assert_eq!(
            reparsed.get(&a.symbol),
            merged.config.get(&a.symbol),
            "{}",
            a.symbol
        );
    }
    let verification = verify(&merged.requested, &merged.config);
    assert!(
        verification.all_landed(),
        "every requested value is in the merge result: {verification:?}"
    );
});
