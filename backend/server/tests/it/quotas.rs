//! Plans, quotas and tiered rate limits through the real ingest endpoints: a used-up quota
//! answers 429 with Sentry's `usage_exceeded` header (also on the last 200s), drops are counted
//! as outcomes, usage is exact, owners are warned at 80 % and 100 %, one account's usage never
//! touches another's; plan tiers limit keys and projects; two processes on one database keep a
//! hard cap exact.

use std::time::{Duration, Instant};

use errorwatch_core::service::project;

use crate::harness::{Backend, TestApp, db_test};
use crate::ingest::{Target, create_project};

/// A plans file whose self-host plan (every account's, self-hosted) is `plan` (JSON fields).
fn plans_file(plan: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let json = format!(r#"[{{"slug":"self-hosted","name":"Tiny","retention_days":30,{plan}}}]"#);
    std::io::Write::write_all(&mut file, json.as_bytes()).expect("write");
    file
}

async fn spawn_with_plan(backend: Backend, plan: &str) -> (TestApp, tempfile::NamedTempFile) {
    let file = plans_file(plan);
    let path = file.path().to_str().expect("utf-8").to_owned();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("ERRORWATCH_PLANS_FILE", &path),
            ("ERRORWATCH_QUOTA_REFRESH_MS", "100"),
        ],
    )
    .await;
    (app, file)
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    rate_limits: Option<String>,
}

