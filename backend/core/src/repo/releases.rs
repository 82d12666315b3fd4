//! Releases (one row per project and version) and their deploys.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden, FromQueryResult};

use super::{ProjectTable, Tenant, TenantTable, delete, select, update};
use crate::ids::{DeployId, ProjectId, ReleaseId};

/// The `releases` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Releases {
    Table,
    Id,
    AccountId,
    ProjectId,
    Version,
    Url,
    DateCreated,
    DateStarted,
    DateReleased,
    FirstEvent,
    LastEvent,
    EventCount,
    NewIssues,
}

impl TenantTable for Releases {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Releases {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `deploys` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Deploys {
    Table,
    Id,
    AccountId,
    ReleaseId,
    Environment,
    Name,
    Url,
    DateStarted,
    DateFinished,
}

impl TenantTable for Deploys {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

const RELEASE_COLUMNS: [Releases; 11] = [
    Releases::Id,
    Releases::ProjectId,
    Releases::Version,
    Releases::Url,
    Releases::DateCreated,
    Releases::DateStarted,
    Releases::DateReleased,
    Releases::FirstEvent,
    Releases::LastEvent,
    Releases::EventCount,
    Releases::NewIssues,
];

/// A stored release row.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct ReleaseRow {
    pub(crate) id: i64,
    pub(crate) project_id: i64,
    pub(crate) version: String,
    pub(crate) url: Option<String>,
    pub(crate) date_created: DateTime<Utc>,
    pub(crate) date_started: Option<DateTime<Utc>>,
    pub(crate) date_released: Option<DateTime<Utc>>,
    pub(crate) first_event: Option<DateTime<Utc>>,
    pub(crate) last_event: Option<DateTime<Utc>>,
    pub(crate) event_count: i64,
    pub(crate) new_issues: i64,
}

/// What the API may set on a release (absent fields are left as they are).
#[derive(Clone, Debug, Default)]
pub(crate) struct ReleaseChanges {
    pub(crate) url: Option<String>,
    pub(crate) date_started: Option<DateTime<Utc>>,
    pub(crate) date_released: Option<DateTime<Utc>>,
}

/// Creates the release `version` of `project` unless it exists (the existing row keeps its
/// creation date). Returns whether a row was inserted.
pub(crate) async fn ensure(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
    version: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(Releases::Table)
        .columns([
            Releases::AccountId,
            Releases::ProjectId,
            Releases::Version,
            Releases::DateCreated,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            version.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns([Releases::ProjectId, Releases::Version])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected() > 0)
}

/// Sets the given fields on the tenant's release rows of `version` in `projects`; returns the
/// rows changed.
pub(crate) async fn change(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    projects: &[ProjectId],
    version: &str,
    changes: &ReleaseChanges,
) -> Result<u64, DbErr> {
    let mut statement = update::<Releases>(tenant);
    let mut any = false;
    if let Some(url) = &changes.url {
        statement.value(Releases::Url, url.clone());
        any = true;
    }
    if let Some(at) = changes.date_started {
        statement.value(Releases::DateStarted, at);
        any = true;
    }
    if let Some(at) = changes.date_released {
        statement.value(Releases::DateReleased, at);
        any = true;
    }
    if !any {
        return Ok(0);
    }
    statement
        .and_where(Expr::col(Releases::Version).eq(version))
        .and_where(Expr::col(Releases::ProjectId).is_in(projects.iter().map(|p| p.0)));
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// Which of the tenant's release rows [`list`] reads.
#[derive(Clone, Debug)]
pub(crate) struct ReleaseFilter<'a> {
    /// Only these projects (`None`: every project of the tenant).
    pub(crate) projects: Option<&'a [ProjectId]>,
    /// Only these versions.
    pub(crate) versions: Option<&'a [String]>,
    /// Versions containing this text.
    pub(crate) query: Option<&'a str>,
    /// Rows with an id below this one (newest first paging).
    pub(crate) before: Option<ReleaseId>,
    /// At most this many rows.
    pub(crate) limit: u64,
}

/// The tenant's release rows, newest first.
pub(crate) async fn list(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    filter: &ReleaseFilter<'_>,
) -> Result<Vec<ReleaseRow>, DbErr> {
    let mut statement = select::<Releases>(tenant);
    statement.columns(RELEASE_COLUMNS);
    if let Some(projects) = filter.projects {
        statement.and_where(Expr::col(Releases::ProjectId).is_in(projects.iter().map(|p| p.0)));
    }
    if let Some(versions) = filter.versions {
        statement.and_where(Expr::col(Releases::Version).is_in(versions.iter().cloned()));
    }
    if let Some(query) = filter.query {
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        statement.and_where(
            Expr::col(Releases::Version)
                .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if let Some(before) = filter.before {
        statement.and_where(Expr::col(Releases::Id).lt(before.0));
    }
    statement
        .order_by(Releases::Id, Order::Desc)
        .limit(filter.limit);
    let rows = conn.query_all(&statement).await?;
    rows.iter()
        .map(|row| ReleaseRow::from_query_result(row, ""))
        .collect()
}

/// Deletes the tenant's release rows of `version` in `projects` (their deploys cascade);
/// returns the rows deleted.
pub(crate) async fn delete_version(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    projects: &[ProjectId],
    version: &str,
) -> Result<u64, DbErr> {
    let statement = delete::<Releases>(tenant)
        .and_where(Expr::col(Releases::Version).eq(version))
        .and_where(Expr::col(Releases::ProjectId).is_in(projects.iter().map(|p| p.0)))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// A stored deploy.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct DeployRow {
    pub(crate) id: i64,
    pub(crate) release_id: i64,
    pub(crate) environment: String,
    pub(crate) name: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) date_started: Option<DateTime<Utc>>,
    pub(crate) date_finished: DateTime<Utc>,
}

/// A deploy to record.
#[derive(Clone, Debug)]
pub(crate) struct NewDeploy {
    pub(crate) environment: String,
    pub(crate) name: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) date_started: Option<DateTime<Utc>>,
    pub(crate) date_finished: DateTime<Utc>,
}

/// Records a deploy of the tenant's release row `release`.
pub(crate) async fn insert_deploy(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    release: ReleaseId,
    deploy: &NewDeploy,
) -> Result<DeployId, DbErr> {
    let tenant = tenant.into();
    let row = conn
        .query_one(
            &Query::insert()
                .into_table(Deploys::Table)
                .columns([
                    Deploys::AccountId,
                    Deploys::ReleaseId,
                    Deploys::Environment,
                    Deploys::Name,
                    Deploys::Url,
                    Deploys::DateStarted,
                    Deploys::DateFinished,
                ])
                .values_panic([
                    tenant.account_id().0.into(),
                    release.0.into(),
                    deploy.environment.clone().into(),
                    deploy.name.clone().into(),
                    deploy.url.clone().into(),
                    deploy.date_started.into(),
                    deploy.date_finished.into(),
                ])
                .returning_col(Deploys::Id)
                .to_owned(),
        )
        .await?
        .ok_or_else(|| DbErr::Custom("insert returned no id".to_owned()))?;
    Ok(DeployId(row.try_get("", "id")?))
}

/// The tenant's deploys of the release rows `releases`, newest first.
pub(crate) async fn deploys_of(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    releases: &[ReleaseId],
) -> Result<Vec<DeployRow>, DbErr> {
    let statement = select::<Deploys>(tenant)
        .columns([
            Deploys::Id,
            Deploys::ReleaseId,
            Deploys::Environment,
            Deploys::Name,
            Deploys::Url,
            Deploys::DateStarted,
            Deploys::DateFinished,
        ])
        .and_where(Expr::col(Deploys::ReleaseId).is_in(releases.iter().map(|r| r.0)))
        .order_by(Deploys::DateFinished, Order::Desc)
        .order_by(Deploys::Id, Order::Desc)
        .to_owned();
    let rows = conn.query_all(&statement).await?;
    rows.iter()
        .map(|row| DeployRow::from_query_result(row, ""))
        .collect()
}
