//! Applying source maps to an event held as `serde_json::Value` (never `sentry-types`, which
//! cannot read `debug_meta.images[type=sourcemap]`). Two phases, so the caller can fetch maps
//! however it likes (database, blob store, cache) between them:
//!
//! 1. [`plan`] lists the maps the event needs ([`MapKey`]), deduplicated, in frame order.
//! 2. [`apply`] rewrites the frames, asking a closure for each key.
//!
//! Which frames take part: every frame of `exception.values[].stacktrace`,
//! `threads.values[].stacktrace` and the top-level `stacktrace` whose own `platform` is
//! `javascript` or `node`, or that has no `platform` in an event whose platform is one of
//! those. Of these, a frame is *mappable* when its `abs_path` (else `filename`) matches a
//! `debug_meta.images[]` entry `{type:"sourcemap", code_file, debug_id}` ([`MapKey::DebugId`]),
//! or when the event has a release (not empty, not `"undefined"`) and the path is an
//! `http(s)://`, `app://`, `file://`, `~/` or absolute path to a `.js`/`.mjs`/`.cjs`/`.jsx` file
//! ([`MapKey::ReleaseUrl`]). A frame with a debug id *and* a usable URL asks for both; the
//! debug id is tried first. Other frames (`node:internal`, `<anonymous>`, native, other
//! platforms) are left exactly as they are.
//!
//! The event shape written by [`apply`] (Sentry's, plus two `data` keys):
//! - each rewritten `stacktrace` gets a sibling `raw_stacktrace` with the minified frames as
//!   the SDK sent them, e.g. `exception.values[i].raw_stacktrace`; the top-level `stacktrace`
//!   gets a top-level `raw_stacktrace`. It is written only when at least one frame of that
//!   stack was mapped.
//! - a mapped frame has `filename`, `abs_path` (the original source as the map names it),
//!   `lineno`, `colno`, `function` (when an original name is known), the context lines
//!   (removed when the map has no text for the source), `in_app: false` for `node_modules` and
//!   `webpack:///~/` sources, and `data.symbolicated: true` plus
//!   `data.resolved_with: "debug_id" | "release"`; a mapping without source text also has
//!   `data.symbolication_warning: {code, message}`.
//! - a mappable frame that could not be mapped keeps its minified position and gets
//!   `data.symbolication_error: {code, message}` (codes: [`Unmapped::code`]).
//!
//! Invariants:
//! - Idempotent: when a `raw_stacktrace` is present, frames are rebuilt from it (reprocessing
//!   after an upload), and our own `data` markers are removed before a frame is processed, so
//!   applying twice gives the same event as applying once.
//! - Mixed stacks work: each frame stands alone; a missing map never hides the other frames.
//! - Function names: the enclosing scope's original name (when the map has the minified
//!   source attached) → the name at the *caller's* call site (frames are oldest first, so
//!   frame i−1 calls frame i, and its token is the callee's original name; Sentry's old
//!   processor did the same) → the SDK's minified name unchanged. The frame's own token name
//!   is not used: at a call site it names the callee, not the function.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::candidates::release_file_candidates;
use crate::map::{LookupInput, MappedFrame, ParsedMap, Unmapped};

/// The key of one map an event needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapKey {
    /// The `source_map` with this debug id, within the event's project.
    DebugId(Uuid),
    /// The map of the first of these release-file URLs that was uploaded for the event's
    /// release and dist (see [`event_release`], [`event_dist`]), found through the file's
    /// `Sourcemap` header or `sourceMappingURL`. Candidates are in order
    /// ([`release_file_candidates`]).
    ReleaseUrl { candidates: Vec<String> },
}

/// What the caller found for a key.
#[derive(Debug, Clone)]
pub enum MapLookup {
    Found(Arc<ParsedMap>),
    Missing(Unmapped),
}

/// What [`apply`] did, for metrics and the event's processing notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames rewritten to their original position.
    pub mapped: usize,
    /// Mappable frames left minified.
    pub unmapped: usize,
    /// Reason code → number of unmapped frames.
    pub reasons: BTreeMap<String, usize>,
    /// Warning code → number of mapped frames with that warning.
    pub warnings: BTreeMap<String, usize>,
}

