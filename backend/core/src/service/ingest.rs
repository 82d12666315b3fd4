//! DSN key resolution for ingest, behind an in-memory cache so the hot path touches the
//! database only on a miss. Unknown keys are cached too (for a shorter time), so a
//! misconfigured SDK hammering us with a wrong key costs no queries.
//!
//! This is pre-authentication: the key *is* the credential, so the lookup is unscoped by
//! design, and it yields the project's account for everything downstream.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::Result;
use crate::db::Db;
use crate::ids::{AccountId, ProjectId, ProjectKeyId};
use crate::repo::entity::project_key;

/// What ingest needs to know about a DSN key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectKeyInfo {
    /// The key's id.
    pub key_id: ProjectKeyId,
    /// Its project.
    pub project_id: ProjectId,
    /// The project's account.
    pub account_id: AccountId,
    /// Disabled keys are refused.
    pub is_active: bool,
    /// Requests per minute allowed for this key, if limited.
    pub rate_limit_per_minute: Option<i32>,
}

/// How long a found key is trusted before it is re-read.
const FOUND_TTL: Duration = Duration::from_secs(60);
/// How long an unknown key stays unknown.
const MISSING_TTL: Duration = Duration::from_secs(10);
/// Entries kept before the cache starts over (bounds memory under key-guessing traffic).
const MAX_ENTRIES: usize = 100_000;

/// Bumped whenever a key changes in this process (created, rotated, disabled, deleted with its
/// project or account), so every cache here drops its entries; other processes catch up within
/// [`FOUND_TTL`].
static KEYS_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Tells this process' key caches that keys changed.
pub fn keys_changed() {
    KEYS_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Caches `public_key → ProjectKeyInfo`.
#[derive(Debug)]
pub struct KeyCache {
    db: Db,
    entries: RwLock<HashMap<String, (Instant, Option<ProjectKeyInfo>)>>,
    generation: AtomicU64,
}

impl KeyCache {
    /// An empty cache over `db`.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(KEYS_GENERATION.load(Ordering::SeqCst)),
        }
    }

    /// The key's project, or `None` when no such key exists.
    pub async fn lookup(&self, public_key: &str) -> Result<Option<ProjectKeyInfo>> {
        let current = KEYS_GENERATION.load(Ordering::SeqCst);
        if self.generation.swap(current, Ordering::SeqCst) != current {
            self.clear();
        }
        if let Ok(entries) = self.entries.read()
            && let Some((fetched, info)) = entries.get(public_key)
        {
            let ttl = if info.is_some() {
                FOUND_TTL
            } else {
                MISSING_TTL
            };
            if fetched.elapsed() < ttl {
                return Ok(info.clone());
            }
        }
        let row = project_key::Entity::find()
            .filter(project_key::Column::PublicKey.eq(public_key))
            .one(self.db.conn())
            .await?;
        let info = row.map(|k| ProjectKeyInfo {
            key_id: ProjectKeyId(k.id),
            project_id: ProjectId(k.project_id),
            account_id: AccountId(k.account_id),
            is_active: k.is_active,
            rate_limit_per_minute: k.rate_limit_per_minute,
        });
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(public_key.to_owned(), (Instant::now(), info.clone()));
        }
        Ok(info)
    }

    /// Forgets everything (after a key is rotated or disabled on this node).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}
