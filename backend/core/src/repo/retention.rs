//! Retention's deletes: a project's events past its age or count limits (each issue keeps its
//! first and latest event) and their attachments, in the caller's transaction. Raw SQL (a
//! `DELETE … RETURNING` over a `UNION` of keepers is past sea-query); every statement filters
//! on the tenant's account and the project.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};

use super::Tenant;
use crate::ids::{AccountId, ProjectId};

/// Rewrites `?` placeholders as `$1, $2, …` for PostgreSQL.
fn sql(backend: DbBackend, text: &str) -> String {
    if backend != DbBackend::Postgres {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// The first and latest event of every issue in a project (parameters: account, project,
/// account, project).
const KEEPERS: &str = "SELECT MIN(id) FROM events WHERE account_id = ? AND project_id = ? \
                       GROUP BY issue_id \
                       UNION SELECT MAX(id) FROM events WHERE account_id = ? AND project_id = ? \
                       GROUP BY issue_id";

/// Attachments are deleted by event id in batches of this many ids (well under SQLite's limit
/// of bound parameters).
const ATTACHMENT_BATCH: usize = 500;

/// Runs a `DELETE … RETURNING event_id` and returns the ids.
async fn delete_events(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    statement: &str,
    values: Vec<Value>,
) -> anyhow::Result<Vec<String>> {
    let text = format!("{statement} RETURNING event_id");
    txn.query_all_raw(Statement::from_sql_and_values(
        backend,
        sql(backend, &text),
        values,
    ))
    .await?
    .iter()
    .map(|row| Ok(row.try_get::<String>("", "event_id")?))
    .collect()
}

/// Deletes the project's attachments of the given events; returns how many went.
pub(crate) async fn delete_attachments(
    txn: &DatabaseTransaction,
    tenant: Tenant,
    project: ProjectId,
    event_ids: &[String],
) -> anyhow::Result<u64> {
    let backend = txn.get_database_backend();
    let mut removed = 0;
    for batch in event_ids.chunks(ATTACHMENT_BATCH) {
        let placeholders = vec!["?"; batch.len()].join(", ");
        let text = format!(
            "DELETE FROM attachments WHERE account_id = ? AND project_id = ? \
             AND event_id IN ({placeholders})"
        );
        let values = [tenant.account_id().0.into(), project.0.into()]
            .into_iter()
            .chain(batch.iter().map(|id| id.clone().into()))
            .collect::<Vec<Value>>();
        removed += txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql(backend, &text),
                values,
            ))
            .await?
            .rows_affected();
    }
    Ok(removed)
}

/// Evicts one project's events older than `cutoff` and the oldest beyond `max_events` (the
/// first and latest event of each issue stay), with their attachments and the attachments past
/// `cutoff` whose event is gone; returns `(events, attachments)` removed.
pub(crate) async fn evict_project(
    txn: &DatabaseTransaction,
    tenant: Tenant,
    project: ProjectId,
    cutoff: DateTime<Utc>,
    max_events: i64,
) -> anyhow::Result<(u64, u64)> {
    let backend = txn.get_database_backend();
    let (account, project_id) = (tenant.account_id().0, project.0);
    let aged = format!(
        "DELETE FROM events WHERE account_id = ? AND project_id = ? AND timestamp < ? \
         AND id NOT IN ({KEEPERS})"
    );
    let mut evicted = delete_events(
        txn,
        backend,
        &aged,
        vec![
            account.into(),
            project_id.into(),
            cutoff.into(),
            account.into(),
            project_id.into(),
            account.into(),
            project_id.into(),
        ],
    )
    .await?;
    let count: i64 = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM events \
                 WHERE account_id = ? AND project_id = ?",
            ),
            [account.into(), project_id.into()],
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    let excess = count - max_events;
    if excess > 0 {
        let capped = format!(
            "DELETE FROM events WHERE id IN (SELECT id FROM events \
             WHERE account_id = ? AND project_id = ? \
             AND id NOT IN ({KEEPERS}) ORDER BY id ASC LIMIT ?)"
        );
        evicted.extend(
            delete_events(
                txn,
                backend,
                &capped,
                vec![
                    account.into(),
                    project_id.into(),
                    account.into(),
                    project_id.into(),
                    account.into(),
                    project_id.into(),
                    excess.into(),
                ],
            )
            .await?,
        );
    }
    let mut attachments = delete_attachments(txn, tenant, project, &evicted).await?;
    // Attachments past the maximum age whose event is gone or never came (evicted before
    // attachments were evicted with their events, or dropped as invalid at digest).
    attachments += txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "DELETE FROM attachments WHERE account_id = ? AND project_id = ? \
                 AND created_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM events WHERE events.project_id = attachments.project_id \
                 AND events.event_id = attachments.event_id)",
            ),
            [account.into(), project_id.into(), cutoff.into()],
        ))
        .await?
        .rows_affected();
    Ok((evicted.len() as u64, attachments))
}

/// Every project, of every account, that holds events or attachments: retention's work list
/// (a job across tenants; each row carries its account for the per-project deletes).
pub(crate) async fn projects_holding_events_all_accounts(
    conn: &impl ConnectionTrait,
) -> anyhow::Result<Vec<(AccountId, ProjectId)>> {
    let backend = conn.get_database_backend();
    conn.query_all_raw(Statement::from_string(
        backend,
        "SELECT p.id AS project_id, p.account_id AS account_id FROM projects p \
         WHERE p.id IN (SELECT DISTINCT project_id FROM events \
         UNION SELECT DISTINCT project_id FROM attachments)",
    ))
    .await?
    .iter()
    .map(|row| {
        Ok((
            AccountId(row.try_get("", "account_id")?),
            ProjectId(row.try_get("", "project_id")?),
        ))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_engine() {
        assert_eq!(sql(DbBackend::Sqlite, "a = ? AND b = ?"), "a = ? AND b = ?");
        assert_eq!(
            sql(DbBackend::Postgres, "a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
    }
}
