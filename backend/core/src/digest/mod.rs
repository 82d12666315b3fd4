//! Digest: turns spooled envelopes into issues, events, counters and outcomes.
//!
//! `DigestSpool` covers a range of `ingest_spool` rows (one group commit). It parses each
//! envelope, normalizes and groups its event, upserts the issue, stores the event (compressed),
//! bumps counters, records outcomes for every item, and deletes the rows, all in one
//! transaction. Idempotent: a row already digested is gone, and `(project_id, event_id)` is
//! unique, so a replay changes nothing.
//!
//! An envelope that cannot be parsed (it passed ingest's checks, so this means a bug) is counted
//! as `invalid` and dropped rather than blocking the rows after it; database errors fail the job,
//! which is retried.

pub mod batch;
pub mod items;
pub mod normalize;
pub mod retention;
pub mod runner;

use crate::notify::{Change, Notice};
use std::collections::HashMap;
use std::io::Write;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};

use crate::outcome::hour_of;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::entity::ingest_spool;
use crate::grouping::{FingerprintRules, GroupingConfig, group_event_with, transition_hashes};
use crate::ingest::category::DataCategory;
use crate::ingest::envelope::{Envelope, ItemType, parse_envelope};
use crate::jobs::{Job, JobContext};
use normalize::{NormalizeContext, NormalizedEvent, normalize_event};

/// Digests the spool rows `first_id..=last_id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigestSpool {
    /// First row id.
    pub first_id: i64,
    /// Last row id.
    pub last_id: i64,
}

impl DigestSpool {
    /// The job covering `ids` (one commit's rows).
    pub fn covering(ids: &[i64]) -> Self {
        Self {
            first_id: ids.iter().copied().min().unwrap_or(0),
            last_id: ids.iter().copied().max().unwrap_or(-1),
        }
    }
}

impl Job for DigestSpool {
    const NAME: &'static str = "digest_spool";
    const MAX_ATTEMPTS: u32 = 10;
    // One digest at a time per process keeps issue upserts free of lock-order deadlocks.
    const CONCURRENCY: usize = 1;

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let txn = ctx.db.begin_write().await?;
        let rows = ingest_spool::Entity::find()
            .filter(ingest_spool::Column::Id.between(self.first_id, self.last_id))
            .order_by_asc(ingest_spool::Column::Id)
            .all(&txn)
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut outcomes = Outcomes::default();
        let mut rules = RulesCache::default();
        let mut stored = 0usize;
        let mut notices = Vec::new();
        for row in &rows {
            stored += digest_envelope(&txn, row, &mut outcomes, &mut rules, &mut notices).await?;
        }
        outcomes.write(&txn).await?;
        ingest_spool::Entity::delete_many()
            .filter(ingest_spool::Column::Id.between(self.first_id, self.last_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        crate::notify::publish(&ctx.db, &coalesce(notices)).await;
        info!(
            envelopes = rows.len(),
            events.stored = stored,
            "digested {} envelopes",
            rows.len()
        );
        Ok(())
    }
}

/// Each project's grouping configuration (its fingerprint rules), read once per digest.
#[derive(Default)]
struct RulesCache {
    configs: HashMap<i64, GroupingConfig>,
}

impl RulesCache {
    async fn get(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: i64,
    ) -> anyhow::Result<&GroupingConfig> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.configs.entry(project_id) {
            let text = crate::entity::project::Entity::find_by_id(project_id)
                .one(txn)
                .await?
                .map(|p| p.fingerprint_rules)
                .unwrap_or_default();
            let rules = FingerprintRules::parse(&text).unwrap_or_else(|e| {
                // Rules are validated when saved; a stored rule set that no longer parses is
                // ignored rather than blocking the project's events.
                warn!(project.id = project_id, error = %e, "ignoring unparseable fingerprint rules");
                FingerprintRules::default()
            });
            slot.insert(GroupingConfig { rules });
        }
        Ok(&self.configs[&project_id])
    }
}

