//! `/:account/settings/billing`: the plan and its status, the period, usage against each quota
//! with its accepted and dropped per day (an inline SVG chart), drops by reason and the plans on
//! offer; `/settings/billing` (the link of the quota emails, which names no account) leads
//! there; and the banner every page of an account shows near (80 %) and over (100 %) a quota.
//! Any member, viewers included, may see it all. Where billing is on (`serverInfo {
//! billingEnabled }`), owners also change the plan (upgrade, downgrade, keep a cancelled one,
//! each confirmed first) and open Stripe's Billing Portal. Also the pieces sign-up and
//! onboarding share: the plan picker, and the notice back from Stripe Checkout that waits for
//! the plan to apply. The words and numbers come from [`crate::billing`].

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::{CurrentAccount, Shell, use_session};
use crate::billing::{
    Billing, Plan, PlanChange, QuotaLevel, QuotaState, Usage, amount, banner_text, category_label,
    category_noun, change_done, change_label, change_question, chart_days, chart_svg, drop_reason,
    long_date, offered_plans, overage_summary, period_days, period_label, plan_change, plan_terms,
    pressing_usage, price, quota_level, short_day, status_label, whole_or_one_decimal,
};
use crate::components::{ErrorNote, Submit, SubmitError, absolute_url, go_to, loaded, sleep_ms};
use crate::pages::settings::SettingsTabs;

/// The plans on offer and whether billing is on, for sign-up and onboarding (no sign-in
/// needed); with the sign-up policy, which the sign-up page shows too.
pub const OFFER_QUERY: &str = "query { signupPolicy firstUserBecomesAdmin serverInfo { billingEnabled emailBySmtp } plans { slug name priceCents \
     quotas { category amount } overageSteps { at drop } retentionDays maxMembers keyRatePerMinute keyBurst spikePerMinute } }";

/// The plans to choose from when billing is on (`None` when it is off), from an answer of
/// [`OFFER_QUERY`].
pub async fn load_offer() -> Result<(serde_json::Value, Option<Vec<Plan>>), ApiError> {
    let data = api::gql(OFFER_QUERY, json!({})).await?;
    let plans = offered_plans(&data);
    Ok((data, plans))
}

/// Where the plan chosen at sign-up waits for the first account (the email verification in
/// between may take the visitor through another page load).
const CHOSEN_PLAN_KEY: &str = "ew-signup-plan";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Remembers the plan chosen at sign-up for the onboarding (`None` forgets it).
pub fn remember_plan(slug: Option<&str>) {
    if let Some(storage) = local_storage() {
        let _ = match slug {
            Some(slug) => storage.set_item(CHOSEN_PLAN_KEY, slug),
            None => storage.remove_item(CHOSEN_PLAN_KEY),
        };
    }
}

/// The plan chosen at sign-up, if any.
pub fn remembered_plan() -> Option<String> {
    local_storage()?.get_item(CHOSEN_PLAN_KEY).ok()?
}

/// The plans with their price and terms, as radio buttons; `chosen` holds the slug.
#[component]
pub fn PlanPicker(plans: Vec<Plan>, chosen: RwSignal<Option<String>>) -> impl IntoView {
    let options = plans
        .into_iter()
        .map(|plan| {
            let slug = StoredValue::new(plan.slug.clone());
            view! {
                <label class="plan-option">
                    <input type="radio" name="plan" value=plan.slug.clone() id=format!("plan-{}", plan.slug)
                        prop:checked=move || chosen.with(|c| c.as_deref() == Some(slug.get_value().as_str()))
                        on:change=move |_| chosen.set(Some(slug.get_value()))/>
                    <span><strong>{plan.name.clone()}</strong>{format!(" · {}", price(plan.price_cents))}<br/>
                        <span class="small muted">{plan_terms(&plan)}</span></span>
                </label>
            }
        })
        .collect_view();
    view! {
        <fieldset class="plan-choice" id="plan-choice">
            <legend>"Plan"</legend>
            {options}
            <p class="small muted">"Free needs no card. A paid plan is paid on Stripe's checkout page once your \
                account is created; you can change plans at any time."</p>
        </fieldset>
    }
}

