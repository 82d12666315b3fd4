//! Configuration, read once at start from the environment and validated before anything else
//! runs. Every problem is reported as one line that names the variable, what was wrong and how
//! to fix it (see [`ConfigError`]).
//!
//! Variables (all optional): `DATABASE_URL`, `ERRORWATCH_LISTEN`, `ERRORWATCH_PUBLIC_URL`,
//! `ERRORWATCH_LOG_FORMAT`, `ERRORWATCH_LOG`, `ERRORWATCH_DB_MAX_CONNECTIONS`,
//! `ERRORWATCH_WORKER_POLL_MS`, `ERRORWATCH_WORKER_HEARTBEAT_SECS`,
//! `ERRORWATCH_SHUTDOWN_TIMEOUT_SECS`, `ERRORWATCH_EVENT_RETENTION_DAYS`,
//! `ERRORWATCH_MAX_EVENTS_PER_PROJECT`, `ERRORWATCH_FRONTEND_DIR`, `ERRORWATCH_MODE`,
//! `ERRORWATCH_SIGNUP`, `ERRORWATCH_SECRET_KEY`, `ERRORWATCH_API_RATE_LIMIT_PER_MINUTE`, `ERRORWATCH_SMTP_URL`, `ERRORWATCH_MAIL_FROM`,
//! `ERRORWATCH_MAIL_DIR`, `ERRORWATCH_SPOOL_MAX_BACKLOG`; billing: `ERRORWATCH_PLANS_FILE`,
//! `ERRORWATCH_SELF_HOST_PLAN`, `ERRORWATCH_QUOTA_REFRESH_MS`,
//! `ERRORWATCH_INGEST_IP_RATE_PER_MINUTE`, `ERRORWATCH_STRIPE_SECRET_KEY`,
//! `ERRORWATCH_STRIPE_WEBHOOK_SECRET`, `ERRORWATCH_STRIPE_API_BASE`,
//! `ERRORWATCH_STRIPE_PRICE_<SLUG>`, `ERRORWATCH_BILLING_GRACE_DAYS`.
//! The README's configuration table is the user-facing copy of this list.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::DatabaseUrl;

/// Where the SQLite database lives when `DATABASE_URL` is not set.
pub const DEFAULT_SQLITE_PATH: &str = "data/errorwatch.db";

/// The whole configuration tree.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database connection.
    pub database: DatabaseConfig,
    /// HTTP listener and public address.
    pub http: HttpConfig,
    /// Log output.
    pub log: LogConfig,
    /// Background job workers.
    pub worker: WorkerConfig,
    /// Sign-up, sessions and tokens.
    pub auth: AuthConfig,
    /// Outgoing email.
    pub mail: MailConfig,
    /// Plans, quotas and ingest rate limits.
    pub billing: BillingConfig,
    /// Alert delivery.
    pub alerts: AlertsConfig,
    /// Uploaded source maps and release files.
    pub artifacts: ArtifactsConfig,
}

/// Uploaded source maps and release files (see `service::artifacts`).
#[derive(Debug, Clone)]
pub struct ArtifactsConfig {
    /// Bytes of uploaded files one project may hold (`ERRORWATCH_MAX_ARTIFACT_MB`, 2048).
    pub max_project_bytes: i64,
    /// Memory the digest's cache of parsed source maps may hold (`ERRORWATCH_SOURCEMAP_CACHE_MB`,
    /// 32): one parsed map takes about 4-5 times its file's size.
    pub map_cache_bytes: usize,
    /// Largest source map the digest parses (`ERRORWATCH_MAX_SOURCEMAP_MB`, 32); frames of a
    /// larger one say so instead of being mapped.
    pub max_map_bytes: u64,
}

/// Alert delivery (see [`crate::alert`]).
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Webhook, Slack and Discord targets may point at private, loopback and link-local
    /// addresses (`ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS=true`; self-hosted mode only).
    pub allow_private_targets: bool,
    /// Longest one delivery may take, connecting included (`ERRORWATCH_ALERTS_TIMEOUT_SECS`, 10).
    pub timeout: Duration,
    /// Delay before the second attempt; each later one waits four times longer, so five
    /// attempts span about six hours (`ERRORWATCH_ALERTS_RETRY_BASE_MS`, 270000).
    pub retry_base: Duration,
    /// Notifications one account may be sent per hour; beyond, triggers are dropped with a
    /// log line (`ERRORWATCH_ALERTS_MAX_PER_HOUR`, 500).
    pub max_per_hour: u32,
}

