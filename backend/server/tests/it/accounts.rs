//! Accounts, members and invites, API tokens, the audit log, projects and DSN keys — through
//! `/graphql` like the dashboard or an integration, with invite emails read from the SMTP sink
//! and DSN keys checked by sending events to the ingest endpoint.

use errorwatch_core::admin;
use errorwatch_core::secret::SecretString;
use serde_json::{Value, json};

use crate::harness::gql::{Gql, sign_up, user_with_account};
use crate::harness::{TestApp, db_test};

const PASSWORD: &str = "correct horse battery";
const ACCOUNT: &str = "query($id: ID!) { account(id: $id) { id slug name viewerRole } }";
const ACCOUNTS: &str = "{ viewer { accounts { id name viewerRole } } }";
const RENAME_ACCOUNT: &str =
    "mutation($id: ID!, $n: String!) { renameAccount(id: $id, name: $n) { id slug name } }";
const DELETE_ACCOUNT: &str =
    "mutation($id: ID!, $c: String!) { deleteAccount(id: $id, confirm: $c) }";
const INVITE: &str = "mutation($a: ID!, $e: String!, $r: Role!) { inviteMember(accountId: $a, email: $e, role: $r) { id email role status } }";
const ACCEPT: &str = "mutation($t: String!) { acceptInvite(token: $t) { id name viewerRole } }";
const REVOKE_INVITE: &str = "mutation($id: ID!) { revokeInvite(id: $id) { id status } }";
const INVITES: &str =
    "query($id: ID!) { account(id: $id) { invites { nodes { id email role status } } } }";
const MEMBERS: &str = "query($id: ID!, $first: Int, $after: String) { account(id: $id) { members(first: $first, after: $after) { nodes { id userId email role } pageInfo { hasNextPage endCursor } } } }";
const CHANGE_ROLE: &str =
    "mutation($id: ID!, $r: Role!) { changeMemberRole(id: $id, role: $r) { id email role } }";
const REMOVE_MEMBER: &str = "mutation($id: ID!) { removeMember(id: $id) }";
const LEAVE: &str = "mutation($id: ID!) { leaveAccount(id: $id) }";
const CREATE_TOKEN: &str = "mutation($a: ID!, $n: String!, $s: TokenScope!) { createApiToken(accountId: $a, name: $n, scope: $s) { secret token { id name scope prefix createdBy lastUsedAt revokedAt } } }";
const REVOKE_TOKEN: &str = "mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }";
const TOKENS: &str = "query($id: ID!) { account(id: $id) { apiTokens { nodes { id name scope prefix createdBy lastUsedAt revokedAt } } } }";
const AUDIT: &str = "query($id: ID!, $first: Int, $after: String) { account(id: $id) { auditLog(first: $first, after: $after) { nodes { actor action target details } pageInfo { hasNextPage endCursor } } } }";
const CREATE_PROJECT: &str = "mutation($a: ID!, $n: String!, $p: String) { createProject(accountId: $a, name: $n, platform: $p) { id slug name platform keys { id label dsn publicKey isActive } } }";
const PROJECT: &str = "query($id: ID!) { project(id: $id) { id slug name platform fingerprintRules account { id name } keys { id label publicKey dsn isActive rateLimitPerMinute } } }";
const RENAME_PROJECT: &str =
    "mutation($id: ID!, $n: String!) { renameProject(id: $id, name: $n) { id slug name } }";
const DELETE_PROJECT: &str = "mutation($id: ID!) { deleteProject(id: $id) }";
const SET_RULES: &str = "mutation($id: ID!, $r: String!) { setFingerprintRules(projectId: $id, rules: $r) { fingerprintRules } }";
const CREATE_KEY: &str = "mutation($id: ID!, $l: String!) { createProjectKey(projectId: $id, label: $l) { id label dsn publicKey isActive rateLimitPerMinute } }";
const UPDATE_KEY: &str = "mutation($id: ID!, $label: String, $active: Boolean, $limit: Int, $clear: Boolean, $rotate: Boolean) { updateProjectKey(id: $id, label: $label, isActive: $active, rateLimitPerMinute: $limit, clearRateLimit: $clear, rotate: $rotate) { id label dsn publicKey isActive rateLimitPerMinute } }";

