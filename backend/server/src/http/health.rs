//! Liveness and readiness. `live` answers as long as the process serves HTTP; `ready` also
//! requires the database to answer and every migration to be applied.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// `GET /health/live`: 200 while the process runs.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /health/ready`: 200 when the database is reachable and migrated, else 503 with why.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": "unreachable"})),
        );
    }
    match crate::app::migrations_applied(&state.db).await {
        Ok(true) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok", "migrations": "applied"})),
        ),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": "ok", "migrations": "pending"})),
        ),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "readiness: cannot read migration state"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "ok", "migrations": "unknown"})),
            )
        }
    }
}