/// How often, and how many times, the page asks whether a paid plan applies after Checkout:
/// Stripe's webhook reaches the server on its own, and a job stores the plan.
const CHECKOUT_POLL_MS: i32 = 500;
const CHECKOUT_POLLS: u32 = 40;

/// Asks until the account's plan is `wanted` (any plan when `None`); its name, slug and status,
/// or `None` after [`CHECKOUT_POLLS`] answers.
async fn wait_for_plan(
    account_id: &str,
    wanted: Option<&str>,
) -> Result<Option<(String, String, String)>, ApiError> {
    for attempt in 0..CHECKOUT_POLLS {
        if attempt > 0 {
            sleep_ms(CHECKOUT_POLL_MS).await;
        }
        let data = api::gql(
            "query($a: ID!) { account(id: $a) { billing { status plan { slug name } } } }",
            json!({"a": account_id}),
        )
        .await?;
        let billing = &data["account"]["billing"];
        let slug = billing["plan"]["slug"].as_str().unwrap_or_default();
        if wanted.is_none_or(|w| w == slug) {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            return Ok(Some((
                text(&billing["plan"]["name"]),
                slug.to_owned(),
                text(&billing["status"]),
            )));
        }
    }
    Ok(None)
}

/// The notice back from Stripe Checkout (`?checkout=success&plan=…`, `?checkout=canceled`, or
/// `?checkout=failed` when it could not start): after a payment it waits for the plan to apply,
/// then names it (`#checkout-status[data-state=active]`) and runs `on_active`. Nothing without
/// `?checkout=`.
#[component]
pub fn CheckoutReturn(
    account_id: String,
    #[prop(optional)] on_active: Option<Callback<()>>,
) -> impl IntoView {
    let query = use_query_map();
    let (outcome, wanted) = query.with_untracked(|q| (q.get("checkout"), q.get("plan")));
    let answer = RwSignal::new(None);
    if outcome.as_deref() == Some("success") {
        leptos::task::spawn_local(async move {
            let result = wait_for_plan(&account_id, wanted.as_deref()).await;
            if let (Ok(Some(_)), Some(done)) = (&result, on_active) {
                done.run(());
            }
            answer.try_set(Some(result));
        });
    }
    move || {
        match outcome.as_deref() {
        Some("success") => Some(match answer.get() {
            None => view! {
                <p class="loading" id="checkout-status" data-state="waiting" role="status">
                    <span class="spinner" aria-hidden="true"></span>
                    "Payment received. Waiting for Stripe to confirm your plan…"
                </p>
            }
            .into_any(),
            Some(Ok(Some((name, slug, status)))) => view! {
                <p class="notice" id="checkout-status" data-state="active" data-plan=slug role="status">
                    "Your plan: "<strong id="active-plan">{name}</strong>{format!(" ({})", status_label(&status))}
                </p>
            }
            .into_any(),
            Some(Ok(None)) => view! {
                <p class="notice" id="checkout-status" data-state="pending" role="status">
                    "Stripe has not confirmed the payment yet. Your plan changes as soon as it does; \
                     the billing page shows it."
                </p>
            }
            .into_any(),
            Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
        }),
        Some("canceled") => Some(view! {
            <p class="notice" id="checkout-status" data-state="canceled" role="status">
                "Checkout cancelled: nothing was charged, and the account keeps its plan. You can \
                 choose a plan at any time on the billing page."
            </p>
        }.into_any()),
        Some("failed") => Some(view! {
            <p class="notice" id="checkout-status" data-state="failed" role="status">
                "The payment could not be started, so the account is on the free plan. You can \
                 choose a plan at any time on the billing page."
            </p>
        }.into_any()),
        _ => None,
    }
    }
}

/// How long the banner trusts the quota state it fetched before asking again (on the next
/// page shown).
const WATCH_TTL_MS: f64 = 60_000.0;

