//! The dashboard in a real headless Chromium (Debian's `chromium` driven through
//! `chromedriver` by fantoccini) against the real binary: the user journey from sign-up to a
//! resolved issue with a real Python SDK sending the error, an invited viewer, the bundle's
//! size and compression, and the first render of a list of 1,000 issues.
//!
//! Screenshots of the main pages land in `$CARGO_TARGET_DIR/screenshots/` (else
//! `target/screenshots/`) for a reviewer to look at.

use std::process::Command;
use std::time::{Duration, Instant};

use errorwatch_e2e::browser::{Browser, Driver, PASSWORD, STEP};
use errorwatch_e2e::smtp::SmtpSink;
use errorwatch_e2e::{Server, dump_dom, e2e_sdk_dir, repo_root, require_sdk};
use fantoccini::Locator;
use serde_json::{Value, json};

/// Sends one error (`card` or `stock`) with the real Python sentry-sdk.
fn python_sends(dsn: &str, kind: &str) {
    let python = e2e_sdk_dir().join("venv/bin/python");
    require_sdk(
        "sentry-sdk (Python venv)",
        Command::new(&python).args(["-c", "import sentry_sdk"]),
    );
    let output = Command::new(&python)
        .arg(repo_root().join("e2e/sdk/python/dashboard_error.py"))
        .args([dsn, kind])
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "the Python SDK program failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Sign up → verify by the emailed link → create account and project → copy the DSN → the real
/// Python SDK sends an error → it appears live (no reload) → open it: in-app frame, local
/// variables as sent, breadcrumbs, tag shares, the grouping explanation, the attachment and the
/// raw JSON saved by the browser → resolve → it leaves the unresolved list. Then invite a
/// viewer, who signs up through the emailed invite, sees the project and its issues, and cannot
/// resolve (the button is disabled and the API refuses with FORBIDDEN). Then the dark theme, a
/// second account, an invite accepted by a signed-in user, the account switcher, log out,
/// password reset by email, log in, the profile page, search with suggestions picked by
/// keyboard, sort, bulk actions, a regression arriving live, event navigation and the error
/// states.
#[tokio::test]
async fn journey_from_sign_up_to_a_resolved_issue_and_an_invited_viewer() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let smtp = SmtpSink::start().await;
    let server = Server::start(&[("ERRORWATCH_SMTP_URL", &smtp.url)]).await;
    let driver = Driver::start().await;
    let owner = driver.browser(&server.base_url).await;

    // Sign up; the verification link arrives by email.
    let email = "owner@shop.example";
    owner.open("/signup").await;
    owner.fill("#signup-email", email).await;
    owner.fill("#signup-password", PASSWORD).await;
    owner.screenshot("signup", true).await;
    owner.click("#signup-form button[type=submit]").await;
    owner.wait_text("#signup-sent", email).await;
    owner
        .follow(&smtp.wait_for(email, "Verify", 1).await, "verify-email")
        .await;

    // Verified and signed in: onboarding asks for an account, then a project.
    owner.wait_path("/onboarding").await;
    let account_id = create_account(&owner, "Shop").await;
    owner.wait("#project-name").await;
    owner.fill("#project-name", "Web shop").await;
    owner.screenshot("create-project", false).await;
    owner.click("#create-project").await;

    // The DSN with the Python snippet, a copy button, and the waiting state.
    owner
        .wait_path(&format!("/{account_id}/projects/prj_"))
        .await;
    let dsn = owner.wait("#dsn").await.text().await.expect("dsn text");
    assert!(
        dsn.starts_with("http://") && dsn.contains('@'),
        "a DSN: {dsn}"
    );
    owner.wait_text("#snippet", &dsn).await;
    owner.wait_text("#snippet", "sentry_sdk.init").await;
    owner.click("#copy-dsn").await;
    owner.wait_text("#copy-dsn", "Copied").await;
    owner.click("[data-platform=go]").await;
    owner.wait_text("#snippet", "sentry.Init").await;
    owner.click("[data-platform=python]").await;
    owner.wait("#waiting-first-event").await;
    owner.screenshot("project-setup-waiting", true).await;

    // The real Python SDK sends an error; the waiting state turns into the issue, live.
    owner.mark_page().await;
    python_sends(&dsn, "card");
    owner.wait_text("#first-issue", "ValueError").await;
    owner.assert_not_reloaded().await;
    owner.screenshot("project-setup-arrived", false).await;

    // The issue list updates live too: a second, different error appears without a reload.
    owner.open(&format!("/{account_id}/issues")).await;
    owner.wait_text("#issue-total", "1 issue").await;
    owner.wait_text("#live-status", "Live").await;
    owner.mark_page().await;
    python_sends(&dsn, "stock");
    owner.wait_text("#issue-list", "KeyError").await;
    owner.wait_text("#issue-total", "2 issues").await;
    owner.assert_not_reloaded().await;
    owner.screenshot("issue-list", true).await;

    // Open the ValueError: the in-app frame and the breadcrumbs are there.
    owner
        .click_link_with("#issue-list a.issue-title", "ValueError")
        .await;
    owner.wait_text("#issue-title", "ValueError").await;
    owner.wait_text(".frame.in-app", "charge_card").await;
    owner
        .wait_text(".frame.in-app .context .current", "raise ValueError")
        .await;
    owner
        .wait_text("#breadcrumbs", "added sku-42 to the cart")
        .await;
    owner.wait_text("#breadcrumbs", "started checkout").await;
    // Local variables as the SDK sent them: Python's repr of a string keeps its own quotes,
    // and is not quoted again.
    let vars = owner.wait_text(".frame.in-app .vars", "method").await;
    assert!(
        vars.contains("'card'") && !vars.contains("\"'card'\""),
        "{vars}"
    );
    // Tag distributions as shares, and the grouping explained in words.
    owner.wait_text("#tag-facets", "environment").await;
    owner.wait_text("#tag-facets .share", "100%").await;
    owner.wait_text("#grouping", "in-app frames").await;
    owner
        .wait_text("#grouping .grouping-frames", "charge_card")
        .await;
    // The attachment the SDK sent and the raw event are saved by the browser.
    owner.wait_text("#attachments", "cart.json").await;
    owner.click("#attachment-0").await;
    assert_eq!(
        owner.downloaded("cart.json").await,
        br#"{"cart": ["sku-42"]}"#,
        "the attachment's bytes"
    );
    let event_id = owner
        .wait("#event-id")
        .await
        .text()
        .await
        .expect("event id")
        .split(' ')
        .next()
        .expect("id")
        .to_owned();
    owner.click("#event-json").await;
    let raw: Value =
        serde_json::from_slice(&owner.downloaded(&format!("event-{event_id}.json")).await)
            .expect("the raw event is JSON");
    assert_eq!(raw["event_id"], json!(event_id));
    assert_eq!(raw["exception"]["values"][0]["type"], "ValueError");
    owner.screenshot("issue-page", true).await;
    owner
        .js("document.querySelector('.event').scrollIntoView(); return true;")
        .await;
    owner.screenshot("issue-event", false).await;
    let issue_path = owner.path().await;

    // The keyboard works: a frame's header is a button that Enter folds and unfolds.
    let frame_head = owner.wait(".frame.in-app .frame-head").await;
    owner.wait_attr(&frame_head, "aria-expanded", "true").await;
    owner
        .press(".frame.in-app .frame-head", fantoccini::key::Key::Enter)
        .await;
    owner.wait_attr(&frame_head, "aria-expanded", "false").await;
    owner
        .press(".frame.in-app .frame-head", fantoccini::key::Key::Enter)
        .await;
    owner
        .wait_text(".frame.in-app .context .current", "raise ValueError")
        .await;

    // Dark theme, remembered across a reload.
    owner.click("#theme-toggle").await;
    owner.open(&issue_path).await;
    owner.wait_text("#issue-title", "ValueError").await;
    assert_eq!(
        owner
            .js("return document.documentElement.dataset.theme;")
            .await,
        json!("dark")
    );
    owner.screenshot("issue-page-dark", false).await;
    owner.click("#theme-toggle").await;

    // Resolve: the page shows it, and it leaves the unresolved list.
    owner.click("#action-resolve").await;
    owner.wait_text("#issue-status", "resolved").await;
    owner.open(&format!("/{account_id}/issues")).await;
    owner.wait_text("#issue-total", "1 issue").await;
    let list = owner.wait("#issue-list").await.text().await.expect("list");
    assert!(
        list.contains("KeyError") && !list.contains("ValueError"),
        "{list}"
    );

    // Invite a viewer from the settings page.
    let viewer_email = "viewer@shop.example";
    owner.open(&format!("/{account_id}/settings")).await;
    owner.fill("#invite-address", viewer_email).await;
    owner.select("#invite-role", "VIEWER").await;
    owner.click("#send-invite").await;
    owner.wait_text("#invite-sent", viewer_email).await;
    owner.wait_text("#invites", viewer_email).await;
    owner.screenshot("settings", true).await;

    // An API token made on the settings page works as `Authorization: Bearer`.
    owner.fill("#token-name", "deploy script").await;
    owner.select("#token-scope", "WRITE").await;
    owner
        .click("#token-name ~ button, form:has(#token-name) button[type=submit]")
        .await;
    let secret = owner.wait_text("#token-secret", "ewt_").await;
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.base_url))
        .bearer_auth(secret.trim())
        .json(&json!({"query": "{ viewer { user { email } } }"}))
        .send()
        .await
        .expect("graphql with the token")
        .json()
        .await
        .expect("json");
    assert_eq!(
        answer["data"]["viewer"]["user"]["email"],
        json!(email),
        "{answer}"
    );
    let invite = smtp.wait_for(viewer_email, "invited", 1).await;

    // The viewer opens the link in their own browser and signs up with it.
    let viewer = driver.browser(&server.base_url).await;
    viewer.follow(&invite, "accept-invite").await;
    viewer.fill("#invite-email", viewer_email).await;
    viewer.fill("#invite-password", PASSWORD).await;
    viewer
        .click("#invite-signup-form button[type=submit]")
        .await;
    viewer.wait_path(&format!("/{account_id}/issues")).await;
    viewer.wait_text("#issue-project", "Web shop").await;
    viewer.wait_text("#issue-list", "KeyError").await;

    // A viewer cannot resolve: the button is disabled and the API says FORBIDDEN.
    viewer.open(&issue_path).await;
    viewer.wait_text("#issue-title", "ValueError").await;
    viewer.wait("#viewer-note").await;
    viewer
        .wait_text("#activity", &format!("resolved by {email}"))
        .await;
    let reopen_or_resolve = viewer.wait(".actions button.primary").await;
    assert_eq!(
        reopen_or_resolve
            .attr("disabled")
            .await
            .expect("attr")
            .as_deref(),
        Some("true"),
        "the main action is disabled for a viewer"
    );
    let issue_id = issue_path.rsplit('/').next().expect("issue id").to_owned();
    let answer = viewer
        .graphql_from_page(
            "mutation($id: ID!) { reopenIssue(id: $id) { id } }",
            json!({"id": issue_id}),
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        json!("FORBIDDEN"),
        "{answer}"
    );
    viewer.screenshot("issue-page-viewer", false).await;

    // A second account, and the switcher back to the first.
    owner.open(&format!("/{account_id}/issues")).await;
    owner.select("#account-switcher", "new").await;
    owner.wait_path("/onboarding").await;
    let side_id = create_account(&owner, "Side project").await;
    assert_ne!(side_id, account_id);
    owner.wait_text("#account-switcher", "Side project").await;

    // The viewer, already signed in, is invited to it as a member and accepts with one click;
    // their switcher then holds both accounts.
    owner.open(&format!("/{side_id}/settings")).await;
    owner.fill("#invite-address", viewer_email).await;
    owner.click("#send-invite").await;
    owner.wait_text("#invite-sent", viewer_email).await;
    accept_emailed_invite(&viewer, &smtp, viewer_email, 2).await;
    viewer.wait_path(&format!("/{side_id}/issues")).await;
    viewer.wait_text("#account-switcher", "Shop").await;
    viewer.select("#account-switcher", &account_id).await;
    viewer.wait_path(&format!("/{account_id}/issues")).await;
    viewer.wait_text("#issue-list", "KeyError").await;
    viewer.client.clone().close().await.expect("close viewer");

    owner.open(&format!("/{side_id}/issues")).await;
    owner.select("#account-switcher", &account_id).await;
    owner.wait_path(&format!("/{account_id}/issues")).await;
    owner.wait_text("#issue-list", "KeyError").await;

    // Log out, reset the password through the emailed link, log in with the new one.
    owner.click("#logout").await;
    owner.wait_path("/login").await;
    owner.open("/forgot-password").await;
    owner.fill("#forgot-email", email).await;
    owner.click("#forgot-form button[type=submit]").await;
    owner.wait("#reset-sent").await;
    owner
        .follow(&smtp.wait_for(email, "eset", 1).await, "reset-password")
        .await;
    let new_password = "a brand new browser password";
    owner.fill("#reset-password", new_password).await;
    owner.click("#reset-form button[type=submit]").await;
    owner.wait("#reset-done").await;
    owner.open(&format!("/{account_id}/issues")).await;
    owner.wait_path("/login?next=").await;
    owner.log_in(email, PASSWORD).await;
    owner.wait(".error-note").await;
    owner.log_in(email, new_password).await;
    owner.wait_path(&format!("/{account_id}/issues")).await;
    owner.wait_text("#issue-list", "KeyError").await;
    owner.open(&format!("/{account_id}/profile")).await;
    owner.wait_text("#profile-email", email).await;
    owner.wait_text("#sessions", "this browser").await;
    owner.screenshot("profile", true).await;

    // Change the address: the link goes to the new one, and opening it makes the change.
    let new_email = "owner@new-shop.example";
    owner.fill("#new-email", new_email).await;
    owner.fill("#email-password", new_password).await;
    owner.click("#email-form button[type=submit]").await;
    owner.wait("#email-sent").await;
    owner
        .follow(&smtp.wait_for(new_email, "", 1).await, "confirm-email")
        .await;
    owner.wait_text("#email-confirmed", new_email).await;
    owner.open(&format!("/{account_id}/profile")).await;
    owner.wait_text("#profile-email", new_email).await;

    // Search (free text, in the URL), sort, and bulk actions on selected rows.
    owner.open(&format!("/{account_id}/issues")).await;
    owner.wait_text("#issue-total", "1 issue").await;
    owner.fill("#issue-search", "is:unresolved KeyError").await;
    owner.click(".toolbar button[type=submit]").await;
    owner
        .wait_path(&format!(
            "/{account_id}/issues?query=is%3Aunresolved%20KeyError"
        ))
        .await;
    owner.wait_text("#issue-list", "KeyError").await;
    // Suggestions by keyboard: a key, then one of the values the project has seen.
    owner.fill("#issue-search", "is:unresolved env").await;
    owner.wait_text("#search-suggestions", "environment:").await;
    owner.pick_first_suggestion().await;
    owner
        .wait_text("#search-suggestions", "environment:e2e")
        .await;
    owner.screenshot("search-suggestions", false).await;
    owner.pick_first_suggestion().await;
    assert_eq!(
        owner
            .js("return document.querySelector('#issue-search').value;")
            .await,
        json!("is:unresolved environment:e2e "),
    );
    owner
        .press("#issue-search", fantoccini::key::Key::Enter)
        .await;
    owner
        .wait_path(&format!(
            "/{account_id}/issues?query=is%3Aunresolved%20environment%3Ae2e"
        ))
        .await;
    owner.wait_text("#issue-list", "KeyError").await;
    owner
        .fill("#issue-search", "is:unresolved no-such-text")
        .await;
    owner.click(".toolbar button[type=submit]").await;
    owner.wait("#no-issues").await;
    owner.select("#issue-sort", "EVENTS").await;
    owner
        .wait_path(&format!(
            "/{account_id}/issues?query=is%3Aunresolved%20no-such-text&sort=EVENTS"
        ))
        .await;
    owner.click(".quick-filters button:nth-child(1)").await;
    owner.wait_text("#issue-list", "KeyError").await;
    assert!(
        owner.path().await.contains("sort=EVENTS"),
        "the sort is kept"
    );
    owner.click("#issue-list tbody input[type=checkbox]").await;
    owner.wait_text(".bulk", "1 selected").await;
    owner.click("#bulk-ignore").await;
    owner.wait("#no-issues").await;
    owner.click(".quick-filters button:nth-child(3)").await;
    owner.wait_text("#issue-list", "KeyError").await;
    owner.click("#issue-list thead input[type=checkbox]").await;
    owner.click("#bulk-reopen").await;
    owner.wait("#no-issues").await;

    // New events of the resolved ValueError: a regression that comes back, live; its page
    // walks between its three events with oldest / older / newer / latest.
    owner.click(".quick-filters button:nth-child(1)").await;
    owner.wait_text("#issue-total", "1 issue").await;
    python_sends(&dsn, "card");
    owner.wait_text("#issue-list", "ValueError").await;
    owner.wait_text("#issue-total", "2 issues").await;
    python_sends(&dsn, "card");
    owner.open(&issue_path).await;
    owner.wait_text("#issue-status", "unresolved").await;
    owner.wait_text("#issue-count", "3").await;
    owner.wait_text("#event-position", "latest").await;
    owner.wait("span#event-latest").await;
    owner.click("#event-oldest").await;
    owner.wait_text("#event-position", "oldest").await;
    owner.wait_text("#event-id", &event_id).await;
    owner.wait("span#event-older").await;
    owner.click("#event-newer").await;
    owner.wait_path(&format!("{issue_path}?event=")).await;
    owner.wait("a#event-newer").await;
    owner.wait("a#event-older").await;
    owner.wait_text(".frame.in-app", "charge_card").await;
    owner.click("#event-latest").await;
    owner.wait_text("#event-position", "latest").await;

    // Merge the two issues from the list, then split the ValueError's fingerprint off again.
    owner.open(&format!("/{account_id}/issues")).await;
    owner.wait_text("#issue-total", "2 issues").await;
    owner.click("#issue-list thead input[type=checkbox]").await;
    owner.wait_text(".bulk", "2 selected").await;
    owner.click("#bulk-merge").await;
    owner.wait_text("#bulk-confirm", "Merge").await;
    owner.click("#confirm-merge").await;
    owner.wait_text("#issue-total", "1 issue").await;
    owner.click("#issue-list a.issue-title").await;
    owner.wait("#fingerprints li:nth-child(2)").await;
    owner.click("#fingerprints li:nth-child(2) button").await;
    owner.wait_gone("#fingerprints li:nth-child(2)").await;
    owner.open(&format!("/{account_id}/issues")).await;
    owner.wait_text("#issue-total", "2 issues").await;

    // A failed request shows its error, not a blank page.
    owner
        .open(&format!("/{account_id}/issues/iss_999999"))
        .await;
    owner.wait(".error-note[data-code=NOT_FOUND]").await;
    owner.open("/acc_999999/issues").await;
    owner.wait_text("#main", "Account not found").await;
    owner.client.clone().close().await.expect("close owner");
    eprintln!("journey took {:.1} s", started.elapsed().as_secs_f64());
}

