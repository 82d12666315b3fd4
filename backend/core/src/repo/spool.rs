//! The ingest spool: acknowledged envelopes waiting for the digest.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::DeriveIden;

use super::{ProjectTable, TenantTable};

/// The `ingest_spool` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IngestSpool {
    Table,
    Id,
    AccountId,
    ProjectId,
    ReceivedAt,
    ClientIp,
    Envelope,
}

impl TenantTable for IngestSpool {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IngestSpool {
    const PROJECT_ID: Self = Self::ProjectId;
}
