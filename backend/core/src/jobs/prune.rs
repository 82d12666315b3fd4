//! `PruneJobs`: keeps the queue table small. apalis keeps every finished task; at thousands of
//! events per second that grows without bound. Done tasks go after a day, dead letters after
//! 30 days (long enough to inspect and retry them). Scheduled hourly by the worker process.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::info;

use super::{EnqueueOptions, Job, JobQueue};

/// Deletes finished tasks older than the retention.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PruneJobs {}

/// How long finished tasks are kept.
pub const DONE_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long dead letters are kept.
pub const FAILED_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Job for PruneJobs {
    const NAME: &'static str = "prune_jobs";
    const MAX_ATTEMPTS: u32 = 3;

    type Context = JobQueue;

    async fn run(&self, queue: &JobQueue, _attempt: u32) -> anyhow::Result<()> {
        let removed = queue.prune(DONE_RETENTION, FAILED_RETENTION).await?;
        info!(jobs.removed = removed, "pruned {removed} finished jobs");
        Ok(())
    }
}

/// Enqueues one prune per hour; the idempotency key makes several nodes agree on one task.
pub async fn schedule_hourly(queue: &JobQueue) -> anyhow::Result<()> {
    let hour = chrono::Utc::now().format("%Y%m%d%H").to_string();
    queue
        .enqueue_with(
            &PruneJobs {},
            EnqueueOptions {
                delay: None,
                idempotency_key: Some(format!("prune-{hour}")),
            },
        )
        .await
}
