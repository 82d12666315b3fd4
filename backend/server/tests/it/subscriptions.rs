//! Live subscriptions over WebSocket (graphql-transport-ws): new issues, issue changes and new
//! events arrive on a subscription; on PostgreSQL the subscription is held on a second server
//! process and the event is ingested and digested through the first (LISTEN/NOTIFY). Another
//! tenant's ids answer NOT_FOUND; bad credentials close the connection.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::gql::user_with_account;
use crate::harness::ws::{connect, next, subscribe};
use crate::harness::{Backend, TestApp, db_test};

async fn send_event(app: &TestApp, project: i64, key: &str, message: &str) -> String {
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let response = app
        .client
        .post(app.url(&format!("/api/{project}/store/?sentry_key={key}")))
        .json(&json!({"event_id": event_id, "message": message}))
        .send()
        .await
        .expect("store");
    assert_eq!(response.status().as_u16(), 200);
    event_id
}

db_test!(
    async fn new_issues_changes_and_events_arrive_live(backend) {
        let first = TestApp::spawn(backend).await;
        // On PostgreSQL the subscriber sits on another server process of the same database.
        let second = match backend {
            Backend::Postgres => Some(first.spawn_sharing(&[]).await),
            Backend::Sqlite => None,
        };
        let watcher_app = second.as_ref().unwrap_or(&first);

        let (ada, account) = user_with_account(&first, "ada@example.com", "Acme").await;
        let created = ada
            .ok("mutation($a: ID!) { createProject(accountId: $a, name: \"Web\") { id keys { publicKey } } }", json!({"a": account}))
            .await;
        let project = created["createProject"]["id"].as_str().expect("id").to_owned();
        let number: i64 = project.trim_start_matches("prj_").parse().expect("number");
        let key = created["createProject"]["keys"][0]["publicKey"].as_str().expect("key").to_owned();
        let secret = ada
            .ok("mutation($a: ID!) { createApiToken(accountId: $a, name: \"live\", scope: READ) { secret } }", json!({"a": account}))
            .await["createApiToken"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();

        let mut socket = connect(watcher_app, json!({"authorization": format!("Bearer {secret}")})).await.expect("ack");
        subscribe(&mut socket, "new", "subscription($p: ID) { issueCreated(projectId: $p) { id title count } }", json!({"p": project})).await;
        subscribe(&mut socket, "events", "subscription($p: ID) { eventCreated(projectId: $p) { eventId payload } }", json!({"p": project})).await;
        subscribe(&mut socket, "changes", "subscription($p: ID) { issueUpdated(projectId: $p) { id status count } }", json!({"p": project})).await;
        // Give the subscriptions a moment to register before producing.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let event_id = send_event(&first, number, &key, "Checkout exploded").await;
        let mut got: Vec<Value> = Vec::new();
        while got.len() < 2 {
            let message = next(&mut socket).await.expect("a message within 20 s");
            assert_eq!(message["type"], "next", "{message}");
            got.push(message);
        }
        let issue = got.iter().find(|m| m["id"] == "new").expect("issueCreated")["payload"]["data"]["issueCreated"].clone();
        assert_eq!(issue["title"], "Checkout exploded");
        let event = got.iter().find(|m| m["id"] == "events").expect("eventCreated")["payload"]["data"]["eventCreated"].clone();
        assert_eq!(event["eventId"], event_id);
        assert_eq!(event["payload"]["message"], "Checkout exploded", "{event}");

        // A state change made through the first process arrives as an update.
        ada.ok("mutation($i: ID!) { resolveIssue(id: $i) { status } }", json!({"i": issue["id"]})).await;
        let update = next(&mut socket).await.expect("issueUpdated");
        assert_eq!(update["id"], "changes", "{update}");
        assert_eq!(update["payload"]["data"]["issueUpdated"]["status"], "RESOLVED");

        // Another tenant: NOT_FOUND for A's project; a bad token closes the connection.
        let (bob, b_account) = user_with_account(&first, "bob@example.com", "Globex").await;
        let b_secret = bob
            .ok("mutation($a: ID!) { createApiToken(accountId: $a, name: \"b\", scope: ADMIN) { secret } }", json!({"a": b_account}))
            .await["createApiToken"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let mut intruder = connect(watcher_app, json!({"authorization": format!("Bearer {b_secret}")})).await.expect("ack");
        subscribe(&mut intruder, "spy", "subscription($p: ID) { eventCreated(projectId: $p) { eventId } }", json!({"p": project})).await;
        let refused = next(&mut intruder).await.expect("an answer");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
        assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
        // Bob's account-wide subscription sees nothing of A's events.
        subscribe(&mut intruder, "mine", "subscription($a: ID) { eventCreated(accountId: $a) { eventId } }", json!({"a": b_account})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        send_event(&first, number, &key, "Another one").await;
        first.run_pending_jobs().await;
        // Only the end of the refused subscription may arrive, never data.
        while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(1500), next(&mut intruder)).await {
            assert!(
                message["type"] == "complete" && message["id"] == "spy",
                "B received something after A's event: {message}"
            );
        }
        let rejected = connect(watcher_app, json!({"authorization": "Bearer ewt_not_a_real_token_at_all_000000000000000"})).await;
        assert!(rejected.is_err(), "a bad token must not be acknowledged");

        drop(socket);
        drop(second);
    }
);
