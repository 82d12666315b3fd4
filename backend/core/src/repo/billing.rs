//! Subscriptions and usage (periods and the leases instances hold on them).
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Order, Query, SimpleExpr};
use sea_orm::sea_query::{InsertStatement, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden, FromQueryResult};

use super::members::Memberships;
use super::{Tenant, TenantTable, select, update};
use crate::ids::AccountId;

/// The `subscriptions` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Subscriptions {
    Table,
    AccountId,
    PlanId,
    Status,
    StripeCustomerId,
    StripeSubscriptionId,
    CurrentPeriodStart,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    PastDueSince,
    StripeVersion,
    UpdatedAt,
}

impl TenantTable for Subscriptions {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `usage_periods` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum UsagePeriods {
    Table,
    AccountId,
    PeriodStart,
    Category,
    Quantity,
    NotifiedPercent,
    UpdatedAt,
}

impl TenantTable for UsagePeriods {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `usage_leases` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum UsageLeases {
    Table,
    InstanceId,
    AccountId,
    PeriodStart,
    Category,
    Amount,
    HeartbeatAt,
}

impl TenantTable for UsageLeases {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

// ---------------------------------------------------------------------------------------------
// Subscriptions.
// ---------------------------------------------------------------------------------------------

/// What quotas read of a subscription.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct SubscriptionPlan {
    pub plan_id: i64,
    pub status: String,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
}

/// The tenant's plan, status and period, if it has a subscription row.
pub(crate) async fn subscription_plan(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
) -> Result<Option<SubscriptionPlan>, DbErr> {
    let statement = select::<Subscriptions>(tenant)
        .columns([
            Subscriptions::PlanId,
            Subscriptions::Status,
            Subscriptions::CurrentPeriodStart,
            Subscriptions::CurrentPeriodEnd,
        ])
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| SubscriptionPlan::from_query_result(&row, ""))
        .transpose()
}

/// A subscription row as sync stores it: every column but the key and the write time.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct SubscriptionRecord {
    pub plan_id: i64,
    pub status: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    pub past_due_since: Option<DateTime<Utc>>,
    pub stripe_version: i64,
}

/// The columns a subscription upsert writes, the conflict key (`account_id`) first and the
/// write time last.
const SUBSCRIPTION_COLUMNS: [Subscriptions; 11] = [
    Subscriptions::AccountId,
    Subscriptions::PlanId,
    Subscriptions::Status,
    Subscriptions::StripeCustomerId,
    Subscriptions::StripeSubscriptionId,
    Subscriptions::CurrentPeriodStart,
    Subscriptions::CurrentPeriodEnd,
    Subscriptions::CancelAtPeriodEnd,
    Subscriptions::PastDueSince,
    Subscriptions::StripeVersion,
    Subscriptions::UpdatedAt,
];

/// The tenant's subscription row.
pub(crate) async fn subscription(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
) -> Result<Option<SubscriptionRecord>, DbErr> {
    let statement = select::<Subscriptions>(tenant)
        // The state an upsert writes: its columns but the key and the write time.
        .columns(
            SUBSCRIPTION_COLUMNS[1..SUBSCRIPTION_COLUMNS.len() - 1]
                .iter()
                .copied(),
        )
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| SubscriptionRecord::from_query_result(&row, ""))
        .transpose()
}

/// The account linked to the Stripe customer `customer`.
///
/// Crosses tenants: a Stripe event names a customer, and this is how its account is found
/// (a customer belongs to one account: the column is unique).
pub(crate) async fn customer_account_all_accounts(
    conn: &impl ConnectionTrait,
    customer: &str,
) -> Result<Option<AccountId>, DbErr> {
    let statement = Query::select()
        .column(Subscriptions::AccountId)
        .from(Subscriptions::Table)
        .and_where(Expr::col(Subscriptions::StripeCustomerId).eq(customer))
        .to_owned();
    Ok(match conn.query_one(&statement).await? {
        Some(row) => Some(AccountId(row.try_get("", "account_id")?)),
        None => None,
    })
}

/// The state sync stores for an account.
#[derive(Clone, Debug)]
pub(crate) struct SubscriptionState<'a> {
    pub plan_id: i64,
    pub status: &'a str,
    pub stripe_customer_id: &'a str,
    pub stripe_subscription_id: Option<&'a str>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    pub past_due_since: Option<DateTime<Utc>>,
    /// When this state was read from Stripe (ms).
    pub stripe_version: i64,
}

