//! Plans, usage, quotas (and, in SaaS mode, Stripe). Pure rules live next to their tests
//! ([`plan`], the period/header helpers in [`quota`], [`sync::decide`], the signature check in
//! [`webhook`]); [`quota::Quotas`] is the in-memory state ingest asks on every envelope;
//! [`stripe`] is the only code that talks to Stripe and [`sync`] the only code that stores what
//! it says.

pub mod plan;
pub mod quota;
pub mod stripe;
pub mod sync;
pub mod usage;
pub mod webhook;
