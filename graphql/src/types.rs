//! Object types. Objects of tenant data hold the [`AccountScope`] they were read under, so
//! nested fields stay inside the same account without checking membership again.

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use errorwatch_core::dsn;
use errorwatch_core::ids::{AccountId, UserId};
use errorwatch_core::scope::{
    AccountScope, Principal, Role as CoreRole, TokenScope as CoreTokenScope,
};
use errorwatch_core::service::{self, Page};
use std::collections::HashMap;
use std::sync::Arc;

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql, coded};
use crate::ids::{Kind, to_id};

/// A role in an account.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Read-only.
    Viewer,
    /// Works on issues.
    Member,
    /// Manages projects, keys, members and invites.
    Admin,
    /// Everything, including deleting the account.
    Owner,
}

impl From<CoreRole> for Role {
    fn from(role: CoreRole) -> Self {
        match role {
            CoreRole::Viewer => Role::Viewer,
            CoreRole::Member => Role::Member,
            CoreRole::Admin => Role::Admin,
            CoreRole::Owner => Role::Owner,
        }
    }
}

impl From<Role> for CoreRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Viewer => CoreRole::Viewer,
            Role::Member => CoreRole::Member,
            Role::Admin => CoreRole::Admin,
            Role::Owner => CoreRole::Owner,
        }
    }
}

/// What an API token may do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// Read (acts as a viewer).
    Read,
    /// Read and work on issues (acts as a member).
    Write,
    /// Also manage projects, keys and members (acts as an admin).
    Admin,
    /// For CI (sentry-cli, the bundler plugins): create releases and deploys and upload
    /// source maps; otherwise read only.
    Releases,
}

impl From<CoreTokenScope> for TokenScope {
    fn from(scope: CoreTokenScope) -> Self {
        match scope {
            CoreTokenScope::Read => TokenScope::Read,
            CoreTokenScope::Write => TokenScope::Write,
            CoreTokenScope::Admin => TokenScope::Admin,
            CoreTokenScope::Releases => TokenScope::Releases,
        }
    }
}

impl From<TokenScope> for CoreTokenScope {
    fn from(scope: TokenScope) -> Self {
        match scope {
            TokenScope::Read => CoreTokenScope::Read,
            TokenScope::Write => CoreTokenScope::Write,
            TokenScope::Admin => CoreTokenScope::Admin,
            TokenScope::Releases => CoreTokenScope::Releases,
        }
    }
}

/// Where an invite stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InviteStatus {
    /// Waiting to be accepted.
    Pending,
    /// Accepted.
    Accepted,
    /// Revoked by an admin (or replaced by a newer invite).
    Revoked,
    /// The link expired.
    Expired,
}

/// Default page size of connections.
pub const DEFAULT_PAGE: i32 = 50;

/// Reads Relay arguments (forward pagination only): `first` 1..=100 (default 50), `after` a
/// cursor from a previous page.
pub fn page(first: Option<i32>, after: Option<String>) -> GqlResult<Page> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=Page::MAX as i32).contains(&first) {
        return Err(coded(
            "VALIDATION",
            format!("first must be between 1 and {}", Page::MAX),
        ));
    }
    let after = match after {
        None => None,
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
            coded(
                "VALIDATION",
                format!("{cursor:?} is not a cursor of this connection"),
            )
        })?),
    };
    Ok(Page {
        after,
        first: first as u64,
    })
}

/// Builds a connection from a page of rows; the cursor of a row is its id.
pub fn connection<T: async_graphql::OutputType>(
    rows: Vec<(i64, T)>,
    after: bool,
    more: bool,
) -> Connection<String, T> {
    let mut connection = Connection::new(after, more);
    connection.edges.extend(
        rows.into_iter()
            .map(|(id, node)| Edge::new(id.to_string(), node)),
    );
    connection
}

/// The signed-in user (or the creator of the API token in use).
pub struct User(pub service::user::User);

#[Object]
impl User {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::User, self.0.id.0)
    }
    /// Email address (lower-case).
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// The address was confirmed.
    async fn email_verified(&self) -> bool {
        self.0.email_verified
    }
    /// May administer the installation (the first user of a self-hosted server).
    async fn is_superuser(&self) -> bool {
        self.0.is_superuser
    }
    /// Signed up.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Who is asking.
