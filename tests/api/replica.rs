//! `TRAIL_DATABASE_READ_URL`: reads of records go to a streaming replica of
//! the database, writes to the primary. scripts/test builds a real replica
//! (`pg_basebackup -R`, a second server) and runs the read tests through it
//! with `TRAIL_TEST_POSTGRES_READ_URL`; without one these tests do nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{spawn_app, TestApp};

/// Connections of the replica to the test's database whose last statement read records.
async fn record_reads_on(app: &TestApp, replica: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(replica).await.unwrap();
    let (in_recovery,): (bool,) = sqlx::query_as("SELECT pg_is_in_recovery()").fetch_one(&mut conn).await.unwrap();
    assert!(in_recovery, "{replica} is a standby");
    let name = app.db.url.rsplit_once('/').unwrap().1;
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
         AND query LIKE '%FROM events e JOIN workspaces%'",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn records_are_read_from_the_replica_and_written_to_the_primary() {
    let app = spawn_app().await;
    let Some(replica) = app.db.read_url() else { return };
    let sent = app.ingest(&json!({"key": "through.the.primary"})).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED, "writes go to the primary (a standby refuses them)");
    assert_eq!(record_reads_on(&app, &replica).await, 0, "nothing read there yet");

    let page = app.client.get(app.url("/api/v1/events")).bearer_auth(&app.key).send().await.unwrap();
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["events"][0]["key"], "through.the.primary", "the replica has the commit");
    assert!(record_reads_on(&app, &replica).await > 0, "the page was read on the replica");
}
