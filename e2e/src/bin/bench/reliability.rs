//! `bench --overload` and `bench --kill`: reliability under load (issue 7). Each runs the
//! release `errorwatch serve` on a fresh database of its own and checks what the server
//! promises: under 10× overload it answers only 200, 429 or 503 (with `Retry-After`), keeps its
//! memory bounded and stores every event it answered 200 for; killed with SIGKILL in the middle
//! of a burst and restarted on the same database, it stores every acknowledged event exactly
//! once and counts it once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::DbKind;
use crate::corpus::Template;
use crate::load::{self, Generator, Tally, Target};
use crate::procs::{self, Db, Proc, RssSampler, proc_stats};

/// The highest offered rate the overload phase accepts (requests/s).
const MAX_OVERLOAD_RATE: u64 = 200_000;
/// The lowest: 10× a very slow digest still means a few hundred requests a second.
const MIN_OVERLOAD_RATE: u64 = 100;
/// RSS sampling period.
const RSS_EVERY: Duration = Duration::from_millis(100);
/// The drain wait gives up when the stored count has not moved for this long (the job queue
/// re-enqueues a dead worker's tasks after 3 missed 10 s heartbeats: 30 s).
const STALL: Duration = Duration::from_secs(90);

/// What `--overload` and `--kill` are run with.
pub struct Options {
    /// Offered rate; `None`: 10 × the digest rate measured by the calibration step.
    pub overload_rate: Option<u64>,
    pub overload: Duration,
    pub overload_connections: usize,
    /// Closed-loop connections of the calibration step and of the burst `--kill` interrupts.
    pub connections: usize,
    pub calibration: Duration,
    /// Length of the burst `--kill` interrupts; the kill comes at its middle.
    pub kill_burst: Duration,
    pub max_requests: u64,
    pub drain_timeout: Duration,
    /// A request without an answer after this long is a failure.
    pub request_timeout: Duration,
    pub rss_limit_mib: f64,
}

/// One line of a PASS/FAIL table; `pass: None` is a figure, not a check.
pub struct Check {
    pub name: &'static str,
    pub value: String,
    pub pass: Option<bool>,
}

impl Check {
    fn verdict(name: &'static str, pass: bool, value: impl Into<String>) -> Self {
        Self {
            name,
            value: value.into(),
            pass: Some(pass),
        }
    }

    fn info(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            name,
            value: value.into(),
            pass: None,
        }
    }

    fn json(&self) -> Value {
        json!({
            "check": self.name,
            "value": self.value,
            "result": match self.pass { Some(true) => "PASS", Some(false) => "FAIL", None => "info" },
        })
    }
}

/// A finished `--overload` or `--kill`.
pub struct Report {
    pub title: String,
    pub checks: Vec<Check>,
    pub details: Value,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass != Some(false))
    }

    pub fn json(&self) -> Value {
        json!({
            "title": self.title,
            "result": if self.passed() { "PASS" } else { "FAIL" },
            "checks": self.checks.iter().map(Check::json).collect::<Vec<_>>(),
            "details": self.details,
        })
    }

    pub fn print(&self) {
        println!();
        println!("{}", self.title);
        let width = self
            .checks
            .iter()
            .map(|c| c.value.len())
            .max()
            .unwrap_or(0)
            .clamp(8, 90);
        println!(
            "| {:<52} | {:<width$} | {:<6} |",
            "check", "measured", "result"
        );
        println!("|{:-<54}|{:-<w2$}|{:-<8}|", "", "", "", w2 = width + 2);
        for check in &self.checks {
            println!(
                "| {:<52} | {:<width$} | {:<6} |",
                check.name,
                check.value,
                match check.pass {
                    Some(true) => "PASS",
                    Some(false) => "FAIL",
                    None => "",
                }
            );
        }
        println!("=> {}", if self.passed() { "PASS" } else { "FAIL" });
    }
}

/// The server under test: `errorwatch serve` on a fresh database, a project, the bench's view
/// of the database and a generator for the project.
struct Sut {
    bin: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    server: Proc,
    db: Db,
    project_id: i64,
    generator: Arc<Generator>,
    postgres: Option<procs::Postgres>,
    _data: tempfile::TempDir,
}

const COUNT_EVENTS: &str = "SELECT COUNT(*) FROM events WHERE project_id = $1";
/// Events stored, from the issues' counters (moved in the transaction that stores the events):
/// cheap to poll under load, where a `COUNT(*)` reads the whole events table every time.
const COUNTED_EVENTS: &str =
    "SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issues WHERE project_id = $1";

