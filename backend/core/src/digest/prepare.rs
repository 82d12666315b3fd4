//! The digest's CPU phase (no database, no async): parses envelopes, normalizes and groups
//! events, serializes and compresses payloads, collects tags and outcomes, and derives what the
//! write phase ([`super::write`]) writes: per-issue deltas, hourly counts, tag counts, new
//! users. The runner runs [`prepare`] in `spawn_blocking` with the project rules from
//! [`super::runner`]'s `load_rules`, before its write transaction.
//!
//! The result equals digesting the rows one event at a time, in row order then item order: the
//! first of two events with the same `(project, event_id)` is kept, the latest event by
//! timestamp (the later one on a tie) names its issue, the first and last releases in row order
//! become an issue's first and last release.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use tracing::warn;

use super::normalize::{NormalizeContext, normalize_event};
use super::passthrough::{self, SplitError};
use super::symbolicate::{BatchMaps, symbolicate_event};
use crate::grouping::{GroupingConfig, group_event_with, transition_hashes};
use crate::ingest::category::DataCategory;
use crate::ingest::envelope::{Envelope, Item, ItemType, Limits, parse_envelope_bytes};
use crate::notify::{Change, Notice};
use crate::outcome::{Outcome, hour_of};
use crate::repo::entity::ingest_spool;

/// zstd level of stored payloads (see [`super::compress_payload`]). On the SDK corpus level 1
/// compresses a third faster than level 3 for 1.8 % more bytes (both about 0.21 of the JSON);
/// the digest is CPU-bound, so speed wins.
pub(crate) const PAYLOAD_ZSTD_LEVEL: i32 = 1;

/// A batch after the CPU phase, ready for [`write_batch`].
pub(crate) struct PreparedBatch {
    /// Valid events, in row order then item order (duplicates not yet removed).
    pub(crate) events: Vec<PreparedEvent>,
    /// What grouping said about each `(project, hash)` of `events`.
    pub(crate) groups: HashMap<(i64, String), GroupInfo>,
    /// Items other than events that write to the database, in order.
    pub(crate) items: Vec<PendingItem>,
    /// Outcomes known without the database (invalid events, client reports, counted items).
    pub(crate) outcomes: Outcomes,
    /// JavaScript frames mapped to their original source, and left minified.
    pub(crate) frames: (u64, u64),
}

/// One normalized, grouped event with its stored columns.
#[derive(Clone, Debug)]
pub(crate) struct PreparedEvent {
    pub(crate) account_id: i64,
    pub(crate) project_id: i64,
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) category: DataCategory,
    pub(crate) event_id: String,
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) level: String,
    pub(crate) platform: String,
    pub(crate) release: Option<String>,
    pub(crate) environment: String,
    pub(crate) title: String,
    pub(crate) culprit: Option<String>,
    pub(crate) user_key: Option<String>,
    /// The grouping hash (current version).
    pub(crate) hash: String,
    /// The compressed payload.
    pub(crate) payload: Vec<u8>,
    /// The payload's serialized (uncompressed) length.
    pub(crate) payload_size: i32,
    /// The tag values the event counts under ([`super::event_tags`]).
    pub(crate) tags: Vec<(String, String)>,
}

/// Grouping facts shared by every event of one `(project, hash)`.
#[derive(Clone, Debug)]
pub(crate) struct GroupInfo {
    pub(crate) account_id: i64,
    pub(crate) version: i32,
    /// The grouping components, serialized.
    pub(crate) components: String,
    /// Hashes of older grouping versions, oldest first (looked up when `hash` is unknown).
    pub(crate) transition_hashes: Vec<String>,
}

/// A non-event item, digested by its own code in the database phase.
pub(crate) struct PendingItem {
    /// The item's spool row, without its envelope bytes.
    pub(crate) row: ingest_spool::Model,
    /// The envelope header's event id (attachments are stored under it).
    pub(crate) envelope_event_id: Option<String>,
    pub(crate) item: Item,
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

/// The CPU phase: everything that needs no database. Never fails: an envelope or event that
/// cannot be read is counted as an `invalid` outcome.
pub(crate) fn prepare(
    rows: Vec<ingest_spool::Model>,
    rules: &HashMap<i64, GroupingConfig>,
    maps: &BatchMaps,
) -> PreparedBatch {
    prepare_rows(rows, rules, maps)
}

/// What normalization knows about the events of `row`'s `envelope`.
pub(crate) fn normalize_context(
    row: &ingest_spool::Model,
    envelope: &Envelope,
) -> NormalizeContext {
    NormalizeContext {
        envelope_event_id: envelope.event_id().ok().flatten().map(|id| id.to_string()),
        received_at: row.received_at,
        sent_at: envelope.sent_at(),
        client_ip: row.client_ip.clone(),
    }
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
            frames: (0, 0),
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
        self.frames.0 += later.frames.0;
        self.frames.1 += later.frames.1;
    }
}