/// The quota state of the account shown last, kept across page changes (provided by the app),
/// so the banner does not ask the API on every navigation.
#[derive(Clone, Copy)]
pub struct QuotaWatch(RwSignal<Option<Watched>>);

#[derive(Clone, Debug, PartialEq)]
struct Watched {
    account_id: String,
    fetched_ms: f64,
    /// `None` while the request runs; errors show nothing (the billing page shows them).
    state: Option<QuotaState>,
}

impl Default for QuotaWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl QuotaWatch {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self(RwSignal::new(None))
    }

    /// Fetches the quota state of `account_id` unless a recent one is at hand.
    fn refresh_if_stale(self, account_id: &str) {
        let now = js_sys::Date::now();
        let fresh = self.0.with_untracked(|w| {
            w.as_ref()
                .is_some_and(|w| w.account_id == account_id && now - w.fetched_ms < WATCH_TTL_MS)
        });
        if fresh {
            return;
        }
        self.0.set(Some(Watched {
            account_id: account_id.to_owned(),
            fetched_ms: now,
            state: None,
        }));
        let account_id = account_id.to_owned();
        leptos::task::spawn_local(async move {
            let answer = api::gql(
                "query($a: ID!) { account(id: $a) { billing { periodEnd plan { overageSteps { at drop } } \
                 usage { category quantity quota percent } } } }",
                json!({"a": account_id}),
            )
            .await;
            if let Ok(data) = answer {
                self.put(&account_id, QuotaState::read(&data["account"]["billing"]));
            }
        });
    }

    /// Records a state just read (the billing page's), so the banner agrees with the page.
    fn put(self, account_id: &str, state: QuotaState) {
        self.0.set(Some(Watched {
            account_id: account_id.to_owned(),
            fetched_ms: js_sys::Date::now(),
            state: Some(state),
        }));
    }

    fn state_of(self, account_id: &str) -> Option<QuotaState> {
        self.0.with(|w| {
            w.as_ref()
                .filter(|w| w.account_id == account_id)
                .and_then(|w| w.state.clone())
        })
    }
}

