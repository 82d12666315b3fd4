//! Lookups in real esbuild maps (tests/fixtures/make.sh) at the positions V8 reported when the
//! minified bundle actually ran (tests/fixtures/out/content/stack.txt).

use super::*;
use crate::testdata;

fn parse(rel: &str) -> ParsedMap {
    ParsedMap::parse(&testdata::bytes(rel)).expect("fixture map parses")
}

fn minified() -> String {
    testdata::text("content/app.min.js")
}

/// The innermost frame: `at a (app.min.js:1:116)`, the `throw new TypeError` in parseAmount.
#[test]
fn throw_site_maps_to_the_original_line_column_and_context() {
    let map = parse("content/app.min.js.map");
    let frame = map.lookup(1, 116).expect("mapped");
    assert_eq!(frame.abs_path, "../../src/util.js");
    assert_eq!(frame.filename, "src/util.js");
    assert_eq!((frame.lineno, frame.colno), (10, 11));
    assert_eq!(
        frame.context_line.as_deref(),
        Some("    throw new TypeError(\"not a number: \" + text);")
    );
    assert_eq!(
        frame.pre_context,
        [
            "}",
            "",
            "export function parseAmount(text) {",
            "  const value = Number.parseInt(text, 10);",
            "  if (Number.isNaN(value)) {",
        ]
    );
    // util.js has 13 lines: only three follow line 10.
    assert_eq!(frame.post_context, ["  }", "  return value;", "}"]);
    assert_eq!(frame.warning, None);
    // Without the minified source there is no scope name, and `throw new` carries no name.
    assert_eq!(frame.scope_name, None);
    assert_eq!(frame.function, None);
}

#[test]
fn scope_names_come_from_the_minified_source() {
    let map = parse("content/app.min.js.map");
    let source = minified();
    let look = |line, col, f| {
        map.lookup_with(&LookupInput {
            line,
            col,
            minified_function: Some(f),
            minified_source: Some(&source),
        })
        .expect("mapped")
    };
    let a = look(1, 116, "a");
    assert_eq!(a.function.as_deref(), Some("parseAmount"));
    assert_eq!(a.scope_name.as_deref(), Some("parseAmount"));

    let main = look(1, 541, "i");
    assert_eq!(main.filename, "src/app.js");
    assert_eq!((main.lineno, main.colno), (31, 19));
    assert_eq!(main.scope_name.as_deref(), Some("main"));
    assert_eq!(
        main.context_line.as_deref(),
        Some("  return checkout.total();")
    );

    // A class method has no `function` keyword: no scope name; `function` falls back to the
    // token's name (the callee at the call site), which is why stacktrace::apply prefers the
    // caller's token instead.
    let total = look(1, 339, "t.total");
    assert_eq!((total.lineno, total.colno), (14, 14));
    assert_eq!(total.scope_name, None);
    assert_eq!(total.token_name.as_deref(), Some("parseAmount"));
    assert_eq!(total.function.as_deref(), Some("parseAmount"));
    assert_eq!(
        total.context_line.as_deref(),
        Some("      sum += parseAmount(item.price);")
    );
}

#[test]
fn attached_minified_source_is_used_and_counted() {
    let mut map = parse("content/app.min.js.map");
    let before = map.approx_bytes();
    map.attach_minified_source(&minified());
    assert!(map.approx_bytes() > before + minified().len());
    let frame = map
        .lookup_with(&LookupInput {
            line: 1,
            col: 116,
            minified_function: Some("a"),
            minified_source: None,
        })
        .expect("mapped");
    assert_eq!(frame.scope_name.as_deref(), Some("parseAmount"));
    // Attaching twice replaces, it does not double count.
    let once = map.approx_bytes();
    map.attach_minified_source(&minified());
    assert_eq!(map.approx_bytes(), once);
}

#[test]
fn every_real_v8_frame_maps() {
    let map = parse("content/app.min.js.map");
    let got: Vec<_> = testdata::v8_stack()
        .into_iter()
        .map(|(_, line, col)| {
            let f = map.lookup(line, col).expect("mapped");
            (f.filename, f.lineno, f.colno)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("src/util.js".to_owned(), 10, 11),
            ("src/app.js".to_owned(), 14, 14),
            ("src/app.js".to_owned(), 31, 19),
            ("src/app.js".to_owned(), 34, 1),
            ("src/app.js".to_owned(), 34, 6),
        ]
    );
}

#[test]
fn without_sources_content_the_position_is_still_returned_with_a_warning() {
    let map = parse("nocontent/app.min.js.map");
    let frame = map.lookup(1, 116).expect("mapped");
    assert_eq!(
        (frame.filename.as_str(), frame.lineno, frame.colno),
        ("src/util.js", 10, 11)
    );
    assert_eq!(frame.context_line, None);
    assert!(frame.pre_context.is_empty() && frame.post_context.is_empty());
    let warning = frame.warning.expect("warning");
    assert_eq!(warning.code(), "missing_sources_content");
    assert!(warning.message().contains("../../src/util.js"));
    // No sourcesContent is also less memory.
    assert!(map.approx_bytes() < parse("content/app.min.js.map").approx_bytes());
}

