//! Alert rules: each kind fires once and resolves once, as records in the
//! `trail` workspace sent to a real receiver that verifies them with the
//! official Standard Webhooks library (see `webhooks::Receiver`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{issue_key, spawn_app, TestApp};
use crate::webhooks::Receiver;

/// `trail webhook add …`, trusted by the receiver: the endpoint's id.
async fn endpoint(app: &TestApp, receiver: &Receiver, extra: &[&str]) -> i64 {
    let out = app.cli(&[&["webhook", "add", "--url", &receiver.url()], extra].concat()).await;
    let id = out.split_whitespace().nth(2).and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("an id: {out}"));
    receiver.trust(&[out.lines().last().unwrap().trim()]);
    id
}

/// `trail alert add …`: the rule's id.
async fn rule(app: &TestApp, args: &[&str]) -> i64 {
    let out = app.cli(&[&["alert", "add"], args].concat()).await;
    out.split_whitespace().nth(2).and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("an id: {out}"))
}

async fn ingest(app: &TestApp, records: Value) {
    assert_eq!(app.ingest(&records).await.status(), StatusCode::ACCEPTED);
}

/// The alerts a receiver got, each once (by `webhook-id`), verified, in order.
fn alerts(receiver: &Receiver) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut alerts = Vec::new();
    for message in receiver.received() {
        assert_eq!(message["verified_with"], json!([0]), "signed: {message}");
        if message["body"]["type"] == "trail.alert" && !seen.contains(&message["id"]) {
            seen.push(message["id"].clone());
            alerts.push(message["body"]["data"].clone());
        }
    }
    alerts
}

/// Each alert as (key, group).
fn summary(alerts: &[Value]) -> Vec<(String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    alerts.iter().map(|a| (text(&a["key"]), text(&a["payload"]["group"]))).collect()
}

fn fired(group: &str) -> (String, String) {
    ("alert.fired".into(), group.into())
}

fn resolved(group: &str) -> (String, String) {
    ("alert.resolved".into(), group.into())
}

/// Waits until the receiver has `count` alerts, then a while longer to see
/// that no more come: the alerts.
async fn expect_alerts(receiver: &Receiver, count: usize, what: &str) -> Vec<Value> {
    receiver.wait_for(what, |_| alerts(receiver).len() >= count).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    alerts(receiver)
}

/// A match rule fires on the first matching record, folds in the ones that
/// follow while it fires, and resolves once after a quiet cool-down. Its
/// alerts go to every endpoint that takes alerts (not to one with
/// `--no-alerts`); firing and resolving are `event` records in `trail`;
/// adding and removing it are audited.
#[tokio::test]
async fn a_match_rule_fires_once_and_resolves_after_its_cool_down() {
    let app = spawn_app().await;
    let reader = issue_key(&app.store, "", "read").await;
    let takes_alerts = Receiver::start("200");
    let no_alerts = Receiver::start("200");
    let other_workspace = Receiver::start("200");
    endpoint(&app, &takes_alerts, &[]).await;
    endpoint(&app, &no_alerts, &["--no-alerts"]).await;
    endpoint(&app, &other_workspace, &["--workspace", "acme"]).await;
    // Resolves 10 s after the last match: long enough for db.still_down to come while it fires.
    let id = rule(&app, &["--name", "criticals", "--match", "severity:critical", "--cooldown", "10s"]).await;

    ingest(&app, json!([{"key": "db.down", "severity": "critical"}, {"key": "db.down", "severity": "critical"}])).await;
    ingest(&app, json!({"key": "user.login"})).await;
    takes_alerts.wait_for("the rule fires", |_| !alerts(&takes_alerts).is_empty()).await;
    ingest(&app, json!({"key": "db.still_down", "severity": "critical"})).await;
    let got = expect_alerts(&takes_alerts, 2, "fired, then resolved").await;
    assert_eq!(summary(&got), [fired(""), resolved("")], "{got:#?}");
    let (fire, resolve) = (&got[0], &got[1]);
    assert_eq!(
        (&fire["workspace"], &fire["kind"], &fire["severity"]),
        (&json!("trail"), &json!("event"), &json!("warning"))
    );
    assert_eq!(fire["payload"]["rule"], id);
    assert!(fire["message"].as_str().unwrap().contains("\"criticals\" fired"), "{fire}");
    assert_eq!(resolve["payload"]["matches"], 1, "the critical that came while it fired is folded in");
    assert!(alerts(&no_alerts).is_empty(), "an endpoint without alerts gets none");
    assert!(alerts(&other_workspace).is_empty(), "nor one limited to a workspace, from a rule on every one");

    // The feed shows them; the rule's changes are audited.
    assert_eq!(app.trail_records(&reader, "alert.fired").await.len(), 1);
    assert_eq!(app.trail_records(&reader, "alert.resolved").await.len(), 1);
    let created = app.trail_records(&reader, "alert.created").await;
    assert_eq!((created.len(), &created[0]["kind"]), (1, &json!("audit")));
    let listed = app.cli(&["alert", "list"]).await;
    assert!(listed.contains("criticals") && listed.contains("quiet"), "{listed}");
    app.cli(&["alert", "remove", &id.to_string()]).await;
    assert_eq!(app.trail_records(&reader, "alert.removed").await.len(), 1);
    assert!(!app.cli(&["alert", "list"]).await.contains("criticals"));
}

