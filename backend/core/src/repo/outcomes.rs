//! Outcomes: what happened to ingested items, per project, category and hour.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::{ProjectTable, TenantTable};

/// The `outcomes` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Outcomes {
    Table,
    Id,
    AccountId,
    ProjectId,
    Hour,
    Category,
    Outcome,
    Reason,
    Quantity,
}

impl TenantTable for Outcomes {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Outcomes {
    const PROJECT_ID: Self = Self::ProjectId;
}
