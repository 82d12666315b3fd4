//! Billing in words and numbers, for the billing page and the quota banners: the answers of
//! `Account.billing` and `plans`, how full a quota is (near at 80 %, over at 100 %, as the
//! owners' emails count), what share of new events is dropped past it, names for categories,
//! drop reasons and subscription states, dates of the period, and the daily chart's bars.
//! Pure functions, no browser: the pages only lay them out. Answers are read from JSON by hand
//! rather than by serde's derive, which costs the bundle several times more per type.

use serde_json::Value;

use crate::components::file_size;
use crate::dates::{civil_from_days, days_from_civil};

/// A quota category's use in the current period.
#[derive(Clone, Debug, PartialEq)]
pub struct Usage {
    /// Quota category (`error`, `attachment` in bytes, …).
    pub category: String,
    /// Accepted so far.
    pub quantity: i64,
    /// The plan's quota (`None` = unlimited).
    pub quota: Option<i64>,
    /// `quantity` as a percentage of `quota`, one decimal (`None` = unlimited).
    pub percent: Option<f64>,
}

/// One step of a soft overage policy.
#[derive(Clone, Debug, PartialEq)]
pub struct OverageStep {
    /// Share of the quota from which it applies (1.0 = the quota).
    pub at: f64,
    /// Fraction of new events dropped from there.
    pub drop: f64,
}

/// A quota of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanQuota {
    /// Quota category.
    pub category: String,
    /// Per billing period.
    pub amount: i64,
}

/// A plan on offer, or the account's.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Stable identifier.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Monthly price in cents.
    pub price_cents: i64,
    /// Quotas per period; categories not listed are unlimited.
    pub quotas: Vec<PlanQuota>,
    /// Past the quota: empty for a hard cap.
    pub overage_steps: Vec<OverageStep>,
    /// Days events are kept.
    pub retention_days: i64,
    /// Members allowed (`None` = unlimited).
    pub max_members: Option<i64>,
    /// Requests per minute per DSN key.
    pub key_rate_per_minute: Option<i64>,
    /// Requests a key may send at once.
    pub key_burst: Option<i64>,
    /// Events per minute per project before spike protection.
    pub spike_per_minute: Option<i64>,
}

/// Items dropped in the period for one category, outcome and reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropped {
    /// Protocol category (`error`, `attachment`, …).
    pub category: String,
    /// `rate_limited`, `invalid`, `too_large`, `client_discard`, …
    pub outcome: String,
    /// `usage_exceeded`, `key_quota`, …
    pub reason: String,
    /// How many (bytes for attachments).
    pub quantity: i64,
}

/// One UTC day of one quota category.
#[derive(Clone, Debug, PartialEq)]
pub struct Daily {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Quota category.
    pub category: String,
    /// Stored.
    pub accepted: i64,
    /// Dropped for any reason.
    pub dropped: i64,
}

/// An account's plan, period and usage.
#[derive(Clone, Debug, PartialEq)]
pub struct Billing {
    /// The plan in force.
    pub plan: Plan,
    /// `free` without a subscription, else Stripe's status.
    pub status: String,
    /// The paid subscription ends with the period (the free plan was chosen).
    pub cancel_at_period_end: bool,
    /// RFC 3339.
    pub period_start: String,
    /// RFC 3339, exclusive.
    pub period_end: String,
    /// Per quota category.
    pub usage: Vec<Usage>,
    /// Drops in the period.
    pub dropped: Vec<Dropped>,
    /// Per day and quota category.
    pub daily: Vec<Daily>,
}

/// What the banners need: usage, the overage policy and when the period resets.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaState {
    /// RFC 3339, exclusive.
    pub period_end: String,
    /// The plan's overage policy (empty for a hard cap).
    pub overage_steps: Vec<OverageStep>,
    /// Per quota category.
    pub usage: Vec<Usage>,
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_default()
}

fn list<T>(v: &Value, key: &str, read: fn(&Value) -> T) -> Vec<T> {
    v[key]
        .as_array()
        .map(|items| items.iter().map(read).collect())
        .unwrap_or_default()
}

impl Usage {
    /// From `Usage { category quantity quota percent }`.
    pub fn read(v: &Value) -> Self {
        Self {
            category: text(v, "category"),
            quantity: int(v, "quantity"),
            quota: v["quota"].as_i64(),
            percent: v["percent"].as_f64(),
        }
    }
}

impl OverageStep {
    fn read(v: &Value) -> Self {
        Self {
            at: v["at"].as_f64().unwrap_or_default(),
            drop: v["drop"].as_f64().unwrap_or_default(),
        }
    }
}

impl Plan {
    /// From `Plan { slug name priceCents quotas { category amount } overageSteps { at drop }
    /// retentionDays maxMembers keyRatePerMinute keyBurst spikePerMinute }`.
    pub fn read(v: &Value) -> Self {
        Self {
            slug: text(v, "slug"),
            name: text(v, "name"),
            price_cents: int(v, "priceCents"),
            quotas: list(v, "quotas", |q| PlanQuota {
                category: text(q, "category"),
                amount: int(q, "amount"),
            }),
            overage_steps: list(v, "overageSteps", OverageStep::read),
            retention_days: int(v, "retentionDays"),
            max_members: v["maxMembers"].as_i64(),
            key_rate_per_minute: v["keyRatePerMinute"].as_i64(),
            key_burst: v["keyBurst"].as_i64(),
            spike_per_minute: v["spikePerMinute"].as_i64(),
        }
    }
}

