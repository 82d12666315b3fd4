//! Issues, the fingerprints that map to them, their activity log and bookmarks.
//!
//! Identifiers: a misspelled table or column is a compile error.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, LikeExpr, OnConflict, Order, Query,
    SelectStatement, SimpleExpr, UpdateStatement,
};
use sea_orm::{ConnectionTrait, DeriveIden, FromQueryResult, QueryResult};

use super::entity::{issue, issue_activity};
use super::stats::IssueTagValues;
use super::{ProjectTable, Tenant, TenantTable, delete, select, update};
use crate::ids::{IssueId, ProjectId, UserId};
use crate::scope::AccountScope;
use crate::service::issue_state::{IssueState, IssueStatus, Substatus};
use crate::service::search::{Field, Search, Term};
use crate::{Error, Result};

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

impl super::IssueTable for IssueFingerprints {
    const ISSUE_ID: Self = Self::IssueId;
    const HASH: Self = Self::Hash;
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

// ---- issues -------------------------------------------------------------------------------

/// `SELECT issues.* … WHERE account_id = tenant`: every column, as the entity reads them.
fn issues(tenant: impl Into<Tenant>) -> SelectStatement {
    select::<Issues>(tenant)
        .column((Issues::Table, Asterisk))
        .to_owned()
}

fn issue_row(row: &QueryResult) -> Result<issue::Model> {
    Ok(issue::Model::from_query_result(row, "")?)
}

/// Runs an `UPDATE issues … WHERE account_id = tenant` on the one issue `id` and returns the
/// updated row; `NotFound` when the tenant has no such issue.
async fn update_issue(
    conn: &impl ConnectionTrait,
    mut statement: UpdateStatement,
    id: IssueId,
) -> Result<issue::Model> {
    statement
        .and_where(Expr::col(Issues::Id).eq(id.0))
        .returning_all();
    let row = conn.query_one(&statement).await?.ok_or(Error::NotFound)?;
    issue_row(&row)
}

/// One issue of the tenant; `NotFound` for another account's.
pub(crate) async fn get(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: IssueId,
) -> Result<issue::Model> {
    let query = issues(tenant)
        .and_where(Expr::col((Issues::Table, Issues::Id)).eq(id.0))
        .to_owned();
    let row = conn.query_one(&query).await?.ok_or(Error::NotFound)?;
    issue_row(&row)
}

/// The issues of a project, most recently seen first.
pub(crate) async fn list_by_project(
    scope: &AccountScope,
    project: ProjectId,
) -> Result<Vec<issue::Model>> {
    let query = issues(scope)
        .and_where(Expr::col((Issues::Table, Issues::ProjectId)).eq(project.0))
        .order_by((Issues::Table, Issues::LastSeen), Order::Desc)
        .to_owned();
    let rows = scope.db().conn().query_all(&query).await?;
    rows.iter().map(issue_row).collect()
}

/// Writes an issue's state columns; returns the updated issue.
pub(crate) async fn set_state(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: IssueId,
    state: &IssueState,
) -> Result<issue::Model> {
    let name = |s: Option<&'static str>| s.map(str::to_owned);
    let mut statement = update::<Issues>(tenant);
    if let Some(status) = state.status {
        statement.value(Issues::Status, status.as_str());
    }
    statement
        .value(
            Issues::Substatus,
            name(state.substatus.map(Substatus::as_str)),
        )
        .value(Issues::ResolvedAt, state.resolved_at)
        .value(
            Issues::ResolutionKind,
            name(state.resolution_kind.map(|k| k.as_str())),
        )
        .value(Issues::ResolutionRelease, state.resolution_release.clone())
        .value(Issues::IgnoreUntil, state.ignore_until)
        .value(Issues::IgnoreUntilTimesSeen, state.ignore_until_times_seen)
        .value(Issues::IgnoreUntilUsersSeen, state.ignore_until_users_seen)
        .value(Issues::StatusChangedAt, state.status_changed_at)
        .value(Issues::RegressedAt, state.regressed_at);
    update_issue(conn, statement, id).await
}

/// Assigns an issue to a user (`None`: nobody); returns the updated issue.
pub(crate) async fn set_assignee(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: IssueId,
    assignee: Option<UserId>,
) -> Result<issue::Model> {
    let statement = update::<Issues>(tenant)
        .value(Issues::AssigneeUserId, assignee.map(|u| u.0))
        .to_owned();
    update_issue(conn, statement, id).await
}

/// Sets an issue's event and user counts; returns the updated issue.
pub(crate) async fn set_counts(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: IssueId,
    times_seen: i64,
    users_seen: i64,
) -> Result<issue::Model> {
    let statement = update::<Issues>(tenant)
        .value(Issues::TimesSeen, times_seen)
        .value(Issues::UsersSeen, users_seen)
        .to_owned();
    update_issue(conn, statement, id).await
}

/// What a merge writes on the target issue: the sums and the extremes of the merged issues.
#[derive(Clone, Debug)]
pub(crate) struct Merged {
    pub times_seen: i64,
    pub users_seen: i64,
    pub first_seen: DateTime<Utc>,
    pub first_release: Option<String>,
    pub last_seen: DateTime<Utc>,
    pub last_release: Option<String>,
    pub title: String,
    pub culprit: Option<String>,
    pub level: String,
}

/// Writes a merge's result on the target issue; returns the updated issue.
pub(crate) async fn set_merged(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: IssueId,
    merged: Merged,
) -> Result<issue::Model> {
    let statement = update::<Issues>(tenant)
        .value(Issues::TimesSeen, merged.times_seen)
        .value(Issues::UsersSeen, merged.users_seen)
        .value(Issues::FirstSeen, merged.first_seen)
        .value(Issues::FirstRelease, merged.first_release)
        .value(Issues::LastSeen, merged.last_seen)
        .value(Issues::LastRelease, merged.last_release)
        .value(Issues::Title, merged.title)
        .value(Issues::Culprit, merged.culprit)
        .value(Issues::Level, merged.level)
        .to_owned();
    update_issue(conn, statement, id).await
}

/// A new issue split out of another (an unmerge): unresolved, substatus `new`.
#[derive(Clone, Debug)]
pub(crate) struct Unmerged {
    pub project: ProjectId,
    pub fingerprint: String,
    pub grouping_version: i32,
    pub grouping_components: String,
    pub title: String,
    pub culprit: Option<String>,
    pub level: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub times_seen: i64,
    pub users_seen: i64,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
    pub now: DateTime<Utc>,
}

/// Inserts an unmerged issue; returns it.
pub(crate) async fn insert_unmerged(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    new: Unmerged,
) -> Result<issue::Model> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(Issues::Table)
        .columns([
            Issues::AccountId,
            Issues::ProjectId,
            Issues::Fingerprint,
            Issues::GroupingVersion,
            Issues::GroupingComponents,
            Issues::Title,
            Issues::Culprit,
            Issues::Level,
            Issues::Status,
            Issues::Substatus,
            Issues::FirstSeen,
            Issues::LastSeen,
            Issues::TimesSeen,
            Issues::UsersSeen,
            Issues::FirstRelease,
            Issues::LastRelease,
            Issues::CreatedAt,
            Issues::StatusChangedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            new.project.0.into(),
            new.fingerprint.into(),
            new.grouping_version.into(),
            new.grouping_components.into(),
            new.title.into(),
            new.culprit.into(),
            new.level.into(),
            IssueStatus::Unresolved.as_str().into(),
            Some(Substatus::New.as_str().to_owned()).into(),
            new.first_seen.into(),
            new.last_seen.into(),
            new.times_seen.into(),
            new.users_seen.into(),
            new.first_release.into(),
            new.last_release.into(),
            new.now.into(),
            Some(new.now).into(),
        ])
        .returning_all()
        .to_owned();
    let row = conn
        .query_one(&statement)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("INSERT … RETURNING returned no row")))?;
    issue_row(&row)
}

