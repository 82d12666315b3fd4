//! Signed-out pages: log in, sign up, the email-verification link, password reset (request and
//! the emailed link), and the invite link (accept as a signed-in user, or sign up with it).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde_json::json;

use crate::api::{self, AccountSummary, ApiError};
use crate::app::{Shell, use_session};
use crate::billing::initial_plan;
use crate::components::{ErrorNote, Field, Loading, Submit, SubmitError, go_to, loaded};
use crate::pages::billing::{PlanPicker, load_offer, remember_plan};

/// Where to go after signing in: the `next` query parameter when it is a path on this site.
pub fn safe_next(next: Option<String>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") => path,
        _ => "/".to_owned(),
    }
}

/// `/login`.
#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = Submit::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let next = safe_next(query.read_untracked().get("next"));
        submit.run(async move {
            // A refusal here is a wrong email or password, not an ended session.
            api::gql(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { id } }",
                json!({"e": email.get_untracked(), "p": password.get_untracked()}),
            )
            .await
            .map_err(ApiError::refused_login)?;
            go_to(&next);
            Ok(())
        });
    };
    view! {
        <Shell>
            <h1>"Log in"</h1>
            <form on:submit=on_submit id="login-form">
                <Field id="login-email" label="Email" kind="email" value=email autocomplete="username"/>
                <Field id="login-password" label="Password" kind="password" value=password autocomplete="current-password"/>
                <SubmitError submit/>
                <button type="submit" class="primary" disabled=move || submit.pending.get()>"Log in"</button>
            </form>
            <p class="aside">
                <a href="/signup">"Create an account"</a>" · "<a href="/forgot-password">"Forgot your password?"</a>
            </p>
        </Shell>
    }
}

/// `/signup`: sends the verification email (or, with an invite token, signs in at once). Where
/// billing is on, the plans are offered too (`?plan=` picks one, else the free one): the choice
/// is remembered in the browser, and the first account is created on it after the email is
/// verified (a paid plan then goes through Stripe Checkout, see the onboarding).
#[component]
pub fn SignUp() -> impl IntoView {
    let query = use_query_map();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = Submit::new();
    let sent = RwSignal::new(false);
    let offer = LocalResource::new(load_offer);
    let plan = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok((_, Some(plans)))) = offer.get() {
            let wanted = query.with_untracked(|q| q.get("plan"));
            plan.set(initial_plan(&plans, wanted.as_deref()));
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        remember_plan(plan.get_untracked().as_deref());
        submit.run(async move {
            let data = api::gql(
                "mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { status } }",
                json!({"e": email.get_untracked(), "p": password.get_untracked()}),
            )
            .await?;
            if data.pointer("/signUp/status").and_then(|s| s.as_str()) == Some("SIGNED_IN") {
                go_to("/");
            } else {
                sent.set(true);
            }
            Ok(())
        });
    };
    view! {
        <Shell>
            <h1>"Create your account"</h1>
            {move || match offer.get() {
                Some(Ok((data, _))) if data["signupPolicy"] != "OPEN" => Some(view! {
                    <p class="notice" id="signup-by-invite">"Sign-up on this server is by invitation: open the link in your invite email."</p>
                }.into_any()),
                Some(Ok((data, _))) if data["firstUserBecomesAdmin"] == true => Some(view! {
                    <p class="notice" id="signup-first-user">"Nobody has signed up on this server yet: you will be its administrator. "
                        "After you, people join by invitation."</p>
                }.into_any()),
                _ => None,
            }}
            <Show when=move || !sent.get() fallback=move || {
                let no_smtp = matches!(offer.get(), Some(Ok((data, _))) if data["serverInfo"]["emailBySmtp"] == false);
                view! {
                    <div id="signup-sent" class="notice" role="status">
                        <h2>"Check your email"</h2>
                        <p>{move || format!("We sent a link to {} to verify your address. Open it to continue.", email.get())}</p>
                        {no_smtp.then(|| view! {
                            <p id="signup-no-smtp">"This server has no mail server configured (ERRORWATCH_SMTP_URL), so the email was not sent: "
                                "the link is in the server's log and in a plain-text "<code>".eml"</code>" file in its mail folder ("
                                <code>"ERRORWATCH_MAIL_DIR"</code>", "<code>"data/mail"</code>" by default). "
                                "Did not get it? Sign up again with the same address for a new link."</p>
                        })}
                    </div>
                }
            }>
                <form on:submit=on_submit id="signup-form">
                    <Field id="signup-email" label="Email" kind="email" value=email autocomplete="username"/>
                    <Field id="signup-password" label="Password (8 characters or more)" kind="password" value=password autocomplete="new-password"/>
                    {move || match offer.get() {
                        Some(Ok((_, Some(plans)))) => Some(view! { <PlanPicker plans chosen=plan/> }),
                        _ => None,
                    }}
                    <SubmitError submit/>
                    <button type="submit" class="primary" disabled=move || submit.pending.get()>"Sign up"</button>
                </form>
                <p class="aside">"Already have an account? "<a href="/login">"Log in"</a></p>
            </Show>
        </Shell>
    }
}

