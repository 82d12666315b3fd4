//! `plan` and `apply` on events built from the real V8 stack of the esbuild fixture.

use std::collections::HashMap;

use super::*;
use crate::testdata;

const URL: &str = "https://cdn.example.com/static/app.min.js";
const DEBUG_ID: &str = "d91e72dc-6111-55ed-a674-559564fab7e1";

fn debug_id() -> Uuid {
    DEBUG_ID.parse().expect("uuid")
}

fn map(rel: &str) -> Arc<ParsedMap> {
    Arc::new(ParsedMap::parse(&testdata::bytes(rel)).expect("map"))
}

/// The V8 stack as an SDK sends it: oldest frame first, `line_offset` added to every line
/// (2 for the debug-id-injected file).
fn frames(line_offset: u32) -> Vec<Value> {
    testdata::v8_stack()
        .into_iter()
        .rev()
        .map(|(function, line, col)| {
            let mut f = json!({
                "abs_path": URL, "filename": "/static/app.min.js",
                "lineno": line + line_offset, "colno": col, "in_app": true,
                "context_line": "(()=>{function n(e){...",
            });
            if let Some(function) = function {
                f["function"] = json!(function);
            }
            f
        })
        .collect()
}

fn event(frames: Vec<Value>, extra: Value) -> Value {
    let mut event = json!({
        "platform": "javascript",
        "exception": {"values": [{
            "type": "TypeError", "value": "not a number: oops",
            "stacktrace": {"frames": frames},
        }]},
    });
    if let (Some(e), Some(x)) = (event.as_object_mut(), extra.as_object()) {
        e.extend(x.clone());
    }
    event
}

