//! The issue API through `/graphql`: lists with Sentry's search syntax, sorts and cursors, one
//! issue with counts, facets, event counts, grouping and activity, events with their payload,
//! the lookup by event id, and the lifecycle actions — with events sent over HTTP like an SDK.

use serde_json::{Value, json};

use crate::harness::gql::{Gql, user_with_account};
use crate::harness::{TestApp, db_test};

/// Sends one event to the store endpoint; returns its event id.
async fn send(app: &TestApp, project: i64, key: &str, event: Value) -> String {
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let mut event = event;
    event["event_id"] = json!(event_id);
    let response = app
        .client
        .post(app.url(&format!("/api/{project}/store/?sentry_key={key}")))
        .json(&event)
        .send()
        .await
        .expect("store");
    assert_eq!(response.status().as_u16(), 200);
    event_id
}

/// A signed-in owner with an account and a project (and its DSN key).
pub struct Shop {
    pub browser: Gql,
    pub account: String,
    pub project: String,
    pub number: i64,
    pub key: String,
}

/// Signs up ada@example.com with the account Acme and its project Shop.
pub async fn shop(app: &TestApp) -> Shop {
    let (browser, account) = user_with_account(app, "ada@example.com", "Acme").await;
    let created = browser
        .ok(
            "mutation($a: ID!) { createProject(accountId: $a, name: \"Shop\") { id keys { publicKey } } }",
            json!({"a": account}),
        )
        .await;
    let project = created["createProject"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    Shop {
        number: project.trim_start_matches("prj_").parse().expect("number"),
        key: created["createProject"]["keys"][0]["publicKey"]
            .as_str()
            .expect("key")
            .to_owned(),
        browser,
        account,
        project,
    }
}

const LIST: &str = "query($p: ID!, $q: String, $s: IssueSort, $f: Int, $a: String) {
  project(id: $p) { issues(query: $q, sort: $s, first: $f, after: $a) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id title count userCount level status } } } } }";

async fn titles(shop: &Shop, query: &str) -> Vec<String> {
    let data = shop
        .browser
        .ok(LIST, json!({"p": shop.project, "q": query}))
        .await;
    data["project"]["issues"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["title"].as_str().expect("title").to_owned())
        .collect()
}

async fn seed(app: &TestApp, shop: &Shop) {
    let (p, k) = (shop.number, shop.key.as_str());
    for (i, email) in ["a@x.io", "b@x.io", "c@x.io"].iter().enumerate() {
        send(
            app,
            p,
            k,
            json!({"message": "Payment declined", "level": "error", "environment": "production",
            "release": "shop@1.2", "user": {"email": email}, "tags": {"browser": "Firefox"},
            "timestamp": chrono::Utc::now().timestamp() - 3600 * i as i64}),
        )
        .await;
    }
    send(
        app,
        p,
        k,
        json!({"message": "Cache miss storm", "level": "warning", "environment": "staging",
        "release": "shop@1.1", "user": {"id": "42"}, "tags": {"browser": "Chrome"}}),
    )
    .await;
    send(
        app,
        p,
        k,
        json!({"message": "Connection refused by 100% of \"upstreams\"", "level": "error",
        "environment": "production", "release": "shop@1.2"}),
    )
    .await;
    app.run_pending_jobs().await;
}

