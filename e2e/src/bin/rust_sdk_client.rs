//! A real Rust Sentry SDK client (the `sentry` crate from crates.io) for the e2e tests: sends
//! one of everything to `SENTRY_DSN` through the crate's own reqwest transport.
//!
//! Env: `SENTRY_DSN` (required), `E2E_RUN` (run tag, the `e2e.run` tag on every event).
//!
//! Without arguments it drives two child processes of itself and checks what they report:
//! * `--send`: an `anyhow` error with a source chain (`capture_anyhow`, with a backtrace) after a
//!   breadcrumb, tags (`e2e.run`, `sdk`=rust), a user and an `e2e` context were set, with a
//!   `report.txt` attachment on its scope; a message; a transaction with two child spans; a cron
//!   check-in pair (`MonitorCheckIn` envelopes: the crate has the protocol type but no helper);
//!   the release-health session (`auto_session_tracking`), ended explicitly; then
//!   `client.close(10 s)`. (The crate has no user-feedback API, so none is sent.)
//! * `--panic`: an uncaught panic on the main thread, reported by the panic integration; the
//!   process exits 101 and its session ends crashed.
//!
//! The crate's transport does not expose HTTP statuses, so the children run with `debug: true`
//! and the driver reads the SDK's own debug lines from their stderr: one `Get response:` per
//! request (an error body carries `"detail"`), `Failed to send envelope` on network errors. It
//! prints a JSON summary (ids, item types per envelope, responses) and exits 1 on any failure.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use sentry::protocol::{
    Attachment, Breadcrumb, Context, EnvelopeItem, Level, MonitorCheckIn, MonitorCheckInStatus,
    MonitorConfig, MonitorSchedule, User,
};
use sentry::transports::ReqwestHttpTransportOptions;
use sentry::{ClientOptions, Envelope, SessionMode, Transport, TransportOptions};
use serde_json::{Value, json};

const RELEASE: &str = "e2e@1.0.0";
const ENVIRONMENT: &str = "e2e";

fn main() -> ExitCode {
    // reqwest is built with `rustls-no-provider`: use ring, as the rest of the workspace does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match std::env::args().nth(1).as_deref() {
        Some("--send") => send(),
        Some("--panic") => panic_child(),
        None => drive(),
        Some(other) => Err(anyhow::anyhow!(
            "unknown argument {other:?}: use no argument, --send or --panic"
        )),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("rust_sdk_client: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Item types of every envelope handed to the transport, in order.
type Sent = Arc<Mutex<Vec<Vec<&'static str>>>>;

/// The crate's reqwest transport, recording the item types of each envelope it is given.
struct RecordingTransport {
    inner: Arc<dyn Transport>,
    sent: Sent,
}

impl Transport for RecordingTransport {
    fn send_envelope(&self, envelope: Envelope) {
        let items = envelope.items().map(item_type).collect();
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(items);
        }
        self.inner.send_envelope(envelope);
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.inner.flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutdown(timeout)
    }
}

fn item_type(item: &EnvelopeItem) -> &'static str {
    match item {
        EnvelopeItem::Event(_) => "event",
        EnvelopeItem::SessionUpdate(_) => "session",
        EnvelopeItem::SessionAggregates(_) => "sessions",
        EnvelopeItem::Transaction(_) => "transaction",
        EnvelopeItem::Attachment(_) => "attachment",
        EnvelopeItem::MonitorCheckIn(_) => "check_in",
        EnvelopeItem::ClientReport(_) => "client_report",
        _ => "other",
    }
}

/// Initialises the SDK with the options every child uses, and the scope data.
fn init(sent: &Sent) -> anyhow::Result<(sentry::ClientInitGuard, String)> {
    let dsn = std::env::var("SENTRY_DSN").context("SENTRY_DSN is not set")?;
    let run = std::env::var("E2E_RUN").unwrap_or_else(|_| "manual".to_owned());
    let recorder = sent.clone();
    let factory = move |options: &ClientOptions| -> Arc<dyn Transport> {
        let inner: Arc<dyn Transport> = match TransportOptions::try_from_client_options(options) {
            Some(general) => Arc::new(ReqwestHttpTransportOptions::from(general).build()),
            None => Arc::new(NoTransport),
        };
        Arc::new(RecordingTransport {
            inner,
            sent: recorder.clone(),
        })
    };
    let dsn: sentry::types::Dsn = dsn.parse().context("SENTRY_DSN is not a valid DSN")?;
    let mut options = ClientOptions::new()
        .release(RELEASE)
        .environment(ENVIRONMENT)
        .traces_sample_rate(1.0)
        .send_default_pii(true)
        .attach_stacktrace(true)
        .debug(true)
        .auto_session_tracking(true)
        .session_mode(SessionMode::Application)
        .transport(factory);
    options.dsn = Some(dsn);
    let guard = sentry::init(options);
    anyhow::ensure!(guard.is_enabled(), "the Sentry client is not enabled");
    sentry::configure_scope(|scope| {
        scope.set_tag("e2e.run", &run);
        scope.set_tag("sdk", "rust");
        scope.set_user(Some(User {
            id: Some("user-42".into()),
            email: Some("e2e@example.com".into()),
            username: Some("e2e".into()),
            ..Default::default()
        }));
        let mut context = BTreeMap::new();
        context.insert("run".to_owned(), Value::from(run.clone()));
        context.insert("program".to_owned(), Value::from("rust_sdk_client"));
        context.insert("pid".to_owned(), Value::from(std::process::id()));
        scope.set_context("e2e", Context::Other(context));
    });
    Ok((guard, run))
}

