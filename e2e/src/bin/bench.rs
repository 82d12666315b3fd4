//! The ingest bench (issue 7): `cargo run -p errorwatch-e2e --release --bin bench -- [--db
//! sqlite|postgres] [--quick]`.
//!
//! Starts the release `errorwatch serve` on a throwaway database and a trivial `return 200`
//! axum server (the reference), drives both with the same load generator on 127.0.0.1 (the real
//! SDK envelopes of the corpus, fresh event ids, gzip and plain), and measures accepted
//! events/s, ingest latency at a fixed rate, digest throughput end to end, ingest → stored
//! latency, the server's peak RSS and bytes on disk per event. Prints a table and writes JSON.
//! No figure is asserted: this is a measuring tool.
//!
//! `--overload` and `--kill` run the reliability checks instead (bench/reliability.rs): 10×
//! overload, and SIGKILL in the middle of a burst; those print PASS/FAIL and exit non-zero on
//! FAIL. `--alerts` measures ingest → alert webhook delivered instead (bench/alerts.rs).
//! `--sourcemaps` measures the digest on minified browser events with uploaded source maps
//! against the same events without (bench/sourcemaps.rs).

#[path = "bench/alerts.rs"]
mod alerts;
#[path = "bench/corpus.rs"]
mod corpus;
#[path = "bench/list.rs"]
mod list;
#[path = "bench/load.rs"]
mod load;
#[path = "bench/procs.rs"]
mod procs;
#[path = "bench/reliability.rs"]
mod reliability;
#[path = "bench/sourcemaps.rs"]
mod sourcemaps;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use load::{Generator, Tally, Target};
use procs::{Db, ProcStats, proc_stats};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Ingest bench: errorwatch vs a `return 200` reference server, on 127.0.0.1.
#[derive(Parser, Debug)]
struct Args {
    /// Database of the server under test (PostgreSQL: a new database on `DATABASE_URL`'s
    /// server, else a throwaway cluster started with infra/pg.sh).
    #[arg(long, value_enum, default_value = "sqlite")]
    db: DbKind,
    /// A smoke run of a few seconds (figures are not meaningful).
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON (default: $CARGO_TARGET_DIR/bench/bench-<db>-<time>.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Connections of the maximum-throughput phase, of `--overload`'s calibration burst and of
    /// the burst `--kill` interrupts (default 64; --quick 8).
    #[arg(long)]
    connections: Option<usize>,
    /// Requests per second of the fixed-rate phase.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of the fixed-rate phase (default 10; --quick 2).
    #[arg(long)]
    latency_secs: Option<f64>,
    /// Seconds of the maximum-throughput phase (default 15; --quick 2).
    #[arg(long)]
    throughput_secs: Option<f64>,
    /// At most this many requests in the maximum-throughput phase (default 600000; --quick 5000;
    /// `--overload`/`--kill` bursts: --quick 20000).
    #[arg(long)]
    max_requests: Option<u64>,
    /// Give up waiting for the digest after this many seconds (default 300; --quick 60;
    /// `--overload`/`--kill`: 600; --quick 180; `--alerts`: for the last webhooks, 120).
    #[arg(long)]
    drain_timeout_secs: Option<u64>,
    /// Use the release binary as it is instead of running `cargo build --release` first.
    #[arg(long)]
    no_build: bool,
    /// Instead of the ingest bench: seed 10,000 issues and 1,000,000 events (or
    /// `--seed-issues`/`--seed-events`) and time the first page of the issue list.
    #[arg(long)]
    list_timing: bool,
    /// Issues to seed for `--list-timing`.
    #[arg(long, default_value_t = 10_000)]
    seed_issues: u64,
    /// Events to seed for `--list-timing`.
    #[arg(long, default_value_t = 1_000_000)]
    seed_events: u64,
    /// Instead of the ingest bench: 10× overload (open loop at 10 × the digest rate measured
    /// by a calibration burst, or `--overload-rate`); checks statuses, Retry-After, peak RSS and
    /// that every 200'd event is stored. Combines with `--kill`.
    #[arg(long)]
    overload: bool,
    /// Seconds of the overload (default 30; --quick 3).
    #[arg(long)]
    overload_secs: Option<f64>,
    /// Offered requests/s of the overload instead of 10 × the calibrated digest rate.
    #[arg(long)]
    overload_rate: Option<u64>,
    /// Connections of the overload's open loop (default 512; --quick 128).
    #[arg(long)]
    overload_connections: Option<usize>,
    /// Seconds of the calibration burst whose digest rate sets the overload rate (default 5;
    /// --quick 2).
    #[arg(long)]
    calibration_secs: Option<f64>,
    /// Instead of the ingest bench: SIGKILL the server in the middle of a max-throughput
    /// burst, restart it on the same database, and check every acknowledged event is stored
    /// exactly once and counted once. Combines with `--overload`.
    #[arg(long)]
    kill: bool,
    /// Seconds of the burst `--kill` interrupts, killed at its middle (default 10; --quick 4).
    #[arg(long)]
    kill_secs: Option<f64>,
    /// A request without an answer after this many seconds fails (`--overload`).
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Peak RSS allowed under overload, MiB (the issue's target).
    #[arg(long, default_value_t = 150.0)]
    rss_limit_mib: f64,
    /// Instead of the ingest bench: ingest → alert webhook delivered per event, at
    /// `--alerts-rate` events/s for `--alerts-secs`, each event a new issue that a `NEW_ISSUE`
    /// rule sends to a local receiver.
    #[arg(long)]
    alerts: bool,
    /// Events per second of `--alerts`.
    #[arg(long, default_value_t = 100)]
    alerts_rate: u64,
    /// Seconds of `--alerts`' load (default 20; --quick 3).
    #[arg(long)]
    alerts_secs: Option<f64>,
    /// Instead of the ingest bench: the maximum-throughput phase alone against a server whose
    /// digest does not run (`serve --no-workers`, backlog cap lifted), next to the reference:
    /// what ingest alone accepts on this machine, and the CPU per request of the server and of
    /// the load generator.
    #[arg(long)]
    ingest_only: bool,
    /// Instead of the ingest bench: digested events/s of minified browser events symbolicated
    /// with uploaded ~2 MB source maps (warm, full cache; project A) against the same events
    /// without maps (project B), alternating B, A per round, and the server's peak RSS.
    #[arg(long)]
    sourcemaps: bool,
    /// Events per phase of `--sourcemaps` (default 40000; --quick 2000).
    #[arg(long)]
    sourcemap_events: Option<u64>,
    /// Rounds of (B, A) phases of `--sourcemaps`.
    #[arg(long, default_value_t = 2)]
    sourcemap_rounds: u32,
    /// Builds (maps, each with its own debug id) uploaded for `--sourcemaps` (default: as many
    /// as the map cache holds).
    #[arg(long)]
    sourcemap_builds: Option<usize>,
    /// The server's map cache for `--sourcemaps`, MiB (`ERRORWATCH_SOURCEMAP_CACHE_MB`).
    #[arg(long, default_value_t = 32)]
    sourcemap_cache_mb: usize,
    /// Internal: run the reference server on this port.
    #[arg(long, hide = true)]
    serve_reference: Option<u16>,
}

struct Settings {
    connections: usize,
    rate: u64,
    latency: Duration,
    throughput: Duration,
    max_requests: u64,
    drain_timeout: Duration,
    visible_timeout: Duration,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // reqwest (readiness probes) is built without a crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(port) = args.serve_reference {
        return runtime.block_on(procs::serve_reference(port));
    }
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let quick = args.quick;
    let settings = Settings {
        connections: args.connections.unwrap_or(if quick { 8 } else { 64 }),
        rate: args.rate,
        latency: Duration::from_secs_f64(args.latency_secs.unwrap_or(if quick {
            2.0
        } else {
            10.0
        })),
        throughput: Duration::from_secs_f64(args.throughput_secs.unwrap_or(if quick {
            2.0
        } else {
            15.0
        })),
        max_requests: args
            .max_requests
            .unwrap_or(if quick { 5_000 } else { 600_000 }),
        drain_timeout: Duration::from_secs(args.drain_timeout_secs.unwrap_or(if quick {
            60
        } else {
            300
        })),
        visible_timeout: Duration::from_secs(if quick { 20 } else { 60 }),
    };
    let repo = errorwatch_e2e::repo_root();
    let templates = || corpus::load(&repo.join("backend/server/tests/fixtures/corpus"));
    let corpus_info: Vec<Value> = templates()?
        .iter()
        .map(|t| json!({ "name": t.name, "style": format!("{:?}", t.style) }))
        .collect();
    let started_at = chrono::Utc::now();

    // The errorwatch binary first: a build must not run during a measurement.
    let bin = procs::release_binary(&repo, args.no_build)?;
    if args.list_timing {
        return run_list_timing(&bin, args.db, &repo, &args, quick).await;
    }
    if args.overload || args.kill {
        return run_reliability(&bin, &repo, &args, templates, started_at).await;
    }
    if args.ingest_only {
        return run_ingest_only(
            &bin, args.db, templates, &settings, &repo, &args, started_at,
        )
        .await;
    }
    if args.sourcemaps {
        eprintln!(
            "==> source maps: digest with and without ({})",
            args.db.name()
        );
        let options = sourcemaps::Options {
            events: args
                .sourcemap_events
                .unwrap_or(if quick { 2_000 } else { 40_000 }),
            rounds: args.sourcemap_rounds.max(1),
            builds: args.sourcemap_builds,
            cache_mb: args.sourcemap_cache_mb,
            connections: settings.connections,
            drain_timeout: settings.drain_timeout,
            rss_limit_mib: args.rss_limit_mib,
        };
        let report = sourcemaps::run(&bin, args.db, &repo, &options).await?;
        let report = json!({
            "bench": {"db": args.db.name(), "mode": "sourcemaps", "quick": quick,
                      "started_at": started_at.to_rfc3339(),
                      "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                      "git": git_describe(&repo)},
            "sourcemaps": report,
        });
        return write_report(
            args.out,
            &repo,
            "sourcemaps",
            args.db.name(),
            started_at,
            &report,
        );
    }
    if args.alerts {
        eprintln!(
            "==> alerts: ingest -> webhook delivered ({})",
            args.db.name()
        );
        let options = alerts::Options {
            rate: args.alerts_rate,
            duration: Duration::from_secs_f64(args.alerts_secs.unwrap_or(if quick {
                3.0
            } else {
                20.0
            })),
            drain_timeout: Duration::from_secs(args.drain_timeout_secs.unwrap_or(120)),
        };
        let report = alerts::run(&bin, args.db, &repo, &options).await?;
        let report = json!({
            "bench": {"db": args.db.name(), "quick": quick, "started_at": started_at.to_rfc3339(),
                      "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                      "git": git_describe(&repo)},
            "alerts": report,
        });
        return write_report(
            args.out,
            &repo,
            "alerts",
            args.db.name(),
            started_at,
            &report,
        );
    }

    eprintln!("==> reference: `return 200` axum server");
    let reference = run_reference(templates()?, &settings).await?;

    eprintln!("==> errorwatch serve ({})", args.db.name());
    let server = run_errorwatch(&bin, args.db, templates()?, &settings, &repo).await?;

    let rows = target_rows(&reference, &server);
    print_table(args.db, &settings, &rows, &reference, &server);

    let report = json!({
        "bench": {
            "db": args.db.name(),
            "quick": quick,
            "started_at": started_at.to_rfc3339(),
            "connections": settings.connections,
            "rate_per_s": settings.rate,
            "latency_phase_s": settings.latency.as_secs_f64(),
            "throughput_phase_s": settings.throughput.as_secs_f64(),
            "max_requests": settings.max_requests,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "git": git_describe(&repo),
            "corpus": corpus_info,
        },
        "targets": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "reference": reference.json,
        "errorwatch": server.json,
    });
    write_report(
        args.out,
        &repo,
        "bench",
        args.db.name(),
        started_at,
        &report,
    )?;
    Ok(())
}

/// `--ingest-only`: the reference's and then errorwatch's maximum-throughput phase, the
/// latter with the digest off, so nothing but ingest competes with the load generator.
async fn run_ingest_only(
    bin: &std::path::Path,
    kind: DbKind,
    templates: impl Fn() -> anyhow::Result<Vec<corpus::Template>>,
    settings: &Settings,
    repo: &std::path::Path,
    args: &Args,
    started_at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let phase = |name: &str| {
        eprintln!(
            "==> {name}: max throughput, {} connections for {:?} (at most {} requests)",
            settings.connections, settings.throughput, settings.max_requests
        )
    };

    let port = errorwatch_e2e::free_port();
    let mut reference = procs::start_reference(port).await?;
    let generator = reference_generator(templates()?, port);
    load::closed_loop(generator.clone(), 4, Duration::from_secs(1), 500, false).await?;
    phase("reference");
    let (ref_max, ref_cpu) = max_throughput_with_cpu(generator, reference.pid(), settings).await?;
    reference.stop(Duration::from_secs(5));

    let (data, postgres, database_url) =
        procs::fresh_database(kind == DbKind::Postgres, repo).await?;
    let port = errorwatch_e2e::free_port();
    let mut env = procs::server_env(&database_url, port, repo);
    // Nothing digests: the whole phase stays in the spool.
    env.push((
        "ERRORWATCH_SPOOL_MAX_BACKLOG".into(),
        (settings.max_requests + 10_000).to_string(),
    ));
    let mut server = procs::start_errorwatch_with(bin, &env, port, &["--no-workers"]).await?;
    let (project_id, key, _) = procs::create_project(bin, &env)?;
    let generator = Arc::new(Generator::new(
        templates()?,
        Target {
            addr: ([127, 0, 0, 1], port).into(),
            project_id,
            key,
        },
    ));
    let warm = load::closed_loop(generator.clone(), 4, Duration::from_secs(2), 500, false).await?;
    anyhow::ensure!(
        warm.ok > 0,
        "errorwatch accepted no warm-up event: {:?}",
        warm.statuses
    );
    phase("errorwatch serve --no-workers");
    let (max, ew_cpu) = max_throughput_with_cpu(generator, server.pid(), settings).await?;
    let stats = proc_stats(server.pid());
    server.stop(Duration::from_secs(10));
    drop(postgres);
    drop(data);

    let describe = |name: &str, tally: &Tally, (server_s, gen_s, wall_s): (f64, f64, f64)| {
        let accepted = tally.ok.max(1) as f64;
        println!(
            "{name:<32} {:>9.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  server {:>4.2} cores, {:>5.1} µs/req  generator {:>4.2} cores, {:>5.1} µs/req  statuses {:?}",
            tally.ok_per_s(),
            tally.latency_ms(0.50).unwrap_or(f64::NAN),
            tally.latency_ms(0.99).unwrap_or(f64::NAN),
            server_s / wall_s,
            server_s / accepted * 1e6,
            gen_s / wall_s,
            gen_s / accepted * 1e6,
            tally.statuses,
        );
        json!({
            "max_throughput": tally.json(),
            "server_cpu_s": server_s,
            "generator_cpu_s": gen_s,
            "wall_s": wall_s,
        })
    };
    println!();
    let reference_json = describe("reference (return 200)", &ref_max, ref_cpu);
    let errorwatch_json = describe(
        &format!("errorwatch ({}, no digest)", kind.name()),
        &max,
        ew_cpu,
    );
    println!("errorwatch peak RSS {} MiB", stats.peak_rss_kb / 1024);
    let report = json!({
        "bench": {
            "db": kind.name(),
            "mode": "ingest-only",
            "started_at": started_at.to_rfc3339(),
            "connections": settings.connections,
            "throughput_phase_s": settings.throughput.as_secs_f64(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "git": git_describe(repo),
        },
        "reference": reference_json,
        "errorwatch": errorwatch_json,
        "errorwatch_peak_rss_kb": stats.peak_rss_kb,
    });
    write_report(
        args.out.clone(),
        repo,
        "ingest-only",
        kind.name(),
        started_at,
        &report,
    )
}

/// The maximum-throughput phase (closed loop) and, over it, the CPU seconds of process `pid`,
/// of this process (the load generator) and the wall-clock seconds.
async fn max_throughput_with_cpu(
    generator: Arc<Generator>,
    pid: u32,
    settings: &Settings,
) -> anyhow::Result<(Tally, (f64, f64, f64))> {
    let generator_cpu = || proc_stats(std::process::id()).cpu_s;
    let (server0, generator0) = (proc_stats(pid).cpu_s, generator_cpu());
    let started = Instant::now();
    let tally = max_phase(generator, settings).await?;
    Ok((
        tally,
        (
            proc_stats(pid).cpu_s - server0,
            generator_cpu() - generator0,
            started.elapsed().as_secs_f64(),
        ),
    ))
}

/// The maximum-throughput phase: a closed loop over `settings.connections` for
/// `settings.throughput`, at most `settings.max_requests` requests.
async fn max_phase(generator: Arc<Generator>, settings: &Settings) -> anyhow::Result<Tally> {
    load::closed_loop(
        generator,
        settings.connections,
        settings.throughput,
        settings.max_requests,
        false,
    )
    .await
}

/// A generator for the reference server on `port` (any project id and key will do).
fn reference_generator(templates: Vec<corpus::Template>, port: u16) -> Arc<Generator> {
    Arc::new(Generator::new(
        templates,
        Target {
            addr: ([127, 0, 0, 1], port).into(),
            project_id: 1,
            key: "0123456789abcdef0123456789abcdef".into(),
        },
    ))
}

/// Writes `report` to `out`, by default `$CARGO_TARGET_DIR/bench/<kind>-<db>-<time>.json`.
fn write_report(
    out: Option<PathBuf>,
    repo: &std::path::Path,
    kind: &str,
    db: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    report: &serde_json::Value,
) -> anyhow::Result<()> {
    let out = out.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target"))
            .join("bench")
            .join(format!(
                "{kind}-{db}-{}.json",
                started_at.format("%Y%m%dT%H%M%SZ")
            ))
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(report)?)?;
    println!("\nJSON: {}", out.display());
    Ok(())
}

/// `--overload` and/or `--kill`: each on a fresh server and database; PASS/FAIL tables, JSON,
/// and an error (non-zero exit) on FAIL.
async fn run_reliability(
    bin: &std::path::Path,
    repo: &std::path::Path,
    args: &Args,
    templates: impl Fn() -> anyhow::Result<Vec<corpus::Template>>,
    started_at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let quick = args.quick;
    let secs = |v: Option<f64>, normal: f64, short: f64| {
        Duration::from_secs_f64(v.unwrap_or(if quick { short } else { normal }))
    };
    let options = reliability::Options {
        overload_rate: args.overload_rate,
        overload: secs(args.overload_secs, 30.0, 3.0),
        overload_connections: args
            .overload_connections
            .unwrap_or(if quick { 128 } else { 512 }),
        connections: args.connections.unwrap_or(if quick { 8 } else { 64 }),
        calibration: secs(args.calibration_secs, 5.0, 2.0),
        kill_burst: secs(args.kill_secs, 10.0, 4.0),
        max_requests: args
            .max_requests
            .unwrap_or(if quick { 20_000 } else { 600_000 }),
        // The kill's drain includes the job queue's 30 s wait for a dead worker's tasks.
        drain_timeout: Duration::from_secs(args.drain_timeout_secs.unwrap_or(if quick {
            180
        } else {
            600
        })),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        rss_limit_mib: args.rss_limit_mib,
    };
    let mut reports = Vec::new();
    if args.overload {
        reports.push((
            "overload",
            reliability::overload(bin, args.db, templates()?, repo, &options).await?,
        ));
    }
    if args.kill {
        reports.push((
            "kill",
            reliability::kill(bin, args.db, templates()?, repo, &options).await?,
        ));
    }
    for (_, report) in &reports {
        report.print();
    }
    let mut json_report = serde_json::Map::new();
    json_report.insert(
        "bench".into(),
        json!({
            "db": args.db.name(),
            "quick": quick,
            "started_at": started_at.to_rfc3339(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "git": git_describe(repo),
            "result": if reports.iter().all(|(_, r)| r.passed()) { "PASS" } else { "FAIL" },
        }),
    );
    for (name, report) in &reports {
        json_report.insert((*name).into(), report.json());
    }
    write_report(
        args.out.clone(),
        repo,
        "reliability",
        args.db.name(),
        started_at,
        &serde_json::Value::Object(json_report),
    )?;
    let failed: Vec<&str> = reports
        .iter()
        .filter(|(_, r)| !r.passed())
        .map(|(name, _)| *name)
        .collect();
    if !failed.is_empty() {
        // Everything started (servers, PostgreSQL) is stopped by now: exit without an error
        // report (and its backtrace) on top of the tables.
        eprintln!("FAIL: {}", failed.join(", "));
        std::process::exit(1);
    }
    Ok(())
}

fn git_describe(repo: &std::path::Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// What a run of one server yields.
struct Measured {
    fixed_rate: Tally,
    max: Tally,
    peak_rss_kb: u64,
    /// ingest → stored p95, ms (errorwatch only).
    visible_p95_ms: Option<f64>,
    digest_per_s: Option<f64>,
    bytes_ratio: Option<f64>,
    json: Value,
}

async fn run_reference(
    templates: Vec<corpus::Template>,
    settings: &Settings,
) -> anyhow::Result<Measured> {
    let port = errorwatch_e2e::free_port();
    let mut reference = procs::start_reference(port).await?;
    let generator = reference_generator(templates, port);
    load::closed_loop(generator.clone(), 4, Duration::from_secs(1), 500, false).await?;
    let cpu0 = proc_stats(reference.pid()).cpu_s;
    eprintln!(
        "    fixed rate {}/s for {:?}",
        settings.rate, settings.latency
    );
    let fixed_rate =
        load::open_loop(generator.clone(), settings.rate, settings.latency, false).await?;
    let cpu1 = proc_stats(reference.pid()).cpu_s;
    eprintln!(
        "    max throughput, {} connections for {:?}",
        settings.connections, settings.throughput
    );
    let max = max_phase(generator, settings).await?;
    let stats = proc_stats(reference.pid());
    reference.stop(Duration::from_secs(5));
    let json = json!({
        "fixed_rate": fixed_rate.json(),
        "max_throughput": max.json(),
        "peak_rss_kb": stats.peak_rss_kb,
        "cpu_s": { "fixed_rate": cpu1 - cpu0, "max_throughput": stats.cpu_s - cpu1 },
    });
    Ok(Measured {
        peak_rss_kb: stats.peak_rss_kb,
        fixed_rate,
        max,
        visible_p95_ms: None,
        digest_per_s: None,
        bytes_ratio: None,
        json,
    })
}

/// Polls the events table for new rows and notes when each event id first appeared.
struct Poller {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Poller {
    fn start(db: Arc<Db>, after: i64) -> Self {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let seen = seen.clone();
            let stop = stop.clone();
            async move {
                let mut last = after;
                while !stop.load(Ordering::Relaxed) {
                    let rows = db.events_after(last).await?;
                    let now = Instant::now();
                    let full = rows.len() >= 20_000;
                    if let Some((id, _)) = rows.last() {
                        last = *id;
                    }
                    {
                        let mut seen = seen.lock().expect("seen");
                        for (_, event_id) in rows {
                            seen.entry(event_id).or_insert(now);
                        }
                    }
                    if !full {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Ok(())
            }
        });
        Self { seen, stop, task }
    }

    fn seen_all(&self, ids: &[(String, Instant)]) -> bool {
        let seen = self.seen.lock().expect("seen");
        ids.iter().all(|(id, _)| seen.contains_key(id))
    }

    async fn finish(self) -> anyhow::Result<HashMap<String, Instant>> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await??;
        Ok(Arc::try_unwrap(self.seen)
            .map(|m| m.into_inner().unwrap_or_default())
            .unwrap_or_default())
    }
}

/// Waits until `target` events are stored and grouped; samples (seconds since `since`, events).
async fn wait_for_events(
    db: &Db,
    target: i64,
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<(Vec<(f64, i64)>, Option<Instant>)> {
    let deadline = Instant::now() + timeout;
    let mut samples = Vec::new();
    loop {
        let count = db.stored_events().await?;
        let now = Instant::now();
        samples.push((now.duration_since(since).as_secs_f64(), count));
        if count >= target {
            return Ok((samples, Some(now)));
        }
        if now >= deadline {
            return Ok((samples, None));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `--list-timing`: a server on a fresh database, seeded, and the issue-list timing.
async fn run_list_timing(
    bin: &std::path::Path,
    kind: DbKind,
    repo: &std::path::Path,
    args: &Args,
    quick: bool,
) -> anyhow::Result<()> {
    let (_data, postgres, database_url) =
        procs::fresh_database(kind == DbKind::Postgres, repo).await?;
    let port = errorwatch_e2e::free_port();
    let env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url),
        ("ERRORWATCH_LISTEN".into(), format!("127.0.0.1:{port}")),
        (
            "ERRORWATCH_PUBLIC_URL".into(),
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "ERRORWATCH_MAX_EVENTS_PER_PROJECT".into(),
            "1000000000".into(),
        ),
        (
            "ERRORWATCH_API_RATE_LIMIT_PER_MINUTE".into(),
            "1000000".into(),
        ),
    ];
    let mut server = procs::start_errorwatch(bin, &env, port).await?;
    let (issues, events, requests) = if quick {
        (1_000, 20_000, 50)
    } else {
        (args.seed_issues, args.seed_events, 200)
    };
    eprintln!("==> issue list timing ({})", kind.name());
    let report = list::run(bin, &env, port, issues, events, requests).await;
    server.stop(Duration::from_secs(20));
    if let Some(pg) = &postgres {
        pg.drop_database().await;
    }
    let report = report?;
    let out = args.out.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target"))
            .join("bench")
            .join(format!(
                "list-{}-{}.json",
                kind.name(),
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ))
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&json!({"db": kind.name(), "list_timing": report}))?,
    )?;
    println!("\nJSON: {}", out.display());
    Ok(())
}

async fn run_errorwatch(
    bin: &std::path::Path,
    kind: DbKind,
    templates: Vec<corpus::Template>,
    settings: &Settings,
    repo: &std::path::Path,
) -> anyhow::Result<Measured> {
    let (data, postgres, database_url) =
        procs::fresh_database(kind == DbKind::Postgres, repo).await?;
    let sqlite_path = data.path().join("errorwatch.db");
    let port = errorwatch_e2e::free_port();
    let env = procs::server_env(&database_url, port, repo);
    let mut server = procs::start_errorwatch(bin, &env, port).await?;
    let (project_id, key, dsn) = procs::create_project(bin, &env)?;
    eprintln!("    project {project_id}, DSN {dsn}");
    let db = Arc::new(match &postgres {
        Some(pg) => Db::connect_postgres(&pg.url).await?,
        None => Db::connect_sqlite(&sqlite_path).await?,
    });
    let generator = Arc::new(Generator::new(
        templates,
        Target {
            addr: ([127, 0, 0, 1], port).into(),
            project_id,
            key,
        },
    ));

    // Warm-up: connections, key cache, first issues.
    let warm = load::closed_loop(generator.clone(), 4, Duration::from_secs(2), 500, false).await?;
    anyhow::ensure!(
        warm.ok > 0,
        "errorwatch accepted no warm-up event: statuses {:?}, transport errors {}",
        warm.statuses,
        warm.errors
    );
    let (_, drained) = wait_for_events(
        &db,
        warm.ok as i64,
        Instant::now(),
        settings.visible_timeout,
    )
    .await?;
    anyhow::ensure!(drained.is_some(), "the warm-up events were not digested");

    // Fixed rate, with the poller noting when each accepted event becomes visible.
    let after: i64 = db.events_after(0).await?.last().map(|r| r.0).unwrap_or(0);
    let poller = Poller::start(db.clone(), after);
    let s0 = proc_stats(server.pid());
    eprintln!(
        "    fixed rate {}/s for {:?}",
        settings.rate, settings.latency
    );
    let fixed_rate =
        load::open_loop(generator.clone(), settings.rate, settings.latency, true).await?;
    let deadline = Instant::now() + settings.visible_timeout;
    while !poller.seen_all(&fixed_rate.accepted) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s1 = proc_stats(server.pid());
    let seen = poller.finish().await?;
    let mut visible_ms: Vec<f64> = Vec::new();
    let mut missing = 0u64;
    for (id, due) in &fixed_rate.accepted {
        match seen.get(id) {
            Some(at) => visible_ms.push(at.duration_since(*due).as_secs_f64() * 1000.0),
            None => missing += 1,
        }
    }
    visible_ms.sort_by(f64::total_cmp);
    // Missing events count as slower than any seen one.
    let visible_quantile = |p: f64| -> Option<f64> {
        let n = visible_ms.len() + missing as usize;
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n.max(1));
        visible_ms.get(rank - 1).copied()
    };
    let visible_p95_ms = visible_quantile(0.95);

    // Maximum throughput; then wait until every accepted event is stored.
    let baseline = db.stored_events().await?;
    eprintln!(
        "    max throughput, {} connections for {:?} (at most {} requests)",
        settings.connections, settings.throughput, settings.max_requests
    );
    let t_start = Instant::now();
    let max = max_phase(generator.clone(), settings).await?;
    let t_load_end = Instant::now();
    let s2 = proc_stats(server.pid());
    let at_load_end = db.stored_events().await? - baseline;
    eprintln!(
        "    accepted {} ({:.0}/s); {} digested when the load stopped; waiting for the rest",
        max.ok,
        max.ok_per_s(),
        at_load_end
    );
    let (samples, drained_at) = wait_for_events(
        &db,
        baseline + max.ok as i64,
        t_start,
        settings.drain_timeout,
    )
    .await?;
    let s3 = proc_stats(server.pid());
    let stored_in_phase = samples.last().map(|s| s.1).unwrap_or(baseline) - baseline;
    if drained_at.is_none() {
        eprintln!(
            "    NOT DRAINED after {:?}: {stored_in_phase} of {} stored; the digest rate is over that time",
            settings.drain_timeout, max.ok
        );
    }
    let digest_elapsed = drained_at
        .unwrap_or_else(Instant::now)
        .duration_since(t_start);
    let digest_per_s = stored_in_phase as f64 / digest_elapsed.as_secs_f64();

    // Totals, then sizes with the server stopped (SQLite: after its final checkpoint).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = db.count("events").await?;
    let issues = db.count("issues").await?;
    // Envelopes not digested: SQLite keeps them in a spool file of its own.
    let spool = db.spool_left().await.unwrap_or(0);
    let peak = proc_stats(server.pid());
    db.close().await;
    drop(db);
    server.stop(Duration::from_secs(20));
    let (total_bytes, tables) = match &postgres {
        Some(pg) => {
            let db = Db::connect_postgres(&pg.url).await?;
            let sizes = db.sizes().await?;
            db.close().await;
            sizes
        }
        None => {
            let mut files = 0;
            let mut listing = serde_json::Map::new();
            // The database and the ingest spool next to it, with their WAL files.
            for base in ["errorwatch.db", "errorwatch.spool"] {
                for suffix in ["", "-wal", "-shm"] {
                    let file = data.path().join(format!("{base}{suffix}"));
                    let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    listing.insert(format!("{base}{suffix}"), json!(len));
                    files += len;
                }
            }
            let db = Db::connect_sqlite(&sqlite_path).await?;
            let (_, tables) = db.sizes().await?;
            db.close().await;
            (files, tables)
        }
    };
    if let Some(pg) = &postgres {
        pg.drop_database().await;
    }
    drop(postgres);

    let all_ok = warm.ok + fixed_rate.ok + max.ok;
    let all_raw = warm.raw_bytes_ok + fixed_rate.raw_bytes_ok + max.raw_bytes_ok;
    let all_wire = warm.wire_bytes_ok + fixed_rate.wire_bytes_ok + max.wire_bytes_ok;
    let raw_per_event = all_raw as f64 / all_ok.max(1) as f64;
    let stored_per_event = total_bytes as f64 / events.max(1) as f64;
    let events_tables: u64 = tables
        .iter()
        .filter(|(name, _)| name.starts_with("events"))
        .map(|(_, bytes)| *bytes)
        .sum();
    let bytes_ratio = stored_per_event / raw_per_event;
    let cpu = |a: ProcStats, b: ProcStats| b.cpu_s - a.cpu_s;
    let json = json!({
        "warmup": warm.json(),
        "fixed_rate": fixed_rate.json(),
        "ingest_to_visible_ms": {
            "accepted": fixed_rate.accepted.len(),
            "seen": visible_ms.len(),
            "missing_after_timeout": missing,
            "p50": visible_quantile(0.50),
            "p95": visible_quantile(0.95),
            "p99": visible_quantile(0.99),
            "max": if missing == 0 { visible_ms.last().copied() } else { None },
            "poll_interval_ms": 20,
        },
        "max_throughput": max.json(),
        "digest": {
            "accepted_in_phase": max.ok,
            "stored_in_phase": stored_in_phase,
            "stored_when_load_stopped": at_load_end,
            "drained": drained_at.is_some(),
            "seconds_from_phase_start_to_drained": digest_elapsed.as_secs_f64(),
            "load_seconds": t_load_end.duration_since(t_start).as_secs_f64(),
            "events_per_s": digest_per_s,
            "samples_s_events": samples.iter().step_by(10).map(|(t, c)| json!([t, c - baseline])).collect::<Vec<_>>(),
        },
        "totals": { "events": events, "issues": issues, "ingest_spool_left": spool, "accepted_200": all_ok },
        "peak_rss_kb": peak.peak_rss_kb,
        "cpu_s": {
            "fixed_rate_and_visible_wait": cpu(s0, s1),
            "max_throughput_load": cpu(s1, s2),
            "drain_after_load": cpu(s2, s3),
        },
        "disk": {
            "total_bytes": total_bytes,
            "by_table": tables,
            "stored_bytes_per_event": stored_per_event,
            "events_table_and_indexes_bytes_per_event": events_tables as f64 / events.max(1) as f64,
            "raw_envelope_bytes_per_event": raw_per_event,
            "wire_bytes_per_event": all_wire as f64 / all_ok.max(1) as f64,
            "stored_over_raw": bytes_ratio,
        },
    });
    Ok(Measured {
        fixed_rate,
        max,
        peak_rss_kb: peak.peak_rss_kb,
        visible_p95_ms,
        digest_per_s: Some(digest_per_s),
        bytes_ratio: Some(bytes_ratio),
        json,
    })
}

/// One line of the targets table.
struct Row {
    figure: &'static str,
    target: &'static str,
    errorwatch: Option<f64>,
    reference: Option<f64>,
    unit: &'static str,
    met: Option<bool>,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "figure": self.figure,
            "target": self.target,
            "errorwatch": self.errorwatch,
            "reference": self.reference,
            "unit": self.unit,
            "met": self.met,
        })
    }
}

fn target_rows(reference: &Measured, server: &Measured) -> Vec<Row> {
    let ok = |v: Option<f64>, f: fn(f64) -> bool| v.map(f);
    let ew_accepted = Some(server.max.ok_per_s());
    let ew_p99 = server.fixed_rate.latency_ms(0.99);
    let ew_rss = Some(server.peak_rss_kb as f64 / 1024.0);
    vec![
        Row {
            figure: "accepted events/s (200s, max concurrency)",
            target: ">= 20,000",
            errorwatch: ew_accepted,
            reference: Some(reference.max.ok_per_s()),
            unit: "/s",
            met: ok(ew_accepted, |v| v >= 20_000.0),
        },
        Row {
            figure: "digested events/s, end to end",
            target: ">= 5,000",
            errorwatch: server.digest_per_s,
            reference: None,
            unit: "/s",
            met: ok(server.digest_per_s, |v| v >= 5_000.0),
        },
        Row {
            figure: "ingest p50 at the fixed rate",
            target: "-",
            errorwatch: server.fixed_rate.latency_ms(0.5),
            reference: reference.fixed_rate.latency_ms(0.5),
            unit: "ms",
            met: None,
        },
        Row {
            figure: "ingest p99 at the fixed rate",
            target: "< 10 ms",
            errorwatch: ew_p99,
            reference: reference.fixed_rate.latency_ms(0.99),
            unit: "ms",
            met: ok(ew_p99, |v| v < 10.0),
        },
        Row {
            figure: "ingest -> issue visible p95 at the fixed rate",
            target: "< 1 s",
            errorwatch: server.visible_p95_ms,
            reference: None,
            unit: "ms",
            met: Some(server.visible_p95_ms.is_some_and(|v| v < 1000.0)),
        },
        Row {
            figure: "server peak RSS",
            target: "< 150 MB",
            errorwatch: ew_rss,
            reference: Some(reference.peak_rss_kb as f64 / 1024.0),
            unit: "MiB",
            met: ok(ew_rss, |v| v < 150.0),
        },
        Row {
            figure: "stored bytes per event / raw envelope bytes",
            target: "<= 0.33",
            errorwatch: server.bytes_ratio,
            reference: None,
            unit: "",
            met: ok(server.bytes_ratio, |v| v <= 0.33),
        },
        Row {
            figure: "ingest p50 at max concurrency",
            target: "-",
            errorwatch: server.max.latency_ms(0.5),
            reference: reference.max.latency_ms(0.5),
            unit: "ms",
            met: None,
        },
        Row {
            figure: "ingest p99 at max concurrency",
            target: "-",
            errorwatch: server.max.latency_ms(0.99),
            reference: reference.max.latency_ms(0.99),
            unit: "ms",
            met: None,
        },
    ]
}

fn fmt(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if unit == "/s" || unit == "MiB" => format!("{v:.0} {unit}"),
        Some(v) if unit == "ms" => format!("{v:.2} ms"),
        Some(v) => format!("{v:.3}"),
    }
}

