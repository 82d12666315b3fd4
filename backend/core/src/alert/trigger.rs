//! Trigger evaluation: which rules fire for the issues a digest batch touched.
//!
//! The digest collects one [`Candidate`] per touched issue inside its transaction (only for
//! projects with an enabled rule, one indexed read) and, after the commit, [`submit`] enqueues
//! one [`EvaluateAlerts`] job. Everything slower happens in that job.
//!
//! Trigger windows (the middle of a notification's `dedup_key`): `new` for a new issue,
//! `regression:<regressed_at>` and `ignored_expired:<status_changed_at>` for state changes,
//! and `frequency:<bucket>` (the action interval counted from the epoch) for counts. On top, a
//! rule notifies about one issue at most once per action interval.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::AlertContext;
use crate::db::Db;
use crate::jobs::{EnqueueOptions, Job, JobQueue};

/// What one digest batch did to one issue, as far as alert rules care.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Candidate {
    /// Tenant.
    pub account_id: i64,
    /// Project of the issue.
    pub project_id: i64,
    /// The issue.
    pub issue_id: i64,
    /// The batch created the issue.
    pub created: bool,
    /// `regression` or `unignored` when the batch changed the issue's state.
    pub state_change: Option<String>,
    /// Events the batch stored for the issue.
    pub events: u32,
    /// Level of the batch's latest event of the issue (filters match against it).
    pub level: String,
    /// Its environment.
    pub environment: String,
    /// Its release.
    pub release: Option<String>,
    /// Its tags.
    pub tags: Vec<(String, String)>,
}

/// Filters of a rule; an empty list matches everything.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Filters {
    /// Event levels (`error`, `warning`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<String>,
    /// Environments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// Releases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
    /// Tags the event must carry with exactly these values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

impl Filters {
    /// Whether `candidate`'s latest event passes every filter.
    pub fn matches(&self, candidate: &Candidate) -> bool {
        (self.levels.is_empty() || self.levels.contains(&candidate.level))
            && (self.environments.is_empty() || self.environments.contains(&candidate.environment))
            && (self.releases.is_empty()
                || candidate
                    .release
                    .as_ref()
                    .is_some_and(|r| self.releases.contains(r)))
            && self.tags.iter().all(|tag| candidate.tags.contains(tag))
    }
}

/// Keeps the candidates of projects that have at least one enabled rule (runs inside the
/// digest's transaction: one indexed read).
pub(crate) async fn watched(
    conn: &impl ConnectionTrait,
    candidates: Vec<Candidate>,
) -> anyhow::Result<Vec<Candidate>> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let projects: BTreeSet<i64> = candidates.iter().map(|c| c.project_id).collect();
    let rows = conn
        .query_all(
            &Query::select()
                .distinct()
                .column("project_id")
                .from("alert_rules")
                .and_where(Expr::col("enabled").eq(true))
                .and_where(Expr::col("project_id").is_in(projects))
                .to_owned(),
        )
        .await?;
    let with_rules = rows
        .iter()
        .map(|row| row.try_get::<i64>("", "project_id"))
        .collect::<Result<BTreeSet<i64>, _>>()?;
    Ok(candidates
        .into_iter()
        .filter(|c| with_rules.contains(&c.project_id))
        .collect())
}

/// Enqueues the evaluation of a committed batch's candidates. Never fails the digest: a failed
/// enqueue is logged (the batch's alerts are then lost).
pub async fn submit(db: &Db, candidates: Vec<Candidate>) {
    if candidates.is_empty() {
        return;
    }
    let queue = JobQueue::new(db.clone(), crate::metrics::Metrics::new());
    if let Err(error) = queue.enqueue(&EvaluateAlerts { candidates }).await {
        warn!(
            error = format!("{error:#}"),
            "could not queue alert evaluation"
        );
    }
}

/// Decides which rules fire for a batch's candidates and queues their deliveries. Idempotent:
/// every notification is keyed by its trigger window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvaluateAlerts {
    /// The issues a batch touched.
    pub candidates: Vec<Candidate>,
}

impl Job for EvaluateAlerts {
    const NAME: &'static str = "evaluate_alerts";
    const CONCURRENCY: usize = 2;

