//! Grouping: which issue an event belongs to. Pure functions over the normalized event JSON.
//!
//! Version 2 (this module) decides with the first of these that applies:
//! 1. the SDK's `fingerprint` (variables such as `{{ error.type }}` resolved; `{{ default }}`
//!    refines the default grouping instead of replacing it);
//! 2. the project's server-side fingerprint rules ([`FingerprintRules`]), first match wins, and
//!    the rule's `title="…"` comes back as [`Grouping::title_override`];
//! 3. the stack traces of the whole exception chain: every exception contributes its type and
//!    its in-app frames (all frames when no exception has an in-app frame). Its parameterized
//!    value contributes too when the frames cannot tell code paths apart: no usable frame, only
//!    frames naming a file but no function or line, library frames only, or a synthetic
//!    exception (a message with an attached stack, whose type means nothing);
//! 4. the exceptions' types and parameterized values, when no exception has a usable frame;
//! 5. the parameterized log message (the template, e.g. `user %s failed`, over the formatted text);
//! 6. the event title.
//!
//! Each result carries `components`: what decided it, including which frames were skipped and
//! why, so the UI can explain why two events are one issue.
//!
//! Invariants: the hash is SHA-256 over a length-prefixed serialization of the grouping version,
//! the strategy and the contributing values, so strategies and versions never collide. The
//! default strategies never read line numbers, absolute paths, the release, host, user or time,
//! so redeploys and new data never split an issue. Version 1 stays available, frozen, as
//! [`group_event_v1`]; [`transition_hashes`] gives the digest the version 1 hash so an issue
//! created under version 1 keeps receiving its events.

mod fingerprint;
mod frame;
mod parameterize;
mod v1;

#[cfg(test)]
mod sdk_tests;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub use fingerprint::{FingerprintRules, RuleError};
pub use v1::group_event_v1;

use fingerprint::{DEFAULT_VARIABLE, Purpose, is_default_variable, variable_name};
use frame::{FrameClass, FrameKey, classify_frame};
use parameterize::{normalize_message, parameterize};

/// The grouping algorithm version stored with each issue.
pub const GROUPING_VERSION: i32 = 2;

/// The outcome of grouping one event.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    /// SHA-256 (hex) over the contributing values.
    pub hash: String,
    /// Algorithm version.
    pub version: i32,
    /// What decided it: `{"kind": "...", "values": [...], ...}`.
    pub components: Value,
    /// The issue title a matching fingerprint rule asked for (`title="…"`, variables expanded).
    pub title_override: Option<String>,
}

/// Per-project grouping settings.
#[derive(Clone, Debug, Default)]
pub struct GroupingConfig {
    /// Server-side fingerprint rules; the default has none.
    pub rules: FingerprintRules,
}

/// Groups a normalized event (see `digest::normalize`) with no project rules.
pub fn group_event(event: &Value) -> Grouping {
    group_event_with(event, &GroupingConfig::default())
}

/// Groups a normalized event with the project's settings. Never fails: an event with nothing to
/// group by falls back to its title, or `<unlabeled event>`.
pub fn group_event_with(event: &Value, config: &GroupingConfig) -> Grouping {
    let default = default_strategy(event);
    let sdk_fingerprint = sdk_fingerprint(event);
    // A fingerprint of only `{{ default }}` is the default grouping, so rules still apply.
    if !sdk_fingerprint
        .iter()
        .all(|entry| is_default_variable(entry))
    {
        let mut extra = Map::new();
        extra.insert("source".to_owned(), json!("sdk"));
        return custom_grouping(
            event,
            "fingerprint",
            extra,
            &sdk_fingerprint,
            &default,
            None,
        );
    }
    if let Some(rule) = config.rules.first_match(event) {
        let title = rule
            .title
            .as_deref()
            .map(|template| fingerprint::expand_title(template, event));
        let mut extra = Map::new();
        extra.insert("rule".to_owned(), json!(rule.text));
        if let Some(title) = &title {
            extra.insert("title".to_owned(), json!(title));
        }
        return custom_grouping(event, "rule", extra, &rule.fingerprint, &default, title);
    }
    finish(default.tokens, default.components, None)
}

/// Hashes under earlier grouping versions, oldest first, as `(version, hash)`: the digest looks
/// these up when the current hash finds no issue, and attaches the new hash to the issue found,
/// so upgrading the algorithm does not split existing issues.
pub fn transition_hashes(event: &Value) -> Vec<(i32, String)> {
    let v1 = group_event_v1(event);
    vec![(v1.version, v1.hash)]
}

/// The main exception: the last value of the chain.
pub fn main_exception(event: &Value) -> Option<&Value> {
    event
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .and_then(|v| v.last())
}

/// Whether a frame belongs to the application: the SDK's `in_app` when given, else heuristics
/// (site-packages and the Python standard library, node_modules and Node internals, the Rust
/// toolchain and registry crates, the Java runtime, and the error tracker SDK's own frames are
/// not the application's). Rust and native frames of the toolchain, of well-known libraries
/// (anyhow, tokio, …) and of the SDK are never the application's, whatever the SDK said. Uses
/// the frame's `platform` when it has one.
pub fn is_in_app(frame: &Value) -> bool {
    is_in_app_on(frame, "")
}