/// More than N matching records in the window fires once (to the endpoint
/// the rule names, even one that takes no other alerts) and resolves once
/// when they slide out of the window.
#[tokio::test]
async fn a_count_rule_fires_above_its_threshold_and_resolves_as_the_window_slides() {
    let app = spawn_app().await;
    let everyone = Receiver::start("200");
    let named = Receiver::start("200");
    endpoint(&app, &everyone, &[]).await;
    let target = endpoint(&app, &named, &["--no-alerts"]).await;
    // The fourth must come while the first three are in the window, however slow the machine.
    let args = ["--match", "key:payment.failed", "--count-above", "3", "--window", "10s", "--cooldown", "1s"];
    rule(&app, &[&["--name", "payments", "--webhook", &target.to_string()], &args[..]].concat()).await;

    let failed = json!({"key": "payment.failed", "severity": "error"});
    ingest(&app, json!([failed, failed, failed, {"key": "payment.ok"}])).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(alerts(&named).is_empty(), "3 is not more than 3");
    ingest(&app, failed.clone()).await;
    let got = expect_alerts(&named, 2, "fired, then resolved as the window slid").await;
    assert_eq!(summary(&got), [fired(""), resolved("")], "{got:#?}");
    assert_eq!(got[0]["payload"]["value"], 4.0);
    assert!(alerts(&everyone).is_empty(), "a rule that names its endpoints sends only to them");
    let (code, out) = app.cli_status(&["webhook", "remove", &target.to_string()]).await;
    assert!(code != 0 && out.contains("remove them first"), "an endpoint a rule names stays: {out}");
}

/// An error rate above P % fires only once there are enough records to
/// judge, and resolves when the rate falls.
#[tokio::test]
async fn an_error_rate_rule_fires_with_enough_records_and_resolves_when_the_rate_falls() {
    let app = spawn_app().await;
    let receiver = Receiver::start("200");
    endpoint(&app, &receiver, &[]).await;
    let args = ["--match", "provider:stripe", "--error-rate-above", "50", "--min-records", "4", "--window", "30s"];
    rule(&app, &[&["--name", "stripe errors", "--cooldown", "1s"], &args[..]].concat()).await;
    let charge = |status: &str| json!({"kind": "action", "key": "charge", "provider": "stripe", "status": status});

    ingest(&app, json!([charge("success"), charge("failure"), charge("failure")])).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(alerts(&receiver).is_empty(), "3 records are too few to judge");
    ingest(&app, charge("timeout")).await;
    receiver.wait_for("the rate fires", |_| !alerts(&receiver).is_empty()).await;
    ingest(&app, json!([charge("success"), charge("success"), charge("success"), charge("success")])).await;
    let got = expect_alerts(&receiver, 2, "fired at 75 %, resolved at 37.5 %").await;
    assert_eq!(summary(&got), [fired(""), resolved("")], "{got:#?}");
    assert_eq!((&got[0]["payload"]["value"], &got[1]["payload"]["value"]), (&json!(75.0), &json!(37.5)));
}

/// Durations are judged per provider from the rule's histogram: only the
/// slow provider fires, and it resolves when its slow calls leave the window.
#[tokio::test]
async fn duration_rules_fire_per_provider() {
    let app = spawn_app().await;
    let receiver = Receiver::start("200");
    endpoint(&app, &receiver, &[]).await;
    let window = ["--window", "4s", "--cooldown", "1s", "--match", "kind:action"];
    rule(&app, &[&["--name", "p95", "--p95-duration-above", "1000"], &window[..]].concat()).await;
    rule(&app, &[&["--name", "average", "--avg-duration-above", "1000"], &window[..]].concat()).await;
    let call = |provider: &str, ms: i64| json!({"kind": "action", "key": "call", "provider": provider, "duration_ms": ms, "status": "success"});

    ingest(&app, json!([call("stripe", 3_000), call("stripe", 2_500), call("ses", 20), call("ses", 40)])).await;
    let got = expect_alerts(&receiver, 4, "each rule fires and resolves for stripe").await;
    let mut by_rule: Vec<(String, String, String)> = got
        .iter()
        .map(|a| {
            let name = a["payload"]["name"].as_str().unwrap().to_owned();
            (name, a["key"].as_str().unwrap().to_owned(), a["payload"]["group"].as_str().unwrap().to_owned())
        })
        .collect();
    by_rule.sort();
    let expect = |name: &str, key: &str| (name.to_owned(), key.to_owned(), "stripe".to_owned());
    assert_eq!(
        by_rule,
        [
            expect("average", "alert.fired"),
            expect("average", "alert.resolved"),
            expect("p95", "alert.fired"),
            expect("p95", "alert.resolved")
        ],
        "{got:#?}"
    );
}

