//! The audit log.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DeriveIden, FromQueryResult};

use super::entity::audit_entry;
use super::{Tenant, TenantTable, select};
use crate::Result;
use crate::ids::{ApiTokenId, UserId};
use crate::scope::AccountScope;

/// The `audit_log` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum AuditLog {
    Table,
    Id,
    AccountId,
    ActorUserId,
    ActorTokenId,
    Actor,
    Action,
    Target,
    Details,
    CreatedAt,
}

impl TenantTable for AuditLog {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// A new audit entry.
#[derive(Clone, Debug)]
pub(crate) struct NewEntry {
    pub actor_user_id: Option<UserId>,
    pub actor_token_id: Option<ApiTokenId>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
    pub created_at: DateTime<Utc>,
}

/// Appends an entry to the tenant's log on `conn` (a transaction when the change is one).
pub(crate) async fn insert(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    entry: NewEntry,
) -> Result<()> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(AuditLog::Table)
        .columns([
            AuditLog::AccountId,
            AuditLog::ActorUserId,
            AuditLog::ActorTokenId,
            AuditLog::Actor,
            AuditLog::Action,
            AuditLog::Target,
            AuditLog::Details,
            AuditLog::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            entry.actor_user_id.map(|u| u.0).into(),
            entry.actor_token_id.map(|t| t.0).into(),
            entry.actor.into(),
            entry.action.into(),
            entry.target.into(),
            entry.details.into(),
            entry.created_at.into(),
        ])
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// The tenant's entries, newest first: at most `limit`, those older than entry `after` when
/// given.
pub(crate) async fn list(
    scope: &AccountScope,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_entry::Model>> {
    let mut query = select::<AuditLog>(scope)
        .column((AuditLog::Table, Asterisk))
        .order_by(AuditLog::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(after) = after {
        query.and_where(Expr::col(AuditLog::Id).lt(after));
    }
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| Ok(audit_entry::Model::from_query_result(r, "")?))
        .collect()
}
