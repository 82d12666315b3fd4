//! Usage and quotas on the ingest hot path.
//!
//! - **Usage** is counted in memory as envelopes are accepted and added to `usage_periods`
//!   (`quantity = quantity + n`, atomic in both databases) about once a second and at shutdown,
//!   so any number of processes can count into one row.
//! - **Quotas** are decided from in-memory state refreshed every [`QuotaConfig::refresh`]: the
//!   account's plan and period, the stored usage and what other processes hold.
//! - **Exact caps across processes.** Past the quota's stop point nothing may be accepted, by any
//!   process. Each process accepts limited categories only against a *lease*: units of the
//!   remaining quota it reserved in `usage_leases` in a transaction that also reads the stored
//!   usage and every other live lease, so `quantity + Σ leases ≤ stop` always holds. Leases are
//!   taken in chunks (an eighth of what remains, at most [`MAX_LEASE`]), so far from the limit
//!   the database is asked rarely and close to it one unit at a time. A flush moves used units
//!   from the lease to `quantity`; unused units go back after [`IDLE_RETURN`] without use and at
//!   shutdown. A process that dies stops renewing its leases and they are ignored after
//!   [`LEASE_TTL`] (the usage it had not flushed yet, at most a second's worth, is lost with it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, FromQueryResult};
use tokio_util::sync::CancellationToken;

use crate::billing::plan::{Plan, PlanSpec, protocol_categories};
use crate::db::Db;
use crate::ids::AccountId;
use crate::jobs::JobQueue;
use crate::mail::{Email, SendEmail};
use crate::repo::Tenant;
use crate::repo::billing::{self as repo, LeaseSettlement, UsageKey};
use crate::scope::AccountScope;

/// Most units one lease reserves.
pub const MAX_LEASE: i64 = 1_000;
/// Unused lease units go back after this long without use.
pub const IDLE_RETURN: Duration = Duration::from_secs(3);
/// A lease not renewed for this long belongs to a dead process and is ignored.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// Longest `Retry-After` for an exhausted quota: an upgrade should reach SDKs soon.
pub const MAX_QUOTA_RETRY: u64 = 600;

/// Settings of the quota layer.
#[derive(Clone, Debug)]
pub struct QuotaConfig {
    /// Plan slug of accounts without a subscription (Free in SaaS mode, the self-host plan
    /// otherwise).
    pub default_plan: String,
    /// How often state is refreshed from the database (and usage flushed).
    pub refresh: Duration,
    /// Where emails link to.
    pub public_url: String,
}

/// A billing period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Inclusive.
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

impl Period {
    /// The calendar month (UTC) `now` falls in: the period of accounts without a paid
    /// subscription.
    pub fn calendar_month(now: DateTime<Utc>) -> Period {
        let start = Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single()
            .unwrap_or(now);
        let (year, month) = if now.month() == 12 {
            (now.year() + 1, 1)
        } else {
            (now.year(), now.month() + 1)
        };
        let end = Utc
            .with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .single()
            .unwrap_or(now);
        Period { start, end }
    }
}

/// The plan and period that apply to an account now.
#[derive(Clone, Debug)]
pub struct AccountPlan {
    /// The plan.
    pub plan: Plan,
    /// The billing period.
    pub period: Period,
    /// Subscription status (`free` without a subscription).
    pub status: String,
}

/// Statuses whose plan applies (a past-due subscription keeps its plan during the grace period;
/// the billing code moves it to the default plan when the grace ends).
pub fn status_keeps_plan(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due")
}

