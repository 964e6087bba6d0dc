//! Byte-for-byte comparison of kforge's output with `conf`'s, with a report a person can act on:
//! the first differing line with context from both sides, then the lines only one side has.
#![allow(dead_code)]

/// `None` when `expected == actual`; otherwise a description of the difference.
pub fn difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let e: Vec<&str> = expected.split_inclusive('\n').collect();
    let a: Vec<&str> = actual.split_inclusive('\n').collect();
    let first = e
        .iter()
        .zip(a.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let mut out = format!(
        "first difference at line {} (conf: {} lines, {} bytes; kforge: {} lines, {} bytes)\n",
        first + 1,
        e.len(),
        expected.len(),
        a.len(),
        actual.len()
    );
    let context = |lines: &[&str], label: &str, out: &mut String| {
        let from = first.saturating_sub(3);
        let to = (first + 4).min(lines.len());
        out.push_str(&format!("  {label}:\n"));
        for (i, l) in lines.iter().enumerate().take(to).skip(from) {
            let mark = if i == first { '>' } else { ' ' };
            out.push_str(&format!("   {mark}{:6} {}\n", i + 1, show(l)));
        }
        if first >= lines.len() {
            out.push_str("    (ends here)\n");
        }
    };
    context(&e, "conf", &mut out);
    context(&a, "kforge", &mut out);

    let mut only_conf: Vec<&str> = Vec::new();
    let mut only_kforge: Vec<&str> = Vec::new();
    let mut counts = std::collections::HashMap::<&str, i64>::new();
    for l in &e {
        *counts.entry(l).or_default() += 1;
    }
    for l in &a {
        *counts.entry(l).or_default() -= 1;
    }
    for l in &e {
        if let Some(c) = counts.get_mut(l)
            && *c > 0
        {
            *c -= 1;
            only_conf.push(l);
        }
    }
    for l in &a {
        if let Some(c) = counts.get_mut(l)
            && *c < 0
        {
            *c += 1;
            only_kforge.push(l);
        }
    }
    for (label, lines) in [
        ("only in conf", &only_conf),
        ("only in kforge", &only_kforge),
    ] {
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("  {label} ({} lines):\n", lines.len()));
        for l in lines.iter().take(20) {
            out.push_str(&format!("    {}\n", show(l)));
        }
        if lines.len() > 20 {
            out.push_str(&format!("    … {} more\n", lines.len() - 20));
        }
    }
    if only_conf.is_empty() && only_kforge.is_empty() {
        out.push_str("  same lines, different order\n");
    }
    Some(out)
}

fn show(line: &str) -> String {
    match line.strip_suffix('\n') {
        Some(l) => format!("{l:?}").trim_matches('"').to_string(),
        None => format!("{:?} (no newline)", line),
    }
}

/// Panic with the difference when `actual` is not `expected` byte for byte.
#[track_caller]
pub fn assert_same(what: &str, expected: &str, actual: &str) {
    if let Some(d) = difference(expected, actual) {
        panic!("{what}: kforge's output differs from the kernel's conf\n{d}");
    }
}
