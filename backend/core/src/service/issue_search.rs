//! Issue lists: a project's or a whole account's issues filtered by a [`Search`] and sorted by
//! last seen, first seen, events or users, with keyset pagination (the cursor carries the sort
//! value and the id, so a page costs one indexed range scan however deep it is).

use chrono::{DateTime, Utc};

use crate::ids::ProjectId;
use crate::repo::issues::{self, IssueOrder, Position};
use crate::repo::projects;
use crate::scope::{AccountScope, Role};
use crate::service::issue::Issue;
use crate::service::search::Search;
use crate::{Error, Result};

/// Orders of issue lists (all descending, newest or biggest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueSort {
    /// Most recently seen first (the default).
    LastSeen,
    /// Most recently created first.
    FirstSeen,
    /// Most events first.
    Events,
    /// Most distinct users first.
    Users,
}

impl IssueSort {
    fn tag(self) -> &'static str {
        match self {
            IssueSort::LastSeen => "ls",
            IssueSort::FirstSeen => "fs",
            IssueSort::Events => "ev",
            IssueSort::Users => "us",
        }
    }

    fn order(self) -> IssueOrder {
        match self {
            IssueSort::LastSeen => IssueOrder::LastSeen,
            IssueSort::FirstSeen => IssueOrder::FirstSeen,
            IssueSort::Events => IssueOrder::Events,
            IssueSort::Users => IssueOrder::Users,
        }
    }
}

/// The cursor of `issue` in `sort`: `<sort>~<value>~<id>`.
pub fn cursor(issue: &Issue, sort: IssueSort) -> String {
    let value = match sort {
        IssueSort::LastSeen => issue.last_seen.to_rfc3339(),
        IssueSort::FirstSeen => issue.first_seen.to_rfc3339(),
        IssueSort::Events => issue.times_seen.to_string(),
        IssueSort::Users => issue.users_seen.to_string(),
    };
    format!("{}~{value}~{}", sort.tag(), issue.id)
}

fn parse_cursor(raw: &str, sort: IssueSort) -> Result<Position> {
    let invalid = || Error::validation("after", "not a cursor of this list and sort order");
    let mut parts = raw.splitn(3, '~');
    let (Some(tag), Some(value), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if tag != sort.tag() {
        return Err(invalid());
    }
    let id: i64 = id.parse().map_err(|_| invalid())?;
    Ok(match sort {
        IssueSort::LastSeen | IssueSort::FirstSeen => Position::Time(
            DateTime::parse_from_rfc3339(value)
                .map_err(|_| invalid())?
                .with_timezone(&Utc),
            id,
        ),
        IssueSort::Events | IssueSort::Users => {
            Position::Count(value.parse().map_err(|_| invalid())?, id)
        }
    })
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct IssuePage {
    /// The issues.
    pub issues: Vec<Issue>,
    /// Another page follows.
    pub has_next: bool,
    /// Issues matching in all (capped at 10,000 to bound the count).
    pub total: i64,
}

/// Most issues counted for `total`.
const COUNT_CAP: u64 = 10_000;

/// Lists issues of one project (`Some`) or of every live project of the account (`None`),
/// matching `search`, in `sort` order, `first` (1..=100) after the cursor `after`.
pub async fn search_issues(
    scope: &AccountScope,
    project_id: Option<ProjectId>,
    search: &Search,
    sort: IssueSort,
    after: Option<&str>,
    first: u64,
) -> Result<IssuePage> {
    scope.require(Role::Viewer)?;
    let live_projects = projects::live_ids(scope, project_id).await?;
    if project_id.is_some() && live_projects.is_empty() {
        return Err(Error::NotFound);
    }
    let after = after.map(|after| parse_cursor(after, sort)).transpose()?;
    let limit = first.clamp(1, 100);
    let (rows, total) = issues::search(
        scope,
        &live_projects,
        search,
        sort.order(),
        after,
        limit + 1,
        COUNT_CAP,
    )
    .await?;
    let has_next = rows.len() as u64 > limit;
    Ok(IssuePage {
        issues: rows
            .into_iter()
            .take(limit as usize)
            .map(Issue::try_from)
            .collect::<Result<_>>()?,
        has_next,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_belong_to_their_sort() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T10:00:00.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            parse_cursor(&format!("ls~{}~42", at.to_rfc3339()), IssueSort::LastSeen)
                .expect("valid"),
            Position::Time(at, 42)
        );
        assert_eq!(
            parse_cursor("ev~17~3", IssueSort::Events).expect("valid"),
            Position::Count(17, 3)
        );
        assert!(parse_cursor("ev~17~3", IssueSort::LastSeen).is_err());
        assert!(parse_cursor("garbage", IssueSort::Events).is_err());
    }
}
