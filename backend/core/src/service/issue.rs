//! The issue lifecycle: resolve (now, in a release, in the next release), ignore (forever,
//! until a time, until N more events or users), reopen; regressions and the end of ignore
//! conditions when events arrive; every change recorded in `issue_activity`. The state
//! machine itself is pure, in [`crate::service::issue_state`]; the queries are in
//! `repo::issues`, `repo::events` and `repo::stats`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::json;

use crate::ids::{AccountId, IssueId, ProjectId, UserId};
use crate::notify::{Change, Notice};
use crate::repo::entity::issue;
use crate::repo::events::Events;
use crate::repo::issues::IssueFingerprints;
use crate::repo::{self, Tenant, events, issues, stats};
use crate::scope::{AccountScope, Actor, Role};
use crate::service::issue_state as state;
pub use crate::service::issue_state::{
    IgnoreCondition, IssueStatus, ResolutionKind, StatusChange, Substatus,
};
use crate::{Error, Result};

/// An issue as shown to members.
#[derive(Clone, Debug, Serialize)]
pub struct Issue {
    /// Id.
    pub id: IssueId,
    /// Project.
    pub project_id: ProjectId,
    /// Title (`Type: value` or the message).
    pub title: String,
    /// Where it happens.
    pub culprit: Option<String>,
    /// Level of the latest event.
    pub level: String,
    /// Unresolved, resolved or ignored.
    pub status: IssueStatus,
    /// Why it is unresolved (regressed, escalating, …), if it says.
    pub substatus: Option<Substatus>,
    /// How it was resolved (now, in a release, in the next release).
    pub resolution_kind: Option<ResolutionKind>,
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
    pub assignee_user_id: Option<UserId>,
    /// While ignored until a time: that time.
    pub ignore_until: Option<DateTime<Utc>>,
    /// While ignored until more events: the event count (`times_seen`) that wakes it up.
    pub ignore_until_times_seen: Option<i64>,
    /// While ignored until more users: the user count (`users_seen`) that wakes it up.
    pub ignore_until_users_seen: Option<i64>,
}

impl TryFrom<issue::Model> for Issue {
    type Error = Error;