/// Plans, quotas and ingest rate limits.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// The plans seeded into `plans` (`ERRORWATCH_PLANS_FILE`, else the built-in ones).
    pub plans: Vec<crate::billing::plan::PlanSpec>,
    /// Plan of accounts without a subscription: `free` in SaaS mode, else
    /// `ERRORWATCH_SELF_HOST_PLAN` (default `self-hosted`).
    pub default_plan: String,
    /// How often each process re-reads plans and usage and writes its counts
    /// (`ERRORWATCH_QUOTA_REFRESH_MS`, 2000).
    pub quota_refresh: Duration,
    /// Requests per minute one client IP may send to the ingest endpoints, with a burst of a
    /// tenth of that (`ERRORWATCH_INGEST_IP_RATE_PER_MINUTE`; default off self-hosted, 30000
    /// in SaaS mode; 0 turns it off).
    pub ingest_ip_rate_per_minute: Option<u32>,
    /// Stripe billing: `Some` only in SaaS mode with `ERRORWATCH_STRIPE_SECRET_KEY` set.
    /// Without it, checkout and portal mutations answer `BILLING_DISABLED`, `/stripe/webhook`
    /// answers 404 and every account is on [`BillingConfig::default_plan`].
    pub stripe: Option<StripeConfig>,
}

/// Stripe billing settings (SaaS mode only).
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `ERRORWATCH_STRIPE_SECRET_KEY` (`sk_…` or a restricted `rk_…` key).
    pub secret_key: crate::secret::SecretString,
    /// `ERRORWATCH_STRIPE_WEBHOOK_SECRET` (`whsec_…`): verifies `Stripe-Signature`.
    pub webhook_secret: crate::secret::SecretString,
    /// `ERRORWATCH_STRIPE_API_BASE` (default `https://api.stripe.com/`, always ending in `/`);
    /// tests point it at a local stand-in.
    pub api_base: url::Url,
    /// How long a `past_due` subscription keeps its plan before the account moves to the
    /// default plan (`ERRORWATCH_BILLING_GRACE_DAYS`, 7).
    pub grace: Duration,
}

/// How the installation is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One organisation runs its own copy: the first user to sign up becomes superuser.
    SelfHosted,
    /// Many customers share the installation: nobody becomes superuser by signing up.
    Saas,
}

/// Who may create a user by signing up (`ERRORWATCH_SIGNUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupPolicy {
    /// Anyone (`open`, the SaaS default).
    Open,
    /// The first user of the installation, who becomes its administrator; after that only
    /// people holding an invite link (`first-user`, the self-hosted default: a public host does
    /// not let strangers create users once someone set it up).
    FirstUser,
    /// Only people holding an invite link (`invite`).
    Invite,
    /// Nobody; users are created with `errorwatch user create` (`closed`).
    Closed,
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `ERRORWATCH_MODE=self-hosted|saas` (default `self-hosted`).
    pub mode: Mode,
    /// `ERRORWATCH_SIGNUP=open|first-user|invite|closed` (default `first-user` self-hosted,
    /// `open` in SaaS mode).
    pub signup: SignupPolicy,
    /// `ERRORWATCH_API_RATE_LIMIT_PER_MINUTE` (default 600): GraphQL requests per minute per API
    /// token, per signed-in user, and per IP for anonymous requests (the minute's allowance may
    /// come as a burst).
    pub api_requests_per_minute: u32,
    /// `ERRORWATCH_SECRET_KEY`: signs session tokens (at least 32 bytes). When unset, a random
    /// key is generated once and kept in the database, so every process of the installation
    /// shares it.
    pub secret_key: Option<crate::secret::SecretString>,
}

/// Email settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `ERRORWATCH_SMTP_URL` (`smtp://user:pass@host:587` with STARTTLS, `smtps://…` with TLS,
    /// `smtp://host:25?tls=none` for a local relay). Unset: emails go to the log and to files
    /// in `dir`.
    pub smtp_url: Option<crate::secret::SecretString>,
    /// `ERRORWATCH_MAIL_FROM` (default `ErrorWatch <errorwatch@localhost>`).
    pub from: String,
    /// `ERRORWATCH_MAIL_DIR` (default `data/mail`): where emails are written without SMTP.
    pub dir: PathBuf,
}

pub use crate::db::{DatabaseConfig, DatabaseKind};

/// Envelopes the spool holds before ingest answers 503 (`ERRORWATCH_SPOOL_MAX_BACKLOG`).
pub const DEFAULT_SPOOL_MAX_BACKLOG: u64 = 100_000;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Address to bind (`ERRORWATCH_LISTEN`, default `127.0.0.1:8000`).
    pub listen: SocketAddr,
    /// Public base URL used to build DSNs and links, without a trailing slash; may carry a
    /// path prefix (`https://errors.example.com/tracker`).
    pub public_url: url::Url,
    /// Folder with the built dashboard (`frontend/dist` by default).
    pub frontend_dir: PathBuf,
    /// How long a graceful shutdown may take before in-flight work is abandoned.
    pub shutdown_timeout: Duration,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Log settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Output format (`ERRORWATCH_LOG_FORMAT=pretty|json`).
    pub format: LogFormat,
    /// `tracing` filter directive (`ERRORWATCH_LOG`, else `RUST_LOG`, else `info`).
    pub filter: String,
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How often an idle worker looks for new jobs.
    pub poll_interval: Duration,
    /// Worker heartbeat; a worker silent for three beats is presumed dead and its claimed
    /// tasks go back to the queue.
    pub heartbeat: Duration,
    /// Events older than this many days are evicted (`ERRORWATCH_EVENT_RETENTION_DAYS`, 90).
    pub event_retention_days: u32,
    /// Events kept per project (`ERRORWATCH_MAX_EVENTS_PER_PROJECT`, 100000).
    pub max_events_per_project: i64,
    /// Spooled envelopes waiting for the digest before ingest answers 503
    /// (`ERRORWATCH_SPOOL_MAX_BACKLOG`, 100000).
    pub spool_max_backlog: u64,
}

