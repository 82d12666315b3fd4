//! Change notices for live subscriptions: a new issue, a changed issue (counts, state), a new
//! event. Producers (the digest, issue services) call [`publish`] after their commit.
//!
//! On SQLite (one process) notices go straight onto the process' bus. On PostgreSQL they go
//! out with `pg_notify` on the `errorwatch` channel, and every process runs [`listen`], which
//! puts each notice on its own bus — so a subscription held on one server sees events digested
//! by any worker of the cluster. The bus is a bounded broadcast channel: a subscriber that falls
//! more than [`BUS_CAPACITY`] notices behind skips the oldest (live views re-read state anyway).

pub use crate::change::{BUS_CAPACITY, Change, Notice};
use crate::db::{Db, Pool};

/// The PostgreSQL channel.
pub const CHANNEL: &str = "errorwatch";

/// Publishes notices (after the change committed). Failures are logged, never raised: a live
/// view missing a notice is not worth failing the change.
pub async fn publish(db: &Db, notices: &[Notice]) {
    if notices.is_empty() {
        return;
    }
    match db.pool() {
        Pool::Sqlite(_) => {
            for notice in notices {
                // No receiver is fine.
                let _ = db.bus().send(notice.clone());
            }
        }
        Pool::Postgres(pool) => {
            // One NOTIFY per chunk (payloads are limited to 8000 bytes).
            for chunk in notices.chunks(40) {
                let Ok(payload) = serde_json::to_string(chunk) else {
                    continue;
                };
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(pool)
                    .await
                {
                    tracing::warn!(error = %e, "cannot publish change notices");
                }
            }
        }
    }
}

/// On PostgreSQL, relays the cluster's notices onto this process' bus until `stop`; reconnects
/// after a lost connection. Returns at once on SQLite.
pub async fn listen(db: Db, stop: tokio_util::sync::CancellationToken) {
    let Pool::Postgres(pool) = db.pool().clone() else {
        return;
    };
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "change notices: cannot connect; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => continue,
                }
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "change notices: cannot LISTEN; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            continue;
        }
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                received = listener.recv() => match received {
                    Ok(notification) => {
                        if let Ok(notices) = serde_json::from_str::<Vec<Notice>>(notification.payload()) {
                            for notice in notices {
                                let _ = db.bus().send(notice);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change notices: connection lost; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

/// The notices of one account, as a stream (the tenancy filter lives here, not in callers).
/// A subscriber that lagged skips the notices it missed and goes on.
pub fn watch(
    scope: &crate::scope::AccountScope,
) -> impl futures::Stream<Item = Notice> + Send + use<> {
    use tokio::sync::broadcast::error::RecvError;
    let account = scope.account_id().0;
    let receiver = scope.db().bus().subscribe();
    futures::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(notice) if notice.account_id == crate::ids::AccountId(account) => {
                    return Some((notice, receiver));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
