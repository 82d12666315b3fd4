//! `/:account/releases?project=…&query=…&after=…`: a project's releases, newest first (version,
//! created, released, latest event, events, new issues, the environments deployed to), searched
//! by version and paged by cursor, all in the URL. `/:account/releases/view?project=…&version=…`:
//! one release (its facts, deploys, per-environment table, events over time, new and regressed
//! issues linking to their pages). The markup of the tables and lists is `crate::releases`'s
//! (escaped text, kept out of the WASM bundle's views).

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde_json::{Value, json};

use crate::api;
use crate::app::CurrentAccount;
use crate::components::{loaded, since};
use crate::releases::{encode_component, list_html, list_path, options_html, release_page_html};

const LIST_QUERY: &str = "query($p: ID!, $q: String, $a: String) { project(id: $p) { releaseList(query: $q, first: 50, after: $a) { \
    pageInfo { hasNextPage endCursor } nodes { version dateCreated dateReleased lastEvent eventCount newIssueCount deploys { environment } } } } }";

const RELEASE_QUERY: &str = "query($p: ID!, $v: String!) { project(id: $p) { name release(version: $v) { \
    version url dateCreated dateStarted dateReleased firstEvent lastEvent eventCount newIssueCount regressionCount \
    environments { environment firstEvent lastEvent eventCount newIssueCount } deploys { environment name url dateFinished } \
    newIssues(limit: 100) { id title level status count } regressedIssues(limit: 100) { id title level status count } \
    eventSeries { interval buckets { time count } } } } }";

/// The relative time of an RFC 3339 time, for the tables.
fn when(time: &str) -> String {
    since(time)
}

#[component]
pub fn ReleaseList() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    let account_id = StoredValue::new(account.id.clone());
    let projects = account.projects.nodes.clone();
    let first_project = projects.first().map(|p| p.id.clone()).unwrap_or_default();
    let query_map = use_query_map();
    let project = Memo::new(move |_| {
        query_map
            .read()
            .get("project")
            .unwrap_or_else(|| first_project.clone())
    });
    let search = Memo::new(move |_| query_map.read().get("query").unwrap_or_default());
    let after = Memo::new(move |_| query_map.read().get("after"));
    let releases = LocalResource::new(move || {
        let (project, search, after) = (project.get(), search.get(), after.get());
        async move {
            if project.is_empty() {
                return Ok(Value::Null);
            }
            let variables =
                json!({"p": project, "q": (!search.is_empty()).then_some(search), "a": after});
            api::query::<Value>(LIST_QUERY, variables, "/project/releaseList").await
        }
    });
    let navigate = use_navigate();
    // A new project or search starts again from the newest release.
    let go = move |project: String, search: String| {
        let mut path = list_path(&account_id.get_value(), &project);
        if !search.is_empty() {
            path.push_str(&format!("&query={}", encode_component(&search)));
        }
        navigate(&path, Default::default());
    };
    let search_text = RwSignal::new(search.get_untracked());
    let on_project = {
        let go = go.clone();
        move |ev: leptos::ev::Event| go(event_target_value(&ev), String::new())
    };
    let on_search = {
        let go = go.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            go(project.get_untracked(), search_text.get_untracked());
        }
    };
    view! {
        <section class="releases-page" id="releases-page">
            <h1>"Releases"</h1>
            <form class="toolbar" role="search" on:submit=on_search>
                <label><span class="sr-only">"Project"</span>
                    <select id="release-project" on:change=on_project prop:value=move || project.get() inner_html=options_html(&projects, &project.get_untracked())></select>
                </label>
                <label><span class="sr-only">"Version contains"</span>
                    <input id="release-search" type="search" placeholder="version" bind:value=search_text/></label>
                <button type="submit">"Search"</button>
            </form>
            {move || loaded(releases.get(), "the releases", |page| {
                let html = list_html(&page, &account_id.get_value(), &project.get_untracked(),
                    &search.get_untracked(), after.get_untracked().is_some(), &when);
                view! { <div inner_html=html></div> }
            })}
        </section>
    }
}

#[component]
pub fn ReleaseView() -> impl IntoView {
    let account_id = expect_context::<CurrentAccount>().0.id;
    let query_map = use_query_map();
    let wanted = Memo::new(move |_| {
        let params = query_map.read();
        (
            params.get("project").unwrap_or_default(),
            params.get("version").unwrap_or_default(),
        )
    });
    let release = LocalResource::new(move || {
        let (project, version) = wanted.get();
        async move {
            api::query::<Value>(
                RELEASE_QUERY,
                json!({"p": project, "v": version}),
                "/project",
            )
            .await
        }
    });
    move || {
        loaded(release.get(), "the release", |found| {
            let (project, _) = wanted.get_untracked();
            let html = release_page_html(&found, &account_id, &project, &when);
            view! { <article class="release-page" id="release-page" inner_html=html></article> }
        })
    }
}