/// A configuration problem, phrased for the person starting the server.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn problem(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads configuration through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let database = parse_database(
            lookup("DATABASE_URL"),
            lookup("ERRORWATCH_DB_MAX_CONNECTIONS"),
        )?;
        let listen = match lookup("ERRORWATCH_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 8000)),
            Some(raw) => raw.trim().parse().map_err(|_| {
                problem(
                    "ERRORWATCH_LISTEN",
                    format!(
                        "{raw:?} is not an address:port; use e.g. 127.0.0.1:8000 or 0.0.0.0:8000"
                    ),
                )
            })?,
        };
        let public_url = parse_public_url(lookup("ERRORWATCH_PUBLIC_URL"), listen)?;
        let format = match lookup("ERRORWATCH_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(problem(
                    "ERRORWATCH_LOG_FORMAT",
                    format!("{other:?} is not a log format; use `pretty` or `json`"),
                ));
            }
        };
        let filter = lookup("ERRORWATCH_LOG")
            .or_else(|| lookup("RUST_LOG"))
            .unwrap_or_else(|| "info".to_owned());
        let poll_ms = parse_number(
            "ERRORWATCH_WORKER_POLL_MS",
            lookup("ERRORWATCH_WORKER_POLL_MS"),
            200,
            1..=60_000,
        )?;
        let heartbeat_secs = parse_number(
            "ERRORWATCH_WORKER_HEARTBEAT_SECS",
            lookup("ERRORWATCH_WORKER_HEARTBEAT_SECS"),
            10,
            1..=600,
        )?;
        let retention_days = parse_number(
            "ERRORWATCH_EVENT_RETENTION_DAYS",
            lookup("ERRORWATCH_EVENT_RETENTION_DAYS"),
            90,
            1..=3650,
        )?;
        let max_events = parse_number(
            "ERRORWATCH_MAX_EVENTS_PER_PROJECT",
            lookup("ERRORWATCH_MAX_EVENTS_PER_PROJECT"),
            100_000,
            100..=1_000_000_000,
        )?;
        let spool_max_backlog = parse_number(
            "ERRORWATCH_SPOOL_MAX_BACKLOG",
            lookup("ERRORWATCH_SPOOL_MAX_BACKLOG"),
            DEFAULT_SPOOL_MAX_BACKLOG,
            1..=1_000_000_000,
        )?;
        let shutdown_secs = parse_number(
            "ERRORWATCH_SHUTDOWN_TIMEOUT_SECS",
            lookup("ERRORWATCH_SHUTDOWN_TIMEOUT_SECS"),
            8,
            1..=3600,
        )?;
        let frontend_dir = lookup("ERRORWATCH_FRONTEND_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("frontend/dist"));
        let mode = match lookup("ERRORWATCH_MODE").as_deref().map(str::trim) {
            None | Some("self-hosted") => Mode::SelfHosted,
            Some("saas") => Mode::Saas,
            Some(other) => {
                return Err(problem(
                    "ERRORWATCH_MODE",
                    format!("{other:?} is not one of: self-hosted, saas"),
                ));
            }
        };
        let signup = match lookup("ERRORWATCH_SIGNUP").as_deref().map(str::trim) {
            None if mode == Mode::SelfHosted => SignupPolicy::FirstUser,
            None | Some("open") => SignupPolicy::Open,
            Some("first-user") => SignupPolicy::FirstUser,
            Some("invite") => SignupPolicy::Invite,
            Some("closed") => SignupPolicy::Closed,
            Some(other) => {
                return Err(problem(
                    "ERRORWATCH_SIGNUP",
                    format!("{other:?} is not one of: open, first-user, invite, closed"),
                ));
            }
        };
        let secret_key = match lookup("ERRORWATCH_SECRET_KEY") {
            Some(key) if key.trim().len() < 32 => {
                return Err(problem(
                    "ERRORWATCH_SECRET_KEY",
                    "must be at least 32 characters (e.g. `openssl rand -hex 32`), or unset to let ErrorWatch generate one",
                ));
            }
            other => other.map(|k| crate::secret::SecretString::new(k.trim())),
        };
        let smtp_url = match lookup("ERRORWATCH_SMTP_URL") {
            Some(raw) => {
                let parsed = url::Url::parse(raw.trim()).map_err(|e| {
                    problem(
                        "ERRORWATCH_SMTP_URL",
                        format!("not a URL ({e}); expected smtp://host:port or smtps://host"),
                    )
                })?;
                if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
                    return Err(problem(
                        "ERRORWATCH_SMTP_URL",
                        "expected smtp://[user:pass@]host[:port] or smtps://…",
                    ));
                }
                Some(crate::secret::SecretString::new(raw.trim()))
            }
            None => None,
        };
        let from = lookup("ERRORWATCH_MAIL_FROM")
            .map(|f| f.trim().to_owned())
            .unwrap_or_else(|| "ErrorWatch <errorwatch@localhost>".to_owned());
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(problem(
                "ERRORWATCH_MAIL_FROM",
                format!("{from:?} is not a mailbox (e.g. `ErrorWatch <errors@example.com>`)"),
            ));
        }
        let mail_dir = lookup("ERRORWATCH_MAIL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("data/mail"));
        let api_requests_per_minute = parse_number(
            "ERRORWATCH_API_RATE_LIMIT_PER_MINUTE",
            lookup("ERRORWATCH_API_RATE_LIMIT_PER_MINUTE"),
            600,
            1..=1_000_000,
        )? as u32;
        let mut plans = match lookup("ERRORWATCH_PLANS_FILE") {
            Some(path) => {
                let json = std::fs::read_to_string(path.trim()).map_err(|e| {
                    problem(
                        "ERRORWATCH_PLANS_FILE",
                        format!("cannot read {}: {e}", path.trim()),
                    )
                })?;
                crate::billing::plan::parse_plans(&json)
                    .map_err(|e| problem("ERRORWATCH_PLANS_FILE", e))?
            }
            None => crate::billing::plan::default_plans(),
        };
        let default_plan = match mode {
            Mode::Saas => crate::billing::plan::FREE.to_owned(),
            Mode::SelfHosted => lookup("ERRORWATCH_SELF_HOST_PLAN")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|| crate::billing::plan::SELF_HOSTED.to_owned()),
        };
        if !plans.iter().any(|p| p.slug == default_plan) {
            let variable = match mode {
                Mode::Saas => "ERRORWATCH_PLANS_FILE",
                Mode::SelfHosted => "ERRORWATCH_SELF_HOST_PLAN",
            };
            return Err(problem(
                variable,
                format!(
                    "accounts without a subscription use plan {default_plan:?}, which is not configured (plans: {})",
                    plans
                        .iter()
                        .map(|p| p.slug.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let quota_refresh_ms = parse_number(
            "ERRORWATCH_QUOTA_REFRESH_MS",
            lookup("ERRORWATCH_QUOTA_REFRESH_MS"),
            2000,
            50..=60_000,
        )?;
        let ip_default = match mode {
            Mode::Saas => 30_000,
            Mode::SelfHosted => 0,
        };
        let ip_rate = parse_number(
            "ERRORWATCH_INGEST_IP_RATE_PER_MINUTE",
            lookup("ERRORWATCH_INGEST_IP_RATE_PER_MINUTE"),
            ip_default,
            0..=100_000_000,
        )? as u32;
        let stripe = parse_stripe(&lookup, mode, &mut plans)?;
        let allow_private_targets = match lookup("ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS")
            .as_deref()
            .map(str::trim)
        {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") if mode == Mode::SelfHosted => true,
            Some("true") | Some("1") => {
                return Err(problem(
                    "ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS",
                    "private alert targets are only allowed in self-hosted mode",
                ));
            }
            Some(other) => {
                return Err(problem(
                    "ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS",
                    format!("{other:?} is not one of: true, false"),
                ));
            }
        };
        let alert_timeout_secs = parse_number(
            "ERRORWATCH_ALERTS_TIMEOUT_SECS",
            lookup("ERRORWATCH_ALERTS_TIMEOUT_SECS"),
            10,
            1..=120,
        )?;
        let alert_retry_base_ms = parse_number(
            "ERRORWATCH_ALERTS_RETRY_BASE_MS",
            lookup("ERRORWATCH_ALERTS_RETRY_BASE_MS"),
            270_000,
            1..=86_400_000,
        )?;
        let alert_max_per_hour = parse_number(
            "ERRORWATCH_ALERTS_MAX_PER_HOUR",
            lookup("ERRORWATCH_ALERTS_MAX_PER_HOUR"),
            500,
            1..=1_000_000,
        )? as u32;
        let max_artifact_mb = parse_number(
            "ERRORWATCH_MAX_ARTIFACT_MB",
            lookup("ERRORWATCH_MAX_ARTIFACT_MB"),
            2048,
            1..=10_000_000,
        )?;
        let map_cache_mb = parse_number(
            "ERRORWATCH_SOURCEMAP_CACHE_MB",
            lookup("ERRORWATCH_SOURCEMAP_CACHE_MB"),
            32,
            1..=100_000,
        )?;
        let max_map_mb = parse_number(
            "ERRORWATCH_MAX_SOURCEMAP_MB",
            lookup("ERRORWATCH_MAX_SOURCEMAP_MB"),
            32,
            1..=4096,
        )?;
        Ok(Config {
            artifacts: ArtifactsConfig {
                max_project_bytes: i64::try_from(max_artifact_mb).unwrap_or(i64::MAX / 2)
                    * 1024
                    * 1024,
                map_cache_bytes: usize::try_from(map_cache_mb).unwrap_or(usize::MAX / 2)
                    * 1024
                    * 1024,
                max_map_bytes: max_map_mb * 1024 * 1024,
            },
            alerts: AlertsConfig {
                allow_private_targets,
                timeout: Duration::from_secs(alert_timeout_secs),
                retry_base: Duration::from_millis(alert_retry_base_ms),
                max_per_hour: alert_max_per_hour,
            },
            billing: BillingConfig {
                plans,
                default_plan,
                quota_refresh: Duration::from_millis(quota_refresh_ms),
                ingest_ip_rate_per_minute: (ip_rate > 0).then_some(ip_rate),
                stripe,
            },
            auth: AuthConfig {
                mode,
                signup,
                secret_key,
                api_requests_per_minute,
            },
            mail: MailConfig {
                smtp_url,
                from,
                dir: mail_dir,
            },
            database,
            http: HttpConfig {
                listen,
                public_url,
                frontend_dir,
                shutdown_timeout: Duration::from_secs(shutdown_secs),
            },
            log: LogConfig { format, filter },
            worker: WorkerConfig {
                poll_interval: Duration::from_millis(poll_ms),
                heartbeat: Duration::from_secs(heartbeat_secs),
                event_retention_days: retention_days as u32,
                max_events_per_project: max_events as i64,
                spool_max_backlog,
            },
        })
    }
}

/// The variable naming the Stripe price of plan `slug` (`pro` → `ERRORWATCH_STRIPE_PRICE_PRO`,
/// `team-2` → `ERRORWATCH_STRIPE_PRICE_TEAM_2`).
pub fn stripe_price_variable(slug: &str) -> String {
    format!(
        "ERRORWATCH_STRIPE_PRICE_{}",
        slug.to_ascii_uppercase().replace('-', "_")
    )
}

/// Reads the Stripe settings; `ERRORWATCH_STRIPE_PRICE_<SLUG>` overrides the plans' own
/// `stripe_price_id` (written into `plans`, so it is stored with the plan).
fn parse_stripe(
    lookup: &impl Fn(&str) -> Option<String>,
    mode: Mode,
    plans: &mut [crate::billing::plan::PlanSpec],
) -> Result<Option<StripeConfig>, ConfigError> {
    for plan in plans.iter_mut() {
        if let Some(price) = lookup(&stripe_price_variable(&plan.slug)) {
            plan.stripe_price_id = Some(price.trim().to_owned());
        }
    }
    let grace_days = parse_number(
        "ERRORWATCH_BILLING_GRACE_DAYS",
        lookup("ERRORWATCH_BILLING_GRACE_DAYS"),
        7,
        0..=90,
    )?;
    let webhook_secret = lookup("ERRORWATCH_STRIPE_WEBHOOK_SECRET").map(|s| s.trim().to_owned());
    let Some(secret_key) = lookup("ERRORWATCH_STRIPE_SECRET_KEY").map(|s| s.trim().to_owned())
    else {
        if webhook_secret.is_some() {
            return Err(problem(
                "ERRORWATCH_STRIPE_SECRET_KEY",
                "ERRORWATCH_STRIPE_WEBHOOK_SECRET is set but the secret key is not; set both to turn Stripe billing on, or neither",
            ));
        }
        return Ok(None);
    };
    if mode != Mode::Saas {
        return Err(problem(
            "ERRORWATCH_STRIPE_SECRET_KEY",
            "Stripe billing runs only in SaaS mode; set ERRORWATCH_MODE=saas, or unset the key (self-hosted accounts all get the self-host plan)",
        ));
    }
    if !(secret_key.starts_with("sk_") || secret_key.starts_with("rk_")) {
        return Err(problem(
            "ERRORWATCH_STRIPE_SECRET_KEY",
            "expected a Stripe secret key (sk_live_…, sk_test_… or a restricted rk_… key), not a publishable or webhook key",
        ));
    }
    let webhook_secret = match webhook_secret {
        Some(secret) if secret.starts_with("whsec_") => secret,
        Some(_) => {
            return Err(problem(
                "ERRORWATCH_STRIPE_WEBHOOK_SECRET",
                "expected the endpoint's signing secret (whsec_…), shown in Stripe's dashboard under Developers → Webhooks",
            ));
        }
        None => {
            return Err(problem(
                "ERRORWATCH_STRIPE_WEBHOOK_SECRET",
                "required with ERRORWATCH_STRIPE_SECRET_KEY: the signing secret (whsec_…) of the endpoint <public URL>/stripe/webhook",
            ));
        }
    };
    let raw_base = lookup("ERRORWATCH_STRIPE_API_BASE")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "https://api.stripe.com/".to_owned());
    let mut api_base = url::Url::parse(&raw_base).map_err(|e| {
        problem(
            "ERRORWATCH_STRIPE_API_BASE",
            format!("{raw_base:?} is not a URL ({e}); leave it unset for https://api.stripe.com/"),
        )
    })?;
    if !matches!(api_base.scheme(), "http" | "https") || api_base.host_str().is_none() {
        return Err(problem(
            "ERRORWATCH_STRIPE_API_BASE",
            format!("{raw_base:?} must be an http:// or https:// URL with a host"),
        ));
    }
    if !api_base.path().ends_with('/') {
        let path = format!("{}/", api_base.path());
        api_base.set_path(&path);
    }
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for plan in plans.iter() {
        match plan.stripe_price_id.as_deref() {
            Some(price) if !price.starts_with("price_") => {
                return Err(problem(
                    "ERRORWATCH_PLANS_FILE",
                    format!(
                        "plan {}: {price:?} is not a Stripe price id (price_…); set it in the plans file or {}",
                        plan.slug,
                        stripe_price_variable(&plan.slug)
                    ),
                ));
            }
            Some(price) => {
                if let Some(other) = seen.insert(price, plan.slug.as_str()) {
                    return Err(problem(
                        "ERRORWATCH_PLANS_FILE",
                        format!(
                            "plans {other} and {} share the Stripe price {price}; each plan needs its own",
                            plan.slug
                        ),
                    ));
                }
            }
            None if plan.public && plan.price_cents > 0 => {
                return Err(problem(
                    "ERRORWATCH_PLANS_FILE",
                    format!(
                        "plan {} costs {} cents a month but has no Stripe price; set {} (or `stripe_price_id` in the plans file), or make the plan free or not public",
                        plan.slug,
                        plan.price_cents,
                        stripe_price_variable(&plan.slug)
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(Some(StripeConfig {
        secret_key: crate::secret::SecretString::new(secret_key),
        webhook_secret: crate::secret::SecretString::new(webhook_secret),
        api_base,
        grace: Duration::from_secs(grace_days * 86_400),
    }))
}

fn parse_number(
    variable: &'static str,
    raw: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(problem(
            variable,
            format!(
                "{raw:?} is not a whole number between {} and {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn parse_database(
    raw: Option<String>,
    max_connections: Option<String>,
) -> Result<DatabaseConfig, ConfigError> {
    let raw = raw.unwrap_or_else(|| format!("sqlite://{DEFAULT_SQLITE_PATH}"));
    let raw = raw.trim().to_owned();
    let hint = "use sqlite://path/to/file.db or postgres://user:password@host:5432/dbname";
    let (kind, sqlite_path) = if let Some(rest) = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Err(problem(
                "DATABASE_URL",
                format!(
                    "SQLite needs a file path (an in-memory database would lose every event); {hint}"
                ),
            ));
        }
        (DatabaseKind::Sqlite, Some(PathBuf::from(path)))
    } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        let parsed = url::Url::parse(&raw).map_err(|e| {
            problem(
                "DATABASE_URL",
                format!("the PostgreSQL URL is malformed ({e}); {hint}"),
            )
        })?;
        if parsed.host_str().unwrap_or_default().is_empty() {
            return Err(problem(
                "DATABASE_URL",
                format!("the PostgreSQL URL has no host; {hint}"),
            ));
        }
        if parsed.path().trim_start_matches('/').is_empty() {
            return Err(problem(
                "DATABASE_URL",
                format!("the PostgreSQL URL names no database; {hint}"),
            ));
        }
        (DatabaseKind::Postgres, None)
    } else {
        let scheme = raw.split("://").next().unwrap_or_default();
        return Err(problem(
            "DATABASE_URL",
            format!(
                "unsupported database {scheme:?}: ErrorWatch runs on SQLite or PostgreSQL; {hint}"
            ),
        ));
    };
    let default_pool = match kind {
        DatabaseKind::Sqlite => 8,
        DatabaseKind::Postgres => 16,
    };
    let max_connections = parse_number(
        "ERRORWATCH_DB_MAX_CONNECTIONS",
        max_connections,
        default_pool,
        1..=1000,
    )?;
    Ok(DatabaseConfig {
        url: DatabaseUrl::new(raw),
        kind,
        sqlite_path,
        max_connections: max_connections as u32,
    })
}

fn parse_public_url(raw: Option<String>, listen: SocketAddr) -> Result<url::Url, ConfigError> {
    let raw = match raw {
        Some(raw) => raw.trim().to_owned(),
        None => {
            // An unspecified bind address is not reachable as such; DSNs then name loopback.
            let host = if listen.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else if listen.is_ipv6() {
                format!("[{}]", listen.ip())
            } else {
                listen.ip().to_string()
            };
            format!("http://{host}:{}", listen.port())
        }
    };
    let mut parsed = url::Url::parse(&raw).map_err(|e| {
        problem(
            "ERRORWATCH_PUBLIC_URL",
            format!("{raw:?} is not a URL ({e}); use e.g. https://errors.example.com"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(problem(
            "ERRORWATCH_PUBLIC_URL",
            format!("{raw:?} must be an http:// or https:// URL with a host"),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(problem(
            "ERRORWATCH_PUBLIC_URL",
            format!("{raw:?} must not carry credentials, a query or a fragment"),
        ));
    }
    let trimmed = parsed.path().trim_end_matches('/').to_owned();
    parsed.set_path(&trimmed);
    Ok(parsed)
}

impl HttpConfig {
    /// The public URL's path prefix without a trailing slash (`""` when served at the root).
    pub fn base_path(&self) -> &str {
        self.public_url.path().trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_sqlite_in_data_folder_on_localhost_8000() {
        let config = load(&[]).expect("defaults are valid");
        assert_eq!(config.database.kind, DatabaseKind::Sqlite);
        assert_eq!(
            config.database.sqlite_path,
            Some(PathBuf::from("data/errorwatch.db"))
        );
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(config.http.public_url.as_str(), "http://127.0.0.1:8000/");
        assert_eq!(config.http.base_path(), "");
        assert_eq!(config.log.format, LogFormat::Pretty);
    }

    #[test]
    fn postgres_url_is_accepted_and_redacted_in_debug() {
        let config =
            load(&[("DATABASE_URL", "postgres://ew:pw123@localhost:5432/ew")]).expect("valid");
        assert_eq!(config.database.kind, DatabaseKind::Postgres);
        assert!(!format!("{config:?}").contains("pw123"));
    }

    #[test]
    fn bad_inputs_name_the_variable_and_the_fix() {
        let cases = [
            (
                ("DATABASE_URL", "mysql://x@y/z"),
                "unsupported database \"mysql\"",
            ),
            (
                ("DATABASE_URL", "postgres://user@/db"),
                "malformed (empty host)",
            ),
            (
                ("DATABASE_URL", "postgres://user@host"),
                "names no database",
            ),
            (("DATABASE_URL", "sqlite::memory:"), "needs a file path"),
            (("ERRORWATCH_LISTEN", "localhost"), "not an address:port"),
            (("ERRORWATCH_PUBLIC_URL", "ftp://x"), "http:// or https://"),
            (("ERRORWATCH_LOG_FORMAT", "xml"), "use `pretty` or `json`"),
            (("ERRORWATCH_WORKER_POLL_MS", "0"), "between 1 and 60000"),
        ];
        for ((variable, value), expected) in cases {
            let err = load(&[(variable, value)]).expect_err(value);
            assert_eq!(err.variable, variable);
            assert!(
                err.to_string().contains(expected),
                "{err} should contain {expected}"
            );
        }
    }

    #[test]
    fn public_url_keeps_a_base_path_without_trailing_slash() {
        let config = load(&[(
            "ERRORWATCH_PUBLIC_URL",
            "https://errors.example.com/tracker/",
        )])
        .expect("valid");
        assert_eq!(config.http.base_path(), "/tracker");
    }

    #[test]
    fn unspecified_listen_address_gives_a_loopback_public_url() {
        let config = load(&[("ERRORWATCH_LISTEN", "0.0.0.0:9000")]).expect("valid");
        assert_eq!(config.http.public_url.as_str(), "http://127.0.0.1:9000/");
    }

    #[test]
    fn auth_and_mail_settings_are_validated() {
        let config = load(&[]).expect("defaults");
        assert_eq!(config.auth.mode, Mode::SelfHosted);
        assert_eq!(config.auth.signup, SignupPolicy::FirstUser);
        let saas = load(&[("ERRORWATCH_MODE", "saas")]).expect("valid");
        assert_eq!(saas.auth.signup, SignupPolicy::Open);
        let open = load(&[("ERRORWATCH_SIGNUP", "open")]).expect("valid");
        assert_eq!(open.auth.signup, SignupPolicy::Open);
        assert!(config.auth.secret_key.is_none() && config.mail.smtp_url.is_none());
        let config = load(&[
            ("ERRORWATCH_MODE", "saas"),
            ("ERRORWATCH_SIGNUP", "invite"),
            (
                "ERRORWATCH_SMTP_URL",
                "smtps://user:p%40ss@mail.example.com:465",
            ),
            ("ERRORWATCH_MAIL_FROM", "Errors <errors@example.com>"),
        ])
        .expect("valid");
        assert_eq!(
            (config.auth.mode, config.auth.signup),
            (Mode::Saas, SignupPolicy::Invite)
        );
        assert!(
            !format!("{config:?}").contains("p%40ss"),
            "the SMTP password is redacted"
        );
        for (variable, value) in [
            ("ERRORWATCH_MODE", "cloud"),
            ("ERRORWATCH_SIGNUP", "maybe"),
            ("ERRORWATCH_SECRET_KEY", "too-short"),
            ("ERRORWATCH_SMTP_URL", "http://mail.example.com"),
            ("ERRORWATCH_SMTP_URL", "not a url"),
            ("ERRORWATCH_MAIL_FROM", "no address here"),
        ] {
            let err = load(&[(variable, value)]).expect_err(value);
            assert_eq!(err.variable, variable, "{value}: {err}");
        }
    }

    const STRIPE: [(&str, &str); 6] = [
        ("ERRORWATCH_MODE", "saas"),
        ("ERRORWATCH_STRIPE_SECRET_KEY", "sk_test_123"),
        ("ERRORWATCH_STRIPE_WEBHOOK_SECRET", "whsec_123"),
        ("ERRORWATCH_STRIPE_PRICE_STARTER", "price_starter"),
        ("ERRORWATCH_STRIPE_PRICE_PRO", "price_pro"),
        ("ERRORWATCH_STRIPE_PRICE_BUSINESS", "price_business"),
    ];

    fn with_stripe(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut vars: Vec<(&str, &str)> = STRIPE.to_vec();
        vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        vars.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        load(&vars)
    }

    #[test]
    fn stripe_billing_is_on_only_in_saas_mode_with_a_key() {
        assert!(load(&[]).expect("defaults").billing.stripe.is_none());
        assert!(
            load(&[("ERRORWATCH_MODE", "saas")])
                .expect("saas without stripe")
                .billing
                .stripe
                .is_none()
        );
        let config = with_stripe(&[("ERRORWATCH_STRIPE_API_BASE", "http://127.0.0.1:9/stripe")])
            .expect("valid");
        let stripe = config.billing.stripe.clone().expect("on");
        assert_eq!(stripe.api_base.as_str(), "http://127.0.0.1:9/stripe/");
        assert_eq!(stripe.grace, Duration::from_secs(7 * 86_400));
        let price = |slug: &str| {
            config
                .billing
                .plans
                .iter()
                .find(|p| p.slug == slug)
                .and_then(|p| p.stripe_price_id.clone())
        };
        assert_eq!(price("pro").as_deref(), Some("price_pro"));
        assert_eq!(price("free"), None);
        assert!(
            !format!("{config:?}").contains("sk_test_123"),
            "the key is redacted"
        );
        let default_base = with_stripe(&[]).expect("valid").billing.stripe.expect("on");
        assert_eq!(default_base.api_base.as_str(), "https://api.stripe.com/");
    }

    #[test]
    fn stripe_price_variables_win_over_the_plans_file() {
        let dir = std::env::temp_dir().join(format!("ew-plans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("plans.json");
        std::fs::write(
            &file,
            r#"[{"slug":"free","name":"Free","retention_days":30},
                {"slug":"team-2","name":"Team","price_cents":900,"stripe_price_id":"price_file","retention_days":30},
                {"slug":"solo","name":"Solo","price_cents":500,"stripe_price_id":"price_solo","retention_days":30}]"#,
        )
        .expect("write");
        let path = file.to_str().expect("utf-8");
        let config = load(&[
            ("ERRORWATCH_MODE", "saas"),
            ("ERRORWATCH_STRIPE_SECRET_KEY", "rk_live_1"),
            ("ERRORWATCH_STRIPE_WEBHOOK_SECRET", "whsec_1"),
            ("ERRORWATCH_PLANS_FILE", path),
            ("ERRORWATCH_STRIPE_PRICE_TEAM_2", "price_env"),
        ])
        .expect("valid");
        let prices: Vec<Option<&str>> = config
            .billing
            .plans
            .iter()
            .map(|p| p.stripe_price_id.as_deref())
            .collect();
        assert_eq!(prices, vec![None, Some("price_env"), Some("price_solo")]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn stripe_misconfigurations_are_named_with_their_fix() {
        for (extra, variable, needle) in [
            (
                vec![("ERRORWATCH_MODE", "self-hosted")],
                "ERRORWATCH_STRIPE_SECRET_KEY",
                "only in SaaS mode",
            ),
            (
                vec![("ERRORWATCH_STRIPE_WEBHOOK_SECRET", "")],
                "ERRORWATCH_STRIPE_WEBHOOK_SECRET",
                "required",
            ),
            (
                vec![("ERRORWATCH_STRIPE_SECRET_KEY", "")],
                "ERRORWATCH_STRIPE_SECRET_KEY",
                "set both",
            ),
            (
                vec![("ERRORWATCH_STRIPE_SECRET_KEY", "pk_test_1")],
                "ERRORWATCH_STRIPE_SECRET_KEY",
                "secret key",
            ),
            (
                vec![("ERRORWATCH_STRIPE_WEBHOOK_SECRET", "sk_test_1")],
                "ERRORWATCH_STRIPE_WEBHOOK_SECRET",
                "whsec_",
            ),
            (
                vec![("ERRORWATCH_STRIPE_PRICE_PRO", "")],
                "ERRORWATCH_PLANS_FILE",
                "plan pro costs 8000 cents a month but has no Stripe price; set ERRORWATCH_STRIPE_PRICE_PRO",
            ),
            (
                vec![("ERRORWATCH_STRIPE_PRICE_PRO", "price_starter")],
                "ERRORWATCH_PLANS_FILE",
                "share the Stripe price",
            ),
            (
                vec![("ERRORWATCH_STRIPE_PRICE_PRO", "prod_123")],
                "ERRORWATCH_PLANS_FILE",
                "not a Stripe price id",
            ),
            (
                vec![("ERRORWATCH_STRIPE_API_BASE", "ftp://stripe")],
                "ERRORWATCH_STRIPE_API_BASE",
                "http:// or https://",
            ),
            (
                vec![("ERRORWATCH_BILLING_GRACE_DAYS", "365")],
                "ERRORWATCH_BILLING_GRACE_DAYS",
                "between 0 and 90",
            ),
        ] {
            let err = with_stripe(&extra).expect_err(needle);
            assert_eq!(err.variable, variable, "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