/// Runs `document` once with the `token` of the emailed link that opened the page; the answer
/// is the string at `pointer` (the address concerned).
fn run_link(
    document: &'static str,
    pointer: &'static str,
) -> LocalResource<Result<String, ApiError>> {
    let query = use_query_map();
    LocalResource::new(move || {
        let token = query.read().get("token").unwrap_or_default();
        async move { api::query::<String>(document, json!({"t": token}), pointer).await }
    })
}

/// What an emailed link did: loading, its error (links expire and work once), or `view`.
fn link_outcome<V: IntoView + 'static>(
    result: Option<Result<String, ApiError>>,
    what: &'static str,
    view: impl FnOnce(String) -> V,
) -> AnyView {
    match result {
        Some(Err(error)) => view! {
            <ErrorNote error/>
            <p>"The link may have expired or been used already. "<a href="/login">"Log in"</a></p>
        }
        .into_any(),
        other => loaded(other, what, view),
    }
}

/// `/verify-email?token=…`: the link from the verification email; signs in.
#[component]
pub fn VerifyEmail() -> impl IntoView {
    let result = run_link(
        "mutation($t: String!) { verifyEmail(token: $t) { id email } }",
        "/verifyEmail/email",
    );
    Effect::new(move |_| {
        if let Some(Ok(_)) = result.get() {
            go_to("/");
        }
    });
    view! {
        <Shell>
            <h1>"Verify your email"</h1>
            {move || link_outcome(result.get(), "your verification", |_| view! {
                <p id="verified" role="status">"Your address is verified. Taking you to the dashboard…"</p>
            })}
        </Shell>
    }
}

/// `/confirm-email?token=…`: the link sent to a new address; the change takes effect.
#[component]
pub fn ConfirmEmail() -> impl IntoView {
    let result = run_link(
        "mutation($t: String!) { confirmEmailChange(token: $t) { id email } }",
        "/confirmEmailChange/email",
    );
    view! {
        <Shell>
            <h1>"Confirm your new address"</h1>
            {move || link_outcome(result.get(), "the confirmation", |email| view! {
                <p id="email-confirmed" role="status">{format!("Your address is now {email}. ")}<a href="/">"Go to the dashboard"</a></p>
            })}
        </Shell>
    }
}

/// `/forgot-password`: asks for the reset email.
#[component]
pub fn ForgotPassword() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let submit = Submit::new();
    let sent = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.mutate(
            "mutation($e: String!) { requestPasswordReset(email: $e) }",
            json!({"e": email.get_untracked()}),
            move |_| sent.set(true),
        );
    };
    view! {
        <Shell>
            <h1>"Reset your password"</h1>
            <Show when=move || !sent.get() fallback=|| view! {
                <p id="reset-sent" role="status">"If this address has an account, a reset link is on its way (valid for 60 minutes)."</p>
            }>
                <form on:submit=on_submit id="forgot-form">
                    <Field id="forgot-email" label="Email" kind="email" value=email autocomplete="username"/>
                    <SubmitError submit/>
                    <button type="submit" class="primary" disabled=move || submit.pending.get()>"Send the link"</button>
                </form>
            </Show>
        </Shell>
    }
}

