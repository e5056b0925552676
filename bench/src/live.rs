//! The live stream under load (`/api/v1/events/stream`): how long a record
//! takes from its ingest request to every subscriber, with 1, 100 and 1,000
//! of them; what a subscriber costs the server in memory; and batch ingest
//! with 1,000 subscribers connected against none.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::{ingest_in_turns, percentiles, Args, DataSet, Paired, Server, Table, Turn};

/// Records sent one after the other per latency measurement.
const SAMPLES: usize = 40;
/// The subscriber counts measured.
const COUNTS: [usize; 3] = [1, 100, 1_000];
/// Records per batch-ingest run with and without subscribers.
const INGEST_ROWS: usize = 100_000;

/// Open streams, each recording when each sample arrived.
struct Subscribers {
    tasks: Vec<JoinHandle<()>>,
    /// (sample, when it arrived), from every stream.
    arrivals: Arc<Mutex<Vec<(usize, Instant)>>>,
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens `count` streams of `query`, returning once every one is connected.
async fn subscribe(
    base: &str,
    key: &str,
    count: usize,
    query: impl Fn(usize) -> Vec<(String, String)>,
) -> anyhow::Result<Subscribers> {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let connected = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let request = client.get(format!("{base}/api/v1/events/stream")).bearer_auth(key).query(&query(n));
        let (arrivals, connected) = (arrivals.clone(), connected.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut response) = request.send().await else { return };
            let mut buffer = Vec::new();
            let mut first = true;
            while let Ok(Some(chunk)) = response.chunk().await {
                if first {
                    connected.fetch_add(1, Ordering::Relaxed);
                    first = false;
                }
                buffer.extend_from_slice(&chunk);
                // Every whole event in the buffer, then what is left moved to its front once.
                let mut start = 0;
                while let Some(end) = memchr::memmem::find(&buffer[start..], b"\n\n") {
                    if let Some(sample) = sample_of(&buffer[start..start + end]) {
                        arrivals.lock().expect("not poisoned").push((sample, Instant::now()));
                    }
                    start += end + 2;
                }
                buffer.drain(..start);
            }
        }));
    }
    let started = Instant::now();
    while connected.load(Ordering::Relaxed) < count {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("only {} of {count} streams connected", connected.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Subscribers { tasks, arrivals })
}

/// The sample number of a record event (`"message":"live <n>"`).
fn sample_of(block: &[u8]) -> Option<usize> {
    let rest = &block[memchr::memmem::find(block, b"\"message\":\"live ")? + 16..];
    std::str::from_utf8(&rest[..memchr::memchr(b'"', rest)?]).ok()?.parse().ok()
}

/// A server's resident memory now, in KiB.
fn rss_kib(server: &Server) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

/// Delivery latency with `count` subscribers of one view; p50, p99 in ms,
/// how many deliveries were missing, and the server's memory per subscriber.
struct Delivery {
    p50: f64,
    p99: f64,
    missing: usize,
    kib_per_subscriber: f64,
}

async fn delivery(server: &Server, key: &str, count: usize) -> anyhow::Result<Delivery> {
    let client = reqwest::Client::new();
    let idle_kib = rss_kib(server);
    let view = |_| vec![("q".to_owned(), "key:bench.live".to_owned())];
    let subscribers = subscribe(&server.base, key, count, view).await?;
    let mut sent = Vec::with_capacity(SAMPLES);
    for sample in 0..SAMPLES {
        let body = json!({"workspace": "ws00", "key": "bench.live", "message": format!("live {sample}")});
        sent.push(Instant::now());
        let response =
            client.post(format!("{}/api/v1/events", server.base)).bearer_auth(key).json(&body).send().await?;
        if response.status() != 202 {
            bail!("ingest answered {}", response.status());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kib_per_subscriber = (rss_kib(server) - idle_kib).max(0.0) / count as f64;
    let arrivals = std::mem::take(&mut *subscribers.arrivals.lock().expect("not poisoned"));
    drop(subscribers);
    let missing = (SAMPLES * count).saturating_sub(arrivals.len());
    let latencies: Vec<f64> =
        arrivals.iter().map(|(sample, at)| at.duration_since(sent[*sample]).as_secs_f64() * 1e3).collect();
    if latencies.is_empty() {
        bail!("no record reached the {count} subscribers");
    }
    let (p50, _, p99) = percentiles(latencies);
    Ok(Delivery { p50, p99, missing, kib_per_subscriber })
}

/// A view each of 1,000 subscribers follows, by its number.
type View = fn(usize) -> Vec<(String, String)>;

/// One workspace each, 20 per workspace: each record goes to 20 streams.
fn per_workspace(n: usize) -> Vec<(String, String)> {
    vec![("workspace".to_owned(), format!("ws{:02}", n % crate::WORKSPACES))]
}

/// A view no record of the data set matches: what open streams cost by
/// themselves (a read per commit, no delivery).
fn quiet(_: usize) -> Vec<(String, String)> {
    vec![("q".to_owned(), "key:bench.quiet".to_owned())]
}

/// Batch ingest with 1,000 subscribers of `view` against none, in turns.
async fn ingest_with_subscribers(args: &Args, dir: &Path, data: DataSet, view: View) -> anyhow::Result<Paired> {
    let attach = |turn: Turn| async move {
        if turn.setup == 0 {
            Ok(Some(subscribe(&turn.base, &turn.key, 1_000, view).await?))
        } else {
            Ok(None)
        }
    };
    ingest_in_turns(args, dir, data, "streams", |_| &[], attach).await
}

/// Every figure of the live stream, into `table`. `server` runs on the loaded database.
pub async fn measure(
    args: &Args,
    dir: &Path,
    data: DataSet,
    server: &Server,
    key: &str,
    table: &mut Table,
) -> anyhow::Result<()> {
    for count in COUNTS {
        let d = delivery(server, key, count).await.with_context(|| format!("{count} subscribers"))?;
        let missing = if d.missing == 0 { String::new() } else { format!(", {} missing", d.missing) };
        table.add(
            &format!("stream_latency_{count}"),
            &format!("ingest → stream delivery p50 / p99, {count} subscriber(s)"),
            format!("{:.1} / {:.1} ms ({:.0} KiB per subscriber{missing})", d.p50, d.p99, d.kib_per_subscriber),
            "p99 ≤ 100 ms at 1,000",
            d.p99,
        );
    }
    let sample = DataSet { rows: data.rows.min(INGEST_ROWS), now: data.now };
    for (id, name, view) in [
        ("quiet", "1,000 streams of a view nothing matches", quiet as View),
        ("per_workspace", "1,000 streams, 20 per workspace (each record to 20)", per_workspace as View),
    ] {
        let Paired { first: with, second: without, ratios } = ingest_with_subscribers(args, dir, sample, view).await?;
        table.add(
            &format!("ingest_batch_streams_{id}"),
            &format!("HTTP batch ingest with {name}"),
            format!("{with:.0} rec/s (none: {without:.0})"),
            "",
            with,
        );
        table.add(
            &format!("ratio_streams_{id}_vs_none"),
            "  with the streams ÷ none, in turns",
            format!("{:.2} (pairs: {ratios})", with / without),
            "≥ 0.9",
            with / without,
        );
    }
    Ok(())
}
