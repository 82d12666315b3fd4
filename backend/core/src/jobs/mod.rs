//! The job layer: a job type is defined once (a struct implementing [`Job`], next to its
//! domain, naming the context it runs with) and runs on either database through apalis. This
//! module owns everything apalis-specific: the wire envelope, queue names, worker registration
//! ([`register`]), retries with backoff, and queue statistics. It names no job: the registry
//! that lists them with their contexts is the server's `worker.rs`.
//!
//! Retries are durable: a failed run is re-enqueued as a new task scheduled after
//! [`Job::backoff`], so a restart in between loses nothing. Each apalis task is attempted once;
//! the attempt count travels in the envelope. After [`Job::MAX_ATTEMPTS`] failures the task stays
//! `Failed` in the queue table: a dead letter, visible in `errorwatch jobs status`.
//!
//! Invariant: every job is idempotent, because a task can run twice (a worker that dies after
//! finishing the work but before acknowledging it leaves the task to be re-enqueued).

pub mod billing;
pub mod prune;
pub mod selftest;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The set of workers a process runs (apalis' monitor), built by the server's registry.
pub use apalis::prelude::Monitor;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::{Instrument, error, info, warn};

use crate::db::{Db, Pool};
use crate::metrics::{Metrics, QueueLabels};

/// A background job. Implementors are plain data (the payload) plus the code that runs it, with
/// the context it runs in named by the job itself (the crates.io shape): the worker wiring in
/// the server builds each context once, so this layer knows no job and no job's needs.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Stable queue name, stored with every task: never rename it.
    const NAME: &'static str;
    /// Runs before the task becomes a dead letter.
    const MAX_ATTEMPTS: u32 = 5;
    /// Tasks of this type one worker runs at once (and fetches per poll).
    const CONCURRENCY: usize = 4;

    /// Delay before attempt `failures + 1`, given how many attempts have failed so far.
    fn backoff(failures: u32) -> Duration {
        exponential_backoff(failures, Duration::from_secs(2), Duration::from_secs(3600))
    }

    /// What a run needs (the database, a mailer, …).
    type Context: Clone + Send + Sync + 'static;

    /// Does the work; `attempt` is 1 for the first run. Must be idempotent.
    fn run(
        &self,
        ctx: &Self::Context,
        attempt: u32,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// `base * 4^(failures-1)`, capped at `max`, with up to 25 % random jitter added.
pub fn exponential_backoff(failures: u32, base: Duration, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let raw = base.saturating_mul(4u32.saturating_pow(exponent)).min(max);
    let jitter = raw.mul_f64(rand::random::<f64>() * 0.25);
    raw + jitter
}

/// What a task stores: the payload and how many attempts came before.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<J> {
    /// Attempts that already failed.
    pub failures: u32,
    /// The job itself.
    pub job: J,
}

/// What the runner itself needs for every job: the queue's database, the queue (for durable
/// retries) and the metrics.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// The database holding the queue.
    pub db: Db,
    /// For retries.
    pub queue: JobQueue,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
}

/// A job's context and the runner's, handed to each task.
struct Bound<C> {
    ctx: C,
    runtime: Runtime,
}