/// [`is_in_app`] for a frame of an event of `event_platform` (the frame's own `platform` wins).
pub fn is_in_app_on(frame: &Value, event_platform: &str) -> bool {
    frame::frame_in_app(frame, frame::frame_platform(frame, event_platform))
}

/// The log message: the template when the SDK sent one, else the formatted text.
pub fn log_message(event: &Value) -> String {
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

/// A trimmed, non-empty string field.
pub(crate) fn text_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The log message template (`logentry.message`), else its formatted text, else a plain
/// `message`; `None` when there is none.
pub(crate) fn message_template(event: &Value) -> Option<String> {
    let from = |entry: &Value| match entry {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.trim().is_empty())
            .or_else(|| o.get("formatted").and_then(Value::as_str))
            .map(str::to_owned),
        _ => None,
    };
    ["logentry", "message"]
        .iter()
        .filter_map(|key| event.get(*key).and_then(from))
        .find(|m| !m.trim().is_empty())
}

/// A default strategy's result before hashing.
struct Strategy {
    /// Hash input: the strategy's kind first, then its values.
    tokens: Vec<String>,
    components: Value,
}

fn finish(tokens: Vec<String>, components: Value, title_override: Option<String>) -> Grouping {
    Grouping {
        hash: hash_tokens(&tokens),
        version: GROUPING_VERSION,
        components,
        title_override,
    }
}

/// SHA-256 over the version and the tokens, each length-prefixed so no two token lists share a
/// serialization.
fn hash_tokens(tokens: &[String]) -> String {
    let mut hasher = Sha256::new();
    let version = GROUPING_VERSION.to_string();
    for token in ["errorwatch-grouping", version.as_str()]
        .into_iter()
        .chain(tokens.iter().map(String::as_str))
    {
        hasher.update(token.len().to_string().as_bytes());
        hasher.update(b":");
        hasher.update(token.as_bytes());
        hasher.update(b",");
    }
    hex::encode(hasher.finalize())
}

fn sdk_fingerprint(event: &Value) -> Vec<String> {
    event
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
        .unwrap_or_default()
}

/// The event's own texts: a fingerprint entry equal to one of them is parameterized, because
/// SDK code like `setFingerprint([err.message])` would otherwise open an issue per id.
fn raw_messages(event: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for key in ["logentry", "message"] {
        match event.get(key) {
            Some(Value::String(s)) => out.push(s.as_str()),
            Some(Value::Object(o)) => {
                out.extend(
                    ["message", "formatted"]
                        .iter()
                        .filter_map(|k| o.get(*k)?.as_str()),
                );
            }
            _ => {}
        }
    }
    if let Some(values) = event.pointer("/exception/values").and_then(Value::as_array) {
        out.extend(values.iter().filter_map(|e| e.get("value")?.as_str()));
    }
    out
}

/// A fingerprint from the SDK or a rule: entries resolved, `{{ default }}` standing for the
/// default grouping's hash. SDK and rule fingerprints hash alike, so moving a fingerprint from
/// code to a rule (or back) keeps the issue.
fn custom_grouping(
    event: &Value,
    kind: &str,
    mut extra: Map<String, Value>,
    entries: &[String],
    default: &Strategy,
    title_override: Option<String>,
) -> Grouping {
    let raw = raw_messages(event);
    let default_hash = hash_tokens(&default.tokens);
    let only_default = entries.iter().all(|e| is_default_variable(e));
    let mut tokens = vec!["fingerprint".to_owned()];
    let mut values = Vec::new();
    for entry in entries {
        if is_default_variable(entry) {
            tokens.push(format!("default:{default_hash}"));
            values.push(json!(DEFAULT_VARIABLE));
        } else if let Some(name) = variable_name(entry) {
            let resolved = fingerprint::resolve_variable(name, event, Purpose::Fingerprint);
            tokens.push(format!("value:{resolved}"));
            values.push(json!(resolved));
        } else {
            let value = if raw.contains(&entry.as_str()) {
                parameterize(entry)
            } else {
                entry.clone()
            };
            tokens.push(format!("value:{value}"));
            values.push(json!(value));
        }
    }
    let mut components = Map::new();
    components.insert("kind".to_owned(), json!(kind));
    components.insert("values".to_owned(), Value::Array(values));
    components.append(&mut extra);
    if entries.iter().any(|e| is_default_variable(e)) {
        components.insert("default".to_owned(), default.components.clone());
    }
    // A rule whose fingerprint is only `{{ default }}` just sets a title: same issue as without it.
    let tokens = if only_default {
        default.tokens.clone()
    } else {
        tokens
    };
    finish(tokens, Value::Object(components), title_override)
}

fn default_strategy(event: &Value) -> Strategy {
    if let Some(strategy) = exception_strategy(event) {
        return strategy;
    }
    if let Some(template) = message_template(event) {
        let normalized = normalize_message(&template);
        return Strategy {
            tokens: vec!["message".to_owned(), normalized.clone()],
            components: json!({"kind": "message", "values": [normalized]}),
        };
    }
    let title = normalize_message(text_of(event, "title").unwrap_or("<unlabeled event>"));
    Strategy {
        tokens: vec!["title".to_owned(), title.clone()],
        components: json!({"kind": "title", "values": [title]}),
    }
}

