//! Fixture access for unit tests: the esbuild outputs under `tests/fixtures/out/` (made by
//! `tests/fixtures/make.sh`) and the real V8 stack of the content bundle.

use std::path::PathBuf;

pub fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/out")
        .join(rel)
}

pub fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

pub fn text(rel: &str) -> String {
    String::from_utf8(bytes(rel)).expect("utf-8 fixture")
}

/// `(function, line, col)` of each frame of `content/stack.txt`, innermost first as V8 prints.
pub fn v8_stack() -> Vec<(Option<String>, u32, u32)> {
    text("content/stack.txt")
        .lines()
        .map(|l| {
            let l = l.trim().trim_start_matches("at ");
            let (function, location) = match l.split_once(" (") {
                Some((f, loc)) => (Some(f.to_owned()), loc.trim_end_matches(')')),
                None => (None, l),
            };
            let mut parts = location.rsplitn(3, ':');
            let col = parts.next().and_then(|c| c.parse().ok()).expect("col");
            let line = parts.next().and_then(|c| c.parse().ok()).expect("line");
            (function, line, col)
        })
        .collect()
}
