//! `/:account/settings`: members and their roles, invites, project keys (DSN, rotate,
//! disable) with a link to each project's alerts, and API tokens; and the tabs between it, the
//! alerts page and the billing page. What a role may not
//! do, the API refuses; the page shows its error.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiError;
use crate::app::CurrentAccount;
use crate::components::{
    CopyButton, ErrorNote, Field, Submit, SubmitError, account_list, confirm, go_to, loaded,
};

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
    rate_limit_per_minute: Option<i64>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Project {
    id: String,
    name: String,
    fingerprint_rules: String,
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

#[component]
pub fn Settings() -> impl IntoView {
    let account = expect_context::<CurrentAccount>().0;
    // Each section has its own submission state, so an error shows next to what failed.
    let members = account_list::<Member>(
        account.id.clone(),
        "query($a: ID!) { account(id: $a) { members(first: 100) { nodes { id email role } } } }",
        "/account/members/nodes",
    );
    view! {
        <div class="settings">
            <h1>{format!("Settings of {}", account.name)}</h1>
            <SettingsTabs account_id=account.id.clone() current="general"/>
            <p class="muted">{format!("Your role: {}", account.viewer_role.to_lowercase())}</p>
            {member_list(members, account.can_admin())}
            {account.can_admin().then(|| view! { <Invites account_id=account.id.clone() submit=Submit::new()/> })}
            <Keys account_id=account.id.clone() can_admin=account.can_admin()/>
            <Tokens account_id=account.id.clone() submit=Submit::new()/>
            {account.can_admin().then(|| view! { <RenameAccount account_id=account.id.clone() name=account.name.clone() submit=Submit::new()/> })}
            {leave_or_delete(account.clone(), members, Submit::new())}
        </div>
    }
}

/// The tabs of an account's settings (`current`: `general`, `alerts` or `billing`).
#[component]
pub fn SettingsTabs(account_id: String, current: &'static str) -> impl IntoView {
    let tab = |name: &'static str, path: String, label: &'static str| {
        view! { <a href=path id=format!("settings-tab-{name}") aria-current=(current == name).then_some("page")>{label}</a> }
    };
    view! {
        <nav class="tabs settings-tabs" aria-label="Settings">
            {tab("general", format!("/{account_id}/settings"), "General")}
            {tab("alerts", format!("/{account_id}/settings/alerts"), "Alerts")}
            {tab("billing", format!("/{account_id}/settings/billing"), "Billing and usage")}
        </nav>
    }
}

/// Leave the account, or (owners) delete it by typing its slug.
fn leave_or_delete(
    account: crate::api::AccountSummary,
    members: LocalResource<Result<Vec<Member>, ApiError>>,
    submit: Submit,
) -> impl IntoView {
    let owner = account.viewer_role == "OWNER";
    // The last owner cannot leave: say so instead of offering it.
    let sole_owner = move || {
        owner
            && members
                .get()
                .and_then(Result::ok)
                .is_some_and(|list| owner_count(&list) == 1)
    };
    let typed = RwSignal::new(String::new());
    let account_id = StoredValue::new(account.id.clone());
    let slug = account.slug.clone();
    let leave = move |_| {
        submit.mutate(
            "mutation($id: ID!) { leaveAccount(id: $id) }",
            json!({"id": account_id.get_value()}),
            |_| go_to("/"),
        );
    };
    let delete = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.mutate(
            "mutation($id: ID!, $c: String!) { deleteAccount(id: $id, confirm: $c) }",
            json!({"id": account_id.get_value(), "c": typed.get_untracked()}),
            |_| go_to("/"),
        );
    };
    view! {
        <section class="card" aria-labelledby="danger-h">
            <h2 id="danger-h">"Leave or delete"</h2>
            <div class="with-reason">
                <button type="button" class="danger" id="leave-account" on:click=leave
                    disabled=sole_owner aria-describedby=move || sole_owner().then_some("leave-reason")>"Leave this account"</button>
                {move || sole_owner().then(|| view! {
                    <span class="reason" id="leave-reason">"The last owner cannot leave: make someone else owner first."</span>
                })}
            </div>
            {owner.then(|| view! {
                <form class="inline-form" on:submit=delete>
                    <Field id="delete-confirm" label=format!("Type {slug} to delete the account and all its data") kind="text" value=typed/>
                    <button type="submit" class="danger" id="delete-account">"Delete account"</button>
                </form>
            })}
            <SubmitError submit/>
        </section>
    }
}

