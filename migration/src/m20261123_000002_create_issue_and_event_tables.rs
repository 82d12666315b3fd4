//! What ingest writes: issues (grouped errors), the fingerprints that map to them, events
//! (compressed payload plus a few extracted columns) and outcomes (accepted/dropped counts per
//! hour). Indexes serve the known queries: issue list by last seen, an issue's events by time,
//! lookup of an event by its SDK id, fingerprint lookup during digest.

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
                    .table("issues")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len("fingerprint", 64))
                    .col(integer("grouping_version"))
                    .col(text("grouping_components").default("[]"))
                    .col(text("title"))
                    .col(text_null("culprit"))
                    .col(string_len("level", 16))
                    .col(string_len("status", 16).default("unresolved"))
                    .col(string_len_null("substatus", 32))
                    .col(timestamp_with_time_zone("first_seen"))
                    .col(timestamp_with_time_zone("last_seen"))
                    .col(big_integer("times_seen").default(0))
                    .col(big_integer("users_seen").default(0))
                    .col(string_len_null("first_release", 250))
                    .col(string_len_null("last_release", 250))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_issues_account",
                        ("issues", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_issues_project",
                        ("issues", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "issues_project_id_fingerprint_key",
                "issues",
                &["project_id", "fingerprint"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "issues_account_id_project_id_last_seen_idx",
                "issues",
                &["account_id", "project_id", "last_seen"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("issue_fingerprints")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("issue_id"))
                    .col(string_len("hash", 64))
                    .col(integer("grouping_version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_issue_fingerprints_issue",
                        ("issue_fingerprints", "issue_id"),
                        "issues",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "issue_fingerprints_project_id_hash_key",
                "issue_fingerprints",
                &["project_id", "hash"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "issue_fingerprints_issue_id_idx",
                "issue_fingerprints",
                &["issue_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("events")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("issue_id"))
                    .col(string_len("event_id", 32))
                    .col(timestamp_with_time_zone("timestamp"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(string_len("level", 16))
                    .col(string_len_null("platform", 64))
                    .col(string_len_null("release", 250))
                    .col(string_len_null("environment", 64))
                    .col(text_null("title"))
                    .col(string_len_null("user_key", 200))
                    .col(blob("payload"))
                    .col(integer("payload_size"))
                    .foreign_key(&mut fk("fk_events_issue", ("events", "issue_id"), "issues"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "events_project_id_event_id_key",
                "events",
                &["project_id", "event_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "events_issue_id_timestamp_idx",
                "events",
                &["issue_id", "timestamp"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "events_account_id_project_id_timestamp_idx",
                "events",
                &["account_id", "project_id", "timestamp"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("outcomes")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(timestamp_with_time_zone("hour"))
                    .col(string_len("category", 32))
                    .col(string_len("outcome", 16))
                    .col(string_len("reason", 64).default(""))
                    .col(big_integer("quantity").default(0))
                    .foreign_key(&mut fk(
                        "fk_outcomes_project",
                        ("outcomes", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "outcomes_project_id_hour_category_outcome_reason_key",
                "outcomes",
                &["project_id", "hour", "category", "outcome", "reason"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "outcomes_account_id_hour_idx",
                "outcomes",
                &["account_id", "hour"],
                false,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["outcomes", "events", "issue_fingerprints", "issues"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
