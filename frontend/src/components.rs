//! Widgets shared by the pages: loading and error states (and [`loaded`], which picks one),
//! form fields and the submission state of a form or button ([`Submit`]), the theme toggle,
//! the copy button, relative times, shares as bars, values as an SDK sent them, and the
//! sparkline. They format and display; they decide nothing.

use leptos::prelude::*;
use serde_json::Value;

use crate::api::{self, ApiError};

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

/// A failed request in words (no codes; the code stays in `data-code` for tests and
/// styles), with a way to sign in again when the session ended.
#[component]
pub fn ErrorNote(error: ApiError) -> impl IntoView {
    view! {
        <div class="error-note" role="alert" data-code=error.code.clone()>
            <strong>{error.sentence()}</strong>
            {(error.code == "UNAUTHENTICATED").then(|| view! { <p><a href="/login">"Log in"</a></p> })}
        </div>
    }
}

/// The view of a loaded value: [`Loading`] until it arrives, its error, or `view` of it.
pub fn loaded<T, V: IntoView + 'static>(
    value: Option<Result<T, ApiError>>,
    what: &'static str,
    view: impl FnOnce(T) -> V,
) -> AnyView {
    match value {
        None => view! { <Loading what=what/> }.into_any(),
        Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
        Some(Ok(value)) => view(value).into_any(),
    }
}

/// A list belonging to an account, loaded when the component mounts (`document` takes the
/// account as `$a`; the list is at `pointer` of the answer).
pub fn account_list<T: serde::de::DeserializeOwned + 'static>(
    account_id: String,
    document: &'static str,
    pointer: &'static str,
) -> LocalResource<Result<Vec<T>, ApiError>> {
    LocalResource::new(move || {
        let account_id = account_id.clone();
        async move {
            api::query::<Vec<T>>(document, serde_json::json!({"a": account_id}), pointer).await
        }
    })
}

/// A labelled input bound to `value`.
#[component]
pub fn Field(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    #[prop(into)] kind: String,
    value: RwSignal<String>,
    #[prop(optional, into)] autocomplete: Option<String>,
) -> impl IntoView {
    let for_id = id.clone();
    view! {
        <label class="field" for=for_id>
            <span>{label}</span>
            <input id=id type=kind required=true autocomplete=autocomplete bind:value=value/>
        </label>
    }
}

/// The state of a form or action button: whether a submission is running, and the last error
/// (shown by [`SubmitError`]). `Copy`, so one can be shared by the sections of a page.
#[derive(Clone, Copy)]
pub struct Submit {
    /// A submission is running (buttons disable themselves).
    pub pending: RwSignal<bool>,
    /// The last submission's error.
    pub error: RwSignal<Option<ApiError>>,
}

impl Default for Submit {
    fn default() -> Self {
        Self::new()
    }
}

impl Submit {
    /// Idle, no error.
    pub fn new() -> Self {
        Self {
            pending: RwSignal::new(false),
            error: RwSignal::new(None),
        }
    }

    /// Runs `work` unless a submission is already running; its error is kept for display.
    pub fn run<F>(self, work: F)
    where
        F: Future<Output = Result<(), ApiError>> + 'static,
    {
        if self.pending.get_untracked() {
            return;
        }
        self.pending.set(true);
        self.error.set(None);
        leptos::task::spawn_local(async move {
            let result = work.await;
            self.pending.set(false);
            if let Err(e) = result {
                self.error.set(Some(e));
            }
        });
    }

    /// Runs one GraphQL operation, then `done` with its data.
    pub fn mutate(
        self,
        document: &'static str,
        variables: Value,
        done: impl FnOnce(Value) + 'static,
    ) {
        self.run(async move {
            let data = api::gql(document, variables).await?;
            done(data);
            Ok(())
        });
    }
}

/// The error of the last submission, if it failed.
#[component]
pub fn SubmitError(submit: Submit) -> impl IntoView {
    move || submit.error.get().map(|error| view! { <ErrorNote error/> })
}

/// Asks the browser's confirmation dialog; false when declined or unavailable.
pub fn confirm(message: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(message).ok())
        .unwrap_or(false)
}

/// A full page load of `path`: after a change of user or of the viewer's accounts, every
/// cached view, the viewer first, starts afresh. Also leaves for another site (Stripe's pages).
pub fn go_to(path: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
}

/// `path` of this site as an absolute URL (for the API's return URLs, such as Stripe's).
pub fn absolute_url(path: &str) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    format!("{origin}{path}")
}

