//! Plans as data: what an account may send per billing period, how long its events are kept, how
//! many members it may have and how fast each DSN key may send. The defaults below are seeded
//! into `plans` on startup; `ERRORWATCH_PLANS_FILE` (a JSON array of the same shape) replaces
//! them. Plans that disappear from the configuration stay in the table (subscriptions point at
//! them) but stop being offered.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::ingest::category::DataCategory;

/// The plan every SaaS account starts on.
pub const FREE: &str = "free";
/// The default plan of a self-hosted installation (`ERRORWATCH_SELF_HOST_PLAN` picks another).
pub const SELF_HOSTED: &str = "self-hosted";

/// What happens past the quota.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "lowercase")]
pub enum Overage {
    /// Nothing past the quota is accepted.
    Hard,
    /// Past each step's share of the quota, that fraction of events is dropped; the last step
    /// drops everything (GlitchTip's 10 % / 50 % / 100 % at 1× / 1.5× / 2× by default).
    Soft {
        /// Ascending by `at`.
        steps: Vec<OverageStep>,
    },
}

/// One step of a soft overage policy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverageStep {
    /// Share of the quota (1.0 = the quota) from which this step applies.
    pub at: f64,
    /// Fraction of events dropped from there (1.0 = all).
    pub drop: f64,
}

impl Overage {
    /// GlitchTip's soft steps.
    pub fn default_soft() -> Self {
        Overage::Soft {
            steps: vec![
                OverageStep { at: 1.0, drop: 0.1 },
                OverageStep { at: 1.5, drop: 0.5 },
                OverageStep { at: 2.0, drop: 1.0 },
            ],
        }
    }

    /// Share of the quota at which nothing more is accepted.
    pub fn stop_at(&self) -> f64 {
        match self {
            Overage::Hard => 1.0,
            Overage::Soft { steps } => steps.last().map_or(1.0, |s| s.at),
        }
    }

    /// Fraction of events dropped when `used` of `quota` are used (0 below the quota).
    pub fn drop_fraction(&self, used: i64, quota: i64) -> f64 {
        if quota <= 0 {
            return 1.0;
        }
        let share = used as f64 / quota as f64;
        match self {
            Overage::Hard => {
                if share >= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Overage::Soft { steps } => steps
                .iter()
                .rev()
                .find(|s| share >= s.at)
                .map_or(0.0, |s| s.drop),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let Overage::Soft { steps } = self else {
            return Ok(());
        };
        if steps.is_empty() {
            return Err("a soft overage policy needs at least one step".to_owned());
        }
        let mut previous = 0.0;
        for step in steps {
            if !(step.at >= 1.0 && step.at > previous) {
                return Err(format!(
                    "overage steps must start at 1.0 or above and ascend (got at = {})",
                    step.at
                ));
            }
            if !(step.drop > 0.0 && step.drop <= 1.0) {
                return Err(format!(
                    "an overage step drops a fraction in (0, 1] (got drop = {})",
                    step.drop
                ));
            }
            previous = step.at;
        }
        if steps.last().is_some_and(|s| s.drop < 1.0) {
            return Err("the last overage step must drop everything (drop = 1.0)".to_owned());
        }
        Ok(())
    }
}

/// The quota a data category is counted against (`error` covers default and security events,
/// as Sentry bills them). Categories outside this list are never limited by quota.
pub fn quota_category(category: DataCategory) -> Option<&'static str> {
    match category {
        DataCategory::Error | DataCategory::Default | DataCategory::Security => Some("error"),
        DataCategory::Transaction => Some("transaction"),
        DataCategory::Attachment => Some("attachment"),
        DataCategory::Replay => Some("replay"),
        DataCategory::Profile => Some("profile"),
        DataCategory::Monitor => Some("monitor"),
        DataCategory::Span => Some("span"),
        DataCategory::LogItem => Some("log_item"),
        _ => None,
    }
}

/// The protocol categories a quota category covers, for `X-Sentry-Rate-Limits`.
pub fn protocol_categories(quota: &str) -> &'static str {
    match quota {
        "error" => "error;default;security",
        "transaction" => "transaction",
        "attachment" => "attachment",
        "replay" => "replay",
        "profile" => "profile",
        "monitor" => "monitor",
        "span" => "span",
        "log_item" => "log_item",
        _ => "",
    }
}

/// Quota categories plans may name.
pub const QUOTA_CATEGORIES: [&str; 8] = [
    "error",
    "transaction",
    "attachment",
    "replay",
    "profile",
    "monitor",
    "span",
    "log_item",
];

