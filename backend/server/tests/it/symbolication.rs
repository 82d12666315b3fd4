//! JavaScript events symbolicated by the digest with the project's uploads: by debug id (an
//! artifact bundle) and by release and URL (legacy release files); the stored event keeps the
//! minified frames in `raw_stacktrace`; frames that cannot be mapped carry their reason; one
//! bug in two builds is one issue; another account's uploads never match.

use std::collections::BTreeMap;

use errorwatch_core::ids::ProjectId;
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::artifacts::{self, AssembleRequest, AssembleState, ChunkPart};
use errorwatch_core::service::{event, issue};
use errorwatch_symbolicate::bundle::{FileKind, build_bundle};
use serde_json::{Value, json};

use crate::harness::{TestApp, db_test};
use crate::ingest::{Target, create_project, post_raw};

const DEBUG_ID: &str = "d91e72dc-6111-55ed-a674-559564fab7e1";
const URL: &str = "https://cdn.example.com/static/app.min.js";

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!(
        "{}/../symbolicate/tests/fixtures/out/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The esbuild fixture's V8 stack (`content/stack.txt`) as an SDK sends it: oldest frame
/// first, at `url`, lines shifted by `line_offset` (2 in the debug-id-injected build).
fn frames(url: &str, line_offset: u32) -> Vec<Value> {
    let stack = String::from_utf8(fixture("content/stack.txt")).expect("utf-8");
    stack
        .lines()
        .rev()
        .map(|line| {
            let line = line.trim().trim_start_matches("at ");
            let (function, location) = match line.split_once(" (") {
                Some((f, loc)) => (Some(f), loc.trim_end_matches(')')),
                None => (None, line),
            };
            let mut parts = location.rsplitn(3, ':');
            let col: u32 = parts.next().and_then(|c| c.parse().ok()).expect("col");
            let lineno: u32 = parts.next().and_then(|c| c.parse().ok()).expect("line");
            let mut frame = json!({"abs_path": url, "filename": url, "lineno": lineno + line_offset, "colno": col, "in_app": true});
            if let Some(function) = function {
                frame["function"] = json!(function);
            }
            frame
        })
        .collect()
}

async fn send(app: &TestApp, target: &Target, event: Value) {
    let body = format!("{{}}\n{{\"type\":\"event\"}}\n{event}\n");
    let (status, detail, _) = post_raw(
        app,
        &format!(
            "/api/{}/envelope/?sentry_key={}",
            target.project_id, target.key
        ),
        &[],
        body.into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{detail:?}");
    app.run_pending_jobs().await;
}

fn js_event(event_id: &str, frames: Vec<Value>, extra: Value) -> Value {
    let mut event = json!({
        "event_id": event_id,
        "platform": "javascript",
        "exception": {"values": [{"type": "TypeError", "value": "not a number: oops", "stacktrace": {"frames": frames}}]},
    });
    if let (Some(e), Some(x)) = (event.as_object_mut(), extra.as_object()) {
        e.extend(x.clone());
    }
    event
}

/// Uploads the debug-id build as sentry-cli does (`sourcemaps inject` + `upload`).
async fn upload_debug_id_bundle(scope: &AccountScope, project: ProjectId) {
    let minified = fixture("debugid/app.min.js");
    let map = fixture("debugid/app.min.js.map");
    let bundle = build_bundle(
        &[
            (
                "~/static/app.min.js",
                FileKind::MinifiedSource,
                &[("debug-id", DEBUG_ID), ("sourcemap", "app.min.js.map")],
                &minified,
            ),
            (
                "~/static/app.min.js.map",
                FileKind::SourceMap,
                &[("debug-id", DEBUG_ID)],
                &map,
            ),
        ],
        &[("debug_id", DEBUG_ID)],
    );
    assemble(scope, project, bundle, None).await;
}

async fn assemble(
    scope: &AccountScope,
    project: ProjectId,
    bundle: Vec<u8>,
    version: Option<&str>,
) {
    let checksum = artifacts::sha1_hex(&bundle);
    artifacts::store_chunks(
        scope,
        vec![ChunkPart {
            field: "file".into(),
            checksum: checksum.clone(),
            data: bundle,
        }],
    )
    .await
    .expect("chunk");
    let state = artifacts::assemble_bundle(
        scope,
        AssembleRequest {
            checksum: checksum.clone(),
            chunks: vec![checksum],
            projects: vec![project],
            version: version.map(str::to_owned),
            dist: None,
            max_project_bytes: 1 << 30,
        },
    )
    .await
    .expect("assemble");
    assert_eq!(state, AssembleState::Ok);
}

async fn stored(target: &Target, event_id: &str) -> Value {
    event::find_event(&target.scope, ProjectId(target.project_id), event_id)
        .await
        .expect("stored event")
        .1
}

fn top(payload: &Value) -> &Value {
    payload["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .and_then(|f| f.last())
        .expect("frames")
}

db_test!(
    async fn a_minified_event_is_stored_with_original_frames_found_by_debug_id(backend) {
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let project = ProjectId(target.project_id);
        let debug_meta = json!({"debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]}});

        // Before the upload: the frames stay minified and say why.
        let before = "a0000000000000000000000000000001";
        send(&app, &target, js_event(before, frames(URL, 2), debug_meta.clone())).await;
        let payload = stored(&target, before).await;
        assert_eq!(top(&payload)["lineno"], 3, "{payload}");
        assert_eq!(top(&payload)["data"]["symbolication_error"]["code"], "missing_sourcemap_for_debug_id");
        assert!(payload["exception"]["values"][0].get("raw_stacktrace").is_none());
        assert_eq!(payload["debug_meta"], debug_meta["debug_meta"], "debug_meta is stored as sent");

        upload_debug_id_bundle(&target.scope, project).await;
        // The digest looks for new uploads once a second per project.
        tokio::time::sleep(errorwatch_core::digest::symbolicate::UPLOADS_CHECK_EVERY).await;
        let after = "a0000000000000000000000000000002";
        send(&app, &target, js_event(after, frames(URL, 2), debug_meta.clone())).await;
        let payload = stored(&target, after).await;
        let frame = top(&payload);
        assert_eq!(frame["filename"], "src/util.js", "{payload}");
        assert_eq!((frame["lineno"].as_u64(), frame["colno"].as_u64()), (Some(10), Some(11)));
        assert_eq!(frame["function"], "parseAmount");
        assert_eq!(frame["context_line"], "    throw new TypeError(\"not a number: \" + text);");
        assert_eq!(frame["pre_context"].as_array().map(Vec::len), Some(5));
        assert_eq!(frame["data"], json!({"symbolicated": true, "resolved_with": "debug_id"}));
        assert_eq!(payload["culprit"], "src/util.js in parseAmount", "the culprit is the original frame's");
        let raw = &payload["exception"]["values"][0]["raw_stacktrace"]["frames"];
        assert_eq!(raw, &json!(frames(URL, 2)), "the SDK's frames are kept");
        assert_eq!(payload["debug_meta"], debug_meta["debug_meta"]);

        // The bundle was used: it will not expire for 90 days from now.
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_bundles").await, 1);

        // Another account holding the same debug id in its project does not change anything
        // here, and its events never use this project's upload.
        let other = create_project(&app, "Other").await;
        let theirs = "b0000000000000000000000000000001";
        send(&app, &other, js_event(theirs, frames(URL, 2), debug_meta.clone())).await;
        let payload = stored(&other, theirs).await;
        assert_eq!(top(&payload)["data"]["symbolication_error"]["code"], "missing_sourcemap_for_debug_id", "{payload}");
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn legacy_release_files_map_frames_by_release_and_url(backend) {
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let project = ProjectId(target.project_id);
        let max = 1 << 30;
        for (name, contents) in [
            ("~/static/app.min.js", fixture("content/app.min.js")),
            ("~/static/app.min.js.map", fixture("content/app.min.js.map")),
        ] {
            artifacts::upload_release_file(&target.scope, project, "web@1.0", None, name, BTreeMap::new(), contents, max)
                .await
                .expect("upload");
        }
        let event_id = "c0000000000000000000000000000001";
        send(&app, &target, js_event(event_id, frames(URL, 0), json!({"release": "web@1.0"}))).await;
        let payload = stored(&target, event_id).await;
        let frame = top(&payload);
        assert_eq!((frame["filename"].as_str(), frame["lineno"].as_u64()), (Some("src/util.js"), Some(10)), "{payload}");
        assert_eq!(frame["data"]["resolved_with"], "release");
        // The minified file was uploaded with the map, so the scope's own name is known.
        assert_eq!(frame["function"], "parseAmount");

        // Another release has no files: each frame says what was looked for.
        let event_id = "c0000000000000000000000000000002";
        send(&app, &target, js_event(event_id, frames(URL, 0), json!({"release": "web@2.0"}))).await;
        let payload = stored(&target, event_id).await;
        assert_eq!(top(&payload)["data"]["symbolication_error"]["code"], "missing_sourcemap_for_url", "{payload}");
        assert!(top(&payload)["data"]["symbolication_error"]["message"].as_str().expect("message").contains(URL));
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn unusable_maps_leave_frames_minified_with_their_reason(backend) {
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let project = ProjectId(target.project_id);
        let max = 1 << 30;
        let upload = async |release: &str, map: Vec<u8>| {
            let minified = b"function a(){throw new Error('x')}\n//# sourceMappingURL=app.min.js.map\n".to_vec();
            for (name, contents) in [("~/static/app.min.js", minified), ("~/static/app.min.js.map", map)] {
                artifacts::upload_release_file(&target.scope, project, release, None, name, BTreeMap::new(), contents, max)
                    .await
                    .expect("upload");
            }
        };
        // Invalid JSON that passes the upload (a `.map` by name).
        upload("web@bad", b"{\"version\":3,\"mappings\":\"AAAA\",\"sources\":[".to_vec()).await;
        // A valid map of 50 MB, over the default limit of 32 MiB: stored (a project may hold
        // it), never parsed.
        let mut big = br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","sourcesContent":[""#.to_vec();
        big.extend(std::iter::repeat_n(b'x', 50_000_000));
        big.extend(br#""]}"#);
        upload("web@big", big).await;
        for (i, (release, code)) in [("web@bad", "invalid_sourcemap"), ("web@big", "sourcemap_too_large")].into_iter().enumerate() {
            let event_id = format!("d000000000000000000000000000000{i}");
            send(&app, &target, js_event(&event_id, frames(URL, 0), json!({"release": release}))).await;
            let payload = stored(&target, &event_id).await;
            assert_eq!(top(&payload)["data"]["symbolication_error"]["code"], code, "{payload}");
            assert_eq!(top(&payload)["lineno"], 1, "left as sent");
        }
        // The events are stored and grouped nonetheless.
        assert_eq!(issue::list_issues(&target.scope, project).await.expect("issues").len(), 1);
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn one_bug_in_two_builds_is_one_issue_with_maps_and_without(backend) {
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let project = ProjectId(target.project_id);
        // Without maps: the bundle's content hash changes between builds, nothing else.
        for (i, name) in ["app-3f9a1c.js", "app-77e0b2.js"].into_iter().enumerate() {
            let url = format!("https://cdn.example.com/assets/{name}");
            send(&app, &target, js_event(&format!("e000000000000000000000000000000{i}"), frames(&url, 0), json!({}))).await;
        }
        assert_eq!(issue::list_issues(&target.scope, project).await.expect("issues").len(), 1, "content hashes do not split");
        // No uploads and no debug id: source maps are not set up, so no frame says one is missing.
        let payload = stored(&target, "e0000000000000000000000000000000").await;
        assert!(top(&payload).get("data").is_none(), "{payload}");

        // With maps: two builds whose minified code differs (the second has its debug id
        // injected, which moves every frame two lines down, and another file name) map to the
        // same original frames, so to one issue.
        let other = create_project(&app, "Maps").await;
        let project = ProjectId(other.project_id);
        for (name, contents) in [
            ("~/static/app.min.js", fixture("content/app.min.js")),
            ("~/static/app.min.js.map", fixture("content/app.min.js.map")),
        ] {
            artifacts::upload_release_file(&other.scope, project, "web@1", None, name, BTreeMap::new(), contents, 1 << 30)
                .await
                .expect("upload");
        }
        upload_debug_id_bundle(&other.scope, project).await;
        send(&app, &other, js_event("f0000000000000000000000000000001", frames(URL, 0), json!({"release": "web@1"}))).await;
        let url = "https://cdn.example.com/static/app-77e0b2.js";
        let debug_meta = json!({"release": "web@2", "debug_meta": {"images": [{"type": "sourcemap", "code_file": url, "debug_id": DEBUG_ID}]}});
        send(&app, &other, js_event("f0000000000000000000000000000002", frames(url, 2), debug_meta)).await;
        let issues = issue::list_issues(&other.scope, project).await.expect("issues");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].times_seen, 2);
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn events_that_arrived_before_their_maps_are_reprocessed_into_the_symbolicated_issue(backend) {
        use errorwatch_core::digest::symbolicate::Symbolicator;
        use errorwatch_core::service::reprocess;
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let project = ProjectId(target.project_id);
        let debug_meta = json!({"debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]}});
        for i in 0..2 {
            send(&app, &target, js_event(&format!("a100000000000000000000000000000{i}"), frames(URL, 2), debug_meta.clone())).await;
        }
        let early = issue::list_issues(&target.scope, project).await.expect("issues");
        assert_eq!(early.len(), 1);
        let early = early[0].id;

        upload_debug_id_bundle(&target.scope, project).await;
        tokio::time::sleep(errorwatch_core::digest::symbolicate::UPLOADS_CHECK_EVERY).await;
        send(&app, &target, js_event("a1000000000000000000000000000009", frames(URL, 2), debug_meta.clone())).await;
        let issues = issue::list_issues(&target.scope, project).await.expect("issues");
        assert_eq!(issues.len(), 2, "original frames group apart from minified ones");
        let mapped = issues.iter().find(|i| i.id != early).expect("the symbolicated issue").id;

        // Another account cannot reprocess it; a member can.
        let other = crate::ingest::other_account_scope(&app).await;
        let maps = Symbolicator::new(&app.config.artifacts);
        assert!(reprocess::reprocess_issue(&other, early, &maps).await.is_err());
        let done = reprocess::reprocess_issue(&target.scope, early, &maps).await.expect("reprocess");
        assert_eq!((done.events, done.changed, done.mapped_frames, done.unmapped_frames), (2, 2, 10, 0), "{done:?}");
        assert_eq!(done.issues, [mapped], "merged into the issue of the same original frames");
        let issues = issue::list_issues(&target.scope, project).await.expect("issues");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].times_seen, 3);
        let payload = stored(&target, "a1000000000000000000000000000000").await;
        assert_eq!(top(&payload)["filename"], "src/util.js", "{payload}");
        assert_eq!(payload["exception"]["values"][0]["raw_stacktrace"]["frames"], json!(frames(URL, 2)));
        assert_eq!(payload["culprit"], "src/util.js in parseAmount");

        // Again: nothing changes (idempotent).
        let again = reprocess::reprocess_issue(&target.scope, mapped, &maps).await.expect("again");
        assert_eq!((again.events, again.changed), (3, 0), "{again:?}");
        assert_eq!(issue::list_issues(&target.scope, project).await.expect("issues").len(), 1);
        // Events sent minified later (the merged fingerprint) still land in the merged issue.
        send(&app, &target, js_event("a1000000000000000000000000000008", frames("https://cdn.example.com/other.js", 2), json!({}))).await;
        assert_eq!(issue::list_issues(&target.scope, project).await.expect("issues").len(), 2, "another file is another bug");

        // The admin command, with its progress, over the whole project.
        let env = [("DATABASE_URL", app.database_url())];
        let out = crate::cli::errorwatch(&["reprocess", "--project", &target.project_id.to_string(), "--json"], &env, "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report["events"], 4, "{report}");
        assert_eq!(report["changed"], 0);
        assert!(String::from_utf8_lossy(&out.stderr).contains("2/2 issues"), "{}", String::from_utf8_lossy(&out.stderr));
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn a_reprocessed_issue_keeps_the_events_that_follow_its_maps(backend) {
        use errorwatch_core::digest::symbolicate::Symbolicator;
        use errorwatch_core::service::reprocess;
        let app = TestApp::spawn(backend).await;
        let target = create_project(&app, "Acme").await;
        let project = ProjectId(target.project_id);
        let debug_meta = json!({"debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]}});
        send(&app, &target, js_event("a2000000000000000000000000000001", frames(URL, 2), debug_meta.clone())).await;
        let early = issue::list_issues(&target.scope, project).await.expect("issues")[0].id;
        upload_debug_id_bundle(&target.scope, project).await;
        let done = reprocess::reprocess_issue(&target.scope, early, &Symbolicator::new(&app.config.artifacts)).await.expect("reprocess");
        assert_eq!(done.issues, [early]);
        assert_eq!(issue::list_fingerprints(&target.scope, early).await.expect("fingerprints").len(), 2, "the minified and the original grouping");
        tokio::time::sleep(errorwatch_core::digest::symbolicate::UPLOADS_CHECK_EVERY).await;
        send(&app, &target, js_event("a2000000000000000000000000000002", frames(URL, 2), debug_meta.clone())).await;
        let issues = issue::list_issues(&target.scope, project).await.expect("issues");
        assert_eq!((issues.len(), issues[0].id, issues[0].times_seen), (1, early, 2), "the symbolicated event joins it");
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn the_dashboard_reprocesses_an_issue_through_graphql(backend) {
        use crate::harness::gql::user_with_account;
        let app = TestApp::spawn(backend).await;
        let (ada, account) = user_with_account(&app, "ada@example.com", "Acme").await;
        let project = ada
            .ok(
                "mutation($a: ID!, $n: String!) { createProject(accountId: $a, name: $n) { id keys { publicKey } } }",
                json!({"a": account, "n": "Web"}),
            )
            .await;
        let id = project["createProject"]["id"].as_str().expect("id").to_owned();
        let target = Target {
            project_id: id.trim_start_matches("prj_").parse().expect("number"),
            key: project["createProject"]["keys"][0]["publicKey"].as_str().expect("key").to_owned(),
            scope: crate::ingest::other_account_scope(&app).await,
        };
        let debug_meta = json!({"debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]}});
        send(&app, &target, js_event("a3000000000000000000000000000001", frames(URL, 2), debug_meta)).await;
        let issues = ada
            .ok("query($p: ID!) { project(id: $p) { issues { nodes { id } } } }", json!({"p": id}))
            .await;
        let issue = issues["project"]["issues"]["nodes"][0]["id"].as_str().expect("issue").to_owned();
        let mutation = "mutation($i: ID!) { reprocessIssue(issueId: $i) { events changed mappedFrames unmappedFrames issues { id count } } }";
        // Nothing uploaded: nothing changes, every frame still says why.
        let done = ada.ok(mutation, json!({"i": issue})).await;
        assert_eq!(
            done["reprocessIssue"],
            json!({"events": 1, "changed": 0, "mappedFrames": 0, "unmappedFrames": 5, "issues": [{"id": issue, "count": 1}]})
        );
        // Another account's member reaches nothing.
        let (eve, _) = user_with_account(&app, "eve@example.com", "Evil").await;
        assert_eq!(eve.err(mutation, json!({"i": issue})).await, "NOT_FOUND");
        app.stop().await.expect("stop");
    }
);
