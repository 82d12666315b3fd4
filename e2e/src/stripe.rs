//! A Stripe stand-in served over HTTP on `127.0.0.1:0`, with in-memory state, answering the
//! part of Stripe's API ErrorWatch uses in the *current* API shape (subscription periods on
//! items, `billing_mode`, …) that async-stripe 1.0 parses: customers (create with an
//! idempotency key, retrieve), prices (retrieve), subscriptions (retrieve, list by customer and
//! status, update price / `cancel_at_period_end`, cancel), Checkout Sessions (create, retrieve;
//! `url`) and Billing Portal sessions. Events are signed with Stripe's real scheme
//! (`Stripe-Signature: t=…,v1=hex(HMAC-SHA256(secret, "{t}.{body}"))`) and POSTed to the
//! webhook URL set with [`StripeStandIn::set_webhook`].
//!
//! It also plays the hosted pages, so a browser test can use it as is: `GET /checkout/{id}`
//! completes the session (an active subscription, then `checkout.session.completed` and
//! `customer.subscription.created` delivered) and redirects to its `success_url`
//! (`?cancel=1` redirects to `cancel_url` instead); `GET /portal/{id}` redirects to the portal
//! session's `return_url`. The server's integration suite (`harness::stripe`) and the browser
//! tests (`e2e/tests/billing_signup.rs`) share this one copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The secret key the app is configured with.
pub const SECRET_KEY: &str = "sk_test_errorwatch_stand_in";
/// The webhook signing secret the app is configured with.
pub const WEBHOOK_SECRET: &str = "whsec_errorwatch_stand_in";
/// Prices the stand-in knows: (plan slug, price id, monthly cents).
pub const PRICES: [(&str, &str, i64); 3] = [
    ("starter", "price_starter", 2_600),
    ("pro", "price_pro", 8_000),
    ("business", "price_business", 30_000),
];
const MONTH: i64 = 30 * 86_400;

/// A subscription as the stand-in holds it.
#[derive(Clone, Debug)]
pub struct Sub {
    /// `sub_…`.
    pub id: String,
    /// `si_…` of its one item.
    pub item_id: String,
    /// `cus_…`.
    pub customer: String,
    /// `price_…`.
    pub price: String,
    /// Stripe status.
    pub status: String,
    /// Pending cancellation.
    pub cancel_at_period_end: bool,
    /// Current period (unix seconds).
    pub period_start: i64,
    /// Current period end (unix seconds).
    pub period_end: i64,
    /// Creation time (unix seconds).
    pub created: i64,
    /// Metadata.
    pub metadata: HashMap<String, String>,
}

#[derive(Clone, Debug)]
struct Session {
    id: String,
    customer: Option<String>,
    price: String,
    client_reference_id: Option<String>,
    success_url: String,
    cancel_url: String,
    subscription_metadata: HashMap<String, String>,
    subscription: Option<String>,
    complete: bool,
    created: i64,
}

#[derive(Default)]
struct Inner {
    base: String,
    next_id: u64,
    customers: HashMap<String, Value>,
    idempotency: HashMap<String, String>,
    subscriptions: HashMap<String, Sub>,
    sessions: HashMap<String, Session>,
    portal_returns: HashMap<String, String>,
    requests: Vec<String>,
    webhook: Option<String>,
}

impl Inner {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{:014}", self.next_id)
    }
}

type Shared = Arc<Mutex<Inner>>;

/// The running stand-in.
#[derive(Clone)]
pub struct StripeStandIn {
    /// Base URL (ends with `/`): `ERRORWATCH_STRIPE_API_BASE`.
    pub url: String,
    state: Shared,
    http: reqwest::Client,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn price_json(price: &str) -> Value {
    let amount = PRICES
        .iter()
        .find(|(_, id, _)| *id == price)
        .map_or(1_000, |(_, _, cents)| *cents);
    json!({
        "id": price, "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": 1_700_000_000, "currency": "usd", "livemode": false, "lookup_key": null,
        "metadata": {}, "nickname": null, "product": format!("prod_{price}"),
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed",
                      "meter": null, "trial_period_days": null},
        "tax_behavior": "unspecified", "type": "recurring", "unit_amount": amount,
        "unit_amount_decimal": amount.to_string()
    })
}

