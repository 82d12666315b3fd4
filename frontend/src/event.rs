//! How the event page reads a stored event: pluralised counts, breadcrumb times (RFC 3339
//! strings and epoch seconds alike) as clock times with an offset to the event, the
//! handled/unhandled mechanism badge, the message and logger of log events, and the user,
//! request and contexts as named key/value cards. Pure (no browser calls: the caller passes
//! the UTC offset), so everything here is unit-tested on the host.
//!
//! Invariant: a value shown in a card is never raw JSON. Nested objects become dotted keys
//! (`geo.city`), lists of plain values are joined with commas, and `null`s and empty objects
//! are left out.

use serde_json::{Map, Value};

use crate::components::file_size;
use crate::dates::{civil_from_days, days_from_civil};

/// The noun as it goes with `n`, the English way for the nouns of the dashboard: `event` for
/// 1, `events` for 0 or 2, `hashes` for 2.
pub fn noun_for(n: i64, noun: &str) -> String {
    if n == 1 {
        return noun.to_owned();
    }
    let ending = if ["s", "sh", "ch", "x"].iter().any(|e| noun.ends_with(e)) {
        "es"
    } else {
        "s"
    };
    format!("{noun}{ending}")
}

/// `n` and the noun, pluralised ([`noun_for`]): `1 event`, `2 events`, `0 users`.
pub fn plural(n: i64, noun: &str) -> String {
    format!("{n} {}", noun_for(n, noun))
}

/// Epoch seconds of an RFC 3339 time (`2026-11-23T17:31:10.582127Z`, `…+02:00`; a time
/// without a zone is UTC, and a space may stand for the `T`); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = parse_number(&format!("0.{}", &after_dot[..digits]))?;
        rest = &after_dot[digits..];
    }
    let offset_seconds = match rest {
        "" | "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = digits[2..].parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let whole = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Some(whole as f64 + fraction)
}

/// A decimal number (`1733580000.123`), read by serde_json's parser: the dashboard already
/// carries it, where `str::parse::<f64>` would add the standard library's own to the bundle.
fn parse_number(text: &str) -> Option<f64> {
    serde_json::from_str::<f64>(text.trim())
        .ok()
        .filter(|n| n.is_finite())
}

/// Epoch seconds of a timestamp as SDKs send one: a number (`1733580000.123`), the same as a
/// string (the API passes numbers on as text), or an RFC 3339 string.
pub fn epoch_seconds(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().filter(|s| s.is_finite()),
        Value::String(text) => parse_number(text).or_else(|| parse_rfc3339(text)),
        _ => None,
    }
}

/// The wall-clock time of epoch seconds, to the millisecond, `offset_minutes` east of UTC
/// (the browser's offset for that moment): `14:20:00.123`.
pub fn clock_time(seconds: f64, offset_minutes: i64) -> String {
    let millis = (seconds * 1000.0).round() as i64 + offset_minutes * 60_000;
    let of_day = millis.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

/// Epoch seconds as a full UTC date and time, for a tooltip: `2026-11-23 17:31:45.697 UTC`.
pub fn utc_date_time(seconds: f64) -> String {
    let millis = (seconds * 1000.0).round() as i64;
    let (year, month, day) = civil_from_days(millis.div_euclid(86_400_000));
    format!(
        "{year:04}-{month:02}-{day:02} {} UTC",
        clock_time(seconds, 0)
    )
}

/// How long before (`-`) or after (`+`) the event something happened: `-136 ms`, `-2.5 s`,
/// `-3 min 5 s`, `-2 h 10 min`, `-14 d 3 h`.
pub fn relative_offset(delta_seconds: f64) -> String {
    let millis = (delta_seconds * 1000.0).round() as i64;
    let sign = match millis {
        m if m < 0 => "-",
        m if m > 0 => "+",
        _ => "",
    };
    let ms = millis.abs();
    let body = match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {} s", ms / 60_000, ms / 1000 % 60),
        3_600_000..=86_399_999 => format!("{} h {} min", ms / 3_600_000, ms / 60_000 % 60),
        _ => format!("{} d {} h", ms / 86_400_000, ms / 3_600_000 % 24),
    };
    format!("{sign}{body}")
}

/// How an exception was caught, from its `mechanism`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mechanism {
    /// `handled` as sent: `None` when the SDK did not say.
    pub handled: Option<bool>,
    /// The mechanism's `type` (`excepthook`, `generic`, `auto.http.express`, …).
    pub kind: Option<String>,
}

impl Mechanism {
    /// Reads an exception's `mechanism`; `None` when it says neither whether it was handled
    /// nor how it was caught.
    pub fn of(mechanism: &Value) -> Option<Self> {
        let handled = mechanism.get("handled").and_then(Value::as_bool);
        let kind = mechanism
            .get("type")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        (handled.is_some() || kind.is_some()).then_some(Self { handled, kind })
    }

