//! API keys read in the last second, so a stream of small ingest requests
//! does not cost a database read each for its key (64 clients sending one
//! record each: every request read its key, as many reads as records).
//!
//! Revoking a key through this store empties the cache at once; a key revoked
//! by another process (`trail key revoke`) stops working within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::model::Micros;
use app::store::ApiKeyRecord;

/// How long a key read from the database is trusted without reading it again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// Past this many keys the cache starts over: only keys that exist are kept,
/// so this bounds memory against a host with very many keys.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct KeyCache(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    /// By key hash: the record and when it was read.
    keys: HashMap<String, (Instant, ApiKeyRecord)>,
    /// Bumped by every revocation, so a read that began before it is not kept.
    generation: u64,
}

/// Where a lookup stands: the cached record, or the generation to store under.
pub enum Lookup {
    Hit(ApiKeyRecord),
    Miss(u64),
}

impl KeyCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn lookup(&self, key_hash: &str) -> Lookup {
        let inner = self.inner();
        match inner.keys.get(key_hash) {
            Some((read_at, record)) if read_at.elapsed() < FRESH_FOR => Lookup::Hit(record.clone()),
            _ => Lookup::Miss(inner.generation),
        }
    }

    /// Keeps `record`, read from the database after `lookup` returned `generation`,
    /// unless a key was revoked meanwhile.
    pub fn store(&self, key_hash: &str, record: &ApiKeyRecord, generation: u64) {
        let mut inner = self.inner();
        if inner.generation != generation {
            return;
        }
        if inner.keys.len() >= MAX_KEYS {
            inner.keys.clear();
        }
        inner.keys.insert(key_hash.to_owned(), (Instant::now(), record.clone()));
    }

    /// Records a use of key `id`, so cached copies do not ask for another.
    pub fn touched(&self, id: i64, at: Micros) {
        for (_, record) in self.inner().keys.values_mut().filter(|(_, r)| r.id == id) {
            record.last_used_at = Some(at);
        }
    }

    /// A key was revoked: nothing cached may be used again.
    pub fn revoked(&self) {
        let mut inner = self.inner();
        inner.keys.clear();
        inner.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64) -> ApiKeyRecord {
        ApiKeyRecord {
            id,
            workspace_id: None,
            workspace: None,
            scopes: vec!["ingest".into()],
            revoked: false,
            last_used_at: None,
        }
    }

    fn hit(cache: &KeyCache, hash: &str) -> Option<ApiKeyRecord> {
        match cache.lookup(hash) {
            Lookup::Hit(record) => Some(record),
            Lookup::Miss(_) => None,
        }
    }

    fn generation(cache: &KeyCache, hash: &str) -> u64 {
        match cache.lookup(hash) {
            Lookup::Hit(_) => panic!("expected a miss"),
            Lookup::Miss(generation) => generation,
        }
    }

    #[test]
    fn a_stored_key_is_served_until_it_goes_stale() {
        let cache = KeyCache::default();
        let g = generation(&cache, "h");
        cache.store("h", &record(1), g);
        assert_eq!(hit(&cache, "h").map(|r| r.id), Some(1));
        assert!(hit(&cache, "other").is_none());
        std::thread::sleep(FRESH_FOR + Duration::from_millis(50));
        assert!(hit(&cache, "h").is_none(), "a key older than FRESH_FOR is read again");
    }

    #[test]
    fn a_revocation_empties_the_cache_and_drops_reads_that_began_before_it() {
        let cache = KeyCache::default();
        let before = generation(&cache, "a");
        cache.store("a", &record(1), before);
        let in_flight = generation(&cache, "b");
        cache.revoked();
        assert!(hit(&cache, "a").is_none());
        cache.store("b", &record(2), in_flight);
        assert!(hit(&cache, "b").is_none(), "a read from before the revocation may hold the revoked key");
        cache.store("b", &record(2), generation(&cache, "b"));
        assert!(hit(&cache, "b").is_some());
    }

    #[test]
    fn a_use_is_seen_by_the_cached_copy() {
        let cache = KeyCache::default();
        cache.store("h", &record(7), generation(&cache, "h"));
        cache.touched(7, Micros(42));
        assert_eq!(hit(&cache, "h").and_then(|r| r.last_used_at), Some(Micros(42)));
    }
}
