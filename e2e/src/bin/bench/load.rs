//! The load generator: keep-alive HTTP/1.1 connections on 127.0.0.1 (hyper), closed loop at
//! maximum concurrency or open loop at a fixed rate (unbounded connections for the latency
//! phase, a fixed pool for the overload phase); every request carries a fresh event id.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// A generator for `target`, which must be on the loopback interface: the bench never
    /// sends load anywhere else.
    pub fn new(templates: Vec<Template>, target: Target) -> Self {
        assert!(
            target.addr.ip().is_loopback(),
            "the bench only targets 127.0.0.1, not {}",
            target.addr
        );
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
            Style::Browser => format!(
                "/api/{}/envelope/?sentry_version=7&sentry_key={}&sentry_client=sentry.javascript.browser%2F11.19.0",
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
            Style::Browser => builder
                .header("content-type", "text/plain;charset=UTF-8")
                .header("origin", "https://shop.example.com")
                .header(
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
                ),
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

    /// Sends and reads the whole answer.
    pub async fn send(
        &mut self,
        request: Request<BoxBody<Bytes, Infallible>>,
    ) -> anyhow::Result<Answer> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let answer = Answer {
            status: response.status().as_u16(),
            retry_after: response.headers().contains_key("retry-after"),
            rate_limits: response.headers().contains_key("x-sentry-rate-limits"),
        };
        response.into_body().collect().await?;
        Ok(answer)
    }
}

/// What the server answered.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` was set.
    pub retry_after: bool,
    /// `X-Sentry-Rate-Limits` was set.
    pub rate_limits: bool,
}

/// A request without an answer.
#[derive(Clone, Copy, Debug)]
pub enum Failed {
    /// Connection refused or reset, a broken answer.
    Transport,
    /// No answer within the generator's per-request timeout.
    Timeout,
}

/// Shorthand for the loops that have no per-request timeout.
fn transport<T>(result: anyhow::Result<T>) -> Result<T, Failed> {
    result.map_err(|_| Failed::Transport)
}

