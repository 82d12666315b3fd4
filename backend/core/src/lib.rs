//! ErrorWatch's domain crate: configuration, telemetry, the database connection, tenant-scoped
//! data access, services, the job layer and metrics. It knows nothing about HTTP.
//!
//! Invariant: every query on a tenant table lives in `repo/` and starts from the tenant it may
//! touch; sea-orm entities are `pub(crate)`; code outside this crate reaches tenant data only
//! through services that take an [`scope::AccountScope`] first.

pub mod admin;
pub mod alert;
pub mod auth;
pub mod billing;
pub mod change;
pub mod config;
pub mod db;
pub mod digest;
pub mod dsn;
pub mod error;
pub mod grouping;
pub mod ids;
pub mod ingest;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod outcome;
pub mod password;
pub mod release;
pub mod scope;
pub mod secret;
pub mod service;
pub mod spool;
pub mod telemetry;

pub(crate) mod repo;

pub use error::{Error, Result};
