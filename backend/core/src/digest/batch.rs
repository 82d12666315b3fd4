//! The batched digest: a batch of spool rows becomes issues, events, counters and outcomes with
//! a number of statements that grows with the batch's issues and chunks, not its events.
//!
//! Two phases, so the write lock (SQLite's one writer) is held only for the short one:
//! - [`prepare`] (CPU, no database, no async): parses envelopes, normalizes and groups events,
//!   serializes and compresses payloads, collects tags and outcomes. The caller runs it in
//!   `spawn_blocking` with the project rules from [`load_rules`], before its write transaction.
//! - [`write_batch`] (inside the caller's write transaction): drops duplicates, maps hashes to
//!   issues (creating the new ones), then writes one coalesced update per issue and multi-row
//!   upserts for events, hourly stats and tag values, applies regressions and ignore expiry,
//!   stores the other items and writes the outcomes. The caller deletes the spool rows.
//!
//! The result equals digesting the rows one event at a time, in row order then item order: the
//! first of two events with the same `(project, event_id)` is kept, the latest event by
//! timestamp (the later one on a tie) names its issue, the first and last releases in row order
//! become an issue's first and last release.
//!
//! Invariant: existing issues are updated in ascending id order and multi-row upserts are
//! sorted by their conflict key, so concurrent digesters (PostgreSQL) take row locks in one
//! order and cannot deadlock each other.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tracing::warn;

use super::items::{self, ItemFate};
use super::normalize::{NormalizeContext, normalize_event};
use super::passthrough::{self, SplitError};
use crate::grouping::{FingerprintRules, GroupingConfig, group_event_with, transition_hashes};
use crate::ingest::category::DataCategory;
use crate::ingest::envelope::{Item, ItemType, Limits, parse_envelope_bytes};
use crate::notify::{Change, Notice};
use crate::outcome::hour_of;
use crate::repo::entity::{ingest_spool, issue, project};

/// Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 32_000;
/// Compressed payload bytes per multi-row event insert, so one statement stays a few MiB.
const MAX_EVENT_BYTES_PER_STATEMENT: usize = 8 << 20;
/// zstd level of stored payloads (see [`super::compress_payload`]). On the SDK corpus level 1
/// compresses a third faster than level 3 for 1.8 % more bytes (both about 0.21 of the JSON);
/// the digest is CPU-bound, so speed wins.
pub(crate) const PAYLOAD_ZSTD_LEVEL: i32 = 1;

/// A batch after the CPU phase, ready for [`write_batch`].
pub(crate) struct PreparedBatch {
    /// Valid events, in row order then item order (duplicates not yet removed).
    events: Vec<PreparedEvent>,
    /// What grouping said about each `(project, hash)` of `events`.
    groups: HashMap<(i64, String), GroupInfo>,
    /// Items other than events that write to the database, in order.
    items: Vec<PendingItem>,
    /// Outcomes known without the database (invalid events, client reports, counted items).
    outcomes: Outcomes,
}

/// What [`write_batch`] did.
pub(crate) struct BatchResult {
    /// Events stored (duplicates and invalid events are not).
    pub stored: usize,
    /// Change notices to publish after the commit, already coalesced (see [`coalesce`]).
    pub notices: Vec<Notice>,
    /// Issues of projects with alert rules, to evaluate after the commit
    /// ([`crate::alert::trigger::submit`]).
    pub alerts: Vec<crate::alert::trigger::Candidate>,
}

/// One normalized, grouped event with its stored columns.
#[derive(Clone, Debug)]
struct PreparedEvent {
    account_id: i64,
    project_id: i64,
    received_at: DateTime<Utc>,
    category: DataCategory,
    event_id: String,
    timestamp: DateTime<Utc>,
    level: String,
    platform: String,
    release: Option<String>,
    environment: String,
    title: String,
    culprit: Option<String>,
    user_key: Option<String>,
    /// The grouping hash (current version).
    hash: String,
    /// The compressed payload.
    payload: Vec<u8>,
    /// The payload's serialized (uncompressed) length.
    payload_size: i32,
    /// The tag values the event counts under ([`super::event_tags`]).
    tags: Vec<(String, String)>,
}

/// Grouping facts shared by every event of one `(project, hash)`.
#[derive(Clone, Debug)]
struct GroupInfo {
    account_id: i64,
    version: i32,
    /// The grouping components, serialized.
    components: String,
    /// Hashes of older grouping versions, oldest first (looked up when `hash` is unknown).
    transition_hashes: Vec<String>,
}

/// A non-event item, digested by its own code in the database phase.
struct PendingItem {
    /// The item's spool row, without its envelope bytes.
    row: ingest_spool::Model,
    /// The envelope header's event id (attachments are stored under it).
    envelope_event_id: Option<String>,
    item: Item,
}

