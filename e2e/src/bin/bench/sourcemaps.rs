//! `bench --sourcemaps`: the digest's rate for minified browser events symbolicated with
//! uploaded source maps (warm cache, maps of ~2 MB) against the same events without maps, and
//! the server's RSS with the map cache full.
//!
//! The build: esbuild (installed by `infra/install-e2e-sdks.sh`) bundles and minifies a small
//! generated shop app with `@sentry/browser` into one ESM file and its source map (~2.4 MB, most
//! of it `sourcesContent`, as real bundles' maps are). The frame positions are real: tokens of
//! that map at call sites (an identifier followed by `(` in the minified file), each checked
//! with the digest's own lookup ([`ParsedMap::lookup`]), from the app's sources and from the
//! SDK's.
//!
//! The builds: `K` copies of that build, each with its own debug id (`"debugId"` in the map,
//! `//# debugId=` in the minified file) and file name (`app-<hash>.js`), uploaded to project A
//! as one artifact bundle each through the Sentry API sentry-cli uses (chunk upload + assemble,
//! with a `project:releases` token). `K` is as many as the digest's map cache holds (its budget
//! ÷ the map's cost, which this bench computes with the cache's own estimate), so once warm the
//! cache is full and every lookup hits.
//!
//! The events: browser-SDK-shaped envelopes (platform `javascript`, one exception with 8–15
//! frames at those positions, `debug_meta.images[{type: sourcemap}]` naming the build's debug
//! id, breadcrumbs, request, SDK info), sent as `@sentry/browser` sends them. Project B gets
//! the identical events and has no uploads: its frames stay minified, with the reason.
//!
//! The measurement: the full bench's "digested events/s end to end" on a fixed count, per
//! phase, alternating B, A, B, A: `N` events sent closed loop over the bench's connections,
//! then the time from the phase's start until the issues' counters hold them all. Also the
//! drain alone (events digested after the load stopped ÷ the time that took, when the digest
//! has no ingest to share the cores with), the server's CPU per event and its peak RSS over
//! the phase (sampled every 100 ms).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use errorwatch_symbolicate::ParsedMap;
use errorwatch_symbolicate::bundle::{FileKind, build_bundle};
use serde_json::{Value, json};
use sha1::Digest;

use crate::DbKind;
use crate::corpus::{Style, Template};
use crate::load::{self, Generator, Target};
use crate::procs::{self, Db, RssSampler, proc_stats};

/// How `--sourcemaps` runs.
pub struct Options {
    /// Events sent per phase.
    pub events: u64,
    /// Rounds of (B, A).
    pub rounds: u32,
    /// Builds uploaded to A; `None`: as many as the cache holds.
    pub builds: Option<usize>,
    /// The digest's map cache, MiB (`ERRORWATCH_SOURCEMAP_CACHE_MB`).
    pub cache_mb: usize,
    /// Connections of the load.
    pub connections: usize,
    /// Give up waiting for a phase's digest after this long.
    pub drain_timeout: Duration,
    /// Peak RSS bound, MiB.
    pub rss_limit_mib: f64,
}

/// Distinct event templates (error type, message, frames, build); round-robin.
const TEMPLATES: usize = 24;
/// The SDK version the events claim (the one `infra/install-e2e-sdks.sh` installs).
const SDK_VERSION: &str = "11.19.0";
/// Slack left in the cache's budget for its negative entries (256 B each): the events' release
/// URLs have no release files, and those "no map" answers are cached too.
const NEGATIVE_SLACK: usize = 256 << 10;

/// One minified build and its map.
struct Build {
    minified: String,
    /// The map as esbuild wrote it, parsed.
    map: Value,
    map_bytes: usize,
    /// Mapped call sites: (line, column) 1-based, the enclosing function's minified name, and
    /// whether the original source is the app's (else a dependency's).
    positions: Vec<Position>,
    /// What one parsed copy costs in the digest's cache ([`ParsedMap::approx_bytes`]).
    cache_cost: usize,
}

#[derive(Clone, Debug)]
struct Position {
    line: u32,
    col: u32,
    function: Option<String>,
    app: bool,
}

/// One uploaded copy of the build.
struct Uploaded {
    debug_id: String,
    url: String,
}

