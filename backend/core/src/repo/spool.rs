//! The ingest spool: acknowledged envelopes waiting for the digest.
//!
//! Identifiers: a misspelled table or column is a compile error.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DeriveIden, Statement};

use super::entity::ingest_spool;
use super::{ProjectTable, TenantTable};

/// The `ingest_spool` table and its columns.
#[derive(Clone, Copy, Debug, DeriveIden)]
#[allow(dead_code)]
pub(crate) enum IngestSpool {
    Table,
    Id,
    AccountId,
    ProjectId,
    ReceivedAt,
    ClientIp,
    Envelope,
}

impl TenantTable for IngestSpool {
    const TABLE: Self = Self::Table;
    const ACCOUNT_ID: Self = Self::AccountId;
}

impl ProjectTable for IngestSpool {
    const PROJECT_ID: Self = Self::ProjectId;
}

// PostgreSQL's spool is one queue for every account: these statements cross tenants by
// design (each row carries the account its DSN key resolved; the digest writes with it).

/// The start of the multi-row insert of a group commit (values follow).
pub(crate) const INSERT_ALL_ACCOUNTS: &str = "INSERT INTO ingest_spool \
     (account_id, project_id, received_at, client_ip, encoding, envelope) ";

/// First and last id waiting; each end read from the primary key.
pub(crate) const BACKLOG_ALL_ACCOUNTS: &str =
    "SELECT (SELECT MIN(id) FROM ingest_spool), (SELECT MAX(id) FROM ingest_spool)";

/// Gives the pages of consumed rows back to the table.
pub(crate) const VACUUM: &str = "VACUUM ingest_spool";

/// The queue's name in metrics.
pub(crate) const QUEUE_NAME: &str = "ingest_spool";

/// Claims up to `max_rows` of the oldest rows no other digest holds (`FOR UPDATE SKIP LOCKED`)
/// and returns their ids and stored sizes, in id order.
pub(crate) async fn claim_all_accounts(
    txn: &DatabaseTransaction,
    max_rows: i64,
) -> anyhow::Result<Vec<(i64, i64)>> {
    txn.query_all_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT id, length(envelope)::BIGINT AS size FROM ingest_spool \
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        [max_rows.into()],
    ))
    .await?
    .into_iter()
    .map(|r| Ok((r.try_get::<i64>("", "id")?, r.try_get::<i64>("", "size")?)))
    .collect()
}

/// The claimed rows with their envelopes and encodings, in id order.
pub(crate) async fn claimed_rows_all_accounts(
    txn: &DatabaseTransaction,
    ids: &[i64],
) -> anyhow::Result<Vec<(ingest_spool::Model, i16)>> {
    txn.query_all_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT id, account_id, project_id, received_at, client_ip, encoding, envelope \
         FROM ingest_spool WHERE id = ANY($1) ORDER BY id",
        [ids.to_vec().into()],
    ))
    .await?
    .into_iter()
    .map(|r| {
        Ok((
            ingest_spool::Model {
                id: r.try_get("", "id")?,
                account_id: r.try_get("", "account_id")?,
                project_id: r.try_get("", "project_id")?,
                received_at: r.try_get("", "received_at")?,
                client_ip: r.try_get("", "client_ip")?,
                envelope: r.try_get("", "envelope")?,
            },
            r.try_get("", "encoding")?,
        ))
    })
    .collect()
}

/// Deletes consumed rows (in the transaction that stored their effects).
pub(crate) async fn delete_all_accounts(
    txn: &DatabaseTransaction,
    ids: Vec<i64>,
) -> anyhow::Result<()> {
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "DELETE FROM ingest_spool WHERE id = ANY($1)",
        [ids.into()],
    ))
    .await?;
    Ok(())
}