fn debug_meta() -> Value {
    json!({"debug_meta": {"images": [
        {"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID},
        {"type": "macho", "code_file": "x", "debug_id": "00000000-0000-0000-0000-000000000001"},
    ]}})
}

fn lookup_table(entries: Vec<(MapKey, Arc<ParsedMap>)>) -> impl Fn(&MapKey) -> MapLookup {
    let table: HashMap<MapKey, Arc<ParsedMap>> = entries.into_iter().collect();
    move |key: &MapKey| match table.get(key) {
        Some(map) => MapLookup::Found(map.clone()),
        None => MapLookup::Missing(match key {
            MapKey::DebugId(id) => Unmapped::NoMapForDebugId(*id),
            MapKey::ReleaseUrl { candidates } => {
                Unmapped::NoMapForUrl(candidates.first().cloned().unwrap_or_default())
            }
        }),
    }
}

fn stack(event: &Value) -> &Vec<Value> {
    event["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .expect("frames")
}

fn positions(event: &Value) -> Vec<(String, u64, u64, Option<String>)> {
    stack(event)
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap_or_default().to_owned(),
                f["lineno"].as_u64().unwrap_or_default(),
                f["colno"].as_u64().unwrap_or_default(),
                f["function"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn p(
    file: &str,
    line: u64,
    col: u64,
    function: Option<&str>,
) -> (String, u64, u64, Option<String>) {
    (file.to_owned(), line, col, function.map(str::to_owned))
}

fn url_key() -> MapKey {
    MapKey::ReleaseUrl {
        candidates: vec![URL.to_owned(), "~/static/app.min.js".to_owned()],
    }
}

#[test]
fn plan_lists_debug_id_then_release_keys_once() {
    let e = event(frames(2), debug_meta());
    assert_eq!(plan(&e), [MapKey::DebugId(debug_id())]);

    let mut extra = debug_meta();
    extra["release"] = json!("web@1.2.3");
    let e = event(frames(2), extra);
    assert_eq!(plan(&e), [MapKey::DebugId(debug_id()), url_key()]);

    let e = event(frames(0), json!({"release": "web@1.2.3"}));
    assert_eq!(plan(&e), [url_key()]);
}

#[test]
fn plan_ignores_undefined_release_other_platforms_and_native_frames() {
    let e = event(frames(0), json!({"release": "undefined"}));
    assert!(plan(&e).is_empty());
    let e = event(frames(0), json!({"release": "1.0", "platform": "python"}));
    assert!(plan(&e).is_empty());
    // A javascript frame inside a non-javascript event is still ours.
    let mut f = frames(0);
    f[0]["platform"] = json!("javascript");
    let e = event(f, json!({"release": "1.0", "platform": "other"}));
    assert_eq!(plan(&e), [url_key()]);
    let native = vec![
        json!({"abs_path": "node:internal/modules/cjs/loader", "lineno": 1, "colno": 1}),
        json!({"filename": "<anonymous>", "lineno": 1}),
        json!({"abs_path": "https://cdn.example.com/index.html", "lineno": 3}),
    ];
    assert!(plan(&event(native, json!({"release": "1.0"}))).is_empty());
}

#[test]
fn debug_id_event_maps_every_frame_with_caller_names() {
    let mut e = event(frames(2), debug_meta());
    let summary = apply(
        &mut e,
        &lookup_table(vec![(
            MapKey::DebugId(debug_id()),
            map("debugid/app.min.js.map"),
        )]),
    );
    assert_eq!(summary.mapped, 5);
    assert_eq!(summary.unmapped, 0);
    assert_eq!(
        positions(&e),
        [
            p("src/app.js", 34, 6, Some("Object.<anonymous>")),
            p("src/app.js", 34, 1, None),
            // `i` is named by its caller's call site `main()`.
            p("src/app.js", 31, 19, Some("main")),
            // A class method: the call site `e.total()` has no name, the SDK's name stays.
            p("src/app.js", 14, 14, Some("t.total")),
            // `a` is named by the call site `parseAmount(item.price)` in total().
            p("src/util.js", 10, 11, Some("parseAmount")),
        ]
    );
    let top = &stack(&e)[4];
    assert_eq!(top["abs_path"], "../../src/util.js");
    assert_eq!(
        top["context_line"],
        "    throw new TypeError(\"not a number: \" + text);"
    );
    assert_eq!(top["pre_context"].as_array().map(Vec::len), Some(5));
    assert_eq!(top["post_context"], json!(["  }", "  return value;", "}"]));
    assert_eq!(
        top["data"],
        json!({"symbolicated": true, "resolved_with": "debug_id"})
    );
    assert_eq!(top["in_app"], true);
    // The SDK's frames are kept, as sent.
    let raw = &e["exception"]["values"][0]["raw_stacktrace"]["frames"];
    assert_eq!(raw, &json!(frames(2)));
}

#[test]
fn attached_minified_source_gives_scope_names() {
    let mut parsed = ParsedMap::parse(&testdata::bytes("content/app.min.js.map")).expect("map");
    parsed.attach_minified_source(&testdata::text("content/app.min.js"));
    let mut e = event(frames(0), json!({"release": "web@1"}));
    apply(&mut e, &lookup_table(vec![(url_key(), Arc::new(parsed))]));
    let names: Vec<_> = positions(&e).into_iter().map(|p| p.3).collect();
    assert_eq!(
        names,
        [
            Some("Object.<anonymous>".to_owned()),
            None,
            Some("main".to_owned()),
            Some("t.total".to_owned()),
            Some("parseAmount".to_owned()),
        ]
    );
    assert_eq!(stack(&e)[4]["data"]["resolved_with"], "release");
}

#[test]
fn debug_id_without_map_falls_back_to_the_release_and_reports_the_debug_id() {
    let mut extra = debug_meta();
    extra["release"] = json!("web@1");
    let mut e = event(frames(0), extra.clone());
    let summary = apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("content/app.min.js.map"))]),
    );
    assert_eq!(summary.mapped, 5);
    assert_eq!(stack(&e)[0]["data"]["resolved_with"], "release");

    let mut e = event(frames(0), extra);
    let summary = apply(&mut e, &lookup_table(vec![]));
    assert_eq!(summary.mapped, 0);
    assert_eq!(summary.unmapped, 5);
    assert_eq!(
        summary.reasons,
        BTreeMap::from([("missing_sourcemap_for_debug_id".to_owned(), 5)])
    );
    let err = &stack(&e)[0]["data"]["symbolication_error"];
    assert_eq!(err["code"], "missing_sourcemap_for_debug_id");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains(DEBUG_ID))
    );
    // Unmapped frames keep their minified position; nothing mapped, so no raw_stacktrace.
    assert_eq!(stack(&e)[4]["lineno"], 1);
    assert_eq!(stack(&e)[4]["colno"], 116);
    assert!(e["exception"]["values"][0].get("raw_stacktrace").is_none());
}