/// Resolves the plan and period of `account_id` at `now`.
pub async fn account_plan(
    db: &Db,
    plans: &[Plan],
    default_plan: &str,
    account_id: AccountId,
    now: DateTime<Utc>,
) -> anyhow::Result<AccountPlan> {
    let scope = AccountScope::system(db, account_id, "the plan that applies to the account");
    let row = repo::subscription_plan(db.conn(), &scope).await?;
    let fallback = || {
        plans
            .iter()
            .find(|p| p.spec.slug == default_plan)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the default plan {default_plan:?} is not stored"))
    };
    Ok(match row {
        Some(row) if status_keeps_plan(&row.status) => {
            let plan = match plans.iter().find(|p| p.id == row.plan_id) {
                Some(plan) => plan.clone(),
                None => fallback()?,
            };
            let period = if now >= row.current_period_start && now < row.current_period_end {
                Period {
                    start: row.current_period_start,
                    end: row.current_period_end,
                }
            } else {
                // The renewal has not arrived yet: count in the calendar month meanwhile.
                Period::calendar_month(now)
            };
            AccountPlan {
                plan,
                period,
                status: row.status,
            }
        }
        Some(row) => AccountPlan {
            plan: fallback()?,
            period: Period::calendar_month(now),
            status: row.status,
        },
        None => AccountPlan {
            plan: fallback()?,
            period: Period::calendar_month(now),
            status: "free".to_owned(),
        },
    })
}

/// One category of one account in this process.
#[derive(Debug, Default, Clone)]
struct Counter {
    /// `quantity` stored at the last refresh (every process' flushed usage).
    stored: i64,
    /// Accepted here, not yet flushed.
    unflushed: i64,
    /// Lease units held here and not used yet.
    lease: i64,
    /// When lease units were last granted or used.
    last_use: Option<Instant>,
}

impl Counter {
    /// Adds `units` granted by the database to the lease. Invariant: a grant counts as a use,
    /// so a refresh between the grant and the request that asked for it cannot hand the units
    /// back as idle (that race answered 429 below the quota to the first event of an account).
    fn grant(&mut self, units: i64, now: Instant) {
        self.lease += units;
        if units > 0 {
            self.last_use = Some(now);
        }
    }

    /// Whether the lease has gone unused for [`IDLE_RETURN`] (or was never granted nor used).
    fn idle(&self, now: Instant) -> bool {
        self.last_use
            .is_none_or(|used| now.saturating_duration_since(used) >= IDLE_RETURN)
    }
}

#[derive(Debug)]
struct AccountState {
    plan: Arc<PlanSpec>,
    period: Period,
    counters: HashMap<&'static str, Counter>,
    /// Periods whose counts are still to be flushed (a period change mid-flight).
    stale: Vec<(Period, &'static str, i64)>,
}

/// The answer for one envelope.
#[derive(Debug)]
pub enum Admission {
    /// Accept; `exhausted` names quota categories at or past 100 % (for the header on 200s).
    Accept(Accepted),
    /// Over quota: answer 429.
    Reject(QuotaLimit),
}

/// What an accepted envelope took (handed back with [`Quotas::refund`] when storing fails).
#[derive(Debug, Default)]
pub struct Accepted {
    account_id: i64,
    period: Option<Period>,
    taken: Vec<(&'static str, i64)>,
    /// Exhausted categories, for `X-Sentry-Rate-Limits` on the 200.
    pub limit: Option<QuotaLimit>,
}

/// Exhausted quota categories and how long SDKs should hold them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaLimit {
    /// Quota categories (`error`, `transaction`, …).
    pub categories: Vec<&'static str>,
    /// Seconds.
    pub retry_after: u64,
}

impl QuotaLimit {
    /// The `X-Sentry-Rate-Limits` value: `<secs>:<categories>:organization:usage_exceeded`.
    pub fn header(&self) -> String {
        let categories: Vec<&str> = self
            .categories
            .iter()
            .map(|c| protocol_categories(c))
            .filter(|c| !c.is_empty())
            .collect();
        format!(
            "{}:{}:organization:usage_exceeded",
            self.retry_after,
            categories.join(";")
        )
    }
}

struct Inner {
    db: Db,
    queue: JobQueue,
    config: QuotaConfig,
    instance_id: String,
    plans: tokio::sync::RwLock<Vec<Plan>>,
    accounts: Mutex<HashMap<i64, AccountState>>,
    /// One lease request at a time per account.
    lease_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// Quota state of this process; cheap to clone.
#[derive(Clone)]
pub struct Quotas(Arc<Inner>);

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Quotas({})", self.0.instance_id)
    }
}

