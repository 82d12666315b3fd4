//! The event panel of the issue page, in the order people read an event (Sentry's order):
//! the handled/unhandled badge, the exception chain (most recent first, in-app frames open,
//! system frames folded), the message and logger of log events, the breadcrumbs as a timeline
//! (clock time, offset to the event, category, level, message, HTTP call and data), the
//! request, the user and the contexts as key/value cards, user feedback, attachments and the
//! raw JSON; the event's tags go beside it ([`event_tags`]). The reading of the stored event
//! is `crate::event`'s; this module only lays it out, the static parts as escaped markup (see
//! the note above `escape`).

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::api;
use crate::components::{display_value, escape, since};
use crate::event::{
    Card, LogMessage, Mechanism, Request, Row, SourceMapNote, clock_time, context_cards,
    crumb_data, epoch_seconds, event_mechanism, frame_location, log_message, noun_for,
    parse_rfc3339, plural, relative_offset, request_view, source_map_note, stack_summary,
    user_card, utc_date_time,
};

/// The fields of an event the page asks for (mirrors [`Event`]).
pub(crate) const EVENT_FIELDS: &str = "id eventId previousEventId nextEventId downloadUrl issue { id project { id } } timestamp level release environment \
    exceptions { type value mechanism frames { function module filename lineno colno inApp contextLine preContext postContext vars \
    symbolicated resolvedWith symbolicationError { code message } symbolicationWarning { code message } } \
    rawFrames { function module filename lineno colno inApp contextLine preContext postContext vars } } \
    breadcrumbs { timestamp type category message level data } tags { key value } user request contexts \
    attachments { filename contentType attachmentType size downloadUrl } userFeedback { name email comments } payload";

/// One stored event, as [`EVENT_FIELDS`] asks for it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) event_id: String,
    pub(crate) previous_event_id: Option<String>,
    pub(crate) next_event_id: Option<String>,
    pub(crate) download_url: String,
    pub(crate) issue: IssueRef,
    pub(crate) timestamp: String,
    pub(crate) level: String,
    pub(crate) release: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) exceptions: Vec<Exception>,
    pub(crate) breadcrumbs: Vec<Breadcrumb>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) user: Option<Value>,
    pub(crate) request: Option<Value>,
    pub(crate) contexts: Option<Value>,
    pub(crate) attachments: Vec<Attachment>,
    pub(crate) user_feedback: Vec<Feedback>,
    pub(crate) payload: Value,
}

/// The issue an event belongs to.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub(crate) struct IssueRef {
    pub(crate) id: String,
    pub(crate) project: ProjectRef,
}

