//! User feedback: the legacy `user_report` item and the `feedback` item, stored as user reports
//! (identifiers in [`super::events::UserReports`]).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{OnConflict, Query};

use super::Tenant;
use super::events::UserReports;
use crate::ids::ProjectId;

/// One report as received.
pub(crate) struct NewReport {
    pub(crate) report_id: String,
    pub(crate) event_id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) comments: String,
    pub(crate) created_at: DateTime<Utc>,
}

/// Stores a report; one with a `report_id` already stored for the project is ignored.
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    project: ProjectId,
    report: NewReport,
) -> anyhow::Result<()> {
    let statement = Query::insert()
        .into_table(UserReports::Table)
        .columns([
            UserReports::AccountId,
            UserReports::ProjectId,
            UserReports::EventId,
            UserReports::ReportId,
            UserReports::Name,
            UserReports::Email,
            UserReports::Comments,
            UserReports::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            report.event_id.into(),
            report.report_id.into(),
            report.name.into(),
            report.email.into(),
            report.comments.into(),
            report.created_at.into(),
        ])
        .on_conflict(
            OnConflict::columns([UserReports::ProjectId, UserReports::ReportId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}
