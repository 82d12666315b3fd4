//! `/:account/issues/:issue[?event=ID]`: one issue (state, counts, first/last seen and
//! releases, actions) and, right below, one of its events (laid out by `pages::event`), with
//! oldest/older/newer/latest navigation across every stored event of the issue (the API
//! answers each event's neighbours). Beside the event (below it on a phone): the event's tags,
//! then the issue's history: a 14-day frequency chart, tag distributions, the grouping
//! explanation and the activity.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde::Deserialize;
use serde_json::{Value, json};

use super::event::{EVENT_FIELDS, Event, event_tags, event_view};
use crate::api;
use crate::app::CurrentAccount;
use crate::components::{
    CountBars, ErrorNote, ShareBar, Submit, SubmitError, account_list, confirm, loaded, local_time,
    since, status_words,
};
use crate::event::{noun_for, plural};
use crate::grouping::{Explanation, explain};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Issue {
    id: String,
    title: String,
    culprit: Option<String>,
    level: String,
    status: String,
    substatus: Option<String>,
    ignored_until: Option<String>,
    ignored_until_more_events: Option<i64>,
    ignored_until_more_users: Option<i64>,
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
    oldest_event: Option<EventRef>,
    latest_event: Option<EventRef>,
}

/// A member of the account (to assign the issue, and to name who acted on it).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Member {
    user_id: String,
    email: String,
}

/// Who did something, in words: a member's address (`user:7` is `usr_7`), on their own or
/// through an API token, or ErrorWatch itself (`system:digest`).
fn actor_label(actor: &str, members: &[Member]) -> String {
    let email_of = |user: &str| {
        members
            .iter()
            .find(|m| m.user_id == format!("usr_{user}"))
            .map_or_else(|| "a former member".to_owned(), |m| m.email.clone())
    };
    if let Some(reason) = actor.strip_prefix("system:") {
        format!("ErrorWatch ({reason})")
    } else if let Some((_, user)) = actor
        .strip_prefix("token:")
        .and_then(|rest| rest.split_once(":user:"))
    {
        format!("{} with an API token", email_of(user))
    } else if let Some(user) = actor.strip_prefix("user:") {
        email_of(user)
    } else {
        actor.to_owned()
    }
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
#[serde(rename_all = "camelCase")]
struct Grouping {
    version: i64,
    components: Value,
    fingerprint_details: Vec<FingerprintDetail>,
}

/// A fingerprint of the issue, as its stored events describe it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct FingerprintDetail {
    hash: String,
    title: Option<String>,
    event_count: i64,
    first_event: Option<FirstEvent>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct FirstEvent {
    event_id: String,
    timestamp: String,
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
    distinct_values: i64,
    total_count: i64,
    top_values: Vec<TagValue>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct TagValue {
    value: String,
    /// How people know the value (for `user`: the email, else username, else id).
    label: String,
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
    #[serde(default)]
    platform: Option<String>,
}

const ISSUE_QUERY: &str = "query($id: ID!, $from: DateTime) { issue(id: $id) { id title culprit level status substatus \
    ignoredUntil ignoredUntilMoreEvents ignoredUntilMoreUsers \
    count userCount firstSeen lastSeen firstRelease lastRelease assignee { email } project { id name } \
    grouping { version components fingerprintDetails { hash title eventCount firstEvent { eventId timestamp } } } \
    activity { kind actor createdAt } \
    tagFacets(limit: 8) { key distinctValues totalCount topValues { value label count } } \
    eventCounts(from: $from, interval: DAY) { time count } oldestEvent { eventId } latestEvent { eventId platform } } }";

/// The query of one event, by project and SDK event id.
pub fn event_query() -> String {
    format!(
        "query($p: ID!, $e: String!) {{ event(projectId: $p, eventId: $e) {{ {EVENT_FIELDS} }} }}"
    )
}

/// The links of the event navigation, given the shown event and the issue's ends: (oldest,
/// older, newer, latest), `None` where the link would lead to the shown event or nowhere.
fn event_links(
    shown: &str,
    older: Option<&str>,
    newer: Option<&str>,
    oldest: Option<&str>,
    latest: Option<&str>,
) -> [Option<String>; 4] {
    let elsewhere = |id: Option<&str>| id.filter(|id| *id != shown).map(str::to_owned);
    [
        elsewhere(oldest).filter(|_| older.is_some()),
        older.map(str::to_owned),
        newer.map(str::to_owned),
        elsewhere(latest).filter(|_| newer.is_some()),
    ]
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
        let from = crate::components::iso_from_now(-14.0 * 86_400_000.0);
        async move { api::query::<Issue>(ISSUE_QUERY, json!({"id": id, "from": from}), "/issue").await }
    });
    crate::live::subscribe(
        &[(
            "subscription($i: ID) { issueUpdated(issueId: $i) { id } }",
            json!({"i": issue_id.get_untracked()}),
        )],
        move |_| issue.refetch(),
        move || issue.refetch(),
    );
    let account = StoredValue::new(account);
    // Outlives the issue's reloads (the view is rebuilt when the issue changes).
    let reprocessed = RwSignal::new(None::<String>);
    move || match issue.get() {
        // Not found (or another account's): say so in words, with the way back.
        Some(Err(error)) if error.code == "NOT_FOUND" => {
            let list = format!("/{}/issues", account.with_value(|a| a.id.clone()));
            view! {
                <div class="error-note" role="alert" data-code="NOT_FOUND" id="issue-missing">
                    <strong>"This issue does not exist or you have no access to it."</strong>
                    <p>"It may have been deleted, or merged into another issue. "<a href=list>"Back to the issues"</a></p>
                </div>
            }
            .into_any()
        }
        other => loaded(other, "the issue", |issue_data| {
            view! {
                <IssueView issue=issue_data account=account.get_value() wanted_event reprocessed on_change=move || issue.refetch()/>
            }
        }),
    }
}

