//! The batched digest through real HTTP ingest: events are spooled by an app without workers,
//! then digested as one batch (`TestApp::digest_spooled`), so each test decides what a batch
//! holds. Batching must give the counts a one-event-at-a-time digest gives: times seen, distinct
//! users, hourly stats and tag counts; duplicates stored and counted once; one regression per
//! issue; projects kept apart; and a number of statements that follows issues, not events.

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::issue::{self, StatusChange};
use serde_json::{Value, json};

use crate::harness::{TestApp, db_test};
use crate::ingest::{Target, create_project, post_raw};
use errorwatch_core::ids::{IssueId, ProjectId};

/// One exception event of bug `ty`.
struct Event<'a> {
    event_id: String,
    ty: &'a str,
    timestamp: Option<DateTime<Utc>>,
    user: Option<&'a str>,
    release: Option<&'a str>,
    tags: Value,
}

impl<'a> Event<'a> {
    fn of(ty: &'a str) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().simple().to_string(),
            ty,
            timestamp: None,
            user: None,
            release: None,
            tags: json!({}),
        }
    }

    fn envelope(&self) -> Vec<u8> {
        let mut event = json!({
            "event_id": self.event_id,
            "platform": "python",
            "level": "error",
            "tags": self.tags,
            "exception": {"values": [{"type": self.ty, "value": "'discount'",
                "stacktrace": {"frames": [{"module": "shop.cart", "function": "apply", "in_app": true}]}}]}
        });
        if let Some(at) = self.timestamp {
            event["timestamp"] = json!(at.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        if let Some(user) = self.user {
            event["user"] = json!({"id": user});
        }
        if let Some(release) = self.release {
            event["release"] = json!(release);
        }
        format!(
            "{{\"event_id\":\"{}\"}}\n{{\"type\":\"event\"}}\n{event}\n",
            self.event_id
        )
        .into_bytes()
    }
}

async fn send(app: &TestApp, target: &Target, event: &Event<'_>) {
    let (status, body, _) = post_raw(
        app,
        &format!(
            "/api/{}/envelope/?sentry_key={}",
            target.project_id, target.key
        ),
        &[],
        event.envelope(),
    )
    .await;
    assert_eq!(status, 200, "{body:?}");
}

/// A query returning one integer, built at run time.
async fn count(app: &TestApp, sql: String) -> i64 {
    match app.db.pool() {
        errorwatch_core::db::Pool::Sqlite(pool) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_one(pool)
                .await
        }
        errorwatch_core::db::Pool::Postgres(pool) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_one(pool)
                .await
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn only_issue(scope: &AccountScope, project_id: i64) -> issue::Issue {
    let issues = issue::list_issues(scope, ProjectId(project_id))
        .await
        .expect("list");
    assert_eq!(issues.len(), 1, "{issues:?}");
    issues.into_iter().next().expect("one issue")
}

/// `key`'s values on the issue with their counts, most frequent first.
async fn tag_values(scope: &AccountScope, issue_id: i64, key: &str) -> Vec<(String, i64)> {
    issue::tag_facets(scope, IssueId(issue_id), 100)
        .await
        .expect("facets")
        .into_iter()
        .find(|facet| facet.key == key)
        .map(|facet| facet.top)
        .unwrap_or_default()
}

db_test!(
    async fn a_burst_for_one_issue_counts_every_event_user_hour_and_tag_exactly(backend) {
        let app = TestApp::spawn_ingest_only(backend).await;
        let target = create_project(&app, "Acme").await;
        let hour = Utc::now().duration_trunc(TimeDelta::hours(1)).expect("hour") - TimeDelta::hours(2);
        // An earlier batch already saw users u0 and u9.
        for user in ["u0", "u9"] {
            let mut event = Event::of("KeyError");
            event.timestamp = Some(hour + TimeDelta::minutes(1));
            event.user = Some(user);
            event.tags = json!({"browser": "firefox"});
            send(&app, &target, &event).await;
        }
        assert_eq!(app.digest_spooled().await, 2);

        // 40 events over two hours; users u0..u4 repeat, every 7th event has none.
        let mut burst = Vec::new();
        for i in 0..40u32 {
            let mut event = Event::of("KeyError");
            event.timestamp = Some(hour + TimeDelta::minutes(i64::from(3 * i)));
            event.user = (i % 7 != 0).then_some(["u0", "u1", "u2", "u3", "u4"][i as usize % 5]);
            event.tags = json!({"browser": if i % 2 == 0 { "firefox" } else { "chrome" }});
            event.release = Some(if i == 39 { "shop@2" } else { "shop@1" });
            burst.push(event);
        }
        // Sent out of time order: the latest event (i = 39) is not the last one in the batch.
        burst.swap(39, 20);
        for event in &burst {
            send(&app, &target, event).await;
        }
        assert_eq!(app.digest_spooled().await, 40, "one batch, every event stored");

        let issue = only_issue(&target.scope, target.project_id).await;
        assert_eq!(issue.times_seen, 42);
        assert_eq!(issue.users_seen, 6, "u0..u4 and u9, each counted once");
        assert_eq!(issue.first_seen, hour);
        assert_eq!(issue.last_seen, hour + TimeDelta::minutes(117));
        assert_eq!(issue.first_release.as_deref(), Some("shop@1"));
        assert_eq!(issue.last_release.as_deref(), Some("shop@1"), "the last release in batch order");
        let hourly = issue::hourly_counts(&target.scope, issue.id, hour, hour + TimeDelta::hours(2))
            .await
            .expect("hourly");
        assert_eq!(hourly, [(hour, 22), (hour + TimeDelta::hours(1), 20)]);
        assert_eq!(
            tag_values(&target.scope, issue.id.into(), "browser").await,
            [("firefox".to_owned(), 22), ("chrome".to_owned(), 20)]
        );
        assert_eq!(
            tag_values(&target.scope, issue.id.into(), "release").await,
            [("shop@1".to_owned(), 39), ("shop@2".to_owned(), 1)]
        );
        let users = tag_values(&target.scope, issue.id.into(), "user").await;
        let user_events: i64 = users.iter().map(|(_, n)| n).sum();
        assert_eq!(users.len(), 6, "{users:?}");
        assert_eq!(user_events, 2 + 40 - 6, "events with a user: 6 of the burst's 40 have none");
        assert_eq!(
            count(&app, format!("SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issue_stats_hourly WHERE issue_id = {}", issue.id)).await,
            42
        );
        assert_eq!(count(&app, "SELECT COUNT(*) FROM events".to_owned()).await, 42);
    }
);

db_test!(
    async fn a_duplicate_event_id_in_one_batch_is_stored_and_counted_once(backend) {
        let app = TestApp::spawn_ingest_only(backend).await;
        let target = create_project(&app, "Acme").await;
        let mut stored_before = Event::of("KeyError");
        stored_before.user = Some("ada");
        send(&app, &target, &stored_before).await;
        assert_eq!(app.digest_spooled().await, 1);

        // The same batch holds: the stored event again, a new event twice (the repeat with
        // another user), and one more new event.
        let mut twice = Event::of("KeyError");
        twice.user = Some("bob");
        let mut repeat = Event::of("KeyError");
        repeat.event_id.clone_from(&twice.event_id);
        repeat.user = Some("mallory");
        let mut other = Event::of("KeyError");
        other.user = Some("bob");
        for event in [&stored_before, &twice, &repeat, &other] {
            send(&app, &target, event).await;
        }
        assert_eq!(app.digest_spooled().await, 2, "the new event once, and the other one");

        assert_eq!(count(&app, "SELECT COUNT(*) FROM events".to_owned()).await, 3);
        assert_eq!(
            count(&app, format!("SELECT COUNT(*) FROM events WHERE event_id = '{}'", twice.event_id)).await,
            1
        );
        let issue = only_issue(&target.scope, target.project_id).await;
        assert_eq!(issue.times_seen, 3);
        assert_eq!(issue.users_seen, 2, "ada and bob; the repeat's user is not counted");
        let users = tag_values(&target.scope, issue.id.into(), "user").await;
        assert!(users.iter().all(|(user, _)| !user.contains("mallory")), "{users:?}");
        assert_eq!(users.iter().map(|(_, n)| n).sum::<i64>(), 3);
        assert_eq!(
            count(&app, "SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issue_stats_hourly".to_owned()).await,
            3
        );
        assert_eq!(
            count(&app, "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE category = 'error' AND outcome = 'accepted'".to_owned()).await,
            3,
            "duplicates are not accepted twice"
        );
    }
);

db_test!(
    async fn a_resolved_issue_regresses_exactly_once_within_a_batch(backend) {
        let app = TestApp::spawn_ingest_only(backend).await;
        let target = create_project(&app, "Acme").await;
        let scope = &target.scope;
        send(&app, &target, &Event::of("KeyError")).await;
        app.digest_spooled().await;
        let id = only_issue(scope, target.project_id).await.id;

        // Resolved now: three later events in one batch regress it once.
        issue::change_status(scope, id, StatusChange::Resolve).await.expect("resolve");
        for _ in 0..3 {
            send(&app, &target, &Event::of("KeyError")).await;
        }
        app.digest_spooled().await;
        let issue = issue::get_issue(scope, id).await.expect("issue");
        assert_eq!((issue.status.as_str(), issue.substatus.map(|s| s.as_str())), ("unresolved", Some("regressed")));
        assert_eq!(issue.times_seen, 4);

        // Resolved in shop@1.2: a batch of older releases leaves it resolved; a batch whose
        // second event is newer regresses it once, naming that event's release.
        issue::change_status(scope, id, StatusChange::ResolveInRelease("shop@1.2".to_owned()))
            .await
            .expect("resolve in release");
        for release in ["shop@1.1", "shop@1.0"] {
            let mut event = Event::of("KeyError");
            event.release = Some(release);
            send(&app, &target, &event).await;
        }
        app.digest_spooled().await;
        assert_eq!(issue::get_issue(scope, id).await.expect("issue").status.as_str(), "resolved");
        for release in ["shop@1.1", "shop@1.3", "shop@1.4"] {
            let mut event = Event::of("KeyError");
            event.release = Some(release);
            send(&app, &target, &event).await;
        }
        app.digest_spooled().await;
        let issue = issue::get_issue(scope, id).await.expect("issue");
        assert_eq!((issue.status.as_str(), issue.substatus.map(|s| s.as_str())), ("unresolved", Some("regressed")));
        assert_eq!(issue.times_seen, 9);
        let activity = issue::list_activity(scope, id).await.expect("activity");
        let kinds: Vec<&str> = activity.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["resolved", "regression", "resolved", "regression"]);
        assert_eq!(activity[3].data["release"], "shop@1.3");
    }
);

db_test!(
    async fn events_of_two_projects_in_one_batch_stay_apart(backend) {
        let app = TestApp::spawn_ingest_only(backend).await;
        let acme = create_project(&app, "Acme").await;
        let globex = create_project(&app, "Globex").await;
        // The same event (same id, same bug) to both, and a few more to each.
        let mut shared = Event::of("KeyError");
        shared.user = Some("ada");
        let mut sends = vec![(&acme, shared.envelope()), (&globex, shared.envelope())];
        for i in 0..3 {
            let mut event = Event::of("KeyError");
            event.user = Some(if i == 0 { "ada" } else { "bob" });
            sends.push((&acme, event.envelope()));
        }
        let mut other_bug = Event::of("ValueError");
        other_bug.user = Some("cy");
        sends.push((&globex, other_bug.envelope()));
        for (target, body) in sends {
            let path = format!("/api/{}/envelope/?sentry_key={}", target.project_id, target.key);
            assert_eq!(post_raw(&app, &path, &[], body).await.0, 200);
        }
        assert_eq!(app.digest_spooled().await, 6, "the shared event id once per project");

        let acme_issue = only_issue(&acme.scope, acme.project_id).await;
        assert_eq!((acme_issue.times_seen, acme_issue.users_seen), (4, 2));
        let globex_issues = issue::list_issues(&globex.scope, ProjectId(globex.project_id)).await.expect("list");
        assert_eq!(globex_issues.len(), 2, "{globex_issues:?}");
        for issue in &globex_issues {
            assert_eq!((issue.times_seen, issue.users_seen), (1, 1), "{issue:?}");
            assert_ne!(issue.id, acme_issue.id);
        }
        for table in ["events", "issue_stats_hourly", "issue_tag_values", "issue_fingerprints"] {
            assert_eq!(
                count(&app, format!("SELECT COUNT(*) FROM {table} t JOIN issues i ON i.id = t.issue_id WHERE i.project_id <> t.project_id OR i.account_id <> t.account_id")).await,
                0,
                "{table} rows belong to their issue's project"
            );
        }
        assert_eq!(
            count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {}", acme.project_id)).await,
            4
        );
        assert_eq!(
            count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {}", globex.project_id)).await,
            2
        );
        assert_eq!(
            count(&app, format!("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE outcome = 'accepted' AND project_id = {}", globex.project_id)).await,
            2
        );
    }
);

db_test!(
    async fn a_batch_runs_statements_per_issue_and_chunk_not_per_event(backend) {
        // The count is the pool's, so no background task may run during a digest: the quota
        // refresh (every 2 s by default, about 5 statements) once made a loaded CI run count 30.
        let app = TestApp::spawn_ingest_only_with(backend, &[("ERRORWATCH_QUOTA_REFRESH_MS", "60000")]).await;
        let target = create_project(&app, "Acme").await;
        let bugs = ["KeyError", "ValueError", "TypeError", "IndexError", "OSError"];
        let users = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"];
        let mut statements = Vec::new();
        for round in 0..2 {
            for i in 0..200 {
                let mut event = Event::of(bugs[i % bugs.len()]);
                event.user = Some(users[(i + round) % users.len()]);
                event.release = Some("shop@1");
                event.tags = json!({"browser": if i % 3 == 0 { "firefox" } else { "chrome" }, "round": round.to_string()});
                send(&app, &target, &event).await;
            }
            let before = app.db.statements();
            assert_eq!(app.digest_spooled().await, 200);
            statements.push(app.db.statements() - before);
        }
        eprintln!("statements per batch of 200 events of 5 issues: new issues {}, known issues {}", statements[0], statements[1]);
        // Fixed: claim rows (PostgreSQL: sizes, then rows and their deletion; SQLite: the spool
        // file is read outside this database, then its cursor is read and moved), read rules,
        // look up event ids, fingerprints and users, insert events, upsert hourly stats and tag
        // values, look up settled issues, look up which projects have alert rules, write the
        // outcome, look up the project's newest upload (source maps), upsert the releases and
        // their environments: at most 16. Per known issue one
        // update. New issues add a transition lookup, a fingerprint insert and their release
        // links, then an insert and a users update per issue. Nothing per event.
        assert!(statements[0] <= 16 + 3 + 2 * 5, "{statements:?}");
        assert!(statements[1] <= 16 + 5, "{statements:?}");
        let issues = issue::list_issues(&target.scope, ProjectId(target.project_id)).await.expect("list");
        assert_eq!(issues.len(), 5);
        // Each bug sees two users a round, two others the next.
        assert!(issues.iter().all(|i| i.times_seen == 80 && i.users_seen == 4), "{issues:?}");
    }
);

db_test!(
    async fn a_full_spool_answers_503_with_retry_after_until_the_digest_catches_up(backend) {
        let app = TestApp::spawn_ingest_only_with(backend, &[("ERRORWATCH_SPOOL_MAX_BACKLOG", "5")]).await;
        let target = create_project(&app, "Acme").await;
        let path = format!("/api/{}/envelope/?sentry_key={}", target.project_id, target.key);
        for _ in 0..5 {
            send(&app, &target, &Event::of("KeyError")).await;
        }
        // The writer re-reads the backlog every 250 ms.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let retry_after = loop {
            let response = app.client.post(app.url(&path)).body(Event::of("KeyError").envelope()).send().await.expect("request");
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status == 503 {
                assert!(body["detail"].as_str().is_some_and(|d| d.contains("busy")), "{body:?}");
                break retry_after;
            }
            assert_eq!(status, 200, "{body:?}");
            assert!(std::time::Instant::now() < deadline, "no 503 while 5 envelopes wait");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(retry_after.as_deref(), Some("1"));
        let spooled = app.spool.backlog().await.expect("backlog");
        assert!((5..=8).contains(&spooled), "{spooled} envelopes spooled");
        let stored = app.digest_spooled().await;
        assert_eq!(stored as u64, spooled, "every accepted envelope digested");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (status, _, _) = post_raw(&app, &path, &[], Event::of("KeyError").envelope()).await;
            if status == 200 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still refused after the digest caught up");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // The refusals are counted (the hot path's outcome buffer is flushed every second).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while count(&app, format!("SELECT COUNT(*) FROM outcomes WHERE reason = 'backpressure' AND project_id = {}", target.project_id)).await == 0 {
            assert!(std::time::Instant::now() < deadline, "refusals not counted as outcomes");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
);

db_test!(
    async fn two_digests_racing_for_the_same_rows_count_each_event_once(backend) {
        let app = TestApp::spawn_ingest_only(backend).await;
        let target = create_project(&app, "Acme").await;
        for i in 0..60 {
            let mut event = Event::of(["KeyError", "ValueError"][i % 2]);
            event.user = Some(["u1", "u2", "u3"][i % 3]);
            send(&app, &target, &event).await;
        }
        let metrics = errorwatch_core::metrics::Metrics::new();
        let maps = errorwatch_core::digest::symbolicate::Symbolicator::new(&app.config.artifacts);
        let run = || errorwatch_core::digest::runner::drain(&app.db, &app.spool, &metrics, &maps);
        let (a, b) = tokio::join!(run(), run());
        let stored = a.expect("first digest") + b.expect("second digest");
        assert_eq!(stored, 60, "each event stored by exactly one of them");
        assert_eq!(app.spool.backlog().await.expect("backlog"), 0);
        let p = target.project_id;
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {p}")).await, 60);
        assert_eq!(count(&app, format!("SELECT CAST(SUM(times_seen) AS BIGINT) FROM issues WHERE project_id = {p}")).await, 60);
        assert_eq!(count(&app, format!("SELECT CAST(SUM(users_seen) AS BIGINT) FROM issues WHERE project_id = {p}")).await, 6);
        assert_eq!(count(&app, format!("SELECT CAST(SUM(times_seen) AS BIGINT) FROM issue_stats_hourly WHERE project_id = {p}")).await, 60);
        assert_eq!(
            count(&app, format!("SELECT CAST(SUM(quantity) AS BIGINT) FROM outcomes WHERE outcome = 'accepted' AND project_id = {p}")).await,
            60
        );
    }
);

db_test!(
    async fn two_pipelined_digest_loops_drain_a_multi_batch_backlog_exactly_once(backend) {
        // Each loop writes one batch while it reads and prepares the next; two of them (two
        // processes) race for the same rows: SQLite through the cursor, PostgreSQL through
        // row locks. A backlog of several batches must end stored and counted exactly once.
        let app = TestApp::spawn_ingest_only(backend).await;
        let target = create_project(&app, "Acme").await;
        let total = 3 * errorwatch_core::digest::runner::MAX_ROWS as usize + 17;
        for i in 0..total {
            let mut event = Event::of(["KeyError", "ValueError", "TypeError"][i % 3]);
            event.user = Some(["u1", "u2", "u3", "u4"][i % 4]);
            send(&app, &target, &event).await;
        }
        let metrics = errorwatch_core::metrics::Metrics::new();
        let stop = tokio_util::sync::CancellationToken::new();
        let loops: Vec<_> = (0..2)
            .map(|_| {
                tokio::spawn(errorwatch_core::digest::runner::run(
                    app.db.clone(),
                    app.spool.clone(),
                    std::sync::Arc::new(tokio::sync::Notify::new()),
                    metrics.clone(),
                    std::sync::Arc::new(errorwatch_core::digest::symbolicate::Symbolicator::new(&app.config.artifacts)),
                    stop.clone(),
                ))
            })
            .collect();
        let p = target.project_id;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {p}")).await < total as i64 {
            assert!(std::time::Instant::now() < deadline, "the backlog was not drained in 60 s");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Give a racing loop time to (wrongly) store something twice before stopping.
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        stop.cancel();
        for handle in loops {
            handle.await.expect("digest loop");
        }
        assert_eq!(app.spool.backlog().await.expect("backlog"), 0);
        let n = total as i64;
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {p}")).await, n);
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM issues WHERE project_id = {p}")).await, 3);
        assert_eq!(count(&app, format!("SELECT CAST(SUM(times_seen) AS BIGINT) FROM issues WHERE project_id = {p}")).await, n);
        assert_eq!(count(&app, format!("SELECT CAST(SUM(users_seen) AS BIGINT) FROM issues WHERE project_id = {p}")).await, 12);
        assert_eq!(count(&app, format!("SELECT CAST(SUM(times_seen) AS BIGINT) FROM issue_stats_hourly WHERE project_id = {p}")).await, n);
        assert_eq!(
            count(&app, format!("SELECT CAST(SUM(quantity) AS BIGINT) FROM outcomes WHERE outcome = 'accepted' AND project_id = {p}")).await,
            n
        );
    }
);

db_test!(
    async fn jobs_status_lists_envelopes_the_digest_has_not_reached(backend) {
        let app = TestApp::spawn_ingest_only(backend).await;
        let target = create_project(&app, "Acme").await;
        for _ in 0..3 {
            send(&app, &target, &Event::of("KeyError")).await;
        }
        let env = [("DATABASE_URL", app.database_url())];
        let spool_rows = || {
            let status = crate::cli::errorwatch(&["jobs", "status", "--json"], &env, "");
            assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
            let rows: Value = serde_json::from_slice(&status.stdout).expect("json");
            rows.as_array()
                .expect("rows")
                .iter()
                .filter(|row| row["job"] == "ingest_spool")
                .map(|row| (row["status"].as_str().unwrap_or_default().to_owned(), row["count"].as_i64().unwrap_or_default()))
                .collect::<Vec<_>>()
        };
        assert_eq!(spool_rows(), vec![("Pending".to_owned(), 3)]);
        assert_eq!(app.digest_spooled().await, 3);
        assert_eq!(spool_rows(), vec![], "digested rows are not pending, deleted or not");
    }
);
