//! The real SDK envelopes of `backend/server/tests/fixtures/corpus/`, replayed with a fresh
//! `event_id` per request, the way each SDK sends them: Python gzip-compressed with
//! `X-Sentry-Auth`, Node plain and chunked with the key in the query string.
//!
//! Compressing a 10 kB envelope costs the load generator ~200 µs, more than the server spends on
//! it; so each template is compressed once, in pieces cut around its `event_id`s, and a body is a
//! valid gzip stream assembled from those pieces with the fresh id in stored deflate blocks (the
//! CRC is computed per body).

use std::convert::Infallible;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;

/// How an SDK sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// sentry-sdk for Python: gzip, `Content-Type`, `X-Sentry-Auth`, `Content-Length`.
    Python,
    /// @sentry/node: plain, chunked (4 kB chunks), no `Content-Type`, key in the query.
    Node,
    /// @sentry/browser (`fetch`): plain with `Content-Length`, `text/plain`, key in the query.
    Browser,
}

/// One corpus envelope.
pub struct Template {
    pub name: String,
    pub style: Style,
    plain: Vec<u8>,
    /// Offsets of each occurrence of the original event id (32 hex digits).
    id_offsets: Vec<usize>,
    /// Raw-deflate pieces between the ids (Python style only): all sync-flushed, the last final.
    pieces: Vec<Vec<u8>>,
}

/// A body ready to send.
pub struct Body {
    pub wire: Bytes,
    /// Uncompressed envelope bytes.
    pub raw_len: usize,
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut start = 0;
    while start + needle.len() <= haystack.len() {
        match haystack[start..]
            .windows(needle.len())
            .position(|w| w == needle)
        {
            Some(at) => {
                found.push(start + at);
                start += at + needle.len();
            }
            None => break,
        }
    }
    found
}

fn deflate_piece(bytes: &[u8], last: bool) -> anyhow::Result<Vec<u8>> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    if last {
        Ok(encoder.finish()?)
    } else {
        // A sync flush ends on a byte boundary without a final block.
        encoder.flush()?;
        Ok(std::mem::take(encoder.get_mut()))
    }
}

impl Template {
    fn new(name: String, plain: Vec<u8>) -> anyhow::Result<Self> {
        let style = if name.starts_with("py_") {
            Style::Python
        } else {
            Style::Node
        };
        Self::from_envelope(name, style, plain)
    }

    /// A template of `plain` (an envelope whose header holds its `event_id`), sent in `style`.
    pub fn from_envelope(name: String, style: Style, plain: Vec<u8>) -> anyhow::Result<Self> {
        let header = plain.split(|b| *b == b'\n').next().unwrap_or_default();
        let header: serde_json::Value = serde_json::from_slice(header)
            .with_context(|| format!("{name}: envelope header is not JSON"))?;
        let id = header["event_id"]
            .as_str()
            .with_context(|| format!("{name}: no event_id in the envelope header"))?;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{name}: event_id {id:?} is not 32 hex digits");
        }
        let id_offsets = find_all(&plain, id.as_bytes());
        let mut pieces = Vec::new();
        if style == Style::Python {
            let mut from = 0;
            for &at in &id_offsets {
                pieces.push(deflate_piece(&plain[from..at], false)?);
                from = at + 32;
            }
            pieces.push(deflate_piece(&plain[from..], true)?);
        }
        Ok(Self {
            name,
            style,
            plain,
            id_offsets,
            pieces,
        })
    }

    /// This envelope with `id` (32 lowercase hex digits) as its event id, encoded as the SDK
    /// sends it.
    pub fn body(&self, id: &[u8; 32]) -> Body {
        let mut plain = self.plain.clone();
        for &at in &self.id_offsets {
            plain[at..at + 32].copy_from_slice(id);
        }
        let raw_len = plain.len();
        let wire = match self.style {
            Style::Node | Style::Browser => plain,
            Style::Python => {
                let size: usize = self.pieces.iter().map(Vec::len).sum();
                let mut gz = Vec::with_capacity(size + 18 + self.id_offsets.len() * 37);
                gz.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
                for (i, piece) in self.pieces.iter().enumerate() {
                    gz.extend_from_slice(piece);
                    if i < self.id_offsets.len() {
                        // A stored block (not final) of 32 bytes: LEN, NLEN little-endian.
                        gz.extend_from_slice(&[0x00, 0x20, 0x00, 0xdf, 0xff]);
                        gz.extend_from_slice(id);
                    }
                }
                gz.extend_from_slice(&crc32fast::hash(&plain).to_le_bytes());
                gz.extend_from_slice(&(raw_len as u32).to_le_bytes());
                gz
            }
        };
        Body {
            wire: Bytes::from(wire),
            raw_len,
        }
    }
}

/// Loads every `*.envelope` of `dir`, sorted by name, and checks that the gzip bodies decode to
/// the envelope with the new id.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Template>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "envelope"))
        .collect();
    paths.sort();
    let mut templates = Vec::new();
    for path in paths {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let plain = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        let template = Template::new(name, plain)?;
        let id = *b"0123456789abcdef0123456789abcdef";
        let body = template.body(&id);
        let mut decoded = Vec::new();
        if template.style == Style::Python {
            flate2::read::GzDecoder::new(&body.wire[..]).read_to_end(&mut decoded)?;
        } else {
            decoded = body.wire.to_vec();
        }
        let mut expected = template.plain.clone();
        for &at in &template.id_offsets {
            expected[at..at + 32].copy_from_slice(&id);
        }
        if decoded != expected {
            bail!(
                "{}: the assembled body does not decode to the envelope",
                template.name
            );
        }
        templates.push(template);
    }
    if templates.is_empty() {
        bail!("no *.envelope in {}", dir.display());
    }
    Ok(templates)
}

/// The HTTP body for `wire` in `style`: one buffer with `Content-Length`, or 4 kB chunks (Node).
pub fn http_body(style: Style, wire: Bytes) -> BoxBody<Bytes, Infallible> {
    match style {
        Style::Python | Style::Browser => Full::new(wire).boxed(),
        Style::Node => {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < wire.len() {
                let end = (at + 4096).min(wire.len());
                chunks.push(Ok::<_, Infallible>(Frame::data(wire.slice(at..end))));
                at = end;
            }
            StreamBody::new(futures::stream::iter(chunks)).boxed()
        }
    }
}
