//! The data layer: every query on a tenant table (a table with an `account_id` column) lives in
//! this module, one file per table family, and starts from the tenant it may touch.
//!
//! - Each family file owns its tables' identifiers (`DeriveIden` enums: a misspelled table or
//!   column is a compile error), its row structs and column lists once, and the queries.
//! - A query starts from [`select`], [`update`] or [`delete`], which take a [`Tenant`] and add
//!   the `account_id` filter themselves; inserts write the tenant's id from the same value. A
//!   [`Tenant`] comes from an `AccountScope` (a caller whose membership was checked) or, on the
//!   ingest path, from the account a DSN key resolved when the envelope was accepted
//!   ([`Tenant::ingested`]); both are explicit at the call site.
//! - Services keep the role checks and the business rules and call these functions; the
//!   architecture test (`server/tests/it/architecture.rs`) fails when SQL text outside this
//!   module and the migrations names a tenant table.
//!
//! Invariant: nothing here is public outside the crate.

pub(crate) mod alerts;
pub(crate) mod artifacts;
pub(crate) mod attachments;
pub(crate) mod audit;
pub(crate) mod billing;
pub(crate) mod checkins;
pub(crate) mod digest;
pub(crate) mod entity;
pub(crate) mod events;
pub(crate) mod feedback;
pub(crate) mod issues;
pub(crate) mod members;
pub(crate) mod outcomes;
pub(crate) mod projects;
pub(crate) mod releases;
pub(crate) mod retention;
pub(crate) mod sessions;
pub(crate) mod spool;
pub(crate) mod stats;
pub(crate) mod tokens;

use sea_orm::sea_query::{
    DeleteStatement, Expr, ExprTrait, Iden, IntoIden, Query, SelectStatement, UpdateStatement,
};

use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

use crate::ids::{AccountId, IssueId, ProjectId};

/// A tenant table's identifiers: the table itself and its `account_id` column.
pub(crate) trait TenantTable: Iden + IntoIden + Copy + Send + Sync + 'static {
    /// The table.
    const TABLE: Self;
    /// Its `account_id` column.
    const ACCOUNT_ID: Self;
}

/// The one account a repository call may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tenant(AccountId);

impl Tenant {
    /// The account whose DSN key accepted an envelope: ingest resolved it from the key before
    /// spooling, and the spool row carries it to the digest (which works on many accounts in
    /// one batch, each row with its own).
    pub(crate) fn ingested(account: AccountId) -> Self {
        Self(account)
    }

    /// The account a caller names before its membership is checked: only the lookups that
    /// decide whether an `AccountScope` may be built (membership, token owner) start here.
    pub(crate) fn checking(account: AccountId) -> Self {
        Self(account)
    }

    /// The account.
    pub(crate) fn account_id(self) -> AccountId {
        self.0
    }
}

/// `SELECT … FROM table WHERE table.account_id = tenant`: the start of every tenant read.
pub(crate) fn select<T: TenantTable>(tenant: impl Into<Tenant>) -> SelectStatement {
    let tenant = tenant.into();
    Query::select()
        .from(T::TABLE)
        .and_where(Expr::col((T::TABLE, T::ACCOUNT_ID)).eq(tenant.0.0))
        .to_owned()
}

/// A tenant table whose rows belong to a project (a project belongs to one account).
pub(crate) trait ProjectTable: TenantTable {
    /// Its `project_id` column.
    const PROJECT_ID: Self;
}

/// A project and its account, as ingest resolved them together from a DSN key (the spool row
/// carries both) or as a scoped service loaded them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TenantProject {
    tenant: Tenant,
    project: ProjectId,
}

impl TenantProject {
    /// `project` of `tenant`: the caller resolved the pair together.
    pub(crate) fn new(tenant: Tenant, project: ProjectId) -> Self {
        Self { tenant, project }
    }
}

/// `SELECT … FROM table WHERE table.project_id = project`: the hot path's lookups by a project's
/// unique keys (`(project_id, event_id)`, `(project_id, hash)`). A project id names one
/// account's rows, so this is as narrow as [`select`]; without the `account_id` term SQLite
/// keeps choosing the unique `(project_id, …)` index over `(account_id, project_id, timestamp)`.
pub(crate) fn select_in_project<T: ProjectTable>(project: TenantProject) -> SelectStatement {
    Query::select()
        .from(T::TABLE)
        .and_where(Expr::col((T::TABLE, T::PROJECT_ID)).eq(project.project.0))
        .to_owned()
}

/// A tenant table whose rows belong to an issue and carry the hash of the fingerprint that
/// grouped them (events, issue fingerprints): merging and unmerging move such rows.
pub(crate) trait IssueTable: TenantTable {
    /// Its `issue_id` column.
    const ISSUE_ID: Self;
    /// Its fingerprint hash column.
    const HASH: Self;
}

