//! `Application`: builds everything a process needs from a [`Config`] and runs it until a
//! shutdown token is cancelled. Production (`cli.rs`) and the integration tests use this same
//! code path.
//!
//! Shutdown order: stop accepting connections and let in-flight requests finish; stop workers
//! fetching and let running jobs finish (tasks fetched but not started go back to the queue);
//! close the database. Everything is bounded by `ERRORWATCH_SHUTDOWN_TIMEOUT_SECS`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use errorwatch_core::billing::quota::{QuotaConfig, Quotas};
use errorwatch_core::billing::stripe::Stripe;
use errorwatch_core::config::{Config, DatabaseKind};
use errorwatch_core::db::{Db, Pool};
use errorwatch_core::digest::retention::{self, EvictEvents};
use errorwatch_core::jobs::{self, JobQueue, WorkerOptions};

use crate::worker::Workers;
use errorwatch_core::mail::Mailer;
use errorwatch_core::metrics::Metrics;
use errorwatch_core::outcome::OutcomeBuffer;
use errorwatch_core::service::auth::Auth;
use errorwatch_core::service::purge::PurgeDeleted;
use errorwatch_core::spool::{DigestWake, Spool, SpoolStore};
use errorwatch_migration::{Migrator, MigratorTrait};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::http::{self, AppState};

/// Which parts of the product this process runs.
#[derive(Clone, Copy, Debug)]
pub struct Roles {
    /// Serve HTTP.
    pub http: bool,
    /// Run job workers and the scheduler.
    pub workers: bool,
}

/// A built, not yet running, application.
pub struct Application {
    config: Arc<Config>,
    db: Db,
    metrics: Arc<Metrics>,
    queue: JobQueue,
    auth: Auth,
    mailer: Mailer,
    spool: SpoolStore,
    stripe: Option<Stripe>,
    listener: Option<TcpListener>,
    roles: Roles,
}

/// Connects to the database and applies pending migrations (ours and apalis').
pub async fn prepare_database(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database)
        .await
        .context("DATABASE_URL")?;
    migrate(&db).await?;
    errorwatch_core::billing::plan::seed_plans(&db, &config.billing.plans)
        .await
        .context("storing the configured plans")?;
    Ok(db)
}

/// Applies migrations; on PostgreSQL several starting processes take turns via an advisory lock.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    let lock = match db.pool() {
        Pool::Postgres(pool) => {
            let mut conn = pool
                .acquire()
                .await
                .context("migrations: cannot get a connection")?;
            sqlx::query("SELECT pg_advisory_lock(7391102)")
                .execute(&mut *conn)
                .await
                .context("migrations: cannot take the migration lock")?;
            Some(conn)
        }
        Pool::Sqlite(_) => None,
    };
    let result = async {
        Migrator::up(db.conn_for_migrations(), None)
            .await
            .context("applying migrations")?;
        jobs::setup_queue_tables(db)
            .await
            .context("creating the job queue tables")
    }
    .await;
    if let Some(mut conn) = lock {
        sqlx::query("SELECT pg_advisory_unlock(7391102)")
            .execute(&mut *conn)
            .await
            .context("migrations: cannot release the migration lock")?;
    }
    result
}

/// True when every migration is applied.
pub async fn migrations_applied(db: &Db) -> anyhow::Result<bool> {
    Ok(Migrator::get_pending_migrations(db.conn_for_migrations())
        .await?
        .is_empty())
}