/// `/reset-password?token=…`: the link from the reset email.
#[component]
pub fn ResetPassword() -> impl IntoView {
    let query = use_query_map();
    let password = RwSignal::new(String::new());
    let submit = Submit::new();
    let done = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let token = query.read_untracked().get("token").unwrap_or_default();
        submit.mutate(
            "mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }",
            json!({"t": token, "p": password.get_untracked()}),
            move |_| done.set(true),
        );
    };
    view! {
        <Shell>
            <h1>"Choose a new password"</h1>
            <Show when=move || !done.get() fallback=|| view! {
                <p id="reset-done" role="status">"Your password is changed and every session has ended. "<a href="/login">"Log in"</a></p>
            }>
                <form on:submit=on_submit id="reset-form">
                    <Field id="reset-password" label="New password" kind="password" value=password autocomplete="new-password"/>
                    <SubmitError submit/>
                    <button type="submit" class="primary" disabled=move || submit.pending.get()>"Change password"</button>
                </form>
            </Show>
        </Shell>
    }
}

/// `/accept-invite?token=…`: a signed-in user accepts; anyone else logs in or signs up with it.
#[component]
pub fn AcceptInvite() -> impl IntoView {
    let session = use_session();
    let query = use_query_map();
    let token = Memo::new(move |_| query.read().get("token").unwrap_or_default());
    let submit = Submit::new();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let accept = move |_| {
        submit.run(async move {
            let account: AccountSummary = api::query(
                "mutation($t: String!) { acceptInvite(token: $t) { id name slug viewerRole projects(first: 1) { nodes { id name platform } } } }",
                json!({"t": token.get_untracked()}),
                "/acceptInvite",
            )
            .await?;
            go_to(&format!("/{}/issues", account.id));
            Ok(())
        });
    };
    let sign_up = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.run(async move {
            api::gql(
                "mutation($e: String!, $p: String!, $t: String) { signUp(email: $e, password: $p, inviteToken: $t) { status } }",
                json!({"e": email.get_untracked(), "p": password.get_untracked(), "t": token.get_untracked()}),
            )
            .await?;
            go_to("/");
            Ok(())
        });
    };
    let login_link = move || {
        let next = format!("/accept-invite?token={}", token.get());
        format!("/login?next={}", js_sys::encode_uri_component(&next))
    };
    view! {
        <Shell>
            <h1>"Join an account"</h1>
            {move || match session.viewer.get() {
                None => view! { <Loading what="your session"/> }.into_any(),
                Some(Ok(viewer)) => view! {
                    <p>{format!("You are signed in as {}.", viewer.user.email)}</p>
                    <SubmitError submit/>
                    <button type="button" class="primary" id="accept-invite" on:click=accept
                        disabled=move || submit.pending.get()>"Accept the invite"</button>
                }.into_any(),
                Some(Err(_)) => view! {
                    <p>"Already have a user? "<a id="invite-login" href=login_link>"Log in to accept"</a></p>
                    <h2>"New here? Create your user"</h2>
                    <form on:submit=sign_up id="invite-signup-form">
                        <Field id="invite-email" label="Email (the invited address)" kind="email" value=email autocomplete="username"/>
                        <Field id="invite-password" label="Password" kind="password" value=password autocomplete="new-password"/>
                        <SubmitError submit/>
                        <button type="submit" class="primary" disabled=move || submit.pending.get()>"Sign up and join"</button>
                    </form>
                }.into_any(),
            }}
        </Shell>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/acc_1/issues".into())), "/acc_1/issues");
        assert_eq!(safe_next(Some("//evil.example".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/");
        assert_eq!(safe_next(None), "/");
    }
}
