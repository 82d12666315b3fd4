//! What a digest batch adds to its releases (pure; [`crate::repo::releases::add_batch`] writes
//! it, [`BatchReleases`]): per release, the events, their first and last time, the issues that were new in it and
//! the issues that regressed in it; the same per release and environment.
//!
//! A release row is created by the first event that names it (Sentry does the same), unless
//! the name is not one the API would accept ([`crate::release::validate_version`]):
//! such events keep their `release` tag and count nowhere else.
//!
//! An issue is new in the release of its first event (in batch order) that names one, the
//! release [`super::prepare::IssueDelta::first_release`] records; it regressed in the release
//! its regression names.

use std::collections::{BTreeMap, HashMap};

use super::prepare::PreparedEvent;
use crate::ids::{AccountId, IssueId, ProjectId};
use crate::repo::releases::{BatchReleases, EnvironmentCounts, ReleaseCounts};

/// What `events` (kept, in batch order, with their `issue_ids`) add to their releases;
/// `created` holds the issues this batch created, `regressed` the issues that regressed with
/// the release their regression names.
pub(crate) fn release_counts(
    events: &[PreparedEvent],
    issue_ids: &[i64],
    created: &dyn Fn(&PreparedEvent) -> bool,
    regressed: &HashMap<i64, Option<String>>,
) -> BatchReleases {
    let mut releases: BatchReleases = BTreeMap::new();
    let mut first_of_new_issue: HashMap<i64, ()> = HashMap::new();
    for (event, &issue_id) in events.iter().zip(issue_ids) {
        let Some(version) = event.release.as_deref().filter(|v| acceptable(v)) else {
            continue;
        };
        let counts = releases
            .entry((ProjectId(event.project_id), version.to_owned()))
            .or_insert_with(|| ReleaseCounts {
                account: AccountId(event.account_id),
                events: 0,
                first_event: event.timestamp,
                last_event: event.timestamp,
                new_issues: Vec::new(),
                regressions: Vec::new(),
                environments: BTreeMap::new(),
            });
        counts.events += 1;
        counts.first_event = counts.first_event.min(event.timestamp);
        counts.last_event = counts.last_event.max(event.timestamp);
        let environment = counts
            .environments
            .entry(event.environment.clone())
            .or_insert(EnvironmentCounts {
                events: 0,
                first_event: event.timestamp,
                last_event: event.timestamp,
                new_issues: 0,
            });
        environment.events += 1;
        environment.first_event = environment.first_event.min(event.timestamp);
        environment.last_event = environment.last_event.max(event.timestamp);
        // The issue's first release is the one of its first event that names one.
        if created(event) && first_of_new_issue.insert(issue_id, ()).is_none() {
            counts.new_issues.push(IssueId(issue_id));
            environment.new_issues += 1;
        }
    }
    for (&issue_id, release) in regressed {
        let Some(version) = release.as_deref().filter(|v| acceptable(v)) else {
            continue;
        };
        // The regressing event is in the batch, so its release has counts; a project is
        // found through the events of the issue.
        let project = events
            .iter()
            .zip(issue_ids)
            .find(|(_, id)| **id == issue_id)
            .map(|(e, _)| ProjectId(e.project_id));
        if let Some(counts) = project.and_then(|p| releases.get_mut(&(p, version.to_owned()))) {
            counts.regressions.push(IssueId(issue_id));
        }
    }
    for counts in releases.values_mut() {
        counts.regressions.sort();
    }
    releases
}

/// Whether an event's release names a release row (see the module docs).
fn acceptable(version: &str) -> bool {
    crate::release::validate_version(version).is_ok()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::ingest::category::DataCategory;

    fn event(hash: &str, minute: u32, release: Option<&str>, env: &str) -> PreparedEvent {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 8, 10, minute, 0)
            .single()
            .expect("time");
        PreparedEvent {
            account_id: 7,
            project_id: 1,
            received_at: at,
            category: DataCategory::Error,
            event_id: format!("{minute:032x}"),
            timestamp: at,
            level: "error".into(),
            platform: "javascript".into(),
            release: release.map(str::to_owned),
            environment: env.into(),
            title: "Error".into(),
            culprit: None,
            user_key: None,
            hash: hash.into(),
            payload: Vec::new(),
            payload_size: 0,
            tags: Vec::new(),
        }
    }

    #[test]
    fn events_count_per_release_and_environment_and_new_issues_go_to_their_first_release() {
        // Issues 10 and 12 are created by the batch, 11 existed.
        let events = [
            event("a", 5, Some("1.0"), "production"),
            event("b", 3, Some("1.0"), "staging"),
            event("b", 9, None, "production"),
            event("a", 7, Some("1.1"), "production"),
            event("c", 8, Some("latest"), "production"),
        ];
        let issue_ids = [10, 11, 11, 10, 12];
        let is_created = |e: &PreparedEvent| e.hash != "b";
        let regressed = HashMap::from([(11, Some("1.0".to_owned()))]);
        let counts = release_counts(&events, &issue_ids, &is_created, &regressed);
        assert_eq!(
            counts.keys().cloned().collect::<Vec<_>>(),
            [
                (ProjectId(1), "1.0".to_owned()),
                (ProjectId(1), "1.1".to_owned())
            ],
            "`latest` is no release name; an event without a release counts nowhere"
        );
        let one = &counts[&(ProjectId(1), "1.0".to_owned())];
        assert_eq!(one.events, 2);
        assert_eq!(one.first_event, events[1].timestamp);
        assert_eq!(one.last_event, events[0].timestamp);
        assert_eq!(one.new_issues, [IssueId(10)], "issue 10 started in 1.0");
        assert_eq!(one.regressions, [IssueId(11)]);
        assert_eq!(one.environments["production"].new_issues, 1);
        assert_eq!(one.environments["staging"].events, 1);
        assert_eq!(one.environments["staging"].new_issues, 0);
        let next = &counts[&(ProjectId(1), "1.1".to_owned())];
        assert_eq!(next.events, 1);
        assert!(next.new_issues.is_empty(), "issue 10 is new once, in 1.0");
    }
}
