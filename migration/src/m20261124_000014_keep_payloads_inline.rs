//! PostgreSQL: stored event payloads (zstd, ~3.5 KiB on average) and spooled envelopes (LZ4 or
//! as sent) are compressed already. By default PostgreSQL tries pglz on every row over ~2 KiB
//! and then moves the value out of line into the TOAST table (a second heap insert and a second
//! index insert per event). Rows now stay in their table's page up to 8,160 bytes, and a larger
//! payload goes out of line without a compression attempt. SQLite has no TOAST: nothing to do.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared("ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL")
                .await?;
            db.execute_unprepared("ALTER TABLE events SET (toast_tuple_target = 8160)")
                .await?;
            db.execute_unprepared("ALTER TABLE ingest_spool SET (toast_tuple_target = 8160)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared("ALTER TABLE ingest_spool RESET (toast_tuple_target)")
                .await?;
            db.execute_unprepared("ALTER TABLE events RESET (toast_tuple_target)")
                .await?;
            db.execute_unprepared("ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTENDED")
                .await?;
        }
        Ok(())
    }
}
