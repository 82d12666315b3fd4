//! The event page (the event panel of the issue page) in a real headless Chromium against the
//! real binary, with events real SDKs produced: envelopes of sentry-sdk 2.75 (Python) and
//! @sentry/node 11.12 from the corpus, replayed over HTTP with fresh ids and times. For each,
//! in the light and the dark theme, at 1280 × 800 and at 390 px: the exception comes first (in
//! the first screen), above the breadcrumbs, above the request and the user and context
//! cards; the handled/unhandled badge names the mechanism; breadcrumbs show clock times (never
//! a raw epoch number), offsets to the event and their HTTP calls; a log event shows its
//! message and logger; counts are pluralised; the tags sit beside the event on a desktop and
//! below it on a phone.
//!
//! Screenshots land in `$CARGO_TARGET_DIR/screenshots/event-*.png`.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use errorwatch_e2e::browser::{Browser, Driver, STEP};
use errorwatch_e2e::{Server, repo_root};
use serde_json::{Value, json};

/// Epoch seconds of a protocol timestamp (a number or RFC 3339).
fn epoch(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_micros() as f64 / 1e6),
        _ => None,
    }
}

/// A corpus envelope with a fresh event id, made to have happened a minute ago: the event's
/// time and its breadcrumbs' times move by the same amount, each kept in the form the SDK used
/// (Node sends epoch numbers, Python RFC 3339), and `sent_at` goes (the server would correct
/// the times by the clock drift it shows). Returns the body and the new event id.
fn fresh_envelope(name: &str) -> (String, String) {
    let path = repo_root().join(format!(
        "backend/server/tests/fixtures/corpus/{name}.envelope"
    ));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        3,
        "{name}: a header, one item header, one event"
    );
    let parse = |line: &str| -> Value { serde_json::from_str(line).expect("JSON line") };
    let (mut header, mut item, mut event) = (parse(lines[0]), parse(lines[1]), parse(lines[2]));
    assert_eq!(item["type"], "event", "{name}");
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    header["event_id"] = json!(event_id);
    event["event_id"] = json!(event_id);
    if let Some(header) = header.as_object_mut() {
        header.remove("sent_at");
    }
    let original = epoch(&event["timestamp"]).expect("the event's time");
    let shift = Utc::now().timestamp_micros() as f64 / 1e6 - 60.0 - original;
    let moved = |value: &Value| -> Value {
        let seconds = epoch(value).expect("a time") + shift;
        match value {
            Value::Number(_) => json!((seconds * 1000.0).round() / 1000.0),
            _ => {
                let time = DateTime::<Utc>::from_timestamp_micros((seconds * 1e6) as i64)
                    .expect("a valid time");
                json!(time.to_rfc3339_opts(SecondsFormat::Micros, true))
            }
        }
    };
    event["timestamp"] = moved(&event["timestamp"]);
    let crumbs = match &mut event["breadcrumbs"] {
        Value::Array(list) => Some(list),
        Value::Object(o) => o.get_mut("values").and_then(Value::as_array_mut),
        _ => None,
    };
    for crumb in crumbs.into_iter().flatten() {
        if crumb.get("timestamp").is_some() {
            crumb["timestamp"] = moved(&crumb["timestamp"]);
        }
    }
    let payload = serde_json::to_string(&event).expect("serialize");
    if item.get("length").is_some() {
        item["length"] = json!(payload.len());
    }
    (format!("{header}\n{item}\n{payload}\n"), event_id)
}

/// Sends the corpus envelope `name` to the project of `dsn` (key in the query, as the Node SDK
/// does); returns the envelope's event id and the event as sent.
async fn send(server: &Server, dsn: &str, name: &str) -> (String, Value) {
    let (key, project) = dsn
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(key, rest)| (key, rest.rsplit('/').next().unwrap_or_default()))
        .expect("a DSN");
    let (body, event_id) = fresh_envelope(name);
    let event: Value =
        serde_json::from_str(body.lines().nth(2).expect("the event")).expect("event JSON");
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/{project}/envelope/?sentry_key={key}",
            server.base_url
        ))
        .body(body)
        .send()
        .await
        .expect("envelope request");
    assert_eq!(
        response.status(),
        200,
        "{name}: {:?}",
        response.text().await
    );
    (event_id, event)
}

