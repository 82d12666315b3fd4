//! Stored events and what hangs off them: attachments and user reports (feedback).
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DeriveIden, QueryResult};

use super::issues::Issues;
use super::{ProjectTable, Tenant, TenantTable, delete, select};
use crate::ids::{EventRowId, IssueId, ProjectId};
use crate::scope::AccountScope;
use crate::{Error, Result};

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

impl super::IssueTable for Events {
    const ISSUE_ID: Self = Self::IssueId;
    const HASH: Self = Self::GroupingHash;
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

// ---- events -------------------------------------------------------------------------------

/// An event's summary columns.
#[derive(Clone, Debug)]
pub(crate) struct EventRow {
    pub id: i64,
    pub event_id: String,
    pub project_id: i64,
    pub issue_id: i64,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub level: String,
    pub platform: Option<String>,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub title: Option<String>,
    /// Stored payload bytes (compressed).
    pub payload_size: i32,
}

const SUMMARY: [Events; 12] = [
    Events::Id,
    Events::EventId,
    Events::ProjectId,
    Events::IssueId,
    Events::Timestamp,
    Events::ReceivedAt,
    Events::Level,
    Events::Platform,
    Events::Release,
    Events::Environment,
    Events::Title,
    Events::PayloadSize,
];

impl EventRow {
    fn from_row(row: &QueryResult) -> Result<Self> {
        Ok(Self {
            id: row.try_get("", "id")?,
            event_id: row.try_get("", "event_id")?,
            project_id: row.try_get("", "project_id")?,
            issue_id: row.try_get("", "issue_id")?,
            timestamp: row.try_get("", "timestamp")?,
            received_at: row.try_get("", "received_at")?,
            level: row.try_get("", "level")?,
            platform: row.try_get("", "platform")?,
            release: row.try_get("", "release")?,
            environment: row.try_get("", "environment")?,
            title: row.try_get("", "title")?,
            payload_size: row.try_get("", "payload_size")?,
        })
    }
}

/// The summary columns of the tenant's events (filters to add).
fn summaries(tenant: impl Into<Tenant>) -> SelectStatement {
    select::<Events>(tenant).columns(SUMMARY).to_owned()
}

async fn summary_rows(scope: &AccountScope, query: &SelectStatement) -> Result<Vec<EventRow>> {
    let rows = scope.db().conn().query_all(query).await?;
    rows.iter().map(EventRow::from_row).collect()
}

/// The events of an issue, newest first (by arrival), after the row `after`, at most `limit`.
pub(crate) async fn list_by_issue(
    scope: &AccountScope,
    issue: IssueId,
    after: Option<EventRowId>,
    limit: u64,
) -> Result<Vec<EventRow>> {
    let mut query = summaries(scope)
        .and_where(Expr::col(Events::IssueId).eq(issue.0))
        .order_by(Events::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(after) = after {
        query.and_where(Expr::col(Events::Id).lt(after.0));
    }
    summary_rows(scope, &query).await
}

/// The newest event of each of `issues` (other accounts' issues are simply absent).
pub(crate) async fn latest_of_issues(
    scope: &AccountScope,
    issues: &[IssueId],
) -> Result<Vec<EventRow>> {
    // One backward probe of `events (issue_id, id)` per issue (MAX with an equality is an
    // index lookup on both engines; a GROUP BY over the issues' events read every row of them:
    // 80 ms for 50 issues at 1M events on PostgreSQL).
    let newest = select::<Issues>(scope)
        .expr(Expr::cust(
            "(SELECT MAX(latest.id) FROM events AS latest WHERE latest.issue_id = issues.id)",
        ))
        .and_where(Expr::col((Issues::Table, Issues::Id)).is_in(issues.iter().map(|i| i.0)))
        .to_owned();
    let query = summaries(scope)
        .and_where(Expr::col(Events::Id).in_subquery(newest))
        .to_owned();
    summary_rows(scope, &query).await
}

/// The oldest stored event of an issue.
pub(crate) async fn oldest_of_issue(
    scope: &AccountScope,
    issue: IssueId,
) -> Result<Option<EventRow>> {
    let query = summaries(scope)
        .and_where(Expr::col(Events::IssueId).eq(issue.0))
        .order_by(Events::Id, Order::Asc)
        .limit(1)
        .to_owned();
    Ok(summary_rows(scope, &query).await?.into_iter().next())
}

/// The SDK event id of the event of `issue` that arrived just after (`newer`) or just before
/// the row `from`.
pub(crate) async fn neighbour(
    scope: &AccountScope,
    issue: IssueId,
    from: EventRowId,
    newer: bool,
) -> Result<Option<String>> {
    let (condition, order) = if newer {
        (Expr::col(Events::Id).gt(from.0), Order::Asc)
    } else {
        (Expr::col(Events::Id).lt(from.0), Order::Desc)
    };
    let query = select::<Events>(scope)
        .column(Events::EventId)
        .and_where(Expr::col(Events::IssueId).eq(issue.0))
        .and_where(condition)
        .order_by(Events::Id, order)
        .limit(1)
        .to_owned();
    let row = scope.db().conn().query_one(&query).await?;
    Ok(row.map(|r| r.try_get("", "event_id")).transpose()?)
}

async fn with_payload(
    scope: &AccountScope,
    mut query: SelectStatement,
) -> Result<(EventRow, Vec<u8>)> {
    query.column(Events::Payload);
    let row = scope
        .db()
        .conn()
        .query_one(&query)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((EventRow::from_row(&row)?, row.try_get("", "payload")?))
}

/// One event with its (compressed) payload by row id; `NotFound` for another account's.
pub(crate) async fn get_with_payload(
    scope: &AccountScope,
    id: EventRowId,
) -> Result<(EventRow, Vec<u8>)> {
    let query = summaries(scope)
        .and_where(Expr::col(Events::Id).eq(id.0))
        .to_owned();
    with_payload(scope, query).await
}

/// One event with its (compressed) payload by the SDK's event id in a project.
pub(crate) async fn find_with_payload(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
) -> Result<(EventRow, Vec<u8>)> {
    let query = summaries(scope)
        .and_where(Expr::col(Events::ProjectId).eq(project.0))
        .and_where(Expr::col(Events::EventId).eq(event_id))
        .to_owned();
    with_payload(scope, query).await
}

/// The (compressed) payload of the latest event of an issue with the user `user_key`.
pub(crate) async fn latest_payload_of_user(
    scope: &AccountScope,
    issue: IssueId,
    user_key: &str,
) -> Result<Option<Vec<u8>>> {
    let query = select::<Events>(scope)
        .column(Events::Payload)
        .and_where(Expr::col(Events::IssueId).eq(issue.0))
        .and_where(Expr::col(Events::UserKey).eq(user_key))
        .order_by(Events::Timestamp, Order::Desc)
        .limit(1)
        .to_owned();
    let row = scope.db().conn().query_one(&query).await?;
    Ok(row.map(|r| r.try_get("", "payload")).transpose()?)
}

/// What the stored events of one fingerprint of an issue say about it.
#[derive(Clone, Debug)]
pub(crate) struct GroupedSummary {
    /// How many are stored.
    pub count: i64,
    /// The oldest: its SDK event id and time.
    pub first: Option<(String, DateTime<Utc>)>,
    /// The title of the newest.
    pub latest_title: Option<String>,
}

/// The stored events of an issue grouped by fingerprint `hash`: count, oldest, newest title.
pub(crate) async fn grouped_summary(
    scope: &AccountScope,
    issue: IssueId,
    hash: &str,
) -> Result<GroupedSummary> {
    let conn = scope.db().conn();
    let of_hash = || {
        select::<Events>(scope)
            .and_where(Expr::col(Events::IssueId).eq(issue.0))
            .and_where(Expr::col(Events::GroupingHash).eq(hash))
            .to_owned()
    };
    let count = conn
        .query_one(
            &of_hash()
                .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
                .to_owned(),
        )
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    let first = conn
        .query_one(
            &of_hash()
                .columns([Events::EventId, Events::Timestamp])
                .order_by(Events::Id, Order::Asc)
                .limit(1)
                .to_owned(),
        )
        .await?
        .map(|r| -> Result<(String, DateTime<Utc>)> {
            Ok((r.try_get("", "event_id")?, r.try_get("", "timestamp")?))
        })
        .transpose()?;
    let latest_title = conn
        .query_one(
            &of_hash()
                .column(Events::Title)
                .order_by(Events::Id, Order::Desc)
                .limit(1)
                .to_owned(),
        )
        .await?
        .map(|r| r.try_get::<Option<String>>("", "title"))
        .transpose()?
        .flatten();
    Ok(GroupedSummary {
        count,
        first,
        latest_title,
    })
}

/// A stored event as an unmerge recounts it.
#[derive(Clone, Debug)]
pub(crate) struct GroupedEvent {
    pub timestamp: DateTime<Utc>,
    pub level: String,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub user_key: Option<String>,
    pub title: Option<String>,
    /// Compressed.
    pub payload: Vec<u8>,
}

/// The stored events of an issue grouped by fingerprint `hash`, oldest first.
pub(crate) async fn grouped_events(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: IssueId,
    hash: &str,
) -> Result<Vec<GroupedEvent>> {
    let query = select::<Events>(tenant)
        .columns([
            Events::Id,
            Events::Timestamp,
            Events::Level,
            Events::Environment,
            Events::Release,
            Events::UserKey,
            Events::Title,
            Events::Payload,
        ])
        .and_where(Expr::col(Events::IssueId).eq(issue.0))
        .and_where(Expr::col(Events::GroupingHash).eq(hash))
        .order_by(Events::Timestamp, Order::Asc)
        .to_owned();
    conn.query_all(&query)
        .await?
        .iter()
        .map(|row| {
            Ok(GroupedEvent {
                timestamp: row.try_get("", "timestamp")?,
                level: row.try_get("", "level")?,
                environment: row.try_get("", "environment")?,
                release: row.try_get("", "release")?,
                user_key: row.try_get("", "user_key")?,
                title: row.try_get("", "title")?,
                payload: row.try_get("", "payload")?,
            })
        })
        .collect()
}

/// Up to `limit` events of a project (or of one of its issues): row ids and SDK event ids.
pub(crate) async fn batch_of(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    issue: Option<IssueId>,
    limit: u64,
) -> Result<Vec<(EventRowId, String)>> {
    let mut query = select::<Events>(tenant)
        .columns([Events::Id, Events::EventId])
        .and_where(Expr::col(Events::ProjectId).eq(project.0))
        .limit(limit)
        .to_owned();
    if let Some(issue) = issue {
        query.and_where(Expr::col(Events::IssueId).eq(issue.0));
    }
    conn.query_all(&query)
        .await?
        .iter()
        .map(|r| Ok((EventRowId(r.try_get("", "id")?), r.try_get("", "event_id")?)))
        .collect()
}

/// Deletes events by row id.
pub(crate) async fn delete_rows(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    ids: &[EventRowId],
) -> Result<()> {
    let statement = delete::<Events>(tenant)
        .and_where(Expr::col(Events::Id).is_in(ids.iter().map(|id| id.0)))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// A synthetic event of `errorwatch seed`.
#[derive(Clone, Debug)]
pub(crate) struct Seeded {
    pub issue: IssueId,
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub release: String,
    pub user_key: String,
}

/// Inserts synthetic events (all with the same `payload`) into a project in one statement.
pub(crate) async fn insert_seeded(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    payload: &[u8],
    rows: Vec<Seeded>,
) -> Result<()> {
    let tenant = tenant.into();
    let mut statement = Query::insert()
        .into_table(Events::Table)
        .columns([
            Events::AccountId,
            Events::ProjectId,
            Events::IssueId,
            Events::EventId,
            Events::Timestamp,
            Events::ReceivedAt,
            Events::Level,
            Events::Platform,
            Events::Release,
            Events::Environment,
            Events::Title,
            Events::UserKey,
            Events::Payload,
            Events::PayloadSize,
            Events::GroupingHash,
        ])
        .to_owned();
    for row in rows {
        statement.values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            row.issue.0.into(),
            row.event_id.into(),
            row.at.into(),
            row.at.into(),
            "error".into(),
            Some("python".to_owned()).into(),
            Some(row.release).into(),
            Some("production".to_owned()).into(),
            Some("seeded event".to_owned()).into(),
            Some(row.user_key).into(),
            payload.to_vec().into(),
            120i32.into(),
            "seed".into(),
        ]);
    }
    conn.execute(&statement).await?;
    Ok(())
}

// ---- attachments --------------------------------------------------------------------------

/// An attachment's metadata.
#[derive(Clone, Debug)]
pub(crate) struct AttachmentRow {
    pub id: i64,
    pub filename: String,
    pub content_type: Option<String>,
    pub attachment_type: String,
    pub size: i64,
}

impl AttachmentRow {
    /// The metadata of the tenant's attachments (filters to add).
    fn select(tenant: impl Into<Tenant>) -> SelectStatement {
        select::<Attachments>(tenant)
            .columns([
                Attachments::Id,
                Attachments::Filename,
                Attachments::ContentType,
                Attachments::AttachmentType,
                Attachments::Size,
            ])
            .to_owned()
    }

