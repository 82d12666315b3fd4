//! The Sentry envelope format: parsing, size limits, and the legacy `/store/` body.
//!
//! An envelope is one line of JSON headers followed by items, each a JSON header line and a
//! payload (`Envelope = Headers { "\n" Item } [ "\n" ]`). Parsing is strict about framing and
//! lenient about content: a malformed header, a payload that does not match its `length`, two
//! events in one envelope or an invalid `event_id` is an error, while unknown item types and
//! unknown header attributes are kept as they are (the protocol requires it). Payloads are not
//! looked into here; the digest parses event JSON later.
//!
//! Invariant: a parsed [`Envelope`] respects its [`Limits`] (every item, the attachments
//! together, the session and item counts), so the ingest endpoint can store it without further
//! checks. Errors carry messages meant for the SDK user (they become the response's `detail`);
//! [`EnvelopeError::is_too_large`] tells 413 from 400.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::ingest::category::DataCategory;
use crate::ingest::decompress::{self, ContentEncoding, DecompressError};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// Longest invalid value echoed back in an error message.
const MAX_ECHO: usize = 64;

// ---------------------------------------------------------------------------------------------
// Event ids

/// A Sentry event id: 16 bytes, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// Parses 32 hex digits (any case) or the hyphenated UUID form
    /// (`8-4-4-4-12`, as the Rust SDK writes envelope headers). Nothing else: no braces, no
    /// `urn:uuid:`, no surrounding whitespace.
    pub fn parse(value: &str) -> Result<EventId, EnvelopeError> {
        let invalid = || EnvelopeError::InvalidEventId { value: echo(value) };
        let bytes = value.as_bytes();
        let hex_digits: Vec<u8> = match bytes.len() {
            32 => bytes.to_vec(),
            36 if [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-') => bytes
                .iter()
                .enumerate()
                .filter(|(i, _)| ![8, 13, 18, 23].contains(i))
                .map(|(_, b)| *b)
                .collect(),
            _ => return Err(invalid()),
        };
        let mut id = [0u8; 16];
        hex::decode_to_slice(&hex_digits, &mut id).map_err(|_| invalid())?;
        Ok(EventId(id))
    }

    /// A fresh random (UUID v4) id, for events that arrive without one.
    pub fn new_random() -> EventId {
        EventId(uuid::Uuid::new_v4().into_bytes())
    }

    /// The id as a UUID (same 16 bytes).
    pub fn as_uuid(&self) -> uuid::Uuid {
        uuid::Uuid::from_bytes(self.0)
    }
}

impl From<uuid::Uuid> for EventId {
    fn from(uuid: uuid::Uuid) -> Self {
        EventId(uuid.into_bytes())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl FromStr for EventId {
    type Err = EnvelopeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        EventId::parse(value)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        EventId::parse(&value).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Item types

/// The `type` of an envelope item: every type Relay knows, and anything else as `Unknown`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ItemType {
    /// An error event (JSON).
    Event,
    /// A performance transaction (JSON).
    Transaction,
    /// A security report already in event form (internal to Relay).
    Security,
    /// A file attached to the event; see [`Item::attachment_type`].
    Attachment,
    /// Multipart form fields of a legacy minidump upload (internal to Relay).
    FormData,
    /// A raw browser security report (CSP, Expect-CT, HPKP).
    RawSecurity,
    /// A Network Error Logging report.
    Nel,
    /// An Unreal Engine crash report (internal to Relay).
    UnrealReport,
    /// Legacy user feedback (`{event_id, email, name, comments}`).
    UserReport,
    /// User feedback as an event (`UserReportV2` in Relay).
    Feedback,
    /// One release-health session update.
    Session,
    /// Pre-aggregated release-health sessions.
    Sessions,
    /// Metrics in statsd text format.
    Statsd,
    /// Metric buckets (JSON).
    MetricBuckets,
    /// The SDK's own count of data it dropped.
    ClientReport,
    /// A transaction-bound profile.
    Profile,
    /// A continuous-profiling chunk (also sent as `profile_chunk_ui`).
    ProfileChunk,
    /// Replay metadata (JSON event).
    ReplayEvent,
    /// A replay recording (often zlib-compressed by the SDK).
    ReplayRecording,
    /// A replay video (mobile).
    ReplayVideo,
    /// A cron monitor check-in.
    CheckIn,
    /// Log records (usually a container with `item_count`).
    Log,
    /// An OpenTelemetry log record.
    OtelLog,
    /// Trace-connected metrics.
    TraceMetric,
    /// Standalone spans (a single span or a container with `item_count`).
    Span,
    /// An OpenTelemetry span.
    OtelSpan,
    /// Data from an integration endpoint (e.g. OTLP), typed by its `content_type`.
    Integration,
    /// A type this server does not know; kept and counted, never an error.
    Unknown(String),
}

impl ItemType {
    /// The wire name (for `Unknown`, the name as sent).
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Event => "event",
            ItemType::Transaction => "transaction",
            ItemType::Security => "security",
            ItemType::Attachment => "attachment",
            ItemType::FormData => "form_data",
            ItemType::RawSecurity => "raw_security",
            ItemType::Nel => "nel",
            ItemType::UnrealReport => "unreal_report",
            ItemType::UserReport => "user_report",
            ItemType::Feedback => "feedback",
            ItemType::Session => "session",
            ItemType::Sessions => "sessions",
            ItemType::Statsd => "statsd",
            ItemType::MetricBuckets => "metric_buckets",
            ItemType::ClientReport => "client_report",
            ItemType::Profile => "profile",
            ItemType::ProfileChunk => "profile_chunk",
            ItemType::ReplayEvent => "replay_event",
            ItemType::ReplayRecording => "replay_recording",
            ItemType::ReplayVideo => "replay_video",
            ItemType::CheckIn => "check_in",
            ItemType::Log => "log",
            ItemType::OtelLog => "otel_log",
            ItemType::TraceMetric => "trace_metric",
            ItemType::Span => "span",
            ItemType::OtelSpan => "otel_span",
            ItemType::Integration => "integration",
            ItemType::Unknown(name) => name,
        }
    }

    /// Parses a wire name. Exact names only (as Relay), plus `profile_chunk_ui`; anything else
    /// is `Unknown`, so this never fails.
    pub fn parse(name: &str) -> ItemType {
        match name {
            "event" => ItemType::Event,
            "transaction" => ItemType::Transaction,
            "security" => ItemType::Security,
            "attachment" => ItemType::Attachment,
            "form_data" => ItemType::FormData,
            "raw_security" => ItemType::RawSecurity,
            "nel" => ItemType::Nel,
            "unreal_report" => ItemType::UnrealReport,
            "user_report" => ItemType::UserReport,
            "feedback" => ItemType::Feedback,
            "session" => ItemType::Session,
            "sessions" => ItemType::Sessions,
            "statsd" => ItemType::Statsd,
            "metric_buckets" => ItemType::MetricBuckets,
            "client_report" => ItemType::ClientReport,
            "profile" => ItemType::Profile,
            "profile_chunk" | "profile_chunk_ui" => ItemType::ProfileChunk,
            "replay_event" => ItemType::ReplayEvent,
            "replay_recording" => ItemType::ReplayRecording,
            "replay_video" => ItemType::ReplayVideo,
            "check_in" => ItemType::CheckIn,
            "log" => ItemType::Log,
            "otel_log" => ItemType::OtelLog,
            "trace_metric" => ItemType::TraceMetric,
            "span" => ItemType::Span,
            "otel_span" => ItemType::OtelSpan,
            "integration" => ItemType::Integration,
            other => ItemType::Unknown(other.to_owned()),
        }
    }

