//! Members of an account, their roles, and invitations by emailed link.
//!
//! Rules: admins manage members and invites; only owners grant or take the owner role or
//! remove an owner; an account always keeps at least one owner (the last owner can neither
//! leave, be removed nor be demoted).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;

use crate::auth::limits::Flow;
use crate::auth::token::{self, TokenKind};
use crate::db::Db;
use crate::ids::{AccountId, InviteId, MembershipId, UserId};
use crate::repo::entity::{account, invite, membership, user};
use crate::repo::{self, Tenant};
use crate::scope::{AccountScope, Actor, Principal, Role};
use crate::service::auth::{Auth, Client, live_invite};
use crate::service::user::normalize_email;
use crate::service::{Page, audit};
use crate::{Error, Result};

/// How long an invite link works.
pub const INVITE_TTL_DAYS: i64 = 7;

/// A member of an account.
#[derive(Clone, Debug)]
pub struct Member {
    /// Membership id.
    pub id: MembershipId,
    /// The user.
    pub user_id: UserId,
    /// Their address.
    pub email: String,
    /// Their role.
    pub role: Role,
    /// Joined.
    pub created_at: DateTime<Utc>,
}

/// An invitation.
#[derive(Clone, Debug)]
pub struct Invite {
    /// Id.
    pub id: InviteId,
    /// Invited address.
    pub email: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// Sent.
    pub created_at: DateTime<Utc>,
    /// Link expiry.
    pub expires_at: DateTime<Utc>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
}

fn parse_role(raw: &str) -> Result<Role> {
    Role::parse(raw).ok_or_else(|| anyhow::anyhow!("unknown role {raw:?} in the database").into())
}

fn to_invite(row: invite::Model) -> Result<Invite> {
    let status = if row.accepted_at.is_some() {
        "accepted"
    } else if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at <= Utc::now() {
        "expired"
    } else {
        "pending"
    };
    Ok(Invite {
        id: InviteId(row.id),
        role: parse_role(&row.role)?,
        email: row.email,
        created_at: row.created_at,
        expires_at: row.expires_at,
        status,
    })
}

