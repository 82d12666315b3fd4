//! Alerts in the dashboard, in a real headless Chromium against the real binary (SQLite,
//! private targets allowed as a self-hoster would, short retry pauses): an admin reaches a
//! project's alerts from its settings, creates targets (a webhook to a local receiver, an
//! email to the SMTP sink, and a webhook that always answers 500), sees the API's validation
//! errors, sends test notifications and sees them delivered, creates, edits and toggles rules;
//! then a real SDK envelope sent over HTTP makes exactly one signed webhook and one email, the
//! deliveries list shows them sent and the failing one as a dead letter after its retries,
//! whose Retry button queues it again. Another account sees none of it.

mod support;

use std::time::{Duration, Instant};

use errorwatch_e2e::smtp::SmtpSink;
use errorwatch_e2e::{Server, repo_root};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use errorwatch_e2e::browser::{Browser, Driver, STEP};
use support::{Hook, Receiver};

const PASSWORD: &str = "an e2e password long enough";

/// Checks `X-ErrorWatch-Signature: t=<unix seconds>,v1=<hex>` the way the README tells
/// receivers to: HMAC-SHA256 of `"<t>." + raw body` under the target's secret, compared in
/// constant time, and a timestamp within 5 minutes. Written here from the README, not with
/// the server's own code.
fn assert_signed(hook: &Hook, secret: &str) {
    let header = hook
        .headers
        .get("x-errorwatch-signature")
        .and_then(|v| v.to_str().ok())
        .expect("an X-ErrorWatch-Signature header");
    let parts: std::collections::HashMap<&str, &str> = header
        .split(',')
        .filter_map(|part| part.split_once('='))
        .collect();
    let (t, given) = (parts["t"], parts["v1"]);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&hook.body);
    let given = hex::decode(given).expect("hex signature");
    mac.verify_slice(&given)
        .unwrap_or_else(|_| panic!("the signature does not verify: {header}"));
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().expect("unix seconds");
    assert!(age.abs() <= 300, "signed {age} s ago");
}

/// Sends a real Python SDK envelope of the corpus (an AttributeError, level error, environment
/// production) with a fresh event id, as the SDK does (`X-Sentry-Auth`).
async fn send_envelope(server: &Server, dsn: &str) {
    let (key, project) = dsn
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(key, rest)| (key, rest.rsplit('/').next().unwrap_or_default()))
        .expect("a DSN");
    let corpus =
        repo_root().join("backend/server/tests/fixtures/corpus/py_attribute_error.envelope");
    let envelope = std::fs::read_to_string(corpus).expect("corpus envelope");
    let header: Value =
        serde_json::from_str(envelope.lines().next().expect("a header")).expect("header JSON");
    let old_id = header["event_id"].as_str().expect("event id");
    let body = envelope.replace(old_id, &uuid::Uuid::new_v4().simple().to_string());
    let response = reqwest::Client::new()
        .post(format!("{}/api/{project}/envelope/", server.base_url))
        .header(
            "x-sentry-auth",
            format!(
                "Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.75.0"
            ),
        )
        .header("content-type", "application/x-sentry-envelope")
        .body(body)
        .send()
        .await
        .expect("envelope request");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// The id (`data-target`) of the target row named `name`.
async fn target_id(browser: &Browser, name: &str) -> String {
    browser.wait_text("#alert-targets", name).await;
    browser
        .js_with(
            "return [...document.querySelectorAll('.target')]
               .find(li => li.querySelector('.target-name').textContent === arguments[0]).dataset.target;",
            vec![json!(name)],
        )
        .await
        .as_str()
        .expect("a target id")
        .to_owned()
}

/// Adds a target through the form.
async fn add_target(browser: &Browser, name: &str, kind: &str, address: &str) {
    browser.click("#new-target").await;
    browser.fill("#target-name", name).await;
    browser.select("#target-kind", kind).await;
    if kind == "EMAIL" {
        browser.fill("#target-emails", address).await;
    } else {
        browser.fill("#target-url", address).await;
    }
    browser.click("#save-target").await;
    browser.wait_text("#alert-targets", name).await;
}

