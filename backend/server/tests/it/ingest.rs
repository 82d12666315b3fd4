//! The Sentry ingest endpoints through real HTTP: the corpus of real SDK envelopes, sent the way
//! each SDK sends them, digests into issues; bad input gets the protocol's status and stores
//! nothing; keys are checked against the project in the URL.

use std::io::Write;

use errorwatch_core::admin;
use errorwatch_core::scope::AccountScope;
use errorwatch_core::secret::SecretString;
use errorwatch_core::service::project;
use serde_json::Value;

use crate::harness::{TestApp, db_test};
use errorwatch_core::ids::ProjectId;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus");

/// A project to send to, and its owner's scope.
pub struct Target {
    pub project_id: i64,
    pub key: String,
    pub scope: AccountScope,
}

pub async fn create_project(app: &TestApp, account_name: &str) -> Target {
    let email = format!("owner-{}@example.com", uuid::Uuid::new_v4().simple());
    let owner =
        admin::create_user_unscoped(&app.db, &email, SecretString::new("password-123"), false)
            .await
            .expect("user");
    let acct = admin::create_account_for_user(&app.db, account_name, owner.id)
        .await
        .expect("account");
    let scope = admin::scope_for_member(&app.db, owner.id, acct.id)
        .await
        .expect("scope");
    let created = project::create_project(&scope, &app.config.http.public_url, "Web")
        .await
        .expect("project");
    Target {
        project_id: created.id.0,
        key: created.keys[0].public_key.clone(),
        scope,
    }
}

/// The owner's scope in a fresh, unrelated account (for cross-tenant checks).
pub async fn other_account_scope(app: &TestApp) -> AccountScope {
    let email = format!("other-{}@example.com", uuid::Uuid::new_v4().simple());
    let other =
        admin::create_user_unscoped(&app.db, &email, SecretString::new("password-123"), false)
            .await
            .expect("user");
    let globex = admin::create_account_for_user(&app.db, "Globex", other.id)
        .await
        .expect("account");
    admin::scope_for_member(&app.db, other.id, globex.id)
        .await
        .expect("scope")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut output, 4096, 5, 22);
        writer.write_all(bytes).expect("brotli");
    }
    output
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(CORPUS)
        .expect("corpus folder")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "envelope"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_stem().expect("stem").to_string_lossy().into_owned(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect()
}

fn header_event_id(envelope: &[u8]) -> String {
    let first = envelope.split(|b| *b == b'\n').next().expect("header line");
    let header: Value = serde_json::from_slice(first).expect("header json");
    header["event_id"]
        .as_str()
        .expect("event_id")
        .replace('-', "")
}

/// Sends like sentry-sdk for Python: gzip body, X-Sentry-Auth header.
async fn send_python_style(app: &TestApp, target: &Target, envelope: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/{}/envelope/", target.project_id)))
        .header("content-type", "application/x-sentry-envelope")
        .header("content-encoding", "gzip")
        .header(
            "x-sentry-auth",
            format!(
                "Sentry sentry_key={}, sentry_version=7, sentry_client=sentry.python/2.75.0",
                target.key
            ),
        )
        .body(gzip(envelope))
        .send()
        .await
        .expect("request")
}

/// Sends like @sentry/node: key in the query string, no content type, chunked body.
async fn send_node_style(app: &TestApp, target: &Target, envelope: &[u8]) -> reqwest::Response {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        envelope.chunks(4096).map(|c| Ok(c.to_vec())).collect();
    app.client
        .post(app.url(&format!(
            "/api/{}/envelope/?sentry_version=7&sentry_key={}&sentry_client=sentry.javascript.node%2F11.12.0",
            target.project_id, target.key
        )))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("request")
}

db_test!(
    async fn every_corpus_envelope_digests_into_an_issue(backend) {
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let files = corpus();
        assert_eq!(files.len(), 53);
        for (name, envelope) in &files {
            let response = if name.starts_with("py_") {
                send_python_style(&app, &target, envelope).await
            } else {
                send_node_style(&app, &target, envelope).await
            };
            assert_eq!(response.status(), 200, "{name}: {:?}", response.text().await);
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["id"], header_event_id(envelope), "{name}");
        }
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 53);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM ingest_spool").await, 0, "the spool is drained");
        let issues = app.scalar("SELECT COUNT(*) FROM issues").await;
        assert!((30..53).contains(&issues), "{issues} issues: repeats of one bug group together");
        assert_eq!(app.scalar("SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issues").await, 53);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM events e JOIN issues i ON i.id = e.issue_id WHERE i.project_id = e.project_id").await,
            53
        );
        assert_eq!(
            app.scalar("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE category = 'error' AND outcome = 'accepted'").await,
            53
        );
        // Stored compactly: compressed payloads well under the raw envelopes.
        let raw: usize = files.iter().map(|(_, e)| e.len()).sum();
        let stored = app.scalar("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events").await as usize;
        assert!(stored * 3 <= raw, "stored {stored} bytes for {raw} raw");
    }
);

