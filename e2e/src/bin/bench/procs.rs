//! The processes under test (`errorwatch serve`, the `return 200` reference, a throwaway
//! PostgreSQL) and what the bench reads from them (`/proc`, the database).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use sqlx::Row;

/// The release `errorwatch` binary: `ERRORWATCH_BIN`, else `$CARGO_TARGET_DIR/release/errorwatch`
/// (else `target/release/errorwatch`), built first with cargo unless `no_build`.
pub fn release_binary(repo: &Path, no_build: bool) -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("ERRORWATCH_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    let bin = target.join("release").join("errorwatch");
    if !no_build {
        eprintln!("==> cargo build --release -p errorwatch-server --bin errorwatch");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "-p",
                "errorwatch-server",
                "--bin",
                "errorwatch",
            ])
            .current_dir(repo)
            .status()
            .context("run cargo")?;
        if !status.success() {
            bail!("building the release errorwatch binary failed");
        }
    }
    if !bin.is_file() {
        bail!(
            "{} is missing (build it, or drop --no-build)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait up to `timeout` (SIGKILL after).
    pub fn stop(&mut self, timeout: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// SIGKILL, no warning; waits for the process to be gone.
    pub fn kill_now(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("SIGKILL")?;
        self.child.wait().context("wait for the killed process")?;
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Memory and CPU of a process, from `/proc/<pid>/status` and `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    /// Peak resident set (VmHWM), kB.
    pub peak_rss_kb: u64,
    /// Current resident set (VmRSS), kB.
    pub rss_kb: u64,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
}

pub fn proc_stats(pid: u32) -> ProcStats {
    let mut stats = ProcStats::default();
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for line in status.lines() {
            let kb = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            if line.starts_with("VmHWM:") {
                stats.peak_rss_kb = kb(line);
            } else if line.starts_with("VmRSS:") {
                stats.rss_kb = kb(line);
            }
        }
    }
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Fields after the command (which may contain spaces) start at field 3.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            // utime and stime are fields 14 and 15, i.e. 11 and 12 after the command.
            stats.cpu_s = (ticks(11) + ticks(12)) as f64 / 100.0;
        }
    }
    stats
}

/// Samples a process's resident set (`VmRSS`) every `every` until stopped; the peak of the
/// samples is the phase's, where `VmHWM` is the process lifetime's.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let (mut peak, mut samples) = (0u64, 0u64);
                let mut tick = tokio::time::interval(every);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    tick.tick().await;
                    let rss = proc_stats(pid).rss_kb;
                    if rss > 0 {
                        peak = peak.max(rss);
                        samples += 1;
                    }
                }
                (peak, samples)
            }
        });
        Self { stop, task }
    }

    /// Stops; returns (peak VmRSS kB, samples taken).
    pub async fn finish(self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// Waits until `GET url` answers 200.
pub async fn wait_ready(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{url} did not answer 200 within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `errorwatch` with the caller's `ERRORWATCH_*` and `DATABASE_URL` removed and `env` set.
fn errorwatch_command(bin: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("ERRORWATCH_") || key == "DATABASE_URL" {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}

/// The environment of a bench server on `database_url`, listening on 127.0.0.1:`port`.
pub fn server_env(database_url: &str, port: u16, repo: &Path) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("ERRORWATCH_LISTEN".into(), format!("127.0.0.1:{port}")),
        (
            "ERRORWATCH_PUBLIC_URL".into(),
            format!("http://127.0.0.1:{port}"),
        ),
        // The default keeps 100,000 events per project; the bench stores more.
        (
            "ERRORWATCH_MAX_EVENTS_PER_PROJECT".into(),
            "1000000000".into(),
        ),
        (
            "ERRORWATCH_FRONTEND_DIR".into(),
            repo.join("frontend/dist").to_string_lossy().into_owned(),
        ),
    ]
}

/// Starts `errorwatch serve` and waits for `/health/ready`.
pub async fn start_errorwatch(
    bin: &Path,
    env: &[(String, String)],
    port: u16,
) -> anyhow::Result<Proc> {
    start_errorwatch_with(bin, env, port, &[]).await
}

/// [`start_errorwatch`] with more arguments after `serve`.
pub async fn start_errorwatch_with(
    bin: &Path,
    env: &[(String, String)],
    port: u16,
    serve_args: &[&str],
) -> anyhow::Result<Proc> {
    let child = errorwatch_command(bin, env)
        .arg("serve")
        .args(serve_args)
        .env("ERRORWATCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn errorwatch serve")?;
    let proc = Proc { child };
    wait_ready(
        &format!("http://127.0.0.1:{port}/health/ready"),
        Duration::from_secs(60),
    )
    .await?;
    Ok(proc)
}

/// Runs `errorwatch ARGS…` (an admin command); returns stdout.
pub fn admin(
    bin: &Path,
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = errorwatch_command(bin, env)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn errorwatch admin command")?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "errorwatch {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Creates an API token of `user` in `account` with `scope` (`errorwatch token create`);
/// returns its secret.
pub fn create_token(
    bin: &Path,
    env: &[(String, String)],
    account: &str,
    user: &str,
    name: &str,
    scope: &str,
) -> anyhow::Result<String> {
    let args = [
        "token",
        "create",
        "--account",
        account,
        "--user",
        user,
        "--name",
        name,
        "--scope",
        scope,
        "--json",
    ];
    let token: Value = serde_json::from_str(&admin(bin, env, &args, None)?)?;
    Ok(token["secret"].as_str().context("token secret")?.to_owned())
}

/// Creates a user, an account and a project; returns (project id, public key) from the DSN.
pub fn create_project(
    bin: &Path,
    env: &[(String, String)],
) -> anyhow::Result<(i64, String, String)> {
    admin(
        bin,
        env,
        &[
            "user",
            "create",
            "--email",
            "bench@bench.example.com",
            "--password-stdin",
        ],
        Some("a bench password long enough\n"),
    )?;
    let account: Value = serde_json::from_str(&admin(
        bin,
        env,
        &[
            "account",
            "create",
            "--name",
            "Bench",
            "--owner",
            "bench@bench.example.com",
            "--json",
        ],
        None,
    )?)?;
    let slug = account["slug"].as_str().context("account slug")?.to_owned();
    let project: Value = serde_json::from_str(&admin(
        bin,
        env,
        &[
            "project",
            "create",
            "--account",
            &slug,
            "--name",
            "Bench",
            "--json",
        ],
        None,
    )?)?;
    let id = project["id"].as_i64().context("project id")?;
    let dsn = project["dsn"].as_str().context("project dsn")?.to_owned();
    let key = dsn
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(key, _)| key.to_owned())
        .context("no key in the DSN")?;
    Ok((id, key, dsn))
}

/// The reference: this binary in `--serve-reference PORT` mode, a `return 200` axum server.
pub async fn start_reference(port: u16) -> anyhow::Result<Proc> {
    let child = Command::new(std::env::current_exe()?)
        .args(["--serve-reference", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn the reference server")?;
    let proc = Proc { child };
    wait_ready(
        &format!("http://127.0.0.1:{port}/"),
        Duration::from_secs(10),
    )
    .await?;
    Ok(proc)
}

/// The reference server's body: reads the request body (so the connection stays reusable) and
/// answers 200 `{}`. Nothing else: no auth, no decompression, no storage.
pub async fn serve_reference(port: u16) -> anyhow::Result<()> {
    async fn ok(_body: bytes::Bytes) -> &'static str {
        "{}"
    }
    let app = axum::Router::new().fallback(ok);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// A fresh database for a server under test: a temp folder (the SQLite file `errorwatch.db`
/// goes in it), the throwaway PostgreSQL database when `postgres`, and the URL to give the server.
pub async fn fresh_database(
    postgres: bool,
    repo: &Path,
) -> anyhow::Result<(tempfile::TempDir, Option<Postgres>, String)> {
    let data = tempfile::tempdir()?;
    let postgres = match postgres {
        false => None,
        true => Some(Postgres::create(repo).await?),
    };
    let url = match &postgres {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", data.path().join("errorwatch.db").display()),
    };
    Ok((data, postgres, url))
}

/// A throwaway PostgreSQL database: a fresh database on `DATABASE_URL`'s server, or a cluster
/// started with `infra/pg.sh` (stopped and deleted on drop).
pub struct Postgres {
    pub url: String,
    admin_url: String,
    db_name: String,
    cluster_dir: Option<PathBuf>,
    repo: PathBuf,
}

impl Postgres {
    pub async fn create(repo: &Path) -> anyhow::Result<Self> {
        let (admin_url, cluster_dir) = match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => (url, None),
            _ => {
                let dir = std::env::temp_dir()
                    .join(format!("errorwatch-bench-pg-{}", std::process::id()));
                let port = errorwatch_e2e::free_port();
                eprintln!("==> infra/pg.sh start {} {port}", dir.display());
                let output = Command::new(repo.join("infra/pg.sh"))
                    .args(["start", &dir.to_string_lossy(), &port.to_string()])
                    .stderr(Stdio::inherit())
                    .output()
                    .context("run infra/pg.sh")?;
                if !output.status.success() {
                    bail!("infra/pg.sh start failed");
                }
                (
                    String::from_utf8_lossy(&output.stdout).trim().to_owned(),
                    Some(dir),
                )
            }
        };
        let db_name = format!("errorwatch_bench_{}", std::process::id());
        let mut pg = Self {
            url: String::new(),
            admin_url: admin_url.clone(),
            db_name: db_name.clone(),
            cluster_dir,
            repo: repo.to_path_buf(),
        };
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
            .execute(&mut conn)
            .await?;
        let mut url = url::Url::parse(&admin_url)?;
        url.set_path(&format!("/{db_name}"));
        pg.url = url.to_string();
        Ok(pg)
    }

    pub async fn drop_database(&self) {
        if self.cluster_dir.is_some() {
            return; // the whole cluster goes
        }
        if let Ok(mut conn) =
            <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin_url).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.db_name
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster_dir {
            let _ = Command::new(self.repo.join("infra/pg.sh"))
                .args(["stop", &dir.to_string_lossy()])
                .status();
        }
    }
}

/// The bench's read-only view of the server's database.
pub enum Db {
    Sqlite(sqlx::SqlitePool, PathBuf),
    Postgres(sqlx::PgPool),
}

impl Db {
    pub async fn connect_sqlite(path: &Path) -> anyhow::Result<Self> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(10));
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        Ok(Self::Sqlite(pool, path.to_path_buf()))
    }

    pub async fn connect_postgres(url: &str) -> anyhow::Result<Self> {
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await?;
        Ok(Self::Postgres(pool))
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool, _) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }

    /// Rows of `table` (one of ours, never user input).
    pub async fn count(&self, table: &'static str) -> anyhow::Result<i64> {
        let sql = || sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        Ok(match self {
            Self::Sqlite(pool, _) => sqlx::query_scalar(sql()).fetch_one(pool).await?,
            Self::Postgres(pool) => sqlx::query_scalar(sql()).fetch_one(pool).await?,
        })
    }

    /// Events stored and grouped, from the issues' counters, which the digest moves in the
    /// transaction that stores the events. Polled several times a second while the server is
    /// under load: a `COUNT(*)` of the events would read the whole table each time (on
    /// PostgreSQL, with payloads stored inline, ~400 MB per poll).
    pub async fn stored_events(&self) -> anyhow::Result<i64> {
        let sql = "SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issues";
        Ok(match self {
            Self::Sqlite(pool, _) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        })
    }

    /// Events stored after row `after`, in id order: (id, event_id).
    pub async fn events_after(&self, after: i64) -> anyhow::Result<Vec<(i64, String)>> {
        let sql = "SELECT id, event_id FROM events WHERE id > $1 ORDER BY id LIMIT 20000";
        let rows = match self {
            Self::Sqlite(pool, _) => sqlx::query(sql)
                .bind(after)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
                .collect(),
            Self::Postgres(pool) => sqlx::query(sql)
                .bind(after)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
                .collect(),
        };
        Ok(rows)
    }

    /// Rows of `table`, or `None` when the query fails (the table is gone, say): for tables the
    /// server may stop using.
    pub async fn count_if_exists(&self, table: &'static str) -> Option<i64> {
        self.count(table).await.ok()
    }

    /// Envelopes spooled and not yet digested: the `ingest_spool` table on PostgreSQL, the
    /// spool file next to the database on SQLite (`None` before it exists).
    pub async fn spool_left(&self) -> Option<i64> {
        match self {
            Self::Postgres(_) => self.count_if_exists("ingest_spool").await,
            Self::Sqlite(main, path) => {
                let spool = path.with_extension("spool");
                if !spool.exists() {
                    return None;
                }
                // Rows up to the digest's cursor are consumed; the server's spool writer deletes
                // them a few times a second.
                let cursor: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(last_id), 0) FROM spool_cursors")
                        .fetch_one(main)
                        .await
                        .ok()?;
                let Ok(Self::Sqlite(spool, _)) = Self::connect_sqlite(&spool).await else {
                    return None;
                };
                let left = sqlx::query_scalar("SELECT COUNT(*) FROM spool WHERE id > ?1")
                    .bind(cursor)
                    .fetch_one(&spool)
                    .await
                    .ok();
                spool.close().await;
                left
            }
        }
    }

    /// One `i64` from `sql` with the project id bound to `$1` (a fixed query of ours).
    pub async fn project_scalar(&self, sql: &'static str, project_id: i64) -> anyhow::Result<i64> {
        Ok(match self {
            Self::Sqlite(pool, _) => {
                sqlx::query_scalar(sql)
                    .bind(project_id)
                    .fetch_one(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar(sql)
                    .bind(project_id)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// The culprit of every issue of the project (empty for an issue without one).
    pub async fn project_culprits(&self, project_id: i64) -> anyhow::Result<Vec<String>> {
        let sql = "SELECT COALESCE(culprit, '') FROM issues WHERE project_id = $1 ORDER BY id";
        Ok(match self {
            Self::Sqlite(pool, _) => {
                sqlx::query_scalar(sql)
                    .bind(project_id)
                    .fetch_all(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar(sql)
                    .bind(project_id)
                    .fetch_all(pool)
                    .await?
            }
        })
    }

    /// Every stored event id of the project, with how many rows carry it.
    pub async fn project_event_ids(
        &self,
        project_id: i64,
    ) -> anyhow::Result<std::collections::HashMap<String, i64>> {
        let sql = "SELECT event_id, COUNT(*) FROM events WHERE project_id = $1 GROUP BY event_id";
        let rows: Vec<(String, i64)> = match self {
            Self::Sqlite(pool, _) => sqlx::query_as(sql).bind(project_id).fetch_all(pool).await?,
            Self::Postgres(pool) => sqlx::query_as(sql).bind(project_id).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().collect())
    }

    /// Stored size: the database's total and per table (SQLite: `dbstat` when compiled in).
    pub async fn sizes(&self) -> anyhow::Result<(u64, BTreeMap<String, u64>)> {
        let mut tables = BTreeMap::new();
        match self {
            Self::Sqlite(pool, path) => {
                let mut total = 0;
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    total += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                }
                if let Ok(rows) = sqlx::query(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC",
                )
                .fetch_all(pool)
                .await
                {
                    for row in rows {
                        tables.insert(row.get::<String, _>(0), row.get::<i64, _>(1) as u64);
                    }
                }
                let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                    .fetch_one(pool)
                    .await?;
                let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(pool)
                    .await?;
                tables.insert("(free pages)".into(), (free * page) as u64);
                Ok((total, tables))
            }
            Self::Postgres(pool) => {
                let total: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(pool)
                    .await?;
                let rows = sqlx::query(
                    "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                     ORDER BY 2 DESC",
                )
                .fetch_all(pool)
                .await?;
                for row in rows {
                    tables.insert(row.get::<String, _>(0), row.get::<i64, _>(1) as u64);
                }
                Ok((total as u64, tables))
            }
        }
    }
}
