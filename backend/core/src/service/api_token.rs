//! API tokens for integrations: random (`ewt_…`, 256 bits), shown once, stored as a SHA-256
//! hash, named, scoped (read / write / admin), revocable, with the time of last use. A token
//! acts in its account with the lower of its scope's role and its creator's current role, and
//! dies with its creator's membership.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::auth::token::{self, TokenKind};
use crate::ids::{ApiTokenId, UserId};
use crate::repo;
use crate::repo::entity::api_token;
use crate::scope::{AccountScope, Actor, Role, TokenScope};
use crate::service::account::validate_name;
use crate::service::{Page, audit};
use crate::{Error, Result};

/// A token as listed (never with its secret).
#[derive(Clone, Debug)]
pub struct ApiToken {
    /// Id.
    pub id: ApiTokenId,
    /// Name given at creation.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// The first characters, to recognise it (`ewt_AbCd`).
    pub prefix: String,
    /// Creator.
    pub user_id: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last authenticated request (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

fn to_token(row: api_token::Model) -> Result<ApiToken> {
    Ok(ApiToken {
        id: ApiTokenId(row.id),
        scope: TokenScope::parse(&row.scope)
            .ok_or_else(|| anyhow::anyhow!("api token {} has unknown scope", row.id))?,
        name: row.name,
        prefix: row.prefix,
        user_id: UserId(row.user_id),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

/// Creates a token; returns it with its secret, which is never shown again. A member may only
/// create tokens up to their own role (`Viewer` → read, `Member` → write, `Admin` → admin).
/// Tokens cannot create tokens.
pub async fn create(
    scope: &AccountScope,
    name: &str,
    token_scope: TokenScope,
) -> Result<(ApiToken, String)> {
    let user = match scope.actor() {
        Actor::User(user) => *user,
        _ => return Err(Error::Forbidden),
    };
    scope.require(token_scope.max_role())?;
    let name = validate_name("name", name)?;
    let (plain, hash) = token::generate(TokenKind::Api);
    let txn = scope.db().begin_write().await?;
    let row = repo::tokens::insert(
        scope,
        &txn,
        repo::tokens::NewToken {
            user,
            name: name.clone(),
            scope: token_scope.as_str(),
            prefix: plain.chars().take(8).collect(),
            token_hash: hash,
            created_at: Utc::now(),
        },
    )
    .await?;
    audit::record(
        &txn,
        scope,
        "token.create",
        format!("token:{}", row.id),
        json!({"name": name, "scope": token_scope.as_str()}),
    )
    .await?;
    txn.commit().await?;
    Ok((to_token(row)?, plain))
}

/// Tokens of the account: admins see all, others their own. Newest first.
pub async fn list(scope: &AccountScope, page: Page) -> Result<(Vec<ApiToken>, bool)> {
    scope.require(Role::Viewer)?;
    let user = if scope.role() < Role::Admin {
        Some(scope.user_id().ok_or(Error::Forbidden)?)
    } else {
        None
    };
    let rows =
        repo::tokens::list(scope, user, page.after.map(ApiTokenId), page.limit() + 1).await?;
    let (rows, more) = page.split(rows);
    Ok((rows.into_iter().map(to_token).collect::<Result<_>>()?, more))
}

/// Revokes a token: its creator (signed in), the token itself, or an admin. Idempotent.
/// Another token of the creator does not count as the creator: a read token must not revoke
/// its creator's admin token.
pub async fn revoke(scope: &AccountScope, id: ApiTokenId) -> Result<ApiToken> {
    let row = repo::tokens::get(scope, scope.db().conn(), id).await?;
    let own = match scope.actor() {
        Actor::User(user) => *user == UserId(row.user_id),
        Actor::Token(token, _) => *token == id,
        Actor::System(_) => false,
    };
    if !own {
        scope.require(Role::Admin)?;
    }
    let txn = scope.db().begin_write().await?;
    let updated =
        repo::tokens::set_revoked_at(scope, &txn, id, row.revoked_at.unwrap_or_else(Utc::now))
            .await?;
    audit::record(
        &txn,
        scope,
        "token.revoke",
        format!("token:{}", row.id),
        json!({"name": row.name}),
    )
    .await?;
    txn.commit().await?;
    to_token(updated)
}
