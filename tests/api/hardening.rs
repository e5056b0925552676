//! Hostile input, as an attacker or a careless producer sends it: every class
//! answers at once with a clear error in the one error shape and changes
//! nothing; nothing panics, hangs or is silently dropped.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, FOUNDER_EMAIL};

/// Times no parameter may take: a multi-byte character where the unit goes,
/// a lone continuation character, ages beyond any calendar, years RFC 3339
/// cannot write, dates before 1970.
const BAD_TIMES: &[&str] = &[
    "5€",
    "\u{80}",
    "€",
    "99999999999999999d",
    "9223372036854775807m",
    "106751992d",
    "+10000-01-01",
    "10000-01-01T00:00:00Z",
    "1969-12-31",
    "-5d",
    "0h",
    "5",
];

/// Every read endpoint that takes a time, with the parameters that take one.
const TIME_PARAMETERS: &[(&str, &[&str])] = &[
    ("/api/v1/events", &["since", "until"]),
    ("/api/v1/events/export", &["since", "until"]),
    ("/api/v1/events/failed/recent", &["since", "until"]),
    ("/api/v1/entities/contact/c_1/timeline", &["since", "until"]),
];

async fn get(app: &TestApp, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
    let sent = app.client.get(app.url(path)).bearer_auth(&app.key).query(query).send();
    tokio::time::timeout(Duration::from_secs(5), sent)
        .await
        .unwrap_or_else(|_| panic!("{path} {query:?} answered within 5 s"))
        .unwrap_or_else(|e| panic!("{path} {query:?} answered at all: {e}"))
}

/// A 400 in the one error shape, naming `parameter`.
async fn assert_bad_request(response: reqwest::Response, parameter: &str, what: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("{what}: JSON error body ({e})"));
    assert_eq!(body["error"]["status"], 400, "{what}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("{parameter}:")), "{what}: {message}");
}

#[tokio::test]
async fn every_time_parameter_refuses_hostile_values() {
    let app = spawn_app().await;
    for (path, parameters) in TIME_PARAMETERS {
        for value in BAD_TIMES {
            for parameter in *parameters {
                let what = format!("{path}?{parameter}={value}");
                assert_bad_request(get(&app, path, &[(parameter, value)]).await, parameter, &what).await;
            }
            for qualifier in ["after", "before", "since", "until"] {
                let q = format!("{qualifier}:{value}");
                assert_bad_request(get(&app, path, &[("q", &q)]).await, "q", &format!("{path}?q={q}")).await;
            }
        }
    }
    for path in ["/api/v1/stats", "/api/v1/events/counts"] {
        for value in BAD_TIMES.iter().chain(&["7w", "24H"]) {
            assert_eq!(get(&app, path, &[("window", value)]).await.status(), StatusCode::BAD_REQUEST, "{path} {value}");
        }
    }
    for minutes in ["99999999999999999999", "5€", "-1", "0", "1.5", "10081"] {
        let response = get(&app, "/api/v1/events/failed/recent", &[("minutes", minutes)]).await;
        assert_bad_request(response, "minutes", &format!("minutes={minutes}")).await;
    }
    // The server is still there and answers the good request.
    assert_eq!(get(&app, "/api/v1/events", &[("since", "24h")]).await.status(), StatusCode::OK);
}

