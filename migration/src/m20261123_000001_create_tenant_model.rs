//! The tenant model: accounts, users, memberships, projects and DSN keys.

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
                    .table("accounts")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("slug", 64))
                    .col(string_len("name", 200))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("email", 254))
                    .col(text("password_hash"))
                    .col(boolean("is_superuser").default(false))
                    .col(timestamp_with_time_zone_null("email_verified_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("memberships")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("user_id"))
                    .col(string_len("role", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_memberships_account",
                        ("memberships", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_memberships_user",
                        ("memberships", "user_id"),
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "memberships_account_id_user_id_key",
                "memberships",
                &["account_id", "user_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "memberships_user_id_idx",
                "memberships",
                &["user_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("projects")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(string_len("slug", 64))
                    .col(string_len("name", 200))
                    .col(string_len_null("platform", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_projects_account",
                        ("projects", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "projects_account_id_slug_key",
                "projects",
                &["account_id", "slug"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("project_keys")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len_uniq("public_key", 32))
                    .col(string_len("label", 200))
                    .col(boolean("is_active").default(true))
                    .col(integer_null("rate_limit_per_minute"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_project_keys_account",
                        ("project_keys", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_project_keys_project",
                        ("project_keys", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "project_keys_account_id_project_id_idx",
                "project_keys",
                &["account_id", "project_id"],
                false,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "project_keys",
            "projects",
            "memberships",
            "users",
            "accounts",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
