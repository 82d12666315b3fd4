//! The composition root: configuration → database → migrations → HTTP router and job workers.
//! `main.rs` only parses the command line and calls [`cli::run`]; tests call
//! [`app::Application`] directly, so tests and production run the same code.

pub mod app;
pub mod cli;
pub mod http;
pub mod shutdown;
pub mod worker;
