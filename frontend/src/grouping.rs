//! The grouping explanation in words: reads the components the server stored with an issue
//! (`Issue.grouping.components`, see `backend/core/src/grouping`) into what decided, which
//! values went into the hash, and which frames counted or were left out and why. Pure, so it
//! is unit-tested on the host; unknown shapes fall back to listing their values.

use serde_json::Value;

/// Why an issue's events are one issue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Explanation {
    /// One sentence on what decided.
    pub summary: String,
    /// What went into the hash, in order.
    pub parts: Vec<Part>,
    /// Remarks on the whole (frames considered, repeats folded).
    pub notes: Vec<String>,
    /// For a fingerprint with `{{ default }}`: the default grouping it stands for.
    pub default: Option<Box<Explanation>>,
}

/// One contribution to the hash (an exception of the chain, a fingerprint entry, a message).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Part {
    /// What it is (`ValueError`, `fingerprint entry`, `message`).
    pub label: String,
    /// The value that counted, when one did.
    pub value: Option<String>,
    /// The frames that counted, innermost last, as `module · function` (and the source line
    /// for script platforms).
    pub frames: Vec<String>,
    /// Frames that did not count, with why.
    pub skipped: Vec<String>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `n thing(s)`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn frame(component: &Value) -> String {
    let place = text(&component["module"])
        .or_else(|| text(&component["filename"]))
        .unwrap_or_else(|| "?".to_owned());
    let mut out = match text(&component["function"]) {
        Some(function) => format!("{place} · {function}"),
        None => place,
    };
    if let Some(line) = text(&component["context_line"]) {
        out.push_str(&format!(" · {line}"));
    }
    out
}

fn skipped(component: &Value) -> Vec<String> {
    let reasons = [
        ("not_in_app", "not in app (library or runtime)"),
        ("sdk", "of the error tracker's SDK"),
        ("junk", "without a usable name (anonymous, native, eval)"),
        ("recursion", "repeating the frame before (recursion)"),
    ];
    reasons
        .iter()
        .filter_map(|(key, why)| {
            let n = component[*key].as_u64().filter(|n| *n > 0)?;
            Some(format!("{} {why}", count(n, "frame", "frames")))
        })
        .collect()
}

fn exception_part(value: &Value) -> Part {
    if let Some(plain) = value.as_str() {
        // Version 1 stored plain strings.
        return Part {
            label: plain.to_owned(),
            ..Part::default()
        };
    }
    let label = match (text(&value["type"]), value["synthetic"].as_bool()) {
        (_, Some(true)) => "a message with a stack trace (its type says nothing)".to_owned(),
        (Some(ty), _) => ty,
        (None, _) => "an exception without a type".to_owned(),
    };
    Part {
        label,
        value: text(&value["value"]),
        frames: value["frames"]
            .as_array()
            .map(|frames| frames.iter().map(frame).collect())
            .unwrap_or_default(),
        skipped: skipped(&value["skipped"]),
    }
}

