//! The ingest spool: the one durable write on ingest's hot path, with group commit.
//!
//! Requests hand their envelope to [`Spool::write`] and wait for the commit. A single writer
//! task takes everything queued since its last commit (up to [`MAX_BATCH`]) and writes it in one
//! transaction, so many concurrent requests share one commit. The digest
//! ([`crate::digest::runner`]) reads the rows in id order and turns them into events.
//!
//! Where the rows live ([`SpoolStore`]):
//! - SQLite: a file of its own next to the database (`errorwatch.db` → `errorwatch.spool`), so
//!   the group commit never waits for the digest, which holds the main file's single write lock.
//!   The digest records the last row it digested in the main database (`spool_cursors`), in the
//!   same transaction as the rows' effects: exactly once across crashes. Only the writer's
//!   connection writes the spool file: it also deletes the rows up to that cursor, a few times a
//!   second, so a commit never sleeps on SQLite's busy handler waiting for another writer.
//! - PostgreSQL: the `ingest_spool` table, shared by every node. A digest claims rows with
//!   `FOR UPDATE SKIP LOCKED` and deletes them in the transaction that stores their effects.
//!
//! Back-pressure, before memory or disk grow without bound: the queue in front of the writer is
//! bounded in entries and in bytes, and the spool's backlog (rows not yet digested) in rows; past
//! either, [`Spool::write`] answers [`SpoolError::Busy`] at once (the endpoint turns that into
//! 503 + `Retry-After`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::config::{DatabaseConfig, DatabaseKind};
use crate::db::{Db, Pool};
use crate::ids::{AccountId, ProjectId};
use crate::ingest::decompress::{ContentEncoding, decompress};
use crate::metrics::Metrics;
use crate::repo::entity::ingest_spool;

/// Most envelopes committed in one transaction.
pub const MAX_BATCH: usize = 512;
/// Envelopes waiting for the writer before ingest answers 503.
pub const QUEUE_CAPACITY: usize = 8192;
/// Bytes of envelopes waiting in memory for the writer before ingest answers 503.
pub const MAX_QUEUED_BYTES: usize = 32 << 20;
/// Free pages in the spool file (16 KiB each) above which they go back to the file system.
const FREE_PAGES_TO_VACUUM: i64 = 1024;
/// How often the spool file's WAL is checkpointed (SQLite).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);
/// Page size of new spool files.
const SPOOL_PAGE_SIZE: u32 = 16_384;
/// WAL frames past which the checkpoint starts the spool's WAL over (64 MiB of 16 KiB pages).
const WAL_RESTART_FRAMES: i64 = 4_096;
/// How often the writer re-reads the backlog and (SQLite) deletes digested rows.
const BACKLOG_REFRESH: Duration = Duration::from_millis(250);

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
    /// The envelope, as stored.
    pub body: SpoolBody,
}

/// A spool row as read: its envelope still in the stored encoding.
#[derive(Debug)]
pub struct Spooled {
    /// The row; `envelope` holds the stored bytes until [`Spooled::decode`].
    pub row: ingest_spool::Model,
    /// How `row.envelope` is encoded ([`SpoolBody`]).
    pub encoding: i16,
}

impl Spooled {
    /// The row with its envelope decoded.
    pub fn decode(mut self) -> anyhow::Result<ingest_spool::Model> {
        if self.encoding != SpoolBody::PLAIN {
            self.row.envelope = SpoolBody::decode(self.encoding, &self.row.envelope)?;
        }
        Ok(self.row)
    }
}

/// Envelopes smaller than this are stored plain: compressing them saves too little.
const LZ4_THRESHOLD: usize = 1024;
/// Largest envelope after decompression (as ingest's own cap).
const MAX_DECODED_BYTES: usize = 100 * 1024 * 1024;

/// A spooled envelope's bytes and how they are encoded. Envelopes that arrived compressed are
/// stored as sent (ingest already checked they decompress and parse; the digest decompresses
/// again), plain ones are LZ4-compressed: either way the spool writes a fraction of the bytes.
#[derive(Debug, Clone)]
pub struct SpoolBody {
    /// [`SpoolBody::PLAIN`], [`SpoolBody::LZ4`], or the HTTP `Content-Encoding` it came with.
    pub encoding: i16,
    /// The stored bytes.
    pub bytes: bytes::Bytes,
}