    type Context = AlertContext;

    async fn run(&self, ctx: &AlertContext, _attempt: u32) -> anyhow::Result<()> {
        evaluate(ctx, &self.candidates).await
    }
}

/// One enabled rule.
#[derive(Clone, Debug)]
struct Rule {
    id: i64,
    project_id: i64,
    trigger: String,
    frequency_count: i64,
    frequency_minutes: i64,
    filters: Filters,
    interval_minutes: i64,
}

async fn evaluate(ctx: &AlertContext, candidates: &[Candidate]) -> anyhow::Result<()> {
    let conn = ctx.db.conn();
    let now = Utc::now();
    let projects: BTreeSet<i64> = candidates.iter().map(|c| c.project_id).collect();
    let rows = conn
        .query_all(
            &Query::select()
                .columns([
                    "id",
                    "project_id",
                    "trigger_kind",
                    "frequency_count",
                    "frequency_minutes",
                    "filters",
                    "action_interval_minutes",
                ])
                .from("alert_rules")
                .and_where(Expr::col("enabled").eq(true))
                .and_where(Expr::col("project_id").is_in(projects))
                .order_by("id", sea_orm::sea_query::Order::Asc)
                .to_owned(),
        )
        .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for row in rows {
        rules.push(Rule {
            id: row.try_get("", "id")?,
            project_id: row.try_get("", "project_id")?,
            trigger: row.try_get("", "trigger_kind")?,
            frequency_count: row
                .try_get::<Option<i32>>("", "frequency_count")?
                .unwrap_or(0)
                .into(),
            frequency_minutes: row
                .try_get::<Option<i32>>("", "frequency_minutes")?
                .unwrap_or(1)
                .into(),
            filters: serde_json::from_str(&row.try_get::<String>("", "filters")?)
                .unwrap_or_default(),
            interval_minutes: row
                .try_get::<i32>("", "action_interval_minutes")
                .map(|m| i64::from(Ord::max(m, 1)))?,
        });
    }
    if rules.is_empty() {
        return Ok(());
    }
    let targets = rule_targets(conn, rules.iter().map(|r| r.id)).await?;
    for candidate in candidates {
        for rule in rules
            .iter()
            .filter(|r| r.project_id == candidate.project_id)
        {
            if !rule.filters.matches(candidate) {
                continue;
            }
            let Some(window) = window_for(conn, rule, candidate, now).await? else {
                continue;
            };
            let Some(rule_targets) = targets.get(&rule.id) else {
                continue;
            };
            fire(ctx, rule, candidate, &window, rule_targets, now).await?;
        }
    }
    Ok(())
}

async fn rule_targets(
    conn: &impl ConnectionTrait,
    rule_ids: impl Iterator<Item = i64>,
) -> anyhow::Result<HashMap<i64, Vec<i64>>> {
    let rows = conn
        .query_all(
            &Query::select()
                .columns(["rule_id", "target_id"])
                .from("alert_rule_targets")
                .and_where(Expr::col("rule_id").is_in(rule_ids.collect::<Vec<_>>()))
                .order_by("target_id", sea_orm::sea_query::Order::Asc)
                .to_owned(),
        )
        .await?;
    let mut map: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in rows {
        map.entry(row.try_get("", "rule_id")?)
            .or_default()
            .push(row.try_get("", "target_id")?);
    }
    Ok(map)
}

/// The trigger window `rule` fires in for `candidate`, or `None` when it does not fire.
async fn window_for(
    conn: &impl ConnectionTrait,
    rule: &Rule,
    candidate: &Candidate,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    Ok(match rule.trigger.as_str() {
        "new_issue" => candidate.created.then(|| "new".to_owned()),
        "regression" if candidate.state_change.as_deref() == Some("regression") => {
            issue_time(conn, candidate.issue_id, "regressed_at")
                .await?
                .map(|at| format!("regression:{}", at.timestamp()))
        }
        "ignored_expired" if candidate.state_change.as_deref() == Some("unignored") => {
            issue_time(conn, candidate.issue_id, "status_changed_at")
                .await?
                .map(|at| format!("ignored_expired:{}", at.timestamp()))
        }
        "frequency" if candidate.events > 0 => {
            let threshold = Ord::max(rule.frequency_count, 0);
            let since = now - chrono::Duration::minutes(Ord::max(rule.frequency_minutes, 1));
            let recent = count_recent(conn, candidate.issue_id, since, threshold + 1).await?;
            (recent > threshold).then(|| {
                let bucket = now.timestamp() / 60 / rule.interval_minutes;
                format!("frequency:{bucket}")
            })
        }
        _ => None,
    })
}

