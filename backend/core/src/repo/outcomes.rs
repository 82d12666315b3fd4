//! Outcomes: what happened to ingested items, per project, category and hour.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden};

use super::{ProjectTable, Tenant, TenantTable};
use crate::ids::ProjectId;

/// The `outcomes` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Outcomes {
    Table,
    Id,
    AccountId,
    ProjectId,
    Hour,
    Category,
    Outcome,
    Reason,
    Quantity,
}

impl TenantTable for Outcomes {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Outcomes {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// One outcome count: what happened to `quantity` items of a project in an hour.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutcomeCount<'a> {
    pub project_id: ProjectId,
    pub hour: DateTime<Utc>,
    pub category: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
    pub quantity: i64,
}

/// Adds `count` to the tenant's outcome row (insert or increment).
pub(crate) async fn add(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    count: OutcomeCount<'_>,
) -> Result<(), DbErr> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(Outcomes::Table)
        .columns([
            Outcomes::AccountId,
            Outcomes::ProjectId,
            Outcomes::Hour,
            Outcomes::Category,
            Outcomes::Outcome,
            Outcomes::Reason,
            Outcomes::Quantity,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            count.project_id.0.into(),
            count.hour.into(),
            count.category.into(),
            count.outcome.into(),
            count.reason.into(),
            count.quantity.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                Outcomes::ProjectId,
                Outcomes::Hour,
                Outcomes::Category,
                Outcomes::Outcome,
                Outcomes::Reason,
            ])
            .value(
                Outcomes::Quantity,
                Expr::col((Outcomes::Table, Outcomes::Quantity))
                    .add(Expr::col((Alias::new("excluded"), Outcomes::Quantity))),
            )
            .to_owned(),
        )
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}
