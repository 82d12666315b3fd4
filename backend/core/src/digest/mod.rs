//! Digest: turns spooled envelopes into issues, events, counters and outcomes.
//!
//! [`runner`] takes spooled envelopes a batch at a time, with the projects' fingerprint rules,
//! prepares them without the database on low-priority threads ([`cpu`]) ([`prepare::prepare`]: parse,
//! normalize, group, compress), then writes the batch with statements coalesced per issue and
//! chunk ([`write::write_batch`]) in one short write transaction that also consumes the rows
//! (exactly once; see the runner). `(project_id, event_id)` is unique, so an event sent twice is
//! stored once.
//!
//! An envelope that cannot be parsed (it passed ingest's checks, so this means a bug) is counted
//! as `invalid` and dropped rather than blocking the rows after it; database errors fail the
//! batch, which is retried.

pub mod cpu;
pub(crate) mod dictionary;
pub mod items;
pub mod normalize;
mod passthrough;
pub(crate) mod prepare;
pub(crate) mod releases;
pub mod retention;
pub mod runner;
pub mod symbolicate;
pub(crate) mod write;

/// The zstd magic number, which starts every zstd frame (zlib streams start with `0x78`).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Compressed JSON as events store it (zstd).
pub fn compress_payload(payload: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    compress_json(&serde_json::to_vec(payload)?)
}

/// zstd-compresses serialized JSON with the payload dictionary.
pub(crate) fn compress_json(json: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(dictionary::compressor(prepare::PAYLOAD_ZSTD_LEVEL)?.compress(json)?)
}

/// Inverse of [`compress_payload`]; also reads the zlib payloads stored before zstd.
pub fn decompress_payload(bytes: &[u8]) -> anyhow::Result<serde_json::Value> {
    let json = if bytes.starts_with(&ZSTD_MAGIC) {
        dictionary::decompress(bytes)?
    } else {
        let mut json = Vec::with_capacity(bytes.len() * 4);
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(bytes), &mut json)?;
        json
    };
    Ok(serde_json::from_slice(&json)?)
}

/// The tag values an event counts under: its `tags`, plus level, environment, release and
/// user (the source of distinct-user counts).
pub(crate) fn event_tags(
    payload: &serde_json::Value,
    level: &str,
    environment: &str,
    release: Option<&str>,
    user_key: Option<&str>,
) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = payload
        .get("tags")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            Some((
                pair.first()?.as_str()?.to_owned(),
                pair.get(1)?.as_str()?.to_owned(),
            ))
        })
        .collect();
    tags.push(("level".to_owned(), level.to_owned()));
    tags.push(("environment".to_owned(), environment.to_owned()));
    if let Some(release) = release {
        tags.push(("release".to_owned(), release.to_owned()));
    }
    if let Some(user) = user_key {
        tags.push(("user".to_owned(), user.to_owned()));
    }
    // Each field of the user as its own tag, so `user.email:` finds an event whose `user`
    // identity is its id, and the `user` facet can name people by their address.
    if let Some(user) = payload.get("user").and_then(|u| u.as_object()) {
        for field in crate::service::search::UserField::ALL {
            let value = match user.get(field.payload_key()) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => normalize::trim(s, 180),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            let value = if field == crate::service::search::UserField::Email {
                value.to_lowercase()
            } else {
                value
            };
            tags.push((field.tag_key().to_owned(), value));
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_compressed() {
        let payload = serde_json::json!({"message": "x".repeat(10_000), "n": 1});
        let compressed = compress_payload(&payload).expect("compress");
        assert!(compressed.len() < 200, "{} bytes", compressed.len());
        assert_eq!(
            decompress_payload(&compressed).expect("decompress"),
            payload
        );
    }

    #[test]
    fn payloads_are_zstd_and_old_zlib_payloads_still_read() {
        use std::io::Write;

        let payload = serde_json::json!({"exception": {"values": [{"type": "KeyError"}]}});
        let compressed = compress_payload(&payload).expect("compress");
        assert!(compressed.starts_with(&ZSTD_MAGIC), "{compressed:02x?}");
        // A payload stored before zstd: zlib, level 6.
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder
            .write_all(&serde_json::to_vec(&payload).expect("json"))
            .expect("zlib");
        let legacy = encoder.finish().expect("zlib");
        assert_eq!(decompress_payload(&legacy).expect("zlib"), payload);
        assert!(decompress_payload(b"neither").is_err());
    }
}
