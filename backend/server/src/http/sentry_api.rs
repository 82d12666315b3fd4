//! The part of Sentry's web API (`/api/0/…`) that sentry-cli 2.x and 3.x and the bundler
//! plugins call: releases, deploys, chunk upload, artifact-bundle assembly, legacy release
//! files. Facts: `../shared/reference/sentry-protocol-2.md` §1.
//!
//! - Organization = account slug, project = project slug. Authentication by an API token
//!   (`Authorization: Bearer ewt_…`); another account's slug answers 404, like a missing one.
//! - Errors are Sentry's: a status with `{"detail": "…"}`. Nothing here redirects.
//! - Unknown paths under `/api/` answer 404 with a JSON detail (never the dashboard's HTML).

use axum::Router;
use axum::body::Bytes;
use std::collections::BTreeMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use errorwatch_core::ids::{ProjectId, ReleaseId};
use errorwatch_core::scope::{AccountScope, Principal};

use errorwatch_core::service::artifacts::{self, AssembleRequest, AssembleState, ChunkPart};
use errorwatch_core::service::project::{self, ProjectRef};
use errorwatch_core::service::releases::{self, DeployFields, Release, ReleaseFields};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;

/// The routes, to be mounted at `/api/0`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(api_root))
        .route(
            "/organizations/{org}/releases/",
            get(org_releases).post(org_create_release),
        )
        .route(
            "/organizations/{org}/releases/{version}/",
            get(org_release)
                .put(org_update_release)
                .delete(org_delete_release),
        )
        .route(
            "/organizations/{org}/releases/{version}/deploys/",
            get(list_deploys).post(create_deploy),
        )
        .route(
            "/organizations/{org}/releases/{version}/previous-with-commits/",
            get(previous_with_commits),
        )
        .route("/organizations/{org}/repos/", get(repos))
        .route(
            "/organizations/{org}/chunk-upload/",
            get(chunk_options).post(chunk_upload),
        )
        .route(
            "/organizations/{org}/artifactbundle/assemble/",
            post(assemble_bundle),
        )
        .route(
            "/organizations/{org}/releases/{version}/assemble/",
            post(release_assemble),
        )
        .route(
            "/projects/{org}/{project}/releases/{version}/files/",
            get(list_release_files).post(upload_release_file),
        )
        .route(
            "/projects/{org}/{project}/releases/{version}/files/{file}/",
            delete(delete_release_file),
        )
        .route(
            "/projects/{org}/{project}/releases/",
            get(project_releases).post(project_create_release),
        )
        .route(
            "/projects/{org}/{project}/releases/{version}/",
            get(project_release)
                .put(project_update_release)
                .delete(project_delete_release),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            artifacts::MAX_REQUEST_SIZE + 1024 * 1024,
        ))
}

/// In front of the dashboard's files: a path under `/api/` no route took is an API 404 with a
/// JSON detail, never the dashboard's HTML (which would confuse every API client).
pub async fn api_paths_are_not_pages(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return not_found().await;
    }
    next.run(request).await
}

/// Any other path under `/api/`: a JSON 404.
pub async fn not_found() -> Response {
    detail(
        StatusCode::NOT_FOUND,
        "The requested resource does not exist",
    )
}

fn detail(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "detail": message }))).into_response()
}

/// A failed API call (boxed: a `Response` is large and most results are `Ok`).
struct ApiError(Box<Response>);

impl ApiError {
    fn new(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<errorwatch_core::Error> for ApiError {
    fn from(error: errorwatch_core::Error) -> Self {
        use errorwatch_core::Error;
        let response = match &error {
            Error::NotFound => detail(
                StatusCode::NOT_FOUND,
                "The requested resource does not exist",
            ),
            Error::Unauthenticated(message) => detail(StatusCode::UNAUTHORIZED, message),
            Error::Forbidden => detail(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action (the token needs the releases, write or admin scope).",
            ),
            Error::Validation { field, message } => {
                detail(StatusCode::BAD_REQUEST, &format!("{field}: {message}"))
            }
            Error::Conflict(message) => detail(StatusCode::CONFLICT, message),
            Error::PlanLimit(message) => detail(StatusCode::PAYLOAD_TOO_LARGE, message),
            Error::RateLimited { .. } => detail(StatusCode::TOO_MANY_REQUESTS, "too many requests"),
            Error::BillingDisabled => detail(
                StatusCode::NOT_FOUND,
                "The requested resource does not exist",
            ),
            Error::Internal(e) => {
                tracing::error!(error = %e, "sentry api");
                detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; it was logged",
                )
            }
        };
        ApiError::new(response)
    }
}

type ApiResult = Result<Response, ApiError>;

fn bad_request(message: impl AsRef<str>) -> ApiError {
    ApiError::new(detail(StatusCode::BAD_REQUEST, message.as_ref()))
}

/// The token's principal; 401 without one.
async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(bearer) = super::graphql::bearer_token(headers) else {
        return Err(ApiError::new(detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided (send Authorization: Bearer <ErrorWatch API token>).",
        )));
    };
    Ok(state.auth.authenticate_token(bearer).await?)
}

