//! The ingest admission policy: whether a parsed request is stored or refused, why, and what
//! each refusal records. The HTTP handlers only extract, parse and answer; the decisions are
//! here, so they can be tested without HTTP.
//!
//! Checks, in order (the cheap in-memory ones first, so a refused request touches no cache
//! that may read the database):
//! 1. the client IP's rate ([`Limited::Ip`]);
//! 2. the account's plan (cached; read on first use);
//! 3. the DSN key's rate: its own `rate_limit_per_minute`, else its plan's tier ([`Limited::Key`]);
//! 4. spike protection of the project, for envelopes that count against a quota
//!    ([`Limited::Spike`]);
//! 5. the account's quota (`usage_exceeded`), which reserves what the envelope counts for;
//! 6. the durable spool write; when it fails, the reservation is refunded (`backpressure` when
//!    the spool is behind).
//!
//! Every refusal records an outcome `rate_limited` with its reason for each data category of
//! the request (a failed write records none: nothing was refused on purpose). Requests
//! dropped before that (spool already full, malformed body) record one error.

use std::net::IpAddr;
use std::time::Duration;

use crate::billing::plan::PlanSpec;
use crate::billing::quota::{self, QuotaLimit, Quotas};
use crate::billing::usage::quota_wants;
use crate::ids::{AccountId, ProjectId, ProjectKeyId};
use crate::ingest::category::DataCategory;
use crate::ingest::key_limit::{IngestLimits, Limited, Rate};
use crate::outcome::{Outcome, OutcomeBuffer};
use crate::spool::{Spool, SpoolBody, SpoolEntry, SpoolError};

/// Reason of a refusal by the account's quota.
pub const USAGE_EXCEEDED: &str = "usage_exceeded";
/// Reason of a refusal because the spool is behind.
pub const BACKPRESSURE: &str = "backpressure";

/// Who sends: the facts of the resolved DSN key that the policy needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The project's account.
    pub account_id: AccountId,
    /// The key's project.
    pub project_id: ProjectId,
    /// The key.
    pub key_id: ProjectKeyId,
    /// The key's own requests per minute, if limited (wins over its plan's tier).
    pub key_rate_per_minute: Option<i32>,
}

/// A stored request.
#[derive(Debug)]
pub struct Admitted {
    /// Exhausted quota categories, for `X-Sentry-Rate-Limits` on the 200.
    pub limit: Option<QuotaLimit>,
}

/// Why a request was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// 429: a rate limit (client IP, key, spike protection) is spent; retry after this long.
    RateLimited {
        /// Until the limit admits again.
        retry_after: Duration,
        /// Which limit.
        limited: Limited,
    },
    /// 429: the account's quota for these categories is used up.
    OverQuota(QuotaLimit),
    /// 503: the spool is behind; retry shortly.
    Unavailable,
    /// 500: the plan or quota could not be read, or storing failed.
    Internal,
}

impl Refused {
    /// `Retry-After` in whole seconds (at least 1 for a rate limit).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Refused::RateLimited { retry_after, .. } => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            Refused::OverQuota(limit) => Some(limit.retry_after),
            Refused::Unavailable => Some(1),
            Refused::Internal => None,
        }
    }

    /// The `X-Sentry-Rate-Limits` value, if any. A rate limit names no categories (all of them,
    /// as Relay writes it): `<secs>::<scope>:<reason>`.
    pub fn rate_limits_header(&self) -> Option<String> {
        match self {
            Refused::RateLimited { limited, .. } => self
                .retry_after_secs()
                .map(|secs| format!("{secs}::{}:{}", limited.scope(), limited.reason())),
            Refused::OverQuota(limit) => Some(limit.header()),
            Refused::Unavailable | Refused::Internal => None,
        }
    }

    /// The reason of the `rate_limited` outcome this refusal records; `None` for a failure.
    pub fn outcome_reason(&self) -> Option<&'static str> {
        match self {
            Refused::RateLimited { limited, .. } => Some(limited.reason()),
            Refused::OverQuota(_) => Some(USAGE_EXCEEDED),
            Refused::Unavailable => Some(BACKPRESSURE),
            Refused::Internal => None,
        }
    }
}

