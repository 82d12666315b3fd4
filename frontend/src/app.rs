//! The dashboard page. For now a placeholder: the product name, a note that the dashboard is
//! coming, and a live server status line fed by `GET /health/ready` (same origin), re-checked
//! every [`POLL_INTERVAL`].
//!
//! Stable hooks for end-to-end tests: `#app-title`, and `#server-status`, whose `data-state`
//! attribute is `checking`, `ready` or `not-ready`.

use std::time::Duration;

use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};

/// Path of the readiness probe, resolved against the page's origin.
pub const READY_PATH: &str = "/health/ready";

/// How often the status line re-checks the server.
pub const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// What the page knows about the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerStatus {
    /// No answer yet.
    Checking,
    /// `GET /health/ready` answered with a 2xx status.
    Ready,
    /// The probe failed; the text says why.
    NotReady(String),
}

impl ServerStatus {
    /// The value of the `data-state` attribute on `#server-status`.
    pub fn state(&self) -> &'static str {
        match self {
            Self::Checking => "checking",
            Self::Ready => "ready",
            Self::NotReady(_) => "not-ready",
        }
    }

    /// The sentence shown to the user.
    pub fn message(&self) -> String {
        match self {
            Self::Checking => "Checking server…".to_owned(),
            Self::Ready => "Server ready".to_owned(),
            Self::NotReady(reason) => format!("Server not ready: {reason}"),
        }
    }
}

/// The root component: the whole page.
#[component]
pub fn App() -> impl IntoView {
    let status = RwSignal::new(ServerStatus::Checking);
    let check = move || spawn_local(async move { status.set(probe_ready().await) });
    check();
    match set_interval_with_handle(check, POLL_INTERVAL) {
        Ok(handle) => on_cleanup(move || handle.clear()),
        Err(e) => leptos::logging::warn!("cannot schedule status polling: {e:?}"),
    }

    view! {
        <main class="shell">
            <h1 id="app-title">"ErrorWatch"</h1>
            <p class="tagline">"The dashboard is on its way"</p>
            <p
                id="server-status"
                class="status"
                data-state=move || status.with(ServerStatus::state)
                aria-live="polite"
            >
                <span class="dot" aria-hidden="true"></span>
                <span>{move || status.with(ServerStatus::message)}</span>
            </p>
        </main>
    }
}

/// Asks the server whether it is ready.
async fn probe_ready() -> ServerStatus {
    let response = match Request::get(READY_PATH).send().await {
        Ok(response) => response,
        Err(e) => return ServerStatus::NotReady(format!("cannot reach the server ({e})")),
    };
    if response.ok() {
        return ServerStatus::Ready;
    }
    let body = response.text().await.unwrap_or_default();
    let reason = reason_from_body(&body).unwrap_or_else(|| {
        format!("HTTP {} {}", response.status(), response.status_text())
            .trim_end()
            .to_owned()
    });
    ServerStatus::NotReady(reason)
}

/// Extracts a human-readable reason from a readiness body that is a JSON object.
///
/// A `reason`, `error` or `message` string is used as is. Otherwise every other string field
/// whose value is not `ok` is listed, except `status`: `{"status":"unavailable",
/// "database":"unreachable"}` gives `database unreachable`. Uses the browser's `JSON.parse` so
/// the bundle carries no JSON parser of its own.
fn reason_from_body(body: &str) -> Option<String> {
    let value = js_sys::JSON::parse(body).ok()?;
    if js_sys::Array::is_array(&value) {
        return None;
    }
    let object = value.dyn_into::<js_sys::Object>().ok()?;
    for key in ["reason", "error", "message"] {
        if let Some(text) = string_field(&object, key).filter(|t| !t.is_empty()) {
            return Some(text);
        }
    }
    let parts: Vec<String> = js_sys::Object::keys(&object)
        .iter()
        .filter_map(|key| key.as_string())
        .filter(|key| key != "status")
        .filter_map(|key| {
            let text = string_field(&object, &key)?;
            (text != "ok").then(|| format!("{key} {text}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The string value of `object[key]`, if it is a string.
fn string_field(object: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()?
        .as_string()
}
