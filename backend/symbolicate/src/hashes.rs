//! Content hashes in bundle file names, replaced by a fixed marker for grouping without maps:
//! `app-3f9a1c.js` and `app-77e0b2.js` are the same file of two builds, and must not split an
//! issue.
//!
//! Recognised, per path segment and per `.`-separated part (the last part, the extension, is
//! never touched; a query or fragment is kept as it is):
//! - hex, as a whole part or after the last `-`/`_`/`~`: 6–64 of `[0-9a-f]` with at least one
//!   digit and one letter, or 16+ of them (webpack `[contenthash]` is 20, `[hash:8]` 8; CRA
//!   `main.8c2e1f.chunk.js`);
//! - esbuild / Vite ≤4 uppercase base32: exactly 8 of `[A-Z2-7]`, or 8 of `[A-Z0-9]` with a
//!   digit and a letter (`chunk-ABCD1234.js`, `chunk-5JZQY2XK.js`);
//! - Vite 5 / Rollup base64url: exactly 8 of `[A-Za-z0-9_-]` after the last `-` (the hash may
//!   itself contain `-` or `_`), with upper- and lower-case letters and a digit, `_` or `-`, or
//!   with at least four case changes (`index-B2x9_fQz.js`, `index-BxQzTkLm.js`).
//!
//! Invariants:
//! - Ordinary names and versions are kept: `jquery-3.7.1.min.js`, `app-v2.js`,
//!   `react-dom.production.min.js`, `app-20240101.js` (digits only), `use-Settings.js`.
//! - Known trade-off: an 8-letter all-uppercase word after `-` (`chunk-FEATURES.js`) looks like
//!   an esbuild hash and is replaced; a hash-free name never gains a marker otherwise.
//! - Unchanged input is returned borrowed.

use std::borrow::Cow;

/// What a hash is replaced by.
pub const HASH_MARKER: &str = "<hash>";

/// `filename` with content hashes replaced by [`HASH_MARKER`] (see the module docs).
pub fn strip_content_hash(filename: &str) -> Cow<'_, str> {
    let split = filename.find(['?', '#']).unwrap_or(filename.len());
    let (path, tail) = filename.split_at(split);
    let mut changed = false;
    let segments: Vec<Cow<'_, str>> = path
        .split('/')
        .map(|segment| {
            let s = strip_segment(segment);
            changed |= matches!(s, Cow::Owned(_));
            s
        })
        .collect();
    if !changed {
        return Cow::Borrowed(filename);
    }
    Cow::Owned(segments.join("/") + tail)
}

fn strip_segment(segment: &str) -> Cow<'_, str> {
    let parts: Vec<&str> = segment.split('.').collect();
    // The last part is the extension when there is more than one part.
    let stem_parts = if parts.len() > 1 { parts.len() - 1 } else { 1 };
    let mut changed = false;
    let out: Vec<Cow<'_, str>> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i >= stem_parts {
                return Cow::Borrowed(*part);
            }
            let s = strip_part(part);
            changed |= matches!(s, Cow::Owned(_));
            s
        })
        .collect();
    if changed {
        Cow::Owned(out.join("."))
    } else {
        Cow::Borrowed(segment)
    }
}

fn strip_part(part: &str) -> Cow<'_, str> {
    if is_hex_hash(part) || is_base32_hash(part) {
        return Cow::Owned(HASH_MARKER.to_owned());
    }
    // Vite 5: `name-XXXXXXXX`, the 8 characters may contain `-` and `_`.
    let b = part.as_bytes();
    if b.len() > 9 && b[b.len() - 9] == b'-' {
        let (name, hash) = part.split_at(part.len() - 8);
        if is_base64url_hash(hash) || is_hex_hash(hash) || is_base32_hash(hash) {
            return Cow::Owned(format!("{name}{HASH_MARKER}"));
        }
    }
    if let Some(i) = part.rfind(['-', '_', '~']) {
        let (name, hash) = part.split_at(i + 1);
        if !name.is_empty() && (is_hex_hash(hash) || is_base32_hash(hash)) {
            return Cow::Owned(format!("{name}{HASH_MARKER}"));
        }
    }
    Cow::Borrowed(part)
}

fn is_hex_hash(t: &str) -> bool {
    let all_hex = t
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !all_hex || !(6..=64).contains(&t.len()) {
        return false;
    }
    let digit = t.bytes().any(|b| b.is_ascii_digit());
    let letter = t.bytes().any(|b| b.is_ascii_lowercase());
    (digit && letter) || t.len() >= 16
}

fn is_base32_hash(t: &str) -> bool {
    if t.len() != 8 {
        return false;
    }
    let base32 = t
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    let upper_alnum = t
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let digit = t.bytes().any(|b| b.is_ascii_digit());
    let letter = t.bytes().any(|b| b.is_ascii_uppercase());
    base32 && letter || upper_alnum && digit && letter
}

