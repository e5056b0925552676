//! Trail audits itself: every action taken in Trail, through the admin page,
//! the sign-in form, the read API or the command line, is exactly one audit
//! record in the reserved workspace `trail`, with its actor, address and change.

use std::collections::BTreeSet;

use app::admin_api::{
    CreateKey, CreateUser, CreateWorkspace, GrantMembership, RevokeKey, RevokeMembership, UpdateUser,
};
use app::model::{ActorType, EventDetail, Kind, Role, Severity, Visibility};
use app::store::Scope;
use leptos::server_fn::ServerFn;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestDatabase, FOUNDER_EMAIL, PASSWORD};

/// The audit records so far (those of setting the test up).
async fn setup(app: &TestApp) -> BTreeSet<Uuid> {
    app.audit_records().await.into_iter().map(|row| row.id).collect()
}

/// The one audit record with `key` since `setup` (fails if there are none or several), in full.
async fn only(app: &TestApp, setup: &BTreeSet<Uuid>, key: &str) -> EventDetail {
    let rows: Vec<_> =
        app.audit_records().await.into_iter().filter(|row| row.key == key && !setup.contains(&row.id)).collect();
    assert_eq!(rows.len(), 1, "exactly one {key} record: {rows:#?}");
    app.store.event_by_id(&Scope::Platform, rows[0].id).await.unwrap().unwrap()
}

fn diff(record: &EventDetail) -> Value {
    serde_json::from_str(record.diff.as_deref().expect("a diff")).unwrap()
}

fn payload(record: &EventDetail) -> Value {
    serde_json::from_str(record.payload.as_deref().expect("a payload")).unwrap()
}

