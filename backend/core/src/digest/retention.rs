//! Retention that keeps the disk bounded: events older than the maximum age, and the oldest
//! events beyond a per-project cap, are deleted — except the first and the latest event of
//! every issue, so each issue keeps an example of how it started and how it looks now.
//! Counters live on the issue and its hourly/tag rows, so they survive eviction.
//!
//! Invariant: an evicted event's attachments go in the same transaction as the event, so the
//! project's attachment bytes (the sum of `attachments.size`, checked against
//! `items::MAX_ATTACHMENT_BYTES_PER_PROJECT` at ingest) only count attachments of kept events,
//! plus attachments younger than the maximum age whose event has not arrived (yet).

use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait, Value,
};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::ids::AccountId;
use crate::jobs::{EnqueueOptions, Job, JobContext, JobQueue};

/// Evicts events past the retention limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvictEvents {
    /// Events older than this many days go (first/latest per issue stay).
    pub max_age_days: u32,
    /// At most this many events per project are kept (first/latest per issue stay).
    pub max_events_per_project: i64,
    /// When set, an account's events are also kept no longer than its plan's
    /// `retention_days` (accounts without a subscription are on this plan).
    #[serde(default)]
    pub default_plan: Option<String>,
}

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

/// The first and latest event of every issue in a project.
const KEEPERS: &str = "SELECT MIN(id) FROM events WHERE project_id = ? GROUP BY issue_id \
                       UNION SELECT MAX(id) FROM events WHERE project_id = ? GROUP BY issue_id";

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
    backend: DbBackend,
    project_id: i64,
    event_ids: &[String],
) -> anyhow::Result<u64> {
    let mut removed = 0;
    for batch in event_ids.chunks(ATTACHMENT_BATCH) {
        let placeholders = vec!["?"; batch.len()].join(", ");
        let text = format!(
            "DELETE FROM attachments WHERE project_id = ? AND event_id IN ({placeholders})"
        );
        let values = std::iter::once(project_id.into())
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

impl EvictEvents {
    /// Evicts one project's events and their attachments in one transaction; returns
    /// `(events, attachments)` removed.
    async fn evict_project(
        &self,
        txn: &DatabaseTransaction,
        backend: DbBackend,
        project_id: i64,
        cutoff: chrono::DateTime<Utc>,
    ) -> anyhow::Result<(u64, u64)> {
        let aged = format!(
            "DELETE FROM events WHERE project_id = ? AND timestamp < ? AND id NOT IN ({KEEPERS})"
        );
        let mut evicted = delete_events(
            txn,
            backend,
            &aged,
            vec![
                project_id.into(),
                cutoff.into(),
                project_id.into(),
                project_id.into(),
            ],
        )
        .await?;
        let count: i64 = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql(
                    backend,
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM events WHERE project_id = ?",
                ),
                [project_id.into()],
            ))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        let excess = count - self.max_events_per_project;
        if excess > 0 {
            let capped = format!(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE project_id = ? \
                 AND id NOT IN ({KEEPERS}) ORDER BY id ASC LIMIT ?)"
            );
            evicted.extend(
                delete_events(
                    txn,
                    backend,
                    &capped,
                    vec![
                        project_id.into(),
                        project_id.into(),
                        project_id.into(),
                        excess.into(),
                    ],
                )
                .await?,
            );
        }
        let mut attachments = delete_attachments(txn, backend, project_id, &evicted).await?;
        // Attachments past the maximum age whose event is gone or never came (evicted before
        // attachments were evicted with their events, or dropped as invalid at digest).
        attachments += txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql(
                    backend,
                    "DELETE FROM attachments WHERE project_id = ? AND created_at < ? \
                     AND NOT EXISTS (SELECT 1 FROM events WHERE events.project_id = attachments.project_id \
                     AND events.event_id = attachments.event_id)",
                ),
                [project_id.into(), cutoff.into()],
            ))
            .await?
            .rows_affected();
        Ok((evicted.len() as u64, attachments))
    }
}

impl Job for EvictEvents {
    const NAME: &'static str = "evict_events";
    const MAX_ATTEMPTS: u32 = 3;

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let conn = ctx.db.conn();
        let backend = conn.get_database_backend();
        let now = Utc::now();
        let plans = match &self.default_plan {
            Some(_) => crate::billing::plan::load_plans(&ctx.db).await?,
            None => Vec::new(),
        };
        let projects = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT p.id AS project_id, p.account_id AS account_id FROM projects p \
                 WHERE p.id IN (SELECT DISTINCT project_id FROM events \
                 UNION SELECT DISTINCT project_id FROM attachments)",
            ))
            .await?;
        let (mut events_removed, mut attachments_removed) = (0u64, 0u64);
        let mut retention: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
        for row in projects {
            let project_id: i64 = row.try_get("", "project_id")?;
            let account_id: i64 = row.try_get("", "account_id")?;
            let mut days = i64::from(self.max_age_days);
            if let Some(default_plan) = &self.default_plan {
                let plan_days = match retention.get(&account_id) {
                    Some(days) => *days,
                    None => {
                        let current = crate::billing::quota::account_plan(
                            &ctx.db,
                            &plans,
                            default_plan,
                            AccountId(account_id),
                            now,
                        )
                        .await?;
                        let days = i64::from(current.plan.spec.retention_days);
                        retention.insert(account_id, days);
                        days
                    }
                };
                days = days.min(plan_days);
            }
            let cutoff = now - chrono::Duration::days(days);
            let txn = conn.begin().await?;
            let (events, attachments) = self
                .evict_project(&txn, backend, project_id, cutoff)
                .await?;
            txn.commit().await?;
            events_removed += events;
            attachments_removed += attachments;
        }
        info!(
            events.removed = events_removed,
            attachments.removed = attachments_removed,
            "evicted {events_removed} events and {attachments_removed} attachments"
        );
        Ok(())
    }
}

/// Enqueues one eviction per hour (idempotency key per hour, so several nodes agree).
pub async fn schedule_hourly(queue: &JobQueue, job: EvictEvents) -> anyhow::Result<()> {
    let hour = Utc::now().format("%Y%m%d%H").to_string();
    queue
        .enqueue_with(
            &job,
            EnqueueOptions {
                delay: None,
                idempotency_key: Some(format!("evict-{hour}")),
            },
        )
        .await
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