db_test!(
    async fn issues_are_listed_searched_sorted_and_paged(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;

        let all = shop.browser.ok(LIST, json!({"p": shop.project})).await;
        let issues = &all["project"]["issues"];
        assert_eq!(issues["totalCount"], 3);
        assert_eq!(issues["edges"][0]["node"]["title"], "Connection refused by 100% of \"upstreams\"", "last seen first");

        assert_eq!(titles(&shop, "level:warning").await, vec!["Cache miss storm"]);
        assert_eq!(titles(&shop, "!level:error").await, vec!["Cache miss storm"]);
        assert_eq!(titles(&shop, "environment:staging").await, vec!["Cache miss storm"]);
        assert_eq!(titles(&shop, "!env:production").await, vec!["Cache miss storm"]);
        assert_eq!(titles(&shop, "release:shop@1.1").await, vec!["Cache miss storm"]);
        assert_eq!(titles(&shop, "user.email:B@X.io").await, vec!["Payment declined"]);
        assert_eq!(titles(&shop, "user.id:42").await, vec!["Cache miss storm"]);
        assert_eq!(titles(&shop, "browser:Firefox").await, vec!["Payment declined"]);
        assert_eq!(titles(&shop, "payment").await, vec!["Payment declined"], "free text, any case");
        assert_eq!(titles(&shop, "\"100%\"").await, vec!["Connection refused by 100% of \"upstreams\""], "% is literal");
        assert_eq!(titles(&shop, "100_").await, Vec::<String>::new(), "_ is literal");
        assert_eq!(titles(&shop, "is:unresolved !payment !cache").await.len(), 1);
        assert_eq!(titles(&shop, "is:resolved").await, Vec::<String>::new());
        assert_eq!(titles(&shop, "release:\"shop@1.2\" level:error").await.len(), 2);

        // Sorts.
        let by = |sort: &'static str| {
            let browser = &shop.browser;
            let project = shop.project.clone();
            async move {
                browser.ok(LIST, json!({"p": project, "s": sort})).await["project"]["issues"]["edges"]
                    .as_array()
                    .expect("edges")
                    .iter()
                    .map(|e| e["node"]["title"].as_str().expect("title").to_owned())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(by("EVENTS").await[0], "Payment declined");
        assert_eq!(by("USERS").await[0], "Payment declined");
        assert_eq!(by("FIRST_SEEN").await.len(), 3);

        // Cursors walk every issue once, in order, for each sort.
        for sort in ["LAST_SEEN", "FIRST_SEEN", "EVENTS", "USERS"] {
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = shop.browser.ok(LIST, json!({"p": shop.project, "s": sort, "f": 1, "a": after})).await;
                let issues = &page["project"]["issues"];
                seen.push(issues["edges"][0]["node"]["title"].as_str().expect("title").to_owned());
                if issues["pageInfo"]["hasNextPage"] == false {
                    break;
                }
                after = Some(issues["pageInfo"]["endCursor"].as_str().expect("cursor").to_owned());
            }
            assert_eq!(seen, by(sort).await, "{sort}");
        }

        // Bad input.
        assert_eq!(shop.browser.err(LIST, json!({"p": shop.project, "q": "is:sleeping"})).await, "VALIDATION");
        assert_eq!(shop.browser.err(LIST, json!({"p": shop.project, "a": "nonsense"})).await, "VALIDATION");
        assert_eq!(shop.browser.err(LIST, json!({"p": shop.project, "f": 101})).await, "VALIDATION");

        // Across the account's projects.
        let other = shop
            .browser
            .ok("mutation($a: ID!) { createProject(accountId: $a, name: \"Api\") { id keys { publicKey } } }", json!({"a": shop.account}))
            .await;
        let number: i64 = other["createProject"]["id"].as_str().expect("id").trim_start_matches("prj_").parse().expect("n");
        send(&app, number, other["createProject"]["keys"][0]["publicKey"].as_str().expect("key"), json!({"message": "Api down"})).await;
        app.run_pending_jobs().await;
        let across = shop
            .browser
            .ok("query($a: ID!) { account(id: $a) { issues(query: \"\") { totalCount edges { node { title project { name } } } } } }", json!({"a": shop.account}))
            .await;
        assert_eq!(across["account"]["issues"]["totalCount"], 4);
        assert_eq!(across["account"]["issues"]["edges"][0]["node"]["project"]["name"], "Api");
    }
);

const ISSUE: &str = "query($id: ID!) { issue(id: $id) {
  id title count userCount firstRelease lastRelease status substatus
  tagFacets(limit: 2) { key distinctValues topValues { value count } }
  hours: eventCounts(interval: HOUR) { time count }
  days: eventCounts(interval: DAY) { count }
  grouping { version components fingerprints }
  activity { kind actor }
  events(first: 2) { pageInfo { hasNextPage } edges { node { eventId level release environment payload } } }
  latestEvent { eventId title }
} }";

db_test!(
    async fn an_issue_shows_its_counts_facets_events_and_grouping(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;
        let list = shop.browser.ok(LIST, json!({"p": shop.project, "q": "payment"})).await;
        let id = list["project"]["issues"]["edges"][0]["node"]["id"].clone();
        let issue = shop.browser.ok(ISSUE, json!({"id": id})).await["issue"].clone();
        assert_eq!(issue["count"], 3);
        assert_eq!(issue["userCount"], 3);
        assert_eq!(issue["lastRelease"], "shop@1.2");
        let browser = issue["tagFacets"].as_array().expect("facets").iter().find(|f| f["key"] == "browser").expect("browser").clone();
        assert_eq!(browser["topValues"], json!([{"value": "Firefox", "count": 3}]));
        let users = issue["tagFacets"].as_array().expect("facets").iter().find(|f| f["key"] == "user").expect("user").clone();
        assert_eq!(users["distinctValues"], 3);
        assert_eq!(users["topValues"].as_array().expect("top").len(), 2, "limit applies per key");
        let hours = issue["hours"].as_array().expect("hours");
        assert_eq!(hours.len(), 24);
        assert_eq!(hours.iter().map(|h| h["count"].as_i64().expect("n")).sum::<i64>(), 3);
        assert_eq!(issue["days"].as_array().expect("days").iter().map(|h| h["count"].as_i64().expect("n")).sum::<i64>(), 3);
        assert_eq!(issue["grouping"]["version"], 2);
        assert_eq!(issue["grouping"]["fingerprints"].as_array().expect("fps").len(), 1);
        assert!(issue["grouping"]["components"].to_string().contains("Payment declined"), "{}", issue["grouping"]);
        assert_eq!(issue["events"]["pageInfo"]["hasNextPage"], true);
        let event = &issue["events"]["edges"][0]["node"];
        assert_eq!(event["environment"], "production");
        assert!(event["payload"]["tags"].to_string().contains("Firefox"), "{}", event["payload"]);
        assert_eq!(issue["latestEvent"]["eventId"], event["eventId"]);

        // The lookup by the SDK's event id finds the event and its issue.
        let event_id = event["eventId"].as_str().expect("id");
        let found = shop
            .browser
            .ok(
                "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) { eventId issue { id } payload } }",
                json!({"p": shop.project, "e": event_id}),
            )
            .await;
        assert_eq!(found["event"]["issue"]["id"], id);
        assert_eq!(found["event"]["payload"]["event_id"], event_id);
        assert_eq!(
            shop.browser
                .err("query($p: ID!) { event(projectId: $p, eventId: \"0123456789abcdef0123456789abcdef\") { eventId } }", json!({"p": shop.project}))
                .await,
            "NOT_FOUND"
        );
        assert_eq!(
            shop.browser.err("query($p: ID!) { event(projectId: $p, eventId: \"nope\") { eventId } }", json!({"p": shop.project})).await,
            "VALIDATION"
        );
    }
);

