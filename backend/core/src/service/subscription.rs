//! Changing an account's plan through Stripe (owners only): Checkout for a first paid plan, a
//! price change or a cancellation at the period's end for an existing subscription, and the
//! Billing Portal. Every change made here is read back from Stripe and stored by
//! [`crate::billing::sync`], the same way a webhook would store it.
//!
//! The account's Stripe customer is created on first use (`metadata.account_id`) and kept in
//! `subscriptions.stripe_customer_id`; an account that never subscribed then has a row in status
//! `incomplete` on the default plan (what an account without a row gets anyway).
//!
//! Return URLs must point at this installation (same scheme, host and port as the public URL),
//! so nobody can use our Stripe pages to send a customer elsewhere.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, FromQueryResult};

use crate::billing::plan::{Plan, load_plans};
use crate::billing::stripe::{Stripe, is_live, primary};
use crate::billing::sync;
use crate::scope::{AccountScope, Role};
use crate::{Error, Result};

/// What choosing a plan led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanChoice {
    /// Where to send the owner to pay (a first paid plan); `None` when nothing is to be paid
    /// now (the change was made, or the plan is the free one).
    pub checkout_url: Option<String>,
    /// The plan that applies now.
    pub plan: String,
    /// The paid subscription ends at the end of the period (a downgrade to the free plan).
    pub cancel_at_period_end: bool,
}

fn enabled(stripe: Option<&Stripe>) -> Result<&Stripe> {
    stripe.ok_or(Error::BillingDisabled)
}

/// A plan an owner may choose: configured and public.
async fn offered_plan(scope: &AccountScope, slug: &str) -> Result<Plan> {
    load_plans(scope.db())
        .await?
        .into_iter()
        .find(|p| p.spec.slug == slug && p.configured && p.spec.public)
        .ok_or_else(|| Error::validation("plan", format!("no plan {slug:?} is offered")))
}

/// `raw` if it points at this installation, else the default.
fn return_url(
    public_url: &url::Url,
    raw: Option<&str>,
    field: &'static str,
    default: &str,
) -> Result<String> {
    let base = public_url.as_str().trim_end_matches('/');
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(format!("{base}{default}"));
    };
    let parsed =
        url::Url::parse(raw).map_err(|_| Error::validation(field, "must be an absolute URL"))?;
    if parsed.origin() != public_url.origin() {
        return Err(Error::validation(
            field,
            format!(
                "must point at this server ({})",
                public_url.origin().ascii_serialization()
            ),
        ));
    }
    // The original text goes to Stripe: it may carry `{CHECKOUT_SESSION_ID}`.
    Ok(raw.to_owned())
}

#[derive(FromQueryResult)]
struct NameRow {
    name: String,
}

#[derive(FromQueryResult)]
struct EmailRow {
    email: String,
}

/// The account's Stripe customer, created (and linked) on first use.
async fn customer_of(scope: &AccountScope, stripe: &Stripe) -> Result<String> {
    let db = scope.db();
    let account_id = scope.account_id();
    if let Some(customer) = sync::stored(db, account_id)
        .await?
        .and_then(|s| s.stripe_customer_id)
    {
        return Ok(customer);
    }
    let conn = db.conn();
    let select = Query::select()
        .column("name")
        .from("accounts")
        .and_where(Expr::col("id").eq(account_id.0))
        .to_owned();
    let name = conn
        .query_one(&select)
        .await?
        .map(|row| NameRow::from_query_result(&row, ""))
        .transpose()?
        .ok_or(Error::NotFound)?
        .name;
    let email = match scope.user_id() {
        Some(user) => {
            let select = Query::select()
                .column("email")
                .from("users")
                .and_where(Expr::col("id").eq(user.0))
                .to_owned();
            conn.query_one(&select)
                .await?
                .map(|row| EmailRow::from_query_result(&row, ""))
                .transpose()?
                .map(|row| row.email)
        }
        None => None,
    };
    let customer = stripe
        .create_customer(account_id, &name, email.as_deref())
        .await?;
    Ok(sync::link_customer(db, account_id, &customer, stripe.default_plan()).await?)
}

/// Starts Stripe Checkout for the paid plan `slug` and returns the page's URL. Refused
/// (`Conflict`) while the account has a live subscription: that one is changed with
/// [`choose_plan`] or in the Billing Portal, never doubled.
pub async fn start_checkout(
    scope: &AccountScope,
    stripe: Option<&Stripe>,
    public_url: &url::Url,
    slug: &str,
    success_url: Option<&str>,
    cancel_url: Option<&str>,
) -> Result<String> {
    let stripe = enabled(stripe)?;
    scope.require(Role::Owner)?;
    let plan = offered_plan(scope, slug).await?;
    let Some(price) = plan
        .spec
        .stripe_price_id
        .clone()
        .filter(|_| plan.spec.price_cents > 0)
    else {
        return Err(Error::validation(
            "plan",
            format!("{slug} is free: choose it with choosePlan, no checkout needed"),
        ));
    };
    let success = return_url(
        public_url,
        success_url,
        "successUrl",
        "/settings/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}",
    )?;
    let cancel = return_url(
        public_url,
        cancel_url,
        "cancelUrl",
        "/settings/billing?checkout=canceled",
    )?;
    let customer = customer_of(scope, stripe).await?;
    // Asked from Stripe, not the stored row: a webhook of a first checkout may still be on
    // its way, and a second subscription would be charged twice.
    if stripe
        .customer_subscriptions(&customer)
        .await?
        .iter()
        .any(|s| is_live(&s.status))
    {
        return Err(Error::Conflict(
            "the account already has a subscription; change its plan with choosePlan or in the billing portal",
        ));
    }
    let url = stripe
        .create_checkout(scope.account_id(), &customer, &price, &success, &cancel)
        .await?;
    tracing::info!(
        account.id = %scope.account_id(),
        plan = %slug,
        "checkout started for plan {slug}"
    );
    Ok(url)
}

