//! [`PurgeDeleted`]: removes the data of deleted projects and accounts. Deletion marks the row
//! (`deleted_at`) and disables its keys in one transaction, so the thing disappears at once;
//! this job does the slow part in small transactions (events in batches, so ingest and digest
//! are never blocked for long), then deletes the row, whose foreign keys cascade to the rest.
//! It sweeps every marked row, so it is idempotent and also runs hourly as a safety net.

use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::ids::{AccountId, IssueId, ProjectId};
use crate::jobs::Job;
use crate::repo::entity::account;
use crate::repo::{events, projects};
use crate::scope::AccountScope;

/// Events deleted per transaction.
const BATCH: u64 = 2_000;

/// Sweeps deleted projects and accounts.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct PurgeDeleted;

impl Job for PurgeDeleted {
    const NAME: &'static str = "purge_deleted";
    const CONCURRENCY: usize = 1;

    type Context = Db;

    async fn run(&self, db: &Db, _attempt: u32) -> anyhow::Result<()> {
        let deleted_accounts: Vec<i64> = account::Entity::find()
            .filter(account::Column::DeletedAt.is_not_null())
            .select_only()
            .column(account::Column::Id)
            .into_tuple()
            .all(db.conn())
            .await?;
        let accounts: Vec<AccountId> = deleted_accounts.iter().copied().map(AccountId).collect();
        for (account, project) in projects::marked_for_purge(db.conn(), &accounts).await? {
            let scope = AccountScope::system(db, account, "purge deleted project");
            purge_project(&scope, project).await?;
        }
        for id in deleted_accounts {
            account::Entity::delete_by_id(id).exec(db.conn()).await?;
            tracing::info!(account.id = id, "deleted account's data removed");
        }
        Ok(())
    }
}

/// Deletes a project's events in batches, then the project (cascading to the rest).
async fn purge_project(scope: &AccountScope, project: ProjectId) -> anyhow::Result<()> {
    delete_events_in_batches(scope, project, None).await?;
    projects::delete_project(scope, scope.db().conn(), project).await?;
    // Uploaded files cascade with the project; their contents are the account's, shared by
    // checksum, and go once no file refers to them.
    crate::repo::artifacts::delete_orphan_blobs(scope.db().conn(), scope).await?;
    tracing::info!(project.id = project.0, "deleted project's data removed");
    Ok(())
}

/// Deletes the events of a project (or of one of its issues) with their attachments, `BATCH`
/// events per transaction, so ingest and the digest never wait long for the write lock.
pub(crate) async fn delete_events_in_batches(
    scope: &AccountScope,
    project: ProjectId,
    issue: Option<IssueId>,
) -> anyhow::Result<()> {
    loop {
        let txn = scope.db().begin_write().await?;
        let more = delete_events_batch(scope, &txn, project, issue).await?;
        txn.commit().await?;
        if !more {
            return Ok(());
        }
    }
}

/// Deletes up to `BATCH` events of a project (or of one of its issues) with their attachments
/// in the caller's transaction; true when there may be more.
pub(crate) async fn delete_events_batch(
    scope: &AccountScope,
    txn: &DatabaseTransaction,
    project: ProjectId,
    issue: Option<IssueId>,
) -> anyhow::Result<bool> {
    let rows = events::batch_of(scope, txn, project, issue, BATCH).await?;
    if !rows.is_empty() {
        let (ids, event_ids): (Vec<_>, Vec<_>) = rows.iter().cloned().unzip();
        crate::repo::retention::delete_attachments(txn, scope.into(), project, &event_ids).await?;
        events::delete_rows(scope, txn, &ids).await?;
    }
    Ok(rows.len() as u64 >= BATCH)
}
