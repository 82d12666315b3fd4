//! Retention that keeps the disk bounded: events older than the maximum age, and the oldest
//! events beyond a per-project cap, are deleted — except the first and the latest event of
//! every issue, so each issue keeps an example of how it started and how it looks now.
//! Counters live on the issue and its hourly/tag rows, so they survive eviction.
//!
//! Invariant: an evicted event's attachments go in the same transaction as the event, so the
//! project's attachment bytes (the sum of `attachments.size`, checked against
//! `items::MAX_ATTACHMENT_BYTES_PER_PROJECT` at ingest) only count attachments of kept events,
//! plus attachments younger than the maximum age whose event has not arrived (yet).

use chrono::Utc;
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::db::Db;
use crate::ids::AccountId;
use crate::jobs::{EnqueueOptions, Job, JobQueue};
use crate::repo::Tenant;

/// Evicts events past the retention limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvictEvents {
    /// Events older than this many days go (first/latest per issue stay).
    pub max_age_days: u32,
    /// At most this many events per project are kept (first/latest per issue stay).
    pub max_events_per_project: i64,
    /// When set, an account's events are also kept no longer than its plan's
    /// `retention_days` (accounts without a subscription are on this plan).
    #[serde(default)]
    pub default_plan: Option<String>,
}

impl Job for EvictEvents {
    const NAME: &'static str = "evict_events";
    const MAX_ATTEMPTS: u32 = 3;

    type Context = Db;

    async fn run(&self, db: &Db, _attempt: u32) -> anyhow::Result<()> {
        let conn = db.conn();
        let now = Utc::now();
        let plans = match &self.default_plan {
            Some(_) => crate::billing::plan::load_plans(db).await?,
            None => Vec::new(),
        };
        let projects = crate::repo::retention::projects_holding_events_all_accounts(conn).await?;
        let (mut events_removed, mut attachments_removed) = (0u64, 0u64);
        let mut retention: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
        for (account, project) in projects {
            let account_id = account.0;
            let mut days = i64::from(self.max_age_days);
            if let Some(default_plan) = &self.default_plan {
                let plan_days = match retention.get(&account_id) {
                    Some(days) => *days,
                    None => {
                        let current = crate::billing::quota::account_plan(
                            db,
                            &plans,
                            default_plan,
                            AccountId(account_id),
                            now,
                        )
                        .await?;
                        let days = i64::from(current.plan.spec.retention_days);
                        retention.insert(account_id, days);
                        days
                    }
                };
                days = days.min(plan_days);
            }
            let cutoff = now - chrono::Duration::days(days);
            let txn = conn.begin().await?;
            let (events, attachments) = crate::repo::retention::evict_project(
                &txn,
                Tenant::ingested(account),
                project,
                cutoff,
                self.max_events_per_project,
            )
            .await?;
            txn.commit().await?;
            events_removed += events;
            attachments_removed += attachments;
        }
        info!(
            events.removed = events_removed,
            attachments.removed = attachments_removed,
            "evicted {events_removed} events and {attachments_removed} attachments"
        );
        expire_uploads(db, now).await?;
        // Releases outlive their events by the bundles' 90 days (a release page of an old
        // version stays while its source maps could still serve it).
        let idle = now - chrono::Duration::days(i64::from(self.max_age_days)) - BUNDLE_RETENTION;
        let releases = crate::repo::releases::delete_idle_all_accounts(conn, idle).await?;
        info!(
            releases.removed = releases,
            "expired {releases} idle releases"
        );
        Ok(())
    }
}

/// Chunks not assembled within a day go.
pub const CHUNK_RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// Artifact bundles no event used for 90 days go (Sentry's rule), with blobs no file refers to.
pub const BUNDLE_RETENTION: chrono::Duration = chrono::Duration::days(90);

/// Retention of uploads: stale chunks, unused bundles and the blobs they leave unreferenced.
async fn expire_uploads(db: &Db, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    use crate::repo::artifacts;
    let conn = db.conn();
    let chunks = artifacts::delete_chunks_before_all_accounts(conn, now - CHUNK_RETENTION).await?;
    let mut bundles = 0;
    let before = now - BUNDLE_RETENTION;
    for account in artifacts::accounts_with_unused_bundles_all_accounts(conn, before).await? {
        let tenant = Tenant::ingested(AccountId(account));
        let txn = conn.begin().await?;
        bundles += artifacts::delete_unused_bundles(&txn, tenant, before).await?;
        artifacts::delete_orphan_blobs(&txn, tenant).await?;
        txn.commit().await?;
    }
    info!(
        chunks.removed = chunks,
        bundles.removed = bundles,
        "expired {chunks} upload chunks and {bundles} unused artifact bundles"
    );
    Ok(())
}

/// Enqueues one eviction per hour (idempotency key per hour, so several nodes agree).
pub async fn schedule_hourly(queue: &JobQueue, job: EvictEvents) -> anyhow::Result<()> {
    let hour = Utc::now().format("%Y%m%d%H").to_string();
    queue
        .enqueue_with(
            &job,
            EnqueueOptions {
                delay: None,
                idempotency_key: Some(format!("evict-{hour}")),
            },
        )
        .await
}