/// A request dropped after authentication because its body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Over a size limit.
    TooLarge,
    /// Not parseable.
    Invalid,
}

impl Malformed {
    /// The outcome recorded.
    pub fn outcome(self) -> Outcome {
        match self {
            Malformed::TooLarge => Outcome::TooLarge,
            Malformed::Invalid => Outcome::Invalid,
        }
    }
}

/// The pieces the policy decides with; borrowed from the server's state for one request.
#[derive(Clone, Copy, Debug)]
pub struct Admission<'a> {
    /// Rate limits per key, project and client IP.
    pub limits: &'a IngestLimits,
    /// Plans and quota counters.
    pub quotas: &'a Quotas,
    /// The durable spool.
    pub spool: &'a Spool,
    /// Outcomes of the hot path.
    pub outcomes: &'a OutcomeBuffer,
}

impl Admission<'_> {
    /// Whether the spool would refuse a write right now: checked before a body is read, so an
    /// overloaded server answers 503 without decompressing and parsing it.
    pub fn is_full(&self) -> bool {
        self.spool.is_full()
    }

    /// Refuses a request because the spool is full ([`Admission::is_full`]), counting one
    /// error for its sender when it is known already.
    pub fn overloaded(&self, sender: Option<Sender>) -> Refused {
        if let Some(sender) = sender {
            self.outcomes.record(
                sender.account_id,
                sender.project_id,
                DataCategory::Error,
                Outcome::RateLimited,
                BACKPRESSURE,
                1,
            );
        }
        Refused::Unavailable
    }

    /// Counts a request of `sender` dropped because its body was `malformed`.
    pub fn malformed(&self, sender: Sender, malformed: Malformed) {
        self.outcomes.record(
            sender.account_id,
            sender.project_id,
            DataCategory::Error,
            malformed.outcome(),
            "envelope",
            1,
        );
    }

    /// Decides on a request of `sender` from `client_ip` that counts for `usage` (data
    /// category, quantity) and, when every check passes, stores `body` (the only thing
    /// awaited besides a cold plan or quota cache). A refusal records its outcomes.
    pub async fn admit(
        &self,
        sender: Sender,
        client_ip: &str,
        usage: &[(DataCategory, i64)],
        body: SpoolBody,
    ) -> Result<Admitted, Refused> {
        let decided = self.decide(&sender, client_ip, usage, body).await;
        if let Err(refused) = &decided
            && let Some(reason) = refused.outcome_reason()
        {
            for (category, quantity) in usage {
                self.outcomes.record(
                    sender.account_id,
                    sender.project_id,
                    *category,
                    Outcome::RateLimited,
                    reason,
                    *quantity,
                );
            }
        }
        decided
    }

    async fn decide(
        &self,
        sender: &Sender,
        client_ip: &str,
        usage: &[(DataCategory, i64)],
        body: SpoolBody,
    ) -> Result<Admitted, Refused> {
        check_ip(self.limits, client_ip)?;
        let plan = self.quotas.plan_of(sender.account_id).await.map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "cannot read the account's plan");
            Refused::Internal
        })?;
        let wants = quota_wants(usage);
        check_key_and_spike(self.limits, sender, &plan, !wants.is_empty())?;
        let accepted = match self.quotas.admit(sender.account_id, &wants).await {
            Ok(quota::Admission::Accept(accepted)) => accepted,
            Ok(quota::Admission::Reject(limit)) => return Err(Refused::OverQuota(limit)),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "quota check failed");
                return Err(Refused::Internal);
            }
        };
        let stored = self
            .spool
            .write(SpoolEntry {
                account_id: sender.account_id,
                project_id: sender.project_id,
                received_at: chrono::Utc::now(),
                client_ip: Some(client_ip.to_owned()),
                body,
            })
            .await;
        match stored {
            Ok(()) => Ok(Admitted {
                limit: accepted.limit,
            }),
            Err(e) => {
                self.quotas.refund(accepted);
                Err(refused_by_spool(&e))
            }
        }
    }
}

