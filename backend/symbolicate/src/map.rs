//! A parsed source map and the lookup of one minified position in it.
//!
//! [`ParsedMap::parse`] accepts regular maps, indexed ("sections") maps and Metro/Hermes maps,
//! all through `sourcemap::decode_slice`. Indexed maps are flattened once at parse time, so a
//! lookup is always a binary search in one token table. React Native RAM bundles are refused
//! ([`MapError::RamBundle`]): they are not source maps.
//!
//! Invariants:
//! - Lookups take the SDK's **1-based** line and column and do a left-biased token lookup at
//!   (line − 1, col − 1). A token only extends to the end of its own line: a lookup on a line
//!   with no token of its own is [`Unmapped::NoToken`], never the last token of an earlier line
//!   (symbolic made the same fix in sourcemapcache 12.6.2).
//! - A mapped position is returned even when the map has no `sourcesContent` (or a `null`
//!   entry): the frame then carries a warning ([`MappedFrame::warning`]) instead of context
//!   lines. Missing context never turns a good mapping into a failure.
//! - Nothing here panics on hostile input; the fuzz target `sourcemap_lookup` checks that.

use std::borrow::Cow;
use std::fmt;

use sourcemap::{DecodedMap, SourceMap, SourceView};
use uuid::Uuid;

/// How many lines of context are taken on each side of the frame's line.
pub const CONTEXT_LINES: u32 = 5;

/// Context lines longer than this are cut (minified or generated sources can have megabyte
/// lines; the issue page shows none of that).
pub const MAX_CONTEXT_LINE_CHARS: usize = 1000;

/// The first four bytes of a React Native indexed RAM bundle (little-endian `0xFB0BD1E5`).
const RAM_BUNDLE_MAGIC: [u8; 4] = [0xE5, 0xD1, 0x0B, 0xFB];

/// Why bytes are not a usable source map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error(
        "this is a React Native RAM bundle, not a source map; upload the bundle's source map instead"
    )]
    RamBundle,
    #[error("invalid source map: {0}")]
    Invalid(String),
}

/// A source map ready for lookups. Immutable once parsed, so it is shared as `Arc<ParsedMap>`.
pub struct ParsedMap {
    map: SourceMap,
    debug_id: Option<Uuid>,
    approx_bytes: usize,
    /// The minified file the map belongs to, when the caller attached it: lets every lookup
    /// find scope names without the caller passing the source each time.
    minified: Option<SourceView>,
    /// Scope names found with the attached minified file, by (token line, token column,
    /// minified name): finding one walks the minified line from its start and the tokens
    /// backwards (half the digest's CPU on 2 MB bundles in the bench), and events repeat their
    /// frames. At most [`SCOPE_MEMO_ENTRIES`], then started afresh.
    scope_names: std::sync::Mutex<std::collections::HashMap<(u32, u32, String), Option<String>>>,
}

/// Scope names one map remembers.
const SCOPE_MEMO_ENTRIES: usize = 4096;
/// What the memo may cost, counted in [`ParsedMap::approx_bytes`] once a minified file is
/// attached.
const SCOPE_MEMO_BYTES: usize = SCOPE_MEMO_ENTRIES * 128;

impl fmt::Debug for ParsedMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedMap")
            .field("debug_id", &self.debug_id)
            .field("sources", &self.map.get_source_count())
            .field("tokens", &self.map.get_token_count())
            .field("approx_bytes", &self.approx_bytes)
            .finish()
    }
}

/// What the caller knows about the minified frame, beyond its position.
#[derive(Debug, Clone, Copy, Default)]
pub struct LookupInput<'a> {
    /// 1-based line in the minified file.
    pub line: u32,
    /// 1-based column in the minified file (0 is treated as 1).
    pub col: u32,
    /// The frame's `function` as the SDK reported it (a minified name such as `a` or `t.total`).
    pub minified_function: Option<&'a str>,
    /// The minified file's text, when the caller has it (needed for scope names). Overrides the
    /// one given to [`ParsedMap::attach_minified_source`].
    pub minified_source: Option<&'a str>,
}

/// One frame rewritten to its original position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedFrame {
    /// The original source exactly as the map names it (after `sourceRoot`), e.g.
    /// `webpack:///./src/app.js` or `../../src/util.js`.
    pub abs_path: String,
    /// [`display_filename`] of `abs_path`: `webpack://` and leading `./`/`../` removed.
    pub filename: String,
    /// 1-based original line.
    pub lineno: u32,
    /// 1-based original column.
    pub colno: u32,
    /// The best original function name found: the enclosing scope's original name (needs the
    /// minified source and function name), else the token's own name.
    pub function: Option<String>,
    /// The enclosing scope's original name only (`None` when it could not be derived).
    pub scope_name: Option<String>,
    /// The original name at the looked-up position (for a call site: the callee's name). The
    /// stack-trace layer uses the caller's `token_name` to name the callee frame.
    pub token_name: Option<String>,
    pub pre_context: Vec<String>,
    pub context_line: Option<String>,
    pub post_context: Vec<String>,
    /// Set when the position is mapped but something is missing (today: the source's text).
    pub warning: Option<Unmapped>,
}

