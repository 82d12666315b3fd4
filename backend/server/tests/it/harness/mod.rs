//! Test harness: `TestApp::spawn(backend)` starts the real application (the same
//! `Application::run_until_stopped` as production) against a fresh database, and
//! `db_test!` turns one async test body into a `sqlite` and a `postgres` test.
//!
//! PostgreSQL tests need `DATABASE_URL=postgres://…` pointing at a server where the user may
//! create databases; `infra/test.sh` starts a throwaway cluster and sets it. Each test gets a
//! database cloned from a template migrated once per schema version, dropped when the test ends.

pub mod db;
pub mod gql;
/// The SMTP sink the browser tests use too (`errorwatch_e2e::smtp`).
pub use errorwatch_e2e::smtp;
/// The Stripe stand-in the browser tests use too (`errorwatch_e2e::stripe`).
pub use errorwatch_e2e::stripe;
pub mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use errorwatch_core::config::Config;
use errorwatch_core::db::Db;
use errorwatch_core::jobs::JobQueue;
use errorwatch_server::app::{Application, Roles};
use tokio_util::sync::CancellationToken;

pub use db::{Backend, TestDatabase};
pub use smtp::SmtpSink;

/// Declares one test per backend: `db_test!(async fn name(backend) { ... })` expands to a
/// module `name` with tests `sqlite` and `postgres`.
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($backend: $crate::harness::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body($crate::harness::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                body($crate::harness::Backend::Postgres).await
            }
        }
    };
}
pub(crate) use db_test;

/// A running application on an ephemeral port.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub address: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The database (same pool as the app).
    pub db: Db,
    /// The job queue.
    pub queue: JobQueue,
    /// The ingest spool (its backlog is work the digest has not done yet).
    pub spool: errorwatch_core::spool::SpoolStore,
    /// The configuration the app runs with.
    pub config: Config,
    /// The SMTP server the app sends email to.
    pub smtp: SmtpSink,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Owned by the first app on a database (dropped with it); `None` for a second process.
    _database: Option<TestDatabase>,
    database_url: String,
}

