//! Helpers for end-to-end tests: they run the real `errorwatch` binary (built by `cargo build
//! -p errorwatch-server`) and drive it with real clients (headless Chromium today; the Sentry
//! SDKs with the ingest issue).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts the server with the built dashboard and waits until `/health/ready` answers 200.
    pub async fn start(extra_env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut command = Command::new(errorwatch_bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("ERRORWATCH_") || key == "DATABASE_URL" {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/errorwatch.db", data.path().display()),
            )
            .env("ERRORWATCH_LISTEN", format!("127.0.0.1:{port}"))
            .env("ERRORWATCH_FRONTEND_DIR", repo_root().join("frontend/dist"))
            .env("ERRORWATCH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawn errorwatch");
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            _data: data,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = client
                .get(format!("{}/health/ready", server.base_url))
                .send()
                .await
                && response.status() == 200
            {
                return server;
            }
            assert!(Instant::now() < deadline, "errorwatch not ready after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