impl<C: Clone> Clone for Bound<C> {
    fn clone(&self) -> Self {
        Self {
            ctx: self.ctx.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

/// Pushes jobs onto the queue of whichever database is configured.
#[derive(Clone, Debug)]
pub struct JobQueue {
    db: Db,
    metrics: Arc<Metrics>,
}

/// Options for one enqueue.
#[derive(Clone, Debug, Default)]
pub struct EnqueueOptions {
    /// Run no earlier than this long from now.
    pub delay: Option<Duration>,
    /// A second push with the same key for the same job type is ignored.
    pub idempotency_key: Option<String>,
}

/// One row of [`JobQueue::stats`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueStat {
    /// Job name.
    pub job: String,
    /// apalis status (`Pending`, `Queued`, `Running`, `Done`, `Failed`, `Killed`).
    pub status: String,
    /// Tasks in that status.
    pub count: i64,
}

impl JobQueue {
    /// A queue over `db`.
    pub fn new(db: Db, metrics: Arc<Metrics>) -> Self {
        Self { db, metrics }
    }

    /// Enqueues one job to run as soon as a worker is free.
    pub async fn enqueue<J: Job>(&self, job: &J) -> anyhow::Result<()> {
        self.enqueue_with(job, EnqueueOptions::default()).await
    }

    /// Enqueues one job with options.
    pub async fn enqueue_with<J: Job>(
        &self,
        job: &J,
        options: EnqueueOptions,
    ) -> anyhow::Result<()> {
        self.push_envelopes::<J>(vec![(
            serde_json::to_vec(&Envelope { failures: 0, job })?,
            options,
        )])
        .await
    }

    /// Enqueues many jobs in one transaction.
    pub async fn enqueue_many<J: Job>(&self, jobs: &[J]) -> anyhow::Result<()> {
        let encoded = jobs
            .iter()
            .map(|job| {
                Ok((
                    serde_json::to_vec(&Envelope { failures: 0, job })?,
                    EnqueueOptions::default(),
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.push_envelopes::<J>(encoded).await
    }

    async fn push_envelopes<J: Job>(
        &self,
        encoded: Vec<(Vec<u8>, EnqueueOptions)>,
    ) -> anyhow::Result<()> {
        let count = encoded.len();
        let tasks: Vec<Task<Vec<u8>>> = encoded
            .into_iter()
            .map(|(bytes, options)| build_task(bytes, options))
            .collect();
        match self.db.pool() {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                apalis_sqlite::queries::push_tasks(&mut *tx, J::NAME, &tasks).await?;
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                match apalis_postgres::queries::push_tasks(&mut *conn, J::NAME, tasks).await {
                    Ok(_) => {}
                    // Another process pushed the same idempotency key first: as documented on
                    // `EnqueueOptions::idempotency_key`, the second push is a no-op.
                    Err(apalis_postgres::Error::Database(e)) if is_idempotency_conflict(&e) => {
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for _ in 0..count {
            self.metrics.count_job(J::NAME, "enqueued");
        }
        Ok(())
    }

    /// Tasks waiting or running (with `include_scheduled`, also those scheduled for later,
    /// such as retries): zero means the queue is drained.
    pub async fn outstanding(&self, include_scheduled: bool) -> anyhow::Result<i64> {
        let count = match self.db.pool() {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM Jobs WHERE status IN ('Pending', 'Queued', 'Running') \
                     AND (?1 OR run_at <= strftime('%s', 'now'))",
                )
                .bind(include_scheduled)
                .fetch_one(pool)
                .await?
            }
            Pool::Postgres(pool) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM apalis.jobs WHERE status IN ('Pending', 'Queued', 'Running') \
                     AND ($1 OR run_at <= now())",
            )
            .bind(include_scheduled)
            .fetch_one(pool)
            .await?,
        };
        Ok(count)
    }

    /// Task counts by job and status.
    pub async fn stats(&self) -> anyhow::Result<Vec<QueueStat>> {
        let rows: Vec<(String, String, i64)> = match self.db.pool() {
            Pool::Sqlite(pool) => {
                sqlx::query_as("SELECT job_type, status, COUNT(*) FROM Jobs GROUP BY job_type, status ORDER BY 1, 2")
                    .fetch_all(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT job_type, status, COUNT(*) FROM apalis.jobs GROUP BY job_type, status ORDER BY 1, 2",
                )
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(job, status, count)| QueueStat { job, status, count })
            .collect())
    }

    /// Refreshes the queue-depth gauges from [`Self::stats`].
    pub async fn refresh_metrics(&self) -> anyhow::Result<()> {
        self.metrics.queue_depth.clear();
        for stat in self.stats().await? {
            self.metrics
                .queue_depth
                .get_or_create(&QueueLabels {
                    job: stat.job,
                    status: stat.status,
                })
                .set(stat.count);
        }
        Ok(())
    }

    /// Deletes finished tasks: done ones older than `done_age`, dead letters older than
    /// `failed_age`. Returns how many were removed.
    pub async fn prune(&self, done_age: Duration, failed_age: Duration) -> anyhow::Result<u64> {
        let now = chrono::Utc::now();
        let done_before = now - chrono::Duration::from_std(done_age)?;
        let failed_before = now - chrono::Duration::from_std(failed_age)?;
        let removed = match self.db.pool() {
            Pool::Sqlite(pool) => sqlx::query(
                "DELETE FROM Jobs WHERE (status = 'Done' AND done_at < ?1) \
                 OR (status IN ('Failed', 'Killed') AND attempts >= max_attempts AND done_at < ?2)",
            )
            .bind(done_before.timestamp())
            .bind(failed_before.timestamp())
            .execute(pool)
            .await?
            .rows_affected(),
            Pool::Postgres(pool) => sqlx::query(
                "DELETE FROM apalis.jobs WHERE (status = 'Done' AND done_at < $1) \
                 OR (status IN ('Failed', 'Killed') AND attempts >= max_attempts AND done_at < $2)",
            )
            .bind(done_before)
            .bind(failed_before)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(removed)
    }
}

/// Builds the apalis task for an encoded envelope. Each apalis task is attempted once; retries
/// are new tasks (see the module docs).
fn build_task(bytes: Vec<u8>, options: EnqueueOptions) -> Task<Vec<u8>> {
    let mut builder = TaskBuilder::new(bytes).max_attempts(1);
    if let Some(delay) = options.delay {
        builder = builder.run_after(delay);
    }
    if let Some(key) = options.idempotency_key {
        builder = builder.idempotency_key(key);
    }
    builder.build()
}

fn is_idempotency_conflict(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint().is_some_and(|c| c.contains("idempotency")))
}

/// Enqueues `job` inside the caller's SQLite transaction, so it exists iff the transaction
/// commits (the outbox pattern: a job exists exactly when the change that asks for it does).
pub async fn enqueue_in_sqlite_tx<J: Job>(
    conn: &mut sqlx::SqliteConnection,
    job: &J,
) -> anyhow::Result<()> {
    let task = build_task(
        serde_json::to_vec(&Envelope { failures: 0, job })?,
        EnqueueOptions::default(),
    );
    apalis_sqlite::queries::push_tasks(conn, J::NAME, &[task]).await?;
    Ok(())
}

/// Enqueues `job` inside the caller's PostgreSQL transaction (see [`enqueue_in_sqlite_tx`]).
pub async fn enqueue_in_postgres_tx<J: Job>(
    conn: &mut sqlx::PgConnection,
    job: &J,
) -> anyhow::Result<()> {
    let task = build_task(
        serde_json::to_vec(&Envelope { failures: 0, job })?,
        EnqueueOptions::default(),
    );
    apalis_postgres::queries::push_tasks(conn, J::NAME, vec![task]).await?;
    Ok(())
}

/// Creates apalis' own tables (idempotent). Runs with our migrations.
pub async fn setup_queue_tables(db: &Db) -> anyhow::Result<()> {
    match db.pool() {
        Pool::Sqlite(pool) => {
            SqliteStorage::setup(pool).await?;
            // apalis' setup turns `synchronous` OFF on the connection it used; a 200 from ingest
            // must survive a crash, so put every pooled connection back to NORMAL (WAL).
            for _ in 0..pool.size() {
                sqlx::query("PRAGMA synchronous = NORMAL")
                    .execute(pool)
                    .await?;
            }
        }
        Pool::Postgres(pool) => PostgresStorage::setup(pool).await?,
    }
    Ok(())
}

/// Worker tuning.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Idle poll interval.
    pub poll_interval: Duration,
    /// How long a graceful stop waits for running jobs.
    pub shutdown_timeout: Duration,
    /// Heartbeat period; three missed beats mark a worker dead.
    pub heartbeat: Duration,
}

/// Heartbeats a worker may miss before its claimed tasks are re-enqueued. Set explicitly:
/// apalis' defaults differ per backend (2 on SQLite, 10 on PostgreSQL).
const MISSED_HEARTBEATS: usize = 3;

/// Wakes an idle worker every `period` to look for work.
///
/// Replaces apalis' `IntervalStrategy`, which re-arms its timer without polling it: when that
/// tick coincides with an empty fetch, no waker is registered and the worker sleeps until its
/// next heartbeat (seconds of idle latency, seen as 10 s stalls in the test-suite). Here the
/// interval is polled until it is pending, so a waker is always registered.
struct TickStrategy {
    interval: tokio::time::Interval,
}

impl TickStrategy {
    fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { interval }
    }
}

impl apalis_core::backend::ext::poll_strategy::PollStrategy for TickStrategy {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _snapshot: &apalis_core::backend::ext::poll_strategy::PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let mut ticked = false;
        while self.interval.poll_tick(cx).is_ready() {
            ticked = true;
        }
        if ticked {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

/// A process-unique suffix for worker names: apalis refuses a second worker of the same name
/// while the first one's heartbeat is fresh, and a restart must not wait for it to expire.
fn process_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("{}-{:08x}", std::process::id(), rand::random::<u32>()))
}

/// A monitor that stops within `options.shutdown_timeout`; add workers with [`register`].
pub fn monitor(options: &WorkerOptions) -> Monitor {
    Monitor::new().shutdown_timeout(options.shutdown_timeout)
}

/// Adds a worker for job type `J`, whose runs get `ctx`.
pub fn register<J: Job>(
    monitor: Monitor,
    ctx: J::Context,
    runtime: &Runtime,
    options: &WorkerOptions,
) -> Monitor {
    let ctx = Bound {
        ctx,
        runtime: runtime.clone(),
    };
    let poll = options.poll_interval;
    // Heartbeats drive orphan detection: a worker that died has its tasks re-enqueued after
    // `MISSED_HEARTBEATS` missed beats.
    let heartbeat = options.heartbeat;
    match runtime.db.pool().clone() {
        Pool::Sqlite(pool) => monitor.register(move |run| {
            let config = apalis_sqlite::Config::default()
                .queue(J::NAME)
                .heartbeat_interval(heartbeat)
                .missed_heartbeats(MISSED_HEARTBEATS)
                .batch_size(J::CONCURRENCY);
            let storage = SqliteStorage::<Envelope<J>>::new(&pool)
                .with_config(config)
                .poll_with_strategy(TickStrategy::new(poll));
            WorkerBuilder::new(format!("{}-{}-{run}", J::NAME, process_tag()))
                .backend(storage)
                .data(ctx.clone())
                .concurrency(J::CONCURRENCY)
                .build(handle::<J>)
        }),
        Pool::Postgres(pool) => monitor.register(move |run| {
            let config = apalis_postgres::Config::default()
                .queue(J::NAME)
                .heartbeat_interval(heartbeat)
                .missed_heartbeats(MISSED_HEARTBEATS)
                .batch_size(J::CONCURRENCY);
            let storage = PostgresStorage::<Envelope<J>>::new(&pool)
                .with_config(config)
                .poll_with_strategy(TickStrategy::new(poll));
            WorkerBuilder::new(format!("{}-{}-{run}", J::NAME, process_tag()))
                .backend(storage)
                .data(ctx.clone())
                .concurrency(J::CONCURRENCY)
                .build(handle::<J>)
        }),
    }
}

/// Runs one task: the job, then a durable retry or a dead letter on failure.
async fn handle<J: Job>(
    envelope: Envelope<J>,
    bound: Data<Bound<J::Context>>,
) -> Result<(), BoxDynError> {
    let attempt = envelope.failures + 1;
    let (ctx, runtime) = (&bound.ctx, &bound.runtime);
    let span = tracing::info_span!("job", job.name = J::NAME, job.attempt = attempt);
    let started = Instant::now();
    let outcome = AssertUnwindSafe(envelope.job.run(ctx, attempt).instrument(span.clone()))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(anyhow::anyhow!("job panicked: {message}"))
        });
    let elapsed = started.elapsed();
    runtime
        .metrics
        .job_duration
        .get_or_create(&crate::metrics::RouteLabels {
            method: "run".to_owned(),
            route: J::NAME.to_owned(),
        })
        .observe(elapsed.as_secs_f64());
    let _entered = span.enter();
    match outcome {
        Ok(()) => {
            runtime.metrics.count_job(J::NAME, "succeeded");
            info!(
                duration_ms = elapsed.as_millis() as u64,
                "job {} done",
                J::NAME
            );
            Ok(())
        }
        Err(err) if attempt < J::MAX_ATTEMPTS => {
            let delay = J::backoff(attempt);
            let retry = Envelope {
                failures: attempt,
                job: &envelope.job,
            };
            let pushed = runtime
                .queue
                .push_envelopes::<J>(vec![(
                    serde_json::to_vec(&retry)?,
                    EnqueueOptions {
                        delay: Some(delay),
                        idempotency_key: None,
                    },
                )])
                .await;
            match pushed {
                Ok(()) => {
                    runtime.metrics.count_job(J::NAME, "retried");
                    warn!(
                        error = format!("{err:#}"),
                        retry_in_ms = delay.as_millis() as u64,
                        "job {} failed (attempt {attempt} of {}), will retry",
                        J::NAME,
                        J::MAX_ATTEMPTS
                    );
                    Ok(())
                }
                Err(push_err) => {
                    runtime.metrics.count_job(J::NAME, "failed");
                    error!(
                        error = format!("{err:#}"),
                        push_error = format!("{push_err:#}"),
                        "job {} failed and its retry could not be queued",
                        J::NAME
                    );
                    Err(err.into())
                }
            }
        }
        Err(err) => {
            runtime.metrics.count_job(J::NAME, "failed");
            error!(
                error = format!("{err:#}"),
                "job {} failed {attempt} times; kept as a dead letter",
                J::NAME
            );
            Err(err.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_four_and_is_capped() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(3600);
        for (failures, expected) in [(1, 2), (2, 8), (3, 32), (4, 128), (10, 3600)] {
            let delay = exponential_backoff(failures, base, max);
            let low = Duration::from_secs(expected);
            assert!(
                delay >= low && delay <= low.mul_f64(1.25),
                "{failures}: {delay:?}"
            );
        }
    }

    #[test]
    fn envelope_round_trips_as_json() {
        let bytes = serde_json::to_vec(&Envelope {
            failures: 2,
            job: "x",
        })
        .expect("encode");
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            r#"{"failures":2,"job":"x"}"#
        );
    }
}
