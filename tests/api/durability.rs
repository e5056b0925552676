//! Acknowledged records survive a crash: the server process is killed with
//! SIGKILL while requests are in flight, restarted, and every record it
//! answered 202 for is there.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{eventually, free_port, spawn_app_on, start_server, wait_until_up, TestDatabase};

#[tokio::test]
async fn acknowledged_records_survive_sigkill() {
    let db = Arc::new(TestDatabase::fresh().await);
    // Migrate and make a key through an in-process app on the same database.
    let setup = spawn_app_on(db.clone()).await;
    let key = setup.key.clone();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&db, port);
    let client = reqwest::Client::new();
    wait_until_up(&client, &base).await;

    // Writers keep sending batches; the server is killed in the middle.
    let so_far = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..8 {
        let (client, base, key, so_far) = (client.clone(), base.clone(), key.clone(), so_far.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for batch in 0.. {
                let records: Vec<_> = (0..50)
                    .map(|i| json!({"key": "durable.write", "event_id": format!("w{writer}-b{batch}-{i}")}))
                    .collect();
                let sent = client.post(format!("{base}/api/v1/events")).bearer_auth(&key).json(&records).send().await;
                match sent {
                    Ok(response) if response.status() == StatusCode::ACCEPTED => {
                        let body: serde_json::Value = response.json().await.unwrap();
                        let ids = body["ids"].as_array().unwrap();
                        acknowledged.extend(ids.iter().map(|id| id.as_str().unwrap().to_owned()));
                        so_far.fetch_add(ids.len(), Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    // Killed once the writers got going (however slowly the machine runs them).
    let going = || async { (so_far.load(Ordering::Relaxed) >= 400).then_some(()) };
    eventually("400 records acknowledged before the kill", Duration::from_secs(30), going).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }

    // Restart on the same database: everything acknowledged is there.
    let port = free_port();
    let mut restarted = start_server(&db, port);
    wait_until_up(&client, &format!("http://127.0.0.1:{port}")).await;
    let stored: std::collections::HashSet<String> =
        setup.all_records().await.into_iter().map(|r| r.id.to_string()).collect();
    let missing = acknowledged.iter().filter(|id| !stored.contains(*id)).count();
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    assert_eq!(missing, 0, "{missing} of {} acknowledged records were lost", acknowledged.len());
    // And every chain still verifies: a commit is its records and their links, or neither.
    let (code, report) = setup.cli_status(&["verify"]).await;
    assert_eq!(code, 0, "{report}");
}

/// SIGTERM stops the server within a bounded time even with a request still
/// open (a client sending its body slowly), and what it acknowledged is kept.
#[tokio::test]
async fn shutdown_does_not_wait_forever_for_a_slow_client() {
    use tokio::io::AsyncWriteExt;

    let db = Arc::new(TestDatabase::fresh().await);
    let setup = spawn_app_on(db.clone()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&db, port);
    let client = reqwest::Client::new();
    wait_until_up(&client, &base).await;
    let sent =
        client.post(format!("{base}/api/v1/events")).bearer_auth(&setup.key).json(&json!({"key": "before.stop"}));
    assert_eq!(sent.send().await.unwrap().status(), StatusCode::ACCEPTED);

    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"key\": ",
        setup.key
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());
    // Well past the 5-s grace for open requests, for a loaded machine: not forever.
    let exited = eventually("the server exits after SIGTERM", Duration::from_secs(30), || {
        std::future::ready(server.try_wait().unwrap())
    })
    .await;
    assert!(exited.success(), "a clean exit: {exited:?}");
    drop(slow);
    assert_eq!(setup.all_records().await.len(), 1, "the acknowledged record is kept");
}