#[test]
fn mixed_stacks_map_what_they_can() {
    let mut f = frames(0);
    f.insert(
        0,
        json!({"abs_path": "node:internal/main", "function": "run", "lineno": 7, "colno": 3}),
    );
    f.insert(2, json!({"abs_path": "https://cdn.example.com/vendor.js", "function": "v", "lineno": 1, "colno": 50}));
    f.push(json!({"abs_path": URL, "function": "x"}));
    let mut e = event(f, json!({"release": "web@1"}));
    let summary = apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("content/app.min.js.map"))]),
    );
    assert_eq!((summary.mapped, summary.unmapped), (5, 2));
    assert_eq!(
        summary.reasons,
        BTreeMap::from([
            ("missing_sourcemap_for_url".to_owned(), 1),
            ("no_line_number".to_owned(), 1)
        ])
    );
    let frames = stack(&e);
    // The native frame is untouched, without any marker.
    assert_eq!(
        frames[0],
        json!({"abs_path": "node:internal/main", "function": "run", "lineno": 7, "colno": 3})
    );
    assert_eq!(frames[1]["filename"], "src/app.js");
    assert_eq!(frames[2]["abs_path"], "https://cdn.example.com/vendor.js");
    assert_eq!(frames[2]["lineno"], 1);
    assert_eq!(
        frames[2]["data"]["symbolication_error"]["code"],
        "missing_sourcemap_for_url"
    );
    assert_eq!(
        frames[7]["data"]["symbolication_error"]["code"],
        "no_line_number"
    );
    assert_eq!(frames[7]["function"], "x");
}

#[test]
fn no_debug_id_and_no_release_is_a_reason() {
    let mut e = event(frames(0), json!({"release": "undefined"}));
    let summary = apply(&mut e, &|_: &MapKey| panic!("no key expected"));
    assert_eq!(summary.unmapped, 5);
    assert_eq!(
        stack(&e)[0]["data"]["symbolication_error"]["code"],
        "no_debug_id_or_release"
    );
}

#[test]
fn applying_twice_is_applying_once_and_reprocessing_uses_the_raw_frames() {
    let table = lookup_table(vec![(url_key(), map("content/app.min.js.map"))]);
    let mut once = event(frames(0), json!({"release": "web@1"}));
    apply(&mut once, &table);
    let mut twice = once.clone();
    let summary = apply(&mut twice, &table);
    assert_eq!(summary.mapped, 5);
    assert_eq!(once, twice);

    // First without the map, then after the upload.
    let mut e = event(frames(0), json!({"release": "web@1"}));
    apply(&mut e, &lookup_table(vec![]));
    let summary = apply(&mut e, &table);
    assert_eq!(summary.mapped, 5);
    assert_eq!(e, once);
    // And back: the map is gone again, the raw frames come back (with the reason).
    let summary = apply(&mut e, &lookup_table(vec![]));
    assert_eq!(summary.unmapped, 5);
    assert!(e["exception"]["values"][0].get("raw_stacktrace").is_none());
    assert_eq!(stack(&e)[4]["colno"], 116);
    assert_eq!(stack(&e)[4]["context_line"], "(()=>{function n(e){...");
}

#[test]
fn a_different_map_on_reprocessing_starts_from_the_raw_frames() {
    let mut e = event(frames(0), json!({"release": "web@1"}));
    apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("content/app.min.js.map"))]),
    );
    // Reprocess with the indexed map (same first section): same result.
    let mut again = e.clone();
    apply(
        &mut again,
        &lookup_table(vec![(url_key(), map("indexed/both.min.js.map"))]),
    );
    assert_eq!(positions(&e), positions(&again));
}

#[test]
fn threads_and_the_top_level_stacktrace_are_mapped() {
    let mut e = json!({
        "platform": "node",
        "release": "web@1",
        "threads": {"values": [{"id": 1, "stacktrace": {"frames": frames(0)}}]},
        "stacktrace": {"frames": frames(0), "frames_omitted": null},
    });
    let summary = apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("content/app.min.js.map"))]),
    );
    assert_eq!(summary.mapped, 10);
    assert_eq!(
        e["threads"]["values"][0]["stacktrace"]["frames"][4]["lineno"],
        10
    );
    assert_eq!(
        e["threads"]["values"][0]["raw_stacktrace"]["frames"][4]["lineno"],
        1
    );
    assert_eq!(e["stacktrace"]["frames"][4]["filename"], "src/util.js");
    assert_eq!(e["raw_stacktrace"]["frames"][4]["colno"], 116);
    assert!(e["stacktrace"].get("frames_omitted").is_some());
    assert_eq!(plan(&e), [url_key()]);
}

