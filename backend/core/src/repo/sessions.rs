//! Release health: session counts per release, environment and hour.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::TenantTable;

/// The `release_sessions` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ReleaseSessions {
    Table,
    Id,
    AccountId,
    ProjectId,
    Release,
    Environment,
    Hour,
    Started,
    Exited,
    Errored,
    Crashed,
    Abnormal,
}

impl TenantTable for ReleaseSessions {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}
