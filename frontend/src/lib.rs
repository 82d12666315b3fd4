//! ErrorWatch dashboard: a Leptos client-side-rendered app compiled to WebAssembly.
//!
//! `infra/build-frontend.sh` builds this crate for `wasm32-unknown-unknown`, runs
//! `wasm-bindgen --target web` and `wasm-opt`, and puts the result with `index.html` into
//! `frontend/dist/`, which the backend serves. The page imports `errorwatch_frontend.js` and
//! calls its `init()`; that instantiates the module and runs [`start`], which mounts [`App`].

pub mod alerts;
pub mod api;
pub mod app;
pub mod billing;
pub mod components;
pub mod dates;
#[cfg(test)]
mod documents_check;
pub mod event;
pub mod grouping;
pub mod live;
pub mod pages;
pub mod releases;
pub mod search;
pub mod triage;
pub mod user_agent;

pub use app::App;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point run by wasm-bindgen as soon as the module is instantiated: installs the panic
/// hook (panics go to the browser console with a message instead of "unreachable") and mounts
/// the app into `<body>`.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
