//! The audit log.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::TenantTable;

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