db_test!(
    async fn lifecycle_actions_through_the_api(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;
        let list = shop.browser.ok(LIST, json!({"p": shop.project, "q": ""})).await;
        let ids: Vec<Value> = list["project"]["issues"]["edges"].as_array().expect("edges").iter().map(|e| e["node"]["id"].clone()).collect();
        let status = "query($id: ID!) { issue(id: $id) { status resolution resolvedInRelease activity { kind } } }";

        shop.browser.ok("mutation($id: ID!) { resolveIssue(id: $id) { status } }", json!({"id": ids[0]})).await;
        assert_eq!(titles(&shop, "is:resolved").await.len(), 1);
        shop.browser.ok("mutation($id: ID!) { reopenIssue(id: $id) { status } }", json!({"id": ids[0]})).await;
        shop.browser
            .ok("mutation($id: ID!) { resolveIssueInRelease(id: $id, release: \"shop@1.3\") { status } }", json!({"id": ids[1]}))
            .await;
        let one = shop.browser.ok(status, json!({"id": ids[1]})).await;
        assert_eq!((one["issue"]["status"].clone(), one["issue"]["resolvedInRelease"].clone()), (json!("RESOLVED"), json!("shop@1.3")));
        shop.browser.ok("mutation($id: ID!) { ignoreIssue(id: $id, moreEvents: 10) { status } }", json!({"id": ids[2]})).await;
        assert_eq!(titles(&shop, "is:ignored").await.len(), 1);
        assert_eq!(
            shop.browser.err("mutation($id: ID!) { ignoreIssue(id: $id, moreEvents: 1, moreUsers: 1) { status } }", json!({"id": ids[2]})).await,
            "VALIDATION"
        );
        let activity = shop.browser.ok(status, json!({"id": ids[0]})).await;
        let kinds: Vec<&str> = activity["issue"]["activity"].as_array().expect("activity").iter().map(|a| a["kind"].as_str().expect("kind")).collect();
        assert_eq!(kinds, vec!["resolved", "reopened"]);

        // Merge two into one, then split the fingerprint back out.
        let merged = shop
            .browser
            .ok("mutation($t: ID!, $s: [ID!]!) { mergeIssues(targetId: $t, sourceIds: $s) { count grouping { fingerprints } } }", json!({"t": ids[0], "s": [ids[1]]}))
            .await;
        let fingerprints = merged["mergeIssues"]["grouping"]["fingerprints"].as_array().expect("fps").clone();
        assert_eq!(fingerprints.len(), 2);
        assert_eq!(shop.browser.err(status, json!({"id": ids[1]})).await, "NOT_FOUND", "the source is gone");
        let split = shop
            .browser
            .ok("mutation($i: ID!, $f: String!) { unmergeFingerprint(issueId: $i, fingerprint: $f) { id count } }", json!({"i": ids[0], "f": fingerprints[1]}))
            .await;
        assert_ne!(split["unmergeFingerprint"]["id"], ids[0]);

        // A read-only token may look but not act.
        let token = shop
            .browser
            .ok("mutation($a: ID!) { createApiToken(accountId: $a, name: \"ro\", scope: READ) { secret } }", json!({"a": shop.account}))
            .await["createApiToken"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let reader = Gql::token(&app, &token);
        reader.ok(status, json!({"id": ids[0]})).await;
        assert_eq!(reader.err("mutation($id: ID!) { resolveIssue(id: $id) { status } }", json!({"id": ids[0]})).await, "FORBIDDEN");
    }
);

db_test!(
    async fn merged_fingerprints_name_their_original_issue_and_first_event(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        let (p, k) = (shop.number, shop.key.as_str());
        let mut declined = Vec::new();
        for _ in 0..3 {
            declined.push(send(&app, p, k, json!({"message": "Payment declined", "level": "error"})).await);
        }
        let storm = send(&app, p, k, json!({"message": "Cache miss storm", "level": "warning"})).await;
        app.run_pending_jobs().await;
        let list = shop.browser.ok(LIST, json!({"p": shop.project, "q": ""})).await;
        let id_of = |title: &str| {
            list["project"]["issues"]["edges"].as_array().expect("edges").iter()
                .find(|e| e["node"]["title"] == title).map(|e| e["node"]["id"].clone()).expect("issue")
        };
        let (target, source) = (id_of("Payment declined"), id_of("Cache miss storm"));
        shop.browser
            .ok("mutation($t: ID!, $s: [ID!]!) { mergeIssues(targetId: $t, sourceIds: $s) { id } }", json!({"t": target, "s": [source]}))
            .await;

        let details = "query($id: ID!) { issue(id: $id) { grouping { fingerprints \
            fingerprintDetails { hash title eventCount firstEvent { eventId timestamp } } } } }";
        let grouping = &shop.browser.ok(details, json!({"id": target})).await["issue"]["grouping"];
        let listed = grouping["fingerprintDetails"].as_array().expect("details");
        let hashes: Vec<&Value> = listed.iter().map(|d| &d["hash"]).collect();
        let fingerprints: Vec<&Value> = grouping["fingerprints"].as_array().expect("fingerprints").iter().collect();
        assert_eq!(hashes, fingerprints, "one detail per fingerprint, in the same order");
        let summary: Vec<(Value, Value, Value)> = listed
            .iter()
            .map(|d| (d["title"].clone(), d["eventCount"].clone(), d["firstEvent"]["eventId"].clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (json!("Payment declined"), json!(3), json!(declined[0])),
                (json!("Cache miss storm"), json!(1), json!(storm)),
            ]
        );
        assert!(listed[0]["firstEvent"]["timestamp"].as_str().is_some_and(|t| t.contains('T')));

        // The first event found by its id leads to the merged issue.
        let found = shop
            .browser
            .ok("query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) { issue { id } } }", json!({"p": shop.project, "e": storm}))
            .await;
        assert_eq!(found["event"]["issue"]["id"], target);

        // Another account's member gets NOT_FOUND, not the details.
        let (other, _) = user_with_account(&app, "eve@example.com", "Globex").await;
        assert_eq!(other.err(details, json!({"id": target})).await, "NOT_FOUND");

        // After the unmerge each issue lists only its own fingerprint.
        shop.browser
            .ok("mutation($i: ID!, $f: String!) { unmergeFingerprint(issueId: $i, fingerprint: $f) { id } }", json!({"i": target, "f": hashes[1]}))
            .await;
        let after = shop.browser.ok(details, json!({"id": target})).await;
        assert_eq!(after["issue"]["grouping"]["fingerprintDetails"].as_array().map(Vec::len), Some(1));
    }
);

db_test!(
    async fn an_ignored_issue_says_until_when(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;
        let list = shop.browser.ok(LIST, json!({"p": shop.project, "q": ""})).await;
        let id = list["project"]["issues"]["edges"][0]["node"]["id"].clone();
        let state = "query($id: ID!) { issue(id: $id) { status count ignoredUntil ignoredUntilMoreEvents ignoredUntilMoreUsers } }";
        let read = |data: Value| {
            let issue = &data["issue"];
            (issue["ignoredUntil"].clone(), issue["ignoredUntilMoreEvents"].clone(), issue["ignoredUntilMoreUsers"].clone())
        };

        shop.browser.ok("mutation($id: ID!) { ignoreIssue(id: $id, moreEvents: 100) { id } }", json!({"id": id})).await;
        assert_eq!(read(shop.browser.ok(state, json!({"id": id})).await), (Value::Null, json!(100), Value::Null));
        shop.browser.ok("mutation($id: ID!) { ignoreIssue(id: $id, moreUsers: 5) { id } }", json!({"id": id})).await;
        assert_eq!(read(shop.browser.ok(state, json!({"id": id})).await), (Value::Null, Value::Null, json!(5)));
        let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        shop.browser
            .ok("mutation($id: ID!, $u: DateTime) { ignoreIssue(id: $id, until: $u) { id } }", json!({"id": id, "u": until}))
            .await;
        let (at, events, users) = read(shop.browser.ok(state, json!({"id": id})).await);
        let at = chrono::DateTime::parse_from_rfc3339(at.as_str().expect("a time")).expect("rfc 3339");
        assert_eq!(at, chrono::DateTime::parse_from_rfc3339(&until).expect("rfc 3339"));
        assert_eq!((events, users), (Value::Null, Value::Null));
        // Forever, and back to unresolved: no condition.
        shop.browser.ok("mutation($id: ID!) { ignoreIssue(id: $id) { id } }", json!({"id": id})).await;
        assert_eq!(read(shop.browser.ok(state, json!({"id": id})).await), (Value::Null, Value::Null, Value::Null));
        shop.browser.ok("mutation($id: ID!) { reopenIssue(id: $id) { id } }", json!({"id": id})).await;
        assert_eq!(read(shop.browser.ok(state, json!({"id": id})).await), (Value::Null, Value::Null, Value::Null));
    }
);

db_test!(
    async fn triage_assign_bookmark_delete_and_bulk(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;
        let list = shop.browser.ok(LIST, json!({"p": shop.project, "q": ""})).await;
        let ids: Vec<Value> = list["project"]["issues"]["edges"].as_array().expect("edges").iter().map(|e| e["node"]["id"].clone()).collect();
        let me = shop.browser.ok("{ viewer { user { id } } }", json!({})).await["viewer"]["user"]["id"].clone();

        // Assign to a member; a stranger is refused.
        let assigned = shop
            .browser
            .ok("mutation($i: ID!, $u: ID) { assignIssue(id: $i, userId: $u) { assignee { userId email } } }", json!({"i": ids[0], "u": me}))
            .await;
        assert_eq!(assigned["assignIssue"]["assignee"], json!({"userId": me, "email": "ada@example.com"}));
        let stranger = crate::harness::gql::sign_up(&app, "eve@example.com").await;
        let eve = stranger.ok("{ viewer { user { id } } }", json!({})).await["viewer"]["user"]["id"].clone();
        assert_eq!(
            shop.browser.err("mutation($i: ID!, $u: ID) { assignIssue(id: $i, userId: $u) { id } }", json!({"i": ids[0], "u": eve})).await,
            "VALIDATION"
        );
        let unassigned = shop.browser.ok("mutation($i: ID!) { assignIssue(id: $i, userId: null) { assignee { email } } }", json!({"i": ids[0]})).await;
        assert_eq!(unassigned["assignIssue"]["assignee"], Value::Null);

        // Bookmarks are per user.
        let marked = shop.browser.ok("mutation($i: ID!) { bookmarkIssue(id: $i, bookmarked: true) { isBookmarked } }", json!({"i": ids[1]})).await;
        assert_eq!(marked["bookmarkIssue"]["isBookmarked"], true);
        shop.browser.ok("mutation($i: ID!) { bookmarkIssue(id: $i, bookmarked: true) { isBookmarked } }", json!({"i": ids[1]})).await;
        let unmarked = shop.browser.ok("mutation($i: ID!) { bookmarkIssue(id: $i, bookmarked: false) { isBookmarked } }", json!({"i": ids[1]})).await;
        assert_eq!(unmarked["bookmarkIssue"]["isBookmarked"], false);

        // Bulk by ids: every id is checked first; a foreign one changes nothing.
        assert_eq!(
            shop.browser
                .err("mutation($ids: [ID!]) { bulkUpdateIssues(action: RESOLVE, ids: $ids) { updated } }", json!({"ids": [ids[0], "iss_999999"]}))
                .await,
            "NOT_FOUND"
        );
        assert_eq!(titles(&shop, "is:resolved").await.len(), 0);
        let bulk = shop
            .browser
            .ok("mutation($ids: [ID!]) { bulkUpdateIssues(action: RESOLVE, ids: $ids) { updated issueIds } }", json!({"ids": [ids[0], ids[1]]}))
            .await;
        assert_eq!(bulk["bulkUpdateIssues"]["updated"], 2);
        assert_eq!(titles(&shop, "is:resolved").await.len(), 2);

        // Bulk by search: delete the unresolved ones matching "payment"… none is unresolved and
        // matching now? Reopen, then delete by query.
        shop.browser.ok("mutation($ids: [ID!]) { bulkUpdateIssues(action: REOPEN, ids: $ids) { updated } }", json!({"ids": [ids[0], ids[1]]})).await;
        let deleted = shop
            .browser
            .ok("mutation($p: ID!) { bulkUpdateIssues(action: DELETE, projectId: $p, query: \"payment\") { updated } }", json!({"p": shop.project}))
            .await;
        assert_eq!(deleted["bulkUpdateIssues"]["updated"], 1);
        assert_eq!(titles(&shop, "payment").await, Vec::<String>::new());
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 2, "the deleted issue's 3 events are gone");
        // A new event of the deleted fingerprint opens a new issue.
        send(&app, shop.number, &shop.key, json!({"message": "Payment declined"})).await;
        app.run_pending_jobs().await;
        assert_eq!(titles(&shop, "payment").await, vec!["Payment declined"]);

        // Single delete.
        let remaining = shop.browser.ok(LIST, json!({"p": shop.project, "q": "cache"})).await;
        let cache = remaining["project"]["issues"]["edges"][0]["node"]["id"].clone();
        shop.browser.ok("mutation($i: ID!) { deleteIssue(id: $i) }", json!({"i": cache})).await;
        assert_eq!(shop.browser.err("query($i: ID!) { issue(id: $i) { id } }", json!({"i": cache})).await, "NOT_FOUND");
        assert_eq!(
            shop.browser.err("mutation { bulkUpdateIssues(action: RESOLVE) { updated } }", json!({})).await,
            "VALIDATION"
        );
    }
);