db_test!(
    async fn the_same_event_twice_is_stored_once(backend) {
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let (_, envelope) = corpus().into_iter().find(|(n, _)| n == "py_zero_division").expect("fixture");
        for _ in 0..3 {
            assert_eq!(send_python_style(&app, &target, &envelope).await.status(), 200);
        }
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 1);
        assert_eq!(app.scalar("SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issues").await, 1);
    }
);

db_test!(
    async fn the_same_event_in_two_projects_is_an_issue_in_each(backend) {
        // Grouping hashes never include the project: issues and fingerprints are unique per
        // project, so one event sent to two projects (one account's or two accounts') opens
        // an issue in each.
        let app = TestApp::spawn(backend).await;
        let web = create_project(&app, "Acme").await;
        let created = project::create_project(&web.scope, &app.config.http.public_url, "Api")
            .await
            .expect("project");
        let api = Target { project_id: created.id.0, key: created.keys[0].public_key.clone(), scope: web.scope.clone() };
        let other = create_project(&app, "Globex").await;
        let (_, envelope) = corpus().into_iter().find(|(n, _)| n == "py_zero_division").expect("fixture");
        for target in [&web, &api, &other] {
            assert_eq!(send_python_style(&app, target, &envelope).await.status(), 200);
        }
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 3, "the same event id, once per project");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM issues").await, 3, "one issue per project");
        assert_eq!(app.scalar("SELECT COUNT(DISTINCT project_id) FROM issues").await, 3);
        assert_eq!(app.scalar("SELECT COUNT(DISTINCT fingerprint) FROM issues").await, 1, "with the same hash");
        assert_eq!(app.scalar("SELECT CAST(MAX(times_seen) AS BIGINT) FROM issues").await, 1);
        for target in [&web, &api, &other] {
            let issues = errorwatch_core::service::issue::list_issues(&target.scope, ProjectId(target.project_id))
                .await
                .expect("list");
            assert_eq!(issues.len(), 1, "project {}", target.project_id);
        }
    }
);

/// Sets (or with `None` clears) the per-minute rate limit of the target's first DSN key.
pub async fn set_key_rate(app: &TestApp, target: &Target, per_minute: Option<i32>) {
    let url = app.config.http.public_url.clone();
    let key = project::list_projects(&target.scope, &url)
        .await
        .expect("projects")[0]
        .keys[0]
        .id;
    project::update_key(
        &target.scope,
        &url,
        key,
        project::KeyChange {
            rate_limit_per_minute: Some(per_minute),
            ..Default::default()
        },
    )
    .await
    .expect("key rate limit");
}

