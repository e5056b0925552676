//! Log streams: every record exported to gzip NDJSON files (or signed NDJSON
//! batches), at least once and none skipped, across a SIGKILL and restart.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{eventually, free_port, spawn_app, start_server_with, wait_until_up, TestApp};
use crate::webhooks::Receiver;

const PATIENCE: Duration = Duration::from_secs(30);

/// The ids in every whole file under `dir`; fails on a partial file left in sight.
fn exported_ids(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".ndjson.gz") && !name.starts_with('.') {
                let mut text = String::new();
                let file = std::fs::File::open(&path).unwrap();
                flate2::read::GzDecoder::new(file).read_to_string(&mut text).unwrap();
                ids.extend(text.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()["id"].to_string()));
            }
        }
    }
    ids
}

/// The records' ids, as JSON strings (quoted, as `exported_ids` gives them).
async fn ingest(base: &str, app: &TestApp, count: usize, tag: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for chunk in 0..count.div_ceil(250) {
        let records: Vec<Value> = (0..250.min(count - chunk * 250))
            .map(|i| json!({"key": "exported", "message": format!("{tag} {}", chunk * 250 + i)}))
            .collect();
        let response = app.client.post(format!("{base}/api/v1/events")).bearer_auth(&app.key).json(&records);
        let response = response.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        ids.extend(body["ids"].as_array().unwrap().iter().map(|id| id.to_string()));
    }
    ids
}

async fn wait_until_exported(dir: &Path, ids: &BTreeSet<String>) -> Vec<String> {
    let started = Instant::now();
    loop {
        let exported = exported_ids(dir);
        let seen: BTreeSet<&String> = exported.iter().collect();
        if ids.iter().all(|id| seen.contains(id)) {
            return exported;
        }
        let missing = ids.iter().filter(|id| !seen.contains(id)).count();
        assert!(started.elapsed() < PATIENCE, "{missing} of {} records not exported", ids.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of the workspace lands in whole gzip NDJSON files laid out
/// `YYYY/MM/DD/HH/<uuid>.ndjson.gz`, each once, and no other workspace's.
#[tokio::test]
async fn a_directory_stream_exports_every_record_of_its_workspace_once() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let out = app.cli(&["log-stream", "add", "--dir", dir.path().to_str().unwrap(), "--workspace", "acme"]).await;
    assert!(out.contains("log stream 1 added"), "{out}");
    let ids = ingest(&app.address, &app, 2_300, "batch").await;
    let exported = wait_until_exported(dir.path(), &ids).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let exported_again = exported_ids(dir.path());
    assert_eq!(exported_again.len(), exported.len(), "nothing more");
    let unique: BTreeSet<&String> = exported_again.iter().collect();
    assert_eq!(unique.len(), exported_again.len(), "each record once (no crash here)");
    assert!(exported_again.iter().all(|id| ids.contains(id)), "only this workspace's records");
    let hour = chrono::Utc::now().format("%Y/%m/%d").to_string();
    assert!(dir.path().join(hour).is_dir(), "laid out by date and hour");
    // A file is in place before its batch is counted.
    eventually("log-stream list says exported: 2300", PATIENCE, || async {
        app.cli(&["log-stream", "list"]).await.contains("exported: 2300").then_some(())
    })
    .await;
}

/// A server killed (SIGKILL) while it exports resumes after its restart
/// from the last batch it finished: every record is in the files.
#[tokio::test]
async fn a_killed_export_resumes_and_skips_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    app.cli(&["log-stream", "add", "--dir", dir.path().to_str().unwrap(), "--workspace", "acme"]).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server_with(&app.db, port, &[]);
    wait_until_up(&app.client, &base).await;
    let mut ids = ingest(&base, &app, 3_000, "before").await;
    // Kill it as soon as it has written something (or at once, if it is quick).
    let started = Instant::now();
    while exported_ids(dir.path()).is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let mut server = start_server_with(&app.db, port, &[]);
    wait_until_up(&app.client, &base).await;
    ids.extend(ingest(&base, &app, 500, "after").await);
    let exported = wait_until_exported(dir.path(), &ids).await;
    assert!(exported.len() >= ids.len(), "at least once");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// To a URL: signed NDJSON batches (the official library verifies them); a
/// batch the receiver refuses is sent again under the same `webhook-id`.
#[tokio::test]
async fn an_http_stream_posts_signed_batches_and_retries_them() {
    let app = spawn_app().await;
    let receiver = Receiver::start("500,200");
    let out = app.cli(&["log-stream", "add", "--url", &receiver.url(), "--workspace", "acme"]).await;
    receiver.trust(&[out.lines().last().unwrap().trim()]);
    // One request: one batch, refused, then sent again with the same records.
    let ids = ingest(&app.address, &app, 200, "http").await;
    let got = receiver.wait_for("the batch again", |r| r.iter().filter(|r| r["answered"] == 200).count() >= 1).await;
    assert_eq!(got[0]["lines"], got[1]["lines"], "the same batch");
    assert_eq!(got[0]["id"], got[1]["id"], "the same webhook-id on the retry");
    // The stream and a keyed hash, no commit positions.
    let webhook_id = got[0]["id"].as_str().unwrap();
    let hash = webhook_id.strip_prefix("msg_stream").and_then(|rest| rest.split_once('_')).map(|(_, hash)| hash);
    assert!(hash.is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())), "{webhook_id}");
    assert_eq!(got[1]["verified_with"], json!([0]));
    let lines: Vec<String> = got[1..]
        .iter()
        .flat_map(|r| r["lines"].as_array().unwrap().iter().map(|record| record["id"].to_string()))
        .collect();
    let delivered: BTreeSet<String> = lines.into_iter().collect();
    assert!(ids.iter().all(|id| delivered.contains(id)), "every record");
}

/// A destination that is slow to answer holds up only its own stream: a
/// directory stream beside it exports before the slow one's first answer.
/// A stream removed while it catches up sends no more batches.
#[tokio::test]
async fn a_slow_destination_holds_up_only_its_stream_and_a_removed_one_stops() {
    let app = spawn_app().await;
    // It answers (and writes down what it got) just before the sender would
    // give up on it: held up behind it, the directory would still be empty then.
    let slow = Receiver::start_slow(0, "200", trail::webhooks::sender::TIMEOUT - Duration::from_secs(3));
    app.cli(&["log-stream", "add", "--url", &slow.url(), "--workspace", "acme"]).await;
    let dir = tempfile::tempdir().unwrap();
    app.cli(&["log-stream", "add", "--dir", dir.path().to_str().unwrap(), "--workspace", "acme"]).await;
    let ids = ingest(&app.address, &app, 10, "beside").await;
    wait_until_exported(dir.path(), &ids).await;
    assert!(slow.received().is_empty(), "the directory did not wait for the slow answer");
    app.cli(&["log-stream", "remove", "1"]).await;
    app.cli(&["log-stream", "remove", "2"]).await;

    let paced = Receiver::start_slow(0, "200", Duration::from_millis(700));
    let out = app.cli(&["log-stream", "add", "--url", &paced.url(), "--workspace", "acme"]).await;
    paced.trust(&[out.lines().last().unwrap().trim()]);
    ingest(&app.address, &app, 5_000, "paced").await;
    paced.wait_for("a first batch", |r| !r.is_empty()).await;
    app.cli(&["log-stream", "remove", "3"]).await;
    let at_removal = paced.received().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = paced.received().len();
    assert!(
        after <= at_removal + 1,
        "{at_removal} batches at the removal, {after} since: no more after the one in flight"
    );
}
