//! Alerts end to end: events sent over HTTP like an SDK, rules and targets created through
//! core's services, deliveries to real local HTTP receivers and the SMTP sink.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use errorwatch_core::Error;
use errorwatch_core::ids::{AlertRuleId, AlertTargetId, ProjectId};
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::alert::{self, RuleInput, TargetInput};
use errorwatch_core::service::issue::{self, StatusChange};

use crate::harness::{Backend, TestApp, db_test};
use crate::ingest::{create_project, other_account_scope, post_raw};

/// Local receivers are on 127.0.0.1, so these apps allow private targets (self-hosted).
const LOCAL: &[(&str, &str)] = &[
    ("ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS", "true"),
    ("ERRORWATCH_ALERTS_RETRY_BASE_MS", "50"),
    ("ERRORWATCH_ALERTS_TIMEOUT_SECS", "1"),
];

#[derive(Default)]
struct Received {
    fail_first: usize,
    hang: bool,
    requests: Vec<(HeaderMap, Bytes)>,
    successes: usize,
}

/// An HTTP receiver on 127.0.0.1: answers 500 to the first `fail_first` requests, then 200;
/// or never answers (`hang`).
#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<Received>>,
}

impl Receiver {
    async fn start(fail_first: usize, hang: bool) -> Self {
        let state = Arc::new(Mutex::new(Received {
            fail_first,
            hang,
            ..Received::default()
        }));
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    fn requests(&self) -> usize {
        self.state.lock().expect("lock").requests.len()
    }

    fn successes(&self) -> usize {
        self.state.lock().expect("lock").successes
    }

    fn set_fail_first(&self, n: usize) {
        let mut state = self.state.lock().expect("lock");
        state.fail_first = n;
    }

    fn last(&self) -> (HeaderMap, Bytes) {
        self.state
            .lock()
            .expect("lock")
            .requests
            .last()
            .cloned()
            .expect("a request")
    }
}

async fn receive(
    State(state): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (hang, fail) = {
        let mut state = state.lock().expect("lock");
        state.requests.push((headers, body));
        let n = state.requests.len();
        (state.hang, n <= state.fail_first)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        state.lock().expect("lock").successes += 1;
        StatusCode::OK
    }
}

struct Setup {
    app: TestApp,
    scope: AccountScope,
    project_id: i64,
    key: String,
}

async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Setup {
    let app = TestApp::spawn_with(backend, extra).await;
    let target = create_project(&app, "Acme").await;
    Setup {
        project_id: target.project_id,
        key: target.key,
        scope: target.scope,
        app,
    }
}

impl Setup {
    /// Sends one exception event of type `ty` (one type, one issue); returns how long ingest
    /// took to answer.
    async fn send(&self, ty: &str) -> Duration {
        let event = serde_json::json!({
            "release": "shop@1.0",
            "exception": {"values": [{"type": ty, "value": "'discount'",
                "stacktrace": {"frames": [{"module": "shop.cart", "function": "apply", "in_app": true}]}}]}
        });
        let body = format!("{{}}\n{{\"type\":\"event\"}}\n{event}\n");
        let started = Instant::now();
        let (status, detail, _) = post_raw(
            &self.app,
            &format!("/api/{}/envelope/?sentry_key={}", self.project_id, self.key),
            &[],
            body.into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{detail:?}");
        started.elapsed()
    }

    async fn webhook(&self, url: &str) -> alert::Target {
        self.target("webhook", Some(url), &[]).await
    }

    async fn target(&self, kind: &str, url: Option<&str>, emails: &[&str]) -> alert::Target {
        alert::create_target(
            &self.scope,
            TargetInput {
                project_id: Some(ProjectId(self.project_id)),
                name: format!("{kind} target"),
                kind: kind.to_owned(),
                url: url.map(str::to_owned),
                emails: emails.iter().map(|e| (*e).to_owned()).collect(),
            },
            self.app.config.alerts.allow_private_targets,
        )
        .await
        .expect("target")
    }

    async fn rule(&self, trigger: &str, targets: &[AlertTargetId]) -> alert::Rule {
        alert::create_rule(
            &self.scope,
            RuleInput {
                project_id: ProjectId(self.project_id),
                name: format!("{trigger} rule"),
                trigger: trigger.to_owned(),
                frequency_count: Some(2),
                frequency_minutes: Some(60),
                filters: Default::default(),
                action_interval_minutes: 60,
                enabled: true,
                target_ids: targets.to_vec(),
            },
        )
        .await
        .expect("rule")
    }

    /// Waits until `count` deliveries have `status`, then until the queue is drained.
    async fn wait_for_deliveries(&self, status: &str, count: usize) -> Vec<alert::Delivery> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let deliveries = alert::list_deliveries(&self.scope, Some(status), 500)
                .await
                .expect("deliveries");
            if deliveries.len() >= count {
                self.app.run_pending_jobs().await;
                return alert::list_deliveries(&self.scope, Some(status), 500)
                    .await
                    .expect("deliveries");
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} deliveries {status} after 30 s: {:?}",
                deliveries.len(),
                alert::list_deliveries(&self.scope, None, 500).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn settle(&self) {
        self.app.run_pending_jobs().await;
        // The evaluation is queued right after the digest's commit: drain once more.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.app.run_pending_jobs().await;
    }
}

db_test!(
    async fn each_trigger_fires_once_per_window(backend) {
        let s = setup(backend, LOCAL).await;
        let receiver = Receiver::start(0, false).await;
        let target = s.webhook(&receiver.url).await;
        let new_issue = s.rule("new_issue", &[target.id]).await;
        let regression = s.rule("regression", &[target.id]).await;
        let frequency = s.rule("frequency", &[target.id]).await;

        s.send("KeyError").await;
        s.wait_for_deliveries("sent", 1).await;
        s.send("KeyError").await;
        s.settle().await;
        s.send("KeyError").await;
        s.settle().await;
        let sent = s.wait_for_deliveries("sent", 2).await;
        let by_rule = |rule: AlertRuleId| sent.iter().filter(|d| d.rule_id == Some(rule)).count();
        assert_eq!(by_rule(new_issue.id), 1, "{sent:?}");
        assert_eq!(by_rule(frequency.id), 1, "more than 2 events in 60 minutes: {sent:?}");
        assert_eq!(by_rule(regression.id), 0);

        // More events in the same window: nothing new.
        s.send("KeyError").await;
        s.settle().await;
        assert_eq!(alert::list_deliveries(&s.scope, None, 500).await.expect("list").len(), 2);

        // A regression fires once.
        let issue_id = sent[0].issue_id.expect("an issue");
        issue::change_status(&s.scope, issue_id, StatusChange::Resolve)
            .await
            .expect("resolve");
        s.send("KeyError").await;
        let sent = s.wait_for_deliveries("sent", 3).await;
        assert_eq!(sent.iter().filter(|d| d.rule_id == Some(regression.id)).count(), 1);
        s.send("KeyError").await;
        s.settle().await;
        assert_eq!(alert::list_deliveries(&s.scope, None, 500).await.expect("list").len(), 3);
        assert_eq!(receiver.successes(), 3);

        // Every body is signed with the target's secret.
        let (headers, body) = receiver.last();
        let signature = headers
            .get("x-errorwatch-signature")
            .and_then(|v| v.to_str().ok())
            .expect("signature header");
        let secret = target.secret.expect("webhook secret");
        assert!(errorwatch_core::alert::deliver::verify(&secret, signature, &body));
        assert!(!errorwatch_core::alert::deliver::verify("wrong", signature, &body));
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json body");
        assert_eq!(json["trigger"], "regression");
        assert!(json["title"].as_str().expect("title").contains("KeyError"));
    }
);

db_test!(
    async fn a_receiver_failing_three_times_gets_exactly_one_successful_delivery(backend) {
        let s = setup(backend, LOCAL).await;
        let receiver = Receiver::start(3, false).await;
        let target = s.webhook(&receiver.url).await;
        s.rule("new_issue", &[target.id]).await;
        s.send("KeyError").await;
        let sent = s.wait_for_deliveries("sent", 1).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attempts, 4);
        assert_eq!(receiver.requests(), 4);
        assert_eq!(receiver.successes(), 1);
        // Running the delivery again (a duplicate job run) sends nothing.
        s.app
            .queue
            .enqueue(&errorwatch_core::alert::deliver::DeliverNotification {
                notification_id: sent[0].id,
            })
            .await
            .expect("enqueue");
        s.settle().await;
        assert_eq!(receiver.requests(), 4);
    }
);

db_test!(
    async fn a_receiver_that_is_down_gets_five_attempts_then_a_retryable_dead_letter(backend) {
        let s = setup(backend, LOCAL).await;
        let receiver = Receiver::start(usize::MAX, false).await;
        let target = s.webhook(&receiver.url).await;
        s.rule("new_issue", &[target.id]).await;
        s.send("KeyError").await;
        let dead = s.wait_for_deliveries("dead", 1).await;
        assert_eq!(dead[0].attempts, 5);
        assert_eq!(receiver.requests(), 5);
        assert!(dead[0].last_error.as_deref().unwrap_or_default().contains("500"));

        // Another tenant cannot see or retry it.
        let other = other_account_scope(&s.app).await;
        assert!(matches!(
            alert::retry_delivery(&other, &s.app.queue, dead[0].id).await,
            Err(Error::NotFound)
        ));

        receiver.set_fail_first(0);
        let retried = alert::retry_delivery(&s.scope, &s.app.queue, dead[0].id)
            .await
            .expect("retry");
        assert_eq!(retried.status, "pending");
        let sent = s.wait_for_deliveries("sent", 1).await;
        assert_eq!(sent[0].id, dead[0].id);
        assert_eq!(receiver.successes(), 1);
        // A sent notification is not retried.
        assert!(alert::retry_delivery(&s.scope, &s.app.queue, dead[0].id).await.is_err());
    }
);

db_test!(
    async fn ingest_answers_promptly_while_a_target_hangs(backend) {
        let s = setup(backend, LOCAL).await;
        let receiver = Receiver::start(0, true).await;
        let target = s.webhook(&receiver.url).await;
        s.rule("new_issue", &[target.id]).await;
        let mut slowest = Duration::ZERO;
        for n in 0..20 {
            slowest = slowest.max(s.send(&format!("Error{n}")).await);
        }
        assert!(slowest < Duration::from_secs(1), "slowest ingest {slowest:?}");
        // The deliveries time out (1 s) and are retried; they never block the digest.
        let deadline = Instant::now() + Duration::from_secs(30);
        while receiver.requests() < 20 {
            assert!(Instant::now() < deadline, "{} requests", receiver.requests());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let issues = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("issues");
        assert_eq!(issues.len(), 20);
    }
);

db_test!(
    async fn email_arrives_with_title_and_link(backend) {
        let s = setup(backend, LOCAL).await;
        let target = s.target("email", None, &["oncall@example.com"]).await;
        s.rule("new_issue", &[target.id]).await;
        s.send("KeyError").await;
        let mail = s.app.smtp.wait_for("oncall@example.com", "KeyError", 1).await;
        assert!(mail.subject().contains("New issue"), "{}", mail.subject());
        assert!(mail.data.contains("/issues/iss_"), "{}", mail.data);
        assert!(mail.data.contains("shop.cart in apply"), "top frame: {}", mail.data);
        s.wait_for_deliveries("sent", 1).await;
    }
);

db_test!(
    async fn webhooks_to_loopback_are_refused_in_saas_mode(backend) {
        let s = setup(
            backend,
            &[
                ("ERRORWATCH_MODE", "saas"),
                ("ERRORWATCH_ALERTS_RETRY_BASE_MS", "20"),
                ("ERRORWATCH_ALERTS_TIMEOUT_SECS", "1"),
            ],
        )
        .await;
        let receiver = Receiver::start(0, false).await;
        let by_name_url = receiver.url.replace("127.0.0.1", "localhost");
        let save = |url: &str, allow_private: bool| {
            let input = TargetInput {
                project_id: Some(ProjectId(s.project_id)),
                name: "Hook".to_owned(),
                kind: "webhook".to_owned(),
                url: Some(url.to_owned()),
                emails: vec![],
            };
            alert::create_target(&s.scope, input, allow_private)
        };
        // Refused when saved, naming the setting that would allow it.
        for url in [&receiver.url, &by_name_url] {
            let refused = save(url, false).await.expect_err("a loopback target is refused");
            assert!(
                matches!(&refused, errorwatch_core::Error::Validation { field: "url", message }
                    if message.contains("ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS")),
                "{refused:?}"
            );
        }
        // Targets that lead there anyway (saved under another setting, or a name whose
        // answer changed) fail at delivery, once: no retry can reach them.
        let mut targets = Vec::new();
        for url in [&receiver.url, &by_name_url] {
            targets.push(save(url, true).await.expect("saved while allowed"));
        }
        for target in &targets {
            alert::send_test_notification(&s.scope, &s.app.queue, target.id)
                .await
                .expect("test notification");
        }
        let dead = s.wait_for_deliveries("dead", 2).await;
        for delivery in &dead {
            let error = delivery.last_error.as_deref().unwrap_or_default();
            assert!(
                error.contains("refused") && error.contains("ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS"),
                "{delivery:?}"
            );
            assert_eq!(delivery.attempts, 1, "never retried: {delivery:?}");
        }
        assert_eq!(receiver.requests(), 0, "nothing reached the loopback receiver");
    }
);

db_test!(
    async fn rules_and_targets_are_invisible_to_other_accounts(backend) {
        let s = setup(backend, LOCAL).await;
        let target = s.webhook("https://hooks.example.com/x").await;
        let rule = s.rule("new_issue", &[target.id]).await;
        let other = other_account_scope(&s.app).await;
        assert!(matches!(alert::get_rule(&other, rule.id).await, Err(Error::NotFound)));
        assert!(matches!(alert::get_target(&other, target.id).await, Err(Error::NotFound)));
        assert!(matches!(alert::delete_rule(&other, rule.id).await, Err(Error::NotFound)));
        assert!(matches!(alert::delete_target(&other, target.id).await, Err(Error::NotFound)));
        assert!(matches!(
            alert::list_rules(&other, ProjectId(s.project_id)).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            alert::send_test_notification(&other, &s.app.queue, target.id).await,
            Err(Error::NotFound)
        ));
        // A rule of another account cannot point at this account's target.
        let other_project = crate::ingest::create_project(&s.app, "Globex").await;
        let stolen = alert::create_rule(
            &other_project.scope,
            RuleInput {
                project_id: ProjectId(other_project.project_id),
                name: "steal".into(),
                trigger: "new_issue".into(),
                frequency_count: None,
                frequency_minutes: None,
                filters: Default::default(),
                action_interval_minutes: 60,
                enabled: true,
                target_ids: vec![target.id],
            },
        )
        .await;
        assert!(matches!(stolen, Err(Error::NotFound)));
        assert!(alert::list_targets(&other).await.expect("list").is_empty());
    }
);

db_test!(
    async fn the_api_manages_rules_and_targets_and_retries_dead_letters(backend) {
        use crate::harness::gql::user_with_account;
        use serde_json::json;

        let app = TestApp::spawn_with(backend, LOCAL).await;
        let (alice, account) = user_with_account(&app, "alice@acme.example", "Acme").await;
        let project = alice
            .ok(
                "mutation($a: ID!) { createProject(accountId: $a, name: \"Shop\") { id keys { publicKey } } }",
                json!({"a": account}),
            )
            .await["createProject"]
            .clone();
        let project_id = project["id"].as_str().expect("id").to_owned();
        let receiver = Receiver::start(usize::MAX, false).await;
        let target = alice
            .ok(
                "mutation($a: ID!, $u: String!) { createAlertTarget(accountId: $a, input: {name: \"Hook\", kind: WEBHOOK, url: $u}) { id kind url secret } }",
                json!({"a": account, "u": receiver.url}),
            )
            .await["createAlertTarget"]
            .clone();
        assert_eq!(target["kind"], "WEBHOOK");
        assert!(target["secret"].as_str().expect("secret").starts_with("whsec_"));
        let rule = alice
            .ok(
                "mutation($p: ID!, $t: ID!) { createAlertRule(projectId: $p, input: {name: \"New errors\", trigger: NEW_ISSUE, levels: [\"error\"], targetIds: [$t]}) { id trigger levels enabled actionIntervalMinutes targetIds } }",
                json!({"p": project_id, "t": target["id"]}),
            )
            .await["createAlertRule"]
            .clone();
        assert_eq!(rule["trigger"], "NEW_ISSUE");
        assert_eq!(rule["levels"], json!(["error"]));
        assert_eq!(rule["actionIntervalMinutes"], 60);
        assert_eq!(rule["targetIds"], json!([target["id"]]));
        assert_eq!(
            alice
                .err(
                    "mutation($p: ID!) { createAlertRule(projectId: $p, input: {name: \"x\", trigger: FREQUENCY, targetIds: []}) { id } }",
                    json!({"p": project_id}),
                )
                .await,
            "VALIDATION",
            "a frequency rule needs its count and minutes"
        );

        let number = project_id.trim_start_matches("prj_");
        let response = app
            .client
            .post(app.url(&format!(
                "/api/{number}/store/?sentry_key={}",
                project["keys"][0]["publicKey"].as_str().expect("key")
            )))
            .body(r#"{"message":"boom","level":"error"}"#)
            .send()
            .await
            .expect("store");
        assert_eq!(response.status().as_u16(), 200);

        let wait_for = |status: &'static str| {
            let alice = &alice;
            let account = account.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let list = alice
                        .ok(
                            "query($a: ID!) { notifications(accountId: $a) { id status attempts lastError } }",
                            json!({"a": account}),
                        )
                        .await["notifications"]
                        .clone();
                    if list[0]["status"] == status {
                        return list;
                    }
                    assert!(Instant::now() < deadline, "no {status} notification: {list}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let dead = wait_for("DEAD").await;
        assert_eq!(dead[0]["attempts"], 5);
        let dead_letters = alice
            .ok(
                "query($a: ID!) { notifications(accountId: $a, status: DEAD) { id } }",
                json!({"a": account}),
            )
            .await;
        assert_eq!(dead_letters["notifications"].as_array().expect("list").len(), 1);

        receiver.set_fail_first(0);
        let retried = alice
            .ok(
                "mutation($id: ID!) { retryNotification(id: $id) { status attempts } }",
                json!({"id": dead[0]["id"]}),
            )
            .await;
        assert_eq!(retried["retryNotification"]["status"], "PENDING");
        wait_for("SENT").await;
        app.run_pending_jobs().await;
        assert_eq!(receiver.successes(), 1);

        let updated = alice
            .ok(
                "mutation($id: ID!, $t: ID!) { updateAlertRule(id: $id, input: {name: \"Renamed\", trigger: REGRESSION, enabled: false, targetIds: [$t]}) { name trigger enabled } }",
                json!({"id": rule["id"], "t": target["id"]}),
            )
            .await;
        assert_eq!(
            updated["updateAlertRule"],
            json!({"name": "Renamed", "trigger": "REGRESSION", "enabled": false})
        );
        alice
            .ok("mutation($id: ID!) { deleteAlertRule(id: $id) }", json!({"id": rule["id"]}))
            .await;
        let rules = alice
            .ok("query($p: ID!) { alertRules(projectId: $p) { id } }", json!({"p": project_id}))
            .await;
        assert_eq!(rules["alertRules"], json!([]));
    }
);

db_test!(
    async fn an_ignored_issue_whose_condition_ran_out_fires_once(backend) {
        use errorwatch_core::service::issue::IgnoreCondition;

        let s = setup(backend, LOCAL).await;
        let receiver = Receiver::start(0, false).await;
        let target = s.webhook(&receiver.url).await;
        let rule = s.rule("ignored_expired", &[target.id]).await;
        s.send("KeyError").await;
        s.settle().await;
        let issues = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("issues");
        issue::change_status(
            &s.scope,
            issues[0].id,
            StatusChange::Ignore(IgnoreCondition::MoreEvents(2)),
        )
        .await
        .expect("ignore");
        s.send("KeyError").await;
        s.settle().await;
        assert_eq!(receiver.requests(), 0, "one more event: still ignored");
        s.send("KeyError").await;
        let sent = s.wait_for_deliveries("sent", 1).await;
        assert_eq!(sent[0].rule_id, Some(rule.id));
        assert_eq!(sent[0].trigger, "ignored_expired");
        s.send("KeyError").await;
        s.settle().await;
        assert_eq!(receiver.requests(), 1);
    }
);

db_test!(
    async fn the_sweep_requeues_a_delivery_whose_job_was_lost(backend) {
        let s = setup(backend, LOCAL).await;
        let receiver = Receiver::start(0, false).await;
        let target = s.webhook(&receiver.url).await;
        let sent = alert::send_test_notification(&s.scope, &s.app.queue, target.id)
            .await
            .expect("test notification");
        s.wait_for_deliveries("sent", 1).await;
        assert_eq!(receiver.requests(), 1);
        // A sender that died mid-send: the row is left `sending` with an expired lease.
        let stalled = match s.app.db.pool() {
            errorwatch_core::db::Pool::Sqlite(pool) => sqlx::query(
                "UPDATE notifications SET status = 'sending', lease_until = '2000-01-01T00:00:00+00:00' WHERE id = ?1",
            )
            .bind(sent.id.0)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
            errorwatch_core::db::Pool::Postgres(pool) => sqlx::query(
                "UPDATE notifications SET status = 'sending', lease_until = '2000-01-01T00:00:00Z' WHERE id = $1",
            )
            .bind(sent.id.0)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        }
        .expect("stall");
        assert_eq!(stalled, 1);
        s.app
            .queue
            .enqueue(&errorwatch_core::alert::deliver::SweepNotifications)
            .await
            .expect("sweep");
        s.wait_for_deliveries("sent", 1).await;
        assert_eq!(receiver.requests(), 2, "sent again by the sweep");
        // A second sweep finds nothing to do.
        s.app
            .queue
            .enqueue(&errorwatch_core::alert::deliver::SweepNotifications)
            .await
            .expect("sweep");
        s.settle().await;
        assert_eq!(receiver.requests(), 2);
    }
);

db_test!(
    async fn the_hourly_cap_bounds_notifications_per_account(backend) {
        let mut settings = LOCAL.to_vec();
        settings.push(("ERRORWATCH_ALERTS_MAX_PER_HOUR", "2"));
        let s = setup(backend, &settings).await;
        let receiver = Receiver::start(0, false).await;
        let target = s.webhook(&receiver.url).await;
        s.rule("new_issue", &[target.id]).await;
        for n in 0..4 {
            s.send(&format!("Error{n}")).await;
            s.settle().await;
        }
        s.wait_for_deliveries("sent", 2).await;
        s.settle().await;
        assert_eq!(
            alert::list_deliveries(&s.scope, None, 500).await.expect("list").len(),
            2,
            "4 new issues, 2 notifications"
        );
        assert_eq!(receiver.requests(), 2);
    }
);

db_test!(
    async fn a_target_is_updated_with_the_checks_of_its_creation(backend) {
        use crate::harness::gql::{sign_up, user_with_account};
        use serde_json::json;

        const UPDATE: &str = "mutation($id: ID!, $n: String!, $u: String, $e: [String!]! = []) { updateAlertTarget(id: $id, input: {name: $n, url: $u, emails: $e}) { id name kind url emails secret } }";
        let app = TestApp::spawn_with(backend, LOCAL).await;
        let (alice, account) = user_with_account(&app, "alice@acme.example", "Acme").await;
        let old = Receiver::start(0, false).await;
        let new = Receiver::start(0, false).await;
        let hook = alice
            .ok(
                "mutation($a: ID!, $u: String!) { createAlertTarget(accountId: $a, input: {name: \"Hook\", kind: WEBHOOK, url: $u}) { id secret } }",
                json!({"a": account, "u": old.url}),
            )
            .await["createAlertTarget"]
            .clone();
        let mail = alice
            .ok(
                "mutation($a: ID!) { createAlertTarget(accountId: $a, input: {name: \"Oncall\", kind: EMAIL, emails: [\"a@acme.example\"]}) { id } }",
                json!({"a": account}),
            )
            .await["createAlertTarget"]["id"]
            .clone();

        // A new name and URL; the kind and the signing secret stay.
        let updated = alice
            .ok(UPDATE, json!({"id": hook["id"], "n": "  Renamed hook ", "u": new.url}))
            .await["updateAlertTarget"]
            .clone();
        assert_eq!(updated["name"], "Renamed hook");
        assert_eq!(updated["kind"], "WEBHOOK");
        assert_eq!(updated["url"], json!(new.url));
        assert_eq!(updated["secret"], hook["secret"]);
        let sent = alice
            .ok(
                "mutation($t: ID!) { sendTestNotification(targetId: $t) { id } }",
                json!({"t": hook["id"]}),
            )
            .await;
        assert!(sent["sendTestNotification"]["id"].is_string());
        let deadline = Instant::now() + Duration::from_secs(30);
        while new.successes() < 1 {
            assert!(Instant::now() < deadline, "the new URL got nothing");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(old.requests(), 0, "the old URL got the test notification");
        let (headers, body) = new.last();
        let signature = headers["x-errorwatch-signature"].to_str().expect("ascii");
        assert!(errorwatch_core::alert::deliver::verify(
            hook["secret"].as_str().expect("secret"),
            signature,
            &body
        ));

        // Email recipients are replaced too.
        let updated = alice
            .ok(UPDATE, json!({"id": mail, "n": "Oncall", "e": ["b@acme.example", "c@acme.example"]}))
            .await["updateAlertTarget"]
            .clone();
        assert_eq!(updated["emails"], json!(["b@acme.example", "c@acme.example"]));
        assert_eq!(updated["url"], serde_json::Value::Null);

        // What creation refuses, an update refuses, with the field at fault.
        let field = |vars: serde_json::Value| {
            let alice = &alice;
            async move {
                let answer = alice.exec(UPDATE, vars).await;
                let error = &answer["errors"][0]["extensions"];
                assert_eq!(error["code"], "VALIDATION", "{answer}");
                error["field"].as_str().expect("field").to_owned()
            }
        };
        for (vars, expect) in [
            (json!({"id": hook["id"], "n": "Hook", "u": "ftp://hooks.example.com/x"}), "url"),
            (json!({"id": hook["id"], "n": "Hook", "u": "not a url"}), "url"),
            (json!({"id": hook["id"], "n": "Hook"}), "url"),
            (json!({"id": hook["id"], "n": "Hook", "u": new.url, "e": ["a@acme.example"]}), "emails"),
            (json!({"id": hook["id"], "n": " ", "u": new.url}), "name"),
            (json!({"id": mail, "n": "Oncall", "e": []}), "emails"),
            (json!({"id": mail, "n": "Oncall", "e": ["not an address"]}), "emails"),
            (json!({"id": mail, "n": "Oncall", "u": new.url, "e": ["a@acme.example"]}), "url"),
        ] {
            assert_eq!(field(vars.clone()).await, expect, "{vars}");
        }
        let stored = alice
            .ok("query($a: ID!) { alertTargets(accountId: $a) { name url emails } }", json!({"a": account}))
            .await;
        assert_eq!(
            stored["alertTargets"],
            json!([
                {"name": "Renamed hook", "url": new.url, "emails": []},
                {"name": "Oncall", "url": null, "emails": ["b@acme.example", "c@acme.example"]},
            ]),
            "refused updates changed nothing"
        );

        // Members of the account may not change targets; admins only, like creating them.
        let carol = sign_up(&app, "carol@acme.example").await;
        alice
            .ok(
                "mutation($a: ID!) { inviteMember(accountId: $a, email: \"carol@acme.example\", role: MEMBER) { id } }",
                json!({"a": account}),
            )
            .await;
        let invite = app.smtp.wait_for("carol@acme.example", "invited", 1).await;
        carol
            .ok(
                "mutation($t: String!) { acceptInvite(token: $t) { id } }",
                json!({"t": invite.token("accept-invite")}),
            )
            .await;
        assert_eq!(
            carol.err(UPDATE, json!({"id": hook["id"], "n": "Mine", "u": new.url})).await,
            "FORBIDDEN"
        );
        app.run_pending_jobs().await;
    }
);
