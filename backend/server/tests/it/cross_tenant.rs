//! The cross-tenant suite. Account A (Alice) has a project, a DSN key, a member, an invite, an
//! API token and sessions. Bob owns account B and tries every root field of the GraphQL API
//! that takes an id with A's ids — from his browser session and with his admin API token — and
//! must get NOT_FOUND, with nothing of A changed. The suite enumerates the schema by
//! introspection: a root field that takes an `ID` and has no case here fails it, and so does a
//! root field without `ID` arguments that is not listed (with the reason it cannot leak).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::harness::gql::{Gql, sign_up, user_with_account};
use crate::harness::{TestApp, db_test};

/// Root fields without `ID` arguments, and why they cannot reach another tenant's rows.
const WITHOUT_IDS: &[(&str, &str)] = &[
    ("Query.serverInfo", "server facts, no tenant data"),
    ("Query.signupPolicy", "server setting, no tenant data"),
    (
        "Query.firstUserBecomesAdmin",
        "whether the server has any user yet: no tenant data (the sign-up page says it to anyone)",
    ),
    (
        "Query.plans",
        "the configured public plans, the same for everyone; no tenant data",
    ),
    (
        "Query.viewer",
        "the caller's own user, sessions and memberships (checked below)",
    ),
    (
        "Mutation.signUp",
        "creates a user; an invite token only admits to its own account (checked below)",
    ),
    (
        "Mutation.verifyEmail",
        "an emailed secret of the caller's own user",
    ),
    (
        "Mutation.resendVerification",
        "emails the address's owner; same answer for every address",
    ),
    ("Mutation.login", "the caller's own credentials"),
    ("Mutation.logout", "the caller's own session"),
    ("Mutation.logoutEverywhere", "the caller's own sessions"),
    (
        "Mutation.requestPasswordReset",
        "emails the address's owner; same answer for every address",
    ),
    ("Mutation.resetPassword", "an emailed secret of one user"),
    ("Mutation.changePassword", "the caller's own user"),
    ("Mutation.requestEmailChange", "the caller's own user"),
    (
        "Mutation.confirmEmailChange",
        "an emailed secret of one user",
    ),
    (
        "Mutation.createAccount",
        "a new account owned by the caller",
    ),
    (
        "Mutation.acceptInvite",
        "an invite is bound to its address (checked below)",
    ),
];

/// A's ids, and the secret of A's pending invite.
struct TenantA {
    account: String,
    project: String,
    key: String,
    membership: String,
    invite: String,
    token: String,
    session: String,
    invite_secret: String,
    dsn_key: String,
    project_number: i64,
    issue: String,
    event_id: String,
    alert_rule: String,
    alert_target: String,
    notification: String,
}