/// Stands in when the DSN yields no transport options (never with a valid DSN).
struct NoTransport;

impl Transport for NoTransport {
    fn send_envelope(&self, _envelope: Envelope) {}
}

fn breadcrumb(message: &str, step: u64) {
    let mut data = BTreeMap::new();
    data.insert("step".to_owned(), Value::from(step));
    sentry::add_breadcrumb(Breadcrumb {
        category: Some("e2e".into()),
        message: Some(message.into()),
        level: Level::Info,
        data,
        ..Default::default()
    });
}

fn load_price(cart: &BTreeMap<&str, u32>) -> Result<u32, std::io::Error> {
    cart.get("price").copied().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "price missing in the cart")
    })
}

fn checkout(cart: &BTreeMap<&str, u32>) -> anyhow::Result<u32> {
    load_price(cart).context("checkout failed")
}

fn check_in(status: MonitorCheckInStatus, id: sentry::types::Uuid, duration: Option<f64>) {
    let check_in = MonitorCheckIn {
        check_in_id: id,
        monitor_slug: "e2e-nightly".into(),
        status,
        environment: Some(ENVIRONMENT.into()),
        duration,
        monitor_config: Some(MonitorConfig {
            schedule: MonitorSchedule::Crontab {
                value: "0 3 * * *".into(),
            },
            checkin_margin: Some(5),
            max_runtime: Some(10),
            timezone: Some("UTC".into()),
            failure_issue_threshold: None,
            recovery_threshold: None,
        }),
    };
    if let Some(client) = sentry::Hub::current().client() {
        client.send_envelope(check_in.into());
    }
}

/// `--send`: everything but the crash. Prints `{"ids":…, "envelopes":…}` on stdout.
fn send() -> anyhow::Result<bool> {
    let sent = Sent::default();
    let (guard, _run) = init(&sent)?;
    let mut ids = serde_json::Map::new();

    breadcrumb("before the handled error", 1);
    let cart = BTreeMap::from([("sku", 1)]);
    let error = match checkout(&cart) {
        Ok(_) => anyhow::bail!("checkout unexpectedly succeeded"),
        Err(error) => error,
    };
    let handled = sentry::with_scope(
        |scope| {
            scope.add_attachment(Attachment {
                buffer: b"e2e attachment from the rust sdk\n".to_vec(),
                filename: "report.txt".into(),
                content_type: Some("text/plain".into()),
                ty: None,
            })
        },
        || sentry::integrations::anyhow::capture_anyhow(&error),
    );
    ids.insert("handled".into(), json!(handled.simple().to_string()));

    breadcrumb("before the message", 2);
    let message = sentry::capture_message("e2e rust message", Level::Warning);
    ids.insert("message".into(), json!(message.simple().to_string()));

    let transaction = sentry::start_transaction(sentry::TransactionContext::new(
        "e2e rust transaction",
        "e2e.task",
    ));
    ids.insert(
        "transaction_trace_id".into(),
        json!(transaction.get_trace_context().trace_id.to_string()),
    );
    sentry::configure_scope(|scope| scope.set_span(Some(transaction.clone().into())));
    for (op, description) in [("db.query", "SELECT 1"), ("http.client", "GET /price")] {
        let span = transaction.start_child(op, description);
        std::thread::sleep(Duration::from_millis(10));
        span.finish();
    }
    transaction.finish();
    sentry::configure_scope(|scope| scope.set_span(None));

    let check_in_id = sentry::types::random_uuid();
    check_in(MonitorCheckInStatus::InProgress, check_in_id, None);
    check_in(MonitorCheckInStatus::Ok, check_in_id, Some(0.5));
    ids.insert("check_in".into(), json!(check_in_id.simple().to_string()));

    sentry::end_session();
    let closed = guard.close(Some(Duration::from_secs(10)));
    let envelopes = sent.lock().map(|s| s.clone()).unwrap_or_default();
    println!(
        "{}",
        json!({ "ids": ids, "envelopes": envelopes, "closed_in_time": closed })
    );
    Ok(closed)
}

