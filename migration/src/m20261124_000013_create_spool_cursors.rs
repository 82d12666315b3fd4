//! The spool moves out of the main database's write path.
//!
//! - `spool_cursors`: on SQLite the spool is its own file (so ingest's group commit never waits
//!   for the digest's write lock); the digest records, in the same transaction as an envelope's
//!   effects, the last spool row it digested. A row is therefore digested exactly once even when
//!   the process dies between that commit and deleting the row from the spool file. Keyed by the
//!   spool file's own id, so a replaced spool file starts from zero.
//! - On PostgreSQL the spool stays the `ingest_spool` table (every node shares it), but loses its
//!   foreign key and project index: both cost every insert on the hot path, and the digest drops
//!   rows of projects that no longer exist itself. It gains `encoding` (envelopes are stored
//!   compressed, see `spool::SpoolBody`), and PostgreSQL stops trying to compress them again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("spool_cursors")
                    .col(string_len("spool_id", 64).primary_key())
                    .col(big_integer("last_id"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "ALTER TABLE ingest_spool DROP CONSTRAINT IF EXISTS fk_ingest_spool_project",
            )
            .await?;
            db.execute_unprepared("DROP INDEX IF EXISTS ingest_spool_project_id_idx")
                .await?;
            // Envelopes are stored compressed by ingest (as sent, or LZ4): PostgreSQL must not
            // spend CPU trying to compress them again.
            db.execute_unprepared(
                "ALTER TABLE ingest_spool ADD COLUMN encoding SMALLINT NOT NULL DEFAULT 0",
            )
            .await?;
            db.execute_unprepared(
                "ALTER TABLE ingest_spool ALTER COLUMN envelope SET STORAGE EXTERNAL",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared("ALTER TABLE ingest_spool DROP COLUMN encoding")
                .await?;
            db.execute_unprepared(
                "CREATE INDEX IF NOT EXISTS ingest_spool_project_id_idx ON ingest_spool (project_id)",
            )
            .await?;
            db.execute_unprepared(
                "ALTER TABLE ingest_spool ADD CONSTRAINT fk_ingest_spool_project \
                 FOREIGN KEY (project_id) REFERENCES projects (id)",
            )
            .await?;
        }
        manager
            .drop_table(Table::drop().table("spool_cursors").to_owned())
            .await
    }
}
