//! The integration suite: one test binary, every test run against the real application on
//! `127.0.0.1:0`, once on SQLite and once on PostgreSQL (see `harness::db_test!`).

mod harness;

mod accounts;
mod alerts;
mod api_limits;
mod architecture;
mod auth;
mod cli;
mod crash;
mod cross_tenant;
mod digest;
mod downloads;
mod http;
mod ingest;
mod issues_api;
mod jobs;
mod lifecycle;
mod quotas;
mod releases_api;
mod sentry_api;
mod shutdown;
mod stripe;
mod subscriptions;
mod symbolication;
mod tenancy;
