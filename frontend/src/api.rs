//! The GraphQL client: every request the dashboard makes goes through [`gql`] (POST `/graphql`
//! with the session cookies and the `X-CSRF-Token` header the API requires for them), and every
//! failure comes back as an [`ApiError`] carrying the API's `extensions.code`, so pages can show
//! it instead of a blank screen. The typed views of the answers live here too.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;

/// The API's endpoint, relative to the `<base href>` of `index.html`.
const ENDPOINT: &str = "graphql";

/// A failed request: a GraphQL error (with its `extensions.code`) or a transport failure
/// (`code` = `NETWORK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `VALIDATION`, `RATE_LIMITED`, `INTERNAL`,
    /// or `NETWORK` / `BAD_RESPONSE` for failures before the API answered.
    pub code: String,
    /// The message to show.
    pub message: String,
    /// For `VALIDATION`: the input field at fault.
    pub field: Option<String>,
}

impl ApiError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            field: None,
        }
    }

    /// Whether the viewer must sign in (again).
    pub fn is_unauthenticated(&self) -> bool {
        self.code == "UNAUTHENTICATED"
    }

    /// The error in words, without codes: a sentence for each code the API (or the
    /// transport) uses; for the codes whose message the server wrote for people (validation,
    /// plan limits, a refused log-in) that message as a sentence.
    pub fn sentence(&self) -> String {
        match self.code.as_str() {
            "NOT_FOUND" => "This does not exist, or you have no access to it.".to_owned(),
            "FORBIDDEN" => "Your role in this account does not allow this.".to_owned(),
            "UNAUTHENTICATED" => "Your session ended: log in again.".to_owned(),
            "RATE_LIMITED" => "Too many attempts: wait a moment and try again.".to_owned(),
            "NETWORK" => {
                "The server cannot be reached: check your connection and try again.".to_owned()
            }
            "BAD_RESPONSE" => {
                "The server's answer could not be read: reload the page and try again.".to_owned()
            }
            "INTERNAL" => {
                "Something went wrong on the server (it was logged): try again in a moment."
                    .to_owned()
            }
            _ => as_sentence(&self.message),
        }
    }

    /// A refused log-in (wrong email or password, an unverified address) in the server's
    /// words, instead of "your session ended".
    pub fn refused_login(self) -> Self {
        if self.is_unauthenticated() {
            Self {
                code: "LOGIN_REFUSED".to_owned(),
                ..self
            }
        } else {
            self
        }
    }
}

/// `text` with a closing full stop and a capital first letter, unless it starts with the
/// name of the input at fault (`url: must be …`), which keeps its spelling.
pub fn as_sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return "The request failed.".to_owned();
    };
    let names_a_field = text.split_once(": ").is_some_and(|(head, _)| {
        !head.is_empty() && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let mut out: String = if names_a_field {
        text.to_owned()
    } else {
        first.to_uppercase().chain(chars).collect()
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sentence())
    }
}

/// Splits a GraphQL response body into its `data` or its first error.
///
/// A response with errors is an error even when it carries partial data: the pages show one
/// state at a time.
pub fn parse_response(body: &str) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        ApiError::new(
            "BAD_RESPONSE",
            format!("the server's answer is not JSON: {e}"),
        )
    })?;
    if let Some(first) = value
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
    {
        let extensions = first.get("extensions");
        let text = |key: &str| {
            extensions
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        return Err(ApiError {
            code: text("code").unwrap_or_else(|| "INTERNAL".to_owned()),
            message: first
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("request failed")
                .to_owned(),
            field: text("field"),
        });
    }
    match value.get("data") {
        Some(data) if !data.is_null() => Ok(data.clone()),
        _ => Err(ApiError::new("BAD_RESPONSE", "the server sent no data")),
    }
}

/// The value of the cookie `name` in a `document.cookie` string.
pub fn cookie_value(cookies: &str, name: &str) -> Option<String> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// The CSRF token the server handed out in the readable `ew_csrf` cookie.
pub fn csrf_token() -> Option<String> {
    let document = web_sys::window()?
        .document()?
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()?;
    cookie_value(&document.cookie().ok()?, "ew_csrf")
}

