//! Group commit: concurrent ingest requests are written together by a writer
//! task, in one transaction (one fsync for many requests). Each request is
//! answered only after the transaction holding its records has committed.
//! SQLite has one writer task; PostgreSQL a few, which commit in parallel.

use std::sync::Arc;

use app::store::{DynStore, InsertOutcome, NewRecord, StoreError};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::breaker::Breaker;

/// A group stops growing past this many records.
const MAX_GROUP_RECORDS: usize = 10_000;
/// Requests waiting for the writer before new ones wait to be queued.
const QUEUE_DEPTH: usize = 1_024;

type Reply = oneshot::Sender<Result<InsertOutcome, StoreError>>;

struct Job {
    records: Vec<NewRecord>,
    reply: Reply,
}

#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer has stopped")]
    Stopped,
}

impl Committer {
    /// Starts the writer tasks for `store` (as many as it writes at once).
    pub fn start(store: DynStore) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let jobs = Arc::new(Mutex::new(jobs));
        let breaker = Arc::new(Breaker::default());
        for _ in 0..store.concurrent_writes().max(1) {
            tokio::spawn(write_groups(store.clone(), jobs.clone(), breaker.clone()));
        }
        Committer { queue }
    }

    /// Writes `records` durably; returns once they are committed.
    pub async fn submit(&self, records: Vec<NewRecord>) -> Result<InsertOutcome, CommitError> {
        let (reply, done) = oneshot::channel();
        self.queue.send(Job { records, reply }).await.map_err(|_| CommitError::Stopped)?;
        Ok(done.await.map_err(|_| CommitError::Stopped)??)
    }
}

/// One writer: takes the waiting requests as a group, writes it, repeats.
/// Writers take turns at the queue, so each group is what waited meanwhile.
async fn write_groups(store: DynStore, jobs: Arc<Mutex<mpsc::Receiver<Job>>>, breaker: Arc<Breaker>) {
    while let Some(group) = next_group(&jobs).await {
        write_group(store.as_ref(), group, &breaker).await;
        if let Err(err) = store.compact().await {
            // The records stay where they are, readable; the next group retries.
            tracing::error!(error = %err, "moving staged records failed");
        }
    }
}

async fn next_group(jobs: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut jobs = jobs.lock().await;
    let first = jobs.recv().await?;
    let mut size = first.records.len();
    let mut group = vec![first];
    while size < MAX_GROUP_RECORDS {
        match jobs.try_recv() {
            Ok(job) => {
                size += job.records.len();
                group.push(job);
            }
            Err(_) => break,
        }
    }
    Some(group)
}

#[tracing::instrument(skip_all, fields(requests = group.len()))]
async fn write_group(store: &dyn app::store::Store, group: Vec<Job>, breaker: &Breaker) {
    if !breaker.admit() {
        for job in group {
            let _ = job.reply.send(Err(StoreError::Unavailable));
        }
        return;
    }
    let (requests, replies): (Vec<Vec<NewRecord>>, Vec<Reply>) =
        group.into_iter().map(|job| (job.records, job.reply)).unzip();
    crate::metrics::group_committed(requests.len(), requests.iter().map(Vec::len).sum());
    let written = store.insert_records(&requests).await;
    breaker.record(matches!(&written, Err(err) if err.is_unavailable()));
    match written {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        // Nothing was written, and trying again now would only make every
        // request wait its turn for a database that is not there.
        Err(err) if err.is_unavailable() => {
            tracing::warn!(error = %err, "group commit failed: the database is unavailable");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable));
            }
        }
        // One request must not fail its neighbours: retry each on its own.
        Err(err) if requests.len() > 1 => {
            tracing::warn!(error = %err, "group commit failed; retrying requests one by one");
            for (records, reply) in requests.into_iter().zip(replies) {
                let result = store.insert_records(std::slice::from_ref(&records)).await;
                let _ = reply.send(result.map(|mut outcomes| outcomes.remove(0)));
            }
        }
        Err(err) => {
            let _ = replies.into_iter().next().map(|reply| reply.send(Err(err)));
        }
    }
}
