//! Live subscriptions (graphql-transport-ws at `/graphql/ws`): new issues, issue changes
//! (counts, state, assignment), new events — for a project, an account or one issue the
//! subscriber can see. The scope is checked when the subscription starts; notices come from
//! `core::notify` (in-process on SQLite, LISTEN/NOTIFY across processes on PostgreSQL), already
//! filtered to the scope's account, and each item is re-read through the services.

use async_graphql::{Context, ID, Subscription as SubscriptionMacro};
use errorwatch_core::ids::{AccountId, IssueId, ProjectId};
use errorwatch_core::notify::{self, Change, Notice};
use errorwatch_core::scope::AccountScope;
use errorwatch_core::service::event as events;
use errorwatch_core::service::issue as issues;
use errorwatch_core::service::locate;
use futures::{Stream, StreamExt};

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql, coded};
use crate::ids::{Kind, from_id};
use crate::issues::{Event, Issue};

/// What a subscription watches.
#[derive(Clone, Copy)]
enum Target {
    Account,
    Project(i64),
    Issue(i64),
}

impl Target {
    fn matches(self, notice: &Notice) -> bool {
        match self {
            Target::Account => true,
            Target::Project(p) => notice.project_id == errorwatch_core::ids::ProjectId(p),
            Target::Issue(i) => notice.issue_id == errorwatch_core::ids::IssueId(i),
        }
    }
}

/// Resolves exactly one of the ids to a scope and a target.
async fn target(
    ctx: &Context<'_>,
    account_id: Option<ID>,
    project_id: Option<ID>,
    issue_id: Option<ID>,
) -> GqlResult<(AccountScope, Target)> {
    match (account_id, project_id, issue_id) {
        (Some(a), None, None) => Ok((
            ctx.scope(AccountId(from_id(Kind::Account, &a)?)).await?,
            Target::Account,
        )),
        (None, Some(p), None) => {
            let project = from_id(Kind::Project, &p)?;
            let scope = ctx
                .scope_of(locate::Owned::Project(ProjectId(project)))
                .await?;
            // A live project of the account (deleted ones are NOT_FOUND).
            errorwatch_core::service::project::get_project(
                &scope,
                &ctx.request().public_url,
                ProjectId(project),
            )
            .await
            .gql()?;
            Ok((scope, Target::Project(project)))
        }
        (None, None, Some(i)) => {
            let issue = from_id(Kind::Issue, &i)?;
            Ok((
                ctx.scope_of(locate::Owned::Issue(IssueId(issue))).await?,
                Target::Issue(issue),
            ))
        }
        _ => Err(coded(
            "VALIDATION",
            "give exactly one of accountId, projectId, issueId",
        )),
    }
}

fn issues_stream(
    scope: AccountScope,
    target: Target,
    change: Change,
) -> impl Stream<Item = Issue> + use<> {
    notify::watch(&scope)
        .filter(move |n| futures::future::ready(n.change == change && target.matches(n)))
        .filter_map(move |n| {
            let scope = scope.clone();
            async move {
                let issue = issues::get_issue(&scope, n.issue_id).await.ok()?;
                Some(Issue { scope, issue })
            }
        })
}

/// Root subscription.
#[derive(Default)]
pub struct Subscription;

#[SubscriptionMacro]
impl Subscription {
    /// Issues created in an account or a project (give one of the ids).
    async fn issue_created(
        &self,
        ctx: &Context<'_>,
        account_id: Option<ID>,
        project_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = Issue> + use<>> {
        let (scope, target) = target(ctx, account_id, project_id, None).await?;
        Ok(issues_stream(scope, target, Change::IssueCreated))
    }

    /// Issues that changed (new events and counts, state, assignment) in an account, a project,
    /// or one issue (give one of the ids).
    async fn issue_updated(
        &self,
        ctx: &Context<'_>,
        account_id: Option<ID>,
        project_id: Option<ID>,
        issue_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = Issue> + use<>> {
        let (scope, target) = target(ctx, account_id, project_id, issue_id).await?;
        Ok(issues_stream(scope, target, Change::IssueUpdated))
    }

    /// Events stored for an issue, a project or an account (give one of the ids).
    async fn event_created(
        &self,
        ctx: &Context<'_>,
        account_id: Option<ID>,
        project_id: Option<ID>,
        issue_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = Event> + use<>> {
        let (scope, target) = target(ctx, account_id, project_id, issue_id).await?;
        Ok(notify::watch(&scope)
            .filter(move |n| {
                futures::future::ready(n.change == Change::EventCreated && target.matches(n))
            })
            .filter_map(move |n| {
                let scope = scope.clone();
                async move {
                    let (summary, payload) =
                        events::find_event(&scope, n.project_id, n.event_id.as_deref()?)
                            .await
                            .ok()?;
                    Some(Event {
                        scope,
                        summary,
                        payload: tokio::sync::OnceCell::new_with(Some(payload)),
                    })
                }
            }))
    }
}