fn plain_parts(values: &Value, label: &str) -> Vec<Part> {
    values
        .as_array()
        .map(|values| {
            values
                .iter()
                .map(|v| Part {
                    label: label.to_owned(),
                    value: text(v),
                    ..Part::default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads stored grouping components into an explanation.
pub fn explain(components: &Value) -> Explanation {
    let kind = components["kind"].as_str().unwrap_or_default();
    let values = &components["values"];
    let mut out = Explanation::default();
    match kind {
        "exception_stacktrace" | "exception" => {
            out.summary = if kind == "exception" {
                "Grouped by exception type and message: no stack frame could tell code paths apart."
                    .to_owned()
            } else if components["frames_used"] == "all" {
                "Grouped by stack trace: exception types and all frames (no frame is marked in-app). Line numbers never count.".to_owned()
            } else {
                "Grouped by stack trace: exception types and in-app frames. Line numbers never count."
                    .to_owned()
            };
            out.parts = values
                .as_array()
                .map(|values| values.iter().map(exception_part).collect())
                .unwrap_or_default();
            if let Some(n) = components["duplicate_exceptions"].as_u64() {
                out.notes.push(format!(
                    "{} of the chain repeated an earlier one and counted once.",
                    count(n, "exception", "exceptions")
                ));
            }
        }
        "message" => {
            out.summary =
                "Grouped by log message, with numbers, ids and other variable parts replaced."
                    .to_owned();
            out.parts = plain_parts(values, "message");
        }
        "title" => {
            out.summary =
                "Grouped by event title: the event had nothing else to group by.".to_owned();
            out.parts = plain_parts(values, "title");
        }
        "fingerprint" | "rule" => {
            out.summary = match text(&components["rule"]) {
                Some(rule) => format!("Grouped by the project's fingerprint rule {rule}"),
                None => "Grouped by the fingerprint the SDK sent.".to_owned(),
            };
            out.parts = plain_parts(values, "fingerprint entry");
            if let Some(title) = text(&components["title"]) {
                out.notes.push(format!("The rule sets the title: {title}"));
            }
            if components["default"].is_object() {
                out.default = Some(Box::new(explain(&components["default"])));
            }
        }
        other => {
            out.summary = format!(
                "Grouped by {}.",
                if other.is_empty() { "unknown" } else { other }
            );
            out.parts = plain_parts(values, "value");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stack_trace_names_its_frames_and_what_was_left_out() {
        let explained = explain(&json!({
            "kind": "exception_stacktrace",
            "frames_used": "in_app",
            "values": [{
                "type": "ValueError",
                "frames": [
                    {"module": "shop.checkout", "function": "checkout_cart"},
                    {"module": "shop.checkout", "function": "charge_card", "context_line": "raise ValueError(msg)"}
                ],
                "skipped": {"not_in_app": 3, "sdk": 1, "junk": 0, "recursion": 0}
            }]
        }));
        assert!(
            explained.summary.contains("in-app frames"),
            "{}",
            explained.summary
        );
        assert_eq!(explained.parts.len(), 1);
        let part = &explained.parts[0];
        assert_eq!(part.label, "ValueError");
        assert_eq!(part.value, None, "the value did not count");
        assert_eq!(
            part.frames,
            [
                "shop.checkout · checkout_cart",
                "shop.checkout · charge_card · raise ValueError(msg)"
            ]
        );
        assert_eq!(
            part.skipped,
            [
                "3 frames not in app (library or runtime)",
                "1 frame of the error tracker's SDK"
            ]
        );
    }

    #[test]
    fn without_usable_frames_the_type_and_value_decide() {
        let explained = explain(&json!({
            "kind": "exception",
            "values": [{"type": "KeyError", "value": "'<sku>'", "skipped": {"junk": 2}}],
            "duplicate_exceptions": 1
        }));
        assert!(explained.summary.contains("type and message"));
        assert_eq!(explained.parts[0].value.as_deref(), Some("'<sku>'"));
        assert_eq!(
            explained.parts[0].skipped,
            ["2 frames without a usable name (anonymous, native, eval)"]
        );
        assert_eq!(
            explained.notes,
            ["1 exception of the chain repeated an earlier one and counted once."]
        );
    }

    #[test]
    fn fingerprints_rules_messages_and_old_versions_read_too() {
        let explained = explain(&json!({
            "kind": "rule", "rule": "error.type:DatabaseError -> database", "title": "Database down",
            "values": ["database", "{{ default }}"],
            "default": {"kind": "message", "values": ["connection to <ip> refused"]}
        }));
        assert_eq!(
            explained.summary,
            "Grouped by the project's fingerprint rule error.type:DatabaseError -> database"
        );
        assert_eq!(explained.parts[1].value.as_deref(), Some("{{ default }}"));
        assert_eq!(explained.notes, ["The rule sets the title: Database down"]);
        let default = explained.default.expect("the default grouping");
        assert_eq!(
            default.parts[0].value.as_deref(),
            Some("connection to <ip> refused")
        );

        let sdk = explain(&json!({"kind": "fingerprint", "source": "sdk", "values": ["checkout"]}));
        assert_eq!(sdk.summary, "Grouped by the fingerprint the SDK sent.");
        // Version 1: plain strings as values.
        let v1 = explain(&json!({"kind": "exception", "values": ["ValueError", "charge_card"]}));
        assert_eq!(v1.parts[1].label, "charge_card");
        let odd = explain(&json!({"kind": "future", "values": [1]}));
        assert_eq!(
            (odd.summary.as_str(), odd.parts[0].value.as_deref()),
            ("Grouped by future.", Some("1"))
        );
    }
}
