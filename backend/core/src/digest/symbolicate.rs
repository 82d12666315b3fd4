//! Source maps in the digest: JavaScript frames are rewritten to their original file, line,
//! function and source lines before grouping (so one bug in two builds is one issue), with the
//! pure work in `errorwatch-symbolicate` and the lookups here.
//!
//! Per batch, before the CPU phase ([`Symbolicator::maps_for`]):
//! 1. Each project's newest upload (read at most once per [`UPLOADS_CHECK_EVERY`]): a project
//!    without uploads needs no lookup (its mappable frames are marked "no map uploaded" in the
//!    CPU phase and its rows are not read twice); when the newest upload changed, the cached
//!    maps and reasons of the project are forgotten, so a map uploaded after its first events
//!    serves the events that follow, in this process or any other.
//! 2. The events of the other rows are read and normalized once more (on the digest threads)
//!    to list the maps they need ([`stacktrace::plan`]): by debug id, or by release, dist and
//!    the frame's URL candidates (legacy release files and bundles uploaded with a release).
//! 3. Each map not in the byte-bounded cache ([`MapCache`]) is read from the project's uploads
//!    and parsed on the digest threads; a missing or unusable map is cached as its reason (for
//!    a minute at most, or until the project's uploads change).
//!
//! The CPU phase then applies them ([`symbolicate_event`]) with no I/O.
//!
//! Invariants:
//! - Maps are looked up per account and project, never across projects: a debug id or
//!   release of another project or account never matches (the cache key holds both).
//! - Every mappable frame either is mapped or carries a reason (see
//!   `errorwatch_symbolicate::Unmapped`); a failure never drops the event.
//! - A map larger than `max_map_bytes` is not read (its frames say so), bounding what one
//!   upload can make the digest parse.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use errorwatch_symbolicate::cache::{CacheStats, MapCache};
use errorwatch_symbolicate::candidates::{SourceMapRef, resolve_reference, sourcemap_reference};
use errorwatch_symbolicate::stacktrace::{self, MapKey, MapLookup, Summary};
use errorwatch_symbolicate::{ParsedMap, Unmapped};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use serde_json::value::RawValue;

use super::normalize::normalize_event;
use super::passthrough;
use crate::config::ArtifactsConfig;
use crate::ids::{AccountId, ProjectId};
use crate::ingest::envelope::{ItemType, Limits, parse_envelope_bytes};
use crate::repo::Tenant;
use crate::repo::artifacts::{self as uploads, LookupFile};
use crate::repo::entity::ingest_spool;
use crate::spool::Spooled;

/// How long a project's newest upload is believed.
pub const UPLOADS_CHECK_EVERY: Duration = Duration::from_secs(1);

/// A map as the digest keys it: the event's account and project (maps belong to a project),
/// and for release-file lookups the event's release and dist.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapRef {
    account: i64,
    project: i64,
    release: Option<String>,
    dist: Option<String>,
    key: MapKey,
}

impl MapRef {
    fn new(
        account: i64,
        project: i64,
        release: Option<&str>,
        dist: Option<&str>,
        key: &MapKey,
    ) -> Self {
        let (release, dist) = match key {
            MapKey::DebugId(_) => (None, None),
            MapKey::ReleaseUrl { .. } => (release.map(str::to_owned), dist.map(str::to_owned)),
        };
        Self {
            account,
            project,
            release,
            dist,
            key: key.clone(),
        }
    }
}

/// The digest's source-map state: the parsed-map cache and what it knows of projects' uploads.
/// One per digest loop (so per application: project ids are per database).
pub struct Symbolicator {
    cache: MapCache<MapRef>,
    max_map_bytes: u64,
    /// Project → its newest upload's id, and when that was read.
    projects: Mutex<HashMap<i64, (Option<i64>, Instant)>>,
}

/// The maps one batch needs, found before its CPU phase.
#[derive(Default)]
pub struct BatchMaps {
    /// Projects of the batch that hold uploaded files.
    with_files: HashSet<i64>,
    found: HashMap<MapRef, MapLookup>,
}

