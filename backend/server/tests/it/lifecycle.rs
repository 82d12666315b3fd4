//! The issue lifecycle through core's services, with events sent over HTTP like an SDK:
//! resolution (now, in a release, in the next release), regressions, ignore conditions,
//! reopening, the activity log, and tenancy.

use errorwatch_core::Error;
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::issue::{self, IgnoreCondition, StatusChange};
use errorwatch_core::service::project;

use crate::harness::{TestApp, db_test};
use crate::ingest::{create_project, other_account_scope, post_raw};
use errorwatch_core::ids::{IssueId, ProjectId};

struct Setup {
    app: TestApp,
    scope: AccountScope,
    project_id: i64,
    key: String,
}

async fn setup(backend: crate::harness::Backend) -> Setup {
    let app = TestApp::spawn(backend).await;
    let target = create_project(&app, "Acme").await;
    Setup {
        project_id: target.project_id,
        key: target.key,
        scope: target.scope,
        app,
    }
}

impl Setup {
    /// Sends one exception event (always the same bug) and digests it; returns the issue id.
    async fn send(&self, release: &str, user: &str) -> i64 {
        self.send_typed("KeyError", release, user).await;
        let issues = issue::list_issues(&self.scope, ProjectId(self.project_id))
            .await
            .expect("list");
        assert_eq!(issues.len(), 1, "one bug, one issue");
        issues[0].id.into()
    }

