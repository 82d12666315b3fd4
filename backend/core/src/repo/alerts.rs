//! Alert rules, their targets and the notifications sent to them.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::{ProjectTable, TenantTable};

/// The `alert_rules` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum AlertRules {
    Table,
    Id,
    AccountId,
    ProjectId,
    Name,
    TriggerKind,
    FrequencyCount,
    FrequencyMinutes,
    Filters,
    ActionIntervalMinutes,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

impl TenantTable for AlertRules {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for AlertRules {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `alert_rule_targets` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum AlertRuleTargets {
    Table,
    RuleId,
    TargetId,
    AccountId,
}

impl TenantTable for AlertRuleTargets {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `alert_targets` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum AlertTargets {
    Table,
    Id,
    AccountId,
    ProjectId,
    Name,
    Kind,
    Config,
    Secret,
    CreatedAt,
}

impl TenantTable for AlertTargets {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for AlertTargets {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `notifications` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Notifications {
    Table,
    Id,
    AccountId,
    ProjectId,
    RuleId,
    TargetId,
    IssueId,
    TriggerKind,
    DedupKey,
    Status,
    Attempts,
    LastError,
    NextAttemptAt,
    LeaseUntil,
    CreatedAt,
    SentAt,
    DeadAt,
}

impl TenantTable for Notifications {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Notifications {
    const PROJECT_ID: Self = Self::ProjectId;
}
