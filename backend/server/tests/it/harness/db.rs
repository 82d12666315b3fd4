//! Throwaway databases for tests: a SQLite file in a temp folder, or a PostgreSQL database
//! cloned from a migrated template (created once per schema version, under an advisory lock so
//! parallel test processes agree).

use std::sync::atomic::{AtomicU64, Ordering};

use errorwatch_core::config::Config;
use errorwatch_migration::{Migrator, MigratorTrait};
use sqlx::Connection;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A database on the server in `DATABASE_URL`.
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    )
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// The PostgreSQL server for tests, with the database part replaced by `database`.
pub fn postgres_url(database: &str) -> String {
    let raw = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    let Some(raw) = raw else {
        panic!(
            "PostgreSQL tests need DATABASE_URL=postgres://user@host:port/db (a user that may \
             CREATE DATABASE); `infra/test.sh` starts a throwaway cluster and sets it"
        )
    };
    let mut url = url::Url::parse(&raw).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// Template name: changes whenever the list of migrations changes.
fn template_name() -> String {
    // FNV-1a over the migration names: stable across runs and toolchains.
    let mut hash: u64 = 0xcbf29ce484222325;
    for migration in Migrator::migrations() {
        for byte in migration.name().bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    }
    format!("errorwatch_tpl_{hash:016x}")
}

async fn ensure_template(admin_url: &str) -> String {
    let template = template_name();
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query("SELECT pg_advisory_lock(7391103)")
        .execute(&mut admin)
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut admin)
            .await
            .expect("query pg_database");
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{template}\""
        )))
        .execute(&mut admin)
        .await
        .expect("create template");
        let url = postgres_url(&template);
        let config =
            Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone())).expect("config");
        let db = errorwatch_server::app::prepare_database(&config)
            .await
            .expect("migrate template");
        db.close().await;
    }
    sqlx::query("SELECT pg_advisory_unlock(7391103)")
        .execute(&mut admin)
        .await
        .expect("unlock");
    let _ = admin.close().await;
    template
}

impl TestDatabase {
    /// Creates an empty (SQLite) or migrated (PostgreSQL) database.
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/errorwatch.db", dir.path().display());
                Self {
                    url,
                    cleanup: Cleanup::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_url("postgres");
                let template = ensure_template(&admin_url).await;
                let name = format!("errorwatch_test_{}", unique_suffix());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                )))
                .execute(&mut admin)
                .await
                .expect("create test database");
                let _ = admin.close().await;
                Self {
                    url: postgres_url(&name),
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
        }
    }

    /// The connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs outside any runtime guarantee: use a private one on its own thread.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await?;
                    admin.close().await
                })?;
                Ok::<(), anyhow::Error>(())
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("warning: could not drop test database {}", self.url);
            }
        }
    }
}
