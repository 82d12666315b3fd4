//! Readable JavaScript stack traces, end to end: a small app with @sentry/browser is built twice
//! by esbuild (minified, source maps, a content hash in the file name, and a different `BUILD`
//! constant so the two builds differ), the real sentry-cli 3.x injects debug ids and uploads the
//! maps, headless Chromium runs each build (the maps are never served: the server may only use
//! the uploads), and then:
//! - both errors are one issue (the minified names and file names differ, the original frames
//!   do not);
//! - the API's frames are the original file, line, function and source lines, with the
//!   minified ones as `rawFrames`; the JSON download has `stacktrace` and `raw_stacktrace`;
//! - the issue page shows the original file, function and context line, not the bundle, and
//!   reprocesses the issue on request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use errorwatch_e2e::browser::{Driver, STEP};
use errorwatch_e2e::{Server, e2e_sdk_dir, repo_root, require_sdk, sentry_cli, serve_folder};
use serde_json::{Value, json};

/// Builds `e2e/sdk/sourcemaps/app.mjs` into `out` as `app-<hash>.js` + map; returns the
/// bundle's file name.
fn build(out: &Path, name: &str) -> String {
    let sdk_dir = e2e_sdk_dir().join("browser");
    let built = Command::new(sdk_dir.join("node_modules/.bin/esbuild"))
        .arg(repo_root().join("e2e/sdk/sourcemaps/app.mjs"))
        .args([
            "--bundle",
            "--minify",
            "--sourcemap",
            "--format=iife",
            "--log-level=warning",
            "--entry-names=app-[hash]",
        ])
        .arg(format!("--define:BUILD=\"{name}\""))
        .arg(format!("--outdir={}", out.display()))
        .env("NODE_PATH", sdk_dir.join("node_modules"))
        .output()
        .expect("run esbuild");
    assert!(
        built.status.success(),
        "esbuild: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::read_dir(out)
        .expect("out dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("app-") && n.ends_with(".js"))
        .expect("app-<hash>.js")
}

/// The stored event `event_id` of `project` through the API, once the digest has it.
async fn stored_event(server: &Server, token: &str, project: i64, event_id: &str) -> Value {
    let query = "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) {
        downloadUrl issue { id title }
        exceptions { type value
          frames { filename absPath function lineno colno contextLine preContext postContext inApp symbolicated resolvedWith symbolicationError { code message } }
          rawFrames { filename absPath function lineno colno } } } }";
    let deadline = Instant::now() + STEP;
    loop {
        // Not `Server::graphql`: NOT_FOUND is expected until the digest stored the event.
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/graphql", server.base_url))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": {"p": format!("prj_{project}"), "e": event_id}}))
            .send()
            .await
            .expect("POST /graphql")
            .json()
            .await
            .expect("a JSON answer");
        if !answer["data"]["event"].is_null() {
            return answer["data"]["event"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "event {event_id} never stored: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_minified_bundle_is_shown_as_its_source_and_two_builds_are_one_issue() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sdk_dir = e2e_sdk_dir().join("browser");
    require_sdk(
        "@sentry/browser and esbuild",
        Command::new(sdk_dir.join("node_modules/.bin/esbuild")).arg("--version"),
    );
    let cli = sentry_cli::find(3);
    let server = Server::start(&[]).await;
    let project = server.create_project("sourcemaps");
    let uploads = server.api_token_with_scope(&project, "project:releases");
    let reader = server.api_token(&project);

    // Two builds, each injected and uploaded as a user would.
    let site = tempfile::tempdir().expect("site");
    let mut bundles: Vec<String> = Vec::new();
    for name in ["one", "two"] {
        let out = tempfile::tempdir().expect("build dir");
        let bundle = build(out.path(), name);
        let env = [
            ("SENTRY_URL", server.base_url.as_str()),
            ("SENTRY_AUTH_TOKEN", uploads.as_str()),
            ("SENTRY_ORG", project.account.as_str()),
            ("SENTRY_PROJECT", project.slug.as_str()),
        ];
        let dir = out.path().display().to_string();
        for args in [
            vec!["sourcemaps", "inject", dir.as_str()],
            vec!["sourcemaps", "upload", dir.as_str()],
        ] {
            let run = sentry_cli::run(&cli, out.path(), &env, &args).await;
            assert!(
                run.success,
                "{} {args:?}:\n{}\n{}",
                cli.version, run.stdout, run.stderr
            );
        }
        // Only the bundle is served: the server must symbolicate from the upload alone.
        std::fs::copy(out.path().join(&bundle), site.path().join(&bundle)).expect("copy bundle");
        std::fs::write(
            site.path().join(format!("{name}.html")),
            format!("<!doctype html><meta charset=utf-8><title>{name}</title><script src=\"{bundle}\"></script>"),
        )
        .expect("page");
        bundles.push(bundle);
    }
    assert_ne!(
        bundles[0], bundles[1],
        "the builds differ, and so do their names"
    );

    let origin = serve_folder(PathBuf::from(site.path())).await;
    let driver = Driver::start().await;
    let page = driver.browser(&origin).await;
    let mut event_ids = Vec::new();
    for (i, name) in ["one", "two"].into_iter().enumerate() {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("dsn", &project.dsn)
            .append_pair("release", &format!("shop@{}.0.0", i + 1))
            .finish();
        page.open(&format!("/{name}.html?{query}")).await;
        page.wait_js(
            "the SDK sent the error",
            Duration::from_secs(30),
            "return window.__e2eDone !== null && window.__e2eDone !== undefined;",
            vec![],
        )
        .await;
        let id = page.js("return window.__e2eDone;").await;
        event_ids.push(id.as_str().expect("an event id").replace('-', ""));
    }
    page.client.clone().close().await.expect("close");

    let events = [
        stored_event(&server, &reader, project.id, &event_ids[0]).await,
        stored_event(&server, &reader, project.id, &event_ids[1]).await,
    ];
    assert_eq!(
        events[0]["issue"]["id"], events[1]["issue"]["id"],
        "two builds of one bug are one issue: {events:?}"
    );
    for (event, bundle) in events.iter().zip(&bundles) {
        let exception = &event["exceptions"][0];
        let frames = exception["frames"].as_array().expect("frames");
        let top = frames.last().expect("a frame");
        assert!(
            top["filename"]
                .as_str()
                .expect("file")
                .ends_with("cli/src/checkout.js"),
            "{exception}"
        );
        assert_eq!(top["function"], "checkout", "{exception}");
        assert_eq!(top["lineno"], 7);
        assert_eq!(
            top["contextLine"],
            "    throw new Error(`checkout: nothing to charge (total ${total})`);"
        );
        assert_eq!(top["symbolicated"], true);
        assert_eq!(top["resolvedWith"], "debug_id");
        assert!(top["preContext"].as_array().is_some_and(|c| !c.is_empty()));
        // Its caller, by the caller's own name in the source.
        assert!(
            frames.iter().any(|f| f["function"] == "buyNothing"),
            "{exception}"
        );
        let raw = exception["rawFrames"]
            .as_array()
            .expect("the minified frames");
        let raw_top = raw.last().expect("a raw frame");
        assert!(
            raw_top["filename"]
                .as_str()
                .expect("url")
                .ends_with(bundle.as_str()),
            "{raw_top}"
        );
        assert_ne!(raw_top["function"], "checkout", "minified: {raw_top}");
        assert!(
            raw_top["colno"].as_u64() > Some(1000),
            "minified: {raw_top}"
        );
    }

    // The JSON download: Sentry's shape, original frames and the SDK's.
    let download = reqwest::Client::new()
        .get(events[0]["downloadUrl"].as_str().expect("url"))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    let json: Value = download.json().await.expect("JSON");
    let value = &json["exception"]["values"][0];
    let top = value["stacktrace"]["frames"]
        .as_array()
        .and_then(|f| f.last())
        .expect("frames");
    assert!(
        top["abs_path"]
            .as_str()
            .expect("path")
            .ends_with("cli/src/checkout.js"),
        "{top}"
    );
    let raw_top = value["raw_stacktrace"]["frames"]
        .as_array()
        .and_then(|f| f.last())
        .expect("raw");
    assert!(
        raw_top["filename"]
            .as_str()
            .expect("url")
            .ends_with(&bundles[0]),
        "{raw_top}"
    );

    // The issue page.
    let dashboard = driver.browser(&server.base_url).await;
    let account = dashboard
        .log_in_as(&project.owner, "an e2e password long enough")
        .await;
    let issue = events[0]["issue"]["id"].as_str().expect("issue id");
    dashboard.open(&format!("/{account}/issues/{issue}")).await;
    dashboard.wait("#event-id").await;
    let shown = dashboard.wait_text("#event", "checkout.js").await;
    assert!(
        shown.contains("nothing to charge (total"),
        "the context line:\n{shown}"
    );
    assert!(shown.contains("checkout"), "{shown}");
    assert!(
        !shown.contains(&bundles[0]) || shown.contains("Minified"),
        "the bundle is not the frame shown:\n{shown}"
    );
    dashboard.screenshot("sourcemaps-issue", false).await;
    // Reprocessing (the maps were there all along): nothing changes, and the page says so.
    dashboard.click("#action-reprocess").await;
    let said = dashboard
        .wait_text("#reprocess-result", "Reprocessed 2 events")
        .await;
    assert!(said.contains("0 left minified"), "{said}");
    dashboard.client.clone().close().await.expect("close");
}
