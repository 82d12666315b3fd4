//! The job layer on both databases: jobs run once, retries back off and then succeed, jobs
//! failing every attempt end as dead letters, and duplicate deliveries change nothing.

use errorwatch_core::jobs::selftest::{SelfTest, count_processed};

use crate::harness::{TestApp, db_test};

fn batch(name: &str, count: u32, fail_first: u32) -> Vec<SelfTest> {
    (0..count)
        .map(|i| SelfTest {
            batch: name.to_owned(),
            token: format!("{name}-{i}"),
            work_ms: 0,
            fail_first,
        })
        .collect()
}

async fn metric(app: &TestApp, needle: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.expect("text");
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

db_test!(
    async fn enqueued_jobs_are_run_by_the_workers(backend) {
        let app = TestApp::spawn(backend).await;
        app.queue.enqueue_many(&batch("plain", 25, 0)).await.expect("enqueue");
        app.run_pending_jobs().await;
        assert_eq!(count_processed(&app.db, "plain").await.expect("count"), 25);
        assert_eq!(metric(&app, r#"errorwatch_jobs_total{job="self_test",outcome="succeeded"}"#).await, 25);
        assert_eq!(metric(&app, r#"errorwatch_jobs_total{job="self_test",outcome="enqueued"}"#).await, 25);
    }
);

db_test!(
    async fn failing_jobs_are_retried_with_backoff_until_they_succeed(backend) {
        let app = TestApp::spawn(backend).await;
        app.queue.enqueue_many(&batch("flaky", 3, 2)).await.expect("enqueue");
        app.run_pending_jobs().await;
        assert_eq!(count_processed(&app.db, "flaky").await.expect("count"), 3);
        assert_eq!(metric(&app, r#"errorwatch_jobs_total{job="self_test",outcome="retried"}"#).await, 6);
        assert_eq!(metric(&app, r#"errorwatch_jobs_total{job="self_test",outcome="succeeded"}"#).await, 3);
    }
);

db_test!(
    async fn jobs_failing_every_attempt_become_dead_letters(backend) {
        let app = TestApp::spawn(backend).await;
        app.queue.enqueue_many(&batch("doomed", 1, 99)).await.expect("enqueue");
        app.run_pending_jobs().await;
        assert_eq!(count_processed(&app.db, "doomed").await.expect("count"), 0);
        assert_eq!(metric(&app, r#"errorwatch_jobs_total{job="self_test",outcome="retried"}"#).await, 4);
        assert_eq!(metric(&app, r#"errorwatch_jobs_total{job="self_test",outcome="failed"}"#).await, 1);
        let stats = app.queue.stats().await.expect("stats");
        let failed: i64 = stats.iter().filter(|s| s.job == "self_test" && s.status == "Failed").map(|s| s.count).sum();
        assert_eq!(failed, 1, "exactly one dead letter: {stats:?}");
    }
);

db_test!(
    async fn running_a_job_twice_changes_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let jobs = batch("twice", 5, 0);
        app.queue.enqueue_many(&jobs).await.expect("enqueue");
        app.queue.enqueue_many(&jobs).await.expect("enqueue again");
        app.run_pending_jobs().await;
        assert_eq!(count_processed(&app.db, "twice").await.expect("count"), 5);
        assert_eq!(metric(&app, r#"errorwatch_jobs_total{job="self_test",outcome="succeeded"}"#).await, 10);
    }
);

db_test!(
    async fn finished_jobs_are_pruned_after_their_retention(backend) {
        let app = TestApp::spawn(backend).await;
        app.queue.enqueue_many(&batch("prune", 4, 0)).await.expect("enqueue");
        app.run_pending_jobs().await;
        let removed_now = app
            .queue
            .prune(std::time::Duration::from_secs(3600), std::time::Duration::from_secs(3600))
            .await
            .expect("prune");
        assert_eq!(removed_now, 0, "fresh tasks are kept");
        // done_at has one-second resolution on SQLite: wait past it, then prune with zero age.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let removed = app
            .queue
            .prune(std::time::Duration::ZERO, std::time::Duration::ZERO)
            .await
            .expect("prune");
        assert!(removed >= 4, "removed {removed}");
        assert_eq!(count_processed(&app.db, "prune").await.expect("count"), 4, "results stay");
    }
);
