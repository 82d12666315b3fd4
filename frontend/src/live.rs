//! Live updates: GraphQL subscriptions over one WebSocket (`/graphql/ws`, protocol
//! graphql-transport-ws), authenticated like the HTTP requests (session cookie + the CSRF token
//! in `connection_init`). The socket closes when the owning component is cleaned up.
//!
//! A dropped socket (server restart, network change, proxy timeout) reconnects after a pause
//! that doubles from about a second up to 30 s (with jitter, so a restarted server is not hit
//! by every tab at once) and starts again from one second once the server acknowledges. A
//! socket the server closed before acknowledging it, or a subscription refused as
//! UNAUTHENTICATED, usually means the short-lived session token expired: the next attempt
//! first makes one GraphQL request, which rotates the session cookies (and stops trying when
//! the viewer is signed out). After a reconnection `on_reconnect` runs, so the page reloads
//! what it may have missed while the socket was down. [`LiveState`] tells the page how it
//! stands.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{MessageEvent, WebSocket};

/// The longest pause between two connection attempts.
const MAX_BACKOFF_MS: f64 = 30_000.0;

/// Where a page's subscriptions stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveState {
    /// The first connection is being made.
    Connecting,
    /// Subscribed: changes arrive as they happen.
    Live,
    /// The socket dropped; the next attempt is scheduled.
    Reconnecting,
    /// The session ended: nothing more arrives until the viewer signs in again.
    SignedOut,
}

impl LiveState {
    /// Words for the page.
    pub fn label(self) -> &'static str {
        match self {
            LiveState::Connecting => "Connecting…",
            LiveState::Live => "Live",
            LiveState::Reconnecting => "Reconnecting…",
            LiveState::SignedOut => "Not live: signed out",
        }
    }
}

/// The pause before attempt `attempt` (0 for the first retry): a second, doubling up to 30 s,
/// scaled by `jitter` (0..1) into the upper half of that.
pub fn backoff_ms(attempt: u32, jitter: f64) -> i32 {
    let ceiling = (1_000.0 * 2_f64.powi(attempt.min(16) as i32)).min(MAX_BACKOFF_MS);
    (ceiling * (0.5 + jitter.clamp(0.0, 1.0) / 2.0)) as i32
}

/// The state shared by the socket's callbacks.
struct Inner {
    operations: Vec<(String, Value)>,
    on_data: Box<dyn Fn(Value)>,
    on_reconnect: Box<dyn Fn()>,
    state: RwSignal<LiveState>,
    socket: Option<WebSocket>,
    closures: Vec<Closure<dyn FnMut(JsValueEvent)>>,
    stopped: bool,
    /// The server acknowledged some socket of this subscription (so a later ack is a
    /// reconnection).
    connected_once: bool,
    /// The server acknowledged the current socket.
    acknowledged: bool,
    /// Refresh the session before the next attempt.
    refresh_first: bool,
    /// Failed attempts since the last acknowledgement.
    attempts: u32,
}

type JsValueEvent = wasm_bindgen::JsValue;

/// The WebSocket URL of the API, next to the page's origin.
fn socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/graphql/ws", location.host().ok()?))
}

/// Subscribes to `operations` (each a subscription document with its variables) on one
/// socket, for as long as the current reactive owner lives; `on_data` gets each `data` object
/// pushed by the server, `on_reconnect` runs after the socket came back.
pub fn subscribe(
    operations: &[(&str, Value)],
    on_data: impl Fn(Value) + 'static,
    on_reconnect: impl Fn() + 'static,
) -> ReadSignal<LiveState> {
    let state = RwSignal::new(LiveState::Connecting);
    let inner = Rc::new(RefCell::new(Inner {
        operations: operations
            .iter()
            .map(|(query, variables)| ((*query).to_owned(), variables.clone()))
            .collect(),
        on_data: Box::new(on_data),
        on_reconnect: Box::new(on_reconnect),
        state,
        socket: None,
        closures: Vec::new(),
        stopped: false,
        connected_once: false,
        acknowledged: false,
        refresh_first: false,
        attempts: 0,
    }));
    connect(&inner);
    let handle = SendWrapper::new(inner);
    on_cleanup(move || {
        let inner = handle.take();
        let mut inner = inner.borrow_mut();
        inner.stopped = true;
        if let Some(socket) = inner.socket.take() {
            // Detach first: the callbacks are dropped with `inner` right after.
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            let _ = socket.close();
        }
    });
    state.read_only()
}

/// Opens the socket, after refreshing the session when the last attempt suggests it expired.
fn connect(inner: &Rc<RefCell<Inner>>) {
    if !std::mem::take(&mut inner.borrow_mut().refresh_first) {
        open(inner);
        return;
    }
    let weak = Rc::downgrade(inner);
    leptos::task::spawn_local(async move {
        // Any authenticated request rotates an expired access token into fresh cookies.
        let refreshed = crate::api::gql("query { viewer { user { id } } }", json!({})).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.borrow().stopped {
            return;
        }
        match refreshed {
            Err(error) if error.is_unauthenticated() => {
                let _ = inner.borrow().state.try_set(LiveState::SignedOut);
            }
            // Reachable again, or still not (then the socket fails too and backs off).
            _ => open(&inner),
        }
    });
}