/// The session-storage key of a dismissed banner (per account; a worse level shows again).
fn dismissed_key(account_id: &str) -> String {
    format!("ew-quota-dismissed:{account_id}")
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn dismissed_level(account_id: &str) -> Option<QuotaLevel> {
    let stored = session_storage()?
        .get_item(&dismissed_key(account_id))
        .ok()??;
    [QuotaLevel::Near, QuotaLevel::Over]
        .into_iter()
        .find(|level| level.name() == stored)
}

/// The notice on every page of an account whose quota is 80 % used or used up, linking to the
/// billing page; it can be dismissed for the browser session (until the level worsens).
#[component]
pub fn QuotaBanner(account_id: String) -> impl IntoView {
    let watch = expect_context::<QuotaWatch>();
    watch.refresh_if_stale(&account_id);
    let dismissed = RwSignal::new(dismissed_level(&account_id));
    let account = StoredValue::new(account_id);
    move || {
        let state = watch.state_of(&account.get_value())?;
        let (level, usage) = pressing_usage(&state.usage)?;
        if dismissed.get().is_some_and(|d| d >= level) {
            return None;
        }
        let text = banner_text(level, usage, &state);
        let dismiss = move |_| {
            if let Some(storage) = session_storage() {
                let _ = storage.set_item(&dismissed_key(&account.get_value()), level.name());
            }
            dismissed.set(Some(level));
        };
        let title = if level == QuotaLevel::Over {
            "Quota used up"
        } else {
            "Quota nearly used up"
        };
        Some(view! {
            <div class=format!("quota-banner {}", level.name()) id="quota-banner" role="status" data-level=level.name()>
                <p><strong>{title}</strong>" "{text}" "
                    <a href=format!("/{}/settings/billing", account.get_value()) id="quota-banner-link">"See usage and plans"</a></p>
                <button type="button" class="ghost small" id="quota-banner-dismiss" on:click=dismiss
                    aria-label="Dismiss the quota notice">"Dismiss"</button>
            </div>
        })
    }
}

/// `/settings/billing`: the billing page of `?account=` (id or slug), else of the viewer's only
/// account, else a choice among them.
#[component]
pub fn BillingLink() -> impl IntoView {
    view! { <crate::app::Signed><ChooseAccount/></crate::app::Signed> }
}

#[component]
fn ChooseAccount() -> impl IntoView {
    let session = use_session();
    let query = use_query_map();
    let navigate = use_navigate();
    let accounts = move || {
        session
            .viewer
            .get()
            .and_then(Result::ok)
            .map(|v| v.accounts)
            .unwrap_or_default()
    };
    Effect::new(move |_| {
        let list = accounts();
        let wanted = query.read().get("account").unwrap_or_default();
        let target = match list.iter().find(|a| a.id == wanted || a.slug == wanted) {
            Some(account) => format!("/{}/settings/billing", account.id),
            None if list.is_empty() => "/onboarding".to_owned(),
            None if list.len() == 1 => format!("/{}/settings/billing", list[0].id),
            None => return,
        };
        navigate(
            &target,
            NavigateOptions {
                replace: true,
                ..Default::default()
            },
        );
    });
    view! {
        <Shell>
            <h1>"Billing"</h1>
            <p>"Which account?"</p>
            <ul id="billing-accounts">
                {move || accounts().into_iter().map(|a| view! {
                    <li><a href=format!("/{}/settings/billing", a.id)>{a.name}</a></li>
                }).collect_view()}
            </ul>
        </Shell>
    }
}

/// The billing page's data: whether billing is on, the account's billing, the plans on offer.
const BILLING_PAGE_QUERY: &str = "query($a: ID!) { serverInfo { billingEnabled } account(id: $a) { billing { status \
     cancelAtPeriodEnd periodStart periodEnd \
     plan { slug name priceCents quotas { category amount } overageSteps { at drop } retentionDays \
     maxMembers keyRatePerMinute keyBurst spikePerMinute } \
     usage { category quantity quota percent } dropped { category outcome reason quantity } \
     daily { day category accepted dropped } } } \
     plans { slug name priceCents quotas { category amount } overageSteps { at drop } retentionDays \
     maxMembers keyRatePerMinute keyBurst spikePerMinute } }";

/// What the billing page shows.
#[derive(Clone)]
struct BillingView {
    billing: Billing,
    plans: Vec<Plan>,
    /// Plan changes and the portal are possible (SaaS with Stripe).
    billing_enabled: bool,
}

/// The billing page of the current account.
#[component]
pub fn BillingPage() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    let watch = expect_context::<QuotaWatch>();
    // A signal filled by a request rather than a resource: each resource type costs the
    // bundle a few KB. `version` reads the page again (after a plan change).
    let answer = RwSignal::new(None);
    let version = RwSignal::new(0_u32);
    let account_id = account.id.clone();
    Effect::new(move |_| {
        version.track();
        let account_id = account_id.clone();
        leptos::task::spawn_local(async move {
            let result = api::gql(BILLING_PAGE_QUERY, json!({"a": account_id}))
                .await
                .map(|data| {
                    let billing = Billing::read(&data["account"]["billing"]);
                    // The banner follows what this page shows.
                    watch.put(&account_id, billing.quota_state());
                    let plans: Vec<Plan> = data["plans"]
                        .as_array()
                        .map(|plans| plans.iter().map(Plan::read).collect())
                        .unwrap_or_default();
                    BillingView {
                        billing,
                        plans,
                        billing_enabled: data["serverInfo"]["billingEnabled"] == true,
                    }
                });
            answer.try_set(Some(result));
        });
    });
    let reload = Callback::new(move |_| version.update(|v| *v += 1));
    // Only owners change the plan or see the portal; the API refuses anyone else anyway.
    let actions =
        (account.viewer_role == "OWNER").then(|| PlanActions::new(account.id.clone(), reload));
    view! {
        <div class="settings billing">
            <h1>{format!("Settings of {}", account.name)}</h1>
            <SettingsTabs account_id=account.id.clone() current="billing"/>
            <CheckoutReturn account_id=account.id.clone() on_active=reload/>
            {move || loaded(answer.get(), "billing", |page: BillingView| view! {
                {plan_card(&page, actions)}
                {usage_card(&page.billing)}
                {dropped_card(&page.billing)}
                {page.billing_enabled.then(|| plans_card(&page.billing.plan, page.plans))}
            })}
        </div>
    }
}