    /// The badge text: `unhandled · excepthook`, `handled · generic`, or either part alone.
    pub fn label(&self) -> String {
        let handled = self
            .handled
            .map(|h| if h { "handled" } else { "unhandled" });
        handled
            .into_iter()
            .chain(self.kind.as_deref())
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// The event's badge from its exceptions' mechanisms (in the protocol's order, the one that
/// ended the event last): unhandled when any of them says so, as Sentry counts it (the browser
/// SDK marks the value its global handler caught, which after linking a `cause` is not the
/// last), else the last one that says anything.
pub fn event_mechanism(mechanisms: &[Option<Mechanism>]) -> Option<Mechanism> {
    let said = || mechanisms.iter().rev().flatten();
    said()
        .find(|m| m.handled == Some(false))
        .or_else(|| said().next())
        .cloned()
}

/// The message of a log or message event and who logged it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogMessage {
    /// The message as people read it (params filled in).
    pub text: String,
    /// The template, when it differs from the text (`payment webhook %s returned %d`).
    pub template: Option<String>,
    /// The logger (`shop.worker`), when the SDK sent one.
    pub logger: Option<String>,
}

/// The event's message: `logentry.formatted`, else `logentry.message` with its `params`
/// filled in, else a plain `message` (the protocol also allows `message` to be the
/// `logentry` object). `None` when the event carries no message.
pub fn log_message(payload: &Value) -> Option<LogMessage> {
    let entry = payload
        .get("logentry")
        .filter(|e| e.is_object())
        .or_else(|| payload.get("message").filter(|m| m.is_object()));
    let non_empty = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let template = entry.and_then(|e| non_empty(e.get("message")));
    let text = entry
        .and_then(|e| non_empty(e.get("formatted")))
        .or_else(|| {
            let params = entry.and_then(|e| e.get("params"));
            template
                .as_deref()
                .map(|t| params.map_or_else(|| t.to_owned(), |p| fill_params(t, p)))
        })
        .or_else(|| non_empty(payload.get("message")))?;
    let logger = non_empty(payload.get("logger"));
    let template = template.filter(|t| *t != text);
    Some(LogMessage {
        text,
        template,
        logger,
    })
}

/// A printf-style template (Python logging's `%s`, `%d`, `%r`, `%(name)s`, `%%`) with its
/// params: a list fills the positional ones in order, an object the named ones. Directives
/// without a param stay as written.
fn fill_params(template: &str, params: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut positional = params.as_array().map(|a| a.iter());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut spec = String::from("%");
        let mut name = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let key: String = chars.by_ref().take_while(|c| *c != ')').collect();
            spec.push_str(&format!("({key})"));
            name = Some(key);
        }
        // Flags, width and precision, then the conversion letter.
        while let Some(&next) = chars.peek() {
            spec.push(next);
            chars.next();
            if next.is_ascii_alphabetic() {
                break;
            }
        }
        let param = match &name {
            Some(key) => params.get(key.as_str()),
            None => positional.as_mut().and_then(Iterator::next),
        };
        match param {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => out.push_str(&spec),
        }
    }
    out
}

/// One row of a key/value card.
pub type Row = (String, String);

/// A key for people: `ip_address` → `IP address`, `kernel_version` → `Kernel version`,
/// `geo.city` → `Geo city`.
pub fn key_label(key: &str) -> String {
    let words: Vec<String> = key
        .split(['_', ' ', '.'])
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, word)| match word.to_ascii_lowercase().as_str() {
            "id" => "ID".to_owned(),
            "ip" => "IP".to_owned(),
            "url" => "URL".to_owned(),
            "os" => "OS".to_owned(),
            "cpu" => "CPU".to_owned(),
            "gpu" => "GPU".to_owned(),
            "sdk" => "SDK".to_owned(),
            _ if i == 0 => {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            }
            _ => word.to_owned(),
        })
        .collect();
    if words.is_empty() {
        key.to_owned()
    } else {
        words.join(" ")
    }
}

/// A plain value as text; `None` for `null`, objects and lists of non-plain values.
fn plain_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a numeric value under `key` counts bytes (`memory_size`, `free_memory`,
/// `app_memory`, `storage_size`, …).
fn is_byte_count(key: &str) -> bool {
    let key = key.rsplit('.').next().unwrap_or(key);
    key.ends_with("memory") || key.ends_with("_size") || key.ends_with("storage")
}

/// Appends the rows of `value` under `key`: plain values as text (byte counts in KiB/MiB/GiB),
/// objects as dotted keys, lists of plain values joined by commas, other lists by index.
fn push_rows(rows: &mut Vec<Row>, key: String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (child, nested) in map {
                let name = if key.is_empty() {
                    child.clone()
                } else {
                    format!("{key}.{child}")
                };
                push_rows(rows, name, nested);
            }
        }
        Value::Array(items) => {
            let plain: Option<Vec<String>> = items.iter().map(plain_text).collect();
            match plain {
                Some(texts) if !texts.is_empty() => rows.push((key, texts.join(", "))),
                Some(_) => {}
                None => {
                    for (index, item) in items.iter().enumerate() {
                        push_rows(rows, format!("{key}.{index}"), item);
                    }
                }
            }
        }
        Value::Number(n) if is_byte_count(&key) => {
            let bytes = n.as_f64().unwrap_or_default() as i64;
            rows.push((key, file_size(bytes)));
        }
        other => {
            if let Some(text) = plain_text(other) {
                rows.push((key, text));
            }
        }
    }
}