#[component]
fn RenameAccount(account_id: String, name: String, submit: Submit) -> impl IntoView {
    let session = crate::app::use_session();
    let name = RwSignal::new(name);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.mutate(
            "mutation($id: ID!, $n: String!) { renameAccount(id: $id, name: $n) { id } }",
            json!({"id": account_id, "n": name.get_untracked()}),
            move |_| session.refresh(),
        );
    };
    view! {
        <section class="card" aria-labelledby="account-h">
            <h2 id="account-h">"Account"</h2>
            <form class="inline-form" on:submit=on_submit>
                <Field id="account-rename" label="Account name" kind="text" value=name/>
                <button type="submit">"Rename"</button>
            </form>
            <SubmitError submit/>
        </section>
    }
}

/// How many of `members` are owners.
fn owner_count(members: &[Member]) -> usize {
    members.iter().filter(|m| m.role == "OWNER").count()
}

/// Why `member` cannot be removed or demoted, if that is so: an account keeps one owner.
fn removal_blocked(member: &Member, members: &[Member]) -> Option<&'static str> {
    (member.role == "OWNER" && owner_count(members) == 1)
        .then_some("The last owner cannot be removed")
}

fn member_list(
    members: LocalResource<Result<Vec<Member>, ApiError>>,
    can_admin: bool,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="members-h">
            <h2 id="members-h">"Members"</h2>
            {move || loaded(members.get(), "members", |list| view! {
                <table class="plain members" id="members"><tbody>
                    {list.iter().map(|m| member_row(m.clone(), removal_blocked(m, &list), can_admin, move || members.refetch())).collect_view()}
                </tbody></table>
            })}
        </section>
    }
}

/// One member: their role (admins change it) and Remove, disabled with the reason for the
/// last owner; an error shows under the row.
fn member_row(
    member: Member,
    blocked: Option<&'static str>,
    can_admin: bool,
    on_change: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let submit = Submit::new();
    let id = StoredValue::new(member.id.clone());
    let remove = {
        let on_change = on_change.clone();
        move |_| {
            let on_change = on_change.clone();
            submit.mutate(
                "mutation($id: ID!) { removeMember(id: $id) }",
                json!({"id": id.get_value()}),
                move |_| on_change(),
            );
        }
    };
    let change = move |ev: leptos::ev::Event| {
        let on_change = on_change.clone();
        submit.mutate(
            "mutation($id: ID!, $r: Role!) { changeMemberRole(id: $id, role: $r) { id } }",
            json!({"id": id.get_value(), "r": event_target_value(&ev)}),
            move |_| on_change(),
        );
    };
    let role = member.role.clone();
    let reason_id = format!("reason-{}", member.id);
    view! {
        <tr class="member" data-member=member.id.clone()>
            <td class="member-email">{member.email.clone()}</td>
            <td><label><span class="sr-only">{format!("Role of {}", member.email)}</span>
                <select on:change=change disabled=!can_admin || blocked.is_some()
                    title=blocked.map(|_| "The last owner must stay an owner: make someone else owner first")>
                    {ROLES.iter().map(|r| view! { <option value=*r selected=role == *r>{r.to_lowercase()}</option> }).collect_view()}
                </select></label></td>
            <td class="member-actions">{can_admin.then(|| view! {
                <span class="with-reason">
                    <button type="button" class="remove-member" title=blocked aria-describedby=blocked.map(|_| reason_id.clone())
                        disabled=move || blocked.is_some() || submit.pending.get() on:click=remove>"Remove"</button>
                    {blocked.map(|reason| view! { <span class="reason" id=reason_id.clone()>{reason}</span> })}
                </span>
            })}</td>
        </tr>
        {move || submit.error.get().map(|error| view! {
            <tr class="row-error"><td colspan="3"><ErrorNote error/></td></tr>
        })}
    }
}

#[component]
fn Invites(account_id: String, submit: Submit) -> impl IntoView {
    let invites = account_list::<Invite>(
        account_id.clone(),
        "query($a: ID!) { account(id: $a) { invites(first: 100) { nodes { id email role status } } } }",
        "/account/invites/nodes",
    );
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("MEMBER".to_owned());
    let sent = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let address = email.get_untracked();
        submit.mutate(
            "mutation($a: ID!, $e: String!, $r: Role!) { inviteMember(accountId: $a, email: $e, role: $r) { id } }",
            json!({"a": account_id, "e": address, "r": role.get_untracked()}),
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
            <SubmitError submit/>
            {move || sent.get().map(|a| view! { <p id="invite-sent" role="status">{format!("Invite sent to {a}.")}</p> })}
            {move || loaded(invites.get(), "invites", |list| view! {
                <table class="plain" id="invites"><tbody>
                    {list.into_iter().map(|i| {
                        let id = i.id.clone();
                        let pending = i.status == "PENDING";
                        let revoke = move |_| submit.mutate("mutation($id: ID!) { revokeInvite(id: $id) { id } }",
                            json!({"id": id}), move |_| invites.refetch());
                        view! { <tr><td>{i.email}</td><td>{i.role.to_lowercase()}</td><td>{i.status.to_lowercase()}</td>
                            <td>{pending.then(|| view! { <button type="button" on:click=revoke>"Revoke"</button> })}</td></tr> }
                    }).collect_view()}
                </tbody></table>
            })}
        </section>
    }
}

