//! `trail-bench`: Trail against its baselines, in one run on one machine.
//! Driven by `scripts/bench`; see docs/performance.md.
//!
//! Every figure is measured here, in this run: Trail's HTTP ingest against the
//! engine's own bulk import and against one INSERT per record; reads, stats and
//! page renders at the loaded size; bundle sizes; the server's peak memory.

mod instances;
mod live;
mod search;
mod webhooks;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use app::model::{Cursor, Micros};
use clap::Parser;
use serde_json::{json, Value};
use sqlx::Connection;
use trail::storage::record_column_names;
use trail::storage::statement::Dialect;
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Measure Trail against baselines; writes a Markdown and a JSON table")]
struct Args {
    /// Records to generate and load.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// sqlite or postgres (then TRAIL_BENCH_POSTGRES_URL names a server; databases are created on it).
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// The trail binary to measure.
    #[arg(long, default_value = "target/release/trail")]
    server: PathBuf,
    /// Where the built site is (for bundle sizes).
    #[arg(long, default_value = "target/site/pkg")]
    pkg: PathBuf,
    /// Where to write latest.md and latest.json.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Requests per read measurement.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Measure only Trail's ingest (batch, then 64-connection single-record) and
    /// print it with the server's peak memory after each (for profiling; writes no table).
    #[arg(long)]
    ingest_only: bool,
    /// Measure only the live stream (on a database of `--rows` records) and
    /// print its figures (for profiling; writes no table).
    #[arg(long)]
    live_only: bool,
    /// Measure only the webhooks (ingest with endpoints, delivery latency) and
    /// print their figures (for profiling; writes no table).
    #[arg(long)]
    webhooks_only: bool,
    /// Measure only search (on a database of `--rows` records) and print its
    /// figures (for profiling; writes no table).
    #[arg(long)]
    search_only: bool,
    /// Keep the databases afterwards (their directory is printed), to profile queries on them.
    #[arg(long)]
    keep: bool,
}

const WORKSPACES: usize = 50;
const DAYS: i64 = 30;
const BATCH: usize = 1_000;
const HTTP_CLIENTS: usize = 4;
const SINGLE_CLIENTS: usize = 64;

/// One generated record: the JSON sent to Trail and the CSV row of the same record.
struct Generated {
    json: Value,
    workspace: usize,
}

/// The generated data set: record `i` of `rows` is a pure function of both,
/// so 10 M records are made batch by batch and never held in memory at once.
#[derive(Clone, Copy)]
struct DataSet {
    rows: usize,
    now: Micros,
}

impl DataSet {
    fn record(&self, i: usize) -> Generated {
        generate(i, self.rows, self.now)
    }

    fn records(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = Generated> + '_ {
        range.map(|i| self.record(i))
    }
}

/// Records that share a lot number (`lot L…` in the message): the search
/// benchmark's term in about a thousand records, at any size.
const LOT_RECORDS: usize = 1_000;
/// Distinct customers in payloads (`customer.email`).
const CUSTOMERS: usize = 100_000;

/// A cheap deterministic mix of `i` (no RNG state to share between threads).
fn mix(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// Record `i`'s invoice number: in its message, and in no other record.
fn invoice(i: usize) -> String {
    format!("INV-{i:08}")
}

fn customer_email(n: usize) -> String {
    format!("customer{n}@example.org")
}

/// Record `i`'s client address: one of 250,000, 1,000 per /24.
fn address(i: usize) -> String {
    let h = mix(i);
    format!("10.{}.{}.{}", (h >> 20) % 4, (h >> 24) % 250, (h >> 32) % 250)
}

/// Record `i` of `rows`: deterministic, over the last 30 days in 50
/// workspaces, with the seeds' mix: audits with diffs, lifecycle events,
/// provider actions.
fn generate(i: usize, rows: usize, now: Micros) -> Generated {
    let templates: [(&str, &str, &str, Option<&str>); 8] = [
        ("audit", "track_publish", "track", None),
        ("audit", "member.role_changed", "member", None),
        ("audit", "INVOICE_GENERATED", "invoice", None),
        ("event", "checkout_success", "order", None),
        ("event", "publication.failed", "post", None),
        ("event", "preview_generated", "track", None),
        ("action", "crm_create", "contact", Some("hubspot")),
        ("action", "charge_create", "charge", Some("stripe")),
    ];
    let span = DAYS * 24 * 3_600 * 1_000_000;
    let h = mix(i);
    let workspace = i % WORKSPACES;
    let (kind, key, entity, provider) = templates[(h % 8) as usize];
    // In i128: i × span passes i64 above 3.5 M records (it wrapped silently in
    // the first 10 M runs, which left the last 24 h empty).
    let offset = (i as i128 * span as i128 / rows.max(1) as i128) as i64;
    let occurred = Micros(now.0 - span + offset);
    let visibility = ["internal", "client", "system"][(h >> 8) as usize % 3];
    let brand = ["nike", "puma", "acme"][(h >> 12) as usize % 3];
    let mut record = json!({
        "workspace": format!("ws{workspace:02}"),
        "event_id": format!("bench-{i}"),
        "kind": kind,
        "key": key,
        "message": format!(
            "{key} for {entity} {} by user {} ({}, lot L{})",
            h % 5_000,
            h % 200,
            invoice(i),
            i % (rows / LOT_RECORDS).max(1)
        ),
        "entity": {"type": entity, "id": format!("{}_{}", &entity[..3], h % 5_000)},
        "actor": {"id": format!("u_{}", h % 200), "email": format!("user{}@example.com", h % 200)},
        "visibility": visibility,
        "brand": brand,
        "occurred_at": occurred.to_rfc3339(),
        "correlation_id": format!("req_{}", i / 3),
        "ip": address(i),
        "user_agent": AGENTS[(h >> 36) as usize % AGENTS.len()],
        "payload": {"n": i, "path": format!("/{entity}s/{}", h % 5_000),
                    "customer": {"email": customer_email(i % CUSTOMERS)}},
    });
    if kind == "audit" {
        record["diff"] = json!({"old": {"status": "draft"}, "new": {"status": "published"}});
    }
    if let Some(p) = provider {
        let failed = h.is_multiple_of(13);
        record["provider"] = json!(p);
        record["status"] = json!(if failed { "failure" } else { "success" });
        record["duration_ms"] = json!(40 + (h % 900) as i64);
        if failed {
            record["error"] = json!({"message": "upstream error"});
        }
    }
    Generated { json: record, workspace }
}

const AGENTS: [&str; 5] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];

/// Latency percentiles in milliseconds.
fn percentiles(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let at = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    (at(0.50), at(0.95), at(0.99))
}

