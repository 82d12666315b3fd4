//! `bench --alerts`: ingest → notification delivered, per event, at a fixed rate (issue 10's
//! "p95 under 2 s at 100 events/s").
//!
//! Runs the release `errorwatch serve` on a fresh database (SQLite, or PostgreSQL with `--db
//! postgres`) with private targets allowed (the receiver is on 127.0.0.1) and the hourly
//! notification cap raised; creates, through GraphQL with an API token, a webhook target to a
//! receiver in this process and a `NEW_ISSUE` rule. Then it sends events open loop at a fixed
//! rate (default 100/s for 20 s), each with a fingerprint of its own, so that every event
//! creates an issue and every issue one notification: the path measured is the whole one,
//! ingest → spool → digest → `evaluate_alerts` job → `deliver_notification` job → HTTP POST.
//! (A frequency rule would fire once per issue per window, so most events would measure
//! nothing.) The time of an event is from the start of its ingest request to the receiver
//! getting its webhook (matched by the title, `bench alert <n>`). From the database, after the
//! run, each notification's `created_at` (the evaluation) and `sent_at` split that time in two.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use serde_json::{Value, json};
use sqlx::Row;

use crate::DbKind;
use crate::procs::{self, Db};

/// How `--alerts` runs.
pub struct Options {
    /// Events per second.
    pub rate: u64,
    /// How long events are sent.
    pub duration: Duration,
    /// How long to wait for the last webhooks after the load.
    pub drain_timeout: Duration,
}

/// What the receiver saw of event `n`: when its webhooks arrived and the issue id in the
/// first one's link.
#[derive(Default)]
struct Seen {
    arrivals: Vec<Instant>,
    issue_id: Option<i64>,
}

type Received = Arc<Mutex<HashMap<u64, Seen>>>;

/// One event sent.
struct Sent {
    n: u64,
    started: Instant,
    wall: SystemTime,
    status: Option<u16>,
}

/// Starts the receiver: notes each webhook's arrival by the event number in its title.
async fn start_receiver() -> anyhow::Result<(String, Received, Arc<Mutex<u64>>)> {
    let received: Received = Arc::default();
    let unmatched = Arc::new(Mutex::new(0u64));
    let handler = {
        let received = received.clone();
        let unmatched = unmatched.clone();
        move |body: Bytes| {
            let received = received.clone();
            let unmatched = unmatched.clone();
            async move {
                let at = Instant::now();
                let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let n = json["title"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("bench alert "))
                    .and_then(|n| n.trim().parse::<u64>().ok());
                let issue_id = json["url"]
                    .as_str()
                    .and_then(|u| u.rsplit("/iss_").next())
                    .and_then(|id| id.parse::<i64>().ok());
                match n {
                    Some(n) => {
                        let mut received = received.lock().expect("lock");
                        let seen = received.entry(n).or_default();
                        seen.arrivals.push(at);
                        seen.issue_id = seen.issue_id.or(issue_id);
                    }
                    None => *unmatched.lock().expect("lock") += 1,
                }
                "ok"
            }
        }
    };
    let router = axum::Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((url, received, unmatched))
}

/// A GraphQL request with the API token; the `data`, or an error with the answer.
async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let answer: Value = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(answer.get("errors").is_none(), "{query}: {answer}");
    Ok(answer["data"].clone())
}

/// Sends event `n` of run `run` (a new issue: its fingerprint is its own); returns the status.
async fn send_event(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    run: &str,
    n: u64,
) -> Option<u16> {
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let event = json!({
        "event_id": event_id,
        "message": format!("bench alert {n}"),
        "level": "error",
        "platform": "other",
        "fingerprint": [format!("bench-alert-{run}-{n}")],
        "timestamp": chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
    });
    let body = format!("{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\"}}\n{event}\n");
    let response = client
        .post(url)
        .header("x-sentry-auth", auth)
        .header("content-type", "application/x-sentry-envelope")
        .body(body)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// Quantile `p` of `sorted` values, counting `missing` ones as slower than any.
fn quantile(sorted: &[f64], missing: usize, p: f64) -> Option<f64> {
    let n = sorted.len() + missing;
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n.max(1));
    sorted.get(rank - 1).copied()
}

fn summary(mut values: Vec<f64>, missing: usize) -> Value {
    values.sort_by(f64::total_cmp);
    json!({
        "count": values.len(),
        "missing": missing,
        "p50": quantile(&values, missing, 0.50),
        "p95": quantile(&values, missing, 0.95),
        "p99": quantile(&values, missing, 0.99),
        "max": if missing == 0 { values.last().copied() } else { None },
    })
}

/// A timestamp as the database gives it as text (SQLite: RFC 3339; PostgreSQL:
/// `2026-11-24 12:00:00.123+00`).
fn parse_time(text: &str) -> Option<SystemTime> {
    let mut text = text.trim().replacen(' ', "T", 1);
    if let Some(at) = text.rfind(['+', '-'])
        && at > 10
        && text.len() - at == 3
    {
        text.push_str(":00");
    }
    let time = chrono::DateTime::parse_from_rfc3339(&text).ok()?;
    let micros = u64::try_from(time.timestamp_micros()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_micros(micros))
}