impl Sut {
    async fn start(
        bin: &Path,
        kind: DbKind,
        templates: Vec<Template>,
        repo: &Path,
    ) -> anyhow::Result<Self> {
        let (data, postgres, database_url) =
            procs::fresh_database(kind == DbKind::Postgres, repo).await?;
        let sqlite_path = data.path().join("errorwatch.db");
        let port = errorwatch_e2e::free_port();
        let env = procs::server_env(&database_url, port, repo);
        let server = procs::start_errorwatch(bin, &env, port).await?;
        let (project_id, key, dsn) = procs::create_project(bin, &env)?;
        eprintln!("    project {project_id}, DSN {dsn}");
        let db = match &postgres {
            Some(pg) => Db::connect_postgres(&pg.url).await?,
            None => Db::connect_sqlite(&sqlite_path).await?,
        };
        let generator = Arc::new(Generator::new(
            templates,
            Target {
                addr: ([127, 0, 0, 1], port).into(),
                project_id,
                key,
            },
        ));
        Ok(Self {
            bin: bin.to_path_buf(),
            env,
            port,
            server,
            db,
            project_id,
            generator,
            postgres,
            _data: data,
        })
    }

    /// Connections, key cache, first issues; returns the warm-up's tally (ids kept) once its
    /// events are stored.
    async fn warm_up(&self, timeout: Duration) -> anyhow::Result<Tally> {
        let warm =
            load::closed_loop(self.generator.clone(), 4, Duration::from_secs(1), 200, true).await?;
        anyhow::ensure!(
            warm.ok > 0,
            "errorwatch accepted no warm-up event: statuses {:?}, transport errors {}",
            warm.statuses,
            warm.errors
        );
        let drain = self
            .wait_drained(warm.ok as i64, Instant::now(), timeout)
            .await?;
        anyhow::ensure!(drain.drained, "the warm-up events were not digested");
        Ok(warm)
    }

    async fn events(&self) -> anyhow::Result<i64> {
        self.db.project_scalar(COUNT_EVENTS, self.project_id).await
    }

    async fn counted_events(&self) -> anyhow::Result<i64> {
        self.db
            .project_scalar(COUNTED_EVENTS, self.project_id)
            .await
    }

