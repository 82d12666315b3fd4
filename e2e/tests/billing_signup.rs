//! Billing in a real headless Chromium against the real binary in SaaS mode, with Stripe played
//! by the stand-in (`errorwatch_e2e::stripe`: its API, its hosted Checkout page that pays and
//! goes back while delivering the signed webhooks, and its Billing Portal that goes straight
//! back): a visitor signs up on a paid plan and ends on the onboarding with it active; an owner
//! upgrades, switches, opens the portal and downgrades on the billing page while an admin sees
//! no buttons; and without a Stripe key neither plans at sign-up nor buttons on the billing page.

use std::time::Instant;

use errorwatch_e2e::Server;
use errorwatch_e2e::browser::{Browser, Driver, PASSWORD, STEP};
use errorwatch_e2e::smtp::SmtpSink;
use errorwatch_e2e::stripe::StripeStandIn;
use fantoccini::Locator;
use serde_json::{Value, json};

/// A SaaS server whose Stripe is the stand-in (webhooks wired to it), mailing to `smtp`.
async fn saas_server(stripe: &StripeStandIn, smtp: &SmtpSink) -> Server {
    let env = stripe.env();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.push(("ERRORWATCH_SMTP_URL", &smtp.url));
    let server = Server::start(&vars).await;
    stripe.set_webhook(&format!("{}/stripe/webhook", server.base_url));
    server
}

/// The account's plan slug and status, as `Account.billing` has them.
async fn billing_of(browser: &Browser, account: &str) -> Value {
    let answer = browser
        .graphql_from_page(
            "query($a: ID!) { account(id: $a) { billing { plan { slug } status cancelAtPeriodEnd } } }",
            json!({"a": account}),
        )
        .await;
    let billing = &answer["data"]["account"]["billing"];
    json!([
        billing["plan"]["slug"],
        billing["status"],
        billing["cancelAtPeriodEnd"]
    ])
}

