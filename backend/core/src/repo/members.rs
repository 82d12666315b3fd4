//! Memberships and invitations.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, DeriveIden};

use super::{TenantTable, select};
use crate::Result;
use crate::ids::UserId;
use crate::scope::AccountScope;

/// The `memberships` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Memberships {
    Table,
    Id,
    AccountId,
    UserId,
    Role,
    CreatedAt,
}

impl TenantTable for Memberships {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `invites` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Invites {
    Table,
    Id,
    AccountId,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    RevokedAt,
}

impl TenantTable for Invites {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// Whether `user` is a member of the tenant's account.
pub(crate) async fn is_member(scope: &AccountScope, user: UserId) -> Result<bool> {
    let query = select::<Memberships>(scope)
        .column(Memberships::Id)
        .and_where(Expr::col(Memberships::UserId).eq(user.0))
        .limit(1)
        .to_owned();
    Ok(scope.db().conn().query_one(&query).await?.is_some())
}
