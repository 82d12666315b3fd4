//! Alert rules, their targets and the notifications sent to them.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden, FromQueryResult};

use super::events::Events;
use super::issues::Issues;
use super::projects::Projects;
use super::{ProjectTable, Tenant, TenantTable, delete, select, update};
use crate::ids::{AccountId, AlertRuleId, AlertTargetId, IssueId, NotificationId, ProjectId};

/// The `alert_rules` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum AlertRules {
    Table,
    Id,
    AccountId,
    ProjectId,
    Name,
    TriggerKind,
    FrequencyCount,
    FrequencyMinutes,
    Filters,
    ActionIntervalMinutes,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

impl TenantTable for AlertRules {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for AlertRules {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `alert_rule_targets` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum AlertRuleTargets {
    Table,
    RuleId,
    TargetId,
    AccountId,
}

impl TenantTable for AlertRuleTargets {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `alert_targets` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum AlertTargets {
    Table,
    Id,
    AccountId,
    ProjectId,
    Name,
    Kind,
    Config,
    Secret,
    CreatedAt,
}

impl TenantTable for AlertTargets {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for AlertTargets {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `notifications` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum Notifications {
    Table,
    Id,
    AccountId,
    ProjectId,
    RuleId,
    TargetId,
    IssueId,
    TriggerKind,
    DedupKey,
    Status,
    Attempts,
    LastError,
    NextAttemptAt,
    LeaseUntil,
    CreatedAt,
    SentAt,
    DeadAt,
}

impl TenantTable for Notifications {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for Notifications {
    const PROJECT_ID: Self = Self::ProjectId;
}

// ---------------------------------------------------------------------------------------------
// Queries.
// ---------------------------------------------------------------------------------------------

/// Where a notification is in its delivery; stored as these strings in `notifications.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotificationStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Claimed by a sender whose lease runs until `lease_until`.
    Sending,
    /// Delivered; never sent again.
    Sent,
    /// Failed for good (a dead letter); an admin may queue it again.
    Dead,
}

impl NotificationStatus {
    /// The stored value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }

    /// The status stored as `raw`, if it is one.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Sent, Self::Dead]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

// --- Rules -----------------------------------------------------------------------------------

/// A rule's settings as stored (the filters as their JSON text).
#[derive(Clone, Debug)]
pub(crate) struct RuleFields {
    pub project_id: ProjectId,
    pub name: String,
    pub trigger: String,
    pub frequency_count: Option<i32>,
    pub frequency_minutes: Option<i32>,
    pub filters: String,
    pub action_interval_minutes: i32,
    pub enabled: bool,
}

/// A stored rule of one account.
#[derive(Clone, Debug)]
pub(crate) struct RuleRow {
    pub id: AlertRuleId,
    pub fields: RuleFields,
    pub created_at: DateTime<Utc>,
}

#[derive(FromQueryResult)]
struct RuleRecord {
    id: i64,
    project_id: i64,
    name: String,
    trigger_kind: String,
    frequency_count: Option<i32>,
    frequency_minutes: Option<i32>,
    filters: String,
    action_interval_minutes: i32,
    enabled: bool,
    created_at: DateTime<Utc>,
}

const RULE_COLUMNS: [AlertRules; 10] = [
    AlertRules::Id,
    AlertRules::ProjectId,
    AlertRules::Name,
    AlertRules::TriggerKind,
    AlertRules::FrequencyCount,
    AlertRules::FrequencyMinutes,
    AlertRules::Filters,
    AlertRules::ActionIntervalMinutes,
    AlertRules::Enabled,
    AlertRules::CreatedAt,
];

impl From<RuleRecord> for RuleRow {
    fn from(r: RuleRecord) -> Self {
        RuleRow {
            id: AlertRuleId(r.id),
            fields: RuleFields {
                project_id: ProjectId(r.project_id),
                name: r.name,
                trigger: r.trigger_kind,
                frequency_count: r.frequency_count,
                frequency_minutes: r.frequency_minutes,
                filters: r.filters,
                action_interval_minutes: r.action_interval_minutes,
                enabled: r.enabled,
            },
            created_at: r.created_at,
        }
    }
}

/// Inserts a rule of the tenant; returns its id.
pub(crate) async fn insert_rule(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    fields: &RuleFields,
    now: DateTime<Utc>,
) -> Result<AlertRuleId, DbErr> {
    let tenant = tenant.into();
    let row = conn
        .query_one(
            &Query::insert()
                .into_table(AlertRules::Table)
                .columns([
                    AlertRules::AccountId,
                    AlertRules::ProjectId,
                    AlertRules::Name,
                    AlertRules::TriggerKind,
                    AlertRules::FrequencyCount,
                    AlertRules::FrequencyMinutes,
                    AlertRules::Filters,
                    AlertRules::ActionIntervalMinutes,
                    AlertRules::Enabled,
                    AlertRules::CreatedAt,
                    AlertRules::UpdatedAt,
                ])
                .values_panic([
                    tenant.account_id().0.into(),
                    fields.project_id.0.into(),
                    fields.name.clone().into(),
                    fields.trigger.clone().into(),
                    fields.frequency_count.into(),
                    fields.frequency_minutes.into(),
                    fields.filters.clone().into(),
                    fields.action_interval_minutes.into(),
                    fields.enabled.into(),
                    now.into(),
                    now.into(),
                ])
                .returning_col(AlertRules::Id)
                .to_owned(),
        )
        .await?
        .ok_or_else(|| DbErr::Custom("insert returned no id".to_owned()))?;
    Ok(AlertRuleId(row.try_get("", "id")?))
}

/// Replaces the settings of the tenant's rule `id`; returns the rows changed (0: not the
/// tenant's, or gone).
pub(crate) async fn update_rule(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: AlertRuleId,
    fields: &RuleFields,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let statement = update::<AlertRules>(tenant)
        .value(AlertRules::ProjectId, fields.project_id.0)
        .value(AlertRules::Name, fields.name.clone())
        .value(AlertRules::TriggerKind, fields.trigger.clone())
        .value(AlertRules::FrequencyCount, fields.frequency_count)
        .value(AlertRules::FrequencyMinutes, fields.frequency_minutes)
        .value(AlertRules::Filters, fields.filters.clone())
        .value(
            AlertRules::ActionIntervalMinutes,
            fields.action_interval_minutes,
        )
        .value(AlertRules::Enabled, fields.enabled)
        .value(AlertRules::UpdatedAt, now)
        .and_where(Expr::col(AlertRules::Id).eq(id.0))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// Deletes the tenant's rule `id`; returns the rows deleted.
pub(crate) async fn delete_rule(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: AlertRuleId,
) -> Result<u64, DbErr> {
    let statement = delete::<AlertRules>(tenant)
        .and_where(Expr::col(AlertRules::Id).eq(id.0))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// Which rules of the tenant [`rules`] reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RulesOf {
    /// One rule.
    Id(AlertRuleId),
    /// The rules of a project.
    Project(ProjectId),
}

/// The tenant's rules by id.
pub(crate) async fn rules(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    which: RulesOf,
) -> Result<Vec<RuleRow>, DbErr> {
    let filter = match which {
        RulesOf::Id(id) => Expr::col(AlertRules::Id).eq(id.0),
        RulesOf::Project(project) => Expr::col(AlertRules::ProjectId).eq(project.0),
    };
    let statement = select::<AlertRules>(tenant)
        .columns(RULE_COLUMNS)
        .and_where(filter)
        .order_by(AlertRules::Id, Order::Asc)
        .to_owned();
    let rows = conn.query_all(&statement).await?;
    rows.iter()
        .map(|row| RuleRecord::from_query_result(row, "").map(RuleRow::from))
        .collect()
}

/// The targets of the tenant's rules `rule_ids`, as (rule, target) by target id.
pub(crate) async fn rule_targets(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    rule_ids: &[AlertRuleId],
) -> Result<Vec<(AlertRuleId, AlertTargetId)>, DbErr> {
    let statement = select::<AlertRuleTargets>(tenant)
        .columns([AlertRuleTargets::RuleId, AlertRuleTargets::TargetId])
        .and_where(Expr::col(AlertRuleTargets::RuleId).is_in(rule_ids.iter().map(|id| id.0)))
        .order_by(AlertRuleTargets::TargetId, Order::Asc)
        .to_owned();
    links(conn.query_all(&statement).await?)
}

#[derive(FromQueryResult)]
struct LinkRecord {
    rule_id: i64,
    target_id: i64,
}

fn links(rows: Vec<sea_orm::QueryResult>) -> Result<Vec<(AlertRuleId, AlertTargetId)>, DbErr> {
    rows.iter()
        .map(|row| {
            LinkRecord::from_query_result(row, "")
                .map(|l| (AlertRuleId(l.rule_id), AlertTargetId(l.target_id)))
        })
        .collect()
}

/// Makes `targets` the targets of the tenant's rule `rule_id` (one delete, one insert per
/// distinct target).
pub(crate) async fn replace_rule_targets(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    rule_id: AlertRuleId,
    targets: &[AlertTargetId],
) -> Result<(), DbErr> {
    let tenant = tenant.into();
    conn.execute(
        &delete::<AlertRuleTargets>(tenant)
            .and_where(Expr::col(AlertRuleTargets::RuleId).eq(rule_id.0))
            .to_owned(),
    )
    .await?;
    let distinct: std::collections::BTreeSet<i64> = targets.iter().map(|id| id.0).collect();
    for target in distinct {
        conn.execute(
            &Query::insert()
                .into_table(AlertRuleTargets::Table)
                .columns([
                    AlertRuleTargets::RuleId,
                    AlertRuleTargets::TargetId,
                    AlertRuleTargets::AccountId,
                ])
                .values_panic([
                    rule_id.0.into(),
                    target.into(),
                    tenant.account_id().0.into(),
                ])
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

/// A project an enabled rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WatchedProject {
    pub account_id: AccountId,
    pub project_id: ProjectId,
}

/// Of `projects`, those with at least one enabled rule, each with its account.
///
/// Crosses tenants: the digest runs it inside its transaction for a batch that spans accounts,
/// as one indexed read (the projects come from the batch's own rows).
pub(crate) async fn watched_projects_all_accounts(
    conn: &impl ConnectionTrait,
    projects: impl IntoIterator<Item = ProjectId>,
) -> Result<Vec<WatchedProject>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        account_id: i64,
        project_id: i64,
    }
    let statement = Query::select()
        .distinct()
        .columns([AlertRules::AccountId, AlertRules::ProjectId])
        .from(AlertRules::Table)
        .and_where(Expr::col(AlertRules::Enabled).eq(true))
        .and_where(Expr::col(AlertRules::ProjectId).is_in(projects.into_iter().map(|p| p.0)))
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| {
            Record::from_query_result(row, "").map(|r| WatchedProject {
                account_id: AccountId(r.account_id),
                project_id: ProjectId(r.project_id),
            })
        })
        .collect()
}

/// An enabled rule, with its account.
#[derive(Clone, Debug)]
pub(crate) struct EnabledRule {
    pub account_id: AccountId,
    pub id: AlertRuleId,
    pub project_id: ProjectId,
    pub trigger: String,
    pub frequency_count: Option<i32>,
    pub frequency_minutes: Option<i32>,
    pub filters: String,
    pub action_interval_minutes: i32,
}

/// The enabled rules of `projects`, by id, each with its account.
///
/// Crosses tenants: one evaluation job handles a digest batch, which spans accounts; the
/// projects come from its candidates, and every firing is then scoped to the rule's account.
pub(crate) async fn enabled_rules_all_accounts(
    conn: &impl ConnectionTrait,
    projects: impl IntoIterator<Item = ProjectId>,
) -> Result<Vec<EnabledRule>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        account_id: i64,
        id: i64,
        project_id: i64,
        trigger_kind: String,
        frequency_count: Option<i32>,
        frequency_minutes: Option<i32>,
        filters: String,
        action_interval_minutes: i32,
    }
    let statement = Query::select()
        .columns([
            AlertRules::AccountId,
            AlertRules::Id,
            AlertRules::ProjectId,
            AlertRules::TriggerKind,
            AlertRules::FrequencyCount,
            AlertRules::FrequencyMinutes,
            AlertRules::Filters,
            AlertRules::ActionIntervalMinutes,
        ])
        .from(AlertRules::Table)
        .and_where(Expr::col(AlertRules::Enabled).eq(true))
        .and_where(Expr::col(AlertRules::ProjectId).is_in(projects.into_iter().map(|p| p.0)))
        .order_by(AlertRules::Id, Order::Asc)
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| {
            Record::from_query_result(row, "").map(|r| EnabledRule {
                account_id: AccountId(r.account_id),
                id: AlertRuleId(r.id),
                project_id: ProjectId(r.project_id),
                trigger: r.trigger_kind,
                frequency_count: r.frequency_count,
                frequency_minutes: r.frequency_minutes,
                filters: r.filters,
                action_interval_minutes: r.action_interval_minutes,
            })
        })
        .collect()
}

/// The targets of `rule_ids` (rules [`enabled_rules_all_accounts`] returned), as (rule,
/// target) by target id.
///
/// Crosses tenants for the same reason: the rules of one evaluation span accounts.
pub(crate) async fn rule_targets_all_accounts(
    conn: &impl ConnectionTrait,
    rule_ids: impl IntoIterator<Item = AlertRuleId>,
) -> Result<Vec<(AlertRuleId, AlertTargetId)>, DbErr> {
    let statement = Query::select()
        .columns([AlertRuleTargets::RuleId, AlertRuleTargets::TargetId])
        .from(AlertRuleTargets::Table)
        .and_where(
            Expr::col(AlertRuleTargets::RuleId)
                .is_in(rule_ids.into_iter().map(|id| id.0).collect::<Vec<_>>()),
        )
        .order_by(AlertRuleTargets::TargetId, Order::Asc)
        .to_owned();
    links(conn.query_all(&statement).await?)
}

// --- Targets ---------------------------------------------------------------------------------

/// A target to store (its config as JSON text).
#[derive(Clone, Debug)]
pub(crate) struct NewTarget {
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub kind: String,
    pub config: String,
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A stored target.
#[derive(Clone, Debug)]
pub(crate) struct TargetRow {
    pub id: AlertTargetId,
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub kind: String,
    pub config: String,
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(FromQueryResult)]
struct TargetRecord {
    id: i64,
    project_id: Option<i64>,
    name: String,
    kind: String,
    config: String,
    secret: Option<String>,
    created_at: DateTime<Utc>,
}

/// Inserts a target of the tenant; returns its id.
pub(crate) async fn insert_target(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    new: &NewTarget,
) -> Result<AlertTargetId, DbErr> {
    let tenant = tenant.into();
    let row = conn
        .query_one(
            &Query::insert()
                .into_table(AlertTargets::Table)
                .columns([
                    AlertTargets::AccountId,
                    AlertTargets::ProjectId,
                    AlertTargets::Name,
                    AlertTargets::Kind,
                    AlertTargets::Config,
                    AlertTargets::Secret,
                    AlertTargets::CreatedAt,
                ])
                .values_panic([
                    tenant.account_id().0.into(),
                    new.project_id.map(|p| p.0).into(),
                    new.name.clone().into(),
                    new.kind.clone().into(),
                    new.config.clone().into(),
                    new.secret.clone().into(),
                    new.created_at.into(),
                ])
                .returning_col(AlertTargets::Id)
                .to_owned(),
        )
        .await?
        .ok_or_else(|| DbErr::Custom("insert returned no id".to_owned()))?;
    Ok(AlertTargetId(row.try_get("", "id")?))
}

/// Sets the name and config of the tenant's target `id`; returns the rows changed.
pub(crate) async fn update_target(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: AlertTargetId,
    name: &str,
    config: String,
) -> Result<u64, DbErr> {
    let statement = update::<AlertTargets>(tenant)
        .value(AlertTargets::Name, name)
        .value(AlertTargets::Config, config)
        .and_where(Expr::col(AlertTargets::Id).eq(id.0))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// Deletes the tenant's target `id` (its deliveries go with it); returns the rows deleted.
pub(crate) async fn delete_target(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: AlertTargetId,
) -> Result<u64, DbErr> {
    let statement = delete::<AlertTargets>(tenant)
        .and_where(Expr::col(AlertTargets::Id).eq(id.0))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// The tenant's targets by id, or only `id`.
pub(crate) async fn targets(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: Option<AlertTargetId>,
) -> Result<Vec<TargetRow>, DbErr> {
    let mut statement = select::<AlertTargets>(tenant);
    statement
        .columns([
            AlertTargets::Id,
            AlertTargets::ProjectId,
            AlertTargets::Name,
            AlertTargets::Kind,
            AlertTargets::Config,
            AlertTargets::Secret,
            AlertTargets::CreatedAt,
        ])
        .order_by(AlertTargets::Id, Order::Asc);
    if let Some(id) = id {
        statement.and_where(Expr::col(AlertTargets::Id).eq(id.0));
    }
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| {
            TargetRecord::from_query_result(row, "").map(|r| TargetRow {
                id: AlertTargetId(r.id),
                project_id: r.project_id.map(ProjectId),
                name: r.name,
                kind: r.kind,
                config: r.config,
                secret: r.secret,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// How many of `ids` are targets of the tenant (duplicates count once).
pub(crate) async fn count_targets(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    ids: &[AlertTargetId],
) -> Result<usize, DbErr> {
    let statement = select::<AlertTargets>(tenant)
        .column(AlertTargets::Id)
        .and_where(Expr::col(AlertTargets::Id).is_in(ids.iter().map(|id| id.0)))
        .to_owned();
    Ok(conn.query_all(&statement).await?.len())
}

/// A target as delivery needs it.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct TargetDelivery {
    pub kind: String,
    pub config: String,
    pub secret: Option<String>,
}

/// The kind, config and secret of the tenant's target `id` (`None`: deleted).
pub(crate) async fn target_for_delivery(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: AlertTargetId,
) -> Result<Option<TargetDelivery>, DbErr> {
    let statement = select::<AlertTargets>(tenant)
        .columns([
            AlertTargets::Kind,
            AlertTargets::Config,
            AlertTargets::Secret,
        ])
        .and_where(Expr::col(AlertTargets::Id).eq(id.0))
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| TargetDelivery::from_query_result(&row, ""))
        .transpose()
}

// --- Notifications ---------------------------------------------------------------------------

/// A notification to record.
#[derive(Clone, Debug)]
pub(crate) struct NewNotification {
    pub project_id: Option<ProjectId>,
    pub rule_id: Option<AlertRuleId>,
    pub target_id: AlertTargetId,
    pub issue_id: Option<IssueId>,
    pub trigger: String,
    pub dedup_key: String,
}

/// Inserts a pending notification of the tenant unless its `dedup_key` exists; returns the id
/// when inserted.
pub(crate) async fn insert_notification(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    new: &NewNotification,
    now: DateTime<Utc>,
) -> Result<Option<NotificationId>, DbErr> {
    let tenant = tenant.into();
    let row = conn
        .query_one(
            &Query::insert()
                .into_table(Notifications::Table)
                .columns([
                    Notifications::AccountId,
                    Notifications::ProjectId,
                    Notifications::RuleId,
                    Notifications::TargetId,
                    Notifications::IssueId,
                    Notifications::TriggerKind,
                    Notifications::DedupKey,
                    Notifications::Status,
                    Notifications::Attempts,
                    Notifications::NextAttemptAt,
                    Notifications::CreatedAt,
                ])
                .values_panic([
                    tenant.account_id().0.into(),
                    new.project_id.map(|p| p.0).into(),
                    new.rule_id.map(|r| r.0).into(),
                    new.target_id.0.into(),
                    new.issue_id.map(|i| i.0).into(),
                    new.trigger.clone().into(),
                    new.dedup_key.clone().into(),
                    NotificationStatus::Pending.as_str().into(),
                    0i32.into(),
                    now.into(),
                    now.into(),
                ])
                .on_conflict(
                    OnConflict::column(Notifications::DedupKey)
                        .do_nothing()
                        .to_owned(),
                )
                .returning_col(Notifications::Id)
                .to_owned(),
        )
        .await?;
    Ok(match row {
        Some(row) => Some(NotificationId(row.try_get("", "id")?)),
        None => None,
    })
}

/// A notification's delivery state, found by its key.
#[derive(Clone, Debug)]
pub(crate) struct DeliveryState {
    pub id: NotificationId,
    pub status: Option<NotificationStatus>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The delivery state of the tenant's notification keyed `dedup_key`.
pub(crate) async fn delivery_state(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    dedup_key: &str,
) -> Result<Option<DeliveryState>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        id: i64,
        status: String,
        attempts: i32,
        next_attempt_at: Option<DateTime<Utc>>,
    }
    let statement = select::<Notifications>(tenant)
        .columns([
            Notifications::Id,
            Notifications::Status,
            Notifications::Attempts,
            Notifications::NextAttemptAt,
        ])
        .and_where(Expr::col(Notifications::DedupKey).eq(dedup_key))
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| {
            Record::from_query_result(&row, "").map(|r| DeliveryState {
                id: NotificationId(r.id),
                status: NotificationStatus::parse(&r.status),
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
            })
        })
        .transpose()
}

/// Whether the tenant's rule `rule_id` notified about `issue_id` since `since` under a key
/// that does not start with `prefix` (another trigger window).
pub(crate) async fn notified_in_another_window(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    rule_id: AlertRuleId,
    issue_id: IssueId,
    since: DateTime<Utc>,
    prefix: &str,
) -> Result<bool, DbErr> {
    let statement = select::<Notifications>(tenant)
        .column(Notifications::Id)
        .and_where(Expr::col(Notifications::RuleId).eq(rule_id.0))
        .and_where(Expr::col(Notifications::IssueId).eq(issue_id.0))
        .and_where(Expr::col(Notifications::CreatedAt).gte(since))
        .and_where(Expr::col(Notifications::DedupKey).not_like(format!("{prefix}%")))
        .limit(1)
        .to_owned();
    Ok(!conn.query_all(&statement).await?.is_empty())
}

/// How many notifications of rules the tenant created since `since`, counting at most `limit`.
pub(crate) async fn rule_notifications_since(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    since: DateTime<Utc>,
    limit: u64,
) -> Result<usize, DbErr> {
    let statement = select::<Notifications>(tenant)
        .column(Notifications::Id)
        .and_where(Expr::col(Notifications::CreatedAt).gte(since))
        .and_where(Expr::col(Notifications::RuleId).is_not_null())
        .limit(limit)
        .to_owned();
    Ok(conn.query_all(&statement).await?.len())
}

/// A delivery that stalled (its job was lost), with its account.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StalledNotification {
    pub account_id: AccountId,
    pub id: NotificationId,
    pub attempts: i32,
}

/// Up to 1000 deliveries whose job was lost: pending ones due before `overdue`, and sending
/// ones whose lease ran out before `now`.
///
/// Crosses tenants: the sweep is one job for the whole installation.
pub(crate) async fn stalled_notifications_all_accounts(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    overdue: DateTime<Utc>,
) -> Result<Vec<StalledNotification>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        id: i64,
        attempts: i32,
        account_id: i64,
    }
    let statement = Query::select()
        .columns([
            Notifications::Id,
            Notifications::Attempts,
            Notifications::AccountId,
        ])
        .from(Notifications::Table)
        .and_where(
            Expr::col(Notifications::Status)
                .eq(NotificationStatus::Pending.as_str())
                .and(Expr::col(Notifications::NextAttemptAt).lt(overdue))
                .or(Expr::col(Notifications::Status)
                    .eq(NotificationStatus::Sending.as_str())
                    .and(Expr::col(Notifications::LeaseUntil).lt(now))),
        )
        .limit(1000)
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| {
            Record::from_query_result(row, "").map(|r| StalledNotification {
                account_id: AccountId(r.account_id),
                id: NotificationId(r.id),
                attempts: r.attempts,
            })
        })
        .collect()
}

/// Claims notification `id` for sending until `lease` if it is pending and due (by `due`) or
/// its last sender's lease ran out before `now`; counts the attempt. Returns the notification's
/// account when claimed.
///
/// Crosses tenants: the delivery job carries only the notification's id; the account this
/// returns scopes everything the delivery does next.
pub(crate) async fn claim_notification_any_account(
    conn: &impl ConnectionTrait,
    id: NotificationId,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
    lease: DateTime<Utc>,
) -> Result<Option<AccountId>, DbErr> {
    let statement = Query::update()
        .table(Notifications::Table)
        .value(Notifications::Status, NotificationStatus::Sending.as_str())
        .value(Notifications::LeaseUntil, lease)
        .value(
            Notifications::Attempts,
            Expr::col(Notifications::Attempts).add(1),
        )
        .and_where(Expr::col(Notifications::Id).eq(id.0))
        .and_where(
            Expr::col(Notifications::Status)
                .eq(NotificationStatus::Pending.as_str())
                .and(
                    Expr::col(Notifications::NextAttemptAt)
                        .is_null()
                        .or(Expr::col(Notifications::NextAttemptAt).lte(due)),
                )
                .or(Expr::col(Notifications::Status)
                    .eq(NotificationStatus::Sending.as_str())
                    .and(Expr::col(Notifications::LeaseUntil).lt(now))),
        )
        .returning_col(Notifications::AccountId)
        .to_owned();
    Ok(match conn.query_one(&statement).await? {
        Some(row) => Some(AccountId(row.try_get("", "account_id")?)),
        None => None,
    })
}

/// What a claimed notification is about.
#[derive(Clone, Debug)]
pub(crate) struct ClaimedNotification {
    pub target_id: AlertTargetId,
    pub issue_id: Option<IssueId>,
    pub trigger: String,
    pub dedup_key: String,
    pub attempts: i32,
}

/// The tenant's notification `id` as delivery needs it.
pub(crate) async fn claimed_notification(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: NotificationId,
) -> Result<Option<ClaimedNotification>, DbErr> {
    #[derive(FromQueryResult)]
    struct Record {
        target_id: i64,
        issue_id: Option<i64>,
        trigger_kind: String,
        dedup_key: String,
        attempts: i32,
    }
    let statement = select::<Notifications>(tenant)
        .columns([
            Notifications::TargetId,
            Notifications::IssueId,
            Notifications::TriggerKind,
            Notifications::DedupKey,
            Notifications::Attempts,
        ])
        .and_where(Expr::col(Notifications::Id).eq(id.0))
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| {
            Record::from_query_result(&row, "").map(|r| ClaimedNotification {
                target_id: AlertTargetId(r.target_id),
                issue_id: r.issue_id.map(IssueId),
                trigger: r.trigger_kind,
                dedup_key: r.dedup_key,
                attempts: r.attempts,
            })
        })
        .transpose()
}

/// How a delivery attempt ended, as [`finish_attempt`] records it.
#[derive(Clone, Debug)]
pub(crate) enum AttemptEnd {
    /// Delivered at this time.
    Sent(DateTime<Utc>),
    /// Failed for good at this time, with this error.
    Dead(DateTime<Utc>, String),
    /// Failed; the next attempt is due at this time.
    Retry(DateTime<Utc>, String),
}

/// Records the end of an attempt on the tenant's notification `id` and drops its lease.
pub(crate) async fn finish_attempt(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: NotificationId,
    end: AttemptEnd,
) -> Result<(), DbErr> {
    let mut statement = update::<Notifications>(tenant);
    match end {
        AttemptEnd::Sent(at) => statement
            .value(Notifications::Status, NotificationStatus::Sent.as_str())
            .value(Notifications::SentAt, at)
            .value(Notifications::LeaseUntil, Option::<DateTime<Utc>>::None)
            .value(Notifications::LastError, Option::<String>::None),
        AttemptEnd::Dead(at, error) => statement
            .value(Notifications::Status, NotificationStatus::Dead.as_str())
            .value(Notifications::DeadAt, at)
            .value(Notifications::LeaseUntil, Option::<DateTime<Utc>>::None)
            .value(Notifications::LastError, error),
        AttemptEnd::Retry(next, error) => statement
            .value(Notifications::Status, NotificationStatus::Pending.as_str())
            .value(Notifications::NextAttemptAt, next)
            .value(Notifications::LeaseUntil, Option::<DateTime<Utc>>::None)
            .value(Notifications::LastError, error),
    };
    statement.and_where(Expr::col(Notifications::Id).eq(id.0));
    conn.execute(&statement).await?;
    Ok(())
}

/// Makes the tenant's dead letter `id` pending again with a fresh set of attempts, due at
/// `now`; returns the rows changed (0: absent, another tenant's, or not dead).
pub(crate) async fn requeue_dead(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: NotificationId,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let statement = update::<Notifications>(tenant)
        .value(Notifications::Status, NotificationStatus::Pending.as_str())
        .value(Notifications::Attempts, 0)
        .value(Notifications::NextAttemptAt, now)
        .value(Notifications::DeadAt, Option::<DateTime<Utc>>::None)
        .and_where(Expr::col(Notifications::Id).eq(id.0))
        .and_where(Expr::col(Notifications::Status).eq(NotificationStatus::Dead.as_str()))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// One delivery of the log.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct DeliveryRecord {
    pub id: i64,
    pub rule_id: Option<i64>,
    pub target_id: i64,
    pub issue_id: Option<i64>,
    pub trigger_kind: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: [Notifications; 11] = [
    Notifications::Id,
    Notifications::RuleId,
    Notifications::TargetId,
    Notifications::IssueId,
    Notifications::TriggerKind,
    Notifications::Status,
    Notifications::Attempts,
    Notifications::LastError,
    Notifications::NextAttemptAt,
    Notifications::CreatedAt,
    Notifications::SentAt,
];

/// The tenant's deliveries, newest first, optionally of one status; at most `limit`.
pub(crate) async fn deliveries(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    status: Option<NotificationStatus>,
    limit: u64,
) -> Result<Vec<DeliveryRecord>, DbErr> {
    let mut statement = select::<Notifications>(tenant);
    statement
        .columns(DELIVERY_COLUMNS)
        .order_by(Notifications::Id, Order::Desc)
        .limit(limit);
    if let Some(status) = status {
        statement.and_where(Expr::col(Notifications::Status).eq(status.as_str()));
    }
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| DeliveryRecord::from_query_result(row, ""))
        .collect()
}

/// The tenant's delivery `id`.
pub(crate) async fn delivery(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    id: NotificationId,
) -> Result<Option<DeliveryRecord>, DbErr> {
    let statement = select::<Notifications>(tenant)
        .columns(DELIVERY_COLUMNS)
        .and_where(Expr::col(Notifications::Id).eq(id.0))
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| DeliveryRecord::from_query_result(&row, ""))
        .transpose()
}

