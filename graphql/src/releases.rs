//! Releases of a project for the dashboard: the paged list (`Project.releaseList`), one release
//! (`Project.release`) with its environments, deploys, new and regressed issues and its events
//! over time. Rows come from the digest and the Sentry web API (`service::releases`); nothing
//! here writes. Deploys of a page of releases are read in one query per request through
//! [`DeploysLoader`].

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use errorwatch_core::ids::{AccountId, ProjectId, ReleaseId};
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::release_issues::{self, ReleaseIssueKind};
use errorwatch_core::service::releases::{self as releases, SeriesInterval};

use crate::error::{GqlResult, OrGql, coded};
use crate::ids::{Kind, to_id};
use crate::issues::{EventCount, Interval, Issue};
use crate::types::{connection, page};

/// The project's releases, newest first, whose version contains `query` (when given).
pub async fn list(
    scope: &AccountScope,
    project: ProjectId,
    query: Option<String>,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<Connection<String, Release>> {
    let page = page(first, after)?;
    let (groups, next) = releases::list(
        scope,
        Some(&[project]),
        query.as_deref().map(str::trim),
        page.after.map(ReleaseId),
        page.first,
    )
    .await
    .gql()?;
    let rows = groups
        .into_iter()
        .flatten()
        .map(|release| {
            (
                release.id.0,
                Release {
                    scope: scope.clone(),
                    release,
                },
            )
        })
        .collect();
    Ok(connection(rows, page.after.is_some(), next.is_some()))
}

/// One release of a project (NOT_FOUND when it has none of that version).
pub async fn get(scope: &AccountScope, project: ProjectId, version: &str) -> GqlResult<Release> {
    Ok(Release {
        release: releases::get_in_project(scope, project, version)
            .await
            .gql()?,
        scope: scope.clone(),
    })
}

/// A version of a project's code, created by `sentry-cli releases new` or by the first event
/// naming it, with what the events of that version did.
pub struct Release {
    /// The scope it was read under.
    pub scope: AccountScope,
    /// The row.
    pub release: releases::Release,
}

/// Checks the `limit` of a release's issue list.
fn issue_limit(limit: i32) -> GqlResult<u64> {
    let max = release_issues::MAX_ISSUES as i32;
    if !(1..=max).contains(&limit) {
        return Err(coded(
            "VALIDATION",
            format!("limit must be between 1 and {max}"),
        ));
    }
    Ok(limit as u64)
}

impl Release {
    async fn issues(&self, kind: ReleaseIssueKind, limit: i32) -> GqlResult<Vec<Issue>> {
        Ok(
            release_issues::list_issues(&self.scope, self.release.id, kind, issue_limit(limit)?)
                .await
                .gql()?
                .into_iter()
                .map(|issue| Issue {
                    scope: self.scope.clone(),
                    issue,
                })
                .collect(),
        )
    }
}

#[Object]
impl Release {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Release, self.release.id)
    }
    /// The version string (`shop@1.2.3`, a git sha …), as events and sentry-cli name it.
    async fn version(&self) -> &str {
        &self.release.version
    }
    /// A link (to the source, the changelog …), if sentry-cli gave one.
    async fn url(&self) -> Option<&str> {
        self.release.url.as_deref()
    }
    /// Created (by `releases new` or by the first event naming it).
    async fn date_created(&self) -> DateTime<Utc> {
        self.release.date_created
    }
    /// When work on it started, if given.
    async fn date_started(&self) -> Option<DateTime<Utc>> {
        self.release.date_started
    }
    /// When it was released (`releases finalize`).
    async fn date_released(&self) -> Option<DateTime<Utc>> {
        self.release.date_released
    }
    /// First event of this release.
    async fn first_event(&self) -> Option<DateTime<Utc>> {
        self.release.first_event
    }
    /// Latest event of this release.
    async fn last_event(&self) -> Option<DateTime<Utc>> {
        self.release.last_event
    }
    /// Events counted (eviction keeps counts).
    async fn event_count(&self) -> i64 {
        self.release.event_count
    }
    /// Issues first seen in this release.
    async fn new_issue_count(&self) -> i64 {
        self.release.new_issues
    }
    /// Issues that regressed in this release.
    async fn regression_count(&self) -> i64 {
        self.release.regressions
    }
    /// Its project's global id.
    async fn project_id(&self) -> ID {
        to_id(Kind::Project, self.release.project_id)
    }
    /// The environments its events came from, busiest first.
    async fn environments(&self) -> GqlResult<Vec<ReleaseEnvironment>> {
        Ok(releases::list_environments(&self.scope, self.release.id)
            .await
            .gql()?
            .into_iter()
            .map(|e| ReleaseEnvironment {
                environment: e.environment,
                first_event: e.first_event,
                last_event: e.last_event,
                event_count: e.event_count,
                new_issue_count: e.new_issues,
            })
            .collect())
    }
    /// Its deploys (`sentry-cli deploys new`), newest first (batched across a page).
    async fn deploys(&self, ctx: &Context<'_>) -> GqlResult<Vec<Deploy>> {
        let loader = ctx.data::<DataLoader<DeploysLoader>>()?;
        let deploys = loader
            .load_one((self.scope.account_id(), self.release.id))
            .await
            .map_err(|e| (*e).clone())?;
        Ok(deploys
            .unwrap_or_default()
            .into_iter()
            .map(Deploy)
            .collect())
    }
    /// Issues first seen in this release, in the order they appeared (`limit` 1..=100).
    async fn new_issues(&self, #[graphql(default = 50)] limit: i32) -> GqlResult<Vec<Issue>> {
        self.issues(ReleaseIssueKind::New, limit).await
    }
    /// Issues resolved before and seen again in this release, in the order they regressed
    /// (`limit` 1..=100).
    async fn regressed_issues(&self, #[graphql(default = 50)] limit: i32) -> GqlResult<Vec<Issue>> {
        self.issues(ReleaseIssueKind::Regression, limit).await
    }
    /// Its stored events over time in `[from, to)`: by hour up to 2 days, by UTC day beyond,
    /// empty buckets included. Default: from its first to its latest event (at least the 24
    /// hours up to it, at most its last 90 days); a given window is at most 90 days.
    async fn event_series(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> GqlResult<ReleaseEventSeries> {
        let series = releases::event_series(&self.scope, &self.release, from, to)
            .await
            .gql()?;
        Ok(ReleaseEventSeries {
            interval: match series.interval {
                SeriesInterval::Hour => Interval::Hour,
                SeriesInterval::Day => Interval::Day,
            },
            buckets: series
                .buckets
                .into_iter()
                .map(|(time, count)| EventCount { time, count })
                .collect(),
        })
    }
}