/// Chooses a plan. The free plan: a paid subscription is cancelled at the end of its period
/// (the account keeps what it paid for until then). A paid plan: an existing subscription moves
/// to its price at once (prorated); without one, Checkout is started and its URL returned.
pub async fn choose_plan(
    scope: &AccountScope,
    stripe: Option<&Stripe>,
    public_url: &url::Url,
    slug: &str,
    success_url: Option<&str>,
    cancel_url: Option<&str>,
) -> Result<PlanChoice> {
    let stripe = enabled(stripe)?;
    scope.require(Role::Owner)?;
    let plan = offered_plan(scope, slug).await?;
    let db = scope.db();
    let account_id = scope.account_id();
    let stored = sync::stored(db, account_id).await?;
    let customer = stored.as_ref().and_then(|s| s.stripe_customer_id.clone());
    // The live subscription, as Stripe has it now.
    let live = match &customer {
        Some(customer) => {
            let subscriptions = stripe.customer_subscriptions(customer).await?;
            primary(&subscriptions)
                .filter(|s| is_live(&s.status))
                .cloned()
        }
        None => None,
    };
    let paid = plan.spec.price_cents > 0;
    match (&live, paid) {
        (None, false) => {}
        (None, true) => {
            let url = start_checkout(
                scope,
                Some(stripe),
                public_url,
                slug,
                success_url,
                cancel_url,
            )
            .await?;
            return Ok(PlanChoice {
                checkout_url: Some(url),
                plan: current_plan(scope, stripe).await?,
                cancel_at_period_end: false,
            });
        }
        (Some(subscription), false) => {
            if !subscription.cancel_at_period_end {
                stripe
                    .set_cancel_at_period_end(&subscription.id, true)
                    .await?;
            }
        }
        (Some(subscription), true) => {
            let price =
                plan.spec.stripe_price_id.as_deref().ok_or_else(|| {
                    Error::validation("plan", format!("{slug} has no Stripe price"))
                })?;
            match subscription.items.first() {
                Some((item, current)) if current != price => {
                    stripe.change_price(&subscription.id, item, price).await?;
                }
                Some(_) if subscription.cancel_at_period_end => {
                    stripe
                        .set_cancel_at_period_end(&subscription.id, false)
                        .await?;
                }
                Some(_) => {}
                None => {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "subscription {} has no items",
                        subscription.id
                    )));
                }
            }
        }
    }
    if let Some(customer) = &customer {
        sync::sync_account(db, stripe, account_id, customer, None).await?;
    }
    let cancel_at_period_end = sync::stored(db, account_id)
        .await?
        .is_some_and(|s| is_live(&s.status) && s.cancel_at_period_end);
    tracing::info!(account.id = %account_id, plan = %slug, "plan {slug} chosen");
    Ok(PlanChoice {
        checkout_url: None,
        plan: current_plan(scope, stripe).await?,
        cancel_at_period_end,
    })
}

/// Slug of the plan that applies to the account now (as quotas see it).
async fn current_plan(scope: &AccountScope, stripe: &Stripe) -> Result<String> {
    let plans = load_plans(scope.db()).await?;
    let applies = crate::billing::quota::account_plan(
        scope.db(),
        &plans,
        stripe.default_plan(),
        scope.account_id(),
        Utc::now(),
    )
    .await?;
    Ok(applies.plan.spec.slug)
}

/// Opens the Stripe Billing Portal (invoices, payment method, cancellation); returns its URL.
pub async fn open_billing_portal(
    scope: &AccountScope,
    stripe: Option<&Stripe>,
    public_url: &url::Url,
    return_to: Option<&str>,
) -> Result<String> {
    let stripe = enabled(stripe)?;
    scope.require(Role::Owner)?;
    let back = return_url(public_url, return_to, "returnUrl", "/settings/billing")?;
    let customer = customer_of(scope, stripe).await?;
    Ok(stripe.create_portal(&customer, &back).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: Option<&str>, expect: std::result::Result<&str, &str>) {
        let public = url::Url::parse("https://errors.example.com/tracker").expect("url");
        let got = return_url(&public, raw, "successUrl", "/settings/billing");
        match (got, expect) {
            (Ok(url), Ok(want)) => assert_eq!(url, want),
            (Err(Error::Validation { message, .. }), Err(want)) => {
                assert!(message.contains(want), "{message}")
            }
            (other, want) => panic!("{raw:?}: {other:?}, expected {want:?}"),
        }
    }

    #[test]
    fn return_urls_must_point_at_this_server() {
        check(
            None,
            Ok("https://errors.example.com/tracker/settings/billing"),
        );
        check(
            Some("https://errors.example.com/tracker/onboarding?s={CHECKOUT_SESSION_ID}"),
            Ok("https://errors.example.com/tracker/onboarding?s={CHECKOUT_SESSION_ID}"),
        );
        check(
            Some("https://evil.example.com/"),
            Err("must point at this server"),
        );
        check(
            Some("http://errors.example.com/"),
            Err("must point at this server"),
        );
        check(Some("/relative"), Err("absolute URL"));
    }
}
