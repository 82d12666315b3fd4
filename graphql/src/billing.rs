//! The read side of billing: the plans on offer (public, for the sign-up page) and an
//! account's plan, period, usage against quotas, drops by reason and daily volumes.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use errorwatch_core::billing::plan::{Overage, PlanSpec};
use errorwatch_core::service;

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql};

/// Billing facts the schema is built with.
#[derive(Clone, Debug)]
pub struct BillingSettings {
    /// Plan slug of accounts without a subscription.
    pub default_plan: String,
}

/// A plan: quotas per billing period, retention, members and ingest rate tiers.
pub struct Plan(pub PlanSpec);

/// A quota of one category.
#[derive(SimpleObject, Clone, Debug)]
pub struct PlanQuota {
    /// Quota category: `error` (errors, default and security events), `transaction`,
    /// `attachment` (bytes), `replay`, `profile`, `monitor`, `span`, `log_item`.
    pub category: String,
    /// Per billing period.
    pub amount: i64,
}

/// One step of a soft overage policy.
#[derive(SimpleObject, Clone, Debug)]
pub struct OverageStep {
    /// Share of the quota from which it applies (1.0 = the quota).
    pub at: f64,
    /// Fraction of events dropped from there.
    pub drop: f64,
}

#[Object]
impl Plan {
    /// Stable identifier (`free`, `pro`, …).
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Monthly price in cents.
    async fn price_cents(&self) -> i64 {
        self.0.price_cents
    }
    /// Quotas per billing period; categories not listed are unlimited.
    async fn quotas(&self) -> Vec<PlanQuota> {
        self.0
            .quotas
            .iter()
            .map(|(category, amount)| PlanQuota {
                category: category.clone(),
                amount: *amount,
            })
            .collect()
    }
    /// Past the quota: empty for a hard cap, else the soft steps.
    async fn overage_steps(&self) -> Vec<OverageStep> {
        match &self.0.overage {
            Overage::Hard => Vec::new(),
            Overage::Soft { steps } => steps
                .iter()
                .map(|s| OverageStep {
                    at: s.at,
                    drop: s.drop,
                })
                .collect(),
        }
    }
    /// Days events are kept.
    async fn retention_days(&self) -> i32 {
        self.0.retention_days
    }
    /// Members allowed (null = unlimited).
    async fn max_members(&self) -> Option<i32> {
        self.0.max_members
    }
    /// Requests per minute per DSN key (null = no plan limit).
    async fn key_rate_per_minute(&self) -> Option<i32> {
        self.0.key_rate_per_minute
    }
    /// Requests a key may send at once.
    async fn key_burst(&self) -> Option<i32> {
        self.0.key_burst
    }
    /// Events per minute per project before spike protection drops the rest.
    async fn spike_per_minute(&self) -> Option<i32> {
        self.0.spike_per_minute
    }
}

/// Usage of one quota category in the current period.
#[derive(SimpleObject, Clone, Debug)]
pub struct Usage {
    /// Quota category.
    pub category: String,
    /// Accepted so far.
    pub quantity: i64,
    /// The plan's quota (null = unlimited).
    pub quota: Option<i64>,
    /// `quantity` as a percentage of `quota` (null when unlimited).
    pub percent: Option<f64>,
}

/// Items dropped in the period.
#[derive(SimpleObject, Clone, Debug)]
pub struct DroppedItems {
    /// Protocol category (`error`, `attachment`, …).
    pub category: String,
    /// `rate_limited`, `invalid`, `too_large`, `filtered`, …
    pub outcome: String,
    /// `usage_exceeded`, `key_quota`, `spike_protection`, `ip_rate_limit`, `backpressure`, …
    pub reason: String,
    /// How many (bytes for attachments).
    pub quantity: i64,
}

/// One UTC day of one quota category.
#[derive(SimpleObject, Clone, Debug)]
pub struct DailyUsage {
    /// The day.
    pub day: NaiveDate,
    /// Quota category.
    pub category: String,
    /// Stored.
    pub accepted: i64,
    /// Dropped for any reason.
    pub dropped: i64,
}

/// An account's plan and usage in the current billing period.
pub struct Billing(service::billing::AccountBilling);

#[Object]
impl Billing {
    /// The plan in force.
    async fn plan(&self) -> Plan {
        Plan(self.0.plan.clone())
    }
    /// `free` without a subscription (also while a first checkout is unpaid), else the
    /// subscription's status (`active`, `trialing`,
    /// `past_due`, `canceled`, …).
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// The paid subscription ends with the period (the free plan was chosen): its plan
    /// applies until `periodEnd`, then the free plan.
    async fn cancel_at_period_end(&self) -> bool {
        self.0.cancel_at_period_end
    }
    /// Start of the period.
    async fn period_start(&self) -> DateTime<Utc> {
        self.0.period_start
    }
    /// End of the period (exclusive).
    async fn period_end(&self) -> DateTime<Utc> {
        self.0.period_end
    }
    /// Usage per quota category.
    async fn usage(&self) -> Vec<Usage> {
        self.0
            .usage
            .iter()
            .map(|u| Usage {
                category: u.category.clone(),
                quantity: u.quantity,
                quota: u.quota,
                percent: u.quota.map(|q| {
                    if q == 0 {
                        100.0
                    } else {
                        (u.quantity as f64 * 1000.0 / q as f64).round() / 10.0
                    }
                }),
            })
            .collect()
    }
    /// Drops in the period, by category, outcome and reason.
    async fn dropped(&self) -> Vec<DroppedItems> {
        self.0
            .dropped
            .iter()
            .map(|d| DroppedItems {
                category: d.category.clone(),
                outcome: d.outcome.clone(),
                reason: d.reason.clone(),
                quantity: d.quantity,
            })
            .collect()
    }
    /// Accepted and dropped per day and quota category, over the period so far.
    async fn daily(&self) -> Vec<DailyUsage> {
        self.0
            .daily
            .iter()
            .map(|d| DailyUsage {
                day: d.day,
                category: d.category.clone(),
                accepted: d.accepted,
                dropped: d.dropped,
            })
            .collect()
    }
}

/// The billing of the account `scope` grants.
pub(crate) async fn account_billing(
    ctx: &Context<'_>,
    scope: &errorwatch_core::scope::AccountScope,
) -> GqlResult<Billing> {
    let settings = ctx.data::<BillingSettings>()?;
    Ok(Billing(
        service::billing::account_billing(scope, &settings.default_plan)
            .await
            .gql()?,
    ))
}

/// The plans on offer.
pub(crate) async fn public_plans(ctx: &Context<'_>) -> GqlResult<Vec<Plan>> {
    Ok(service::billing::public_plans(&ctx.request().auth)
        .await
        .gql()?
        .into_iter()
        .map(Plan)
        .collect())
}
