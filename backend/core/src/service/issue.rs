//! The issue lifecycle: resolve (now, in a release, in the next release), ignore (forever,
//! until a time, until N more events or users), reopen; regressions and the end of ignore
//! conditions when events arrive; every change recorded in `issue_activity`.
//!
//! States: `status` is `unresolved`, `resolved` or `ignored`; `substatus` says why an
//! unresolved issue is unresolved (`new`, `regressed`, `escalating`, `ongoing`).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;
use serde_json::json;

use crate::ids::{IssueId, ProjectId};
use crate::notify::{Change, Notice};
use crate::repo::entity::{issue, issue_activity};
use crate::scope::{AccountScope, Actor, Role};
use crate::{Error, Result};

/// An issue as shown to members.
#[derive(Clone, Debug, Serialize)]
pub struct Issue {
    /// Id.
    pub id: i64,
    /// Project.
    pub project_id: i64,
    /// Title (`Type: value` or the message).
    pub title: String,
    /// Where it happens.
    pub culprit: Option<String>,
    /// Level of the latest event.
    pub level: String,
    /// `unresolved`, `resolved` or `ignored`.
    pub status: String,
    /// Why it is unresolved (`regressed`, `escalating`), if it says.
    pub substatus: Option<String>,
    /// How it was resolved: `now`, `in_release`, `in_next_release`.
    pub resolution_kind: Option<String>,
    /// The release of the resolution.
    pub resolution_release: Option<String>,
    /// Events counted.
    pub times_seen: i64,
    /// Distinct users counted.
    pub users_seen: i64,
    /// First event time.
    pub first_seen: DateTime<Utc>,
    /// Latest event time.
    pub last_seen: DateTime<Utc>,
    /// First release seen.
    pub first_release: Option<String>,
    /// Latest release seen.
    pub last_release: Option<String>,
    /// Grouping version.
    pub grouping_version: i32,
    /// Why its events are one issue.
    pub grouping_components: serde_json::Value,
    /// The member it is assigned to.
    pub assignee_user_id: Option<i64>,
    /// While ignored until a time: that time.
    pub ignore_until: Option<DateTime<Utc>>,
    /// While ignored until more events: the event count (`times_seen`) that wakes it up.
    pub ignore_until_times_seen: Option<i64>,
    /// While ignored until more users: the user count (`users_seen`) that wakes it up.
    pub ignore_until_users_seen: Option<i64>,
}

impl From<issue::Model> for Issue {
    fn from(m: issue::Model) -> Self {
        Self {
            id: m.id,
            project_id: m.project_id,
            title: m.title,
            culprit: m.culprit,
            level: m.level,
            status: m.status,
            substatus: m.substatus,
            resolution_kind: m.resolution_kind,
            resolution_release: m.resolution_release,
            times_seen: m.times_seen,
            users_seen: m.users_seen,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            first_release: m.first_release,
            last_release: m.last_release,
            grouping_version: m.grouping_version,
            grouping_components: serde_json::from_str(&m.grouping_components)
                .unwrap_or(serde_json::Value::Null),
            assignee_user_id: m.assignee_user_id,
            ignore_until: m.ignore_until,
            ignore_until_times_seen: m.ignore_until_times_seen,
            ignore_until_users_seen: m.ignore_until_users_seen,
        }
    }
}

/// One activity entry.
#[derive(Clone, Debug, Serialize)]
pub struct Activity {
    /// `resolved`, `ignored`, `reopened`, `regression`, `unignored`, …
    pub kind: String,
    /// `user:<id>` or `system:<reason>`.
    pub actor: String,
    /// Details (release, condition).
    pub data: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Until when an ignore holds.
#[derive(Clone, Debug, PartialEq)]
pub enum IgnoreCondition {
    /// Until someone reopens it.
    Forever,
    /// Until this time.
    Until(DateTime<Utc>),
    /// Until this many more events arrive.
    MoreEvents(i64),
    /// Until this many more distinct users are affected.
    MoreUsers(i64),
}

/// A requested state change.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusChange {
    /// Resolved now: any new event is a regression.
    Resolve,
    /// Resolved in this release: events from older releases are not regressions.
    ResolveInRelease(String),
    /// Resolved in the release after the latest one seen.
    ResolveInNextRelease,
    /// Ignored under a condition.
    Ignore(IgnoreCondition),
    /// Back to unresolved.
    Reopen,
}