/// Counters and latencies of one phase.
#[derive(Default)]
pub struct Tally {
    pub sent: u64,
    pub ok: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub with_retry_after: u64,
    /// 429 and 503 answers without `Retry-After`.
    pub retry_after_missing: u64,
    /// 429 answers without `X-Sentry-Rate-Limits`.
    pub rate_limits_missing: u64,
    /// Requests without an answer (transport errors and timeouts).
    pub errors: u64,
    /// Of `errors`, those that timed out.
    pub timeouts: u64,
    /// Open loop with a fixed pool: requests not sent because no connection was free when
    /// they were due (the client dropped them, as an SDK drops events when its queue is full).
    pub skipped: u64,
    /// Latency of each answered request from when it started to be sent, µs.
    pub latencies_us: Vec<u32>,
    /// Open loop: how late each request started after it was due (timer and generator lag), µs.
    pub lag_us: Vec<u32>,
    pub raw_bytes_ok: u64,
    pub wire_bytes_ok: u64,
    /// Event ids answered 200, with the instant the request started to be sent.
    pub accepted: Vec<(String, Instant)>,
    /// Event ids answered with another status (kept with `accepted`).
    pub rejected: Vec<String>,
    /// Event ids without an answer, with the instant the request started (kept with
    /// `accepted`).
    pub unanswered: Vec<(String, Instant)>,
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
        self.retry_after_missing += other.retry_after_missing;
        self.rate_limits_missing += other.rate_limits_missing;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.skipped += other.skipped;
        self.latencies_us.extend(other.latencies_us);
        self.lag_us.extend(other.lag_us);
        self.raw_bytes_ok += other.raw_bytes_ok;
        self.wire_bytes_ok += other.wire_bytes_ok;
        self.accepted.extend(other.accepted);
        self.rejected.extend(other.rejected);
        self.unanswered.extend(other.unanswered);
    }

    fn record(
        &mut self,
        prepared_ids: (String, usize, usize),
        due: Instant,
        sent_at: Instant,
        result: Result<Answer, Failed>,
        keep_ids: bool,
    ) {
        let micros = |d: Duration| d.as_micros().min(u128::from(u32::MAX)) as u32;
        self.sent += 1;
        self.lag_us
            .push(micros(sent_at.saturating_duration_since(due)));
        let (event_id, raw, wire) = prepared_ids;
        match result {
            Ok(answer) => {
                let status = answer.status;
                self.latencies_us.push(micros(sent_at.elapsed()));
                *self.statuses.entry(status).or_default() += 1;
                if answer.retry_after {
                    self.with_retry_after += 1;
                } else if status == 429 || status == 503 {
                    self.retry_after_missing += 1;
                }
                if status == 429 && !answer.rate_limits {
                    self.rate_limits_missing += 1;
                }
                if status == 200 {
                    self.ok += 1;
                    self.raw_bytes_ok += raw as u64;
                    self.wire_bytes_ok += wire as u64;
                    if keep_ids {
                        self.accepted.push((event_id, sent_at));
                    }
                } else if keep_ids {
                    self.rejected.push(event_id);
                }
            }
            Err(failed) => {
                self.errors += 1;
                if matches!(failed, Failed::Timeout) {
                    self.timeouts += 1;
                }
                if keep_ids && !event_id.is_empty() {
                    self.unanswered.push((event_id, sent_at));
                }
            }
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
            "retry_after_missing_on_429_503": self.retry_after_missing,
            "rate_limits_header_missing_on_429": self.rate_limits_missing,
            "transport_errors": self.errors,
            "timeouts": self.timeouts,
            "skipped_no_free_connection": self.skipped,
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
    closed_loop_until(
        generator,
        connections,
        duration,
        max_requests,
        keep_ids,
        None,
    )
    .await
}

/// [`closed_loop`] that also ends when `stop` is set; after `stop`, a connection whose request
/// failed is not reopened (the server is gone on purpose).
pub async fn closed_loop_until(
    generator: Arc<Generator>,
    connections: usize,
    duration: Duration,
    max_requests: u64,
    keep_ids: bool,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<Tally> {
    let stopped = move |stop: &Option<Arc<AtomicBool>>| {
        stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    };
    let start = Instant::now();
    let deadline = start + duration;
    let budget = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let generator = generator.clone();
        let budget = budget.clone();
        let stop = stop.clone();
        let mut conn = Conn::open(generator.addr()).await?;
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline
                && !stopped(&stop)
                && budget.fetch_add(1, Ordering::Relaxed) < max_requests
            {
                let prepared = generator.next();
                let due = Instant::now();
                let result = transport(conn.send(prepared.request).await);
                let failed = result.is_err();
                tally.record(
                    (prepared.event_id, prepared.raw_len, prepared.wire_len),
                    due,
                    due,
                    result,
                    keep_ids,
                );
                if failed && stopped(&stop) {
                    break;
                }
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
                    Err(_) => {
                        tally.record(
                            (String::new(), 0, 0),
                            due,
                            due,
                            Err(Failed::Transport),
                            false,
                        );
                        return tally;
                    }
                },
            };
            let result = transport(conn.send(prepared.request).await);
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

/// Open loop for the overload phase: `rate` requests per second for `duration` over a fixed
/// pool of `connections` keep-alive connections. A request due while every connection is busy
/// is not sent and counted as `skipped` (the client drops it, as an SDK drops events when its
/// transport queue is full), so the generator stays bounded in connections, memory and
/// requests (at most `rate × duration`) whatever the server does. A request without an answer
/// after `timeout` counts as a timeout and its connection is replaced. Returns once every sent
/// request has its answer or timed out. Event ids answered 200 are kept.
pub async fn open_loop_bounded(
    generator: Arc<Generator>,
    rate: u64,
    duration: Duration,
    connections: usize,
    timeout: Duration,
) -> anyhow::Result<Tally> {
    anyhow::ensure!(
        rate > 0 && connections > 0,
        "rate and connections must be > 0"
    );
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::with_capacity(connections)));
    for _ in 0..connections {
        let conn = Conn::open(generator.addr()).await?;
        pool.lock().expect("pool").push(conn);
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut issued = 0u64;
    let mut skipped = 0u64;
    while issued < total {
        // Everything due by now (tokio's timer has 1 ms resolution: catch up in bursts).
        let due_now = ((start.elapsed().as_secs_f64() * rate as f64) as u64 + 1).min(total);
        while issued < due_now {
            let due = start + Duration::from_secs_f64(issued as f64 / rate as f64);
            issued += 1;
            let pooled = pool.lock().expect("pool").pop();
            let Some(mut conn) = pooled else {
                skipped += 1;
                continue;
            };
            in_flight.fetch_add(1, Ordering::SeqCst);
            let generator = generator.clone();
            let pool = pool.clone();
            let tally = tally.clone();
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                let sent_at = Instant::now();
                let prepared = generator.next();
                let result = match tokio::time::timeout(timeout, conn.send(prepared.request)).await
                {
                    Ok(result) => transport(result),
                    Err(_) => Err(Failed::Timeout),
                };
                let failed = result.is_err();
                tally.lock().expect("tally").record(
                    (prepared.event_id, prepared.raw_len, prepared.wire_len),
                    due,
                    sent_at,
                    result,
                    true,
                );
                if failed {
                    // A fresh connection in its place (the pool shrinks if that fails too).
                    if let Ok(Ok(fresh)) =
                        tokio::time::timeout(timeout, Conn::open(generator.addr())).await
                    {
                        pool.lock().expect("pool").push(fresh);
                    }
                } else {
                    pool.lock().expect("pool").push(conn);
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
        if issued < total {
            let next = start + Duration::from_secs_f64(issued as f64 / rate as f64);
            tokio::time::sleep_until(next.into()).await;
        }
    }
    let sent_until = start.elapsed();
    // Every request ends within `timeout` (plus a reconnect's): wait for the stragglers.
    let deadline = Instant::now() + timeout * 2 + Duration::from_secs(5);
    while in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut sum = std::mem::take(&mut *tally.lock().expect("tally"));
    sum.skipped = skipped;
    // The offered window, not the wait for the last answers.
    sum.elapsed = sent_until;
    Ok(sum)
}
