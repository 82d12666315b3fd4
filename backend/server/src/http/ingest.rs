//! Sentry-compatible ingest endpoints (`/api/{project}/envelope/`, `/api/{project}/store/`).
//!
//! Hot path: authenticate from the in-memory key cache, read the body with a cap, decompress
//! with a cap (a bomb costs at most the cap), parse the envelope (so nothing malformed is
//! stored), and hand it to the spool, whose group commit is the only thing awaited. Answers
//! follow the Sentry protocol: `200 {"id": …}` (or `{}`), and 400/401/403/413/503 with a JSON
//! `detail` and an `X-Sentry-Error` header.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use errorwatch_core::billing::quota::QuotaLimit;
use errorwatch_core::billing::usage::envelope_usage;
use errorwatch_core::ingest::admission::{Admission, Malformed, Refused, Sender};
use errorwatch_core::ingest::auth::{self, AuthError, AuthSource};
use errorwatch_core::ingest::category::DataCategory;
use errorwatch_core::ingest::decompress::{ContentEncoding, DecompressError, decompress};
use errorwatch_core::ingest::envelope::{
    Envelope, EnvelopeError, EventId, Item, ItemType, Limits, parse_envelope_bytes,
    parse_store_body,
};
use errorwatch_core::ingest::key_limit::Limited;
use errorwatch_core::service::ingest::ProjectKeyInfo;
use errorwatch_core::spool::SpoolBody;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use super::AppState;

/// Largest request body accepted, compressed (Relay: 20 MB).
pub const MAX_COMPRESSED_BYTES: usize = 20 * 1024 * 1024;
/// Largest envelope accepted after decompression (Relay: 100 MB).
pub const MAX_DECOMPRESSED_BYTES: usize = 100 * 1024 * 1024;
/// Bodies above this are decompressed and parsed off the async executor.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// An ingest failure, mapped to the Sentry protocol's status codes.
#[derive(Debug)]
pub enum IngestError {
    /// 400: malformed request.
    BadRequest(String),
    /// 401: no credentials.
    Unauthorized(String),
    /// 403: wrong or disabled key, wrong project.
    Forbidden(String),
    /// 413: over a size limit.
    TooLarge(String),
    /// 429 (a rate limit or the quota), 503 (the spool is behind) or 500: the admission
    /// policy refused the request.
    Refused(Refused),
    /// 500: storing failed.
    Internal,
}

impl From<Refused> for IngestError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Internal => IngestError::Internal,
            other => IngestError::Refused(other),
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (retry_after, rate_limits) = match &self {
            IngestError::Refused(refused) => {
                (refused.retry_after_secs(), refused.rate_limits_header())
            }
            _ => (None, None),
        };
        let (status, detail) = match self {
            IngestError::BadRequest(d) => (StatusCode::BAD_REQUEST, d),
            IngestError::Unauthorized(d) => (StatusCode::UNAUTHORIZED, d),
            IngestError::Forbidden(d) => (StatusCode::FORBIDDEN, d),
            IngestError::TooLarge(d) => (StatusCode::PAYLOAD_TOO_LARGE, d),
            IngestError::Refused(Refused::RateLimited { limited, .. }) => (
                StatusCode::TOO_MANY_REQUESTS,
                match limited {
                    Limited::Key => "this DSN key's rate limit is exceeded",
                    Limited::Spike => {
                        "this project is sending more than its plan's spike protection allows"
                    }
                    Limited::Ip => "this client IP is sending too fast",
                }
                .to_owned(),
            ),
            IngestError::Refused(Refused::OverQuota(limit)) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "the account's {} quota for this billing period is used up",
                    limit.categories.join(", ")
                ),
            ),
            IngestError::Refused(Refused::Unavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ingest is busy; retry shortly".to_owned(),
            ),
            IngestError::Refused(Refused::Internal) | IngestError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not store the event".to_owned(),
            ),
        };
        let mut response = (status, Json(json!({ "detail": detail }))).into_response();
        // Header values must be visible ASCII; replace anything else.
        let header_text: String = detail
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&header_text) {
            response.headers_mut().insert("x-sentry-error", value);
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(value) = rate_limits.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert("x-sentry-rate-limits", value);
        }
        response
    }
}