/// `--panic`: an uncaught panic on the main thread. The event id is printed from `before_send`.
fn panic_child() -> anyhow::Result<bool> {
    let sent = Sent::default();
    let (guard, _run) = init(&sent)?;
    // Print the id of the panic event and the envelopes sent once the client shuts down.
    sentry::configure_scope(|scope| {
        scope.add_event_processor(|event| {
            println!(
                "{}",
                json!({ "unhandled": event.event_id.simple().to_string() })
            );
            Some(event)
        })
    });
    breadcrumb("before the unhandled error", 9);
    let _report_on_exit = ReportOnDrop {
        sent: sent.clone(),
        _guard: guard,
    };
    let config: BTreeMap<&str, &str> = BTreeMap::new();
    let url = config
        .get("database_url")
        .map(|u| u.to_string())
        .ok_or("no database_url");
    panic!("unhandled e2e crash: {url:?}");
}

/// Closes the client (sending the crash and the session), then prints what was sent. Runs
/// while the panic unwinds.
struct ReportOnDrop {
    sent: Sent,
    _guard: sentry::ClientInitGuard,
}

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        if let Some(client) = sentry::Hub::current().client() {
            client.close(Some(Duration::from_secs(10)));
        }
        let envelopes = self.sent.lock().map(|s| s.clone()).unwrap_or_default();
        println!("{}", json!({ "envelopes": envelopes }));
    }
}

/// Output of one child: its stdout JSON lines, and what the SDK's debug lines said.
struct ChildRun {
    status: Option<i32>,
    stdout: Vec<Value>,
    responses: Vec<String>,
    failures: Vec<String>,
    stderr: String,
}

fn run_child(arg: &str) -> anyhow::Result<ChildRun> {
    let exe = std::env::current_exe().context("locating this program")?;
    let output = Command::new(exe)
        .arg(arg)
        // anyhow and the panic integration attach backtraces.
        .env("RUST_BACKTRACE", "1")
        .output()
        .with_context(|| format!("running {arg}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut responses = Vec::new();
    let mut failures = Vec::new();
    for line in stderr.lines() {
        if let Some(body) = line.strip_prefix("[sentry] Get response: ") {
            if body.contains("\"detail\"") {
                failures.push(format!("error response: {body}"));
            }
            responses.push(body.trim_matches('`').to_owned());
        } else if line.starts_with("[sentry] Failed to")
            || line.contains("Payload too large")
            || line.contains("rate limit")
        {
            failures.push(line.to_owned());
        }
    }
    Ok(ChildRun {
        status: output.status.code(),
        stdout,
        responses,
        failures,
        stderr,
    })
}

fn envelopes_of(run: &ChildRun) -> Vec<Value> {
    run.stdout
        .iter()
        .filter_map(|v| v.get("envelopes").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect()
}

/// Runs both children and checks that every envelope got a successful answer.
fn drive() -> anyhow::Result<bool> {
    std::env::var("SENTRY_DSN").context("SENTRY_DSN is not set")?;
    let send = run_child("--send")?;
    let crash = run_child("--panic")?;
    let mut problems = Vec::new();
    let mut ids = send
        .stdout
        .iter()
        .find_map(|v| v.get("ids").and_then(Value::as_object).cloned())
        .unwrap_or_default();
    if let Some(id) = crash
        .stdout
        .iter()
        .find_map(|v| v.get("unhandled").cloned())
    {
        ids.insert("unhandled".into(), id);
    }
    for name in ["handled", "message", "unhandled"] {
        match ids.get(name).and_then(Value::as_str) {
            Some(id) if id.chars().any(|c| c != '0') => {}
            _ => problems.push(format!("no event id for {name}")),
        }
    }
    if send.status != Some(0) {
        problems.push(format!(
            "--send exited {:?}; stderr:\n{}",
            send.status, send.stderr
        ));
    }
    if crash.status != Some(101) || !crash.stderr.contains("unhandled e2e crash") {
        problems.push(format!(
            "--panic exited {:?}, expected 101 with the panic; stderr:\n{}",
            crash.status, crash.stderr
        ));
    }
    for (label, child) in [("send", &send), ("panic", &crash)] {
        let envelopes = envelopes_of(child);
        if envelopes.is_empty() {
            problems.push(format!("{label}: the transport sent nothing"));
        }
        if child.responses.len() != envelopes.len() {
            problems.push(format!(
                "{label}: {} envelopes but {} responses",
                envelopes.len(),
                child.responses.len()
            ));
        }
        problems.extend(child.failures.iter().map(|f| format!("{label}: {f}")));
    }
    let summary = json!({
        "sdk": "sentry.rust",
        "user_agent": ClientOptions::new().user_agent,
        "run": std::env::var("E2E_RUN").unwrap_or_else(|_| "manual".to_owned()),
        "ids": ids,
        "envelopes": envelopes_of(&send),
        "responses": send.responses,
        "child_envelopes": envelopes_of(&crash),
        "child_responses": crash.responses,
        "child_exit_code": crash.status,
        "feedback_api": "none in the sentry crate",
        "problems": problems,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).context("serializing the summary")?
    );
    Ok(problems.is_empty())
}
