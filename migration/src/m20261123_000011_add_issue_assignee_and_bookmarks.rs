//! Issue triage: an assignee per issue (a member of the account) and per-user bookmarks.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("issues")
                    .add_column(big_integer_null("assignee_user_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("issue_bookmarks")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("issue_id"))
                    .col(big_integer("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_issue_bookmarks_issue",
                        ("issue_bookmarks", "issue_id"),
                        "issues",
                    ))
                    .foreign_key(&mut fk(
                        "fk_issue_bookmarks_user",
                        ("issue_bookmarks", "user_id"),
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "issue_bookmarks_issue_id_user_id_key",
                "issue_bookmarks",
                &["issue_id", "user_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "issue_bookmarks_user_id_idx",
                "issue_bookmarks",
                &["user_id"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("issue_bookmarks").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("issues")
                    .drop_column("assignee_user_id")
                    .to_owned(),
            )
            .await
    }
}
