//! The load generator: keep-alive HTTP/1.1 connections on 127.0.0.1 (hyper), closed loop at
//! maximum concurrency or open loop at a fixed rate; every request carries a fresh event id.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, combinators::BoxBody};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::corpus::{Style, Template, http_body};

/// Where requests go.
pub struct Target {
    pub addr: SocketAddr,
    pub project_id: i64,
    pub key: String,
}

/// Makes requests: round-robin over the corpus, fresh ids from a random base plus a counter.
pub struct Generator {
    templates: Vec<Template>,
    target: Target,
    host: String,
    base: u128,
    counter: AtomicU64,
}

/// One request about to be sent.
pub struct Prepared {
    pub request: Request<BoxBody<Bytes, Infallible>>,
    pub event_id: String,
    pub raw_len: usize,
    pub wire_len: usize,
}

impl Generator {
    pub fn new(templates: Vec<Template>, target: Target) -> Self {
        let host = target.addr.to_string();
        Self {
            templates,
            target,
            host,
            base: uuid::Uuid::new_v4().as_u128(),
            counter: AtomicU64::new(0),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.target.addr
    }

    pub fn next(&self) -> Prepared {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let template = &self.templates[(n % self.templates.len() as u64) as usize];
        let event_id = format!("{:032x}", self.base.wrapping_add(u128::from(n)));
        let mut id = [0u8; 32];
        id.copy_from_slice(event_id.as_bytes());
        let body = template.body(&id);
        let wire_len = body.wire.len();
        let builder = Request::post(match template.style {
            Style::Python => format!("/api/{}/envelope/", self.target.project_id),
            Style::Node => format!(
                "/api/{}/envelope/?sentry_version=7&sentry_key={}&sentry_client=sentry.javascript.node%2F11.12.0",
                self.target.project_id, self.target.key
            ),
        })
        .header("host", &self.host);
        let builder = match template.style {
            Style::Python => builder
                .header("content-type", "application/x-sentry-envelope")
                .header("content-encoding", "gzip")
                .header("accept-encoding", "identity")
                .header("user-agent", "sentry.python/2.75.0")
                .header(
                    "x-sentry-auth",
                    format!(
                        "Sentry sentry_key={}, sentry_version=7, sentry_client=sentry.python/2.75.0",
                        self.target.key
                    ),
                ),
            Style::Node => builder.header("user-agent", "sentry.javascript.node/11.12.0"),
        };
        let request = builder
            .body(http_body(template.style, body.wire))
            .expect("a valid request");
        Prepared {
            request,
            event_id,
            raw_len: body.raw_len,
            wire_len,
        }
    }
}

/// One keep-alive connection.
pub struct Conn {
    sender: SendRequest<BoxBody<Bytes, Infallible>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Sends and reads the whole answer; returns the status and whether `Retry-After` was set.
    pub async fn send(
        &mut self,
        request: Request<BoxBody<Bytes, Infallible>>,
    ) -> anyhow::Result<(u16, bool)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        response.into_body().collect().await?;
        Ok((status, retry_after))
    }
}

