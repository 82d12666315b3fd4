//! Live updates: one GraphQL subscription over a WebSocket (`/graphql/ws`, protocol
//! graphql-transport-ws), authenticated like the HTTP requests (session cookie + the CSRF token
//! in `connection_init`). The socket closes when the owning component is cleaned up; when the
//! server drops it, it reconnects after a pause, and `on_reconnect` lets the page reload what it
//! may have missed.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{MessageEvent, WebSocket};

/// Delay before reconnecting a dropped socket.
const RECONNECT_MS: i32 = 2_000;

/// The state shared by the socket's callbacks.
struct Inner {
    query: String,
    variables: Value,
    on_data: Box<dyn Fn(Value)>,
    on_reconnect: Box<dyn Fn()>,
    socket: Option<WebSocket>,
    closures: Vec<Closure<dyn FnMut(JsValueEvent)>>,
    stopped: bool,
    connected_once: bool,
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

/// Subscribes to `query` for as long as the current reactive owner lives; `on_data` gets each
/// `data` object pushed by the server.
pub fn subscribe(
    query: &str,
    variables: Value,
    on_data: impl Fn(Value) + 'static,
    on_reconnect: impl Fn() + 'static,
) {
    let inner = Rc::new(RefCell::new(Inner {
        query: query.to_owned(),
        variables,
        on_data: Box::new(on_data),
        on_reconnect: Box::new(on_reconnect),
        socket: None,
        closures: Vec::new(),
        stopped: false,
        connected_once: false,
    }));
    connect(&inner);
    let handle = SendWrapper::new(inner);
    on_cleanup(move || {
        let inner = handle.take();
        let mut state = inner.borrow_mut();
        state.stopped = true;
        if let Some(socket) = state.socket.take() {
            // Detach first: the callbacks are dropped with `inner` right after.
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            let _ = socket.close();
        }
    });
}

fn connect(inner: &Rc<RefCell<Inner>>) {
    let Some(url) = socket_url() else { return };
    let Ok(socket) = WebSocket::new_with_str(&url, "graphql-transport-ws") else {
        schedule_reconnect(inner);
        return;
    };

    let weak = Rc::downgrade(inner);
    let on_open = Closure::<dyn FnMut(JsValueEvent)>::new(move |_| {
        let Some(inner) = weak.upgrade() else { return };
        let state = inner.borrow();
        if let Some(socket) = &state.socket {
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
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            return;
        };
        match message.get("type").and_then(Value::as_str) {
            Some("connection_ack") => {
                let reconnected = {
                    let mut state = inner.borrow_mut();
                    let again = state.connected_once;
                    state.connected_once = true;
                    if let Some(socket) = &state.socket {
                        let subscribe = json!({
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": state.query, "variables": state.variables},
                        });
                        let _ = socket.send_with_str(&subscribe.to_string());
                    }
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
                leptos::logging::warn!("subscription refused: {text}");
            }
            _ => {}
        }
    });

    let weak = Rc::downgrade(inner);
    let on_close = Closure::<dyn FnMut(JsValueEvent)>::new(move |_| {
        if let Some(inner) = weak.upgrade() {
            inner.borrow_mut().socket = None;
            schedule_reconnect(&inner);
        }
    });

    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut state = inner.borrow_mut();
    state.socket = Some(socket);
    state.closures = vec![on_open, on_message, on_close];
}

fn schedule_reconnect(inner: &Rc<RefCell<Inner>>) {
    if inner.borrow().stopped {
        return;
    }
    let weak = Rc::downgrade(inner);
    let retry = Closure::once_into_js(move || {
        if let Some(inner) = weak.upgrade()
            && !inner.borrow().stopped
        {
            connect(&inner);
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
            retry.unchecked_ref(),
            RECONNECT_MS,
        );
    }
}
