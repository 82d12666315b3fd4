//! Onboarding: the first account, a project with its platform, then its DSN with a
//! ready-to-paste snippet per SDK and a "waiting for your first event" panel that turns into
//! the issue as soon as it arrives (live, over the subscription).

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde::Deserialize;
use serde_json::json;

use crate::api::{self, IssueRow};
use crate::app::{CurrentAccount, use_session};
use crate::billing::initial_plan;
use crate::components::{CopyButton, Field, Submit, SubmitError, absolute_url, go_to, loaded};
use crate::pages::billing::{
    CheckoutReturn, PlanPicker, load_offer, remember_plan, remembered_plan,
};

/// The SDKs the server has snippets for, as (platform id, label), in display order.
pub const PLATFORMS: [(&str, &str); 9] = [
    ("python", "Python"),
    ("node", "Node.js"),
    ("javascript", "Browser JavaScript"),
    ("rust", "Rust"),
    ("go", "Go"),
    ("java", "Java"),
    ("ruby", "Ruby"),
    ("php", "PHP"),
    ("dotnet", ".NET"),
];

/// `/onboarding`: the first account. Where billing is on, on a plan: the one chosen at sign-up
/// (or `?plan=`), else the free one. A paid plan goes through Stripe Checkout once the account
/// exists, and comes back to the next step (`/:account/projects/new?checkout=…`), which shows
/// the plan once Stripe confirms it; a cancelled checkout leaves the account on the free plan.
#[component]
pub fn CreateAccount() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    let name = RwSignal::new(String::new());
    let submit = Submit::new();
    let offer = LocalResource::new(load_offer);
    let plan = RwSignal::new(None::<String>);
    // The paid plans (their slugs), which need Checkout.
    let paid = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        if let Some(Ok((_, Some(plans)))) = offer.get() {
            let wanted = query
                .with_untracked(|q| q.get("plan"))
                .or_else(remembered_plan);
            plan.set(initial_plan(&plans, wanted.as_deref()));
            paid.set(
                plans
                    .iter()
                    .filter(|p| p.price_cents > 0)
                    .map(|p| p.slug.clone())
                    .collect(),
            );
        }
    });
    let checkout_plan = move || {
        plan.get()
            .filter(|slug| paid.with(|paid| paid.contains(slug)))
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        let to_pay = checkout_plan();
        submit.run(async move {
            let id: String = api::query(
                "mutation($n: String!) { createAccount(name: $n) { id } }",
                json!({"n": name.get_untracked()}),
                "/createAccount/id",
            )
            .await?;
            remember_plan(None);
            let next = format!("/{id}/projects/new");
            let Some(slug) = to_pay else {
                session.reload().await;
                navigate(&next, NavigateOptions::default());
                return Ok(());
            };
            // The account exists: whatever happens with the payment, go on from it.
            let back = |outcome: &str| absolute_url(&format!("{next}?checkout={outcome}&plan={slug}"));
            let checkout = api::query::<String>(
                "mutation($a: ID!, $p: String!, $s: String, $c: String) { startCheckout(accountId: $a, plan: $p, \
                 successUrl: $s, cancelUrl: $c) { url } }",
                json!({"a": id, "p": slug, "s": back("success"), "c": back("canceled")}),
                "/startCheckout/url",
            )
            .await;
            match checkout {
                Ok(url) => go_to(&url),
                Err(_) => go_to(&format!("{next}?checkout=failed")),
            }
            Ok(())
        });
    };
    view! {
        <div class="shell">
            <main class="card narrow" id="main">
                <h1>"Welcome to ErrorWatch"</h1>
                <p>"Start with an account: your team, its projects and its members live in it."</p>
                <form on:submit=on_submit id="account-form">
                    <Field id="account-name" label="Account name (your team or company)" kind="text" value=name/>
                    {move || match offer.get() {
                        Some(Ok((_, Some(plans)))) => Some(view! { <PlanPicker plans chosen=plan/> }),
                        _ => None,
                    }}
                    <SubmitError submit/>
                    <button type="submit" class="primary" disabled=move || submit.pending.get()>
                        {move || if checkout_plan().is_some() { "Create the account and pay" } else { "Create the account" }}
                    </button>
                </form>
            </main>
        </div>
    }
}

