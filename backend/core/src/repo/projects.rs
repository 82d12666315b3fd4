//! Projects and their DSN keys.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::{ProjectTable, TenantTable};

/// The `projects` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Projects {
    Table,
    Id,
    AccountId,
    Slug,
    Name,
    Platform,
    CreatedAt,
    FingerprintRules,
    DeletedAt,
}

impl TenantTable for Projects {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `project_keys` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ProjectKeys {
    Table,
    Id,
    AccountId,
    ProjectId,
    PublicKey,
    Label,
    IsActive,
    RateLimitPerMinute,
    CreatedAt,
}

impl TenantTable for ProjectKeys {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for ProjectKeys {
    const PROJECT_ID: Self = Self::ProjectId;
}
