//! A real SDK meets a used-up quota: the Python SDK (sentry-sdk from PyPI) sends errors to an
//! account whose plan allows 3 per period. The 3rd 200 already carries
//! `X-Sentry-Rate-Limits: …:error;default;security:organization:usage_exceeded`, so the SDK
//! stops sending errors on its own and reports the rest as `ratelimit_backoff` in a client
//! report; the server stores exactly the 3 accepted, counts them as usage and the SDK's
//! discards as outcomes. The same SDK meets a key's rate limit (429, scope `key`, every
//! category) and goes quiet until Retry-After.

use std::time::{Duration, Instant};

use errorwatch_e2e::{Project, Server, e2e_sdk_dir, repo_root, require_sdk};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// Starts a server whose every account is on `plan` (plans-file JSON fields), runs
/// `over_quota.py` sending 10 errors, and returns its summary with the server and project.
async fn run_sdk_against(plan: &str) -> (Value, Server, Project) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let python = e2e_sdk_dir().join("venv/bin/python");
    require_sdk(
        "sentry-sdk (Python)",
        std::process::Command::new(&python).args(["-c", "import sentry_sdk"]),
    );
    let plans = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        plans.path(),
        format!(r#"[{{"slug":"self-hosted","name":"Tiny","retention_days":30,{plan}}}]"#),
    )
    .expect("plans file");
    let server = Server::start(&[
        (
            "ERRORWATCH_PLANS_FILE",
            plans.path().to_str().expect("utf-8"),
        ),
        ("ERRORWATCH_QUOTA_REFRESH_MS", "100"),
    ])
    .await;
    let project = server.create_project("quota-python");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&python)
            .arg(repo_root().join("e2e/sdk/python/over_quota.py"))
            .env("SENTRY_DSN", &project.dsn)
            .env("E2E_COUNT", "10")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the SDK program ran over 120 s")
    .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "over_quota.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(&stdout).expect("JSON summary");
    eprintln!("{summary:#}");
    (summary, server, project)
}

/// Requests whose envelope carried an error event.
fn error_requests(summary: &Value) -> Vec<Value> {
    summary["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .filter(|r| {
            r["items"]
                .as_array()
                .is_some_and(|i| i.iter().any(|t| t == "event"))
        })
        .cloned()
        .collect()
}

/// Errors the SDK itself dropped with `reason`.
fn discarded(summary: &Value, reason: &str) -> i64 {
    summary["discarded"]
        .as_array()
        .expect("discarded")
        .iter()
        .filter(|d| d["reason"] == reason && d["category"] == "error")
        .map(|d| d["quantity"].as_i64().unwrap_or(0))
        .sum()
}

async fn open_read_only(server: &Server) -> sqlx::SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(server.database_path())
                .read_only(true),
        )
        .await
        .expect("open the server's SQLite database")
}

#[tokio::test]
async fn the_python_sdk_stops_sending_when_the_quota_is_used_up() {
    let (summary, server, project) = run_sdk_against(r#""quotas":{"error":3}"#).await;
    // What the SDK did: 3 error envelopes answered 200 (the last one with the header), then
    // no more errors on the wire, 7 counted as ratelimit_backoff.
    let sent = summary["sent"].as_array().expect("sent");
    let errors = error_requests(&summary);
    assert_eq!(errors.len(), 3, "error envelopes on the wire: {sent:#?}");
    assert!(errors.iter().all(|r| r["status"] == 200), "{errors:#?}");
    let header = errors[2]["rate_limits"]
        .as_str()
        .expect("header on the 3rd 200");
    assert!(
        header.ends_with(":error;default;security:organization:usage_exceeded"),
        "{header}"
    );
    let backoff = discarded(&summary, "ratelimit_backoff");
    assert_eq!(backoff, 7, "{:#}", summary["discarded"]);
    assert!(
        sent.iter().any(|r| r["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|t| t == "client_report"))
            && r["status"] == 200),
        "the client report reached the server: {sent:#?}"
    );

    // What the server kept: 3 events, usage 3, the SDK's 7 discards as outcomes.
    let pool = open_read_only(&server).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (events, usage, discarded): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM events WHERE project_id = ?1),
                    (SELECT COALESCE(SUM(quantity), 0) FROM usage_periods WHERE category = 'error'),
                    (SELECT COALESCE(SUM(quantity), 0) FROM outcomes WHERE project_id = ?1
                        AND outcome = 'client_discard' AND reason = 'ratelimit_backoff' AND category = 'error')",
        )
        .bind(project.id)
        .fetch_one(&pool)
        .await
        .expect("counts");
        if (events, usage, discarded) == (3, 3, 7) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events {events}, usage {usage}, discarded {discarded}; expected 3, 3, 7"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_python_sdk_backs_off_from_a_keys_rate_limit() {
    let (summary, server, project) =
        run_sdk_against(r#""key_rate_per_minute":3,"key_burst":3"#).await;
    // 3 accepted, the 4th refused with the key scope and every category (empty list), then
    // nothing more on the wire until Retry-After: the SDK counts the rest itself.
    let errors = error_requests(&summary);
    let statuses: Vec<i64> = errors
        .iter()
        .map(|r| r["status"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429], "{errors:#?}");
    let header = errors[3]["rate_limits"]
        .as_str()
        .expect("header on the 429");
    assert!(header.ends_with("::key:key_quota"), "{header}");
    assert_eq!(
        discarded(&summary, "ratelimit_backoff"),
        6,
        "{:#}",
        summary["discarded"]
    );
    assert_eq!(
        summary["sent"].as_array().expect("sent").len(),
        4,
        "nothing else was sent while backing off"
    );
    let pool = open_read_only(&server).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (events, refused): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM events WHERE project_id = ?1),
                    (SELECT COALESCE(SUM(quantity), 0) FROM outcomes WHERE project_id = ?1
                        AND outcome = 'rate_limited' AND reason = 'key_quota')",
        )
        .bind(project.id)
        .fetch_one(&pool)
        .await
        .expect("counts");
        if (events, refused) == (3, 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events {events}, key_quota drops {refused}; expected 3, 1"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
