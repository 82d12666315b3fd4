//! Uploads for symbolication, as sentry-cli sends them: chunks, artifact-bundle assembly and
//! legacy release files.
//!
//! - Chunks are stored per account under the SHA-1 of their uncompressed bytes, which the
//!   upload names and this module verifies; a chunk over [`CHUNK_SIZE`] is refused.
//! - Assembly is synchronous: the request that finds every chunk present concatenates them,
//!   checks the whole file's SHA-1, parses the bundle and stores its files, then answers `ok`; a
//!   later poll of the same checksum answers `ok` from the stored bundle. Missing chunks are
//!   listed exactly (sentry-cli 3.x uploads only those). A bad bundle answers `error` with a
//!   detail and stores nothing.
//! - A project holds a bundle once per (bundle id, release, dist): uploading it again replaces
//!   it; uploading the same files for another release adds them to that release too.
//! - File contents are stored once per account (`artifact_blobs`, keyed by SHA-1); a project may
//!   hold at most `max_project_bytes` of files.

use chrono::Utc;
use errorwatch_symbolicate::bundle::{ArtifactBundle, BundleLimits, FileKind};
use sha1::{Digest, Sha1};

use crate::ids::{ArtifactFileId, ProjectId};
use crate::repo::artifacts::{self as repo, FilesOf, NewBundle, NewFile};
use crate::scope::{AccountScope, Role};
use crate::{Error, Result};

/// Bytes per chunk (8 MiB, a power of two as sentry-cli ≤ 2.39 requires).
pub const CHUNK_SIZE: usize = 8 * 1024 * 1024;
/// Chunks per request.
pub const CHUNKS_PER_REQUEST: usize = 64;
/// Bytes per chunk request.
pub const MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;
/// The largest file (bundle or release file) assembled.
pub const MAX_FILE_SIZE: usize = 256 * 1024 * 1024;
/// Bytes of uploaded files a project may hold by default.
pub const DEFAULT_MAX_PROJECT_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// The lowercase hex SHA-1 of `bytes`.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// Whether `s` is a 40-character hex SHA-1.
pub fn is_sha1(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One uploaded chunk part as the client sent it.
#[derive(Clone, Debug)]
pub struct ChunkPart {
    /// The part's field name: `file`, `file_gzip` (or `file_brotli`, refused: not advertised).
    pub field: String,
    /// The part's file name: the SHA-1 of the uncompressed chunk.
    pub checksum: String,
    /// The bytes as sent (compressed for `file_gzip`).
    pub data: Vec<u8>,
}

/// Verifies and stores chunks: each is decompressed (gzip), at most [`CHUNK_SIZE`], and its
/// SHA-1 must equal the name it was sent under. Nothing is stored when one is bad. Requires the
/// right to upload releases.
pub async fn store_chunks(scope: &AccountScope, parts: Vec<ChunkPart>) -> Result<usize> {
    scope.require_releases()?;
    if parts.len() > CHUNKS_PER_REQUEST {
        return Err(Error::validation(
            "file",
            format!("too many chunks (at most {CHUNKS_PER_REQUEST} per request)"),
        ));
    }
    let mut verified = Vec::with_capacity(parts.len());
    for part in parts {
        let checksum = part.checksum.to_ascii_lowercase();
        if !is_sha1(&checksum) {
            return Err(Error::validation(
                "file",
                format!("chunk name {:?} is not a SHA-1", part.checksum),
            ));
        }
        let data = match part.field.as_str() {
            "file" => part.data,
            "file_gzip" => gunzip_capped(&part.data, CHUNK_SIZE)?,
            other => {
                return Err(Error::validation(
                    "file",
                    format!("unsupported chunk field {other:?} (use file or file_gzip)"),
                ));
            }
        };
        if data.len() > CHUNK_SIZE {
            return Err(Error::validation("file", "Chunk size too large"));
        }
        if sha1_hex(&data) != checksum {
            return Err(Error::validation(
                "file",
                format!("chunk {checksum}: its SHA-1 does not match its name"),
            ));
        }
        verified.push((checksum, data));
    }
    let count = verified.len();
    let now = Utc::now();
    let txn = scope.db().begin_write().await?;
    for (checksum, data) in verified {
        repo::insert_chunk(&txn, scope, &checksum, data, now).await?;
    }
    txn.commit().await?;
    Ok(count)
}

fn gunzip_capped(data: &[u8], cap: usize) -> Result<Vec<u8>> {
    use crate::ingest::decompress::{ContentEncoding, DecompressError, decompress};
    decompress(ContentEncoding::Gzip, data, cap).map_err(|e| match e {
        DecompressError::TooLarge { .. } => Error::validation("file", "Chunk size too large"),
        other => Error::validation("file", format!("chunk is not valid gzip: {other}")),
    })
}

/// An assembly's state, in sentry-cli's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssembleState {
    /// Stored (now or by an earlier request).
    Ok,
    /// Chunks are missing (listed), or nothing is known of this file.
    NotFound(Vec<String>),
    /// The file was refused; the detail says why.
    Error(String),
}