/// Resolves after `ms` milliseconds (a browser timer; never without a window).
pub async fn sleep_ms(ms: i32) {
    let timer = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(timer).await;
}

/// A value as the SDK sent it: strings as they are (an SDK's `repr`, such as Python's `'card'`,
/// keeps its own quotes and is not quoted again), lists and maps written out around them.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(display_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k}: {}", display_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// `text` escaped for HTML text and quoted attribute values (for the parts of pages written as
/// markup and set with `inner_html`).
pub fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Counts over time as bars scaled to the largest (at least a sliver each), each titled (a
/// bucket's date and count); `label` describes the whole chart to screen readers.
#[component]
pub fn CountBars(bars: Vec<(String, i64)>, #[prop(into)] label: String) -> impl IntoView {
    let max = bars.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    view! {
        <div class="bars" role="img" aria-label=label>
            {bars.into_iter().map(|(title, count)| {
                let height = (count as f64 / max as f64 * 100.0).max(2.0);
                view! { <span class="bar" style=format!("height:{height:.0}%") title=title></span> }
            }).collect_view()}
        </div>
    }
}

/// `part` of `whole` in whole percent (0 when the whole is empty); under 1 % but not zero
/// shows as 1.
pub fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 || part <= 0 {
        return 0;
    }
    ((part as f64 / whole as f64 * 100.0).round() as i64).clamp(1, 100)
}

/// One labelled share as a bar with its percentage (tag distributions).
#[component]
pub fn ShareBar(#[prop(into)] label: String, count: i64, total: i64) -> impl IntoView {
    let share = percent(count, total);
    let title = format!("{label}: {count} of {total}");
    view! {
        <li class="share" title=title>
            <span class="share-label">{label}</span>
            <span class="share-bar" aria-hidden="true"><span style=format!("width:{share}%")></span></span>
            <span class="share-pct">{format!("{share}%")}</span>
        </li>
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

/// RFC 3339 of now plus `offset_ms` (negative: in the past), from the browser's clock.
pub fn iso_from_now(offset_ms: f64) -> String {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        js_sys::Date::now() + offset_ms,
    ))
    .to_iso_string()
    .into()
}

/// A size in bytes for people: `14 bytes`, `2.5 KiB`, `3.0 MiB`.
pub fn file_size(bytes: i64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} byte{}", if bytes == 1 { "" } else { "s" })
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / KIB / KIB)
    } else {
        format!("{:.1} GiB", b / KIB / KIB / KIB)
    }
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

/// An RFC 3339 time as the browser's locale writes it in local time (the text itself when
/// it does not parse).
pub fn local_time(rfc3339: &str) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(rfc3339));
    if date.get_time().is_nan() {
        return rfc3339.to_owned();
    }
    date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

/// An issue's state in words: `unresolved`, `resolved`, or what its ignore waits for
/// ("ignored until 15:20", see [`crate::triage::ignore_label`]), on the browser's clock.
pub fn status_words(
    status: &str,
    ignored_until: Option<&str>,
    more_events: Option<i64>,
    more_users: Option<i64>,
) -> String {
    if status != "IGNORED" {
        return status.to_lowercase();
    }
    let until_ms = ignored_until
        .map(js_sys::Date::parse)
        .filter(|ms| !ms.is_nan());
    let offset_minutes = js_sys::Date::new_0().get_timezone_offset();
    crate::triage::ignore_label(
        until_ms,
        more_events,
        more_users,
        js_sys::Date::now(),
        offset_minutes,
    )
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
    fn values_show_as_the_sdk_sent_them() {
        use serde_json::json;
        assert_eq!(display_value(&json!("'card'")), "'card'");
        assert_eq!(display_value(&json!(3)), "3");
        assert_eq!(display_value(&json!(null)), "null");
        assert_eq!(
            display_value(&json!({"items": ["'a'", 2], "ok": true})),
            "{items: ['a', 2], ok: true}"
        );
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(file_size(1), "1 byte");
        assert_eq!(file_size(14), "14 bytes");
        assert_eq!(file_size(2560), "2.5 KiB");
        assert_eq!(file_size(3 * 1024 * 1024 + 7), "3.0 MiB");
    }

    #[test]
    fn shares_round_to_whole_percents() {
        assert_eq!(percent(3, 4), 75);
        assert_eq!(percent(1, 1000), 1, "a sliver still shows");
        assert_eq!(percent(0, 10), 0);
        assert_eq!(percent(5, 0), 0);
        assert_eq!(percent(9, 9), 100);
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
