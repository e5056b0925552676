//! `spawn_app()`: a real server on a fresh database and a free port.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use app::accounts;
use app::audit::{Actor, Entry, PLATFORM_WORKSPACE};
use app::model::{EventFilter, EventRow, Kind, Micros, Role, HOUR_US};
use app::store::{Applied, Change, DynStore, NewRecord, NewUser, Page, Scope, Workspace};
use serde_json::Value;
use sqlx::Connection;
use trail::auth::{password, ServerCredentials};
use trail::config::Config;
use trail::server::Server;
use uuid::Uuid;

/// A database for one test, removed with it (SQLite) or left to the
/// throw-away server (PostgreSQL).
pub struct TestDatabase {
    pub url: String,
    /// The SQLite file's directory, and the signing key's.
    pub dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn fresh() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("TRAIL_TEST_POSTGRES_URL") {
            Ok(server) if !server.is_empty() => {
                let name = format!("trail_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = sqlx::PgConnection::connect(&server).await.expect("connect to the test PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
                let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
                TestDatabase { url: format!("{base}/{name}"), dir }
            }
            _ => {
                let url = format!("sqlite://{}", dir.path().join("trail.db").display());
                TestDatabase { url, dir }
            }
        }
    }

    /// The configuration of a server on this database, on a free port.
    pub fn config(&self) -> Config {
        Config {
            database_url: self.url.clone(),
            database_read_url: self.read_url(),
            site_addr: "127.0.0.1:0".parse().unwrap(),
            cookie_secure: false,
            // Small, so the shared tests read and deduplicate across both of
            // SQLite's record tables: staged records move once 5 have gathered.
            sqlite_stage_rows: STAGE_ROWS,
            trusted_proxies: Default::default(),
            signing_key_file: self.signing_key_file(),
            digest_interval: trail::config::DEFAULT_DIGEST_INTERVAL,
            max_streams: trail::config::DEFAULT_MAX_STREAMS,
            max_streams_per_reader: trail::config::DEFAULT_MAX_STREAMS_PER_READER,
            // The tests' receivers listen on 127.0.0.1, and wait for no one.
            webhook_allow_private: true,
            webhook_retry_schedule: trail::config::RetrySchedule(vec![std::time::Duration::from_millis(200); 3]),
            public_url: None,
            unchained_for_benchmark: false,
            unindexed_for_benchmark: false,
        }
    }

    /// The same database on the test server's streaming replica, when
    /// `TRAIL_TEST_POSTGRES_READ_URL` names one (scripts/test).
    pub fn read_url(&self) -> Option<String> {
        let replica = std::env::var("TRAIL_TEST_POSTGRES_READ_URL").ok().filter(|url| !url.is_empty())?;
        let name = self.url.rsplit_once('/')?.1;
        let base = replica.rsplit_once('/').map_or(replica.as_str(), |(base, _)| base);
        self.is_postgres().then(|| format!("{base}/{name}"))
    }

    pub fn signing_key_file(&self) -> std::path::PathBuf {
        self.dir.path().join("signing.key")
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: DynStore,
    pub workspace: Workspace,
    /// An `ingest,read` key for `workspace`.
    pub key: String,
    /// The database (kept alive, for a SQLite temp dir, as long as the app).
    pub db: Arc<TestDatabase>,
}

/// `Config::sqlite_stage_rows` in tests.
pub const STAGE_ROWS: usize = 5;

pub const FOUNDER_EMAIL: &str = "founder@test.trail";
pub const PASSWORD: &str = "correct horse battery";

pub const DAY_US: i64 = 24 * HOUR_US;

/// A record of `kind` in `workspace_id` that Trail received `days_ago`.
pub fn received(workspace_id: i64, kind: Kind, days_ago: f64) -> NewRecord {
    received_at(workspace_id, kind, Micros(Micros::now().0 - (days_ago * DAY_US as f64) as i64))
}

/// A record of `kind` in `workspace_id` that Trail received at `at`, its id
/// minted then (retention goes by the time received, partitions by the id).
pub fn received_at(workspace_id: i64, kind: Kind, at: Micros) -> NewRecord {
    let mut record = Actor::cli().record(Entry::new("retention.sample", "sample", "s1", "a sample".into()));
    let (seconds, micros) = (at.0.div_euclid(1_000_000), at.0.rem_euclid(1_000_000));
    record.id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds as u64, (micros * 1_000) as u32));
    (record.workspace_id, record.kind, record.occurred_at, record.received_at) = (workspace_id, kind, at, at);
    record
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(Arc::new(TestDatabase::fresh().await)).await
}