#[component]
fn Keys(account_id: String, can_admin: bool) -> impl IntoView {
    let projects = account_list::<Project>(
        account_id.clone(),
        "query($a: ID!) { account(id: $a) { projects(first: 100) { nodes { id name fingerprintRules \
                 keys { id label dsn isActive rateLimitPerMinute } } } } }",
        "/account/projects/nodes",
    );
    view! {
        <section class="card" aria-labelledby="keys-h">
            <h2 id="keys-h">"Projects and keys"</h2>
            {move || loaded(projects.get(), "projects", |list| list.into_iter().map(|p| view! {
                    <ProjectBlock project=p can_admin submit=Submit::new() on_change=move || projects.refetch()/>
                }).collect_view())}
        </section>
    }
}

#[component]
fn ProjectBlock(
    project: Project,
    can_admin: bool,
    submit: Submit,
    on_change: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(project.name.clone());
    let rules = RwSignal::new(project.fingerprint_rules.clone());
    let project_id = StoredValue::new(project.id.clone());
    let rename = {
        let on_change = on_change.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let on_change = on_change.clone();
            submit.mutate(
                "mutation($id: ID!, $n: String!) { renameProject(id: $id, name: $n) { id } }",
                json!({"id": project_id.get_value(), "n": name.get_untracked()}),
                move |_| on_change(),
            );
        }
    };
    let save_rules = {
        let on_change = on_change.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let on_change = on_change.clone();
            submit.mutate(
                "mutation($id: ID!, $r: String!) { setFingerprintRules(projectId: $id, rules: $r) { id } }",
                json!({"id": project_id.get_value(), "r": rules.get_untracked()}),
                move |_| on_change(),
            );
        }
    };
    let delete = {
        let on_change = on_change.clone();
        move |_| {
            if confirm("Delete this project, its keys and its issues?") {
                let on_change = on_change.clone();
                submit.mutate(
                    "mutation($id: ID!) { deleteProject(id: $id) }",
                    json!({"id": project_id.get_value()}),
                    move |_| on_change(),
                );
            }
        }
    };
    let account_id = expect_context::<CurrentAccount>().0.id;
    view! {
        <div class="project-settings" data-project=project.id.clone()>
            <h3>{project.name.clone()}</h3>
            <p><a class="alerts-link" href=format!("/{account_id}/settings/alerts?project={}", project.id)>"Alert rules and targets"</a></p>
            <ul class="keys">
                {project.keys.into_iter().map(|k| view! { <KeyRow key=k can_admin submit on_change=on_change.clone()/> }).collect_view()}
            </ul>
            {can_admin.then(|| view! {
                <form class="inline-form" on:submit=rename>
                    <Field id=format!("rename-{}", project.id) label="Name" kind="text" value=name/>
                    <button type="submit">"Rename"</button>
                </form>
                <form on:submit=save_rules>
                    <label class="field" for=format!("rules-{}", project.id)>
                        <span>"Fingerprint rules (one per line, e.g. "<code>"error.type:DatabaseError -> database-error"</code>")"</span>
                        <textarea id=format!("rules-{}", project.id) rows="3" bind:value=rules></textarea>
                    </label>
                    <button type="submit">"Save rules"</button>
                </form>
                <p><button type="button" class="danger" on:click=delete>"Delete project"</button></p>
            })}
            <SubmitError submit/>
        </div>
    }
}

