//! `/:account/profile`: the signed-in user's own settings: password, email address, and the
//! sessions signed in as them (revoke one, or log out everywhere).

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::api;
use crate::app::use_session;
use crate::components::{Field, Submit, SubmitError, go_to, loaded, since};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Session {
    id: String,
    last_used_at: String,
    user_agent: String,
    ip: String,
    current: bool,
}

#[component]
pub fn Profile() -> impl IntoView {
    let session = use_session();
    let email = move || {
        session
            .viewer
            .get()
            .and_then(Result::ok)
            .map(|v| v.user.email)
            .unwrap_or_default()
    };
    view! {
        <div class="settings">
            <h1>"Your profile"</h1>
            <p class="muted" id="profile-email">{email}</p>
            <ChangePassword/>
            <ChangeEmail/>
            <Sessions/>
        </div>
    }
}

#[component]
fn ChangePassword() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let submit = Submit::new();
    let done = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.mutate(
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            json!({"c": current.get_untracked(), "n": new.get_untracked()}),
            move |_| {
                done.set(true);
                current.set(String::new());
                new.set(String::new());
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="password-h">
            <h2 id="password-h">"Password"</h2>
            <form class="inline-form" id="password-form" on:submit=on_submit>
                <Field id="current-password" label="Current password" kind="password" value=current autocomplete="current-password"/>
                <Field id="new-password" label="New password" kind="password" value=new autocomplete="new-password"/>
                <button type="submit" class="primary" disabled=move || submit.pending.get()>"Change password"</button>
            </form>
            <SubmitError submit/>
            {move || done.get().then(|| view! { <p role="status" id="password-changed">"Password changed; your other sessions have ended."</p> })}
        </section>
    }
}

#[component]
fn ChangeEmail() -> impl IntoView {
    let address = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = Submit::new();
    let sent = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.mutate(
            "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }",
            json!({"e": address.get_untracked(), "p": password.get_untracked()}),
            move |_| sent.set(true),
        );
    };
    view! {
        <section class="card" aria-labelledby="email-h">
            <h2 id="email-h">"Email address"</h2>
            <form class="inline-form" id="email-form" on:submit=on_submit>
                <Field id="new-email" label="New address" kind="email" value=address/>
                <Field id="email-password" label="Password" kind="password" value=password autocomplete="current-password"/>
                <button type="submit" class="primary" disabled=move || submit.pending.get()>"Send confirmation link"</button>
            </form>
            <SubmitError submit/>
            {move || sent.get().then(|| view! { <p role="status" id="email-sent">"Open the link we sent to the new address to confirm it."</p> })}
        </section>
    }
}

#[component]
fn Sessions() -> impl IntoView {
    let sessions = LocalResource::new(|| async {
        api::query::<Vec<Session>>(
            "query { viewer { sessions { id lastUsedAt userAgent ip current } } }",
            json!({}),
            "/viewer/sessions",
        )
        .await
    });
    let submit = Submit::new();
    let everywhere = move |_| {
        submit.mutate("mutation { logoutEverywhere }", json!({}), |_| {
            go_to("/login")
        });
    };
    view! {
        <section class="card" aria-labelledby="sessions-h">
            <h2 id="sessions-h">"Sessions"</h2>
            <SubmitError submit/>
            {move || loaded(sessions.get(), "sessions", |list| view! {
                <table class="plain sessions" id="sessions"><tbody>
                    {list.into_iter().map(|s| {
                        let id = s.id.clone();
                        let revoke = move |_| {
                            submit.mutate("mutation($id: ID!) { revokeSession(id: $id) }",
                                json!({"id": id}), move |_| sessions.refetch());
                        };
                        view! {
                            <tr>
                                <td class="session-agent" title=s.user_agent.clone()>{crate::user_agent::describe(&s.user_agent)}</td>
                                <td>{s.ip.clone()}</td>
                                <td>{format!("active {}", since(&s.last_used_at))}</td>
                                <td>{if s.current {
                                    view! { <span class="badge">"this browser"</span> }.into_any()
                                } else {
                                    view! { <button type="button" on:click=revoke>"Revoke"</button> }.into_any()
                                }}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody></table>
            })}
            <button type="button" id="logout-everywhere" on:click=everywhere>"Log out everywhere"</button>
        </section>
    }
}
