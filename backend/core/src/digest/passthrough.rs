//! An event payload split for the digest: the members that normalization, grouping, fingerprint
//! rules and tags read are parsed into a `Value`; the large members nothing in the digest reads
//! (breadcrumbs, contexts, request, extra, …) stay as the SDK's own JSON text and are written
//! back verbatim.
//!
//! On the SDK corpus breadcrumbs alone are half of an event's bytes, and building, serializing
//! and dropping a `Value` tree was a quarter of the digest's CPU. A member kept as text is still
//! checked to be JSON that a `Value` would accept (strings with paired surrogates, numbers in
//! range, nesting within serde_json's limit), so every stored payload reads back as before.
//!
//! Written back, the members are in the same (sorted) order as a serialized `Map`; only the
//! whitespace and escapes inside a passed-through member may differ from a re-serialization.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Top-level members kept as text. None of them is read by normalization, grouping (fingerprint
/// rules read `sdk`, `tags`, `logger`, `level`, `release`, … which stay parsed) or tags.
/// `breadcrumbs` is reshaped to `{"values": [...]}` on the text (see [`Member::write`]).
pub(crate) const PASSTHROUGH: &[&str] = &[
    "breadcrumbs",
    "contexts",
    "debug_meta",
    "extra",
    "measurements",
    "modules",
    "request",
    "spans",
];

/// An event whose [`PASSTHROUGH`] members are kept as text.
pub(crate) struct SplitEvent<'a> {
    /// Every other member, parsed.
    pub(crate) parsed: Map<String, Value>,
    /// The passed-through members, sorted by name, each at most once (the last one sent wins,
    /// as in a parsed object).
    pub(crate) kept: Vec<(&'static str, &'a RawValue)>,
}

/// Why a payload cannot be split.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// Not JSON, or JSON a `Value` would refuse.
    Json,
    /// JSON, but not an object.
    NotAnObject,
}

/// Splits an event payload (the item's bytes).
pub(crate) fn split(payload: &[u8]) -> Result<SplitEvent<'_>, SplitError> {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let event = deserializer.deserialize_any(SplitVisitor).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            SplitError::NotAnObject
        } else {
            SplitError::Json
        }
    })?;
    deserializer.end().map_err(|_| SplitError::Json)?;
    for (_, raw) in &event.kept {
        check(raw.get())?;
    }
    Ok(event)
}

/// Fails where parsing the whole event into a `Value` would have failed on this member.
fn check(json: &str) -> Result<(), SplitError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    Checked { depth: 1 }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|_| SplitError::Json)
}

struct SplitVisitor;

impl<'de> Visitor<'de> for SplitVisitor {
    type Value = SplitEvent<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut parsed = Map::new();
        let mut kept: Vec<(&'static str, &'de RawValue)> = Vec::new();
        while let Some(key) = access.next_key::<String>()? {
            match PASSTHROUGH.iter().find(|name| **name == key) {
                Some(name) => {
                    let raw: &'de RawValue = access.next_value()?;
                    match kept.iter_mut().find(|(k, _)| k == name) {
                        Some(slot) => slot.1 = raw,
                        None => kept.push((name, raw)),
                    }
                }
                None => {
                    let value: Value = access.next_value()?;
                    parsed.insert(key, value);
                }
            }
        }
        kept.sort_unstable_by_key(|(name, _)| *name);
        Ok(SplitEvent { parsed, kept })
    }
}

/// Containers a member may nest: serde_json refuses the 129th level, and the event's own
/// object is the first.
const MAX_MEMBER_DEPTH: usize = 127;