/// A server on `db`, with a workspace `acme`, a key for it and a founder.
pub async fn spawn_app_on(db: Arc<TestDatabase>) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// As `spawn_app_on`, with the configuration changed by `configure` first.
pub async fn spawn_app_with(db: Arc<TestDatabase>, configure: impl FnOnce(&mut Config)) -> TestApp {
    log_to_the_test();
    let mut config = db.config();
    configure(&mut config);
    let server = Server::build(config).await.expect("server builds");
    let address = format!("http://{}", server.addr);
    let store = server.state.store.clone();
    tokio::spawn(server.run());

    let workspace = match store.workspace_by_slug("acme").await.unwrap() {
        Some(ws) => ws,
        None => add_workspace(&store, "acme").await,
    };
    let key = issue_key(&store, &workspace.slug, "ingest,read").await;
    if store.user_by_email(FOUNDER_EMAIL).await.unwrap().is_none() {
        add_user(&store, FOUNDER_EMAIL, Role::Founder).await;
    }
    let client =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { address, client, store, workspace, key, db }
}

/// The servers' warnings and errors go to the output of the test whose
/// runtime runs them (the test harness shows it when that test fails):
/// a failure then comes with the server's side of it.
fn log_to_the_test() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let filter = std::env::var("TRAIL_TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// A user with the test password and no audit record (a fixture, not an action under test).
pub async fn add_user(store: &DynStore, email: &str, role: Role) -> i64 {
    let password_hash = password::hash(PASSWORD.into()).await.unwrap();
    let user = NewUser { email: email.into(), name: None, role, password_hash };
    match store.apply(Change::CreateUser { user: &user, membership: None }, &|_| Vec::new()).await.unwrap() {
        Applied::User { id } => id,
        other => panic!("creating a user applied as {other:?}"),
    }
}

/// A workspace made as the command line makes it.
pub async fn add_workspace(store: &DynStore, slug: &str) -> Workspace {
    accounts::add_workspace(store.as_ref(), &Actor::cli(), slug, "").await.unwrap()
}

/// A key's secret, made as the command line makes it (`workspace` empty: every workspace).
pub async fn issue_key(store: &DynStore, workspace: &str, scopes: &str) -> String {
    accounts::create_key(store.as_ref(), &ServerCredentials, &Actor::cli(), workspace, scopes, "").await.unwrap().secret
}

/// Makes a user a member of a workspace.
pub async fn grant(store: &DynStore, user_id: i64, workspace: &str, brand: &str) {
    let user = store.user_by_id(user_id).await.unwrap().unwrap();
    accounts::grant_membership(store.as_ref(), &Actor::cli(), &user, workspace, brand).await.unwrap();
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Trail's own records with `key` (its workspace `trail`), read with
    /// `reader`, a spanning read key.
    pub async fn trail_records(&self, reader: &str, key: &str) -> Vec<Value> {
        let url = self.url(&format!("/api/v1/events?workspace=trail&q=key:{key}"));
        let body: Value = self.client.get(url).bearer_auth(reader).send().await.unwrap().json().await.unwrap();
        body["events"].as_array().cloned().unwrap_or_default()
    }

    /// Opens the live stream's event ids as this server does.
    pub fn stream_ids(&self) -> trail::api::stream_ids::StreamIds {
        let signing = trail::integrity::signing::SigningKeys::existing(&self.db.signing_key_file()).unwrap();
        trail::api::stream_ids::StreamIds::from_signing(&signing)
    }

    /// POSTs JSON to the ingest API with this app's key.
    pub async fn ingest(&self, body: &Value) -> reqwest::Response {
        self.ingest_with(&self.key, body).await
    }

    pub async fn ingest_with(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url("/api/v1/events")).bearer_auth(key).json(body).send().await.expect("request sent")
    }

    /// Every record the applications sent, newest first: the platform's
    /// records but Trail's own audit records (`audit_records`).
    pub async fn all_records(&self) -> Vec<EventRow> {
        let mut rows = self.records(&Scope::Platform, &EventFilter::default()).await;
        rows.retain(|row| row.workspace != PLATFORM_WORKSPACE);
        rows
    }

    /// Trail's own audit records, newest first.
    pub async fn audit_records(&self) -> Vec<EventRow> {
        let filter = EventFilter { workspace: Some(PLATFORM_WORKSPACE.into()), ..EventFilter::default() };
        self.records(&Scope::Platform, &filter).await
    }

    /// Every record in `scope` matching `filter`, newest first, page by page.
    pub async fn records(&self, scope: &Scope, filter: &EventFilter) -> Vec<EventRow> {
        let mut rows: Vec<EventRow> = Vec::new();
        loop {
            let before = rows.last().map(EventRow::cursor);
            let page = self
                .store
                .list_events(
                    scope,
                    filter,
                    Page { cursor: before, limit: 1_000, order: app::model::Order::NewestFirst },
                )
                .await
                .unwrap();
            if page.is_empty() {
                return rows;
            }
            rows.extend(page);
        }
    }

    /// A separate browser-like client (own cookie jar) signed in as `email`.
    pub async fn client_signed_in_as(&self, email: &str) -> reqwest::Client {
        let client =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response =
            client.post(self.url("/login")).form(&[("email", email), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(response.headers().get("location").unwrap(), "/", "{email} signs in");
        client
    }

    /// Calls a JSON-input server function the way the browser does.
    pub async fn call<F: leptos::server_fn::ServerFn>(&self, client: &reqwest::Client, args: Value) -> (u16, Value) {
        let response = client.post(self.url(F::PATH)).json(&args).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Calls a form-input server function (the admin actions).
    pub async fn call_form<F: leptos::server_fn::ServerFn>(
        &self,
        client: &reqwest::Client,
        form: &[(&str, &str)],
    ) -> (u16, String) {
        let response = client.post(self.url(F::PATH)).form(form).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Runs the `trail` command line on this app's database; its standard output.
    pub async fn cli(&self, args: &[&str]) -> String {
        let output = self.run_cli(args).await;
        assert!(output.status.success(), "trail {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs the `trail` command line; its exit code, standard output and error.
    pub async fn cli_status(&self, args: &[&str]) -> (i32, String) {
        let output = self.run_cli(args).await;
        let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        (output.status.code().unwrap_or(-1), text.into_owned())
    }

    /// Runs `trail` with `input` on its standard input (a password); its
    /// exit code and output.
    pub async fn cli_with_input(&self, args: &[&str], input: &str) -> (i32, String) {
        use tokio::io::AsyncWriteExt;
        let mut child =
            self.cli_command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).await.unwrap();
        let output = child.wait_with_output().await.unwrap();
        let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        (output.status.code().unwrap_or(-1), text.into_owned())
    }

    /// Awaited, not blocking: the app's own tasks run on the test's
    /// runtime, and one of them may hold a transaction the command waits
    /// for (a blocked runtime deadlocked `webhook remove` behind the
    /// sender's open UPDATE).
    async fn run_cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_command(args).output().await.unwrap()
    }

    /// The `trail` command line on this app's database, to run as wished.
    pub fn cli_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_trail"));
        command
            .args(args)
            .env("TRAIL_DATABASE_URL", &self.db.url)
            .env("TRAIL_SIGNING_KEY_FILE", self.db.signing_key_file())
            // The tests' webhook receivers listen on 127.0.0.1.
            .env("TRAIL_WEBHOOK_ALLOW_PRIVATE", "1")
            .env("RUST_LOG", "error");
        command
    }

    pub async fn sign_in(&self, email: &str) -> reqwest::Response {
        self.client.post(self.url("/login")).form(&[("email", email), ("password", PASSWORD)]).send().await.unwrap()
    }
}

/// A port no one listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `trail serve` as a child process on `db`, at `port`.
pub fn start_server(db: &TestDatabase, port: u16) -> Child {
    start_server_with(db, port, &[])
}

/// As [`start_server`], with more environment (it wins over the defaults).
pub fn start_server_with(db: &TestDatabase, port: u16, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_trail"))
        .arg("serve")
        // The tests' webhook receivers listen on 127.0.0.1.
        .env("TRAIL_WEBHOOK_ALLOW_PRIVATE", "1")
        .envs(env.iter().copied())
        .env("TRAIL_DATABASE_URL", &db.url)
        .env("TRAIL_SIGNING_KEY_FILE", db.signing_key_file())
        // SQLite moves staged records after most groups, so the kill can land in a move.
        .env("TRAIL_SQLITE_STAGE_ROWS", STAGE_ROWS.to_string())
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the trail binary starts")
}

/// Returns once the server at `base` answers (a loaded machine may take a while to start it).
pub async fn wait_until_up(client: &reqwest::Client, base: &str) {
    let what = format!("the server at {base} comes up");
    eventually(&what, Duration::from_secs(30), || async { client.get(format!("{base}/login")).send().await.ok() })
        .await;
}

/// What `check` gives once it gives something, asked every 50 ms; fails
/// saying `what` did not happen once `deadline` has passed.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(done) = check().await {
            return done;
        }
        assert!(started.elapsed() < deadline, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
