//! Retention: records past their period (by the time Trail received them) are
//! removed, the rest stay; periods are set per kind, by default and per
//! workspace, and each change is audited; the purge goes on beside ingest.

use std::collections::BTreeSet;
use std::time::Duration;

use app::model::{Kind, Micros, Period, StatsWindow};
use app::store::{NewRecord, Scope};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{eventually, received, spawn_app, TestApp};

async fn ids(app: &TestApp) -> BTreeSet<Uuid> {
    app.all_records().await.into_iter().map(|row| row.id).collect()
}

#[tokio::test]
async fn records_past_their_period_go_and_the_rest_stay() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    let globex = crate::helpers::add_workspace(&app.store, "globex").await.id;
    // Defaults: events and actions 90 days, audits forever.
    let retention = app.store.retention().await.unwrap();
    assert_eq!(retention.period("acme", Kind::Event), Period::Days(90));
    assert_eq!(retention.period("acme", Kind::Audit), Period::Forever);

    let printed = app.cli(&["retention", "set", "--workspace", "acme", "--kind", "event", "--days", "2"]).await;
    assert!(printed.contains("kept 2 days"), "{printed}");
    let changed = app.audit_records().await.into_iter().find(|r| r.key == "retention.changed").expect("audited");
    let changed = app.store.event_by_id(&Scope::Platform, changed.id).await.unwrap().unwrap();
    assert_eq!(changed.row.actor_label.as_deref(), Some("cli"));
    let diff: serde_json::Value = serde_json::from_str(changed.diff.as_deref().unwrap()).unwrap();
    assert_eq!(diff, json!({"old": {"period": "default"}, "new": {"period": "2 days"}}));

    let old_event = received(acme, Kind::Event, 3.0);
    let young_event = received(acme, Kind::Event, 1.0);
    let old_audit = received(acme, Kind::Audit, 400.0);
    let old_action = received(acme, Kind::Action, 3.0);
    let other_workspace = received(globex, Kind::Event, 3.0);
    let past_default = received(globex, Kind::Action, 91.0);
    let all = [&old_event, &young_event, &old_audit, &old_action, &other_workspace, &past_default];
    app.store.insert_records(&[all.iter().map(|r| (*r).clone()).collect()]).await.unwrap();
    let week = |app: &TestApp| {
        let store = app.store.clone();
        async move { store.stats(&Scope::Platform, Some("acme"), StatsWindow::Week, Micros::now()).await.unwrap() }
    };
    let stats_before = week(&app).await;

    let printed = app.cli(&["retention", "run"]).await;
    assert!(printed.contains("acme") && printed.contains("1 removed"), "{printed}");
    let kept = ids(&app).await;
    for (record, stays) in [
        (&old_event, false),
        (&young_event, true),
        (&old_audit, true),
        (&old_action, true),
        (&other_workspace, true),
        (&past_default, false),
    ] {
        assert_eq!(kept.contains(&record.id), stays, "{:?} {} days", record.kind, record.received_at.0);
    }
    // The roll-ups stay as history: the week's stats are what they were.
    assert_eq!(week(&app).await.records, stats_before.records);
    assert!(app.cli(&["retention", "run"]).await.contains("nothing is past its period"));
    let shown = app.cli(&["retention", "show"]).await;
    assert!(shown.lines().any(|l| l.starts_with("acme") && l.contains("2 days")), "{shown}");
}

#[tokio::test]
async fn a_purge_goes_on_beside_ingest_and_reads() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    let old: Vec<NewRecord> = (0..9_000).map(|i| received(acme, Kind::Event, 100.0 + f64::from(i) / 1e4)).collect();
    for chunk in old.chunks(3_000) {
        app.store.insert_records(&[chunk.to_vec()]).await.unwrap();
    }
    let (store, keys) = (app.store.clone(), signing_keys(&app));
    // The server's own purge at start may hold the lock for a moment.
    let purge = tokio::spawn(async move {
        loop {
            if let Some(purged) = trail::retention::run(&store, &keys, Micros::now()).await.unwrap() {
                return purged;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    let mut accepted = 0;
    while !purge.is_finished() {
        let response = app.ingest(&json!({"key": "during.purge", "kind": "event"})).await;
        assert_eq!(response.status(), 202, "ingest during the purge");
        accepted += 1;
        let read = app.client.get(app.url("/api/v1/events?limit=5")).bearer_auth(&app.key).send().await.unwrap();
        assert_eq!(read.status(), 200, "reads during the purge");
    }
    // The server's own purge at start may have taken some: together they take all 9,000.
    let removed: u64 = purge.await.unwrap().iter().map(|p| p.removed).sum();
    assert!(removed <= 9_000);
    let left = app.all_records().await;
    assert_eq!(left.len(), accepted, "only what came during the purge is left");
    assert!(left.iter().all(|row| row.key == "during.purge"));
    // The chains still verify: the purge cut each one, and signed the cut.
    let (code, report) = app.cli_status(&["verify"]).await;
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("removed by retention"), "{report}");
}

fn signing_keys(app: &TestApp) -> trail::integrity::signing::SigningKeys {
    trail::integrity::signing::SigningKeys::existing(&app.db.signing_key_file()).unwrap()
}

#[tokio::test]
async fn one_server_purges_at_a_time() {
    let app = spawn_app().await;
    // The server's own first purge, at start, may still hold it for a while
    // (longer on a loaded machine).
    let patience = Duration::from_secs(20);
    let held = eventually("free once the server's first purge is done", patience, || async {
        app.store.job_lock(app::store::Job::Purge).await.unwrap()
    })
    .await;
    let keys = signing_keys(&app);
    let second = trail::retention::run(&app.store, &keys, Micros::now()).await.unwrap();
    assert!(second.is_none(), "another purge holds the lock");
    drop(held);
    // PostgreSQL frees the lock once it sees the holder's connection close.
    eventually("free again", patience, || async {
        trail::retention::run(&app.store, &keys, Micros::now()).await.unwrap()
    })
    .await;
}
