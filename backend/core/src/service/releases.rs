//! Releases and deploys as the Sentry web API (sentry-cli, the bundler plugins) and the
//! dashboard see them.
//!
//! A release is a version of an account's code shipped in one or more projects: stored as one
//! row per project and version (`repo::releases`), so per-project counters stay simple; the
//! API's organization-level view merges the rows of one version. Creating is an idempotent
//! upsert (sentry-cli calls `releases new` on every build). Rules: a version is 1–250
//! characters, not `.`/`..`/`latest`, without `/`, newlines or tabs (Sentry's rules; sentry-cli
//! cannot address such a release anyway); the literal `undefined` a bundler plugin sends when it
//! found no release is refused as no release at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::ids::{DeployId, ProjectId, ReleaseId};
use crate::repo::releases::{self as repo, DeployRow, NewDeploy, ReleaseChanges, ReleaseRow};
use crate::scope::AccountScope;
use crate::{Error, Result};

/// One release of one project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// Row id.
    pub id: ReleaseId,
    /// Its project.
    pub project_id: ProjectId,
    /// The version string.
    pub version: String,
    /// A link (to the source, the changelog …), if given.
    pub url: Option<String>,
    /// Created (by the API or by the first event naming it).
    pub date_created: DateTime<Utc>,
    /// When work on it started, if given.
    pub date_started: Option<DateTime<Utc>>,
    /// When it was released (`releases finalize`).
    pub date_released: Option<DateTime<Utc>>,
    /// First event of this release.
    pub first_event: Option<DateTime<Utc>>,
    /// Latest event of this release.
    pub last_event: Option<DateTime<Utc>>,
    /// Events counted.
    pub event_count: i64,
    /// Issues first seen in this release.
    pub new_issues: i64,
    /// Issues that regressed in this release.
    pub regressions: i64,
}

impl From<ReleaseRow> for Release {
    fn from(r: ReleaseRow) -> Self {
        Self {
            id: ReleaseId(r.id),
            project_id: ProjectId(r.project_id),
            version: r.version,
            url: r.url,
            date_created: r.date_created,
            date_started: r.date_started,
            date_released: r.date_released,
            first_event: r.first_event,
            last_event: r.last_event,
            event_count: r.event_count,
            new_issues: r.new_issues,
            regressions: r.regressions,
        }
    }
}

/// A deploy of a release to an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deploy {
    /// Row id.
    pub id: DeployId,
    /// The release row deployed.
    pub release_id: ReleaseId,
    /// Environment (`production`, `staging` …).
    pub environment: String,
    /// A name, if given.
    pub name: Option<String>,
    /// A link, if given.
    pub url: Option<String>,
    /// Started, if given.
    pub date_started: Option<DateTime<Utc>>,
    /// Finished.
    pub date_finished: DateTime<Utc>,
}

impl From<DeployRow> for Deploy {
    fn from(d: DeployRow) -> Self {
        Self {
            id: DeployId(d.id),
            release_id: ReleaseId(d.release_id),
            environment: d.environment,
            name: d.name,
            url: d.url,
            date_started: d.date_started,
            date_finished: d.date_finished,
        }
    }
}

/// The most versions one listing returns.
pub const MAX_LIST: u64 = 100;

pub use crate::release::validate_version;

/// What the API sets on a release.
#[derive(Clone, Debug, Default)]
pub struct ReleaseFields {
    /// A link.
    pub url: Option<String>,
    /// Started.
    pub date_started: Option<DateTime<Utc>>,
    /// Released.
    pub date_released: Option<DateTime<Utc>>,
}

impl ReleaseFields {
    fn changes(&self) -> Result<ReleaseChanges> {
        if let Some(url) = &self.url
            && url.chars().count() > 2000
        {
            return Err(Error::validation("url", "must be at most 2000 characters"));
        }
        Ok(ReleaseChanges {
            url: self.url.clone(),
            date_started: self.date_started,
            date_released: self.date_released,
        })
    }
}