/// A synthetic issue of `errorwatch seed`.
#[derive(Clone, Debug)]
pub(crate) struct Seeded {
    pub fingerprint: String,
    pub title: String,
    pub culprit: Option<String>,
    pub level: &'static str,
    pub status: IssueStatus,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub times_seen: i64,
    pub users_seen: i64,
    pub created_at: DateTime<Utc>,
}

/// Inserts synthetic issues into a project in one statement; returns their ids in order.
pub(crate) async fn insert_seeded(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    rows: Vec<Seeded>,
) -> Result<Vec<IssueId>> {
    let tenant = tenant.into();
    let mut statement = Query::insert()
        .into_table(Issues::Table)
        .columns([
            Issues::AccountId,
            Issues::ProjectId,
            Issues::Fingerprint,
            Issues::GroupingVersion,
            Issues::GroupingComponents,
            Issues::Title,
            Issues::Culprit,
            Issues::Level,
            Issues::Status,
            Issues::FirstSeen,
            Issues::LastSeen,
            Issues::TimesSeen,
            Issues::UsersSeen,
            Issues::CreatedAt,
        ])
        .returning_col(Issues::Id)
        .to_owned();
    for row in rows {
        statement.values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            row.fingerprint.into(),
            2i32.into(),
            "[]".into(),
            row.title.into(),
            row.culprit.into(),
            row.level.into(),
            row.status.as_str().into(),
            row.first_seen.into(),
            row.last_seen.into(),
            row.times_seen.into(),
            row.users_seen.into(),
            row.created_at.into(),
        ]);
    }
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|r| Ok(IssueId(r.try_get("", "id")?)))
        .collect()
}

