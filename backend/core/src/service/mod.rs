//! Business operations. Functions on tenant data take `&AccountScope` first and check roles;
//! functions named `*_unscoped` are the few deliberate exceptions (admin commands on the box).

pub mod account;
pub mod alert;
pub mod api_token;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod event;
pub mod ingest;
pub mod issue;
pub mod issue_search;
pub mod issue_state;
pub mod locate;
pub mod member;
pub mod project;
pub mod project_stats;
pub mod purge;
pub mod release_issues;
pub mod releases;
pub mod reprocess;
pub mod search;
pub mod seed;
pub mod subscription;
pub mod triage;
pub mod user;

/// Forward keyset pagination: up to `first` rows after the row with id `after` (in the list's
/// order). Lists fetch one row more than asked to tell whether another page exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Cursor: the id of the last row already seen.
    pub after: Option<i64>,
    /// Rows wanted (capped at [`Page::MAX`]).
    pub first: u64,
}

impl Page {
    /// The most rows one page may hold.
    pub const MAX: u64 = 100;

    /// The first `first` rows.
    pub fn first(first: u64) -> Self {
        Self { after: None, first }
    }

    /// Rows in the page (fetch one more to know whether another follows).
    pub(crate) fn limit(&self) -> u64 {
        self.first.clamp(1, Self::MAX)
    }

    /// Cuts the fetched rows to the page; true when more follow.
    pub(crate) fn split<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let limit = self.limit() as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        (rows, more)
    }
}