#[component]
fn KeyRow(
    key: Key,
    can_admin: bool,
    submit: Submit,
    on_change: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let id = StoredValue::new(key.id.clone());
    let active = key.is_active;
    let dsn = key.dsn.clone();
    let limit = RwSignal::new(
        key.rate_limit_per_minute
            .map(|l| l.to_string())
            .unwrap_or_default(),
    );
    let update = move |variables: Value| {
        let on_change = on_change.clone();
        submit.mutate(
            "mutation($id: ID!, $a: Boolean, $r: Boolean, $l: Int, $c: Boolean) { \
             updateProjectKey(id: $id, isActive: $a, rotate: $r, rateLimitPerMinute: $l, clearRateLimit: $c) { id } }",
            variables,
            move |_| on_change(),
        );
    };
    let set_limit = {
        let update = update.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            match limit.get_untracked().trim().parse::<i64>() {
                Ok(per_minute) => update(json!({"id": id.get_value(), "l": per_minute})),
                Err(_) => update(json!({"id": id.get_value(), "c": true})),
            }
        }
    };
    view! {
        <li class="key" class:inactive=!active>
            <span>{key.label.clone()}</span>" "<code>{key.dsn.clone()}</code>
            <CopyButton text=Signal::derive(move || dsn.clone()) id=format!("copy-{}", key.id)/>
            {can_admin.then(|| {
                let rotate = update.clone();
                let toggle = update.clone();
                view! {
                    <button type="button" on:click=move |_| rotate(json!({"id": id.get_value(), "r": true}))>"Rotate"</button>
                    <button type="button" on:click=move |_| toggle(json!({"id": id.get_value(), "a": !active}))>
                        {if active { "Disable" } else { "Enable" }}</button>
                    <form class="inline-form" on:submit=set_limit>
                        <label class="field">
                            <span>"Events per minute (empty: no limit)"</span>
                            <input type="number" min="1" bind:value=limit/>
                        </label>
                        <button type="submit">"Set limit"</button>
                    </form>
                }
            })}
        </li>
    }
}

#[component]
fn Tokens(account_id: String, submit: Submit) -> impl IntoView {
    let tokens = account_list::<Token>(
        account_id.clone(),
        "query($a: ID!) { account(id: $a) { apiTokens(first: 100) { nodes { id name scope prefix revokedAt } } } }",
        "/account/apiTokens/nodes",
    );
    let name = RwSignal::new(String::new());
    let scope = RwSignal::new("READ".to_owned());
    let secret = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.mutate(
            "mutation($a: ID!, $n: String!, $s: TokenScope!) { createApiToken(accountId: $a, name: $n, scope: $s) { secret } }",
            json!({"a": account_id, "n": name.get_untracked(), "s": scope.get_untracked()}),
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
            <form class="inline-form" id="token-form" on:submit=on_submit>
                <Field id="token-name" label="Name" kind="text" value=name/>
                <label class="field" for="token-scope"><span>"Scope"</span>
                    <select id="token-scope" on:change=move |ev| scope.set(event_target_value(&ev))>
                        <option value="READ">"read"</option>
                        <option value="WRITE">"write"</option>
                        <option value="ADMIN">"admin"</option>
                        <option value="RELEASES">"releases (sentry-cli in CI)"</option>
                    </select>
                </label>
                <button type="submit" class="primary">"Create token"</button>
            </form>
            <SubmitError submit/>
            {move || secret.get().map(|s| {
                let text = s.clone();
                view! {
                    <div class="new-token" role="status">
                        <p>"Copy it now, it is shown once:"</p>
                        <p class="dsn-row"><code id="token-secret">{s}</code>
                            <CopyButton text=Signal::derive(move || text.clone()) id="copy-token"/></p>
                    </div>
                }
            })}
            {move || loaded(tokens.get(), "tokens", |list| view! {
                    <table class="plain"><tbody>
                        {list.into_iter().map(|t| {
                            let id = t.id.clone();
                            let live = t.revoked_at.is_none();
                            let revoke = move |_| submit.mutate("mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
                                json!({"id": id}), move |_| tokens.refetch());
                            view! { <tr><td>{t.name}</td><td>{t.scope.to_lowercase()}</td><td><code>{t.prefix}"…"</code></td>
                                <td>{if live { view! { <button type="button" on:click=revoke>"Revoke"</button> }.into_any() } else { "revoked".into_any() }}</td></tr> }
                        }).collect_view()}
                    </tbody></table>
                })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: &str) -> Member {
        Member {
            id: id.into(),
            email: format!("{id}@example.com"),
            role: role.into(),
        }
    }

    #[test]
    fn only_the_last_owner_is_kept_from_removal() {
        let alone = [member("a", "OWNER"), member("b", "ADMIN")];
        assert_eq!(
            removal_blocked(&alone[0], &alone),
            Some("The last owner cannot be removed")
        );
        assert_eq!(removal_blocked(&alone[1], &alone), None);
        let two = [member("a", "OWNER"), member("b", "OWNER")];
        assert_eq!(removal_blocked(&two[0], &two), None);
        assert_eq!(owner_count(&two), 2);
    }
}
