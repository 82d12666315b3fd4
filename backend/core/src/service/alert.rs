//! Alert rules, targets and the delivery log, for admins of an account (listing rules and
//! deliveries needs only membership). Targets hold webhook URLs and signing secrets, so only
//! admins see them. Every query filters by the scope's account; another tenant's id answers
//! `NotFound`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use crate::alert::trigger::{Filters, NewNotification, insert_notification, queue_delivery};
use crate::ids::{AlertRuleId, AlertTargetId, NotificationId, ProjectId};
use crate::jobs::JobQueue;
use crate::scope::{AccountScope, Role};
use crate::{Error, Result};

/// Triggers a rule can have.
pub const TRIGGERS: [&str; 4] = ["new_issue", "regression", "frequency", "ignored_expired"];
/// Kinds of targets.
pub const TARGET_KINDS: [&str; 4] = ["email", "slack", "discord", "webhook"];

/// A rule to create or the new state of one.
#[derive(Clone, Debug)]
pub struct RuleInput {
    /// Project whose issues it watches.
    pub project_id: ProjectId,
    /// Name shown in lists.
    pub name: String,
    /// One of [`TRIGGERS`].
    pub trigger: String,
    /// `frequency`: fires when an issue has more than this many events …
    pub frequency_count: Option<i32>,
    /// … within this many minutes.
    pub frequency_minutes: Option<i32>,
    /// Level, environment, release and tag filters.
    pub filters: Filters,
    /// At most one notification per issue per this many minutes.
    pub action_interval_minutes: i32,
    /// Disabled rules never fire.
    pub enabled: bool,
    /// Targets to notify (of the same account).
    pub target_ids: Vec<AlertTargetId>,
}

/// A stored rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Id.
    pub id: AlertRuleId,
    /// The rule as set.
    pub input: RuleInput,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A target to create.
#[derive(Clone, Debug)]
pub struct TargetInput {
    /// Pinned to a project (shown in its settings), or account-wide.
    pub project_id: Option<ProjectId>,
    /// Name shown in lists.
    pub name: String,
    /// One of [`TARGET_KINDS`].
    pub kind: String,
    /// Slack, Discord and webhook targets: the URL to POST to.
    pub url: Option<String>,
    /// Email targets: recipients.
    pub emails: Vec<String>,
}

/// A stored target.
#[derive(Clone, Debug)]
pub struct Target {
    /// Id.
    pub id: AlertTargetId,
    /// The target as set.
    pub input: TargetInput,
    /// Webhook targets: the HMAC secret receivers verify signatures with.
    pub secret: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// One delivery of the log.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Id.
    pub id: NotificationId,
    /// The rule that fired (none for test notifications or deleted rules).
    pub rule_id: Option<AlertRuleId>,
    /// Where it goes.
    pub target_id: AlertTargetId,
    /// About which issue.
    pub issue_id: Option<i64>,
    /// The trigger (`test` for test notifications).
    pub trigger: String,
    /// `pending`, `sending`, `sent` or `dead` (a dead letter).
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Delivered.
    pub sent_at: Option<DateTime<Utc>>,
}

async fn require_project(
    conn: &impl ConnectionTrait,
    scope: &AccountScope,
    project_id: ProjectId,
) -> Result<()> {
    let found = conn
        .query_one(
            &Query::select()
                .column("id")
                .from("projects")
                .and_where(Expr::col("id").eq(project_id.0))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("deleted_at").is_null())
                .to_owned(),
        )
        .await?;
    found.map(|_| ()).ok_or(Error::NotFound)
}

fn validate_rule(input: &RuleInput) -> Result<()> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::validation("name", "1 to 200 characters"));
    }
    if !TRIGGERS.contains(&input.trigger.as_str()) {
        return Err(Error::validation(
            "trigger",
            format!("one of: {}", TRIGGERS.join(", ")),
        ));
    }
    if input.trigger == "frequency" {
        match (input.frequency_count, input.frequency_minutes) {
            (Some(count), Some(minutes))
                if (1..=1_000_000).contains(&count) && (1..=1440).contains(&minutes) => {}
            _ => {
                return Err(Error::validation(
                    "frequencyCount",
                    "a frequency rule needs a count (1 to 1,000,000) and minutes (1 to 1440)",
                ));
            }
        }
    }
    if !(1..=10_080).contains(&input.action_interval_minutes) {
        return Err(Error::validation(
            "actionIntervalMinutes",
            "between 1 minute and a week (10080)",
        ));
    }
    Ok(())
}