/// Runs SQL on the app's database (tests only: to expire invites).
async fn execute(app: &TestApp, sql: &'static str) {
    match app.db.pool() {
        errorwatch_core::db::Pool::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        errorwatch_core::db::Pool::Postgres(pool) => {
            sqlx::query(sql).execute(pool).await.map(|_| ())
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `app.scalar` for a query built at run time.
async fn count(app: &TestApp, sql: String) -> i64 {
    app.scalar(Box::leak(sql.into_boxed_str())).await
}

/// The number in a global id (`acc_12` → 12).
fn num(id: &Value) -> i64 {
    let id = id.as_str().expect("id is a string");
    id.split_once('_')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("{id} is no global id"))
}

fn s(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is no string"))
        .to_owned()
}

/// The signed-in user's global id.
async fn user_id(gql: &Gql) -> i64 {
    num(&gql.ok("{ viewer { user { id } } }", json!({})).await["viewer"]["user"]["id"])
}

/// Invites `email` with `role` as `admin` and returns the emailed token.
async fn invite(app: &TestApp, admin: &Gql, account: &str, email: &str, role: &str) -> String {
    let before = app
        .smtp
        .to(email)
        .iter()
        .filter(|m| m.subject().contains("invited to"))
        .count();
    let data = admin
        .ok(INVITE, json!({"a": account, "e": email, "r": role}))
        .await;
    assert_eq!(data["inviteMember"]["email"], email);
    assert_eq!(data["inviteMember"]["role"], role);
    assert_eq!(data["inviteMember"]["status"], "PENDING");
    let mail = app.smtp.wait_for(email, "invited to", before + 1).await;
    assert!(
        mail.data.contains(&role.to_lowercase()),
        "the email names the role"
    );
    mail.token("accept-invite")
}

/// Signs `email` up and makes them a member of `account` with `role` through an invite.
pub(crate) async fn join(
    app: &TestApp,
    admin: &Gql,
    account: &str,
    email: &str,
    role: &str,
) -> Gql {
    let browser = sign_up(app, email).await;
    let token = invite(app, admin, account, email, role).await;
    let joined = browser.ok(ACCEPT, json!({"t": token})).await;
    assert_eq!(joined["acceptInvite"]["id"], account);
    assert_eq!(joined["acceptInvite"]["viewerRole"], role);
    browser
}

/// Every member of the account as (membership id, email, role), oldest first.
async fn members(gql: &Gql, account: &str) -> Vec<(String, String, String)> {
    let data = gql.ok(MEMBERS, json!({"id": account, "first": 100})).await;
    data["account"]["members"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|m| (s(&m["id"]), s(&m["email"]), s(&m["role"])))
        .collect()
}

async fn membership_of(gql: &Gql, account: &str, email: &str) -> String {
    members(gql, account)
        .await
        .into_iter()
        .find(|(_, e, _)| e == email)
        .unwrap_or_else(|| panic!("{email} is no member"))
        .0
}

/// The whole audit log as (actor, action, target), newest first.
async fn audit(gql: &Gql, account: &str) -> Vec<(String, String, String)> {
    let data = gql.ok(AUDIT, json!({"id": account, "first": 100})).await;
    data["account"]["auditLog"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|e| (s(&e["actor"]), s(&e["action"]), s(&e["target"])))
        .collect()
}

fn actions(log: &[(String, String, String)]) -> Vec<&str> {
    log.iter().map(|(_, action, _)| action.as_str()).collect()
}

/// Sends one event with the DSN's key to its project; returns the HTTP status.
async fn send_event(app: &TestApp, dsn: &str) -> u16 {
    let (front, project) = dsn.rsplit_once('/').expect("DSN ends with the project id");
    let key = front
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(key, _)| key)
        .expect("DSN has a key");
    let event = json!({
        "event_id": uuid::Uuid::new_v4().simple().to_string(),
        "message": "something broke",
        "platform": "python",
    });
    app.client
        .post(app.url(&format!("/api/{project}/store/")))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_version=7, sentry_key={key}"),
        )
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn create_project(gql: &Gql, account: &str, name: &str) -> Value {
    gql.ok(
        CREATE_PROJECT,
        json!({"a": account, "n": name, "p": "python"}),
    )
    .await["createProject"]
        .clone()
}

// ---- accounts ----

db_test!(
    async fn accounts_are_created_renamed_and_listed_with_the_viewers_role(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme Corp").await;
        let globex = ada.ok("mutation { createAccount(name: \"Globex\") { id slug name viewerRole } }", json!({})).await;
        assert_eq!(globex["createAccount"]["slug"], "globex");
        assert_eq!(globex["createAccount"]["viewerRole"], "OWNER");
        let globex = s(&globex["createAccount"]["id"]);
        let bob = join(&app, &ada, &acme, "bob@example.com", "MEMBER").await;

        let listed = ada.ok(ACCOUNTS, json!({})).await;
        assert_eq!(
            listed["viewer"]["accounts"],
            json!([
                {"id": acme, "name": "Acme Corp", "viewerRole": "OWNER"},
                {"id": globex, "name": "Globex", "viewerRole": "OWNER"},
            ])
        );
        let listed = bob.ok(ACCOUNTS, json!({})).await;
        assert_eq!(listed["viewer"]["accounts"], json!([{"id": acme, "name": "Acme Corp", "viewerRole": "MEMBER"}]));

        // Admins rename; the slug stays. Members may not; strangers do not see the account.
        let renamed = ada.ok(RENAME_ACCOUNT, json!({"id": acme, "n": "  Acme Inc  "})).await;
        assert_eq!(renamed["renameAccount"], json!({"id": acme, "slug": "acme-corp", "name": "Acme Inc"}));
        assert_eq!(bob.ok(ACCOUNT, json!({"id": acme})).await["account"]["name"], "Acme Inc");
        assert_eq!(bob.err(RENAME_ACCOUNT, json!({"id": acme, "n": "Bob's"})).await, "FORBIDDEN");
        assert_eq!(ada.err(RENAME_ACCOUNT, json!({"id": acme, "n": "   "})).await, "VALIDATION");
        assert_eq!(bob.err(ACCOUNT, json!({"id": globex})).await, "NOT_FOUND");
        assert_eq!(bob.err(RENAME_ACCOUNT, json!({"id": globex, "n": "Mine"})).await, "NOT_FOUND");
        assert_eq!(ada.ok(ACCOUNT, json!({"id": acme})).await["account"]["name"], "Acme Inc");
        assert_eq!(Gql::browser(&app).err(ACCOUNTS, json!({})).await, "UNAUTHENTICATED");

        let log = audit(&ada, &acme).await;
        let ada_id = user_id(&ada).await;
        assert_eq!(log[0], (format!("user:{ada_id}"), "account.rename".into(), "account:acme-corp".into()));
    }
);

db_test!(
    async fn deleting_an_account_needs_its_owner_and_slug_and_purges_its_data(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let bob = join(&app, &ada, &acme, "bob@example.com", "ADMIN").await;
        let (cy, globex) = user_with_account(&app, "cy@example.com", "Globex").await;
        let acme_project = create_project(&ada, &acme, "Web").await;
        let acme_dsn = s(&acme_project["keys"][0]["dsn"]);
        let globex_dsn = s(&create_project(&cy, &globex, "Web").await["keys"][0]["dsn"]);
        bob.ok(CREATE_TOKEN, json!({"a": acme, "n": "CI", "s": "READ"})).await;
        invite(&app, &ada, &acme, "pending@example.com", "VIEWER").await;
        assert_eq!(send_event(&app, &acme_dsn).await, 200);
        assert_eq!(send_event(&app, &globex_dsn).await, 200);
        app.run_pending_jobs().await;
        let acme_n = num(&Value::String(acme.clone()));
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM events e JOIN projects p ON p.id = e.project_id WHERE p.account_id = {acme_n}")).await, 1);

        assert_eq!(bob.err(DELETE_ACCOUNT, json!({"id": acme, "c": "acme"})).await, "FORBIDDEN", "admins may not");
        assert_eq!(cy.err(DELETE_ACCOUNT, json!({"id": acme, "c": "acme"})).await, "NOT_FOUND");
        assert_eq!(ada.err(DELETE_ACCOUNT, json!({"id": acme, "c": "Acme Inc"})).await, "VALIDATION");
        assert_eq!(ada.ok(ACCOUNT, json!({"id": acme})).await["account"]["slug"], "acme", "still there");

        let deleted = ada.ok(DELETE_ACCOUNT, json!({"id": acme, "c": "acme"})).await;
        assert_eq!(deleted["deleteAccount"], acme);
        // Gone at once for every member, and its keys are refused.
        assert_eq!(ada.err(ACCOUNT, json!({"id": acme})).await, "NOT_FOUND");
        assert_eq!(bob.err(ACCOUNT, json!({"id": acme})).await, "NOT_FOUND");
        assert_eq!(bob.ok(ACCOUNTS, json!({})).await["viewer"]["accounts"], json!([]));
        assert_eq!(ada.err("query($id: ID!) { project(id: $id) { id } }", json!({"id": acme_project["id"]})).await, "NOT_FOUND");
        assert_eq!(send_event(&app, &acme_dsn).await, 403);
        assert_eq!(send_event(&app, &globex_dsn).await, 200, "other accounts are untouched");

        app.run_pending_jobs().await;
        for table in ["projects", "project_keys", "memberships", "invites", "api_tokens", "audit_log"] {
            assert_eq!(count(&app, format!("SELECT COUNT(*) FROM {table} WHERE account_id = {acme_n}")).await, 0, "{table}");
        }
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM accounts WHERE id = {acme_n}")).await, 0);
        let acme_project_n = num(&acme_project["id"]);
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {acme_project_n}")).await, 0);
        // Globex keeps everything; the users stay.
        assert_eq!(app.scalar("SELECT COUNT(*) FROM events").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM projects").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM memberships").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 3);
        ada.ok(ACCOUNTS, json!({})).await;
    }
);

// ---- members and invites ----

