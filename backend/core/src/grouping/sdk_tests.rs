//! Grouping over events captured with the real SDKs: `fixtures/sdk/<language>/<case>.<variant>.json`,
//! written by `e2e/sdk/gen_grouping_fixtures.sh` (sentry-sdk for Python, @sentry/node, the
//! `sentry` crate). Each case is one bug; variant `a` and `b` are the same code deployed twice:
//! another install path, lines added above the error, another interpreter or build directory,
//! other ids in the message, another release, host and user. Events go through the digest's
//! path: `normalize_event`, then `group_event_with` (no project rules).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::Value;

use super::*;
use crate::digest::normalize::{NormalizeContext, NormalizedEvent, normalize_event};

const VARIANTS: [&str; 2] = ["a", "b"];

/// The cases each generator captures, by language.
const CASES: [(&str, &[&str]); 3] = [
    (
        "python",
        &[
            "checkout_declined",
            "discount_no_items",
            "discount_unknown_code",
            "load_order_json",
            "logging_declined",
            "message_declined",
            "quantity_add",
            "quantity_update",
        ],
    ),
    (
        "node",
        &[
            "checkout_declined",
            "discount_bad_json",
            "discount_missing",
            "message_declined",
            "quantity_add",
            "quantity_update",
        ],
    ),
    (
        "rust",
        &[
            "capture_error_quantity",
            "checkout_declined",
            "discount_no_items",
            "discount_unknown_code",
            "message_declined",
            "panic_line_total",
            "quantity_add",
            "quantity_update",
        ],
    ),
];

fn fixture_dir(language: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/grouping/fixtures/sdk")
        .join(language)
}

/// A fixture, normalized the way the digest does before grouping.
fn event(language: &str, case: &str, variant: &str) -> NormalizedEvent {
    let path = fixture_dir(language).join(format!("{case}.{variant}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run e2e/sdk/gen_grouping_fixtures.sh)",
            path.display()
        )
    });
    let raw: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let context = NormalizeContext {
        envelope_event_id: None,
        received_at: Utc::now(),
        sent_at: None,
        client_ip: None,
    };
    normalize_event(raw, &context).expect("normalizes")
}

fn grouping(language: &str, case: &str, variant: &str) -> Grouping {
    group_event_with(
        &event(language, case, variant).payload,
        &GroupingConfig::default(),
    )
}

/// Asserts that two cases of one language and variant land in different issues.
fn check_apart(language: &str, a: &str, b: &str) {
    for variant in VARIANTS {
        let (ga, gb) = (
            grouping(language, a, variant),
            grouping(language, b, variant),
        );
        assert_ne!(
            ga.hash, gb.hash,
            "{language}/{variant}: {a} and {b} must stay apart\n  {a}: {}\n  {b}: {}",
            ga.components, gb.components
        );
    }
}

