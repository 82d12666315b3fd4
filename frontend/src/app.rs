//! The whole router, the signed-in layout (header with the account switcher, navigation, theme
//! toggle, sign-out, the quota banner) and the session every page reads: who is signed in and
//! where they belong.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate, use_params_map};
use leptos_router::path;

use crate::api::{self, AccountSummary, ApiError, Viewer};
use crate::components::{ErrorNote, Loading, ThemeToggle};
use crate::pages;

/// The signed-in viewer, loaded once and reloaded after anything that changes it (create an
/// account or project, rename an account). While it reloads, the previous answer stays, so no
/// page flashes a loading or "not found" state.
#[derive(Clone, Copy)]
pub struct Session {
    /// The viewer query's answer (`None` until the first one); `UNAUTHENTICATED` when nobody
    /// is signed in.
    pub viewer: RwSignal<Option<Result<Viewer, ApiError>>>,
}

impl Session {
    fn load() -> Self {
        let session = Self {
            viewer: RwSignal::new(None),
        };
        session.refresh();
        session
    }

    /// Reloads the viewer in the background.
    pub fn refresh(&self) {
        let session = *self;
        leptos::task::spawn_local(async move { session.reload().await });
    }

    /// Reloads the viewer and returns once the new answer is in place (navigate after this
    /// when the next page needs what just changed, such as a new account).
    pub async fn reload(&self) {
        let answer = api::load_viewer().await;
        self.viewer.set(Some(answer));
    }
}

/// The session from context.
pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// The root component: the router and every route.
#[component]
pub fn App() -> impl IntoView {
    provide_context(Session::load());
    provide_context(pages::billing::QuotaWatch::new());
    view! {
        <Router>
            <Routes fallback=|| view! { <Shell><NotFound/></Shell> }>
                <Route path=path!("/") view=Home/>
                <Route path=path!("/login") view=pages::auth::Login/>
                <Route path=path!("/signup") view=pages::auth::SignUp/>
                <Route path=path!("/verify-email") view=pages::auth::VerifyEmail/>
                <Route path=path!("/forgot-password") view=pages::auth::ForgotPassword/>
                <Route path=path!("/reset-password") view=pages::auth::ResetPassword/>
                <Route path=path!("/accept-invite") view=pages::auth::AcceptInvite/>
                <Route path=path!("/confirm-email") view=pages::auth::ConfirmEmail/>
                <Route path=path!("/settings/billing") view=pages::billing::BillingLink/>
                <Route path=path!("/onboarding") view=|| view! { <Signed><pages::onboarding::CreateAccount/></Signed> }/>
                <Route path=path!("/:account/projects/new") view=|| view! { <InAccount><pages::onboarding::CreateProject/></InAccount> }/>
                <Route path=path!("/:account/projects/:project/setup") view=|| view! { <InAccount><pages::onboarding::ProjectSetup/></InAccount> }/>
                <Route path=path!("/:account/issues") view=|| view! { <InAccount><pages::issues::IssueList/></InAccount> }/>
                <Route path=path!("/:account/issues/:issue") view=|| view! { <InAccount><pages::issue::IssuePage/></InAccount> }/>
                <Route path=path!("/:account/releases") view=|| view! { <InAccount><pages::releases::ReleaseList/></InAccount> }/>
                <Route path=path!("/:account/releases/view") view=|| view! { <InAccount><pages::releases::ReleaseView/></InAccount> }/>
                <Route path=path!("/:account/settings") view=|| view! { <InAccount><pages::settings::Settings/></InAccount> }/>
                <Route path=path!("/:account/settings/alerts") view=|| view! { <InAccount><pages::alerts::AlertsPage/></InAccount> }/>
                <Route path=path!("/:account/settings/billing") view=|| view! { <InAccount><pages::billing::BillingPage/></InAccount> }/>
                <Route path=path!("/:account/profile") view=|| view! { <InAccount><pages::profile::Profile/></InAccount> }/>
            </Routes>
        </Router>
    }
}

/// The frame of signed-out pages: the brand and the theme toggle around a centered card.
#[component]
pub fn Shell(children: Children) -> impl IntoView {
    view! {
        <div class="shell">
            <header class="shell-top">
                <a class="brand" href="/">"ErrorWatch"</a>
                <ThemeToggle/>
            </header>
            <main class="card narrow" id="main">{children()}</main>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <h1>"Page not found"</h1>
        <p>"This address does not lead anywhere. "<a href="/">"Go to the dashboard"</a></p>
    }
}

/// The path of the current page with its query, for `?next=` after signing in.
fn current_path() -> String {
    let location = use_location();
    let search = location.search.get_untracked();
    let path = location.pathname.get_untracked();
    if search.is_empty() {
        path
    } else {
        format!("{path}?{search}")
    }
}

/// Renders `children` once the viewer is loaded; sends the signed-out to the log-in page.
#[component]
pub fn Signed(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let next = current_path();
    Effect::new(move |_| {
        if let Some(Err(error)) = session.viewer.get()
            && error.is_unauthenticated()
        {
            let target = format!("/login?next={}", js_sys::encode_uri_component(&next));
            navigate(&target, Default::default());
        }
    });
    move || {
        match session.viewer.get() {
        None => view! { <Shell><Loading what="your session"/></Shell> }.into_any(),
        Some(Err(error)) if error.is_unauthenticated() => {
            view! { <Shell><Loading what="the log-in page"/></Shell> }.into_any()
        }
        Some(Err(error)) => view! {
            <Shell>
                <ErrorNote error/>
                <button type="button" class="primary" id="retry-session" on:click=move |_| session.refresh()>"Try again"</button>
            </Shell>
        }
        .into_any(),
        Some(Ok(_)) => children().into_any(),
    }
    }
}

