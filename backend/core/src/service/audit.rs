//! The audit log of an account: who did what to which target, for sensitive actions (members,
//! roles, invites, keys, tokens, deletes; billing later). Written in the same transaction as the
//! change it records where the change is transactional.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::Result;
use crate::repo::entity::audit_entry;
use crate::scope::{AccountScope, Actor, Role};
use crate::service::Page;

/// One audit entry.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// Id (increasing).
    pub id: i64,
    /// `user:<id>`, `token:<id>:user:<id>` or `system:<reason>`.
    pub actor: String,
    /// The acting user, if a person acted.
    pub actor_user_id: Option<i64>,
    /// What happened (`member.invite`, `key.rotate`, …).
    pub action: String,
    /// What it happened to (`project:12`, `user:ada@example.com`, …).
    pub target: String,
    /// Extra facts as JSON.
    pub details: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Appends an entry on `conn` (a transaction when the change is one).
pub(crate) async fn record<C: ConnectionTrait>(
    conn: &C,
    scope: &AccountScope,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> Result<()> {
    let (actor, user, token) = match scope.actor() {
        Actor::User(user) => (format!("user:{user}"), Some(user.0), None),
        Actor::Token(token, user) => (
            format!("token:{token}:user:{user}"),
            Some(user.0),
            Some(token.0),
        ),
        Actor::System(reason) => (format!("system:{reason}"), None, None),
    };
    audit_entry::ActiveModel {
        account_id: Set(scope.account_id().0),
        actor_user_id: Set(user),
        actor_token_id: Set(token),
        actor: Set(actor),
        action: Set(action.to_owned()),
        target: Set(target.chars().take(200).collect()),
        details: Set(details.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The account's audit log, newest first. Requires `Admin`.
pub async fn list(scope: &AccountScope, page: Page) -> Result<(Vec<AuditEntry>, bool)> {
    scope.require(Role::Admin)?;
    let mut query = audit_entry::Entity::find()
        .filter(audit_entry::Column::AccountId.eq(scope.account_id().0))
        .order_by_desc(audit_entry::Column::Id)
        .limit(page.limit() + 1);
    if let Some(after) = page.after {
        query = query.filter(audit_entry::Column::Id.lt(after));
    }
    let rows = query.all(scope.db().conn()).await?;
    Ok(page.split(
        rows.into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                actor: r.actor,
                actor_user_id: r.actor_user_id,
                action: r.action,
                target: r.target,
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                created_at: r.created_at,
            })
            .collect(),
    ))
}