#[test]
fn null_sources_content_entries_are_tolerated_per_source() {
    let map = parse("nullcontent/app.min.js.map");
    let util = map.lookup(1, 116).expect("mapped");
    assert_eq!((util.lineno, util.colno), (10, 11));
    assert_eq!(util.context_line, None);
    assert_eq!(
        util.warning.as_ref().map(Unmapped::code),
        Some("missing_sources_content")
    );
    // app.js kept its text.
    let app = map.lookup(1, 541).expect("mapped");
    assert_eq!(
        app.context_line.as_deref(),
        Some("  return checkout.total();")
    );
    assert_eq!(app.warning, None);
}

#[test]
fn debug_id_injected_map_has_its_id_and_shifted_lines() {
    let map = parse("debugid/app.min.js.map");
    let expected: Uuid = "d91e72dc-6111-55ed-a674-559564fab7e1"
        .parse()
        .expect("uuid");
    assert_eq!(map.debug_id(), Some(expected));
    // sentry-cli prepended two lines (blank + the snippet); V8 then reports line 3.
    assert!(matches!(
        map.lookup(1, 116),
        Err(Unmapped::NoToken { line: 1, col: 116 })
    ));
    assert!(matches!(map.lookup(2, 10), Err(Unmapped::NoToken { .. })));
    let frame = map.lookup(3, 116).expect("mapped");
    assert_eq!(
        (frame.filename.as_str(), frame.lineno, frame.colno),
        ("src/util.js", 10, 11)
    );
    // The id in the minified file's comment is the same.
    assert!(
        testdata::text("debugid/app.min.js")
            .contains("//# debugId=d91e72dc-6111-55ed-a674-559564fab7e1")
    );
}

#[test]
fn legacy_snake_case_debug_id_is_read() {
    let json = r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA",
        "debug_id":"00000000-0000-0000-0000-0000000000ab"}"#;
    let map = ParsedMap::parse(json.as_bytes()).expect("parses");
    assert_eq!(map.debug_id().map(|u| u.as_u128()), Some(0xab));
    let none = ParsedMap::parse(br#"{"version":3,"sources":[],"names":[],"mappings":""}"#)
        .expect("parses");
    assert_eq!(none.debug_id(), None);
}

#[test]
fn indexed_map_sections_are_offset() {
    let map = parse("indexed/both.min.js.map");
    // Section 1 (line 1) is the app bundle.
    let a = map.lookup(1, 116).expect("mapped");
    assert_eq!(
        (a.filename.as_str(), a.lineno, a.colno),
        ("src/util.js", 10, 11)
    );
    let main = map.lookup(1, 541).expect("mapped");
    assert_eq!(
        (main.filename.as_str(), main.lineno, main.colno),
        ("src/app.js", 31, 19)
    );
    // Section 2 (line 2) is util.js minified alone:
    // `function o(e){return e.name.toUpperCase()}function a(t){...`
    let both = testdata::text("indexed/both.min.js");
    let line2 = both.lines().nth(1).expect("line 2");
    let col = line2.find(".toUpperCase").expect("call") as u32 + 1;
    let upper = map.lookup(2, col).expect("mapped");
    assert_eq!(upper.filename, "src/util.js");
    assert_eq!(upper.lineno, 4);
    assert_eq!(
        upper.context_line.as_deref(),
        Some("  return user.name.toUpperCase();")
    );
    assert!(matches!(map.lookup(3, 1), Err(Unmapped::NoToken { .. })));
}

#[test]
fn lookups_outside_the_mappings() {
    let map = parse("content/app.min.js.map");
    assert_eq!(map.lookup(0, 5), Err(Unmapped::NoLineNumber));
    // Line 2 is the sourceMappingURL comment: no token of its own, and the last token of line 1
    // must not leak into it.
    assert!(matches!(
        map.lookup(2, 5),
        Err(Unmapped::NoToken { line: 2, col: 5 })
    ));
    assert!(matches!(map.lookup(99, 1), Err(Unmapped::NoToken { .. })));
    // Column 0 (an SDK without columns) is treated as column 1.
    // (`(()=>{` has no token of its own, so both are unmapped; column 7 is the first token.)
    assert!(matches!(
        map.lookup(1, 0),
        Err(Unmapped::NoToken { line: 1, col: 0 })
    ));
    assert!(map.lookup(1, 1).is_err());
    assert!(map.lookup(1, 7).is_ok());
    assert!(map.lookup(1, u32::MAX).is_ok());
}

