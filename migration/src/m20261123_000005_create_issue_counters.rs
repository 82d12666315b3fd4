//! Per-issue counters kept by the digest: tag value counts (`issue_tag_values`, which also
//! yields distinct users through the `user` key) and hourly event counts
//! (`issue_stats_hourly`, for sparklines and frequency alerts).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("issue_tag_values")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("issue_id"))
                    .col(string_len("key", 200))
                    .col(string_len("value", 200))
                    .col(big_integer("times_seen").default(0))
                    .col(timestamp_with_time_zone("first_seen"))
                    .col(timestamp_with_time_zone("last_seen"))
                    .foreign_key(&mut fk(
                        "fk_issue_tag_values_issue",
                        ("issue_tag_values", "issue_id"),
                        "issues",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "issue_tag_values_issue_id_key_value_key",
                "issue_tag_values",
                &["issue_id", "key", "value"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("issue_stats_hourly")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("issue_id"))
                    .col(timestamp_with_time_zone("hour"))
                    .col(big_integer("times_seen").default(0))
                    .foreign_key(&mut fk(
                        "fk_issue_stats_hourly_issue",
                        ("issue_stats_hourly", "issue_id"),
                        "issues",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "issue_stats_hourly_issue_id_hour_key",
                "issue_stats_hourly",
                &["issue_id", "hour"],
                true,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["issue_stats_hourly", "issue_tag_values"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