/// A parameter an endpoint does not take is a 400 naming it, never ignored:
/// a misspelt filter would widen the answer to every record.
#[tokio::test]
async fn unknown_read_parameters_are_refused() {
    let app = spawn_app().await;
    for (path, name) in [
        ("/api/v1/events", "serverity"),
        ("/api/v1/events/export", "page"),
        ("/api/v1/events/failed/recent", "window"),
        ("/api/v1/entities/contact/c_1/timeline", "sort"),
        ("/api/v1/events/stream", "limit"),
        ("/api/v1/stats", "brand"),
        ("/api/v1/events/counts", "q"),
        ("/api/v1/digests", "workspace"),
    ] {
        let response = get(&app, path, &[(name, "x")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}?{name}=x");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(name), "{path}?{name}=x: {body}");
    }
    let payload_field = get(&app, "/api/v1/events", &[("payload.data.email", "bob@example.com")]).await;
    assert_eq!(payload_field.status(), StatusCode::OK, "payload fields are parameters");
}

/// A blank parameter is its default on every read endpoint, as on the feed;
/// the stats' workspace is read like every text filter.
#[tokio::test]
async fn blank_read_parameters_are_their_defaults() {
    let app = spawn_app().await;
    for (path, name) in [
        ("/api/v1/events/failed/recent", "minutes"),
        ("/api/v1/stats", "window"),
        ("/api/v1/stats", "workspace"),
        ("/api/v1/events/counts", "window"),
        ("/api/v1/events/export", "format"),
        ("/api/v1/entities/contact/c_1/timeline", "order"),
    ] {
        let status = get(&app, path, &[(name, "")]).await.status();
        assert!(matches!(status, StatusCode::OK | StatusCode::NOT_FOUND), "{path}?{name}=: {status}");
    }
    for path in ["/api/v1/stats", "/api/v1/events/counts"] {
        assert_bad_request(get(&app, path, &[("workspace", "a\0b")]).await, "workspace", path).await;
    }
}

/// An `entity` or `error` that is neither absent nor of its shape, or an
/// `ip` that is no address, is a 422, never a record stored without it.
#[tokio::test]
async fn an_entity_error_or_ip_of_another_shape_is_refused() {
    let app = spawn_app().await;
    for (record, field) in [
        (json!({"key": "k.a", "entity": "trk_1"}), "entity"),
        (json!({"key": "k.a", "entity": 5}), "entity"),
        (json!({"key": "k.a", "error": 42}), "error"),
        (json!({"key": "k.a", "error": ["boom"]}), "error"),
        (json!({"key": "k.a", "ip": "unknown"}), "ip"),
        (json!({"key": "k.a", "ip": "203.0.113.7:443"}), "ip"),
        (json!({"key": "k.a", "ip_address": "203.0.113.7, 10.0.0.1"}), "ip_address"),
        (json!({"key": "k.a", "ip": "203.0.113.7%eth0"}), "ip"),
    ] {
        let response = app.ingest(&record).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{record}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // Ids an index holds, at most 1,200 bytes: PostgreSQL refused 1,000
    // wide characters at the commit (a 500).
    let wide: String = (0..1_000).map(|n| char::from_u32(0x4E00 + n * 7).unwrap()).collect();
    let response = app.ingest(&json!({"key": "k.a", "entity": {"type": wide, "id": wide}})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.all_records().await.is_empty());
    for record in [
        json!({"key": "k.b", "entity": null, "error": null}),
        json!({"key": "k.b", "entity": " ", "error": false}),
        json!({"key": "k.c", "error": "boom"}),
        json!({"key": "k.c", "error": true, "error_message": "boom"}),
        json!({"key": "k.d", "entity": {"type": "track", "id": "t1"}, "error": {"message": "boom"}}),
        json!({"key": "k.e", "ip": " 2001:db8::1 ", "user_agent": "curl/8"}),
        json!({"key": "k.e", "ip_address": "fe80::1%eth0"}),
        json!({"key": "k.e", "ip": ""}),
    ] {
        assert_eq!(app.ingest(&record).await.status(), StatusCode::ACCEPTED, "{record}");
    }
}

#[tokio::test]
async fn a_bad_time_in_the_dashboard_url_is_an_inline_message_at_once() {
    let app = spawn_app().await;
    let client = app.client_signed_in_as(FOUNDER_EMAIL).await;
    for value in BAD_TIMES {
        for (name, query) in
            [("range", value.to_string()), ("q", format!("after:{value}")), ("q", format!("before:{value}"))]
        {
            let started = Instant::now();
            let sent = client.get(app.url("/")).query(&[(name, query.as_str())]).send();
            let response = tokio::time::timeout(Duration::from_secs(5), sent)
                .await
                .unwrap_or_else(|_| panic!("/?{name}={query} answered within 5 s"))
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "/?{name}={query}");
            let html = response.text().await.unwrap();
            assert!(html.contains("role=\"alert\""), "/?{name}={query} shows why: {html}");
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }
}

#[tokio::test]
async fn blank_required_fields_are_422_and_nothing_of_the_batch_is_stored() {
    let app = spawn_app().await;
    for blank in ["", "   "] {
        for name in ["key", "action", "type", "event_type", "eventKey", "action_type"] {
            let batch = json!([{"key": "kept.a"}, {name: blank}, {"key": "kept.b"}]);
            let response = app.ingest(&batch).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}={blank:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["errors"][0]["index"], 1, "{body}");
            assert_eq!(body["errors"][0]["message"], "must not be empty", "{body}");
        }
        for field in ["event_id", "workspace"] {
            let response = app.ingest(&json!({"key": "kept.c", field: blank})).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}={blank:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["errors"][0]["field"], field);
        }
    }
    assert!(app.all_records().await.is_empty(), "nothing of any refused batch was stored");
    // And a good batch still gets one id per record, in order.
    let body: Value = app.ingest(&json!([{"key": "a"}, {"key": "b"}])).await.json().await.unwrap();
    assert_eq!((body["accepted"].as_u64(), body["ids"].as_array().map(Vec::len)), (Some(2), Some(2)));
}