/// What `reprocessIssue` answered, in words.
fn reprocess_words(done: &Value) -> String {
    let n = |key: &str| done[key].as_i64().unwrap_or(0);
    let issues = done["issues"].as_array().map_or(0, Vec::len) as i64;
    let mut words = format!(
        "Reprocessed {} {}: {} {} mapped to their source, {} left minified",
        n("events"),
        noun_for(n("events"), "event"),
        n("mappedFrames"),
        noun_for(n("mappedFrames"), "frame"),
        n("unmappedFrames")
    );
    if n("unmappedFrames") > 0 {
        words.push_str(" (each frame says why)");
    }
    if issues > 1 {
        words.push_str(&format!("; the events are now in {issues} issues"));
    }
    words.push('.');
    words
}

/// The document and variables of an issue action (`None` for an unknown one).
fn action_request(action: &str, issue_id: &str, release: String) -> Option<(&'static str, Value)> {
    let id = json!({"id": issue_id});
    Some(match action {
        "resolve" => ("mutation($id: ID!) { resolveIssue(id: $id) { id } }", id),
        "resolveNext" => (
            "mutation($id: ID!) { resolveIssueInNextRelease(id: $id) { id } }",
            id,
        ),
        "ignore" => ("mutation($id: ID!) { ignoreIssue(id: $id) { id } }", id),
        "ignore100" => (
            "mutation($id: ID!) { ignoreIssue(id: $id, moreEvents: 100) { id } }",
            id,
        ),
        "ignoreHour" => (
            "mutation($id: ID!, $until: DateTime) { ignoreIssue(id: $id, until: $until) { id } }",
            json!({"id": issue_id, "until": crate::components::iso_from_now(3_600_000.0)}),
        ),
        "resolveInRelease" => (
            "mutation($id: ID!, $release: String!) { resolveIssueInRelease(id: $id, release: $release) { id } }",
            json!({"id": issue_id, "release": release}),
        ),
        "reopen" => ("mutation($id: ID!) { reopenIssue(id: $id) { id } }", id),
        "bookmark" => (
            "mutation($id: ID!) { bookmarkIssue(id: $id, bookmarked: true) { id } }",
            id,
        ),
        "delete" => ("mutation($id: ID!) { deleteIssue(id: $id) }", id),
        "reprocess" => (
            "mutation($id: ID!) { reprocessIssue(issueId: $id) { events changed mappedFrames unmappedFrames issues { id } } }",
            id,
        ),
        _ => return None,
    })
}