db_test!(
    async fn invites_need_an_admin_and_owners_to_invite_owners(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let bob = join(&app, &ada, &acme, "bob@example.com", "ADMIN").await;
        let carl = join(&app, &ada, &acme, "carl@example.com", "MEMBER").await;
        let dora = join(&app, &ada, &acme, "dora@example.com", "VIEWER").await;

        let vars = |email: &str, role: &str| json!({"a": acme, "e": email, "r": role});
        assert_eq!(carl.err(INVITE, vars("new@example.com", "VIEWER")).await, "FORBIDDEN");
        assert_eq!(dora.err(INVITE, vars("new@example.com", "VIEWER")).await, "FORBIDDEN");
        assert_eq!(bob.err(INVITE, vars("new@example.com", "OWNER")).await, "FORBIDDEN", "admins cannot invite owners");
        assert_eq!(bob.err(INVITE, vars("Carl@Example.com", "ADMIN")).await, "VALIDATION", "already a member");
        assert_eq!(bob.err(INVITE, vars("not an address", "VIEWER")).await, "VALIDATION");
        assert_eq!(carl.err(INVITES, json!({"id": acme})).await, "FORBIDDEN", "invites are for admins");
        app.run_pending_jobs().await;
        assert!(app.smtp.to("new@example.com").is_empty(), "no email for refused invites");

        invite(&app, &bob, &acme, "new@example.com", "ADMIN").await;
        invite(&app, &ada, &acme, "boss@example.com", "OWNER").await;
        let listed = bob.ok(INVITES, json!({"id": acme})).await;
        let listed: Vec<(String, String, String)> = listed["account"]["invites"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|i| (s(&i["email"]), s(&i["role"]), s(&i["status"])))
            .collect();
        assert_eq!(&listed[..2], &[
            ("boss@example.com".into(), "OWNER".into(), "PENDING".into()),
            ("new@example.com".into(), "ADMIN".into(), "PENDING".into()),
        ], "newest first");
        assert_eq!(listed.len(), 5, "three accepted, two pending");

        // A stranger's account: NOT_FOUND, not FORBIDDEN.
        let (_eve, globex) = user_with_account(&app, "eve@example.com", "Globex").await;
        assert_eq!(bob.err(INVITE, json!({"a": globex, "e": "x@example.com", "r": "VIEWER"})).await, "NOT_FOUND");

        let log = audit(&ada, &acme).await;
        let bob_id = user_id(&bob).await;
        assert_eq!(log[1], (format!("user:{bob_id}"), "member.invite".into(), "user:new@example.com".into()));
    }
);

db_test!(
    async fn an_invite_works_once_and_only_for_the_invited_address(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let eve = sign_up(&app, "eve@example.com").await;
        let mallory = sign_up(&app, "mallory@example.com").await;
        let token = invite(&app, &ada, &acme, "eve@example.com", "MEMBER").await;

        assert_eq!(Gql::browser(&app).err(ACCEPT, json!({"t": token})).await, "UNAUTHENTICATED");
        assert_eq!(mallory.err(ACCEPT, json!({"t": token})).await, "VALIDATION", "another address");
        assert_eq!(mallory.err(ACCOUNT, json!({"id": acme})).await, "NOT_FOUND");
        assert_eq!(eve.err(ACCEPT, json!({"t": "ewi_forged"})).await, "VALIDATION");
        assert_eq!(eve.err(ACCEPT, json!({"t": "nonsense"})).await, "VALIDATION");

        let joined = eve.ok(ACCEPT, json!({"t": token})).await;
        assert_eq!(joined["acceptInvite"], json!({"id": acme, "name": "Acme", "viewerRole": "MEMBER"}));
        assert_eq!(eve.ok(ACCOUNT, json!({"id": acme})).await["account"]["viewerRole"], "MEMBER");
        assert_eq!(eve.err(ACCEPT, json!({"t": token})).await, "VALIDATION", "a used link is refused");
        assert_eq!(mallory.err(ACCEPT, json!({"t": token})).await, "VALIDATION");

        let listed = ada.ok(INVITES, json!({"id": acme})).await;
        assert_eq!(listed["account"]["invites"]["nodes"][0]["status"], "ACCEPTED");
        assert_eq!(
            members(&ada, &acme).await.into_iter().map(|(_, e, r)| (e, r)).collect::<Vec<_>>(),
            vec![("ada@example.com".into(), "OWNER".into()), ("eve@example.com".into(), "MEMBER".into())]
        );
        let log = audit(&ada, &acme).await;
        assert_eq!(log[0], ("system:invite accepted".into(), "member.join".into(), "user:eve@example.com".into()));
        assert_eq!(app.scalar("SELECT COUNT(*) FROM memberships").await, 2);
    }
);

db_test!(
    async fn expired_revoked_and_replaced_invites_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let carl = join(&app, &ada, &acme, "carl@example.com", "MEMBER").await;

        // Expired.
        let fay = sign_up(&app, "fay@example.com").await;
        let expired = invite(&app, &ada, &acme, "fay@example.com", "VIEWER").await;
        execute(&app, "UPDATE invites SET expires_at = created_at WHERE accepted_at IS NULL").await;
        assert_eq!(fay.err(ACCEPT, json!({"t": expired})).await, "VALIDATION");
        let listed = ada.ok(INVITES, json!({"id": acme})).await;
        assert_eq!(listed["account"]["invites"]["nodes"][0]["status"], "EXPIRED");

        // Revoked (admins only).
        let gus = sign_up(&app, "gus@example.com").await;
        let revoked = invite(&app, &ada, &acme, "gus@example.com", "MEMBER").await;
        let listed = ada.ok(INVITES, json!({"id": acme})).await;
        let gus_invite = listed["account"]["invites"]["nodes"][0]["id"].clone();
        assert_eq!(carl.err(REVOKE_INVITE, json!({"id": gus_invite})).await, "FORBIDDEN");
        let done = ada.ok(REVOKE_INVITE, json!({"id": gus_invite})).await;
        assert_eq!(done["revokeInvite"]["status"], "REVOKED");
        assert_eq!(gus.err(ACCEPT, json!({"t": revoked})).await, "VALIDATION");
        assert_eq!(gus.err(ACCOUNT, json!({"id": acme})).await, "NOT_FOUND");

        // Replaced: a newer invite to the same address revokes the older one.
        let hal = sign_up(&app, "hal@example.com").await;
        let older = invite(&app, &ada, &acme, "hal@example.com", "ADMIN").await;
        let newer = invite(&app, &ada, &acme, "hal@example.com", "VIEWER").await;
        assert_ne!(older, newer);
        assert_eq!(hal.err(ACCEPT, json!({"t": older})).await, "VALIDATION");
        let joined = hal.ok(ACCEPT, json!({"t": newer})).await;
        assert_eq!(joined["acceptInvite"]["viewerRole"], "VIEWER", "the newer invite's role");
        let listed = ada.ok(INVITES, json!({"id": acme})).await;
        let statuses: Vec<(String, String)> = listed["account"]["invites"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|i| (s(&i["email"]), s(&i["status"])))
            .collect();
        assert_eq!(&statuses[..4], &[
            ("hal@example.com".into(), "ACCEPTED".into()),
            ("hal@example.com".into(), "REVOKED".into()),
            ("gus@example.com".into(), "REVOKED".into()),
            ("fay@example.com".into(), "EXPIRED".into()),
        ]);
        let log = audit(&ada, &acme).await;
        assert!(log.contains(&(format!("user:{}", user_id(&ada).await), "member.invite_revoke".into(), "user:gus@example.com".into())), "{log:?}");
    }
);

