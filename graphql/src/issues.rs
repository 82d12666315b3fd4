//! Issues and events: lists with Sentry's search syntax and sorts, one issue with its counts,
//! facets, event counts over time, grouping explanation and activity, events with their full
//! payload, and every lifecycle action.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use errorwatch_core::ids::{AccountId, IssueId, ProjectId};
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::event::{self as events, EventSummary};
use errorwatch_core::service::issue::{self as issues, IgnoreCondition, StatusChange};
use errorwatch_core::service::issue_search::{self, IssueSort as CoreSort};
use errorwatch_core::service::issue_state::IssueStatus as CoreStatus;
use errorwatch_core::service::{self, locate, project_stats, search, triage};

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql, coded};
use crate::ids::{Kind, from_id, to_id};
use crate::types::{Project, connection, page};

/// Orders of issue lists.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum IssueSort {
    /// Most recently seen first.
    #[default]
    LastSeen,
    /// Newest first.
    FirstSeen,
    /// Most events first.
    Events,
    /// Most users first.
    Users,
}

impl From<IssueSort> for CoreSort {
    fn from(sort: IssueSort) -> Self {
        match sort {
            IssueSort::LastSeen => CoreSort::LastSeen,
            IssueSort::FirstSeen => CoreSort::FirstSeen,
            IssueSort::Events => CoreSort::Events,
            IssueSort::Users => CoreSort::Users,
        }
    }
}

/// An issue's state.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum IssueStatus {
    /// Open.
    Unresolved,
    /// Fixed (now, in a release, or in the next release).
    Resolved,
    /// Muted (forever or under a condition).
    Ignored,
}

/// Buckets of event counts.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Interval {
    /// One bucket per hour.
    #[default]
    Hour,
    /// One bucket per day (UTC).
    Day,
}

/// A connection of issues with the number matching (capped at 10,000).
#[derive(SimpleObject)]
pub struct IssueCountExtra {
    /// Issues matching the search (at most 10,000 are counted).
    pub total_count: i64,
}

/// Lists issues for `Project.issues` and `Account.issues`.
pub async fn list(
    ctx: &Context<'_>,
    scope: &AccountScope,
    project: Option<ProjectId>,
    query: Option<String>,
    sort: IssueSort,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<Connection<String, Issue, IssueCountExtra>> {
    let page = page(first, None)?;
    let parsed = search::parse(query.as_deref().unwrap_or("is:unresolved")).gql()?;
    let result = issue_search::search_issues(
        scope,
        project,
        &parsed,
        sort.into(),
        after.as_deref(),
        page.first,
    )
    .await
    .gql()?;
    // One query for the newest event of every issue on the page, when asked for.
    if ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .field("latestEvent")
        .exists()
    {
        let loader = ctx.data::<LatestLoader>()?;
        loader
            .load_many(result.issues.iter().map(|i| (scope.account_id(), i.id)))
            .await
            .map_err(|e| (*e).clone())?;
    }
    let mut connection = Connection::with_additional_fields(
        after.is_some(),
        result.has_next,
        IssueCountExtra {
            total_count: result.total,
        },
    );
    connection
        .edges
        .extend(result.issues.into_iter().map(|issue| {
            Edge::new(
                issue_search::cursor(&issue, sort.into()),
                Issue {
                    scope: scope.clone(),
                    issue,
                },
            )
        }));
    Ok(connection)
}

/// An issue: events grouped as one problem.
pub struct Issue {
    /// The scope it was read under.
    pub scope: AccountScope,
    /// The row.
    pub issue: issues::Issue,
}

/// A tag key's values on an issue (or across a project's or an account's issues).
#[derive(SimpleObject)]
pub struct TagFacet {
    /// Tag key (`environment`, `release`, `user`, `browser`, …).
    pub key: String,
    /// Distinct values seen.
    pub distinct_values: i64,
    /// Events with this key, whatever the value: a value's share is `count / totalCount`.
    pub total_count: i64,
    /// The most frequent values.
    pub top_values: Vec<TagValueCount>,
}

impl From<issues::TagFacet> for TagFacet {
    fn from(facet: issues::TagFacet) -> Self {
        Self {
            key: facet.key,
            distinct_values: facet.distinct_values,
            total_count: facet.total,
            top_values: facet
                .top
                .into_iter()
                .map(|(value, count)| TagValueCount {
                    label: facet
                        .labels
                        .get(&value)
                        .cloned()
                        .unwrap_or_else(|| value.clone()),
                    value,
                    count,
                })
                .collect(),
        }
    }
}

/// Checks the `limit` of a `tagFacets` field (values per key).
pub fn facet_limit(limit: i32) -> GqlResult<usize> {
    if !(1..=100).contains(&limit) {
        return Err(coded("VALIDATION", "limit must be between 1 and 100"));
    }
    Ok(limit as usize)
}

/// One tag value with its event count.
#[derive(SimpleObject)]
pub struct TagValueCount {
    /// Value (what search matches: `user:id:42`).
    pub value: String,
    /// The value as people know it: for the `user` facet of an issue, the user's email,
    /// else username, else id; the value itself for every other tag.
    pub label: String,
    /// Events with it.
    pub count: i64,
}

/// Events in one time bucket.
#[derive(SimpleObject)]
pub struct EventCount {
    /// Start of the bucket (UTC).
    pub time: DateTime<Utc>,
    /// Events in it.
    pub count: i64,
}

/// Who an issue is assigned to.
#[derive(SimpleObject)]
pub struct Assignee {
    /// The user's global id.
    pub user_id: ID,
    /// Their address (null once they left the account).
    pub email: Option<String>,
}

/// What a bulk update does to each issue.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum BulkIssueAction {
    /// Resolve now.
    Resolve,
    /// Resolve in the next release.
    ResolveInNextRelease,
    /// Ignore forever.
    Ignore,
    /// Back to unresolved.
    Reopen,
    /// Bookmark for the viewer.
    Bookmark,
    /// Remove the viewer's bookmark.
    Unbookmark,
    /// Delete with their events.
    Delete,
}