db_test!(
    async fn event_details_releases_environments_and_outcomes(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;
        let event_id = send(&app, shop.number, &shop.key, json!({
            "level": "error", "release": "shop@1.3", "environment": "production",
            "exception": {"values": [{"type": "KeyError", "value": "'sku'", "module": "builtins",
                "mechanism": {"type": "generic", "handled": false},
                "stacktrace": {"frames": [{"function": "checkout", "module": "shop.cart", "filename": "shop/cart.py",
                    "abs_path": "/srv/shop/cart.py", "lineno": 42, "in_app": true, "context_line": "price = prices[sku]",
                    "pre_context": ["def checkout(sku):"], "vars": {"sku": "'A-1'"}}]}}]},
            "breadcrumbs": {"values": [{"timestamp": 1700000000.0, "category": "http", "message": "GET /cart", "level": "info", "data": {"status": 200}}]},
            "tags": {"browser": "Firefox"}, "user": {"email": "z@x.io"},
            "request": {"url": "https://shop.example/cart", "method": "POST"},
            "contexts": {"runtime": {"name": "CPython", "version": "3.12"}},
            "sdk": {"name": "sentry.python", "version": "2.75.0"}})).await;
        app.run_pending_jobs().await;
        let found = shop
            .browser
            .ok(
                "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) {
                   exceptions { type value module mechanism frames { function module filename lineno inApp contextLine preContext vars } }
                   breadcrumbs { category message level data }
                   tags { key value } user request contexts sdk attachments { filename } userFeedback { comments } } }",
                json!({"p": shop.project, "e": event_id}),
            )
            .await["event"]
            .clone();
        assert_eq!(found["exceptions"][0]["type"], "KeyError");
        assert_eq!(found["exceptions"][0]["mechanism"]["handled"], false);
        let frame = &found["exceptions"][0]["frames"][0];
        assert_eq!((frame["function"].clone(), frame["lineno"].clone(), frame["inApp"].clone()), (json!("checkout"), json!(42), json!(true)));
        assert_eq!(frame["contextLine"], "price = prices[sku]");
        assert_eq!(frame["vars"]["sku"], "'A-1'");
        assert_eq!(found["breadcrumbs"][0]["message"], "GET /cart");
        assert_eq!(found["breadcrumbs"][0]["data"]["status"], 200);
        assert!(found["tags"].as_array().expect("tags").contains(&json!({"key": "browser", "value": "Firefox"})));
        assert_eq!(found["request"]["method"], "POST");
        assert_eq!(found["contexts"]["runtime"]["name"], "CPython");
        assert_eq!(found["sdk"]["name"], "sentry.python");
        assert_eq!(found["attachments"], json!([]));
        assert_eq!(found["userFeedback"], json!([]));

        let seen = shop
            .browser
            .ok(
                "query($p: ID!) { project(id: $p) {
                   releases { name eventCount issueCount }
                   environments { name eventCount }
                   outcomes { category outcome reason quantity } } }",
                json!({"p": shop.project}),
            )
            .await["project"]
            .clone();
        let releases: Vec<(String, i64)> = seen["releases"]
            .as_array()
            .expect("releases")
            .iter()
            .map(|r| (r["name"].as_str().expect("name").to_owned(), r["eventCount"].as_i64().expect("n")))
            .collect();
        assert!(releases.contains(&("shop@1.2".to_owned(), 4)), "{releases:?}");
        assert!(releases.contains(&("shop@1.1".to_owned(), 1)), "{releases:?}");
        assert_eq!(releases[0].0, "shop@1.3", "most recent first: {releases:?}");
        let environments: Vec<&str> = seen["environments"].as_array().expect("envs").iter().map(|e| e["name"].as_str().expect("name")).collect();
        assert!(environments.contains(&"staging") && environments.contains(&"production"), "{environments:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let accepted: i64 = shop
            .browser
            .ok("query($p: ID!) { project(id: $p) { outcomes { category outcome quantity } } }", json!({"p": shop.project}))
            .await["project"]["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .filter(|o| o["category"] == "error" && o["outcome"] == "accepted")
            .map(|o| o["quantity"].as_i64().expect("n"))
            .sum();
        assert_eq!(accepted, 6);
    }
);

