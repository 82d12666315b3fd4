//! Downloads under `/graphql/download/`: attachments of any size and an event's JSON, for a
//! signed-in browser (cookies, no CSRF header) and an API token; nobody else.

use serde_json::{Value, json};

use crate::harness::gql::{Gql, user_with_account};
use crate::harness::{TestApp, db_test};

/// Bytes that differ at every position modulo 251, so a slice read twice, skipped or swapped
/// shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

const EVENT: &str = "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) {
    id downloadUrl attachments { id filename size downloadUrl } } }";

struct Stored {
    browser: Gql,
    account: String,
    event_id: String,
    /// `event(...)` with its download links.
    event: Value,
}

/// An account with a project and one event carrying `big.bin` (3 MiB and a bit: four slices
/// of a download) and `notes.txt`.
async fn event_with_attachments(app: &TestApp) -> Stored {
    let shop = crate::issues_api::shop(app).await;
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let big = pattern(3 * 1024 * 1024 + 7);
    let notes = b"card declined\n";
    let mut body = format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\"}}\n{}\n",
        json!({"exception": {"values": [{"type": "ValueError", "value": "card declined"}]}})
    )
    .into_bytes();
    for (name, bytes, content_type) in [
        ("big.bin", big.as_slice(), None),
        ("notes.txt", notes.as_slice(), Some("text/plain")),
    ] {
        let mut header = json!({"type": "attachment", "length": bytes.len(), "filename": name});
        if let Some(content_type) = content_type {
            header["content_type"] = json!(content_type);
        }
        body.extend(format!("{header}\n").into_bytes());
        body.extend_from_slice(bytes);
        body.push(b'\n');
    }
    let (status, detail, _) = crate::ingest::post_raw(
        app,
        &format!("/api/{}/envelope/?sentry_key={}", shop.number, shop.key),
        &[],
        body,
    )
    .await;
    assert_eq!(status, 200, "{detail:?}");
    app.run_pending_jobs().await;
    let event = shop
        .browser
        .ok(EVENT, json!({"p": shop.project, "e": event_id}))
        .await["event"]
        .clone();
    Stored {
        browser: shop.browser,
        account: shop.account,
        event_id,
        event,
    }
}

/// A `downloadUrl` of the API at this app's address: the harness listens on port 0, so the
/// public URL (from the listen address) names port 0; its path is what the test checks.
fn local(app: &TestApp, url: &str) -> String {
    let path = url
        .strip_prefix("http://127.0.0.1:0")
        .unwrap_or_else(|| panic!("a URL under the public URL: {url}"));
    app.url(path)
}

fn attachment_url(app: &TestApp, event: &Value, filename: &str) -> String {
    let url = event["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .find(|a| a["filename"] == filename)
        .and_then(|a| a["downloadUrl"].as_str())
        .unwrap_or_else(|| panic!("no {filename}: {event}"));
    local(app, url)
}

db_test!(
    async fn attachments_of_any_size_download_with_their_name_and_type(backend) {
        let app = TestApp::spawn(backend).await;
        let stored = event_with_attachments(&app).await;
        let big_url = attachment_url(&app, &stored.event, "big.bin");
        assert!(big_url.starts_with(&app.url("/graphql/download/attachments/att_")), "{big_url}");

        // The browser follows the link with its cookies (a link sends no CSRF header).
        let response = stored.browser.download(&big_url).await;
        assert_eq!(response.status().as_u16(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/octet-stream");
        assert_eq!(
            headers["content-disposition"],
            "attachment; filename=\"big.bin\"; filename*=UTF-8''big.bin"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-length"], (3 * 1024 * 1024 + 7).to_string().as_str());
        let bytes = response.bytes().await.expect("body");
        assert!(bytes.as_ref() == pattern(3 * 1024 * 1024 + 7).as_slice(), "the bytes as sent");

        let notes = stored.browser.download(&attachment_url(&app, &stored.event, "notes.txt")).await;
        assert_eq!(notes.status().as_u16(), 200);
        assert_eq!(notes.headers()["content-type"], "text/plain");
        assert_eq!(notes.text().await.expect("text"), "card declined\n");

        // An API token of the account downloads too.
        let secret = stored
            .browser
            .ok(
                "mutation($a: ID!) { createApiToken(accountId: $a, name: \"export\", scope: READ) { secret } }",
                json!({"a": stored.account}),
            )
            .await["createApiToken"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let integration = Gql::token(&app, &secret);
        let response = integration.download(&big_url).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.bytes().await.expect("body").len(), 3 * 1024 * 1024 + 7);
    }
);

db_test!(
    async fn an_event_downloads_as_its_normalized_json(backend) {
        let app = TestApp::spawn(backend).await;
        let stored = event_with_attachments(&app).await;
        let url = local(&app, stored.event["downloadUrl"].as_str().expect("url"));
        assert_eq!(url, app.url(&format!("/graphql/download/events/{}", stored.event["id"].as_str().expect("id"))));
        let response = stored.browser.download(&url).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let disposition = format!("attachment; filename=\"event-{0}.json\"; filename*=UTF-8''event-{0}.json", stored.event_id);
        assert_eq!(response.headers()["content-disposition"], disposition.as_str());
        let json: Value = response.json().await.expect("json");
        assert_eq!(json["event_id"], stored.event_id.as_str());
        assert_eq!(json["exception"]["values"][0]["type"], "ValueError");
    }
);

db_test!(
    async fn downloads_answer_404_to_other_accounts_and_401_to_strangers(backend) {
        let app = TestApp::spawn(backend).await;
        let stored = event_with_attachments(&app).await;
        let urls = [
            attachment_url(&app, &stored.event, "big.bin"),
            local(&app, stored.event["downloadUrl"].as_str().expect("url")),
        ];
        let (other, _) = user_with_account(&app, "eve@example.com", "Other").await;
        let stranger = Gql::browser(&app);
        for url in &urls {
            let refused = other.download(url).await;
            assert_eq!(refused.status().as_u16(), 404, "{url} for another account");
            let body: Value = refused.json().await.expect("json");
            assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
            assert_eq!(stranger.download(url).await.status().as_u16(), 401, "{url} without credentials");
        }
        // Missing rows and ids of the wrong kind are refused the same way.
        assert_eq!(other.download(&app.url("/graphql/download/attachments/att_999999")).await.status().as_u16(), 404);
        assert_eq!(stored.browser.download(&app.url("/graphql/download/events/att_1")).await.status().as_u16(), 400);
        // A revoked API token is refused, not served anonymously.
        assert_eq!(Gql::token(&app, "ewt_not_a_token").download(&urls[0]).await.status().as_u16(), 401);
    }
);