impl Sub {
    /// The subscription as Stripe's API returns it.
    pub fn json(&self) -> Value {
        let price = price_json(&self.price);
        let plan = json!({
            "id": self.price, "object": "plan", "active": true, "amount": price["unit_amount"],
            "billing_scheme": "per_unit", "created": 1_700_000_000, "currency": "usd",
            "interval": "month", "interval_count": 1, "livemode": false, "metadata": {},
            "product": price["product"], "usage_type": "licensed"
        });
        let ended = matches!(self.status.as_str(), "canceled" | "incomplete_expired");
        let items = json!({
            "object": "list", "has_more": false,
            "url": format!("/v1/subscription_items?subscription={}", self.id),
            "data": [{
                "id": self.item_id, "object": "subscription_item", "created": self.created,
                "current_period_start": self.period_start,
                "current_period_end": self.period_end,
                "discounts": [], "metadata": {}, "plan": plan, "price": price,
                "quantity": 1, "subscription": self.id, "tax_rates": []
            }]
        });
        let mut subscription = json!({
            "id": self.id, "object": "subscription",
            "application": null, "application_fee_percent": null,
            "automatic_tax": {"enabled": false, "liability": null},
            "billing_cycle_anchor": self.created, "billing_cycle_anchor_config": null,
            "billing_mode": {"type": "classic"}, "billing_schedules": [],
            "billing_thresholds": null,
            "cancel_at": if self.cancel_at_period_end { json!(self.period_end) } else { Value::Null },
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": if ended || self.cancel_at_period_end { json!(now()) } else { Value::Null },
            "cancellation_details": {"comment": null, "feedback": null, "reason": null},
            "collection_method": "charge_automatically", "created": self.created,
            "currency": "usd", "customer": self.customer, "days_until_due": null,
            "items": items, "livemode": false, "metadata": self.metadata,
            "start_date": self.created, "status": self.status
        });
        let rest = json!({
            "default_payment_method": null, "default_source": null, "default_tax_rates": [],
            "description": null, "discounts": [],
            "ended_at": if ended { json!(now()) } else { Value::Null },
            "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
            "latest_invoice": null, "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null, "pause_collection": null, "payment_settings": null,
            "pending_invoice_item_interval": null, "pending_setup_intent": null,
            "pending_update": null, "schedule": null, "test_clock": null,
            "transfer_data": null, "trial_end": null, "trial_settings": null, "trial_start": null
        });
        if let (Some(target), Value::Object(rest)) = (subscription.as_object_mut(), rest) {
            target.extend(rest);
        }
        subscription
    }
}

impl Session {
    fn json(&self, base: &str) -> Value {
        json!({
            "id": self.id, "object": "checkout.session",
            "automatic_tax": {"enabled": false, "liability": null, "status": null},
            "cancel_url": self.cancel_url, "client_reference_id": self.client_reference_id,
            "created": self.created, "currency": "usd", "custom_fields": [], "custom_text": {},
            "customer": self.customer, "expires_at": self.created + 86_400, "livemode": false,
            "metadata": {}, "mode": "subscription", "payment_method_types": ["card"],
            "payment_status": if self.complete { "paid" } else { "unpaid" },
            "shipping_options": [], "status": if self.complete { "complete" } else { "open" },
            "subscription": self.subscription, "success_url": self.success_url,
            "url": if self.complete { Value::Null } else { json!(format!("{base}checkout/{}", self.id)) }
        })
    }
}

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {
            "type": "invalid_request_error", "message": message, "code": "resource_missing"
        }})),
    )
        .into_response()
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `prefix[key]` entries of a form as a map (`metadata[account_id]=7` → `{account_id: 7}`).
fn nested(form: &HashMap<String, String>, prefix: &str) -> HashMap<String, String> {
    form.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
                .map(|key| (key.to_owned(), v.clone()))
        })
        .collect()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {SECRET_KEY}"))
}

