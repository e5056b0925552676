//! Nothing leaks: for each role, each server function, and records of a
//! foreign workspace, a foreign brand and every visibility, a viewer sees
//! exactly what the rules of PRODUCT.md allow, and a record outside that is
//! a 404 everywhere (lists, live updates, details, flows, timelines, admin).

use std::collections::BTreeSet;

use app::admin_api::{AdminOverview, CreateKey, CreateUser, CreateWorkspace};
use app::api::{FeedUpdates, LoadFeed, LoadMore, LoadRecord, LoadTimeline};
use app::model::{Role, Visibility};
use serde_json::{json, Value};

use crate::helpers::{add_user, spawn_app, TestApp, FOUNDER_EMAIL};

const BRANDS: [Option<&str>; 3] = [Some("nike"), Some("puma"), None];

/// One record per (workspace, visibility, brand), all about one entity and in one flow.
pub struct Fixture {
    /// (id, workspace, visibility, brand)
    pub records: Vec<(String, &'static str, Visibility, Option<&'static str>)>,
}

pub async fn fixture(app: &TestApp) -> Fixture {
    crate::helpers::add_workspace(&app.store, "globex").await;
    let spanning = crate::helpers::issue_key(&app.store, "", "ingest").await;
    let mut items = Vec::new();
    let mut shape = Vec::new();
    for workspace in ["acme", "globex"] {
        for visibility in Visibility::ALL {
            for brand in BRANDS {
                items.push(json!({
                    "workspace": workspace, "key": "secret.thing", "visibility": visibility.as_str(), "brand": brand,
                    "message": format!("{workspace} {visibility} {}", brand.unwrap_or("-")),
                    "entity": {"type": "track", "id": "trk_shared"}, "correlation_id": "flow_1",
                }));
                shape.push((workspace, *visibility, brand));
            }
        }
    }
    let response = app.ingest_with(&spanning, &Value::Array(items)).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let ids = body["ids"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned());
    Fixture { records: ids.zip(shape).map(|(id, (w, v, b))| (id, w, v, b)).collect() }
}

/// What PRODUCT.md says each role may see.
pub fn may_see(role: Role, workspace: &str, visibility: Visibility, brand: Option<&str>) -> bool {
    match role {
        Role::Founder | Role::Admin => true,
        Role::Provider => workspace == "acme" && visibility != Visibility::System,
        Role::Client => workspace == "acme" && visibility == Visibility::Client && brand == Some("nike"),
    }
}