fn prepare_rows(
    rows: Vec<ingest_spool::Model>,
    rules: &HashMap<i64, GroupingConfig>,
    maps: &BatchMaps,
) -> PreparedBatch {
    let no_rules = GroupingConfig::default();
    let mut compressor = super::dictionary::compressor(PAYLOAD_ZSTD_LEVEL).ok();
    let mut batch = PreparedBatch {
        events: Vec::with_capacity(rows.len()),
        groups: HashMap::new(),
        items: Vec::new(),
        outcomes: Outcomes::default(),
        frames: (0, 0),
    };
    for mut row in rows {
        // Zero-copy: item payloads are slices of the row's bytes.
        let bytes = Bytes::from(std::mem::take(&mut row.envelope));
        let envelope = match parse_envelope_bytes(bytes, &Limits::default()) {
            Ok(envelope) => envelope,
            Err(e) => {
                warn!(spool.id = row.id, error = %e, "spooled envelope does not parse; dropped");
                batch.outcomes.add(
                    &row,
                    DataCategory::Error,
                    Outcome::Invalid,
                    "invalid_envelope",
                    1,
                );
                continue;
            }
        };
        let context = normalize_context(&row, &envelope);
        let envelope_event_id = context.envelope_event_id.clone();
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
                    let inputs = EventInputs {
                        context: &context,
                        config,
                        maps,
                    };
                    match prepare_event(
                        &row,
                        category,
                        &item.payload,
                        &inputs,
                        compressor.as_mut(),
                        &mut batch.groups,
                    ) {
                        Ok((event, frames)) => {
                            batch.frames.0 += frames.0;
                            batch.frames.1 += frames.1;
                            batch.events.push(event);
                        }
                        Err(reason) => {
                            batch
                                .outcomes
                                .add(&row, category, Outcome::Invalid, reason, 1)
                        }
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
                _ => batch
                    .outcomes
                    .add(&row, category, Outcome::Accepted, "", quantity),
            }
        }
    }
    batch
}

/// What an event item is prepared with besides its bytes.
struct EventInputs<'a> {
    context: &'a NormalizeContext,
    /// Its project's grouping rules.
    config: &'a GroupingConfig,
    /// The batch's source maps.
    maps: &'a BatchMaps,
}

/// Normalizes, symbolicates, groups and compresses one event item, with the number of its
/// frames mapped and left minified; the error is the invalid outcome's reason.
fn prepare_event(
    row: &ingest_spool::Model,
    category: DataCategory,
    payload: &[u8],
    inputs: &EventInputs<'_>,
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    groups: &mut HashMap<(i64, String), GroupInfo>,
) -> Result<(PreparedEvent, (u64, u64)), &'static str> {
    // The members nothing here reads stay text (see `passthrough`).
    let split = passthrough::split(payload).map_err(|e| match e {
        SplitError::Json => "invalid_json",
        SplitError::NotAnObject => "invalid_event",
    })?;
    let raw = serde_json::Value::Object(split.parsed);
    let mut event = normalize_event(raw, inputs.context).map_err(|_| "invalid_event")?;
    // JavaScript frames to their original source, before grouping reads them.
    let debug_meta = split
        .kept
        .iter()
        .find(|(name, _)| *name == "debug_meta")
        .map(|(_, raw)| *raw);
    let symbolicated = symbolicate_event(
        &mut event.payload,
        debug_meta,
        row.account_id,
        row.project_id,
        inputs.maps,
    );
    if symbolicated
        .as_ref()
        .is_some_and(|summary| summary.mapped > 0)
    {
        event.culprit = super::normalize::refresh_culprit(&mut event.payload);
    }
    let frames = symbolicated.map_or((0, 0), |s| (s.mapped as u64, s.unmapped as u64));
    let grouping = group_event_with(&event.payload, inputs.config);
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
    Ok((
        PreparedEvent {
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
        },
        frames,
    ))
}

/// `events` without the ones already stored and without repeats inside the batch (the first
/// of a `(project, event_id)` is kept, as a one-at-a-time digest would).
pub(crate) fn drop_duplicates(
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

/// What a batch's events change on their issue.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IssueDelta {
    pub(crate) times_seen: i64,
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
    /// Title, culprit and level of the latest event by timestamp (the later one on a tie).
    pub(crate) title: String,
    pub(crate) culprit: Option<String>,
    pub(crate) level: String,
    /// The first and last release named, in batch order.
    pub(crate) first_release: Option<String>,
    pub(crate) last_release: Option<String>,
}

