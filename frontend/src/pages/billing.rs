//! `/:account/settings/billing`: the plan and its status, the period, usage against each quota
//! with its accepted and dropped per day (an inline SVG chart), drops by reason and the plans on
//! offer; `/settings/billing` (the link of the quota emails, which names no account) leads
//! there; and the banner every page of an account shows near (80 %) and over (100 %) a quota.
//! Any member, viewers included, may see it all. The words and numbers come from
//! [`crate::billing`].

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde_json::json;

use crate::api;
use crate::app::{CurrentAccount, Shell, use_session};
use crate::billing::{
    Billing, Plan, QuotaLevel, QuotaState, Usage, amount, banner_text, category_label,
    category_noun, chart_days, chart_svg, drop_reason, long_date, overage_summary, period_days,
    period_label, plan_terms, pressing_usage, price, quota_level, short_day, status_label,
    whole_or_one_decimal,
};
use crate::components::loaded;
use crate::pages::settings::SettingsTabs;

/// FIXME(billing mutations): upgrade / downgrade (`startCheckout`) and the Billing Portal link
/// (`openBillingPortal`) go in the `#plan-actions` place of the plan card once the API says
/// whether billing is on. Self-hosted (no Stripe) it is off, and the place stays hidden.
const BILLING_ACTIONS: bool = false;

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

/// The billing page of the current account.
#[component]
pub fn BillingPage() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    let watch = expect_context::<QuotaWatch>();
    // A signal filled by one request rather than a resource: the page loads once, and each
    // resource type costs the bundle a few KB.
    let answer = RwSignal::new(None);
    let account_id = account.id.clone();
    leptos::task::spawn_local(async move {
        let result = api::gql(
            "query($a: ID!) { account(id: $a) { billing { status periodStart periodEnd \
             plan { slug name priceCents quotas { category amount } overageSteps { at drop } retentionDays \
             maxMembers keyRatePerMinute keyBurst spikePerMinute } \
             usage { category quantity quota percent } dropped { category outcome reason quantity } \
             daily { day category accepted dropped } } } \
             plans { slug name priceCents quotas { category amount } overageSteps { at drop } retentionDays \
             maxMembers keyRatePerMinute keyBurst spikePerMinute } }",
            json!({"a": account_id}),
        )
        .await
        .map(|data| {
            let billing = Billing::read(&data["account"]["billing"]);
            // The banner follows what this page shows.
            watch.put(&account_id, billing.quota_state());
            let plans: Vec<Plan> = data["plans"]
                .as_array()
                .map(|plans| plans.iter().map(Plan::read).collect())
                .unwrap_or_default();
            (billing, plans)
        });
        answer.try_set(Some(result));
    });
    view! {
        <div class="settings billing">
            <h1>{format!("Settings of {}", account.name)}</h1>
            <SettingsTabs account_id=account.id.clone() current="billing"/>
            {move || loaded(answer.get(), "billing", |(billing, plans): (Billing, Vec<Plan>)| view! {
                {plan_card(&billing)}
                {usage_card(&billing)}
                {dropped_card(&billing)}
                {plans_card(&billing.plan, plans)}
            })}
        </div>
    }
}

/// The plan, its status, period and terms, and (when billing is on) its actions.
fn plan_card(billing: &Billing) -> impl IntoView + use<> {
    let plan = &billing.plan;
    view! {
        <section class="card" aria-labelledby="plan-h" id="plan">
            <h2 id="plan-h">"Plan"</h2>
            <p class="plan-head">
                <strong id="plan-name">{plan.name.clone()}</strong>
                <span class="badge" id="plan-status">{status_label(&billing.status)}</span>
                <span class="muted">{price(plan.price_cents)}</span>
            </p>
            <p id="plan-period">{format!("This period: {} (resets on {})",
                period_label(&billing.period_start, &billing.period_end), long_date(&billing.period_end))}</p>
            <p>{plan_terms(plan)}</p>
            <p>{overage_summary(&plan.overage_steps)}</p>
            {BILLING_ACTIONS.then(|| view! { <div class="plan-actions" id="plan-actions"></div> })}
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
