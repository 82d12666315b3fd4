//! Proof with real clients: the real Sentry SDKs (Python 2.x with gzip and with brotli, Python
//! 3.x, Node, the browser SDK in Chromium, Rust) send one of everything to a running
//! `errorwatch serve`, and the server must have answered every ingest request 200, stored each
//! error as an event in an issue with its exception chain, stack frames, breadcrumbs, tags, user
//! and contexts intact, counted the rest (transactions/spans, logs, sessions, check-ins,
//! attachments, feedback) in `outcomes`, and found the issues by `user.email:` though the
//! events' user also has an id.
//!
//! Each current major and the one before it is tested, so a new major that sends something
//! differently fails here before a user notices. The SDK programs live in `e2e/sdk/` (and
//! `e2e/src/bin/rust_sdk_client.rs`); the Python, Node and browser SDKs are installed by
//! `infra/install-e2e-sdks.sh`. A missing SDK fails the test with that hint; it is never
//! skipped. Every check runs, and a failing test lists every gap at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use errorwatch_e2e::browser::Driver;
use errorwatch_e2e::{Project, Server, e2e_sdk_dir, repo_root, require_sdk, serve_folder};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// What one SDK program sends and how its summary is read.
struct Sdk {
    /// Test label and project name.
    name: &'static str,
    /// The value of the `sdk` tag the program sets.
    tag: &'static str,
    /// Program and arguments; empty for the browser SDK, whose program is a page.
    command: Vec<PathBuf>,
    /// Extra environment for the program.
    env: Vec<(&'static str, String)>,
    /// Exception values expected at least in the handled and unhandled events.
    handled_chain: usize,
    unhandled_chain: usize,
    /// Extra error events by summary id name (besides handled, message, unhandled).
    extra_events: &'static [&'static str],
    /// Whether the program sends user feedback (the Rust crate has no API for it).
    feedback: bool,
    /// Whether the program sends cron check-ins (the browser SDK has no API for them).
    check_ins: bool,
    /// Content-Encoding every envelope must have had (Python), or that at least one must have
    /// had (Node, only above 32 KiB).
    encoding: Option<(&'static str, bool)>,
}

#[tokio::test]
async fn python_sdk_gzip() {
    let python = e2e_sdk_dir().join("venv/bin/python");
    require_sdk(
        "sentry-sdk (Python venv)",
        Command::new(&python).args([
            "-c",
            "import sentry_sdk, importlib.util, sys; sys.exit(importlib.util.find_spec('brotli') is not None)",
        ]),
    );
    run(python_sdk("python-gzip", python, "gzip")).await;
}

#[tokio::test]
async fn python_sdk_brotli() {
    let python = e2e_sdk_dir().join("venv-brotli/bin/python");
    require_sdk(
        "sentry-sdk with brotli (Python venv-brotli)",
        Command::new(&python).args(["-c", "import sentry_sdk, brotli"]),
    );
    run(python_sdk("python-brotli", python, "br")).await;
}

/// sentry-sdk 3.x, what `pip install sentry-sdk` installs today: no transactions (span items),
/// `data_collection` instead of `send_default_pii`, and logs.
#[tokio::test]
async fn python_sdk_3() {
    run(python_sdk(
        "python-3",
        errorwatch_e2e::python_sdk_3(),
        "gzip",
    ))
    .await;
}

/// `e2e/sdk/python/send_all.py` run by `python`, every request sent with `encoding`.
fn python_sdk(name: &'static str, python: PathBuf, encoding: &'static str) -> Sdk {
    Sdk {
        name,
        tag: "python",
        command: vec![python, repo_root().join("e2e/sdk/python/send_all.py")],
        env: vec![],
        handled_chain: 2,
        unhandled_chain: 2,
        extra_events: &[],
        feedback: true,
        check_ins: true,
        encoding: Some((encoding, true)),
    }
}

/// @sentry/browser in Chromium: the page `e2e/sdk/browser/index.html` with the SDK bundled by
/// esbuild, served from another origin than the server's (so CORS is exercised).
#[tokio::test]
async fn browser_sdk() {
    let dir = e2e_sdk_dir().join("browser");
    require_sdk(
        "@sentry/browser and esbuild",
        Command::new(dir.join("node_modules/.bin/esbuild")).arg("--version"),
    );
    run(Sdk {
        name: "browser",
        tag: "browser",
        command: vec![],
        env: vec![],
        handled_chain: 2,
        unhandled_chain: 2,
        extra_events: &[],
        feedback: true,
        check_ins: false,
        encoding: None,
    })
    .await;
}

#[tokio::test]
async fn node_sdk() {
    let dir = e2e_sdk_dir().join("node");
    require_sdk(
        "@sentry/node",
        Command::new("node")
            .current_dir(&dir)
            .args(["-e", "require.resolve('@sentry/node/package.json')"]),
    );
    run(Sdk {
        name: "node",
        tag: "node",
        command: vec![
            PathBuf::from("node"),
            repo_root().join("e2e/sdk/node/send_all.mjs"),
        ],
        env: vec![("SENTRY_NODE_DIR", dir.display().to_string())],
        handled_chain: 2,
        unhandled_chain: 2,
        extra_events: &["large"],
        feedback: true,
        check_ins: true,
        encoding: Some(("gzip", false)),
    })
    .await;
}

#[tokio::test]
async fn rust_sdk() {
    run(Sdk {
        name: "rust",
        tag: "rust",
        command: vec![PathBuf::from(env!("CARGO_BIN_EXE_rust_sdk_client"))],
        env: vec![],
        handled_chain: 2,
        unhandled_chain: 1,
        extra_events: &[],
        feedback: false,
        check_ins: true,
        encoding: None,
    })
    .await;
}

/// Runs one SDK program against a fresh server and checks everything; panics listing every
/// problem found.
async fn run(sdk: Sdk) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let project = server.create_project(&format!("sdk-{}", sdk.name));
    let run_tag = format!(
        "{}-{}-{}",
        sdk.name,
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );

    let summary = if sdk.command.is_empty() {
        run_page(&sdk, &project, &run_tag).await
    } else {
        run_program(&sdk, &project, &run_tag).await
    };
    eprintln!(
        "[{}] SDK summary:\n{}",
        sdk.name,
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    let mut problems: Vec<String> = Vec::new();
    if let Some(list) = summary["problems"].as_array()
        && !list.is_empty()
    {
        problems.push(format!("the SDK program reported: {list:?}"));
    }

    let started = std::time::Instant::now();
    let jobs = match server.wait_for_jobs_drained(Duration::from_secs(60)).await {
        Ok(jobs) => jobs,
        Err(busy) => {
            problems.push(format!(
                "the job queue did not drain within 60 s after the SDK finished (digest retries \
                 back off for minutes; the server's WARN lines above say why): {busy:?}"
            ));
            server.job_stats()
        }
    };
    eprintln!(
        "[{}] job queue after {:?}: {jobs:?}",
        sdk.name,
        started.elapsed()
    );
    for stat in &jobs {
        if matches!(stat.status.as_str(), "Failed" | "Killed") && stat.count > 0 {
            problems.push(format!(
                "{} {} job(s) {} (dead letters): see the server log above",
                stat.count, stat.job, stat.status
            ));
        }
    }
    if !jobs.iter().any(|s| s.status == "Done" && s.count > 0) {
        problems.push(format!("no job ran to Done after ingest: {jobs:?}"));
    }

    check_metrics(&server, &summary, &mut problems).await;
    check_encodings(&sdk, &summary, &mut problems);
    check_database(&sdk, &server, &project, &run_tag, &summary, &mut problems).await;
    check_user_search(&server, &project, &mut problems).await;

    assert!(
        problems.is_empty(),
        "[{}] {} problem(s):\n  - {}",
        sdk.name,
        problems.len(),
        problems.join("\n  - ")
    );
}

/// Runs the SDK program and returns its JSON summary; panics if it fails.
async fn run_program(sdk: &Sdk, project: &Project, run_tag: &str) -> Value {
    let mut command = tokio::process::Command::new(&sdk.command[0]);
    command
        .args(&sdk.command[1..])
        .env("SENTRY_DSN", &project.dsn)
        .env("E2E_RUN", run_tag)
        .env_remove("SENTRY_RELEASE")
        .env_remove("SENTRY_ENVIRONMENT")
        .kill_on_drop(true);
    for (key, value) in &sdk.env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .unwrap_or_else(|_| panic!("[{}] the SDK program ran over 180 s", sdk.name))
        .unwrap_or_else(|e| panic!("[{}] could not run {:?}: {e}", sdk.name, sdk.command));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "[{}] the SDK program failed ({:?}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
        sdk.name,
        output.status
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "[{}] the SDK program printed no JSON summary ({e}):\n{stdout}\nstderr:\n{stderr}",
            sdk.name
        )
    })
}