/// One plan, as configured and as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Stable identifier (`free`, `pro`, …).
    pub slug: String,
    /// Shown to users.
    pub name: String,
    /// Monthly price in cents (0 = no card needed).
    #[serde(default)]
    pub price_cents: i64,
    /// The Stripe price a subscription to this plan uses (SaaS mode).
    #[serde(default)]
    pub stripe_price_id: Option<String>,
    /// Per billing period, by quota category (`error`, `transaction`, `attachment` in bytes, …);
    /// a category not named is unlimited.
    #[serde(default)]
    pub quotas: BTreeMap<String, i64>,
    /// Past the quota.
    #[serde(default = "hard")]
    pub overage: Overage,
    /// Days events are kept.
    pub retention_days: i32,
    /// Members an account may have (`None` = unlimited).
    #[serde(default)]
    pub max_members: Option<i32>,
    /// Requests per minute each DSN key may send (`None` = no plan limit; a key's own limit
    /// still applies).
    #[serde(default)]
    pub key_rate_per_minute: Option<i32>,
    /// Requests a key may send at once before the per-minute rate applies.
    #[serde(default)]
    pub key_burst: Option<i32>,
    /// Events per minute one project may send before spike protection drops the rest.
    #[serde(default)]
    pub spike_per_minute: Option<i32>,
    /// Offered at sign-up and on the billing page.
    #[serde(default = "yes")]
    pub public: bool,
}

fn hard() -> Overage {
    Overage::Hard
}

fn yes() -> bool {
    true
}

impl PlanSpec {
    /// The quota of `category` (`None` = unlimited).
    pub fn quota(&self, category: &str) -> Option<i64> {
        self.quotas.get(category).copied()
    }

    fn validate(&self) -> Result<(), String> {
        if self.slug.is_empty()
            || !self
                .slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "plan slug {:?} must be lowercase letters, digits and dashes",
                self.slug
            ));
        }
        for (category, amount) in &self.quotas {
            if !QUOTA_CATEGORIES.contains(&category.as_str()) {
                return Err(format!(
                    "plan {}: unknown quota category {category:?} (one of {})",
                    self.slug,
                    QUOTA_CATEGORIES.join(", ")
                ));
            }
            if *amount < 0 {
                return Err(format!(
                    "plan {}: quota {category} must not be negative",
                    self.slug
                ));
            }
        }
        for (name, value) in [
            ("key_rate_per_minute", self.key_rate_per_minute),
            ("key_burst", self.key_burst),
            ("spike_per_minute", self.spike_per_minute),
            ("max_members", self.max_members),
        ] {
            if value.is_some_and(|v| v < 1) {
                return Err(format!("plan {}: {name} must be at least 1", self.slug));
            }
        }
        if self.retention_days < 1 {
            return Err(format!(
                "plan {}: retention_days must be at least 1",
                self.slug
            ));
        }
        self.overage
            .validate()
            .map_err(|e| format!("plan {}: {e}", self.slug))
    }
}

/// The built-in plans: Free 5k events a month; Starter, Pro and Business with the product
/// brief's key tiers of 100 / 500 / 1,000 requests a minute (bursts of twice that); and the
/// self-host plan (no quota unless configured).
pub fn default_plans() -> Vec<PlanSpec> {
    let plan = |slug: &str, name: &str, price: i64, errors: Option<i64>| PlanSpec {
        slug: slug.to_owned(),
        name: name.to_owned(),
        price_cents: price,
        stripe_price_id: None,
        quotas: errors
            .map(|e| {
                BTreeMap::from([
                    ("error".to_owned(), e),
                    ("transaction".to_owned(), e * 2),
                    ("attachment".to_owned(), e * 20_000),
                ])
            })
            .unwrap_or_default(),
        overage: Overage::Hard,
        retention_days: 30,
        max_members: None,
        key_rate_per_minute: None,
        key_burst: None,
        spike_per_minute: None,
        public: true,
    };
    vec![
        PlanSpec {
            max_members: Some(5),
            key_rate_per_minute: Some(60),
            key_burst: Some(120),
            spike_per_minute: Some(1_000),
            ..plan(FREE, "Free", 0, Some(5_000))
        },
        PlanSpec {
            overage: Overage::default_soft(),
            max_members: Some(20),
            key_rate_per_minute: Some(100),
            key_burst: Some(200),
            spike_per_minute: Some(5_000),
            ..plan("starter", "Starter", 2_600, Some(50_000))
        },
        PlanSpec {
            overage: Overage::default_soft(),
            retention_days: 90,
            key_rate_per_minute: Some(500),
            key_burst: Some(1_000),
            spike_per_minute: Some(20_000),
            ..plan("pro", "Pro", 8_000, Some(500_000))
        },
        PlanSpec {
            overage: Overage::default_soft(),
            retention_days: 90,
            key_rate_per_minute: Some(1_000),
            key_burst: Some(2_000),
            spike_per_minute: Some(50_000),
            ..plan("business", "Business", 30_000, Some(5_000_000))
        },
        PlanSpec {
            retention_days: 90,
            public: false,
            ..plan(SELF_HOSTED, "Self-hosted", 0, None)
        },
    ]
}

