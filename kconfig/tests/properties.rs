//! Property tests: parse∘write is the identity; merging is associative with later-wins.

use kforge_kconfig::{Config, Fragment, Value, merge};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("A"),
        Just("B"),
        Just("C"),
        Just("KVM"),
        Just("MODULES"),
        Just("X86_64"),
        Just("NR_CPUS")
    ]
    .prop_map(String::from)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Yes),
        Just(Value::Module),
        Just(Value::No),
        "[ -~]{0,12}".prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::Hex),
    ]
}

/// A value the kernel accepts with trailing blanks after it (not numbers).
fn trailing_ok_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Yes),
        Just(Value::Module),
        Just(Value::No),
        "[ -~]{0,12}".prop_map(Value::Str),
    ]
}

/// One line of a config, in any of the layouts a file may have and the kernel reads.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        (name(), value()).prop_map(|(n, v)| match v {
            Value::No => format!("# CONFIG_{n} is not set"),
            v => format!("CONFIG_{n}={}", v.to_config_text()),
        }),
        (name(), trailing_ok_value(), "[ \t]{1,3}")
            .prop_map(|(n, v, b)| format!("CONFIG_{n}={}{b}", v.to_config_text())),
        name().prop_map(|n| format!("CONFIG_{n}=n")),
        name().prop_map(|n| format!("# CONFIG_{n} is not set, really")),
        // Comments, including near misses the kernel reads as comments.
        "#[ -~]{0,20}".prop_map(String::from),
        name().prop_map(|n| format!("#CONFIG_{n} is not set")),
        name().prop_map(|n| format!("  # CONFIG_{n} is not set")),
        "[ \t]{0,3}".prop_map(String::from),
    ]
}

fn text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((line(), prop_oneof![Just("\n"), Just("\r\n")]), 0..30),
        any::<bool>(),
    )
        .prop_map(|(lines, final_newline)| {
            let mut s: String = lines.iter().map(|(l, e)| format!("{l}{e}")).collect();
            if !final_newline && s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            s
        })
}

fn fragment(i: usize) -> impl Strategy<Value = Fragment> {
    prop::collection::vec((name(), value()), 0..8).prop_map(move |pairs| {
        let mut c = Config::new();
        for (n, v) in pairs {
            c.set(&n, v).unwrap();
        }
        Fragment::parse(&c.to_string(), format!("f{i}.config")).unwrap()
    })
}

proptest! {
    /// Any text either parses and round-trips, or is an error naming a line of it; never a panic.
    #[test]
    fn arbitrary_text_round_trips_or_names_a_line(t in "(CONFIG_|# |[ -~\t\r\n=\"\\\\é])*") {
        match Config::parse(&t) {
            Ok(c) => prop_assert_eq!(c.to_string(), t),
            Err(e) => {
                prop_assert!(e.line >= 1 && e.line <= t.split('\n').count());
                prop_assert!(!e.expected.is_empty());
            }
        }
    }

    /// Lines the kernel would ignore (indented, spaces around `=`) are errors naming the line.
    #[test]
    fn lines_the_kernel_ignores_are_rejected(
        before in prop::collection::vec(line(), 0..5),
        n in name(),
        v in value(),
        (lead, around) in prop_oneof![Just((" ", "")), Just(("\t", "")), Just(("", " ")), Just(("", "\t"))],
    ) {
        let bad = format!("{lead}CONFIG_{n}{around}={around}{}", v.to_config_text());
        let text = format!("{}\n{bad}\n", before.join("\n"));
        let text = text.trim_start_matches('\n').to_string();
        let line = text.lines().position(|l| l == bad).unwrap() + 1;
        let err = Config::parse(&text).unwrap_err();
        prop_assert_eq!(err.line, line);
        prop_assert_eq!(err.text, bad);
    }

    #[test]
    fn parse_then_write_is_identity(t in text()) {
        let config = Config::parse(&t).unwrap();
        prop_assert_eq!(config.to_string(), t);
    }

    #[test]
    fn written_values_parse_back(pairs in prop::collection::vec((name(), value()), 0..10)) {
        let mut c = Config::new();
        for (n, v) in &pairs {
            c.set(n, v.clone()).unwrap();
        }
        let back = Config::parse(&c.to_string()).unwrap();
        prop_assert_eq!(&back, &c);
        for (n, v) in pairs.iter().rev() {
            // The last assignment of each name wins.
            if pairs.iter().rev().find(|(m, _)| m == n).map(|(_, w)| w) == Some(v) {
                prop_assert_eq!(back.get(n), Some(v));
            }
        }
    }

    #[test]
    fn merge_is_associative_with_later_wins(
        base in text(),
        f1 in fragment(1),
        f2 in fragment(2),
        f3 in fragment(3),
    ) {
        let base = Config::parse(&base).unwrap();
        let all = merge(&base, &[f1.clone(), f2.clone(), f3.clone()]);
        // ((base + f1) + f2) + f3
        let step = merge(
            &merge(&merge(&base, std::slice::from_ref(&f1)).config, std::slice::from_ref(&f2)).config,
            std::slice::from_ref(&f3),
        );
        prop_assert_eq!(step.config.to_string(), all.config.to_string());
        // base + (f1 + f2 + f3 combined into one fragment first)
        let combined = merge(
            &merge(&Config::new(), &[f1.clone(), f2.clone()]).config,
            std::slice::from_ref(&f3),
        );
        let grouped = merge(&base, &[Fragment::from_config(combined.config)]);
        prop_assert_eq!(&grouped.config, &all.config);
        // Later wins: every symbol a fragment mentions has the last fragment's value.
        for f in [&f1, &f2, &f3] {
            for a in f.assignments() {
                let last = [&f3, &f2, &f1]
                    .iter()
                    .find_map(|g| g.config().get(&a.symbol).cloned())
                    .unwrap();
                prop_assert_eq!(all.config.get(&a.symbol), Some(&last));
                prop_assert_eq!(&all.requested.get(&a.symbol).unwrap().value, &last);
            }
        }
        // Symbols no fragment mentions keep the base value.
        for (n, v) in base.symbols() {
            if all.requested.get(n).is_none() {
                prop_assert_eq!(all.config.get(n), Some(v));
            }
        }
    }
}
