//! The issue state machine, pure: what a member's status change or newly counted events do to
//! an issue's state (resolve now / in a release / in the next release, ignore under a
//! condition, reopen; regressions and the end of ignore conditions). No I/O: the service reads
//! the issue, asks here, and writes the new [`IssueState`] through `repo::issues`.
//!
//! States: `status` is `unresolved`, `resolved` or `ignored`; `substatus` says why an
//! unresolved issue is unresolved (`new`, `regressed`, `escalating`, `ongoing`). The enums
//! round-trip the strings stored in `issues`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::release::ReleaseOrder;
use crate::repo::entity::issue;
use crate::{Error, Result};

/// `issues.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    /// Open.
    Unresolved,
    /// Resolved (now, in a release, or in the next release).
    Resolved,
    /// Ignored under a condition.
    Ignored,
}

impl IssueStatus {
    /// Every status.
    pub const ALL: [Self; 3] = [Self::Unresolved, Self::Resolved, Self::Ignored];

    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unresolved => "unresolved",
            Self::Resolved => "resolved",
            Self::Ignored => "ignored",
        }
    }

    /// The status a stored string names.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// `issues.substatus`: why an unresolved issue is unresolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Substatus {
    /// Seen for the first time.
    New,
    /// Resolved, then seen again.
    Regressed,
    /// Ignored until a condition that ran out.
    Escalating,
    /// Reopened by a member.
    Ongoing,
}

impl Substatus {
    /// Every substatus.
    pub const ALL: [Self; 4] = [Self::New, Self::Regressed, Self::Escalating, Self::Ongoing];

    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Regressed => "regressed",
            Self::Escalating => "escalating",
            Self::Ongoing => "ongoing",
        }
    }

    /// The substatus a stored string names.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// `issues.resolution_kind`: how a resolved issue was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    /// Any later event is a regression.
    Now,
    /// Events of releases older than the resolution's release are not regressions.
    InRelease,
    /// Events of the latest release seen at resolution (or older) are not regressions.
    InNextRelease,
}

impl ResolutionKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Now, Self::InRelease, Self::InNextRelease];

    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Now => "now",
            Self::InRelease => "in_release",
            Self::InNextRelease => "in_next_release",
        }
    }

    /// The kind a stored string names.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Until when an ignore holds.
#[derive(Clone, Debug, PartialEq)]
pub enum IgnoreCondition {
    /// Until someone reopens it.
    Forever,
    /// Until this time.
    Until(DateTime<Utc>),
    /// Until this many more events arrive.
    MoreEvents(i64),
    /// Until this many more distinct users are affected.
    MoreUsers(i64),
}

/// A requested state change.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusChange {
    /// Resolved now: any new event is a regression.
    Resolve,
    /// Resolved in this release: events from older releases are not regressions.
    ResolveInRelease(String),
    /// Resolved in the release after the latest one seen.
    ResolveInNextRelease,
    /// Ignored under a condition.
    Ignore(IgnoreCondition),
    /// Back to unresolved.
    Reopen,
}

/// The state columns of an issue (what a transition writes).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IssueState {
    /// `status`; a stored string this code does not know reads as `None`.
    pub status: Option<IssueStatus>,
    /// `substatus`.
    pub substatus: Option<Substatus>,
    /// `resolved_at`.
    pub resolved_at: Option<DateTime<Utc>>,
    /// `resolution_kind`.
    pub resolution_kind: Option<ResolutionKind>,
    /// `resolution_release`.
    pub resolution_release: Option<String>,
    /// `ignore_until`.
    pub ignore_until: Option<DateTime<Utc>>,
    /// `ignore_until_times_seen`.
    pub ignore_until_times_seen: Option<i64>,
    /// `ignore_until_users_seen`.
    pub ignore_until_users_seen: Option<i64>,
    /// `status_changed_at`.
    pub status_changed_at: Option<DateTime<Utc>>,
    /// `regressed_at`.
    pub regressed_at: Option<DateTime<Utc>>,
}

impl IssueState {
    /// The state of a stored issue.
    pub(crate) fn of(issue: &issue::Model) -> Self {
        Self {
            status: IssueStatus::parse(&issue.status),
            substatus: issue.substatus.as_deref().and_then(Substatus::parse),
            resolved_at: issue.resolved_at,
            resolution_kind: issue
                .resolution_kind
                .as_deref()
                .and_then(ResolutionKind::parse),
            resolution_release: issue.resolution_release.clone(),
            ignore_until: issue.ignore_until,
            ignore_until_times_seen: issue.ignore_until_times_seen,
            ignore_until_users_seen: issue.ignore_until_users_seen,
            status_changed_at: issue.status_changed_at,
            regressed_at: issue.regressed_at,
        }
    }
}