/// An assembly request (`artifactbundle/assemble` or the legacy release assemble).
#[derive(Clone, Debug)]
pub struct AssembleRequest {
    /// The whole file's SHA-1.
    pub checksum: String,
    /// Its chunks' SHA-1s, in order.
    pub chunks: Vec<String>,
    /// The projects the bundle belongs to (resolved from slugs by the caller).
    pub projects: Vec<ProjectId>,
    /// Release (wins over the manifest's).
    pub version: Option<String>,
    /// Distribution (wins over the manifest's).
    pub dist: Option<String>,
    /// Per-project byte cap.
    pub max_project_bytes: i64,
}

/// Assembles an artifact bundle from stored chunks. Requires the right to upload releases.
pub async fn assemble_bundle(
    scope: &AccountScope,
    request: AssembleRequest,
) -> Result<AssembleState> {
    scope.require_releases()?;
    let checksum = request.checksum.to_ascii_lowercase();
    if !is_sha1(&checksum) || !request.chunks.iter().all(|c| is_sha1(c)) {
        return Err(Error::validation(
            "checksum",
            "checksums must be 40-character hex SHA-1s",
        ));
    }
    if request.projects.is_empty() {
        return Err(Error::validation("projects", "name at least one project"));
    }
    if request.dist.is_some() && request.version.is_none() {
        return Err(Error::validation("dist", "a dist needs a version"));
    }
    if let Some(version) = &request.version {
        crate::service::releases::validate_version(version)?;
    }
    let conn = scope.db().conn();
    let chunks: Vec<String> = request
        .chunks
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let present = repo::present_chunks(conn, scope, &chunks).await?;
    let missing: Vec<String> = dedup(chunks.iter().filter(|c| !present.contains(c)).cloned());
    let holding = repo::projects_with_bundle(conn, scope, &checksum, &request.projects).await?;
    if holding == request.projects.len() as u64 && missing.len() == chunks.len() {
        // Assembled earlier for every project asked (its chunks may be gone): a poll.
        return Ok(AssembleState::Ok);
    }
    if !missing.is_empty() {
        return Ok(AssembleState::NotFound(missing));
    }
    if chunks.is_empty() {
        return Ok(AssembleState::NotFound(Vec::new()));
    }
    let file = match concat_chunks(scope, &chunks, &checksum).await? {
        Ok(file) => file,
        Err(detail) => return Ok(AssembleState::Error(detail)),
    };
    let bundle = match ArtifactBundle::parse(&file, &BundleLimits::default()) {
        Ok(bundle) => bundle,
        Err(e) => {
            return Ok(AssembleState::Error(format!(
                "invalid artifact bundle: {e}"
            )));
        }
    };
    let release = request
        .version
        .clone()
        .or_else(|| bundle.release().map(str::to_owned))
        .filter(|r| r != "undefined" && !r.is_empty());
    let dist = request
        .dist
        .clone()
        .or_else(|| bundle.dist().map(str::to_owned))
        .filter(|d| !d.is_empty());
    let has_debug_ids = bundle.files().iter().any(|f| f.debug_id.is_some());
    if !has_debug_ids && release.is_none() {
        return Ok(AssembleState::Error(
            "the bundle has neither debug ids nor a release: nothing could ever find its files"
                .to_owned(),
        ));
    }
    if bundle.files().is_empty() {
        return Ok(AssembleState::Error("the bundle has no files".to_owned()));
    }
    let bundle_id = bundle
        .debug_id()
        .map(|id| id.to_string())
        .unwrap_or_else(|| uuid_from_checksum(&checksum));
    let bundle_key = stored_bundle_key(&bundle_id, release.as_deref(), dist.as_deref());
    let now = Utc::now();
    let mut stored = Vec::new();
    for file in bundle.files() {
        let contents = bundle.contents(file);
        stored.push((file, sha1_hex(contents), contents));
    }
    let size: i64 = stored.iter().map(|(_, _, c)| c.len() as i64).sum();
    for project in &request.projects {
        let held = repo::project_bytes(conn, scope, *project).await?;
        if held + size > request.max_project_bytes {
            return Ok(AssembleState::Error(format!(
                "the project holds {held} bytes of uploaded files; this bundle's {size} would pass its limit of {} bytes (delete old releases' files or raise ERRORWATCH_MAX_ARTIFACT_BYTES)",
                request.max_project_bytes
            )));
        }
    }
    let txn = scope.db().begin_write().await?;
    for (_, blob, contents) in &stored {
        repo::insert_blob(&txn, scope, blob, contents, now).await?;
    }
    for project in &request.projects {
        let files: Vec<NewFile> = stored
            .iter()
            .map(|(file, blob, contents)| NewFile {
                project: *project,
                release: release.clone(),
                dist: dist.clone(),
                kind: kind_name(&file.kind).to_owned(),
                url: file.url.clone(),
                debug_id: file.debug_id.map(|id| id.to_string()),
                sourcemap_ref: file.sourcemap_ref.clone(),
                headers: serde_json::to_string(&file.headers).unwrap_or_else(|_| "{}".to_owned()),
                blob_checksum: blob.clone(),
                size: contents.len() as i64,
            })
            .collect();
        repo::replace_bundle(
            &txn,
            scope,
            &NewBundle {
                project: *project,
                bundle_id: bundle_key.clone(),
                checksum: checksum.clone(),
                release: release.clone(),
                dist: dist.clone(),
                file_count: i32::try_from(files.len()).unwrap_or(i32::MAX),
                size,
            },
            &files,
            now,
        )
        .await?;
        if let Some(release) = &release {
            crate::repo::releases::ensure(&txn, scope, *project, release, now).await?;
        }
    }
    txn.commit().await?;
    tracing::info!(
        account.id = scope.account_id().0,
        bundle.id = %bundle_id,
        files = stored.len(),
        bytes = size,
        "artifact bundle stored"
    );
    Ok(AssembleState::Ok)
}

