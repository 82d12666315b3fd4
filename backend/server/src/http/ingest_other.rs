//! The other Sentry ingest endpoints: CSP reports (`/api/{project}/security/` and
//! `/api/{project}/csp-report/`), native crash uploads (`/api/{project}/minidump/`), and
//! attachments sent after their event (`/api/{project}/events/{event_id}/attachments/`).
//! Each builds an envelope and goes through the same authentication and spool as
//! `/envelope/`, so digest and outcomes treat them alike.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use errorwatch_core::ingest::envelope::{EventId, Item, ItemType, Limits};
use errorwatch_core::ingest::security::{MAX_CSP_REPORT_BYTES, csp_reports_to_events};
use serde_json::{Map, Value, json};

use super::AppState;
use super::ingest::{
    IngestError, IngestRequest, admit, authenticate, built_envelope, envelope_with, item,
    with_limit,
};
use errorwatch_core::billing::usage::envelope_usage;
use errorwatch_core::ingest::category::DataCategory;
use errorwatch_core::spool::SpoolBody;

/// `POST /api/{project}/security/` and `/csp-report/`: every CSP violation becomes an event.
pub(crate) async fn security(
    State(state): State<AppState>,
    request: IngestRequest,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngestError> {
    let info = authenticate(&state, &request, &request.auth_sources).await?;
    let body = axum::body::to_bytes(body, MAX_CSP_REPORT_BYTES)
        .await
        .map_err(|_| {
            IngestError::TooLarge(format!(
                "CSP reports are limited to {MAX_CSP_REPORT_BYTES} bytes"
            ))
        })?;
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let events =
        csp_reports_to_events(&body, agent).map_err(|e| IngestError::BadRequest(e.to_string()))?;
    let mut last = None;
    for event in events {
        let event_id = EventId::new_random();
        let payload = serde_json::to_vec(&event).map_err(|_| IngestError::Internal)?;
        let bytes = envelope_with(event_id, vec![item(ItemType::Event, Map::new(), payload)]);
        let usage = [(DataCategory::Security, 1)];
        admit(&state, &request, &info, SpoolBody::plain(&bytes), &usage).await?;
        last = Some(event_id);
    }
    Ok(match last {
        Some(id) => Json(json!({ "id": id.to_string() })).into_response(),
        None => Json(json!({})).into_response(),
    })
}

/// One uploaded file of a multipart request.
struct Upload {
    field: String,
    filename: String,
    content_type: Option<String>,
    data: Vec<u8>,
}

async fn read_multipart(
    mut multipart: Multipart,
    max_total: usize,
) -> Result<(Vec<Upload>, Map<String, Value>), IngestError> {
    let mut uploads = Vec::new();
    let mut fields = Map::new();
    let mut total = 0usize;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| IngestError::BadRequest(format!("invalid multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.map_err(|e| {
            IngestError::BadRequest(format!("invalid multipart field {name:?}: {e}"))
        })?;
        total += data.len();
        if total > max_total {
            return Err(IngestError::TooLarge(format!(
                "the upload exceeds {max_total} bytes"
            )));
        }
        match filename {
            Some(filename) => uploads.push(Upload {
                field: name,
                filename,
                content_type,
                data: data.to_vec(),
            }),
            None => {
                fields.insert(name, json!(String::from_utf8_lossy(&data)));
            }
        }
    }
    Ok((uploads, fields))
}

fn attachment_item(upload: Upload, attachment_type: &str) -> Item {
    let mut headers = Map::new();
    headers.insert("filename".to_owned(), json!(upload.filename));
    headers.insert("attachment_type".to_owned(), json!(attachment_type));
    if let Some(content_type) = upload.content_type {
        headers.insert("content_type".to_owned(), json!(content_type));
    }
    item(ItemType::Attachment, headers, upload.data)
}