    /// True for the item types that carry "the" event of an envelope (at most one per envelope).
    pub fn is_event(&self) -> bool {
        matches!(self, ItemType::Event | ItemType::Transaction)
    }

    /// The data category this item counts as for outcomes and rate limits.
    ///
    /// `attachment_type` is the item's `attachment_type` header: minidumps, Apple crash reports
    /// and Unreal attachments count as errors (they become one), other attachments as
    /// attachments. Choices where the protocol leaves room: `user_report` (legacy feedback)
    /// counts as `feedback` like its successor rather than `internal`; `form_data` and
    /// `unreal_report` as `error`, since they carry a crash; `integration` as `default`,
    /// because its category depends on the payload.
    pub fn data_category(&self, attachment_type: Option<&str>) -> DataCategory {
        match self {
            ItemType::Event | ItemType::FormData | ItemType::UnrealReport => DataCategory::Error,
            ItemType::Transaction => DataCategory::Transaction,
            ItemType::Security | ItemType::RawSecurity | ItemType::Nel => DataCategory::Security,
            ItemType::Attachment => match attachment_type {
                Some("event.minidump" | "event.applecrashreport") => DataCategory::Error,
                Some(kind) if kind.starts_with("unreal.") => DataCategory::Error,
                _ => DataCategory::Attachment,
            },
            ItemType::UserReport | ItemType::Feedback => DataCategory::Feedback,
            ItemType::Session | ItemType::Sessions => DataCategory::Session,
            ItemType::Statsd | ItemType::MetricBuckets => DataCategory::MetricBucket,
            ItemType::ClientReport => DataCategory::Internal,
            ItemType::Profile => DataCategory::Profile,
            ItemType::ProfileChunk => DataCategory::ProfileChunk,
            ItemType::ReplayEvent | ItemType::ReplayRecording | ItemType::ReplayVideo => {
                DataCategory::Replay
            }
            ItemType::CheckIn => DataCategory::Monitor,
            ItemType::Log | ItemType::OtelLog => DataCategory::LogItem,
            ItemType::TraceMetric => DataCategory::TraceMetric,
            ItemType::Span | ItemType::OtelSpan => DataCategory::Span,
            ItemType::Integration => DataCategory::Default,
            ItemType::Unknown(_) => DataCategory::Unknown,
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ItemType {
    type Err = std::convert::Infallible;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(ItemType::parse(name))
    }
}

impl Serialize for ItemType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ItemType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(ItemType::parse(&name))
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope and items

/// A parsed envelope. Headers are kept as JSON maps so unknown attributes survive.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The envelope header (`event_id`, `dsn`, `sdk`, `sent_at`, `trace`, …).
    pub headers: Map<String, Value>,
    /// The items, in order.
    pub items: Vec<Item>,
}

/// One envelope item.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The item header, including `type` and (if sent) `length`.
    pub headers: Map<String, Value>,
    /// The parsed `type` header.
    pub ty: ItemType,
    /// The payload bytes, exactly as sent.
    pub payload: Bytes,
}

impl Envelope {
    /// The header's `event_id`: `Ok(None)` when absent or null, an error when it is not a valid
    /// id. (Envelopes from [`parse_envelope`] were checked, so for them this never fails.)
    pub fn event_id(&self) -> Result<Option<EventId>, EnvelopeError> {
        match self.headers.get("event_id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => EventId::parse(value).map(Some),
            Some(other) => Err(EnvelopeError::InvalidEventId {
                value: echo(&other.to_string()),
            }),
        }
    }

    /// The header's `dsn`, if it is a string.
    pub fn dsn(&self) -> Option<&str> {
        self.headers.get("dsn").and_then(Value::as_str)
    }

    /// The header's `sent_at` (RFC 3339), for clock-drift correction; `None` when absent or
    /// unparsable (a bad `sent_at` is no reason to lose the event).
    pub fn sent_at(&self) -> Option<DateTime<Utc>> {
        let value = self.headers.get("sent_at")?.as_str()?;
        DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|time| time.with_timezone(&Utc))
    }

    /// The `event` or `transaction` item, if any (there is at most one).
    pub fn event_item(&self) -> Option<&Item> {
        self.items.iter().find(|item| item.ty.is_event())
    }

    /// Serializes the envelope again, with a `length` header on every item, so that
    /// `parse_envelope(&envelope.to_vec())` gives back the same items.
    pub fn to_vec(&self) -> Vec<u8> {
        let payload_bytes: usize = self.items.iter().map(|item| item.payload.len()).sum();
        let mut output = Vec::with_capacity(payload_bytes + 256 * (self.items.len() + 1));
        write_json_line(&mut output, &self.headers);
        for item in &self.items {
            let mut headers = item.headers.clone();
            headers.insert("type".to_owned(), Value::from(item.ty.as_str()));
            headers.insert("length".to_owned(), Value::from(item.payload.len()));
            write_json_line(&mut output, &headers);
            output.extend_from_slice(&item.payload);
            output.push(b'\n');
        }
        output
    }
}

fn write_json_line(output: &mut Vec<u8>, headers: &Map<String, Value>) {
    // Serializing a map of JSON values into memory cannot fail.
    serde_json::to_writer(&mut *output, headers).expect("a JSON map always serializes");
    output.push(b'\n');
}

impl Item {
    /// The `filename` header (attachments).
    pub fn filename(&self) -> Option<&str> {
        self.header_str("filename")
    }

    /// The `attachment_type` header (`event.attachment` when absent, per the protocol; this
    /// returns what was sent).
    pub fn attachment_type(&self) -> Option<&str> {
        self.header_str("attachment_type")
    }