/// The key file every server and command of the run signs with.
static SIGNING_KEY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn signing_key() -> &'static Path {
    SIGNING_KEY.get().map_or(Path::new("trail-signing.key"), PathBuf::as_path)
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(binary: &Path, database_url: &str) -> anyhow::Result<Server> {
        Server::start_with(binary, database_url, &[]).await
    }

    /// A server with more settings in its environment.
    async fn start_with(binary: &Path, database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(binary)
            .arg("serve")
            .envs(env.iter().copied())
            .env("TRAIL_SIGNING_KEY_FILE", signing_key())
            .env("TRAIL_DATABASE_URL", database_url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{base}/login")).send().await.is_ok() {
                return Ok(Server { child, base });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server did not start")
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// Processor time the server has used so far (user and system), in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // After the command name in parentheses: utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum());
        // USER_HZ is 100 on every Linux this runs on.
        ticks / 100.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database: a file in `dir`, or a new database on the PostgreSQL server.
async fn fresh_database(kind: &str, dir: &Path, name: &str) -> anyhow::Result<String> {
    new_database(kind, dir, name, None).await
}

/// A copy of the database at `url` as it is now, named after `name`.
async fn copy_database(kind: &str, url: &str, dir: &Path, name: &str) -> anyhow::Result<String> {
    new_database(kind, dir, name, Some(url)).await
}

/// A new database named after `name`, empty or a copy of `template`: a file
/// (the `sqlite3` shell has checkpointed its WAL on exit), or a PostgreSQL
/// database, made from the template's files.
async fn new_database(kind: &str, dir: &Path, name: &str, template: Option<&str>) -> anyhow::Result<String> {
    match kind {
        "sqlite" => {
            let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
            if let Some(template) = template.map(sqlite_file) {
                if template.with_extension("db-wal").exists() {
                    bail!("{} still has a WAL file; the copy would miss its pages", template.display());
                }
                std::fs::copy(template, sqlite_file(&url))?;
            }
            Ok(url)
        }
        "postgres" => {
            let server = postgres_server()?;
            let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
            let db = format!("bench_{name}_{}", Uuid::now_v7().simple());
            // FILE_COPY copies the files now; the default (WAL_LOG) writes the
            // whole copy to the WAL, and its checkpoint then ran during Trail's
            // measurements.
            let from =
                template.map_or(String::new(), |t| format!(" TEMPLATE {} STRATEGY = FILE_COPY", database_name(t)));
            sqlx::query(&format!("CREATE DATABASE {db}{from}")).execute(&mut postgres_admin().await?).await?;
            Ok(format!("{base}/{db}"))
        }
        other => bail!("--db {other}: expected sqlite or postgres"),
    }
}

/// The file of a `sqlite://` URL.
fn sqlite_file(url: &str) -> &Path {
    Path::new(url.trim_start_matches("sqlite://"))
}

/// The database's name: the last part of a PostgreSQL URL.
fn database_name(url: &str) -> &str {
    url.rsplit_once('/').map_or(url, |(_, db)| db)
}

fn postgres_server() -> anyhow::Result<String> {
    std::env::var("TRAIL_BENCH_POSTGRES_URL").context("TRAIL_BENCH_POSTGRES_URL is not set")
}

/// A connection to the PostgreSQL server's own database, to create and drop others.
async fn postgres_admin() -> anyhow::Result<sqlx::PgConnection> {
    Ok(sqlx::PgConnection::connect(&postgres_server()?).await?)
}

/// Drops the baselines' databases, so that their pages are neither flushed nor
/// cached while Trail is measured.
async fn drop_databases(kind: &str, urls: &[&str]) -> anyhow::Result<()> {
    if kind == "sqlite" {
        for url in urls {
            std::fs::remove_file(sqlite_file(url))?;
        }
        return Ok(());
    }
    let mut admin = postgres_admin().await?;
    for url in urls {
        sqlx::query(&format!("DROP DATABASE {}", database_name(url))).execute(&mut admin).await?;
    }
    sqlx::query("CHECKPOINT").execute(&mut admin).await?;
    Ok(())
}

/// Runs `trail` with arguments against a database; returns the last line of its output.
fn trail(binary: &Path, database_url: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let mut child = Command::new(binary)
        .args(args)
        .env("TRAIL_SIGNING_KEY_FILE", signing_key())
        .env("TRAIL_DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(input.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("trail {args:?} failed");
    }
    Ok(String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_owned())
}

/// Makes the 50 workspaces and a spanning key with both scopes.
fn prepare(binary: &Path, url: &str) -> anyhow::Result<String> {
    trail(binary, url, &["migrate"], None)?;
    for w in 0..WORKSPACES {
        trail(binary, url, &["workspace", "add", &format!("ws{w:02}")], None)?;
    }
    trail(binary, url, &["key", "create", "--all-workspaces", "--scope", "ingest,read"], None)
}

/// Sends every record in batches of 1,000 from a few concurrent clients; records/s.
/// The bodies are serialised first (compact JSON: ~6.5 GB at 10 M records), so
/// the clients spend no CPU making them while Trail is measured.
async fn http_batch_ingest(base: &str, key: &str, data: DataSet) -> anyhow::Result<f64> {
    let bodies = (0..data.rows)
        .step_by(BATCH)
        .map(|start| {
            let batch: Vec<Value> = data.records(start..(start + BATCH).min(data.rows)).map(|g| g.json).collect();
            serde_json::to_string(&batch)
        })
        .collect::<Result<_, _>>()?;
    let seconds = post_all(base, key, bodies, HTTP_CLIENTS).await?;
    Ok(data.rows as f64 / seconds)
}

/// Single-record requests from 64 connections for 5 s, sent by wrk: a
/// client in Rust spent more CPU than the server here, on the same 2 cores.
/// wrk cycles through the records of `data`, each request with a new event_id; records/s.
fn http_single_ingest(base: &str, key: &str, data: DataSet, dir: &Path) -> anyhow::Result<f64> {
    // Runs at once (through two servers) get event ids and files of their own.
    let run = Uuid::now_v7().simple().to_string();
    let bodies_path = dir.join(format!("single-{run}.ndjson"));
    let mut bodies = String::new();
    for (i, g) in data.records(0..data.rows).enumerate() {
        let mut json = g.json.clone();
        json["event_id"] = json!(format!("single-{run}-{i}-@N@"));
        // Sent many times over: its invoice numbers must not be the search
        // benchmark's needles (one record each).
        json["message"] = json!(g.json["message"].as_str().unwrap_or_default().replace("INV-", "ONE-"));
        bodies.push_str(&json.to_string());
        bodies.push('\n');
    }
    std::fs::write(&bodies_path, bodies)?;
    let script = dir.join(format!("single-{run}.lua"));
    std::fs::write(
        &script,
        format!(
            r#"local bodies = {{}}
for line in io.lines("{}") do bodies[#bodies + 1] = line end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
local headers = {{ ["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}" }}
request = function()
  n = n + 1
  local body = bodies[(n + (tid or 0) * 7919) % #bodies + 1]:gsub("@N@", (tid or 0) .. "_" .. n)
  return wrk.format("POST", "/api/v1/events", headers, body)
end
"#,
            bodies_path.display()
        ),
    )?;
    let script = script.to_string_lossy().into_owned();
    wrk_requests_per_second(&[
        "-t2",
        &format!("-c{SINGLE_CLIENTS}"),
        "-d5s",
        "-s",
        &script,
        &format!("{base}/api/v1/events"),
    ])
}

/// Runs wrk and returns its requests per second; any non-2xx answer fails the run.
fn wrk_requests_per_second(args: &[&str]) -> anyhow::Result<f64> {
    let output = Command::new("wrk").args(args).output().context("running wrk (scripts/bench installs it)")?;
    let report = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || report.contains("Non-2xx") {
        bail!("wrk failed or saw errors:\n{report}{}", String::from_utf8_lossy(&output.stderr));
    }
    report
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's report:\n{report}"))
}

/// Posts every body to the ingest API from `clients` concurrent clients,
/// each taking the next body when done; returns the seconds it took.
async fn post_all(base: &str, key: &str, bodies: Vec<String>, clients: usize) -> anyhow::Result<f64> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, base, key) = (bodies.clone(), next.clone(), base.to_owned(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return Ok::<_, anyhow::Error>(()) };
                let response = client
                    .post(format!("{base}/api/v1/events"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                if response.status() != 202 {
                    bail!("ingest answered {}: {}", response.status(), response.text().await?);
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The values Trail would store for a generated record (workspace ids are 1..=50 in order of creation),
/// in the order of `record_column_names()`.
fn row_values(g: &Generated) -> Vec<Option<String>> {
    let r = &g.json;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let occurred = chrono::DateTime::parse_from_rfc3339(r["occurred_at"].as_str().unwrap_or_default())
        .map(|t| t.timestamp_micros())
        .unwrap_or_default();
    let severity = if r["status"] == "failure" { 2 } else { 0 };
    vec![
        Some(Uuid::now_v7().to_string()),
        Some((g.workspace + 1).to_string()),
        text(&r["event_id"]),
        text(&r["brand"]),
        text(&r["kind"]),
        text(&r["key"]),
        text(&r["message"]),
        None,
        text(&r["entity"]["type"]),
        text(&r["entity"]["id"]),
        Some("user".into()),
        text(&r["actor"]["id"]),
        text(&r["actor"]["email"]),
        None,
        None,
        text(&r["ip"]),
        text(&r["user_agent"]),
        text(&r["visibility"]),
        Some(severity.to_string()),
        text(&r["status"]),
        r["duration_ms"].as_i64().map(|d| d.to_string()),
        text(&r["provider"]),
        text(&r["error"]["message"]),
        None,
        text(&r["correlation_id"]),
        Some(r["payload"].to_string()),
        r.get("diff").map(|d| d.to_string()),
        Some(occurred.to_string()),
        Some(Micros::now().0.to_string()),
    ]
}

/// The engine's own bulk path for records `range`: `sqlite3 .import` of a CSV
/// (through a staging table, as `.import` cannot skip the rowid column), or
/// `psql \copy`; returns the seconds the import took (not the CSV's writing).
fn engine_bulk(kind: &str, url: &str, data: DataSet, range: std::ops::Range<usize>, dir: &Path) -> anyhow::Result<f64> {
    use std::io::Write;
    let csv_path = dir.join("records.csv");
    let columns = record_column_names();
    // An absent value is an empty, unquoted field: NULL to `\copy`.
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(std::fs::File::create(&csv_path)?));
    for g in data.records(range) {
        csv.serialize(row_values(&g))?;
    }
    csv.into_inner().map_err(|e| e.into_error())?.into_inner()?.sync_all()?;
    let started = Instant::now();
    let status = match kind {
        "sqlite" => {
            let file = sqlite_file(url);
            let script = format!(
                "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nCREATE TEMP TABLE staging ({columns});\n\
                 .import --csv {} staging\nBEGIN;\nINSERT INTO events ({columns}) SELECT * FROM staging;\nCOMMIT;\n",
                csv_path.display()
            );
            let mut child = Command::new("sqlite3").arg(file).stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
            child.stdin.take().expect("stdin").write_all(script.as_bytes())?;
            child.wait()?
        }
        _ => Command::new("psql")
            .arg(url)
            .arg("-q")
            .arg("-c")
            .arg(format!("\\copy events ({columns}) FROM '{}' WITH (FORMAT csv)", csv_path.display()))
            .status()?,
    };
    if !status.success() {
        bail!("the engine's bulk import failed");
    }
    let seconds = started.elapsed().as_secs_f64();
    std::fs::remove_file(&csv_path)?;
    Ok(seconds)
}

/// What Trail replaces: one INSERT per record in its own transaction, from
/// `clients` concurrent writers; records/s.
async fn naive_inserts(url: &str, records: &[Generated], clients: usize) -> anyhow::Result<f64> {
    let marks: Vec<String> = (1..=record_column_names().split(", ").count())
        .map(|i| if url.starts_with("postgres") { format!("${i}") } else { "?".into() })
        .collect();
    let casts = url.starts_with("postgres");
    let sql = Arc::new(format!("INSERT INTO events ({}) VALUES ({})", record_column_names(), marks.join(", ")));
    let rows: Arc<Vec<Vec<Option<String>>>> = Arc::new(records.iter().map(row_values).collect());
    let next = Arc::new(AtomicUsize::new(0));
    // Connections open before the clock starts: the figure is the inserts.
    let ready = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (sql, rows, next, url, ready) = (sql.clone(), rows.clone(), next.clone(), url.to_owned(), ready.clone());
        tasks.push(tokio::spawn(async move {
            if casts {
                let conn = sqlx::PgConnection::connect(&url).await;
                ready.wait().await;
                let mut conn = conn?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(row) = rows.get(i) else { return Ok::<_, anyhow::Error>(()) };
                    bind_pg(&sql, row).execute(&mut conn).await?;
                }
            } else {
                let options = url
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()?
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(60));
                let conn = sqlx::SqliteConnection::connect_with(&options).await;
                ready.wait().await;
                let mut conn = conn?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(row) = rows.get(i) else { return Ok(()) };
                    row.iter().fold(sqlx::query(&sql), |q, v| q.bind(v.as_deref())).execute(&mut conn).await?;
                }
            }
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    for task in tasks {
        task.await??;
    }
    Ok(records.len() as f64 / started.elapsed().as_secs_f64())
}

/// PostgreSQL needs typed parameters: the text values cast in SQL would do, but
/// binding each as its column's type keeps the baseline honest.
fn bind_pg<'q>(
    sql: &'q str,
    row: &'q [Option<String>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let int = |i: usize| row[i].as_deref().and_then(|v| v.parse::<i64>().ok());
    let q = sqlx::query(sql).bind(row[0].as_deref().and_then(|v| Uuid::parse_str(v).ok())).bind(int(1));
    let q = (2..18).fold(q, |q, i| q.bind(row[i].as_deref()));
    let q = q.bind(int(18).map(|v| v as i16)).bind(row[19].as_deref()).bind(int(20));
    let q = (21..25).fold(q, |q, i| q.bind(row[i].as_deref()));
    q.bind(row[25].as_deref().and_then(|v| serde_json::from_str::<Value>(v).ok()))
        .bind(row[26].as_deref().and_then(|v| serde_json::from_str::<Value>(v).ok()))
        .bind(int(27))
        .bind(int(28))
}

/// Times `samples` sequential GETs; (p50, p95, p99) in ms.
async fn latency(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    samples: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        response.bytes().await?;
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    Ok(percentiles(times))
}

/// The 24 h stats the raw way: GROUP BY over the records; ms per run.
async fn raw_stats_ms(url: &str, now: Micros, samples: usize) -> anyhow::Result<f64> {
    let since = (now.0.div_euclid(3_600_000_000) - 23) * 3_600_000_000;
    // Every table Trail keeps records in (SQLite stages the newest in a second one).
    let dialect = dialect_of(url);
    let columns = "occurred_at, severity, key, actor_id, provider, status, duration_ms, kind";
    let arms: Vec<String> =
        dialect.record_tables().iter().map(|table| format!("SELECT {columns} FROM {table}")).collect();
    let events = format!("({}) AS records", arms.join(" UNION ALL "));
    let queries = [
        format!("SELECT occurred_at / 3600000000, severity, COUNT(*) FROM {events} WHERE occurred_at >= {since} GROUP BY 1, 2"),
        format!("SELECT key, COUNT(*) FROM {events} WHERE occurred_at >= {since} GROUP BY key ORDER BY 2 DESC"),
        format!("SELECT actor_id, COUNT(*) FROM {events} WHERE occurred_at >= {since} AND actor_id IS NOT NULL GROUP BY actor_id ORDER BY 2 DESC LIMIT 10"),
        format!("SELECT provider, key, status, COUNT(*), AVG(duration_ms), MAX(duration_ms) FROM {events} WHERE occurred_at >= {since} AND kind = 'action' GROUP BY 1, 2, 3"),
    ];
    let mut times = Vec::new();
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for _ in 0..samples {
            let started = Instant::now();
            for q in &queries {
                sqlx::query(q).fetch_all(&mut conn).await?;
            }
            times.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        for _ in 0..samples {
            let started = Instant::now();
            for q in &queries {
                sqlx::query(q).fetch_all(&mut conn).await?;
            }
            times.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    Ok(percentiles(times).0)
}

/// Feed page latency while ingest runs, and the ingest rate meanwhile.
struct BusyPages {
    p50: f64,
    p99: f64,
    ingested: f64,
}

/// Loads the signed-in feed page `samples` times in a row while
/// `HTTP_CLIENTS` clients post batches of new records (own event ids, spread
/// over the last 30 days) without pause: a page view must not wait behind the
/// writer's commits and moves.
async fn page_during_ingest(
    signed_in: &reqwest::Client,
    base: &str,
    key: &str,
    samples: usize,
) -> anyhow::Result<BusyPages> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..HTTP_CLIENTS)
        .map(|writer| {
            let (stop, sent, base, key) = (stop.clone(), sent.clone(), base.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let data = DataSet { rows: 1_000_000, now: Micros::now() };
                for batch in (writer..).step_by(HTTP_CLIENTS) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // `rows` is a multiple of BATCH, so a batch never runs past the end.
                    let start = batch * BATCH % data.rows;
                    let records: Vec<Value> = data
                        .records(start..start + BATCH)
                        .enumerate()
                        .map(|(n, mut g)| {
                            g.json["event_id"] = json!(format!("during-{batch}-{n}"));
                            g.json
                        })
                        .collect();
                    let response =
                        client.post(format!("{base}/api/v1/events")).bearer_auth(&key).json(&records).send().await?;
                    if response.status() != 202 {
                        bail!("ingest answered {}", response.status());
                    }
                    sent.fetch_add(records.len(), Ordering::Relaxed);
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    // Let the writers get going first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let already = sent.load(Ordering::Relaxed);
    let measured = latency(signed_in, &format!("{base}/"), None, samples).await;
    let ingested = (sent.load(Ordering::Relaxed) - already) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await??;
    }
    let (p50, _, p99) = measured?;
    Ok(BusyPages { p50, p99, ingested })
}

/// Pages per second of the signed-in feed, measured by wrk (a separate, light
/// load generator in C) with `clients` connections for `seconds`: the median of
/// three runs, since one run on a shared machine moves by a fifth.
fn page_throughput(url: &str, cookie: &str, clients: usize, seconds: u32) -> anyhow::Result<f64> {
    let cookie = format!("cookie: {cookie}");
    let args =
        ["-t2", &format!("-c{clients}"), &format!("-d{seconds}s"), "-H", &cookie, "-H", "accept: text/html", url];
    let mut runs = (0..3).map(|_| wrk_requests_per_second(&args)).collect::<anyhow::Result<Vec<f64>>>()?;
    runs.sort_by(f64::total_cmp);
    Ok(runs[1])
}

/// What a durable commit costs on this disk: 4 KiB written and fdatasync'd,
/// p50 over 200 tries in `dir` (where the databases live), in microseconds.
/// The naive baselines pay it once per record, group commit once per group.
fn fsync_micros(dir: &Path) -> anyhow::Result<f64> {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fsync.probe"))?;
    let block = [0u8; 4096];
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    std::fs::remove_file(dir.join("fsync.probe"))?;
    Ok(percentiles(times).0)
}

fn compressed_size(path: &Path, tool: &[&str]) -> Option<u64> {
    let output = Command::new(tool[0]).args(&tool[1..]).arg(path).stderr(Stdio::null()).output().ok()?;
    output.status.success().then_some(output.stdout.len() as u64)
}

struct Table {
    rows: Vec<(String, String, String, String)>,
    json: serde_json::Map<String, Value>,
}

impl Table {
    fn add(&mut self, id: &str, figure: &str, value: String, target: &str, number: f64) {
        println!("{figure:<58} {value:>18}   {target}");
        self.rows.push((figure.to_owned(), value, target.to_owned(), id.to_owned()));
        self.json.insert(id.to_owned(), json!(number));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut dir = tempfile::tempdir()?;
    if args.keep {
        dir.disable_cleanup(true);
        println!("databases in {}", dir.path().display());
    }
    // Every server and command of the run signs with one key, kept with the databases.
    SIGNING_KEY.set(dir.path().join("signing.key")).expect("set once");
    let now = Micros::now();
    let mut table = Table { rows: Vec::new(), json: serde_json::Map::new() };
    println!("{} records over {DAYS} days in {WORKSPACES} workspaces", args.rows);
    let data = DataSet { rows: args.rows, now };
    // Baselines that cost seconds per thousand rows run on a sample and report a rate.
    let sample_len = args.rows.min(2_000);
    // The 64-client runs need more: with 2,000 records, opening 64 connections
    // weighed on the result and the baseline varied fourfold between runs.
    let concurrent_len = args.rows.min(10_000);

    if args.ingest_only {
        let url = fresh_database(&args.db, dir.path(), "trail").await?;
        let key = prepare(&args.server, &url)?;
        let server = Server::start(&args.server, &url).await?;
        let batch = http_batch_ingest(&server.base, &key, data).await?;
        println!("HTTP batch ingest: {batch:.0} rec/s; server peak RSS {:.0} MiB", server.peak_rss_mib());
        let single = http_single_ingest(&server.base, &key, DataSet { rows: concurrent_len, now }, dir.path())?;
        println!(
            "64-connection single-record ingest: {single:.0} rec/s; server peak RSS {:.0} MiB",
            server.peak_rss_mib()
        );
        return Ok(());
    }
    if args.live_only {
        let url = fresh_database(&args.db, dir.path(), "trail").await?;
        let key = prepare(&args.server, &url)?;
        let server = Server::start(&args.server, &url).await?;
        http_batch_ingest(&server.base, &key, data).await?;
        return crate::live::measure(&args, dir.path(), data, &server, &key, &mut table).await;
    }
    if args.webhooks_only {
        return crate::webhooks::measure(&args, dir.path(), data, &mut table).await;
    }
    if args.search_only {
        let url = fresh_database(&args.db, dir.path(), "trail").await?;
        let key = prepare(&args.server, &url)?;
        let server = Server::start(&args.server, &url).await?;
        let started = Instant::now();
        let rate = http_batch_ingest(&server.base, &key, data).await?;
        println!("loaded {} records in {:.0} s ({rate:.0} rec/s)", args.rows, started.elapsed().as_secs_f64());
        settle(&args, &url).await?;
        return crate::search::measure(&args, dir.path(), data, &server.base, &key, &url, &mut table).await;
    }

    // Ingest: the engine's bulk path, the naive way, Trail's batches. The bulk
    // import runs in two halves, and the naive baselines insert the records
    // that come next into a copy of its database taken between them: indexes
    // of the size Trail's ingest met on average. On an empty database every
    // page is in cache and the naive way is far faster than it is once the
    // table has grown (one INSERT per record: 10.9k rec/s empty, 4.3k at 1 M).
    let engine_url = fresh_database(&args.db, dir.path(), "engine").await?;
    prepare(&args.server, &engine_url)?;
    let half = args.rows / 2;
    let first_half = engine_bulk(&args.db, &engine_url, data, 0..half, dir.path())?;
    let naive_url = copy_database(&args.db, &engine_url, dir.path(), "naive").await?;
    let second_half = engine_bulk(&args.db, &engine_url, data, half..args.rows, dir.path())?;
    let engine = args.rows as f64 / (first_half + second_half);
    let sample_end = (half + sample_len).min(args.rows);
    let sample: Vec<Generated> = data.records(half..sample_end).collect();
    let naive = naive_inserts(&naive_url, &sample, 1).await?;
    let next_sample: Vec<Generated> = data.records(sample_end..(sample_end + concurrent_len).min(args.rows)).collect();
    let naive_concurrent = naive_inserts(&naive_url, &next_sample, SINGLE_CLIENTS).await?;
    if !args.keep {
        drop_databases(&args.db, &[&engine_url, &naive_url]).await?;
    }

    let url = fresh_database(&args.db, dir.path(), "trail").await?;
    let key = prepare(&args.server, &url)?;
    trail(
        &args.server,
        &url,
        &["user", "add", "--email", "bench@bench.test", "--role", "founder"],
        Some("bench password\n"),
    )?;
    let server = Server::start(&args.server, &url).await?;
    let batch = http_batch_ingest(&server.base, &key, data).await?;
    let single = http_single_ingest(&server.base, &key, DataSet { rows: concurrent_len, now }, dir.path())?;

    let fsync = fsync_micros(dir.path())?;
    table.add("disk_fsync_us", "this disk: 4 KiB write + fdatasync, p50", format!("{fsync:.0} µs"), "", fsync);
    table.add(
        "ingest_http_batch",
        "HTTP batch ingest (1,000/request, 4 clients)",
        format!("{batch:.0} rec/s"),
        "",
        batch,
    );
    table.add(
        "ingest_engine_bulk",
        &format!("engine bulk import ({})", if args.db == "sqlite" { "sqlite3 .import" } else { "psql \\copy" }),
        format!("{engine:.0} rec/s"),
        "",
        engine,
    );
    table.add("ingest_naive", "one INSERT per record, own transaction", format!("{naive:.0} rec/s"), "", naive);
    let target = if args.db == "sqlite" { "≥ 1.0" } else { "≥ 0.5" };
    table.add(
        "ratio_batch_vs_engine",
        "  HTTP batch ÷ engine bulk",
        format!("{:.2}", batch / engine),
        target,
        batch / engine,
    );
    table.add(
        "ratio_batch_vs_naive",
        "  HTTP batch ÷ one-INSERT-per-record",
        format!("{:.1}", batch / naive),
        "≥ 50",
        batch / naive,
    );
    table.add(
        "ingest_single_64",
        "64 connections (wrk), single-record requests",
        format!("{single:.0} rec/s"),
        "",
        single,
    );
    table.add(
        "ingest_naive_64",
        "64 clients, one INSERT per request",
        format!("{naive_concurrent:.0} rec/s"),
        "",
        naive_concurrent,
    );
    table.add(
        "ratio_single_vs_naive",
        "  group commit ÷ one-INSERT-per-request",
        format!("{:.1}", single / naive_concurrent),
        "≥ 3",
        single / naive_concurrent,
    );

    // Reads at the loaded size, in the steady state: on PostgreSQL that is what
    // autovacuum leaves within minutes of a bulk load: planner statistics (before,
    // the planner guessed and scanned whole roll-up tables) and a visibility map
    // (before, every index scan also visited the heap: profile in docs/performance.md).
    settle(&args, &url).await?;
    let client = reqwest::Client::new();
    let base = &server.base;
    // An entity and an actor that exist, from the middle of the data.
    let probe = &data.record(args.rows / 2).json;
    let (entity_type, entity_id) =
        (probe["entity"]["type"].as_str().unwrap_or(""), probe["entity"]["id"].as_str().unwrap_or(""));
    let (probe_ws, actor) = (probe["workspace"].as_str().unwrap_or(""), probe["actor"]["id"].as_str().unwrap_or(""));
    let oldest = Cursor { occurred_at: now.0 - DAYS * 24 * 3_600 * 1_000_000 + 3_600_000_000, id: Uuid::max() };
    let reads = [
        ("read_first_page", "feed, first page", format!("{base}/api/v1/events?workspace=ws07")),
        (
            "read_deep_page",
            "feed, a page near the oldest (cursor)",
            format!("{base}/api/v1/events?workspace=ws07&cursor={}", oldest.encode()),
        ),
        ("read_errors", "errors only", format!("{base}/api/v1/events?workspace=ws07&errors=true")),
        ("read_entity", "an entity's timeline", format!("{base}/api/v1/entities/{entity_type}/{entity_id}/timeline")),
        ("read_actor", "actor filter", format!("{base}/api/v1/events?workspace={probe_ws}&actor={actor}")),
        ("read_text", "free-text search", format!("{base}/api/v1/events?workspace=ws07&q=%22user%2017%22")),
    ];
    let mut first_page_p99 = 0.0;
    for (id, name, url) in &reads {
        let (p50, p95, p99) = latency(&client, url, Some(&key), args.samples).await?;
        if *id == "read_first_page" {
            first_page_p99 = p99;
        }
        let target = match *id {
            "read_first_page" => "p99 ≤ 5 ms".to_owned(),
            "read_deep_page" => format!("≤ 2 × first ({:.2})", p99 / first_page_p99.max(1e-9)),
            _ => String::new(),
        };
        table.add(id, &format!("{name} p50 / p95 / p99"), format!("{p50:.2} / {p95:.2} / {p99:.2} ms"), &target, p99);
    }

    crate::search::measure(&args, dir.path(), data, base, &key, &url, &mut table).await?;

    // Stats: Trail's roll-ups against GROUP BY over the records.
    let (stats_p50, _, _) =
        latency(&client, &format!("{base}/api/v1/stats?window=24h"), Some(&key), args.samples).await?;
    let raw = raw_stats_ms(&url, now, (args.samples / 10).max(3)).await?;
    table.add("stats_24h", "24 h stats through Trail, p50", format!("{stats_p50:.2} ms"), "≤ 10 ms", stats_p50);
    table.add("stats_raw_24h", "24 h stats by GROUP BY over the records, p50", format!("{raw:.2} ms"), "", raw);
    table.add("ratio_raw_vs_stats", "  GROUP BY ÷ Trail", format!("{:.1}", raw / stats_p50), "≥ 50", raw / stats_p50);

    // The signed-in feed page.
    let signed_in =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let login = signed_in
        .post(format!("{base}/login"))
        .form(&[("email", "bench@bench.test"), ("password", "bench password")])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("signing in")?
        .to_owned();
    let (render_p50, _, render_p99) =
        latency(&signed_in, &format!("{base}/"), None, (args.samples / 4).max(10)).await?;
    table.add(
        "page_render",
        "feed page server render p50 / p99",
        format!("{render_p50:.2} / {render_p99:.2} ms"),
        "p50 ≤ 20 ms",
        render_p50,
    );
    let pages = page_throughput(&format!("{base}/"), &cookie, 16, 5)?;
    table.add(
        "page_throughput",
        "feed pages per second (wrk, 16 connections, median of 3 × 5 s)",
        format!("{pages:.0} pages/s"),
        "≥ 1,000",
        pages,
    );
    let busy = page_during_ingest(&signed_in, base, &key, (args.samples / 2).max(10)).await?;
    table.add(
        "page_during_ingest",
        "feed page render p50 / p99 during sustained batch ingest",
        format!(
            "{:.2} / {:.2} ms ({:.1} × idle p99; {:.0} rec/s ingested meanwhile)",
            busy.p50,
            busy.p99,
            busy.p99 / render_p99.max(1e-9),
            busy.ingested
        ),
        "p99 ≤ 50 ms",
        busy.p99,
    );

    crate::live::measure(&args, dir.path(), data, &server, &key, &mut table).await?;
    crate::webhooks::measure(&args, dir.path(), data, &mut table).await?;
    let single_sample = DataSet { rows: concurrent_len, now };
    crate::instances::measure(&args, &url, &server, &key, &cookie, single_sample, dir.path(), &mut table).await?;

    // The browser bundle.
    let wasm = args.pkg.join("trail.wasm");
    let js = args.pkg.join("trail.js");
    for (id, name, path) in [("wasm", "hydrate WASM", &wasm), ("js", "hydrate JS", &js)] {
        let raw = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let gzip = compressed_size(path, &["gzip", "-9", "-c"]).unwrap_or(0);
        let brotli = compressed_size(path, &["brotli", "-c", "-q", "11"]).unwrap_or(0);
        let target = if id == "wasm" { "gzip ≤ 200 KB" } else { "" };
        table.add(
            &format!("{id}_gzip_bytes"),
            &format!("{name}: raw / gzip / brotli"),
            format!("{} / {} / {} KB", raw / 1024, gzip / 1024, brotli / 1024),
            target,
            gzip as f64,
        );
    }
    let rss = server.peak_rss_mib();
    table.add("server_peak_rss_mib", "server peak resident memory", format!("{rss:.0} MiB"), "≤ 150 MB", rss);

    // Tamper evidence: the whole database verified (the server stopped, so
    // nothing else runs), against exporting it through the running server.
    let export_s = export_all(&server.base, &key).await?;
    drop(server);
    let (verified, verify_s) = verify_all(&args.server, &url)?;
    table.add(
        "verify_rate",
        "`trail verify` of every chain and digest",
        format!("{:.0} records/s ({verified} records in {verify_s:.1} s)", verified as f64 / verify_s),
        "≥ 300,000/s at 10 M (SQLite)",
        verified as f64 / verify_s,
    );
    table.add(
        "export_ndjson",
        "the same records exported as NDJSON (`/api/v1/events/export`)",
        format!("{export_s:.1} s"),
        "",
        export_s,
    );
    table.add(
        "ratio_verify_vs_export",
        "  verify ÷ export time",
        format!("{:.2}", verify_s / export_s),
        "",
        verify_s / export_s,
    );

    let cost = chain_cost(&args, dir.path(), DataSet { rows: args.rows.min(CHAIN_SAMPLE), now }).await?;
    table.add(
        "ingest_batch_chained",
        "HTTP batch ingest into a fresh database, with hash chains (the median pair of 3)",
        format!("{:.0} rec/s", cost.first),
        "",
        cost.first,
    );
    table.add(
        "ingest_batch_unchained",
        "  the same without hash chains, in turns",
        format!("{:.0} rec/s", cost.second),
        "",
        cost.second,
    );
    table.add(
        "ratio_chained_vs_unchained",
        "  with chains ÷ without",
        format!("{:.2} (pairs: {})", cost.first / cost.second, cost.ratios),
        "≥ 0.9",
        cost.first / cost.second,
    );

    let purge = purge_against_delete(&args, &url, dir.path(), now, &key).await?;
    table.add(
        "purge_10pct",
        "retention purge of the oldest tenth (`trail retention run`)",
        format!(
            "{:.1} s, {} of {} records ({:.1} %)",
            purge.purge_s,
            purge.removed,
            purge.total,
            100.0 * purge.removed as f64 / purge.total.max(1) as f64
        ),
        "",
        purge.purge_s,
    );
    table.add(
        "purge_delete_baseline",
        "one DELETE … WHERE received_at < cutoff, on a copy",
        format!("{:.1} s, {} records", purge.delete_s, purge.deleted),
        "",
        purge.delete_s,
    );
    table.add(
        "ratio_purge_vs_delete",
        "  purge ÷ one DELETE",
        format!("{:.2}", purge.purge_s / purge.delete_s),
        "≤ 1.0",
        purge.purge_s / purge.delete_s,
    );
    let (p50, _, p99) = purge.reads;
    table.add(
        "read_during_purge",
        "feed first page p50 / p99 during the purge",
        format!("{p50:.2} / {p99:.2} ms ({} reads)", purge.read_count),
        "p99 ≤ 10 ms",
        p99,
    );

    write_results(&args, &table)
}

/// PostgreSQL as autovacuum leaves it within minutes of a load: planner
/// statistics and a visibility map.
async fn settle(args: &Args, url: &str) -> anyhow::Result<()> {
    if args.db == "postgres" {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query("VACUUM (ANALYZE)").execute(&mut conn).await?;
    }
    Ok(())
}

fn dialect_of(url: &str) -> Dialect {
    if url.starts_with("postgres") {
        Dialect::Postgres
    } else {
        Dialect::Sqlite
    }
}

/// Moves a SQLite database's WAL into the file and removes it, so the file
/// can be copied (a killed server leaves its WAL behind).
async fn checkpoint(url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Runs statements one after another on one connection; the seconds they took.
async fn run_statements(url: &str, statements: &[String]) -> anyhow::Result<f64> {
    let started = Instant::now();
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await?;
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await?;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Records in every record table.
async fn count_records(url: &str) -> anyhow::Result<i64> {
    let mut total = 0;
    for table in dialect_of(url).record_tables() {
        let statement = format!("SELECT COUNT(*) FROM {table}");
        total += if url.starts_with("postgres") {
            sqlx::query_scalar::<_, i64>(&statement).fetch_one(&mut sqlx::PgConnection::connect(url).await?).await?
        } else {
            sqlx::query_scalar::<_, i64>(&statement).fetch_one(&mut sqlx::SqliteConnection::connect(url).await?).await?
        };
    }
    Ok(total)
}

/// What purging the oldest tenth of the records cost, against one DELETE.
struct PurgeRun {
    total: i64,
    purge_s: f64,
    removed: i64,
    delete_s: f64,
    deleted: i64,
    /// The first page's latency (p50, p95, p99) while the purge ran.
    reads: (f64, f64, f64),
    read_count: usize,
}

/// Days the purge benchmark spreads the records over: 15 × 28, so that the
/// oldest tenth fills a whole span of PostgreSQL's partitions of events and
/// actions (28 days).
const PURGE_SPREAD_DAYS: i64 = 420;

/// Retention: on two copies of the loaded database, `received_at` is spread
/// over the last [`PURGE_SPREAD_DAYS`] in the order the records were received
/// (as if ingest had gone on that long), and the records of the oldest tenth
/// of those days go: by `trail retention run` beside a serving Trail on one
/// copy, and by one DELETE per record table on the other.
async fn purge_against_delete(args: &Args, url: &str, dir: &Path, now: Micros, key: &str) -> anyhow::Result<PurgeRun> {
    const DAY_US: i64 = 24 * 3_600 * 1_000_000;
    let tables = dialect_of(url).record_tables();
    if args.db == "sqlite" {
        checkpoint(url).await?;
    }
    let copies =
        [copy_database(&args.db, url, dir, "purge").await?, copy_database(&args.db, url, dir, "delete").await?];
    let total = count_records(&copies[0]).await?;
    let (start, step) = (now.0 - PURGE_SPREAD_DAYS * DAY_US, PURGE_SPREAD_DAYS * DAY_US / total.max(1));
    for copy in &copies {
        let setup = match args.db.as_str() {
            // Staged records (the newest) come after those in `events`.
            "sqlite" => vec![
                format!("UPDATE events SET received_at = {start} + (seq - (SELECT MIN(seq) FROM events)) * {step}"),
                format!(
                    "UPDATE events_recent SET received_at = {start} + \
                     ((SELECT COUNT(*) FROM events) + seq - (SELECT MIN(seq) FROM events_recent)) * {step}"
                ),
            ],
            // Each record's id is minted again at its new receive time (its
            // random part kept), as ingest would have: the partitions of
            // `events` are ranges of ids, so the records move into the
            // partitions of their days, with their links and producers' ids.
            _ => vec![
                format!(
                    "CREATE TABLE spread AS SELECT id AS old_id, {start} + (row_number() OVER (ORDER BY id) - 1) * \
                     {step} AS at, kind FROM events"
                ),
                "ALTER TABLE spread ADD COLUMN new_id UUID".into(),
                "UPDATE spread SET new_id = (lpad(to_hex(at / 1000), 12, '0') || \
                 substr(replace(old_id::text, '-', ''), 13))::uuid"
                    .into(),
                "CREATE UNIQUE INDEX ON spread (old_id)".into(),
                "SELECT trail_ensure_partition(kind, ms) FROM \
                 (SELECT DISTINCT kind, at / 1000 / 86400000 * 86400000 AS ms FROM spread) AS days"
                    .into(),
                "UPDATE events e SET id = s.new_id, received_at = s.at FROM spread s WHERE e.id = s.old_id".into(),
                "UPDATE chain_links l SET record_id = s.new_id FROM spread s WHERE l.record_id = s.old_id".into(),
                "UPDATE event_ids d SET record_id = s.new_id FROM spread s WHERE d.record_id = s.old_id".into(),
                "DROP TABLE spread".into(),
                "VACUUM (ANALYZE)".into(),
            ],
        };
        run_statements(copy, &setup).await?;
        if args.db == "sqlite" {
            checkpoint(copy).await?;
        }
    }
    let [purge_url, delete_url] = copies;
    // Spread evenly: keeping nine tenths of the days leaves a tenth of the records to go.
    let keep_days = PURGE_SPREAD_DAYS - PURGE_SPREAD_DAYS / 10;

    // Kept forever while the server starts (its own purge at start would
    // take the records past the default 90 days), then for `keep_days`.
    for kind in ["audit", "event", "action"] {
        trail(&args.server, &purge_url, &["retention", "set", "--kind", kind, "--days", "forever"], None)?;
    }
    let server = Server::start(&args.server, &purge_url).await?;
    let days = keep_days.to_string();
    for kind in ["audit", "event", "action"] {
        trail(&args.server, &purge_url, &["retention", "set", "--kind", kind, "--days", &days], None)?;
    }
    let before = count_records(&purge_url).await?;
    let (binary, run_url) = (args.server.clone(), purge_url.clone());
    let started = Instant::now();
    let cutoff = Micros(Micros::now().0 - keep_days * DAY_US);
    let purge = tokio::task::spawn_blocking(move || trail(&binary, &run_url, &["retention", "run"], None));
    let client = reqwest::Client::new();
    let first_page = format!("{}/api/v1/events?workspace=ws07", server.base);
    let mut times = Vec::new();
    loop {
        let read = Instant::now();
        let response = client.get(&first_page).bearer_auth(key).send().await?;
        if !response.status().is_success() {
            bail!("a read during the purge answered {}", response.status());
        }
        response.bytes().await?;
        times.push(read.elapsed().as_secs_f64() * 1_000.0);
        if purge.is_finished() {
            break;
        }
    }
    purge.await??;
    let purge_s = started.elapsed().as_secs_f64();
    drop(server);
    let removed = before - count_records(&purge_url).await?;

    let delete: Vec<String> =
        tables.iter().map(|t| format!("DELETE FROM {t} WHERE received_at < {}", cutoff.0)).collect();
    let delete_s = run_statements(&delete_url, &delete).await?;
    let deleted = total - count_records(&delete_url).await?;
    if !args.keep {
        drop_databases(&args.db, &[&purge_url, &delete_url]).await?;
    }
    let read_count = times.len();
    Ok(PurgeRun { purge_s, removed, delete_s, deleted, total, reads: percentiles(times), read_count })
}

/// Records of the batch-ingest comparison with and without hash chains.
const CHAIN_SAMPLE: usize = 200_000;

/// `trail verify` over the whole database: records checked and seconds.
fn verify_all(binary: &Path, url: &str) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let summary = trail(binary, url, &["verify"], None)?;
    let seconds = started.elapsed().as_secs_f64();
    // "N chains, M records valid, …"
    let records = summary.split(", ").find_map(|part| part.strip_suffix(" records valid")).and_then(|n| n.parse().ok());
    Ok((records.with_context(|| format!("no record count in {summary:?}"))?, seconds))
}

/// Seconds to download every record as NDJSON with the spanning key.
async fn export_all(base: &str, key: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/events/export?format=ndjson"))
        .bearer_auth(key)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("the export answered {}", response.status());
    }
    response.bytes().await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Rounds of each comparison made in turns.
const PAIRS: usize = 3;

/// Batch ingest rates of two set-ups, measured in turns `PAIRS` times: the
/// pair whose ratio (first ÷ second) is the median, and every ratio.
struct Paired {
    first: f64,
    second: f64,
    /// Every pair's ratio, lowest first.
    ratios: String,
}

/// One run of [`ingest_in_turns`]: which set-up, and its server, key and database.
struct Turn {
    setup: usize,
    base: String,
    key: String,
    url: String,
}

/// Batch ingest of `data` into a fresh database per run, set-up 0 and 1 in
/// turns: each server started with `env(setup)`, and whatever `attach(turn)`
/// opens kept open while it is measured.
async fn ingest_in_turns<A, Fut>(
    args: &Args,
    dir: &Path,
    data: DataSet,
    name: &str,
    env: impl Fn(usize) -> &'static [(&'static str, &'static str)],
    attach: impl Fn(Turn) -> Fut,
) -> anyhow::Result<Paired>
where
    Fut: std::future::Future<Output = anyhow::Result<A>>,
{
    let mut pairs = Vec::new();
    for pair in 0..PAIRS {
        let (mut rates, mut cpu_used) = ([0.0; 2], [0.0; 2]);
        for (setup, rate) in rates.iter_mut().enumerate() {
            let url = fresh_database(&args.db, dir, &format!("{name}{pair}{setup}")).await?;
            let key = prepare(&args.server, &url)?;
            let server = Server::start_with(&args.server, &url, env(setup)).await?;
            let turn = Turn { setup, base: server.base.clone(), key: key.clone(), url: url.clone() };
            let attached = attach(turn).await?;
            let cpu = server.cpu_seconds();
            *rate = http_batch_ingest(&server.base, &key, data).await?;
            cpu_used[setup] = server.cpu_seconds() - cpu;
            drop(attached);
            drop(server);
            if !args.keep {
                drop_databases(&args.db, &[&url]).await?;
            }
        }
        println!(
            "{name}: batch ingest {:.0} rec/s against {:.0}: {:.2} (server processor time {:.1} s against {:.1} s)",
            rates[0],
            rates[1],
            rates[0] / rates[1],
            cpu_used[0],
            cpu_used[1]
        );
        pairs.push(rates);
    }
    pairs.sort_by(|a, b| (a[0] / a[1]).total_cmp(&(b[0] / b[1])));
    let ratios = pairs.iter().map(|p| format!("{:.2}", p[0] / p[1])).collect::<Vec<_>>().join(", ");
    let [first, second] = pairs[pairs.len() / 2];
    Ok(Paired { first, second, ratios })
}

/// Batch ingest with hash chains against without (`TRAIL_UNCHAINED_FOR_BENCHMARK`).
async fn chain_cost(args: &Args, dir: &Path, data: DataSet) -> anyhow::Result<Paired> {
    let env = |setup| -> &'static [(&'static str, &'static str)] {
        if setup == 0 {
            &[]
        } else {
            &[("TRAIL_UNCHAINED_FOR_BENCHMARK", "1")]
        }
    };
    ingest_in_turns(args, dir, data, "chains", env, |_| async { Ok(()) }).await
}

fn write_results(args: &Args, table: &Table) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                .split(':')
                .nth(1)
                .unwrap_or("")
                .trim()
                .to_owned()))
            .unwrap_or_default()
    );
    let mut md =
        format!("Trail benchmark: {} records, {}, {machine}, {}\n\n", args.rows, args.db, Micros::now().to_rfc3339());
    md.push_str("| figure | measured | target |\n|---|---|---|\n");
    for (figure, value, target, _) in &table.rows {
        md.push_str(&format!("| {figure} | {value} | {target} |\n"));
    }
    std::fs::write(args.out.join("latest.md"), &md)?;
    let json = json!({ "rows": args.rows, "db": args.db, "machine": machine, "figures": table.json });
    std::fs::write(args.out.join("latest.json"), serde_json::to_string_pretty(&json)?)?;
    println!("\nwrote {} and {}", args.out.join("latest.md").display(), args.out.join("latest.json").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_million_records_end_in_the_last_hour() {
        let now = Micros::now();
        let occurred = |i| {
            let record = generate(i, 10_000_000, now);
            chrono::DateTime::parse_from_rfc3339(record.json["occurred_at"].as_str().unwrap())
                .unwrap()
                .timestamp_micros()
        };
        let hour = 3_600_000_000;
        assert!(now.0 - occurred(9_999_999) < hour);
        assert!(now.0 - occurred(0) > DAYS * 24 * hour - hour);
        assert!(occurred(5_000_000) < occurred(5_000_001));
    }

    #[test]
    fn a_baseline_row_has_one_value_per_record_column() {
        let record = generate(0, 10, Micros::now());
        assert_eq!(row_values(&record).len(), record_column_names().split(", ").count());
    }
}
