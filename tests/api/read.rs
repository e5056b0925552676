//! `/api/v1` reads, export, OpenAPI, health and metrics.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use app::model::{Role, Visibility};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app, wait_until_up, TestApp};
use crate::isolation::{fixture, may_see, sign_ins};

fn ids(page: &Value) -> BTreeSet<String> {
    page["events"].as_array().expect("events").iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

/// Who reads, how they authenticate, and what they may see.
enum Reader {
    Session(Role, reqwest::Client),
    Key(&'static str, String),
}

/// The JSON body, or a failure that shows what came instead.
async fn body(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

async fn get(app: &TestApp, reader: &Reader, path: &str) -> reqwest::Response {
    match reader {
        Reader::Session(_, client) => client.get(app.url(path)).send().await.unwrap(),
        Reader::Key(_, key) => app.client.get(app.url(path)).bearer_auth(key).send().await.unwrap(),
    }
}

/// Whether a reader may see a record of (workspace, visibility, brand).
type MaySee = dyn Fn(&str, Visibility, Option<&str>) -> bool;

#[tokio::test]
async fn every_read_endpoint_respects_the_scope() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut readers: Vec<(Reader, Box<MaySee>)> = Vec::new();
    for (role, client) in sign_ins(&app).await {
        readers.push((Reader::Session(role, client), Box::new(move |w, v, b| may_see(role, w, v, b))));
    }
    let acme_key = crate::helpers::issue_key(&app.store, &app.workspace.slug, "read").await;
    readers.push((Reader::Key("acme key", acme_key), Box::new(|w, _, _| w == "acme")));
    let spanning = crate::helpers::issue_key(&app.store, "", "read").await;
    readers.push((Reader::Key("spanning key", spanning), Box::new(|_, _, _| true)));

    for (reader, rule) in &readers {
        let who = match reader {
            Reader::Session(role, _) => role.as_str().to_owned(),
            Reader::Key(name, _) => name.to_string(),
        };
        let expected: BTreeSet<String> =
            fixture.records.iter().filter(|(_, w, v, b)| rule(w, *v, *b)).map(|(id, ..)| id.clone()).collect();

        let list = body(get(&app, reader, "/api/v1/events?key=secret.thing&limit=1000").await).await;
        assert_eq!(ids(&list), expected, "{who}: list");
        let searched = body(get(&app, reader, "/api/v1/events?q=workspace:globex%20key:secret.thing").await).await;
        assert!(ids(&searched).is_subset(&expected), "{who}: a filter cannot widen the scope");
        let timeline = body(get(&app, reader, "/api/v1/entities/track/trk_shared/timeline?limit=1000").await).await;
        assert_eq!(ids(&timeline), expected, "{who}: timeline");

        let export =
            get(&app, reader, "/api/v1/events/export?format=ndjson&key=secret.thing").await.text().await.unwrap();
        let exported: BTreeSet<String> = export
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(exported, expected, "{who}: export");

        // Readers of every workspace count Trail's own records too (sign-ins, keys, exports).
        let platform = matches!(reader, Reader::Session(role, _) if role.is_platform()) || who == "spanning key";
        let own = if platform { app.audit_records().await.len() } else { 0 };
        let stats = body(get(&app, reader, "/api/v1/stats?window=1h").await).await;
        assert_eq!(stats["records"].as_u64().unwrap() as usize, expected.len() + own, "{who}: stats count");
        let counts = body(get(&app, reader, "/api/v1/events/counts?window=1h").await).await;
        assert_eq!(counts["by_key"][0]["count"].as_u64().unwrap() as usize, expected.len(), "{who}: counts");

        for (id, w, v, b) in &fixture.records {
            let status = get(&app, reader, &format!("/api/v1/events/{id}")).await.status();
            let want = if rule(w, *v, *b) { StatusCode::OK } else { StatusCode::NOT_FOUND };
            assert_eq!(status, want, "{who}: record in {w} {v} {b:?}");
        }
    }
}

#[tokio::test]
async fn pages_follow_cursors_and_bad_parameters_are_400() {
    let app = spawn_app().await;
    let records: Vec<Value> = (0..25).map(|i| json!({"key": "paged.item", "event_id": i})).collect();
    app.ingest(&Value::Array(records)).await;
    let mut seen = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let page: Value = app
            .client
            .get(app.url(&format!("/api/v1/events?limit=10&cursor={cursor}")))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    for bad in
        ["limit=1001", "limit=0", "cursor=garbage", "kind=thing", "errors=maybe", "since=yesterday", "q=colour:red"]
    {
        let response =
            app.client.get(app.url(&format!("/api/v1/events?{bad}"))).bearer_auth(&app.key).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["status"], 400, "{bad}: one error shape");
    }
    let ingest_only = crate::helpers::issue_key(&app.store, &app.workspace.slug, "ingest").await;
    let forbidden = app.client.get(app.url("/api/v1/events")).bearer_auth(&ingest_only).send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
}

async fn read_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = app.client.get(app.url(path)).bearer_auth(&app.key).send().await.unwrap();
    (response.status(), body(response).await)
}