/// The caller's scope in the account `org`; 404 for another account's slug.
async fn org_scope(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
) -> Result<AccountScope, ApiError> {
    let principal = principal(state, headers).await?;
    Ok(errorwatch_core::service::account::scope_by_slug(&state.auth, &principal, org).await?)
}

/// The scope and the project `slug` of it; 404 when either is unknown.
async fn project_scope(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
    slug: &str,
) -> Result<(AccountScope, ProjectId), ApiError> {
    let scope = org_scope(state, headers, org).await?;
    let project = ProjectRef::by_slug(&project::project_refs(&scope).await?, slug)?;
    Ok((scope, project))
}

/// The projects a request body names (`projects`: slugs, or numeric ids as Sentry accepts);
/// `None` when it names none; 400 naming the unknown ones.
async fn body_projects(
    scope: &AccountScope,
    body: &Value,
) -> Result<Option<Vec<ProjectId>>, ApiError> {
    let names = match body.get("projects") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if items.is_empty() => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad_request("projects: must be a list of slugs")),
    };
    let refs = project::project_refs(scope).await?;
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        let slug = match name {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(bad_request("projects: must be slugs")),
        };
        match ProjectRef::by_slug(&refs, &slug) {
            Ok(id) => {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            Err(_) => unknown.push(slug),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::new(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "detail": format!("One or more projects are invalid: {}", unknown.join(", ")),
                    "error": "One or more projects are invalid",
                })),
            )
                .into_response(),
        ));
    }
    Ok(Some(out))
}

/// [`body_projects`] where the body must name at least one.
async fn required_projects(scope: &AccountScope, body: &Value) -> Result<Vec<ProjectId>, ApiError> {
    body_projects(scope, body)
        .await?
        .ok_or_else(|| bad_request("projects: required (at least one project slug)"))
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad_request("the body must be a JSON object"));
    }
    Ok(value)
}

fn opt_string(body: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_request(format!("{key}: must be a string"))),
    }
}

fn opt_date(body: &Value, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match opt_string(body, key)? {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(&raw)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| bad_request(format!("{key}: {raw:?} is not an ISO 8601 date"))),
    }
}

fn release_fields(body: &Value) -> Result<ReleaseFields, ApiError> {
    Ok(ReleaseFields {
        url: opt_string(body, "url")?,
        date_started: opt_date(body, "dateStarted")?,
        date_released: opt_date(body, "dateReleased")?,
    })
}

/// Sentry's ReleaseInfo for one version: its rows (at least one) and their deploys.
fn release_json(rows: &[Release], deploys: &[releases::Deploy], projects: &[ProjectRef]) -> Value {
    let first = &rows[0];
    let min_date = |f: fn(&Release) -> Option<DateTime<Utc>>| rows.iter().filter_map(f).min();
    let max_date = |f: fn(&Release) -> Option<DateTime<Utc>>| rows.iter().filter_map(f).max();
    json!({
        "id": first.id.0,
        "version": first.version,
        "shortVersion": first.version,
        "ref": null,
        "url": rows.iter().find_map(|r| r.url.clone()),
        "dateCreated": rows.iter().map(|r| r.date_created).min(),
        "dateReleased": max_date(|r| r.date_released),
        "dateStarted": min_date(|r| r.date_started),
        "firstEvent": min_date(|r| r.first_event),
        "lastEvent": max_date(|r| r.last_event),
        "newGroups": rows.iter().map(|r| r.new_issues).sum::<i64>(),
        "data": {},
        "commitCount": 0,
        "lastCommit": null,
        "deployCount": deploys.len(),
        "lastDeploy": deploys.first().map(deploy_json),
        "authors": [],
        "projects": rows.iter().filter_map(|r| projects.iter().find(|p| p.id == r.project_id)).map(|p| json!({
            "id": p.id.0, "slug": p.slug, "name": p.name, "platform": p.platform,
        })).collect::<Vec<_>>(),
        "status": "open",
    })
}