async fn require_targets(
    conn: &impl ConnectionTrait,
    scope: &AccountScope,
    ids: &[AlertTargetId],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = conn
        .query_all(
            &Query::select()
                .column("id")
                .from("alert_targets")
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("id").is_in(ids.iter().map(|id| id.0)))
                .to_owned(),
        )
        .await?;
    let distinct: std::collections::BTreeSet<i64> = ids.iter().map(|id| id.0).collect();
    if found.len() != distinct.len() {
        return Err(Error::NotFound);
    }
    Ok(())
}

async fn write_links(
    conn: &impl ConnectionTrait,
    scope: &AccountScope,
    rule_id: i64,
    targets: &[AlertTargetId],
) -> Result<()> {
    conn.execute(
        &Query::delete()
            .from_table("alert_rule_targets")
            .and_where(Expr::col("rule_id").eq(rule_id))
            .to_owned(),
    )
    .await?;
    let distinct: std::collections::BTreeSet<i64> = targets.iter().map(|id| id.0).collect();
    for target in distinct {
        conn.execute(
            &Query::insert()
                .into_table("alert_rule_targets")
                .columns(["rule_id", "target_id", "account_id"])
                .values_panic([rule_id.into(), target.into(), scope.account_id().0.into()])
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

/// Creates a rule (admins).
pub async fn create_rule(scope: &AccountScope, input: RuleInput) -> Result<Rule> {
    scope.require(Role::Admin)?;
    validate_rule(&input)?;
    let txn = scope.db().begin_write().await?;
    require_project(&txn, scope, input.project_id).await?;
    require_targets(&txn, scope, &input.target_ids).await?;
    let now = Utc::now();
    let row = txn
        .query_one(
            &Query::insert()
                .into_table("alert_rules")
                .columns([
                    "account_id",
                    "project_id",
                    "name",
                    "trigger_kind",
                    "frequency_count",
                    "frequency_minutes",
                    "filters",
                    "action_interval_minutes",
                    "enabled",
                    "created_at",
                    "updated_at",
                ])
                .values_panic([
                    scope.account_id().0.into(),
                    input.project_id.0.into(),
                    input.name.trim().into(),
                    input.trigger.clone().into(),
                    input.frequency_count.into(),
                    input.frequency_minutes.into(),
                    filters_json(&input.filters)?.into(),
                    input.action_interval_minutes.into(),
                    input.enabled.into(),
                    now.into(),
                    now.into(),
                ])
                .returning_col("id")
                .to_owned(),
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("insert returned no id"))?;
    let id: i64 = row.try_get("", "id")?;
    write_links(&txn, scope, id, &input.target_ids).await?;
    txn.commit().await?;
    get_rule(scope, AlertRuleId(id)).await
}

fn filters_json(filters: &Filters) -> Result<String> {
    serde_json::to_string(filters).map_err(|e| Error::Internal(e.into()))
}

/// Replaces a rule's settings and targets (admins).
pub async fn update_rule(scope: &AccountScope, id: AlertRuleId, input: RuleInput) -> Result<Rule> {
    scope.require(Role::Admin)?;
    validate_rule(&input)?;
    let txn = scope.db().begin_write().await?;
    require_project(&txn, scope, input.project_id).await?;
    require_targets(&txn, scope, &input.target_ids).await?;
    let updated = txn
        .execute(
            &Query::update()
                .table("alert_rules")
                .value("project_id", input.project_id.0)
                .value("name", input.name.trim())
                .value("trigger_kind", input.trigger.clone())
                .value("frequency_count", input.frequency_count)
                .value("frequency_minutes", input.frequency_minutes)
                .value("filters", filters_json(&input.filters)?)
                .value("action_interval_minutes", input.action_interval_minutes)
                .value("enabled", input.enabled)
                .value("updated_at", Utc::now())
                .and_where(Expr::col("id").eq(id.0))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .to_owned(),
        )
        .await?
        .rows_affected();
    if updated == 0 {
        return Err(Error::NotFound);
    }
    write_links(&txn, scope, id.0, &input.target_ids).await?;
    txn.commit().await?;
    get_rule(scope, id).await
}

/// Deletes a rule (admins); its delivery log stays, without the rule.
pub async fn delete_rule(scope: &AccountScope, id: AlertRuleId) -> Result<()> {
    delete_owned(scope, "alert_rules", id.0).await
}

const RULE_COLUMNS: [&str; 10] = [
    "id",
    "project_id",
    "name",
    "trigger_kind",
    "frequency_count",
    "frequency_minutes",
    "filters",
    "action_interval_minutes",
    "enabled",
    "created_at",
];

async fn rules_where(scope: &AccountScope, column: &'static str, value: i64) -> Result<Vec<Rule>> {
    let conn = scope.db().conn();
    let rows = conn
        .query_all(
            &Query::select()
                .columns(RULE_COLUMNS)
                .from("alert_rules")
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col(column).eq(value))
                .order_by("id", Order::Asc)
                .to_owned(),
        )
        .await?;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64>("", "id"))
        .collect::<std::result::Result<_, _>>()?;
    let links = if ids.is_empty() {
        Vec::new()
    } else {
        conn.query_all(
            &Query::select()
                .columns(["rule_id", "target_id"])
                .from("alert_rule_targets")
                .and_where(Expr::col("rule_id").is_in(ids))
                .order_by("target_id", Order::Asc)
                .to_owned(),
        )
        .await?
    };
    rows.iter().map(|row| to_rule(row, &links)).collect()
}

fn to_rule(row: &QueryResult, links: &[QueryResult]) -> Result<Rule> {
    let id: i64 = row.try_get("", "id")?;
    let mut target_ids = Vec::new();
    for link in links {
        if link.try_get::<i64>("", "rule_id")? == id {
            target_ids.push(AlertTargetId(link.try_get("", "target_id")?));
        }
    }
    Ok(Rule {
        id: AlertRuleId(id),
        input: RuleInput {
            project_id: ProjectId(row.try_get("", "project_id")?),
            name: row.try_get("", "name")?,
            trigger: row.try_get("", "trigger_kind")?,
            frequency_count: row.try_get("", "frequency_count")?,
            frequency_minutes: row.try_get("", "frequency_minutes")?,
            filters: serde_json::from_str(&row.try_get::<String>("", "filters")?)
                .unwrap_or_default(),
            action_interval_minutes: row.try_get("", "action_interval_minutes")?,
            enabled: row.try_get("", "enabled")?,
            target_ids,
        },
        created_at: row.try_get("", "created_at")?,
    })
}

/// One rule.
pub async fn get_rule(scope: &AccountScope, id: AlertRuleId) -> Result<Rule> {
    rules_where(scope, "id", id.0)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)
}

