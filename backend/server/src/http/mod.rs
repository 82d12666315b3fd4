//! The HTTP surface. Every route is declared in [`router`]; handlers live in the submodules.
//!
//! Layers, outermost first: request id (`x-request-id`, generated when absent, echoed back),
//! tracing span per request, metrics (by matched route, never raw path).

pub mod health;
pub mod metrics;
pub mod static_files;

use std::sync::Arc;

use async_graphql_axum::GraphQL;
use axum::Router;
use axum::routing::get;
use errorwatch_core::config::{Config, DatabaseKind};
use errorwatch_core::db::Db;
use errorwatch_core::jobs::JobQueue;
use errorwatch_core::metrics::Metrics;
use errorwatch_graphql::{ServerInfo, build_schema};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// Database.
    pub db: Db,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Job queue.
    pub queue: JobQueue,
}

impl AppState {
    /// Bundles the state.
    pub fn new(config: Arc<Config>, db: Db, metrics: Arc<Metrics>, queue: JobQueue) -> Self {
        Self {
            config,
            db,
            metrics,
            queue,
        }
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
            .title("ErrorWatch GraphQL")
            .finish(),
    )
}

/// The application's routes, mounted under the public URL's base path when it has one.
pub fn router(state: AppState) -> Router {
    let schema = build_schema(ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        database: match state.db.kind() {
            DatabaseKind::Sqlite => "sqlite".to_owned(),
            DatabaseKind::Postgres => "postgres".to_owned(),
        },
    });
    let base_path = state.config.http.base_path().to_owned();
    let app = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/graphql", get(graphiql).post_service(GraphQL::new(schema)))
        .fallback_service(static_files::service(&state.config.http.frontend_dir))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    let app = if base_path.is_empty() {
        app
    } else {
        // Health checks stay reachable at the root for load balancers.
        Router::new()
            .route("/health/live", get(health::live))
            .nest(&base_path, app)
    };
    app.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
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
                }),
            )
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}
