//! Fuzzes source-map parsing, lookup and event rewriting: the first 4 bytes are a (line, col)
//! pair (u16 LE each), the rest a source map. A map that parses is looked up at that position
//! (also with the map's own bytes as the "minified source", for the scope-name walk) and
//! applied to a small javascript event twice (the second run must equal the first: apply is
//! idempotent). The reference helpers and the hash stripper get the same bytes as text.

#![no_main]

use std::sync::Arc;

use errorwatch_symbolicate::candidates::{resolve_reference, sourcemap_reference};
use errorwatch_symbolicate::hashes::strip_content_hash;
use errorwatch_symbolicate::map::{LookupInput, ParsedMap};
use errorwatch_symbolicate::stacktrace::{MapKey, MapLookup, apply, plan};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Some((pos, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let line = u32::from(u16::from_le_bytes([pos[0], pos[1]]));
    let col = u32::from(u16::from_le_bytes([pos[2], pos[3]]));
    let text = String::from_utf8_lossy(rest);
    if let Some(reference) = sourcemap_reference(&text) {
        let _ = resolve_reference("https://cdn.example.com/js/app.js", &reference);
    }
    let _ = strip_content_hash(&text);

    let Ok(mut map) = ParsedMap::parse(rest) else {
        return;
    };
    let _ = (map.debug_id(), map.approx_bytes());
    let _ = map.lookup(line, col);
    let _ = map.lookup_with(&LookupInput {
        line,
        col,
        minified_function: Some("a.b"),
        minified_source: Some(&text),
    });
    map.attach_minified_source(&text);
    let map = Arc::new(map);

    let frame = |l: u32, c: u32, f: &str| {
        json!({"abs_path": "https://cdn.example.com/js/app.js", "lineno": l, "colno": c, "function": f})
    };
    let mut event = json!({
        "platform": "javascript",
        "release": "1.0",
        "exception": {"values": [{"stacktrace": {"frames": [
            frame(line, col, "a"),
            frame(line.saturating_add(1), col / 2, "t.b"),
            {"abs_path": "https://cdn.example.com/js/app.js", "function": "nolines"},
        ]}}]},
    });
    let keys = plan(&event);
    assert!(keys.iter().all(|k| matches!(k, MapKey::ReleaseUrl { .. })));
    let lookup = |_: &MapKey| MapLookup::Found(map.clone());
    let first = apply(&mut event, &lookup);
    let once = event.clone();
    let second = apply(&mut event, &lookup);
    assert_eq!(first, second);
    assert_eq!(once, event);
});