// --- Other families' tables, read for alert context ------------------------------------------
// These read `projects`, `issues` and `events`; they live here until those families' files
// offer the same reads.

/// Whether `project_id` is a live (not deleted) project of the tenant.
pub(crate) async fn live_project_exists(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project_id: ProjectId,
) -> Result<bool, DbErr> {
    let statement = select::<Projects>(tenant)
        .column(Projects::Id)
        .and_where(Expr::col(Projects::Id).eq(project_id.0))
        .and_where(Expr::col(Projects::DeletedAt).is_null())
        .to_owned();
    Ok(conn.query_one(&statement).await?.is_some())
}

/// The name of the tenant's project `project_id` (deleted ones too).
pub(crate) async fn project_name(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project_id: ProjectId,
) -> Result<Option<String>, DbErr> {
    let statement = select::<Projects>(tenant)
        .column(Projects::Name)
        .and_where(Expr::col(Projects::Id).eq(project_id.0))
        .to_owned();
    match conn.query_one(&statement).await? {
        Some(row) => Ok(Some(row.try_get("", "name")?)),
        None => Ok(None),
    }
}

/// What a notification says about its issue.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct IssueSummary {
    pub project_id: i64,
    pub title: String,
    pub culprit: Option<String>,
    pub level: String,
    pub times_seen: i64,
    pub users_seen: i64,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// The tenant's issue `issue_id` as a notification describes it.