fn print_table(
    kind: DbKind,
    settings: &Settings,
    rows: &[Row],
    reference: &Measured,
    server: &Measured,
) {
    println!();
    println!(
        "errorwatch ({}) vs `return 200` reference; {} connections at max concurrency, fixed rate {}/s",
        kind.name(),
        settings.connections,
        settings.rate
    );
    println!(
        "| {:<46} | {:<9} | {:>14} | {:>14} | {:<4} |",
        "figure", "target", "errorwatch", "reference", "met"
    );
    println!(
        "|{:-<48}|{:-<11}|{:->16}|{:->16}|{:-<6}|",
        "", "", "", "", ""
    );
    for row in rows {
        println!(
            "| {:<46} | {:<9} | {:>14} | {:>14} | {:<4} |",
            row.figure,
            row.target,
            fmt(row.errorwatch, row.unit),
            fmt(row.reference, row.unit),
            match row.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            }
        );
    }
    let statuses = |t: &Tally| {
        format!(
            "{:?}, {} with Retry-After, {} transport errors",
            t.statuses, t.with_retry_after, t.errors
        )
    };
    println!(
        "\nerrorwatch statuses: fixed rate {}; max {}",
        statuses(&server.fixed_rate),
        statuses(&server.max)
    );
    println!(
        "reference statuses: fixed rate {}; max {}",
        statuses(&reference.fixed_rate),
        statuses(&reference.max)
    );
}
