//! The digest's write phase: the multi-row statements of one batch. A batch holds envelopes of
//! several accounts, so every row written carries the account its DSN key resolved at ingest
//! ([`Tenant::ingested`]), every lookup by project also filters on that project's account, and
//! lookups across the batch filter on the batch's accounts ([`super::select_in`]).
//!
//! Statement counts grow with the batch's projects, issues and chunks, never with its events;
//! the digest's statement-count test holds them.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Expr, ExprTrait, InsertStatement, OnConflict, Query, SimpleExpr, UpdateStatement,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{issue, project};
use super::events::Events;
use super::issues::{IssueFingerprints, Issues};
use super::stats::{IssueStatsHourly, IssueTagValues};
use super::{Tenant, TenantProject, select_in, select_in_project, update};
use crate::digest::prepare::{GroupInfo, IssueDelta, PreparedEvent, TagCount};
use crate::ids::{AccountId, IssueId, ProjectId};

/// Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
pub(crate) const MAX_PARAMS: usize = 32_000;
/// Compressed payload bytes per multi-row event insert, so one statement stays a few MiB.
const MAX_EVENT_BYTES_PER_STATEMENT: usize = 8 << 20;

/// `(project, fingerprint rules text)` of the batch's projects, in one query per chunk.
pub(crate) async fn fingerprint_rules(
    conn: &impl ConnectionTrait,
    tenants: &[Tenant],
    projects: &[i64],
) -> anyhow::Result<Vec<(i64, String)>> {
    let accounts: Vec<i64> = tenants.iter().map(|t| t.account_id().0).collect();
    let mut found = Vec::with_capacity(projects.len());
    for chunk in projects.chunks(MAX_PARAMS - accounts.len()) {
        let rows: Vec<(i64, String)> = project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .column(project::Column::FingerprintRules)
            .filter(project::Column::AccountId.is_in(accounts.iter().copied()))
            .filter(project::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// A spool row's `(account, project)`, resolved together from its DSN key at ingest.
fn project_of(account_id: i64, project_id: i64) -> TenantProject {
    TenantProject::new(
        Tenant::ingested(AccountId(account_id)),
        ProjectId(project_id),
    )
}

/// The `(project, event_id)` pairs of `events` already stored: one query per project and chunk.
pub(crate) async fn existing_event_ids(
    txn: &impl ConnectionTrait,
    events: &[PreparedEvent],
) -> anyhow::Result<HashSet<(i64, String)>> {
    let mut by_project: BTreeMap<(i64, i64), std::collections::BTreeSet<&str>> = BTreeMap::new();
    for event in events {
        by_project
            .entry((event.account_id, event.project_id))
            .or_default()
            .insert(&event.event_id);
    }
    let mut existing = HashSet::new();
    for ((account_id, project_id), event_ids) in by_project {
        let event_ids: Vec<&str> = event_ids.into_iter().collect();
        for chunk in event_ids.chunks(MAX_PARAMS - 1) {
            let rows = txn
                .query_all(
                    &select_in_project::<Events>(project_of(account_id, project_id))
                        .column(Events::EventId)
                        .and_where(Expr::col(Events::EventId).is_in(chunk.iter().copied()))
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

/// `(project, hash) → issue` of `issue_fingerprints` for each `(account, project)`'s hashes.
pub(crate) async fn lookup_fingerprints(
    txn: &impl ConnectionTrait,
    wanted: &BTreeMap<(i64, i64), Vec<&str>>,
) -> anyhow::Result<HashMap<(i64, String), i64>> {
    let mut found = HashMap::new();
    for ((account_id, project_id), hashes) in wanted {
        for chunk in hashes.chunks(MAX_PARAMS - 1) {
            let rows = txn
                .query_all(
                    &select_in_project::<IssueFingerprints>(project_of(*account_id, *project_id))
                        .columns([IssueFingerprints::Hash, IssueFingerprints::IssueId])
                        .and_where(Expr::col(IssueFingerprints::Hash).is_in(chunk.iter().copied()))
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

/// A new hash of a project mapped to its issue.
pub(crate) struct NewFingerprint {
    pub(crate) tenant: Tenant,
    pub(crate) project: ProjectId,
    pub(crate) issue: IssueId,
    pub(crate) hash: String,
    pub(crate) grouping_version: i32,
}

/// Maps new hashes to their issues (a hash already mapped somewhere stays there).
pub(crate) async fn insert_fingerprints(
    txn: &impl ConnectionTrait,
    rows: &[NewFingerprint],
) -> anyhow::Result<()> {
    let now = Utc::now();
    for chunk in rows.chunks(MAX_PARAMS / 6) {
        let mut insert = Query::insert();
        insert.into_table(IssueFingerprints::Table).columns([
            IssueFingerprints::AccountId,
            IssueFingerprints::ProjectId,
            IssueFingerprints::IssueId,
            IssueFingerprints::Hash,
            IssueFingerprints::GroupingVersion,
            IssueFingerprints::CreatedAt,
        ]);
        for row in chunk {
            insert.values_panic([
                row.tenant.account_id().0.into(),
                row.project.0.into(),
                row.issue.0.into(),
                row.hash.clone().into(),
                row.grouping_version.into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns([IssueFingerprints::ProjectId, IssueFingerprints::Hash])
                .do_nothing()
                .to_owned(),
        );
        txn.execute(&insert).await?;
    }
    Ok(())
}

/// Creates the issue of a new hash with `delta` counted (its events' user count follows in
/// [`update_issue`]). On a conflict (an issue with this fingerprint whose mapping is gone) the
/// events are added to that issue instead. Returns the issue's id.
pub(crate) async fn insert_issue(
    txn: &impl ConnectionTrait,
    project: ProjectId,
    hash: &str,
    info: &GroupInfo,
    delta: IssueDelta,
) -> anyhow::Result<IssueId> {
    let statement = Query::insert()
        .into_table(Issues::Table)
        .columns([
            Issues::AccountId,
            Issues::ProjectId,
            Issues::Fingerprint,
            Issues::GroupingVersion,
            Issues::GroupingComponents,
            Issues::Title,
            Issues::Culprit,
            Issues::Level,
            Issues::Status,
            Issues::FirstSeen,
            Issues::LastSeen,
            Issues::TimesSeen,
            Issues::UsersSeen,
            Issues::FirstRelease,
            Issues::LastRelease,
            Issues::CreatedAt,
        ])
        .values_panic([
            info.account_id.into(),
            project.0.into(),
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
            OnConflict::columns([Issues::ProjectId, Issues::Fingerprint])
                .value(Issues::TimesSeen, Expr::cust("issues.times_seen + excluded.times_seen"))
                .value(
                    Issues::LastSeen,
                    Expr::cust("CASE WHEN excluded.last_seen > issues.last_seen THEN excluded.last_seen ELSE issues.last_seen END"),
                )
                .value(
                    Issues::FirstSeen,
                    Expr::cust("CASE WHEN excluded.first_seen < issues.first_seen THEN excluded.first_seen ELSE issues.first_seen END"),
                )
                .value(
                    Issues::Title,
                    Expr::cust("CASE WHEN excluded.last_seen >= issues.last_seen THEN excluded.title ELSE issues.title END"),
                )
                .value(
                    Issues::Culprit,
                    Expr::cust("CASE WHEN excluded.last_seen >= issues.last_seen THEN excluded.culprit ELSE issues.culprit END"),
                )
                .value(Issues::LastRelease, Expr::cust("COALESCE(excluded.last_release, issues.last_release)"))
                .value(Issues::FirstRelease, Expr::cust("COALESCE(issues.first_release, excluded.first_release)"))
                .to_owned(),
        )
        .returning_col(Issues::Id)
        .to_owned();
    let result = txn
        .query_one(&statement)
        .await?
        .ok_or_else(|| anyhow::anyhow!("issue upsert returned no row"))?;
    Ok(IssueId(result.try_get("", "id")?))
}

/// The `(issue, user)` pairs among `issues` × `values` already counted under the `user` tag;
/// may include pairs outside the product (callers take a set difference).
pub(crate) async fn known_users(
    txn: &impl ConnectionTrait,
    tenants: &[Tenant],
    issues: &[i64],
    values: &[&str],
) -> anyhow::Result<HashSet<(i64, String)>> {
    let half = (MAX_PARAMS - tenants.len()) / 2;
    let mut known: HashSet<(i64, String)> = HashSet::new();
    for issue_chunk in issues.chunks(half) {
        for value_chunk in values.chunks(half) {
            let rows = txn
                .query_all(
                    &select_in::<IssueTagValues>(tenants)
                        .columns([IssueTagValues::IssueId, IssueTagValues::Value])
                        .and_where(Expr::col(IssueTagValues::Key).eq("user"))
                        .and_where(
                            Expr::col(IssueTagValues::IssueId).is_in(issue_chunk.iter().copied()),
                        )
                        .and_where(
                            Expr::col(IssueTagValues::Value).is_in(value_chunk.iter().copied()),
                        )
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
    Ok(known)
}

/// Adds `delta` (when some) and `new_users` to an existing issue, in one statement.
pub(crate) async fn update_issue(
    txn: &impl ConnectionTrait,
    tenant: Tenant,
    issue: IssueId,
    new_users: i64,
    delta: Option<IssueDelta>,
) -> anyhow::Result<()> {
    let mut update = update::<Issues>(tenant);
    update.and_where(Expr::col(Issues::Id).eq(issue.0));
    if new_users > 0 {
        update.value(
            Issues::UsersSeen,
            Expr::col(Issues::UsersSeen).add(new_users),
        );
    }
    if let Some(delta) = delta {
        set_delta(&mut update, delta);
    }
    txn.execute(&update).await?;
    Ok(())
}

/// Adds `delta`'s assignments to an issue update (right-hand sides see the old row).
fn set_delta(update: &mut UpdateStatement, delta: IssueDelta) {
    let latest = delta.last_seen;
    // The latest event names the issue.
    let named = |value: SimpleExpr, column: Issues| -> SimpleExpr {
        Expr::case(Expr::col(Issues::LastSeen).lte(latest), value)
            .finally(Expr::col(column))
            .into()
    };
    update
        .value(
            Issues::TimesSeen,
            Expr::col(Issues::TimesSeen).add(delta.times_seen),
        )
        .value(
            Issues::LastSeen,
            Expr::case(Expr::col(Issues::LastSeen).lt(latest), latest)
                .finally(Expr::col(Issues::LastSeen)),
        )
        .value(
            Issues::FirstSeen,
            Expr::case(
                Expr::col(Issues::FirstSeen).gt(delta.first_seen),
                delta.first_seen,
            )
            .finally(Expr::col(Issues::FirstSeen)),
        )
        .value(Issues::Title, named(Expr::val(delta.title), Issues::Title))
        .value(
            Issues::Culprit,
            named(Expr::val(delta.culprit), Issues::Culprit),
        )
        .value(Issues::Level, named(Expr::val(delta.level), Issues::Level));
    if let Some(last) = delta.last_release {
        update.value(Issues::LastRelease, last);
    }
    if let Some(first) = delta.first_release {
        update.value(
            Issues::FirstRelease,
            Expr::col(Issues::FirstRelease).if_null(first),
        );
    }
}

/// The events, in multi-row inserts chunked under the parameter limit and a byte budget;
/// `issue_ids[i]` is `events[i]`'s issue.
pub(crate) async fn insert_events(
    txn: &impl ConnectionTrait,
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> anyhow::Result<()> {
    const COLUMNS: [Events; 15] = [
        Events::AccountId,
        Events::ProjectId,
        Events::IssueId,
        Events::EventId,
        Events::Timestamp,
        Events::ReceivedAt,
        Events::Level,
        Events::Platform,
        Events::Release,
        Events::Environment,
        Events::Title,
        Events::UserKey,
        Events::Payload,
        Events::PayloadSize,
        Events::GroupingHash,
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
        insert.into_table(Events::Table).columns(COLUMNS);
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
            OnConflict::columns([Events::ProjectId, Events::EventId])
                .do_nothing()
                .to_owned(),
        );
        txn.execute(&insert).await?;
        start = end;
    }
    Ok(())
}

/// `((issue, hour), (account, project, events))`.
pub(crate) type HourlyCount = ((i64, DateTime<Utc>), (i64, i64, i64));

/// Adds events per `(issue, hour)` (with the issue's account and project) to the hourly stats.
pub(crate) async fn upsert_hourly_stats(
    txn: &impl ConnectionTrait,
    counts: &[HourlyCount],
) -> anyhow::Result<()> {
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

/// Adds tag value counts per `(issue, key, value)` (coalesced by the caller, so no statement
/// touches a row twice: PostgreSQL refuses that).
pub(crate) async fn upsert_tag_values(
    txn: &impl ConnectionTrait,
    counts: &[((i64, String, String), TagCount)],
) -> anyhow::Result<()> {
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

/// The resolved or ignored issues among `issues` (of the batch's accounts), by ascending id.
pub(crate) async fn settled_issues(
    txn: &impl ConnectionTrait,
    tenants: &[Tenant],
    issues: &[i64],
) -> anyhow::Result<Vec<issue::Model>> {
    let accounts: Vec<i64> = tenants.iter().map(|t| t.account_id().0).collect();
    let mut settled = Vec::new();
    for chunk in issues.chunks(MAX_PARAMS - 2 - accounts.len()) {
        settled.extend(
            issue::Entity::find()
                .filter(issue::Column::AccountId.is_in(accounts.iter().copied()))
                .filter(issue::Column::Id.is_in(chunk.iter().copied()))
                .filter(issue::Column::Status.is_in(["resolved", "ignored"]))
                .order_by_asc(issue::Column::Id)
                .all(txn)
                .await?,
        );
    }
    Ok(settled)
}

/// An `issue_stats_hourly` upsert that adds the new row's count to an existing `(issue, hour)`
/// (the digest, and merging issues).
pub(crate) fn add_to_hourly_stats() -> OnConflict {
    OnConflict::columns([IssueStatsHourly::IssueId, IssueStatsHourly::Hour])
        .value(
            IssueStatsHourly::TimesSeen,
            Expr::cust("issue_stats_hourly.times_seen + excluded.times_seen"),
        )
        .to_owned()
}

/// An insert into `issue_stats_hourly`; rows are (account, project, issue, hour, times_seen).
pub(crate) fn hourly_stats_insert() -> InsertStatement {
    Query::insert()
        .into_table(IssueStatsHourly::Table)
        .columns([
            IssueStatsHourly::AccountId,
            IssueStatsHourly::ProjectId,
            IssueStatsHourly::IssueId,
            IssueStatsHourly::Hour,
            IssueStatsHourly::TimesSeen,
        ])
        .to_owned()
}

/// An insert into `issue_tag_values`; rows are (account, project, issue, key, value,
/// times_seen, first_seen, last_seen).
pub(crate) fn tag_values_insert() -> InsertStatement {
    Query::insert()
        .into_table(IssueTagValues::Table)
        .columns([
            IssueTagValues::AccountId,
            IssueTagValues::ProjectId,
            IssueTagValues::IssueId,
            IssueTagValues::Key,
            IssueTagValues::Value,
            IssueTagValues::TimesSeen,
            IssueTagValues::FirstSeen,
            IssueTagValues::LastSeen,
        ])
        .to_owned()
}

/// An `issue_tag_values` upsert that adds the new row's count to an existing
/// `(issue, key, value)` and widens its first/last seen (the digest, and merging issues).
pub(crate) fn add_to_tag_values() -> OnConflict {
    OnConflict::columns([IssueTagValues::IssueId, IssueTagValues::Key, IssueTagValues::Value])
        .value(IssueTagValues::TimesSeen, Expr::cust("issue_tag_values.times_seen + excluded.times_seen"))
        .value(
            IssueTagValues::FirstSeen,
            Expr::cust("CASE WHEN excluded.first_seen < issue_tag_values.first_seen THEN excluded.first_seen ELSE issue_tag_values.first_seen END"),
        )
        .value(
            IssueTagValues::LastSeen,
            Expr::cust("CASE WHEN excluded.last_seen > issue_tag_values.last_seen THEN excluded.last_seen ELSE issue_tag_values.last_seen END"),
        )
        .to_owned()
}
