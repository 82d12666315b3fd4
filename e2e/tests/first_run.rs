//! The first ten minutes of a self-hosted server, as the README's first command starts it: no
//! SMTP server and no `ERRORWATCH_SIGNUP`. The first visitor is told they become the
//! administrator, signs up, is told where the email went (the log and a plain-text `.eml`),
//! opens the link copied from that file as a person would, creates an account and a project,
//! runs the Python snippet exactly as the page shows it with sentry-sdk 3 (what `pip install
//! sentry-sdk` installs today) and sees the first event arrive. A second visitor finds sign-up
//! closed. Run in the light and the dark theme; screenshots land in
//! `$CARGO_TARGET_DIR/screenshots/`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use errorwatch_e2e::browser::{Browser, Driver, PASSWORD, STEP};
use errorwatch_e2e::{Server, python_sdk_3};
use serde_json::json;

#[tokio::test]
async fn first_run_without_smtp_to_a_first_event_from_the_snippet() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let python = python_sdk_3();
    let driver = Driver::start().await;
    for theme in ["light", "dark"] {
        first_run(&driver, &python, theme).await;
    }
}

async fn first_run(driver: &Driver, python: &Path, theme: &str) {
    let mail_dir = tempfile::tempdir().expect("mail dir");
    // The defaults of a fresh install: an empty value unsets what the e2e server would set.
    let server = Server::start(&[
        ("ERRORWATCH_SIGNUP", ""),
        (
            "ERRORWATCH_MAIL_DIR",
            mail_dir.path().to_str().expect("utf-8"),
        ),
    ])
    .await;
    let owner = driver.browser(&server.base_url).await;
    owner.open("/signup").await;
    set_theme(&owner, theme).await;

    // Nobody has signed up: the page says who becomes the administrator.
    owner
        .wait_text("#signup-first-user", "you will be its administrator")
        .await;
    owner
        .screenshot(&format!("first-run-signup-{theme}"), true)
        .await;
    let email = format!("admin-{theme}@first-run.example");
    owner.fill("#signup-email", &email).await;
    owner.fill("#signup-password", PASSWORD).await;
    owner.click("#signup-form button[type=submit]").await;
    owner.wait_text("#signup-sent", &email).await;
    let where_mail_went = owner.wait_text("#signup-no-smtp", ".eml").await;
    assert!(
        where_mail_went.contains("log") && where_mail_went.contains("data/mail"),
        "{where_mail_went}"
    );
    owner
        .screenshot(&format!("first-run-check-email-{theme}"), true)
        .await;

    // The link, copied from the .eml file as it reads (no quoted-printable `=3D`).
    let eml = wait_for_eml(mail_dir.path()).await;
    let link = eml
        .lines()
        .find(|line| line.starts_with(&server.base_url) && line.contains("/verify-email?token="))
        .unwrap_or_else(|| panic!("no verification link on a line of its own:\n{eml}"))
        .trim();
    owner.client.goto(link).await.expect("open the copied link");

    // Signed in: an account, then a project, then the snippet.
    owner.wait_path("/onboarding").await;
    owner.fill("#account-name", "First").await;
    owner.click("#account-form button[type=submit]").await;
    owner.wait_account_page().await;
    owner.wait("#project-name").await;
    owner.fill("#project-name", "Web").await;
    owner.click("#create-project").await;
    owner.wait("#dsn").await;
    owner.click("[data-platform=python]").await;
    owner.wait_text("#snippet", "sentry_sdk.init").await;
    owner.wait("#waiting-first-event").await;
    let snippet = owner.wait("#snippet").await.text().await.expect("snippet");
    let install = owner.wait_text("pre.install", "pip install").await;
    assert_eq!(install.trim(), "pip install --upgrade sentry-sdk");
    assert!(!snippet.contains("send_default_pii"), "{snippet}");

    // The snippet, exactly as shown, with what `pip install sentry-sdk` installs today: the
    // test error makes it exit 1 after sending.
    let script = tempfile::Builder::new()
        .suffix(".py")
        .tempfile()
        .expect("script file");
    std::fs::write(script.path(), &snippet).expect("write the snippet");
    let output = Command::new(python)
        .arg(script.path())
        .output()
        .expect("run the snippet");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() == Some(1) && stderr.contains("ZeroDivisionError"),
        "the snippet should send its test error and exit 1 ({:?}):\n{snippet}\n{stderr}",
        output.status
    );
    owner.wait_text("#first-issue", "ZeroDivisionError").await;
    owner
        .screenshot(&format!("first-run-first-event-{theme}"), true)
        .await;

    // A second visitor: sign-up is by invitation now, and the API agrees.
    let stranger = driver.browser(&server.base_url).await;
    stranger.open("/signup").await;
    stranger
        .wait_text("#signup-by-invite", "by invitation")
        .await;
    let refused = stranger
        .graphql_from_page(
            "mutation { signUp(email: \"stranger@first-run.example\", password: \"a long password 1\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "VALIDATION",
        "{refused}"
    );
    stranger.client.clone().close().await.expect("close");
    owner.client.clone().close().await.expect("close");
}

/// Switches the page to `theme` and checks it.
async fn set_theme(browser: &Browser, theme: &str) {
    browser.set_theme(theme).await;
    assert_eq!(
        browser
            .js("return document.documentElement.dataset.theme;")
            .await,
        json!(theme)
    );
}

/// The first `.eml` file written into `dir`.
async fn wait_for_eml(dir: &Path) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let found = std::fs::read_dir(dir).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
        });
        if let Some(entry) = found {
            return std::fs::read_to_string(entry.path()).expect("read the .eml");
        }
        assert!(Instant::now() < deadline, "no .eml in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
