//! `events (issue_id, id)`: the newest event of an issue is one backward index probe
//! (`SELECT MAX(id) … WHERE issue_id = ?`), which the issue list needs for every issue of a page.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                "events_issue_id_id_idx",
                "events",
                &["issue_id", "id"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("events_issue_id_id_idx")
                    .table("events")
                    .to_owned(),
            )
            .await
    }
}