    fn from_row(row: &QueryResult) -> Result<Self> {
        Ok(Self {
            id: row.try_get("", "id")?,
            filename: row.try_get("", "filename")?,
            content_type: row.try_get("", "content_type")?,
            attachment_type: row.try_get("", "attachment_type")?,
            size: row.try_get("", "size")?,
        })
    }
}

/// One column of one attachment of an event; `NotFound` for another account's, or one of
/// another event.
async fn attachment_column<T: sea_orm::TryGetable>(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
    attachment: i64,
    column: Attachments,
) -> Result<T> {
    let query = select::<Attachments>(scope)
        .column(column)
        .and_where(Expr::col(Attachments::ProjectId).eq(project.0))
        .and_where(Expr::col(Attachments::EventId).eq(event_id))
        .and_where(Expr::col(Attachments::Id).eq(attachment))
        .to_owned();
    Ok(scope
        .db()
        .conn()
        .query_one(&query)
        .await?
        .ok_or(Error::NotFound)?
        .try_get_by_index(0)?)
}

/// The size of one attachment of an event.
pub(crate) async fn attachment_size(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
    attachment: i64,
) -> Result<i64> {
    attachment_column(scope, project, event_id, attachment, Attachments::Size).await
}

/// The bytes of one attachment of an event.
pub(crate) async fn attachment_bytes(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
    attachment: i64,
) -> Result<Vec<u8>> {
    attachment_column(scope, project, event_id, attachment, Attachments::Data).await
}

/// One attachment of the tenant by id; `NotFound` for another account's.
pub(crate) async fn attachment(scope: &AccountScope, attachment: i64) -> Result<AttachmentRow> {
    let query = AttachmentRow::select(scope)
        .and_where(Expr::col(Attachments::Id).eq(attachment))
        .to_owned();
    let row = scope
        .db()
        .conn()
        .query_one(&query)
        .await?
        .ok_or(Error::NotFound)?;
    AttachmentRow::from_row(&row)
}

/// `substr(data, from, len)` of an attachment (1-based, in bytes on both engines); `NotFound`
/// for another account's.
pub(crate) async fn attachment_substr(
    scope: &AccountScope,
    attachment: i64,
    from: i32,
    len: i32,
) -> Result<Vec<u8>> {
    let query = select::<Attachments>(scope)
        .expr_as(
            Func::cust("substr").args([
                Expr::col(Attachments::Data),
                Expr::val(from),
                Expr::val(len),
            ]),
            "slice",
        )
        .and_where(Expr::col(Attachments::Id).eq(attachment))
        .to_owned();
    let row = scope
        .db()
        .conn()
        .query_one(&query)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(row.try_get("", "slice")?)
}

/// The attachments of an event, in upload order.
pub(crate) async fn event_attachments(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
) -> Result<Vec<AttachmentRow>> {
    let query = AttachmentRow::select(scope)
        .and_where(Expr::col(Attachments::ProjectId).eq(project.0))
        .and_where(Expr::col(Attachments::EventId).eq(event_id))
        .order_by(Attachments::Id, Order::Asc)
        .to_owned();
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(AttachmentRow::from_row)
        .collect()
}

// ---- user reports -------------------------------------------------------------------------

/// User feedback about an event.
#[derive(Clone, Debug)]
pub(crate) struct ReportRow {
    pub name: Option<String>,
    pub email: Option<String>,
    pub comments: String,
    pub created_at: DateTime<Utc>,
}

/// The user feedback about an event, oldest first.
pub(crate) async fn event_reports(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
) -> Result<Vec<ReportRow>> {
    let query = select::<UserReports>(scope)
        .columns([
            UserReports::Name,
            UserReports::Email,
            UserReports::Comments,
            UserReports::CreatedAt,
        ])
        .and_where(Expr::col(UserReports::ProjectId).eq(project.0))
        .and_where(Expr::col(UserReports::EventId).eq(event_id))
        .order_by(UserReports::Id, Order::Asc)
        .to_owned();
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| {
            Ok(ReportRow {
                name: r.try_get("", "name")?,
                email: r.try_get("", "email")?,
                comments: r.try_get("", "comments")?,
                created_at: r.try_get("", "created_at")?,
            })
        })
        .collect()
}