/// Posts an admin form as a browser behind the trusted proxy would.
async fn form<F: ServerFn>(app: &TestApp, client: &reqwest::Client, form: &[(&str, &str)]) -> u16 {
    let request = client.post(app.url(F::PATH)).header("x-forwarded-for", "203.0.113.7");
    let response = request.header("user-agent", "audit-test/1").form(form).send().await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn each_admin_action_is_one_record_with_its_actor_address_and_change() {
    let db = std::sync::Arc::new(TestDatabase::fresh().await);
    let app = spawn_app_with(db, |config| {
        config.trusted_proxies = trail::config::TrustedProxies(vec!["127.0.0.1/32".parse().unwrap()]);
    })
    .await;
    let setup = setup(&app).await;
    let founder = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let founder_id = app.store.user_by_email(FOUNDER_EMAIL).await.unwrap().unwrap().id.to_string();

    assert!(form::<CreateWorkspace>(&app, &founder, &[("slug", "globex"), ("name", "Globex")]).await < 400);
    let user = [
        ("email", "pia@test.trail"),
        ("name", "Pia"),
        ("role", "provider"),
        ("workspace", "acme"),
        ("brand", ""),
        ("password", "long enough"),
    ];
    assert!(form::<CreateUser>(&app, &founder, &user).await < 400);
    let pia = app.store.user_by_email("pia@test.trail").await.unwrap().unwrap().id.to_string();
    assert!(
        form::<GrantMembership>(&app, &founder, &[("user_id", &pia), ("workspace", "globex"), ("brand", "")]).await
            < 400
    );
    assert!(form::<RevokeMembership>(&app, &founder, &[("user_id", &pia), ("workspace", "acme")]).await < 400);
    let update = [("user_id", pia.as_str()), ("role", "admin"), ("disabled", "true")];
    assert!(form::<UpdateUser>(&app, &founder, &update).await < 400);
    assert!(
        form::<CreateKey>(&app, &founder, &[("workspace", "globex"), ("scopes", "read"), ("name", "")]).await < 400
    );
    let key_id =
        app.store.api_keys().await.unwrap().into_iter().find(|k| k.workspace.as_deref() == Some("globex")).unwrap().id;
    assert!(form::<RevokeKey>(&app, &founder, &[("key_id", &key_id.to_string())]).await < 400);

    for key in [
        "workspace.created",
        "user.created",
        "membership.revoked",
        "user.role_changed",
        "user.disabled",
        "api_key.created",
        "api_key.revoked",
    ] {
        let record = only(&app, &setup, key).await;
        assert_eq!(record.row.workspace, "trail", "{key}");
        assert_eq!((record.row.kind, record.row.visibility), (Kind::Audit, Visibility::Internal), "{key}");
        assert_eq!(record.row.actor_type, ActorType::User, "{key}");
        assert_eq!(record.row.actor_id.as_deref(), Some(founder_id.as_str()), "{key}");
        assert_eq!(record.row.actor_email.as_deref(), Some(FOUNDER_EMAIL), "{key}");
        assert_eq!(record.ip.as_deref(), Some("203.0.113.7"), "{key}: the address behind the trusted proxy");
        assert_eq!(record.user_agent.as_deref(), Some("audit-test/1"), "{key}");
        assert!(record.row.correlation_id.as_deref().is_some_and(|id| id.len() == 36), "{key}: the request id");
    }

    assert_eq!(
        diff(&only(&app, &setup, "workspace.created").await)["new"],
        json!({"slug": "globex", "name": "Globex"})
    );
    let created = only(&app, &setup, "user.created").await;
    assert_eq!(created.row.entity_id.as_deref(), Some(pia.as_str()));
    assert_eq!(
        diff(&created),
        json!({"old": {}, "new": {"email": "pia@test.trail", "name": "Pia", "role": "provider"}})
    );
    // The grant with the creation (acme), and the form's grant (globex).
    let grants: Vec<_> = app.audit_records().await.into_iter().filter(|r| r.key == "membership.granted").collect();
    assert_eq!(grants.len(), 2, "{grants:#?}");
    assert!(grants.iter().all(|g| g.actor_email.as_deref() == Some(FOUNDER_EMAIL)));
    let granted: Vec<Value> = grants.iter().map(|g| g.entity_id.clone().into()).collect();
    assert_eq!(granted, [json!(pia), json!(pia)], "both about the user");
    let revoked = only(&app, &setup, "membership.revoked").await;
    assert_eq!(diff(&revoked), json!({"old": {"workspace": "acme", "brand": null}, "new": {}}));
    let role = only(&app, &setup, "user.role_changed").await;
    assert_eq!(diff(&role), json!({"old": {"role": "provider"}, "new": {"role": "admin"}}));
    assert_eq!(
        diff(&only(&app, &setup, "user.disabled").await),
        json!({"old": {"disabled": false}, "new": {"disabled": true}})
    );
    let key = payload(&only(&app, &setup, "api_key.created").await);
    assert_eq!(
        (key["id"].clone(), key["scopes"].clone(), key["workspace"].clone()),
        (json!(key_id), json!("read"), json!("globex"))
    );
    assert!(key["prefix"].as_str().unwrap().starts_with("trl_"));
    let all = serde_json::to_string(&app.audit_records().await).unwrap();
    assert!(!all.contains("long enough"), "no password is ever recorded");

    // A change that is refused or changes nothing leaves no record.
    let before = app.audit_records().await.len();
    assert!(form::<CreateWorkspace>(&app, &founder, &[("slug", "globex"), ("name", "")]).await >= 400, "exists");
    assert!(
        form::<GrantMembership>(&app, &founder, &[("user_id", &pia), ("workspace", "nope"), ("brand", "")]).await
            >= 400
    );
    assert!(form::<RevokeKey>(&app, &founder, &[("key_id", &key_id.to_string())]).await < 400, "revoked already");
    assert!(form::<UpdateUser>(&app, &founder, &update).await < 400, "as it is");
    assert_eq!(app.audit_records().await.len(), before, "nothing new");
}

/// A brand limits a client only: a client given another role sees whole
/// workspaces, so the limit is lifted with the change (and says so),
/// rather than left standing on the admin page while it applies to nothing.
#[tokio::test]
async fn a_client_given_another_role_loses_its_brand_limit_and_says_so() {
    let app = spawn_app().await;
    let setup = setup(&app).await;
    let founder = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let user = [
        ("email", "cleo@test.trail"),
        ("name", ""),
        ("role", "client"),
        ("workspace", "acme"),
        ("brand", "nike"),
        ("password", "long enough"),
    ];
    assert!(form::<CreateUser>(&app, &founder, &user).await < 400);
    let cleo = app.store.user_by_email("cleo@test.trail").await.unwrap().unwrap().id;
    let brands = || async {
        let users = app.store.users().await.unwrap();
        let user = users.into_iter().find(|u| u.id == cleo).unwrap();
        user.memberships.into_iter().map(|m| m.brand).collect::<Vec<_>>()
    };
    assert_eq!(brands().await, [Some("nike".to_owned())]);
    let cleo_id = cleo.to_string();
    let update = [("user_id", cleo_id.as_str()), ("role", "provider"), ("disabled", "false")];
    assert!(form::<UpdateUser>(&app, &founder, &update).await < 400);
    assert_eq!(brands().await, [None], "the membership stays, whole");
    let record = only(&app, &setup, "user.role_changed").await;
    assert_eq!(
        diff(&record),
        json!({"old": {"role": "client", "brands": ["acme/nike"]}, "new": {"role": "provider", "brands": []}})
    );
    assert!(record.row.message.as_deref().unwrap().ends_with("(no longer limited to acme/nike)"), "{record:?}");
}

#[tokio::test]
async fn sign_ins_sign_outs_and_exports_are_recorded() {
    let app = spawn_app().await;
    let setup = setup(&app).await;
    let founder = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let signed_in = only(&app, &setup, "auth.sign_in").await;
    assert_eq!(signed_in.row.actor_email.as_deref(), Some(FOUNDER_EMAIL));
    assert_eq!(signed_in.ip.as_deref(), Some("127.0.0.1"), "no trusted proxy: the peer's address");

    let wrong = [("email", FOUNDER_EMAIL), ("password", "not the password")];
    app.client.post(app.url("/login")).header("x-forwarded-for", "198.51.100.1").form(&wrong).send().await.unwrap();
    let failed = only(&app, &setup, "auth.sign_in_failed").await;
    assert_eq!((failed.row.severity, failed.row.actor_id.clone()), (Severity::Warning, None));
    assert_eq!(failed.row.actor_email.as_deref(), Some(FOUNDER_EMAIL), "the email tried");
    assert_eq!(failed.ip.as_deref(), Some("127.0.0.1"), "the header of an untrusted peer is ignored");
    let all = serde_json::to_string(&app.audit_records().await).unwrap();
    assert!(!all.contains("not the password") && !all.contains(PASSWORD), "no password is ever recorded");
    for _ in 0..5 {
        app.client.post(app.url("/login")).form(&wrong).send().await.unwrap();
    }
    let throttled = only(&app, &setup, "auth.throttled").await;
    assert_eq!(throttled.row.severity, Severity::Warning);

    let export = founder.get(app.url("/api/v1/events/export?format=ndjson&kind=audit")).send().await.unwrap();
    let lines = export.text().await.unwrap().lines().count();
    // Written once the stream has ended: wait for it.
    let mut exported = None;
    for _ in 0..100 {
        if app.audit_records().await.iter().any(|r| r.key == "export.downloaded") {
            exported = Some(only(&app, &setup, "export.downloaded").await);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let exported = exported.expect("the export is recorded");
    assert_eq!(exported.row.actor_email.as_deref(), Some(FOUNDER_EMAIL));
    assert_eq!(payload(&exported), json!({"filters": "format=ndjson&kind=audit", "rows": lines, "complete": true}));

    founder.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(only(&app, &setup, "auth.sign_out").await.row.actor_email.as_deref(), Some(FOUNDER_EMAIL));
}

#[tokio::test]
async fn the_command_line_is_recorded_as_the_system_actor_cli() {
    let app = spawn_app().await;
    let setup = setup(&app).await;
    app.cli(&["workspace", "add", "initech"]).await;
    app.cli(&["user", "role", "--email", FOUNDER_EMAIL, "--role", "admin"]).await;
    for key in ["workspace.created", "user.role_changed"] {
        let record = only(&app, &setup, key).await;
        assert_eq!(record.row.actor_type, ActorType::System, "{key}");
        assert_eq!(record.row.actor_label.as_deref(), Some("cli"), "{key}");
        assert_eq!((record.ip.clone(), record.row.actor_id.clone()), (None, None), "{key}");
    }
}

#[tokio::test]
async fn nobody_is_given_or_writes_to_the_trail_workspace() {
    let app = spawn_app().await;
    let spanning = crate::helpers::issue_key(&app.store, "", "ingest").await;
    let response = app.ingest_with(&spanning, &json!({"workspace": "trail", "key": "forged.audit"})).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("Trail's own audit records"), "{body}");

    let cli = app::audit::Actor::cli();
    let credentials = trail::auth::ServerCredentials;
    let key = app::accounts::create_key(app.store.as_ref(), &credentials, &cli, "trail", "ingest", "").await;
    assert!(key.is_err(), "no key for the trail workspace");
    let provider = crate::helpers::add_user(&app.store, "p@test.trail", Role::Provider).await;
    let user = app.store.user_by_id(provider).await.unwrap().unwrap();
    assert!(app::accounts::grant_membership(app.store.as_ref(), &cli, &user, "trail", "").await.is_err());
    assert!(app::accounts::add_workspace(app.store.as_ref(), &cli, "trail", "").await.is_err());
    assert!(app.audit_records().await.iter().all(|r| r.key != "forged.audit"));
}