/// Parses and checks a plans file (a JSON array of [`PlanSpec`]).
pub fn parse_plans(json: &str) -> Result<Vec<PlanSpec>, String> {
    let plans: Vec<PlanSpec> =
        serde_json::from_str(json).map_err(|e| format!("not a JSON array of plans: {e}"))?;
    validate_plans(&plans)?;
    Ok(plans)
}

/// Every plan valid, slugs unique, at least one plan.
pub fn validate_plans(plans: &[PlanSpec]) -> Result<(), String> {
    if plans.is_empty() {
        return Err("no plans configured".to_owned());
    }
    let mut seen = std::collections::HashSet::new();
    for plan in plans {
        plan.validate()?;
        if !seen.insert(plan.slug.as_str()) {
            return Err(format!("plan slug {:?} appears twice", plan.slug));
        }
    }
    Ok(())
}

/// A stored plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Row id.
    pub id: i64,
    /// Its configuration.
    pub spec: PlanSpec,
    /// Still configured (offered when also public).
    pub configured: bool,
}

#[derive(FromQueryResult)]
struct PlanRow {
    id: i64,
    slug: String,
    name: String,
    price_cents: i64,
    stripe_price_id: Option<String>,
    quotas: String,
    overage: String,
    retention_days: i32,
    max_members: Option<i32>,
    key_rate_per_minute: Option<i32>,
    key_burst: Option<i32>,
    spike_per_minute: Option<i32>,
    is_public: bool,
    sort_order: i32,
}

const RETIRED_ORDER: i32 = 1_000_000;

/// The stored columns of a plan besides `id` and `updated_at`, in [`PlanRow`]'s order.
const PLAN_COLUMNS: [&str; 13] = [
    "slug",
    "name",
    "price_cents",
    "stripe_price_id",
    "quotas",
    "overage",
    "retention_days",
    "max_members",
    "key_rate_per_minute",
    "key_burst",
    "spike_per_minute",
    "is_public",
    "sort_order",
];

impl PlanRow {
    fn into_plan(self) -> anyhow::Result<Plan> {
        Ok(Plan {
            id: self.id,
            configured: self.sort_order < RETIRED_ORDER,
            spec: PlanSpec {
                slug: self.slug,
                name: self.name,
                price_cents: self.price_cents,
                stripe_price_id: self.stripe_price_id,
                quotas: serde_json::from_str(&self.quotas)?,
                overage: serde_json::from_str(&self.overage)?,
                retention_days: self.retention_days,
                max_members: self.max_members,
                key_rate_per_minute: self.key_rate_per_minute,
                key_burst: self.key_burst,
                spike_per_minute: self.spike_per_minute,
                public: self.is_public,
            },
        })
    }
}