pub async fn post_raw(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Value, Option<String>) {
    let mut request = app.client.post(app.url(path)).body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let error = response
        .headers()
        .get("x-sentry-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, error)
}

db_test!(
    async fn keys_must_exist_and_belong_to_the_project_in_the_url(backend) {
        let app = TestApp::spawn(backend).await;
        let acme = create_project(&app, "Acme").await;
        let globex = create_project(&app, "Globex").await;
        let envelope = b"{}\n{\"type\":\"session\"}\n{\"sid\":\"x\",\"status\":\"ok\",\"attrs\":{\"release\":\"1\"}}\n".to_vec();
        let ok = post_raw(&app, &format!("/api/{}/envelope/?sentry_key={}", acme.project_id, acme.key), &[], envelope.clone()).await;
        assert_eq!(ok.0, 200, "{:?}", ok.1);
        assert_eq!(ok.1, serde_json::json!({}), "no event: empty object");

        let unknown = post_raw(&app, &format!("/api/{}/envelope/?sentry_key={}", acme.project_id, "0".repeat(32)), &[], envelope.clone()).await;
        assert_eq!(unknown.0, 403);
        assert!(unknown.1["detail"].as_str().expect("detail").contains(&format!("project {}", acme.project_id)), "{:?}", unknown.1);
        assert!(unknown.2.is_some(), "X-Sentry-Error is set");

        // Globex's key on Acme's project: refused, whatever the key's own project is.
        let cross = post_raw(&app, &format!("/api/{}/envelope/?sentry_key={}", acme.project_id, globex.key), &[], envelope.clone()).await;
        assert_eq!(cross.0, 403, "{:?}", cross.1);

        let missing = post_raw(&app, &format!("/api/{}/envelope/", acme.project_id), &[], envelope.clone()).await;
        assert_eq!(missing.0, 401, "{:?}", missing.1);

        let conflicting = post_raw(
            &app,
            &format!("/api/{}/envelope/?sentry_key={}", acme.project_id, acme.key),
            &[("x-sentry-auth", &format!("Sentry sentry_key={}", globex.key))],
            envelope.clone(),
        )
        .await;
        assert!(conflicting.0 == 401 || conflicting.0 == 403, "{:?}", conflicting);

        // The envelope header's dsn authenticates on its own.
        let dsn_only = format!(
            "{{\"dsn\":\"http://{}@127.0.0.1/{}\"}}\n{{\"type\":\"client_report\"}}\n{{\"discarded_events\":[{{\"reason\":\"sample_rate\",\"category\":\"error\",\"quantity\":3}}]}}\n",
            acme.key, acme.project_id
        );
        let by_dsn = post_raw(&app, &format!("/api/{}/envelope/", acme.project_id), &[], dsn_only.into_bytes()).await;
        assert_eq!(by_dsn.0, 200, "{:?}", by_dsn.1);

        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 0);
        assert_eq!(
            app.scalar("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE outcome = 'client_discard' AND reason = 'sample_rate'").await,
            3
        );
        assert_eq!(app.scalar("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE category = 'session'").await, 1);
    }
);

db_test!(
    async fn malformed_input_gets_the_protocol_status_and_stores_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let t = create_project(&app, "Acme").await;
        let path = format!("/api/{}/envelope/?sentry_key={}", t.project_id, t.key);
        let bomb = vec![b'a'; 120 * 1024 * 1024];
        let full = gzip(b"{}\n{\"type\":\"event\"}\n{\"message\":\"hello\"}\n");
        let truncated_gzip = full[..full.len() / 2].to_vec();
        let huge_header = format!("{{}}\n{{\"type\":\"event\",\"x\":\"{}\"}}\n{{}}\n", "h".repeat(200_000)).into_bytes();
        type Case = (&'static str, Vec<(&'static str, &'static str)>, Vec<u8>, u16);
        let cases: Vec<Case> = vec![
            ("empty body", vec![], vec![], 400),
            ("header not json", vec![], b"not json\n".to_vec(), 400),
            ("item without type", vec![], b"{}\n{\"length\":2}\nab\n".to_vec(), 400),
            ("length runs past the end", vec![], b"{}\n{\"type\":\"event\",\"length\":500}\n{}\n".to_vec(), 400),
            ("invalid utf-8 header", vec![], b"{\"a\":\"\xff\xfe\"}\n".to_vec(), 400),
            ("corrupt gzip", vec![("content-encoding", "gzip")], b"\x1f\x8b\x08\x00garbage".to_vec(), 400),
            ("unknown encoding", vec![("content-encoding", "lzma")], b"{}\n".to_vec(), 400),
            ("gzip bomb", vec![("content-encoding", "gzip")], gzip(&bomb), 413),
            ("brotli bomb", vec![("content-encoding", "br")], brotli(&bomb), 413),
            ("zstd bomb", vec![("content-encoding", "zstd")], zstd(&bomb), 413),
            ("truncated gzip", vec![("content-encoding", "gzip")], truncated_gzip, 400),
            ("truncated envelope", vec![], b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\",\"length\":40}\n{\"message\":".to_vec(), 400),
            ("payload not json", vec![], b"{}\n{\"type\":\"event\"}\nnot json at all\n".to_vec(), 400),
            ("huge item header", vec![], huge_header, 413),
            ("invalid event id", vec![], b"{\"event_id\":\"xyz\"}\n".to_vec(), 400),
            ("two events", vec![], b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"event\"}\n{}\n".to_vec(), 400),
        ];
        for (name, headers, body, expected) in cases {
            let (status, body, error) = post_raw(&app, &path, &headers, body).await;
            assert_eq!(status, expected, "{name}: {body:?}");
            assert!(body["detail"].is_string(), "{name}: JSON detail: {body:?}");
            assert!(error.is_some(), "{name}: X-Sentry-Error");
        }
        let bad_project = post_raw(&app, "/api/not-a-number/envelope/", &[], b"{}\n".to_vec()).await;
        assert_eq!(bad_project.0, 400);
        // An event item over 1 MB.
        let big = format!("{{}}\n{{\"type\":\"event\"}}\n{{\"message\":\"{}\"}}\n", "x".repeat(1_100_000));
        assert_eq!(post_raw(&app, &path, &[], big.into_bytes()).await.0, 413);
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM ingest_spool").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 0);
        assert_eq!(app.get("/health/ready").await.status(), 200, "the server stays up");
    }
);