impl SpoolBody {
    /// Stored as is.
    pub const PLAIN: i16 = 0;
    /// LZ4 block with the decoded size in front (`lz4_flex::compress_prepend_size`).
    pub const LZ4: i16 = 1;

    /// An envelope received with `encoding`, stored as sent.
    ///
    /// The stored bytes are always an allocation of their own, exactly their size: the wire
    /// bytes are a slice of the connection's read buffer, and an entry waiting for its commit
    /// would otherwise pin that whole buffer (tens of KiB per connection under a flood, which
    /// the queue's byte budget does not see).
    pub fn as_received(encoding: ContentEncoding, wire: bytes::Bytes) -> Self {
        match encoding {
            ContentEncoding::Identity => Self::plain(&wire),
            other => Self {
                encoding: match other {
                    ContentEncoding::Gzip => 2,
                    ContentEncoding::Deflate => 3,
                    ContentEncoding::Brotli => 4,
                    _ => 5,
                },
                bytes: bytes::Bytes::copy_from_slice(&wire),
            },
        }
    }

    /// A plain envelope; compressed when that pays.
    pub fn plain(envelope: &[u8]) -> Self {
        if envelope.len() < LZ4_THRESHOLD {
            return Self {
                encoding: Self::PLAIN,
                bytes: bytes::Bytes::copy_from_slice(envelope),
            };
        }
        let compressed = lz4_flex::compress_prepend_size(envelope);
        // The block is allocated at LZ4's worst case (a bit over the input) and usually fills a
        // third of it; keep only what is used while the entry waits for its commit.
        let bytes = if compressed.capacity() - compressed.len() > compressed.len() / 8 {
            bytes::Bytes::copy_from_slice(&compressed)
        } else {
            compressed.into()
        };
        Self {
            encoding: Self::LZ4,
            bytes,
        }
    }

    /// The envelope back from its stored form.
    pub fn decode(encoding: i16, stored: &[u8]) -> anyhow::Result<Vec<u8>> {
        let http = match encoding {
            Self::PLAIN => return Ok(stored.to_vec()),
            Self::LZ4 => {
                // The size in front is checked before anything is allocated for it.
                let (size, block) = stored
                    .split_first_chunk::<4>()
                    .ok_or_else(|| anyhow::anyhow!("spooled LZ4 envelope: truncated"))?;
                let size = u32::from_le_bytes(*size) as usize;
                anyhow::ensure!(
                    size <= MAX_DECODED_BYTES,
                    "spooled LZ4 envelope: {size} bytes is over the cap"
                );
                let decoded = lz4_flex::decompress(block, size)
                    .map_err(|e| anyhow::anyhow!("spooled LZ4 envelope: {e}"))?;
                anyhow::ensure!(decoded.len() == size, "spooled LZ4 envelope: short");
                return Ok(decoded);
            }
            2 => ContentEncoding::Gzip,
            3 => ContentEncoding::Deflate,
            4 => ContentEncoding::Brotli,
            5 => ContentEncoding::Zstd,
            other => anyhow::bail!("unknown spool encoding {other}"),
        };
        Ok(decompress(http, stored, MAX_DECODED_BYTES)?)
    }

    /// Stored size.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Why an envelope was not spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The writer or the digest is behind; try again shortly.
    #[error("ingest is busy; retry shortly")]
    Busy,
    /// The commit failed (database down, disk full, shutting down).
    #[error("could not store the envelope: {0}")]
    Failed(String),
}

