//! Issue actions in words, and how to take them back: the result line of a bulk action
//! ("3 issues resolved"), the request that puts each issue back the way it was (its Undo),
//! what an ignore waits for ("ignored until 15:20"), and the sentence a merge is confirmed
//! with. Pure, so it is unit-tested on the host; the pages call it with what the API answered.

use serde_json::{Map, Value, json};

use crate::api::IssueRow;
use crate::dates::civil_from_days;

/// The bulk actions of the issue list, as `BulkIssueAction` names them (and `MERGE`).
pub const BULK_ACTIONS: [(&str, &str, &str); 6] = [
    ("RESOLVE", "Resolve", "bulk-resolve"),
    ("IGNORE", "Ignore", "bulk-ignore"),
    ("REOPEN", "Reopen", "bulk-reopen"),
    ("BOOKMARK", "Bookmark", "bulk-bookmark"),
    ("MERGE", "Merge", "bulk-merge"),
    ("DELETE", "Delete", "bulk-delete"),
];

/// `n issue(s)`.
pub fn issues(n: usize) -> String {
    format!("{n} issue{}", if n == 1 { "" } else { "s" })
}

/// What a bulk action did, as the list says it afterwards: "3 issues resolved".
pub fn bulk_outcome(action: &str, n: usize) -> String {
    let done = match action {
        "RESOLVE" => "resolved",
        "IGNORE" => "ignored forever",
        "REOPEN" => "reopened",
        "BOOKMARK" => "bookmarked",
        "UNBOOKMARK" => "no longer bookmarked",
        "DELETE" => "deleted",
        "MERGE" => "merged into one",
        _ => "changed",
    };
    format!("{} {done}", issues(n))
}

/// Whether a bulk action runs only after a confirmation: those that cannot be undone.
pub fn needs_confirmation(action: &str) -> bool {
    matches!(action, "MERGE" | "DELETE")
}

/// An issue's state before an action: enough to put it back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PriorState {
    /// `iss_…`.
    pub id: String,
    /// `UNRESOLVED`, `RESOLVED` or `IGNORED`.
    pub status: String,
    /// How it was resolved: `now`, `in_release`, `in_next_release`.
    pub resolution: Option<String>,
    /// The release of an `in_release` resolution.
    pub resolved_in_release: Option<String>,
    /// Ignored until this time (RFC 3339).
    pub ignored_until: Option<String>,
    /// Ignored until this many more events.
    pub ignored_until_more_events: Option<i64>,
    /// Ignored until this many more users.
    pub ignored_until_more_users: Option<i64>,
}

impl PriorState {
    /// The state of a listed issue.
    pub fn of(row: &IssueRow) -> Self {
        Self {
            id: row.id.clone(),
            status: row.status.clone(),
            resolution: row.resolution.clone(),
            resolved_in_release: row.resolved_in_release.clone(),
            ignored_until: row.ignored_until.clone(),
            ignored_until_more_events: row.ignored_until_more_events,
            ignored_until_more_users: row.ignored_until_more_users,
        }
    }
}