db_test!(
    async fn unknown_item_types_are_accepted_and_counted(backend) {
        let app = TestApp::spawn(backend).await;
        let t = create_project(&app, "Acme").await;
        let envelope = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"future_thing\",\"length\":3}\nabc\n{\"type\":\"span\"}\n{\"span_id\":\"1\"}\n{\"type\":\"event\"}\n{\"message\":\"hello\",\"level\":\"info\"}\n".to_vec();
        let (status, body, _) = post_raw(&app, &format!("/api/{}/envelope/?sentry_key={}", t.project_id, t.key), &[], envelope).await;
        assert_eq!(status, 200, "{body:?}");
        assert_eq!(body["id"], "9ec79c33ec9942ab8353589fcb2e04dc");
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 1);
        assert_eq!(app.scalar("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE category = 'span' AND outcome = 'accepted'").await, 1);
    }
);

db_test!(
    async fn store_endpoint_accepts_a_json_event(backend) {
        let app = TestApp::spawn(backend).await;
        let t = create_project(&app, "Acme").await;
        let event = serde_json::json!({"event_id": "fc6d8c0c43fc4630ad850ee518f1b9d0", "message": "legacy store", "platform": "python"});
        let (status, body, _) = post_raw(
            &app,
            &format!("/api/{}/store/", t.project_id),
            &[("x-sentry-auth", &format!("Sentry sentry_version=7, sentry_key={}", t.key)), ("content-type", "application/json")],
            serde_json::to_vec(&event).expect("json"),
        )
        .await;
        assert_eq!(status, 200, "{body:?}");
        assert_eq!(body["id"], "fc6d8c0c43fc4630ad850ee518f1b9d0");
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 1);
    }
);

db_test!(
    async fn cors_preflight_needs_no_auth_and_exposes_the_sentry_headers(backend) {
        let app = TestApp::spawn(backend).await;
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/api/1/envelope/"))
            .header("origin", "https://shop.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, sentry-trace, baggage")
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let allowed = response.headers()["access-control-allow-headers"].to_str().expect("ascii").to_lowercase();
        assert!(allowed.contains("sentry-trace") && allowed.contains("baggage"), "{allowed}");
        let post = app
            .client
            .post(app.url("/api/1/envelope/"))
            .header("origin", "https://shop.example.com")
            .body("{}\n")
            .send()
            .await
            .expect("request");
        let exposed = post.headers()["access-control-expose-headers"].to_str().expect("ascii").to_lowercase();
        assert!(exposed.contains("x-sentry-error") && exposed.contains("retry-after"), "{exposed}");
    }
);

