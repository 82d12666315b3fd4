//! Billing jobs: [`ApplyStripeEvent`] applies one recorded webhook event, [`ReconcileBilling`]
//! (hourly) moves lapsed past-due accounts to the default plan and re-reads every linked
//! customer from Stripe, repairing whatever a lost or failed webhook left behind.
//!
//! Both are idempotent: they store what Stripe says now (see [`crate::billing::sync`]), so
//! running them twice stores the same state.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::{EnqueueOptions, Job, JobQueue};
use crate::billing::sync::{
    self, SyncOutcome, account_for_customer, account_is_live, linked_account, mark_event,
};
use crate::ids::AccountId;

/// Applies the webhook event `event_id` (recorded in `stripe_events`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApplyStripeEvent {
    /// `evt_…`.
    pub event_id: String,
}

#[derive(FromQueryResult)]
struct EventRow {
    event_type: String,
    payload: String,
    processed_at: Option<chrono::DateTime<Utc>>,
}

/// A Stripe id field that may be expanded into an object.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) => Some(id.clone()),
        Value::Object(object) => object.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// What the billing jobs need: the database and, when billing is on, Stripe.
#[derive(Clone, Debug)]
pub struct BillingContext {
    /// The database.
    pub db: crate::db::Db,
    /// Stripe, when billing is on (SaaS mode with a key).
    pub stripe: Option<crate::billing::stripe::Stripe>,
}

impl Job for ApplyStripeEvent {
    const NAME: &'static str = "apply_stripe_event";
    const MAX_ATTEMPTS: u32 = 8;

    fn backoff(failures: u32) -> Duration {
        super::exponential_backoff(failures, Duration::from_secs(5), Duration::from_secs(3600))
    }

    type Context = BillingContext;

    async fn run(&self, ctx: &BillingContext, _attempt: u32) -> anyhow::Result<()> {
        let event_id = Some(self.event_id.as_str());
        let select = Query::select()
            .columns(["event_type", "payload", "processed_at"])
            .from("stripe_events")
            .and_where(Expr::col("event_id").eq(self.event_id.as_str()))
            .to_owned();
        let Some(row) = ctx
            .db
            .conn()
            .query_one(&select)
            .await?
            .map(|row| EventRow::from_query_result(&row, ""))
            .transpose()?
        else {
            return Ok(());
        };
        if row.processed_at.is_some() {
            return Ok(());
        }
        let Some(stripe) = &ctx.stripe else {
            return mark_event(&ctx.db, event_id, Some("Stripe billing is not configured")).await;
        };
        let payload: Value = serde_json::from_str(&row.payload).context("stored event payload")?;
        let object = payload.pointer("/data/object").unwrap_or(&Value::Null);
        let Some(customer) = id_of(object.get("customer")) else {
            return mark_event(&ctx.db, event_id, Some("the event names no customer")).await;
        };
        let account = if row.event_type == "checkout.session.completed" {
            if object.get("mode").and_then(Value::as_str) != Some("subscription") {
                return mark_event(&ctx.db, event_id, Some("not a subscription checkout")).await;
            }
            let reference = object
                .get("client_reference_id")
                .and_then(Value::as_str)
                .or_else(|| {
                    object
                        .pointer("/metadata/account_id")
                        .and_then(Value::as_str)
                })
                .and_then(|id| id.parse::<i64>().ok())
                .map(AccountId);
            match (linked_account(&ctx.db, &customer).await?, reference) {
                (Some(linked), Some(reference)) if linked != reference => None,
                (Some(linked), _) => Some(linked),
                (None, Some(reference)) => {
                    // The customer was created for an account (its metadata); a session naming
                    // another one is not trusted.
                    let owner = stripe.customer_account(&customer).await?;
                    let live = account_is_live(&ctx.db, reference).await?;
                    (live && owner.is_none_or(|owner| owner == reference.0)).then_some(reference)
                }
                (None, None) => account_for_customer(&ctx.db, stripe, &customer).await?,
            }
        } else {
            account_for_customer(&ctx.db, stripe, &customer).await?
        };
        let Some(account) = account else {
            warn!(
                event.id = %self.event_id,
                event.kind = %row.event_type,
                "Stripe event for a customer of no account (or of another one); recorded, not applied"
            );
            return mark_event(
                &ctx.db,
                event_id,
                Some("the customer belongs to no account it could be applied to"),
            )
            .await;
        };
        let outcome = sync::sync_account(&ctx.db, stripe, account, &customer, event_id)
            .await
            .with_context(|| format!("applying {} to account {account}", row.event_type))?;
        info!(
            event.id = %self.event_id,
            event.kind = %row.event_type,
            account.id = %account,
            outcome = ?outcome,
            "applied Stripe event {}",
            row.event_type
        );
        Ok(())
    }
}

/// Moves lapsed past-due accounts to the default plan, then re-reads every linked customer
/// from Stripe and stores its current state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReconcileBilling {}

impl Job for ReconcileBilling {
    const NAME: &'static str = "reconcile_billing";
    const MAX_ATTEMPTS: u32 = 3;
    const CONCURRENCY: usize = 1;

    type Context = BillingContext;

    async fn run(&self, ctx: &BillingContext, _attempt: u32) -> anyhow::Result<()> {
        let Some(stripe) = &ctx.stripe else {
            return Ok(());
        };
        sync::downgrade_lapsed(&ctx.db, stripe.default_plan(), stripe.grace(), Utc::now())
            .await
            .context("grace-period downgrade")?;
        let customers = sync::linked_customers(&ctx.db).await?;
        let (mut repaired, mut failed) = (0usize, 0usize);
        for (account, customer) in &customers {
            let before = sync::stored(&ctx.db, *account).await?;
            match sync::sync_account(&ctx.db, stripe, *account, customer, None).await {
                Ok(SyncOutcome::Applied(decision)) => {
                    let after = sync::stored(&ctx.db, *account).await?;
                    let drifted = |b: &sync::Stored, a: &sync::Stored| {
                        (
                            b.plan_id,
                            &b.status,
                            &b.stripe_subscription_id,
                            b.current_period_start,
                            b.current_period_end,
                            b.cancel_at_period_end,
                        ) != (
                            a.plan_id,
                            &a.status,
                            &a.stripe_subscription_id,
                            a.current_period_start,
                            a.current_period_end,
                            a.cancel_at_period_end,
                        )
                    };
                    if let (Some(before), Some(after)) = (&before, &after)
                        && drifted(before, after)
                    {
                        repaired += 1;
                        warn!(
                            account.id = %account,
                            plan = %decision.plan,
                            status = %decision.status,
                            "reconcile repaired account {account}: it had drifted from Stripe"
                        );
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    failed += 1;
                    warn!(account.id = %account, error = format!("{e:#}"), "cannot reconcile account {account}");
                }
            }
        }
        info!(
            accounts = customers.len(),
            repaired,
            failed,
            "reconciled {} accounts with Stripe",
            customers.len()
        );
        anyhow::ensure!(
            failed == 0,
            "{failed} of {} accounts could not be reconciled",
            customers.len()
        );
        Ok(())
    }
}

/// Enqueues one reconcile per hour; the idempotency key makes several nodes agree on one task.
pub async fn schedule_hourly(queue: &JobQueue) -> anyhow::Result<()> {
    let hour = Utc::now().format("%Y%m%d%H").to_string();
    queue
        .enqueue_with(
            &ReconcileBilling {},
            EnqueueOptions {
                delay: None,
                idempotency_key: Some(format!("reconcile-billing-{hour}")),
            },
        )
        .await
}