    /// The `content_type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.header_str("content_type")
    }

    /// The `item_count` header of container items (logs, spans, trace metrics): how many
    /// records the payload holds.
    pub fn item_count(&self) -> Option<u64> {
        self.headers.get("item_count").and_then(Value::as_u64)
    }

    /// The item's data category; see [`ItemType::data_category`].
    pub fn data_category(&self) -> DataCategory {
        self.ty.data_category(self.attachment_type())
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

// ---------------------------------------------------------------------------------------------
// Limits

/// Size and count limits, checked while parsing. `Default` is Relay's documented defaults
/// (develop-docs "Size Limits"); the header, item-count and container limits are ours or
/// Relay's newer ones, noted per field. Byte sizes are measured after the request body was
/// decompressed; an item inside a container is measured on average.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The whole (decompressed) envelope: 100 MiB.
    pub max_envelope_size: usize,
    /// One header line (envelope or item): 64 KiB. Ours; real headers are under 2 KiB, and this
    /// keeps a giant header from being parsed into a huge JSON map.
    pub max_header_size: usize,
    /// Items per envelope: 1000. Ours; bounds the memory of item bookkeeping for an envelope of
    /// many tiny items. SDKs send a handful.
    pub max_item_count: usize,
    /// `event`, `transaction`, `security`, `raw_security`, `nel`, `form_data`,
    /// `replay_event`, `feedback` and `user_report`: 1 MiB each.
    pub max_event_size: usize,
    /// One `attachment` or `unreal_report`: 100 MiB.
    pub max_attachment_size: usize,
    /// All attachments of one envelope together: 100 MiB.
    pub max_attachments_size: usize,
    /// One `check_in`: 100 KiB.
    pub max_check_in_size: usize,
    /// One `profile` or `profile_chunk`: 50 MiB.
    pub max_profile_size: usize,
    /// One `replay_recording` or `replay_video`: 10 MiB. Relay's `max_replay_compressed_size`:
    /// SDKs compress recordings themselves, so the item is the compressed size.
    pub max_replay_size: usize,
    /// One `span` or `otel_span` (or the average span in a container): 1 MiB.
    pub max_span_size: usize,
    /// One `log` or `otel_log` record (or the average in a container): 1 MiB.
    pub max_log_size: usize,
    /// One `statsd`, `metric_buckets` or `trace_metric` item: 1 MiB.
    pub max_metric_size: usize,
    /// A container item (one with `item_count`) and an `integration` item: 12 MiB (Relay's
    /// `max_container_size`).
    pub max_container_size: usize,
    /// One `session`/`sessions` item: 10 MiB (Relay's `max_sessions_size`).
    pub max_session_size: usize,
    /// `session` plus `sessions` items per envelope: 100.
    pub max_session_count: usize,
    /// One `client_report`: 100 KiB (Relay's `max_client_reports_size`).
    pub max_client_report_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_envelope_size: 100 * MIB,
            max_header_size: 64 * KIB,
            max_item_count: 1000,
            max_event_size: MIB,
            max_attachment_size: 100 * MIB,
            max_attachments_size: 100 * MIB,
            max_check_in_size: 100 * KIB,
            max_profile_size: 50 * MIB,
            max_replay_size: 10 * MIB,
            max_span_size: MIB,
            max_log_size: MIB,
            max_metric_size: MIB,
            max_container_size: 12 * MIB,
            max_session_size: 10 * MIB,
            max_session_count: 100,
            max_client_report_size: 100 * KIB,
        }
    }
}

impl Limits {
    /// The limit for one item of type `ty` (for containers, for one contained record), or
    /// `None` for unknown types, which only the envelope limit bounds.
    pub fn max_item_size(&self, ty: &ItemType) -> Option<usize> {
        Some(match ty {
            ItemType::Event
            | ItemType::Transaction
            | ItemType::Security
            | ItemType::RawSecurity
            | ItemType::Nel
            | ItemType::FormData
            | ItemType::ReplayEvent
            | ItemType::Feedback
            | ItemType::UserReport => self.max_event_size,
            ItemType::Attachment | ItemType::UnrealReport => self.max_attachment_size,
            ItemType::CheckIn => self.max_check_in_size,
            ItemType::Profile | ItemType::ProfileChunk => self.max_profile_size,
            ItemType::ReplayRecording | ItemType::ReplayVideo => self.max_replay_size,
            ItemType::Span | ItemType::OtelSpan => self.max_span_size,
            ItemType::Log | ItemType::OtelLog => self.max_log_size,
            ItemType::Statsd | ItemType::MetricBuckets | ItemType::TraceMetric => {
                self.max_metric_size
            }
            ItemType::Integration => self.max_container_size,
            ItemType::Session | ItemType::Sessions => self.max_session_size,
            ItemType::ClientReport => self.max_client_report_size,
            ItemType::Unknown(_) => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Which header line an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderLocation {
    /// The envelope header (first line).
    Envelope,
    /// The header of the item at this index (0-based; messages count from 1).
    Item(usize),
}

impl fmt::Display for HeaderLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderLocation::Envelope => f.write_str("the envelope header"),
            HeaderLocation::Item(index) => write!(f, "the header of item {}", index + 1),
        }
    }
}

/// Why an envelope or store body was rejected. The `Display` text is the response `detail`;
/// [`EnvelopeError::is_too_large`] selects 413 over 400. Item positions in messages count
/// from 1.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// No bytes (or only whitespace).
    #[error("the envelope is empty: expected a JSON header line followed by items")]
    Empty,
    /// A header line is not a JSON object with valid fields.
    #[error("{location} {reason}")]
    InvalidHeader {
        /// Which header.
        location: HeaderLocation,
        /// What is wrong, as the rest of a sentence.
        reason: String,
    },
    /// Fewer bytes follow an item header than its `length` says.
    #[error(
        "item {} declares a length of {length} bytes but only {available} bytes follow; \
         the envelope is truncated or the length is wrong", .index + 1
    )]
    PayloadTooShort {
        /// Item index (0-based).
        index: usize,
        /// The declared `length`.
        length: u64,
        /// Bytes left in the envelope.
        available: usize,
    },
    /// The payload goes on after its declared `length` (no newline or end there).
    #[error(
        "item {} declares a length of {length} bytes but its payload is longer (no newline \
         after {length} bytes); a \\r before the newline counts towards the length", .index + 1
    )]
    PayloadTooLong {
        /// Item index (0-based).
        index: usize,
        /// The declared `length`.
        length: u64,
    },
    /// More than one `event`/`transaction` item.
    #[error(
        "the envelope has more than one event or transaction item ({first} and {second}); \
         send each event in its own envelope"
    )]
    MultipleEvents {
        /// The first event-like item's type.
        first: ItemType,
        /// The second one's.
        second: ItemType,
    },
    /// An `event_id` that is not 32 hex digits or a hyphenated UUID.
    #[error("invalid event_id {value:?}: expected 32 hex digits or a UUID")]
    InvalidEventId {
        /// The value sent (cut to 64 characters).
        value: String,
    },
    /// The whole envelope is over [`Limits::max_envelope_size`].
    #[error("the envelope is {size} bytes, more than the limit of {limit} bytes")]
    EnvelopeTooLarge {
        /// Envelope size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A header line is over [`Limits::max_header_size`].
    #[error("{location} is {size} bytes long, more than the limit of {limit} bytes")]
    HeaderTooLarge {
        /// Which header.
        location: HeaderLocation,
        /// Its length in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An item is over its type's limit (see [`Limits`]).
    #[error(
        "the {item_type} item is {size} bytes, more than the limit of {limit} bytes for its type"
    )]
    ItemTooLarge {
        /// The item's type.
        item_type: ItemType,
        /// Its size (for containers: the average record size, or the container size).
        size: usize,
        /// The limit that applies.
        limit: usize,
    },
    /// All attachments together are over [`Limits::max_attachments_size`].
    #[error("the envelope's attachments total {size} bytes, more than the limit of {limit} bytes")]
    AttachmentsTooLarge {
        /// Total attachment bytes so far.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More `session`/`sessions` items than [`Limits::max_session_count`].
    #[error("the envelope has more than {limit} session items; send them in several envelopes")]
    TooManySessions {
        /// The limit.
        limit: usize,
    },
    /// More items than [`Limits::max_item_count`].
    #[error("the envelope has more than {limit} items; send them in several envelopes")]
    TooManyItems {
        /// The limit.
        limit: usize,
    },
    /// A `/store/` body that is not a JSON object (nor base64 of one).
    #[error("invalid store request body: {reason}")]
    InvalidStoreBody {
        /// What is wrong, as the rest of a sentence.
        reason: String,
    },
    /// A base64 `/store/` body whose zlib data is corrupt or too large.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
}

