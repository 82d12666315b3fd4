//! Stripe billing against the stand-in (`harness::stripe`), on both databases: Checkout and the
//! Billing Portal through GraphQL (owners only, other accounts NOT_FOUND, BILLING_DISABLED where
//! billing is off), webhooks signed with Stripe's scheme (each handled type delivered twice and
//! out of order ends like one clean delivery; bad signatures and stale timestamps change
//! nothing; one account's events never touch another), the reconcile job, the grace period,
//! and ingest following a plan change within the quota refresh.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use errorwatch_core::billing::stripe::Stripe;
use errorwatch_core::db::Pool;
use errorwatch_core::jobs::billing::{ApplyStripeEvent, ReconcileBilling};
use serde_json::{Value, json};

use crate::harness::gql::{Gql, user_with_account};
use crate::harness::stripe::{self as stand_in, StripeStandIn, Sub};
use crate::harness::{Backend, TestApp, db_test};

const START: &str = "mutation($a: ID!, $p: String!, $s: String, $c: String) { startCheckout(accountId: $a, plan: $p, successUrl: $s, cancelUrl: $c) { url } }";
const CHOOSE: &str = "mutation($a: ID!, $p: String!) { choosePlan(accountId: $a, plan: $p) { checkoutUrl plan cancelAtPeriodEnd } }";
const PORTAL: &str =
    "mutation($a: ID!, $r: String) { openBillingPortal(accountId: $a, returnUrl: $r) { url } }";
const BILLING: &str = "query($a: ID!) { serverInfo { billingEnabled } account(id: $a) { billing { plan { slug } status cancelAtPeriodEnd } } }";

/// What the dashboard reads: whether billing is on, and the account's plan, status and
/// pending cancellation.
async fn billing_state(member: &Gql, account: &str) -> Value {
    let data = member.ok(BILLING, json!({"a": account})).await;
    let billing = &data["account"]["billing"];
    json!([
        data["serverInfo"]["billingEnabled"],
        billing["plan"]["slug"],
        billing["status"],
        billing["cancelAtPeriodEnd"]
    ])
}

/// An app in SaaS mode pointed at a fresh stand-in, webhooks wired.
async fn billing_app(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, StripeStandIn) {
    let stripe = StripeStandIn::start().await;
    let env = stripe.env();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.push(("ERRORWATCH_QUOTA_REFRESH_MS", "100"));
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &vars).await;
    stripe.set_webhook(&app.url("/stripe/webhook"));
    (app, stripe)
}

/// The number in a global id (`acc_12` → 12).
fn num(id: &str) -> i64 {
    id.split_once('_')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("{id} is no global id"))
}

/// An account's subscription row, with its plan's slug.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    plan: String,
    status: String,
    customer: Option<String>,
    subscription: Option<String>,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    cancel_at_period_end: bool,
    past_due: bool,
}

type RowTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    bool,
    bool,
);

async fn row(app: &TestApp, account: i64) -> Option<Row> {
    let sql = format!(
        "SELECT p.slug, s.status, s.stripe_customer_id, s.stripe_subscription_id, \
         s.current_period_start, s.current_period_end, s.cancel_at_period_end, \
         s.past_due_since IS NOT NULL \
         FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.account_id = {account}"
    );
    let found: Option<RowTuple> = match app.db.pool() {
        Pool::Sqlite(pool) => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_optional(pool)
                .await
        }
        Pool::Postgres(pool) => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_optional(pool)
                .await
        }
    }
    .expect("subscription row");
    found.map(|r| Row {
        plan: r.0,
        status: r.1,
        customer: r.2,
        subscription: r.3,
        period_start: r.4,
        period_end: r.5,
        cancel_at_period_end: r.6,
        past_due: r.7,
    })
}

/// What must match between two accounts that went through the same story.
fn shape(row: &Row) -> (String, String, bool, bool) {
    (
        row.plan.clone(),
        row.status.clone(),
        row.cancel_at_period_end,
        row.past_due,
    )
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("time")
}

