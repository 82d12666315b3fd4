//! `/graphql`: authentication, CSRF, limits, then the schema.
//!
//! Credentials, in order: `Authorization: Bearer ewt_…` (API tokens; a bad one is 401, never
//! silently anonymous); else the session cookies (`ew_session` access JWT, `ew_refresh`
//! refresh token), which are only honoured with an `X-CSRF-Token` header carrying the session's
//! CSRF token (an HMAC of the session id under the server's secret, handed to the dashboard in
//! the readable `ew_csrf` cookie: another site can neither read it nor forge it, and
//! SameSite=Lax keeps the cookies off its POSTs anyway); else anonymous (sign-up, log-in and
//! the public queries still work). When the access token has expired, the refresh token is
//! rotated here and the new cookies ride on the response, unless the operation itself set
//! cookies (log in, log out), which then win.

use std::net::SocketAddr;

use async_graphql::BatchRequest;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use errorwatch_core::scope::Principal;
use errorwatch_core::service::auth::Client;
use errorwatch_graphql::context::{ACCESS_COOKIE, CSRF_HEADER, REFRESH_COOKIE};
use errorwatch_graphql::{CookieSettings, MAX_DOCUMENT_BYTES, RequestContext, prepare_request};

use super::AppState;

/// Requests per batch.
const MAX_BATCH: usize = 10;

/// Reads one cookie from the `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A GraphQL-shaped error response.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({
            "errors": [{"message": message, "extensions": {"code": code}}]
        })),
    )
        .into_response()
}

/// The cookie attributes for this installation.
pub fn cookie_settings(state: &AppState) -> CookieSettings {
    let base = state.config.http.base_path().to_owned();
    CookieSettings {
        secure: state.config.http.public_url.scheme() == "https",
        api_path: format!("{base}/graphql"),
        site_path: if base.is_empty() {
            "/".to_owned()
        } else {
            base
        },
    }
}

/// The client as seen by limits and the session list.
pub fn client(peer: SocketAddr, headers: &HeaderMap) -> Client {
    Client {
        ip: peer.ip(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(250)
            .collect(),
    }
}

/// Who sent a request to the API's HTTP surface, and the session cookies to send back with the
/// answer (after a rotation, or to forget a dead session).
pub struct Caller {
    /// The verified principal; `None` for an anonymous request.
    pub principal: Option<Principal>,
    /// `Set-Cookie` values for the response.
    pub set_cookies: Vec<String>,
}

/// Whether session cookies count only with the `X-CSRF-Token` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csrf {
    /// `POST /graphql`: anything may change, so another site must not be able to send it.
    Required,
    /// A plain `GET` link (a download): it changes nothing, another site cannot read the answer
    /// (no CORS), and SameSite=Lax keeps the cookies off its embedded requests.
    NotRequired,
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Authenticates a request: `Authorization: Bearer ewt_…` (a bad token is 401, never silently
/// anonymous), else the session cookies (rotated when the access token expired), else
/// anonymous. `Err` is the response to send instead.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    csrf: Csrf,
) -> Result<Caller, Response> {
    let cookies = cookie_settings(state);
    let mut set_cookies: Vec<String> = Vec::new();
    let bearer = bearer_token(headers);
    let internal = |e: errorwatch_core::Error, what: &str| {
        tracing::error!(error = %e, "authenticating {what}");
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; it was logged",
        )
    };
    if let Some(bearer) = bearer {
        return match state.auth.authenticate_token(bearer).await {
            Ok(principal) => Ok(Caller {
                principal: Some(principal),
                set_cookies,
            }),
            Err(errorwatch_core::Error::Unauthenticated(message)) => Err(error_response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                message,
            )),
            Err(e) => Err(internal(e, "an API token")),
        };
    }
    let access = cookie(headers, ACCESS_COOKIE);
    let refresh = cookie(headers, REFRESH_COOKIE);
    if access.is_none() && refresh.is_none() {
        return Ok(Caller {
            principal: None,
            set_cookies,
        });
    }
    let csrf_refused = || {
        error_response(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "missing or wrong X-CSRF-Token header (send the value of the ew_csrf cookie)",
        )
    };
    let csrf_header = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Checked before anything (a refresh rotates), and against the session below.
    if csrf == Csrf::Required && csrf_header.is_empty() {
        return Err(csrf_refused());
    }
    match state.auth.authenticate_session(access, refresh).await {
        Ok(Some((principal, rotated))) => {
            if csrf == Csrf::Required && !state.auth.csrf_matches(&principal, csrf_header) {
                return Err(csrf_refused());
            }
            if let Some(tokens) = rotated {
                set_cookies.extend(cookies.set(&tokens));
            }
            Ok(Caller {
                principal: Some(principal),
                set_cookies,
            })
        }
        Ok(None) => {
            // Expired, revoked or forged: forget the cookies, answer anonymously.
            set_cookies.extend(cookies.clear());
            Ok(Caller {
                principal: None,
                set_cookies,
            })
        }
        Err(e) => Err(internal(e, "a session")),
    }
}

