//! Which account a row belongs to, for ids that arrive without their account (a project, a key,
//! a membership, an invite, a token). Unscoped by necessity, so the lookup stays in the crate;
//! outside, [`scope_of`] feeds its answer straight to `AccountScope::for_principal`, which then
//! checks membership, so another tenant's id and a missing one both end as `NotFound`.

use crate::db::Db;
use crate::ids::{AccountId, ProjectId};
use crate::repo::alerts::{AlertRules, AlertTargets, Notifications};
use crate::repo::events::{Attachments, Events};
use crate::repo::issues::Issues;
use crate::repo::members::{Invites, Memberships};
use crate::repo::projects::{self, ProjectKeys};
use crate::repo::tokens::ApiTokens;
use crate::scope::{AccountScope, Principal};
use crate::{Error, Result};

/// A row whose account is wanted.
#[derive(Clone, Copy, Debug)]
pub enum Owned {
    /// `projects.id` (live projects only).
    Project(i64),
    /// `project_keys.id`.
    ProjectKey(i64),
    /// `memberships.id`.
    Membership(i64),
    /// `invites.id`.
    Invite(i64),
    /// `api_tokens.id`.
    ApiToken(i64),
    /// `issues.id`.
    Issue(i64),
    /// `events.id`.
    Event(i64),
    /// `attachments.id`.
    Attachment(i64),
    /// `alert_rules.id`.
    AlertRule(i64),
    /// `alert_targets.id`.
    AlertTarget(i64),
    /// `notifications.id`.
    Notification(i64),
}

/// The account owning the row; `NotFound` when there is none.
pub(crate) async fn account_of(db: &Db, row: Owned) -> Result<AccountId> {
    let conn = db.conn();
    let found = match row {
        Owned::Project(id) => projects::owner_of_live_unscoped(conn, ProjectId(id)).await?,
        Owned::ProjectKey(id) => projects::owner_unscoped::<ProjectKeys>(conn, id).await?,
        Owned::Membership(id) => projects::owner_unscoped::<Memberships>(conn, id).await?,
        Owned::Invite(id) => projects::owner_unscoped::<Invites>(conn, id).await?,
        Owned::ApiToken(id) => projects::owner_unscoped::<ApiTokens>(conn, id).await?,
        Owned::Issue(id) => projects::owner_unscoped::<Issues>(conn, id).await?,
        Owned::Event(id) => projects::owner_unscoped::<Events>(conn, id).await?,
        Owned::Attachment(id) => projects::owner_unscoped::<Attachments>(conn, id).await?,
        Owned::AlertRule(id) => projects::owner_unscoped::<AlertRules>(conn, id).await?,
        Owned::AlertTarget(id) => projects::owner_unscoped::<AlertTargets>(conn, id).await?,
        Owned::Notification(id) => projects::owner_unscoped::<Notifications>(conn, id).await?,
    };
    found.ok_or(Error::NotFound)
}

/// The principal's scope in the account owning the row; `NotFound` when there is no such row
/// or the principal has no access to its account (the two are indistinguishable).
pub async fn scope_of(db: &Db, principal: &Principal, row: Owned) -> Result<AccountScope> {
    let account = account_of(db, row).await?;
    AccountScope::for_principal(db, principal, account).await
}