/// The rules of a project (members).
pub async fn list_rules(scope: &AccountScope, project_id: ProjectId) -> Result<Vec<Rule>> {
    require_project(scope.db().conn(), scope, project_id).await?;
    rules_where(scope, "project_id", project_id.0).await
}

/// Checks a target; `allow_private` is `ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS`: without it, a
/// URL that leads to a private, loopback or link-local address is refused now, naming that
/// setting, rather than failing every delivery for hours.
async fn validate_target(input: &TargetInput, allow_private: bool) -> Result<serde_json::Value> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::validation("name", "1 to 200 characters"));
    }
    match input.kind.as_str() {
        "email" => {
            if input
                .url
                .as_deref()
                .is_some_and(|url| !url.trim().is_empty())
            {
                return Err(Error::validation(
                    "url",
                    "an email target has recipients, not a URL",
                ));
            }
            if input.emails.is_empty() || input.emails.len() > 50 {
                return Err(Error::validation("emails", "1 to 50 addresses"));
            }
            for email in &input.emails {
                if email.parse::<lettre::Address>().is_err() {
                    return Err(Error::validation(
                        "emails",
                        format!("{email:?} is not an address"),
                    ));
                }
            }
            Ok(serde_json::json!({"to": input.emails}))
        }
        "slack" | "discord" | "webhook" => {
            if !input.emails.is_empty() {
                return Err(Error::validation(
                    "emails",
                    format!("a {} target has a URL, not recipients", input.kind),
                ));
            }
            let url = input.url.as_deref().unwrap_or_default().trim();
            // Delivery checks every resolved address again (a name may change its answer).
            crate::alert::ssrf::check_target(url, allow_private)
                .await
                .map_err(|e| Error::validation("url", format!("{e:#}")))?;
            if url.len() > 2000 {
                return Err(Error::validation("url", "at most 2000 characters"));
            }
            Ok(serde_json::json!({"url": url}))
        }
        _ => Err(Error::validation(
            "kind",
            format!("one of: {}", TARGET_KINDS.join(", ")),
        )),
    }
}