impl BatchMaps {
    /// What to apply for `key` of an event of `project` with this release and dist.
    fn lookup(
        &self,
        account: i64,
        project: i64,
        release: Option<&str>,
        dist: Option<&str>,
        key: &MapKey,
    ) -> MapLookup {
        if !self.with_files.contains(&project) {
            return MapLookup::Missing(not_uploaded(key));
        }
        self.found
            .get(&MapRef::new(account, project, release, dist, key))
            .cloned()
            .unwrap_or_else(|| MapLookup::Missing(not_uploaded(key)))
    }
}

/// The reason of a key nothing was uploaded for.
fn not_uploaded(key: &MapKey) -> Unmapped {
    match key {
        MapKey::DebugId(id) => Unmapped::NoMapForDebugId(*id),
        MapKey::ReleaseUrl { candidates } => {
            Unmapped::NoMapForUrl(candidates.first().cloned().unwrap_or_default())
        }
    }
}

impl Symbolicator {
    /// A symbolicator with the configured cache size and map size limit.
    pub fn new(config: &ArtifactsConfig) -> Self {
        Self {
            cache: MapCache::new(config.map_cache_bytes),
            max_map_bytes: config.max_map_bytes,
            projects: Mutex::new(HashMap::new()),
        }
    }

    /// The cache's counters (for metrics and the bench).
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Finds the maps the events of `rows` need (see the module docs).
    pub(crate) async fn maps_for(
        &self,
        conn: &impl ConnectionTrait,
        rows: &[Spooled],
    ) -> anyhow::Result<BatchMaps> {
        let with_files = self.projects_with_files(conn, rows).await?;
        if with_files.is_empty() {
            return Ok(BatchMaps::default());
        }
        let chosen: Vec<Spooled> = rows
            .iter()
            .filter(|r| with_files.contains(&r.row.project_id))
            .map(|r| Spooled {
                row: r.row.clone(),
                encoding: r.encoding,
            })
            .collect();
        let refs = super::cpu::run(move || plan_rows(chosen)).await?;
        self.resolve(conn, refs, with_files).await
    }

    /// Forgets every cached map and reason of `project` (reprocessing wants today's uploads;
    /// called once per reprocessing, not per page of events).
    pub(crate) fn forget_project(&self, project: ProjectId) {
        self.cache.invalidate_where(|key| key.project == project.0);
    }

    /// The maps stored events of one project need (reprocessing): `payloads` as stored, with
    /// their `debug_meta`.
    pub(crate) async fn maps_for_stored(
        &self,
        conn: &impl ConnectionTrait,
        account: AccountId,
        project: ProjectId,
        payloads: &[Value],
    ) -> anyhow::Result<BatchMaps> {
        let tenant = Tenant::ingested(account);
        if uploads::latest_file_id(conn, tenant, project)
            .await?
            .is_none()
        {
            return Ok(BatchMaps::default());
        }
        let mut refs: Vec<MapRef> = Vec::new();
        for payload in payloads.iter().filter(|p| is_javascript(p)) {
            let release = stacktrace::event_release(payload);
            let dist = stacktrace::event_dist(payload);
            for key in stacktrace::plan(payload) {
                let map_ref = MapRef::new(account.0, project.0, release, dist, &key);
                if !refs.contains(&map_ref) {
                    refs.push(map_ref);
                }
            }
        }
        self.resolve(conn, refs, HashSet::from([project.0])).await
    }

    /// Each of `refs` from the cache, else loaded.
    async fn resolve(
        &self,
        conn: &impl ConnectionTrait,
        refs: Vec<MapRef>,
        with_files: HashSet<i64>,
    ) -> anyhow::Result<BatchMaps> {
        let mut found = HashMap::with_capacity(refs.len());
        for map_ref in refs {
            let lookup = match self.cache.get(&map_ref) {
                Some(lookup) => lookup,
                None => self.load(conn, &map_ref).await?,
            };
            found.insert(map_ref, lookup);
        }
        Ok(BatchMaps { with_files, found })
    }

