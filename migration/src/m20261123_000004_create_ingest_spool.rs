//! `ingest_spool`: envelopes accepted by the ingest endpoint and not yet digested. A 200 to the
//! SDK means the envelope's row is committed here; the digest job deletes rows in the same
//! transaction that stores their effects.

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
                    .table("ingest_spool")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(string_len_null("client_ip", 64))
                    .col(blob("envelope"))
                    .foreign_key(&mut fk(
                        "fk_ingest_spool_project",
                        ("ingest_spool", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ingest_spool_project_id_idx",
                "ingest_spool",
                &["project_id"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("ingest_spool").to_owned())
            .await
    }
}
