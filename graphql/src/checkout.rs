//! Plan changes through Stripe (owners only; `BILLING_DISABLED` where billing is off):
//! `startCheckout`, `choosePlan` and `openBillingPortal`. The account's plan, period and usage
//! are read through `Account.billing`.

use async_graphql::{Context, ID, Object, SimpleObject};
use errorwatch_core::ids::AccountId;
use errorwatch_core::service::subscription;

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql};
use crate::ids::{Kind, from_id};

/// A Stripe page to send the owner to.
#[derive(SimpleObject, Clone, Debug)]
pub struct StripeRedirectPayload {
    /// The page's URL (Stripe Checkout or the Billing Portal); valid for a short while.
    pub url: String,
}

/// What choosing a plan did.
#[derive(SimpleObject, Clone, Debug)]
pub struct ChoosePlanPayload {
    /// Set when the plan must be paid first: send the owner to this Stripe Checkout page.
    pub checkout_url: Option<String>,
    /// Slug of the plan that applies now (a paid plan applies once Stripe confirms payment).
    pub plan: String,
    /// The paid subscription ends with its current period (after choosing the free plan).
    pub cancel_at_period_end: bool,
}

/// Billing mutations.
#[derive(Default)]
pub struct CheckoutMutation;

#[Object]
impl CheckoutMutation {
    /// Starts Stripe Checkout for a paid plan (owners). `successUrl` / `cancelUrl` must point at
    /// this server; they default to the billing page. Fails while a subscription is live (use
    /// `choosePlan`).
    async fn start_checkout(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        plan: String,
        success_url: Option<String>,
        cancel_url: Option<String>,
    ) -> GqlResult<StripeRedirectPayload> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        let request = ctx.request();
        let url = subscription::start_checkout(
            &scope,
            request.stripe.as_ref(),
            &request.public_url,
            &plan,
            success_url.as_deref(),
            cancel_url.as_deref(),
        )
        .await
        .gql()?;
        Ok(StripeRedirectPayload { url })
    }

    /// Chooses a plan (owners): the free plan cancels a paid subscription at the end of its
    /// period; a paid plan changes the live subscription at once, or returns a `checkoutUrl`.
    async fn choose_plan(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        plan: String,
        success_url: Option<String>,
        cancel_url: Option<String>,
    ) -> GqlResult<ChoosePlanPayload> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        let request = ctx.request();
        let choice = subscription::choose_plan(
            &scope,
            request.stripe.as_ref(),
            &request.public_url,
            &plan,
            success_url.as_deref(),
            cancel_url.as_deref(),
        )
        .await
        .gql()?;
        Ok(ChoosePlanPayload {
            checkout_url: choice.checkout_url,
            plan: choice.plan,
            cancel_at_period_end: choice.cancel_at_period_end,
        })
    }

    /// Opens the Stripe Billing Portal (owners): invoices, payment method, cancellation.
    /// `returnUrl` must point at this server; it defaults to the billing page.
    async fn open_billing_portal(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        return_url: Option<String>,
    ) -> GqlResult<StripeRedirectPayload> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        let request = ctx.request();
        let url = subscription::open_billing_portal(
            &scope,
            request.stripe.as_ref(),
            &request.public_url,
            return_url.as_deref(),
        )
        .await
        .gql()?;
        Ok(StripeRedirectPayload { url })
    }
}