/// The one mutation (a field per issue, run in order) that undoes `action` on the issues
/// whose states before it were `prior`, with its variables; `None` for actions that cannot
/// be undone (merge, delete) or no issues. A bookmark is taken away; a resolve, ignore or
/// reopen puts each issue back in its own previous state (with its resolution release or
/// ignore condition).
pub fn undo_request(action: &str, prior: &[PriorState]) -> Option<(String, Value)> {
    if prior.is_empty() {
        return None;
    }
    if action == "BOOKMARK" {
        let ids: Vec<&str> = prior.iter().map(|p| p.id.as_str()).collect();
        return Some((
            "mutation($ids: [ID!]) { bulkUpdateIssues(action: UNBOOKMARK, ids: $ids) { updated } }"
                .to_owned(),
            json!({ "ids": ids }),
        ));
    }
    if !matches!(action, "RESOLVE" | "IGNORE" | "REOPEN") {
        return None;
    }
    let mut declarations = Vec::new();
    let mut fields = Vec::new();
    let mut variables = Map::new();
    for (n, state) in prior.iter().enumerate() {
        let mut var = |name: &str, kind: &str, value: Value| {
            declarations.push(format!("${name}{n}: {kind}"));
            variables.insert(format!("{name}{n}"), value);
            format!("${name}{n}")
        };
        let id = var("id", "ID!", json!(state.id));
        let field = match state.status.as_str() {
            "RESOLVED" => match (state.resolution.as_deref(), &state.resolved_in_release) {
                (Some("in_release"), Some(release)) => {
                    let release = var("release", "String!", json!(release));
                    format!("resolveIssueInRelease(id: {id}, release: {release})")
                }
                (Some("in_next_release"), _) => format!("resolveIssueInNextRelease(id: {id})"),
                _ => format!("resolveIssue(id: {id})"),
            },
            "IGNORED" => {
                let condition = if let Some(until) = &state.ignored_until {
                    format!(", until: {}", var("until", "DateTime", json!(until)))
                } else if let Some(events) = state.ignored_until_more_events {
                    format!(", moreEvents: {}", var("events", "Int", json!(events)))
                } else if let Some(users) = state.ignored_until_more_users {
                    format!(", moreUsers: {}", var("users", "Int", json!(users)))
                } else {
                    String::new()
                };
                format!("ignoreIssue(id: {id}{condition})")
            }
            _ => format!("reopenIssue(id: {id})"),
        };
        fields.push(format!("i{n}: {field} {{ id }}"));
    }
    Some((
        format!(
            "mutation({}) {{ {} }}",
            declarations.join(", "),
            fields.join(" ")
        ),
        Value::Object(variables),
    ))
}

/// The confirmation of a merge: which issues go into which.
pub fn merge_question(target: &str, sources: &[String]) -> String {
    let quoted: Vec<String> = sources.iter().map(|t| format!("“{t}”")).collect();
    let list = match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    format!("Merge {list} into “{target}”?")
}

