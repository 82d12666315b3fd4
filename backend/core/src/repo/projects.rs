//! Projects and their DSN keys.
//!
//! Identifiers: a misspelled table or column is a compile error.
//!
//! Also [`owner`]: the account of a row of any tenant table, for ids that arrive without it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Order, Query, SelectStatement, UpdateStatement,
};
use sea_orm::{ConnectionTrait, DeriveIden, FromQueryResult, QueryResult};

use super::entity::{project, project_key};
use super::{ProjectTable, Tenant, TenantTable, delete, select, update};
use crate::error::OnConflict;
use crate::ids::{AccountId, ProjectId, ProjectKeyId};
use crate::scope::AccountScope;
use crate::{Error, Result};

/// The `projects` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Projects {
    Table,
    Id,
    AccountId,
    Slug,
    Name,
    Platform,
    CreatedAt,
    FingerprintRules,
    DeletedAt,
}

impl TenantTable for Projects {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `project_keys` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ProjectKeys {
    Table,
    Id,
    AccountId,
    ProjectId,
    PublicKey,
    Label,
    IsActive,
    RateLimitPerMinute,
    CreatedAt,
}

impl TenantTable for ProjectKeys {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for ProjectKeys {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The account owning row `id` of the tenant table `T` (`None`: no such row). Unscoped by
/// necessity: the answer only ever feeds a membership check (`service::locate`).
pub(crate) async fn owner_unscoped<T: TenantTable>(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<AccountId>> {
    account_of_row(conn, &owner_query::<T>(id)).await
}

/// [`owner_unscoped`] of a project that is not deleted.
pub(crate) async fn owner_of_live_unscoped(
    conn: &impl ConnectionTrait,
    project: ProjectId,
) -> Result<Option<AccountId>> {
    let query = owner_query::<Projects>(project.0)
        .and_where(Expr::col(Projects::DeletedAt).is_null())
        .to_owned();
    account_of_row(conn, &query).await
}

/// `SELECT account_id FROM T WHERE id = ?`.
fn owner_query<T: TenantTable>(id: i64) -> SelectStatement {
    Query::select()
        .column(T::ACCOUNT_ID)
        .from(T::TABLE)
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned()
}

async fn account_of_row(
    conn: &impl ConnectionTrait,
    query: &SelectStatement,
) -> Result<Option<AccountId>> {
    Ok(conn
        .query_one(query)
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .map(AccountId))
}

/// The ids of the tenant's live projects (only `project` when given).
pub(crate) async fn live_ids(
    scope: &AccountScope,
    project: Option<ProjectId>,
) -> Result<Vec<ProjectId>> {
    let mut query = select::<Projects>(scope)
        .column(Projects::Id)
        .and_where(Expr::col(Projects::DeletedAt).is_null())
        .to_owned();
    if let Some(p) = project {
        query.and_where(Expr::col(Projects::Id).eq(p.0));
    }
    scope
        .db()
        .conn()
        .query_all(&query)
        .await?
        .iter()
        .map(|r| Ok(ProjectId(r.try_get_by_index(0)?)))
        .collect()
}

/// Projects to purge, across accounts: those marked deleted and every project of the
/// `deleted_accounts`. Unscoped: the purge job works on every tenant.
pub(crate) async fn marked_for_purge(
    conn: &impl ConnectionTrait,
    deleted_accounts: &[AccountId],
) -> Result<Vec<(AccountId, ProjectId)>> {
    let query = Query::select()
        .columns([Projects::AccountId, Projects::Id])
        .from(Projects::Table)
        .cond_where(
            sea_orm::Condition::any()
                .add(Expr::col(Projects::DeletedAt).is_not_null())
                .add(Expr::col(Projects::AccountId).is_in(deleted_accounts.iter().map(|a| a.0))),
        )
        .to_owned();
    conn.query_all(&query)
        .await?
        .iter()
        .map(|r| {
            Ok((
                AccountId(r.try_get_by_index(0)?),
                ProjectId(r.try_get_by_index(1)?),
            ))
        })
        .collect()
}

/// Deletes a project row (its foreign keys cascade to the rest).
pub(crate) async fn delete_project(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
) -> Result<()> {
    let statement = delete::<Projects>(tenant)
        .and_where(Expr::col(Projects::Id).eq(project.0))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

// ---- projects and keys of the services ----------------------------------------------------

/// `SELECT projects.* … WHERE deleted_at IS NULL ORDER BY id`, of `tenant` or (`None`) of every
/// account.
fn live_projects(tenant: Option<Tenant>) -> SelectStatement {
    let mut query = match tenant {
        Some(tenant) => select::<Projects>(tenant),
        None => Query::select().from(Projects::Table).to_owned(),
    };
    query
        .column((Projects::Table, Asterisk))
        .and_where(Expr::col((Projects::Table, Projects::DeletedAt)).is_null())
        .order_by((Projects::Table, Projects::Id), Order::Asc)
        .to_owned()
}

/// `SELECT project_keys.* … ORDER BY id`, of `tenant` or (`None`) of every account.
fn keys(tenant: Option<Tenant>) -> SelectStatement {
    let mut query = match tenant {
        Some(tenant) => select::<ProjectKeys>(tenant),
        None => Query::select().from(ProjectKeys::Table).to_owned(),
    };
    query
        .column((ProjectKeys::Table, Asterisk))
        .order_by((ProjectKeys::Table, ProjectKeys::Id), Order::Asc)
        .to_owned()
}

fn project_row(row: &QueryResult) -> Result<project::Model> {
    Ok(project::Model::from_query_result(row, "")?)
}

fn key_row(row: &QueryResult) -> Result<project_key::Model> {
    Ok(project_key::Model::from_query_result(row, "")?)
}

async fn all<T>(
    conn: &impl ConnectionTrait,
    query: &SelectStatement,
    row: fn(&QueryResult) -> Result<T>,
) -> Result<Vec<T>> {
    conn.query_all(query).await?.iter().map(row).collect()
}

/// The tenant's live projects, oldest first.
pub(crate) async fn list_live(scope: &AccountScope) -> Result<Vec<project::Model>> {
    all(
        scope.db().conn(),
        &live_projects(Some(scope.into())),
        project_row,
    )
    .await
}

/// Every account's live projects, oldest first. Across accounts: for the `errorwatch project
/// list` admin command only, which runs without a scope.
pub(crate) async fn list_live_all_accounts(
    conn: &impl ConnectionTrait,
) -> Result<Vec<project::Model>> {
    all(conn, &live_projects(None), project_row).await
}

/// The DSN keys of the tenant's projects (active and disabled), oldest first.
pub(crate) async fn list_keys(scope: &AccountScope) -> Result<Vec<project_key::Model>> {
    all(scope.db().conn(), &keys(Some(scope.into())), key_row).await
}

/// Every account's DSN keys, oldest first. Across accounts: for the `errorwatch project list`
/// admin command only, which runs without a scope.
pub(crate) async fn list_keys_all_accounts(
    conn: &impl ConnectionTrait,
) -> Result<Vec<project_key::Model>> {
    all(conn, &keys(None), key_row).await
}

/// A live project of the tenant; `NotFound` for another account's and deleted ones.
pub(crate) async fn get_live(scope: &AccountScope, id: ProjectId) -> Result<project::Model> {
    let query = live_projects(Some(scope.into()))
        .and_where(Expr::col((Projects::Table, Projects::Id)).eq(id.0))
        .to_owned();
    let row = scope
        .db()
        .conn()
        .query_one(&query)
        .await?
        .ok_or(Error::NotFound)?;
    project_row(&row)
}

/// Inserts a project into the tenant's account; returns it. `Conflict` when the account has a
/// project with this slug.
pub(crate) async fn insert(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    slug: String,
    name: String,
    platform: Option<String>,
    created_at: DateTime<Utc>,
) -> Result<project::Model> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(Projects::Table)
        .columns([
            Projects::AccountId,
            Projects::Slug,
            Projects::Name,
            Projects::Platform,
            Projects::FingerprintRules,
            Projects::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            slug.into(),
            name.into(),
            platform.into(),
            String::new().into(),
            created_at.into(),
        ])
        .returning_all()
        .to_owned();
    let row = conn
        .query_one(&statement)
        .await
        .on_conflict("a project with this name already exists in the account")?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("INSERT … RETURNING returned no row")))?;
    project_row(&row)
}

/// Runs an `UPDATE projects … WHERE account_id = tenant` on project `id`; `NotFound` when the
/// tenant has no such project.
async fn update_project(
    conn: &impl ConnectionTrait,
    mut statement: UpdateStatement,
    id: ProjectId,
) -> Result<()> {
    statement.and_where(Expr::col(Projects::Id).eq(id.0));
    match conn.execute(&statement).await?.rows_affected() {
        0 => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// Renames a project of the tenant.
pub(crate) async fn set_name(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: ProjectId,
    name: String,
) -> Result<()> {
    let statement = update::<Projects>(tenant)
        .value(Projects::Name, name)
        .to_owned();
    update_project(conn, statement, id).await
}

/// Replaces the fingerprint rules of a project of the tenant.
pub(crate) async fn set_fingerprint_rules(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: ProjectId,
    rules: String,
) -> Result<()> {
    let statement = update::<Projects>(tenant)
        .value(Projects::FingerprintRules, rules)
        .to_owned();
    update_project(conn, statement, id).await
}

/// Marks a project of the tenant deleted and disables its keys (the purge job removes its data
/// and the row later).
pub(crate) async fn mark_deleted(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: ProjectId,
    at: DateTime<Utc>,
) -> Result<()> {
    let tenant = tenant.into();
    let project = update::<Projects>(tenant)
        .value(Projects::DeletedAt, Some(at))
        .and_where(Expr::col(Projects::Id).eq(id.0))
        .to_owned();
    conn.execute(&project).await?;
    let keys = update::<ProjectKeys>(tenant)
        .value(ProjectKeys::IsActive, false)
        .and_where(Expr::col(ProjectKeys::ProjectId).eq(id.0))
        .to_owned();
    conn.execute(&keys).await?;
    Ok(())
}

/// A DSN key of the tenant (of any of its projects, deleted ones included); `NotFound` for
/// another account's.
pub(crate) async fn get_key(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: ProjectKeyId,
) -> Result<project_key::Model> {
    let query = keys(Some(tenant.into()))
        .and_where(Expr::col((ProjectKeys::Table, ProjectKeys::Id)).eq(id.0))
        .to_owned();
    let row = conn.query_one(&query).await?.ok_or(Error::NotFound)?;
    key_row(&row)
}

/// Inserts an active DSN key without a rate limit for a project of the tenant; returns it.
pub(crate) async fn insert_key(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    project: ProjectId,
    public_key: String,
    label: String,
    created_at: DateTime<Utc>,
) -> Result<project_key::Model> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(ProjectKeys::Table)
        .columns([
            ProjectKeys::AccountId,
            ProjectKeys::ProjectId,
            ProjectKeys::PublicKey,
            ProjectKeys::Label,
            ProjectKeys::IsActive,
            ProjectKeys::RateLimitPerMinute,
            ProjectKeys::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            public_key.into(),
            label.into(),
            true.into(),
            Option::<i32>::None.into(),
            created_at.into(),
        ])
        .returning_all()
        .to_owned();
    let row = conn
        .query_one(&statement)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("INSERT … RETURNING returned no row")))?;
    key_row(&row)
}

/// What to write on a DSN key (`None`: leave as is).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyUpdate {
    pub label: Option<String>,
    pub is_active: Option<bool>,
    pub rate_limit_per_minute: Option<Option<i32>>,
    pub public_key: Option<String>,
}

/// Writes `change` on a DSN key of the tenant; returns the key as it is now (`NotFound`: not
/// the tenant's).
pub(crate) async fn update_key(
    tenant: impl Into<Tenant>,
    conn: &impl ConnectionTrait,
    id: ProjectKeyId,
    change: KeyUpdate,
) -> Result<project_key::Model> {
    let tenant = tenant.into();
    let mut statement = update::<ProjectKeys>(tenant);
    let mut any = false;
    if let Some(label) = change.label {
        statement.value(ProjectKeys::Label, label);
        any = true;
    }
    if let Some(active) = change.is_active {
        statement.value(ProjectKeys::IsActive, active);
        any = true;
    }
    if let Some(limit) = change.rate_limit_per_minute {
        statement.value(ProjectKeys::RateLimitPerMinute, limit);
        any = true;
    }
    if let Some(public_key) = change.public_key {
        statement.value(ProjectKeys::PublicKey, public_key);
        any = true;
    }
    if !any {
        return get_key(tenant, conn, id).await;
    }
    statement
        .and_where(Expr::col(ProjectKeys::Id).eq(id.0))
        .returning_all();
    let row = conn.query_one(&statement).await?.ok_or(Error::NotFound)?;
    key_row(&row)
}