/// The row mirrors the stand-in's subscription.
async fn assert_mirrors(app: &TestApp, account: i64, sub: &Sub, plan: &str) {
    let row = row(app, account).await.expect("row");
    assert_eq!(row.plan, plan, "{row:?}");
    assert_eq!(row.status, sub.status);
    assert_eq!(row.subscription.as_deref(), Some(sub.id.as_str()));
    assert_eq!(row.customer.as_deref(), Some(sub.customer.as_str()));
    assert_eq!(
        (row.period_start, row.period_end),
        (at(sub.period_start), at(sub.period_end))
    );
    assert_eq!(row.cancel_at_period_end, sub.cancel_at_period_end);
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    match app.db.pool() {
        Pool::Sqlite(pool) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(pool)
                .await
        }
        Pool::Postgres(pool) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(pool)
                .await
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Everything the table holds, for "nothing changed" checks.
async fn all_rows(app: &TestApp) -> Vec<Option<Row>> {
    let ids: Vec<i64> = match app.db.pool() {
        Pool::Sqlite(pool) => {
            sqlx::query_scalar("SELECT account_id FROM subscriptions ORDER BY account_id")
                .fetch_all(pool)
                .await
        }
        Pool::Postgres(pool) => {
            sqlx::query_scalar("SELECT account_id FROM subscriptions ORDER BY account_id")
                .fetch_all(pool)
                .await
        }
    }
    .expect("ids");
    let mut rows = Vec::new();
    for id in ids {
        rows.push(row(app, id).await);
    }
    rows
}

/// Starts Checkout for `plan` as `owner`, pays it on the stand-in (webhooks delivered) and
/// waits for the jobs; returns the new subscription.
async fn subscribe(
    app: &TestApp,
    stripe: &StripeStandIn,
    owner: &Gql,
    account: &str,
    plan: &str,
) -> Sub {
    let url = owner.ok(START, json!({"a": account, "p": plan})).await["startCheckout"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let session = stripe.session_id(&url);
    stripe.complete_checkout(&session).await;
    app.run_pending_jobs().await;
    let customer = row(app, num(account))
        .await
        .and_then(|r| r.customer)
        .expect("customer linked");
    stripe
        .subscriptions_of(&customer)
        .into_iter()
        .find(|s| s.status == "active")
        .expect("active subscription")
}

/// Starts Checkout for Pro and pays it on the stand-in; returns the events, not delivered.
async fn pay_later(stripe: &StripeStandIn, owner: &Gql, account: &str) -> Vec<Value> {
    let url = owner.ok(START, json!({"a": account, "p": "pro"})).await["startCheckout"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    stripe.pay_checkout(&stripe.session_id(&url))
}

/// Runs the jobs and asserts that accounts `a` and `b` are in the same state; returns A's row.
async fn same(app: &TestApp, a: &str, b: &str, step: &str) -> Row {
    app.run_pending_jobs().await;
    let row_a = row(app, num(a)).await.expect("a");
    let row_b = row(app, num(b)).await.expect("b");
    assert_eq!(
        shape(&row_a),
        shape(&row_b),
        "{step}: {row_a:?} vs {row_b:?}"
    );
    row_a
}

/// Sends one error event to `target`'s store endpoint; returns the status and the
/// `X-Sentry-Rate-Limits` header.
async fn send_error(app: &TestApp, target: &crate::ingest::Target) -> (u16, Option<String>) {
    let response = app
        .client
        .post(app.url(&format!(
            "/api/{}/store/?sentry_key={}",
            target.project_id, target.key
        )))
        .body(r#"{"message":"billing","level":"error"}"#)
        .send()
        .await
        .expect("request");
    let limits = response
        .headers()
        .get("x-sentry-rate-limits")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), limits)
}

/// Delivers `event` and expects 200.
async fn deliver(stripe: &StripeStandIn, event: &Value) {
    assert_eq!(stripe.deliver(event).await, 200, "{}", event["type"]);
}

db_test!(
    async fn checkout_and_portal_return_the_stand_in_s_pages_and_reuse_one_customer(backend) {
        let (app, stripe) = billing_app(backend, &[]).await;
        let (owner, acme) = user_with_account(&app, "owner@acme.test", "Acme").await;
        let data = owner.ok(START, json!({"a": acme, "p": "pro"})).await;
        let url = data["startCheckout"]["url"].as_str().expect("url").to_owned();
        assert!(url.starts_with(&format!("{}checkout/cs_test_", stripe.url)), "{url}");
        // The account got a customer (its id in the metadata), kept in an `incomplete` row on
        // the free plan until Stripe says otherwise.
        let before = row(&app, num(&acme)).await.expect("row");
        assert_eq!((before.plan.as_str(), before.status.as_str()), ("free", "incomplete"));
        // The dashboard sees no subscription (an unpaid checkout, e.g. cancelled, is none).
        assert_eq!(billing_state(&owner, &acme).await, json!([true, "free", "free", false]));
        let customer = before.customer.clone().expect("customer");
        // A second checkout and the portal reuse that customer.
        let public = app.config.http.public_url.as_str().trim_end_matches('/').to_owned();
        let success = format!("{public}/onboarding?session={{CHECKOUT_SESSION_ID}}");
        let again = owner
            .ok(START, json!({"a": acme, "p": "starter", "s": success, "c": format!("{public}/onboarding")}))
            .await;
        assert!(again["startCheckout"]["url"].as_str().expect("url").starts_with(&stripe.url));
        let portal = owner.ok(PORTAL, json!({"a": acme})).await;
        let portal_url = portal["openBillingPortal"]["url"].as_str().expect("url");
        assert!(portal_url.starts_with(&format!("{}portal/bps_", stripe.url)), "{portal_url}");
        assert_eq!(stripe.customer_count(), 1);
        assert_eq!(row(&app, num(&acme)).await.expect("row").customer, Some(customer));
        // The hosted page goes back to our success URL with the session id filled in.
        let session = stripe.session_id(again["startCheckout"]["url"].as_str().expect("url"));
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = no_redirects
            .get(format!("{}checkout/{session}", stripe.url))
            .send()
            .await
            .expect("checkout page");
        assert_eq!(page.status().as_u16(), 303);
        assert_eq!(
            page.headers()["location"].to_str().expect("location"),
            format!("{public}/onboarding?session={session}")
        );
        app.run_pending_jobs().await;
        assert_eq!(row(&app, num(&acme)).await.expect("row").plan, "starter");
        // Inputs are checked: foreign return URLs, unknown or free plans, a second subscription.
        for (variables, code) in [
            (json!({"a": acme, "p": "pro", "s": "https://evil.test/"}), "VALIDATION"),
            (json!({"a": acme, "p": "platinum"}), "VALIDATION"),
            (json!({"a": acme, "p": "free"}), "VALIDATION"),
            (json!({"a": acme, "p": "pro"}), "VALIDATION"),
        ] {
            assert_eq!(owner.err(START, variables.clone()).await, code, "{variables}");
        }
        assert_eq!(
            owner.err(PORTAL, json!({"a": acme, "r": "https://evil.test/"})).await,
            "VALIDATION"
        );
    }
);

db_test!(
    async fn billing_mutations_are_for_the_account_s_owners_only(backend) {
        let (app, _stripe) = billing_app(backend, &[]).await;
        let (owner, acme) = user_with_account(&app, "owner@acme.test", "Acme").await;
        let (_other_owner, globex) = user_with_account(&app, "owner@globex.test", "Globex").await;
        let mut people = Vec::new();
        for role in ["ADMIN", "MEMBER", "VIEWER"] {
            let email = format!("{}@acme.test", role.to_lowercase());
            people.push(crate::accounts::join(&app, &owner, &acme, &email, role).await);
        }
        for person in &people {
            assert_eq!(person.err(START, json!({"a": acme, "p": "pro"})).await, "FORBIDDEN");
            assert_eq!(person.err(CHOOSE, json!({"a": acme, "p": "pro"})).await, "FORBIDDEN");
            assert_eq!(person.err(PORTAL, json!({"a": acme})).await, "FORBIDDEN");
        }
        // Acme's owner and members cannot reach Globex at all.
        for person in people.iter().chain([&owner]) {
            assert_eq!(person.err(START, json!({"a": globex, "p": "pro"})).await, "NOT_FOUND");
            assert_eq!(person.err(CHOOSE, json!({"a": globex, "p": "free"})).await, "NOT_FOUND");
            assert_eq!(person.err(PORTAL, json!({"a": globex})).await, "NOT_FOUND");
        }
        let anonymous = Gql::browser(&app);
        assert_eq!(
            anonymous.err(START, json!({"a": acme, "p": "pro"})).await,
            "UNAUTHENTICATED"
        );
        assert_eq!(count(&app, "SELECT COUNT(*) FROM subscriptions").await, 0);
    }
);

db_test!(
    async fn without_stripe_billing_is_off_and_the_webhook_does_not_exist(backend) {
        for saas in [false, true] {
            let extra: &[(&str, &str)] = if saas { &[("ERRORWATCH_MODE", "saas")] } else { &[] };
            let app = TestApp::spawn_with(backend, extra).await;
            let (owner, acme) = user_with_account(&app, "owner@acme.test", "Acme").await;
            assert_eq!(billing_state(&owner, &acme).await[0], false, "the dashboard hides billing");
            for (mutation, variables) in [
                (START, json!({"a": acme, "p": "pro"})),
                (CHOOSE, json!({"a": acme, "p": "free"})),
                (PORTAL, json!({"a": acme})),
            ] {
                assert_eq!(owner.err(mutation, variables).await, "BILLING_DISABLED");
            }
            let payload = br#"{"id":"evt_1","type":"invoice.paid","created":1}"#.to_vec();
            let response = app
                .client
                .post(app.url("/stripe/webhook"))
                .header(
                    "stripe-signature",
                    stand_in::signature(stand_in::WEBHOOK_SECRET, Utc::now().timestamp(), &payload),
                )
                .body(payload)
                .send()
                .await
                .expect("webhook");
            assert_eq!(response.status().as_u16(), 404);
            assert_eq!(count(&app, "SELECT COUNT(*) FROM stripe_events").await, 0);
        }
    }
);

db_test!(
    async fn after_checkout_for_pro_ingest_uses_pro_s_quota_and_key_tier(backend) {
        let mut plans = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(
            &mut plans,
            br#"[{"slug":"free","name":"Free","retention_days":30,"quotas":{"error":2},
                  "key_rate_per_minute":3,"key_burst":3},
                 {"slug":"pro","name":"Pro","price_cents":8000,"stripe_price_id":"price_pro",
                  "retention_days":90,"quotas":{"error":1000},"key_rate_per_minute":1000}]"#,
        )
        .expect("write");
        let path = plans.path().to_str().expect("utf-8").to_owned();
        let (app, stripe) = billing_app(backend, &[("ERRORWATCH_PLANS_FILE", &path)]).await;
        let acme = crate::ingest::create_project(&app, "Acme").await;
        // Free: two errors, then the quota; the fourth request is past the key's tier too.
        assert_eq!(send_error(&app, &acme).await.0, 200);
        assert_eq!(send_error(&app, &acme).await.0, 200);
        let (status, limits) = send_error(&app, &acme).await;
        assert_eq!(status, 429);
        assert!(limits.expect("header").ends_with(":organization:usage_exceeded"));
        let (status, limits) = send_error(&app, &acme).await;
        assert_eq!(status, 429);
        assert!(limits.expect("header").ends_with("::key:key_quota"));
        // Pay for Pro on the stand-in; the webhook's job stores it.
        let config = app.config.billing.stripe.as_ref().expect("stripe on");
        let client =
            Stripe::new(config, "free", &app.config.http.public_url).expect("client");
        let url = errorwatch_core::service::subscription::start_checkout(
            &acme.scope,
            Some(&client),
            &app.config.http.public_url,
            "pro",
            None,
            None,
        )
        .await
        .expect("checkout");
        stripe.complete_checkout(&stripe.session_id(&url)).await;
        app.run_pending_jobs().await;
        let stored = row(&app, acme.scope.account_id().0).await.expect("row");
        assert_eq!((stored.plan.as_str(), stored.status.as_str()), ("pro", "active"));
        // Ingest follows within the quota refresh (100 ms here).
        let applied = Instant::now();
        while send_error(&app, &acme).await.0 != 200 {
            assert!(applied.elapsed() < Duration::from_secs(10), "ingest still on Free");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(applied.elapsed() < Duration::from_secs(5), "{:?}", applied.elapsed());
        for _ in 0..10 {
            assert_eq!(send_error(&app, &acme).await, (200, None), "Pro's quota and key tier apply");
        }
    }
);

db_test!(
    async fn every_handled_event_twice_and_out_of_order_ends_like_one_clean_delivery(backend) {
        let (app, stripe) = billing_app(backend, &[]).await;
        let (owner_a, a) = user_with_account(&app, "owner@clean.test", "Clean").await;
        let (owner_b, b) = user_with_account(&app, "owner@messy.test", "Messy").await;
        // 1. checkout.session.completed + customer.subscription.created.
        let events_a = pay_later(&stripe, &owner_a, &a).await;
        let events_b = pay_later(&stripe, &owner_b, &b).await;
        for event in &events_a {
            deliver(&stripe, event).await;
        }
        for event in events_b.iter().rev().chain(events_b.iter()).chain(events_b.iter().rev()) {
            deliver(&stripe, event).await;
        }
        let row_a = same(&app, &a, &b, "checkout").await;
        assert_eq!((row_a.plan.as_str(), row_a.status.as_str()), ("pro", "active"));
        let sub_a = row_a.subscription.clone().expect("sub");
        let sub_b = row(&app, num(&b)).await.and_then(|r| r.subscription).expect("sub");
        assert_mirrors(&app, num(&a), &stripe.subscription(&sub_a), "pro").await;
        let stale_b = stripe.event_at(
            "customer.subscription.updated",
            stripe.subscription(&sub_b).json(),
            Utc::now().timestamp() - 60,
        );
        // 2. customer.subscription.updated: moved to Business (e.g. in the portal); B also gets
        // a late event carrying the old state.
        let upgrade = |s: &mut Sub| s.price = "price_business".to_owned();
        let updated_a = stripe.event("customer.subscription.updated", stripe.update(&sub_a, upgrade));
        let updated_b = stripe.event("customer.subscription.updated", stripe.update(&sub_b, upgrade));
        deliver(&stripe, &updated_a).await;
        for event in [&updated_b, &updated_b, &stale_b] {
            deliver(&stripe, event).await;
        }
        assert_eq!(same(&app, &a, &b, "upgrade").await.plan, "business");
        // 3. invoice.payment_failed: past due, still on Business during the grace period.
        let fail = |s: &mut Sub| s.status = "past_due".to_owned();
        stripe.update(&sub_a, fail);
        stripe.update(&sub_b, fail);
        let failed_a = stripe.event("invoice.payment_failed", stripe.invoice(&stripe.subscription(&sub_a), false));
        let failed_b = stripe.event("invoice.payment_failed", stripe.invoice(&stripe.subscription(&sub_b), false));
        deliver(&stripe, &failed_a).await;
        deliver(&stripe, &failed_b).await;
        deliver(&stripe, &failed_b).await;
        let row_a = same(&app, &a, &b, "payment failed").await;
        assert_eq!((row_a.plan.as_str(), row_a.status.as_str(), row_a.past_due), ("business", "past_due", true));
        // 4. invoice.paid: renewed; B gets it first, then a late copy of the failure.
        let renew = |s: &mut Sub| {
            s.status = "active".to_owned();
            s.period_start = s.period_end;
            s.period_end += 30 * 86_400;
        };
        stripe.update(&sub_a, renew);
        stripe.update(&sub_b, renew);
        let paid_a = stripe.event("invoice.paid", stripe.invoice(&stripe.subscription(&sub_a), true));
        let paid_b = stripe.event("invoice.paid", stripe.invoice(&stripe.subscription(&sub_b), true));
        let late_failure_b = stripe.event_at(
            "invoice.payment_failed",
            failed_b["data"]["object"].clone(),
            failed_b["created"].as_i64().expect("created"),
        );
        deliver(&stripe, &paid_a).await;
        for event in [&paid_b, &late_failure_b, &paid_b] {
            deliver(&stripe, event).await;
        }
        let row_a = same(&app, &a, &b, "paid").await;
        assert_eq!((row_a.status.as_str(), row_a.past_due), ("active", false));
        assert_mirrors(&app, num(&a), &stripe.subscription(&sub_a), "business").await;
        assert_mirrors(&app, num(&b), &stripe.subscription(&sub_b), "business").await;
        // 5. customer.subscription.updated: cancel at the period's end.
        let cancel = |s: &mut Sub| s.cancel_at_period_end = true;
        let canceling_a = stripe.event("customer.subscription.updated", stripe.update(&sub_a, cancel));
        let canceling_b = stripe.event("customer.subscription.updated", stripe.update(&sub_b, cancel));
        deliver(&stripe, &canceling_a).await;
        deliver(&stripe, &canceling_b).await;
        deliver(&stripe, &canceling_b).await;
        assert!(same(&app, &a, &b, "cancel at period end").await.cancel_at_period_end);
        // 6. customer.subscription.deleted: the period ended; B also gets the step-5 event late.
        let end = |s: &mut Sub| s.status = "canceled".to_owned();
        let deleted_a = stripe.event("customer.subscription.deleted", stripe.update(&sub_a, end));
        let deleted_b = stripe.event("customer.subscription.deleted", stripe.update(&sub_b, end));
        deliver(&stripe, &deleted_a).await;
        let late_b = stripe.event_at(
            "customer.subscription.updated",
            canceling_b["data"]["object"].clone(),
            canceling_b["created"].as_i64().expect("created"),
        );
        for event in [&deleted_b, &late_b, &deleted_b] {
            deliver(&stripe, event).await;
        }
        let row_a = same(&app, &a, &b, "deleted").await;
        assert_eq!((row_a.plan.as_str(), row_a.status.as_str()), ("free", "canceled"));
        // Every distinct event is stored once and processed; redeliveries added nothing.
        let distinct = 2 + 1 + 1 + 1 + 1 + 1;
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM stripe_events WHERE processed_at IS NOT NULL").await,
            2 * distinct + 3
        );
        assert_eq!(count(&app, "SELECT COUNT(*) FROM stripe_events").await, 2 * distinct + 3);
        // Running an event's job again (a retry) changes nothing either.
        let before = all_rows(&app).await;
        let id = deleted_b["id"].as_str().expect("id").to_owned();
        app.queue.enqueue(&ApplyStripeEvent { event_id: id.clone() }).await.expect("enqueue");
        app.queue.enqueue(&ApplyStripeEvent { event_id: id }).await.expect("enqueue");
        app.run_pending_jobs().await;
        assert_eq!(all_rows(&app).await, before);
    }
);