/// Logs the call; the refusal Stripe would send for a wrong key.
fn api(state: &Shared, headers: &HeaderMap, line: String) -> Option<Response> {
    state.lock().expect("state").requests.push(line);
    (!authorized(headers))
        .then(|| stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided"))
}

async fn create_customer(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(refused) = api(&state, &headers, "POST /v1/customers".to_owned()) {
        return refused;
    }
    let form = form(&body);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut inner = state.lock().expect("state");
    if let Some(existing) = key.as_ref().and_then(|k| inner.idempotency.get(k)).cloned() {
        return axum::Json(inner.customers[&existing].clone()).into_response();
    }
    let id = inner.id("cus");
    let customer = json!({
        "id": id, "object": "customer", "created": now(), "livemode": false,
        "email": form.get("email"), "name": form.get("name"),
        "metadata": nested(&form, "metadata"), "balance": 0, "delinquent": false
    });
    inner.customers.insert(id.clone(), customer.clone());
    if let Some(key) = key {
        inner.idempotency.insert(key, id);
    }
    axum::Json(customer).into_response()
}

async fn get_customer(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = api(&state, &headers, format!("GET /v1/customers/{id}")) {
        return refused;
    }
    match state.lock().expect("state").customers.get(&id) {
        Some(customer) => axum::Json(customer.clone()).into_response(),
        None => stripe_error(StatusCode::NOT_FOUND, &format!("No such customer: '{id}'")),
    }
}

async fn get_price(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = api(&state, &headers, format!("GET /v1/prices/{id}")) {
        return refused;
    }
    if PRICES.iter().any(|(_, price, _)| *price == id) {
        axum::Json(price_json(&id)).into_response()
    } else {
        stripe_error(StatusCode::NOT_FOUND, &format!("No such price: '{id}'"))
    }
}

async fn list_subscriptions(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = form(query.as_deref().unwrap_or_default());
    if let Some(refused) = api(&state, &headers, "GET /v1/subscriptions".to_owned()) {
        return refused;
    }
    let inner = state.lock().expect("state");
    let status = query.get("status").map(String::as_str);
    let mut data: Vec<&Sub> = inner
        .subscriptions
        .values()
        .filter(|s| query.get("customer").is_none_or(|c| *c == s.customer))
        .filter(|s| match status {
            Some("all") => true,
            Some(wanted) => s.status == wanted,
            None => s.status != "canceled",
        })
        .collect();
    data.sort_by_key(|s| std::cmp::Reverse((s.created, s.id.clone())));
    let data: Vec<Value> = data.into_iter().map(Sub::json).collect();
    axum::Json(
        json!({"object": "list", "data": data, "has_more": false, "url": "/v1/subscriptions"}),
    )
    .into_response()
}

async fn get_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = api(&state, &headers, format!("GET /v1/subscriptions/{id}")) {
        return refused;
    }
    match state.lock().expect("state").subscriptions.get(&id) {
        Some(sub) => axum::Json(sub.json()).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            &format!("No such subscription: '{id}'"),
        ),
    }
}

async fn update_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Response {
    if let Some(refused) = api(
        &state,
        &headers,
        format!("POST /v1/subscriptions/{id} {body}"),
    ) {
        return refused;
    }
    let form = form(&body);
    let mut inner = state.lock().expect("state");
    let Some(sub) = inner.subscriptions.get_mut(&id) else {
        return stripe_error(
            StatusCode::NOT_FOUND,
            &format!("No such subscription: '{id}'"),
        );
    };
    if let Some(cancel) = form.get("cancel_at_period_end") {
        sub.cancel_at_period_end = cancel == "true";
    }
    if let Some(price) = form.get("items[0][price]") {
        if form.get("items[0][id]") != Some(&sub.item_id) {
            return stripe_error(StatusCode::BAD_REQUEST, "unknown subscription item");
        }
        sub.price = price.clone();
    }
    axum::Json(sub.json()).into_response()
}

async fn cancel_subscription(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = api(&state, &headers, format!("DELETE /v1/subscriptions/{id}")) {
        return refused;
    }
    let mut inner = state.lock().expect("state");
    match inner.subscriptions.get_mut(&id) {
        Some(sub) => {
            sub.status = "canceled".to_owned();
            axum::Json(sub.json()).into_response()
        }
        None => stripe_error(
            StatusCode::NOT_FOUND,
            &format!("No such subscription: '{id}'"),
        ),
    }
}

