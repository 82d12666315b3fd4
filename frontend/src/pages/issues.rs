//! `/:account/issues`: the issue list. The search (the API's syntax), sort and project filter
//! live in the URL (`?query=…&sort=…&project=…`), so every view is a deep link. The search
//! bar suggests keys and, after a key, its values (the fixed ones and the tag values the
//! project has seen), picked with the arrow keys and Enter or with the mouse. Rows show
//! counts, last seen and a sparkline (24 hours by the hour, or 14 days by the day); several
//! can be selected for bulk actions; the list reloads itself when the subscription reports a
//! new or changed issue (a burst of notices makes one reload), and after a dropped
//! subscription comes back.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError, IssueRow};
use crate::app::CurrentAccount;
use crate::components::{ErrorNote, Loading, Sparkline, Submit, SubmitError, since, status_words};
use crate::live::LiveBadge;
use crate::search::{self, KnownTag};
use crate::triage::{self, PriorState};

/// The search a list opens with.
pub const DEFAULT_QUERY: &str = "is:unresolved";
/// Rows per page.
const PAGE_SIZE: i64 = 50;

/// The sort orders of the API, as (value, label).
const SORTS: [(&str, &str); 4] = [
    ("LAST_SEEN", "Last seen"),
    ("FIRST_SEEN", "First seen"),
    ("EVENTS", "Events"),
    ("USERS", "Users"),
];

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Row {
    #[serde(flatten)]
    issue: IssueRow,
    #[serde(rename = "eventCounts")]
    event_counts: Vec<Count>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Count {
    count: i64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Page {
    total_count: i64,
    page_info: PageInfo,
    nodes: Vec<Row>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

/// The list query: the account's issues, or one project's (first page, or after a cursor).
pub fn list_query(by_project: bool) -> String {
    let root = if by_project { "project" } else { "account" };
    format!(
        "query($id: ID!, $q: String, $s: IssueSort, $n: Int, $after: String, $from: DateTime, $i: Interval!) {{ {root}(id: $id) {{ \
         issues(query: $q, sort: $s, first: $n, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }} \
         nodes {{ {} eventCounts(from: $from, interval: $i) {{ count }} }} }} }} }}",
        api::ISSUE_ROW_FIELDS
    )
}

/// The URL of the list with these settings (empty values are left out).
pub fn list_url(account: &str, query: &str, sort: &str, project: &str) -> String {
    let mut params = vec![format!("query={}", js_sys::encode_uri_component(query))];
    if !sort.is_empty() && sort != "LAST_SEEN" {
        params.push(format!("sort={sort}"));
    }
    if !project.is_empty() {
        params.push(format!("project={project}"));
    }
    format!("/{account}/issues?{}", params.join("&"))
}

/// The sparkline's window: (start as RFC 3339, interval) for 24 hours by the hour or 14 days
/// by the day.
fn sparkline_window(fortnight: bool) -> (String, &'static str) {
    if fortnight {
        (crate::components::iso_from_now(-14.0 * 86_400_000.0), "DAY")
    } else {
        (crate::components::iso_from_now(-86_400_000.0), "HOUR")
    }
}

/// A tag key with its values, as `tagFacets` answers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Facet {
    key: String,
    top_values: Vec<FacetValue>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct FacetValue {
    value: String,
}

/// The tag values a project (`by_project`) or the account has seen, for the suggestions.
pub fn facets_query(by_project: bool) -> String {
    let root = if by_project { "project" } else { "account" };
    format!(
        "query($id: ID!) {{ {root}(id: $id) {{ tagFacets(limit: 10) {{ key topValues {{ value }} }} }} }}"
    )
}

/// Live notices arriving within this window cause one reload, not one each.
const LIVE_COALESCE: std::time::Duration = std::time::Duration::from_millis(300);

#[component]
pub fn IssueList() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    let account_id = account.id.clone();
    let can_triage = account.can_triage();
    let projects = account.projects.nodes.clone();
    let query_map = use_query_map();
    let navigate = use_navigate();

    let search = Memo::new(move |_| {
        query_map
            .read()
            .get("query")
            .unwrap_or_else(|| DEFAULT_QUERY.to_owned())
    });
    let sort = Memo::new(move |_| {
        query_map
            .read()
            .get("sort")
            .unwrap_or_else(|| "LAST_SEEN".to_owned())
    });
    let project = Memo::new(move |_| query_map.read().get("project").unwrap_or_default());

    // The page, and a generation counter so a slow answer never overwrites a newer one.
    let page = RwSignal::new(None::<Result<Page, ApiError>>);
    let generation = StoredValue::new(0_u64);
    let selected = RwSignal::new(Vec::<String>::new());
    // The sparkline's span: 24 hours (false) or 14 days (true).
    let fortnight = RwSignal::new(false);
    // "Load more": `Some(None)` while the next page loads, `Some(Some(error))` when it failed.
    let more = RwSignal::new(None::<Option<ApiError>>);
    // Loads the first page (`after` = None) or appends the page after the cursor. A live
    // update reloads as many rows as are shown, so "load more" is not undone by it.
    let fetch = {
        let account_id = account_id.clone();
        move |after: Option<String>| {
            let generation_now = generation.get_value() + 1;
            generation.set_value(generation_now);
            let project_id = project.get_untracked();
            let by_project = !project_id.is_empty();
            let shown = page.with_untracked(|p| match p {
                Some(Ok(p)) => p.nodes.len() as i64,
                _ => 0,
            });
            let first = if after.is_none() {
                shown.clamp(PAGE_SIZE, 100)
            } else {
                PAGE_SIZE
            };
            let append = after.is_some();
            if append {
                more.set(Some(None));
            }
            let window = sparkline_window(fortnight.get_untracked());
            let variables = json!({
                "id": if by_project { project_id } else { account_id.clone() },
                "q": search.get_untracked(),
                "s": sort.get_untracked(),
                "n": first,
                "after": after,
                "from": window.0,
                "i": window.1,
            });
            leptos::task::spawn_local(async move {
                let started = js_sys::Date::now();
                let result = api::gql(&list_query(by_project), variables)
                    .await
                    .and_then(|data| {
                        let root = if by_project { "project" } else { "account" };
                        api::decode::<Page>(data[root]["issues"].clone())
                    });
                if generation.get_value() != generation_now {
                    return;
                }
                more.set(None);
                match (append, result) {
                    (true, Ok(next)) => page.update(|p| {
                        if let Some(Ok(p)) = p {
                            p.nodes.extend(next.nodes);
                            p.page_info = next.page_info;
                            p.total_count = next.total_count;
                        }
                    }),
                    // The rows shown stay; the error shows under them.
                    (true, Err(error)) => more.set(Some(Some(error))),
                    (false, result) => {
                        page.set(Some(result));
                        mark_rendered(started);
                    }
                }
            });
        }
    };
    let reload = {
        let fetch = fetch.clone();
        move || fetch(None)
    };
    {
        let reload = reload.clone();
        Effect::new(move |_| {
            // Tracks the URL's settings; a new search starts from one page.
            let _ = (search.get(), sort.get(), project.get(), fortnight.get());
            selected.set(Vec::new());
            page.set(None);
            reload();
        });
    }
    // A burst of events is many notices: coalesce them into one reload.
    let live = {
        let scheduled = StoredValue::new(false);
        let soon = {
            let reload = reload.clone();
            move || {
                if scheduled.get_value() {
                    return;
                }
                scheduled.set_value(true);
                let reload = reload.clone();
                set_timeout(
                    move || {
                        scheduled.set_value(false);
                        reload();
                    },
                    LIVE_COALESCE,
                );
            }
        };
        let on_change = soon.clone();
        crate::live::subscribe(
            &[
                (
                    "subscription($a: ID) { issueCreated(accountId: $a) { id } }",
                    json!({"a": account_id.clone()}),
                ),
                (
                    "subscription($a: ID) { issueUpdated(accountId: $a) { id } }",
                    json!({"a": account_id.clone()}),
                ),
            ],
            move |_| on_change(),
            soon,
        )
    };

    let draft = RwSignal::new(search.get_untracked());
    Effect::new(move |_| draft.set(search.get()));
    let go = {
        let account_id = account_id.clone();
        let navigate = navigate.clone();
        move |query: String, sort_value: String, project_value: String| {
            navigate(
                &list_url(&account_id, &query, &sort_value, &project_value),
                NavigateOptions::default(),
            );
        }
    };
    let on_search = {
        let go = go.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            go(
                draft.get_untracked(),
                sort.get_untracked(),
                project.get_untracked(),
            );
        }
    };
    let on_sort = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            go(
                search.get_untracked(),
                event_target_value(&ev),
                project.get_untracked(),
            );
        }
    };
    let on_project = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            go(
                search.get_untracked(),
                sort.get_untracked(),
                event_target_value(&ev),
            );
        }
    };

    let bulk_submit = Submit::new();
    // A merge or delete waiting for its confirmation, with the merge's target.
    let confirming = RwSignal::new(None::<&'static str>);
    let merge_target = RwSignal::new(String::new());
    // What the last bulk action did, with its undo when it can be undone.
    let outcome = RwSignal::new(None::<Outcome>);
    // The selected issues as listed (id, title, state), in the order they were picked.
    let selected_rows = move || {
        let ids = selected.get();
        page.with(|p| match p {
            Some(Ok(p)) => ids
                .iter()
                .filter_map(|id| p.nodes.iter().find(|r| r.issue.id == *id))
                .map(|r| r.issue.clone())
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
    };
    let run_bulk = {
        let reload = reload.clone();
        move |action: &'static str, rows: Vec<IssueRow>| {
            if rows.is_empty() {
                return;
            }
            confirming.set(None);
            outcome.set(None);
            let prior: Vec<PriorState> = rows.iter().map(PriorState::of).collect();
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let count = ids.len();
            let reload = reload.clone();
            let done = move |_| {
                outcome.set(Some(Outcome {
                    text: triage::bulk_outcome(action, count),
                    undo: triage::undo_request(action, &prior),
                }));
                selected.set(Vec::new());
                reload();
            };
            if action == "MERGE" {
                let target = Some(merge_target.get_untracked())
                    .filter(|t| ids.contains(t))
                    .unwrap_or_else(|| ids[0].clone());
                let sources: Vec<&String> = ids.iter().filter(|id| **id != target).collect();
                bulk_submit.mutate(
                    "mutation($t: ID!, $s: [ID!]!) { mergeIssues(targetId: $t, sourceIds: $s) { id } }",
                    json!({"t": target, "s": sources}),
                    done,
                );
            } else {
                bulk_submit.mutate(
                    "mutation($a: BulkIssueAction!, $ids: [ID!]) { bulkUpdateIssues(action: $a, ids: $ids) { updated } }",
                    json!({"a": action, "ids": ids}),
                    done,
                );
            }
        }
    };
    let bulk = {
        let run_bulk = run_bulk.clone();
        move |action: &'static str| {
            if triage::needs_confirmation(action) {
                outcome.set(None);
                merge_target.set(
                    selected
                        .get_untracked()
                        .first()
                        .cloned()
                        .unwrap_or_default(),
                );
                confirming.set(Some(action));
            } else {
                run_bulk(action, untrack(selected_rows));
            }
        }
    };
    let undo = {
        let reload = reload.clone();
        move |_| {
            let Some(Outcome {
                text,
                undo: Some((document, variables)),
            }) = outcome.get_untracked()
            else {
                return;
            };
            let reload = reload.clone();
            bulk_submit.run(async move {
                api::gql(&document, variables).await?;
                outcome.set(Some(Outcome {
                    text: format!("Undone: {text}"),
                    undo: None,
                }));
                reload();
                Ok(())
            });
        }
    };

    // The tag values for the suggestions, loaded when the search bar first gets the focus
    // (not with the list: its first render stays one request), again after the project
    // filter changes.
    let tags = RwSignal::new(Vec::<KnownTag>::new());
    let tags_of = StoredValue::new(None::<String>);
    let load_tags = {
        let account_id = account_id.clone();
        move || {
            let project_id = project.get_untracked();
            if tags_of.get_value().as_deref() == Some(project_id.as_str()) {
                return;
            }
            tags_of.set_value(Some(project_id.clone()));
            let by_project = !project_id.is_empty();
            let (id, pointer) = if by_project {
                (project_id, "/project/tagFacets")
            } else {
                (account_id.clone(), "/account/tagFacets")
            };
            leptos::task::spawn_local(async move {
                // Without them the suggestions still offer the keys and fixed values.
                if let Ok(facets) =
                    api::query::<Vec<Facet>>(&facets_query(by_project), json!({"id": id}), pointer)
                        .await
                {
                    tags.set(
                        facets
                            .into_iter()
                            .map(|f| KnownTag {
                                key: f.key,
                                values: f.top_values.into_iter().map(|v| v.value).collect(),
                            })
                            .collect(),
                    );
                }
            });
        }
    };

    let account_for_rows = StoredValue::new(account_id.clone());
    let project_ids: Vec<String> = projects.iter().map(|p| p.id.clone()).collect();
    view! {
        <div class="issues">
            <div class="list-head">
                <h1>"Issues"</h1>
                <LiveBadge state=live/>
                <span class="total" id="issue-total" aria-live="polite">{move || match page.get() {
                    Some(Ok(p)) => format!("{} issue{}", p.total_count, if p.total_count == 1 { "" } else { "s" }),
                    _ => String::new(),
                }}</span>
            </div>
            <form class="toolbar" on:submit=on_search role="search">
                <SearchBox draft tags on_focus=load_tags/>
                <button type="submit" class="primary">"Search"</button>
                <label>
                    <span class="sr-only">"Project"</span>
                    <select id="issue-project" on:change=on_project prop:value=move || project.get()>
                        <option value="">"All projects"</option>
                        {projects.iter().map(|p| {
                            let id = p.id.clone();
                            view! { <option value=id.clone() selected=move || project.get() == id>{p.name.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>
                    <span class="sr-only">"Sort by"</span>
                    <select id="issue-sort" on:change=on_sort prop:value=move || sort.get()>
                        {SORTS.iter().map(|(value, label)| view! {
                            <option value=*value selected=move || sort.get() == *value>{*label}</option>
                        }).collect_view()}
                    </select>
                </label>
            </form>
            <div class="quick-filters" role="group" aria-label="Status">
                {[("is:unresolved", "Unresolved"), ("is:resolved", "Resolved"), ("is:ignored", "Ignored")].into_iter().map(|(q, label)| {
                    let go = go.clone();
                    view! {
                        <button type="button" class="chip" aria-pressed=move || (search.get() == q).to_string()
                            on:click=move |_| go(q.to_owned(), sort.get_untracked(), project.get_untracked())>{label}</button>
                    }
                }).collect_view()}
            </div>
            {can_triage.then(|| {
                let action = |name: &'static str, label: &'static str, id: &'static str| {
                    let bulk = bulk.clone();
                    view! {
                        <button type="button" id=id
                            disabled=move || selected.get().is_empty() || bulk_submit.pending.get() || confirming.get().is_some()
                            on:click=move |_| bulk(name)>{label}</button>
                    }
                };
                view! {
                    <div class="bulk" role="group" aria-label="Bulk actions">
                        <span class="muted">{move || format!("{} selected", selected.get().len())}</span>
                        {triage::BULK_ACTIONS.into_iter().map(|(name, label, id)| action(name, label, id)).collect_view()}
                    </div>
                }
            })}
            {move || confirming.get().map(|action| {
                // The confirmation names the selection as it is now, and acts on what it named.
                let rows = selected_rows();
                let named = rows.clone();
                let run_bulk = run_bulk.clone();
                confirm_step(action, rows, merge_target, move || run_bulk(action, named.clone()), move || confirming.set(None))
            })}
            {move || outcome.get().map(|Outcome { text, undo: can_undo }| {
                let undo = undo.clone();
                view! {
                    <div class="outcome" id="bulk-outcome" role="status">
                        <span>{text}</span>
                        {can_undo.is_some().then(|| view! {
                            <button type="button" id="bulk-undo" disabled=move || bulk_submit.pending.get() on:click=undo>"Undo"</button>
                        })}
                    </div>
                }
            })}
            <SubmitError submit=bulk_submit/>
            {move || match page.get() {
                None => view! { <Loading what="issues"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(p)) if p.nodes.is_empty() => view! {
                    <div class="empty" id="no-issues">
                        <p>"No issues match this search."</p>
                        <p class="muted">{match project_ids.first() {
                            Some(first) => view! { "Waiting for events? "<a href=format!("/{}/projects/{first}/setup", account_for_rows.get_value())>"Set up an SDK"</a> }.into_any(),
                            None => view! { "No project yet: "<a href=format!("/{}/projects/new", account_for_rows.get_value())>"create one"</a>" to get a DSN." }.into_any(),
                        }}</p>
                    </div>
                }.into_any(),
                Some(Ok(p)) => {
                    let shown = p.nodes.len();
                    let all_ids: Vec<String> = p.nodes.iter().map(|r| r.issue.id.clone()).collect();
                    let toggle_all = move |_| {
                        if selected.get_untracked().len() == all_ids.len() {
                            selected.set(Vec::new());
                        } else {
                            selected.set(all_ids.clone());
                        }
                    };
                    view! {
                        <table class="issue-table" id="issue-list">
                            <thead><tr>
                                <th class="pick">{can_triage.then(|| view! {
                                    <input type="checkbox" aria-label="Select all" on:change=toggle_all
                                        prop:checked=move || !selected.get().is_empty() && selected.get().len() == shown/>
                                })}</th>
                                <th class="title-col">"Issue"</th>
                                <th class="num">"Events"</th>
                                <th class="num">"Users"</th>
                                <th class="hide-narrow spark-col">
                                    <button type="button" class="ghost small" id="sparkline-span"
                                        aria-label="Sparkline span: switch between 24 hours and 14 days"
                                        on:click=move |_| fortnight.update(|f| *f = !*f)>
                                        {move || if fortnight.get() { "14 d" } else { "24 h" }}
                                    </button>
                                </th>
                                <th class="hide-narrow seen-col">"Last seen"</th>
                            </tr></thead>
                            <tbody>
                                {p.nodes.into_iter().map(|row| view! {
                                    <IssueRowView row account=account_for_rows.get_value() selected can_triage/>
                                }).collect_view()}
                            </tbody>
                        </table>
                        {p.page_info.has_next_page.then(|| {
                            let fetch = fetch.clone();
                            let cursor = p.page_info.end_cursor.clone();
                            let total = p.total_count;
                            view! {
                                <button type="button" class="more" id="load-more" on:click=move |_| fetch(cursor.clone())
                                    disabled=move || more.get() == Some(None)>
                                    {move || if more.get() == Some(None) {
                                        "Loading more…".to_owned()
                                    } else {
                                        format!("Load more ({shown} shown of {total})")
                                    }}
                                </button>
                                {move || more.get().flatten().map(|error| view! { <ErrorNote error/> })}
                            }
                        })}
                    }.into_any()
                }
            }}
        </div>
    }
}

/// What a bulk action did, in words, with the request that undoes it (when it can be).
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    text: String,
    undo: Option<(String, serde_json::Value)>,
}

/// The confirmation of a bulk action that cannot be undone: a merge names the issues that go
/// into which (the target can be changed), a delete names the issues it deletes.
fn confirm_step(
    action: &'static str,
    rows: Vec<IssueRow>,
    merge_target: RwSignal<String>,
    on_confirm: impl Fn() + 'static,
    on_cancel: impl Fn() + 'static,
) -> impl IntoView {
    let merge = action == "MERGE";
    let all = StoredValue::new(rows);
    let question = move || {
        all.with_value(|rows| {
            let title_of = |id: &str| {
                rows.iter()
                    .find(|r| r.id == id)
                    .map(|r| r.title.clone())
                    .unwrap_or_default()
            };
            if merge {
                let target = Some(merge_target.get())
                    .filter(|t| rows.iter().any(|r| r.id == *t))
                    .or_else(|| rows.first().map(|r| r.id.clone()))
                    .unwrap_or_default();
                let sources: Vec<String> = rows
                    .iter()
                    .filter(|r| r.id != target)
                    .map(|r| r.title.clone())
                    .collect();
                triage::merge_question(&title_of(&target), &sources)
            } else {
                format!(
                    "Delete {} and all their events?",
                    triage::issues(rows.len())
                )
            }
        })
    };
    let too_few = merge && all.with_value(|rows| rows.len() < 2);
    view! {
        <div class="confirm-step" id="bulk-confirm" role="alertdialog" aria-labelledby="bulk-confirm-q" aria-describedby="bulk-confirm-note">
            <p id="bulk-confirm-q"><strong>{question}</strong></p>
            {merge.then(|| view! {
                <label class="field inline">
                    <span>"Merge into"</span>
                    <select id="merge-target" prop:value=move || merge_target.get()
                        on:change=move |ev| merge_target.set(event_target_value(&ev))>
                        {all.with_value(|rows| rows.iter().map(|r| view! {
                            <option value=r.id.clone()>{format!("{} · {}", r.title, r.project.name)}</option>
                        }).collect_view())}
                    </select>
                </label>
            })}
            {(!merge).then(|| view! {
                <ul class="confirm-list">
                    {all.with_value(|rows| rows.iter().map(|r| view! { <li>{r.title.clone()}</li> }).collect_view())}
                </ul>
            })}
            <p class="muted small" id="bulk-confirm-note">{if too_few {
                "Select at least two issues of one project to merge."
            } else if merge {
                "Their events, counts and fingerprints move into it. This cannot be undone, but each fingerprint can be split off again from the merged issue's page."
            } else {
                "This cannot be undone."
            }}</p>
            <div class="actions">
                <button type="button" class="danger" id=if merge { "confirm-merge" } else { "confirm-delete" }
                    disabled=too_few on:click=move |_| on_confirm()>
                    {if merge { "Merge" } else { "Delete" }}
                </button>
                <button type="button" id="cancel-confirm" on:click=move |_| on_cancel()>"Cancel"</button>
            </div>
        </div>
    }
}

/// The search input with its suggestion list (a combobox: arrow keys move through the
/// suggestions, Enter picks one, Escape closes the list; Enter with none picked searches).
#[component]
fn SearchBox(
    draft: RwSignal<String>,
    tags: RwSignal<Vec<KnownTag>>,
    on_focus: impl Fn() + 'static,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let active = RwSignal::new(None::<usize>);
    let suggestions = Memo::new(move |_| tags.with(|tags| search::suggest(&draft.get(), tags)));
    let shown = move || open.get() && suggestions.with(|s| !s.is_empty());
    Effect::new(move |_| {
        suggestions.track();
        active.set(None);
    });
    let pick = move |index: usize| {
        if let Some(picked) = suggestions.with_untracked(|all| all.get(index).cloned()) {
            draft.set(picked.search);
            // After a key its values follow: the list stays open.
            open.set(true);
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let count = suggestions.with_untracked(Vec::len);
        match ev.key().as_str() {
            "ArrowDown" | "ArrowUp" if count > 0 => {
                ev.prevent_default();
                open.set(true);
                let down = ev.key() == "ArrowDown";
                active.update(|at| {
                    *at = Some(match (*at, down) {
                        (None, true) => 0,
                        (None, false) => count - 1,
                        (Some(i), true) => (i + 1) % count,
                        (Some(i), false) => (i + count - 1) % count,
                    })
                });
            }
            "Enter" => {
                if let (true, Some(index)) = (open.get_untracked(), active.get_untracked()) {
                    ev.prevent_default();
                    pick(index);
                } else {
                    open.set(false);
                }
            }
            "Escape" => {
                open.set(false);
                active.set(None);
            }
            _ => {}
        }
    };
    view! {
        <div class="combo grow">
            <label>
                <span class="sr-only">"Search issues"</span>
                <input id="issue-search" type="search" role="combobox" autocomplete="off"
                    aria-autocomplete="list" aria-controls="search-suggestions"
                    aria-expanded=move || shown().to_string()
                    aria-activedescendant=move || active.get().map(|i| format!("suggestion-{i}"))
                    placeholder="is:unresolved level:error release:1.2 free text"
                    bind:value=draft
                    on:focus=move |_| {
                        open.set(true);
                        on_focus();
                    }
                    on:blur=move |_| open.set(false)
                    on:input=move |_| open.set(true)
                    on:keydown=on_keydown/>
            </label>
            <ul id="search-suggestions" class="suggestions" role="listbox" aria-label="Suggestions"
                hidden=move || !shown()>
                {move || suggestions.get().into_iter().enumerate().map(|(index, suggestion)| view! {
                    <li role="option" id=format!("suggestion-{index}")
                        class:active=move || active.get() == Some(index)
                        aria-selected=move || (active.get() == Some(index)).to_string()
                        on:mousedown=move |ev| {
                            // Keep the focus in the input.
                            ev.prevent_default();
                            pick(index);
                        }>{suggestion.label}</li>
                }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
fn IssueRowView(
    row: Row,
    account: String,
    selected: RwSignal<Vec<String>>,
    can_triage: bool,
) -> impl IntoView {
    let issue = row.issue;
    let id = issue.id.clone();
    let checked = {
        let id = id.clone();
        move || selected.get().contains(&id)
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            selected.update(|ids| {
                if let Some(at) = ids.iter().position(|x| *x == id) {
                    ids.remove(at);
                } else {
                    ids.push(id.clone());
                }
            })
        }
    };
    let counts: Vec<i64> = row.event_counts.iter().map(|c| c.count).collect();
    view! {
        <tr class="issue-row" data-issue=id.clone() data-status=issue.status.clone()>
            <td class="pick">{can_triage.then(|| view! {
                <input type="checkbox" aria-label=format!("Select {}", issue.title) prop:checked=checked on:change=toggle/>
            })}</td>
            <td>
                <a class="issue-title" href=format!("/{account}/issues/{id}")>
                    <span class=format!("level level-{}", issue.level)>{issue.level.clone()}</span>
                    {issue.title.clone()}
                </a>
                <div class="muted small">
                    {issue.culprit.clone().unwrap_or_default()}
                    " · "{issue.project.name.clone()}
                    {(issue.status != "UNRESOLVED").then(|| view! {
                        <span class="badge status-badge">{status_words(&issue.status, issue.ignored_until.as_deref(),
                            issue.ignored_until_more_events, issue.ignored_until_more_users)}</span>
                    })}
                </div>
            </td>
            <td class="num">{issue.count}</td>
            <td class="num">{issue.user_count}</td>
            <td class="hide-narrow"><Sparkline counts label=format!("events of {} over time", issue.title)/></td>
            <td class="hide-narrow">{since(&issue.last_seen)}</td>
        </tr>
    }
}

/// Records the time from navigation start to the list's first render (the e2e test reads it
/// from `window.__ewListRenderedMs`) and the request's own duration.
fn mark_rendered(request_started: f64) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let target: &wasm_bindgen::JsValue = window.as_ref();
    let key = wasm_bindgen::JsValue::from_str("__ewListRenderedMs");
    if js_sys::Reflect::has(target, &key).unwrap_or(false) {
        return;
    }
    // After this frame is drawn: a timeout from requestAnimationFrame runs once painted.
    let request_ms = js_sys::Date::now() - request_started;
    let callback = wasm_bindgen::closure::Closure::once_into_js(move || {
        if let Some(window) = web_sys::window()
            && let Some(performance) = window.performance()
        {
            let target: &wasm_bindgen::JsValue = window.as_ref();
            let _ = js_sys::Reflect::set(
                target,
                &wasm_bindgen::JsValue::from_str("__ewListRenderedMs"),
                &wasm_bindgen::JsValue::from_f64(performance.now()),
            );
            let _ = js_sys::Reflect::set(
                target,
                &wasm_bindgen::JsValue::from_str("__ewListRequestMs"),
                &wasm_bindgen::JsValue::from_f64(request_ms),
            );
        }
    });
    let _ = window.request_animation_frame(callback.unchecked_ref());
}