/// `POST /api/{project}/minidump/`: a crash dump (`upload_file_minidump`) becomes a fatal
/// event with the dump attached; a `sentry` form field may carry event JSON to merge in.
/// The dump itself is stored, not processed.
pub(crate) async fn minidump(
    State(state): State<AppState>,
    request: IngestRequest,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, IngestError> {
    // Authenticate before judging the body, so a foreign key learns nothing from the answer.
    let info = authenticate(&state, &request, &request.auth_sources).await?;
    let multipart = multipart.map_err(|e| IngestError::BadRequest(e.body_text()))?;
    let limits = Limits::default();
    let (uploads, fields) = read_multipart(multipart, limits.max_attachment_size).await?;
    let mut dump = None;
    let mut others = Vec::new();
    for upload in uploads {
        if upload.field == "upload_file_minidump" && dump.is_none() {
            dump = Some(upload);
        } else {
            others.push(upload);
        }
    }
    let Some(dump) = dump else {
        return Err(IngestError::BadRequest(
            "missing the upload_file_minidump file field".to_owned(),
        ));
    };
    if !dump.data.starts_with(b"MDMP") && !dump.data.starts_with(b"PMDM") {
        return Err(IngestError::BadRequest(
            "upload_file_minidump is not a minidump (no MDMP signature)".to_owned(),
        ));
    }
    let mut event = match fields.get("sentry").and_then(Value::as_str) {
        Some(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(IngestError::BadRequest(
                    "the sentry field is not a JSON object".to_owned(),
                ));
            }
        },
        None => Map::new(),
    };
    let event_id = event
        .get("event_id")
        .and_then(Value::as_str)
        .map(EventId::parse)
        .transpose()
        .map_err(|e| IngestError::BadRequest(e.to_string()))?
        .unwrap_or_else(EventId::new_random);
    event.insert("event_id".to_owned(), json!(event_id.to_string()));
    event.entry("level").or_insert(json!("fatal"));
    event.entry("platform").or_insert(json!("native"));
    event.entry("exception").or_insert(json!({"values": [{
        "type": "Minidump",
        "value": "Crash report (minidump, not processed)",
        "mechanism": {"type": "minidump", "handled": false, "synthetic": true}
    }]}));
    let payload = serde_json::to_vec(&Value::Object(event)).map_err(|_| IngestError::Internal)?;
    let mut items = vec![
        item(ItemType::Event, Map::new(), payload),
        attachment_item(dump, "event.minidump"),
    ];
    items.extend(
        others
            .into_iter()
            .map(|u| attachment_item(u, "event.attachment")),
    );
    let envelope = built_envelope(event_id, items);
    let usage = envelope_usage(&envelope);
    let limit = admit(
        &state,
        &request,
        &info,
        SpoolBody::plain(&envelope.to_vec()),
        &usage,
    )
    .await?;
    Ok(with_limit(
        Json(json!({ "id": event_id.to_string() })).into_response(),
        limit,
    ))
}

/// `POST /api/{project}/events/{event_id}/attachments/`: files for an event sent earlier.
pub(crate) async fn attachments(
    State(state): State<AppState>,
    request: IngestRequest,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, IngestError> {
    let event_id = request.event_id.clone().unwrap_or_default();
    let info = authenticate(&state, &request, &request.auth_sources).await?;
    let multipart = multipart.map_err(|e| IngestError::BadRequest(e.body_text()))?;
    let event_id = EventId::parse(&event_id).map_err(|e| IngestError::BadRequest(e.to_string()))?;
    let (uploads, _) = read_multipart(multipart, Limits::default().max_attachment_size).await?;
    if uploads.is_empty() {
        return Err(IngestError::BadRequest(
            "no file in the multipart body".to_owned(),
        ));
    }
    let items = uploads
        .into_iter()
        .map(|u| attachment_item(u, "event.attachment"))
        .collect();
    let envelope = built_envelope(event_id, items);
    let usage = envelope_usage(&envelope);
    let limit = admit(
        &state,
        &request,
        &info,
        SpoolBody::plain(&envelope.to_vec()),
        &usage,
    )
    .await?;
    Ok(with_limit(
        (axum::http::StatusCode::CREATED, Json(json!({}))).into_response(),
        limit,
    ))
}