/// The owner's plan changes and the Billing Portal: each change asks first, then calls
/// `choosePlan` (which changes a live subscription at once, or answers a Checkout URL to go
/// to); errors show with their code.
#[derive(Clone, Copy)]
struct PlanActions {
    account_id: StoredValue<String>,
    /// The change awaiting confirmation.
    asking: RwSignal<Option<Asking>>,
    submit: Submit,
    /// What the last change did, in words.
    done: RwSignal<Option<String>>,
    /// Reads the page again.
    reload: Callback<()>,
}

/// A plan change awaiting confirmation.
#[derive(Clone)]
struct Asking {
    change: PlanChange,
    /// The target plan's slug.
    slug: String,
    question: String,
    /// Names of the plan in force and of the target, for the message after the change.
    current: String,
    target: String,
}

impl PlanActions {
    fn new(account_id: String, reload: Callback<()>) -> Self {
        Self {
            account_id: StoredValue::new(account_id),
            asking: RwSignal::new(None),
            submit: Submit::new(),
            done: RwSignal::new(None),
            reload,
        }
    }

    /// `path` under this account's billing page, absolute (a return URL for Stripe).
    fn back(self, query: &str) -> String {
        absolute_url(&format!(
            "/{}/settings/billing{query}",
            self.account_id.get_value()
        ))
    }

    /// Makes the confirmed change.
    fn choose(self, asking: Asking) {
        let Asking {
            change,
            slug,
            current,
            target,
            ..
        } = asking;
        let account_id = self.account_id.get_value();
        self.submit.run(async move {
            let data = api::gql(
                "mutation($a: ID!, $p: String!, $s: String, $c: String) { choosePlan(accountId: $a, plan: $p, \
                 successUrl: $s, cancelUrl: $c) { checkoutUrl plan cancelAtPeriodEnd } }",
                json!({
                    "a": account_id,
                    "p": slug,
                    "s": self.back(&format!("?checkout=success&plan={slug}")),
                    "c": self.back("?checkout=canceled"),
                }),
            )
            .await?;
            self.asking.set(None);
            if let Some(url) = data["choosePlan"]["checkoutUrl"].as_str() {
                self.done
                    .set(Some(change_done(PlanChange::Checkout, &current, &target)));
                go_to(url);
                return Ok(());
            }
            // Stripe had a subscription the page did not know of yet: its price was changed.
            let made = if change == PlanChange::Checkout {
                PlanChange::Switch { up: true }
            } else {
                change
            };
            self.done.set(Some(change_done(made, &current, &target)));
            self.reload.run(());
            Ok(())
        });
    }

    /// Opens Stripe's Billing Portal, which comes back to this page.
    fn open_portal(self) {
        let account_id = self.account_id.get_value();
        self.submit.run(async move {
            let url: String = api::query(
                "mutation($a: ID!, $r: String) { openBillingPortal(accountId: $a, returnUrl: $r) { url } }",
                json!({"a": account_id, "r": self.back("")}),
                "/openBillingPortal/url",
            )
            .await?;
            go_to(&url);
            Ok(())
        });
    }

