//! [`PurgeDeleted`]: removes the data of deleted projects and accounts. Deletion marks the row
//! (`deleted_at`) and disables its keys in one transaction, so the thing disappears at once;
//! this job does the slow part in small transactions (events in batches, so ingest and digest
//! are never blocked for long), then deletes the row, whose foreign keys cascade to the rest.
//! It sweeps every marked row, so it is idempotent and also runs hourly as a safety net.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::jobs::Job;
use crate::repo::entity::{account, project};

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
        let projects: Vec<i64> = project::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(project::Column::DeletedAt.is_not_null())
                    .add(project::Column::AccountId.is_in(deleted_accounts.clone())),
            )
            .select_only()
            .column(project::Column::Id)
            .into_tuple()
            .all(db.conn())
            .await?;
        for id in projects {
            purge_project(db, id).await?;
        }
        for id in deleted_accounts {
            account::Entity::delete_by_id(id).exec(db.conn()).await?;
            tracing::info!(account.id = id, "deleted account's data removed");
        }
        Ok(())
    }
}

/// Deletes a project's events in batches, then the project (cascading to the rest).
async fn purge_project(db: &Db, project_id: i64) -> anyhow::Result<()> {
    delete_events_in_batches(db, project_id, None).await?;
    project::Entity::delete_by_id(project_id)
        .exec(db.conn())
        .await?;
    tracing::info!(project.id = project_id, "deleted project's data removed");
    Ok(())
}

/// Deletes the events of a project (or of one of its issues) with their attachments, `BATCH`
/// events per transaction, so ingest and the digest never wait long for the write lock.
pub(crate) async fn delete_events_in_batches(
    db: &Db,
    project_id: i64,
    issue_id: Option<i64>,
) -> anyhow::Result<()> {
    loop {
        let txn = db.begin_write().await?;
        let mut batch = Query::select()
            .columns(["id", "event_id", "account_id"])
            .from("events")
            .and_where(Expr::col("project_id").eq(project_id))
            .limit(BATCH)
            .to_owned();
        if let Some(issue_id) = issue_id {
            batch.and_where(Expr::col("issue_id").eq(issue_id));
        }
        let rows = txn.query_all(&batch).await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut event_ids = Vec::with_capacity(rows.len());
        let mut account = None;
        for r in &rows {
            ids.push(r.try_get::<i64>("", "id")?);
            event_ids.push(r.try_get::<String>("", "event_id")?);
            account = Some(crate::ids::AccountId(r.try_get::<i64>("", "account_id")?));
        }
        if let Some(account) = account {
            crate::repo::retention::delete_attachments(
                &txn,
                crate::repo::Tenant::ingested(account),
                crate::ids::ProjectId(project_id),
                &event_ids,
            )
            .await?;
            txn.execute(
                &Query::delete()
                    .from_table("events")
                    .and_where(Expr::col("id").is_in(ids))
                    .to_owned(),
            )
            .await?;
        }
        txn.commit().await?;
        if (rows.len() as u64) < BATCH {
            return Ok(());
        }
    }
}
