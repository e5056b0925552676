//! `GET /api/v1/events/stream`: committed records arrive in commit order,
//! within the reader's scope and filter; a client resumes with
//! `Last-Event-ID` (across a server restart) without gap or duplicate; a
//! client that stops reading is dropped, not buffered without end.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::Visibility;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::helpers::{
    eventually, free_port, issue_key, spawn_app, spawn_app_on, spawn_app_with, start_server, wait_until_up,
    TestDatabase, FOUNDER_EMAIL,
};
use crate::isolation::{fixture, may_see, sign_ins};

/// How long a test waits for an event that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// One event of the stream (comments and `retry` alone are skipped).
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// A client's end of a stream.
pub struct EventStream {
    response: reqwest::Response,
    /// Bytes received and not yet parsed (a chunk may end inside a character).
    buffer: Vec<u8>,
}

impl EventStream {
    /// Opens `url` with `request` (auth, `Last-Event-ID`) and checks the answer.
    pub async fn open(request: reqwest::RequestBuilder) -> EventStream {
        let response = request.send().await.expect("stream request sent");
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.headers());
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream { response, buffer: Vec::new() }
    }

    /// The next event within `within`; `None` when the stream ended or nothing came.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(std::str::from_utf8(&block).expect("UTF-8")) {
                    return Some(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.extend_from_slice(&bytes),
                _ => return None,
            }
        }
    }

    pub async fn next(&mut self) -> SseEvent {
        self.next_within(PATIENCE).await.expect("an event within 10 s")
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, None, Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_owned()),
            "event" => event = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {} // a comment, or `retry`
        }
    }
    (!data.is_empty()).then(|| SseEvent { id, event, data: data.join("\n") })
}