db_test!(
    async fn the_seed_command_fills_a_project_that_lists_like_a_real_one(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        let seeded = errorwatch_core::admin::seed_project_unscoped(
            &app.db,
            errorwatch_core::ids::ProjectId(shop.number),
            1_200,
            5_000,
        )
        .await
        .expect("seed");
        assert_eq!((seeded.issues, seeded.events), (1_200, 5_000));
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 5_000);
        let page = shop.browser.ok(LIST, json!({"p": shop.project, "q": "is:unresolved", "f": 50})).await;
        let issues = &page["project"]["issues"];
        assert_eq!(issues["totalCount"], 720, "3 of 5 seeded issues are unresolved");
        assert_eq!(issues["edges"].as_array().expect("edges").len(), 50);
        assert_eq!(issues["pageInfo"]["hasNextPage"], true);
        let counts: i64 = issues["edges"].as_array().expect("edges").iter().map(|e| e["node"]["count"].as_i64().expect("n")).sum();
        assert!(counts >= 50 * 4, "{counts}");
    }
);

db_test!(
    async fn attachment_content_is_served_inline_up_to_one_mebibyte_and_only_to_its_account(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        let event_id = uuid::Uuid::new_v4().simple().to_string();
        let event = json!({"exception": {"values": [{"type": "KeyError", "value": "'sku'"}]}});
        let small = "cart: [sku-42]\n";
        // One byte over the inline limit.
        let large = "x".repeat(1024 * 1024 + 1);
        let body = format!(
            "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\"}}\n{event}\n\
             {{\"type\":\"attachment\",\"length\":{},\"filename\":\"cart.txt\",\"content_type\":\"text/plain\"}}\n{small}\n\
             {{\"type\":\"attachment\",\"length\":{},\"filename\":\"big.bin\"}}\n{large}\n",
            small.len(),
            large.len()
        );
        let (status, detail, _) = crate::ingest::post_raw(
            &app,
            &format!("/api/{}/envelope/?sentry_key={}", shop.number, shop.key),
            &[],
            body.into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{detail:?}");
        app.run_pending_jobs().await;

        const ATTACHMENTS: &str = "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) {
            attachments { id filename size dataBase64 } } }";
        let found = shop
            .browser
            .ok(ATTACHMENTS, json!({"p": shop.project, "e": event_id}))
            .await;
        let attachments = found["event"]["attachments"].as_array().expect("attachments").clone();
        assert_eq!(attachments.len(), 2, "{found:#}");
        assert_eq!(attachments[0]["filename"], "cart.txt");
        assert_eq!(attachments[0]["size"], json!(small.len()));
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(attachments[0]["dataBase64"].as_str().expect("inline data"))
            .expect("base64");
        assert_eq!(decoded, small.as_bytes());
        assert_eq!(attachments[1]["filename"], "big.bin");
        assert_eq!(attachments[1]["size"], json!(large.len()));
        assert_eq!(attachments[1]["dataBase64"], Value::Null, "over the limit: not inlined");

        // Another account cannot reach the event, hence neither its attachments.
        let (other, _) = user_with_account(&app, "eve@example.com", "Other").await;
        assert_eq!(
            other
                .err(ATTACHMENTS, json!({"p": shop.project, "e": event_id}))
                .await,
            "NOT_FOUND"
        );
    }
);

