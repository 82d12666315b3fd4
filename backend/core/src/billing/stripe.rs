//! The Stripe API as billing needs it: customers (one per account, `metadata.account_id`),
//! Checkout Sessions in subscription mode, Billing Portal sessions, and subscriptions read back
//! as [`RemoteSubscription`]s (the only Stripe shape the rest of the crate sees).
//!
//! Invariant: nothing here writes to the database; what Stripe says reaches `subscriptions`
//! only through [`crate::billing::sync`], so every path (webhook, reconcile, mutation) applies
//! the same rules.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::{
    ListSubscription, ListSubscriptionStatus, UpdateSubscription, UpdateSubscriptionItems,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};

use crate::config::StripeConfig;
use crate::ids::AccountId;
use crate::secret::SecretString;

/// How long one call to Stripe may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Subscriptions read per customer (Stripe's page size limit; a customer has a handful).
const SUBSCRIPTIONS_PER_CUSTOMER: i64 = 100;

/// A subscription as Stripe reports it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSubscription {
    /// `sub_…`.
    pub id: String,
    /// `cus_…`.
    pub customer: String,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, `unpaid`, …).
    pub status: String,
    /// Items as (item id, price id); ErrorWatch subscriptions have one.
    pub items: Vec<(String, String)>,
    /// Start of the current period (of the first item; the newer API keeps periods on items).
    pub period_start: Option<DateTime<Utc>>,
    /// End of the current period.
    pub period_end: Option<DateTime<Utc>>,
    /// The customer asked to stop at the end of the period.
    pub cancel_at_period_end: bool,
    /// When it was created.
    pub created: DateTime<Utc>,
}

impl RemoteSubscription {
    /// The price of the first item.
    pub fn price(&self) -> Option<&str> {
        self.items.first().map(|(_, price)| price.as_str())
    }

    fn from_stripe(subscription: stripe_shared::Subscription) -> Self {
        let first = subscription.items.data.first();
        RemoteSubscription {
            id: subscription.id.as_str().to_owned(),
            customer: subscription.customer.id().as_str().to_owned(),
            status: subscription.status.as_str().to_owned(),
            items: subscription
                .items
                .data
                .iter()
                .map(|item| {
                    (
                        item.id.as_str().to_owned(),
                        item.price.id.as_str().to_owned(),
                    )
                })
                .collect(),
            period_start: first.and_then(|i| timestamp(i.current_period_start)),
            period_end: first.and_then(|i| timestamp(i.current_period_end)),
            cancel_at_period_end: subscription.cancel_at_period_end,
            created: timestamp(subscription.created).unwrap_or_else(Utc::now),
        }
    }
}

fn timestamp(seconds: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(seconds, 0).single()
}

/// Statuses in which a subscription's plan applies (as in [`crate::billing::quota`]).
pub fn is_live(status: &str) -> bool {
    crate::billing::quota::status_keeps_plan(status)
}

/// The subscription that decides an account's plan when its customer has several: a live one
/// (active, trialing, past due) before any other, then the newest. `None` without any.
pub fn primary(subscriptions: &[RemoteSubscription]) -> Option<&RemoteSubscription> {
    subscriptions
        .iter()
        .max_by_key(|s| (is_live(&s.status), s.created, s.id.clone()))
}

/// The Stripe client with ErrorWatch's settings; cheap to clone.
#[derive(Clone)]
pub struct Stripe(Arc<Inner>);

struct Inner {
    client: ::stripe::Client,
    webhook_secret: SecretString,
    grace: Duration,
    default_plan: String,
    /// Tells this installation's idempotency keys from another's on the same Stripe account.
    installation: String,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stripe")
    }
}

/// A Stripe call that failed, with what Stripe said (never the secret key).
fn failed(what: &'static str) -> impl FnOnce(::stripe::StripeError) -> anyhow::Error {
    move |e| anyhow::anyhow!("Stripe: {what}: {e}")
}

impl Stripe {
    /// A client for `config`'s API base and key; `default_plan` is the plan of accounts
    /// without a live subscription; `public_url` tells this installation from others that
    /// share the Stripe account (staging and production in test mode, say).
    pub fn new(
        config: &StripeConfig,
        default_plan: &str,
        public_url: &url::Url,
    ) -> anyhow::Result<Self> {
        let client = ::stripe::ClientBuilder::new(config.secret_key.expose())
            .url(config.api_base.as_str())
            .timeout(REQUEST_TIMEOUT)
            .app_info(
                "ErrorWatch",
                Some(env!("CARGO_PKG_VERSION").to_owned()),
                None,
            )
            .build()
            .context("ERRORWATCH_STRIPE_SECRET_KEY / ERRORWATCH_STRIPE_API_BASE")?;
        Ok(Stripe(Arc::new(Inner {
            client,
            webhook_secret: config.webhook_secret.clone(),
            grace: config.grace,
            default_plan: default_plan.to_owned(),
            installation: {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(public_url.as_str().as_bytes());
                hex::encode(&digest[..6])
            },
        })))
    }

    /// The signing secret of `/stripe/webhook`.
    pub fn webhook_secret(&self) -> &SecretString {
        &self.0.webhook_secret
    }

    /// The plan of accounts without a live subscription.
    pub fn default_plan(&self) -> &str {
        &self.0.default_plan
    }

    /// How long a past-due subscription keeps its plan.
    pub fn grace(&self) -> Duration {
        self.0.grace
    }

