//! Per-issue counters that survive event eviction: hourly counts and tag values.
//!
//! Identifiers: a misspelled table or column is a compile error.
//!
//! Also the reads of `outcomes` that pages and billing show (`repo/outcomes.rs` holds the
//! table's identifiers).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DeriveIden};

use super::outcomes::Outcomes;
use super::{ProjectTable, Tenant, TenantTable, delete, select, update};
use crate::Result;
use crate::ids::{IssueId, ProjectId};
use crate::scope::AccountScope;

/// The `issue_stats_hourly` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IssueStatsHourly {
    Table,
    Id,
    AccountId,
    ProjectId,
    IssueId,
    Hour,
    TimesSeen,
}

impl TenantTable for IssueStatsHourly {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IssueStatsHourly {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `issue_tag_values` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IssueTagValues {
    Table,
    Id,
    AccountId,
    ProjectId,
    IssueId,
    Key,
    Value,
    TimesSeen,
    FirstSeen,
    LastSeen,
}

impl TenantTable for IssueTagValues {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IssueTagValues {
    const PROJECT_ID: Self = Self::ProjectId;
}

// ---- hourly counts ------------------------------------------------------------------------

/// Events per hour of an issue in `[from, to)` (hours without events are absent).
pub(crate) async fn hourly(
    scope: &AccountScope,
    issue: IssueId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i64)>> {
    let query = select::<IssueStatsHourly>(scope)
        .columns([IssueStatsHourly::Hour, IssueStatsHourly::TimesSeen])
        .and_where(Expr::col(IssueStatsHourly::IssueId).eq(issue.0))
        .and_where(Expr::col(IssueStatsHourly::Hour).gte(from))
        .and_where(Expr::col(IssueStatsHourly::Hour).lt(to))
        .to_owned();
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "hour")?, r.try_get("", "times_seen")?)))
        .collect()
}

/// Adds the hourly counts of `sources` into `target`'s rows (an issue merge).
pub(crate) async fn add_hours_of(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    target: IssueId,
    sources: &[IssueId],
) -> Result<()> {
    let tenant = tenant.into();
    let query = select::<IssueStatsHourly>(tenant)
        .columns([IssueStatsHourly::Hour, IssueStatsHourly::TimesSeen])
        .and_where(Expr::col(IssueStatsHourly::IssueId).is_in(sources.iter().map(|i| i.0)))
        .to_owned();
    for row in conn.query_all(&query).await? {
        let hour: DateTime<Utc> = row.try_get("", "hour")?;
        let count: i64 = row.try_get("", "times_seen")?;
        let upsert = hourly_insert(tenant, project, target, hour, count)
            .on_conflict(
                OnConflict::columns([IssueStatsHourly::IssueId, IssueStatsHourly::Hour])
                    .value(
                        IssueStatsHourly::TimesSeen,
                        Expr::col((IssueStatsHourly::Table, IssueStatsHourly::TimesSeen)).add(
                            Expr::col((Alias::new("excluded"), IssueStatsHourly::TimesSeen)),
                        ),
                    )
                    .to_owned(),
            )
            .to_owned();
        conn.execute(&upsert).await?;
    }
    Ok(())
}

fn hourly_insert(
    tenant: Tenant,
    project: ProjectId,
    issue: IssueId,
    hour: DateTime<Utc>,
    count: i64,
) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(IssueStatsHourly::Table)
        .columns([
            IssueStatsHourly::AccountId,
            IssueStatsHourly::ProjectId,
            IssueStatsHourly::IssueId,
            IssueStatsHourly::Hour,
            IssueStatsHourly::TimesSeen,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            issue.0.into(),
            hour.into(),
            count.into(),
        ])
        .to_owned()
}

/// Moves `count` events of `hour` from issue `from` to the new issue `to` (an unmerge; `to`
/// has no row for the hour yet).
pub(crate) async fn move_hour(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    from: IssueId,
    to: IssueId,
    hour: DateTime<Utc>,
    count: i64,
) -> Result<()> {
    let tenant = tenant.into();
    conn.execute(&hourly_insert(tenant, project, to, hour, count))
        .await?;
    let subtract = update::<IssueStatsHourly>(tenant)
        .value(
            IssueStatsHourly::TimesSeen,
            Expr::col(IssueStatsHourly::TimesSeen).sub(count),
        )
        .and_where(Expr::col(IssueStatsHourly::IssueId).eq(from.0))
        .and_where(Expr::col(IssueStatsHourly::Hour).eq(hour))
        .to_owned();
    conn.execute(&subtract).await?;
    Ok(())
}

// ---- tag values ---------------------------------------------------------------------------

/// A tag key and value with a count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TagCount {
    pub key: String,
    pub value: String,
    pub count: i64,
}

