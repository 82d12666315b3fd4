//! sea-orm entities. Crate-private: outside `core`, data is reached through services.
//! Tenant-owned tables carry `account_id`, and scoped queries filter on it.

pub(crate) mod account;
pub(crate) mod api_token;
pub(crate) mod audit_entry;
pub(crate) mod email_token;
pub(crate) mod ingest_spool;
pub(crate) mod invite;
pub(crate) mod issue;
pub(crate) mod issue_activity;
pub(crate) mod job_selftest;
pub(crate) mod membership;
pub(crate) mod project;
pub(crate) mod project_key;
pub(crate) mod server_setting;
pub(crate) mod session;
pub(crate) mod user;
