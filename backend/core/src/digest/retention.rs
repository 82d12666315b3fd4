//! Retention that keeps the disk bounded: events older than the maximum age, and the oldest
//! events beyond a per-project cap, are deleted — except the first and the latest event of
//! every issue, so each issue keeps an example of how it started and how it looks now.
//! Counters live on the issue and its hourly/tag rows, so they survive eviction.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::jobs::{EnqueueOptions, Job, JobContext, JobQueue};

/// Evicts events past the retention limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvictEvents {
    /// Events older than this many days go (first/latest per issue stay).
    pub max_age_days: u32,
    /// At most this many events per project are kept (first/latest per issue stay).
    pub max_events_per_project: i64,
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

impl Job for EvictEvents {
    const NAME: &'static str = "evict_events";
    const MAX_ATTEMPTS: u32 = 3;

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let conn = ctx.db.conn();
        let backend = conn.get_database_backend();
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(self.max_age_days));
        let projects = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT DISTINCT project_id FROM events",
            ))
            .await?;
        let mut removed = 0u64;
        for row in projects {
            let project_id: i64 = row.try_get("", "project_id")?;
            let aged = format!(
                "DELETE FROM events WHERE project_id = ? AND timestamp < ? AND id NOT IN ({KEEPERS})"
            );
            removed += conn
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql(backend, &aged),
                    [
                        project_id.into(),
                        cutoff.into(),
                        project_id.into(),
                        project_id.into(),
                    ],
                ))
                .await?
                .rows_affected();
            let count: i64 = conn
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
                removed += conn
                    .execute_raw(Statement::from_sql_and_values(
                        backend,
                        sql(backend, &capped),
                        [
                            project_id.into(),
                            project_id.into(),
                            project_id.into(),
                            excess.into(),
                        ],
                    ))
                    .await?
                    .rows_affected();
            }
        }
        info!(events.removed = removed, "evicted {removed} events");
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