pub struct Viewer(pub Principal);

#[Object]
impl Viewer {
    /// The user.
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<User> {
        Ok(User(ctx.request().auth.viewer(&self.0).await.gql()?))
    }
    /// Accounts the viewer can act in (with an API token: only the token's account).
    async fn accounts(&self, ctx: &Context<'_>) -> GqlResult<Vec<Account>> {
        let request = ctx.request();
        let rows = service::account::list_accounts(&request.auth, &self.0)
            .await
            .gql()?;
        let mut out = Vec::with_capacity(rows.len());
        for (account, _) in rows {
            let scope = ctx.scope(account.id).await?;
            out.push(Account { scope, account });
        }
        Ok(out)
    }
    /// Live browser sessions of the user (not available to API tokens).
    async fn sessions(&self, ctx: &Context<'_>) -> GqlResult<Vec<Session>> {
        Ok(ctx
            .request()
            .auth
            .list_sessions(&self.0)
            .await
            .gql()?
            .into_iter()
            .map(Session)
            .collect())
    }
    /// The API token authenticating this request, if any.
    async fn api_token_id(&self) -> Option<ID> {
        self.0
            .api_token()
            .map(|(id, _, _)| to_id(Kind::ApiToken, id.0))
    }
}

/// A browser session.
pub struct Session(pub service::auth::SessionInfo);

#[Object]
impl Session {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Session, self.0.id.0)
    }
    /// Signed in.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Last refreshed.
    async fn last_used_at(&self) -> DateTime<Utc> {
        self.0.last_used_at
    }
    /// Browser user agent.
    async fn user_agent(&self) -> &str {
        &self.0.user_agent
    }
    /// Address at sign-in.
    async fn ip(&self) -> &str {
        &self.0.ip
    }
    /// The session of this request.
    async fn current(&self) -> bool {
        self.0.current
    }
}

/// A customer account (tenant): projects, members, tokens.
pub struct Account {
    /// The scope it was read under.
    pub scope: AccountScope,
    /// The row.
    pub account: service::account::Account,
}