    /// The batch's projects that hold uploaded files (see the module docs).
    async fn projects_with_files(
        &self,
        conn: &impl ConnectionTrait,
        rows: &[Spooled],
    ) -> anyhow::Result<HashSet<i64>> {
        let now = Instant::now();
        let mut batch: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| (r.row.project_id, r.row.account_id))
            .collect();
        batch.sort_unstable();
        batch.dedup();
        let mut holding = HashSet::new();
        for (project, account) in batch {
            let remembered = self
                .projects
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&project)
                .copied();
            let latest = match remembered {
                Some((latest, at)) if now.duration_since(at) < UPLOADS_CHECK_EVERY => latest,
                _ => {
                    let tenant = Tenant::ingested(AccountId(account));
                    let latest = uploads::latest_file_id(conn, tenant, ProjectId(project)).await?;
                    let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
                    // Bounded: projects not digested for a minute are forgotten.
                    if projects.len() > 10_000 {
                        projects
                            .retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
                    }
                    let changed = projects.insert(project, (latest, now)).map(|(old, _)| old);
                    if changed.is_some_and(|old| old != latest) {
                        self.cache.invalidate_where(|key| key.project == project);
                    }
                    latest
                }
            };
            if latest.is_some() {
                holding.insert(project);
            }
        }
        Ok(holding)
    }

    /// Reads, parses and caches one map (or the reason there is none).
    async fn load(
        &self,
        conn: &impl ConnectionTrait,
        map_ref: &MapRef,
    ) -> anyhow::Result<MapLookup> {
        let found = match self.fetch(conn, map_ref).await? {
            Ok(found) => found,
            Err(reason) => {
                self.cache.insert_missing(map_ref.clone(), reason.clone());
                return Ok(MapLookup::Missing(reason));
            }
        };
        let Fetched {
            map,
            minified,
            bundle,
        } = found;
        let parsed = super::cpu::run(move || {
            let mut parsed = ParsedMap::parse(&map)?;
            if let Some(source) = minified
                .as_deref()
                .and_then(|m| std::str::from_utf8(m).ok())
            {
                parsed.attach_minified_source(source);
            }
            Ok::<_, errorwatch_symbolicate::MapError>(parsed)
        })
        .await
        // A map the parser panics on must not stop the digest: it is an invalid map.
        .unwrap_or_else(|e| {
            Err(errorwatch_symbolicate::MapError::Invalid(format!(
                "the map could not be parsed ({e})"
            )))
        });
        let tenant = Tenant::ingested(AccountId(map_ref.account));
        if let Some(bundle) = bundle {
            uploads::touch_bundle(conn, tenant, bundle, Utc::now()).await?;
        }
        Ok(match parsed {
            Ok(parsed) => MapLookup::Found(self.cache.insert(map_ref.clone(), Arc::new(parsed))),
            Err(e) => {
                let reason = Unmapped::InvalidMap(e.to_string());
                self.cache.insert_missing(map_ref.clone(), reason.clone());
                MapLookup::Missing(reason)
            }
        })
    }

    /// The map's bytes (and its minified file's, when uploaded), or why there are none.
    async fn fetch(
        &self,
        conn: &impl ConnectionTrait,
        map_ref: &MapRef,
    ) -> anyhow::Result<Result<Fetched, Unmapped>> {
        let tenant = Tenant::ingested(AccountId(map_ref.account));
        let project = ProjectId(map_ref.project);
        match &map_ref.key {
            MapKey::DebugId(id) => {
                let files =
                    uploads::files_with_debug_id(conn, tenant, project, &id.to_string()).await?;
                let Some(map_file) = files.iter().find(|f| f.kind == "source_map") else {
                    return Ok(Err(Unmapped::NoMapForDebugId(*id)));
                };
                let minified = files.iter().find(|f| f.kind == "minified_source");
                self.read(conn, tenant, map_file, minified).await
            }
            MapKey::ReleaseUrl { candidates } => {
                let Some(release) = map_ref.release.as_deref() else {
                    return Ok(Err(Unmapped::NoDebugIdOrRelease));
                };
                let dist = map_ref.dist.as_deref();
                let files =
                    uploads::release_files_at(conn, tenant, project, release, dist, candidates)
                        .await?;
                // The first candidate that was uploaded, newest upload first.
                let Some(file) = candidates
                    .iter()
                    .find_map(|url| files.iter().find(|f| &f.url == url))
                else {
                    return Ok(Err(not_uploaded(&map_ref.key)));
                };
                if file.kind == "source_map" {
                    return self.read(conn, tenant, file, None).await;
                }
                let reference = match &file.sourcemap_ref {
                    Some(reference) => reference.clone(),
                    None => {
                        let text = uploads::blob_data(conn, tenant, &file.blob_checksum).await?;
                        match text
                            .as_deref()
                            .and_then(|t| std::str::from_utf8(t).ok())
                            .and_then(sourcemap_reference)
                        {
                            Some(reference) => reference,
                            None => {
                                return Ok(Err(Unmapped::NoSourceMapReference(file.url.clone())));
                            }
                        }
                    }
                };
                match resolve_reference(&file.url, &reference) {
                    SourceMapRef::Inline(map) => {
                        if map.len() as u64 > self.max_map_bytes {
                            return Ok(Err(Unmapped::MapTooLarge {
                                bytes: map.len() as u64,
                                limit: self.max_map_bytes,
                            }));
                        }
                        let minified = self.blob(conn, tenant, file).await?;
                        Ok(Ok(Fetched {
                            map,
                            minified,
                            bundle: file.bundle_id,
                        }))
                    }
                    SourceMapRef::Url(url) => {
                        let maps = uploads::release_files_at(
                            conn,
                            tenant,
                            project,
                            release,
                            dist,
                            std::slice::from_ref(&url),
                        )
                        .await?;
                        match maps.first() {
                            Some(map_file) => self.read(conn, tenant, map_file, Some(file)).await,
                            None => Ok(Err(Unmapped::NoMapForUrl(url))),
                        }
                    }
                }
            }
        }
    }

    /// Reads a map file (within the size limit) and its minified file.
    async fn read(
        &self,
        conn: &impl ConnectionTrait,
        tenant: Tenant,
        map_file: &LookupFile,
        minified: Option<&LookupFile>,
    ) -> anyhow::Result<Result<Fetched, Unmapped>> {
        let size = u64::try_from(map_file.size).unwrap_or(0);
        if size > self.max_map_bytes {
            return Ok(Err(Unmapped::MapTooLarge {
                bytes: size,
                limit: self.max_map_bytes,
            }));
        }
        let Some(map) = uploads::blob_data(conn, tenant, &map_file.blob_checksum).await? else {
            return Ok(Err(Unmapped::Unavailable(format!(
                "the content of {} is gone",
                map_file.url
            ))));
        };
        let minified = match minified {
            Some(file) => self.blob(conn, tenant, file).await?,
            None => None,
        };
        Ok(Ok(Fetched {
            map,
            minified,
            bundle: map_file.bundle_id,
        }))
    }

    /// A minified file's content, when it is small enough to keep next to its map.
    async fn blob(
        &self,
        conn: &impl ConnectionTrait,
        tenant: Tenant,
        file: &LookupFile,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        if u64::try_from(file.size).unwrap_or(u64::MAX) > self.max_map_bytes {
            return Ok(None);
        }
        Ok(uploads::blob_data(conn, tenant, &file.blob_checksum).await?)
    }
}

