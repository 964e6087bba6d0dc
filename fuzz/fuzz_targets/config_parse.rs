//! `.config` parsing: never panics, and whatever parses writes back the same bytes.
#![no_main]

use kforge_kconfig::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        assert_eq!(config.to_string(), text, "a parsed .config must round-trip");
    }
});
