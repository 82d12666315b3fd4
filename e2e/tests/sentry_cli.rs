//! Proof with the real sentry-cli: `@sentry/cli` from npm, unmodified, in its last 2.x and its
//! newest 3.x (installed by `infra/install-e2e-sdks.sh`), against a running `errorwatch serve`.
//!
//! Each CLI, with only `SENTRY_URL`, `SENTRY_AUTH_TOKEN` (a `project:releases` token),
//! `SENTRY_ORG` and `SENTRY_PROJECT` set, creates its own release, injects debug ids into an
//! esbuild bundle with its source map and uploads it twice, uploads a fresh copy of the build
//! for the release by URL (twice), finalizes the release, records a deploy and lists releases
//! (2.x also uploads one legacy release file, which 3.x no longer can). Every command must exit
//! 0. The database and the API must then hold each thing exactly once: the release with its
//! release date, its deploy, one bundle per upload whose files carry the debug ids `inject`
//! wrote (the script byte for byte), the release's files by URL. A token of another account gets
//! "not found" for the first account's slugs.
//!
//! Both CLIs upload the same build for their own release into one project, as a pipeline does
//! for consecutive releases: the second upload must not take the first release's files.
//!
//! The fixture is `e2e/sdk/cli/src/` (two modules and an entry that throws), bundled and
//! minified by the esbuild the browser SDK test uses. Every check runs, and a failing test lists
//! every gap at once; `SENTRY_LOG_LEVEL=debug` is passed on to the CLIs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use errorwatch_e2e::sentry_cli::{self, Cli, Run};
use errorwatch_e2e::{Project, Server, e2e_sdk_dir, repo_root, require_sdk};
use serde_json::Value;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// The release a CLI creates: one per major.
fn release_of(cli: &Cli) -> String {
    format!("shop@{}.0.0", cli.major)
}

/// [`sentry_cli::run`], which must exit 0; records the failure with its output otherwise.
async fn must_succeed(
    cli: &Cli,
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    problems: &mut Vec<String>,
) -> Run {
    let run = sentry_cli::run(cli, dir, env, args).await;
    if !run.success {
        problems.push(format!(
            "[{}] `sentry-cli {}` failed:\n{}\n{}",
            cli.version,
            args.join(" "),
            run.stdout.trim(),
            run.stderr.trim()
        ));
    }
    run
}

/// Bundles and minifies `e2e/sdk/cli/src/main.js` with a source map into `out/` (`main.js`,
/// `main.js.map`) with the esbuild `infra/install-e2e-sdks.sh` installs for the browser SDK.
fn build_fixture(out: &Path) {
    let esbuild = e2e_sdk_dir().join("browser/node_modules/.bin/esbuild");
    require_sdk(
        "esbuild (npm, with the browser SDK)",
        Command::new(&esbuild).arg("--version"),
    );
    let output = Command::new(&esbuild)
        .arg(repo_root().join("e2e/sdk/cli/src/main.js"))
        .args([
            "--bundle",
            "--minify",
            "--sourcemap",
            "--format=esm",
            "--log-level=warning",
        ])
        .arg(format!("--outdir={}", out.display()))
        .output()
        .expect("run esbuild");
    assert!(
        output.status.success(),
        "esbuild failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A copy of the build in `to` (sentry-cli `inject` rewrites files in place).
fn copy_build(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for name in ["main.js", "main.js.map"] {
        std::fs::copy(from.join(name), to.join(name)).expect("copy the build");
    }
    to.to_path_buf()
}

/// The debug id `inject` wrote into the script (`//# debugId=…`) and into its map (`debugId`,
/// or `debug_id` as older CLIs write it); `None` when they are missing or differ.
fn injected_debug_id(dir: &Path) -> Option<String> {
    let script = std::fs::read_to_string(dir.join("main.js")).ok()?;
    let in_script = script
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("//# debugId="))?
        .trim()
        .to_owned();
    let map: Value = serde_json::from_slice(&std::fs::read(dir.join("main.js.map")).ok()?).ok()?;
    let in_map = map["debugId"].as_str().or(map["debug_id"].as_str())?;
    (in_map == in_script).then_some(in_script)
}

async fn open_read_only(server: &Server) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(server.database_path())
                .read_only(true),
        )
        .await
        .expect("open the server's SQLite database")
}

