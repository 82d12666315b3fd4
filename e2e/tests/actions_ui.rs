//! Dashboard actions with visible outcomes, in a real headless Chromium against the real
//! binary, each journey in the light and the dark theme with screenshots at desktop and phone
//! width: a merge is confirmed (naming what goes into what) and its fingerprint is split off
//! again from the list that names it by its original title and first event; a bulk resolve
//! says what it did and its Undo puts the issues back (an ignore keeps its condition); the
//! last owner's Remove is disabled with its reason, a new API token has a copy button and
//! sessions are named by browser; errors read as words (a wrong password, an unknown issue);
//! and at 390 px the menu button opens the navigation without sideways scrolling.

use errorwatch_e2e::Server;
use errorwatch_e2e::browser::{Browser, Driver};
use serde_json::json;

const PASSWORD: &str = "an e2e password long enough";
const THEMES: [&str; 2] = ["light", "dark"];

/// Sends one error with `message` to the store endpoint, as an SDK does; returns its event id.
async fn store(server: &Server, dsn: &str, message: &str) -> String {
    let (key, project) = dsn
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(key, rest)| (key, rest.rsplit('/').next().unwrap_or_default()))
        .expect("a DSN");
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/{project}/store/?sentry_key={key}",
            server.base_url
        ))
        .json(&json!({"event_id": event_id, "message": message, "level": "error"}))
        .send()
        .await
        .expect("store request");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    event_id
}

/// A project named `name` with one event of each message, and its owner signed in, on the
/// issue list in `theme`; returns the browser and the account id.
async fn owner_with_issues(
    driver: &Driver,
    server: &Server,
    name: &str,
    messages: &[&str],
    theme: &str,
) -> (Browser, String, Vec<String>) {
    let project = server.create_project(name);
    let mut event_ids = Vec::new();
    for message in messages {
        event_ids.push(store(server, &project.dsn, message).await);
    }
    let browser = driver.browser(&server.base_url).await;
    let account = browser
        .log_in_as(&format!("{name}@e2e.example.com"), PASSWORD)
        .await;
    browser.set_theme(theme).await;
    browser.open(&format!("/{account}/issues")).await;
    let total = match messages.len() {
        1 => "1 issue".to_owned(),
        n => format!("{n} issues"),
    };
    browser.wait_text("#issue-total", &total).await;
    (browser, account, event_ids)
}

/// Ticks the row checkbox of the issue titled `title`.
async fn select_row(browser: &Browser, title: &str) {
    browser.wait_text("#issue-list", title).await;
    browser
        .js_with(
            "const row = [...document.querySelectorAll('.issue-row')]
               .find(r => r.querySelector('.issue-title').textContent.includes(arguments[0]));
             row.querySelector('input[type=checkbox]').click(); return true;",
            vec![json!(title)],
        )
        .await;
}