async fn concat_chunks(
    scope: &AccountScope,
    chunks: &[String],
    checksum: &str,
) -> Result<std::result::Result<Vec<u8>, String>> {
    let mut file = Vec::new();
    for chunk in chunks {
        let Some(data) = repo::chunk_data(scope.db().conn(), scope, chunk).await? else {
            return Ok(Err(format!(
                "chunk {chunk} vanished during assembly; upload again"
            )));
        };
        if file.len() + data.len() > MAX_FILE_SIZE {
            return Ok(Err(format!(
                "the file is larger than {MAX_FILE_SIZE} bytes"
            )));
        }
        file.extend_from_slice(&data);
    }
    if sha1_hex(&file) != checksum {
        return Ok(Err("Reported checksum mismatch".to_owned()));
    }
    Ok(Ok(file))
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The id a bundle is stored (and replaced) under in a project: its own id without a release,
/// else a UUID derived from its id, release and dist. sentry-cli derives a bundle's id from its
/// files alone, so the same build uploaded for a second release (or dist) has the same id;
/// Sentry links that one bundle to both releases. Keyed by its id alone, the second upload
/// replaced the first release's files.
fn stored_bundle_key(bundle_id: &str, release: Option<&str>, dist: Option<&str>) -> String {
    match release {
        None => bundle_id.to_owned(),
        Some(release) => uuid_from_checksum(&sha1_hex(
            format!("{bundle_id}\n{release}\n{}", dist.unwrap_or_default()).as_bytes(),
        )),
    }
}

/// A stable UUID for a bundle without a debug id: the checksum's first 16 bytes.
fn uuid_from_checksum(checksum: &str) -> String {
    let bytes = hex::decode(&checksum[..32]).unwrap_or_else(|_| vec![0; 16]);
    let mut array = [0u8; 16];
    array.copy_from_slice(&bytes[..16]);
    uuid::Uuid::from_bytes(array).to_string()
}

fn kind_name(kind: &FileKind) -> &str {
    match kind {
        FileKind::Source => "source",
        FileKind::MinifiedSource => "minified_source",
        FileKind::SourceMap => "source_map",
        FileKind::IndexedRamBundle => "indexed_ram_bundle",
        FileKind::Other(other) => other.as_str(),
    }
}

/// A legacy release file (`POST …/releases/{version}/files/`).
#[derive(Clone, Debug)]
pub struct ReleaseFile {
    /// Row id.
    pub id: i64,
    /// The `~/…` URL it answers for.
    pub name: String,
    /// Distribution.
    pub dist: Option<String>,
    /// Headers sent with it.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Bytes.
    pub size: i64,
    /// SHA-1 of the content.
    pub sha1: String,
    /// Uploaded.
    pub date_created: chrono::DateTime<Utc>,
}

/// Stores a legacy release file of `project`'s release `version`; `Conflict` when the release
/// already has a file of this name and dist. Creates the release when missing. Requires the
/// right to upload releases.
#[allow(clippy::too_many_arguments)]
pub async fn upload_release_file(
    scope: &AccountScope,
    project: ProjectId,
    version: &str,
    dist: Option<&str>,
    name: &str,
    headers: std::collections::BTreeMap<String, String>,
    contents: Vec<u8>,
    max_project_bytes: i64,
) -> Result<ReleaseFile> {
    scope.require_releases()?;
    crate::service::releases::validate_version(version)?;
    if name.is_empty() || name.chars().count() > 2000 {
        return Err(Error::validation("name", "must be 1–2000 characters"));
    }
    if contents.len() > MAX_FILE_SIZE {
        return Err(Error::validation(
            "file",
            format!("larger than {MAX_FILE_SIZE} bytes"),
        ));
    }
    let conn = scope.db().conn();
    let existing = repo::files(
        conn,
        scope,
        project,
        FilesOf::LegacyRelease { release: version },
    )
    .await?;
    if existing
        .iter()
        .any(|f| f.url == name && f.dist.as_deref() == dist)
    {
        return Err(Error::Conflict(
            "the release already has a file of this name and dist",
        ));
    }
    let held = repo::project_bytes(conn, scope, project).await?;
    if held + contents.len() as i64 > max_project_bytes {
        return Err(Error::PlanLimit(format!(
            "the project holds {held} bytes of uploaded files; this file would pass its limit of {max_project_bytes} bytes"
        )));
    }
    // A map by name, or by content: a JSON object with `"mappings"` near its start.
    let is_map = name.ends_with(".map")
        || contents.starts_with(b"{")
            && contents
                .windows(b"\"mappings\"".len())
                .take(4096)
                .any(|w| w == b"\"mappings\"");
    let text = std::str::from_utf8(&contents).ok();
    let sourcemap_ref = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("sourcemap") || k.eq_ignore_ascii_case("x-sourcemap"))
        .map(|(_, v)| v.clone())
        .or_else(|| text.and_then(errorwatch_symbolicate::candidates::sourcemap_reference));
    let blob = sha1_hex(&contents);
    let now = Utc::now();
    let file = NewFile {
        project,
        release: Some(version.to_owned()),
        dist: dist.map(str::to_owned),
        kind: if is_map {
            "source_map"
        } else {
            "minified_source"
        }
        .to_owned(),
        url: name.to_owned(),
        debug_id: None,
        sourcemap_ref: if is_map { None } else { sourcemap_ref },
        headers: serde_json::to_string(&headers).unwrap_or_else(|_| "{}".to_owned()),
        blob_checksum: blob.clone(),
        size: contents.len() as i64,
    };
    let txn = scope.db().begin_write().await?;
    crate::repo::releases::ensure(&txn, scope, project, version, now).await?;
    repo::insert_blob(&txn, scope, &blob, &contents, now).await?;
    repo::insert_files(&txn, scope, None, std::slice::from_ref(&file), now).await?;
    txn.commit().await?;
    let stored = repo::files(
        conn,
        scope,
        project,
        FilesOf::LegacyRelease { release: version },
    )
    .await?
    .into_iter()
    .find(|f| f.url == name && f.dist.as_deref() == dist)
    .ok_or(Error::NotFound)?;
    Ok(to_release_file(stored))
}

