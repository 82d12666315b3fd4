//! Synthetic data for benchmarks: `errorwatch seed` fills a project with N issues and M events
//! (written straight into the tables in large batches, not through ingest), so list and search
//! timings can be measured at realistic sizes. Never used by the product itself.

use chrono::{Duration, Utc};

use crate::db::Db;
use crate::ids::{IssueId, ProjectId};
use crate::repo::{events as event_rows, issues as issue_rows, projects};
use crate::scope::AccountScope;
use crate::service::issue_state::IssueStatus;
use crate::{Error, Result};

/// Rows per INSERT statement.
const ROWS_PER_STATEMENT: usize = 500;
/// Statements per transaction.
const STATEMENTS_PER_TXN: usize = 20;

/// What was seeded.
#[derive(Clone, Debug)]
pub struct Seeded {
    /// Issues created.
    pub issues: u64,
    /// Events created.
    pub events: u64,
}

/// Seeds `issues` issues and `events` events (spread over the issues, over the last 14 days)
/// into a project, unscoped: for the bench and operators only (through `admin`).
pub(crate) async fn seed_project_unscoped(
    db: &Db,
    project: ProjectId,
    issues: u64,
    events: u64,
) -> Result<Seeded> {
    let account = projects::owner_unscoped::<projects::Projects>(db.conn(), project.0)
        .await?
        .ok_or(Error::NotFound)?;
    if issues == 0 || issues > 1_000_000 || events > 100_000_000 {
        return Err(Error::validation(
            "issues",
            "1..=1000000 issues and at most 100000000 events",
        ));
    }
    let now = Utc::now();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let levels = ["error", "warning", "error", "fatal", "error"];
    let statuses = [
        IssueStatus::Unresolved,
        IssueStatus::Unresolved,
        IssueStatus::Unresolved,
        IssueStatus::Resolved,
        IssueStatus::Ignored,
    ];
    let tenant = AccountScope::system(db, account, "seed benchmark data");
    let payload = crate::digest::compress_payload(&serde_json::json!({
        "message": "seeded event", "level": "error", "platform": "python", "tags": [["seed", "1"]]
    }))
    .map_err(Error::Internal)?;
    // Issues, each with its share of the events counted.
    let per_issue = events / issues;
    let extra = events % issues;
    let mut issue_ids: Vec<IssueId> = Vec::with_capacity(issues as usize);
    let mut next = 0u64;
    while next < issues {
        let txn = db.begin_write().await?;
        for _ in 0..STATEMENTS_PER_TXN {
            if next >= issues {
                break;
            }
            let end = Ord::min(next + ROWS_PER_STATEMENT as u64, issues);
            let rows = (next..end)
                .map(|i| {
                    let count = per_issue + u64::from(i < extra);
                    let last = now - Duration::seconds(((i * 7919) % (14 * 86_400)) as i64);
                    issue_rows::Seeded {
                        fingerprint: format!("seed{run}{i:012}").chars().take(64).collect(),
                        title: format!("SeedError: synthetic problem number {i}"),
                        culprit: Some(format!("seed.module{} in handler_{}", i % 97, i % 13)),
                        level: levels[(i % 5) as usize],
                        status: statuses[(i % 5) as usize],
                        first_seen: last - Duration::days(1),
                        last_seen: last,
                        times_seen: count as i64,
                        users_seen: (count / 3) as i64,
                        created_at: now,
                    }
                })
                .collect();
            issue_ids.extend(issue_rows::insert_seeded(&tenant, &txn, project, rows).await?);
            next = end;
        }
        txn.commit().await?;
    }
    // Events, round-robin over the issues.
    let mut written = 0u64;
    while written < events {
        let txn = db.begin_write().await?;
        for _ in 0..STATEMENTS_PER_TXN {
            if written >= events {
                break;
            }
            let end = Ord::min(written + ROWS_PER_STATEMENT as u64, events);
            let rows = (written..end)
                .map(|e| {
                    let at = now - Duration::seconds(((e * 104_729) % (14 * 86_400)) as i64);
                    event_rows::Seeded {
                        issue: issue_ids[(e % issues) as usize],
                        event_id: format!(
                            "{:032x}",
                            (u128::from(e) << 64)
                                | u128::from(u64::from_str_radix(&run[..16], 16).unwrap_or(0))
                        ),
                        at,
                        release: format!("seed@1.{}", e % 10),
                        user_key: format!("id:{}", e % 5000),
                    }
                })
                .collect();
            event_rows::insert_seeded(&tenant, &txn, project, &payload, rows).await?;
            written = end;
        }
        txn.commit().await?;
    }
    Ok(Seeded {
        issues,
        events: written,
    })
}
