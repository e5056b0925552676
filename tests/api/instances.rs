//! Two servers on one database behave as one: each test sends consecutive
//! requests to alternate servers, as a round-robin load balancer would.
//! Sessions, the one-time notice, sign-in throttling and revocation hold on
//! both databases (their state is in the database); the stream across
//! servers and the advisory locks of background jobs are PostgreSQL's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::admin_api::{CreateKey, RevokeKey};
use app::model::Kind;
use app::store::Job;
use leptos::server_fn::ServerFn;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{eventually, received, spawn_app_on, TestApp, TestDatabase, FOUNDER_EMAIL, PASSWORD};
use crate::stream::EventStream;

/// `job`'s turn, once the servers' own background runs leave it (slow on a loaded machine).
async fn take_turn(app: &TestApp, job: Job) -> app::store::JobGuard {
    let what = format!("{job:?} is free");
    eventually(&what, Duration::from_secs(20), || async { app.store.job_lock(job).await.unwrap() }).await
}

/// Two servers on one fresh database.
async fn two_servers() -> (TestApp, TestApp) {
    let db = Arc::new(TestDatabase::fresh().await);
    let a = spawn_app_on(db.clone()).await;
    let b = spawn_app_on(db).await;
    (a, b)
}

/// A browser-like client: one cookie jar, whichever server it talks to
/// (cookies do not depend on the port).
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(client: &reqwest::Client, app: &TestApp, password: &str) -> String {
    let response =
        client.post(app.url("/login")).form(&[("email", FOUNDER_EMAIL), ("password", password)]).send().await.unwrap();
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn admin_page(client: &reqwest::Client, app: &TestApp) -> String {
    let response = client.get(app.url("/admin")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_session_and_a_new_keys_secret_carry_over_to_the_other_server_once() {
    let (a, b) = two_servers().await;
    let client = browser();
    assert_eq!(sign_in(&client, &a, PASSWORD).await, "/", "signed in on A");
    assert!(admin_page(&client, &b).await.contains("API keys"), "the session works on B");

    // The form posts to A; the redirect lands on B.
    let form = [("workspace", "acme"), ("scopes", "ingest"), ("name", "across servers")];
    let posted = client
        .post(a.url(CreateKey::PATH))
        .header("accept", "text/html")
        .header("referer", a.url("/admin"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::FOUND);
    let html = admin_page(&client, &b).await;
    let shown = &html[html.find(r#"data-testid="new-key""#).expect("B shows the new key")..];
    let secret = shown[shown.find("trl_").unwrap()..][..68].to_owned();
    let works = b.client.post(b.url("/api/v1/events")).bearer_auth(&secret).json(&json!({"key": "k"})).send().await;
    assert_eq!(works.unwrap().status(), StatusCode::ACCEPTED, "the shown key works");
    for app in [&a, &b] {
        let again = admin_page(&client, app).await;
        assert!(!again.contains("new-key") && !again.contains(&secret), "shown once, on either server");
    }
}

#[tokio::test]
async fn the_secret_is_kept_sealed_and_only_until_it_is_shown() {
    let (a, b) = two_servers().await;
    let client = browser();
    sign_in(&client, &a, PASSWORD).await;
    let form = [("workspace", "acme"), ("scopes", "read"), ("name", "sealed")];
    let posted = client.post(a.url(CreateKey::PATH)).header("referer", a.url("/admin")).form(&form).send().await;
    assert!(posted.unwrap().status().as_u16() < 400);

    // What the database holds meanwhile does not contain the secret.
    let kept = raw_notices(&a.db).await;
    assert_eq!(kept.len(), 1, "one notice, kept for the hand-over");
    let html = admin_page(&client, &b).await;
    let secret = {
        let shown = &html[html.find(r#"data-testid="new-key""#).unwrap()..];
        shown[shown.find("trl_").unwrap()..][..68].to_owned()
    };
    let needle = secret.as_bytes();
    assert!(!kept[0].windows(needle.len()).any(|w| w == needle), "sealed, not the secret in plain text");
    assert!(!kept[0].windows(8).any(|w| w == &needle[4..12]), "no part of it either");
    assert!(raw_notices(&a.db).await.is_empty(), "gone once shown");

    // Another browser of the same person (without the key's cookie) gets nothing.
    let stranger = browser();
    sign_in(&stranger, &b, PASSWORD).await;
    assert!(!admin_page(&stranger, &a).await.contains("new-key"));
}

/// The sealed notices as stored.
async fn raw_notices(db: &TestDatabase) -> Vec<Vec<u8>> {
    let sql = "SELECT sealed FROM notices";
    if db.is_postgres() {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap()
    }
}

#[tokio::test]
async fn failed_sign_ins_count_on_every_server() {
    let (a, b) = two_servers().await;
    let client = browser();
    for attempt in 0..5 {
        let server = if attempt % 2 == 0 { &a } else { &b };
        assert_eq!(sign_in(&client, server, "wrong").await, "/login?error=credentials", "attempt {attempt}");
    }
    for server in [&a, &b] {
        assert_eq!(
            sign_in(&client, server, PASSWORD).await,
            "/login?error=throttled",
            "switching servers gains nothing"
        );
    }
}

#[tokio::test]
async fn a_key_revoked_through_one_server_is_refused_by_the_other_within_a_second() {
    let (a, b) = two_servers().await;
    let record = json!({"key": "order.paid"});
    // A's key, used on B.
    assert_eq!(b.ingest_with(&a.key, &record).await.status(), StatusCode::ACCEPTED, "B knows (and caches) the key");
    let admin = a.client_signed_in_as(FOUNDER_EMAIL).await;
    let id = a.store.api_keys().await.unwrap().into_iter().find(|k| a.key.starts_with(&k.prefix)).unwrap().id;
    let (status, _) = a.call_form::<RevokeKey>(&admin, &[("key_id", id.to_string().as_str())]).await;
    assert!(status < 400, "revoked through A ({status})");
    let revoked = Instant::now();
    assert_eq!(a.ingest(&record).await.status(), StatusCode::UNAUTHORIZED, "A refuses it at once");
    loop {
        // B trusts what it read for a second (`key_cache::FRESH_FOR`), read
        // before the revocation; B looks at a request no sooner than it is
        // asked, so one asked after that second must be refused, however
        // long it then took (the margin is the clocks' and the loop's).
        let asked = revoked.elapsed();
        let status = b.ingest_with(&a.key, &record).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(asked < Duration::from_millis(1_200), "B still took it when asked {asked:?} after the revocation");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_event_id_sent_to_both_servers_at_once_is_stored_once() {
    let (a, b) = two_servers().await;
    for round in 0..10 {
        let body = json!({"key": "payment.captured", "event_id": format!("evt_{round}")});
        let (from_a, from_b) = tokio::join!(a.ingest(&body), b.ingest(&body));
        let ids: Vec<String> = futures::future::join_all([from_a, from_b].map(|r| async move {
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            r.json::<serde_json::Value>().await.unwrap()["ids"][0].as_str().unwrap().to_owned()
        }))
        .await;
        assert_eq!(ids[0], ids[1], "both answer with the one stored record");
    }
    assert_eq!(a.all_records().await.len(), 10);
}

#[tokio::test]
async fn a_record_committed_through_one_server_reaches_streams_on_the_other() {
    let (a, b) = two_servers().await;
    if !a.db.is_postgres() {
        return; // SQLite is one server's file: its streams wake within the process.
    }
    let mut on_b = EventStream::open(b.client.get(b.url("/api/v1/events/stream")).bearer_auth(&b.key)).await;
    for key in ["through.a", "through.a.again"] {
        assert_eq!(a.ingest(&json!({"key": key})).await.status(), StatusCode::ACCEPTED);
        let committed = Instant::now();
        let event = on_b.next().await.json();
        assert_eq!(event["key"], key);
        // A wake-up from A's notification, not B's 5-second poll.
        let took = committed.elapsed();
        assert!(took < Duration::from_secs(4), "arrived {took:?} after the 202");
    }
}

#[tokio::test]
async fn background_jobs_do_their_work_once_whichever_server_runs_them() {
    let (a, b) = two_servers().await;
    if !a.db.is_postgres() {
        return; // SQLite has one server; its jobs take turns within it.
    }
    // Expired records, purged by both servers at the same moment. Each
    // server purges once as it starts: those runs come first (before a
    // period is set they remove nothing), so they cannot take the records.
    let acme = a.workspace.id;
    let old: Vec<_> = (0..50).map(|_| received(acme, Kind::Event, 3.0)).collect();
    a.store.insert_records(&[old]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.cli(&["retention", "set", "--workspace", "acme", "--kind", "event", "--days", "2"]).await;
    let signer = trail::integrity::signing::SigningKeys::load(&a.db.signing_key_file()).unwrap().unwrap();
    let now = app::model::Micros::now();
    let (from_a, from_b) =
        tokio::join!(trail::retention::run(&a.store, &signer, now), trail::retention::run(&b.store, &signer, now));
    let removed: u64 =
        [from_a.unwrap(), from_b.unwrap()].into_iter().flatten().flatten().map(|purged| purged.removed).sum();
    assert_eq!(removed, 50, "each record purged once");
    // While one server holds a job's turn, the other does not get it.
    for job in [Job::Purge, Job::IntegrityCheck] {
        let held = take_turn(&a, job).await;
        assert!(b.store.job_lock(job).await.unwrap().is_none(), "{job:?}: one server at a time");
        drop(held);
        take_turn(&b, job).await;
    }

    // Both sign the chains' heads at once: one digest per grown chain.
    assert_eq!(a.ingest(&json!({"key": "grow"})).await.status(), StatusCode::ACCEPTED);
    let before = a.store.digests(app::model::DigestQuery::of(app::model::DigestsOf::All)).await.unwrap();
    let (signed_a, signed_b) = tokio::join!(
        trail::integrity::sign(a.store.as_ref(), &signer),
        trail::integrity::sign(b.store.as_ref(), &signer)
    );
    let signed = signed_a.unwrap() + signed_b.unwrap();
    let after = a.store.digests(app::model::DigestQuery::of(app::model::DigestsOf::All)).await.unwrap();
    let new: Vec<_> = after.iter().filter(|d| !before.contains(d)).collect();
    assert_eq!(new.len(), signed);
    let chains: std::collections::BTreeSet<_> = new.iter().map(|d| (d.workspace_id, d.kind.as_str())).collect();
    assert_eq!(chains.len(), signed, "no chain signed twice: {new:?}");
    assert!(chains.contains(&(acme, "event")), "the grown chain is signed");
}
