//! Webhooks under load: batch ingest with two endpoints taking records and
//! five match rules against none (the outbox written in every commit, the
//! alert evaluator reading each rule's matches and the sender posting
//! beside ingest), and how long a record takes from its acknowledged ingest
//! to a receiver, at 500 matching records a second.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{ingest_in_turns, percentiles, trail, Args, DataSet, Paired, Server, Table, Turn};

/// Records per batch-ingest run with and without endpoints.
const INGEST_ROWS: usize = 100_000;
/// The latency run: records a second, for this long.
const RATE: usize = 500;
const SECONDS: usize = 10;
/// The endpoints' filters: 1 in 8 of the data set, and its failed provider
/// actions (about 2 %).
const FILTERS: [&str; 2] = ["key:publication.failed", "status:failure"];
/// Five match rules, as (search, workspace): errors, a key, a provider's
/// failures, a kind's key, and one workspace's key.
const RULES: [(&str, &str); 5] = [
    ("severity:>=error", ""),
    ("key:publication.failed", ""),
    ("provider:stripe status:failure", ""),
    ("kind:audit key:INVOICE_GENERATED", ""),
    ("key:member.role_changed", "ws07"),
];
/// Every server here may post to the bench's receiver on 127.0.0.1.
const ENV: &[(&str, &str)] = &[("TRAIL_WEBHOOK_ALLOW_PRIVATE", "1")];

/// A receiver that answers 200 to every request and notes when each body came.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<(Value, Instant)>>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start() -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let noted = bodies.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, noted.clone()));
            }
        });
        Ok(Receiver { port, bodies, task })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

/// HTTP/1.1 requests on one connection, kept alive.
async fn serve(socket: tokio::net::TcpStream, bodies: Arc<Mutex<Vec<(Value, Instant)>>>) {
    let mut reader = BufReader::new(socket);
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let at = Instant::now();
        bodies.lock().expect("not poisoned").push((serde_json::from_slice(&body).unwrap_or(Value::Null), at));
        if reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

fn add_endpoint(args: &Args, url: &str, receiver: &str, records: &str) -> anyhow::Result<()> {
    trail(
        &args.server,
        url,
        &["webhook", "add", "--webhook-allow-private", "--url", receiver, "--records", records],
        None,
    )?;
    Ok(())
}

fn add_rule(args: &Args, url: &str, name: &str, (search, workspace): (&str, &str)) -> anyhow::Result<()> {
    let mut command = vec!["alert", "add", "--name", name, "--match", search];
    if !workspace.is_empty() {
        command.extend(["--workspace", workspace]);
    }
    trail(&args.server, url, &command, None)?;
    Ok(())
}

/// Batch ingest with the two endpoints and five rules against none, in turns.
async fn ingest_with_endpoints(args: &Args, dir: &Path, data: DataSet) -> anyhow::Result<(Paired, usize)> {
    let delivered = Arc::new(Mutex::new(0));
    let attach = |turn: Turn| {
        let delivered = delivered.clone();
        async move {
            if turn.setup != 0 {
                return Ok(None);
            }
            let receiver = Receiver::start().await?;
            for filter in FILTERS {
                add_endpoint(args, &turn.url, &receiver.url(), filter)?;
            }
            for (i, rule) in RULES.into_iter().enumerate() {
                add_rule(args, &turn.url, &format!("rule {i}"), rule)?;
            }
            *delivered.lock().expect("not poisoned") = 0;
            Ok(Some(Counting { receiver, delivered }))
        }
    };
    let paired = ingest_in_turns(args, dir, data, "webhooks", |_| ENV, attach).await?;
    let delivered = *delivered.lock().expect("not poisoned");
    Ok((paired, delivered))
}

/// The receiver of one run; counts what it got when the run ends.
struct Counting {
    receiver: Receiver,
    delivered: Arc<Mutex<usize>>,
}

impl Drop for Counting {
    fn drop(&mut self) {
        *self.delivered.lock().expect("not poisoned") = self.receiver.bodies.lock().expect("not poisoned").len();
    }
}

/// Record acknowledged → receiver, at [`RATE`] matching records a second.
async fn delivery_latency(args: &Args, dir: &Path) -> anyhow::Result<(f64, f64, usize)> {
    let url = crate::fresh_database(&args.db, dir, "hooklatency").await?;
    let key = crate::prepare(&args.server, &url)?;
    let receiver = Receiver::start().await?;
    add_endpoint(args, &url, &receiver.url(), "key:bench.hook")?;
    let server = Server::start_with(&args.server, &url, ENV).await?;
    let client = reqwest::Client::new();
    // Batches of 10 every 20 ms: 500 a second.
    let per_batch = 10;
    let mut acknowledged = Vec::with_capacity(RATE * SECONDS);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for batch in 0..RATE * SECONDS / per_batch {
        tick.tick().await;
        let records: Vec<Value> = (0..per_batch)
            .map(|i| json!({"workspace": "ws00", "key": "bench.hook", "message": format!("hook {}", batch * per_batch + i)}))
            .collect();
        let response =
            client.post(format!("{}/api/v1/events", server.base)).bearer_auth(&key).json(&records).send().await?;
        if response.status() != 202 {
            bail!("ingest answered {}", response.status());
        }
        acknowledged.push(Instant::now());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bodies = receiver.bodies.lock().expect("not poisoned").clone();
    let mut latencies = Vec::with_capacity(bodies.len());
    for (body, at) in &bodies {
        let message = body["data"]["message"].as_str().context("a record's message")?;
        let n: usize = message.trim_start_matches("hook ").parse()?;
        latencies.push(at.saturating_duration_since(acknowledged[n / per_batch]).as_secs_f64() * 1e3);
    }
    if latencies.is_empty() {
        bail!("no message reached the receiver");
    }
    let missing = (RATE * SECONDS).saturating_sub(latencies.len());
    let (p50, _, p99) = percentiles(latencies);
    Ok((p50, p99, missing))
}

/// Every webhook figure, into `table`.
pub async fn measure(args: &Args, dir: &Path, data: DataSet, table: &mut Table) -> anyhow::Result<()> {
    let sample = DataSet { rows: data.rows.min(INGEST_ROWS), now: data.now };
    let (Paired { first: with, second: without, ratios }, delivered) = ingest_with_endpoints(args, dir, sample).await?;
    table.add(
        "ingest_batch_webhooks",
        "HTTP batch ingest with 2 webhook endpoints taking records and 5 match rules",
        format!("{with:.0} rec/s (none: {without:.0}; {delivered} messages delivered in the last run)"),
        "",
        with,
    );
    table.add(
        "ratio_webhooks_vs_none",
        "  with the endpoints and rules ÷ none, in turns",
        format!("{:.2} (pairs: {ratios})", with / without),
        "≥ 0.9",
        with / without,
    );
    let (p50, p99, missing) = delivery_latency(args, dir).await?;
    let missing = if missing == 0 { String::new() } else { format!(" ({missing} not delivered within 3 s)") };
    table.add(
        "webhook_latency",
        "record acknowledged → receiver p50 / p99, 500 matching rec/s",
        format!("{p50:.1} / {p99:.1} ms{missing}"),
        "p99 ≤ 1 s",
        p99,
    );
    Ok(())
}
