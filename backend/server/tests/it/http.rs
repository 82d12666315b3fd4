//! Health, readiness, request ids, metrics, GraphQL and the dashboard's static files.

use crate::harness::{TestApp, db_test};

db_test!(
    async fn health_live_and_ready_answer_ok(backend) {
        let app = TestApp::spawn(backend).await;
        let live = app.get("/health/live").await;
        assert_eq!(live.status(), 200);
        let ready = app.get("/health/ready").await;
        assert_eq!(ready.status(), 200);
        let body: serde_json::Value = ready.json().await.expect("json");
        assert_eq!(body["database"], "ok");
        assert_eq!(body["migrations"], "applied");
        app.stop().await.expect("clean stop");
    }
);

db_test!(
    async fn ready_turns_unavailable_when_the_database_goes_away(backend) {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.get("/health/ready").await.status(), 200);
        app.db.close().await;
        let ready = app.get("/health/ready").await;
        assert_eq!(ready.status(), 503);
        let body: serde_json::Value = ready.json().await.expect("json");
        assert_eq!(body["database"], "unreachable");
        assert_eq!(app.get("/health/live").await.status(), 200, "liveness does not depend on the database");
    }
);

db_test!(
    async fn request_ids_are_generated_or_propagated(backend) {
        let app = TestApp::spawn(backend).await;
        let generated = app.get("/health/live").await;
        let id = generated.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        let given = app
            .client
            .get(app.url("/health/live"))
            .header("x-request-id", "trace-me-123")
            .send()
            .await
            .expect("request");
        assert_eq!(given.headers()["x-request-id"], "trace-me-123");
    }
);

db_test!(
    async fn metrics_count_requests_by_route_and_jobs(backend) {
        let app = TestApp::spawn(backend).await;
        // One finished job, so the queue-depth gauge has a row to export.
        let job = errorwatch_core::jobs::selftest::SelfTest {
            batch: "metrics".to_owned(),
            token: "metrics-1".to_owned(),
            work_ms: 0,
            fail_first: 0,
        };
        app.queue.enqueue(&job).await.expect("enqueue");
        app.run_pending_jobs().await;
        for _ in 0..3 {
            app.get("/health/live").await;
        }
        app.get("/no/such/page").await;
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("application/openmetrics-text"));
        let text = response.text().await.expect("text");
        assert!(
            text.contains(r#"errorwatch_http_requests_total{method="GET",route="/health/live",status="200"} 3"#),
            "{text}"
        );
        assert!(text.contains("errorwatch_http_request_duration_seconds_bucket"), "{text}");
        assert!(!text.contains("/no/such/page"), "raw paths must not become labels");
        assert!(
            text.contains(r#"errorwatch_job_queue{job="self_test",status="Done"} 1"#),
            "queue depth is exported: {text}"
        );
    }
);

db_test!(
    async fn graphql_reports_server_info(backend) {
        let app = TestApp::spawn(backend).await;
        let response = app
            .client
            .post(app.url("/graphql"))
            .json(&serde_json::json!({"query": "{ serverInfo { version database billingEnabled } }"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("json");
        let expected = match backend {
            crate::harness::Backend::Sqlite => "sqlite",
            crate::harness::Backend::Postgres => "postgres",
        };
        assert_eq!(body["data"]["serverInfo"]["database"], expected, "{body}");
        // Self-hosted, without a Stripe key.
        assert_eq!(body["data"]["serverInfo"]["billingEnabled"], false, "{body}");
        let explorer = app.get("/graphql").await;
        assert_eq!(explorer.status(), 200);
        assert!(explorer.text().await.expect("text").contains("graphiql"), "GET serves GraphiQL");
    }
);

db_test!(
    async fn dashboard_files_are_served_with_deep_link_fallback(backend) {
        let dist = tempfile::tempdir().expect("temp dir");
        std::fs::write(dist.path().join("index.html"), "<!doctype html><title>ErrorWatch</title><div id=app></div>").expect("write");
        std::fs::write(dist.path().join("app.js"), "console.log('errorwatch')").expect("write");
        let dir = dist.path().display().to_string();
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_FRONTEND_DIR", &dir)]).await;
        let index = app.get("/").await;
        assert_eq!(index.status(), 200);
        assert!(index.text().await.expect("text").contains("<title>ErrorWatch</title>"));
        let script = app.get("/app.js").await;
        assert_eq!(script.status(), 200);
        assert!(script.headers()["content-type"].to_str().expect("ascii").contains("javascript"));
        let deep = app.get("/acme/issues/42").await;
        assert_eq!(deep.status(), 200);
        assert!(deep.text().await.expect("text").contains("<div id=app>"), "deep links load the app");
    }
);

db_test!(
    async fn without_a_built_dashboard_the_root_says_how_to_build_it(backend) {
        let app = TestApp::spawn(backend).await;
        let root = app.get("/").await;
        assert_eq!(root.status(), 200);
        assert!(root.text().await.expect("text").contains("infra/build-frontend.sh"));
    }
);

db_test!(
    async fn a_public_url_with_a_path_mounts_everything_under_it(backend) {
        let app = TestApp::spawn_with(backend, &[("ERRORWATCH_PUBLIC_URL", "https://errors.example.com/tracker")]).await;
        assert_eq!(app.get("/tracker/health/ready").await.status(), 200);
        assert_eq!(app.get("/health/live").await.status(), 200, "load balancers probe the root");
    }
);