/// Deletes issues (fingerprints, tag values, hourly stats, activity and bookmarks cascade).
pub(crate) async fn delete_issues(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    ids: &[IssueId],
) -> Result<()> {
    let statement = delete::<Issues>(tenant)
        .and_where(Expr::col(Issues::Id).is_in(ids.iter().map(|id| id.0)))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

// ---- activity -----------------------------------------------------------------------------

/// The activity of an issue, oldest first.
pub(crate) async fn list_activity(
    scope: &AccountScope,
    issue: IssueId,
) -> Result<Vec<issue_activity::Model>> {
    let query = select::<IssueActivity>(scope)
        .column((IssueActivity::Table, Asterisk))
        .and_where(Expr::col((IssueActivity::Table, IssueActivity::IssueId)).eq(issue.0))
        .order_by((IssueActivity::Table, IssueActivity::Id), Order::Asc)
        .to_owned();
    let rows = scope.db().conn().query_all(&query).await?;
    rows.iter()
        .map(|r| Ok(issue_activity::Model::from_query_result(r, "")?))
        .collect()
}

/// Records an activity entry on an issue of the tenant.
pub(crate) async fn insert_activity(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: &issue::Model,
    kind: &str,
    actor: &str,
    data: &serde_json::Value,
) -> Result<()> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(IssueActivity::Table)
        .columns([
            IssueActivity::AccountId,
            IssueActivity::ProjectId,
            IssueActivity::IssueId,
            IssueActivity::Kind,
            IssueActivity::Actor,
            IssueActivity::Data,
            IssueActivity::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            issue.project_id.into(),
            issue.id.into(),
            kind.into(),
            actor.into(),
            data.to_string().into(),
            Utc::now().into(),
        ])
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

// ---- fingerprints -------------------------------------------------------------------------

/// The fingerprint hashes of an issue, oldest first.
pub(crate) async fn fingerprint_hashes(
    scope: &AccountScope,
    issue: IssueId,
) -> Result<Vec<String>> {
    let query = select::<IssueFingerprints>(scope)
        .column(IssueFingerprints::Hash)
        .and_where(Expr::col(IssueFingerprints::IssueId).eq(issue.0))
        .order_by(IssueFingerprints::Id, Order::Asc)
        .to_owned();
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String>("", "hash")?))
        .collect()
}

// ---- bookmarks ----------------------------------------------------------------------------

