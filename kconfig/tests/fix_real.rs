//! Opt-in (run by `scripts/e2e`, which sets KFORGE_LINUX_SRC to Debian's extracted Linux 6.1):
//! fix proposals for real requests on x86_64, checked with the kernel's own `make olddefconfig`.
//!
//! ```text
//! KFORGE_LINUX_SRC=/path/to/linux-6.1 cargo test --release -p kforge-kconfig --test fix_real \
//!     -- --ignored --nocapture
//! ```
//!
//! Requests are drawn at random (seed KFORGE_FIX_SEED, default 11, printed) from the symbols with
//! a prompt that are off in x86_64's defconfig, KFORGE_FIX_COUNT of them (default 40), each asked
//! `=y` (with KFORGE_FIX_VALUE=n: symbols that are on, each asked off). For each,
//! kforge proposes extra lines; `make olddefconfig` on defconfig + request + proposal must land
//! the value whenever kforge says it lands, and must not when kforge says it cannot (with the
//! fact that stops it). The tree is never modified (make uses O=).

mod common;

use std::path::PathBuf;

use kforge_kconfig::lang::fix::{Request, lands, propose};
use kforge_kconfig::lang::{Kconfig, LoadOptions, SymbolType, Target};
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};

fn linux_src() -> PathBuf {
    let Some(src) = std::env::var_os("KFORGE_LINUX_SRC") else {
        panic!(
            "KFORGE_LINUX_SRC is not set: run scripts/e2e, or point it at an extracted Linux 6.1 \
             tree (/usr/src/linux-source-6.1.tar.xz from `apt-get install linux-source-6.1`)"
        );
    };
    PathBuf::from(src)
}

/// The value of `name` in a `.config` text (`n` when absent or not set), unquoted.
fn conf_value(config: &str, name: &str) -> String {
    let prefix = format!("CONFIG_{name}=");
    config
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "n".into())
}

#[test]
#[ignore = "needs a Linux 6.1 tree in KFORGE_LINUX_SRC and a few minutes; run scripts/e2e"]
fn fix_proposals_for_random_x86_64_requests_land_with_make() {
    let src = linux_src();
    let seed: u64 = std::env::var("KFORGE_FIX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let count: usize = std::env::var("KFORGE_FIX_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let want = std::env::var("KFORGE_FIX_VALUE").unwrap_or_else(|_| "y".into());
    assert!(
        want == "y" || want == "n",
        "KFORGE_FIX_VALUE must be y or n"
    );
    let out = tempfile::Builder::new()
        .prefix("kforge-fix-real-")
        .tempdir()
        .expect("tempdir");
    let cache = out.path().join("probes");
    let mut opts = LoadOptions::new(&src).arch("x86_64");
    opts.probe_cache = Some(cache);
    let k = Kconfig::load(&opts).expect("load the 6.1 tree");
    let base = k
        .new_config(&Target::Defconfig)
        .expect("defconfig")
        .to_config_string();

    // Candidates: prompted bool/tristate symbols that are off in defconfig, by name.
    let m = k.model();
    let resolved = k.olddefconfig_bytes(base.as_bytes(), ".config");
    let mut candidates: Vec<String> = m
        .named_symbols()
        .filter(|&id| {
            let s = m.symbol(id);
            s.flags.defined
                && matches!(s.ty, SymbolType::Bool | SymbolType::Tristate)
                && m.props_of(id)
                    .any(|p| matches!(p.kind, kforge_kconfig::lang::ast::PropKind::Prompt(_)))
        })
        .map(|id| m.symbol(id).name.clone())
        .filter(|n| {
            resolved
                .value(n)
                .is_some_and(|v| (v.value == "n") == (want == "y"))
        })
        .collect();
    candidates.sort();
    candidates.dedup();
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut picked = Vec::new();
    while picked.len() < count.min(candidates.len()) {
        let i = rng.random_range(0..candidates.len());
        let name = candidates.swap_remove(i);
        picked.push(name);
    }
    eprintln!(
        "seed {seed}: {} requests ={want} from {} candidates",
        picked.len(),
        candidates.len() + picked.len()
    );

    let build = out.path().join("build");
    std::fs::create_dir_all(&build).expect("mkdir");
    let (mut landed, mut impossible, mut wrong, mut unresolved) = (0, 0, 0, 0);
    let mut identical = 0;
    let mut report = Vec::new();
    for name in &picked {
        let req = vec![Request::new(name.clone(), want.as_str())];
        let started = std::time::Instant::now();
        let p = propose(&k, base.as_bytes(), &req);
        let took = started.elapsed();
        let mut text = base.clone();
        text.push_str(&req[0].line());
        text.push('\n');
        text.push_str(&p.fragment());
        std::fs::write(build.join(".config"), &text).expect("write .config");
        common::make(&src, &build, "x86_64", &["olddefconfig"]);
        let config = std::fs::read_to_string(build.join(".config")).expect("read .config");
        if config == p.resolved_config {
            identical += 1;
        }
        let got = conf_value(&config, name);
        let make_lands = got == want;
        let o = &p.outcomes[0];
        // kforge's claim, checked against its own resolution too.
        assert_eq!(
            o.lands,
            lands(
                &k.olddefconfig_bytes(text.as_bytes(), ".config"),
                name,
                &want
            )
        );
        let verdict = match (o.lands, make_lands) {
            (true, true) => {
                landed += 1;
                "landed"
            }
            (false, false) if o.impossible() => {
                impossible += 1;
                "impossible"
            }
            (false, false) => {
                unresolved += 1;
                "unresolved"
            }
            _ => {
                wrong += 1;
                "WRONG"
            }
        };
        let lines: Vec<String> = p.lines.iter().map(|l| l.request.line()).collect();
        report.push(format!(
            "{verdict:10} {name}={want}  +{} lines [{}] ({} ms){}",
            lines.len(),
            lines.join(" "),
            took.as_millis(),
            if o.lands {
                String::new()
            } else {
                format!(" — {}", o.reason())
            }
        ));
    }
    for r in &report {
        eprintln!("{r}");
    }
    eprintln!(
        "seed {seed}: {} requests: {landed} landed, {impossible} proven impossible, {unresolved} \
         unresolved, {wrong} wrong; kforge's .config identical to make's in {identical}",
        picked.len()
    );
    assert_eq!(wrong, 0, "kforge's claim differs from make's result");
    assert_eq!(
        identical,
        picked.len(),
        "kforge's resolution differs from make's"
    );
}
