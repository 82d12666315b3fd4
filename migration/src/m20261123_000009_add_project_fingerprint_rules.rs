//! `projects.fingerprint_rules`: server-side fingerprint rules (Sentry's syntax), applied by the
//! digest after an SDK fingerprint and before the stack trace.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("projects")
                    .add_column(text("fingerprint_rules").default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("projects")
                    .drop_column("fingerprint_rules")
                    .to_owned(),
            )
            .await
    }
}
