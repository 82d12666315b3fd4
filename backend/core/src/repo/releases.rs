//! Releases (one row per project and version) and their deploys.
//!
//! Identifiers: a misspelled table or column is a compile error.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden, FromQueryResult};

use super::{ProjectTable, Tenant, TenantTable, delete, select, update};
use crate::ids::{AccountId, DeployId, IssueId, ProjectId, ReleaseId};

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
    Regressions,
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

/// The `release_environments` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ReleaseEnvironments {
    Table,
    Id,
    AccountId,
    ProjectId,
    ReleaseId,
    Environment,
    FirstEvent,
    LastEvent,
    EventCount,
    NewIssues,
}

impl TenantTable for ReleaseEnvironments {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for ReleaseEnvironments {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `release_issues` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ReleaseIssues {
    Table,
    Id,
    AccountId,
    ProjectId,
    ReleaseId,
    IssueId,
    Kind,
    CreatedAt,
}

impl TenantTable for ReleaseIssues {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for ReleaseIssues {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// `release_issues.kind` of an issue first seen in the release.
pub(crate) const KIND_NEW: &str = "new";
/// `release_issues.kind` of an issue that regressed in the release.
pub(crate) const KIND_REGRESSION: &str = "regression";

const RELEASE_COLUMNS: [Releases; 12] = [
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
    Releases::Regressions,
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
    pub(crate) regressions: i64,
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

// ---- the digest -------------------------------------------------------------------------------

/// A release's share of a batch.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReleaseCounts {
    pub(crate) account: AccountId,
    pub(crate) events: i64,
    pub(crate) first_event: DateTime<Utc>,
    pub(crate) last_event: DateTime<Utc>,
    /// Issues new in this release (also counted per environment below).
    pub(crate) new_issues: Vec<IssueId>,
    /// Issues that regressed in this release.
    pub(crate) regressions: Vec<IssueId>,
    /// Environment → (events, first, last, new issues).
    pub(crate) environments: BTreeMap<String, EnvironmentCounts>,
}

/// A release's share of a batch in one environment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EnvironmentCounts {
    pub(crate) events: i64,
    pub(crate) first_event: DateTime<Utc>,
    pub(crate) last_event: DateTime<Utc>,
    pub(crate) new_issues: i64,
}

/// `(project, version)` → what the batch adds, sorted by that key (the upserts' conflict key,
/// so concurrent digesters lock release rows in one order).
pub(crate) type BatchReleases = BTreeMap<(ProjectId, String), ReleaseCounts>;

/// Adds a digest batch's counts to its releases (created on their first event), their
/// environments and their new and regressed issues. Rows are written in conflict-key order.
pub(crate) async fn add_batch(
    conn: &impl ConnectionTrait,
    releases: &BatchReleases,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if releases.is_empty() {
        return Ok(());
    }
    let mut ids: std::collections::HashMap<(i64, String), i64> =
        std::collections::HashMap::with_capacity(releases.len());
    let entries: Vec<_> = releases.iter().collect();
    // 9 values a row.
    for chunk in entries.chunks(super::digest::MAX_PARAMS / 9) {
        let mut insert = Query::insert();
        insert.into_table(Releases::Table).columns([
            Releases::AccountId,
            Releases::ProjectId,
            Releases::Version,
            Releases::DateCreated,
            Releases::FirstEvent,
            Releases::LastEvent,
            Releases::EventCount,
            Releases::NewIssues,
            Releases::Regressions,
        ]);
        for ((project, version), counts) in chunk {
            insert.values_panic([
                counts.account.0.into(),
                project.0.into(),
                version.clone().into(),
                now.into(),
                counts.first_event.into(),
                counts.last_event.into(),
                counts.events.into(),
                i64::try_from(counts.new_issues.len())
                    .unwrap_or(i64::MAX)
                    .into(),
                i64::try_from(counts.regressions.len())
                    .unwrap_or(i64::MAX)
                    .into(),
            ]);
        }
        insert
            .on_conflict(
                OnConflict::columns([Releases::ProjectId, Releases::Version])
                    .value(Releases::EventCount, Expr::cust("releases.event_count + excluded.event_count"))
                    .value(Releases::NewIssues, Expr::cust("releases.new_issues + excluded.new_issues"))
                    .value(Releases::Regressions, Expr::cust("releases.regressions + excluded.regressions"))
                    .value(
                        Releases::FirstEvent,
                        Expr::cust("CASE WHEN releases.first_event IS NULL OR excluded.first_event < releases.first_event THEN excluded.first_event ELSE releases.first_event END"),
                    )
                    .value(
                        Releases::LastEvent,
                        Expr::cust("CASE WHEN releases.last_event IS NULL OR excluded.last_event > releases.last_event THEN excluded.last_event ELSE releases.last_event END"),
                    )
                    .to_owned(),
            )
            .returning(Query::returning().columns([
                Releases::Id,
                Releases::ProjectId,
                Releases::Version,
            ]));
        for row in conn.query_all(&insert).await? {
            ids.insert(
                (row.try_get("", "project_id")?, row.try_get("", "version")?),
                row.try_get("", "id")?,
            );
        }
    }
    let id_of = |project: ProjectId, version: &str| -> Result<i64, DbErr> {
        ids.get(&(project.0, version.to_owned()))
            .copied()
            .ok_or_else(|| DbErr::Custom(format!("release {version} of {project:?} not returned")))
    };

    let mut environments = Vec::new();
    let mut issues = Vec::new();
    for ((project, version), counts) in releases {
        let release = id_of(*project, version)?;
        for (environment, env) in &counts.environments {
            environments.push((release, counts.account, *project, environment, env));
        }
        for (kind, list) in [
            (KIND_NEW, &counts.new_issues),
            (KIND_REGRESSION, &counts.regressions),
        ] {
            for issue in list {
                issues.push((release, kind, *issue, counts.account, *project));
            }
        }
    }
    // Sorted by the conflict keys (release, environment) and (release, kind, issue).
    environments.sort_by(|a, b| (a.0, a.3).cmp(&(b.0, b.3)));
    issues.sort_by_key(|i| (i.0, i.1, i.2));
    for chunk in environments.chunks(super::digest::MAX_PARAMS / 8) {
        let mut insert = Query::insert();
        insert.into_table(ReleaseEnvironments::Table).columns([
            ReleaseEnvironments::AccountId,
            ReleaseEnvironments::ProjectId,
            ReleaseEnvironments::ReleaseId,
            ReleaseEnvironments::Environment,
            ReleaseEnvironments::FirstEvent,
            ReleaseEnvironments::LastEvent,
            ReleaseEnvironments::EventCount,
            ReleaseEnvironments::NewIssues,
        ]);
        for (release, account, project, environment, env) in chunk {
            insert.values_panic([
                account.0.into(),
                project.0.into(),
                (*release).into(),
                (*environment).clone().into(),
                env.first_event.into(),
                env.last_event.into(),
                env.events.into(),
                env.new_issues.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns([ReleaseEnvironments::ReleaseId, ReleaseEnvironments::Environment])
                .value(ReleaseEnvironments::EventCount, Expr::cust("release_environments.event_count + excluded.event_count"))
                .value(ReleaseEnvironments::NewIssues, Expr::cust("release_environments.new_issues + excluded.new_issues"))
                .value(
                    ReleaseEnvironments::FirstEvent,
                    Expr::cust("CASE WHEN excluded.first_event < release_environments.first_event THEN excluded.first_event ELSE release_environments.first_event END"),
                )
                .value(
                    ReleaseEnvironments::LastEvent,
                    Expr::cust("CASE WHEN excluded.last_event > release_environments.last_event THEN excluded.last_event ELSE release_environments.last_event END"),
                )
                .to_owned(),
        );
        conn.execute(&insert).await?;
    }
    for chunk in issues.chunks(super::digest::MAX_PARAMS / 6) {
        let mut insert = Query::insert();
        insert.into_table(ReleaseIssues::Table).columns([
            ReleaseIssues::AccountId,
            ReleaseIssues::ProjectId,
            ReleaseIssues::ReleaseId,
            ReleaseIssues::IssueId,
            ReleaseIssues::Kind,
            ReleaseIssues::CreatedAt,
        ]);
        for (release, kind, issue, account, project) in chunk {
            insert.values_panic([
                account.0.into(),
                project.0.into(),
                (*release).into(),
                issue.0.into(),
                (*kind).into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns([
                ReleaseIssues::ReleaseId,
                ReleaseIssues::Kind,
                ReleaseIssues::IssueId,
            ])
            .do_nothing()
            .to_owned(),
        );
        conn.execute(&insert).await?;
    }
    Ok(())
}

/// The version of the project's newest release (by creation; the row id breaks ties).
pub(crate) async fn latest_version(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
) -> Result<Option<String>, DbErr> {
    let statement = select::<Releases>(tenant)
        .column(Releases::Version)
        .and_where(Expr::col(Releases::ProjectId).eq(project.0))
        .order_by(Releases::DateCreated, Order::Desc)
        .order_by(Releases::Id, Order::Desc)
        .limit(1)
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| row.try_get::<String>("", "version"))
        .transpose()
}

/// The order of the project's releases among `versions` ([`crate::release::ReleaseOrder`]).
pub(crate) async fn order_of(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
    versions: &[String],
) -> Result<crate::release::ReleaseOrder, DbErr> {
    if versions.is_empty() {
        return Ok(crate::release::ReleaseOrder::default());
    }
    let statement = select::<Releases>(tenant)
        .columns([Releases::Version, Releases::DateCreated, Releases::Id])
        .and_where(Expr::col(Releases::ProjectId).eq(project.0))
        .and_where(Expr::col(Releases::Version).is_in(versions.iter().cloned()))
        .to_owned();
    let rows = conn.query_all(&statement).await?;
    let mut order = Vec::with_capacity(rows.len());
    for row in rows {
        order.push((
            row.try_get::<String>("", "version")?,
            row.try_get::<DateTime<Utc>>("", "date_created")?,
            row.try_get::<i64>("", "id")?,
        ));
    }
    Ok(crate::release::ReleaseOrder::new(order))
}

/// Deletes every account's releases idle since `before`: no event, no deploy finished and no
/// release or creation after it (their environments and issue links go with them); returns the
/// rows deleted.
pub(crate) async fn delete_idle_all_accounts(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let recent_deploys = Query::select()
        .expr(Expr::val(1))
        .from(Deploys::Table)
        .and_where(
            Expr::col((Deploys::Table, Deploys::ReleaseId)).equals((Releases::Table, Releases::Id)),
        )
        .and_where(Expr::col((Deploys::Table, Deploys::DateFinished)).gte(before))
        .to_owned();
    let statement = Query::delete()
        .from_table(Releases::Table)
        .and_where(Expr::col(Releases::DateCreated).lt(before))
        .and_where(
            Expr::col(Releases::LastEvent)
                .is_null()
                .or(Expr::col(Releases::LastEvent).lt(before)),
        )
        .and_where(
            Expr::col(Releases::DateReleased)
                .is_null()
                .or(Expr::col(Releases::DateReleased).lt(before)),
        )
        .and_where(Expr::exists(recent_deploys).not())
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

// ---- the dashboard ----------------------------------------------------------------------------

/// A stored per-environment row of a release.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct ReleaseEnvironmentRow {
    pub(crate) environment: String,
    pub(crate) first_event: DateTime<Utc>,
    pub(crate) last_event: DateTime<Utc>,
    pub(crate) event_count: i64,
    pub(crate) new_issues: i64,
}

/// The tenant's per-environment rows of the release row `release`, busiest first (the name
/// breaks ties).
pub(crate) async fn environments_of(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    release: ReleaseId,
) -> Result<Vec<ReleaseEnvironmentRow>, DbErr> {
    let statement = select::<ReleaseEnvironments>(tenant)
        .columns([
            ReleaseEnvironments::Environment,
            ReleaseEnvironments::FirstEvent,
            ReleaseEnvironments::LastEvent,
            ReleaseEnvironments::EventCount,
            ReleaseEnvironments::NewIssues,
        ])
        .and_where(Expr::col(ReleaseEnvironments::ReleaseId).eq(release.0))
        .order_by(ReleaseEnvironments::EventCount, Order::Desc)
        .order_by(ReleaseEnvironments::Environment, Order::Asc)
        .to_owned();
    let rows = conn.query_all(&statement).await?;
    rows.iter()
        .map(|row| ReleaseEnvironmentRow::from_query_result(row, ""))
        .collect()
}

/// The tenant's issues linked to the release row `release` as `kind` ([`KIND_NEW`],
/// [`KIND_REGRESSION`]), in the order they were linked; at most `limit`. Both tables are
/// filtered on the tenant.
pub(crate) async fn issues_of(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    release: ReleaseId,
    kind: &str,
    limit: u64,
) -> Result<Vec<super::entity::issue::Model>, DbErr> {
    use super::issues::Issues;
    let tenant = tenant.into();
    let statement = select::<Issues>(tenant)
        .column((Issues::Table, sea_orm::sea_query::Asterisk))
        .inner_join(
            ReleaseIssues::Table,
            Expr::col((ReleaseIssues::Table, ReleaseIssues::IssueId))
                .equals((Issues::Table, Issues::Id)),
        )
        .and_where(
            Expr::col((ReleaseIssues::Table, ReleaseIssues::AccountId)).eq(tenant.account_id().0),
        )
        .and_where(Expr::col((ReleaseIssues::Table, ReleaseIssues::ReleaseId)).eq(release.0))
        .and_where(Expr::col((ReleaseIssues::Table, ReleaseIssues::Kind)).eq(kind))
        .order_by((ReleaseIssues::Table, ReleaseIssues::Id), Order::Asc)
        .limit(limit)
        .to_owned();
    let rows = conn.query_all(&statement).await?;
    rows.iter()
        .map(|row| super::entity::issue::Model::from_query_result(row, ""))
        .collect()
}

/// The bucket number (Unix seconds divided by `seconds`, the bucket's length) of `events.timestamp`: the
/// one expression that differs between the engines (SQLite stores RFC 3339 text, PostgreSQL
/// a `timestamptz`).
fn bucket_of_timestamp(backend: sea_orm::DbBackend, seconds: i64) -> Expr {
    match backend {
        sea_orm::DbBackend::Postgres => Expr::cust(format!(
            "CAST(FLOOR(EXTRACT(EPOCH FROM \"events\".\"timestamp\") / {seconds}) AS BIGINT)"
        )),
        _ => Expr::cust(format!(
            "CAST(strftime('%s', \"events\".\"timestamp\") AS INTEGER) / {seconds}"
        )),
    }
}

/// Events of `project` with release `version` in `[from, to)`, counted per bucket of
/// `bucket_seconds` (an hour, a day) in one grouped query: `(bucket number, events)` where the
/// number is Unix seconds divided by the length; buckets without events are absent. Served by
/// the `(account_id, project_id, timestamp)` index.
pub(crate) async fn event_buckets(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
    version: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_seconds: i64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    use super::events::Events;
    let statement = select::<Events>(tenant)
        .expr_as(
            bucket_of_timestamp(conn.get_database_backend(), bucket_seconds),
            sea_orm::sea_query::Alias::new("bucket"),
        )
        .expr_as(
            Expr::cust("CAST(COUNT(*) AS BIGINT)"),
            sea_orm::sea_query::Alias::new("events"),
        )
        .and_where(Expr::col((Events::Table, Events::ProjectId)).eq(project.0))
        .and_where(Expr::col((Events::Table, Events::Timestamp)).gte(from))
        .and_where(Expr::col((Events::Table, Events::Timestamp)).lt(to))
        .and_where(Expr::col((Events::Table, Events::Release)).eq(version))
        .add_group_by([Expr::cust("bucket")])
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "bucket")?, row.try_get("", "events")?)))
        .collect()
}
