//! Which account a row belongs to, for ids that arrive without their account (a project, a key,
//! a membership, an invite, a token). Unscoped by necessity, so the lookup stays in the crate;
//! outside, [`scope_of`] feeds its answer straight to `AccountScope::for_principal`, which then
//! checks membership, so another tenant's id and a missing one both end as `NotFound`.

use crate::db::Db;
use crate::ids::{
    AccountId, AlertRuleId, AlertTargetId, ApiTokenId, AttachmentId, EventRowId, InviteId, IssueId,
    MembershipId, NotificationId, ProjectId, ProjectKeyId,
};
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
    Project(ProjectId),
    /// `project_keys.id`.
    ProjectKey(ProjectKeyId),
    /// `memberships.id`.
    Membership(MembershipId),
    /// `invites.id`.
    Invite(InviteId),
    /// `api_tokens.id`.
    ApiToken(ApiTokenId),
    /// `issues.id`.
    Issue(IssueId),
    /// `events.id`.
    Event(EventRowId),
    /// `attachments.id`.
    Attachment(AttachmentId),
    /// `alert_rules.id`.
    AlertRule(AlertRuleId),
    /// `alert_targets.id`.
    AlertTarget(AlertTargetId),
    /// `notifications.id`.
    Notification(NotificationId),
}

/// The account owning the row; `NotFound` when there is none.
pub(crate) async fn account_of(db: &Db, row: Owned) -> Result<AccountId> {
    let conn = db.conn();
    let found = match row {
        Owned::Project(id) => projects::owner_of_live_unscoped(conn, id).await?,
        Owned::ProjectKey(id) => projects::owner_unscoped::<ProjectKeys>(conn, id.0).await?,
        Owned::Membership(id) => projects::owner_unscoped::<Memberships>(conn, id.0).await?,
        Owned::Invite(id) => projects::owner_unscoped::<Invites>(conn, id.0).await?,
        Owned::ApiToken(id) => projects::owner_unscoped::<ApiTokens>(conn, id.0).await?,
        Owned::Issue(id) => projects::owner_unscoped::<Issues>(conn, id.0).await?,
        Owned::Event(id) => projects::owner_unscoped::<Events>(conn, id.0).await?,
        Owned::Attachment(id) => projects::owner_unscoped::<Attachments>(conn, id.0).await?,
        Owned::AlertRule(id) => projects::owner_unscoped::<AlertRules>(conn, id.0).await?,
        Owned::AlertTarget(id) => projects::owner_unscoped::<AlertTargets>(conn, id.0).await?,
        Owned::Notification(id) => projects::owner_unscoped::<Notifications>(conn, id.0).await?,
    };
    found.ok_or(Error::NotFound)
}

/// The principal's scope in the account owning the row; `NotFound` when there is no such row
/// or the principal has no access to its account (the two are indistinguishable).
pub async fn scope_of(db: &Db, principal: &Principal, row: Owned) -> Result<AccountScope> {
    let account = account_of(db, row).await?;
    AccountScope::for_principal(db, principal, account).await
}
