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
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::AlertContext;
use crate::db::Db;
use crate::ids::{AccountId, AlertRuleId, AlertTargetId, IssueId, NotificationId, ProjectId};
use crate::jobs::{EnqueueOptions, Job, JobQueue};
use crate::repo::Tenant;
use crate::repo::alerts::{self as repo, IssueTransition, NewNotification, NotificationStatus};

/// What one digest batch did to one issue, as far as alert rules care.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Candidate {
    /// Tenant.
    pub account_id: AccountId,
    /// Project of the issue.
    pub project_id: ProjectId,
    /// The issue.
    pub issue_id: IssueId,
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
    let projects: BTreeSet<ProjectId> = candidates.iter().map(|c| c.project_id).collect();
    let with_rules: BTreeSet<(AccountId, ProjectId)> =
        repo::watched_projects_all_accounts(conn, projects)
            .await?
            .into_iter()
            .map(|w| (w.account_id, w.project_id))
            .collect();
    Ok(candidates
        .into_iter()
        .filter(|c| with_rules.contains(&(c.account_id, c.project_id)))
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
    account_id: AccountId,
    id: AlertRuleId,
    project_id: ProjectId,
    trigger: String,
    frequency_count: i64,
    frequency_minutes: i64,
    filters: Filters,
    interval_minutes: i64,
}

async fn evaluate(ctx: &AlertContext, candidates: &[Candidate]) -> anyhow::Result<()> {
    let conn = ctx.db.conn();
    let now = Utc::now();
    let projects: BTreeSet<ProjectId> = candidates.iter().map(|c| c.project_id).collect();
    let rows = repo::enabled_rules_all_accounts(conn, projects).await?;
    let mut rules = Vec::with_capacity(rows.len());
    for row in rows {
        rules.push(Rule {
            account_id: row.account_id,
            id: row.id,
            project_id: row.project_id,
            trigger: row.trigger,
            frequency_count: row.frequency_count.unwrap_or(0).into(),
            frequency_minutes: row.frequency_minutes.unwrap_or(1).into(),
            filters: serde_json::from_str(&row.filters).unwrap_or_default(),
            interval_minutes: i64::from(Ord::max(row.action_interval_minutes, 1)),
        });
    }
    if rules.is_empty() {
        return Ok(());
    }
    let targets = rule_targets(conn, rules.iter().map(|r| r.id)).await?;
    for candidate in candidates {
        for rule in rules.iter().filter(|r| {
            r.project_id == candidate.project_id && r.account_id == candidate.account_id
        }) {
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
    rule_ids: impl Iterator<Item = AlertRuleId>,
) -> anyhow::Result<HashMap<AlertRuleId, Vec<AlertTargetId>>> {
    let mut map: HashMap<AlertRuleId, Vec<AlertTargetId>> = HashMap::new();
    for (rule, target) in repo::rule_targets_all_accounts(conn, rule_ids).await? {
        map.entry(rule).or_default().push(target);
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
    let tenant = tenant_of(candidate);
    let issue = candidate.issue_id;
    Ok(match rule.trigger.as_str() {
        "new_issue" => candidate.created.then(|| "new".to_owned()),
        "regression" if candidate.state_change.as_deref() == Some("regression") => {
            repo::issue_transition_time(conn, tenant, issue, IssueTransition::Regressed)
                .await?
                .map(|at| format!("regression:{}", at.timestamp()))
        }
        "ignored_expired" if candidate.state_change.as_deref() == Some("unignored") => {
            repo::issue_transition_time(conn, tenant, issue, IssueTransition::StatusChanged)
                .await?
                .map(|at| format!("ignored_expired:{}", at.timestamp()))
        }
        "frequency" if candidate.events > 0 => {
            let threshold = Ord::max(rule.frequency_count, 0);
            let since = now - chrono::Duration::minutes(Ord::max(rule.frequency_minutes, 1));
            // Counts at most the threshold + 1 (an index range scan that stops there).
            let limit = Ord::max(threshold + 1, 1) as u64;
            let recent = repo::count_recent_events(conn, tenant, issue, since, limit).await?;
            (recent > threshold).then(|| {
                let bucket = now.timestamp() / 60 / rule.interval_minutes;
                format!("frequency:{bucket}")
            })
        }
        _ => None,
    })
}

/// The candidate's account: the one whose DSN key accepted the events the digest stored.
fn tenant_of(candidate: &Candidate) -> Tenant {
    Tenant::ingested(candidate.account_id)
}

/// Records one notification per target of a firing rule and queues the new deliveries.
async fn fire(
    ctx: &AlertContext,
    rule: &Rule,
    candidate: &Candidate,
    window: &str,
    targets: &[AlertTargetId],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let conn = ctx.db.conn();
    let tenant = tenant_of(candidate);
    let issue = candidate.issue_id;
    let prefix = format!("r{}:i{}:{window}:", rule.id, candidate.issue_id);
    // The action interval: another window of this rule already notified about this issue.
    let since = now - chrono::Duration::minutes(rule.interval_minutes);
    if repo::notified_in_another_window(conn, tenant, rule.id, issue, since, &prefix).await? {
        return Ok(());
    }
    let hour_ago = now - chrono::Duration::hours(1);
    let sent_this_hour =
        repo::rule_notifications_since(conn, tenant, hour_ago, u64::from(ctx.alerts.max_per_hour))
            .await?;
    if sent_this_hour >= ctx.alerts.max_per_hour as usize {
        warn!(
            account.id = candidate.account_id.0,
            rule.id = rule.id.0,
            issue.id = candidate.issue_id.0,
            "alert dropped: account {} reached its {} notifications per hour",
            candidate.account_id,
            ctx.alerts.max_per_hour
        );
        return Ok(());
    }
    for &target_id in targets {
        let key = format!("{prefix}t{target_id}");
        let new = NewNotification {
            project_id: Some(candidate.project_id),
            rule_id: Some(rule.id),
            target_id,
            issue_id: Some(issue),
            trigger: rule.trigger.clone(),
            dedup_key: key,
        };
        if let Some(id) = repo::insert_notification(conn, tenant, &new, now).await? {
            info!(
                account.id = candidate.account_id.0,
                rule.id = rule.id.0,
                issue.id = candidate.issue_id.0,
                notification.id = id.0,
                "alert rule {} fired for issue {}",
                rule.id,
                candidate.issue_id
            );
        }
        queue_if_new(ctx, conn, tenant, &new.dedup_key).await?;
    }
    Ok(())
}

/// Queues the first delivery of the notification keyed `dedup_key` if it has not been tried
/// yet. The queue's idempotency key makes a second call (a replayed evaluation) a no-op.
async fn queue_if_new(
    ctx: &AlertContext,
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    dedup_key: &str,
) -> anyhow::Result<()> {
    let Some(row) = repo::delivery_state(conn, tenant, dedup_key).await? else {
        return Ok(());
    };
    if row.status == Some(NotificationStatus::Pending) && row.attempts == 0 {
        queue_delivery(
            &ctx.queue,
            row.id,
            row.attempts,
            row.next_attempt_at.unwrap_or_else(Utc::now),
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
    notification: NotificationId,
    attempts: i32,
    scheduled: DateTime<Utc>,
    delay: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let notification_id = notification.0;
    queue
        .enqueue_with(
            &super::deliver::DeliverNotification {
                notification_id: NotificationId(notification_id),
            },
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
            account_id: AccountId(1),
            project_id: ProjectId(2),
            issue_id: IssueId(3),
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
