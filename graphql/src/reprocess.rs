//! Reprocessing an issue's stored events with the source maps uploaded since they arrived
//! (see `errorwatch_core::service::reprocess`).

use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};
use errorwatch_core::digest::symbolicate::Symbolicator;
use errorwatch_core::ids::IssueId;
use errorwatch_core::service::{issue as issues, locate, reprocess};

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql};
use crate::ids::{Kind, from_id};
use crate::issues::Issue;

/// The source-map state reprocessing uses (given to the schema at build time).
#[derive(Clone)]
pub struct ReprocessSettings {
    /// Parsed maps, bounded in bytes like the digest's.
    pub maps: Arc<Symbolicator>,
}

/// What `reprocessIssue` did.
#[derive(SimpleObject)]
pub struct ReprocessPayload {
    /// Stored events read.
    pub events: i32,
    /// Events whose frames or grouping changed.
    pub changed: i32,
    /// Frames mapped to their original source.
    pub mapped_frames: i32,
    /// Frames left minified (each says why).
    pub unmapped_frames: i32,
    /// The issues the events are in now: the reprocessed issue first when it still exists
    /// (it is merged away when all its events belong to another issue).
    pub issues: Vec<Issue>,
}

/// The reprocessing mutation.
#[derive(Default)]
pub struct ReprocessMutation;

#[Object]
impl ReprocessMutation {
    /// Symbolicates the issue's stored events again with the source maps uploaded since, and
    /// groups them again: the issue takes the new grouping, is merged into the issue that
    /// already has it, or is split (members and up).
    async fn reprocess_issue(
        &self,
        ctx: &Context<'_>,
        issue_id: ID,
    ) -> GqlResult<ReprocessPayload> {
        let issue = IssueId(from_id(Kind::Issue, &issue_id)?);
        let scope = ctx.scope_of(locate::Owned::Issue(issue)).await?;
        let settings = ctx.data_unchecked::<ReprocessSettings>();
        let done = reprocess::reprocess_issue(&scope, issue, &settings.maps)
            .await
            .gql()?;
        let mut now_in = Vec::with_capacity(done.issues.len());
        for id in &done.issues {
            now_in.push(Issue {
                issue: issues::get_issue(&scope, *id).await.gql()?,
                scope: scope.clone(),
            });
        }
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(ReprocessPayload {
            events: count(done.events),
            changed: count(done.changed),
            mapped_frames: count(done.mapped_frames),
            unmapped_frames: count(done.unmapped_frames),
            issues: now_in,
        })
    }
}