pub(crate) fn actor_name(scope: &AccountScope) -> String {
    match scope.actor() {
        Actor::User(id) => format!("user:{id}"),
        Actor::Token(token, user) => format!("token:{token}:user:{user}"),
        Actor::System(reason) => format!("system:{reason}"),
    }
}

pub(crate) async fn load(scope: &AccountScope, issue_id: i64) -> Result<issue::Model> {
    issue::Entity::find_by_id(issue_id)
        .filter(issue::Column::AccountId.eq(scope.account_id().0))
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)
}

/// One issue of the scope's account; `NotFound` for other accounts' issues.
pub async fn get_issue(scope: &AccountScope, issue_id: IssueId) -> Result<Issue> {
    let issue_id = issue_id.0;
    scope.require(Role::Viewer)?;
    Ok(load(scope, issue_id).await?.into())
}

/// The issues of a project, most recently seen first.
pub async fn list_issues(scope: &AccountScope, project_id: ProjectId) -> Result<Vec<Issue>> {
    let project_id = project_id.0;
    scope.require(Role::Viewer)?;
    Ok(issue::Entity::find()
        .filter(issue::Column::AccountId.eq(scope.account_id().0))
        .filter(issue::Column::ProjectId.eq(project_id))
        .order_by_desc(issue::Column::LastSeen)
        .all(scope.db().conn())
        .await?
        .into_iter()
        .map(Issue::from)
        .collect())
}

/// The issue's activity, oldest first.
pub async fn list_activity(scope: &AccountScope, issue_id: IssueId) -> Result<Vec<Activity>> {
    let issue_id = issue_id.0;
    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    Ok(issue_activity::Entity::find()
        .filter(issue_activity::Column::AccountId.eq(scope.account_id().0))
        .filter(issue_activity::Column::IssueId.eq(issue_id))
        .order_by_asc(issue_activity::Column::Id)
        .all(scope.db().conn())
        .await?
        .into_iter()
        .map(|a| Activity {
            kind: a.kind,
            actor: a.actor,
            data: serde_json::from_str(&a.data).unwrap_or(serde_json::Value::Null),
            created_at: a.created_at,
        })
        .collect())
}