fn lease_ttl() -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(LEASE_TTL).unwrap_or(chrono::TimeDelta::seconds(30))
}

impl Quotas {
    /// Loads the stored plans; state per account is read when the account first sends.
    pub async fn start(db: Db, queue: JobQueue, config: QuotaConfig) -> anyhow::Result<Self> {
        let plans = crate::billing::plan::load_plans(&db).await?;
        anyhow::ensure!(
            plans.iter().any(|p| p.spec.slug == config.default_plan),
            "the default plan {:?} is not configured",
            config.default_plan
        );
        Ok(Quotas(Arc::new(Inner {
            db,
            queue,
            config,
            instance_id: uuid::Uuid::new_v4().simple().to_string(),
            plans: tokio::sync::RwLock::new(plans),
            accounts: Mutex::new(HashMap::new()),
            lease_locks: Mutex::new(HashMap::new()),
        })))
    }

    /// This process' id in `usage_leases`.
    pub fn instance_id(&self) -> &str {
        &self.0.instance_id
    }

    /// Decides whether an envelope of `account_id` carrying `wanted` (quota category, quantity)
    /// is accepted, and if so counts it. Categories without a quota are counted, never refused.
    pub async fn admit(
        &self,
        account_id: AccountId,
        wanted: &[(&'static str, i64)],
    ) -> anyhow::Result<Admission> {
        let account_id = account_id.0;
        if wanted.is_empty() {
            return Ok(Admission::Accept(Accepted::default()));
        }
        if !self.known(account_id) {
            self.load(account_id).await?;
        }
        let now = Utc::now();
        // Which categories need lease units first, and what is dropped by the overage policy.
        let mut need: Vec<(&'static str, i64)> = Vec::new();
        {
            let accounts = self.0.accounts.lock().map_err(poisoned)?;
            let Some(state) = accounts.get(&account_id) else {
                anyhow::bail!("account {account_id} state missing");
            };
            let mut over = Vec::new();
            for (category, quantity) in wanted {
                let Some(quota) = state.plan.quota(category) else {
                    continue;
                };
                let counter = state.counters.get(category).cloned().unwrap_or_default();
                let used = counter.stored + counter.unflushed;
                let drop = state.plan.overage.drop_fraction(used, quota);
                if drop >= 1.0 || (drop > 0.0 && rand::random::<f64>() < drop) {
                    over.push(*category);
                } else if counter.lease < *quantity {
                    need.push((category, *quantity - counter.lease));
                }
            }
            if !over.is_empty() {
                return Ok(Admission::Reject(limit_for(state, now, over)));
            }
        }
        for (category, missing) in need {
            let granted = self.lease(account_id, category, missing).await?;
            if granted < missing {
                let accounts = self.0.accounts.lock().map_err(poisoned)?;
                let state = accounts
                    .get(&account_id)
                    .ok_or_else(|| anyhow::anyhow!("account {account_id} state missing"))?;
                return Ok(Admission::Reject(limit_for(state, now, vec![category])));
            }
        }
        let mut accounts = self.0.accounts.lock().map_err(poisoned)?;
        let state = accounts
            .get_mut(&account_id)
            .ok_or_else(|| anyhow::anyhow!("account {account_id} state missing"))?;
        let mut taken: Vec<(&'static str, i64)> = Vec::with_capacity(wanted.len());
        // Leases may have been spent by concurrent requests meanwhile: check again, atomically.
        for (category, quantity) in wanted {
            if state.plan.quota(category).is_some() {
                let counter = state.counters.entry(category).or_default();
                if counter.lease < *quantity {
                    for (c, q) in &taken {
                        let limited = state.plan.quota(c).is_some();
                        let counter = state.counters.entry(*c).or_default();
                        if limited {
                            counter.lease += q;
                        }
                        counter.unflushed -= q;
                    }
                    return Ok(Admission::Reject(limit_for(state, now, vec![category])));
                }
                counter.lease -= quantity;
                counter.last_use = Some(Instant::now());
            }
            let counter = state.counters.entry(category).or_default();
            counter.unflushed += quantity;
            taken.push((*category, *quantity));
        }
        let exhausted: Vec<&'static str> = state
            .counters
            .iter()
            .filter(|(category, counter)| {
                state
                    .plan
                    .quota(category)
                    .is_some_and(|q| counter.stored + counter.unflushed >= q)
            })
            .map(|(category, _)| *category)
            .collect();
        let limit = (!exhausted.is_empty()).then(|| limit_for(state, now, exhausted));
        Ok(Admission::Accept(Accepted {
            account_id,
            period: Some(state.period),
            taken,
            limit,
        }))
    }

    /// Hands back what `accepted` took (the envelope was not stored after all).
    pub fn refund(&self, accepted: Accepted) {
        let Ok(mut accounts) = self.0.accounts.lock() else {
            return;
        };
        let Some(state) = accounts.get_mut(&accepted.account_id) else {
            return;
        };
        if Some(state.period) != accepted.period {
            return;
        }
        for (category, quantity) in accepted.taken {
            let limited = state.plan.quota(category).is_some();
            let counter = state.counters.entry(category).or_default();
            counter.unflushed -= quantity;
            if limited {
                counter.lease += quantity;
            }
        }
    }

    /// The plan that applies to `account_id`, read from the database on first use.
    pub async fn plan_of(&self, account_id: AccountId) -> anyhow::Result<Arc<PlanSpec>> {
        let account_id = account_id.0;
        if let Some(plan) = self.cached_plan(account_id) {
            return Ok(plan);
        }
        self.load(account_id).await?;
        self.cached_plan(account_id)
            .ok_or_else(|| anyhow::anyhow!("account {account_id} state missing"))
    }

    fn cached_plan(&self, account_id: i64) -> Option<Arc<PlanSpec>> {
        self.0
            .accounts
            .lock()
            .ok()?
            .get(&account_id)
            .map(|state| state.plan.clone())
    }

    fn known(&self, account_id: i64) -> bool {
        self.0
            .accounts
            .lock()
            .is_ok_and(|accounts| accounts.contains_key(&account_id))
    }

    /// Reads the account's plan, period and stored usage (first use, or a refresh).
    async fn load(&self, account_id: i64) -> anyhow::Result<()> {
        let now = Utc::now();
        let plans = self.0.plans.read().await.clone();
        let current = account_plan(
            &self.0.db,
            &plans,
            &self.0.config.default_plan,
            AccountId(account_id),
            now,
        )
        .await?;
        let stored = stored_usage(&self.0.db, AccountId(account_id), current.period.start).await?;
        let mut accounts = self.0.accounts.lock().map_err(poisoned)?;
        let state = accounts.entry(account_id).or_insert_with(|| AccountState {
            plan: Arc::new(current.plan.spec.clone()),
            period: current.period,
            counters: HashMap::new(),
            stale: Vec::new(),
        });
        if state.period != current.period {
            // A new period: what was not flushed yet still belongs to the old one; leases of
            // the old period are released by the flush.
            for (category, counter) in state.counters.drain() {
                if counter.unflushed != 0 || counter.lease != 0 {
                    state
                        .stale
                        .push((state.period, category, counter.unflushed));
                }
            }
            state.period = current.period;
        }
        state.plan = Arc::new(current.plan.spec);
        for (category, quantity) in stored {
            if let Some(category) = static_category(&category) {
                state.counters.entry(category).or_default().stored = quantity;
            }
        }
        Ok(())
    }

    fn lease_lock(&self, account_id: i64) -> anyhow::Result<Arc<tokio::sync::Mutex<()>>> {
        let mut locks = self.0.lease_locks.lock().map_err(poisoned)?;
        Ok(locks.entry(account_id).or_default().clone())
    }

    /// Reserves at least `missing` more units of `category` for this process if the quota has
    /// room (a chunk when it has plenty); returns the units added to the local lease.
    async fn lease(
        &self,
        account_id: i64,
        category: &'static str,
        missing: i64,
    ) -> anyhow::Result<i64> {
        let lock = self.lease_lock(account_id)?;
        let _one_at_a_time = lock.lock().await;
        let (period, stop, local_lease) = {
            let accounts = self.0.accounts.lock().map_err(poisoned)?;
            let state = accounts
                .get(&account_id)
                .ok_or_else(|| anyhow::anyhow!("account {account_id} state missing"))?;
            let Some(quota) = state.plan.quota(category) else {
                return Ok(missing);
            };
            let stop = (quota as f64 * state.plan.overage.stop_at()).floor() as i64;
            let lease = state.counters.get(category).map_or(0, |c| c.lease);
            (state.period, stop, lease)
        };
        // Another request may have leased while this one waited for the lock.
        if local_lease >= missing {
            return Ok(missing);
        }
        let missing = missing - local_lease;
        let db = &self.0.db;
        let tenant = ingested(account_id);
        let key = UsageKey {
            period_start: period.start,
            category,
        };
        let instance = self.0.instance_id.as_str();
        let txn = db.begin_write().await?;
        let now = Utc::now();
        repo::ensure_usage_row(&txn, tenant, key, now).await?;
        // Take the usage row's lock (PostgreSQL) before reading what is left.
        repo::lock_usage_row(&txn, tenant, key, now).await?;
        let quantity = repo::usage_quantity(&txn, tenant, key).await?;
        let leased = repo::leased_units(&txn, tenant, key, instance, now - lease_ttl()).await?;
        let available = Ord::max(stop - quantity - leased, 0);
        let chunk = Ord::clamp(available / 8, missing, Ord::max(MAX_LEASE, missing));
        let grant = Ord::min(chunk, available);
        if grant > 0 {
            repo::grant_lease(&txn, tenant, key, instance, grant, now).await?;
        }
        txn.commit().await?;
        let mut accounts = self.0.accounts.lock().map_err(poisoned)?;
        if let Some(state) = accounts.get_mut(&account_id) {
            let counter = state.counters.entry(category).or_default();
            counter.stored = Ord::max(counter.stored, quantity);
            if state.period == period {
                counter.grant(grant, Instant::now());
            }
        }
        Ok(Ord::min(local_lease + grant, local_lease + missing))
    }

    /// Flushes usage, returns idle leases, renews the rest, re-reads plans and state and sends
    /// the 80 % / 100 % emails. Run by [`Quotas::run`]; public for tests.
    pub async fn tick(&self) -> anyhow::Result<()> {
        self.flush(false).await?;
        let plans = crate::billing::plan::load_plans(&self.0.db).await?;
        *self.0.plans.write().await = plans;
        let accounts: Vec<i64> = self
            .0
            .accounts
            .lock()
            .map_err(poisoned)?
            .keys()
            .copied()
            .collect();
        for account_id in accounts {
            self.load(account_id).await?;
            self.warn_owners(account_id).await?;
        }
        Ok(())
    }

    /// Writes unflushed usage; with `release`, also gives every lease back (shutdown).
    pub async fn flush(&self, release: bool) -> anyhow::Result<()> {
        struct Work {
            account_id: i64,
            period: Period,
            category: &'static str,
            used: i64,
            leased: bool,
            give_back: i64,
        }
        let mut work = Vec::new();
        {
            let mut accounts = self.0.accounts.lock().map_err(poisoned)?;
            for (account_id, state) in accounts.iter_mut() {
                for (period, category, used) in state.stale.drain(..) {
                    work.push(Work {
                        account_id: *account_id,
                        period,
                        category,
                        used,
                        leased: state.plan.quota(category).is_some(),
                        give_back: i64::MAX,
                    });
                }
                for (category, counter) in state.counters.iter_mut() {
                    let leased = state.plan.quota(category).is_some();
                    let idle = counter.idle(Instant::now());
                    let give_back = if leased && (release || idle) {
                        std::mem::take(&mut counter.lease)
                    } else {
                        0
                    };
                    if counter.unflushed == 0 && give_back == 0 {
                        continue;
                    }
                    work.push(Work {
                        account_id: *account_id,
                        period: state.period,
                        category,
                        used: std::mem::take(&mut counter.unflushed),
                        leased,
                        give_back,
                    });
                    counter.stored += work.last().map_or(0, |w| w.used);
                }
            }
        }
        let mut failed = None;
        for item in work {
            let result = self
                .write_usage(
                    item.account_id,
                    item.period,
                    item.category,
                    item.used,
                    item.leased,
                    item.give_back,
                )
                .await;
            if let Err(e) = result {
                // Put the counts back for the next flush.
                if let Ok(mut accounts) = self.0.accounts.lock()
                    && let Some(state) = accounts.get_mut(&item.account_id)
                {
                    if state.period == item.period {
                        let counter = state.counters.entry(item.category).or_default();
                        counter.unflushed += item.used;
                        counter.stored -= item.used;
                        if item.give_back != i64::MAX {
                            counter.lease += item.give_back;
                        }
                    } else {
                        state.stale.push((item.period, item.category, item.used));
                    }
                }
                failed = Some(e);
            }
        }
        let conn = self.0.db.conn();
        if release {
            repo::release_instance_leases_all_accounts(conn, &self.0.instance_id).await?;
        } else {
            repo::renew_instance_leases_all_accounts(conn, &self.0.instance_id, Utc::now()).await?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn write_usage(
        &self,
        account_id: i64,
        period: Period,
        category: &'static str,
        used: i64,
        leased: bool,
        give_back: i64,
    ) -> anyhow::Result<()> {
        let tenant = ingested(account_id);
        let key = UsageKey {
            period_start: period.start,
            category,
        };
        let txn = self.0.db.begin_write().await?;
        let now = Utc::now();
        if used != 0 {
            repo::add_usage(&txn, tenant, key, used, now).await?;
        }
        if leased {
            let settlement = if give_back == i64::MAX {
                // A finished period: the whole lease goes.
                LeaseSettlement::Empty
            } else {
                LeaseSettlement::Subtract(used + give_back)
            };
            repo::settle_lease(&txn, tenant, key, &self.0.instance_id, settlement, now).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Mails the account's owners once per period when a quota passes 80 % and 100 %.
    async fn warn_owners(&self, account_id: i64) -> anyhow::Result<()> {
        let (plan, period, usage) = {
            let accounts = self.0.accounts.lock().map_err(poisoned)?;
            let Some(state) = accounts.get(&account_id) else {
                return Ok(());
            };
            let usage: Vec<(&'static str, i64, i64)> = state
                .counters
                .iter()
                .filter_map(|(category, counter)| {
                    let quota = state.plan.quota(category)?;
                    (quota > 0).then_some((*category, counter.stored, quota))
                })
                .collect();
            (state.plan.clone(), state.period, usage)
        };
        for (category, used, quota) in usage {
            let percent = used.saturating_mul(100) / quota;
            let level: i16 = match percent {
                100.. => 100,
                80..=99 => 80,
                _ => continue,
            };
            let key = UsageKey {
                period_start: period.start,
                category,
            };
            let conn = self.0.db.conn();
            if !repo::claim_usage_warning(conn, ingested(account_id), key, level).await? {
                continue;
            }
            let owners = repo::owner_emails(conn, ingested(account_id)).await?;
            let subject = if level >= 100 {
                format!("ErrorWatch: your {category} quota is used up")
            } else {
                format!("ErrorWatch: {percent} % of your {category} quota is used")
            };
            let policy = if level >= 100 {
                "New events in this category are now refused until the period ends or the plan is upgraded."
            } else {
                "When the quota is used up, new events in this category are refused."
            };
            let text = format!(
                "Your account has used {used} of the {quota} {category} allowed by the {} plan \
                 in the period {} – {} ({percent} %).\n\n{policy}\n\nUsage and plans: {}/settings/billing?account={}\n",
                plan.name,
                period.start.format("%Y-%m-%d"),
                period.end.format("%Y-%m-%d"),
                self.0.config.public_url.trim_end_matches('/'),
                account_slug(&self.0.db, account_id).await?,
            );
            for to in owners {
                self.0
                    .queue
                    .enqueue(&SendEmail {
                        email: Email {
                            to,
                            subject: subject.clone(),
                            text: text.clone(),
                            html: None,
                        },
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// Ticks every [`QuotaConfig::refresh`] until `shutdown`, then flushes and releases.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.0.config.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.tick().await {
                tracing::warn!(error = format!("{e:#}"), "quota refresh failed; will retry");
            }
        }
        if let Err(e) = self.flush(true).await {
            tracing::warn!(error = format!("{e:#}"), "usage not flushed at shutdown");
        }
    }
}

fn limit_for(
    state: &AccountState,
    now: DateTime<Utc>,
    categories: Vec<&'static str>,
) -> QuotaLimit {
    let left = Ord::max((state.period.end - now).num_seconds(), 1) as u64;
    let mut categories = categories;
    categories.sort_unstable();
    categories.dedup();
    QuotaLimit {
        categories,
        retry_after: Ord::min(left, MAX_QUOTA_RETRY),
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> anyhow::Error {
    anyhow::anyhow!("quota state lock poisoned")
}

fn static_category(name: &str) -> Option<&'static str> {
    crate::billing::plan::QUOTA_CATEGORIES
        .iter()
        .find(|c| **c == name)
        .copied()
}

/// Stored usage of an account's period, by quota category.
pub async fn stored_usage(
    db: &Db,
    account_id: AccountId,
    period_start: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, i64)>> {
    let scope = AccountScope::system(db, account_id, "the account's usage in its period");
    Ok(repo::period_usage(db.conn(), &scope, period_start).await?)
}

#[derive(FromQueryResult)]
struct SlugRow {
    slug: String,
}

/// The account's slug, for links (the billing page accepts it in `?account=`).
async fn account_slug(db: &Db, account_id: i64) -> anyhow::Result<String> {
    let conn = db.conn();
    let select = Query::select()
        .column("slug")
        .from("accounts")
        .and_where(Expr::col("id").eq(account_id))
        .to_owned();
    Ok(conn
        .query_one(&select)
        .await?
        .map(|row| SlugRow::from_query_result(&row, ""))
        .transpose()?
        .map(|r| r.slug)
        .unwrap_or_default())
}

/// The account an envelope was admitted for: quota state exists only for accounts whose DSN
/// keys sent envelopes.
fn ingested(account_id: i64) -> Tenant {
    Tenant::ingested(AccountId(account_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_months_wrap_the_year() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        let period = Period::calendar_month(at("2026-12-31T23:59:59Z"));
        assert_eq!(period.start, at("2026-12-01T00:00:00Z"));
        assert_eq!(period.end, at("2027-01-01T00:00:00Z"));
        let period = Period::calendar_month(at("2026-02-01T00:00:00Z"));
        assert_eq!(period.start, at("2026-02-01T00:00:00Z"));
        assert_eq!(period.end, at("2026-03-01T00:00:00Z"));
    }

    #[test]
    fn a_lease_just_granted_is_not_idle() {
        let now = Instant::now();
        let mut counter = Counter::default();
        assert!(counter.idle(now), "nothing granted or used yet");
        counter.grant(0, now);
        assert!(counter.idle(now), "an empty grant is no use");
        counter.grant(1, now);
        assert_eq!(counter.lease, 1);
        assert!(
            !counter.idle(now),
            "a refresh right after the grant must not hand the unit back"
        );
        assert!(!counter.idle(now + IDLE_RETURN - Duration::from_millis(1)));
        assert!(counter.idle(now + IDLE_RETURN));
    }

    #[test]
    fn the_quota_header_names_protocol_categories_and_the_organization() {
        let limit = QuotaLimit {
            categories: vec!["attachment", "error"],
            retry_after: 600,
        };
        assert_eq!(
            limit.header(),
            "600:attachment;error;default;security:organization:usage_exceeded"
        );
    }
}
