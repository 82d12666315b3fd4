//! Accounts (tenants): creation with an owner, listing a user's accounts, rename, and
//! deletion (the account disappears at once; its data is removed by [`DeleteAccountData`]).

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::Serialize;

use crate::db::Db;
use sea_orm::QueryOrder;
use sea_orm::sea_query::Expr;
use serde_json::json;

use crate::ids::{AccountId, UserId};
use crate::jobs::JobQueue;
use crate::repo::entity::{account, membership, project_key};
use crate::repo::{self, Tenant};
use crate::scope::{AccountScope, Principal, Role};
use crate::service::audit;
use crate::service::auth::Auth;
use crate::service::purge::PurgeDeleted;
use crate::{Error, Result};

/// An account as shown to its members.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// URL-safe unique name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn to_account(row: account::Model) -> Account {
    Account {
        id: AccountId(row.id),
        slug: row.slug,
        name: row.name,
        created_at: row.created_at,
    }
}

/// Lower-case ASCII letters, digits and single dashes; at most 48 characters.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_end_matches('-').chars().take(48).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// Validates a display name (1 to 100 characters after trimming).
pub(crate) fn validate_name(field: &'static str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::validation(field, "must be 1 to 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Creates an account owned by `owner`. The slug derives from the name; a taken slug gets a
/// numeric suffix (`acme`, `acme-2`, ...).
pub(crate) async fn create_account(db: &Db, name: &str, owner: UserId) -> Result<Account> {
    let name = validate_name("name", name)?;
    let base = match slugify(&name) {
        s if s.is_empty() => "account".to_owned(),
        s => s,
    };
    for n in 1..=50u32 {
        let slug = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let txn = db.conn().begin().await?;
        let now = chrono::Utc::now();
        let inserted = account::ActiveModel {
            slug: Set(slug.clone()),
            name: Set(name.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                txn.rollback().await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        membership::ActiveModel {
            account_id: Set(row.id),
            user_id: Set(owner.0),
            role: Set(Role::Owner.as_str().to_owned()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        return Ok(to_account(row));
    }
    Err(Error::Conflict(
        "too many accounts share this name; choose another",
    ))
}

/// Finds an account by slug. Admin commands only (through `admin`): members reach accounts
/// through a scope.
pub(crate) async fn find_account_by_slug_unscoped(db: &Db, slug: &str) -> Result<Account> {
    let row = account::Entity::find()
        .filter(account::Column::Slug.eq(slug.trim()))
        .one(db.conn())
        .await?
        .ok_or(Error::NotFound)?;
    Ok(to_account(row))
}

/// The principal's scope in the live account with this slug (the Sentry web API's
/// organization); `NotFound` when there is none or the principal cannot reach it (the two are
/// indistinguishable).
pub async fn scope_by_slug(auth: &Auth, principal: &Principal, slug: &str) -> Result<AccountScope> {
    let account = find_account_by_slug_unscoped(auth.db(), slug).await?;
    AccountScope::for_principal(auth.db(), principal, account.id).await
}

/// Creates an account for the signed-in user, who becomes its owner (API tokens cannot).
pub async fn create_account_for(auth: &Auth, principal: &Principal, name: &str) -> Result<Account> {
    principal.require_session()?;
    create_account(auth.db(), name, principal.user_id()).await
}

/// The accounts the principal can act in, with their role, oldest membership first. A token
/// sees only its own account.
pub async fn list_accounts(auth: &Auth, principal: &Principal) -> Result<Vec<(Account, Role)>> {
    let db = auth.db();
    // A token acts in its own account only; a session sees every account of its user.
    let query = match principal.api_token() {
        Some((_, account, _)) => repo::find::<membership::Entity>(Tenant::checking(account)),
        None => membership::Entity::find(),
    }
    .filter(membership::Column::UserId.eq(principal.user_id().0))
    .order_by_asc(membership::Column::Id);
    let memberships = query.all(db.conn()).await?;
    let ids: Vec<i64> = memberships.iter().map(|m| m.account_id).collect();
    let accounts = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .filter(account::Column::DeletedAt.is_null())
        .all(db.conn())
        .await?;
    let mut out = Vec::new();
    for m in memberships {
        if let Some(a) = accounts.iter().find(|a| a.id == m.account_id) {
            let mut role = Role::parse(&m.role)
                .ok_or_else(|| anyhow::anyhow!("membership {} has unknown role", m.id))?;
            if let Some((_, _, token_scope)) = principal.api_token() {
                role = role.min(token_scope.max_role());
            }
            out.push((to_account(a.clone()), role));
        }
    }
    Ok(out)
}

/// The scope's account.
pub async fn get_account(scope: &AccountScope) -> Result<Account> {
    scope.require(Role::Viewer)?;
    account::Entity::find_by_id(scope.account_id().0)
        .filter(account::Column::DeletedAt.is_null())
        .one(scope.db().conn())
        .await?
        .map(to_account)
        .ok_or(Error::NotFound)
}

/// Renames the account (the slug stays, so links keep working). Requires `Admin`.
pub async fn rename_account(scope: &AccountScope, name: &str) -> Result<Account> {
    scope.require(Role::Admin)?;
    let name = validate_name("name", name)?;
    let row = account::Entity::find_by_id(scope.account_id().0)
        .filter(account::Column::DeletedAt.is_null())
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)?;
    let txn = scope.db().begin_write().await?;
    let old = row.name.clone();
    let mut model: account::ActiveModel = row.into();
    model.name = Set(name.clone());
    let row = model.update(&txn).await?;
    audit::record(
        &txn,
        scope,
        "account.rename",
        format!("account:{}", row.slug),
        json!({"from": old, "to": name}),
    )
    .await?;
    txn.commit().await?;
    Ok(to_account(row))
}

/// Deletes the account: `confirm` must be its slug. Requires `Owner`. The account, its
/// projects and keys stop working at once; a job removes the data.
pub async fn delete_account(scope: &AccountScope, queue: &JobQueue, confirm: &str) -> Result<()> {
    scope.require(Role::Owner)?;
    let row = account::Entity::find_by_id(scope.account_id().0)
        .filter(account::Column::DeletedAt.is_null())
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)?;
    if confirm.trim() != row.slug {
        return Err(Error::validation(
            "confirm",
            format!("type the account's slug ({}) to confirm", row.slug),
        ));
    }
    let txn = scope.db().begin_write().await?;
    let now = chrono::Utc::now();
    account::Entity::update_many()
        .col_expr(account::Column::DeletedAt, Expr::value(now))
        .filter(account::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    repo::update_many::<project_key::Entity>(scope)
        .col_expr(project_key::Column::IsActive, Expr::value(false))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        scope,
        "account.delete",
        format!("account:{}", row.slug),
        json!({}),
    )
    .await?;
    txn.commit().await?;
    crate::service::ingest::keys_changed();
    // The hourly sweep would find it too; this starts the removal now.
    queue
        .enqueue(&PurgeDeleted)
        .await
        .map_err(Error::Internal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs() {
        for (name, slug) in [
            ("Acme", "acme"),
            ("  Acme Corp. ", "acme-corp"),
            ("Ünïcode & Co", "n-code-co"),
            ("---", ""),
            ("a--b", "a-b"),
        ] {
            assert_eq!(slugify(name), slug, "{name}");
        }
        assert_eq!(slugify(&"x".repeat(100)).len(), 48);
    }
}
