//! Downloads: `GET /graphql/download/attachments/{att_…}` (an attachment's bytes, any size) and
//! `GET /graphql/download/events/{evt_…}` (an event's normalized payload as a JSON file).
//!
//! They sit under `/graphql` because the session cookies are scoped to that path, so a plain
//! link in the dashboard carries them. Callers are authenticated as for the API (an API token
//! as `Authorization: Bearer`, else the session; no CSRF header, see [`Csrf::NotRequired`]) and
//! rate-limited with it; data is reached only through the `AccountScope` of the row's account,
//! so another account's id answers 404 like a missing one. An attachment is read from the
//! database a slice at a time as the client takes it, so a download of 100 MiB never holds
//! the whole file in memory. Answers are `Content-Disposition: attachment` with `nosniff` and a
//! sandboxing CSP, so a file an SDK sent is never rendered as a page of this site.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::locate::{self, Owned};
use errorwatch_core::service::{event, project_stats};
use errorwatch_graphql::ids::{Kind, from_id};

use super::AppState;
use super::graphql::{Caller, Csrf, authenticate, error_response, rate_limit};
use errorwatch_core::ids::{AttachmentId, EventRowId};

/// `GET /graphql/download/attachments/{id}`: the attachment's bytes with its content type.
pub async fn attachment(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (scope, number, set_cookies) =
        match resolve(&state, peer, &headers, &id, Kind::Attachment, |n| {
            Owned::Attachment(AttachmentId(n))
        })
        .await
        {
            Ok(found) => found,
            Err(response) => return response,
        };
    let info =
        match project_stats::attachment_info(&scope, errorwatch_core::ids::AttachmentId(number))
            .await
        {
            Ok(info) => info,
            Err(e) => return domain_error(e),
        };
    let size = info.size;
    let slice_len = project_stats::download_slice_len(size);
    let body = futures::stream::try_unfold(0_i64, move |offset| {
        let scope = scope.clone();
        async move {
            if offset >= size {
                return Ok(None);
            }
            let bytes = project_stats::attachment_slice(
                &scope,
                errorwatch_core::ids::AttachmentId(number),
                offset,
                slice_len,
            )
            .await
            .map_err(|e| {
                tracing::warn!(attachment.id = number, error = %e, "attachment download cut short");
                std::io::Error::other(e.to_string())
            })?;
            if bytes.is_empty() {
                // Shorter than its recorded size: end the response as failed, not as complete.
                return Err(std::io::Error::other("attachment shorter than its size"));
            }
            let next = offset + bytes.len() as i64;
            Ok(Some((Bytes::from(bytes), next)))
        }
    });
    let content_type = info
        .content_type
        .as_deref()
        .filter(|t| is_mime_type(t))
        .unwrap_or("application/octet-stream");
    file_response(
        Body::from_stream(body),
        content_type,
        &info.filename,
        Some(size),
        set_cookies,
    )
}

/// `GET /graphql/download/events/{id}`: the normalized event, pretty-printed JSON.
pub async fn event(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (scope, number, set_cookies) =
        match resolve(&state, peer, &headers, &id, Kind::Event, |n| {
            Owned::Event(EventRowId(n))
        })
        .await
        {
            Ok(found) => found,
            Err(response) => return response,
        };
    let (summary, payload) = match event::get_event(&scope, EventRowId(number)).await {
        Ok(found) => found,
        Err(e) => return domain_error(e),
    };
    let json = match serde_json::to_vec_pretty(&payload) {
        Ok(json) => json,
        Err(e) => return domain_error(anyhow::Error::new(e).into()),
    };
    let length = json.len() as i64;
    file_response(
        Body::from(json),
        "application/json",
        &format!("event-{}.json", summary.event_id),
        Some(length),
        set_cookies,
    )
}

/// Authenticates the caller and finds the scope of the account owning `id` (a global id of
/// `kind`, the row `owned`); returns it with the row number and the cookies to send back.
async fn resolve(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    id: &str,
    kind: Kind,
    owned: fn(i64) -> Owned,
) -> Result<(AccountScope, i64, Vec<String>), Response> {
    let Caller {
        principal,
        set_cookies,
    } = authenticate(state, headers, Csrf::NotRequired).await?;
    if let Some(response) = rate_limit(state, principal.as_ref(), peer) {
        return Err(response);
    }
    let Some(principal) = principal else {
        return Err(error_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "sign in or send an API token (Authorization: Bearer ewt_…)",
        ));
    };
    let number = from_id(kind, &async_graphql::ID(id.to_owned()))
        .map_err(|e| error_response(StatusCode::BAD_REQUEST, "VALIDATION", &e.message))?;
    let scope = locate::scope_of(&state.db, &principal, owned(number))
        .await
        .map_err(domain_error)?;
    Ok((scope, number, set_cookies))
}

/// A domain error as a GraphQL-shaped answer with its status.
fn domain_error(error: errorwatch_core::Error) -> Response {
    use errorwatch_core::Error;
    let (status, code) = match &error {
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        Error::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        Error::Forbidden => (StatusCode::FORBIDDEN, "FORBIDDEN"),
        Error::Validation { .. } | Error::Conflict(_) => (StatusCode::BAD_REQUEST, "VALIDATION"),
        Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        Error::PlanLimit(_) => (StatusCode::PAYMENT_REQUIRED, "PLAN_LIMIT"),
        Error::BillingDisabled => (StatusCode::NOT_FOUND, "BILLING_DISABLED"),
        Error::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "internal error in a download");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error; it was logged",
            );
        }
    };
    error_response(status, code, &error.to_string())
}

/// A file answer: its type, its name for the browser's save dialog, and the headers that keep
/// it from being shown as a page.
fn file_response(
    body: Body,
    content_type: &str,
    filename: &str,
    length: Option<i64>,
    set_cookies: Vec<String>,
) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&content_disposition(filename)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    for cookie in set_cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `type/subtype`, optionally with parameters, in printable ASCII (the SDK chose it).
fn is_mime_type(value: &str) -> bool {
    if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return false;
    }
    let essence = value.split(';').next().unwrap_or_default().trim();
    let mut parts = essence.splitn(2, '/');
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!((parts.next(), parts.next()), (Some(kind), Some(sub)) if token(kind) && token(sub))
}

/// `attachment` with the name twice: an ASCII fallback, and the exact UTF-8 name (RFC 6266).
fn content_disposition(filename: &str) -> String {
    let name = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = if name.trim().is_empty() {
        "download"
    } else {
        name
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_in_the_header() {
        assert_eq!(
            content_disposition("cart.json"),
            "attachment; filename=\"cart.json\"; filename*=UTF-8''cart.json"
        );
        assert_eq!(
            content_disposition("../etc/\"x\";.txt"),
            "attachment; filename=\"_x__.txt\"; filename*=UTF-8''%22x%22%3B.txt"
        );
        assert_eq!(
            content_disposition("résumé 1.pdf"),
            "attachment; filename=\"r_sum_ 1.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf"
        );
        assert_eq!(
            content_disposition(""),
            "attachment; filename=\"download\"; filename*=UTF-8''download"
        );
    }

    #[test]
    fn only_plain_mime_types_are_echoed() {
        assert!(is_mime_type("application/json"));
        assert!(is_mime_type("image/svg+xml"));
        assert!(!is_mime_type("text/html\r\nx: y"));
        assert!(!is_mime_type("json"));
        assert!(!is_mime_type("text/"));
        assert!(is_mime_type("text/plain; charset=utf-8"));
    }
}
