//! Ingest logic for the Sentry protocol: authentication forms, request decompression,
//! envelope parsing with size limits, and data categories, all pure (no I/O, no awaits); and
//! the admission policy (`admission`), which decides per request over the in-memory limits,
//! the quota counters and the spool (awaiting only their caches and the spool's commit).

pub mod admission;
pub mod auth;
pub mod category;
pub mod decompress;
pub mod envelope;
pub mod key_limit;
pub mod security;