/// Runs one GraphQL operation and returns its `data`.
pub async fn gql(query: &str, variables: Value) -> Result<Value, ApiError> {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let mut request =
        gloo_net::http::Request::post(ENDPOINT).header("content-type", "application/json");
    if let Some(token) = csrf_token() {
        request = request.header("x-csrf-token", &token);
    }
    let response = request
        .body(body)
        .map_err(|e| ApiError::new("NETWORK", e.to_string()))?
        .send()
        .await
        .map_err(|e| ApiError::new("NETWORK", format!("cannot reach the server: {e}")))?;
    let text = response
        .text()
        .await
        .map_err(|e| ApiError::new("NETWORK", e.to_string()))?;
    parse_response(&text)
}

/// Runs one operation and decodes the part of its `data` at `pointer` (a JSON pointer such as
/// `/account/members/nodes`) as `T`.
pub async fn query<T: DeserializeOwned>(
    query: &str,
    variables: Value,
    pointer: &str,
) -> Result<T, ApiError> {
    let data = gql(query, variables).await?;
    decode(data.pointer(pointer).cloned().unwrap_or(Value::Null))
}

/// The path (with its query) of a URL the API handed out, such as `Attachment.downloadUrl`:
/// a link to it then goes to the origin the dashboard was loaded from, with its cookies,
/// whatever host name the server's public URL uses.
pub fn local_path(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]).to_owned(),
        None => url.to_owned(),
    }
}

/// Decodes a JSON value into `T`, as a `BAD_RESPONSE` error when it does not fit.
pub fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::new("BAD_RESPONSE", format!("unexpected answer: {e}")))
}

/// The signed-in user.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// `usr_…`.
    pub id: String,
    /// Their address.
    pub email: String,
}

/// A project as the navigation needs it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    /// `prj_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The SDK platform picked at creation.
    pub platform: Option<String>,
}

/// An account the viewer belongs to, with its projects.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    /// `acc_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// URL-safe name (typed to confirm deleting the account).
    pub slug: String,
    /// The viewer's role here: `VIEWER`, `MEMBER`, `ADMIN` or `OWNER`.
    pub viewer_role: String,
    /// Its projects (first page).
    pub projects: Nodes<ProjectSummary>,
}

impl AccountSummary {
    /// Whether the viewer may act on issues (resolve, ignore, …): members and above.
    pub fn can_triage(&self) -> bool {
        self.viewer_role != "VIEWER"
    }

    /// Whether the viewer may manage members and projects: admins and owners.
    pub fn can_admin(&self) -> bool {
        matches!(self.viewer_role.as_str(), "ADMIN" | "OWNER")
    }
}

/// The `nodes` of a connection.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Nodes<T> {
    /// The items of this page.
    pub nodes: Vec<T>,
}

/// Who is signed in and where they belong.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Viewer {
    /// The user.
    pub user: User,
    /// Their accounts.
    pub accounts: Vec<AccountSummary>,
}

/// The query behind [`Viewer`].
pub const VIEWER_QUERY: &str = "query { viewer { user { id email } accounts { id name slug viewerRole \
     projects(first: 100) { nodes { id name platform } } } } }";

/// Loads the viewer (UNAUTHENTICATED when nobody is signed in).
pub async fn load_viewer() -> Result<Viewer, ApiError> {
    query(VIEWER_QUERY, json!({}), "/viewer").await
}

/// One row of an issue list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IssueRow {
    /// `iss_…`.
    pub id: String,
    /// Title (exception type and message, or the log message).
    pub title: String,
    /// Where it happened.
    pub culprit: Option<String>,
    /// `error`, `warning`, …
    pub level: String,
    /// `UNRESOLVED`, `RESOLVED`, `IGNORED`.
    pub status: String,
    /// How it was resolved: `now`, `in_release`, `in_next_release`.
    #[serde(default)]
    pub resolution: Option<String>,
    /// The release of an `in_release` resolution.
    #[serde(default)]
    pub resolved_in_release: Option<String>,
    /// While ignored until a time: that time (RFC 3339).
    #[serde(default)]
    pub ignored_until: Option<String>,
    /// While ignored until more events: how many more.
    #[serde(default)]
    pub ignored_until_more_events: Option<i64>,
    /// While ignored until more users: how many more.
    #[serde(default)]
    pub ignored_until_more_users: Option<i64>,
    /// Events.
    pub count: i64,
    /// Distinct users.
    pub user_count: i64,
    /// RFC 3339.
    pub first_seen: String,
    /// RFC 3339.
    pub last_seen: String,
    /// The project it belongs to.
    pub project: ProjectName,
}

