//! Stored events: an issue's events (newest first, keyset-paginated), one event with its full
//! normalized payload, the lookup of an event (and so its issue) by the SDK's event id, and the
//! walk between an issue's events (oldest, older, newer, latest) by keyset probes of the
//! `events (issue_id, id)` index, so it costs the same at the 10th and the 100,000th event.

use chrono::{DateTime, Utc};

use crate::ids::{EventRowId, IssueId, ProjectId};
use crate::ingest::envelope::EventId;
use crate::repo::events::{self, EventRow};
use crate::scope::{AccountScope, Role};
use crate::service::Page;
use crate::{Error, Result};

/// An event's summary columns.
#[derive(Clone, Debug)]
pub struct EventSummary {
    /// Row id (the cursor).
    pub id: EventRowId,
    /// The SDK's event id (32 hex).
    pub event_id: String,
    /// Its project.
    pub project_id: ProjectId,
    /// Its issue.
    pub issue_id: IssueId,
    /// When it happened (normalized).
    pub timestamp: DateTime<Utc>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Level.
    pub level: String,
    /// Platform.
    pub platform: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Stored payload bytes (compressed).
    pub payload_size: i64,
}

impl From<EventRow> for EventSummary {
    fn from(row: EventRow) -> Self {
        Self {
            id: EventRowId(row.id),
            event_id: row.event_id,
            project_id: ProjectId(row.project_id),
            issue_id: IssueId(row.issue_id),
            timestamp: row.timestamp,
            received_at: row.received_at,
            level: row.level,
            platform: row.platform,
            release: row.release,
            environment: row.environment,
            title: row.title,
            payload_size: i64::from(row.payload_size),
        }
    }
}

fn summaries(rows: Vec<EventRow>) -> Vec<EventSummary> {
    rows.into_iter().map(EventSummary::from).collect()
}

/// The events of an issue, newest first (by arrival order). `NotFound` for another account's
/// issue.
pub async fn list_events(
    scope: &AccountScope,
    issue_id: IssueId,
    page: Page,
) -> Result<(Vec<EventSummary>, bool)> {
    scope.require(Role::Viewer)?;
    crate::service::issue::get_issue(scope, issue_id).await?;
    let after = page.after.map(EventRowId);
    let rows = events::list_by_issue(scope, issue_id, after, page.limit() + 1).await?;
    Ok(page.split(summaries(rows)))
}

/// The newest event of each of `issue_ids` (issues of other accounts are simply absent): one
/// query for a whole page of issues.
pub async fn latest_events(
    scope: &AccountScope,
    issue_ids: &[IssueId],
) -> Result<Vec<EventSummary>> {
    scope.require(Role::Viewer)?;
    if issue_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(summaries(events::latest_of_issues(scope, issue_ids).await?))
}

/// The oldest event still stored of an issue (`None` when every event was evicted or the issue
/// is another account's): one forward probe of `events (issue_id, id)`.
pub async fn oldest_event(scope: &AccountScope, issue_id: IssueId) -> Result<Option<EventSummary>> {
    scope.require(Role::Viewer)?;
    Ok(events::oldest_of_issue(scope, issue_id)
        .await?
        .map(EventSummary::from))
}

/// Which way to step from an event to its neighbour in the same issue (arrival order, as
/// [`list_events`] pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The event that arrived just before.
    Older,
    /// The event that arrived just after.
    Newer,
}

/// The SDK event id of the neighbour of `event` in its issue, or `None` at either end.
pub async fn neighbour_event_id(
    scope: &AccountScope,
    event: &EventSummary,
    step: Step,
) -> Result<Option<String>> {
    scope.require(Role::Viewer)?;
    let newer = step == Step::Newer;
    events::neighbour(scope, event.issue_id, event.id, newer).await
}

/// One event with its payload, by row id.
pub async fn get_event(
    scope: &AccountScope,
    id: EventRowId,
) -> Result<(EventSummary, serde_json::Value)> {
    scope.require(Role::Viewer)?;
    decompress(events::get_with_payload(scope, id).await?)
}

/// One event by the SDK's event id in a project of the scope's account.
pub async fn find_event(
    scope: &AccountScope,
    project_id: ProjectId,
    event_id: &str,
) -> Result<(EventSummary, serde_json::Value)> {
    scope.require(Role::Viewer)?;
    let event_id =
        EventId::parse(event_id).map_err(|e| Error::validation("eventId", e.to_string()))?;
    decompress(events::find_with_payload(scope, project_id, &event_id.to_string()).await?)
}

fn decompress((row, bytes): (EventRow, Vec<u8>)) -> Result<(EventSummary, serde_json::Value)> {
    let payload = crate::digest::decompress_payload(&bytes)?;
    Ok((row.into(), payload))
}
