//! Digest of the envelope items that are not events: release-health sessions, attachments,
//! user feedback (legacy `user_report` and `feedback`), and cron check-ins. Each function
//! writes inside the digest's transaction and says what became of the item; all writes are
//! idempotent or additive per spool row (a row is digested once, then deleted).

use chrono::{Duration, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::normalize::parse_timestamp;
use crate::ids::{AccountId, ProjectId};
use crate::ingest::envelope::Item;
use crate::outcome::hour_of;
use crate::repo::entity::ingest_spool;
use crate::repo::sessions::{self, SessionCounts};
use crate::repo::{Tenant, attachments, checkins, feedback};

/// Total attachment bytes kept per project; beyond it new attachments are dropped and counted.
pub const MAX_ATTACHMENT_BYTES_PER_PROJECT: i64 = 1 << 30;
/// Sessions older than this are dropped (Relay: 5 days).
const MAX_SESSION_AGE_DAYS: i64 = 5;

/// What became of an item.
pub enum ItemFate {
    /// Stored or counted.
    Accepted,
    /// Rejected as malformed, with a reason.
    Invalid(&'static str),
    /// Over a storage bound, with a reason.
    TooLarge(&'static str),
}

/// The account whose DSN key accepted the spooled envelope.
fn tenant_of(row: &ingest_spool::Model) -> Tenant {
    Tenant::ingested(AccountId(row.account_id))
}

fn trimmed(value: Option<&Value>, max: usize) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(max).collect())
}

async fn add_sessions(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    attrs: Option<&Value>,
    started: chrono::DateTime<Utc>,
    counts: SessionCounts,
) -> anyhow::Result<ItemFate> {
    let Some(release) = trimmed(attrs.and_then(|a| a.get("release")), 250) else {
        return Ok(ItemFate::Invalid("session_without_release"));
    };
    if started < row.received_at - Duration::days(MAX_SESSION_AGE_DAYS) {
        return Ok(ItemFate::Invalid("session_too_old"));
    }
    let environment = trimmed(attrs.and_then(|a| a.get("environment")), 64)
        .unwrap_or_else(|| "production".to_owned());
    sessions::add_counts(
        txn,
        tenant_of(row),
        ProjectId(row.project_id),
        release,
        environment,
        hour_of(std::cmp::min(started, row.received_at)),
        counts,
    )
    .await?;
    Ok(ItemFate::Accepted)
}

/// A `session` update: counts the start (`init: true`) and the final status.
pub async fn store_session(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    item: &Item,
) -> anyhow::Result<ItemFate> {
    let Ok(session) = serde_json::from_slice::<Value>(&item.payload) else {
        return Ok(ItemFate::Invalid("invalid_json"));
    };
    let started = session
        .get("started")
        .and_then(parse_timestamp)
        .unwrap_or(row.received_at);
    let mut counts = SessionCounts::default();
    if session.get("init").and_then(Value::as_bool) == Some(true) {
        counts.started = 1;
    }
    match session.get("status").and_then(Value::as_str) {
        Some("exited") => counts.exited = 1,
        // `unhandled` (@sentry/browser 10+): an unhandled error the app survived, so the
        // session errored rather than crashed.
        Some("errored" | "unhandled") => counts.errored = 1,
        Some("crashed") => counts.crashed = 1,
        Some("abnormal") => counts.abnormal = 1,
        Some("ok") | None => {}
        Some(_) => return Ok(ItemFate::Invalid("invalid_session_status")),
    }
    add_sessions(txn, row, session.get("attrs"), started, counts).await
}

/// A `sessions` aggregate: every bucket counts its sessions as started and by final status.
pub async fn store_sessions_aggregate(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    item: &Item,
) -> anyhow::Result<ItemFate> {
    let Ok(aggregate) = serde_json::from_slice::<Value>(&item.payload) else {
        return Ok(ItemFate::Invalid("invalid_json"));
    };
    let Some(buckets) = aggregate.get("aggregates").and_then(Value::as_array) else {
        return Ok(ItemFate::Invalid("invalid_sessions"));
    };
    for bucket in buckets.iter().take(100) {
        let count = |k: &str| {
            bucket
                .get(k)
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .clamp(0, 1_000_000)
        };
        let counts = SessionCounts {
            started: count("exited")
                + count("errored")
                + count("unhandled")
                + count("crashed")
                + count("abnormal"),
            exited: count("exited"),
            errored: count("errored") + count("unhandled"),
            crashed: count("crashed"),
            abnormal: count("abnormal"),
        };
        let started = bucket
            .get("started")
            .and_then(parse_timestamp)
            .unwrap_or(row.received_at);
        if let ItemFate::Invalid(reason) =
            add_sessions(txn, row, aggregate.get("attrs"), started, counts).await?
        {
            return Ok(ItemFate::Invalid(reason));
        }
    }
    Ok(ItemFate::Accepted)
}

/// An attachment, stored with the envelope's event id.
pub async fn store_attachment(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    event_id: Option<&str>,
    item: &Item,
) -> anyhow::Result<ItemFate> {
    let Some(event_id) = event_id else {
        return Ok(ItemFate::Invalid("attachment_without_event_id"));
    };
    let used = attachments::bytes_used(txn, tenant_of(row), ProjectId(row.project_id)).await?;
    let size = item.payload.len() as i64;
    if used + size > MAX_ATTACHMENT_BYTES_PER_PROJECT {
        return Ok(ItemFate::TooLarge("attachment_storage_full"));
    }
    let attachment = attachments::NewAttachment {
        event_id: event_id.to_owned(),
        filename: item
            .filename()
            .map(|f| f.chars().take(255).collect::<String>())
            .unwrap_or_else(|| "attachment".to_owned()),
        content_type: item
            .content_type()
            .map(|c| c.chars().take(128).collect::<String>()),
        attachment_type: item
            .attachment_type()
            .unwrap_or("event.attachment")
            .chars()
            .take(64)
            .collect::<String>(),
        data: item.payload.to_vec(),
        created_at: row.received_at,
    };
    attachments::insert(txn, tenant_of(row), ProjectId(row.project_id), attachment).await?;
    Ok(ItemFate::Accepted)
}

async fn insert_report(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    report_id: String,
    event_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    comments: String,
) -> anyhow::Result<ItemFate> {
    let report = feedback::NewReport {
        report_id,
        event_id,
        name,
        email,
        comments,
        created_at: row.received_at,
    };
    feedback::insert(txn, tenant_of(row), ProjectId(row.project_id), report).await?;
    Ok(ItemFate::Accepted)
}

fn hex_id(value: Option<&Value>) -> Option<String> {
    value?.as_str().and_then(super::normalize::valid_event_id)
}

/// Legacy `user_report`: `{event_id, name, email, comments}`.
pub async fn store_user_report(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    item: &Item,
) -> anyhow::Result<ItemFate> {
    let Ok(report) = serde_json::from_slice::<Value>(&item.payload) else {
        return Ok(ItemFate::Invalid("invalid_json"));
    };
    let Some(comments) = trimmed(report.get("comments"), 4096) else {
        return Ok(ItemFate::Invalid("empty_user_report"));
    };
    // The same report sent twice gets the same id.
    let report_id = hex::encode(&Sha256::digest(&item.payload)[..16]);
    insert_report(
        txn,
        row,
        report_id,
        hex_id(report.get("event_id")),
        trimmed(report.get("name"), 128),
        trimmed(report.get("email"), 254),
        comments,
    )
    .await
}

/// `feedback` (user feedback v2): an event whose `contexts.feedback` holds the report.
pub async fn store_feedback(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    item: &Item,
) -> anyhow::Result<ItemFate> {
    let Ok(event) = serde_json::from_slice::<Value>(&item.payload) else {
        return Ok(ItemFate::Invalid("invalid_json"));
    };
    let Some(feedback) = event.pointer("/contexts/feedback") else {
        return Ok(ItemFate::Invalid("feedback_without_context"));
    };
    let Some(message) = trimmed(feedback.get("message"), 4096) else {
        return Ok(ItemFate::Invalid("empty_feedback"));
    };
    let report_id = hex_id(event.get("event_id"))
        .unwrap_or_else(|| hex::encode(&Sha256::digest(&item.payload)[..16]));
    insert_report(
        txn,
        row,
        report_id,
        hex_id(feedback.get("associated_event_id")),
        trimmed(feedback.get("name"), 128),
        trimmed(feedback.get("contact_email"), 254),
        message,
    )
    .await
}

/// A cron `check_in`; the closing check-in updates the opening one (same `check_in_id`).
pub async fn store_check_in(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    item: &Item,
) -> anyhow::Result<ItemFate> {
    let Ok(check_in) = serde_json::from_slice::<Value>(&item.payload) else {
        return Ok(ItemFate::Invalid("invalid_json"));
    };
    let (Some(check_in_id), Some(slug), Some(status)) = (
        hex_id(check_in.get("check_in_id")),
        trimmed(check_in.get("monitor_slug"), 128),
        trimmed(check_in.get("status"), 16),
    ) else {
        return Ok(ItemFate::Invalid("invalid_check_in"));
    };
    if !matches!(status.as_str(), "in_progress" | "ok" | "error") {
        return Ok(ItemFate::Invalid("invalid_check_in_status"));
    }
    let check_in = checkins::CheckIn {
        check_in_id,
        monitor_slug: slug,
        status,
        duration: check_in.get("duration").and_then(Value::as_f64),
        environment: trimmed(check_in.get("environment"), 64),
        monitor_config: check_in.get("monitor_config").map(Value::to_string),
        received_at: row.received_at,
    };
    checkins::upsert(txn, tenant_of(row), ProjectId(row.project_id), check_in).await?;
    Ok(ItemFate::Accepted)
}
