//! Accounts, sign-in and integrations: browser sessions (refresh-token rotation), one-time email
//! tokens (verification, password reset, email change), invites, API tokens, the audit log,
//! server-wide settings (the signing key), and soft deletion of accounts and projects (their
//! data is removed by a job).

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
                    .table("server_settings")
                    .col(string_len("name", 64).primary_key())
                    .col(text("value"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(string_len_uniq("refresh_hash", 64))
                    .col(string_len_null("previous_refresh_hash", 64))
                    .col(timestamp_with_time_zone("rotated_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_used_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .col(string_len("user_agent", 256).default(""))
                    .col(string_len("ip", 64).default(""))
                    .foreign_key(&mut fk(
                        "fk_sessions_user",
                        ("sessions", "user_id"),
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "sessions_user_id_idx",
                "sessions",
                &["user_id"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "sessions_previous_refresh_hash_idx",
                "sessions",
                &["previous_refresh_hash"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("email_tokens")
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(string_len("purpose", 32))
                    .col(string_len_uniq("token_hash", 64))
                    .col(string_len_null("new_email", 254))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(&mut fk(
                        "fk_email_tokens_user",
                        ("email_tokens", "user_id"),
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "email_tokens_user_id_idx",
                "email_tokens",
                &["user_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("invites")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(string_len("email", 254))
                    .col(string_len("role", 16))
                    .col(string_len_uniq("token_hash", 64))
                    .col(big_integer_null("invited_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("accepted_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk(
                        "fk_invites_account",
                        ("invites", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "invites_account_id_idx",
                "invites",
                &["account_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("api_tokens")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("user_id"))
                    .col(string_len("name", 200))
                    .col(string_len("scope", 16))
                    .col(string_len("prefix", 16))
                    .col(string_len_uniq("token_hash", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk(
                        "fk_api_tokens_account",
                        ("api_tokens", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_api_tokens_user",
                        ("api_tokens", "user_id"),
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "api_tokens_account_id_idx",
                "api_tokens",
                &["account_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer_null("actor_user_id"))
                    .col(big_integer_null("actor_token_id"))
                    .col(string_len("actor", 254))
                    .col(string_len("action", 64))
                    .col(string_len("target", 200))
                    .col(text("details"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_audit_log_account",
                        ("audit_log", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "audit_log_account_id_id_idx",
                "audit_log",
                &["account_id", "id"],
                false,
            ))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("accounts")
                    .add_column(timestamp_with_time_zone_null("deleted_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("projects")
                    .add_column(timestamp_with_time_zone_null("deleted_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [("projects", "deleted_at"), ("accounts", "deleted_at")] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        for table in [
            "audit_log",
            "api_tokens",
            "invites",
            "email_tokens",
            "sessions",
            "server_settings",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