impl IssueDelta {
    /// The delta of `events` (in batch order); `None` for no events.
    pub(crate) fn of<'a>(events: impl IntoIterator<Item = &'a PreparedEvent>) -> Option<Self> {
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

/// The distinct `(issue, user)` pairs of the batch: values of the `user` tag.
pub(crate) fn user_pairs(events: &[PreparedEvent], issue_ids: &[i64]) -> BTreeSet<(i64, String)> {
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
pub(crate) fn new_users_per_issue(
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

/// Events per `(issue, hour)`, with the issue's account and project.
pub(crate) fn hourly_counts(
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

/// What a batch adds to one `(issue, key, value)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TagCount {
    pub(crate) account_id: i64,
    pub(crate) project_id: i64,
    pub(crate) times_seen: i64,
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
}

/// Tag values per `(issue, key, value)`; a pair an event names twice counts twice.
pub(crate) fn tag_counts(
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

/// Outcome counts of one digest, written with one upsert per key.
#[derive(Default)]
pub(crate) struct Outcomes {
    counts: HashMap<crate::outcome::OutcomeKey, i64>,
}

impl Outcomes {
    pub(crate) fn add(
        &mut self,
        row: &ingest_spool::Model,
        category: DataCategory,
        outcome: Outcome,
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
    pub(crate) fn add_for(
        &mut self,
        account_id: i64,
        project_id: i64,
        received_at: DateTime<Utc>,
        category: DataCategory,
        outcome: Outcome,
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

    pub(crate) async fn write(&self, txn: &DatabaseTransaction) -> anyhow::Result<()> {
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
pub(crate) fn record_client_report(
    row: &ingest_spool::Model,
    payload: &[u8],
    outcomes: &mut Outcomes,
) {
    let Ok(report) = serde_json::from_slice::<serde_json::Value>(payload) else {
        outcomes.add(
            row,
            DataCategory::Internal,
            Outcome::Invalid,
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
            outcomes.add(row, category, Outcome::ClientDiscard, &reason, quantity);
        }
    }
}

/// One `IssueCreated` or `IssueUpdated` per issue (created wins) at the place of the issue's
/// first notice, and every `EventCreated`.
pub(crate) fn coalesce(notices: Vec<Notice>) -> Vec<Notice> {
    let mut out: Vec<Notice> = Vec::with_capacity(notices.len());
    let mut issue_notice: HashMap<crate::ids::IssueId, usize> = HashMap::new();
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
        let one = prepare(rows.clone(), &rules, &BatchMaps::default());
        let parts = parts_for(rows.len(), 2);
        assert_eq!(parts, 2);
        let chunks: Vec<_> = rows
            .chunks(rows.len().div_ceil(parts))
            .map(<[_]>::to_vec)
            .collect();
        let split = merge(
            chunks
                .into_iter()
                .map(|c| prepare(c, &rules, &BatchMaps::default()))
                .collect(),
        );
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
            account_id: crate::ids::AccountId(1),
            project_id: crate::ids::ProjectId(10),
            issue_id,
            event_id: event_id.map(str::to_owned),
        };
        let coalesced = coalesce(vec![
            notice(Change::IssueUpdated, crate::ids::IssueId(7), None),
            notice(Change::EventCreated, crate::ids::IssueId(7), Some("a")),
            notice(Change::IssueUpdated, crate::ids::IssueId(8), None),
            notice(Change::EventCreated, crate::ids::IssueId(8), Some("b")),
            notice(Change::IssueCreated, crate::ids::IssueId(7), None),
            notice(Change::EventCreated, crate::ids::IssueId(7), Some("c")),
        ]);
        assert_eq!(
            coalesced,
            [
                notice(Change::IssueCreated, crate::ids::IssueId(7), None),
                notice(Change::EventCreated, crate::ids::IssueId(7), Some("a")),
                notice(Change::IssueUpdated, crate::ids::IssueId(8), None),
                notice(Change::EventCreated, crate::ids::IssueId(8), Some("b")),
                notice(Change::EventCreated, crate::ids::IssueId(7), Some("c")),
            ]
        );
    }

    #[test]
    fn projects_of_rows_are_distinct_and_sorted() {
        assert_eq!(projects_of([5, 3, 5]), [3, 5]);
    }
}