struct Pending {
    entry: SpoolEntry,
    done: oneshot::Sender<Result<(), String>>,
    /// The entry's share of the in-memory byte budget, returned once it is written.
    _budget: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

/// Where spooled envelopes are stored (see the module docs).
#[derive(Clone, Debug)]
pub enum SpoolStore {
    /// A SQLite file of its own.
    Sqlite {
        /// Pool on the spool file for the digest's reads and deletes, and checkpoints.
        pool: sqlx::SqlitePool,
        /// The writer's own connection: it never checkpoints, so a commit never waits for
        /// WAL pages to be copied into the file (a background task does that).
        writer: sqlx::SqlitePool,
        /// Random id of this spool file, the key of its cursor in `spool_cursors`.
        spool_id: Arc<str>,
        /// The main database, where the digest's cursor is.
        main: sqlx::SqlitePool,
        /// Set by the checkpoint task when the WAL should start over (the writer does it).
        restart_wal: Arc<AtomicBool>,
    },
    /// The `ingest_spool` table of the PostgreSQL database.
    Postgres(sqlx::PgPool),
}

/// The spool file of a SQLite database at `database`.
pub fn sqlite_spool_path(database: &Path) -> PathBuf {
    database.with_extension("spool")
}

impl SpoolStore {
    /// Opens (creating if needed) the spool of the database described by `config`.
    pub async fn open(config: &DatabaseConfig, db: &Db) -> anyhow::Result<Self> {
        match (config.kind, db.pool()) {
            (DatabaseKind::Sqlite, _) => {
                let database = config
                    .sqlite_path
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("SQLite needs a database file"))?;
                let Pool::Sqlite(main) = db.pool() else {
                    anyhow::bail!("a SQLite configuration with a PostgreSQL connection")
                };
                Self::open_sqlite_file(&sqlite_spool_path(database), main.clone()).await
            }
            (DatabaseKind::Postgres, Pool::Postgres(pool)) => Ok(Self::Postgres(pool.clone())),
            (DatabaseKind::Postgres, Pool::Sqlite(_)) => {
                anyhow::bail!("a PostgreSQL configuration with a SQLite connection")
            }
        }
    }