/// The result of a bulk update.
#[derive(SimpleObject)]
pub struct BulkIssuePayload {
    /// Issues changed.
    pub updated: i32,
    /// Their ids.
    pub issue_ids: Vec<ID>,
}

/// Most issues one bulk update touches.
pub const BULK_MAX: usize = 1000;

/// Why events are one issue.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct GroupingExplanation {
    /// Grouping version that decided.
    pub version: i32,
    /// The components that decided (SDK fingerprint, rule, frames, type and value, message).
    pub components: Json<serde_json::Value>,
    /// Every fingerprint hash that leads to this issue (several after a merge).
    pub fingerprints: Vec<String>,
    /// The scope the issue was read under.
    #[graphql(skip)]
    pub scope: AccountScope,
    /// The issue explained.
    #[graphql(skip)]
    pub issue_id: i64,
}

#[ComplexObject]
impl GroupingExplanation {
    /// Each fingerprint (oldest first) with what its stored events say: the title they carry
    /// (the issue it was before a merge), their count and the first of them. Evicted events
    /// are not counted.
    async fn fingerprint_details(&self) -> GqlResult<Vec<FingerprintDetail>> {
        Ok(
            issues::list_fingerprint_details(&self.scope, IssueId(self.issue_id))
                .await
                .gql()?
                .into_iter()
                .map(|d| FingerprintDetail {
                    hash: d.hash,
                    title: d.title,
                    event_count: d.event_count,
                    first_event: d.first_event.map(|e| FingerprintEvent {
                        event_id: e.event_id,
                        timestamp: e.timestamp,
                    }),
                })
                .collect(),
        )
    }
}

/// One fingerprint of an issue, described by its stored events.
#[derive(SimpleObject)]
pub struct FingerprintDetail {
    /// The hash (as in `fingerprints`; what `unmergeFingerprint` takes).
    pub hash: String,
    /// The title of the newest stored event grouped by it: the issue it was before a merge
    /// (null when none is stored).
    pub title: Option<String>,
    /// Stored events grouped by it.
    pub event_count: i64,
    /// The oldest stored event grouped by it.
    pub first_event: Option<FingerprintEvent>,
}

/// An event named by a fingerprint's detail.
#[derive(SimpleObject)]
pub struct FingerprintEvent {
    /// The SDK's event id (32 hex; `Query.event` takes it).
    pub event_id: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
}

