//! Plans, usage, quotas (and, in SaaS mode, Stripe). Pure rules live next to their tests
//! ([`plan`] and the period/header helpers in [`quota`]); [`quota::Quotas`] is the in-memory
//! state ingest asks on every envelope.

pub mod plan;
pub mod quota;
pub mod usage;
