//! PostgreSQL's partitioned `events`: retention drops a whole expired
//! partition (with its records' links and producers' ids) and what remains
//! verifies; a producer's id stays unique across partitions; a record lands
//! in a partition made for it, however old; a database from before the
//! partitions migrates with its records. Each test passes on SQLite as far as
//! it applies (no partitions there).

use std::sync::Arc;

use app::audit::{Actor, Entry};
use app::model::{Kind, Micros, HOUR_US};
use app::store::{NewRecord, Scope};
use sqlx::Connection;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_on, TestApp, TestDatabase};

const DAY_US: i64 = 24 * HOUR_US;

/// A record of `kind` in `workspace_id` received `days_ago`, its id minted then.
fn received(workspace_id: i64, kind: Kind, days_ago: f64, event_id: Option<String>) -> NewRecord {
    let at = Micros(Micros::now().0 - (days_ago * DAY_US as f64) as i64);
    let mut record = Actor::cli().record(Entry::new("partition.sample", "sample", "s1", "a sample".into()));
    record.id = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        (at.0 / 1_000_000) as u64,
        (at.0 % 1_000_000 * 1_000) as u32,
    ));
    (record.workspace_id, record.kind, record.occurred_at, record.received_at) = (workspace_id, kind, at, at);
    record.event_id = event_id;
    record
}

async fn pg(app: &TestApp) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&app.db.url).await.unwrap()
}

/// The partition that holds record `id`, by name.
async fn partition_of(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("SELECT tableoid::regclass::text FROM events WHERE id = $1")
        .bind(id)
        .fetch_one(&mut pg(app).await)
        .await
        .unwrap()
}

async fn table_exists(app: &TestApp, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(name).fetch_one(&mut pg(app).await).await.unwrap()
}

