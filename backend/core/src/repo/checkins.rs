//! Cron monitor check-ins.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DeriveIden};

use super::{ProjectTable, Tenant, TenantTable};
use crate::ids::ProjectId;

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

impl ProjectTable for MonitorCheckins {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// A check-in as the SDK sent it.
pub(crate) struct CheckIn {
    pub(crate) check_in_id: String,
    pub(crate) monitor_slug: String,
    pub(crate) status: String,
    pub(crate) duration: Option<f64>,
    pub(crate) environment: Option<String>,
    pub(crate) monitor_config: Option<String>,
    pub(crate) received_at: DateTime<Utc>,
}

/// Stores a check-in; the closing check-in updates the opening one (same `check_in_id`).
pub(crate) async fn upsert(
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    project: ProjectId,
    check_in: CheckIn,
) -> anyhow::Result<()> {
    let statement = Query::insert()
        .into_table(MonitorCheckins::Table)
        .columns([
            MonitorCheckins::AccountId,
            MonitorCheckins::ProjectId,
            MonitorCheckins::CheckInId,
            MonitorCheckins::MonitorSlug,
            MonitorCheckins::Status,
            MonitorCheckins::Duration,
            MonitorCheckins::Environment,
            MonitorCheckins::MonitorConfig,
            MonitorCheckins::ReceivedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            check_in.check_in_id.into(),
            check_in.monitor_slug.into(),
            check_in.status.into(),
            check_in.duration.into(),
            check_in.environment.into(),
            check_in.monitor_config.into(),
            check_in.received_at.into(),
        ])
        .on_conflict(
            OnConflict::columns([MonitorCheckins::ProjectId, MonitorCheckins::CheckInId])
                .update_columns([
                    MonitorCheckins::Status,
                    MonitorCheckins::Duration,
                    MonitorCheckins::ReceivedAt,
                ])
                .to_owned(),
        )
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}
