//! The database connection: one sqlx pool per process, shared by sea-orm (our tables) and apalis
//! (the job queue). SQLite runs in WAL mode with a busy timeout and foreign keys on; PostgreSQL
//! with a sized pool and a connect timeout.
//!
//! Invariant: this is the only module that knows which engine is behind the connection; the rest
//! of the crate writes SQL both engines accept (sea-query) or asks [`Db::kind`].

use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, SqliteTransactionMode, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;

use crate::secret::DatabaseUrl;

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite file (self-hosted default).
    Sqlite,
    /// PostgreSQL server (SaaS and scale-out).
    Postgres,
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Connection URL; its password never appears in logs.
    pub url: DatabaseUrl,
    /// Engine selected by the URL scheme.
    pub kind: DatabaseKind,
    /// For SQLite, the database file (its folder is created on start).
    pub sqlite_path: Option<PathBuf>,
    /// Pool size.
    pub max_connections: u32,
}

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting or acquiring a pooled connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine-specific pool, for code (apalis) that needs the raw sqlx pool.
#[derive(Clone, Debug)]
pub enum Pool {
    /// Embedded SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
}

/// A connected database.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    pool: Pool,
    statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
    bus: tokio::sync::broadcast::Sender<crate::change::Notice>,
}

/// Why the database could not be opened, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The SQLite folder could not be created.
    #[error(
        "cannot create the database folder {path}: {source}; check permissions or set DATABASE_URL"
    )]
    CreateFolder {
        /// Folder that failed.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The connection failed.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// Redacted URL.
        url: String,
        /// What the driver said, shortened.
        reason: String,
    },
}

impl Db {
    /// Opens the database described by `config` (creating the SQLite file and its folder).
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, ConnectError> {
        let url = config.url.redacted();
        let fail = |e: sqlx::Error| ConnectError::Connect {
            url: url.clone(),
            reason: describe_sqlx_error(&e),
        };
        match config.kind {
            DatabaseKind::Sqlite => {
                if let Some(folder) = config.sqlite_path.as_ref().and_then(|p| p.parent())
                    && !folder.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(folder).map_err(|source| {
                        ConnectError::CreateFolder {
                            path: folder.display().to_string(),
                            source,
                        }
                    })?;
                }
                let options = SqliteConnectOptions::from_str(config.url.expose())
                    .map_err(fail)?
                    .create_if_missing(true)
                    // New databases only (an existing file keeps its size). Stored events are
                    // 2-4 KiB rows: with 4 KiB pages each takes a page of its own, with 16 KiB
                    // pages they pack (measured: 4.1 KiB → 3.x KiB per event on the corpus).
                    .page_size(16384)
                    .journal_mode(SqliteJournalMode::Wal)
                    // NORMAL in WAL mode: a committed transaction survives a process crash; only
                    // an OS crash may lose the last commits. apalis' setup sets OFF on one
                    // connection; `after_connect` below restores NORMAL for every connection.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    .pragma("temp_store", "MEMORY")
                    .disable_statement_logging();
                let pool = SqlitePoolOptions::new()
                    .max_connections(config.max_connections)
                    .min_connections(1)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(fail)?;
                Ok(Self::counted(
                    SqlxSqliteConnector::from_sqlx_sqlite_pool(pool.clone()),
                    Pool::Sqlite(pool),
                ))
            }
            DatabaseKind::Postgres => {
                let options = PgConnectOptions::from_str(config.url.expose())
                    .map_err(fail)?
                    .application_name("errorwatch")
                    .disable_statement_logging();
                let pool = PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .min_connections(1)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    // A connection's buffers grow to the largest message it ever sent or read
                    // (a spool group commit or a digest batch: megabytes) and never shrink on
                    // their own; handed back to the pool, they go back to 8 KiB, so idle
                    // connections do not each hold a burst's peak.
                    .after_release(|conn, _| {
                        Box::pin(async move {
                            sqlx::Connection::shrink_buffers(conn);
                            Ok(true)
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(fail)?;
                Ok(Self::counted(
                    SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone()),
                    Pool::Postgres(pool),
                ))
            }
        }
    }

    /// Wraps a connection, counting every statement sea-orm runs on it (apalis' own queries on
    /// the raw pool are not counted).
    fn counted(mut conn: DatabaseConnection, pool: Pool) -> Self {
        let statements = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = statements.clone();
        conn.set_metric_callback(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        Self {
            conn,
            pool,
            statements,
            bus: tokio::sync::broadcast::channel(crate::change::BUS_CAPACITY).0,
        }
    }

    /// This process' bus of data changes (see [`crate::notify`]).
    pub fn bus(&self) -> &tokio::sync::broadcast::Sender<crate::change::Notice> {
        &self.bus
    }

    /// Statements run through sea-orm since the process started (for `/metrics` and for tests
    /// that prove a request runs a bounded number of queries).
    pub fn statements(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The sea-orm connection (crate-private: entities stay inside `core`).
    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The sea-orm connection, for the migration runner only.
    pub fn conn_for_migrations(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The raw pool (for the job queue).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Which engine this is.
    pub fn kind(&self) -> DatabaseKind {
        match self.pool {
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            Pool::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
    /// transaction that reads first and writes later fails at once with `SQLITE_BUSY_SNAPSHOT`
    /// when another connection committed in between (busy_timeout does not help there).
    pub(crate) async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
        self.conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    }

    /// Runs a trivial query; used by `/health/ready`.
    pub async fn ping(&self) -> Result<(), sea_orm::DbErr> {
        self.conn.execute_unprepared("SELECT 1").await.map(|_| ())
    }

    /// Closes every pooled connection (SQLite then checkpoints its WAL).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// Shortens driver errors to the part an operator can act on.
fn describe_sqlx_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) => format!("{io} (is the server running and reachable?)"),
        sqlx::Error::PoolTimedOut => "timed out (is the server running and reachable?)".to_owned(),
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}
