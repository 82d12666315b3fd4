//! The `errorwatch` binary's admin commands and its answers to bad configuration: one clear
//! line on stderr, a non-zero exit code, never a panic trace.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Backend, TestApp, TestDatabase, db_test};

pub const BIN: &str = env!("CARGO_BIN_EXE_errorwatch");

/// Runs the binary with a clean ErrorWatch environment plus `env`, feeding `stdin`.
pub fn errorwatch(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("ERRORWATCH_") || key == "DATABASE_URL" || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn errorwatch");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a failed run with exactly one `errorwatch: error:` line mentioning `needle`.
fn assert_clear_failure(output: &Output, needle: &str) {
    let err = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, got success: {err}"
    );
    assert!(!err.contains("panicked"), "no panic trace: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("errorwatch: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
}

fn is_dsn(dsn: &str, host: &str) -> bool {
    let Some(rest) = dsn.strip_prefix("http://") else {
        return false;
    };
    let Some((key, location)) = rest.split_once('@') else {
        return false;
    };
    let Some((found_host, project)) = location.rsplit_once('/') else {
        return false;
    };
    key.len() == 32
        && key
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && found_host == host
        && !project.is_empty()
        && project.chars().all(|c| c.is_ascii_digit())
}

db_test!(
    async fn admin_commands_create_user_account_and_project_with_a_dsn(backend) {
        let app = TestApp::spawn(backend).await;
        let host = app.address.trim_start_matches("http://").to_owned();
        let env = [("DATABASE_URL", app.database_url()), ("ERRORWATCH_PUBLIC_URL", app.address.as_str())];

        let user = errorwatch(&["user", "create", "--email", "Ada@Example.com", "--password-stdin", "--superuser"], &env, "correct horse\n");
        assert!(user.status.success(), "{}", stderr(&user));
        assert!(stdout(&user).contains("created user ada@example.com"), "{}", stdout(&user));

        let account = errorwatch(&["account", "create", "--name", "Acme Corp", "--owner", "ada@example.com"], &env, "");
        assert!(account.status.success(), "{}", stderr(&account));
        assert_eq!(stdout(&account), "acme-corp\n");

        let project = errorwatch(&["project", "create", "--account", "acme-corp", "--name", "Web Shop"], &env, "");
        assert!(project.status.success(), "{}", stderr(&project));
        let text = stdout(&project);
        let dsn = text.lines().find_map(|l| l.strip_prefix("DSN: ")).expect("a DSN line");
        assert!(is_dsn(dsn, &host), "{dsn} is not http://<32 hex>@{host}/<id>");

        let json_project = errorwatch(&["project", "create", "--account", "acme-corp", "--name", "API", "--json"], &env, "");
        let created: serde_json::Value = serde_json::from_slice(&json_project.stdout).expect("json");
        assert!(is_dsn(created["dsn"].as_str().expect("dsn"), &host), "{created}");

        let list = errorwatch(&["project", "list", "--account", "acme-corp", "--json"], &env, "");
        assert!(list.status.success(), "{}", stderr(&list));
        let projects: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
        let names: Vec<&str> = projects.as_array().expect("array").iter().map(|p| p["name"].as_str().expect("name")).collect();
        assert_eq!(names, ["Web Shop", "API"]);
        assert_eq!(projects[0]["keys"][0]["dsn"], dsn);

        let human = errorwatch(&["project", "list"], &env, "");
        assert!(stdout(&human).contains("acme-corp") && stdout(&human).contains(dsn), "{}", stdout(&human));

        // The DSN's key resolves to the project in the database the server uses.
        assert_eq!(app.get("/health/ready").await.status(), 200);
    }
);

db_test!(
    async fn admin_command_mistakes_get_one_clear_line(backend) {
        let app = TestApp::spawn(backend).await;
        let env = [("DATABASE_URL", app.database_url())];
        let first = errorwatch(&["user", "create", "--email", "bob@example.com", "--password-stdin"], &env, "longenough\n");
        assert!(first.status.success(), "{}", stderr(&first));
        assert_clear_failure(
            &errorwatch(&["user", "create", "--email", "BOB@example.com", "--password-stdin"], &env, "longenough\n"),
            "already exists",
        );
        assert_clear_failure(
            &errorwatch(&["user", "create", "--email", "not-an-email", "--password-stdin"], &env, "longenough\n"),
            "invalid email",
        );
        assert_clear_failure(
            &errorwatch(&["user", "create", "--email", "c@example.com", "--password-stdin"], &env, "short\n"),
            "at least 8",
        );
        assert_clear_failure(
            &errorwatch(&["user", "create", "--email", "c@example.com", "--password-stdin"], &env, ""),
            "no password on standard input",
        );
        assert_clear_failure(
            &errorwatch(&["account", "create", "--name", "X", "--owner", "nobody@example.com"], &env, ""),
            "not found",
        );
        assert_clear_failure(
            &errorwatch(&["project", "create", "--account", "no-such-account", "--name", "X"], &env, ""),
            "account \"no-such-account\" not found",
        );
    }
);

#[test]
fn unsupported_database_url_is_one_clear_line() {
    let output = errorwatch(
        &["serve"],
        &[("DATABASE_URL", "mysql://root@localhost/errorwatch")],
        "",
    );
    assert_clear_failure(&output, "DATABASE_URL: unsupported database \"mysql\"");
}

#[test]
fn malformed_settings_are_one_clear_line() {
    assert_clear_failure(
        &errorwatch(&["serve"], &[("ERRORWATCH_LISTEN", "localhost")], ""),
        "ERRORWATCH_LISTEN",
    );
    assert_clear_failure(
        &errorwatch(
            &["serve"],
            &[("ERRORWATCH_PUBLIC_URL", "errors.example.com")],
            "",
        ),
        "ERRORWATCH_PUBLIC_URL",
    );
    assert_clear_failure(
        &errorwatch(
            &["serve"],
            &[("DATABASE_URL", "postgres://user@localhost")],
            "",
        ),
        "names no database",
    );
    assert_clear_failure(
        &errorwatch(&["serve"], &[("ERRORWATCH_LOG_FORMAT", "xml")], ""),
        "ERRORWATCH_LOG_FORMAT",
    );
}

#[test]
fn unreachable_database_is_one_clear_line_within_seconds() {
    // Nothing listens on port 1 on loopback.
    let started = Instant::now();
    let output = errorwatch(
        &["serve"],
        &[(
            "DATABASE_URL",
            "postgres://errorwatch:secret-pw@127.0.0.1:1/errorwatch",
        )],
        "",
    );
    assert_clear_failure(
        &output,
        "cannot connect to postgres://errorwatch:***@127.0.0.1:1/errorwatch",
    );
    assert!(
        !stderr(&output).contains("secret-pw"),
        "the password never shows"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn port_in_use_is_one_clear_line() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let output = errorwatch(
        &["serve"],
        &[
            ("DATABASE_URL", database.url()),
            ("ERRORWATCH_LISTEN", &addr),
        ],
        "",
    );
    assert_clear_failure(
        &output,
        &format!("ERRORWATCH_LISTEN: {addr} is already in use"),
    );
}

#[tokio::test]
async fn sqlite_folder_that_cannot_be_created_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let url = format!("sqlite://{}/sub/errorwatch.db", file.display());
    assert_clear_failure(
        &errorwatch(&["migrate"], &[("DATABASE_URL", &url)], ""),
        "cannot create the database folder",
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_without_secrets() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let output = errorwatch(
        &["migrate"],
        &[
            ("DATABASE_URL", database.url()),
            ("ERRORWATCH_LOG_FORMAT", "json"),
            ("ERRORWATCH_LOG", "info"),
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty(), "migrate logs what it applies");
    for line in lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"));
        assert!(
            parsed["timestamp"].is_string() && parsed["level"].is_string(),
            "{parsed}"
        );
    }
    assert!(err.contains("Applying migration"), "{err}");
}