/// A notification's evaluation (`created_at`) and delivery (`sent_at`) times.
type Times = (Option<SystemTime>, Option<SystemTime>);

/// Each rule notification's times by issue id, from the database.
async fn notification_times(db: &Db) -> anyhow::Result<HashMap<i64, Times>> {
    let sql = "SELECT issue_id, CAST(created_at AS TEXT), CAST(sent_at AS TEXT) FROM notifications \
               WHERE rule_id IS NOT NULL";
    let read = |row: &dyn Fn(usize) -> Option<String>, id: i64| {
        (
            id,
            (
                row(1).as_deref().and_then(parse_time),
                row(2).as_deref().and_then(parse_time),
            ),
        )
    };
    let rows: Vec<(i64, Times)> = match db {
        Db::Sqlite(pool, _) => sqlx::query(sql)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| read(&|i| r.get::<Option<String>, _>(i), r.get(0)))
            .collect(),
        Db::Postgres(pool) => sqlx::query(sql)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| read(&|i| r.get::<Option<String>, _>(i), r.get(0)))
            .collect(),
    };
    Ok(rows.into_iter().collect())
}

/// Runs the measurement; returns its JSON report.
pub async fn run(
    bin: &Path,
    kind: DbKind,
    repo: &Path,
    options: &Options,
) -> anyhow::Result<Value> {
    let (data, postgres, database_url) =
        procs::fresh_database(kind == DbKind::Postgres, repo).await?;
    let port = errorwatch_e2e::free_port();
    let mut env = procs::server_env(&database_url, port, repo);
    env.extend(
        [
            // The receiver is on 127.0.0.1.
            ("ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS", "true"),
            // Every event is a notification: well over the default 500 an hour.
            ("ERRORWATCH_ALERTS_MAX_PER_HOUR", "1000000"),
            ("ERRORWATCH_API_RATE_LIMIT_PER_MINUTE", "100000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let mut server = procs::start_errorwatch(bin, &env, port).await?;
    let result = measure(bin, &env, port, kind, &data, postgres.as_ref(), options).await;
    server.stop(Duration::from_secs(20));
    if let Some(pg) = &postgres {
        pg.drop_database().await;
    }
    result
}

async fn measure(
    bin: &Path,
    env: &[(String, String)],
    port: u16,
    kind: DbKind,
    data: &tempfile::TempDir,
    postgres: Option<&procs::Postgres>,
    options: &Options,
) -> anyhow::Result<Value> {
    let (project, key, _) = procs::create_project(bin, env)?;
    let token = procs::create_token(
        bin,
        env,
        "bench",
        "bench@bench.example.com",
        "alerts",
        "admin",
    )?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    let api = format!("http://127.0.0.1:{port}/graphql");
    let (hook_url, received, unmatched) = start_receiver().await?;
    let account = graphql(
        &client,
        &api,
        &token,
        "{ viewer { accounts { id } } }",
        json!({}),
    )
    .await?["viewer"]["accounts"][0]["id"]
        .clone();
    let target = graphql(
        &client,
        &api,
        &token,
        "mutation($a: ID!, $u: String!) { createAlertTarget(accountId: $a, input: {name: \"bench\", kind: WEBHOOK, url: $u}) { id } }",
        json!({"a": account, "u": hook_url}),
    )
    .await?["createAlertTarget"]["id"]
        .clone();
    graphql(
        &client,
        &api,
        &token,
        "mutation($p: ID!, $t: ID!) { createAlertRule(projectId: $p, input: {name: \"every new issue\", trigger: NEW_ISSUE, targetIds: [$t]}) { id } }",
        json!({"p": format!("prj_{project}"), "t": target}),
    )
    .await?;

    let ingest = format!("http://127.0.0.1:{port}/api/{project}/envelope/");
    let auth = format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=bench/1.0");
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();

    // Warm-up: a few events end to end (connections, caches, the workers' first polls).
    const WARM: u64 = 5;
    for n in 0..WARM {
        anyhow::ensure!(
            send_event(&client, &ingest, &auth, &run, 1_000_000 + n).await == Some(200),
            "a warm-up event was refused"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.lock().expect("lock").len() < WARM as usize {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the warm-up events' webhooks did not arrive within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    received.lock().expect("lock").clear();

    // The load: open loop, one event every 1/rate s, whatever the answers take.
    let total = (options.rate as f64 * options.duration.as_secs_f64()).round() as u64;
    eprintln!(
        "    {total} events at {}/s ({:?}), each a new issue with a webhook",
        options.rate, options.duration
    );
    let period = Duration::from_secs_f64(1.0 / options.rate as f64);
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let load_started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        tokio::time::sleep_until((load_started + period * n as u32).into()).await;
        let (client, ingest, auth, run, sent) = (
            client.clone(),
            ingest.clone(),
            auth.clone(),
            run.clone(),
            sent.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (started, wall) = (Instant::now(), SystemTime::now());
            let status = send_event(&client, &ingest, &auth, &run, n).await;
            sent.lock().expect("lock").push(Sent {
                n,
                started,
                wall,
                status,
            });
        }));
    }
    for task in tasks {
        task.await?;
    }
    let load_secs = load_started.elapsed().as_secs_f64();
    let sent = std::mem::take(&mut *sent.lock().expect("lock"));
    let accepted: Vec<&Sent> = sent.iter().filter(|s| s.status == Some(200)).collect();

    // Wait for the webhooks of every accepted event (or give up).
    let deadline = Instant::now() + options.drain_timeout;
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        let count = {
            let received = received.lock().expect("lock");
            accepted
                .iter()
                .filter(|s| received.contains_key(&s.n))
                .count()
        };
        if count == accepted.len() || Instant::now() >= deadline {
            break;
        }
        if count != last_count {
            (last_count, last_progress) = (count, Instant::now());
        } else if last_progress.elapsed() > Duration::from_secs(30) {
            eprintln!("    no webhook for 30 s: giving up");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Late duplicates would show within a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let db = match postgres {
        Some(pg) => Db::connect_postgres(&pg.url).await?,
        None => Db::connect_sqlite(&data.path().join("errorwatch.db")).await?,
    };
    let times = notification_times(&db).await?;
    db.close().await;

    let received = received.lock().expect("lock");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let since = |later: SystemTime, earlier: SystemTime| {
        later
            .duration_since(earlier)
            .map(ms)
            .unwrap_or_else(|e| -ms(e.duration()))
    };
    let (mut delivered, mut to_evaluated, mut evaluated_to_sent) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut duplicates = 0;
    for s in &accepted {
        let Some(seen) = received.get(&s.n) else {
            continue;
        };
        duplicates += seen.arrivals.len().saturating_sub(1);
        if let Some(first) = seen.arrivals.iter().min() {
            delivered.push(ms(first.duration_since(s.started)));
        }
        if let Some((Some(created), sent_at)) = seen.issue_id.and_then(|id| times.get(&id)) {
            to_evaluated.push(since(*created, s.wall));
            if let Some(sent_at) = sent_at {
                evaluated_to_sent.push(since(*sent_at, *created));
            }
        }
    }
    let missing = accepted.len() - delivered.len();
    let delivered_ms = summary(delivered, missing);
    let statuses = sent.iter().fold(HashMap::<String, u64>::new(), |mut m, s| {
        *m.entry(
            s.status
                .map_or("transport error".to_owned(), |c| c.to_string()),
        )
        .or_default() += 1;
        m
    });
    let p95 = delivered_ms["p95"].as_f64();
    println!();
    println!(
        "alerts ({}): {total} events at {}/s over {load_secs:.1} s, each a new issue with one webhook",
        kind.name(),
        options.rate
    );
    println!("| {:<44} | {:>12} |", "figure", "value");
    println!("|{:-<46}|{:->14}|", "", "");
    let row = |name: &str, value: String| println!("| {name:<44} | {value:>12} |");
    let fmt = |v: &Value| {
        v.as_f64()
            .map_or("n/a".to_owned(), |v| format!("{v:.0} ms"))
    };
    row("accepted (200)", accepted.len().to_string());
    row(
        "webhooks delivered / expected",
        format!("{} / {}", accepted.len() - missing, accepted.len()),
    );
    row("duplicate webhooks", duplicates.to_string());
    row("ingest -> webhook p50", fmt(&delivered_ms["p50"]));
    row(
        "ingest -> webhook p95 (target < 2 s)",
        fmt(&delivered_ms["p95"]),
    );
    row("ingest -> webhook p99", fmt(&delivered_ms["p99"]));
    row("ingest -> webhook max", fmt(&delivered_ms["max"]));
    let evaluated = summary(to_evaluated, 0);
    let sending = summary(evaluated_to_sent, 0);
    row("  ingest -> notification row p95", fmt(&evaluated["p95"]));
    row("  notification row -> sent p95", fmt(&sending["p95"]));
    println!(
        "target met: {}",
        if p95.is_some_and(|v| v < 2000.0) {
            "yes"
        } else {
            "NO"
        }
    );
    Ok(json!({
        "rate_per_s": options.rate,
        "load_seconds": load_secs,
        "events": total,
        "statuses": statuses,
        "accepted": accepted.len(),
        "webhooks_delivered": accepted.len() - missing,
        "webhooks_missing": missing,
        "duplicate_webhooks": duplicates,
        "unmatched_webhooks": *unmatched.lock().expect("lock"),
        "ingest_to_webhook_ms": delivered_ms,
        "ingest_to_notification_row_ms": evaluated,
        "notification_row_to_sent_ms": sending,
        "target_p95_ms": 2000,
        "met": p95.is_some_and(|v| v < 2000.0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_times_of_both_engines_parse() {
        let sqlite = parse_time("2026-11-24T12:00:00.250+00:00").expect("rfc 3339");
        let postgres = parse_time("2026-11-24 12:00:00.25+00").expect("postgres text");
        assert_eq!(sqlite, postgres);
        assert!(parse_time("2026-11-24 12:00:00+00").is_some());
        assert!(parse_time("garbage").is_none());
    }

    #[test]
    fn missing_values_count_as_slowest() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0, 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 1, 0.95), None);
    }
}