/// A transition: the new state, the activity kind to record and its data.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Transition {
    /// The state to write.
    pub state: IssueState,
    /// `resolved`, `ignored`, `reopened`, `regression`, `unignored`.
    pub kind: &'static str,
    /// The activity's details.
    pub data: serde_json::Value,
}

/// What a member's `change` does to `current` at `now`; validation errors for a bad release,
/// a time not in the future or a count below 1.
///
/// `latest_release` is the project's newest release (by creation), which "resolved in the next
/// release" waits to be followed by; the issue's own last release when the project has none.
pub(crate) fn change_status(
    current: &issue::Model,
    change: &StatusChange,
    now: DateTime<Utc>,
    latest_release: Option<&str>,
) -> Result<Transition> {
    let mut state = IssueState::of(current);
    state.status_changed_at = Some(now);
    state.ignore_until = None;
    state.ignore_until_times_seen = None;
    state.ignore_until_users_seen = None;
    let (kind, data) = match change {
        StatusChange::Resolve
        | StatusChange::ResolveInRelease(_)
        | StatusChange::ResolveInNextRelease => {
            let (resolution, release) = match change {
                StatusChange::ResolveInRelease(release) => {
                    let release = release.trim();
                    if release.is_empty() || release.chars().count() > 250 {
                        return Err(Error::validation("release", "must be 1 to 250 characters"));
                    }
                    (ResolutionKind::InRelease, Some(release.to_owned()))
                }
                // The next release is any release after the latest one so far.
                StatusChange::ResolveInNextRelease => (
                    ResolutionKind::InNextRelease,
                    latest_release
                        .map(str::to_owned)
                        .or_else(|| current.last_release.clone()),
                ),
                _ => (ResolutionKind::Now, None),
            };
            state.status = Some(IssueStatus::Resolved);
            state.substatus = None;
            state.resolved_at = Some(now);
            state.resolution_kind = Some(resolution);
            state.resolution_release = release.clone();
            (
                "resolved",
                json!({"resolution": resolution.as_str(), "release": release}),
            )
        }
        StatusChange::Ignore(condition) => {
            let data = match condition {
                IgnoreCondition::Forever => json!({"until": "forever"}),
                IgnoreCondition::Until(time) => {
                    if *time <= now {
                        return Err(Error::validation("until", "must be in the future"));
                    }
                    state.ignore_until = Some(*time);
                    json!({"until": time.to_rfc3339()})
                }
                IgnoreCondition::MoreEvents(n) | IgnoreCondition::MoreUsers(n) if *n < 1 => {
                    return Err(Error::validation("count", "must be at least 1"));
                }
                IgnoreCondition::MoreEvents(n) => {
                    state.ignore_until_times_seen = Some(current.times_seen + n);
                    json!({"more_events": n})
                }
                IgnoreCondition::MoreUsers(n) => {
                    state.ignore_until_users_seen = Some(current.users_seen + n);
                    json!({"more_users": n})
                }
            };
            state.status = Some(IssueStatus::Ignored);
            state.substatus = None;
            ("ignored", data)
        }
        StatusChange::Reopen => {
            state.status = Some(IssueStatus::Unresolved);
            state.substatus = Some(Substatus::Ongoing);
            state.resolved_at = None;
            state.resolution_kind = None;
            state.resolution_release = None;
            ("reopened", json!({}))
        }
    };
    Ok(Transition { state, kind, data })
}

/// What events counted on `current` do to its state: `current` is the issue after the
/// counting (its `times_seen` and `users_seen` include the events), `events` are
/// `(release, time)` in digest order. The first event that changes the state decides (the
/// issue is unresolved after it, so later ones change nothing). `None`: the state stays.
/// `order` orders the releases involved (see [`ReleaseOrder`]).
pub(crate) fn apply_events<'a>(
    current: &issue::Model,
    events: impl IntoIterator<Item = (Option<&'a str>, DateTime<Utc>)>,
    now: DateTime<Utc>,
    order: &ReleaseOrder,
) -> Option<Transition> {
    let (kind, substatus, data) = events
        .into_iter()
        .find_map(|(release, time)| event_change(current, release, time, now, order))?;
    let mut state = IssueState::of(current);
    state.status = Some(IssueStatus::Unresolved);
    state.substatus = Some(substatus);
    state.status_changed_at = Some(now);
    state.ignore_until = None;
    state.ignore_until_times_seen = None;
    state.ignore_until_users_seen = None;
    if kind == "regression" {
        state.regressed_at = Some(now);
        state.resolved_at = None;
        state.resolution_kind = None;
        state.resolution_release = None;
    }
    Some(Transition { state, kind, data })
}

