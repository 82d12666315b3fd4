//! Fuzzes the ingest path as the endpoint runs it: decompress the body (the first input byte
//! picks the `Content-Encoding`) with a 1 MiB cap, then parse the result as an envelope and
//! as a legacy store body. Nothing may panic, the cap must hold, and an envelope that parses
//! must parse again, item for item, after `Envelope::to_vec`.

#![no_main]

use errorwatch_core::ingest::decompress::{ContentEncoding, decompress};
use errorwatch_core::ingest::envelope::{
    Limits, parse_envelope, parse_envelope_with, parse_store_body,
};
use libfuzzer_sys::fuzz_target;

const MAX_OUTPUT: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = match selector % 5 {
        0 => ContentEncoding::Identity,
        1 => ContentEncoding::Gzip,
        2 => ContentEncoding::Deflate,
        3 => ContentEncoding::Brotli,
        _ => ContentEncoding::Zstd,
    };
    let Ok(bytes) = decompress(encoding, body, MAX_OUTPUT) else {
        return;
    };
    assert!(bytes.len() <= MAX_OUTPUT, "decompression went past its cap");

    if let Ok(envelope) = parse_envelope(&bytes) {
        let _ = envelope.event_id();
        let _ = envelope.sent_at();
        for item in &envelope.items {
            let _ = item.data_category();
        }
        // Re-serializing adds `length` headers, which may push a header or the envelope over
        // those two limits; every other limit sees the same items.
        let lenient = Limits {
            max_header_size: usize::MAX,
            max_envelope_size: usize::MAX,
            ..Limits::default()
        };
        let again = parse_envelope_with(&envelope.to_vec(), &lenient)
            .expect("a re-serialized envelope parses");
        assert_eq!(again.items.len(), envelope.items.len());
        for (reparsed, original) in again.items.iter().zip(&envelope.items) {
            assert_eq!(reparsed.ty, original.ty);
            assert_eq!(reparsed.payload, original.payload);
        }
    }
    let _ = parse_store_body(&bytes);
});