db_test!(
    async fn signing_up_with_an_invite_signs_in_as_a_member(backend) {
        for policy in ["open", "first-user", "invite"] {
            let app = TestApp::spawn_with(backend, &[("ERRORWATCH_SIGNUP", policy)]).await;
            admin::create_user_unscoped(&app.db, "ada@example.com", SecretString::new(PASSWORD), false)
                .await
                .expect("user");
            let ada = Gql::browser(&app);
            ada.ok("mutation { login(email: \"ada@example.com\", password: \"correct horse battery\") { id } }", json!({})).await;
            let acme = s(&ada.ok("mutation { createAccount(name: \"Acme\") { id } }", json!({})).await["createAccount"]["id"]);
            let token = invite(&app, &ada, &acme, "ivy@example.com", "VIEWER").await;

            let signup = "mutation($e: String!, $p: String!, $t: String) { signUp(email: $e, password: $p, inviteToken: $t) { status user { email emailVerified } } }";
            let ivy = Gql::browser(&app);
            assert_eq!(ivy.err(signup, json!({"e": "other@example.com", "p": PASSWORD, "t": token})).await, "VALIDATION", "{policy}");
            assert_eq!(ivy.err(signup, json!({"e": "ivy@example.com", "p": PASSWORD, "t": "ewi_forged"})).await, "VALIDATION");
            let done = ivy.ok(signup, json!({"e": "Ivy@Example.com", "p": PASSWORD, "t": token})).await;
            assert_eq!(done["signUp"], json!({"status": "SIGNED_IN", "user": {"email": "ivy@example.com", "emailVerified": true}}));
            let listed = ivy.ok(ACCOUNTS, json!({})).await;
            assert_eq!(listed["viewer"]["accounts"], json!([{"id": acme, "name": "Acme", "viewerRole": "VIEWER"}]), "{policy}");
            // The link is used up, and the password works for later logins.
            assert_eq!(
                Gql::browser(&app).err(signup, json!({"e": "ivy@example.com", "p": PASSWORD, "t": token})).await,
                "VALIDATION"
            );
            Gql::browser(&app)
                .ok("mutation { login(email: \"ivy@example.com\", password: \"correct horse battery\") { id } }", json!({}))
                .await;
            let others = Gql::browser(&app)
                .exec(signup, json!({"e": "walk-in@example.com", "p": PASSWORD, "t": null}))
                .await;
            if policy != "open" {
                assert_eq!(others["errors"][0]["extensions"]["code"], "VALIDATION", "{others}");
            } else {
                assert_eq!(others["data"]["signUp"]["status"], "VERIFICATION_SENT", "{others}");
            }
            assert_eq!(
                members(&ada, &acme).await.into_iter().map(|(_, e, r)| (e, r)).collect::<Vec<_>>(),
                vec![("ada@example.com".into(), "OWNER".into()), ("ivy@example.com".into(), "VIEWER".into())]
            );
        }
    }
);

db_test!(
    async fn members_paginate_and_roles_change_within_the_rules(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let bob = join(&app, &ada, &acme, "bob@example.com", "ADMIN").await;
        let carl = join(&app, &ada, &acme, "carl@example.com", "MEMBER").await;
        let dora = join(&app, &ada, &acme, "dora@example.com", "VIEWER").await;

        // Pagination: two pages of two, oldest first; viewers may list members.
        let first = dora.ok(MEMBERS, json!({"id": acme, "first": 2})).await;
        let page = &first["account"]["members"];
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        let emails = |page: &Value| page["nodes"].as_array().expect("nodes").iter().map(|m| s(&m["email"])).collect::<Vec<_>>();
        assert_eq!(emails(page), ["ada@example.com", "bob@example.com"]);
        let second = dora.ok(MEMBERS, json!({"id": acme, "first": 2, "after": page["pageInfo"]["endCursor"]})).await;
        let page = &second["account"]["members"];
        assert_eq!(page["pageInfo"]["hasNextPage"], false);
        assert_eq!(emails(page), ["carl@example.com", "dora@example.com"]);
        assert_eq!(dora.err(MEMBERS, json!({"id": acme, "first": 0})).await, "VALIDATION");
        assert_eq!(dora.err(MEMBERS, json!({"id": acme, "after": "not-a-cursor"})).await, "VALIDATION");

        let ada_m = membership_of(&ada, &acme, "ada@example.com").await;
        let bob_m = membership_of(&ada, &acme, "bob@example.com").await;
        let carl_m = membership_of(&ada, &acme, "carl@example.com").await;
        let dora_m = membership_of(&ada, &acme, "dora@example.com").await;
        let role = |id: &str, role: &str| json!({"id": id, "r": role});

        // Admins change member ↔ viewer, but never grant or take the owner role.
        let changed = bob.ok(CHANGE_ROLE, role(&carl_m, "VIEWER")).await;
        assert_eq!(changed["changeMemberRole"], json!({"id": carl_m, "email": "carl@example.com", "role": "VIEWER"}));
        assert_eq!(carl.ok(ACCOUNT, json!({"id": acme})).await["account"]["viewerRole"], "VIEWER");
        bob.ok(CHANGE_ROLE, role(&carl_m, "MEMBER")).await;
        assert_eq!(bob.err(CHANGE_ROLE, role(&carl_m, "OWNER")).await, "FORBIDDEN");
        assert_eq!(bob.err(CHANGE_ROLE, role(&ada_m, "ADMIN")).await, "FORBIDDEN");
        assert_eq!(carl.err(CHANGE_ROLE, role(&dora_m, "MEMBER")).await, "FORBIDDEN");
        assert_eq!(dora.err(CHANGE_ROLE, role(&dora_m, "ADMIN")).await, "FORBIDDEN");
        // The last owner cannot be demoted; an owner can make another owner, then step down.
        assert_eq!(ada.err(CHANGE_ROLE, role(&ada_m, "ADMIN")).await, "VALIDATION");
        ada.ok(CHANGE_ROLE, role(&bob_m, "OWNER")).await;
        ada.ok(CHANGE_ROLE, role(&ada_m, "ADMIN")).await;
        assert_eq!(ada.ok(ACCOUNT, json!({"id": acme})).await["account"]["viewerRole"], "ADMIN");
        assert_eq!(bob.err(CHANGE_ROLE, role(&bob_m, "MEMBER")).await, "VALIDATION", "bob is the last owner now");

        // Removing: admins remove non-owners, not owners; members nobody.
        assert_eq!(carl.err(REMOVE_MEMBER, json!({"id": dora_m})).await, "FORBIDDEN");
        assert_eq!(ada.err(REMOVE_MEMBER, json!({"id": bob_m})).await, "FORBIDDEN");
        assert_eq!(ada.ok(REMOVE_MEMBER, json!({"id": carl_m})).await["removeMember"], carl_m);
        assert_eq!(carl.err(ACCOUNT, json!({"id": acme})).await, "NOT_FOUND");
        assert_eq!(carl.ok(ACCOUNTS, json!({})).await["viewer"]["accounts"], json!([]));
        assert_eq!(ada.err(REMOVE_MEMBER, json!({"id": carl_m})).await, "NOT_FOUND", "already gone");

        // Leaving: anyone but the last owner.
        assert_eq!(bob.err(LEAVE, json!({"id": acme})).await, "VALIDATION");
        assert_eq!(dora.ok(LEAVE, json!({"id": acme})).await["leaveAccount"], acme);
        assert_eq!(dora.err(ACCOUNT, json!({"id": acme})).await, "NOT_FOUND");
        assert_eq!(
            members(&bob, &acme).await.into_iter().map(|(_, e, r)| (e, r)).collect::<Vec<_>>(),
            vec![("ada@example.com".into(), "ADMIN".into()), ("bob@example.com".into(), "OWNER".into())]
        );

        // Another account's membership ids are NOT_FOUND.
        let (eve, _) = user_with_account(&app, "eve@example.com", "Globex").await;
        assert_eq!(eve.err(CHANGE_ROLE, role(&ada_m, "VIEWER")).await, "NOT_FOUND");
        assert_eq!(eve.err(REMOVE_MEMBER, json!({"id": ada_m})).await, "NOT_FOUND");

        let log = audit(&bob, &acme).await;
        let (ada_id, bob_id, dora_id) = (user_id(&ada).await, user_id(&bob).await, user_id(&dora).await);
        assert_eq!(&log[..6], &[
            (format!("user:{dora_id}"), "member.leave".into(), "user:dora@example.com".into()),
            (format!("user:{ada_id}"), "member.remove".into(), "user:carl@example.com".into()),
            (format!("user:{ada_id}"), "member.role_change".into(), "user:ada@example.com".into()),
            (format!("user:{ada_id}"), "member.role_change".into(), "user:bob@example.com".into()),
            (format!("user:{bob_id}"), "member.role_change".into(), "user:carl@example.com".into()),
            (format!("user:{bob_id}"), "member.role_change".into(), "user:carl@example.com".into()),
        ]);
    }
);