/// Outcome counts of one digest, written with one upsert per key.
#[derive(Default)]
struct Outcomes {
    counts: HashMap<crate::outcome::OutcomeKey, i64>,
}

impl Outcomes {
    fn add(
        &mut self,
        row: &ingest_spool::Model,
        category: DataCategory,
        outcome: &'static str,
        reason: &str,
        quantity: i64,
    ) {
        let hour = hour_of(row.received_at);
        *self
            .counts
            .entry((
                row.account_id,
                row.project_id,
                hour,
                category.as_str(),
                outcome,
                reason.to_owned(),
            ))
            .or_default() += quantity;
    }

    async fn write(&self, txn: &DatabaseTransaction) -> anyhow::Result<()> {
        for (key, quantity) in &self.counts {
            crate::outcome::write_outcome(txn, key, *quantity).await?;
        }
        Ok(())
    }
}

/// One `IssueCreated` or `IssueUpdated` per issue (created wins), and every `EventCreated`.
fn coalesce(notices: Vec<Notice>) -> Vec<Notice> {
    let mut out: Vec<Notice> = Vec::with_capacity(notices.len());
    for notice in notices {
        if notice.change == Change::EventCreated {
            out.push(notice);
            continue;
        }
        match out
            .iter_mut()
            .find(|n| n.change != Change::EventCreated && n.issue_id == notice.issue_id)
        {
            Some(existing) => {
                if notice.change == Change::IssueCreated {
                    existing.change = Change::IssueCreated;
                }
            }
            None => out.push(notice),
        }
    }
    out
}

/// Digests one envelope; returns how many events it stored.
async fn digest_envelope(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    outcomes: &mut Outcomes,
    rules: &mut RulesCache,
    notices: &mut Vec<Notice>,
) -> anyhow::Result<usize> {
    let envelope = match parse_envelope(&row.envelope) {
        Ok(envelope) => envelope,
        Err(e) => {
            warn!(spool.id = row.id, error = %e, "spooled envelope does not parse; dropped");
            outcomes.add(row, DataCategory::Error, "invalid", "invalid_envelope", 1);
            return Ok(0);
        }
    };
    let mut stored = 0;
    for item in &envelope.items {
        let category = item.ty.data_category(item.attachment_type());
        // Items that carry several records (a `span` item with 3 spans, a `log` batch) count
        // each record, as Relay does.
        let quantity = item
            .item_count()
            .map_or(1, |n| Ord::max(i64::try_from(n).unwrap_or(i64::MAX), 1));
        match &item.ty {
            ItemType::Event => {
                match store_event_item(txn, row, &envelope, &item.payload, rules).await? {
                    EventFate::Stored {
                        issue_id,
                        created,
                        event_id,
                    } => {
                        stored += 1;
                        outcomes.add(row, category, "accepted", "", 1);
                        let notice = |change, event_id| Notice {
                            change,
                            account_id: row.account_id,
                            project_id: row.project_id,
                            issue_id,
                            event_id,
                        };
                        notices.push(notice(
                            if created {
                                Change::IssueCreated
                            } else {
                                Change::IssueUpdated
                            },
                            None,
                        ));
                        notices.push(notice(Change::EventCreated, Some(event_id)));
                    }
                    EventFate::Duplicate => {}
                    EventFate::Invalid(reason) => outcomes.add(row, category, "invalid", reason, 1),
                }
            }
            ItemType::ClientReport => record_client_report(row, &item.payload, outcomes),
            ItemType::Session
            | ItemType::Sessions
            | ItemType::Attachment
            | ItemType::UserReport
            | ItemType::Feedback
            | ItemType::CheckIn => {
                let fate = match &item.ty {
                    ItemType::Session => items::store_session(txn, row, item).await?,
                    ItemType::Sessions => items::store_sessions_aggregate(txn, row, item).await?,
                    ItemType::Attachment => {
                        let event_id = envelope.event_id().ok().flatten().map(|id| id.to_string());
                        items::store_attachment(txn, row, event_id.as_deref(), item).await?
                    }
                    ItemType::UserReport => items::store_user_report(txn, row, item).await?,
                    ItemType::Feedback => items::store_feedback(txn, row, item).await?,
                    _ => items::store_check_in(txn, row, item).await?,
                };
                match fate {
                    items::ItemFate::Accepted => outcomes.add(row, category, "accepted", "", 1),
                    items::ItemFate::Invalid(reason) => {
                        outcomes.add(row, category, "invalid", reason, 1)
                    }
                    items::ItemFate::TooLarge(reason) => {
                        outcomes.add(row, category, "too_large", reason, 1)
                    }
                }
            }
            // Read through and counted; not stored yet (transactions, spans, profiles, replays,
            // logs, metrics, and types we do not know).
            _ => outcomes.add(row, category, "accepted", "", quantity),
        }
    }
    Ok(stored)
}

