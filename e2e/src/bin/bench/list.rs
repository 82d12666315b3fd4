//! `bench --list-timing`: the issue-list timing of issue 6. Seeds a project with 10,000 issues
//! and 1,000,000 events (`errorwatch seed`), then times the dashboard's first page — unresolved
//! issues sorted by last seen, 50 per page with counts and latest event — through `/graphql`
//! with an API token, sequentially, and reports p50/p95/max.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::procs;

const QUERY: &str = "query($p: ID!) { project(id: $p) { issues(query: \"is:unresolved\", sort: LAST_SEEN, first: 50) {
  totalCount edges { node { id title culprit level count userCount lastSeen latestEvent { eventId } } } } } }";

/// Seeds and times; returns the JSON report.
pub async fn run(
    bin: &Path,
    env: &[(String, String)],
    port: u16,
    issues: u64,
    events: u64,
    requests: usize,
) -> anyhow::Result<Value> {
    let (project, _, _) = procs::create_project(bin, env)?;
    eprintln!("    seeding {issues} issues and {events} events into project {project}");
    let seeded_at = Instant::now();
    let out = procs::admin(
        bin,
        env,
        &[
            "seed",
            "--project",
            &project.to_string(),
            "--issues",
            &issues.to_string(),
            "--events",
            &events.to_string(),
        ],
        None,
    )?;
    let seed_secs = seeded_at.elapsed().as_secs_f64();
    eprintln!("    {}", out.trim());
    let account = "bench";
    let secret = procs::create_token(
        bin,
        env,
        account,
        "bench@bench.example.com",
        "bench",
        "read",
    )?;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/graphql");
    let body = json!({"query": QUERY, "variables": {"p": format!("prj_{project}")}});
    let mut samples = Vec::with_capacity(requests);
    let mut total = 0;
    for i in 0..requests + 5 {
        let started = Instant::now();
        let response: Value = client
            .post(&url)
            .bearer_auth(&secret)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let took = started.elapsed();
        anyhow::ensure!(
            response.get("errors").is_none(),
            "the list query failed: {response}"
        );
        total = response["data"]["project"]["issues"]["totalCount"]
            .as_i64()
            .unwrap_or(0);
        // The first five warm caches and connections.
        if i >= 5 {
            samples.push(took);
        }
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "    first page of unresolved issues (of {total}), {requests} sequential requests: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(pick(1.0))
    );
    Ok(json!({
        "issues": issues,
        "events": events,
        "seed_s": seed_secs,
        "unresolved_total": total,
        "requests": requests,
        "p50_ms": ms(pick(0.5)),
        "p95_ms": ms(pick(0.95)),
        "max_ms": ms(pick(1.0)),
        "target_p95_ms": 50,
    }))
}