#[test]
fn invalid_inputs_are_errors() {
    assert!(matches!(
        ParsedMap::parse(b"not json"),
        Err(MapError::Invalid(_))
    ));
    assert!(matches!(ParsedMap::parse(b""), Err(MapError::Invalid(_))));
    let ram = [0xE5, 0xD1, 0x0B, 0xFB, 0, 0, 0, 0];
    let err = ParsedMap::parse(&ram).expect_err("ram bundle");
    assert_eq!(err, MapError::RamBundle);
    assert!(err.to_string().contains("RAM bundle"));
    // A section that points at another file cannot be flattened.
    let external = br#"{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"x.map"}]}"#;
    assert!(matches!(
        ParsedMap::parse(external),
        Err(MapError::Invalid(_))
    ));
    // The XSSI prefix is stripped.
    let prefixed =
        b")]}'\n{\"version\":3,\"sources\":[\"a.js\"],\"names\":[],\"mappings\":\"AAAA\"}";
    assert!(ParsedMap::parse(prefixed).is_ok());
}

#[test]
fn long_context_lines_are_clipped() {
    let long = "x".repeat(5000);
    let json = serde_json::json!({
        "version": 3, "sources": ["a.js"], "names": [], "mappings": "AAAA",
        "sourcesContent": [long],
    });
    let map = ParsedMap::parse(json.to_string().as_bytes()).expect("parses");
    let line = map
        .lookup(1, 1)
        .expect("mapped")
        .context_line
        .expect("line");
    assert!(line.chars().count() < MAX_CONTEXT_LINE_CHARS + 10);
    assert!(line.ends_with("{…}"));
}

#[test]
fn display_filenames() {
    for (source, shown) in [
        ("webpack:///./src/app.js", "src/app.js"),
        ("webpack://my-app/./src/app.js", "src/app.js"),
        (
            "webpack:///node_modules/react/index.js",
            "node_modules/react/index.js",
        ),
        ("../../src/util.js", "src/util.js"),
        ("./a.ts", "a.ts"),
        ("src/a.ts", "src/a.ts"),
        (
            "https://cdn.example.com/app.js",
            "https://cdn.example.com/app.js",
        ),
        ("./", "./"),
        ("", ""),
    ] {
        assert_eq!(display_filename(source), shown, "{source}");
    }
}

#[test]
fn minified_identifiers() {
    assert_eq!(minified_identifier("t.total"), Some("total"));
    assert_eq!(minified_identifier("new t"), Some("t"));
    assert_eq!(minified_identifier("async a"), Some("a"));
    assert_eq!(minified_identifier("Object.<anonymous>"), None);
    assert_eq!(minified_identifier(""), None);
}

#[test]
fn unmapped_codes_are_stable_and_messages_name_the_thing() {
    let id: Uuid = "d91e72dc-6111-55ed-a674-559564fab7e1"
        .parse()
        .expect("uuid");
    let cases = [
        (Unmapped::NoLineNumber, "no_line_number"),
        (Unmapped::NoToken { line: 3, col: 9 }, "no_mapping"),
        (Unmapped::InvalidMap("eof".into()), "invalid_sourcemap"),
        (
            Unmapped::NoMapForDebugId(id),
            "missing_sourcemap_for_debug_id",
        ),
        (
            Unmapped::NoMapForUrl("https://x/app.js".into()),
            "missing_sourcemap_for_url",
        ),
        (
            Unmapped::NoSourceMapReference("~/a.js".into()),
            "missing_sourcemap_reference",
        ),
        (Unmapped::NoDebugIdOrRelease, "no_debug_id_or_release"),
        (
            Unmapped::MapTooLarge {
                bytes: 10,
                limit: 5,
            },
            "sourcemap_too_large",
        ),
        (
            Unmapped::Unavailable("disk".into()),
            "sourcemap_unavailable",
        ),
    ];
    for (reason, code) in cases {
        assert_eq!(reason.code(), code);
        assert!(!reason.message().is_empty());
    }
    assert!(
        Unmapped::NoMapForDebugId(id)
            .message()
            .contains(&id.to_string())
    );
    assert!(
        Unmapped::NoToken { line: 3, col: 9 }
            .message()
            .contains("line 3, column 9")
    );
}

#[test]
fn an_indexed_map_whose_offsets_overflow_is_invalid_not_a_panic() {
    // Found by the `sourcemap_lookup` fuzz target (30-minute run, 2026-12-08): the sourcemap
    // crate's `flatten` adds a section's column offset to token columns unchecked.
    let bytes = testdata::bytes("../fuzz/flatten-overflow.map");
    assert!(matches!(
        ParsedMap::parse(&bytes),
        Err(MapError::Invalid(_))
    ));
}

#[test]
fn remembered_scope_names_are_the_ones_found() {
    let mut map = parse("content/app.min.js.map");
    map.attach_minified_source(&minified());
    let look = |line, col, function| {
        map.lookup_with(&LookupInput {
            line,
            col,
            minified_function: Some(function),
            minified_source: None,
        })
        .expect("mapped")
        .scope_name
    };
    let stack = testdata::v8_stack();
    let first: Vec<_> = stack
        .iter()
        .map(|(f, line, col)| look(*line, *col, f.as_deref().unwrap_or("?")))
        .collect();
    let again: Vec<_> = stack
        .iter()
        .map(|(f, line, col)| look(*line, *col, f.as_deref().unwrap_or("?")))
        .collect();
    assert_eq!(first, again);
    assert_eq!(first[0].as_deref(), Some("parseAmount"));
}
