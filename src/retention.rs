//! The retention purge: removes the records past their period in one pass
//! over the records in the order received, a short transaction per window,
//! so that ingest and reads go on meanwhile. The server runs it every
//! hour; `trail retention run` runs it once. With several servers on one
//! PostgreSQL database, one purges at a time (an advisory lock).
//!
//! The hourly roll-ups of purged records are kept: the stats of past windows
//! stay what they were, as history, while the records themselves are gone.

use std::time::Duration;

use app::model::{Kind, Micros};
use std::sync::Arc;

use app::store::{Cutoff, DynStore, Job, Signer, StoreResult};

use crate::integrity::signing::SigningKeys;

/// Records scanned per transaction (and deleted, if all are past their period).
const WINDOW: usize = 5_000;
/// A pause between windows, so a long purge leaves the writer to ingest.
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
/// Each chain's new cut is signed by `signer` (docs/integrity.md).
pub async fn run(store: &DynStore, signer: &dyn Signer, now: Micros) -> StoreResult<Option<Vec<Purged>>> {
    let Some(_guard) = store.job_lock(Job::Purge).await? else { return Ok(None) };
    let retention = store.retention().await?;
    let workspaces = store.workspaces().await?;
    let mut cutoffs = Vec::new();
    for workspace in &workspaces {
        for &kind in Kind::ALL {
            if let Some(before) = retention.period(&workspace.slug, kind).cutoff(now) {
                cutoffs.push(Cutoff { workspace_id: workspace.id, kind, before });
            }
        }
    }
    let slug = |id: i64| workspaces.iter().find(|w| w.id == id).map_or_else(|| id.to_string(), |w| w.slug.clone());
    let mut purged: Vec<Purged> = store
        .purge(&cutoffs, WINDOW, PAUSE, signer)
        .await?
        .into_iter()
        .map(|p| Purged { workspace: slug(p.workspace_id), kind: p.kind, removed: p.removed })
        .collect();
    purged.sort_by(|a, b| (&a.workspace, a.kind.as_str()).cmp(&(&b.workspace, b.kind.as_str())));
    Ok(Some(purged))
}

/// Purges every hour, the first time soon after start.
pub fn spawn_hourly(store: DynStore, signer: Arc<SigningKeys>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            match run(&store, signer.as_ref(), Micros::now()).await {
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
