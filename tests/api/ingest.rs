//! `POST /api/v1/events`: every accepted shape and every refusal.

use app::model::{Kind, Severity};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, STAGE_ROWS};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_single_record_is_stored_with_every_field() {
    let app = spawn_app().await;
    let record = json!({
        "event_id": "evt-1", "brand": "nike", "kind": "audit", "key": "brand.created",
        "message": "Brand created: Nike", "context": "web",
        "entity": {"type": "brand", "id": "br_1"},
        "actor": {"id": "u_1", "email": "maya@example.com", "name": "Maya", "label": "owner"},
        "ip": "203.0.113.9", "user_agent": "curl/8", "visibility": "client", "severity": "warning",
        "correlation_id": "req_1", "payload": {"plan": "pro"},
        "diff": {"old": {"name": null}, "new": {"name": "Nike"}},
        "occurred_at": "2026-11-20T10:00:00Z"
    });
    let response = app.ingest(&record).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body = json_of(response).await;
    assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(1), Some(0)));

    let rows = app.all_records().await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id.to_string(), body["ids"][0].as_str().unwrap());
    assert_eq!((row.kind, row.key.as_str(), row.severity), (Kind::Audit, "brand.created", Severity::Warning));
    assert_eq!(row.workspace, "acme");
    assert_eq!(row.brand.as_deref(), Some("nike"));
    assert_eq!(row.entity_display().as_deref(), Some("brand/br_1"));
    assert_eq!(row.actor_name.as_deref(), Some("Maya"));
    assert_eq!(row.correlation_id.as_deref(), Some("req_1"));
    assert_eq!(row.occurred_at.to_rfc3339(), "2026-11-20T10:00:00.000000Z");
    assert!(row.received_at > row.occurred_at);
}

#[tokio::test]
async fn arrays_and_the_events_envelope_are_batches() {
    let app = spawn_app().await;
    let response = app.ingest(&json!([{"key": "a.one"}, {"type": "a.two"}])).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = app
        .ingest(&json!({"events": [{"event_type": "b.one"}, {"eventKey": "b.two"}, {"action_type": "b_three"}]}))
        .await;
    assert_eq!(json_of(response).await["accepted"], 3);
    let mut keys: Vec<String> = app.all_records().await.into_iter().map(|r| r.key).collect();
    keys.sort();
    assert_eq!(keys, ["a.one", "a.two", "b.one", "b.two", "b_three"]);
}

#[tokio::test]
async fn a_repeated_event_id_is_stored_once_and_reported() {
    let app = spawn_app().await;
    let first = json_of(app.ingest(&json!({"key": "order.paid", "event_id": "ord-9"})).await).await;
    let again = json_of(app.ingest(&json!([{"key": "order.paid", "event_id": "ord-9"}, {"key": "x", "event_id": "ord-10"}, {"key": "x", "event_id": "ord-10"}])).await).await;
    assert_eq!(again["accepted"], 1);
    assert_eq!(again["duplicates"], 2);
    assert_eq!(again["ids"][0], first["ids"][0], "a retry gets the stored record's id");
    assert_eq!(again["ids"][1], again["ids"][2]);
    assert_eq!(app.all_records().await.len(), 2);
}

/// On SQLite, a group of `STAGE_ROWS` or more records is moved from the
/// staging table into the main one after it is answered; a smaller one stays.
#[tokio::test]
async fn a_retry_is_a_duplicate_whichever_table_holds_the_first() {
    let app = spawn_app().await;
    let orders = |range: std::ops::Range<usize>| {
        Value::Array(range.map(|i| json!({"key": "order.paid", "event_id": format!("ord-{i}")})).collect())
    };
    let moved = json_of(app.ingest(&orders(0..STAGE_ROWS)).await).await;
    let staged = json_of(app.ingest(&orders(STAGE_ROWS..STAGE_ROWS + 1)).await).await;
    let again = json_of(app.ingest(&orders(0..STAGE_ROWS + 1)).await).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(STAGE_ROWS as u64 + 1)));
    let first_ids: Vec<&Value> =
        moved["ids"].as_array().unwrap().iter().chain(staged["ids"].as_array().unwrap()).collect();
    assert_eq!(again["ids"].as_array().unwrap().iter().collect::<Vec<_>>(), first_ids);
    assert_eq!(app.all_records().await.len(), STAGE_ROWS + 1);
    for id in [&moved["ids"][0], &staged["ids"][0]] {
        let one = app
            .client
            .get(app.url(&format!("/api/v1/events/{}", id.as_str().unwrap())))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap();
        assert_eq!(one.status(), StatusCode::OK, "record {id}");
    }
}