/// Why a frame was not (fully) symbolicated. `code()` is stable (stored in events and shown by
/// the issue page); `message()` is for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmapped {
    /// The frame has no line number (or line 0), so there is nothing to look up.
    NoLineNumber,
    /// The map has no token at or before this position on this line.
    NoToken { line: u32, col: u32 },
    /// Mapped, but the map carries no text for the source (`sourcesContent` missing or `null`).
    /// Only ever a warning on a [`MappedFrame`].
    NoSourcesContent { source: String },
    /// The map exists but could not be parsed.
    InvalidMap(String),
    /// The event names a debug id, but no source map was uploaded for it in this project.
    NoMapForDebugId(Uuid),
    /// No uploaded file matched the frame's URL for the event's release (the candidates tried).
    NoMapForUrl(String),
    /// The minified file was found for the release but names no source map.
    NoSourceMapReference(String),
    /// The frame has a debug id-less, release-less URL: nothing to look the map up by.
    NoDebugIdOrRelease,
    /// The map is larger than the configured limit.
    MapTooLarge { bytes: u64, limit: u64 },
    /// Storage or another caller-side failure while fetching the map.
    Unavailable(String),
}

impl Unmapped {
    /// A stable, machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Unmapped::NoLineNumber => "no_line_number",
            Unmapped::NoToken { .. } => "no_mapping",
            Unmapped::NoSourcesContent { .. } => "missing_sources_content",
            Unmapped::InvalidMap(_) => "invalid_sourcemap",
            Unmapped::NoMapForDebugId(_) => "missing_sourcemap_for_debug_id",
            Unmapped::NoMapForUrl(_) => "missing_sourcemap_for_url",
            Unmapped::NoSourceMapReference(_) => "missing_sourcemap_reference",
            Unmapped::NoDebugIdOrRelease => "no_debug_id_or_release",
            Unmapped::MapTooLarge { .. } => "sourcemap_too_large",
            Unmapped::Unavailable(_) => "sourcemap_unavailable",
        }
    }

    /// A sentence for the issue page.
    pub fn message(&self) -> String {
        match self {
            Unmapped::NoLineNumber => "the frame has no line number".to_owned(),
            Unmapped::NoToken { line, col } => {
                format!("the source map has no mapping for line {line}, column {col}")
            }
            Unmapped::NoSourcesContent { source } => format!(
                "mapped, but the source map does not contain the text of {source} \
                 (build with sourcesContent, or upload the original sources)"
            ),
            Unmapped::InvalidMap(err) => format!("the uploaded source map is invalid: {err}"),
            Unmapped::NoMapForDebugId(id) => format!(
                "no source map was uploaded for debug id {id} in this project \
                 (run `sentry-cli sourcemaps upload` on the injected build)"
            ),
            Unmapped::NoMapForUrl(url) => format!(
                "no source map was found for {url} in this release \
                 (check the uploaded URLs and --url-prefix)"
            ),
            Unmapped::NoSourceMapReference(url) => format!(
                "{url} was uploaded but names no source map (no sourceMappingURL and no \
                 Sourcemap header)"
            ),
            Unmapped::NoDebugIdOrRelease => "the event has neither a debug id for this file nor \
                 a release to look its source map up by"
                .to_owned(),
            Unmapped::MapTooLarge { bytes, limit } => {
                format!("the source map is {bytes} bytes, over the limit of {limit} bytes")
            }
            Unmapped::Unavailable(why) => format!("the source map could not be read: {why}"),
        }
    }
}

/// The largest generated line and column a map's tokens reach once its sections are placed at
/// their offsets; `None` when one would not fit in a `u32`.
fn extent(map: &DecodedMap) -> Option<(u32, u32)> {
    let of_tokens = |map: &SourceMap| {
        map.tokens().fold((0, 0), |(line, col), t| {
            (line.max(t.get_dst_line()), col.max(t.get_dst_col()))
        })
    };
    match map {
        DecodedMap::Regular(map) => Some(of_tokens(map)),
        DecodedMap::Hermes(map) => Some(of_tokens(map)),
        DecodedMap::Index(index) => index_extent(index),
    }
}