/// Bundles the browser program with esbuild, serves it from a second origin on 127.0.0.1,
/// opens it in Chromium and returns the summary the page left in `window.__e2eSummary`.
async fn run_page(sdk: &Sdk, project: &Project, run_tag: &str) -> Value {
    let sdk_dir = e2e_sdk_dir().join("browser");
    let site = tempfile::tempdir().expect("site dir");
    let page_dir = repo_root().join("e2e/sdk/browser");
    let bundled = Command::new(sdk_dir.join("node_modules/.bin/esbuild"))
        .arg(page_dir.join("send_all.mjs"))
        .args(["--bundle", "--format=iife", "--log-level=warning"])
        .arg(format!(
            "--outfile={}",
            site.path().join("bundle.js").display()
        ))
        .env("NODE_PATH", sdk_dir.join("node_modules"))
        .output()
        .expect("run esbuild");
    assert!(
        bundled.status.success(),
        "[{}] esbuild failed: {}",
        sdk.name,
        String::from_utf8_lossy(&bundled.stderr)
    );
    std::fs::copy(page_dir.join("index.html"), site.path().join("index.html"))
        .expect("copy index.html");
    let origin = serve_folder(site.path().to_owned()).await;
    let driver = Driver::start().await;
    let browser = driver.browser(&origin).await;
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("dsn", &project.dsn)
        .append_pair("run", run_tag)
        .finish();
    browser.open(&format!("/index.html?{query}")).await;
    browser
        .wait_js(
            "the page's summary",
            Duration::from_secs(60),
            "return window.__e2eSummary !== undefined;",
            vec![],
        )
        .await;
    let summary = browser.js("return window.__e2eSummary;").await;
    browser
        .client
        .clone()
        .close()
        .await
        .expect("close the browser");
    summary
}

/// `user.email:` finds the issues of that user, though each event's user also has an id
/// (which the `user` tag keeps as its identity).
async fn check_user_search(server: &Server, project: &Project, problems: &mut Vec<String>) {
    let token = server.api_token(project);
    let search =
        "query($p: ID!, $q: String) { project(id: $p) { issues(query: $q) { nodes { title } } } }";
    let titles = |data: Value| -> Vec<String> {
        data["project"]["issues"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["title"].as_str().map(str::to_owned))
            .collect()
    };
    let project_id = format!("prj_{}", project.id);
    let all = titles(
        server
            .graphql(
                &token,
                search,
                json!({"p": project_id, "q": "is:unresolved"}),
            )
            .await,
    );
    for query in [
        "user.email:e2e@example.com",
        "user.email:E2E@Example.com",
        "user.username:e2e",
        "user.id:user-42",
    ] {
        let found = titles(
            server
                .graphql(&token, search, json!({"p": project_id, "q": query}))
                .await,
        );
        if found.is_empty() || found.len() != all.len() {
            problems.push(format!(
                "search {query:?} found {found:?}; every issue has that user: {all:?}"
            ));
        }
    }
    let none = titles(
        server
            .graphql(
                &token,
                search,
                json!({"p": project_id, "q": "user.email:nobody@example.com"}),
            )
            .await,
    );
    if !none.is_empty() {
        problems.push(format!("search for another user found {none:?}"));
    }
}

/// Envelopes the program saw go out (parent and child), per its summary.
fn envelope_count(summary: &Value) -> usize {
    ["envelopes", "child_envelopes"]
        .iter()
        .map(|k| summary[k].as_array().map_or(0, Vec::len))
        .sum()
}

