use std::io::Write;

use zip::write::SimpleFileOptions;

use super::*;
use crate::testdata;

const ID: &str = "d91e72dc-6111-55ed-a674-559564fab7e1";

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(*name, options).expect("entry");
        zip.write_all(bytes).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

fn real_bundle() -> Vec<u8> {
    let js = testdata::bytes("debugid/app.min.js");
    let map = testdata::bytes("debugid/app.min.js.map");
    build_bundle(
        &[
            (
                "~/static/app.min.js",
                FileKind::MinifiedSource,
                &[("debug-id", ID), ("Sourcemap", "app.min.js.map")],
                &js,
            ),
            (
                "~/static/app.min.js.map",
                FileKind::SourceMap,
                &[("debug-id", ID)],
                &map,
            ),
        ],
        &[
            ("org", "acme"),
            ("project", "web"),
            ("release", "web@1.2.3"),
            ("dist", "7"),
            ("debug_id", "00000000-0000-0000-0000-0000000000ff"),
        ],
    )
}

#[test]
fn a_real_bundle_round_trips() {
    let bytes = real_bundle();
    assert_eq!(&bytes[..8], b"SYSB\x02\0\0\0");
    let bundle = ArtifactBundle::parse(&bytes, &BundleLimits::default()).expect("parses");
    assert_eq!(bundle.release(), Some("web@1.2.3"));
    assert_eq!(bundle.dist(), Some("7"));
    assert_eq!(bundle.org(), Some("acme"));
    assert_eq!(bundle.project(), Some("web"));
    assert_eq!(bundle.debug_id().map(|u| u.as_u128()), Some(0xff));
    assert_eq!(bundle.files().len(), 2);

    let id: Uuid = ID.parse().expect("uuid");
    let map_file = bundle
        .file_by_debug_id(id, &FileKind::SourceMap)
        .expect("map by debug id");
    assert_eq!(map_file.url, "~/static/app.min.js.map");
    assert_eq!(map_file.zip_path, "files/_/_/static/app.min.js.map");
    assert_eq!(
        bundle.contents(map_file),
        testdata::bytes("debugid/app.min.js.map")
    );
    let parsed = crate::map::ParsedMap::parse(map_file.contents()).expect("map parses");
    assert_eq!(parsed.debug_id(), Some(id));
    assert_eq!(parsed.lookup(3, 116).map(|f| f.lineno), Ok(10));

    let js = bundle.file_by_url("~/static/app.min.js").expect("minified");
    assert_eq!(js.kind, FileKind::MinifiedSource);
    assert_eq!(js.sourcemap_ref.as_deref(), Some("app.min.js.map"));
    assert_eq!(
        js.headers.get("sourcemap").map(String::as_str),
        Some("app.min.js.map")
    );
    assert_eq!(
        bundle.sourcemap_for(js).as_deref(),
        Some(map_file.contents())
    );
}

/// The entries of `bundle` copied into a zip of their own (offsets from its own start).
fn plain_zip(bundle: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bundle)).expect("zip");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        zip.raw_copy_file(archive.by_index_raw(i).expect("entry"))
            .expect("copy");
    }
    zip.finish().expect("finish").into_inner()
}

#[test]
fn the_zip_offsets_may_count_the_header_or_not() {
    // sentry-cli writes the zip after the header in one stream: the central directory's offset
    // (end record, 16 bytes in) counts the header's 8 bytes. Cutting the header off before
    // reading broke every real upload.
    let bytes = real_bundle();
    let end = bytes.len() - 22;
    let field = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(field(end), 0x0605_4b50, "end of central directory record");
    assert_eq!(field(end + 16) as usize, end - field(end + 12) as usize);

    let plain = plain_zip(&bytes);
    let mut appended = bytes[..8].to_vec();
    appended.extend_from_slice(&plain);
    for (layout, bytes) in [
        ("sentry-cli's", &bytes),
        ("a plain zip", &plain),
        ("a zip appended to the header", &appended),
    ] {
        let bundle = ArtifactBundle::parse(bytes, &BundleLimits::default())
            .unwrap_or_else(|e| panic!("{layout}: {e}"));
        assert_eq!(bundle.files().len(), 2, "{layout}");
        assert_eq!(bundle.release(), Some("web@1.2.3"), "{layout}");
    }
}

