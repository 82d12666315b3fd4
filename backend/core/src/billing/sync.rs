//! Stripe → `subscriptions`: the one place that writes what Stripe says about an account.
//!
//! Every path (a webhook event, the periodic reconcile, a plan change made from the dashboard)
//! reads the customer's subscriptions *from Stripe* and stores the state [`decide`] derives from
//! them. Event payloads are never applied as such, so a late, repeated or reordered delivery
//! cannot roll anything back: it only triggers one more read of the current state.
//!
//! - `stripe_version` holds the time (milliseconds since the epoch, our clock) at which the
//!   stored state was read from Stripe. A write carries the time its own read started and only
//!   replaces a row that was read earlier, so two syncs racing each other cannot store the older
//!   answer last.
//! - `plan_id` is the plan that applies: the plan of the subscription's price while it is live
//!   (`active`, `trialing`, `past_due` within the grace period), else the default plan. A
//!   `past_due` subscription keeps its plan for [`crate::config::StripeConfig::grace`] from
//!   `past_due_since`, then the account is moved to the default plan (by the next sync, or by
//!   [`downgrade_lapsed`] without asking Stripe). Quotas read `subscriptions` on every refresh.
//! - Invariant: a Stripe customer belongs to one account (`subscriptions.stripe_customer_id` is
//!   unique) and an account keeps the customer it was first linked to; an event about another
//!   account's customer is refused, never applied.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, FromQueryResult};
use tracing::{info, warn};

use crate::billing::plan::{Plan, load_plans};
use crate::billing::quota::Period;
use crate::billing::stripe::{RemoteSubscription, Stripe, is_live, primary};
use crate::db::Db;
use crate::ids::AccountId;
use crate::repo::Tenant;
use crate::repo::billing::{self as repo, SubscriptionRecord, SubscriptionState};
use crate::scope::AccountScope;

/// An account's stored subscription row (the parts sync needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The plan that applies.
    pub plan_id: i64,
    /// Stripe's status (or `incomplete` before the first subscription).
    pub status: String,
    /// `cus_…`, once linked.
    pub stripe_customer_id: Option<String>,
    /// `sub_…`, once subscribed.
    pub stripe_subscription_id: Option<String>,
    /// Start of the billing period.
    pub current_period_start: DateTime<Utc>,
    /// End of the billing period.
    pub current_period_end: DateTime<Utc>,
    /// A cancellation is pending.
    pub cancel_at_period_end: bool,
    /// When the subscription became past due.
    pub past_due_since: Option<DateTime<Utc>>,
    /// When the stored state was read from Stripe (ms).
    pub stripe_version: i64,
}

impl From<SubscriptionRecord> for Stored {
    fn from(r: SubscriptionRecord) -> Self {
        Stored {
            plan_id: r.plan_id,
            status: r.status,
            stripe_customer_id: r.stripe_customer_id,
            stripe_subscription_id: r.stripe_subscription_id,
            current_period_start: r.current_period_start,
            current_period_end: r.current_period_end,
            cancel_at_period_end: r.cancel_at_period_end,
            past_due_since: r.past_due_since,
            stripe_version: r.stripe_version,
        }
    }
}

/// The account sync writes for: Stripe's answers about it are stored by the system.
fn tenant(db: &Db, account_id: AccountId) -> Tenant {
    Tenant::from(&AccountScope::system(
        db,
        account_id,
        "Stripe sync stores what Stripe says about the account",
    ))
}

/// What sync stores for an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Slug of the plan that applies.
    pub plan: String,
    /// Status to store.
    pub status: String,
    /// `sub_…` of the primary subscription.
    pub subscription_id: Option<String>,
    /// Billing period.
    pub period: Period,
    /// A cancellation is pending.
    pub cancel_at_period_end: bool,
    /// Set while past due.
    pub past_due_since: Option<DateTime<Utc>>,
    /// A live subscription's price that no plan has (it then gets the default plan).
    pub unknown_price: Option<String>,
}