    async fn open_sqlite_file(path: &Path, main: sqlx::SqlitePool) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // Set before the first table exists: freed pages can then be handed back to the
            // file system (`incremental_vacuum`) once the backlog is digested.
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            // Also before the first table: envelopes are a few KiB once compressed, so 16 KiB
            // pages hold several and a commit appends fewer, larger WAL frames.
            .page_size(SPOOL_PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            // As the main database: a commit survives a process crash.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // The WAL shrinks back to this after a checkpoint that emptied it.
            .pragma("journal_size_limit", (64 << 20).to_string())
            // Each connection's page cache: 512 KiB, not SQLite's 2 MB. The digest reads rows
            // the writer has just appended, which the OS's page cache holds anyway.
            .pragma("cache_size", "-512")
            .disable_statement_logging();
        let open = |options: SqliteConnectOptions, connections: u32| async move {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the spool {}: {e}", path.display()))
        };
        // The digest's reads and deletes, and the checkpoints.
        let pool = open(options.clone(), 3).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS spool_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        sqlx::query("INSERT OR IGNORE INTO spool_meta (key, value) VALUES ('spool_id', ?1)")
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .execute(&pool)
            .await?;
        // AUTOINCREMENT: ids are never reused, even after every row was deleted, so the digest's
        // cursor stays meaningful.
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS spool (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                account_id INTEGER NOT NULL,
                project_id INTEGER NOT NULL,
                received_at INTEGER NOT NULL,
                client_ip TEXT,
                encoding INTEGER NOT NULL DEFAULT 0,
                envelope BLOB NOT NULL
            )",
        )
        .execute(&pool)
        .await?;
        let spool_id: String =
            sqlx::query_scalar("SELECT value FROM spool_meta WHERE key = 'spool_id'")
                .fetch_one(&pool)
                .await?;
        let writer = open(options.pragma("wal_autocheckpoint", "0"), 1).await?;
        Ok(Self::Sqlite {
            pool,
            writer,
            spool_id: spool_id.into(),
            main,
            restart_wal: Arc::new(AtomicBool::new(false)),
        })
    }

    /// SQLite: copies committed WAL pages into the spool file without blocking the writer or
    /// readers (the writer itself never checkpoints on commit). Under a steady stream of commits
    /// a passive checkpoint never catches up with the WAL's end, and SQLite only starts the WAL
    /// over once one has; so when the WAL holds more than [`WAL_RESTART_FRAMES`], the writer is
    /// asked to run a RESTART checkpoint between two commits (the remaining frames are few: the
    /// passive ones copied the rest), which starts the WAL from its beginning, where
    /// `journal_size_limit` trims it.
    async fn checkpoint(&self) -> anyhow::Result<()> {
        if let Self::Sqlite {
            pool, restart_wal, ..
        } = self
        {
            let (_busy, log, _copied): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(pool)
                    .await?;
            if log > WAL_RESTART_FRAMES {
                restart_wal.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// SQLite: the last spool row the digest has consumed (its cursor in the main database).
    async fn sqlite_cursor(main: &sqlx::SqlitePool, spool_id: &str) -> anyhow::Result<i64> {
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT last_id FROM spool_cursors WHERE spool_id = ?1")
                .bind(spool_id)
                .fetch_optional(main)
                .await?;
        Ok(cursor.unwrap_or(0))
    }

    /// The writer's upkeep of the SQLite spool file between two commits, on its own connection
    /// (the only one that writes the file): deletes the rows the digest consumed since
    /// `deleted_through`, hands free pages back once there are many, and restarts the WAL when
    /// the checkpoint task asked for it. Returns the new `deleted_through`.
    async fn upkeep(&self, deleted_through: i64) -> anyhow::Result<i64> {
        let Self::Sqlite {
            writer,
            spool_id,
            main,
            restart_wal,
            ..
        } = self
        else {
            return Ok(deleted_through);
        };
        let cursor = Self::sqlite_cursor(main, spool_id).await?;
        if cursor > deleted_through {
            sqlx::query("DELETE FROM spool WHERE id <= ?1")
                .bind(cursor)
                .execute(writer)
                .await?;
            // A drained backlog leaves free pages; once there are many, hand them back (small
            // amounts are simply reused by the next inserts).
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(writer)
                .await?;
            if free > FREE_PAGES_TO_VACUUM {
                sqlx::query("PRAGMA incremental_vacuum")
                    .execute(writer)
                    .await?;
            }
        }
        if restart_wal.swap(false, Ordering::Relaxed) {
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(writer)
                .await?;
        }
        Ok(cursor.max(deleted_through))
    }

    /// Rows waiting for the digest (an upper bound on PostgreSQL, where ids of rolled-back
    /// inserts leave gaps).
    ///
    /// Two scalar subqueries, not `SELECT MIN(id), MAX(id)`: SQLite answers a single MIN or MAX
    /// from the primary key's ends, but a query with both scans the whole table, which here ran
    /// over the entire backlog four times a second and filled the page cache with it.
    pub async fn backlog(&self) -> anyhow::Result<u64> {
        let (first, last): (Option<i64>, Option<i64>) = match self {
            Self::Sqlite {
                pool,
                main,
                spool_id,
                ..
            } => {
                // Rows up to the digest's cursor are consumed, even before the writer deleted
                // them.
                let (first, last): (Option<i64>, Option<i64>) =
                    sqlx::query_as(BACKLOG_SQLITE).fetch_one(pool).await?;
                let cursor = Self::sqlite_cursor(main, spool_id).await?;
                (first.map(|first| first.max(cursor + 1)), last)
            }
            // Planned anew each time: a statement without parameters keeps its first plan, and
            // one made while the spool was empty reads the whole table for MIN and MAX (with
            // envelopes stored inline, hundreds of MB four times a second under a burst).
            Self::Postgres(pool) => {
                sqlx::query_as(BACKLOG_POSTGRES)
                    .persistent(false)
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(match (first, last) {
            (Some(first), Some(last)) if last >= first => {
                u64::try_from(last - first + 1).unwrap_or(0)
            }
            _ => 0,
        })
    }

    async fn insert(&self, batch: &[Pending]) -> anyhow::Result<()> {
        match self {
            Self::Sqlite { writer, .. } => {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO spool (account_id, project_id, received_at, client_ip, encoding, envelope) ",
                );
                insert.push_values(batch, |mut row, pending: &Pending| {
                    let e = &pending.entry;
                    row.push_bind(e.account_id.0)
                        .push_bind(e.project_id.0)
                        .push_bind(e.received_at.timestamp_micros())
                        .push_bind(e.client_ip.as_deref())
                        .push_bind(e.body.encoding)
                        // Borrowed: envelopes can be megabytes; the batch outlives the statement.
                        .push_bind(e.body.bytes.as_ref());
                });
                // One statement is one implicit transaction: one commit for the batch.
                // Not kept prepared: every batch size is a statement of its own, and the
                // connection's cache of up to 100 of them, each with up to 3,072 parameters,
                // held about 13 MiB of SQLite memory under the overload bench.
                insert.build().persistent(false).execute(writer).await?;
            }
            Self::Postgres(pool) => {
                let mut insert = QueryBuilder::new(crate::repo::spool::INSERT_ALL_ACCOUNTS);
                insert.push_values(batch, |mut row, pending: &Pending| {
                    let e = &pending.entry;
                    row.push_bind(e.account_id.0)
                        .push_bind(e.project_id.0)
                        .push_bind(e.received_at)
                        .push_bind(e.client_ip.as_deref())
                        .push_bind(e.body.encoding)
                        .push_bind(e.body.bytes.as_ref());
                });
                // Unnamed, as above: no server-side statement per batch size.
                insert.build().persistent(false).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// SQLite: up to `max_rows` rows after `after`, in id order, stopping before `max_bytes`
    /// of stored envelopes (at least one row).
    pub(crate) async fn sqlite_rows_after(
        pool: &sqlx::SqlitePool,
        after: i64,
        max_rows: i64,
        max_bytes: i64,
    ) -> anyhow::Result<Vec<Spooled>> {
        let sizes: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, length(envelope) FROM spool WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after)
        .bind(max_rows)
        .fetch_all(pool)
        .await?;
        let last = match within_budget(&sizes, max_bytes) {
            Some(last) => last,
            None => return Ok(Vec::new()),
        };
        let rows: Vec<SqliteRow> = sqlx::query_as(
            "SELECT id, account_id, project_id, received_at, client_ip, encoding, envelope \
             FROM spool WHERE id > ?1 AND id <= ?2 ORDER BY id",
        )
        .bind(after)
        .bind(last)
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, account_id, project_id, received_at, client_ip, encoding, envelope)| {
                    Spooled {
                        row: ingest_spool::Model {
                            id,
                            account_id,
                            project_id,
                            received_at: DateTime::from_timestamp_micros(received_at)
                                .unwrap_or_else(Utc::now),
                            client_ip,
                            envelope,
                        },
                        encoding,
                    }
                },
            )
            .collect())
    }
}

/// First and last id in the SQLite spool file; each end read from the primary key.
pub(crate) const BACKLOG_SQLITE: &str =
    "SELECT (SELECT MIN(id) FROM spool), (SELECT MAX(id) FROM spool)";
/// Same for PostgreSQL's `ingest_spool`.
const BACKLOG_POSTGRES: &str = crate::repo::spool::BACKLOG_ALL_ACCOUNTS;

/// A spool file row: id, account, project, received (µs), client IP, encoding, envelope.
type SqliteRow = (i64, i64, i64, i64, Option<String>, i16, Vec<u8>);

/// The last id of the longest prefix of `(id, size)` under `max_bytes` (at least one row).
pub(crate) fn within_budget(sizes: &[(i64, i64)], max_bytes: i64) -> Option<i64> {
    let mut total = 0i64;
    let mut last = None;
    for (id, size) in sizes {
        total = total.saturating_add(*size);
        if last.is_some() && total > max_bytes {
            break;
        }
        last = Some(*id);
    }
    last
}

/// Handle to the spool writer; cheap to clone.
#[derive(Clone, Debug)]
pub struct Spool {
    sender: mpsc::Sender<Pending>,
    budget: Arc<Semaphore>,
    backlog: Arc<AtomicU64>,
    max_backlog: u64,
}

/// Wakes the digest when the writer committed new rows.
pub type DigestWake = Arc<Notify>;

impl Spool {
    /// Starts the writer task. It ends after every `Spool` handle is dropped and the queue is
    /// drained, so in-flight requests still get their commit during shutdown.
    pub fn start(
        store: SpoolStore,
        max_backlog: u64,
        wake: DigestWake,
        metrics: Arc<Metrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let backlog = Arc::new(AtomicU64::new(0));
        if matches!(store, SpoolStore::Sqlite { .. }) {
            // Ends with the writer (its handle is the last clone of the store besides ours).
            let store = store.clone();
            let sender_alive = Arc::downgrade(&backlog);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while sender_alive.strong_count() > 0 {
                    tick.tick().await;
                    if let Err(e) = store.checkpoint().await {
                        tracing::warn!(error = format!("{e:#}"), "spool checkpoint failed");
                    }
                }
            });
        }
        let handle = tokio::spawn(run_writer(store, metrics, receiver, backlog.clone(), wake));
        (
            Self {
                sender,
                budget: Arc::new(Semaphore::new(MAX_QUEUED_BYTES >> 10)),
                backlog,
                max_backlog,
            },
            handle,
        )
    }

    /// Whether a write would be refused right now (the backlog is at its cap, or the writer's
    /// queue holds its byte budget): ingest checks this before reading a body, so an overloaded
    /// server answers 503 without spending memory and CPU on requests it would refuse anyway.
    pub fn is_full(&self) -> bool {
        self.backlog.load(Ordering::Relaxed) >= self.max_backlog
            || self.budget.available_permits() == 0
    }

    /// Stores `entry` durably; returns once it is committed.
    pub async fn write(&self, entry: SpoolEntry) -> Result<(), SpoolError> {
        if self.backlog.load(Ordering::Relaxed) >= self.max_backlog {
            return Err(SpoolError::Busy);
        }
        let kib = u32::try_from((entry.body.len() >> 10) + 1)
            .unwrap_or(u32::MAX)
            .min((MAX_QUEUED_BYTES >> 10) as u32);
        let budget = self
            .budget
            .clone()
            .try_acquire_many_owned(kib)
            .map_err(|_| SpoolError::Busy)?;
        let (done, committed) = oneshot::channel();
        self.sender
            .try_send(Pending {
                entry,
                done,
                _budget: budget,
            })
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

async fn run_writer(
    store: SpoolStore,
    metrics: Arc<Metrics>,
    mut receiver: mpsc::Receiver<Pending>,
    backlog: Arc<AtomicU64>,
    wake: DigestWake,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Spool rows up to this id are deleted (SQLite; see `SpoolStore::upkeep`).
    let mut deleted_through = 0;
    let mut refresh = tokio::time::interval(BACKLOG_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    return;
                }
            }
            _ = refresh.tick() => {
                match store.upkeep(deleted_through).await {
                    Ok(through) => deleted_through = through,
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "spool upkeep failed"),
                }
                match store.backlog().await {
                    Ok(rows) => {
                        backlog.store(rows, Ordering::Relaxed);
                        metrics
                            .queue_depth
                            .get_or_create(&crate::metrics::QueueLabels {
                                job: crate::repo::spool::QUEUE_NAME.to_owned(),
                                status: "pending".to_owned(),
                            })
                            .set(i64::try_from(rows).unwrap_or(i64::MAX));
                    }
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot read the spool backlog"),
                }
                continue;
            }
        }
        let started = Instant::now();
        let result = store.insert(&batch).await.map_err(|e| {
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
                route: crate::repo::spool::QUEUE_NAME.to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
        if result.is_ok() {
            backlog.fetch_add(batch.len() as u64, Ordering::Relaxed);
            wake.notify_one();
        }
        for pending in batch.drain(..) {
            let _ = pending.done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_prefix_and_at_least_one_row() {
        assert_eq!(within_budget(&[], 100), None);
        assert_eq!(within_budget(&[(1, 500)], 100), Some(1));
        assert_eq!(within_budget(&[(1, 40), (2, 40), (3, 40)], 100), Some(2));
        assert_eq!(within_budget(&[(1, 40), (2, 60), (3, 1)], 100), Some(2));
    }

    #[test]
    fn bodies_round_trip_in_every_encoding() {
        let envelope = format!("{{}}\n{{\"type\":\"event\"}}\n{}", "x".repeat(5000)).into_bytes();
        let plain = SpoolBody::plain(&envelope);
        assert_eq!(plain.encoding, SpoolBody::LZ4);
        assert!(plain.len() < envelope.len() / 4, "{} bytes", plain.len());
        assert_eq!(
            SpoolBody::decode(plain.encoding, &plain.bytes).expect("lz4"),
            envelope
        );
        let small = SpoolBody::plain(b"{}\n");
        assert_eq!(small.encoding, SpoolBody::PLAIN);
        assert_eq!(
            SpoolBody::decode(small.encoding, &small.bytes).expect("plain"),
            b"{}\n"
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &envelope).expect("gzip");
        let wire = bytes::Bytes::from(gz.finish().expect("gzip"));
        let received = SpoolBody::as_received(ContentEncoding::Gzip, wire.clone());
        assert_eq!(received.bytes, wire, "stored as sent");
        assert_ne!(
            received.bytes.as_ptr(),
            wire.as_ptr(),
            "an allocation of its own, not a slice pinning the connection's buffer"
        );
        assert_eq!(
            SpoolBody::decode(received.encoding, &received.bytes).expect("gzip"),
            envelope
        );
        assert!(SpoolBody::decode(99, b"x").is_err());
        assert!(SpoolBody::decode(SpoolBody::LZ4, b"\xff\xff\xff\x7fgarbage").is_err());
        assert!(SpoolBody::decode(SpoolBody::LZ4, b"\x10\x00\x00\x00garbage").is_err());
        assert!(SpoolBody::decode(SpoolBody::LZ4, b"\x10").is_err());
    }

    /// A SQLite spool file and the main database it keeps its cursor in, in a new temporary
    /// directory (the caller removes it).
    async fn sqlite_spool_in_temp_dir(
        prefix: &str,
    ) -> (std::path::PathBuf, sqlx::SqlitePool, SpoolStore) {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let main = sqlx::SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(dir.join("x.db"))
                .create_if_missing(true),
        )
        .await
        .expect("main");
        sqlx::query("CREATE TABLE spool_cursors (spool_id TEXT PRIMARY KEY, last_id INTEGER NOT NULL, updated_at TEXT)")
            .execute(&main)
            .await
            .expect("cursors");
        let store = SpoolStore::open_sqlite_file(&dir.join("x.spool"), main.clone())
            .await
            .expect("spool");
        (dir, main, store)
    }

    #[tokio::test]
    async fn the_backlog_reads_the_ends_of_the_key_instead_of_scanning_the_spool() {
        let (dir, main, store) = sqlite_spool_in_temp_dir("ew-spool-plan").await;
        let SpoolStore::Sqlite { pool, .. } = &store else {
            unreachable!("a SQLite spool")
        };
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {BACKLOG_SQLITE}"
        )))
        .fetch_all(pool)
        .await
        .expect("plan");
        let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
        assert!(
            steps.iter().all(|step| !step.starts_with("SCAN spool")),
            "{steps:?}"
        );
        assert_eq!(store.backlog().await.expect("empty"), 0);
        sqlx::query("INSERT INTO spool (account_id, project_id, received_at, envelope) VALUES (1, 1, 0, x'00'), (1, 1, 0, x'00'), (1, 1, 0, x'00')")
            .execute(pool)
            .await
            .expect("rows");
        let SpoolStore::Sqlite { spool_id, .. } = &store else {
            unreachable!("a SQLite spool")
        };
        sqlx::query("INSERT INTO spool_cursors (spool_id, last_id) VALUES (?1, 1)")
            .bind(spool_id.as_ref())
            .execute(&main)
            .await
            .expect("digested one");
        assert_eq!(
            store.backlog().await.expect("two left"),
            2,
            "row 1 is consumed"
        );
        assert_eq!(store.upkeep(0).await.expect("upkeep"), 1);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM spool")
            .fetch_one(pool)
            .await
            .expect("count");
        assert_eq!(rows, 2, "the consumed row is deleted");
        assert_eq!(store.backlog().await.expect("two left"), 2);
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_drained_spool_file_gives_its_pages_back() {
        let (dir, main, store) = sqlite_spool_in_temp_dir("ew-spool-vacuum").await;
        let SpoolStore::Sqlite { pool, spool_id, .. } = &store else {
            unreachable!("a SQLite spool")
        };
        let pages = || async {
            sqlx::query_scalar::<_, i64>("PRAGMA page_count")
                .fetch_one(pool)
                .await
                .expect("pages")
        };
        // 3,000 rows of 12 KiB: a page each.
        for _ in 0..30 {
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
                 INSERT INTO spool (account_id, project_id, received_at, envelope) \
                 SELECT 1, 1, 0, randomblob(12288) FROM n",
            )
            .execute(pool)
            .await
            .expect("rows");
        }
        let full = pages().await;
        assert!(full > 3_000, "{full} pages");
        // All digested: the rows go, and the file shrinks.
        sqlx::query("INSERT INTO spool_cursors (spool_id, last_id) VALUES (?1, 3000)")
            .bind(spool_id.as_ref())
            .execute(&main)
            .await
            .expect("cursor");
        assert_eq!(store.upkeep(0).await.expect("upkeep"), 3_000);
        let after = pages().await;
        assert!(after < 100, "{after} pages left of {full}");
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_spool_file_sits_next_to_the_database() {
        assert_eq!(
            sqlite_spool_path(Path::new("data/errorwatch.db")),
            PathBuf::from("data/errorwatch.spool")
        );
    }
}
