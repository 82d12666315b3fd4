//! Alert rules, targets and the delivery log, for admins of an account (listing rules and
//! deliveries needs only membership). Targets hold webhook URLs and signing secrets, so only
//! admins see them. Every query filters by the scope's account; another tenant's id answers
//! `NotFound`.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::alert::trigger::{Filters, queue_delivery};
use crate::ids::{AlertRuleId, AlertTargetId, IssueId, NotificationId, ProjectId};
use crate::jobs::JobQueue;
use crate::repo::alerts::{
    self as repo, DeliveryRecord, NewNotification, NewTarget, NotificationStatus, RuleFields,
    RuleRow, RulesOf, TargetRow,
};
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
    pub issue_id: Option<IssueId>,
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
    match repo::live_project_exists(conn, scope, project_id).await? {
        true => Ok(()),
        false => Err(Error::NotFound),
    }
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
    let found = repo::count_targets(conn, scope, ids).await?;
    let distinct: std::collections::BTreeSet<i64> = ids.iter().map(|id| id.0).collect();
    if found != distinct.len() {
        return Err(Error::NotFound);
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
    let id = repo::insert_rule(&txn, scope, &rule_fields(&input)?, now).await?;
    repo::replace_rule_targets(&txn, scope, id, &input.target_ids).await?;
    txn.commit().await?;
    get_rule(scope, id).await
}

fn filters_json(filters: &Filters) -> Result<String> {
    serde_json::to_string(filters).map_err(|e| Error::Internal(e.into()))
}

/// The rule as stored (name trimmed, filters as JSON).
fn rule_fields(input: &RuleInput) -> Result<RuleFields> {
    Ok(RuleFields {
        project_id: input.project_id,
        name: input.name.trim().to_owned(),
        trigger: input.trigger.clone(),
        frequency_count: input.frequency_count,
        frequency_minutes: input.frequency_minutes,
        filters: filters_json(&input.filters)?,
        action_interval_minutes: input.action_interval_minutes,
        enabled: input.enabled,
    })
}

/// Replaces a rule's settings and targets (admins).
pub async fn update_rule(scope: &AccountScope, id: AlertRuleId, input: RuleInput) -> Result<Rule> {
    scope.require(Role::Admin)?;
    validate_rule(&input)?;
    let txn = scope.db().begin_write().await?;
    require_project(&txn, scope, input.project_id).await?;
    require_targets(&txn, scope, &input.target_ids).await?;
    let updated = repo::update_rule(&txn, scope, id, &rule_fields(&input)?, Utc::now()).await?;
    if updated == 0 {
        return Err(Error::NotFound);
    }
    repo::replace_rule_targets(&txn, scope, id, &input.target_ids).await?;
    txn.commit().await?;
    get_rule(scope, id).await
}

/// Deletes a rule (admins); its delivery log stays, without the rule.
pub async fn delete_rule(scope: &AccountScope, id: AlertRuleId) -> Result<()> {
    scope.require(Role::Admin)?;
    let deleted = repo::delete_rule(scope.db().conn(), scope, id).await?;
    found_one(deleted)
}

async fn rules_where(scope: &AccountScope, which: RulesOf) -> Result<Vec<Rule>> {
    let conn = scope.db().conn();
    let rows = repo::rules(conn, scope, which).await?;
    let ids: Vec<AlertRuleId> = rows.iter().map(|r| r.id).collect();
    let links = if ids.is_empty() {
        Vec::new()
    } else {
        repo::rule_targets(conn, scope, &ids).await?
    };
    Ok(rows.into_iter().map(|row| to_rule(row, &links)).collect())
}

fn to_rule(row: RuleRow, links: &[(AlertRuleId, AlertTargetId)]) -> Rule {
    let target_ids = links
        .iter()
        .filter(|(rule, _)| *rule == row.id)
        .map(|(_, target)| *target)
        .collect();
    let fields = row.fields;
    Rule {
        id: row.id,
        input: RuleInput {
            project_id: fields.project_id,
            name: fields.name,
            trigger: fields.trigger,
            frequency_count: fields.frequency_count,
            frequency_minutes: fields.frequency_minutes,
            filters: serde_json::from_str(&fields.filters).unwrap_or_default(),
            action_interval_minutes: fields.action_interval_minutes,
            enabled: fields.enabled,
            target_ids,
        },
        created_at: row.created_at,
    }
}