/// Derives the stored state from the customer's primary subscription (`None`: it has none).
pub fn decide(
    remote: Option<&RemoteSubscription>,
    stored: Option<&Stored>,
    plans: &[Plan],
    default_plan: &str,
    grace: Duration,
    now: DateTime<Utc>,
) -> Decision {
    let Some(remote) = remote else {
        let had_one = stored.is_some_and(|s| s.stripe_subscription_id.is_some());
        return Decision {
            plan: default_plan.to_owned(),
            status: if had_one { "canceled" } else { "incomplete" }.to_owned(),
            subscription_id: stored.and_then(|s| s.stripe_subscription_id.clone()),
            period: Period::calendar_month(now),
            cancel_at_period_end: false,
            past_due_since: None,
            unknown_price: None,
        };
    };
    let past_due_since = (remote.status == "past_due").then(|| {
        stored
            .filter(|s| {
                s.status == "past_due"
                    && s.stripe_subscription_id.as_deref() == Some(remote.id.as_str())
            })
            .and_then(|s| s.past_due_since)
            .unwrap_or(now)
    });
    let grace = chrono::TimeDelta::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
    let lapsed = past_due_since.is_some_and(|since| since + grace <= now);
    let mut unknown_price = None;
    let plan = if is_live(&remote.status) && !lapsed {
        let price = remote.price().unwrap_or_default();
        match plans
            .iter()
            .find(|p| p.spec.stripe_price_id.as_deref() == Some(price))
        {
            Some(plan) => plan.spec.slug.clone(),
            None => {
                unknown_price = Some(price.to_owned());
                default_plan.to_owned()
            }
        }
    } else {
        default_plan.to_owned()
    };
    let period = match (remote.period_start, remote.period_end) {
        (Some(start), Some(end)) if start < end => Period { start, end },
        _ => Period::calendar_month(now),
    };
    Decision {
        plan,
        status: remote.status.clone(),
        subscription_id: Some(remote.id.clone()),
        period,
        cancel_at_period_end: remote.cancel_at_period_end,
        past_due_since,
        unknown_price,
    }
}

/// How a sync ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Stored.
    Applied(Decision),
    /// A sync that read Stripe later had already stored its answer.
    Stale,
    /// Not applied, for the reason given (the event is still marked processed).
    Refused(&'static str),
}

/// The stored row of an account.
pub(crate) async fn stored(db: &Db, account_id: AccountId) -> anyhow::Result<Option<Stored>> {
    Ok(repo::subscription(db.conn(), tenant(db, account_id))
        .await?
        .map(Stored::from))
}

/// The account linked to a Stripe customer.
pub(crate) async fn linked_account(db: &Db, customer: &str) -> anyhow::Result<Option<AccountId>> {
    Ok(repo::customer_account_all_accounts(db.conn(), customer).await?)
}

#[derive(FromQueryResult)]
struct IdRow {
    id: i64,
}

/// True when the account exists and is not deleted.
pub(crate) async fn account_is_live(db: &Db, account_id: AccountId) -> anyhow::Result<bool> {
    let select = Query::select()
        .column("id")
        .from("accounts")
        .and_where(Expr::col("id").eq(account_id.0))
        .and_where(Expr::col("deleted_at").is_null())
        .to_owned();
    Ok(db.conn().query_one(&select).await?.is_some())
}