/// Waits until every GraphQL request the page made so far has been answered and drawn (two
/// animation frames later), so that something missing from the page is missing for good.
async fn wait_answers_drawn(browser: &Browser, at_least: usize) {
    let deadline = Instant::now() + STEP;
    loop {
        let done = browser
            .client
            .execute_async(
                r#"const [n, done] = arguments;
                   const answered = performance.getEntriesByType('resource')
                     .filter(e => e.name.endsWith('/graphql') && e.responseEnd > 0).length;
                   requestAnimationFrame(() => requestAnimationFrame(() => done(answered >= n)));"#,
                vec![json!(at_least)],
            )
            .await
            .expect("script");
        if done == json!(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page's GraphQL requests never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Whether anything on the page matches `css`.
async fn present(browser: &Browser, css: &str) -> bool {
    !browser
        .client
        .find_all(Locator::Css(css))
        .await
        .expect("find")
        .is_empty()
}

/// Sign-up offers the plans (Free selected); the visitor picks Pro, verifies the address by the
/// emailed link, and the onboarding remembers Pro: creating the account goes to the stand-in's
/// Checkout page, which pays, delivers the signed webhooks and sends the browser back to the
/// next onboarding step, where the page waits for the webhook's job and then shows Pro active.
/// The API agrees, and the billing page offers the other plans and the portal.
#[tokio::test]
async fn signing_up_on_a_paid_plan_goes_through_checkout_and_ends_on_the_onboarding_with_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stripe = StripeStandIn::start().await;
    let smtp = SmtpSink::start().await;
    let server = saas_server(&stripe, &smtp).await;
    let driver = Driver::start().await;
    let visitor = driver.browser(&server.base_url).await;

    let email = "founder@startup.example";
    visitor.open("/signup").await;
    let choice = visitor.wait_text("#plan-choice", "Business").await;
    assert!(
        choice.contains("Free · Free") && choice.contains("Pro · $80 / month"),
        "{choice}"
    );
    assert_eq!(
        visitor
            .wait("#plan-free")
            .await
            .prop("checked")
            .await
            .expect("checked"),
        Some("true".to_owned()),
        "Free is chosen unless the visitor picks another"
    );
    visitor.click("#plan-pro").await;
    visitor.fill("#signup-email", email).await;
    visitor.fill("#signup-password", PASSWORD).await;
    visitor.screenshot("signup-plans", true).await;
    visitor.click("#signup-form button[type=submit]").await;
    visitor.wait_text("#signup-sent", email).await;
    visitor
        .follow(&smtp.wait_for(email, "Verify", 1).await, "verify-email")
        .await;

    // The onboarding remembers Pro; the account is created, then paid for on Checkout.
    visitor.wait_path("/onboarding").await;
    let pro = visitor.wait("#plan-pro").await;
    let deadline = Instant::now() + STEP;
    while pro.prop("checked").await.expect("checked").as_deref() != Some("true") {
        assert!(
            Instant::now() < deadline,
            "Pro is not chosen on the onboarding"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    visitor
        .wait_text("#account-form button[type=submit]", "and pay")
        .await;
    visitor.fill("#account-name", "Startup").await;
    visitor.click("#account-form button[type=submit]").await;

    // Back from the stand-in's Checkout page on the next onboarding step, Pro active.
    let path = visitor.wait_path("/acc_").await;
    assert!(
        path.contains("/projects/new?checkout=success&plan=pro"),
        "{path}"
    );
    let account = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .expect("account id")
        .to_owned();
    visitor
        .wait("#checkout-status[data-state=active][data-plan=pro]")
        .await;
    let status = visitor.wait_text("#checkout-status", "Pro").await;
    assert!(status.contains("Your plan: Pro (Active)"), "{status}");
    visitor.wait("#project-name").await;
    visitor.screenshot("onboarding-after-checkout", true).await;
    assert_eq!(
        billing_of(&visitor, &account).await,
        json!(["pro", "active", false])
    );
    let requests = stripe.requests();
    assert!(
        requests.iter().any(|r| r == "POST /v1/checkout/sessions"),
        "{requests:?}"
    );
    assert_eq!(stripe.customer_count(), 1);

    // The billing page: Pro, and the other plans and the portal for the owner.
    visitor.open(&format!("/{account}/settings/billing")).await;
    visitor.wait_text("#plan-name", "Pro").await;
    visitor.wait_text("#plan-status", "Active").await;
    visitor
        .wait_text("#plan-choose-business", "Upgrade to Business")
        .await;
    visitor
        .wait_text("#plan-choose-starter", "Switch to Starter")
        .await;
    visitor
        .wait_text("#plan-choose-free", "Downgrade to Free")
        .await;
    visitor.wait_text("#billing-portal", "Manage billing").await;
    visitor.client.clone().close().await.expect("close");
}

/// An owner on Free upgrades to Pro (asked first, declined once; then Checkout on the stand-in
/// and back), switches to Business at once (`choosePlan`), goes to the Billing Portal and comes
/// back, downgrades to Free (Business until the period ends, which the page says, with a
/// "Keep" button), and keeps Business after all. An admin of the account sees the plan but no
/// buttons.
#[tokio::test]
async fn an_owner_changes_plans_and_goes_through_the_billing_portal_on_the_billing_page() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stripe = StripeStandIn::start().await;
    let smtp = SmtpSink::start().await;
    let server = saas_server(&stripe, &smtp).await;
    server.create_project("owner");
    let driver = Driver::start().await;
    let owner = driver.browser(&server.base_url).await;
    owner.open("/login").await;
    owner
        .log_in("owner@e2e.example.com", "an e2e password long enough")
        .await;
    let account = owner.wait_account_page().await;
    let billing_page = format!("/{account}/settings/billing");
    owner.open(&billing_page).await;
    owner.wait_text("#plan-name", "Free").await;
    owner.wait_text("#plan-status", "No subscription").await;
    assert!(
        !present(&owner, "#billing-portal").await,
        "no portal without a subscription"
    );

    // Upgrading asks first; declining changes nothing.
    owner.click("#plan-choose-pro").await;
    let question = owner
        .wait_text("#plan-confirm", "Upgrade to Pro for $80 / month?")
        .await;
    assert!(question.contains("Stripe's checkout page"), "{question}");
    owner.screenshot("billing-confirm-upgrade", false).await;
    owner.click("#plan-confirm-no").await;
    owner.wait_gone("#plan-confirm").await;
    assert_eq!(stripe.customer_count(), 0, "nothing reached Stripe");

    // Confirmed: Checkout on the stand-in, back on the billing page once Pro applies.
    owner.click("#plan-choose-pro").await;
    owner.click("#plan-confirm-yes").await;
    owner
        .wait_path(&format!("{billing_page}?checkout=success&plan=pro"))
        .await;
    owner
        .wait("#checkout-status[data-state=active][data-plan=pro]")
        .await;
    owner.wait_text("#plan-name", "Pro").await;
    owner.wait_text("#plan-status", "Active").await;
    assert_eq!(
        billing_of(&owner, &account).await,
        json!(["pro", "active", false])
    );
    let subscription = stripe
        .subscriptions()
        .into_iter()
        .next()
        .expect("a subscription");

    // Business: the live subscription's price changes at once, no Checkout.
    owner.click("#plan-choose-business").await;
    owner
        .wait_text(
            "#plan-confirm",
            "Switch from Pro to Business ($300 / month) now?",
        )
        .await;
    owner.click("#plan-confirm-yes").await;
    owner
        .wait_text("#plan-changed", "Done: you are on Business now.")
        .await;
    owner.wait_text("#plan-name", "Business").await;
    assert_eq!(
        stripe.subscription(&subscription.id).price,
        "price_business"
    );
    assert_eq!(stripe.subscriptions_of(&subscription.customer).len(), 1);

    // The Billing Portal, and back.
    owner.mark_page().await;
    owner.click("#billing-portal").await;
    let deadline = Instant::now() + STEP;
    while owner.js("return window.__noReload === true;").await == json!(true) {
        assert!(Instant::now() < deadline, "the portal never opened");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(owner.wait_path(&billing_page).await, billing_page);
    owner.wait_text("#plan-name", "Business").await;
    let requests = stripe.requests();
    assert!(
        requests
            .iter()
            .any(|r| r == "POST /v1/billing_portal/sessions"),
        "{requests:?}"
    );

    // Free: Business stays until the period ends, and can be kept.
    owner.click("#plan-choose-free").await;
    owner.wait_text("#plan-confirm", "Downgrade to Free?").await;
    owner.click("#plan-confirm-yes").await;
    owner
        .wait_text("#plan-changed", "Business is cancelled")
        .await;
    owner.wait_text("#plan-ends", "Business ends on").await;
    owner.wait_text("#plan-name", "Business").await;
    assert!(stripe.subscription(&subscription.id).cancel_at_period_end);
    assert_eq!(
        billing_of(&owner, &account).await,
        json!(["business", "active", true])
    );
    owner.screenshot("billing-cancelling", true).await;
    owner.click("#plan-choose-business").await;
    owner
        .wait_text("#plan-confirm", "Keep Business after")
        .await;
    owner.click("#plan-confirm-yes").await;
    owner.wait_text("#plan-changed", "Business continues").await;
    owner.wait_gone("#plan-ends").await;
    assert!(!stripe.subscription(&subscription.id).cancel_at_period_end);

    // An admin sees the plan, not the buttons (only owners change plans).
    let admin_email = "admin@e2e.example.com";
    server.admin(
        &["user", "create", "--email", admin_email, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    let invited = owner
        .graphql_from_page(
            "mutation($a: ID!, $e: String!) { inviteMember(accountId: $a, email: $e, role: ADMIN) { id } }",
            json!({"a": account, "e": admin_email}),
        )
        .await;
    assert!(invited["errors"].is_null(), "{invited}");
    let admin = driver.browser(&server.base_url).await;
    admin.open("/login").await;
    admin.log_in(admin_email, PASSWORD).await;
    admin.wait_path("/onboarding").await;
    admin
        .follow(
            &smtp.wait_for(admin_email, "invited", 1).await,
            "accept-invite",
        )
        .await;
    admin.click("#accept-invite").await;
    admin.wait_path(&format!("/{account}/issues")).await;
    admin.open(&billing_page).await;
    admin.wait_text("#plan-name", "Business").await;
    assert!(
        !present(&admin, "#plan-actions").await,
        "an admin gets no plan buttons"
    );
    admin.client.clone().close().await.expect("close admin");
    owner.client.clone().close().await.expect("close owner");
}

/// Without a Stripe key (self-hosted) the sign-up form offers no plans and the billing page has
/// no buttons, not even for the owner.
#[tokio::test]
async fn without_billing_sign_up_offers_no_plans_and_the_billing_page_no_buttons() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    server.create_project("selfhost");
    let driver = Driver::start().await;
    let browser = driver.browser(&server.base_url).await;
    browser.open("/signup").await;
    browser.wait("#signup-form").await;
    wait_answers_drawn(&browser, 1).await;
    assert!(
        !present(&browser, "#plan-choice").await,
        "no plans at sign-up without billing"
    );
    browser.open("/login").await;
    browser
        .log_in("selfhost@e2e.example.com", "an e2e password long enough")
        .await;
    let account = browser.wait_account_page().await;
    browser.open(&format!("/{account}/settings/billing")).await;
    browser.wait("#plan-name").await;
    assert!(
        !present(&browser, "#plan-actions").await,
        "no plan buttons without billing"
    );
    assert!(!present(&browser, "#billing-portal").await);
    browser.client.clone().close().await.expect("close");
}