db_test!(
    async fn bad_signatures_and_stale_timestamps_are_refused_and_change_nothing(backend) {
        let (app, stripe) = billing_app(backend, &[]).await;
        let (owner, acme) = user_with_account(&app, "owner@acme.test", "Acme").await;
        let url = owner.ok(START, json!({"a": acme, "p": "pro"})).await["startCheckout"]["url"]
            .as_str()
            .expect("url")
            .to_owned();
        let events = stripe.pay_checkout(&stripe.session_id(&url));
        let before = all_rows(&app).await;
        let payload = serde_json::to_vec(&events[0]).expect("json");
        let now = Utc::now().timestamp();
        let good = stand_in::signature(stand_in::WEBHOOK_SECRET, now, &payload);
        let v1 = good.split_once(",v1=").expect("v1").1.to_owned();
        let mut tampered = payload.clone();
        tampered.extend_from_slice(b" ");
        for (body, header) in [
            (payload.clone(), None),
            (payload.clone(), Some(stand_in::signature("whsec_wrong", now, &payload))),
            (payload.clone(), Some(format!("t={now},v1={}", "0".repeat(64)))),
            (tampered, Some(good.clone())),
            (payload.clone(), Some(format!("t={},v1={v1}", now + 1))),
            (payload.clone(), Some(stand_in::signature(stand_in::WEBHOOK_SECRET, now - 301, &payload))),
            (payload.clone(), Some(stand_in::signature(stand_in::WEBHOOK_SECRET, now - 3_600, &payload))),
            // Well past the tolerance: the server reads its clock a moment after `now`, so
            // `now + 301` is exactly at the edge once a second has ticked (the edge itself is
            // the unit test's, with a fixed clock).
            (payload.clone(), Some(stand_in::signature(stand_in::WEBHOOK_SECRET, now + 360, &payload))),
            (b"not json".to_vec(), Some(stand_in::signature(stand_in::WEBHOOK_SECRET, now, b"not json"))),
        ] {
            let status = stripe.post_webhook(body, header.as_deref()).await;
            assert_eq!(status, 400, "{header:?}");
        }
        app.run_pending_jobs().await;
        assert_eq!(count(&app, "SELECT COUNT(*) FROM stripe_events").await, 0);
        assert_eq!(all_rows(&app).await, before);
        // The same event, signed right, goes through.
        assert_eq!(stripe.post_webhook(payload, Some(&good)).await, 200);
        app.run_pending_jobs().await;
        assert_eq!(row(&app, num(&acme)).await.expect("row").plan, "pro");
        // Unhandled types are stored (processed, nothing to do) and answered 200.
        let other = stripe.event("customer.updated", json!({"id": "cus_x", "object": "customer"}));
        deliver(&stripe, &other).await;
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM stripe_events WHERE event_type = 'customer.updated' AND processed_at IS NOT NULL").await,
            1
        );
    }
);

