//! Stored events and what hangs off them: attachments and user reports (feedback).
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::{ProjectTable, TenantTable};

/// The `events` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Events {
    Table,
    Id,
    AccountId,
    ProjectId,
    IssueId,
    EventId,
    Timestamp,
    ReceivedAt,
    Level,
    Platform,
    Release,
    Environment,
    Title,
    UserKey,
    Payload,
    PayloadSize,
    GroupingHash,
}

impl TenantTable for Events {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Events {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `attachments` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Attachments {
    Table,
    Id,
    AccountId,
    ProjectId,
    EventId,
    Filename,
    ContentType,
    AttachmentType,
    Size,
    Data,
    CreatedAt,
}

impl TenantTable for Attachments {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Attachments {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `user_reports` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum UserReports {
    Table,
    Id,
    AccountId,
    ProjectId,
    EventId,
    ReportId,
    Name,
    Email,
    Comments,
    CreatedAt,
}

impl TenantTable for UserReports {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for UserReports {
    const PROJECT_ID: Self = Self::ProjectId;
}