/// The project of an event's issue.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub(crate) struct ProjectRef {
    pub(crate) id: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attachment {
    filename: String,
    content_type: Option<String>,
    attachment_type: String,
    size: i64,
    download_url: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub(crate) struct Feedback {
    name: Option<String>,
    email: Option<String>,
    comments: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Exception {
    r#type: Option<String>,
    value: Option<String>,
    mechanism: Option<Value>,
    frames: Vec<Frame>,
    /// The minified frames as the SDK sent them, when source maps rewrote `frames`.
    #[serde(default)]
    raw_frames: Option<Vec<Frame>>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Frame {
    function: Option<String>,
    module: Option<String>,
    filename: Option<String>,
    lineno: Option<i64>,
    #[serde(default)]
    colno: Option<i64>,
    in_app: Option<bool>,
    context_line: Option<String>,
    pre_context: Vec<String>,
    post_context: Vec<String>,
    vars: Option<Value>,
    #[serde(default)]
    symbolicated: bool,
    #[serde(default)]
    resolved_with: Option<String>,
    #[serde(default)]
    symbolication_error: Option<Note>,
    #[serde(default)]
    symbolication_warning: Option<Note>,
}

/// Why a frame was not mapped, or what a mapped one lacks.
#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Note {
    code: String,
    message: String,
}

impl Note {
    fn pair(&self) -> (&str, &str) {
        (&self.code, &self.message)
    }
}

impl Frame {
    /// What source maps did to the frame, in words.
    fn source_map(&self) -> Option<SourceMapNote> {
        source_map_note(
            self.symbolicated,
            self.resolved_with.as_deref(),
            self.symbolication_error.as_ref().map(Note::pair),
            self.symbolication_warning.as_ref().map(Note::pair),
        )
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub(crate) struct Breadcrumb {
    timestamp: Option<String>,
    r#type: Option<String>,
    category: Option<String>,
    message: Option<String>,
    level: Option<String>,
    data: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub(crate) struct Tag {
    key: String,
    value: String,
}

/// Breadcrumbs shown before "earlier breadcrumbs": the ones closest to the event.
const CRUMBS_SHOWN: usize = 20;

/// Minutes east of UTC of the browser's zone at `seconds` (daylight saving included).
fn local_offset_minutes(seconds: f64) -> i64 {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(seconds * 1000.0));
    -(date.get_timezone_offset() as i64)
}

/// The event panel's body (the navigation above it is the issue page's).
pub(crate) fn event_view(event: Event) -> AnyView {
    let raw = serde_json::to_string_pretty(&event.payload).unwrap_or_default();
    let json_file = format!("event-{}.json", event.event_id);
    let mechanisms: Vec<Option<Mechanism>> = event
        .exceptions
        .iter()
        .map(|e| e.mechanism.as_ref().and_then(Mechanism::of))
        .collect();
    let mechanism = event_mechanism(&mechanisms);
    let event_time =
        epoch_seconds(&event.payload["timestamp"]).or_else(|| parse_rfc3339(&event.timestamp));
    let has_exception = !event.exceptions.is_empty();
    let message = log_message(&event.payload).map(|m| message_html(&m));
    let has_message = message.is_some();
    // A log event leads with its message; an exception leads otherwise.
    let (message_first, message_after) = if has_exception {
        (None, message)
    } else {
        (message, None)
    };
    let mut below = crumbs_html(&event.breadcrumbs, event_time, &local_offset_minutes);
    if let Some(request) = event.request.as_ref().and_then(request_view) {
        below.push_str(&request_html(&request));
    }
    let mut cards: Vec<Card> = event
        .user
        .as_ref()
        .and_then(user_card)
        .into_iter()
        .collect();
    cards.extend(
        event
            .contexts
            .as_ref()
            .map(context_cards)
            .unwrap_or_default(),
    );
    below.push_str(&cards_html(&cards));
    view! {
        <p class="muted" id="event-id">{format!("{} · {}", event.event_id, since(&event.timestamp))}
            {event.release.clone().map(|r| {
                let href = use_context::<crate::app::CurrentAccount>().map(|account| {
                    crate::releases::release_path(&account.0.id, &event.issue.project.id, &r)
                });
                view! { " · release "<a id="event-release" class="release-link" href=href>{r}</a> }
            })}
            {event.environment.clone().map(|e| format!(" · {e}"))}
        </p>
        <p class="event-badges" id="event-badges" inner_html=badges_html(&event.level, mechanism.as_ref())></p>
        {message_first.map(|html| view! { <div class="event-part" inner_html=html></div> })}
        {has_exception.then(|| exception_section(&event.exceptions))}
        {(!has_exception && !has_message).then(|| view! {
            <p class="muted" id="no-exception">"No exception and no message: only the data below."</p>
        })}
        {message_after.map(|html| view! { <div class="event-part" inner_html=html></div> })}
        <div class="event-part" inner_html=below></div>
        {(!event.user_feedback.is_empty()).then(|| view! {
            <section aria-labelledby="feedback-h">
                <h3 id="feedback-h">"User feedback"</h3>
                <ul class="feedback">
                    {event.user_feedback.iter().map(|f| view! {
                        <li><blockquote>{f.comments.clone()}</blockquote>
                            <span class="muted small">{f.name.clone().unwrap_or_default()}" "{f.email.clone().unwrap_or_default()}</span></li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        {(!event.attachments.is_empty()).then(|| view! {
            <section aria-labelledby="attachments-h">
                <h3 id="attachments-h">"Attachments"</h3>
                <ul id="attachments">
                    {event.attachments.iter().enumerate().map(|(index, a)| view! {
                        <li class="attachment">
                            <code>{a.filename.clone()}</code>" "
                            <span class="muted small">{format!("{} · {}{}", a.attachment_type, crate::components::file_size(a.size),
                                a.content_type.as_deref().map(|t| format!(" · {t}")).unwrap_or_default())}</span>" "
                            <a class="button small" id=format!("attachment-{index}") href=api::local_path(&a.download_url)
                                download=a.filename.clone()>{format!("Download {}", a.filename)}</a>
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        <section aria-labelledby="raw-h">
            <h3 id="raw-h">"Raw event"</h3>
            <a class="button" id="event-json" download=json_file href=api::local_path(&event.download_url)>"Download JSON"</a>
            <details class="raw">
                <summary>"Show the JSON"</summary>
                <pre class="json small">{raw}</pre>
            </details>
        </section>
    }
    .into_any()
}

/// The exception chain, most recent first (the protocol sends it oldest first), each with its
/// mechanism and frames.
fn exception_section(exceptions: &[Exception]) -> AnyView {
    let heading = if exceptions.len() > 1 {
        format!(
            "Exceptions · chain of {}, most recent first",
            exceptions.len()
        )
    } else {
        "Exception".to_owned()
    };
    view! {
        <section aria-labelledby="exc-h" id="exception">
            <h3 id="exc-h">{heading}</h3>
            {exceptions.iter().rev().map(|exception| {
                let mut title = String::new();
                if let Some(ty) = exception.r#type.as_deref().filter(|t| !t.is_empty()) {
                    tagged(&mut title, "strong", "exc-type", ty);
                }
                if let Some(value) = exception.value.as_deref().filter(|v| !v.is_empty()) {
                    if !title.is_empty() {
                        title.push_str(": ");
                    }
                    tagged(&mut title, "span", "exc-value", value);
                }
                if let Some(mechanism) = exception.mechanism.as_ref().and_then(Mechanism::of) {
                    mechanism_html(&mut title, &mechanism, "");
                }
                view! {
                    <div class="exception">
                        <p class="exc-title" inner_html=title></p>
                        <StackView frames=exception.frames.clone() raw=exception.raw_frames.clone()/>
                    </div>
                }
            }).collect_view()}
        </section>
    }
    .into_any()
}

// The static parts of the event (badges, message, breadcrumbs, request, cards, tags) are
// written as markup text and set with `inner_html`: built as reactive views they cost the
// WASM bundle about 30 KB gzip'd, over its bound. Invariant: every piece of event data goes
// through `escape` (text and quoted attribute values alike); only literals of this module are
// pushed unescaped.

/// `<tag class="class">text</tag>`: `tag` and `class` are literals, `text` is escaped.
fn tagged(out: &mut String, tag: &str, class: &str, text: &str) {
    out.push('<');
    out.push_str(tag);
    if !class.is_empty() {
        out.push_str(" class=\"");
        out.push_str(class);
        out.push('"');
    }
    out.push('>');
    escape(out, text);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// Rows as a definition list (keys left, values right; stacked on a phone).
fn kv_html(out: &mut String, rows: &[Row]) {
    out.push_str("<dl class=\"kv\">");
    for (key, value) in rows {
        out.push_str("<div class=\"kv-row\">");
        tagged(out, "dt", "", key);
        tagged(out, "dd", "", value);
        out.push_str("</div>");
    }
    out.push_str("</dl>");
}

/// The handled/unhandled badge of a mechanism (`id` a literal, or empty).
fn mechanism_html(out: &mut String, mechanism: &Mechanism, id: &str) {
    out.push_str(match mechanism.handled {
        Some(false) => "<span class=\"badge mechanism unhandled\"",
        Some(true) => "<span class=\"badge mechanism handled\"",
        None => "<span class=\"badge mechanism\"",
    });
    if !id.is_empty() {
        out.push_str(" id=\"");
        out.push_str(id);
        out.push('"');
    }
    out.push('>');
    escape(out, &mechanism.label());
    out.push_str("</span>");
}

/// The event's level and how its exception was caught.
fn badges_html(level: &str, mechanism: Option<&Mechanism>) -> String {
    let mut out = String::from("<span class=\"level level-");
    escape(&mut out, level);
    out.push_str("\">");
    escape(&mut out, level);
    out.push_str("</span>");
    if let Some(mechanism) = mechanism {
        mechanism_html(&mut out, mechanism, "event-mechanism");
    }
    out
}

/// The message of a log event, its template and its logger.
fn message_html(message: &LogMessage) -> String {
    let mut out = String::from(
        "<section aria-labelledby=\"message-h\" id=\"event-message\" class=\"log-message\">\
         <h3 id=\"message-h\">Message</h3>",
    );
    tagged(&mut out, "p", "log-text", &message.text);
    if let Some(template) = &message.template {
        out.push_str("<p class=\"muted small\">Template: ");
        tagged(&mut out, "code", "", template);
        out.push_str("</p>");
    }
    if let Some(logger) = &message.logger {
        out.push_str("<p class=\"log-logger\">Logger <code id=\"event-logger\">");
        escape(&mut out, logger);
        out.push_str("</code></p>");
    }
    out.push_str("</section>");
    out
}

/// One breadcrumb of the timeline; `offset_of` gives the browser's UTC offset at a time.
fn crumb_html(
    out: &mut String,
    crumb: &Breadcrumb,
    event_time: Option<f64>,
    offset_of: &dyn Fn(f64) -> i64,
) {
    let seconds = crumb
        .timestamp
        .as_ref()
        .and_then(|t| epoch_seconds(&Value::String(t.clone())));
    let level = crumb.level.as_deref().unwrap_or("info");
    out.push_str("<li class=\"crumb\" data-level=\"");
    escape(out, level);
    out.push_str("\"><div class=\"crumb-when\">");
    match seconds {
        Some(s) => {
            out.push_str("<time class=\"crumb-time\" title=\"");
            escape(out, &utc_date_time(s));
            out.push_str("\">");
            escape(out, &clock_time(s, offset_of(s)));
            out.push_str("</time>");
            if let Some(event) = event_time {
                tagged(out, "span", "crumb-offset", &relative_offset(s - event));
            }
        }
        None => tagged(
            out,
            "span",
            "crumb-time",
            crumb.timestamp.as_deref().unwrap_or_default(),
        ),
    }
    out.push_str("</div><div class=\"crumb-body\"><p class=\"crumb-head\">");
    let kind = crumb
        .r#type
        .as_deref()
        .filter(|t| !t.is_empty() && *t != "default");
    let category = crumb.category.as_deref().or(kind).unwrap_or("default");
    tagged(out, "strong", "crumb-category", category);
    if let Some(kind) = kind.filter(|k| *k != category) {
        tagged(out, "span", "badge crumb-type", kind);
    }
    tagged(out, "span", "badge crumb-level", level);
    out.push_str("</p>");
    if let Some(message) = &crumb.message {
        tagged(out, "p", "crumb-message", message);
    }
    let data = crumb_data(crumb.data.as_ref());
    if let Some(call) = &data.http {
        out.push_str("<p class=\"crumb-http\">");
        if let Some(method) = &call.method {
            tagged(out, "span", "http-method", method);
        }
        if let Some(url) = &call.url {
            tagged(out, "code", "http-url", url);
        }
        if let Some(status) = call.status {
            out.push_str("<span class=\"http-status ");
            out.push_str(call.status_class());
            out.push_str("\">");
            out.push_str(&status.to_string());
            out.push_str("</span>");
        }
        out.push_str("</p>");
    }
    if !data.rows.is_empty() {
        kv_html(out, &data.rows);
    }
    out.push_str("</div></li>");
}

/// The breadcrumbs, oldest first so the last is the closest to the event; the earlier ones
/// beyond [`CRUMBS_SHOWN`] folded in a disclosure above the latest.
fn crumbs_html(
    crumbs: &[Breadcrumb],
    event_time: Option<f64>,
    offset_of: &dyn Fn(f64) -> i64,
) -> String {
    let folded = crumbs.len().saturating_sub(CRUMBS_SHOWN);
    let mut out = String::from(
        "<section aria-labelledby=\"crumbs-h\" id=\"event-breadcrumbs\">\
         <h3 id=\"crumbs-h\">Breadcrumbs <span class=\"muted small\">",
    );
    escape(&mut out, &plural(crumbs.len() as i64, "breadcrumb"));
    out.push_str("</span></h3>");
    if folded > 0 {
        out.push_str("<details class=\"crumbs-earlier\"><summary id=\"more-breadcrumbs\">");
        escape(
            &mut out,
            &format!("{folded} earlier {}", noun_for(folded as i64, "breadcrumb")),
        );
        out.push_str("</summary><ol class=\"timeline\">");
        for crumb in &crumbs[..folded] {
            crumb_html(&mut out, crumb, event_time, offset_of);
        }
        out.push_str("</ol></details>");
    }
    if crumbs.is_empty() {
        out.push_str("<p class=\"muted\">None were sent with this event.</p>");
    }
    out.push_str("<ol class=\"timeline\" id=\"breadcrumbs\">");
    for crumb in &crumbs[folded..] {
        crumb_html(&mut out, crumb, event_time, offset_of);
    }
    out.push_str("</ol></section>");
    out
}

/// The request card: method and URL, then query, body, headers, cookies and environment.
fn request_html(request: &Request) -> String {
    let mut out = String::from(
        "<section class=\"kv-card request-card\" id=\"event-request\" aria-labelledby=\"request-h\">\
         <h3 id=\"request-h\">Request</h3>",
    );
    if !request.line.is_empty() {
        out.push_str("<p class=\"request-line\">");
        tagged(&mut out, "code", "", &request.line);
        out.push_str("</p>");
    }
    for (title, rows) in [
        ("Query", &request.query),
        ("Body", &request.data),
        ("Headers", &request.headers),
        ("Cookies", &request.cookies),
        ("Environment", &request.env),
    ] {
        if !rows.is_empty() {
            tagged(&mut out, "h4", "kv-title", title);
            kv_html(&mut out, rows);
        }
    }
    out.push_str("</section>");
    out
}

/// The user and context cards, one titled card each (empty when there are none).
fn cards_html(cards: &[Card]) -> String {
    if cards.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section aria-labelledby=\"context-h\" id=\"event-context\">\
         <h3 id=\"context-h\">User and contexts</h3><div class=\"cards\" id=\"context-cards\">",
    );
    for card in cards {
        out.push_str("<section class=\"kv-card\" data-card=\"");
        escape(&mut out, &card.key);
        out.push_str("\">");
        tagged(&mut out, "h4", "kv-title", &card.title);
        kv_html(&mut out, &card.rows);
        out.push_str("</section>");
    }
    out.push_str("</div></section>");
    out
}

/// The event's tags as key/value rows.
fn tags_html(tags: &[Tag]) -> String {
    let mut out = String::from(
        "<section aria-labelledby=\"tags-ev-h\" id=\"event-tags\"><h2 id=\"tags-ev-h\">Tags of this event</h2>",
    );
    if tags.is_empty() {
        out.push_str("<p class=\"muted\">No tags.</p>");
    } else {
        let rows: Vec<Row> = tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        kv_html(&mut out, &rows);
    }
    out.push_str("</section>");
    out
}

/// The event's tags, for the column beside the event.
pub(crate) fn event_tags(tags: &[Tag]) -> AnyView {
    view! { <div class="side-part" inner_html=tags_html(tags)></div> }.into_any()
}

/// One exception's frames; when source maps rewrote them, a toggle between the original
/// frames and the minified ones the SDK sent, with how many were mapped.
#[component]
fn StackView(frames: Vec<Frame>, raw: Option<Vec<Frame>>) -> impl IntoView {
    let notes: Vec<Option<SourceMapNote>> = frames.iter().map(Frame::source_map).collect();
    let summary = stack_summary(&notes);
    let Some(raw) = raw else {
        return view! {
            {summary.map(|s| view! { <p class="muted small stack-summary">{s}</p> })}
            <FrameList frames/>
        }
        .into_any();
    };
    let minified = RwSignal::new(false);
    let choice = move |label: &'static str, value: bool| {
        view! {
            <button type="button" class="small" aria-pressed=move || (minified.get() == value).to_string()
                on:click=move |_| minified.set(value)>{label}</button>
        }
    };
    let (frames, raw) = (StoredValue::new(frames), StoredValue::new(raw));
    view! {
        <div class="stack-toggle" role="group" aria-label="Stack trace">
            {choice("Original", false)}{choice("Minified", true)}
            {summary.map(|s| view! { <span class="muted small stack-summary">{s}</span> })}
        </div>
        {move || if minified.get() {
            view! { <FrameList frames=raw.get_value()/> }.into_any()
        } else {
            view! { <FrameList frames=frames.get_value()/> }.into_any()
        }}
    }
    .into_any()
}

/// The frames of one exception, innermost first: in-app frames open and highlighted, system
/// frames folded behind one button (all shown when none is in-app, as nothing else would be).
#[component]
fn FrameList(frames: Vec<Frame>) -> impl IntoView {
    let show_system = RwSignal::new(false);
    let frames: Vec<Frame> = frames.into_iter().rev().collect();
    let any_in_app = frames.iter().any(|f| f.in_app == Some(true));
    let system_count = frames.iter().filter(|f| f.in_app != Some(true)).count();
    view! {
        <ol class="frames">
            {frames.into_iter().map(|frame| {
                let in_app = frame.in_app == Some(true) || !any_in_app;
                view! {
                    <Show when=move || in_app || show_system.get()>
                        <FrameView frame=frame.clone()/>
                    </Show>
                }
            }).collect_view()}
        </ol>
        {(system_count > 0 && any_in_app).then(|| view! {
            <button type="button" class="ghost" id="toggle-system-frames"
                aria-pressed=move || show_system.get().to_string()
                on:click=move |_| show_system.update(|s| *s = !*s)>
                {move || format!("{} {}", if show_system.get() { "Hide" } else { "Show" },
                    plural(system_count as i64, "system frame"))}
            </button>
        })}
    }
}

#[component]
fn FrameView(frame: Frame) -> impl IntoView {
    let in_app = frame.in_app == Some(true);
    let open = RwSignal::new(in_app);
    let location = frame_location(
        frame.filename.as_deref().or(frame.module.as_deref()),
        frame.lineno,
        frame.colno,
    );
    // A mapped frame: the badge (how, in its tooltip) and what it lacks; an unmapped one: why.
    let (badge, line) = match frame.source_map() {
        Some(SourceMapNote::Mapped { tooltip, warning }) => (
            Some(tooltip),
            warning.map(|w| ("frame-note muted small", w)),
        ),
        Some(SourceMapNote::Unmapped { text }) => (None, Some(("frame-note warn small", text))),
        None => (None, None),
    };
    let has_detail = frame.context_line.is_some() || frame.vars.is_some();
    let lineno = frame.lineno.unwrap_or(0);
    let pre = frame.pre_context.clone();
    let post = frame.post_context.clone();
    let context_line = frame.context_line.clone();
    let vars = frame.vars.clone();
    view! {
        <li class="frame" class:in-app=in_app class:system=!in_app data-in-app=in_app.to_string()>
            <button type="button" class="frame-head" aria-expanded=move || open.get().to_string()
                disabled=!has_detail on:click=move |_| open.update(|o| *o = !*o)>
                <span class="fn">{frame.function.clone().unwrap_or_else(|| "?".to_owned())}</span>
                <span class="muted">" in "{location}</span>
                {in_app.then(|| view! { <span class="badge in-app-badge">"in app"</span> })}
                {badge.map(|tooltip| view! { <span class="badge sourcemap-badge" title=tooltip>"source map"</span> })}
            </button>
            {line.map(|(class, text)| view! { <p class=class role="note">{text}</p> })}
            <Show when=move || open.get() && has_detail>
                <div class="frame-detail">
                    <pre class="context">
                        {pre.iter().enumerate().map(|(i, l)| view! {
                            <span class="line"><span class="ln">{lineno - (pre.len() - i) as i64}</span>{l.clone()}"\n"</span>
                        }).collect_view()}
                        {context_line.clone().map(|l| view! { <span class="line current"><span class="ln">{lineno}</span>{l}"\n"</span> })}
                        {post.iter().enumerate().map(|(i, l)| view! {
                            <span class="line"><span class="ln">{lineno + 1 + i as i64}</span>{l.clone()}"\n"</span>
                        }).collect_view()}
                    </pre>
                    {vars.clone().filter(|v| !v.is_null()).map(|v| view! {
                        <table class="vars"><caption class="sr-only">"Local variables"</caption><tbody>
                            {v.as_object().map(|o| o.iter().map(|(k, val)| view! {
                                <tr><th scope="row">{k.clone()}</th><td><code>{display_value(val)}</code></td></tr>
                            }).collect_view())}
                        </tbody></table>
                    })}
                </div>
            </Show>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crumb(value: Value) -> Breadcrumb {
        serde_json::from_value(value).expect("a breadcrumb")
    }

    #[test]
    fn event_data_is_escaped_in_text_and_attributes() {
        let mut out = String::new();
        escape(&mut out, r#"<img src=x onerror="alert('x')">&"#);
        assert_eq!(
            out,
            "&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;"
        );
        let html = crumbs_html(
            &[crumb(
                json!({"timestamp": "1733580000.123", "type": "default",
                "category": "<b>", "message": "</li><script>", "level": "\"><x",
                "data": {"k": "<v>"}}),
            )],
            None,
            &|_| 0,
        );
        assert!(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<v>"));
        assert!(html.contains("data-level=\"&quot;&gt;&lt;x\""), "{html}");
        let cards = cards_html(&[Card {
            key: "\" onclick=\"x".into(),
            title: "<i>".into(),
            rows: vec![("<k>".into(), "<v>".into())],
        }]);
        assert!(
            cards.contains("data-card=\"&quot; onclick=&quot;x\""),
            "{cards}"
        );
        assert!(!cards.contains("<i>") && !cards.contains("<k>"), "{cards}");
    }

    #[test]
    fn breadcrumbs_show_clock_times_offsets_and_http_calls() {
        let crumbs = [
            crumb(
                json!({"timestamp": "2024-12-07T14:00:00.000Z", "category": "query",
                "message": "SELECT 1", "type": "default"}),
            ),
            crumb(
                json!({"timestamp": "1733580000.123", "type": "http", "category": "http",
                "data": {"url": "http://pricing.internal/q", "method": "POST", "status_code": 429}}),
            ),
        ];
        let html = crumbs_html(&crumbs, Some(1_733_580_000.2), &|_| 60);
        assert!(html.contains(">15:00:00.000</time>"), "{html}");
        assert!(html.contains(">15:00:00.123</time>"), "{html}");
        assert!(
            html.contains("title=\"2024-12-07 14:00:00.123 UTC\""),
            "{html}"
        );
        assert!(
            html.contains("-200 ms") && html.contains("-77 ms"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"http-method\">POST</span>"),
            "{html}"
        );
        assert!(html.contains("<code class=\"http-url\">http://pricing.internal/q</code>"));
        assert!(html.contains("<span class=\"http-status client-error\">429</span>"));
        assert!(!html.contains("1733580000"), "no raw epoch: {html}");
        assert!(html.contains("2 breadcrumbs") && !html.contains("more-breadcrumbs"));
        // More than CRUMBS_SHOWN: the earlier ones folded above the latest.
        let many: Vec<Breadcrumb> = (0..25)
            .map(|i| crumb(json!({"timestamp": (1_733_580_000 + i).to_string(), "message": format!("m{i}")})))
            .collect();
        let html = crumbs_html(&many, None, &|_| 0);
        assert!(html.contains(">5 earlier breadcrumbs</summary>"), "{html}");
        let latest = html.split("id=\"breadcrumbs\"").nth(1).expect("the latest");
        assert!(
            latest.contains(">m5<") && !latest.contains(">m4<"),
            "{latest}"
        );
    }

    #[test]
    fn badges_name_the_level_and_the_mechanism() {
        let mechanism = Mechanism::of(&json!({"type": "excepthook", "handled": false}));
        assert_eq!(
            badges_html("error", mechanism.as_ref()),
            "<span class=\"level level-error\">error</span>\
             <span class=\"badge mechanism unhandled\" id=\"event-mechanism\">unhandled · excepthook</span>"
        );
        assert_eq!(
            badges_html("info", None),
            "<span class=\"level level-info\">info</span>"
        );
    }
}