impl EnvelopeError {
    /// True for size and count limits (answer 413 Payload Too Large); false for malformed
    /// input (answer 400).
    pub fn is_too_large(&self) -> bool {
        match self {
            EnvelopeError::EnvelopeTooLarge { .. }
            | EnvelopeError::HeaderTooLarge { .. }
            | EnvelopeError::ItemTooLarge { .. }
            | EnvelopeError::AttachmentsTooLarge { .. }
            | EnvelopeError::TooManySessions { .. }
            | EnvelopeError::TooManyItems { .. }
            | EnvelopeError::Decompress(DecompressError::TooLarge { .. }) => true,
            EnvelopeError::Empty
            | EnvelopeError::InvalidHeader { .. }
            | EnvelopeError::PayloadTooShort { .. }
            | EnvelopeError::PayloadTooLong { .. }
            | EnvelopeError::MultipleEvents { .. }
            | EnvelopeError::InvalidEventId { .. }
            | EnvelopeError::InvalidStoreBody { .. }
            | EnvelopeError::Decompress(_) => false,
        }
    }
}

/// Cuts user input for an error message.
fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parses an envelope with the default [`Limits`]. See [`parse_envelope_with`].
pub fn parse_envelope(input: &[u8]) -> Result<Envelope, EnvelopeError> {
    parse_envelope_with(input, &Limits::default())
}

/// Parses an (already decompressed) envelope, copying each payload out of `input`.
///
/// Framing: the first line is the envelope header (a JSON object, `{}` at least). Each item is
/// a header line (a JSON object with a string `type`) and a payload: with `length`, exactly
/// that many bytes, which must be followed by `\n` or the end (a `\r` before that `\n` is part
/// of the payload); without `length`, everything up to the next `\n` or the end. Header lines
/// may end in `\r\n`; blank lines where an item header is expected (e.g. trailing newlines) are
/// skipped. Header objects must not repeat a key.
///
/// Checks: `event_id` in the envelope header is valid if present; at most one `event` or
/// `transaction` item; every limit in `limits`.
pub fn parse_envelope_with(input: &[u8], limits: &Limits) -> Result<Envelope, EnvelopeError> {
    parse(input, limits, |range| Bytes::copy_from_slice(&input[range]))
}

/// Like [`parse_envelope_with`], but the item payloads share `input`'s buffer instead of being
/// copied.
pub fn parse_envelope_bytes(input: Bytes, limits: &Limits) -> Result<Envelope, EnvelopeError> {
    parse(&input, limits, |range| input.slice(range))
}

fn parse(
    input: &[u8],
    limits: &Limits,
    payload_of: impl Fn(Range<usize>) -> Bytes,
) -> Result<Envelope, EnvelopeError> {
    if input.len() > limits.max_envelope_size {
        return Err(EnvelopeError::EnvelopeTooLarge {
            size: input.len(),
            limit: limits.max_envelope_size,
        });
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(EnvelopeError::Empty);
    }

    let (header_line, mut position) = next_line(input, 0);
    let headers = parse_header_line(header_line, HeaderLocation::Envelope, limits)?;
    let envelope_event_id = headers.get("event_id").filter(|value| !value.is_null());
    match envelope_event_id {
        None | Some(Value::String(_)) => {}
        Some(other) => {
            return Err(EnvelopeError::InvalidEventId {
                value: echo(&other.to_string()),
            });
        }
    }
    if let Some(Value::String(value)) = envelope_event_id {
        EventId::parse(value)?;
    }

    let mut items = Vec::new();
    let mut checker = LimitChecker::new(limits);
    let mut first_event: Option<ItemType> = None;
    while position < input.len() {
        let index = items.len();
        let (line, after_line) = next_line(input, position);
        if line.iter().all(u8::is_ascii_whitespace) {
            position = after_line;
            continue;
        }
        let location = HeaderLocation::Item(index);
        let item_headers = parse_header_line(line, location, limits)?;
        let ty = match item_headers.get("type") {
            Some(Value::String(name)) => ItemType::parse(name),
            Some(_) => {
                return Err(invalid_header(
                    location,
                    "has a \"type\" that is not a string",
                ));
            }
            None => return Err(invalid_header(location, "has no \"type\"")),
        };
        let length = match item_headers.get("length") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| {
                invalid_header(
                    location,
                    "has a \"length\" that is not a non-negative integer",
                )
            })?),
        };

        let start = after_line;
        let payload = match length {
            Some(length) => {
                let available = input.len() - start;
                let end = usize::try_from(length)
                    .ok()
                    .filter(|&length| length <= available)
                    .map(|length| start + length)
                    .ok_or(EnvelopeError::PayloadTooShort {
                        index,
                        length,
                        available,
                    })?;
                position = match input.get(end) {
                    None => end,
                    Some(b'\n') => end + 1,
                    Some(_) => return Err(EnvelopeError::PayloadTooLong { index, length }),
                };
                start..end
            }
            None => {
                let (line, after) = next_line(input, start);
                position = after;
                start..start + line.len()
            }
        };

        let item = Item {
            headers: item_headers,
            ty,
            payload: Bytes::new(),
        };
        checker.check(&item, payload.len())?;
        if item.ty.is_event() {
            if let Some(first) = first_event {
                return Err(EnvelopeError::MultipleEvents {
                    first,
                    second: item.ty,
                });
            }
            first_event = Some(item.ty.clone());
        }
        items.push(Item {
            payload: payload_of(payload),
            ..item
        });
    }
    Ok(Envelope { headers, items })
}

/// The line starting at `start` (without its `\n`) and the position after the `\n` (or the end).
fn next_line(input: &[u8], start: usize) -> (&[u8], usize) {
    let rest = &input[start..];
    match rest.iter().position(|&b| b == b'\n') {
        Some(newline) => (&rest[..newline], start + newline + 1),
        None => (rest, input.len()),
    }
}

fn invalid_header(location: HeaderLocation, reason: &str) -> EnvelopeError {
    EnvelopeError::InvalidHeader {
        location,
        reason: reason.to_owned(),
    }
}

fn parse_header_line(
    line: &[u8],
    location: HeaderLocation,
    limits: &Limits,
) -> Result<Map<String, Value>, EnvelopeError> {
    if line.len() > limits.max_header_size {
        return Err(EnvelopeError::HeaderTooLarge {
            location,
            size: line.len(),
            limit: limits.max_header_size,
        });
    }
    let text = std::str::from_utf8(line)
        .map_err(|error| invalid_header(location, &format!("is not valid UTF-8 ({error})")))?;
    let first = text.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        let found = match first {
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b'-' | b'0'..=b'9') => "a number",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            _ => "something that is not JSON",
        };
        return Err(invalid_header(
            location,
            &format!("must be a JSON object on one line, found {found}"),
        ));
    }
    serde_json::from_str::<HeaderObject>(text)
        .map(|object| object.0)
        .map_err(|error| {
            let reason = match error.classify() {
                serde_json::error::Category::Data => error.to_string(),
                _ => format!("is not valid JSON ({error})"),
            };
            EnvelopeError::InvalidHeader { location, reason }
        })
}

/// A JSON object that rejects repeated keys (Relay rejects a repeated `sent_at`; we reject any
/// repeat rather than guess which copy the SDK meant).
struct HeaderObject(Map<String, Value>);