/// Creates a target (admins). Webhook targets get a random signing secret. `allow_private`:
/// whether targets may lead to private addresses (`ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS`).
pub async fn create_target(
    scope: &AccountScope,
    input: TargetInput,
    allow_private: bool,
) -> Result<Target> {
    scope.require(Role::Admin)?;
    let config = validate_target(&input, allow_private).await?;
    let conn = scope.db().conn();
    if let Some(project_id) = input.project_id {
        require_project(conn, scope, project_id).await?;
    }
    let secret = (input.kind == "webhook").then(|| {
        let bytes: [u8; 24] = rand::random();
        format!("whsec_{}", hex::encode(bytes))
    });
    let row = conn
        .query_one(
            &Query::insert()
                .into_table("alert_targets")
                .columns([
                    "account_id",
                    "project_id",
                    "name",
                    "kind",
                    "config",
                    "secret",
                    "created_at",
                ])
                .values_panic([
                    scope.account_id().0.into(),
                    input.project_id.map(|p| p.0).into(),
                    input.name.trim().into(),
                    input.kind.clone().into(),
                    config.to_string().into(),
                    secret.clone().into(),
                    Utc::now().into(),
                ])
                .returning_col("id")
                .to_owned(),
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("insert returned no id"))?;
    get_target(scope, AlertTargetId(row.try_get("", "id")?)).await
}

/// The new settings of a target: its kind and project stay.
#[derive(Clone, Debug)]
pub struct TargetChange {
    /// Name shown in lists.
    pub name: String,
    /// Slack, Discord and webhook targets: the URL to POST to (checked like at creation).
    pub url: Option<String>,
    /// Email targets: recipients.
    pub emails: Vec<String>,
}

/// Replaces a target's name and URL or recipients (admins), validated like a new target of
/// its kind. Its kind, project and signing secret stay; deliveries not yet sent go to the new
/// address.
pub async fn update_target(
    scope: &AccountScope,
    id: AlertTargetId,
    change: TargetChange,
    allow_private: bool,
) -> Result<Target> {
    scope.require(Role::Admin)?;
    let current = get_target(scope, id).await?;
    let input = TargetInput {
        project_id: current.input.project_id,
        name: change.name,
        kind: current.input.kind,
        url: change.url,
        emails: change.emails,
    };
    let config = validate_target(&input, allow_private).await?;
    let updated = scope
        .db()
        .conn()
        .execute(
            &Query::update()
                .table("alert_targets")
                .value("name", input.name.trim())
                .value("config", config.to_string())
                .and_where(Expr::col("id").eq(id.0))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .to_owned(),
        )
        .await?
        .rows_affected();
    if updated == 0 {
        // Deleted in between.
        return Err(Error::NotFound);
    }
    get_target(scope, id).await
}

/// Deletes a target (admins), with its deliveries.
pub async fn delete_target(scope: &AccountScope, id: AlertTargetId) -> Result<()> {
    delete_owned(scope, "alert_targets", id.0).await
}

async fn targets_where(scope: &AccountScope, id: Option<AlertTargetId>) -> Result<Vec<Target>> {
    scope.require(Role::Admin)?;
    let mut select = Query::select();
    select
        .columns([
            "id",
            "project_id",
            "name",
            "kind",
            "config",
            "secret",
            "created_at",
        ])
        .from("alert_targets")
        .and_where(Expr::col("account_id").eq(scope.account_id().0))
        .order_by("id", Order::Asc);
    if let Some(id) = id {
        select.and_where(Expr::col("id").eq(id.0));
    }
    let rows = scope.db().conn().query_all(&select.to_owned()).await?;
    rows.iter()
        .map(|row| {
            let config: serde_json::Value =
                serde_json::from_str(&row.try_get::<String>("", "config")?).unwrap_or_default();
            Ok(Target {
                id: AlertTargetId(row.try_get("", "id")?),
                input: TargetInput {
                    project_id: row.try_get::<Option<i64>>("", "project_id")?.map(ProjectId),
                    name: row.try_get("", "name")?,
                    kind: row.try_get("", "kind")?,
                    url: config
                        .get("url")
                        .and_then(|u| u.as_str())
                        .map(str::to_owned),
                    emails: config
                        .get("to")
                        .and_then(|to| serde_json::from_value(to.clone()).ok())
                        .unwrap_or_default(),
                },
                secret: row.try_get("", "secret")?,
                created_at: row.try_get("", "created_at")?,
            })
        })
        .collect()
}

/// One target (admins).
pub async fn get_target(scope: &AccountScope, id: AlertTargetId) -> Result<Target> {
    targets_where(scope, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)
}

/// The account's targets (admins).
pub async fn list_targets(scope: &AccountScope) -> Result<Vec<Target>> {
    targets_where(scope, None).await
}