/// A stored event as reprocessing reads it.
#[derive(Clone, Debug)]
pub(crate) struct StoredEvent {
    pub(crate) id: EventRowId,
    pub(crate) grouping_hash: Option<String>,
    /// Compressed.
    pub(crate) payload: Vec<u8>,
}

/// Up to `limit` events of the issue after the row `after`, by row id.
pub(crate) async fn page_of_issue(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    issue: IssueId,
    after: EventRowId,
    limit: u64,
) -> Result<Vec<StoredEvent>> {
    let query = select::<Events>(tenant)
        .columns([Events::Id, Events::GroupingHash, Events::Payload])
        .and_where(Expr::col(Events::IssueId).eq(issue.0))
        .and_where(Expr::col(Events::Id).gt(after.0))
        .order_by(Events::Id, Order::Asc)
        .limit(limit)
        .to_owned();
    conn.query_all(&query)
        .await?
        .iter()
        .map(|row| {
            Ok(StoredEvent {
                id: EventRowId(row.try_get("", "id")?),
                grouping_hash: row.try_get("", "grouping_hash")?,
                payload: row.try_get("", "payload")?,
            })
        })
        .collect()
}

/// Replaces a stored event's payload (compressed, `size` bytes uncompressed) and grouping hash.
pub(crate) async fn rewrite(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    event: EventRowId,
    payload: Vec<u8>,
    size: i32,
    hash: &str,
) -> Result<()> {
    let statement = super::update::<Events>(tenant)
        .value(Events::Payload, payload)
        .value(Events::PayloadSize, size)
        .value(Events::GroupingHash, hash)
        .and_where(Expr::col(Events::Id).eq(event.0))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}
