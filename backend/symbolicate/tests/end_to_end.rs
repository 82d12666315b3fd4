//! The path the digest will take, end to end on the real esbuild fixture: a sentry-cli-shaped
//! bundle is parsed, the event's plan is resolved against it (debug id, then release URL with
//! the minified file's map reference), maps go through the cache, and `apply` rewrites frames.

use std::collections::HashMap;
use std::sync::Arc;

use errorwatch_symbolicate::bundle::{ArtifactBundle, BundleLimits, FileKind, build_bundle};
use errorwatch_symbolicate::cache::MapCache;
use errorwatch_symbolicate::map::{ParsedMap, Unmapped};
use errorwatch_symbolicate::stacktrace::{MapKey, MapLookup, apply, plan};
use serde_json::{Value, json};

const ID: &str = "d91e72dc-6111-55ed-a674-559564fab7e1";

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/out/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bundle() -> ArtifactBundle {
    let debug_js = fixture("debugid/app.min.js");
    let debug_map = fixture("debugid/app.min.js.map");
    let js = fixture("content/app.min.js");
    let map = fixture("content/app.min.js.map");
    let bytes = build_bundle(
        &[
            (
                "~/debug/app.min.js",
                FileKind::MinifiedSource,
                &[("debug-id", ID), ("sourcemap", "app.min.js.map")],
                &debug_js,
            ),
            (
                "~/debug/app.min.js.map",
                FileKind::SourceMap,
                &[("debug-id", ID)],
                &debug_map,
            ),
            // Release upload without debug ids: found through sourceMappingURL.
            ("~/static/app.min.js", FileKind::MinifiedSource, &[], &js),
            ("~/static/app.min.js.map", FileKind::SourceMap, &[], &map),
        ],
        &[("release", "web@1.0.0")],
    );
    ArtifactBundle::parse(&bytes, &BundleLimits::default()).expect("bundle parses")
}

/// Resolves a key the way a store would, with the minified source attached for scope names.
fn resolve(bundle: &ArtifactBundle, key: &MapKey) -> MapLookup {
    let (minified, map_bytes) = match key {
        MapKey::DebugId(id) => {
            let Some(map) = bundle.file_by_debug_id(*id, &FileKind::SourceMap) else {
                return MapLookup::Missing(Unmapped::NoMapForDebugId(*id));
            };
            let minified = bundle.file_by_debug_id(*id, &FileKind::MinifiedSource);
            (minified, map.contents().to_vec())
        }
        MapKey::ReleaseUrl { candidates } => {
            let Some(minified) = candidates.iter().find_map(|c| bundle.file_by_url(c)) else {
                return MapLookup::Missing(Unmapped::NoMapForUrl(candidates[0].clone()));
            };
            let Some(map) = bundle.sourcemap_for(minified) else {
                return MapLookup::Missing(Unmapped::NoSourceMapReference(minified.url.clone()));
            };
            (Some(minified), map)
        }
    };
    match ParsedMap::parse(&map_bytes) {
        Ok(mut map) => {
            if let Some(text) = minified.and_then(|m| m.text()) {
                map.attach_minified_source(text);
            }
            MapLookup::Found(Arc::new(map))
        }
        Err(e) => MapLookup::Missing(Unmapped::InvalidMap(e.to_string())),
    }
}

fn frame(url: &str, function: &str, line: u32, col: u32) -> Value {
    json!({"abs_path": url, "function": function, "lineno": line, "colno": col, "in_app": true})
}

#[test]
fn a_mixed_event_is_symbolicated_from_a_bundle_through_the_cache() {
    let bundle = bundle();
    let debug_url = "https://app.example.com/debug/app.min.js";
    let release_url = "https://app.example.com/static/app.min.js?v=9";
    let mut event = json!({
        "platform": "javascript",
        "release": "web@1.0.0",
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": debug_url, "debug_id": ID}]},
        "exception": {"values": [{
            "type": "TypeError",
            "stacktrace": {"frames": [
                frame(release_url, "t.total", 1, 339),
                frame(release_url, "a", 1, 116),
            ]},
        }, {
            "type": "Error",
            "stacktrace": {"frames": [
                frame(debug_url, "i", 3, 541),
                frame(debug_url, "t.total", 3, 339),
                frame(debug_url, "a", 3, 116),
                frame("https://app.example.com/other.js", "z", 1, 1),
            ]},
        }]},
    });

    let keys = plan(&event);
    assert_eq!(keys.len(), 4, "{keys:?}");
    let cache: MapCache<MapKey> = MapCache::new(64 << 20);
    let resolved: HashMap<MapKey, MapLookup> = keys
        .iter()
        .map(|key| {
            let lookup = cache.get(key).unwrap_or_else(|| {
                let lookup = resolve(&bundle, key);
                match &lookup {
                    MapLookup::Found(map) => {
                        cache.insert(key.clone(), map.clone());
                    }
                    MapLookup::Missing(reason) => cache.insert_missing(key.clone(), reason.clone()),
                }
                lookup
            });
            (key.clone(), lookup)
        })
        .collect();
    let summary = apply(&mut event, &|key| resolved[key].clone());
    assert_eq!((summary.mapped, summary.unmapped), (5, 1));
    assert_eq!(summary.reasons.get("missing_sourcemap_for_url"), Some(&1));
    assert_eq!(cache.stats().entries, 4);

    let first = &event["exception"]["values"][0]["stacktrace"]["frames"];
    assert_eq!(first[1]["filename"], "src/util.js");
    assert_eq!(first[1]["function"], "parseAmount");
    assert_eq!(first[1]["data"]["resolved_with"], "release");
    let second = &event["exception"]["values"][1]["stacktrace"]["frames"];
    assert_eq!(second[0]["function"], "main");
    assert_eq!(
        (second[2]["lineno"].as_u64(), second[2]["colno"].as_u64()),
        (Some(10), Some(11))
    );
    assert_eq!(second[2]["data"]["resolved_with"], "debug_id");
    assert_eq!(
        second[3]["data"]["symbolication_error"]["code"],
        "missing_sourcemap_for_url"
    );
    assert_eq!(
        event["exception"]["values"][1]["raw_stacktrace"]["frames"][2]["colno"],
        116
    );
}
