//! The Sentry web API under `/api/0/` as sentry-cli calls it: releases, deploys, chunk upload,
//! artifact-bundle assembly, legacy release files; its errors; and what another account's
//! token, slug or chunk can reach (nothing).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::gql::{Gql, user_with_account};
use crate::harness::{TestApp, db_test};

const CREATE_TOKEN: &str = "mutation($a: ID!, $n: String!, $s: TokenScope!) { createApiToken(accountId: $a, name: $n, scope: $s) { secret } }";

/// An account `acme` with projects `shop` and `blog`, its owner's browser and a token of
/// `scope`.
struct Org {
    browser: Gql,
    account: String,
    token: String,
}

async fn org(app: &TestApp, email: &str, name: &str, scope: &str) -> Org {
    let (browser, account) = user_with_account(app, email, name).await;
    for project in ["Shop", "Blog"] {
        browser
            .ok(
                "mutation($a: ID!, $n: String!) { createProject(accountId: $a, name: $n) { id } }",
                json!({"a": account, "n": project}),
            )
            .await;
    }
    let token = token(&browser, &account, scope).await;
    Org {
        browser,
        account,
        token,
    }
}

async fn token(browser: &Gql, account: &str, scope: &str) -> String {
    browser
        .ok(CREATE_TOKEN, json!({"a": account, "n": "ci", "s": scope}))
        .await["createApiToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned()
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

db_test!(
    async fn releases_and_deploys_follow_sentry_clis_calls(backend) {
        let app = TestApp::spawn(backend).await;
        let acme = org(&app, "ada@example.com", "Acme", "RELEASES").await;
        let t = acme.token.as_str();
        use reqwest::Method;

        // 3.x's organization form, twice: an idempotent upsert.
        let body = json!({"version": "shop@1.2.0", "projects": ["shop", "blog"], "dateStarted": "2026-12-01T10:00:00Z"});
        let (status, created) = call(&app, Method::POST, t, "/api/0/organizations/acme/releases/", Some(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["version"], "shop@1.2.0");
        assert!(created["dateCreated"].is_string(), "{created}");
        let mut slugs: Vec<&str> = created["projects"].as_array().expect("projects").iter().map(|p| p["slug"].as_str().expect("slug")).collect();
        slugs.sort();
        assert_eq!(slugs, ["blog", "shop"]);
        let (status, again) = call(&app, Method::POST, t, "/api/0/organizations/acme/releases/", Some(body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["dateCreated"], created["dateCreated"]);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM releases").await, 2, "one row per project");

        // 2.x's project form.
        let (status, _) = call(&app, Method::POST, t, "/api/0/projects/acme/shop/releases/", Some(json!({"version": "shop@1.3.0"}))).await;
        assert_eq!(status, StatusCode::CREATED);

        // finalize, info, list (newest first), encoded versions.
        let (status, finalized) = call(&app, Method::PUT, t, "/api/0/organizations/acme/releases/shop@1.2.0/", Some(json!({"dateReleased": "2026-12-02T10:00:00Z"}))).await;
        assert_eq!(status, StatusCode::OK, "{finalized}");
        assert_eq!(finalized["dateReleased"], "2026-12-02T10:00:00Z");
        let (status, info) = call(&app, Method::GET, t, "/api/0/projects/acme/shop/releases/shop%401.2.0/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(info["dateReleased"], "2026-12-02T10:00:00Z");
        let (_, list) = call(&app, Method::GET, t, "/api/0/organizations/acme/releases/", None).await;
        let versions: Vec<&str> = list.as_array().expect("list").iter().map(|r| r["version"].as_str().expect("v")).collect();
        assert_eq!(versions, ["shop@1.3.0", "shop@1.2.0"]);
        let (_, found) = call(&app, Method::GET, t, "/api/0/projects/acme/blog/releases/?query=1.3", None).await;
        assert_eq!(found, json!([]), "blog has no 1.3.0");

        // deploys.
        let (status, deploy) = call(&app, Method::POST, t, "/api/0/organizations/acme/releases/shop@1.2.0/deploys/", Some(json!({"environment": "production", "name": "deploy 7"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{deploy}");
        assert_eq!(deploy["environment"], "production");
        let (_, deploys) = call(&app, Method::GET, t, "/api/0/organizations/acme/releases/shop@1.2.0/deploys/", None).await;
        assert_eq!(deploys.as_array().expect("deploys").len(), 1, "one deploy, however many projects: {deploys}");
        let (_, info) = call(&app, Method::GET, t, "/api/0/organizations/acme/releases/shop@1.2.0/", None).await;
        assert_eq!(info["deployCount"], 1);
        assert_eq!(info["lastDeploy"]["name"], "deploy 7");

        // set-commits' calls.
        let (status, repos) = call(&app, Method::GET, t, "/api/0/organizations/acme/repos/", None).await;
        assert_eq!((status, repos), (StatusCode::OK, json!([])));
        let (status, _) = call(&app, Method::GET, t, "/api/0/organizations/acme/releases/shop@1.2.0/previous-with-commits/", None).await;
        assert_eq!(status, StatusCode::OK);

        // errors, in Sentry's shape.
        let (status, body) = call(&app, Method::GET, t, "/api/0/organizations/acme/releases/nope/", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["detail"].is_string(), "{body}");
        let (status, body) = call(&app, Method::POST, t, "/api/0/organizations/acme/releases/", Some(json!({"version": "x", "projects": ["shop", "nope"]}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["detail"].as_str().expect("detail").contains("nope"), "{body}");
        let (status, body) = call(&app, Method::POST, t, "/api/0/projects/acme/shop/releases/", Some(json!({"version": "a/b"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = call(&app, Method::POST, t, "/api/0/projects/acme/shop/releases/", Some(json!({"version": "undefined"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = call(&app, Method::GET, "ewt_not_a_token", "/api/0/organizations/acme/releases/", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        for path in ["/api/0/organizations/acme/nothing-here/", "/api/0/organizations/acme/releases", "/api/nothing/at/all/"] {
            let response = app.client.get(app.url(path)).bearer_auth(t).send().await.expect("get");
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            let body: Value = response.json().await.unwrap_or_else(|e| panic!("{path}: JSON, not HTML: {e}"));
            assert!(body["detail"].is_string(), "{path}: {body}");
        }

        // A read token may list but not create; a releases token may not triage.
        let read = token(&acme.browser, &acme.account, "READ").await;
        let (status, _) = call(&app, Method::GET, &read, "/api/0/organizations/acme/releases/", None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(&app, Method::POST, &read, "/api/0/projects/acme/shop/releases/", Some(json!({"version": "9"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let ci = Gql::token(&app, t);
        let (_, body) = ci.raw("mutation($a: ID!) { createProject(accountId: $a, name: \"X\") { id } }", json!({"a": acme.account}), false).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");

        // Another account's token: acme's slug, releases and deploys are not found, and
        // nothing changes.
        let other = org(&app, "bob@example.com", "Other", "ADMIN").await;
        for (method, path, body) in [
            (Method::GET, "/api/0/organizations/acme/releases/", None),
            (Method::GET, "/api/0/organizations/acme/releases/shop@1.2.0/", None),
            (Method::POST, "/api/0/organizations/acme/releases/", Some(json!({"version": "evil", "projects": ["shop"]}))),
            (Method::POST, "/api/0/projects/acme/shop/releases/", Some(json!({"version": "evil"}))),
            (Method::PUT, "/api/0/organizations/acme/releases/shop@1.2.0/", Some(json!({"dateReleased": "2026-12-03T10:00:00Z"}))),
            (Method::POST, "/api/0/organizations/acme/releases/shop@1.2.0/deploys/", Some(json!({"environment": "evil"}))),
            (Method::DELETE, "/api/0/organizations/acme/releases/shop@1.2.0/", None),
        ] {
            let (status, body) = call(&app, method.clone(), &other.token, path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        }
        let (_, theirs) = call(&app, Method::GET, &other.token, "/api/0/organizations/other/releases/", None).await;
        assert_eq!(theirs, json!([]), "their own account has no releases");
        let (_, info) = call(&app, Method::GET, t, "/api/0/organizations/acme/releases/shop@1.2.0/", None).await;
        assert_eq!(info["dateReleased"], "2026-12-02T10:00:00Z");
        assert_eq!(info["deployCount"], 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM releases WHERE version = 'evil'").await, 0);

        // Deleting a release takes its deploys.
        let (status, _) = call(&app, Method::DELETE, t, "/api/0/organizations/acme/releases/shop@1.2.0/", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM deploys").await, 0);
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn a_bundle_is_assembled_from_exactly_the_missing_chunks_and_stored_once(backend) {
        let app = TestApp::spawn(backend).await;
        let acme = org(&app, "ada@example.com", "Acme", "RELEASES").await;
        let t = acme.token.as_str();
        use reqwest::Method;
        let (status, options) = call(&app, Method::GET, t, "/api/0/organizations/acme/chunk-upload/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(options["hashAlgorithm"], "sha1");
        assert_eq!(options["url"], "/api/0/organizations/acme/chunk-upload/");
        assert!(options["accept"].as_array().expect("accept").contains(&json!("artifact_bundles_v2")));

        let file = bundle("0f7c4b29-8d5e-4b3a-9f1e-6a2c8d7e5b41");
        let (first, second) = file.split_at(file.len() / 2);
        let chunks = [sha1(first), sha1(second)];
        let request = json!({"checksum": sha1(&file), "chunks": chunks, "projects": ["shop"]});
        let assemble = "/api/0/organizations/acme/artifactbundle/assemble/";

        // 3.x asks first: both chunks are missing.
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(request.clone())).await;
        assert_eq!(answer["state"], "not_found");
        assert_eq!(answer["missingChunks"], json!(chunks));
        assert_eq!(post_chunks(&app, t, "acme", &[("file_gzip", gzip(first))]).await, StatusCode::OK);
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(request.clone())).await;
        assert_eq!(answer["missingChunks"], json!([chunks[1]]));
        // A chunk whose name is not its SHA-1 is refused, and nothing is stored.
        let forged = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(second.to_vec()).file_name(sha1(b"other")));
        let response = app.client.post(app.url("/api/0/organizations/acme/chunk-upload/")).bearer_auth(t).multipart(forged).send().await.expect("post");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.json::<Value>().await.expect("json")["detail"].is_string());
        // A chunk over the advertised chunkSize (8 MiB), plain or gzip'd: refused with a detail,
        // nothing stored.
        let oversized = vec![b'x'; errorwatch_core::service::artifacts::CHUNK_SIZE + 1];
        for field in ["file", "file_gzip"] {
            let data = if field == "file" { oversized.clone() } else { gzip(&oversized) };
            let part = reqwest::multipart::Part::bytes(data).file_name(sha1(&oversized));
            let form = reqwest::multipart::Form::new().part(field, part);
            let response = app.client.post(app.url("/api/0/organizations/acme/chunk-upload/")).bearer_auth(t).multipart(form).send().await.expect("post");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
            let detail = response.json::<Value>().await.expect("json")["detail"].as_str().unwrap_or_default().to_owned();
            assert!(detail.contains("Chunk size too large"), "{field}: {detail}");
        }
        assert_eq!(post_chunks(&app, t, "acme", &[("file", second.to_vec())]).await, StatusCode::OK);
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(request.clone())).await;
        assert_eq!(answer["state"], "ok", "{answer}");
        let (_, again) = call(&app, Method::POST, t, assemble, Some(request.clone())).await;
        assert_eq!(again["state"], "ok", "a poll");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_bundles").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_blobs").await, 2);

        // The same bundle for the other project: its files, the same blobs.
        let mut other = request.clone();
        other["projects"] = json!(["blog"]);
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(other)).await;
        assert_eq!(answer["state"], "ok", "{answer}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files").await, 4);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_blobs").await, 2, "contents stored once");

        // Once the chunks are gone (retention), a project that never got the bundle is not
        // told `ok`: it must upload again.
        app.execute("DELETE FROM upload_chunks").await;
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(request.clone())).await;
        assert_eq!(answer["state"], "ok", "shop has it: a poll");
        let mut both = request.clone();
        both["projects"] = json!(["shop", "blog"]);
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(both)).await;
        assert_eq!(answer["state"], "ok", "both have it: a poll");
        acme.browser
            .ok(
                "mutation($a: ID!, $n: String!) { createProject(accountId: $a, name: $n) { id } }",
                json!({"a": acme.account, "n": "Docs"}),
            )
            .await;
        let mut docs = request.clone();
        docs["projects"] = json!(["docs"]);
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(docs)).await;
        assert_eq!(answer["state"], "not_found", "docs never got it: {answer}");
        assert_eq!(answer["missingChunks"], json!(chunks));
        for (field, data) in [("file", first.to_vec()), ("file", second.to_vec())] {
            assert_eq!(post_chunks(&app, t, "acme", &[(field, data)]).await, StatusCode::OK);
        }

        // A corrupt bundle: an error with a detail; nothing stored.
        let corrupt = b"SYSB\x02\x00\x00\x00 this is not a zip".to_vec();
        assert_eq!(post_chunks(&app, t, "acme", &[("file", corrupt.clone())]).await, StatusCode::OK);
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(json!({"checksum": sha1(&corrupt), "chunks": [sha1(&corrupt)], "projects": ["shop"]}))).await;
        assert_eq!(answer["state"], "error");
        assert!(answer["detail"].as_str().expect("detail").contains("bundle"), "{answer}");
        // A checksum that is not the chunks' concatenation.
        let (_, answer) = call(&app, Method::POST, t, assemble, Some(json!({"checksum": sha1(b"x"), "chunks": chunks, "projects": ["shop"]}))).await;
        assert_eq!(answer["state"], "error");
        assert_eq!(answer["detail"], "Reported checksum mismatch");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_bundles").await, 2);

        // Another account: its token reaches neither acme's slug nor acme's chunks.
        let other = org(&app, "bob@example.com", "Other", "RELEASES").await;
        let (status, _) = call(&app, Method::GET, &other.token, "/api/0/organizations/acme/chunk-upload/", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(&app, Method::POST, &other.token, assemble, Some(request.clone())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let mut theirs = request.clone();
        theirs["projects"] = json!(["shop"]);
        let (_, answer) = call(&app, Method::POST, &other.token, "/api/0/organizations/other/artifactbundle/assemble/", Some(theirs)).await;
        assert_eq!(answer["state"], "not_found", "acme's chunks are not theirs: {answer}");
        assert_eq!(answer["missingChunks"], json!(chunks));
        app.stop().await.expect("stop");
    }
);

/// The artifact bundle the real `@sentry/cli` 3.8.0 (npm) uploaded, byte for byte, for
/// `sourcemaps inject dist && sourcemaps upload dist` over esbuild's minified build of
/// `e2e/sdk/cli/src/main.js`: an 8-byte `SYSB` header, then a zip whose offsets count the header
/// (symbolic writes both into one stream). e2e/tests/sentry_cli.rs runs the CLI itself.
const SENTRY_CLI_BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sentry_cli/debug-id-bundle-3.8.0.bin"
);

db_test!(
    async fn a_bundle_written_by_sentry_cli_is_assembled(backend) {
        // Every upload of a real sentry-cli failed with "invalid artifact bundle: … not a zip
        // archive" while the reader cut the header off before reading the zip.
        let app = TestApp::spawn(backend).await;
        let acme = org(&app, "ada@example.com", "Acme", "RELEASES").await;
        let t = acme.token.as_str();
        let file = std::fs::read(SENTRY_CLI_BUNDLE).expect("fixture");
        let request = json!({"checksum": sha1(&file), "chunks": [sha1(&file)], "projects": ["shop"]});
        assert_eq!(post_chunks(&app, t, "acme", &[("file_gzip", gzip(&file))]).await, StatusCode::OK);
        let (_, answer) = call(&app, reqwest::Method::POST, t, "/api/0/organizations/acme/artifactbundle/assemble/", Some(request)).await;
        assert_eq!(answer["state"], "ok", "{answer}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files").await, 2);
        // The minified file and its map, each under the debug id `sourcemaps inject` wrote.
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files WHERE debug_id = 'd809154d-5455-5685-b653-b1b0d377a4cf' AND (kind, url) IN (('minified_source', '~/main.js'), ('source_map', '~/main.js.map'))").await, 2);
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn the_same_files_uploaded_for_two_releases_stay_in_both(backend) {
        // sentry-cli derives a bundle's id from its files, not its release: a build uploaded
        // again for the next release (`sourcemaps upload --release`) has the same id, and used
        // to replace the first release's files.
        let app = TestApp::spawn(backend).await;
        let acme = org(&app, "ada@example.com", "Acme", "RELEASES").await;
        let t = acme.token.as_str();
        let assemble = async |release: &str, dist: Option<&str>| {
            let file = release_bundle(release);
            assert_eq!(post_chunks(&app, t, "acme", &[("file", file.clone())]).await, StatusCode::OK);
            let mut request = json!({"checksum": sha1(&file), "chunks": [sha1(&file)], "projects": ["shop"], "version": release});
            if let Some(dist) = dist {
                request["dist"] = json!(dist);
            }
            let (_, answer) = call(&app, reqwest::Method::POST, t, "/api/0/organizations/acme/artifactbundle/assemble/", Some(request)).await;
            assert_eq!(answer["state"], "ok", "{release}: {answer}");
        };
        assemble("shop@1.0", None).await;
        assemble("shop@1.1", None).await;
        assemble("shop@1.1", Some("web")).await;
        assemble("shop@1.0", None).await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files WHERE release = 'shop@1.0' AND dist IS NULL").await, 2, "1.0 keeps its files");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files WHERE release = 'shop@1.1' AND dist IS NULL").await, 2, "1.1 has them");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files WHERE release = 'shop@1.1' AND dist = 'web'").await, 2, "and with its dist");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_bundles").await, 3, "once per release and dist");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_blobs").await, 2, "the contents once");
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn legacy_release_files_upload_once_and_belong_to_their_project(backend) {
        let app = TestApp::spawn(backend).await;
        let acme = org(&app, "ada@example.com", "Acme", "WRITE").await;
        let t = acme.token.as_str();
        let upload = |name: &'static str| {
            let form = reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(b"function a(){}\n//# sourceMappingURL=app.js.map\n".to_vec()).file_name("app.js"))
                .text("name", name)
                .text("header", "Content-Type:application/javascript");
            app.client
                .post(app.url("/api/0/projects/acme/shop/releases/1.0/files/"))
                .bearer_auth(t)
                .multipart(form)
                .send()
        };
        let response = upload("~/static/app.js").await.expect("upload");
        assert_eq!(response.status(), StatusCode::CREATED);
        let file: Value = response.json().await.expect("json");
        assert_eq!(file["name"], "~/static/app.js");
        assert_eq!(file["headers"]["content-type"], "application/javascript");
        assert_eq!(upload("~/static/app.js").await.expect("again").status(), StatusCode::CONFLICT);
        let (status, files) = call(&app, reqwest::Method::GET, t, "/api/0/projects/acme/shop/releases/1.0/files/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(files.as_array().expect("files").len(), 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM releases").await, 1, "the upload created the release");
        let (status, _) = call(&app, reqwest::Method::DELETE, t, &format!("/api/0/projects/acme/shop/releases/1.0/files/{}/", file["id"].as_str().expect("id")), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_blobs").await, 0, "the orphan blob went with it");

        // Deleting the project removes its releases and files.
        upload("~/static/app.js").await.expect("upload");
        let project = acme.browser.ok("query($a: ID!) { account(id: $a) { projects { edges { node { id slug } } } } }", json!({"a": acme.account})).await;
        let shop = project["account"]["projects"]["edges"].as_array().expect("projects").iter().find(|p| p["node"]["slug"] == "shop").expect("shop")["node"]["id"].clone();
        acme.browser.ok("mutation($p: ID!) { deleteProject(id: $p) }", json!({"p": shop})).await;
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM releases").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_files").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM artifact_blobs").await, 0, "nothing refers to the contents any more");
        app.stop().await.expect("stop");
    }
);

fn sha1(bytes: &[u8]) -> String {
    errorwatch_core::service::artifacts::sha1_hex(bytes)
}

async fn post_chunks(
    app: &TestApp,
    token: &str,
    org: &str,
    chunks: &[(&str, Vec<u8>)],
) -> StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for (field, data) in chunks {
        let raw = if *field == "file_gzip" {
            let mut decoder = flate2::read::GzDecoder::new(data.as_slice());
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut decoder, &mut out).expect("gunzip");
            out
        } else {
            data.clone()
        };
        form = form.part(
            field.to_string(),
            reqwest::multipart::Part::bytes(data.clone()).file_name(sha1(&raw)),
        );
    }
    app.client
        .post(app.url(&format!("/api/0/organizations/{org}/chunk-upload/")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("chunks")
        .status()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A real artifact bundle: a minified file and its map, both with a debug id.
fn bundle(debug_id: &str) -> Vec<u8> {
    use errorwatch_symbolicate::bundle::{FileKind, build_bundle};
    let map = format!(
        r#"{{"version":3,"file":"app.min.js","sources":["src/app.ts"],"sourcesContent":["export function pay() {{ throw new Error('card declined'); }}\n"],"names":["pay"],"mappings":"AAAO,SAASA","debugId":"{debug_id}"}}"#
    );
    let js = format!(
        "function a(){{throw new Error('card declined')}}\n//# debugId={debug_id}\n//# sourceMappingURL=app.min.js.map\n"
    );
    build_bundle(
        &[
            (
                "~/static/app.min.js",
                FileKind::MinifiedSource,
                &[("debug-id", debug_id), ("sourcemap", "app.min.js.map")],
                js.as_bytes(),
            ),
            (
                "~/static/app.min.js.map",
                FileKind::SourceMap,
                &[("debug-id", debug_id)],
                map.as_bytes(),
            ),
        ],
        &[("org", "acme")],
    )
}

/// A bundle of the same two files as sentry-cli writes it for `sourcemaps upload --release`:
/// the bundle's id comes from the files, the release is an attribute of the manifest.
fn release_bundle(release: &str) -> Vec<u8> {
    use errorwatch_symbolicate::bundle::{FileKind, build_bundle};
    build_bundle(
        &[
            (
                "~/static/app.min.js",
                FileKind::MinifiedSource,
                &[("sourcemap", "app.min.js.map")],
                b"function a(){throw new Error('card declined')}\n//# sourceMappingURL=app.min.js.map\n",
            ),
            (
                "~/static/app.min.js.map",
                FileKind::SourceMap,
                &[],
                br#"{"version":3,"file":"app.min.js","sources":["src/app.ts"],"names":[],"mappings":"AAAA"}"#,
            ),
        ],
        &[
            ("org", "acme"),
            ("release", release),
            ("debug_id", "b2ad6521-9bfb-5391-b8a7-0a37e58409e9"),
        ],
    )
}
