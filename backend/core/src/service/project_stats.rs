//! What a project has seen: releases, environments and tag values (from the issues' tag
//! values, which survive event eviction), outcomes per hour, and an event's attachments (their
//! bytes inline when small, or read in slices for a download of any size) and user feedback.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order, Query};

use crate::ids::ProjectId;
use crate::scope::{AccountScope, Role};
use crate::{Error, Result};

/// A release or environment with its numbers.
#[derive(Clone, Debug)]
pub struct SeenValue {
    /// The release or environment name.
    pub value: String,
    /// Events counted with it.
    pub events: i64,
    /// Issues that had events with it.
    pub issues: i64,
    /// First event with it.
    pub first_seen: DateTime<Utc>,
    /// Latest event with it.
    pub last_seen: DateTime<Utc>,
}

/// Releases (`key = "release"`) or environments (`"environment"`) seen in a project, most
/// recent first, at most `limit`.
pub async fn seen_values(
    scope: &AccountScope,
    project: ProjectId,
    key: &str,
    limit: u64,
) -> Result<Vec<SeenValue>> {
    scope.require(Role::Viewer)?;
    crate::service::project::load_project(scope, project).await?;
    let rows = scope
        .db()
        .conn()
        .query_all(
            &Query::select()
                .column("value")
                .expr_as(Expr::cust("CAST(SUM(times_seen) AS BIGINT)"), "events")
                .expr_as(Expr::col("issue_id").count(), "issues")
                .expr_as(Expr::col("first_seen").min(), "first_seen")
                .expr_as(Expr::col("last_seen").max(), "last_seen")
                .from("issue_tag_values")
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("project_id").eq(project.0))
                .and_where(Expr::col("key").eq(key))
                .group_by_col("value")
                .order_by_expr(Expr::col("last_seen").max(), Order::Desc)
                .limit(limit.clamp(1, 1000))
                .to_owned(),
        )
        .await?;
    rows.iter()
        .map(|r| {
            let events: i64 = r.try_get("", "events")?;
            Ok(SeenValue {
                value: r.try_get("", "value")?,
                events,
                issues: r.try_get("", "issues")?,
                first_seen: r.try_get("", "first_seen")?,
                last_seen: r.try_get("", "last_seen")?,
            })
        })
        .collect()
}

/// Tag keys seen in a project's issues (`None`: every project of the account) with their
/// `limit` most frequent values, keys in name order: what the search bar suggests. Counts are
/// events, summed over the issues (they survive event eviction).
pub async fn tag_facets(
    scope: &AccountScope,
    project: Option<ProjectId>,
    limit: usize,
) -> Result<Vec<crate::service::issue::TagFacet>> {
    scope.require(Role::Viewer)?;
    let mut query = Query::select()
        .columns(["key", "value"])
        .expr_as(Expr::cust("CAST(SUM(times_seen) AS BIGINT)"), "events")
        .from("issue_tag_values")
        .and_where(Expr::col("account_id").eq(scope.account_id().0))
        .group_by_col("key")
        .group_by_col("value")
        .order_by("key", Order::Asc)
        .order_by_expr(Expr::cust("events"), Order::Desc)
        .order_by("value", Order::Asc)
        .to_owned();
    if let Some(project) = project {
        crate::service::project::load_project(scope, project).await?;
        query.and_where(Expr::col("project_id").eq(project.0));
    }
    let rows = scope.db().conn().query_all(&query).await?;
    crate::service::issue::fold_facets(&rows, "events", limit)
}

/// One outcome row: what happened to how many items of a category in an hour.
#[derive(Clone, Debug)]
pub struct OutcomeRow {
    /// Hour (UTC).
    pub hour: DateTime<Utc>,
    /// `error`, `transaction`, `attachment`, `session`, …
    pub category: String,
    /// `accepted`, `rate_limited`, `invalid`, `too_large`, `client_discard`, …
    pub outcome: String,
    /// Why (empty for accepted).
    pub reason: String,
    /// How many.
    pub quantity: i64,
}

