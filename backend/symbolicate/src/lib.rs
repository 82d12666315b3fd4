//! JavaScript source-map symbolication for ErrorWatch: pure functions and data, no database, no
//! async, no HTTP. The digest and the HTTP API wire them in.
//!
//! - [`bundle`]: the uploaded artifact bundle (`SYSB` header + zip + `manifest.json`).
//! - [`map`]: a parsed source map and the lookup of one 1-based position.
//! - [`candidates`]: release-file URLs to try, `sourceMappingURL` references, inline maps.
//! - [`stacktrace`]: the two phases on an event held as `serde_json::Value`: [`stacktrace::plan`]
//!   (which maps are needed) and [`stacktrace::apply`] (rewrite the frames).
//! - [`hashes`]: content hashes in bundle file names, removed for grouping.
//! - [`cache`]: a byte-bounded LRU of parsed maps.

pub mod bundle;
pub mod cache;
pub mod candidates;
pub mod hashes;
pub mod map;
pub mod stacktrace;

#[cfg(test)]
mod testdata;

pub use map::{LookupInput, MapError, MappedFrame, ParsedMap, Unmapped};