/// Why frames of one exception did not contribute, counted.
#[derive(Default)]
struct Skipped {
    not_in_app: usize,
    sdk: usize,
    junk: usize,
    recursion: usize,
}

impl Skipped {
    fn component(&self) -> Value {
        json!({
            "not_in_app": self.not_in_app,
            "sdk": self.sdk,
            "junk": self.junk,
            "recursion": self.recursion,
        })
    }
}

/// One exception of the chain, read once.
struct ChainLink {
    ty: Option<String>,
    synthetic: bool,
    value: Option<String>,
    frames: Vec<FrameClass>,
}

fn read_chain(event: &Value) -> Vec<ChainLink> {
    let platform = text_of(event, "platform").unwrap_or_default();
    event
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.is_object())
        .map(|exception| ChainLink {
            ty: text_of(exception, "type").map(str::to_owned),
            synthetic: exception
                .pointer("/mechanism/synthetic")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            value: exception
                .get("value")
                .and_then(Value::as_str)
                .filter(|v| !v.trim().is_empty())
                .map(normalize_message),
            frames: exception
                .pointer("/stacktrace/frames")
                .and_then(Value::as_array)
                .map(|frames| {
                    frames
                        .iter()
                        .map(|frame| classify_frame(frame, platform))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .filter(|link| link.ty.is_some() || link.value.is_some() || !link.frames.is_empty())
        .collect()
}

fn exception_strategy(event: &Value) -> Option<Strategy> {
    let chain = read_chain(event);
    if chain.is_empty() {
        return None;
    }
    let in_app_only = chain.iter().any(|link| {
        link.frames
            .iter()
            .any(|class| matches!(class, FrameClass::Usable { in_app: true, .. }))
    });
    let mut any_frames = false;
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut duplicates = 0;
    let mut values = Vec::new();
    let mut tokens = Vec::new();
    for link in &chain {
        let mut skipped = Skipped::default();
        let mut frames: Vec<&FrameKey> = Vec::new();
        for class in &link.frames {
            match class {
                FrameClass::Sdk => skipped.sdk += 1,
                FrameClass::Junk => skipped.junk += 1,
                FrameClass::Usable { in_app: false, .. } if in_app_only => skipped.not_in_app += 1,
                // Recursion: identical consecutive frames count once.
                FrameClass::Usable { key, .. } if frames.last() == Some(&key) => {
                    skipped.recursion += 1;
                }
                FrameClass::Usable { key, .. } => frames.push(key),
            }
        }
        // Synthetic exceptions (a message with an attached stack) have no meaningful type.
        let ty = if link.synthetic {
            None
        } else {
            link.ty.clone()
        };
        let mut link_tokens = vec![
            "exception".to_owned(),
            format!("type:{}", ty.as_deref().unwrap_or_default()),
        ];
        let mut component = Map::new();
        component.insert("type".to_owned(), json!(ty));
        if link.synthetic {
            component.insert("synthetic".to_owned(), json!(true));
        }
        // The value decides too when the frames cannot: no usable frame, only frames that name a
        // file but no place in it (anonymous functions on long lines), a synthetic exception (the
        // value is the message), or only library frames (which say nothing about the app).
        let weak = frames
            .iter()
            .all(|key| key.function.is_none() && key.context_line.is_none());
        let with_value = weak || link.synthetic || !in_app_only;
        if !frames.is_empty() {
            any_frames = true;
            for key in &frames {
                link_tokens.push("frame".to_owned());
                link_tokens.extend(key.tokens());
            }
            component.insert(
                "frames".to_owned(),
                frames.iter().map(|key| key.component()).collect(),
            );
        }
        if with_value {
            let value = link.value.clone().unwrap_or_default();
            link_tokens.push(format!("value:{value}"));
            component.insert("value".to_owned(), json!(value));
        }
        component.insert("skipped".to_owned(), skipped.component());
        // The same failure repeated in a chain or group (AggregateError of N identical
        // rejections, a retry loop re-raising) counts once, so N does not split the issue.
        if seen.contains(&link_tokens) {
            duplicates += 1;
            continue;
        }
        seen.push(link_tokens.clone());
        tokens.extend(link_tokens);
        values.push(Value::Object(component));
    }
    let kind = if any_frames {
        "exception_stacktrace"
    } else {
        "exception"
    };
    let mut all_tokens = vec![kind.to_owned()];
    all_tokens.extend(tokens);
    let mut components = Map::new();
    components.insert("kind".to_owned(), json!(kind));
    components.insert("values".to_owned(), Value::Array(values));
    if any_frames {
        components.insert(
            "frames_used".to_owned(),
            json!(if in_app_only { "in_app" } else { "all" }),
        );
    }
    if duplicates > 0 {
        components.insert("duplicate_exceptions".to_owned(), json!(duplicates));
    }
    Some(Strategy {
        tokens: all_tokens,
        components: Value::Object(components),
    })
}
