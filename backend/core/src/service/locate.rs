//! Which account a row belongs to, for ids that arrive without their account (a project, a key,
//! a membership, an invite, a token). Unscoped by necessity; the answer only ever feeds
//! `AccountScope::for_principal`, which then checks membership, so another tenant's id and a
//! missing one both end as `NotFound`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::db::Db;
use crate::ids::AccountId;
use crate::repo::entity::{api_token, invite, issue, membership, project, project_key};
use crate::{Error, Result};

/// A row whose account is wanted.
#[derive(Clone, Copy, Debug)]
pub enum Owned {
    /// `projects.id` (live projects only).
    Project(i64),
    /// `project_keys.id`.
    ProjectKey(i64),
    /// `memberships.id`.
    Membership(i64),
    /// `invites.id`.
    Invite(i64),
    /// `api_tokens.id`.
    ApiToken(i64),
    /// `issues.id`.
    Issue(i64),
    /// `events.id`.
    Event(i64),
    /// `attachments.id`.
    Attachment(i64),
    /// `alert_rules.id`.
    AlertRule(i64),
    /// `alert_targets.id`.
    AlertTarget(i64),
    /// `notifications.id`.
    Notification(i64),
}

/// The account owning the row; `NotFound` when there is none.
pub async fn account_of(db: &Db, row: Owned) -> Result<AccountId> {
    let conn = db.conn();
    let found: Option<i64> = match row {
        Owned::Project(id) => {
            project::Entity::find_by_id(id)
                .filter(project::Column::DeletedAt.is_null())
                .select_only()
                .column(project::Column::AccountId)
                .into_tuple()
                .one(conn)
                .await?
        }
        Owned::ProjectKey(id) => {
            project_key::Entity::find_by_id(id)
                .select_only()
                .column(project_key::Column::AccountId)
                .into_tuple()
                .one(conn)
                .await?
        }
        Owned::Membership(id) => {
            membership::Entity::find_by_id(id)
                .select_only()
                .column(membership::Column::AccountId)
                .into_tuple()
                .one(conn)
                .await?
        }
        Owned::Invite(id) => {
            invite::Entity::find_by_id(id)
                .select_only()
                .column(invite::Column::AccountId)
                .into_tuple()
                .one(conn)
                .await?
        }
        Owned::ApiToken(id) => {
            api_token::Entity::find_by_id(id)
                .select_only()
                .column(api_token::Column::AccountId)
                .into_tuple()
                .one(conn)
                .await?
        }
        Owned::Issue(id) => {
            issue::Entity::find_by_id(id)
                .select_only()
                .column(issue::Column::AccountId)
                .into_tuple()
                .one(conn)
                .await?
        }
        Owned::Event(id) => account_column(db, "events", id).await?,
        Owned::Attachment(id) => account_column(db, "attachments", id).await?,
        Owned::AlertRule(id) => account_column(db, "alert_rules", id).await?,
        Owned::AlertTarget(id) => account_column(db, "alert_targets", id).await?,
        Owned::Notification(id) => account_column(db, "notifications", id).await?,
    };
    found.map(AccountId).ok_or(Error::NotFound)
}

/// `account_id` of row `id` of a table without an entity here (events, attachments).
async fn account_column(db: &Db, table: &'static str, id: i64) -> Result<Option<i64>> {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    Ok(db
        .conn()
        .query_one(
            &Query::select()
                .column("account_id")
                .from(table)
                .and_where(Expr::col("id").eq(id))
                .to_owned(),
        )
        .await?
        .map(|row| row.try_get::<i64>("", "account_id"))
        .transpose()?)
}
