//! Root queries.

use async_graphql::{Context, ID, Object};
use errorwatch_core::ids::{AccountId, ProjectId};
use errorwatch_core::service::{self, locate};

use crate::ServerInfo;
use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql};
use crate::ids::{Kind, from_id};
use crate::types::{Account, Project, Viewer};

/// Queries of users, accounts and projects.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The server's version and database engine.
    async fn server_info(&self, ctx: &Context<'_>) -> GqlResult<ServerInfo> {
        Ok(ctx.data::<ServerInfo>()?.clone())
    }

    /// Who is asking: the signed-in user or the API token's creator (UNAUTHENTICATED
    /// otherwise).
    async fn viewer(&self, ctx: &Context<'_>) -> GqlResult<Viewer> {
        Ok(Viewer(ctx.principal()?.clone()))
    }

    /// An account the viewer belongs to (NOT_FOUND otherwise).
    async fn account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Account> {
        let account = AccountId(from_id(Kind::Account, &id)?);
        let scope = ctx.scope(account).await?;
        Ok(Account {
            account: service::account::get_account(&scope).await.gql()?,
            scope,
        })
    }

    /// A project of an account the viewer belongs to (NOT_FOUND otherwise).
    async fn project(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Project> {
        let project_id = ProjectId(from_id(Kind::Project, &id)?);
        let request = ctx.request();
        let scope = ctx.scope_of(locate::Owned::Project(project_id)).await?;
        let project = service::project::get_project(&scope, &request.public_url, project_id)
            .await
            .gql()?;
        Ok(Project { scope, project })
    }

    /// The plans on offer (for the sign-up and billing pages; no sign-in needed).
    async fn plans(&self, ctx: &Context<'_>) -> GqlResult<Vec<crate::billing::Plan>> {
        crate::billing::public_plans(ctx).await
    }

    /// The sign-up policy of this server (`OPEN`, `INVITE`, `CLOSED`), for the sign-up page.
    /// `first-user` installations answer `OPEN` until someone has signed up, then `INVITE`.
    async fn signup_policy(&self, ctx: &Context<'_>) -> GqlResult<crate::mutation::SignupPolicy> {
        Ok(ctx.request().auth.signup_policy().await.gql()?.into())
    }

    /// Whether the next user to sign up becomes this server's administrator (a self-hosted
    /// server nobody has signed up on yet), for the sign-up page.
    async fn first_user_becomes_admin(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        ctx.request().auth.first_user_becomes_admin().await.gql()
    }
}
