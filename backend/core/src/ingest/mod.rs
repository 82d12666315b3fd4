//! Pure ingest logic for the Sentry protocol: authentication forms, request decompression,
//! envelope parsing with size limits, and data categories. Nothing here does I/O or awaits.

pub mod auth;
pub mod category;
pub mod decompress;
pub mod envelope;
pub mod key_limit;
pub mod security;
