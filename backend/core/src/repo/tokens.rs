//! API tokens.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DeriveIden, FromQueryResult, QueryResult};

use super::entity::api_token;
use super::{Tenant, TenantTable, select, update};
use crate::ids::{ApiTokenId, UserId};
use crate::scope::AccountScope;
use crate::{Error, Result};

/// The `api_tokens` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ApiTokens {
    Table,
    Id,
    AccountId,
    UserId,
    Name,
    Scope,
    Prefix,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

impl TenantTable for ApiTokens {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// `SELECT api_tokens.* … WHERE account_id = tenant`: every column, as the entity reads them.
fn tokens(tenant: impl Into<Tenant>) -> SelectStatement {
    select::<ApiTokens>(tenant)
        .column((ApiTokens::Table, Asterisk))
        .to_owned()
}

fn token_row(row: &QueryResult) -> Result<api_token::Model> {
    Ok(api_token::Model::from_query_result(row, "")?)
}

/// A new token of a member (its secret only as a hash).
#[derive(Clone, Debug)]
pub(crate) struct NewToken {
    pub user: UserId,
    pub name: String,
    pub scope: &'static str,
    pub prefix: String,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
}

/// Inserts a token into the tenant's account; returns it.
pub(crate) async fn insert(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    new: NewToken,
) -> Result<api_token::Model> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(ApiTokens::Table)
        .columns([
            ApiTokens::AccountId,
            ApiTokens::UserId,
            ApiTokens::Name,
            ApiTokens::Scope,
            ApiTokens::Prefix,
            ApiTokens::TokenHash,
            ApiTokens::CreatedAt,
            ApiTokens::LastUsedAt,
            ApiTokens::RevokedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            new.user.0.into(),
            new.name.into(),
            new.scope.into(),
            new.prefix.into(),
            new.token_hash.into(),
            new.created_at.into(),
            Option::<DateTime<Utc>>::None.into(),
            Option::<DateTime<Utc>>::None.into(),
        ])
        .returning_all()
        .to_owned();
    let row = conn
        .query_one(&statement)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("INSERT … RETURNING returned no row")))?;
    token_row(&row)
}

/// The tenant's tokens (only `user`'s when given), newest first: at most `limit`, those older
/// than token `after` when given.
pub(crate) async fn list(
    scope: &AccountScope,
    user: Option<UserId>,
    after: Option<ApiTokenId>,
    limit: u64,
) -> Result<Vec<api_token::Model>> {
    let mut query = tokens(scope)
        .order_by((ApiTokens::Table, ApiTokens::Id), Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(user) = user {
        query.and_where(Expr::col((ApiTokens::Table, ApiTokens::UserId)).eq(user.0));
    }
    if let Some(after) = after {
        query.and_where(Expr::col((ApiTokens::Table, ApiTokens::Id)).lt(after.0));
    }
    let rows = scope.db().conn().query_all(&query).await?;
    rows.iter().map(token_row).collect()
}

/// One token of the tenant; `NotFound` for another account's.
pub(crate) async fn get(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: ApiTokenId,
) -> Result<api_token::Model> {
    let query = tokens(tenant)
        .and_where(Expr::col((ApiTokens::Table, ApiTokens::Id)).eq(id.0))
        .to_owned();
    let row = conn.query_one(&query).await?.ok_or(Error::NotFound)?;
    token_row(&row)
}

/// Sets a token's revocation time; returns the updated token (`NotFound`: not the tenant's).
pub(crate) async fn set_revoked_at(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: ApiTokenId,
    at: DateTime<Utc>,
) -> Result<api_token::Model> {
    let statement = update::<ApiTokens>(tenant)
        .value(ApiTokens::RevokedAt, Some(at))
        .and_where(Expr::col(ApiTokens::Id).eq(id.0))
        .returning_all()
        .to_owned();
    let row = conn.query_one(&statement).await?.ok_or(Error::NotFound)?;
    token_row(&row)
}