/// Creates `version` in `projects` (or keeps it where it exists) and applies `fields`: the
/// upsert behind `releases new`. Requires the right to upload releases.
pub async fn upsert(
    scope: &AccountScope,
    projects: &[ProjectId],
    version: &str,
    fields: &ReleaseFields,
) -> Result<Vec<Release>> {
    scope.require_releases()?;
    validate_version(version)?;
    if projects.is_empty() {
        return Err(Error::validation("projects", "name at least one project"));
    }
    let changes = fields.changes()?;
    let now = Utc::now();
    let txn = scope.db().begin_write().await?;
    for project in projects {
        repo::ensure(&txn, scope, *project, version, now).await?;
    }
    repo::change(&txn, scope, projects, version, &changes).await?;
    txn.commit().await?;
    get(scope, Some(projects), version).await
}

/// Applies `fields` to `version` in `projects` (`None`: wherever it exists); `NotFound` when
/// it exists nowhere. Requires the right to upload releases.
pub async fn update(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    version: &str,
    fields: &ReleaseFields,
) -> Result<Vec<Release>> {
    scope.require_releases()?;
    let existing = get(scope, projects, version).await?;
    let rows: Vec<ProjectId> = existing.iter().map(|r| r.project_id).collect();
    let changes = fields.changes()?;
    let txn = scope.db().begin_write().await?;
    repo::change(&txn, scope, &rows, version, &changes).await?;
    txn.commit().await?;
    get(scope, Some(&rows), version).await
}

/// The rows of `version` in `projects` (`None`: every project); `NotFound` when there are
/// none.
pub async fn get(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    version: &str,
) -> Result<Vec<Release>> {
    scope.require(crate::scope::Role::Viewer)?;
    let rows = rows_of(scope, projects, &[version.to_owned()]).await?;
    if rows.is_empty() {
        return Err(Error::NotFound);
    }
    Ok(rows)
}

/// Every row of `versions` in `projects` (`None`: every project), newest first.
async fn rows_of(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    versions: &[String],
) -> Result<Vec<Release>> {
    let rows = repo::list(
        scope.db().conn(),
        scope,
        &repo::ReleaseFilter {
            projects,
            versions: Some(versions),
            query: None,
            before: None,
            limit: 1000 * versions.len() as u64,
        },
    )
    .await?;
    Ok(rows.into_iter().map(Release::from).collect())
}

/// A page of versions, newest first: in `projects` (`None`: every project), containing
/// `query` when given, from release rows before the row `before`. Each version comes with all
/// its rows in those projects (not only the page's); at most `limit` rows (up to
/// [`MAX_LIST`]) start the page. Returns the versions, and the cursor of the next page when
/// more follow.
pub async fn list(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    query: Option<&str>,
    before: Option<ReleaseId>,
    limit: u64,
) -> Result<(Vec<Vec<Release>>, Option<ReleaseId>)> {
    scope.require(crate::scope::Role::Viewer)?;
    let limit = limit.clamp(1, MAX_LIST);
    let mut page = repo::list(
        scope.db().conn(),
        scope,
        &repo::ReleaseFilter {
            projects,
            versions: None,
            query: query.filter(|q| !q.is_empty()),
            before,
            limit: limit + 1,
        },
    )
    .await?;
    let more = page.len() as u64 > limit;
    page.truncate(limit as usize);
    let next = more.then(|| page.last().map(|r| ReleaseId(r.id))).flatten();
    let mut versions: Vec<String> = Vec::new();
    for row in page {
        if !versions.contains(&row.version) {
            versions.push(row.version);
        }
    }
    let mut groups: Vec<Vec<Release>> = versions.iter().map(|_| Vec::new()).collect();
    for row in rows_of(scope, projects, &versions).await? {
        if let Some(at) = versions.iter().position(|v| *v == row.version) {
            groups[at].push(row);
        }
    }
    Ok((groups, next))
}

/// Deletes `version` from `projects` (`None`: everywhere), with its deploys; `NotFound` when it
/// exists nowhere. Requires the right to upload releases.
pub async fn delete(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    version: &str,
) -> Result<()> {
    scope.require_releases()?;
    let existing = get(scope, projects, version).await?;
    let rows: Vec<ProjectId> = existing.iter().map(|r| r.project_id).collect();
    let txn = scope.db().begin_write().await?;
    repo::delete_version(&txn, scope, &rows, version).await?;
    txn.commit().await?;
    Ok(())
}

