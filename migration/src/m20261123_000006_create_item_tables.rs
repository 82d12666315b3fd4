//! Storage for the envelope items that are not events: release-health session counts per
//! release/environment/hour, attachments (linked to their event), user feedback, and cron
//! check-ins.

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
                    .table("release_sessions")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len("release", 250))
                    .col(string_len("environment", 64))
                    .col(timestamp_with_time_zone("hour"))
                    .col(big_integer("started").default(0))
                    .col(big_integer("exited").default(0))
                    .col(big_integer("errored").default(0))
                    .col(big_integer("crashed").default(0))
                    .col(big_integer("abnormal").default(0))
                    .foreign_key(&mut fk(
                        "fk_release_sessions_project",
                        ("release_sessions", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "release_sessions_project_id_release_environment_hour_key",
                "release_sessions",
                &["project_id", "release", "environment", "hour"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("attachments")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len("event_id", 32))
                    .col(string_len("filename", 255))
                    .col(string_len_null("content_type", 128))
                    .col(string_len("attachment_type", 64))
                    .col(big_integer("size"))
                    .col(blob("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_attachments_project",
                        ("attachments", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "attachments_project_id_event_id_idx",
                "attachments",
                &["project_id", "event_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("user_reports")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len_null("event_id", 32))
                    .col(string_len("report_id", 32))
                    .col(string_len_null("name", 128))
                    .col(string_len_null("email", 254))
                    .col(text("comments"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_user_reports_project",
                        ("user_reports", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "user_reports_project_id_report_id_key",
                "user_reports",
                &["project_id", "report_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "user_reports_project_id_event_id_idx",
                "user_reports",
                &["project_id", "event_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("monitor_checkins")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len("check_in_id", 32))
                    .col(string_len("monitor_slug", 128))
                    .col(string_len("status", 16))
                    .col(double_null("duration"))
                    .col(string_len_null("environment", 64))
                    .col(text_null("monitor_config"))
                    .col(timestamp_with_time_zone("received_at"))
                    .foreign_key(&mut fk(
                        "fk_monitor_checkins_project",
                        ("monitor_checkins", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "monitor_checkins_project_id_check_in_id_key",
                "monitor_checkins",
                &["project_id", "check_in_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "monitor_checkins_project_id_monitor_slug_idx",
                "monitor_checkins",
                &["project_id", "monitor_slug", "received_at"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "monitor_checkins",
            "user_reports",
            "attachments",
            "release_sessions",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