async fn create_session(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = api(&state, &headers, "POST /v1/checkout/sessions".to_owned()) {
        return refused;
    }
    let form = form(&body);
    if form.get("mode").map(String::as_str) != Some("subscription") {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "only subscription mode is played here",
        );
    }
    let Some(price) = form.get("line_items[0][price]").cloned() else {
        return stripe_error(StatusCode::BAD_REQUEST, "line_items[0][price] is required");
    };
    if !PRICES.iter().any(|(_, id, _)| *id == price) {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            &format!("No such price: '{price}'"),
        );
    }
    let mut inner = state.lock().expect("state");
    if let Some(customer) = form.get("customer")
        && !inner.customers.contains_key(customer)
    {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            &format!("No such customer: '{customer}'"),
        );
    }
    let id = inner.id("cs_test");
    let session = Session {
        id: id.clone(),
        customer: form.get("customer").cloned(),
        price,
        client_reference_id: form.get("client_reference_id").cloned(),
        success_url: form.get("success_url").cloned().unwrap_or_default(),
        cancel_url: form.get("cancel_url").cloned().unwrap_or_default(),
        subscription_metadata: nested(&form, "subscription_data[metadata]"),
        subscription: None,
        complete: false,
        created: now(),
    };
    let body = session.json(&inner.base);
    inner.sessions.insert(id, session);
    axum::Json(body).into_response()
}

async fn get_session(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = api(&state, &headers, format!("GET /v1/checkout/sessions/{id}")) {
        return refused;
    }
    let inner = state.lock().expect("state");
    match inner.sessions.get(&id) {
        Some(session) => axum::Json(session.json(&inner.base)).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            &format!("No such checkout.session: '{id}'"),
        ),
    }
}

async fn create_portal(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = api(
        &state,
        &headers,
        "POST /v1/billing_portal/sessions".to_owned(),
    ) {
        return refused;
    }
    let form = form(&body);
    let mut inner = state.lock().expect("state");
    let Some(customer) = form
        .get("customer")
        .filter(|c| inner.customers.contains_key(*c))
    else {
        return stripe_error(StatusCode::BAD_REQUEST, "a known customer is required");
    };
    let customer = customer.clone();
    let id = inner.id("bps");
    let return_url = form.get("return_url").cloned().unwrap_or_default();
    inner.portal_returns.insert(id.clone(), return_url.clone());
    axum::Json(json!({
        "id": id, "object": "billing_portal.session", "configuration": "bpc_default",
        "created": now(), "customer": customer, "flow": null, "livemode": false,
        "locale": null, "on_behalf_of": null, "return_url": return_url,
        "url": format!("{}portal/{id}", inner.base)
    }))
    .into_response()
}

/// The hosted Checkout page: pays and goes back (or cancels with `?cancel=1`).
async fn checkout_page(
    State(state): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let stand_in = StripeStandIn::from_state(state);
    let cancel = query.is_some_and(|q| q.contains("cancel=1"));
    let (success, cancel_url) = {
        let inner = stand_in.state.lock().expect("state");
        match inner.sessions.get(&id) {
            Some(s) => (s.success_url.clone(), s.cancel_url.clone()),
            None => return (StatusCode::NOT_FOUND, "no such checkout session").into_response(),
        }
    };
    if cancel {
        return Redirect::to(&cancel_url).into_response();
    }
    stand_in.complete_checkout(&id).await;
    Redirect::to(&success.replace("{CHECKOUT_SESSION_ID}", &id)).into_response()
}

/// The hosted Billing Portal: goes straight back.
async fn portal_page(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let back = state
        .lock()
        .expect("state")
        .portal_returns
        .get(&id)
        .cloned();
    match back {
        Some(url) => Redirect::to(&url).into_response(),
        None => (StatusCode::NOT_FOUND, "no such portal session").into_response(),
    }
}

