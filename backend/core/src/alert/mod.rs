//! Alerts: rules decide when an issue is worth a notification, targets say where it goes, and
//! every delivery is a row of `notifications` worked by a [`deliver::DeliverNotification`] job.
//!
//! Flow: the digest's write transaction collects [`trigger::Candidate`]s (new issues,
//! regressions, woken ignored issues, event counts per issue) for projects that have enabled
//! rules; after the commit one [`trigger::EvaluateAlerts`] job is enqueued with them. The
//! digest never waits on anything but that enqueue. The job matches rules and filters, and
//! inserts one `notifications` row per (rule, issue, trigger window, target) under a unique
//! `dedup_key`, so a trigger fires at most once per window however often it is evaluated;
//! only the insert that created the row enqueues its delivery.
//!
//! Invariant: a delivery is sent only by the run holding the row's lease (`status = 'sending'`,
//! `lease_until` in the future), and a row marked `sent` is never sent again, so duplicate
//! job runs and retries never send twice.

pub mod deliver;
pub mod ssrf;
pub mod trigger;

use std::time::Duration;

use crate::config::Config;
use crate::ids::{AccountId, IssueId};

/// Attempts per delivery before it becomes a dead letter.
pub const MAX_ATTEMPTS: i32 = 5;

/// What the alert jobs (evaluation, delivery, sweeps) need.
#[derive(Clone, Debug)]
pub struct AlertContext {
    /// The database.
    pub db: crate::db::Db,
    /// For follow-up jobs (deliveries, emails).
    pub queue: crate::jobs::JobQueue,
    /// Outgoing email.
    pub mailer: crate::mail::Mailer,
    /// Delivery settings and the guarded HTTP client.
    pub alerts: Alerts,
}

/// What delivery jobs need from the configuration, plus the guarded HTTP client.
#[derive(Clone, Debug)]
pub struct Alerts {
    /// Private targets allowed (self-hosted opt-in).
    pub allow_private_targets: bool,
    /// Per-delivery timeout.
    pub timeout: Duration,
    /// First retry delay (see [`retry_delay`]).
    pub retry_base: Duration,
    /// Per-account notifications per hour.
    pub max_per_hour: u32,
    /// Base URL for links in notifications.
    pub public_url: url::Url,
    /// HTTP client whose resolver refuses private addresses (unless allowed), with redirects
    /// and proxies off.
    pub http: reqwest::Client,
}

impl Alerts {
    /// Builds the settings and the guarded client.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let settings = &config.alerts;
        Ok(Self {
            allow_private_targets: settings.allow_private_targets,
            timeout: settings.timeout,
            retry_base: settings.retry_base,
            max_per_hour: settings.max_per_hour,
            public_url: config.http.public_url.clone(),
            http: ssrf::guarded_client(settings.allow_private_targets, settings.timeout)?,
        })
    }

    /// The dashboard URL of an issue.
    pub fn issue_link(&self, account_id: AccountId, issue_id: IssueId) -> String {
        let account_id = account_id.0;
        let issue_id = issue_id.0;
        format!(
            "{}/acc_{account_id}/issues/iss_{issue_id}",
            self.public_url.as_str().trim_end_matches('/')
        )
    }
}

/// Delay before attempt `failures + 1`: `base * 4^(failures-1)` plus up to 25 % jitter. With
/// the default base of 4.5 minutes the four waits add up to about 6.4 hours.
pub fn retry_delay(base: Duration, failures: u32) -> Duration {
    crate::jobs::exponential_backoff(failures, base, Duration::from_secs(12 * 3600))
}
