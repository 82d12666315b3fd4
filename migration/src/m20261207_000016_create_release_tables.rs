//! Releases, deploys and the files sentry-cli uploads for them (source maps and minified
//! sources, in artifact bundles or as legacy release files).
//!
//! - `releases`: one row per project and version (`POST /organizations/{org}/releases/` with
//!   two projects makes two rows); created by the API or by the first event naming the version.
//!   The counters (`event_count`, `new_issues`, first and last event) are the digest's.
//! - `deploys`: a deploy of a release row to an environment.
//! - `upload_chunks`: chunks posted to the chunk-upload endpoint, keyed by the SHA-1 of their
//!   uncompressed bytes, per account; short-lived (assembly consumes them, retention removes the
//!   rest).
//! - `artifact_blobs`: the content of uploaded files, deduplicated by SHA-1 per account.
//! - `artifact_bundles`: an assembled bundle of a project (its `bundle_id` is the manifest's
//!   debug id or derived from the checksum), with the weak release/dist link; `last_used_at`
//!   drives expiry.
//! - `artifact_files`: one file of a bundle (`bundle_id` set) or a legacy release file
//!   (`bundle_id` null), with what lookups need: kind, URL, debug id, release and dist, and the
//!   blob holding the content.
//!
//! Every table carries `account_id`; project rows cascade with their project.

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
                    .table("releases")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len("version", 250))
                    .col(text_null("url"))
                    .col(timestamp_with_time_zone("date_created"))
                    .col(timestamp_with_time_zone_null("date_started"))
                    .col(timestamp_with_time_zone_null("date_released"))
                    .col(timestamp_with_time_zone_null("first_event"))
                    .col(timestamp_with_time_zone_null("last_event"))
                    .col(big_integer("event_count").default(0))
                    .col(big_integer("new_issues").default(0))
                    .foreign_key(&mut fk(
                        "fk_releases_account",
                        ("releases", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_releases_project",
                        ("releases", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "releases_project_id_version_key",
                "releases",
                &["project_id", "version"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "releases_account_id_date_created_idx",
                "releases",
                &["account_id", "date_created"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("deploys")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("release_id"))
                    .col(string_len("environment", 64))
                    .col(string_len_null("name", 200))
                    .col(text_null("url"))
                    .col(timestamp_with_time_zone_null("date_started"))
                    .col(timestamp_with_time_zone("date_finished"))
                    .foreign_key(&mut fk(
                        "fk_deploys_account",
                        ("deploys", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_deploys_release",
                        ("deploys", "release_id"),
                        "releases",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "deploys_release_id_idx",
                "deploys",
                &["release_id", "date_finished"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "deploys_account_id_idx",
                "deploys",
                &["account_id"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("upload_chunks")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(string_len("checksum", 40))
                    .col(big_integer("size"))
                    .col(blob("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_upload_chunks_account",
                        ("upload_chunks", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "upload_chunks_account_id_checksum_key",
                "upload_chunks",
                &["account_id", "checksum"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "upload_chunks_created_at_idx",
                "upload_chunks",
                &["created_at"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("artifact_blobs")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(string_len("checksum", 40))
                    .col(big_integer("size"))
                    .col(blob("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_artifact_blobs_account",
                        ("artifact_blobs", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "artifact_blobs_account_id_checksum_key",
                "artifact_blobs",
                &["account_id", "checksum"],
                true,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("artifact_bundles")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(string_len("bundle_id", 36))
                    .col(string_len("checksum", 40))
                    .col(string_len_null("release", 250))
                    .col(string_len_null("dist", 64))
                    .col(integer("file_count"))
                    .col(big_integer("size"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_used_at"))
                    .foreign_key(&mut fk(
                        "fk_artifact_bundles_account",
                        ("artifact_bundles", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_artifact_bundles_project",
                        ("artifact_bundles", "project_id"),
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "artifact_bundles_project_id_bundle_id_key",
                "artifact_bundles",
                &["project_id", "bundle_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "artifact_bundles_account_id_checksum_idx",
                "artifact_bundles",
                &["account_id", "checksum"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "artifact_bundles_last_used_at_idx",
                "artifact_bundles",
                &["last_used_at"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("artifact_files")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer_null("bundle_id"))
                    .col(string_len_null("release", 250))
                    .col(string_len_null("dist", 64))
                    .col(string_len("kind", 32))
                    .col(text("url"))
                    .col(string_len_null("debug_id", 36))
                    .col(text_null("sourcemap_ref"))
                    .col(text("headers"))
                    .col(string_len("blob_checksum", 40))
                    .col(big_integer("size"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_artifact_files_account",
                        ("artifact_files", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_artifact_files_project",
                        ("artifact_files", "project_id"),
                        "projects",
                    ))
                    .foreign_key(&mut fk(
                        "fk_artifact_files_bundle",
                        ("artifact_files", "bundle_id"),
                        "artifact_bundles",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "artifact_files_project_id_debug_id_idx",
                "artifact_files",
                &["project_id", "debug_id", "kind"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "artifact_files_project_id_release_url_idx",
                "artifact_files",
                &["project_id", "release", "dist", "url"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "artifact_files_bundle_id_idx",
                "artifact_files",
                &["bundle_id"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "artifact_files_account_id_blob_checksum_idx",
                "artifact_files",
                &["account_id", "blob_checksum"],
                false,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "artifact_files",
            "artifact_bundles",
            "artifact_blobs",
            "upload_chunks",
            "deploys",
            "releases",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