/// The ReleaseInfo of one version's rows, as the single-release endpoints answer.
async fn release_info(scope: &AccountScope, rows: Vec<Release>) -> ApiResult {
    let groups = [rows];
    let deploys = releases::deploys_of(scope, &groups).await?;
    let projects = project::project_refs(scope).await?;
    Ok(axum::Json(release_json(&groups[0], &deploys[0], &projects)).into_response())
}

fn deploy_json(d: &releases::Deploy) -> Value {
    json!({
        "id": d.id.0.to_string(),
        "environment": d.environment,
        "name": d.name,
        "url": d.url,
        "dateStarted": d.date_started,
        "dateFinished": d.date_finished,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    query: Option<String>,
    cursor: Option<String>,
    per_page: Option<u64>,
}

async fn list_releases_json(
    scope: &AccountScope,
    projects: Option<&[ProjectId]>,
    q: &ListQuery,
) -> ApiResult {
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(ReleaseId(
            c.split(':')
                .next()
                .unwrap_or_default()
                .parse()
                .map_err(|_| bad_request("cursor: invalid"))?,
        )),
    };
    let (groups, next) = releases::list(
        scope,
        projects,
        q.query.as_deref(),
        before,
        q.per_page.unwrap_or(100),
    )
    .await?;
    let deploys = releases::deploys_of(scope, &groups).await?;
    let refs = project::project_refs(scope).await?;
    let out: Vec<Value> = groups
        .iter()
        .zip(&deploys)
        .map(|(rows, deploys)| release_json(rows, deploys, &refs))
        .collect();
    let mut response = axum::Json(Value::Array(out)).into_response();
    let link = match next {
        Some(ReleaseId(next)) => format!(
            "<?cursor=>; rel=\"previous\"; results=\"false\"; cursor=\"\", <?cursor={next}:0:0>; rel=\"next\"; results=\"true\"; cursor=\"{next}:0:0\""
        ),
        _ => "<?cursor=>; rel=\"previous\"; results=\"false\"; cursor=\"\", <?cursor=>; rel=\"next\"; results=\"false\"; cursor=\"\"".to_owned(),
    };
    if let Ok(value) = link.parse() {
        response.headers_mut().insert(header::LINK, value);
    }
    Ok(response)
}

async fn api_root(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let auth = match principal(&state, &headers).await {
        Ok(_) => json!({"scopes": ["org:ci", "project:releases", "project:read"]}),
        Err(_) => Value::Null,
    };
    Ok(axum::Json(json!({"version": "0", "auth": auth, "user": null})).into_response())
}

async fn create_release(scope: &AccountScope, projects: Vec<ProjectId>, body: &Value) -> ApiResult {
    let version = opt_string(body, "version")?.ok_or_else(|| bad_request("version: required"))?;
    let fields = release_fields(body)?;
    let existed = releases::get(scope, Some(&projects), &version)
        .await
        .is_ok();
    let rows = releases::upsert(scope, &projects, &version, &fields).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let info = release_info(scope, rows).await?;
    Ok((status, info).into_response())
}

async fn org_create_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    scope.require_releases()?;
    let body = parse_json(&body)?;
    let projects = required_projects(&scope, &body).await?;
    create_release(&scope, projects, &body).await
}

async fn project_create_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    scope.require_releases()?;
    let body = parse_json(&body)?;
    create_release(&scope, vec![project], &body).await
}

async fn org_releases(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    list_releases_json(&scope, None, &q).await
}

async fn project_releases(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    list_releases_json(&scope, Some(&[project]), &q).await
}

async fn org_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, version)): Path<(String, String)>,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    release_info(&scope, releases::get(&scope, None, &version).await?).await
}

async fn project_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug, version)): Path<(String, String, String)>,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    release_info(
        &scope,
        releases::get(&scope, Some(&[project]), &version).await?,
    )
    .await
}