impl Billing {
    /// From `Account.billing` with every field.
    pub fn read(v: &Value) -> Self {
        Self {
            plan: Plan::read(&v["plan"]),
            status: text(v, "status"),
            cancel_at_period_end: v["cancelAtPeriodEnd"].as_bool().unwrap_or_default(),
            period_start: text(v, "periodStart"),
            period_end: text(v, "periodEnd"),
            usage: list(v, "usage", Usage::read),
            dropped: list(v, "dropped", |d| Dropped {
                category: text(d, "category"),
                outcome: text(d, "outcome"),
                reason: text(d, "reason"),
                quantity: int(d, "quantity"),
            }),
            daily: list(v, "daily", |d| Daily {
                day: text(d, "day"),
                category: text(d, "category"),
                accepted: int(d, "accepted"),
                dropped: int(d, "dropped"),
            }),
        }
    }

    /// Whether a paid subscription is live (active, trialing or past due): a plan change then
    /// changes it, where without one a paid plan goes through Checkout.
    pub fn subscribed(&self) -> bool {
        matches!(self.status.as_str(), "active" | "trialing" | "past_due")
    }

    /// What the banner needs of it.
    pub fn quota_state(&self) -> QuotaState {
        QuotaState {
            period_end: self.period_end.clone(),
            overage_steps: self.plan.overage_steps.clone(),
            usage: self.usage.clone(),
        }
    }
}

impl QuotaState {
    /// From `Account.billing { periodEnd plan { overageSteps { at drop } } usage { … } }`.
    pub fn read(v: &Value) -> Self {
        Self {
            period_end: text(v, "periodEnd"),
            overage_steps: list(&v["plan"], "overageSteps", OverageStep::read),
            usage: list(v, "usage", Usage::read),
        }
    }
}

/// How full a quota is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaLevel {
    /// Under 80 %.
    Fine,
    /// 80 % or more.
    Near,
    /// Used up.
    Over,
}

impl QuotaLevel {
    /// The CSS class and session-storage word.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fine => "fine",
            Self::Near => "near",
            Self::Over => "over",
        }
    }
}

/// How full `usage` is. A quota of 0 (a category the plan does not take at all) never warns.
pub fn quota_level(usage: &Usage) -> QuotaLevel {
    match usage.quota {
        Some(quota) if quota > 0 && usage.quantity >= quota => QuotaLevel::Over,
        Some(quota) if quota > 0 && usage.quantity.saturating_mul(100) >= quota * 80 => {
            QuotaLevel::Near
        }
        _ => QuotaLevel::Fine,
    }
}

/// The category to warn about: the fullest one at 80 % or more (used-up ones first).
pub fn pressing_usage(usage: &[Usage]) -> Option<(QuotaLevel, &Usage)> {
    usage
        .iter()
        .map(|u| (quota_level(u), u))
        .filter(|(level, _)| *level > QuotaLevel::Fine)
        .max_by(|a, b| {
            a.0.cmp(&b.0).then(
                a.1.percent
                    .unwrap_or(0.0)
                    .total_cmp(&b.1.percent.unwrap_or(0.0)),
            )
        })
}

/// The share of new events dropped at `quantity` of `quota`: all of them past a hard cap, else
/// the soft step reached (0 before the first).
pub fn dropping_share(steps: &[OverageStep], quantity: i64, quota: i64) -> f64 {
    if quota <= 0 || quantity < quota {
        return 0.0;
    }
    if steps.is_empty() {
        return 1.0;
    }
    let ratio = quantity as f64 / quota as f64;
    steps
        .iter()
        .filter(|s| s.at <= ratio)
        .map(|s| s.drop)
        .fold(0.0, f64::max)
}

/// What happens past the quota, in a sentence.
pub fn overage_summary(steps: &[OverageStep]) -> String {
    if steps.is_empty() {
        return "Hard cap: past a quota, new events are dropped until the period resets."
            .to_owned();
    }
    let parts: Vec<String> = steps
        .iter()
        .map(|s| {
            let share = if s.drop >= 1.0 {
                "all".to_owned()
            } else {
                format!("{} %", whole_or_one_decimal(s.drop * 100.0))
            };
            format!("{share} from {} %", whole_or_one_decimal(s.at * 100.0))
        })
        .collect();
    format!(
        "Past a quota, part of new events is dropped: {}.",
        parts.join(", ")
    )
}