    /// A button per possible change, the portal (once the account has a subscription, live or
    /// past), the question awaiting an answer, the error and what the last change did.
    fn view(self, billing: &Billing, plans: &[Plan]) -> impl IntoView + use<> {
        let pending = self.submit.pending;
        let buttons = plans
            .iter()
            .filter_map(|target| {
                let change = plan_change(billing, target)?;
                let asking = Asking {
                    change,
                    slug: target.slug.clone(),
                    question: change_question(change, billing, target),
                    current: billing.plan.name.clone(),
                    target: target.name.clone(),
                };
                let ask = move |_| {
                    self.done.set(None);
                    self.submit.error.set(None);
                    self.asking.set(Some(asking.clone()));
                };
                let class = if matches!(
                    change,
                    PlanChange::Checkout | PlanChange::Switch { up: true }
                ) {
                    "primary"
                } else {
                    ""
                };
                Some(view! {
                    <button type="button" class=class id=format!("plan-choose-{}", target.slug)
                        on:click=ask disabled=move || pending.get()>{change_label(change, target)}</button>
                })
            })
            .collect_view();
        let portal = (billing.status != "free").then(|| {
            view! {
                <button type="button" id="billing-portal" on:click=move |_| self.open_portal()
                    disabled=move || pending.get()>"Manage billing"</button>
            }
        });
        let confirm = move || {
            self.asking.get().map(|asking| {
                let yes = if asking.change == PlanChange::Checkout {
                    "Continue to checkout"
                } else {
                    "Confirm"
                };
                let question = asking.question.clone();
                let asking = StoredValue::new(asking);
                view! {
                    <div class="notice confirm" id="plan-confirm" role="group" aria-labelledby="plan-confirm-q">
                        <p id="plan-confirm-q">{question}</p>
                        <div class="actions">
                            <button type="button" class="primary" id="plan-confirm-yes"
                                on:click=move |_| self.choose(asking.get_value())
                                disabled=move || pending.get()>{yes}</button>
                            <button type="button" class="ghost" id="plan-confirm-no"
                                on:click=move |_| self.asking.set(None)>"Cancel"</button>
                        </div>
                    </div>
                }
            })
        };
        view! {
            <div class="plan-actions" id="plan-actions">
                <div class="actions">{buttons}{portal}</div>
                {confirm}
                <SubmitError submit=self.submit/>
                {move || self.done.get().map(|text| view! {
                    <p class="notice" id="plan-changed" role="status">{text}</p>
                })}
            </div>
        }
    }
}

/// The plan, its status, period and terms, a pending cancellation, and (for owners, when
/// billing is on) its actions.
fn plan_card(page: &BillingView, actions: Option<PlanActions>) -> impl IntoView + use<> {
    let billing = &page.billing;
    let plan = &billing.plan;
    let ends = billing.cancel_at_period_end.then(|| {
        let then = page
            .plans
            .iter()
            .find(|p| p.price_cents <= 0)
            .map_or_else(|| "the free plan".to_owned(), |p| p.name.clone());
        view! {
            <p class="notice" id="plan-ends">{format!("{} ends on {}; then {then} applies.",
                plan.name, long_date(&billing.period_end))}</p>
        }
    });
    let actions = actions
        .filter(|_| page.billing_enabled)
        .map(|actions| actions.view(billing, &page.plans));
    view! {
        <section class="card" aria-labelledby="plan-h" id="plan">
            <h2 id="plan-h">"Plan"</h2>
            <p class="plan-head">
                <strong id="plan-name">{plan.name.clone()}</strong>
                <span class="badge" id="plan-status">{status_label(&billing.status)}</span>
                // Without billing nobody pays: a price would only confuse.
                {page.billing_enabled.then(|| view! { <span class="muted">{price(plan.price_cents)}</span> })}
            </p>
            {(!page.billing_enabled).then(|| view! {
                <p class="muted" id="plan-self-hosted">"Billing is off on this server: every account has this plan, set by the administrator (ERRORWATCH_SELF_HOST_PLAN)."</p>
            })}
            <p id="plan-period">{format!("This period: {} (resets on {})",
                period_label(&billing.period_start, &billing.period_end), long_date(&billing.period_end))}</p>
            <p id="plan-terms">{plan_terms(plan)}</p>
            // What happens past a quota only means something when there is one.
            {(!plan.quotas.is_empty()).then(|| view! { <p id="plan-overage">{overage_summary(&plan.overage_steps)}</p> })}
            {ends}
            {actions}
        </section>
    }
}