    /// Waits until the project holds at least `at_least` events, the spool is empty and the
    /// count has not moved for 2 s; or `timeout`; or no
    /// progress for [`STALL`].
    async fn wait_drained(
        &self,
        at_least: i64,
        since: Instant,
        timeout: Duration,
    ) -> anyhow::Result<Drain> {
        let deadline = Instant::now() + timeout;
        let mut last = -1;
        let mut last_change = Instant::now();
        let mut samples = Vec::new();
        let mut next_sample = Instant::now();
        let mut longest_pause = Duration::ZERO;
        loop {
            let events = self.counted_events().await?;
            let spool = self.db.spool_left().await;
            let now = Instant::now();
            if now >= next_sample {
                samples.push((now.duration_since(since).as_secs_f64(), events, spool));
                next_sample = now + Duration::from_secs(1);
            }
            if events != last {
                last = events;
                last_change = now;
            }
            let quiet = now.duration_since(last_change);
            let done = events >= at_least && spool.unwrap_or(0) == 0;
            if !done {
                longest_pause = longest_pause.max(quiet);
            }
            let stalled = quiet >= STALL;
            if (done && quiet >= Duration::from_secs(2)) || now >= deadline || stalled {
                return Ok(Drain {
                    drained: done,
                    stalled: !done && stalled,
                    events,
                    spool_left: spool,
                    seconds: last_change.duration_since(since).as_secs_f64(),
                    samples,
                    longest_pause_s: longest_pause.as_secs_f64(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn shutdown(mut self) {
        self.db.close().await;
        self.server.stop(Duration::from_secs(20));
        if let Some(pg) = &self.postgres {
            pg.drop_database().await;
        }
    }
}

/// The end of a drain wait.
struct Drain {
    drained: bool,
    stalled: bool,
    events: i64,
    spool_left: Option<i64>,
    /// From `since` to the last change of the stored count.
    seconds: f64,
    /// About once a second: (seconds since `since`, events, spool rows).
    samples: Vec<(f64, i64, Option<i64>)>,
    /// The longest time the stored count stood still while work remained.
    longest_pause_s: f64,
}

impl Drain {
    fn json(&self) -> Value {
        json!({
            "drained": self.drained,
            "stalled": self.stalled,
            "events": self.events,
            "ingest_spool_left": self.spool_left,
            "seconds_to_last_stored": self.seconds,
            "longest_pause_with_backlog_s": self.longest_pause_s,
            "samples_s_events_spool": self.samples.iter().map(|(t, e, s)| json!([(t * 10.0).round() / 10.0, e, s])).collect::<Vec<_>>(),
        })
    }

    /// `since`: what the drain's clock started at ("the load began", "the restart").
    fn describe(&self, timeout: Duration, since: &str) -> String {
        if self.drained {
            format!(
                "drained {:.1} s after {since}, longest pause {:.1} s",
                self.seconds, self.longest_pause_s
            )
        } else if self.stalled {
            format!(
                "STALLED: no event stored for {} s ({} events, spool {:?})",
                STALL.as_secs(),
                self.events,
                self.spool_left
            )
        } else {
            format!(
                "NOT drained within {} s ({} events, spool {:?})",
                timeout.as_secs(),
                self.events,
                self.spool_left
            )
        }
    }
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn statuses_text(t: &Tally) -> String {
    t.statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ids of `ids` that are not in `stored`.
fn missing<'a>(
    ids: impl Iterator<Item = &'a String>,
    stored: &HashMap<String, i64>,
) -> Vec<String> {
    ids.filter(|id| !stored.contains_key(*id))
        .cloned()
        .collect()
}

/// The first few ids, for the JSON.
fn sample(ids: &[String]) -> Vec<&String> {
    ids.iter().take(20).collect()
}

/// `--overload`.
pub async fn overload(
    bin: &Path,
    kind: DbKind,
    templates: Vec<Template>,
    repo: &Path,
    o: &Options,
) -> anyhow::Result<Report> {
    eprintln!("==> overload: errorwatch serve ({})", kind.name());
    let sut = Sut::start(bin, kind, templates, repo).await?;
    let result = overload_on(&sut, kind, o).await;
    sut.shutdown().await;
    result
}

async fn overload_on(sut: &Sut, kind: DbKind, o: &Options) -> anyhow::Result<Report> {
    let warm = sut.warm_up(o.drain_timeout).await?;
    let mut acked_before = warm.ok;

    // The offered rate: given, or 10 × the digest rate measured end to end on a short
    // closed-loop burst (events accepted ÷ time from its start until they are all stored).
    let (rate, calibration) = match o.overload_rate {
        Some(rate) => (rate, json!(null)),
        None => {
            let baseline = sut.events().await?;
            eprintln!(
                "    calibration: {} connections for {:?}, then the drain",
                o.connections, o.calibration
            );
            let t0 = Instant::now();
            let burst = load::closed_loop(
                sut.generator.clone(),
                o.connections,
                o.calibration,
                o.max_requests,
                false,
            )
            .await?;
            anyhow::ensure!(
                burst.ok > 0,
                "calibration: no event accepted ({:?}, {} transport errors)",
                burst.statuses,
                burst.errors
            );
            acked_before += burst.ok;
            let drain = sut
                .wait_drained(baseline + burst.ok as i64, t0, o.drain_timeout)
                .await?;
            let digest_rate = (drain.events - baseline) as f64 / drain.seconds.max(1e-3);
            let rate =
                ((digest_rate * 10.0).round() as u64).clamp(MIN_OVERLOAD_RATE, MAX_OVERLOAD_RATE);
            eprintln!(
                "    calibration: {} accepted ({:.0}/s), digested end to end at {digest_rate:.0}/s \
                 ({}); offered rate 10x = {rate}/s",
                burst.ok,
                burst.ok_per_s(),
                drain.describe(o.drain_timeout, "the load began")
            );
            (
                rate,
                json!({
                    "burst": burst.json(),
                    "drain": drain.json(),
                    "digest_events_per_s": digest_rate,
                }),
            )
        }
    };
    anyhow::ensure!(
        (MIN_OVERLOAD_RATE..=MAX_OVERLOAD_RATE).contains(&rate),
        "--overload-rate must be between {MIN_OVERLOAD_RATE} and {MAX_OVERLOAD_RATE}"
    );

    let baseline = sut.events().await?;
    let pid = sut.server.pid();
    let cpu0 = proc_stats(pid).cpu_s;
    let self_cpu0 = proc_stats(std::process::id()).cpu_s;
    eprintln!(
        "    overload: {rate}/s offered for {:?} over {} connections (at most {} requests)",
        o.overload,
        o.overload_connections,
        (rate as f64 * o.overload.as_secs_f64()).round()
    );
    let sampler = RssSampler::start(pid, RSS_EVERY);
    let t0 = Instant::now();
    let tally = load::open_loop_bounded(
        sut.generator.clone(),
        rate,
        o.overload,
        o.overload_connections,
        o.request_timeout,
    )
    .await?;
    let load_s = t0.elapsed().as_secs_f64();
    let (rss_load_kb, rss_load_samples) = sampler.finish().await;
    let cpu1 = proc_stats(pid).cpu_s;
    let self_cpu = proc_stats(std::process::id()).cpu_s - self_cpu0;
    let at_load_end = sut.events().await? - baseline;
    eprintln!(
        "    answered {} ({}), {} transport errors, {} skipped; {at_load_end} stored when the load \
         stopped; waiting for the digest",
        tally.sent - tally.errors,
        statuses_text(&tally),
        tally.errors,
        tally.skipped
    );
    let sampler = RssSampler::start(pid, RSS_EVERY);
    let drain = sut
        .wait_drained(baseline + tally.ok as i64, t0, o.drain_timeout)
        .await?;
    let (rss_drain_kb, _) = sampler.finish().await;
    let end = proc_stats(pid);

    let stored = sut.db.project_event_ids(sut.project_id).await?;
    let lost = missing(tally.accepted.iter().map(|(id, _)| id), &stored);
    let rejected_stored = tally
        .rejected
        .iter()
        .filter(|id| stored.contains_key(*id))
        .count();
    let unanswered_stored = tally
        .unanswered
        .iter()
        .filter(|(id, _)| stored.contains_key(id))
        .count();
    let stored_total: i64 = stored.values().sum();
    let duplicates = stored.values().filter(|n| **n > 1).count();

    let other: Vec<String> = tally
        .statuses
        .iter()
        .filter(|(s, _)| !matches!(s, 200 | 429 | 503))
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    let rejected_429_503 = tally.statuses.get(&429).copied().unwrap_or(0)
        + tally.statuses.get(&503).copied().unwrap_or(0);
    let peak_kb = rss_load_kb.max(rss_drain_kb);
    let offered = tally.sent as f64 / tally.elapsed.as_secs_f64().max(1e-9);
    let checks = vec![
        Check::info(
            "requests sent of those due (open loop)",
            format!(
                "{} of {} ({offered:.0}/s of {rate}/s)",
                tally.sent,
                tally.sent + tally.skipped
            ),
        ),
        Check::info(
            "not sent: every connection awaiting an answer",
            format!("{} ({} connections)", tally.skipped, o.overload_connections),
        ),
        Check::info("status histogram", statuses_text(&tally)),
        Check::verdict(
            "only 200, 429 and 503 answers",
            other.is_empty(),
            if other.is_empty() {
                "none other".to_owned()
            } else {
                other.join(", ")
            },
        ),
        Check::verdict(
            "no transport error or timeout",
            tally.errors == 0,
            format!(
                "{} errors ({} timeouts after {:?})",
                tally.errors, tally.timeouts, o.request_timeout
            ),
        ),
        Check::verdict(
            "every 429/503 carries Retry-After",
            tally.retry_after_missing == 0,
            format!(
                "{} of {rejected_429_503} without",
                tally.retry_after_missing
            ),
        ),
        Check::verdict(
            "some events accepted (200)",
            tally.ok > 0,
            format!("{} ({:.0}/s)", tally.ok, tally.ok_per_s()),
        ),
        Check::info(
            "ingest latency p50 / p99 (answered)",
            format!(
                "{:.1} ms / {:.1} ms",
                tally.latency_ms(0.5).unwrap_or(f64::NAN),
                tally.latency_ms(0.99).unwrap_or(f64::NAN)
            ),
        ),
        Check::verdict(
            "server peak RSS over load + drain (100 ms samples)",
            peak_kb > 0 && mib(peak_kb) < o.rss_limit_mib,
            format!(
                "{:.0} MiB (load {:.0}, drain {:.0}; limit {:.0})",
                mib(peak_kb),
                mib(rss_load_kb),
                mib(rss_drain_kb),
                o.rss_limit_mib
            ),
        ),
        Check::verdict(
            "digest drained after the load",
            drain.drained,
            drain.describe(o.drain_timeout, "the load began"),
        ),
        Check::verdict(
            "every 200'd event stored",
            lost.is_empty(),
            format!("{} of {} missing", lost.len(), tally.ok),
        ),
        Check::info(
            "stored although not 200'd (non-200 / no answer)",
            format!("{rejected_stored} / {unanswered_stored}"),
        ),
    ];
    let details = json!({
        "db": kind.name(),
        "offered_rate_per_s": rate,
        "rate_source": if o.overload_rate.is_some() { "--overload-rate" } else { "10 x calibrated digest rate" },
        "calibration": calibration,
        "seconds": o.overload.as_secs_f64(),
        "connections": o.overload_connections,
        "request_timeout_s": o.request_timeout.as_secs_f64(),
        "load": tally.json(),
        "sent_per_s": offered,
        "load_wall_s": load_s,
        "stored_when_load_stopped": at_load_end,
        "drain": drain.json(),
        "peak_rss_kb": { "load": rss_load_kb, "drain": rss_drain_kb, "samples_during_load": rss_load_samples, "vm_hwm_lifetime": end.peak_rss_kb },
        "server_cpu_s": { "load": cpu1 - cpu0, "drain": end.cpu_s - cpu1 },
        "generator_cpu_s": self_cpu,
        "accepted_200": tally.ok,
        "missing": lost.len(),
        "missing_sample": sample(&lost),
        "answered_non_200_but_stored": rejected_stored,
        "unanswered_but_stored": unanswered_stored,
        "events_of_project": stored_total,
        "accepted_200_whole_run": acked_before + tally.ok,
        "event_ids_stored_more_than_once": duplicates,
    });
    Ok(Report {
        title: format!(
            "overload ({}): {rate}/s offered for {:.0} s over {} connections",
            kind.name(),
            o.overload.as_secs_f64(),
            o.overload_connections
        ),
        checks,
        details,
    })
}

/// `--kill`.
pub async fn kill(
    bin: &Path,
    kind: DbKind,
    templates: Vec<Template>,
    repo: &Path,
    o: &Options,
) -> anyhow::Result<Report> {
    eprintln!("==> kill: errorwatch serve ({})", kind.name());
    let mut sut = Sut::start(bin, kind, templates, repo).await?;
    let result = kill_on(&mut sut, kind, o).await;
    sut.shutdown().await;
    result
}

async fn kill_on(sut: &mut Sut, kind: DbKind, o: &Options) -> anyhow::Result<Report> {
    let warm = sut.warm_up(o.drain_timeout).await?;
    eprintln!(
        "    burst: {} connections for at most {:?}, SIGKILL after {:?}",
        o.connections,
        o.kill_burst,
        o.kill_burst / 2
    );
    let stop = Arc::new(AtomicBool::new(false));
    let burst = tokio::spawn(load::closed_loop_until(
        sut.generator.clone(),
        o.connections,
        o.kill_burst,
        o.max_requests,
        true,
        Some(stop.clone()),
    ));
    tokio::time::sleep(o.kill_burst / 2).await;
    let stored_at_kill = sut.events().await?;
    let killed_at = Instant::now();
    stop.store(true, Ordering::SeqCst);
    sut.server.kill_now()?;
    let burst = burst.await??;
    eprintln!(
        "    killed: {} answered 200 in the burst, {} without an answer; restarting",
        burst.ok, burst.errors
    );

    let restarted_at = Instant::now();
    sut.server = procs::start_errorwatch(&sut.bin, &sut.env, sut.port).await?;
    let ready_s = restarted_at.elapsed().as_secs_f64();
    let acked: Vec<&String> = warm
        .accepted
        .iter()
        .chain(&burst.accepted)
        .map(|(id, _)| id)
        .collect();
    let drain = sut
        .wait_drained(acked.len() as i64, restarted_at, o.drain_timeout)
        .await?;
    eprintln!("    {}", drain.describe(o.drain_timeout, "the restart"));

    let stored = sut.db.project_event_ids(sut.project_id).await?;
    let lost = missing(acked.iter().copied(), &stored);
    let duplicated: Vec<String> = stored
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    let acked_set: HashSet<&String> = acked.iter().copied().collect();
    let acked_stored = acked.len() - lost.len();
    let (in_flight, after_kill): (Vec<_>, Vec<_>) = burst
        .unanswered
        .iter()
        .partition(|(_, sent_at)| *sent_at < killed_at);
    let in_flight_stored = in_flight
        .iter()
        .filter(|(id, _)| stored.contains_key(id))
        .count();
    let rejected_stored = burst
        .rejected
        .iter()
        .filter(|id| stored.contains_key(*id))
        .count();
    let stored_unacked = stored.keys().filter(|id| !acked_set.contains(id)).count();

    let p = sut.project_id;
    let events = sut.events().await?;
    let times_seen = sut
        .db
        .project_scalar(
            "SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issues WHERE project_id = $1",
            p,
        )
        .await?;
    let hourly = sut
        .db
        .project_scalar(
            "SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM issue_stats_hourly \
             WHERE project_id = $1",
            p,
        )
        .await?;
    let accepted_outcomes = sut
        .db
        .project_scalar(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes \
             WHERE project_id = $1 AND category = 'error' AND outcome = 'accepted'",
            p,
        )
        .await?;
    let equal = |what: i64| {
        format!(
            "{what} vs {events} ({})",
            match what - events {
                0 => "equal".to_owned(),
                d => format!("{d:+}"),
            }
        )
    };
    let checks = vec![
        Check::verdict(
            "events acknowledged (200) before the kill",
            burst.ok > 0,
            format!("{} in the burst (+{} warm-up)", burst.ok, warm.ok),
        ),
        Check::info(
            "burst statuses / stored when killed",
            format!("{} / {} events", statuses_text(&burst), stored_at_kill),
        ),
        Check::info(
            "in flight at the kill (no answer) / of them stored",
            format!("{} / {in_flight_stored}", in_flight.len()),
        ),
        Check::verdict(
            "restarted and drained",
            drain.drained,
            format!(
                "ready in {ready_s:.1} s; {}",
                drain.describe(o.drain_timeout, "the restart")
            ),
        ),
        Check::verdict(
            "every acknowledged event stored",
            lost.is_empty(),
            format!(
                "{acked_stored} stored, {} missing of {}",
                lost.len(),
                acked.len()
            ),
        ),
        Check::verdict(
            "no event stored twice",
            duplicated.is_empty(),
            format!("{} duplicated event ids", duplicated.len()),
        ),
        Check::verdict(
            "SUM(issues.times_seen) = COUNT(events)",
            times_seen == events,
            equal(times_seen),
        ),
        Check::verdict(
            "SUM(issue_stats_hourly.times_seen) = COUNT(events)",
            hourly == events,
            equal(hourly),
        ),
        Check::verdict(
            "accepted error outcomes = COUNT(events)",
            accepted_outcomes == events,
            equal(accepted_outcomes),
        ),
        Check::info(
            "stored but not acknowledged (in flight / non-200)",
            format!("{stored_unacked} ({in_flight_stored} / {rejected_stored})"),
        ),
    ];
    let details = json!({
        "db": kind.name(),
        "connections": o.connections,
        "burst_s": o.kill_burst.as_secs_f64(),
        "killed_after_s": (o.kill_burst / 2).as_secs_f64(),
        "warmup": warm.json(),
        "burst": burst.json(),
        "events_stored_when_killed": stored_at_kill,
        "restart_ready_s": ready_s,
        "drain": drain.json(),
        "acknowledged": acked.len(),
        "acknowledged_stored": acked_stored,
        "missing": lost.len(),
        "missing_sample": sample(&lost),
        "duplicated_event_ids": duplicated.len(),
        "duplicated_sample": sample(&duplicated),
        "in_flight_at_kill": in_flight.len(),
        "in_flight_stored": in_flight_stored,
        "failed_after_kill_not_sent": after_kill.len(),
        "answered_non_200_but_stored": rejected_stored,
        "events": events,
        "sum_issues_times_seen": times_seen,
        "sum_issue_stats_hourly_times_seen": hourly,
        "accepted_error_outcomes": accepted_outcomes,
    });
    Ok(Report {
        title: format!(
            "kill ({}): SIGKILL {:.1} s into a {} connection burst, restart on the same database",
            kind.name(),
            (o.kill_burst / 2).as_secs_f64(),
            o.connections
        ),
        checks,
        details,
    })
}