/// What one event does to `current`'s state: `(activity kind, substatus, activity data)`, or
/// `None` when it leaves the state alone.
fn event_change(
    current: &issue::Model,
    event_release: Option<&str>,
    event_time: DateTime<Utc>,
    now: DateTime<Utc>,
    order: &ReleaseOrder,
) -> Option<(&'static str, Substatus, serde_json::Value)> {
    match IssueStatus::parse(&current.status)? {
        IssueStatus::Resolved => {
            let not_a_regression = match (
                current
                    .resolution_kind
                    .as_deref()
                    .and_then(ResolutionKind::parse),
                current.resolution_release.as_deref(),
                event_release,
            ) {
                // Resolved in R: events from releases older than R are old news.
                (Some(ResolutionKind::InRelease), Some(resolved), Some(release)) => {
                    order.is_older(release, resolved)
                }
                // Resolved in the next release after L: events from L or older are old news.
                (Some(ResolutionKind::InNextRelease), Some(latest), Some(release)) => {
                    release == latest || order.is_older(release, latest)
                }
                (Some(ResolutionKind::InNextRelease), None, _) => false,
                // An event that happened before the resolution (sent late) is no regression.
                _ => current.resolved_at.is_some_and(|at| event_time < at),
            };
            (!not_a_regression).then(|| {
                (
                    "regression",
                    Substatus::Regressed,
                    json!({"release": event_release}),
                )
            })
        }
        IssueStatus::Ignored => {
            let expired = current.ignore_until.is_some_and(|until| now >= until)
                || current
                    .ignore_until_times_seen
                    .is_some_and(|n| current.times_seen >= n)
                || current
                    .ignore_until_users_seen
                    .is_some_and(|n| current.users_seen >= n);
            expired.then(|| ("unignored", Substatus::Escalating, json!({})))
        }
        IssueStatus::Unresolved => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn issue(status: &str) -> issue::Model {
        let at = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        issue::Model {
            id: 1,
            account_id: 1,
            project_id: 1,
            fingerprint: "f".into(),
            grouping_version: 2,
            grouping_components: "[]".into(),
            title: "Error".into(),
            culprit: None,
            level: "error".into(),
            status: status.into(),
            substatus: None,
            first_seen: at,
            last_seen: at,
            times_seen: 10,
            users_seen: 3,
            first_release: Some("1.0".into()),
            last_release: Some("1.2".into()),
            created_at: at,
            resolved_at: None,
            resolution_kind: None,
            resolution_release: None,
            ignore_until: None,
            ignore_until_times_seen: None,
            ignore_until_users_seen: None,
            status_changed_at: None,
            regressed_at: None,
            assignee_user_id: None,
        }
    }

    #[test]
    fn enums_round_trip_the_stored_strings() {
        for status in IssueStatus::ALL {
            assert_eq!(IssueStatus::parse(status.as_str()), Some(status));
        }
        for substatus in Substatus::ALL {
            assert_eq!(Substatus::parse(substatus.as_str()), Some(substatus));
        }
        for kind in ResolutionKind::ALL {
            assert_eq!(ResolutionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            [
                IssueStatus::Unresolved.as_str(),
                Substatus::Escalating.as_str(),
                ResolutionKind::InNextRelease.as_str()
            ],
            ["unresolved", "escalating", "in_next_release"]
        );
        assert_eq!(IssueStatus::parse("open"), None);
    }

    #[test]
    fn resolving_in_the_next_release_remembers_the_latest_release() {
        let now = Utc::now();
        let t = change_status(
            &issue("unresolved"),
            &StatusChange::ResolveInNextRelease,
            now,
            None,
        )
        .expect("valid");
        assert_eq!(t.kind, "resolved");
        assert_eq!(t.state.status, Some(IssueStatus::Resolved));
        assert_eq!(t.state.resolution_kind, Some(ResolutionKind::InNextRelease));
        assert_eq!(t.state.resolution_release.as_deref(), Some("1.2"));
        assert_eq!(t.state.resolved_at, Some(now));
        assert_eq!(
            t.data,
            json!({"resolution": "in_next_release", "release": "1.2"})
        );
    }

    #[test]
    fn ignore_conditions_are_validated_and_counted_from_now() {
        let now = Utc::now();
        let current = issue("unresolved");
        let more = |n| StatusChange::Ignore(IgnoreCondition::MoreEvents(n));
        assert!(change_status(&current, &more(0), now, None).is_err());
        let past = StatusChange::Ignore(IgnoreCondition::Until(now - Duration::hours(1)));
        assert!(change_status(&current, &past, now, None).is_err());
        let blank = StatusChange::ResolveInRelease("  ".into());
        assert!(change_status(&current, &blank, now, None).is_err());
        let t = change_status(&current, &more(5), now, None).expect("valid");
        assert_eq!(t.state.status, Some(IssueStatus::Ignored));
        assert_eq!(t.state.ignore_until_times_seen, Some(15));
        assert_eq!(t.data, json!({"more_events": 5}));
    }

    #[test]
    fn reopening_clears_the_resolution() {
        let mut current = issue("resolved");
        current.resolution_kind = Some("now".into());
        current.resolved_at = Some(Utc::now());
        let t = change_status(&current, &StatusChange::Reopen, Utc::now(), None).expect("valid");
        assert_eq!(t.kind, "reopened");
        assert_eq!(t.state.status, Some(IssueStatus::Unresolved));
        assert_eq!(t.state.substatus, Some(Substatus::Ongoing));
        assert_eq!(t.state.resolution_kind, None);
        assert_eq!(t.state.resolved_at, None);
    }

    #[test]
    fn events_of_older_releases_do_not_regress_an_issue_resolved_in_a_release() {
        let now = Utc::now();
        let none = ReleaseOrder::default();
        let mut current = issue("resolved");
        current.resolution_kind = Some("in_release".into());
        current.resolution_release = Some("2.0".into());
        current.resolved_at = Some(now - Duration::hours(1));
        assert_eq!(
            apply_events(&current, [(Some("1.9"), now)], now, &none),
            None
        );
        let t = apply_events(
            &current,
            [(Some("1.9"), now), (Some("2.1"), now)],
            now,
            &none,
        )
        .expect("regression");
        assert_eq!(t.kind, "regression");
        assert_eq!(t.state.substatus, Some(Substatus::Regressed));
        assert_eq!(t.state.regressed_at, Some(now));
        assert_eq!(t.state.resolution_kind, None);
        assert_eq!(t.data, json!({"release": "2.1"}));
    }

    #[test]
    fn resolved_in_the_next_release_regresses_on_a_release_created_after_the_latest() {
        let now = Utc::now();
        let mut current = issue("resolved");
        current.resolution_kind = Some("in_next_release".into());
        current.resolution_release = Some("b2".into());
        current.resolved_at = Some(now - Duration::hours(1));
        let order = ReleaseOrder::new([
            ("a1".to_owned(), now - Duration::days(2), 1),
            ("b2".to_owned(), now - Duration::days(1), 2),
            ("c3".to_owned(), now - Duration::minutes(1), 3),
        ]);
        assert_eq!(
            apply_events(
                &current,
                [(Some("a1"), now), (Some("b2"), now)],
                now,
                &order
            ),
            None,
            "git-sha releases created before or as the latest are old news"
        );
        let t = apply_events(&current, [(Some("c3"), now)], now, &order).expect("regression");
        assert_eq!(t.data, json!({"release": "c3"}));
        let t = apply_events(&current, [(Some("never-seen"), now)], now, &order)
            .expect("a release without a row counts as newer");
        assert_eq!(t.kind, "regression");
    }

    #[test]
    fn a_late_event_is_no_regression_and_an_expired_ignore_escalates() {
        let now = Utc::now();
        let none = ReleaseOrder::default();
        let mut resolved = issue("resolved");
        resolved.resolution_kind = Some("now".into());
        resolved.resolved_at = Some(now);
        assert_eq!(
            apply_events(&resolved, [(None, now - Duration::minutes(5))], now, &none),
            None
        );
        let mut ignored = issue("ignored");
        ignored.ignore_until_times_seen = Some(11);
        assert_eq!(apply_events(&ignored, [(None, now)], now, &none), None);
        ignored.ignore_until_times_seen = Some(10);
        let t = apply_events(&ignored, [(None, now)], now, &none).expect("escalates");
        assert_eq!(t.kind, "unignored");
        assert_eq!(t.state.substatus, Some(Substatus::Escalating));
        assert_eq!(t.state.ignore_until_times_seen, None);
        assert_eq!(
            apply_events(&issue("unresolved"), [(None, now)], now, &none),
            None
        );
    }
}