/// Writes the configured plans (insert or update by slug); plans no longer configured are kept
/// but retired (not public, sorted last). Idempotent; run on every start.
pub async fn seed_plans(db: &Db, plans: &[PlanSpec]) -> anyhow::Result<()> {
    let conn = db.conn();
    let now = Utc::now();
    for (order, plan) in plans.iter().enumerate() {
        let statement = Query::insert()
            .into_table("plans")
            .columns(PLAN_COLUMNS.into_iter().chain(["updated_at"]))
            .values_panic([
                plan.slug.clone().into(),
                plan.name.clone().into(),
                plan.price_cents.into(),
                plan.stripe_price_id.clone().into(),
                serde_json::to_string(&plan.quotas)?.into(),
                serde_json::to_string(&plan.overage)?.into(),
                plan.retention_days.into(),
                plan.max_members.into(),
                plan.key_rate_per_minute.into(),
                plan.key_burst.into(),
                plan.spike_per_minute.into(),
                plan.public.into(),
                (order as i32).into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::column("slug")
                    .update_columns(PLAN_COLUMNS[1..].iter().copied().chain(["updated_at"]))
                    .to_owned(),
            )
            .to_owned();
        conn.execute(&statement).await?;
    }
    let slugs: Vec<String> = plans.iter().map(|p| p.slug.clone()).collect();
    let retire = Query::update()
        .table("plans")
        .value("is_public", false)
        .value("sort_order", RETIRED_ORDER)
        .and_where(Expr::col("slug").is_not_in(slugs))
        .to_owned();
    conn.execute(&retire).await?;
    Ok(())
}

/// Every stored plan, configured ones first in configuration order.
pub async fn load_plans(db: &Db) -> anyhow::Result<Vec<Plan>> {
    let conn = db.conn();
    let select = Query::select()
        .columns(["id"].into_iter().chain(PLAN_COLUMNS))
        .from("plans")
        .order_by("sort_order", sea_orm::Order::Asc)
        .order_by("id", sea_orm::Order::Asc)
        .to_owned();
    conn.query_all(&select)
        .await?
        .iter()
        .map(|row| PlanRow::from_query_result(row, ""))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(PlanRow::into_plan)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plans_are_valid_and_carry_the_brief_s_key_tiers() {
        let plans = default_plans();
        validate_plans(&plans).expect("valid");
        let tier = |slug: &str| {
            plans
                .iter()
                .find(|p| p.slug == slug)
                .and_then(|p| p.key_rate_per_minute)
        };
        assert_eq!(tier("starter"), Some(100));
        assert_eq!(tier("pro"), Some(500));
        assert_eq!(tier("business"), Some(1_000));
        let free = plans.iter().find(|p| p.slug == FREE).expect("free");
        assert_eq!(free.quota("error"), Some(5_000));
        assert_eq!(free.price_cents, 0);
        let own = plans.iter().find(|p| p.slug == SELF_HOSTED).expect("self");
        assert_eq!(
            own.quota("error"),
            None,
            "self-hosted is unlimited by default"
        );
    }

    #[test]
    fn hard_and_soft_overage_drop_what_they_say() {
        assert_eq!(Overage::Hard.drop_fraction(4_999, 5_000), 0.0);
        assert_eq!(Overage::Hard.drop_fraction(5_000, 5_000), 1.0);
        let soft = Overage::default_soft();
        assert_eq!(soft.drop_fraction(999, 1_000), 0.0);
        assert_eq!(soft.drop_fraction(1_000, 1_000), 0.1);
        assert_eq!(soft.drop_fraction(1_499, 1_000), 0.1);
        assert_eq!(soft.drop_fraction(1_500, 1_000), 0.5);
        assert_eq!(soft.drop_fraction(2_000, 1_000), 1.0);
        assert_eq!(soft.stop_at(), 2.0);
        assert_eq!(Overage::Hard.stop_at(), 1.0);
        assert_eq!(
            Overage::Hard.drop_fraction(0, 0),
            1.0,
            "a zero quota takes nothing"
        );
    }

    #[test]
    fn a_plans_file_is_checked_with_clear_messages() {
        let ok = r#"[{"slug":"team","name":"Team","quotas":{"error":100},"retention_days":14,
            "overage":{"policy":"soft","steps":[{"at":1.0,"drop":0.5},{"at":1.2,"drop":1.0}]}}]"#;
        let plans = parse_plans(ok).expect("valid");
        assert_eq!(plans[0].overage.stop_at(), 1.2);
        assert!(plans[0].public);
        for (bad, needle) in [
            ("{}", "JSON array"),
            ("[]", "no plans"),
            (
                r#"[{"slug":"a","name":"A","retention_days":1,"quotas":{"errors":1}}]"#,
                "unknown quota category",
            ),
            (
                r#"[{"slug":"a","name":"A","retention_days":1,"overage":{"policy":"soft","steps":[{"at":1.0,"drop":0.5}]}}]"#,
                "last overage step",
            ),
            (
                r#"[{"slug":"A B","name":"A","retention_days":1}]"#,
                "lowercase",
            ),
            (
                r#"[{"slug":"a","name":"A","retention_days":1},{"slug":"a","name":"B","retention_days":1}]"#,
                "twice",
            ),
        ] {
            let error = parse_plans(bad).expect_err(bad);
            assert!(error.contains(needle), "{bad}: {error}");
        }
    }
}
