//! ErrorWatch schema migrations, written with sea-query so one definition serves SQLite and
//! PostgreSQL. Files are `mYYYYMMDD_NNNNNN_<verb>_<noun>.rs`, each with `up` and `down`.
//! apalis creates its own queue tables (`Jobs`/`Workers` on SQLite, schema `apalis` on
//! PostgreSQL): never name a table of ours `jobs` or `workers`.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261123_000001_create_tenant_model;
mod m20261123_000002_create_issue_and_event_tables;
mod m20261123_000003_create_job_selftests;
mod m20261123_000004_create_ingest_spool;
mod m20261123_000005_create_issue_counters;
mod m20261123_000006_create_item_tables;
mod m20261123_000007_add_issue_lifecycle;
mod m20261123_000008_add_event_grouping_hash;
mod m20261123_000009_add_project_fingerprint_rules;
mod m20261123_000010_create_auth_tables;
mod m20261123_000011_add_issue_assignee_and_bookmarks;
mod m20261124_000012_add_events_issue_id_id_index;
mod m20261124_000013_create_spool_cursors;
mod m20261124_000014_create_billing_tables;
mod m20261124_000015_create_alert_tables;
mod m20261207_000016_create_release_tables;
mod m20261208_000017_create_release_stats;
mod m20261208_000018_add_artifact_files_project_id_id_index;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_tenant_model::Migration),
            Box::new(m20261123_000002_create_issue_and_event_tables::Migration),
            Box::new(m20261123_000003_create_job_selftests::Migration),
            Box::new(m20261123_000004_create_ingest_spool::Migration),
            Box::new(m20261123_000005_create_issue_counters::Migration),
            Box::new(m20261123_000006_create_item_tables::Migration),
            Box::new(m20261123_000007_add_issue_lifecycle::Migration),
            Box::new(m20261123_000008_add_event_grouping_hash::Migration),
            Box::new(m20261123_000009_add_project_fingerprint_rules::Migration),
            Box::new(m20261123_000010_create_auth_tables::Migration),
            Box::new(m20261123_000011_add_issue_assignee_and_bookmarks::Migration),
            Box::new(m20261124_000012_add_events_issue_id_id_index::Migration),
            Box::new(m20261124_000013_create_spool_cursors::Migration),
            Box::new(m20261124_000014_create_billing_tables::Migration),
            Box::new(m20261124_000015_create_alert_tables::Migration),
            Box::new(m20261207_000016_create_release_tables::Migration),
            Box::new(m20261208_000017_create_release_stats::Migration),
            Box::new(m20261208_000018_add_artifact_files_project_id_id_index::Migration),
        ]
    }
}
