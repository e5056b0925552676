//! What a third party needs to check one record against a signed digest
//! without trusting Trail (docs/integrity.md walks through it):
//! the record's canonical object, its link, the content hashes of the links
//! after it up to a digest, and that digest.

use app::model::{ChainId, Digest, Kind};
use app::store::{Scope, Store, StoreError, StoreResult};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::signing::SigningKeys;
use crate::storage::canonical::{self, GENESIS};

#[derive(Debug, Serialize, JsonSchema)]
pub struct Proof {
    /// The record as chained: SHA-256 of its RFC 8785 form is `content`.
    pub record: serde_json::Map<String, serde_json::Value>,
    pub workspace_id: i64,
    pub kind: Kind,
    /// The record's link in its chain (workspace × kind).
    pub seq: i64,
    /// The hash of the link before (64 zeros for the first link).
    pub previous: String,
    pub content: String,
    /// SHA-256(previous ‖ content).
    pub hash: String,
    /// The content hashes of the links after it, through the digest's link:
    /// fold each into the hash as SHA-256(hash ‖ content) to reach `digest.head`.
    pub following: Vec<String>,
    /// The first digest that signed the chain at or after this link.
    pub digest: Digest,
}

/// A proof of the record `id`, if `scope` may see it. A record newer than
/// every digest gets one signed now.
pub async fn proof(store: &dyn Store, keys: &SigningKeys, scope: &Scope, id: Uuid) -> StoreResult<Option<Proof>> {
    if store.event_by_id(scope, id).await?.is_none() {
        return Ok(None);
    }
    let not_chained = || StoreError::NotFound("the record's chain link (run `trail verify`)".into());
    let (chain, link) = store.link_of(id).await?.ok_or_else(not_chained)?;
    let record = store.linked_records(chain, link.seq, link.seq).await?.into_iter().find(|r| r.id == id);
    let record = record.ok_or_else(not_chained)?;
    let digest = match covering_digest(store, chain, link.seq).await? {
        Some(digest) => digest,
        None => {
            super::sign(store, keys).await?;
            covering_digest(store, chain, link.seq).await?.ok_or_else(not_chained)?
        }
    };
    let previous = previous_hash(store, chain, link.seq).await?;
    let span = usize::try_from(digest.seq - link.seq).unwrap_or(0);
    let following = store.chain_links(chain, link.seq, span).await?;
    if following.len() != span {
        return Err(StoreError::NotFound("links of the chain (run `trail verify`)".into()));
    }
    Ok(Some(Proof {
        record: canonical::object(&record),
        workspace_id: chain.workspace_id,
        kind: chain.kind,
        seq: link.seq,
        previous: hex::encode(previous),
        content: hex::encode(&link.content),
        hash: hex::encode(&link.hash),
        following: following.iter().map(|l| hex::encode(&l.content)).collect(),
        digest,
    }))
}

async fn covering_digest(store: &dyn Store, chain: ChainId, seq: i64) -> StoreResult<Option<Digest>> {
    Ok(store.digests(Some(chain)).await?.into_iter().find(|d| d.seq >= seq))
}

/// The hash link `seq` follows from: the link before, the cut, or the genesis.
async fn previous_hash(store: &dyn Store, chain: ChainId, seq: i64) -> StoreResult<Vec<u8>> {
    if seq == 1 {
        return Ok(GENESIS.to_vec());
    }
    if let Some(before) = store.chain_links(chain, seq - 2, 1).await?.into_iter().find(|l| l.seq == seq - 1) {
        return Ok(before.hash);
    }
    let head = store.chain_heads().await?.into_iter().find(|h| h.chain() == chain);
    head.filter(|h| h.cut_seq == seq - 1)
        .and_then(|h| h.cut_hash)
        .ok_or_else(|| StoreError::NotFound("the link before (run `trail verify`)".into()))
}
