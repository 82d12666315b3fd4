//! A real browser for the dashboard tests: Debian's Chromium, headless, driven through
//! `chromedriver` by fantoccini ([`Driver`]), and the steps the journeys take in it
//! ([`Browser`]: open, fill, click, wait for text or a path, GraphQL from the page with its
//! session, downloads, screenshots at desktop and phone width). Every wait gives up after
//! [`STEP`].

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::smtp::Mail;
use crate::{chromium, free_port, repo_root};

/// How long any one step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(30);
/// The password browser users sign up with.
pub const PASSWORD: &str = "a browser password long enough";

/// A `chromedriver` on a free loopback port; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts Debian's `chromedriver` (`CHROMEDRIVER` overrides the path) and waits until it
    /// answers.
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

    /// A new browser session on the server at `base`, with its own profile (cookies) and
    /// download folder, 1280 × 900.
    pub async fn browser(&self, base: &str) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("download dir");
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
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
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
            downloads,
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

/// One browser session and the helpers the journeys use.
pub struct Browser {
    /// The WebDriver session, for what the helpers do not cover.
    pub client: Client,
    /// The server's base URL: [`Browser::open`] takes paths.
    pub base: String,
    /// Where the browser saves downloads.
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Loads `path` of the server (a full page load).
    pub async fn open(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.expect("navigate");
    }

    /// Opens the link of an email (`/verify-email?token=…` and the like).
    pub async fn follow(&self, mail: &Mail, page: &str) {
        self.open(&format!("/{page}?token={}", mail.token(page)))
            .await;
    }

    /// Logs in through the log-in form (already on it).
    pub async fn log_in(&self, email: &str, password: &str) {
        self.fill("#login-email", email).await;
        self.fill("#login-password", password).await;
        self.click("#login-form button[type=submit]").await;
    }

    /// Picks `value` in the `<select>` at `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Waits for a page under an account; returns the account's id.
    pub async fn wait_account_page(&self) -> String {
        let path = self.wait_path("/acc_").await;
        path.trim_start_matches('/')
            .split('/')
            .next()
            .expect("account id")
            .to_owned()
    }

    /// Presses `key` in the element at `css`.
    pub async fn press(&self, css: &str, key: fantoccini::key::Key) {
        self.wait(css)
            .await
            .send_keys(&key.to_string())
            .await
            .expect("press a key");
    }

    /// Picks the first suggestion of the search bar with the keyboard (arrow down, Enter).
    pub async fn pick_first_suggestion(&self) {
        self.press("#issue-search", fantoccini::key::Key::Down)
            .await;
        self.press("#issue-search", fantoccini::key::Key::Enter)
            .await;
    }