impl From<EnvelopeError> for IngestError {
    fn from(error: EnvelopeError) -> Self {
        if error.is_too_large() {
            IngestError::TooLarge(error.to_string())
        } else {
            IngestError::BadRequest(error.to_string())
        }
    }
}

impl From<DecompressError> for IngestError {
    fn from(error: DecompressError) -> Self {
        match error {
            DecompressError::TooLarge { .. } => IngestError::TooLarge(error.to_string()),
            other => IngestError::BadRequest(other.to_string()),
        }
    }
}

/// `POST /api/{project}/envelope/`.
pub(crate) async fn envelope(
    State(state): State<AppState>,
    request: IngestRequest,
    body: Body,
) -> Result<Response, IngestError> {
    // Keys from headers or the query are checked before the body is read.
    let early = match request.auth_sources.is_empty() {
        true => None,
        false => Some(authenticate(&state, &request, &request.auth_sources).await?),
    };
    // Overloaded: refuse before decompressing and parsing a body that would be refused anyway
    // (keeps memory flat under a flood). The body is read and dropped chunk by chunk, so the
    // connection stays usable for the SDK's retry.
    let admission = admission(&state);
    if admission.is_full() {
        drain(body).await;
        return Err(admission.overloaded(early.as_ref().map(sender)).into());
    }
    let decoded = request
        .decode(body, |bytes| {
            parse_envelope_bytes(bytes, &Limits::default())
        })
        .await;
    let decoded = decoded.and_then(|(bytes, envelope)| {
        validate_event_json(&envelope)?;
        Ok((bytes, envelope))
    });
    let (bytes, envelope) = match decoded {
        Ok(decoded) => decoded,
        Err(error) => {
            if let Some(info) = &early {
                record_drop(&admission, info, &error);
            }
            return Err(error);
        }
    };
    // The envelope's own `dsn` header may authenticate, and must agree with the others.
    let info = match envelope.dsn() {
        Some(dsn) => {
            let mut sources = request.auth_sources.clone();
            sources.push((AuthSource::EnvelopeDsn, dsn.to_owned()));
            authenticate(&state, &request, &sources).await?
        }
        None => early.ok_or_else(|| auth_error(AuthError::Missing))?,
    };
    let event_id = envelope.event_id()?;
    let usage = envelope_usage(&envelope);
    // Not held (with the decompressed body its payloads point into) while the commit is awaited.
    drop(envelope);
    // Stored as it came (compressed bodies stay compressed; the digest decodes them).
    let body = SpoolBody::as_received(request.encoding, bytes);
    let limit = admit(&state, &request, &info, body, &usage).await?;
    Ok(with_limit(answer(event_id), limit))
}

/// `POST /api/{project}/store/`: one event as JSON, wrapped into an envelope.
pub(crate) async fn store(
    State(state): State<AppState>,
    request: IngestRequest,
    body: Body,
) -> Result<Response, IngestError> {
    let info = authenticate(&state, &request, &request.auth_sources).await?;
    let (_, event) = match request.decode(body, |bytes| parse_store_body(&bytes)).await {
        Ok(decoded) => decoded,
        Err(error) => {
            record_drop(&admission(&state), &info, &error);
            return Err(error);
        }
    };
    let event_id = event
        .get("event_id")
        .and_then(|v| v.as_str())
        .map(EventId::parse)
        .transpose()
        .map_err(|e| IngestError::BadRequest(e.to_string()))?
        .unwrap_or_else(EventId::new_random);
    let payload = serde_json::to_vec(&event).map_err(|_| IngestError::Internal)?;
    let wrapped = envelope_with(event_id, vec![item(ItemType::Event, Map::new(), payload)]);
    let usage = [(DataCategory::Error, 1)];
    let limit = admit(&state, &request, &info, SpoolBody::plain(&wrapped), &usage).await?;
    Ok(with_limit(answer(Some(event_id)), limit))
}

/// Event and transaction payloads must be JSON objects: Relay refuses the envelope otherwise,
/// and storing it would only defer the failure to the digest.
fn validate_event_json(envelope: &Envelope) -> Result<(), IngestError> {
    for item in envelope
        .items
        .iter()
        .filter(|i| matches!(i.ty, ItemType::Event | ItemType::Transaction))
    {
        let starts_as_object =
            item.payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(&item.payload);
        if !starts_as_object || parsed.is_err() {
            let why = parsed
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "not an object".to_owned());
            return Err(IngestError::BadRequest(format!(
                "the {} item is not a JSON object: {why}",
                item.ty.as_str()
            )));
        }
    }
    Ok(())
}

