//! Finding a map without a debug id: the release-file URLs to try for a frame, the minified
//! file's `sourceMappingURL` reference, and resolving that reference (relative URL or inline
//! `data:` map).
//!
//! Invariants:
//! - [`release_file_candidates`] follows symbolicator's `get_release_file_candidate_urls` order:
//!   the absolute URL without fragment; without query; `~` + path with query; `~` + path
//!   without query. Duplicates are skipped, the order is kept.
//! - [`sourcemap_reference`] takes the **last** reference in the file (bundlers append theirs
//!   after any that were inlined from dependencies) and accepts the deprecated `//@` form.
//! - Nothing here touches the network: a resolved URL is only a key to look up among uploads.

use base64::Engine as _;
use url::Url;

/// Where a minified file says its source map is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMapRef {
    /// A URL, already resolved against the minified file's `abs_path` when that is a URL.
    Url(String),
    /// The map's bytes, decoded from a `data:application/json[;charset=…];base64,` URL.
    Inline(Vec<u8>),
}

/// The release-file URLs under which the file at `abs_path` may have been uploaded, best first.
///
/// `https://cdn.example.com/static/app.js?v=3#x` gives
/// `https://cdn.example.com/static/app.js?v=3`, `https://cdn.example.com/static/app.js`,
/// `~/static/app.js?v=3`, `~/static/app.js`. A `~/…` path is its own candidate (and the same
/// without query). Anything that is neither (a bare file name) yields itself only.
pub fn release_file_candidates(abs_path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(4);
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let abs_path = abs_path.trim();
    if abs_path.starts_with('~') {
        let no_fragment = abs_path.split('#').next().unwrap_or(abs_path);
        push(no_fragment.to_owned());
        push(
            no_fragment
                .split('?')
                .next()
                .unwrap_or(no_fragment)
                .to_owned(),
        );
        return out;
    }
    match Url::parse(abs_path) {
        Ok(url) if url.has_host() || url.scheme() == "app" || url.scheme() == "file" => {
            let mut no_fragment = url.clone();
            no_fragment.set_fragment(None);
            push(no_fragment.to_string());
            let mut no_query = no_fragment.clone();
            no_query.set_query(None);
            push(no_query.to_string());
            let path = url.path();
            match url.query() {
                Some(query) => push(format!("~{path}?{query}")),
                None => push(format!("~{path}")),
            }
            push(format!("~{path}"));
        }
        _ if abs_path.starts_with('/') => {
            // A server-side path (Node without RewriteFrames): as sent, then relative to `~`.
            let no_query = abs_path.split(['?', '#']).next().unwrap_or(abs_path);
            push(no_query.to_owned());
            push(format!("~{no_query}"));
        }
        _ => push(abs_path.to_owned()),
    }
    out
}

/// The last `//# sourceMappingURL=` (or deprecated `//@ sourceMappingURL=`) in a minified
/// file, also inside a `/*# … */` comment (CSS style, emitted by some tools).
pub fn sourcemap_reference(minified_source: &str) -> Option<String> {
    minified_source.lines().rev().find_map(reference_on_line)
}

fn reference_on_line(line: &str) -> Option<String> {
    let line = line.trim();
    let rest = line
        .strip_prefix("//#")
        .or_else(|| line.strip_prefix("//@"))
        .or_else(|| line.strip_prefix("/*#"))
        .or_else(|| line.strip_prefix("/*@"))?;
    let value = rest.trim_start().strip_prefix("sourceMappingURL=")?;
    let value = value.trim_end().trim_end_matches("*/").trim();
    // A reference is one token; anything after whitespace is not part of it.
    let value = value.split_whitespace().next()?;
    Some(value.to_owned())
}

