//! Delivery of one notification to its target: email (HTML + text), Slack incoming webhook
//! (blocks), Discord webhook (embed) or a generic JSON webhook signed with HMAC-SHA256.
//!
//! Retries are this job's own, recorded on the `notifications` row: a failed attempt sets
//! `next_attempt_at` (see [`super::retry_delay`]) and queues the next attempt; the fifth
//! failure makes the row a dead letter (`status = 'dead'`) that [`crate::service::alert`] can
//! queue again. The job itself fails (and is retried by the job layer) only when the database
//! does.
//!
//! Signature of webhook bodies: header `X-ErrorWatch-Signature: t=<unix seconds>,v1=<hex>`,
//! where `<hex>` is HMAC-SHA256 with the target's secret over `"<t>." + body`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use super::AlertContext;
use crate::ids::{AccountId, AlertTargetId, IssueId, NotificationId, ProjectId};
use crate::jobs::Job;
use crate::mail::Email;
use crate::repo::Tenant;
use crate::repo::alerts::{self as repo, AttemptEnd};

/// Delivers notification `notification_id` once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliverNotification {
    /// Row of `notifications`.
    pub notification_id: NotificationId,
}

impl Job for DeliverNotification {
    const NAME: &'static str = "deliver_notification";
    const CONCURRENCY: usize = 8;

    type Context = AlertContext;

    async fn run(&self, ctx: &AlertContext, _attempt: u32) -> anyhow::Result<()> {
        deliver(ctx, self.notification_id).await
    }
}

/// Re-queues deliveries whose job was lost: pending ones overdue by more than
/// [`SWEEP_GRACE`] (a crash between recording a failure and queueing the retry) and ones
/// whose sender died mid-send (lease expired). A duplicate is harmless: only the run that
/// claims the row's lease sends. Scheduled every few minutes by the server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepNotifications;

/// How overdue a pending delivery must be before the sweep queues it again.
pub const SWEEP_GRACE: chrono::Duration = chrono::Duration::minutes(2);

impl Job for SweepNotifications {
    const NAME: &'static str = "sweep_notifications";
    const CONCURRENCY: usize = 1;

    type Context = AlertContext;

    async fn run(&self, ctx: &AlertContext, _attempt: u32) -> anyhow::Result<()> {
        let now = Utc::now();
        let rows =
            repo::stalled_notifications_all_accounts(ctx.db.conn(), now, now - SWEEP_GRACE).await?;
        let bucket = now.timestamp() / 60;
        for row in &rows {
            let (id, attempts) = (row.id.0, row.attempts);
            ctx.queue
                .enqueue_with(
                    &DeliverNotification {
                        notification_id: NotificationId(id),
                    },
                    crate::jobs::EnqueueOptions {
                        delay: None,
                        idempotency_key: Some(format!("sweep:{id}:{attempts}:{bucket}")),
                    },
                )
                .await?;
            tracing::debug!(
                account.id = %row.account_id,
                notification.id = id,
                "re-queued a stalled notification"
            );
        }
        if !rows.is_empty() {
            warn!(
                notifications = rows.len(),
                "re-queued {} stalled notifications",
                rows.len()
            );
        }
        Ok(())
    }
}

/// The signature header value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let mac = crate::auth::hmac::hmac_sha256(secret.as_bytes(), &message);
    format!("t={timestamp},v1={}", hex::encode(mac))
}

/// Whether `header` (an `X-ErrorWatch-Signature` value) signs `body` with `secret`. Receivers
/// should also refuse timestamps older than a few minutes (replays).
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = Some(v),
            _ => {}
        }
    }
    match (timestamp, signature) {
        (Some(t), Some(given)) => {
            let expected = sign(secret, t, body);
            let expected = expected.rsplit("v1=").next().unwrap_or_default();
            // Constant time: the comparison does not stop at the first difference.
            expected.len() == given.len()
                && expected
                    .bytes()
                    .zip(given.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        }
        _ => false,
    }
}