db_test!(
    async fn one_account_s_events_never_change_another_account(backend) {
        let (app, stripe) = billing_app(backend, &[]).await;
        let (owner_a, a) = user_with_account(&app, "owner@a.test", "A").await;
        let (owner_b, b) = user_with_account(&app, "owner@b.test", "B").await;
        let sub_a = subscribe(&app, &stripe, &owner_a, &a, "pro").await;
        let sub_b = subscribe(&app, &stripe, &owner_b, &b, "starter").await;
        let b_before = row(&app, num(&b)).await;
        // A's upgrade reaches A only.
        let upgraded = stripe.update(&sub_a.id, |s| s.price = "price_business".to_owned());
        deliver(&stripe, &stripe.event("customer.subscription.updated", upgraded)).await;
        app.run_pending_jobs().await;
        assert_eq!(row(&app, num(&a)).await.expect("a").plan, "business");
        assert_eq!(row(&app, num(&b)).await, b_before);
        // A checkout naming B but paid by A's customer is not applied to B.
        let a_before = row(&app, num(&a)).await;
        let forged = stripe.event(
            "checkout.session.completed",
            json!({"id": "cs_forged", "object": "checkout.session", "mode": "subscription",
                   "customer": sub_a.customer, "client_reference_id": num(&b).to_string(),
                   "subscription": sub_a.id}),
        );
        deliver(&stripe, &forged).await;
        // A customer made outside ErrorWatch that claims B in its metadata does not replace
        // B's customer.
        let stranger = stripe.add_customer(&[("account_id", &num(&b).to_string())]);
        let strange_sub = json!({"id": "sub_stranger", "object": "subscription", "customer": stranger});
        deliver(&stripe, &stripe.event("customer.subscription.created", strange_sub)).await;
        app.run_pending_jobs().await;
        assert_eq!(row(&app, num(&a)).await, a_before);
        assert_eq!(row(&app, num(&b)).await, b_before);
        assert_mirrors(&app, num(&b), &stripe.subscription(&sub_b.id), "starter").await;
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM stripe_events WHERE processed_at IS NOT NULL AND error IS NOT NULL").await,
            2,
            "both refused events are recorded with why"
        );
    }
);