/// Bookmarks an issue for a user (nothing when it already is).
pub(crate) async fn add_bookmark(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: IssueId,
    user: UserId,
) -> Result<()> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(IssueBookmarks::Table)
        .columns([
            IssueBookmarks::AccountId,
            IssueBookmarks::IssueId,
            IssueBookmarks::UserId,
            IssueBookmarks::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            issue.0.into(),
            user.0.into(),
            Utc::now().into(),
        ])
        .on_conflict(
            OnConflict::columns([IssueBookmarks::IssueId, IssueBookmarks::UserId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// Removes a user's bookmark of an issue (nothing when there is none).
pub(crate) async fn remove_bookmark(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: IssueId,
    user: UserId,
) -> Result<()> {
    let statement = delete::<IssueBookmarks>(tenant)
        .and_where(Expr::col(IssueBookmarks::IssueId).eq(issue.0))
        .and_where(Expr::col(IssueBookmarks::UserId).eq(user.0))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// Which of `issues` the user bookmarked.
pub(crate) async fn bookmarked(
    scope: &AccountScope,
    user: UserId,
    issues: &[IssueId],
) -> Result<HashSet<IssueId>> {
    let query = select::<IssueBookmarks>(scope)
        .column(IssueBookmarks::IssueId)
        .and_where(Expr::col(IssueBookmarks::UserId).eq(user.0))
        .and_where(Expr::col(IssueBookmarks::IssueId).is_in(issues.iter().map(|id| id.0)))
        .to_owned();
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| Ok(IssueId(r.try_get("", "issue_id")?)))
        .collect()
}

// ---- search -------------------------------------------------------------------------------

/// The orders of issue lists (all descending, then by id descending).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IssueOrder {
    LastSeen,
    FirstSeen,
    Events,
    Users,
}

impl IssueOrder {
    fn column(self) -> Issues {
        match self {
            Self::LastSeen => Issues::LastSeen,
            Self::FirstSeen => Issues::FirstSeen,
            Self::Events => Issues::TimesSeen,
            Self::Users => Issues::UsersSeen,
        }
    }
}

/// The position after a row in a list's order: its sort value and its id.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Position {
    Time(DateTime<Utc>, i64),
    Count(i64, i64),
}

/// Issues of `projects` matching `search`, in `order` after `after`, at most `limit`, and how
/// many match in all (counted up to `count_cap`).
pub(crate) async fn search(
    scope: &AccountScope,
    projects: &[ProjectId],
    search: &Search,
    order: IssueOrder,
    after: Option<Position>,
    limit: u64,
    count_cap: u64,
) -> Result<(Vec<issue::Model>, i64)> {
    let conn = scope.db().conn();
    let tenant = Tenant::from(scope);
    let base = select::<Issues>(tenant)
        .and_where(
            Expr::col((Issues::Table, Issues::ProjectId)).is_in(projects.iter().map(|p| p.0)),
        )
        .cond_where(condition(tenant, search))
        .to_owned();
    // COUNT(*) over a capped subquery: the database counts, nothing is transferred.
    let capped = base
        .clone()
        .column((Issues::Table, Issues::Id))
        .limit(count_cap)
        .to_owned();
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("num_items"))
        .from_subquery(capped, Alias::new("sub_query"))
        .to_owned();
    let total: i64 = conn
        .query_one(&count)
        .await?
        .map(|r| r.try_get::<i64>("", "num_items"))
        .transpose()?
        .unwrap_or(0);
    let column = (Issues::Table, order.column());
    let id = (Issues::Table, Issues::Id);
    let mut query = base;
    query.column((Issues::Table, Asterisk));
    if let Some(after) = after {
        let before = match after {
            Position::Time(at, last) => Condition::any()
                .add(Expr::col(column).lt(at))
                .add(Expr::col(column).eq(at).and(Expr::col(id).lt(last))),
            Position::Count(n, last) => Condition::any()
                .add(Expr::col(column).lt(n))
                .add(Expr::col(column).eq(n).and(Expr::col(id).lt(last))),
        };
        query.cond_where(before);
    }
    query
        .order_by(column, Order::Desc)
        .order_by(id, Order::Desc)
        .limit(limit);
    let rows = conn.query_all(&query).await?;
    let issues = rows.iter().map(issue_row).collect::<Result<Vec<_>>>()?;
    Ok((issues, total))
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The SQL condition of a search on `issues` (account and project filters come separately).
fn condition(tenant: Tenant, search: &Search) -> Condition {
    let tag = |column: IssueTagValues| Expr::col((IssueTagValues::Table, column));
    let mut all = Condition::all();
    let mut statuses = Vec::new();
    let mut not_statuses = Vec::new();
    for term in &search.terms {
        match term {
            Term::Filter {
                field: Field::Is,
                value,
                negated,
            } => {
                if *negated {
                    not_statuses.push(value.clone());
                } else {
                    statuses.push(value.clone());
                }
            }
            Term::Filter {
                field: Field::Level,
                value,
                negated,
            } => {
                let level = Expr::col((Issues::Table, Issues::Level));
                all = all.add(if *negated {
                    level.ne(value.clone())
                } else {
                    level.eq(value.clone())
                });
            }
            Term::Filter {
                field: Field::Tag(key),
                value,
                negated,
            } => {
                let exists = tag_value_exists(
                    tenant,
                    Condition::all()
                        .add(tag(IssueTagValues::Key).eq(key.clone()))
                        .add(tag(IssueTagValues::Value).eq(value.clone())),
                );
                all = all.add(if *negated { exists.not() } else { exists });
            }
            Term::Filter {
                field: Field::User(user_field),
                value,
                negated,
            } => {
                // The field's own tag, or the `user` identity of events stored before the
                // `user.*` tags existed (emails there kept the SDK's case).
                let identities: Vec<String> = [value.clone(), value.to_lowercase()]
                    .into_iter()
                    .map(|v| format!("{}:{v}", user_field.identity_prefix()))
                    .collect();
                let exists = tag_value_exists(
                    tenant,
                    Condition::any()
                        .add(
                            Condition::all()
                                .add(tag(IssueTagValues::Key).eq(user_field.tag_key()))
                                .add(tag(IssueTagValues::Value).eq(value.clone())),
                        )
                        .add(
                            Condition::all()
                                .add(tag(IssueTagValues::Key).eq("user"))
                                .add(tag(IssueTagValues::Value).is_in(identities)),
                        ),
                );
                all = all.add(if *negated { exists.not() } else { exists });
            }
            Term::Text { text, negated } => {
                let pattern = escape_like(text);
                let matches = Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col((Issues::Table, Issues::Title))))
                            .like(LikeExpr::new(pattern.clone()).escape('\\')),
                    )
                    .add(
                        // COALESCE: a missing culprit must not turn `!word` into NULL.
                        Expr::expr(Func::lower(Func::coalesce([
                            Expr::col((Issues::Table, Issues::Culprit)),
                            Expr::val(""),
                        ])))
                        .like(LikeExpr::new(pattern).escape('\\')),
                    );
                all = all.add(if *negated { matches.not() } else { matches });
            }
        }
    }
    let status = Expr::col((Issues::Table, Issues::Status));
    if !statuses.is_empty() {
        all = all.add(status.clone().is_in(statuses));
    }
    if !not_statuses.is_empty() {
        all = all.add(status.is_not_in(not_statuses));
    }
    all
}

/// `EXISTS` a tag value (of the tenant) of the issue row being filtered that meets `condition`.
fn tag_value_exists(tenant: Tenant, condition: Condition) -> SimpleExpr {
    Expr::exists(
        select::<IssueTagValues>(tenant)
            .expr(Expr::val(1))
            .and_where(
                Expr::col((IssueTagValues::Table, IssueTagValues::IssueId))
                    .equals((Issues::Table, Issues::Id)),
            )
            .cond_where(condition)
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("100%_done\\"), "%100\\%\\_done\\\\%");
        assert_eq!(escape_like("KeyError"), "%keyerror%");
    }
}