/// `SELECT COUNT(*) …` with string parameters.
async fn count(pool: &SqlitePool, sql: &'static str, binds: &[&str]) -> i64 {
    let mut query = sqlx::query_scalar::<_, i64>(sql);
    for bind in binds {
        query = query.bind(*bind);
    }
    query
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Rows of uploaded artifacts, the whole account's: `(bundles, files, blobs)`.
async fn stored_totals(pool: &SqlitePool) -> (i64, i64, i64) {
    (
        count(pool, "SELECT COUNT(*) FROM artifact_bundles", &[]).await,
        count(pool, "SELECT COUNT(*) FROM artifact_files", &[]).await,
        count(pool, "SELECT COUNT(*) FROM artifact_blobs", &[]).await,
    )
}

/// `(kind, url, contents)` of the project's files carrying `debug_id`, by URL.
async fn files_with_debug_id(
    pool: &SqlitePool,
    project: &Project,
    debug_id: &str,
) -> Vec<(String, String, Vec<u8>)> {
    sqlx::query_as(
        "SELECT f.kind, f.url, b.data FROM artifact_files f \
         JOIN artifact_blobs b ON b.account_id = f.account_id AND b.checksum = f.blob_checksum \
         WHERE f.project_id = ? AND f.debug_id = ? ORDER BY f.url",
    )
    .bind(project.id)
    .bind(debug_id)
    .fetch_all(pool)
    .await
    .expect("query files by debug id")
}

/// `GET base/path` with `token`; `(status, JSON body or Null)`.
async fn api_get(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_cli_2_and_3_create_releases_upload_source_maps_and_deploy() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let clis = [sentry_cli::find(2), sentry_cli::find(3)];
    let work = tempfile::tempdir().expect("temp dir");
    let build = work.path().join("build");
    build_fixture(&build);

    let server = Server::start(&[]).await;
    let project = server.create_project("shop");
    let token = server.api_token_with_scope(&project, "project:releases");
    let rival = server.create_project("rival");
    let rival_token = server.api_token_with_scope(&rival, "project:releases");
    let pool = open_read_only(&server).await;
    let env = [
        ("SENTRY_URL", server.base_url.as_str()),
        ("SENTRY_AUTH_TOKEN", token.as_str()),
        ("SENTRY_ORG", project.account.as_str()),
        ("SENTRY_PROJECT", project.slug.as_str()),
    ];
    let org = &project.account;
    let mut problems = Vec::new();

    for cli in &clis {
        let cli_started = Instant::now();
        let dir = work.path().join(format!("cli-{}", cli.major));
        let release = release_of(cli);
        let release = release.as_str();
        let label = &cli.version;
        let debug_ids = copy_build(&build, &dir.join("debug-ids"));
        let by_url = copy_build(&build, &dir.join("by-url"));
        let debug_ids_arg = debug_ids.to_str().expect("UTF-8 path");
        let by_url_arg = by_url.to_str().expect("UTF-8 path");
        let p = &mut problems;

        must_succeed(cli, &dir, &env, &["releases", "new", release], p).await;

        // Debug ids: inject, upload, and the same upload again.
        must_succeed(cli, &dir, &env, &["sourcemaps", "inject", debug_ids_arg], p).await;
        let debug_id = injected_debug_id(&debug_ids);
        if debug_id.is_none() {
            p.push(format!(
                "[{label}] inject wrote no (or two different) debug ids into {debug_ids_arg}"
            ));
        }
        must_succeed(cli, &dir, &env, &["sourcemaps", "upload", debug_ids_arg], p).await;
        let after_first = stored_totals(&pool).await;
        must_succeed(cli, &dir, &env, &["sourcemaps", "upload", debug_ids_arg], p).await;
        let after_second = stored_totals(&pool).await;
        if after_second != after_first {
            p.push(format!(
                "[{label}] the identical second upload changed (bundles, files, blobs) from {after_first:?} to {after_second:?}"
            ));
        }
        if let Some(debug_id) = &debug_id {
            let files = files_with_debug_id(&pool, &project, debug_id).await;
            let kinds: Vec<(&str, &str)> = files
                .iter()
                .map(|(kind, url, _)| (kind.as_str(), url.as_str()))
                .collect();
            if kinds
                != [
                    ("minified_source", "~/main.js"),
                    ("source_map", "~/main.js.map"),
                ]
            {
                p.push(format!(
                    "[{label}] files with debug id {debug_id}: {kinds:?}, expected the script and its map once each"
                ));
            }
            let script = std::fs::read(debug_ids.join("main.js")).expect("read the script");
            if files.first().is_some_and(|(_, _, data)| *data != script) {
                p.push(format!(
                    "[{label}] the stored script differs from the injected main.js"
                ));
            }
            // sentry-cli rewrites maps (names, mappings); the stored one must still carry the id.
            let stored_map: Option<Value> = files
                .get(1)
                .and_then(|(_, _, data)| serde_json::from_slice(data).ok());
            let map_id = stored_map
                .as_ref()
                .and_then(|m| m["debugId"].as_str().or(m["debug_id"].as_str()));
            if map_id != Some(debug_id.as_str()) {
                p.push(format!(
                    "[{label}] the stored map carries debug id {map_id:?}, not {debug_id}"
                ));
            }
            let bundles = count(
                &pool,
                "SELECT COUNT(DISTINCT bundle_id) FROM artifact_files WHERE debug_id = ?",
                &[debug_id],
            )
            .await;
            if bundles != 1 {
                p.push(format!(
                    "[{label}] debug id {debug_id} is in {bundles} bundles, expected 1"
                ));
            }
        }

        // By release and URL (no debug ids), as 2.x's `--release` uploads always worked; 3.x
        // still accepts `--release` and sends the same artifact bundle with a version.
        for _ in 0..2 {
            let args = [
                "sourcemaps",
                "upload",
                "--release",
                release,
                "--url-prefix",
                "~/",
                by_url_arg,
            ];
            must_succeed(cli, &dir, &env, &args, p).await;
        }
        let by_url_files = count(
            &pool,
            "SELECT COUNT(*) FROM artifact_files WHERE release = ? AND bundle_id IS NOT NULL \
             AND debug_id IS NULL AND url IN ('~/main.js', '~/main.js.map')",
            &[release],
        )
        .await;
        if by_url_files != 2 {
            p.push(format!(
                "[{label}] {by_url_files} files of release {release} by URL, expected main.js and its map once each"
            ));
        }

        // 2.x: one legacy release file (`POST …/releases/{V}/files/`); its second upload is
        // refused as Sentry refuses it. 3.x removed `releases files`.
        if cli.major == 2 {
            let script = debug_ids.join("main.js");
            let args = [
                "releases",
                "files",
                release,
                "upload",
                script.to_str().expect("UTF-8 path"),
                "~/legacy/main.js",
            ];
            must_succeed(cli, &dir, &env, &args, p).await;
            let again = sentry_cli::run(cli, &dir, &env, &args).await;
            if again.success || !again.stderr.contains("already present") {
                p.push(format!(
                    "[{label}] a second legacy upload of the same name should fail with \"File already present\": {}",
                    again.stderr.trim()
                ));
            }
            let path = format!(
                "/api/0/projects/{org}/{}/releases/{release}/files/",
                project.slug
            );
            let (status, files) = api_get(&server, &token, &path).await;
            let names: Vec<&str> = files
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["name"].as_str())
                .collect();
            if status != 200 || names != ["~/legacy/main.js"] {
                p.push(format!("[{label}] GET {path}: {status} {files}"));
            }
        }

        must_succeed(cli, &dir, &env, &["releases", "finalize", release], p).await;
        let deploy_name = format!("e2e deploy {}", cli.major);
        let args = [
            "deploys",
            "new",
            "--release",
            release,
            "-e",
            "production",
            "-n",
            &deploy_name,
        ];
        must_succeed(cli, &dir, &env, &args, p).await;
        let listed = must_succeed(cli, &dir, &env, &["releases", "list"], p).await;
        if listed.success && !listed.stdout.contains(release) {
            p.push(format!(
                "[{label}] `releases list` does not show {release}:\n{}",
                listed.stdout
            ));
        }

        // What was stored, through the API and in the database.
        let (status, info) = api_get(
            &server,
            &token,
            &format!("/api/0/organizations/{org}/releases/{release}/"),
        )
        .await;
        if status != 200
            || !info["dateReleased"].is_string()
            || info["deployCount"] != 1
            || info["lastDeploy"]["environment"] != "production"
            || info["lastDeploy"]["name"] != deploy_name.as_str()
            || info["projects"][0]["slug"] != project.slug.as_str()
        {
            p.push(format!(
                "[{label}] release {release} as the API shows it: {status} {info}"
            ));
        }
        let finalized = count(
            &pool,
            "SELECT COUNT(*) FROM releases WHERE version = ? AND date_released IS NOT NULL",
            &[release],
        )
        .await;
        let deploys = count(
            &pool,
            "SELECT COUNT(*) FROM deploys d JOIN releases r ON r.id = d.release_id \
             WHERE r.version = ? AND d.environment = 'production' AND d.name = ?",
            &[release, &deploy_name],
        )
        .await;
        if (finalized, deploys) != (1, 1) {
            p.push(format!(
                "[{label}] {finalized} finalized release rows and {deploys} deploys of {release}, expected 1 and 1"
            ));
        }

        // Another account's token: the first account's slugs are not found.
        let rival_env = [
            env[0],
            ("SENTRY_AUTH_TOKEN", rival_token.as_str()),
            env[2],
            env[3],
        ];
        let listed = sentry_cli::run(cli, &dir, &rival_env, &["releases", "list"]).await;
        if listed.success || !listed.stderr.to_lowercase().contains("not found") {
            p.push(format!(
                "[{label}] another account's `releases list` for {org} should fail with \"not found\": {}{}",
                listed.stdout, listed.stderr
            ));
        }
        let created =
            sentry_cli::run(cli, &dir, &rival_env, &["releases", "new", "intruder"]).await;
        if created.success {
            p.push(format!(
                "[{label}] another account created a release in {org}: {}",
                created.stdout
            ));
        }
        eprintln!("[{label}] done in {} ms", cli_started.elapsed().as_millis());
    }

    let (status, body) = api_get(
        &server,
        &rival_token,
        &format!("/api/0/organizations/{org}/releases/"),
    )
    .await;
    if status != 404 {
        problems.push(format!(
            "another account's token listed {org}'s releases: {status} {body}"
        ));
    }
    let intruders = count(
        &pool,
        "SELECT COUNT(*) FROM releases WHERE version = 'intruder'",
        &[],
    )
    .await;
    if intruders != 0 {
        problems.push(format!("{intruders} releases `intruder` exist"));
    }
    // Both CLIs uploaded the same build for their own release: each release keeps its files.
    for cli in &clis {
        let files = count(
            &pool,
            "SELECT COUNT(*) FROM artifact_files WHERE release = ? AND bundle_id IS NOT NULL",
            &[&release_of(cli)],
        )
        .await;
        if files != 2 {
            problems.push(format!(
                "release {} holds {files} bundle files after every upload, expected its 2",
                release_of(cli)
            ));
        }
    }
    pool.close().await;
    eprintln!(
        "sentry-cli e2e done in {} ms",
        started.elapsed().as_millis()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
}