    /// Sends one exception event of type `ty` and digests it.
    async fn send_typed(&self, ty: &str, release: &str, user: &str) {
        let event = serde_json::json!({
            "release": release,
            "user": {"id": user},
            "exception": {"values": [{"type": ty, "value": "'discount'",
                "stacktrace": {"frames": [{"module": "shop.cart", "function": "apply", "in_app": true}]}}]}
        });
        let body = format!("{{}}\n{{\"type\":\"event\"}}\n{event}\n");
        let (status, detail, _) = post_raw(
            &self.app,
            &format!("/api/{}/envelope/?sentry_key={}", self.project_id, self.key),
            &[],
            body.into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{detail:?}");
        self.app.run_pending_jobs().await;
    }

    async fn state(&self, id: i64) -> (String, Option<String>) {
        let issue = issue::get_issue(&self.scope, IssueId(id))
            .await
            .expect("issue");
        (
            issue.status.as_str().to_owned(),
            issue.substatus.map(|s| s.as_str().to_owned()),
        )
    }

    async fn activity(&self, id: i64) -> Vec<String> {
        issue::list_activity(&self.scope, IssueId(id))
            .await
            .expect("activity")
            .into_iter()
            .map(|a| a.kind)
            .collect()
    }
}

fn state(status: &str, substatus: Option<&str>) -> (String, Option<String>) {
    (status.to_owned(), substatus.map(str::to_owned))
}

db_test!(
    async fn a_resolved_issue_regresses_on_a_new_event(backend) {
        let s = setup(backend).await;
        let id = s.send("shop@1.0", "u1").await;
        let resolved = issue::change_status(&s.scope, IssueId(id), StatusChange::Resolve).await.expect("resolve");
        assert_eq!(resolved.status.as_str(), "resolved");
        s.send("shop@1.0", "u1").await;
        assert_eq!(s.state(id).await, state("unresolved", Some("regressed")));
        assert_eq!(s.activity(id).await, ["resolved", "regression"]);
        let activity = issue::list_activity(&s.scope, IssueId(id)).await.expect("activity");
        assert!(activity[0].actor.starts_with("user:"), "{:?}", activity[0]);
        assert_eq!(activity[1].actor, "system:digest");
        let issue = issue::get_issue(&s.scope, IssueId(id)).await.expect("issue");
        assert_eq!(issue.times_seen, 2);
        assert_eq!(issue.users_seen, 1);
    }
);

db_test!(
    async fn resolution_in_a_release_is_release_aware(backend) {
        let s = setup(backend).await;
        let id = s.send("shop@1.1", "u1").await;
        issue::change_status(&s.scope, IssueId(id), StatusChange::ResolveInRelease("shop@1.2".to_owned())).await.expect("resolve");
        s.send("shop@1.1", "u2").await;
        assert_eq!(s.state(id).await, state("resolved", None), "an old release is no regression");
        s.send("shop@1.3", "u3").await;
        assert_eq!(s.state(id).await, state("unresolved", Some("regressed")));
        assert_eq!(issue::get_issue(&s.scope, IssueId(id)).await.expect("issue").users_seen, 3);
    }
);

db_test!(
    async fn resolution_in_the_next_release(backend) {
        let s = setup(backend).await;
        let id = s.send("shop@2.0", "u1").await;
        let resolved = issue::change_status(&s.scope, IssueId(id), StatusChange::ResolveInNextRelease).await.expect("resolve");
        assert_eq!(resolved.resolution_release.as_deref(), Some("shop@2.0"));
        s.send("shop@2.0", "u1").await;
        assert_eq!(s.state(id).await, state("resolved", None), "the current release is still broken, as known");
        s.send("shop@2.1", "u1").await;
        assert_eq!(s.state(id).await, state("unresolved", Some("regressed")));
    }
);

db_test!(
    async fn ignore_conditions_run_out(backend) {
        let s = setup(backend).await;
        let id = s.send("shop@1.0", "u1").await;
        issue::change_status(&s.scope, IssueId(id), StatusChange::Ignore(IgnoreCondition::MoreEvents(2))).await.expect("ignore");
        s.send("shop@1.0", "u1").await;
        assert_eq!(s.state(id).await, state("ignored", None));
        s.send("shop@1.0", "u1").await;
        assert_eq!(s.state(id).await, state("unresolved", Some("escalating")));

        issue::change_status(&s.scope, IssueId(id), StatusChange::Ignore(IgnoreCondition::MoreUsers(1))).await.expect("ignore");
        s.send("shop@1.0", "u1").await;
        assert_eq!(s.state(id).await, state("ignored", None), "a known user does not count");
        s.send("shop@1.0", "u9").await;
        assert_eq!(s.state(id).await, state("unresolved", Some("escalating")));

        issue::change_status(&s.scope, IssueId(id), StatusChange::Ignore(IgnoreCondition::Forever)).await.expect("ignore");
        for user in ["a", "b", "c"] {
            s.send("shop@1.0", user).await;
        }
        assert_eq!(s.state(id).await, state("ignored", None));
        let past = chrono::Utc::now() - chrono::Duration::minutes(1);
        assert!(matches!(
            issue::change_status(&s.scope, IssueId(id), StatusChange::Ignore(IgnoreCondition::Until(past))).await,
            Err(Error::Validation { .. })
        ));
        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        issue::change_status(&s.scope, IssueId(id), StatusChange::Ignore(IgnoreCondition::Until(until))).await.expect("ignore");
        s.send("shop@1.0", "u1").await;
        assert_eq!(s.state(id).await, state("ignored", None), "still before the time");
        let reopened = issue::change_status(&s.scope, IssueId(id), StatusChange::Reopen).await.expect("reopen");
        assert_eq!(reopened.status.as_str(), "unresolved");
        assert_eq!(
            s.activity(id).await,
            ["ignored", "unignored", "ignored", "unignored", "ignored", "ignored", "reopened"]
        );
    }
);

db_test!(
    async fn other_accounts_cannot_see_or_change_an_issue(backend) {
        let s = setup(backend).await;
        let id = s.send("shop@1.0", "u1").await;
        let other_scope = other_account_scope(&s.app).await;
        assert!(matches!(issue::get_issue(&other_scope, IssueId(id)).await, Err(Error::NotFound)));
        assert!(matches!(issue::change_status(&other_scope, IssueId(id), StatusChange::Resolve).await, Err(Error::NotFound)));
        assert!(matches!(issue::list_activity(&other_scope, IssueId(id)).await, Err(Error::NotFound)));
        assert!(issue::list_issues(&other_scope, ProjectId(s.project_id)).await.expect("list").is_empty());
        assert_eq!(s.state(id).await, state("unresolved", None));
    }
);

db_test!(
    async fn merged_issues_share_events_counters_and_future_events(backend) {
        let s = setup(backend).await;
        for user in ["u1", "u2", "u1"] {
            s.send_typed("KeyError", "shop@1.0", user).await;
        }
        for user in ["u2", "u3"] {
            s.send_typed("IndexError", "shop@1.1", user).await;
        }
        let issues = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("list");
        assert_eq!(issues.len(), 2);
        let key_error = issues.iter().find(|i| i.title.starts_with("KeyError")).expect("KeyError issue").id;
        let index_error = issues.iter().find(|i| i.title.starts_with("IndexError")).expect("IndexError issue").id;

        let other_scope = other_account_scope(&s.app).await;
        assert!(matches!(issue::merge_issues(&other_scope, key_error, &[index_error]).await, Err(Error::NotFound)));
        assert!(matches!(issue::merge_issues(&s.scope, key_error, &[key_error]).await, Err(Error::Validation { .. })));

        let merged = issue::merge_issues(&s.scope, key_error, &[index_error]).await.expect("merge");
        assert_eq!(merged.times_seen, 5);
        assert_eq!(merged.users_seen, 3);
        assert_eq!(merged.first_release.as_deref(), Some("shop@1.0"));
        assert_eq!(merged.last_release.as_deref(), Some("shop@1.1"));
        assert!(matches!(issue::get_issue(&s.scope, index_error).await, Err(Error::NotFound)), "the source is gone");
        assert_eq!(issue::list_fingerprints(&s.scope, key_error).await.expect("fingerprints").len(), 2);
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events").await, 5);
        assert_eq!(s.app.scalar("SELECT COUNT(DISTINCT issue_id) FROM events").await, 1);
        assert_eq!(s.app.scalar("SELECT CAST(SUM(times_seen) AS BIGINT) FROM issue_stats_hourly").await, 5);
        assert_eq!(s.activity(key_error.into()).await, ["merged"]);

        // A new event of the merged-in fingerprint lands in the target.
        s.send_typed("IndexError", "shop@1.2", "u4").await;
        let after = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("list");
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].times_seen, 6);
        assert_eq!(after[0].users_seen, 4);
    }
);