/// The account's deliveries, newest first, optionally of one status (members). At most 500.
pub async fn list_deliveries(
    scope: &AccountScope,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<Delivery>> {
    let mut select = Query::select();
    select
        .columns(DELIVERY_COLUMNS)
        .from("notifications")
        .and_where(Expr::col("account_id").eq(scope.account_id().0))
        .order_by("id", Order::Desc)
        .limit(limit.clamp(1, 500));
    if let Some(status) = status {
        select.and_where(Expr::col("status").eq(status));
    }
    let rows = scope.db().conn().query_all(&select.to_owned()).await?;
    rows.iter().map(to_delivery).collect()
}

const DELIVERY_COLUMNS: [&str; 11] = [
    "id",
    "rule_id",
    "target_id",
    "issue_id",
    "trigger_kind",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "created_at",
    "sent_at",
];

fn to_delivery(row: &QueryResult) -> Result<Delivery> {
    Ok(Delivery {
        id: NotificationId(row.try_get("", "id")?),
        rule_id: row.try_get::<Option<i64>>("", "rule_id")?.map(AlertRuleId),
        target_id: AlertTargetId(row.try_get("", "target_id")?),
        issue_id: row.try_get::<Option<i64>>("", "issue_id")?,
        trigger: row.try_get("", "trigger_kind")?,
        status: row.try_get("", "status")?,
        attempts: row.try_get("", "attempts")?,
        last_error: row.try_get("", "last_error")?,
        next_attempt_at: row.try_get("", "next_attempt_at")?,
        created_at: row.try_get("", "created_at")?,
        sent_at: row.try_get("", "sent_at")?,
    })
}

/// One delivery (members).
pub async fn get_delivery(scope: &AccountScope, id: NotificationId) -> Result<Delivery> {
    let row = scope
        .db()
        .conn()
        .query_one(
            &Query::select()
                .columns(DELIVERY_COLUMNS)
                .from("notifications")
                .and_where(Expr::col("id").eq(id.0))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .to_owned(),
        )
        .await?
        .ok_or(Error::NotFound)?;
    to_delivery(&row)
}

/// Queues a dead letter again with a fresh set of attempts (admins). Only dead letters can
/// be retried: a sent notification is never sent twice.
pub async fn retry_delivery(
    scope: &AccountScope,
    queue: &JobQueue,
    id: NotificationId,
) -> Result<Delivery> {
    scope.require(Role::Admin)?;
    let now = Utc::now();
    let updated = scope
        .db()
        .conn()
        .execute(
            &Query::update()
                .table("notifications")
                .value("status", "pending")
                .value("attempts", 0)
                .value("next_attempt_at", now)
                .value("dead_at", Option::<DateTime<Utc>>::None)
                .and_where(Expr::col("id").eq(id.0))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .and_where(Expr::col("status").eq("dead"))
                .to_owned(),
        )
        .await?
        .rows_affected();
    if updated == 0 {
        // Absent, another tenant's, or not a dead letter.
        get_delivery(scope, id).await?;
        return Err(Error::validation("id", "only dead letters can be retried"));
    }
    queue_delivery(queue, id.0, 0, now, None).await?;
    get_delivery(scope, id).await
}

/// Queues a test notification to a target (admins); its delivery shows in the log.
pub async fn send_test_notification(
    scope: &AccountScope,
    queue: &JobQueue,
    target_id: AlertTargetId,
) -> Result<Delivery> {
    let target = get_target(scope, target_id).await?;
    let now = Utc::now();
    let id = insert_notification(
        scope.db().conn(),
        &NewNotification {
            account_id: scope.account_id().0,
            project_id: target.input.project_id.map(|p| p.0),
            rule_id: None,
            target_id: target_id.0,
            issue_id: None,
            trigger: "test".to_owned(),
            dedup_key: format!("test:t{}:{}", target_id.0, uuid::Uuid::new_v4().simple()),
        },
        now,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("a fresh test key conflicted"))?;
    queue_delivery(queue, id, 0, now, None).await?;
    get_delivery(scope, NotificationId(id)).await
}

/// Deletes the row `id` of `table` if it belongs to the scope's account (admins);
/// `NotFound` otherwise.
async fn delete_owned(scope: &AccountScope, table: &'static str, id: i64) -> Result<()> {
    scope.require(Role::Admin)?;
    let deleted = scope
        .db()
        .conn()
        .execute(
            &Query::delete()
                .from_table(table)
                .and_where(Expr::col("id").eq(id))
                .and_where(Expr::col("account_id").eq(scope.account_id().0))
                .to_owned(),
        )
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