#[Object]
impl Account {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Account, self.account.id.0)
    }
    /// URL-safe unique name (kept on rename).
    async fn slug(&self) -> &str {
        &self.account.slug
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.account.name
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.account.created_at
    }
    /// The viewer's role here (for an API token, the role it acts with).
    async fn viewer_role(&self) -> Role {
        self.scope.role().into()
    }
    /// Plan, billing period and usage against the plan's quotas.
    async fn billing(&self, ctx: &Context<'_>) -> GqlResult<crate::billing::Billing> {
        crate::billing::account_billing(ctx, &self.scope).await
    }
    /// Projects, oldest first.
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Project>> {
        let page = page(first, after)?;
        let url = &ctx.request().public_url;
        let all = service::project::list_projects(&self.scope, url)
            .await
            .gql()?;
        let mut rows: Vec<(i64, Project)> = all
            .into_iter()
            .filter(|p| page.after.is_none_or(|after| p.id.0 > after))
            .map(|project| {
                (
                    project.id.0,
                    Project {
                        scope: self.scope.clone(),
                        project,
                    },
                )
            })
            .collect();
        let more = rows.len() > page.first as usize;
        rows.truncate(page.first as usize);
        Ok(connection(rows, page.after.is_some(), more))
    }
    /// Issues across the account's projects matching `query` (Sentry's search syntax; default
    /// `is:unresolved`), in `sort` order (default `LAST_SEEN`).
    async fn issues(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        sort: Option<crate::issues::IssueSort>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, crate::issues::Issue, crate::issues::IssueCountExtra>> {
        crate::issues::list(
            ctx,
            &self.scope,
            None,
            query,
            sort.unwrap_or_default(),
            first,
            after,
        )
        .await
    }
    /// Tag keys seen in the account's issues with their most frequent values (`limit` per
    /// key, 1..=100), keys in name order: search suggestions for the cross-project list.
    async fn tag_facets(
        &self,
        #[graphql(default = 10)] limit: i32,
    ) -> GqlResult<Vec<crate::issues::TagFacet>> {
        tag_facets(&self.scope, None, limit).await
    }
    /// Members, oldest first.
    async fn members(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Member>> {
        let page = page(first, after)?;
        let (rows, more) = service::member::list_members(&self.scope, page)
            .await
            .gql()?;
        Ok(connection(
            rows.into_iter().map(|m| (m.id.0, Member(m))).collect(),
            page.after.is_some(),
            more,
        ))
    }
    /// Invites, newest first (admins).
    async fn invites(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Invite>> {
        let page = page(first, after)?;
        let (rows, more) = service::member::list_invites(&self.scope, page)
            .await
            .gql()?;
        Ok(connection(
            rows.into_iter().map(|i| (i.id.0, Invite(i))).collect(),
            page.after.is_some(),
            more,
        ))
    }
    /// API tokens, newest first: admins see all, others their own.
    async fn api_tokens(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ApiToken>> {
        let page = page(first, after)?;
        let (rows, more) = service::api_token::list(&self.scope, page).await.gql()?;
        Ok(connection(
            rows.into_iter()
                .map(|t| {
                    (
                        t.id.0,
                        ApiToken {
                            account: self.scope.account_id(),
                            token: t,
                        },
                    )
                })
                .collect(),
            page.after.is_some(),
            more,
        ))
    }
    /// Sensitive actions, newest first (admins).
    async fn audit_log(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, AuditEntry>> {
        let page = page(first, after)?;
        let (rows, more) = service::audit::list(&self.scope, page).await.gql()?;
        Ok(connection(
            rows.into_iter().map(|e| (e.id, AuditEntry(e))).collect(),
            page.after.is_some(),
            more,
        ))
    }
}

/// A project: an application sending events.
pub struct Project {
    /// The scope it was read under.
    pub scope: AccountScope,
    /// The row.
    pub project: service::project::Project,
}

#[Object]
impl Project {
    /// Global id (its number is the one in the DSN).
    async fn id(&self) -> ID {
        to_id(Kind::Project, self.project.id.0)
    }
    /// URL-safe name, unique in the account.
    async fn slug(&self) -> &str {
        &self.project.slug
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.project.name
    }
    /// Platform picked at creation (`python`, `node`, …), for setup snippets.
    async fn platform(&self) -> Option<&str> {
        self.project.platform.as_deref()
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.project.created_at
    }
    /// The owning account.
    async fn account(&self) -> GqlResult<Account> {
        Ok(Account {
            account: service::account::get_account(&self.scope).await.gql()?,
            scope: self.scope.clone(),
        })
    }
    /// DSN keys, oldest first (disabled ones too).
    async fn keys(&self) -> Vec<ProjectKey> {
        self.project
            .keys
            .iter()
            .cloned()
            .map(|key| ProjectKey {
                key,
                platform: self.project.platform.clone(),
            })
            .collect()
    }
    /// Issues of the project matching `query` (Sentry's search syntax; default
    /// `is:unresolved`), in `sort` order (default `LAST_SEEN`).
    async fn issues(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        sort: Option<crate::issues::IssueSort>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, crate::issues::Issue, crate::issues::IssueCountExtra>> {
        crate::issues::list(
            ctx,
            &self.scope,
            Some(self.project.id),
            query,
            sort.unwrap_or_default(),
            first,
            after,
        )
        .await
    }
    /// Releases seen (from events), most recent first.
    async fn releases(
        &self,
        #[graphql(default = 100)] limit: i32,
    ) -> GqlResult<Vec<crate::issues::SeenValue>> {
        self.seen("release", limit).await
    }
    /// The project's releases (created by sentry-cli or by the first event naming them),
    /// newest first, whose version contains `query` when given. (`releases` lists the release
    /// tag values of the stored events instead.)
    async fn release_list(
        &self,
        query: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, crate::releases::Release>> {
        crate::releases::list(&self.scope, self.project.id, query, first, after).await
    }
    /// One release of the project by its version (NOT_FOUND when it has none).
    async fn release(&self, version: String) -> GqlResult<crate::releases::Release> {
        crate::releases::get(&self.scope, self.project.id, &version).await
    }
    /// Environments seen (from events), most recent first.
    async fn environments(
        &self,
        #[graphql(default = 100)] limit: i32,
    ) -> GqlResult<Vec<crate::issues::SeenValue>> {
        self.seen("environment", limit).await
    }
    /// Tag keys seen in the project's issues with their most frequent values (`limit` per key,
    /// 1..=100), keys in name order: search suggestions (`browser:Firefox`, `release:1.2`).
    async fn tag_facets(
        &self,
        #[graphql(default = 10)] limit: i32,
    ) -> GqlResult<Vec<crate::issues::TagFacet>> {
        tag_facets(&self.scope, Some(self.project.id), limit).await
    }
    /// Accepted and dropped items per hour, category, outcome and reason in `[from, to)`
    /// (default: the last 24 hours; at most 90 days).
    async fn outcomes(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> GqlResult<Vec<crate::issues::Outcome>> {
        let to = to.unwrap_or_else(Utc::now);
        let from = from.unwrap_or(to - chrono::Duration::hours(24));
        Ok(errorwatch_core::service::project_stats::outcomes(
            &self.scope,
            self.project.id,
            from,
            to,
        )
        .await
        .gql()?
        .into_iter()
        .map(|o| crate::issues::Outcome {
            hour: o.hour,
            category: o.category,
            outcome: o.outcome,
            reason: o.reason,
            quantity: o.quantity,
        })
        .collect())
    }
    /// Server-side fingerprint rules (Sentry's syntax).
    async fn fingerprint_rules(&self) -> GqlResult<String> {
        service::project::fingerprint_rules(&self.scope, self.project.id)
            .await
            .gql()
    }
}

/// Tag facets of a project, or of every project of the account (`None`).
async fn tag_facets(
    scope: &AccountScope,
    project: Option<errorwatch_core::ids::ProjectId>,
    limit: i32,
) -> GqlResult<Vec<crate::issues::TagFacet>> {
    let limit = crate::issues::facet_limit(limit)?;
    Ok(
        errorwatch_core::service::project_stats::tag_facets(scope, project, limit)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect(),
    )
}

impl Project {
    /// Releases or environments seen, as GraphQL values.
    async fn seen(&self, key: &str, limit: i32) -> GqlResult<Vec<crate::issues::SeenValue>> {
        Ok(errorwatch_core::service::project_stats::seen_values(
            &self.scope,
            self.project.id,
            key,
            limit.max(1) as u64,
        )
        .await
        .gql()?
        .into_iter()
        .map(Into::into)
        .collect())
    }
}

/// A DSN key.
pub struct ProjectKey {
    /// The key.
    pub key: service::project::ProjectKey,
    /// The project's platform (orders the snippets).
    pub platform: Option<String>,
}

/// A ready-to-paste SDK setup.
#[derive(SimpleObject)]
pub struct SetupSnippet {
    /// Platform id.
    pub platform: String,
    /// Display name.
    pub label: String,
    /// Install command.
    pub install: String,
    /// Code with the DSN filled in.
    pub code: String,
}

#[Object]
impl ProjectKey {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::ProjectKey, self.key.id.0)
    }
    /// Label.
    async fn label(&self) -> &str {
        &self.key.label
    }
    /// The 32-hex public key.
    async fn public_key(&self) -> &str {
        &self.key.public_key
    }
    /// The DSN to give an SDK.
    async fn dsn(&self) -> &str {
        &self.key.dsn
    }
    /// Ingest refuses disabled keys.
    async fn is_active(&self) -> bool {
        self.key.is_active
    }
    /// Requests per minute allowed for this key (null: the plan's limit).
    async fn rate_limit_per_minute(&self) -> Option<i32> {
        self.key.rate_limit_per_minute
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.key.created_at
    }
    /// Setup snippets with this DSN: the given platform's, else all (the project's platform first).
    async fn snippets(&self, platform: Option<String>) -> GqlResult<Vec<SetupSnippet>> {
        let mut snippets = match platform {
            Some(p) => vec![dsn::setup_snippet(&p, &self.key.dsn).ok_or_else(|| {
                coded(
                    "VALIDATION",
                    format!(
                        "no snippet for {p:?}; platforms: {}",
                        dsn::PLATFORMS.join(", ")
                    ),
                )
            })?],
            None => dsn::setup_snippets(&self.key.dsn),
        };
        if let Some(own) = &self.platform {
            snippets.sort_by_key(|s| s.platform != own.as_str());
        }
        Ok(snippets
            .into_iter()
            .map(|s| SetupSnippet {
                platform: s.platform.to_owned(),
                label: s.label.to_owned(),
                install: s.install.to_owned(),
                code: s.code,
            })
            .collect())
    }
}

/// A member of an account.
pub struct Member(pub service::member::Member);

#[Object]
impl Member {
    /// Global id of the membership.
    async fn id(&self) -> ID {
        to_id(Kind::Membership, self.0.id.0)
    }
    /// The user's global id.
    async fn user_id(&self) -> ID {
        to_id(Kind::User, self.0.user_id.0)
    }
    /// The user's address.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Role.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// Joined.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An invitation by email.
pub struct Invite(pub service::member::Invite);

#[Object]
impl Invite {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Invite, self.0.id.0)
    }
    /// Invited address.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Role granted on acceptance.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// Status.
    async fn status(&self) -> InviteStatus {
        match self.0.status {
            "accepted" => InviteStatus::Accepted,
            "revoked" => InviteStatus::Revoked,
            "expired" => InviteStatus::Expired,
            _ => InviteStatus::Pending,
        }
    }
    /// Sent.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The link stops working then.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

/// An API token (its secret is only shown once, by `createApiToken`).
pub struct ApiToken {
    /// Its account.
    pub account: AccountId,
    /// The row.
    pub token: service::api_token::ApiToken,
}

#[Object]
impl ApiToken {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::ApiToken, self.token.id.0)
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.token.name
    }
    /// What it may do.
    async fn scope(&self) -> TokenScope {
        self.token.scope.into()
    }
    /// The first characters of the secret, to recognise it.
    async fn prefix(&self) -> &str {
        &self.token.prefix
    }
    /// Address of the member who created it (null once they left the account).
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        let loader = ctx.data::<DataLoader<MemberEmailLoader>>()?;
        loader
            .load_one((self.account, self.token.user_id))
            .await
            .map_err(|e| (*e).clone())
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.token.created_at
    }
    /// Last used (to the minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.token.last_used_at
    }
    /// Revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.token.revoked_at
    }
}