/// Discards the SDK reported (`client_report` items) become the project's outcomes.
fn record_client_report(row: &ingest_spool::Model, payload: &[u8], outcomes: &mut Outcomes) {
    let Ok(report) = serde_json::from_slice::<serde_json::Value>(payload) else {
        outcomes.add(
            row,
            DataCategory::Internal,
            "invalid",
            "invalid_client_report",
            1,
        );
        return;
    };
    for discard in report
        .get("discarded_events")
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
    {
        let category = discard
            .get("category")
            .and_then(|c| c.as_str())
            .and_then(|c| c.parse::<DataCategory>().ok())
            .unwrap_or(DataCategory::Unknown);
        let reason = discard
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or("unknown");
        let reason: String = reason.chars().take(60).collect();
        let quantity = discard
            .get("quantity")
            .and_then(|q| q.as_i64())
            .unwrap_or(0)
            .clamp(0, 1_000_000_000);
        if quantity > 0 {
            outcomes.add(row, category, "client_discard", &reason, quantity);
        }
    }
}

enum EventFate {
    Stored {
        issue_id: i64,
        created: bool,
        event_id: String,
    },
    Duplicate,
    Invalid(&'static str),
}

async fn store_event_item(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    envelope: &Envelope,
    payload: &[u8],
    rules: &mut RulesCache,
) -> anyhow::Result<EventFate> {
    let Ok(raw) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return Ok(EventFate::Invalid("invalid_json"));
    };
    let ctx = NormalizeContext {
        envelope_event_id: envelope.event_id().ok().flatten().map(|id| id.to_string()),
        received_at: row.received_at,
        sent_at: envelope.sent_at(),
        client_ip: row.client_ip.clone(),
    };
    let Ok(event) = normalize_event(raw, &ctx) else {
        return Ok(EventFate::Invalid("invalid_event"));
    };
    let exists = txn
        .query_one(
            &Query::select()
                .expr(Expr::val(1))
                .from("events")
                .and_where(Expr::col("project_id").eq(row.project_id))
                .and_where(Expr::col("event_id").eq(event.event_id.clone()))
                .to_owned(),
        )
        .await?
        .is_some();
    if exists {
        return Ok(EventFate::Duplicate);
    }
    let grouping = group_event_with(&event.payload, rules.get(txn, row.project_id).await?);
    let mut event = event;
    if let Some(title) = &grouping.title_override {
        event.title = title.clone();
    }
    let (issue_id, created) = upsert_issue(txn, row, &event, &grouping).await?;
    insert_event(txn, row, issue_id, &event, &grouping.hash).await?;
    bump_counters(txn, row, issue_id, &event).await?;
    crate::service::issue::apply_event_to_state(
        txn,
        issue_id,
        event.release.as_deref(),
        event.timestamp,
    )
    .await
    .map_err(|e| anyhow::anyhow!("issue state: {e}"))?;
    Ok(EventFate::Stored {
        issue_id,
        created,
        event_id: event.event_id.clone(),
    })
}

