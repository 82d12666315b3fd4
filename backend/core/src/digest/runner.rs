//! The digest loop: takes spooled envelopes in id order, a batch at a time, and stores their
//! effects (see [`super::prepare`] and [`super::write`]).
//!
//! Each batch: read the rows and the projects' grouping rules (plain reads), parse, normalize,
//! group and compress on a blocking thread (no lock held), then one short write transaction.
//! Exactly once:
//! - SQLite: the spool is a file of its own; the transaction that stores a batch's effects also
//!   moves the spool's cursor in `spool_cursors` (only if nobody moved it meanwhile), and the
//!   rows are deleted from the spool file afterwards. Rows at or below the cursor left by a crash
//!   between the two are deleted unread.
//! - PostgreSQL: rows are claimed with `FOR UPDATE SKIP LOCKED` (several nodes may digest) and
//!   deleted in the transaction that stores their effects.
//!
//! Rows of projects that no longer exist are dropped (with a log line).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::symbolicate::{BatchMaps, Symbolicator};
use super::{prepare, write};
use crate::db::Db;
use crate::grouping::{FingerprintRules, GroupingConfig};
use crate::metrics::Metrics;
use crate::repo::Tenant;
use crate::spool::{DigestWake, SpoolStore, Spooled};

/// Most envelopes digested in one transaction. Memory under a burst scales with it: measured on
/// the SQLite bench, 512 rows (2 MiB) peaked at ~190 MiB RSS, 256 rows (1 MiB) at 156 MiB.
pub const MAX_ROWS: i64 = 256;
/// Stored envelope bytes per batch (with the row cap, bounds the memory of parsed payloads).
pub const MAX_BYTES: i64 = 1 << 20;
/// How often an idle digest looks for rows other processes spooled.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs the digest until `stop` is cancelled (the batch being written is finished first).
///
/// Pipelined: while one batch is written (a database transaction, one core at most), the next
/// is read and prepared (CPU on the digest's threads), so a backlog drains with both cores busy.
///
/// In lockstep (each step waits for both), not with a queue between a reader and a writer:
/// measured on the SQLite bench (e2e/BENCH.md), a reader preparing the next batch while a
/// prepared one waited for the writer (three batches alive instead of two) drained 3-8 % faster,
/// about the bench's run-to-run spread, and took the 10x overload's peak RSS to 151-157 MiB
/// (140-149 in lockstep), over the 150 MiB limit.
/// A batch that was read ahead but not written when the write before it fails is dropped
/// unwritten (PostgreSQL: its claim rolls back; SQLite: its rows are read again).
pub async fn run(
    db: Db,
    store: SpoolStore,
    wake: DigestWake,
    metrics: Arc<Metrics>,
    maps: Arc<Symbolicator>,
    stop: CancellationToken,
) {
    let mut pause = Duration::from_millis(200);
    let mut vacuum = SpoolVacuum::default();
    let mut ready: Option<Ready> = None;
    while !stop.is_cancelled() {
        let step = match ready.take() {
            None => fetch(&db, &store, &maps, None).await,
            Some(current) => {
                let after = current.continues_after();
                let started = Instant::now();
                let ((written, write_took), (next, fetch_took)) = tokio::join!(
                    timed(write(&db, current, &metrics, started)),
                    timed(fetch(&db, &store, &maps, after))
                );
                // Which side of the step waited for the other.
                debug!(
                    write_ms = write_took.as_secs_f64() * 1e3,
                    fetch_ms = fetch_took.as_secs_f64() * 1e3,
                    "digest step"
                );
                match written {
                    Ok(written) => {
                        vacuum.consumed += written.envelopes;
                        // Read ahead from where the written batch left off; a lost race means
                        // another process moved on, so start again from its cursor.
                        match written.raced {
                            true => Ok(None),
                            false => next,
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        };
        metrics
            .sourcemap_cache_bytes
            .set(i64::try_from(maps.cache_stats().bytes).unwrap_or(i64::MAX));
        match step {
            Ok(Some(next)) => {
                pause = Duration::from_millis(200);
                ready = Some(next);
            }
            Ok(None) => {
                pause = Duration::from_millis(200);
                vacuum.when_idle(&store).await;
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Err(e) => {
                metrics.count_job("digest", "failed");
                error!(
                    error = format!("{e:#}"),
                    retry_in_ms = pause.as_millis() as u64,
                    "digest batch failed; retrying"
                );
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// `future`'s output and how long it took.
async fn timed<T>(future: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let output = future.await;
    (output, started.elapsed())
}

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digested {
    /// Spool rows consumed (0: there was nothing to do).
    pub envelopes: usize,
    /// Events stored.
    pub events: usize,
}

/// PostgreSQL: deleted spool rows leave dead space that autovacuum reclaims on its own
/// schedule, and the table's file only shrinks when a vacuum finds its tail empty. Once the
/// digest has caught up after consuming many rows, it vacuums the spool itself (at most every
/// 10 s; the vacuum does not block ingest's inserts, and on a drained spool it is quick). SQLite's spool file gives its free pages
/// back as it goes (see `spool`).
#[derive(Default)]
struct SpoolVacuum {
    consumed: usize,
    last: Option<Instant>,
}

/// Rows consumed before a vacuum is worth it.
const VACUUM_AFTER_ROWS: usize = 10_000;
/// Least time between two vacuums. A minute left a drained burst's 430 MB of dead rows on disk
/// for up to that long after a quiet start (the 10,000 rows of a slow hour count too).
const VACUUM_EVERY: Duration = Duration::from_secs(10);

impl SpoolVacuum {
    async fn when_idle(&mut self, store: &SpoolStore) {
        let SpoolStore::Postgres(pool) = store else {
            return;
        };
        if self.consumed < VACUUM_AFTER_ROWS
            || self.last.is_some_and(|t| t.elapsed() < VACUUM_EVERY)
        {
            return;
        }
        self.last = Some(Instant::now());
        self.consumed = 0;
        match sqlx::query(crate::repo::spool::VACUUM).execute(pool).await {
            Ok(_) => debug!("spool vacuumed"),
            Err(e) => warn!(error = %e, "cannot vacuum the spool"),
        }
    }
}

/// Digests one batch.
pub async fn digest_next(
    db: &Db,
    store: &SpoolStore,
    metrics: &Metrics,
    maps: &Symbolicator,
) -> anyhow::Result<Digested> {
    let started = Instant::now();
    match fetch(db, store, maps, None).await? {
        Some(ready) => Ok(write(db, ready, metrics, started).await?.digested()),
        None => Ok(Digested::default()),
    }
}

/// A batch read from the spool and prepared, not written yet.
struct Ready {
    claim: Claim,
    /// Its last spool row.
    last_id: i64,
    /// Spool rows it consumes (rows of deleted projects included).
    envelopes: usize,
    prepared: prepare::PreparedBatch,
}

/// How a batch holds its rows until it is written.
enum Claim {
    /// SQLite: by position. The write moves the cursor from `from` (none yet: no row) to the
    /// batch's last row, only if nobody moved it meanwhile.
    Sqlite {
        spool_id: Arc<str>,
        from: Option<i64>,
    },
    /// PostgreSQL: the rows are locked by the transaction that will store their effects and
    /// delete them.
    Postgres {
        txn: DatabaseTransaction,
        ids: Vec<i64>,
    },
}

impl Ready {
    /// Where the next batch starts if this one is written: SQLite after its last row;
    /// PostgreSQL needs no position (a concurrent claim skips locked rows).
    fn continues_after(&self) -> Option<i64> {
        match self.claim {
            Claim::Sqlite { .. } => Some(self.last_id),
            Claim::Postgres { .. } => None,
        }
    }
}

/// What writing a batch did.
struct Written {
    envelopes: usize,
    events: usize,
    /// SQLite: another process had digested these rows; nothing was written.
    raced: bool,
}

impl Written {
    fn digested(&self) -> Digested {
        Digested {
            envelopes: self.envelopes,
            events: self.events,
        }
    }
}

/// Reads and prepares the next batch: SQLite's rows after `after` (else after the stored
/// cursor), PostgreSQL's first unclaimed rows. `None` when there is nothing to digest.
async fn fetch(
    db: &Db,
    store: &SpoolStore,
    maps: &Symbolicator,
    after: Option<i64>,
) -> anyhow::Result<Option<Ready>> {
    match store {
        SpoolStore::Sqlite { pool, spool_id, .. } => {
            let from = match after {
                Some(id) => Some(id),
                None => read_cursor(db, spool_id).await?,
            };
            let rows =
                SpoolStore::sqlite_rows_after(pool, from.unwrap_or(0), MAX_ROWS, MAX_BYTES).await?;
            let Some(last_id) = rows.last().map(|r| r.row.id) else {
                return Ok(None);
            };
            let envelopes = rows.len();
            let (rows, rules) = with_existing_projects(db.conn(), rows).await?;
            let maps = maps.maps_for(db.conn(), &rows).await?;
            let prepared = prepare_off_executor(rows, rules, maps).await?;
            Ok(Some(Ready {
                claim: Claim::Sqlite {
                    spool_id: spool_id.clone(),
                    from,
                },
                last_id,
                envelopes,
                prepared,
            }))
        }
        SpoolStore::Postgres(_) => {
            let txn = db.begin_write().await?;
            // Plan every statement for the tables as they are now. The spool and the events
            // grow from nothing in a burst; a generic plan cached while they were small scans
            // them whole (the claim's `id = ANY($1)` went through the whole backlog).
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                .await?;
            // Every statement of the digest is a keyed lookup or write. While the events heap
            // is a few hundred pages (payloads live in TOAST), the planner costs the duplicate
            // check `event_id IN (256 ids)` as cheaper by a scan of every event than by 256
            // probes of the unique index; measured (auto_explain, bench): 25 ms per batch at
            // 13,790 events and growing with the table, 10.3 s of 14 s of the digest's queries
            // in a bench run. The claim's `id = ANY($1)` did the same on the spool.
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await?;
            let sizes = crate::repo::spool::claim_all_accounts(&txn, MAX_ROWS).await?;
            let Some(last_id) = crate::spool::within_budget(&sizes, MAX_BYTES) else {
                return Ok(None);
            };
            let ids: Vec<i64> = sizes
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| *id <= last_id)
                .collect();
            let rows = claimed_rows(&txn, &ids).await?;
            let envelopes = rows.len();
            let (rows, rules) = with_existing_projects(&txn, rows).await?;
            let maps = maps.maps_for(&txn, &rows).await?;
            let prepared = prepare_off_executor(rows, rules, maps).await?;
            Ok(Some(Ready {
                claim: Claim::Postgres { txn, ids },
                last_id,
                envelopes,
                prepared,
            }))
        }
    }
}

/// Stores a prepared batch's effects in one transaction and takes its rows off the backlog.
async fn write(
    db: &Db,
    ready: Ready,
    metrics: &Metrics,
    started: Instant,
) -> anyhow::Result<Written> {
    let Ready {
        claim,
        last_id,
        envelopes,
        prepared,
    } = ready;
    let frames = prepared.frames;
    let result = match claim {
        Claim::Sqlite { spool_id, from } => {
            let txn = db.begin_write().await?;
            let result = write::write_batch(&txn, prepared).await?;
            if !advance_cursor(&txn, &spool_id, from, last_id).await? {
                // Another process digested these rows meanwhile; ours are rolled back.
                txn.rollback().await?;
                debug!("spool rows taken by another digest");
                return Ok(Written {
                    envelopes,
                    events: 0,
                    raced: true,
                });
            }
            txn.commit().await?;
            // The rows stay in the spool file until its writer deletes them
            // (`SpoolStore::upkeep`): it is the file's only writer, so ingest's commits never
            // wait for the digest.
            result
        }
        Claim::Postgres { txn, ids } => {
            let result = write::write_batch(&txn, prepared).await?;
            crate::repo::spool::delete_all_accounts(&txn, ids).await?;
            txn.commit().await?;
            result
        }
    };
    crate::notify::publish(db, &result.notices).await;
    crate::alert::trigger::submit(db, result.alerts).await;
    debug!(envelopes, events.stored = result.stored, "digested");
    metrics.count_job("digest", "completed");
    metrics.count_frames(frames.0, frames.1);
    metrics
        .job_duration
        .get_or_create(&crate::metrics::RouteLabels {
            method: "batch".to_owned(),
            route: "digest".to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    Ok(Written {
        envelopes,
        events: result.stored,
        raced: false,
    })
}

async fn claimed_rows(txn: &DatabaseTransaction, ids: &[i64]) -> anyhow::Result<Vec<Spooled>> {
    Ok(crate::repo::spool::claimed_rows_all_accounts(txn, ids)
        .await?
        .into_iter()
        .map(|(row, encoding)| Spooled { row, encoding })
        .collect())
}

/// Drops rows of projects that no longer exist; returns the rest and their projects' rules.
async fn with_existing_projects(
    conn: &impl ConnectionTrait,
    rows: Vec<Spooled>,
) -> anyhow::Result<(Vec<Spooled>, HashMap<i64, GroupingConfig>)> {
    let projects = prepare::projects_of(rows.iter().map(|r| r.row.project_id));
    let accounts = prepare::projects_of(rows.iter().map(|r| r.row.account_id));
    let rules = load_rules(conn, &accounts, &projects).await?;
    let before = rows.len();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| rules.contains_key(&r.row.project_id))
        .collect();
    if rows.len() < before {
        warn!(
            dropped = before - rows.len(),
            "spooled envelopes of deleted projects dropped"
        );
    }
    Ok((rows, rules))
}

/// Decoding, parsing, grouping and compressing are CPU work: off the async executor (so ingest
/// requests on the same threads are not held up), split across the cores for large batches, on
/// the digest's own low-priority threads ([`super::cpu`]: a burst of requests gets the CPU first). A row
/// whose stored bytes do not decode (disk damage) is dropped with a log line rather than
/// blocking the rows after it.
async fn prepare_off_executor(
    rows: Vec<Spooled>,
    rules: HashMap<i64, GroupingConfig>,
    maps: BatchMaps,
) -> anyhow::Result<prepare::PreparedBatch> {
    let maps = Arc::new(maps);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = prepare::parts_for(rows.len(), cores);
    let per_part = rows.len().div_ceil(parts.max(1)).max(1);
    let rules = Arc::new(rules);
    let mut rows = rows.into_iter().peekable();
    let mut tasks = Vec::with_capacity(parts);
    while rows.peek().is_some() {
        let chunk: Vec<Spooled> = rows.by_ref().take(per_part).collect();
        let rules = rules.clone();
        let maps = maps.clone();
        tasks.push(super::cpu::run(move || {
            let rows = chunk
                .into_iter()
                .filter_map(|spooled| {
                    let id = spooled.row.id;
                    spooled
                        .decode()
                        .map_err(|e| {
                            error!(
                                spool.id = id,
                                error = format!("{e:#}"),
                                "spooled envelope does not decode; dropped"
                            )
                        })
                        .ok()
                })
                .collect();
            prepare::prepare(rows, &rules, &maps)
        }));
    }
    // Polled together: each part is queued to a digest thread as soon as the join starts.
    let prepared = futures::future::try_join_all(tasks).await?;
    Ok(prepare::merge(prepared))
}

/// Each project's grouping configuration (its fingerprint rules), in one query. A project
/// missing here groups with no rules. `accounts` are the accounts of the rows' projects.
async fn load_rules(
    conn: &impl ConnectionTrait,
    accounts: &[i64],
    projects: &[i64],
) -> anyhow::Result<HashMap<i64, GroupingConfig>> {
    let tenants: Vec<Tenant> = accounts
        .iter()
        .map(|a| Tenant::ingested(crate::ids::AccountId(*a)))
        .collect();
    let rows = crate::repo::digest::fingerprint_rules(conn, &tenants, projects).await?;
    let mut configs = HashMap::with_capacity(rows.len());
    for (project_id, text) in rows {
        let rules = FingerprintRules::parse(&text).unwrap_or_else(|e| {
            // Rules are validated when saved; a stored rule set that no longer parses is
            // ignored rather than blocking the project's events.
            warn!(project.id = project_id, error = %e, "ignoring unparseable fingerprint rules");
            FingerprintRules::default()
        });
        configs.insert(project_id, GroupingConfig { rules });
    }
    Ok(configs)
}

async fn read_cursor(db: &Db, spool_id: &str) -> anyhow::Result<Option<i64>> {
    let conn = db.conn();
    Ok(conn
        .query_one_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "SELECT last_id FROM spool_cursors WHERE spool_id = ?",
            [spool_id.into()],
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "last_id"))
        .transpose()?)
}

/// Moves the cursor from `from` to `to`; false when another digest moved it first.
async fn advance_cursor(
    txn: &DatabaseTransaction,
    spool_id: &str,
    from: Option<i64>,
    to: i64,
) -> anyhow::Result<bool> {
    let backend = txn.get_database_backend();
    let now = Utc::now();
    let changed = match from {
        Some(from) => txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE spool_cursors SET last_id = ?, updated_at = ? \
                 WHERE spool_id = ? AND last_id = ?",
                [to.into(), now.into(), spool_id.into(), from.into()],
            ))
            .await?
            .rows_affected(),
        None => txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO spool_cursors (spool_id, last_id, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT (spool_id) DO NOTHING",
                [spool_id.into(), to.into(), now.into()],
            ))
            .await?
            .rows_affected(),
    };
    Ok(changed == 1)
}

/// Digests everything spooled so far; returns the events stored.
pub async fn drain(
    db: &Db,
    store: &SpoolStore,
    metrics: &Metrics,
    maps: &Symbolicator,
) -> anyhow::Result<usize> {
    let mut events = 0;
    loop {
        match digest_next(db, store, metrics, maps).await? {
            Digested { envelopes: 0, .. } => return Ok(events),
            done => events += done.events,
        }
    }
}