#[tokio::test]
async fn a_merge_is_confirmed_and_its_fingerprint_split_off_by_name() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let driver = Driver::start().await;
    for theme in THEMES {
        let (owner, account, events) = owner_with_issues(
            &driver,
            &server,
            &format!("merge{theme}"),
            &["Payment declined", "Cache miss storm"],
            theme,
        )
        .await;
        select_row(&owner, "Payment declined").await;
        select_row(&owner, "Cache miss storm").await;
        owner.wait_text(".bulk", "2 selected").await;
        owner.click("#bulk-merge").await;
        // Nothing happens before the confirmation, which names what goes into what.
        let question = owner
            .wait_text(
                "#bulk-confirm",
                "Merge “Cache miss storm” into “Payment declined”?",
            )
            .await;
        assert!(question.contains("cannot be undone"), "{question}");
        owner.wait_text("#issue-total", "2 issues").await;
        owner
            .screenshot(&format!("actions-merge-confirm-{theme}"), true)
            .await;
        owner.click("#confirm-merge").await;
        owner
            .wait_text("#bulk-outcome", "2 issues merged into one")
            .await;
        owner.wait_text("#issue-total", "1 issue").await;
        assert!(
            owner
                .client
                .find(fantoccini::Locator::Css("#bulk-undo"))
                .await
                .is_err(),
            "a merge offers no undo"
        );

        // The merged issue lists each fingerprint by its original title, count and first event.
        owner.click("#issue-list a.issue-title").await;
        let listed = owner
            .wait_text("#fingerprints li:nth-child(2)", "first event")
            .await;
        let both = owner.wait_text("#fingerprints", "Cache miss storm").await;
        assert!(both.contains("Payment declined"), "{both}");
        assert!(listed.contains("1 event"), "{listed}");
        owner.scroll_to("#grouping").await;
        owner
            .screenshot(&format!("actions-fingerprints-{theme}"), true)
            .await;
        let storm_event = owner
            .js("const link = [...document.querySelectorAll('#fingerprints li')]
                   .find(li => li.textContent.includes('Cache miss storm')).querySelector('a.first-event');
                 const href = link.getAttribute('href'); link.click(); return href;")
            .await;
        assert!(
            storm_event
                .as_str()
                .is_some_and(|href| href.ends_with(&format!("?event={}", events[1]))),
            "{storm_event}"
        );
        owner.wait_path(&format!("/{account}/issues/")).await;
        owner.wait_text("#event-id", &events[1]).await;

        // Unmerge the storm: two issues again.
        owner
            .js(
                "const li = [...document.querySelectorAll('#fingerprints li')]
                   .find(li => li.textContent.includes('Cache miss storm'));
                 li.querySelector('button.unmerge').click(); return true;",
            )
            .await;
        owner.wait_gone("#fingerprints li:nth-child(2)").await;
        owner.open(&format!("/{account}/issues")).await;
        owner.wait_text("#issue-total", "2 issues").await;
        owner.client.clone().close().await.expect("close");
    }
}

#[tokio::test]
async fn a_bulk_resolve_says_what_it_did_and_undo_restores_every_state() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let driver = Driver::start().await;
    for theme in THEMES {
        let (owner, account, _) = owner_with_issues(
            &driver,
            &server,
            &format!("undo{theme}"),
            &["Payment declined", "Cache miss storm", "Disk almost full"],
            theme,
        )
        .await;
        select_row(&owner, "Payment declined").await;
        select_row(&owner, "Cache miss storm").await;
        owner.click("#bulk-resolve").await;
        owner.wait_text("#bulk-outcome", "2 issues resolved").await;
        owner.wait_text("#issue-total", "1 issue").await;
        owner
            .screenshot(&format!("actions-bulk-outcome-{theme}"), true)
            .await;
        owner.click("#bulk-undo").await;
        owner
            .wait_text("#bulk-outcome", "Undone: 2 issues resolved")
            .await;
        owner.wait_text("#issue-total", "3 issues").await;

        // An ignore until 100 more events says so, and an undone reopen brings it back.
        owner
            .click_link_with("#issue-list a.issue-title", "Disk almost full")
            .await;
        owner.click("#action-ignore100").await;
        owner
            .wait_text("#issue-status", "ignored until 100 more events")
            .await;
        owner
            .screenshot(&format!("actions-ignored-{theme}"), false)
            .await;
        owner
            .open(&format!("/{account}/issues?query=is%3Aignored"))
            .await;
        owner
            .wait_text("#issue-list", "ignored until 100 more events")
            .await;
        select_row(&owner, "Disk almost full").await;
        owner.click("#bulk-reopen").await;
        owner.wait_text("#bulk-outcome", "1 issue reopened").await;
        owner.wait("#no-issues").await;
        owner.click("#bulk-undo").await;
        owner
            .wait_text("#issue-list", "ignored until 100 more events")
            .await;
        owner.client.clone().close().await.expect("close");
    }
}

