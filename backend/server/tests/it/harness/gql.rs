//! A GraphQL client for tests: a browser (cookie jar + CSRF header, like the dashboard) or an
//! integration (`Authorization: Bearer`).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::TestApp;

/// One client identity.
pub struct Gql {
    endpoint: String,
    http: reqwest::Client,
    jar: Mutex<HashMap<String, String>>,
    bearer: Option<String>,
    /// Sent as `User-Agent`.
    pub user_agent: String,
}

impl Gql {
    /// A browser with no cookies yet.
    pub fn browser(app: &TestApp) -> Self {
        Self {
            endpoint: app.url("/graphql"),
            http: app.client.clone(),
            jar: Mutex::new(HashMap::new()),
            bearer: None,
            user_agent: "errorwatch-tests/1".to_owned(),
        }
    }

    /// An integration with an API token.
    pub fn token(app: &TestApp, token: &str) -> Self {
        let mut client = Self::browser(app);
        client.bearer = Some(token.to_owned());
        client
    }

    /// The jar's value of a cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().expect("jar").get(name).cloned()
    }

    /// Sets or removes (`None`) a cookie by hand.
    pub fn set_cookie(&self, name: &str, value: Option<&str>) {
        let mut jar = self.jar.lock().expect("jar");
        match value {
            Some(v) => {
                jar.insert(name.to_owned(), v.to_owned());
            }
            None => {
                jar.remove(name);
            }
        }
    }

    /// A copy of this browser (same cookies), e.g. a second tab or a thief.
    pub fn clone_browser(&self) -> Self {
        Self {
            endpoint: self.endpoint.clone(),
            http: self.http.clone(),
            jar: Mutex::new(self.jar.lock().expect("jar").clone()),
            bearer: self.bearer.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    /// This browser (same cookies and token) talking to another server of the same database,
    /// as a load balancer would send it.
    pub fn at(&self, app: &TestApp) -> Self {
        Self {
            endpoint: app.url("/graphql"),
            ..self.clone_browser()
        }
    }

    /// The jar as a `Cookie` header value.
    fn cookie_header(&self) -> String {
        let jar = self.jar.lock().expect("jar");
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends a request without the CSRF header (to test the check).
    pub async fn raw(&self, query: &str, variables: Value, csrf: bool) -> (u16, Value) {
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("user-agent", &self.user_agent)
            .json(&json!({"query": query, "variables": variables}));
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        if csrf && let Some(token) = self.cookie("ew_csrf") {
            request = request.header("x-csrf-token", token);
        }
        let cookies = self.cookie_header();
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        let response = request.send().await.expect("graphql request");
        let status = response.status().as_u16();
        {
            let mut jar = self.jar.lock().expect("jar");
            for value in response.headers().get_all("set-cookie") {
                let value = value.to_str().expect("ascii cookie");
                let pair = value.split(';').next().unwrap_or_default();
                let (name, v) = pair.split_once('=').expect("name=value");
                let expired = value.contains("Max-Age=0");
                if expired || v.is_empty() {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), v.to_owned());
                }
            }
        }
        let body: Value = response.json().await.expect("json body");
        (status, body)
    }

    /// `GET url` as this client: a link the browser follows (its cookies, no CSRF header) or
    /// an integration's request (`Authorization: Bearer`).
    pub async fn download(&self, url: &str) -> reqwest::Response {
        let mut request = self.http.get(url).header("user-agent", &self.user_agent);
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        let cookies = self.cookie_header();
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        request.send().await.expect("download request")
    }

    /// The whole response body.
    pub async fn exec(&self, query: &str, variables: Value) -> Value {
        self.raw(query, variables, true).await.1
    }

    /// `data`, asserting there were no errors.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.exec(query, variables).await;
        assert!(
            body.get("errors").is_none(),
            "unexpected errors for {query}: {body:#}"
        );
        body["data"].clone()
    }

    /// The first error's `extensions.code`, asserting there was one.
    pub async fn err(&self, query: &str, variables: Value) -> String {
        let body = self.exec(query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error for {query}: {body:#}"))
            .to_owned()
    }
}

/// Signs up through the API, verifies through the emailed link and returns the signed-in
/// browser.
pub async fn sign_up(app: &TestApp, email: &str) -> Gql {
    let browser = Gql::browser(app);
    let data = browser
        .ok(
            "mutation($e: String!) { signUp(email: $e, password: \"correct horse battery\") { status } }",
            json!({"e": email}),
        )
        .await;
    assert_eq!(data["signUp"]["status"], "VERIFICATION_SENT");
    let mail = app.smtp.wait_for(email, "Verify your email", 1).await;
    let token = mail.token("verify-email");
    browser
        .ok(
            "mutation($t: String!) { verifyEmail(token: $t) { email emailVerified } }",
            json!({"t": token}),
        )
        .await;
    browser
}

/// Signs up `email` and creates an account named `account`; returns the browser and the
/// account's id.
pub async fn user_with_account(app: &TestApp, email: &str, account: &str) -> (Gql, String) {
    let browser = sign_up(app, email).await;
    let data = browser
        .ok(
            "mutation($n: String!) { createAccount(name: $n) { id } }",
            json!({"n": account}),
        )
        .await;
    let id = data["createAccount"]["id"].as_str().expect("id").to_owned();
    (browser, id)
}