/// The generated app: modules of small functions that call each other and the SDK, so the
/// bundle has app frames next to the SDK's.
fn app_sources() -> Vec<(String, String)> {
    let modules = ["cart", "checkout", "catalog", "account", "api", "ui"];
    let mut files = Vec::new();
    for (m, module) in modules.iter().enumerate() {
        let mut js = String::from(
            "import { captureException, addBreadcrumb } from \"@sentry/browser\";\n\n",
        );
        for f in 0..20 {
            let next = if f + 1 < 20 {
                format!("{module}Step{}(input, depth + 1)", f + 1)
            } else {
                "finish(input)".to_owned()
            };
            js.push_str(&format!(
                "export function {module}Step{f}(input, depth = 0) {{\n\
                 \x20 const items = Array.isArray(input.items) ? input.items : [];\n\
                 \x20 let total = 0;\n\
                 \x20 for (const item of items) {{\n\
                 \x20   total += Number(item.price) * (item.quantity || 1) + {m}.{f};\n\
                 \x20 }}\n\
                 \x20 if (depth > input.limit) {{\n\
                 \x20   addBreadcrumb({{ category: \"{module}\", message: \"step {f} over limit\" }});\n\
                 \x20   throw new RangeError(\"{module} step {f}: depth \" + depth + \" over \" + input.limit);\n\
                 \x20 }}\n\
                 \x20 try {{\n\
                 \x20   return {next} + total;\n\
                 \x20 }} catch (error) {{\n\
                 \x20   if (input.report) captureException(error);\n\
                 \x20   throw error;\n\
                 \x20 }}\n\
                 }}\n\n"
            ));
        }
        js.push_str(
            "function finish(input) {\n  if (!input.customer) {\n    throw new TypeError(\"Cannot read properties of undefined (reading 'id')\");\n  }\n  return input.customer.id.length;\n}\n",
        );
        files.push((format!("src/{module}.js"), js));
    }
    let mut entry = String::from("export { init, captureException } from \"@sentry/browser\";\n");
    for module in modules {
        entry.push_str(&format!("export * from \"./src/{module}.js\";\n"));
    }
    files.push(("main.js".to_owned(), entry));
    files
}