/// Runs `sql` on the app's database directly.
async fn behind_the_servers_back(app: &TestApp, sql: &str) {
    if app.db.is_postgres() {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

/// An endpoint of one workspace hears of that workspace only: a rule on
/// another (or on every workspace) may not name it, and a rule that names
/// it anyway (behind the server's back) does not send it its alerts.
#[tokio::test]
async fn an_alert_goes_to_endpoints_of_its_workspace_only() {
    let app = spawn_app().await;
    app.cli(&["workspace", "add", "globex"]).await;
    let (own, foreign) = (Receiver::start("200"), Receiver::start("200"));
    let own_id = endpoint(&app, &own, &[]).await;
    let foreign_id = endpoint(&app, &foreign, &["--workspace", "globex"]).await.to_string();
    for workspace in [&["--workspace", "acme"][..], &[]] {
        let args =
            [&["alert", "add", "--name", "x", "--match", "key:a.b", "--webhook", &foreign_id], workspace].concat();
        let (status, out) = app.cli_status(&args).await;
        assert!(status != 0 && out.contains("takes workspace globex's records only"), "{status} {out}");
    }
    assert!(app.store.alert_rules().await.unwrap().is_empty(), "nothing added");
    // A search that could never match is refused too: no key holds a `*`.
    let (status, out) = app.cli_status(&["alert", "add", "--name", "never", "--match", "key:a*b"]).await;
    assert!(status != 0 && out.contains("goes at the end only"), "{status} {out}");
    let (status, out) =
        app.cli_status(&["webhook", "add", "--url", "http://127.0.0.1:9/", "--records", "key:*a"]).await;
    assert!(status != 0 && out.contains("goes at the end only"), "{status} {out}");

    let id =
        rule(&app, &["--name", "ab", "--workspace", "acme", "--match", "key:a.b", "--webhook", &own_id.to_string()])
            .await;
    behind_the_servers_back(&app, &format!("INSERT INTO alert_rule_endpoints VALUES ({id}, {foreign_id})")).await;
    ingest(&app, json!({"key": "a.b"})).await;
    own.wait_for("the alert", |_| !alerts(&own).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(alerts(&foreign).is_empty(), "globex's endpoint heard nothing of acme");
}

/// A rule whose saved search an upgraded server no longer reads (here: made
/// so behind the server's back) is left as it is: an absence rule does not
/// fire because nothing is counted. A good rule beside it still fires.
#[tokio::test]
async fn a_rule_whose_search_no_longer_parses_neither_fires_nor_resolves() {
    let app = spawn_app().await;
    let receiver = Receiver::start("200");
    endpoint(&app, &receiver, &[]).await;
    let stale = rule(&app, &["--name", "stale", "--match", "kind:audit", "--absent", "--window", "1s"]).await;
    behind_the_servers_back(
        &app,
        &format!("UPDATE alert_rules SET query = 'kind:audit kind:action' WHERE id = {stale}"),
    )
    .await;
    rule(&app, &["--name", "fresh", "--match", "kind:event", "--absent", "--window", "2s"]).await;
    receiver.wait_for("the good rule fires", |_| !alerts(&receiver).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let names: Vec<Value> = alerts(&receiver).iter().map(|a| a["payload"]["name"].clone()).collect();
    assert_eq!(names, [json!("fresh")], "the stale rule stays quiet");
}

/// An absence rule fires when nothing matched for its window and resolves
/// when a match comes; its firing is a record another rule can match. An
/// endpoint whose records filter takes the firing records gets each once.
#[tokio::test]
async fn an_absence_rule_fires_when_nothing_comes_and_resolves_on_a_match() {
    let app = spawn_app().await;
    let receiver = Receiver::start("200");
    endpoint(&app, &receiver, &[]).await;
    let records_too = Receiver::start("200");
    endpoint(&app, &records_too, &["--records", "key:alert.fired"]).await;
    let started = Instant::now();
    // Long cool-downs, so each fires once: the absence does not fire again
    // before the test ends (its resolving does not wait for the cool-down),
    // and the match rule does not resolve before the absence does.
    let args = ["--match", "key:payment.received", "--absent", "--window", "3s", "--cooldown", "60s"];
    rule(&app, &[&["--name", "no payments"], &args[..]].concat()).await;
    let watch = ["--workspace", "trail", "--match", "key:alert.fired", "--cooldown", "60s"];
    rule(&app, &[&["--name", "any alert"], &watch[..]].concat()).await;

    receiver.wait_for("both rules fire", |_| alerts(&receiver).len() >= 2).await;
    assert!(started.elapsed() >= Duration::from_secs(3), "not before the window passed");
    ingest(&app, json!({"key": "payment.received"})).await;
    receiver.wait_for("the absence resolves", |_| alerts(&receiver).len() >= 3).await;
    let got = alerts(&receiver);
    let names: Vec<(String, String)> = got
        .iter()
        .map(|a| (a["payload"]["name"].as_str().unwrap().to_owned(), a["key"].as_str().unwrap().to_owned()))
        .collect();
    let name = |n: &str, k: &str| (n.to_owned(), k.to_owned());
    assert_eq!(names[0], name("no payments", "alert.fired"), "{names:?}");
    assert!(names.contains(&name("any alert", "alert.fired")), "the firing record is matched by the other rule");
    assert!(names.contains(&name("no payments", "alert.resolved")), "{names:?}");
    assert_eq!(names.iter().filter(|(_, key)| key == "alert.fired").count(), 2, "each fired once: {names:?}");
    let is_fired = |m: &Value| m["body"]["data"]["key"] == "alert.fired";
    records_too.wait_for("both firing records", |r| r.iter().filter(|m| is_fired(m)).count() >= 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fired: Vec<Value> = records_too.received().into_iter().filter(is_fired).collect();
    assert_eq!(fired.len(), 2, "once each, not as a record and as an alert: {fired:#?}");
    assert!(fired.iter().all(|m| m["body"]["type"] == "trail.record"));
}

/// `/admin/alerts`: founders and admins add and remove rules, and the page
/// lists them; a provider gets a 404.
#[tokio::test]
async fn the_admin_page_lists_adds_and_removes_rules() {
    use app::alerts::{AddAlertRule, RemoveAlert};
    use leptos::server_fn::ServerFn;

    let app = spawn_app().await;
    crate::helpers::add_user(&app.store, "admin@test.trail", app::model::Role::Admin).await;
    let admin = app.client_signed_in_as("admin@test.trail").await;
    let post = |path: &str, form: &[(&str, &str)]| {
        let request = admin.post(app.url(path)).header("accept", "text/html");
        request.header("referer", app.url("/admin/alerts")).form(form).send()
    };
    let page = |client: &reqwest::Client| client.get(app.url("/admin/alerts")).header("accept", "text/html").send();
    let form = [
        ("name", "slow stripe"),
        ("workspace", "acme"),
        ("query", "provider:stripe"),
        ("condition", "p95_duration"),
        ("threshold", "2000"),
        ("min_records", ""),
        ("window", "15m"),
        ("cooldown", ""),
        ("endpoints", ""),
    ];
    assert_eq!(post(AddAlertRule::PATH, &form).await.unwrap().status(), StatusCode::FOUND);
    let html = page(&admin).await.unwrap().text().await.unwrap();
    assert!(html.contains("slow stripe") && html.contains("p95 duration above 2000 ms in 15m"), "listed");
    let rules = app.store.alert_rules().await.unwrap();
    assert_eq!((rules.len(), rules[0].workspace.as_deref()), (1, Some("acme")));

    let bad: Vec<(&str, &str)> =
        form.iter().map(|&(k, v)| if k == "threshold" { (k, "lots") } else { (k, v) }).collect();
    post(AddAlertRule::PATH, &bad).await.unwrap();
    assert!(page(&admin).await.unwrap().text().await.unwrap().contains("is not a number"), "refused, with why");
    assert_eq!(app.store.alert_rules().await.unwrap().len(), 1, "and nothing added");

    let provider = crate::helpers::add_user(&app.store, "p@test.trail", app::model::Role::Provider).await;
    crate::helpers::grant(&app.store, provider, "acme", "").await;
    let provider = app.client_signed_in_as("p@test.trail").await;
    assert_eq!(page(&provider).await.unwrap().status(), StatusCode::NOT_FOUND);

    // A search saved under older rules that today's no longer read: the
    // rule is not used, and the page says so.
    crate::integrity::tamper(&app, &["UPDATE alert_rules SET query = '-test'"]).await;
    let html = page(&admin).await.unwrap().text().await.unwrap();
    assert!(html.contains("No longer understood") && html.contains("neither fires nor resolves"), "{html}");

    let id = rules[0].id.to_string();
    assert_eq!(post(RemoveAlert::PATH, &[("id", &id)]).await.unwrap().status(), StatusCode::FOUND);
    assert!(app.store.alert_rules().await.unwrap().is_empty());
}
