//! What the digest records about releases beyond their own row:
//!
//! - `releases.regressions`: issues that regressed in the release (next to `new_issues`).
//! - `release_environments`: one row per release and environment the release's events came
//!   from, with its own first and last event, event count and new issues (Sentry's
//!   `ReleaseProjectEnvironment`).
//! - `release_issues`: which issues were new in a release (`kind = 'new'`) or regressed in it
//!   (`kind = 'regression'`), for the release page's lists; one row per release, issue and
//!   kind. Rows go with their release or issue.
//!
//! Every table carries `account_id`; rows cascade with their release, project and account.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("releases")
                    .add_column(big_integer("regressions").default(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("release_environments")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("release_id"))
                    .col(string_len("environment", 64))
                    .col(timestamp_with_time_zone("first_event"))
                    .col(timestamp_with_time_zone("last_event"))
                    .col(big_integer("event_count").default(0))
                    .col(big_integer("new_issues").default(0))
                    .foreign_key(&mut fk(
                        "fk_release_environments_account",
                        ("release_environments", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_release_environments_project",
                        ("release_environments", "project_id"),
                        "projects",
                    ))
                    .foreign_key(&mut fk(
                        "fk_release_environments_release",
                        ("release_environments", "release_id"),
                        "releases",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "release_environments_release_id_environment_key",
                "release_environments",
                &["release_id", "environment"],
                true,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("release_issues")
                    .col(big_pk_auto("id"))
                    .col(big_integer("account_id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("release_id"))
                    .col(big_integer("issue_id"))
                    .col(string_len("kind", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_release_issues_account",
                        ("release_issues", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(&mut fk(
                        "fk_release_issues_project",
                        ("release_issues", "project_id"),
                        "projects",
                    ))
                    .foreign_key(&mut fk(
                        "fk_release_issues_release",
                        ("release_issues", "release_id"),
                        "releases",
                    ))
                    .foreign_key(&mut fk(
                        "fk_release_issues_issue",
                        ("release_issues", "issue_id"),
                        "issues",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "release_issues_release_id_kind_issue_id_key",
                "release_issues",
                &["release_id", "kind", "issue_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "release_issues_issue_id_idx",
                "release_issues",
                &["issue_id"],
                false,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["release_issues", "release_environments"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("releases")
                    .drop_column("regressions")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
