//! Memberships and invitations.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::TenantTable;

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