/// Usage of each quota category: a meter with its numbers and percentage, then the category's
/// accepted and dropped per day of the period (SVG markup, with a tooltip per day).
fn usage_card(billing: &Billing) -> impl IntoView + use<> {
    let (first, last) = period_days(&billing.period_start, &billing.period_end).unwrap_or_default();
    let mut usage = billing.usage.clone();
    for d in &billing.daily {
        if !usage.iter().any(|u| u.category == d.category) {
            usage.push(Usage {
                category: d.category.clone(),
                quantity: 0,
                quota: None,
                percent: None,
            });
        }
    }
    let categories = usage
        .into_iter()
        .map(|u| {
            let category = u.category.as_str();
            let label = category_label(category);
            let numbers = match u.quota {
                Some(quota) => format!(
                    "{} / {}",
                    amount(category, u.quantity),
                    amount(category, quota)
                ),
                None => format!("{} (no quota)", amount(category, u.quantity)),
            };
            let fill = u.percent.unwrap_or_default().clamp(0.0, 100.0);
            let meter = u.percent.map(|p| {
                view! {
                    <span class="meter-bar" role="meter" aria-label=format!("{label} used") aria-valuenow=fill.to_string()>
                        <span style=format!("width:{fill}%")></span>
                    </span>
                    <span class="meter-pct">{format!("{} %", whole_or_one_decimal(p))}</span>
                }
            });
            let days = chart_days(&billing.daily, category, first, last);
            let (accepted, dropped) = days
                .iter()
                .fold((0, 0), |(a, x), d| (a + d.accepted, x + d.dropped));
            let caption = format!(
                "{} – {}: {} accepted, {} dropped; busiest day {}",
                short_day(first),
                short_day(last),
                amount(category, accepted),
                amount(category, dropped),
                amount(category, days.iter().map(|d| d.accepted + d.dropped).max().unwrap_or(0)),
            );
            view! {
                <div class=format!("meter {} {category}", quota_level(&u).name())>
                    <h3>{label}</h3>
                    <span class="meter-numbers">{numbers}</span>
                    {meter}
                </div>
                <div class="daily" role="img" aria-label=caption.clone() inner_html=chart_svg(&days, category)></div>
                <p class="small muted">{caption}</p>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="usage-h" id="usage">
            <h2 id="usage-h">"Usage this period"</h2>
            <p class="small">"Per day: "<span class="swatch acc"></span>"accepted "<span class="swatch drop"></span>"dropped"</p>
            {categories}
        </section>
    }
}

/// What was dropped in the period, by reason.
fn dropped_card(billing: &Billing) -> impl IntoView + use<> {
    let rows = billing
        .dropped
        .iter()
        .map(|d| {
            let (label, detail) = drop_reason(&d.outcome, &d.reason);
            let detail = detail.map(|r| format!(" ({r})")).unwrap_or_default();
            view! {
                <li>{format!("{label}{detail}: {} {}", amount(&d.category, d.quantity), category_noun(&d.category))}</li>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="dropped-h" id="dropped">
            <h2 id="dropped-h">"Dropped this period"</h2>
            {billing.dropped.is_empty().then(|| view! { <p class="muted">"Nothing was dropped."</p> })}
            <ul id="dropped-list">{rows}</ul>
        </section>
    }
}

/// The plans on offer (the current one first when it is not on offer), each with its terms.
fn plans_card(current: &Plan, plans: Vec<Plan>) -> impl IntoView + use<> {
    let mut list = plans;
    if !list.iter().any(|p| p.slug == current.slug) {
        list.insert(0, current.clone());
    }
    let items = list
        .into_iter()
        .map(|p| {
            let is_current = p.slug == current.slug;
            let price = format!(
                " · {}{}",
                price(p.price_cents),
                if is_current { " · your plan" } else { "" }
            );
            view! {
                <li class:current=is_current>
                    <strong>{p.name.clone()}</strong>{price}<br/>
                    <span class="small muted">{plan_terms(&p)}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="plans-h" id="plans">
            <h2 id="plans-h">"Plans"</h2>
            <ul class="plans" id="plans-list">{items}</ul>
        </section>
    }
}