/// The account a customer belongs to: the stored link, else the `account_id` ErrorWatch put in
/// the customer's metadata when it created it (asked from Stripe; a live account only).
pub(crate) async fn account_for_customer(
    db: &Db,
    stripe: &Stripe,
    customer: &str,
) -> anyhow::Result<Option<AccountId>> {
    if let Some(account) = linked_account(db, customer).await? {
        return Ok(Some(account));
    }
    let Some(id) = stripe.customer_account(customer).await? else {
        return Ok(None);
    };
    let account = AccountId(id);
    Ok(account_is_live(db, account).await?.then_some(account))
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Reads `customer`'s subscriptions from Stripe and stores the state of `account_id`; with
/// `event_id`, marks that webhook event processed in the same transaction.
pub(crate) async fn sync_account(
    db: &Db,
    stripe: &Stripe,
    account_id: AccountId,
    customer: &str,
    event_id: Option<&str>,
) -> anyhow::Result<SyncOutcome> {
    let before = stored(db, account_id).await?;
    if let Some(linked) = before
        .as_ref()
        .and_then(|s| s.stripe_customer_id.as_deref())
        && linked != customer
    {
        warn!(
            account.id = %account_id,
            "Stripe customer does not match the account's customer; not applied"
        );
        mark_event(
            db,
            event_id,
            Some("the account is linked to another customer"),
        )
        .await?;
        return Ok(SyncOutcome::Refused(
            "the account is linked to another customer",
        ));
    }
    let version = now_ms();
    let subscriptions = stripe.customer_subscriptions(customer).await?;
    let live = subscriptions.iter().filter(|s| is_live(&s.status)).count();
    if live > 1 {
        // Two Checkout tabs both paid, say: only the primary one counts here, so the others
        // must be refunded or cancelled by a person.
        warn!(
            account.id = %account_id,
            subscriptions = live,
            "Stripe customer has {live} live subscriptions; only the newest applies"
        );
    }
    let plans = load_plans(db).await?;
    let decision = decide(
        primary(&subscriptions),
        before.as_ref(),
        &plans,
        stripe.default_plan(),
        stripe.grace(),
        Utc::now(),
    );
    if let Some(price) = &decision.unknown_price {
        warn!(
            account.id = %account_id,
            stripe.price = %price,
            "the subscription's price belongs to no plan; the account gets the default plan"
        );
    }
    let plan_id = plans
        .iter()
        .find(|p| p.spec.slug == decision.plan)
        .map(|p| p.id)
        .ok_or_else(|| anyhow::anyhow!("plan {:?} is not stored", decision.plan))?;
    match write(
        db, account_id, customer, plan_id, &decision, version, event_id,
    )
    .await
    {
        Ok(true) => {
            info!(
                account.id = %account_id,
                plan = %decision.plan,
                status = %decision.status,
                "account {account_id} is on plan {} ({})",
                decision.plan,
                decision.status
            );
            Ok(SyncOutcome::Applied(decision))
        }
        Ok(false) => Ok(SyncOutcome::Stale),
        Err(e) if is_unique_violation(&e) => {
            warn!(
                account.id = %account_id,
                "Stripe customer is linked to another account; not applied"
            );
            mark_event(
                db,
                event_id,
                Some("the customer belongs to another account"),
            )
            .await?;
            Ok(SyncOutcome::Refused(
                "the customer belongs to another account",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn is_unique_violation(error: &sea_orm::DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Upserts the row unless a later read is stored; marks the event. True when written.
async fn write(
    db: &Db,
    account_id: AccountId,
    customer: &str,
    plan_id: i64,
    decision: &Decision,
    version: i64,
    event_id: Option<&str>,
) -> Result<bool, sea_orm::DbErr> {
    let now = Utc::now();
    let state = SubscriptionState {
        plan_id,
        status: &decision.status,
        stripe_customer_id: customer,
        stripe_subscription_id: decision.subscription_id.as_deref(),
        current_period_start: decision.period.start,
        current_period_end: decision.period.end,
        cancel_at_period_end: decision.cancel_at_period_end,
        past_due_since: decision.past_due_since,
        stripe_version: version,
    };
    let tenant = tenant(db, account_id);
    let txn = db.begin_write().await?;
    let written = repo::upsert_subscription(&txn, tenant, &state, now).await?;
    if let Some(event_id) = event_id {
        txn.execute(&mark_statement(event_id, None)).await?;
    }
    txn.commit().await?;
    Ok(written)
}

fn mark_statement(event_id: &str, error: Option<&str>) -> sea_orm::sea_query::UpdateStatement {
    Query::update()
        .table("stripe_events")
        .value("processed_at", Utc::now())
        .value("error", error.map(str::to_owned))
        .and_where(Expr::col("event_id").eq(event_id))
        .to_owned()
}

/// Marks a webhook event processed (with why it changed nothing, if it did not).
pub(crate) async fn mark_event(
    db: &Db,
    event_id: Option<&str>,
    error: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(event_id) = event_id {
        db.conn().execute(&mark_statement(event_id, error)).await?;
    }
    Ok(())
}

/// Moves every account whose subscription has been past due for longer than `grace` to the
/// default plan, without asking Stripe (so it happens even while Stripe is unreachable).
/// Returns how many accounts moved.
pub(crate) async fn downgrade_lapsed(
    db: &Db,
    default_plan: &str,
    grace: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let conn = db.conn();
    let select = Query::select()
        .column("id")
        .from("plans")
        .and_where(Expr::col("slug").eq(default_plan))
        .to_owned();
    let default_id = conn
        .query_one(&select)
        .await?
        .map(|row| IdRow::from_query_result(&row, ""))
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("the default plan {default_plan:?} is not stored"))?
        .id;
    let cutoff = now - chrono::TimeDelta::from_std(grace)?;
    let moved = repo::downgrade_lapsed_all_accounts(conn, default_id, cutoff, now).await?;
    if moved > 0 {
        info!(
            accounts = moved,
            "moved {moved} past-due accounts to the {default_plan} plan after the grace period"
        );
    }
    Ok(moved)
}

/// Every account linked to a Stripe customer, with its customer.
pub(crate) async fn linked_customers(db: &Db) -> anyhow::Result<Vec<(AccountId, String)>> {
    Ok(repo::linked_customers_all_accounts(db.conn()).await?)
}

/// Stores `customer` as the account's customer unless it has one; returns the account's
/// customer (the stored one if another request linked one first). A new row starts in status
/// `incomplete` on the default plan (which is what an account without a row gets anyway).
pub(crate) async fn link_customer(
    db: &Db,
    account_id: AccountId,
    customer: &str,
    default_plan: &str,
) -> anyhow::Result<String> {
    let plans = load_plans(db).await?;
    let plan_id = plans
        .iter()
        .find(|p| p.spec.slug == default_plan)
        .map(|p| p.id)
        .ok_or_else(|| anyhow::anyhow!("the default plan {default_plan:?} is not stored"))?;
    let now = Utc::now();
    let period = Period::calendar_month(now);
    let tenant = tenant(db, account_id);
    let txn = db.begin_write().await?;
    repo::link_customer(
        &txn,
        tenant,
        customer,
        plan_id,
        (period.start, period.end),
        now,
    )
    .await?;
    txn.commit().await?;
    stored(db, account_id)
        .await?
        .and_then(|s| s.stripe_customer_id)
        .ok_or_else(|| anyhow::anyhow!("account {account_id}: customer not stored"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::plan::default_plans;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn plans() -> Vec<Plan> {
        default_plans()
            .into_iter()
            .enumerate()
            .map(|(i, mut spec)| {
                if spec.slug == "pro" {
                    spec.stripe_price_id = Some("price_pro".to_owned());
                }
                Plan {
                    id: i as i64 + 1,
                    spec,
                    configured: true,
                }
            })
            .collect()
    }

    fn remote(status: &str, price: &str) -> RemoteSubscription {
        RemoteSubscription {
            id: "sub_1".to_owned(),
            customer: "cus_1".to_owned(),
            status: status.to_owned(),
            items: vec![("si_1".to_owned(), price.to_owned())],
            period_start: Some(at("2026-11-10T00:00:00Z")),
            period_end: Some(at("2026-12-10T00:00:00Z")),
            cancel_at_period_end: false,
            created: at("2026-11-10T00:00:00Z"),
        }
    }

    const NOW: &str = "2026-11-20T12:00:00Z";
    const WEEK: Duration = Duration::from_secs(7 * 86_400);

    fn check(
        remote: Option<&RemoteSubscription>,
        stored: Option<&Stored>,
        expect: (&str, &str, Option<&str>),
    ) -> Decision {
        let decision = decide(remote, stored, &plans(), "free", WEEK, at(NOW));
        assert_eq!(
            (
                decision.plan.as_str(),
                decision.status.as_str(),
                decision.past_due_since.map(|t| t.to_rfc3339()).as_deref()
            ),
            expect
        );
        decision
    }

    fn past_due_since(since: &str) -> Stored {
        Stored {
            plan_id: 3,
            status: "past_due".to_owned(),
            stripe_customer_id: Some("cus_1".to_owned()),
            stripe_subscription_id: Some("sub_1".to_owned()),
            current_period_start: at("2026-11-10T00:00:00Z"),
            current_period_end: at("2026-12-10T00:00:00Z"),
            cancel_at_period_end: false,
            past_due_since: Some(at(since)),
            stripe_version: 1,
        }
    }

    #[test]
    fn a_live_subscription_gets_its_price_s_plan_and_period() {
        let decision = check(
            Some(&remote("active", "price_pro")),
            None,
            ("pro", "active", None),
        );
        assert_eq!(decision.period.start, at("2026-11-10T00:00:00Z"));
        assert_eq!(decision.subscription_id.as_deref(), Some("sub_1"));
        check(
            Some(&remote("trialing", "price_pro")),
            None,
            ("pro", "trialing", None),
        );
        let unknown = check(
            Some(&remote("active", "price_gone")),
            None,
            ("free", "active", None),
        );
        assert_eq!(unknown.unknown_price.as_deref(), Some("price_gone"));
    }

    #[test]
    fn ended_or_unpaid_subscriptions_get_the_default_plan() {
        for status in [
            "canceled",
            "unpaid",
            "incomplete",
            "incomplete_expired",
            "paused",
        ] {
            check(
                Some(&remote(status, "price_pro")),
                None,
                ("free", status, None),
            );
        }
        check(None, None, ("free", "incomplete", None));
        check(
            None,
            Some(&past_due_since("2026-11-19T00:00:00Z")),
            ("free", "canceled", None),
        );
    }

    #[test]
    fn past_due_keeps_the_plan_for_the_grace_period_from_the_first_failure() {
        check(
            Some(&remote("past_due", "price_pro")),
            None,
            ("pro", "past_due", Some("2026-11-20T12:00:00+00:00")),
        );
        check(
            Some(&remote("past_due", "price_pro")),
            Some(&past_due_since("2026-11-14T00:00:00Z")),
            ("pro", "past_due", Some("2026-11-14T00:00:00+00:00")),
        );
        check(
            Some(&remote("past_due", "price_pro")),
            Some(&past_due_since("2026-11-13T12:00:00Z")),
            ("free", "past_due", Some("2026-11-13T12:00:00+00:00")),
        );
        // Paid again: the clock stops.
        check(
            Some(&remote("active", "price_pro")),
            Some(&past_due_since("2026-11-01T00:00:00Z")),
            ("pro", "active", None),
        );
    }
}