/// [`extent`] of an indexed map.
fn index_extent(index: &sourcemap::SourceMapIndex) -> Option<(u32, u32)> {
    let mut out = (0u32, 0u32);
    for section in index.sections() {
        let (off_line, off_col) = section.get_offset();
        let (line, col) = match section.get_sourcemap() {
            Some(inner) => extent(inner)?,
            None => (0, 0),
        };
        out.0 = out.0.max(line.checked_add(off_line)?);
        out.1 = out.1.max(col.checked_add(off_col)?);
    }
    Some(out)
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl ParsedMap {
    /// Parses a regular, indexed or Hermes source map. Indexed maps must embed their sections'
    /// maps (a section that points at a URL is an error).
    pub fn parse(bytes: &[u8]) -> Result<ParsedMap, MapError> {
        if bytes.starts_with(&RAM_BUNDLE_MAGIC) {
            return Err(MapError::RamBundle);
        }
        let decoded =
            sourcemap::decode_slice(bytes).map_err(|e| MapError::Invalid(e.to_string()))?;
        let debug_id = decoded
            .debug_id()
            .map(|id| id.uuid())
            .filter(|id| !id.is_nil());
        let map = match decoded {
            DecodedMap::Regular(map) => map,
            DecodedMap::Hermes(hermes) => (*hermes).clone(),
            DecodedMap::Index(index) => {
                if index.is_for_ram_bundle() {
                    return Err(MapError::RamBundle);
                }
                // `flatten` adds section offsets to positions unchecked (a panic with overflow
                // checks, garbage without): refuse what would not fit.
                if index_extent(&index).is_none() {
                    return Err(MapError::Invalid(
                        "a section's offset puts positions past 2^32".to_owned(),
                    ));
                }
                index
                    .flatten()
                    .map_err(|e| MapError::Invalid(e.to_string()))?
            }
        };
        let approx_bytes = estimate_bytes(&map);
        Ok(ParsedMap {
            map,
            debug_id,
            approx_bytes,
            minified: None,
            scope_names: Default::default(),
        })
    }

    /// Keeps the minified file next to the map, so [`ParsedMap::lookup_with`] (and therefore
    /// `stacktrace::apply`) can recover enclosing function names. Counted in `approx_bytes`.
    pub fn attach_minified_source(&mut self, minified_source: &str) {
        match self.minified.take() {
            Some(old) => {
                self.approx_bytes = self.approx_bytes.saturating_sub(view_bytes(old.source()));
            }
            None => self.approx_bytes += SCOPE_MEMO_BYTES,
        }
        self.approx_bytes += view_bytes(minified_source);
        self.minified = Some(SourceView::new(minified_source.into()));
        self.scope_names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The map's `debugId` (or legacy `debug_id`), if it has a non-nil one.
    pub fn debug_id(&self) -> Option<Uuid> {
        self.debug_id
    }

    /// An honest estimate of the memory this map holds, for the cache's byte budget.
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }

    /// Looks up a 1-based position, without scope names.
    pub fn lookup(&self, line: u32, col: u32) -> Result<MappedFrame, Unmapped> {
        self.lookup_with(&LookupInput {
            line,
            col,
            ..LookupInput::default()
        })
    }

    /// Looks up a 1-based position; with the minified source and function name it also finds
    /// the enclosing scope's original name.
    pub fn lookup_with(&self, input: &LookupInput<'_>) -> Result<MappedFrame, Unmapped> {
        if input.line == 0 {
            return Err(Unmapped::NoLineNumber);
        }
        let (line0, col0) = (input.line - 1, input.col.saturating_sub(1));
        let no_token = || Unmapped::NoToken {
            line: input.line,
            col: input.col,
        };
        let token = self.map.lookup_token(line0, col0).ok_or_else(no_token)?;
        if token.get_dst_line() != line0 {
            return Err(no_token());
        }
        let source = token.get_source().ok_or_else(no_token)?;
        let (src_line, src_col) = token.get_src();
        if src_line == u32::MAX || src_col == u32::MAX {
            return Err(no_token());
        }

        let name = input.minified_function.and_then(minified_identifier);
        let scope_name = match (name, input.minified_source, &self.minified) {
            (Some(name), Some(minified), _) => SourceView::new(minified.into())
                .get_original_function_name(token, name)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            (Some(name), None, Some(view)) => {
                let key = (token.get_dst_line(), token.get_dst_col(), name.to_owned());
                let known = self
                    .scope_names
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .cloned();
                match known {
                    Some(found) => found,
                    None => {
                        let found = view
                            .get_original_function_name(token, name)
                            .filter(|n| !n.is_empty())
                            .map(str::to_owned);
                        let mut memo = self.scope_names.lock().unwrap_or_else(|e| e.into_inner());
                        if memo.len() >= SCOPE_MEMO_ENTRIES {
                            memo.clear();
                        }
                        memo.insert(key, found.clone());
                        found
                    }
                }
            }
            _ => None,
        };
        let token_name = token
            .get_name()
            .filter(|n| !n.is_empty())
            .map(str::to_owned);

        let mut frame = MappedFrame {
            abs_path: source.to_owned(),
            filename: display_filename(source).into_owned(),
            lineno: src_line.saturating_add(1),
            colno: src_col.saturating_add(1),
            function: scope_name.clone().or_else(|| token_name.clone()),
            scope_name,
            token_name,
            pre_context: Vec::new(),
            context_line: None,
            post_context: Vec::new(),
            warning: None,
        };
        match self.map.get_source_view(token.get_src_id()) {
            Some(view) => {
                let line = |i: u32| view.get_line(i).map(clip_line);
                frame.context_line = view.get_line(src_line).map(clip_line);
                if frame.context_line.is_some() {
                    let first = src_line.saturating_sub(CONTEXT_LINES);
                    frame.pre_context = (first..src_line).filter_map(line).collect();
                    // A text ending in a newline has no real line after it.
                    let last = view.line_count().saturating_sub(1) as u32;
                    let last = match view.source().ends_with('\n') {
                        true => last.saturating_sub(1),
                        false => last,
                    };
                    let end = src_line.saturating_add(CONTEXT_LINES).min(last);
                    frame.post_context = (src_line + 1..=end).map_while(line).collect();
                }
            }
            None => {
                frame.warning = Some(Unmapped::NoSourcesContent {
                    source: source.to_owned(),
                });
            }
        }
        Ok(frame)
    }
}

/// The identifier `SourceView::get_original_function_name` can search for: the last dotted
/// segment of the SDK's function name, without `new `/`async ` prefixes (`t.total` → `total`,
/// `new t` → `t`, `Object.a` → `a`). `None` for anonymous frames.
fn minified_identifier(function: &str) -> Option<&str> {
    let f = function.trim();
    let f = f.strip_prefix("new ").unwrap_or(f);
    let f = f.strip_prefix("async ").unwrap_or(f);
    let last = f.rsplit('.').next().unwrap_or(f).trim();
    (!last.is_empty() && last != "<anonymous>" && last != "?").then_some(last)
}

fn clip_line(line: &str) -> String {
    let line = line.trim_end_matches(['\r', '\n']);
    match line.char_indices().nth(MAX_CONTEXT_LINE_CHARS) {
        Some((cut, _)) => format!("{} {{…}}", &line[..cut]),
        None => line.to_owned(),
    }
}

/// A source path for display: `webpack://<namespace>/` (any number of slashes) and leading
/// `./` and `../` segments removed (`webpack:///./src/app.js` → `src/app.js`,
/// `../../src/util.js` → `src/util.js`). Other URLs are kept as they are.
pub fn display_filename(source: &str) -> Cow<'_, str> {
    let mut s = source;
    if let Some(rest) = s.strip_prefix("webpack://") {
        // `webpack:///x`, or `webpack://namespace/x`.
        s = match rest.strip_prefix('/') {
            Some(rest) => rest,
            None => rest.split_once('/').map_or(rest, |(_, path)| path),
        };
    }
    loop {
        if let Some(rest) = s.strip_prefix("./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix("../") {
            s = rest;
        } else {
            break;
        }
    }
    Cow::Borrowed(if s.is_empty() { source } else { s })
}

/// Tokens (7 × u32 each in the crate's table), the strings it owns, and the lazily built line
/// index of each source view (one u64 per line), plus per-string heap overhead.
fn estimate_bytes(map: &SourceMap) -> usize {
    const TOKEN: usize = 28;
    const STRING_OVERHEAD: usize = 32;
    let tokens = map.get_token_count() as usize * TOKEN;
    let names: usize = map.names().map(|n| n.len() + STRING_OVERHEAD).sum();
    let sources: usize = map.sources().map(|s| s.len() + STRING_OVERHEAD).sum();
    let contents: usize = map.source_contents().flatten().map(view_bytes).sum();
    256 + tokens + names + sources + contents
}

/// A source view: its text plus one u64 line offset per line, plus the struct.
fn view_bytes(text: &str) -> usize {
    text.len() + 8 * (text.bytes().filter(|&b| b == b'\n').count() + 1) + 64
}

#[cfg(test)]
mod tests;
