//! Synthetic data for benchmarks: `errorwatch seed` fills a project with N issues and M events
//! (written straight into the tables in large batches, not through ingest), so list and search
//! timings can be measured at realistic sizes. Never used by the product itself.

use chrono::{Duration, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

use crate::db::Db;
use crate::ids::ProjectId;
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
/// into a project, unscoped: for the bench and operators only.
pub async fn seed_project_unscoped(
    db: &Db,
    project: ProjectId,
    issues: u64,
    events: u64,
) -> Result<Seeded> {
    let row = db
        .conn()
        .query_one(
            &Query::select()
                .column("account_id")
                .from("projects")
                .and_where(Expr::col("id").eq(project.0))
                .to_owned(),
        )
        .await?
        .ok_or(Error::NotFound)?;
    let account: i64 = row.try_get("", "account_id")?;
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
        "unresolved",
        "unresolved",
        "unresolved",
        "resolved",
        "ignored",
    ];
    let payload = crate::digest::compress_payload(&serde_json::json!({
        "message": "seeded event", "level": "error", "platform": "python", "tags": [["seed", "1"]]
    }))
    .map_err(Error::Internal)?;
    // Issues, each with its share of the events counted.
    let per_issue = events / issues;
    let extra = events % issues;
    let mut issue_ids: Vec<i64> = Vec::with_capacity(issues as usize);
    let mut next = 0u64;
    while next < issues {
        let txn = db.begin_write().await?;
        for _ in 0..STATEMENTS_PER_TXN {
            if next >= issues {
                break;
            }
            let mut statement = Query::insert()
                .into_table("issues")
                .columns([
                    "account_id",
                    "project_id",
                    "fingerprint",
                    "grouping_version",
                    "grouping_components",
                    "title",
                    "culprit",
                    "level",
                    "status",
                    "first_seen",
                    "last_seen",
                    "times_seen",
                    "users_seen",
                    "created_at",
                ])
                .returning_col("id")
                .to_owned();
            let end = Ord::min(next + ROWS_PER_STATEMENT as u64, issues);
            for i in next..end {
                let count = per_issue + u64::from(i < extra);
                let last = now - Duration::seconds(((i * 7919) % (14 * 86_400)) as i64);
                statement.values_panic([
                    account.into(),
                    project.0.into(),
                    format!("seed{run}{i:012}")
                        .chars()
                        .take(64)
                        .collect::<String>()
                        .into(),
                    2i32.into(),
                    "[]".into(),
                    format!("SeedError: synthetic problem number {i}").into(),
                    Some(format!("seed.module{} in handler_{}", i % 97, i % 13)).into(),
                    levels[(i % 5) as usize].into(),
                    statuses[(i % 5) as usize].into(),
                    (last - Duration::days(1)).into(),
                    last.into(),
                    (count as i64).into(),
                    ((count / 3) as i64).into(),
                    now.into(),
                ]);
            }
            for r in txn.query_all(&statement).await? {
                issue_ids.push(r.try_get("", "id")?);
            }
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
            let mut statement = Query::insert()
                .into_table("events")
                .columns([
                    "account_id",
                    "project_id",
                    "issue_id",
                    "event_id",
                    "timestamp",
                    "received_at",
                    "level",
                    "platform",
                    "release",
                    "environment",
                    "title",
                    "user_key",
                    "payload",
                    "payload_size",
                    "grouping_hash",
                ])
                .to_owned();
            let end = Ord::min(written + ROWS_PER_STATEMENT as u64, events);
            for e in written..end {
                let issue = issue_ids[(e % issues) as usize];
                let at = now - Duration::seconds(((e * 104_729) % (14 * 86_400)) as i64);
                statement.values_panic([
                    account.into(),
                    project.0.into(),
                    issue.into(),
                    format!(
                        "{:032x}",
                        (u128::from(e) << 64)
                            | u128::from(u64::from_str_radix(&run[..16], 16).unwrap_or(0))
                    )
                    .into(),
                    at.into(),
                    at.into(),
                    "error".into(),
                    Some("python".to_owned()).into(),
                    Some(format!("seed@1.{}", e % 10)).into(),
                    Some("production".to_owned()).into(),
                    Some("seeded event".to_owned()).into(),
                    Some(format!("id:{}", e % 5000)).into(),
                    payload.clone().into(),
                    120i32.into(),
                    "seed".into(),
                ]);
            }
            txn.execute(&statement).await?;
            written = end;
        }
        txn.commit().await?;
    }
    Ok(Seeded {
        issues,
        events: written,
    })
}