pub(crate) async fn record_activity(
    conn: &impl ConnectionTrait,
    issue: &issue::Model,
    kind: &str,
    actor: &str,
    data: serde_json::Value,
) -> Result<()> {
    issue_activity::ActiveModel {
        account_id: Set(issue.account_id),
        project_id: Set(issue.project_id),
        issue_id: Set(issue.id),
        kind: Set(kind.to_owned()),
        actor: Set(actor.to_owned()),
        data: Set(data.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Changes an issue's state (members and up) and records who did it.
pub async fn change_status(
    scope: &AccountScope,
    issue_id: IssueId,
    change: StatusChange,
) -> Result<Issue> {
    let issue_id = issue_id.0;
    scope.require(Role::Member)?;
    let current = load(scope, issue_id).await?;
    let now = Utc::now();
    let mut model: issue::ActiveModel = current.clone().into();
    model.status_changed_at = Set(Some(now));
    model.ignore_until = Set(None);
    model.ignore_until_times_seen = Set(None);
    model.ignore_until_users_seen = Set(None);
    let (kind, data) = match &change {
        StatusChange::Resolve
        | StatusChange::ResolveInRelease(_)
        | StatusChange::ResolveInNextRelease => {
            let (resolution, release) = match &change {
                StatusChange::ResolveInRelease(release) => {
                    let release = release.trim();
                    if release.is_empty() || release.chars().count() > 250 {
                        return Err(Error::validation("release", "must be 1 to 250 characters"));
                    }
                    ("in_release", Some(release.to_owned()))
                }
                // The next release is any release after the latest one seen so far.
                StatusChange::ResolveInNextRelease => {
                    ("in_next_release", current.last_release.clone())
                }
                _ => ("now", None),
            };
            model.status = Set("resolved".to_owned());
            model.substatus = Set(None);
            model.resolved_at = Set(Some(now));
            model.resolution_kind = Set(Some(resolution.to_owned()));
            model.resolution_release = Set(release.clone());
            (
                "resolved",
                json!({"resolution": resolution, "release": release}),
            )
        }
        StatusChange::Ignore(condition) => {
            let data = match condition {
                IgnoreCondition::Forever => json!({"until": "forever"}),
                IgnoreCondition::Until(time) => {
                    if *time <= now {
                        return Err(Error::validation("until", "must be in the future"));
                    }
                    model.ignore_until = Set(Some(*time));
                    json!({"until": time.to_rfc3339()})
                }
                IgnoreCondition::MoreEvents(n) | IgnoreCondition::MoreUsers(n) if *n < 1 => {
                    return Err(Error::validation("count", "must be at least 1"));
                }
                IgnoreCondition::MoreEvents(n) => {
                    model.ignore_until_times_seen = Set(Some(current.times_seen + n));
                    json!({"more_events": n})
                }
                IgnoreCondition::MoreUsers(n) => {
                    model.ignore_until_users_seen = Set(Some(current.users_seen + n));
                    json!({"more_users": n})
                }
            };
            model.status = Set("ignored".to_owned());
            model.substatus = Set(None);
            ("ignored", data)
        }
        StatusChange::Reopen => {
            model.status = Set("unresolved".to_owned());
            model.substatus = Set(Some("ongoing".to_owned()));
            model.resolved_at = Set(None);
            model.resolution_kind = Set(None);
            model.resolution_release = Set(None);
            ("reopened", json!({}))
        }
    };
    let txn = scope.db().begin_write().await?;
    let updated = model.update(&txn).await?;
    record_activity(&txn, &updated, kind, &actor_name(scope), data).await?;
    txn.commit().await?;
    notify_changed(scope, &updated, Change::IssueUpdated).await;
    Ok(updated.into())
}

/// Tells live subscribers that an issue was created or changed (after the commit).
pub(crate) async fn notify_changed(scope: &AccountScope, issue: &issue::Model, change: Change) {
    crate::notify::publish(
        scope.db(),
        &[Notice {
            change,
            account_id: issue.account_id,
            project_id: issue.project_id,
            issue_id: issue.id,
            event_id: None,
        }],
    )
    .await;
}

/// After events were counted on an issue (inside the digest's transaction): a resolved issue
/// regresses unless the event's release predates the resolution; an ignored issue wakes up
/// when its condition ran out. `current` is the issue as it is after the counting (so its
/// `times_seen` and `users_seen` include the events); `events` are `(release, time)` in digest
/// order. The first event that changes the state decides it (the issue is unresolved after it,
/// so later ones change nothing). Returns the activity kind recorded, if any.
pub(crate) async fn apply_events_to_state<'a>(
    conn: &impl ConnectionTrait,
    current: &issue::Model,
    events: impl IntoIterator<Item = (Option<&'a str>, DateTime<Utc>)>,
) -> Result<Option<&'static str>> {
    let now = Utc::now();
    let Some((kind, substatus, data)) = events
        .into_iter()
        .find_map(|(release, time)| state_change(current, release, time, now))
    else {
        return Ok(None);
    };
    let mut model: issue::ActiveModel = current.clone().into();
    model.status = Set("unresolved".to_owned());
    model.substatus = Set(Some(substatus.to_owned()));
    model.status_changed_at = Set(Some(now));
    model.ignore_until = Set(None);
    model.ignore_until_times_seen = Set(None);
    model.ignore_until_users_seen = Set(None);
    if kind == "regression" {
        model.regressed_at = Set(Some(now));
        model.resolved_at = Set(None);
        model.resolution_kind = Set(None);
        model.resolution_release = Set(None);
    }
    let updated = model.update(conn).await?;
    record_activity(conn, &updated, kind, "system:digest", data).await?;
    Ok(Some(kind))
}

/// What one event does to `current`'s state: `(activity kind, substatus, activity data)`, or
/// `None` when it leaves the state alone. Pure.
fn state_change(
    current: &issue::Model,
    event_release: Option<&str>,
    event_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(&'static str, &'static str, serde_json::Value)> {
    match current.status.as_str() {
        "resolved" => {
            let not_a_regression = match (
                current.resolution_kind.as_deref(),
                current.resolution_release.as_deref(),
                event_release,
            ) {
                // Resolved in R: events from releases older than R are old news.
                (Some("in_release"), Some(resolved), Some(release)) => {
                    crate::release::is_older(release, resolved)
                }
                // Resolved in the next release after L: events from L or older are old news.
                (Some("in_next_release"), Some(latest), Some(release)) => {
                    release == latest || crate::release::is_older(release, latest)
                }
                (Some("in_next_release"), None, _) => false,
                // An event that happened before the resolution (sent late) is no regression.
                _ => current.resolved_at.is_some_and(|at| event_time < at),
            };
            (!not_a_regression)
                .then(|| ("regression", "regressed", json!({"release": event_release})))
        }
        "ignored" => {
            let expired = current.ignore_until.is_some_and(|until| now >= until)
                || current
                    .ignore_until_times_seen
                    .is_some_and(|n| current.times_seen >= n)
                || current
                    .ignore_until_users_seen
                    .is_some_and(|n| current.users_seen >= n);
            expired.then(|| ("unignored", "escalating", json!({})))
        }
        _ => None,
    }
}

/// Distinct users of an issue: its values of the `user` tag.
async fn count_users(conn: &impl ConnectionTrait, issue_id: i64) -> Result<i64> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};

    Ok(conn
        .query_one(
            &Query::select()
                .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
                .from("issue_tag_values")
                .and_where(Expr::col("issue_id").eq(issue_id))
                .and_where(Expr::col("key").eq("user"))
                .to_owned(),
        )
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// Merges `sources` into `target` (same project): their fingerprints, events, hourly counts
/// and tag values move to the target, counters add up, and the sources are deleted. New events
/// of any merged fingerprint land in the target.
pub async fn merge_issues(
    scope: &AccountScope,
    target_id: IssueId,
    source_ids: &[IssueId],
) -> Result<Issue> {
    let target_id = target_id.0;
    let source_ids: Vec<i64> = source_ids.iter().map(|id| id.0).collect();
    let source_ids = source_ids.as_slice();
    use sea_orm::sea_query::{Expr, ExprTrait, Query};

    scope.require(Role::Member)?;
    let target = load(scope, target_id).await?;
    let mut sources = Vec::new();
    for id in source_ids.iter().copied().filter(|id| *id != target_id) {
        let source = load(scope, id).await?;
        if source.project_id != target.project_id {
            return Err(Error::validation(
                "issues",
                "only issues of one project can be merged",
            ));
        }
        sources.push(source);
    }
    if sources.is_empty() {
        return Err(Error::validation(
            "issues",
            "name at least one other issue to merge",
        ));
    }
    let ids: Vec<i64> = sources.iter().map(|s| s.id).collect();
    let txn = scope.db().begin_write().await?;
    for table in ["issue_fingerprints", "events"] {
        let moved = Query::update()
            .table(table)
            .value("issue_id", target_id)
            .and_where(Expr::col("issue_id").is_in(ids.clone()))
            .to_owned();
        txn.execute(&moved).await?;
    }
    // Hourly counts and tag values add up into the target's rows.
    let hours = txn
        .query_all(
            &Query::select()
                .columns(["hour", "times_seen"])
                .from("issue_stats_hourly")
                .and_where(Expr::col("issue_id").is_in(ids.clone()))
                .to_owned(),
        )
        .await?;
    for row in hours {
        let hour: DateTime<Utc> = row.try_get("", "hour")?;
        let count: i64 = row.try_get("", "times_seen")?;
        let upsert = crate::repo::digest::hourly_stats_insert()
            .values_panic([
                target.account_id.into(),
                target.project_id.into(),
                target_id.into(),
                hour.into(),
                count.into(),
            ])
            .on_conflict(crate::repo::digest::add_to_hourly_stats())
            .to_owned();
        txn.execute(&upsert).await?;
    }
    let tags = txn
        .query_all(
            &Query::select()
                .columns(["key", "value", "times_seen", "first_seen", "last_seen"])
                .from("issue_tag_values")
                .and_where(Expr::col("issue_id").is_in(ids.clone()))
                .to_owned(),
        )
        .await?;
    for row in tags {
        let key: String = row.try_get("", "key")?;
        let value: String = row.try_get("", "value")?;
        let count: i64 = row.try_get("", "times_seen")?;
        let first: DateTime<Utc> = row.try_get("", "first_seen")?;
        let last: DateTime<Utc> = row.try_get("", "last_seen")?;
        let upsert = crate::repo::digest::tag_values_insert()
            .values_panic([
                target.account_id.into(),
                target.project_id.into(),
                target_id.into(),
                key.into(),
                value.into(),
                count.into(),
                first.into(),
                last.into(),
            ])
            .on_conflict(crate::repo::digest::add_to_tag_values())
            .to_owned();
        txn.execute(&upsert).await?;
    }
    let users_seen = count_users(&txn, target_id).await?;
    let mut all = vec![target.clone()];
    all.extend(sources.iter().cloned());
    let earliest = all
        .iter()
        .min_by_key(|i| i.first_seen)
        .map(|i| (i.first_seen, i.first_release.clone()));
    let latest = all.iter().max_by_key(|i| i.last_seen).map(|i| {
        (
            i.last_seen,
            i.last_release.clone(),
            i.title.clone(),
            i.culprit.clone(),
            i.level.clone(),
        )
    });
    let mut model: issue::ActiveModel = target.clone().into();
    model.times_seen = Set(all.iter().map(|i| i.times_seen).sum());
    model.users_seen = Set(users_seen);
    if let Some((first_seen, first_release)) = earliest {
        model.first_seen = Set(first_seen);
        model.first_release = Set(first_release.or(target.first_release.clone()));
    }
    if let Some((last_seen, last_release, title, culprit, level)) = latest {
        model.last_seen = Set(last_seen);
        model.last_release = Set(last_release.or(target.last_release.clone()));
        model.title = Set(title);
        model.culprit = Set(culprit);
        model.level = Set(level);
    }
    let updated = model.update(&txn).await?;
    issue::Entity::delete_many()
        .filter(issue::Column::Id.is_in(ids.clone()))
        .filter(issue::Column::AccountId.eq(scope.account_id().0))
        .exec(&txn)
        .await?;
    record_activity(
        &txn,
        &updated,
        "merged",
        &actor_name(scope),
        json!({"merged": ids}),
    )
    .await?;
    txn.commit().await?;
    notify_changed(scope, &updated, Change::IssueUpdated).await;
    Ok(updated.into())
}

/// The fingerprints (hashes) grouped into an issue, oldest first.
pub async fn list_fingerprints(scope: &AccountScope, issue_id: IssueId) -> Result<Vec<String>> {
    let issue_id = issue_id.0;
    use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};

    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    let rows = scope
        .db()
        .conn()
        .query_all(
            &Query::select()
                .column("hash")
                .from("issue_fingerprints")
                .and_where(Expr::col("issue_id").eq(issue_id))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .order_by("id", Order::Asc)
                .to_owned(),
        )
        .await?;
    rows.into_iter()
        .map(|r| r.try_get::<String>("", "hash").map_err(Error::from))
        .collect()
}

/// One fingerprint of an issue with what its stored events say about it: the title they
/// carry (the issue it was before a merge), how many there are, and the oldest.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FingerprintDetail {
    /// The hash (as in [`list_fingerprints`]).
    pub hash: String,
    /// The title of the newest stored event grouped by it (the title an unmerge would give
    /// it); `None` when none is stored (evicted, or grouped before events recorded hashes).
    pub title: Option<String>,
    /// Stored events grouped by it (evicted events are not counted).
    pub event_count: i64,
    /// The oldest stored event grouped by it.
    pub first_event: Option<FingerprintEvent>,
}

/// An event as a fingerprint's detail names it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FingerprintEvent {
    /// The SDK's event id (32 hex).
    pub event_id: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
}