/// Clicks a target's "Send test notification" and waits until the row says it was sent.
async fn send_test(browser: &Browser, target: &str) {
    let row = format!(".target[data-target='{target}']");
    browser.click(&format!("{row} .test-target")).await;
    browser
        .wait_text(&format!("{row} .test-result"), "Test notification: sent")
        .await;
}

/// Adds a rule through the form: its name, trigger and targets (by id), and optionally the
/// levels and environments it filters on.
async fn add_rule(browser: &Browser, name: &str, targets: &[&str], levels: &[&str], env: &str) {
    browser.click("#new-rule").await;
    browser.fill("#rule-name", name).await;
    browser.select("#rule-trigger", "NEW_ISSUE").await;
    for level in levels {
        browser
            .click(&format!("#rule-form input[name=level][value='{level}']"))
            .await;
    }
    if !env.is_empty() {
        browser.fill("#rule-environments", env).await;
    }
    for target in targets {
        browser
            .click(&format!("#rule-targets input[value='{target}']"))
            .await;
    }
    browser.click("#save-rule").await;
    browser.wait_text("#alert-rules", name).await;
}

/// The rule row named `name` (CSS).
async fn rule_row(browser: &Browser, name: &str) -> String {
    let id = browser
        .js_with(
            "return [...document.querySelectorAll('.rule')]
               .find(li => li.querySelector('.rule-name').textContent === arguments[0])?.dataset.rule ?? null;",
            vec![json!(name)],
        )
        .await;
    format!(".rule[data-rule='{}']", id.as_str().expect("a rule row"))
}