/// Counts a request dropped after authentication (malformed or too large).
fn record_drop(admission: &Admission<'_>, info: &ProjectKeyInfo, error: &IngestError) {
    let malformed = match error {
        IngestError::TooLarge(_) => Malformed::TooLarge,
        IngestError::BadRequest(_) => Malformed::Invalid,
        _ => return,
    };
    admission.malformed(sender(info), malformed);
}

/// An item for an envelope built on the server's side.
pub(crate) fn item(ty: ItemType, headers: Map<String, Value>, payload: Vec<u8>) -> Item {
    Item {
        headers,
        ty,
        payload: bytes::Bytes::from(payload),
    }
}

/// An envelope with `event_id` in its header.
pub(crate) fn built_envelope(event_id: EventId, items: Vec<Item>) -> Envelope {
    let mut headers = Map::new();
    headers.insert("event_id".to_owned(), json!(event_id.to_string()));
    Envelope { headers, items }
}

/// Serializes an envelope with `event_id` in its header.
pub(crate) fn envelope_with(event_id: EventId, items: Vec<Item>) -> Vec<u8> {
    built_envelope(event_id, items).to_vec()
}

/// Reads and drops a request body (up to the compressed cap) without keeping it.
async fn drain(body: Body) {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len());
        if seen > MAX_COMPRESSED_BYTES {
            return;
        }
    }
}

/// Adds `X-Sentry-Rate-Limits` to a 200 once a quota is used up, so SDKs stop sending.
pub(crate) fn with_limit(mut response: Response, limit: Option<QuotaLimit>) -> Response {
    if let Some(value) = limit.and_then(|l| HeaderValue::from_str(&l.header()).ok()) {
        response.headers_mut().insert("x-sentry-rate-limits", value);
    }
    response
}

fn answer(event_id: Option<EventId>) -> Response {
    match event_id {
        Some(id) => Json(json!({ "id": id.to_string() })).into_response(),
        None => Json(json!({})).into_response(),
    }
}

/// The parts of an ingest request every endpoint needs.
pub(crate) struct IngestRequest {
    /// The `{event_id}` path segment, on routes that have one.
    pub(crate) event_id: Option<String>,
    project_id: i64,
    client_ip: String,
    pub(crate) auth_sources: Vec<(AuthSource, String)>,
    encoding: ContentEncoding,
}

/// Every ingest handler starts from the same request parts: the path (`{project}`, maybe
/// `{event_id}`), the peer address, and the auth-bearing query and headers.
impl<S: Send + Sync> FromRequestParts<S> for IngestRequest {
    type Rejection = IngestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| IngestError::BadRequest(format!("invalid path: {e}")))?;
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(|_| IngestError::Internal)?;
        let project = params
            .get("project")
            .map(String::as_str)
            .unwrap_or_default();
        let mut request = Self::read(project, peer, parts.uri.query(), &parts.headers)?;
        request.event_id = params.get("event_id").cloned();
        Ok(request)
    }
}