/// The account of the current `/:account/…` route, from the viewer's accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentAccount(pub AccountSummary);

/// The signed-in layout for pages under `/:account/`: header, navigation, and `children` with
/// the [`CurrentAccount`] in context.
#[component]
pub fn InAccount(children: ChildrenFn) -> impl IntoView {
    let children = StoredValue::new(children);
    view! {
        <Signed>
            <AccountLayout children=children.get_value()/>
        </Signed>
    }
}

/// The account switcher's entry that opens the new-account form.
const NEW_ACCOUNT: &str = "new";

#[component]
fn AccountLayout(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let account_id = Memo::new(move |_| params.read().get("account").unwrap_or_default());
    let viewer = Memo::new(move |_| session.viewer.get().and_then(Result::ok));
    let account = Memo::new(move |_| {
        let id = account_id.get();
        viewer
            .get()
            .and_then(|v| v.accounts.into_iter().find(|a| a.id == id))
    });
    let navigate = use_navigate();
    let switch = move |ev: leptos::ev::Event| {
        let id = event_target_value(&ev);
        if id == NEW_ACCOUNT {
            navigate("/onboarding", Default::default());
        } else {
            navigate(&format!("/{id}/issues"), Default::default());
        }
    };
    let logout = move |_| {
        leptos::task::spawn_local(async move {
            let _ = api::gql("mutation { logout }", serde_json::json!({})).await;
            session.refresh();
            crate::components::go_to("/login");
        });
    };
    let children = StoredValue::new(children);
    // The menu of narrow screens: opened by its button, closed again by any navigation.
    let menu_open = RwSignal::new(false);
    let location = use_location();
    Effect::new(move |_| {
        location.pathname.track();
        location.search.track();
        menu_open.set(false);
    });
    view! {
        <div class="app">
            <a class="skip" href="#main">"Skip to content"</a>
            <header class="top" class:menu-open=move || menu_open.get()>
                <a class="brand" href="/">"ErrorWatch"</a>
                <label class="switcher">
                    <span class="sr-only">"Account"</span>
                    <select id="account-switcher" on:change=switch prop:value=move || account_id.get()>
                        {move || viewer.get().map(|v| v.accounts.into_iter().map(|a| {
                            let selected = a.id == account_id.get_untracked();
                            view! { <option value=a.id.clone() selected=selected>{a.name.clone()}</option> }
                        }).collect_view())}
                        <option value=NEW_ACCOUNT>"New account…"</option>
                    </select>
                </label>
                <button type="button" class="menu-button" id="menu-button" aria-controls="top-menu"
                    aria-expanded=move || menu_open.get().to_string()
                    on:click=move |_| menu_open.update(|open| *open = !*open)>
                    <span class="menu-icon" aria-hidden="true"></span>"Menu"
                </button>
                <div class="top-menu" id="top-menu">
                    <nav aria-label="Main">
                        <NavLink href=Signal::derive(move || format!("/{}/issues", account_id.get())) label="Issues"/>
                        <NavLink href=Signal::derive(move || format!("/{}/releases", account_id.get())) label="Releases"/>
                        <NavLink href=Signal::derive(move || format!("/{}/projects/new", account_id.get())) label="New project"/>
                        <NavLink href=Signal::derive(move || format!("/{}/settings", account_id.get())) label="Settings"/>
                        <NavLink href=Signal::derive(move || format!("/{}/profile", account_id.get())) label="Profile"/>
                    </nav>
                    <span class="spacer"></span>
                    <span class="who" id="viewer-email">{move || viewer.get().map(|v| v.user.email)}</span>
                    <ThemeToggle/>
                    <button type="button" id="logout" class="ghost" on:click=logout>"Log out"</button>
                </div>
            </header>
            <main id="main" class="content">
                {move || match account.get() {
                    Some(current) => {
                        let account_id = current.id.clone();
                        provide_context(CurrentAccount(current));
                        view! {
                            <pages::billing::QuotaBanner account_id/>
                            {children.with_value(|c| c())}
                        }.into_any()
                    }
                    None => view! {
                        <div class="card">
                            <h1>"Account not found"</h1>
                            <p>"You are not a member of this account, or it does not exist. "
                               <a href="/">"Back to your dashboard"</a></p>
                        </div>
                    }.into_any(),
                }}
            </main>
        </div>
    }
}

/// A navigation link marked `aria-current="page"` while its page, or one below it (the
/// billing tab of the settings), is shown.
#[component]
fn NavLink(href: Signal<String>, label: &'static str) -> impl IntoView {
    let location = use_location();
    let current = move || {
        let (path, href) = (location.pathname.get(), href.get());
        (path == href || path.starts_with(&format!("{href}/"))).then_some("page")
    };
    view! { <a href=href aria-current=current>{label}</a> }
}

/// `/`: sends the viewer to their first account's issues, or to onboarding.
#[component]
fn Home() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(viewer)) = session.viewer.get() {
            let target = match viewer.accounts.first() {
                None => "/onboarding".to_owned(),
                Some(a) if a.projects.nodes.is_empty() && a.can_admin() => {
                    format!("/{}/projects/new", a.id)
                }
                Some(a) => format!("/{}/issues", a.id),
            };
            navigate(&target, Default::default());
        }
    });
    view! {
        <Signed>
            <Loading what="your dashboard"/>
        </Signed>
    }
}
