//! `artifact_files (project_id, id)`: the digest reads a project's newest upload on every batch
//! (at most once a second per project) to notice new uploads; without this index that read
//! visits every file of the project.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                "artifact_files_project_id_id_idx",
                "artifact_files",
                &["project_id", "id"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("artifact_files_project_id_id_idx")
                    .table("artifact_files")
                    .to_owned(),
            )
            .await
    }
}