async fn update_release(
    scope: &AccountScope,
    projects: Option<Vec<ProjectId>>,
    version: &str,
    body: &Value,
) -> ApiResult {
    scope.require_releases()?;
    let fields = release_fields(body)?;
    // `refs` and `commits` (set-commits) are accepted and not stored: ErrorWatch has no
    // repository integration yet.
    release_info(
        scope,
        releases::update(scope, projects.as_deref(), version, &fields).await?,
    )
    .await
}

async fn org_update_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, version)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    let body = parse_json(&body)?;
    let projects = body_projects(&scope, &body).await?;
    update_release(&scope, projects, &version, &body).await
}

async fn project_update_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug, version)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    let body = parse_json(&body)?;
    update_release(&scope, Some(vec![project]), &version, &body).await
}

async fn org_delete_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, version)): Path<(String, String)>,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    releases::delete(&scope, None, &version).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn project_delete_release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug, version)): Path<(String, String, String)>,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    releases::delete(&scope, Some(&[project]), &version).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create_deploy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, version)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    scope.require_releases()?;
    let body = parse_json(&body)?;
    let projects = body_projects(&scope, &body).await?;
    let fields = DeployFields {
        environment: opt_string(&body, "environment")?
            .ok_or_else(|| bad_request("environment: required"))?,
        name: opt_string(&body, "name")?,
        url: opt_string(&body, "url")?,
        date_started: opt_date(&body, "dateStarted")?,
        date_finished: opt_date(&body, "dateFinished")?,
    };
    let deploy = releases::create_deploy(&scope, projects.as_deref(), &version, &fields).await?;
    Ok((StatusCode::CREATED, axum::Json(deploy_json(&deploy))).into_response())
}

async fn list_deploys(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, version)): Path<(String, String)>,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    let deploys = releases::list_deploys(&scope, None, &version).await?;
    Ok(axum::Json(deploys.iter().map(deploy_json).collect::<Vec<_>>()).into_response())
}

async fn previous_with_commits(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, _version)): Path<(String, String)>,
) -> ApiResult {
    org_scope(&state, &headers, &org).await?;
    // No commits are stored: "no previous release with commits".
    Ok(axum::Json(json!({})).into_response())
}

async fn repos(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult {
    org_scope(&state, &headers, &org).await?;
    Ok(axum::Json(json!([])).into_response())
}

async fn chunk_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    scope.require_releases()?;
    // Relative, so a wrong public URL can never send chunks elsewhere (bugsink#262).
    let url = format!("/api/0/organizations/{org}/chunk-upload/");
    Ok(axum::Json(json!({
        "url": url,
        "chunkSize": artifacts::CHUNK_SIZE,
        "chunksPerRequest": artifacts::CHUNKS_PER_REQUEST,
        "maxRequestSize": artifacts::MAX_REQUEST_SIZE,
        "maxFileSize": artifacts::MAX_FILE_SIZE,
        "maxWait": 60,
        "hashAlgorithm": "sha1",
        "concurrency": 4,
        "compression": ["gzip"],
        "accept": ["release_files", "artifact_bundles", "artifact_bundles_v2", "sources"],
    }))
    .into_response())
}

async fn chunk_upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    scope.require_releases()?;
    let mut multipart =
        multipart.map_err(|e| bad_request(format!("expected multipart/form-data: {e}")))?;
    let mut parts = Vec::new();
    let mut total = 0usize;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_request(format!("bad multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let checksum = field.file_name().unwrap_or_default().to_owned();
        let data = field
            .bytes()
            .await
            .map_err(|e| bad_request(format!("bad multipart body: {e}")))?;
        total += data.len();
        if total > artifacts::MAX_REQUEST_SIZE {
            return Err(bad_request("Request too large"));
        }
        if parts.len() >= artifacts::CHUNKS_PER_REQUEST {
            return Err(bad_request("Too many chunks"));
        }
        parts.push(ChunkPart {
            field: name,
            checksum,
            data: data.to_vec(),
        });
    }
    artifacts::store_chunks(&scope, parts).await?;
    Ok(StatusCode::OK.into_response())
}

fn assemble_json(state: AssembleState) -> Response {
    let body = match state {
        AssembleState::Ok => json!({"state": "ok", "missingChunks": [], "detail": null}),
        AssembleState::NotFound(missing) => {
            json!({"state": "not_found", "missingChunks": missing, "detail": null})
        }
        AssembleState::Error(detail) => {
            json!({"state": "error", "missingChunks": [], "detail": detail})
        }
    };
    axum::Json(body).into_response()
}

