//! `SelfTest`: a job that records that it ran, so an operator (`errorwatch jobs selftest`) and
//! the test-suite can prove the queue end to end: enqueue, pick up, run, acknowledge.
//! Idempotent: the row is keyed by the job's token.

use std::time::Duration;

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::Job;
use crate::db::Db;
use crate::repo::entity::job_selftest;

/// Records `token` in `job_selftests` after holding the worker for `work_ms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SelfTest {
    /// Groups the tasks of one self-test run.
    pub batch: String,
    /// Unique per task.
    pub token: String,
    /// Simulated work, so shutdown and load tests have jobs in flight.
    pub work_ms: u64,
    /// Fail the first N attempts, to check retries (more than `MAX_ATTEMPTS` checks dead
    /// letters).
    #[serde(default)]
    pub fail_first: u32,
}

impl Job for SelfTest {
    const NAME: &'static str = "self_test";

    /// Short, so a self-test of retries finishes in about a second.
    fn backoff(failures: u32) -> Duration {
        super::exponential_backoff(failures, Duration::from_millis(100), Duration::from_secs(2))
    }

    type Context = Db;

    async fn run(&self, db: &Db, attempt: u32) -> anyhow::Result<()> {
        if attempt <= self.fail_first {
            anyhow::bail!(
                "self-test failure {} of {} (requested)",
                attempt,
                self.fail_first
            );
        }
        if self.work_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.work_ms.min(60_000))).await;
        }
        job_selftest::Entity::insert(job_selftest::ActiveModel {
            token: Set(self.token.clone()),
            batch: Set(self.batch.clone()),
            processed_at: Set(chrono::Utc::now()),
        })
        .on_conflict_do_nothing_on([job_selftest::Column::Token])
        .exec(db.conn())
        .await?;
        Ok(())
    }
}

/// How many tasks of `batch` have been processed.
pub async fn count_processed(db: &Db, batch: &str) -> anyhow::Result<u64> {
    Ok(job_selftest::Entity::find()
        .filter(job_selftest::Column::Batch.eq(batch))
        .count(db.conn())
        .await?)
}