/// The rows of an object, nested values flattened (see the module's invariant). A non-object
/// gives one row under `value`.
pub fn flatten(value: &Value) -> Vec<Row> {
    let mut rows = Vec::new();
    match value {
        Value::Object(_) => push_rows(&mut rows, String::new(), value),
        other => push_rows(&mut rows, "value".to_owned(), other),
    }
    rows
}

/// A titled key/value card (the user, one context).
#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    /// The key in the event (`browser`, `runtime`, `user`): a stable handle for styling and
    /// tests.
    pub key: String,
    /// What people read: `Browser: Chrome 131.0`, `Runtime: CPython 3.11.7`.
    pub title: String,
    /// The card's rows.
    pub rows: Vec<Row>,
}

fn text_at(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(plain_text)
        .filter(|text| !text.is_empty())
}

/// `name version` of a context, whichever parts are there.
fn name_and_version(object: &Map<String, Value>, name: &str, version: &str) -> Option<String> {
    let name = text_at(object, name).map(|n| {
        // `node` and the like are sent in lowercase: name them as their makers do.
        if n.chars().all(|c| c.is_ascii_lowercase()) {
            key_label(&n)
        } else {
            n
        }
    });
    let parts: Vec<String> = name.into_iter().chain(text_at(object, version)).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The title of a context: its kind (from `type`, else its key) and what it is, the way
/// Sentry names them: `Browser: Chrome 131.0`, `OS: macOS 14.5`, `Runtime: Node v20.19.0`,
/// `Device: iPhone14,2`, `App: shop 3.8.0`, `Trace`, `Order`.
fn context_title(key: &str, object: &Map<String, Value>) -> String {
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && *t != "default")
        .unwrap_or(key);
    let (label, detail) = match kind {
        "browser" => (
            "Browser".to_owned(),
            name_and_version(object, "name", "version"),
        ),
        "os" | "client_os" => (
            if kind == "os" { "OS" } else { "Client OS" }.to_owned(),
            name_and_version(object, "name", "version")
                .or_else(|| text_at(object, "raw_description")),
        ),
        "runtime" => (
            "Runtime".to_owned(),
            name_and_version(object, "name", "version"),
        ),
        "device" => (
            "Device".to_owned(),
            ["model", "name", "family", "arch"]
                .iter()
                .find_map(|k| text_at(object, k)),
        ),
        "app" => (
            "App".to_owned(),
            name_and_version(object, "app_name", "app_version"),
        ),
        "gpu" => (
            "GPU".to_owned(),
            name_and_version(object, "name", "version"),
        ),
        "culture" => ("Culture".to_owned(), text_at(object, "locale")),
        "cloud_resource" => ("Cloud".to_owned(), text_at(object, "cloud.provider")),
        "trace" => ("Trace".to_owned(), text_at(object, "op")),
        "response" => ("Response".to_owned(), text_at(object, "status_code")),
        other => (key_label(other), None),
    };
    match detail {
        Some(detail) => format!("{label}: {detail}"),
        None => label,
    }
}

/// Where a context's card goes: what the code ran on first (browser, OS, runtime, device,
/// app), then the application's own contexts, the trace last.
fn context_rank(key: &str, value: &Value) -> u8 {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or(key);
    match kind {
        "browser" => 0,
        "client_os" => 1,
        "os" => 2,
        "runtime" => 3,
        "device" => 4,
        "app" => 5,
        "gpu" => 6,
        "culture" | "cloud_resource" => 8,
        "trace" => 9,
        _ => 7,
    }
}

/// One card per context (`browser`, `os`, `runtime`, `device`, `app`, `trace`, and any the
/// application set), in reading order (see `context_rank`, then by key); empty contexts are
/// left out.
pub fn context_cards(contexts: &Value) -> Vec<Card> {
    let Some(map) = contexts.as_object() else {
        return Vec::new();
    };
    // By rank, then by key (the map's order): ten passes over a handful of contexts cost less
    // than a sort in the bundle.
    (0..=9)
        .flat_map(|rank| {
            map.iter()
                .filter(move |(key, value)| context_rank(key, value) == rank)
        })
        .filter_map(|(key, value)| {
            let card = match value {
                Value::Object(object) => Card {
                    key: key.clone(),
                    title: context_title(key, object),
                    rows: flatten(value)
                        .into_iter()
                        .filter(|(k, _)| k != "type")
                        .map(|(k, v)| (key_label(&k), v))
                        .collect(),
                },
                other => Card {
                    key: key.clone(),
                    title: key_label(key),
                    rows: flatten(other),
                },
            };
            (!card.rows.is_empty()).then_some(card)
        })
        .collect()
}