/// One entry of an issue's activity.
#[derive(SimpleObject)]
pub struct IssueActivity {
    /// `resolved`, `ignored`, `reopened`, `regression`, `merged`, `unmerged`, …
    pub kind: String,
    /// `user:<id>`, `token:<id>:user:<id>` or `system:<reason>`.
    pub actor: String,
    /// Details (release, condition, merged issues).
    pub data: Json<serde_json::Value>,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[Object]
impl Issue {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Issue, self.issue.id)
    }
    /// `Type: value` or the message.
    async fn title(&self) -> &str {
        &self.issue.title
    }
    /// Where it happens (module and function of the top in-app frame).
    async fn culprit(&self) -> Option<&str> {
        self.issue.culprit.as_deref()
    }
    /// Level of the latest event.
    async fn level(&self) -> &str {
        &self.issue.level
    }
    /// State.
    async fn status(&self) -> IssueStatus {
        match self.issue.status {
            CoreStatus::Resolved => IssueStatus::Resolved,
            CoreStatus::Ignored => IssueStatus::Ignored,
            CoreStatus::Unresolved => IssueStatus::Unresolved,
        }
    }
    /// Why it is unresolved (`new`, `regressed`, `escalating`, `ongoing`), when it says.
    async fn substatus(&self) -> Option<&str> {
        self.issue.substatus.map(|s| s.as_str())
    }
    /// While ignored until a time (`ignoreIssue(until:)`): that time.
    async fn ignored_until(&self) -> Option<DateTime<Utc>> {
        self.issue.ignore_until
    }
    /// While ignored until more events (`ignoreIssue(moreEvents:)`): how many more events
    /// wake it up (the threshold minus `count`, at least 1).
    async fn ignored_until_more_events(&self) -> Option<i64> {
        self.issue
            .ignore_until_times_seen
            .map(|n| (n - self.issue.times_seen).max(1))
    }
    /// While ignored until more users (`ignoreIssue(moreUsers:)`): how many more distinct
    /// users wake it up (the threshold minus `userCount`, at least 1).
    async fn ignored_until_more_users(&self) -> Option<i64> {
        self.issue
            .ignore_until_users_seen
            .map(|n| (n - self.issue.users_seen).max(1))
    }
    /// How it was resolved: `now`, `in_release`, `in_next_release`.
    async fn resolution(&self) -> Option<&str> {
        self.issue.resolution_kind.map(|k| k.as_str())
    }
    /// The release of the resolution.
    async fn resolved_in_release(&self) -> Option<&str> {
        self.issue.resolution_release.as_deref()
    }
    /// Events counted (eviction keeps counts).
    async fn count(&self) -> i64 {
        self.issue.times_seen
    }
    /// Distinct users affected.
    async fn user_count(&self) -> i64 {
        self.issue.users_seen
    }
    /// First event.
    async fn first_seen(&self) -> DateTime<Utc> {
        self.issue.first_seen
    }
    /// Latest event.
    async fn last_seen(&self) -> DateTime<Utc> {
        self.issue.last_seen
    }
    /// First release seen.
    async fn first_release(&self) -> Option<&str> {
        self.issue.first_release.as_deref()
    }
    /// Latest release seen.
    async fn last_release(&self) -> Option<&str> {
        self.issue.last_release.as_deref()
    }
    /// The member it is assigned to.
    async fn assignee(&self, ctx: &Context<'_>) -> GqlResult<Option<Assignee>> {
        let Some(user) = self.issue.assignee_user_id else {
            return Ok(None);
        };
        let loader = ctx.data::<DataLoader<crate::types::MemberEmailLoader>>()?;
        let email = loader
            .load_one((self.scope.account_id(), user))
            .await
            .map_err(|e| (*e).clone())?;
        // A former member shows without an address.
        Ok(Some(Assignee {
            user_id: to_id(Kind::User, user),
            email,
        }))
    }
    /// Bookmarked by the viewer.
    async fn is_bookmarked(&self) -> GqlResult<bool> {
        Ok(triage::bookmarked(&self.scope, &[self.issue.id])
            .await
            .gql()?
            .contains(&self.issue.id))
    }
    /// Its project.
    async fn project(&self, ctx: &Context<'_>) -> GqlResult<Project> {
        let project = service::project::get_project(
            &self.scope,
            &ctx.request().public_url,
            self.issue.project_id,
        )
        .await
        .gql()?;
        Ok(Project {
            scope: self.scope.clone(),
            project,
        })
    }
    /// Why its events are one issue.
    async fn grouping(&self) -> GqlResult<GroupingExplanation> {
        Ok(GroupingExplanation {
            version: self.issue.grouping_version,
            components: Json(self.issue.grouping_components.clone()),
            fingerprints: issues::list_fingerprints(&self.scope, self.issue.id)
                .await
                .gql()?,
            scope: self.scope.clone(),
            issue_id: self.issue.id.into(),
        })
    }
    /// State changes, merges and regressions, oldest first.
    async fn activity(&self) -> GqlResult<Vec<IssueActivity>> {
        Ok(issues::list_activity(&self.scope, self.issue.id)
            .await
            .gql()?
            .into_iter()
            .map(|a| IssueActivity {
                kind: a.kind,
                actor: a.actor,
                data: Json(a.data),
                created_at: a.created_at,
            })
            .collect())
    }
    /// Every tag key with its most frequent values (`limit` per key, 1..=100).
    async fn tag_facets(&self, #[graphql(default = 10)] limit: i32) -> GqlResult<Vec<TagFacet>> {
        Ok(
            issues::tag_facets(&self.scope, self.issue.id, facet_limit(limit)?)
                .await
                .gql()?
                .into_iter()
                .map(TagFacet::from)
                .collect(),
        )
    }
    /// Event counts per hour or day in `[from, to)` (default: the 24 hours up to the end of the
    /// current one, by hour; at most 90 days), empty buckets included.
    async fn event_counts(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        #[graphql(default)] interval: Interval,
    ) -> GqlResult<Vec<EventCount>> {
        // Default: the 24 hours ending with the current one (included).
        let to = to.unwrap_or_else(|| {
            let now = Utc::now();
            now - Duration::seconds(now.timestamp().rem_euclid(3600))
                - Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos()))
                + Duration::hours(1)
        });
        let from = from.unwrap_or(to - Duration::hours(24));
        if from >= to || to - from > Duration::days(90) {
            return Err(coded(
                "VALIDATION",
                "from must be before to, at most 90 days apart",
            ));
        }
        let hourly = issues::hourly_counts(&self.scope, self.issue.id, from, to)
            .await
            .gql()?;
        Ok(match interval {
            Interval::Hour => hourly
                .into_iter()
                .map(|(time, count)| EventCount { time, count })
                .collect(),
            Interval::Day => {
                let mut days: Vec<EventCount> = Vec::new();
                for (time, count) in hourly {
                    let day = time
                        .date_naive()
                        .and_hms_opt(0, 0, 0)
                        .map(|d| d.and_utc())
                        .unwrap_or(time);
                    match days.last_mut() {
                        Some(last) if last.time == day => last.count += count,
                        _ => days.push(EventCount { time: day, count }),
                    }
                }
                days
            }
        })
    }
    /// Its events, newest first.
    async fn events(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Event>> {
        let page = page(first, after)?;
        let (rows, more) = events::list_events(&self.scope, self.issue.id, page)
            .await
            .gql()?;
        Ok(connection(
            rows.into_iter()
                .map(|summary| {
                    (
                        summary.id.0,
                        Event {
                            scope: self.scope.clone(),
                            summary,
                            payload: Default::default(),
                        },
                    )
                })
                .collect(),
            page.after.is_some(),
            more,
        ))
    }
    /// The oldest event still stored (events past the retention are evicted, but each issue
    /// keeps its first and latest).
    async fn oldest_event(&self) -> GqlResult<Option<Event>> {
        let summary = events::oldest_event(&self.scope, self.issue.id)
            .await
            .gql()?;
        Ok(summary.map(|summary| Event {
            scope: self.scope.clone(),
            summary,
            payload: Default::default(),
        }))
    }
    /// The newest event (batched across a page of issues).
    async fn latest_event(&self, ctx: &Context<'_>) -> GqlResult<Option<Event>> {
        let loader = ctx.data::<LatestLoader>()?;
        let summary = loader
            .load_one((self.scope.account_id(), self.issue.id))
            .await
            .map_err(|e| (*e).clone())?;
        Ok(summary.map(|summary| Event {
            scope: self.scope.clone(),
            summary,
            payload: Default::default(),
        }))
    }
}