/// The banner's sentence for a used-up or nearly used-up quota.
pub fn banner_text(level: QuotaLevel, usage: &Usage, state: &QuotaState) -> String {
    let noun = category_noun(&usage.category);
    let quota = usage.quota.unwrap_or_default();
    let amounts = format!(
        "{} of {}",
        amount(&usage.category, usage.quantity),
        amount(&usage.category, quota)
    );
    let resets = long_date(&state.period_end);
    match level {
        QuotaLevel::Over => {
            let share = dropping_share(&state.overage_steps, usage.quantity, quota);
            if share >= 1.0 {
                format!(
                    "Your quota of {noun} is used up ({amounts}): new {noun} are being dropped until the period resets on {resets}."
                )
            } else {
                format!(
                    "Your quota of {noun} is used up ({amounts}): {} % of new {noun} are being dropped until the period resets on {resets}.",
                    whole_or_one_decimal(share * 100.0)
                )
            }
        }
        _ => format!(
            "{} % of your quota of {noun} is used ({amounts}). Once it is used up, new {noun} are dropped until the period resets on {resets}.",
            whole_or_one_decimal(usage.percent.unwrap_or_default())
        ),
    }
}

/// `80`, `33.3`: a percentage or share without a useless `.0`.
pub fn whole_or_one_decimal(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// A count with thousands separators: `12,345`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A quantity of `category`: bytes for attachments, else a count.
pub fn amount(category: &str, n: i64) -> String {
    if category == "attachment" {
        file_size(n)
    } else {
        count(n)
    }
}

/// A category as a plural noun: `errors`, `attachments`, `cron check-ins`.
pub fn category_noun(category: &str) -> String {
    match category {
        "error" => "errors",
        "default" => "messages",
        "security" => "security reports",
        "transaction" => "transactions",
        "attachment" => "attachments",
        "replay" => "replays",
        "profile" => "profiles",
        "monitor" | "check_in" => "cron check-ins",
        "span" => "spans",
        "log_item" => "logs",
        "session" => "sessions",
        "user_report" => "user feedback",
        other => return other.replace('_', " "),
    }
    .to_owned()
}

/// A category as a heading: `Errors`.
pub fn category_label(category: &str) -> String {
    let noun = category_noun(category);
    let mut chars = noun.chars();
    chars.next().map_or(noun.clone(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Why items were dropped, for people, and the server's reason when the words do not already
/// say it (`Invalid` + `envelope`).
pub fn drop_reason(outcome: &str, reason: &str) -> (String, Option<String>) {
    let known = match reason {
        "usage_exceeded" => Some("Over quota"),
        "key_quota" => Some("Key rate limit"),
        "spike_protection" => Some("Spike protection"),
        "ip_rate_limit" => Some("IP rate limit"),
        "backpressure" => Some("Server busy (back-pressure)"),
        "ratelimit_backoff" => Some("SDK held back after a rate limit"),
        "sample_rate" => Some("Sampled out by the SDK"),
        "before_send" => Some("Dropped by before_send in the SDK"),
        "queue_overflow" => Some("SDK queue full"),
        "network_error" => Some("SDK could not connect"),
        _ => None,
    };
    if let Some(label) = known {
        return (label.to_owned(), None);
    }
    let label = match outcome {
        "invalid" => "Invalid".to_owned(),
        "too_large" => "Too large".to_owned(),
        "filtered" => "Filtered".to_owned(),
        "rate_limited" => "Rate limited".to_owned(),
        "client_discard" => "Discarded by the SDK".to_owned(),
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            chars
                .next()
                .map_or(words.clone(), |c| c.to_uppercase().chain(chars).collect())
        }
    };
    (label, (!reason.is_empty()).then(|| reason.to_owned()))
}

/// A subscription's status for people.
pub fn status_label(status: &str) -> String {
    match status {
        "free" => "No subscription",
        "active" => "Active",
        "trialing" => "Trial",
        "past_due" => "Payment overdue",
        "unpaid" => "Unpaid",
        "canceled" => "Canceled",
        "incomplete" | "incomplete_expired" => "Payment incomplete",
        "paused" => "Paused",
        other => return other.replace('_', " "),
    }
    .to_owned()
}

/// A monthly price: `Free`, `$26 / month`, `$9.50 / month`.
pub fn price(cents: i64) -> String {
    if cents <= 0 {
        "Free".to_owned()
    } else if cents % 100 == 0 {
        format!("${} / month", count(cents / 100))
    } else {
        format!("${}.{:02} / month", count(cents / 100), cents % 100)
    }
}

/// Days since 1970-01-01 of the date an RFC 3339 time or `YYYY-MM-DD` starts with.
pub fn day_number(date: &str) -> Option<i64> {
    let mut parts = date.get(..10)?.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `YYYY-MM-DD` of a day number.
pub fn iso_day(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `Nov 3` of a day number.
pub fn short_day(days: i64) -> String {
    let (_, month, day) = civil_from_days(days);
    format!("{} {day}", MONTHS[(month - 1) as usize])
}

/// `Nov 3, 2026` of a time or date (as given when it does not parse).
pub fn long_date(date: &str) -> String {
    match day_number(date) {
        Some(days) => format!("{}, {}", short_day(days), civil_from_days(days).0),
        None => date.to_owned(),
    }
}

/// The first and last day (inclusive) of a period given as RFC 3339 start and exclusive end.
pub fn period_days(start: &str, end: &str) -> Option<(i64, i64)> {
    let first = day_number(start)?;
    let end_day = day_number(end)?;
    // An end at midnight belongs to the next period.
    let midnight = end.get(11..19).is_none_or(|time| time == "00:00:00");
    let last = if midnight { end_day - 1 } else { end_day };
    Some((first, last.max(first)))
}

/// `Nov 1 – Nov 30, 2026` (both years when they differ).
pub fn period_label(start: &str, end: &str) -> String {
    let Some((first, last)) = period_days(start, end) else {
        return format!("{start} – {end}");
    };
    let (first_year, last_year) = (civil_from_days(first).0, civil_from_days(last).0);
    if first_year == last_year {
        format!("{} – {}, {last_year}", short_day(first), short_day(last))
    } else {
        format!(
            "{}, {first_year} – {}, {last_year}",
            short_day(first),
            short_day(last)
        )
    }
}

/// One day of the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartDay {
    /// Day number.
    pub day: i64,
    /// Stored that day.
    pub accepted: i64,
    /// Dropped that day.
    pub dropped: i64,
}

/// Every day of the period (at most 92) with the accepted and dropped of `category`; days
/// without rows are zero.
pub fn chart_days(daily: &[Daily], category: &str, first: i64, last: i64) -> Vec<ChartDay> {
    let last = last.min(first + 91);
    (first..=last)
        .map(|day| {
            let (accepted, dropped) = daily
                .iter()
                .filter(|d| d.category == category && day_number(&d.day) == Some(day))
                .fold((0, 0), |(a, x), d| (a + d.accepted, x + d.dropped));
            ChartDay {
                day,
                accepted,
                dropped,
            }
        })
        .collect()
}

/// A day's stacked bar in the chart's box: `x`, then the accepted part's top and height and
/// the dropped part's top and height (above it).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Left edge.
    pub x: f64,
    /// Top of the accepted part.
    pub accepted_y: f64,
    /// Height of the accepted part.
    pub accepted_h: f64,
    /// Top of the dropped part.
    pub dropped_y: f64,
    /// Height of the dropped part.
    pub dropped_h: f64,
}

/// The width of one day in the chart's box (the bar is 80 % of it).
pub const CHART_STEP: f64 = 10.0;
/// The height of the chart's box.
pub const CHART_HEIGHT: f64 = 100.0;

/// The stacked bars of `days`, scaled so the busiest day fills the box.
pub fn chart_bars(days: &[ChartDay]) -> Vec<Bar> {
    let peak = days
        .iter()
        .map(|d| d.accepted + d.dropped)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            let accepted_h = d.accepted as f64 / peak * CHART_HEIGHT;
            let dropped_h = d.dropped as f64 / peak * CHART_HEIGHT;
            Bar {
                x: i as f64 * CHART_STEP + CHART_STEP * 0.1,
                accepted_y: CHART_HEIGHT - accepted_h,
                accepted_h,
                dropped_y: CHART_HEIGHT - accepted_h - dropped_h,
                dropped_h,
            }
        })
        .collect()
}

/// The chart of `category` as SVG markup: a stacked bar per day (accepted below, dropped
/// above), stretched to the width of its container, with the day's numbers as its tooltip.
/// Only numbers, dates and fixed names go in, so it needs no escaping.
pub fn chart_svg(days: &[ChartDay], category: &str) -> String {
    let width = days.len() as f64 * CHART_STEP;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {CHART_HEIGHT}" preserveAspectRatio="none">"#
    );
    for (day, bar) in days.iter().zip(chart_bars(days)) {
        svg.push_str(&format!(
            r#"<g><title>{}: {} accepted, {} dropped</title><rect class="hit" x="{:.1}" y="0" width="{CHART_STEP}" height="{CHART_HEIGHT}"/>"#,
            short_day(day.day),
            amount(category, day.accepted),
            amount(category, day.dropped),
            bar.x - CHART_STEP * 0.1,
        ));
        for (class, y, height) in [
            ("acc", bar.accepted_y, bar.accepted_h),
            ("drop", bar.dropped_y, bar.dropped_h),
        ] {
            if height > 0.0 {
                svg.push_str(&format!(
                    r#"<rect class="{class}" x="{:.1}" y="{y:.2}" width="{:.1}" height="{height:.2}"/>"#,
                    bar.x,
                    CHART_STEP * 0.8
                ));
            }
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// The plans to choose from at sign-up, from `{ serverInfo { billingEnabled } plans { … } }`:
/// `None` when billing is off (self-hosted, or no Stripe key), and then sign-up offers none.
pub fn offered_plans(data: &Value) -> Option<Vec<Plan>> {
    data["serverInfo"]["billingEnabled"]
        .as_bool()
        .unwrap_or_default()
        .then(|| list(data, "plans", Plan::read))
        .filter(|plans| !plans.is_empty())
}

/// The plan selected at first among `plans`: `wanted` (a `?plan=` or the choice made at
/// sign-up) when it is offered, else the first free one, else the first.
pub fn initial_plan(plans: &[Plan], wanted: Option<&str>) -> Option<String> {
    plans
        .iter()
        .find(|p| Some(p.slug.as_str()) == wanted)
        .or_else(|| plans.iter().find(|p| p.price_cents <= 0))
        .or_else(|| plans.first())
        .map(|p| p.slug.clone())
}

/// What choosing another plan does to an account's subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanChange {
    /// A first paid plan: paid on Stripe Checkout, in force once Stripe confirms it.
    Checkout,
    /// Another paid plan while subscribed: the price changes at once (prorated); `up` when it
    /// costs more.
    Switch {
        /// The new plan costs more.
        up: bool,
    },
    /// The free plan while subscribed: the paid plan ends with the period.
    Cancel,
    /// The plan in force, whose cancellation is pending: it continues.
    Keep,
}

/// What choosing `target` would do for the account, `None` when nothing (its plan already, or
/// the free plan it is on or moving to).
pub fn plan_change(billing: &Billing, target: &Plan) -> Option<PlanChange> {
    let current = &billing.plan;
    let paid = target.price_cents > 0;
    if !billing.subscribed() {
        return (paid && target.slug != current.slug).then_some(PlanChange::Checkout);
    }
    match (target.slug == current.slug, paid) {
        (true, _) => billing.cancel_at_period_end.then_some(PlanChange::Keep),
        (false, true) => Some(PlanChange::Switch {
            up: target.price_cents > current.price_cents,
        }),
        (false, false) => (!billing.cancel_at_period_end).then_some(PlanChange::Cancel),
    }
}

/// The button's words for a change to `target`.
pub fn change_label(change: PlanChange, target: &Plan) -> String {
    let verb = match change {
        PlanChange::Checkout | PlanChange::Switch { up: true } => "Upgrade to",
        PlanChange::Switch { up: false } => "Switch to",
        PlanChange::Cancel => "Downgrade to",
        PlanChange::Keep => "Keep",
    };
    format!("{verb} {}", target.name)
}

/// The question asked before a change from the account's plan to `target`.
pub fn change_question(change: PlanChange, billing: &Billing, target: &Plan) -> String {
    let current = &billing.plan.name;
    let until = long_date(&billing.period_end);
    match change {
        PlanChange::Checkout => format!(
            "Upgrade to {} for {}? You pay on Stripe's checkout page, then come back here; {current} \
             stays until the payment is confirmed.",
            target.name,
            price(target.price_cents)
        ),
        PlanChange::Switch { up } => format!(
            "Switch from {current} to {} ({}) now? {}",
            target.name,
            price(target.price_cents),
            if up {
                "Stripe charges the prorated difference for the rest of the period."
            } else {
                "Stripe credits the unused part of the period to your next invoice."
            }
        ),
        PlanChange::Cancel => format!(
            "Downgrade to {}? Your {current} subscription is cancelled: {current} stays until \
             {until}, then {}'s quotas apply.",
            target.name, target.name
        ),
        PlanChange::Keep => format!(
            "Keep {current} after {until}? Its cancellation is withdrawn and it renews as before."
        ),
    }
}

/// What a change made without Checkout did, in words (`current` is the plan before it).
pub fn change_done(change: PlanChange, current: &str, target: &str) -> String {
    match change {
        PlanChange::Checkout => "Taking you to Stripe's checkout page…".to_owned(),
        PlanChange::Switch { .. } => format!("Done: you are on {target} now."),
        PlanChange::Cancel => {
            format!("Done: {current} is cancelled and ends with the period; then {target} applies.")
        }
        PlanChange::Keep => format!("Done: {current} continues; its cancellation is withdrawn."),
    }
}

/// A plan's terms in a sentence: quotas, retention, members, rate limits.
pub fn plan_terms(plan: &Plan) -> String {
    // Errors first, then the others as the API lists them (by name).
    let quotas: Vec<String> = plan
        .quotas
        .iter()
        .filter(|q| q.category == "error")
        .chain(plan.quotas.iter().filter(|q| q.category != "error"))
        .map(|q| {
            let of = if q.category == "attachment" {
                "of "
            } else {
                ""
            };
            format!(
                "{} {of}{}",
                amount(&q.category, q.amount),
                category_noun(&q.category)
            )
        })
        .collect();
    let mut parts = vec![if quotas.is_empty() {
        "No quotas".to_owned()
    } else {
        format!("{} a period", quotas.join(", "))
    }];
    parts.push(format!("events kept {} days", plan.retention_days));
    parts.push(plan.max_members.map_or_else(
        || "unlimited members".to_owned(),
        |m| format!("up to {} members", count(m)),
    ));
    if let Some(rate) = plan.key_rate_per_minute {
        let burst = plan
            .key_burst
            .map(|b| format!(" (bursts of {})", count(b)))
            .unwrap_or_default();
        parts.push(format!(
            "{} requests a minute per DSN key{burst}",
            count(rate)
        ));
    }
    if let Some(spike) = plan.spike_per_minute {
        parts.push(format!(
            "spike protection past {} events a minute per project",
            count(spike)
        ));
    }
    format!("{}.", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(category: &str, quantity: i64, quota: Option<i64>) -> Usage {
        Usage {
            category: category.into(),
            quantity,
            quota,
            percent: quota.map(|q| (quantity as f64 * 1000.0 / q.max(1) as f64).round() / 10.0),
        }
    }

    #[test]
    fn answers_are_read_from_json() {
        let answer = serde_json::json!({
            "status": "free", "periodStart": "2026-11-01T00:00:00Z", "periodEnd": "2026-12-01T00:00:00Z",
            "plan": {"slug": "self-hosted", "name": "Tiny", "priceCents": 0, "quotas": [{"category": "error", "amount": 3}],
                     "overageSteps": [], "retentionDays": 30, "maxMembers": null, "keyRatePerMinute": 100,
                     "keyBurst": null, "spikePerMinute": null},
            "usage": [{"category": "error", "quantity": 3, "quota": 3, "percent": 100.0}],
            "dropped": [{"category": "error", "outcome": "rate_limited", "reason": "usage_exceeded", "quantity": 2}],
            "daily": [{"day": "2026-11-24", "category": "error", "accepted": 3, "dropped": 2}],
        });
        let billing = Billing::read(&answer);
        assert_eq!(billing.plan.name, "Tiny");
        assert_eq!(billing.plan.quotas[0].amount, 3);
        assert_eq!(billing.plan.key_rate_per_minute, Some(100));
        assert_eq!(billing.plan.max_members, None);
        assert_eq!(billing.usage, [usage("error", 3, Some(3))]);
        assert_eq!(billing.dropped[0].reason, "usage_exceeded");
        assert_eq!(billing.daily[0].dropped, 2);
        assert_eq!(QuotaState::read(&answer), billing.quota_state());
        assert_eq!(
            plan_terms(&billing.plan),
            "3 errors a period; events kept 30 days; unlimited members; 100 requests a minute per DSN key."
        );
        let free = Plan {
            // As the API lists them: by name.
            quotas: vec![
                PlanQuota {
                    category: "attachment".into(),
                    amount: 100 * 1024 * 1024,
                },
                PlanQuota {
                    category: "error".into(),
                    amount: 5_000,
                },
            ],
            max_members: Some(3),
            key_burst: Some(120),
            spike_per_minute: Some(1_000),
            ..billing.plan
        };
        assert_eq!(
            plan_terms(&free),
            "5,000 errors, 100.0 MiB of attachments a period; events kept 30 days; up to 3 members; \
             100 requests a minute per DSN key (bursts of 120); spike protection past 1,000 events a minute per project."
        );
    }

    fn plan(slug: &str, price_cents: i64) -> Plan {
        Plan {
            slug: slug.into(),
            name: format!("{}{}", slug[..1].to_uppercase(), &slug[1..]),
            price_cents,
            quotas: vec![],
            overage_steps: vec![],
            retention_days: 30,
            max_members: None,
            key_rate_per_minute: None,
            key_burst: None,
            spike_per_minute: None,
        }
    }

    fn on(plan_slug: &str, price_cents: i64, status: &str, cancelling: bool) -> Billing {
        Billing {
            plan: plan(plan_slug, price_cents),
            status: status.into(),
            cancel_at_period_end: cancelling,
            period_start: "2026-11-01T00:00:00Z".into(),
            period_end: "2026-12-01T00:00:00Z".into(),
            usage: vec![],
            dropped: vec![],
            daily: vec![],
        }
    }

    #[test]
    fn sign_up_offers_plans_only_when_billing_is_on() {
        let plans = serde_json::json!([{"slug": "free", "name": "Free", "priceCents": 0},
                                       {"slug": "pro", "name": "Pro", "priceCents": 8000}]);
        let on = serde_json::json!({"serverInfo": {"billingEnabled": true}, "plans": plans});
        let off = serde_json::json!({"serverInfo": {"billingEnabled": false}, "plans": plans});
        let offered = offered_plans(&on).expect("plans");
        assert_eq!(offered.len(), 2);
        assert_eq!(offered[1].price_cents, 8000);
        assert_eq!(offered_plans(&off), None);
        assert_eq!(
            offered_plans(
                &serde_json::json!({"serverInfo": {"billingEnabled": true}, "plans": []})
            ),
            None
        );
        // The wanted plan if offered, else the free one, else the first.
        assert_eq!(initial_plan(&offered, Some("pro")).as_deref(), Some("pro"));
        assert_eq!(
            initial_plan(&offered, Some("platinum")).as_deref(),
            Some("free")
        );
        assert_eq!(initial_plan(&offered, None).as_deref(), Some("free"));
        assert_eq!(initial_plan(&offered[1..], None).as_deref(), Some("pro"));
        assert_eq!(initial_plan(&[], None), None);
    }

    #[test]
    fn plan_changes_follow_the_subscription() {
        let (free, starter, pro) = (plan("free", 0), plan("starter", 2_600), plan("pro", 8_000));
        // Without a subscription (an unpaid checkout is none): a paid plan goes through Checkout.
        let unsubscribed = on("free", 0, "free", false);
        assert!(!unsubscribed.subscribed());
        assert_eq!(plan_change(&unsubscribed, &pro), Some(PlanChange::Checkout));
        assert_eq!(plan_change(&unsubscribed, &free), None);
        // A lapsed subscription is none either.
        assert_eq!(
            plan_change(&on("free", 0, "canceled", false), &pro),
            Some(PlanChange::Checkout)
        );
        // Subscribed: other paid plans switch the price, the free plan cancels at the period's end.
        let subscribed = on("starter", 2_600, "active", false);
        assert_eq!(
            plan_change(&subscribed, &pro),
            Some(PlanChange::Switch { up: true })
        );
        assert_eq!(
            plan_change(&on("pro", 8_000, "past_due", false), &starter),
            Some(PlanChange::Switch { up: false })
        );
        assert_eq!(plan_change(&subscribed, &starter), None);
        assert_eq!(plan_change(&subscribed, &free), Some(PlanChange::Cancel));
        // Cancelling: the plan can be kept, and the free plan is already on its way.
        let cancelling = on("starter", 2_600, "active", true);
        assert_eq!(plan_change(&cancelling, &starter), Some(PlanChange::Keep));
        assert_eq!(plan_change(&cancelling, &free), None);
        assert_eq!(change_label(PlanChange::Checkout, &pro), "Upgrade to Pro");
        assert_eq!(
            change_label(PlanChange::Switch { up: false }, &starter),
            "Switch to Starter"
        );
        assert_eq!(change_label(PlanChange::Cancel, &free), "Downgrade to Free");
        assert_eq!(change_label(PlanChange::Keep, &starter), "Keep Starter");
        assert_eq!(
            change_done(PlanChange::Switch { up: true }, "Starter", "Pro"),
            "Done: you are on Pro now."
        );
        assert_eq!(
            change_done(PlanChange::Cancel, "Starter", "Free"),
            "Done: Starter is cancelled and ends with the period; then Free applies."
        );
        assert_eq!(
            change_question(PlanChange::Cancel, &subscribed, &free),
            "Downgrade to Free? Your Starter subscription is cancelled: Starter stays until \
             Dec 1, 2026, then Free's quotas apply."
        );
        assert!(
            change_question(PlanChange::Checkout, &unsubscribed, &pro)
                .starts_with("Upgrade to Pro for $80 / month? You pay on Stripe's checkout page")
        );
        assert!(
            change_question(PlanChange::Switch { up: true }, &subscribed, &pro)
                .starts_with("Switch from Starter to Pro ($80 / month) now? Stripe charges")
        );
    }

    #[test]
    fn quotas_warn_at_80_and_100_percent() {
        let check = |quantity, quota, expected| {
            assert_eq!(
                quota_level(&usage("error", quantity, quota)),
                expected,
                "{quantity} of {quota:?}"
            );
        };
        check(79, Some(100), QuotaLevel::Fine);
        check(80, Some(100), QuotaLevel::Near);
        check(99, Some(100), QuotaLevel::Near);
        check(100, Some(100), QuotaLevel::Over);
        check(150, Some(100), QuotaLevel::Over);
        check(3, Some(3), QuotaLevel::Over);
        check(1_000_000, None, QuotaLevel::Fine);
        check(0, Some(0), QuotaLevel::Fine);
    }

    #[test]
    fn the_fullest_quota_is_the_one_to_warn_about() {
        let list = [
            usage("transaction", 90, Some(100)),
            usage("error", 100, Some(100)),
            usage("attachment", 95, Some(100)),
        ];
        let (level, pressing) = pressing_usage(&list).expect("one");
        assert_eq!(
            (level, pressing.category.as_str()),
            (QuotaLevel::Over, "error")
        );
        let near = [usage("error", 81, Some(100)), usage("span", 95, Some(100))];
        assert_eq!(pressing_usage(&near).expect("one").1.category, "span");
        assert_eq!(pressing_usage(&[usage("error", 1, Some(100))]), None);
    }

    #[test]
    fn the_dropped_share_follows_the_overage_policy() {
        let soft = [
            OverageStep { at: 1.0, drop: 0.1 },
            OverageStep { at: 1.5, drop: 0.5 },
            OverageStep { at: 2.0, drop: 1.0 },
        ];
        assert_eq!(dropping_share(&[], 99, 100), 0.0);
        assert_eq!(dropping_share(&[], 100, 100), 1.0);
        assert_eq!(dropping_share(&soft, 100, 100), 0.1);
        assert_eq!(dropping_share(&soft, 160, 100), 0.5);
        assert_eq!(dropping_share(&soft, 250, 100), 1.0);
        assert_eq!(
            overage_summary(&soft),
            "Past a quota, part of new events is dropped: 10 % from 100 %, 50 % from 150 %, all from 200 %."
        );
        assert!(overage_summary(&[]).starts_with("Hard cap"));
    }

    #[test]
    fn banners_say_what_is_dropped_and_until_when() {
        let state = |steps| QuotaState {
            period_end: "2026-12-01T00:00:00Z".into(),
            overage_steps: steps,
            usage: vec![],
        };
        let over = usage("error", 3, Some(3));
        assert_eq!(
            banner_text(QuotaLevel::Over, &over, &state(vec![])),
            "Your quota of errors is used up (3 of 3): new errors are being dropped until the period resets on Dec 1, 2026."
        );
        assert!(
            banner_text(
                QuotaLevel::Over,
                &over,
                &state(vec![OverageStep { at: 1.0, drop: 0.1 }])
            )
            .contains(": 10 % of new errors are being dropped")
        );
        let near = usage("attachment", 8 * 1024 * 1024, Some(10 * 1024 * 1024));
        assert_eq!(
            banner_text(QuotaLevel::Near, &near, &state(vec![])),
            "80 % of your quota of attachments is used (8.0 MiB of 10.0 MiB). Once it is used up, new attachments are dropped until the period resets on Dec 1, 2026."
        );
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(5_000), "5,000");
        assert_eq!(count(-1_234_567), "-1,234,567");
        assert_eq!(amount("error", 50_000), "50,000");
        assert_eq!(amount("attachment", 2560), "2.5 KiB");
        assert_eq!(whole_or_one_decimal(100.0), "100");
        assert_eq!(whole_or_one_decimal(33.33), "33.3");
        assert_eq!(price(0), "Free");
        assert_eq!(price(2_600), "$26 / month");
        assert_eq!(price(950), "$9.50 / month");
        assert_eq!(price(3_000_000), "$30,000 / month");
    }

    #[test]
    fn drop_reasons_have_human_names() {
        let check = |outcome, reason, label: &str, detail: Option<&str>| {
            assert_eq!(
                drop_reason(outcome, reason),
                (label.to_owned(), detail.map(str::to_owned))
            );
        };
        check("rate_limited", "usage_exceeded", "Over quota", None);
        check("rate_limited", "key_quota", "Key rate limit", None);
        check("rate_limited", "spike_protection", "Spike protection", None);
        check("rate_limited", "ip_rate_limit", "IP rate limit", None);
        check(
            "rate_limited",
            "backpressure",
            "Server busy (back-pressure)",
            None,
        );
        check("invalid", "envelope", "Invalid", Some("envelope"));
        check(
            "too_large",
            "attachment_storage_full",
            "Too large",
            Some("attachment_storage_full"),
        );
        check(
            "client_discard",
            "ratelimit_backoff",
            "SDK held back after a rate limit",
            None,
        );
        check(
            "client_discard",
            "event_processor",
            "Discarded by the SDK",
            Some("event_processor"),
        );
        check("cardinality_limited", "", "Cardinality limited", None);
        assert_eq!(category_label("error"), "Errors");
        assert_eq!(category_label("log_item"), "Logs");
        assert_eq!(category_label("new_thing"), "New thing");
        assert_eq!(status_label("past_due"), "Payment overdue");
        assert_eq!(status_label("free"), "No subscription");
    }

    #[test]
    fn dates_of_the_period() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2000-03-01T10:00:00Z"), Some(11_017));
        assert_eq!(day_number("nonsense"), None);
        for day in [-1, 0, 59, 11_016, 20_000, 20_513] {
            assert_eq!(day_number(&iso_day(day)), Some(day), "{day}");
        }
        assert_eq!(iso_day(20_513), "2026-03-01");
        assert_eq!(long_date("2024-02-29T12:00:00Z"), "Feb 29, 2024");
        assert_eq!(
            period_label("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
            "Nov 1 – Nov 30, 2026"
        );
        // A subscription's period starts and ends at the time it was taken.
        assert_eq!(
            period_label("2026-12-15T14:03:00Z", "2027-01-15T14:03:00Z"),
            "Dec 15, 2026 – Jan 15, 2027"
        );
        let (first, last) =
            period_days("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z").expect("days");
        assert_eq!(last - first + 1, 30);
    }

    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_busiest() {
        let first = day_number("2026-11-01").expect("day");
        let daily = [
            Daily {
                day: "2026-11-02".into(),
                category: "error".into(),
                accepted: 3,
                dropped: 1,
            },
            Daily {
                day: "2026-11-02".into(),
                category: "transaction".into(),
                accepted: 50,
                dropped: 0,
            },
            Daily {
                day: "2026-11-03".into(),
                category: "error".into(),
                accepted: 0,
                dropped: 8,
            },
        ];
        let days = chart_days(&daily, "error", first, first + 3);
        let counts: Vec<(i64, i64)> = days.iter().map(|d| (d.accepted, d.dropped)).collect();
        assert_eq!(counts, [(0, 0), (3, 1), (0, 8), (0, 0)]);
        let bars = chart_bars(&days);
        assert_eq!(bars.len(), 4);
        assert_eq!(bars[1].x, 11.0);
        assert_eq!((bars[1].accepted_y, bars[1].accepted_h), (62.5, 37.5));
        assert_eq!((bars[1].dropped_y, bars[1].dropped_h), (50.0, 12.5));
        assert_eq!((bars[2].dropped_y, bars[2].dropped_h), (0.0, 100.0));
        assert_eq!(bars[0].accepted_h + bars[0].dropped_h, 0.0);
        let svg = chart_svg(&days, "error");
        assert!(
            svg.starts_with(r#"<svg class="chart" viewBox="0 0 40 100""#),
            "{svg}"
        );
        assert_eq!(
            svg.matches("<title>").count(),
            4,
            "a tooltip per day: {svg}"
        );
        assert!(
            svg.contains("<title>Nov 2: 3 accepted, 1 dropped</title>"),
            "{svg}"
        );
        assert_eq!(
            svg.matches(r#"class="acc""#).count() + svg.matches(r#"class="drop""#).count(),
            3,
            "empty parts are left out: {svg}"
        );
        assert!(
            svg.contains(r#"<rect class="drop" x="11.0" y="50.00" width="8.0" height="12.50"/>"#),
            "{svg}"
        );
        // A year-long period is cut to its first 92 days.
        assert_eq!(chart_days(&[], "error", first, first + 400).len(), 92);
    }
}
