//! The digest's write phase, inside the caller's write transaction: drops duplicates, maps
//! hashes to issues (creating the new ones), then writes one coalesced update per issue and
//! multi-row upserts for events, hourly stats and tag values (the statements are in
//! [`crate::repo::digest`]), applies regressions and ignore expiry, stores the other items and
//! writes the outcomes. The caller deletes the spool rows.
//!
//! Invariant: existing issues are updated in ascending id order and multi-row upserts are
//! sorted by their conflict key, so concurrent digesters (PostgreSQL) take row locks in one
//! order and cannot deadlock each other.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::DatabaseTransaction;

use super::items::{self, ItemFate};
use super::prepare::{
    GroupInfo, IssueDelta, Outcomes, PendingItem, PreparedBatch, PreparedEvent, coalesce,
    drop_duplicates, hourly_counts, new_users_per_issue, tag_counts, user_pairs,
};
use crate::ids::{AccountId, IssueId, ProjectId};
use crate::ingest::envelope::ItemType;
use crate::notify::{Change, Notice};
use crate::outcome::Outcome;
use crate::repo::Tenant;
use crate::repo::digest as rows;

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

    let existing = rows::existing_event_ids(txn, &events).await?;
    let events = drop_duplicates(events, &existing);

    let resolved = resolve_issues(txn, &events, &groups).await?;
    // Invariant: every kept event's group was resolved to an issue.
    let issue_ids: Vec<i64> = events
        .iter()
        .map(|e| resolved[&(e.project_id, e.hash.clone())].issue_id)
        .collect();

    // The batch's accounts, for the lookups that span the batch.
    let tenants = tenants_of(&events);
    let new_users = count_new_users(txn, &tenants, &events, &issue_ids).await?;
    update_issues(txn, &events, &issue_ids, &resolved, &new_users).await?;
    rows::insert_events(txn, &events, &issue_ids).await?;
    let hourly: Vec<_> = hourly_counts(&events, &issue_ids).into_iter().collect();
    rows::upsert_hourly_stats(txn, &hourly).await?;
    // Coalesced, so no statement touches a row twice (PostgreSQL refuses that).
    let tags: Vec<_> = tag_counts(&events, &issue_ids).into_iter().collect();
    rows::upsert_tag_values(txn, &tags).await?;
    let state_changes = apply_states(txn, &tenants, &events, &issue_ids).await?;
    let regressed: HashMap<i64, Option<String>> = state_changes
        .iter()
        .filter(|(_, (kind, _))| *kind == "regression")
        .map(|(issue, (_, release))| (*issue, release.clone()))
        .collect();
    let releases = super::releases::release_counts(
        &events,
        &issue_ids,
        &|event| resolved[&(event.project_id, event.hash.clone())].created,
        &regressed,
    );
    crate::repo::releases::add_batch(txn, &releases, chrono::Utc::now()).await?;
    let state_changes: HashMap<i64, &'static str> = state_changes
        .into_iter()
        .map(|(issue, (kind, _))| (issue, kind))
        .collect();
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
            Outcome::Accepted,
            "",
            1,
        );
        let created = resolved[&(event.project_id, event.hash.clone())].created;
        let notice = |change, event_id| Notice {
            change,
            account_id: AccountId(event.account_id),
            project_id: ProjectId(event.project_id),
            issue_id: IssueId(issue_id),
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
                    account_id: AccountId(event.account_id),
                    project_id: ProjectId(event.project_id),
                    issue_id: IssueId(issue_id),
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
        ItemFate::Accepted => outcomes.add(row, category, Outcome::Accepted, "", 1),
        ItemFate::Invalid(reason) => outcomes.add(row, category, Outcome::Invalid, reason, 1),
        ItemFate::TooLarge(reason) => outcomes.add(row, category, Outcome::TooLarge, reason, 1),
    }
    Ok(())
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
    let mut wanted: BTreeMap<(i64, i64), Vec<&str>> = BTreeMap::new();
    for ((project_id, hash), group_events) in &members {
        wanted
            .entry((group_events[0].account_id, *project_id))
            .or_default()
            .push(hash);
    }
    let known = rows::lookup_fingerprints(txn, &wanted).await?;

    // Grouping transition: an issue created under an older grouping version is found by the
    // old hash and adopts the new one, instead of splitting.
    let mut old_wanted: BTreeMap<(i64, i64), Vec<&str>> = BTreeMap::new();
    for (project_id, hash) in members.keys() {
        if !known.contains_key(&(*project_id, (*hash).to_owned())) {
            let info = &groups[&(*project_id, (*hash).to_owned())];
            old_wanted
                .entry((info.account_id, *project_id))
                .or_default()
                .extend(info.transition_hashes.iter().map(String::as_str));
        }
    }
    let old_known = rows::lookup_fingerprints(txn, &old_wanted).await?;

    let mut resolved = HashMap::with_capacity(members.len());
    let mut new_fingerprints: Vec<rows::NewFingerprint> = Vec::new();
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
            None => {
                let delta = IssueDelta::of(group_events.iter().copied())
                    .expect("Invariant: a group has at least one event");
                rows::insert_issue(txn, ProjectId(*project_id), hash, info, delta)
                    .await?
                    .0
            }
        };
        new_fingerprints.push(rows::NewFingerprint {
            tenant: Tenant::ingested(AccountId(info.account_id)),
            project: ProjectId(*project_id),
            issue: IssueId(issue_id),
            hash: key.1.clone(),
            grouping_version: info.version,
        });
        resolved.insert(
            key,
            Resolved {
                issue_id,
                created: adopted.is_none(),
            },
        );
    }
    rows::insert_fingerprints(txn, &new_fingerprints).await?;
    Ok(resolved)
}

