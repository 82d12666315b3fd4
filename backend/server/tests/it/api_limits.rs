//! API limits and costs: document size, depth and complexity with clear errors, rate limits per
//! token/user with a retry hint, and a bounded number of database statements per issue list
//! (no N+1).

use serde_json::json;

use crate::harness::gql::{Gql, user_with_account};
use crate::harness::{TestApp, db_test};

db_test!(
    async fn oversized_deep_and_malformed_documents_get_clear_errors(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, account) = user_with_account(&app, "ada@example.com", "Acme").await;
        ada.ok("mutation($a: ID!) { createProject(accountId: $a, name: \"Web\") { id } }", json!({"a": account})).await;

        // Depth: project → account → projects → … past 16 levels.
        let mut deep = String::from("{ viewer { accounts { id ");
        for _ in 0..4 {
            deep.push_str("projects { edges { node { account { id ");
        }
        deep.push_str(&"} } } } ".repeat(4));
        deep.push_str("} } }");
        let body = ada.exec(&deep, json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION", "{body}");
        assert!(body["errors"][0]["message"].as_str().expect("message").contains("deep"), "{body}");

        let body = ada.exec("{ viewer { nope } }", json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION", "{body}");
        let body = ada.exec("{ viewer { ", json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION", "{body}");

        let huge = format!("{{ viewer {{ user {{ email }} }} }} # {}", "x".repeat(70 * 1024));
        let (status, body) = ada.raw(&huge, json!({}), true).await;
        assert_eq!(status, 413);
        assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION");
    }
);

db_test!(
    async fn each_token_and_user_has_its_own_request_budget(backend) {
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_API_RATE_LIMIT_PER_MINUTE", "6")]).await;
        let (ada, account) = user_with_account(&app, "ada@example.com", "Acme").await;
        let secret = ada
            .ok("mutation($a: ID!) { createApiToken(accountId: $a, name: \"ci\", scope: READ) { secret } }", json!({"a": account}))
            .await["createApiToken"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let token = Gql::token(&app, &secret);
        for _ in 0..6 {
            token.ok("{ viewer { accounts { id } } }", json!({})).await;
        }
        let (status, body) = token.raw("{ viewer { accounts { id } } }", json!({}), false).await;
        assert_eq!(status, 429);
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        let retry = body["errors"][0]["extensions"]["retryAfter"].as_u64().expect("hint");
        assert!((1..=60).contains(&retry), "{retry}");
        // The user's own session is a separate budget (ada used a few requests signing up).
        ada.ok("{ viewer { user { email } } }", json!({})).await;
    }
);

const PAGE: &str = "query($p: ID!, $f: Int) { project(id: $p) { issues(first: $f) { totalCount edges { node {
  id title count userCount lastSeen level status latestEvent { eventId timestamp release } } } } } }";

db_test!(
    async fn listing_a_hundred_issues_runs_as_many_statements_as_listing_ten(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, account) = user_with_account(&app, "ada@example.com", "Acme").await;
        let created = ada
            .ok("mutation($a: ID!) { createProject(accountId: $a, name: \"Web\") { id keys { publicKey } } }", json!({"a": account}))
            .await;
        let project = created["createProject"]["id"].as_str().expect("id").to_owned();
        let number: i64 = project.trim_start_matches("prj_").parse().expect("number");
        let key = created["createProject"]["keys"][0]["publicKey"].as_str().expect("key").to_owned();
        for i in 0..100 {
            let response = app
                .client
                .post(app.url(&format!("/api/{number}/store/?sentry_key={key}")))
                .json(&json!({"message": format!("distinct problem number {}", ["alpha", "beta", "gamma", "delta", "epsilon"][i % 5].repeat(i / 5 + 1)), "release": "1.0"}))
                .send()
                .await
                .expect("store");
            assert_eq!(response.status().as_u16(), 200);
        }
        app.run_pending_jobs().await;
        // Counted on a server without workers: on PostgreSQL the first app's idle digest polls
        // the spool every 500 ms (5 statements), and on a loaded machine all three runs of
        // the 100-issue page once overlapped a poll.
        let reader = app
            .spawn_sharing_without_workers(&[("ERRORWATCH_QUOTA_REFRESH_MS", "60000")])
            .await;
        let ada = ada.at(&reader);
        let mut costs = Vec::new();
        for first in [10, 100] {
            // The least of three runs: background tasks may add a statement now and then.
            let mut least = u64::MAX;
            for _ in 0..3 {
                let before = reader.db.statements();
                let data = ada.ok(PAGE, json!({"p": project, "f": first})).await;
                let after = reader.db.statements();
                let edges = data["project"]["issues"]["edges"].as_array().expect("edges");
                assert_eq!(edges.len(), first as usize);
                assert!(edges.iter().all(|e| e["node"]["latestEvent"]["eventId"].is_string()));
                least = least.min(after - before);
            }
            costs.push(least);
        }
        assert_eq!(costs[0], costs[1], "statements for 10 vs 100 issues: {costs:?}");
        // Session, membership and project checks, the search and its count, one batched
        // latest-event query: a constant, whatever the page size.
        assert!(costs[1] <= 20, "statements per page: {costs:?}");
    }
);
