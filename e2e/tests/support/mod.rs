//! What the browser tests share: a `chromedriver` on a free port, a browser session with the
//! helpers journeys use (open, fill, click, wait for text, run GraphQL from the page,
//! screenshots that fail on sideways scrolling at phone width), and local HTTP receivers for
//! alert webhooks. `dashboard.rs` still has its own copy of the driver and browser helpers
//! (FIXME: move it onto this module).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use errorwatch_e2e::{chromium, free_port, repo_root};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long any one step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(30);

/// A `chromedriver` on a free loopback port; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub async fn start() -> Self {
        let binary =
            std::env::var_os("CHROMEDRIVER").unwrap_or_else(|| "/usr/bin/chromedriver".into());
        assert!(
            PathBuf::from(&binary).is_file(),
            "{} is missing: `apt-get install chromium-driver` (infra/test.sh does it)",
            PathBuf::from(&binary).display()
        );
        let port = free_port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + STEP;
        loop {
            if let Ok(response) = reqwest::get(format!("{}/status", driver.url)).await
                && response.status() == 200
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new browser session on the server at `base`, with its own profile, 1280 × 900.
    pub async fn browser(&self, base: &str) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a WebDriver session");
        Browser {
            client,
            base: base.to_owned(),
            _profile: profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser {
    pub client: Client,
    base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Loads `path` of the server (a full page load).
    pub async fn open(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.expect("navigate");
    }

    /// Logs in as `email` on the log-in page; returns the id of the account it lands in.
    pub async fn log_in(&self, email: &str, password: &str) -> String {
        self.open("/login").await;
        self.fill("#login-email", email).await;
        self.fill("#login-password", password).await;
        self.click("#login-form button[type=submit]").await;
        let path = self.wait_path("/acc_").await;
        path.trim_start_matches('/')
            .split('/')
            .next()
            .expect("account id")
            .to_owned()
    }

    /// Waits for an element matching `css`.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let page = self.client.source().await.unwrap_or_default();
                panic!("no {css} after {STEP:?} ({e}); page:\n{page}");
            }
        }
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never contained {needle:?}; last text: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `script` (a function body given `arguments`) returns `true`, for at most
    /// `timeout`; `what` names the condition in the failure.
    pub async fn wait_js(&self, what: &str, timeout: Duration, script: &str, args: Vec<Value>) {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self
                .client
                .execute(script, args.clone())
                .await
                .expect("execute script");
            if value == json!(true) {
                return;
            }
            if Instant::now() >= deadline {
                let page = self.client.source().await.unwrap_or_default();
                panic!("{what}: not after {timeout:?}; page:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Types `text` into the (cleared) input at `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait(css).await;
        element.clear().await.expect("clear");
        element.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.wait(css).await.click().await.expect("click");
    }

    /// Picks `value` in the `<select>` at `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// The page's path with its query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the page's path starts with `prefix`.
    pub async fn wait_path(&self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let path = self.path().await;
            if path.starts_with(prefix) {
                return path;
            }
            assert!(
                Instant::now() < deadline,
                "still on {path}, expected {prefix}…"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scrolls the element at `css` to the top of the window.
    pub async fn scroll_to(&self, css: &str) {
        self.wait(css).await;
        self.js(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'start'}); return true;",
            vec![json!(css)],
        )
        .await;
    }

    /// Runs `script` with `args`; returns its result.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("execute script")
    }

    /// Runs a GraphQL operation from the page, as the dashboard does (session cookie and CSRF
    /// header); returns the whole answer.
    pub async fn graphql_from_page(&self, query: &str, variables: Value) -> Value {
        self.client
            .execute_async(
                r#"const [query, variables, done] = arguments;
                   const csrf = document.cookie.split('; ').find(c => c.startsWith('ew_csrf='))?.slice(8) ?? '';
                   fetch('/graphql', {method: 'POST', headers: {'content-type': 'application/json', 'x-csrf-token': csrf},
                     body: JSON.stringify({query, variables})})
                     .then(r => r.json()).then(done, e => done(String(e)));"#,
                vec![json!(query), variables],
            )
            .await
            .expect("fetch from the page")
    }

    /// Saves a screenshot at 1280 px and at phone width (390 px), failing on sideways
    /// scrolling at phone width.
    pub async fn screenshot(&self, name: &str) {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"))
            .join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        self.client.set_window_size(390, 844).await.expect("resize");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}-phone.png")), png).expect("write screenshot");
        let widths = self
            .js(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await;
        let (content, viewport) = (
            widths[0].as_i64().unwrap_or_default(),
            widths[1].as_i64().unwrap_or_default(),
        );
        assert!(
            content <= viewport,
            "{name} at phone width is {content} px wide in a {viewport} px window"
        );
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize");
    }
}

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
pub struct Hook {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Its JSON body.
    pub json: Value,
}

#[derive(Default)]
struct Received {
    requests: Vec<Hook>,
    successes: usize,
}

/// An HTTP receiver on 127.0.0.1 for webhook targets: keeps every POST to `/hook` and answers
/// 200, or 500 while [`Receiver::set_failing`] is on.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    failing: Arc<AtomicBool>,
    state: Arc<Mutex<Received>>,
}

impl Receiver {
    pub async fn start(failing: bool) -> Self {
        let receiver = Self {
            url: String::new(),
            failing: Arc::new(AtomicBool::new(failing)),
            state: Arc::new(Mutex::new(Received::default())),
        };
        let handler = {
            let receiver = receiver.clone();
            move |headers: HeaderMap, body: Bytes| {
                let receiver = receiver.clone();
                async move {
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut state = receiver.state.lock().expect("lock");
                    state.requests.push(Hook {
                        headers,
                        body,
                        json,
                    });
                    if receiver.failing.load(Ordering::SeqCst) {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        state.successes += 1;
                        StatusCode::OK
                    }
                }
            }
        };
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, ..receiver }
    }

    /// Answer 500 (`true`) or 200 from now on.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Hook> {
        self.state.lock().expect("lock").requests.clone()
    }

    /// Requests answered 200.
    pub fn successes(&self) -> usize {
        self.state.lock().expect("lock").successes
    }

    /// The requests whose body has `"trigger": trigger`.
    pub fn with_trigger(&self, trigger: &str) -> Vec<Hook> {
        self.requests()
            .into_iter()
            .filter(|hook| hook.json["trigger"] == trigger)
            .collect()
    }

    /// Waits until `count` requests with `trigger` arrived; returns them.
    pub async fn wait_for(&self, trigger: &str, count: usize) -> Vec<Hook> {
        let deadline = Instant::now() + STEP;
        loop {
            let hooks = self.with_trigger(trigger);
            if hooks.len() >= count {
                return hooks;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} {trigger} webhooks after {STEP:?}",
                hooks.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
