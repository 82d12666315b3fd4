//! Widgets shared by the pages: loading and error states, the theme toggle, the copy button,
//! relative times and the sparkline. They format and display; they decide nothing.

use leptos::prelude::*;

use crate::api::ApiError;

/// A loading state (announced to screen readers).
#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <p class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            {format!("Loading {what}…")}
        </p>
    }
}

/// A failed request, with the API's code.
#[component]
pub fn ErrorNote(error: ApiError) -> impl IntoView {
    let hint = match error.code.as_str() {
        "NOT_FOUND" => "It does not exist, or you cannot see it.",
        "FORBIDDEN" => "Your role in this account does not allow this.",
        "UNAUTHENTICATED" => "Your session ended: log in again.",
        "RATE_LIMITED" => "Too many requests: wait a moment and try again.",
        "NETWORK" => "Check your connection and try again.",
        _ => "",
    };
    view! {
        <div class="error-note" role="alert" data-code=error.code.clone()>
            <strong>{error.message.clone()}</strong>
            <span class="code">{error.code.clone()}</span>
            {(!hint.is_empty()).then(|| view! { <p>{hint}</p> })}
            {(error.code == "UNAUTHENTICATED").then(|| view! { <p><a href="/login">"Log in"</a></p> })}
        </div>
    }
}

/// The colour scheme: `light`, `dark`, or following the system when unset.
fn stored_theme() -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item("ew-theme")
        .ok()?
}

fn apply_theme(theme: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Some(root) = window.document().and_then(|d| d.document_element()) {
        let _ = root.set_attribute("data-theme", theme);
    }
    if let Ok(Some(storage)) = window.local_storage() {
        let _ = storage.set_item("ew-theme", theme);
    }
}

/// Whether the page currently shows the dark scheme (stored choice, else the system's).
fn is_dark() -> bool {
    match stored_theme().as_deref() {
        Some("dark") => true,
        Some("light") => false,
        _ => web_sys::window()
            .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
            .is_some_and(|m| m.matches()),
    }
}

/// A button switching between the light and dark schemes (remembered in local storage).
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let dark = RwSignal::new(is_dark());
    let toggle = move |_| {
        let next = !dark.get_untracked();
        dark.set(next);
        apply_theme(if next { "dark" } else { "light" });
    };
    view! {
        <button type="button" class="ghost theme-toggle" id="theme-toggle" on:click=toggle
            aria-pressed=move || dark.get().to_string()>
            {move || if dark.get() { "Light theme" } else { "Dark theme" }}
        </button>
    }
}

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: Signal<String>, #[prop(into)] id: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let value = text.get_untracked();
        if let Some(window) = web_sys::window() {
            let promise = window.navigator().clipboard().write_text(&value);
            leptos::task::spawn_local(async move {
                // The async clipboard needs a secure context and focus; else the old way.
                let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
                    || copy_with_selection(&value);
                copied.set(ok);
            });
        }
    };
    view! {
        <button type="button" class="copy" id=id on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// Copies through a temporary selected textarea and `document.execCommand("copy")`.
fn copy_with_selection(value: &str) -> bool {
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    let Some(area) = document
        .create_element("textarea")
        .ok()
        .and_then(|e| e.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
    else {
        return false;
    };
    area.set_value(value);
    let _ = area.set_attribute("style", "position:fixed;opacity:0");
    let Some(body) = document.body() else {
        return false;
    };
    if body.append_child(&area).is_err() {
        return false;
    }
    area.select();
    let ok = document
        .dyn_ref::<web_sys::HtmlDocument>()
        .and_then(|d| d.exec_command("copy").ok())
        .unwrap_or(false);
    area.remove();
    ok
}

/// "3 min ago" for a span of `seconds` in the past.
pub fn ago(seconds: f64) -> String {
    let s = seconds.max(0.0) as i64;
    match s {
        0..=59 => "just now".to_owned(),
        60..=3_599 => format!("{} min ago", s / 60),
        3_600..=86_399 => format!("{} h ago", s / 3_600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// How long ago an RFC 3339 time was, from the browser's clock.
pub fn since(rfc3339: &str) -> String {
    let then = js_sys::Date::parse(rfc3339);
    if then.is_nan() {
        return rfc3339.to_owned();
    }
    ago((js_sys::Date::now() - then) / 1000.0)
}

/// The SVG `points` of a sparkline over `counts` in a `width` × `height` box.
pub fn sparkline_points(counts: &[i64], width: f64, height: f64) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if counts.len() > 1 {
        width / (counts.len() - 1) as f64
    } else {
        0.0
    };
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let x = i as f64 * step;
            let y = height - (*c as f64 / max) * (height - 1.0);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A small line chart of counts over time.
#[component]
pub fn Sparkline(counts: Vec<i64>, #[prop(into)] label: String) -> impl IntoView {
    let points = sparkline_points(&counts, 80.0, 20.0);
    view! {
        <svg class="sparkline" viewBox="0 0 80 20" width="80" height="20" role="img" aria-label=label>
            <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5"/>
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(5.0), "just now");
        assert_eq!(ago(-3.0), "just now");
        assert_eq!(ago(120.0), "2 min ago");
        assert_eq!(ago(7_200.0), "2 h ago");
        assert_eq!(ago(200_000.0), "2 d ago");
    }

    #[test]
    fn sparklines_scale_to_the_peak() {
        assert_eq!(sparkline_points(&[], 80.0, 20.0), "");
        assert_eq!(sparkline_points(&[0, 2], 80.0, 20.0), "0.0,20.0 80.0,1.0");
        // All zero: a flat line at the bottom, not a division by zero.
        assert_eq!(
            sparkline_points(&[0, 0, 0], 80.0, 20.0),
            "0.0,20.0 40.0,20.0 80.0,20.0"
        );
    }
}