/// One event of an issue with its neighbours.
const WALK: &str = "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) {
    eventId previousEventId nextEventId } }";

/// Follows `field` (`previousEventId` or `nextEventId`) from `start` to the end of the issue.
async fn walk(shop: &Shop, start: &str, field: &str) -> Vec<String> {
    let mut seen = vec![start.to_owned()];
    loop {
        let data = shop
            .browser
            .ok(WALK, json!({"p": shop.project, "e": seen.last()}))
            .await;
        match data["event"][field].as_str() {
            Some(next) => seen.push(next.to_owned()),
            None => return seen,
        }
    }
}

db_test!(
    async fn every_event_of_an_issue_is_reached_from_its_oldest_and_latest(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        // More than a page of events (100), all of one issue.
        const N: usize = 130;
        for i in 0..N {
            send(&app, shop.number, &shop.key, json!({"message": "Payment declined", "extra": {"n": i}})).await;
        }
        // And another issue's event, which no walk may reach.
        send(&app, shop.number, &shop.key, json!({"message": "Cache miss storm"})).await;
        app.run_pending_jobs().await;
        let issues = shop.browser.ok(LIST, json!({"p": shop.project, "q": "Payment"})).await;
        let issue = issues["project"]["issues"]["edges"][0]["node"]["id"].as_str().expect("issue").to_owned();

        // The issue's events newest first, both pages of the connection.
        let mut listed: Vec<String> = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = shop
                .browser
                .ok(
                    "query($i: ID!, $a: String) { issue(id: $i) { events(first: 100, after: $a) {
                       pageInfo { hasNextPage endCursor } nodes { eventId } } } }",
                    json!({"i": issue, "a": after}),
                )
                .await;
            let events = &page["issue"]["events"];
            listed.extend(events["nodes"].as_array().expect("nodes").iter().map(|n| n["eventId"].as_str().expect("id").to_owned()));
            if events["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = events["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(listed.len(), N);

        let ends = shop
            .browser
            .ok(
                "query($i: ID!) { issue(id: $i) { oldestEvent { eventId previousEventId } latestEvent { eventId nextEventId } } }",
                json!({"i": issue}),
            )
            .await;
        let oldest = ends["issue"]["oldestEvent"]["eventId"].as_str().expect("oldest");
        let latest = ends["issue"]["latestEvent"]["eventId"].as_str().expect("latest");
        assert_eq!((latest, oldest), (listed[0].as_str(), listed[N - 1].as_str()));
        assert_eq!(ends["issue"]["oldestEvent"]["previousEventId"], Value::Null);
        assert_eq!(ends["issue"]["latestEvent"]["nextEventId"], Value::Null);

        // Older from the latest walks the whole list; newer from the oldest walks it back.
        assert_eq!(walk(&shop, latest, "previousEventId").await, listed);
        let mut upwards = walk(&shop, oldest, "nextEventId").await;
        upwards.reverse();
        assert_eq!(upwards, listed);

        // Another account's session reaches neither the events nor the issue's ends.
        let (other, _) = user_with_account(&app, "eve@example.com", "Other").await;
        assert_eq!(other.err(WALK, json!({"p": shop.project, "e": latest})).await, "NOT_FOUND");
        assert_eq!(
            other.err("query($i: ID!) { issue(id: $i) { oldestEvent { eventId } } }", json!({"i": issue})).await,
            "NOT_FOUND"
        );
    }
);