/// Resolves a reference (from [`sourcemap_reference`] or a `Sourcemap` header) found in the
/// file at `abs_path`: inline `data:` maps are decoded; URLs are joined to `abs_path` when it
/// is a URL; a relative reference next to a `~/…` path is joined as a path.
/// A `data:` URL that is not valid base64 JSON stays a `Url` (it then finds nothing).
pub fn resolve_reference(abs_path: &str, reference: &str) -> SourceMapRef {
    let reference = reference.trim();
    if let Some(bytes) = decode_data_url(reference) {
        return SourceMapRef::Inline(bytes);
    }
    if let Ok(url) = Url::parse(reference) {
        return SourceMapRef::Url(url.to_string());
    }
    if let Ok(base) = Url::parse(abs_path)
        && let Ok(joined) = base.join(reference)
    {
        return SourceMapRef::Url(joined.to_string());
    }
    if reference.starts_with('/') || reference.starts_with('~') {
        return SourceMapRef::Url(reference.to_owned());
    }
    // `~/dist/app.js` + `app.js.map` → `~/dist/app.js.map`.
    let dir = match abs_path.rfind('/') {
        Some(i) => &abs_path[..=i],
        None => "",
    };
    SourceMapRef::Url(normalize_dots(&format!("{dir}{reference}")))
}

