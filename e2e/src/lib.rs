//! Helpers for end-to-end tests: they run the real `errorwatch` binary (built by `cargo build
//! -p errorwatch-server`) and drive it with real clients: headless Chromium, the real Sentry
//! SDKs (Python and Node installed by `infra/install-e2e-sdks.sh`, Rust from crates.io) and the
//! real sentry-cli 2.x and 3.x (npm, same script).

pub mod browser;
pub mod sentry_cli;
pub mod smtp;
pub mod stripe;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// The debug `errorwatch` binary: `ERRORWATCH_BIN`, else `$CARGO_TARGET_DIR/debug/errorwatch`,
/// else `target/debug/errorwatch`.
pub fn errorwatch_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ERRORWATCH_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let bin = target.join("debug").join("errorwatch");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p errorwatch-server` first (infra/test.sh does)",
        bin.display()
    );
    bin
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `errorwatch serve` on a throwaway SQLite database; killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The environment the server runs with (database, listen address), which admin commands
    /// ([`Server::admin`]) reuse.
    env: Vec<(String, String)>,
    database_path: PathBuf,
    _data: tempfile::TempDir,
}

/// A `Command` for the binary with the caller's `ERRORWATCH_*` and `DATABASE_URL` removed.
fn clean_command() -> Command {
    let mut command = Command::new(errorwatch_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("ERRORWATCH_") || key == "DATABASE_URL" {
            command.env_remove(key);
        }
    }
    command
}

/// A project created with [`Server::create_project`].
#[derive(Clone, Debug)]
pub struct Project {
    /// Numeric project id (the last DSN path segment).
    pub id: i64,
    /// The project's slug (sentry-cli's `SENTRY_PROJECT`).
    pub slug: String,
    /// The DSN an SDK is configured with.
    pub dsn: String,
    /// The slug of the account the project is in.
    pub account: String,
    /// The account owner's address.
    pub owner: String,
}

/// One row of `errorwatch jobs status --json`.
#[derive(Clone, Debug)]
pub struct JobStat {
    /// Job name.
    pub job: String,
    /// apalis status (`Pending`, `Queued`, `Running`, `Done`, `Failed`, `Killed`).
    pub status: String,
    /// Tasks in that status.
    pub count: i64,
}

impl Server {
    /// Starts the server with the built dashboard and waits until `/health/ready` answers 200.
    pub async fn start(extra_env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let database_path = data.path().join("errorwatch.db");
        let mut env = vec![
            (
                "DATABASE_URL".to_owned(),
                format!("sqlite://{}", database_path.display()),
            ),
            ("ERRORWATCH_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
            // Journeys sign up several people; the self-hosted default (`first-user`) is
            // tested with `("ERRORWATCH_SIGNUP", "")` (an empty value counts as unset).
            ("ERRORWATCH_SIGNUP".to_owned(), "open".to_owned()),
        ];
        // Admin commands run with the same environment (a public URL changes their DSNs).
        env.extend(
            extra_env
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
        let server = Self {
            child: serve(&env),
            base_url: format!("http://127.0.0.1:{port}"),
            env,
            database_path,
            _data: data,
        };
        server.wait_ready().await;
        server
    }

    /// Kills the server (SIGKILL: every connection drops at once, as in a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and database (after [`Server::kill`]) and
    /// waits until it is ready.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = serve(&self.env);
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = client
                .get(format!("{}/health/ready", self.base_url))
                .send()
                .await
                && response.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "errorwatch not ready after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Spawns `errorwatch serve` with the built dashboard and `env`.
fn serve(env: &[(String, String)]) -> Child {
    clean_command()
        .arg("serve")
        .env("ERRORWATCH_FRONTEND_DIR", repo_root().join("frontend/dist"))
        .env("ERRORWATCH_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn errorwatch")
}

impl Server {
    /// The SQLite database file the server writes.
    pub fn database_path(&self) -> &Path {
        &self.database_path
    }

    /// Runs an admin command (`errorwatch ARGS…`) against this server's database, with `stdin`
    /// as standard input; returns its standard output, panicking with stderr when it fails.
    pub fn admin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut command = clean_command();
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn errorwatch admin command");
        if let Some(input) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let output = child.wait_with_output().expect("wait for admin command");
        assert!(
            output.status.success(),
            "errorwatch {} failed ({:?}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Creates a user, an account it owns and a project in it through the admin commands;
    /// returns the project's id and DSN.
    pub fn create_project(&self, name: &str) -> Project {
        let email = format!("{name}@e2e.example.com");
        self.admin(
            &["user", "create", "--email", &email, "--password-stdin"],
            Some("an e2e password long enough\n"),
        );
        let account: Value = serde_json::from_str(&self.admin(
            &[
                "account",
                "create",
                "--name",
                &format!("{name} account"),
                "--owner",
                &email,
                "--json",
            ],
            None,
        ))
        .expect("account create --json prints JSON");
        let slug = account["slug"].as_str().expect("account slug").to_owned();
        let project: Value = serde_json::from_str(&self.admin(
            &[
                "project",
                "create",
                "--account",
                &slug,
                "--name",
                name,
                "--json",
            ],
            None,
        ))
        .expect("project create --json prints JSON");
        Project {
            id: project["id"].as_i64().expect("project id"),
            slug: project["slug"].as_str().expect("project slug").to_owned(),
            dsn: project["dsn"].as_str().expect("project dsn").to_owned(),
            account: slug,
            owner: email,
        }
    }

    /// A new read-only API token of `project`'s owner (`errorwatch token create`).
    pub fn api_token(&self, project: &Project) -> String {
        self.api_token_with_scope(project, "read")
    }

    /// A new API token of `project`'s owner with `scope` as stored: `read`, `write`, `admin`,
    /// or `project:releases` (what sentry-cli needs: releases, deploys, source maps).
    pub fn api_token_with_scope(&self, project: &Project, scope: &str) -> String {
        let token: Value = serde_json::from_str(&self.admin(
            &[
                "token",
                "create",
                "--account",
                &project.account,
                "--user",
                &project.owner,
                "--name",
                "e2e",
                "--scope",
                scope,
                "--json",
            ],
            None,
        ))
        .expect("token create --json prints JSON");
        token["secret"].as_str().expect("token secret").to_owned()
    }

    /// Runs a GraphQL `query` with `variables` as the holder of `token`; returns `data`,
    /// panicking with the errors when there are any.
    pub async fn graphql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body: Value = reqwest::Client::new()
            .post(format!("{}/graphql", self.base_url))
            .bearer_auth(token)
            .json(&serde_json::json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("POST /graphql")
            .json()
            .await
            .expect("a JSON answer");
        assert!(body.get("errors").is_none(), "GraphQL errors: {body}");
        body["data"].clone()
    }

    /// The job queue, as `errorwatch jobs status --json` reports it.
    pub fn job_stats(&self) -> Vec<JobStat> {
        let stats: Value = serde_json::from_str(&self.admin(&["jobs", "status", "--json"], None))
            .expect("jobs status --json prints JSON");
        stats
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|row| JobStat {
                        job: row["job"].as_str().unwrap_or_default().to_owned(),
                        status: row["status"].as_str().unwrap_or_default().to_owned(),
                        count: row["count"].as_i64().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until no job is `Pending`, `Queued` or `Running`; returns the final queue stats,
    /// or after `timeout` `Err` with the rows still busy (a retry scheduled later stays
    /// `Pending`).
    pub async fn wait_for_jobs_drained(
        &self,
        timeout: Duration,
    ) -> Result<Vec<JobStat>, Vec<JobStat>> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.job_stats();
            let busy: Vec<JobStat> = stats
                .iter()
                .filter(|s| matches!(s.status.as_str(), "Pending" | "Queued" | "Running"))
                .filter(|s| s.count > 0)
                .cloned()
                .collect();
            if busy.is_empty() {
                return Ok(stats);
            }
            if Instant::now() >= deadline {
                return Err(busy);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base_url))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }
}

/// Where `infra/install-e2e-sdks.sh` puts the Python venvs and the Node SDK:
/// `ERRORWATCH_E2E_DIR`, else `~/.cache/errorwatch/e2e`.
pub fn e2e_sdk_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ERRORWATCH_E2E_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/errorwatch/e2e")
}

/// Panics, with the install hint, unless `check` (a command that exits 0 when the SDK is
/// usable) succeeds.
pub fn require_sdk(what: &str, check: &mut Command) {
    let output = check.output();
    let ok = output.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{what} is not installed ({}): run infra/install-e2e-sdks.sh (infra/test.sh does)",
        match &output {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        }
    );
}

/// The Python of the venv with sentry-sdk 3 (what `pip install sentry-sdk` installs today);
/// panics with the install hint when it is missing or holds another major.
pub fn python_sdk_3() -> PathBuf {
    let python = e2e_sdk_dir().join("venv3/bin/python");
    require_sdk(
        "sentry-sdk 3 (Python venv3)",
        Command::new(&python).args([
            "-c",
            "import sentry_sdk, sys; sys.exit(sentry_sdk.VERSION.split('.')[0] != '3')",
        ]),
    );
    python
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Debian's Chromium, required by browser tests (`infra/test.sh` installs it).
pub fn chromium() -> PathBuf {
    let path =
        PathBuf::from(std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    assert!(
        path.is_file(),
        "{} is missing: `apt-get install chromium` (infra/test.sh does it)",
        path.display()
    );
    path
}

/// Loads `url` in headless Chromium, lets scripts and WASM run (virtual time), and returns the
/// resulting DOM.
pub fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("temp dir");
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {:?}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Serves the files of `folder` over HTTP on a free loopback port (GET only, no listing);
/// returns the origin. The task lives as long as the test's runtime.
pub async fn serve_folder(folder: PathBuf) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let folder = folder.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let name = path.split('?').next().unwrap_or("").trim_start_matches('/');
                let file = (!name.contains("..") && !name.is_empty())
                    .then(|| std::fs::read(folder.join(name)).ok())
                    .flatten();
                let (status, kind, body) = match file {
                    Some(body) if name.ends_with(".js") => ("200 OK", "text/javascript", body),
                    Some(body) => ("200 OK", "text/html; charset=utf-8", body),
                    None => ("404 Not Found", "text/plain", b"not found".to_vec()),
                };
                let header = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(header.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    origin
}