/// The user card: `id`, `email`, `username`, `ip_address` first, then whatever else the SDK
/// sent (`name`, `geo.city`, `data.…`), titled by how people know the user (email, else
/// username, else id, else address).
pub fn user_card(user: &Value) -> Option<Card> {
    let object = user.as_object()?;
    let known = ["id", "email", "username", "ip_address"];
    let mut rows: Vec<Row> = known
        .iter()
        .filter_map(|k| text_at(object, k).map(|v| (key_label(k), v)))
        .collect();
    for (key, value) in object.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
        let mut nested = Vec::new();
        push_rows(&mut nested, key.clone(), value);
        rows.extend(nested.into_iter().map(|(k, v)| (key_label(&k), v)));
    }
    let who = ["email", "username", "id", "ip_address"]
        .iter()
        .find_map(|k| text_at(object, k));
    (!rows.is_empty()).then(|| Card {
        key: "user".to_owned(),
        title: who.map_or_else(|| "User".to_owned(), |who| format!("User: {who}")),
        rows,
    })
}

/// The HTTP request of an event, in parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// `GET https://shop.example.com/api/orders/7`, whichever parts were sent.
    pub line: String,
    /// The query string's parameters.
    pub query: Vec<Row>,
    /// The headers, in the order sent.
    pub headers: Vec<Row>,
    /// The cookies.
    pub cookies: Vec<Row>,
    /// The body (form fields or JSON, flattened; a plain body under `body`).
    pub data: Vec<Row>,
    /// The server environment (`REMOTE_ADDR`, `SERVER_NAME`, …).
    pub env: Vec<Row>,
}

/// Pairs from an object, a list of `[key, value]` pairs, or a `separator`-joined string of
/// `key=value` (a query string, a cookie header).
fn pairs(value: &Value, separator: char) -> Vec<Row> {
    match value {
        Value::String(text) => text
            .split(separator)
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (part.to_owned(), String::new()),
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|pair| {
                let pair = pair.as_array()?;
                let key = plain_text(pair.first()?)?;
                let value = pair.get(1).map(|v| plain_text(v).unwrap_or_default());
                Some((key, value.unwrap_or_default()))
            })
            .collect(),
        Value::Object(_) => flatten(value),
        _ => Vec::new(),
    }
}

/// Reads an event's `request`; `None` when it has none.
pub fn request_view(request: &Value) -> Option<Request> {
    let object = request.as_object().filter(|o| !o.is_empty())?;
    let line: Vec<String> = ["method", "url"]
        .iter()
        .filter_map(|k| text_at(object, k))
        .collect();
    let data = match object.get("data") {
        Some(Value::String(body)) if !body.is_empty() => vec![("body".to_owned(), body.clone())],
        Some(other) => flatten(other),
        None => Vec::new(),
    };
    let part = |key: &str, separator: char| {
        object
            .get(key)
            .map_or_else(Vec::new, |v| pairs(v, separator))
    };
    Some(Request {
        line: line.join(" "),
        query: part("query_string", '&'),
        headers: part("headers", '\n'),
        cookies: part("cookies", ';'),
        data,
        env: part("env", '\n'),
    })
}

/// An HTTP breadcrumb's request in one line.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpCall {
    /// `GET`, `POST`, …
    pub method: Option<String>,
    /// The address called.
    pub url: Option<String>,
    /// The response status, when one came back.
    pub status: Option<i64>,
}

impl HttpCall {
    /// A class for the status: `ok` (2xx), `redirect` (3xx), `client-error` (4xx),
    /// `server-error` (5xx), `unknown` otherwise.
    pub fn status_class(&self) -> &'static str {
        match self.status {
            Some(200..=299) => "ok",
            Some(300..=399) => "redirect",
            Some(400..=499) => "client-error",
            Some(500..=599) => "server-error",
            _ => "unknown",
        }
    }
}

/// A breadcrumb's `data`, read for the timeline: the HTTP call of `http` breadcrumbs (method,
/// URL, status) and every other key as a row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrumbData {
    /// The call, for breadcrumbs with a URL or method in their data.
    pub http: Option<HttpCall>,
    /// The remaining data.
    pub rows: Vec<Row>,
}

/// Reads a breadcrumb's `data`.
pub fn crumb_data(data: Option<&Value>) -> CrumbData {
    let Some(object) = data.and_then(Value::as_object) else {
        return CrumbData {
            http: None,
            rows: data.map(flatten).unwrap_or_default(),
        };
    };
    let method = text_at(object, "method");
    let url = text_at(object, "url");
    let status = object.get("status_code").and_then(|s| {
        s.as_i64()
            .or_else(|| s.as_str().and_then(|t| t.trim().parse().ok()))
    });
    let is_call = method.is_some() || url.is_some();
    let http = is_call.then_some(HttpCall {
        method,
        url,
        status,
    });
    let taken: &[&str] = if is_call {
        &["method", "url", "status_code"]
    } else {
        &[]
    };
    let mut rows = Vec::new();
    for (key, value) in object.iter().filter(|(k, _)| !taken.contains(&k.as_str())) {
        push_rows(&mut rows, key.clone(), value);
    }
    CrumbData { http, rows }
}

