//! Local HTTP receivers for alert webhooks, shared by the browser tests (the browser itself is
//! `errorwatch_e2e::browser`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use errorwatch_e2e::browser::STEP;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
pub struct Hook {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Its JSON body.
    pub json: Value,
}

#[derive(Default)]
struct Received {
    requests: Vec<Hook>,
    successes: usize,
}

/// An HTTP receiver on 127.0.0.1 for webhook targets: keeps every POST to `/hook` and answers
/// 200, or 500 while [`Receiver::set_failing`] is on.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    failing: Arc<AtomicBool>,
    state: Arc<Mutex<Received>>,
}

impl Receiver {
    pub async fn start(failing: bool) -> Self {
        let receiver = Self {
            url: String::new(),
            failing: Arc::new(AtomicBool::new(failing)),
            state: Arc::new(Mutex::new(Received::default())),
        };
        let handler = {
            let receiver = receiver.clone();
            move |headers: HeaderMap, body: Bytes| {
                let receiver = receiver.clone();
                async move {
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut state = receiver.state.lock().expect("lock");
                    state.requests.push(Hook {
                        headers,
                        body,
                        json,
                    });
                    if receiver.failing.load(Ordering::SeqCst) {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        state.successes += 1;
                        StatusCode::OK
                    }
                }
            }
        };
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, ..receiver }
    }

    /// Answer 500 (`true`) or 200 from now on.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Hook> {
        self.state.lock().expect("lock").requests.clone()
    }

    /// Requests answered 200.
    pub fn successes(&self) -> usize {
        self.state.lock().expect("lock").successes
    }

    /// The requests whose body has `"trigger": trigger`.
    pub fn with_trigger(&self, trigger: &str) -> Vec<Hook> {
        self.requests()
            .into_iter()
            .filter(|hook| hook.json["trigger"] == trigger)
            .collect()
    }

    /// Waits until `count` requests with `trigger` arrived; returns them.
    pub async fn wait_for(&self, trigger: &str, count: usize) -> Vec<Hook> {
        let deadline = Instant::now() + STEP;
        loop {
            let hooks = self.with_trigger(trigger);
            if hooks.len() >= count {
                return hooks;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} {trigger} webhooks after {STEP:?}",
                hooks.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
