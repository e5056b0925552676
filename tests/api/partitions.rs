//! PostgreSQL's partitioned `events`: retention drops a whole expired
//! partition (with its records' links and producers' ids) and what remains
//! verifies; a producer's id stays unique across partitions; a record lands
//! in a partition made for it, however old, even one another process
//! dropped; a database from before the
//! partitions migrates with its records. Each test passes on SQLite as far as
//! it applies (no partitions there).

use std::sync::Arc;

use app::model::{Kind, Micros};
use app::store::{NewRecord, Scope};
use sqlx::Connection;
use uuid::Uuid;

use crate::helpers::{received, received_at, spawn_app, spawn_app_on, TestApp, TestDatabase, DAY_US};

/// A record with a producer's id.
fn with_event_id(record: NewRecord, event_id: &str) -> NewRecord {
    NewRecord { event_id: Some(event_id.to_owned()), ..record }
}

/// Events and actions are partitioned by 28 days (from the Unix epoch): the
/// start of the span that holds `at`.
fn span_of(at: Micros) -> Micros {
    Micros(at.0 - at.0.rem_euclid(28 * DAY_US))
}

/// The name of the partition of `kind` whose span starts at `start`.
fn partition_name(kind: Kind, start: Micros) -> String {
    let day = chrono::DateTime::from_timestamp_micros(start.0).unwrap();
    format!("events_{kind}_{}", day.format("%Y%m%d"))
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

#[tokio::test]
async fn retention_drops_a_whole_expired_partition_and_what_remains_verifies() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    // Mid-span, 200 days ago: events (with producers' ids) past the default
    // 90 days, and audits of the same hours, kept forever.
    let span = span_of(Micros(Micros::now().0 - 200 * DAY_US));
    let at = |i: i64| Micros(span.0 + 14 * DAY_US + i * 1_000_000);
    let old: Vec<NewRecord> =
        (0..300).map(|i| with_event_id(received_at(acme, Kind::Event, at(i)), &format!("old-{i}"))).collect();
    let audits: Vec<NewRecord> = (0..5).map(|i| received_at(acme, Kind::Audit, at(i))).collect();
    let young = with_event_id(received(acme, Kind::Event, 1.0), "young");
    app.store.insert_records(&[old.clone(), audits.clone(), vec![young.clone()]]).await.unwrap();
    let partition = partition_name(Kind::Event, span);
    if app.db.is_postgres() {
        assert_eq!(partition_of(&app, old[0].id).await, partition);
        assert_eq!(partition_of(&app, old[299].id).await, partition, "one span, one partition");
        assert!(partition_of(&app, audits[0].id).await.starts_with("events_audit_"));
    }

    // Another process purges: this server still knows the partition.
    let printed = app.cli(&["retention", "run"]).await;
    assert!(
        printed.lines().any(|l| l.starts_with("acme") && l.contains("event") && l.contains(" 300 removed")),
        "{printed}"
    );
    if app.db.is_postgres() {
        assert!(!table_exists(&app, &partition).await, "{partition} is dropped whole");
        let (registered,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM event_partitions WHERE name = $1")
            .bind(&partition)
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
    let (code, report) = app.cli_status(&["verify"]).await;
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("removed by retention"), "{report}");

    // A record of that span again, through the server that still knew the
    // dropped partition: it is made anew, and an id the purge forgot is new.
    let again = with_event_id(received_at(acme, Kind::Event, at(7)), "old-7");
    let outcome = app.store.insert_records(&[vec![again.clone()]]).await.unwrap();
    assert_eq!((outcome[0].ids.clone(), outcome[0].duplicates), (vec![again.id], 0));
    assert!(app.store.event_by_id(&Scope::Platform, again.id).await.unwrap().is_some());
    if app.db.is_postgres() {
        assert_eq!(partition_of(&app, again.id).await, partition);
    }
}

#[tokio::test]
async fn a_producers_id_is_one_record_across_partitions() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    let first = with_event_id(received(acme, Kind::Event, 30.0), "evt-42");
    let outcome = app.store.insert_records(&[vec![first.clone()]]).await.unwrap();
    assert_eq!(outcome[0].duplicates, 0);
    // The same producer's id, minted a month later: another partition.
    let retry = with_event_id(received(acme, Kind::Event, 0.0), "evt-42");
    let outcome = app.store.insert_records(&[vec![retry.clone()]]).await.unwrap();
    assert_eq!(outcome[0].duplicates, 1);
    assert_eq!(outcome[0].ids, vec![first.id], "the retry answers with the stored record's id");
    // Another workspace may use the same id.
    let globex = crate::helpers::add_workspace(&app.store, "globex").await.id;
    let other = with_event_id(received(globex, Kind::Event, 0.0), "evt-42");
    let outcome = app.store.insert_records(&[vec![other.clone()]]).await.unwrap();
    assert_eq!((outcome[0].ids.clone(), outcome[0].duplicates), (vec![other.id], 0));
}

#[tokio::test]
async fn records_of_any_time_find_a_partition_made_for_them() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    // Long past, far ahead, and a kind whose partitions span 28 days.
    let records = vec![
        received(acme, Kind::Action, 3_000.0),
        received(acme, Kind::Event, -40.0),
        received(acme, Kind::Audit, 700.0),
    ];
    let outcome = app.store.insert_records(std::slice::from_ref(&records)).await.unwrap();
    assert_eq!(outcome[0].duplicates, 0);
    for record in &records {
        assert!(app.store.event_by_id(&Scope::Platform, record.id).await.unwrap().is_some());
    }
    if app.db.is_postgres() {
        // Each in a partition of its kind, and the partition after it made ahead.
        for record in &records {
            let name = partition_of(&app, record.id).await;
            assert!(name.starts_with(&format!("events_{}_", record.kind)), "{name}");
            let (next,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM event_partitions p JOIN event_partitions n \
                 ON n.kind = p.kind AND n.starts = p.ends WHERE p.name = $1",
            )
            .bind(&name)
            .fetch_one(&mut pg(&app).await)
            .await
            .unwrap();
            assert_eq!(next, 1, "the partition after {name}");
        }
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
        let name = partition_of(&app, row.id).await;
        assert!(name.starts_with(&format!("events_{}_", row.kind)), "{name}");
    }
    let mut retry = with_event_id(received(app.workspace.id, Kind::Event, 0.0), "legacy-0");
    retry.key = "legacy.retry".into();
    let outcome = app.store.insert_records(&[vec![retry]]).await.unwrap();
    assert_eq!(outcome[0].duplicates, 1, "the producers' ids came along");
    let (code, report) = app.cli_status(&["verify"]).await;
    assert_eq!(code, 0, "{report}");
}
