//! Release health: session counts per release, environment and hour.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DeriveIden};

use super::{ProjectTable, Tenant, TenantTable};
use crate::ids::ProjectId;

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

impl ProjectTable for ReleaseSessions {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// Session counts to add to one `(project, release, environment, hour)`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SessionCounts {
    pub(crate) started: i64,
    pub(crate) exited: i64,
    pub(crate) errored: i64,
    pub(crate) crashed: i64,
    pub(crate) abnormal: i64,
}

/// Adds `counts` to a release's hour (the digest of `session` and `sessions` items).
pub(crate) async fn add_counts(
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    project: ProjectId,
    release: String,
    environment: String,
    hour: DateTime<Utc>,
    counts: SessionCounts,
) -> anyhow::Result<()> {
    let statement = Query::insert()
        .into_table(ReleaseSessions::Table)
        .columns([
            ReleaseSessions::AccountId,
            ReleaseSessions::ProjectId,
            ReleaseSessions::Release,
            ReleaseSessions::Environment,
            ReleaseSessions::Hour,
            ReleaseSessions::Started,
            ReleaseSessions::Exited,
            ReleaseSessions::Errored,
            ReleaseSessions::Crashed,
            ReleaseSessions::Abnormal,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            release.into(),
            environment.into(),
            hour.into(),
            counts.started.into(),
            counts.exited.into(),
            counts.errored.into(),
            counts.crashed.into(),
            counts.abnormal.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                ReleaseSessions::ProjectId,
                ReleaseSessions::Release,
                ReleaseSessions::Environment,
                ReleaseSessions::Hour,
            ])
            .value(
                ReleaseSessions::Started,
                Expr::cust("release_sessions.started + excluded.started"),
            )
            .value(
                ReleaseSessions::Exited,
                Expr::cust("release_sessions.exited + excluded.exited"),
            )
            .value(
                ReleaseSessions::Errored,
                Expr::cust("release_sessions.errored + excluded.errored"),
            )
            .value(
                ReleaseSessions::Crashed,
                Expr::cust("release_sessions.crashed + excluded.crashed"),
            )
            .value(
                ReleaseSessions::Abnormal,
                Expr::cust("release_sessions.abnormal + excluded.abnormal"),
            )
            .to_owned(),
        )
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}