/// The fingerprints of an issue (oldest first) with the title, count and first event of the
/// stored events each grouped. `NotFound` for another account's issue. Costs a few index
/// probes of `events (issue_id, grouping_hash)` per fingerprint; an issue has a handful.
pub async fn list_fingerprint_details(
    scope: &AccountScope,
    issue_id: IssueId,
) -> Result<Vec<FingerprintDetail>> {
    let issue_id = issue_id.0;
    use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};

    let hashes = list_fingerprints(scope, IssueId(issue_id)).await?;
    let conn = scope.db().conn();
    // Invariant: every query below filters by the scope's account, not only by the issue.
    let of_hash = |hash: &str| {
        Query::select()
            .from("events")
            .and_where(Expr::col("account_id").eq(scope.account_id().0))
            .and_where(Expr::col("issue_id").eq(issue_id))
            .and_where(Expr::col("grouping_hash").eq(hash))
            .to_owned()
    };
    let mut details = Vec::with_capacity(hashes.len());
    for hash in hashes {
        let event_count = conn
            .query_one(
                &of_hash(&hash)
                    .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
                    .to_owned(),
            )
            .await?
            .map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        let first_event = conn
            .query_one(
                &of_hash(&hash)
                    .columns(["event_id", "timestamp"])
                    .order_by("id", Order::Asc)
                    .limit(1)
                    .to_owned(),
            )
            .await?
            .map(|r| -> Result<FingerprintEvent> {
                Ok(FingerprintEvent {
                    event_id: r.try_get("", "event_id")?,
                    timestamp: r.try_get("", "timestamp")?,
                })
            })
            .transpose()?;
        let title = conn
            .query_one(
                &of_hash(&hash)
                    .column("title")
                    .order_by("id", Order::Desc)
                    .limit(1)
                    .to_owned(),
            )
            .await?
            .map(|r| r.try_get::<Option<String>>("", "title"))
            .transpose()?
            .flatten();
        details.push(FingerprintDetail {
            hash,
            title,
            event_count,
            first_event,
        });
    }
    Ok(details)
}

