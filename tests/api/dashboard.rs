//! Sign-in, sessions and the server-rendered feed.

use app::accounts;
use app::admin_api::{CreateKey, CreateUser, CreateWorkspace};
use app::model::Role;
use leptos::server_fn::ServerFn;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{add_user, spawn_app, FOUNDER_EMAIL};

fn location(response: &reqwest::Response) -> &str {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn page(app: &crate::helpers::TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).header("accept", "text/html").send().await.unwrap()
}

#[tokio::test]
async fn the_feed_needs_a_session() {
    let app = spawn_app().await;
    let response = page(&app, "/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    let login = page(&app, "/login").await;
    assert_eq!(login.status(), StatusCode::OK);
    let html = login.text().await.unwrap();
    assert!(html.contains(r#"method="post""#) && html.contains(r#"action="/login""#), "{html}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_a_session() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[("email", FOUNDER_EMAIL), ("password", "wrong password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login?error"));
    let unknown = app.sign_in("nobody@test.trail").await;
    assert!(location(&unknown).starts_with("/login?error"));
    assert_eq!(page(&app, "/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_founder_signs_in_and_sees_records_rendered_as_text() {
    let app = spawn_app().await;
    let hostile = "<script>window.pwned=1</script><b>bold</b>";
    app.ingest(&json!({"key": "brand.created", "message": hostile, "actor": {"name": "Maya Chen"}})).await;

    let response = app.sign_in(FOUNDER_EMAIL).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("trail_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

    let feed = page(&app, "/").await;
    assert_eq!(feed.status(), StatusCode::OK);
    let html = feed.text().await.unwrap();
    assert!(html.contains("brand.created") && html.contains("Maya Chen") && html.contains("acme"));
    assert!(html.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"), "the message is escaped");
    assert!(!html.contains(hostile));
    // A NUL no record holds: not found, or a message; never "internal error"
    // (PostgreSQL refuses to compare text holding one).
    let nul = page(&app, "/entities/track/%00").await;
    assert_eq!(nul.status(), StatusCode::NOT_FOUND);
    for path in ["/?workspace=%00", "/?q=%00"] {
        let html = page(&app, path).await.text().await.unwrap();
        assert!(html.contains("NUL") && !html.contains("internal error"), "{path}: {html}");
    }
    // Each page has its own title.
    for (path, title) in [("/", "Activity · Trail"), ("/admin", "Admin · Trail"), ("/nowhere", "Not found · Trail")]
    {
        let html = page(&app, path).await.text().await.unwrap();
        assert!(html.contains(&format!("<title>{title}</title>")), "{path}: {html}");
    }
    // The read API's parameters are not the page's: said, not ignored.
    let html = page(&app, "/?actor=u_101&q=key%3Aa&brand=nike").await.text().await.unwrap();
    assert!(html.contains("Not used on this page: actor, brand"), "{html}");
    let html = page(&app, "/?q=key%3Aa&range=24h").await.text().await.unwrap();
    assert!(!html.contains("Not used on this page"), "{html}");
    // A search that can match nothing says why, as the API's 400 does.
    for (path, why) in [
        ("/?q=key%3Aa*b", "goes at the end only"),
        ("/?q=after%3A2027-01-01%20before%3A2026-01-01", "the time range is empty"),
    ] {
        let html = page(&app, path).await.text().await.unwrap();
        assert!(html.contains(why) && !html.contains("Nothing matches"), "{path}: {html}");
    }
    // The search in the URL is the search shown, its `%41` kept (decoded once).
    let searched = page(&app, "/?q=50%2541").await.text().await.unwrap();
    assert!(searched.contains(r#"name="q" value="50%41""#), "{searched}");

    let logout = app.client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(location(&logout), "/login");
    assert_eq!(page(&app, "/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_member_without_grants_sees_an_empty_feed() {
    let app = spawn_app().await;
    app.ingest(&json!({"key": "secret.thing", "visibility": "internal"})).await;
    add_user(&app.store, "lonely@test.trail", Role::Provider).await;
    app.sign_in("lonely@test.trail").await;
    let html = page(&app, "/").await.text().await.unwrap();
    assert!(html.contains("Nothing here yet"), "unfiltered: nothing to see yet");
    assert!(!html.contains("secret.thing"));
    let html = page(&app, "/?q=secret").await.text().await.unwrap();
    assert!(html.contains("Nothing matches these filters"), "filtered: nothing matched");
}

/// The admin forms work without JavaScript: the post runs the action and
/// sends the browser back, and `/admin` shows the outcome once.
#[tokio::test]
async fn admin_forms_post_without_javascript_and_show_the_outcome_once() {
    let app = spawn_app().await;
    app.sign_in(FOUNDER_EMAIL).await;
    let post = |path: &'static str, form: &'static [(&'static str, &'static str)]| {
        let request = app.client.post(app.url(path)).header("accept", "text/html").header("referer", app.url("/admin"));
        request.form(form).send()
    };

    let response =
        post(CreateKey::PATH, &[("workspace", "acme"), ("scopes", "ingest"), ("name", "from a form")]).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with(&app.url("/admin")), "back to /admin: {}", location(&response));
    let admin = page(&app, "/admin").await;
    assert_eq!(admin.headers().get("cache-control").unwrap(), "no-store", "no cache keeps the secret");
    let html = admin.text().await.unwrap();
    let shown = &html[html.find(r#"data-testid="new-key""#).expect("the new key is shown")..];
    let secret = &shown[shown.find("trl_").unwrap()..][..68];
    let ingest = app.client.post(app.url("/api/v1/events")).bearer_auth(secret).json(&json!({"key": "form.key"}));
    assert_eq!(ingest.send().await.unwrap().status(), StatusCode::ACCEPTED, "the shown key works");
    let again = page(&app, "/admin").await.text().await.unwrap();
    assert!(!again.contains("new-key") && !again.contains(secret), "the secret is shown once");
    assert!(again.contains("from a form"), "the key is listed");

    let response = post(CreateWorkspace::PATH, &[("slug", "Not A Slug!"), ("name", "")]).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let html = page(&app, "/admin").await.text().await.unwrap();
    assert!(html.contains(r#"role="alert""#), "the refusal is shown: {html}");
    assert!(html.contains(r#"value="Not A Slug!""#), "the form holds what was typed, to correct it");
    assert!(app.store.workspace_by_slug("Not A Slug!").await.unwrap().is_none());
}

/// A period that keeps some workspace's records a shorter time than now
/// deletes within the hour: the page asks for a tick first, naming the
/// workspaces. A workspace's own period goes back to the default.
#[tokio::test]
async fn a_shorter_retention_period_asks_first_and_an_override_can_be_removed() {
    use app::model::{Kind, Period};
    use app::retention::SetRetention;
    let app = spawn_app().await;
    app.sign_in(FOUNDER_EMAIL).await;
    let app = &app;
    // `confirm`: the checkbox's value, "" for none.
    let set = move |workspace: &'static str, kind: &'static str, period: &'static str, confirm: &'static str| {
        let mut form = vec![("workspace", workspace), ("kind", kind), ("period", period)];
        if !confirm.is_empty() {
            form.push(("confirm", confirm));
        }
        let request = app.client.post(app.url(SetRetention::PATH)).header("accept", "text/html");
        async move {
            request.header("referer", app.url("/admin/retention")).form(&form).send().await.unwrap();
            page(app, "/admin/retention").await.text().await.unwrap()
        }
    };
    let retention = || async { app.store.retention().await.unwrap() };

    let html = set("", "audit", "1", "").await;
    assert!(html.contains("This keeps audit records of acme") && html.contains("a shorter time"), "{html}");
    assert_eq!(retention().await.default_period(Kind::Audit), Period::Forever, "nothing changed");
    assert!(set("", "audit", "1", "no").await.contains("a shorter time"), "only the tick's own value confirms");
    // Refused, the form holds what was chosen: saved again, it is the same change.
    let html = set("acme", "action", "1", "").await;
    assert!(html.contains("a shorter time"), "{html}");
    let form = &html[html.find(r#"aria-label="Set a retention period""#).unwrap()..];
    assert!(form.contains(r#"<option value="acme" selected"#) && form.contains(r#"value="1""#), "{form}");
    assert!(form.contains(r#"<option value="action" selected"#), "{form}");
    let html = set("", "audit", "1", "yes").await;
    assert!(html.contains("audit records of the platform default are kept 1 day"), "{html}");
    assert_eq!(retention().await.default_period(Kind::Audit), Period::Days(1));
    assert!(!set("", "audit", "forever", "").await.contains("a shorter time"), "longer: no question");

    set("acme", "event", "30", "yes").await;
    assert_eq!(retention().await.period("acme", Kind::Event), Period::Days(30));
    let html = set("acme", "event", "default", "").await;
    assert!(html.contains("kept as the platform default says"), "{html}");
    assert!(retention().await.rule(Some("acme"), Kind::Event).is_none(), "the override is gone");
    let html = set("", "event", "default", "yes").await;
    assert!(html.contains("is for a workspace"), "{html}");
}

/// Every page that needs a session answers a real redirect (no JavaScript
/// needed), keeping where the person was going; signing in returns there.
#[tokio::test]
async fn every_signed_out_page_redirects_to_sign_in_and_back() {
    let app = spawn_app().await;
    let id = uuid::Uuid::now_v7();
    let paths = [
        "/".to_owned(),
        "/?q=key%3Aa&range=24h".to_owned(),
        format!("/events/{id}"),
        "/entities/track/trk_1".to_owned(),
        "/admin".to_owned(),
        "/health".to_owned(),
    ];
    for path in &paths {
        let response = page(&app, path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let expected = match path.as_str() {
            "/" => "/login".to_owned(),
            _ => format!("/login?{}", app::model::query_string(&[("next", path)])),
        };
        assert_eq!(location(&response), expected, "{path}");
    }
    // A trailing slash is the page without it; never another site.
    for (path, to) in [("/admin/", "/admin"), ("/events/x//?a=1", "/events/x?a=1"), ("/login/", "/login")] {
        let response = page(&app, path).await;
        assert_eq!((response.status(), location(&response)), (StatusCode::PERMANENT_REDIRECT, to), "{path}");
    }
    for path in ["//evil.example/", "/api/v1/events/"] {
        assert_eq!(page(&app, path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The sign-in page carries `next` along, and signing in goes there.
    let html = page(&app, "/login?next=%2Fadmin").await.text().await.unwrap();
    assert!(html.contains(r#"name="next" value="/admin""#), "{html}");
    // Each value decoded once: a search for `INV%2342` keeps its `%23`.
    let html = page(&app, "/login?next=%2F%3Fq%3DINV%252342").await.text().await.unwrap();
    assert!(html.contains(r#"name="next" value="/?q=INV%2342""#), "{html}");
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[("email", FOUNDER_EMAIL), ("password", crate::helpers::PASSWORD), ("next", "/admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/admin");
    // Never to another site.
    for next in ["//evil.example/", "https://evil.example/", "/\\evil.example"] {
        let response = app
            .client
            .post(app.url("/login"))
            .form(&[("email", FOUNDER_EMAIL), ("password", crate::helpers::PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&response), "/", "{next}");
    }
}

/// Signing out is a POST from this site; a link elsewhere cannot do it.
#[tokio::test]
async fn signing_out_takes_a_same_site_post() {
    let app = spawn_app().await;
    app.sign_in(FOUNDER_EMAIL).await;
    let confirm = page(&app, "/logout").await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let html = confirm.text().await.unwrap();
    assert!(html.contains(r#"method="post""#) && html.contains(r#"action="/logout""#), "a button: {html}");
    assert_eq!(page(&app, "/").await.status(), StatusCode::OK, "GET /logout signed nobody out");
    let forged = app.client.post(app.url("/logout")).header("Sec-Fetch-Site", "cross-site").send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(page(&app, "/").await.status(), StatusCode::OK, "a cross-site POST signed nobody out");
    let logout = app.client.post(app.url("/logout")).header("Sec-Fetch-Site", "same-origin").send().await.unwrap();
    assert_eq!(location(&logout), "/login");
    assert_eq!(page(&app, "/").await.status(), StatusCode::SEE_OTHER);
}

/// One account service serves the admin page, the CLI and the demo: the same
/// request is refused with the same words whoever makes it.
#[tokio::test]
async fn every_caller_of_an_account_operation_gets_the_same_rules() {
    let app = spawn_app().await;
    let (credentials, cli) = (trail::auth::ServerCredentials, app::audit::Actor::cli());
    let account = |workspace: &str| accounts::NewAccount {
        email: "pia@test.trail".into(),
        name: String::new(),
        role: Role::Provider,
        workspace: workspace.into(),
        brand: String::new(),
        password: "long enough".into(),
    };
    let refusal =
        accounts::add_user(app.store.as_ref(), &credentials, &cli, account("")).await.unwrap_err().to_string();
    assert_eq!(refusal, "a provider belongs to a workspace; give one");
    let admin = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let form = [
        ("email", "pia@test.trail"),
        ("name", ""),
        ("role", "provider"),
        ("workspace", ""),
        ("brand", ""),
        ("password", "long enough"),
    ];
    let (status, body) = app.call_form::<CreateUser>(&admin, &form).await;
    assert!(status >= 400 && body.contains(&refusal), "{status} {body}");
    assert!(app.store.user_by_email("pia@test.trail").await.unwrap().is_none(), "nothing was created");

    let user_id = accounts::add_user(app.store.as_ref(), &credentials, &cli, account("acme")).await.unwrap();
    let summary = app.store.user_summary(user_id).await.unwrap().unwrap();
    assert_eq!(summary.memberships.iter().map(|m| m.workspace.as_str()).collect::<Vec<_>>(), ["acme"]);
    let key = accounts::create_key(app.store.as_ref(), &credentials, &cli, "acme", "read", "").await.unwrap();
    assert_eq!((key.scopes, key.workspace.map(|w| w.slug)), (vec!["read".to_owned()], Some("acme".to_owned())));
    let unknown = accounts::create_key(app.store.as_ref(), &credentials, &cli, "nope", "read", "").await;
    assert_eq!(unknown.err().map(|e| e.to_string()).as_deref(), Some("no workspace \"nope\""));
}

/// The stats panel counts the feed's workspace, chosen by the control or
/// typed in the search.
#[tokio::test]
async fn the_stats_panel_follows_the_workspace_of_the_search() {
    let app = spawn_app().await;
    crate::helpers::add_workspace(&app.store, "globex").await;
    let globex = crate::helpers::issue_key(&app.store, "globex", "ingest").await;
    app.ingest(&json!([{"key": "a.one"}, {"key": "a.two"}, {"key": "a.three"}])).await;
    app.ingest_with(&globex, &json!([{"key": "g.one"}, {"key": "g.two"}])).await;
    app.sign_in(FOUNDER_EMAIL).await;
    // The Records tile: `<span class="value">N<!></span><span class="label">Records`.
    let records = |html: String| -> String {
        let before = html.split("<span class=\"label\">Records").next().unwrap_or("").to_owned();
        let value = before.rsplit("<span class=\"value\">").next().unwrap_or("");
        value.split('<').next().unwrap_or("").to_owned()
    };
    let mut counts = Vec::new();
    for path in ["/?workspace=globex", "/?q=workspace:globex", "/?workspace=acme", "/?q=ws:acme", "/"] {
        counts.push(records(page(&app, path).await.text().await.unwrap()));
    }
    assert_eq!(counts[0], "2", "{counts:?}");
    assert_eq!((&counts[1], &counts[3]), (&counts[0], &counts[2]), "typed as chosen: {counts:?}");
    assert_ne!(counts[4], counts[0], "every workspace: {counts:?}");
    // A ranking links to the records it counted: that workspace, from the
    // window's first bar (a UTC day six days ago, for 7d).
    let html = page(&app, "/?q=workspace:globex&window=7d").await.text().await.unwrap();
    let first_day = (chrono::Utc::now() - chrono::Duration::days(6)).format("%Y-%m-%dT00%%3A00%%3A00.000000Z");
    let link = format!("href=\"/?q=key%3A%22g.one%22+after%3A{first_day}&amp;workspace=globex&amp;window=7d\"");
    assert!(html.contains(&link), "{link} in {html}");
    // A top actor's link finds what it counted, whatever the id holds: a
    // quote, or an `@` that other records hold as their email.
    let actors = json!([
        {"key": "act.quoted", "actor": {"id": "ann \"the boss\" lee"}},
        {"key": "act.quoted", "actor": {"id": "ann \"the boss\" lee"}},
        {"key": "act.email", "actor": {"id": "carol@x.test"}},
        {"key": "act.email", "actor": {"id": "u_77", "email": "carol@x.test"}},
    ]);
    app.ingest(&actors).await;
    let panel = page(&app, "/?workspace=acme&window=24h").await.text().await.unwrap();
    let searches: Vec<String> = panel
        .split("href=\"/?")
        .skip(1)
        .filter_map(|rest| {
            app::model::query_value(&app::model::query_pairs(&rest[..rest.find('"')?].replace("&amp;", "&")), "q")
        })
        .collect();
    for (id, counted) in [(r#"ann "the boss" lee"#, 1 + 1), ("carol@x.test", 1)] {
        let prefix = format!("actor_id:{} ", app::search::quote(id));
        let q = searches.iter().find(|q| q.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix} in {searches:?}"));
        let url = app.url("/api/v1/events?workspace=acme&limit=100");
        let found: Value =
            app.client.get(url).query(&[("q", q)]).bearer_auth(&app.key).send().await.unwrap().json().await.unwrap();
        assert_eq!(found["events"].as_array().map(Vec::len), Some(counted), "{q}: {found}");
    }
    // A view the page did not understand offers no export of it.
    assert!(html.contains("Export this view"));
    let refused = page(&app, "/?range=12h").await.text().await.unwrap();
    assert!(refused.contains("range:") && !refused.contains("Export this view"), "{refused}");
    // A window not understood is a message on a page that still answers.
    let bad = page(&app, "/?window=bogus").await;
    assert_eq!(bad.status(), StatusCode::OK);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("window: expected 1h, 24h, 7d or 30d") && !bad.contains("server function"), "{bad}");
}

/// Every entity link opens its timeline, whatever its type and id hold
/// (`%20` read once, `.` and `..` that browsers fold away from a path),
/// and a record's correlation link finds its flow, quotes and all.
#[tokio::test]
async fn entity_and_correlation_links_find_what_they_name() {
    let app = spawn_app().await;
    let entities = [("file", "x%20y"), ("enc", "a%2Fb"), ("doc", "a/b"), ("dot", "."), ("..", "up"), ("t", "ü é?#")];
    for (entity_type, entity_id) in entities {
        let record = json!({"key": "entity.touched", "message": format!("touched {entity_type} {entity_id}"),
            "entity": {"type": entity_type, "id": entity_id}, "correlation_id": "req \"q\" \\ 7"});
        assert_eq!(app.ingest(&record).await.status(), StatusCode::ACCEPTED);
    }
    app.ingest(&json!({"key": "other.flow", "correlation_id": "req"})).await;
    app.sign_in(FOUNDER_EMAIL).await;
    for (entity_type, entity_id) in entities {
        let href = app::model::entity_href(entity_type, entity_id);
        let response = page(&app, &href).await;
        assert_eq!(response.status(), StatusCode::OK, "{href}");
        let html = response.text().await.unwrap();
        let message = format!("touched {entity_type} {entity_id}");
        let escaped = message.replace('&', "&amp;");
        assert!(html.contains(&escaped), "{href} shows its record: {html}");
        let entity =
            app::model::EntityRef { workspace: None, entity_type: entity_type.into(), entity_id: entity_id.into() };
        let oldest = entity.href(app::model::Order::OldestFirst);
        assert_eq!(page(&app, &oldest).await.status(), StatusCode::OK, "{oldest}");
    }

    let id = app.all_records().await.into_iter().find(|r| r.key == "entity.touched").unwrap().id;
    let html = page(&app, &format!("/events/{id}")).await.text().await.unwrap();
    let start = html.find("href=\"/?q=correlation").expect("a correlation link") + "href=\"".len();
    let href = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
    let feed = page(&app, &href).await.text().await.unwrap();
    // The six records of the flow, not the one of flow `req`.
    assert_eq!(feed.matches("class=\"row sev-").count(), entities.len(), "{href}: {feed}");
}

/// An entity is one workspace's: a record links to its entity there, and
/// that timeline holds that workspace's records only. Without a workspace
/// the timeline spans every one the viewer sees, and each row says which.
#[tokio::test]
async fn an_entity_timeline_is_one_workspaces_and_each_row_names_it() {
    let app = spawn_app().await;
    app.cli(&["workspace", "add", "globex"]).await;
    let spanning = crate::helpers::issue_key(&app.store, "", "ingest").await;
    for workspace in ["acme", "globex"] {
        let record = json!({"workspace": workspace, "key": "post.deleted", "message": format!("{workspace} deleted it"),
            "entity": {"type": "post", "id": "pos_58"}});
        assert_eq!(app.ingest_with(&spanning, &record).await.status(), StatusCode::ACCEPTED);
    }
    app.sign_in(FOUNDER_EMAIL).await;
    let id = app.all_records().await.into_iter().find(|r| r.workspace == "acme").unwrap().id;
    let detail = page(&app, &format!("/events/{id}")).await.text().await.unwrap();
    assert!(detail.contains(r#"href="/entities/post/pos_58?workspace=acme""#), "{detail}");

    let acme = page(&app, "/entities/post/pos_58?workspace=acme").await.text().await.unwrap();
    assert!(acme.contains("acme deleted it") && !acme.contains("globex deleted it"), "{acme}");
    assert!(acme.contains(r#"href="/entities/post/pos_58?workspace=acme&amp;order=oldest""#), "{acme}");
    let both = page(&app, "/entities/post/pos_58").await.text().await.unwrap();
    assert!(both.contains("acme deleted it") && both.contains("globex deleted it"), "{both}");
    assert!(both.contains(r#"class="workspace">globex"#), "each row names its workspace: {both}");
    assert_eq!(page(&app, "/entities/post/pos_58?workspace=initech").await.status(), StatusCode::NOT_FOUND);
}

/// A long flow's first records are listed as its first, with the way to
/// the whole flow; a short one is counted whole.
#[tokio::test]
async fn a_long_flow_says_it_goes_on() {
    let app = spawn_app().await;
    let records: Vec<Value> = (0..101)
        .map(|i| json!({"key": "flow.step", "message": format!("step {i}"), "correlation_id": "big"}))
        .collect();
    assert_eq!(app.ingest(&json!(records)).await.status(), StatusCode::ACCEPTED);
    app.ingest(&json!([{"key": "a", "correlation_id": "small"}, {"key": "b", "correlation_id": "small"}])).await;
    app.sign_in(FOUNDER_EMAIL).await;
    let all = app.all_records().await;
    let id = |key: &str| all.iter().find(|r| r.key == key).unwrap().id;
    let big = page(&app, &format!("/events/{}", id("flow.step"))).await.text().await.unwrap();
    assert!(big.contains("Same flow (its first 100 records)") && big.contains("The whole flow, in the feed"), "{big}");
    let small = page(&app, &format!("/events/{}", id("a"))).await.text().await.unwrap();
    assert!(small.contains("Same flow (2 records)") && !small.contains("The whole flow"), "{small}");
}

/// "Load more" is a link: without JavaScript it opens the next page,
/// rendered by the server (not live), and a cursor it did not make is
/// a message, not an error page.
#[tokio::test]
async fn load_more_is_a_link_to_the_next_page() {
    let app = spawn_app().await;
    let records: Vec<Value> = (0..60).map(|i| json!({"key": "paged.row", "message": format!("row {i}")})).collect();
    assert_eq!(app.ingest(&json!(records)).await.status(), StatusCode::ACCEPTED);
    app.sign_in(FOUNDER_EMAIL).await;
    let first = page(&app, "/?q=row").await.text().await.unwrap();
    assert_eq!(first.matches("class=\"row sev-").count(), 50);
    let start = first.find("href=\"/?q=row&amp;cursor=").expect("a Load more link") + "href=\"".len();
    let href = first[start..start + first[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(href.starts_with("/?q=row&cursor="), "{href}");
    let next = page(&app, &href).await;
    assert_eq!(next.status(), StatusCode::OK);
    let next = next.text().await.unwrap();
    assert_eq!(next.matches("class=\"row sev-").count(), 10, "the rest");
    assert!(next.contains("Newest records (live)") && !next.contains("Load more"), "{next}");
    assert!(!next.contains(">Pause<") && !next.contains("class=\"live"), "a later page is not live: {next}");
    // A cursor it did not make: the first page, and why, on the feed and on an entity's page.
    let bad = page(&app, "/?q=row&cursor=nonsense").await;
    assert_eq!(bad.status(), StatusCode::OK);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("not valid: the first page is shown") && bad.contains("Export this view"), "{bad}");
    assert_eq!(bad.matches("class=\"row sev-").count(), 50);
    let entity = page(&app, "/entities/none/x?cursor=nonsense").await;
    assert_eq!(entity.status(), StatusCode::NOT_FOUND, "no such entity, cursor or not");
}

/// Adding a client's membership again changes what they see: the notice
/// (and the audit record) say so, naming the brand limit lifted.
#[tokio::test]
async fn widening_a_client_s_brand_limit_says_so() {
    use app::admin_api::GrantMembership;
    let app = spawn_app().await;
    let client = crate::helpers::add_user(&app.store, "cleo@test.trail", app::model::Role::Client).await;
    crate::helpers::grant(&app.store, client, "acme", "nike").await;
    app.sign_in(FOUNDER_EMAIL).await;
    let form = [("user_id", client.to_string()), ("workspace", "acme".into()), ("brand", String::new())];
    let request = app.client.post(app.url(GrantMembership::PATH)).header("accept", "text/html");
    request.header("referer", app.url("/admin")).form(&form).send().await.unwrap();
    let html = page(&app, "/admin").await.text().await.unwrap();
    let said = "cleo@test.trail now sees every brand of acme, no longer brand nike only";
    assert!(html.contains(said), "{html}");
    assert!(app.audit_records().await.iter().any(|r| r.message.as_deref() == Some(said)));
}

/// The overview panel says which workspace it counts, however it was chosen:
/// in the list, or typed in the search (`workspace:acme`).
#[tokio::test]
async fn the_overview_names_the_workspace_it_counts() {
    let app = spawn_app().await;
    app.sign_in(FOUNDER_EMAIL).await;
    for path in ["/?workspace=acme", "/?q=workspace%3Aacme"] {
        let html = page(&app, path).await.text().await.unwrap();
        assert!(html.contains("every record of acme you may see"), "{path}");
    }
    let html = page(&app, "/").await.text().await.unwrap();
    assert!(html.contains("every record you may see"));
}

/// A client belongs to one workspace: no grant or role change gives one two
/// tenants. Moving one is removing, then granting; an admin made a member
/// belongs to nothing until granted (and sees nothing meanwhile).
#[tokio::test]
async fn a_client_never_belongs_to_two_workspaces() {
    use app::accounts::{grant_membership, revoke_membership, update_user};
    use app::audit::Actor;
    let app = spawn_app().await;
    let store = app.store.as_ref();
    let cli = Actor::cli();
    let client = add_user(&app.store, "cleo@test.trail", Role::Client).await;
    crate::helpers::grant(&app.store, client, "acme", "").await;
    crate::helpers::add_workspace(&app.store, "globex").await;
    let cleo = store.user_by_id(client).await.unwrap().unwrap();
    fn refused<T>(result: Result<T, accounts::AccountError>) -> String {
        result.err().map(|e| e.to_string()).unwrap_or_default()
    }
    assert!(refused(grant_membership(store, &cli, &cleo, "globex", "").await).contains("one workspace"));
    assert!(grant_membership(store, &cli, &cleo, "acme", "nike").await.is_ok(), "the same workspace: its brand");
    revoke_membership(store, &cli, &cleo, "acme").await.unwrap();
    grant_membership(store, &cli, &cleo, "globex", "").await.unwrap();
    let memberships = store.user_summary(client).await.unwrap().unwrap().memberships;
    assert_eq!(memberships.iter().map(|m| m.workspace.as_str()).collect::<Vec<_>>(), ["globex"], "moved");

    let provider = add_user(&app.store, "pia@test.trail", Role::Provider).await;
    crate::helpers::grant(&app.store, provider, "acme", "").await;
    crate::helpers::grant(&app.store, provider, "globex", "").await;
    assert!(refused(update_user(store, &cli, provider, Some(Role::Client), None).await).contains("one workspace"));
    let admin = add_user(&app.store, "ada@test.trail", Role::Admin).await;
    update_user(store, &cli, admin, Some(Role::Provider), None).await.unwrap();
    let ada = store.user_by_id(admin).await.unwrap().unwrap();
    grant_membership(store, &cli, &ada, "acme", "").await.unwrap();
}

/// Top actors show founders and admins the name people know them by; a
/// member's panel keeps the ids (their names would come from records the
/// member may not see).
#[tokio::test]
async fn top_actors_are_named_for_the_platform() {
    let app = spawn_app().await;
    let records = json!([
        {"key": "a.one", "actor": {"id": "u_1", "name": "Maya Chen"}, "visibility": "client"},
        {"key": "a.two", "actor": {"id": "u_2", "name": "Secret Name"}, "visibility": "internal"},
        {"key": "a.three", "actor": {"id": "u_2"}, "visibility": "client"},
    ]);
    assert_eq!(app.ingest(&records).await.status(), StatusCode::ACCEPTED);
    app.sign_in(FOUNDER_EMAIL).await;
    let html = page(&app, "/").await.text().await.unwrap();
    let ranking = &html[html.find("Top actors").expect("the ranking")..];
    assert!(ranking.contains("Maya Chen") && ranking.contains("u_1"), "{ranking}");

    let client = add_user(&app.store, "cleo@test.trail", Role::Client).await;
    crate::helpers::grant(&app.store, client, "acme", "").await;
    let cleo = app.client_signed_in_as("cleo@test.trail").await;
    let html = cleo.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let ranking = &html[html.find("Top actors").expect("the ranking")..];
    assert!(ranking.contains("u_1") && ranking.contains("u_2"), "{ranking}");
    assert!(!html.contains("Secret Name"), "an internal record's name");
}

/// A refused new user comes back as typed, its password never: not in the
/// page, and (sealed notices aside) nowhere a later page could show it.
#[tokio::test]
async fn a_refused_new_user_comes_back_without_its_password() {
    let app = spawn_app().await;
    app.sign_in(FOUNDER_EMAIL).await;
    let form = [
        ("email", FOUNDER_EMAIL),
        ("name", "Twice <b>"),
        ("role", "admin"),
        ("workspace", ""),
        ("brand", ""),
        ("password", "typed secret 42"),
    ];
    let request = app.client.post(app.url(CreateUser::PATH)).header("accept", "text/html");
    request.header("referer", app.url("/admin")).form(&form).send().await.unwrap();
    let html = page(&app, "/admin").await.text().await.unwrap();
    assert!(html.contains(r#"role="alert""#), "refused: {html}");
    let new_user = &html[html.find(r#"aria-label="New user""#).unwrap()..];
    assert!(new_user.contains(r#"value="Twice &lt;b&gt;""#), "the name, escaped: {new_user}");
    assert!(new_user.contains(r#"<option value="admin" selected"#), "the role chosen");
    assert!(!html.contains("typed secret 42"), "never the password");
    let again = page(&app, "/admin").await.text().await.unwrap();
    assert!(!again.contains("Twice"), "shown once");
}