#[tokio::test]
async fn times_outside_the_calendar_or_far_ahead_are_refused() {
    let app = spawn_app().await;
    let hour_ahead_ms = (app::model::Micros::now().0 / 1_000) + 2 * 3_600_000;
    for bad in [
        json!(9_000_000_000_000_000_i64),
        json!(-1),
        json!("+10000-01-01T00:00:00Z"),
        json!("1969-12-31T23:59:59Z"),
        json!(hour_ahead_ms),
    ] {
        let response = app.ingest(&json!({"key": "k", "occurred_at": bad})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "occurred_at", "{body}");
    }
    assert!(app.all_records().await.is_empty());
    // The calendar's ends are accepted and read back as RFC 3339.
    let response = app.ingest(&json!({"key": "k", "occurred_at": "1970-01-01T00:00:00Z"})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let page: Value = get(&app, "/api/v1/events", &[]).await.json().await.unwrap();
    assert_eq!(page["events"][0]["occurred_at"], "1970-01-01T00:00:00.000000Z");
}

/// Both backends: refused, named, nothing stored; and a read filter with it is a 400.
#[tokio::test]
async fn nul_characters_are_refused_the_same_on_both_backends() {
    let app = spawn_app().await;
    let cases = [
        json!({"key": "k", "message": "before\u{0}after"}),
        json!({"key": "k\u{0}"}),
        json!({"key": "k", "actor": {"id": "u\u{0}1"}}),
        json!({"key": "k", "payload": {"note": "a\u{0}b"}}),
        json!({"key": "k", "payload": {"na\u{0}me": 1}}),
        json!({"key": "k", "diff": {"old": {"a": "\u{0}"}, "new": {"a": 1}}}),
        json!({"key": "k", "error": {"message": "x", "stack": "\u{0}"}}),
    ];
    for record in cases {
        let response = app.ingest(&json!([{"key": "fine"}, record])).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{record}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["index"], 1);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("NUL"), "{body}");
    }
    assert!(app.all_records().await.is_empty());
    for parameter in ["q", "actor", "key", "entity_id", "workspace", "provider", "correlation_id"] {
        let response = get(&app, "/api/v1/events", &[(parameter, "a\u{0}b")]).await;
        assert_bad_request(response, parameter, parameter).await;
    }
    let timeline = get(&app, "/api/v1/entities/track/a%00b/timeline", &[]).await;
    assert_eq!(timeline.status(), StatusCode::NOT_FOUND);
    let client = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let feed = client.get(app.url("/")).query(&[("q", "a\u{0}b")]).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(feed.text().await.unwrap().contains("NUL"));
}