/// Waits until the event is stored; returns its issue's id.
async fn issue_of(browser: &Browser, project_id: i64, event_id: &str) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let answer = browser
            .graphql_from_page(
                "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) { issue { id } } }",
                json!({"p": format!("prj_{project_id}"), "e": event_id}),
            )
            .await;
        if let Some(id) = answer["data"]["event"]["issue"]["id"].as_str() {
            return id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "event {event_id} never stored: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The text of `css` (empty when absent).
async fn text(browser: &Browser, css: &str) -> String {
    browser
        .js_with(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            vec![json!(css)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Fails unless the sections at `selectors` all exist and come in this order down the page.
async fn assert_order(browser: &Browser, selectors: &[&str]) {
    let tops = browser
        .js_with(
            "return arguments[0].map(s => { const e = document.querySelector(s);
                return e ? e.getBoundingClientRect().top + window.scrollY : null; });",
            vec![json!(selectors)],
        )
        .await;
    let tops: Vec<Option<f64>> = tops
        .as_array()
        .expect("a list")
        .iter()
        .map(Value::as_f64)
        .collect();
    for (selector, top) in selectors.iter().zip(&tops) {
        assert!(top.is_some(), "{selector} is missing");
    }
    let tops: Vec<f64> = tops.into_iter().flatten().collect();
    assert!(
        tops.windows(2).all(|pair| pair[0] < pair[1]),
        "not in the order {selectors:?}: tops {tops:?}"
    );
}

/// Fails unless the element at `css` starts within the first screen (window height).
async fn assert_in_first_screen(browser: &Browser, css: &str) {
    let place = browser
        .js_with(
            "window.scrollTo(0, 0); const e = document.querySelector(arguments[0]);
             return e ? [e.getBoundingClientRect().bottom, window.innerHeight] : null;",
            vec![json!(css)],
        )
        .await;
    let (bottom, height) = (
        place[0].as_f64().unwrap_or(f64::MAX),
        place[1].as_f64().unwrap_or_default(),
    );
    assert!(
        bottom <= height,
        "{css} ends {bottom} px down, below the first screen of {height} px"
    );
}

/// Sizes the window so that the page itself (the viewport) is `width` × `height`.
async fn set_viewport(browser: &Browser, width: u32, height: u32) {
    browser
        .client
        .set_window_size(width, height)
        .await
        .expect("resize");
    let chrome = browser
        .js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];")
        .await;
    let extra = |i: usize| chrome[i].as_u64().unwrap_or_default() as u32;
    browser
        .client
        .set_window_size(width + extra(0), height + extra(1))
        .await
        .expect("resize");
}

/// Fails if the text holds what looks like a raw epoch number (`1733580000.123`).
fn assert_no_epoch(text: &str) {
    let digits_run = text
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .find(|word| {
            let whole = word.split('.').next().unwrap_or_default();
            whole.len() >= 9 && whole.chars().all(|c| c.is_ascii_digit())
        });
    assert!(
        digits_run.is_none(),
        "a raw epoch number {digits_run:?} in:\n{text}"
    );
}

/// The clock time (`HH:MM:SS.mmm`) the browser's zone gives epoch `seconds`.
async fn browser_clock(browser: &Browser, seconds: f64) -> String {
    browser
        .js_with(
            "const d = new Date(Math.round(arguments[0] * 1000)); const p = (n, w) => String(n).padStart(w, '0');
             return p(d.getHours(), 2) + ':' + p(d.getMinutes(), 2) + ':' + p(d.getSeconds(), 2) + '.' + p(d.getMilliseconds(), 3);",
            vec![json!(seconds)],
        )
        .await
        .as_str()
        .expect("a clock time")
        .to_owned()
}

/// The breadcrumbs of an event as sent.
fn crumbs_of(event: &Value) -> Vec<Value> {
    let crumbs = &event["breadcrumbs"];
    crumbs["values"]
        .as_array()
        .or_else(|| crumbs.as_array())
        .cloned()
        .unwrap_or_default()
}

/// The card `key` (`user`, `runtime`, …) of the user and contexts section.
async fn card(browser: &Browser, key: &str) -> String {
    text(browser, &format!("#context-cards [data-card={key}]")).await
}

/// Opens an issue and waits for its event.
async fn open_issue(browser: &Browser, account: &str, issue: &str, title: &str) {
    browser.open(&format!("/{account}/issues/{issue}")).await;
    browser.wait_text("#issue-title", title).await;
    browser.wait("#event-id").await;
}

/// Checks common to every event page: the layout beside/below at desktop and phone widths,
/// no JSON braces in the cards, screenshots.
async fn check_layout_and_shoot(browser: &Browser, name: &str) {
    // Desktop: the tags beside the event, to its right.
    let beside = browser
        .js(
            "const e = document.querySelector('#event').getBoundingClientRect();
             const t = document.querySelector('#event-tags').getBoundingClientRect();
             return t.left >= e.right && t.top < e.bottom;",
        )
        .await;
    assert_eq!(beside, json!(true), "{name}: the tags are beside the event");
    for section in ["#event-context", "#event-request"] {
        let shown = text(browser, section).await;
        assert!(
            !shown.contains('{') && !shown.contains('}'),
            "{name}: raw JSON in {section}:\n{shown}"
        );
    }
    browser.screenshot(name, true).await;
    set_viewport(browser, 1280, 800).await;
    browser.scroll_to("#event-breadcrumbs").await;
    browser
        .screenshot(&format!("{name}-breadcrumbs"), false)
        .await;
    if browser
        .js("return !!document.querySelector('#event-context');")
        .await
        == json!(true)
    {
        browser.scroll_to("#event-context").await;
        browser.screenshot(&format!("{name}-cards"), false).await;
    }
    // Phone: everything stacked, the tags below the event.
    // As the screenshot helper does (headless Chromium adds no window frame to the width).
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    let below = browser
        .js(
            "const e = document.querySelector('#event').getBoundingClientRect();
             const t = document.querySelector('#event-tags').getBoundingClientRect();
             return t.top >= e.bottom;",
        )
        .await;
    assert_eq!(
        below,
        json!(true),
        "{name}: the tags are below the event on a phone"
    );
    browser.scroll_to("#event-breadcrumbs").await;
    browser
        .screenshot(&format!("{name}-breadcrumbs-phone"), false)
        .await;
    set_viewport(browser, 1280, 800).await;
}

#[tokio::test]
async fn the_event_page_reads_exception_first_with_badges_timeline_and_cards() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let project = server.create_project("events");
    // Node: an unhandled Express error, 50 HTTP breadcrumbs with epoch-number times.
    let (node_id, node_event) = send(&server, &project.dsn, "node_express_get_cart").await;
    // Python: an unhandled WSGI error (a chain of two) with its request.
    let (wsgi_id, _) = send(&server, &project.dsn, "py_wsgi_get_order").await;
    // Python: a handled chained error, sent twice (one issue, two events, one user).
    let (handled_id, _) = send(&server, &project.dsn, "py_chained_payment").await;
    send(&server, &project.dsn, "py_chained_payment").await;
    // Python: `logging.error` with a logger and RFC 3339 breadcrumb times.
    let (log_id, log_event) = send(&server, &project.dsn, "py_logging_error_message").await;

    let driver = Driver::start().await;
    let browser = driver.browser(&server.base_url).await;
    browser.open("/login").await;
    browser
        .log_in("events@e2e.example.com", "an e2e password long enough")
        .await;
    let account = browser.wait_account_page().await;
    let node_issue = issue_of(&browser, project.id, &node_id).await;
    let wsgi_issue = issue_of(&browser, project.id, &wsgi_id).await;
    let handled_issue = issue_of(&browser, project.id, &handled_id).await;
    let log_issue = issue_of(&browser, project.id, &log_id).await;
    set_viewport(&browser, 1280, 800).await;

    for theme in ["light", "dark"] {
        browser
            .js_with(
                "localStorage.setItem('ew-theme', arguments[0]); return true;",
                vec![json!(theme)],
            )
            .await;

        // Node: exception first, its in-app frame in the first screen, then the breadcrumbs,
        // the request and the cards.
        open_issue(&browser, &account, &node_issue, "TypeError").await;
        assert_eq!(
            browser
                .js("return document.documentElement.dataset.theme;")
                .await,
            json!(theme)
        );
        browser
            .wait_text("#event-mechanism", "unhandled · auto.http.express")
            .await;
        assert_in_first_screen(&browser, "#exception .exc-title").await;
        assert_in_first_screen(&browser, "#exception .frame.in-app .context .current").await;
        assert_order(
            &browser,
            &[
                "#exception",
                "#event-breadcrumbs",
                "#event-request",
                "#event-context",
            ],
        )
        .await;
        let stats = text(&browser, ".stats").await;
        assert!(
            stats.contains("1 event") && !stats.contains("1 events") && stats.contains("1 user"),
            "{stats}"
        );
        // 50 breadcrumbs: the latest 20 shown, the 30 earlier folded above them.
        let crumbs = crumbs_of(&node_event);
        assert_eq!(crumbs.len(), 50);
        browser
            .wait_text("#more-breadcrumbs", "30 earlier breadcrumbs")
            .await;
        browser.wait_text("#crumbs-h", "50 breadcrumbs").await;
        let timeline = text(&browser, "#event-breadcrumbs").await;
        let last = crumbs.last().expect("a breadcrumb");
        let last_time = epoch(&last["timestamp"]).expect("a time");
        let clock = browser_clock(&browser, last_time).await;
        let url = last["data"]["url"].as_str().expect("a URL");
        assert!(timeline.contains(&clock), "{clock} in:\n{timeline}");
        assert!(timeline.contains(url), "{url} in:\n{timeline}");
        let last_row = text(&browser, "#breadcrumbs .crumb:last-child").await;
        assert!(
            last_row.contains("POST")
                && last_row.contains(&last["data"]["status_code"].to_string())
                && last_row.contains("http"),
            "{last_row}"
        );
        // The offset to the event: this breadcrumb came 65 ms before it.
        let offset = text(&browser, "#breadcrumbs .crumb:last-child .crumb-offset").await;
        assert!(
            offset.starts_with('-') && offset.ends_with("ms"),
            "{offset}"
        );
        assert_no_epoch(&timeline);
        browser.click("#more-breadcrumbs").await;
        browser
            .wait_js(
                "every breadcrumb shown once the earlier ones are unfolded",
                STEP,
                "return [...document.querySelectorAll('#event-breadcrumbs .crumb')]
                   .filter(e => e.getClientRects().length > 0).length === 50;",
                vec![],
            )
            .await;
        assert_no_epoch(&text(&browser, "#event-breadcrumbs").await);
        let request = text(&browser, "#event-request").await;
        assert!(
            request.contains("GET http://127.0.0.1:42817/api/users/14731/cart?currency=EUR")
                && request.contains("currency")
                && request.contains("EUR")
                && request.contains("x-request-id")
                && request.contains("req-345607617"),
            "{request}"
        );
        let runtime = card(&browser, "runtime").await;
        assert!(runtime.starts_with("Runtime: Node v20.20.2"), "{runtime}");
        let os = card(&browser, "os").await;
        assert!(
            os.starts_with("OS: Debian 12.11") && os.contains("Kernel version"),
            "{os}"
        );
        let device = card(&browser, "device").await;
        assert!(
            device.contains("Memory size") && device.contains("GiB"),
            "{device}"
        );
        let user = card(&browser, "user").await;
        assert!(
            user.starts_with("User: 127.0.0.1") && user.contains("IP address"),
            "{user}"
        );
        check_layout_and_shoot(&browser, &format!("event-node-{theme}")).await;

        // Python WSGI: unhandled, a chain of two most recent first, the request's headers.
        open_issue(&browser, &account, &wsgi_issue, "PaymentError").await;
        browser
            .wait_text("#event-mechanism", "unhandled · wsgi")
            .await;
        browser.wait_text("#exc-h", "chain of 2").await;
        let chain = browser
            .js("return [...document.querySelectorAll('#exception .exc-type')].map(e => e.textContent);")
            .await;
        assert_eq!(chain, json!(["PaymentError", "ConnectionError"]));
        assert_in_first_screen(&browser, "#exception .exc-title").await;
        assert_in_first_screen(&browser, "#exception .frame.in-app .context .current").await;
        assert_order(
            &browser,
            &[
                "#exception",
                "#event-breadcrumbs",
                "#event-request",
                "#event-context",
            ],
        )
        .await;
        let request = text(&browser, "#event-request").await;
        assert!(
            request.contains("GET https://shop.example.com/api/orders/743664")
                && request.contains("X-Request-Id")
                && request.contains("expand")
                && request.contains("REMOTE_ADDR"),
            "{request}"
        );
        let runtime = card(&browser, "runtime").await;
        assert!(runtime.starts_with("Runtime: CPython 3.11.7"), "{runtime}");
        check_layout_and_shoot(&browser, &format!("event-python-{theme}")).await;

        // Python, handled: two events of one user.
        open_issue(&browser, &account, &handled_issue, "PaymentError").await;
        browser
            .wait_text("#event-mechanism", "handled · generic")
            .await;
        let stats = browser.wait_text(".stats", "2 events").await;
        assert!(
            stats.contains("1 user") && !stats.contains("1 users"),
            "{stats}"
        );
        let user = card(&browser, "user").await;
        assert!(
            user.starts_with("User: user40357@example.com")
                && user.contains("ID")
                && user.contains("40357"),
            "{user}"
        );
        let tags = text(&browser, "#event-tags").await;
        assert!(
            tags.contains("region") && tags.contains("eu-west-1"),
            "{tags}"
        );
        // The user facet names the user by their address, not by the `id:` identity.
        let facets = browser
            .wait_text("#tag-facets", "user40357@example.com")
            .await;
        assert!(!facets.contains("id:40357"), "{facets}");

        // A log event: the message and logger first, then the breadcrumbs (RFC 3339 times).
        open_issue(&browser, &account, &log_issue, "payment webhook").await;
        let message = browser
            .wait_text(
                "#event-message",
                "payment webhook wh_951353 returned status 502 after 20989ms",
            )
            .await;
        assert!(
            message.contains("payment webhook %s returned status %d"),
            "{message}"
        );
        browser.wait_text("#event-logger", "shop.worker").await;
        assert_eq!(
            browser
                .js("return document.querySelector('#no-exception') === null;")
                .await,
            json!(true),
            "a log event has its message"
        );
        assert_in_first_screen(&browser, "#event-message .log-text").await;
        assert_order(
            &browser,
            &["#event-message", "#event-breadcrumbs", "#event-context"],
        )
        .await;
        let crumbs = crumbs_of(&log_event);
        let last_http = crumbs
            .iter()
            .rev()
            .take(20)
            .find(|c| c["type"] == "http")
            .expect("an HTTP breadcrumb among the latest 20");
        let clock = browser_clock(&browser, epoch(&last_http["timestamp"]).expect("a time")).await;
        let timeline = text(&browser, "#event-breadcrumbs").await;
        assert!(
            timeline.contains(&clock)
                && timeline.contains(last_http["data"]["url"].as_str().expect("a URL"))
                && timeline.contains("GET"),
            "{clock} and the call in:\n{timeline}"
        );
        let sent_as = last_http["timestamp"].as_str().expect("RFC 3339");
        assert!(
            !timeline.contains(sent_as),
            "{sent_as} shown as sent: {timeline}"
        );
        let runtime = card(&browser, "runtime").await;
        assert!(runtime.starts_with("Runtime: CPython 3.11.7"), "{runtime}");
        check_layout_and_shoot(&browser, &format!("event-log-{theme}")).await;
    }
    browser.client.clone().close().await.expect("close");
}