fn ids(records: &[Value]) -> Vec<String> {
    records.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

async fn ingest_keys(client: &reqwest::Client, base: &str, key: &str, keys: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for k in keys {
        let response =
            client.post(format!("{base}/api/v1/events")).bearer_auth(key).json(&json!({"key": k})).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        ids.push(body["ids"][0].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn committed_records_arrive_in_order_with_every_field() {
    let app = spawn_app().await;
    let mut stream = EventStream::open(app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&app.key)).await;
    let sent = ingest_keys(&app.client, &app.address, &app.key, &["one", "two", "three"]).await;
    let mut received = Vec::new();
    for _ in 0..3 {
        let event = stream.next().await;
        assert_eq!(event.event, None, "a record is a plain message");
        let record = event.json();
        assert!(event.id.is_some_and(|id| !id.is_empty()), "each record's position is its id");
        received.push(record);
    }
    assert_eq!(ids(&received), sent, "in the order committed");
    // Pushed, not polled: a poll that had just brought these would bring
    // the next one only a whole 5-s period later.
    let next = ingest_keys(&app.client, &app.address, &app.key, &["four"]).await;
    let acknowledged = Instant::now();
    assert_eq!(ids(&[stream.next().await.json()]), next);
    let took = acknowledged.elapsed();
    assert!(took < Duration::from_secs(4), "pushed, not left for a 5-s poll: {took:?} after its 202");
    // The same record as the read API returns.
    let one: Value = app
        .client
        .get(app.url(&format!("/api/v1/events/{}", sent[1])))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(received[1], one);
}

/// Which fixture records (workspace, visibility, brand) a stream may send.
type Allowed = Box<dyn Fn(&str, Visibility, Option<&str>) -> bool>;

#[tokio::test]
async fn every_role_and_key_streams_only_what_it_may_see() {
    let app = spawn_app().await;
    let signed_in = sign_ins(&app).await;
    let workspace_key = issue_key(&app.store, "acme", "read").await;
    let spanning_key = issue_key(&app.store, "", "read").await;
    let url = app.url("/api/v1/events/stream");
    let mut streams: Vec<(String, bool, Allowed, EventStream)> = Vec::new();
    for (role, client) in &signed_in {
        let role = *role;
        let all = EventStream::open(client.get(&url)).await;
        streams.push((format!("{role}"), role.is_platform(), Box::new(move |w, v, b| may_see(role, w, v, b)), all));
        // A filter naming another workspace cannot widen the scope.
        let foreign = EventStream::open(client.get(&url).query(&[("workspace", "globex")])).await;
        let allowed: Allowed = Box::new(move |w, v, b| w == "globex" && may_see(role, w, v, b));
        streams.push((format!("{role}, workspace globex"), role.is_platform(), allowed, foreign));
    }
    // A workspace's key reads every visibility of its workspace.
    let keyed = EventStream::open(app.client.get(&url).bearer_auth(&workspace_key)).await;
    streams.push(("acme key".into(), false, Box::new(|w, _, _| w == "acme"), keyed));
    let spanning = EventStream::open(app.client.get(&url).bearer_auth(&spanning_key)).await;
    streams.push(("spanning key".into(), true, Box::new(|_, _, _| true), spanning));

    let fixture = fixture(&app).await;
    // Last in each workspace, visible to every reader of it: once it
    // arrives, everything before it has.
    let ingest_anywhere = issue_key(&app.store, "", "ingest").await;
    for workspace in ["acme", "globex"] {
        let marker = json!({"workspace": workspace, "key": "the.end", "visibility": "client", "brand": "nike"});
        assert_eq!(app.ingest_with(&ingest_anywhere, &marker).await.status(), StatusCode::ACCEPTED);
    }

    for (name, platform, allowed, mut stream) in streams {
        let expected: BTreeSet<String> =
            fixture.records.iter().filter(|(_, w, v, b)| allowed(w, *v, *b)).map(|(id, ..)| id.clone()).collect();
        if expected.is_empty() {
            assert!(stream.next_within(Duration::from_secs(1)).await.is_none(), "{name} gets nothing");
            continue;
        }
        let mut records = Vec::new();
        let mut markers = 0;
        let markers_expected = if allowed("acme", Visibility::Client, Some("nike")) { 1 } else { 0 }
            + if allowed("globex", Visibility::Client, Some("nike")) { 1 } else { 0 };
        while markers < markers_expected {
            let record = stream.next().await.json();
            markers += usize::from(record["key"] == "the.end");
            records.push(record);
        }
        let got: BTreeSet<String> = records
            .iter()
            .filter(|r| r["workspace"] != "trail" && r["key"] != "the.end")
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, expected, "{name}");
        if !platform {
            assert!(records.iter().all(|r| r["workspace"] != "trail"), "{name} never gets Trail's own records");
        }
    }
}

#[tokio::test]
async fn filters_and_search_apply_to_the_stream() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/events/stream");
    let mut payments =
        EventStream::open(app.client.get(&url).bearer_auth(&app.key).query(&[("q", "key:payment.* severity:>=error")]))
            .await;
    let mut text =
        EventStream::open(app.client.get(&url).bearer_auth(&app.key).query(&[("q", "\"card declined\"")])).await;
    // `since` bounds occurred_at, which a producer may set back: a backfilled
    // record is not newer for arriving now (the list leaves it out too).
    let mut recent = EventStream::open(app.client.get(&url).bearer_auth(&app.key).query(&[("since", "1h")])).await;
    let mut after = EventStream::open(app.client.get(&url).bearer_auth(&app.key).query(&[("q", "after:1h")])).await;
    let backfilled = json!({"key": "backfilled", "occurred_at": "2000-06-01T00:00:00Z"});
    assert_eq!(app.ingest(&backfilled).await.status(), StatusCode::ACCEPTED);
    for body in [
        json!({"key": "payment.failed", "severity": "error", "message": "card declined"}),
        json!({"key": "payment.ok", "message": "card declined twice"}),
        json!({"key": "login", "severity": "critical"}),
        json!({"key": "payment.refused", "severity": "critical"}),
    ] {
        assert_eq!(app.ingest(&body).await.status(), StatusCode::ACCEPTED);
    }
    let keys = |records: Vec<SseEvent>| {
        records.into_iter().map(|e| e.json()["key"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let got = vec![payments.next().await, payments.next().await];
    assert_eq!(keys(got), ["payment.failed", "payment.refused"]);
    let got = vec![text.next().await, text.next().await];
    assert_eq!(keys(got), ["payment.failed", "payment.ok"]);
    assert!(text.next_within(Duration::from_millis(500)).await.is_none(), "nothing else matches");
    for stream in [&mut recent, &mut after] {
        let first = stream.next().await.json()["key"].as_str().unwrap().to_owned();
        assert_eq!(first, "payment.failed", "the backfilled record is older than since");
    }

    let bad = app.client.get(&url).bearer_auth(&app.key).query(&[("severity", "loud")]).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad = app.client.get(&url).bearer_auth(&app.key).header("last-event-id", "nope").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("Last-Event-ID"));
    // Ids are sealed: a position written out is no id (it would tell how
    // many transactions every workspace committed, and could be made up).
    let clear = "999999999.ffffffffffffffffffffffffffffffff";
    let bad = app.client.get(&url).bearer_auth(&app.key).header("last-event-id", clear).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("expected the id of an event this stream sent"));
    // A position no record has reached yet would skip what comes until then.
    let ahead = app.stream_ids().seal(app::model::StreamPosition { commit_tx: 999_999_999, id: uuid::Uuid::max() });
    let bad = app.client.get(&url).bearer_auth(&app.key).header("last-event-id", &ahead).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("no record this server holds has that position yet"));
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let ingest_only = issue_key(&app.store, "acme", "ingest").await;
    let refused = app.client.get(&url).bearer_auth(&ingest_only).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_client_resumes_across_a_restart_without_gap_or_duplicate() {
    let db = Arc::new(TestDatabase::fresh().await);
    let setup = spawn_app_on(db.clone()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = start_server(&db, port);
    wait_until_up(&client, &base).await;
    let url = format!("{base}/api/v1/events/stream");

    let mut stream = EventStream::open(client.get(&url).bearer_auth(&setup.key)).await;
    let first = ingest_keys(&client, &base, &setup.key, &["a", "b", "c"]).await;
    let events: Vec<SseEvent> = vec![stream.next().await, stream.next().await, stream.next().await];
    assert_eq!(ids(&events.iter().map(SseEvent::json).collect::<Vec<_>>()), first);
    let after_first = events[0].id.clone().unwrap();
    let after_third = events[2].id.clone().unwrap();

    // The server stops: the stream ends at once (it does not hold the stop
    // up for the 5-s grace given to open requests).
    let stopping = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    assert!(stream.next_within(PATIENCE).await.is_none(), "the stream ends with the server");
    assert!(stopping.elapsed() < Duration::from_secs(4), "the stream ended after {:?}", stopping.elapsed());
    eventually("the server exits", Duration::from_secs(30), || std::future::ready(server.try_wait().unwrap())).await;

    // Records committed while the client was away, through another server.
    let mut server = start_server(&db, port);
    wait_until_up(&client, &base).await;
    let missed = ingest_keys(&client, &base, &setup.key, &["d", "e"]).await;

    let mut resumed =
        EventStream::open(client.get(&url).bearer_auth(&setup.key).header("last-event-id", &after_third)).await;
    let events = vec![resumed.next().await.json(), resumed.next().await.json()];
    assert_eq!(ids(&events), missed, "exactly what came after the last event seen");
    let later = ingest_keys(&client, &base, &setup.key, &["f"]).await;
    assert_eq!(ids(&[resumed.next().await.json()]), later, "then live");

    // From further back, by the parameter: every record after it, once.
    let from_first = client.get(&url).bearer_auth(&setup.key).query(&[("last_event_id", &after_first)]);
    let mut replay = EventStream::open(from_first).await;
    let expected: Vec<String> = first[1..].iter().chain(&missed).chain(&later).cloned().collect();
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(replay.next().await.json());
    }
    assert_eq!(ids(&got), expected);
    assert!(replay.next_within(Duration::from_secs(1)).await.is_none(), "and nothing more");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_told_to_resume() {
    let app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // A client that reads nothing, with a small receive window.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(address.parse().unwrap()).await.unwrap();
    let request =
        format!("GET /api/v1/events/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\r\n", app.key);
    tokio::io::AsyncWriteExt::write_all(&mut slow, request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Far more than the server queues for one client (and than the sockets hold).
    let message = "x".repeat(9_000);
    for batch in 0..12 {
        let records: Vec<Value> =
            (0..400).map(|i| json!({"key": "bulk", "message": format!("{batch}.{i} {message}")})).collect();
        assert_eq!(app.ingest(&Value::Array(records)).await.status(), StatusCode::ACCEPTED);
    }
    // A client that keeps up is not affected.
    let mut fast = EventStream::open(app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&app.key)).await;
    assert_eq!(ingest_keys(&app.client, &app.address, &app.key, &["after"]).await.len(), 1);
    assert_eq!(fast.next().await.json()["key"], "after");

    // Reading now, the slow client gets what was queued, then `lagged`, then
    // the end of the response (the last chunk).
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buffer = vec![0; 64 * 1024];
        while !received.ends_with(b"0\r\n\r\n") {
            let n = slow.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the connection stays open after the stream");
            received.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "the server ended the stream");
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("event: lagged"), "told it fell behind");
    let delivered = text.matches("\"key\":\"bulk\"").count();
    assert!(delivered < 4_800, "dropped before all {delivered} were queued for it");
}

/// One record larger than a stream's whole queue (the body limit allows
/// 5 MiB) still reaches a client that keeps up: it is never dropped as lagging.
#[tokio::test]
async fn a_record_larger_than_the_queue_reaches_a_client_that_keeps_up() {
    let app = spawn_app().await;
    let mut stream = EventStream::open(app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&app.key)).await;
    let big = "x".repeat(trail::live::QUEUE_BYTES + 1);
    let response = app.ingest(&json!({"key": "big", "payload": {"blob": big}})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{}", response.text().await.unwrap());
    let event = stream.next().await;
    assert_eq!(event.event, None, "a record, not `lagged`");
    assert_eq!(event.json()["payload"]["blob"].as_str().map(str::len), Some(big.len()));
}

/// PostgreSQL: a record is sent once every transaction of Trail's database
/// that began before its own has ended (one of them might still commit
/// records that come first); transactions of other databases do not matter.
#[tokio::test]
async fn records_wait_for_older_transactions_of_their_database_only() {
    use sqlx::{Connection, Executor};

    let app = spawn_app().await;
    if !app.db.is_postgres() {
        return; // SQLite commits one transaction at a time.
    }
    let mut stream = EventStream::open(app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&app.key)).await;
    let server = std::env::var("TRAIL_TEST_POSTGRES_URL").unwrap();
    let mut elsewhere = sqlx::PgConnection::connect(&server).await.unwrap();
    elsewhere.execute("BEGIN; SELECT pg_current_xact_id()").await.unwrap();
    ingest_keys(&app.client, &app.address, &app.key, &["while.elsewhere"]).await;
    assert_eq!(stream.next().await.json()["key"], "while.elsewhere", "another database's transaction holds nothing");

    let mut here = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    here.execute("BEGIN; SELECT pg_current_xact_id()").await.unwrap();
    ingest_keys(&app.client, &app.address, &app.key, &["behind.older"]).await;
    assert!(stream.next_within(Duration::from_secs(1)).await.is_none(), "held while an older transaction runs");
    here.execute("COMMIT").await.unwrap();
    assert_eq!(stream.next().await.json()["key"], "behind.older", "sent once it ended");
    elsewhere.execute("COMMIT").await.unwrap();
}

/// PostgreSQL: with two transactions running at once (the younger one's id
/// above the snapshot's `xmax`), a new stream still starts now: it neither
/// replays what came before nor stalls.
#[tokio::test]
async fn a_new_stream_starts_now_while_transactions_overlap() {
    use sqlx::{Connection, Executor};

    let app = spawn_app().await;
    if !app.db.is_postgres() {
        return;
    }
    ingest_keys(&app.client, &app.address, &app.key, &["before"]).await;
    let mut older = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let mut younger = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    older.execute("BEGIN; SELECT pg_current_xact_id()").await.unwrap();
    younger.execute("BEGIN; SELECT pg_current_xact_id()").await.unwrap();
    let mut stream = EventStream::open(app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&app.key)).await;
    older.execute("COMMIT").await.unwrap();
    younger.execute("COMMIT").await.unwrap();
    ingest_keys(&app.client, &app.address, &app.key, &["after"]).await;
    assert_eq!(stream.next().await.json()["key"], "after", "nothing from before the stream, and no stall");
}

