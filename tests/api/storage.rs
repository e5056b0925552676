//! The storage layer through the `Store` trait: pagination, scopes, filters.

use std::collections::HashSet;

use app::model::{ActorType, EventFilter, Kind, Micros, Severity, Status, Visibility};
use app::store::{Grant, NewRecord, Page, Scope};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};

const MINUTE: i64 = 60_000_000;

pub fn record(workspace_id: i64, key: &str, minutes_ago: i64) -> NewRecord {
    let now = Micros::now();
    NewRecord {
        id: Uuid::now_v7(),
        workspace_id,
        event_id: None,
        brand: None,
        kind: Kind::Event,
        key: key.to_owned(),
        message: None,
        context: None,
        entity_type: None,
        entity_id: None,
        actor_type: ActorType::System,
        actor_id: None,
        actor_email: None,
        actor_name: None,
        actor_label: None,
        ip: None,
        user_agent: None,
        visibility: Visibility::Internal,
        severity: Severity::Info,
        status: None,
        duration_ms: None,
        provider: None,
        error_message: None,
        error_stack: None,
        correlation_id: None,
        payload: None,
        diff: None,
        occurred_at: Micros(now.0 - minutes_ago * MINUTE),
        received_at: now,
    }
}

async fn insert(app: &TestApp, records: Vec<NewRecord>) {
    app.store.insert_records(&[records]).await.unwrap();
}

fn keys(rows: &[app::model::EventRow]) -> Vec<&str> {
    rows.iter().map(|r| r.key.as_str()).collect()
}

#[tokio::test]
async fn keyset_pages_cover_every_record_once_newest_first() {
    let app = spawn_app().await;
    let ws = app.workspace.id;
    // Ties on occurred_at are broken by id.
    let records: Vec<NewRecord> = (0..237).map(|i| record(ws, &format!("k.{i}"), i / 3)).collect();
    insert(&app, records).await;

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = app
            .store
            .list_events(
                &Scope::Platform,
                &EventFilter::default(),
                Page { cursor: before, limit: 50, order: app::model::Order::NewestFirst },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = Some(page.last().unwrap().cursor());
        seen.extend(page);
    }
    // Trail's own records (the test's workspace and key) are on the platform's pages too.
    seen.retain(|row| row.workspace != app::audit::PLATFORM_WORKSPACE);
    assert_eq!(seen.len(), 237);
    assert_eq!(seen.iter().map(|r| r.id).collect::<HashSet<_>>().len(), 237);
    assert!(seen.windows(2).all(|w| (w[0].occurred_at, w[0].id) > (w[1].occurred_at, w[1].id)));
}

#[tokio::test]
async fn member_scopes_see_only_their_workspace_visibility_and_brand() {
    let app = spawn_app().await;
    let mine = app.workspace.id;
    let other = crate::helpers::add_workspace(&app.store, "other").await.id;
    let mut records = Vec::new();
    for (workspace, ws_name) in [(mine, "mine"), (other, "other")] {
        for visibility in Visibility::ALL {
            for brand in [Some("nike"), Some("puma"), None] {
                let mut r = record(workspace, &format!("{ws_name}.{visibility}.{}", brand.unwrap_or("none")), 1);
                r.visibility = *visibility;
                r.brand = brand.map(str::to_owned);
                records.push(r);
            }
        }
    }
    insert(&app, records).await;
    let all = EventFilter::default();

    assert_eq!(app.all_records().await.len(), 18);

    let provider = Scope::Grants(vec![Grant {
        workspace_id: mine,
        brand: None,
        visibilities: vec![Visibility::Internal, Visibility::Client],
    }]);
    let mut seen = keys(&app.records(&provider, &all).await).into_iter().map(str::to_owned).collect::<Vec<_>>();
    seen.sort();
    assert_eq!(
        seen,
        [
            "mine.client.nike",
            "mine.client.none",
            "mine.client.puma",
            "mine.internal.nike",
            "mine.internal.none",
            "mine.internal.puma"
        ]
    );

    let client = Scope::Grants(vec![Grant {
        workspace_id: mine,
        brand: Some("nike".into()),
        visibilities: vec![Visibility::Client],
    }]);
    assert_eq!(keys(&app.records(&client, &all).await), ["mine.client.nike"]);

    // A filter cannot widen a scope.
    let other_ws = EventFilter { workspace: Some("other".into()), ..Default::default() };
    assert!(app.records(&client, &other_ws).await.is_empty());
    let nobody = Scope::Grants(vec![]);
    assert!(app.records(&nobody, &all).await.is_empty());
}

