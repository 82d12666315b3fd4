//! Users: creation (admin command now, sign-up later) and lookup by email.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use crate::db::Db;
use crate::error::OnConflict;
use crate::ids::UserId;
use crate::password::hash_password;
use crate::repo::entity::user;
use crate::secret::SecretString;
use crate::{Error, Result};

/// A user as shown to admins.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Normalised (trimmed, lower-case) email.
    pub email: String,
    /// May administer the whole installation.
    pub is_superuser: bool,
    /// The address was confirmed.
    pub email_verified: bool,
    /// Signed up.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Trims and lower-cases an email and checks its shape (one `@`, a dot in the domain, no
/// spaces, at most 254 bytes).
pub fn normalize_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
               && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(Error::validation(
            "email",
            format!("{raw:?} is not an email address"),
        ))
    }
}

/// Creates a user with a verified email (the admin vouches for it).
pub(crate) async fn create_user(
    db: &Db,
    email: &str,
    password: SecretString,
    is_superuser: bool,
) -> Result<User> {
    let email = normalize_email(email)?;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| anyhow::anyhow!("password hashing task failed: {e}"))??;
    let now = chrono::Utc::now();
    let row = user::ActiveModel {
        email: Set(email),
        password_hash: Set(hash),
        is_superuser: Set(is_superuser),
        email_verified_at: Set(Some(now)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db.conn())
    .await
    .on_conflict("a user with this email already exists")?;
    Ok(User {
        id: UserId(row.id),
        email_verified: row.email_verified_at.is_some(),
        created_at: row.created_at,
        email: row.email,
        is_superuser: row.is_superuser,
    })
}

/// Finds a user by email (normalised first).
pub(crate) async fn find_user_by_email(db: &Db, email: &str) -> Result<User> {
    let email = normalize_email(email)?;
    let row = user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db.conn())
        .await?
        .ok_or(Error::NotFound)?;
    Ok(User {
        id: UserId(row.id),
        email_verified: row.email_verified_at.is_some(),
        created_at: row.created_at,
        email: row.email,
        is_superuser: row.is_superuser,
    })
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").expect("valid"),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
