//! What a third party needs to check one record against a signed digest
//! without trusting Trail (docs/integrity.md walks through it):
//! the record's canonical object, its link, the content hashes of the links
//! after it up to a digest, and that digest.

use app::model::{ChainId, Digest, DigestPosition, DigestQuery, DigestsOf, Kind, Visibility};
use app::store::{Scope, Signer, Store, StoreError, StoreResult};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::storage::canonical::GENESIS;

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

/// The most later links a proof carries (32 bytes each): a record further
/// from a digest than this (a database chained at upgrade, whose first
/// digest covers the whole chain) has no proof yet.
const MAX_FOLLOWING: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// No such record, or not one the reader may see.
    #[error("not found")]
    NotFound,
    /// Proofs tell how many records a chain holds: only for readers of the whole workspace.
    #[error("proofs are for readers of every record of the workspace: a chain's length counts them all")]
    NotWholeWorkspace,
    #[error("{0}")]
    Unavailable(String),
    /// The chain does not hold what a proof needs: `trail verify` says why.
    #[error("the record's chain is damaged ({0}): run `trail verify`")]
    Damaged(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A proof of the record `id`, if `scope` may see it and the whole of its
/// workspace. A record newer than every digest of its chain gets one
/// signed now (of that chain only).
pub async fn proof(store: &dyn Store, signer: &dyn Signer, scope: &Scope, id: Uuid) -> Result<Proof, ProofError> {
    let record = store.event_by_id(scope, id).await?.ok_or(ProofError::NotFound)?;
    let (chain, link) = store.link_of(id).await?.ok_or(ProofError::Damaged("the record has no link"))?;
    if !reads_whole_workspace(scope, chain.workspace_id) {
        return Err(ProofError::NotWholeWorkspace);
    }
    let stored = store.linked_records(chain, link.seq, link.seq).await?.into_iter().find(|r| r.id == record.row.id);
    let stored = stored.ok_or(ProofError::Damaged("the record's link points elsewhere"))?;
    let digest = match covering_digest(store, chain, link.seq).await? {
        Some(digest) => digest,
        None => {
            store.sign_heads(signer, Some(chain)).await?;
            covering_digest(store, chain, link.seq).await?.ok_or(ProofError::Damaged("no digest reaches the record"))?
        }
    };
    if digest.seq - link.seq > MAX_FOLLOWING {
        return Err(ProofError::Unavailable(format!(
            "the first digest after the record is {} links on (a proof carries at most {MAX_FOLLOWING})",
            digest.seq - link.seq
        )));
    }
    let previous = previous_hash(store, chain, link.seq).await?;
    let following = store.chain_links(chain, link.seq, (digest.seq - link.seq) as usize).await?;
    let contiguous = following.iter().zip(link.seq + 1..).all(|(l, seq)| l.seq == seq);
    if !contiguous || following.len() as i64 != digest.seq - link.seq {
        return Err(ProofError::Damaged("links between the record and the digest are missing"));
    }
    Ok(Proof {
        record: serde_json::from_slice(&stored.canonical)
            .map_err(|_| ProofError::Damaged("the record's canonical form does not read back"))?,
        workspace_id: chain.workspace_id,
        kind: chain.kind,
        seq: link.seq,
        previous: hex::encode(previous),
        content: hex::encode(&link.content),
        hash: hex::encode(&link.hash),
        following: following.iter().map(|l| hex::encode(&l.content)).collect(),
        digest,
    })
}

/// Whether `scope` reads every record of the workspace (every visibility, every brand).
pub fn reads_whole_workspace(scope: &Scope, workspace_id: i64) -> bool {
    match scope {
        Scope::Platform => true,
        Scope::Grants(grants) => grants.iter().any(|g| {
            g.workspace_id == workspace_id
                && g.brand.is_none()
                && Visibility::ALL.iter().all(|v| g.visibilities.contains(v))
        }),
    }
}

async fn covering_digest(store: &dyn Store, chain: ChainId, seq: i64) -> StoreResult<Option<Digest>> {
    let from = DigestPosition { chain, seq };
    let query = DigestQuery { from: Some(from), limit: Some(1), ..DigestQuery::of(DigestsOf::Chain(chain)) };
    Ok(store.digests(query).await?.into_iter().next())
}

/// The hash link `seq` follows from: the link before, the signed cut, or the genesis.
async fn previous_hash(store: &dyn Store, chain: ChainId, seq: i64) -> Result<Vec<u8>, ProofError> {
    if seq == 1 {
        return Ok(GENESIS.to_vec());
    }
    if let Some(before) = store.chain_links(chain, seq - 2, 1).await?.into_iter().find(|l| l.seq == seq - 1) {
        return Ok(before.hash);
    }
    let head = store.chain_heads().await?.into_iter().find(|h| h.chain() == chain);
    match head {
        Some(h) if h.cut_seq == seq - 1 => h.cut_hash.ok_or(ProofError::Damaged("the cut has no hash")),
        Some(h) if h.cut_seq >= seq => Err(ProofError::Unavailable(
            "retention removed the links before the record: no proof reaches it any more".into(),
        )),
        _ => Err(ProofError::Damaged("the link before the record is missing")),
    }
}
