//! Stripe webhooks: the signature check and the durable record.
//!
//! `Stripe-Signature` is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` where each `v1` may be
//! `HMAC-SHA256(secret, "{t}.{raw body}")` (several while a secret is being rolled). A request
//! passes when one of them matches (compared in constant time) and `t` is within
//! [`TOLERANCE`] of now, so a captured request cannot be replayed later.
//!
//! Invariant: an event is recorded in `stripe_events` exactly once (its id is the key), and a
//! handled one in the same transaction as the [`crate::jobs::billing::ApplyStripeEvent`] job
//! that applies it; a redelivery inserts nothing and queues nothing.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::db::{Db, Pool};
use crate::jobs::billing::ApplyStripeEvent;

/// Largest accepted difference between the signature's timestamp and now.
pub const TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::seconds(300);

/// Event types that change an account's billing state; others are recorded and ignored.
pub const HANDLED: [&str; 6] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
];

/// Why a webhook request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No `Stripe-Signature`, or one without `t=` or `v1=`.
    #[error("missing or malformed Stripe-Signature header")]
    MalformedHeader,
    /// No `v1` signature matches.
    #[error("no signature matches the payload")]
    BadSignature,
    /// `t=` is too old (a replay?) or in the future.
    #[error("the signature's timestamp is outside the {} s tolerance", TOLERANCE.num_seconds())]
    OutsideTolerance,
    /// The body is not a Stripe event.
    #[error("the payload is not a Stripe event: {0}")]
    BadPayload(&'static str),
}

/// Checks `header` (the `Stripe-Signature` value) against the raw `payload`.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let mut timestamp: Option<&str> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            // A malformed candidate cannot match; the others still may.
            "v1" => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(WebhookError::MalformedHeader);
    };
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| WebhookError::MalformedHeader)?;
    if signatures.is_empty() {
        return Err(WebhookError::MalformedHeader);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| WebhookError::BadSignature)?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    // `verify_slice` compares in constant time.
    if !signatures
        .iter()
        .any(|signature| mac.clone().verify_slice(signature).is_ok())
    {
        return Err(WebhookError::BadSignature);
    }
    let signed_at = DateTime::from_timestamp(seconds, 0).ok_or(WebhookError::OutsideTolerance)?;
    if (now - signed_at).abs() > TOLERANCE {
        return Err(WebhookError::OutsideTolerance);
    }
    Ok(())
}

/// The envelope of an event (what is stored; the object itself is re-read from Stripe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// `evt_…`.
    pub id: String,
    /// `customer.subscription.updated`, …
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    /// `data.object.id`.
    pub object_id: Option<String>,
}

/// Reads the envelope of a verified payload.
pub fn parse_event(payload: &[u8]) -> Result<EventHeader, WebhookError> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|_| WebhookError::BadPayload("not JSON"))?;
    let text = |field: &str| value.get(field).and_then(Value::as_str);
    let id = text("id")
        .filter(|id| id.starts_with("evt_") && id.len() <= 255)
        .ok_or(WebhookError::BadPayload("no event id"))?;
    let event_type = text("type")
        .filter(|t| !t.is_empty() && t.len() <= 100)
        .ok_or(WebhookError::BadPayload("no event type"))?;
    let created = value
        .get("created")
        .and_then(Value::as_i64)
        .ok_or(WebhookError::BadPayload("no creation time"))?;
    let object_id = value
        .pointer("/data/object/id")
        .and_then(Value::as_str)
        .filter(|id| id.len() <= 255)
        .map(str::to_owned);
    Ok(EventHeader {
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        created,
        object_id,
    })
}

/// Stores a verified event once. A handled type is stored with its `ApplyStripeEvent` job in
/// one transaction; any other type is stored as processed. Returns false for a redelivery.
pub async fn record_event(db: &Db, event: &EventHeader, payload: &[u8]) -> anyhow::Result<bool> {
    let handled = HANDLED.contains(&event.event_type.as_str());
    let now = Utc::now();
    let processed_at = (!handled).then_some(now);
    let payload = String::from_utf8_lossy(payload).into_owned();
    let job = ApplyStripeEvent {
        event_id: event.id.clone(),
    };
    let inserted = match db.pool() {
        Pool::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let inserted = sqlx::query(
                "INSERT INTO stripe_events (event_id, event_type, created, object_id, payload, received_at, processed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&event.id)
            .bind(&event.event_type)
            .bind(event.created)
            .bind(&event.object_id)
            .bind(&payload)
            .bind(now)
            .bind(processed_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if inserted && handled {
                crate::jobs::enqueue_in_sqlite_tx(&mut tx, &job).await?;
            }
            tx.commit().await?;
            inserted
        }
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO stripe_events (event_id, event_type, created, object_id, payload, received_at, processed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&event.id)
            .bind(&event.event_type)
            .bind(event.created)
            .bind(&event.object_id)
            .bind(&payload)
            .bind(now)
            .bind(processed_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if inserted && handled {
                crate::jobs::enqueue_in_postgres_tx(&mut tx, &job).await?;
            }
            tx.commit().await?;
            inserted
        }
    };
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid","created":1}"#;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn check(header: &str, expect: Result<(), WebhookError>) {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        assert_eq!(
            verify_signature(BODY, header, SECRET, now),
            expect,
            "{header}"
        );
    }

    #[test]
    fn stripe_signatures_are_checked_on_the_raw_body_with_a_tolerance() {
        let t = 1_800_000_000;
        let good = sign(SECRET, t, BODY);
        let other = sign("whsec_other", t, BODY);
        check(&format!("t={t},v1={good}"), Ok(()));
        check(&format!("t={t},v1={other},v1={good},v0=abc"), Ok(()));
        check(&format!("t={t}, v1=zz, v1={good}"), Ok(()));
        check(
            &format!("t={t},v1={other}"),
            Err(WebhookError::BadSignature),
        );
        // The timestamp is signed: moving it breaks the signature.
        check(
            &format!("t={},v1={good}", t + 1),
            Err(WebhookError::BadSignature),
        );
        let old = t - 301;
        check(
            &format!("t={old},v1={}", sign(SECRET, old, BODY)),
            Err(WebhookError::OutsideTolerance),
        );
        let future = t + 301;
        check(
            &format!("t={future},v1={}", sign(SECRET, future, BODY)),
            Err(WebhookError::OutsideTolerance),
        );
        let edge = t - 300;
        check(&format!("t={edge},v1={}", sign(SECRET, edge, BODY)), Ok(()));
        for malformed in ["", "v1=abc", &format!("t={t}"), "t=soon,v1=00"] {
            check(malformed, Err(WebhookError::MalformedHeader));
        }
    }

    #[test]
    fn an_event_envelope_needs_an_id_a_type_and_a_time() {
        let event = parse_event(
            br#"{"id":"evt_1","type":"customer.subscription.updated","created":5,"data":{"object":{"id":"sub_1"}}}"#,
        )
        .expect("event");
        assert_eq!(event.object_id.as_deref(), Some("sub_1"));
        assert_eq!(event.created, 5);
        for bad in [
            &b"nope"[..],
            br#"{"type":"x","created":1}"#,
            br#"{"id":"evt_1","created":1}"#,
            br#"{"id":"evt_1","type":"x"}"#,
            br#"{"id":"cus_1","type":"x","created":1}"#,
        ] {
            assert!(
                parse_event(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
