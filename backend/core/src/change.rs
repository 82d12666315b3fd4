//! The change notices themselves (what [`crate::notify`] publishes and the database handle's bus
//! carries): plain data, so the connection can hold a bus without knowing how notices travel.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, IssueId, ProjectId};

/// Notices a lagging subscriber may fall behind before it skips some.
pub const BUS_CAPACITY: usize = 4096;

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// An issue was created (its first event was digested).
    IssueCreated,
    /// An issue changed (new events, state, assignment).
    IssueUpdated,
    /// An event was stored.
    EventCreated,
}

/// One change, with the ids a subscriber filters on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// What changed.
    pub change: Change,
    /// Account.
    pub account_id: AccountId,
    /// Project.
    pub project_id: ProjectId,
    /// Issue.
    pub issue_id: IssueId,
    /// The SDK's event id, for `EventCreated`.
    pub event_id: Option<String>,
}
