//! Releases through `/graphql` as the dashboard reads them, from events sent over HTTP like an
//! SDK and a deploy recorded by sentry-cli's call: the paged and searchable list, one release
//! with its environments, deploys, new and regressed issues and its events over time; a
//! viewer reads them too, another account reaches nothing. Also the source-map notes of a
//! JavaScript frame that could not be mapped.

use serde_json::{Value, json};

use crate::harness::gql::{Gql, user_with_account};
use crate::harness::{TestApp, db_test};
use crate::issues_api::{Shop, shop};

/// Sends one event to the store endpoint.
async fn send(app: &TestApp, shop: &Shop, event: Value) {
    let response = app
        .client
        .post(app.url(&format!(
            "/api/{}/store/?sentry_key={}",
            shop.number, shop.key
        )))
        .json(&event)
        .send()
        .await
        .expect("store");
    assert_eq!(response.status().as_u16(), 200);
}

fn hours_ago(hours: i64) -> i64 {
    chrono::Utc::now().timestamp() - hours * 3600
}

const LIST: &str = "query($p: ID!, $q: String, $f: Int, $a: String) { project(id: $p) {
  releaseList(query: $q, first: $f, after: $a) { pageInfo { hasNextPage endCursor }
    nodes { id version dateCreated dateReleased lastEvent eventCount newIssueCount regressionCount deploys { environment } } } } }";

const ONE: &str = "query($p: ID!, $v: String!) { project(id: $p) { release(version: $v) {
  version projectId firstEvent lastEvent eventCount newIssueCount regressionCount
  environments { environment eventCount newIssueCount firstEvent lastEvent }
  deploys { id environment name dateFinished }
  newIssues { id title } regressedIssues { id title status }
  eventSeries { interval buckets { time count } } } } }";

fn versions(data: &Value) -> Vec<String> {
    data["project"]["releaseList"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["version"].as_str().expect("version").to_owned())
        .collect()
}

fn titles(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["title"].as_str().expect("title").to_owned())
        .collect();
    out.sort();
    out
}

/// shop@1.0: "Payment declined" twice in production, "Cache miss storm" once in staging;
/// "Payment declined" is resolved, then shop@1.1 brings it back (a regression) with the new
/// "Connection refused" in production, and is deployed to production.
async fn seed(app: &TestApp, shop: &Shop) -> String {
    for hours in [3, 2] {
        send(
            app,
            shop,
            json!({"message": "Payment declined", "environment": "production",
            "release": "shop@1.0", "timestamp": hours_ago(hours)}),
        )
        .await;
    }
    send(
        app,
        shop,
        json!({"message": "Cache miss storm", "level": "warning", "environment": "staging",
        "release": "shop@1.0", "timestamp": hours_ago(2)}),
    )
    .await;
    app.run_pending_jobs().await;
    let issues = shop
        .browser
        .ok(
            "query($p: ID!) { project(id: $p) { issues(query: \"Payment\") { nodes { id } } } }",
            json!({"p": shop.project}),
        )
        .await;
    let payment = issues["project"]["issues"]["nodes"][0]["id"]
        .as_str()
        .expect("issue")
        .to_owned();
    shop.browser
        .ok(
            "mutation($id: ID!) { resolveIssue(id: $id) { id } }",
            json!({"id": payment}),
        )
        .await;

    send(
        app,
        shop,
        json!({"message": "Payment declined", "environment": "production", "release": "shop@1.1"}),
    )
    .await;
    send(app, shop, json!({"message": "Connection refused", "environment": "production", "release": "shop@1.1"})).await;
    app.run_pending_jobs().await;

    // sentry-cli deploys new, with a token for CI.
    let token = shop
        .browser
        .ok("mutation($a: ID!) { createApiToken(accountId: $a, name: \"ci\", scope: RELEASES) { secret } }", json!({"a": shop.account}))
        .await["createApiToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let response = app
        .client
        .post(app.url("/api/0/organizations/acme/releases/shop@1.1/deploys/"))
        .bearer_auth(&token)
        .json(&json!({"environment": "production", "name": "deploy 7"}))
        .send()
        .await
        .expect("deploy");
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap_or_default()
    );
    payment
}

