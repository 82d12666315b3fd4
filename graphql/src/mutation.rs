//! Root mutations. Each resolver reads the scope (or the principal) from the context and calls
//! one service; roles are checked in the services.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use errorwatch_core::config::SignupPolicy as CoreSignupPolicy;
use errorwatch_core::ids::{
    AccountId, ApiTokenId, InviteId, MembershipId, ProjectId, ProjectKeyId, SessionId,
};
use errorwatch_core::secret::SecretString;
use errorwatch_core::service::auth::SignUpOutcome;
use errorwatch_core::service::project::KeyChange;
use errorwatch_core::service::{self, locate};

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql};
use crate::ids::{Kind, from_id};
use crate::types::{
    Account, ApiToken, CreatedApiToken, Invite, Member, Project, ProjectKey, Role, TokenScope, User,
};

/// Who may sign up on this server.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SignupPolicy {
    /// Anyone.
    Open,
    /// Only people with an invite link.
    Invite,
    /// Nobody (an administrator creates users).
    Closed,
}

impl From<CoreSignupPolicy> for SignupPolicy {
    fn from(policy: CoreSignupPolicy) -> Self {
        match policy {
            CoreSignupPolicy::Open => SignupPolicy::Open,
            // The effective policy is asked for; this only maps a configured one.
            CoreSignupPolicy::FirstUser | CoreSignupPolicy::Invite => SignupPolicy::Invite,
            CoreSignupPolicy::Closed => SignupPolicy::Closed,
        }
    }
}

/// What happened on sign-up.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SignUpStatus {
    /// Check your inbox for the verification link.
    VerificationSent,
    /// Signed up with an invite: signed in already.
    SignedIn,
}

/// The result of `signUp`.
#[derive(SimpleObject)]
pub struct SignUpPayload {
    /// What happened.
    pub status: SignUpStatus,
    /// The user, when signed in.
    pub user: Option<User>,
}

/// Mutations of users, accounts, members, tokens and projects.
#[derive(Default)]
pub struct AccountMutation;

/// The project's platform, so a key's snippets list it first (as `Project.keys` does).
async fn project_platform(
    scope: &errorwatch_core::scope::AccountScope,
    public_url: &url::Url,
    project: ProjectId,
) -> GqlResult<Option<String>> {
    Ok(service::project::get_project(scope, public_url, project)
        .await
        .gql()?
        .platform)
}

#[Object]
impl AccountMutation {
    // ---- users and sessions ----

