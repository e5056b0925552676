//! A PostgreSQL outage in the middle of ingest: while the database is down,
//! ingest and health answer 503 at once (ingest with `Retry-After`), nothing
//! acknowledged is lost, and service resumes by itself once it is back.
//!
//! It stops the test cluster, so `scripts/test` runs it on its own, after the
//! other PostgreSQL tests, with `TRAIL_TEST_PG_STOP` and `TRAIL_TEST_PG_START`
//! set to the commands that stop and start that cluster.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

/// Awaited, not blocking: the server under test runs on this test's runtime,
/// and a blocked runtime would hold its requests for as long as `pg_ctl` takes.
async fn run(command: &str) {
    let status = tokio::process::Command::new("sh").args(["-c", command]).status().await.expect("the command runs");
    assert!(status.success(), "{command} failed: {status}");
}

/// What one writer saw: the ids acknowledged, and each 503 (when it was
/// asked, how long it took).
#[derive(Default)]
struct Seen {
    acknowledged: Vec<String>,
    refusals: Vec<(Instant, Duration)>,
}

#[tokio::test]
async fn ingest_and_health_answer_503_at_once_while_postgresql_is_down() {
    let (Ok(stop), Ok(start)) = (std::env::var("TRAIL_TEST_PG_STOP"), std::env::var("TRAIL_TEST_PG_START")) else {
        eprintln!("skipped: run by scripts/test with TRAIL_TEST_PG_STOP and TRAIL_TEST_PG_START");
        return;
    };
    let app = helpers::spawn_app().await;
    let stopping = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, url, key, stopping) =
                (app.client.clone(), app.url("/api/v1/events"), app.key.clone(), stopping.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                for batch in 0.. {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let records: Vec<Value> = (0..20)
                        .map(|i| json!({"key": "outage.write", "event_id": format!("w{writer}-{batch}-{i}")}))
                        .collect();
                    let started = Instant::now();
                    let Ok(response) = client.post(&url).bearer_auth(&key).json(&records).send().await else {
                        continue;
                    };
                    match response.status() {
                        StatusCode::ACCEPTED => {
                            let body: Value = response.json().await.unwrap();
                            seen.acknowledged.extend(body["ids"].as_array().unwrap().iter().map(|id| id.to_string()));
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(response.headers().contains_key("retry-after"), "a 503 says when to retry");
                            seen.refusals.push((started, started.elapsed()));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        other => panic!("ingest answered {other} during the outage"),
                    }
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(800)).await;
    run(&stop).await;
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let health = app.client.get(app.url("/api/system/health")).send().await.unwrap();
    let health_took = asked.elapsed();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "unhealthy");
    assert!(health_took < Duration::from_secs(3), "health answered in {health_took:?}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let starting = Instant::now();
    run(&start).await;
    let restarted = Instant::now();
    loop {
        let response = app.ingest(&json!({"key": "outage.back"})).await;
        if response.status() == StatusCode::ACCEPTED {
            break;
        }
        assert!(restarted.elapsed() < Duration::from_secs(30), "still {} 30 s after the restart", response.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stopping.store(true, Ordering::Relaxed);

    let mut seen = Seen::default();
    for writer in writers {
        let one = writer.await.unwrap();
        seen.acknowledged.extend(one.acknowledged);
        seen.refusals.extend(one.refusals);
    }
    // Requests sent while the server was shutting down may wait for its end;
    // once it is down, every one is refused at once (until it starts again:
    // those asked while it starts may wait for it).
    let down = stopped..starting;
    let during: Vec<Duration> =
        seen.refusals.iter().filter(|(at, _)| down.contains(at)).map(|(_, took)| *took).collect();
    let slowest_of_all = seen.refusals.iter().map(|(_, took)| *took).max();
    eprintln!(
        "503s: {} in all (slowest {slowest_of_all:?}), {} once the database was down (slowest {:?})",
        seen.refusals.len(),
        during.len(),
        during.iter().max()
    );
    assert!(!during.is_empty(), "the writers met the outage");
    // Below 4 acquire timeouts (750 ms each, 3 s): what a request that
    // waited its turn behind the 4 writers would take.
    let slowest = during.iter().max().unwrap();
    assert!(*slowest < Duration::from_millis(2_500), "a 503 took {slowest:?}");
    let stored: HashSet<String> = app.all_records().await.into_iter().map(|r| format!("\"{}\"", r.id)).collect();
    let lost = seen.acknowledged.iter().filter(|id| !stored.contains(*id)).count();
    assert_eq!(lost, 0, "{lost} of {} acknowledged records were lost", seen.acknowledged.len());
}
