//! The uploaded artifact bundle (symbolic's "source bundle", what `sentry-cli sourcemaps
//! upload` assembles): an optional 8-byte header (`SYSB` + u32 LE version 2), then a zip with
//! `manifest.json` at its root.
//!
//! `manifest.json`: `files` maps a zip path to `{type, url, path?, headers?}`, with `type` one
//! of `source`, `minified_source`, `source_map`, `indexed_ram_bundle`; header keys are
//! case-insensitive (`debug-id`, `sourcemap` / `x-sourcemap`). The other top-level string
//! keys are the bundle's attributes: `debug_id`, `org`, `project`, `release`, `dist`, `note`.
//!
//! Invariants:
//! - [`ArtifactBundle::parse`] never panics and never allocates beyond [`BundleLimits`]: sizes
//!   are enforced on the bytes actually decompressed, not on the sizes the zip claims, so a
//!   zip bomb is an error, not an OOM.
//! - Only files listed in the manifest are read; every listed file must exist.
//! - Header keys are lower-cased on parse; an unparsable `debug-id` header is ignored (the
//!   file is still usable by URL).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use serde::Deserialize;
use uuid::Uuid;

/// The 8-byte header's magic.
pub const BUNDLE_MAGIC: &[u8; 4] = b"SYSB";
/// The only header version there is.
pub const BUNDLE_VERSION: u32 = 2;

/// Bounds on what [`ArtifactBundle::parse`] will read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Files listed in the manifest (and entries in the zip, plus the manifest).
    pub max_files: usize,
    /// Decompressed bytes of any one file, the manifest included.
    pub max_file_bytes: u64,
    /// Decompressed bytes of all files together.
    pub max_total_bytes: u64,
}

impl Default for BundleLimits {
    /// 10,000 files, 64 MiB per file, 256 MiB in all: a large single-page app's build is a few
    /// hundred files and tens of MiB.
    fn default() -> Self {
        BundleLimits {
            max_files: 10_000,
            max_file_bytes: 64 << 20,
            max_total_bytes: 256 << 20,
        }
    }
}

/// Why an upload is not a usable bundle. The messages are shown to the uploader.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("not an artifact bundle: the upload is not a zip archive ({0})")]
    NotAZip(String),
    #[error(
        "unsupported artifact bundle version {0} (only version 2 is known); upgrade ErrorWatch or use sentry-cli 2.x/3.x"
    )]
    UnsupportedVersion(u32),
    #[error("not an artifact bundle: manifest.json is missing at the root of the zip")]
    NoManifest,
    #[error("the bundle's manifest.json is not valid: {0}")]
    ManifestInvalid(String),
    #[error("the bundle's manifest lists {path} (url {url}), but the zip has no such file")]
    FileMissing { path: String, url: String },
    #[error("the bundle's file {path} could not be read: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("the bundle has {count} files, more than the limit of {limit}; split the upload")]
    TooManyFiles { count: usize, limit: usize },
    #[error("the bundle's file {path} is larger than the limit of {limit} bytes once decompressed")]
    FileTooLarge { path: String, limit: u64 },
    #[error(
        "the bundle is larger than the limit of {limit} bytes once decompressed; split the upload"
    )]
    TooLarge { limit: u64 },
}

/// What a file in the bundle is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileKind {
    Source,
    MinifiedSource,
    SourceMap,
    IndexedRamBundle,
    /// A type this version does not know (kept, not an error).
    Other(String),
}

impl FileKind {
    pub fn parse(s: &str) -> FileKind {
        match s {
            "source" => FileKind::Source,
            "minified_source" => FileKind::MinifiedSource,
            "source_map" => FileKind::SourceMap,
            "indexed_ram_bundle" => FileKind::IndexedRamBundle,
            other => FileKind::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            FileKind::Source => "source",
            FileKind::MinifiedSource => "minified_source",
            FileKind::SourceMap => "source_map",
            FileKind::IndexedRamBundle => "indexed_ram_bundle",
            FileKind::Other(s) => s,
        }
    }
}

/// One file of the bundle, with its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub zip_path: String,
    /// The URL the file is served at (`~/dist/app.js`, `https://cdn/x.js`).
    pub url: String,
    pub kind: FileKind,
    /// From the `debug-id` header.
    pub debug_id: Option<Uuid>,
    /// From the `sourcemap` (or `x-sourcemap`) header: the map this file refers to.
    pub sourcemap_ref: Option<String>,
    /// All headers, keys lower-cased.
    pub headers: BTreeMap<String, String>,
    contents: Vec<u8>,
}