async fn purge(app: &TestApp) -> Vec<trail::retention::Purged> {
    let keys = trail::integrity::signing::SigningKeys::existing(&app.db.signing_key_file()).unwrap();
    // The server's own purge at start may hold the lock for a moment.
    loop {
        if let Some(purged) = trail::retention::run(&app.store, &keys, Micros::now()).await.unwrap() {
            return purged;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn retention_drops_a_whole_expired_partition_and_what_remains_verifies() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    // 200 days ago: a day of events (some with producers' ids) past the
    // default 90 days, and audits of the same day, kept forever.
    let old: Vec<NewRecord> =
        (0..300).map(|i| received(acme, Kind::Event, 200.0 + f64::from(i) / 1e5, Some(format!("old-{i}")))).collect();
    let audits: Vec<NewRecord> =
        (0..5).map(|i| received(acme, Kind::Audit, 200.0 + f64::from(i) / 1e5, None)).collect();
    let young = received(acme, Kind::Event, 1.0, Some("young".into()));
    app.store.insert_records(&[old.clone(), audits.clone(), vec![young.clone()]]).await.unwrap();
    let partition = if app.db.is_postgres() { Some(partition_of(&app, old[0].id).await) } else { None };
    if let Some(partition) = &partition {
        assert_ne!(partition, "events", "a partition, not the parent");
        assert_eq!(partition_of(&app, old[299].id).await, *partition, "one day, one partition");
        assert!(table_exists(&app, partition).await);
    }

    let purged = purge(&app).await;
    let removed: u64 =
        purged.iter().filter(|p| p.workspace == "acme" && p.kind == Kind::Event).map(|p| p.removed).sum();
    assert_eq!(removed, 300, "{purged:?}");
    if let Some(partition) = &partition {
        assert!(!table_exists(&app, partition).await, "{partition} is dropped whole");
        let (registered,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM event_partitions WHERE name = $1")
            .bind(partition)
            .fetch_one(&mut pg(&app).await)
            .await
            .unwrap();
        assert_eq!(registered, 0);
        let (ids,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM event_ids WHERE event_id LIKE 'old-%'")
            .fetch_one(&mut pg(&app).await)
            .await
            .unwrap();
        assert_eq!(ids, 0, "the dropped records' producers' ids are forgotten");
    }
    let left: Vec<Uuid> = app.all_records().await.into_iter().map(|r| r.id).collect();
    assert!(old.iter().all(|r| !left.contains(&r.id)));
    assert!(audits.iter().chain([&young]).all(|r| left.contains(&r.id)), "audits and the young event stay");

    // What remains verifies: the drop cut the chain and signed the cut.
    let (code, report) = app.cli_status(&["verify"]);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("removed by retention"), "{report}");

    // A record of that day again: its partition is made anew, and an id the
    // purge forgot is new again.
    let again = received(acme, Kind::Event, 200.0, Some("old-7".into()));
    let outcome = app.store.insert_records(&[vec![again.clone()]]).await.unwrap();
    assert_eq!((outcome[0].ids.clone(), outcome[0].duplicates), (vec![again.id], 0));
    assert!(app.store.event_by_id(&Scope::Platform, again.id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_producers_id_is_one_record_across_partitions() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    let first = received(acme, Kind::Event, 30.0, Some("evt-42".into()));
    let outcome = app.store.insert_records(&[vec![first.clone()]]).await.unwrap();
    assert_eq!(outcome[0].duplicates, 0);
    // The same producer's id, minted a month later: another partition.
    let retry = received(acme, Kind::Event, 0.0, Some("evt-42".into()));
    let outcome = app.store.insert_records(&[vec![retry.clone()]]).await.unwrap();
    assert_eq!(outcome[0].duplicates, 1);
    assert_eq!(outcome[0].ids, vec![first.id], "the retry answers with the stored record's id");
    // Another workspace may use the same id.
    let globex = crate::helpers::add_workspace(&app.store, "globex").await.id;
    let other = received(globex, Kind::Event, 0.0, Some("evt-42".into()));
    let outcome = app.store.insert_records(&[vec![other.clone()]]).await.unwrap();
    assert_eq!((outcome[0].ids.clone(), outcome[0].duplicates), (vec![other.id], 0));
}

#[tokio::test]
async fn records_of_any_time_find_a_partition_made_for_them() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    // Long past, far ahead, and a kind whose partitions span 28 days.
    let records = vec![
        received(acme, Kind::Action, 3_000.0, None),
        received(acme, Kind::Event, -40.0, None),
        received(acme, Kind::Audit, 700.0, None),
    ];
    let outcome = app.store.insert_records(std::slice::from_ref(&records)).await.unwrap();
    assert_eq!(outcome[0].duplicates, 0);
    for record in &records {
        assert!(app.store.event_by_id(&Scope::Platform, record.id).await.unwrap().is_some());
    }
    if app.db.is_postgres() {
        // And the partition after each, made ahead.
        let (partitions,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM event_partitions").fetch_one(&mut pg(&app).await).await.unwrap();
        assert!(partitions >= 6 + 6, "today's and tomorrow's of each kind, and two per record: {partitions}");
    }
}

/// A PostgreSQL database with records written before the partitions (and
/// before the hash chains) keeps them all, deduplicates by their producers'
/// ids, and verifies, once Trail has migrated it.
#[tokio::test]
async fn a_database_from_before_the_partitions_migrates_with_its_records() {
    let db = Arc::new(TestDatabase::fresh().await);
    if !db.is_postgres() {
        return;
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut earlier = sqlx::migrate!("migrations/postgres");
    earlier.migrations =
        earlier.migrations.iter().filter(|m| m.version < 20261204000000).cloned().collect::<Vec<_>>().into();
    earlier.run(&mut conn).await.unwrap();
    sqlx::query("INSERT INTO workspaces (slug, name, created_at) VALUES ('acme', 'Acme', 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    let now = Micros::now().0;
    for (i, (kind, days_ago)) in [("event", 0), ("event", 10), ("audit", 40), ("action", 3)].into_iter().enumerate() {
        let at = now - days_ago * DAY_US;
        let id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, (at / 1_000_000) as u64, 0));
        sqlx::query(
            "INSERT INTO events (id, workspace_id, event_id, kind, key, actor_type, visibility, severity, \
             occurred_at, received_at) SELECT $1, id, $2, $3, 'legacy.record', 'system', 'internal', 0, $4, $4 \
             FROM workspaces WHERE slug = 'acme'",
        )
        .bind(id)
        .bind(format!("legacy-{i}"))
        .bind(kind)
        .bind(at)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();

    let app = spawn_app_on(db).await;
    let legacy: Vec<_> = app.all_records().await.into_iter().filter(|r| r.key == "legacy.record").collect();
    assert_eq!(legacy.len(), 4, "every record moved into the partitions");
    for row in &legacy {
        assert_ne!(partition_of(&app, row.id).await, "events");
    }
    let mut retry = received(app.workspace.id, Kind::Event, 0.0, Some("legacy-0".into()));
    retry.key = "legacy.retry".into();
    let outcome = app.store.insert_records(&[vec![retry]]).await.unwrap();
    assert_eq!(outcome[0].duplicates, 1, "the producers' ids came along");
    let (code, report) = app.cli_status(&["verify"]);
    assert_eq!(code, 0, "{report}");
}
