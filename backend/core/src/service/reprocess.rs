//! Reprocessing: events that arrived before their source maps are symbolicated again with
//! today's uploads and grouped again, from the dashboard's issue page or
//! `errorwatch reprocess --project …`.
//!
//! An issue is reprocessed in two steps, each safe to interrupt and to repeat:
//! 1. Every stored event of the issue is symbolicated again (`stacktrace::apply` rebuilds the
//!    frames from `raw_stacktrace`, so a reprocessed event is as if digested with the maps) and
//!    grouped again; its payload and grouping hash are rewritten in batches.
//! 2. The issue follows its events, through the existing merge and unmerge (so fingerprints,
//!    counters, hourly counts, tag values and users move together):
//!    - a new hash no issue has becomes a fingerprint of this issue (future events like these
//!      land here);
//!    - when every event now belongs to another issue's fingerprint, this issue is merged
//!      into that one;
//!    - otherwise the events of another issue's hash move to it, and the largest group of the
//!      remaining hashes stays while the others are split into issues of their own.
//!
//! Events keep their row, id and attachments; only JavaScript events change.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::symbolicate::{Symbolicator, symbolicate_event};
use crate::grouping::{FingerprintRules, GroupingConfig, group_event_with};
use crate::ids::{AccountId, EventRowId, IssueId, ProjectId};
use crate::repo::{self, Tenant, events, issues, stats};
use crate::scope::{AccountScope, Role};
use crate::service::issue::{self, GroupTally};
use crate::{Error, Result};

/// Events rewritten per transaction.
const PAGE: u64 = 100;

/// What reprocessing an issue did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reprocessed {
    /// Stored events read.
    pub events: usize,
    /// Events whose payload or grouping changed.
    pub changed: usize,
    /// Frames mapped to their original source.
    pub mapped_frames: usize,
    /// Mappable frames left minified (each carries its reason).
    pub unmapped_frames: usize,
    /// The issues the events are in now (the reprocessed issue first when it still exists).
    pub issues: Vec<IssueId>,
}

