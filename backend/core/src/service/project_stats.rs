//! What a project has seen: releases, environments and tag values (from the issues' tag
//! values, which survive event eviction), outcomes per hour, and an event's attachments (their
//! bytes inline when small, or read in slices for a download of any size) and user feedback.

use chrono::{DateTime, Utc};

use crate::ids::{AttachmentId, ProjectId};
use crate::repo::events::{self, AttachmentRow};
use crate::repo::stats;
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
    Ok(
        stats::seen_values(scope, project, key, limit.clamp(1, 1000))
            .await?
            .into_iter()
            .map(|r| SeenValue {
                value: r.value,
                events: r.events,
                issues: r.issues,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
            })
            .collect(),
    )
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
    if let Some(project) = project {
        crate::service::project::load_project(scope, project).await?;
    }
    let rows = stats::project_tag_values(scope, project).await?;
    Ok(crate::service::issue::fold_facets(rows, limit))
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
    let from = crate::outcome::hour_of(from);
    Ok(
        stats::outcomes(scope, scope.db().conn(), Some(project), from, to)
            .await?
            .into_iter()
            .map(|r| OutcomeRow {
                hour: r.hour,
                category: r.category,
                outcome: r.outcome,
                reason: r.reason,
                quantity: r.quantity,
            })
            .collect(),
    )
}

/// An attachment of an event (metadata; the bytes stay in the database).
#[derive(Clone, Debug)]
pub struct AttachmentInfo {
    /// Id.
    pub id: AttachmentId,
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// `event.attachment`, `event.minidump`, …
    pub attachment_type: String,
    /// Bytes.
    pub size: i64,
}

impl From<AttachmentRow> for AttachmentInfo {
    fn from(row: AttachmentRow) -> Self {
        Self {
            id: AttachmentId(row.id),
            filename: row.filename,
            content_type: row.content_type,
            attachment_type: row.attachment_type,
            size: row.size,
        }
    }
}

/// The largest attachment whose content [`attachment_data`] hands out (the API inlines it).
pub const MAX_INLINE_ATTACHMENT_BYTES: i64 = 1024 * 1024;

/// The content of one attachment of an event, when it is at most
/// [`MAX_INLINE_ATTACHMENT_BYTES`] (`None` when larger). Another account's attachment, or one
/// of another event, is `NotFound`.
pub async fn attachment_data(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
    attachment: AttachmentId,
) -> Result<Option<Vec<u8>>> {
    scope.require(Role::Viewer)?;
    let attachment = attachment.0;
    // The size first: a large blob is never read only to be dropped.
    let size = events::attachment_size(scope, project, event_id, attachment).await?;
    if size > MAX_INLINE_ATTACHMENT_BYTES {
        return Ok(None);
    }
    Ok(Some(
        events::attachment_bytes(scope, project, event_id, attachment).await?,
    ))
}

/// One attachment of the scope's account by id (any project, with or without its event),
/// for a download; `NotFound` for another account's.
pub async fn attachment_info(
    scope: &AccountScope,
    attachment: AttachmentId,
) -> Result<AttachmentInfo> {
    scope.require(Role::Viewer)?;
    Ok(events::attachment(scope, attachment.0).await?.into())
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
    attachment: AttachmentId,
    offset: i64,
    len: i64,
) -> Result<Vec<u8>> {
    scope.require(Role::Viewer)?;
    // PostgreSQL's substr takes `integer`s (attachments stay far below 2 GiB).
    let int = |n: i64| i32::try_from(n).map_err(|_| Error::validation("offset", "beyond 2 GiB"));
    events::attachment_substr(
        scope,
        attachment.0,
        int(offset + 1)?,
        int(Ord::max(len, 0))?,
    )
    .await
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
    project: ProjectId,
    event_id: &str,
) -> Result<Vec<AttachmentInfo>> {
    scope.require(Role::Viewer)?;
    Ok(events::event_attachments(scope, project, event_id)
        .await?
        .into_iter()
        .map(AttachmentInfo::from)
        .collect())
}

/// The user feedback about an event.
pub async fn event_feedback(
    scope: &AccountScope,
    project: ProjectId,
    event_id: &str,
) -> Result<Vec<Feedback>> {
    scope.require(Role::Viewer)?;
    Ok(events::event_reports(scope, project, event_id)
        .await?
        .into_iter()
        .map(|r| Feedback {
            name: r.name,
            email: r.email,
            comments: r.comments,
            created_at: r.created_at,
        })
        .collect())
}
