//! Cookie-authenticated state changes refuse other sites; password guessing
//! is throttled per account and per address; a revoked key stops working.

use std::time::{Duration, Instant};

use app::admin_api::{CreateKey, RevokeKey};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, FOUNDER_EMAIL, PASSWORD};

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app().await;
    let client = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let form = [("workspace", "acme"), ("scopes", "ingest"), ("name", "forged")];
    let url = app.url(<CreateKey as leptos::server_fn::ServerFn>::PATH);

    let from_elsewhere = client.post(&url).header("Sec-Fetch-Site", "cross-site").form(&form).send().await.unwrap();
    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);
    let other_origin = client.post(&url).header("Origin", "http://evil.example").form(&form).send().await.unwrap();
    assert_eq!(other_origin.status(), StatusCode::FORBIDDEN);
    let referred = client.post(&url).header("Referer", "http://evil.example/a?b").form(&form).send().await.unwrap();
    assert_eq!(referred.status(), StatusCode::FORBIDDEN, "without an Origin, the Referer tells");
    let forged_login = client
        .post(app.url("/login"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("email", FOUNDER_EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_login.status(), StatusCode::FORBIDDEN);
    assert!(app.store.api_keys().await.unwrap().iter().all(|k| k.name != "forged"), "nothing was created");

    let host = app.address.trim_start_matches("http://").to_owned();
    let same_site = client
        .post(&url)
        .header("Sec-Fetch-Site", "same-origin")
        .header("Origin", format!("http://{host}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::OK);
    // Reads and the key-authenticated ingest API are not affected.
    let read = client.get(app.url("/")).header("Sec-Fetch-Site", "cross-site").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_response_may_be_framed_by_another_site_or_sniffed() {
    let app = spawn_app().await;
    let client = app.client_signed_in_as(FOUNDER_EMAIL).await;
    for path in ["/", "/login", "/api/v1/events", "/no/such/page", "/pkg/none.js"] {
        let response = client.get(app.url(path)).send().await.unwrap();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("content-security-policy").as_deref(), Some("frame-ancestors 'none'"), "{path}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("referrer-policy").as_deref(), Some("same-origin"), "{path}");
    }
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/login"))
                .form(&[("email", FOUNDER_EMAIL), ("password", password)])
                .send()
                .await
                .unwrap();
            response.headers().get("location").unwrap().to_str().unwrap().to_owned()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await, "/login?error=credentials");
    }
    assert_eq!(attempt(PASSWORD).await, "/login?error=throttled", "even the right password waits");
}

#[tokio::test]
async fn a_refused_sign_in_keeps_the_email_but_not_in_the_address() {
    let app = spawn_app().await;
    let typed = "Ünïcode+\"tag\";x@example.com";
    let refused =
        app.client.post(app.url("/login")).form(&[("email", typed), ("password", "wrong")]).send().await.unwrap();
    assert_eq!(refused.headers().get("location").unwrap(), "/login?error=credentials");
    let form = app.client.get(app.url("/login?error=credentials")).send().await.unwrap();
    assert_eq!(form.headers().get("cache-control").unwrap(), "no-store");
    let form = form.text().await.unwrap();
    assert!(form.contains(r#"value="Ünïcode+&quot;tag&quot;;x@example.com""#), "{form}");
    assert!(form.contains(r#"autocomplete="current-password" required autofocus"#), "the password is next: {form}");

    let signed_in = app.sign_in(FOUNDER_EMAIL).await;
    assert_eq!(signed_in.headers().get("location").unwrap(), "/");
    let form = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(!form.contains("example.com\""), "forgotten after a sign-in: {form}");
    assert!(form.contains(r#"autocomplete="username" required autofocus"#), "{form}");
}

#[tokio::test]
async fn signing_in_gives_a_new_session_id() {
    let app = spawn_app().await;
    let first = app.sign_in(FOUNDER_EMAIL).await;
    let cookie = |r: &reqwest::Response| {
        r.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned()
    };
    let before = cookie(&first);
    let again = app.sign_in(FOUNDER_EMAIL).await;
    assert_ne!(cookie(&again), before, "the session id is renewed at sign-in");
}

/// A person changes their own password on /account with the current one:
/// that session stays under a new id; their other sessions, and any copy
/// of this one's cookie, are signed out; the old password no longer signs
/// in. A wrong current password is counted and recorded. A founder sets
/// one anew from the command line, which signs out every session.
#[tokio::test]
async fn a_new_password_signs_out_every_other_session() {
    use app::account::ChangePassword;
    use leptos::server_fn::ServerFn;
    let app = spawn_app().await;
    // Without a cookie jar: the session's cookie is ours to copy.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie_of = |response: &reqwest::Response| {
        let cookies = response.headers().get_all("set-cookie").iter();
        let mut pairs = cookies.map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        pairs.rfind(|pair| pair.starts_with("trail_session="))
    };
    let sign_in = |password: &'static str| {
        let request = client.post(app.url("/login")).form(&[("email", FOUNDER_EMAIL), ("password", password)]);
        async move { request.send().await.unwrap() }
    };
    let (here, elsewhere) =
        (cookie_of(&sign_in(PASSWORD).await).unwrap(), cookie_of(&sign_in(PASSWORD).await).unwrap());
    let feed = |cookie: &str| {
        let request = client.get(app.url("/")).header("accept", "text/html").header("cookie", cookie);
        async move { request.send().await.unwrap().status() }
    };
    let change = |current: &'static str, password: &'static str, repeated: &'static str| {
        let form = [("current", current), ("password", password), ("repeated", repeated)];
        let request = client.post(app.url(ChangePassword::PATH)).header("cookie", &here);
        request.header("accept", "application/json").form(&form).send()
    };
    for (current, new, again) in [
        ("wrong one!", "a new password", "a new password"),
        (PASSWORD, "short", "short"),
        (PASSWORD, "a new password", "another one"),
        (PASSWORD, PASSWORD, PASSWORD),
    ] {
        let refused = change(current, new, again).await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{current} {new} {again}");
    }
    assert_eq!(feed(&elsewhere).await, StatusCode::OK, "nothing changed");
    let refused: Vec<_> =
        app.audit_records().await.into_iter().filter(|r| r.key == "user.password_change_refused").collect();
    assert_eq!(refused.len(), 1, "the wrong current password is recorded");

    let changed = change(PASSWORD, "a new password", "a new password").await.unwrap();
    let renewed = cookie_of(&changed).expect("a new session id for the session that changed it");
    assert_eq!(changed.status(), StatusCode::OK, "{}", changed.text().await.unwrap());
    assert_ne!(renewed, here);
    assert_eq!(feed(&renewed).await, StatusCode::OK, "this session stays");
    assert_eq!(feed(&here).await, StatusCode::SEE_OTHER, "a copy of its old cookie is signed out");
    assert_eq!(feed(&elsewhere).await, StatusCode::SEE_OTHER, "the other session is signed out");
    let location = |response: reqwest::Response| response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location(sign_in(PASSWORD).await), "/login?error=credentials");
    assert_eq!(location(sign_in("a new password").await), "/");
    let records = app.audit_records().await;
    let changed: Vec<_> = records.iter().filter(|r| r.key == "user.password_changed").collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].message.as_deref(), Some(format!("{FOUNDER_EMAIL} changed their password").as_str()));
    assert!(!serde_json::to_string(&records).unwrap().contains("a new password"), "never recorded");

    let (code, out) = app.cli_with_input(&["user", "password", "--email", FOUNDER_EMAIL], "set by the cli\n").await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(feed(&renewed).await, StatusCode::SEE_OTHER, "every session of theirs ends");
    let logout = client.post(app.url("/logout")).header("cookie", &renewed).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let sign_outs = app.audit_records().await.into_iter().filter(|r| r.key == "auth.sign_out").count();
    assert_eq!(sign_outs, 0, "an ended session signs nobody out");
    assert_eq!(location(sign_in("set by the cli").await), "/");
    let (code, out) = app.cli_with_input(&["user", "password", "--email", "nobody@test.trail"], "whatever1\n").await;
    assert!(code != 0 && out.contains("no user"), "{out}");

    // Guessing the current password is throttled as sign-in is.
    let session = cookie_of(&sign_in("set by the cli").await).unwrap();
    let guess = |n: usize| {
        let form =
            [("current", format!("guess {n}!")), ("password", "whatever1".into()), ("repeated", "whatever1".into())];
        let request = client.post(app.url(ChangePassword::PATH)).header("cookie", &session);
        async move { request.header("accept", "application/json").form(&form).send().await.unwrap() }
    };
    let mut last = String::new();
    for n in 0..6 {
        last = guess(n).await.text().await.unwrap();
    }
    assert!(last.contains("too many wrong passwords"), "{last}");
}

/// Keys are cached for a second after they are read (`storage::key_cache`).
#[tokio::test]
async fn a_revoked_key_is_refused_at_once_and_within_a_second_when_another_process_revokes_it() {
    let app = spawn_app().await;
    let record = json!({"key": "order.paid"});
    let key_id = |secret: String| {
        let store = app.store.clone();
        async move { store.api_keys().await.unwrap().into_iter().find(|k| secret.starts_with(&k.prefix)).unwrap().id }
    };

    // Revoked on the admin page: the next request is refused.
    assert_eq!(app.ingest(&record).await.status(), StatusCode::ACCEPTED, "the key works, and is now cached");
    let admin = app.client_signed_in_as(FOUNDER_EMAIL).await;
    let id = key_id(app.key.clone()).await.to_string();
    let (status, _) = app.call_form::<RevokeKey>(&admin, &[("key_id", id.as_str())]).await;
    assert!(status < 400, "revoked ({status})");
    assert_eq!(app.ingest(&record).await.status(), StatusCode::UNAUTHORIZED);

    // Revoked by another process (as `trail key revoke` does), which this
    // server's cache does not hear of: refused once the cached copy is stale.
    let workspace = app.workspace.clone();
    let key = crate::helpers::issue_key(&app.store, &workspace.slug, "ingest").await;
    assert_eq!(app.ingest_with(&key, &record).await.status(), StatusCode::ACCEPTED);
    let elsewhere = trail::storage::open(&app.db.config()).await.unwrap().store;
    let id = key_id(key.clone()).await;
    app::accounts::revoke_key(elsewhere.as_ref(), &app::audit::Actor::cli(), id).await.unwrap();
    let revoked_at = Instant::now();
    loop {
        let status = app.ingest_with(&key, &record).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(revoked_at.elapsed() < Duration::from_secs(3), "the revoked key still works after 3 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in_from(app: &crate::helpers::TestApp, forwarded_for: &str, password: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client
        .post(app.url("/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", FOUNDER_EMAIL), ("password", password)])
        .send()
        .await
        .unwrap();
    response.headers().get("location").unwrap().to_str().unwrap().to_owned()
}

/// Every attempt is counted before its password is hashed, so a burst gets
/// no more checks than the limit however many wait for the hasher.
#[tokio::test]
async fn a_concurrent_burst_of_guesses_gets_no_more_than_the_limit() {
    let app = spawn_app().await;
    let mut burst: Vec<_> = (0..30).map(|_| sign_in_from(&app, "", "wrong")).collect();
    burst.push(sign_in_from(&app, "", PASSWORD));
    let outcomes = futures::future::join_all(burst).await;
    let checked = outcomes.iter().filter(|l| *l == "/login?error=credentials").count();
    assert!(checked <= 5, "{checked} passwords were checked");
    assert_eq!(outcomes.last().unwrap(), "/login?error=throttled", "the right password in the burst is refused too");
    assert!(!outcomes.iter().any(|l| l == "/"), "nobody signed in");
}

/// Behind a trusted proxy each client is its own address: one person's
/// failures lock neither the proxy nor anyone with the right password.
#[tokio::test]
async fn failures_from_another_address_do_not_lock_out_the_right_password() {
    let db = std::sync::Arc::new(crate::helpers::TestDatabase::fresh().await);
    let app = crate::helpers::spawn_app_with(db, |config| {
        config.trusted_proxies.0 = trail::auth::client_address::parse_trusted_proxies("127.0.0.1").unwrap();
    })
    .await;
    let attacker: Vec<_> = (0..30).map(|_| sign_in_from(&app, "198.51.100.7", "wrong")).collect();
    let outcomes = futures::future::join_all(attacker).await;
    assert!(outcomes.iter().any(|l| l == "/login?error=throttled"), "the guesser is stopped");
    assert_eq!(sign_in_from(&app, "203.0.113.5", PASSWORD).await, "/", "another address signs in");
    assert_eq!(
        sign_in_from(&app, "198.51.100.7", PASSWORD).await,
        "/login?error=throttled",
        "the guesser's address waits"
    );
    // Without a trusted proxy the header is anyone's to write and is ignored.
    let plain = spawn_app().await;
    for n in 0..6 {
        sign_in_from(&plain, &format!("192.0.2.{n}"), "wrong").await;
    }
    assert_eq!(sign_in_from(&plain, "192.0.2.200", PASSWORD).await, "/login?error=throttled");
}

/// Disabling a user ends their sessions: enabled again, they sign in anew.
#[tokio::test]
async fn a_disabled_user_s_sessions_do_not_come_back() {
    let app = spawn_app().await;
    crate::helpers::add_user(&app.store, "ada@test.trail", app::model::Role::Admin).await;
    let client = app.client_signed_in_as("ada@test.trail").await;
    let feed = || async { client.get(app.url("/")).send().await.unwrap().status() };
    assert_eq!(feed().await, StatusCode::OK);
    app.cli(&["user", "disable", "--email", "ada@test.trail"]).await;
    assert_eq!(feed().await, StatusCode::SEE_OTHER, "disabled");
    app.cli(&["user", "enable", "--email", "ada@test.trail"]).await;
    assert_eq!(feed().await, StatusCode::SEE_OTHER, "enabled again, the session stays over");
    app.client_signed_in_as("ada@test.trail").await;
}

/// A request presenting two different keys is refused, not read with one of
/// them; the same key twice is one key.
#[tokio::test]
async fn two_different_keys_in_one_request_are_refused() {
    let app = spawn_app().await;
    let other = crate::helpers::issue_key(&app.store, "acme", "ingest").await;
    let post = |headers: &[(&str, &str)]| {
        let mut request = app.client.post(app.url("/api/v1/events")).json(&json!({"key": "two.keys"}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let (mine, theirs) = (format!("Bearer {}", app.key), format!("Bearer {other}"));
    for headers in [
        vec![("authorization", mine.as_str()), ("x-api-key", other.as_str())],
        vec![("authorization", mine.as_str()), ("authorization", theirs.as_str())],
    ] {
        let response = post(&headers).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{headers:?}");
        assert!(response.text().await.unwrap().contains("two different API keys"));
    }
    assert!(app.all_records().await.is_empty());
    let same = post(&[("authorization", mine.as_str()), ("x-api-key", app.key.as_str())]).await.unwrap();
    assert_eq!(same.status(), StatusCode::ACCEPTED);
}