/// `/:account/projects/new`: name and platform; back from Stripe Checkout (`?checkout=`), the
/// plan the account is on once Stripe confirms it.
#[component]
pub fn CreateProject() -> impl IntoView {
    let session = use_session();
    let account = expect_context::<CurrentAccount>().0;
    let navigate = use_navigate();
    let name = RwSignal::new(String::new());
    let platform = RwSignal::new("python".to_owned());
    let submit = Submit::new();
    let account_id = account.id.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        let account_id = account_id.clone();
        submit.run(async move {
            let id: String = api::query(
                "mutation($a: ID!, $n: String!, $p: String) { createProject(accountId: $a, name: $n, platform: $p) { id } }",
                json!({"a": account_id, "n": name.get_untracked(), "p": platform.get_untracked()}),
                "/createProject/id",
            )
            .await?;
            session.reload().await;
            navigate(
                &format!("/{account_id}/projects/{id}/setup"),
                NavigateOptions::default(),
            );
            Ok(())
        });
    };
    view! {
        <div class="card">
            <CheckoutReturn account_id=account.id.clone()/>
            <h1>"Create a project"</h1>
            {(!account.can_admin()).then(|| view! {
                <p class="notice">"Only admins and owners can create projects in this account."</p>
            })}
            <form on:submit=on_submit id="project-form">
                <Field id="project-name" label="Project name" kind="text" value=name/>
                <fieldset class="platforms">
                    <legend>"Platform"</legend>
                    {PLATFORMS.iter().map(|(id, label)| {
                        let id = *id;
                        view! {
                            <label class="platform">
                                <input type="radio" name="platform" value=id
                                    prop:checked=move || platform.get() == id
                                    on:change=move |_| platform.set(id.to_owned())/>
                                <span>{*label}</span>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <SubmitError submit/>
                <button type="submit" class="primary" id="create-project" disabled=move || submit.pending.get()>"Create project"</button>
            </form>
        </div>
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Snippet {
    platform: String,
    label: String,
    install: String,
    code: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Key {
    dsn: String,
    snippets: Vec<Snippet>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct SetupProject {
    id: String,
    name: String,
    platform: Option<String>,
    keys: Vec<Key>,
    issues: api::IssuePage,
}

/// The setup page's query: the project, its keys with every snippet, and its first issue.
pub fn setup_query() -> String {
    format!(
        "query($p: ID!) {{ project(id: $p) {{ id name platform keys {{ dsn snippets {{ platform label install code }} }} \
         issues(first: 1, sort: FIRST_SEEN) {{ totalCount nodes {{ {} }} }} }} }}",
        api::ISSUE_ROW_FIELDS
    )
}

/// The subscription that turns the waiting state into the first issue.
pub fn first_issue_subscription() -> String {
    format!(
        "subscription($p: ID) {{ issueCreated(projectId: $p) {{ {} }} }}",
        api::ISSUE_ROW_FIELDS
    )
}

/// `/:account/projects/:project/setup`: the DSN, the snippet, and the first event arriving.
#[component]
pub fn ProjectSetup() -> impl IntoView {
    let params = use_params_map();
    let account_id = expect_context::<CurrentAccount>().0.id;
    let project_id = Memo::new(move |_| params.read().get("project").unwrap_or_default());
    let project = LocalResource::new(move || {
        let id = project_id.get();
        async move { api::query::<SetupProject>(&setup_query(), json!({"p": id}), "/project").await }
    });
    let arrived = RwSignal::new(None::<IssueRow>);
    let chosen = RwSignal::new(None::<String>);
    crate::live::subscribe(
        &[(
            &first_issue_subscription(),
            json!({"p": project_id.get_untracked()}),
        )],
        move |data| {
            if let Ok(issue) = api::decode::<IssueRow>(data["issueCreated"].clone())
                && arrived.get_untracked().is_none()
            {
                arrived.set(Some(issue));
            }
        },
        move || project.refetch(),
    );

    move || {
        loaded(project.get(), "the project", |p| {
            let first_issue = p.issues.nodes.first().cloned();
            let selected = Memo::new({
                let default = p.platform.clone().unwrap_or_else(|| "python".to_owned());
                move |_| chosen.get().unwrap_or_else(|| default.clone())
            });
            let key = p.keys.first().cloned();
            let dsn = key.as_ref().map(|k| k.dsn.clone()).unwrap_or_default();
            let snippets = StoredValue::new(key.map(|k| k.snippets).unwrap_or_default());
            let snippet = Memo::new(move |_| {
                let platform = selected.get();
                snippets.with_value(|all| all.iter().find(|s| s.platform == platform).cloned())
            });
            let account_id = account_id.clone();
            view! {
                <div class="card">
                    <h1>{format!("Set up {}", p.name)}</h1>
                    <h2>"Your DSN"</h2>
                    <p>"Point any Sentry SDK at this DSN."</p>
                    <div class="dsn-row">
                        <code id="dsn">{dsn.clone()}</code>
                        <CopyButton text=Signal::derive(move || dsn.clone()) id="copy-dsn"/>
                    </div>
                    <h2>"Install the SDK"</h2>
                    <div class="tabs" role="group" aria-label="SDK">
                        {PLATFORMS.iter().map(|(id, label)| {
                            let id = *id;
                            view! {
                                <button type="button" class="tab" data-platform=id
                                    aria-pressed=move || (selected.get() == id).to_string()
                                    on:click=move |_| chosen.set(Some(id.to_owned()))>{*label}</button>
                            }
                        }).collect_view()}
                    </div>
                    {move || snippet.get().map(|s| {
                        let code = s.code.clone();
                        view! {
                            <p class="snippet-label">{s.label.clone()}</p>
                            <pre class="install"><code>{s.install.clone()}</code></pre>
                            <pre class="snippet" id="snippet"><code>{s.code.clone()}</code></pre>
                            <CopyButton text=Signal::derive(move || code.clone()) id="copy-snippet"/>
                        }
                    })}
                    <h2>"Your first event"</h2>
                    {
                        let project_id = p.id.clone();
                        move || {
                            let issue = arrived.get().or_else(|| first_issue.clone());
                            match issue {
                                None => view! {
                                    <p class="waiting" id="waiting-first-event" role="status" aria-live="polite">
                                        <span class="spinner" aria-hidden="true"></span>
                                        "Waiting for your first event… send one from your app; it shows up here at once."
                                    </p>
                                }.into_any(),
                                Some(issue) => view! {
                                    <p class="arrived" role="status">"Your first event arrived: "
                                        <a id="first-issue" href=format!("/{}/issues/{}", account_id, issue.id)>{issue.title.clone()}</a>
                                    </p>
                                    <p><a href=format!("/{}/issues?project={}", account_id, project_id)>"See all issues"</a></p>
                                }.into_any(),
                            }
                        }
                    }
                </div>
            }
        })
    }
}
