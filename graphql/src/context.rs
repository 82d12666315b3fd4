//! What every request carries into the resolvers: the authentication service, who is asking
//! (a verified [`Principal`] or nobody), where from, and the cookie settings for mutations that
//! sign in or out. `scope(account)` is the only way a resolver reaches tenant data.

use async_graphql::Context;
use errorwatch_core::ids::AccountId;
use errorwatch_core::jobs::JobQueue;
use errorwatch_core::scope::{AccountScope, Principal};
use errorwatch_core::service::auth::{Auth, Client, SessionTokens};
use errorwatch_core::service::locate::Owned;

use crate::error::{GqlResult, OrGql, coded};

/// Cookie names and attributes of browser sessions.
#[derive(Clone, Debug)]
pub struct CookieSettings {
    /// Add `Secure` (the public URL is https).
    pub secure: bool,
    /// The path under which the API lives (`{base}/graphql`).
    pub api_path: String,
    /// The site's base path (for the CSRF cookie the dashboard reads).
    pub site_path: String,
}

/// The access token cookie (httpOnly).
pub const ACCESS_COOKIE: &str = "ew_session";
/// The refresh token cookie (httpOnly).
pub const REFRESH_COOKIE: &str = "ew_refresh";
/// The CSRF cookie (readable by the dashboard, echoed in `X-CSRF-Token`): an HMAC of the
/// session id under the server's secret.
pub const CSRF_COOKIE: &str = "ew_csrf";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

impl CookieSettings {
    fn cookie(&self, name: &str, value: &str, max_age: i64, http_only: bool, path: &str) -> String {
        let mut cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
        if http_only {
            cookie.push_str("; HttpOnly");
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    /// `Set-Cookie` values for fresh session tokens and the session's CSRF token.
    pub fn set(&self, tokens: &SessionTokens) -> Vec<String> {
        let api = if self.api_path.is_empty() {
            "/"
        } else {
            &self.api_path
        };
        let site = if self.site_path.is_empty() {
            "/"
        } else {
            &self.site_path
        };
        let mut out = vec![self.cookie(
            ACCESS_COOKIE,
            &tokens.access,
            tokens.access_ttl_secs,
            true,
            api,
        )];
        if let Some(refresh) = &tokens.refresh {
            out.push(self.cookie(REFRESH_COOKIE, refresh, tokens.refresh_ttl_secs, true, api));
        }
        out.push(self.cookie(
            CSRF_COOKIE,
            &tokens.csrf,
            tokens.refresh_ttl_secs,
            false,
            site,
        ));
        out
    }

    /// `Set-Cookie` values that delete the session cookies.
    pub fn clear(&self) -> Vec<String> {
        let api = if self.api_path.is_empty() {
            "/"
        } else {
            &self.api_path
        };
        let site = if self.site_path.is_empty() {
            "/"
        } else {
            &self.site_path
        };
        vec![
            self.cookie(ACCESS_COOKIE, "", 0, true, api),
            self.cookie(REFRESH_COOKIE, "", 0, true, api),
            self.cookie(CSRF_COOKIE, "", 0, false, site),
        ]
    }
}

/// Per-request data.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The authentication service.
    pub auth: Auth,
    /// Who asks, if anyone.
    pub principal: Option<Principal>,
    /// Where from.
    pub client: Client,
    /// For DSNs and links.
    pub public_url: url::Url,
    /// For jobs started by mutations.
    pub queue: JobQueue,
    /// Session cookie attributes.
    pub cookies: CookieSettings,
    /// Stripe, when billing is on.
    pub stripe: Option<errorwatch_core::billing::stripe::Stripe>,
}

/// Context helpers for resolvers.
pub trait ContextExt {
    /// The request's data.
    fn request(&self) -> &RequestContext;
    /// The principal, or UNAUTHENTICATED.
    fn principal(&self) -> GqlResult<&Principal>;
    /// The scope for an account the principal can act in; NOT_FOUND otherwise.
    fn scope(&self, account: AccountId) -> impl Future<Output = GqlResult<AccountScope>> + Send;
    /// The scope for the account owning a row the principal names by id; NOT_FOUND when the row
    /// is missing or in an account the principal cannot reach.
    fn scope_of(&self, row: Owned) -> impl Future<Output = GqlResult<AccountScope>> + Send;
    /// Sets the session cookies on the response.
    fn set_session_cookies(&self, tokens: &SessionTokens);
    /// Deletes the session cookies.
    fn clear_session_cookies(&self);
}

impl ContextExt for Context<'_> {
    fn request(&self) -> &RequestContext {
        self.data_unchecked::<RequestContext>()
    }

    fn principal(&self) -> GqlResult<&Principal> {
        self.request().principal.as_ref().ok_or_else(|| {
            coded(
                "UNAUTHENTICATED",
                "sign in or send an API token (Authorization: Bearer ewt_…)",
            )
        })
    }

    async fn scope(&self, account: AccountId) -> GqlResult<AccountScope> {
        let principal = self.principal()?;
        self.request().auth.scope(principal, account).await.gql()
    }

    async fn scope_of(&self, row: Owned) -> GqlResult<AccountScope> {
        let principal = self.principal()?;
        self.request().auth.scope_of(principal, row).await.gql()
    }

    fn set_session_cookies(&self, tokens: &SessionTokens) {
        for cookie in self.request().cookies.set(tokens) {
            self.append_http_header("set-cookie", cookie);
        }
    }

    fn clear_session_cookies(&self) {
        for cookie in self.request().cookies.clear() {
            self.append_http_header("set-cookie", cookie);
        }
    }
}