impl<'de> Deserialize<'de> for HeaderObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = HeaderObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom(format_args!(
                            "has the key {:?} twice",
                            echo(&key)
                        )));
                    }
                    let value = access.next_value::<Value>()?;
                    map.insert(key, value);
                }
                Ok(HeaderObject(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Running totals for the limits that span several items.
struct LimitChecker<'a> {
    limits: &'a Limits,
    n_items: usize,
    n_sessions: usize,
    attachment_bytes: usize,
}

impl<'a> LimitChecker<'a> {
    fn new(limits: &'a Limits) -> Self {
        LimitChecker {
            limits,
            n_items: 0,
            n_sessions: 0,
            attachment_bytes: 0,
        }
    }

    fn check(&mut self, item: &Item, size: usize) -> Result<(), EnvelopeError> {
        let limits = self.limits;
        self.n_items += 1;
        if self.n_items > limits.max_item_count {
            return Err(EnvelopeError::TooManyItems {
                limit: limits.max_item_count,
            });
        }
        let too_large = |size: usize, limit: usize| EnvelopeError::ItemTooLarge {
            item_type: item.ty.clone(),
            size,
            limit,
        };
        let container_count = item
            .item_count()
            .filter(|_| {
                matches!(
                    item.ty,
                    ItemType::Span | ItemType::Log | ItemType::OtelLog | ItemType::TraceMetric
                )
            })
            .map(|count| usize::try_from(count.max(1)).unwrap_or(usize::MAX));
        if let Some(limit) = limits.max_item_size(&item.ty) {
            match container_count {
                // For containers, like Relay: the container as a whole and its average record.
                Some(count) => {
                    if size > limits.max_container_size {
                        return Err(too_large(size, limits.max_container_size));
                    }
                    if size / count > limit {
                        return Err(too_large(size / count, limit));
                    }
                }
                None if size > limit => return Err(too_large(size, limit)),
                None => {}
            }
        }
        match item.ty {
            ItemType::Attachment | ItemType::UnrealReport => {
                self.attachment_bytes += size;
                if self.attachment_bytes > limits.max_attachments_size {
                    return Err(EnvelopeError::AttachmentsTooLarge {
                        size: self.attachment_bytes,
                        limit: limits.max_attachments_size,
                    });
                }
            }
            ItemType::Session | ItemType::Sessions => {
                self.n_sessions += 1;
                if self.n_sessions > limits.max_session_count {
                    return Err(EnvelopeError::TooManySessions {
                        limit: limits.max_session_count,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The legacy store endpoint

/// Parses a `/store/` body with the default [`Limits`]. See [`parse_store_body_with`].
pub fn parse_store_body(input: &[u8]) -> Result<Value, EnvelopeError> {
    parse_store_body_with(input, &Limits::default())
}

/// Parses a legacy `/store/` body: one event as a JSON object.
///
/// A body that does not start with `{` is taken as base64 (standard alphabet, padding
/// optional, line breaks ignored), as old SDKs send; the decoded bytes are JSON, or zlib (or raw
/// deflate) data that inflates to JSON. Every stage is capped at [`Limits::max_event_size`]:
/// a larger event is [`EnvelopeError::ItemTooLarge`], and inflation stops at the cap.
pub fn parse_store_body_with(input: &[u8], limits: &Limits) -> Result<Value, EnvelopeError> {
    let trimmed = input.trim_ascii();
    if trimmed.is_empty() {
        return Err(EnvelopeError::Empty);
    }
    let decoded;
    let json: &[u8] = if trimmed.starts_with(b"{") {
        trimmed
    } else {
        decoded = decode_legacy_store_body(trimmed, limits)?;
        &decoded
    };
    if json.len() > limits.max_event_size {
        return Err(EnvelopeError::ItemTooLarge {
            item_type: ItemType::Event,
            size: json.len(),
            limit: limits.max_event_size,
        });
    }
    match serde_json::from_slice::<Value>(json) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(EnvelopeError::InvalidStoreBody {
            reason: "the event must be a JSON object".to_owned(),
        }),
        Err(error) => Err(EnvelopeError::InvalidStoreBody {
            reason: format!("the event is not valid JSON ({error})"),
        }),
    }
}

/// base64, then (unless that already is JSON) zlib/deflate, capped at the event size.
fn decode_legacy_store_body(body: &[u8], limits: &Limits) -> Result<Vec<u8>, EnvelopeError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = engine
        .decode(&compact)
        .map_err(|_| EnvelopeError::InvalidStoreBody {
            reason: "expected a JSON object, or base64 of a (zlib-compressed) JSON object"
                .to_owned(),
        })?;
    if decoded.trim_ascii_start().starts_with(b"{") {
        return Ok(decoded);
    }
    // Only zlib here (what old SDKs sent): raw deflate would "inflate" much random input.
    if !decompress::has_zlib_header(&decoded) {
        return Err(EnvelopeError::InvalidStoreBody {
            reason: "the body is base64 but neither JSON nor zlib-compressed JSON".to_owned(),
        });
    }
    decompress::decompress(ContentEncoding::Deflate, &decoded, limits.max_event_size).map_err(
        |error| match error {
            DecompressError::Corrupt(_) => EnvelopeError::InvalidStoreBody {
                reason: "the body is base64 but neither JSON nor zlib-compressed JSON".to_owned(),
            },
            other => EnvelopeError::Decompress(other),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Real SDK envelopes (sentry-sdk 2.75 Python with `length`, @sentry/node 11.12 without).
    const FIXTURES: &[(&str, &[u8])] = &[
        (
            "py_zero_division",
            include_bytes!("fixtures/py_zero_division.envelope"),
        ),
        (
            "py_chained_payment",
            include_bytes!("fixtures/py_chained_payment.envelope"),
        ),
        (
            "py_exception_group",
            include_bytes!("fixtures/py_exception_group.envelope"),
        ),
        (
            "py_wsgi_post_checkout",
            include_bytes!("fixtures/py_wsgi_post_checkout.envelope"),
        ),
        (
            "node_undefined_property",
            include_bytes!("fixtures/node_undefined_property.envelope"),
        ),
        (
            "node_cause_chain",
            include_bytes!("fixtures/node_cause_chain.envelope"),
        ),
        (
            "node_express_get_cart",
            include_bytes!("fixtures/node_express_get_cart.envelope"),
        ),
    ];

    /// Summarizes the parse result: items as `type="payload"` (short UTF-8 payloads) or
    /// `type[len]`, `(no items)`, or `err: <message>`. An expectation starting with `err: ` is
    /// matched as a substring of the message.
    fn check_with(input: &[u8], limits: &Limits, expect: &str) {
        let actual = match parse_envelope_with(input, limits) {
            Ok(envelope) if envelope.items.is_empty() => "(no items)".to_owned(),
            Ok(envelope) => envelope
                .items
                .iter()
                .map(|item| match std::str::from_utf8(&item.payload) {
                    Ok(text) if text.len() <= 24 => format!("{}={text:?}", item.ty),
                    _ => format!("{}[{}]", item.ty, item.payload.len()),
                })
                .collect::<Vec<_>>()
                .join(" "),
            Err(error) => format!("err: {error}"),
        };
        let shown = String::from_utf8_lossy(input);
        match expect.strip_prefix("err: ") {
            Some(fragment) => assert!(
                actual.starts_with("err: ") && actual.contains(fragment),
                "input {shown:?}\n  got {actual}\n  expected an error containing {fragment:?}"
            ),
            None => assert_eq!(actual, expect, "input {shown:?}"),
        }
    }

    fn check(input: &[u8], expect: &str) {
        check_with(input, &Limits::default(), expect);
    }

    fn parse_ok(input: &[u8]) -> Envelope {
        parse_envelope(input).expect("parses")
    }

    #[test]
    fn every_fixture_holds_one_event_with_the_header_event_id() {
        for (name, bytes) in FIXTURES {
            let envelope = parse_envelope(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(envelope.items.len(), 1, "{name}");
            let item = &envelope.items[0];
            assert_eq!(item.ty, ItemType::Event, "{name}");
            assert_eq!(item.data_category(), DataCategory::Error, "{name}");
            let event: Value = serde_json::from_slice(&item.payload)
                .unwrap_or_else(|e| panic!("{name}: payload is not JSON: {e}"));
            let payload_id = event["event_id"].as_str().map(EventId::parse);
            let header_id = envelope.event_id().expect("valid id");
            assert!(header_id.is_some(), "{name}");
            assert_eq!(
                payload_id.transpose().expect("valid id"),
                header_id,
                "{name}"
            );
            assert!(envelope.sent_at().is_some(), "{name}");
            assert!(
                envelope.dsn().is_none(),
                "{name}: SDKs here send no dsn header"
            );
            let has_length = item.headers.contains_key("length");
            assert_eq!(has_length, name.starts_with("py_"), "{name}");
            if has_length {
                assert_eq!(item.content_type(), Some("application/json"), "{name}");
            }
        }
    }

    #[test]
    fn fixtures_survive_reserialization() {
        for (name, bytes) in FIXTURES {
            let envelope = parse_ok(bytes);
            let again = parse_ok(&envelope.to_vec());
            assert_eq!(again.headers, envelope.headers, "{name}");
            assert_eq!(again.items.len(), envelope.items.len(), "{name}");
            for (a, b) in again.items.iter().zip(&envelope.items) {
                assert_eq!((&a.ty, &a.payload), (&b.ty, &b.payload), "{name}");
            }
        }
    }

    #[test]
    fn shared_buffer_parse_matches_the_copying_one() {
        let (_, bytes) = FIXTURES[0];
        let shared = parse_envelope_bytes(Bytes::from_static(bytes), &Limits::default());
        assert_eq!(shared, parse_envelope(bytes));
    }

    #[test]
    fn framing() {
        check(b"{}", "(no items)");
        check(b"{}\n", "(no items)");
        check(b"{}\n\n\n", "(no items)");
        check(b"{}\r\n", "(no items)");
        check(
            b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n",
            "event=\"{}\"",
        );
        check(b"{}\n{\"type\":\"event\",\"length\":2}\n{}", "event=\"{}\"");
        check(
            b"{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"event\",\"length\":2}\n{}",
            "attachment=\"\" event=\"{}\"",
        );
        check(b"{}\n{\"type\":\"event\",\"length\":0}", "event=\"\"");
        check(
            b"{}\n{\"type\":\"event\",\"length\":null}\nabc",
            "event=\"abc\"",
        );
        // Payloads may contain anything, including newlines, when `length` is given.
        check(
            b"{}\n{\"type\":\"attachment\",\"length\":7}\na\nb\x00c\xff\n",
            "attachment[7]",
        );
    }

    #[test]
    fn items_without_length_run_to_the_newline() {
        check(
            b"{}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"attachment\"}\nhello",
            "event=\"{\\\"a\\\":1}\" attachment=\"hello\"",
        );
        check(b"{}\n{\"type\":\"session\"}\n", "session=\"\"");
        check(b"{}\n{\"type\":\"session\"}", "session=\"\"");
        check(
            b"{}\n{\"type\":\"session\"}\n\n{\"type\":\"session\"}\n{}\n",
            "session=\"\" session=\"{}\"",
        );
    }

    #[test]
    fn carriage_returns() {
        // With `length`, a `\r` before the newline is payload and must be counted.
        check(
            b"{}\n{\"type\":\"attachment\",\"length\":3}\nab\r\n",
            "attachment=\"ab\\r\"",
        );
        check(
            b"{}\n{\"type\":\"attachment\",\"length\":2}\nab\r\n",
            "err: item 1 declares a length of 2 bytes but its payload is longer",
        );
        // Header lines may end in CRLF; a length-less payload keeps its `\r` (JSON ignores it).
        check(b"{}\r\n{\"type\":\"event\"}\r\n{}\r\n", "event=\"{}\\r\"");
        check(
            b"{}\r\n{\"type\":\"event\",\"length\":2}\r\n{}\r\n",
            "err: item 1 declares a length of 2 bytes but its payload is longer",
        );
    }

    #[test]
    fn wrong_lengths() {
        check(
            b"{}\n{\"type\":\"event\",\"length\":10}\nabc",
            "err: item 1 declares a length of 10 bytes but only 3 bytes follow",
        );
        check(
            b"{}\n{\"type\":\"event\",\"length\":10}",
            "err: only 0 bytes follow",
        );
        check(
            b"{}\n{\"type\":\"event\",\"length\":2}\nabc\n",
            "err: its payload is longer",
        );
        check(
            b"{}\n{\"type\":\"event\",\"length\":18446744073709551615}\nabc",
            "err: only 3 bytes follow",
        );
        check(
            b"{}\n{\"type\":\"event\",\"length\":\"3\"}\nabc",
            "err: the header of item 1 has a \"length\" that is not a non-negative integer",
        );
        check(
            b"{}\n{\"type\":\"event\",\"length\":-1}\nabc",
            "err: \"length\" that is not a non-negative integer",
        );
        check(
            b"{}\n{\"type\":\"event\",\"length\":1.5}\nabc",
            "err: \"length\" that is not a non-negative integer",
        );
    }

    #[test]
    fn bad_headers() {
        check(b"", "err: the envelope is empty");
        check(b" \n\n", "err: the envelope is empty");
        check(b"{", "err: the envelope header is not valid JSON");
        check(
            b"\n{\"type\":\"event\"}\n{}",
            "err: the envelope header must be a JSON object on one line, found something that is not JSON",
        );
        check(
            b"[]",
            "err: the envelope header must be a JSON object on one line, found an array",
        );
        check(b"\"x\"", "err: found a string");
        check(b"null", "err: found null");
        check(b"42", "err: found a number");
        check(
            b"{} x",
            "err: the envelope header is not valid JSON (trailing characters",
        );
        check(
            b"{}\n{\"type\":\"event\"",
            "err: the header of item 1 is not valid JSON",
        );
        check(
            b"{}\n[1]\n",
            "err: the header of item 1 must be a JSON object",
        );
        check(
            b"{}\n{\"length\":2}\n{}",
            "err: the header of item 1 has no \"type\"",
        );
        check(
            b"{}\n{\"type\":7}\n{}",
            "err: has a \"type\" that is not a string",
        );
        check(
            b"{\"sent_at\":\"x\",\"sent_at\":\"y\"}",
            "err: the envelope header has the key \"sent_at\" twice",
        );
        check(
            b"{}\n{\"type\":\"event\",\"type\":\"transaction\"}\n{}",
            "err: the header of item 1 has the key \"type\" twice",
        );
        check(
            b"{\"a\":\"\xff\"}",
            "err: the envelope header is not valid UTF-8",
        );
        check(
            b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"x\xc3\"}\n",
            "err: the header of item 2 is not valid UTF-8",
        );
    }

    #[test]
    fn unknown_item_types_and_headers_are_kept() {
        let envelope = parse_ok(
            b"{\"custom\":{\"a\":1}}\n{\"type\":\"something_new\",\"foo\":\"bar\",\"length\":1}\nx\n",
        );
        let item = &envelope.items[0];
        assert_eq!(item.ty, ItemType::Unknown("something_new".to_owned()));
        assert_eq!(item.headers["foo"], "bar");
        assert_eq!(item.data_category(), DataCategory::Unknown);
        assert_eq!(envelope.headers["custom"]["a"], 1);
        check(
            b"{}\n{\"type\":\"EVENT\"}\n{}\n{\"type\":\"event\"}\n{}",
            "EVENT=\"{}\" event=\"{}\"",
        );
    }

    #[test]
    fn at_most_one_event_or_transaction() {
        let event = b"{\"type\":\"event\"}\n{}\n".as_slice();
        let transaction = b"{\"type\":\"transaction\"}\n{}\n".as_slice();
        let attachment = b"{\"type\":\"attachment\"}\nx\n".as_slice();
        let envelope = |items: &[&[u8]]| [b"{}\n".as_slice(), &items.concat()].concat();
        check(
            &envelope(&[event, event]),
            "err: more than one event or transaction item (event and event)",
        );
        check(
            &envelope(&[transaction, attachment, event]),
            "err: (transaction and event); send each event in its own envelope",
        );
        check(
            &envelope(&[event, attachment, attachment]),
            "event=\"{}\" attachment=\"x\" attachment=\"x\"",
        );
    }

    #[test]
    fn event_ids() {
        let hyphenated = parse_ok(b"{\"event_id\":\"9EC79C33-99EC-42AB-8353-589FCB2E04DC\"}");
        assert_eq!(
            hyphenated
                .event_id()
                .expect("valid")
                .map(|id| id.to_string())
                .as_deref(),
            Some("9ec79c3399ec42ab8353589fcb2e04dc")
        );
        assert_eq!(parse_ok(b"{\"event_id\":null}").event_id(), Ok(None));
        assert_eq!(parse_ok(b"{}").event_id(), Ok(None));
        check(b"{\"event_id\":\"nope\"}", "err: invalid event_id \"nope\"");
        check(b"{\"event_id\":12}", "err: invalid event_id \"12\"");
        let long = format!("{{\"event_id\":\"{}\"}}", "z".repeat(500));
        let message = parse_envelope(long.as_bytes())
            .expect_err("invalid")
            .to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn event_id_forms() {
        let want = "9ec79c3399ec42ab8353589fcb2e04dc";
        for form in [
            want,
            "9EC79C3399EC42AB8353589FCB2E04DC",
            "9ec79c33-99ec-42ab-8353-589fcb2e04dc",
        ] {
            assert_eq!(
                EventId::parse(form).map(|id| id.to_string()).as_deref(),
                Ok(want),
                "{form}"
            );
        }
        for bad in [
            "",
            "9ec79c3399ec42ab8353589fcb2e04d",
            "9ec79c3399ec42ab8353589fcb2e04dcc",
            "9ec79c3399ec42ab8353589fcb2e04dg",
            "{9ec79c33-99ec-42ab-8353-589fcb2e04dc}",
            "9ec79c33-99ec-42ab-8353589fcb2e04dc-",
            " 9ec79c3399ec42ab8353589fcb2e04dc",
            "9ec79c33-99ec-42ab-8353-589fcb2e04dé",
        ] {
            assert!(EventId::parse(bad).is_err(), "{bad:?}");
        }
        let random = EventId::new_random();
        assert_ne!(random, EventId::new_random());
        assert_eq!(random.as_uuid().get_version_num(), 4);
        let json = serde_json::to_string(&random).expect("serialize");
        assert_eq!(json, format!("\"{random}\""));
        let back: EventId = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, random);
        assert!(serde_json::from_str::<EventId>("\"xyz\"").is_err());
    }

    #[test]
    fn header_accessors() {
        let envelope = parse_ok(
            b"{\"dsn\":\"https://k@example.com/1\",\"sent_at\":\"2026-11-23T17:31:45.529Z\"}\n\
              {\"type\":\"attachment\",\"filename\":\"log.txt\",\"attachment_type\":\"event.minidump\",\"content_type\":\"text/plain\",\"length\":1}\nx\n",
        );
        assert_eq!(envelope.dsn(), Some("https://k@example.com/1"));
        assert_eq!(
            envelope.sent_at().map(|t| t.to_rfc3339()),
            Some("2026-11-23T17:31:45.529+00:00".to_owned())
        );
        let item = &envelope.items[0];
        assert_eq!(item.filename(), Some("log.txt"));
        assert_eq!(item.attachment_type(), Some("event.minidump"));
        assert_eq!(item.content_type(), Some("text/plain"));
        assert_eq!(item.data_category(), DataCategory::Error);
        assert!(envelope.event_item().is_none());

        let offset = parse_ok(b"{\"sent_at\":\"2026-11-23T18:31:45+01:00\"}");
        assert_eq!(
            offset.sent_at().map(|t| t.to_rfc3339()),
            Some("2026-11-23T17:31:45+00:00".to_owned())
        );
        assert_eq!(parse_ok(b"{\"sent_at\":\"yesterday\"}").sent_at(), None);
        assert_eq!(parse_ok(b"{\"sent_at\":17}").sent_at(), None);
    }

    #[test]
    fn item_type_names() {
        let names = [
            "event",
            "transaction",
            "security",
            "attachment",
            "form_data",
            "raw_security",
            "nel",
            "unreal_report",
            "user_report",
            "feedback",
            "session",
            "sessions",
            "statsd",
            "metric_buckets",
            "client_report",
            "profile",
            "profile_chunk",
            "replay_event",
            "replay_recording",
            "replay_video",
            "check_in",
            "log",
            "otel_log",
            "trace_metric",
            "span",
            "otel_span",
            "integration",
        ];
        for name in names {
            let ty = ItemType::parse(name);
            assert!(!matches!(ty, ItemType::Unknown(_)), "{name}");
            assert_eq!(ty.as_str(), name);
        }
        assert_eq!(ItemType::parse("profile_chunk_ui"), ItemType::ProfileChunk);
        assert_eq!(
            serde_json::to_string(&ItemType::parse("x_y")).expect("serialize"),
            "\"x_y\""
        );
    }

    #[test]
    fn data_categories() {
        use DataCategory as C;
        let cases: &[(&str, Option<&str>, C)] = &[
            ("event", None, C::Error),
            ("transaction", None, C::Transaction),
            ("security", None, C::Security),
            ("raw_security", None, C::Security),
            ("nel", None, C::Security),
            ("attachment", None, C::Attachment),
            ("attachment", Some("event.attachment"), C::Attachment),
            ("attachment", Some("event.view_hierarchy"), C::Attachment),
            ("attachment", Some("event.minidump"), C::Error),
            ("attachment", Some("event.applecrashreport"), C::Error),
            ("attachment", Some("unreal.context"), C::Error),
            ("attachment", Some("unreal.logs"), C::Error),
            ("session", None, C::Session),
            ("sessions", None, C::Session),
            ("profile", None, C::Profile),
            ("profile_chunk", None, C::ProfileChunk),
            ("replay_event", None, C::Replay),
            ("replay_recording", None, C::Replay),
            ("replay_video", None, C::Replay),
            ("check_in", None, C::Monitor),
            ("span", None, C::Span),
            ("otel_span", None, C::Span),
            ("log", None, C::LogItem),
            ("otel_log", None, C::LogItem),
            ("feedback", None, C::Feedback),
            ("user_report", None, C::Feedback),
            ("client_report", None, C::Internal),
            ("statsd", None, C::MetricBucket),
            ("metric_buckets", None, C::MetricBucket),
            ("trace_metric", None, C::TraceMetric),
            ("whatever", None, C::Unknown),
        ];
        for (name, attachment_type, expect) in cases {
            assert_eq!(
                ItemType::parse(name).data_category(*attachment_type),
                *expect,
                "{name} {attachment_type:?}"
            );
        }
    }

    fn item(ty: &str, extra: &str, size: usize) -> Vec<u8> {
        let mut bytes = format!("{{\"type\":\"{ty}\"{extra},\"length\":{size}}}\n").into_bytes();
        bytes.resize(bytes.len() + size, b'a');
        bytes.push(b'\n');
        bytes
    }

    fn envelope_of(items: &[Vec<u8>]) -> Vec<u8> {
        [b"{}\n".to_vec(), items.concat()].concat()
    }

    #[test]
    fn default_item_limits() {
        let mib = 1024 * 1024;
        check(
            &envelope_of(&[item("event", "", mib)]),
            &format!("event[{mib}]"),
        );
        check(
            &envelope_of(&[item("event", "", mib + 1)]),
            "err: the event item is 1048577 bytes, more than the limit of 1048576 bytes for its type",
        );
        check(
            &envelope_of(&[item("check_in", "", 100 * 1024 + 1)]),
            "err: the check_in item is 102401 bytes, more than the limit of 102400 bytes",
        );
        check(
            &envelope_of(&[item("span", "", mib + 1)]),
            "err: the span item is 1048577 bytes",
        );
        // Containers: the average record counts, and the container as a whole.
        check(
            &envelope_of(&[item("log", ",\"item_count\":2", mib + 1)]),
            &format!("log[{}]", mib + 1),
        );
        check(
            &envelope_of(&[item("log", ",\"item_count\":1", mib + 1)]),
            "err: the log item is 1048577 bytes",
        );
        // Unknown types are bounded by the envelope only.
        check(
            &envelope_of(&[item("future", "", 2 * mib)]),
            &format!("future[{}]", 2 * mib),
        );
        let error = parse_envelope(&envelope_of(&[item("transaction", "", 2 * mib)]))
            .expect_err("too large");
        assert!(error.is_too_large());
        assert!(matches!(
            error,
            EnvelopeError::ItemTooLarge { item_type: ItemType::Transaction, size, limit }
                if size == 2 * mib && limit == mib
        ));
    }

    #[test]
    fn custom_limits() {
        let limits = Limits {
            max_event_size: 10,
            max_attachment_size: 5,
            max_attachments_size: 8,
            max_session_count: 2,
            max_item_count: 4,
            max_header_size: 60,
            max_envelope_size: 200,
            max_container_size: 12,
            ..Limits::default()
        };
        let check =
            |items: &[Vec<u8>], expect: &str| check_with(&envelope_of(items), &limits, expect);
        check(&[item("event", "", 10)], "event=\"aaaaaaaaaa\"");
        check(
            &[item("event", "", 11)],
            "err: the event item is 11 bytes, more than the limit of 10 bytes",
        );
        // Without `length`, the size is known only after reading; the limit still applies.
        check_with(
            b"{}\n{\"type\":\"event\"}\n{\"x\":\"long enough\"}\n",
            &limits,
            "err: the event item is 19 bytes",
        );
        check(
            &[item("attachment", "", 5), item("attachment", "", 3)],
            "attachment=\"aaaaa\" attachment=\"aaa\"",
        );
        check(
            &[item("attachment", "", 6)],
            "err: the attachment item is 6 bytes",
        );
        check(
            &[item("attachment", "", 5), item("attachment", "", 4)],
            "err: the envelope's attachments total 9 bytes, more than the limit of 8 bytes",
        );
        check(
            &[
                item("session", "", 1),
                item("sessions", "", 1),
                item("session", "", 1),
            ],
            "err: more than 2 session items",
        );
        check(
            &[
                item("x", "", 1),
                item("x", "", 1),
                item("x", "", 1),
                item("x", "", 1),
                item("x", "", 1),
            ],
            "err: more than 4 items",
        );
        check(
            &[item("log", ",\"item_count\":10", 13)],
            "err: the log item is 13 bytes, more than the limit of 12 bytes",
        );
        check(
            &[item(
                "attachment",
                ",\"filename\":\"a-rather-long-file-name.txt\"",
                1,
            )],
            "err: the header of item 1 is",
        );
        check_with(
            &[b'{'; 201],
            &limits,
            "err: the envelope is 201 bytes, more than the limit of 200 bytes",
        );
        let header_error = parse_envelope_with(
            &envelope_of(&[item(
                "attachment",
                ",\"filename\":\"a-rather-long-file-name.txt\"",
                1,
            )]),
            &limits,
        )
        .expect_err("header too large");
        assert!(header_error.is_too_large(), "{header_error}");
    }

    #[test]
    fn too_large_is_413_and_the_rest_400() {
        assert!(EnvelopeError::TooManyItems { limit: 1 }.is_too_large());
        assert!(EnvelopeError::Decompress(DecompressError::TooLarge { limit: 1 }).is_too_large());
        assert!(!EnvelopeError::Empty.is_too_large());
        assert!(!EnvelopeError::Decompress(DecompressError::Corrupt("x".into())).is_too_large());
        assert!(
            !EnvelopeError::PayloadTooShort {
                index: 0,
                length: 1,
                available: 0
            }
            .is_too_large()
        );
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("zlib");
        encoder.finish().expect("zlib")
    }

    fn check_store(input: &[u8], expect: Result<Value, &str>) {
        match (parse_store_body(input), expect) {
            (Ok(value), Ok(want)) => assert_eq!(value, want),
            (Err(error), Err(fragment)) => {
                assert!(error.to_string().contains(fragment), "{error}");
            }
            (actual, expect) => panic!("got {actual:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn store_bodies() {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let event =
            serde_json::json!({"message": "hi", "event_id": "9ec79c3399ec42ab8353589fcb2e04dc"});
        let json = serde_json::to_vec(&event).expect("json");

        check_store(&json, Ok(event.clone()));
        check_store(
            &[b" \n".as_slice(), &json, b"\n"].concat(),
            Ok(event.clone()),
        );
        check_store(b64(&zlib(&json)).as_bytes(), Ok(event.clone()));
        check_store(b64(&json).as_bytes(), Ok(event.clone()));
        let unpadded = b64(&zlib(&json)).trim_end_matches('=').to_owned();
        check_store(unpadded.as_bytes(), Ok(event.clone()));

        check_store(b"", Err("the envelope is empty"));
        check_store(b"[1,2]", Err("expected a JSON object, or base64"));
        check_store(b"{\"a\":", Err("the event is not valid JSON"));
        check_store(
            b64(b"[1]").as_bytes(),
            Err("neither JSON nor zlib-compressed JSON"),
        );
        check_store(
            b64(&zlib(b"[1]")).as_bytes(),
            Err("the event must be a JSON object"),
        );
        check_store(b"not base64 !!!", Err("expected a JSON object, or base64"));

        let big = serde_json::json!({"message": "x".repeat(1024 * 1024)});
        let big_json = serde_json::to_vec(&big).expect("json");
        let error = parse_store_body(&big_json).expect_err("too large");
        assert!(error.is_too_large(), "{error}");
        // A zlib bomb inside base64 stops at the event limit.
        let bomb = b64(&zlib(&vec![b' '; 4 * 1024 * 1024]));
        let error = parse_store_body(bomb.as_bytes()).expect_err("bomb");
        assert!(
            matches!(
                error,
                EnvelopeError::Decompress(DecompressError::TooLarge { .. })
            ),
            "{error}"
        );
        assert!(error.is_too_large());
    }
}
