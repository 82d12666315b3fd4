//! Event normalization: the raw SDK event becomes the stored shape. Pure.
//!
//! - `event_id`: the envelope header's wins; else the payload's; else a new one.
//! - `timestamp`: RFC 3339 or epoch seconds; shifted by the clock drift measured with the
//!   envelope's `sent_at` when it exceeds a minute; clamped to the receive time when more than
//!   60 s in the future or 30 days in the past (recorded in `errors`).
//! - Defaults: level `error`, platform `other`, environment `production`.
//! - Shapes: `exception`, `breadcrumbs`, `threads` as `{"values": [...]}`; `tags` as a list of
//!   `[key, value]` pairs; `user.ip_address = "{{auto}}"` becomes the client's address.
//! - Trimming to Relay's limits: message 8192, title 1024, culprit 200, tag key 200 and value
//!   200, environment 64, release 200, logger 64.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::grouping::{is_in_app_on, log_message, main_exception};

/// What normalization needs besides the event.
#[derive(Clone, Debug)]
pub struct NormalizeContext {
    /// The envelope header's `event_id` (32 hex).
    pub envelope_event_id: Option<String>,
    /// When ingest received the envelope.
    pub received_at: DateTime<Utc>,
    /// The envelope header's `sent_at`.
    pub sent_at: Option<DateTime<Utc>>,
    /// The client's address.
    pub client_ip: Option<String>,
}

/// A normalized event and the columns extracted from it.
#[derive(Clone, Debug)]
pub struct NormalizedEvent {
    /// 32 lowercase hex.
    pub event_id: String,
    /// When it happened (normalized).
    pub timestamp: DateTime<Utc>,
    /// fatal, error, warning, info or debug.
    pub level: String,
    /// SDK platform.
    pub platform: String,
    /// Release, if any.
    pub release: Option<String>,
    /// Environment.
    pub environment: String,
    /// Issue title: `Type: value` or the message.
    pub title: String,
    /// Where: the transaction or the crashing in-app frame.
    pub culprit: Option<String>,
    /// Identifies the user for distinct-user counts (id, email, username or IP).
    pub user_key: Option<String>,
    /// The whole normalized event.
    pub payload: Value,
}

/// Why an event cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// Not a JSON object.
    #[error("the event is not a JSON object")]
    NotAnObject,
}

const MAX_FUTURE: i64 = 60;
const MAX_PAST_DAYS: i64 = 30;

pub(crate) fn trim(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// An id in the protocol's forms (32 hex, or a hyphenated UUID) as 32 lowercase hex; the same
/// rule ingest applies to envelope headers.
pub(crate) fn valid_event_id(raw: &str) -> Option<String> {
    crate::ingest::envelope::EventId::parse(raw)
        .ok()
        .map(|id| id.to_string())
}

/// Parses an RFC 3339 string or epoch seconds.
pub fn parse_timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => {
            let secs = n.as_f64()?;
            if !secs.is_finite() {
                return None;
            }
            let whole = secs.floor();
            let nanos = ((secs - whole) * 1e9) as u32;
            Utc.timestamp_opt(whole as i64, nanos).single()
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc())
            }),
        _ => None,
    }
}

fn values_shape(value: Option<Value>) -> Option<Value> {
    match value {
        Some(Value::Array(values)) => Some(json!({ "values": values })),
        Some(Value::Object(o)) if o.get("values").is_some_and(Value::is_array) => {
            Some(Value::Object(o))
        }
        Some(Value::Object(o)) => Some(json!({ "values": [Value::Object(o)] })),
        _ => None,
    }
}

fn normalize_tags(value: Option<Value>) -> Value {
    let mut pairs = Vec::new();
    let mut push = |key: &str, value: &Value| {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Null => return,
            other => other.to_string(),
        };
        let key = trim(key.trim(), 200);
        if !key.is_empty() {
            pairs.push(json!([key, trim(&value, 200)]));
        }
    };
    match value {
        Some(Value::Object(map)) => map.iter().for_each(|(k, v)| push(k, v)),
        Some(Value::Array(items)) => {
            for item in items {
                if let Some([k, v]) = item.as_array().map(Vec::as_slice)
                    && let Some(k) = k.as_str()
                {
                    push(k, v);
                }
            }
        }
        _ => {}
    }
    pairs.truncate(100);
    Value::Array(pairs)
}