/// One stored event.
pub struct Event {
    /// The scope it was read under.
    pub scope: AccountScope,
    /// Its columns.
    pub summary: EventSummary,
    /// The payload, loaded (and decompressed) at most once per event, whichever fields ask.
    pub payload: tokio::sync::OnceCell<serde_json::Value>,
}

#[Object]
impl Event {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Event, self.summary.id)
    }
    /// The SDK's event id (32 hex).
    async fn event_id(&self) -> &str {
        &self.summary.event_id
    }
    /// When it happened.
    async fn timestamp(&self) -> DateTime<Utc> {
        self.summary.timestamp
    }
    /// When it arrived.
    async fn received_at(&self) -> DateTime<Utc> {
        self.summary.received_at
    }
    /// Level.
    async fn level(&self) -> &str {
        &self.summary.level
    }
    /// Platform.
    async fn platform(&self) -> Option<&str> {
        self.summary.platform.as_deref()
    }
    /// Release.
    async fn release(&self) -> Option<&str> {
        self.summary.release.as_deref()
    }
    /// Environment.
    async fn environment(&self) -> Option<&str> {
        self.summary.environment.as_deref()
    }
    /// Title.
    async fn title(&self) -> Option<&str> {
        self.summary.title.as_deref()
    }
    /// The SDK event id of the event of the same issue that arrived just before this one (null
    /// for the oldest stored), for walking an issue's events one by one.
    async fn previous_event_id(&self) -> GqlResult<Option<String>> {
        events::neighbour_event_id(&self.scope, &self.summary, events::Step::Older)
            .await
            .gql()
    }
    /// The SDK event id of the event of the same issue that arrived just after this one (null
    /// for the latest).
    async fn next_event_id(&self) -> GqlResult<Option<String>> {
        events::neighbour_event_id(&self.scope, &self.summary, events::Step::Newer)
            .await
            .gql()
    }
    /// Where to download the normalized event as a JSON file: `GET` with the session cookie
    /// or `Authorization: Bearer` (see the README's "Downloads").
    async fn download_url(&self, ctx: &Context<'_>) -> String {
        download_url(ctx, "events", &to_id(Kind::Event, self.summary.id))
    }
    /// The issue it belongs to.
    async fn issue(&self) -> GqlResult<Issue> {
        Ok(Issue {
            issue: issues::get_issue(&self.scope, self.summary.issue_id)
                .await
                .gql()?,
            scope: self.scope.clone(),
        })
    }
    /// The exception chain, outermost first as the SDK sent it (cause last), with frames.
    async fn exceptions(&self) -> GqlResult<Vec<ExceptionValue>> {
        let payload = self.load_payload().await?;
        let platform = payload["platform"].as_str().unwrap_or_default();
        Ok(payload["exception"]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|value| ExceptionValue::from_json(value, platform))
            .collect())
    }
    /// Breadcrumbs, oldest first.
    async fn breadcrumbs(&self) -> GqlResult<Vec<Breadcrumb>> {
        let payload = self.load_payload().await?;
        Ok(payload["breadcrumbs"]["values"]
            .as_array()
            .or_else(|| payload["breadcrumbs"].as_array())
            .into_iter()
            .flatten()
            .map(Breadcrumb::from_json)
            .collect())
    }
    /// Tags as key/value pairs.
    async fn tags(&self) -> GqlResult<Vec<TagPair>> {
        let payload = self.load_payload().await?;
        Ok(payload["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pair| {
                Some(TagPair {
                    key: pair.get(0)?.as_str()?.to_owned(),
                    value: pair.get(1)?.as_str()?.to_owned(),
                })
            })
            .collect())
    }
    /// The user (`id`, `email`, `username`, `ip_address`, …), as JSON.
    async fn user(&self) -> GqlResult<Option<Json<serde_json::Value>>> {
        Ok(non_null(&self.load_payload().await?["user"]))
    }
    /// The HTTP request (`url`, `method`, `headers`, `query_string`, …), as JSON.
    async fn request(&self) -> GqlResult<Option<Json<serde_json::Value>>> {
        Ok(non_null(&self.load_payload().await?["request"]))
    }
    /// Contexts (`os`, `runtime`, `browser`, `device`, `trace`, …), as JSON.
    async fn contexts(&self) -> GqlResult<Option<Json<serde_json::Value>>> {
        Ok(non_null(&self.load_payload().await?["contexts"]))
    }
    /// The SDK that sent it (`name`, `version`, `integrations`, …), as JSON.
    async fn sdk(&self) -> GqlResult<Option<Json<serde_json::Value>>> {
        Ok(non_null(&self.load_payload().await?["sdk"]))
    }
    /// Files sent with the event (metadata).
    async fn attachments(&self) -> GqlResult<Vec<Attachment>> {
        let attachments = project_stats::event_attachments(
            &self.scope,
            self.summary.project_id,
            &self.summary.event_id,
        )
        .await
        .gql()?;
        Ok(attachments
            .into_iter()
            .map(|a| Attachment {
                id: to_id(Kind::Attachment, a.id),
                filename: a.filename,
                content_type: a.content_type,
                attachment_type: a.attachment_type,
                size: a.size,
                scope: self.scope.clone(),
                project_id: self.summary.project_id.into(),
                event_id: self.summary.event_id.clone(),
                row_id: a.id.into(),
            })
            .collect())
    }
    /// What users wrote about it (user feedback / user reports).
    async fn user_feedback(&self) -> GqlResult<Vec<UserFeedback>> {
        let feedback = project_stats::event_feedback(
            &self.scope,
            self.summary.project_id,
            &self.summary.event_id,
        )
        .await
        .gql()?;
        Ok(feedback
            .into_iter()
            .map(|f| UserFeedback {
                name: f.name,
                email: f.email,
                comments: f.comments,
                created_at: f.created_at,
            })
            .collect())
    }
    /// The full normalized event (exception chain with frames, breadcrumbs, request, user,
    /// contexts, tags, sdk, …) as JSON.
    async fn payload(&self) -> GqlResult<Json<serde_json::Value>> {
        Ok(Json(self.load_payload().await?.clone()))
    }
}

