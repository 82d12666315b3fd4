//! The read side of billing: the plans on offer, and an account's plan, period, usage against
//! its quotas, drops by reason and daily volumes over the period (for the billing page and
//! integrations).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::billing::plan::{Plan, PlanSpec, QUOTA_CATEGORIES, load_plans, quota_category};
use crate::billing::quota::{account_plan, status_keeps_plan, stored_usage};
use crate::billing::sync;
use crate::ingest::category::DataCategory;
use crate::scope::{AccountScope, Role};
use crate::service::auth::Auth;
use crate::{Error, Result};

/// Plans offered at sign-up and on the billing page, in configured order.
pub async fn public_plans(auth: &Auth) -> Result<Vec<PlanSpec>> {
    Ok(load_plans(auth.db())
        .await
        .map_err(Error::Internal)?
        .into_iter()
        .filter(|p| p.configured && p.spec.public)
        .map(|p| p.spec)
        .collect())
}

/// Usage of one quota category in the current period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageLine {
    /// Quota category (`error`, `transaction`, `attachment` in bytes, …).
    pub category: String,
    /// Accepted so far.
    pub quantity: i64,
    /// The plan's quota (`None` = unlimited).
    pub quota: Option<i64>,
}

/// Items dropped in the period, by protocol category and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropLine {
    /// Protocol category (`error`, `attachment`, …).
    pub category: String,
    /// `rate_limited`, `invalid`, `too_large`, `filtered`, …
    pub outcome: String,
    /// `usage_exceeded`, `key_quota`, `spike_protection`, `backpressure`, …
    pub reason: String,
    /// How many.
    pub quantity: i64,
}

/// One day of the period for one quota category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyUsage {
    /// The UTC day.
    pub day: NaiveDate,
    /// Quota category.
    pub category: String,
    /// Stored.
    pub accepted: i64,
    /// Dropped for any reason.
    pub dropped: i64,
}

/// An account's billing state.
#[derive(Clone, Debug)]
pub struct AccountBilling {
    /// Its plan.
    pub plan: PlanSpec,
    /// `free` (no subscription), or the Stripe subscription's status.
    pub status: String,
    /// The paid subscription ends with the period (the free plan was chosen): its plan applies
    /// until `period_end`, then the default plan.
    pub cancel_at_period_end: bool,
    /// Start of the billing period.
    pub period_start: DateTime<Utc>,
    /// End of the billing period.
    pub period_end: DateTime<Utc>,
    /// Usage per quota category (those with a quota or any usage).
    pub usage: Vec<UsageLine>,
    /// Drops in the period.
    pub dropped: Vec<DropLine>,
    /// Per day and category over the period.
    pub daily: Vec<DailyUsage>,
}

/// The account's plan, period and usage. Any member may read it.
pub async fn account_billing(scope: &AccountScope, default_plan: &str) -> Result<AccountBilling> {
    scope.require(Role::Viewer)?;
    let db = scope.db();
    let plans: Vec<Plan> = load_plans(db).await.map_err(Error::Internal)?;
    let current = account_plan(db, &plans, default_plan, scope.account_id(), Utc::now())
        .await
        .map_err(Error::Internal)?;
    let stored = stored_usage(db, scope.account_id(), current.period.start)
        .await
        .map_err(Error::Internal)?;
    let subscription = sync::stored(db, scope.account_id())
        .await
        .map_err(Error::Internal)?;
    // A customer linked for a checkout that was never paid (or for the portal) is no
    // subscription: such an account is on the default plan like one that never started.
    let subscribed = subscription
        .as_ref()
        .is_some_and(|s| s.stripe_subscription_id.is_some());
    let status = if subscribed {
        current.status
    } else {
        "free".to_owned()
    };
    let cancel_at_period_end = subscription
        .is_some_and(|s| subscribed && status_keeps_plan(&s.status) && s.cancel_at_period_end);
    let spec = current.plan.spec;
    let usage = QUOTA_CATEGORIES
        .iter()
        .filter_map(|category| {
            let quantity = stored
                .iter()
                .find(|(c, _)| c == category)
                .map_or(0, |(_, q)| *q);
            let quota = spec.quota(category);
            (quota.is_some() || quantity > 0).then(|| UsageLine {
                category: (*category).to_owned(),
                quantity,
                quota,
            })
        })
        .collect();
    let rows = crate::repo::stats::outcomes(
        scope,
        db.conn(),
        None,
        current.period.start,
        current.period.end,
    )
    .await?;
    let mut dropped: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut daily: BTreeMap<(NaiveDate, &'static str), (i64, i64)> = BTreeMap::new();
    for row in rows {
        let crate::repo::stats::OutcomeRow {
            hour,
            category,
            outcome,
            reason,
            quantity,
        } = row;
        let accepted = outcome == "accepted";
        if !accepted {
            *dropped
                .entry((category.clone(), outcome, reason))
                .or_default() += quantity;
        }
        if let Some(quota) = quota_category(DataCategory::parse(&category)) {
            let day = daily.entry((hour.date_naive(), quota)).or_default();
            if accepted {
                day.0 += quantity;
            } else {
                day.1 += quantity;
            }
        }
    }
    Ok(AccountBilling {
        plan: spec,
        status,
        cancel_at_period_end,
        period_start: current.period.start,
        period_end: current.period.end,
        usage,
        dropped: dropped
            .into_iter()
            .map(|((category, outcome, reason), quantity)| DropLine {
                category,
                outcome,
                reason,
                quantity,
            })
            .collect(),
        daily: daily
            .into_iter()
            .map(|((day, category), (accepted, dropped))| DailyUsage {
                day,
                category: category.to_owned(),
                accepted,
                dropped,
            })
            .collect(),
    })
}
