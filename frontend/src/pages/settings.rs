//! `/:account/settings`: members and their roles, invites, project keys (DSN, rotate,
//! disable) and API tokens. What a role may not do, the API refuses; the page shows its error.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{self, ApiError};
use crate::app::CurrentAccount;
use crate::components::{CopyButton, ErrorNote, Loading};
use crate::pages::auth::Field;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Member {
    id: String,
    email: String,
    role: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Invite {
    id: String,
    email: String,
    role: String,
    status: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Key {
    id: String,
    label: String,
    dsn: String,
    is_active: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Project {
    id: String,
    name: String,
    keys: Vec<Key>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Token {
    id: String,
    name: String,
    scope: String,
    prefix: String,
    revoked_at: Option<String>,
}

const ROLES: [&str; 4] = ["VIEWER", "MEMBER", "ADMIN", "OWNER"];

/// Runs a mutation, then `done` or shows the error.
fn mutate(
    document: &'static str,
    variables: Value,
    error: RwSignal<Option<ApiError>>,
    done: impl FnOnce(Value) + 'static,
) {
    leptos::task::spawn_local(async move {
        match api::gql(document, variables).await {
            Ok(data) => {
                error.set(None);
                done(data);
            }
            Err(e) => error.set(Some(e)),
        }
    });
}

#[component]
pub fn Settings() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    let error = RwSignal::new(None::<ApiError>);
    view! {
        <div class="settings">
            <h1>{format!("Settings of {}", account.name)}</h1>
            <p class="muted">{format!("Your role: {}", account.viewer_role.to_lowercase())}</p>
            {move || error.get().map(|error| view! { <ErrorNote error/> })}
            <Members account_id=account.id.clone() can_admin=account.can_admin() error/>
            {account.can_admin().then(|| view! { <Invites account_id=account.id.clone() error/> })}
            <Keys account_id=account.id.clone() can_admin=account.can_admin() error/>
            <Tokens account_id=account.id.clone() error/>
        </div>
    }
}

#[component]
fn Members(
    account_id: String,
    can_admin: bool,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let members = LocalResource::new(move || {
        let account_id = account_id.clone();
        async move {
            api::gql(
                "query($a: ID!) { account(id: $a) { members(first: 100) { nodes { id email role } } } }",
                json!({"a": account_id}),
            )
            .await
            .and_then(|d| api::decode::<Vec<Member>>(d["account"]["members"]["nodes"].clone()))
        }
    });
    view! {
        <section class="card" aria-labelledby="members-h">
            <h2 id="members-h">"Members"</h2>
            {move || match members.get() {
                None => view! { <Loading what="members"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="plain" id="members"><tbody>
                        {list.into_iter().map(|m| {
                            let id = m.id.clone();
                            let change = move |ev: leptos::ev::Event| {
                                mutate("mutation($id: ID!, $r: Role!) { changeMemberRole(id: $id, role: $r) { id } }",
                                    json!({"id": id, "r": event_target_value(&ev)}), error, move |_| members.refetch());
                            };
                            let role = m.role.clone();
                            view! {
                                <tr class="member">
                                    <td>{m.email.clone()}</td>
                                    <td><label><span class="sr-only">{format!("Role of {}", m.email)}</span>
                                        <select on:change=change disabled=!can_admin>
                                            {ROLES.iter().map(|r| view! { <option value=*r selected=role == *r>{r.to_lowercase()}</option> }).collect_view()}
                                        </select></label></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody></table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Invites(account_id: String, error: RwSignal<Option<ApiError>>) -> impl IntoView {
    let invites = LocalResource::new({
        let account_id = account_id.clone();
        move || {
            let account_id = account_id.clone();
            async move {
                api::gql(
                    "query($a: ID!) { account(id: $a) { invites(first: 100) { nodes { id email role status } } } }",
                    json!({"a": account_id}),
                )
                .await
                .and_then(|d| api::decode::<Vec<Invite>>(d["account"]["invites"]["nodes"].clone()))
            }
        }
    });
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("MEMBER".to_owned());
    let sent = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let address = email.get_untracked();
        mutate(
            "mutation($a: ID!, $e: String!, $r: Role!) { inviteMember(accountId: $a, email: $e, role: $r) { id } }",
            json!({"a": account_id, "e": address, "r": role.get_untracked()}),
            error,
            move |_| {
                sent.set(Some(address));
                email.set(String::new());
                invites.refetch();
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="invites-h">
            <h2 id="invites-h">"Invite a member"</h2>
            <form class="inline-form" id="invite-form" on:submit=on_submit>
                <Field id="invite-address" label="Email" kind="email" value=email/>
                <label class="field" for="invite-role"><span>"Role"</span>
                    <select id="invite-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        {ROLES.iter().map(|r| view! { <option value=*r selected=*r == "MEMBER">{r.to_lowercase()}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit" class="primary" id="send-invite">"Send invite"</button>
            </form>
            {move || sent.get().map(|a| view! { <p id="invite-sent" role="status">{format!("Invite sent to {a}.")}</p> })}
            {move || invites.get().and_then(Result::ok).map(|list| view! {
                <table class="plain" id="invites"><tbody>
                    {list.into_iter().map(|i| {
                        let id = i.id.clone();
                        let pending = i.status == "PENDING";
                        let revoke = move |_| mutate("mutation($id: ID!) { revokeInvite(id: $id) { id } }",
                            json!({"id": id}), error, move |_| invites.refetch());
                        view! { <tr><td>{i.email}</td><td>{i.role.to_lowercase()}</td><td>{i.status.to_lowercase()}</td>
                            <td>{pending.then(|| view! { <button type="button" on:click=revoke>"Revoke"</button> })}</td></tr> }
                    }).collect_view()}
                </tbody></table>
            })}
        </section>
    }
}

#[component]
fn Keys(account_id: String, can_admin: bool, error: RwSignal<Option<ApiError>>) -> impl IntoView {
    let projects = LocalResource::new(move || {
        let account_id = account_id.clone();
        async move {
            api::gql(
                "query($a: ID!) { account(id: $a) { projects(first: 100) { nodes { id name keys { id label dsn isActive } } } } }",
                json!({"a": account_id}),
            )
            .await
            .and_then(|d| api::decode::<Vec<Project>>(d["account"]["projects"]["nodes"].clone()))
        }
    });
    view! {
        <section class="card" aria-labelledby="keys-h">
            <h2 id="keys-h">"Projects and keys"</h2>
            {move || match projects.get() {
                None => view! { <Loading what="projects"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(list)) => list.into_iter().map(|p| view! {
                    <h3>{p.name.clone()}</h3>
                    <ul class="keys">
                        {p.keys.into_iter().map(|k| {
                            let rotate_id = k.id.clone();
                            let toggle_id = k.id.clone();
                            let active = k.is_active;
                            let dsn = k.dsn.clone();
                            view! {
                                <li class="key" class:inactive=!active>
                                    <span>{k.label.clone()}</span>" "<code>{k.dsn.clone()}</code>
                                    <CopyButton text=Signal::derive(move || dsn.clone()) id=format!("copy-{}", k.id)/>
                                    {can_admin.then(|| view! {
                                        <button type="button" on:click=move |_| mutate(
                                            "mutation($id: ID!) { updateProjectKey(id: $id, rotate: true) { id } }",
                                            json!({"id": rotate_id}), error, move |_| projects.refetch())>"Rotate"</button>
                                        <button type="button" on:click=move |_| mutate(
                                            "mutation($id: ID!, $a: Boolean) { updateProjectKey(id: $id, isActive: $a) { id } }",
                                            json!({"id": toggle_id, "a": !active}), error, move |_| projects.refetch())>
                                            {if active { "Disable" } else { "Enable" }}</button>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }).collect_view().into_any(),
            }}
        </section>
    }
}

#[component]
fn Tokens(account_id: String, error: RwSignal<Option<ApiError>>) -> impl IntoView {
    let tokens = LocalResource::new({
        let account_id = account_id.clone();
        move || {
            let account_id = account_id.clone();
            async move {
                api::gql(
                    "query($a: ID!) { account(id: $a) { apiTokens(first: 100) { nodes { id name scope prefix revokedAt } } } }",
                    json!({"a": account_id}),
                )
                .await
                .and_then(|d| api::decode::<Vec<Token>>(d["account"]["apiTokens"]["nodes"].clone()))
            }
        }
    });
    let name = RwSignal::new(String::new());
    let secret = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        mutate(
            "mutation($a: ID!, $n: String!) { createApiToken(accountId: $a, name: $n, scope: READ) { secret } }",
            json!({"a": account_id, "n": name.get_untracked()}),
            error,
            move |data| {
                secret.set(
                    data.pointer("/createApiToken/secret")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                );
                name.set(String::new());
                tokens.refetch();
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"API tokens"</h2>
            <form class="inline-form" on:submit=on_submit>
                <Field id="token-name" label="Name (read-only token)" kind="text" value=name/>
                <button type="submit" class="primary">"Create token"</button>
            </form>
            {move || secret.get().map(|s| view! { <p role="status">"Copy it now, it is shown once: "<code>{s}</code></p> })}
            {move || match tokens.get() {
                None => view! { <Loading what="tokens"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error/> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="plain"><tbody>
                        {list.into_iter().map(|t| {
                            let id = t.id.clone();
                            let live = t.revoked_at.is_none();
                            let revoke = move |_| mutate("mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
                                json!({"id": id}), error, move |_| tokens.refetch());
                            view! { <tr><td>{t.name}</td><td>{t.scope.to_lowercase()}</td><td><code>{t.prefix}"…"</code></td>
                                <td>{if live { view! { <button type="button" on:click=revoke>"Revoke"</button> }.into_any() } else { "revoked".into_any() }}</td></tr> }
                        }).collect_view()}
                    </tbody></table>
                }.into_any(),
            }}
        </section>
    }
}