/// A new API token with its secret.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    /// The token.
    pub token: ApiToken,
    /// The secret for `Authorization: Bearer`; shown this once, never again.
    pub secret: String,
}

/// One entry of an account's audit log.
pub struct AuditEntry(pub service::audit::AuditEntry);

#[Object]
impl AuditEntry {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::AuditEntry, self.0.id)
    }
    /// Who: `user:<id>`, `token:<id>:user:<id>` or `system:<reason>`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// What (`member.invite`, `key.rotate`, `project.delete`, …).
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// To what (`user:ada@example.com`, `project:12`, …).
    async fn target(&self) -> &str {
        &self.0.target
    }
    /// Extra facts, as a JSON string.
    async fn details(&self) -> String {
        self.0.details.to_string()
    }
    /// When.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Per-request loader of member addresses, keyed by (account, user): one query per account
/// per request however many tokens list their creator. It builds each account's scope from the
/// request's principal, so it cannot read another tenant's members.
pub struct MemberEmailLoader(pub Arc<crate::loaders::LoaderScopes>);

impl Loader<(AccountId, UserId)> for MemberEmailLoader {
    type Value = String;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[(AccountId, UserId)],
    ) -> Result<HashMap<(AccountId, UserId), String>, Self::Error> {
        let mut out = HashMap::new();
        for (scope, users) in self.0.by_account(keys).await? {
            let account = scope.account_id();
            let emails = service::member::member_emails(&scope, &users)
                .await
                .gql()
                .map_err(Arc::new)?;
            out.extend(
                emails
                    .into_iter()
                    .map(|(user, email)| ((account, user), email)),
            );
        }
        Ok(out)
    }
}