async fn issue_time(
    conn: &impl ConnectionTrait,
    issue_id: i64,
    column: &'static str,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let row = conn
        .query_one(
            &Query::select()
                .column(column)
                .from("issues")
                .and_where(Expr::col("id").eq(issue_id))
                .to_owned(),
        )
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<DateTime<Utc>>>("", column)?,
        None => None,
    })
}

/// Events of `issue_id` since `since`, counting at most `limit` (an index range scan on
/// `(issue_id, timestamp)` that stops at the threshold).
async fn count_recent(
    conn: &impl ConnectionTrait,
    issue_id: i64,
    since: DateTime<Utc>,
    limit: i64,
) -> anyhow::Result<i64> {
    let rows = conn
        .query_all(
            &Query::select()
                .column("id")
                .from("events")
                .and_where(Expr::col("issue_id").eq(issue_id))
                .and_where(Expr::col("timestamp").gte(since))
                .limit(Ord::max(limit, 1) as u64)
                .to_owned(),
        )
        .await?;
    Ok(rows.len() as i64)
}

/// Records one notification per target of a firing rule and queues the new deliveries.
async fn fire(
    ctx: &AlertContext,
    rule: &Rule,
    candidate: &Candidate,
    window: &str,
    targets: &[i64],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let conn = ctx.db.conn();
    let prefix = format!("r{}:i{}:{window}:", rule.id, candidate.issue_id);
    // The action interval: another window of this rule already notified about this issue.
    let since = now - chrono::Duration::minutes(rule.interval_minutes);
    let recent = conn
        .query_all(
            &Query::select()
                .column("id")
                .from("notifications")
                .and_where(Expr::col("rule_id").eq(rule.id))
                .and_where(Expr::col("issue_id").eq(candidate.issue_id))
                .and_where(Expr::col("created_at").gte(since))
                .and_where(Expr::col("dedup_key").not_like(format!("{prefix}%")))
                .limit(1)
                .to_owned(),
        )
        .await?;
    if !recent.is_empty() {
        return Ok(());
    }
    let hour_ago = now - chrono::Duration::hours(1);
    let sent_this_hour = conn
        .query_all(
            &Query::select()
                .column("id")
                .from("notifications")
                .and_where(Expr::col("account_id").eq(candidate.account_id))
                .and_where(Expr::col("created_at").gte(hour_ago))
                .and_where(Expr::col("rule_id").is_not_null())
                .limit(u64::from(ctx.alerts.max_per_hour))
                .to_owned(),
        )
        .await?
        .len();
    if sent_this_hour >= ctx.alerts.max_per_hour as usize {
        warn!(
            account.id = candidate.account_id,
            rule.id = rule.id,
            issue.id = candidate.issue_id,
            "alert dropped: account {} reached its {} notifications per hour",
            candidate.account_id,
            ctx.alerts.max_per_hour
        );
        return Ok(());
    }
    for &target_id in targets {
        let key = format!("{prefix}t{target_id}");
        let new = NewNotification {
            account_id: candidate.account_id,
            project_id: Some(candidate.project_id),
            rule_id: Some(rule.id),
            target_id,
            issue_id: Some(candidate.issue_id),
            trigger: rule.trigger.clone(),
            dedup_key: key,
        };
        if let Some(id) = insert_notification(conn, &new, now).await? {
            info!(
                account.id = candidate.account_id,
                rule.id = rule.id,
                issue.id = candidate.issue_id,
                notification.id = id,
                "alert rule {} fired for issue {}",
                rule.id,
                candidate.issue_id
            );
        }
        queue_if_new(ctx, conn, &new.dedup_key).await?;
    }
    Ok(())
}

