//! Issue lifecycle: how an issue was resolved (now, in a release, in the next release) or
//! ignored (forever, until a time, until N more events or users), and the activity log of every
//! state change. SQLite adds one column per statement.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 8] = [
    "resolved_at",
    "resolution_kind",
    "resolution_release",
    "ignore_until",
    "ignore_until_times_seen",
    "ignore_until_users_seen",
    "status_changed_at",
    "regressed_at",
];

fn column(name: &'static str) -> ColumnDef {
    match name {
        "resolution_kind" => string_len_null(name, 16),
        "resolution_release" => string_len_null(name, 250),
        "ignore_until_times_seen" | "ignore_until_users_seen" => big_integer_null(name),
        _ => timestamp_with_time_zone_null(name),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("issues")
                        .add_column(column(name))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("issue_activity")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("issue_id"))
                    .col(string_len("kind", 32))
                    .col(string_len("actor", 128))
                    .col(text("data").default("{}"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_issue_activity_issue",
                        ("issue_activity", "issue_id"),
                        "issues",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "issue_activity_issue_id_created_at_idx",
                "issue_activity",
                &["issue_id", "created_at"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("issue_activity").to_owned())
            .await?;
        for name in COLUMNS.iter().rev() {
            manager
                .alter_table(Table::alter().table("issues").drop_column(*name).to_owned())
                .await?;
        }
        Ok(())
    }
}
