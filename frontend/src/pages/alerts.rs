//! `/:account/settings/alerts?project=`: a project's alert rules (trigger and filters in words,
//! action interval, enabled, targets; create, edit, delete), the account's targets (email,
//! Slack, Discord, signed webhooks with their secret and how to verify it; create, edit,
//! delete, send a test notification and follow it until it is sent or dead) and the recent
//! deliveries with their status, attempts and errors (retry a dead letter). Rules and
//! deliveries are for every member; targets, and every change, for admins: what a role may
//! not do, the API refuses, and the page shows its error with its code.
//!
//! Every list is kept as the API's JSON in one kind of signal ([`Answer`]) and read into the
//! types of [`crate::alerts`] as it is drawn: one generic instantiation for the whole page
//! keeps the WASM bundle small. A reload keeps the previous answer on screen until the next.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde_json::{Value, json};

use crate::alerts::{
    Delivery, KINDS, LEVELS, Rule, SIGNATURE_EXAMPLE, SIGNATURE_HELP, TRIGGERS, Target,
    delivery_state, delivery_trigger, filter_words, interval_words, is_settled, kind_label,
    parse_tags, rule_input, split_list, tags_text, test_progress, trigger_words, until_words,
};
use crate::api::{self, ApiError};
use crate::app::CurrentAccount;
use crate::components::{CopyButton, ErrorNote, Loading, Submit, SubmitError, confirm, since};
use crate::pages::settings::SettingsTabs;

/// How often the delivery log is reloaded while the page is open.
const DELIVERIES_REFRESH_MS: i32 = 2_000;
/// How often a test notification's state is asked for, and how many times at most.
const TEST_POLL_MS: i32 = 1_000;
const TEST_POLLS: usize = 600;

const DELIVERIES_QUERY: &str = "query($a: ID!, $s: NotificationStatus) { notifications(accountId: $a, status: $s, first: 50) { \
     id ruleId targetId issueId trigger status attempts lastError nextAttemptAt createdAt sentAt } }";

/// An answer of the API (the JSON at a pointer of its `data`), `None` until the first one.
type Answer = RwSignal<Option<Result<Value, ApiError>>>;

/// What a form is doing: closed (`None`), adding (`Some(null)`) or editing the item whose
/// JSON it holds.
type Editing = RwSignal<Option<Value>>;

/// Runs `document` and puts the JSON at `pointer` of its data into `into` (unless the page
/// is gone); returns whether it could.
async fn fetch(
    into: Answer,
    document: &'static str,
    variables: Value,
    pointer: &'static str,
) -> bool {
    let answer = api::gql(document, variables)
        .await
        .map(|data| data.pointer(pointer).cloned().unwrap_or(Value::Null));
    into.try_set(Some(answer)).is_none()
}

/// Starts [`fetch`] in the background.
fn reload(into: Answer, document: &'static str, variables: Value, pointer: &'static str) {
    leptos::task::spawn_local(async move {
        fetch(into, document, variables, pointer).await;
    });
}

/// The items of a loaded JSON list.
fn items(answer: &Value) -> Vec<Value> {
    answer.as_array().cloned().unwrap_or_default()
}

/// Waits `ms` milliseconds (the browser's timer).
async fn pause(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A client-side check's failure, shown like the API's own `VALIDATION` errors.
fn invalid(field: &str, message: String) -> ApiError {
    ApiError {
        code: "VALIDATION".to_owned(),
        message,
        field: Some(field.to_owned()),
    }
}

/// Runs one change through `submit`, then `then` (one instantiation of `Submit::mutate` for
/// every change of the page keeps the bundle small).
fn change(submit: Submit, document: &'static str, variables: Value, then: Callback<()>) {
    submit.mutate(document, variables, move |_| then.run(()));
}

/// The values of a submitted form, by input name.
struct FormValues(web_sys::FormData);

impl FormValues {
    /// The form that `ev` submits.
    fn of(ev: &leptos::ev::SubmitEvent) -> Option<Self> {
        use wasm_bindgen::JsCast;
        let form = ev.target()?.dyn_into::<web_sys::HtmlFormElement>().ok()?;
        web_sys::FormData::new_with_form(&form).ok().map(Self)
    }

    /// The value of the input `name` (empty when absent).
    fn text(&self, name: &str) -> String {
        self.0.get(name).as_string().unwrap_or_default()
    }

    /// The values of every checked box (or input) named `name`.
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .get_all(name)
            .iter()
            .filter_map(|value| value.as_string())
            .collect()
    }
}