fn ids_of(rows: &Value) -> BTreeSet<String> {
    rows.as_array().expect("a list").iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

/// The record ids in rows the server rendered (`RowsHtml`).
fn ids_in_html(rows: &Value) -> BTreeSet<String> {
    let html = rows["html"].as_str().expect("rendered rows");
    html.split("data-id=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].to_owned()).collect()
}

/// A cursor before which every record lies.
const FAR_FUTURE: &str = "ffffffffffffff.00000000000000000000000000000000";

pub async fn sign_ins(app: &TestApp) -> Vec<(Role, reqwest::Client)> {
    add_user(&app.store, "admin@test.trail", Role::Admin).await;
    let provider = add_user(&app.store, "provider@test.trail", Role::Provider).await;
    crate::helpers::grant(&app.store, provider, &app.workspace.slug, "").await;
    let client = add_user(&app.store, "client@test.trail", Role::Client).await;
    crate::helpers::grant(&app.store, client, &app.workspace.slug, "nike").await;
    let mut out = Vec::new();
    for (role, email) in [
        (Role::Founder, FOUNDER_EMAIL),
        (Role::Admin, "admin@test.trail"),
        (Role::Provider, "provider@test.trail"),
        (Role::Client, "client@test.trail"),
    ] {
        out.push((role, app.client_signed_in_as(email).await));
    }
    out
}

#[tokio::test]
async fn every_read_respects_workspace_brand_and_visibility() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let signed_in = sign_ins(&app).await;
    // Trail's own records (the fixture's workspace and key, the sign-ins):
    // founders and admins see them, nobody else.
    let own: BTreeSet<String> = app.audit_records().await.into_iter().map(|row| row.id.to_string()).collect();
    assert!(own.len() >= 6, "sign-ins, workspace and key are audited: {own:?}");
    for (role, client) in signed_in {
        let expected: BTreeSet<String> =
            fixture.records.iter().filter(|(_, w, v, b)| may_see(role, w, *v, *b)).map(|(id, ..)| id.clone()).collect();
        assert!(!expected.is_empty(), "{role} sees something");
        let unfiltered = match role.is_platform() {
            true => expected.union(&own).cloned().collect(),
            false => expected.clone(),
        };

        // The feed, unfiltered and with a filter naming a foreign workspace.
        let (status, feed) = app.call::<LoadFeed>(&client, json!({"params": {"q": ""}})).await;
        assert_eq!(status, 200, "{role}: {feed}");
        assert_eq!(ids_of(&feed["Found"]["page"]["rows"]), unfiltered, "{role}: feed");
        let (_, own_feed) = app.call::<LoadFeed>(&client, json!({"params": {"q": "workspace:trail"}})).await;
        let own_seen = ids_of(&own_feed["Found"]["page"]["rows"]);
        assert_eq!(own_seen.is_empty(), !role.is_platform(), "{role}: Trail's own records");
        for id in &own {
            let (_, record) = app.call::<LoadRecord>(&client, json!({"id": id})).await;
            assert_eq!(record == json!("NotFound"), !role.is_platform(), "{role}: Trail's own record {id}");
        }
        let (_, foreign) = app.call::<LoadFeed>(&client, json!({"params": {"q": "workspace:globex"}})).await;
        let foreign_ids = ids_of(&foreign["Found"]["page"]["rows"]);
        assert!(foreign_ids.is_subset(&expected), "{role}: a filter cannot widen the scope");

        // Live updates and the next pages, rendered by the server.
        let (_, updates) = app.call::<FeedUpdates>(&client, json!({"params": {"q": ""}, "since_ms": 0})).await;
        assert_eq!(ids_in_html(&updates), unfiltered, "{role}: live updates");
        let feed_list = json!({"Feed": {"q": "key:secret.thing"}});
        let (status, more) = app.call::<LoadMore>(&client, json!({"list": feed_list, "cursor": FAR_FUTURE})).await;
        assert_eq!(status, 200, "{role}: {more}");
        assert_eq!(ids_in_html(&more), expected, "{role}: load more");
        let entity = json!({"workspace": null, "entity_type": "track", "entity_id": "trk_shared"});
        let timeline = json!({"Timeline": {"entity": entity, "order": "NewestFirst"}});
        let (_, more) = app.call::<LoadMore>(&client, json!({"list": timeline, "cursor": FAR_FUTURE})).await;
        assert_eq!(ids_in_html(&more), expected, "{role}: timeline, load more");

        // Every record's detail page and flow: visible ones only.
        for (id, w, v, b) in &fixture.records {
            let (_, record) = app.call::<LoadRecord>(&client, json!({"id": id})).await;
            if may_see(role, w, *v, *b) {
                assert_eq!(record["Found"]["record"]["row"]["id"], json!(id), "{role}: {w} {v} {b:?}");
                assert_eq!(ids_of(&record["Found"]["related"]), expected, "{role}: flow of {id}");
            } else {
                assert_eq!(record, json!("NotFound"), "{role} must not see {w} {v} {b:?}");
            }
        }

        // The entity's timeline, both orders.
        for order in ["NewestFirst", "OldestFirst"] {
            let args = json!({"entity": entity, "order": order, "cursor": null});
            let (_, timeline) = app.call::<LoadTimeline>(&client, args).await;
            let seen: BTreeSet<String> = timeline["Found"]["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["row"]["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(seen, expected, "{role}: timeline {order}");
        }
    }
}

#[tokio::test]
async fn signed_out_callers_get_nothing() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let anonymous = reqwest::Client::new();
    let (_, feed) = app.call::<LoadFeed>(&anonymous, json!({"params": {}})).await;
    assert_eq!(feed, json!("SignedOut"));
    let (_, record) = app.call::<LoadRecord>(&anonymous, json!({"id": fixture.records[0].0})).await;
    assert_eq!(record, json!("SignedOut"));
    let (status, _) = app.call::<FeedUpdates>(&anonymous, json!({"params": {}, "since_ms": 0})).await;
    assert_ne!(status, 200);
    let (status, _) =
        app.call_form::<CreateKey>(&anonymous, &[("workspace", ""), ("scopes", "ingest"), ("name", "x")]).await;
    assert_ne!(status, 200);
}

#[tokio::test]
async fn admin_rights_follow_the_role() {
    let app = spawn_app().await;
    for (role, client) in sign_ins(&app).await {
        let (_, overview) = app.call::<AdminOverview>(&client, json!({})).await;
        let (key_status, key) =
            app.call_form::<CreateKey>(&client, &[("workspace", "acme"), ("scopes", "read"), ("name", "k")]).await;
        let email = format!("new-{}@test.trail", role.as_str());
        let user_form = [
            ("email", email.as_str()),
            ("name", ""),
            ("role", "provider"),
            ("workspace", "acme"),
            ("brand", ""),
            ("password", "long enough password"),
        ];
        let (user_status, _) = app.call_form::<CreateUser>(&client, &user_form).await;
        let (ws_status, _) = app
            .call_form::<CreateWorkspace>(&client, &[("slug", &format!("ws-{}", role.as_str())), ("name", "")])
            .await;
        match role {
            Role::Founder => {
                assert!(overview["Found"]["users"].is_array());
                assert_eq!((key_status, user_status, ws_status), (200, 200, 200));
                assert!(key.contains("trl_"), "the new key is returned once: {key}");
            }
            // What a role may not do does not exist for it: 404, as a page.
            Role::Admin => {
                assert!(overview["Found"]["users"].is_null(), "admins do not manage users");
                assert_eq!((key_status, user_status, ws_status), (200, 404, 404));
            }
            Role::Provider | Role::Client => {
                assert_eq!(overview, json!("NotFound"));
                assert_eq!((key_status, user_status, ws_status), (404, 404, 404));
            }
        }
    }
    let users: Vec<String> = app.store.users().await.unwrap().into_iter().map(|u| u.email).collect();
    assert!(users.contains(&"new-founder@test.trail".to_owned()));
    assert!(!users.iter().any(|u| u.starts_with("new-") && u != "new-founder@test.trail"));
}
