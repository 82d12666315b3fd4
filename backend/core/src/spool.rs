//! The ingest spool: the one durable write on ingest's hot path, with group commit.
//!
//! Requests hand their envelope to [`Spool::write`] and wait for the commit. A single writer
//! task takes everything queued since its last commit (up to [`MAX_BATCH`]) and writes it in one
//! transaction together with one `DigestSpool` job covering those rows, so many concurrent
//! requests share one fsync, and a row never exists without the job that digests it.
//!
//! Back-pressure: the queue in front of the writer is bounded; when it is full, [`Spool::write`]
//! answers [`SpoolError::Busy`] at once (the endpoint turns that into 503 + `Retry-After`)
//! instead of letting memory grow.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};

use crate::db::{Db, Pool};
use crate::digest::DigestSpool;
use crate::ids::{AccountId, ProjectId};
use crate::jobs;
use crate::metrics::Metrics;

/// Most envelopes committed in one transaction.
pub const MAX_BATCH: usize = 512;
/// Envelopes waiting for the writer before ingest answers 503.
pub const QUEUE_CAPACITY: usize = 8192;

/// One accepted envelope.
#[derive(Debug)]
pub struct SpoolEntry {
    /// Owning account.
    pub account_id: AccountId,
    /// Target project.
    pub project_id: ProjectId,
    /// When the request arrived.
    pub received_at: DateTime<Utc>,
    /// The client's address (for `{{auto}}` user IPs).
    pub client_ip: Option<String>,
    /// The decompressed envelope.
    pub envelope: Vec<u8>,
}

/// Why an envelope was not spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The writer is behind; try again shortly.
    #[error("ingest is busy; retry shortly")]
    Busy,
    /// The commit failed (database down, disk full, shutting down).
    #[error("could not store the envelope: {0}")]
    Failed(String),
}

struct Pending {
    entry: SpoolEntry,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle to the spool writer; cheap to clone.
#[derive(Clone, Debug)]
pub struct Spool {
    sender: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Spool {
    /// Starts the writer task. It ends after every `Spool` handle is dropped and the queue is
    /// drained, so in-flight requests still get their commit during shutdown.
    pub fn start(db: Db, metrics: Arc<Metrics>) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let handle = tokio::spawn(run_writer(db, metrics, receiver));
        (Self { sender }, handle)
    }

    /// Stores `entry` durably; returns once it is committed.
    pub async fn write(&self, entry: SpoolEntry) -> Result<(), SpoolError> {
        let (done, committed) = oneshot::channel();
        self.sender
            .try_send(Pending { entry, done })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SpoolError::Busy,
                mpsc::error::TrySendError::Closed(_) => {
                    SpoolError::Failed("shutting down".to_owned())
                }
            })?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(SpoolError::Failed(message)),
            Err(_) => Err(SpoolError::Failed("the spool writer stopped".to_owned())),
        }
    }
}

async fn run_writer(db: Db, metrics: Arc<Metrics>, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let result = commit(&db, &batch).await.map_err(|e| {
            tracing::error!(
                error = format!("{e:#}"),
                batch.size = batch.len(),
                "spool commit failed"
            );
            format!("{e:#}")
        });
        metrics
            .job_duration
            .get_or_create(&crate::metrics::RouteLabels {
                method: "commit".to_owned(),
                route: "ingest_spool".to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
        if result.is_ok() {
            metrics.count_job(DIGEST_JOB_NAME, "enqueued");
        }
        for pending in batch.drain(..) {
            let _ = pending.done.send(result.clone());
        }
    }
}

const DIGEST_JOB_NAME: &str = <DigestSpool as jobs::Job>::NAME;

/// Builds the multi-row insert of a batch; the same statement for both engines (sqlx picks
/// the placeholder syntax from the query builder's database type).
macro_rules! spool_insert {
    ($batch:expr) => {{
        let mut insert = QueryBuilder::new(
            "INSERT INTO ingest_spool (account_id, project_id, received_at, client_ip, envelope) ",
        );
        insert.push_values($batch, |mut row, pending: &Pending| {
            let e = &pending.entry;
            row.push_bind(e.account_id.0)
                .push_bind(e.project_id.0)
                .push_bind(e.received_at)
                .push_bind(e.client_ip.as_deref())
                // Borrowed: envelopes can be megabytes; the batch outlives the statement.
                .push_bind(e.envelope.as_slice());
        });
        insert.push(" RETURNING id");
        insert
    }};
}

async fn commit(db: &Db, batch: &[Pending]) -> anyhow::Result<()> {
    match db.pool() {
        Pool::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            let ids: Vec<i64> = spool_insert!(batch)
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await?;
            jobs::enqueue_in_sqlite_tx(&mut tx, &DigestSpool::covering(&ids)).await?;
            tx.commit().await?;
        }
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let ids: Vec<i64> = spool_insert!(batch)
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await?;
            jobs::enqueue_in_postgres_tx(&mut tx, &DigestSpool::covering(&ids)).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}