db_test!(
    async fn tag_facets_of_a_project_and_an_account_suggest_values_with_their_share(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        seed(&app, &shop).await;
        const FACETS: &str = "query($p: ID!, $a: ID!) {
            project(id: $p) { tagFacets(limit: 5) { key distinctValues totalCount topValues { value count } } }
            account(id: $a) { tagFacets { key topValues { value } } } }";
        let data = shop.browser.ok(FACETS, json!({"p": shop.project, "a": shop.account})).await;
        let facets = data["project"]["tagFacets"].as_array().expect("facets");
        let facet = |key: &str| facets.iter().find(|f| f["key"] == key).unwrap_or_else(|| panic!("no {key} in {facets:?}")).clone();
        // Three events of one issue and one of another had a browser tag.
        let browser = facet("browser");
        assert_eq!(browser["totalCount"], 4, "{browser}");
        assert_eq!(browser["topValues"][0], json!({"value": "Firefox", "count": 3}));
        assert_eq!(browser["topValues"][1], json!({"value": "Chrome", "count": 1}));
        assert_eq!(facet("environment")["topValues"][0], json!({"value": "production", "count": 4}));
        let keys: Vec<&str> = facets.iter().map(|f| f["key"].as_str().expect("key")).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "keys in name order");
        assert_eq!(data["account"]["tagFacets"].as_array().expect("facets").len(), facets.len());

        let (other, other_account) = user_with_account(&app, "eve@example.com", "Other").await;
        assert_eq!(other.err(FACETS, json!({"p": shop.project, "a": other_account})).await, "NOT_FOUND");
    }
);