/// A project's id and name.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ProjectName {
    /// `prj_…`.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The fields an issue row is drawn from (also asked of subscription payloads).
pub const ISSUE_ROW_FIELDS: &str = "id title culprit level status resolution resolvedInRelease \
     ignoredUntil ignoredUntilMoreEvents ignoredUntilMoreUsers count userCount firstSeen lastSeen \
     project { id name }";

/// A page of issues.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IssuePage {
    /// Issues matching the search, all pages.
    pub total_count: i64,
    /// This page.
    pub nodes: Vec<IssueRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_extensions_code_and_field() {
        let error = parse_response(
            r#"{"data":null,"errors":[{"message":"too short","extensions":{"code":"VALIDATION","field":"password"}}]}"#,
        )
        .expect_err("an error");
        assert_eq!(error.code, "VALIDATION");
        assert_eq!(error.message, "too short");
        assert_eq!(error.field.as_deref(), Some("password"));
    }

    #[test]
    fn errors_read_as_sentences_without_codes() {
        let error = |code: &str, message: &str| ApiError {
            code: code.into(),
            message: message.into(),
            field: None,
        };
        assert_eq!(
            error("NOT_FOUND", "not found").sentence(),
            "This does not exist, or you have no access to it."
        );
        assert_eq!(
            error("INTERNAL", "internal error; it was logged").to_string(),
            "Something went wrong on the server (it was logged): try again in a moment."
        );
        assert_eq!(
            error("VALIDATION", "url: must be an http(s) URL").sentence(),
            "url: must be an http(s) URL."
        );
        let wrong = error("UNAUTHENTICATED", "wrong email or password");
        assert_eq!(wrong.sentence(), "Your session ended: log in again.");
        assert_eq!(wrong.refused_login().sentence(), "Wrong email or password.");
        let other = error("RATE_LIMITED", "too many attempts; retry in 5 s").refused_login();
        assert_eq!(other.code, "RATE_LIMITED", "only a refusal is reworded");
        assert!(!other.to_string().contains("RATE_LIMITED"));
        assert_eq!(as_sentence(" "), "The request failed.");
    }

    #[test]
    fn an_error_without_a_code_is_internal() {
        let error = parse_response(r#"{"errors":[{"message":"boom"}]}"#).expect_err("an error");
        assert_eq!(error.code, "INTERNAL");
    }

    #[test]
    fn data_is_returned_and_garbage_is_a_bad_response() {
        assert_eq!(
            parse_response(r#"{"data":{"a":1}}"#).expect("data"),
            json!({"a": 1})
        );
        assert_eq!(
            parse_response("<html>").expect_err("an error").code,
            "BAD_RESPONSE"
        );
        assert_eq!(
            parse_response(r#"{"data":null}"#)
                .expect_err("an error")
                .code,
            "BAD_RESPONSE"
        );
    }

    #[test]
    fn links_keep_the_path_of_api_urls() {
        assert_eq!(
            local_path("http://errors.example:8000/sub/graphql/download/attachments/att_1"),
            "/sub/graphql/download/attachments/att_1"
        );
        assert_eq!(local_path("https://host"), "/");
        assert_eq!(local_path("/already/a/path"), "/already/a/path");
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let cookies = "ew_csrf_old=x; ew_csrf=abc.def; theme=dark";
        assert_eq!(cookie_value(cookies, "ew_csrf").as_deref(), Some("abc.def"));
        assert_eq!(cookie_value(cookies, "missing"), None);
        assert_eq!(cookie_value("ew_csrf=", "ew_csrf"), None);
    }

    #[test]
    fn roles_decide_what_the_viewer_may_do() {
        let account = |role: &str| AccountSummary {
            id: "acc_1".into(),
            name: "A".into(),
            slug: "a".into(),
            viewer_role: role.into(),
            projects: Nodes { nodes: vec![] },
        };
        assert!(!account("VIEWER").can_triage());
        assert!(account("MEMBER").can_triage());
        assert!(!account("MEMBER").can_admin());
        assert!(account("ADMIN").can_admin());
    }
}
