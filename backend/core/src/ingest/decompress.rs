//! Request-body decompression (`Content-Encoding`) with a hard output cap.
//!
//! Invariant: [`decompress`] never holds more than `max_output` bytes of output. Decoders are
//! read in fixed-size chunks into a buffer that grows only up to the cap, and the first chunk
//! that would cross it ends decoding with [`DecompressError::TooLarge`]. A decompression bomb
//! (a few KB that inflate to gigabytes) therefore costs at most the cap plus the decoder's own
//! state: 32 KiB for deflate, up to 16 MiB for brotli's window, and for zstd the window the
//! frame declares, which is refused above [`max_zstd_window`] of the cap.
//!
//! All decoders are pure Rust: `flate2` on `miniz_oxide`, `brotli-decompressor`, and `ruzstd`
//! (so the build needs no C toolchain and the workspace stays free of `unsafe` FFI glue).

use std::io::{self, Read};

use thiserror::Error;

/// Output is read from a decoder in pieces of this size.
const CHUNK_SIZE: usize = 64 * 1024;

/// Smallest zstd window always accepted: zstd's level 19 streams use 8 MiB windows.
const MIN_ZSTD_WINDOW: usize = 8 * 1024 * 1024;

/// A `Content-Encoding` this server can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    /// No compression (no header, an empty header, or `identity`).
    Identity,
    /// `gzip` (alias `x-gzip`); several concatenated gzip members are accepted.
    Gzip,
    /// `deflate`: zlib-wrapped (RFC 1950, what the HTTP spec means) or raw deflate (RFC 1951,
    /// what some clients send); told apart by the zlib header.
    Deflate,
    /// `br` (Brotli), as sent by the Python SDK when the `brotli` module is installed.
    Brotli,
    /// `zstd` (one or more frames; skippable frames are skipped).
    Zstd,
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value: case-insensitive, surrounding whitespace
    /// ignored, `identity` and empty values mean [`ContentEncoding::Identity`].
    ///
    /// A list of encodings (`gzip, br`) is accepted only if at most one of them is not
    /// `identity`; real stacking is rejected with [`DecompressError::Unsupported`], as is any
    /// unknown encoding.
    pub fn from_header(value: Option<&str>) -> Result<Self, DecompressError> {
        let Some(value) = value else {
            return Ok(ContentEncoding::Identity);
        };
        let mut found = ContentEncoding::Identity;
        for token in value.split(',').map(str::trim) {
            let encoding = match token.to_ascii_lowercase().as_str() {
                "" | "identity" => continue,
                "gzip" | "x-gzip" => ContentEncoding::Gzip,
                "deflate" => ContentEncoding::Deflate,
                "br" => ContentEncoding::Brotli,
                "zstd" => ContentEncoding::Zstd,
                _ => {
                    return Err(DecompressError::Unsupported(format!(
                        "{token:?} (supported: gzip, deflate, br, zstd)"
                    )));
                }
            };
            if found != ContentEncoding::Identity {
                return Err(DecompressError::Unsupported(format!(
                    "{:?}: more than one encoding applied; send the body compressed once",
                    value.trim()
                )));
            }
            found = encoding;
        }
        Ok(found)
    }

    /// The token as written in a `Content-Encoding` header (`identity` for no compression).
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncoding::Identity => "identity",
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
            ContentEncoding::Brotli => "br",
            ContentEncoding::Zstd => "zstd",
        }
    }
}

/// Why a body could not be decompressed. `TooLarge` maps to HTTP 413, the rest to 400 (an
/// unknown encoding is a 415 in plain HTTP, but Sentry SDKs only distinguish 4xx from 429).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecompressError {
    /// The `Content-Encoding` is unknown or stacked.
    #[error("unsupported Content-Encoding {0}")]
    Unsupported(String),
    /// The body is not valid data in the declared encoding (truncated, wrong encoding, garbage).
    #[error("could not decompress the request body: {0}")]
    Corrupt(String),
    /// The decompressed body would exceed `limit` bytes; decoding stopped there.
    #[error("the decompressed request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The cap that was hit, in bytes.
        limit: usize,
    },
}