impl TestApp {
    /// Starts the app with workers on a fresh database.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts the app with extra environment settings (e.g. `ERRORWATCH_PUBLIC_URL`).
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let database = TestDatabase::create(backend).await;
        let url = database.url().to_owned();
        Self::start(Some(database), url, SmtpSink::start().await, extra, true).await
    }

    /// Starts the app without workers: ingest spools envelopes and nothing digests them until
    /// the test calls [`TestApp::digest_spooled`], so a test decides what one batch holds.
    pub async fn spawn_ingest_only(backend: Backend) -> Self {
        Self::spawn_ingest_only_with(backend, &[]).await
    }

    /// [`TestApp::spawn_ingest_only`] with extra environment settings.
    pub async fn spawn_ingest_only_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let database = TestDatabase::create(backend).await;
        let url = database.url().to_owned();
        Self::start(Some(database), url, SmtpSink::start().await, extra, false).await
    }

    /// A second server process on this app's database and mail server (scale-out tests: the
    /// workers of both take jobs from the one queue).
    pub async fn spawn_sharing(&self, extra: &[(&str, &str)]) -> Self {
        Self::start(
            None,
            self.database_url.clone(),
            self.smtp.clone(),
            extra,
            true,
        )
        .await
    }

    /// A second server on this app's database without workers (no digest, no jobs): what it
    /// runs is only what its requests run.
    pub async fn spawn_sharing_without_workers(&self, extra: &[(&str, &str)]) -> Self {
        Self::start(
            None,
            self.database_url.clone(),
            self.smtp.clone(),
            extra,
            false,
        )
        .await
    }

    async fn start(
        database: Option<TestDatabase>,
        database_url: String,
        smtp: SmtpSink,
        extra: &[(&str, &str)],
        workers: bool,
    ) -> Self {
        errorwatch_core::telemetry::init_for_tests();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("ERRORWATCH_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("ERRORWATCH_WORKER_POLL_MS".to_owned(), "20".to_owned()),
            (
                "ERRORWATCH_WORKER_HEARTBEAT_SECS".to_owned(),
                "2".to_owned(),
            ),
            ("ERRORWATCH_DB_MAX_CONNECTIONS".to_owned(), "5".to_owned()),
            ("ERRORWATCH_SMTP_URL".to_owned(), smtp.url.clone()),
            // Tests sign up many users; the self-hosted default (`first-user`, closed after the
            // first) is tested with `("ERRORWATCH_SIGNUP", "")`.
            ("ERRORWATCH_SIGNUP".to_owned(), "open".to_owned()),
            (
                "ERRORWATCH_FRONTEND_DIR".to_owned(),
                "/nonexistent/errorwatch-test".to_owned(),
            ),
        ]);
        for (key, value) in extra {
            if value.is_empty() {
                // An empty value unsets a default of the harness.
                vars.remove(*key);
            } else {
                vars.insert((*key).to_owned(), (*value).to_owned());
            }
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid");
        let application = Application::build(
            config.clone(),
            Roles {
                http: true,
                workers,
            },
        )
        .await
        .expect("application builds");
        let addr: SocketAddr = application.local_addr().expect("bound");
        let db = application.db().clone();
        let queue = application.queue().clone();
        let spool = application.spool().clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(application.run_until_stopped(shutdown.clone()));
        Self {
            address: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            db,
            queue,
            spool,
            config,
            smtp,
            shutdown,
            task: Some(task),
            _database: database,
            database_url,
        }
    }

    /// `address` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// The database URL, for running the real binary against the same database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Waits until every spooled envelope is digested and no job is waiting, scheduled or
    /// running (the app's own digest and workers do the work). Panics after 30 s with the
    /// queue's state.
    pub async fn run_pending_jobs(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let spooled = self.spool.backlog().await.expect("spool readable");
            let outstanding = self.queue.outstanding(true).await.expect("queue readable");
            if spooled == 0 && outstanding == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{spooled} envelopes still spooled and {outstanding} jobs outstanding after 30 s: {:?}",
                self.queue.stats().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs a `SELECT COUNT(*) …` (or any single-integer query) on the app's database.
    pub async fn scalar(&self, sql: &'static str) -> i64 {
        match self.db.pool() {
            errorwatch_core::db::Pool::Sqlite(pool) => {
                sqlx::query_scalar(sql).fetch_one(pool).await
            }
            errorwatch_core::db::Pool::Postgres(pool) => {
                sqlx::query_scalar(sql).fetch_one(pool).await
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a statement on the app's database (to age or remove rows the way time would).
    pub async fn execute(&self, sql: &'static str) {
        match self.db.pool() {
            errorwatch_core::db::Pool::Sqlite(pool) => {
                sqlx::query(sql).execute(pool).await.map(drop)
            }
            errorwatch_core::db::Pool::Postgres(pool) => {
                sqlx::query(sql).execute(pool).await.map(drop)
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Digests every spooled envelope as one batch, the way a `DigestSpool` job does; returns
    /// the events stored. (With workers running, their own jobs may have taken rows already.)
    pub async fn digest_spooled(&self) -> usize {
        let metrics = errorwatch_core::metrics::Metrics::new();
        let maps = errorwatch_core::digest::symbolicate::Symbolicator::new(&self.config.artifacts);
        let done =
            errorwatch_core::digest::runner::digest_next(&self.db, &self.spool, &metrics, &maps)
                .await
                .expect("digest");
        assert_eq!(
            self.spool.backlog().await.expect("spool readable"),
            0,
            "one batch takes everything spooled ({} envelopes taken)",
            done.envelopes
        );
        done.events
    }

    /// Stops the app gracefully and returns its result.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let task = self.task.take().expect("running");
        task.await.expect("app task")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