/// What source maps did to a stack frame, for the frame's badge and note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceMapNote {
    /// The frame shows its original position: the badge's tooltip says how the map was found;
    /// `warning` what the mapping lacks (such as the source text), as a sentence.
    Mapped {
        /// The badge's tooltip.
        tooltip: String,
        /// What is missing, if anything.
        warning: Option<String>,
    },
    /// The frame stays minified: why, as a sentence.
    Unmapped {
        /// The reason.
        text: String,
    },
}

/// The note of a frame from its `symbolicated`, `resolvedWith`, `symbolicationError` and
/// `symbolicationWarning` (`(code, message)`); `None` for a frame source maps did not concern.
pub fn source_map_note(
    symbolicated: bool,
    resolved_with: Option<&str>,
    error: Option<(&str, &str)>,
    warning: Option<(&str, &str)>,
) -> Option<SourceMapNote> {
    let sentence = |(code, message): (&str, &str)| {
        crate::api::as_sentence(if message.is_empty() { code } else { message })
    };
    if symbolicated {
        let how = match resolved_with {
            Some("debug_id") => "Original position from a source map found by its debug id",
            Some("release") => {
                "Original position from a source map found by the release and file URL"
            }
            _ => "Original position from a source map",
        };
        let warning = warning.map(sentence);
        let tooltip = match &warning {
            Some(warning) => format!("{how}. {warning}"),
            None => format!("{how}."),
        };
        return Some(SourceMapNote::Mapped { tooltip, warning });
    }
    error.map(|error| SourceMapNote::Unmapped {
        text: format!("Minified: {}", sentence(error)),
    })
}

/// How many frames of a stack source maps mapped and could not map, in words (`None` when
/// source maps did not concern the stack).
pub fn stack_summary(notes: &[Option<SourceMapNote>]) -> Option<String> {
    let mapped = notes
        .iter()
        .filter(|n| matches!(n, Some(SourceMapNote::Mapped { .. })))
        .count() as i64;
    let unmapped = notes
        .iter()
        .filter(|n| matches!(n, Some(SourceMapNote::Unmapped { .. })))
        .count() as i64;
    match (mapped, unmapped) {
        (0, 0) => None,
        (_, 0) => Some(format!("{} mapped by source maps", plural(mapped, "frame"))),
        (0, _) => Some(format!(
            "{} could not be mapped by source maps",
            plural(unmapped, "frame")
        )),
        _ => Some(format!(
            "{} of {} mapped by source maps",
            mapped,
            plural(mapped + unmapped, "frame")
        )),
    }
}

