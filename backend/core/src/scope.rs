//! `AccountScope`: the proof that the caller may act inside one account, and with which role.
//! Every service that touches tenant data takes one first and filters on its account id.
//!
//! Invariant: a scope is built only by [`AccountScope::for_principal`] (a verified session or
//! API token, plus the membership checked in the database), `AccountScope::for_member` (crate
//! only; outside, `admin::scope_for_member` for admin commands and tests that name a user) or
//! by the deliberately loud [`AccountScope::system`] (jobs). A [`Principal`] is only built by
//! `service::auth` after verifying a credential.

use std::fmt;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::db::Db;
use crate::ids::{AccountId, ApiTokenId, SessionId, UserId};
use crate::repo::entity::{account, membership};
use crate::repo::{self, Tenant};
use crate::{Error, Result};

/// Roles, ordered: `Viewer < Member < Admin < Owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read-only.
    Viewer,
    /// Works on issues.
    Member,
    /// Manages projects, keys, members.
    Admin,
    /// Everything, including billing and deleting the account.
    Owner,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// What an API token may do, mapped onto the role it acts with (never above its creator's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// Read everything the creator can read (acts as `Viewer`).
    Read,
    /// Work on issues (acts as `Member`).
    Write,
    /// Manage projects, keys and members (acts as `Admin`).
    Admin,
    /// For CI: create releases and deploys and upload source maps (sentry-cli), and read
    /// (acts as `Viewer` otherwise).
    Releases,
}

impl TokenScope {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
            TokenScope::Releases => "project:releases",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "read" => Some(TokenScope::Read),
            "write" => Some(TokenScope::Write),
            "admin" => Some(TokenScope::Admin),
            "project:releases" => Some(TokenScope::Releases),
            _ => None,
        }
    }

    /// The most a token of this scope may do.
    pub fn max_role(self) -> Role {
        match self {
            TokenScope::Read => Role::Viewer,
            TokenScope::Write => Role::Member,
            TokenScope::Admin => Role::Admin,
            TokenScope::Releases => Role::Viewer,
        }
    }
}

/// Who a request is, proven by a verified credential. Built only inside `core` (by
/// `service::auth`), so holding one means the session or token was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub(crate) user: UserId,
    pub(crate) via: Via,
}

/// The credential behind a [`Principal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Session(SessionId),
    Token {
        token: ApiTokenId,
        account: AccountId,
        scope: TokenScope,
    },
}

impl Principal {
    /// The user (for a token, the user who created it).
    pub fn user_id(&self) -> UserId {
        self.user
    }

    /// The browser session, when signed in with one.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.via {
            Via::Session(id) => Some(id),
            Via::Token { .. } => None,
        }
    }

    /// The API token, its account and scope, when authenticated with one.
    pub fn api_token(&self) -> Option<(ApiTokenId, AccountId, TokenScope)> {
        match self.via {
            Via::Token {
                token,
                account,
                scope,
            } => Some((token, account, scope)),
            Via::Session(_) => None,
        }
    }

    /// Fails with `Forbidden` for API tokens: personal settings (password, email, sessions,
    /// creating accounts) need a signed-in person.
    pub fn require_session(&self) -> Result<SessionId> {
        self.session_id().ok_or(Error::Forbidden)
    }
}

/// Who acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in member.
    User(UserId),
    /// An API token created by a member.
    Token(ApiTokenId, UserId),
    /// The system itself, with the reason it reaches into this account.
    System(&'static str),
}

/// Access to one account's data.
#[derive(Clone)]
pub struct AccountScope {
    db: Db,
    account_id: AccountId,
    actor: Actor,
    role: Role,
    /// May create releases and deploys and upload files for them: members and up, and tokens
    /// of the `releases` scope whose creator is a member.
    releases: bool,
}

impl fmt::Debug for AccountScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountScope")
            .field("account_id", &self.account_id)
            .field("actor", &self.actor)
            .field("role", &self.role)
            .finish()
    }
}

impl AccountScope {
    /// Scope for a user who is a member of `account_id`; `NotFound` when they are not (so the
    /// account's existence does not leak). The user's credential is not checked: outside this
    /// crate only `admin::scope_for_member` reaches it.
    pub(crate) async fn for_member(
        db: &Db,
        user_id: UserId,
        account_id: AccountId,
    ) -> Result<Self> {
        let role = membership_role(db, user_id, account_id).await?;
        Ok(Self {
            db: db.clone(),
            account_id,
            actor: Actor::User(user_id),
            role,
            releases: role >= Role::Member,
        })
    }

    /// Scope for a verified principal: a session acts with the member's role; a token only in
    /// its own account, with the lower of its scope's role and its creator's current role.
    /// `NotFound` when the principal has no access (existence does not leak).
    pub async fn for_principal(
        db: &Db,
        principal: &Principal,
        account_id: AccountId,
    ) -> Result<Self> {
        match principal.via {
            Via::Session(_) => Self::for_member(db, principal.user, account_id).await,
            Via::Token {
                token,
                account,
                scope,
            } => {
                if account != account_id {
                    return Err(Error::NotFound);
                }
                let role = membership_role(db, principal.user, account_id).await?;
                let acting = role.min(scope.max_role());
                Ok(Self {
                    db: db.clone(),
                    account_id,
                    actor: Actor::Token(token, principal.user),
                    role: acting,
                    releases: acting >= Role::Member
                        || (scope == TokenScope::Releases && role >= Role::Member),
                })
            }
        }
    }

    /// Scope for the system acting on an account (jobs, admin commands). `reason` appears in
    /// logs and audit entries; grep for `AccountScope::system` to find every use.
    pub fn system(db: &Db, account_id: AccountId, reason: &'static str) -> Self {
        tracing::debug!(account.id = %account_id, reason, "system scope");
        Self {
            db: db.clone(),
            account_id,
            actor: Actor::System(reason),
            role: Role::Owner,
            releases: true,
        }
    }

    /// The account this scope grants.
    pub fn account_id(&self) -> AccountId {
        self.account_id
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The acting user, if a person (or their token) acts.
    pub fn user_id(&self) -> Option<UserId> {
        match self.actor {
            Actor::User(user) | Actor::Token(_, user) => Some(user),
            Actor::System(_) => None,
        }
    }

    /// Fails with `Forbidden` unless the caller may create releases and upload their files.
    pub fn require_releases(&self) -> Result<()> {
        if self.releases {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Fails with `Forbidden` unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
}

impl From<&AccountScope> for Tenant {
    fn from(scope: &AccountScope) -> Self {
        Tenant::checking(scope.account_id())
    }
}

/// The member's role in a live (not deleted) account; `NotFound` otherwise.
async fn membership_role(db: &Db, user_id: UserId, account_id: AccountId) -> Result<Role> {
    let row = repo::find::<membership::Entity>(Tenant::checking(account_id))
        .filter(membership::Column::UserId.eq(user_id.0))
        .one(db.conn())
        .await?
        .ok_or(Error::NotFound)?;
    let live = account::Entity::find_by_id(account_id.0)
        .filter(account::Column::DeletedAt.is_null())
        .one(db.conn())
        .await?
        .is_some();
    if !live {
        return Err(Error::NotFound);
    }
    Role::parse(&row.role).ok_or_else(|| {
        anyhow::anyhow!("membership {} has unknown role {:?}", row.id, row.role).into()
    })
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(
            Role::Viewer < Role::Member && Role::Member < Role::Admin && Role::Admin < Role::Owner
        );
        for role in [Role::Viewer, Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