/// Splits the fingerprint `hash` back out of an issue into a new issue, with the stored events
/// grouped by it; hourly counts and tag values move with those events. Counters of events
/// already evicted stay with the original issue (their fingerprint is not recorded).
pub async fn unmerge_fingerprint(
    scope: &AccountScope,
    issue_id: IssueId,
    hash: &str,
) -> Result<Issue> {
    let issue_id = issue_id.0;
    use std::collections::{BTreeMap, HashSet};

    use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};

    scope.require(Role::Member)?;
    let original = load(scope, issue_id).await?;
    let fingerprints = list_fingerprints(scope, IssueId(issue_id)).await?;
    if !fingerprints.iter().any(|h| h == hash) {
        return Err(Error::NotFound);
    }
    if fingerprints.len() < 2 {
        return Err(Error::validation(
            "hash",
            "the issue has only this fingerprint; nothing to split",
        ));
    }
    let txn = scope.db().begin_write().await?;
    let events = txn
        .query_all(
            &Query::select()
                .columns([
                    "id",
                    "timestamp",
                    "level",
                    "environment",
                    "release",
                    "user_key",
                    "title",
                    "payload",
                ])
                .from("events")
                .and_where(Expr::col("issue_id").eq(issue_id))
                .and_where(Expr::col("grouping_hash").eq(hash))
                .order_by("timestamp", Order::Asc)
                .to_owned(),
        )
        .await?;
    if events.is_empty() {
        return Err(Error::validation(
            "hash",
            "no stored events were grouped by this fingerprint",
        ));
    }
    let mut hours: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
    // (count, first seen, last seen) per tag key and value.
    type Tally = (i64, DateTime<Utc>, DateTime<Utc>);
    let mut tags: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut users = HashSet::new();
    let (mut first_release, mut last_release, mut title, mut culprit, mut level) = (
        None,
        None,
        original.title.clone(),
        None,
        original.level.clone(),
    );
    let mut first_seen = None;
    let mut last_seen = None;
    for row in &events {
        let timestamp: DateTime<Utc> = row.try_get("", "timestamp")?;
        let event_level: String = row.try_get("", "level")?;
        let environment: Option<String> = row.try_get("", "environment")?;
        let release: Option<String> = row.try_get("", "release")?;
        let user_key: Option<String> = row.try_get("", "user_key")?;
        let payload_bytes: Vec<u8> = row.try_get("", "payload")?;
        let payload = crate::digest::decompress_payload(&payload_bytes).map_err(Error::Internal)?;
        first_seen.get_or_insert(timestamp);
        last_seen = Some(timestamp);
        if release.is_some() {
            first_release = first_release.or(release.clone());
            last_release = release.clone();
        }
        title = row.try_get::<Option<String>>("", "title")?.unwrap_or(title);
        culprit = payload
            .get("culprit")
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        level = event_level.clone();
        if let Some(user) = &user_key {
            users.insert(user.clone());
        }
        *hours.entry(crate::outcome::hour_of(timestamp)).or_default() += 1;
        let environment = environment.unwrap_or_else(|| "production".to_owned());
        for key_value in crate::digest::event_tags(
            &payload,
            &event_level,
            &environment,
            release.as_deref(),
            user_key.as_deref(),
        ) {
            let entry = tags.entry(key_value).or_insert((0, timestamp, timestamp));
            entry.0 += 1;
            entry.2 = timestamp;
        }
    }
    let moved = events.len() as i64;
    let now = Utc::now();
    let created = issue::ActiveModel {
        account_id: Set(original.account_id),
        project_id: Set(original.project_id),
        // The mapping lives in issue_fingerprints; this column only has to be unique.
        fingerprint: Set(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )),
        grouping_version: Set(original.grouping_version),
        grouping_components: Set(
            json!({"kind": "unmerged", "hash": hash, "from_issue": issue_id}).to_string(),
        ),
        title: Set(title),
        culprit: Set(culprit),
        level: Set(level),
        status: Set("unresolved".to_owned()),
        substatus: Set(Some("new".to_owned())),
        first_seen: Set(first_seen.unwrap_or(now)),
        last_seen: Set(last_seen.unwrap_or(now)),
        times_seen: Set(moved),
        users_seen: Set(users.len() as i64),
        first_release: Set(first_release),
        last_release: Set(last_release),
        created_at: Set(now),
        status_changed_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for (table, column) in [("issue_fingerprints", "hash"), ("events", "grouping_hash")] {
        let statement = Query::update()
            .table(table)
            .value("issue_id", created.id)
            .and_where(Expr::col("issue_id").eq(issue_id))
            .and_where(Expr::col(column).eq(hash))
            .to_owned();
        txn.execute(&statement).await?;
    }
    for (hour, count) in &hours {
        let insert = crate::repo::digest::hourly_stats_insert()
            .values_panic([
                created.account_id.into(),
                created.project_id.into(),
                created.id.into(),
                (*hour).into(),
                (*count).into(),
            ])
            .to_owned();
        txn.execute(&insert).await?;
        let subtract = Query::update()
            .table("issue_stats_hourly")
            .value("times_seen", Expr::col("times_seen").sub(*count))
            .and_where(Expr::col("issue_id").eq(issue_id))
            .and_where(Expr::col("hour").eq(*hour))
            .to_owned();
        txn.execute(&subtract).await?;
    }
    for ((key, value), (count, first, last)) in &tags {
        let insert = crate::repo::digest::tag_values_insert()
            .values_panic([
                created.account_id.into(),
                created.project_id.into(),
                created.id.into(),
                key.clone().into(),
                value.clone().into(),
                (*count).into(),
                (*first).into(),
                (*last).into(),
            ])
            .on_conflict(
                OnConflict::columns(["issue_id", "key", "value"])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        txn.execute(&insert).await?;
        let subtract = Query::update()
            .table("issue_tag_values")
            .value("times_seen", Expr::col("times_seen").sub(*count))
            .and_where(Expr::col("issue_id").eq(issue_id))
            .and_where(Expr::col("key").eq(key.clone()))
            .and_where(Expr::col("value").eq(value.clone()))
            .to_owned();
        txn.execute(&subtract).await?;
    }
    for table in ["issue_stats_hourly", "issue_tag_values"] {
        let cleanup = Query::delete()
            .from_table(table)
            .and_where(Expr::col("issue_id").eq(issue_id))
            .and_where(Expr::col("times_seen").lte(0))
            .to_owned();
        txn.execute(&cleanup).await?;
    }
    let remaining_users = count_users(&txn, issue_id).await?;
    let mut shrunk: issue::ActiveModel = original.clone().into();
    shrunk.times_seen = Set(Ord::max(original.times_seen - moved, 0));
    shrunk.users_seen = Set(remaining_users);
    let shrunk = shrunk.update(&txn).await?;
    let actor = actor_name(scope);
    record_activity(
        &txn,
        &shrunk,
        "unmerged",
        &actor,
        json!({"hash": hash, "to_issue": created.id}),
    )
    .await?;
    record_activity(
        &txn,
        &created,
        "unmerged",
        &actor,
        json!({"hash": hash, "from_issue": issue_id}),
    )
    .await?;
    txn.commit().await?;
    notify_changed(scope, &created, Change::IssueCreated).await;
    notify_changed(scope, &original, Change::IssueUpdated).await;
    Ok(created.into())
}

