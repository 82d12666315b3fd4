//! API tokens for integrations: random (`ewt_…`, 256 bits), shown once, stored as a SHA-256
//! hash, named, scoped (read / write / admin), revocable, with the time of last use. A token
//! acts in its account with the lower of its scope's role and its creator's current role, and
//! dies with its creator's membership.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::json;

use crate::auth::token::{self, TokenKind};
use crate::ids::{ApiTokenId, UserId};
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
    let row = api_token::ActiveModel {
        account_id: Set(scope.account_id().0),
        user_id: Set(user.0),
        name: Set(name.clone()),
        scope: Set(token_scope.as_str().to_owned()),
        prefix: Set(plain.chars().take(8).collect()),
        token_hash: Set(hash),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
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
    let mut query = api_token::Entity::find()
        .filter(api_token::Column::AccountId.eq(scope.account_id().0))
        .order_by_desc(api_token::Column::Id)
        .limit(page.limit() + 1);
    if scope.role() < Role::Admin {
        let user = scope.user_id().ok_or(Error::Forbidden)?;
        query = query.filter(api_token::Column::UserId.eq(user.0));
    }
    if let Some(after) = page.after {
        query = query.filter(api_token::Column::Id.lt(after));
    }
    let rows = query.all(scope.db().conn()).await?;
    let (rows, more) = page.split(rows);
    Ok((rows.into_iter().map(to_token).collect::<Result<_>>()?, more))
}

/// Revokes a token: its creator (signed in), the token itself, or an admin. Idempotent.
/// Another token of the creator does not count as the creator: a read token must not revoke
/// its creator's admin token.
pub async fn revoke(scope: &AccountScope, id: ApiTokenId) -> Result<ApiToken> {
    let row = api_token::Entity::find_by_id(id.0)
        .filter(api_token::Column::AccountId.eq(scope.account_id().0))
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)?;
    let own = match scope.actor() {
        Actor::User(user) => *user == UserId(row.user_id),
        Actor::Token(token, _) => *token == id,
        Actor::System(_) => false,
    };
    if !own {
        scope.require(Role::Admin)?;
    }
    let txn = scope.db().begin_write().await?;
    let mut model: api_token::ActiveModel = row.clone().into();
    model.revoked_at = Set(Some(row.revoked_at.unwrap_or_else(Utc::now)));
    let updated = model.update(&txn).await?;
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