    /// A stored state string no enum names is an internal error (only the enums write them).
    fn try_from(m: issue::Model) -> Result<Self> {
        let unknown = |column: &str, raw: &str| -> Error {
            anyhow::anyhow!("issue {}: unknown {column} {raw:?} in the database", m.id).into()
        };
        let status = IssueStatus::parse(&m.status).ok_or_else(|| unknown("status", &m.status))?;
        let substatus = match m.substatus.as_deref() {
            None => None,
            Some(raw) => Some(Substatus::parse(raw).ok_or_else(|| unknown("substatus", raw))?),
        };
        let resolution_kind = match m.resolution_kind.as_deref() {
            None => None,
            Some(raw) => {
                Some(ResolutionKind::parse(raw).ok_or_else(|| unknown("resolution_kind", raw))?)
            }
        };
        Ok(Self {
            id: IssueId(m.id),
            project_id: ProjectId(m.project_id),
            title: m.title,
            culprit: m.culprit,
            level: m.level,
            status,
            substatus,
            resolution_kind,
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
            assignee_user_id: m.assignee_user_id.map(UserId),
            ignore_until: m.ignore_until,
            ignore_until_times_seen: m.ignore_until_times_seen,
            ignore_until_users_seen: m.ignore_until_users_seen,
        })
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

pub(crate) fn actor_name(scope: &AccountScope) -> String {
    match scope.actor() {
        Actor::User(id) => format!("user:{id}"),
        Actor::Token(token, user) => format!("token:{token}:user:{user}"),
        Actor::System(reason) => format!("system:{reason}"),
    }
}

/// One issue of the scope's account; `NotFound` for another account's (the role check is the
/// caller's).
pub(crate) async fn load(scope: &AccountScope, issue: IssueId) -> Result<issue::Model> {
    issues::get(scope, scope.db().conn(), issue).await
}

/// One issue of the scope's account; `NotFound` for other accounts' issues.
pub async fn get_issue(scope: &AccountScope, issue_id: IssueId) -> Result<Issue> {
    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?.try_into()
}

/// The issues of a project, most recently seen first.
pub async fn list_issues(scope: &AccountScope, project_id: ProjectId) -> Result<Vec<Issue>> {
    scope.require(Role::Viewer)?;
    issues::list_by_project(scope, project_id)
        .await?
        .into_iter()
        .map(Issue::try_from)
        .collect()
}

/// The issue's activity, oldest first.
pub async fn list_activity(scope: &AccountScope, issue_id: IssueId) -> Result<Vec<Activity>> {
    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    Ok(issues::list_activity(scope, issue_id)
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

/// Records an activity entry on `issue` (inside the caller's transaction).
pub(crate) async fn record_activity(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: &issue::Model,
    kind: &str,
    actor: &str,
    data: serde_json::Value,
) -> Result<()> {
    issues::insert_activity(tenant, conn, issue, kind, actor, &data).await
}

/// Changes an issue's state (members and up) and records who did it.
pub async fn change_status(
    scope: &AccountScope,
    issue_id: IssueId,
    change: StatusChange,
) -> Result<Issue> {
    scope.require(Role::Member)?;
    let current = load(scope, issue_id).await?;
    let latest = latest_release(scope, scope.db().conn(), &current, &change).await?;
    let transition = state::change_status(&current, &change, Utc::now(), latest.as_deref())?;
    let txn = scope.db().begin_write().await?;
    let updated = write_transition(scope, &txn, &current, transition).await?;
    txn.commit().await?;
    notify_changed(scope, &updated, Change::IssueUpdated).await;
    updated.try_into()
}

/// [`change_status`] inside the caller's transaction (the role check, the read and the write
/// in it); the caller notifies after the commit.
pub(crate) async fn change_status_in(
    scope: &AccountScope,
    conn: &impl ConnectionTrait,
    issue_id: IssueId,
    change: &StatusChange,
) -> Result<issue::Model> {
    scope.require(Role::Member)?;
    let current = issues::get(scope, conn, issue_id).await?;
    let latest = latest_release(scope, conn, &current, change).await?;
    let transition = state::change_status(&current, change, Utc::now(), latest.as_deref())?;
    write_transition(scope, conn, &current, transition).await
}

/// The project's newest release when `change` resolves in the next release (else not read).
async fn latest_release(
    scope: &AccountScope,
    conn: &impl ConnectionTrait,
    current: &issue::Model,
    change: &StatusChange,
) -> Result<Option<String>> {
    if !matches!(change, StatusChange::ResolveInNextRelease) {
        return Ok(None);
    }
    Ok(crate::repo::releases::latest_version(conn, scope, ProjectId(current.project_id)).await?)
}

/// Writes a member's transition and records it.
async fn write_transition(
    scope: &AccountScope,
    conn: &impl ConnectionTrait,
    current: &issue::Model,
    transition: state::Transition,
) -> Result<issue::Model> {
    let updated = issues::set_state(scope, conn, IssueId(current.id), &transition.state).await?;
    record_activity(
        scope,
        conn,
        &updated,
        transition.kind,
        &actor_name(scope),
        transition.data,
    )
    .await?;
    Ok(updated)
}

/// Tells live subscribers that an issue was created or changed (after the commit).
pub(crate) async fn notify_changed(scope: &AccountScope, issue: &issue::Model, change: Change) {
    crate::notify::publish(
        scope.db(),
        &[Notice {
            change,
            account_id: AccountId(issue.account_id),
            project_id: ProjectId(issue.project_id),
            issue_id: IssueId(issue.id),
            event_id: None,
        }],
    )
    .await;
}

/// After events were counted on an issue (inside the digest's transaction): a resolved issue
/// regresses unless the event's release predates the resolution; an ignored issue wakes up
/// when its condition ran out ([`state::apply_events`]). `current` is the issue as it is after
/// the counting; `events` are `(release, time)` in digest order. Returns the activity kind
/// recorded, if any.
pub(crate) async fn apply_events_to_state<'a>(
    conn: &impl ConnectionTrait,
    current: &issue::Model,
    events: impl IntoIterator<Item = (Option<&'a str>, DateTime<Utc>)>,
) -> Result<Option<(&'static str, Option<String>)>> {
    // The digest works on many accounts; this issue's is the one its envelope was ingested for.
    let tenant = Tenant::ingested(AccountId(current.account_id));
    let events: Vec<_> = events.into_iter().collect();
    // Release rows order releases that are not versions: read them only for an issue
    // resolved in a release.
    let order = match (&current.resolution_release, current.status.as_str()) {
        (Some(resolved_in), "resolved") => {
            let mut versions: Vec<String> = events
                .iter()
                .filter_map(|(release, _)| release.map(str::to_owned))
                .collect();
            versions.push(resolved_in.clone());
            versions.sort();
            versions.dedup();
            crate::repo::releases::order_of(conn, tenant, ProjectId(current.project_id), &versions)
                .await?
        }
        _ => crate::release::ReleaseOrder::default(),
    };
    let Some(transition) = state::apply_events(current, events, Utc::now(), &order) else {
        return Ok(None);
    };
    let release = transition
        .data
        .get("release")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let updated = issues::set_state(tenant, conn, IssueId(current.id), &transition.state).await?;
    record_activity(
        tenant,
        conn,
        &updated,
        transition.kind,
        "system:digest",
        transition.data,
    )
    .await?;
    Ok(Some((transition.kind, release)))
}

/// Merges `sources` into `target` (same project): their fingerprints, events, hourly counts
/// and tag values move to the target, counters add up, and the sources are deleted. New events
/// of any merged fingerprint land in the target.
pub async fn merge_issues(
    scope: &AccountScope,
    target_id: IssueId,
    source_ids: &[IssueId],
) -> Result<Issue> {
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
    let ids: Vec<IssueId> = sources.iter().map(|s| IssueId(s.id)).collect();
    let project = ProjectId(target.project_id);
    let txn = scope.db().begin_write().await?;
    repo::move_to_issue::<IssueFingerprints>(scope, &txn, &ids, None, target_id).await?;
    repo::move_to_issue::<Events>(scope, &txn, &ids, None, target_id).await?;
    // Hourly counts and tag values add up into the target's rows.
    stats::add_hours_of(scope, &txn, project, target_id, &ids).await?;
    stats::add_tag_values_of(scope, &txn, project, target_id, &ids).await?;
    let users_seen = stats::count_users(scope, &txn, target_id).await?;
    let mut all = vec![target.clone()];
    all.extend(sources.iter().cloned());
    let earliest = all
        .iter()
        .min_by_key(|i| i.first_seen)
        .map(|i| (i.first_seen, i.first_release.clone()))
        .unwrap_or((target.first_seen, None));
    let latest = all
        .iter()
        .max_by_key(|i| i.last_seen)
        .map(|i| {
            (
                i.last_seen,
                i.last_release.clone(),
                i.title.clone(),
                i.culprit.clone(),
                i.level.clone(),
            )
        })
        .unwrap_or((
            target.last_seen,
            None,
            target.title.clone(),
            target.culprit.clone(),
            target.level.clone(),
        ));
    let (first_seen, first_release) = earliest;
    let (last_seen, last_release, title, culprit, level) = latest;
    let merged = issues::Merged {
        times_seen: all.iter().map(|i| i.times_seen).sum(),
        users_seen,
        first_seen,
        first_release: first_release.or(target.first_release.clone()),
        last_seen,
        last_release: last_release.or(target.last_release.clone()),
        title,
        culprit,
        level,
    };
    let updated = issues::set_merged(scope, &txn, target_id, merged).await?;
    issues::delete_issues(scope, &txn, &ids).await?;
    let merged_ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    record_activity(
        scope,
        &txn,
        &updated,
        "merged",
        &actor_name(scope),
        json!({"merged": merged_ids}),
    )
    .await?;
    txn.commit().await?;
    notify_changed(scope, &updated, Change::IssueUpdated).await;
    updated.try_into()
}

/// The fingerprints (hashes) grouped into an issue, oldest first.
pub async fn list_fingerprints(scope: &AccountScope, issue_id: IssueId) -> Result<Vec<String>> {
    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    issues::fingerprint_hashes(scope, issue_id).await
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
    let hashes = list_fingerprints(scope, issue_id).await?;
    let mut details = Vec::with_capacity(hashes.len());
    for hash in hashes {
        let summary = events::grouped_summary(scope, issue_id, &hash).await?;
        details.push(FingerprintDetail {
            hash,
            title: summary.latest_title,
            event_count: summary.count,
            first_event: summary.first.map(|(event_id, timestamp)| FingerprintEvent {
                event_id,
                timestamp,
            }),
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
    scope.require(Role::Member)?;
    let original = load(scope, issue_id).await?;
    let fingerprints = list_fingerprints(scope, issue_id).await?;
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
    let grouped = events::grouped_events(scope, &txn, issue_id, hash).await?;
    if grouped.is_empty() {
        return Err(Error::validation(
            "hash",
            "no stored events were grouped by this fingerprint",
        ));
    }
    let tally = GroupTally::of(&original, &grouped)?;
    let moved = tally.moved;
    let now = Utc::now();
    let project = ProjectId(original.project_id);
    let created = issues::insert_unmerged(
        scope,
        &txn,
        issues::Unmerged {
            project,
            // The mapping lives in issue_fingerprints; this column only has to be unique.
            fingerprint: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            grouping_version: original.grouping_version,
            grouping_components:
                json!({"kind": "unmerged", "hash": hash, "from_issue": issue_id.0}).to_string(),
            title: tally.title.clone(),
            culprit: tally.culprit.clone(),
            level: tally.level.clone(),
            first_seen: tally.first_seen.unwrap_or(now),
            last_seen: tally.last_seen.unwrap_or(now),
            times_seen: moved,
            users_seen: tally.users.len() as i64,
            first_release: tally.first_release.clone(),
            last_release: tally.last_release.clone(),
            now,
        },
    )
    .await?;
    let created_id = IssueId(created.id);
    repo::move_to_issue::<IssueFingerprints>(scope, &txn, &[issue_id], Some(hash), created_id)
        .await?;
    tally
        .move_events(scope, &txn, project, issue_id, hash, created_id)
        .await?;
    let remaining_users = stats::count_users(scope, &txn, issue_id).await?;
    let shrunk = issues::set_counts(
        scope,
        &txn,
        issue_id,
        Ord::max(original.times_seen - moved, 0),
        remaining_users,
    )
    .await?;
    let actor = actor_name(scope);
    record_activity(
        scope,
        &txn,
        &shrunk,
        "unmerged",
        &actor,
        json!({"hash": hash, "to_issue": created.id}),
    )
    .await?;
    record_activity(
        scope,
        &txn,
        &created,
        "unmerged",
        &actor,
        json!({"hash": hash, "from_issue": issue_id.0}),
    )
    .await?;
    txn.commit().await?;
    notify_changed(scope, &created, Change::IssueCreated).await;
    notify_changed(scope, &original, Change::IssueUpdated).await;
    created.try_into()
}

/// (count, first seen, last seen) of one tag key and value.
type TagTally = (i64, DateTime<Utc>, DateTime<Utc>);

/// What the stored events of one fingerprint of an issue add up to: an unmerge and a
/// reprocess move them (with their hourly counts and tag values) to another issue.
pub(crate) struct GroupTally {
    pub(crate) moved: i64,
    hours: std::collections::BTreeMap<DateTime<Utc>, i64>,
    tags: std::collections::BTreeMap<(String, String), TagTally>,
    pub(crate) users: std::collections::HashSet<String>,
    pub(crate) first_release: Option<String>,
    pub(crate) last_release: Option<String>,
    pub(crate) title: String,
    pub(crate) culprit: Option<String>,
    pub(crate) level: String,
    pub(crate) first_seen: Option<DateTime<Utc>>,
    pub(crate) last_seen: Option<DateTime<Utc>>,
}

impl GroupTally {
    /// The tally of `grouped` (oldest first), events of `original`.
    pub(crate) fn of(original: &issue::Model, grouped: &[events::GroupedEvent]) -> Result<Self> {
        let mut tally = GroupTally {
            moved: grouped.len() as i64,
            hours: Default::default(),
            tags: Default::default(),
            users: Default::default(),
            first_release: None,
            last_release: None,
            title: original.title.clone(),
            culprit: None,
            level: original.level.clone(),
            first_seen: None,
            last_seen: None,
        };
        for event in grouped {
            let timestamp = event.timestamp;
            let payload =
                crate::digest::decompress_payload(&event.payload).map_err(Error::Internal)?;
            tally.first_seen.get_or_insert(timestamp);
            tally.last_seen = Some(timestamp);
            if event.release.is_some() {
                tally.first_release = tally.first_release.take().or(event.release.clone());
                tally.last_release = event.release.clone();
            }
            tally.title = event.title.clone().unwrap_or(tally.title);
            tally.culprit = payload
                .get("culprit")
                .and_then(|c| c.as_str())
                .map(str::to_owned);
            tally.level = event.level.clone();
            if let Some(user) = &event.user_key {
                tally.users.insert(user.clone());
            }
            *tally
                .hours
                .entry(crate::outcome::hour_of(timestamp))
                .or_default() += 1;
            let environment = event
                .environment
                .clone()
                .unwrap_or_else(|| "production".to_owned());
            for key_value in crate::digest::event_tags(
                &payload,
                &event.level,
                &environment,
                event.release.as_deref(),
                event.user_key.as_deref(),
            ) {
                let entry = tally
                    .tags
                    .entry(key_value)
                    .or_insert((0, timestamp, timestamp));
                entry.0 += 1;
                entry.2 = timestamp;
            }
        }
        Ok(tally)
    }

    /// Moves the events of `from` grouped by `hash`, their hourly counts and tag values, to
    /// `to` (the fingerprint itself is the caller's).
    pub(crate) async fn move_events(
        &self,
        scope: &AccountScope,
        txn: &impl ConnectionTrait,
        project: ProjectId,
        from: IssueId,
        hash: &str,
        to: IssueId,
    ) -> Result<()> {
        repo::move_to_issue::<Events>(scope, txn, &[from], Some(hash), to).await?;
        for (hour, count) in &self.hours {
            stats::move_hour(scope, txn, project, from, to, *hour, *count).await?;
        }
        for ((key, value), tally) in &self.tags {
            stats::move_tag_value(scope, txn, project, from, to, key, value, *tally).await?;
        }
        stats::delete_emptied(scope, txn, from).await?;
        Ok(())
    }
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
    pub labels: HashMap<String, String>,
}

/// Folds tag counts, sorted by key then count descending, into facets of at most `limit`
/// values each.
pub(crate) fn fold_facets(rows: Vec<stats::TagCount>, limit: usize) -> Vec<TagFacet> {
    let mut facets: Vec<TagFacet> = Vec::new();
    for stats::TagCount { key, value, count } in rows {
        if facets.last().is_none_or(|f| f.key != key) {
            facets.push(TagFacet {
                key,
                distinct_values: 0,
                total: 0,
                top: Vec::new(),
                labels: HashMap::new(),
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
    facets
}

/// Tag facets of an issue: every key with its `limit` most frequent values (environments seen
/// are the `environment` facet).
pub async fn tag_facets(
    scope: &AccountScope,
    issue_id: IssueId,
    limit: usize,
) -> Result<Vec<TagFacet>> {
    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    let mut facets = fold_facets(stats::tag_values(scope, issue_id).await?, limit);
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
    issue_id: IssueId,
    values: &[String],
) -> Result<HashMap<String, String>> {
    let mut labels = HashMap::new();
    for value in values {
        let Some(payload) = events::latest_payload_of_user(scope, issue_id, value).await? else {
            continue;
        };
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
    scope.require(Role::Viewer)?;
    load(scope, issue_id).await?;
    let start = crate::outcome::hour_of(from);
    let hours = (to - start).num_hours().clamp(0, 24 * 90);
    let counts: HashMap<DateTime<Utc>, i64> = stats::hourly(scope, issue_id, start, to)
        .await?
        .into_iter()
        .collect();
    Ok((0..hours)
        .map(|h| {
            let hour = start + chrono::Duration::hours(h);
            (hour, counts.get(&hour).copied().unwrap_or(0))
        })
        .collect())
}