/// The per-request latest-event loader, with its cache.
pub type LatestLoader = DataLoader<LatestEventLoader, async_graphql::dataloader::HashMapCache>;

/// Per-request loader of each issue's newest event, keyed by (account, issue).
pub struct LatestEventLoader(pub Arc<crate::loaders::LoaderScopes>);

impl Loader<(AccountId, IssueId)> for LatestEventLoader {
    type Value = EventSummary;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[(AccountId, IssueId)],
    ) -> Result<HashMap<(AccountId, IssueId), EventSummary>, Self::Error> {
        let mut out = HashMap::new();
        for (scope, ids) in self.0.by_account(keys).await? {
            for event in events::latest_events(&scope, &ids)
                .await
                .gql()
                .map_err(Arc::new)?
            {
                out.insert((scope.account_id(), event.issue_id), event);
            }
        }
        Ok(out)
    }
}

async fn issue_scope(ctx: &Context<'_>, id: &ID) -> GqlResult<(AccountScope, IssueId)> {
    let issue = IssueId(from_id(Kind::Issue, id)?);
    Ok((ctx.scope_of(locate::Owned::Issue(issue)).await?, issue))
}

/// Issue and event queries.
#[derive(Default)]
pub struct IssueQuery;

#[Object]
impl IssueQuery {
    /// One issue (NOT_FOUND for another account's).
    async fn issue(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Issue> {
        let (scope, issue) = issue_scope(ctx, &id).await?;
        Ok(Issue {
            issue: issues::get_issue(&scope, issue).await.gql()?,
            scope,
        })
    }

    /// An event (and through it, its issue) by the SDK's event id.
    async fn event(&self, ctx: &Context<'_>, project_id: ID, event_id: String) -> GqlResult<Event> {
        let project = ProjectId(from_id(Kind::Project, &project_id)?);
        let scope = ctx.scope_of(locate::Owned::Project(project)).await?;
        let (summary, payload) = events::find_event(&scope, project, &event_id).await.gql()?;
        Ok(Event {
            scope,
            summary,
            payload: tokio::sync::OnceCell::new_with(Some(payload)),
        })
    }
}

/// Issue actions (members and up).
#[derive(Default)]
pub struct IssueMutation;

async fn change(ctx: &Context<'_>, id: &ID, change: StatusChange) -> GqlResult<Issue> {
    let (scope, issue) = issue_scope(ctx, id).await?;
    let issue = issues::change_status(&scope, issue, change).await.gql()?;
    Ok(Issue { scope, issue })
}

#[Object]
impl IssueMutation {
    /// Resolves an issue now: any new event reopens it as a regression.
    async fn resolve_issue(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Issue> {
        change(ctx, &id, StatusChange::Resolve).await
    }

    /// Resolves an issue in a release: events from older releases do not reopen it.
    async fn resolve_issue_in_release(
        &self,
        ctx: &Context<'_>,
        id: ID,
        release: String,
    ) -> GqlResult<Issue> {
        change(ctx, &id, StatusChange::ResolveInRelease(release)).await
    }

    /// Resolves an issue in the release after the latest one seen.
    async fn resolve_issue_in_next_release(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Issue> {
        change(ctx, &id, StatusChange::ResolveInNextRelease).await
    }

    /// Ignores an issue: forever (no condition), until a time, or until N more events or users
    /// (one condition at most).
    async fn ignore_issue(
        &self,
        ctx: &Context<'_>,
        id: ID,
        until: Option<DateTime<Utc>>,
        more_events: Option<i64>,
        more_users: Option<i64>,
    ) -> GqlResult<Issue> {
        let condition = match (until, more_events, more_users) {
            (None, None, None) => IgnoreCondition::Forever,
            (Some(until), None, None) => IgnoreCondition::Until(until),
            (None, Some(n), None) => IgnoreCondition::MoreEvents(n),
            (None, None, Some(n)) => IgnoreCondition::MoreUsers(n),
            _ => {
                return Err(coded(
                    "VALIDATION",
                    "give at most one of until, moreEvents, moreUsers",
                ));
            }
        };
        change(ctx, &id, StatusChange::Ignore(condition)).await
    }

    /// Reopens a resolved or ignored issue.
    async fn reopen_issue(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Issue> {
        change(ctx, &id, StatusChange::Reopen).await
    }

    /// Merges issues into `targetId`: their fingerprints, events and counters move; later
    /// events of those fingerprints join the target.
    async fn merge_issues(
        &self,
        ctx: &Context<'_>,
        target_id: ID,
        source_ids: Vec<ID>,
    ) -> GqlResult<Issue> {
        let (scope, target) = issue_scope(ctx, &target_id).await?;
        let mut sources = Vec::with_capacity(source_ids.len());
        for id in &source_ids {
            // Another account's issue is NOT_FOUND, never merged.
            let (source_scope, source) = issue_scope(ctx, id).await?;
            if source_scope.account_id() != scope.account_id() {
                return Err(coded("NOT_FOUND", "not found"));
            }
            sources.push(source);
        }
        let issue = issues::merge_issues(&scope, target, &sources).await.gql()?;
        Ok(Issue { scope, issue })
    }

    /// Assigns an issue to a member of its account (`userId` null: unassign).
    async fn assign_issue(
        &self,
        ctx: &Context<'_>,
        id: ID,
        user_id: Option<ID>,
    ) -> GqlResult<Issue> {
        let (scope, issue) = issue_scope(ctx, &id).await?;
        let user = match user_id {
            Some(u) => Some(errorwatch_core::ids::UserId(from_id(Kind::User, &u)?)),
            None => None,
        };
        let issue = triage::assign(&scope, issue, user).await.gql()?;
        Ok(Issue { scope, issue })
    }

    /// Bookmarks (or un-bookmarks) an issue for the viewer.
    async fn bookmark_issue(
        &self,
        ctx: &Context<'_>,
        id: ID,
        bookmarked: bool,
    ) -> GqlResult<Issue> {
        let (scope, issue) = issue_scope(ctx, &id).await?;
        triage::set_bookmark(&scope, issue, bookmarked)
            .await
            .gql()?;
        Ok(Issue {
            issue: issues::get_issue(&scope, issue).await.gql()?,
            scope,
        })
    }

    /// Deletes an issue with its events (a later event of its fingerprint opens a new issue).
    async fn delete_issue(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let (scope, issue) = issue_scope(ctx, &id).await?;
        triage::delete_issue(&scope, issue).await.gql()?;
        Ok(id)
    }

    /// Applies one action to many issues: those listed in `ids`, or those of `projectId`
    /// matching `query` (Sentry's syntax), at most 1000. Every listed id is checked first: one
    /// that is not found changes nothing.
    async fn bulk_update_issues(
        &self,
        ctx: &Context<'_>,
        action: BulkIssueAction,
        ids: Option<Vec<ID>>,
        project_id: Option<ID>,
        query: Option<String>,
    ) -> GqlResult<BulkIssuePayload> {
        let targets: Vec<(AccountScope, IssueId)> = match (ids, project_id) {
            (Some(ids), None) => {
                if ids.len() > BULK_MAX {
                    return Err(coded("VALIDATION", format!("at most {BULK_MAX} ids")));
                }
                let mut out = Vec::with_capacity(ids.len());
                for id in &ids {
                    out.push(issue_scope(ctx, id).await?);
                }
                out
            }
            (None, Some(project)) => {
                let number = from_id(Kind::Project, &project)?;
                let scope = ctx
                    .scope_of(locate::Owned::Project(ProjectId(number)))
                    .await?;
                let parsed = search::parse(query.as_deref().unwrap_or("is:unresolved")).gql()?;
                let mut out = Vec::new();
                let mut after: Option<String> = None;
                while out.len() < BULK_MAX {
                    let page = issue_search::search_issues(
                        &scope,
                        Some(ProjectId(number)),
                        &parsed,
                        CoreSort::LastSeen,
                        after.as_deref(),
                        100,
                    )
                    .await
                    .gql()?;
                    after = page
                        .issues
                        .last()
                        .map(|i| issue_search::cursor(i, CoreSort::LastSeen));
                    out.extend(page.issues.iter().map(|i| (scope.clone(), i.id)));
                    if !page.has_next {
                        break;
                    }
                }
                out.truncate(BULK_MAX);
                out
            }
            _ => {
                return Err(coded(
                    "VALIDATION",
                    "give either ids, or projectId (with an optional query)",
                ));
            }
        };
        let action = match action {
            BulkIssueAction::Resolve => triage::BulkAction::Resolve,
            BulkIssueAction::ResolveInNextRelease => triage::BulkAction::ResolveInNextRelease,
            BulkIssueAction::Ignore => triage::BulkAction::Ignore,
            BulkIssueAction::Reopen => triage::BulkAction::Reopen,
            BulkIssueAction::Bookmark => triage::BulkAction::Bookmark,
            BulkIssueAction::Unbookmark => triage::BulkAction::Unbookmark,
            BulkIssueAction::Delete => triage::BulkAction::Delete,
        };
        let done: Vec<ID> = triage::bulk_update_issues(&targets, action)
            .await
            .gql()?
            .into_iter()
            .map(|issue| to_id(Kind::Issue, issue.0))
            .collect();
        Ok(BulkIssuePayload {
            updated: done.len() as i32,
            issue_ids: done,
        })
    }

    /// Splits one fingerprint (see `Issue.grouping.fingerprints`) out of an issue into its own
    /// issue, with its events; returns the new issue.
    async fn unmerge_fingerprint(
        &self,
        ctx: &Context<'_>,
        issue_id: ID,
        fingerprint: String,
    ) -> GqlResult<Issue> {
        let (scope, issue) = issue_scope(ctx, &issue_id).await?;
        let issue = issues::unmerge_fingerprint(&scope, issue, &fingerprint)
            .await
            .gql()?;
        Ok(Issue { scope, issue })
    }
}

impl Event {
    async fn load_payload(&self) -> GqlResult<&serde_json::Value> {
        self.payload
            .get_or_try_init(|| async {
                let (_, payload) = events::get_event(&self.scope, self.summary.id)
                    .await
                    .gql()?;
                Ok::<_, async_graphql::Error>(payload)
            })
            .await
    }
}

/// The path of the download routes under the public URL: beneath `/graphql`, where the
/// session cookies are sent.
pub const DOWNLOAD_PATH: &str = "graphql/download";

/// The absolute URL of the download of `id` (an `att_…` or `evt_…`) in `collection`.
fn download_url(ctx: &Context<'_>, collection: &str, id: &ID) -> String {
    let base = ctx.request().public_url.as_str().trim_end_matches('/');
    format!("{base}/{DOWNLOAD_PATH}/{collection}/{}", id.as_str())
}

fn non_null(value: &serde_json::Value) -> Option<Json<serde_json::Value>> {
    (!value.is_null()).then(|| Json(value.clone()))
}

fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// One exception of the chain.
#[derive(SimpleObject)]
pub struct ExceptionValue {
    /// Type (`KeyError`, `TypeError`, …).
    #[graphql(name = "type")]
    pub ty: Option<String>,
    /// Message.
    pub value: Option<String>,
    /// Module of the type.
    pub module: Option<String>,
    /// How it was caught (`handled`, `type`, …), as JSON.
    pub mechanism: Option<Json<serde_json::Value>>,
    /// Stack frames, innermost last (as SDKs send them); JavaScript frames as their source
    /// maps rewrote them.
    pub frames: Vec<Frame>,
    /// The frames as the SDK sent them (minified), when a source map rewrote at least one of
    /// `frames`; null otherwise.
    pub raw_frames: Option<Vec<Frame>>,
}

impl ExceptionValue {
    /// One exception of an event of `platform` (which decides the frames' `in_app`).
    fn from_json(value: &serde_json::Value, platform: &str) -> Self {
        Self {
            ty: text(&value["type"]),
            value: text(&value["value"]),
            module: text(&value["module"]),
            mechanism: non_null(&value["mechanism"]),
            frames: Frame::list(&value["stacktrace"], platform),
            raw_frames: value
                .get("raw_stacktrace")
                .filter(|raw| raw.is_object())
                .map(|raw| Frame::list(raw, platform)),
        }
    }
}

/// One stack frame.
#[derive(SimpleObject)]
pub struct Frame {
    /// Function.
    pub function: Option<String>,
    /// Module or package.
    pub module: Option<String>,
    /// File as the SDK names it.
    pub filename: Option<String>,
    /// Absolute path.
    pub abs_path: Option<String>,
    /// Line.
    pub lineno: Option<i64>,
    /// Column.
    pub colno: Option<i64>,
    /// Application code (vs libraries and the runtime): the SDK's `in_app` when it sent one,
    /// else the heuristics grouping uses (site-packages, node_modules, the runtime and the
    /// SDK's own frames are not the application's), so the page and the grouping agree.
    pub in_app: Option<bool>,
    /// The source line.
    pub context_line: Option<String>,
    /// Lines before.
    pub pre_context: Vec<String>,
    /// Lines after.
    pub post_context: Vec<String>,
    /// Local variables, as JSON.
    pub vars: Option<Json<serde_json::Value>>,
    /// A source map gave this frame its original position (`data.symbolicated`).
    pub symbolicated: bool,
    /// How its source map was found: `debug_id` or `release` (mapped frames only).
    pub resolved_with: Option<String>,
    /// Why a source map was not applied to this minified frame (it keeps its minified
    /// position).
    pub symbolication_error: Option<SymbolicationNote>,
    /// What is missing from a mapped frame (such as the source text for its context lines).
    pub symbolication_warning: Option<SymbolicationNote>,
}

/// Why symbolication failed for a frame, or what it lacks.
#[derive(SimpleObject)]
pub struct SymbolicationNote {
    /// Stable reason code (`missing_sourcemap_for_url`, `invalid_sourcemap`,
    /// `sourcemap_too_large`, `missing_sources_content`, `no_mapping`, …).
    pub code: String,
    /// The reason in words.
    pub message: String,
}

impl SymbolicationNote {
    fn from_json(value: &serde_json::Value) -> Option<Self> {
        let code = value["code"].as_str()?;
        Some(Self {
            code: code.to_owned(),
            message: value["message"].as_str().unwrap_or(code).to_owned(),
        })
    }
}

impl Frame {
    /// The frames of a `stacktrace` (or `raw_stacktrace`) object.
    fn list(stacktrace: &serde_json::Value, platform: &str) -> Vec<Self> {
        stacktrace["frames"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|frame| Frame::from_json(frame, platform))
            .collect()
    }

    fn from_json(frame: &serde_json::Value, platform: &str) -> Self {
        let lines = |v: &serde_json::Value| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        };
        Self {
            function: text(&frame["function"]),
            module: text(&frame["module"]),
            filename: text(&frame["filename"]),
            abs_path: text(&frame["abs_path"]),
            lineno: frame["lineno"].as_i64(),
            colno: frame["colno"].as_i64(),
            in_app: Some(errorwatch_core::grouping::is_in_app_on(frame, platform)),
            context_line: text(&frame["context_line"]),
            pre_context: lines(&frame["pre_context"]),
            post_context: lines(&frame["post_context"]),
            vars: non_null(&frame["vars"]),
            symbolicated: frame["data"]["symbolicated"].as_bool() == Some(true),
            resolved_with: frame["data"]["resolved_with"].as_str().map(str::to_owned),
            symbolication_error: SymbolicationNote::from_json(
                &frame["data"]["symbolication_error"],
            ),
            symbolication_warning: SymbolicationNote::from_json(
                &frame["data"]["symbolication_warning"],
            ),
        }
    }
}

/// One breadcrumb.
#[derive(SimpleObject)]
pub struct Breadcrumb {
    /// When (as sent: RFC 3339 or Unix seconds).
    pub timestamp: Option<String>,
    /// `default`, `http`, `navigation`, `query`, …
    #[graphql(name = "type")]
    pub ty: Option<String>,
    /// Category (`console`, `http`, `ui.click`, …).
    pub category: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// Level.
    pub level: Option<String>,
    /// Data, as JSON.
    pub data: Option<Json<serde_json::Value>>,
}

impl Breadcrumb {
    fn from_json(crumb: &serde_json::Value) -> Self {
        Self {
            timestamp: text(&crumb["timestamp"]),
            ty: text(&crumb["type"]),
            category: text(&crumb["category"]),
            message: text(&crumb["message"]),
            level: text(&crumb["level"]),
            data: non_null(&crumb["data"]),
        }
    }
}

/// A tag.
#[derive(SimpleObject)]
pub struct TagPair {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A file sent with an event.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Attachment {
    /// Global id.
    pub id: ID,
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// `event.attachment`, `event.minidump`, …
    pub attachment_type: String,
    /// Bytes.
    pub size: i64,
    #[graphql(skip)]
    pub scope: AccountScope,
    #[graphql(skip)]
    pub project_id: i64,
    #[graphql(skip)]
    pub event_id: String,
    #[graphql(skip)]
    pub row_id: i64,
}

#[ComplexObject]
impl Attachment {
    /// Where to download the file, whatever its size: `GET` with the session cookie or
    /// `Authorization: Bearer` (see the README's "Downloads").
    async fn download_url(&self, ctx: &Context<'_>) -> String {
        download_url(ctx, "attachments", &self.id)
    }
    /// The content, base64-encoded, for attachments of at most 1 MiB (null when larger).
    async fn data_base64(&self) -> GqlResult<Option<String>> {
        use base64::Engine as _;
        let data = project_stats::attachment_data(
            &self.scope,
            errorwatch_core::ids::ProjectId(self.project_id),
            &self.event_id,
            errorwatch_core::ids::AttachmentId(self.row_id),
        )
        .await
        .gql()?;
        Ok(data.map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes)))
    }
}

/// User feedback about an event.
#[derive(SimpleObject)]
pub struct UserFeedback {
    /// Name given.
    pub name: Option<String>,
    /// Email given.
    pub email: Option<String>,
    /// What they wrote.
    pub comments: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A release or environment a project has seen.
#[derive(SimpleObject)]
pub struct SeenValue {
    /// Its name.
    pub name: String,
    /// Events counted with it.
    pub event_count: i64,
    /// Issues with events in it.
    pub issue_count: i64,
    /// First event.
    pub first_seen: DateTime<Utc>,
    /// Latest event.
    pub last_seen: DateTime<Utc>,
}

impl From<project_stats::SeenValue> for SeenValue {
    fn from(v: project_stats::SeenValue) -> Self {
        Self {
            name: v.value,
            event_count: v.events,
            issue_count: v.issues,
            first_seen: v.first_seen,
            last_seen: v.last_seen,
        }
    }
}

/// What happened to how many items of a category in an hour.
#[derive(SimpleObject)]
pub struct Outcome {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_carry_what_source_maps_did_and_the_minified_originals() {
        let raw = json!({"frames": [
            {"abs_path": "https://cdn.example.com/app.min.js", "lineno": 1, "colno": 1043},
            {"abs_path": "https://cdn.example.com/vendor.min.js", "lineno": 1, "colno": 9},
        ]});
        let exception = json!({"type": "TypeError", "value": "oops", "raw_stacktrace": raw,
        "stacktrace": {"frames": [
            {"filename": "src/util.js", "lineno": 10, "colno": 11, "function": "parseAmount",
             "data": {"symbolicated": true, "resolved_with": "debug_id",
                      "symbolication_warning": {"code": "missing_sources_content", "message": "no text"}}},
            {"abs_path": "https://cdn.example.com/vendor.min.js", "lineno": 1, "colno": 9,
             "data": {"symbolication_error": {"code": "missing_sourcemap_for_url", "message": "no map"}}},
        ]}});
        let value = ExceptionValue::from_json(&exception, "javascript");
        let mapped = &value.frames[0];
        assert!(mapped.symbolicated);
        assert_eq!(mapped.resolved_with.as_deref(), Some("debug_id"));
        assert_eq!(
            mapped
                .symbolication_warning
                .as_ref()
                .map(|n| n.code.as_str()),
            Some("missing_sources_content")
        );
        assert!(mapped.symbolication_error.is_none());
        let unmapped = &value.frames[1];
        assert!(!unmapped.symbolicated && unmapped.resolved_with.is_none());
        let error = unmapped.symbolication_error.as_ref().expect("a reason");
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("missing_sourcemap_for_url", "no map")
        );
        let raw = value.raw_frames.as_ref().expect("the minified frames");
        assert_eq!(raw.len(), 2);
        assert_eq!(raw[0].colno, Some(1043));
        assert!(!raw[0].symbolicated);

        // Without a raw stack trace (nothing mapped, or not JavaScript): no minified frames,
        // and a reason without a message is named by its code.
        let plain = json!({"type": "KeyError", "stacktrace": {"frames": [
            {"function": "f", "data": {"symbolication_error": {"code": "no_mapping"}}}
        ]}});
        let value = ExceptionValue::from_json(&plain, "python");
        assert!(value.raw_frames.is_none());
        assert_eq!(
            value.frames[0]
                .symbolication_error
                .as_ref()
                .map(|n| n.message.as_str()),
            Some("no_mapping")
        );
    }
}
