//! Fuzzes artifact-bundle parsing: arbitrary bytes (with or without the `SYSB` header) go to
//! `ArtifactBundle::parse` with small limits. Nothing may panic, the limits must hold, and
//! every file of a bundle that parses is looked at the way the digest will (map parse, the
//! minified file's map reference).

#![no_main]

use errorwatch_symbolicate::bundle::{ArtifactBundle, BundleLimits, FileKind};
use errorwatch_symbolicate::map::ParsedMap;
use libfuzzer_sys::fuzz_target;

const LIMITS: BundleLimits = BundleLimits {
    max_files: 16,
    max_file_bytes: 256 * 1024,
    max_total_bytes: 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = ArtifactBundle::parse(data, &LIMITS) else {
        return;
    };
    assert!(bundle.files().len() <= LIMITS.max_files);
    let total: usize = bundle.files().iter().map(|f| f.contents().len()).sum();
    assert!(total as u64 <= LIMITS.max_total_bytes);
    let _ = (bundle.debug_id(), bundle.release(), bundle.dist());
    for file in bundle.files() {
        assert!(file.contents().len() as u64 <= LIMITS.max_file_bytes);
        match file.kind {
            FileKind::SourceMap => {
                let _ = ParsedMap::parse(file.contents());
            }
            FileKind::MinifiedSource => {
                if let Some(map) = bundle.sourcemap_for(file) {
                    let _ = ParsedMap::parse(&map);
                }
            }
            _ => {}
        }
    }
});