// ---- API tokens ----

db_test!(
    async fn api_tokens_are_shown_once_and_act_within_their_scope(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let globex = s(&ada.ok("mutation { createAccount(name: \"Globex\") { id } }", json!({})).await["createAccount"]["id"]);
        create_project(&ada, &acme, "Web").await;

        let mut secrets = Vec::new();
        let mut ids = Vec::new();
        for (name, scope) in [("Reader", "READ"), ("Writer", "WRITE"), ("Admin", "ADMIN")] {
            let created = ada.ok(CREATE_TOKEN, json!({"a": acme, "n": name, "s": scope})).await;
            let created = &created["createApiToken"];
            let secret = s(&created["secret"]);
            assert!(secret.starts_with("ewt_") && secret.len() > 40, "{secret}");
            assert_eq!(created["token"]["prefix"], secret[..8]);
            assert_eq!(created["token"]["scope"], scope);
            assert_eq!(created["token"]["createdBy"], "ada@example.com");
            assert_eq!(created["token"]["lastUsedAt"], Value::Null);
            secrets.push(secret);
            ids.push(s(&created["token"]["id"]));
        }
        // The listing never shows a secret, only its prefix.
        let listed = ada.ok(TOKENS, json!({"id": acme})).await;
        let text = listed.to_string();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a listing leaks a secret");
            assert!(text.contains(&secret[..8]));
        }
        assert_eq!(listed["account"]["apiTokens"]["nodes"].as_array().expect("nodes").len(), 3);

        let reader = Gql::token(&app, &secrets[0]);
        let writer = Gql::token(&app, &secrets[1]);
        let admin = Gql::token(&app, &secrets[2]);

        // Read: queries work, mutations do not.
        let seen = reader.ok("query($id: ID!) { account(id: $id) { viewerRole projects { nodes { name } } } }", json!({"id": acme})).await;
        assert_eq!(seen["account"], json!({"viewerRole": "VIEWER", "projects": {"nodes": [{"name": "Web"}]}}));
        assert_eq!(reader.err(CREATE_PROJECT, json!({"a": acme, "n": "Api"})).await, "FORBIDDEN");
        // Write: no admin things.
        assert_eq!(writer.ok(ACCOUNT, json!({"id": acme})).await["account"]["viewerRole"], "MEMBER");
        assert_eq!(writer.err(CREATE_PROJECT, json!({"a": acme, "n": "Api"})).await, "FORBIDDEN");
        assert_eq!(writer.err(INVITE, json!({"a": acme, "e": "x@example.com", "r": "VIEWER"})).await, "FORBIDDEN");
        assert_eq!(writer.err(RENAME_ACCOUNT, json!({"id": acme, "n": "Hacked"})).await, "FORBIDDEN");
        assert_eq!(writer.err(AUDIT, json!({"id": acme})).await, "FORBIDDEN");
        // Admin: admin things, as the token.
        let made = admin.ok(CREATE_PROJECT, json!({"a": acme, "n": "Api"})).await;
        assert_eq!(made["createProject"]["name"], "Api");
        assert_eq!(admin.err(DELETE_ACCOUNT, json!({"id": acme, "c": "acme"})).await, "FORBIDDEN", "tokens never act as owners");
        let ada_id = user_id(&ada).await;
        let log = audit(&admin, &acme).await;
        assert_eq!(log[0], (format!("token:{}:user:{ada_id}", num(&json!(ids[2]))), "project.create".into(), format!("project:{}", num(&made["createProject"]["id"]))));

        // A token sees only its own account, and acts as its creator.
        let me = admin.ok("{ viewer { user { email } apiTokenId accounts { id viewerRole } } }", json!({})).await;
        assert_eq!(me["viewer"], json!({"user": {"email": "ada@example.com"}, "apiTokenId": ids[2], "accounts": [{"id": acme, "viewerRole": "ADMIN"}]}));
        assert_eq!(admin.err(ACCOUNT, json!({"id": globex})).await, "NOT_FOUND");
        assert_eq!(admin.err(CREATE_PROJECT, json!({"a": globex, "n": "Api"})).await, "NOT_FOUND");
        // Tokens cannot create tokens or accounts, nor see sessions.
        assert_eq!(admin.err(CREATE_TOKEN, json!({"a": acme, "n": "Child", "s": "READ"})).await, "FORBIDDEN");
        assert_eq!(admin.err("mutation { createAccount(name: \"Mine\") { id } }", json!({})).await, "FORBIDDEN");
        assert_eq!(admin.err("{ viewer { sessions { id } } }", json!({})).await, "FORBIDDEN");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM accounts").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM api_tokens").await, 3);

        // Use is recorded.
        let listed = ada.ok(TOKENS, json!({"id": acme})).await;
        for token in listed["account"]["apiTokens"]["nodes"].as_array().expect("nodes") {
            assert!(token["lastUsedAt"].is_string(), "{token}");
            assert_eq!(token["revokedAt"], Value::Null);
        }

        // Revoked: the next request is a 401.
        let revoked = ada.ok(REVOKE_TOKEN, json!({"id": ids[0]})).await;
        assert!(revoked["revokeApiToken"]["revokedAt"].is_string());
        let (status, body) = reader.raw(ACCOUNT, json!({"id": acme}), false).await;
        assert_eq!(status, 401);
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        writer.ok(ACCOUNT, json!({"id": acme})).await;
        let log = audit(&ada, &acme).await;
        assert_eq!(log[0], (format!("user:{ada_id}"), "token.revoke".into(), format!("token:{}", num(&json!(ids[0])))));
        assert_eq!(
            actions(&log),
            ["token.revoke", "project.create", "token.create", "token.create", "token.create", "project.create"]
        );
    }
);