/// The tag values of an issue: by key, then most frequent first, then by value.
pub(crate) async fn tag_values(scope: &AccountScope, issue: IssueId) -> Result<Vec<TagCount>> {
    let query = select::<IssueTagValues>(scope)
        .columns([
            IssueTagValues::Key,
            IssueTagValues::Value,
            IssueTagValues::TimesSeen,
        ])
        .and_where(Expr::col(IssueTagValues::IssueId).eq(issue.0))
        .order_by(IssueTagValues::Key, Order::Asc)
        .order_by(IssueTagValues::TimesSeen, Order::Desc)
        .order_by(IssueTagValues::Value, Order::Asc)
        .to_owned();
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| {
            Ok(TagCount {
                key: r.try_get("", "key")?,
                value: r.try_get("", "value")?,
                count: r.try_get("", "times_seen")?,
            })
        })
        .collect()
}

/// The tag values of a project's issues (`None`: every project of the tenant), events summed
/// over the issues: by key, then most frequent first, then by value.
pub(crate) async fn project_tag_values(
    scope: &AccountScope,
    project: Option<ProjectId>,
) -> Result<Vec<TagCount>> {
    let mut query = select::<IssueTagValues>(scope)
        .columns([IssueTagValues::Key, IssueTagValues::Value])
        .expr_as(Expr::cust("CAST(SUM(times_seen) AS BIGINT)"), "events")
        .group_by_col(IssueTagValues::Key)
        .group_by_col(IssueTagValues::Value)
        .order_by(IssueTagValues::Key, Order::Asc)
        .order_by_expr(Expr::cust("events"), Order::Desc)
        .order_by(IssueTagValues::Value, Order::Asc)
        .to_owned();
    if let Some(project) = project {
        query.and_where(Expr::col(IssueTagValues::ProjectId).eq(project.0));
    }
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| {
            Ok(TagCount {
                key: r.try_get("", "key")?,
                value: r.try_get("", "value")?,
                count: r.try_get("", "events")?,
            })
        })
        .collect()
}

/// A value of one tag key across a project's issues.
#[derive(Clone, Debug)]
pub(crate) struct SeenRow {
    pub value: String,
    pub events: i64,
    pub issues: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// The values of tag `key` in a project's issues, most recently seen first, at most `limit`.
pub(crate) async fn seen_values(
    scope: &AccountScope,
    project: ProjectId,
    key: &str,
    limit: u64,
) -> Result<Vec<SeenRow>> {
    let query = select::<IssueTagValues>(scope)
        .column(IssueTagValues::Value)
        .expr_as(Expr::cust("CAST(SUM(times_seen) AS BIGINT)"), "events")
        .expr_as(Expr::col(IssueTagValues::IssueId).count(), "issues")
        .expr_as(Expr::col(IssueTagValues::FirstSeen).min(), "first_seen")
        .expr_as(Expr::col(IssueTagValues::LastSeen).max(), "last_seen")
        .and_where(Expr::col(IssueTagValues::ProjectId).eq(project.0))
        .and_where(Expr::col(IssueTagValues::Key).eq(key))
        .group_by_col(IssueTagValues::Value)
        .order_by_expr(Expr::col(IssueTagValues::LastSeen).max(), Order::Desc)
        .limit(limit)
        .to_owned();
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| {
            Ok(SeenRow {
                value: r.try_get("", "value")?,
                events: r.try_get("", "events")?,
                issues: r.try_get("", "issues")?,
                first_seen: r.try_get("", "first_seen")?,
                last_seen: r.try_get("", "last_seen")?,
            })
        })
        .collect()
}