/// What [`Symbolicator::fetch`] read.
struct Fetched {
    map: Vec<u8>,
    minified: Option<Vec<u8>>,
    /// The bundle the map came from (its last use is recorded).
    bundle: Option<i64>,
}

/// The maps the events of `rows` need, deduplicated (CPU work, on a digest thread).
fn plan_rows(rows: Vec<Spooled>) -> Vec<MapRef> {
    let mut refs: Vec<MapRef> = Vec::new();
    let mut seen: HashSet<MapRef> = HashSet::new();
    for spooled in rows {
        let Ok(mut row) = spooled.decode() else {
            continue;
        };
        for (mut payload, debug_meta) in events_of(&mut row) {
            with_debug_meta(&mut payload, debug_meta.as_deref(), |payload| {
                let release = stacktrace::event_release(payload).map(str::to_owned);
                let dist = stacktrace::event_dist(payload).map(str::to_owned);
                for key in stacktrace::plan(payload) {
                    let map_ref = MapRef::new(
                        row.account_id,
                        row.project_id,
                        release.as_deref(),
                        dist.as_deref(),
                        &key,
                    );
                    if seen.insert(map_ref.clone()) {
                        refs.push(map_ref);
                    }
                }
            });
        }
    }
    refs
}

/// The row's JavaScript events, normalized as the CPU phase normalizes them, each with its
/// passed-through `debug_meta` text. Takes the row's envelope bytes (the row is this pass's
/// own copy).
fn events_of(row: &mut ingest_spool::Model) -> Vec<(Value, Option<Box<RawValue>>)> {
    let bytes = Bytes::from(std::mem::take(&mut row.envelope));
    let Ok(envelope) = parse_envelope_bytes(bytes, &Limits::default()) else {
        return Vec::new();
    };
    let context = super::prepare::normalize_context(row, &envelope);
    let mut events = Vec::new();
    for item in &envelope.items {
        if item.ty != ItemType::Event {
            continue;
        }
        let Ok(split) = passthrough::split(&item.payload) else {
            continue;
        };
        let debug_meta = split
            .kept
            .iter()
            .find(|(name, _)| *name == "debug_meta")
            .map(|(_, raw)| (*raw).to_owned());
        let Ok(event) = normalize_event(Value::Object(split.parsed), &context) else {
            continue;
        };
        if is_javascript(&event.payload) {
            events.push((event.payload, debug_meta));
        }
    }
    events
}

