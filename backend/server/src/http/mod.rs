//! The HTTP surface. Every route is declared in [`router`]; handlers live in the submodules.
//!
//! Layers, outermost first: request id (`x-request-id`, generated when absent, echoed back),
//! tracing span per request, metrics (by matched route, never raw path).

pub mod download;
pub mod graphql;
pub mod health;
pub mod ingest;
pub mod ingest_other;
pub mod metrics;
pub mod sentry_api;
pub mod static_files;
pub mod stripe;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use errorwatch_core::billing::quota::Quotas;
use errorwatch_core::config::{Config, DatabaseKind};
use errorwatch_core::db::Db;
use errorwatch_core::ingest::key_limit::{IngestLimits, Rate};
use errorwatch_core::jobs::JobQueue;
use errorwatch_core::metrics::Metrics;
use errorwatch_core::outcome::OutcomeBuffer;
use errorwatch_core::service::auth::Auth;
use errorwatch_core::service::ingest::KeyCache;
use errorwatch_core::spool::Spool;
use errorwatch_graphql::issues::DOWNLOAD_PATH;
use errorwatch_graphql::{AppSchema, ServerInfo, build_schema};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Shared state of every handler: one allocation, so the per-request clone axum makes is one
/// reference count (not one per field).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// Configuration.
    pub config: Arc<Config>,
    /// Database.
    pub db: Db,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Job queue.
    pub queue: JobQueue,
    /// DSN key cache for ingest.
    pub keys: Arc<KeyCache>,
    /// Ingest rate limits (per key by plan, per project, per IP).
    pub limits: Arc<IngestLimits>,
    /// Plans, usage and quotas.
    pub quotas: Quotas,
    /// Durable envelope spool (group commit).
    pub spool: Spool,
    /// Outcomes of requests dropped on the hot path, flushed in the background.
    pub outcomes: OutcomeBuffer,
    /// Sign-in, sessions, tokens.
    pub auth: Auth,
    /// The GraphQL schema.
    pub schema: AppSchema,
    /// GraphQL requests per principal (token, user, or IP when anonymous).
    pub api_limiter: Arc<governor::DefaultKeyedRateLimiter<String>>,
    /// Stripe, when billing is on (SaaS mode with a key).
    pub stripe: Option<errorwatch_core::billing::stripe::Stripe>,
}

/// What the ingest endpoints share besides the database.
pub struct IngestParts {
    /// Durable envelope spool.
    pub spool: Spool,
    /// Outcomes of the hot path.
    pub outcomes: OutcomeBuffer,
    /// Plans, usage and quotas.
    pub quotas: Quotas,
}

impl AppState {
    /// Bundles the state; `stripe` is `Some` when billing is on.
    pub fn new(
        config: Arc<Config>,
        db: Db,
        metrics: Arc<Metrics>,
        queue: JobQueue,
        ingest: IngestParts,
        auth: Auth,
        stripe: Option<errorwatch_core::billing::stripe::Stripe>,
    ) -> Self {
        let IngestParts {
            spool,
            outcomes,
            quotas,
        } = ingest;
        let schema = build_schema(
            ServerInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                database: match db.kind() {
                    DatabaseKind::Sqlite => "sqlite".to_owned(),
                    DatabaseKind::Postgres => "postgres".to_owned(),
                },
                billing_enabled: stripe.is_some(),
                email_by_smtp: config.mail.smtp_url.is_some(),
            },
            errorwatch_graphql::billing::BillingSettings {
                default_plan: config.billing.default_plan.clone(),
            },
            errorwatch_graphql::alerts::AlertSettings {
                allow_private_targets: config.alerts.allow_private_targets,
            },
            errorwatch_graphql::reprocess::ReprocessSettings {
                maps: Arc::new(errorwatch_core::digest::symbolicate::Symbolicator::new(
                    &config.artifacts,
                )),
            },
        );
        let per_minute = std::num::NonZeroU32::new(config.auth.api_requests_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN);
        Self(Arc::new(AppStateInner {
            api_limiter: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                per_minute,
            ))),
            outcomes,
            auth,
            schema,
            keys: Arc::new(KeyCache::new(db.clone())),
            limits: Arc::new(IngestLimits::new(
                config
                    .billing
                    .ingest_ip_rate_per_minute
                    .and_then(|n| Rate::new(i32::try_from(n).ok(), i32::try_from(n / 10).ok())),
            )),
            quotas,
            stripe,
            config,
            db,
            metrics,
            queue,
            spool,
        }))
    }
}

/// `GET /graphql`: the GraphiQL explorer, pointed at this server's endpoint.
async fn graphiql(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Html<String> {
    let endpoint = format!("{}/graphql", state.config.http.base_path());
    axum::response::Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint(&endpoint)
            .subscription_endpoint(&format!("{endpoint}/ws"))
            .title("ErrorWatch GraphQL")
            .finish(),
    )
}