/// Distinct users of an issue: its values of the `user` tag.
pub(crate) async fn count_users(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: IssueId,
) -> Result<i64> {
    let query = select::<IssueTagValues>(tenant)
        .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
        .and_where(Expr::col(IssueTagValues::IssueId).eq(issue.0))
        .and_where(Expr::col(IssueTagValues::Key).eq("user"))
        .to_owned();
    Ok(conn
        .query_one(&query)
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

fn tag_value_insert(
    tenant: Tenant,
    project: ProjectId,
    issue: IssueId,
    key: String,
    value: String,
    (count, first, last): (i64, DateTime<Utc>, DateTime<Utc>),
) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(IssueTagValues::Table)
        .columns([
            IssueTagValues::AccountId,
            IssueTagValues::ProjectId,
            IssueTagValues::IssueId,
            IssueTagValues::Key,
            IssueTagValues::Value,
            IssueTagValues::TimesSeen,
            IssueTagValues::FirstSeen,
            IssueTagValues::LastSeen,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            issue.0.into(),
            key.into(),
            value.into(),
            count.into(),
            first.into(),
            last.into(),
        ])
        .to_owned()
}

/// Adds the tag values of `sources` into `target`'s rows (an issue merge): counts add up,
/// first/last seen widen.
pub(crate) async fn add_tag_values_of(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    target: IssueId,
    sources: &[IssueId],
) -> Result<()> {
    let tenant = tenant.into();
    let query = select::<IssueTagValues>(tenant)
        .columns([
            IssueTagValues::Key,
            IssueTagValues::Value,
            IssueTagValues::TimesSeen,
            IssueTagValues::FirstSeen,
            IssueTagValues::LastSeen,
        ])
        .and_where(Expr::col(IssueTagValues::IssueId).is_in(sources.iter().map(|i| i.0)))
        .to_owned();
    for row in conn.query_all(&query).await? {
        let tally = (
            row.try_get("", "times_seen")?,
            row.try_get("", "first_seen")?,
            row.try_get("", "last_seen")?,
        );
        let upsert = tag_value_insert(
            tenant,
            project,
            target,
            row.try_get("", "key")?,
            row.try_get("", "value")?,
            tally,
        )
        .on_conflict(
            OnConflict::columns([
                IssueTagValues::IssueId,
                IssueTagValues::Key,
                IssueTagValues::Value,
            ])
            .value(
                IssueTagValues::TimesSeen,
                Expr::cust("issue_tag_values.times_seen + excluded.times_seen"),
            )
            .value(
                IssueTagValues::FirstSeen,
                Expr::cust("CASE WHEN excluded.first_seen < issue_tag_values.first_seen THEN excluded.first_seen ELSE issue_tag_values.first_seen END"),
            )
            .value(
                IssueTagValues::LastSeen,
                Expr::cust("CASE WHEN excluded.last_seen > issue_tag_values.last_seen THEN excluded.last_seen ELSE issue_tag_values.last_seen END"),
            )
            .to_owned(),
        )
        .to_owned();
        conn.execute(&upsert).await?;
    }
    Ok(())
}

/// Moves `(count, first, last)` events of tag `key`=`value` from issue `from` to the new issue
/// `to` (an unmerge).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_tag_value(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    from: IssueId,
    to: IssueId,
    key: &str,
    value: &str,
    tally: (i64, DateTime<Utc>, DateTime<Utc>),
) -> Result<()> {
    let tenant = tenant.into();
    let insert = tag_value_insert(tenant, project, to, key.to_owned(), value.to_owned(), tally)
        .on_conflict(
            OnConflict::columns([
                IssueTagValues::IssueId,
                IssueTagValues::Key,
                IssueTagValues::Value,
            ])
            .do_nothing()
            .to_owned(),
        )
        .to_owned();
    conn.execute(&insert).await?;
    let subtract = update::<IssueTagValues>(tenant)
        .value(
            IssueTagValues::TimesSeen,
            Expr::col(IssueTagValues::TimesSeen).sub(tally.0),
        )
        .and_where(Expr::col(IssueTagValues::IssueId).eq(from.0))
        .and_where(Expr::col(IssueTagValues::Key).eq(key))
        .and_where(Expr::col(IssueTagValues::Value).eq(value))
        .to_owned();
    conn.execute(&subtract).await?;
    Ok(())
}

/// Deletes an issue's hourly counts and tag values that no event is left in.
pub(crate) async fn delete_emptied(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: IssueId,
) -> Result<()> {
    let tenant = tenant.into();
    let hours = delete::<IssueStatsHourly>(tenant)
        .and_where(Expr::col(IssueStatsHourly::IssueId).eq(issue.0))
        .and_where(Expr::col(IssueStatsHourly::TimesSeen).lte(0))
        .to_owned();
    conn.execute(&hours).await?;
    let tags = delete::<IssueTagValues>(tenant)
        .and_where(Expr::col(IssueTagValues::IssueId).eq(issue.0))
        .and_where(Expr::col(IssueTagValues::TimesSeen).lte(0))
        .to_owned();
    conn.execute(&tags).await?;
    Ok(())
}

// ---- outcomes -----------------------------------------------------------------------------

/// One outcome row: what happened to how many items of a category in an hour.
#[derive(Clone, Debug)]
pub(crate) struct OutcomeRow {
    pub hour: DateTime<Utc>,
    pub category: String,
    pub outcome: String,
    pub reason: String,
    pub quantity: i64,
}

/// The tenant's outcomes (of one project, or of all) in `[from, to)`, by hour, category,
/// outcome and reason.
pub(crate) async fn outcomes(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: Option<ProjectId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<OutcomeRow>> {
    let mut query = select::<Outcomes>(tenant)
        .columns([
            Outcomes::Hour,
            Outcomes::Category,
            Outcomes::Outcome,
            Outcomes::Reason,
            Outcomes::Quantity,
        ])
        .and_where(Expr::col(Outcomes::Hour).gte(from))
        .and_where(Expr::col(Outcomes::Hour).lt(to))
        .order_by(Outcomes::Hour, Order::Asc)
        .order_by(Outcomes::Category, Order::Asc)
        .order_by(Outcomes::Outcome, Order::Asc)
        .order_by(Outcomes::Reason, Order::Asc)
        .to_owned();
    if let Some(project) = project {
        query.and_where(Expr::col(Outcomes::ProjectId).eq(project.0));
    }
    conn.query_all(&query)
        .await?
        .iter()
        .map(|r| {
            Ok(OutcomeRow {
                hour: r.try_get("", "hour")?,
                category: r.try_get("", "category")?,
                outcome: r.try_get("", "outcome")?,
                reason: r.try_get("", "reason")?,
                quantity: r.try_get("", "quantity")?,
            })
        })
        .collect()
}