db_test!(
    async fn a_token_never_exceeds_its_creators_current_role(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let bob = join(&app, &ada, &acme, "bob@example.com", "ADMIN").await;
        let created = bob.ok(CREATE_TOKEN, json!({"a": acme, "n": "Deploys", "s": "ADMIN"})).await;
        let secret = s(&created["createApiToken"]["secret"]);
        let token_id = s(&created["createApiToken"]["token"]["id"]);
        let token = Gql::token(&app, &secret);
        token.ok(CREATE_PROJECT, json!({"a": acme, "n": "One"})).await;

        // Bob becomes a viewer: so does his admin token.
        let bob_m = membership_of(&ada, &acme, "bob@example.com").await;
        ada.ok(CHANGE_ROLE, json!({"id": bob_m, "r": "VIEWER"})).await;
        assert_eq!(token.ok(ACCOUNT, json!({"id": acme})).await["account"]["viewerRole"], "VIEWER");
        assert_eq!(token.ok(ACCOUNTS, json!({})).await["viewer"]["accounts"][0]["viewerRole"], "VIEWER");
        assert_eq!(token.err(CREATE_PROJECT, json!({"a": acme, "n": "Two"})).await, "FORBIDDEN");
        // As a viewer, Bob may only create read tokens, and sees only his own.
        assert_eq!(bob.err(CREATE_TOKEN, json!({"a": acme, "n": "More", "s": "WRITE"})).await, "FORBIDDEN");
        assert_eq!(bob.err(CREATE_TOKEN, json!({"a": acme, "n": "More", "s": "ADMIN"})).await, "FORBIDDEN");
        bob.ok(CREATE_TOKEN, json!({"a": acme, "n": "Read only", "s": "READ"})).await;
        ada.ok(CREATE_TOKEN, json!({"a": acme, "n": "Ada's", "s": "READ"})).await;
        let names = |data: &Value| data["account"]["apiTokens"]["nodes"].as_array().expect("nodes").iter().map(|t| s(&t["name"])).collect::<Vec<_>>();
        assert_eq!(names(&bob.ok(TOKENS, json!({"id": acme})).await), ["Read only", "Deploys"]);
        assert_eq!(names(&ada.ok(TOKENS, json!({"id": acme})).await), ["Ada's", "Read only", "Deploys"]);
        // Only its creator or an admin revokes a token.
        let adas = s(&ada.ok(TOKENS, json!({"id": acme})).await["account"]["apiTokens"]["nodes"][0]["id"]);
        assert_eq!(bob.err(REVOKE_TOKEN, json!({"id": adas})).await, "FORBIDDEN");

        // Promoted again, the token gets its power back (never above its scope).
        ada.ok(CHANGE_ROLE, json!({"id": bob_m, "r": "OWNER"})).await;
        assert_eq!(token.ok(ACCOUNT, json!({"id": acme})).await["account"]["viewerRole"], "ADMIN");
        ada.ok(CHANGE_ROLE, json!({"id": bob_m, "r": "ADMIN"})).await;

        // Bob is removed: his token dies with the membership (401, like a revoked token).
        ada.ok(REMOVE_MEMBER, json!({"id": bob_m})).await;
        for query in [ACCOUNTS, ACCOUNT, CREATE_PROJECT] {
            let (status, body) = token.raw(query, json!({"id": acme, "a": acme, "n": "Three"}), false).await;
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        }
        let listed = ada.ok(TOKENS, json!({"id": acme})).await;
        let deploys = listed["account"]["apiTokens"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|t| t["id"] == token_id)
            .expect("still listed")
            .clone();
        assert_eq!(deploys["createdBy"], Value::Null, "the creator left");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM projects").await, 1);
    }
);

// ---- audit log ----

db_test!(
    async fn the_audit_log_records_who_did_what_for_admins_only(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let ada_id = user_id(&ada).await;
        let me = format!("user:{ada_id}");
        ada.ok(RENAME_ACCOUNT, json!({"id": acme, "n": "Acme Inc"})).await;
        let project = create_project(&ada, &acme, "Web").await;
        let p = num(&project["id"]);
        ada.ok(RENAME_PROJECT, json!({"id": project["id"], "n": "Website"})).await;
        let key = ada.ok(CREATE_KEY, json!({"id": project["id"], "l": "Backend"})).await;
        let key_id = key["createProjectKey"]["id"].clone();
        let k = num(&key_id);
        ada.ok(UPDATE_KEY, json!({"id": key_id, "rotate": true})).await;
        ada.ok(UPDATE_KEY, json!({"id": key_id, "active": false})).await;
        let bob = join(&app, &ada, &acme, "bob@example.com", "ADMIN").await;
        let bob_id = user_id(&bob).await;
        let carl = join(&app, &ada, &acme, "carl@example.com", "MEMBER").await;
        let carl_id = user_id(&carl).await;
        assert_eq!(carl.err(AUDIT, json!({"id": acme})).await, "FORBIDDEN", "members do not read the log");
        let bob_m = membership_of(&ada, &acme, "bob@example.com").await;
        ada.ok(CHANGE_ROLE, json!({"id": bob_m, "r": "MEMBER"})).await;
        assert_eq!(bob.err(AUDIT, json!({"id": acme})).await, "FORBIDDEN");
        let token = ada.ok(CREATE_TOKEN, json!({"a": acme, "n": "CI", "s": "ADMIN"})).await;
        let t = num(&token["createApiToken"]["token"]["id"]);
        let by_token = Gql::token(&app, &s(&token["createApiToken"]["secret"]));
        let second = by_token.ok(CREATE_PROJECT, json!({"a": acme, "n": "Api"})).await;
        let p2 = num(&second["createProject"]["id"]);
        ada.ok(REVOKE_TOKEN, json!({"id": token["createApiToken"]["token"]["id"]})).await;
        ada.ok(REMOVE_MEMBER, json!({"id": bob_m})).await;
        carl.ok(LEAVE, json!({"id": acme})).await;
        ada.ok(DELETE_PROJECT, json!({"id": project["id"]})).await;

        let joined = "system:invite accepted".to_owned();
        let mut expected: Vec<(String, &str, String)> = vec![
            (me.clone(), "account.rename", "account:acme".into()),
            (me.clone(), "project.create", format!("project:{p}")),
            (me.clone(), "project.rename", format!("project:{p}")),
            (me.clone(), "key.create", format!("key:{k}")),
            (me.clone(), "key.rotate", format!("key:{k}")),
            (me.clone(), "key.disable", format!("key:{k}")),
            (me.clone(), "member.invite", "user:bob@example.com".into()),
            (joined.clone(), "member.join", "user:bob@example.com".into()),
            (me.clone(), "member.invite", "user:carl@example.com".into()),
            (joined.clone(), "member.join", "user:carl@example.com".into()),
            (me.clone(), "member.role_change", "user:bob@example.com".into()),
            (me.clone(), "token.create", format!("token:{t}")),
            (format!("token:{t}:user:{ada_id}"), "project.create", format!("project:{p2}")),
            (me.clone(), "token.revoke", format!("token:{t}")),
            (me.clone(), "member.remove", "user:bob@example.com".into()),
            (format!("user:{carl_id}"), "member.leave", "user:carl@example.com".into()),
            (me.clone(), "project.delete", format!("project:{p}")),
        ];
        expected.reverse();
        let log = audit(&ada, &acme).await;
        let log: Vec<(String, &str, String)> = log.iter().map(|(a, b, c)| (a.clone(), b.as_str(), c.clone())).collect();
        assert_eq!(log, expected);
        assert_ne!(bob_id, ada_id);

        // Details are JSON; pages of the log follow each other.
        let page = ada.ok(AUDIT, json!({"id": acme, "first": 10})).await;
        let page = &page["account"]["auditLog"];
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        let details: Value = serde_json::from_str(page["nodes"][6]["details"].as_str().expect("details")).expect("json");
        assert_eq!(details, json!({"from": "admin", "to": "member"}), "{page:#}");
        let rest = ada.ok(AUDIT, json!({"id": acme, "first": 10, "after": page["pageInfo"]["endCursor"]})).await;
        let rest = &rest["account"]["auditLog"];
        assert_eq!(rest["pageInfo"]["hasNextPage"], false);
        assert_eq!(rest["nodes"].as_array().expect("nodes").len(), expected.len() - 10);
        assert_eq!(rest["nodes"][0]["action"], expected[10].1);
    }
);