async fn send_cloudevent(app: &TestApp, content_type: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/events"))
        .bearer_auth(&app.key)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cloudevents_follow_the_specification() {
    let app = spawn_app().await;
    let event = json!({"specversion": "1.0", "id": "ce-1", "source": "/shop", "type": "order.paid"});
    for (change, field) in [
        (json!({"specversion": null}), "specversion"),
        (json!({"specversion": "0.1"}), "specversion"),
        (json!({"id": null}), "id"),
        (json!({"source": ""}), "source"),
        (json!({"type": null}), "type"),
        // Mapped attributes are named as sent, not as the record's fields.
        (json!({"time": "yesterday"}), "time"),
        (json!({"type": "no spaces allowed"}), "type"),
        (json!({"durationms": "long"}), "durationms"),
        // A URI-reference has no spaces; `time` is text.
        (json!({"source": "/a b"}), "source"),
        (json!({"time": 1_700_000_000_000_i64}), "time"),
    ] {
        let mut bad = event.clone();
        for (name, value) in change.as_object().unwrap() {
            if value.is_null() {
                bad.as_object_mut().unwrap().remove(name);
            } else {
                bad[name] = value.clone();
            }
        }
        let single = send_cloudevent(&app, "application/cloudevents+json", &bad).await;
        assert_eq!(single.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = single.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        let batch = send_cloudevent(&app, "application/cloudevents-batch+json", &json!([event, bad])).await;
        assert_eq!(batch.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = batch.json().await.unwrap();
        assert_eq!((body["errors"][0]["index"].as_u64(), body["errors"][0]["field"].as_str()), (Some(1), Some(field)));
    }
    assert!(app.all_records().await.is_empty());
    assert_eq!(send_cloudevent(&app, "application/cloudevents+json", &event).await.status(), StatusCode::ACCEPTED);
}

/// What ingest could not keep as sent is refused, with its batch: ids
/// beyond 64 bits (two would round to one), a diff's third member, an error
/// flag with no error, a member beside `events`. Two CloudEvents with one id
/// from two sources are two events.
#[tokio::test]
async fn what_ingest_cannot_keep_as_sent_is_refused() {
    let app = spawn_app().await;
    let raw = |body: &'static str| {
        let request = app.client.post(app.url("/api/v1/events")).bearer_auth(&app.key);
        request.header("content-type", "application/json").body(body).send()
    };
    for (body, status, field) in [
        (
            r#"[{"key": "a", "event_id": 98765432109876543210001}, {"key": "a", "event_id": 98765432109876543210002}]"#,
            422,
            "event_id",
        ),
        (r#"{"key": "a", "diff": {"old": {}, "new": {}, "extra": 1}}"#, 422, "diff.extra"),
        (r#"{"key": "a", "error": true}"#, 422, "error"),
        (r#"{"events": [{"key": "a"}], "workspace": "other"}"#, 400, ""),
    ] {
        let response = raw(body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        if !field.is_empty() {
            assert_eq!(answer["errors"][0]["field"], field, "{answer}");
        }
    }
    assert!(app.all_records().await.is_empty(), "nothing of a refused batch");

    for source in ["/a", "/b"] {
        let event = json!({"specversion": "1.0", "id": "same-1", "source": source, "type": "ce.src"});
        let answer: Value = send_cloudevent(&app, "application/cloudevents+json", &event).await.json().await.unwrap();
        assert_eq!(answer["accepted"], 1, "{source}: {answer}");
    }
    let plain: Value = app.ingest(&json!({"key": "plain", "event_id": "same-1"})).await.json().await.unwrap();
    assert_eq!(plain["accepted"], 1, "a record's own event_id is not an event's id: {plain}");
}

/// A binary-mode CloudEvent: its attributes as `ce-` headers, its data the body.
async fn send_binary(app: &TestApp, attributes: &[(&str, &str)], content_type: &str, body: &str) -> reqwest::Response {
    let mut request = app.client.post(app.url("/api/v1/events")).bearer_auth(&app.key);
    for (name, value) in attributes {
        request = request.header(format!("ce-{name}"), *value);
    }
    request.header("content-type", content_type).body(body.to_owned()).send().await.unwrap()
}

#[tokio::test]
async fn binary_mode_cloudevents_are_read_whole_and_deduplicated() {
    let app = spawn_app().await;
    let attributes = [
        ("specversion", "1.0"),
        ("id", "bin-1"),
        ("source", "/billing"),
        ("type", "invoice.paid"),
        ("subject", "inv%2042"),
        ("severity", "warning"),
    ];
    let body = r#"{"key": "not.this", "amount": 12}"#;
    let first: Value = send_binary(&app, &attributes, "application/json", body).await.json().await.unwrap();
    assert_eq!((first["accepted"].as_u64(), first["duplicates"].as_u64()), (Some(1), Some(0)), "{first}");
    let again: Value = send_binary(&app, &attributes, "application/json", body).await.json().await.unwrap();
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1)), "{again}");
    assert_eq!(first["ids"], again["ids"]);
    let id = first["ids"][0].as_str().unwrap();
    let record: Value = get(&app, &format!("/api/v1/events/{id}"), &[]).await.json().await.unwrap();
    assert_eq!(record["key"], "invoice.paid", "the headers say what happened, not the body");
    assert_eq!(record["event_id"], "/billing bin-1", "source and id name an event");
    assert_eq!(record["entity"]["id"], "inv 42");
    assert_eq!(record["severity"], "warning");
    assert_eq!(record["payload"], json!({"key": "not.this", "amount": 12}));
    let old_version = [("specversion", "0.3"), ("id", "bin-2"), ("source", "/billing"), ("type", "invoice.paid")];
    let refused = send_binary(&app, &old_version, "text/plain", "hello").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.all_records().await.len(), 1);
}

#[tokio::test]
async fn stats_panel_tables_stay_bounded() {
    let app = spawn_app().await;
    let records: Vec<Value> = (0..30)
        .map(|n| json!({"key": format!("generated.key_{n}"), "kind": "action", "status": "success", "provider": format!("provider_{n}"), "duration_ms": 5}))
        .collect();
    assert_eq!(app.ingest(&json!(records)).await.status(), StatusCode::ACCEPTED);
    let client = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let html = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let provider_rows = (0..30).filter(|n| html.contains(&format!(">provider_{n}<"))).count();
    assert_eq!(provider_rows, app::pages::stats::PANEL_PROVIDERS, "top providers only");
    assert!(html.contains("22 others"), "the rest in one row");
}

/// The dashboard's calls answer a caller's mistake as the read API does: a
/// value that cannot be taken 400, something that is not there 404, never
/// leptos's 500. Text with a control character (a NUL among them) is
/// refused alike on both databases, and nothing of it is stored.
#[tokio::test]
async fn dashboard_calls_answer_bad_input_with_its_status() {
    use app::admin_api::{CreateKey, CreateUser, CreateWorkspace, GrantMembership, RevokeKey};
    use app::api::{LoadMore, LoadRecord, LoadStats};

    let app = spawn_app().await;
    let founder = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let user = |email: &'static str, name: &'static str, role: &'static str| {
        [
            ("email", email),
            ("name", name),
            ("role", role),
            ("workspace", "acme"),
            ("brand", ""),
            ("password", "long enough password"),
        ]
    };
    let forms = [
        (app.call_form::<CreateWorkspace>(&founder, &[("slug", "BAD SLUG"), ("name", "")]).await, 400),
        (app.call_form::<CreateWorkspace>(&founder, &[("name", "no slug")]).await, 400),
        (app.call_form::<CreateWorkspace>(&founder, &[("slug", "nulws"), ("name", "a\0b")]).await, 400),
        (app.call_form::<CreateUser>(&founder, &user("king@test.trail", "", "king")).await, 400),
        (app.call_form::<CreateUser>(&founder, &user("nul@test.trail", "a\0b", "provider")).await, 400),
        (app.call_form::<CreateUser>(&founder, &user("n\0u@test.trail", "", "provider")).await, 400),
        (
            app.call_form::<CreateKey>(&founder, &[("workspace", "acme"), ("scopes", "read"), ("name", "k\0")]).await,
            400,
        ),
        (app.call_form::<RevokeKey>(&founder, &[("key_id", "99999")]).await, 404),
        (
            app.call_form::<GrantMembership>(&founder, &[("user_id", "99999"), ("workspace", "acme"), ("brand", "")])
                .await,
            404,
        ),
    ];
    for ((status, body), expected) in forms {
        assert_eq!(status, expected, "{body}");
    }
    let calls = [
        (app.call::<LoadRecord>(&founder, json!({"id": 5})).await, 400),
        (app.call::<LoadMore>(&founder, json!({"list": {"Feed": {}}, "cursor": "zz"})).await, 400),
        (app.call::<LoadStats>(&founder, json!({"window": "5y", "workspace": ""})).await, 400),
    ];
    for ((status, body), expected) in calls {
        assert_eq!(status, expected, "{body}");
    }
    assert!(app.store.workspace_by_slug("nulws").await.unwrap().is_none(), "no workspace stored");
    let users = app.store.users().await.unwrap();
    assert!(!users.iter().any(|u| u.email.contains("nul") || u.email.contains('\0')), "no user stored");
    assert!(!app.store.api_keys().await.unwrap().iter().any(|k| k.name.contains('\0')), "no key stored");
}

/// The command line refuses what it cannot mean: an empty workspace is not
/// "every workspace", a check of a database that is not there does not make
/// an empty one and pass, and the demo's size is bounded.
#[tokio::test]
async fn the_command_line_refuses_empty_workspaces_missing_databases_and_huge_demos() {
    let app = spawn_app().await;
    for args in [
        &["key", "create", "--workspace", "", "--scope", "read"][..],
        &["key", "create", "--workspace", " ", "--scope", "read"],
        &["retention", "set", "--workspace", "", "--kind", "event", "--days", "5"],
        &["webhook", "add", "--url", "https://hooks.example.com/a", "--workspace", ""],
        &["alert", "add", "--name", "a", "--workspace", ""],
        &["log-stream", "add", "--dir", "/tmp/trail-never", "--workspace", " "],
        &["verify", "--workspace", ""],
    ] {
        let (status, out) = app.cli_status(args).await;
        assert!(status != 0 && out.contains("workspace slug"), "{args:?}: {status} {out}");
    }
    assert!(app.store.api_keys().await.unwrap().iter().all(|k| k.workspace.is_some()), "no spanning key made");
    assert!(app.store.webhooks().await.unwrap().is_empty() && app.store.alert_rules().await.unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let url = format!("sqlite://{}", missing.display());
    for command in [&["verify"][..], &["key", "list"], &["user", "list"], &["retention", "show"], &["alert", "list"]] {
        let (status, out) = app.cli_status(&[command, &["--database-url", &url]].concat()).await;
        assert!(status != 0 && out.contains("no database at"), "{command:?}: {status} {out}");
        assert!(!missing.exists(), "{command:?} made no database");
    }
    let key_file = dir.path().join("no.key").display().to_string();
    let args = ["public-key", "--database-url", &url, "--signing-key-file", &key_file];
    let (status, out) = app.cli_status(&args).await;
    assert!(status != 0 && !missing.exists(), "public-key needs no database: {status} {out}");

    let (status, out) = app.cli_status(&["demo", "--records", "18446744073709551615"]).await;
    assert!(status != 0 && !out.contains("panicked"), "{status} {out}");
    assert!(app.store.workspace_by_slug("agency").await.unwrap().is_none(), "no half-made demo");
}

/// A command whose output goes to a pipe closed early (`| head -1`) ends
/// as a Unix tool does, by SIGPIPE, not with a panic and its backtrace.
#[tokio::test]
async fn a_command_piped_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let app = spawn_app().await;
    for n in 0..30 {
        app.cli(&["workspace", "add", &format!("ws{n}")]).await;
    }
    let mut command = app.cli_command(&["retention", "show"]);
    let mut child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take()); // closed before the command has written a line
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success() || output.status.signal() == Some(13), "{:?}: {stderr}", output.status);
}
