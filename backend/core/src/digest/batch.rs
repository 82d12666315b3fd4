//! Batch digest interface (temporary shim over the per-envelope digest; replaced by the
//! coalesced batch digest).

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::entity::ingest_spool;
use crate::grouping::{FingerprintRules, GroupingConfig};
use crate::notify::Notice;

/// Rows ready for [`write_batch`].
pub(crate) struct PreparedBatch {
    rows: Vec<ingest_spool::Model>,
    rules: HashMap<i64, GroupingConfig>,
}

/// What a batch stored.
pub(crate) struct BatchResult {
    /// Events stored.
    pub stored: usize,
    /// Change notices, coalesced.
    pub notices: Vec<Notice>,
}

/// The grouping configuration of each existing project of `projects`.
pub(crate) async fn load_rules(
    conn: &impl ConnectionTrait,
    projects: &[i64],
) -> anyhow::Result<HashMap<i64, GroupingConfig>> {
    let found = crate::entity::project::Entity::find()
        .filter(crate::entity::project::Column::Id.is_in(projects.iter().copied()))
        .all(conn)
        .await?;
    Ok(found
        .into_iter()
        .map(|p| {
            let rules = FingerprintRules::parse(&p.fingerprint_rules).unwrap_or_default();
            (p.id, GroupingConfig { rules })
        })
        .collect())
}

/// CPU phase.
pub(crate) fn prepare(
    rows: Vec<ingest_spool::Model>,
    rules: &HashMap<i64, GroupingConfig>,
) -> PreparedBatch {
    PreparedBatch {
        rows,
        rules: rules.clone(),
    }
}

/// DB phase.
pub(crate) async fn write_batch(
    txn: &DatabaseTransaction,
    batch: PreparedBatch,
) -> anyhow::Result<BatchResult> {
    let mut outcomes = super::Outcomes::default();
    let mut rules = super::RulesCache {
        configs: batch.rules,
    };
    let mut stored = 0;
    let mut notices = Vec::new();
    for row in &batch.rows {
        stored += super::digest_envelope(txn, row, &mut outcomes, &mut rules, &mut notices).await?;
    }
    outcomes.write(txn).await?;
    Ok(BatchResult {
        stored,
        notices: super::coalesce(notices),
    })
}