/// A read-only API token of the shop's account (acts as a viewer).
async fn viewer(app: &TestApp, shop: &Shop) -> Gql {
    let secret = shop
        .browser
        .ok("mutation($a: ID!) { createApiToken(accountId: $a, name: \"look\", scope: READ) { secret } }", json!({"a": shop.account}))
        .await["createApiToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    Gql::token(app, &secret)
}

db_test!(
    async fn releases_are_listed_newest_first_searched_and_paged(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;

        let all = shop.browser.ok(LIST, json!({"p": shop.project})).await;
        assert_eq!(versions(&all), ["shop@1.1", "shop@1.0"], "newest first");
        let newest = &all["project"]["releaseList"]["nodes"][0];
        assert_eq!((newest["eventCount"].as_i64(), newest["newIssueCount"].as_i64(), newest["regressionCount"].as_i64()), (Some(2), Some(1), Some(1)), "{newest}");
        assert_eq!(newest["deploys"], json!([{"environment": "production"}]));
        assert!(newest["id"].as_str().expect("id").starts_with("rel_"));
        assert!(newest["dateReleased"].is_null() && newest["lastEvent"].is_string());
        let oldest = &all["project"]["releaseList"]["nodes"][1];
        assert_eq!((oldest["eventCount"].as_i64(), oldest["newIssueCount"].as_i64()), (Some(3), Some(2)), "{oldest}");
        assert_eq!(oldest["deploys"], json!([]));

        // Paged: one at a time, the cursor leads on.
        let first = shop.browser.ok(LIST, json!({"p": shop.project, "f": 1})).await;
        assert_eq!(versions(&first), ["shop@1.1"]);
        let page_info = &first["project"]["releaseList"]["pageInfo"];
        assert_eq!(page_info["hasNextPage"], true);
        let next = shop.browser.ok(LIST, json!({"p": shop.project, "f": 1, "a": page_info["endCursor"]})).await;
        assert_eq!(versions(&next), ["shop@1.0"]);
        assert_eq!(next["project"]["releaseList"]["pageInfo"]["hasNextPage"], false);

        // Searched by version (a `%` or `_` is text, not a pattern).
        let found = shop.browser.ok(LIST, json!({"p": shop.project, "q": "1.0"})).await;
        assert_eq!(versions(&found), ["shop@1.0"]);
        let none = shop.browser.ok(LIST, json!({"p": shop.project, "q": "%"})).await;
        assert!(versions(&none).is_empty());
        assert_eq!(shop.browser.err(LIST, json!({"p": shop.project, "f": 0})).await, "VALIDATION");
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn a_release_shows_environments_deploys_new_and_regressed_issues_and_its_events(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        let payment = seed(&app, &shop).await;

        let data = shop.browser.ok(ONE, json!({"p": shop.project, "v": "shop@1.1"})).await;
        let release = &data["project"]["release"];
        assert_eq!(release["projectId"], shop.project.as_str());
        assert_eq!(titles(&release["newIssues"]), ["Connection refused"]);
        assert_eq!(titles(&release["regressedIssues"]), ["Payment declined"]);
        assert_eq!(release["regressedIssues"][0]["id"], payment.as_str(), "the issue page's id");
        assert_eq!(release["regressedIssues"][0]["status"], "UNRESOLVED");
        assert_eq!(release["environments"].as_array().map(Vec::len), Some(1), "{release}");
        assert_eq!(release["environments"][0]["environment"], "production");
        assert_eq!(release["environments"][0]["eventCount"], 2);
        assert_eq!(release["deploys"].as_array().map(Vec::len), Some(1));
        assert_eq!(release["deploys"][0]["environment"], "production");
        assert_eq!(release["deploys"][0]["name"], "deploy 7");
        assert!(release["deploys"][0]["id"].as_str().expect("id").starts_with("dep_"));

        // Its events over time: by hour, at least a day, every event in a bucket.
        let series = &release["eventSeries"];
        assert_eq!(series["interval"], "HOUR");
        let buckets = series["buckets"].as_array().expect("buckets");
        assert!(buckets.len() >= 24, "{series}");
        let counts: Vec<i64> = buckets.iter().map(|b| b["count"].as_i64().expect("count")).collect();
        assert_eq!(counts.iter().sum::<i64>(), 2, "{series}");
        assert_eq!(*counts.last().expect("a bucket"), 2, "the latest hour holds both: {series}");

        // shop@1.0: two environments (busiest first) and two new issues over two hours.
        let data = shop.browser.ok(ONE, json!({"p": shop.project, "v": "shop@1.0"})).await;
        let release = &data["project"]["release"];
        assert_eq!(titles(&release["newIssues"]), ["Cache miss storm", "Payment declined"]);
        assert_eq!(release["regressedIssues"], json!([]));
        let environments: Vec<(String, i64)> = release["environments"]
            .as_array()
            .expect("environments")
            .iter()
            .map(|e| (e["environment"].as_str().expect("name").to_owned(), e["eventCount"].as_i64().expect("count")))
            .collect();
        assert_eq!(environments, [("production".to_owned(), 2), ("staging".to_owned(), 1)]);
        let counts: Vec<i64> = release["eventSeries"]["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| b["count"].as_i64().expect("count"))
            .collect();
        assert_eq!(counts.iter().sum::<i64>(), 3);
        assert_eq!(counts.iter().filter(|c| **c > 0).count(), 2, "two hours with events: {counts:?}");

        // A window of its own: a day by hour; over two days by day; a bad one refused.
        let window = "query($p: ID!, $v: String!, $f: DateTime, $t: DateTime) { project(id: $p) { release(version: $v) { eventSeries(from: $f, to: $t) { interval buckets { count } } } } }";
        let now = chrono::Utc::now();
        let days = shop.browser.ok(window, json!({"p": shop.project, "v": "shop@1.0",
            "f": (now - chrono::Duration::days(7)).to_rfc3339(), "t": (now + chrono::Duration::hours(1)).to_rfc3339()})).await;
        let series = &days["project"]["release"]["eventSeries"];
        assert_eq!(series["interval"], "DAY");
        let total: i64 = series["buckets"].as_array().expect("buckets").iter().map(|b| b["count"].as_i64().expect("count")).sum();
        assert_eq!(total, 3, "{series}");
        let refused = shop.browser.err(window, json!({"p": shop.project, "v": "shop@1.0",
            "f": now.to_rfc3339(), "t": (now - chrono::Duration::hours(1)).to_rfc3339()})).await;
        assert_eq!(refused, "VALIDATION");

        // A version the project does not have.
        assert_eq!(shop.browser.err(ONE, json!({"p": shop.project, "v": "shop@9"})).await, "NOT_FOUND");

        // A viewer reads it all.
        let look = viewer(&app, &shop).await;
        let seen = look.ok(ONE, json!({"p": shop.project, "v": "shop@1.1"})).await;
        assert_eq!(titles(&seen["project"]["release"]["regressedIssues"]), ["Payment declined"]);
        assert_eq!(versions(&look.ok(LIST, json!({"p": shop.project})).await), ["shop@1.1", "shop@1.0"]);
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn releases_are_invisible_to_other_accounts(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;

        // Bob, owner of another account with a project and an event of the same version.
        let (bob, globex) = user_with_account(&app, "bob@example.com", "Globex").await;
        let created = bob
            .ok("mutation($a: ID!) { createProject(accountId: $a, name: \"Shop\") { id keys { publicKey } } }", json!({"a": globex}))
            .await;
        let bobs = created["createProject"]["id"].as_str().expect("id").to_owned();
        assert_eq!(bob.err(ONE, json!({"p": shop.project, "v": "shop@1.1"})).await, "NOT_FOUND");
        assert_eq!(bob.err(LIST, json!({"p": shop.project})).await, "NOT_FOUND");
        // His own project has no release of that name, and lists nothing of Acme's.
        assert_eq!(bob.err(ONE, json!({"p": bobs, "v": "shop@1.1"})).await, "NOT_FOUND");
        assert!(versions(&bob.ok(LIST, json!({"p": bobs})).await).is_empty());

        // Acme's own view is unchanged.
        assert_eq!(versions(&shop.browser.ok(LIST, json!({"p": shop.project})).await), ["shop@1.1", "shop@1.0"]);
        app.stop().await.expect("stop");
    }
);

db_test!(
    async fn a_frame_without_its_source_map_says_why(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        let url = "https://cdn.example.com/static/app.min.js";
        // The event names the debug id of its file: source maps are set up, the map is missing.
        let debug_id = "d91e72dc-6111-55ed-a674-559564fab7e1";
        send(&app, &shop, json!({"platform": "javascript", "release": "shop@2.0",
            "debug_meta": {"images": [{"type": "sourcemap", "code_file": url, "debug_id": debug_id}]},
            "exception": {"values": [{"type": "TypeError", "value": "not a number",
                "stacktrace": {"frames": [{"abs_path": url, "filename": url, "lineno": 1, "colno": 1043, "function": "a", "in_app": true}]}}]}})).await;
        app.run_pending_jobs().await;
        let data = shop
            .browser
            .ok("query($p: ID!) { project(id: $p) { issues { nodes { latestEvent {
                exceptions { frames { filename lineno colno symbolicated resolvedWith symbolicationError { code message } symbolicationWarning { code } }
                    rawFrames { filename } } } } } } }", json!({"p": shop.project}))
            .await;
        let exception = &data["project"]["issues"]["nodes"][0]["latestEvent"]["exceptions"][0];
        let frame = &exception["frames"][0];
        assert_eq!((frame["lineno"].as_i64(), frame["colno"].as_i64()), (Some(1), Some(1043)), "minified position kept: {frame}");
        assert_eq!(frame["symbolicated"], false);
        assert!(frame["resolvedWith"].is_null() && frame["symbolicationWarning"].is_null());
        assert!(frame["symbolicationError"]["code"].as_str().is_some_and(|c| c.starts_with("missing_sourcemap_for_")), "{frame}");
        assert!(frame["symbolicationError"]["message"].as_str().is_some_and(|m| m.contains(debug_id) || m.contains(url)), "{frame}");
        assert!(exception["rawFrames"].is_null(), "nothing was mapped: {exception}");
        app.stop().await.expect("stop");
    }
);