async fn send_event(app: &TestApp, target: &Target) -> Answer {
    let response = app
        .client
        .post(app.url(&format!(
            "/api/{}/store/?sentry_key={}",
            target.project_id, target.key
        )))
        .body(r#"{"message":"over quota?","level":"error"}"#)
        .send()
        .await
        .expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Answer {
        status: response.status().as_u16(),
        retry_after: header("retry-after").and_then(|v| v.parse().ok()),
        rate_limits: header("x-sentry-rate-limits"),
    }
}

async fn wait_for_scalar(app: &TestApp, sql: &'static str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let value = app.scalar(sql).await;
        if value == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {value}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_mail(app: &TestApp, subject: &str) -> crate::harness::smtp::Mail {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(mail) = app
            .smtp
            .all()
            .into_iter()
            .find(|m| m.subject().contains(subject))
        {
            assert!(
                mail.to.iter().all(|to| to.starts_with("owner-")),
                "sent to the owner: {:?}",
                mail.to
            );
            return mail;
        }
        assert!(Instant::now() < deadline, "no email {subject:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const ERROR_USAGE: &str =
    "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM usage_periods WHERE category = 'error'";
const USAGE_DROPS: &str = "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE outcome = 'rate_limited' AND reason = 'usage_exceeded'";

db_test!(
    async fn a_used_up_quota_answers_429_usage_exceeded_and_the_last_200_says_so(backend) {
        let (app, _plans) = spawn_with_plan(backend, r#""quotas":{"error":5}"#).await;
        let acme = create_project(&app, "Acme").await;
        for _ in 0..4 {
            let answer = send_event(&app, &acme).await;
            assert_eq!((answer.status, answer.rate_limits), (200, None));
        }
        // 80 %: the owner is told once.
        let warning = wait_for_mail(&app, "80 % of your error quota is used").await;
        assert!(warning.data.contains("4 of the 5 error"), "{}", warning.data);
        assert!(
            warning.data.contains("/settings/billing?account=acme"),
            "the link names the account: {}",
            warning.data
        );
        // The 5th is accepted and tells the SDK that errors are used up.
        let last = send_event(&app, &acme).await;
        assert_eq!(last.status, 200);
        // A 200 carries no Retry-After: the seconds are in the header itself.
        assert_eq!(last.retry_after, None);
        let header = last.rate_limits.clone().expect("X-Sentry-Rate-Limits on the 200");
        let retry: u64 = header.split(':').next().expect("seconds").parse().expect("number");
        assert!((1..=600).contains(&retry), "{retry}");
        assert_eq!(
            last.rate_limits.as_deref(),
            Some(format!("{retry}:error;default;security:organization:usage_exceeded").as_str())
        );
        for _ in 0..2 {
            let refused = send_event(&app, &acme).await;
            assert_eq!(refused.status, 429);
            let retry = refused.retry_after.expect("Retry-After");
            assert!((1..=600).contains(&retry), "{retry}");
            assert_eq!(
                refused.rate_limits,
                Some(format!("{retry}:error;default;security:organization:usage_exceeded"))
            );
        }
        // Categories without a quota still pass (a client report).
        let (status, _, _) = crate::ingest::post_raw(
            &app,
            &format!("/api/{}/envelope/?sentry_key={}", acme.project_id, acme.key),
            &[],
            b"{}\n{\"type\":\"client_report\"}\n{\"discarded_events\":[]}\n".to_vec(),
        )
        .await;
        assert_eq!(status, 200);
        // Another account is not touched by Acme's usage.
        let globex = create_project(&app, "Globex").await;
        assert_eq!(send_event(&app, &globex).await.status, 200);
        // Usage is exact, the drops are outcomes, nothing accepted is lost, 100 % is mailed.
        wait_for_mail(&app, "your error quota is used up").await;
        wait_for_scalar(&app, ERROR_USAGE, 6).await;
        wait_for_scalar(&app, USAGE_DROPS, 2).await;
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 6);
        let acme_usage = app
            .scalar("SELECT quantity FROM usage_periods WHERE category = 'error' ORDER BY quantity DESC LIMIT 1")
            .await;
        assert_eq!(acme_usage, 5);
        let quota_mails = app
            .smtp
            .all()
            .into_iter()
            .filter(|m| m.subject().contains("quota"))
            .count();
        assert_eq!(quota_mails, 2, "one 80 % and one 100 % email");
    }
);

db_test!(
    async fn plan_tiers_limit_each_key_and_a_keys_own_limit_wins(backend) {
        let (app, _plans) =
            spawn_with_plan(backend, r#""key_rate_per_minute":3,"key_burst":3"#).await;
        let acme = create_project(&app, "Acme").await;
        for _ in 0..3 {
            assert_eq!(send_event(&app, &acme).await.status, 200);
        }
        let refused = send_event(&app, &acme).await;
        assert_eq!(refused.status, 429);
        let retry = refused.retry_after.expect("Retry-After");
        assert_eq!(refused.rate_limits, Some(format!("{retry}::key:key_quota")));
        // The key's own limit replaces the plan's tier.
        crate::ingest::set_key_rate(&app, &acme, Some(100)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..5 {
            assert_eq!(send_event(&app, &acme).await.status, 200);
        }
        wait_for_scalar(
            &app,
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE reason = 'key_quota'",
            1,
        )
        .await;
    }
);

db_test!(
    async fn spike_protection_limits_a_project_across_its_keys(backend) {
        let (app, _plans) = spawn_with_plan(backend, r#""spike_per_minute":4"#).await;
        let acme = create_project(&app, "Acme").await;
        let url = app.config.http.public_url.clone();
        let projects = project::list_projects(&acme.scope, &url).await.expect("projects");
        let second = project::create_key(
            &acme.scope,
            &url,
            errorwatch_core::ids::ProjectId(acme.project_id),
            "second",
        )
        .await
        .expect("key");
        let second = Target {
            project_id: acme.project_id,
            key: second.public_key,
            scope: acme.scope.clone(),
        };
        assert_eq!(projects.len(), 1);
        for target in [&acme, &second, &acme, &second] {
            assert_eq!(send_event(&app, target).await.status, 200);
        }
        let refused = send_event(&app, &second).await;
        assert_eq!(refused.status, 429);
        let retry = refused.retry_after.expect("Retry-After");
        assert_eq!(
            refused.rate_limits,
            Some(format!("{retry}::project:spike_protection"))
        );
        // Another account's project has its own allowance.
        let globex = create_project(&app, "Globex").await;
        assert_eq!(send_event(&app, &globex).await.status, 200);
        wait_for_scalar(
            &app,
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes WHERE reason = 'spike_protection'",
            1,
        )
        .await;
    }
);

db_test!(
    async fn two_processes_never_accept_past_a_hard_cap_and_count_usage_exactly(backend) {
        let (first, plans) = spawn_with_plan(backend, r#""quotas":{"error":50}"#).await;
        let path = plans.path().to_str().expect("utf-8").to_owned();
        let second = first
            .spawn_sharing(&[
                ("ERRORWATCH_PLANS_FILE", &path),
                ("ERRORWATCH_QUOTA_REFRESH_MS", "100"),
            ])
            .await;
        let acme = create_project(&first, "Acme").await;
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..6 {
            let app = if worker % 2 == 0 { &first } else { &second };
            let (client, url) = (
                app.client.clone(),
                app.url(&format!("/api/{}/store/?sentry_key={}", acme.project_id, acme.key)),
            );
            tasks.spawn(async move {
                let mut accepted = 0;
                for _ in 0..20 {
                    let response = client
                        .post(&url)
                        .body(r#"{"message":"race"}"#)
                        .send()
                        .await
                        .expect("request");
                    match response.status().as_u16() {
                        200 => accepted += 1,
                        429 => {}
                        other => panic!("status {other}"),
                    }
                }
                accepted
            });
        }
        let mut accepted = 0;
        while let Some(result) = tasks.join_next().await {
            accepted += result.expect("task");
        }
        assert_eq!(accepted, 50, "120 sent to two processes, quota 50");
        wait_for_scalar(&first, ERROR_USAGE, 50).await;
        wait_for_scalar(&first, USAGE_DROPS, 70).await;
        first.run_pending_jobs().await;
        assert_eq!(first.scalar("SELECT COUNT(*) FROM events").await, 50);
        second.stop().await.expect("second stops");
        // At the cap no units are left reserved; the stopped process' leases are gone.
        wait_for_scalar(
            &first,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM usage_leases WHERE amount <> 0",
            0,
        )
        .await;
    }
);

db_test!(
    async fn plans_and_an_accounts_usage_are_visible_in_graphql_to_its_members_only(backend) {
        let file = {
            let mut file = tempfile::NamedTempFile::new().expect("temp file");
            let json = r#"[
                {"slug":"self-hosted","name":"Tiny","retention_days":30,"quotas":{"error":3}},
                {"slug":"big","name":"Big","price_cents":900,"retention_days":90,"quotas":{"error":1000},
                 "overage":{"policy":"soft","steps":[{"at":1.0,"drop":0.5},{"at":1.5,"drop":1.0}]},
                 "key_rate_per_minute":500,"key_burst":1000},
                {"slug":"hidden","name":"Hidden","retention_days":1,"public":false}
            ]"#;
            std::io::Write::write_all(&mut file, json.as_bytes()).expect("write");
            file
        };
        let path = file.path().to_str().expect("utf-8").to_owned();
        let app = TestApp::spawn_with(
            backend,
            &[
                ("ERRORWATCH_PLANS_FILE", &path),
                ("ERRORWATCH_QUOTA_REFRESH_MS", "100"),
            ],
        )
        .await;
        // The plans on offer need no sign-in; hidden ones are not listed.
        let anonymous = crate::harness::gql::Gql::browser(&app);
        let plans = anonymous
            .ok(
                "{ plans { slug name priceCents quotas { category amount } overageSteps { at drop } retentionDays keyRatePerMinute keyBurst } }",
                serde_json::json!({}),
            )
            .await;
        let slugs: Vec<&str> = plans["plans"]
            .as_array()
            .expect("list")
            .iter()
            .map(|p| p["slug"].as_str().expect("slug"))
            .collect();
        assert_eq!(slugs, ["self-hosted", "big"]);
        assert_eq!(plans["plans"][1]["overageSteps"][0]["drop"], 0.5);
        assert_eq!(plans["plans"][1]["keyBurst"], 1000);

        let (owner, account) =
            crate::harness::gql::user_with_account(&app, "billing-owner@example.com", "Acme").await;
        let created = owner
            .ok(
                "mutation($a: ID!) { createProject(accountId: $a, name: \"Web\") { keys { publicKey dsn } } }",
                serde_json::json!({"a": account}),
            )
            .await;
        let key = created["createProject"]["keys"][0]["publicKey"]
            .as_str()
            .expect("key")
            .to_owned();
        let dsn = created["createProject"]["keys"][0]["dsn"].as_str().expect("dsn");
        let project_id: i64 = dsn.rsplit('/').next().expect("id").parse().expect("number");
        let target = Target {
            project_id,
            key,
            scope: crate::ingest::other_account_scope(&app).await,
        };
        let statuses: Vec<u16> = {
            let mut out = Vec::new();
            for _ in 0..5 {
                out.push(send_event(&app, &target).await.status);
            }
            out
        };
        assert_eq!(statuses, [200, 200, 200, 429, 429]);
        app.run_pending_jobs().await;
        wait_for_scalar(&app, ERROR_USAGE, 3).await;
        wait_for_scalar(&app, USAGE_DROPS, 2).await;
        let query = "query($a: ID!) { account(id: $a) { billing { status periodStart periodEnd plan { slug } usage { category quantity quota percent } dropped { category outcome reason quantity } daily { category accepted dropped } } } }";
        let billing = owner.ok(query, serde_json::json!({"a": account})).await["account"]["billing"].clone();
        assert_eq!(billing["status"], "free");
        assert_eq!(billing["plan"]["slug"], "self-hosted");
        assert_eq!(
            billing["usage"],
            serde_json::json!([{"category": "error", "quantity": 3, "quota": 3, "percent": 100.0}])
        );
        assert_eq!(
            billing["dropped"],
            serde_json::json!([{"category": "error", "outcome": "rate_limited", "reason": "usage_exceeded", "quantity": 2}])
        );
        assert_eq!(
            billing["daily"],
            serde_json::json!([{"category": "error", "accepted": 3, "dropped": 2}])
        );
        let start: chrono::DateTime<chrono::Utc> =
            billing["periodStart"].as_str().expect("start").parse().expect("time");
        assert!(start <= chrono::Utc::now());
        // Another user (and their account) cannot read Acme's billing.
        let (stranger, _) =
            crate::harness::gql::user_with_account(&app, "stranger@example.com", "Globex").await;
        assert_eq!(
            stranger.err(query, serde_json::json!({"a": account})).await,
            "NOT_FOUND"
        );
    }
);

db_test!(
    async fn events_are_kept_no_longer_than_the_accounts_plan_allows(backend) {
        use errorwatch_core::digest::retention::EvictEvents;

        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(
            file.path(),
            r#"[{"slug":"self-hosted","name":"Short","retention_days":2}]"#,
        )
        .expect("plans file");
        let path = file.path().to_str().expect("utf-8").to_owned();
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_PLANS_FILE", &path)]).await;
        let acme = create_project(&app, "Acme").await;
        let five_days_ago = (chrono::Utc::now() - chrono::Duration::days(5)).to_rfc3339();
        for timestamp in [None, Some(five_days_ago.as_str()), None] {
            let mut event = serde_json::json!({"message": "kept for the plan's days"});
            if let Some(t) = timestamp {
                event["timestamp"] = serde_json::json!(t);
            }
            let (status, _, _) = crate::ingest::post_raw(
                &app,
                &format!("/api/{}/store/?sentry_key={}", acme.project_id, acme.key),
                &[],
                event.to_string().into_bytes(),
            )
            .await;
            assert_eq!(status, 200);
            app.run_pending_jobs().await;
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 3);
        // The operator's 90 days alone keep it.
        let job = |default_plan: Option<&str>| EvictEvents {
            max_age_days: 90,
            max_events_per_project: 1000,
            default_plan: default_plan.map(str::to_owned),
        };
        app.queue.enqueue(&job(None)).await.expect("enqueue");
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 3);
        // The plan's 2 days evict the 5-day-old event (first and latest of the issue stay).
        app.queue.enqueue(&job(Some("self-hosted"))).await.expect("enqueue");
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 2);
    }
);

db_test!(
    async fn the_plans_member_limit_counts_members_and_open_invites(backend) {
        use crate::harness::gql::{sign_up, user_with_account};
        const INVITE: &str = "mutation($a: ID!, $e: String!) { inviteMember(accountId: $a, email: $e, role: MEMBER) { id } }";
        const ACCEPT: &str = "mutation($t: String!) { acceptInvite(token: $t) { id } }";
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(
            file.path(),
            r#"[{"slug":"self-hosted","name":"Duo","retention_days":30,"max_members":2}]"#,
        )
        .expect("plans file");
        let path = file.path().to_str().expect("utf-8").to_owned();
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_PLANS_FILE", &path)]).await;
        let (owner, acme) = user_with_account(&app, "duo-owner@example.com", "Acme").await;
        let vars = |email: &str| serde_json::json!({"a": acme, "e": email});
        owner.ok(INVITE, vars("second@example.com")).await;
        // The owner and one open invite fill the plan; re-sending that invite is fine.
        let body = owner.exec(INVITE, vars("third@example.com")).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "PLAN_LIMIT", "{body:#}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("allows 2 members")),
            "{body:#}"
        );
        owner.ok(INVITE, vars("second@example.com")).await;
        let second = sign_up(&app, "second@example.com").await;
        // Both invite emails arrive (in either order); only the newer link still works.
        app.smtp.wait_for("second@example.com", "invited to", 2).await;
        let mut joined = 0;
        for mail in app
            .smtp
            .to("second@example.com")
            .into_iter()
            .filter(|m| m.subject().contains("invited to"))
        {
            let body = second
                .exec(ACCEPT, serde_json::json!({"t": mail.token("accept-invite")}))
                .await;
            joined += usize::from(body.get("errors").is_none());
        }
        assert_eq!(joined, 1, "one live invite");
        assert_eq!(owner.err(INVITE, vars("third@example.com")).await, "PLAN_LIMIT");
        // Another account on the same plan has its own room.
        let (other, globex) = user_with_account(&app, "globex-owner@example.com", "Globex").await;
        other
            .ok(INVITE, serde_json::json!({"a": globex, "e": "third@example.com"}))
            .await;
    }
);