fn to_release_file(f: repo::FileRow) -> ReleaseFile {
    ReleaseFile {
        id: f.id,
        name: f.url,
        dist: f.dist,
        headers: serde_json::from_str(&f.headers).unwrap_or_default(),
        size: f.size,
        sha1: f.blob_checksum,
        date_created: f.created_at,
    }
}

/// The legacy files of `project`'s release `version`, newest first.
pub async fn list_release_files(
    scope: &AccountScope,
    project: ProjectId,
    version: &str,
) -> Result<Vec<ReleaseFile>> {
    scope.require(Role::Viewer)?;
    Ok(repo::files(
        scope.db().conn(),
        scope,
        project,
        FilesOf::LegacyRelease { release: version },
    )
    .await?
    .into_iter()
    .map(to_release_file)
    .collect())
}

/// Deletes a legacy release file; `NotFound` when it is not the project's. Requires the right to
/// upload releases.
pub async fn delete_release_file(
    scope: &AccountScope,
    project: ProjectId,
    id: ArtifactFileId,
) -> Result<()> {
    scope.require_releases()?;
    let txn = scope.db().begin_write().await?;
    let deleted = repo::delete_legacy_file(&txn, scope, project, id.0).await?;
    if deleted == 0 {
        return Err(Error::NotFound);
    }
    repo::delete_orphan_blobs(&txn, scope).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_recognised() {
        assert!(is_sha1(&sha1_hex(b"x")));
        assert!(!is_sha1("abc"));
        assert!(!is_sha1(&"g".repeat(40)));
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn gzip_chunks_are_capped() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&vec![b'a'; 1000]).expect("write");
        let gz = encoder.finish().expect("finish");
        assert_eq!(gunzip_capped(&gz, 1000).expect("fits").len(), 1000);
        assert!(gunzip_capped(&gz, 999).is_err());
        assert!(gunzip_capped(b"not gzip", 10).is_err());
    }

    #[test]
    fn a_bundle_is_stored_once_per_release_and_dist() {
        let id = "7a8e27f5-6cc6-5477-9b47-10a36f3e5ce9";
        assert_eq!(stored_bundle_key(id, None, None), id);
        let keys = [
            stored_bundle_key(id, Some("1.0"), None),
            stored_bundle_key(id, Some("1.0"), Some("web")),
            stored_bundle_key(id, Some("1.1"), None),
        ];
        assert_eq!(keys[0], stored_bundle_key(id, Some("1.0"), None));
        assert!(keys.iter().all(|k| k.len() == 36 && k != id));
        assert!(keys[0] != keys[1] && keys[0] != keys[2] && keys[1] != keys[2]);
    }

    #[test]
    fn bundle_ids_without_debug_id_are_stable() {
        let a = uuid_from_checksum("a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            a,
            uuid_from_checksum("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(a.len(), 36);
    }
}