fn open(inner: &Rc<RefCell<Inner>>) {
    let Some(url) = socket_url() else { return };
    let Ok(socket) = WebSocket::new_with_str(&url, "graphql-transport-ws") else {
        schedule_reconnect(inner);
        return;
    };

    let weak = Rc::downgrade(inner);
    let on_open = Closure::<dyn FnMut(JsValueEvent)>::new(move |_| {
        let Some(inner) = weak.upgrade() else { return };
        let inner = inner.borrow();
        if let Some(socket) = &inner.socket {
            let payload = json!({"csrfToken": crate::api::csrf_token().unwrap_or_default()});
            let _ = socket
                .send_with_str(&json!({"type": "connection_init", "payload": payload}).to_string());
        }
    });

    let weak = Rc::downgrade(inner);
    let on_message = Closure::<dyn FnMut(JsValueEvent)>::new(move |event: JsValueEvent| {
        let Some(inner) = weak.upgrade() else { return };
        let Some(text) = event
            .dyn_into::<MessageEvent>()
            .ok()
            .and_then(|e| e.data().as_string())
        else {
            return;
        };
        if let Ok(message) = serde_json::from_str::<Value>(&text) {
            handle_message(&inner, &message);
        }
    });

    let weak = Rc::downgrade(inner);
    let on_close = Closure::<dyn FnMut(JsValueEvent)>::new(move |_| {
        if let Some(inner) = weak.upgrade() {
            {
                let mut inner = inner.borrow_mut();
                inner.socket = None;
                // Closed before the server accepted it: most likely the session expired.
                inner.refresh_first |= !inner.acknowledged;
            }
            schedule_reconnect(&inner);
        }
    });

    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut inner = inner.borrow_mut();
    inner.socket = Some(socket);
    inner.acknowledged = false;
    inner.closures = vec![on_open, on_message, on_close];
}

fn handle_message(inner: &Rc<RefCell<Inner>>, message: &Value) {
    match message.get("type").and_then(Value::as_str) {
        Some("connection_ack") => {
            let reconnected = {
                let mut inner = inner.borrow_mut();
                let again = inner.connected_once;
                inner.connected_once = true;
                inner.acknowledged = true;
                inner.attempts = 0;
                if let Some(socket) = &inner.socket {
                    for (index, (query, variables)) in inner.operations.iter().enumerate() {
                        let subscribe = json!({
                            "id": (index + 1).to_string(),
                            "type": "subscribe",
                            "payload": {"query": query, "variables": variables},
                        });
                        let _ = socket.send_with_str(&subscribe.to_string());
                    }
                }
                let _ = inner.state.try_set(LiveState::Live);
                again
            };
            if reconnected {
                (inner.borrow().on_reconnect)();
            }
        }
        Some("next") => {
            if let Some(data) = message.pointer("/payload/data").cloned() {
                (inner.borrow().on_data)(data);
            }
        }
        Some("ping") => {
            if let Some(socket) = &inner.borrow().socket {
                let _ = socket.send_with_str(r#"{"type":"pong"}"#);
            }
        }
        Some("error") => {
            leptos::logging::warn!("subscription refused: {message}");
            let unauthenticated = message["payload"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e.pointer("/extensions/code") == Some(&json!("UNAUTHENTICATED")));
            if unauthenticated {
                // Accepted as anonymous (the session cookie had expired): start over signed in.
                let mut inner = inner.borrow_mut();
                inner.acknowledged = false;
                if let Some(socket) = &inner.socket {
                    let _ = socket.close();
                }
            }
        }
        _ => {}
    }
}

fn schedule_reconnect(inner: &Rc<RefCell<Inner>>) {
    let delay = {
        let mut inner = inner.borrow_mut();
        if inner.stopped {
            return;
        }
        let _ = inner.state.try_set(LiveState::Reconnecting);
        let delay = backoff_ms(inner.attempts, js_sys::Math::random());
        inner.attempts += 1;
        delay
    };
    let weak = Rc::downgrade(inner);
    let retry = Closure::once_into_js(move || {
        if let Some(inner) = weak.upgrade()
            && !inner.borrow().stopped
        {
            connect(&inner);
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay);
    }
}

/// A small status line for pages with live updates.
#[component]
pub fn LiveBadge(state: ReadSignal<LiveState>) -> impl IntoView {
    view! {
        <span class="live" id="live-status" role="status" aria-live="polite"
            data-state=move || format!("{:?}", state.get()).to_lowercase()>
            <span class="live-dot" aria-hidden="true"></span>
            {move || state.get().label()}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_a_second_to_half_a_minute() {
        assert_eq!(backoff_ms(0, 1.0), 1_000);
        assert_eq!(backoff_ms(0, 0.0), 500);
        assert_eq!(backoff_ms(1, 1.0), 2_000);
        assert_eq!(backoff_ms(3, 1.0), 8_000);
        assert_eq!(backoff_ms(5, 1.0), 30_000);
        assert_eq!(backoff_ms(40, 1.0), 30_000, "capped, no overflow");
        assert_eq!(backoff_ms(40, 0.0), 15_000);
    }
}