/// Top values of one tag key on an issue (or across a project's issues).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TagFacet {
    /// Tag key (`browser`, `environment`, `release`, `user`, …).
    pub key: String,
    /// Distinct values seen.
    pub distinct_values: i64,
    /// Events counted with the key, whatever the value (the base of a value's share).
    pub total: i64,
    /// The most frequent values with their counts, most frequent first.
    pub top: Vec<(String, i64)>,
    /// How people know a value, where it differs from the value: for the `user` facet of an
    /// issue, `id:42` is named by the user's email, else username, else id.
    pub labels: std::collections::HashMap<String, String>,
}

/// Folds rows of `key`, `value` and a count (the column `count`), sorted by key then count
/// descending, into facets of at most `limit` values each.
pub(crate) fn fold_facets(
    rows: &[sea_orm::QueryResult],
    count: &str,
    limit: usize,
) -> Result<Vec<TagFacet>> {
    let mut facets: Vec<TagFacet> = Vec::new();
    for row in rows {
        let key: String = row.try_get("", "key")?;
        let value: String = row.try_get("", "value")?;
        let count: i64 = row.try_get("", count)?;
        if facets.last().is_none_or(|f| f.key != key) {
            facets.push(TagFacet {
                key,
                distinct_values: 0,
                total: 0,
                top: Vec::new(),
                labels: std::collections::HashMap::new(),
            });
        }
        if let Some(facet) = facets.last_mut() {
            facet.distinct_values += 1;
            facet.total += count;
            if facet.top.len() < limit {
                facet.top.push((value, count));
            }
        }
    }
    Ok(facets)
}