impl IngestRequest {
    pub(crate) fn read(
        project: &str,
        peer: SocketAddr,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Self, IngestError> {
        let project_id: i64 = project.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
            IngestError::BadRequest(format!("invalid project id {project:?} in the URL"))
        })?;
        let mut auth_sources = Vec::new();
        if let Some(value) = headers.get("x-sentry-auth") {
            let value = value
                .to_str()
                .map_err(|_| IngestError::BadRequest("X-Sentry-Auth is not ASCII".to_owned()))?;
            let parsed = auth::parse_auth_header(value).map_err(auth_error)?;
            auth_sources.push((AuthSource::Header, parsed.public_key));
        }
        if let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            && value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("sentry ")
        {
            let parsed = auth::parse_auth_header(value).map_err(auth_error)?;
            auth_sources.push((AuthSource::Authorization, parsed.public_key));
        }
        if let Some(query) = query
            && let Some(parsed) = auth::parse_auth_query(query)
        {
            auth_sources.push((AuthSource::Query, parsed.public_key));
        }
        let encoding = ContentEncoding::from_header(
            headers
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        )?;
        Ok(Self {
            event_id: None,
            project_id,
            client_ip: peer.ip().to_string(),
            auth_sources,
            encoding,
        })
    }

    /// Reads the body (capped), decompresses (capped) and parses with `parse`, off the executor
    /// for large bodies; returns the body as received and the parse result.
    async fn decode<T: Send + 'static>(
        &self,
        body: Body,
        parse: impl FnOnce(bytes::Bytes) -> Result<T, EnvelopeError> + Send + 'static,
    ) -> Result<(bytes::Bytes, T), IngestError> {
        let body = axum::body::to_bytes(body, MAX_COMPRESSED_BYTES)
            .await
            .map_err(|e| {
                if std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                {
                    IngestError::TooLarge(format!(
                        "the request body exceeds {MAX_COMPRESSED_BYTES} bytes"
                    ))
                } else {
                    IngestError::BadRequest(format!("could not read the request body: {e}"))
                }
            })?;
        if body.is_empty() {
            return Err(IngestError::BadRequest("empty request body".to_owned()));
        }
        let encoding = self.encoding;
        let large = body.len() > BLOCKING_THRESHOLD;
        let work = move || -> Result<(bytes::Bytes, T), IngestError> {
            // Item payloads are slices of the (decompressed) body, not copies.
            let parsed = match encoding {
                ContentEncoding::Identity => parse(body.clone())?,
                other => parse(decompress(other, &body, MAX_DECOMPRESSED_BYTES)?.into())?,
            };
            Ok((body, parsed))
        };
        if large {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|_| IngestError::Internal)?
        } else {
            work()
        }
    }
}

fn auth_error(error: AuthError) -> IngestError {
    match error {
        AuthError::Missing => IngestError::Unauthorized(
            "missing authentication: send X-Sentry-Auth, ?sentry_key= or a dsn in the envelope header".to_owned(),
        ),
        other => IngestError::Forbidden(other.to_string()),
    }
}

fn key_prefix(key: &str) -> String {
    key.chars().take(8).collect::<String>() + "…"
}

/// Resolves the request's key and checks it against the project in the URL.
pub(crate) async fn authenticate(
    state: &AppState,
    request: &IngestRequest,
    sources: &[(AuthSource, String)],
) -> Result<ProjectKeyInfo, IngestError> {
    let public_key = auth::resolve_key(sources).map_err(auth_error)?;
    let info = state.keys.lookup(&public_key).await.map_err(|e| {
        tracing::error!(error = %e, "key lookup failed");
        IngestError::Internal
    })?;
    let Some(info) = info else {
        return Err(IngestError::Forbidden(format!(
            "unknown DSN key {} for project {}: check the DSN in your SDK setup",
            key_prefix(&public_key),
            request.project_id
        )));
    };
    if info.project_id.0 != request.project_id {
        return Err(IngestError::Forbidden(format!(
            "DSN key {} does not belong to project {} in the URL: check the DSN in your SDK setup",
            key_prefix(&public_key),
            request.project_id
        )));
    }
    if !info.is_active {
        return Err(IngestError::Forbidden(format!(
            "DSN key {} is disabled",
            key_prefix(&public_key)
        )));
    }
    Ok(info)
}

/// The admission policy over this process' limits, quotas, spool and outcomes.
fn admission(state: &AppState) -> Admission<'_> {
    Admission {
        limits: &state.limits,
        quotas: &state.quotas,
        spool: &state.spool,
        outcomes: &state.outcomes,
    }
}

/// What the admission policy needs of a resolved key.
fn sender(info: &ProjectKeyInfo) -> Sender {
    Sender {
        account_id: info.account_id,
        project_id: info.project_id,
        key_id: info.key_id,
        key_rate_per_minute: info.rate_limit_per_minute,
    }
}

/// Rate limits, quota, then the durable write (the only thing the request waits for), as
/// [`Admission::admit`] decides. `usage` is what the envelope counts for; on a 200 the
/// exhausted quotas (if any) are returned for the header.
pub(crate) async fn admit(
    state: &AppState,
    request: &IngestRequest,
    info: &ProjectKeyInfo,
    body: SpoolBody,
    usage: &[(DataCategory, i64)],
) -> Result<Option<QuotaLimit>, IngestError> {
    let admitted = admission(state)
        .admit(sender(info), &request.client_ip, usage, body)
        .await?;
    Ok(admitted.limit)
}