/// Reprocesses the stored events of `issue_id` (see the module docs). Members and up.
pub async fn reprocess_issue(
    scope: &AccountScope,
    issue_id: IssueId,
    maps: &Symbolicator,
) -> Result<Reprocessed> {
    scope.require(Role::Member)?;
    let original = issue::load(scope, issue_id).await?;
    let account = AccountId(original.account_id);
    let project = ProjectId(original.project_id);
    let config = grouping_config(scope, project).await?;
    let conn = scope.db().conn();

    // 1. Symbolicate and group every event again, with today's uploads.
    maps.forget_project(project);
    let mut report = Reprocessed::default();
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    let mut after = EventRowId(0);
    loop {
        let page = events::page_of_issue(scope, conn, issue_id, after, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        let mut payloads = Vec::with_capacity(page.len());
        for event in &page {
            payloads
                .push(crate::digest::decompress_payload(&event.payload).map_err(Error::Internal)?);
        }
        let batch = maps
            .maps_for_stored(conn, account, project, &payloads)
            .await
            .map_err(Error::Internal)?;
        let txn = scope.db().begin_write().await?;
        for (event, mut payload) in page.into_iter().zip(payloads) {
            report.events += 1;
            let before = payload.clone();
            if let Some(summary) =
                symbolicate_event(&mut payload, None, account.0, project.0, &batch)
            {
                report.mapped_frames += summary.mapped;
                report.unmapped_frames += summary.unmapped;
                if summary.mapped > 0 {
                    crate::digest::normalize::refresh_culprit(&mut payload);
                }
            }
            let hash = group_event_with(&payload, &config).hash;
            *groups.entry(hash.clone()).or_default() += 1;
            if payload != before || event.grouping_hash.as_deref() != Some(hash.as_str()) {
                report.changed += 1;
                let json = serde_json::to_vec(&payload).map_err(|e| Error::Internal(e.into()))?;
                let size = i32::try_from(json.len()).unwrap_or(i32::MAX);
                let compressed = crate::digest::compress_json(&json).map_err(Error::Internal)?;
                events::rewrite(scope, &txn, event.id, compressed, size, &hash).await?;
            }
        }
        txn.commit().await?;
    }
    if groups.is_empty() {
        report.issues = vec![issue_id];
        return Ok(report);
    }

    // 2. The issue follows its events.
    report.issues = regroup(scope, &original, project, &groups).await?;
    Ok(report)
}

/// Step 2 of the module docs; returns the issues the events are in.
async fn regroup(
    scope: &AccountScope,
    original: &crate::repo::entity::issue::Model,
    project: ProjectId,
    groups: &BTreeMap<String, usize>,
) -> Result<Vec<IssueId>> {
    let issue_id = IssueId(original.id);
    let wanted = BTreeMap::from([(
        (original.account_id, project.0),
        groups.keys().map(String::as_str).collect::<Vec<_>>(),
    )]);
    let owners = repo::digest::lookup_fingerprints(scope.db().conn(), &wanted)
        .await
        .map_err(Error::Internal)?;
    let owner = |hash: &str| {
        owners
            .get(&(project.0, hash.to_owned()))
            .map(|id| IssueId(*id))
    };

    // Every event belongs to one other issue: merge into it.
    let others: Vec<IssueId> = groups
        .keys()
        .filter_map(|h| owner(h).filter(|o| *o != issue_id))
        .collect();
    if others.len() == groups.len() && others.windows(2).all(|w| w[0] == w[1]) {
        let target = others[0];
        issue::merge_issues(scope, target, &[issue_id]).await?;
        return Ok(vec![target]);
    }

    // New hashes become this issue's fingerprints.
    let new: Vec<repo::digest::NewFingerprint> = groups
        .keys()
        .filter(|h| owner(h).is_none())
        .map(|hash| repo::digest::NewFingerprint {
            tenant: Tenant::from(scope),
            project,
            issue: issue_id,
            hash: hash.clone(),
            grouping_version: crate::grouping::GROUPING_VERSION,
        })
        .collect();
    if !new.is_empty() {
        let txn = scope.db().begin_write().await?;
        repo::digest::insert_fingerprints(&txn, &new)
            .await
            .map_err(Error::Internal)?;
        txn.commit().await?;
    }

    let mut now_in = vec![issue_id];
    // Events of another issue's hash go to it.
    for (hash, _) in groups
        .iter()
        .filter(|(h, _)| owner(h).is_some_and(|o| o != issue_id))
    {
        let target = owner(hash).expect("Invariant: filtered on an owner");
        move_to_existing(scope, original, project, hash, target).await?;
        if !now_in.contains(&target) {
            now_in.push(target);
        }
    }
    // Of this issue's hashes, the largest group stays; the others become issues of their own.
    let mut own: Vec<(&String, &usize)> = groups
        .iter()
        .filter(|(h, _)| owner(h).is_none_or(|o| o == issue_id))
        .collect();
    own.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (hash, _) in own.iter().skip(1) {
        let split = issue::unmerge_fingerprint(scope, issue_id, hash).await?;
        now_in.push(split.id);
    }
    Ok(now_in)
}

/// Moves the events of `original` grouped by `hash` to `target`, which already owns `hash`.
async fn move_to_existing(
    scope: &AccountScope,
    original: &crate::repo::entity::issue::Model,
    project: ProjectId,
    hash: &str,
    target: IssueId,
) -> Result<()> {
    let from = IssueId(original.id);
    let txn = scope.db().begin_write().await?;
    let grouped = events::grouped_events(scope, &txn, from, hash).await?;
    if grouped.is_empty() {
        return Ok(());
    }
    let current = issues::get(scope, &txn, from).await?;
    let tally = GroupTally::of(&current, &grouped)?;
    let receiving = issues::get(scope, &txn, target).await?;
    tally
        .move_events(scope, &txn, project, from, hash, target)
        .await?;
    let users = stats::count_users(scope, &txn, target).await?;
    issues::set_counts(
        scope,
        &txn,
        target,
        receiving.times_seen + tally.moved,
        users,
    )
    .await?;
    let users = stats::count_users(scope, &txn, from).await?;
    issues::set_counts(
        scope,
        &txn,
        from,
        Ord::max(current.times_seen - tally.moved, 0),
        users,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The project's grouping configuration (its fingerprint rules), as the digest uses it.
async fn grouping_config(scope: &AccountScope, project: ProjectId) -> Result<GroupingConfig> {
    let rows =
        repo::digest::fingerprint_rules(scope.db().conn(), &[Tenant::from(scope)], &[project.0])
            .await
            .map_err(Error::Internal)?;
    let rules = match rows.first() {
        Some((_, text)) => FingerprintRules::parse(text).unwrap_or_default(),
        None => return Err(Error::NotFound),
    };
    Ok(GroupingConfig { rules })
}

/// Reprocesses every issue of `project` (the admin command `errorwatch reprocess`), oldest
/// issue first; `progress(done, total, totals so far)` is called after each issue. Returns the
/// totals (its `issues` are the issues the events are in now).
pub(crate) async fn reprocess_project_unscoped(
    db: &crate::db::Db,
    project: ProjectId,
    maps: &Symbolicator,
    progress: &mut (dyn FnMut(usize, usize, &Reprocessed) + Send),
) -> Result<Reprocessed> {
    let account = repo::projects::owner_unscoped::<repo::projects::Projects>(db.conn(), project.0)
        .await?
        .ok_or(Error::NotFound)?;
    let scope = AccountScope::system(db, account, "reprocess a project's events");
    let mut ids: Vec<IssueId> = issue::list_issues(&scope, project)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    ids.sort();
    let total = ids.len();
    let mut totals = Reprocessed::default();
    for (done, id) in ids.into_iter().enumerate() {
        match reprocess_issue(&scope, id, maps).await {
            Ok(one) => {
                totals.events += one.events;
                totals.changed += one.changed;
                totals.mapped_frames += one.mapped_frames;
                totals.unmapped_frames += one.unmapped_frames;
                for issue in one.issues {
                    if !totals.issues.contains(&issue) {
                        totals.issues.push(issue);
                    }
                }
            }
            // Merged away by an earlier issue's reprocessing.
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
        progress(done + 1, total, &totals);
    }
    Ok(totals)
}