db_test!(
    async fn sessions_attachments_feedback_and_check_ins_are_stored(backend) {
        let app = TestApp::spawn(backend).await;
        let t = create_project(&app, "Acme").await;
        let now = chrono::Utc::now().to_rfc3339();
        let envelope = format!(
            "{{\"event_id\":\"aa0000000000000000000000000000aa\"}}\n\
             {{\"type\":\"event\"}}\n{{\"message\":\"with extras\"}}\n\
             {{\"type\":\"attachment\",\"length\":5,\"filename\":\"log.txt\",\"content_type\":\"text/plain\"}}\nhello\n\
             {{\"type\":\"session\"}}\n{{\"sid\":\"s1\",\"init\":true,\"started\":\"{now}\",\"status\":\"crashed\",\"attrs\":{{\"release\":\"shop@1.2\",\"environment\":\"prod\"}}}}\n\
             {{\"type\":\"sessions\"}}\n{{\"aggregates\":[{{\"started\":\"{now}\",\"exited\":5,\"errored\":2}}],\"attrs\":{{\"release\":\"shop@1.2\",\"environment\":\"prod\"}}}}\n\
             {{\"type\":\"user_report\"}}\n{{\"event_id\":\"aa0000000000000000000000000000aa\",\"name\":\"Ada\",\"email\":\"ada@example.com\",\"comments\":\"it broke\"}}\n\
             {{\"type\":\"feedback\"}}\n{{\"event_id\":\"bb0000000000000000000000000000bb\",\"contexts\":{{\"feedback\":{{\"message\":\"checkout hangs\",\"contact_email\":\"bob@example.com\",\"associated_event_id\":\"aa0000000000000000000000000000aa\"}}}}}}\n\
             {{\"type\":\"check_in\"}}\n{{\"check_in_id\":\"cc0000000000000000000000000000cc\",\"monitor_slug\":\"nightly\",\"status\":\"in_progress\"}}\n"
        );
        let path = format!("/api/{}/envelope/?sentry_key={}", t.project_id, t.key);
        let (status, body, _) = post_raw(&app, &path, &[], envelope.into_bytes()).await;
        assert_eq!(status, 200, "{body:?}");
        let closing = "{}\n{\"type\":\"check_in\"}\n{\"check_in_id\":\"cc0000000000000000000000000000cc\",\"monitor_slug\":\"nightly\",\"status\":\"ok\",\"duration\":2.5}\n";
        assert_eq!(post_raw(&app, &path, &[], closing.as_bytes().to_vec()).await.0, 200);
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM attachments WHERE event_id = 'aa0000000000000000000000000000aa' AND size = 5").await, 1);
        assert_eq!(app.scalar("SELECT CAST(SUM(started) AS BIGINT) FROM release_sessions WHERE release = 'shop@1.2'").await, 8);
        assert_eq!(app.scalar("SELECT CAST(SUM(crashed) AS BIGINT) FROM release_sessions").await, 1);
        assert_eq!(app.scalar("SELECT CAST(SUM(errored) AS BIGINT) FROM release_sessions").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM user_reports WHERE event_id = 'aa0000000000000000000000000000aa'").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM monitor_checkins WHERE status = 'ok' AND monitor_slug = 'nightly'").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM monitor_checkins").await, 1, "the closing check-in updates the opening one");
    }
);

db_test!(
    async fn unhandled_sessions_of_newer_browser_sdks_count_as_errored(backend) {
        // @sentry/browser 10+ ends a session with `unhandled` when the page survived an
        // unhandled error; aggregates may carry an `unhandled` count too.
        let app = TestApp::spawn(backend).await;
        let t = create_project(&app, "Acme").await;
        let now = chrono::Utc::now().to_rfc3339();
        let envelope = format!(
            "{{}}\n\
             {{\"type\":\"session\"}}\n{{\"sid\":\"s1\",\"init\":true,\"started\":\"{now}\",\"status\":\"ok\",\"attrs\":{{\"release\":\"web@1\"}}}}\n\
             {{\"type\":\"session\"}}\n{{\"sid\":\"s1\",\"started\":\"{now}\",\"status\":\"unhandled\",\"errors\":1,\"attrs\":{{\"release\":\"web@1\"}}}}\n\
             {{\"type\":\"sessions\"}}\n{{\"aggregates\":[{{\"started\":\"{now}\",\"exited\":3,\"unhandled\":2}}],\"attrs\":{{\"release\":\"web@1\"}}}}\n"
        );
        let path = format!("/api/{}/envelope/?sentry_key={}", t.project_id, t.key);
        let (status, body, _) = post_raw(&app, &path, &[], envelope.into_bytes()).await;
        assert_eq!(status, 200, "{body:?}");
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT CAST(SUM(started) AS BIGINT) FROM release_sessions WHERE release = 'web@1'").await, 6);
        assert_eq!(app.scalar("SELECT CAST(SUM(errored) AS BIGINT) FROM release_sessions WHERE release = 'web@1'").await, 3);
        assert_eq!(app.scalar("SELECT CAST(SUM(crashed) AS BIGINT) FROM release_sessions WHERE release = 'web@1'").await, 0);
        assert_eq!(
            app.scalar("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE category = 'session' AND outcome <> 'accepted'").await,
            0,
            "nothing refused as an invalid status"
        );
    }
);

