//! Cron monitor check-ins.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::TenantTable;

/// The `monitor_checkins` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum MonitorCheckins {
    Table,
    Id,
    AccountId,
    ProjectId,
    CheckInId,
    MonitorSlug,
    Status,
    Duration,
    Environment,
    MonitorConfig,
    ReceivedAt,
}

impl TenantTable for MonitorCheckins {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}