#[tokio::test]
async fn a_batch_with_one_bad_item_stores_nothing_and_names_every_problem() {
    let app = spawn_app().await;
    let response = app
        .ingest(&json!([{"key": "fine"}, {"key": "also.fine", "severity": "loud"}, {"message": "no key", "duration_ms": -5}]))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_of(response).await;
    let errors: Vec<(u64, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, [(1, "severity"), (2, "key"), (2, "duration_ms")]);
    assert_eq!(body["errors"][0]["message"], "expected one of info, warning, error, critical");
    assert!(app.all_records().await.is_empty());
}

/// A misspelt field is refused, naming it, and stores nothing; a record as
/// the export writes it goes back in as it is (`id`, `received_at` are the
/// server's and left).
#[tokio::test]
async fn an_unknown_field_is_named_and_an_exported_record_goes_back_in() {
    let app = spawn_app().await;
    let response = app.ingest(&json!([{"key": "fine"}, {"key": "order.paid", "paylod": {"total": 5}}])).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_of(response).await;
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(body["errors"][0]["field"], "paylod");
    assert!(app.all_records().await.is_empty());

    let full = json!({"key": "order.paid", "kind": "action", "event_id": "o-1", "brand": "nike", "message": "Paid",
        "context": "billing", "entity": {"type": "order", "id": "o_1"}, "actor": {"id": "u_1", "email": "u@x.test",
        "name": "U", "label": "admin"}, "ip": "203.0.113.7", "user_agent": "curl/8", "visibility": "client",
        "severity": "error", "status": "failure", "duration_ms": 12, "provider": "stripe",
        "error": {"message": "declined", "stack": "at pay()"}, "correlation_id": "req_1", "payload": {"total": 5},
        "diff": {"old": {"state": "open"}, "new": {"state": "paid"}}});
    assert_eq!(app.ingest(&full).await.status(), StatusCode::ACCEPTED);
    let export = app.client.get(app.url("/api/v1/events/export?format=ndjson")).bearer_auth(&app.key).send();
    let line = export.await.unwrap().text().await.unwrap();
    let mut exported: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let again = app.ingest(&exported).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED, "{}", again.text().await.unwrap());
    exported["event_id"] = json!("o-2");
    let copy = json_of(app.ingest(&exported).await).await;
    assert_eq!(copy["accepted"], 1, "{copy}");
}

