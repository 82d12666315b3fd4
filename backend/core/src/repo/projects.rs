//! Projects and their DSN keys.
//!
//! Identifiers: a misspelled table or column is a compile error.
//!
//! Also [`owner`]: the account of a row of any tenant table, for ids that arrive without it.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DeriveIden};

use super::{ProjectTable, Tenant, TenantTable, delete, select};
use crate::Result;
use crate::ids::{AccountId, ProjectId};
use crate::scope::AccountScope;

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