db_test!(
    async fn eviction_keeps_first_and_latest_events_and_the_counters(backend) {
        use errorwatch_core::digest::retention::EvictEvents;

        let s = setup(backend).await;
        for user in ["u1", "u2", "u3", "u4", "u5", "u6"] {
            s.send_typed("KeyError", "shop@1.0", user).await;
        }
        for user in ["u1", "u2", "u3"] {
            s.send_typed("IndexError", "shop@1.0", user).await;
        }
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events").await, 9);
        // Cap at 5 events: the oldest non-first, non-latest events go.
        s.app.queue.enqueue(&EvictEvents { max_age_days: 3650, max_events_per_project: 5, default_plan: None }).await.expect("enqueue");
        s.app.run_pending_jobs().await;
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events").await, 5);
        // Age 0: everything but the first and latest of each issue goes.
        s.app.queue.enqueue(&EvictEvents { max_age_days: 0, max_events_per_project: 1000, default_plan: None }).await.expect("enqueue");
        s.app.run_pending_jobs().await;
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events").await, 4, "first and latest of two issues");
        for issue in issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("list") {
            let expected = if issue.title.starts_with("KeyError") { (6, 6) } else { (3, 3) };
            assert_eq!((issue.times_seen, issue.users_seen), expected, "counters survive: {}", issue.title);
        }
        assert_eq!(s.app.scalar("SELECT CAST(SUM(times_seen) AS BIGINT) FROM issue_stats_hourly").await, 9);
    }
);