fn normalize_level(raw: Option<&str>) -> String {
    match raw.map(|l| l.trim().to_lowercase()).as_deref() {
        Some("fatal") | Some("critical") => "fatal",
        Some("warning") | Some("warn") => "warning",
        Some("info") | Some("log") => "info",
        Some("debug") | Some("trace") => "debug",
        _ => "error",
    }
    .to_owned()
}

fn title_of(event: &Value) -> String {
    if let Some(exception) = main_exception(event) {
        let ty = exception
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = exception
            .get("value")
            .and_then(Value::as_str)
            .and_then(|v| v.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or_default()
            .trim();
        let title = match (ty.is_empty(), value.is_empty()) {
            (false, false) => format!("{ty}: {value}"),
            (false, true) => ty.to_owned(),
            (true, false) => value.to_owned(),
            (true, true) => "<unknown error>".to_owned(),
        };
        return trim(&title, 1024);
    }
    let formatted = match event.get("logentry") {
        Some(Value::Object(o)) => o
            .get("formatted")
            .or_else(|| o.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
    .unwrap_or_else(|| log_message(event));
    let line = formatted
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim();
    if line.is_empty() {
        "<unlabeled event>".to_owned()
    } else {
        trim(line, 1024)
    }
}

/// Recomputes the event's `culprit` from its frames as they are now (after symbolication
/// rewrote them); returns it.
pub(crate) fn refresh_culprit(payload: &mut Value) -> Option<String> {
    let culprit = culprit_of(payload);
    if let (Some(culprit), Value::Object(map)) = (&culprit, &mut *payload) {
        map.insert("culprit".to_owned(), json!(culprit));
    }
    culprit
}

fn culprit_of(event: &Value) -> Option<String> {
    if let Some(transaction) = event
        .get("transaction")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Some(trim(transaction, 200));
    }
    let platform = event
        .get("platform")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let frames = culprit_frames(event)?;
    let frame = frames
        .iter()
        .rev()
        .find(|f| is_in_app_on(f, platform))
        .or_else(|| frames.last())?;
    let location = frame
        .get("module")
        .or_else(|| frame.get("filename"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    let function = frame.get("function").and_then(Value::as_str).unwrap_or("?");
    Some(trim(&format!("{location} in {function}"), 200))
}

/// The stack trace the culprit comes from: the main exception's; else the event's own; else a
/// thread's (the crashed one, else the current one, else the only one), where the Rust SDK
/// puts the stack of `capture_error` and `capture_message` with `attach_stacktrace`.
fn culprit_frames(event: &Value) -> Option<&Vec<Value>> {
    if let Some(exception) = main_exception(event)
        && let Some(frames) = frames_of(exception)
    {
        return Some(frames);
    }
    if let Some(frames) = frames_of(event) {
        return Some(frames);
    }
    let threads = event.pointer("/threads/values").and_then(Value::as_array)?;
    let flagged = |key: &str| {
        threads
            .iter()
            .find(|t| t.get(key).and_then(Value::as_bool) == Some(true))
    };
    let thread = flagged("crashed")
        .or_else(|| flagged("current"))
        .or_else(|| (threads.len() == 1).then(|| &threads[0]))?;
    frames_of(thread)
}

fn frames_of(holder: &Value) -> Option<&Vec<Value>> {
    holder
        .pointer("/stacktrace/frames")
        .and_then(Value::as_array)
        .filter(|frames| !frames.is_empty())
}

/// Normalizes one event payload.
pub fn normalize_event(
    raw: Value,
    ctx: &NormalizeContext,
) -> Result<NormalizedEvent, NormalizeError> {
    let Value::Object(mut event) = raw else {
        return Err(NormalizeError::NotAnObject);
    };
    let mut errors: Vec<Value> = event
        .remove("errors")
        .and_then(|e| e.as_array().cloned())
        .unwrap_or_default();

    let event_id = ctx
        .envelope_event_id
        .clone()
        .or_else(|| {
            event
                .get("event_id")
                .and_then(Value::as_str)
                .and_then(valid_event_id)
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    event.insert("event_id".to_owned(), json!(event_id));

    let mut timestamp = event
        .get("timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(ctx.received_at);
    if let Some(sent_at) = ctx.sent_at {
        let drift = ctx.received_at - sent_at;
        if drift.num_seconds().abs() > 60 {
            timestamp += drift;
            errors.push(json!({"type": "clock_drift", "sdk_time": sent_at.to_rfc3339(), "server_time": ctx.received_at.to_rfc3339()}));
        }
    }
    if timestamp > ctx.received_at + Duration::seconds(MAX_FUTURE) {
        errors.push(json!({"type": "future_timestamp", "name": "timestamp", "value": timestamp.to_rfc3339()}));
        timestamp = ctx.received_at;
    } else if timestamp < ctx.received_at - Duration::days(MAX_PAST_DAYS) {
        errors.push(
            json!({"type": "past_timestamp", "name": "timestamp", "value": timestamp.to_rfc3339()}),
        );
        timestamp = ctx.received_at;
    }
    event.insert(
        "timestamp".to_owned(),
        json!(timestamp.timestamp_micros() as f64 / 1e6),
    );
    event.insert(
        "received".to_owned(),
        json!(ctx.received_at.timestamp_micros() as f64 / 1e6),
    );

    let level = normalize_level(event.get("level").and_then(Value::as_str));
    event.insert("level".to_owned(), json!(level));
    let platform = event
        .get("platform")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(|p| trim(p, 64))
        .unwrap_or_else(|| "other".to_owned());
    event.insert("platform".to_owned(), json!(platform));
    let environment = event
        .get("environment")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| trim(e, 64))
        .unwrap_or_else(|| "production".to_owned());
    event.insert("environment".to_owned(), json!(environment));
    let release = event
        .get("release")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| trim(r, 200));
    if let Some(logger) = event.get("logger").and_then(Value::as_str) {
        let logger = trim(logger, 64);
        event.insert("logger".to_owned(), json!(logger));
    }

    for key in ["exception", "breadcrumbs", "threads"] {
        if let Some(shaped) = values_shape(event.remove(key)) {
            event.insert(key.to_owned(), shaped);
        }
    }
    let tags = normalize_tags(event.remove("tags"));
    event.insert("tags".to_owned(), tags);
    if let Some(message) = event.get_mut("message")
        && let Value::String(text) = message
    {
        *text = trim(text, 8192);
    }

    if let Some(Value::Object(user)) = event.get_mut("user")
        && user.get("ip_address").and_then(Value::as_str) == Some("{{auto}}")
    {
        match &ctx.client_ip {
            Some(ip) => user.insert("ip_address".to_owned(), json!(ip)),
            None => user.remove("ip_address"),
        };
    }
    let user_key = event.get("user").and_then(Value::as_object).and_then(|u| {
        ["id", "email", "username", "ip_address"]
            .iter()
            .find_map(|k| match u.get(*k) {
                Some(Value::String(s)) if !s.is_empty() => Some(format!("{k}:{}", trim(s, 180))),
                Some(Value::Number(n)) => Some(format!("{k}:{n}")),
                _ => None,
            })
    });

    if !errors.is_empty() {
        event.insert("errors".to_owned(), Value::Array(errors));
    }
    let payload = Value::Object(event);
    let title = title_of(&payload);
    let culprit = culprit_of(&payload);
    let mut payload = payload;
    if let Value::Object(map) = &mut payload {
        map.insert("title".to_owned(), json!(title));
        if let Some(culprit) = &culprit {
            map.insert("culprit".to_owned(), json!(culprit));
        }
    }
    Ok(NormalizedEvent {
        event_id,
        timestamp,
        level,
        platform,
        release,
        environment,
        title,
        culprit,
        user_key,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> NormalizeContext {
        NormalizeContext {
            envelope_event_id: None,
            received_at: Utc
                .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
                .single()
                .expect("valid"),
            sent_at: None,
            client_ip: Some("203.0.113.7".to_owned()),
        }
    }

    #[test]
    fn defaults_and_title_from_the_main_exception() {
        let event = json!({"event_id": "0123456789abcdef0123456789ABCDEF", "timestamp": "2026-11-23T11:59:00Z",
            "exception": [{"type": "First", "value": "cause"}, {"type": "ZeroDivisionError", "value": "division by zero\nmore",
              "stacktrace": {"frames": [{"module": "shop.tax", "function": "rate", "in_app": true}]}}]});
        let n = normalize_event(event, &ctx()).expect("normalizes");
        assert_eq!(n.event_id, "0123456789abcdef0123456789abcdef");
        assert_eq!(n.level, "error");
        assert_eq!(n.platform, "other");
        assert_eq!(n.environment, "production");
        assert_eq!(n.title, "ZeroDivisionError: division by zero");
        assert_eq!(n.culprit.as_deref(), Some("shop.tax in rate"));
        assert!(
            n.payload["exception"]["values"].is_array(),
            "list becomes values"
        );
    }

    #[test]
    fn envelope_event_id_wins_and_timestamps_are_clamped() {
        let mut c = ctx();
        c.envelope_event_id = Some("ffffffffffffffffffffffffffffffff".to_owned());
        let future = normalize_event(json!({"event_id": "0123456789abcdef0123456789abcdef", "timestamp": "2030-01-01T00:00:00Z", "message": "x"}), &c).expect("ok");
        assert_eq!(future.event_id, "ffffffffffffffffffffffffffffffff");
        assert_eq!(future.timestamp, c.received_at);
        assert_eq!(future.payload["errors"][0]["type"], "future_timestamp");
        let past =
            normalize_event(json!({"timestamp": 1_000_000_000, "message": "x"}), &c).expect("ok");
        assert_eq!(past.timestamp, c.received_at);
    }

    #[test]
    fn clock_drift_is_corrected_with_sent_at() {
        let mut c = ctx();
        // The SDK's clock runs 10 minutes behind.
        c.sent_at = Some(c.received_at - Duration::minutes(10));
        let n = normalize_event(json!({"timestamp": (c.received_at - Duration::minutes(11)).to_rfc3339(), "message": "x"}), &c).expect("ok");
        assert_eq!(n.timestamp, c.received_at - Duration::minutes(1));
    }

    #[test]
    fn tags_user_ip_and_levels() {
        let n = normalize_event(json!({"level": "WARN", "tags": {"browser": "Firefox", "n": 3}, "user": {"ip_address": "{{auto}}"}, "message": "m"}), &ctx()).expect("ok");
        assert_eq!(n.level, "warning");
        assert_eq!(
            n.payload["tags"],
            json!([["browser", "Firefox"], ["n", "3"]])
        );
        assert_eq!(n.payload["user"]["ip_address"], "203.0.113.7");
        assert_eq!(n.user_key.as_deref(), Some("ip_address:203.0.113.7"));
        let listed = normalize_event(
            json!({"tags": [["a", "b"], ["bad"]], "message": {"formatted": "hello world"}}),
            &ctx(),
        )
        .expect("ok");
        assert_eq!(listed.payload["tags"], json!([["a", "b"]]));
        assert_eq!(listed.title, "hello world");
    }

    #[test]
    fn culprits_skip_library_frames_and_fall_back_to_the_thread() {
        // The Rust SDK flags std's and its own panic hook's frames in-app: the culprit is still
        // the application's innermost frame.
        let panic = json!({"platform": "native", "exception": {"values": [{"type": "panic", "value": "boom",
            "stacktrace": {"frames": [
                {"function": "shop::main", "filename": "main.rs", "in_app": true},
                {"function": "shop::cart::total", "filename": "cart.rs", "in_app": true},
                {"function": "core::panicking::panic_fmt", "in_app": false},
                {"function": "__rustc::rust_begin_unwind", "in_app": true},
                {"function": "sentry_panic::panic_handler", "in_app": true}]}}]}});
        let n = normalize_event(panic, &ctx()).expect("ok");
        assert_eq!(n.culprit.as_deref(), Some("cart.rs in shop::cart::total"));
        // `capture_error` with `attach_stacktrace`: the stack is on the current thread.
        let captured = json!({"platform": "native",
            "exception": [{"type": "ParseIntError", "value": "invalid digit found in string"}],
            "threads": [
                {"id": "2", "stacktrace": {"frames": [{"function": "shop::worker", "in_app": true}]}},
                {"id": "1", "current": true, "stacktrace": {"frames": [
                    {"function": "shop::cart::parse", "filename": "cart.rs", "in_app": true},
                    {"function": "sentry_core::api::capture_error", "in_app": true}]}}]});
        let n = normalize_event(captured, &ctx()).expect("ok");
        assert_eq!(n.culprit.as_deref(), Some("cart.rs in shop::cart::parse"));
        let message = json!({"message": "hello", "threads": [{"id": "1", "stacktrace": {"frames": [
            {"module": "shop.jobs", "function": "run"}]}}]});
        let n = normalize_event(message, &ctx()).expect("ok");
        assert_eq!(
            n.culprit.as_deref(),
            Some("shop.jobs in run"),
            "the only thread"
        );
        let bare = normalize_event(json!({"message": "hello"}), &ctx()).expect("ok");
        assert_eq!(bare.culprit, None);
    }

    #[test]
    fn non_objects_are_rejected() {
        assert!(normalize_event(json!([1, 2]), &ctx()).is_err());
    }
}
