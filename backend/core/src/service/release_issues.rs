//! The issues of a release for its page: those first seen in it and those that regressed in
//! it, as the digest linked them (`release_issues`). Apart from `service::releases` because
//! it reads whole issues (`service::issue`), which read the releases' order: this keeps the
//! two services out of an import circle.

use crate::Result;
use crate::ids::ReleaseId;
use crate::repo::releases as repo;
use crate::scope::{AccountScope, Role};
use crate::service::issue::Issue;

/// Which issues of a release [`list_issues`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseIssueKind {
    /// First seen in the release.
    New,
    /// Regressed in the release (resolved before, seen again in it).
    Regression,
}

/// The most issues of one kind [`list_issues`] returns.
pub const MAX_ISSUES: u64 = 100;

/// The issues new in (or regressed in) the release row `release`, in the order the digest
/// linked them; at most `limit` (up to [`MAX_ISSUES`]).
pub async fn list_issues(
    scope: &AccountScope,
    release: ReleaseId,
    kind: ReleaseIssueKind,
    limit: u64,
) -> Result<Vec<Issue>> {
    scope.require(Role::Viewer)?;
    let kind = match kind {
        ReleaseIssueKind::New => repo::KIND_NEW,
        ReleaseIssueKind::Regression => repo::KIND_REGRESSION,
    };
    repo::issues_of(
        scope.db().conn(),
        scope,
        release,
        kind,
        limit.clamp(1, MAX_ISSUES),
    )
    .await?
    .into_iter()
    .map(Issue::try_from)
    .collect()
}
