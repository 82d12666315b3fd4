//! The dashboard: files from the built `frontend/dist` (precompressed `.gz` siblings served when
//! the client accepts gzip), with unknown paths answered by `index.html` so deep links work.
//! When the folder is missing, a short page says how to build it instead of a bare 404.

use std::path::Path;

use axum::response::Html;
use axum::routing::{MethodRouter, get};
use tower_http::services::{ServeDir, ServeFile};

/// The fallback service for everything that is not an API route.
pub fn service(dir: &Path) -> MethodRouter {
    let index = dir.join("index.html");
    if index.is_file() {
        let files = ServeDir::new(dir)
            .precompressed_gzip()
            .fallback(ServeFile::new(index).precompressed_gzip());
        axum::routing::get_service(files)
    } else {
        let shown = dir.display().to_string();
        get(move || {
            let shown = shown.clone();
            async move {
                Html(format!(
                    "<!doctype html><meta charset=utf-8><title>ErrorWatch</title>\
                     <h1>ErrorWatch</h1><p>The API is running, but the dashboard is not built \
                     (no <code>{shown}/index.html</code>). Run <code>infra/build-frontend.sh</code> \
                     or set <code>ERRORWATCH_FRONTEND_DIR</code>.</p>"
                ))
            }
        })
    }
}
