//! Outcomes recorded where no transaction is at hand (ingest's hot path): counts are added to
//! an in-memory buffer and flushed to `outcomes` about once a second by one task, so a flood of
//! bad requests costs map updates, not writes. The digest writes its own outcomes in its
//! transaction (see `digest`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sea_orm::ConnectionTrait;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::ids::{AccountId, ProjectId};
use crate::ingest::category::DataCategory;
use crate::repo;
use crate::repo::Tenant;
use crate::repo::outcomes::OutcomeCount;

/// What became of ingested items; stored in `outcomes.outcome` as [`Outcome::as_str`] (Relay's
/// names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Stored (or counted and read through).
    Accepted,
    /// Refused by a rate limit, a quota or backpressure.
    RateLimited,
    /// Malformed.
    Invalid,
    /// Over a size or storage bound.
    TooLarge,
    /// Dropped by the SDK itself, as its client report says.
    ClientDiscard,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::RateLimited => "rate_limited",
            Outcome::Invalid => "invalid",
            Outcome::TooLarge => "too_large",
            Outcome::ClientDiscard => "client_discard",
        }
    }
}

/// (account id, project id, hour, category, outcome, reason).
pub(crate) type OutcomeKey = (i64, i64, DateTime<Utc>, &'static str, Outcome, String);

/// Buffered outcome counts; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct OutcomeBuffer {
    counts: Arc<Mutex<HashMap<OutcomeKey, i64>>>,
}

/// The start of the hour `time` falls in.
pub fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::hours(1)).unwrap_or(time)
}

impl OutcomeBuffer {
    /// Adds `quantity` items of `category` with `outcome` and `reason` for the project, in the
    /// current hour.
    pub fn record(
        &self,
        account_id: AccountId,
        project_id: ProjectId,
        category: DataCategory,
        outcome: Outcome,
        reason: &str,
        quantity: i64,
    ) {
        let key = (
            account_id.0,
            project_id.0,
            hour_of(Utc::now()),
            category.as_str(),
            outcome,
            reason.chars().take(60).collect(),
        );
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(key).or_default() += quantity;
        }
    }

    /// Writes and clears the buffer. On failure the counts are put back for the next flush.
    pub async fn flush(&self, db: &Db) -> anyhow::Result<()> {
        let taken: HashMap<OutcomeKey, i64> = match self.counts.lock() {
            Ok(mut counts) => std::mem::take(&mut *counts),
            Err(_) => return Ok(()),
        };
        if taken.is_empty() {
            return Ok(());
        }
        let mut failed = None;
        for (key, quantity) in &taken {
            if let Err(e) = write_outcome(db.conn(), key, *quantity).await {
                failed = Some(e);
                if let Ok(mut counts) = self.counts.lock() {
                    *counts.entry(key.clone()).or_default() += quantity;
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Flushes every second until `shutdown`, then once more.
    pub async fn run_flusher(self, db: Db, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.flush(&db).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot write outcomes; will retry"
                );
            }
        }
        if let Err(e) = self.flush(&db).await {
            tracing::warn!(error = format!("{e:#}"), "outcomes lost at shutdown");
        }
    }
}

/// Adds `quantity` to one outcome row (insert or increment).
pub(crate) async fn write_outcome(
    conn: &impl ConnectionTrait,
    key: &OutcomeKey,
    quantity: i64,
) -> anyhow::Result<()> {
    let (account_id, project_id, hour, category, outcome, reason) = key;
    // The key's account is the one whose DSN key accepted the items (ingest and the digest
    // both count for the envelope's account).
    let tenant = Tenant::ingested(AccountId(*account_id));
    let count = OutcomeCount {
        project_id: ProjectId(*project_id),
        hour: *hour,
        category,
        outcome: outcome.as_str(),
        reason,
        quantity,
    };
    repo::outcomes::add(conn, tenant, count).await?;
    Ok(())
}