/// Moves the tenant's rows of the `from` issues (only those of fingerprint `hash` when given)
/// to issue `to`.
pub(crate) async fn move_to_issue<T: IssueTable>(
    tenant: impl Into<Tenant>,
    conn: &impl sea_orm::ConnectionTrait,
    from: &[IssueId],
    hash: Option<&str>,
    to: IssueId,
) -> crate::Result<()> {
    let mut statement = update::<T>(tenant);
    statement
        .value(T::ISSUE_ID, to.0)
        .and_where(Expr::col(T::ISSUE_ID).is_in(from.iter().map(|id| id.0)));
    if let Some(hash) = hash {
        statement.and_where(Expr::col(T::HASH).eq(hash));
    }
    conn.execute(&statement).await?;
    Ok(())
}

/// `SELECT … FROM table WHERE table.account_id IN (tenants)`: a read across the accounts of one
/// digest batch (each row's account was resolved from its DSN key at ingest).
pub(crate) fn select_in<T: TenantTable>(tenants: &[Tenant]) -> SelectStatement {
    Query::select()
        .from(T::TABLE)
        .and_where(
            Expr::col((T::TABLE, T::ACCOUNT_ID)).is_in(tenants.iter().map(|t| t.account_id().0)),
        )
        .to_owned()
}

/// `UPDATE table … WHERE account_id = tenant`.
pub(crate) fn update<T: TenantTable>(tenant: impl Into<Tenant>) -> UpdateStatement {
    let tenant = tenant.into();
    Query::update()
        .table(T::TABLE)
        .and_where(Expr::col(T::ACCOUNT_ID).eq(tenant.0.0))
        .to_owned()
}

/// `DELETE FROM table WHERE account_id = tenant`.
pub(crate) fn delete<T: TenantTable>(tenant: impl Into<Tenant>) -> DeleteStatement {
    let tenant = tenant.into();
    Query::delete()
        .from_table(T::TABLE)
        .and_where(Expr::col(T::ACCOUNT_ID).eq(tenant.0.0))
        .to_owned()
}

/// A sea-orm entity of a tenant table: the same starting points for code that reads and
/// writes through entities (svix's `secure_find`).
pub(crate) trait TenantEntity: EntityTrait {
    /// Its `account_id` column.
    const ACCOUNT_ID: Self::Column;
}

/// `Entity::find()` narrowed to the tenant's rows.
pub(crate) fn find<E: TenantEntity>(tenant: impl Into<Tenant>) -> Select<E> {
    E::find().filter(E::ACCOUNT_ID.eq(tenant.into().0.0))
}

/// `Entity::update_many()` narrowed to the tenant's rows.
pub(crate) fn update_many<E: TenantEntity>(tenant: impl Into<Tenant>) -> UpdateMany<E> {
    E::update_many().filter(E::ACCOUNT_ID.eq(tenant.into().0.0))
}

/// `Entity::delete_many()` narrowed to the tenant's rows.
pub(crate) fn delete_many<E: TenantEntity>(tenant: impl Into<Tenant>) -> DeleteMany<E> {
    E::delete_many().filter(E::ACCOUNT_ID.eq(tenant.into().0.0))
}

impl TenantEntity for entity::membership::Entity {
    const ACCOUNT_ID: Self::Column = entity::membership::Column::AccountId;
}

impl TenantEntity for entity::invite::Entity {
    const ACCOUNT_ID: Self::Column = entity::invite::Column::AccountId;
}

impl TenantEntity for entity::project_key::Entity {
    const ACCOUNT_ID: Self::Column = entity::project_key::Column::AccountId;
}

impl TenantEntity for entity::api_token::Entity {
    const ACCOUNT_ID: Self::Column = entity::api_token::Column::AccountId;
}

impl TenantEntity for entity::project::Entity {
    const ACCOUNT_ID: Self::Column = entity::project::Column::AccountId;
}

impl TenantEntity for entity::issue::Entity {
    const ACCOUNT_ID: Self::Column = entity::issue::Column::AccountId;
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    use super::*;
    use crate::repo::events::Events;
    use crate::repo::issues::Issues;

    #[test]
    fn every_starting_point_filters_on_the_tenant() {
        let tenant = Tenant::ingested(AccountId(7));
        let read = select::<Events>(tenant)
            .column(Events::Id)
            .to_string(SqliteQueryBuilder);
        assert_eq!(
            read,
            r#"SELECT "id" FROM "events" WHERE "events"."account_id" = 7"#
        );
        let write = update::<Issues>(tenant)
            .value(Issues::Status, "resolved")
            .to_string(PostgresQueryBuilder);
        assert_eq!(
            write,
            r#"UPDATE "issues" SET "status" = 'resolved' WHERE "account_id" = 7"#
        );
        let gone = delete::<Events>(tenant).to_string(SqliteQueryBuilder);
        assert_eq!(gone, r#"DELETE FROM "events" WHERE "account_id" = 7"#);
    }
}