#[component]
fn IssueView(
    issue: Issue,
    account: api::AccountSummary,
    wanted_event: Memo<Option<String>>,
    /// What the last reprocessing did, in words.
    reprocessed: RwSignal<Option<String>>,
    on_change: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let can_triage = account.can_triage();
    let submit = Submit::new();
    let navigate = use_navigate();
    let issue_id = issue.id.clone();
    let account_id = account.id.clone();
    let release = RwSignal::new(issue.last_release.clone().unwrap_or_default());
    let act = {
        let issue_id = issue_id.clone();
        let list = format!("/{account_id}/issues");
        let issues = format!("/{account_id}/issues/");
        move |action: &'static str| {
            // Something else changed the issue (assign, unmerge): only reload it.
            if action == "refresh" {
                on_change();
                return;
            }
            if action == "delete" && !confirm("Delete this issue and its events?") {
                return;
            }
            let Some((document, variables)) =
                action_request(action, &issue_id, release.get_untracked())
            else {
                return;
            };
            let on_change = on_change.clone();
            let navigate = navigate.clone();
            let list = list.clone();
            let issues = issues.clone();
            let this_issue = issue_id.clone();
            submit.mutate(document, variables, move |data| {
                if action == "delete" {
                    navigate(&list, NavigateOptions::default());
                    return;
                }
                if action == "reprocess" {
                    let done = &data["reprocessIssue"];
                    reprocessed.set(Some(reprocess_words(done)));
                    // Merged into the issue that already had the new grouping: go there.
                    if let Some(first) = done["issues"][0]["id"].as_str()
                        && first != this_issue
                    {
                        navigate(&format!("{issues}{first}"), NavigateOptions::default());
                        return;
                    }
                }
                on_change();
            });
        }
    };
    let button = |name: &'static str, label: &'static str, primary: bool| {
        let act = act.clone();
        view! {
            <button type="button" id=format!("action-{name}") class:primary=primary
                disabled=move || !can_triage || submit.pending.get()
                title=if can_triage { "" } else { "Viewers cannot change issues" }
                on:click=move |_| act(name)>{label}</button>
        }
    };
    let unresolved = issue.status == "UNRESOLVED";
    // Reprocessing only changes JavaScript events (their frames and grouping).
    let javascript = issue
        .latest_event
        .as_ref()
        .and_then(|e| e.platform.as_deref())
        .is_some_and(|p| p == "javascript" || p == "node");
    let project_id = issue.project.id.clone();
    let week_total: i64 = issue.event_counts.iter().map(|c| c.count).sum();
    let members = account_list::<Member>(
        account_id.clone(),
        "query($a: ID!) { account(id: $a) { members(first: 100) { nodes { userId email } } } }",
        "/account/members/nodes",
    );
    let activity = StoredValue::new(issue.activity.clone());
    view! {
        <article class="issue-page" id="issue-page" data-status=issue.status.clone()>
            <p class="crumbs"><a href=format!("/{account_id}/issues")>"Issues"</a>" / "{issue.project.name.clone()}</p>
            <header class="issue-head">
                <h1 id="issue-title"><span class=format!("level level-{}", issue.level)>{issue.level.clone()}</span>{issue.title.clone()}</h1>
                <p class="muted">{issue.culprit.clone().unwrap_or_default()}</p>
                <p>
                    <span class="badge status-badge" id="issue-status">{status_words(&issue.status, issue.ignored_until.as_deref(),
                        issue.ignored_until_more_events, issue.ignored_until_more_users)}</span>
                    {issue.substatus.clone().map(|s| view! { <span class="badge">{s}</span> })}
                    {issue.assignee.clone().and_then(|a| a.email).map(|e| view! { <span class="badge">{format!("assigned to {e}")}</span> })}
                </p>
            </header>
            <div class="actions" role="group" aria-label="Issue actions">
                {if unresolved {
                    view! {
                        {button("resolve", "Resolve", true)}
                        {button("resolveNext", "Resolve in next release", false)}
                        {button("ignore", "Ignore forever", false)}
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
                {javascript.then(|| button("reprocess", "Reprocess with source maps", false))}
                <AssignControl issue_id=issue_id.clone() members can_triage on_done=act.clone()/>
                {button("delete", "Delete", false)}
            </div>
            {(!can_triage).then(|| view! { <p class="notice" id="viewer-note">"You are a viewer in this account: you can look, not change."</p> })}
            <SubmitError submit/>
            {move || reprocessed.get().map(|words| view! { <p class="notice" id="reprocess-result" role="status">{words}</p> })}
            <section class="stats">
                <div><span class="stat" id="issue-count">{issue.count}</span>" "{noun_for(issue.count, "event")}</div>
                <div><span class="stat" id="issue-users">{issue.user_count}</span>" "{noun_for(issue.user_count, "user")}</div>
                <div>"First seen "{since(&issue.first_seen)}{release_link(&account_id, &project_id, issue.first_release.clone(), "first-release")}</div>
                <div>"Last seen "{since(&issue.last_seen)}{release_link(&account_id, &project_id, issue.last_release.clone(), "last-release")}</div>
            </section>
            // The event first (what people came to read); the issue's history beside it.
            <EventPanel project_id issue_id=issue_id.clone() account_id=account_id.clone()
                oldest=issue.oldest_event.map(|e| e.event_id) latest=issue.latest_event.map(|e| e.event_id)
                wanted_event>
                <section aria-labelledby="freq-h">
                    <h2 id="freq-h">"Last 14 days "<span class="muted small">{plural(week_total, "event")}</span></h2>
                    <CountBars label=format!("{} in the last 14 days, by day", plural(week_total, "event"))
                        bars=issue.event_counts.iter().map(|c| (format!("{}: {}", &c.time[..10.min(c.time.len())], plural(c.count, "event")), c.count)).collect()/>
                </section>
                <section aria-labelledby="tags-h" id="tag-facets">
                    <h2 id="tags-h">"Tags of all events"</h2>
                    {issue.tag_facets.is_empty().then(|| view! { <p class="muted">"No tags yet."</p> })}
                    {issue.tag_facets.iter().map(|f| view! {
                        <div class="facet">
                            <h3 class="facet-key">{f.key.clone()}
                                <span class="muted small">{format!(" · {}", plural(f.distinct_values, "value"))}</span>
                            </h3>
                            <ul class="shares">
                                {f.top_values.iter().map(|v| view! {
                                    <ShareBar label=v.label.clone() count=v.count total=f.total_count/>
                                }).collect_view()}
                            </ul>
                        </div>
                    }).collect_view()}
                </section>
                <section aria-labelledby="grouping-h" id="grouping">
                    <h2 id="grouping-h">"Why these events are one issue"</h2>
                    {grouping_view(explain(&issue.grouping.components))}
                    <h3 class="small">{format!("{} (grouping version {})",
                        noun_for(issue.grouping.fingerprint_details.len() as i64, "Fingerprint"), issue.grouping.version)}</h3>
                    {fingerprint_list(issue_id.clone(), account_id.clone(), issue.grouping.fingerprint_details.clone(),
                        can_triage, act.clone())}
                </section>
                <section aria-labelledby="activity-h">
                    <h2 id="activity-h">"Activity"</h2>
                    <ul class="activity" id="activity">
                        {move || {
                            let known = members.get().and_then(Result::ok).unwrap_or_default();
                            activity.with_value(|all| all.iter().map(|a| view! {
                                <li>{a.kind.replace('_', " ")}" by "{actor_label(&a.actor, &known)}" "
                                    <span class="muted">{since(&a.created_at)}</span></li>
                            }).collect_view())
                        }}
                    </ul>
                </section>
            </EventPanel>
        </article>
    }
}

/// " in <release>", the release linking to its page (nothing without a release).
fn release_link(
    account_id: &str,
    project_id: &str,
    release: Option<String>,
    id: &'static str,
) -> Option<impl IntoView + use<>> {
    release.map(|release| {
        let href = crate::releases::release_path(account_id, project_id, &release);
        view! { " in "<a id=id class="release-link" href=href>{release}</a> }
    })
}

/// The grouping explanation: what decided, what went into the hash, what was left out.
fn grouping_view(explanation: Explanation) -> AnyView {
    view! {
        <p class="grouping-summary">{explanation.summary}</p>
        <ol class="grouping-parts">
            {explanation.parts.into_iter().map(|part| view! {
                <li>
                    <strong>{part.label}</strong>
                    {part.value.map(|value| view! { ": "<code>{value}</code> })}
                    {(!part.frames.is_empty()).then(|| view! {
                        <ol class="grouping-frames" aria-label="frames that counted">
                            {part.frames.into_iter().map(|f| view! { <li><code>{f}</code></li> }).collect_view()}
                        </ol>
                    })}
                    {(!part.skipped.is_empty()).then(|| view! {
                        <p class="muted small">"Left out: "{part.skipped.join("; ")}</p>
                    })}
                </li>
            }).collect_view()}
        </ol>
        {explanation.notes.into_iter().map(|note| view! { <p class="muted small">{note}</p> }).collect_view()}
        {explanation.default.map(|default| view! {
            <div class="grouping-default">
                <p class="small"><code>"{{ default }}"</code>" stands for the default grouping:"</p>
                {grouping_view(*default)}
            </div>
        })}
    }
    .into_any()
}

/// The fingerprints grouped into this issue, each named by the issue its events were before
/// a merge (their title), with its event count and first event; with several (after a
/// merge), each can be split off again into an issue of its own.
fn fingerprint_list<F>(
    issue_id: String,
    account_id: String,
    fingerprints: Vec<FingerprintDetail>,
    can_triage: bool,
    on_done: F,
) -> impl IntoView
where
    F: Fn(&'static str) + Clone + 'static,
{
    let submit = Submit::new();
    let several = fingerprints.len() > 1;
    let base = format!("/{account_id}/issues/{issue_id}");
    view! {
        <ul class="fingerprints" id="fingerprints">
            {fingerprints.into_iter().map(|fingerprint| {
                let issue_id = issue_id.clone();
                let on_done = on_done.clone();
                let hash = fingerprint.hash.clone();
                let title = fingerprint.title.clone().unwrap_or_else(|| "No stored event".to_owned());
                let unmerge = move |_| {
                    let on_done = on_done.clone();
                    submit.mutate(
                        "mutation($i: ID!, $f: String!) { unmergeFingerprint(issueId: $i, fingerprint: $f) { id } }",
                        json!({"i": issue_id, "f": hash}),
                        move |_| on_done("refresh"),
                    );
                };
                let events = fingerprint.event_count;
                view! {
                    <li class="fingerprint" data-hash=fingerprint.hash.clone()>
                        <div class="fingerprint-text">
                            <strong class="fingerprint-title">{title.clone()}</strong>
                            <span class="muted small">
                                {format!(" · {events} event{}", if events == 1 { "" } else { "s" })}
                                {fingerprint.first_event.clone().map(|first| view! {
                                    " · "
                                    <a class="first-event" href=format!("{base}?event={}", first.event_id) title=local_time(&first.timestamp)>
                                        {format!("first event {}", since(&first.timestamp))}
                                    </a>
                                })}
                            </span>
                            <code class="hash small muted">{fingerprint.hash.clone()}</code>
                        </div>
                        {(several && can_triage).then(|| view! {
                            <button type="button" class="small unmerge" on:click=unmerge disabled=move || submit.pending.get()
                                aria-label=format!("Unmerge “{title}” into an issue of its own")>"Unmerge"</button>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
        <SubmitError submit/>
    }
}

/// Assigns the issue to a member of the account.
#[component]
fn AssignControl<F>(
    issue_id: String,
    members: LocalResource<Result<Vec<Member>, api::ApiError>>,
    can_triage: bool,
    on_done: F,
) -> impl IntoView
where
    F: Fn(&'static str) + Clone + 'static,
{
    let submit = Submit::new();
    let on_change = move |ev: leptos::ev::Event| {
        let user = event_target_value(&ev);
        let on_done = on_done.clone();
        submit.mutate(
            "mutation($id: ID!, $u: ID) { assignIssue(id: $id, userId: $u) { id } }",
            json!({"id": issue_id, "u": (!user.is_empty()).then_some(user)}),
            move |_| on_done("refresh"),
        );
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
        // Without the members the control is only empty: say why.
        {move || members.get().and_then(Result::err).map(|error| view! { <ErrorNote error/> })}
        <SubmitError submit/>
    }
}

/// The event shown (the `?event=` of the URL, else the latest) with the navigation across all
/// the issue's events, and beside it (below it on a phone) the event's tags, then `children`:
/// the issue's history.
#[component]
fn EventPanel(
    project_id: String,
    issue_id: String,
    account_id: String,
    oldest: Option<String>,
    latest: Option<String>,
    wanted_event: Memo<Option<String>>,
    children: Children,
) -> impl IntoView {
    let ends = StoredValue::new((oldest, latest));
    let shown = Memo::new(move |_| {
        wanted_event
            .get()
            .or_else(|| ends.with_value(|(_, latest)| latest.clone()))
    });
    let event = LocalResource::new(move || {
        let project_id = project_id.clone();
        let event_id = shown.get();
        async move {
            match event_id {
                None => Ok(None),
                Some(event_id) => api::query::<Event>(
                    &event_query(),
                    json!({"p": project_id, "e": event_id}),
                    "/event",
                )
                .await
                .map(Some),
            }
        }
    });
    let context = StoredValue::new((account_id, issue_id));
    view! {
        <div class="issue-layout">
        <section class="event" id="event" aria-labelledby="event-h">
            {move || loaded(event.get(), "the event", |found| match found {
                None => view! {
                    <h2 id="event-h">"Event"</h2>
                    <p class="empty">"No event is stored for this issue any more."</p>
                }.into_any(),
                Some(event) => {
                    let (account_id, issue_id) = context.get_value();
                    let nav = ends.with_value(|(oldest, latest)| event_nav(&event, &account_id, &issue_id, oldest.as_deref(), latest.as_deref()));
                    let elsewhere = (event.issue.id != issue_id).then(|| {
                        let href = format!("/{account_id}/issues/{}?event={}", event.issue.id, event.event_id);
                        view! { <p class="notice" id="event-elsewhere">"This event belongs to another issue now (after a merge or unmerge). "<a href=href>"Open it there"</a></p> }
                    });
                    view! { {nav}{elsewhere}{event_view(event)} }.into_any()
                }
            })}
        </section>
        <aside class="issue-side" aria-label="Tags and history of the issue">
            {move || event.get().and_then(Result::ok).flatten().map(|event| event_tags(&event.tags))}
            {children()}
        </aside>
        </div>
    }
}

/// The event's heading with oldest / older / newer / latest links (disabled at the ends).
fn event_nav(
    event: &Event,
    account_id: &str,
    issue_id: &str,
    oldest: Option<&str>,
    latest: Option<&str>,
) -> impl IntoView + use<> {
    let older = event.previous_event_id.as_deref();
    let newer = event.next_event_id.as_deref();
    let [to_oldest, to_older, to_newer, to_latest] =
        event_links(&event.event_id, older, newer, oldest, latest);
    let position = match (older, newer) {
        (None, None) => "the only event".to_owned(),
        (Some(_), None) => "latest".to_owned(),
        (None, Some(_)) => "oldest".to_owned(),
        (Some(_), Some(_)) => since(&event.timestamp),
    };
    let base = format!("/{account_id}/issues/{issue_id}");
    let link = move |label: &'static str, id: &'static str, target: Option<String>| match target {
        Some(event_id) => {
            view! { <a class="button" id=id href=format!("{base}?event={event_id}")>{label}</a> }
                .into_any()
        }
        None => view! { <span class="button disabled" id=id aria-disabled="true">{label}</span> }
            .into_any(),
    };
    view! {
        <div class="event-head">
            <h2 id="event-h">"Event"</h2>
            <nav class="event-nav" aria-label="Events of this issue">
                {link.clone()("Oldest", "event-oldest", to_oldest)}
                {link.clone()("Older", "event-older", to_older)}
                <span class="muted" id="event-position">{position}</span>
                {link.clone()("Newer", "event-newer", to_newer)}
                {link("Latest", "event-latest", to_latest)}
            </nav>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reprocessing_is_told_in_words() {
        let one = json!({"events": 1, "changed": 1, "mappedFrames": 5, "unmappedFrames": 0, "issues": [{"id": "iss_1"}]});
        assert_eq!(
            reprocess_words(&one),
            "Reprocessed 1 event: 5 frames mapped to their source, 0 left minified."
        );
        let split = json!({"events": 3, "changed": 3, "mappedFrames": 1, "unmappedFrames": 2, "issues": [{"id": "iss_1"}, {"id": "iss_2"}]});
        assert_eq!(
            reprocess_words(&split),
            "Reprocessed 3 events: 1 frame mapped to their source, 2 left minified (each frame says why); the events are now in 2 issues."
        );
    }

    #[test]
    fn event_links_lead_elsewhere_or_nowhere() {
        // The middle of an issue: every link.
        assert_eq!(
            event_links("b", Some("a"), Some("c"), Some("first"), Some("last")),
            [
                Some("first".into()),
                Some("a".into()),
                Some("c".into()),
                Some("last".into())
            ]
        );
        // The latest: no newer, no latest.
        assert_eq!(
            event_links("z", Some("y"), None, Some("a"), Some("z")),
            [Some("a".into()), Some("y".into()), None, None]
        );
        // The oldest, and the only event.
        assert_eq!(
            event_links("a", None, Some("b"), Some("a"), Some("z")),
            [None, None, Some("b".into()), Some("z".into())]
        );
        assert_eq!(
            event_links("a", None, None, Some("a"), Some("a")),
            [None, None, None, None]
        );
    }

    #[test]
    fn actors_are_named_by_their_address() {
        let members = [Member {
            user_id: "usr_7".into(),
            email: "ada@example.com".into(),
        }];
        assert_eq!(actor_label("user:7", &members), "ada@example.com");
        assert_eq!(
            actor_label("token:3:user:7", &members),
            "ada@example.com with an API token"
        );
        assert_eq!(actor_label("user:8", &members), "a former member");
        assert_eq!(
            actor_label("system:digest", &members),
            "ErrorWatch (digest)"
        );
        assert_eq!(actor_label("odd", &members), "odd");
    }

    #[test]
    fn actions_carry_their_variables() {
        let (document, variables) =
            action_request("resolveInRelease", "iss_1", "shop@2".into()).expect("known");
        assert!(document.contains("resolveIssueInRelease"));
        assert_eq!(variables, json!({"id": "iss_1", "release": "shop@2"}));
        assert!(action_request("explode", "iss_1", String::new()).is_none());
    }
}
