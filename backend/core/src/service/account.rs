//! Accounts (tenants): creation with an owner, lookup by slug.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::Serialize;

use crate::db::Db;
use crate::entity::{account, membership};
use crate::ids::{AccountId, UserId};
use crate::scope::Role;
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
pub async fn create_account(db: &Db, name: &str, owner: UserId) -> Result<Account> {
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
        return Ok(Account {
            id: AccountId(row.id),
            slug: row.slug,
            name: row.name,
        });
    }
    Err(Error::Conflict(
        "too many accounts share this name; choose another",
    ))
}

/// Finds an account by slug. Admin commands only: members reach accounts through a scope.
pub async fn find_account_by_slug_unscoped(db: &Db, slug: &str) -> Result<Account> {
    let row = account::Entity::find()
        .filter(account::Column::Slug.eq(slug.trim()))
        .one(db.conn())
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Account {
        id: AccountId(row.id),
        slug: row.slug,
        name: row.name,
    })
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
