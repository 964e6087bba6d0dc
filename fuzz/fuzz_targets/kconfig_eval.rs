//! The whole evaluator on arbitrary Kconfig input: whatever parses is evaluated with every
//! new-config target, an olddefconfig of a `.config` taken from the input and savedefconfig,
//! and written; none of it may panic. The input is `Kconfig text NUL .config text`.
#![no_main]

use std::collections::BTreeMap;

use kforge_kconfig::lang::{Kconfig, Target, parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&b| b == 0);
    let kconfig = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let dot_config = parts.next().unwrap_or_default();
    let env: BTreeMap<String, String> = [("ARCH", "x86"), ("SRCARCH", "x86"), ("srctree", ".")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let Ok(parsed) = parser::parse_str("Kconfig", &kconfig, &env) else {
        return;
    };
    let k = Kconfig::from_model(parsed.model, "/nonexistent", "x86");
    for target in [
        Target::AllNo,
        Target::AllYes,
        Target::AllMod,
        Target::AllDef,
    ] {
        if let Ok(r) = k.new_config(&target) {
            let _ = r.to_config_string();
            let _ = r.to_savedefconfig_string();
        }
    }
    let r = k.olddefconfig_bytes(dot_config, ".config");
    let _ = r.to_config_string();
    let _ = r.to_savedefconfig_string();
});
