//! Crash safety: a 200 from ingest means the envelope survives `kill -9`. A burst is sent, the
//! server is SIGKILLed mid-burst, restarted, and every event that got a 200 is found digested.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use errorwatch_core::config::Config;
use errorwatch_core::db::{Db, Pool};

use crate::cli::errorwatch;
use crate::harness::{TestDatabase, db_test};
use crate::shutdown::{free_port, start_server, wait_ready};

async fn count_events(db: &Db, ids: &[String]) -> usize {
    let mut found = 0;
    for id in ids {
        let n: i64 = match db.pool() {
            Pool::Sqlite(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_id = ?1")
                    .bind(id)
                    .fetch_one(p)
                    .await
            }
            Pool::Postgres(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_id = $1")
                    .bind(id)
                    .fetch_one(p)
                    .await
            }
        }
        .expect("query");
        found += n as usize;
    }
    found
}

db_test!(
    async fn every_event_acknowledged_before_sigkill_is_digested_after_restart(backend) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let database = TestDatabase::create(backend).await;
        let url = database.url().to_owned();
        let env = [("DATABASE_URL", url.as_str())];
        assert!(errorwatch(&["user", "create", "--email", "crash@example.com", "--password-stdin"], &env, "password-123\n").status.success());
        assert!(errorwatch(&["account", "create", "--name", "Crash", "--owner", "crash@example.com"], &env, "").status.success());
        let created = errorwatch(&["project", "create", "--account", "crash", "--name", "Web", "--json"], &env, "");
        let project: serde_json::Value = serde_json::from_slice(&created.stdout).expect("json");
        let dsn = project["dsn"].as_str().expect("dsn").to_owned();
        let key = dsn.trim_start_matches("http://").split('@').next().expect("key").to_owned();
        let project_id = project["id"].as_i64().expect("id");

        let port = free_port();
        let mut server = start_server(&url, port);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
        wait_ready(&client, port).await;

        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut senders = Vec::new();
        for worker in 0..8 {
            let (client, acknowledged, key) = (client.clone(), acknowledged.clone(), key.clone());
            senders.push(tokio::spawn(async move {
                for i in 0..400 {
                    let event_id = uuid::Uuid::new_v4().simple().to_string();
                    let body = format!(
                        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\"}}\n{{\"message\":\"burst {worker}-{i}\",\"level\":\"error\"}}\n"
                    );
                    let sent = client
                        .post(format!("http://127.0.0.1:{port}/api/{project_id}/envelope/?sentry_key={key}"))
                        .body(body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => acknowledged.lock().expect("lock").push(event_id),
                        Ok(r) => panic!("unexpected status {} before the kill", r.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while acknowledged.lock().expect("lock").len() < 300 {
            assert!(Instant::now() < deadline, "burst too slow");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill().expect("SIGKILL");
        let _ = server.wait();
        for sender in senders {
            sender.await.expect("sender");
        }
        let ids = acknowledged.lock().expect("lock").clone();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());

        let port = free_port();
        let mut restarted = start_server(&url, port);
        wait_ready(&client, port).await;
        let config = Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone())).expect("config");
        let db = Db::connect(&config.database).await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = count_events(&db, &ids).await;
            if found == ids.len() {
                break;
            }
            if Instant::now() > deadline {
                let jobs = errorwatch(&["jobs", "status", "--json"], &env, "");
                let spool: i64 = match db.pool() {
                    Pool::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM ingest_spool").fetch_one(p).await,
                    Pool::Postgres(p) => sqlx::query_scalar("SELECT COUNT(*) FROM ingest_spool").fetch_one(p).await,
                }
                .expect("query");
                panic!(
                    "only {found} of {} acknowledged events digested; {spool} spool rows left; jobs: {}",
                    ids.len(),
                    String::from_utf8_lossy(&jobs.stdout)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        restarted.kill().expect("kill");
        let _ = restarted.wait();
        db.close().await;
    }
);