impl Application {
    /// Connects, migrates and (for HTTP roles) binds the listener, so a port conflict is
    /// reported before anything runs.
    pub async fn build(config: Config, roles: Roles) -> anyhow::Result<Self> {
        let db = prepare_database(&config).await?;
        let listener = if roles.http {
            let addr = config.http.listen;
            let listener = TcpListener::bind(addr).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
                    "ERRORWATCH_LISTEN: {addr} is already in use; stop the other process or choose another port (e.g. ERRORWATCH_LISTEN=127.0.0.1:{})",
                    addr.port().wrapping_add(1)
                ),
                std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
                    "ERRORWATCH_LISTEN: not allowed to bind {addr}; use a port above 1024"
                ),
                _ => anyhow::anyhow!("ERRORWATCH_LISTEN: cannot bind {addr}: {e}"),
            })?;
            Some(listener)
        } else {
            None
        };
        let metrics = Metrics::new();
        let queue = JobQueue::new(db.clone(), metrics.clone());
        let auth = Auth::new(db.clone(), &config, queue.clone())
            .await
            .context("loading the session signing key")?;
        let mailer = Mailer::from_config(&config.mail).context("ERRORWATCH_SMTP_URL")?;
        let spool = SpoolStore::open(&config.database, &db)
            .await
            .context("opening the ingest spool")?;
        let stripe = config
            .billing
            .stripe
            .as_ref()
            .map(|stripe| {
                Stripe::new(
                    stripe,
                    &config.billing.default_plan,
                    &config.http.public_url,
                )
            })
            .transpose()?;
        Ok(Self {
            spool,
            stripe,
            config: Arc::new(config),
            db,
            metrics,
            queue,
            auth,
            mailer,
            listener,
            roles,
        })
    }

    /// The bound address (HTTP roles only).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The ingest spool.
    pub fn spool(&self) -> &SpoolStore {
        &self.spool
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The authentication service.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The job queue.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// Runs until `shutdown` is cancelled, then stops gracefully.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let timeout = self.config.http.shutdown_timeout;
        let engine = match self.db.kind() {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        };
        let mut tasks = tokio::task::JoinSet::new();
        // The spool writer wakes the digest (in this process) as soon as rows are committed.
        let wake = DigestWake::default();

        if self.roles.workers {
            let ctx = Workers {
                db: self.db.clone(),
                queue: self.queue.clone(),
                metrics: self.metrics.clone(),
                mailer: self.mailer.clone(),
                stripe: self.stripe.clone(),
                alerts: errorwatch_core::alert::Alerts::from_config(&self.config)?,
            };
            let options = WorkerOptions {
                poll_interval: self.config.worker.poll_interval,
                shutdown_timeout: timeout,
                heartbeat: self.config.worker.heartbeat,
            };
            let stop = shutdown.clone();
            tasks.spawn(supervise_workers(ctx, options, stop));
            let digest = errorwatch_core::digest::runner::run(
                self.db.clone(),
                self.spool.clone(),
                wake.clone(),
                self.metrics.clone(),
                std::sync::Arc::new(errorwatch_core::digest::symbolicate::Symbolicator::new(
                    &self.config.artifacts,
                )),
                shutdown.clone(),
            );
            tasks.spawn(async move {
                digest.await;
                Ok(())
            });
            let queue = self.queue.clone();
            let stop = shutdown.clone();
            let eviction = EvictEvents {
                max_age_days: self.config.worker.event_retention_days,
                max_events_per_project: self.config.worker.max_events_per_project,
                default_plan: Some(self.config.billing.default_plan.clone()),
            };
            let billing = self.stripe.is_some();
            tasks.spawn(async move {
                run_scheduler(queue, eviction, billing, stop).await;
                Ok(())
            });
        }

        if let Some(listener) = self.listener {
            let addr = listener.local_addr()?;
            // The spool writer ends once the router (holding the last `Spool` handle) is gone
            // and every queued envelope is committed.
            let (spool, writer) = Spool::start(
                self.spool.clone(),
                self.config.worker.spool_max_backlog,
                wake.clone(),
                self.metrics.clone(),
            );
            // Hot-path outcomes are flushed until the writer is done, so late requests count.
            let outcomes = OutcomeBuffer::default();
            let writer_done = CancellationToken::new();
            let flusher_stop = writer_done.clone();
            tasks.spawn(async move {
                let result = writer.await.context("ingest spool writer");
                writer_done.cancel();
                result
            });
            let quotas = Quotas::start(
                self.db.clone(),
                self.queue.clone(),
                QuotaConfig {
                    default_plan: self.config.billing.default_plan.clone(),
                    refresh: self.config.billing.quota_refresh,
                    public_url: self.config.http.public_url.to_string(),
                },
            )
            .await
            .context("loading plans")?;
            // Usage is written until the writer is done too, then the leases go back.
            let quota_task = quotas.clone().run(flusher_stop.clone());
            tasks.spawn(async move {
                quota_task.await;
                Ok(())
            });
            let flusher = outcomes.clone().run_flusher(self.db.clone(), flusher_stop);
            tasks.spawn(async move {
                flusher.await;
                Ok(())
            });
            let state = AppState::new(
                self.config.clone(),
                self.db.clone(),
                self.metrics.clone(),
                self.queue.clone(),
                http::IngestParts {
                    spool,
                    outcomes,
                    quotas,
                },
                self.auth.clone(),
                self.stripe.clone(),
            );
            // Limiter keys of idle clients are dropped every few minutes.
            let auth = self.auth.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(300));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return Ok(()),
                        _ = tick.tick() => auth.housekeeping(),
                    }
                }
            });
            // On PostgreSQL, change notices of every process reach this one's subscriptions.
            // (A finished task stops the process, so it only runs where there is a cluster.)
            if self.db.kind() == DatabaseKind::Postgres {
                let db = self.db.clone();
                let stop = shutdown.clone();
                tasks.spawn(async move {
                    errorwatch_core::notify::listen(db, stop).await;
                    Ok(())
                });
            }
            let router = http::router(state);
            let stop = shutdown.clone();
            info!(
                listen = %addr,
                database = engine,
                workers = self.roles.workers,
                "ErrorWatch listening on http://{addr} ({engine})"
            );
            tasks.spawn(async move {
                axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .context("HTTP server")
            });
        } else {
            info!(database = engine, "ErrorWatch worker running ({engine})");
        }

        // Run until a task fails or shutdown is requested; then give the rest `timeout`.
        let mut first_error = None;
        tokio::select! {
            _ = shutdown.cancelled() => {}
            Some(result) = tasks.join_next() => {
                if let Some(e) = flatten(result) { first_error = Some(e); }
                shutdown.cancel();
            }
        }
        let drained = tokio::time::timeout(timeout + Duration::from_secs(1), async {
            while let Some(result) = tasks.join_next().await {
                if let Some(e) = flatten(result) {
                    first_error.get_or_insert(e);
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!(
                timeout_secs = timeout.as_secs(),
                "shutdown timed out; abandoning in-flight work (unfinished jobs return to the queue)"
            );
            tasks.abort_all();
        }
        self.db.close().await;
        info!("ErrorWatch stopped");
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn flatten(result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> Option<anyhow::Error> {
    match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(e) if e.is_cancelled() => None,
        Err(e) => Some(anyhow::anyhow!("task panicked: {e}")),
    }
}

/// Runs the job workers until shutdown. A worker that dies (its database went away, say) is
/// restarted by the monitor; if the whole monitor stops, it is rebuilt after a growing pause.
/// Workers failing never take the HTTP server down with them.
async fn supervise_workers(
    ctx: Workers,
    options: WorkerOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut pause = Duration::from_secs(1);
    loop {
        let stop = shutdown.clone();
        let restart_stop = shutdown.clone();
        let monitor = ctx.monitor(&options).should_restart(move |worker, error| {
            let restart = !restart_stop.is_cancelled() && worker.restarts() < 20;
            warn!(worker = worker.name(), error = ?error, restart, "job worker failed");
            restart
        });
        let result = monitor
            .run_with_signal(async move {
                stop.cancelled().await;
                Ok(())
            })
            .await;
        if shutdown.is_cancelled() {
            return result.context("job workers");
        }
        match result {
            Ok(()) => warn!(
                "job workers stopped unexpectedly; restarting in {} s",
                pause.as_secs()
            ),
            Err(e) => error!(error = %e, "job workers failed; restarting in {} s", pause.as_secs()),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(60));
    }
}

/// Enqueues periodic maintenance jobs (and, with Stripe billing, the hourly reconcile).
/// Idempotency keys make several nodes agree.
async fn run_scheduler(
    queue: JobQueue,
    eviction: EvictEvents,
    billing: bool,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = jobs::prune::schedule_hourly(&queue).await {
                    warn!(error = format!("{e:#}"), "cannot schedule job pruning");
                }
                if let Err(e) = retention::schedule_hourly(&queue, eviction.clone()).await {
                    warn!(error = format!("{e:#}"), "cannot schedule event eviction");
                }
                let hour = chrono::Utc::now().timestamp() / 3600;
                let purge = queue.enqueue_with(&PurgeDeleted, jobs::EnqueueOptions {
                    delay: None,
                    idempotency_key: Some(format!("purge-deleted-{hour}")),
                });
                if let Err(e) = purge.await {
                    warn!(error = format!("{e:#}"), "cannot schedule the purge of deleted projects");
                }
                if billing && let Err(e) = jobs::billing::schedule_hourly(&queue).await {
                    warn!(error = format!("{e:#}"), "cannot schedule the Stripe reconcile");
                }
                let slot = chrono::Utc::now().timestamp() / 300;
                let sweep = queue.enqueue_with(
                    &errorwatch_core::alert::deliver::SweepNotifications,
                    jobs::EnqueueOptions {
                        delay: None,
                        idempotency_key: Some(format!("sweep-notifications-{slot}")),
                    },
                );
                if let Err(e) = sweep.await {
                    warn!(error = format!("{e:#}"), "cannot schedule the notification sweep");
                }
            }
        }
    }
}
