//! Sign-up, verification, log in/out, sessions (rotation, revocation, CSRF), password reset and
//! change, email change, sign-up policies and brute-force limits — through `/graphql` like the
//! dashboard, with emails read from the SMTP sink.

use std::time::Duration;

use serde_json::json;

use crate::harness::gql::{Gql, sign_up};
use crate::harness::{TestApp, db_test};

const PASSWORD: &str = "correct horse battery";
const VIEWER: &str = "{ viewer { user { email emailVerified isSuperuser } } }";
const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { email } }";

async fn login(app: &TestApp, email: &str, password: &str) -> Gql {
    let browser = Gql::browser(app);
    browser.ok(LOGIN, json!({"e": email, "p": password})).await;
    browser
}

/// Runs SQL on the app's database (tests only: to expire links and tokens).
async fn execute(app: &TestApp, sql: &'static str) {
    match app.db.pool() {
        errorwatch_core::db::Pool::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        errorwatch_core::db::Pool::Postgres(pool) => {
            sqlx::query(sql).execute(pool).await.map(|_| ())
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

db_test!(
    async fn sign_up_verifies_by_email_and_the_first_user_is_superuser(backend) {
        let app = TestApp::spawn(backend).await;
        let ada = sign_up(&app, "Ada@Example.com").await;
        let me = ada.ok(VIEWER, json!({})).await;
        assert_eq!(me["viewer"]["user"]["email"], "ada@example.com");
        assert_eq!(me["viewer"]["user"]["emailVerified"], true);
        assert_eq!(me["viewer"]["user"]["isSuperuser"], true, "first user of a self-hosted server");
        // Cookies: httpOnly session + refresh, readable CSRF.
        assert!(ada.cookie("ew_session").is_some() && ada.cookie("ew_refresh").is_some());
        assert!(ada.cookie("ew_csrf").is_some());

        let bob = sign_up(&app, "bob@example.com").await;
        let me = bob.ok(VIEWER, json!({})).await;
        assert_eq!(me["viewer"]["user"]["isSuperuser"], false);

        // Anonymous viewer: UNAUTHENTICATED.
        assert_eq!(Gql::browser(&app).err(VIEWER, json!({})).await, "UNAUTHENTICATED");
    }
);

db_test!(
    async fn saas_mode_makes_nobody_superuser(backend) {
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_MODE", "saas")]).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let me = ada.ok(VIEWER, json!({})).await;
        assert_eq!(me["viewer"]["user"]["isSuperuser"], false);
    }
);

db_test!(
    async fn unverified_users_cannot_log_in_and_links_work_once(backend) {
        let app = TestApp::spawn(backend).await;
        let browser = Gql::browser(&app);
        browser
            .ok(
                "mutation { signUp(email: \"cy@example.com\", password: \"correct horse battery\") { status } }",
                json!({}),
            )
            .await;
        assert_eq!(
            browser.err(LOGIN, json!({"e": "cy@example.com", "p": PASSWORD})).await,
            "UNAUTHENTICATED"
        );
        let first = app.smtp.wait_for("cy@example.com", "Verify your email", 1).await;
        // Resend: a second link; both work until one is used, each only once.
        browser
            .ok("mutation { resendVerification(email: \"cy@example.com\") }", json!({}))
            .await;
        let second = app.smtp.wait_for("cy@example.com", "Verify your email", 2).await;
        let verify = "mutation($t: String!) { verifyEmail(token: $t) { email } }";
        browser.ok(verify, json!({"t": first.token("verify-email")})).await;
        assert_eq!(
            Gql::browser(&app).err(verify, json!({"t": first.token("verify-email")})).await,
            "VALIDATION",
            "a used link is refused"
        );
        Gql::browser(&app).ok(verify, json!({"t": second.token("verify-email")})).await;
        login(&app, "cy@example.com", PASSWORD).await;

        // An expired link is refused.
        let dee = Gql::browser(&app);
        dee.ok(
            "mutation { signUp(email: \"dee@example.com\", password: \"correct horse battery\") { status } }",
            json!({}),
        )
        .await;
        let mail = app.smtp.wait_for("dee@example.com", "Verify your email", 1).await;
        execute(&app, "UPDATE email_tokens SET expires_at = created_at").await;
        assert_eq!(dee.err(verify, json!({"t": mail.token("verify-email")})).await, "VALIDATION");
        assert_eq!(dee.err(verify, json!({"t": "ewe_forged"})).await, "VALIDATION");
    }
);

db_test!(
    async fn no_user_enumeration_through_answers(backend) {
        let app = TestApp::spawn(backend).await;
        sign_up(&app, "ada@example.com").await;
        let anon = Gql::browser(&app);
        // Wrong password and unknown address: same error, same message.
        let wrong = anon.exec(LOGIN, json!({"e": "ada@example.com", "p": "wrong password!"})).await;
        let unknown = anon.exec(LOGIN, json!({"e": "nobody@example.com", "p": "wrong password!"})).await;
        assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"]);
        assert_eq!(wrong["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        // Sign-up with a taken address answers like a new one; the owner gets a notice.
        let taken = anon
            .ok(
                "mutation { signUp(email: \"ada@example.com\", password: \"another password\") { status } }",
                json!({}),
            )
            .await;
        assert_eq!(taken["signUp"]["status"], "VERIFICATION_SENT");
        app.smtp.wait_for("ada@example.com", "tried to sign up", 1).await;
        // Reset for an unknown address: same answer, no email.
        let reset = "mutation($e: String!) { requestPasswordReset(email: $e) }";
        anon.ok(reset, json!({"e": "nobody@example.com"})).await;
        anon.ok(reset, json!({"e": "ada@example.com"})).await;
        app.smtp.wait_for("ada@example.com", "Reset your", 1).await;
        app.run_pending_jobs().await;
        assert!(app.smtp.to("nobody@example.com").is_empty());
    }
);

db_test!(
    async fn logout_revokes_the_session_and_logout_everywhere_all_of_them(backend) {
        let app = TestApp::spawn(backend).await;
        let first = sign_up(&app, "ada@example.com").await;
        let stolen = first.clone_browser();
        let second = login(&app, "ada@example.com", PASSWORD).await;
        let sessions = second.ok("{ viewer { sessions { id current userAgent } } }", json!({})).await;
        assert_eq!(sessions["viewer"]["sessions"].as_array().expect("list").len(), 2);

        first.ok("mutation { logout }", json!({})).await;
        assert!(first.cookie("ew_session").is_none(), "logout clears the cookies");
        // The copied cookies of the ended session are worthless now.
        assert_eq!(stolen.err(VIEWER, json!({})).await, "UNAUTHENTICATED");
        second.ok(VIEWER, json!({})).await;

        let third = login(&app, "ada@example.com", PASSWORD).await;
        let ended = second.ok("mutation { logoutEverywhere }", json!({})).await;
        assert_eq!(ended["logoutEverywhere"], 2);
        assert_eq!(third.err(VIEWER, json!({})).await, "UNAUTHENTICATED");

        // Revoking one session by id; another user's session id is NOT_FOUND.
        let a = login(&app, "ada@example.com", PASSWORD).await;
        let b = login(&app, "ada@example.com", PASSWORD).await;
        let list = a.ok("{ viewer { sessions { id current } } }", json!({})).await;
        let other = list["viewer"]["sessions"]
            .as_array()
            .expect("list")
            .iter()
            .find(|s| s["current"] == false)
            .expect("the other session")["id"]
            .clone();
        a.ok("mutation($id: ID!) { revokeSession(id: $id) }", json!({"id": other})).await;
        assert_eq!(b.err(VIEWER, json!({})).await, "UNAUTHENTICATED");
        let eve = sign_up(&app, "eve@example.com").await;
        let own = a.ok("{ viewer { sessions { id } } }", json!({})).await["viewer"]["sessions"][0]["id"].clone();
        assert_eq!(eve.err("mutation($id: ID!) { revokeSession(id: $id) }", json!({"id": own})).await, "NOT_FOUND");
        a.ok(VIEWER, json!({})).await;
    }
);

db_test!(
    async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_session(backend) {
        let app = TestApp::spawn(backend).await;
        let browser = sign_up(&app, "ada@example.com").await;
        let old_refresh = browser.cookie("ew_refresh").expect("refresh cookie");
        // The access token expired (dropped): the refresh token renews it and rotates.
        browser.set_cookie("ew_session", None);
        browser.ok(VIEWER, json!({})).await;
        let new_refresh = browser.cookie("ew_refresh").expect("rotated");
        assert_ne!(new_refresh, old_refresh);
        assert!(browser.cookie("ew_session").is_some());

        // A second tab with the old refresh token inside the grace period still works.
        let tab = browser.clone_browser();
        tab.set_cookie("ew_session", None);
        tab.set_cookie("ew_refresh", Some(&old_refresh));
        tab.ok(VIEWER, json!({})).await;

        // After the grace period the old token is theft: the whole session is revoked.
        execute(&app, "UPDATE sessions SET rotated_at = '2020-01-01T00:00:00Z'").await;
        let thief = browser.clone_browser();
        thief.set_cookie("ew_session", None);
        thief.set_cookie("ew_refresh", Some(&old_refresh));
        assert_eq!(thief.err(VIEWER, json!({})).await, "UNAUTHENTICATED");
        browser.set_cookie("ew_session", None);
        assert_eq!(browser.err(VIEWER, json!({})).await, "UNAUTHENTICATED", "the session is gone for its owner too");
    }
);

db_test!(
    async fn cookies_need_the_csrf_header_and_bearer_tokens_do_not(backend) {
        let app = TestApp::spawn(backend).await;
        let browser = sign_up(&app, "ada@example.com").await;
        let (status, body) = browser.raw(VIEWER, json!({}), false).await;
        assert_eq!(status, 403);
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
        // A made-up token in both cookie and header (what a cookie-tossing attacker could do)
        // is refused: the token is bound to the session by the server's secret.
        let real = browser.cookie("ew_csrf").expect("csrf cookie");
        browser.set_cookie("ew_csrf", Some("guessed"));
        let (status, _) = browser.raw(VIEWER, json!({}), true).await;
        assert_eq!(status, 403);
        // Another session's token does not fit this one.
        let other = crate::harness::gql::sign_up(&app, "bob@example.com").await;
        browser.set_cookie("ew_csrf", other.cookie("ew_csrf").as_deref());
        let (status, _) = browser.raw(VIEWER, json!({}), true).await;
        assert_eq!(status, 403);
        browser.set_cookie("ew_csrf", Some(&real));
        browser.ok(VIEWER, json!({})).await;
        // A bad bearer token is a 401, never anonymous.
        let (status, body) = Gql::token(&app, "ewt_nope").raw(VIEWER, json!({}), false).await;
        assert_eq!(status, 401);
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
);

db_test!(
    async fn password_reset_works_once_and_ends_every_session(backend) {
        let app = TestApp::spawn(backend).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let anon = Gql::browser(&app);
        anon.ok("mutation { requestPasswordReset(email: \"ada@example.com\") }", json!({})).await;
        let mail = app.smtp.wait_for("ada@example.com", "Reset your", 1).await;
        let token = mail.token("reset-password");
        let reset = "mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }";
        assert_eq!(anon.err(reset, json!({"t": token, "p": "short"})).await, "VALIDATION");
        anon.ok(reset, json!({"t": token, "p": "a brand new password"})).await;
        assert_eq!(
            anon.err(reset, json!({"t": token, "p": "yet another password"})).await,
            "VALIDATION",
            "a reset link works once"
        );
        assert_eq!(ada.err(VIEWER, json!({})).await, "UNAUTHENTICATED", "sessions ended");
        assert_eq!(anon.err(LOGIN, json!({"e": "ada@example.com", "p": PASSWORD})).await, "UNAUTHENTICATED");
        login(&app, "ada@example.com", "a brand new password").await;

        // Expired reset link.
        anon.ok("mutation { requestPasswordReset(email: \"ada@example.com\") }", json!({})).await;
        let mail = app.smtp.wait_for("ada@example.com", "Reset your", 2).await;
        execute(&app, "UPDATE email_tokens SET expires_at = created_at").await;
        assert_eq!(
            anon.err(reset, json!({"t": mail.token("reset-password"), "p": "password number three"})).await,
            "VALIDATION"
        );
    }
);

db_test!(
    async fn change_password_and_email(backend) {
        let app = TestApp::spawn(backend).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let other = login(&app, "ada@example.com", PASSWORD).await;
        let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
        assert_eq!(ada.err(change, json!({"c": "wrong one!", "n": "new password 1"})).await, "VALIDATION");
        ada.ok(change, json!({"c": PASSWORD, "n": "new password 1"})).await;
        ada.ok(VIEWER, json!({})).await;
        assert_eq!(other.err(VIEWER, json!({})).await, "UNAUTHENTICATED", "other sessions end");

        let request = "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }";
        ada.ok(request, json!({"e": "ada@new.example.com", "p": "new password 1"})).await;
        app.smtp.wait_for("ada@example.com", "being changed", 1).await;
        let mail = app.smtp.wait_for("ada@new.example.com", "Confirm your new", 1).await;
        let confirm = "mutation($t: String!) { confirmEmailChange(token: $t) { email } }";
        let done = ada.ok(confirm, json!({"t": mail.token("confirm-email")})).await;
        assert_eq!(done["confirmEmailChange"]["email"], "ada@new.example.com");
        assert_eq!(ada.err(confirm, json!({"t": mail.token("confirm-email")})).await, "VALIDATION");
        login(&app, "ada@new.example.com", "new password 1").await;
    }
);

db_test!(
    async fn signup_policies(backend) {
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_SIGNUP", "closed")]).await;
        let anon = Gql::browser(&app);
        let policy = anon.ok("{ signupPolicy }", json!({})).await;
        assert_eq!(policy["signupPolicy"], "CLOSED");
        assert_eq!(
            anon.err("mutation { signUp(email: \"a@example.com\", password: \"correct horse battery\") { status } }", json!({})).await,
            "VALIDATION"
        );
        drop(app);
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_SIGNUP", "invite")]).await;
        let anon = Gql::browser(&app);
        assert_eq!(
            anon.err("mutation { signUp(email: \"a@example.com\", password: \"correct horse battery\") { status } }", json!({})).await,
            "VALIDATION"
        );
        app.run_pending_jobs().await;
        assert!(app.smtp.all().is_empty());
    }
);

db_test!(
    async fn self_hosted_sign_up_closes_after_the_first_user(backend) {
        // No ERRORWATCH_SIGNUP: the self-hosted default.
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_SIGNUP", "")]).await;
        let anon = Gql::browser(&app);
        let state = "{ signupPolicy firstUserBecomesAdmin }";
        assert_eq!(anon.ok(state, json!({})).await, json!({"signupPolicy": "OPEN", "firstUserBecomesAdmin": true}));
        let signup = "mutation($e: String!) { signUp(email: $e, password: \"correct horse battery\") { status } }";
        let sent = anon.ok(signup, json!({"e": "ada@example.com"})).await;
        assert_eq!(sent["signUp"]["status"], "VERIFICATION_SENT");
        assert_eq!(anon.ok(state, json!({})).await, json!({"signupPolicy": "INVITE", "firstUserBecomesAdmin": false}));
        // A stranger is refused, and gets no email.
        assert_eq!(Gql::browser(&app).err(signup, json!({"e": "mallory@example.com"})).await, "VALIDATION");
        // The first user, still unverified, may ask again for the link.
        let again = Gql::browser(&app).ok(signup, json!({"e": "ada@example.com"})).await;
        assert_eq!(again["signUp"]["status"], "VERIFICATION_SENT");
        app.run_pending_jobs().await;
        let mails = app.smtp.all();
        assert_eq!(mails.iter().map(|m| m.to.clone()).collect::<Vec<_>>(), vec![vec!["ada@example.com".to_owned()]; 2]);
        let ada = Gql::browser(&app);
        ada.ok("mutation($t: String!) { verifyEmail(token: $t) { email } }", json!({"t": mails[1].token("verify-email")}))
            .await;
        let viewer = ada.ok("{ viewer { user { isSuperuser } } }", json!({})).await;
        assert_eq!(viewer["viewer"]["user"]["isSuperuser"], true, "the first user administers the server");
        // An explicit setting still wins.
        drop(app);
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_SIGNUP", "open")]).await;
        sign_up(&app, "ada@example.com").await;
        sign_up(&app, "bob@example.com").await;
        assert_eq!(Gql::browser(&app).ok(state, json!({})).await["signupPolicy"], "OPEN");
    }
);

db_test!(
    async fn brute_force_is_limited_per_address(backend) {
        let app = TestApp::spawn(backend).await;
        sign_up(&app, "ada@example.com").await;
        let anon = Gql::browser(&app);
        let mut codes = Vec::new();
        for _ in 0..11 {
            codes.push(anon.err(LOGIN, json!({"e": "ada@example.com", "p": "guess guess"})).await);
        }
        assert_eq!(codes[..10], vec!["UNAUTHENTICATED".to_owned(); 10][..]);
        let body = anon.exec(LOGIN, json!({"e": "ada@example.com", "p": PASSWORD})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}");
        assert!(body["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retry hint") >= 1);
        // Another address from the same client still has its own budget (per-IP budget is 30).
        anon.err(LOGIN, json!({"e": "bob@example.com", "p": "guess guess"})).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
);

db_test!(
    async fn without_smtp_emails_go_to_files_so_sign_up_can_finish(backend) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mail_dir = dir.path().join("mail");
        let app = TestApp::spawn_with(
            backend,
            &[("ERRORWATCH_SMTP_URL", ""), ("ERRORWATCH_MAIL_DIR", mail_dir.to_str().expect("utf-8"))],
        )
        .await;
        let browser = Gql::browser(&app);
        browser
            .ok("mutation { signUp(email: \"ada@example.com\", password: \"correct horse battery\") { status } }", json!({}))
            .await;
        app.run_pending_jobs().await;
        let files: Vec<_> = std::fs::read_dir(&mail_dir).expect("mail dir").collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().expect("entry").path()).expect("eml");
        assert!(text.contains("To: ada@example.com"), "{text}");
        // A plain-text .eml: the link is copied from it as written (no quoted-printable `=3D`).
        assert!(text.contains("Content-Transfer-Encoding: 8bit") && !text.contains("=3D"), "{text}");
        let mail = crate::harness::smtp::Mail { to: vec![], data: text.clone() };
        browser
            .ok("mutation($t: String!) { verifyEmail(token: $t) { email } }", json!({"t": mail.token("verify-email")}))
            .await;
        assert!(app.smtp.all().is_empty());
    }
);
