//! `/:account/issues/:issue[?event=ID]`: one issue (state, counts, first/last seen and
//! releases, a 14-day frequency chart, tag distributions, actions, the grouping explanation,
//! activity) and one of its events (exception chain with frames, breadcrumbs, request, user,
//! contexts, tags, raw JSON), with oldest/previous/next/latest navigation between events.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{self, ApiError};
use crate::app::CurrentAccount;
use crate::components::{ErrorNote, Loading, since};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Issue {
    id: String,
    title: String,
    culprit: Option<String>,
    level: String,
    status: String,
    substatus: Option<String>,
    count: i64,
    user_count: i64,
    first_seen: String,
    last_seen: String,
    first_release: Option<String>,
    last_release: Option<String>,
    assignee: Option<Assignee>,
    project: ProjectRef,
    grouping: Grouping,
    activity: Vec<Activity>,
    tag_facets: Vec<TagFacet>,
    event_counts: Vec<DayCount>,
    events: api::Nodes<EventRef>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Assignee {
    email: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct ProjectRef {
    id: String,
    name: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Grouping {
    version: i64,
    components: Value,
    fingerprints: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Activity {
    kind: String,
    actor: String,
    created_at: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct TagFacet {
    key: String,
    top_values: Vec<TagValue>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct TagValue {
    value: String,
    count: i64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct DayCount {
    time: String,
    count: i64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct EventRef {
    event_id: String,
    timestamp: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Event {
    event_id: String,
    timestamp: String,
    level: String,
    release: Option<String>,
    environment: Option<String>,
    exceptions: Vec<Exception>,
    breadcrumbs: Vec<Breadcrumb>,
    tags: Vec<Tag>,
    user: Option<Value>,
    request: Option<Value>,
    contexts: Option<Value>,
    attachments: Vec<Attachment>,
    user_feedback: Vec<Feedback>,
    payload: Value,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    id: String,
    filename: String,
    content_type: Option<String>,
    attachment_type: String,
    size: i64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Feedback {
    name: Option<String>,
    email: Option<String>,
    comments: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Exception {
    r#type: Option<String>,
    value: Option<String>,
    frames: Vec<Frame>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Frame {
    function: Option<String>,
    module: Option<String>,
    filename: Option<String>,
    lineno: Option<i64>,
    in_app: Option<bool>,
    context_line: Option<String>,
    pre_context: Vec<String>,
    post_context: Vec<String>,
    vars: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Breadcrumb {
    timestamp: Option<String>,
    category: Option<String>,
    message: Option<String>,
    level: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Tag {
    key: String,
    value: String,
}

const ISSUE_QUERY: &str = "query($id: ID!, $from: DateTime) { issue(id: $id) { id title culprit level status substatus \
    count userCount firstSeen lastSeen firstRelease lastRelease assignee { email } project { id name } \
    grouping { version components fingerprints } activity { kind actor createdAt } \
    tagFacets(limit: 8) { key topValues { value count } } eventCounts(from: $from, interval: DAY) { time count } \
    events(first: 100) { nodes { eventId timestamp } } } }";

const EVENT_FIELDS: &str = "eventId timestamp level release environment \
    exceptions { type value frames { function module filename lineno inApp contextLine preContext postContext vars } } \
    breadcrumbs { timestamp category message level } tags { key value } user request contexts \
    attachments { id filename contentType attachmentType size } userFeedback { name email comments } payload";

/// The query of one event, by project and SDK event id.
pub fn event_query() -> String {
    format!(
        "query($p: ID!, $e: String!) {{ event(projectId: $p, eventId: $e) {{ {EVENT_FIELDS} }} }}"
    )
}

/// Which event of `events` (newest first) to show for `wanted`, and its neighbours:
/// (index, older, newer).
fn neighbours(events: &[String], wanted: Option<&str>) -> (usize, Option<usize>, Option<usize>) {
    let at = wanted
        .and_then(|w| events.iter().position(|e| e == w))
        .unwrap_or(0);
    let older = (at + 1 < events.len()).then_some(at + 1);
    let newer = at.checked_sub(1);
    (at, older, newer)
}

#[component]
pub fn IssuePage() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    let params = use_params_map();
    let query_map = use_query_map();
    let issue_id = Memo::new(move |_| params.read().get("issue").unwrap_or_default());
    let wanted_event = Memo::new(move |_| query_map.read().get("event"));
    let issue = LocalResource::new(move || {
        let id = issue_id.get();
        let from = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
            js_sys::Date::now() - 14.0 * 86_400_000.0,
        ))
        .to_iso_string()
        .as_string()
        .unwrap_or_default();
        async move { api::query::<Issue>(ISSUE_QUERY, json!({"id": id, "from": from}), "issue").await }
    });
    crate::live::subscribe(
        "subscription($i: ID) { issueUpdated(issueId: $i) { id } }",
        json!({"i": issue_id.get_untracked()}),
        move |_| issue.refetch(),
        move || issue.refetch(),
    );
    let account = StoredValue::new(account);
    move || {
        match issue.get() {
        None => view! { <Loading what="the issue"/> }.into_any(),
        Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
        Some(Ok(issue_data)) => view! {
            <IssueView issue=issue_data account=account.get_value() wanted_event on_change=move || issue.refetch()/>
        }
        .into_any(),
    }
    }
}

#[component]
fn IssueView(
    issue: Issue,
    account: crate::api::AccountSummary,
    wanted_event: Memo<Option<String>>,
    on_change: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let can_triage = account.can_triage();
    let action_error = RwSignal::new(None::<ApiError>);
    let navigate = use_navigate();
    let issue_id = issue.id.clone();
    let account_id = account.id.clone();
    let release = RwSignal::new(issue.last_release.clone().unwrap_or_default());
    let act = {
        let issue_id = issue_id.clone();
        let account_id = account_id.clone();
        move |mutation: &'static str| {
            let issue_id = issue_id.clone();
            let account_id = account_id.clone();
            let on_change = on_change.clone();
            let navigate = navigate.clone();
            leptos::task::spawn_local(async move {
                let document = match mutation {
                    // Something else changed the issue (assign, unmerge): only reload it.
                    "refresh" => {
                        on_change();
                        return;
                    }
                    "resolve" => "mutation($id: ID!) { resolveIssue(id: $id) { id } }",
                    "resolveNext" => {
                        "mutation($id: ID!) { resolveIssueInNextRelease(id: $id) { id } }"
                    }
                    "ignore" => "mutation($id: ID!) { ignoreIssue(id: $id) { id } }",
                    "ignore100" => {
                        "mutation($id: ID!) { ignoreIssue(id: $id, moreEvents: 100) { id } }"
                    }
                    "ignoreHour" => {
                        "mutation($id: ID!, $until: DateTime) { ignoreIssue(id: $id, until: $until) { id } }"
                    }
                    "resolveInRelease" => {
                        "mutation($id: ID!, $release: String!) { resolveIssueInRelease(id: $id, release: $release) { id } }"
                    }
                    "reopen" => "mutation($id: ID!) { reopenIssue(id: $id) { id } }",
                    "bookmark" => {
                        "mutation($id: ID!) { bookmarkIssue(id: $id, bookmarked: true) { id } }"
                    }
                    "delete" => "mutation($id: ID!) { deleteIssue(id: $id) }",
                    _ => return,
                };
                let in_an_hour = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
                    js_sys::Date::now() + 3_600_000.0,
                ))
                .to_iso_string()
                .as_string()
                .unwrap_or_default();
                let mut variables = json!({"id": issue_id});
                if mutation == "ignoreHour" {
                    variables["until"] = json!(in_an_hour);
                }
                if mutation == "resolveInRelease" {
                    variables["release"] = json!(release.get_untracked());
                }
                match api::gql(document, variables).await {
                    Ok(_) if mutation == "delete" => {
                        navigate(&format!("/{account_id}/issues"), NavigateOptions::default());
                    }
                    Ok(_) => {
                        action_error.set(None);
                        on_change();
                    }
                    Err(e) => action_error.set(Some(e)),
                }
            });
        }
    };
    let button = |name: &'static str, label: &'static str, primary: bool| {
        let act = act.clone();
        view! {
            <button type="button" id=format!("action-{name}") class:primary=primary
                disabled=!can_triage
                title=if can_triage { "" } else { "Viewers cannot change issues" }
                on:click=move |_| {
                    if name == "delete" {
                        let confirmed = web_sys::window()
                            .and_then(|w| w.confirm_with_message("Delete this issue and its events?").ok())
                            .unwrap_or(false);
                        if !confirmed { return; }
                    }
                    act(name)
                }>{label}</button>
        }
    };
    let unresolved = issue.status == "UNRESOLVED";
    let event_ids: Vec<String> = issue
        .events
        .nodes
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    let event_ids = StoredValue::new(event_ids);
    let project_id = issue.project.id.clone();
    let max_day = issue
        .event_counts
        .iter()
        .map(|c| c.count)
        .max()
        .unwrap_or(0)
        .max(1);
    view! {
        <article class="issue-page" id="issue-page" data-status=issue.status.clone()>
            <p class="crumbs"><a href=format!("/{account_id}/issues")>"Issues"</a>" / "{issue.project.name.clone()}</p>
            <header class="issue-head">
                <h1 id="issue-title"><span class=format!("level level-{}", issue.level)>{issue.level.clone()}</span>{issue.title.clone()}</h1>
                <p class="muted">{issue.culprit.clone().unwrap_or_default()}</p>
                <p>
                    <span class="badge" id="issue-status">{issue.status.to_lowercase()}</span>
                    {issue.substatus.clone().map(|s| view! { <span class="badge">{s}</span> })}
                    {issue.assignee.clone().and_then(|a| a.email).map(|e| view! { <span class="badge">{format!("assigned to {e}")}</span> })}
                </p>
            </header>
            <div class="actions" role="group" aria-label="Issue actions">
                {if unresolved {
                    view! {
                        {button("resolve", "Resolve", true)}
                        {button("resolveNext", "Resolve in next release", false)}
                        {button("ignore", "Ignore", false)}
                        {button("ignore100", "Ignore until 100 more events", false)}
                        {button("ignoreHour", "Ignore for an hour", false)}
                        <label class="release-input">
                            <span class="sr-only">"Release"</span>
                            <input id="resolve-release" type="text" placeholder="release" bind:value=release disabled=!can_triage/>
                        </label>
                        {button("resolveInRelease", "Resolve in this release", false)}
                    }.into_any()
                } else {
                    button("reopen", "Reopen", true).into_any()
                }}
                {button("bookmark", "Bookmark", false)}
                <AssignControl issue_id=issue_id.clone() account_id=account_id.clone() can_triage on_done=act.clone()/>
                {button("delete", "Delete", false)}
            </div>
            {(!can_triage).then(|| view! { <p class="notice" id="viewer-note">"You are a viewer in this account: you can look, not change."</p> })}
            {move || action_error.get().map(|error| view! { <ErrorNote error/> })}
            <section class="stats">
                <div><span class="stat" id="issue-count">{issue.count}</span>" events"</div>
                <div><span class="stat">{issue.user_count}</span>" users"</div>
                <div>"First seen "{since(&issue.first_seen)}{issue.first_release.clone().map(|r| format!(" in {r}"))}</div>
                <div>"Last seen "{since(&issue.last_seen)}{issue.last_release.clone().map(|r| format!(" in {r}"))}</div>
            </section>
            <section aria-labelledby="freq-h">
                <h2 id="freq-h">"Events in the last 14 days"</h2>
                <div class="bars" role="img" aria-label="events per day">
                    {issue.event_counts.iter().map(|c| {
                        let height = (c.count as f64 / max_day as f64 * 100.0).max(2.0);
                        view! { <span class="bar" style=format!("height:{height:.0}%") title=format!("{}: {}", &c.time[..10.min(c.time.len())], c.count)></span> }
                    }).collect_view()}
                </div>
            </section>
            <div class="two-col">
                <section aria-labelledby="tags-h">
                    <h2 id="tags-h">"Tags"</h2>
                    {issue.tag_facets.iter().map(|f| view! {
                        <div class="facet">
                            <strong>{f.key.clone()}</strong>
                            <ul>{f.top_values.iter().map(|v| view! { <li>{v.value.clone()}" "<span class="muted">{v.count}</span></li> }).collect_view()}</ul>
                        </div>
                    }).collect_view()}
                </section>
                <section aria-labelledby="grouping-h">
                    <h2 id="grouping-h">"Why these events are one issue"</h2>
                    <p class="muted">{format!("Grouping version {}", issue.grouping.version)}</p>
                    <pre class="json small">{serde_json::to_string_pretty(&issue.grouping.components).unwrap_or_default()}</pre>
                    <Fingerprints issue_id=issue_id.clone() fingerprints=issue.grouping.fingerprints.clone()
                        can_triage on_done=act.clone()/>
                </section>
            </div>
            <EventPanel project_id event_ids wanted_event account_id=account_id.clone() issue_id=issue_id.clone()/>
            <section aria-labelledby="activity-h">
                <h2 id="activity-h">"Activity"</h2>
                <ul class="activity">
                    {issue.activity.iter().map(|a| view! {
                        <li>{a.kind.clone()}" by "{a.actor.clone()}" "<span class="muted">{since(&a.created_at)}</span></li>
                    }).collect_view()}
                </ul>
            </section>
        </article>
    }
}

/// The fingerprints grouped into this issue; with several (after a merge), each can be split
/// off again into an issue of its own.
#[component]
fn Fingerprints<F>(
    issue_id: String,
    fingerprints: Vec<String>,
    can_triage: bool,
    on_done: F,
) -> impl IntoView
where
    F: Fn(&'static str) + Clone + 'static,
{
    let error = RwSignal::new(None::<ApiError>);
    let several = fingerprints.len() > 1;
    view! {
        <ul class="fingerprints small" id="fingerprints">
            {fingerprints.into_iter().map(|fingerprint| {
                let issue_id = issue_id.clone();
                let on_done = on_done.clone();
                let fingerprint_for_request = fingerprint.clone();
                let unmerge = move |_| {
                    let issue_id = issue_id.clone();
                    let fingerprint = fingerprint_for_request.clone();
                    let on_done = on_done.clone();
                    leptos::task::spawn_local(async move {
                        match api::gql(
                            "mutation($i: ID!, $f: String!) { unmergeFingerprint(issueId: $i, fingerprint: $f) { id } }",
                            json!({"i": issue_id, "f": fingerprint}),
                        )
                        .await
                        {
                            Ok(_) => on_done("refresh"),
                            Err(e) => error.set(Some(e)),
                        }
                    });
                };
                view! {
                    <li><code>{fingerprint.clone()}</code>
                        {(several && can_triage).then(|| view! { <button type="button" class="small" on:click=unmerge>"Unmerge"</button> })}
                    </li>
                }
            }).collect_view()}
        </ul>
        {move || error.get().map(|error| view! { <ErrorNote error/> })}
    }
}

/// Assigns the issue to a member of the account.
#[component]
fn AssignControl<F>(
    issue_id: String,
    account_id: String,
    can_triage: bool,
    on_done: F,
) -> impl IntoView
where
    F: Fn(&'static str) + Clone + 'static,
{
    #[derive(Clone, Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Member {
        user_id: String,
        email: String,
    }
    let members = LocalResource::new(move || {
        let account_id = account_id.clone();
        async move {
            api::gql(
                "query($a: ID!) { account(id: $a) { members(first: 100) { nodes { userId email } } } }",
                json!({"a": account_id}),
            )
            .await
            .and_then(|d| api::decode::<Vec<Member>>(d["account"]["members"]["nodes"].clone()))
        }
    });
    let error = RwSignal::new(None::<ApiError>);
    let on_change = move |ev: leptos::ev::Event| {
        let user = event_target_value(&ev);
        let issue_id = issue_id.clone();
        let on_done = on_done.clone();
        leptos::task::spawn_local(async move {
            let user = (!user.is_empty()).then_some(user);
            match api::gql(
                "mutation($id: ID!, $u: ID) { assignIssue(id: $id, userId: $u) { id } }",
                json!({"id": issue_id, "u": user}),
            )
            .await
            {
                Ok(_) => on_done("refresh"),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <label class="assign">
            <span class="sr-only">"Assign to"</span>
            <select id="assign" on:change=on_change disabled=!can_triage>
                <option value="">"Assign to…"</option>
                {move || members.get().and_then(Result::ok).map(|list| list.into_iter().map(|m| view! {
                    <option value=m.user_id>{m.email}</option>
                }).collect_view())}
            </select>
        </label>
        {move || error.get().map(|error| view! { <ErrorNote error/> })}
    }
}

#[component]
fn EventPanel(
    project_id: String,
    event_ids: StoredValue<Vec<String>>,
    wanted_event: Memo<Option<String>>,
    account_id: String,
    issue_id: String,
) -> impl IntoView {
    let position = Memo::new(move |_| {
        let wanted = wanted_event.get();
        event_ids.with_value(|ids| neighbours(ids, wanted.as_deref()))
    });
    let current =
        Memo::new(move |_| event_ids.with_value(|ids| ids.get(position.get().0).cloned()));
    let project_for_view = StoredValue::new(project_id.clone());
    let event = LocalResource::new(move || {
        let project_id = project_id.clone();
        let event_id = current.get();
        async move {
            match event_id {
                None => Ok(None),
                Some(event_id) => api::query::<Event>(
                    &event_query(),
                    json!({"p": project_id, "e": event_id}),
                    "event",
                )
                .await
                .map(Some),
            }
        }
    });
    let base = format!("/{account_id}/issues/{issue_id}");
    let link = move |index: Option<usize>| {
        index
            .and_then(|i| event_ids.with_value(|ids| ids.get(i).cloned()))
            .map(|id| format!("{base}?event={id}"))
    };
    let nav = move |label: &'static str, id: &'static str, target: Option<String>| match target {
        Some(href) => view! { <a class="button" id=id href=href>{label}</a> }.into_any(),
        None => view! { <span class="button disabled" id=id aria-disabled="true">{label}</span> }
            .into_any(),
    };
    view! {
        <section class="event" aria-labelledby="event-h">
            <div class="event-head">
                <h2 id="event-h">"Event"</h2>
                <nav class="event-nav" aria-label="Events">
                    {move || {
                        let (at, older, newer) = position.get();
                        let count = event_ids.with_value(Vec::len);
                        let oldest = (count > 0 && at + 1 < count).then(|| count - 1);
                        let latest = (at > 0).then_some(0);
                        view! {
                            {nav("Oldest", "event-oldest", link.clone()(oldest))}
                            {nav("Older", "event-older", link.clone()(older))}
                            <span class="muted">{format!("{} of {}", if count == 0 { 0 } else { count - at }, count)}</span>
                            {nav("Newer", "event-newer", link.clone()(newer))}
                            {nav("Latest", "event-latest", link.clone()(latest))}
                        }
                    }}
                </nav>
            </div>
            {move || match event.get() {
                None => view! { <Loading what="the event"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(None)) => view! { <p class="empty">"No event is stored for this issue any more."</p> }.into_any(),
                Some(Ok(Some(e))) => view! { <EventView event=e project_id=project_for_view.get_value()/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn EventView(event: Event, project_id: String) -> impl IntoView {
    let raw = serde_json::to_string_pretty(&event.payload).unwrap_or_default();
    let download = format!(
        "data:application/json;charset=utf-8,{}",
        js_sys::encode_uri_component(&raw)
    );
    view! {
        <p class="muted" id="event-id">{format!("{} · {} · {}", event.event_id, event.level, since(&event.timestamp))}
            {event.release.clone().map(|r| format!(" · release {r}"))}
            {event.environment.clone().map(|e| format!(" · {e}"))}
        </p>
        <section aria-labelledby="exc-h">
            <h3 id="exc-h">"Exception"</h3>
            {event.exceptions.iter().rev().map(|exception| view! {
                <div class="exception">
                    <p class="exc-title"><strong>{exception.r#type.clone().unwrap_or_default()}</strong>": "{exception.value.clone().unwrap_or_default()}</p>
                    <FrameList frames=exception.frames.clone()/>
                </div>
            }).collect_view()}
        </section>
        <section aria-labelledby="crumbs-h">
            <h3 id="crumbs-h">"Breadcrumbs"</h3>
            <ol class="breadcrumbs" id="breadcrumbs">
                {event.breadcrumbs.iter().map(|b| view! {
                    <li class="breadcrumb">
                        <span class="muted small">{b.timestamp.clone().unwrap_or_default()}</span>
                        " "<strong>{b.category.clone().unwrap_or_default()}</strong>
                        " "{b.message.clone().unwrap_or_default()}
                        {b.level.clone().map(|l| view! { <span class="badge">{l}</span> })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
        <section aria-labelledby="tags-ev-h">
            <h3 id="tags-ev-h">"Tags"</h3>
            <ul class="tags">{event.tags.iter().map(|t| view! { <li><span class="muted">{t.key.clone()}"="</span>{t.value.clone()}</li> }).collect_view()}</ul>
        </section>
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
                        <AttachmentRow index attachment=a.clone() project_id=project_id.clone() event_id=event.event_id.clone()/>
                    }).collect_view()}
                </ul>
            </section>
        })}
        <JsonBlock title="User" value=event.user.clone()/>
        <JsonBlock title="Request" value=event.request.clone()/>
        <JsonBlock title="Contexts" value=event.contexts.clone()/>
        <details class="raw">
            <summary>"Raw JSON"</summary>
            <a class="button" download=format!("event-{}.json", event.event_id) href=download>"Download"</a>
            <pre class="json small">{raw}</pre>
        </details>
    }
}

/// One attachment: its metadata, and a download fetched on demand (the API inlines the content
/// of attachments up to 1 MiB).
#[component]
fn AttachmentRow(
    index: usize,
    attachment: Attachment,
    project_id: String,
    event_id: String,
) -> impl IntoView {
    let link = RwSignal::new(None::<Result<Option<String>, ApiError>>);
    let id = attachment.id.clone();
    let content_type = attachment
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let fetch = move |_| {
        let (project_id, event_id, id, content_type) = (
            project_id.clone(),
            event_id.clone(),
            id.clone(),
            content_type.clone(),
        );
        leptos::task::spawn_local(async move {
            let answer = api::gql(
                "query($p: ID!, $e: String!) { event(projectId: $p, eventId: $e) { attachments { id dataBase64 } } }",
                json!({"p": project_id, "e": event_id}),
            )
            .await
            .map(|data| {
                data["event"]["attachments"]
                    .as_array()
                    .and_then(|all| all.iter().find(|a| a["id"] == json!(id)))
                    .and_then(|a| a["dataBase64"].as_str())
                    .map(|b64| format!("data:{content_type};base64,{b64}"))
            });
            link.set(Some(answer));
        });
    };
    let filename = attachment.filename.clone();
    view! {
        <li class="attachment">
            <code>{attachment.filename.clone()}</code>" "
            <span class="muted small">{format!("{} · {} bytes", attachment.attachment_type, attachment.size)}</span>" "
            {move || match link.get() {
                None => view! {
                    <button type="button" class="small" id=format!("attachment-{index}") on:click=fetch.clone()>"Download"</button>
                }.into_any(),
                Some(Ok(Some(href))) => view! {
                    <a class="button" id=format!("attachment-{index}-save") href=href download=filename.clone()>{format!("Save {filename}")}</a>
                }.into_any(),
                Some(Ok(None)) => view! { <span class="muted small">"Over 1 MiB: not downloadable here."</span> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
            }}
        </li>
    }
}

#[component]
fn JsonBlock(title: &'static str, value: Option<Value>) -> impl IntoView {
    value.filter(|v| !v.is_null()).map(|v| {
        view! {
            <section>
                <h3>{title}</h3>
                <pre class="json small">{serde_json::to_string_pretty(&v).unwrap_or_default()}</pre>
            </section>
        }
    })
}

/// The frames of one exception, innermost first: in-app frames open and highlighted, runs of
/// system frames folded behind one button.
#[component]
fn FrameList(frames: Vec<Frame>) -> impl IntoView {
    let show_system = RwSignal::new(false);
    let frames: Vec<Frame> = frames.into_iter().rev().collect();
    let system_count = frames.iter().filter(|f| f.in_app != Some(true)).count();
    view! {
        <ol class="frames">
            {frames.into_iter().map(|frame| {
                let in_app = frame.in_app == Some(true);
                view! {
                    <Show when=move || in_app || show_system.get()>
                        <FrameView frame=frame.clone()/>
                    </Show>
                }
            }).collect_view()}
        </ol>
        {(system_count > 0).then(|| view! {
            <button type="button" class="ghost" id="toggle-system-frames" on:click=move |_| show_system.update(|s| *s = !*s)>
                {move || if show_system.get() { format!("Hide {system_count} system frames") } else { format!("Show {system_count} system frames") }}
            </button>
        })}
    }
}

#[component]
fn FrameView(frame: Frame) -> impl IntoView {
    let in_app = frame.in_app == Some(true);
    let open = RwSignal::new(in_app);
    let location = format!(
        "{}{}",
        frame
            .filename
            .clone()
            .or(frame.module.clone())
            .unwrap_or_else(|| "?".to_owned()),
        frame.lineno.map(|l| format!(":{l}")).unwrap_or_default()
    );
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
            </button>
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
                        <table class="vars"><tbody>
                            {v.as_object().map(|o| o.iter().map(|(k, val)| view! {
                                <tr><th>{k.clone()}</th><td><code>{val.to_string()}</code></td></tr>
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

    #[test]
    fn event_navigation_walks_newest_first() {
        let ids: Vec<String> = ["c", "b", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(neighbours(&ids, None), (0, Some(1), None));
        assert_eq!(neighbours(&ids, Some("b")), (1, Some(2), Some(0)));
        assert_eq!(neighbours(&ids, Some("a")), (2, None, Some(1)));
        // An id that is not on the page falls back to the latest.
        assert_eq!(neighbours(&ids, Some("zzz")), (0, Some(1), None));
        assert_eq!(neighbours(&[], None), (0, None, None));
    }
}