/// Maps `grouping`'s hash to the issue (no-op when it already maps somewhere).
async fn insert_fingerprint(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    issue_id: i64,
    grouping: &crate::grouping::Grouping,
) -> anyhow::Result<()> {
    let statement = Query::insert()
        .into_table("issue_fingerprints")
        .columns([
            "account_id",
            "project_id",
            "issue_id",
            "hash",
            "grouping_version",
            "created_at",
        ])
        .values_panic([
            row.account_id.into(),
            row.project_id.into(),
            issue_id.into(),
            grouping.hash.clone().into(),
            grouping.version.into(),
            Utc::now().into(),
        ])
        .on_conflict(
            OnConflict::columns(["project_id", "hash"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    txn.execute(&statement).await?;
    Ok(())
}

async fn adopt_transition_hash(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    event: &NormalizedEvent,
    grouping: &crate::grouping::Grouping,
) -> anyhow::Result<Option<i64>> {
    for (_, old_hash) in transition_hashes(&event.payload) {
        let found = txn
            .query_one(
                &Query::select()
                    .column("issue_id")
                    .from("issue_fingerprints")
                    .and_where(Expr::col("project_id").eq(row.project_id))
                    .and_where(Expr::col("hash").eq(old_hash))
                    .to_owned(),
            )
            .await?
            .map(|r| r.try_get::<i64>("", "issue_id"))
            .transpose()?;
        if let Some(issue_id) = found {
            insert_fingerprint(txn, row, issue_id, grouping).await?;
            return Ok(Some(issue_id));
        }
    }
    Ok(None)
}

async fn upsert_issue(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    event: &NormalizedEvent,
    grouping: &crate::grouping::Grouping,
) -> anyhow::Result<(i64, bool)> {
    let now = Utc::now();
    // A fingerprint already mapped to an issue (the issue it created, or one it was merged
    // into) decides first.
    let known = txn
        .query_one(
            &Query::select()
                .column("issue_id")
                .from("issue_fingerprints")
                .and_where(Expr::col("project_id").eq(row.project_id))
                .and_where(Expr::col("hash").eq(grouping.hash.clone()))
                .to_owned(),
        )
        .await?
        .map(|r| r.try_get::<i64>("", "issue_id"))
        .transpose()?;
    // Grouping transition: an issue created under an older grouping version is found by the
    // old hash and adopts the new one, instead of splitting.
    let known = match known {
        Some(id) => Some(id),
        None => adopt_transition_hash(txn, row, event, grouping).await?,
    };
    if let Some(issue_id) = known {
        let ts = event.timestamp;
        let update = Query::update()
            .table("issues")
            .value("times_seen", Expr::cust("times_seen + 1"))
            .value(
                "last_seen",
                Expr::case(Expr::col("last_seen").lt(ts), ts).finally(Expr::col("last_seen")),
            )
            .value(
                "first_seen",
                Expr::case(Expr::col("first_seen").gt(ts), ts).finally(Expr::col("first_seen")),
            )
            // The latest event names the issue (right-hand sides see the old row).
            .value(
                "title",
                Expr::case(Expr::col("last_seen").lte(ts), event.title.clone())
                    .finally(Expr::col("title")),
            )
            .value(
                "culprit",
                Expr::case(Expr::col("last_seen").lte(ts), event.culprit.clone())
                    .finally(Expr::col("culprit")),
            )
            .value(
                "level",
                Expr::case(Expr::col("last_seen").lte(ts), event.level.clone())
                    .finally(Expr::col("level")),
            )
            .and_where(Expr::col("id").eq(issue_id))
            .to_owned();
        txn.execute(&update).await?;
        if let Some(release) = &event.release {
            let releases = Query::update()
                .table("issues")
                .value("last_release", release.clone())
                .value(
                    "first_release",
                    Expr::col("first_release").if_null(release.clone()),
                )
                .and_where(Expr::col("id").eq(issue_id))
                .to_owned();
            txn.execute(&releases).await?;
        }
        return Ok((issue_id, false));
    }
    let statement = Query::insert()
        .into_table("issues")
        .columns([
            "account_id",
            "project_id",
            "fingerprint",
            "grouping_version",
            "grouping_components",
            "title",
            "culprit",
            "level",
            "status",
            "first_seen",
            "last_seen",
            "times_seen",
            "users_seen",
            "first_release",
            "last_release",
            "created_at",
        ])
        .values_panic([
            row.account_id.into(),
            row.project_id.into(),
            grouping.hash.clone().into(),
            grouping.version.into(),
            grouping.components.to_string().into(),
            event.title.clone().into(),
            event.culprit.clone().into(),
            event.level.clone().into(),
            "unresolved".into(),
            event.timestamp.into(),
            event.timestamp.into(),
            1i64.into(),
            0i64.into(),
            event.release.clone().into(),
            event.release.clone().into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns(["project_id", "fingerprint"])
                .value("times_seen", Expr::cust("issues.times_seen + 1"))
                .value(
                    "last_seen",
                    Expr::cust("CASE WHEN excluded.last_seen > issues.last_seen THEN excluded.last_seen ELSE issues.last_seen END"),
                )
                .value(
                    "first_seen",
                    Expr::cust("CASE WHEN excluded.first_seen < issues.first_seen THEN excluded.first_seen ELSE issues.first_seen END"),
                )
                .value(
                    "title",
                    Expr::cust("CASE WHEN excluded.last_seen >= issues.last_seen THEN excluded.title ELSE issues.title END"),
                )
                .value(
                    "culprit",
                    Expr::cust("CASE WHEN excluded.last_seen >= issues.last_seen THEN excluded.culprit ELSE issues.culprit END"),
                )
                .value("last_release", Expr::cust("COALESCE(excluded.last_release, issues.last_release)"))
                .value("first_release", Expr::cust("COALESCE(issues.first_release, excluded.first_release)"))
                .to_owned(),
        )
        .returning_col("id")
        .to_owned();
    let result = txn
        .query_one(&statement)
        .await?
        .ok_or_else(|| anyhow::anyhow!("issue upsert returned no row"))?;
    let issue_id: i64 = result.try_get("", "id")?;
    insert_fingerprint(txn, row, issue_id, grouping).await?;
    // The fingerprint was unknown, so the insert created the issue (digests run one at a time;
    // a rare race with a merge only mislabels one notice).
    Ok((issue_id, true))
}

/// zlib-compressed JSON.
pub fn compress_payload(payload: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    compress_json(&serde_json::to_vec(payload)?)
}

/// zlib-compresses serialized JSON.
fn compress_json(json: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::new(6),
    );
    encoder.write_all(json)?;
    Ok(encoder.finish()?)
}

/// Inverse of [`compress_payload`].
pub fn decompress_payload(bytes: &[u8]) -> anyhow::Result<serde_json::Value> {
    let decoder = flate2::read::ZlibDecoder::new(bytes);
    Ok(serde_json::from_reader(decoder)?)
}

async fn insert_event(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    issue_id: i64,
    event: &NormalizedEvent,
    grouping_hash: &str,
) -> anyhow::Result<()> {
    // Serialized once: compressed for storage, its length recorded as the payload size.
    let json = serde_json::to_vec(&event.payload)?;
    let compressed = compress_json(&json)?;
    let statement = Query::insert()
        .into_table("events")
        .columns([
            "account_id",
            "project_id",
            "issue_id",
            "event_id",
            "timestamp",
            "received_at",
            "level",
            "platform",
            "release",
            "environment",
            "title",
            "user_key",
            "payload",
            "payload_size",
            "grouping_hash",
        ])
        .values_panic([
            row.account_id.into(),
            row.project_id.into(),
            issue_id.into(),
            event.event_id.clone().into(),
            event.timestamp.into(),
            row.received_at.into(),
            event.level.clone().into(),
            Some(event.platform.clone()).into(),
            event.release.clone().into(),
            Some(event.environment.clone()).into(),
            Some(event.title.clone()).into(),
            event.user_key.clone().into(),
            compressed.into(),
            (i32::try_from(json.len()).unwrap_or(i32::MAX)).into(),
            grouping_hash.to_owned().into(),
        ])
        .on_conflict(
            OnConflict::columns(["project_id", "event_id"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    txn.execute(&statement).await?;
    Ok(())
}

/// The tag values an event counts under: its `tags`, plus level, environment, release and
/// user (the source of distinct-user counts).
pub(crate) fn event_tags(
    payload: &serde_json::Value,
    level: &str,
    environment: &str,
    release: Option<&str>,
    user_key: Option<&str>,
) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = payload
        .get("tags")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            Some((
                pair.first()?.as_str()?.to_owned(),
                pair.get(1)?.as_str()?.to_owned(),
            ))
        })
        .collect();
    tags.push(("level".to_owned(), level.to_owned()));
    tags.push(("environment".to_owned(), environment.to_owned()));
    if let Some(release) = release {
        tags.push(("release".to_owned(), release.to_owned()));
    }
    if let Some(user) = user_key {
        tags.push(("user".to_owned(), user.to_owned()));
    }
    tags
}

async fn bump_counters(
    txn: &DatabaseTransaction,
    row: &ingest_spool::Model,
    issue_id: i64,
    event: &NormalizedEvent,
) -> anyhow::Result<()> {
    let hour = hour_of(event.timestamp);
    let stats = Query::insert()
        .into_table("issue_stats_hourly")
        .columns(["account_id", "project_id", "issue_id", "hour", "times_seen"])
        .values_panic([
            row.account_id.into(),
            row.project_id.into(),
            issue_id.into(),
            hour.into(),
            1i64.into(),
        ])
        .on_conflict(
            OnConflict::columns(["issue_id", "hour"])
                .value(
                    "times_seen",
                    Expr::cust("issue_stats_hourly.times_seen + 1"),
                )
                .to_owned(),
        )
        .to_owned();
    txn.execute(&stats).await?;

    let tags = event_tags(
        &event.payload,
        &event.level,
        &event.environment,
        event.release.as_deref(),
        event.user_key.as_deref(),
    );
    for (key, value) in tags {
        let is_user = key == "user";
        let statement = Query::insert()
            .into_table("issue_tag_values")
            .columns(["account_id", "project_id", "issue_id", "key", "value", "times_seen", "first_seen", "last_seen"])
            .values_panic([
                row.account_id.into(),
                row.project_id.into(),
                issue_id.into(),
                key.into(),
                value.into(),
                1i64.into(),
                event.timestamp.into(),
                event.timestamp.into(),
            ])
            .on_conflict(
                OnConflict::columns(["issue_id", "key", "value"])
                    .value("times_seen", Expr::cust("issue_tag_values.times_seen + 1"))
                    .value(
                        "last_seen",
                        Expr::cust("CASE WHEN excluded.last_seen > issue_tag_values.last_seen THEN excluded.last_seen ELSE issue_tag_values.last_seen END"),
                    )
                    .to_owned(),
            )
            .returning_col("times_seen")
            .to_owned();
        let times_seen: i64 = match txn.query_one(&statement).await? {
            Some(result) => result.try_get("", "times_seen")?,
            None => 0,
        };
        if is_user && times_seen == 1 {
            // A first sighting of this user on this issue.
            let update = Query::update()
                .table("issues")
                .value("users_seen", Expr::cust("users_seen + 1"))
                .and_where(Expr::col("id").eq(issue_id))
                .to_owned();
            txn.execute(&update).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_compressed() {
        let payload = serde_json::json!({"message": "x".repeat(10_000), "n": 1});
        let compressed = compress_payload(&payload).expect("compress");
        assert!(compressed.len() < 200, "{} bytes", compressed.len());
        assert_eq!(
            decompress_payload(&compressed).expect("decompress"),
            payload
        );
    }

    #[test]
    fn covering_spans_the_ids() {
        let job = DigestSpool::covering(&[7, 3, 9]);
        assert_eq!((job.first_id, job.last_id), (3, 9));
    }
}