/// The distinct projects of rows' `project_ids` (whose fingerprint rules [`prepare`] needs),
/// ascending.
pub(crate) fn projects_of(project_ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    project_ids
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Each project's grouping configuration (its fingerprint rules), in one query. A project
/// missing here groups with no rules.
pub(crate) async fn load_rules(
    conn: &impl ConnectionTrait,
    projects: &[i64],
) -> anyhow::Result<HashMap<i64, GroupingConfig>> {
    let mut configs = HashMap::with_capacity(projects.len());
    for chunk in projects.chunks(MAX_PARAMS) {
        let rows: Vec<(i64, String)> = project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .column(project::Column::FingerprintRules)
            .filter(project::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        for (project_id, text) in rows {
            let rules = FingerprintRules::parse(&text).unwrap_or_else(|e| {
                // Rules are validated when saved; a stored rule set that no longer parses is
                // ignored rather than blocking the project's events.
                warn!(project.id = project_id, error = %e, "ignoring unparseable fingerprint rules");
                FingerprintRules::default()
            });
            configs.insert(project_id, GroupingConfig { rules });
        }
    }
    Ok(configs)
}

/// The CPU phase: everything that needs no database. Never fails: an envelope or event that
/// cannot be read is counted as an `invalid` outcome.
pub(crate) fn prepare(
    rows: Vec<ingest_spool::Model>,
    rules: &HashMap<i64, GroupingConfig>,
) -> PreparedBatch {
    prepare_rows(rows, rules)
}

/// One batch from batches prepared from consecutive runs of rows, in row order.
pub(crate) fn merge(parts: Vec<PreparedBatch>) -> PreparedBatch {
    let mut parts = parts.into_iter();
    let mut batch = parts.next().unwrap_or_else(PreparedBatch::empty);
    for part in parts {
        batch.absorb(part);
    }
    batch
}

/// How many parts to prepare `rows` rows in, on a machine with `cores` cores: rows are
/// independent, so a large batch is split across the cores; small ones are not worth it.
pub(crate) fn parts_for(rows: usize, cores: usize) -> usize {
    if cores < 2 || rows < 2 * MIN_ROWS_PER_THREAD {
        1
    } else {
        cores.min(rows / MIN_ROWS_PER_THREAD)
    }
}

/// Rows below which splitting a batch across threads costs more than it saves.
const MIN_ROWS_PER_THREAD: usize = 16;

impl PreparedBatch {
    fn empty() -> Self {
        Self {
            events: Vec::new(),
            groups: HashMap::new(),
            items: Vec::new(),
            outcomes: Outcomes::default(),
        }
    }

    /// Appends `later` (prepared from the rows after this batch's).
    fn absorb(&mut self, later: PreparedBatch) {
        self.events.extend(later.events);
        for (key, info) in later.groups {
            // The same (project, hash) yields the same facts whichever chunk saw it.
            self.groups.entry(key).or_insert(info);
        }
        self.items.extend(later.items);
        for (key, quantity) in later.outcomes.counts {
            *self.outcomes.counts.entry(key).or_default() += quantity;
        }
    }
}

fn prepare_rows(
    rows: Vec<ingest_spool::Model>,
    rules: &HashMap<i64, GroupingConfig>,
) -> PreparedBatch {
    let no_rules = GroupingConfig::default();
    let mut compressor = super::dictionary::compressor(PAYLOAD_ZSTD_LEVEL).ok();
    let mut batch = PreparedBatch {
        events: Vec::with_capacity(rows.len()),
        groups: HashMap::new(),
        items: Vec::new(),
        outcomes: Outcomes::default(),
    };
    for mut row in rows {
        // Zero-copy: item payloads are slices of the row's bytes.
        let bytes = Bytes::from(std::mem::take(&mut row.envelope));
        let envelope = match parse_envelope_bytes(bytes, &Limits::default()) {
            Ok(envelope) => envelope,
            Err(e) => {
                warn!(spool.id = row.id, error = %e, "spooled envelope does not parse; dropped");
                batch
                    .outcomes
                    .add(&row, DataCategory::Error, "invalid", "invalid_envelope", 1);
                continue;
            }
        };
        let envelope_event_id = envelope.event_id().ok().flatten().map(|id| id.to_string());
        let sent_at = envelope.sent_at();
        for item in envelope.items {
            let category = item.ty.data_category(item.attachment_type());
            // Items that carry several records (a `span` item with 3 spans, a `log` batch)
            // count each record, as Relay does.
            let quantity = item
                .item_count()
                .map_or(1, |n| Ord::max(i64::try_from(n).unwrap_or(i64::MAX), 1));
            match &item.ty {
                ItemType::Event => {
                    let config = rules.get(&row.project_id).unwrap_or(&no_rules);
                    let context = NormalizeContext {
                        envelope_event_id: envelope_event_id.clone(),
                        received_at: row.received_at,
                        sent_at,
                        client_ip: row.client_ip.clone(),
                    };
                    match prepare_event(
                        &row,
                        category,
                        &item.payload,
                        &context,
                        config,
                        compressor.as_mut(),
                        &mut batch.groups,
                    ) {
                        Ok(event) => batch.events.push(event),
                        Err(reason) => batch.outcomes.add(&row, category, "invalid", reason, 1),
                    }
                }
                ItemType::ClientReport => {
                    record_client_report(&row, &item.payload, &mut batch.outcomes)
                }
                ItemType::Session
                | ItemType::Sessions
                | ItemType::Attachment
                | ItemType::UserReport
                | ItemType::Feedback
                | ItemType::CheckIn => batch.items.push(PendingItem {
                    row: row.clone(),
                    envelope_event_id: envelope_event_id.clone(),
                    item,
                }),
                // Read through and counted; not stored yet (transactions, spans, profiles,
                // replays, logs, metrics, and types we do not know).
                _ => batch.outcomes.add(&row, category, "accepted", "", quantity),
            }
        }
    }
    batch
}

/// Normalizes, groups and compresses one event item; the error is the invalid outcome's reason.
fn prepare_event(
    row: &ingest_spool::Model,
    category: DataCategory,
    payload: &[u8],
    context: &NormalizeContext,
    config: &GroupingConfig,
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    groups: &mut HashMap<(i64, String), GroupInfo>,
) -> Result<PreparedEvent, &'static str> {
    // The members nothing here reads stay text (see `passthrough`).
    let split = passthrough::split(payload).map_err(|e| match e {
        SplitError::Json => "invalid_json",
        SplitError::NotAnObject => "invalid_event",
    })?;
    let raw = serde_json::Value::Object(split.parsed);
    let mut event = normalize_event(raw, context).map_err(|_| "invalid_event")?;
    let grouping = group_event_with(&event.payload, config);
    if let Some(title) = grouping.title_override {
        event.title = title;
    }
    let key = (row.project_id, grouping.hash);
    if !groups.contains_key(&key) {
        // Once per group and batch: only needed when the hash turns out to be unknown.
        let info = GroupInfo {
            account_id: row.account_id,
            version: grouping.version,
            components: grouping.components.to_string(),
            transition_hashes: transition_hashes(&event.payload)
                .into_iter()
                .map(|(_, hash)| hash)
                .collect(),
        };
        groups.insert(key.clone(), info);
    }
    // Serialized once: compressed for storage, its length recorded as the payload size.
    // Sized by the raw payload, which normalization changes little: no regrowing.
    let mut json = Vec::with_capacity(payload.len() + 1024);
    let serde_json::Value::Object(members) = &event.payload else {
        return Err("invalid_event");
    };
    passthrough::write_event(&mut json, members, &split.kept).map_err(|_| "invalid_event")?;
    let compressed = match compressor {
        Some(compressor) => compressor.compress(&json).ok(),
        None => None,
    };
    let compressed = match compressed {
        Some(bytes) => bytes,
        // A compressor that cannot be set up or fails (out of memory) should not drop events.
        None => super::compress_json(&json).map_err(|_| "invalid_event")?,
    };
    let tags = super::event_tags(
        &event.payload,
        &event.level,
        &event.environment,
        event.release.as_deref(),
        event.user_key.as_deref(),
    );
    Ok(PreparedEvent {
        account_id: row.account_id,
        project_id: row.project_id,
        received_at: row.received_at,
        category,
        event_id: event.event_id,
        timestamp: event.timestamp,
        level: event.level,
        platform: event.platform,
        release: event.release,
        environment: event.environment,
        title: event.title,
        culprit: event.culprit,
        user_key: event.user_key,
        hash: key.1,
        payload: compressed,
        payload_size: i32::try_from(json.len()).unwrap_or(i32::MAX),
        tags,
    })
}

/// The database phase, inside the caller's write transaction. Does not delete the spool rows.
pub(crate) async fn write_batch(
    txn: &DatabaseTransaction,
    batch: PreparedBatch,
) -> anyhow::Result<BatchResult> {
    let PreparedBatch {
        events,
        groups,
        items: pending_items,
        mut outcomes,
        ..
    } = batch;

    let existing = existing_event_ids(txn, &events).await?;
    let events = drop_duplicates(events, &existing);

    let resolved = resolve_issues(txn, &events, &groups).await?;
    // Invariant: every kept event's group was resolved to an issue.
    let issue_ids: Vec<i64> = events
        .iter()
        .map(|e| resolved[&(e.project_id, e.hash.clone())].issue_id)
        .collect();

    let new_users = count_new_users(txn, &events, &issue_ids).await?;
    update_issues(txn, &events, &issue_ids, &resolved, &new_users).await?;
    insert_events(txn, &events, &issue_ids).await?;
    upsert_hourly_stats(txn, &events, &issue_ids).await?;
    upsert_tag_values(txn, &events, &issue_ids).await?;
    let state_changes = apply_states(txn, &events, &issue_ids).await?;
    let alerts = crate::alert::trigger::watched(
        txn,
        alert_candidates(&events, &issue_ids, &resolved, &state_changes),
    )
    .await?;

    for pending in &pending_items {
        store_item(txn, pending, &mut outcomes).await?;
    }

    let mut notices = Vec::with_capacity(events.len() * 2);
    for (event, &issue_id) in events.iter().zip(&issue_ids) {
        outcomes.add_for(
            event.account_id,
            event.project_id,
            event.received_at,
            event.category,
            "accepted",
            "",
            1,
        );
        let created = resolved[&(event.project_id, event.hash.clone())].created;
        let notice = |change, event_id| Notice {
            change,
            account_id: event.account_id,
            project_id: event.project_id,
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
        notices.push(notice(Change::EventCreated, Some(event.event_id.clone())));
    }
    outcomes.write(txn).await?;
    Ok(BatchResult {
        stored: events.len(),
        notices: coalesce(notices),
        alerts,
    })
}

/// One alert candidate per issue of the batch, described by its latest event in batch order.
fn alert_candidates(
    events: &[PreparedEvent],
    issue_ids: &[i64],
    resolved: &HashMap<(i64, String), Resolved>,
    state_changes: &HashMap<i64, &'static str>,
) -> Vec<crate::alert::trigger::Candidate> {
    let mut by_issue: BTreeMap<i64, crate::alert::trigger::Candidate> = BTreeMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        let created = resolved[&(event.project_id, event.hash.clone())].created;
        let candidate =
            by_issue
                .entry(issue_id)
                .or_insert_with(|| crate::alert::trigger::Candidate {
                    account_id: event.account_id,
                    project_id: event.project_id,
                    issue_id,
                    created,
                    state_change: state_changes.get(&issue_id).map(|s| (*s).to_owned()),
                    events: 0,
                    level: String::new(),
                    environment: String::new(),
                    release: None,
                    tags: Vec::new(),
                });
        candidate.events += 1;
        candidate.level.clone_from(&event.level);
        candidate.environment.clone_from(&event.environment);
        candidate.release.clone_from(&event.release);
        candidate.tags.clone_from(&event.tags);
    }
    by_issue.into_values().collect()
}

/// Stores one non-event item with its own code and counts its outcome.
async fn store_item(
    txn: &DatabaseTransaction,
    pending: &PendingItem,
    outcomes: &mut Outcomes,
) -> anyhow::Result<()> {
    let row = &pending.row;
    let item = &pending.item;
    let fate = match &item.ty {
        ItemType::Session => items::store_session(txn, row, item).await?,
        ItemType::Sessions => items::store_sessions_aggregate(txn, row, item).await?,
        ItemType::Attachment => {
            items::store_attachment(txn, row, pending.envelope_event_id.as_deref(), item).await?
        }
        ItemType::UserReport => items::store_user_report(txn, row, item).await?,
        ItemType::Feedback => items::store_feedback(txn, row, item).await?,
        _ => items::store_check_in(txn, row, item).await?,
    };
    let category = item.ty.data_category(item.attachment_type());
    match fate {
        ItemFate::Accepted => outcomes.add(row, category, "accepted", "", 1),
        ItemFate::Invalid(reason) => outcomes.add(row, category, "invalid", reason, 1),
        ItemFate::TooLarge(reason) => outcomes.add(row, category, "too_large", reason, 1),
    }
    Ok(())
}

/// The `(project, event_id)` pairs of `events` already stored: one query per project and chunk.
async fn existing_event_ids(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
) -> anyhow::Result<HashSet<(i64, String)>> {
    let mut by_project: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for event in events {
        by_project
            .entry(event.project_id)
            .or_default()
            .insert(&event.event_id);
    }
    let mut existing = HashSet::new();
    for (project_id, event_ids) in by_project {
        let event_ids: Vec<&str> = event_ids.into_iter().collect();
        for chunk in event_ids.chunks(MAX_PARAMS - 1) {
            let rows = txn
                .query_all(
                    &Query::select()
                        .column("event_id")
                        .from("events")
                        .and_where(Expr::col("project_id").eq(project_id))
                        .and_where(Expr::col("event_id").is_in(chunk.iter().copied()))
                        .to_owned(),
                )
                .await?;
            for row in rows {
                existing.insert((project_id, row.try_get::<String>("", "event_id")?));
            }
        }
    }
    Ok(existing)
}

/// `events` without the ones already stored and without repeats inside the batch (the first
/// of a `(project, event_id)` is kept, as a one-at-a-time digest would).
fn drop_duplicates(
    events: Vec<PreparedEvent>,
    existing: &HashSet<(i64, String)>,
) -> Vec<PreparedEvent> {
    let mut seen: HashSet<(i64, String)> = HashSet::with_capacity(events.len());
    events
        .into_iter()
        .filter(|event| {
            let key = (event.project_id, event.event_id.clone());
            !existing.contains(&key) && seen.insert(key)
        })
        .collect()
}

/// Which issue a `(project, hash)` belongs to, and whether this batch created it.
#[derive(Clone, Copy, Debug)]
struct Resolved {
    issue_id: i64,
    /// Created by this batch's insert, which already counted every event of the group.
    created: bool,
}

/// Maps every group of `events` to its issue: known hashes by one lookup per project and chunk;
/// unknown ones by their older-version hashes (adopting the new hash), else a new issue.
async fn resolve_issues(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
    groups: &HashMap<(i64, String), GroupInfo>,
) -> anyhow::Result<HashMap<(i64, String), Resolved>> {
    // Each group's events, in batch order; groups sorted, so new issues are created in a
    // stable order.
    let mut members: BTreeMap<(i64, &str), Vec<&PreparedEvent>> = BTreeMap::new();
    for event in events {
        members
            .entry((event.project_id, &event.hash))
            .or_default()
            .push(event);
    }
    let mut wanted: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (project_id, hash) in members.keys() {
        wanted.entry(*project_id).or_default().push(hash);
    }
    let known = lookup_fingerprints(txn, &wanted).await?;

    // Grouping transition: an issue created under an older grouping version is found by the
    // old hash and adopts the new one, instead of splitting.
    let mut old_wanted: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (project_id, hash) in members.keys() {
        if !known.contains_key(&(*project_id, (*hash).to_owned())) {
            let info = &groups[&(*project_id, (*hash).to_owned())];
            old_wanted
                .entry(*project_id)
                .or_default()
                .extend(info.transition_hashes.iter().map(String::as_str));
        }
    }
    let old_known = lookup_fingerprints(txn, &old_wanted).await?;

    let mut resolved = HashMap::with_capacity(members.len());
    let mut new_fingerprints: Vec<(i64, i64, i64, String, i32)> = Vec::new();
    for ((project_id, hash), group_events) in &members {
        let key = (*project_id, (*hash).to_owned());
        if let Some(&issue_id) = known.get(&key) {
            resolved.insert(
                key,
                Resolved {
                    issue_id,
                    created: false,
                },
            );
            continue;
        }
        let info = &groups[&key];
        let adopted = info
            .transition_hashes
            .iter()
            .find_map(|old| old_known.get(&(*project_id, old.clone())).copied());
        let issue_id = match adopted {
            Some(issue_id) => issue_id,
            None => insert_issue(txn, *project_id, hash, info, group_events).await?,
        };
        new_fingerprints.push((
            info.account_id,
            *project_id,
            issue_id,
            key.1.clone(),
            info.version,
        ));
        resolved.insert(
            key,
            Resolved {
                issue_id,
                created: adopted.is_none(),
            },
        );
    }
    insert_fingerprints(txn, &new_fingerprints).await?;
    Ok(resolved)
}

/// `hash → issue` of `issue_fingerprints` for each project's hashes.
async fn lookup_fingerprints(
    txn: &DatabaseTransaction,
    wanted: &BTreeMap<i64, Vec<&str>>,
) -> anyhow::Result<HashMap<(i64, String), i64>> {
    let mut found = HashMap::new();
    for (project_id, hashes) in wanted {
        for chunk in hashes.chunks(MAX_PARAMS - 1) {
            let rows = txn
                .query_all(
                    &Query::select()
                        .columns(["hash", "issue_id"])
                        .from("issue_fingerprints")
                        .and_where(Expr::col("project_id").eq(*project_id))
                        .and_where(Expr::col("hash").is_in(chunk.iter().copied()))
                        .to_owned(),
                )
                .await?;
            for row in rows {
                found.insert(
                    (*project_id, row.try_get::<String>("", "hash")?),
                    row.try_get::<i64>("", "issue_id")?,
                );
            }
        }
    }
    Ok(found)
}

/// Maps new hashes to their issues (a hash already mapped somewhere stays there).
async fn insert_fingerprints(
    txn: &DatabaseTransaction,
    rows: &[(i64, i64, i64, String, i32)],
) -> anyhow::Result<()> {
    let now = Utc::now();
    for chunk in rows.chunks(MAX_PARAMS / 6) {
        let mut insert = Query::insert();
        insert.into_table("issue_fingerprints").columns([
            "account_id",
            "project_id",
            "issue_id",
            "hash",
            "grouping_version",
            "created_at",
        ]);
        for (account_id, project_id, issue_id, hash, version) in chunk {
            insert.values_panic([
                (*account_id).into(),
                (*project_id).into(),
                (*issue_id).into(),
                hash.clone().into(),
                (*version).into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(["project_id", "hash"])
                .do_nothing()
                .to_owned(),
        );
        txn.execute(&insert).await?;
    }
    Ok(())
}

/// What a batch's events change on their issue.
#[derive(Clone, Debug, PartialEq)]
struct IssueDelta {
    times_seen: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    /// Title, culprit and level of the latest event by timestamp (the later one on a tie).
    title: String,
    culprit: Option<String>,
    level: String,
    /// The first and last release named, in batch order.
    first_release: Option<String>,
    last_release: Option<String>,
}

impl IssueDelta {
    /// The delta of `events` (in batch order); `None` for no events.
    fn of<'a>(events: impl IntoIterator<Item = &'a PreparedEvent>) -> Option<Self> {
        let mut events = events.into_iter();
        let first = events.next()?;
        let mut delta = Self {
            times_seen: 1,
            first_seen: first.timestamp,
            last_seen: first.timestamp,
            title: first.title.clone(),
            culprit: first.culprit.clone(),
            level: first.level.clone(),
            first_release: first.release.clone(),
            last_release: first.release.clone(),
        };
        for event in events {
            delta.times_seen += 1;
            delta.first_seen = Ord::min(delta.first_seen, event.timestamp);
            if event.timestamp >= delta.last_seen {
                delta.last_seen = event.timestamp;
                delta.title.clone_from(&event.title);
                delta.culprit.clone_from(&event.culprit);
                delta.level.clone_from(&event.level);
            }
            if event.release.is_some() {
                if delta.first_release.is_none() {
                    delta.first_release.clone_from(&event.release);
                }
                delta.last_release.clone_from(&event.release);
            }
        }
        Some(delta)
    }
}

/// Creates the issue of a new hash with all its events counted (the user count follows in
/// [`update_issues`]). On a conflict (an issue with this fingerprint whose mapping is gone) the
/// events are added to that issue instead.
async fn insert_issue(
    txn: &DatabaseTransaction,
    project_id: i64,
    hash: &str,
    info: &GroupInfo,
    events: &[&PreparedEvent],
) -> anyhow::Result<i64> {
    let delta =
        IssueDelta::of(events.iter().copied()).expect("Invariant: a group has at least one event");
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
            info.account_id.into(),
            project_id.into(),
            hash.to_owned().into(),
            info.version.into(),
            info.components.clone().into(),
            delta.title.into(),
            delta.culprit.into(),
            delta.level.into(),
            "unresolved".into(),
            delta.first_seen.into(),
            delta.last_seen.into(),
            delta.times_seen.into(),
            0i64.into(),
            delta.first_release.into(),
            delta.last_release.into(),
            Utc::now().into(),
        ])
        .on_conflict(
            OnConflict::columns(["project_id", "fingerprint"])
                .value("times_seen", Expr::cust("issues.times_seen + excluded.times_seen"))
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
    Ok(result.try_get("", "id")?)
}

/// Distinct users of the batch that each issue had not seen before: one lookup per chunk.
async fn count_new_users(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> anyhow::Result<HashMap<i64, i64>> {
    let batch_users = user_pairs(events, issue_ids);
    if batch_users.is_empty() {
        return Ok(HashMap::new());
    }
    let issues: Vec<i64> = batch_users
        .iter()
        .map(|(issue_id, _)| *issue_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let values: Vec<&str> = batch_users
        .iter()
        .map(|(_, value)| value.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Both lists are bounded by the batch; the lookup may return pairs of other users of these
    // issues, which the set difference below ignores.
    let half = MAX_PARAMS / 2;
    let mut known: HashSet<(i64, String)> = HashSet::new();
    for issue_chunk in issues.chunks(half) {
        for value_chunk in values.chunks(half) {
            let rows = txn
                .query_all(
                    &Query::select()
                        .columns(["issue_id", "value"])
                        .from("issue_tag_values")
                        .and_where(Expr::col("key").eq("user"))
                        .and_where(Expr::col("issue_id").is_in(issue_chunk.iter().copied()))
                        .and_where(Expr::col("value").is_in(value_chunk.iter().copied()))
                        .to_owned(),
                )
                .await?;
            for row in rows {
                known.insert((
                    row.try_get::<i64>("", "issue_id")?,
                    row.try_get::<String>("", "value")?,
                ));
            }
        }
    }
    Ok(new_users_per_issue(&batch_users, &known))
}

/// The distinct `(issue, user)` pairs of the batch: values of the `user` tag.
fn user_pairs(events: &[PreparedEvent], issue_ids: &[i64]) -> BTreeSet<(i64, String)> {
    events
        .iter()
        .zip(issue_ids)
        .flat_map(|(event, &issue_id)| {
            event
                .tags
                .iter()
                .filter(|(key, _)| key == "user")
                .map(move |(_, value)| (issue_id, value.clone()))
        })
        .collect()
}

/// How many of `batch_users` each issue has not seen (`known`).
fn new_users_per_issue(
    batch_users: &BTreeSet<(i64, String)>,
    known: &HashSet<(i64, String)>,
) -> HashMap<i64, i64> {
    let mut counts = HashMap::new();
    for pair in batch_users {
        if !known.contains(pair) {
            *counts.entry(pair.0).or_default() += 1;
        }
    }
    counts
}

/// One update per touched issue, in ascending id order: the events' delta (unless the issue's
/// insert already counted them) and its new users.
async fn update_issues(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
    issue_ids: &[i64],
    resolved: &HashMap<(i64, String), Resolved>,
    new_users: &HashMap<i64, i64>,
) -> anyhow::Result<()> {
    let mut uncounted: BTreeMap<i64, Vec<&PreparedEvent>> = BTreeMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        let entry = uncounted.entry(issue_id).or_default();
        if !resolved[&(event.project_id, event.hash.clone())].created {
            entry.push(event);
        }
    }
    for (issue_id, issue_events) in uncounted {
        let users = new_users.get(&issue_id).copied().unwrap_or(0);
        let mut update = Query::update();
        update
            .table("issues")
            .and_where(Expr::col("id").eq(issue_id));
        if users > 0 {
            update.value("users_seen", Expr::col("users_seen").add(users));
        }
        match IssueDelta::of(issue_events) {
            Some(delta) => {
                set_delta(&mut update, delta);
            }
            None if users == 0 => continue,
            None => {}
        }
        txn.execute(&update).await?;
    }
    Ok(())
}

/// Adds `delta`'s assignments to an issue update (right-hand sides see the old row).
fn set_delta(update: &mut sea_orm::sea_query::UpdateStatement, delta: IssueDelta) {
    let latest = delta.last_seen;
    // The latest event names the issue.
    let named = |value: SimpleExpr, column: &'static str| -> SimpleExpr {
        Expr::case(Expr::col("last_seen").lte(latest), value)
            .finally(Expr::col(column))
            .into()
    };
    update
        .value("times_seen", Expr::col("times_seen").add(delta.times_seen))
        .value(
            "last_seen",
            Expr::case(Expr::col("last_seen").lt(latest), latest).finally(Expr::col("last_seen")),
        )
        .value(
            "first_seen",
            Expr::case(
                Expr::col("first_seen").gt(delta.first_seen),
                delta.first_seen,
            )
            .finally(Expr::col("first_seen")),
        )
        .value("title", named(Expr::val(delta.title), "title"))
        .value("culprit", named(Expr::val(delta.culprit), "culprit"))
        .value("level", named(Expr::val(delta.level), "level"));
    if let Some(last) = delta.last_release {
        update.value("last_release", last);
    }
    if let Some(first) = delta.first_release {
        update.value("first_release", Expr::col("first_release").if_null(first));
    }
}

/// The events, in multi-row inserts chunked under the parameter limit and a byte budget.
async fn insert_events(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> anyhow::Result<()> {
    const COLUMNS: [&str; 15] = [
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
    ];
    let max_rows = MAX_PARAMS / COLUMNS.len();
    let mut start = 0;
    while start < events.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < events.len()
            && end - start < max_rows
            && (end == start || bytes + events[end].payload.len() <= MAX_EVENT_BYTES_PER_STATEMENT)
        {
            bytes += events[end].payload.len();
            end += 1;
        }
        let mut insert = Query::insert();
        insert.into_table("events").columns(COLUMNS);
        for (event, &issue_id) in events[start..end].iter().zip(&issue_ids[start..end]) {
            insert.values_panic([
                event.account_id.into(),
                event.project_id.into(),
                issue_id.into(),
                event.event_id.clone().into(),
                event.timestamp.into(),
                event.received_at.into(),
                event.level.clone().into(),
                Some(event.platform.clone()).into(),
                event.release.clone().into(),
                Some(event.environment.clone()).into(),
                Some(event.title.clone()).into(),
                event.user_key.clone().into(),
                event.payload.clone().into(),
                event.payload_size.into(),
                event.hash.clone().into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(["project_id", "event_id"])
                .do_nothing()
                .to_owned(),
        );
        txn.execute(&insert).await?;
        start = end;
    }
    Ok(())
}

/// Events per `(issue, hour)`, with the issue's account and project.
fn hourly_counts(
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> BTreeMap<(i64, DateTime<Utc>), (i64, i64, i64)> {
    let mut counts: BTreeMap<(i64, DateTime<Utc>), (i64, i64, i64)> = BTreeMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        counts
            .entry((issue_id, hour_of(event.timestamp)))
            .or_insert((event.account_id, event.project_id, 0))
            .2 += 1;
    }
    counts
}

async fn upsert_hourly_stats(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> anyhow::Result<()> {
    let counts: Vec<_> = hourly_counts(events, issue_ids).into_iter().collect();
    for chunk in counts.chunks(MAX_PARAMS / 5) {
        let mut insert = hourly_stats_insert();
        for ((issue_id, hour), (account_id, project_id, n)) in chunk {
            insert.values_panic([
                (*account_id).into(),
                (*project_id).into(),
                (*issue_id).into(),
                (*hour).into(),
                (*n).into(),
            ]);
        }
        insert.on_conflict(add_to_hourly_stats());
        txn.execute(&insert).await?;
    }
    Ok(())
}

/// What a batch adds to one `(issue, key, value)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TagCount {
    account_id: i64,
    project_id: i64,
    times_seen: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// Tag values per `(issue, key, value)`; a pair an event names twice counts twice.
fn tag_counts(
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> BTreeMap<(i64, String, String), TagCount> {
    let mut counts: BTreeMap<(i64, String, String), TagCount> = BTreeMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        for (key, value) in &event.tags {
            counts
                .entry((issue_id, key.clone(), value.clone()))
                .and_modify(|count| {
                    count.times_seen += 1;
                    count.first_seen = Ord::min(count.first_seen, event.timestamp);
                    count.last_seen = Ord::max(count.last_seen, event.timestamp);
                })
                .or_insert(TagCount {
                    account_id: event.account_id,
                    project_id: event.project_id,
                    times_seen: 1,
                    first_seen: event.timestamp,
                    last_seen: event.timestamp,
                });
        }
    }
    counts
}

async fn upsert_tag_values(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> anyhow::Result<()> {
    // Coalesced, so no statement touches a row twice (PostgreSQL refuses that).
    let counts: Vec<_> = tag_counts(events, issue_ids).into_iter().collect();
    for chunk in counts.chunks(MAX_PARAMS / 8) {
        let mut insert = tag_values_insert();
        for ((issue_id, key, value), count) in chunk {
            insert.values_panic([
                count.account_id.into(),
                count.project_id.into(),
                (*issue_id).into(),
                key.clone().into(),
                value.clone().into(),
                count.times_seen.into(),
                count.first_seen.into(),
                count.last_seen.into(),
            ]);
        }
        insert.on_conflict(add_to_tag_values());
        txn.execute(&insert).await?;
    }
    Ok(())
}

/// Regressions and ignore expiry: only resolved or ignored issues (one lookup) look at their
/// events, in batch order.
async fn apply_states(
    txn: &DatabaseTransaction,
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> anyhow::Result<HashMap<i64, &'static str>> {
    let mut changes = HashMap::new();
    let mut by_issue: BTreeMap<i64, Vec<&PreparedEvent>> = BTreeMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        by_issue.entry(issue_id).or_default().push(event);
    }
    let touched: Vec<i64> = by_issue.keys().copied().collect();
    for chunk in touched.chunks(MAX_PARAMS - 2) {
        let settled = issue::Entity::find()
            .filter(issue::Column::Id.is_in(chunk.iter().copied()))
            .filter(issue::Column::Status.is_in(["resolved", "ignored"]))
            .order_by_asc(issue::Column::Id)
            .all(txn)
            .await?;
        for current in settled {
            let issue_events = by_issue[&current.id]
                .iter()
                .map(|e| (e.release.as_deref(), e.timestamp));
            if let Some(kind) =
                crate::service::issue::apply_events_to_state(txn, &current, issue_events)
                    .await
                    .map_err(|e| anyhow::anyhow!("issue state: {e}"))?
            {
                changes.insert(current.id, kind);
            }
        }
    }
    Ok(changes)
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
        self.add_for(
            row.account_id,
            row.project_id,
            row.received_at,
            category,
            outcome,
            reason,
            quantity,
        );
    }

    #[expect(clippy::too_many_arguments, reason = "one outcome key, spelled out")]
    fn add_for(
        &mut self,
        account_id: i64,
        project_id: i64,
        received_at: DateTime<Utc>,
        category: DataCategory,
        outcome: &'static str,
        reason: &str,
        quantity: i64,
    ) {
        *self
            .counts
            .entry((
                account_id,
                project_id,
                hour_of(received_at),
                category.as_str(),
                outcome,
                reason.to_owned(),
            ))
            .or_default() += quantity;
    }

    async fn write(&self, txn: &DatabaseTransaction) -> anyhow::Result<()> {
        // Sorted: concurrent digesters lock outcome rows in one order.
        let mut keys: Vec<_> = self.counts.iter().collect();
        keys.sort();
        for (key, quantity) in keys {
            crate::outcome::write_outcome(txn, key, *quantity).await?;
        }
        Ok(())
    }
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

/// One `IssueCreated` or `IssueUpdated` per issue (created wins) at the place of the issue's
/// first notice, and every `EventCreated`.
fn coalesce(notices: Vec<Notice>) -> Vec<Notice> {
    let mut out: Vec<Notice> = Vec::with_capacity(notices.len());
    let mut issue_notice: HashMap<i64, usize> = HashMap::new();
    for notice in notices {
        if notice.change == Change::EventCreated {
            out.push(notice);
            continue;
        }
        match issue_notice.get(&notice.issue_id) {
            Some(&index) => {
                if notice.change == Change::IssueCreated {
                    out[index].change = Change::IssueCreated;
                }
            }
            None => {
                issue_notice.insert(notice.issue_id, out.len());
                out.push(notice);
            }
        }
    }
    out
}

/// An `issue_stats_hourly` upsert that adds the new row's count to an existing `(issue, hour)`
/// (the digest, and merging issues).
pub(crate) fn add_to_hourly_stats() -> OnConflict {
    OnConflict::columns(["issue_id", "hour"])
        .value(
            "times_seen",
            Expr::cust("issue_stats_hourly.times_seen + excluded.times_seen"),
        )
        .to_owned()
}

/// An `issue_tag_values` upsert that adds the new row's count to an existing
/// `(issue, key, value)` and widens its first/last seen (the digest, and merging issues).
/// An insert into `issue_stats_hourly`; rows are (account, project, issue, hour, times_seen).
pub(crate) fn hourly_stats_insert() -> InsertStatement {
    Query::insert()
        .into_table("issue_stats_hourly")
        .columns(["account_id", "project_id", "issue_id", "hour", "times_seen"])
        .to_owned()
}

/// An insert into `issue_tag_values`; rows are (account, project, issue, key, value,
/// times_seen, first_seen, last_seen).
pub(crate) fn tag_values_insert() -> InsertStatement {
    Query::insert()
        .into_table("issue_tag_values")
        .columns([
            "account_id",
            "project_id",
            "issue_id",
            "key",
            "value",
            "times_seen",
            "first_seen",
            "last_seen",
        ])
        .to_owned()
}

pub(crate) fn add_to_tag_values() -> OnConflict {
    OnConflict::columns(["issue_id", "key", "value"])
        .value("times_seen", Expr::cust("issue_tag_values.times_seen + excluded.times_seen"))
        .value(
            "first_seen",
            Expr::cust("CASE WHEN excluded.first_seen < issue_tag_values.first_seen THEN excluded.first_seen ELSE issue_tag_values.first_seen END"),
        )
        .value(
            "last_seen",
            Expr::cust("CASE WHEN excluded.last_seen > issue_tag_values.last_seen THEN excluded.last_seen ELSE issue_tag_values.last_seen END"),
        )
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_batch_prepared_in_parts_and_merged_equals_one_prepared_whole() {
        let rows: Vec<ingest_spool::Model> = (0..100)
            .map(|i: i64| {
                let envelope = match i % 10 {
                    // Not an envelope: counted invalid wherever it falls.
                    9 => b"not json".to_vec(),
                    _ => format!(
                        "{{\"event_id\":\"{i:032x}\"}}\n{{\"type\":\"event\"}}\n{{\"message\":\"failure {}\",\"level\":\"error\"}}\n",
                        ["alpha", "beta", "gamma"][(i % 3) as usize]
                    )
                    .into_bytes(),
                };
                ingest_spool::Model {
                    id: i + 1,
                    account_id: 1,
                    project_id: 1 + i % 2,
                    received_at: at(0),
                    client_ip: None,
                    envelope,
                }
            })
            .collect();
        let rules = HashMap::new();
        let one = prepare(rows.clone(), &rules);
        let parts = parts_for(rows.len(), 2);
        assert_eq!(parts, 2);
        let chunks: Vec<_> = rows
            .chunks(rows.len().div_ceil(parts))
            .map(<[_]>::to_vec)
            .collect();
        let split = merge(chunks.into_iter().map(|c| prepare(c, &rules)).collect());
        assert_eq!(parts_for(20, 2), 1, "small batches stay whole");
        assert_eq!(parts_for(500, 1), 1);
        let ids = |b: &PreparedBatch| {
            b.events
                .iter()
                .map(|e| e.event_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&one).len(), 90);
        assert_eq!(ids(&split), ids(&one), "same events, same order");
        let mut groups_one: Vec<_> = one.groups.keys().cloned().collect();
        let mut groups_split: Vec<_> = split.groups.keys().cloned().collect();
        groups_one.sort();
        groups_split.sort();
        assert_eq!(groups_split, groups_one);
        assert_eq!(groups_one.len(), 6, "3 messages in 2 projects");
        assert_eq!(split.outcomes.counts, one.outcomes.counts);
        assert_eq!(
            split.outcomes.counts.values().sum::<i64>(),
            10,
            "the invalid envelopes"
        );
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 10, minute, 0)
            .single()
            .expect("valid time")
    }

    fn event(event_id: &str, minute: u32, title: &str, release: Option<&str>) -> PreparedEvent {
        PreparedEvent {
            account_id: 1,
            project_id: 10,
            received_at: at(59),
            category: DataCategory::Error,
            event_id: event_id.to_owned(),
            timestamp: at(minute),
            level: "error".to_owned(),
            platform: "python".to_owned(),
            release: release.map(str::to_owned),
            environment: "production".to_owned(),
            title: title.to_owned(),
            culprit: Some(format!("{title} culprit")),
            user_key: None,
            hash: "h".to_owned(),
            payload: Vec::new(),
            payload_size: 0,
            tags: Vec::new(),
        }
    }

    fn with_tags(mut event: PreparedEvent, tags: &[(&str, &str)]) -> PreparedEvent {
        event.tags = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        event
    }

    #[test]
    fn the_latest_event_names_the_issue_and_a_tie_goes_to_the_later_one() {
        let events = [
            event("a", 5, "middle", None),
            event("b", 9, "latest", None),
            event("c", 1, "earliest", None),
            event("d", 9, "latest, later in the batch", None),
        ];
        let delta = IssueDelta::of(&events).expect("events");
        assert_eq!(delta.times_seen, 4);
        assert_eq!((delta.first_seen, delta.last_seen), (at(1), at(9)));
        assert_eq!(delta.title, "latest, later in the batch");
        assert_eq!(
            delta.culprit.as_deref(),
            Some("latest, later in the batch culprit")
        );
    }

    #[test]
    fn releases_are_the_first_and_last_named_in_batch_order() {
        let events = [
            event("a", 5, "t", None),
            event("b", 1, "t", Some("1.0")),
            event("c", 3, "t", None),
            event("d", 2, "t", Some("0.9")),
            event("e", 4, "t", None),
        ];
        let delta = IssueDelta::of(&events).expect("events");
        assert_eq!(delta.first_release.as_deref(), Some("1.0"));
        assert_eq!(delta.last_release.as_deref(), Some("0.9"));
        assert_eq!(
            IssueDelta::of(&events[..1]).expect("one").last_release,
            None
        );
        assert_eq!(IssueDelta::of(&[]), None);
    }

    #[test]
    fn duplicates_keep_the_first_and_drop_stored_ones() {
        let mut other_project = event("a", 4, "other project", None);
        other_project.project_id = 11;
        let events = vec![
            event("a", 1, "first", None),
            event("b", 2, "stored already", None),
            event("a", 3, "repeat", None),
            other_project,
        ];
        let existing = HashSet::from([(10, "b".to_owned())]);
        let kept: Vec<(i64, String)> = drop_duplicates(events, &existing)
            .into_iter()
            .map(|e| (e.project_id, e.title))
            .collect();
        assert_eq!(
            kept,
            [(10, "first".to_owned()), (11, "other project".to_owned())]
        );
    }

    #[test]
    fn tags_coalesce_per_issue_key_and_value() {
        let events = [
            with_tags(
                event("a", 5, "t", None),
                &[("os", "linux"), ("os", "linux")],
            ),
            with_tags(event("b", 2, "t", None), &[("os", "linux"), ("os", "mac")]),
            with_tags(event("c", 7, "t", None), &[("os", "linux")]),
        ];
        let counts = tag_counts(&events, &[100, 100, 200]);
        let linux = counts[&(100, "os".to_owned(), "linux".to_owned())];
        assert_eq!(
            (linux.times_seen, linux.first_seen, linux.last_seen),
            (3, at(2), at(5))
        );
        assert_eq!(
            counts[&(100, "os".to_owned(), "mac".to_owned())].times_seen,
            1
        );
        assert_eq!(
            counts[&(200, "os".to_owned(), "linux".to_owned())].times_seen,
            1
        );
        assert_eq!(counts.len(), 3);
    }

    #[test]
    fn hourly_counts_split_by_issue_and_hour() {
        let mut next_hour = event("c", 0, "t", None);
        next_hour.timestamp = at(0) + chrono::Duration::hours(1);
        let events = [
            event("a", 5, "t", None),
            event("b", 50, "t", None),
            next_hour,
        ];
        let counts = hourly_counts(&events, &[1, 1, 1]);
        let hours: Vec<i64> = counts.values().map(|(_, _, n)| *n).collect();
        assert_eq!(hours, [2, 1]);
        assert_eq!(hourly_counts(&events, &[1, 2, 2]).len(), 3);
    }

    #[test]
    fn only_users_an_issue_has_not_seen_are_new() {
        let events = [
            with_tags(
                event("a", 1, "t", None),
                &[("user", "ada"), ("os", "linux")],
            ),
            with_tags(event("b", 2, "t", None), &[("user", "ada")]),
            with_tags(event("c", 3, "t", None), &[("user", "bob")]),
            with_tags(event("d", 4, "t", None), &[("user", "ada")]),
        ];
        let pairs = user_pairs(&events, &[1, 1, 1, 2]);
        assert_eq!(pairs.len(), 3, "{pairs:?}");
        let known = HashSet::from([(1, "bob".to_owned()), (3, "ada".to_owned())]);
        let new = new_users_per_issue(&pairs, &known);
        assert_eq!(new, HashMap::from([(1, 1), (2, 1)]));
    }

    #[test]
    fn notices_coalesce_to_one_per_issue_with_created_winning() {
        let notice = |change, issue_id, event_id: Option<&str>| Notice {
            change,
            account_id: 1,
            project_id: 10,
            issue_id,
            event_id: event_id.map(str::to_owned),
        };
        let coalesced = coalesce(vec![
            notice(Change::IssueUpdated, 7, None),
            notice(Change::EventCreated, 7, Some("a")),
            notice(Change::IssueUpdated, 8, None),
            notice(Change::EventCreated, 8, Some("b")),
            notice(Change::IssueCreated, 7, None),
            notice(Change::EventCreated, 7, Some("c")),
        ]);
        assert_eq!(
            coalesced,
            [
                notice(Change::IssueCreated, 7, None),
                notice(Change::EventCreated, 7, Some("a")),
                notice(Change::IssueUpdated, 8, None),
                notice(Change::EventCreated, 8, Some("b")),
                notice(Change::EventCreated, 7, Some("c")),
            ]
        );
    }

    #[test]
    fn projects_of_rows_are_distinct_and_sorted() {
        assert_eq!(projects_of([5, 3, 5]), [3, 5]);
    }
}