/// What `deploys new` sends.
#[derive(Clone, Debug)]
pub struct DeployFields {
    /// Required.
    pub environment: String,
    /// Optional name.
    pub name: Option<String>,
    /// Optional link.
    pub url: Option<String>,
    /// Optional start.
    pub date_started: Option<DateTime<Utc>>,
    /// Finish (now when absent).
    pub date_finished: Option<DateTime<Utc>>,
}

/// Records a deploy of `version` (in `projects`, `None`: wherever it exists); returns the
/// deploy of the first project. `NotFound` when the release does not exist. Requires the right
/// to upload releases.
pub async fn create_deploy(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    version: &str,
    fields: &DeployFields,
) -> Result<Deploy> {
    scope.require_releases()?;
    let environment = fields.environment.trim();
    if environment.is_empty() || environment.chars().count() > 64 || environment.contains('/') {
        return Err(Error::validation(
            "environment",
            "must be 1–64 characters without `/`",
        ));
    }
    if let Some(name) = &fields.name
        && name.chars().count() > 200
    {
        return Err(Error::validation("name", "must be at most 200 characters"));
    }
    let releases = get(scope, projects, version).await?;
    let deploy = NewDeploy {
        environment: environment.to_owned(),
        name: fields.name.clone().filter(|n| !n.is_empty()),
        url: fields.url.clone().filter(|u| !u.is_empty()),
        date_started: fields.date_started,
        date_finished: fields.date_finished.unwrap_or_else(Utc::now),
    };
    let txn = scope.db().begin_write().await?;
    let mut first = None;
    for release in &releases {
        let id = repo::insert_deploy(&txn, scope, release.id, &deploy).await?;
        first.get_or_insert((id, release.id));
    }
    txn.commit().await?;
    let (id, release_id) = first.ok_or(Error::NotFound)?;
    Ok(Deploy {
        id,
        release_id,
        environment: deploy.environment,
        name: deploy.name,
        url: deploy.url,
        date_started: deploy.date_started,
        date_finished: deploy.date_finished,
    })
}

/// The deploys of `version` (in `projects`, `None`: everywhere), newest first; one per
/// deploy even when the release spans projects.
pub async fn list_deploys(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    version: &str,
) -> Result<Vec<Deploy>> {
    let rows = get(scope, projects, version).await?;
    Ok(deploys_of(scope, &[rows]).await?.pop().unwrap_or_default())
}

/// The deploys of each group of release rows (one version's rows each), newest first; one per
/// deploy even when the release spans projects. One query for all groups.
pub async fn deploys_of(scope: &AccountScope, groups: &[Vec<Release>]) -> Result<Vec<Vec<Deploy>>> {
    scope.require(crate::scope::Role::Viewer)?;
    let ids: Vec<ReleaseId> = groups.iter().flatten().map(|r| r.id).collect();
    let stored: Vec<Deploy> = if ids.is_empty() {
        Vec::new()
    } else {
        repo::deploys_of(scope.db().conn(), scope, &ids)
            .await?
            .into_iter()
            .map(Deploy::from)
            .collect()
    };
    Ok(groups
        .iter()
        .map(|group| {
            let mut out: Vec<Deploy> = Vec::new();
            for deploy in stored
                .iter()
                .filter(|d| group.iter().any(|r| r.id == d.release_id))
            {
                let same = out.iter().any(|d| {
                    d.environment == deploy.environment
                        && d.name == deploy.name
                        && d.date_finished == deploy.date_finished
                });
                if !same {
                    out.push(deploy.clone());
                }
            }
            out
        })
        .collect())
}

// ---- the dashboard ----------------------------------------------------------------------------

/// The release `version` of `project`; `NotFound` when the project has no such release (or is
/// another account's).
pub async fn get_in_project(
    scope: &AccountScope,
    project: ProjectId,
    version: &str,
) -> Result<Release> {
    get(scope, Some(&[project]), version)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)
}