/// A JSON value at `depth` (the member itself is at 1), checked the way `Value` parses it
/// (strings decoded, numbers converted, nesting counted) and then forgotten.
#[derive(Clone, Copy)]
struct Checked {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Checked {
    fn nested<E: de::Error>(self) -> Result<Checked, E> {
        match self.depth < MAX_MEMBER_DEPTH {
            true => Ok(Checked {
                depth: self.depth + 1,
            }),
            false => Err(E::custom("nested too deeply")),
        }
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while access.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while access.next_key_seed(KeySeed)?.is_some() {
            access.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// A map key, checked as a string.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(Checked { depth: 0 })
    }
}

/// How a kept member is written back.
enum Member<'a> {
    /// As it came.
    Verbatim(&'a str),
    /// Inside `{"values": …}` (a bare breadcrumb list).
    InValues(&'a str),
    /// Inside `{"values": [ … ]}` (a single breadcrumb object).
    InValuesList(&'a str),
}

impl Member<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Member::Verbatim(json) => out.extend_from_slice(json.as_bytes()),
            Member::InValues(json) => {
                out.extend_from_slice(b"{\"values\":");
                out.extend_from_slice(json.as_bytes());
                out.push(b'}');
            }
            Member::InValuesList(json) => {
                out.extend_from_slice(b"{\"values\":[");
                out.extend_from_slice(json.as_bytes());
                out.extend_from_slice(b"]}");
            }
        }
    }
}

/// The member as normalization shapes it (`breadcrumbs` as `{"values": [...]}`, as
/// `normalize::values_shape` does for a parsed one), or `None` when it is dropped.
fn shaped<'a>(name: &str, raw: &'a RawValue) -> Option<Member<'a>> {
    let json = raw.get();
    if name != "breadcrumbs" {
        return Some(Member::Verbatim(json));
    }
    match json.as_bytes().first() {
        Some(b'[') => Some(Member::InValues(json)),
        Some(b'{') if values_is_array(json) => Some(Member::Verbatim(json)),
        Some(b'{') => Some(Member::InValuesList(json)),
        _ => None,
    }
}

