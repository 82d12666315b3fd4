//! Issues, the fingerprints that map to them, their activity log and bookmarks.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::{ProjectTable, TenantTable};

/// The `issues` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Issues {
    Table,
    Id,
    AccountId,
    ProjectId,
    Fingerprint,
    GroupingVersion,
    GroupingComponents,
    Title,
    Culprit,
    Level,
    Status,
    Substatus,
    FirstSeen,
    LastSeen,
    TimesSeen,
    UsersSeen,
    FirstRelease,
    LastRelease,
    CreatedAt,
    ResolvedAt,
    ResolutionKind,
    ResolutionRelease,
    IgnoreUntil,
    IgnoreUntilTimesSeen,
    IgnoreUntilUsersSeen,
    StatusChangedAt,
    RegressedAt,
    AssigneeUserId,
}

impl TenantTable for Issues {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Issues {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `issue_fingerprints` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IssueFingerprints {
    Table,
    Id,
    AccountId,
    ProjectId,
    IssueId,
    Hash,
    GroupingVersion,
    CreatedAt,
}

impl TenantTable for IssueFingerprints {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IssueFingerprints {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `issue_activity` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IssueActivity {
    Table,
    Id,
    AccountId,
    ProjectId,
    IssueId,
    Kind,
    Actor,
    Data,
    CreatedAt,
}

impl TenantTable for IssueActivity {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IssueActivity {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `issue_bookmarks` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IssueBookmarks {
    Table,
    Id,
    AccountId,
    IssueId,
    UserId,
    CreatedAt,
}

impl TenantTable for IssueBookmarks {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}