pub(crate) async fn issue_summary(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    issue_id: IssueId,
) -> Result<Option<IssueSummary>, DbErr> {
    let statement = select::<Issues>(tenant)
        .columns([
            Issues::ProjectId,
            Issues::Title,
            Issues::Culprit,
            Issues::Level,
            Issues::TimesSeen,
            Issues::UsersSeen,
            Issues::FirstSeen,
            Issues::LastSeen,
        ])
        .and_where(Expr::col(Issues::Id).eq(issue_id.0))
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| IssueSummary::from_query_result(&row, ""))
        .transpose()
}

/// A state change of an issue whose time opens a trigger window.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IssueTransition {
    /// `issues.regressed_at`.
    Regressed,
    /// `issues.status_changed_at` (an ignored issue woke up).
    StatusChanged,
}

/// When the tenant's issue `issue_id` last went through `transition` (`None`: never, or no
/// such issue).
pub(crate) async fn issue_transition_time(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    issue_id: IssueId,
    transition: IssueTransition,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let (column, name) = match transition {
        IssueTransition::Regressed => (Issues::RegressedAt, "regressed_at"),
        IssueTransition::StatusChanged => (Issues::StatusChangedAt, "status_changed_at"),
    };
    let statement = select::<Issues>(tenant)
        .column(column)
        .and_where(Expr::col(Issues::Id).eq(issue_id.0))
        .to_owned();
    Ok(match conn.query_one(&statement).await? {
        Some(row) => row.try_get::<Option<DateTime<Utc>>>("", name)?,
        None => None,
    })
}

/// Events of the tenant's issue `issue_id` since `since`, counting at most `limit` (an index
/// range scan on `(issue_id, timestamp)` that stops at the threshold).
pub(crate) async fn count_recent_events(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    issue_id: IssueId,
    since: DateTime<Utc>,
    limit: u64,
) -> Result<i64, DbErr> {
    let statement = select::<Events>(tenant)
        .column(Events::Id)
        .and_where(Expr::col(Events::IssueId).eq(issue_id.0))
        .and_where(Expr::col(Events::Timestamp).gte(since))
        .limit(limit)
        .to_owned();
    Ok(conn.query_all(&statement).await?.len() as i64)
}
