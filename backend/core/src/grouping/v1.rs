//! Grouping version 1, frozen: the algorithm that grouped every issue created before version 2.
//!
//! The SDK's `fingerprint` when it has one (`{{ default }}` expands to the default components),
//! else the main exception's type plus its in-app frames (module or file basename, and function;
//! never line numbers), else the exception's type and first line of its value, else the first
//! line of the log message.
//!
//! Invariant: nothing here changes. The digest recomputes these hashes during the transition to
//! find issues created under version 1 (see `super::transition_hashes`), so every helper this
//! module needs is a private copy, untouched by later improvements to the shared ones.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Grouping;

/// The version number stored with issues grouped by this module.
pub const VERSION: i32 = 1;

/// Groups a normalized event with the version 1 algorithm.
pub fn group_event_v1(event: &Value) -> Grouping {
    let default = default_components(event);
    let fingerprint: Vec<String> = event
        .get("fingerprint")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| match p {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let is_default_only =
        fingerprint.is_empty() || fingerprint.iter().all(|p| is_default_marker(p));
    let (kind, values) = if is_default_only {
        default
    } else {
        let mut values = Vec::new();
        for part in &fingerprint {
            if is_default_marker(part) {
                values.extend(default.1.iter().cloned());
            } else {
                values.push(part.clone());
            }
        }
        ("fingerprint", values)
    };
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    for value in &values {
        hasher.update([0u8]);
        hasher.update(value.as_bytes());
    }
    Grouping {
        hash: hex::encode(hasher.finalize()),
        version: VERSION,
        components: json!({"kind": kind, "values": values}),
        title_override: None,
    }
}

fn is_default_marker(part: &str) -> bool {
    let inner = part
        .trim()
        .trim_start_matches("{{")
        .trim_end_matches("}}")
        .trim();
    part.trim().starts_with("{{") && inner == "default"
}

/// The main exception: the last value of the chain.
fn main_exception(event: &Value) -> Option<&Value> {
    event
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .and_then(|v| v.last())
}

/// Frames of an exception, oldest first.
fn frames(exception: &Value) -> Vec<&Value> {
    exception
        .pointer("/stacktrace/frames")
        .and_then(Value::as_array)
        .map(|f| f.iter().collect())
        .unwrap_or_default()
}

/// Whether a frame belongs to the application: the SDK's `in_app` when given, else a path
/// heuristic (third-party and runtime paths are not in-app).
fn is_in_app(frame: &Value) -> bool {
    if let Some(flag) = frame.get("in_app").and_then(Value::as_bool) {
        return flag;
    }
    let path = frame
        .get("abs_path")
        .or_else(|| frame.get("filename"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    !(path.contains("site-packages")
        || path.contains("dist-packages")
        || path.contains("node_modules")
        || path.starts_with("node:")
        || path.starts_with("internal/")
        || path.contains("/lib/python")
        || path.contains("/rustc/")
        || path.contains("/.cargo/registry/"))
}

fn frame_component(frame: &Value) -> Option<String> {
    let location = frame
        .get("module")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty() && !m.contains('/'))
        .map(str::to_owned)
        .or_else(|| {
            frame
                .get("filename")
                .or_else(|| frame.get("abs_path"))
                .and_then(Value::as_str)
                .map(|p| p.rsplit(['/', '\\']).next().unwrap_or(p).to_lowercase())
        })
        .unwrap_or_default();
    let function = frame
        .get("function")
        .and_then(Value::as_str)
        .map(|f| f.trim_start_matches("Object.").to_owned())
        .filter(|f| !f.is_empty() && f != "?" && f != "<anonymous>")
        .unwrap_or_default();
    if location.is_empty() && function.is_empty() {
        None
    } else {
        Some(format!("{location}::{function}"))
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .chars()
        .take(1024)
        .collect()
}

/// Replaces runs of digits with `<int>` so ids and counts do not split issues.
fn parameterize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push_str("<int>");
                in_digits = true;
            }
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

fn default_components(event: &Value) -> (&'static str, Vec<String>) {
    if let Some(exception) = main_exception(event) {
        let ty = exception
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("Error")
            .to_owned();
        let all = frames(exception);
        let in_app: Vec<&Value> = all.iter().copied().filter(|f| is_in_app(f)).collect();
        let chosen = if in_app.is_empty() { all } else { in_app };
        let mut values = vec![ty.clone()];
        let mut previous = None;
        for frame in chosen {
            if let Some(component) = frame_component(frame) {
                // Recursion: identical consecutive frames count once.
                if previous.as_ref() != Some(&component) {
                    values.push(component.clone());
                    previous = Some(component);
                }
            }
        }
        if values.len() > 1 {
            return ("exception_stacktrace", values);
        }
        let value = exception
            .get("value")
            .and_then(Value::as_str)
            .map(first_line)
            .unwrap_or_default();
        return ("exception", vec![ty, parameterize(&value)]);
    }
    let message = log_message(event);
    if !message.is_empty() {
        return ("message", vec![parameterize(&first_line(&message))]);
    }
    (
        "title",
        vec![
            event
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("<unlabeled event>")
                .to_owned(),
        ],
    )
}

/// The log message: the template when the SDK sent one, else the formatted text.
fn log_message(event: &Value) -> String {
    let logentry = event.get("logentry").or_else(|| event.get("message"));
    match logentry {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("message")
            .or_else(|| o.get("formatted"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}