// ---- projects and keys ----

db_test!(
    async fn projects_and_keys_are_managed_by_admins(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let carl = join(&app, &ada, &acme, "carl@example.com", "MEMBER").await;

        assert_eq!(ada.err(CREATE_PROJECT, json!({"a": acme, "n": "Web", "p": "cobol"})).await, "VALIDATION");
        assert_eq!(carl.err(CREATE_PROJECT, json!({"a": acme, "n": "Web", "p": "python"})).await, "FORBIDDEN");
        let created = create_project(&ada, &acme, "Web Shop").await;
        assert_eq!(created["slug"], "web-shop");
        assert_eq!(created["platform"], "python");
        assert_eq!(ada.err(CREATE_PROJECT, json!({"a": acme, "n": "web shop"})).await, "VALIDATION", "same slug");
        let id = created["id"].clone();
        let first_dsn = s(&created["keys"][0]["dsn"]);
        assert!(first_dsn.ends_with(&format!("/{}", num(&id))), "{first_dsn}");

        let seen = carl.ok(PROJECT, json!({"id": id})).await;
        let seen = &seen["project"];
        assert_eq!(seen["name"], "Web Shop");
        assert_eq!(seen["account"], json!({"id": acme, "name": "Acme"}));
        assert_eq!(seen["keys"][0]["isActive"], true);
        assert_eq!(seen["fingerprintRules"], "");

        assert_eq!(carl.err(RENAME_PROJECT, json!({"id": id, "n": "Mine"})).await, "FORBIDDEN");
        let renamed = ada.ok(RENAME_PROJECT, json!({"id": id, "n": "Storefront"})).await;
        assert_eq!(renamed["renameProject"], json!({"id": id, "slug": "web-shop", "name": "Storefront"}));

        // Fingerprint rules: checked, stored, read back.
        assert_eq!(ada.err(SET_RULES, json!({"id": id, "r": "this is -> not [a rule"})).await, "VALIDATION");
        assert_eq!(carl.err(SET_RULES, json!({"id": id, "r": ""})).await, "FORBIDDEN");
        let rules = "error.type:DatabaseUnavailable -> system-down";
        let set = ada.ok(SET_RULES, json!({"id": id, "r": rules})).await;
        assert_eq!(set["setFingerprintRules"]["fingerprintRules"], rules);
        assert_eq!(carl.ok(PROJECT, json!({"id": id})).await["project"]["fingerprintRules"], rules);

        // A second key; snippets carry the DSN for every platform.
        assert_eq!(carl.err(CREATE_KEY, json!({"id": id, "l": "Mine"})).await, "FORBIDDEN");
        let key = ada.ok(CREATE_KEY, json!({"id": id, "l": "Backend"})).await["createProjectKey"].clone();
        assert_eq!(key["label"], "Backend");
        assert_eq!(key["isActive"], true);
        let key_id = key["id"].clone();
        let dsn = s(&key["dsn"]);
        assert_ne!(dsn, first_dsn);
        let snippets = ada
            .ok("query($id: ID!) { project(id: $id) { keys { dsn snippets { platform code } python: snippets(platform: \"python\") { platform install code } } } }", json!({"id": id}))
            .await;
        let keys = snippets["project"]["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 2);
        for key in keys {
            let all = key["snippets"].as_array().expect("snippets");
            let platforms: Vec<String> = all.iter().map(|x| s(&x["platform"])).collect();
            assert_eq!(platforms.len(), 9, "{platforms:?}");
            assert_eq!(platforms[0], "python", "the project's platform first");
            for platform in ["python", "node", "javascript", "rust", "go", "java", "ruby", "php", "dotnet"] {
                assert!(platforms.iter().any(|p| p == platform), "{platform} missing");
            }
            for snippet in all {
                assert!(s(&snippet["code"]).contains(&s(&key["dsn"])), "{snippet}");
            }
            let python = key["python"].as_array().expect("one");
            assert_eq!(python.len(), 1);
            assert_eq!(python[0]["platform"], "python");
            assert!(s(&python[0]["code"]).contains(&s(&key["dsn"])));
        }
        assert_eq!(
            ada.err("query($id: ID!) { project(id: $id) { keys { snippets(platform: \"cobol\") { code } } } }", json!({"id": id})).await,
            "VALIDATION"
        );

        // Both keys work; rotation retires the old public key at once.
        assert_eq!(send_event(&app, &first_dsn).await, 200);
        assert_eq!(send_event(&app, &dsn).await, 200);
        assert_eq!(carl.err(UPDATE_KEY, json!({"id": key_id, "rotate": true})).await, "FORBIDDEN");
        let rotated = ada.ok(UPDATE_KEY, json!({"id": key_id, "rotate": true})).await["updateProjectKey"].clone();
        assert_ne!(rotated["publicKey"], key["publicKey"]);
        assert_eq!(rotated["id"], key_id);
        let new_dsn = s(&rotated["dsn"]);
        assert_eq!(send_event(&app, &dsn).await, 403, "the old DSN is refused");
        assert_eq!(send_event(&app, &new_dsn).await, 200);

        // Disable and enable.
        let off = ada.ok(UPDATE_KEY, json!({"id": key_id, "active": false})).await;
        assert_eq!(off["updateProjectKey"]["isActive"], false);
        assert_eq!(send_event(&app, &new_dsn).await, 403);
        assert_eq!(send_event(&app, &first_dsn).await, 200, "other keys keep working");
        let on = ada.ok(UPDATE_KEY, json!({"id": key_id, "active": true, "label": "Server"})).await;
        assert_eq!(on["updateProjectKey"]["isActive"], true);
        assert_eq!(on["updateProjectKey"]["label"], "Server");
        assert_eq!(send_event(&app, &new_dsn).await, 200);

        // Rate limits: set, clear, bounds.
        let limited = ada.ok(UPDATE_KEY, json!({"id": key_id, "limit": 120})).await;
        assert_eq!(limited["updateProjectKey"]["rateLimitPerMinute"], 120);
        assert_eq!(carl.ok(PROJECT, json!({"id": id})).await["project"]["keys"][1]["rateLimitPerMinute"], 120);
        let cleared = ada.ok(UPDATE_KEY, json!({"id": key_id, "clear": true})).await;
        assert_eq!(cleared["updateProjectKey"]["rateLimitPerMinute"], Value::Null);
        for bad in [0, -5, 1_000_001] {
            assert_eq!(ada.err(UPDATE_KEY, json!({"id": key_id, "limit": bad})).await, "VALIDATION", "{bad}");
        }
        assert_eq!(carl.ok(PROJECT, json!({"id": id})).await["project"]["keys"][1]["rateLimitPerMinute"], Value::Null);

        // Delete: gone at once, keys refused, data purged by the job.
        app.run_pending_jobs().await;
        let p = num(&id);
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {p}")).await, 5);
        assert_eq!(carl.err(DELETE_PROJECT, json!({"id": id})).await, "FORBIDDEN");
        assert_eq!(ada.ok(DELETE_PROJECT, json!({"id": id})).await["deleteProject"], id);
        assert_eq!(ada.err(PROJECT, json!({"id": id})).await, "NOT_FOUND");
        assert_eq!(ada.err(RENAME_PROJECT, json!({"id": id, "n": "Back"})).await, "NOT_FOUND");
        assert_eq!(ada.err(UPDATE_KEY, json!({"id": key_id, "active": true})).await, "NOT_FOUND");
        assert_eq!(ada.err(DELETE_PROJECT, json!({"id": id})).await, "NOT_FOUND");
        assert_eq!(send_event(&app, &first_dsn).await, 403);
        assert_eq!(send_event(&app, &new_dsn).await, 403);
        let listed = ada.ok("query($id: ID!) { account(id: $id) { projects { nodes { id } } } }", json!({"id": acme})).await;
        assert_eq!(listed["account"]["projects"]["nodes"], json!([]));
        app.run_pending_jobs().await;
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM events WHERE project_id = {p}")).await, 0);
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM issues WHERE project_id = {p}")).await, 0);
        assert_eq!(count(&app, format!("SELECT COUNT(*) FROM project_keys WHERE project_id = {p}")).await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM projects").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM accounts").await, 1, "the account stays");
    }
);

