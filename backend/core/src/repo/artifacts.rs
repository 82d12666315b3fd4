//! Uploaded files for symbolication: chunks (before assembly), blobs (file contents,
//! deduplicated by SHA-1 per account), artifact bundles and their files, legacy release files.
//!
//! Identifiers: a misspelled table or column is a compile error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden, FromQueryResult};

use super::{ProjectTable, Tenant, TenantTable, delete, select};
use crate::ids::ProjectId;

/// The `upload_chunks` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum UploadChunks {
    Table,
    Id,
    AccountId,
    Checksum,
    Size,
    Data,
    CreatedAt,
}

impl TenantTable for UploadChunks {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `artifact_blobs` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ArtifactBlobs {
    Table,
    Id,
    AccountId,
    Checksum,
    Size,
    Data,
    CreatedAt,
}

impl TenantTable for ArtifactBlobs {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

/// The `artifact_bundles` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ArtifactBundles {
    Table,
    Id,
    AccountId,
    ProjectId,
    BundleId,
    Checksum,
    Release,
    Dist,
    FileCount,
    Size,
    CreatedAt,
    LastUsedAt,
}

impl TenantTable for ArtifactBundles {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for ArtifactBundles {
    const PROJECT_ID: Self = Self::ProjectId;
}

/// The `artifact_files` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum ArtifactFiles {
    Table,
    Id,
    AccountId,
    ProjectId,
    BundleId,
    Release,
    Dist,
    Kind,
    Url,
    DebugId,
    SourcemapRef,
    Headers,
    BlobChecksum,
    Size,
    CreatedAt,
}

impl TenantTable for ArtifactFiles {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for ArtifactFiles {
    const PROJECT_ID: Self = Self::ProjectId;
}

// ---- chunks -----------------------------------------------------------------------------------

/// Stores a chunk of the tenant unless one with its checksum is there.
pub(crate) async fn insert_chunk(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    checksum: &str,
    data: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tenant = tenant.into();
    let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
    let statement = Query::insert()
        .into_table(UploadChunks::Table)
        .columns([
            UploadChunks::AccountId,
            UploadChunks::Checksum,
            UploadChunks::Size,
            UploadChunks::Data,
            UploadChunks::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            checksum.into(),
            size.into(),
            data.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns([UploadChunks::AccountId, UploadChunks::Checksum])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// Which of `checksums` the tenant has as chunks or blobs (a file already stored whole needs
/// no chunk again only when it was one chunk; callers pass chunk checksums).
pub(crate) async fn present_chunks(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    checksums: &[String],
) -> Result<Vec<String>, DbErr> {
    if checksums.is_empty() {
        return Ok(Vec::new());
    }
    let statement = select::<UploadChunks>(tenant)
        .column(UploadChunks::Checksum)
        .and_where(Expr::col(UploadChunks::Checksum).is_in(checksums.iter().cloned()))
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "checksum"))
        .collect()
}

/// The bytes of the tenant's chunk `checksum`.
pub(crate) async fn chunk_data(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    checksum: &str,
) -> Result<Option<Vec<u8>>, DbErr> {
    let statement = select::<UploadChunks>(tenant)
        .column(UploadChunks::Data)
        .and_where(Expr::col(UploadChunks::Checksum).eq(checksum))
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| row.try_get::<Vec<u8>>("", "data"))
        .transpose()
}

/// Deletes every account's chunks older than `before`; returns the rows deleted.
pub(crate) async fn delete_chunks_before_all_accounts(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let statement = Query::delete()
        .from_table(UploadChunks::Table)
        .and_where(Expr::col(UploadChunks::CreatedAt).lt(before))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

// ---- blobs ------------------------------------------------------------------------------------

/// Stores a file's content for the tenant unless a blob with its checksum is there.
pub(crate) async fn insert_blob(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    checksum: &str,
    data: &[u8],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tenant = tenant.into();
    let statement = Query::insert()
        .into_table(ArtifactBlobs::Table)
        .columns([
            ArtifactBlobs::AccountId,
            ArtifactBlobs::Checksum,
            ArtifactBlobs::Size,
            ArtifactBlobs::Data,
            ArtifactBlobs::CreatedAt,
        ])
        .values_panic([
            tenant.account_id().0.into(),
            checksum.into(),
            i64::try_from(data.len()).unwrap_or(i64::MAX).into(),
            data.to_vec().into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns([ArtifactBlobs::AccountId, ArtifactBlobs::Checksum])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}

/// Deletes the tenant's blobs no file refers to any more; returns the rows deleted.
pub(crate) async fn delete_orphan_blobs(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
) -> Result<u64, DbErr> {
    let tenant = tenant.into();
    let referenced = select::<ArtifactFiles>(tenant)
        .column(ArtifactFiles::BlobChecksum)
        .to_owned();
    let statement = delete::<ArtifactBlobs>(tenant)
        .and_where(Expr::col(ArtifactBlobs::Checksum).not_in_subquery(referenced))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

// ---- bundles and files ------------------------------------------------------------------------

/// A bundle to record.
#[derive(Clone, Debug)]
pub(crate) struct NewBundle {
    pub(crate) project: ProjectId,
    pub(crate) bundle_id: String,
    pub(crate) checksum: String,
    pub(crate) release: Option<String>,
    pub(crate) dist: Option<String>,
    pub(crate) file_count: i32,
    pub(crate) size: i64,
}

/// A file to record (of a bundle, or a legacy release file when `bundle` is `None`).
#[derive(Clone, Debug)]
pub(crate) struct NewFile {
    pub(crate) project: ProjectId,
    pub(crate) release: Option<String>,
    pub(crate) dist: Option<String>,
    pub(crate) kind: String,
    pub(crate) url: String,
    pub(crate) debug_id: Option<String>,
    pub(crate) sourcemap_ref: Option<String>,
    pub(crate) headers: String,
    pub(crate) blob_checksum: String,
    pub(crate) size: i64,
}

/// Replaces the tenant's bundle `bundle_id` of the project (a re-upload refreshes it) and
/// records its files; returns the bundle row's id.
pub(crate) async fn replace_bundle(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    bundle: &NewBundle,
    files: &[NewFile],
    now: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let tenant = tenant.into();
    conn.execute(
        &delete::<ArtifactBundles>(tenant)
            .and_where(Expr::col(ArtifactBundles::ProjectId).eq(bundle.project.0))
            .and_where(Expr::col(ArtifactBundles::BundleId).eq(bundle.bundle_id.clone()))
            .to_owned(),
    )
    .await?;
    let row = conn
        .query_one(
            &Query::insert()
                .into_table(ArtifactBundles::Table)
                .columns([
                    ArtifactBundles::AccountId,
                    ArtifactBundles::ProjectId,
                    ArtifactBundles::BundleId,
                    ArtifactBundles::Checksum,
                    ArtifactBundles::Release,
                    ArtifactBundles::Dist,
                    ArtifactBundles::FileCount,
                    ArtifactBundles::Size,
                    ArtifactBundles::CreatedAt,
                    ArtifactBundles::LastUsedAt,
                ])
                .values_panic([
                    tenant.account_id().0.into(),
                    bundle.project.0.into(),
                    bundle.bundle_id.clone().into(),
                    bundle.checksum.clone().into(),
                    bundle.release.clone().into(),
                    bundle.dist.clone().into(),
                    bundle.file_count.into(),
                    bundle.size.into(),
                    now.into(),
                    now.into(),
                ])
                .returning_col(ArtifactBundles::Id)
                .to_owned(),
        )
        .await?
        .ok_or_else(|| DbErr::Custom("insert returned no id".to_owned()))?;
    let id: i64 = row.try_get("", "id")?;
    insert_files(conn, tenant, Some(id), files, now).await?;
    Ok(id)
}

/// Records files of the tenant (of bundle row `bundle`, or legacy release files).
pub(crate) async fn insert_files(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    bundle: Option<i64>,
    files: &[NewFile],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tenant = tenant.into();
    for chunk in files.chunks(100) {
        let mut statement = Query::insert();
        statement.into_table(ArtifactFiles::Table).columns([
            ArtifactFiles::AccountId,
            ArtifactFiles::ProjectId,
            ArtifactFiles::BundleId,
            ArtifactFiles::Release,
            ArtifactFiles::Dist,
            ArtifactFiles::Kind,
            ArtifactFiles::Url,
            ArtifactFiles::DebugId,
            ArtifactFiles::SourcemapRef,
            ArtifactFiles::Headers,
            ArtifactFiles::BlobChecksum,
            ArtifactFiles::Size,
            ArtifactFiles::CreatedAt,
        ]);
        for file in chunk {
            statement.values_panic([
                tenant.account_id().0.into(),
                file.project.0.into(),
                bundle.into(),
                file.release.clone().into(),
                file.dist.clone().into(),
                file.kind.clone().into(),
                file.url.clone().into(),
                file.debug_id.clone().into(),
                file.sourcemap_ref.clone().into(),
                file.headers.clone().into(),
                file.blob_checksum.clone().into(),
                file.size.into(),
                now.into(),
            ]);
        }
        if !chunk.is_empty() {
            conn.execute(&statement).await?;
        }
    }
    Ok(())
}

/// How many of `projects` hold a bundle assembled from a file of this checksum (a poll of a
/// finished assembly).
pub(crate) async fn projects_with_bundle(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    checksum: &str,
    projects: &[ProjectId],
) -> Result<u64, DbErr> {
    let statement = select::<ArtifactBundles>(tenant)
        .expr(Func::count_distinct(Expr::col(ArtifactBundles::ProjectId)))
        .and_where(Expr::col(ArtifactBundles::Checksum).eq(checksum))
        .and_where(Expr::col(ArtifactBundles::ProjectId).is_in(projects.iter().map(|p| p.0)))
        .to_owned();
    let row = conn.query_one(&statement).await?;
    let count = row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Bytes of uploaded files the project holds (bundles and legacy release files).
pub(crate) async fn project_bytes(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
) -> Result<i64, DbErr> {
    let statement = select::<ArtifactFiles>(tenant)
        // SUM of a bigint is numeric on PostgreSQL: cast back.
        .expr(Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"))
        .and_where(Expr::col(ArtifactFiles::ProjectId).eq(project.0))
        .to_owned();
    let row = conn.query_one(&statement).await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// A stored file's lookup fields.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct FileRow {
    pub(crate) id: i64,
    pub(crate) dist: Option<String>,
    pub(crate) url: String,
    pub(crate) headers: String,
    pub(crate) blob_checksum: String,
    pub(crate) size: i64,
    pub(crate) created_at: DateTime<Utc>,
}

const FILE_COLUMNS: [ArtifactFiles; 7] = [
    ArtifactFiles::Id,
    ArtifactFiles::Dist,
    ArtifactFiles::Url,
    ArtifactFiles::Headers,
    ArtifactFiles::BlobChecksum,
    ArtifactFiles::Size,
    ArtifactFiles::CreatedAt,
];

/// Which files of the tenant's project [`files`] reads.
#[derive(Clone, Debug)]
pub(crate) enum FilesOf<'a> {
    /// The legacy release files of a release (`dist` any).
    LegacyRelease { release: &'a str },
}

/// The tenant's files of `project` matching `which`, newest first.
pub(crate) async fn files(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
    which: FilesOf<'_>,
) -> Result<Vec<FileRow>, DbErr> {
    let mut statement = select::<ArtifactFiles>(tenant);
    statement
        .columns(FILE_COLUMNS)
        .and_where(Expr::col(ArtifactFiles::ProjectId).eq(project.0));
    match which {
        FilesOf::LegacyRelease { release } => {
            statement
                .and_where(Expr::col(ArtifactFiles::Release).eq(release))
                .and_where(Expr::col(ArtifactFiles::BundleId).is_null());
        }
    }
    statement
        .order_by(ArtifactFiles::Id, Order::Desc)
        .limit(1000);
    let rows = conn.query_all(&statement).await?;
    rows.iter()
        .map(|row| FileRow::from_query_result(row, ""))
        .collect()
}

/// Deletes the tenant's legacy release file `id` of `project`; returns the rows deleted.
pub(crate) async fn delete_legacy_file(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
    id: i64,
) -> Result<u64, DbErr> {
    let statement = delete::<ArtifactFiles>(tenant)
        .and_where(Expr::col(ArtifactFiles::ProjectId).eq(project.0))
        .and_where(Expr::col(ArtifactFiles::BundleId).is_null())
        .and_where(Expr::col(ArtifactFiles::Id).eq(id))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

/// Accounts holding bundles unused since `before` (the retention job's work list).
pub(crate) async fn accounts_with_unused_bundles_all_accounts(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<Vec<i64>, DbErr> {
    let statement = Query::select()
        .distinct()
        .column(ArtifactBundles::AccountId)
        .from(ArtifactBundles::Table)
        .and_where(Expr::col(ArtifactBundles::LastUsedAt).lt(before))
        .to_owned();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| row.try_get::<i64>("", "account_id"))
        .collect()
}

/// Deletes the tenant's bundles unused since `before` (their files cascade); returns the
/// bundles deleted.
pub(crate) async fn delete_unused_bundles(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let statement = delete::<ArtifactBundles>(tenant)
        .and_where(Expr::col(ArtifactBundles::LastUsedAt).lt(before))
        .to_owned();
    Ok(conn.execute(&statement).await?.rows_affected())
}

// ---- the digest's map lookups -----------------------------------------------------------------

/// An uploaded file as the digest's source-map lookups see it.
#[derive(Clone, Debug, FromQueryResult)]
pub(crate) struct LookupFile {
    /// Its bundle row (`None`: a legacy release file).
    pub(crate) bundle_id: Option<i64>,
    pub(crate) kind: String,
    pub(crate) url: String,
    pub(crate) sourcemap_ref: Option<String>,
    pub(crate) blob_checksum: String,
    pub(crate) size: i64,
}

const LOOKUP_COLUMNS: [ArtifactFiles; 6] = [
    ArtifactFiles::BundleId,
    ArtifactFiles::Kind,
    ArtifactFiles::Url,
    ArtifactFiles::SourcemapRef,
    ArtifactFiles::BlobChecksum,
    ArtifactFiles::Size,
];

/// The id of the project's newest uploaded file (`None`: it holds none); it changes with
/// every upload and with the deletion of the newest file.
pub(crate) async fn latest_file_id(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
) -> Result<Option<i64>, DbErr> {
    let statement = select::<ArtifactFiles>(tenant)
        .column(ArtifactFiles::Id)
        .and_where(Expr::col(ArtifactFiles::ProjectId).eq(project.0))
        .order_by(ArtifactFiles::Id, Order::Desc)
        .limit(1)
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| row.try_get::<i64>("", "id"))
        .transpose()
}

/// The project's files with this debug id (a bundle's minified file and its map share it),
/// newest first.
pub(crate) async fn files_with_debug_id(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
    debug_id: &str,
) -> Result<Vec<LookupFile>, DbErr> {
    let statement = select::<ArtifactFiles>(tenant)
        .columns(LOOKUP_COLUMNS)
        .and_where(Expr::col(ArtifactFiles::ProjectId).eq(project.0))
        .and_where(Expr::col(ArtifactFiles::DebugId).eq(debug_id))
        .order_by(ArtifactFiles::Id, Order::Desc)
        .limit(16)
        .to_owned();
    LookupFile::find_by_statement(conn.get_database_backend().build(&statement))
        .all(conn)
        .await
}

/// The project's files of `release` and `dist` (no dist: files uploaded without one) at any
/// of `urls`, newest first.
pub(crate) async fn release_files_at(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    project: ProjectId,
    release: &str,
    dist: Option<&str>,
    urls: &[String],
) -> Result<Vec<LookupFile>, DbErr> {
    if urls.is_empty() {
        return Ok(Vec::new());
    }
    let mut statement = select::<ArtifactFiles>(tenant);
    statement
        .columns(LOOKUP_COLUMNS)
        .and_where(Expr::col(ArtifactFiles::ProjectId).eq(project.0))
        .and_where(Expr::col(ArtifactFiles::Release).eq(release))
        .and_where(Expr::col(ArtifactFiles::Url).is_in(urls.iter().cloned()))
        .order_by(ArtifactFiles::Id, Order::Desc)
        .limit(64);
    match dist {
        Some(dist) => statement.and_where(Expr::col(ArtifactFiles::Dist).eq(dist)),
        None => statement.and_where(Expr::col(ArtifactFiles::Dist).is_null()),
    };
    LookupFile::find_by_statement(conn.get_database_backend().build(&statement))
        .all(conn)
        .await
}

/// The content of the tenant's blob `checksum`.
pub(crate) async fn blob_data(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    checksum: &str,
) -> Result<Option<Vec<u8>>, DbErr> {
    let statement = select::<ArtifactBlobs>(tenant)
        .column(ArtifactBlobs::Data)
        .and_where(Expr::col(ArtifactBlobs::Checksum).eq(checksum))
        .to_owned();
    conn.query_one(&statement)
        .await?
        .map(|row| row.try_get::<Vec<u8>>("", "data"))
        .transpose()
}

/// Marks the tenant's bundle row `bundle` used at `now` (at most once a day, so a busy map
/// does not write on every load).
pub(crate) async fn touch_bundle(
    conn: &impl ConnectionTrait,
    tenant: impl Into<Tenant>,
    bundle: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let statement = super::update::<ArtifactBundles>(tenant)
        .value(ArtifactBundles::LastUsedAt, now)
        .and_where(Expr::col(ArtifactBundles::Id).eq(bundle))
        .and_where(Expr::col(ArtifactBundles::LastUsedAt).lt(now - chrono::Duration::days(1)))
        .to_owned();
    conn.execute(&statement).await?;
    Ok(())
}