/// Bundles the app with esbuild and finds the frame positions.
fn build(work: &Path) -> anyhow::Result<Build> {
    let browser = errorwatch_e2e::e2e_sdk_dir().join("browser/node_modules");
    let esbuild = browser.join(".bin/esbuild");
    if !esbuild.is_file() || !browser.join("@sentry/browser").is_dir() {
        bail!(
            "esbuild and @sentry/browser are not in {} (run infra/install-e2e-sdks.sh)",
            browser.display()
        );
    }
    for (path, text) in app_sources() {
        let file = work.join(path);
        std::fs::create_dir_all(file.parent().context("a parent")?)?;
        std::fs::write(file, text)?;
    }
    // A project's own node_modules, so the map names `../node_modules/@sentry/…` as real
    // builds do (with symlinks kept, not resolved to the cache's path).
    #[cfg(unix)]
    std::os::unix::fs::symlink(&browser, work.join("node_modules"))?;
    let output = Command::new(&esbuild)
        .args([
            "main.js",
            "--bundle",
            "--minify",
            "--sourcemap",
            "--preserve-symlinks",
            "--format=esm",
            "--target=es2020",
            "--outfile=dist/app.js",
            "--log-level=warning",
        ])
        .current_dir(work)
        .output()
        .context("run esbuild")?;
    if !output.status.success() {
        bail!(
            "esbuild failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let minified = std::fs::read_to_string(work.join("dist/app.js"))?;
    let map_bytes = std::fs::read(work.join("dist/app.js.map"))?;
    let positions = positions(&minified, &map_bytes)?;

    let mut parsed = ParsedMap::parse(&map_bytes).context("the digest cannot parse the map")?;
    parsed.attach_minified_source(&minified);
    for p in &positions {
        parsed
            .lookup(p.line, p.col)
            .map_err(|e| anyhow::anyhow!("position {}:{} does not map: {e}", p.line, p.col))?;
    }
    Ok(Build {
        map: serde_json::from_slice(&map_bytes)?,
        map_bytes: map_bytes.len(),
        minified,
        positions,
        cache_cost: parsed.approx_bytes(),
    })
}

/// Call sites (an identifier followed by `(`, where V8 puts a frame's position) of the minified
/// file that the map maps: 12 in the app's sources, 20 in the SDK's, spread over the file.
fn positions(minified: &str, map: &[u8]) -> anyhow::Result<Vec<Position>> {
    let sm = sourcemap::SourceMap::from_slice(map)?;
    let lines: Vec<&str> = minified.split('\n').collect();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let (mut app, mut sdk) = (Vec::new(), Vec::new());
    for token in sm.tokens() {
        let Some(source) = token.get_source() else {
            continue;
        };
        let (line, col) = token.get_dst();
        let Some(text) = lines.get(line as usize).map(|l| l.as_bytes()) else {
            continue;
        };
        let col = col as usize;
        // An identifier starting here, followed by `(`: a call.
        if col >= text.len() || !is_ident(text[col]) || text[col].is_ascii_digit() {
            continue;
        }
        // A call (`b(`, `a.b(`), not a declaration (`function b(`).
        if col > 0 && is_ident(text[col - 1]) || text[..col].ends_with(b"function ") {
            continue;
        }
        let end = col + text[col..].iter().take_while(|b| is_ident(**b)).count();
        if text.get(end) != Some(&b'(') {
            continue;
        }
        let keyword = &text[col..end];
        if matches!(
            keyword,
            b"if" | b"for" | b"while" | b"switch" | b"catch" | b"function" | b"return"
        ) {
            continue;
        }
        let position = Position {
            line: line + 1,
            col: col as u32 + 1,
            function: enclosing_function(&text[..col]),
            app: !source.contains("node_modules"),
        };
        if position.app {
            app.push(position);
        } else {
            sdk.push(position);
        }
    }
    let spread = |all: Vec<Position>, n: usize| -> Vec<Position> {
        let step = (all.len() / n).max(1);
        all.into_iter().step_by(step).take(n).collect()
    };
    let (app, sdk) = (spread(app, 12), spread(sdk, 20));
    if app.len() < 4 || sdk.len() < 8 {
        bail!(
            "too few mapped call sites in the build ({} app, {} SDK)",
            app.len(),
            sdk.len()
        );
    }
    Ok(app.into_iter().chain(sdk).collect())
}

/// The minified name of the last `function NAME(` before the position (what a V8 stack names
/// the frame), if any.
fn enclosing_function(before: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(before).ok()?;
    let at = text.rfind("function ")?;
    let name: String = text[at + 9..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The build with `debug_id` injected: (minified file, map).
fn inject(build: &Build, debug_id: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let minified = format!(
        "{}\n//# debugId={debug_id}\n",
        build.minified.trim_end_matches('\n')
    );
    let mut map = build.map.clone();
    map["debugId"] = json!(debug_id);
    Ok((minified, serde_json::to_vec(&map)?))
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// Uploads `bundle` as sentry-cli does: chunk options, chunks (gzip), assemble.
async fn upload_bundle(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    org: &str,
    project: &str,
    bundle: &[u8],
) -> anyhow::Result<()> {
    let options: Value = client
        .get(format!("{base}/api/0/organizations/{org}/chunk-upload/"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let chunk_size = options["chunkSize"].as_u64().context("chunkSize")? as usize;
    let url = options["url"].as_str().context("url")?;
    let chunks: Vec<&[u8]> = bundle.chunks(chunk_size).collect();
    let checksums: Vec<String> = chunks.iter().map(|c| sha1_hex(c)).collect();
    for (chunk, checksum) in chunks.iter().zip(&checksums) {
        let form = reqwest::multipart::Form::new().part(
            "file_gzip",
            reqwest::multipart::Part::bytes(gzip(chunk)?).file_name(checksum.clone()),
        );
        client
            .post(format!("{base}{url}"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?
            .error_for_status()
            .context("chunk upload")?;
    }
    let answer: Value = client
        .post(format!(
            "{base}/api/0/organizations/{org}/artifactbundle/assemble/"
        ))
        .bearer_auth(token)
        .json(&json!({"checksum": sha1_hex(bundle), "chunks": checksums, "projects": [project]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if answer["state"] != "ok" {
        bail!("assemble: {answer}");
    }
    Ok(())
}

const MESSAGES: [(&str, &str); 8] = [
    (
        "TypeError",
        "Cannot read properties of undefined (reading 'id')",
    ),
    ("TypeError", "t.items.map is not a function"),
    ("RangeError", "checkout step 7: depth 9 over 8"),
    ("Error", "Request failed with status code 502"),
    ("TypeError", "Failed to fetch"),
    ("ReferenceError", "gtag is not defined"),
    (
        "SyntaxError",
        "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
    ),
    (
        "TypeError",
        "Cannot set properties of null (setting 'textContent')",
    ),
];

/// Event template `i` for build `upload`: a browser SDK envelope (event id all zeros; the
/// generator puts a fresh one in each request).
fn envelope(i: usize, build: &Build, upload: &Uploaded, now: f64) -> String {
    let event_id = "0".repeat(32);
    let (app, sdk): (Vec<&Position>, Vec<&Position>) = build.positions.iter().partition(|p| p.app);
    // Oldest first: SDK and app frames interleaved, the app's throw on top.
    let count = 8 + (i * 5) % 8;
    let mut frames = Vec::with_capacity(count);
    for j in 0..count {
        let p = if j + 1 == count {
            app[i % app.len()]
        } else if j % 3 == 2 {
            app[(i + j) % app.len()]
        } else {
            sdk[(i * 3 + j) % sdk.len()]
        };
        frames.push(json!({
            "filename": upload.url,
            "function": p.function.as_deref().unwrap_or("?"),
            "in_app": true,
            "lineno": p.line,
            "colno": p.col,
        }));
    }
    let (kind, message) = MESSAGES[i % MESSAGES.len()];
    let breadcrumbs: Vec<Value> = (0..12)
        .map(|b| {
            let at = now - 30.0 + b as f64;
            match b % 4 {
                0 => json!({"timestamp": at, "category": "navigation", "data": {"from": "/catalog", "to": format!("/catalog/item-{b}")}}),
                1 => json!({"timestamp": at, "category": "ui.click", "message": format!("div.product-card > button#add-to-cart-{b}")}),
                2 => json!({"timestamp": at, "type": "http", "category": "fetch", "data": {"method": "GET", "url": format!("/api/catalog/items/{b}"), "status_code": 200, "request_body_size": 0, "response_body_size": 1832}}),
                _ => json!({"timestamp": at, "category": "console", "level": "warning", "message": "Deprecated API usage: use fetchPriority", "data": {"arguments": ["Deprecated API usage: use fetchPriority"], "logger": "console"}}),
            }
        })
        .collect();
    let trace_id = format!("{:032x}", 0x5eed_0000_u128 + i as u128);
    let event = json!({
        "exception": {"values": [{
            "type": kind,
            "value": message,
            "stacktrace": {"frames": frames},
            "mechanism": {"type": "auto.browser.global_handlers.onerror", "handled": false},
        }]},
        "level": "error",
        "event_id": event_id,
        "platform": "javascript",
        "request": {
            "url": "https://shop.example.com/checkout",
            "headers": {
                "Referer": "https://shop.example.com/cart",
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
            },
        },
        "timestamp": now,
        "environment": "production",
        "release": "shop-web@2026.11.24",
        "sdk": {
            "integrations": ["InboundFilters", "FunctionToString", "BrowserApiErrors", "Breadcrumbs", "GlobalHandlers", "LinkedErrors", "Dedupe", "HttpContext", "BrowserSession"],
            "name": "sentry.javascript.browser",
            "version": SDK_VERSION,
            "packages": [{"name": "npm:@sentry/browser", "version": SDK_VERSION}],
        },
        "breadcrumbs": breadcrumbs,
        "contexts": {"trace": {"trace_id": trace_id, "span_id": "a1b2c3d4e5f60718"}},
        "user": {"ip_address": "{{auto}}"},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": upload.url, "debug_id": upload.debug_id}]},
    });
    let header = json!({
        "event_id": event_id,
        "sent_at": "2026-11-24T12:00:00.000Z",
        "sdk": {"name": "sentry.javascript.browser", "version": SDK_VERSION},
        "trace": {"environment": "production", "release": "shop-web@2026.11.24", "public_key": "0", "trace_id": trace_id, "sampled": "false"},
    });
    format!("{header}\n{{\"type\":\"event\"}}\n{event}\n")
}

/// One measured phase.
struct Phase {
    project: &'static str,
    tally: load::Tally,
    end_to_end_per_s: f64,
    drain_per_s: Option<f64>,
    digested_when_load_stopped: i64,
    drained: bool,
    seconds: f64,
    cpu_us_per_event: f64,
    peak_rss_kb: u64,
}

impl Phase {
    fn json(&self) -> Value {
        json!({
            "project": self.project,
            "load": self.tally.json(),
            "digested_per_s_end_to_end": self.end_to_end_per_s,
            "digested_per_s_drain_only": self.drain_per_s,
            "digested_when_load_stopped": self.digested_when_load_stopped,
            "drained": self.drained,
            "seconds_from_start_to_drained": self.seconds,
            "server_cpu_us_per_event": self.cpu_us_per_event,
            "peak_rss_kb_sampled": self.peak_rss_kb,
        })
    }
}

/// Sends `events` to `generator`'s project closed loop and waits until they are digested.
async fn phase(
    project: &'static str,
    generator: Arc<Generator>,
    db: &Db,
    pid: u32,
    options: &Options,
) -> anyhow::Result<Phase> {
    let baseline = db.stored_events().await?;
    let sampler = RssSampler::start(pid, Duration::from_millis(100));
    let cpu0 = proc_stats(pid).cpu_s;
    let start = Instant::now();
    let tally = load::closed_loop(
        generator,
        options.connections,
        Duration::from_secs(600),
        options.events,
        false,
    )
    .await?;
    let load_end = Instant::now();
    let at_load_end = db.stored_events().await? - baseline;
    let target = baseline + tally.ok as i64;
    let deadline = Instant::now() + options.drain_timeout;
    let mut stored;
    let drained_at = loop {
        stored = db.stored_events().await?;
        let now = Instant::now();
        if stored >= target {
            break Some(now);
        }
        if now >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let end = drained_at.unwrap_or_else(Instant::now);
    let cpu = proc_stats(pid).cpu_s - cpu0;
    let (peak_rss_kb, _) = sampler.finish().await;
    let digested = stored - baseline;
    let seconds = end.duration_since(start).as_secs_f64();
    let drain_s = end.duration_since(load_end).as_secs_f64();
    let pending = digested - at_load_end;
    Ok(Phase {
        project,
        end_to_end_per_s: digested as f64 / seconds,
        // Less than a second of drain says little.
        drain_per_s: (drain_s >= 1.0).then(|| pending as f64 / drain_s),
        digested_when_load_stopped: at_load_end,
        drained: drained_at.is_some(),
        seconds,
        cpu_us_per_event: cpu / tally.ok.max(1) as f64 * 1e6,
        peak_rss_kb,
        tally,
    })
}

/// Creates the user, account, projects A ("Maps") and B ("Plain") and a releases token.
/// Returns ((id, key, slug) of A, of B, account slug, token).
type ProjectKey = (i64, String, String);
fn create_projects(
    bin: &Path,
    env: &[(String, String)],
) -> anyhow::Result<(ProjectKey, ProjectKey, String, String)> {
    let email = "bench@bench.example.com";
    procs::admin(
        bin,
        env,
        &["user", "create", "--email", email, "--password-stdin"],
        Some("a bench password long enough\n"),
    )?;
    let account: Value = serde_json::from_str(&procs::admin(
        bin,
        env,
        &[
            "account", "create", "--name", "Bench", "--owner", email, "--json",
        ],
        None,
    )?)?;
    let org = account["slug"].as_str().context("account slug")?.to_owned();
    let project = |name: &str| -> anyhow::Result<ProjectKey> {
        let p: Value = serde_json::from_str(&procs::admin(
            bin,
            env,
            &[
                "project",
                "create",
                "--account",
                &org,
                "--name",
                name,
                "--json",
            ],
            None,
        )?)?;
        let dsn = p["dsn"].as_str().context("dsn")?;
        let key = dsn
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(key, _)| key.to_owned())
            .context("no key in the DSN")?;
        Ok((
            p["id"].as_i64().context("project id")?,
            key,
            p["slug"].as_str().context("project slug")?.to_owned(),
        ))
    };
    let (a, b) = (project("Maps")?, project("Plain")?);
    let token = procs::create_token(bin, env, &org, email, "sourcemaps", "project:releases")?;
    Ok((a, b, org, token))
}

/// Runs the mode; returns the JSON report (the table is printed).
pub async fn run(
    bin: &Path,
    kind: DbKind,
    repo: &Path,
    options: &Options,
) -> anyhow::Result<Value> {
    let work = tempfile::tempdir()?;
    eprintln!("==> esbuild: the app + @sentry/browser, minified, with a source map");
    let build = build(work.path())?;
    let budget = options.cache_mb << 20;
    let builds = options.builds.unwrap_or_else(|| {
        (budget.saturating_sub(NEGATIVE_SLACK) / build.cache_cost.max(1)).max(1)
    });
    eprintln!(
        "    map {:.2} MB, minified {:.0} kB, {} positions; parsed {:.1} MiB each: {builds} builds fill the {} MiB cache",
        build.map_bytes as f64 / 1e6,
        build.minified.len() as f64 / 1e3,
        build.positions.len(),
        build.cache_cost as f64 / 1048576.0,
        options.cache_mb
    );

    let (data, postgres, database_url) =
        procs::fresh_database(kind == DbKind::Postgres, repo).await?;
    let port = errorwatch_e2e::free_port();
    let mut env = procs::server_env(&database_url, port, repo);
    env.push((
        "ERRORWATCH_SOURCEMAP_CACHE_MB".into(),
        options.cache_mb.to_string(),
    ));
    let mut server = procs::start_errorwatch(bin, &env, port).await?;
    let running = Running {
        bin,
        env: &env,
        port,
        pid: server.pid(),
        db_url: postgres.as_ref().map(|pg| pg.url.clone()),
        sqlite: data.path().join("errorwatch.db"),
    };
    let result = measure(&build, builds, &running, options).await;
    let hwm = proc_stats(server.pid()).peak_rss_kb;
    server.stop(Duration::from_secs(20));
    if let Some(pg) = &postgres {
        pg.drop_database().await;
    }
    let (phases, mut report) = result?;
    report["server_vm_hwm_kb"] = json!(hwm);
    print_table(kind, &build, builds, &phases, hwm, options);
    Ok(report)
}

/// The server under test.
struct Running<'a> {
    bin: &'a Path,
    env: &'a [(String, String)],
    port: u16,
    pid: u32,
    /// PostgreSQL's URL, else the SQLite file.
    db_url: Option<String>,
    sqlite: std::path::PathBuf,
}

async fn measure(
    build: &Build,
    builds: usize,
    server: &Running<'_>,
    options: &Options,
) -> anyhow::Result<(Vec<Phase>, Value)> {
    let (bin, env, port, pid) = (server.bin, server.env, server.port, server.pid);
    let ((a_id, a_key, a_slug), (b_id, b_key, _), org, token) = create_projects(bin, env)?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    eprintln!("==> uploading {builds} artifact bundles to project A ({a_slug})");
    let mut uploads = Vec::with_capacity(builds);
    for k in 0..builds {
        let debug_id = uuid::Uuid::from_u128(0x6b1d_0000_0000_4000_8000_0000_0000_0000 + k as u128)
            .to_string();
        let (minified, map) = inject(build, &debug_id)?;
        let hash = &sha1_hex(minified.as_bytes())[..8];
        let name = format!("app-{hash}.js");
        let (js_url, map_name) = (format!("~/assets/{name}"), format!("{name}.map"));
        let map_url = format!("~/assets/{map_name}");
        let js_headers = [("debug-id", debug_id.as_str()), ("sourcemap", &map_name)];
        let bundle = build_bundle(
            &[
                (
                    &js_url,
                    FileKind::MinifiedSource,
                    &js_headers,
                    minified.as_bytes(),
                ),
                (
                    &map_url,
                    FileKind::SourceMap,
                    &[("debug-id", debug_id.as_str())],
                    &map,
                ),
            ],
            &[("org", &org), ("project", &a_slug), ("debug_id", &debug_id)],
        );
        upload_bundle(&client, &base, &token, &org, &a_slug, &bundle).await?;
        uploads.push(Uploaded {
            debug_id,
            url: format!("https://cdn.example.com/assets/{name}"),
        });
    }
    // The digest reads a project's uploads once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let templates = || -> anyhow::Result<Vec<Template>> {
        (0..TEMPLATES.max(builds))
            .map(|i| {
                Template::from_envelope(
                    format!("browser_{i}"),
                    Style::Browser,
                    envelope(i, build, &uploads[i % builds], now).into_bytes(),
                )
            })
            .collect()
    };
    let raw_bytes: Vec<usize> = (0..TEMPLATES.max(builds))
        .map(|i| envelope(i, build, &uploads[i % builds], now).len())
        .collect();
    let target = |project_id, key: &str| Target {
        addr: ([127, 0, 0, 1], port).into(),
        project_id,
        key: key.to_owned(),
    };
    let gen_a = Arc::new(Generator::new(templates()?, target(a_id, &a_key)));
    let gen_b = Arc::new(Generator::new(templates()?, target(b_id, &b_key)));
    let db = match &server.db_url {
        Some(url) => Db::connect_postgres(url).await?,
        None => Db::connect_sqlite(&server.sqlite).await?,
    };

    // Warm-up: every template once per project (A: every map parsed and cached), digested.
    eprintln!("==> warm-up: every event once per project");
    let warm_n = 4 * TEMPLATES.max(builds) as u64;
    for generator in [&gen_b, &gen_a] {
        let before = db.stored_events().await?;
        let warm =
            load::closed_loop(generator.clone(), 4, Duration::from_secs(60), warm_n, false).await?;
        anyhow::ensure!(
            warm.ok == warm_n,
            "warm-up: {} of {warm_n} accepted ({:?})",
            warm.ok,
            warm.statuses
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while db.stored_events().await? < before + warm_n as i64 {
            anyhow::ensure!(Instant::now() < deadline, "the warm-up was not digested");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let culprits_a = db.project_culprits(a_id).await?;
    let culprits_b = db.project_culprits(b_id).await?;
    let minified = |c: &Vec<String>| c.iter().filter(|c| c.contains("cdn.example.com")).count();
    eprintln!(
        "    A: {} issues, {} with a minified culprit (e.g. {:?}); B: {} issues, {} minified (e.g. {:?})",
        culprits_a.len(),
        minified(&culprits_a),
        culprits_a.first(),
        culprits_b.len(),
        minified(&culprits_b),
        culprits_b.first()
    );
    anyhow::ensure!(
        !culprits_a.is_empty() && minified(&culprits_a) == 0,
        "project A's events were not symbolicated: {culprits_a:?}"
    );
    anyhow::ensure!(
        minified(&culprits_b) == culprits_b.len(),
        "project B's events were symbolicated: {culprits_b:?}"
    );

    let mut phases = Vec::new();
    for round in 0..options.rounds {
        for (name, generator) in [("B (no maps)", &gen_b), ("A (maps)", &gen_a)] {
            eprintln!(
                "==> round {}: {name}, {} events, {} connections",
                round + 1,
                options.events,
                options.connections
            );
            // The previous phase's spool cleanup and checkpoints settle first.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let p = phase(name, generator.clone(), &db, pid, options).await?;
            eprintln!(
                "    accepted {:.0}/s; digested {:.0}/s end to end, {} after the load ({} when it stopped); {:.0} µs CPU/event; peak RSS {} MiB",
                p.tally.ok_per_s(),
                p.end_to_end_per_s,
                p.drain_per_s
                    .map_or("n/a".to_owned(), |r| format!("{r:.0}/s")),
                p.digested_when_load_stopped,
                p.cpu_us_per_event,
                p.peak_rss_kb / 1024
            );
            phases.push(p);
        }
    }
    let issues_a = db.project_culprits(a_id).await?.len();
    let issues_b = db.project_culprits(b_id).await?.len();
    db.close().await;

    let mean = |project: &str, f: &dyn Fn(&Phase) -> Option<f64>| mean_of(&phases, project, f);
    let ratio = |f: &dyn Fn(&Phase) -> Option<f64>| Some(mean("A", f)? / mean("B", f)?);
    let peak_a = phases
        .iter()
        .filter(|p| p.project.starts_with('A'))
        .map(|p| p.peak_rss_kb)
        .max()
        .unwrap_or(0);
    let report = json!({
        "map": {
            "bytes": build.map_bytes,
            "minified_bytes": build.minified.len(),
            "positions": build.positions.iter().map(|p| json!({"line": p.line, "col": p.col, "function": p.function, "app": p.app})).collect::<Vec<_>>(),
            "parsed_cache_cost_bytes": build.cache_cost,
            "builds_uploaded": builds,
            "cache_budget_bytes": options.cache_mb << 20,
            "cache_filled_bytes": build.cache_cost * builds,
        },
        "events": {
            "templates": TEMPLATES.max(builds),
            "raw_envelope_bytes_mean": raw_bytes.iter().sum::<usize>() as f64 / raw_bytes.len() as f64,
            "per_phase": options.events,
            "connections": options.connections,
        },
        "warmup_culprits": {"A": culprits_a, "B": culprits_b},
        "issues": {"A": issues_a, "B": issues_b},
        "phases": phases.iter().map(Phase::json).collect::<Vec<_>>(),
        "ratio_a_over_b": {
            "end_to_end": ratio(&|p| Some(p.end_to_end_per_s)),
            "drain_only": ratio(&|p| p.drain_per_s),
            "target": ">= 0.5 (end to end)",
        },
        "peak_rss_kb_sampled_a_phases": peak_a,
        "rss_limit_mib": options.rss_limit_mib,
        "cache_stats": "not exposed by the server (Symbolicator::cache_stats is not in /metrics)",
    });
    Ok((phases, report))
}

fn print_table(
    kind: DbKind,
    build: &Build,
    builds: usize,
    phases: &[Phase],
    hwm_kb: u64,
    options: &Options,
) {
    println!();
    println!(
        "source maps ({}): {builds} builds × {:.2} MB map ({:.1} MiB parsed each, {:.1} of {} MiB cache); {} events per phase, {} connections",
        kind.name(),
        build.map_bytes as f64 / 1e6,
        build.cache_cost as f64 / 1048576.0,
        (build.cache_cost * builds) as f64 / 1048576.0,
        options.cache_mb,
        options.events,
        options.connections
    );
    println!(
        "| {:<2} | {:<12} | {:>10} | {:>19} | {:>17} | {:>14} | {:>13} |",
        "#",
        "project",
        "accepted/s",
        "digested/s (e2e)",
        "digested/s (drain)",
        "CPU µs/event",
        "peak RSS MiB"
    );
    println!(
        "|{:-<4}|{:-<14}|{:->12}|{:->21}|{:->19}|{:->16}|{:->15}|",
        "", "", "", "", "", "", ""
    );
    for (i, p) in phases.iter().enumerate() {
        println!(
            "| {:<2} | {:<12} | {:>10.0} | {:>19.0} | {:>17} | {:>14.0} | {:>13.1} |",
            i + 1,
            p.project,
            p.tally.ok_per_s(),
            p.end_to_end_per_s,
            p.drain_per_s
                .map_or("n/a".to_owned(), |r| format!("{r:.0}")),
            p.cpu_us_per_event,
            p.peak_rss_kb as f64 / 1024.0,
        );
    }
    let mean =
        |project: char, f: &dyn Fn(&Phase) -> Option<f64>| mean_of(phases, &project.to_string(), f);
    let e2e =
        mean('A', &|p| Some(p.end_to_end_per_s)).zip(mean('B', &|p| Some(p.end_to_end_per_s)));
    let drain = mean('A', &|p| p.drain_per_s).zip(mean('B', &|p| p.drain_per_s));
    let cpu =
        mean('A', &|p| Some(p.cpu_us_per_event)).zip(mean('B', &|p| Some(p.cpu_us_per_event)));
    let peak_a = phases
        .iter()
        .filter(|p| p.project.starts_with('A'))
        .map(|p| p.peak_rss_kb)
        .max()
        .unwrap_or(0) as f64
        / 1024.0;
    let yes = |b: bool| if b { "yes" } else { "NO" };
    println!();
    if let Some((a, b)) = e2e {
        println!(
            "digested/s A/B end to end: {a:.0} / {b:.0} = {:.2} (target >= 0.5: {})",
            a / b,
            yes(a / b >= 0.5)
        );
    }
    if let Some((a, b)) = drain {
        println!("digested/s A/B drain only: {a:.0} / {b:.0} = {:.2}", a / b);
    }
    if let Some((a, b)) = cpu {
        println!(
            "server CPU per event A/B: {a:.0} / {b:.0} µs (+{:.0} µs with maps)",
            a - b
        );
    }
    println!(
        "server peak RSS over the A phases (cache full): {peak_a:.1} MiB, VmHWM {:.1} MiB (target < {:.0} MiB: {})",
        hwm_kb as f64 / 1024.0,
        options.rss_limit_mib,
        yes((hwm_kb as f64 / 1024.0) < options.rss_limit_mib)
    );
}

/// The mean of `f` over the phases of the project whose name starts with `project`.
fn mean_of(phases: &[Phase], project: &str, f: &dyn Fn(&Phase) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = phases
        .iter()
        .filter(|p| p.project.starts_with(project))
        .filter_map(f)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}
