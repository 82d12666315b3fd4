//! `AccountScope`: the proof that the caller may act inside one account, and with which role.
//! Every service that touches tenant data takes one first and filters on its account id.
//!
//! Invariant: a scope is built only by [`AccountScope::for_member`] (membership checked in the
//! database) or by the deliberately loud [`AccountScope::system`] (jobs and admin commands).

use std::fmt;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::db::Db;
use crate::entity::membership;
use crate::ids::{AccountId, UserId};
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

/// Who acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in member.
    User(UserId),
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
    /// account's existence does not leak).
    pub async fn for_member(db: &Db, user_id: UserId, account_id: AccountId) -> Result<Self> {
        let row = membership::Entity::find()
            .filter(membership::Column::AccountId.eq(account_id.0))
            .filter(membership::Column::UserId.eq(user_id.0))
            .one(db.conn())
            .await?
            .ok_or(Error::NotFound)?;
        let role = Role::parse(&row.role).ok_or_else(|| {
            anyhow::anyhow!("membership {} has unknown role {:?}", row.id, row.role)
        })?;
        Ok(Self {
            db: db.clone(),
            account_id,
            actor: Actor::User(user_id),
            role,
        })
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