/// A gzip body is unpacked, within the same limit once unpacked; another
/// encoding is a 415, and a body nested too deep says so.
#[tokio::test]
async fn gzip_bodies_are_unpacked_within_the_limit() {
    use std::io::Write;
    let app = spawn_app().await;
    let gzip = |body: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    };
    let post = |body: Vec<u8>, encoding: &str| {
        app.client
            .post(app.url("/api/v1/events"))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body)
            .send()
    };
    let records = serde_json::to_vec(&json!([{"key": "zipped.one"}, {"key": "zipped.two"}])).unwrap();
    let answer = post(gzip(&records), "gzip").await.unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert_eq!(app.all_records().await.len(), 2);
    // 6 MiB of spaces packs into a few kilobytes; unpacked it is over the limit.
    let mut bomb = b"[{\"key\": \"big\"}".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 6 << 20));
    bomb.push(b']');
    assert_eq!(post(gzip(&bomb), "gzip").await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(post(records.clone(), "gzip").await.unwrap().status(), StatusCode::BAD_REQUEST, "not gzip");
    assert_eq!(post(records.clone(), "br").await.unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(post(records.clone(), "gzip, br").await.unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Not a compression (a charset, sent there by some clients): read as it is.
    assert_eq!(post(records, "utf-8").await.unwrap().status(), StatusCode::ACCEPTED);
    let deep = format!("{{\"key\": \"deep\", \"payload\": {}1{}}}", "[".repeat(200), "]".repeat(200));
    let answer = post(deep.into_bytes(), "identity").await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(answer.text().await.unwrap().contains("deeper than 128 levels"));
    assert_eq!(app.all_records().await.len(), 4, "nothing else stored");
}

#[tokio::test]
async fn keys_are_checked() {
    let app = spawn_app().await;
    let body = json!({"key": "x"});
    let missing = app.client.post(app.url("/api/v1/events")).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.ingest_with("trl_wrong", &body).await.status(), StatusCode::UNAUTHORIZED);

    let read_only = crate::helpers::issue_key(&app.store, &app.workspace.slug, "read").await;
    assert_eq!(app.ingest_with(&read_only, &body).await.status(), StatusCode::FORBIDDEN);

    let by_header =
        app.client.post(app.url("/api/v1/events")).header("X-API-Key", &app.key).json(&body).send().await.unwrap();
    assert_eq!(by_header.status(), StatusCode::ACCEPTED);
    assert_eq!(app.all_records().await.len(), 1);
}

#[tokio::test]
async fn a_key_for_one_workspace_cannot_write_to_another() {
    let app = spawn_app().await;
    crate::helpers::add_workspace(&app.store, "other").await;
    let response = app.ingest(&json!({"key": "x", "workspace": "other"})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(response).await["errors"][0]["field"], "workspace");
    assert!(app.all_records().await.is_empty());
}

#[tokio::test]
async fn a_spanning_key_writes_where_each_record_says() {
    let app = spawn_app().await;
    crate::helpers::add_workspace(&app.store, "other").await;
    let key = crate::helpers::issue_key(&app.store, "", "ingest").await;
    let unnamed = app.ingest_with(&key, &json!({"key": "x"})).await;
    assert_eq!(unnamed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response =
        app.ingest_with(&key, &json!([{"key": "x", "workspace": "acme"}, {"key": "y", "workspace": "other"}])).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mut workspaces: Vec<String> = app.all_records().await.into_iter().map(|r| r.workspace).collect();
    workspaces.sort();
    assert_eq!(workspaces, ["acme", "other"]);
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let app = spawn_app().await;
    let post = |content_type: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/events"))
            .bearer_auth(&app.key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_eq!(post("application/json", b"{not json".to_vec()).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(post("application/json", b"42".to_vec()).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        post("text/plain", b"{\"key\":\"x\"}".to_vec()).await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let too_many: Vec<Value> = (0..5_001).map(|_| json!({"key": "x"})).collect();
    assert_eq!(app.ingest(&Value::Array(too_many)).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let huge = json!({"key": "x", "payload": "a".repeat(5 * 1024 * 1024)});
    assert_eq!(app.ingest(&huge).await.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let exactly_the_limit: Vec<Value> = (0..5_000).map(|i| json!({"key": "bulk.item", "event_id": i})).collect();
    let response = app.ingest(&Value::Array(exactly_the_limit)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.all_records().await.len(), 5_000);
}

#[tokio::test]
async fn cloudevents_are_accepted() {
    let app = spawn_app().await;
    let event = json!({"specversion": "1.0", "id": "ce-1", "source": "/billing", "type": "invoice.generated",
                       "time": "2026-11-20T10:00:00Z", "data": {"total": 12}, "severity": "error"});
    let single = app
        .client
        .post(app.url("/api/v1/events"))
        .bearer_auth(&app.key)
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(single.status(), StatusCode::ACCEPTED);
    let batch = app
        .client
        .post(app.url("/api/v1/events"))
        .bearer_auth(&app.key)
        .header("content-type", "application/cloudevents-batch+json")
        .body(json!([event, {"specversion": "1.0", "id": "ce-2", "source": "/x", "type": "y.z"}]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(batch).await["duplicates"], 1);
    let rows = app.all_records().await;
    assert_eq!(rows.len(), 2);
    let invoice = rows.iter().find(|r| r.key == "invoice.generated").unwrap();
    assert_eq!((invoice.severity, invoice.context.as_deref()), (Severity::Error, Some("/billing")));
}

#[tokio::test]
async fn concurrent_requests_are_all_committed_with_their_own_ids() {
    let app = spawn_app().await;
    let requests = (0..64).map(|i| {
        let app = &app;
        async move {
            let response = app.ingest(&json!({"key": "concurrent.write", "event_id": format!("c-{i}")})).await;
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            json_of(response).await["ids"][0].as_str().unwrap().to_owned()
        }
    });
    let mut ids = futures::future::join_all(requests).await;
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert_eq!(app.all_records().await.len(), 64);
}

#[tokio::test]
async fn the_same_event_id_sent_at_once_is_stored_once() {
    let app = spawn_app().await;
    // Concurrent requests go to different groups (PostgreSQL writes four at
    // once): each waits for the claim of the one before it.
    let requests = (0..32).map(|i| {
        let app = &app;
        async move {
            let body = json!([{"key": "same.event", "event_id": "once"}, {"key": "other.event", "event_id": format!("o-{i}")}]);
            let response = app.ingest(&body).await;
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            json_of(response).await["ids"][0].as_str().unwrap().to_owned()
        }
    });
    let ids: std::collections::BTreeSet<String> = futures::future::join_all(requests).await.into_iter().collect();
    assert_eq!(ids.len(), 1, "every answer names the one stored record: {ids:?}");
    let stored = app.all_records().await;
    assert_eq!(stored.iter().filter(|r| r.key == "same.event").count(), 1);
    assert_eq!(stored.iter().filter(|r| r.key == "other.event").count(), 32);
}