/// One rule.
pub async fn get_rule(scope: &AccountScope, id: AlertRuleId) -> Result<Rule> {
    rules_where(scope, RulesOf::Id(id))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)
}

/// The rules of a project (members).
pub async fn list_rules(scope: &AccountScope, project_id: ProjectId) -> Result<Vec<Rule>> {
    require_project(scope.db().conn(), scope, project_id).await?;
    rules_where(scope, RulesOf::Project(project_id)).await
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
    let new = NewTarget {
        project_id: input.project_id,
        name: input.name.trim().to_owned(),
        kind: input.kind.clone(),
        config: config.to_string(),
        secret,
        created_at: Utc::now(),
    };
    let id = repo::insert_target(conn, scope, &new).await?;
    get_target(scope, id).await
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
    let updated = repo::update_target(
        scope.db().conn(),
        scope,
        id,
        input.name.trim(),
        config.to_string(),
    )
    .await?;
    if updated == 0 {
        // Deleted in between.
        return Err(Error::NotFound);
    }
    get_target(scope, id).await
}

/// Deletes a target (admins), with its deliveries.
pub async fn delete_target(scope: &AccountScope, id: AlertTargetId) -> Result<()> {
    scope.require(Role::Admin)?;
    let deleted = repo::delete_target(scope.db().conn(), scope, id).await?;
    found_one(deleted)
}

async fn targets_where(scope: &AccountScope, id: Option<AlertTargetId>) -> Result<Vec<Target>> {
    scope.require(Role::Admin)?;
    let rows = repo::targets(scope.db().conn(), scope, id).await?;
    Ok(rows.into_iter().map(to_target).collect())
}

fn to_target(row: TargetRow) -> Target {
    let config: serde_json::Value = serde_json::from_str(&row.config).unwrap_or_default();
    Target {
        id: row.id,
        input: TargetInput {
            project_id: row.project_id,
            name: row.name,
            kind: row.kind,
            url: config
                .get("url")
                .and_then(|u| u.as_str())
                .map(str::to_owned),
            emails: config
                .get("to")
                .and_then(|to| serde_json::from_value(to.clone()).ok())
                .unwrap_or_default(),
        },
        secret: row.secret,
        created_at: row.created_at,
    }
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
    let status = match status {
        Some(raw) => match NotificationStatus::parse(raw) {
            Some(status) => Some(status),
            // No row is stored with any other status.
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let rows = repo::deliveries(scope.db().conn(), scope, status, limit.clamp(1, 500)).await?;
    Ok(rows.into_iter().map(to_delivery).collect())
}

fn to_delivery(row: DeliveryRecord) -> Delivery {
    Delivery {
        id: NotificationId(row.id),
        rule_id: row.rule_id.map(AlertRuleId),
        target_id: AlertTargetId(row.target_id),
        issue_id: row.issue_id.map(IssueId),
        trigger: row.trigger_kind,
        status: row.status,
        attempts: row.attempts,
        last_error: row.last_error,
        next_attempt_at: row.next_attempt_at,
        created_at: row.created_at,
        sent_at: row.sent_at,
    }
}

/// One delivery (members).
pub async fn get_delivery(scope: &AccountScope, id: NotificationId) -> Result<Delivery> {
    let row = repo::delivery(scope.db().conn(), scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(to_delivery(row))
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
    let updated = repo::requeue_dead(scope.db().conn(), scope, id, now).await?;
    if updated == 0 {
        // Absent, another tenant's, or not a dead letter.
        get_delivery(scope, id).await?;
        return Err(Error::validation("id", "only dead letters can be retried"));
    }
    queue_delivery(queue, id, 0, now, None).await?;
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
    let id = repo::insert_notification(
        scope.db().conn(),
        scope,
        &NewNotification {
            project_id: target.input.project_id,
            rule_id: None,
            target_id,
            issue_id: None,
            trigger: "test".to_owned(),
            dedup_key: format!("test:t{}:{}", target_id.0, uuid::Uuid::new_v4().simple()),
        },
        now,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("a fresh test key conflicted"))?;
    queue_delivery(queue, id, 0, now, None).await?;
    get_delivery(scope, id).await
}

/// `NotFound` unless a delete found its row (absent, or another tenant's).
fn found_one(deleted: u64) -> Result<()> {
    if deleted == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