/// One environment a release's events came from.
#[derive(SimpleObject)]
pub struct ReleaseEnvironment {
    /// Its name (`production`, `staging` …).
    pub environment: String,
    /// First event of the release there.
    pub first_event: DateTime<Utc>,
    /// Latest event of the release there.
    pub last_event: DateTime<Utc>,
    /// Events counted there.
    pub event_count: i64,
    /// Issues first seen there in this release.
    pub new_issue_count: i64,
}

/// A release's events over time.
#[derive(SimpleObject)]
pub struct ReleaseEventSeries {
    /// The length of each bucket.
    pub interval: Interval,
    /// The buckets, oldest first.
    pub buckets: Vec<EventCount>,
}

/// A deploy of a release to an environment.
pub struct Deploy(pub releases::Deploy);

#[Object]
impl Deploy {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Deploy, self.0.id)
    }
    /// Environment (`production`, `staging` …).
    async fn environment(&self) -> &str {
        &self.0.environment
    }
    /// A name, if given.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// A link, if given.
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    /// Started, if given.
    async fn date_started(&self) -> Option<DateTime<Utc>> {
        self.0.date_started
    }
    /// Finished.
    async fn date_finished(&self) -> DateTime<Utc> {
        self.0.date_finished
    }
}

/// Per-request loader of each release's deploys, keyed by (account, release): one query per
/// account per request however many releases a page lists.
pub struct DeploysLoader(pub Arc<crate::loaders::LoaderScopes>);

impl Loader<(AccountId, ReleaseId)> for DeploysLoader {
    type Value = Vec<releases::Deploy>;
    type Error = Arc<async_graphql::Error>;

    async fn load(
        &self,
        keys: &[(AccountId, ReleaseId)],
    ) -> Result<HashMap<(AccountId, ReleaseId), Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for (scope, ids) in self.0.by_account(keys).await? {
            let account = scope.account_id();
            let deploys = releases::deploys_by_release(&scope, &ids)
                .await
                .gql()
                .map_err(Arc::new)?;
            out.extend(
                deploys
                    .into_iter()
                    .map(|(release, list)| ((account, release), list)),
            );
        }
        Ok(out)
    }
}