#[test]
fn headers_are_case_insensitive_and_source_mapping_url_is_the_fallback() {
    let js = b"var a=1;\n//# sourceMappingURL=../maps/a.js.map\n";
    let map = br#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}"#;
    let manifest = format!(
        r#"{{"files":{{
            "files/_/_/js/a.js":{{"type":"minified_source","url":"~/js/a.js","headers":{{"Debug-Id":"{ID}"}}}},
            "files/_/_/js/b.js":{{"type":"minified_source","url":"~/js/b.js","headers":{{"X-SourceMap":"b.js.map","debug-id":"garbage"}}}},
            "files/_/_/maps/a.js.map":{{"type":"source_map","url":"~/maps/a.js.map"}},
            "files/x":{{"type":"hermes_bytecode","url":"~/x"}}
        }},"release":"","note":42}}"#
    );
    let bytes = zip_of(&[
        ("manifest.json", manifest.as_bytes()),
        ("files/_/_/js/a.js", js),
        ("files/_/_/js/b.js", b"var b;"),
        ("files/_/_/maps/a.js.map", map),
        ("files/x", b""),
    ]);
    let bundle = ArtifactBundle::parse(&bytes, &BundleLimits::default()).expect("parses");
    let a = bundle.file_by_url("~/js/a.js").expect("a");
    assert_eq!(a.debug_id, ID.parse().ok());
    assert_eq!(a.headers.keys().collect::<Vec<_>>(), ["debug-id"]);
    assert_eq!(a.sourcemap_ref, None);
    assert_eq!(bundle.sourcemap_for(a).as_deref(), Some(&map[..]));
    let b = bundle.file_by_url("~/js/b.js").expect("b");
    assert_eq!(b.sourcemap_ref.as_deref(), Some("b.js.map"));
    assert_eq!(b.debug_id, None, "an unparsable debug id is ignored");
    assert_eq!(bundle.sourcemap_for(b), None, "b.js.map was not uploaded");
    assert_eq!(
        bundle.file_by_url("~/x").map(|f| &f.kind),
        Some(&FileKind::Other("hermes_bytecode".into()))
    );
    assert_eq!(bundle.release(), None, "empty attributes are absent");
    assert_eq!(
        bundle.attribute("note"),
        None,
        "non-string attributes are ignored"
    );
}

#[test]
fn user_facing_errors() {
    let limits = BundleLimits::default();
    let err = |bytes: &[u8]| ArtifactBundle::parse(bytes, &limits).expect_err("error");

    assert!(matches!(err(b"hello"), BundleError::NotAZip(_)));
    assert!(matches!(err(b"SYSB"), BundleError::NotAZip(_)));
    assert!(matches!(err(b""), BundleError::NotAZip(_)));
    let mut v3 = real_bundle();
    v3[4] = 3;
    assert_eq!(err(&v3), BundleError::UnsupportedVersion(3));

    assert_eq!(
        err(&zip_of(&[("files/a.js", b"x")])),
        BundleError::NoManifest
    );
    let e = err(&zip_of(&[("manifest.json", b"{not json")]));
    assert!(matches!(e, BundleError::ManifestInvalid(_)));
    assert!(e.to_string().contains("manifest.json is not valid"));
    let wrong_shape = br#"{"files":{"a":{"type":"source"}}}"#;
    assert!(matches!(
        err(&zip_of(&[("manifest.json", wrong_shape)])),
        BundleError::ManifestInvalid(_)
    ));

    let missing = br#"{"files":{"files/_/_/a.js":{"type":"source","url":"~/a.js"}}}"#;
    let e = err(&zip_of(&[("manifest.json", missing)]));
    assert_eq!(
        e,
        BundleError::FileMissing {
            path: "files/_/_/a.js".into(),
            url: "~/a.js".into()
        }
    );
    assert!(e.to_string().contains("~/a.js"));
    // An empty manifest is a valid, empty bundle.
    let empty =
        ArtifactBundle::parse(&zip_of(&[("manifest.json", b"{}")]), &limits).expect("empty");
    assert!(empty.files().is_empty());
}