/// An open stream asks again what its reader may see: a key revoked
/// meanwhile ends it within seconds (the client's reconnection is refused).
#[tokio::test]
async fn a_stream_ends_when_its_key_is_revoked() {
    let app = spawn_app().await;
    let reader = issue_key(&app.store, "acme", "read").await;
    let mut stream = EventStream::open(app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&reader)).await;
    let id = app.store.api_keys().await.unwrap().into_iter().find(|k| reader.starts_with(&k.prefix)).unwrap().id;
    app::accounts::revoke_key(app.store.as_ref(), &app::audit::Actor::cli(), id).await.unwrap();
    // Within PATIENCE: the stream asks again every 2 s.
    let last = stream.next_within(PATIENCE).await.expect("a last event");
    assert_eq!(last.event.as_deref(), Some("ended"), "{last:?}");
    assert!(stream.next_within(Duration::from_secs(1)).await.is_none(), "and closed");
    let again = app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

/// A session signed out elsewhere (another tab, another server) ends the
/// streams it opened, like a revoked key; other sessions of the same person
/// stream on.
#[tokio::test]
async fn a_stream_ends_when_its_session_is_signed_out() {
    let app = spawn_app().await;
    let (leaving, staying) =
        (app.client_signed_in_as(FOUNDER_EMAIL).await, app.client_signed_in_as(FOUNDER_EMAIL).await);
    let mut ended = EventStream::open(leaving.get(app.url("/api/v1/events/stream"))).await;
    let mut open = EventStream::open(staying.get(app.url("/api/v1/events/stream"))).await;
    let logout = leaving.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(logout.headers()["location"], "/login");
    // The founder may see the sign-out's own audit record first (it is
    // written after the session ends); the end comes within PATIENCE.
    let mut last = ended.next_within(PATIENCE).await.expect("a last event");
    if last.event.is_none() {
        assert_eq!(last.json()["key"], "auth.sign_out");
        last = ended.next_within(PATIENCE).await.expect("a last event");
    }
    assert_eq!(last.event.as_deref(), Some("ended"), "{last:?}");
    assert!(ended.next_within(Duration::from_secs(1)).await.is_none(), "and closed");

    ingest_keys(&app.client, &app.address, &app.key, &["still.here"]).await;
    assert_eq!(open.next().await.json()["key"], "auth.sign_out");
    assert_eq!(open.next().await.json()["key"], "still.here", "the other session streams on");
    let again = leaving.get(app.url("/api/v1/events/stream")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

/// Streams are counted: a key (or session) may hold a few open at once, the
/// server a few more; past either limit a new one is refused with a clear
/// error, and a closed stream frees its place.
#[tokio::test]
async fn streams_per_reader_and_per_server_are_limited() {
    let app = spawn_app_with(Arc::new(TestDatabase::fresh().await), |config| {
        config.max_streams_per_reader = 2;
        config.max_streams = 3;
    })
    .await;
    let open = |key: &str| app.client.get(app.url("/api/v1/events/stream")).bearer_auth(key.to_owned());
    let first = EventStream::open(open(&app.key)).await;
    let _second = EventStream::open(open(&app.key)).await;
    let refused = open(&app.key).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("2 live streams"), "{body}");

    let other = issue_key(&app.store, "acme", "read").await;
    let _third = EventStream::open(open(&other)).await;
    let full = open(&other).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(full.headers().contains_key("retry-after"));

    // The server notices the closed connection and counts the stream out.
    drop(first);
    let started = Instant::now();
    loop {
        let response = open(&app.key).send().await.unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(started.elapsed() < PATIENCE, "a closed stream still counted after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Many writers at once (four group writers on PostgreSQL commit in
/// parallel, out of id order): the stream sends every record once, in
/// strictly increasing positions, and a client resuming from the middle
/// gets exactly the rest.
#[tokio::test]
async fn concurrent_writers_are_streamed_once_each_in_position_order() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/events/stream");
    let mut stream = EventStream::open(app.client.get(&url).bearer_auth(&app.key)).await;
    let writers = (0..16).map(|w| {
        let (client, url, key) = (app.client.clone(), app.url("/api/v1/events"), app.key.clone());
        async move {
            let mut ids = Vec::new();
            for batch in 0..5 {
                let records: Vec<Value> = (0..4).map(|i| json!({"key": format!("w{w}.{batch}.{i}")})).collect();
                let response = client.post(&url).bearer_auth(&key).json(&records).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::ACCEPTED);
                let body: Value = response.json().await.unwrap();
                ids.extend(body["ids"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()));
            }
            ids
        }
    });
    let sent: BTreeSet<String> = futures::future::join_all(writers).await.into_iter().flatten().collect();
    assert_eq!(sent.len(), 320);
    let mut events = Vec::new();
    while events.len() < sent.len() {
        events.push(stream.next().await);
    }
    let ids = app.stream_ids();
    let positions: Vec<app::model::StreamPosition> =
        events.iter().map(|e| ids.open(e.id.as_deref().unwrap()).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions strictly increase");
    let got: BTreeSet<String> = events.iter().map(|e| e.json()["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, sent, "every record, once");

    let middle = events[100].id.clone().unwrap();
    let mut resumed =
        EventStream::open(app.client.get(&url).bearer_auth(&app.key).header("last-event-id", &middle)).await;
    let expected: Vec<String> = events[101..].iter().map(|e| e.json()["id"].as_str().unwrap().to_owned()).collect();
    let mut rest = Vec::new();
    for _ in 0..expected.len() {
        rest.push(resumed.next().await.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(rest, expected, "exactly what followed, in the same order");
    assert!(resumed.next_within(Duration::from_secs(1)).await.is_none(), "and nothing more");
}

/// Streams that differ only in their `since` (a relative `since=1h` is a
/// different time for each, to the microsecond) share one group, which
/// leaves `since` to each member.
#[tokio::test]
async fn streams_differing_in_since_share_one_group() {
    use app::model::{EventFilter, Micros};
    let app = spawn_app().await;
    let hub = trail::live::Hub::new(
        app.store.clone(),
        trail::live::StreamLimits { per_server: 8, per_reader: 8 },
        trail::api::stream_ids::StreamIds::new(rand::random()),
    );
    let since = |micros: i64| EventFilter { since: Some(Micros(micros)), ..EventFilter::default() };
    let now = Micros::now().0;
    let scope = app::store::Scope::Platform;
    let _first = hub.join(&scope, &since(now - 3_600_000_000)).await.unwrap();
    let _second = hub.join(&scope, &since(now - 3_599_999_999)).await.unwrap();
    let _none = hub.join(&scope, &EventFilter::default()).await.unwrap();
    assert_eq!(hub.groups().await, 1);
}