/// Whether an object's `values` member (the last one, if repeated) is an array.
fn values_is_array(object: &str) -> bool {
    struct ValuesVisitor;
    impl<'de> Visitor<'de> for ValuesVisitor {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<bool, A::Error> {
            let mut is_array = false;
            while let Some(key) = access.next_key::<std::borrow::Cow<'de, str>>()? {
                let value: &'de RawValue = access.next_value()?;
                if key == "values" {
                    is_array = value.get().starts_with('[');
                }
            }
            Ok(is_array)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(object);
    deserializer.deserialize_map(ValuesVisitor).unwrap_or(false)
}

/// Serializes `parsed` with the kept members merged in key order, as `serde_json::to_writer`
/// would write the whole object. A member `parsed` has too (set by normalization) wins.
pub(crate) fn write_event(
    out: &mut Vec<u8>,
    parsed: &Map<String, Value>,
    kept: &[(&'static str, &RawValue)],
) -> serde_json::Result<()> {
    let mut kept = kept
        .iter()
        .filter(|(name, _)| !parsed.contains_key(*name))
        .filter_map(|(name, raw)| Some((*name, shaped(name, raw)?)))
        .peekable();
    let mut first = true;
    let mut separator = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    out.push(b'{');
    for (key, value) in parsed {
        while let Some((name, member)) = kept.next_if(|(name, _)| *name < key.as_str()) {
            separator(out);
            serde_json::to_writer(&mut *out, name)?;
            out.push(b':');
            member.write(out);
        }
        separator(out);
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, value)?;
    }
    for (name, member) in kept {
        separator(out);
        serde_json::to_writer(&mut *out, name)?;
        out.push(b':');
        member.write(out);
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The whole-`Value` path: parse, shape breadcrumbs as normalization does, serialize.
    fn through_value(payload: &str) -> Value {
        let mut event: Map<String, Value> = serde_json::from_str(payload).expect("object");
        if let Some(crumbs) = event.remove("breadcrumbs") {
            let shaped = match crumbs {
                Value::Array(values) => Some(json!({ "values": values })),
                Value::Object(o) if o.get("values").is_some_and(Value::is_array) => {
                    Some(Value::Object(o))
                }
                Value::Object(o) => Some(json!({ "values": [Value::Object(o)] })),
                _ => None,
            };
            if let Some(shaped) = shaped {
                event.insert("breadcrumbs".to_owned(), shaped);
            }
        }
        Value::Object(event)
    }

    fn through_split(payload: &str) -> Result<(Vec<u8>, Value), SplitError> {
        let split = split(payload.as_bytes())?;
        let mut out = Vec::new();
        write_event(&mut out, &split.parsed, &split.kept).expect("serializes");
        let value = serde_json::from_slice(&out).expect("the output is JSON");
        Ok((out, value))
    }

    #[test]
    fn split_and_written_back_equals_the_parsed_event() {
        let cases = [
            r#"{"message":"m","breadcrumbs":[{"message":"a"}],"contexts":{"os":{"name":"Linux"}},"zz":1}"#,
            r#"{"breadcrumbs":{"values":[{"category":"http"}]},"aa":true,"request":{"url":"/x"}}"#,
            r#"{"breadcrumbs":{"category":"single"},"extra":{"n":1.5e3,"s":"caf\u00e9 \ud83d\ude00"}}"#,
            r#"{"breadcrumbs":{"values":{"not":"a list"}}}"#,
            r#"{"breadcrumbs":null,"modules":{"a":"1"}}"#,
            r#"{"breadcrumbs":"text","spans":[],"debug_meta":{}}"#,
            r#"{"extra":{"first":1},"extra":{"second":2},"level":"error","level":"info"}"#,
            r#"{}"#,
            r#"{"measurements":{},"breadcrumbs":[],"exception":{"values":[{"type":"E"}]}}"#,
        ];
        for payload in cases {
            let (_, value) = through_split(payload).expect(payload);
            assert_eq!(value, through_value(payload), "{payload}");
        }
    }

    #[test]
    fn members_are_written_in_key_order_like_a_serialized_map() {
        let payload = r#"{"zeta":1,"request":{"url":"/"},"alpha":2,"breadcrumbs":[],"spans":[]}"#;
        let (out, value) = through_split(payload).expect("splits");
        assert_eq!(out, serde_json::to_vec(&value).expect("serializes"));
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"alpha":2,"breadcrumbs":{"values":[]},"request":{"url":"/"},"spans":[],"zeta":1}"#
        );
    }

    #[test]
    fn kept_members_are_refused_where_a_value_would_be() {
        let refused = [
            // A lone surrogate, in a value and in a key.
            r#"{"breadcrumbs":[{"message":"\ud800"}]}"#,
            r#"{"extra":{"\udc00":1}}"#,
            // A number out of f64's range.
            r#"{"contexts":{"n":1e400}}"#,
            // Nesting past serde_json's limit.
            &format!(r#"{{"extra":{}{}}}"#, "[".repeat(200), "]".repeat(200)),
            // Not JSON at all.
            r#"{"extra":{"a":}}"#,
            r#"{"extra":1} trailing"#,
        ];
        for payload in refused {
            assert!(serde_json::from_str::<Value>(payload).is_err(), "{payload}");
            assert_eq!(
                through_split(payload).err(),
                Some(SplitError::Json),
                "{payload}"
            );
        }
        for payload in ["[1]", "\"text\"", "3", "null"] {
            assert_eq!(
                through_split(payload).err(),
                Some(SplitError::NotAnObject),
                "{payload}"
            );
        }
    }

    #[test]
    fn nesting_is_refused_exactly_where_a_value_refuses_it() {
        for levels in 120..135 {
            let payload = format!(
                r#"{{"level":"error","extra":{}1{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            );
            let by_value = serde_json::from_str::<Value>(&payload).is_ok();
            assert_eq!(
                split(payload.as_bytes()).is_ok(),
                by_value,
                "{levels} levels"
            );
        }
    }

    #[test]
    fn corpus_events_split_to_the_same_json_as_the_value_path() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../server/tests/fixtures/corpus");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("envelope") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            let envelope = crate::ingest::envelope::parse_envelope(&bytes).expect("parses");
            let Some(item) = envelope.event_item() else {
                continue;
            };
            let payload = std::str::from_utf8(&item.payload).expect("utf8");
            let (_, value) = through_split(payload).expect("splits");
            assert_eq!(value, through_value(payload), "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 50, "{seen} corpus events");
    }
}
