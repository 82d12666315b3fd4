//! Tracing setup: pretty lines for a terminal, one JSON object per line in production.
//! Log lines carry fields (`account.id`, `job.name`, `duration_ms`), never secrets or payloads.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.filter).map_err(|e| {
        anyhow::anyhow!(
            "ERRORWATCH_LOG: {:?} is not a valid filter ({e})",
            config.filter
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// For tests: a quiet subscriber honouring `RUST_LOG`, installed at most once per process.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
