//! Projects and their DSN keys: create, rename, delete (data removed by a job), several keys
//! per project (create, rotate, disable, per-key rate limit), DSNs with setup snippets.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::json;

use crate::db::Db;
use crate::dsn::{build_dsn, generate_public_key};
use crate::ids::{AccountId, ProjectId, ProjectKeyId};
use crate::jobs::JobQueue;
use crate::repo;
use crate::repo::entity::{account, project, project_key};
use crate::scope::{AccountScope, Role};
use crate::service::account::{slugify, validate_name};
use crate::service::audit;
use crate::service::purge::PurgeDeleted;
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
    /// Platform chosen at creation (for the setup snippet), if any.
    pub platform: Option<String>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// DSN keys (active and disabled), oldest first.
    pub keys: Vec<ProjectKey>,
}

/// One DSN key.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectKey {
    /// Id.
    pub id: ProjectKeyId,
    /// Its project.
    pub project_id: ProjectId,
    /// Refused by ingest when false.
    pub is_active: bool,
    /// Requests per minute allowed (none: the plan's limit).
    pub rate_limit_per_minute: Option<i32>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Label.
    pub label: String,
    /// The 32-hex public key.
    pub public_key: String,
    /// The DSN to paste into an SDK.
    pub dsn: String,
}

fn to_key(k: &project_key::Model, public_url: &url::Url) -> ProjectKey {
    let project_id = ProjectId(k.project_id);
    ProjectKey {
        id: ProjectKeyId(k.id),
        project_id,
        is_active: k.is_active,
        rate_limit_per_minute: k.rate_limit_per_minute,
        created_at: k.created_at,
        label: k.label.clone(),
        public_key: k.public_key.clone(),
        dsn: build_dsn(public_url, &k.public_key, project_id),
    }
}

fn validate_platform(platform: Option<&str>) -> Result<Option<String>> {
    match platform.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) if crate::dsn::PLATFORMS.contains(&p) || p == "other" => Ok(Some(p.to_owned())),
        Some(p) => Err(Error::validation(
            "platform",
            format!(
                "{p:?} is not one of: {}, other",
                crate::dsn::PLATFORMS.join(", ")
            ),
        )),
    }
}

/// Creates a project with one active DSN key. Requires `Admin`.
pub async fn create_project(
    scope: &AccountScope,
    public_url: &url::Url,
    name: &str,
) -> Result<Project> {
    create_project_for_platform(scope, public_url, name, None).await
}