/// Tag facets of an issue: every key with its `limit` most frequent values (environments seen
/// are the `environment` facet).
pub async fn tag_facets(
    scope: &AccountScope,
    issue_id: IssueId,
    limit: usize,
) -> Result<Vec<TagFacet>> {
    let issue_id = issue_id.0;
    use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};

    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    let rows = scope
        .db()
        .conn()
        .query_all(
            &Query::select()
                .columns(["key", "value", "times_seen"])
                .from("issue_tag_values")
                .and_where(Expr::col("issue_id").eq(issue_id))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .order_by("key", Order::Asc)
                .order_by("times_seen", Order::Desc)
                .order_by("value", Order::Asc)
                .to_owned(),
        )
        .await?;
    let mut facets = fold_facets(&rows, "times_seen", limit)?;
    if let Some(users) = facets.iter_mut().find(|f| f.key == "user") {
        let values: Vec<String> = users.top.iter().map(|(value, _)| value.clone()).collect();
        users.labels = user_labels(scope, issue_id, &values).await?;
    }
    Ok(facets)
}

/// How people know each of the `user` tag's `values` in an issue (the user's email, else
/// username, else id, else IP), read from the latest event of the issue with that user.
async fn user_labels(
    scope: &AccountScope,
    issue_id: i64,
    values: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};

    let mut labels = std::collections::HashMap::new();
    for value in values {
        let row = scope
            .db()
            .conn()
            .query_one(
                &Query::select()
                    .column("payload")
                    .from("events")
                    .and_where(Expr::col("issue_id").eq(issue_id))
                    .and_where(Expr::col("account_id").eq(scope.account_id().0))
                    .and_where(Expr::col("user_key").eq(value.as_str()))
                    .order_by("timestamp", Order::Desc)
                    .limit(1)
                    .to_owned(),
            )
            .await?;
        let Some(row) = row else { continue };
        let payload: Vec<u8> = row.try_get("", "payload")?;
        let Ok(event) = crate::digest::decompress_payload(&payload) else {
            continue;
        };
        if let Some(label) = user_label(&event["user"])
            && label != *value
        {
            labels.insert(value.clone(), label);
        }
    }
    Ok(labels)
}