/// The event's release for map lookups: `None` when missing, empty or `"undefined"` (what
/// bundler plugins send when no release was configured).
pub fn event_release(event: &Value) -> Option<&str> {
    event
        .get("release")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty() && *r != "undefined")
}

/// The event's dist, if any (release files are looked up by release and dist).
pub fn event_dist(event: &Value) -> Option<&str> {
    event
        .get("dist")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

/// The maps `event` needs, deduplicated, in the order their frames appear.
pub fn plan(event: &Value) -> Vec<MapKey> {
    let ctx = Context::new(event);
    let mut keys = Vec::new();
    for stack in stacks(event) {
        let frames = stack
            .get("raw_stacktrace")
            .or_else(|| stack.get("stacktrace"))
            .and_then(|s| s.get("frames"))
            .and_then(Value::as_array);
        for frame in frames.into_iter().flatten() {
            if let Some(Target::Keys(frame_keys)) = ctx.target(frame) {
                for key in frame_keys {
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
    }
    keys
}

/// Rewrites every mappable frame of `event` with the maps `maps` returns (see the module docs
/// for the shape written).
pub fn apply(event: &mut Value, maps: &dyn Fn(&MapKey) -> MapLookup) -> Summary {
    let ctx = Context::new(event);
    let mut summary = Summary::default();
    for list in ["exception", "threads"] {
        let values = event
            .get_mut(list)
            .and_then(|l| l.get_mut("values"))
            .and_then(Value::as_array_mut);
        for container in values.into_iter().flatten() {
            if let Some(container) = container.as_object_mut() {
                apply_stack(&ctx, container, maps, &mut summary);
            }
        }
    }
    if let Some(top) = event.as_object_mut() {
        apply_stack(&ctx, top, maps, &mut summary);
    }
    summary
}

/// Stack containers for [`plan`]: objects with `stacktrace` (and maybe `raw_stacktrace`).
fn stacks(event: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for list in ["exception", "threads"] {
        if let Some(values) = event
            .get(list)
            .and_then(|l| l.get("values"))
            .and_then(Value::as_array)
        {
            out.extend(values.iter().filter(|v| v.is_object()));
        }
    }
    if event.is_object() {
        out.push(event);
    }
    out
}

/// What [`apply`] and [`plan`] need from the event, owned so the event can be mutated.
struct Context {
    platform_js: bool,
    release: bool,
    /// `code_file` → debug id, from `debug_meta.images[type=sourcemap]`.
    images: Vec<(String, Uuid)>,
}

enum Target {
    /// Mappable: the keys to try, best first.
    Keys(Vec<MapKey>),
    /// A JavaScript file that nothing can map (no debug id and no release).
    Unmappable(Unmapped),
}

fn is_js_platform(p: &str) -> bool {
    matches!(p, "javascript" | "node")
}

impl Context {
    fn new(event: &Value) -> Context {
        let platform_js = event
            .get("platform")
            .and_then(Value::as_str)
            .is_some_and(is_js_platform);
        let images = event
            .get("debug_meta")
            .and_then(|d| d.get("images"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("sourcemap"))
            .filter_map(|i| {
                let file = i.get("code_file")?.as_str()?;
                let id = i.get("debug_id")?.as_str()?.parse::<Uuid>().ok()?;
                Some((file.to_owned(), id))
            })
            .collect();
        Context {
            platform_js,
            release: event_release(event).is_some(),
            images,
        }
    }

    /// `None` for frames that are not ours to touch.
    fn target(&self, frame: &Value) -> Option<Target> {
        let frame_js = match frame.get("platform").and_then(Value::as_str) {
            Some(p) => is_js_platform(p),
            None => self.platform_js,
        };
        if !frame_js {
            return None;
        }
        let str_field = |k| {
            frame
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (abs_path, filename) = (str_field("abs_path"), str_field("filename"));
        let debug_id = [abs_path, filename].into_iter().flatten().find_map(|path| {
            self.images
                .iter()
                .find(|(file, _)| file == path)
                .map(|(_, id)| *id)
        });
        let path = abs_path.or(filename)?;
        let fetchable = is_fetchable_js(path);
        let mut keys = Vec::new();
        if let Some(id) = debug_id {
            keys.push(MapKey::DebugId(id));
        }
        if fetchable && self.release {
            keys.push(MapKey::ReleaseUrl {
                candidates: release_file_candidates(path),
            });
        }
        match (keys.is_empty(), fetchable) {
            (false, _) => Some(Target::Keys(keys)),
            (true, true) => Some(Target::Unmappable(Unmapped::NoDebugIdOrRelease)),
            (true, false) => None,
        }
    }
}

/// An `http(s)://`, `app://`, `file://`, `~/` or absolute path to a JavaScript file.
fn is_fetchable_js(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let located = ["http://", "https://", "app://", "file://", "~/", "/"]
        .iter()
        .any(|p| lower.starts_with(p));
    let bare = lower.split(['?', '#']).next().unwrap_or(&lower);
    let js = [".js", ".mjs", ".cjs", ".jsx"]
        .iter()
        .any(|ext| bare.ends_with(ext));
    located && js
}

/// Our own keys in a frame's `data`, removed before a frame is (re)processed.
const MARKERS: [&str; 4] = [
    "symbolicated",
    "resolved_with",
    "symbolication_error",
    "symbolication_warning",
];

fn strip_markers(frame: &mut Value) {
    if let Some(obj) = frame.as_object_mut()
        && let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut)
    {
        for k in MARKERS {
            data.remove(k);
        }
        if data.is_empty() {
            obj.remove("data");
        }
    }
}

fn set_data(frame: &mut Value, key: &str, value: Value) {
    let Some(obj) = frame.as_object_mut() else {
        return;
    };
    let data = obj
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        data.insert(key.to_owned(), value);
    }
}

fn reason_json(reason: &Unmapped) -> Value {
    json!({ "code": reason.code(), "message": reason.message() })
}

fn u32_field(frame: &Value, key: &str) -> Option<u32> {
    frame
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn apply_stack(
    ctx: &Context,
    container: &mut Map<String, Value>,
    maps: &dyn Fn(&MapKey) -> MapLookup,
    summary: &mut Summary,
) {
    let had_raw = container
        .get("raw_stacktrace")
        .is_some_and(|r| r.get("frames").is_some_and(Value::is_array));
    let source = if had_raw {
        container.get("raw_stacktrace")
    } else {
        container.get("stacktrace")
    };
    let Some(mut raw) = source.filter(|s| s.is_object()).cloned() else {
        return;
    };
    let Some(raw_frames) = raw.get_mut("frames").and_then(Value::as_array_mut) else {
        return;
    };
    raw_frames.iter_mut().for_each(strip_markers);
    let raw_frames = raw_frames.clone();

    let mut frames = raw_frames.clone();
    let mut touched = false;
    let mut mapped_any = false;
    // The previous (calling) frame's mapping, for naming its callee.
    let mut caller: Option<MappedFrame> = None;
    for frame in &mut frames {
        let this = match ctx.target(frame) {
            None => None,
            Some(Target::Unmappable(reason)) => {
                touched = true;
                record_error(frame, &reason, summary);
                None
            }
            Some(Target::Keys(keys)) => {
                touched = true;
                match map_frame(frame, &keys, maps) {
                    Ok((mapped, how)) => {
                        rewrite(frame, &mapped, how, caller.as_ref(), summary);
                        mapped_any = true;
                        Some(mapped)
                    }
                    Err(reason) => {
                        record_error(frame, &reason, summary);
                        None
                    }
                }
            }
        };
        caller = this;
    }
    if !touched {
        // Nothing of ours here; still undo markers left by an earlier run.
        if had_raw {
            container.remove("raw_stacktrace");
            container.insert("stacktrace".to_owned(), raw);
        } else if let Some(frames_out) = container
            .get_mut("stacktrace")
            .and_then(|s| s.get_mut("frames"))
        {
            *frames_out = Value::Array(raw_frames);
        }
        return;
    }
    let mut stacktrace = raw.clone();
    if let Some(obj) = stacktrace.as_object_mut() {
        obj.insert("frames".to_owned(), Value::Array(frames));
    }
    container.insert("stacktrace".to_owned(), stacktrace);
    if mapped_any {
        container.insert("raw_stacktrace".to_owned(), raw);
    } else {
        container.remove("raw_stacktrace");
    }
}

fn record_error(frame: &mut Value, reason: &Unmapped, summary: &mut Summary) {
    set_data(frame, "symbolication_error", reason_json(reason));
    summary.unmapped += 1;
    *summary.reasons.entry(reason.code().to_owned()).or_default() += 1;
}

/// Tries the keys in order; the first key's reason is reported when all fail (the debug id's
/// reason is more telling than the URL fallback's).
fn map_frame(
    frame: &Value,
    keys: &[MapKey],
    maps: &dyn Fn(&MapKey) -> MapLookup,
) -> Result<(MappedFrame, &'static str), Unmapped> {
    let Some(line) = u32_field(frame, "lineno").filter(|&l| l > 0) else {
        return Err(Unmapped::NoLineNumber);
    };
    let col = u32_field(frame, "colno").unwrap_or(0);
    let function = frame.get("function").and_then(Value::as_str);
    let mut first_error = None;
    for key in keys {
        let how = match key {
            MapKey::DebugId(_) => "debug_id",
            MapKey::ReleaseUrl { .. } => "release",
        };
        let result = match maps(key) {
            MapLookup::Found(map) => map.lookup_with(&LookupInput {
                line,
                col,
                minified_function: function,
                minified_source: None,
            }),
            MapLookup::Missing(reason) => Err(reason),
        };
        match result {
            Ok(mapped) => return Ok((mapped, how)),
            Err(reason) => {
                first_error.get_or_insert(reason);
            }
        }
    }
    Err(first_error.unwrap_or(Unmapped::NoDebugIdOrRelease))
}

fn is_vendor(source: &str) -> bool {
    source.contains("node_modules/") || source.starts_with("webpack:///~/")
}

fn rewrite(
    frame: &mut Value,
    mapped: &MappedFrame,
    how: &'static str,
    caller: Option<&MappedFrame>,
    summary: &mut Summary,
) {
    let Some(obj) = frame.as_object_mut() else {
        return;
    };
    obj.insert("abs_path".to_owned(), json!(mapped.abs_path));
    obj.insert("filename".to_owned(), json!(mapped.filename));
    obj.insert("lineno".to_owned(), json!(mapped.lineno));
    obj.insert("colno".to_owned(), json!(mapped.colno));
    let function = mapped
        .scope_name
        .as_deref()
        .or_else(|| caller.and_then(|c| c.token_name.as_deref()));
    if let Some(function) = function {
        obj.insert("function".to_owned(), json!(function));
    }
    match &mapped.context_line {
        Some(line) => {
            obj.insert("pre_context".to_owned(), json!(mapped.pre_context));
            obj.insert("context_line".to_owned(), json!(line));
            obj.insert("post_context".to_owned(), json!(mapped.post_context));
        }
        None => {
            // The SDK's context (if any) shows the minified line: wrong after mapping.
            for k in ["pre_context", "context_line", "post_context"] {
                obj.remove(k);
            }
        }
    }
    if is_vendor(&mapped.abs_path) {
        obj.insert("in_app".to_owned(), json!(false));
    }
    set_data(frame, "symbolicated", json!(true));
    set_data(frame, "resolved_with", json!(how));
    if let Some(warning) = &mapped.warning {
        set_data(frame, "symbolication_warning", reason_json(warning));
        *summary
            .warnings
            .entry(warning.code().to_owned())
            .or_default() += 1;
    }
    summary.mapped += 1;
}

#[cfg(test)]
mod tests;