#[test]
fn limits_are_enforced_on_decompressed_bytes() {
    let bytes = real_bundle();
    let small = BundleLimits {
        max_files: 1,
        ..BundleLimits::default()
    };
    assert_eq!(
        ArtifactBundle::parse(&bytes, &small),
        Err(BundleError::TooManyFiles { count: 2, limit: 1 })
    );
    let tiny = BundleLimits {
        max_file_bytes: 100,
        ..BundleLimits::default()
    };
    assert!(matches!(
        ArtifactBundle::parse(&bytes, &tiny),
        Err(BundleError::FileTooLarge { .. })
    ));
    let total = BundleLimits {
        max_total_bytes: 2_000,
        ..BundleLimits::default()
    };
    let e = ArtifactBundle::parse(&bytes, &total).expect_err("too large");
    assert_eq!(e, BundleError::TooLarge { limit: 2_000 });
    assert!(e.to_string().contains("split the upload"));
}

#[test]
fn a_zip_bomb_is_an_error_not_an_allocation() {
    // 16 MiB of zeros deflate to ~16 KiB.
    let zeros = vec![0u8; 16 << 20];
    let manifest = br#"{"files":{"files/bomb":{"type":"source","url":"~/bomb.js"}}}"#;
    let bytes = zip_of(&[("manifest.json", manifest), ("files/bomb", &zeros)]);
    drop(zeros);
    assert!(bytes.len() < 1 << 20, "compressed {}", bytes.len());
    let limits = BundleLimits {
        max_file_bytes: 1 << 20,
        max_total_bytes: 2 << 20,
        max_files: 10,
    };
    assert_eq!(
        ArtifactBundle::parse(&bytes, &limits),
        Err(BundleError::FileTooLarge {
            path: "files/bomb".into(),
            limit: 1 << 20
        })
    );
    // Many files each under the limit still hit the total.
    let manifest = br#"{"files":{"a":{"type":"source","url":"~/a"},"b":{"type":"source","url":"~/b"},"c":{"type":"source","url":"~/c"}}}"#;
    let mb = vec![b'x'; 900 << 10];
    let bytes = zip_of(&[
        ("manifest.json", manifest),
        ("a", &mb),
        ("b", &mb),
        ("c", &mb),
    ]);
    assert_eq!(
        ArtifactBundle::parse(&bytes, &limits),
        Err(BundleError::TooLarge { limit: 2 << 20 })
    );
}

#[test]
fn truncated_bundles_are_errors() {
    let bytes = real_bundle();
    for cut in [9, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            ArtifactBundle::parse(&bytes[..cut], &BundleLimits::default()).is_err(),
            "cut {cut}"
        );
    }
}

#[test]
fn duplicate_urls_get_numbered_zip_paths() {
    let bytes = build_bundle(
        &[
            ("~/a.js", FileKind::Source, &[], b"1"),
            ("~/a.js", FileKind::Source, &[], b"2"),
        ],
        &[],
    );
    let bundle = ArtifactBundle::parse(&bytes, &BundleLimits::default()).expect("parses");
    let paths: Vec<_> = bundle.files().iter().map(|f| f.zip_path.as_str()).collect();
    assert_eq!(paths, ["files/_/_/a.js", "files/_/_/a.js.1"]);
    assert_eq!(
        bundle_path("https://cdn.example.com/x/y.js"),
        "files/https/cdn.example.com/x/y.js"
    );
}