db_test!(
    async fn choosing_plans_changes_or_cancels_the_live_subscription(backend) {
        let (app, stripe) = billing_app(backend, &[]).await;
        let (owner, acme) = user_with_account(&app, "owner@acme.test", "Acme").await;
        // Free without a subscription: nothing to pay, nothing to do.
        let free = owner.ok(CHOOSE, json!({"a": acme, "p": "free"})).await;
        assert_eq!(free["choosePlan"], json!({"checkoutUrl": null, "plan": "free", "cancelAtPeriodEnd": false}));
        // A paid plan without a subscription: Checkout.
        let pro = owner.ok(CHOOSE, json!({"a": acme, "p": "pro"})).await;
        let url = pro["choosePlan"]["checkoutUrl"].as_str().expect("checkout url").to_owned();
        assert_eq!(pro["choosePlan"]["plan"], "free");
        stripe.complete_checkout(&stripe.session_id(&url)).await;
        app.run_pending_jobs().await;
        let sub = row(&app, num(&acme)).await.and_then(|r| r.subscription).expect("sub");
        assert_eq!(billing_state(&owner, &acme).await, json!([true, "pro", "active", false]));
        // Another paid plan: the subscription's price changes at once, stored without waiting
        // for the webhook.
        let business = owner.ok(CHOOSE, json!({"a": acme, "p": "business"})).await;
        assert_eq!(business["choosePlan"], json!({"checkoutUrl": null, "plan": "business", "cancelAtPeriodEnd": false}));
        assert_eq!(stripe.subscription(&sub).price, "price_business");
        // Free: cancelled at the end of the period, Business kept until then.
        let down = owner.ok(CHOOSE, json!({"a": acme, "p": "free"})).await;
        assert_eq!(down["choosePlan"], json!({"checkoutUrl": null, "plan": "business", "cancelAtPeriodEnd": true}));
        assert!(stripe.subscription(&sub).cancel_at_period_end);
        assert_mirrors(&app, num(&acme), &stripe.subscription(&sub), "business").await;
        assert_eq!(billing_state(&owner, &acme).await, json!([true, "business", "active", true]));
        // Changing one's mind keeps the subscription.
        let keep = owner.ok(CHOOSE, json!({"a": acme, "p": "business"})).await;
        assert_eq!(keep["choosePlan"]["cancelAtPeriodEnd"], false);
        assert_eq!(billing_state(&owner, &acme).await, json!([true, "business", "active", false]));
        assert!(!stripe.subscription(&sub).cancel_at_period_end);
        assert!(
            stripe.requests().iter().any(|r| r.starts_with(&format!("POST /v1/subscriptions/{sub}")) && r.contains("cancel_at_period_end=true")),
            "{:?}",
            stripe.requests()
        );
    }
);