#[tokio::test]
async fn the_last_owner_stays_and_errors_tokens_and_sessions_read_in_words() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let driver = Driver::start().await;
    for theme in THEMES {
        let name = format!("owner{theme}");
        let (owner, account, _) =
            owner_with_issues(&driver, &server, &name, &["Payment declined"], theme).await;
        owner.open(&format!("/{account}/settings")).await;
        let remove = owner.wait("#members .remove-member").await;
        assert_eq!(
            remove.attr("disabled").await.expect("attribute").as_deref(),
            Some("true")
        );
        assert_eq!(
            remove.attr("title").await.expect("attribute").as_deref(),
            Some("The last owner cannot be removed")
        );
        owner
            .wait_text("#members", "The last owner cannot be removed")
            .await;
        owner
            .wait_text("#danger-h + .with-reason", "The last owner cannot leave")
            .await;
        owner.scroll_to("#members-h").await;
        owner
            .screenshot(&format!("actions-members-{theme}"), true)
            .await;

        // A new token is copied with one click.
        owner.fill("#token-name", "deploy").await;
        owner.click("#token-form button[type=submit]").await;
        owner.wait_text("#token-secret", "ewt_").await;
        owner.click("#copy-token").await;
        owner.wait_text("#copy-token", "Copied").await;
        owner
            .screenshot(&format!("actions-settings-{theme}"), true)
            .await;

        // Sessions by browser name, not the raw header.
        owner.open(&format!("/{account}/profile")).await;
        let sessions = owner.wait_text("#sessions", "Chrome").await;
        assert!(sessions.contains(" on Linux"), "{sessions}");
        assert!(!sessions.contains("Mozilla/5.0"), "{sessions}");

        // An unknown issue, in words with the way back.
        owner.open(&format!("/{account}/issues/iss_999999")).await;
        let missing = owner
            .wait_text(
                "#issue-missing",
                "This issue does not exist or you have no access to it",
            )
            .await;
        assert!(!missing.contains("NOT_FOUND"), "{missing}");
        owner.click("#issue-missing a").await;
        owner.wait_text("#issue-total", "1 issue").await;

        // A wrong password is called that.
        owner.click("#logout").await;
        owner.wait_path("/login").await;
        owner
            .log_in(
                &format!("{name}@e2e.example.com"),
                "not the password at all",
            )
            .await;
        let refused = owner
            .wait_text(".error-note", "Wrong email or password")
            .await;
        assert!(!refused.contains("session"), "{refused}");
        assert!(!refused.contains("UNAUTHENTICATED"), "{refused}");
        owner
            .screenshot(&format!("actions-wrong-password-{theme}"), true)
            .await;
        owner.client.clone().close().await.expect("close");
    }
}

#[tokio::test]
async fn at_phone_width_the_menu_button_opens_the_navigation() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let driver = Driver::start().await;
    for theme in THEMES {
        let (phone, account, _) = owner_with_issues(
            &driver,
            &server,
            &format!("phone{theme}"),
            &["Payment declined with a rather long message that has to wrap on a phone"],
            theme,
        )
        .await;
        phone
            .client
            .set_window_size(390, 844)
            .await
            .expect("resize");
        phone.wait_text("#issue-total", "1 issue").await;
        let layout = "return [document.documentElement.scrollWidth,
                 getComputedStyle(document.querySelector('#top-menu')).display,
                 document.querySelector('#menu-button').getAttribute('aria-expanded'),
                 document.querySelector('#main').getBoundingClientRect().width];";
        let closed = phone.js(layout).await;
        assert!(closed[0].as_i64().is_some_and(|w| w <= 390), "{closed}");
        assert_eq!(
            (closed[1].clone(), closed[2].clone()),
            (json!("none"), json!("false"))
        );
        assert!(
            closed[3].as_f64().is_some_and(|w| w >= 370.0),
            "content takes the width: {closed}"
        );
        phone.click("#menu-button").await;
        let open = phone.js(layout).await;
        assert_eq!(
            (open[1].clone(), open[2].clone()),
            (json!("flex"), json!("true"))
        );
        assert!(open[0].as_i64().is_some_and(|w| w <= 390), "{open}");
        let png = phone.client.screenshot().await.expect("screenshot");
        let dir = errorwatch_e2e::browser::screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(
            dir.join(format!("actions-menu-open-{theme}-phone.png")),
            png,
        )
        .expect("write screenshot");
        // A link of the menu navigates and closes it.
        phone.click_link_with("#top-menu nav a", "Settings").await;
        phone.wait_path(&format!("/{account}/settings")).await;
        phone
            .wait_js(
                "the menu closes after navigating",
                errorwatch_e2e::browser::STEP,
                "return document.querySelector('#menu-button').getAttribute('aria-expanded') === 'false';",
                vec![],
            )
            .await;
        phone
            .client
            .set_window_size(1280, 900)
            .await
            .expect("resize");
        phone.open(&format!("/{account}/issues")).await;
        phone.wait_text("#issue-total", "1 issue").await;
        phone
            .screenshot(&format!("actions-issue-list-{theme}"), true)
            .await;
        phone.client.clone().close().await.expect("close");
    }
}