/// Distinct users of the batch that each issue had not seen before: one lookup per chunk.
async fn count_new_users(
    txn: &DatabaseTransaction,
    tenants: &[Tenant],
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
    let known = rows::known_users(txn, tenants, &issues, &values).await?;
    Ok(new_users_per_issue(&batch_users, &known))
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
    let mut uncounted: BTreeMap<i64, (i64, Vec<&PreparedEvent>)> = BTreeMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        let (_, entry) = uncounted
            .entry(issue_id)
            .or_insert_with(|| (event.account_id, Vec::new()));
        if !resolved[&(event.project_id, event.hash.clone())].created {
            entry.push(event);
        }
    }
    for (issue_id, (account_id, issue_events)) in uncounted {
        let users = new_users.get(&issue_id).copied().unwrap_or(0);
        let delta = IssueDelta::of(issue_events);
        if delta.is_none() && users == 0 {
            continue;
        }
        rows::update_issue(
            txn,
            Tenant::ingested(AccountId(account_id)),
            IssueId(issue_id),
            users,
            delta,
        )
        .await?;
    }
    Ok(())
}

/// Regressions and ignore expiry: only resolved or ignored issues (one lookup) look at their
/// events, in batch order. Returns each changed issue's activity kind and the release its
/// change names (a regression's).
async fn apply_states(
    txn: &DatabaseTransaction,
    tenants: &[Tenant],
    events: &[PreparedEvent],
    issue_ids: &[i64],
) -> anyhow::Result<HashMap<i64, (&'static str, Option<String>)>> {
    let mut changes = HashMap::new();
    let mut by_issue: BTreeMap<i64, Vec<&PreparedEvent>> = BTreeMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        by_issue.entry(issue_id).or_default().push(event);
    }
    let touched: Vec<i64> = by_issue.keys().copied().collect();
    for current in rows::settled_issues(txn, tenants, &touched).await? {
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
    Ok(changes)
}

/// The distinct accounts of a batch's events.
fn tenants_of(events: &[PreparedEvent]) -> Vec<Tenant> {
    events
        .iter()
        .map(|e| e.account_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|account| Tenant::ingested(AccountId(account)))
        .collect()
}