/// Creates a project for a platform (`python`, `node`, …, see [`crate::dsn::PLATFORMS`]) with
/// one active DSN key. Requires `Admin`.
pub async fn create_project_for_platform(
    scope: &AccountScope,
    public_url: &url::Url,
    name: &str,
    platform: Option<&str>,
) -> Result<Project> {
    scope.require(Role::Admin)?;
    let name = validate_name("name", name)?;
    let platform = validate_platform(platform)?;
    let slug = match slugify(&name) {
        s if s.is_empty() => "project".to_owned(),
        s => s,
    };
    let db = scope.db().conn();
    let account_row = account::Entity::find_by_id(scope.account_id().0)
        .filter(account::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    let txn = scope.db().begin_write().await?;
    let now = chrono::Utc::now();
    let row = repo::projects::insert(scope, &txn, slug, name, platform, now).await?;
    let key = repo::projects::insert_key(
        scope,
        &txn,
        ProjectId(row.id),
        generate_public_key(),
        "Default".to_owned(),
        now,
    )
    .await?;
    audit::record(
        &txn,
        scope,
        "project.create",
        format!("project:{}", row.id),
        json!({"name": row.name}),
    )
    .await?;
    txn.commit().await?;
    Ok(Project {
        id: ProjectId(row.id),
        account_id: scope.account_id(),
        account_slug: account_row.slug,
        slug: row.slug,
        name: row.name,
        platform: row.platform,
        created_at: row.created_at,
        keys: vec![to_key(&key, public_url)],
    })
}

/// The account's projects with their active keys.
pub async fn list_projects(scope: &AccountScope, public_url: &url::Url) -> Result<Vec<Project>> {
    scope.require(Role::Viewer)?;
    load_projects(scope.db(), Some(scope), public_url).await
}

/// Every project of every account: for the `errorwatch project list` admin command only
/// (through `admin`).
pub(crate) async fn list_projects_all_accounts_unscoped(
    db: &Db,
    public_url: &url::Url,
) -> Result<Vec<Project>> {
    load_projects(db, None, public_url).await
}

/// The live projects of the scope's account, or (`None`) of every account, with their keys.
async fn load_projects(
    db: &Db,
    scope: Option<&AccountScope>,
    public_url: &url::Url,
) -> Result<Vec<Project>> {
    let conn = db.conn();
    let (projects, keys) = match scope {
        Some(scope) => (
            repo::projects::list_live(scope).await?,
            repo::projects::list_keys(scope).await?,
        ),
        None => (
            repo::projects::list_live_all_accounts(conn).await?,
            repo::projects::list_keys_all_accounts(conn).await?,
        ),
    };
    let mut accounts_query = account::Entity::find().filter(account::Column::DeletedAt.is_null());
    if let Some(scope) = scope {
        accounts_query = accounts_query.filter(account::Column::Id.eq(scope.account_id().0));
    }
    let accounts = accounts_query.all(conn).await?;
    Ok(projects
        .into_iter()
        .filter_map(|p| {
            let account = accounts.iter().find(|a| a.id == p.account_id)?;
            Some(Project {
                id: ProjectId(p.id),
                account_id: AccountId(p.account_id),
                account_slug: account.slug.clone(),
                keys: keys
                    .iter()
                    .filter(|k| k.project_id == p.id)
                    .map(|k| to_key(k, public_url))
                    .collect(),
                slug: p.slug,
                name: p.name,
                platform: p.platform,
                created_at: p.created_at,
            })
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
    scope.require(Role::Admin)?;
    if rules.len() > 64 * 1024 {
        return Err(Error::validation("rules", "at most 64 KiB of rules"));
    }
    crate::grouping::FingerprintRules::parse(rules)
        .map_err(|e| Error::validation("rules", e.to_string()))?;
    load_project(scope, project_id).await?;
    let txn = scope.db().begin_write().await?;
    repo::projects::set_fingerprint_rules(scope, &txn, project_id, rules.to_owned()).await?;
    audit::record(
        &txn,
        scope,
        "project.fingerprint_rules",
        format!("project:{project_id}"),
        json!({"bytes": rules.len()}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The project's fingerprint rules as text.
pub async fn fingerprint_rules(scope: &AccountScope, project_id: ProjectId) -> Result<String> {
    scope.require(Role::Viewer)?;
    Ok(load_project(scope, project_id).await?.fingerprint_rules)
}

/// A live project of the scope's account; `NotFound` for others and deleted ones.
pub(crate) async fn load_project(
    scope: &AccountScope,
    project_id: ProjectId,
) -> Result<project::Model> {
    repo::projects::get_live(scope, project_id).await
}

/// A live project's names, for APIs that name projects by slug (the Sentry web API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRef {
    /// Id.
    pub id: ProjectId,
    /// Unique within the account.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Platform chosen at creation, if any.
    pub platform: Option<String>,
}

impl ProjectRef {
    /// The project of `refs` with this slug; `NotFound` when there is none.
    pub fn by_slug(refs: &[ProjectRef], slug: &str) -> Result<ProjectId> {
        refs.iter()
            .find(|p| p.slug == slug)
            .map(|p| p.id)
            .ok_or(Error::NotFound)
    }
}

/// The account's live projects by slug and name, oldest first (one query, no keys).
pub async fn project_refs(scope: &AccountScope) -> Result<Vec<ProjectRef>> {
    scope.require(Role::Viewer)?;
    Ok(repo::projects::list_live(scope)
        .await?
        .into_iter()
        .map(|p| ProjectRef {
            id: ProjectId(p.id),
            slug: p.slug,
            name: p.name,
            platform: p.platform,
        })
        .collect())
}

/// One project with its keys.
pub async fn get_project(
    scope: &AccountScope,
    public_url: &url::Url,
    project_id: ProjectId,
) -> Result<Project> {
    scope.require(Role::Viewer)?;
    load_project(scope, project_id).await?;
    load_projects(scope.db(), Some(scope), public_url)
        .await?
        .into_iter()
        .find(|p| p.id == project_id)
        .ok_or(Error::NotFound)
}

/// Renames a project (the slug stays). Requires `Admin`.
pub async fn rename_project(
    scope: &AccountScope,
    public_url: &url::Url,
    project_id: ProjectId,
    name: &str,
) -> Result<Project> {
    scope.require(Role::Admin)?;
    let name = validate_name("name", name)?;
    let row = load_project(scope, project_id).await?;
    let txn = scope.db().begin_write().await?;
    let old = row.name;
    repo::projects::set_name(scope, &txn, project_id, name.clone()).await?;
    audit::record(
        &txn,
        scope,
        "project.rename",
        format!("project:{project_id}"),
        json!({"from": old, "to": name}),
    )
    .await?;
    txn.commit().await?;
    get_project(scope, public_url, project_id).await
}

/// Deletes a project: it and its keys stop working at once; a job removes its data. Requires
/// `Admin`.
pub async fn delete_project(
    scope: &AccountScope,
    queue: &JobQueue,
    project_id: ProjectId,
) -> Result<()> {
    scope.require(Role::Admin)?;
    let row = load_project(scope, project_id).await?;
    let txn = scope.db().begin_write().await?;
    let now = chrono::Utc::now();
    repo::projects::mark_deleted(scope, &txn, project_id, now).await?;
    audit::record(
        &txn,
        scope,
        "project.delete",
        format!("project:{project_id}"),
        json!({"name": row.name}),
    )
    .await?;
    txn.commit().await?;
    crate::service::ingest::keys_changed();
    queue
        .enqueue(&PurgeDeleted)
        .await
        .map_err(Error::Internal)?;
    Ok(())
}

/// A key of a live project of the scope's account.
async fn load_key(scope: &AccountScope, key_id: ProjectKeyId) -> Result<project_key::Model> {
    let key = repo::projects::get_key(scope, scope.db().conn(), key_id).await?;
    load_project(scope, ProjectId(key.project_id)).await?;
    Ok(key)
}

/// Adds a DSN key to a project. Requires `Admin`.
pub async fn create_key(
    scope: &AccountScope,
    public_url: &url::Url,
    project_id: ProjectId,
    label: &str,
) -> Result<ProjectKey> {
    scope.require(Role::Admin)?;
    let label = validate_name("label", label)?;
    load_project(scope, project_id).await?;
    let txn = scope.db().begin_write().await?;
    let key = repo::projects::insert_key(
        scope,
        &txn,
        project_id,
        generate_public_key(),
        label.clone(),
        chrono::Utc::now(),
    )
    .await?;
    audit::record(
        &txn,
        scope,
        "key.create",
        format!("key:{}", key.id),
        json!({"project_id": project_id.0, "label": label}),
    )
    .await?;
    txn.commit().await?;
    Ok(to_key(&key, public_url))
}

/// What to change on a key.
#[derive(Clone, Debug, Default)]
pub struct KeyChange {
    /// New label.
    pub label: Option<String>,
    /// Enable or disable.
    pub is_active: Option<bool>,
    /// Set (`Some(Some(n))`) or clear (`Some(None)`) the per-minute rate limit.
    pub rate_limit_per_minute: Option<Option<i32>>,
    /// Replace the public key (the old DSN stops working).
    pub rotate: bool,
}

/// Changes a key: label, enabled, rate limit, or a new public key (rotation). Requires
/// `Admin`. Ingest on this process sees the change at once, other processes within a minute.
pub async fn update_key(
    scope: &AccountScope,
    public_url: &url::Url,
    key_id: ProjectKeyId,
    change: KeyChange,
) -> Result<ProjectKey> {
    scope.require(Role::Admin)?;
    let row = load_key(scope, key_id).await?;
    let mut model = repo::projects::KeyUpdate::default();
    let mut details = serde_json::Map::new();
    let mut action = "key.update";
    if let Some(label) = &change.label {
        let label = validate_name("label", label)?;
        details.insert("label".into(), json!(label));
        model.label = Some(label);
    }
    if let Some(active) = change.is_active {
        details.insert("is_active".into(), json!(active));
        model.is_active = Some(active);
        action = if active { "key.enable" } else { "key.disable" };
    }
    if let Some(limit) = change.rate_limit_per_minute {
        if let Some(n) = limit
            && !(1..=1_000_000).contains(&n)
        {
            return Err(Error::validation(
                "rateLimitPerMinute",
                "must be between 1 and 1000000, or null for the plan's limit",
            ));
        }
        details.insert("rate_limit_per_minute".into(), json!(limit));
        model.rate_limit_per_minute = Some(limit);
    }
    if change.rotate {
        model.public_key = Some(generate_public_key());
        details.insert(
            "old_public_key_prefix".into(),
            json!(&row.public_key[..8.min(row.public_key.len())]),
        );
        action = "key.rotate";
    }
    let txn = scope.db().begin_write().await?;
    let updated = repo::projects::update_key(scope, &txn, key_id, model).await?;
    audit::record(
        &txn,
        scope,
        action,
        format!("key:{key_id}"),
        serde_json::Value::Object(details),
    )
    .await?;
    txn.commit().await?;
    crate::service::ingest::keys_changed();
    Ok(to_key(&updated, public_url))
}

/// The project a key belongs to, if the key is in the scope's account.
pub async fn key_project(scope: &AccountScope, key_id: ProjectKeyId) -> Result<ProjectId> {
    Ok(ProjectId(load_key(scope, key_id).await?.project_id))
}
