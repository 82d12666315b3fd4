//! `POST /stripe/webhook`: Stripe's events. The signature is checked on the raw body before
//! anything is parsed; the event is then recorded once (with the job that applies it, in one
//! transaction) and answered 200 at once, so Stripe never waits on our own calls to its API.
//!
//! Answers: 404 where billing is off (self-hosted, or no Stripe key); 400 for a missing or
//! wrong signature, a timestamp outside the tolerance, or a body that is not an event (nothing
//! is stored); 200 for a recorded event, a redelivery, or a type we do not handle; 500 when the
//! database cannot take it (Stripe retries).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use errorwatch_core::billing::webhook::{self, WebhookError};
use serde_json::{Value, json};

use super::AppState;

/// Largest accepted event (Stripe's are a few KiB).
pub const MAX_PAYLOAD_BYTES: usize = 512 * 1024;

fn refuse(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
}

/// `POST /stripe/webhook`.
#[tracing::instrument(skip_all, fields(event.id, event.kind))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let Some(stripe) = &state.stripe else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "billing is not enabled on this server",
        );
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let verified = webhook::verify_signature(
        &body,
        signature,
        stripe.webhook_secret().expose(),
        chrono::Utc::now(),
    )
    .and_then(|()| webhook::parse_event(&body));
    let event = match verified {
        Ok(event) => event,
        Err(e) => {
            tracing::debug!(error = %e, "Stripe webhook refused");
            let code = match e {
                WebhookError::BadPayload(_) => "bad_payload",
                _ => "bad_signature",
            };
            return refuse(StatusCode::BAD_REQUEST, code, &e.to_string());
        }
    };
    let span = tracing::Span::current();
    span.record("event.id", event.id.as_str());
    span.record("event.kind", event.event_type.as_str());
    match webhook::record_event(&state.db, &event, &body).await {
        Ok(inserted) => {
            tracing::info!(
                redelivery = !inserted,
                "Stripe event {} {}",
                event.event_type,
                if inserted {
                    "recorded"
                } else {
                    "already recorded"
                }
            );
            (StatusCode::OK, Json(json!({"received": true})))
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot record a Stripe event");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the event could not be stored; Stripe will retry",
            )
        }
    }
}