/// The API's rate limit per principal (per API token, per user, anonymous requests per IP):
/// the 429 to send (with `Retry-After`) when over it.
pub fn rate_limit(
    state: &AppState,
    principal: Option<&Principal>,
    peer: SocketAddr,
) -> Option<Response> {
    let limit_key = match principal {
        Some(p) => match p.api_token() {
            Some((token, _, _)) => format!("token:{token}"),
            None => format!("user:{}", p.user_id()),
        },
        None => format!("ip:{}", peer.ip()),
    };
    let not_until = state.api_limiter.check_key(&limit_key).err()?;
    use governor::clock::{Clock, DefaultClock};
    let secs = not_until
        .wait_time_from(DefaultClock::default().now())
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64;
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(serde_json::json!({
            "errors": [{
                "message": format!("too many requests; retry in {secs} s"),
                "extensions": {"code": "RATE_LIMITED", "retryAfter": secs}
            }]
        })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Some(response)
}

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    batch: GraphQLBatchRequest,
) -> Response {
    let batch = batch.into_inner();
    let too_big = match &batch {
        BatchRequest::Single(r) => r.query.len() > MAX_DOCUMENT_BYTES,
        BatchRequest::Batch(rs) => {
            rs.len() > MAX_BATCH || rs.iter().any(|r| r.query.len() > MAX_DOCUMENT_BYTES)
        }
    };
    if too_big {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "VALIDATION",
            &format!(
                "documents are limited to {MAX_DOCUMENT_BYTES} bytes and batches to {MAX_BATCH} requests"
            ),
        );
    }
    let cookies = cookie_settings(&state);
    let Caller {
        principal,
        mut set_cookies,
    } = match authenticate(&state, &headers, Csrf::Required).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Some(response) = rate_limit(&state, principal.as_ref(), peer) {
        return response;
    }
    let context = RequestContext {
        auth: state.auth.clone(),
        principal,
        client: client(peer, &headers),
        public_url: state.config.http.public_url.clone(),
        queue: state.queue.clone(),
        cookies,
        stripe: state.stripe.clone(),
    };
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(prepare_request(r, context)),
        BatchRequest::Batch(rs) => BatchRequest::Batch(
            rs.into_iter()
                .map(|r| prepare_request(r, context.clone()))
                .collect(),
        ),
    };
    let mut result = state.schema.execute_batch(batch).await;
    match &mut result {
        async_graphql::BatchResponse::Single(r) => errorwatch_graphql::error::fill_codes(r),
        async_graphql::BatchResponse::Batch(rs) => rs
            .iter_mut()
            .for_each(errorwatch_graphql::error::fill_codes),
    }
    let mut response = GraphQLResponse::from(result).into_response();
    if response.headers().contains_key(header::SET_COOKIE) {
        // The operation signed in or out: its cookies win over a rotation's.
        set_cookies.clear();
    }
    for value in set_cookies {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /graphql/ws`: subscriptions over WebSocket (graphql-transport-ws, and the older
/// graphql-ws). Credentials come in the `connection_init` payload: `{"authorization": "Bearer
/// ewt_…"}` for integrations, or `{"csrfToken": "<ew_csrf>"}` together with the session cookie
/// the browser sent with the upgrade (the token proves the page is ours, as for POSTs). Bad
/// credentials close the connection; none leave it anonymous (subscribing then answers
/// UNAUTHENTICATED).
pub async fn ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let access = cookie(&headers, ACCESS_COOKIE).map(str::to_owned);
    let client = client(peer, &headers);
    let cookies = cookie_settings(&state);
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let schema = state.schema.clone();
            async_graphql_axum::GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let principal = ws_principal(&state, access.as_deref(), &payload).await?;
                    Ok(errorwatch_graphql::connection_data(RequestContext {
                        auth: state.auth.clone(),
                        principal,
                        client,
                        public_url: state.config.http.public_url.clone(),
                        queue: state.queue.clone(),
                        cookies,
                        stripe: state.stripe.clone(),
                    }))
                })
                .serve()
        })
}

async fn ws_principal(
    state: &AppState,
    access: Option<&str>,
    payload: &serde_json::Value,
) -> async_graphql::Result<Option<errorwatch_core::scope::Principal>> {
    use async_graphql::ErrorExtensions;
    let refuse = |message: &str| {
        async_graphql::Error::new(message.to_owned())
            .extend_with(|_, e| e.set("code", "UNAUTHENTICATED"))
    };
    if let Some(bearer) = payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))
        .and_then(serde_json::Value::as_str)
    {
        let token = bearer
            .trim()
            .strip_prefix("Bearer ")
            .unwrap_or(bearer)
            .trim();
        return match state.auth.authenticate_token(token).await {
            Ok(principal) => Ok(Some(principal)),
            Err(_) => Err(refuse("invalid or revoked API token")),
        };
    }
    let Some(access) = access else {
        return Ok(None);
    };
    let csrf = payload
        .get("csrfToken")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    match state.auth.authenticate_session(Some(access), None).await {
        Ok(Some((principal, _)))
            if state.auth.csrf_matches(&principal, csrf) && !csrf.is_empty() =>
        {
            Ok(Some(principal))
        }
        Ok(Some(_)) => Err(refuse("missing or wrong csrfToken in connection_init")),
        _ => Err(refuse(
            "the session expired; refresh it with a POST to /graphql first",
        )),
    }
}