/// `data:application/json;base64,…` and its charset variants, decoded.
fn decode_data_url(reference: &str) -> Option<Vec<u8>> {
    let rest = reference.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mut parts = meta.split(';').map(str::trim);
    let mime = parts.next()?.to_ascii_lowercase();
    if mime != "application/json" && mime != "text/plain" && !mime.is_empty() {
        return None;
    }
    let mut base64 = false;
    for part in parts {
        let part = part.to_ascii_lowercase();
        if part == "base64" {
            base64 = true;
        } else if !part.starts_with("charset=") {
            return None;
        }
    }
    if base64 {
        let data: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(data.trim_end_matches('='))
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(data.trim_end_matches('='))
            })
            .ok()
    } else {
        percent_decode(data)
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Removes `.` and `..` segments from a `/`-separated path (never above its first segment).
fn normalize_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "." => {}
            ".." if out.len() > 1 => {
                out.pop();
            }
            ".." => {}
            s => out.push(s),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_symbolicators_order() {
        assert_eq!(
            release_file_candidates("https://cdn.example.com/static/app.js?v=3#frag"),
            [
                "https://cdn.example.com/static/app.js?v=3",
                "https://cdn.example.com/static/app.js",
                "~/static/app.js?v=3",
                "~/static/app.js",
            ]
        );
    }

    #[test]
    fn candidates_without_query_skip_duplicates() {
        assert_eq!(
            release_file_candidates("https://cdn.example.com/app.min.js"),
            ["https://cdn.example.com/app.min.js", "~/app.min.js"]
        );
        assert_eq!(
            release_file_candidates("http://localhost:8080/a/b.js#x"),
            ["http://localhost:8080/a/b.js", "~/a/b.js"]
        );
    }

    #[test]
    fn candidates_for_app_tilde_and_paths() {
        assert_eq!(
            release_file_candidates("app:///dist/index.js"),
            ["app:///dist/index.js", "~/dist/index.js"]
        );
        assert_eq!(
            release_file_candidates("~/dist/app.js?x=1"),
            ["~/dist/app.js?x=1", "~/dist/app.js"]
        );
        assert_eq!(
            release_file_candidates("/srv/app/dist/index.js"),
            ["/srv/app/dist/index.js", "~/srv/app/dist/index.js"]
        );
        assert_eq!(release_file_candidates("app.js"), ["app.js"]);
        assert!(release_file_candidates("").is_empty());
    }

    #[test]
    fn the_last_reference_wins() {
        let src = "//# sourceMappingURL=dep.js.map\nvar a=1;\n//# sourceMappingURL=app.js.map\n";
        assert_eq!(sourcemap_reference(src).as_deref(), Some("app.js.map"));
        let old = "var a=1;\n//@ sourceMappingURL=old.map";
        assert_eq!(sourcemap_reference(old).as_deref(), Some("old.map"));
        let css = "a{}\n/*# sourceMappingURL=style.css.map */";
        assert_eq!(sourcemap_reference(css).as_deref(), Some("style.css.map"));
        assert_eq!(sourcemap_reference("var a = 1;"), None);
        assert_eq!(sourcemap_reference("//# sourceMappingURL="), None);
        // Windows line endings.
        let crlf = "var a=1;\r\n//# sourceMappingURL=app.js.map\r\n";
        assert_eq!(sourcemap_reference(crlf).as_deref(), Some("app.js.map"));
    }

    #[test]
    fn the_real_esbuild_bundle_names_its_map() {
        let src = crate::testdata::text("content/app.min.js");
        assert_eq!(sourcemap_reference(&src).as_deref(), Some("app.min.js.map"));
    }

    #[test]
    fn references_resolve_against_the_file() {
        let r = |abs: &str, reference: &str| resolve_reference(abs, reference);
        assert_eq!(
            r("https://cdn.example.com/static/js/app.js?v=1", "app.js.map"),
            SourceMapRef::Url("https://cdn.example.com/static/js/app.js.map".into())
        );
        assert_eq!(
            r(
                "https://cdn.example.com/static/js/app.js",
                "../maps/app.js.map"
            ),
            SourceMapRef::Url("https://cdn.example.com/static/maps/app.js.map".into())
        );
        assert_eq!(
            r(
                "https://cdn.example.com/static/js/app.js",
                "/maps/app.js.map"
            ),
            SourceMapRef::Url("https://cdn.example.com/maps/app.js.map".into())
        );
        assert_eq!(
            r(
                "https://a.example.com/app.js",
                "https://maps.example.com/app.js.map"
            ),
            SourceMapRef::Url("https://maps.example.com/app.js.map".into())
        );
        assert_eq!(
            r("~/dist/js/app.js", "app.js.map"),
            SourceMapRef::Url("~/dist/js/app.js.map".into())
        );
        assert_eq!(
            r("~/dist/js/app.js", "../maps/app.js.map"),
            SourceMapRef::Url("~/dist/maps/app.js.map".into())
        );
        assert_eq!(
            r("app.js", "app.js.map"),
            SourceMapRef::Url("app.js.map".into())
        );
    }

    #[test]
    fn inline_maps_are_decoded() {
        let json = br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        for prefix in [
            "data:application/json;base64,",
            "data:application/json;charset=utf-8;base64,",
            "data:application/json;charset=utf8;base64,",
            "data:application/json;charset=UTF-8;base64,",
        ] {
            let got = resolve_reference("https://x/app.js", &format!("{prefix}{b64}"));
            assert_eq!(got, SourceMapRef::Inline(json.to_vec()), "{prefix}");
        }
        // Unpadded base64 is accepted too.
        let unpadded = b64.trim_end_matches('=');
        assert_eq!(
            resolve_reference("x", &format!("data:application/json;base64,{unpadded}")),
            SourceMapRef::Inline(json.to_vec())
        );
        // Percent-encoded JSON without base64.
        assert_eq!(
            resolve_reference("x", "data:application/json,%7B%7D"),
            SourceMapRef::Inline(b"{}".to_vec())
        );
        // Not base64: stays a URL that matches nothing.
        assert!(matches!(
            resolve_reference("x", "data:application/json;base64,@@@"),
            SourceMapRef::Url(_)
        ));
        assert!(matches!(
            resolve_reference("x", "data:text/html;base64,AAAA"),
            SourceMapRef::Url(_)
        ));
    }

    #[test]
    fn an_inline_map_parses() {
        let json = crate::testdata::bytes("content/app.min.js.map");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&json);
        let reference = format!("data:application/json;charset=utf-8;base64,{b64}");
        let src = format!("var a=1;\n//# sourceMappingURL={reference}\n");
        let found = sourcemap_reference(&src).expect("reference");
        let SourceMapRef::Inline(bytes) = resolve_reference("https://x/app.js", &found) else {
            panic!("inline expected");
        };
        let map = crate::map::ParsedMap::parse(&bytes).expect("parses");
        assert_eq!(map.lookup(1, 116).map(|f| f.lineno), Ok(10));
    }
}