/// The account's members, oldest first.
pub async fn list_members(scope: &AccountScope, page: Page) -> Result<(Vec<Member>, bool)> {
    scope.require(Role::Viewer)?;
    let mut query = repo::find::<membership::Entity>(scope)
        .order_by_asc(membership::Column::Id)
        .limit(page.limit() + 1);
    if let Some(after) = page.after {
        query = query.filter(membership::Column::Id.gt(after));
    }
    let rows = query.all(scope.db().conn()).await?;
    let (rows, more) = page.split(rows);
    let ids: Vec<i64> = rows.iter().map(|m| m.user_id).collect();
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(scope.db().conn())
        .await?;
    let members = rows
        .into_iter()
        .map(|m| {
            Ok(Member {
                id: MembershipId(m.id),
                user_id: UserId(m.user_id),
                email: users
                    .iter()
                    .find(|u| u.id == m.user_id)
                    .map(|u| u.email.clone())
                    .unwrap_or_default(),
                role: parse_role(&m.role)?,
                created_at: m.created_at,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((members, more))
}

/// Addresses of members by user id, for users who are members of the scope's account (the
/// GraphQL loader batches through this; other users are simply absent).
pub async fn member_emails(
    scope: &AccountScope,
    user_ids: &[UserId],
) -> Result<std::collections::HashMap<UserId, String>> {
    let members: Vec<i64> = repo::find::<membership::Entity>(scope)
        .filter(membership::Column::UserId.is_in(user_ids.iter().map(|u| u.0)))
        .all(scope.db().conn())
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(members))
        .all(scope.db().conn())
        .await?
        .into_iter()
        .map(|u| (UserId(u.id), u.email))
        .collect())
}

async fn load_membership(scope: &AccountScope, id: MembershipId) -> Result<membership::Model> {
    repo::find::<membership::Entity>(scope)
        .filter(membership::Column::Id.eq(id.0))
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)
}

async fn owner_count<C: ConnectionTrait>(conn: &C, tenant: Tenant) -> Result<u64> {
    Ok(repo::find::<membership::Entity>(tenant)
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .count(conn)
        .await?)
}

async fn email_of(db: &Db, user: i64) -> Result<String> {
    Ok(user::Entity::find_by_id(user)
        .one(db.conn())
        .await?
        .map(|u| u.email)
        .unwrap_or_default())
}

/// Changes a member's role. Requires `Admin`; granting or taking `Owner` requires `Owner`; the
/// last owner cannot be demoted.
pub async fn change_role(scope: &AccountScope, id: MembershipId, role: Role) -> Result<Member> {
    scope.require(Role::Admin)?;
    let row = load_membership(scope, id).await?;
    let old = parse_role(&row.role)?;
    if (old == Role::Owner || role == Role::Owner) && scope.role() < Role::Owner {
        return Err(Error::Forbidden);
    }
    // Read before taking the write lock: on SQLite, other pooled connections may be waiting
    // behind our lock while we would wait for one of them.
    let email = email_of(scope.db(), row.user_id).await?;
    let txn = scope.db().begin_write().await?;
    if old == Role::Owner && role != Role::Owner && owner_count(&txn, scope.into()).await? <= 1 {
        return Err(Error::validation(
            "role",
            "the last owner cannot be demoted; make someone else owner first",
        ));
    }
    let mut model: membership::ActiveModel = row.clone().into();
    model.role = Set(role.as_str().to_owned());
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        scope,
        "member.role_change",
        format!("user:{email}"),
        json!({"from": old.as_str(), "to": role.as_str()}),
    )
    .await?;
    txn.commit().await?;
    Ok(Member {
        id,
        user_id: UserId(updated.user_id),
        email,
        role,
        created_at: updated.created_at,
    })
}

/// Removes a member (their API tokens for the account stop working with the membership).
/// Requires `Admin` (`Owner` to remove an owner); the last owner cannot be removed.
pub async fn remove_member(scope: &AccountScope, id: MembershipId) -> Result<()> {
    scope.require(Role::Admin)?;
    let row = load_membership(scope, id).await?;
    remove(scope, row, "member.remove").await
}

/// Leaves the account; the last owner cannot leave. Only the signed-in person: an API token
/// (even a read-only one) must not end its creator's membership.
pub async fn leave(scope: &AccountScope) -> Result<()> {
    let user = match scope.actor() {
        Actor::User(user) => *user,
        _ => return Err(Error::Forbidden),
    };
    let row = repo::find::<membership::Entity>(scope)
        .filter(membership::Column::UserId.eq(user.0))
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)?;
    remove(scope, row, "member.leave").await
}

