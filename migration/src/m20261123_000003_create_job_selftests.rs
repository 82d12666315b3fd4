//! `job_selftests`: one row per processed `SelfTest` job (the queue's end-to-end check).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("job_selftests")
                    .col(string_len("token", 64).primary_key())
                    .col(string_len("batch", 64))
                    .col(timestamp_with_time_zone("processed_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "job_selftests_batch_idx",
                "job_selftests",
                &["batch"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("job_selftests").to_owned())
            .await
    }
}
