//! Event attachments (identifiers in [`super::events::Attachments`]).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

use super::events::Attachments;
use super::{Tenant, select};
use crate::ids::ProjectId;

/// Bytes of attachments a project keeps.
pub(crate) async fn bytes_used(
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    project: ProjectId,
) -> anyhow::Result<i64> {
    Ok(conn
        .query_one(
            &select::<Attachments>(tenant)
                .expr(Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"))
                .and_where(Expr::col(Attachments::ProjectId).eq(project.0))
                .to_owned(),
        )
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// One attachment as received.
pub(crate) struct NewAttachment {
    pub(crate) event_id: String,
    pub(crate) filename: String,
    pub(crate) content_type: Option<String>,
    pub(crate) attachment_type: String,
    pub(crate) data: Vec<u8>,
    pub(crate) created_at: DateTime<Utc>,
}

/// Stores an attachment of an event.
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    tenant: Tenant,
    project: ProjectId,
    attachment: NewAttachment,
) -> anyhow::Result<()> {
    let size = attachment.data.len() as i64;
    let statement = Query::insert()
        .into_table(Attachments::Table)
        .columns([
            Attachments::AccountId,
            Attachments::ProjectId,
            Attachments::EventId,
            Attachments::Filename,
            Attachments::ContentType,
            Attachments::AttachmentType,
            Attachments::Size,
            Attachments::Data,
            Attachments::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            project.0.into(),
            attachment.event_id.into(),
            attachment.filename.into(),
            attachment.content_type.into(),
            attachment.attachment_type.into(),
            size.into(),
            attachment.data.into(),
            attachment.created_at.into(),
        ])
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}
