//! The Kconfig parser (lexer, macro language, parser, finalize) on arbitrary input: it returns a
//! model or an error, never panics. NUL bytes split the input into several files: the first is
//! `Kconfig`, the others `K1`, `K2`, … for `source` to find. `$(shell,…)` is never run.
#![no_main]

use std::collections::BTreeMap;

use kforge_kconfig::lang::parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let texts: Vec<String> = data
        .split(|&b| b == 0)
        .take(8)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    let names: Vec<String> = (0..texts.len())
        .map(|i| {
            if i == 0 {
                "Kconfig".to_string()
            } else {
                format!("K{i}")
            }
        })
        .collect();
    let files: Vec<(&str, &str)> = names
        .iter()
        .zip(&texts)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let env: BTreeMap<String, String> = [
        ("ARCH", "x86"),
        ("SRCARCH", "x86"),
        ("srctree", "."),
        ("KERNELVERSION", "6.1.0"),
        ("CC", "gcc"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let _ = parser::parse_files(&files, &env);
});