impl BundleFile {
    pub fn contents(&self) -> &[u8] {
        &self.contents
    }

    /// The contents as text, when they are UTF-8 (sentry-cli skips other files).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.contents).ok()
    }
}

/// A parsed bundle, all listed files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactBundle {
    files: Vec<BundleFile>,
    attributes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    files: BTreeMap<String, ManifestFile>,
    #[serde(flatten)]
    attributes: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl ArtifactBundle {
    /// Parses a bundle (with or without the `SYSB` header) within `limits`.
    pub fn parse(bytes: &[u8], limits: &BundleLimits) -> Result<ArtifactBundle, BundleError> {
        if let Some(rest) = bytes.strip_prefix(BUNDLE_MAGIC.as_slice()) {
            let version = rest
                .get(..4)
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| BundleError::NotAZip("truncated header".to_owned()))?;
            if version != BUNDLE_VERSION {
                return Err(BundleError::UnsupportedVersion(version));
            }
        }
        // The zip reader gets the header too: sentry-cli (symbolic's writer) writes the zip into
        // the same stream after the header, so its offsets count the header's 8 bytes. The
        // reader detects the archive's offset, so a zip merely appended to a header (offsets
        // from its own start) reads as well.
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| BundleError::NotAZip(e.to_string()))?;
        if archive.len() > limits.max_files.saturating_add(1) {
            return Err(BundleError::TooManyFiles {
                count: archive.len().saturating_sub(1),
                limit: limits.max_files,
            });
        }

        let mut total = 0u64;
        let manifest_bytes = match archive.by_name("manifest.json") {
            Ok(file) => read_limited(file, "manifest.json", limits, &mut total)?,
            Err(zip::result::ZipError::FileNotFound) => return Err(BundleError::NoManifest),
            Err(e) => {
                return Err(BundleError::Corrupt {
                    path: "manifest.json".to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| BundleError::ManifestInvalid(e.to_string()))?;
        if manifest.files.len() > limits.max_files {
            return Err(BundleError::TooManyFiles {
                count: manifest.files.len(),
                limit: limits.max_files,
            });
        }
        let attributes = manifest
            .attributes
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect();

        let mut files = Vec::with_capacity(manifest.files.len());
        for (zip_path, entry) in manifest.files {
            let contents = match archive.by_name(&zip_path) {
                Ok(file) => read_limited(file, &zip_path, limits, &mut total)?,
                Err(zip::result::ZipError::FileNotFound) => {
                    return Err(BundleError::FileMissing {
                        path: zip_path,
                        url: entry.url,
                    });
                }
                Err(e) => {
                    return Err(BundleError::Corrupt {
                        path: zip_path,
                        reason: e.to_string(),
                    });
                }
            };
            let headers: BTreeMap<String, String> = entry
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let debug_id = headers
                .get("debug-id")
                .or_else(|| headers.get("debug_id"))
                .and_then(|v| v.trim().parse::<Uuid>().ok());
            let sourcemap_ref = headers
                .get("sourcemap")
                .or_else(|| headers.get("x-sourcemap"))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            files.push(BundleFile {
                zip_path,
                url: entry.url,
                kind: FileKind::parse(&entry.kind),
                debug_id,
                sourcemap_ref,
                headers,
                contents,
            });
        }
        Ok(ArtifactBundle { files, attributes })
    }

    /// The bundle's own id (sentry-cli derives it from the contents).
    pub fn debug_id(&self) -> Option<Uuid> {
        self.attribute("debug_id")
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn release(&self) -> Option<&str> {
        self.attribute("release")
    }

    pub fn dist(&self) -> Option<&str> {
        self.attribute("dist")
    }

    pub fn org(&self) -> Option<&str> {
        self.attribute("org")
    }

    pub fn project(&self) -> Option<&str> {
        self.attribute("project")
    }

    /// Any string attribute of the manifest (`note`, …); empty values count as absent.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn files(&self) -> &[BundleFile] {
        &self.files
    }

    pub fn contents<'a>(&'a self, file: &'a BundleFile) -> &'a [u8] {
        file.contents()
    }

    /// The file uploaded under this URL, if any.
    pub fn file_by_url(&self, url: &str) -> Option<&BundleFile> {
        self.files.iter().find(|f| f.url == url)
    }

    /// The file of this kind carrying this debug id (the source map for a frame's debug id).
    pub fn file_by_debug_id(&self, debug_id: Uuid, kind: &FileKind) -> Option<&BundleFile> {
        self.files
            .iter()
            .find(|f| f.debug_id == Some(debug_id) && &f.kind == kind)
    }

    /// The source map a minified file names: through its `sourcemap` header, else its last
    /// `sourceMappingURL`, resolved against its URL and looked up in this bundle by URL.
    /// Inline (`data:`) maps are returned as their bytes.
    pub fn sourcemap_for(&self, minified: &BundleFile) -> Option<Vec<u8>> {
        use crate::candidates::{SourceMapRef, resolve_reference, sourcemap_reference};
        let reference = minified
            .sourcemap_ref
            .clone()
            .or_else(|| minified.text().and_then(sourcemap_reference))?;
        match resolve_reference(&minified.url, &reference) {
            SourceMapRef::Inline(bytes) => Some(bytes),
            SourceMapRef::Url(url) => self.file_by_url(&url).map(|f| f.contents.clone()),
        }
    }
}

/// Reads a zip entry, counting the bytes actually decompressed against the limits.
fn read_limited<R: Read>(
    file: R,
    path: &str,
    limits: &BundleLimits,
    total: &mut u64,
) -> Result<Vec<u8>, BundleError> {
    let mut out = Vec::new();
    let cap = limits.max_file_bytes.saturating_add(1);
    file.take(cap)
        .read_to_end(&mut out)
        .map_err(|e| BundleError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let len = out.len() as u64;
    if len > limits.max_file_bytes {
        return Err(BundleError::FileTooLarge {
            path: path.to_owned(),
            limit: limits.max_file_bytes,
        });
    }
    *total = total.saturating_add(len);
    if *total > limits.max_total_bytes {
        return Err(BundleError::TooLarge {
            limit: limits.max_total_bytes,
        });
    }
    Ok(out)
}

/// One file for [`build_bundle`]: `(url, kind, headers, contents)`.
#[cfg(feature = "test-util")]
pub type TestFile<'a> = (&'a str, FileKind, &'a [(&'a str, &'a str)], &'a [u8]);

/// Writes a real bundle (`SYSB` header, deflated zip, manifest) the way sentry-cli lays it out,
/// for tests: `files` are `(url, kind, headers, contents)`, `attrs` the manifest's attributes.
#[cfg(feature = "test-util")]
pub fn build_bundle(files: &[TestFile<'_>], attrs: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    // As symbolic's writer does: the header first, then the zip in the same stream, so the zip's
    // offsets count the header.
    let mut out = Cursor::new(Vec::new());
    out.write_all(BUNDLE_MAGIC).expect("header");
    out.write_all(&BUNDLE_VERSION.to_le_bytes())
        .expect("header");
    let mut zip = zip::ZipWriter::new(out);
    let mut manifest_files = serde_json::Map::new();
    for (url, kind, headers, contents) in files {
        let mut zip_path = bundle_path(url);
        let mut n = 0;
        while manifest_files.contains_key(&zip_path) {
            n += 1;
            zip_path = format!("{}.{n}", bundle_path(url));
        }
        let headers: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::json!(v)))
            .collect();
        let mut entry = serde_json::json!({"type": kind.as_str(), "url": url});
        if !headers.is_empty() {
            entry["headers"] = serde_json::Value::Object(headers);
        }
        manifest_files.insert(zip_path.clone(), entry);
        zip.start_file(zip_path, options).expect("zip entry");
        zip.write_all(contents).expect("zip write");
    }
    let mut manifest = serde_json::json!({ "files": manifest_files });
    for (k, v) in attrs {
        manifest[*k] = serde_json::json!(v);
    }
    zip.start_file("manifest.json", options).expect("zip entry");
    zip.write_all(manifest.to_string().as_bytes())
        .expect("zip write");
    zip.finish().expect("zip finish").into_inner()
}

/// sentry-cli's zip path for a URL: `~/dist/app.js` → `files/_/_/dist/app.js`,
/// `https://cdn/x.js` → `files/https/cdn/x.js`.
#[cfg(feature = "test-util")]
fn bundle_path(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("_", url));
    let rest = rest.strip_prefix('~').unwrap_or(rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = if host.is_empty() { "_" } else { host };
    format!("files/{scheme}/{host}/{path}")
}

#[cfg(test)]
mod tests;