/// Outcomes of a project in `[from, to)`, by hour.
pub async fn outcomes(
    scope: &AccountScope,
    project: ProjectId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<OutcomeRow>> {
    scope.require(Role::Viewer)?;
    crate::service::project::load_project(scope, project).await?;
    if from >= to || to - from > chrono::Duration::days(90) {
        return Err(Error::validation(
            "from",
            "must be before to, at most 90 days apart",
        ));
    }
    let rows = scope
        .db()
        .conn()
        .query_all(
            &Query::select()
                .columns(["hour", "category", "outcome", "reason", "quantity"])
                .from("outcomes")
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("project_id").eq(project.0))
                .and_where(Expr::col("hour").gte(crate::outcome::hour_of(from)))
                .and_where(Expr::col("hour").lt(to))
                .order_by("hour", Order::Asc)
                .order_by("category", Order::Asc)
                .order_by("outcome", Order::Asc)
                .order_by("reason", Order::Asc)
                .to_owned(),
        )
        .await?;
    rows.iter()
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

/// An attachment of an event (metadata; the bytes stay in the database).
#[derive(Clone, Debug)]
pub struct AttachmentInfo {
    /// Id.
    pub id: i64,
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// `event.attachment`, `event.minidump`, …
    pub attachment_type: String,
    /// Bytes.
    pub size: i64,
}

impl AttachmentInfo {
    /// The metadata of the scope's attachments (filters to add).
    fn select(scope: &AccountScope) -> sea_orm::sea_query::SelectStatement {
        Query::select()
            .columns(["id", "filename", "content_type", "attachment_type", "size"])
            .from("attachments")
            .and_where(Expr::col("account_id").eq(scope.account_id().0))
            .to_owned()
    }

    fn from_row(row: &sea_orm::QueryResult) -> Result<Self> {
        Ok(Self {
            id: row.try_get("", "id")?,
            filename: row.try_get("", "filename")?,
            content_type: row.try_get("", "content_type")?,
            attachment_type: row.try_get("", "attachment_type")?,
            size: row.try_get("", "size")?,
        })
    }
}

/// The largest attachment whose content [`attachment_data`] hands out (the API inlines it).
pub const MAX_INLINE_ATTACHMENT_BYTES: i64 = 1024 * 1024;

/// The content of one attachment of an event, when it is at most
/// [`MAX_INLINE_ATTACHMENT_BYTES`] (`None` when larger). Another account's attachment, or one
/// of another event, is `NotFound`.
pub async fn attachment_data(
    scope: &AccountScope,
    project: i64,
    event_id: &str,
    attachment: i64,
) -> Result<Option<Vec<u8>>> {
    scope.require(Role::Viewer)?;
    let conn = scope.db().conn();
    let select = |column: &'static str| {
        Query::select()
            .column(column)
            .from("attachments")
            .and_where(Expr::col("account_id").eq(scope.account_id().0))
            .and_where(Expr::col("project_id").eq(project))
            .and_where(Expr::col("event_id").eq(event_id))
            .and_where(Expr::col("id").eq(attachment))
            .to_owned()
    };
    // The size first: a large blob is never read only to be dropped.
    let size: i64 = conn
        .query_one(&select("size"))
        .await?
        .ok_or(Error::NotFound)?
        .try_get_by_index(0)?;
    if size > MAX_INLINE_ATTACHMENT_BYTES {
        return Ok(None);
    }
    let data: Vec<u8> = conn
        .query_one(&select("data"))
        .await?
        .ok_or(Error::NotFound)?
        .try_get_by_index(0)?;
    Ok(Some(data))
}

/// One attachment of the scope's account by id (any project, with or without its event),
/// for a download; `NotFound` for another account's.
pub async fn attachment_info(scope: &AccountScope, attachment: i64) -> Result<AttachmentInfo> {
    scope.require(Role::Viewer)?;
    let row = scope
        .db()
        .conn()
        .query_one(
            &AttachmentInfo::select(scope)
                .and_where(Expr::col("id").eq(attachment))
                .to_owned(),
        )
        .await?
        .ok_or(Error::NotFound)?;
    AttachmentInfo::from_row(&row)
}

/// The bytes `[offset, offset + len)` of an attachment (fewer at its end): a download reads a
/// large attachment slice by slice, so it never holds the whole file. `NotFound` for another
/// account's, or once it is gone (evicted while being read).
///
/// `substr` on a blob/bytea counts bytes on both engines. PostgreSQL reads only the pages of
/// the slice; SQLite reads the whole value for each slice, which is why callers size slices
/// to the file ([`download_slice_len`]).
pub async fn attachment_slice(
    scope: &AccountScope,
    attachment: i64,
    offset: i64,
    len: i64,
) -> Result<Vec<u8>> {
    scope.require(Role::Viewer)?;
    // PostgreSQL's substr takes `integer`s (attachments stay far below 2 GiB).
    let int = |n: i64| i32::try_from(n).map_err(|_| Error::validation("offset", "beyond 2 GiB"));
    let row = scope
        .db()
        .conn()
        .query_one(
            &Query::select()
                .expr_as(
                    Func::cust("substr").args([
                        Expr::col("data"),
                        Expr::val(int(offset + 1)?),
                        Expr::val(int(Ord::max(len, 0))?),
                    ]),
                    "slice",
                )
                .from("attachments")
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("id").eq(attachment))
                .to_owned(),
        )
        .await?
        .ok_or(Error::NotFound)?;
    Ok(row.try_get("", "slice")?)
}

/// How many bytes a download reads at a time for a file of `size` bytes: 1 MiB, or a 16th of
/// the file when larger (at most 16 reads, whatever the size: each costs a read of the whole
/// value on SQLite).
pub fn download_slice_len(size: i64) -> i64 {
    const MIB: i64 = 1024 * 1024;
    Ord::max(MIB, (size + 15) / 16)
}

/// User feedback about an event.
#[derive(Clone, Debug)]
pub struct Feedback {
    /// Name given.
    pub name: Option<String>,
    /// Email given.
    pub email: Option<String>,
    /// What they wrote.
    pub comments: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The attachments of an event.
pub async fn event_attachments(
    scope: &AccountScope,
    project: i64,
    event_id: &str,
) -> Result<Vec<AttachmentInfo>> {
    scope.require(Role::Viewer)?;
    scope
        .db()
        .conn()
        .query_all(
            &AttachmentInfo::select(scope)
                .and_where(Expr::col("project_id").eq(project))
                .and_where(Expr::col("event_id").eq(event_id))
                .order_by("id", Order::Asc)
                .to_owned(),
        )
        .await?
        .iter()
        .map(AttachmentInfo::from_row)
        .collect()
}

/// The user feedback about an event.
pub async fn event_feedback(
    scope: &AccountScope,
    project: i64,
    event_id: &str,
) -> Result<Vec<Feedback>> {
    scope.require(Role::Viewer)?;
    scope
        .db()
        .conn()
        .query_all(
            &Query::select()
                .columns(["name", "email", "comments", "created_at"])
                .from("user_reports")
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("project_id").eq(project))
                .and_where(Expr::col("event_id").eq(event_id))
                .order_by("id", Order::Asc)
                .to_owned(),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Feedback {
                name: r.try_get("", "name")?,
                email: r.try_get("", "email")?,
                comments: r.try_get("", "comments")?,
                created_at: r.try_get("", "created_at")?,
            })
        })
        .collect()
}