/// Counters and latencies of one phase.
#[derive(Default)]
pub struct Tally {
    pub sent: u64,
    pub ok: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub with_retry_after: u64,
    pub errors: u64,
    /// Latency of each answered request from when it started to be sent, µs.
    pub latencies_us: Vec<u32>,
    /// Open loop: how late each request started after it was due (timer and generator lag), µs.
    pub lag_us: Vec<u32>,
    pub raw_bytes_ok: u64,
    pub wire_bytes_ok: u64,
    /// Event ids answered 200, with the instant the request started to be sent.
    pub accepted: Vec<(String, Instant)>,
    pub elapsed: Duration,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.with_retry_after += other.with_retry_after;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
        self.lag_us.extend(other.lag_us);
        self.raw_bytes_ok += other.raw_bytes_ok;
        self.wire_bytes_ok += other.wire_bytes_ok;
        self.accepted.extend(other.accepted);
    }

    fn record(
        &mut self,
        prepared_ids: (String, usize, usize),
        due: Instant,
        sent_at: Instant,
        result: anyhow::Result<(u16, bool)>,
        keep_ids: bool,
    ) {
        let micros = |d: Duration| d.as_micros().min(u128::from(u32::MAX)) as u32;
        self.sent += 1;
        self.lag_us
            .push(micros(sent_at.saturating_duration_since(due)));
        match result {
            Ok((status, retry_after)) => {
                self.latencies_us.push(micros(sent_at.elapsed()));
                *self.statuses.entry(status).or_default() += 1;
                if retry_after {
                    self.with_retry_after += 1;
                }
                if status == 200 {
                    self.ok += 1;
                    let (event_id, raw, wire) = prepared_ids;
                    self.raw_bytes_ok += raw as u64;
                    self.wire_bytes_ok += wire as u64;
                    if keep_ids {
                        self.accepted.push((event_id, sent_at));
                    }
                }
            }
            Err(_) => self.errors += 1,
        }
    }

    pub fn ok_per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p` quantile (0..=1) of the latencies, ms.
    pub fn latency_ms(&self, p: f64) -> Option<f64> {
        quantile_ms(&self.latencies_us, p)
    }

    pub fn json(&self) -> Value {
        json!({
            "sent": self.sent,
            "ok_200": self.ok,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "with_retry_after": self.with_retry_after,
            "transport_errors": self.errors,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "accepted_per_s": self.ok_per_s(),
            "latency_ms": {
                "p50": self.latency_ms(0.50),
                "p90": self.latency_ms(0.90),
                "p99": self.latency_ms(0.99),
                "p999": self.latency_ms(0.999),
                "max": self.latency_ms(1.0),
            },
            "start_lag_ms": { "p50": quantile_ms(&self.lag_us, 0.5), "p99": quantile_ms(&self.lag_us, 0.99), "max": quantile_ms(&self.lag_us, 1.0) },
            "raw_envelope_bytes_ok": self.raw_bytes_ok,
            "wire_bytes_ok": self.wire_bytes_ok,
        })
    }
}

fn quantile_ms(values: &[u32], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_unstable();
    Some(f64::from(quantile(&sorted, p)) / 1000.0)
}

/// The value at quantile `p` of sorted `values` (nearest rank).
pub fn quantile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Closed loop: `connections` connections, each sending its next request as soon as the last
/// was answered, until `duration` has passed or `max_requests` were sent.
pub async fn closed_loop(
    generator: Arc<Generator>,
    connections: usize,
    duration: Duration,
    max_requests: u64,
    keep_ids: bool,
) -> anyhow::Result<Tally> {
    let start = Instant::now();
    let deadline = start + duration;
    let budget = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let generator = generator.clone();
        let budget = budget.clone();
        let mut conn = Conn::open(generator.addr()).await?;
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline && budget.fetch_add(1, Ordering::Relaxed) < max_requests
            {
                let prepared = generator.next();
                let due = Instant::now();
                let result = conn.send(prepared.request).await;
                let failed = result.is_err();
                tally.record(
                    (prepared.event_id, prepared.raw_len, prepared.wire_len),
                    due,
                    due,
                    result,
                    keep_ids,
                );
                if failed {
                    match Conn::open(generator.addr()).await {
                        Ok(fresh) => conn = fresh,
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// Open loop: `rate` requests per second for `duration`, each sent when due whatever the
/// earlier ones are doing (on an idle pooled connection, or a new one), so a stalled server
/// cannot hide its queue (no coordinated omission). Latency counts from when the request
/// started (connection wait included); how late that was after it was due (tokio's 1 ms timer,
/// a busy box) is reported apart as the start lag.
pub async fn open_loop(
    generator: Arc<Generator>,
    rate: u64,
    duration: Duration,
    keep_ids: bool,
) -> anyhow::Result<Tally> {
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..16 {
        let conn = Conn::open(generator.addr()).await?;
        pool.lock().expect("pool").push(conn);
    }
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let generator = generator.clone();
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let sent_at = Instant::now();
            let prepared = generator.next();
            let pooled = pool.lock().expect("pool").pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => match Conn::open(generator.addr()).await {
                    Ok(conn) => conn,
                    Err(e) => {
                        tally.record((String::new(), 0, 0), due, due, Err(e), false);
                        return tally;
                    }
                },
            };
            let result = conn.send(prepared.request).await;
            let failed = result.is_err();
            tally.record(
                (prepared.event_id, prepared.raw_len, prepared.wire_len),
                due,
                sent_at,
                result,
                keep_ids,
            );
            if !failed {
                pool.lock().expect("pool").push(conn);
            }
            tally
        }));
    }
    let mut sum = Tally::default();
    for task in tasks {
        sum.merge(task.await?);
    }
    sum.elapsed = start.elapsed();
    Ok(sum)
}
