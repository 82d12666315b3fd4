//! Ingest rate limits on the hot path, one governor GCRA limiter per limited thing: a DSN key
//! (its own `rate_limit_per_minute`, else its plan's tier), a project (spike protection) and a
//! client IP. The allowance may arrive as a burst, then requests are admitted at the steady
//! rate. In memory, per process (see README, "Known limitations").

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::ids::{ProjectId, ProjectKeyId};

/// Limited things tracked per table before it starts over (bounds memory).
const MAX_ENTRIES: usize = 100_000;

/// A rate: `per_minute` steady, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute.
    pub per_minute: NonZeroU32,
    /// Requests admitted at once.
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_minute` with a burst of `burst` (default: a minute's worth); `None` when the rate
    /// is missing or not positive.
    pub fn new(per_minute: Option<i32>, burst: Option<i32>) -> Option<Rate> {
        let per_minute = per_minute
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new)?;
        let burst = burst
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new)
            .unwrap_or(per_minute);
        Some(Rate { per_minute, burst })
    }

    fn quota(self) -> Quota {
        Quota::per_minute(self.per_minute).allow_burst(self.burst)
    }
}

/// One limiter per key `K`, created on first use with the rate asked for.
#[derive(Debug)]
pub struct RateTable<K> {
    entries: Mutex<HashMap<K, (Rate, DefaultDirectRateLimiter)>>,
}

impl<K> Default for RateTable<K> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Copy> RateTable<K> {
    /// Counts `n` requests for `key` at `rate`; `Err(retry_after)` when over. `None` passes; a
    /// changed rate starts a fresh limiter.
    pub fn check_n(&self, key: K, rate: Option<Rate>, n: u32) -> Result<(), Duration> {
        let Some(rate) = rate else {
            return Ok(());
        };
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(());
        };
        let Ok(mut entries) = self.entries.lock() else {
            return Ok(());
        };
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        let entry = entries
            .entry(key)
            .or_insert_with(|| (rate, RateLimiter::direct(rate.quota())));
        if entry.0 != rate {
            *entry = (rate, RateLimiter::direct(rate.quota()));
        }
        match entry.1.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
            // More than the burst at once can never pass: wait a minute.
            Err(_) => Err(Duration::from_secs(60)),
        }
    }

    /// Counts one request.
    pub fn check(&self, key: K, rate: Option<Rate>) -> Result<(), Duration> {
        self.check_n(key, rate, 1)
    }
}

/// Per-DSN-key limits.
pub type KeyRateLimiter = RateTable<ProjectKeyId>;

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// The client IP sent too much (`ip_rate_limit`, scope `organization` is not right for an
    /// IP: Relay has no IP scope, so it is reported with scope `key`).
    Ip,
    /// The DSN key's own limit or its plan's tier (`key_quota`, scope `key`).
    Key,
    /// The project's spike protection (`spike_protection`, scope `project`).
    Spike,
}

impl Limited {
    /// Outcome reason.
    pub fn reason(self) -> &'static str {
        match self {
            Limited::Ip => "ip_rate_limit",
            Limited::Key => "key_quota",
            Limited::Spike => "spike_protection",
        }
    }

    /// `X-Sentry-Rate-Limits` scope.
    pub fn scope(self) -> &'static str {
        match self {
            Limited::Ip | Limited::Key => "key",
            Limited::Spike => "project",
        }
    }
}

/// Every ingest rate limit of this process.
#[derive(Debug, Default)]
pub struct IngestLimits {
    /// Per DSN key.
    pub keys: KeyRateLimiter,
    /// Per project (spike protection).
    pub projects: RateTable<ProjectId>,
    /// Per client IP.
    pub ips: RateTable<IpAddr>,
    /// The per-IP rate (`ERRORWATCH_INGEST_IP_RATE_PER_MINUTE`; `None` = off).
    pub ip_rate: Option<Rate>,
}

impl IngestLimits {
    /// Limits with a per-IP rate.
    pub fn new(ip_rate: Option<Rate>) -> Self {
        Self {
            ip_rate,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let limiter = KeyRateLimiter::default();
        let key = ProjectKeyId(1);
        let three = Rate::new(Some(3), None);
        for _ in 0..3 {
            limiter.check(key, three).expect("within the burst");
        }
        let wait = limiter.check(key, three).expect_err("over the limit");
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Other keys and unlimited keys are unaffected; a raised limit starts afresh.
        limiter
            .check(ProjectKeyId(2), Rate::new(Some(1), None))
            .expect("another key");
        limiter.check(key, None).expect("no limit");
        limiter
            .check(key, Rate::new(Some(10), None))
            .expect("new limit, new budget");
    }

    #[test]
    fn a_burst_larger_than_the_rate_is_honoured() {
        let table = RateTable::<u8>::default();
        let rate = Rate::new(Some(100), Some(200));
        for i in 0..200 {
            table
                .check(7, rate)
                .unwrap_or_else(|_| panic!("request {i} in the burst"));
        }
        let wait = table.check(7, rate).expect_err("past the burst");
        assert!(
            wait <= Duration::from_secs(1),
            "{wait:?}: 100/min refills every 0.6 s"
        );
        assert_eq!(Rate::new(Some(0), None), None);
        assert_eq!(Rate::new(Some(-5), Some(3)), None);
        assert!(table.check_n(8, Rate::new(Some(1), Some(2)), 3).is_err());
    }
}