/// A browser signed in as the owner that `Server::create_project(name)` made; returns it with
/// the account's id.
async fn sign_in_project_owner(driver: &Driver, server: &Server, name: &str) -> (Browser, String) {
    let browser = driver.browser(&server.base_url).await;
    browser.open("/login").await;
    browser
        .log_in(
            &format!("{name}@e2e.example.com"),
            "an e2e password long enough",
        )
        .await;
    let account = browser.wait_account_page().await;
    (browser, account)
}

/// Opens the `n`th invite emailed to `email` in `browser` (signed in as them) and accepts it.
async fn accept_emailed_invite(browser: &Browser, smtp: &SmtpSink, email: &str, n: usize) {
    browser
        .follow(&smtp.wait_for(email, "invited", n).await, "accept-invite")
        .await;
    browser.click("#accept-invite").await;
}

/// Fills the new-account form (on `/onboarding`); returns the new account's id.
async fn create_account(browser: &Browser, name: &str) -> String {
    browser.fill("#account-name", name).await;
    browser.click("#account-form button[type=submit]").await;
    browser.wait_account_page().await
}

/// Sends one error to the store endpoint, as an SDK does (key in the query); returns the status.
async fn store_event(server: &Server, dsn: &str) -> u16 {
    let (key, project) = dsn
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(key, rest)| (key, rest.rsplit('/').next().unwrap_or_default()))
        .expect("a DSN");
    reqwest::Client::new()
        .post(format!(
            "{}/api/{project}/store/?sentry_key={key}",
            server.base_url
        ))
        .body(r#"{"message":"over quota?","level":"error"}"#)
        .send()
        .await
        .expect("store request")
        .status()
        .as_u16()
}

