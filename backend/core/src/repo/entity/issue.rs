//! `issues`: grouped errors of a project.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "issues")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub project_id: i64,
    pub fingerprint: String,
    pub grouping_version: i32,
    pub grouping_components: String,
    pub title: String,
    pub culprit: Option<String>,
    pub level: String,
    pub status: String,
    pub substatus: Option<String>,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
    pub times_seen: i64,
    pub users_seen: i64,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
    pub created_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolution_kind: Option<String>,
    pub resolution_release: Option<String>,
    pub ignore_until: Option<DateTimeUtc>,
    pub ignore_until_times_seen: Option<i64>,
    pub ignore_until_users_seen: Option<i64>,
    pub status_changed_at: Option<DateTimeUtc>,
    pub regressed_at: Option<DateTimeUtc>,
    pub assignee_user_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