db_test!(
    async fn every_user_field_finds_the_users_issues_and_the_user_facet_names_them(backend) {
        let app = TestApp::spawn(backend).await;
        let shop = shop(&app).await;
        let (p, k) = (shop.number, shop.key.as_str());
        // The `user` tag keeps the id as the identity; email, username and IP are searchable too.
        for _ in 0..2 {
            send(&app, p, k, json!({"message": "Checkout failed", "level": "error",
                "user": {"id": 7, "email": "Ada@Example.com", "username": "ada", "ip_address": "203.0.113.9"}})).await;
        }
        send(&app, p, k, json!({"message": "Checkout failed", "level": "error",
            "user": {"id": "8", "username": "bob"}})).await;
        send(&app, p, k, json!({"message": "Stock sync failed", "level": "error",
            "user": {"id": "9", "email": "cy@example.com"}})).await;
        app.run_pending_jobs().await;

        for (query, expected) in [
            ("user.email:ada@example.com", vec!["Checkout failed"]),
            ("user.email:ADA@example.com", vec!["Checkout failed"]),
            ("user.username:ada", vec!["Checkout failed"]),
            ("user.username:bob", vec!["Checkout failed"]),
            ("user.ip:203.0.113.9", vec!["Checkout failed"]),
            ("user.id:7", vec!["Checkout failed"]),
            ("user.email:cy@example.com", vec!["Stock sync failed"]),
            ("!user.email:cy@example.com", vec!["Checkout failed"]),
            ("user.email:nobody@example.com", vec![]),
        ] {
            assert_eq!(titles(&shop, query).await, expected, "{query}");
        }

        // The facet names users as people know them: email, else username, else id.
        let list = shop.browser.ok(LIST, json!({"p": shop.project, "q": "checkout"})).await;
        let id = list["project"]["issues"]["edges"][0]["node"]["id"].clone();
        let issue = shop
            .browser
            .ok("query($id: ID!) { issue(id: $id) { userCount tagFacets { key topValues { value label count } } } }", json!({"id": id}))
            .await;
        assert_eq!(issue["issue"]["userCount"], 2);
        let users = issue["issue"]["tagFacets"].as_array().expect("facets").iter().find(|f| f["key"] == "user").expect("user facet").clone();
        assert_eq!(
            users["topValues"],
            json!([{"value": "id:7", "label": "Ada@Example.com", "count": 2}, {"value": "id:8", "label": "bob", "count": 1}])
        );
        let browser = issue["issue"]["tagFacets"].as_array().expect("facets").iter().find(|f| f["key"] == "level").expect("level").clone();
        assert_eq!(browser["topValues"][0]["label"], "error", "other tags are their value");

        // Another account cannot search this project.
        let (other, _) = user_with_account(&app, "eve@example.com", "Other").await;
        assert_eq!(other.err(LIST, json!({"p": shop.project, "q": "user.email:ada@example.com"})).await, "NOT_FOUND");
    }
);