/// What a notification says.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// Unique per delivery (the notification's `dedup_key`); receivers may deduplicate on it.
    pub delivery: String,
    /// `new_issue`, `regression`, `frequency`, `ignored_expired` or `test`.
    pub trigger: String,
    /// Project name.
    pub project: String,
    /// Issue title.
    pub title: String,
    /// Culprit (usually the top in-app frame: module and function).
    pub culprit: Option<String>,
    /// The top in-app frame of the latest event's exception (`module in function at file:line`).
    pub top_frame: Option<String>,
    /// Issue level.
    pub level: String,
    /// Events so far.
    pub count: i64,
    /// Users affected so far.
    pub users: i64,
    /// First seen.
    pub first_seen: Option<DateTime<Utc>>,
    /// Last seen.
    pub last_seen: Option<DateTime<Utc>>,
    /// Dashboard link.
    pub url: String,
}

impl Message {
    fn headline(&self) -> String {
        let what = match self.trigger.as_str() {
            "new_issue" => "New issue",
            "regression" => "Regression",
            "frequency" => "Frequent issue",
            "ignored_expired" => "Ignored issue is back",
            "test" => "Test notification",
            _ => "Alert",
        };
        format!("[{}] {what}: {}", self.project, self.title)
    }

    fn text(&self) -> String {
        format!(
            "{}\n\nCulprit: {}\nTop frame: {}\nLevel: {}\nEvents: {}\nUsers: {}\nLast seen: {}\n\n{}\n",
            self.headline(),
            self.culprit.as_deref().unwrap_or("-"),
            self.top_frame.as_deref().unwrap_or("-"),
            self.level,
            self.count,
            self.users,
            self.last_seen.map(|t| t.to_rfc3339()).unwrap_or_default(),
            self.url
        )
    }

    fn html(&self) -> String {
        format!(
            "<h2>{}</h2><p><code>{}</code></p><p>Top frame: <code>{}</code></p>\
             <table><tr><td>Level</td><td>{}</td></tr>\
             <tr><td>Events</td><td>{}</td></tr><tr><td>Users</td><td>{}</td></tr></table>\
             <p><a href=\"{}\">Open the issue in ErrorWatch</a></p>",
            escape(&self.headline()),
            escape(self.culprit.as_deref().unwrap_or("-")),
            escape(self.top_frame.as_deref().unwrap_or("-")),
            escape(&self.level),
            self.count,
            self.users,
            escape(&self.url)
        )
    }