/// A user as people know them: email, else username, else id, else IP address.
pub(crate) fn user_label(user: &serde_json::Value) -> Option<String> {
    ["email", "username", "id", "ip_address"]
        .iter()
        .find_map(|key| match &user[*key] {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// Events per hour of an issue in `[from, to)`, hours without events included as zero
/// (for sparklines and charts). At most 24 × 90 hours.
pub async fn hourly_counts(
    scope: &AccountScope,
    issue_id: IssueId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i64)>> {
    let issue_id = issue_id.0;
    use std::collections::HashMap;

    use sea_orm::sea_query::{Expr, ExprTrait, Query};

    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    let start = crate::outcome::hour_of(from);
    let hours = (to - start).num_hours().clamp(0, 24 * 90);
    let rows = scope
        .db()
        .conn()
        .query_all(
            &Query::select()
                .columns(["hour", "times_seen"])
                .from("issue_stats_hourly")
                .and_where(Expr::col("issue_id").eq(issue_id))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("hour").gte(start))
                .and_where(Expr::col("hour").lt(to))
                .to_owned(),
        )
        .await?;
    let mut counts: HashMap<DateTime<Utc>, i64> = HashMap::new();
    for row in rows {
        counts.insert(row.try_get("", "hour")?, row.try_get("", "times_seen")?);
    }
    Ok((0..hours)
        .map(|h| {
            let hour = start + chrono::Duration::hours(h);
            (hour, counts.get(&hour).copied().unwrap_or(0))
        })
        .collect())
}