/// Where a frame is: `file:line:column` (as much as is known; `?` without a file).
pub fn frame_location(file: Option<&str>, lineno: Option<i64>, colno: Option<i64>) -> String {
    let mut out = file.unwrap_or("?").to_owned();
    if let Some(line) = lineno {
        out.push_str(&format!(":{line}"));
        if let Some(col) = colno {
            out.push_str(&format!(":{col}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_event_is_unhandled_when_any_exception_says_so() {
        let m = |handled: Option<bool>, kind: &str| {
            Some(Mechanism {
                handled,
                kind: Some(kind.to_owned()),
            })
        };
        // The browser SDK: the cause carries the global handler's mechanism.
        let browser = [
            m(Some(false), "auto.browser.browserapierrors.setTimeout"),
            m(Some(true), "generic"),
        ];
        assert_eq!(
            event_mechanism(&browser).map(|m| m.label()).as_deref(),
            Some("unhandled · auto.browser.browserapierrors.setTimeout")
        );
        // Python: the last value's mechanism.
        let python = [m(Some(true), "chained"), m(Some(true), "excepthook")];
        assert_eq!(
            event_mechanism(&python).map(|m| m.label()).as_deref(),
            Some("handled · excepthook")
        );
        assert_eq!(
            event_mechanism(&[None, m(None, "generic")])
                .map(|m| m.label())
                .as_deref(),
            Some("generic")
        );
        assert_eq!(event_mechanism(&[None, None]), None);
    }
    use super::*;
    use serde_json::json;

    fn rows(pairs: &[(&str, &str)]) -> Vec<Row> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn counts_are_pluralised() {
        assert_eq!(plural(1, "event"), "1 event");
        assert_eq!(plural(2, "event"), "2 events");
        assert_eq!(plural(0, "user"), "0 users");
        assert_eq!(plural(1, "user"), "1 user");
        assert_eq!(plural(3, "hash"), "3 hashes");
        assert_eq!(plural(-1, "frame"), "-1 frames");
        assert_eq!(noun_for(1, "hash"), "hash");
        assert_eq!(noun_for(2, "user"), "users");
    }

    #[test]
    fn rfc3339_times_parse_to_epoch_seconds() {
        let check = |text: &str, expect: Option<f64>| {
            let got = parse_rfc3339(text);
            match (got, expect) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-6, "{text}: {g} vs {e}"),
                _ => assert_eq!(got, expect, "{text}"),
            }
        };
        check("1970-01-01T00:00:00Z", Some(0.0));
        check("2024-12-07T14:00:00.123Z", Some(1_733_580_000.123));
        check("2024-12-07T16:00:00.123+02:00", Some(1_733_580_000.123));
        check("2024-12-07T13:30:00.123-0030", Some(1_733_580_000.123));
        check("2024-12-07 14:00:00", Some(1_733_580_000.0));
        check("2026-11-23T17:31:10.582127Z", Some(1_795_455_070.582_127));
        check("2000-02-29T00:00:00Z", Some(951_782_400.0));
        check("2024-13-07T14:00:00Z", None);
        check("2024-12-07T14:00:00.Z", None);
        check("2024-12-07T14:00:00+2", None);
        check("yesterday", None);
        check("", None);
    }

    #[test]
    fn timestamps_come_as_numbers_strings_or_rfc3339() {
        assert_eq!(
            epoch_seconds(&json!(1_733_580_000.123)),
            Some(1_733_580_000.123)
        );
        assert_eq!(
            epoch_seconds(&json!("1733580000.123")),
            Some(1_733_580_000.123)
        );
        assert_eq!(
            epoch_seconds(&json!("2024-12-07T14:00:00Z")),
            Some(1_733_580_000.0)
        );
        assert_eq!(epoch_seconds(&json!("soon")), None);
        assert_eq!(epoch_seconds(&json!(null)), None);
    }

    #[test]
    fn clock_times_show_milliseconds_in_the_local_zone() {
        assert_eq!(clock_time(1_733_580_000.123, 0), "14:00:00.123");
        assert_eq!(clock_time(1_733_581_200.5, 0), "14:20:00.500");
        assert_eq!(clock_time(1_733_580_000.123, 60), "15:00:00.123");
        assert_eq!(clock_time(1_733_580_000.123, -15 * 60), "23:00:00.123");
        assert_eq!(clock_time(1_795_455_105.697, 0), "17:31:45.697");
        assert_eq!(
            utc_date_time(1_795_455_105.697),
            "2026-11-23 17:31:45.697 UTC"
        );
        assert_eq!(utc_date_time(951_782_400.0), "2000-02-29 00:00:00.000 UTC");
    }

    #[test]
    fn offsets_to_the_event_read_naturally() {
        assert_eq!(relative_offset(-0.136), "-136 ms");
        assert_eq!(relative_offset(0.0), "0 ms");
        assert_eq!(relative_offset(-2.5), "-2.5 s");
        assert_eq!(relative_offset(185.0), "+3 min 5 s");
        assert_eq!(relative_offset(-7_800.0), "-2 h 10 min");
        assert_eq!(
            relative_offset(-14.0 * 86_400.0 - 3.0 * 3600.0),
            "-14 d 3 h"
        );
    }

    #[test]
    fn mechanisms_say_handled_and_how() {
        let label = |m: Value| Mechanism::of(&m).map(|m| m.label());
        assert_eq!(
            label(json!({"type": "excepthook", "handled": false})),
            Some("unhandled · excepthook".to_owned())
        );
        assert_eq!(
            label(json!({"type": "generic", "handled": true})),
            Some("handled · generic".to_owned())
        );
        assert_eq!(
            label(json!({"handled": false})),
            Some("unhandled".to_owned())
        );
        assert_eq!(
            label(json!({"type": "onerror"})),
            Some("onerror".to_owned())
        );
        assert_eq!(label(json!({"synthetic": true})), None);
        assert_eq!(label(json!(null)), None);
    }

    #[test]
    fn log_messages_come_formatted_filled_in_or_plain() {
        let check = |payload: Value, text: &str, template: Option<&str>, logger: Option<&str>| {
            let message = log_message(&payload).expect("a message");
            assert_eq!(message.text, text);
            assert_eq!(message.template.as_deref(), template);
            assert_eq!(message.logger.as_deref(), logger);
        };
        check(
            json!({"logger": "shop.worker", "logentry": {"message": "webhook %s returned %d",
                "formatted": "webhook wh_1 returned 502", "params": ["wh_1", 502]}}),
            "webhook wh_1 returned 502",
            Some("webhook %s returned %d"),
            Some("shop.worker"),
        );
        check(
            json!({"logentry": {"message": "%s took %.1f%% of %(budget)s", "params": ["db", 12.5]}}),
            "db took 12.5% of %(budget)s",
            Some("%s took %.1f%% of %(budget)s"),
            None,
        );
        check(
            json!({"logentry": {"message": "%(user)s logged in", "params": {"user": "ada"}}}),
            "ada logged in",
            Some("%(user)s logged in"),
            None,
        );
        check(
            json!({"message": "Order 225376 stuck", "logger": ""}),
            "Order 225376 stuck",
            None,
            None,
        );
        check(
            json!({"message": {"formatted": "from the message interface"}}),
            "from the message interface",
            None,
            None,
        );
        assert_eq!(log_message(&json!({"exception": {}})), None);
        assert_eq!(log_message(&json!({"message": "  "})), None);
    }

    #[test]
    fn keys_read_as_words() {
        assert_eq!(key_label("ip_address"), "IP address");
        assert_eq!(key_label("kernel_version"), "Kernel version");
        assert_eq!(key_label("trace_id"), "Trace ID");
        assert_eq!(key_label("node"), "Node");
        assert_eq!(key_label("geo.city"), "Geo city");
        assert_eq!(key_label("_"), "_");
    }

    #[test]
    fn nested_values_flatten_to_rows_never_json() {
        let value = json!({"geo": {"city": "Lyon", "country_code": "FR"}, "tags": ["a", 1, true],
            "gone": null, "empty": {}, "items": [{"sku": "x"}], "memory_size": 25_276_510_208_i64,
            "count": 3});
        assert_eq!(
            flatten(&value),
            rows(&[
                ("count", "3"),
                ("geo.city", "Lyon"),
                ("geo.country_code", "FR"),
                ("items.0.sku", "x"),
                ("memory_size", "23.5 GiB"),
                ("tags", "a, 1, true"),
            ])
        );
        assert_eq!(flatten(&json!("plain")), rows(&[("value", "plain")]));
    }

    #[test]
    fn contexts_become_named_cards() {
        let contexts = json!({
            "browser": {"name": "Chrome", "version": "131.0", "type": "browser"},
            "os": {"name": "Debian", "version": "12.11\n", "kernel_version": "6.18"},
            "client_os": {"name": "macOS", "version": "14.5"},
            "runtime": {"name": "node", "version": "v20.19.0"},
            "python": {"type": "runtime", "name": "CPython", "version": "3.11.7"},
            "device": {"arch": "x64", "memory_size": 1024},
            "app": {"app_start_time": "2026-11-23T17:31:43.983Z"},
            "trace": {"trace_id": "abc", "span_id": "def", "parent_span_id": null},
            "cloud_resource": {},
            "order": {"id": 7, "items": ["sku-1", "sku-2"]}
        });
        let cards = context_cards(&contexts);
        let titles: Vec<&str> = cards.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Browser: Chrome 131.0",
                "Client OS: macOS 14.5",
                "OS: Debian 12.11",
                "Runtime: CPython 3.11.7",
                "Runtime: Node v20.19.0",
                "Device: x64",
                "App",
                "Order",
                "Trace",
            ]
        );
        let device = cards.iter().find(|c| c.key == "device").expect("device");
        assert_eq!(
            device.rows,
            rows(&[("Arch", "x64"), ("Memory size", "1.0 KiB")])
        );
        let trace = cards.iter().find(|c| c.key == "trace").expect("trace");
        assert_eq!(trace.rows, rows(&[("Span ID", "def"), ("Trace ID", "abc")]));
        let order = cards.iter().find(|c| c.key == "order").expect("order");
        assert_eq!(order.rows, rows(&[("ID", "7"), ("Items", "sku-1, sku-2")]));
        assert!(context_cards(&json!(null)).is_empty());
    }

    #[test]
    fn the_user_card_names_the_user_as_people_know_them() {
        let card = user_card(&json!({"ip_address": "203.0.113.80", "name": "Ada",
            "email": "ada@example.com", "id": 81824, "geo": {"city": "Lyon"}}))
        .expect("a card");
        assert_eq!(card.title, "User: ada@example.com");
        assert_eq!(
            card.rows,
            rows(&[
                ("ID", "81824"),
                ("Email", "ada@example.com"),
                ("IP address", "203.0.113.80"),
                ("Geo city", "Lyon"),
                ("Name", "Ada"),
            ])
        );
        let anonymous = user_card(&json!({"ip_address": "203.0.113.80"})).expect("a card");
        assert_eq!(anonymous.title, "User: 203.0.113.80");
        assert_eq!(user_card(&json!({})), None);
        assert_eq!(user_card(&json!("u-1")), None);
    }

    #[test]
    fn requests_read_in_parts() {
        let request = request_view(&json!({
            "url": "https://shop.example.com/api/orders/7", "method": "GET",
            "query_string": "expand=items&lang=en",
            "headers": {"Accept": "application/json", "Host": "shop.example.com"},
            "cookies": "session=[Filtered]; theme=dark",
            "data": {"qty": 2, "sku": "sku-1"},
            "env": {"REMOTE_ADDR": "203.0.113.250"}
        }))
        .expect("a request");
        assert_eq!(request.line, "GET https://shop.example.com/api/orders/7");
        assert_eq!(request.query, rows(&[("expand", "items"), ("lang", "en")]));
        assert_eq!(
            request.headers,
            rows(&[("Accept", "application/json"), ("Host", "shop.example.com")])
        );
        assert_eq!(
            request.cookies,
            rows(&[("session", "[Filtered]"), ("theme", "dark")])
        );
        assert_eq!(request.data, rows(&[("qty", "2"), ("sku", "sku-1")]));
        assert_eq!(request.env, rows(&[("REMOTE_ADDR", "203.0.113.250")]));
        // Node sends headers as an object and the query as pairs; bodies may be plain text.
        let node = request_view(
            &json!({"method": "POST", "query_string": [["a", "1"], ["b", null]],
            "headers": [["X-Id", "7"]], "data": "raw body"}),
        )
        .expect("a request");
        assert_eq!(node.line, "POST");
        assert_eq!(node.query, rows(&[("a", "1"), ("b", "")]));
        assert_eq!(node.headers, rows(&[("X-Id", "7")]));
        assert_eq!(node.data, rows(&[("body", "raw body")]));
        assert_eq!(request_view(&json!({})), None);
        assert_eq!(request_view(&json!(null)), None);
    }

    #[test]
    fn http_breadcrumbs_show_the_call_and_the_rest_as_rows() {
        let data = json!({"url": "http://pricing.internal/v2/quote/9755", "method": "POST",
            "status_code": 429, "reason": "Too Many Requests"});
        let crumb = crumb_data(Some(&data));
        let call = crumb.http.expect("a call");
        assert_eq!(call.method.as_deref(), Some("POST"));
        assert_eq!(
            call.url.as_deref(),
            Some("http://pricing.internal/v2/quote/9755")
        );
        assert_eq!(call.status, Some(429));
        assert_eq!(call.status_class(), "client-error");
        assert_eq!(crumb.rows, rows(&[("reason", "Too Many Requests")]));
        let text_status = crumb_data(Some(&json!({"url": "/x", "status_code": "503"})));
        assert_eq!(
            text_status.http.expect("a call").status_class(),
            "server-error"
        );
        let other = crumb_data(Some(&json!({"logger": "app", "extra": {"n": 1}})));
        assert_eq!(other.http, None);
        assert_eq!(other.rows, rows(&[("extra.n", "1"), ("logger", "app")]));
        assert_eq!(crumb_data(None), CrumbData::default());
    }

    #[test]
    fn frames_say_what_source_maps_did() {
        assert_eq!(source_map_note(false, None, None, None), None);
        assert_eq!(
            source_map_note(true, Some("debug_id"), None, None),
            Some(SourceMapNote::Mapped {
                tooltip: "Original position from a source map found by its debug id.".into(),
                warning: None,
            })
        );
        let lacking = source_map_note(
            true,
            Some("release"),
            None,
            Some((
                "missing_sources_content",
                "mapped, but the source map does not contain the text of src/a.js",
            )),
        );
        assert_eq!(
            lacking,
            Some(SourceMapNote::Mapped {
                tooltip: "Original position from a source map found by the release and file URL. \
                    Mapped, but the source map does not contain the text of src/a.js."
                    .into(),
                warning: Some(
                    "Mapped, but the source map does not contain the text of src/a.js.".into()
                ),
            })
        );
        assert_eq!(
            source_map_note(
                false,
                None,
                Some((
                    "missing_sourcemap_for_url",
                    "no source map was found for https://x/app.js in this release"
                )),
                None
            ),
            Some(SourceMapNote::Unmapped {
                text: "Minified: No source map was found for https://x/app.js in this release."
                    .into()
            })
        );
        // A reason without a message still says something.
        assert_eq!(
            source_map_note(false, None, Some(("invalid_sourcemap", "")), None),
            Some(SourceMapNote::Unmapped {
                text: "Minified: Invalid_sourcemap.".into()
            })
        );
    }

    #[test]
    fn stacks_count_their_mapped_frames() {
        let mapped = source_map_note(true, Some("release"), None, None);
        let unmapped = source_map_note(false, None, Some(("no_mapping", "no mapping")), None);
        assert_eq!(stack_summary(&[None, None]), None);
        assert_eq!(
            stack_summary(&[mapped.clone(), mapped.clone(), None]).as_deref(),
            Some("2 frames mapped by source maps")
        );
        assert_eq!(
            stack_summary(std::slice::from_ref(&unmapped)).as_deref(),
            Some("1 frame could not be mapped by source maps")
        );
        assert_eq!(
            stack_summary(&[mapped, unmapped.clone(), unmapped]).as_deref(),
            Some("1 of 3 frames mapped by source maps")
        );
    }

    #[test]
    fn frame_locations_show_what_is_known() {
        assert_eq!(
            frame_location(Some("src/a.js"), Some(10), Some(4)),
            "src/a.js:10:4"
        );
        assert_eq!(frame_location(Some("app.py"), Some(3), None), "app.py:3");
        assert_eq!(frame_location(None, None, Some(9)), "?");
    }
}