/// Every request to an ingest route was answered 200, and at least as many arrived as the SDK
/// sent.
async fn check_metrics(server: &Server, summary: &Value, problems: &mut Vec<String>) {
    let metrics = server.metrics().await;
    let mut ok = 0u64;
    for line in metrics.lines() {
        if !line.starts_with("errorwatch_http_requests_total{") {
            continue;
        }
        let Some(route) = label(line, "route") else {
            continue;
        };
        if !(route.contains("/api/") && (route.contains("envelope") || route.contains("store"))) {
            continue;
        }
        let count: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as u64);
        if label(line, "status") == Some("200") {
            ok += count;
        } else {
            problems.push(format!("an ingest request was not answered 200: {line}"));
        }
    }
    // A handful of envelopes must digest at the first attempt: a retry means a job failed (and
    // its events waited for the back-off).
    for line in metrics.lines() {
        if line.starts_with("errorwatch_jobs_total{")
            && matches!(label(line, "outcome"), Some("retried" | "failed" | "dead"))
            && !line.ends_with(" 0")
        {
            problems.push(format!(
                "jobs failed while digesting (the server's WARN lines above say why): {line}"
            ));
        }
    }
    let sent = envelope_count(summary) as u64;
    if ok < sent {
        problems.push(format!(
            "the SDK sent {sent} envelopes but /metrics counts {ok} ingest requests answered 200"
        ));
    }
}

fn label<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

/// The SDK really used the encoding the test is about.
fn check_encodings(sdk: &Sdk, summary: &Value, problems: &mut Vec<String>) {
    let Some((encoding, every)) = sdk.encoding else {
        return;
    };
    let seen: Vec<Option<&str>> = ["envelopes", "child_envelopes", "requests", "child_requests"]
        .iter()
        .filter_map(|k| summary[k].as_array())
        .flatten()
        .filter(|e| e.get("content_encoding").is_some())
        .map(|e| e["content_encoding"].as_str())
        .collect();
    let matching = seen.iter().filter(|e| **e == Some(encoding)).count();
    if every && matching != seen.len() {
        problems.push(format!(
            "expected every request with Content-Encoding {encoding}, saw {seen:?}"
        ));
    }
    if matching == 0 {
        problems.push(format!(
            "no request used Content-Encoding {encoding}: the test did not exercise it ({seen:?})"
        ));
    }
}

