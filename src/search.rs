//! The search index's backlog: records stored before the index existed (or
//! marked by `trail search reindex` after a load behind the server's back)
//! are indexed in the background, a batch per short transaction, while the
//! server serves. Until then a search may miss them; new records are indexed
//! in their own transaction (`storage::search`).

use std::time::Duration;

use app::store::{DynStore, StoreResult};

/// Records per transaction.
const BATCH: usize = 2_000;
/// A pause between batches, so the backlog leaves the writer to ingest.
const PAUSE: Duration = Duration::from_millis(5);
/// How often an idle server looks for a backlog (a reindex asked meanwhile).
const EVERY: Duration = Duration::from_secs(30);

/// Indexes the backlog until none is left; how many records were indexed.
pub async fn drain(store: &DynStore) -> StoreResult<u64> {
    let mut indexed = 0;
    while let Some(n) = store.index_backlog(BATCH).await? {
        indexed += n as u64;
        if indexed % 100_000 < n as u64 {
            tracing::info!(indexed, "indexing earlier records for search");
        }
        tokio::time::sleep(PAUSE).await;
    }
    Ok(indexed)
}

/// Drains the backlog now and whenever one appears.
pub fn spawn(store: DynStore) {
    tokio::spawn(async move {
        loop {
            match drain(&store).await {
                Ok(0) => {}
                Ok(indexed) => tracing::info!(indexed, "earlier records are now indexed for search"),
                Err(err) => tracing::error!(error = %err, "indexing earlier records for search"),
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}
