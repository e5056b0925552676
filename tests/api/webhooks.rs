//! Webhook endpoints, against a real receiver that verifies every request
//! with the official Standard Webhooks library (tests/webhooks/receiver.py,
//! `standardwebhooks` from PyPI, installed by scripts/test).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    eventually, free_port, issue_key, spawn_app, spawn_app_on, spawn_app_with, start_server_with, wait_until_up,
    TestApp, TestDatabase,
};

/// How long a test waits for deliveries that should come.
const PATIENCE: Duration = Duration::from_secs(20);

/// The receiver: a Python process, its port, and what it received.
pub struct Receiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    /// Listens on `port` (0: any), answering `answers` ("500,200": one per request, the last repeated).
    pub fn start_on(port: u16, answers: &str) -> Receiver {
        Receiver::start_slow(port, answers, Duration::ZERO)
    }

    /// Like `start_on`, answering each request `delay` after it came.
    pub fn start_slow(port: u16, answers: &str, delay: Duration) -> Receiver {
        let python = std::env::var("TRAIL_TEST_PYTHON").unwrap_or_else(|_| "target/venv/bin/python".into());
        assert!(
            std::path::Path::new(&python).exists(),
            "{python} is missing: scripts/test installs the Standard Webhooks library there"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secrets"), "").unwrap();
        let mut child = Command::new(python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/receiver.py"))
            .args(["--port", &port.to_string(), "--answers", answers])
            .args(["--delay", &delay.as_secs_f64().to_string()])
            .arg("--secrets")
            .arg(dir.path().join("secrets"))
            .arg("--out")
            .arg(dir.path().join("received"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the receiver printed its port: {line:?}"));
        Receiver { child, port, dir }
    }

    pub fn start(answers: &str) -> Receiver {
        Receiver::start_on(0, answers)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The secrets it verifies with (an endpoint's, once created).
    pub fn trust(&self, secrets: &[&str]) {
        std::fs::write(self.dir.path().join("secrets"), secrets.join("\n")).unwrap();
    }

    pub fn received(&self) -> Vec<Value> {
        let path: PathBuf = self.dir.path().join("received");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // A line per delivery, appended as it comes: a read may catch the
        // last one half written, so only lines already ended are read.
        let ended = text.rfind('\n').map_or("", |end| &text[..end]);
        ended.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// What it received once `done` holds of it, within [`PATIENCE`].
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_within(what, PATIENCE, done).await
    }

    /// As [`Receiver::wait_for`], within `deadline`.
    pub async fn wait_within(&self, what: &str, deadline: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                started.elapsed() < deadline,
                "{what}: after {:?} the receiver has {received:#?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `trail webhook add …` through the CLI: the endpoint's id and secret.
async fn add_endpoint(app: &TestApp, args: &[&str]) -> (i64, String) {
    let out = app.cli(&[&["webhook", "add"], args].concat()).await;
    let id = out.split_whitespace().nth(2).and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("an id: {out}"));
    let secret = out.lines().last().unwrap().trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{out}");
    (id, secret)
}

async fn ingest(app: &TestApp, records: Value) {
    assert_eq!(app.ingest(&records).await.status(), StatusCode::ACCEPTED);
}

/// Waits until endpoint 1 of `app` is `enabled` (or not).
async fn wait_enabled(app: &TestApp, enabled: bool) {
    let started = Instant::now();
    while app.store.webhooks().await.unwrap()[0].enabled != enabled {
        assert!(started.elapsed() < PATIENCE, "still enabled: {}", !enabled);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Trail's own records with `key` once there are `count` of them: a
/// failure's record is written beside its attempt's outcome, just after.
async fn trail_records_eventually(app: &TestApp, reader: &str, key: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let records = app.trail_records(reader, key).await;
        if records.len() >= count {
            return records;
        }
        assert!(started.elapsed() < PATIENCE, "{key}: {} of {count} records", records.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A disabled endpoint is enabled again from the CLI (audited), and then
/// takes records again; the message it was disabled on waited, and goes out.
async fn enable_again(app: &TestApp, reader: &str, receiver: &Receiver, id: i64) {
    app.cli(&["webhook", "enable", &id.to_string()]).await;
    wait_enabled(app, true).await;
    assert_eq!(app.trail_records(reader, "webhook.enabled").await.len(), 1);
    ingest(app, json!({"key": "third"})).await;
    let got = receiver.wait_for("the records after enabling", |r| r.len() >= 3).await;
    let mut keys: Vec<&str> = got[1..].iter().map(|m| m["body"]["data"]["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["first", "third"], "{got:#?}");
}

/// A record that matches goes out signed (the library verifies it), and a
/// receiver that fails three times gets it on the fourth attempt with the
/// same `webhook-id`; a record that does not match never goes.
#[tokio::test]
async fn a_matching_record_is_delivered_signed_and_retried_under_one_id() {
    let app = spawn_app().await;
    let receiver = Receiver::start("500,500,500,200");
    let (id, secret) = add_endpoint(&app, &["--url", &receiver.url(), "--records", "key:order.*"]).await;
    receiver.trust(&[&secret]);
    ingest(&app, json!([{"key": "order.paid", "message": "paid"}, {"key": "user.login"}])).await;

    let got = receiver.wait_for("four attempts", |r| r.len() >= 4).await;
    assert_eq!(got.len(), 4, "three failures, one success, nothing more: {got:#?}");
    let first = got[0]["id"].as_str().unwrap();
    assert!(first.starts_with("msg_"));
    for attempt in &got {
        assert_eq!(attempt["id"], first, "the same webhook-id on every attempt");
        assert_eq!(attempt["verified_with"], json!([0]), "signed with the endpoint's secret: {attempt}");
        assert_eq!(attempt["body"]["type"], "trail.record");
        assert_eq!(attempt["body"]["data"]["key"], "order.paid");
        assert_eq!(attempt["body"]["data"]["workspace"], "acme");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 4, "user.login does not match and is never sent");

    // The outcome is written once the receiver's answer is back, a moment after it logged the request.
    let deliveries = eventually("the message is marked delivered", PATIENCE, || async {
        let deliveries = app.store.webhook_deliveries(id, 10).await.unwrap();
        deliveries.first().is_some_and(|d| d.status == "delivered").then_some(deliveries)
    })
    .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!((deliveries[0].status.as_str(), deliveries[0].attempts), ("delivered", 4));
    assert_eq!(deliveries[0].last_status, Some(200));
}

/// A `410` says the endpoint is gone: it is disabled at once, and a
/// critical record says so; later records are not sent to it, and the
/// message it answered waits for the endpoint to be enabled again.
#[tokio::test]
async fn a_410_disables_the_endpoint_and_a_critical_record_says_so() {
    let app = spawn_app().await;
    let reader = issue_key(&app.store, "", "read").await;
    let receiver = Receiver::start("410,200");
    let (id, secret) =
        add_endpoint(&app, &["--url", &receiver.url(), "--workspace", "acme", "--records", "key:*"]).await;
    receiver.trust(&[&secret]);
    ingest(&app, json!({"key": "first"})).await;
    receiver.wait_for("one attempt", |r| !r.is_empty()).await;

    wait_enabled(&app, false).await;
    let endpoint = app.store.webhooks().await.unwrap().remove(0);
    assert_eq!((endpoint.id, endpoint.disabled_reason.as_deref()), (id, Some("answered 410")));
    let records = trail_records_eventually(&app, &reader, "webhook.endpoint_disabled", 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["severity"], "critical");
    let waiting = app.store.webhook_deliveries(id, 10).await.unwrap();
    let waited = (waiting[0].status.as_str(), waiting[0].attempts, waiting[0].last_status);
    assert_eq!(waited, ("pending", 0, Some(410)), "it waits, its schedule's attempts still its own");

    ingest(&app, json!({"key": "second"})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 1, "nothing more to a disabled endpoint");
    enable_again(&app, &reader, &receiver, id).await;
}

/// Without `TRAIL_WEBHOOK_ALLOW_PRIVATE`, a webhook endpoint or log stream
/// on a loopback address, written as one or as a name, is refused when it
/// is created, from the admin page and the command line, and nothing is kept.
#[tokio::test]
async fn loopback_destinations_are_refused_when_created() {
    use app::webhooks::AddWebhook;
    use leptos::server_fn::ServerFn;

    let app = spawn_app_with(Arc::new(TestDatabase::fresh().await), |c| c.webhook_allow_private = false).await;
    let port = free_port();
    let urls =
        [format!("http://127.0.0.1:{port}/hook"), format!("http://localhost:{port}/hook"), "http://[::1]/".into()];
    let strict = ["--webhook-allow-private", "false"];
    for url in &urls {
        let (code, out) = app.cli_status(&[&["webhook", "add", "--url", url], &strict[..]].concat()).await;
        assert!(code != 0 && out.contains("refused") && out.contains("not a public address"), "{url}: {out}");
        let (code, out) = app.cli_status(&[&["log-stream", "add", "--url", url], &strict[..]].concat()).await;
        assert!(code != 0 && out.contains("refused"), "log stream {url}: {out}");
    }
    let founder = app.client_signed_in_as(crate::helpers::FOUNDER_EMAIL).await;
    let form =
        [("url", urls[1].as_str()), ("workspace", ""), ("format", "trail"), ("records", ""), ("description", "")];
    let request = founder.post(app.url(AddWebhook::PATH)).header("accept", "text/html");
    request.header("referer", app.url("/admin/webhooks")).form(&form).send().await.unwrap();
    let html = founder.get(app.url("/admin/webhooks")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("not a public address"), "the page says why");
    assert!(app.store.webhooks().await.unwrap().is_empty() && app.store.log_streams().await.unwrap().is_empty());
    // Allowed, the same address is accepted.
    let (code, out) = app.cli_status(&["webhook", "add", "--url", &urls[0]]).await;
    assert_eq!(code, 0, "{out}");
}

/// Without `TRAIL_WEBHOOK_ALLOW_PRIVATE`, an endpoint on a loopback address
/// is refused at send time (nothing reaches it); after the last attempt the
/// message fails and a critical record says why.
#[tokio::test]
async fn loopback_endpoints_are_refused_unless_allowed() {
    let app = spawn_app_with(Arc::new(TestDatabase::fresh().await), |c| c.webhook_allow_private = false).await;
    let reader = issue_key(&app.store, "", "read").await;
    let receiver = Receiver::start("200");
    let (id, secret) =
        add_endpoint(&app, &["--url", &receiver.url(), "--workspace", "acme", "--records", "key:*"]).await;
    receiver.trust(&[&secret]);
    let by_name = receiver.url().replace("127.0.0.1", "localhost");
    let (named, _) = add_endpoint(&app, &["--url", &by_name, "--workspace", "acme", "--records", "key:*"]).await;
    ingest(&app, json!({"key": "to.loopback"})).await;

    for endpoint in [id, named] {
        let started = Instant::now();
        let failed = loop {
            let mut deliveries = app.store.webhook_deliveries(endpoint, 10).await.unwrap();
            if deliveries.first().is_some_and(|d| d.status == "failed") {
                break deliveries.remove(0);
            }
            assert!(started.elapsed() < PATIENCE, "endpoint {endpoint}: {deliveries:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(failed.attempts, 4, "every attempt of the (test) schedule");
        let error = failed.last_error.unwrap_or_default();
        assert!(error.contains("refused") && (error.contains("127.0.0.1") || error.contains("::1")), "{error}");
    }
    assert!(receiver.received().is_empty(), "nothing was sent");
    // Each failure's record follows its message's last attempt.
    trail_records_eventually(&app, &reader, "webhook.failed", 2).await;
}

/// The message is written with its record: a server killed (SIGKILL) after
/// the commit and before a delivery got through delivers it once restarted.
#[tokio::test]
async fn a_message_survives_a_kill_between_commit_and_delivery() {
    let app = spawn_app().await;
    let receiver_port = free_port();
    // Nobody listens yet: attempts fail and are retried every second.
    let url = format!("http://127.0.0.1:{receiver_port}/hook");
    let (_, secret) = add_endpoint(&app, &["--url", &url, "--workspace", "acme", "--records", "key:*"]).await;
    let env = [("TRAIL_WEBHOOK_RETRY_SCHEDULE", "1,1,1,1,1,1,1,1,1,1")];
    let port = free_port();
    let mut server = start_server_with(&app.db, port, &env);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&app.client, &base).await;
    let response = app.client.post(format!("{base}/api/v1/events")).bearer_auth(&app.key).json(&json!({"key": "kept"}));
    assert_eq!(response.send().await.unwrap().status(), StatusCode::ACCEPTED);
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    let receiver = Receiver::start_on(receiver_port, "200");
    receiver.trust(&[&secret]);
    let mut server = start_server_with(&app.db, port, &env);
    wait_until_up(&app.client, &base).await;
    // The killed server may have held a claim: it lapses after its lease.
    let started = Instant::now();
    let got = loop {
        let got = receiver.received();
        if !got.is_empty() {
            break got;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(got[0]["body"]["data"]["key"], "kept");
    assert_eq!(got[0]["verified_with"], json!([0]));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Two servers on one PostgreSQL send from one outbox: each message once.
#[tokio::test]
async fn two_servers_deliver_each_message_once() {
    let db = Arc::new(TestDatabase::fresh().await);
    let (a, b) = (spawn_app_on(db.clone()).await, spawn_app_on(db).await);
    let receiver = Receiver::start("200");
    let (_, secret) = add_endpoint(&a, &["--url", &receiver.url(), "--records", "key:many"]).await;
    receiver.trust(&[&secret]);
    for round in 0..10 {
        let records: Vec<Value> = (0..5).map(|i| json!({"key": "many", "message": format!("{round}.{i}")})).collect();
        let server = if round % 2 == 0 { &a } else { &b };
        ingest(server, Value::Array(records)).await;
    }
    let got = receiver.wait_for("50 messages", |r| r.len() >= 50).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.received();
    assert_eq!(got_after.len(), 50, "no message twice: {}", got_after.len() - got.len());
    let ids: std::collections::BTreeSet<&str> = got_after.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 50);
}

/// The CLI lists, rotates (old and new secrets both sign for 24 h), sends a
/// test message, and removes; each change is self-audited.
#[tokio::test]
async fn endpoints_are_listed_rotated_tested_and_removed_from_the_cli() {
    let app = spawn_app().await;
    let reader = issue_key(&app.store, "", "read").await;
    let receiver = Receiver::start("200");
    let (id, old) = add_endpoint(
        &app,
        &["--url", &receiver.url(), "--workspace", "acme", "--format", "slack", "--records", "key:x"],
    )
    .await;
    let listed = app.cli(&["webhook", "list"]).await;
    assert!(listed.contains(&receiver.url()) && listed.contains("slack") && listed.contains("acme"), "{listed}");
    assert!(!listed.contains("whsec_"), "secrets are never listed");

    let rotated = app.cli(&["webhook", "rotate", &id.to_string()]).await;
    let new = rotated.lines().last().unwrap().trim().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    receiver.trust(&[&old, &new]);
    ingest(&app, json!({"key": "x", "message": "hello", "severity": "error"})).await;
    let got = receiver.wait_for("one message", |r| !r.is_empty()).await;
    assert_eq!(got[0]["verified_with"], json!([0, 1]), "signed with both secrets: {}", got[0]);
    let text = got[0]["body"]["text"].as_str().unwrap();
    assert!(text.starts_with("[ERROR] acme · x: hello <http://"), "{text}");

    app.cli(&["webhook", "test", &id.to_string()]).await;
    let got = receiver.wait_for("the test message", |r| r.len() >= 2).await;
    assert!(got[1]["body"]["text"].as_str().unwrap().contains("test message"), "{}", got[1]);

    let (code, out) = app.cli_status(&["webhook", "add", "--url", "ftp://example.com/x"]).await;
    assert_ne!(code, 0);
    assert!(out.contains("http or https"), "{out}");
    app.cli(&["webhook", "remove", &id.to_string()]).await;
    assert!(app.store.webhooks().await.unwrap().is_empty());
    for key in ["webhook.created", "webhook.rotated", "webhook.removed"] {
        assert_eq!(app.trail_records(&reader, key).await.len(), 1, "{key}");
    }
}

/// An endpoint that takes every record, Trail's own included, is not sent
/// Trail's records about itself (its creation, its failures): a failing
/// endpoint cannot feed itself.
#[tokio::test]
async fn a_failing_endpoint_is_not_sent_its_own_failures() {
    let app = spawn_app().await;
    let reader = issue_key(&app.store, "", "read").await;
    let receiver = Receiver::start("500");
    let (id, secret) = add_endpoint(&app, &["--url", &receiver.url(), "--records", "key:*"]).await;
    receiver.trust(&[&secret]);
    ingest(&app, json!({"key": "one"})).await;
    receiver.wait_for("four attempts", |r| r.len() >= 4).await;
    trail_records_eventually(&app, &reader, "webhook.failed", 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deliveries = app.store.webhook_deliveries(id, 10).await.unwrap();
    assert_eq!(deliveries.len(), 1, "only the record ingested: {deliveries:#?}");
    assert_eq!(receiver.received().len(), 4);
    assert_eq!(app.trail_records(&reader, "webhook.failed").await.len(), 1);
}

/// A receiver that takes its time holds only its own messages, even with
/// more of them queued than the sender sends at once: another endpoint's
/// message queued after them is delivered while it still waits.
#[tokio::test]
async fn a_slow_receiver_does_not_hold_other_endpoints() {
    let app = spawn_app().await;
    // Slow enough for the fast delivery to come first however loaded the
    // machine, yet answering within the sender's timeout (not hanging).
    let slow_answer = trail::webhooks::sender::TIMEOUT - Duration::from_secs(3);
    let slow = Receiver::start_slow(0, "200", slow_answer);
    let fast = Receiver::start("200");
    let (_, secret) = add_endpoint(&app, &["--url", &slow.url(), "--records", "key:slow.*"]).await;
    slow.trust(&[&secret]);
    let (_, secret) = add_endpoint(&app, &["--url", &fast.url(), "--records", "key:fast.*"]).await;
    fast.trust(&[&secret]);
    let backlog: Vec<Value> = (0..300).map(|i| json!({"key": "slow.one", "message": format!("slow {i}")})).collect();
    ingest(&app, json!(backlog)).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // the slow messages are being sent
    ingest(&app, json!({"key": "fast.one"})).await;
    fast.wait_for("the fast endpoint's message", |r| !r.is_empty()).await;
    assert!(slow.received().is_empty(), "while the slow receiver has not answered yet");
    slow.wait_within("the slow messages, answered", slow_answer + PATIENCE, |r| !r.is_empty()).await;
}

/// `/admin/webhooks`: founders add (the secret shown once, and it signs),
/// send a test message and see its delivery, retry a failed one; admins
/// see the page without its forms and cannot post them; members get a 404.
#[tokio::test]
async fn the_admin_page_manages_endpoints_and_shows_deliveries() {
    use app::webhooks::{AddWebhook, RetryMessage, SendTestMessage};
    use leptos::server_fn::ServerFn;

    let app = spawn_app().await;
    let receiver = Receiver::start("503,200");
    let founder = app.client_signed_in_as(crate::helpers::FOUNDER_EMAIL).await;
    let post = |client: &reqwest::Client, path: &str, form: &[(&str, &str)]| {
        let request = client.post(app.url(path)).header("accept", "text/html");
        request.header("referer", app.url("/admin/webhooks")).form(form).send()
    };
    let page = |client: &reqwest::Client| client.get(app.url("/admin/webhooks")).header("accept", "text/html").send();

    let form = [("url", receiver.url()), ("workspace", "acme".into()), ("format", "trail".into())];
    let form: Vec<(&str, &str)> =
        form.iter().map(|(k, v)| (*k, v.as_str())).chain([("records", ""), ("description", "ops")]).collect();
    let response = post(&founder, AddWebhook::PATH, &form).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let html = page(&founder).await.unwrap().text().await.unwrap();
    let shown = &html[html.find(r#"data-testid="new-secret""#).expect("the secret is shown")..];
    let secret = &shown[shown.find("whsec_").unwrap()..];
    let secret = &secret[..secret.find('<').unwrap()];
    receiver.trust(&[secret]);
    assert!(html.contains(&receiver.url()) && html.contains("Send a test message"), "listed, with its actions");
    let again = page(&founder).await.unwrap().text().await.unwrap();
    assert!(!again.contains(secret), "the secret is shown once");

    // Log streams are listed below the endpoints.
    let export = tempfile::tempdir().unwrap();
    app.cli(&["log-stream", "add", "--dir", export.path().to_str().unwrap()]).await;
    let html = page(&founder).await.unwrap().text().await.unwrap();
    assert!(html.contains("Log streams") && html.contains(export.path().to_str().unwrap()), "the stream is listed");

    let id = app.store.webhooks().await.unwrap()[0].id.to_string();
    assert_eq!(post(&founder, SendTestMessage::PATH, &[("id", &id)]).await.unwrap().status(), StatusCode::FOUND);
    let got = receiver.wait_for("the test message after a 503", |r| r.len() >= 2).await;
    assert_eq!(got[1]["verified_with"], json!([0]));
    assert_eq!(got[1]["body"]["type"], "trail.test");
    let html = page(&founder).await.unwrap().text().await.unwrap();
    assert!(html.contains("delivered") && html.contains(got[0]["id"].as_str().unwrap()), "the delivery is listed");

    // Retry now: a delivered message is not sent again.
    let message = got[0]["id"].as_str().unwrap();
    post(&founder, RetryMessage::PATH, &[("id", message)]).await.unwrap();
    assert!(page(&founder).await.unwrap().text().await.unwrap().contains("no message"), "refused: {message}");

    crate::helpers::add_user(&app.store, "admin@test.trail", app::model::Role::Admin).await;
    let admin = app.client_signed_in_as("admin@test.trail").await;
    let html = page(&admin).await.unwrap().text().await.unwrap();
    assert!(html.contains(&receiver.url()) && !html.contains("Send a test message"), "admins read");
    post(&admin, SendTestMessage::PATH, &[("id", &id)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 2, "an admin's post sends nothing");
    let provider = crate::helpers::add_user(&app.store, "p@test.trail", app::model::Role::Provider).await;
    crate::helpers::grant(&app.store, provider, "acme", "").await;
    let provider = app.client_signed_in_as("p@test.trail").await;
    assert_eq!(page(&provider).await.unwrap().status(), StatusCode::NOT_FOUND);
}

/// "Retry now" brings a message waiting for a later attempt forward: it goes
/// out at once, not when its schedule said.
#[tokio::test]
async fn retry_now_sends_a_waiting_message_at_once() {
    use app::model::Micros;
    use app::store::{MessageKind, NewMessage};
    let app = spawn_app().await;
    let receiver = Receiver::start("200");
    let (endpoint_id, secret) = add_endpoint(&app, &["--url", &receiver.url()]).await;
    receiver.trust(&[&secret]);
    let in_an_hour = Micros(Micros::now().0 + 3_600_000_000);
    let body = json!({"type": "trail.test", "data": {"message": "later"}}).to_string();
    let message = NewMessage { endpoint_id, kind: MessageKind::Test, body, at: in_an_hour };
    let id = app.store.queue_message(&message).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await; // the sender looks every second
    assert!(receiver.received().is_empty(), "not due for an hour");
    assert!(app.store.retry_message_now(&id, Micros::now()).await.unwrap());
    let got = receiver.wait_for("the message, retried", |r| !r.is_empty()).await;
    assert_eq!(got[0]["body"]["data"]["message"], "later");
}

/// "Retry now" on a message while it is being sent leaves it alone: freed
/// from its lease, a second sender's round would send it again at once.
#[tokio::test]
async fn retrying_a_message_in_flight_does_not_send_it_twice() {
    let app = spawn_app().await;
    let slow = Receiver::start_slow(0, "200", Duration::from_secs(3));
    let (endpoint, secret) = add_endpoint(&app, &["--url", &slow.url(), "--records", "key:slow.*"]).await;
    slow.trust(&[&secret]);
    ingest(&app, json!({"key": "slow.one"})).await;
    let message = app.store.webhook_deliveries(endpoint, 1).await.unwrap().remove(0);
    // Retried until the sender has it (before, retrying a waiting message
    // only makes it due now); once it is out, a retry leaves it alone.
    let started = Instant::now();
    while app.store.retry_message_now(&message.id, app::model::Micros::now()).await.unwrap() {
        assert!(started.elapsed() < Duration::from_secs(10), "a message in flight is made due again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let message = app.store.webhook_deliveries(endpoint, 1).await.unwrap().remove(0);
    assert_eq!(message.last_attempt_at, None, "not answered yet, so in flight: {message:?}");
    slow.wait_for("the message", |r| !r.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(4)).await; // a second copy would have come by now
    assert_eq!(slow.received().len(), 1, "sent once");
    let delivered = app.store.webhook_deliveries(endpoint, 1).await.unwrap().remove(0);
    assert_eq!((delivered.status.as_str(), delivered.attempts), ("delivered", 1));
    assert!(!app.store.retry_message_now(&message.id, app::model::Micros::now()).await.unwrap(), "delivered");
}