async fn remove(scope: &AccountScope, row: membership::Model, action: &str) -> Result<()> {
    let role = parse_role(&row.role)?;
    if role == Role::Owner && action == "member.remove" && scope.role() < Role::Owner {
        return Err(Error::Forbidden);
    }
    let email = email_of(scope.db(), row.user_id).await?;
    let txn = scope.db().begin_write().await?;
    if role == Role::Owner && owner_count(&txn, scope.into()).await? <= 1 {
        return Err(Error::validation(
            "membership",
            "the last owner cannot leave or be removed; make someone else owner first, or delete the account",
        ));
    }
    repo::delete_many::<membership::Entity>(scope)
        .filter(membership::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        scope,
        action,
        format!("user:{email}"),
        json!({"role": role.as_str()}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Invites an address with a role and emails the link. Requires `Admin` (`Owner` to invite an
/// owner). A pending invite for the same address is replaced.
pub async fn invite(scope: &AccountScope, auth: &Auth, email: &str, role: Role) -> Result<Invite> {
    scope.require(Role::Admin)?;
    if role == Role::Owner && scope.role() < Role::Owner {
        return Err(Error::Forbidden);
    }
    let email = normalize_email(email)?;
    let db = scope.db();
    let existing_user = user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db.conn())
        .await?;
    let already = match existing_user {
        Some(u) => repo::find::<membership::Entity>(scope)
            .filter(membership::Column::UserId.eq(u.id))
            .one(db.conn())
            .await?
            .is_some(),
        None => false,
    };
    if already {
        return Err(Error::validation(
            "email",
            "is already a member of this account",
        ));
    }
    let account_row = account::Entity::find_by_id(scope.account_id().0)
        .one(db.conn())
        .await?
        .ok_or(Error::NotFound)?;
    // Members plus open invites (to other addresses: this one's earlier invite is replaced).
    let open_invites = repo::find::<invite::Entity>(scope)
        .filter(invite::Column::Email.ne(&email))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .filter(invite::Column::ExpiresAt.gt(Utc::now()))
        .count(db.conn())
        .await?;
    let limit = member_limit(db, auth.default_plan(), scope.account_id()).await?;
    ensure_member_room(db.conn(), scope.into(), limit.as_ref(), open_invites).await?;
    let (plain, hash) = token::generate(TokenKind::Invite);
    let now = Utc::now();
    let txn = db.begin_write().await?;
    repo::update_many::<invite::Entity>(scope)
        .col_expr(invite::Column::RevokedAt, Expr::value(now))
        .filter(invite::Column::Email.eq(&email))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let row = invite::ActiveModel {
        account_id: Set(scope.account_id().0),
        email: Set(email.clone()),
        role: Set(role.as_str().to_owned()),
        token_hash: Set(hash),
        invited_by: Set(scope.user_id().map(|u| u.0)),
        created_at: Set(now),
        expires_at: Set(now + ChronoDuration::days(INVITE_TTL_DAYS)),
        accepted_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        scope,
        "member.invite",
        format!("user:{email}"),
        json!({"role": role.as_str()}),
    )
    .await?;
    txn.commit().await?;
    auth.outbox()
        .send(
            &email,
            &format!("You are invited to {} on ErrorWatch", account_row.name),
            format!(
                "You are invited to join the account \"{}\" on ErrorWatch as {}.\n\nAccept (valid for {INVITE_TTL_DAYS} days):\n{}\n\nIf you have no ErrorWatch user yet, the link lets you create one with this address.",
                account_row.name,
                role.as_str(),
                auth.outbox().link("accept-invite", &plain)
            ),
        )
        .await?;
    to_invite(row)
}

/// The account's invites, newest first. Requires `Admin`.
pub async fn list_invites(scope: &AccountScope, page: Page) -> Result<(Vec<Invite>, bool)> {
    scope.require(Role::Admin)?;
    let mut query = repo::find::<invite::Entity>(scope)
        .order_by_desc(invite::Column::Id)
        .limit(page.limit() + 1);
    if let Some(after) = page.after {
        query = query.filter(invite::Column::Id.lt(after));
    }
    let rows = query.all(scope.db().conn()).await?;
    let (rows, more) = page.split(rows);
    Ok((
        rows.into_iter().map(to_invite).collect::<Result<_>>()?,
        more,
    ))
}

/// Revokes a pending invite. Requires `Admin`.
pub async fn revoke_invite(scope: &AccountScope, id: InviteId) -> Result<Invite> {
    scope.require(Role::Admin)?;
    let row = repo::find::<invite::Entity>(scope)
        .filter(invite::Column::Id.eq(id.0))
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)?;
    if row.accepted_at.is_some() {
        return Err(Error::validation("invite", "was already accepted"));
    }
    let txn = scope.db().begin_write().await?;
    let mut model: invite::ActiveModel = row.clone().into();
    model.revoked_at = Set(Some(row.revoked_at.unwrap_or_else(Utc::now)));
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        scope,
        "member.invite_revoke",
        format!("user:{}", row.email),
        json!({}),
    )
    .await?;
    txn.commit().await?;
    to_invite(updated)
}

/// Accepts an invite as the signed-in user, whose address must be the invited one. Returns the
/// account joined.
pub async fn accept_invite(
    auth: &Auth,
    principal: &Principal,
    plain: &str,
    client: &Client,
) -> Result<AccountId> {
    principal.require_session()?;
    let hash = token::hash(plain);
    auth.check_limit(Flow::InviteAccept, client, &hash)?;
    if !token::looks_like(TokenKind::Invite, plain) {
        return Err(Error::validation(
            "token",
            "this invite is invalid, already used, revoked or expired",
        ));
    }
    let invite = live_invite(auth.db(), &hash).await?;
    let me = user::Entity::find_by_id(principal.user_id().0)
        .one(auth.db().conn())
        .await?
        .ok_or(Error::NotFound)?;
    if me.email != invite.email {
        return Err(Error::validation(
            "token",
            "this invite was sent to another address; sign in with that address",
        ));
    }
    accept_invite_row(auth.db(), auth.default_plan(), &invite, principal.user_id()).await?;
    Ok(AccountId(invite.account_id))
}

/// Marks the invite accepted (once: a concurrent second use fails) and adds the membership.
pub(crate) async fn accept_invite_row(
    db: &Db,
    default_plan: &str,
    invite: &invite::Model,
    user: UserId,
) -> Result<()> {
    // Read before the write transaction: on SQLite a read on another pooled connection while
    // this one holds the write lock can starve the pool.
    let account = AccountId(invite.account_id);
    let scope = AccountScope::system(db, account, "invite accepted");
    let limit = member_limit(db, default_plan, account).await?;
    let txn = db.begin_write().await?;
    let now = Utc::now();
    let claimed = repo::update_many::<invite::Entity>(&scope)
        .col_expr(invite::Column::AcceptedAt, Expr::value(now))
        .filter(invite::Column::Id.eq(invite.id))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(Error::validation(
            "token",
            "this invite is invalid, already used, revoked or expired",
        ));
    }
    let existing = repo::find::<membership::Entity>(&scope)
        .filter(membership::Column::UserId.eq(user.0))
        .one(&txn)
        .await?;
    if existing.is_none() {
        ensure_member_room(&txn, (&scope).into(), limit.as_ref(), 0).await?;
        membership::ActiveModel {
            account_id: Set(invite.account_id),
            user_id: Set(user.0),
            role: Set(invite.role.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    audit::record(
        &txn,
        &scope,
        "member.join",
        format!("user:{}", invite.email),
        json!({"role": invite.role, "user_id": user.0}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The account's member limit and its plan's name (`None`: unlimited).
async fn member_limit(
    db: &Db,
    default_plan: &str,
    account: AccountId,
) -> Result<Option<(u64, String)>> {
    let plans = crate::billing::plan::load_plans(db)
        .await
        .map_err(Error::Internal)?;
    let current =
        crate::billing::quota::account_plan(db, &plans, default_plan, account, Utc::now())
            .await
            .map_err(Error::Internal)?;
    Ok(current
        .plan
        .spec
        .max_members
        .map(|max| (u64::try_from(max).unwrap_or(0), current.plan.spec.name)))
}

/// Fails with [`Error::PlanLimit`] when `limit` leaves no room for one more member besides the
/// account's members and `pending` open invites.
async fn ensure_member_room(
    conn: &impl sea_orm::ConnectionTrait,
    tenant: Tenant,
    limit: Option<&(u64, String)>,
    pending: u64,
) -> Result<()> {
    let Some((max, plan)) = limit else {
        return Ok(());
    };
    let max = *max;
    let members = repo::find::<membership::Entity>(tenant).count(conn).await?;
    if members + pending >= max {
        return Err(Error::PlanLimit(format!(
            "the {plan} plan allows {max} members (invites included); upgrade the plan or remove a member first"
        )));
    }
    Ok(())
}