/// Step 1: the client IP's rate (an address that does not parse is not limited).
fn check_ip(limits: &IngestLimits, client_ip: &str) -> Result<(), Refused> {
    if let Ok(ip) = client_ip.parse::<IpAddr>()
        && let Err(wait) = limits.ips.check(ip, limits.ip_rate)
    {
        return Err(Refused::RateLimited {
            retry_after: wait,
            limited: Limited::Ip,
        });
    }
    Ok(())
}

/// Steps 3 and 4: the key's rate (its own limit wins over its plan's tier), then spike
/// protection of the project when the request counts against a quota.
fn check_key_and_spike(
    limits: &IngestLimits,
    sender: &Sender,
    plan: &PlanSpec,
    counts_for_quota: bool,
) -> Result<(), Refused> {
    let key_rate = Rate::new(sender.key_rate_per_minute, None)
        .or_else(|| Rate::new(plan.key_rate_per_minute, plan.key_burst));
    if let Err(wait) = limits.keys.check(sender.key_id, key_rate) {
        return Err(Refused::RateLimited {
            retry_after: wait,
            limited: Limited::Key,
        });
    }
    if counts_for_quota
        && let Err(wait) = limits
            .projects
            .check(sender.project_id, Rate::new(plan.spike_per_minute, None))
    {
        return Err(Refused::RateLimited {
            retry_after: wait,
            limited: Limited::Spike,
        });
    }
    Ok(())
}