/// `Stripe-Signature` for `payload` signed at `timestamp` with `secret`.
pub fn signature(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

impl StripeStandIn {
    /// Starts the stand-in on an ephemeral port.
    pub async fn start() -> Self {
        // reqwest is built without a default TLS provider (one provider, ring, everywhere).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Stripe stand-in");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let state: Shared = Arc::new(Mutex::new(Inner {
            base: url.clone(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/customers/{id}", get(get_customer))
            .route("/v1/prices/{id}", get(get_price))
            .route("/v1/subscriptions", get(list_subscriptions))
            .route(
                "/v1/subscriptions/{id}",
                get(get_subscription)
                    .post(update_subscription)
                    .delete(cancel_subscription),
            )
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(get_session))
            .route("/v1/billing_portal/sessions", post(create_portal))
            .route("/checkout/{id}", get(checkout_page))
            .route("/portal/{id}", get(portal_page))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("Stripe stand-in");
        });
        Self::from_state_with_url(state, url)
    }

    fn from_state(state: Shared) -> Self {
        let url = state.lock().expect("state").base.clone();
        Self::from_state_with_url(state, url)
    }

    fn from_state_with_url(state: Shared, url: String) -> Self {
        Self {
            url,
            state,
            http: reqwest::Client::new(),
        }
    }

    /// Settings that point an ErrorWatch server at this stand-in (SaaS mode, keys, prices).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("ERRORWATCH_MODE".to_owned(), "saas".to_owned()),
            (
                "ERRORWATCH_STRIPE_SECRET_KEY".to_owned(),
                SECRET_KEY.to_owned(),
            ),
            (
                "ERRORWATCH_STRIPE_WEBHOOK_SECRET".to_owned(),
                WEBHOOK_SECRET.to_owned(),
            ),
            ("ERRORWATCH_STRIPE_API_BASE".to_owned(), self.url.clone()),
        ];
        for (slug, price, _) in PRICES {
            env.push((
                format!("ERRORWATCH_STRIPE_PRICE_{}", slug.to_uppercase()),
                price.to_owned(),
            ));
        }
        env
    }

    /// Where events are delivered (the app's `/stripe/webhook`).
    pub fn set_webhook(&self, url: &str) {
        self.state.lock().expect("state").webhook = Some(url.to_owned());
    }

    /// API calls received so far, as `METHOD /path` (updates carry their form body).
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").requests.clone()
    }

    /// Customers created so far.
    pub fn customer_count(&self) -> usize {
        self.state.lock().expect("state").customers.len()
    }

    /// Adds a customer as if made outside ErrorWatch (e.g. in Stripe's dashboard).
    pub fn add_customer(&self, metadata: &[(&str, &str)]) -> String {
        let mut inner = self.state.lock().expect("state");
        let id = inner.id("cus");
        let metadata: HashMap<&str, &str> = metadata.iter().copied().collect();
        inner.customers.insert(
            id.clone(),
            json!({"id": id, "object": "customer", "created": now(), "livemode": false, "metadata": metadata}),
        );
        id
    }

    /// The checkout session id in a Checkout URL this stand-in handed out.
    pub fn session_id(&self, checkout_url: &str) -> String {
        checkout_url
            .strip_prefix(&format!("{}checkout/", self.url))
            .unwrap_or_else(|| panic!("{checkout_url} is not a stand-in checkout URL"))
            .to_owned()
    }

    /// Pays a checkout session: an active subscription for a month, then the events Stripe
    /// sends (`checkout.session.completed`, `customer.subscription.created`), returned
    /// without delivering them.
    pub fn pay_checkout(&self, session_id: &str) -> Vec<Value> {
        let mut inner = self.state.lock().expect("state");
        let session = inner
            .sessions
            .get(session_id)
            .cloned()
            .unwrap_or_else(|| panic!("no checkout session {session_id}"));
        let customer = session.customer.clone().unwrap_or_else(|| {
            let id = inner.id("cus");
            inner.customers.insert(
                id.clone(),
                json!({"id": id, "object": "customer", "created": now(), "livemode": false, "metadata": {}}),
            );
            id
        });
        let created = now();
        let sub = Sub {
            id: inner.id("sub"),
            item_id: inner.id("si"),
            customer: customer.clone(),
            price: session.price.clone(),
            status: "active".to_owned(),
            cancel_at_period_end: false,
            period_start: created,
            period_end: created + MONTH,
            created,
            metadata: session.subscription_metadata.clone(),
        };
        inner.subscriptions.insert(sub.id.clone(), sub.clone());
        let base = inner.base.clone();
        let stored = inner.sessions.get_mut(session_id).expect("session");
        stored.customer = Some(customer);
        stored.subscription = Some(sub.id.clone());
        stored.complete = true;
        let session_json = stored.json(&base);
        drop(inner);
        vec![
            self.event("checkout.session.completed", session_json),
            self.event("customer.subscription.created", sub.json()),
        ]
    }

    /// [`Self::pay_checkout`], then delivers its events (what the hosted page does).
    pub async fn complete_checkout(&self, session_id: &str) -> Vec<Value> {
        let events = self.pay_checkout(session_id);
        for event in &events {
            let status = self.deliver(event).await;
            assert_eq!(
                status, 200,
                "webhook answered {status} for {}",
                event["type"]
            );
        }
        events
    }

    /// A copy of a subscription's state.
    pub fn subscription(&self, id: &str) -> Sub {
        self.state
            .lock()
            .expect("state")
            .subscriptions
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no subscription {id}"))
    }

    /// Every subscription, oldest first.
    pub fn subscriptions(&self) -> Vec<Sub> {
        let mut all: Vec<Sub> = self
            .state
            .lock()
            .expect("state")
            .subscriptions
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        all
    }

    /// The subscriptions of a customer.
    pub fn subscriptions_of(&self, customer: &str) -> Vec<Sub> {
        self.state
            .lock()
            .expect("state")
            .subscriptions
            .values()
            .filter(|s| s.customer == customer)
            .cloned()
            .collect()
    }

    /// Changes a subscription as Stripe would on its side (dashboard, portal, billing run)
    /// and returns its new API shape, for an event.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Sub)) -> Value {
        let mut inner = self.state.lock().expect("state");
        let sub = inner
            .subscriptions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no subscription {id}"));
        change(sub);
        sub.json()
    }

    /// An invoice of a subscription (for `invoice.*` events), in the current API shape (the
    /// subscription under `parent.subscription_details`).
    pub fn invoice(&self, sub: &Sub, paid: bool) -> Value {
        let id = self.state.lock().expect("state").id("in");
        let amount = PRICES
            .iter()
            .find(|(_, price, _)| *price == sub.price)
            .map_or(0, |(_, _, cents)| *cents);
        json!({
            "id": id, "object": "invoice", "customer": sub.customer,
            "amount_due": amount, "amount_paid": if paid { amount } else { 0 },
            "amount_remaining": if paid { 0 } else { amount }, "attempt_count": 1,
            "attempted": true, "billing_reason": "subscription_cycle",
            "collection_method": "charge_automatically", "created": now(), "currency": "usd",
            "livemode": false, "paid": paid,
            "parent": {"type": "subscription_details", "quote_details": null,
                       "subscription_details": {"metadata": sub.metadata, "subscription": sub.id}},
            "period_start": sub.period_start, "period_end": sub.period_end,
            "status": if paid { "paid" } else { "open" }
        })
    }

    /// An event of `kind` about `object`, created now.
    pub fn event(&self, kind: &str, object: Value) -> Value {
        self.event_at(kind, object, now())
    }

    /// An event created at `created` (unix seconds).
    pub fn event_at(&self, kind: &str, object: Value, created: i64) -> Value {
        let id = self.state.lock().expect("state").id("evt");
        json!({
            "id": id, "object": "event", "api_version": "2025-09-30.clover",
            "created": created, "data": {"object": object}, "livemode": false,
            "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
            "type": kind
        })
    }

    /// Signs `event` now with the webhook secret and POSTs it; returns the status.
    pub async fn deliver(&self, event: &Value) -> u16 {
        let payload = serde_json::to_vec(event).expect("event");
        let header = signature(WEBHOOK_SECRET, now(), &payload);
        self.post_webhook(payload, Some(&header)).await
    }

    /// POSTs `payload` with `signature` (or none) as `Stripe-Signature`; returns the status.
    pub async fn post_webhook(&self, payload: Vec<u8>, signature: Option<&str>) -> u16 {
        let url = self
            .state
            .lock()
            .expect("state")
            .webhook
            .clone()
            .expect("set_webhook first");
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .body(payload);
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        request
            .send()
            .await
            .expect("webhook delivery")
            .status()
            .as_u16()
    }
}
