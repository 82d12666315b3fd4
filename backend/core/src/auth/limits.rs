//! Brute-force limits for the unauthenticated flows (log in, sign up, password reset, invite
//! acceptance), per client IP and per target account (the email or invite being tried), with
//! governor's keyed GCRA limiters. In memory, per process: with N processes behind a balancer
//! the effective limit is at most N times higher, which still turns a password-guessing run
//! from thousands of tries per second into a handful per minute.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A flow that is limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// `login`.
    Login,
    /// `signUp` and resending the verification email.
    Signup,
    /// `requestPasswordReset` / `resetPassword`.
    PasswordReset,
    /// `acceptInvite`, and sign-up with an invite.
    InviteAccept,
}

/// Refused: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// When the next attempt is allowed.
    pub retry_after: Duration,
}

/// Per-IP and per-target limiters for each flow.
#[derive(Debug)]
pub struct AuthLimiter {
    per_ip: DefaultKeyedRateLimiter<(Flow, IpAddr)>,
    per_target: DefaultKeyedRateLimiter<(Flow, String)>,
}

/// Attempts per minute per IP (burst equal to the minute's allowance).
const PER_IP_PER_MINUTE: u32 = 30;
/// Attempts per minute against one email address or invite.
const PER_TARGET_PER_MINUTE: u32 = 10;

impl Default for AuthLimiter {
    fn default() -> Self {
        Self::new(PER_IP_PER_MINUTE, PER_TARGET_PER_MINUTE)
    }
}

impl AuthLimiter {
    /// Limiters allowing `per_ip` and `per_target` attempts per minute.
    pub fn new(per_ip: u32, per_target: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_ip: RateLimiter::keyed(quota(per_ip)),
            per_target: RateLimiter::keyed(quota(per_target)),
        }
    }

    /// Counts one attempt of `flow` from `ip` against `target` (an email, lower-cased, or an
    /// invite token hash); refused when either budget is spent.
    pub fn check(&self, flow: Flow, ip: IpAddr, target: &str) -> Result<(), Limited> {
        let clock = DefaultClock::default();
        if let Err(not_until) = self.per_ip.check_key(&(flow, ip)) {
            return Err(Limited {
                retry_after: not_until.wait_time_from(clock.now()),
            });
        }
        if let Err(not_until) = self.per_target.check_key(&(flow, target.to_owned())) {
            return Err(Limited {
                retry_after: not_until.wait_time_from(clock.now()),
            });
        }
        Ok(())
    }

    /// Drops idle keys (called periodically so memory stays bounded).
    pub fn housekeeping(&self) {
        self.per_ip.retain_recent();
        self.per_target.retain_recent();
        self.per_ip.shrink_to_fit();
        self.per_target.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_apply_per_ip_and_per_target() {
        let limiter = AuthLimiter::new(5, 3);
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let other_ip: IpAddr = "10.0.0.2".parse().expect("ip");
        for _ in 0..3 {
            limiter
                .check(Flow::Login, ip, "a@example.com")
                .expect("allowed");
        }
        let refused = limiter
            .check(Flow::Login, other_ip, "a@example.com")
            .expect_err("the target's budget is spent, whatever the IP");
        assert!(refused.retry_after > Duration::ZERO);
        // Another target from the first IP: two more fit in the IP's budget of five.
        limiter
            .check(Flow::Login, ip, "b@example.com")
            .expect("allowed");
        limiter
            .check(Flow::Login, ip, "c@example.com")
            .expect("allowed");
        limiter
            .check(Flow::Login, ip, "d@example.com")
            .expect_err("the IP's budget is spent");
        // Flows have separate budgets.
        limiter
            .check(Flow::PasswordReset, ip, "a@example.com")
            .expect("another flow");
    }
}