fn keys(page: &Value) -> BTreeSet<String> {
    page["events"].as_array().expect("events").iter().map(|r| r["key"].as_str().unwrap().to_owned()).collect()
}

/// The timeline and the failed operations take the read API's filters on
/// top of what they are, and an export without rows still has its header.
#[tokio::test]
async fn timelines_and_failures_narrow_by_the_filters() {
    let app = spawn_app().await;
    let records = json!([
        {"key": "track.created", "kind": "audit", "entity": {"type": "track", "id": "t1"}},
        {"key": "track.failed", "kind": "action", "status": "failure", "entity": {"type": "track", "id": "t1"}},
        {"key": "track.noted", "severity": "critical", "entity": {"type": "track", "id": "t1"}},
        // A failed operation the producer marked info is still a failure; a warning is no error.
        {"key": "sync.timed_out", "kind": "action", "status": "timeout", "severity": "info"},
        {"key": "disk.low", "severity": "warning"},
    ]);
    assert_eq!(app.ingest(&records).await.status(), StatusCode::ACCEPTED);
    let all = ["track.created", "track.failed", "track.noted"].map(str::to_owned);
    let timeline = "/api/v1/entities/track/t1/timeline";
    assert_eq!(keys(&read_json(&app, timeline).await.1), BTreeSet::from(all.clone()));
    let (status, audits) = read_json(&app, &format!("{timeline}?kind=audit")).await;
    assert_eq!((status, keys(&audits)), (StatusCode::OK, BTreeSet::from(["track.created".to_owned()])));
    let (status, none) = read_json(&app, &format!("{timeline}?key=nothing.here")).await;
    assert_eq!((status, keys(&none).len()), (StatusCode::OK, 0), "an entity the filters leave empty");
    for path in [
        "/api/v1/entities/track/t2/timeline",
        "/api/v1/entities/track/t2/timeline?kind=audit",
        "/api/v1/entities/track/t2/timeline?cursor=&limit=%20",
    ] {
        assert_eq!(read_json(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(read_json(&app, &format!("{timeline}?entity_type=album")).await.0, StatusCode::BAD_REQUEST);
    // Past a cursor, an entity the reader sees none of is still not found.
    let (_, first) = read_json(&app, &format!("{timeline}?limit=2")).await;
    let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
    let (status, rest) = read_json(&app, &format!("{timeline}?cursor={cursor}")).await;
    assert_eq!((status, keys(&rest).len()), (StatusCode::OK, 1));
    let (status, none) = read_json(&app, &format!("{timeline}?cursor={cursor}&key=nothing.here")).await;
    assert_eq!((status, keys(&none).len()), (StatusCode::OK, 0), "past the cursor, the filters leave none");
    let unknown = format!("/api/v1/entities/track/t2/timeline?cursor={cursor}");
    assert_eq!(read_json(&app, &unknown).await.0, StatusCode::NOT_FOUND, "{unknown}");

    let failed = keys(&read_json(&app, "/api/v1/events/failed/recent").await.1);
    assert_eq!(failed, BTreeSet::from(["sync.timed_out", "track.failed", "track.noted"].map(str::to_owned)));
    let critical = keys(&read_json(&app, "/api/v1/events/failed/recent?q=sev:>=critical").await.1);
    assert_eq!(critical, BTreeSet::from(["track.noted".to_owned()]), "a narrower severity narrows");

    let export = app.client.get(app.url("/api/v1/events/export?format=csv&key=nothing.here")).bearer_auth(&app.key);
    let csv = export.send().await.unwrap().text().await.unwrap();
    assert!(csv.starts_with("id,occurred_at,") && csv.ends_with("\r\n"), "{csv:?}");
    assert_eq!(csv.matches("\r\n").count(), 1, "the header alone");

    // An actor named by an email is found by its email or by an id that is one.
    let actors = json!([
        {"key": "actor.by_id", "actor": {"id": "maya@example.com"}},
        {"key": "actor.by_email", "actor": {"id": "u_7", "email": "maya@example.com"}},
        {"key": "actor.other", "actor": {"id": "u_8", "email": "bob@example.com"}},
    ]);
    assert_eq!(app.ingest(&actors).await.status(), StatusCode::ACCEPTED);
    let maya = keys(&read_json(&app, "/api/v1/events?actor=maya@example.com").await.1);
    assert_eq!(maya, BTreeSet::from(["actor.by_id".to_owned(), "actor.by_email".to_owned()]));
    // `actor_id` is the id alone, as a parameter and in the search.
    for path in ["/api/v1/events?actor_id=maya@example.com", "/api/v1/events?q=actor_id:maya@example.com"] {
        assert_eq!(keys(&read_json(&app, path).await.1), BTreeSet::from(["actor.by_id".to_owned()]), "{path}");
    }

    // A spanning key's workspace is read trimmed, as a bound key's is.
    let spanning = crate::helpers::issue_key(&app.store, "", "ingest").await;
    let padded = json!({"key": "k.padded", "workspace": format!(" {} ", app.workspace.slug)});
    assert_eq!(app.ingest_with(&spanning, &padded).await.status(), StatusCode::ACCEPTED);
}

/// Validates `instance` against the document's schema for a response.
fn conforms(doc: &Value, path: &str, method: &str, status: u16, instance: &Value) {
    let schema_ref =
        &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"];
    assert!(!schema_ref.is_null(), "the document describes {method} {path} {status}");
    let mut schema = schema_ref.clone();
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::draft201909::new(&schema).expect("a valid schema");
    let problems: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(problems.is_empty(), "{method} {path} {status}: {problems:#?}\n{instance:#}");
}

#[tokio::test]
async fn real_responses_conform_to_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let accepted = app
        .ingest(&json!([
            {"key": "crm_create", "kind": "action", "status": "failure", "provider": "hubspot", "duration_ms": 245,
             "error": {"message": "rate limited", "stack": "at x"}, "entity": {"type": "contact", "id": "c_1"},
             "payload": {"a": [1, 2]}, "diff": {"old": {"x": 1}, "new": {"x": 2}}, "correlation_id": "r1"},
            {"key": "login", "actor": {"id": "u_1", "email": "a@b.c"}}
        ]))
        .await;
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    conforms(&doc, "/api/v1/events", "post", 202, &accepted);
    let invalid: Value = app.ingest(&json!({"severity": "loud"})).await.json().await.unwrap();
    conforms(&doc, "/api/v1/events", "post", 422, &invalid);

    let read = |path: String| {
        let app = &app;
        async move {
            let response = app.client.get(app.url(&path)).bearer_auth(&app.key).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, list) = read("/api/v1/events".into()).await;
    conforms(&doc, "/api/v1/events", "get", status, &list);
    let id = accepted["ids"][0].as_str().unwrap();
    let (status, one) = read(format!("/api/v1/events/{id}")).await;
    conforms(&doc, "/api/v1/events/{id}", "get", status, &one);
    assert_eq!(one["error"]["message"], "rate limited");
    let (status, missing) = read(format!("/api/v1/events/{}", uuid::Uuid::now_v7())).await;
    conforms(&doc, "/api/v1/events/{id}", "get", status, &missing);
    let (status, timeline) = read("/api/v1/entities/contact/c_1/timeline".into()).await;
    conforms(&doc, "/api/v1/entities/{entity_type}/{entity_id}/timeline", "get", status, &timeline);
    let (status, failed) = read("/api/v1/events/failed/recent?minutes=5".into()).await;
    conforms(&doc, "/api/v1/events/failed/recent", "get", status, &failed);
    assert_eq!(failed["events"].as_array().unwrap().len(), 1, "the failed action");
    let (status, stats) = read("/api/v1/stats?window=24h".into()).await;
    conforms(&doc, "/api/v1/stats", "get", status, &stats);
    let (status, counts) = read("/api/v1/events/counts".into()).await;
    conforms(&doc, "/api/v1/events/counts", "get", status, &counts);
    let (status, bad) = read("/api/v1/events?limit=5000".into()).await;
    conforms(&doc, "/api/v1/events", "get", status, &bad);
    let (status, health) = read("/api/system/health".into()).await;
    conforms(&doc, "/api/system/health", "get", status, &health);
}

#[tokio::test]
async fn health_and_metrics_report_and_requests_carry_an_id() {
    let app = spawn_app().await;
    app.ingest(&json!({"key": "x"})).await;
    let health = app.client.get(app.url("/api/system/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().contains_key("x-request-id"));
    let health: Value = health.json().await.unwrap();
    // The stats queries may pass query_time's 250 ms on a loaded machine
    // (degraded); every other check is healthy.
    assert!(health["status"] == "healthy" || health["status"] == "degraded", "{health}");
    for check in health["checks"].as_array().unwrap().iter().filter(|c| c["name"] != "query_time") {
        assert_eq!(check["status"], "healthy", "{check}");
    }
    let names: Vec<&str> = health["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["database", "query_time", "error_rate", "activity", "integrity"]);
    assert!(health["records_24h"].is_null() && health["checks"][3]["detail"] == "", "no counts for anonymous callers");
    let workspace_key: Value =
        app.client.get(app.url("/api/system/health")).bearer_auth(&app.key).send().await.unwrap().json().await.unwrap();
    assert!(workspace_key["records_24h"].is_null(), "nor for a key limited to one workspace");
    let spanning = crate::helpers::issue_key(&app.store, "", "read").await;
    let full: Value = app
        .client
        .get(app.url("/api/system/health"))
        .bearer_auth(&spanning)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let own = app.audit_records().await.len();
    assert_eq!(full["records_24h"], 1 + own, "readers of every workspace get the counts, Trail's own records too");
    assert!(full["checks"][3]["detail"].as_str().unwrap().contains("records in 24 h"));

    let mine = app.client.get(app.url("/login")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(mine.headers()["x-request-id"], "trace-me-42", "a caller's request id is kept");

    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "metrics count every workspace's records");
    let scoped = app.client.get(app.url("/metrics")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(scoped.status(), StatusCode::FORBIDDEN, "nor for a key limited to one workspace");
    let metrics =
        app.client.get(app.url("/metrics")).bearer_auth(&spanning).send().await.unwrap().text().await.unwrap();
    for name in [
        "trail_ingest_requests_total{outcome=\"accepted\"}",
        "trail_ingest_records_total{result=\"stored\"}",
        "trail_ingest_batch_records_bucket",
        "trail_group_commit_records_count",
        "trail_http_request_duration_seconds_bucket{route=\"ingest\"",
        "trail_db_pool_connections{pool=",
    ] {
        assert!(metrics.contains(name), "/metrics has {name}");
    }
}

#[tokio::test]
async fn health_turns_unhealthy_without_the_database_and_recovers() {
    let app = spawn_app().await;
    let Some((server, database)) = app.db.url.rsplit_once('/').filter(|_| app.db.url.starts_with("postgres")) else {
        eprintln!("SQLite holds its file open: this check runs in the PostgreSQL pass");
        return;
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    let status = || async { app.client.get(app.url("/api/system/health")).send().await.unwrap().status() };
    assert_eq!(status().await, StatusCode::OK);

    sqlx::query(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false")).execute(&mut admin).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .execute(&mut admin)
    .await
    .unwrap();
    let response = app.client.get(app.url("/api/system/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");

    sqlx::query(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true")).execute(&mut admin).await.unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if status().await == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "healthy again once the database is back");
}

/// The peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_large_export_streams_in_bounded_memory() {
    let app = spawn_app().await;
    // A separate server process, so its memory can be measured alone.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_trail"))
        .arg("serve")
        .env("TRAIL_DATABASE_URL", &app.db.url)
        .env("TRAIL_SIGNING_KEY_FILE", app.db.signing_key_file())
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&app.client, &base).await;
    let total = 60_000;
    let padding = "x".repeat(400);
    for batch in 0..total / 1_000 {
        let records: Vec<Value> = (0..1_000)
            .map(|i| json!({"key": "bulk.export", "message": format!("record {batch}-{i} {padding}"), "payload": {"n": i}}))
            .collect();
        let response =
            app.client.post(format!("{base}/api/v1/events")).bearer_auth(&app.key).json(&records).send().await.unwrap();
        assert_eq!(response.status(), 202);
    }
    let before = peak_rss_kib(server.id());
    let mut response = app
        .client
        .get(format!("{base}/api/v1/events/export?format=ndjson"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    let (mut lines, mut bytes) = (0usize, 0usize);
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let growth_mib = peak_rss_kib(server.id()).saturating_sub(before) / 1024;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(lines, total);
    assert!(bytes > 30 << 20, "the export is large ({bytes} bytes)");
    assert!(growth_mib < 24, "peak memory grew {growth_mib} MiB while streaming {} MiB", bytes >> 20);
}

/// A long export asks again what its reader may see, as the live stream
/// does: a key revoked while it runs gets no further chunk, and the client
/// sees a download cut off, not a complete one.
#[tokio::test]
async fn an_export_stops_when_its_key_is_revoked() {
    let app = spawn_app().await;
    let reader = crate::helpers::issue_key(&app.store, "acme", "read").await;
    // Far more than the connection's buffers hold (26 MB), in few records:
    // this test shares the machine with the others.
    let total = 6_000;
    let padding = "x".repeat(4_000);
    for batch in 0..total / 1_000 {
        let records: Vec<Value> = (0..1_000)
            .map(|i| json!({"key": "bulk.export", "message": format!("record {batch}-{i} {padding}")}))
            .collect();
        assert_eq!(app.ingest(&json!(records)).await.status(), 202);
    }
    let mut response =
        app.client.get(app.url("/api/v1/events/export?format=ndjson")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    let id = app.store.api_keys().await.unwrap().into_iter().find(|k| reader.starts_with(&k.prefix)).unwrap().id;
    app::accounts::revoke_key(app.store.as_ref(), &app::audit::Actor::cli(), id).await.unwrap();

    let mut lines = first.iter().filter(|b| **b == b'\n').count();
    let cut_off = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => lines += chunk.iter().filter(|b| **b == b'\n').count(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(cut_off, "the download ends in an error, not as complete ({lines} lines)");
    assert!(lines < total, "{lines} of {total} records after the revocation");
    // Recorded by a task spawned as the cut-off export is dropped: a moment later, longer on a loaded machine.
    let recorded = eventually("the export is recorded", Duration::from_secs(20), || async {
        app.audit_records().await.into_iter().find(|r| r.key == "export.downloaded")
    })
    .await;
    let message = recorded.message.unwrap_or_default();
    assert!(message.starts_with("Export cut off after"), "{message}");
}

/// A filter that could match nothing, ever, is a 400 saying why, on every
/// read that takes the filters: a key with `*` inside, an empty time range.
#[tokio::test]
async fn filters_that_can_match_nothing_are_refused() {
    let app = spawn_app().await;
    assert_eq!(app.ingest(&json!({"key": "payment.done"})).await.status(), StatusCode::ACCEPTED);
    for path in ["/api/v1/events", "/api/v1/events/export", "/api/v1/events/failed/recent"] {
        for query in [
            "key=pay*ment*",
            "key=*ment",
            "key=payment**",
            "since=2026-02-01&until=2026-01-01",
            "since=2024-02-29&until=2024-02-29",
            "q=after:2026-02-01 before:2026-01-01",
            "since=2026-02-01&q=before:2026-01-01",
        ] {
            let (status, answer) = read_json(&app, &format!("{path}?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}: {answer}");
        }
    }
    let (status, answer) = read_json(&app, "/api/v1/events/failed/recent?minutes=60&until=2020-01-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "until before the minutes looked back: {answer}");
    for paged in ["limit=5", "cursor=abc"] {
        let (status, answer) = read_json(&app, &format!("/api/v1/events/export?{paged}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "an export has no pages: {answer}");
    }
    let (status, page) = read_json(&app, "/api/v1/events?key=pay*&since=2024-02-29&until=2124-03-01").await;
    assert_eq!((status, keys(&page).len()), (StatusCode::OK, 1), "{page}");
}