db_test!(
    async fn malformed_ids_are_validation_errors(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let project = create_project(&ada, &acme, "Web").await;
        let key = project["keys"][0]["id"].clone();
        for (query, id) in [
            (PROJECT, json!("prj_x")),
            (PROJECT, json!(acme)),
            (PROJECT, json!("prj_")),
            (PROJECT, json!("prj_-1")),
            (PROJECT, json!("12")),
            (ACCOUNT, project["id"].clone()),
            (ACCOUNT, json!("acc_1x")),
            (DELETE_PROJECT, key.clone()),
            (REMOVE_MEMBER, json!(acme)),
            (REVOKE_TOKEN, json!("tok_")),
            (REVOKE_INVITE, json!("mem_1")),
        ] {
            assert_eq!(ada.err(query, json!({"id": id})).await, "VALIDATION", "{id} for {query}");
        }
        assert_eq!(ada.err(UPDATE_KEY, json!({"id": project["id"], "active": false})).await, "VALIDATION");
        assert_eq!(ada.err(CREATE_PROJECT, json!({"a": project["id"], "n": "Api"})).await, "VALIDATION");
        assert_eq!(ada.err(CHANGE_ROLE, json!({"id": "mem_one", "r": "VIEWER"})).await, "VALIDATION");
        // Well-formed ids of nothing are NOT_FOUND.
        assert_eq!(ada.err(PROJECT, json!({"id": "prj_999999"})).await, "NOT_FOUND");
        assert_eq!(ada.err(ACCOUNT, json!({"id": "acc_999999"})).await, "NOT_FOUND");
        assert_eq!(ada.err(UPDATE_KEY, json!({"id": "key_999999", "active": false})).await, "NOT_FOUND");
        // Nothing changed.
        assert_eq!(ada.ok(PROJECT, json!({"id": project["id"]})).await["project"]["keys"][0]["isActive"], true);
    }
);

db_test!(
    async fn read_tokens_cannot_revoke_other_tokens_or_leave(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let bob = join(&app, &ada, &acme, "bob@example.com", "ADMIN").await;
        let admin = bob.ok(CREATE_TOKEN, json!({"a": acme, "n": "Deploys", "s": "ADMIN"})).await;
        let admin_id = admin["createApiToken"]["token"]["id"].clone();
        let read = bob.ok(CREATE_TOKEN, json!({"a": acme, "n": "Dashboards", "s": "READ"})).await;
        let read_id = read["createApiToken"]["token"]["id"].clone();
        let reader = Gql::token(&app, &s(&read["createApiToken"]["secret"]));

        // A read token acts as a viewer: it may not revoke its creator's other tokens, nor end
        // its creator's membership.
        assert_eq!(reader.err(REVOKE_TOKEN, json!({"id": admin_id})).await, "FORBIDDEN");
        assert_eq!(reader.err(LEAVE, json!({"id": acme})).await, "FORBIDDEN");
        assert_eq!(members(&ada, &acme).await.len(), 2, "bob is still a member");
        let admin_token = Gql::token(&app, &s(&admin["createApiToken"]["secret"]));
        assert_eq!(admin_token.err(LEAVE, json!({"id": acme})).await, "FORBIDDEN", "not even an admin token");
        admin_token.ok(ACCOUNT, json!({"id": acme})).await;

        // A token may revoke itself; an admin token may revoke others; the creator signed in may
        // revoke their own.
        let done = reader.ok(REVOKE_TOKEN, json!({"id": read_id})).await;
        assert!(done["revokeApiToken"]["revokedAt"].is_string());
        assert_eq!(reader.raw(ACCOUNT, json!({"id": acme}), false).await.0, 401);
        let other = bob.ok(CREATE_TOKEN, json!({"a": acme, "n": "Other", "s": "READ"})).await;
        admin_token.ok(REVOKE_TOKEN, json!({"id": other["createApiToken"]["token"]["id"]})).await;
        bob.ok(REVOKE_TOKEN, json!({"id": admin_id})).await;
        assert_eq!(admin_token.raw(ACCOUNT, json!({"id": acme}), false).await.0, 401);
        // Signed in, bob may still leave.
        bob.ok(LEAVE, json!({"id": acme})).await;
        assert_eq!(bob.err(ACCOUNT, json!({"id": acme})).await, "NOT_FOUND");
    }
);

db_test!(
    async fn keys_from_mutations_list_the_projects_platform_first(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let project = ada.ok(CREATE_PROJECT, json!({"a": acme, "n": "Api", "p": "go"})).await["createProject"].clone();
        let first = |data: &Value, field: &str| s(&data[field]["snippets"][0]["platform"]);
        let created = ada
            .ok("mutation($id: ID!) { createProjectKey(projectId: $id, label: \"Two\") { dsn snippets { platform code } } }", json!({"id": project["id"]}))
            .await;
        assert_eq!(first(&created, "createProjectKey"), "go");
        assert!(s(&created["createProjectKey"]["snippets"][0]["code"]).contains(&s(&created["createProjectKey"]["dsn"])));
        let updated = ada
            .ok("mutation($id: ID!) { updateProjectKey(id: $id, rotate: true) { snippets { platform } } }", json!({"id": project["keys"][0]["id"]}))
            .await;
        assert_eq!(first(&updated, "updateProjectKey"), "go");
        let listed = ada.ok("query($id: ID!) { project(id: $id) { keys { snippets { platform } } } }", json!({"id": project["id"]})).await;
        for key in listed["project"]["keys"].as_array().expect("keys") {
            assert_eq!(key["snippets"][0]["platform"], "go");
        }
    }
);

db_test!(
    async fn invites_to_a_deleted_account_are_refused_before_the_purge(backend) {
        let app = TestApp::spawn(backend).await;
        let (ada, acme) = user_with_account(&app, "ada@example.com", "Acme").await;
        let zed = sign_up(&app, "zed@example.com").await;
        let to_member = invite(&app, &ada, &acme, "zed@example.com", "MEMBER").await;
        let to_new = invite(&app, &ada, &acme, "new@example.com", "MEMBER").await;
        // Deleted, and its purge has not run yet (the job would remove the invites).
        execute(&app, "UPDATE accounts SET deleted_at = created_at").await;
        assert_eq!(zed.err(ACCEPT, json!({"t": to_member})).await, "VALIDATION");
        let signup = "mutation($t: String) { signUp(email: \"new@example.com\", password: \"correct horse battery\", inviteToken: $t) { status } }";
        let anon = Gql::browser(&app);
        assert_eq!(anon.err(signup, json!({"t": to_new})).await, "VALIDATION");
        assert!(anon.cookie("ew_session").is_none(), "nobody signed in");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM memberships").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM users WHERE email = 'new@example.com'").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM invites WHERE accepted_at IS NOT NULL").await, 0);
    }
);