fn is_base64url_hash(t: &str) -> bool {
    if t.len() != 8
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return false;
    }
    let upper = t.bytes().any(|b| b.is_ascii_uppercase());
    let lower = t.bytes().any(|b| b.is_ascii_lowercase());
    let other = t
        .bytes()
        .any(|b| b.is_ascii_digit() || b == b'_' || b == b'-');
    let letters: Vec<bool> = t
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .map(|b| b.is_ascii_uppercase())
        .collect();
    let case_changes = letters.windows(2).filter(|w| w[0] != w[1]).count();
    upper && lower && (other || case_changes >= 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: &str) -> String {
        strip_content_hash(f).into_owned()
    }

    #[test]
    fn hashes_are_replaced() {
        for (input, expected) in [
            ("app-3f9a1c.js", "app-<hash>.js"),
            ("main.8c2e1f.chunk.js", "main.<hash>.chunk.js"),
            ("app.3f9a1c2b.min.js", "app.<hash>.min.js"),
            ("chunk-ABCD1234.js", "chunk-<hash>.js"),
            ("chunk-5JZQY2XK.js", "chunk-<hash>.js"),
            ("chunk-QWERTYUI.js", "chunk-<hash>.js"),
            ("index-B2x9_fQz.js", "index-<hash>.js"),
            ("index-Dk3j-R9a.js", "index-<hash>.js"),
            ("index-BxQzTkLm.js", "index-<hash>.js"),
            ("vendor-a_b-c9Zq.js", "vendor-<hash>.js"),
            ("main.4b1a2c3d4e5f6a7b8c9d.js", "main.<hash>.js"),
            ("runtime~main.1234abcd.js", "runtime~main.<hash>.js"),
            ("vendors~main~3f9a1c2b.js", "vendors~main~<hash>.js"),
            ("2.a1b2c3d4.chunk.js", "2.<hash>.chunk.js"),
            ("3f9a1c2b.js", "<hash>.js"),
            ("page_0123456789abcdef0123.js", "page_<hash>.js"),
            ("app.3f9a1c2b.js.map", "app.<hash>.js.map"),
            // webpack [contenthash] (20 hex), also all digits.
            ("main.12345678901234567890.js", "main.<hash>.js"),
            ("main.d41d8cd98f00b204e980.js", "main.<hash>.js"),
        ] {
            assert_eq!(s(input), expected, "{input}");
        }
    }

    #[test]
    fn paths_queries_and_urls() {
        assert_eq!(
            s("https://cdn.example.com/static/js/main.8c2e1f.chunk.js?v=1#x"),
            "https://cdn.example.com/static/js/main.<hash>.chunk.js?v=1#x"
        );
        assert_eq!(s("~/assets/index-B2x9_fQz.js"), "~/assets/index-<hash>.js");
        assert_eq!(
            s("app:///dist/chunk-ABCD1234.js"),
            "app:///dist/chunk-<hash>.js"
        );
        assert_eq!(
            s("/_next/static/chunks/pages/_app-3f9a1c2b4d5e6f70.js"),
            "/_next/static/chunks/pages/_app-<hash>.js"
        );
        assert_eq!(s("/static/3f9a1c2b/app.js"), "/static/<hash>/app.js");
    }

    #[test]
    fn ordinary_names_and_versions_are_kept() {
        for name in [
            "jquery-3.7.1.min.js",
            "app-v2.js",
            "react-dom.production.min.js",
            "app.js",
            "app-20240101.js",
            "app-123456.js",
            "bundle.esm.js",
            "polyfill-es2015.js",
            "lodash-4.17.21.js",
            "app-deadbeef.js",
            "app-facade.js",
            "use-Settings.js",
            "useStore.js",
            "app-MyPage.js",
            "vendor~main.js",
            "chunk-README.js",
            "chunk-ABCDEFG.js",
            "chunk-abcd1234-ext.js",
            "src/components/Button.tsx",
            "webpack:///./src/app.js",
            "node_modules/@babel/runtime/helpers/esm/defineProperty.js",
            "https://cdn.example.com/js/app.js?v=3f9a1c2b",
            "/usr/src/app/index.mjs",
            "",
            ".",
            "a..b.js",
            "-.js",
            "-12345678.js",
        ] {
            assert_eq!(s(name), name, "{name}");
            assert!(
                matches!(strip_content_hash(name), Cow::Borrowed(_)),
                "{name}"
            );
        }
    }

    #[test]
    fn two_builds_group_together() {
        assert_eq!(s("app-3f9a1c.js"), s("app-77e0b2.js"));
        assert_eq!(s("index-B2x9_fQz.js"), s("index-Qq7_1aZr.js"));
        assert_eq!(s("chunk-5JZQY2XK.js"), s("chunk-ABCD1234.js"));
        assert_ne!(s("app-3f9a1c.js"), s("vendor-3f9a1c.js"));
    }

    #[test]
    fn odd_input_does_not_panic() {
        for weird in [
            "é-3f9a1c.js",
            "ä.ö.ü",
            "////",
            "-",
            "--------9",
            "a-\u{1F600}1234567.js",
        ] {
            let _ = strip_content_hash(weird);
        }
    }
}
