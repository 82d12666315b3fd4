//! API tokens.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::TenantTable;

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