    /// Waits until the attribute `name` of `element` is `value`.
    pub async fn wait_attr(
        &self,
        element: &fantoccini::elements::Element,
        name: &str,
        value: &str,
    ) {
        let deadline = Instant::now() + STEP;
        loop {
            let now = element.attr(name).await.expect("attr");
            if now.as_deref() == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} stayed {now:?}, expected {value:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the first link matching `css` whose text holds `text`.
    pub async fn click_link_with(&self, css: &str, text: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            for link in self.client.find_all(Locator::Css(css)).await.expect("find") {
                if link.text().await.unwrap_or_default().contains(text) {
                    link.click().await.expect("click");
                    return;
                }
            }
            assert!(Instant::now() < deadline, "no {css} with {text:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Marks the page; [`Browser::assert_not_reloaded`] then proves no full load happened.
    pub async fn mark_page(&self) {
        self.js("window.__noReload = true; return true;").await;
    }

    /// Fails unless the page marked by [`Browser::mark_page`] is still the same page.
    pub async fn assert_not_reloaded(&self) {
        assert_eq!(
            self.js("return window.__noReload === true;").await,
            json!(true),
            "the page reloaded"
        );
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

    /// Waits for the browser to finish saving `name` in its download folder; returns it.
    pub async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let deadline = Instant::now() + STEP;
        loop {
            // Chromium writes `name.crdownload` and renames it once complete.
            if let Ok(bytes) = std::fs::read(&path) {
                return bytes;
            }
            let present: Vec<String> = std::fs::read_dir(self.downloads.path())
                .map(|dir| {
                    dir.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "{name} was never downloaded; the folder holds {present:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
                let url = self.url_or_empty().await;
                panic!("no {css} on {url} after {STEP:?} ({e}); page:\n{page}");
            }
        }
    }

    /// The page's address for a failure message (empty if the browser cannot say).
    async fn url_or_empty(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
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
            if Instant::now() >= deadline {
                let url = self.url_or_empty().await;
                panic!("{css} on {url} never contained {needle:?}; last text: {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + STEP;
        while !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
        {
            assert!(Instant::now() < deadline, "{css} is still on the page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces the text of the input at `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait(css).await;
        element.clear().await.expect("clear");
        element.send_keys(text).await.expect("type");
    }

    /// Clicks the element at `css` (once it exists).
    pub async fn click(&self, css: &str) {
        self.wait(css).await.click().await.expect("click");
    }

    /// The current page's path with its query.
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

    /// Logs in as `email` from the log-in page; returns the id of the account it lands in.
    pub async fn log_in_as(&self, email: &str, password: &str) -> String {
        self.open("/login").await;
        self.log_in(email, password).await;
        let path = self.wait_path("/acc_").await;
        path.trim_start_matches('/')
            .split('/')
            .next()
            .expect("account id")
            .to_owned()
    }

    /// Waits until `script` (a function body given `arguments`) returns `true`, for at most
    /// `timeout`; `what` names the condition in the failure.
    pub async fn wait_js(&self, what: &str, timeout: Duration, script: &str, args: Vec<Value>) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.js_with(script, args.clone()).await == json!(true) {
                return;
            }
            if Instant::now() >= deadline {
                let page = self.client.source().await.unwrap_or_default();
                panic!("{what}: not after {timeout:?}; page:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Scrolls the element at `css` to the top of the window.
    pub async fn scroll_to(&self, css: &str) {
        self.wait(css).await;
        self.js_with(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'start'}); return true;",
            vec![json!(css)],
        )
        .await;
    }

    /// Runs `script` with `args` (its `arguments`); returns what it returns.
    pub async fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("execute script")
    }

    /// Runs `script` in the page; returns what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("execute script")
    }

    /// Switches the page to `theme` (`light` or `dark`), stored as the theme toggle stores it,
    /// so later page loads keep it.
    pub async fn set_theme(&self, theme: &str) {
        self.js_with(
            "localStorage.setItem('ew-theme', arguments[0]); document.documentElement.dataset.theme = arguments[0]; return true;",
            vec![json!(theme)],
        )
        .await;
    }

    /// Saves a screenshot at 1280 px, and at phone width (390 px) when `phone` is set.
    pub async fn screenshot(&self, name: &str, phone: bool) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        if phone {
            self.client.set_window_size(390, 844).await.expect("resize");
            tokio::time::sleep(Duration::from_millis(200)).await;
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{name}-phone.png")), png).expect("write screenshot");
            // Nothing wider than a phone: no sideways scrolling.
            let widths = self
                .js("return [document.documentElement.scrollWidth, window.innerWidth];")
                .await;
            let (content, viewport) = (
                widths[0].as_i64().unwrap_or_default(),
                widths[1].as_i64().unwrap_or_default(),
            );
            if content > viewport {
                let culprits = self
                    .js("return [...document.querySelectorAll('body *')]
                           .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                           .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
                           .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));")
                    .await;
                panic!(
                    "{name} at phone width is {content} px wide in a {viewport} px window; widest: {culprits}"
                );
            }
            self.client
                .set_window_size(1280, 900)
                .await
                .expect("resize");
        }
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/screenshots/`, else `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("screenshots")
}
