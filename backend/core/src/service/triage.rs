//! Issue triage: assign to a member, per-user bookmarks, deletion (the issue, its events and
//! their attachments; a later event with the same fingerprint opens a new issue), and bulk
//! actions on many issues in one transaction.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::json;

use crate::ids::{IssueId, ProjectId, UserId};
use crate::notify::Change;
use crate::repo::entity::{issue, user};
use crate::repo::{issues, members};
use crate::scope::{AccountScope, Role};
use crate::service::issue::{
    IgnoreCondition, Issue, StatusChange, actor_name, change_status_in, load, notify_changed,
    record_activity,
};
use crate::{Error, Result};

/// Assigns an issue to a member of its account (`None` unassigns). Members and up.
pub async fn assign(
    scope: &AccountScope,
    issue_id: IssueId,
    assignee: Option<UserId>,
) -> Result<Issue> {
    scope.require(Role::Member)?;
    let row = load(scope, issue_id).await?;
    let email = match assignee {
        Some(user_id) => {
            if !members::is_member(scope, user_id).await? {
                return Err(Error::validation(
                    "assignee",
                    "is not a member of this account",
                ));
            }
            user::Entity::find_by_id(user_id.0)
                .one(scope.db().conn())
                .await?
                .map(|u| u.email)
        }
        None => None,
    };
    let txn = scope.db().begin_write().await?;
    let updated = issues::set_assignee(scope, &txn, issue_id, assignee).await?;
    let kind = if assignee.is_some() {
        "assigned"
    } else {
        "unassigned"
    };
    record_activity(
        scope,
        &txn,
        &row,
        kind,
        &actor_name(scope),
        json!({"assignee": email}),
    )
    .await?;
    txn.commit().await?;
    updated.try_into()
}

/// Bookmarks (or un-bookmarks) an issue for the acting user. Idempotent.
pub async fn set_bookmark(scope: &AccountScope, issue_id: IssueId, bookmarked: bool) -> Result<()> {
    set_bookmark_in(scope, scope.db().conn(), issue_id, bookmarked).await
}

/// [`set_bookmark`] on the caller's connection or transaction.
async fn set_bookmark_in(
    scope: &AccountScope,
    conn: &impl ConnectionTrait,
    issue_id: IssueId,
    bookmarked: bool,
) -> Result<()> {
    scope.require(Role::Viewer)?;
    let user = scope.user_id().ok_or(Error::Forbidden)?;
    issues::get(scope, conn, issue_id).await?;
    if bookmarked {
        issues::add_bookmark(scope, conn, issue_id, user).await
    } else {
        issues::remove_bookmark(scope, conn, issue_id, user).await
    }
}

/// Which of `issue_ids` the acting user bookmarked (one query for a page).
pub async fn bookmarked(scope: &AccountScope, issue_ids: &[IssueId]) -> Result<HashSet<IssueId>> {
    let Some(user) = scope.user_id() else {
        return Ok(HashSet::new());
    };
    if issue_ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(issues::bookmarked(scope, user, issue_ids)
        .await?
        .into_iter()
        .collect())
}

/// Deletes an issue with its events and their attachments (members and up). Its fingerprints
/// go too, so a later event opens a new issue.
pub async fn delete_issue(scope: &AccountScope, issue_id: IssueId) -> Result<()> {
    scope.require(Role::Member)?;
    let row = load(scope, issue_id).await?;
    crate::service::purge::delete_events_in_batches(
        scope,
        ProjectId(row.project_id),
        Some(issue_id),
    )
    .await?;
    // The issue row; fingerprints, tag values, hourly stats, activity and bookmarks cascade.
    issues::delete_issues(scope, scope.db().conn(), &[issue_id]).await?;
    tracing::info!(issue.id = issue_id.0, actor = %actor_name(scope), "issue deleted");
    Ok(())
}

/// [`delete_issue`] inside the caller's transaction (events and all).
async fn delete_issue_in(
    scope: &AccountScope,
    txn: &sea_orm::DatabaseTransaction,
    issue_id: IssueId,
) -> Result<()> {
    scope.require(Role::Member)?;
    let row = issues::get(scope, txn, issue_id).await?;
    while crate::service::purge::delete_events_batch(
        scope,
        txn,
        ProjectId(row.project_id),
        Some(issue_id),
    )
    .await?
    {}
    issues::delete_issues(scope, txn, &[issue_id]).await?;
    tracing::info!(issue.id = issue_id.0, actor = %actor_name(scope), "issue deleted");
    Ok(())
}

/// One action applied to many issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    /// Resolve now.
    Resolve,
    /// Resolve in the next release.
    ResolveInNextRelease,
    /// Ignore forever.
    Ignore,
    /// Back to unresolved.
    Reopen,
    /// Bookmark for the acting user.
    Bookmark,
    /// Remove the acting user's bookmark.
    Unbookmark,
    /// Delete with events.
    Delete,
}

/// Applies `action` to every issue of `targets` (each with the scope of its account, as a
/// member may name issues of several accounts) in one transaction: the first that fails (not
/// found, forbidden) changes nothing. Returns the issues done, in order.
pub async fn bulk_update_issues(
    targets: &[(AccountScope, IssueId)],
    action: BulkAction,
) -> Result<Vec<IssueId>> {
    let Some((first, _)) = targets.first() else {
        return Ok(Vec::new());
    };
    let txn = first.db().begin_write().await?;
    let mut changed: Vec<(&AccountScope, issue::Model)> = Vec::new();
    for (scope, issue_id) in targets {
        let change = match action {
            BulkAction::Resolve => Some(StatusChange::Resolve),
            BulkAction::ResolveInNextRelease => Some(StatusChange::ResolveInNextRelease),
            BulkAction::Ignore => Some(StatusChange::Ignore(IgnoreCondition::Forever)),
            BulkAction::Reopen => Some(StatusChange::Reopen),
            BulkAction::Bookmark | BulkAction::Unbookmark | BulkAction::Delete => None,
        };
        match (action, change) {
            (_, Some(change)) => {
                let updated = change_status_in(scope, &txn, *issue_id, &change).await?;
                changed.push((scope, updated));
            }
            (BulkAction::Delete, None) => delete_issue_in(scope, &txn, *issue_id).await?,
            (_, None) => {
                set_bookmark_in(scope, &txn, *issue_id, action == BulkAction::Bookmark).await?;
            }
        }
    }
    txn.commit().await?;
    for (scope, updated) in &changed {
        notify_changed(scope, updated, Change::IssueUpdated).await;
    }
    Ok(targets.iter().map(|(_, id)| *id).collect())
}