/// The page: the project picker (`?project=`, else the account's first project), its rules,
/// the targets (admins) and the account's deliveries.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    let query = use_query_map();
    let projects = account.projects.nodes.clone();
    let first_project = projects.first().map(|p| p.id.clone()).unwrap_or_default();
    let project_id = Memo::new(move |_| {
        query
            .read()
            .get("project")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| first_project.clone())
    });
    let navigate = use_navigate();
    let account_id = StoredValue::new(account.id.clone());
    let pick = move |ev: leptos::ev::Event| {
        let path = format!(
            "/{}/settings/alerts?project={}",
            account_id.get_value(),
            event_target_value(&ev)
        );
        navigate(&path, Default::default());
    };
    let admin = account.can_admin();
    // Targets are for admins only: other roles see rules with their targets counted.
    let targets: Answer = RwSignal::new(None);
    let reload_targets = Callback::new(move |()| {
        if admin {
            reload(
                targets,
                "query($a: ID!) { alertTargets(accountId: $a) { id projectId name kind url emails secret } }",
                json!({"a": account_id.get_value()}),
                "/alertTargets",
            );
        } else {
            targets.set(Some(Ok(json!([]))));
        }
    });
    reload_targets.run(());
    let no_projects = projects.is_empty();
    view! {
        <div class="settings alerts">
            <h1>"Alerts"</h1>
            <SettingsTabs account_id=account.id.clone() current="alerts"/>
            {if no_projects {
                view! { <p class="notice">"Create a project first: alert rules watch the issues of a project."</p> }.into_any()
            } else {
                view! {
                    <label class="field project-pick" for="alerts-project"><span>"Project"</span>
                        <select id="alerts-project" on:change=pick>
                            {projects.into_iter().map(|p| {
                                let selected = p.id == project_id.get_untracked();
                                view! { <option value=p.id.clone() selected=selected>{p.name.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    {move || {
                        let project = project_id.get();
                        view! { <Rules project_id=project targets admin/> }
                    }}
                    {admin.then(|| view! { <Targets account_id=account_id.get_value() project_id targets reload=reload_targets/> })}
                }.into_any()
            }}
            <Deliveries account_id=account_id.get_value() targets admin/>
        </div>
    }
}

/// The loaded targets (empty while loading, after an error, or for non-admins).
fn loaded_targets(targets: Answer) -> Vec<Target> {
    match targets.get() {
        Some(Ok(list)) => items(&list).iter().map(Target::from_json).collect(),
        _ => Vec::new(),
    }
}

/// The name of target `id` among `targets`, else the id.
fn target_name(targets: &[Target], id: &str) -> String {
    targets
        .iter()
        .find(|t| t.id == id)
        .map_or_else(|| id.to_owned(), |t| t.name.clone())
}

#[component]
fn Rules(project_id: String, targets: Answer, admin: bool) -> impl IntoView {
    let project = StoredValue::new(project_id);
    let rules: Answer = RwSignal::new(None);
    let refresh = Callback::new(move |()| {
        reload(
            rules,
            "query($p: ID!) { alertRules(projectId: $p) { id name trigger frequencyCount frequencyMinutes levels \
             environments releases tags { key value } actionIntervalMinutes enabled targetIds } }",
            json!({"p": project.get_value()}),
            "/alertRules",
        );
    });
    refresh.run(());
    let submit = Submit::new();
    let editing: Editing = RwSignal::new(None);
    view! {
        <section class="card" aria-labelledby="rules-h">
            <h2 id="rules-h">"Alert rules"</h2>
            <SubmitError submit/>
            {move || match rules.get() {
                None => view! { <Loading what="alert rules"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(list)) => {
                    let list = items(&list);
                    if list.is_empty() {
                        view! { <p class="muted" id="no-rules">"No rules yet: nobody is notified about this project's issues."</p> }.into_any()
                    } else {
                        let known = loaded_targets(targets);
                        view! {
                            <ul class="rules" id="alert-rules">
                                {list.into_iter().map(|raw| {
                                    let names = known.clone();
                                    view! { <RuleRow raw names admin submit editing on_change=refresh/> }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            }}
            {move || match editing.get() {
                None => admin.then(|| view! {
                    <button type="button" class="primary" id="new-rule" on:click=move |_| editing.set(Some(Value::Null))>"New rule"</button>
                }).into_any(),
                Some(initial) => view! {
                    <RuleForm initial project_id=project.get_value() targets editing reload=refresh/>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn RuleRow(
    raw: Value,
    names: Vec<Target>,
    admin: bool,
    submit: Submit,
    editing: Editing,
    on_change: Callback<()>,
) -> impl IntoView {
    let rule = Rule::from_json(&raw);
    let targets = if rule.target_ids.is_empty() {
        "no target: it fires, but notifies nobody".to_owned()
    } else if names.is_empty() {
        format!("{} target(s)", rule.target_ids.len())
    } else {
        rule.target_ids
            .iter()
            .map(|id| target_name(&names, id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stored = StoredValue::new(raw);
    let toggle = move |_| {
        let mut changed = Rule::from_json(&stored.get_value());
        changed.enabled = !changed.enabled;
        change(
            submit,
            "mutation($id: ID!, $i: AlertRuleInput!) { updateAlertRule(id: $id, input: $i) { id } }",
            json!({"id": changed.id, "i": rule_input(&changed)}),
            on_change,
        );
    };
    let id = StoredValue::new(rule.id.clone());
    let delete = move |_| {
        if confirm("Delete this rule? Its deliveries stay in the log.") {
            change(
                submit,
                "mutation($id: ID!) { deleteAlertRule(id: $id) }",
                json!({"id": id.get_value()}),
                on_change,
            );
        }
    };
    view! {
        <li class="rule" data-rule=rule.id.clone() class:disabled=!rule.enabled>
            <div class="rule-head">
                <strong class="rule-name">{rule.name.clone()}</strong>
                <label class="check">
                    <input type="checkbox" class="rule-enabled" prop:checked=rule.enabled disabled=!admin on:change=toggle/>
                    {if rule.enabled { "Enabled" } else { "Disabled" }}
                </label>
            </div>
            <p class="rule-when">{format!("Notify when {}", trigger_words(&rule))}</p>
            <p class="muted small">
                <span class="rule-filters">{format!("Filters: {}", filter_words(&rule))}</span>" · "
                <span class="rule-interval">{interval_words(rule.action_interval_minutes)}</span>
            </p>
            <p class="small rule-targets">{format!("Targets: {targets}")}</p>
            {admin.then(|| view! {
                <p class="actions">
                    <button type="button" class="small edit-rule" on:click=move |_| editing.set(Some(stored.get_value()))>"Edit"</button>
                    <button type="button" class="small danger delete-rule" on:click=delete>"Delete"</button>
                </p>
            })}
        </li>
    }
}

#[component]
fn RuleForm(
    initial: Value,
    project_id: String,
    targets: Answer,
    editing: Editing,
    reload: Callback<()>,
) -> impl IntoView {
    let submit = Submit::new();
    let saved = Callback::new(move |()| {
        editing.set(None);
        reload.run(());
    });
    // `null` reads as a new rule's defaults.
    let rule = Rule::from_json(&initial);
    let existing = StoredValue::new(rule.id.clone());
    let project = StoredValue::new(project_id);
    // The inputs hold their own values; the form is read once, when it is submitted.
    let trigger = RwSignal::new(rule.trigger.clone());
    let chosen = StoredValue::new(rule.target_ids.clone());
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = FormValues::of(&ev) else {
            return;
        };
        let tags = match parse_tags(&form.text("tags")) {
            Ok(tags) => tags,
            Err(message) => return submit.error.set(Some(invalid("tags", message))),
        };
        let Ok(interval) = form.text("interval").trim().parse::<i32>() else {
            return submit.error.set(Some(invalid(
                "actionIntervalMinutes",
                "the action interval is a number of minutes".to_owned(),
            )));
        };
        let rule = Rule {
            id: String::new(),
            name: form.text("name"),
            trigger: form.text("trigger"),
            frequency_count: form.text("count").trim().parse().ok(),
            frequency_minutes: form.text("minutes").trim().parse().ok(),
            levels: form.all("level"),
            environments: split_list(&form.text("environments")),
            releases: split_list(&form.text("releases")),
            tags,
            action_interval_minutes: interval,
            enabled: !form.all("enabled").is_empty(),
            target_ids: form.all("target"),
        };
        let id = existing.get_value();
        let (document, variables) = if id.is_empty() {
            (
                "mutation($p: ID!, $i: AlertRuleInput!) { createAlertRule(projectId: $p, input: $i) { id } }",
                json!({"p": project.get_value(), "i": rule_input(&rule)}),
            )
        } else {
            (
                "mutation($id: ID!, $i: AlertRuleInput!) { updateAlertRule(id: $id, input: $i) { id } }",
                json!({"id": id, "i": rule_input(&rule)}),
            )
        };
        change(submit, document, variables, saved);
    };
    let number = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
    view! {
        <form class="alert-form" id="rule-form" on:submit=save>
            <h3>{if rule.id.is_empty() { "New rule" } else { "Edit rule" }}</h3>
            <label class="field" for="rule-name"><span>"Name"</span>
                <input id="rule-name" name="name" type="text" required=true value=rule.name.clone()/></label>
            <label class="field" for="rule-trigger"><span>"Notify when"</span>
                <select id="rule-trigger" name="trigger" on:change=move |ev| trigger.set(event_target_value(&ev))>
                    {TRIGGERS.iter().map(|(value, label)| view! {
                        <option value=*value selected=rule.trigger == *value>{*label}</option>
                    }).collect_view()}
                </select>
            </label>
            <div class="inline-form" class:hidden=move || trigger.get() != "FREQUENCY">
                <label class="field" for="rule-count"><span>"More than N events"</span>
                    <input id="rule-count" name="count" type="number" min="1" value=number(rule.frequency_count)/></label>
                <label class="field" for="rule-minutes"><span>"within M minutes"</span>
                    <input id="rule-minutes" name="minutes" type="number" min="1" max="1440" value=number(rule.frequency_minutes)/></label>
            </div>
            <fieldset class="choices">
                <legend>"Levels (none ticked: any level)"</legend>
                {LEVELS.iter().map(|level| view! {
                    <label class="check"><input type="checkbox" name="level" value=*level
                        checked=rule.levels.iter().any(|l| l == level)/>{*level}</label>
                }).collect_view()}
            </fieldset>
            <label class="field" for="rule-environments"><span>"Environments (comma-separated; empty: any)"</span>
                <input id="rule-environments" name="environments" type="text" value=rule.environments.join(", ")/></label>
            <label class="field" for="rule-releases"><span>"Releases (comma-separated; empty: any)"</span>
                <input id="rule-releases" name="releases" type="text" value=rule.releases.join(", ")/></label>
            <label class="field" for="rule-tags"><span>"Tags the event must carry (key=value, comma-separated)"</span>
                <input id="rule-tags" name="tags" type="text" placeholder="browser=Firefox, customer=acme" value=tags_text(&rule.tags)/></label>
            <label class="field" for="rule-interval"><span>"Notify about one issue at most once every … minutes"</span>
                <input id="rule-interval" name="interval" type="number" min="1" max="10080" value=rule.action_interval_minutes.to_string()/></label>
            <label class="check"><input type="checkbox" id="rule-enabled" name="enabled" value="on" checked=rule.enabled/>"Enabled"</label>
            <fieldset class="choices" id="rule-targets">
                <legend>"Targets"</legend>
                {move || {
                    let list = loaded_targets(targets);
                    if list.is_empty() {
                        view! { <p class="muted small">"No targets yet: add one under Targets."</p> }.into_any()
                    } else {
                        list.into_iter().map(|target| view! {
                            <label class="check"><input type="checkbox" name="target" value=target.id.clone()
                                data-name=target.name.clone() checked=chosen.with_value(|c| c.contains(&target.id))/>
                                {format!("{} ({})", target.name, kind_label(&target.kind))}</label>
                        }).collect_view().into_any()
                    }
                }}
            </fieldset>
            <SubmitError submit/>
            <p class="actions">
                <button type="submit" class="primary" id="save-rule" disabled=move || submit.pending.get()>"Save rule"</button>
                <button type="button" id="cancel-rule" on:click=move |_| editing.set(None)>"Cancel"</button>
            </p>
        </form>
    }
}

#[component]
fn Targets(
    account_id: String,
    project_id: Memo<String>,
    targets: Answer,
    reload: Callback<()>,
) -> impl IntoView {
    let submit = Submit::new();
    let editing: Editing = RwSignal::new(None);
    let account = StoredValue::new(account_id);
    view! {
        <section class="card" aria-labelledby="targets-h">
            <h2 id="targets-h">"Targets"</h2>
            <p class="muted small">"Where notifications go. Account-wide targets serve every project's rules; a pinned one shows here only for its project."</p>
            <SubmitError submit/>
            {move || match targets.get() {
                None => view! { <Loading what="targets"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(list)) => {
                    let project = project_id.get();
                    let shown: Vec<Value> = items(&list)
                        .into_iter()
                        .filter(|t| t["projectId"].as_str().is_none_or(|p| p == project))
                        .collect();
                    if shown.is_empty() {
                        view! { <p class="muted" id="no-targets">"No targets yet."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="targets" id="alert-targets">
                                {shown.into_iter().map(|raw| view! {
                                    <TargetRow raw account_id=account.get_value() submit editing on_change=reload/>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            }}
            {move || match editing.get() {
                None => view! {
                    <button type="button" class="primary" id="new-target" on:click=move |_| editing.set(Some(Value::Null))>"Add target"</button>
                }.into_any(),
                Some(initial) => view! {
                    <TargetForm initial account_id=account.get_value() project_id=project_id.get_untracked() editing reload/>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn TargetRow(
    raw: Value,
    account_id: String,
    submit: Submit,
    editing: Editing,
    on_change: Callback<()>,
) -> impl IntoView {
    let target = Target::from_json(&raw);
    let stored = StoredValue::new(raw);
    let place = StoredValue::new((target.id.clone(), account_id));
    // The test notification sent last from this row, as last read.
    let test: Answer = RwSignal::new(None);
    let testing = RwSignal::new(false);
    let send_test = move |_| {
        if testing.get_untracked() {
            return;
        }
        testing.set(true);
        test.set(None);
        let (target_id, account_id) = place.get_value();
        leptos::task::spawn_local(async move {
            follow_test(target_id, account_id, test).await;
            let _ = testing.try_set(false);
        });
    };
    let delete = move |_| {
        if confirm("Delete this target and its delivery log?") {
            change(
                submit,
                "mutation($id: ID!) { deleteAlertTarget(id: $id) }",
                json!({"id": place.get_value().0}),
                on_change,
            );
        }
    };
    let address = match target.kind.as_str() {
        "EMAIL" => target.emails.join(", "),
        _ => target.url.clone().unwrap_or_default(),
    };
    view! {
        <li class="target" data-target=target.id.clone() data-kind=target.kind.clone()>
            <div class="rule-head">
                <strong class="target-name">{target.name.clone()}</strong>
                <span class="badge">{kind_label(&target.kind).to_owned()}</span>
                {target.project_id.is_some().then(|| view! { <span class="badge">"this project only"</span> })}
            </div>
            <p class="small"><code class="target-address">{address}</code></p>
            {target.secret.clone().map(|secret| {
                let copy = secret.clone();
                view! {
                    <div class="secret">
                        <p class="small">"Signing secret "<code class="target-secret">{secret}</code>" "
                            <CopyButton text=Signal::derive(move || copy.clone()) id=format!("copy-secret-{}", target.id)/></p>
                        <details class="small">
                            <summary>"How to verify the HMAC-SHA256 signature"</summary>
                            <ol>{SIGNATURE_HELP.iter().map(|step| view! { <li>{*step}</li> }).collect_view()}</ol>
                            <pre><code>{SIGNATURE_EXAMPLE}</code></pre>
                        </details>
                    </div>
                }
            })}
            <p class="actions">
                <button type="button" class="small test-target" on:click=send_test disabled=move || testing.get()>"Send test notification"</button>
                <button type="button" class="small edit-target" on:click=move |_| editing.set(Some(stored.get_value()))>"Edit"</button>
                <button type="button" class="small danger delete-target" on:click=delete>"Delete"</button>
            </p>
            {move || test.get().map(|answer| match answer {
                Ok(raw) => {
                    let delivery = Delivery::from_json(&raw);
                    let (_, class) = delivery_state(&delivery.status, delivery.attempts);
                    view! { <p class=format!("test-result small delivery-{class}") role="status" data-status=delivery.status.clone()>{test_progress(&delivery)}</p> }.into_any()
                }
                Err(error) => view! { <ErrorNote error/> }.into_any(),
            })}
        </li>
    }
}

/// Sends a test notification to `target_id`, then reads its state into `shown` until it is
/// sent or a dead letter (or the row is gone).
async fn follow_test(target_id: String, account_id: String, shown: Answer) {
    if !fetch(
        shown,
        "mutation($t: ID!) { sendTestNotification(targetId: $t) { \
         id ruleId targetId issueId trigger status attempts lastError nextAttemptAt createdAt sentAt } }",
        json!({"t": target_id}),
        "/sendTestNotification",
    )
    .await
    {
        return;
    }
    let Some(Some(Ok(sent))) = shown.try_get_untracked() else {
        return;
    };
    let id = sent["id"].clone();
    for _ in 0..TEST_POLLS {
        pause(TEST_POLL_MS).await;
        let Ok(data) = api::gql(DELIVERIES_QUERY, json!({"a": account_id})).await else {
            continue;
        };
        let Some(now) = items(&data["notifications"])
            .into_iter()
            .find(|d| d["id"] == id)
        else {
            continue;
        };
        let settled = is_settled(now["status"].as_str().unwrap_or_default());
        // The row was removed (its target deleted, another page): stop asking.
        if shown.try_set(Some(Ok(now))).is_some() || settled {
            break;
        }
    }
}

#[component]
fn TargetForm(
    initial: Value,
    account_id: String,
    project_id: String,
    editing: Editing,
    reload: Callback<()>,
) -> impl IntoView {
    let submit = Submit::new();
    let saved = Callback::new(move |()| {
        editing.set(None);
        reload.run(());
    });
    // `null` reads as a new webhook target.
    let target = Target::from_json(&initial);
    let new = target.id.is_empty();
    let existing = StoredValue::new(target.id.clone());
    let kind = RwSignal::new(target.kind.clone());
    let place = StoredValue::new((account_id, project_id));
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = FormValues::of(&ev) else {
            return;
        };
        let (url, emails) = if kind.get_untracked() == "EMAIL" {
            (Value::Null, split_list(&form.text("emails")))
        } else {
            (json!(form.text("url").trim()), Vec::new())
        };
        let name = form.text("name");
        let (document, variables) = if new {
            let (account, project) = place.get_value();
            (
                "mutation($a: ID!, $p: ID, $i: AlertTargetInput!) { createAlertTarget(accountId: $a, projectId: $p, input: $i) { id } }",
                json!({
                    "a": account,
                    "p": (!form.all("pinned").is_empty()).then_some(project),
                    "i": {"name": name, "kind": kind.get_untracked(), "url": url, "emails": emails},
                }),
            )
        } else {
            (
                "mutation($id: ID!, $i: AlertTargetUpdateInput!) { updateAlertTarget(id: $id, input: $i) { id } }",
                json!({"id": existing.get_value(), "i": {"name": name, "url": url, "emails": emails}}),
            )
        };
        change(submit, document, variables, saved);
    };
    view! {
        <form class="alert-form" id="target-form" on:submit=save>
            <h3>{if new { "New target" } else { "Edit target" }}</h3>
            <label class="field" for="target-name"><span>"Name"</span>
                <input id="target-name" name="name" type="text" required=true value=target.name.clone()/></label>
            {if new {
                view! {
                    <label class="field" for="target-kind"><span>"Kind"</span>
                        <select id="target-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                            {KINDS.iter().map(|(value, label)| view! {
                                <option value=*value selected=target.kind == *value>{*label}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label class="check"><input type="checkbox" id="target-pinned" name="pinned" value="on"/>"Only for this project"</label>
                }.into_any()
            } else {
                view! { <p class="muted small">{format!("Kind: {}", kind_label(&target.kind))}</p> }.into_any()
            }}
            <label class="field" for="target-url" class:hidden=move || kind.get() == "EMAIL">
                <span>{move || match kind.get().as_str() {
                    "SLACK" => "Slack incoming webhook URL",
                    "DISCORD" => "Discord webhook URL",
                    _ => "URL (receives a signed JSON POST; the secret shows once saved)",
                }}</span>
                <input id="target-url" name="url" type="text" inputmode="url" placeholder="https://" value=target.url.clone().unwrap_or_default()/></label>
            <label class="field" for="target-emails" class:hidden=move || kind.get() != "EMAIL">
                <span>"Recipients (one per line or comma-separated)"</span>
                <textarea id="target-emails" name="emails" rows="3">{target.emails.join("\n")}</textarea></label>
            <SubmitError submit/>
            <p class="actions">
                <button type="submit" class="primary" id="save-target" disabled=move || submit.pending.get()>"Save target"</button>
                <button type="button" id="cancel-target" on:click=move |_| editing.set(None)>"Cancel"</button>
            </p>
        </form>
    }
}

#[component]
fn Deliveries(account_id: String, targets: Answer, admin: bool) -> impl IntoView {
    let status = RwSignal::new(String::new());
    let list: Answer = RwSignal::new(None);
    let submit = Submit::new();
    let account = StoredValue::new(account_id);
    let variables = move || {
        let filter = status.get_untracked();
        json!({"a": account.get_value(), "s": (!filter.is_empty()).then_some(filter)})
    };
    // Reloaded in the background while the page is open; the last answer stays meanwhile.
    leptos::task::spawn_local(async move {
        while let Some(variables) = status.try_get_untracked().map(|_| variables()) {
            if !fetch(list, DELIVERIES_QUERY, variables, "/notifications").await {
                break;
            }
            pause(DELIVERIES_REFRESH_MS).await;
        }
    });
    let refresh =
        Callback::new(move |()| reload(list, DELIVERIES_QUERY, variables(), "/notifications"));
    let pick = move |ev: leptos::ev::Event| {
        status.set(event_target_value(&ev));
        list.set(None);
        refresh.run(());
    };
    view! {
        <section class="card" aria-labelledby="deliveries-h">
            <h2 id="deliveries-h">"Recent deliveries"</h2>
            <p class="muted small">"Every notification of the account, newest first: failed attempts are retried with growing pauses; after 5 a delivery is a dead letter, which an admin can retry."</p>
            <label class="field inline" for="deliveries-status"><span>"Show"</span>
                <select id="deliveries-status" on:change=pick>
                    <option value="">"all"</option>
                    <option value="PENDING">"pending and failed"</option>
                    <option value="SENDING">"sending"</option>
                    <option value="SENT">"sent"</option>
                    <option value="DEAD">"dead letters"</option>
                </select>
            </label>
            <SubmitError submit/>
            {move || match list.get() {
                None => view! { <Loading what="deliveries"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(rows)) => {
                    let rows = items(&rows);
                    if rows.is_empty() {
                        view! { <p class="muted" id="no-deliveries">"Nothing delivered yet."</p> }.into_any()
                    } else {
                        let known = loaded_targets(targets);
                        view! {
                            <div class="table-scroll">
                                <table class="issue-table deliveries" id="deliveries">
                                    <thead><tr>
                                        <th>"When"</th><th>"Trigger"</th><th>"Target"</th><th>"Issue"</th><th>"Status"</th>
                                        <th class="num">"Attempts"</th><th>"Last error"</th><th>"Next attempt"</th><th></th>
                                    </tr></thead>
                                    <tbody>
                                        {rows.iter().map(|raw| {
                                            let delivery = Delivery::from_json(raw);
                                            let target = target_name(&known, &delivery.target_id);
                                            view! { <DeliveryRow delivery target account_id=account.get_value() admin submit on_change=refresh/> }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                }
            }}
        </section>
    }
}

#[component]
fn DeliveryRow(
    delivery: Delivery,
    target: String,
    account_id: String,
    admin: bool,
    submit: Submit,
    on_change: Callback<()>,
) -> impl IntoView {
    let (state, class) = delivery_state(&delivery.status, delivery.attempts);
    let next = delivery
        .next_attempt_at
        .as_deref()
        .filter(|_| !is_settled(&delivery.status))
        .map(|at| until_words((js_sys::Date::parse(at) - js_sys::Date::now()) / 1000.0))
        .unwrap_or_default();
    let id = StoredValue::new(delivery.id.clone());
    let retry = move |_| {
        change(
            submit,
            "mutation($id: ID!) { retryNotification(id: $id) { id } }",
            json!({"id": id.get_value()}),
            on_change,
        );
    };
    let dead = delivery.status == "DEAD";
    view! {
        <tr class="delivery" data-id=delivery.id.clone() data-status=delivery.status.clone() data-trigger=delivery.trigger.clone()>
            <td title=delivery.created_at.clone()>{since(&delivery.created_at)}</td>
            <td>{delivery_trigger(&delivery.trigger).to_owned()}</td>
            <td class="delivery-target">{target}</td>
            <td>{delivery.issue_id.clone().map(|issue| view! { <a href=format!("/{account_id}/issues/{issue}")>{issue.clone()}</a> })}</td>
            <td><span class=format!("badge delivery-{class}")>{state}</span></td>
            <td class="num">{delivery.attempts}</td>
            <td class="small delivery-error">{delivery.last_error.clone().unwrap_or_default()}</td>
            <td class="small">{next}</td>
            <td>{(admin && dead).then(|| view! { <button type="button" class="small retry-delivery" on:click=retry>"Retry"</button> })}</td>
        </tr>
    }
}
