//! Log streams: every record of a workspace (or all), exported continuously
//! to a directory as gzip NDJSON files (`YYYY/MM/DD/HH/<uuid>.ndjson.gz`,
//! GitHub's layout) or to an HTTP endpoint as signed NDJSON batches.
//!
//! Each stream's cursor is a position in commit order, read the way the
//! live stream reads (`Store::stream_after`: a record that commits late
//! behind an older transaction still comes after the cursor). The cursor
//! moves only once a batch is written whole (file synced and renamed into
//! place) or acknowledged (`2xx`): at least once, never skipped; a restart
//! resumes where the last batch ended. With several servers one exports at
//! a time (`Job::LogStreams`).

pub mod cli;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use app::model::{Destination, EventFilter, Micros, StreamPosition};
use app::store::{DynStore, Job, LogStreamTarget, Scope, Turn};
use tokio::task::JoinHandle;

use crate::api::record::ApiRecord;
use crate::webhooks::sender::Signed;
use crate::webhooks::signature::Secret;

/// Records per file or request.
pub const BATCH: usize = 1_000;
/// The streams are looked at least this often (and after every commit).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// After a failure a stream waits this long before it tries again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Starts the exporter; it runs as long as the server does. Each stream
/// exports in a task of its own, so a destination that hangs (up to the
/// client's timeout) holds up only its own stream.
pub fn spawn(store: DynStore, poster: Poster) {
    let poster = Arc::new(poster);
    tokio::spawn(async move {
        let mut commits = store.commits();
        let mut running: HashMap<i64, JoinHandle<()>> = HashMap::new();
        let mut turn = Turn::new(Job::LogStreams);
        loop {
            tokio::select! {
                Ok(()) = commits.changed() => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
            // Known before the streams are read: a round that ended by then
            // moved its cursor before this read, so the next starts there.
            let busy: Vec<i64> = running.iter().filter(|(_, task)| !task.is_finished()).map(|(id, _)| *id).collect();
            let streams = match store.log_streams().await {
                Ok(streams) => streams,
                Err(err) => {
                    tracing::warn!(error = %err, "could not read the log streams");
                    continue;
                }
            };
            // A removed stream's export stops where it is.
            running.retain(|id, task| {
                let kept = streams.iter().any(|target| target.stream.id == *id);
                if !kept {
                    task.abort();
                }
                kept
            });
            if !turn.hold(store.as_ref(), !streams.is_empty()).await {
                continue; // no streams, or another server exports
            }
            for target in streams {
                let id = target.stream.id;
                if busy.contains(&id) {
                    continue; // still exporting, or waiting after a failure
                }
                let (store, poster) = (store.clone(), poster.clone());
                running.insert(id, tokio::spawn(export_once(store, poster, target)));
            }
        }
    });
}

/// One round of a stream's export, its state recorded; after a failure it
/// waits `RETRY_AFTER` before it ends, so the next round comes no sooner.
async fn export_once(store: DynStore, poster: Arc<Poster>, target: LogStreamTarget) {
    let id = target.stream.id;
    let error = export(&store, &poster, &target).await.err();
    if error.is_some() || target.stream.last_error.is_some() {
        if let Err(err) = store.log_stream_error(id, error.as_deref()).await {
            tracing::warn!(error = %err, stream = id, "could not record a log stream's state");
        }
    }
    if error.is_some() {
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// Exports what was committed after the stream's cursor, a batch at a time.
async fn export(store: &DynStore, poster: &Poster, target: &LogStreamTarget) -> Result<(), String> {
    let stream = &target.stream;
    let scope = Scope::whole_workspace(stream.workspace_id);
    let filter = EventFilter::default();
    let mut position = stream.position;
    loop {
        let batch = store.stream_after(&scope, &filter, position, BATCH).await.map_err(|e| e.to_string())?;
        let Some((last, _)) = batch.records.last() else { return Ok(()) };
        let (first, last, count) = (batch.records[0].0, *last, batch.records.len());
        let mut lines = Vec::with_capacity(count * 1024);
        for (_, record) in batch.records {
            serde_json::to_writer(&mut lines, &ApiRecord::from(record)).map_err(|e| e.to_string())?;
            lines.push(b'\n');
        }
        match stream.destination {
            Destination::Directory => {
                let dir = PathBuf::from(&stream.target);
                tokio::task::spawn_blocking(move || write_file(&dir, &lines))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("writing to {}: {e}", stream.target))?;
            }
            Destination::Http => poster.post(target, (first, last), lines).await?,
        }
        let moved =
            store.advance_log_stream(stream.id, last, count as i64, Micros::now()).await.map_err(|e| e.to_string())?;
        position = last;
        // Removed meanwhile (or taken further by another exporter): no more.
        if !moved || count < BATCH {
            return Ok(());
        }
    }
}

/// Writes one gzip NDJSON file under `dir/YYYY/MM/DD/HH/`: to a hidden name
/// first, synced, then renamed, and the directory synced, so a file that
/// appears is whole and stays.
pub fn write_file(dir: &Path, ndjson: &[u8]) -> std::io::Result<PathBuf> {
    let hour = dir.join(chrono::Utc::now().format("%Y/%m/%d/%H").to_string());
    std::fs::create_dir_all(&hour)?;
    let name = format!("{}.ndjson.gz", uuid::Uuid::now_v7());
    let partial = hour.join(format!(".{name}.partial"));
    let file = std::fs::File::create(&partial)?;
    let mut gzip = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gzip.write_all(ndjson)?;
    gzip.finish()?.sync_all()?;
    let done = hour.join(&name);
    std::fs::rename(&partial, &done)?;
    std::fs::File::open(&hour)?.sync_all()?;
    Ok(done)
}

/// Posts the streams' batches to their URLs.
pub struct Poster {
    pub client: reqwest::Client,
    pub allow_private: bool,
    /// Keys the batches' ids (see [`Poster::batch_id`]); every server on a
    /// database derives the same one from the signing key.
    pub batch_key: [u8; 32],
}

impl Poster {
    /// Posts one NDJSON batch, signed as webhooks are.
    async fn post(
        &self,
        target: &LogStreamTarget,
        batch: (StreamPosition, StreamPosition),
        ndjson: Vec<u8>,
    ) -> Result<(), String> {
        let secret = target.secret.as_deref().and_then(|s| Secret::parse(s).ok()).ok_or("the stream has no secret")?;
        let id = self.batch_id(target.stream.id, batch);
        let signed = Signed { id: &id, secrets: &[secret], content_type: "application/x-ndjson", body: ndjson };
        let response = signed.post(&self.client, &target.stream.target, self.allow_private).await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(format!("answered {status}")),
        }
    }

    /// A batch's `webhook-id`: the same for the same stream and first and
    /// last records, so a batch sent again keeps it (and one with more
    /// records does not). The positions themselves stay out of it: they
    /// count every workspace's commits, which a stream's receiver is not to
    /// learn; keyed, so they cannot be guessed back from it either.
    fn batch_id(&self, stream: i64, (first, last): (StreamPosition, StreamPosition)) -> String {
        let positions = format!("{stream} {} {}", first.encode(), last.encode());
        let mac = crate::auth::hmac_sha256(&self.batch_key, &[positions.as_bytes()]);
        format!("msg_stream{stream}_{}", hex::encode(&mac[..16]))
    }
}