    /// Creates the customer of an account. The idempotency key (installation and account)
    /// makes two concurrent first checkouts of one account get the same customer (Stripe keeps
    /// keys for 24 hours).
    pub(crate) async fn create_customer(
        &self,
        account_id: AccountId,
        name: &str,
        email: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut request = CreateCustomer::new().name(name).metadata(HashMap::from([(
            "account_id".to_owned(),
            account_id.to_string(),
        )]));
        if let Some(email) = email {
            request = request.email(email);
        }
        let key = IdempotencyKey::new(format!(
            "errorwatch-{}-customer-{account_id}",
            self.0.installation
        ))
        .map_err(|e| anyhow::anyhow!("idempotency key: {e:?}"))?;
        let customer = request
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.0.client)
            .await
            .map_err(failed("creating a customer"))?;
        Ok(customer.id.as_str().to_owned())
    }

    /// The account a customer was created for (`metadata.account_id`); `None` for customers
    /// that were not created by ErrorWatch, or that were deleted.
    pub(crate) async fn customer_account(&self, customer: &str) -> anyhow::Result<Option<i64>> {
        let returned = RetrieveCustomer::new(customer)
            .send(&self.0.client)
            .await
            .map_err(failed("reading a customer"))?;
        Ok(match returned {
            RetrieveCustomerReturned::Customer(customer) => customer
                .metadata
                .as_ref()
                .and_then(|m| m.get("account_id"))
                .and_then(|id| id.parse().ok()),
            RetrieveCustomerReturned::DeletedCustomer(_) => None,
        })
    }

    /// Starts a Checkout Session in subscription mode for one unit of `price`; returns the URL
    /// of Stripe's hosted page. `client_reference_id` and the subscription's metadata carry the
    /// account id, so the webhook can link it even before the customer is known.
    pub(crate) async fn create_checkout(
        &self,
        account_id: AccountId,
        customer: &str,
        price: &str,
        success_url: &str,
        cancel_url: &str,
    ) -> anyhow::Result<String> {
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(price.to_owned());
        item.quantity = Some(1);
        let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
        subscription_data.metadata = Some(HashMap::from([(
            "account_id".to_owned(),
            account_id.to_string(),
        )]));
        let session = CreateCheckoutSession::new()
            .mode(stripe_shared::CheckoutSessionMode::Subscription)
            .customer(customer)
            .client_reference_id(account_id.to_string())
            .line_items(vec![item])
            .subscription_data(subscription_data)
            .success_url(success_url)
            .cancel_url(cancel_url)
            .send(&self.0.client)
            .await
            .map_err(failed("creating a checkout session"))?;
        session
            .url
            .ok_or_else(|| anyhow::anyhow!("Stripe returned a checkout session without a URL"))
    }

    /// A Billing Portal session for `customer`; returns its URL.
    pub(crate) async fn create_portal(
        &self,
        customer: &str,
        return_url: &str,
    ) -> anyhow::Result<String> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.0.client)
            .await
            .map_err(failed("creating a billing portal session"))?;
        Ok(session.url)
    }

    /// Every subscription of `customer`, whatever its status.
    pub(crate) async fn customer_subscriptions(
        &self,
        customer: &str,
    ) -> anyhow::Result<Vec<RemoteSubscription>> {
        let list = ListSubscription::new()
            .customer(customer)
            .status(ListSubscriptionStatus::All)
            .limit(SUBSCRIPTIONS_PER_CUSTOMER)
            .send(&self.0.client)
            .await
            .map_err(failed("listing subscriptions"))?;
        Ok(list
            .data
            .into_iter()
            .map(RemoteSubscription::from_stripe)
            .collect())
    }

    /// Sets or clears "cancel at the end of the period".
    pub(crate) async fn set_cancel_at_period_end(
        &self,
        subscription: &str,
        cancel: bool,
    ) -> anyhow::Result<()> {
        UpdateSubscription::new(subscription)
            .cancel_at_period_end(cancel)
            .send(&self.0.client)
            .await
            .map_err(failed("updating a subscription"))?;
        Ok(())
    }

    /// Moves a subscription's item to `price` (prorated, Stripe's default) and clears a
    /// pending cancellation.
    pub(crate) async fn change_price(
        &self,
        subscription: &str,
        item: &str,
        price: &str,
    ) -> anyhow::Result<()> {
        let mut change = UpdateSubscriptionItems::new();
        change.id = Some(item.to_owned());
        change.price = Some(price.to_owned());
        UpdateSubscription::new(subscription)
            .items(vec![change])
            .cancel_at_period_end(false)
            .send(&self.0.client)
            .await
            .map_err(failed("changing a subscription's price"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(id: &str, status: &str, created: i64) -> RemoteSubscription {
        RemoteSubscription {
            id: id.to_owned(),
            customer: "cus_1".to_owned(),
            status: status.to_owned(),
            items: vec![("si_1".to_owned(), "price_pro".to_owned())],
            period_start: None,
            period_end: None,
            cancel_at_period_end: false,
            created: timestamp(created).expect("time"),
        }
    }

    fn check(subscriptions: &[RemoteSubscription], expect: Option<&str>) {
        assert_eq!(primary(subscriptions).map(|s| s.id.as_str()), expect);
    }

    #[test]
    fn the_primary_subscription_is_live_first_then_newest() {
        check(&[], None);
        check(&[subscription("sub_a", "canceled", 1)], Some("sub_a"));
        check(
            &[
                subscription("sub_old", "active", 1),
                subscription("sub_new", "canceled", 2),
            ],
            Some("sub_old"),
        );
        check(
            &[
                subscription("sub_a", "past_due", 1),
                subscription("sub_b", "active", 2),
            ],
            Some("sub_b"),
        );
        check(
            &[
                subscription("sub_a", "incomplete_expired", 5),
                subscription("sub_b", "canceled", 3),
            ],
            Some("sub_a"),
        );
    }
}