db_test!(
    async fn reconcile_repairs_drift_and_is_idempotent(backend) {
        let (app, stripe) = billing_app(backend, &[]).await;
        let (owner_a, a) = user_with_account(&app, "owner@a.test", "A").await;
        let (owner_b, b) = user_with_account(&app, "owner@b.test", "B").await;
        let sub_a = subscribe(&app, &stripe, &owner_a, &a, "pro").await;
        let sub_b = subscribe(&app, &stripe, &owner_b, &b, "pro").await;
        // Stripe changed without telling us (lost webhooks) for A; our row of B was damaged.
        stripe.update(&sub_a.id, |s| {
            s.price = "price_starter".to_owned();
            s.period_start += 3_600;
            s.period_end += 3_600;
            s.cancel_at_period_end = true;
        });
        let damage = format!(
            "UPDATE subscriptions SET status = 'canceled', plan_id = (SELECT id FROM plans WHERE slug = 'free') WHERE account_id = {}",
            num(&b)
        );
        match app.db.pool() {
            Pool::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(damage)).execute(pool).await.map(|r| r.rows_affected()),
            Pool::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(damage)).execute(pool).await.map(|r| r.rows_affected()),
        }
        .expect("damage");
        for _ in 0..2 {
            app.queue.enqueue(&ReconcileBilling {}).await.expect("enqueue");
            app.run_pending_jobs().await;
            assert_mirrors(&app, num(&a), &stripe.subscription(&sub_a.id), "starter").await;
            assert_mirrors(&app, num(&b), &stripe.subscription(&sub_b.id), "pro").await;
        }
    }
);

