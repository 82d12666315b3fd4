//! Per-issue counters that survive event eviction: hourly counts and tag values.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::{ProjectTable, TenantTable};

/// The `issue_stats_hourly` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IssueStatsHourly {
    Table,
    Id,
    AccountId,
    ProjectId,
    IssueId,
    Hour,
    TimesSeen,
}

impl TenantTable for IssueStatsHourly {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IssueStatsHourly {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `issue_tag_values` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IssueTagValues {
    Table,
    Id,
    AccountId,
    ProjectId,
    IssueId,
    Key,
    Value,
    TimesSeen,
    FirstSeen,
    LastSeen,
}

impl TenantTable for IssueTagValues {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IssueTagValues {
    const PROJECT_ID: Self = Self::ProjectId;
}