/// A notification to record.
pub(crate) struct NewNotification {
    pub account_id: i64,
    pub project_id: Option<i64>,
    pub rule_id: Option<i64>,
    pub target_id: i64,
    pub issue_id: Option<i64>,
    pub trigger: String,
    pub dedup_key: String,
}

/// Inserts a pending notification unless its key exists; returns the id when inserted.
pub(crate) async fn insert_notification(
    conn: &impl ConnectionTrait,
    new: &NewNotification,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<i64>> {
    let row = conn
        .query_one(
            &Query::insert()
                .into_table("notifications")
                .columns([
                    "account_id",
                    "project_id",
                    "rule_id",
                    "target_id",
                    "issue_id",
                    "trigger_kind",
                    "dedup_key",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                ])
                .values_panic([
                    new.account_id.into(),
                    new.project_id.into(),
                    new.rule_id.into(),
                    new.target_id.into(),
                    new.issue_id.into(),
                    new.trigger.clone().into(),
                    new.dedup_key.clone().into(),
                    "pending".into(),
                    0i32.into(),
                    now.into(),
                    now.into(),
                ])
                .on_conflict(OnConflict::column("dedup_key").do_nothing().to_owned())
                .returning_col("id")
                .to_owned(),
        )
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("", "id")?),
        None => None,
    })
}

/// Queues the first delivery of the notification keyed `dedup_key` if it has not been tried
/// yet. The queue's idempotency key makes a second call (a replayed evaluation) a no-op.
async fn queue_if_new(
    ctx: &AlertContext,
    conn: &impl ConnectionTrait,
    dedup_key: &str,
) -> anyhow::Result<()> {
    let row = conn
        .query_one(
            &Query::select()
                .columns(["id", "status", "attempts", "next_attempt_at"])
                .from("notifications")
                .and_where(Expr::col("dedup_key").eq(dedup_key))
                .to_owned(),
        )
        .await?;
    let Some(row) = row else { return Ok(()) };
    let status: String = row.try_get("", "status")?;
    let attempts: i32 = row.try_get("", "attempts")?;
    if status == "pending" && attempts == 0 {
        let next: Option<DateTime<Utc>> = row.try_get("", "next_attempt_at")?;
        queue_delivery(
            &ctx.queue,
            row.try_get("", "id")?,
            attempts,
            next.unwrap_or_else(Utc::now),
            None,
        )
        .await?;
    }
    Ok(())
}

/// Enqueues a delivery attempt, keyed by (notification, attempts, scheduled time) so the same
/// attempt is never queued twice.
pub(crate) async fn queue_delivery(
    queue: &JobQueue,
    notification_id: i64,
    attempts: i32,
    scheduled: DateTime<Utc>,
    delay: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    queue
        .enqueue_with(
            &super::deliver::DeliverNotification { notification_id },
            EnqueueOptions {
                delay,
                idempotency_key: Some(format!(
                    "deliver:{notification_id}:{attempts}:{}",
                    scheduled.timestamp_millis()
                )),
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate() -> Candidate {
        Candidate {
            account_id: 1,
            project_id: 2,
            issue_id: 3,
            created: true,
            state_change: None,
            events: 1,
            level: "error".into(),
            environment: "production".into(),
            release: Some("1.0".into()),
            tags: vec![("browser".into(), "Firefox".into())],
        }
    }

    fn check(filters: &str, expect: bool) {
        let filters: Filters = serde_json::from_str(filters).expect("filters json");
        assert_eq!(filters.matches(&candidate()), expect, "{filters:?}");
    }

    #[test]
    fn filters_match_every_listed_condition() {
        check("{}", true);
        check(r#"{"levels": ["error", "fatal"]}"#, true);
        check(r#"{"levels": ["warning"]}"#, false);
        check(r#"{"environments": ["staging"]}"#, false);
        check(r#"{"releases": ["1.0"]}"#, true);
        check(r#"{"releases": ["2.0"]}"#, false);
        check(r#"{"tags": [["browser", "Firefox"]]}"#, true);
        check(r#"{"tags": [["browser", "Chrome"]]}"#, false);
    }
}