async fn setup_a(app: &TestApp) -> (Gql, TenantA) {
    let (alice, account) = user_with_account(app, "alice@a.example", "Alpha").await;
    let project = alice
        .ok(
            "mutation($a: ID!) { createProject(accountId: $a, name: \"Shop\", platform: \"python\") { id keys { id publicKey } } }",
            json!({"a": account}),
        )
        .await["createProject"]
        .clone();
    let carol = sign_up(app, "carol@a.example").await;
    alice
        .ok(
            "mutation($a: ID!) { inviteMember(accountId: $a, email: \"carol@a.example\", role: MEMBER) { id } }",
            json!({"a": account}),
        )
        .await;
    let mail = app.smtp.wait_for("carol@a.example", "invited", 1).await;
    carol
        .ok(
            "mutation($t: String!) { acceptInvite(token: $t) { id } }",
            json!({"t": mail.token("accept-invite")}),
        )
        .await;
    let invite = alice
        .ok(
            "mutation($a: ID!) { inviteMember(accountId: $a, email: \"dave@a.example\", role: VIEWER) { id } }",
            json!({"a": account}),
        )
        .await["inviteMember"]["id"]
        .clone();
    let invite_secret = app
        .smtp
        .wait_for("dave@a.example", "invited", 1)
        .await
        .token("accept-invite");
    let token = alice
        .ok(
            "mutation($a: ID!) { createApiToken(accountId: $a, name: \"CI\", scope: WRITE) { token { id } } }",
            json!({"a": account}),
        )
        .await["createApiToken"]["token"]["id"]
        .clone();
    let members = alice
        .ok(
            "query($a: ID!) { account(id: $a) { members { edges { node { id email } } } } }",
            json!({"a": account}),
        )
        .await;
    let membership = members["account"]["members"]["edges"]
        .as_array()
        .expect("members")
        .iter()
        .find(|e| e["node"]["email"] == "carol@a.example")
        .expect("carol")["node"]["id"]
        .clone();
    let session = alice.ok("{ viewer { sessions { id } } }", json!({})).await["viewer"]["sessions"]
        [0]["id"]
        .clone();
    let project_id = project["id"].as_str().expect("id").to_owned();
    // One event, so A has an issue.
    let event_id = "0123456789abcdef0123456789abcdef".to_owned();
    let number: i64 = project_id
        .trim_start_matches("prj_")
        .parse()
        .expect("number");
    let response = app
        .client
        .post(app.url(&format!(
            "/api/{number}/store/?sentry_key={}",
            project["keys"][0]["publicKey"].as_str().expect("key")
        )))
        .body(format!(
            "{{\"event_id\":\"{event_id}\",\"message\":\"A's secret\"}}"
        ))
        .send()
        .await
        .expect("store");
    assert_eq!(response.status().as_u16(), 200);
    app.run_pending_jobs().await;
    let issue = alice
        .ok(
            "query($p: ID!) { project(id: $p) { issues { edges { node { id } } } } }",
            json!({"p": project_id}),
        )
        .await["project"]["issues"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("issue")
        .to_owned();
    let alert_target = alice
        .ok(
            "mutation($a: ID!) { createAlertTarget(accountId: $a, input: {name: \"Oncall\", kind: EMAIL, emails: [\"alice@a.example\"]}) { id } }",
            json!({"a": account}),
        )
        .await["createAlertTarget"]["id"]
        .as_str()
        .expect("target")
        .to_owned();
    let alert_rule = alice
        .ok(
            "mutation($p: ID!, $t: ID!) { createAlertRule(projectId: $p, input: {name: \"New\", trigger: NEW_ISSUE, targetIds: [$t]}) { id } }",
            json!({"p": project_id, "t": alert_target}),
        )
        .await["createAlertRule"]["id"]
        .as_str()
        .expect("rule")
        .to_owned();
    let notification = alice
        .ok(
            "mutation($t: ID!) { sendTestNotification(targetId: $t) { id } }",
            json!({"t": alert_target}),
        )
        .await["sendTestNotification"]["id"]
        .as_str()
        .expect("notification")
        .to_owned();
    app.run_pending_jobs().await;
    let ids = TenantA {
        alert_rule,
        alert_target,
        notification,
        account,
        project_number: project_id
            .trim_start_matches("prj_")
            .parse()
            .expect("number"),
        project: project_id,
        key: project["keys"][0]["id"].as_str().expect("key").to_owned(),
        dsn_key: project["keys"][0]["publicKey"]
            .as_str()
            .expect("public key")
            .to_owned(),
        membership: membership.as_str().expect("id").to_owned(),
        invite: invite.as_str().expect("id").to_owned(),
        token: token.as_str().expect("id").to_owned(),
        session: session.as_str().expect("id").to_owned(),
        invite_secret,
        issue,
        event_id,
    };
    (alice, ids)
}

/// One attempt per root field that takes an id: the document and its variables.
fn cases(a: &TenantA) -> BTreeMap<&'static str, (&'static str, Value)> {
    BTreeMap::from([
        (
            "Query.alertRules",
            (
                "query($id: ID!) { alertRules(projectId: $id) { id name } }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Query.alertTargets",
            (
                "query($id: ID!) { alertTargets(accountId: $id) { id url secret } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Query.notifications",
            (
                "query($id: ID!) { notifications(accountId: $id) { id status } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.createAlertRule",
            (
                "mutation($id: ID!) { createAlertRule(projectId: $id, input: {name: \"x\", trigger: NEW_ISSUE, targetIds: []}) { id } }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Mutation.updateAlertRule",
            (
                "mutation($id: ID!) { updateAlertRule(id: $id, input: {name: \"x\", trigger: NEW_ISSUE, enabled: false, targetIds: []}) { id } }",
                json!({"id": a.alert_rule}),
            ),
        ),
        (
            "Mutation.deleteAlertRule",
            (
                "mutation($id: ID!) { deleteAlertRule(id: $id) }",
                json!({"id": a.alert_rule}),
            ),
        ),
        (
            "Mutation.createAlertTarget",
            (
                "mutation($id: ID!) { createAlertTarget(accountId: $id, input: {name: \"x\", kind: WEBHOOK, url: \"https://evil.example/\"}) { id } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.updateAlertTarget",
            (
                "mutation($id: ID!) { updateAlertTarget(id: $id, input: {name: \"x\", emails: [\"bob@b.example\"]}) { id } }",
                json!({"id": a.alert_target}),
            ),
        ),
        (
            "Mutation.deleteAlertTarget",
            (
                "mutation($id: ID!) { deleteAlertTarget(id: $id) }",
                json!({"id": a.alert_target}),
            ),
        ),
        (
            "Mutation.retryNotification",
            (
                "mutation($id: ID!) { retryNotification(id: $id) { id } }",
                json!({"id": a.notification}),
            ),
        ),
        (
            "Mutation.sendTestNotification",
            (
                "mutation($id: ID!) { sendTestNotification(targetId: $id) { id } }",
                json!({"id": a.alert_target}),
            ),
        ),
        (
            "Query.account",
            (
                "query($id: ID!) { account(id: $id) { id name } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Query.project",
            (
                "query($id: ID!) { project(id: $id) { id name } }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Mutation.revokeSession",
            (
                "mutation($id: ID!) { revokeSession(id: $id) }",
                json!({"id": a.session}),
            ),
        ),
        (
            "Mutation.renameAccount",
            (
                "mutation($id: ID!) { renameAccount(id: $id, name: \"Pwned\") { id } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.deleteAccount",
            (
                "mutation($id: ID!) { deleteAccount(id: $id, confirm: \"alpha\") }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.inviteMember",
            (
                "mutation($id: ID!) { inviteMember(accountId: $id, email: \"mallory@b.example\", role: OWNER) { id } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.startCheckout",
            (
                "mutation($id: ID!) { startCheckout(accountId: $id, plan: \"pro\") { url } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.choosePlan",
            (
                "mutation($id: ID!) { choosePlan(accountId: $id, plan: \"free\") { plan } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.openBillingPortal",
            (
                "mutation($id: ID!) { openBillingPortal(accountId: $id) { url } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.revokeInvite",
            (
                "mutation($id: ID!) { revokeInvite(id: $id) { id } }",
                json!({"id": a.invite}),
            ),
        ),
        (
            "Mutation.changeMemberRole",
            (
                "mutation($id: ID!) { changeMemberRole(id: $id, role: OWNER) { id } }",
                json!({"id": a.membership}),
            ),
        ),
        (
            "Mutation.removeMember",
            (
                "mutation($id: ID!) { removeMember(id: $id) }",
                json!({"id": a.membership}),
            ),
        ),
        (
            "Mutation.leaveAccount",
            (
                "mutation($id: ID!) { leaveAccount(id: $id) }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.createApiToken",
            (
                "mutation($id: ID!) { createApiToken(accountId: $id, name: \"x\", scope: ADMIN) { secret } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.revokeApiToken",
            (
                "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
                json!({"id": a.token}),
            ),
        ),
        (
            "Mutation.createProject",
            (
                "mutation($id: ID!) { createProject(accountId: $id, name: \"Evil\") { id } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.renameProject",
            (
                "mutation($id: ID!) { renameProject(id: $id, name: \"Pwned\") { id } }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Mutation.deleteProject",
            (
                "mutation($id: ID!) { deleteProject(id: $id) }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Mutation.setFingerprintRules",
            (
                "mutation($id: ID!) { setFingerprintRules(projectId: $id, rules: \"message:\\\"*\\\" -> pwned\") { id } }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Mutation.createProjectKey",
            (
                "mutation($id: ID!) { createProjectKey(projectId: $id, label: \"Evil\") { id } }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Mutation.updateProjectKey",
            (
                "mutation($id: ID!) { updateProjectKey(id: $id, isActive: false, rotate: true) { id } }",
                json!({"id": a.key}),
            ),
        ),
        (
            "Query.issue",
            (
                "query($id: ID!) { issue(id: $id) { id title } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Query.event",
            (
                "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) { eventId payload } }",
                json!({"p": a.project, "e": a.event_id}),
            ),
        ),
        (
            "Mutation.resolveIssue",
            (
                "mutation($id: ID!) { resolveIssue(id: $id) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.resolveIssueInRelease",
            (
                "mutation($id: ID!) { resolveIssueInRelease(id: $id, release: \"9\") { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.resolveIssueInNextRelease",
            (
                "mutation($id: ID!) { resolveIssueInNextRelease(id: $id) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.ignoreIssue",
            (
                "mutation($id: ID!) { ignoreIssue(id: $id) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.reopenIssue",
            (
                "mutation($id: ID!) { reopenIssue(id: $id) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.mergeIssues",
            (
                "mutation($id: ID!) { mergeIssues(targetId: $id, sourceIds: [$id]) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.unmergeFingerprint",
            (
                "mutation($id: ID!) { unmergeFingerprint(issueId: $id, fingerprint: \"x\") { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.reprocessIssue",
            (
                "mutation($id: ID!) { reprocessIssue(issueId: $id) { events } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Subscription.issueCreated",
            (
                "subscription($id: ID) { issueCreated(projectId: $id) { id } }",
                json!({"id": a.project}),
            ),
        ),
        (
            "Subscription.issueUpdated",
            (
                "subscription($id: ID) { issueUpdated(issueId: $id) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Subscription.eventCreated",
            (
                "subscription($id: ID) { eventCreated(accountId: $id) { eventId } }",
                json!({"id": a.account}),
            ),
        ),
        (
            "Mutation.assignIssue",
            (
                "mutation($id: ID!) { assignIssue(id: $id, userId: null) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.bookmarkIssue",
            (
                "mutation($id: ID!) { bookmarkIssue(id: $id, bookmarked: true) { id } }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.deleteIssue",
            (
                "mutation($id: ID!) { deleteIssue(id: $id) }",
                json!({"id": a.issue}),
            ),
        ),
        (
            "Mutation.bulkUpdateIssues",
            (
                "mutation($id: ID!) { bulkUpdateIssues(action: DELETE, ids: [$id]) { updated } }",
                json!({"id": a.issue}),
            ),
        ),
    ])
}

/// Everything of A an attacker could change, as Alice sees it, plus raw row counts.
async fn snapshot(app: &TestApp, alice: &Gql, a: &TenantA) -> Value {
    let view = alice
        .ok(
            "query($a: ID!, $p: ID!) {
               account(id: $a) {
                 name slug
                 members { edges { node { id email role } } }
                 invites { edges { node { id email role status } } }
                 apiTokens { edges { node { id name revokedAt } } }
                 projects { edges { node { id name } } }
                 auditLog(first: 100) { edges { node { id } } }
               }
               project(id: $p) {
                 name fingerprintRules keys { id label publicKey isActive rateLimitPerMinute }
                 issues(query: \"\") { totalCount edges { node { id title status count activity { kind } } } }
               }
               viewer { sessions { id } }
             }",
            json!({"a": a.account, "p": a.project}),
        )
        .await;
    let counts = json!({
        "projects": app.scalar("SELECT COUNT(*) FROM projects WHERE deleted_at IS NULL").await,
        "keys": app.scalar("SELECT COUNT(*) FROM project_keys").await,
        "memberships": app.scalar("SELECT COUNT(*) FROM memberships").await,
        "invites": app.scalar("SELECT COUNT(*) FROM invites").await,
        "tokens": app.scalar("SELECT COUNT(*) FROM api_tokens").await,
        "accounts": app.scalar("SELECT COUNT(*) FROM accounts WHERE deleted_at IS NULL").await,
        "alert_rules": app.scalar("SELECT COUNT(*) FROM alert_rules").await,
        "alert_rules_enabled": app.scalar("SELECT COUNT(*) FROM alert_rules WHERE enabled = TRUE").await,
        "alert_targets": app.scalar("SELECT COUNT(*) FROM alert_targets").await,
        "alert_targets_unchanged": app.scalar("SELECT COUNT(*) FROM alert_targets WHERE name = 'Oncall' AND config LIKE '%alice@a.example%'").await,
        "notifications": app.scalar("SELECT COUNT(*) FROM notifications").await,
    });
    json!({"view": view, "counts": counts})
}

/// Root fields of the schema and whether each takes an `ID` argument.
async fn root_fields(client: &Gql) -> BTreeMap<String, bool> {
    let data = client
        .ok(
            "{ __schema {
                 queryType { name fields { name args { type { name kind ofType { name kind ofType { name } } } } } }
                 mutationType { name fields { name args { type { name kind ofType { name kind ofType { name } } } } } }
                 subscriptionType { name fields { name args { type { name kind ofType { name kind ofType { name } } } } } }
               } }",
            json!({}),
        )
        .await;
    let mut out = BTreeMap::new();
    for (kind, label) in [
        ("queryType", "Query"),
        ("mutationType", "Mutation"),
        ("subscriptionType", "Subscription"),
    ] {
        let Some(fields) = data["__schema"][kind]["fields"].as_array() else {
            continue;
        };
        for field in fields {
            let takes_id = field["args"].as_array().expect("args").iter().any(|arg| {
                let t = &arg["type"];
                [
                    &t["name"],
                    &t["ofType"]["name"],
                    &t["ofType"]["ofType"]["name"],
                ]
                .iter()
                .any(|n| *n == "ID")
            });
            out.insert(
                format!("{label}.{}", field["name"].as_str().expect("name")),
                takes_id,
            );
        }
    }
    out
}

db_test!(
    async fn another_tenant_gets_not_found_for_every_id_and_changes_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let (alice, a) = setup_a(&app).await;
        let (bob, b_account) = user_with_account(&app, "bob@b.example", "Bravo").await;
        let bob_token = bob
            .ok(
                "mutation($a: ID!) { createApiToken(accountId: $a, name: \"B admin\", scope: ADMIN) { secret } }",
                json!({"a": b_account}),
            )
            .await["createApiToken"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let bob_api = Gql::token(&app, &bob_token);

        // The schema's root fields are all accounted for.
        let fields = root_fields(&alice).await;
        let cases = cases(&a);
        let exempt: BTreeSet<&str> = WITHOUT_IDS.iter().map(|(name, _)| *name).collect();
        for (field, takes_id) in &fields {
            if *takes_id {
                assert!(cases.contains_key(field.as_str()), "{field} takes an ID but has no cross-tenant case");
            } else {
                assert!(exempt.contains(field.as_str()), "{field} has no ID argument: list it in WITHOUT_IDS with the reason it cannot leak, or give it a case");
            }
        }
        for name in cases.keys() {
            assert_eq!(fields.get(*name), Some(&true), "case {name} names no ID-taking root field");
        }

        let before = snapshot(&app, &alice, &a).await;
        // Subscriptions, over WebSocket with Bob's token.
        let mut socket = crate::harness::ws::connect(&app, json!({"authorization": format!("Bearer {bob_token}")}))
            .await
            .expect("ack");
        for (name, (document, variables)) in cases.iter().filter(|(name, _)| name.starts_with("Subscription.")) {
            crate::harness::ws::subscribe(&mut socket, name, document, variables.clone()).await;
            let answer = crate::harness::ws::next(&mut socket).await.expect("an answer");
            assert_eq!(answer["id"], *name, "{answer}");
            assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{name}: {answer}");
            assert_eq!(answer["payload"]["data"], Value::Null, "{name}: {answer}");
            let done = crate::harness::ws::next(&mut socket).await.expect("complete");
            assert_eq!(done["type"], "complete", "{done}");
        }
        for (name, (document, variables)) in cases.iter().filter(|(name, _)| !name.starts_with("Subscription.")) {
            for (who, client) in [("bob's session", &bob), ("bob's admin token", &bob_api)] {
                let body = client.exec(document, variables.clone()).await;
                assert_eq!(
                    body["errors"][0]["extensions"]["code"], "NOT_FOUND",
                    "{name} as {who} with A's ids: {body:#}"
                );
                assert!(
                    body["data"].is_null() || body["data"].as_object().is_some_and(|d| d.values().all(Value::is_null)),
                    "{name} as {who} returned data: {body:#}"
                );
            }
        }
        app.run_pending_jobs().await;
        assert_eq!(snapshot(&app, &alice, &a).await, before, "A changed after B's attempts");

        // The fields without ids: Bob's viewer shows only his own account…
        let accounts = bob.ok("{ viewer { accounts { id } sessions { id } } }", json!({})).await;
        assert_eq!(accounts["viewer"]["accounts"], json!([{"id": b_account}]));
        assert!(!accounts["viewer"]["sessions"].to_string().contains(&a.session));
        let accounts = bob_api.ok("{ viewer { accounts { id } } }", json!({})).await;
        assert_eq!(accounts["viewer"]["accounts"], json!([{"id": b_account}]));
        // …A's invite does not admit Bob (it is bound to Dave's address)…
        assert_eq!(
            bob.err("mutation($t: String!) { acceptInvite(token: $t) { id } }", json!({"t": a.invite_secret})).await,
            "VALIDATION"
        );
        // …nor a new user signing up with another address.
        assert_eq!(
            Gql::browser(&app)
                .err(
                    "mutation($t: String!) { signUp(email: \"mallory@b.example\", password: \"correct horse battery\", inviteToken: $t) { status } }",
                    json!({"t": a.invite_secret}),
                )
                .await,
            "VALIDATION"
        );
        assert_eq!(snapshot(&app, &alice, &a).await, before, "A changed after B's invite attempts");

        // HTTP endpoints that take an id: A's project number with B's DSN key is refused and
        // stores nothing.
        let b_key = bob
            .ok(
                "mutation($a: ID!) { createProject(accountId: $a, name: \"Web\") { keys { publicKey } } }",
                json!({"a": b_account}),
            )
            .await["createProject"]["keys"][0]["publicKey"]
            .as_str()
            .expect("key")
            .to_owned();
        let envelope = format!(
            "{{\"event_id\":\"0123456789abcdef0123456789abcdef\",\"dsn\":\"http://{b_key}@127.0.0.1/{n}\"}}\n{{\"type\":\"event\"}}\n{{\"message\":\"pwned\"}}\n",
            n = a.project_number
        );
        for path in ["envelope", "store", "security", "minidump"] {
            let response = app
                .client
                .post(app.url(&format!("/api/{}/{path}/?sentry_key={b_key}", a.project_number)))
                .body(envelope.clone())
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 403, "/api/<A's project>/{path}/ with B's key");
        }
        let response = app
            .client
            .post(app.url(&format!(
                "/api/{}/events/0123456789abcdef0123456789abcdef/attachments/?sentry_key={b_key}",
                a.project_number
            )))
            .body("x")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 403, "attachments upload to A's project with B's key");
        // And A's own key still works for A.
        let response = app
            .client
            .post(app.url(&format!("/api/{}/envelope/?sentry_key={}", a.project_number, a.dsn_key)))
            .body(envelope.replace(&b_key, &a.dsn_key))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
        app.run_pending_jobs().await;
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 1, "only A's own event is stored (the second send repeats its event id)");

        // B merging A's issue into B's own issue: NOT_FOUND, nothing moves.
        let b_project = bob.ok("{ viewer { accounts { projects { edges { node { id } } } } } }", json!({})).await["viewer"]["accounts"][0]
            ["projects"]["edges"][0]["node"]["id"]
            .as_str()
            .expect("b project")
            .to_owned();
        let b_number: i64 = b_project.trim_start_matches("prj_").parse().expect("number");
        let response = app
            .client
            .post(app.url(&format!("/api/{b_number}/store/?sentry_key={b_key}")))
            .body(r#"{"message":"B's own"}"#)
            .send()
            .await
            .expect("store");
        assert_eq!(response.status().as_u16(), 200);
        app.run_pending_jobs().await;
        let b_issue = bob
            .ok("query($p: ID!) { project(id: $p) { issues { edges { node { id } } } } }", json!({"p": b_project}))
            .await["project"]["issues"]["edges"][0]["node"]["id"]
            .clone();
        let snapshot_before = snapshot(&app, &alice, &a).await;
        assert_eq!(
            bob.err("mutation($t: ID!, $s: [ID!]!) { mergeIssues(targetId: $t, sourceIds: $s) { id } }", json!({"t": b_issue, "s": [a.issue]}))
                .await,
            "NOT_FOUND"
        );
        assert_eq!(snapshot(&app, &alice, &a).await, snapshot_before);
    }
);
