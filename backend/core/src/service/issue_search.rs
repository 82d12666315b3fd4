//! Issue lists: a project's or a whole account's issues filtered by a [`Search`] and sorted by
//! last seen, first seen, events or users, with keyset pagination (the cursor carries the sort
//! value and the id, so a page costs one indexed range scan however deep it is).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::ids::ProjectId;
use crate::repo::entity::{issue, project};
use crate::scope::{AccountScope, Role};
use crate::service::issue::Issue;
use crate::service::search::{Field, Search, Term};
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

    fn column(self) -> issue::Column {
        match self {
            IssueSort::LastSeen => issue::Column::LastSeen,
            IssueSort::FirstSeen => issue::Column::FirstSeen,
            IssueSort::Events => issue::Column::TimesSeen,
            IssueSort::Users => issue::Column::UsersSeen,
        }
    }
}

/// The position after a row, in one sort order.
#[derive(Clone, Debug, PartialEq)]
enum Position {
    Time(DateTime<Utc>, i64),
    Count(i64, i64),
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

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The SQL condition of a search (account and project filters come separately).
fn condition(search: &Search) -> Condition {
    let mut all = Condition::all();
    let mut statuses = Vec::new();
    let mut not_statuses = Vec::new();
    for term in &search.terms {
        match term {
            Term::Filter {
                field: Field::Is,
                value,
                negated,
            } => {
                if *negated {
                    not_statuses.push(value.clone());
                } else {
                    statuses.push(value.clone());
                }
            }
            Term::Filter {
                field: Field::Level,
                value,
                negated,
            } => {
                all = all.add(if *negated {
                    issue::Column::Level.ne(value.clone())
                } else {
                    issue::Column::Level.eq(value.clone())
                });
            }
            Term::Filter {
                field: Field::Tag(key),
                value,
                negated,
            } => {
                let exists = tag_value_exists(
                    Condition::all()
                        .add(Expr::col(("issue_tag_values", "key")).eq(key.clone()))
                        .add(Expr::col(("issue_tag_values", "value")).eq(value.clone())),
                );
                all = all.add(if *negated { exists.not() } else { exists });
            }
            Term::Filter {
                field: Field::User(user_field),
                value,
                negated,
            } => {
                // The field's own tag, or the `user` identity of events stored before the
                // `user.*` tags existed (emails there kept the SDK's case).
                let identities: Vec<String> = [value.clone(), value.to_lowercase()]
                    .into_iter()
                    .map(|v| format!("{}:{v}", user_field.identity_prefix()))
                    .collect();
                let exists = tag_value_exists(
                    Condition::any()
                        .add(
                            Condition::all()
                                .add(
                                    Expr::col(("issue_tag_values", "key")).eq(user_field.tag_key()),
                                )
                                .add(Expr::col(("issue_tag_values", "value")).eq(value.clone())),
                        )
                        .add(
                            Condition::all()
                                .add(Expr::col(("issue_tag_values", "key")).eq("user"))
                                .add(Expr::col(("issue_tag_values", "value")).is_in(identities)),
                        ),
                );
                all = all.add(if *negated { exists.not() } else { exists });
            }
            Term::Text { text, negated } => {
                let pattern = escape_like(text);
                let matches = Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col((
                            issue::Entity,
                            issue::Column::Title,
                        ))))
                        .like(LikeExpr::new(pattern.clone()).escape('\\')),
                    )
                    .add(
                        // COALESCE: a missing culprit must not turn `!word` into NULL.
                        Expr::expr(Func::lower(Func::coalesce([
                            Expr::col((issue::Entity, issue::Column::Culprit)),
                            Expr::val(""),
                        ])))
                        .like(LikeExpr::new(pattern).escape('\\')),
                    );
                all = all.add(if *negated { matches.not() } else { matches });
            }
        }
    }
    if !statuses.is_empty() {
        all = all.add(issue::Column::Status.is_in(statuses));
    }
    if !not_statuses.is_empty() {
        all = all.add(issue::Column::Status.is_not_in(not_statuses));
    }
    all
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
    let conn = scope.db().conn();
    let live_projects: Vec<i64> = {
        let mut query = project::Entity::find()
            .filter(project::Column::AccountId.eq(scope.account_id().0))
            .filter(project::Column::DeletedAt.is_null())
            .select_only()
            .column(project::Column::Id);
        if let Some(p) = project_id {
            query = query.filter(project::Column::Id.eq(p.0));
        }
        query.into_tuple().all(conn).await?
    };
    if project_id.is_some() && live_projects.is_empty() {
        return Err(Error::NotFound);
    }
    let base = issue::Entity::find()
        .filter(issue::Column::AccountId.eq(scope.account_id().0))
        .filter(issue::Column::ProjectId.is_in(live_projects))
        .filter(condition(search));
    // COUNT(*) over a capped subquery: the database counts, nothing is transferred.
    let total = base
        .clone()
        .select_only()
        .column(issue::Column::Id)
        .limit(COUNT_CAP)
        .count(conn)
        .await? as i64;
    let mut query = base;
    if let Some(after) = after {
        let column = sort.column();
        let position = parse_cursor(after, sort)?;
        let before = match position {
            Position::Time(at, id) => Condition::any().add(column.lt(at)).add(
                Condition::all()
                    .add(column.eq(at))
                    .add(issue::Column::Id.lt(id)),
            ),
            Position::Count(n, id) => Condition::any().add(column.lt(n)).add(
                Condition::all()
                    .add(column.eq(n))
                    .add(issue::Column::Id.lt(id)),
            ),
        };
        query = query.filter(before);
    }
    let limit = first.clamp(1, 100);
    let rows = query
        .order_by_desc(sort.column())
        .order_by_desc(issue::Column::Id)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let has_next = rows.len() as u64 > limit;
    Ok(IssuePage {
        issues: rows
            .into_iter()
            .take(limit as usize)
            .map(Issue::from)
            .collect(),
        has_next,
        total,
    })
}

/// `EXISTS` a tag value of the issue row being filtered that meets `condition`.
fn tag_value_exists(condition: Condition) -> sea_orm::sea_query::SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from("issue_tag_values")
            .and_where(
                Expr::col(("issue_tag_values", "issue_id"))
                    .equals((issue::Entity, issue::Column::Id)),
            )
            .cond_where(condition)
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("100%_done\\"), "%100\\%\\_done\\\\%");
        assert_eq!(escape_like("KeyError"), "%keyerror%");
    }

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