/// Reads the SQLite database the server wrote and checks events, issues and outcomes.
async fn check_database(
    sdk: &Sdk,
    server: &Server,
    project: &Project,
    run_tag: &str,
    summary: &Value,
    problems: &mut Vec<String>,
) {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(server.database_path())
                .read_only(true),
        )
        .await
        .expect("open the server's SQLite database");

    let events: Vec<(String, i64, Vec<u8>)> =
        sqlx::query_as("SELECT event_id, issue_id, payload FROM events WHERE project_id = ?")
            .bind(project.id)
            .fetch_all(&pool)
            .await
            .expect("query events");
    let events: BTreeMap<String, (i64, Vec<u8>)> = events
        .into_iter()
        .map(|(id, issue, payload)| (normalize_id(&id), (issue, payload)))
        .collect();
    let issues: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT id, title, times_seen FROM issues WHERE project_id = ?")
            .bind(project.id)
            .fetch_all(&pool)
            .await
            .expect("query issues");
    let issues: BTreeMap<i64, (String, i64)> = issues
        .into_iter()
        .map(|(id, title, seen)| (id, (title, seen)))
        .collect();
    let outcomes: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT category, outcome, reason, CAST(SUM(quantity) AS INTEGER) FROM outcomes \
         WHERE project_id = ? GROUP BY category, outcome, reason ORDER BY 1, 2, 3",
    )
    .bind(project.id)
    .fetch_all(&pool)
    .await
    .expect("query outcomes");
    pool.close().await;
    eprintln!(
        "[{}] stored: {} events, {} issues {:?}, outcomes {:?}",
        sdk.name,
        events.len(),
        issues.len(),
        issues.values().collect::<Vec<_>>(),
        outcomes
    );

    let ids = &summary["ids"];
    let mut error_events = 0;
    let mut expected: Vec<(&str, Kind)> = vec![
        ("handled", Kind::Handled),
        ("message", Kind::Message),
        ("unhandled", Kind::Unhandled),
    ];
    expected.extend(sdk.extra_events.iter().map(|name| (*name, Kind::Extra)));
    for (name, kind) in expected {
        let Some(id) = ids[name].as_str() else {
            problems.push(format!("the SDK summary has no {name} event id"));
            continue;
        };
        error_events += 1;
        let Some((issue_id, payload)) = events.get(&normalize_id(id)) else {
            problems.push(format!(
                "the {name} event {id} is not in `events` (stored: {:?})",
                events.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        match issues.get(issue_id) {
            None => problems.push(format!(
                "the {name} event's issue {issue_id} is not in `issues`"
            )),
            Some((title, _)) if title.trim().is_empty() => {
                problems.push(format!("the {name} event's issue {issue_id} has no title"))
            }
            Some(_) => {}
        }
        match decompress(payload) {
            Ok(event) => check_event(sdk, name, kind, &event, run_tag, problems),
            Err(e) => problems.push(format!(
                "the {name} event's payload does not decompress to JSON: {e}"
            )),
        }
    }

    // Outcomes: every category the SDK sent has a row, counting at least what was sent.
    let accepted = |categories: &[&str]| -> i64 {
        outcomes
            .iter()
            .filter(|(c, o, ..)| categories.contains(&c.as_str()) && o == "accepted")
            .map(|(.., q)| q)
            .sum()
    };
    let has = |categories: &[&str]| {
        outcomes
            .iter()
            .any(|(c, ..)| categories.contains(&c.as_str()))
    };
    if accepted(&["error"]) < error_events {
        problems.push(format!(
            "outcomes count {} accepted errors, the SDK sent {error_events}: {outcomes:?}",
            accepted(&["error"])
        ));
    }
    let sent = sent_items(summary);
    let mut wanted: Vec<(&str, &[&str], &[&str])> = vec![
        (
            "transaction/span",
            &["transaction", "span"],
            &["transaction", "span"],
        ),
        ("session", &["session"], &["session", "sessions"]),
        ("attachment", &["attachment"], &["attachment"]),
    ];
    if sdk.check_ins {
        wanted.push(("check-in", &["monitor"], &["check_in"]));
    }
    // sentry-sdk 3 sends logs as containers of log records.
    if sent.contains_key("log") {
        wanted.push(("log", &["log_item"], &["log"]));
    }
    if sdk.feedback {
        wanted.push(("feedback", &["feedback", "user_report_v2"], &["feedback"]));
    }
    for (what, categories, item_types) in wanted {
        if !has(categories) {
            problems.push(format!(
                "no `outcomes` row for the {what} the SDK sent (category {categories:?}): {outcomes:?}"
            ));
            continue;
        }
        // Spans count one per span (a span item is a container with `item_count`), the rest
        // one per item (attachments may count bytes, which is more).
        for item_type in item_types {
            let count = sent.get(*item_type).copied().unwrap_or_default();
            let category = match *item_type {
                "check_in" => "monitor",
                "sessions" => "session",
                "log" => "log_item",
                other => other,
            };
            if count > 0 && accepted(&[category]) < count {
                problems.push(format!(
                    "outcomes count {} accepted {category}, the SDK sent {count} {item_type}(s) \
                     (a span item counts its item_count): {outcomes:?}",
                    accepted(&[category])
                ));
            }
        }
    }
}

/// How many items of each type the SDK program sent (parent and child), from its summary:
/// `envelopes` is a list of `{"items": [types], "item_counts": [n]}` (Python, Node) or of lists
/// of types (Rust).
fn sent_items(summary: &Value) -> BTreeMap<String, i64> {
    let mut sent = BTreeMap::new();
    for key in ["envelopes", "child_envelopes"] {
        for envelope in summary[key].as_array().into_iter().flatten() {
            let types = envelope
                .get("items")
                .and_then(Value::as_array)
                .or_else(|| envelope.as_array());
            for (index, item) in types.into_iter().flatten().enumerate() {
                let count = envelope["item_counts"][index].as_i64().unwrap_or(1);
                if let Some(item) = item.as_str() {
                    *sent.entry(item.to_owned()).or_default() += count;
                }
            }
        }
    }
    sent
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Handled,
    Message,
    Unhandled,
    Extra,
}

fn normalize_id(id: &str) -> String {
    id.replace('-', "").to_ascii_lowercase()
}

fn decompress(payload: &[u8]) -> anyhow::Result<Value> {
    errorwatch_core::digest::decompress_payload(payload)
}

/// `{"values": [...]}` or a bare list, as the protocol allows for exceptions and breadcrumbs.
fn values(v: &Value) -> Vec<Value> {
    v.get("values")
        .and_then(Value::as_array)
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_default()
}

/// A tag's value, whether tags are stored as a map or as a list of pairs.
fn tag<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    let tags = &event["tags"];
    if let Some(map) = tags.as_object() {
        return map.get(key).and_then(Value::as_str);
    }
    tags.as_array()?.iter().find_map(|pair| {
        let pair = pair.as_array()?;
        (pair.first()?.as_str()? == key).then(|| pair.get(1)?.as_str())?
    })
}

fn check_event(
    sdk: &Sdk,
    name: &str,
    kind: Kind,
    event: &Value,
    run_tag: &str,
    problems: &mut Vec<String>,
) {
    let mut fail = |what: String| problems.push(format!("the {name} event: {what}"));
    if tag(event, "e2e.run") != Some(run_tag) {
        fail(format!(
            "tag e2e.run is {:?}, expected {run_tag:?} (tags: {})",
            tag(event, "e2e.run"),
            event["tags"]
        ));
    }
    if tag(event, "sdk") != Some(sdk.tag) {
        fail(format!(
            "tag sdk is {:?}, expected {:?}",
            tag(event, "sdk"),
            sdk.tag
        ));
    }
    if event["user"]["id"] != "user-42" || event["user"]["email"] != "e2e@example.com" {
        fail(format!("user lost: {}", event["user"]));
    }
    if event["contexts"]["e2e"]["run"] != run_tag {
        fail(format!(
            "custom context lost: contexts = {}",
            event["contexts"]
        ));
    }
    if event["release"] != "e2e@1.0.0" || event["environment"] != "e2e" {
        fail(format!(
            "release/environment lost: {} / {}",
            event["release"], event["environment"]
        ));
    }
    let breadcrumbs = values(&event["breadcrumbs"]);
    let crumb = match kind {
        Kind::Unhandled => "before the unhandled error",
        _ => "before the handled error",
    };
    if !breadcrumbs.iter().any(|b| b["message"] == crumb) {
        fail(format!(
            "breadcrumb {crumb:?} missing: {}",
            event["breadcrumbs"]
        ));
    }
    match kind {
        Kind::Handled | Kind::Unhandled => {
            let chain = values(&event["exception"]);
            let min = if kind == Kind::Handled {
                sdk.handled_chain
            } else {
                sdk.unhandled_chain
            };
            if chain.len() < min {
                fail(format!(
                    "{} exception value(s), expected a chain of {min}: {}",
                    chain.len(),
                    event["exception"]
                ));
            }
            match chain.last() {
                None => fail("no exception".to_owned()),
                Some(main) => {
                    let frames = values(&main["stacktrace"]["frames"])
                        .len()
                        .max(main["stacktrace"]["frames"].as_array().map_or(0, Vec::len));
                    if frames == 0 {
                        fail(format!("the main exception has no stack frames: {main}"));
                    }
                    if main["type"].as_str().is_none_or(str::is_empty) {
                        fail(format!("the main exception has no type: {main}"));
                    }
                    // Unhandled when any value says so (the browser SDK marks the value its
                    // handler caught, which after linking the cause is not the last one).
                    let unhandled = chain
                        .iter()
                        .any(|value| value["mechanism"]["handled"] == false);
                    if kind == Kind::Unhandled && !unhandled {
                        let mechanisms: Vec<&Value> =
                            chain.iter().map(|value| &value["mechanism"]).collect();
                        fail(format!(
                            "the crash is not marked unhandled: mechanism = {} (of each value: {mechanisms:?})",
                            main["mechanism"]
                        ));
                    }
                }
            }
        }
        Kind::Message | Kind::Extra => {
            let text = [
                &event["message"],
                &event["message"]["formatted"],
                &event["message"]["message"],
                &event["logentry"]["formatted"],
                &event["logentry"]["message"],
            ]
            .iter()
            .find_map(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
            if !text.contains("message") {
                fail(format!(
                    "message text lost: message = {}, logentry = {}",
                    event["message"], event["logentry"]
                ));
            }
        }
    }
}