/// Sends a `KeyError` event with a 12-byte `text/plain` attachment called `filename` in one
/// envelope (or only the attachment when `with_event` is false), and digests it.
async fn send_with_attachment(
    app: &TestApp,
    project_id: i64,
    key: &str,
    user: &str,
    filename: &str,
    with_event: bool,
) {
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let event = serde_json::json!({
        "user": {"id": user},
        "exception": {"values": [{"type": "KeyError", "value": "'discount'",
            "stacktrace": {"frames": [{"module": "shop.cart", "function": "apply", "in_app": true}]}}]}
    });
    let event_item = if with_event {
        format!("{{\"type\":\"event\"}}\n{event}\n")
    } else {
        String::new()
    };
    let data = format!("report {user:>4}\n");
    assert_eq!(data.len(), ATTACHMENT_BYTES as usize);
    let body = format!(
        "{{\"event_id\":\"{event_id}\"}}\n{event_item}\
         {{\"type\":\"attachment\",\"length\":{},\"filename\":\"{filename}\",\"content_type\":\"text/plain\"}}\n{data}\n",
        data.len()
    );
    let (status, detail, _) = post_raw(
        app,
        &format!("/api/{project_id}/envelope/?sentry_key={key}"),
        &[],
        body.into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{detail:?}");
    app.run_pending_jobs().await;
}

const ATTACHMENT_BYTES: i64 = 12;

db_test!(
    async fn eviction_deletes_the_attachments_of_evicted_events(backend) {
        use errorwatch_core::digest::retention::EvictEvents;

        const ATTACHMENTS: &str = "SELECT COUNT(*) FROM attachments";
        const ATTACHMENT_BYTES_USED: &str = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments";
        const WITHOUT_EVENT: &str = "SELECT COUNT(*) FROM attachments WHERE NOT EXISTS (SELECT 1 FROM events \
             WHERE events.project_id = attachments.project_id AND events.event_id = attachments.event_id)";
        let s = setup(backend).await;
        for user in ["u1", "u2", "u3", "u4", "u5", "u6"] {
            send_with_attachment(&s.app, s.project_id, &s.key, user, "report.txt", true).await;
        }
        // Another project's event with its attachment, and an attachment whose event never came.
        let other = create_project(&s.app, "Globex").await;
        send_with_attachment(&s.app, other.project_id, &other.key, "x1", "other.txt", true).await;
        send_with_attachment(&s.app, s.project_id, &s.key, "u7", "orphan.txt", false).await;
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events").await, 7);
        assert_eq!(s.app.scalar(ATTACHMENTS).await, 8);
        assert_eq!(s.app.scalar(WITHOUT_EVENT).await, 1);

        // Cap at 4 events per project: Acme's 2 oldest non-first, non-latest events go, with
        // their attachments; the young attachment without an event stays (its event may come).
        s.app.queue.enqueue(&EvictEvents { max_age_days: 3650, max_events_per_project: 4, default_plan: None }).await.expect("enqueue");
        s.app.run_pending_jobs().await;
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events").await, 5);
        assert_eq!(s.app.scalar(ATTACHMENTS).await, 6);
        assert_eq!(s.app.scalar(WITHOUT_EVENT).await, 1);
        assert_eq!(s.app.scalar(ATTACHMENT_BYTES_USED).await, 6 * ATTACHMENT_BYTES);

        // Age 0: the first and latest event of each issue stay with their attachments; the
        // attachment without an event is past the age and goes too.
        s.app.queue.enqueue(&EvictEvents { max_age_days: 0, max_events_per_project: 1000, default_plan: None }).await.expect("enqueue");
        s.app.run_pending_jobs().await;
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events").await, 3);
        assert_eq!(s.app.scalar(ATTACHMENTS).await, 3, "one per kept event");
        assert_eq!(s.app.scalar(WITHOUT_EVENT).await, 0);
        assert_eq!(s.app.scalar(ATTACHMENT_BYTES_USED).await, 3 * ATTACHMENT_BYTES);
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM attachments WHERE filename = 'other.txt'").await, 1);
        let issues = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("list");
        assert_eq!((issues.len(), issues[0].times_seen), (1, 6), "counters survive");

        // Running it again changes nothing.
        s.app.queue.enqueue(&EvictEvents { max_age_days: 0, max_events_per_project: 1000, default_plan: None }).await.expect("enqueue");
        s.app.run_pending_jobs().await;
        assert_eq!(s.app.scalar(ATTACHMENTS).await, 3);
    }
);

db_test!(
    async fn an_issue_grouped_by_the_previous_version_keeps_its_events(backend) {
        use errorwatch_core::digest::normalize::{NormalizeContext, normalize_event};
        use errorwatch_core::grouping::{GROUPING_VERSION, group_event_v1};

        let s = setup(backend).await;
        let id = s.send("shop@1.0", "u1").await;
        // Pretend the issue was created by grouping version 1: only its v1 hash maps to it.
        let raw = serde_json::json!({
            "release": "shop@1.0",
            "user": {"id": "u1"},
            "exception": {"values": [{"type": "KeyError", "value": "'discount'",
                "stacktrace": {"frames": [{"module": "shop.cart", "function": "apply", "in_app": true}]}}]}
        });
        let ctx = NormalizeContext { envelope_event_id: None, received_at: chrono::Utc::now(), sent_at: None, client_ip: None };
        let v1 = group_event_v1(&normalize_event(raw, &ctx).expect("normalizes").payload);
        assert_eq!(v1.version, 1);
        const { assert!(GROUPING_VERSION > 1) };
        let sql = format!("UPDATE issue_fingerprints SET hash = '{}', grouping_version = 1", v1.hash);
        match s.app.db.pool() {
            errorwatch_core::db::Pool::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
            errorwatch_core::db::Pool::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        }
        .expect("update");

        let again = s.send("shop@1.0", "u2").await;
        assert_eq!(again, id, "the new version's hash found the old issue");
        assert_eq!(issue::get_issue(&s.scope, IssueId(id)).await.expect("issue").times_seen, 2);
        assert_eq!(issue::list_fingerprints(&s.scope, IssueId(id)).await.expect("fingerprints").len(), 2, "old and new hash");
    }
);

db_test!(
    async fn unmerge_splits_a_fingerprint_back_out_with_its_events(backend) {
        let s = setup(backend).await;
        for user in ["u1", "u2", "u1"] {
            s.send_typed("KeyError", "shop@1.0", user).await;
        }
        for user in ["u2", "u3"] {
            s.send_typed("IndexError", "shop@1.1", user).await;
        }
        let issues = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("list");
        let key_error = issues.iter().find(|i| i.title.starts_with("KeyError")).expect("issue").id;
        let index_error = issues.iter().find(|i| i.title.starts_with("IndexError")).expect("issue").id;
        let index_hash = issue::list_fingerprints(&s.scope, index_error).await.expect("fingerprints").remove(0);
        assert!(matches!(
            issue::unmerge_fingerprint(&s.scope, index_error, &index_hash).await,
            Err(Error::Validation { .. })
        ), "a single fingerprint cannot be split off");

        issue::merge_issues(&s.scope, key_error, &[index_error]).await.expect("merge");
        let details = issue::list_fingerprint_details(&s.scope, key_error).await.expect("details");
        let described: Vec<(Option<&str>, i64)> = details.iter().map(|d| (d.title.as_deref(), d.event_count)).collect();
        assert_eq!(described, [(Some("KeyError: 'discount'"), 3), (Some("IndexError: 'discount'"), 2)]);
        assert!(details.iter().all(|d| d.first_event.is_some()));
        let other_scope = other_account_scope(&s.app).await;
        assert!(matches!(issue::list_fingerprint_details(&other_scope, key_error).await, Err(Error::NotFound)));
        let split = issue::unmerge_fingerprint(&s.scope, key_error, &index_hash).await.expect("unmerge");
        assert!(split.title.starts_with("IndexError"), "{}", split.title);
        assert_eq!((split.times_seen, split.users_seen), (2, 2));
        assert_eq!(split.first_release.as_deref(), Some("shop@1.1"));
        let original = issue::get_issue(&s.scope, key_error).await.expect("issue");
        assert_eq!((original.times_seen, original.users_seen), (3, 2));
        assert_eq!(issue::list_fingerprints(&s.scope, key_error).await.expect("fingerprints").len(), 1);
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM events WHERE issue_id = (SELECT MAX(id) FROM issues)").await, 2);
        assert_eq!(s.app.scalar("SELECT CAST(SUM(times_seen) AS BIGINT) FROM issue_stats_hourly").await, 5);
        assert_eq!(s.activity(key_error.into()).await, ["merged", "unmerged"]);

        // Later events of the split fingerprint follow it.
        s.send_typed("IndexError", "shop@1.2", "u9").await;
        assert_eq!(issue::get_issue(&s.scope, split.id).await.expect("issue").times_seen, 3);
        assert_eq!(issue::get_issue(&s.scope, key_error).await.expect("issue").times_seen, 3);
    }
);

db_test!(
    async fn project_fingerprint_rules_group_and_title_issues(backend) {
        use errorwatch_core::ids::ProjectId;

        let s = setup(backend).await;
        let project = ProjectId(s.project_id);
        assert!(matches!(
            project::set_fingerprint_rules(&s.scope, project, "error.type:KeyError no arrow").await,
            Err(Error::Validation { .. })
        ));
        project::set_fingerprint_rules(&s.scope, project, "# all lookup failures are one issue\nerror.type:\"*Error\" -> lookup-failures title=\"Lookup failures\"\n")
            .await
            .expect("rules");
        assert!(project::fingerprint_rules(&s.scope, project).await.expect("rules").contains("lookup-failures"));
        s.send_typed("KeyError", "shop@1.0", "u1").await;
        s.send_typed("IndexError", "shop@1.0", "u2").await;
        let issues = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("list");
        assert_eq!(issues.len(), 1, "the rule groups both types");
        assert_eq!(issues[0].title, "Lookup failures");
        assert_eq!(issues[0].grouping_components["kind"], "rule", "{}", issues[0].grouping_components);

        let other_scope = other_account_scope(&s.app).await;
        assert!(matches!(project::set_fingerprint_rules(&other_scope, project, "").await, Err(Error::NotFound)));
        assert!(matches!(project::fingerprint_rules(&other_scope, project).await, Err(Error::NotFound)));
    }
);

db_test!(
    async fn tag_facets_and_hourly_counts(backend) {
        let s = setup(backend).await;
        for (release, user) in [("shop@1.0", "u1"), ("shop@1.0", "u2"), ("shop@1.1", "u1")] {
            s.send_typed("KeyError", release, user).await;
        }
        let id = issue::list_issues(&s.scope, ProjectId(s.project_id)).await.expect("list")[0].id;
        let facets = issue::tag_facets(&s.scope, id, 1).await.expect("facets");
        let release = facets.iter().find(|f| f.key == "release").expect("release facet");
        assert_eq!(release.distinct_values, 2);
        assert_eq!(release.top, [("shop@1.0".to_owned(), 2)]);
        let environment = facets.iter().find(|f| f.key == "environment").expect("environments seen");
        assert_eq!(environment.top, [("production".to_owned(), 3)]);
        let now = chrono::Utc::now();
        let hours = issue::hourly_counts(&s.scope, id, now - chrono::Duration::hours(23), now + chrono::Duration::hours(1))
            .await
            .expect("hours");
        assert_eq!(hours.len(), 24);
        assert_eq!(hours.iter().map(|(_, n)| n).sum::<i64>(), 3);
        let other_scope = other_account_scope(&s.app).await;
        assert!(matches!(issue::tag_facets(&other_scope, id, 5).await, Err(Error::NotFound)));
        assert!(matches!(issue::hourly_counts(&other_scope, id, now, now).await, Err(Error::NotFound)));
    }
);

db_test!(
    async fn releases_are_rows_from_events_and_order_resolution_in_the_next_release(backend) {
        use errorwatch_core::service::releases;
        let s = setup(backend).await;
        let project = [ProjectId(s.project_id)];
        // Git-sha releases: no version order, only the release rows' order.
        let id = s.send("a1b2c3d", "u1").await;
        s.send("a1b2c3d", "u2").await;
        let row = &releases::get(&s.scope, Some(&project), "a1b2c3d").await.expect("created by its first event")[0];
        assert_eq!((row.event_count, row.new_issues, row.regressions), (2, 1, 0));
        assert!(row.first_event.is_some() && row.first_event <= row.last_event, "{row:?}");

        // A release created later (by the API) is the project's newest.
        releases::upsert(&s.scope, &project, "e4f5a6b", &releases::ReleaseFields::default()).await.expect("releases new");
        let resolved = issue::change_status(&s.scope, IssueId(id), StatusChange::ResolveInNextRelease).await.expect("resolve");
        assert_eq!(resolved.resolution_release.as_deref(), Some("e4f5a6b"), "the project's newest release, not the issue's last");
        s.send("a1b2c3d", "u1").await;
        s.send("e4f5a6b", "u1").await;
        assert_eq!(s.state(id).await, state("resolved", None), "releases created before or as the newest are old news");
        s.send("0ff1ce0", "u3").await;
        assert_eq!(s.state(id).await, state("unresolved", Some("regressed")), "a release created after it regresses");

        let newer = &releases::get(&s.scope, Some(&project), "0ff1ce0").await.expect("row")[0];
        assert_eq!((newer.event_count, newer.new_issues, newer.regressions), (1, 0, 1));
        let older = &releases::get(&s.scope, Some(&project), "a1b2c3d").await.expect("row")[0];
        assert_eq!((older.event_count, older.new_issues, older.regressions), (3, 1, 0));
        assert_eq!(
            s.app.scalar("SELECT COUNT(*) FROM release_issues WHERE kind = 'regression'").await,
            1
        );
        assert_eq!(
            s.app.scalar("SELECT CAST(SUM(event_count) AS BIGINT) FROM release_environments").await,
            5,
            "every event with a release counts in its environment"
        );
        // An event naming no acceptable release makes no row.
        s.send("latest", "u1").await;
        assert!(releases::get(&s.scope, Some(&project), "latest").await.is_err());
        let other_scope = other_account_scope(&s.app).await;
        assert!(releases::get(&other_scope, Some(&project), "a1b2c3d").await.is_err());

        // Retention: a release idle for the event retention plus 90 days goes, with its
        // environments and issue links; the others stay.
        use errorwatch_core::digest::retention::EvictEvents;
        s.app.execute("UPDATE releases SET date_created = '2020-01-01 00:00:00+00:00', last_event = '2020-01-02 00:00:00+00:00' WHERE version = 'a1b2c3d'").await;
        s.app.queue.enqueue(&EvictEvents { max_age_days: 30, max_events_per_project: 1000, default_plan: None }).await.expect("enqueue");
        s.app.run_pending_jobs().await;
        assert!(releases::get(&s.scope, Some(&project), "a1b2c3d").await.is_err(), "idle since 2020");
        assert!(releases::get(&s.scope, Some(&project), "0ff1ce0").await.is_ok());
        assert_eq!(s.app.scalar("SELECT COUNT(*) FROM release_issues WHERE kind = 'new'").await, 0, "went with its release");
    }
);