    /// Signs up with email and password. Without `inviteToken`, a verification link is emailed
    /// (the answer is the same whether or not the address is registered). With an invite, the
    /// user joins the inviting account and is signed in (session cookies set).
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        invite_token: Option<String>,
    ) -> GqlResult<SignUpPayload> {
        let request = ctx.request();
        let outcome = request
            .auth
            .sign_up(
                &email,
                SecretString::new(password),
                invite_token.as_deref(),
                &request.client,
            )
            .await
            .gql()?;
        Ok(match outcome {
            SignUpOutcome::VerificationSent => SignUpPayload {
                status: SignUpStatus::VerificationSent,
                user: None,
            },
            SignUpOutcome::SignedIn(user, tokens) => {
                ctx.set_session_cookies(&tokens);
                SignUpPayload {
                    status: SignUpStatus::SignedIn,
                    user: Some(User(user)),
                }
            }
        })
    }

    /// Confirms an email address with the emailed token and signs in.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> GqlResult<User> {
        let request = ctx.request();
        let (user, tokens) = request
            .auth
            .verify_email(&token, &request.client)
            .await
            .gql()?;
        ctx.set_session_cookies(&tokens);
        Ok(User(user))
    }

    /// Emails a new verification link if the address is registered and unverified (same answer
    /// either way).
    async fn resend_verification(&self, ctx: &Context<'_>, email: String) -> GqlResult<bool> {
        let request = ctx.request();
        request
            .auth
            .resend_verification(&email, &request.client)
            .await
            .gql()?;
        Ok(true)
    }

    /// Logs in with email and password; sets the session cookies.
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> GqlResult<User> {
        let request = ctx.request();
        let (user, tokens) = request
            .auth
            .login(&email, SecretString::new(password), &request.client)
            .await
            .gql()?;
        ctx.set_session_cookies(&tokens);
        Ok(User(user))
    }

    /// Ends this browser session and clears its cookies.
    async fn logout(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let principal = ctx.principal()?;
        ctx.request().auth.logout(principal).await.gql()?;
        ctx.clear_session_cookies();
        Ok(true)
    }

    /// Ends every browser session of the user, this one included. Returns how many ended.
    async fn logout_everywhere(&self, ctx: &Context<'_>) -> GqlResult<i32> {
        let principal = ctx.principal()?;
        let ended = ctx
            .request()
            .auth
            .logout_everywhere(principal)
            .await
            .gql()?;
        ctx.clear_session_cookies();
        Ok(ended as i32)
    }

    /// Ends one of the user's sessions.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let principal = ctx.principal()?;
        let session = SessionId(from_id(Kind::Session, &id)?);
        ctx.request()
            .auth
            .revoke_session(principal, session)
            .await
            .gql()?;
        Ok(id)
    }

    /// Emails a password reset link if the address is registered (same answer either way).
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> GqlResult<bool> {
        let request = ctx.request();
        request
            .auth
            .request_password_reset(&email, &request.client)
            .await
            .gql()?;
        Ok(true)
    }

    /// Sets a new password with an emailed reset token (once); every session of the user ends.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        password: String,
    ) -> GqlResult<bool> {
        let request = ctx.request();
        request
            .auth
            .reset_password(&token, SecretString::new(password), &request.client)
            .await
            .gql()?;
        Ok(true)
    }

    /// Changes the password (the current one is required); other sessions end.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> GqlResult<bool> {
        let principal = ctx.principal()?;
        ctx.request()
            .auth
            .change_password(
                principal,
                SecretString::new(current_password),
                SecretString::new(new_password),
            )
            .await
            .gql()?;
        Ok(true)
    }

    /// Starts an email change: a confirmation link goes to the new address.
    async fn request_email_change(
        &self,
        ctx: &Context<'_>,
        new_email: String,
        password: String,
    ) -> GqlResult<bool> {
        let principal = ctx.principal()?;
        ctx.request()
            .auth
            .request_email_change(principal, &new_email, SecretString::new(password))
            .await
            .gql()?;
        Ok(true)
    }

    /// Applies an email change with the emailed token.
    async fn confirm_email_change(&self, ctx: &Context<'_>, token: String) -> GqlResult<User> {
        Ok(User(
            ctx.request()
                .auth
                .confirm_email_change(&token)
                .await
                .gql()?,
        ))
    }

    // ---- accounts and members ----

    /// Creates an account owned by the signed-in user.
    async fn create_account(&self, ctx: &Context<'_>, name: String) -> GqlResult<Account> {
        let principal = ctx.principal()?;
        let account = service::account::create_account_for(&ctx.request().auth, principal, &name)
            .await
            .gql()?;
        let scope = ctx.scope(account.id).await?;
        Ok(Account { scope, account })
    }

    /// Renames an account (admins).
    async fn rename_account(&self, ctx: &Context<'_>, id: ID, name: String) -> GqlResult<Account> {
        let scope = ctx.scope(AccountId(from_id(Kind::Account, &id)?)).await?;
        let account = service::account::rename_account(&scope, &name)
            .await
            .gql()?;
        Ok(Account { scope, account })
    }

    /// Deletes an account (owners): `confirm` must be its slug. Its data is removed by a job.
    async fn delete_account(&self, ctx: &Context<'_>, id: ID, confirm: String) -> GqlResult<ID> {
        let scope = ctx.scope(AccountId(from_id(Kind::Account, &id)?)).await?;
        service::account::delete_account(&scope, &ctx.request().queue, &confirm)
            .await
            .gql()?;
        Ok(id)
    }

    /// Invites an address to an account with a role (admins; owners to invite owners).
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        email: String,
        role: Role,
    ) -> GqlResult<Invite> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        Ok(Invite(
            service::member::invite(&scope, &ctx.request().auth, &email, role.into())
                .await
                .gql()?,
        ))
    }

    /// Revokes a pending invite (admins).
    async fn revoke_invite(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Invite> {
        let invite = InviteId(from_id(Kind::Invite, &id)?);
        let scope = ctx.scope_of(locate::Owned::Invite(invite)).await?;
        Ok(Invite(
            service::member::revoke_invite(&scope, invite).await.gql()?,
        ))
    }

    /// Accepts an invite as the signed-in user (the invited address); returns the account.
    async fn accept_invite(&self, ctx: &Context<'_>, token: String) -> GqlResult<Account> {
        let principal = ctx.principal()?;
        let request = ctx.request();
        let account =
            service::member::accept_invite(&request.auth, principal, &token, &request.client)
                .await
                .gql()?;
        let scope = ctx.scope(account).await?;
        Ok(Account {
            account: service::account::get_account(&scope).await.gql()?,
            scope,
        })
    }

    /// Changes a member's role (admins; owners for the owner role; never the last owner).
    async fn change_member_role(&self, ctx: &Context<'_>, id: ID, role: Role) -> GqlResult<Member> {
        let membership = MembershipId(from_id(Kind::Membership, &id)?);
        let scope = ctx.scope_of(locate::Owned::Membership(membership)).await?;
        Ok(Member(
            service::member::change_role(&scope, membership, role.into())
                .await
                .gql()?,
        ))
    }

    /// Removes a member (admins; owners to remove an owner; never the last owner).
    async fn remove_member(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let membership = MembershipId(from_id(Kind::Membership, &id)?);
        let scope = ctx.scope_of(locate::Owned::Membership(membership)).await?;
        service::member::remove_member(&scope, membership)
            .await
            .gql()?;
        Ok(id)
    }

    /// Leaves an account as the signed-in user (not as its last owner; API tokens cannot).
    async fn leave_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let scope = ctx.scope(AccountId(from_id(Kind::Account, &id)?)).await?;
        service::member::leave(&scope).await.gql()?;
        Ok(id)
    }

    // ---- API tokens ----

    /// Creates an API token for an account; the secret is in the answer, once.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        name: String,
        scope: TokenScope,
    ) -> GqlResult<CreatedApiToken> {
        let account = AccountId(from_id(Kind::Account, &account_id)?);
        let account_scope = ctx.scope(account).await?;
        let (token, secret) = service::api_token::create(&account_scope, &name, scope.into())
            .await
            .gql()?;
        Ok(CreatedApiToken {
            token: ApiToken { account, token },
            secret,
        })
    }

    /// Revokes an API token (its creator signed in, the token itself, or an admin).
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApiToken> {
        let token = ApiTokenId(from_id(Kind::ApiToken, &id)?);
        let scope = ctx.scope_of(locate::Owned::ApiToken(token)).await?;
        let account = scope.account_id();
        Ok(ApiToken {
            account,
            token: service::api_token::revoke(&scope, token).await.gql()?,
        })
    }

    // ---- projects and keys ----

    /// Creates a project with one DSN key (admins). `platform` picks the setup snippet shown
    /// first (`python`, `node`, `javascript`, `rust`, `go`, `java`, `ruby`, `php`, `dotnet`).
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        name: String,
        platform: Option<String>,
    ) -> GqlResult<Project> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        let project = service::project::create_project_for_platform(
            &scope,
            &ctx.request().public_url,
            &name,
            platform.as_deref(),
        )
        .await
        .gql()?;
        Ok(Project { scope, project })
    }

    /// Renames a project (admins).
    async fn rename_project(&self, ctx: &Context<'_>, id: ID, name: String) -> GqlResult<Project> {
        let project_id = ProjectId(from_id(Kind::Project, &id)?);
        let scope = ctx.scope_of(locate::Owned::Project(project_id)).await?;
        let project =
            service::project::rename_project(&scope, &ctx.request().public_url, project_id, &name)
                .await
                .gql()?;
        Ok(Project { scope, project })
    }

    /// Deletes a project (admins): its keys stop working at once, a job removes its data.
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let project_id = ProjectId(from_id(Kind::Project, &id)?);
        let scope = ctx.scope_of(locate::Owned::Project(project_id)).await?;
        service::project::delete_project(&scope, &ctx.request().queue, project_id)
            .await
            .gql()?;
        Ok(id)
    }

    /// Replaces a project's server-side fingerprint rules (admins).
    async fn set_fingerprint_rules(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        rules: String,
    ) -> GqlResult<Project> {
        let project = ProjectId(from_id(Kind::Project, &project_id)?);
        let scope = ctx.scope_of(locate::Owned::Project(project)).await?;
        service::project::set_fingerprint_rules(&scope, project, &rules)
            .await
            .gql()?;
        let project = service::project::get_project(&scope, &ctx.request().public_url, project)
            .await
            .gql()?;
        Ok(Project { scope, project })
    }

    /// Adds a DSN key to a project (admins).
    async fn create_project_key(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        label: String,
    ) -> GqlResult<ProjectKey> {
        let project = ProjectId(from_id(Kind::Project, &project_id)?);
        let scope = ctx.scope_of(locate::Owned::Project(project)).await?;
        let url = &ctx.request().public_url;
        let key = service::project::create_key(&scope, url, project, &label)
            .await
            .gql()?;
        let platform = project_platform(&scope, url, project).await?;
        Ok(ProjectKey { key, platform })
    }

    /// Changes a DSN key (admins): label, enabled, per-minute rate limit (`clearRateLimit` for
    /// the plan's), or `rotate` to replace its public key (the old DSN stops working).
    #[allow(clippy::too_many_arguments)]
    async fn update_project_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
        label: Option<String>,
        is_active: Option<bool>,
        rate_limit_per_minute: Option<i32>,
        clear_rate_limit: Option<bool>,
        rotate: Option<bool>,
    ) -> GqlResult<ProjectKey> {
        let key = ProjectKeyId(from_id(Kind::ProjectKey, &id)?);
        let scope = ctx.scope_of(locate::Owned::ProjectKey(key)).await?;
        let change = KeyChange {
            label,
            is_active,
            rate_limit_per_minute: if clear_rate_limit.unwrap_or(false) {
                Some(None)
            } else {
                rate_limit_per_minute.map(Some)
            },
            rotate: rotate.unwrap_or(false),
        };
        let url = &ctx.request().public_url;
        let key = service::project::update_key(&scope, url, key, change)
            .await
            .gql()?;
        let platform = project_platform(&scope, url, key.project_id).await?;
        Ok(ProjectKey { key, platform })
    }
}
