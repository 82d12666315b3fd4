//! Issue triage: assign to a member, per-user bookmarks, and deletion (the issue, its events
//! and their attachments; a later event with the same fingerprint opens a new issue).

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde_json::json;

use crate::ids::{IssueId, UserId};
use crate::repo::entity::{issue, membership, user};
use crate::scope::{AccountScope, Role};
use crate::service::issue::{Issue, actor_name, load, record_activity};
use crate::{Error, Result};

/// Assigns an issue to a member of its account (`None` unassigns). Members and up.
pub async fn assign(
    scope: &AccountScope,
    issue_id: IssueId,
    assignee: Option<UserId>,
) -> Result<Issue> {
    let issue_id = issue_id.0;
    scope.require(Role::Member)?;
    let row = load(scope, issue_id).await?;
    let email = match assignee {
        Some(user_id) => {
            let is_member = membership::Entity::find()
                .filter(membership::Column::AccountId.eq(scope.account_id().0))
                .filter(membership::Column::UserId.eq(user_id.0))
                .one(scope.db().conn())
                .await?
                .is_some();
            if !is_member {
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
    let mut model: issue::ActiveModel = row.clone().into();
    model.assignee_user_id = Set(assignee.map(|u| u.0));
    let updated = model.update(&txn).await?;
    let kind = if assignee.is_some() {
        "assigned"
    } else {
        "unassigned"
    };
    record_activity(
        &txn,
        &row,
        kind,
        &actor_name(scope),
        json!({"assignee": email}),
    )
    .await?;
    txn.commit().await?;
    Ok(updated.into())
}

/// Bookmarks (or un-bookmarks) an issue for the acting user. Idempotent.
pub async fn set_bookmark(scope: &AccountScope, issue_id: IssueId, bookmarked: bool) -> Result<()> {
    let issue_id = issue_id.0;
    scope.require(Role::Viewer)?;
    let user = scope.user_id().ok_or(Error::Forbidden)?;
    load(scope, issue_id).await?;
    let conn = scope.db().conn();
    if bookmarked {
        let insert = Query::insert()
            .into_table("issue_bookmarks")
            .columns(["account_id", "issue_id", "user_id", "created_at"])
            .values_panic([
                scope.account_id().0.into(),
                issue_id.into(),
                user.0.into(),
                Utc::now().into(),
            ])
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns(["issue_id", "user_id"])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        conn.execute(&insert).await?;
    } else {
        let delete = Query::delete()
            .from_table("issue_bookmarks")
            .and_where(Expr::col("account_id").eq(scope.account_id().0))
            .and_where(Expr::col("issue_id").eq(issue_id))
            .and_where(Expr::col("user_id").eq(user.0))
            .to_owned();
        conn.execute(&delete).await?;
    }
    Ok(())
}

/// Which of `issue_ids` the acting user bookmarked (one query for a page).
pub async fn bookmarked(scope: &AccountScope, issue_ids: &[i64]) -> Result<HashSet<i64>> {
    let Some(user) = scope.user_id() else {
        return Ok(HashSet::new());
    };
    if issue_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = scope
        .db()
        .conn()
        .query_all(
            &Query::select()
                .column("issue_id")
                .from("issue_bookmarks")
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("user_id").eq(user.0))
                .and_where(Expr::col("issue_id").is_in(issue_ids.to_vec()))
                .to_owned(),
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get::<i64>("", "issue_id").map_err(Error::from))
        .collect()
}

/// Deletes an issue with its events and their attachments (members and up). Its fingerprints
/// go too, so a later event opens a new issue.
pub async fn delete_issue(scope: &AccountScope, issue_id: IssueId) -> Result<()> {
    let issue_id = issue_id.0;
    scope.require(Role::Member)?;
    let row = load(scope, issue_id).await?;
    let conn = scope.db().conn();
    crate::service::purge::delete_events_in_batches(scope.db(), row.project_id, Some(issue_id))
        .await?;
    // The issue row; fingerprints, tag values, hourly stats, activity and bookmarks cascade.
    issue::Entity::delete_by_id(row.id)
        .filter(issue::Column::AccountId.eq(scope.account_id().0))
        .exec(conn)
        .await?;
    tracing::info!(issue.id = issue_id, actor = %actor_name(scope), "issue deleted");
    Ok(())
}
