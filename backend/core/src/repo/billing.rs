//! Subscriptions and usage (periods and the leases instances hold on them).
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::TenantTable;

/// The `subscriptions` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Subscriptions {
    Table,
    AccountId,
    PlanId,
    Status,
    StripeCustomerId,
    StripeSubscriptionId,
    CurrentPeriodStart,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    PastDueSince,
    StripeVersion,
    UpdatedAt,
}

impl TenantTable for Subscriptions {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `usage_periods` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum UsagePeriods {
    Table,
    AccountId,
    PeriodStart,
    Category,
    Quantity,
    NotifiedPercent,
    UpdatedAt,
}

impl TenantTable for UsagePeriods {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `usage_leases` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum UsageLeases {
    Table,
    InstanceId,
    AccountId,
    PeriodStart,
    Category,
    Amount,
    HeartbeatAt,
}

impl TenantTable for UsageLeases {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}