/// An account over its quota, through real ingest: with a self-host plan of 3 errors a period
/// (a plans file, as the server's quota tests use), the 4th and 5th events are refused (429
/// `usage_exceeded`). The owner's email links to `/settings/billing`, which leads to the
/// account's billing page; every page of the account carries the over-quota banner, which
/// leads there too: the plan, 3 / 3 errors at 100 %, the day's accepted and dropped bars, the
/// 2 dropped "Over quota", the plans on offer, no upgrade buttons (billing is off when
/// self-hosted). The banner is dismissed with the keyboard and stays away for the session. An
/// invited viewer sees the banner and the same numbers.
#[tokio::test]
async fn an_account_over_its_quota_sees_the_banner_and_its_usage() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut plans = tempfile::NamedTempFile::new().expect("plans file");
    std::io::Write::write_all(
        &mut plans,
        br#"[{"slug":"self-hosted","name":"Tiny","retention_days":30,"quotas":{"error":3}},
             {"slug":"team","name":"Team","price_cents":2600,"retention_days":90,
              "quotas":{"error":50000,"attachment":1073741824},"key_rate_per_minute":500,"key_burst":1000}]"#,
    )
    .expect("write plans");
    let plans_path = plans.path().to_str().expect("utf-8").to_owned();
    let smtp = SmtpSink::start().await;
    let server = Server::start(&[
        ("ERRORWATCH_PLANS_FILE", &plans_path),
        ("ERRORWATCH_QUOTA_REFRESH_MS", "100"),
        ("ERRORWATCH_SMTP_URL", &smtp.url),
    ])
    .await;
    let project = server.create_project("quota");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(store_event(&server, &project.dsn).await);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);

    // The owner is told by email; its link names the account and leads to its page.
    let driver = Driver::start().await;
    let (owner, account) = sign_in_project_owner(&driver, &server, "quota").await;
    let mail = smtp
        .wait_for("quota@e2e.example.com", "quota is used up", 1)
        .await;
    let link = mail
        .data
        .split_whitespace()
        .find(|word| word.contains("/settings/billing?account="))
        .unwrap_or_else(|| panic!("no billing link in:\n{}", mail.data))
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/settings/billing?account=", server.base_url)),
        "{link}"
    );
    // The digest counts the 3 accepted and the drops are flushed within a second or two.
    let deadline = Instant::now() + STEP;
    loop {
        let answer = owner
            .graphql_from_page(
                "query($a: ID!) { account(id: $a) { billing { usage { quantity } dropped { quantity } } } }",
                json!({"a": account}),
            )
            .await;
        let billing = &answer["data"]["account"]["billing"];
        if billing["usage"][0]["quantity"] == 3 && billing["dropped"][0]["quantity"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "usage never reached 3 + 2 dropped: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every page of the account says so, with a link to the billing page.
    owner.open(&format!("/{account}/issues")).await;
    let banner = owner.wait_text("#quota-banner", "used up").await;
    assert!(
        banner.contains("3 of 3") && banner.contains("new errors are being dropped"),
        "{banner}"
    );
    owner.screenshot("quota-banner", true).await;
    owner.click("#quota-banner-link").await;
    owner
        .wait_path(&format!("/{account}/settings/billing"))
        .await;
    owner.wait_text("#plan-name", "Tiny").await;
    owner.wait_text("#plan-status", "No subscription").await;
    let usage = owner.wait_text("#usage", "3 / 3").await;
    assert!(usage.contains("100 %"), "{usage}");
    assert!(usage.contains("3 accepted, 2 dropped"), "{usage}");
    owner
        .wait(".meter.over [role=meter][aria-valuenow='100']")
        .await;
    owner.wait(".daily svg rect.acc").await;
    owner.wait(".daily svg rect.drop").await;
    owner
        .wait_text("#dropped-list", "Over quota: 2 errors")
        .await;
    // Billing is off: the plan without a price, no list of priced plans.
    owner
        .wait_text("#plan-self-hosted", "Billing is off on this server")
        .await;
    let plan = owner.wait_text("#plan", "Tiny").await;
    assert!(
        !plan.contains('$') && !plan.contains("Free"),
        "no prices without billing: {plan}"
    );
    assert!(
        owner
            .client
            .find_all(Locator::Css("#plans"))
            .await
            .expect("find")
            .is_empty(),
        "no plan list while billing is off"
    );
    assert!(
        owner
            .client
            .find_all(Locator::Css("#plan-actions"))
            .await
            .expect("find")
            .is_empty(),
        "no upgrade or portal buttons while billing is off"
    );
    owner.screenshot("billing", true).await;
    owner
        .js("document.querySelector('#usage').scrollIntoView(); return true;")
        .await;
    owner.screenshot("billing-usage", true).await;
    owner.click("#theme-toggle").await;
    owner
        .js("document.querySelector('#usage').scrollIntoView(); return true;")
        .await;
    owner.screenshot("billing-usage-dark", false).await;
    owner.click("#theme-toggle").await;

    // Dismissed with the keyboard, the banner stays away for the session (reloads included).
    owner
        .press("#quota-banner-dismiss", fantoccini::key::Key::Enter)
        .await;
    owner.wait_gone("#quota-banner").await;
    owner
        .client
        .goto(&link)
        .await
        .expect("open the emailed link");
    owner
        .wait_path(&format!("/{account}/settings/billing"))
        .await;
    owner.wait_text("#usage", "3 / 3").await;
    owner.wait_gone("#quota-banner").await;

    // A viewer sees the banner and the same usage.
    let viewer_email = "quota-viewer@e2e.example.com";
    server.admin(
        &[
            "user",
            "create",
            "--email",
            viewer_email,
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let invited = owner
        .graphql_from_page(
            "mutation($a: ID!, $e: String!) { inviteMember(accountId: $a, email: $e, role: VIEWER) { id } }",
            json!({"a": account, "e": viewer_email}),
        )
        .await;
    assert!(invited["errors"].is_null(), "{invited}");
    let viewer = driver.browser(&server.base_url).await;
    viewer.open("/login").await;
    viewer.log_in(viewer_email, PASSWORD).await;
    viewer.wait_path("/onboarding").await;
    accept_emailed_invite(&viewer, &smtp, viewer_email, 1).await;
    viewer.wait_path(&format!("/{account}/issues")).await;
    viewer.wait_text("#quota-banner", "used up").await;
    viewer.open("/settings/billing").await;
    viewer
        .wait_path(&format!("/{account}/settings/billing"))
        .await;
    viewer.wait_text("#usage", "3 / 3").await;
    viewer
        .wait_text("#dropped-list", "Over quota: 2 errors")
        .await;
    viewer.client.clone().close().await.expect("close viewer");
    owner.client.clone().close().await.expect("close owner");
}

/// The issue list survives a dropped subscription: the server is killed under an open list
/// (the page says it is reconnecting), an issue is created while it is down (the seed
/// command, straight into the database: no live notice can ever announce it), the server
/// comes back, and the list catches up by itself; then an error sent by the real Python SDK
/// arrives live over the new connection. No reload at any point.
#[tokio::test]
async fn the_issue_list_reconnects_and_catches_up_after_the_server_restarts() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut server = Server::start(&[]).await;
    let project = server.create_project("live");
    let driver = Driver::start().await;
    let (browser, account) = sign_in_project_owner(&driver, &server, "live").await;
    browser.open(&format!("/{account}/issues?query=")).await;
    browser.wait("#no-issues").await;
    browser.wait_text("#live-status", "Live").await;
    browser.mark_page().await;

    server.kill();
    browser.wait_text("#live-status", "Reconnecting").await;
    browser.screenshot("issue-list-reconnecting", false).await;
    server.admin(
        &[
            "seed",
            "--project",
            &project.id.to_string(),
            "--issues",
            "1",
            "--events",
            "1",
        ],
        None,
    );
    server.restart().await;
    browser.wait_text("#live-status", "Live").await;
    browser.wait_text("#issue-total", "1 issue").await;

    python_sends(&project.dsn, "stock");
    browser.wait_text("#issue-list", "KeyError").await;
    browser.wait_text("#issue-total", "2 issues").await;
    browser.assert_not_reloaded().await;
    browser.client.clone().close().await.expect("close");
}

/// Time to first render of the issue list with 1,000 issues (seeded): from navigation start
/// to the frame after the first page of rows is in the DOM, as the app records it.
#[tokio::test]
async fn issue_list_with_1000_issues_renders_quickly() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let project = server.create_project("seeded");
    server.admin(
        &[
            "seed",
            "--project",
            &project.id.to_string(),
            "--issues",
            "1000",
            "--events",
            "5000",
        ],
        None,
    );
    let driver = Driver::start().await;
    let (browser, account) = sign_in_project_owner(&driver, &server, "seeded").await;

    // A full page load of the list (not a client-side navigation), searching every status.
    let mut samples = Vec::new();
    for _ in 0..3 {
        browser.open(&format!("/{account}/issues?query=")).await;
        browser.wait_text("#issue-total", "1000 issues").await;
        browser.wait("#issue-list tr.issue-row").await;
        let deadline = Instant::now() + STEP;
        let rendered = loop {
            let value = browser
                .js("return [window.__ewListRenderedMs ?? null, window.__ewListRequestMs ?? null];")
                .await;
            if value[0].is_number() {
                break value;
            }
            assert!(
                Instant::now() < deadline,
                "the list never recorded its render"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let rows = browser
            .client
            .find_all(Locator::Css("#issue-list tr.issue-row"))
            .await
            .expect("rows")
            .len();
        assert_eq!(rows, 50, "the first page");
        if samples.is_empty() {
            browser.click("#load-more").await;
            let deadline = Instant::now() + STEP;
            while browser
                .client
                .find_all(Locator::Css("#issue-list tr.issue-row"))
                .await
                .expect("rows")
                .len()
                < 100
            {
                assert!(
                    Instant::now() < deadline,
                    "load more never added the next 50"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        samples.push((
            rendered[0].as_f64().expect("ms"),
            rendered[1].as_f64().unwrap_or_default(),
        ));
    }
    browser.screenshot("issue-list-1000", false).await;
    // The sparklines switch to 14 days (by the day).
    browser.click("#sparkline-span").await;
    browser.wait_text("#sparkline-span", "14 d").await;
    browser.wait_text("#issue-total", "1000 issues").await;
    browser
        .wait("#issue-list tr.issue-row .sparkline polyline")
        .await;
    eprintln!(
        "issue list, 1000 issues: first render {} ms after navigation start (GraphQL request {} ms)",
        samples
            .iter()
            .map(|(r, _)| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
        samples
            .iter()
            .map(|(_, q)| format!("{q:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
    );
    let best = samples.iter().map(|(r, _)| *r).fold(f64::MAX, f64::min);
    // Generous: the CI machine has 2 cores shared with the build; typical is far below.
    assert!(best < 5_000.0, "first render took {best} ms");
    browser.client.clone().close().await.expect("close");
}

#[tokio::test]
async fn deep_links_load_the_app_and_signed_out_visitors_go_to_log_in() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    // A deep link is answered with the app, which sends a signed-out visitor to log in and
    // remembers where they were going.
    let dom = dump_dom(&format!(
        "{}/acc_1/issues?query=is%3Aresolved",
        server.base_url
    ));
    assert!(dom.contains("id=\"login-form\""), "the log-in page: {dom}");
    let dom = dump_dom(&format!("{}/signup", server.base_url));
    assert!(dom.contains("id=\"signup-form\""), "{dom}");
    let dom = dump_dom(&format!("{}/no/such/page/here/at/all", server.base_url));
    assert!(dom.contains("Page not found"), "{dom}");
}

#[tokio::test]
async fn dashboard_bundle_is_optimized_and_served_compressed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/errorwatch_frontend_bg.wasm", server.base_url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["content-type"], "application/wasm");
    let compressed = response.bytes().await.expect("body").len();
    eprintln!("dashboard wasm: {compressed} bytes gzip'd");
    // The whole dashboard (router, every page, the GraphQL and WebSocket clients): 497 KB
    // with the billing and alerts pages; 536 KB with the event page in reading order (+17 KB,
    // though its static parts are escaped markup rather than views) and the triage of issue
    // 23 (+21 KB: merge and delete confirmations, unmerge details, bulk results with Undo,
    // ignore states, errors in words, the phone menu, user agents in words); 556 KB with the
    // releases list and page, source-mapped frames and reprocessing (issue 25: +20 KB, tables and lists as
    // escaped markup). The bound catches a jump, not growth by a page.
    assert!(compressed < 600_000, "gzip'd wasm is {compressed} bytes");
    let plain = client
        .get(format!("{}/errorwatch_frontend_bg.wasm", server.base_url))
        .send()
        .await
        .expect("request");
    assert!(plain.headers().get("content-encoding").is_none());
    let raw = plain.bytes().await.expect("body");
    assert_eq!(&raw[..4], b"\0asm", "a WebAssembly module");
    assert!(
        raw.len() > compressed,
        "{} raw vs {compressed} compressed",
        raw.len()
    );
}
