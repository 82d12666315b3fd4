//! `events.grouping_hash`: the fingerprint each event was grouped by, so an unmerge can move a
//! fingerprint's events back out of a merged issue.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("events")
                    .add_column(string_len_null("grouping_hash", 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "events_issue_id_grouping_hash_idx",
                "events",
                &["issue_id", "grouping_hash"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("events_issue_id_grouping_hash_idx")
                    .table("events")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("events")
                    .drop_column("grouping_hash")
                    .to_owned(),
            )
            .await
    }
}