/// Upserts the tenant's subscription unless the stored state was read from Stripe later than
/// `state`; true when written. A unique violation means the customer belongs to another
/// account.
pub(crate) async fn upsert_subscription(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    state: &SubscriptionState<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let tenant = tenant.into();
    let upsert = Query::insert()
        .into_table(Subscriptions::Table)
        .columns(SUBSCRIPTION_COLUMNS)
        .values_panic([
            tenant.account_id().0.into(),
            state.plan_id.into(),
            state.status.into(),
            state.stripe_customer_id.into(),
            state.stripe_subscription_id.map(str::to_owned).into(),
            state.current_period_start.into(),
            state.current_period_end.into(),
            state.cancel_at_period_end.into(),
            state.past_due_since.into(),
            state.stripe_version.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column(Subscriptions::AccountId)
                // Everything but the key.
                .update_columns(SUBSCRIPTION_COLUMNS[1..].iter().copied())
                .action_and_where(
                    Expr::col((Subscriptions::Table, Subscriptions::StripeVersion))
                        .lte(state.stripe_version),
                )
                .to_owned(),
        )
        .to_owned();
    Ok(conn.execute(&upsert).await?.rows_affected() > 0)
}

/// Stores `customer` as the tenant's customer unless it has one; a new row starts in status
/// `incomplete` on `plan_id` for `period`.
pub(crate) async fn link_customer(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    customer: &str,
    plan_id: i64,
    period: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tenant = tenant.into();
    let insert = Query::insert()
        .into_table(Subscriptions::Table)
        .columns([
            Subscriptions::AccountId,
            Subscriptions::PlanId,
            Subscriptions::Status,
            Subscriptions::StripeCustomerId,
            Subscriptions::CurrentPeriodStart,
            Subscriptions::CurrentPeriodEnd,
            Subscriptions::CancelAtPeriodEnd,
            Subscriptions::StripeVersion,
            Subscriptions::UpdatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            plan_id.into(),
            "incomplete".into(),
            customer.into(),
            period.0.into(),
            period.1.into(),
            false.into(),
            0i64.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column(Subscriptions::AccountId)
                .update_column(Subscriptions::StripeCustomerId)
                .action_and_where(
                    Expr::col((Subscriptions::Table, Subscriptions::StripeCustomerId)).is_null(),
                )
                .to_owned(),
        )
        .to_owned();
    conn.execute(&insert).await?;
    Ok(())
}

/// Moves every subscription past due since `cutoff` or earlier to `default_plan_id`; returns
/// how many moved.
///
/// Crosses tenants: the reconcile job applies the grace period to the whole installation.
pub(crate) async fn downgrade_lapsed_all_accounts(
    conn: &impl ConnectionTrait,
    default_plan_id: i64,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let statement = Query::update()
        .table(Subscriptions::Table)
        .value(Subscriptions::PlanId, default_plan_id)
        .value(Subscriptions::UpdatedAt, now)
        .and_where(Expr::col(Subscriptions::Status).eq("past_due"))
        .and_where(Expr::col(Subscriptions::PastDueSince).lte(cutoff))
        .and_where(Expr::col(Subscriptions::PlanId).ne(default_plan_id))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// Every account linked to a Stripe customer, with its customer, by account.
///
/// Crosses tenants: the reconcile job compares every linked account with Stripe.
pub(crate) async fn linked_customers_all_accounts(
    conn: &impl ConnectionTrait,
) -> Result<Vec<(AccountId, String)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        account_id: i64,
        stripe_customer_id: String,
    }
    let statement = Query::select()
        .columns([Subscriptions::AccountId, Subscriptions::StripeCustomerId])
        .from(Subscriptions::Table)
        .and_where(Expr::col(Subscriptions::StripeCustomerId).is_not_null())
        .order_by(Subscriptions::AccountId, Order::Asc)
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| {
            Record::from_query_result(row, "")
                .map(|r| (AccountId(r.account_id), r.stripe_customer_id))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Usage periods and leases (the quota layer; its statement counts are part of the ingest hot
// path's budget: one function, one statement).
// ---------------------------------------------------------------------------------------------

/// One usage row of the tenant's period: the key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UsageKey<'a> {
    pub period_start: DateTime<Utc>,
    pub category: &'a str,
}

/// `INSERT INTO usage_periods` of one row (the caller adds its `ON CONFLICT`).
fn usage_row(
    tenant: Tenant,
    key: UsageKey<'_>,
    quantity: i64,
    now: DateTime<Utc>,
) -> InsertStatement {
    Query::insert()
        .into_table(UsagePeriods::Table)
        .columns([
            UsagePeriods::AccountId,
            UsagePeriods::PeriodStart,
            UsagePeriods::Category,
            UsagePeriods::Quantity,
            UsagePeriods::NotifiedPercent,
            UsagePeriods::UpdatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            key.period_start.into(),
            key.category.into(),
            quantity.into(),
            0i16.into(),
            now.into(),
        ])
        .to_owned()
}

const USAGE_KEY: [UsagePeriods; 3] = [
    UsagePeriods::AccountId,
    UsagePeriods::PeriodStart,
    UsagePeriods::Category,
];

/// Adds `used` to the tenant's usage row (inserting it at `used`).
pub(crate) async fn add_usage(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
    used: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let upsert = usage_row(tenant.into(), key, used, now)
        .on_conflict(
            OnConflict::columns(USAGE_KEY)
                .value(
                    UsagePeriods::Quantity,
                    Expr::col((UsagePeriods::Table, UsagePeriods::Quantity)).add(used),
                )
                .value(UsagePeriods::UpdatedAt, now)
                .to_owned(),
        )
        .to_owned();
    conn.execute(&upsert).await?;
    Ok(())
}

/// Inserts the tenant's usage row at 0 unless it exists.
pub(crate) async fn ensure_usage_row(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let insert = usage_row(tenant.into(), key, 0, now)
        .on_conflict(OnConflict::columns(USAGE_KEY).do_nothing().to_owned())
        .to_owned();
    conn.execute(&insert).await?;
    Ok(())
}

/// Sets the usage row's `updated_at`, which takes its row lock (PostgreSQL) before the caller
/// reads what is left.
pub(crate) async fn lock_usage_row(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let touch = update::<UsagePeriods>(tenant)
        .value(UsagePeriods::UpdatedAt, now)
        .and_where(Expr::col(UsagePeriods::PeriodStart).eq(key.period_start))
        .and_where(Expr::col(UsagePeriods::Category).eq(key.category))
        .to_owned();
    conn.execute(&touch).await?;
    Ok(())
}

/// The stored quantity of the tenant's usage row (0 without one).
pub(crate) async fn usage_quantity(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
) -> Result<i64, DbErr> {
    scalar_i64(
        conn,
        Expr::col(UsagePeriods::Quantity),
        select::<UsagePeriods>(tenant)
            .and_where(Expr::col(UsagePeriods::PeriodStart).eq(key.period_start))
            .and_where(Expr::col(UsagePeriods::Category).eq(key.category))
            .to_owned(),
    )
    .await
}

/// Units of the tenant's usage row held by live leases: `instance_id`'s own and every lease
/// renewed after `live_since`.
pub(crate) async fn leased_units(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
    instance_id: &str,
    live_since: DateTime<Utc>,
) -> Result<i64, DbErr> {
    scalar_i64(
        conn,
        Func::cast_as(
            Func::sum(Expr::col(UsageLeases::Amount)),
            Alias::new("BIGINT"),
        )
        .into(),
        select::<UsageLeases>(tenant)
            .and_where(Expr::col(UsageLeases::PeriodStart).eq(key.period_start))
            .and_where(Expr::col(UsageLeases::Category).eq(key.category))
            .and_where(
                Expr::col(UsageLeases::InstanceId)
                    .eq(instance_id)
                    .or(Expr::col(UsageLeases::HeartbeatAt).gt(live_since)),
            )
            .to_owned(),
    )
    .await
}

/// Adds `grant` units to `instance_id`'s lease on the tenant's usage row (creating it).
pub(crate) async fn grant_lease(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
    instance_id: &str,
    grant: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tenant = tenant.into();
    let upsert = Query::insert()
        .into_table(UsageLeases::Table)
        .columns([
            UsageLeases::InstanceId,
            UsageLeases::AccountId,
            UsageLeases::PeriodStart,
            UsageLeases::Category,
            UsageLeases::Amount,
            UsageLeases::HeartbeatAt,
        ])
        .values_panic([
            instance_id.into(),
            tenant.account_id().0.into(),
            key.period_start.into(),
            key.category.into(),
            grant.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                UsageLeases::AccountId,
                UsageLeases::PeriodStart,
                UsageLeases::Category,
                UsageLeases::InstanceId,
            ])
            .value(
                UsageLeases::Amount,
                Expr::col((UsageLeases::Table, UsageLeases::Amount)).add(grant),
            )
            .value(UsageLeases::HeartbeatAt, now)
            .to_owned(),
        )
        .to_owned();
    conn.execute(&upsert).await?;
    Ok(())
}

/// What becomes of a lease when its used units are flushed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LeaseSettlement {
    /// This many units leave the lease (used, or handed back).
    Subtract(i64),
    /// A finished period: the whole lease goes.
    Empty,
}

/// Settles `instance_id`'s lease on the tenant's usage row and renews it.
pub(crate) async fn settle_lease(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
    instance_id: &str,
    settlement: LeaseSettlement,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut statement = update::<UsageLeases>(tenant);
    statement.value(UsageLeases::HeartbeatAt, now);
    match settlement {
        LeaseSettlement::Empty => statement.value(UsageLeases::Amount, 0i64),
        LeaseSettlement::Subtract(units) => statement.value(
            UsageLeases::Amount,
            Expr::col(UsageLeases::Amount).sub(units),
        ),
    };
    statement
        .and_where(Expr::col(UsageLeases::InstanceId).eq(instance_id))
        .and_where(Expr::col(UsageLeases::PeriodStart).eq(key.period_start))
        .and_where(Expr::col(UsageLeases::Category).eq(key.category));
    conn.execute(&statement).await?;
    Ok(())
}

/// Deletes every lease of `instance_id` (its shutdown).
///
/// Crosses tenants: one process holds leases of every account it ingests for.
pub(crate) async fn release_instance_leases_all_accounts(
    conn: &impl ConnectionTrait,
    instance_id: &str,
) -> Result<(), DbErr> {
    let statement = Query::delete()
        .from_table(UsageLeases::Table)
        .and_where(Expr::col(UsageLeases::InstanceId).eq(instance_id))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// Renews every lease of `instance_id` (its heartbeat).
///
/// Crosses tenants: one process holds leases of every account it ingests for.
pub(crate) async fn renew_instance_leases_all_accounts(
    conn: &impl ConnectionTrait,
    instance_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let statement = Query::update()
        .table(UsageLeases::Table)
        .value(UsageLeases::HeartbeatAt, now)
        .and_where(Expr::col(UsageLeases::InstanceId).eq(instance_id))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// Records that the owners were warned at `level` % for the tenant's usage row, unless they
/// were at that level or higher already; true when this call claimed the warning.
pub(crate) async fn claim_usage_warning(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    key: UsageKey<'_>,
    level: i16,
) -> Result<bool, DbErr> {
    let claim = update::<UsagePeriods>(tenant)
        .value(UsagePeriods::NotifiedPercent, level)
        .and_where(Expr::col(UsagePeriods::PeriodStart).eq(key.period_start))
        .and_where(Expr::col(UsagePeriods::Category).eq(key.category))
        .and_where(Expr::col(UsagePeriods::NotifiedPercent).lt(level))
        .to_owned();
    Ok(conn.execute(&claim).await?.rows_affected() > 0)
}

/// The tenant's stored usage of the period starting at `period_start`, as (category, quantity).
pub(crate) async fn period_usage(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    period_start: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        category: String,
        quantity: i64,
    }
    let statement = select::<UsagePeriods>(tenant)
        .columns([UsagePeriods::Category, UsagePeriods::Quantity])
        .and_where(Expr::col(UsagePeriods::PeriodStart).eq(period_start))
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| Record::from_query_result(row, "").map(|r| (r.category, r.quantity)))
        .collect()
}

/// `SELECT <expr> AS value <from/where of select>` as one number (0 when no row or NULL).
/// (A generic helper; it lives here until `repo/mod.rs` offers one.)
async fn scalar_i64(
    conn: &impl ConnectionTrait,
    expr: SimpleExpr,
    mut select: SelectStatement,
) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct ScalarRow {
        value: Option<i64>,
    }
    select.expr_as(expr, Alias::new("value"));
    let row = conn
        .query_one(&select)
        .await?
        .map(|row| ScalarRow::from_query_result(&row, ""))
        .transpose()?;
    Ok(row.and_then(|r| r.value).unwrap_or(0))
}

// --- Another family's table, read for billing emails -----------------------------------------
// This reads `memberships` (joined with `users`); it lives here until `repo::members` offers
// the same read.

/// The email addresses of the tenant's owners.
pub(crate) async fn owner_emails(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
) -> Result<Vec<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        email: String,
    }
    #[derive(Clone, Copy, DeriveIden)]
    enum Users {
        Table,
        Id,
        Email,
    }
    let statement = select::<Memberships>(tenant)
        .column((Users::Table, Users::Email))
        .inner_join(
            Users::Table,
            Expr::col((Users::Table, Users::Id)).equals((Memberships::Table, Memberships::UserId)),
        )
        .and_where(Expr::col((Memberships::Table, Memberships::Role)).eq("owner"))
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| Record::from_query_result(row, "").map(|r| r.email))
        .collect()
}