/// The deploys of each of the release rows `releases` (of any projects), newest first; rows
/// without deploys are absent. One query.
pub async fn deploys_by_release(
    scope: &AccountScope,
    releases: &[ReleaseId],
) -> Result<HashMap<ReleaseId, Vec<Deploy>>> {
    scope.require(crate::scope::Role::Viewer)?;
    let mut out: HashMap<ReleaseId, Vec<Deploy>> = HashMap::new();
    if releases.is_empty() {
        return Ok(out);
    }
    for row in repo::deploys_of(scope.db().conn(), scope, releases).await? {
        let deploy = Deploy::from(row);
        out.entry(deploy.release_id).or_default().push(deploy);
    }
    Ok(out)
}

/// One environment a release's events came from.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub new_issues: i64,
}

/// The environments of the release row `release`, busiest first.
pub async fn list_environments(
    scope: &AccountScope,
    release: ReleaseId,
) -> Result<Vec<ReleaseEnvironment>> {
    scope.require(crate::scope::Role::Viewer)?;
    Ok(repo::environments_of(scope.db().conn(), scope, release)
        .await?
        .into_iter()
        .map(|e| ReleaseEnvironment {
            environment: e.environment,
            first_event: e.first_event,
            last_event: e.last_event,
            event_count: e.event_count,
            new_issues: e.new_issues,
        })
        .collect())
}

/// The buckets of an event series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesInterval {
    /// One bucket per hour.
    Hour,
    /// One bucket per UTC day.
    Day,
}

impl SeriesInterval {
    fn seconds(self) -> i64 {
        match self {
            SeriesInterval::Hour => 3_600,
            SeriesInterval::Day => 86_400,
        }
    }

    /// The start of the bucket holding `time`.
    fn floor(self, time: DateTime<Utc>) -> DateTime<Utc> {
        let seconds = self.seconds();
        DateTime::from_timestamp(time.timestamp().div_euclid(seconds) * seconds, 0).unwrap_or(time)
    }

    /// The start of the first bucket at or after `time`.
    fn ceil(self, time: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(time);
        if floor == time {
            floor
        } else {
            floor + chrono::Duration::seconds(self.seconds())
        }
    }
}

/// A release's events over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSeries {
    /// The length of the buckets.
    pub interval: SeriesInterval,
    /// `(bucket start, events)`, oldest first, empty buckets included.
    pub buckets: Vec<(DateTime<Utc>, i64)>,
}

/// The longest span of an event series.
pub const MAX_SERIES_DAYS: i64 = 90;

/// Spans longer than this are counted by day; shorter ones by hour.
const HOURLY_UP_TO: chrono::Duration = chrono::Duration::days(2);

/// The window and buckets of a series: `[from, to)` when given, else from the release's first
/// event (`first`) to the end of the bucket of its latest (`last`), at least the 24 hours up to
/// it and at most its last [`MAX_SERIES_DAYS`] days. Hourly up to 2 days, daily beyond; the
/// window is widened to whole buckets. A given window must be ordered and at most
/// [`MAX_SERIES_DAYS`] long.
fn series_window(
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, SeriesInterval)> {
    let max = chrono::Duration::days(MAX_SERIES_DAYS);
    let end = to.unwrap_or(last);
    let mut start = from.unwrap_or(first.min(end));
    if from.is_some() || to.is_some() {
        if start >= end || end - start > max {
            return Err(Error::validation(
                "from",
                format!("must be before to, at most {MAX_SERIES_DAYS} days apart"),
            ));
        }
    } else {
        start = start.max(end - max);
    }
    let interval = if end - start > HOURLY_UP_TO {
        SeriesInterval::Day
    } else {
        SeriesInterval::Hour
    };
    let mut start = interval.floor(start);
    let end = if to.is_some() {
        interval.ceil(end)
    } else {
        interval.floor(end) + chrono::Duration::seconds(interval.seconds())
    };
    if from.is_none() && to.is_none() {
        start = start.min(end - chrono::Duration::hours(24));
    }
    Ok((start, end, interval))
}

