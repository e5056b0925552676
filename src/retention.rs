//! The retention purge: removes the records past their period, in short
//! batches so that ingest and reads go on meanwhile. The server runs it every
//! hour; `trail retention run` runs it once. With several servers on one
//! PostgreSQL database, one purges at a time (an advisory lock).
//!
//! The hourly roll-ups of purged records are kept: the stats of past windows
//! stay what they were, as history, while the records themselves are gone.

use std::time::Duration;

use app::model::{Kind, Micros};
use app::store::{DynStore, StoreResult};

/// Records deleted per transaction.
const BATCH: usize = 2_000;
/// A pause between batches, so a long purge leaves the writer to ingest.
const PAUSE: Duration = Duration::from_millis(5);
/// How often the server purges.
const EVERY: Duration = Duration::from_secs(3600);

/// What one run removed from one workspace's records of one kind.
#[derive(Debug, PartialEq)]
pub struct Purged {
    pub workspace: String,
    pub kind: Kind,
    pub removed: u64,
}

/// Removes every record past its period now; `None` if another server is
/// purging. Lists only what had records to remove.
pub async fn run(store: &DynStore, now: Micros) -> StoreResult<Option<Vec<Purged>>> {
    let Some(_guard) = store.purge_lock().await? else { return Ok(None) };
    let retention = store.retention().await?;
    let mut purged = Vec::new();
    for workspace in store.workspaces().await? {
        for &kind in Kind::ALL {
            let Some(before) = retention.period(&workspace.slug, kind).cutoff(now) else { continue };
            let mut removed = 0;
            loop {
                let batch = store.purge(workspace.id, kind, before, BATCH).await?;
                removed += batch;
                if batch < BATCH as u64 {
                    break;
                }
                tokio::time::sleep(PAUSE).await;
            }
            if removed > 0 {
                purged.push(Purged { workspace: workspace.slug.clone(), kind, removed });
            }
        }
    }
    Ok(Some(purged))
}

/// Purges every hour, the first time soon after start.
pub fn spawn_hourly(store: DynStore) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            match run(&store, Micros::now()).await {
                Ok(Some(purged)) => {
                    for p in purged {
                        tracing::info!(workspace = p.workspace, kind = %p.kind, removed = p.removed, "retention purge");
                    }
                }
                Ok(None) => tracing::debug!("another server is purging"),
                Err(err) => tracing::error!(error = %err, "retention purge failed; next try in an hour"),
            }
        }
    });
}
