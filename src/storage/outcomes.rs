//! What a group commit answers each of its requests: the ids of their
//! records, and which were duplicates of records already stored.

use std::collections::{HashMap, HashSet};

use app::store::{InsertOutcome, NewRecord};
use uuid::Uuid;

/// Splits a group commit's result back into one outcome per request.
/// `inserted`: ids written now; `existing`: the stored id of each duplicate.
pub fn outcomes(
    requests: &[Vec<NewRecord>],
    inserted: &HashSet<Uuid>,
    existing: &HashMap<(i64, String), Uuid>,
) -> Vec<InsertOutcome> {
    requests
        .iter()
        .map(|records| {
            let mut outcome = InsertOutcome { ids: Vec::with_capacity(records.len()), duplicates: 0 };
            for record in records {
                if inserted.contains(&record.id) {
                    outcome.ids.push(record.id);
                    continue;
                }
                outcome.duplicates += 1;
                let stored = record
                    .event_id
                    .as_ref()
                    .and_then(|event_id| existing.get(&(record.workspace_id, event_id.clone())));
                outcome.ids.push(stored.copied().unwrap_or(record.id));
            }
            outcome
        })
        .collect()
}

/// The records of a group that were not written: duplicates by event id.
pub fn skipped<'a>(requests: &'a [Vec<NewRecord>], inserted: &HashSet<Uuid>) -> Vec<(i64, &'a str)> {
    requests
        .iter()
        .flatten()
        .filter(|r| !inserted.contains(&r.id))
        .filter_map(|r| r.event_id.as_deref().map(|e| (r.workspace_id, e)))
        .collect()
}
