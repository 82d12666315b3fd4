//! The audit log of an account: who did what to which target, for sensitive actions (members,
//! roles, invites, keys, tokens, deletes; billing later). Written in the same transaction as the
//! change it records where the change is transactional.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::Result;
use crate::ids::UserId;
use crate::repo;
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
    pub actor_user_id: Option<UserId>,
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
        Actor::User(user) => (format!("user:{user}"), Some(*user), None),
        Actor::Token(token, user) => (
            format!("token:{token}:user:{user}"),
            Some(*user),
            Some(*token),
        ),
        Actor::System(reason) => (format!("system:{reason}"), None, None),
    };
    repo::audit::insert(
        scope,
        conn,
        repo::audit::NewEntry {
            actor_user_id: user,
            actor_token_id: token,
            actor,
            action: action.to_owned(),
            target: target.chars().take(200).collect(),
            details: details.to_string(),
            created_at: Utc::now(),
        },
    )
    .await
}

/// The account's audit log, newest first. Requires `Admin`.
pub async fn list(scope: &AccountScope, page: Page) -> Result<(Vec<AuditEntry>, bool)> {
    scope.require(Role::Admin)?;
    let rows = repo::audit::list(scope, page.after, page.limit() + 1).await?;
    Ok(page.split(
        rows.into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                actor: r.actor,
                actor_user_id: r.actor_user_id.map(UserId),
                action: r.action,
                target: r.target,
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                created_at: r.created_at,
            })
            .collect(),
    ))
}