fn checksums(body: &Value) -> Result<(String, Vec<String>), ApiError> {
    let checksum =
        opt_string(body, "checksum")?.ok_or_else(|| bad_request("checksum: required"))?;
    let chunks = match body.get("chunks") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad_request("chunks: must be checksums"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(bad_request("chunks: required (a list of checksums)")),
    };
    // Their form is the service's to check.
    Ok((checksum, chunks))
}

async fn assemble_bundle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    scope.require_releases()?;
    let body = parse_json(&body)?;
    let (checksum, chunks) = checksums(&body)?;
    let projects = required_projects(&scope, &body).await?;
    let version = opt_string(&body, "version")?.filter(|v| v != "undefined" && !v.is_empty());
    let dist = opt_string(&body, "dist")?.filter(|d| !d.is_empty());
    let outcome = artifacts::assemble_bundle(
        &scope,
        AssembleRequest {
            checksum,
            chunks,
            projects,
            version,
            dist,
            max_project_bytes: state.config.artifacts.max_project_bytes,
        },
    )
    .await?;
    Ok(assemble_json(outcome))
}

async fn release_assemble(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, version)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let scope = org_scope(&state, &headers, &org).await?;
    scope.require_releases()?;
    let body = parse_json(&body)?;
    let (checksum, chunks) = checksums(&body)?;
    // The legacy release bundle: the release must exist; its projects receive the files.
    let rows = releases::get(&scope, None, &version).await?;
    let projects = rows.iter().map(|r| r.project_id).collect();
    let outcome = artifacts::assemble_bundle(
        &scope,
        AssembleRequest {
            checksum,
            chunks,
            projects,
            version: Some(version),
            dist: opt_string(&body, "dist")?.filter(|d| !d.is_empty()),
            max_project_bytes: state.config.artifacts.max_project_bytes,
        },
    )
    .await?;
    Ok(assemble_json(outcome))
}

fn release_file_json(f: &artifacts::ReleaseFile) -> Value {
    json!({
        "id": f.id.to_string(),
        "name": f.name,
        "dist": f.dist,
        "headers": f.headers,
        "size": f.size,
        "sha1": f.sha1,
        "dateCreated": f.date_created,
    })
}

async fn list_release_files(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug, version)): Path<(String, String, String)>,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    releases::get(&scope, Some(&[project]), &version).await?;
    let files = artifacts::list_release_files(&scope, project, &version).await?;
    Ok(axum::Json(files.iter().map(release_file_json).collect::<Vec<_>>()).into_response())
}

async fn upload_release_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug, version)): Path<(String, String, String)>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    scope.require_releases()?;
    let mut multipart =
        multipart.map_err(|e| bad_request(format!("expected multipart/form-data: {e}")))?;
    let mut contents = None;
    let mut name = None;
    let mut file_name = None;
    let mut dist = None;
    let mut file_headers = BTreeMap::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_request(format!("bad multipart body: {e}")))?
    {
        let field_name = field.name().unwrap_or_default().to_owned();
        match field_name.as_str() {
            "file" => {
                file_name = field.file_name().map(str::to_owned);
                contents = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| bad_request(format!("bad multipart body: {e}")))?,
                );
            }
            "name" | "dist" | "header" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| bad_request(format!("bad multipart body: {e}")))?;
                match field_name.as_str() {
                    "name" => name = Some(text),
                    "dist" => dist = Some(text).filter(|d| !d.is_empty()),
                    _ => {
                        let Some((k, v)) = text.split_once(':') else {
                            return Err(bad_request("header: must be key:value"));
                        };
                        file_headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    let contents = contents.ok_or_else(|| bad_request("file: required"))?;
    let name = name
        .or(file_name)
        .ok_or_else(|| bad_request("name: required"))?;
    let file = artifacts::upload_release_file(
        &scope,
        project,
        &version,
        dist.as_deref(),
        &name,
        file_headers,
        contents.to_vec(),
        state.config.artifacts.max_project_bytes,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(release_file_json(&file))).into_response())
}

async fn delete_release_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, slug, _version, file)): Path<(String, String, String, String)>,
) -> ApiResult {
    let (scope, project) = project_scope(&state, &headers, &org, &slug).await?;
    let id = errorwatch_core::ids::ArtifactFileId(file.parse().map_err(|_| {
        ApiError::new(detail(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        ))
    })?);
    artifacts::delete_release_file(&scope, project, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