const MINUTE_MS: f64 = 60_000.0;
const DAY_MS: f64 = 86_400_000.0;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// What an ignored issue waits for: "ignored until 15:20" (today, local time), "ignored until
/// 3 Mar 09:05", "ignored until 100 more events", "ignored until 5 more users", or "ignored
/// forever". Times are milliseconds since the epoch; `offset_minutes` is the browser's
/// `Date.getTimezoneOffset()` (UTC minus local time).
pub fn ignore_label(
    until_ms: Option<f64>,
    more_events: Option<i64>,
    more_users: Option<i64>,
    now_ms: f64,
    offset_minutes: f64,
) -> String {
    let plural = |n: i64, one: &str| format!("{n} more {one}{}", if n == 1 { "" } else { "s" });
    if let Some(n) = more_events {
        return format!("ignored until {}", plural(n, "event"));
    }
    if let Some(n) = more_users {
        return format!("ignored until {}", plural(n, "user"));
    }
    let Some(until) = until_ms else {
        return "ignored forever".to_owned();
    };
    let local = |ms: f64| ms - offset_minutes * MINUTE_MS;
    let day_of = |ms: f64| (local(ms) / DAY_MS).floor() as i64;
    let minutes = (local(until).rem_euclid(DAY_MS) / MINUTE_MS).floor() as i64;
    let clock = format!("{:02}:{:02}", minutes / 60, minutes % 60);
    let (day, today) = (day_of(until), day_of(now_ms));
    if day == today {
        return format!("ignored until {clock}");
    }
    let (year, month, date) = civil_from_days(day);
    let (this_year, _, _) = civil_from_days(today);
    let year = if year == this_year {
        String::new()
    } else {
        format!(" {year}")
    };
    format!(
        "ignored until {date} {}{year} {clock}",
        MONTHS[(month.clamp(1, 12) - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str, status: &str) -> PriorState {
        PriorState {
            id: id.into(),
            status: status.into(),
            ..PriorState::default()
        }
    }

    #[test]
    fn outcomes_count_what_changed() {
        assert_eq!(bulk_outcome("RESOLVE", 3), "3 issues resolved");
        assert_eq!(bulk_outcome("IGNORE", 1), "1 issue ignored forever");
        assert_eq!(bulk_outcome("BOOKMARK", 2), "2 issues bookmarked");
        assert_eq!(bulk_outcome("MERGE", 3), "3 issues merged into one");
        assert_eq!(bulk_outcome("DELETE", 1), "1 issue deleted");
        assert!(needs_confirmation("MERGE") && needs_confirmation("DELETE"));
        assert!(!needs_confirmation("RESOLVE"));
    }

    #[test]
    fn undo_puts_every_issue_back_in_its_own_state() {
        let mut in_release = state("iss_2", "RESOLVED");
        in_release.resolution = Some("in_release".into());
        in_release.resolved_in_release = Some("shop@2".into());
        let mut waiting = state("iss_3", "IGNORED");
        waiting.ignored_until_more_events = Some(100);
        let mut until = state("iss_4", "IGNORED");
        until.ignored_until = Some("2030-01-01T10:00:00Z".into());
        let prior = [
            state("iss_1", "UNRESOLVED"),
            in_release,
            waiting,
            until,
            state("iss_5", "IGNORED"),
        ];
        let (document, variables) = undo_request("RESOLVE", &prior).expect("undoable");
        assert_eq!(
            document,
            "mutation($id0: ID!, $id1: ID!, $release1: String!, $id2: ID!, $events2: Int, \
             $id3: ID!, $until3: DateTime, $id4: ID!) { \
             i0: reopenIssue(id: $id0) { id } \
             i1: resolveIssueInRelease(id: $id1, release: $release1) { id } \
             i2: ignoreIssue(id: $id2, moreEvents: $events2) { id } \
             i3: ignoreIssue(id: $id3, until: $until3) { id } \
             i4: ignoreIssue(id: $id4) { id } }"
        );
        assert_eq!(variables["release1"], "shop@2");
        assert_eq!(variables["events2"], 100);
        assert_eq!(variables["id4"], "iss_5");
    }

    #[test]
    fn a_bookmark_is_taken_away_and_merges_and_deletes_stay() {
        let prior = [state("iss_1", "UNRESOLVED"), state("iss_2", "RESOLVED")];
        let (document, variables) = undo_request("BOOKMARK", &prior).expect("undoable");
        assert!(document.contains("UNBOOKMARK"), "{document}");
        assert_eq!(variables, json!({"ids": ["iss_1", "iss_2"]}));
        assert_eq!(undo_request("MERGE", &prior), None);
        assert_eq!(undo_request("DELETE", &prior), None);
        assert_eq!(undo_request("RESOLVE", &[]), None);
    }

    #[test]
    fn a_merge_names_what_goes_into_what() {
        assert_eq!(
            merge_question("KeyError", &["IndexError".into()]),
            "Merge “IndexError” into “KeyError”?"
        );
        assert_eq!(
            merge_question("A", &["B".into(), "C".into(), "D".into()]),
            "Merge “B”, “C” and “D” into “A”?"
        );
    }

    #[test]
    fn an_ignore_says_until_when() {
        // 2026-03-03T12:00:00Z.
        let now = 1_772_539_200_000.0;
        let hour = 3_600_000.0;
        assert_eq!(
            ignore_label(None, Some(100), None, now, 0.0),
            "ignored until 100 more events"
        );
        assert_eq!(
            ignore_label(None, Some(1), None, now, 0.0),
            "ignored until 1 more event"
        );
        assert_eq!(
            ignore_label(None, None, Some(5), now, 0.0),
            "ignored until 5 more users"
        );
        assert_eq!(ignore_label(None, None, None, now, 0.0), "ignored forever");
        let soon = now + 3.0 * hour + 20.0 * 60_000.0;
        assert_eq!(
            ignore_label(Some(soon), None, None, now, 0.0),
            "ignored until 15:20"
        );
        // One hour east of UTC (getTimezoneOffset = -60): the local clock reads 16:20.
        assert_eq!(
            ignore_label(Some(soon), None, None, now, -60.0),
            "ignored until 16:20"
        );
        assert_eq!(
            ignore_label(Some(now + 24.0 * hour), None, None, now, 0.0),
            "ignored until 4 Mar 12:00"
        );
        assert_eq!(
            ignore_label(Some(now + 400.0 * 24.0 * hour), None, None, now, 0.0),
            "ignored until 7 Apr 2027 12:00"
        );
    }

    #[test]
    fn days_count_from_1970() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_515), (2026, 3, 3));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
