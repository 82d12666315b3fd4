//! Digest: turns spooled envelopes into issues, events, counters and outcomes.
//!
//! `DigestSpool` covers a range of `ingest_spool` rows (one group commit). It reads the rows
//! and the projects' fingerprint rules, prepares them without the database on a blocking thread
//! ([`batch::prepare`]: parse, normalize, group, compress), then writes the batch with
//! statements coalesced per issue and chunk ([`batch::write_batch`]) and deletes the rows, all
//! in one short write transaction. Idempotent: a row already digested is gone, and
//! `(project_id, event_id)` is unique, so a replay changes nothing.
//!
//! An envelope that cannot be parsed (it passed ingest's checks, so this means a bug) is counted
//! as `invalid` and dropped rather than blocking the rows after it; database errors fail the job,
//! which is retried.

pub(crate) mod batch;
pub mod items;
pub mod normalize;
pub mod retention;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::db::Db;
use crate::entity::ingest_spool;
use crate::jobs::{Job, JobContext};

/// Digests the spool rows `first_id..=last_id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigestSpool {
    /// First row id.
    pub first_id: i64,
    /// Last row id.
    pub last_id: i64,
}

impl DigestSpool {
    /// The job covering `ids` (one commit's rows).
    pub fn covering(ids: &[i64]) -> Self {
        Self {
            first_id: ids.iter().copied().min().unwrap_or(0),
            last_id: ids.iter().copied().max().unwrap_or(-1),
        }
    }

    /// Digests the rows of the range that exist now; returns how many events it stored. Fails
    /// (changing nothing) when another digest took some of the rows meanwhile; a retry then
    /// digests what is left.
    pub async fn digest(&self, db: &Db) -> anyhow::Result<usize> {
        let rows = ingest_spool::Entity::find()
            .filter(ingest_spool::Column::Id.between(self.first_id, self.last_id))
            .order_by_asc(ingest_spool::Column::Id)
            .all(db.conn())
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        let rules = batch::load_rules(db.conn(), &batch::projects_of(&rows)).await?;
        let started = std::time::Instant::now();
        let prepared = tokio::task::spawn_blocking(move || batch::prepare(rows, &rules)).await?;
        let envelopes = prepared.envelopes();
        let prepared_at = std::time::Instant::now();

        let txn = db.begin_write().await?;
        // Deleted first: on PostgreSQL a concurrent digest of the same rows waits here for our
        // commit, then finds them gone and fails instead of counting them twice.
        let mut deleted = 0;
        for chunk in ids.chunks(10_000) {
            deleted += ingest_spool::Entity::delete_many()
                .filter(ingest_spool::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        anyhow::ensure!(
            deleted == ids.len() as u64,
            "{} of {} spool rows were digested meanwhile; retrying",
            ids.len() as u64 - deleted,
            ids.len()
        );
        let result = batch::write_batch(&txn, prepared).await?;
        txn.commit().await?;
        crate::notify::publish(db, &result.notices).await;
        let committed_at = std::time::Instant::now();
        info!(
            envelopes,
            events.stored = result.stored,
            prepare_ms = (prepared_at - started).as_millis() as u64,
            write_ms = (committed_at - prepared_at).as_millis() as u64,
            "digested {envelopes} envelopes"
        );
        Ok(result.stored)
    }
}

impl Job for DigestSpool {
    const NAME: &'static str = "digest_spool";
    const MAX_ATTEMPTS: u32 = 10;
    // One digest at a time per process keeps issue upserts free of lock-order deadlocks.
    const CONCURRENCY: usize = 1;

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        self.digest(&ctx.db).await.map(|_| ())
    }
}

/// The zstd magic number, which starts every zstd frame (zlib streams start with `0x78`).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Compressed JSON as events store it (zstd).
pub fn compress_payload(payload: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    compress_json(&serde_json::to_vec(payload)?)
}

/// zstd-compresses serialized JSON.
pub(crate) fn compress_json(json: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(zstd::bulk::compress(json, batch::PAYLOAD_ZSTD_LEVEL)?)
}

/// Inverse of [`compress_payload`]; also reads the zlib payloads stored before zstd.
pub fn decompress_payload(bytes: &[u8]) -> anyhow::Result<serde_json::Value> {
    let json = if bytes.starts_with(&ZSTD_MAGIC) {
        zstd::stream::decode_all(bytes)?
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

    #[test]
    fn covering_spans_the_ids() {
        let job = DigestSpool::covering(&[7, 3, 9]);
        assert_eq!((job.first_id, job.last_id), (3, 9));
    }
}
