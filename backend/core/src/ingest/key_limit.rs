//! Per-DSN-key rate limits (the key's `rate_limit_per_minute`), enforced on the ingest hot path
//! with one governor GCRA limiter per limited key: the minute's allowance may arrive as a burst,
//! then requests are admitted at the steady rate. In memory, per process.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::ids::ProjectKeyId;

/// Limited keys tracked before the table starts over (bounds memory).
const MAX_KEYS: usize = 100_000;

/// The limiters of the keys that have a limit.
#[derive(Debug, Default)]
pub struct KeyRateLimiter {
    keys: Mutex<HashMap<ProjectKeyId, (u32, DefaultDirectRateLimiter)>>,
}

impl KeyRateLimiter {
    /// Counts one request for `key` allowed `per_minute`; `Err(retry_after)` when over. Keys
    /// without a limit pass; a changed limit starts a fresh limiter.
    pub fn check(&self, key: ProjectKeyId, per_minute: Option<i32>) -> Result<(), Duration> {
        let Some(per_minute) = per_minute
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new)
        else {
            return Ok(());
        };
        let Ok(mut keys) = self.keys.lock() else {
            return Ok(());
        };
        if keys.len() >= MAX_KEYS && !keys.contains_key(&key) {
            keys.clear();
        }
        let entry = keys.entry(key).or_insert_with(|| {
            (
                per_minute.get(),
                RateLimiter::direct(Quota::per_minute(per_minute)),
            )
        });
        if entry.0 != per_minute.get() {
            *entry = (
                per_minute.get(),
                RateLimiter::direct(Quota::per_minute(per_minute)),
            );
        }
        entry
            .1
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_minute_as_a_burst_then_waits() {
        let limiter = KeyRateLimiter::default();
        let key = ProjectKeyId(1);
        for _ in 0..3 {
            limiter.check(key, Some(3)).expect("within the burst");
        }
        let wait = limiter.check(key, Some(3)).expect_err("over the limit");
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Other keys and unlimited keys are unaffected; a raised limit starts afresh.
        limiter
            .check(ProjectKeyId(2), Some(1))
            .expect("another key");
        limiter.check(key, None).expect("no limit");
        limiter.check(key, Some(10)).expect("new limit, new budget");
    }
}
