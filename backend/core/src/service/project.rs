//! Projects and their DSN keys.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::Serialize;

use crate::db::Db;
use crate::dsn::{build_dsn, generate_public_key};
use crate::entity::{account, project, project_key};
use crate::ids::{AccountId, ProjectId};
use crate::scope::{AccountScope, Role};
use crate::service::account::{slugify, validate_name};
use crate::{Error, Result};

/// A project with its DSN keys.
#[derive(Clone, Debug, Serialize)]
pub struct Project {
    /// Id (the number in the DSN path).
    pub id: ProjectId,
    /// Owning account.
    pub account_id: AccountId,
    /// Owning account's slug.
    pub account_slug: String,
    /// Unique within the account.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Active DSN keys, oldest first.
    pub keys: Vec<ProjectKey>,
}

/// One DSN key.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectKey {
    /// Label.
    pub label: String,
    /// The 32-hex public key.
    pub public_key: String,
    /// The DSN to paste into an SDK.
    pub dsn: String,
}

/// Creates a project with one active DSN key. Requires `Admin`.
pub async fn create_project(
    scope: &AccountScope,
    public_url: &url::Url,
    name: &str,
) -> Result<Project> {
    scope.require(Role::Admin)?;
    let name = validate_name("name", name)?;
    let slug = match slugify(&name) {
        s if s.is_empty() => "project".to_owned(),
        s => s,
    };
    let db = scope.db().conn();
    let account_row = account::Entity::find_by_id(scope.account_id().0)
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    let txn = db.begin().await?;
    let now = chrono::Utc::now();
    let row = project::ActiveModel {
        account_id: Set(scope.account_id().0),
        slug: Set(slug),
        name: Set(name),
        platform: Set(None),
        fingerprint_rules: Set(String::new()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict("a project with this name already exists in the account")
        }
        _ => Error::from(e),
    })?;
    let key = project_key::ActiveModel {
        account_id: Set(scope.account_id().0),
        project_id: Set(row.id),
        public_key: Set(generate_public_key()),
        label: Set("Default".to_owned()),
        is_active: Set(true),
        rate_limit_per_minute: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    let project_id = ProjectId(row.id);
    Ok(Project {
        id: project_id,
        account_id: scope.account_id(),
        account_slug: account_row.slug,
        slug: row.slug,
        name: row.name,
        keys: vec![ProjectKey {
            dsn: build_dsn(public_url, &key.public_key, project_id),
            label: key.label,
            public_key: key.public_key,
        }],
    })
}

/// The account's projects with their active keys.
pub async fn list_projects(scope: &AccountScope, public_url: &url::Url) -> Result<Vec<Project>> {
    scope.require(Role::Viewer)?;
    load_projects(scope.db(), Some(scope.account_id()), public_url).await
}

/// Every project of every account: for the `errorwatch project list` admin command only.
pub async fn list_projects_all_accounts_unscoped(
    db: &Db,
    public_url: &url::Url,
) -> Result<Vec<Project>> {
    load_projects(db, None, public_url).await
}

async fn load_projects(
    db: &Db,
    account: Option<AccountId>,
    public_url: &url::Url,
) -> Result<Vec<Project>> {
    let conn = db.conn();
    let mut query = project::Entity::find().order_by_asc(project::Column::Id);
    let mut keys_query = project_key::Entity::find()
        .filter(project_key::Column::IsActive.eq(true))
        .order_by_asc(project_key::Column::Id);
    let mut accounts_query = account::Entity::find();
    if let Some(account_id) = account {
        query = query.filter(project::Column::AccountId.eq(account_id.0));
        keys_query = keys_query.filter(project_key::Column::AccountId.eq(account_id.0));
        accounts_query = accounts_query.filter(account::Column::Id.eq(account_id.0));
    }
    let projects = query.all(conn).await?;
    let keys = keys_query.all(conn).await?;
    let accounts = accounts_query.all(conn).await?;
    Ok(projects
        .into_iter()
        .map(|p| {
            let project_id = ProjectId(p.id);
            Project {
                id: project_id,
                account_id: AccountId(p.account_id),
                account_slug: accounts
                    .iter()
                    .find(|a| a.id == p.account_id)
                    .map(|a| a.slug.clone())
                    .unwrap_or_default(),
                keys: keys
                    .iter()
                    .filter(|k| k.project_id == p.id)
                    .map(|k| ProjectKey {
                        label: k.label.clone(),
                        public_key: k.public_key.clone(),
                        dsn: build_dsn(public_url, &k.public_key, project_id),
                    })
                    .collect(),
                slug: p.slug,
                name: p.name,
            }
        })
        .collect())
}

/// Replaces a project's server-side fingerprint rules (Sentry's syntax, one rule per line,
/// `matcher:"glob" … -> value, value [title="…"]`); refused with the offending line when they do
/// not parse. Requires `Admin`.
pub async fn set_fingerprint_rules(
    scope: &AccountScope,
    project_id: ProjectId,
    rules: &str,
) -> Result<()> {
    use sea_orm::ActiveModelTrait;

    scope.require(Role::Admin)?;
    if rules.len() > 64 * 1024 {
        return Err(Error::validation("rules", "at most 64 KiB of rules"));
    }
    crate::grouping::FingerprintRules::parse(rules)
        .map_err(|e| Error::validation("rules", e.to_string()))?;
    let row = project::Entity::find_by_id(project_id.0)
        .filter(project::Column::AccountId.eq(scope.account_id().0))
        .one(scope.db().conn())
        .await?
        .ok_or(Error::NotFound)?;
    let mut model: project::ActiveModel = row.into();
    model.fingerprint_rules = Set(rules.to_owned());
    model.update(scope.db().conn()).await?;
    Ok(())
}

/// The project's fingerprint rules as text.
pub async fn fingerprint_rules(scope: &AccountScope, project_id: ProjectId) -> Result<String> {
    scope.require(Role::Viewer)?;
    project::Entity::find_by_id(project_id.0)
        .filter(project::Column::AccountId.eq(scope.account_id().0))
        .one(scope.db().conn())
        .await?
        .map(|p| p.fingerprint_rules)
        .ok_or(Error::NotFound)
}