db_test!(
    async fn past_due_keeps_the_plan_for_the_grace_period_then_moves_to_free(backend) {
        let (app, stripe) = billing_app(backend, &[("ERRORWATCH_BILLING_GRACE_DAYS", "7")]).await;
        let (owner, acme) = user_with_account(&app, "owner@acme.test", "Acme").await;
        let sub = subscribe(&app, &stripe, &owner, &acme, "pro").await;
        stripe.update(&sub.id, |s| s.status = "past_due".to_owned());
        let failed = stripe.event("invoice.payment_failed", stripe.invoice(&stripe.subscription(&sub.id), false));
        deliver(&stripe, &failed).await;
        app.run_pending_jobs().await;
        let late = row(&app, num(&acme)).await.expect("row");
        assert_eq!((late.plan.as_str(), late.status.as_str(), late.past_due), ("pro", "past_due", true));
        // Within the grace period the reconcile keeps Pro.
        app.queue.enqueue(&ReconcileBilling {}).await.expect("enqueue");
        app.run_pending_jobs().await;
        assert_eq!(row(&app, num(&acme)).await.expect("row").plan, "pro");
        // Eight days later (the first failure moved back), the account is on Free.
        let since = Utc::now() - chrono::TimeDelta::days(8);
        match app.db.pool() {
            Pool::Sqlite(pool) => {
                sqlx::query("UPDATE subscriptions SET past_due_since = ?1 WHERE account_id = ?2")
                    .bind(since)
                    .bind(num(&acme))
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            Pool::Postgres(pool) => {
                sqlx::query("UPDATE subscriptions SET past_due_since = $1 WHERE account_id = $2")
                    .bind(since)
                    .bind(num(&acme))
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
        .expect("backdate");
        app.queue.enqueue(&ReconcileBilling {}).await.expect("enqueue");
        app.run_pending_jobs().await;
        let lapsed = row(&app, num(&acme)).await.expect("row");
        assert_eq!((lapsed.plan.as_str(), lapsed.status.as_str()), ("free", "past_due"));
        // A late redelivery of the failure does not bring Pro back; paying does.
        deliver(&stripe, &stripe.event_at("invoice.payment_failed", failed["data"]["object"].clone(), failed["created"].as_i64().expect("created"))).await;
        app.run_pending_jobs().await;
        assert_eq!(row(&app, num(&acme)).await.expect("row").plan, "free");
        stripe.update(&sub.id, |s| s.status = "active".to_owned());
        deliver(&stripe, &stripe.event("invoice.paid", stripe.invoice(&stripe.subscription(&sub.id), true))).await;
        app.run_pending_jobs().await;
        let paid = row(&app, num(&acme)).await.expect("row");
        assert_eq!((paid.plan.as_str(), paid.status.as_str(), paid.past_due), ("pro", "active", false));
    }
);