#[tokio::test]
async fn filters_narrow_the_feed() {
    let app = spawn_app().await;
    let ws = app.workspace.id;
    let mut failed = record(ws, "crm_create", 1);
    (failed.kind, failed.status, failed.severity, failed.provider) =
        (Kind::Action, Some(Status::Failure), Severity::Error, Some("hubspot".into()));
    let mut publish = record(ws, "track_publish", 2);
    (publish.entity_type, publish.entity_id) = (Some("track".into()), Some("trk_1".into()));
    (publish.actor_id, publish.message) = (Some("u_12".into()), Some("Published 50% Off Summer".into()));
    let mut updated = record(ws, "track.updated", 3);
    (updated.entity_type, updated.entity_id, updated.correlation_id) =
        (Some("track".into()), Some("trk_1".into()), Some("req_7".into()));
    let other = record(ws, "trackless", 4);
    insert(&app, vec![failed, publish, updated, other]).await;

    let check = |filter: EventFilter, expected: &'static [&'static str]| {
        let app = &app;
        async move {
            let rows = app.records(&Scope::Platform, &filter).await;
            assert_eq!(keys(&rows), expected, "{filter:?}");
        }
    };
    check(EventFilter { key: Some("track_*".into()), ..Default::default() }, &["track_publish"]).await;
    check(
        EventFilter { key: Some("track*".into()), ..Default::default() },
        &["track_publish", "track.updated", "trackless"],
    )
    .await;
    check(EventFilter { key: Some("track.updated".into()), ..Default::default() }, &["track.updated"]).await;
    check(EventFilter { errors_only: true, ..Default::default() }, &["crm_create"]).await;
    check(
        EventFilter { status: Some(Status::Failure), provider: Some("hubspot".into()), ..Default::default() },
        &["crm_create"],
    )
    .await;
    check(
        EventFilter { entity_type: Some("track".into()), entity_id: Some("trk_1".into()), ..Default::default() },
        &["track_publish", "track.updated"],
    )
    .await;
    check(EventFilter { actor: Some("u_12".into()), ..Default::default() }, &["track_publish"]).await;
    check(EventFilter { correlation_id: Some("req_7".into()), ..Default::default() }, &["track.updated"]).await;
    check(EventFilter { kind: Some(Kind::Action), ..Default::default() }, &["crm_create"]).await;
    // Free text is case-insensitive and takes % literally.
    check(EventFilter { q: Some("50% off".into()), ..Default::default() }, &["track_publish"]).await;
    check(EventFilter { q: Some("5_%".into()), ..Default::default() }, &[]).await;
    let now = Micros::now().0;
    check(
        EventFilter {
            since: Some(Micros(now - 3 * MINUTE - MINUTE / 2)),
            until: Some(Micros(now - MINUTE - MINUTE / 2)),
            ..Default::default()
        },
        &["track_publish", "track.updated"],
    )
    .await;
}

#[tokio::test]
async fn records_received_after_a_point_are_found_by_id() {
    let app = spawn_app().await;
    let ws = app.workspace.id;
    insert(&app, vec![record(ws, "old.one", 500)]).await;
    let boundary = Uuid::now_v7();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    insert(&app, vec![record(ws, "new.one", 600), record(ws, "new.two", 0)]).await;
    let rows = app.store.events_received_after(&Scope::Platform, &EventFilter::default(), boundary, 100).await.unwrap();
    let mut found = keys(&rows);
    found.sort();
    assert_eq!(found, ["new.one", "new.two"], "received order, whatever occurred_at says");
}