/// Whether the digest symbolicates the event: JavaScript in a browser or on Node.
fn is_javascript(payload: &Value) -> bool {
    matches!(
        payload.get("platform").and_then(Value::as_str),
        Some("javascript" | "node")
    )
}

/// Runs `work` on `payload` with its `debug_meta` parsed in (the digest keeps it as text), then
/// takes it out again.
fn with_debug_meta<T>(
    payload: &mut Value,
    debug_meta: Option<&RawValue>,
    work: impl FnOnce(&mut Value) -> T,
) -> T {
    let parsed = debug_meta.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
    let inserted = match (parsed, payload.as_object_mut()) {
        (Some(parsed), Some(object)) if !object.contains_key("debug_meta") => {
            object.insert("debug_meta".to_owned(), parsed);
            true
        }
        _ => false,
    };
    let result = work(payload);
    if inserted && let Some(object) = payload.as_object_mut() {
        object.remove("debug_meta");
    }
    result
}

/// Whether the event's `debug_meta` (parsed in `payload`, or as the digest's passed-through
/// text) lists a source map image.
fn names_sourcemap_images(payload: &Value, debug_meta: Option<&RawValue>) -> bool {
    let has = |meta: &Value| {
        meta.get("images")
            .and_then(Value::as_array)
            .is_some_and(|images| {
                images
                    .iter()
                    .any(|i| i.get("type").and_then(Value::as_str) == Some("sourcemap"))
            })
    };
    match (payload.get("debug_meta"), debug_meta) {
        (Some(meta), _) => has(meta),
        (None, Some(raw)) => serde_json::from_str::<Value>(raw.get()).is_ok_and(|m| has(&m)),
        (None, None) => false,
    }
}

/// Rewrites the JavaScript frames of one normalized event with the batch's maps (no I/O);
/// `None` for events that are not JavaScript.
pub(crate) fn symbolicate_event(
    payload: &mut Value,
    debug_meta: Option<&RawValue>,
    account: i64,
    project: i64,
    maps: &BatchMaps,
) -> Option<Summary> {
    if !is_javascript(payload) {
        return None;
    }
    // A project without uploads whose event names no source-map debug id has not set up
    // source maps (a Node service running its own files): its frames are left as they are,
    // without a "no source map" reason on each.
    if !maps.with_files.contains(&project) && !names_sourcemap_images(payload, debug_meta) {
        return None;
    }
    Some(with_debug_meta(payload, debug_meta, |payload| {
        let release = stacktrace::event_release(payload).map(str::to_owned);
        let dist = stacktrace::event_dist(payload).map(str::to_owned);
        let summary = stacktrace::apply(payload, &|key| {
            maps.lookup(account, project, release.as_deref(), dist.as_deref(), key)
        });
        if summary.unmapped > 0 {
            tracing::debug!(
                project.id = project,
                mapped = summary.mapped,
                unmapped = summary.unmapped,
                reasons = ?summary.reasons,
                "frames left minified"
            );
        }
        summary
    }))
}