/// CORS as Relay does it: any origin, preflight without auth, the SDK headers allowed (with
/// `sentry-trace` and `baggage` for tracing-enabled browser SDKs), the rate-limit headers exposed.
fn ingest_cors() -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method};
    let allowed = [
        "x-sentry-auth",
        "x-requested-with",
        "x-forwarded-for",
        "origin",
        "referer",
        "accept",
        "content-type",
        "authentication",
        "authorization",
        "content-encoding",
        "transfer-encoding",
        "sentry-trace",
        "baggage",
    ];
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(allowed.map(HeaderName::from_static))
        .expose_headers(
            ["x-sentry-error", "x-sentry-rate-limits", "retry-after"].map(HeaderName::from_static),
        )
        .max_age(std::time::Duration::from_secs(3600))
}

/// The application's routes, mounted under the public URL's base path when it has one.
pub fn router(state: AppState) -> Router {
    let base_path = state.config.http.base_path().to_owned();
    let state_for_root = state.clone();
    let ingest_routes = Router::new()
        .route("/api/{project}/envelope/", post(ingest::envelope))
        .route("/api/{project}/envelope", post(ingest::envelope))
        .route("/api/{project}/store/", post(ingest::store))
        .route("/api/{project}/store", post(ingest::store))
        .route("/api/{project}/security/", post(ingest_other::security))
        .route("/api/{project}/security", post(ingest_other::security))
        .route("/api/{project}/csp-report/", post(ingest_other::security))
        .route("/api/{project}/csp-report", post(ingest_other::security))
        .route("/api/{project}/minidump/", post(ingest_other::minidump))
        .route("/api/{project}/minidump", post(ingest_other::minidump))
        .route(
            "/api/{project}/events/{event_id}/attachments/",
            post(ingest_other::attachments),
        )
        .route(
            "/api/{project}/events/{event_id}/attachments",
            post(ingest_other::attachments),
        )
        // Multipart uploads (minidumps, attachments) may be as large as Relay allows.
        .layer(axum::extract::DefaultBodyLimit::max(
            ingest::MAX_COMPRESSED_BYTES.max(100 * 1024 * 1024),
        ))
        .layer(ingest_cors());
    let app = Router::new()
        .merge(ingest_routes)
        .nest("/api/0", sentry_api::routes())
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/stripe/webhook",
            post(stripe::webhook).layer(axum::extract::DefaultBodyLimit::max(
                stripe::MAX_PAYLOAD_BYTES,
            )),
        )
        .route("/graphql/ws", get(graphql::ws))
        // Under `/graphql`, where the session cookies go (`Attachment.downloadUrl` names them).
        .route(
            &format!("/{DOWNLOAD_PATH}/attachments/{{id}}"),
            get(download::attachment),
        )
        .route(
            &format!("/{DOWNLOAD_PATH}/events/{{id}}"),
            get(download::event),
        )
        .route(
            "/graphql",
            get(graphiql)
                .post(graphql::post)
                .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024)),
        )
        // Any other path under /api/ is an API 404, never the dashboard's HTML.
        .fallback_service(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(
                    sentry_api::api_paths_are_not_pages,
                ))
                .service(static_files::service(&state.config.http.frontend_dir)),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    let app = if base_path.is_empty() {
        app
    } else {
        // Health checks stay reachable at the root for load balancers, and sentry-cli only
        // talks to `/api/0/` at the host's root (it refuses a base URL with a path).
        Router::new()
            .route("/health/live", get(health::live))
            .nest("/api/0", sentry_api::routes().with_state(state_for_root))
            .nest(&base_path, app)
    };
    app.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &axum::http::Request<_>| {
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        tracing::info_span!(
                            "http",
                            http.method = %request.method(),
                            http.path = %request.uri().path(),
                            request.id = %request_id,
                        )
                    })
                    .on_failure(log_failure),
            )
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}

/// A 5xx answer is an error in the log, except 503: ingest's back-pressure (`Retry-After`) is
/// how the server sheds an overload, and an error line per refused request (hundreds of
/// thousands a minute under `bench --overload`) would bury the real ones and cost CPU while
/// shedding. They stay counted: in the HTTP metrics by status, and as `rate_limited` /
/// `backpressure` outcomes of the project.
fn log_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    let latency_ms = latency.as_millis();
    match class {
        ServerErrorsFailureClass::StatusCode(status)
            if status == axum::http::StatusCode::SERVICE_UNAVAILABLE =>
        {
            tracing::debug!(classification = %class, latency_ms, "response failed");
        }
        _ => tracing::error!(classification = %class, latency_ms, "response failed"),
    }
}