#[test]
fn node_modules_sources_are_not_in_app() {
    let minified = testdata::text("content/app.min.js");
    let col = minified.find("new RangeError").expect("clamp's throw") as u64 + 1;
    let f =
        vec![json!({"abs_path": URL, "function": "s", "lineno": 1, "colno": col, "in_app": true})];
    let mut e = event(f, json!({"release": "web@1"}));
    apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("content/app.min.js.map"))]),
    );
    let frame = &stack(&e)[0];
    assert_eq!(frame["filename"], "src/node_modules/tiny-lib/index.js");
    assert_eq!(frame["lineno"], 3);
    assert_eq!(
        frame["context_line"],
        "    throw new RangeError(\"low above high\");"
    );
    assert_eq!(frame["in_app"], false);
}

#[test]
fn without_sources_content_the_minified_context_is_dropped_with_a_warning() {
    let mut e = event(frames(0), json!({"release": "web@1"}));
    let summary = apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("nocontent/app.min.js.map"))]),
    );
    assert_eq!(summary.mapped, 5);
    assert_eq!(
        summary.warnings,
        BTreeMap::from([("missing_sources_content".to_owned(), 5)])
    );
    let frame = &stack(&e)[4];
    assert_eq!(
        (frame["lineno"].as_u64(), frame["colno"].as_u64()),
        (Some(10), Some(11))
    );
    assert!(frame.get("context_line").is_none());
    assert_eq!(frame["data"]["symbolicated"], true);
    assert_eq!(
        frame["data"]["symbolication_warning"]["code"],
        "missing_sources_content"
    );
}

#[test]
fn an_invalid_map_and_a_missing_token_are_frame_reasons() {
    let mut f = frames(0);
    f[0]["lineno"] = json!(40);
    let mut e = event(f, json!({"release": "web@1"}));
    let summary = apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("content/app.min.js.map"))]),
    );
    assert_eq!((summary.mapped, summary.unmapped), (4, 1));
    assert_eq!(
        stack(&e)[0]["data"]["symbolication_error"]["code"],
        "no_mapping"
    );

    let mut e = event(frames(0), json!({"release": "web@1"}));
    let summary = apply(&mut e, &|_: &MapKey| {
        MapLookup::Missing(Unmapped::InvalidMap("eof".into()))
    });
    assert_eq!(
        summary.reasons,
        BTreeMap::from([("invalid_sourcemap".to_owned(), 5)])
    );
}

#[test]
fn user_data_on_frames_is_kept() {
    let mut f = frames(0);
    f[4]["data"] = json!({"orig_in_app": 1});
    let mut e = event(f, json!({"release": "web@1"}));
    apply(
        &mut e,
        &lookup_table(vec![(url_key(), map("content/app.min.js.map"))]),
    );
    assert_eq!(stack(&e)[4]["data"]["orig_in_app"], 1);
    assert_eq!(
        e["exception"]["values"][0]["raw_stacktrace"]["frames"][4]["data"],
        json!({"orig_in_app": 1})
    );
}

#[test]
fn odd_shapes_do_not_panic() {
    for mut e in [
        json!(null),
        json!([]),
        json!({"platform": "javascript", "exception": {"values": [null, 1, {"stacktrace": null}]}}),
        json!({"platform": "javascript", "exception": {"values": [{"stacktrace": {"frames": [null, 1, {"lineno": -1, "abs_path": URL}]}}]}, "release": "1"}),
        json!({"platform": "javascript", "stacktrace": {"frames": {}}, "raw_stacktrace": 3}),
        json!({"platform": "javascript", "debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": "nope"}]}}),
    ] {
        let _ = plan(&e);
        apply(&mut e, &|_: &MapKey| {
            MapLookup::Missing(Unmapped::Unavailable("x".into()))
        });
    }
}