    /// Slack incoming-webhook body (Block Kit).
    pub fn slack(&self) -> serde_json::Value {
        json!({
            "text": self.headline(),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": truncate(&self.headline(), 150)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                    "*Culprit:* `{}`\n*Level:* {}  *Events:* {}  *Users:* {}",
                    self.culprit.as_deref().unwrap_or("-"), self.level, self.count, self.users)}},
                {"type": "actions", "elements": [{"type": "button",
                    "text": {"type": "plain_text", "text": "Open issue"}, "url": self.url}]}
            ]
        })
    }

    /// Discord webhook body (one embed).
    pub fn discord(&self) -> serde_json::Value {
        json!({
            "content": truncate(&self.headline(), 1900),
            "embeds": [{
                "title": truncate(&self.title, 250),
                "url": self.url,
                "description": format!("`{}`", self.culprit.as_deref().unwrap_or("-")),
                "color": 0xE03E2F,
                "fields": [
                    {"name": "Level", "value": self.level, "inline": true},
                    {"name": "Events", "value": self.count.to_string(), "inline": true},
                    {"name": "Users", "value": self.users.to_string(), "inline": true}
                ]
            }]
        })
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A target as stored.
struct Target {
    kind: String,
    config: serde_json::Value,
    secret: Option<String>,
}

async fn deliver(ctx: &AlertContext, notification: NotificationId) -> anyhow::Result<()> {
    let id = notification.0;
    let conn = ctx.db.conn();
    let now = Utc::now();
    let lease =
        now + chrono::Duration::from_std(ctx.alerts.timeout * 2)? + chrono::Duration::seconds(30);
    // Claim: a pending row that is due, or one whose last holder died mid-send.
    let Some(account) = repo::claim_notification_any_account(
        conn,
        notification,
        now,
        now + chrono::Duration::seconds(2),
        lease,
    )
    .await?
    else {
        return Ok(());
    };
    let account_id = account.0;
    let tenant = Tenant::from(&crate::scope::AccountScope::system(
        &ctx.db,
        account,
        "alert delivery sends the account's notification",
    ));
    let row = repo::claimed_notification(conn, tenant, notification)
        .await?
        .context("claimed notification vanished")?;
    let attempts = row.attempts;
    let message =
        build_message(ctx, conn, tenant, row.issue_id, row.trigger, row.dedup_key).await?;
    let target = load_target(conn, tenant, row.target_id).await?;
    let started = std::time::Instant::now();
    let outcome = match target {
        Some(target) => send(ctx, &target, &message).await,
        None => Err(anyhow::anyhow!("the target was deleted")),
    };
    match outcome {
        Ok(()) => {
            repo::finish_attempt(conn, tenant, notification, AttemptEnd::Sent(Utc::now())).await?;
            info!(
                account.id = account_id,
                notification.id = id,
                duration_ms = started.elapsed().as_millis() as u64,
                "notification {id} delivered"
            );
        }
        Err(error) => {
            let text: String = format!("{error:#}").chars().take(1000).collect();
            // A target refused for where it leads fails the same way every time: it becomes a
            // dead letter now instead of after hours of retries.
            let hopeless = error.is::<super::ssrf::Refused>();
            if attempts >= super::MAX_ATTEMPTS || hopeless {
                repo::finish_attempt(
                    conn,
                    tenant,
                    notification,
                    AttemptEnd::Dead(Utc::now(), text.clone()),
                )
                .await?;
                warn!(
                    account.id = account_id,
                    notification.id = id,
                    error = text,
                    "notification {id} failed {attempts} times; kept as a dead letter"
                );
            } else {
                let delay = super::retry_delay(ctx.alerts.retry_base, attempts as u32);
                let next = Utc::now() + chrono::Duration::from_std(delay)?;
                repo::finish_attempt(
                    conn,
                    tenant,
                    notification,
                    AttemptEnd::Retry(next, text.clone()),
                )
                .await?;
                super::trigger::queue_delivery(
                    &ctx.queue,
                    notification,
                    attempts,
                    next,
                    Some(delay),
                )
                .await?;
                warn!(
                    account.id = account_id,
                    notification.id = id,
                    error = text,
                    retry_in_ms = delay.as_millis() as u64,
                    "notification {id} failed (attempt {attempts}), will retry"
                );
            }
        }
    }
    Ok(())
}

async fn load_target(
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    id: AlertTargetId,
) -> anyhow::Result<Option<Target>> {
    let Some(row) = repo::target_for_delivery(conn, tenant, id).await? else {
        return Ok(None);
    };
    Ok(Some(Target {
        kind: row.kind,
        config: serde_json::from_str(&row.config).context("target config is not JSON")?,
        secret: row.secret,
    }))
}

async fn build_message(
    ctx: &AlertContext,
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    issue_id: Option<IssueId>,
    trigger: String,
    delivery: String,
) -> anyhow::Result<Message> {
    let issue = match issue_id {
        Some(issue_id) => repo::issue_summary(conn, tenant, issue_id).await?,
        None => None,
    };
    let Some(issue) = issue else {
        return Ok(Message {
            delivery,
            trigger,
            project: "ErrorWatch".to_owned(),
            title: "This target works".to_owned(),
            culprit: None,
            top_frame: None,
            level: "info".to_owned(),
            count: 0,
            users: 0,
            first_seen: None,
            last_seen: None,
            url: ctx.alerts.public_url.to_string(),
        });
    };
    let project = repo::project_name(conn, tenant, ProjectId(issue.project_id))
        .await?
        .unwrap_or_default();
    let issue_id = issue_id.expect("issue row implies an id");
    let top_frame = top_frame(ctx, tenant.account_id(), issue_id.0).await;
    Ok(Message {
        delivery,
        trigger,
        project,
        top_frame,
        title: issue.title,
        culprit: issue.culprit,
        level: issue.level,
        count: issue.times_seen,
        users: issue.users_seen,
        first_seen: issue.first_seen,
        last_seen: issue.last_seen,
        url: ctx.alerts.issue_link(tenant.account_id(), issue_id),
    })
}

/// The top in-app frame of the issue's latest event; `None` when there is none (or the event
/// was evicted). Best effort: a notification goes out without it rather than not at all.
async fn top_frame(ctx: &AlertContext, account_id: AccountId, issue_id: i64) -> Option<String> {
    let scope = crate::scope::AccountScope::system(
        &ctx.db,
        account_id,
        "alert delivery reads the latest event's stack trace",
    );
    let latest = crate::service::event::latest_events(&scope, &[IssueId(issue_id)])
        .await
        .ok()?
        .into_iter()
        .next()?;
    let (_, payload) = crate::service::event::get_event(&scope, latest.id)
        .await
        .ok()?;
    describe_top_frame(&payload)
}

/// `module in function at file:line` of the innermost in-app frame of the last exception.
fn describe_top_frame(payload: &serde_json::Value) -> Option<String> {
    let exception = payload
        .pointer("/exception/values")
        .and_then(|v| v.as_array())?
        .last()?;
    let frames = exception.pointer("/stacktrace/frames")?.as_array()?;
    let frame = frames
        .iter()
        .rev()
        .find(|f| f.get("in_app").and_then(|v| v.as_bool()) == Some(true))
        .or_else(|| frames.last())?;
    let text = |key: &str| frame.get(key).and_then(|v| v.as_str());
    let mut out = text("module")
        .or_else(|| text("filename"))
        .unwrap_or("?")
        .to_owned();
    if let Some(function) = text("function") {
        out.push_str(&format!(" in {function}"));
    }
    if let (Some(file), Some(line)) = (
        text("filename").or_else(|| text("abs_path")),
        frame.get("lineno").and_then(|v| v.as_i64()),
    ) {
        out.push_str(&format!(" at {file}:{line}"));
    }
    Some(out)
}

async fn send(ctx: &AlertContext, target: &Target, message: &Message) -> anyhow::Result<()> {
    if target.kind == "email" {
        let recipients: Vec<String> = target
            .config
            .get("to")
            .and_then(|to| serde_json::from_value(to.clone()).ok())
            .unwrap_or_default();
        anyhow::ensure!(!recipients.is_empty(), "the email target has no recipients");
        for to in recipients {
            let email = Email {
                to,
                subject: message.headline(),
                text: message.text(),
                html: Some(message.html()),
            };
            tokio::time::timeout(ctx.alerts.timeout * 3, ctx.mailer.deliver(&email))
                .await
                .context("the mail server timed out")??;
        }
        return Ok(());
    }
    let raw_url = target
        .config
        .get("url")
        .and_then(|u| u.as_str())
        .context("the target has no url")?;
    let url = super::ssrf::check_url(raw_url, ctx.alerts.allow_private_targets)?;
    let body = match target.kind.as_str() {
        "slack" => serde_json::to_vec(&message.slack())?,
        "discord" => serde_json::to_vec(&message.discord())?,
        _ => serde_json::to_vec(message)?,
    };
    let mut request = ctx
        .alerts
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-errorwatch-delivery", &message.delivery);
    if target.kind == "webhook"
        && let Some(secret) = &target.secret
    {
        request = request.header(
            "x-errorwatch-signature",
            sign(secret, Utc::now().timestamp(), &body),
        );
    }
    let response = request.body(body).send().await.map_err(|e| {
        // The resolver's refusal is the useful part of the chain, and it is final.
        let refused =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |inner| {
                inner.source()
            })
            .find_map(|inner| inner.downcast_ref::<super::ssrf::Refused>());
        match refused {
            Some(refused) => anyhow::Error::new(super::ssrf::Refused(refused.0.clone())),
            None => anyhow::anyhow!("{}", error_chain(&e)),
        }
    })?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "the target answered HTTP {status}");
    Ok(())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_frame_is_the_innermost_in_app_one() {
        let payload = json!({"exception": {"values": [{"stacktrace": {"frames": [
            {"module": "shop.cart", "function": "apply", "filename": "cart.py", "lineno": 7, "in_app": true},
            {"module": "requests", "function": "get", "in_app": false}
        ]}}]}});
        assert_eq!(
            describe_top_frame(&payload).as_deref(),
            Some("shop.cart in apply at cart.py:7")
        );
        assert_eq!(describe_top_frame(&json!({"message": "x"})), None);
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let header = sign("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("s3cret", &header, b"{\"a\":1}"));
        assert!(!verify("s3cret", &header, b"{\"a\":2}"));
        assert!(!verify("other", &header, b"{\"a\":1}"));
        assert!(!verify("s3cret", "t=1700000001,v1=00", b"{\"a\":1}"));
    }
}