/// The events of `release` (read under `scope`) per hour, or per day for spans over 2 days, in
/// `[from, to)` (default: its first to its latest event, see [`series_window`]); one grouped
/// query on the project's events of that release.
pub async fn event_series(
    scope: &AccountScope,
    release: &Release,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<EventSeries> {
    scope.require(crate::scope::Role::Viewer)?;
    let first = release.first_event.unwrap_or(release.date_created);
    let last = release.last_event.unwrap_or_else(Utc::now);
    let (start, end, interval) = series_window(first, last, from, to)?;
    let seconds = interval.seconds();
    let counts: HashMap<i64, i64> = repo::event_buckets(
        scope.db().conn(),
        scope,
        release.project_id,
        &release.version,
        start,
        end,
        seconds,
    )
    .await?
    .into_iter()
    .collect();
    let n = (end - start).num_seconds() / seconds;
    let buckets = (0..n)
        .map(|i| {
            let at = start + chrono::Duration::seconds(i * seconds);
            (
                at,
                counts
                    .get(&(at.timestamp() / seconds))
                    .copied()
                    .unwrap_or(0),
            )
        })
        .collect();
    Ok(EventSeries { interval, buckets })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_sentrys_rules() {
        for good in [
            "1.0.0",
            "shop@1.2.3+build.5",
            "2026.12.07",
            "a1b2c3d",
            "my app 1",
        ] {
            assert!(validate_version(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            " ",
            ".",
            "..",
            "latest",
            "undefined",
            "a/b",
            "a\nb",
            "a\tb",
            " 1.0",
            &"x".repeat(251),
        ] {
            assert!(validate_version(bad).is_err(), "{bad:?}");
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn check(
        first: &str,
        last: &str,
        window: (Option<&str>, Option<&str>),
        expect: (&str, &str, SeriesInterval),
    ) {
        let (start, end, interval) =
            series_window(at(first), at(last), window.0.map(at), window.1.map(at))
                .expect("a window");
        assert_eq!(
            (start, end, interval),
            (at(expect.0), at(expect.1), expect.2)
        );
    }

    #[test]
    fn series_cover_the_release_in_whole_buckets() {
        use SeriesInterval::{Day, Hour};
        // One event: the 24 hours up to the end of its hour.
        check(
            "2026-12-08T10:20:00Z",
            "2026-12-08T10:20:00Z",
            (None, None),
            ("2026-12-07T11:00:00Z", "2026-12-08T11:00:00Z", Hour),
        );
        // Two days of events: still by hour.
        check(
            "2026-12-06T09:59:00Z",
            "2026-12-08T09:00:00Z",
            (None, None),
            ("2026-12-06T09:00:00Z", "2026-12-08T10:00:00Z", Hour),
        );
        // Longer: by day, whole days.
        check(
            "2026-12-01T09:00:00Z",
            "2026-12-08T09:00:00Z",
            (None, None),
            ("2026-12-01T00:00:00Z", "2026-12-09T00:00:00Z", Day),
        );
        // Older than 90 days: the last 90.
        check(
            "2025-01-01T00:00:00Z",
            "2026-12-08T12:00:00Z",
            (None, None),
            ("2026-09-09T00:00:00Z", "2026-12-09T00:00:00Z", Day),
        );
        // A given window is kept (widened to whole buckets).
        check(
            "2026-12-01T09:00:00Z",
            "2026-12-08T09:00:00Z",
            (Some("2026-12-08T00:30:00Z"), Some("2026-12-08T02:10:00Z")),
            ("2026-12-08T00:00:00Z", "2026-12-08T03:00:00Z", Hour),
        );
    }

    #[test]
    fn series_refuse_bad_windows() {
        let now = at("2026-12-08T00:00:00Z");
        let day = chrono::Duration::days(1);
        assert!(series_window(now, now, Some(now), Some(now)).is_err());
        assert!(series_window(now, now, Some(now), Some(now - day)).is_err());
        assert!(series_window(now, now, Some(now - day * 91), Some(now)).is_err());
        assert!(series_window(now, now, Some(now - day * 90), Some(now)).is_ok());
    }
}