/// The frames of the main exception, innermost last.
fn frames(event: &NormalizedEvent) -> Vec<Value> {
    main_exception(&event.payload)
        .and_then(|e| e.pointer("/stacktrace/frames"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A frame's path: `abs_path`, else `filename` (Node sends only the latter, absolute).
fn path_of(frame: &Value) -> &Value {
    match &frame["abs_path"] {
        Value::Null => &frame["filename"],
        path => path,
    }
}

/// The innermost frame of the application's own code (`shop/` or `app.rs`), by path.
fn app_frame(event: &NormalizedEvent) -> Option<Value> {
    frames(event).into_iter().rev().find(|f| {
        path_of(f)
            .as_str()
            .is_some_and(|p| p.contains("/shop/cart.") || p.ends_with("/app.rs"))
    })
}

fn innermost_app_frame(event: &NormalizedEvent) -> Value {
    app_frame(event).expect("an application frame")
}

#[test]
fn every_case_was_captured_in_both_deploys() {
    for (language, cases) in CASES {
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(fixture_dir(language)).expect("fixture folder") {
            let name = entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8");
            let (case, variant) = name
                .strip_suffix(".json")
                .and_then(|stem| stem.rsplit_once('.'))
                .expect("<case>.<variant>.json");
            found
                .entry(case.to_owned())
                .or_default()
                .push(variant.to_owned());
        }
        for variants in found.values_mut() {
            variants.sort();
        }
        let expected: BTreeMap<String, Vec<String>> = cases
            .iter()
            .map(|case| ((*case).to_owned(), vec!["a".to_owned(), "b".to_owned()]))
            .collect();
        assert_eq!(found, expected, "{language}");
        for case in cases {
            let sdk = event(language, case, "a").payload["sdk"]["name"].clone();
            let expected_sdk = match language {
                "python" => "sentry.python",
                "node" => "sentry.javascript.node",
                _ => "sentry.rust",
            };
            assert_eq!(sdk, expected_sdk, "{language}/{case}");
        }
    }
}

#[test]
fn the_same_bug_deployed_twice_groups_together() {
    for (language, cases) in CASES {
        for case in cases {
            let (a, b) = (grouping(language, case, "a"), grouping(language, case, "b"));
            assert_eq!(
                a.hash, b.hash,
                "{language}/{case}: the two deploys must group together\n  a: {}\n  b: {}",
                a.components, b.components
            );
        }
    }
}

#[test]
fn the_deploys_really_differ() {
    for (language, cases) in CASES {
        for case in cases {
            let (a, b) = (event(language, case, "a"), event(language, case, "b"));
            assert_ne!(a.release, b.release, "{language}/{case}");
            assert_ne!(
                a.payload["server_name"], b.payload["server_name"],
                "{language}/{case}"
            );
            assert_ne!(a.payload["user"], b.payload["user"], "{language}/{case}");
            // The application's innermost frame sits at another path and another line.
            let (Some(app_a), Some(app_b)) = (app_frame(&a), app_frame(&b)) else {
                continue;
            };
            assert_ne!(path_of(&app_a), path_of(&app_b), "{language}/{case}");
            assert_ne!(app_a["lineno"], app_b["lineno"], "{language}/{case}");
        }
    }
    // Ids in the text differ too.
    for language in ["python", "node", "rust"] {
        let (a, b) = (
            event(language, "checkout_declined", "a"),
            event(language, "checkout_declined", "b"),
        );
        assert_ne!(a.title, b.title, "{language}");
    }
    // Python ran on two interpreters: the standard library sits elsewhere.
    let stdlib = |variant| {
        frames(&event("python", "load_order_json", variant))
            .last()
            .and_then(|f| f["abs_path"].as_str().map(str::to_owned))
            .expect("a json/decoder.py frame")
    };
    assert!(stdlib("a").ends_with("/json/decoder.py"), "{}", stdlib("a"));
    assert_ne!(stdlib("a"), stdlib("b"));
}

#[test]
fn different_exception_types_from_one_line_stay_apart() {
    for (language, a, b) in [
        ("python", "discount_unknown_code", "discount_no_items"),
        ("node", "discount_bad_json", "discount_missing"),
        ("rust", "discount_unknown_code", "discount_no_items"),
    ] {
        check_apart(language, a, b);
        let (ea, eb) = (event(language, a, "a"), event(language, b, "a"));
        let (fa, fb) = (innermost_app_frame(&ea), innermost_app_frame(&eb));
        assert_eq!(
            (path_of(&fa), &fa["lineno"]),
            (path_of(&fb), &fb["lineno"]),
            "{language}: one line"
        );
        assert_ne!(
            main_exception(&ea.payload).map(|e| &e["type"]),
            main_exception(&eb.payload).map(|e| &e["type"]),
            "{language}: two types"
        );
    }
}

#[test]
fn different_call_sites_of_one_helper_stay_apart() {
    for language in ["python", "node", "rust"] {
        check_apart(language, "quantity_add", "quantity_update");
        let (add, update) = (
            event(language, "quantity_add", "a"),
            event(language, "quantity_update", "a"),
        );
        let (fa, fu) = (innermost_app_frame(&add), innermost_app_frame(&update));
        assert_eq!(
            (&fa["function"], &fa["lineno"]),
            (&fu["function"], &fu["lineno"]),
            "{language}: one helper, one line"
        );
        assert_eq!(add.title, update.title, "{language}: one error");
    }
}

#[test]
fn a_message_and_an_exception_with_the_same_text_stay_apart() {
    for language in ["python", "node", "rust"] {
        check_apart(language, "message_declined", "checkout_declined");
        let message = event(language, "message_declined", "a");
        let exception = event(language, "checkout_declined", "a");
        let value = main_exception(&exception.payload).and_then(|e| e["value"].as_str());
        assert_eq!(Some(message.title.as_str()), value, "{language}: same text");
    }
    check_apart("python", "logging_declined", "checkout_declined");
    assert_eq!(
        log_message(&event("python", "logging_declined", "a").payload),
        "payment of %s cents for order %s declined"
    );
}

#[test]
fn every_case_is_its_own_issue() {
    for (language, cases) in CASES {
        for variant in VARIANTS {
            let mut seen: BTreeMap<String, &str> = BTreeMap::new();
            for case in cases {
                let hash = grouping(language, case, variant).hash;
                if let Some(other) = seen.insert(hash, case) {
                    panic!("{language}/{variant}: {case} grouped with {other}");
                }
            }
        }
    }
}

#[test]
fn culprits_name_the_application_function() {
    let expected = [
        ("python", "checkout_declined", "shop.cart in charge"),
        ("python", "quantity_add", "shop.cart in parse_quantity"),
        ("python", "load_order_json", "shop.cart in load_order"),
        ("node", "checkout_declined", "shop:cart in charge"),
        ("node", "discount_bad_json", "shop:cart in discountCode"),
        ("node", "quantity_update", "shop:cart in parseQuantity"),
        (
            "rust",
            "checkout_declined",
            "app.rs in rust_grouping_cases::app::charge",
        ),
        (
            "rust",
            "discount_no_items",
            "app.rs in rust_grouping_cases::app::discount_per_item",
        ),
        (
            "rust",
            "quantity_add",
            "app.rs in rust_grouping_cases::app::parse_quantity",
        ),
        ("rust", "panic_line_total", "app.rs in line_total"),
        (
            "rust",
            "capture_error_quantity",
            "main.rs in rust_grouping_cases::main::{{closure}}",
        ),
    ];
    for (language, case, culprit) in expected {
        for variant in VARIANTS {
            assert_eq!(
                event(language, case, variant).culprit.as_deref(),
                Some(culprit),
                "{language}/{case}.{variant}"
            );
        }
    }
}

/// Rust crates and symbols that are never the application's.
fn is_rust_library_function(function: &str) -> bool {
    let function = function.trim_start_matches('<');
    [
        "std::",
        "core::",
        "alloc::",
        "anyhow::",
        "backtrace::",
        "sentry",
        "__rust",
        "__rustc::",
        "__libc_start",
        "_start",
        "at /",
        "catch_unwind<",
        "do_call<",
        "{closure#0}<std::",
    ]
    .iter()
    .any(|prefix| function.starts_with(prefix))
}

#[test]
fn rust_events_are_grouped_and_named_by_application_frames() {
    let (_, cases) = CASES[2];
    for case in cases {
        for variant in VARIANTS {
            let event = event("rust", case, variant);
            let grouping = group_event(&event.payload);
            let culprit = event.culprit.as_deref().unwrap_or_default();
            let function = culprit.split_once(" in ").map_or("", |(_, f)| f);
            assert!(
                !function.is_empty() && !is_rust_library_function(function),
                "rust/{case}.{variant}: culprit {culprit:?}"
            );
            for exception in grouping.components["values"]
                .as_array()
                .into_iter()
                .flatten()
            {
                for frame in exception["frames"].as_array().into_iter().flatten() {
                    let function = frame["function"].as_str().unwrap_or_default();
                    assert!(
                        !is_rust_library_function(function),
                        "rust/{case}.{variant}: {function} contributes: {}",
                        grouping.components
                    );
                }
            }
        }
    }
}
