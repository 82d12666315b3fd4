//! The dashboard is built to WASM, served by the binary at `/` (compressed), and runs in a real
//! headless Chromium, where it asks the server for its readiness.

use errorwatch_e2e::{Server, dump_dom};

#[tokio::test]
async fn dashboard_runs_in_chromium_and_reports_the_server_ready() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let dom = dump_dom(&format!("{}/", server.base_url));
    assert!(
        dom.contains("id=\"app-title\""),
        "the Leptos app mounted: {dom}"
    );
    assert!(
        dom.contains("Server ready"),
        "the app fetched /health/ready: {dom}"
    );

    // Deep links load the same app.
    let deep = dump_dom(&format!("{}/acme/projects/1/issues", server.base_url));
    assert!(deep.contains("id=\"app-title\""), "{deep}");
}

#[tokio::test]
async fn dashboard_bundle_is_optimized_and_served_compressed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(&[]).await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/errorwatch_frontend_bg.wasm", server.base_url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["content-type"], "application/wasm");
    let compressed = response.bytes().await.expect("body").len();
    assert!(compressed < 150_000, "gzip'd wasm is {compressed} bytes");
    let plain = client
        .get(format!("{}/errorwatch_frontend_bg.wasm", server.base_url))
        .send()
        .await
        .expect("request");
    assert!(plain.headers().get("content-encoding").is_none());
    let raw = plain.bytes().await.expect("body");
    assert_eq!(&raw[..4], b"\0asm", "a WebAssembly module");
    assert!(
        raw.len() > compressed,
        "{} raw vs {compressed} compressed",
        raw.len()
    );
}