#[tokio::test]
async fn an_admin_sets_up_alerts_and_follows_their_deliveries() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let smtp = SmtpSink::start().await;
    let receiver = Receiver::start(false).await;
    let broken = Receiver::start(true).await;
    // Retries after 0.1, 0.4, 1.6 and 6.4 s (+ jitter): a dead letter within ~11 s.
    let server = Server::start(&[
        ("ERRORWATCH_SMTP_URL", &smtp.url),
        ("ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS", "true"),
        ("ERRORWATCH_ALERTS_RETRY_BASE_MS", "100"),
        ("ERRORWATCH_ALERTS_TIMEOUT_SECS", "2"),
    ])
    .await;
    let project = server.create_project("alerts");
    let driver = Driver::start().await;
    let owner = driver.browser(&server.base_url).await;
    let account = owner.log_in_as("alerts@e2e.example.com", PASSWORD).await;
    let project_id = format!("prj_{}", project.id);

    // The project's settings lead to its alerts.
    owner.open(&format!("/{account}/settings")).await;
    owner
        .click(&format!(
            ".project-settings[data-project='{project_id}'] .alerts-link"
        ))
        .await;
    owner
        .wait_path(&format!("/{account}/settings/alerts?project={project_id}"))
        .await;
    owner.wait("#no-rules").await;
    owner.wait("#no-targets").await;
    owner.wait("#no-deliveries").await;

    // A webhook target: the API's validation error shows in words, then it is saved and
    // shows its signing secret with how to verify it.
    owner.click("#new-target").await;
    owner.fill("#target-name", "Receiver").await;
    owner.select("#target-kind", "WEBHOOK").await;
    owner.fill("#target-url", "ftp://hooks.example.com/x").await;
    owner.click("#save-target").await;
    let error = owner
        .wait_text("#target-form .error-note[data-code=VALIDATION]", "url")
        .await;
    assert!(!error.contains("VALIDATION"), "no raw codes: {error}");
    owner.fill("#target-url", &receiver.url).await;
    owner.click("#save-target").await;
    let hook_id = target_id(&owner, "Receiver").await;
    let hook_row = format!(".target[data-target='{hook_id}']");
    let secret = owner
        .wait(&format!("{hook_row} .target-secret"))
        .await
        .text()
        .await
        .expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    owner.click(&format!("{hook_row} details summary")).await;
    owner
        .wait_text(&format!("{hook_row} details"), "HMAC-SHA256")
        .await;
    owner
        .wait_text(&format!("{hook_row} details pre"), "hmac.compare_digest")
        .await;

    // An email target and one that always fails; a wrong address is refused too.
    owner.click("#new-target").await;
    owner.fill("#target-name", "On call").await;
    owner.select("#target-kind", "EMAIL").await;
    owner.fill("#target-emails", "not an address").await;
    owner.click("#save-target").await;
    owner
        .wait_text("#target-form .error-note[data-code=VALIDATION]", "emails")
        .await;
    owner.fill("#target-emails", "oncall@shop.example").await;
    owner.click("#save-target").await;
    let mail_id = target_id(&owner, "On call").await;
    add_target(&owner, "Broken hook", "WEBHOOK", &broken.url).await;
    let broken_id = target_id(&owner, "Broken hook").await;

    // Test notifications arrive, and the page says so.
    send_test(&owner, &hook_id).await;
    let tests = receiver.wait_for("test", 1).await;
    assert_signed(&tests[0], &secret);
    send_test(&owner, &mail_id).await;
    smtp.wait_for("oncall@shop.example", "Test notification", 1)
        .await;

    // Edit a target: rename it (the kind stays).
    owner
        .click(&format!(".target[data-target='{mail_id}'] .edit-target"))
        .await;
    owner.wait_text("#target-form", "Kind: Email").await;
    owner.fill("#target-name", "On-call team").await;
    owner.click("#save-target").await;
    owner.wait_text("#alert-targets", "On-call team").await;

    // A frequency rule without its numbers is refused with the field named.
    owner.click("#new-rule").await;
    owner.fill("#rule-name", "Too vague").await;
    owner.select("#rule-trigger", "FREQUENCY").await;
    owner.click("#save-rule").await;
    owner
        .wait_text(
            "#rule-form .error-note[data-code=VALIDATION]",
            "frequencyCount",
        )
        .await;
    owner.scroll_to("#rule-form").await;
    owner.screenshot("alerts-rule-form", true).await;
    owner.click("#cancel-rule").await;

    // The rules: new issues to the receiver and the team; error events in production to the
    // broken hook.
    add_rule(&owner, "New issues", &[&hook_id, &mail_id], &[], "").await;
    let new_issues = rule_row(&owner, "New issues").await;
    owner
        .wait_text(&new_issues, "Notify when a new issue is created")
        .await;
    owner
        .wait_text(
            &format!("{new_issues} .rule-targets"),
            "Targets: Receiver, On-call team",
        )
        .await;
    owner
        .wait_text(&format!("{new_issues} .rule-filters"), "Filters: any event")
        .await;
    owner
        .wait_text(
            &format!("{new_issues} .rule-interval"),
            "at most once per issue every hour",
        )
        .await;
    add_rule(&owner, "Broken", &[&broken_id], &["error"], "production").await;
    let broken_rule = rule_row(&owner, "Broken").await;
    owner
        .wait_text(
            &format!("{broken_rule} .rule-filters"),
            "level error · environment production",
        )
        .await;
    // Edit: a 30-minute action interval.
    owner.click(&format!("{broken_rule} .edit-rule")).await;
    owner.fill("#rule-interval", "30").await;
    owner.click("#save-rule").await;
    owner
        .wait_text(&format!("{broken_rule} .rule-interval"), "every 30 minutes")
        .await;
    // Disabled and enabled again.
    owner.click(&format!("{new_issues} .rule-enabled")).await;
    owner.wait_text(&new_issues, "Disabled").await;
    owner.click(&format!("{new_issues} .rule-enabled")).await;
    owner.wait_text(&new_issues, "Enabled").await;
    owner.scroll_to("#main").await;
    owner.screenshot("alerts-settings", true).await;

    // A real event: one signed webhook, one email.
    send_envelope(&server, &project.dsn).await;
    let hooks = receiver.wait_for("new_issue", 1).await;
    assert_signed(&hooks[0], &secret);
    assert!(
        hooks[0].json["title"]
            .as_str()
            .unwrap_or_default()
            .contains("AttributeError"),
        "{}",
        hooks[0].json
    );
    let mail = smtp.wait_for("oncall@shop.example", "New issue", 1).await;
    assert!(
        mail.subject().contains("AttributeError"),
        "{}",
        mail.subject()
    );

    // The deliveries list shows both sent, and the broken hook's notification as a dead
    // letter after 5 attempts.
    owner
        .wait_js(
            "two new-issue deliveries shown as sent",
            STEP,
            "return document.querySelectorAll(\"#deliveries tr.delivery[data-trigger='new_issue'][data-status='SENT']\").length === 2;",
            vec![],
        )
        .await;
    let dead = "#deliveries tr.delivery[data-trigger='new_issue'][data-status='DEAD']";
    owner
        .wait_js(
            "the broken hook's delivery shown as a dead letter",
            Duration::from_secs(60),
            &format!("return document.querySelector(\"{dead}\") !== null;"),
            vec![],
        )
        .await;
    let row = owner.wait_text(dead, "dead letter").await;
    assert!(row.contains("500"), "the last error: {row}");
    assert_eq!(broken.requests().len(), 5, "5 attempts");
    // Still exactly one webhook and one email for the new issue.
    assert_eq!(receiver.with_trigger("new_issue").len(), 1);
    let new_issue_mails = smtp
        .all()
        .into_iter()
        .filter(|m| m.subject().contains("New issue"))
        .count();
    assert_eq!(new_issue_mails, 1);
    owner.scroll_to("#deliveries-h").await;
    owner.screenshot("alerts-deliveries", true).await;

    // Retry: the receiver works again, the dead letter is queued and delivered.
    let dead_id = owner
        .wait(dead)
        .await
        .attr("data-id")
        .await
        .expect("attr")
        .expect("a data-id");
    broken.set_failing(false);
    owner.click(&format!("{dead} .retry-delivery")).await;
    owner
        .wait(&format!(
            "#deliveries tr.delivery[data-id='{dead_id}'][data-status='SENT']"
        ))
        .await;
    assert_eq!(broken.successes(), 1);
    assert_eq!(broken.requests().len(), 6);

    // Another account's owner sees none of it, through the API or the page.
    server.create_project("stranger");
    let stranger = driver.browser(&server.base_url).await;
    stranger
        .log_in_as("stranger@e2e.example.com", PASSWORD)
        .await;
    for (query, variables) in [
        (
            "query($id: ID!) { alertRules(projectId: $id) { id } }",
            json!({"id": project_id}),
        ),
        (
            "query($id: ID!) { alertTargets(accountId: $id) { id secret } }",
            json!({"id": account}),
        ),
        (
            "query($id: ID!) { notifications(accountId: $id) { id } }",
            json!({"id": account}),
        ),
        (
            "mutation($id: ID!) { updateAlertTarget(id: $id, input: {name: \"mine\", url: \"https://evil.example/\"}) { id } }",
            json!({"id": hook_id}),
        ),
        (
            "mutation($id: ID!) { sendTestNotification(targetId: $id) { id } }",
            json!({"id": hook_id}),
        ),
    ] {
        let answer = stranger.graphql_from_page(query, variables).await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{query}: {answer}"
        );
    }
    stranger.open(&format!("/{account}/settings/alerts")).await;
    stranger.wait_text("#main", "Account not found").await;
    assert_eq!(
        receiver.requests().len(),
        2,
        "nothing more reached the receiver"
    );

    owner.client.clone().close().await.expect("close owner");
    stranger
        .client
        .clone()
        .close()
        .await
        .expect("close stranger");
    eprintln!(
        "alerts journey took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