/// Decodes `input` as `encoding`, producing at most `max_output` bytes.
///
/// Fails with [`DecompressError::TooLarge`] as soon as the output would cross `max_output`
/// (for `Identity` too, so callers can use one cap for every body), and with
/// [`DecompressError::Corrupt`] for invalid or truncated data.
pub fn decompress(
    encoding: ContentEncoding,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, DecompressError> {
    // Compressed bodies are typically 3-10x smaller than their content; starting at 4x saves
    // most re-allocations without reserving the whole cap for a small body.
    let size_hint = input.len().saturating_mul(4);
    match encoding {
        ContentEncoding::Identity => {
            if input.len() > max_output {
                return Err(DecompressError::TooLarge { limit: max_output });
            }
            Ok(input.to_vec())
        }
        ContentEncoding::Gzip => read_bounded(
            flate2::read::MultiGzDecoder::new(input),
            encoding,
            gzip_size_hint(input).unwrap_or(size_hint),
            max_output,
        ),
        ContentEncoding::Deflate if has_zlib_header(input) => read_bounded(
            flate2::read::ZlibDecoder::new(input),
            encoding,
            size_hint,
            max_output,
        ),
        ContentEncoding::Deflate => read_bounded(
            flate2::read::DeflateDecoder::new(input),
            encoding,
            size_hint,
            max_output,
        ),
        ContentEncoding::Brotli => read_bounded(
            brotli_decompressor::Decompressor::new(input, 4096),
            encoding,
            size_hint,
            max_output,
        ),
        ContentEncoding::Zstd => decompress_zstd(input, size_hint, max_output),
    }
}

/// The largest zstd window accepted for a given output cap: the cap itself, but never less
/// than 8 MiB so that ordinary high-level streams decode under a small cap. The decoder
/// reserves the declared window up front, so this bounds its memory.
pub fn max_zstd_window(max_output: usize) -> usize {
    max_output.max(MIN_ZSTD_WINDOW)
}

/// True if `input` starts with a valid zlib header (RFC 1950: method 8, window ≤ 32 KiB,
/// header checksum divisible by 31). A raw deflate stream fails this check in all but
/// contrived cases, and for those the zlib decoder then reports corrupt data.
pub(crate) fn has_zlib_header(input: &[u8]) -> bool {
    match input {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && ((u16::from(*cmf) << 8) | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Decodes every zstd frame in `input` (concatenated frames are valid zstd) into one buffer.
fn decompress_zstd(
    input: &[u8],
    size_hint: usize,
    max_output: usize,
) -> Result<Vec<u8>, DecompressError> {
    use ruzstd::decoding::StreamingDecoder;
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};

    let max_window = u64::try_from(max_zstd_window(max_output)).unwrap_or(u64::MAX);
    let mut rest = input;
    let mut output = Vec::new();
    loop {
        let decoder = match StreamingDecoder::new_with_max_window_size(&mut rest, max_window) {
            Ok(decoder) => decoder,
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                rest = rest.get(length..).ok_or_else(|| {
                    DecompressError::Corrupt("zstd skippable frame is truncated".to_owned())
                })?;
                if rest.is_empty() {
                    break;
                }
                continue;
            }
            Err(FrameDecoderError::WindowSizeTooBig { requested, max }) => {
                return Err(DecompressError::Corrupt(format!(
                    "zstd frame asks for a {requested}-byte window, more than the {max} bytes \
                     allowed; compress with a smaller window (a lower level)"
                )));
            }
            Err(error) => return Err(DecompressError::Corrupt(format!("zstd: {error}"))),
        };
        let remaining = max_output - output.len();
        let frame = read_bounded(decoder, ContentEncoding::Zstd, size_hint, remaining).map_err(
            |error| match error {
                DecompressError::TooLarge { .. } => DecompressError::TooLarge { limit: max_output },
                other => other,
            },
        )?;
        if output.is_empty() {
            output = frame;
        } else {
            reserve_within(&mut output, frame.len(), max_output);
            output.extend_from_slice(&frame);
        }
        if rest.is_empty() {
            break;
        }
    }
    Ok(output)
}

/// Reads `reader` to its end straight into the output buffer (no intermediate chunk), failing
/// as soon as the output would exceed `max_output` bytes. The buffer's capacity never exceeds
/// `max_output`; each read is at most `CHUNK_SIZE`, so a bomb is stopped within one chunk.
fn read_bounded<R: Read>(
    mut reader: R,
    encoding: ContentEncoding,
    size_hint: usize,
    max_output: usize,
) -> Result<Vec<u8>, DecompressError> {
    let mut output = Vec::with_capacity(size_hint.min(max_output));
    loop {
        let start = output.len();
        if start == output.capacity() {
            // Full (an exact size hint ends here): grow only if the input goes on.
            let mut probe = [0u8; 1];
            if read_some(&mut reader, &mut probe, encoding)? == 0 {
                return Ok(output);
            }
            if start == max_output {
                return Err(DecompressError::TooLarge { limit: max_output });
            }
            reserve_within(&mut output, CHUNK_SIZE.min(max_output - start), max_output);
            output.push(probe[0]);
            continue;
        }
        let room = (output.capacity() - start).min(CHUNK_SIZE);
        // Zeroing the room once is cheaper than a zeroed chunk and a copy per read.
        output.resize(start + room, 0);
        let n_read = read_some(&mut reader, &mut output[start..], encoding)?;
        output.truncate(start + n_read);
        if n_read == 0 {
            return Ok(output);
        }
    }
}

/// A single-member gzip stream ends with its content's size mod 2^32 (ISIZE), which sizes the
/// output exactly. Only a hint: a multi-member stream names its last member's size, and a
/// claim over 64x the input (JSON compresses 5-20x) is not believed, so a lying trailer
/// cannot make a small body reserve much.
fn gzip_size_hint(input: &[u8]) -> Option<usize> {
    let (_, trailer) = input.split_last_chunk::<4>()?;
    let size = u32::from_le_bytes(*trailer) as usize;
    (size > 0 && size <= input.len().saturating_mul(64)).then_some(size)
}

/// One `read`, retried on `Interrupted`; any other error means corrupt input.
fn read_some<R: Read>(
    reader: &mut R,
    buffer: &mut [u8],
    encoding: ContentEncoding,
) -> Result<usize, DecompressError> {
    loop {
        match reader.read(buffer) {
            Ok(n_read) => return Ok(n_read),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(DecompressError::Corrupt(format!(
                    "invalid {} data: {error}",
                    encoding.as_str()
                )));
            }
        }
    }
}

/// Makes room for `additional` more bytes, doubling like `Vec` does but never past `cap`.
/// Callers ensure `len + additional <= cap`.
fn reserve_within(output: &mut Vec<u8>, additional: usize, cap: usize) {
    let needed = output.len() + additional;
    if needed > output.capacity() {
        let target = needed.max(output.capacity().saturating_mul(2)).min(cap);
        output.reserve_exact(target - output.len());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const MB: usize = 1024 * 1024;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("zlib");
        encoder.finish().expect("zlib")
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("deflate");
        encoder.finish().expect("deflate")
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut output = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut output, 4096, 1, 22);
            writer.write_all(data).expect("brotli");
        }
        output
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..2000 {
            data.extend_from_slice(format!("{{\"type\":\"event\",\"n\":{i}}}\n").as_bytes());
        }
        data
    }

    fn check(encoding: ContentEncoding, input: &[u8], max_output: usize, expect: &[u8]) {
        let output = decompress(encoding, input, max_output).expect("decompress");
        assert_eq!(output, expect, "{encoding:?}");
        assert!(output.capacity() <= max_output, "capacity past the cap");
    }

    fn check_err(encoding: ContentEncoding, input: &[u8], max_output: usize) -> DecompressError {
        decompress(encoding, input, max_output).expect_err("must fail")
    }

    #[test]
    fn header_values() {
        let cases = [
            (None, ContentEncoding::Identity),
            (Some(""), ContentEncoding::Identity),
            (Some("identity"), ContentEncoding::Identity),
            (Some("gzip"), ContentEncoding::Gzip),
            (Some(" GZip "), ContentEncoding::Gzip),
            (Some("x-gzip"), ContentEncoding::Gzip),
            (Some("deflate"), ContentEncoding::Deflate),
            (Some("br"), ContentEncoding::Brotli),
            (Some("BR"), ContentEncoding::Brotli),
            (Some("zstd"), ContentEncoding::Zstd),
            (Some("identity, gzip"), ContentEncoding::Gzip),
        ];
        for (value, expect) in cases {
            assert_eq!(ContentEncoding::from_header(value), Ok(expect), "{value:?}");
        }
    }

    #[test]
    fn unknown_and_stacked_encodings_are_rejected() {
        for value in ["compress", "lz4", "gzip, br", "br,zstd"] {
            let error = ContentEncoding::from_header(Some(value)).expect_err(value);
            assert!(
                matches!(error, DecompressError::Unsupported(_)),
                "{value}: {error}"
            );
        }
        let message = ContentEncoding::from_header(Some("gzip, br"))
            .expect_err("stacked")
            .to_string();
        assert!(message.contains("more than one encoding"), "{message}");
    }

    #[test]
    fn round_trips() {
        let data = sample();
        check(ContentEncoding::Identity, &data, MB, &data);
        check(ContentEncoding::Gzip, &gzip(&data), MB, &data);
        check(ContentEncoding::Deflate, &zlib(&data), MB, &data);
        check(ContentEncoding::Deflate, &raw_deflate(&data), MB, &data);
        check(ContentEncoding::Brotli, &brotli(&data), MB, &data);
        check(ContentEncoding::Zstd, &zstd(&data), MB, &data);
    }

    #[test]
    fn empty_content_round_trips() {
        check(ContentEncoding::Gzip, &gzip(b""), MB, b"");
        check(ContentEncoding::Deflate, &zlib(b""), MB, b"");
        check(ContentEncoding::Brotli, &brotli(b""), MB, b"");
        check(ContentEncoding::Zstd, &zstd(b""), MB, b"");
    }

    #[test]
    fn concatenated_gzip_members_and_zstd_frames() {
        let mut two_members = gzip(b"hello ");
        two_members.extend_from_slice(&gzip(b"world"));
        check(ContentEncoding::Gzip, &two_members, MB, b"hello world");

        let mut two_frames = zstd(b"hello ");
        two_frames.extend_from_slice(&zstd(b"world"));
        check(ContentEncoding::Zstd, &two_frames, MB, b"hello world");
    }

    #[test]
    fn the_gzip_trailer_sizes_the_output_unless_it_lies() {
        let data = sample();
        let single = gzip(&data);
        assert_eq!(gzip_size_hint(&single), Some(data.len()));
        let out = decompress(ContentEncoding::Gzip, &single, 1 << 20).expect("gzip");
        assert_eq!(out, data);
        assert_eq!(
            out.capacity(),
            data.len(),
            "sized exactly: no regrowth, no slack"
        );

        // A trailer claiming far more than the input could hold is not believed.
        let mut lying = single.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(gzip_size_hint(&lying), None);
        // Two members: the trailer names the last one's size; the hint is short, the output
        // still complete.
        let mut two = gzip(&data);
        two.extend(gzip(b"tail"));
        assert_eq!(gzip_size_hint(&two), Some(4));
        let mut expect = data.clone();
        expect.extend_from_slice(b"tail");
        check(ContentEncoding::Gzip, &two, 1 << 20, &expect);
    }

    #[test]
    fn zstd_skippable_frames_are_skipped() {
        let mut input = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, b'x', b'y', b'z'];
        input.extend_from_slice(&zstd(b"payload"));
        check(ContentEncoding::Zstd, &input, MB, b"payload");
    }

    #[test]
    fn exactly_at_the_limit_is_fine() {
        let data = vec![b'a'; 10_000];
        check(ContentEncoding::Identity, &data, 10_000, &data);
        check(ContentEncoding::Gzip, &gzip(&data), 10_000, &data);
        check(ContentEncoding::Zstd, &zstd(&data), 10_000, &data);
        assert_eq!(
            check_err(ContentEncoding::Gzip, &gzip(&data), 9_999),
            DecompressError::TooLarge { limit: 9_999 }
        );
        assert_eq!(
            check_err(ContentEncoding::Identity, &data, 9_999),
            DecompressError::TooLarge { limit: 9_999 }
        );
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let data = sample();
        let garbage = b"this is not compressed at all".as_slice();
        for encoding in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
            ContentEncoding::Zstd,
        ] {
            let error = check_err(encoding, garbage, MB);
            assert!(
                matches!(error, DecompressError::Corrupt(_)),
                "{encoding:?}: {error}"
            );
        }
        // Truncated streams must not silently yield a prefix.
        let truncated = |mut bytes: Vec<u8>| {
            bytes.truncate(bytes.len() / 2);
            bytes
        };
        for (encoding, input) in [
            (ContentEncoding::Gzip, truncated(gzip(&data))),
            (ContentEncoding::Deflate, truncated(zlib(&data))),
            (ContentEncoding::Brotli, truncated(brotli(&data))),
            (ContentEncoding::Zstd, truncated(zstd(&data))),
        ] {
            let error = check_err(encoding, &input, MB);
            assert!(
                matches!(error, DecompressError::Corrupt(_)),
                "{encoding:?}: {error}"
            );
        }
        let message = check_err(ContentEncoding::Gzip, garbage, MB).to_string();
        assert!(message.starts_with("could not decompress"), "{message}");
    }

    #[test]
    fn empty_input_in_a_compressed_encoding() {
        // Not a valid stream in any of them; the endpoint rejects empty bodies before this.
        for encoding in [ContentEncoding::Brotli, ContentEncoding::Zstd] {
            assert!(matches!(
                check_err(encoding, b"", MB),
                DecompressError::Corrupt(_)
            ));
        }
        assert_eq!(
            decompress(ContentEncoding::Identity, b"", MB),
            Ok(Vec::new())
        );
    }

    /// 50 MiB of zeros, limit 1 MiB. Bombs are built cheaply (repeated gzip members and
    /// zstd frames), so the test also proves decoding stops at the cap: inflating everything
    /// would take far longer in a debug build.
    #[test]
    fn bombs_stop_at_the_limit() {
        let one_mib_of_zeros = vec![0u8; MB];
        let gzip_bomb = gzip(&one_mib_of_zeros).repeat(50);
        let zstd_bomb = zstd(&one_mib_of_zeros).repeat(50);
        let brotli_bomb = brotli(&vec![0u8; 50 * MB]);
        // Each inflates at least 100-fold: small bodies, 50 MiB of output.
        for bomb in [&gzip_bomb, &zstd_bomb, &brotli_bomb] {
            assert!(bomb.len() < MB / 2, "{}", bomb.len());
        }
        for (encoding, bomb) in [
            (ContentEncoding::Gzip, &gzip_bomb),
            (ContentEncoding::Brotli, &brotli_bomb),
            (ContentEncoding::Zstd, &zstd_bomb),
        ] {
            assert_eq!(
                check_err(encoding, bomb, MB),
                DecompressError::TooLarge { limit: MB },
                "{encoding:?}"
            );
        }
        let deflate_bomb = zlib(&vec![0u8; 8 * MB]);
        assert_eq!(
            check_err(ContentEncoding::Deflate, &deflate_bomb, MB),
            DecompressError::TooLarge { limit: MB }
        );
    }

    /// An endless stream ends in `TooLarge` after at most one chunk past the cap, so the
    /// reader never tries to take the whole output into memory.
    #[test]
    fn bounded_reader_stops_on_an_endless_stream() {
        struct Counting<R> {
            inner: R,
            produced: usize,
        }
        impl<R: Read> Read for Counting<R> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n_read = self.inner.read(buf)?;
                self.produced += n_read;
                Ok(n_read)
            }
        }
        let mut endless = Counting {
            inner: io::repeat(0),
            produced: 0,
        };
        let result = read_bounded(&mut endless, ContentEncoding::Gzip, 0, MB);
        assert_eq!(result, Err(DecompressError::TooLarge { limit: MB }));
        assert!(endless.produced <= MB + CHUNK_SIZE, "{}", endless.produced);
    }

    #[test]
    fn buffer_growth_never_passes_the_cap() {
        let mut output = Vec::with_capacity(600);
        output.extend_from_slice(&[1; 600]);
        reserve_within(&mut output, 300, 1000);
        assert!(output.capacity() >= 900 && output.capacity() <= 1000);
    }

    #[test]
    fn zstd_windows_above_the_cap_are_refused() {
        // Frame header: magic, descriptor (no single segment, no checksum), window
        // descriptor 0xF0 = 2^(10+30) bytes, then an empty raw last block.
        let input = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf0, 0x01, 0x00, 0x00];
        let error = check_err(ContentEncoding::Zstd, &input, MB);
        assert!(
            matches!(&error, DecompressError::Corrupt(m) if m.contains("window")),
            "{error}"
        );
    }
}
