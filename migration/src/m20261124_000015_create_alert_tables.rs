//! Alerts: rules, targets, the links between them, and the delivery log.
//!
//! - `alert_rules`: per project; `trigger_kind` is `new_issue`, `regression`, `frequency` (more
//!   than `frequency_count` events in `frequency_minutes`) or `ignored_expired`; `filters` is a
//!   JSON object (`{"levels": [..], "environments": [..], "releases": [..], "tags": {k: v}}`,
//!   absent keys match everything); `action_interval_minutes` bounds notifications per issue.
//! - `alert_targets`: per account, optionally pinned to a project; `kind` is `email`, `slack`,
//!   `discord` or `webhook`, `config` a JSON object (`{"to": [..]}` or `{"url": ..}`),
//!   `secret` signs webhook bodies.
//! - `alert_rule_targets`: which targets a rule notifies.
//! - `notifications`: one row per delivery (rule × issue × trigger window × target); the unique
//!   `dedup_key` is what makes a trigger fire at most once per window, and the row carries the
//!   delivery state (`pending`, `sending`, `sent`, `dead`), attempts and the last error.
//!
//! Every table carries `account_id`.

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
                    .table("alert_rules")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len("name", 200))
                    .col(string_len("trigger_kind", 32))
                    .col(integer_null("frequency_count"))
                    .col(integer_null("frequency_minutes"))
                    .col(text("filters"))
                    .col(integer("action_interval_minutes").default(60))
                    .col(boolean("enabled").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "fk_alert_rules_account",
                        ("alert_rules", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_alert_rules_project",
                        ("alert_rules", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "alert_rules_account_id_idx",
                "alert_rules",
                &["account_id"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "alert_rules_project_id_enabled_idx",
                "alert_rules",
                &["project_id", "enabled"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("alert_targets")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer_null("project_id"))
                    .col(string_len("name", 200))
                    .col(string_len("kind", 16))
                    .col(text("config"))
                    .col(string_len_null("secret", 128))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_alert_targets_account",
                        ("alert_targets", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_alert_targets_project",
                        ("alert_targets", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "alert_targets_account_id_idx",
                "alert_targets",
                &["account_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("alert_rule_targets")
                    .col(big_integer("rule_id"))
                    .col(big_integer("target_id"))
                    .col(big_integer("account_id"))
                    .primary_key(Index::create().col("rule_id").col("target_id"))
                    .foreign_key(&mut fk(
                        "fk_alert_rule_targets_rule",
                        ("alert_rule_targets", "rule_id"),
                        "alert_rules",
                    ))
                    .foreign_key(&mut fk(
                        "fk_alert_rule_targets_target",
                        ("alert_rule_targets", "target_id"),
                        "alert_targets",
                    ))
                    .foreign_key(&mut fk(
                        "fk_alert_rule_targets_account",
                        ("alert_rule_targets", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "alert_rule_targets_target_id_idx",
                "alert_rule_targets",
                &["target_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notifications")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer_null("project_id"))
                    .col(big_integer_null("rule_id"))
                    .col(big_integer("target_id"))
                    .col(big_integer_null("issue_id"))
                    .col(string_len("trigger_kind", 32))
                    .col(string_len_uniq("dedup_key", 255))
                    .col(string_len("status", 16))
                    .col(integer("attempts").default(0))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .col(timestamp_with_time_zone_null("dead_at"))
                    .foreign_key(&mut fk(
                        "fk_notifications_account",
                        ("notifications", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_notifications_target",
                        ("notifications", "target_id"),
                        "alert_targets",
                    ))
                    .foreign_key(&mut fk(
                        "fk_notifications_issue",
                        ("notifications", "issue_id"),
                        "issues",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_rule")
                            .from("notifications", "rule_id")
                            .to("alert_rules", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "notifications_account_id_created_at_idx",
                "notifications",
                &["account_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "notifications_rule_id_issue_id_created_at_idx",
                "notifications",
                &["rule_id", "issue_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "notifications_target_id_idx",
                "notifications",
                &["target_id"],
                false,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "notifications",
            "alert_rule_targets",
            "alert_targets",
            "alert_rules",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