db_test!(
    async fn csp_reports_become_events(backend) {
        let app = TestApp::spawn(backend).await;
        let t = create_project(&app, "Acme").await;
        let report = br#"{"csp-report":{"document-uri":"https://shop.example/cart","effective-directive":"script-src-elem","blocked-uri":"https://evil.example/x.js"}}"#;
        for path in ["security", "csp-report"] {
            let (status, body, _) = post_raw(
                &app,
                &format!("/api/{}/{path}/?sentry_key={}", t.project_id, t.key),
                &[("content-type", "application/csp-report")],
                report.to_vec(),
            )
            .await;
            assert_eq!(status, 200, "{path}: {body:?}");
        }
        let (status, _, _) = post_raw(&app, &format!("/api/{}/security/?sentry_key={}", t.project_id, t.key), &[], b"nope".to_vec()).await;
        assert_eq!(status, 400);
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM issues WHERE title = 'Blocked ''script'' from ''evil.example'''").await, 1, "both reports, one issue");
    }
);

db_test!(
    async fn minidumps_and_late_attachments_are_stored(backend) {
        let app = TestApp::spawn(backend).await;
        let t = create_project(&app, "Acme").await;
        let mut dump = b"MDMP\x93\xa7".to_vec();
        dump.extend(std::iter::repeat_n(0u8, 1000));
        let form = reqwest::multipart::Form::new()
            .part("upload_file_minidump", reqwest::multipart::Part::bytes(dump).file_name("crash.dmp"))
            .text("sentry", r#"{"release":"native@2","tags":{"os":"linux"}}"#);
        let response = app
            .client
            .post(app.url(&format!("/api/{}/minidump/?sentry_key={}", t.project_id, t.key)))
            .multipart(form)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let id = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
        let not_a_dump = reqwest::multipart::Form::new()
            .part("upload_file_minidump", reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("x.dmp"));
        let refused = app
            .client
            .post(app.url(&format!("/api/{}/minidump/?sentry_key={}", t.project_id, t.key)))
            .multipart(not_a_dump)
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), 400);
        let late = reqwest::multipart::Form::new()
            .part("screenshot", reqwest::multipart::Part::bytes(b"PNGDATA".to_vec()).file_name("screen.png").mime_str("image/png").expect("mime"));
        let added = app
            .client
            .post(app.url(&format!("/api/{}/events/{id}/attachments/?sentry_key={}", t.project_id, t.key)))
            .multipart(late)
            .send()
            .await
            .expect("request");
        assert!(added.status().is_success(), "{}", added.status());
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events WHERE level = 'fatal' AND release = 'native@2'").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM attachments WHERE attachment_type = 'event.minidump'").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM attachments").await, 2);
    }
);

db_test!(
    async fn a_keys_rate_limit_answers_429_with_the_protocol_headers(backend) {
        let app = TestApp::spawn(backend).await;
        let acme = create_project(&app, "Acme").await;
        set_key_rate(&app, &acme, Some(2)).await;
        let path = format!("/api/{}/store/?sentry_key={}", acme.project_id, acme.key);
        for _ in 0..2 {
            let (status, _, _) = post_raw(&app, &path, &[], br#"{"message":"hi"}"#.to_vec()).await;
            assert_eq!(status, 200);
        }
        let response = app
            .client
            .post(app.url(&path))
            .body(r#"{"message":"hi"}"#)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 429);
        let retry: u64 = response.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=30).contains(&retry), "{retry}");
        assert_eq!(
            response.headers()["x-sentry-rate-limits"].to_str().expect("ascii"),
            format!("{retry}::key:key_quota")
        );
        // Another project's key is not limited; the drop is counted as an outcome.
        let globex = create_project(&app, "Globex").await;
        let (status, _, _) = post_raw(&app, &format!("/api/{}/store/?sentry_key={}", globex.project_id, globex.key), &[], br#"{"message":"hi"}"#.to_vec()).await;
        assert_eq!(status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
        assert_eq!(
            app.scalar("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE outcome = 'rate_limited' AND reason = 'key_quota'").await,
            1
        );
        // Clearing the limit lets the key through again.
        set_key_rate(&app, &acme, None).await;
        let (status, _, _) = post_raw(&app, &path, &[], br#"{"message":"hi"}"#.to_vec()).await;
        assert_eq!(status, 200);
    }
);
