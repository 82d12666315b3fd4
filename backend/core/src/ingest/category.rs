//! Data categories: the unit in which Sentry counts, rate-limits and reports outcomes.
//!
//! The names are part of the wire protocol (`X-Sentry-Rate-Limits`, client reports, outcome
//! rows), so [`DataCategory::as_str`] and parsing must stay in sync with Sentry's list. Parsing
//! never fails: a name we do not know becomes [`DataCategory::Unknown`], because SDKs send
//! categories in client reports that are newer than this code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a piece of ingested data counts as, for quotas, rate limits and outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataCategory {
    /// Events without a more specific category (e.g. from the legacy store endpoint).
    Default,
    /// Error events, plus minidump and crash-report attachments.
    Error,
    /// Performance transactions.
    Transaction,
    /// Security reports (CSP, NEL, Expect-CT, HPKP).
    Security,
    /// Plain attachments (counted in bytes by Sentry).
    Attachment,
    /// Release-health sessions (`session` and `sessions` items).
    Session,
    /// Transaction-bound profiles.
    Profile,
    /// Continuous-profiling chunks.
    ProfileChunk,
    /// Session replays (events, recordings and videos).
    Replay,
    /// Cron monitor check-ins.
    Monitor,
    /// Spans sent on their own.
    Span,
    /// Log records, counted per record.
    LogItem,
    /// Log records, counted in bytes.
    LogByte,
    /// User feedback (wire name `feedback`, alias `user_report_v2`).
    Feedback,
    /// Metric buckets (`statsd`, `metric_buckets`).
    MetricBucket,
    /// Trace-connected metrics (`trace_metric` items).
    TraceMetric,
    /// SDK housekeeping such as client reports; never rate-limited.
    Internal,
    /// A category this server does not know (kept so counts are not lost).
    Unknown,
}

impl DataCategory {
    /// Every category, in declaration order.
    pub const ALL: [DataCategory; 18] = [
        DataCategory::Default,
        DataCategory::Error,
        DataCategory::Transaction,
        DataCategory::Security,
        DataCategory::Attachment,
        DataCategory::Session,
        DataCategory::Profile,
        DataCategory::ProfileChunk,
        DataCategory::Replay,
        DataCategory::Monitor,
        DataCategory::Span,
        DataCategory::LogItem,
        DataCategory::LogByte,
        DataCategory::Feedback,
        DataCategory::MetricBucket,
        DataCategory::TraceMetric,
        DataCategory::Internal,
        DataCategory::Unknown,
    ];

    /// The protocol name, as used in `X-Sentry-Rate-Limits` and client reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::Default => "default",
            DataCategory::Error => "error",
            DataCategory::Transaction => "transaction",
            DataCategory::Security => "security",
            DataCategory::Attachment => "attachment",
            DataCategory::Session => "session",
            DataCategory::Profile => "profile",
            DataCategory::ProfileChunk => "profile_chunk",
            DataCategory::Replay => "replay",
            DataCategory::Monitor => "monitor",
            DataCategory::Span => "span",
            DataCategory::LogItem => "log_item",
            DataCategory::LogByte => "log_byte",
            DataCategory::Feedback => "feedback",
            DataCategory::MetricBucket => "metric_bucket",
            DataCategory::TraceMetric => "trace_metric",
            DataCategory::Internal => "internal",
            DataCategory::Unknown => "unknown",
        }
    }

    /// Parses a protocol name. Exact (lowercase) names only, plus the alias `user_report_v2`
    /// for [`DataCategory::Feedback`]; anything else is [`DataCategory::Unknown`].
    pub fn parse(name: &str) -> DataCategory {
        match name {
            "user_report_v2" => DataCategory::Feedback,
            _ => DataCategory::ALL
                .into_iter()
                .find(|category| category.as_str() == name)
                .unwrap_or(DataCategory::Unknown),
        }
    }
}

impl fmt::Display for DataCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataCategory {
    type Err = std::convert::Infallible;

    /// Never fails; see [`DataCategory::parse`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(DataCategory::parse(name))
    }
}

impl Serialize for DataCategory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DataCategory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(DataCategory::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expect: DataCategory) {
        assert_eq!(DataCategory::parse(name), expect, "parse({name:?})");
        assert_eq!(
            name.parse::<DataCategory>(),
            Ok(expect),
            "from_str({name:?})"
        );
    }

    #[test]
    fn protocol_names_round_trip() {
        for category in DataCategory::ALL {
            check(category.as_str(), category);
            assert_eq!(category.to_string(), category.as_str());
        }
    }

    #[test]
    fn wire_names() {
        check("default", DataCategory::Default);
        check("error", DataCategory::Error);
        check("profile_chunk", DataCategory::ProfileChunk);
        check("log_item", DataCategory::LogItem);
        check("log_byte", DataCategory::LogByte);
        check("metric_bucket", DataCategory::MetricBucket);
        check("trace_metric", DataCategory::TraceMetric);
        check("internal", DataCategory::Internal);
    }

    #[test]
    fn user_report_v2_is_feedback() {
        check("user_report_v2", DataCategory::Feedback);
        assert_eq!(DataCategory::Feedback.as_str(), "feedback");
    }

    #[test]
    fn unknown_names_do_not_fail() {
        check("something_new", DataCategory::Unknown);
        check("", DataCategory::Unknown);
        check("Error", DataCategory::Unknown);
    }

    #[test]
    fn serde_uses_protocol_names() {
        let json = serde_json::to_string(&[DataCategory::LogItem, DataCategory::Feedback])
            .expect("serialize");
        assert_eq!(json, r#"["log_item","feedback"]"#);
        let parsed: Vec<DataCategory> =
            serde_json::from_str(r#"["error","user_report_v2","nope"]"#).expect("deserialize");
        assert_eq!(
            parsed,
            [
                DataCategory::Error,
                DataCategory::Feedback,
                DataCategory::Unknown
            ]
        );
    }
}