/// Step 6's failure: a spool behind answers 503 (and counts as backpressure), any other
/// failure 500.
fn refused_by_spool(error: &SpoolError) -> Refused {
    match error {
        SpoolError::Busy => Refused::Unavailable,
        SpoolError::Failed(_) => Refused::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(key_rate_per_minute: Option<i32>) -> Sender {
        Sender {
            account_id: AccountId(1),
            project_id: ProjectId(2),
            key_id: ProjectKeyId(3),
            key_rate_per_minute,
        }
    }

    /// A plan with these key and spike rates (the Free plan otherwise).
    fn plan(key: Option<i32>, burst: Option<i32>, spike: Option<i32>) -> PlanSpec {
        PlanSpec {
            key_rate_per_minute: key,
            key_burst: burst,
            spike_per_minute: spike,
            ..crate::billing::plan::default_plans().remove(0)
        }
    }

    fn limited(refused: Result<(), Refused>) -> Option<Limited> {
        match refused {
            Ok(()) => None,
            Err(Refused::RateLimited { limited, .. }) => Some(limited),
            Err(other) => panic!("not a rate limit: {other:?}"),
        }
    }

    #[test]
    fn a_client_ip_over_its_rate_is_refused_and_unparseable_addresses_pass() {
        let limits = IngestLimits::new(Rate::new(Some(2), None));
        assert_eq!(limited(check_ip(&limits, "10.0.0.1")), None);
        assert_eq!(limited(check_ip(&limits, "10.0.0.1")), None);
        assert_eq!(limited(check_ip(&limits, "10.0.0.1")), Some(Limited::Ip));
        assert_eq!(limited(check_ip(&limits, "10.0.0.2")), None, "another IP");
        for _ in 0..5 {
            assert_eq!(limited(check_ip(&limits, "not an address")), None);
        }
        let unlimited = IngestLimits::new(None);
        for _ in 0..100 {
            assert_eq!(limited(check_ip(&unlimited, "10.0.0.1")), None);
        }
    }

    #[test]
    fn a_key_over_its_plan_tier_is_refused_with_key_quota() {
        let limits = IngestLimits::default();
        let free = plan(Some(60), Some(2), None);
        let sender = sender(None);
        assert_eq!(
            limited(check_key_and_spike(&limits, &sender, &free, true)),
            None
        );
        assert_eq!(
            limited(check_key_and_spike(&limits, &sender, &free, true)),
            None
        );
        let refused = check_key_and_spike(&limits, &sender, &free, true).expect_err("over");
        let Refused::RateLimited {
            retry_after,
            limited: Limited::Key,
        } = refused
        else {
            panic!("{refused:?}");
        };
        assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
        assert_eq!(refused.outcome_reason(), Some("key_quota"));
        assert_eq!(refused.retry_after_secs(), Some(1));
        assert_eq!(
            refused.rate_limits_header().as_deref(),
            Some("1::key:key_quota")
        );
    }

    #[test]
    fn the_key_s_own_limit_wins_over_its_plan_tier() {
        let limits = IngestLimits::default();
        let generous = plan(Some(1_000), None, None);
        let strict = sender(Some(1));
        assert_eq!(
            limited(check_key_and_spike(&limits, &strict, &generous, true)),
            None
        );
        assert_eq!(
            limited(check_key_and_spike(&limits, &strict, &generous, true)),
            Some(Limited::Key)
        );
        // No limit of its own and none in the plan: never limited.
        let limits = IngestLimits::default();
        let unlimited = plan(None, None, None);
        for _ in 0..100 {
            assert_eq!(
                limited(check_key_and_spike(
                    &limits,
                    &sender(None),
                    &unlimited,
                    true
                )),
                None
            );
        }
    }

    #[test]
    fn spike_protection_comes_after_the_key_and_only_for_quota_counted_requests() {
        let limits = IngestLimits::default();
        let spiky = plan(None, None, Some(1));
        let sender = sender(None);
        assert_eq!(
            limited(check_key_and_spike(&limits, &sender, &spiky, true)),
            None
        );
        // Client reports and sessions count for no quota: no spike protection.
        assert_eq!(
            limited(check_key_and_spike(&limits, &sender, &spiky, false)),
            None
        );
        let refused = check_key_and_spike(&limits, &sender, &spiky, true).expect_err("spike");
        assert_eq!(refused.outcome_reason(), Some("spike_protection"));
        let header = refused.rate_limits_header().expect("header");
        assert!(header.ends_with("::project:spike_protection"), "{header}");
        // A key over its rate is refused as the key, before spike protection is counted.
        let both = plan(Some(1), None, Some(1));
        let limits = IngestLimits::default();
        assert_eq!(
            limited(check_key_and_spike(&limits, &sender, &both, true)),
            None
        );
        assert_eq!(
            limited(check_key_and_spike(&limits, &sender, &both, true)),
            Some(Limited::Key)
        );
    }

    #[test]
    fn an_exhausted_quota_answers_with_its_categories_and_period() {
        let refused = Refused::OverQuota(QuotaLimit {
            categories: vec!["error", "attachment"],
            retry_after: 3_600,
        });
        assert_eq!(refused.retry_after_secs(), Some(3_600));
        assert_eq!(refused.outcome_reason(), Some("usage_exceeded"));
        let header = refused.rate_limits_header().expect("header");
        assert!(
            header.starts_with("3600:") && header.ends_with(":organization:usage_exceeded"),
            "{header}"
        );
        assert!(
            header.contains("error") && header.contains("attachment"),
            "{header}"
        );
    }

    #[test]
    fn a_spool_behind_answers_503_with_retry_after_and_a_failed_write_500_without_outcome() {
        let busy = refused_by_spool(&SpoolError::Busy);
        assert_eq!(busy, Refused::Unavailable);
        assert_eq!(busy.retry_after_secs(), Some(1));
        assert_eq!(busy.rate_limits_header(), None);
        assert_eq!(busy.outcome_reason(), Some("backpressure"));
        let failed = refused_by_spool(&SpoolError::Failed("disk full".to_owned()));
        assert_eq!(failed, Refused::Internal);
        assert_eq!(failed.retry_after_secs(), None);
        assert_eq!(failed.rate_limits_header(), None);
        assert_eq!(failed.outcome_reason(), None);
    }

    #[test]
    fn retry_after_rounds_a_rate_limit_up_to_whole_seconds() {
        let after = |retry_after| {
            Refused::RateLimited {
                retry_after,
                limited: Limited::Ip,
            }
            .retry_after_secs()
        };
        assert_eq!(after(Duration::ZERO), Some(1));
        assert_eq!(after(Duration::from_millis(1)), Some(1));
        assert_eq!(after(Duration::from_millis(1_001)), Some(2));
        assert_eq!(after(Duration::from_secs(60)), Some(60));
        let ip = Refused::RateLimited {
            retry_after: Duration::from_millis(2_500),
            limited: Limited::Ip,
        };
        assert_eq!(
            ip.rate_limits_header().as_deref(),
            Some("3::key:ip_rate_limit")
        );
    }

    #[test]
    fn malformed_bodies_count_as_too_large_or_invalid() {
        assert_eq!(Malformed::TooLarge.outcome().as_str(), "too_large");
        assert_eq!(Malformed::Invalid.outcome().as_str(), "invalid");
    }

    /// The real pieces on a migrated SQLite database: one plan (`tiny`: `errors` a period,
    /// keys limited to `key_rate` a minute), account 1 with project 2, and two spools on the
    /// same store, one open and one full.
    struct World {
        _dir: tempfile::TempDir,
        db: crate::db::Db,
        limits: IngestLimits,
        quotas: Quotas,
        open: Spool,
        full: Spool,
        outcomes: OutcomeBuffer,
    }

    impl World {
        async fn new(errors: i64, key_rate: Option<i32>, ip_rate: Option<Rate>) -> World {
            use errorwatch_migration::{Migrator, MigratorTrait};
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/errorwatch.db", dir.path().display());
            let config =
                crate::config::Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone()))
                    .expect("config");
            let db = crate::db::Db::connect(&config.database)
                .await
                .expect("database");
            Migrator::up(db.conn_for_migrations(), None)
                .await
                .expect("migrations");
            crate::jobs::setup_queue_tables(&db).await.expect("queue");
            let tiny = PlanSpec {
                slug: "tiny".to_owned(),
                quotas: [("error".to_owned(), errors)].into(),
                ..plan(key_rate, None, None)
            };
            crate::billing::plan::seed_plans(&db, &[tiny])
                .await
                .expect("plans");
            for statement in [
                "INSERT INTO accounts (id, name, slug, created_at) \
                 VALUES (1, 'Acme', 'acme', CURRENT_TIMESTAMP)",
                "INSERT INTO projects (id, account_id, name, slug, platform, created_at) \
                 VALUES (2, 1, 'Web', 'web', 'javascript', CURRENT_TIMESTAMP)",
            ] {
                sea_orm::ConnectionTrait::execute_unprepared(db.conn(), statement)
                    .await
                    .expect(statement);
            }
            let metrics = crate::metrics::Metrics::new();
            let quotas = Quotas::start(
                db.clone(),
                crate::jobs::JobQueue::new(db.clone(), metrics.clone()),
                quota::QuotaConfig {
                    default_plan: "tiny".to_owned(),
                    refresh: Duration::from_secs(3_600),
                    public_url: "http://localhost".to_owned(),
                },
            )
            .await
            .expect("quotas");
            let store = crate::spool::SpoolStore::open(&config.database, &db)
                .await
                .expect("spool");
            let wake = std::sync::Arc::new(tokio::sync::Notify::new());
            let (open, _) = Spool::start(store.clone(), 1_000, wake.clone(), metrics.clone());
            let (full, _) = Spool::start(store, 0, wake, metrics);
            World {
                _dir: dir,
                db,
                limits: IngestLimits::new(ip_rate),
                quotas,
                open,
                full,
                outcomes: OutcomeBuffer::default(),
            }
        }

        fn admission(&self, spool_full: bool) -> Admission<'_> {
            Admission {
                limits: &self.limits,
                quotas: &self.quotas,
                spool: if spool_full { &self.full } else { &self.open },
                outcomes: &self.outcomes,
            }
        }

        async fn admit(&self, spool_full: bool, client_ip: &str) -> Result<Admitted, Refused> {
            self.admission(spool_full)
                .admit(
                    sender(None),
                    client_ip,
                    &[(DataCategory::Error, 1), (DataCategory::Attachment, 10)],
                    SpoolBody::plain(b"{}\n{\"type\":\"event\"}\n{}\n"),
                )
                .await
        }

        /// The recorded outcomes: (category, outcome, reason, quantity), sorted.
        async fn outcomes(&self) -> Vec<(String, String, String, i64)> {
            self.outcomes.flush(&self.db).await.expect("flush");
            let crate::db::Pool::Sqlite(pool) = self.db.pool() else {
                unreachable!("SQLite")
            };
            sqlx::query_as(
                "SELECT category, outcome, reason, quantity FROM outcomes \
                 ORDER BY category, outcome, reason",
            )
            .fetch_all(pool)
            .await
            .expect("outcomes")
        }
    }

    fn row(
        category: &str,
        outcome: &str,
        reason: &str,
        quantity: i64,
    ) -> (String, String, String, i64) {
        (
            category.to_owned(),
            outcome.to_owned(),
            reason.to_owned(),
            quantity,
        )
    }

    #[tokio::test]
    async fn a_refused_write_refunds_its_quota_reservation_and_a_used_up_quota_answers_429() {
        let world = World::new(1, None, None).await;
        // The quota admits the one error, the spool refuses it: 503, and the error goes back.
        let refused = world.admit(true, "10.0.0.1").await.expect_err("spool full");
        assert_eq!(refused, Refused::Unavailable);
        assert_eq!(refused.retry_after_secs(), Some(1));
        let admitted = world
            .admit(false, "10.0.0.1")
            .await
            .expect("refunded, so admitted");
        assert_eq!(
            admitted.limit.map(|l| l.categories),
            Some(vec!["error"]),
            "the 200 that used the quota up says so"
        );
        let Err(Refused::OverQuota(limit)) = world.admit(false, "10.0.0.1").await else {
            panic!("the quota is used up");
        };
        assert_eq!(limit.categories, vec!["error"]);
        assert!(limit.retry_after > 0, "{limit:?}");
        // Each refusal counts every category of the request with its reason.
        assert_eq!(
            world.outcomes().await,
            vec![
                row("attachment", "rate_limited", "backpressure", 10),
                row("attachment", "rate_limited", "usage_exceeded", 10),
                row("error", "rate_limited", "backpressure", 1),
                row("error", "rate_limited", "usage_exceeded", 1),
            ]
        );
    }

    #[tokio::test]
    async fn the_client_ip_is_checked_before_the_plan_is_read_then_the_key() {
        let world = World::new(100, Some(1), Rate::new(Some(1), None)).await;
        // The first request reads the plan and leases quota; the client IP and the key are
        // both spent after it.
        world.admit(false, "10.0.0.1").await.expect("first");
        // A fresh admission (cold plan cache) refused by its IP touches no database.
        let cold = World::new(100, Some(1), Rate::new(Some(1), None)).await;
        cold.limits
            .ips
            .check("10.0.0.1".parse().expect("ip"), cold.limits.ip_rate)
            .expect("spend the IP");
        let before = cold.db.statements();
        let refused = cold.admit(false, "10.0.0.1").await.expect_err("IP");
        assert_eq!(
            cold.db.statements(),
            before,
            "no plan read for a refused IP"
        );
        assert!(matches!(
            refused,
            Refused::RateLimited {
                limited: Limited::Ip,
                ..
            }
        ));
        // Both spent: the IP is named. Another IP: the key is.
        let ip = world.admit(false, "10.0.0.1").await.expect_err("IP");
        assert_eq!(ip.outcome_reason(), Some("ip_rate_limit"));
        let key = world.admit(false, "10.0.0.2").await.expect_err("key");
        assert_eq!(key.outcome_reason(), Some("key_quota"));
        assert_eq!(
            world.outcomes().await,
            vec![
                row("attachment", "rate_limited", "ip_rate_limit", 10),
                row("attachment", "rate_limited", "key_quota", 10),
                row("error", "rate_limited", "ip_rate_limit", 1),
                row("error", "rate_limited", "key_quota", 1),
            ]
        );
    }

    #[tokio::test]
    async fn drops_before_admission_count_one_error() {
        let world = World::new(100, None, None).await;
        let admission = world.admission(true);
        assert!(admission.is_full());
        assert!(!world.admission(false).is_full());
        assert_eq!(admission.overloaded(None), Refused::Unavailable);
        assert_eq!(
            admission.overloaded(Some(sender(None))),
            Refused::Unavailable
        );
        admission.malformed(sender(None), Malformed::TooLarge);
        admission.malformed(sender(None), Malformed::Invalid);
        admission.malformed(sender(None), Malformed::Invalid);
        assert_eq!(
            world.outcomes().await,
            vec![
                row("error", "invalid", "envelope", 2),
                row("error", "rate_limited", "backpressure", 1),
                row("error", "too_large", "envelope", 1),
            ]
        );
    }
}
